"""Describe a model that is not in the catalog, without downloading its weights: from a GGUF
file's header (exact tensor shapes and types) or from a Hugging Face ``config.json``.

Both give a ``ModelSpec``; from a GGUF header it carries the file's tensor table
(``ModelSpec.file_tensors``), so the weights are the file's exact tensor bytes whatever the quant
mix, and the file type is the file's own. Problems are one ``DataFileError`` naming the file and
what is missing or unsupported.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from advisor.errors import DataFileError
from advisor.gguf_header import ArrayLength, GgufHeader, read_gguf_header
from advisor.inputs import MAX_CONTEXT_TOKENS, MAX_HEADS, MAX_LAYERS, MAX_PARAMS, MAX_VOCAB, MAX_WIDTH, parse_document
from advisor.records import FileTensor, FileType, GgmlType, GgufArch, ModelSpec, unprintable

SUPPORTED_ARCHS: tuple[str, ...] = get_args(GgufArch)
#: llama.cpp hard-codes these sliding-window patterns (llama-model.cpp set_swa_pattern)
_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "gpt-oss": 2}
_PERMISSIVE = ("apache-2.0", "apache 2.0", "mit", "bsd-3-clause", "bsd-2-clause")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "imported-model"


def _license_class(license_name: str) -> str:
    return "permissive" if license_name.lower() in _PERMISSIVE else "noncommercial"


def _whole(path: Path, name: str, value: Any, *, low: int = 0, high: int = MAX_CONTEXT_TOKENS) -> int:
    """``value`` as a whole number in [low, high], or one DataFileError naming the field: a string,
    a float, a NaN, a bool or an absurd size would otherwise fail deep in the arithmetic."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataFileError(f"{path}: {name} is {_shown(value)}, expected a whole number; is this the right file?")
    if not low <= value <= high:
        raise DataFileError(f"{path}: {name} is {value:,}, outside {low:,} to {high:,}; is this the right file?")
    return value


#: longest model name taken from a file (a title line, a table cell)
MAX_NAME_CHARS = 120


def _name(text: str) -> str:
    """A model name from a file, as printable text: control and format characters (a terminal
    escape, a right-to-left override that reorders the line it is printed in) dropped, and cut at
    MAX_NAME_CHARS (``records.unprintable``: line and paragraph separators too)."""
    clean = "".join(ch for ch in text if not unprintable(ch)).strip()
    return clean if len(clean) <= MAX_NAME_CHARS else clean[:MAX_NAME_CHARS - 1] + "…"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: ModelSpec's field names as a Hugging Face config.json spells them, for its errors
CONFIG_KEYS = {"n_layers": "num_hidden_layers", "n_heads": "num_attention_heads", "n_kv_heads": "num_key_value_heads",
               "n_kv_heads_per_layer": "layer_types", "n_experts": "num_experts", "n_experts_used": "num_experts_per_tok",
               "expert_ffn_size": "moe_intermediate_size", "ffn_size": "intermediate_size",
               "n_dense_layers": "num_dense_layers", "shared_expert_ffn_size": "shared_intermediate_size",
               "shortconv_l_cache": "conv_L_cache", "ssm_d_state": "mamba_d_state", "ssm_d_conv": "mamba_d_conv",
               "ssm_n_group": "mamba_n_groups", "ssm_n_heads": "mamba_n_heads"}
#: the same for a GGUF header's keys (after the architecture's prefix)
GGUF_KEYS = {"n_layers": "block_count", "n_heads": "attention.head_count", "n_kv_heads": "attention.head_count_kv",
             "n_kv_heads_per_layer": "attention.head_count_kv", "n_experts": "expert_count", "n_experts_used": "expert_used_count",
             "expert_ffn_size": "expert_feed_forward_length", "ffn_size": "feed_forward_length", "hidden_size": "embedding_length"}


def _spec(path: Path, fields: dict[str, Any], keys: dict[str, str] | None = None) -> ModelSpec:
    """The record, or one DataFileError worded in the file's own keys (``keys``: field → key)."""
    try:
        return ModelSpec.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != "model")
        msg = first["msg"].removeprefix("Value error, ")
        for field, key in (keys or {}).items():
            msg, where = (re.sub(rf"\b{field}\b", key, x) for x in (msg, where))
        raise DataFileError(f"{path}: describes an inconsistent model: {where + ': ' if where else ''}{msg}") from None


# --------------------------------------------------------------------------- GGUF header


def model_from_gguf(path: str | Path, ggml_types: dict[str, GgmlType], file_types: dict[str, FileType]) -> tuple[ModelSpec, FileType]:
    """The model and file type a GGUF file holds, from its header alone."""
    header = read_gguf_header(path)
    spec, ftype = _model_from_header(header, ggml_types), _file_type_of(header, ggml_types, file_types)
    return spec.model_copy(update={"file_type": ftype.id}), ftype


def _model_from_header(h: GgufHeader, ggml_types: dict[str, GgmlType]) -> ModelSpec:
    path, md = h.path, h.metadata
    arch = h.architecture
    if arch is None:
        raw = md.get("general.architecture")
        raise DataFileError(f"{path}: the GGUF header has no general.architecture" if raw is None else
                            f"{path}: the GGUF header's general.architecture is {_shown(raw)}, not a string naming an architecture")
    if arch not in SUPPORTED_ARCHS:
        raise DataFileError(f"{path}: architecture '{arch}' is not supported yet; supported: {', '.join(SUPPORTED_ARCHS)}")
    missing: list[str] = []

    def key(name: str, default: Any = None) -> Any:
        value = md.get(f"{arch}.{name}", default)
        if value is None:
            missing.append(f"{arch}.{name}")
        return value

    def whole(name: str, default: int = 0, low: int = 0, high: int = MAX_CONTEXT_TOKENS) -> int:
        """A scalar count of the header, checked (a per-layer list is ``per_layer``'s)."""
        return _whole(path, f"{arch}.{name}", key(name, default), low=low, high=high)

    n_layers = key("block_count")
    hidden = key("embedding_length")
    heads = key("attention.head_count")
    ffn = key("feed_forward_length", 0)
    if missing:
        raise DataFileError(f"{path}: the GGUF header lacks {', '.join(missing)}")
    n_layers = whole("block_count", low=1, high=MAX_LAYERS)
    hidden = whole("embedding_length", low=1, high=MAX_WIDTH)
    kv = key("attention.head_count_kv", heads)
    by_id = {g.ggml_type_id: g.name for g in ggml_types.values()}
    tensors: list[FileTensor] = []
    for t in h.tensors:
        if t.ggml_type_id not in by_id:
            raise DataFileError(f"{path}: tensor '{t.name}' has ggml type {t.ggml_type_id}, which this tool does not know")
        tensors.append(FileTensor(name=t.name, shape=t.shape, ggml_type=by_id[t.ggml_type_id]))
    names = {t.name for t in tensors}
    embd = next((t for t in tensors if t.name == "token_embd.weight"), None)
    if embd is None or len(embd.shape) != 2:
        raise DataFileError(f"{path}: the tensor table has no 2-D token_embd.weight")
    blocks = {_block_index(path, t.name) for t in tensors if t.name.startswith("blk.")} - {None}
    if blocks != set(range(n_layers)):
        held = f"blocks 0 to {max(blocks)}" if blocks and blocks == set(range(max(blocks) + 1)) else f"{len(blocks):,} blocks"
        raise DataFileError(f"{path}: {arch}.block_count is {n_layers:,} but the tensor table holds {held}; "
                            "the header is inconsistent (is the file complete?)")

    def per_layer(value: Any, what: str, low: int = 0, high: int = MAX_WIDTH) -> tuple[int, tuple[int, ...] | None]:
        if isinstance(value, ArrayLength):
            raise DataFileError(f"{path}: {arch}.{what} has {value.length:,} entries for {n_layers} layers")
        if isinstance(value, list):
            if len(value) != n_layers:
                raise DataFileError(f"{path}: {arch}.{what} has {len(value)} entries for {n_layers} layers")
            value = [_whole(path, f"{arch}.{what}[{i}]", v, high=high) for i, v in enumerate(value)]
            if max(value) < low:
                raise DataFileError(f"{path}: {arch}.{what} is {low - 1} in every layer; is this the right file?")
            return max(value), tuple(value) if len(set(value)) > 1 else None
        return _whole(path, f"{arch}.{what}", value, low=low, high=high), None

    n_heads, heads_per_layer = per_layer(heads, "attention.head_count", low=1, high=MAX_HEADS)
    n_kv, kv_per_layer = per_layer(kv, "attention.head_count_kv", high=MAX_HEADS)
    ffn_size, ffn_per_layer = per_layer(ffn, "feed_forward_length")
    n_experts = whole("expert_count", high=MAX_WIDTH)
    experts_in_ffn = arch in ("olmoe", "granitemoe", "granitehybrid", "phimoe")
    expert_ffn = whole("expert_feed_forward_length", high=MAX_WIDTH) or (ffn_size if experts_in_ffn and n_experts else 0)
    head_dim = whole("attention.key_length", hidden // n_heads, high=MAX_WIDTH)
    kv_lora = whole("attention.kv_lora_rank", high=MAX_WIDTH)
    mla: dict[str, Any] = {}
    if kv_lora:  # MLA: key_length is the latent; the q/k and v heads have their own keys
        head_dim = whole("attention.key_length_mla", head_dim, high=MAX_WIDTH)
        mla = dict(kv_lora_rank=kv_lora, v_head_dim=whole("attention.value_length_mla", high=MAX_WIDTH))
    rope_dims = whole("rope.dimension_count", high=MAX_WIDTH)
    context = whole("context_length", 4096)
    general_name = _name(md["general.name"]) if isinstance(md.get("general.name"), str) else None
    license_name = (_name(md["general.license"]) if isinstance(md.get("general.license"), str) else "") or "unknown (not in the GGUF header)"
    fields: dict[str, Any] = dict(
        id=_slug(h.path.stem), name=general_name or h.path.stem, family=arch, publisher=str(md.get("general.organization", "unknown")),
        hf_repo="", gguf_arch=arch, license=license_name, license_class=_license_class(license_name), release_date="unknown",
        params=sum(_elements(t.shape) for t in tensors), params_published="-",
        context_length=context, max_position_embeddings=context,
        n_layers=n_layers, hidden_size=hidden, ffn_size=max(ffn_size, 1), n_heads=n_heads, n_kv_heads=max(n_kv, 1),
        head_dim=head_dim, vocab_size=embd.shape[1], tied_embeddings="output.weight" not in names,
        attn_bias=any(n.endswith(("attn_q.bias", "attn_qkv.bias")) for n in names),
        qk_norm=any("attn_q_norm" in n for n in names), norm="layer" if "output_norm.bias" in names else "rms",
        ffn_gated=any("ffn_gate" in n and "ffn_gate_inp" not in n for n in names),
        post_norms=any("post_attention_norm" in n for n in names),
        sliding_window=whole("attention.sliding_window") if arch in _SWA_PATTERN else 0,
        swa_global_every=_SWA_PATTERN.get(arch, 0),
        n_heads_per_layer=heads_per_layer, n_kv_heads_per_layer=kv_per_layer, ffn_size_per_layer=ffn_per_layer,
        n_experts=n_experts, n_experts_used=whole("expert_used_count", high=MAX_WIDTH) if n_experts else 0,
        expert_ffn_size=expert_ffn if n_experts else 0,
        shared_expert_ffn_size=(whole("expert_shared_feed_forward_length", high=MAX_WIDTH)
                                or whole("expert_shared_count", high=MAX_WIDTH) * expert_ffn) if n_experts else 0,
        n_dense_layers=whole("leading_dense_block_count", high=MAX_LAYERS) if n_experts else 0,
        shortconv_l_cache=whole("shortconv.l_cache", high=MAX_WIDTH),
        ssm_d_state=whole("ssm.state_size", high=MAX_WIDTH), ssm_d_conv=whole("ssm.conv_kernel", high=MAX_WIDTH),
        ssm_n_group=whole("ssm.group_count", high=MAX_WIDTH), ssm_n_heads=whole("ssm.time_step_rank", high=MAX_WIDTH),
        rope_dims=rope_dims if 0 < rope_dims < head_dim else 0,
        per_layer_input_dims=whole("embedding_length_per_layer_input", high=MAX_WIDTH),
        altup_inputs=whole("altup.num_inputs", high=MAX_WIDTH),
        laurel_rank=next((t.shape[1] for t in tensors if t.name == "blk.0.laurel_l.weight"), 0),
        n_kv_layers=n_layers - shared_kv if (shared_kv := whole("attention.shared_kv_layers", high=n_layers)) else 0,
        file_tensors=tuple(tensors), verified=True, **mla,
        source=f"GGUF header of {h.path} (metadata and tensor table; tensor data not read)",
        notes="Imported from a GGUF header: weights are the file's own tensor types and shapes.",
    )
    _check_header_layout(path, arch, fields, tensors, n_kv)
    return _spec(path, fields, {field: f"{arch}.{key}" for field, key in GGUF_KEYS.items()})


#: a block index as llama.cpp names its tensors: ASCII digits only (``\d`` also matches other
#: scripts' digits), and few of them (MAX_LAYERS has 4; a tensor name of thousands of digits
#: would make int() raise ValueError past Python's integer-string limit)
_BLOCK = re.compile(r"blk\.([0-9]+)\.", re.ASCII)


def _block_index(path: Path, name: str) -> int | None:
    """The block a tensor belongs to (``blk.N.…``), None for a tensor outside the blocks."""
    m = _BLOCK.match(name)
    if m is None:
        return None
    if len(m.group(1)) > 9:
        raise DataFileError(f"{path}: tensor '{_name(name[:60])}' names block {m.group(1)[:12]}…, far beyond the "
                            f"{MAX_LAYERS:,} layers a model may have; is the file damaged?")
    return int(m.group(1))


def _check_header_layout(path: Path, arch: str, f: dict[str, Any], tensors: list[FileTensor], n_kv: int) -> None:
    """The metadata must describe the tensor table (llama.cpp's check_tensor_dims refuses such a
    file): routed experts as many as expert_count, attention tensors exactly in the layers whose
    head_count_kv (``n_kv`` when it is one number, 0 included) is not 0, token_embd as wide as
    embedding_length, attn_q / attn_k as wide as the heads × head size the metadata give (the KV
    cache is computed from them), a Mamba2 in_proj of the width the ssm.* keys give."""
    n_exp = f["n_experts"]
    exps = [t for t in tensors if len(t.shape) == 3 and "_exps." in t.name]
    if exps and not n_exp:
        raise DataFileError(f"{path}: the tensor table has routed-expert tensors ({exps[0].name}) but {arch}.expert_count is missing or 0")
    for t in exps:
        if _block_index(path, t.name) is None:  # its bytes are counted per block (--n-cpu-moe)
            raise DataFileError(f"{path}: {_name(t.name[:60])} is a routed-expert tensor outside the blocks "
                                "(llama.cpp names them blk.N.ffn_*_exps); the header is inconsistent")
        if t.shape[2] != n_exp:
            raise DataFileError(f"{path}: {t.name} holds {t.shape[2]} experts but {arch}.expert_count is {n_exp}; the header is inconsistent")
    kv = f["n_kv_heads_per_layer"] or (n_kv,) * f["n_layers"]
    heads = f["n_heads_per_layer"] or (f["n_heads"],) * f["n_layers"]
    names = {t.name for t in tensors}
    shapes = {t.name: t.shape for t in tensors}
    # the blocks that hold attention, found once (a scan of every name per layer was layers ×
    # tensors: a 1,024-layer header with 100,000 tensors took 35 s)
    attn_blocks = {i for n in names if (i := _block_index(path, n)) is not None and n.split(".", 2)[2].startswith("attn_q")}
    embd = shapes.get("token_embd.weight")
    if embd is not None and embd[0] != f["hidden_size"]:
        raise DataFileError(f"{path}: token_embd.weight is {embd[0]} wide but {arch}.embedding_length is "
                            f"{f['hidden_size']}; the header is inconsistent")
    for i, k in enumerate(kv):
        has_attn = i in attn_blocks
        if bool(k) != has_attn:
            what = "attention tensors" if has_attn else "no attention tensors"
            key = f"{arch}.attention.head_count_kv" + (f"[{i}]" if f["n_kv_heads_per_layer"] else "")
            raise DataFileError(f"{path}: block {i} has {what} but {key} is {k}; the header is inconsistent")
        for proj, n_head in (("attn_q", heads[i]), ("attn_k", k)):
            shape = shapes.get(f"blk.{i}.{proj}.weight")
            if shape is not None and not f.get("kv_lora_rank") and shape[1] != n_head * f["head_dim"]:
                raise DataFileError(f"{path}: blk.{i}.{proj}.weight is {shape[1]} wide but the header gives {n_head} heads of "
                                    f"{f['head_dim']} = {n_head * f['head_dim']}; the header is inconsistent")
    if f["ssm_d_state"]:
        d_in, g, ds, nh = 2 * f["hidden_size"], f["ssm_n_group"], f["ssm_d_state"], f["ssm_n_heads"]
        for t in tensors:
            if t.name.endswith(".ssm_in.weight") and t.shape[1] != 2 * d_in + 2 * g * ds + nh:
                raise DataFileError(f"{path}: {t.name} is {t.shape[1]} wide but the ssm.* keys give {2 * d_in + 2 * g * ds + nh}; "
                                    "the header is inconsistent")


def _known_layer_types(path: Path, types: list[Any], known: tuple[str, ...]) -> None:
    """Every entry of a hybrid's layer_types is one the converter knows (anything else was read
    as a recurrent layer: an 'Attention' or 'sliding_attention' layer lost its KV cache)."""
    unknown = sorted({t for t in types if t not in known})
    if unknown:
        raise DataFileError(f"{path}: layer_types has {', '.join(repr(t) for t in unknown)}; "
                            f"this model type's layers are {' or '.join(repr(k) for k in known)}")


def _elements(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _file_type_of(h: GgufHeader, ggml_types: dict[str, GgmlType], file_types: dict[str, FileType]) -> FileType:
    """general.file_type if the catalog knows it, else the file type whose base type is the most
    common among the file's quantized matrices."""
    ftype_id = h.metadata.get("general.file_type")
    for f in file_types.values():
        if isinstance(ftype_id, int) and f.llama_ftype == ftype_id:
            return f
    by_id = {g.ggml_type_id: g.name for g in ggml_types.values()}
    counts = Counter(by_id.get(t.ggml_type_id) for t in h.tensors if len(t.shape) >= 2)
    for name, _ in counts.most_common():
        match = [f for f in file_types.values() if f.base_type == name]
        if match:
            return sorted(match, key=lambda f: (not f.common, f.id))[0]
    raise DataFileError(f"{h.path}: cannot tell the file type (general.file_type {ftype_id!r} is unknown)")


# --------------------------------------------------------------------------- config.json

#: model_type -> (gguf_arch, defaults). Defaults are the transformers config classes' own.
_HF_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("llama", {"tie_word_embeddings": False}),
    "mistral": ("llama", {"tie_word_embeddings": False}),
    "qwen2": ("qwen2", {"tie_word_embeddings": False, "_attn_bias": True}),
    "qwen3": ("qwen3", {"tie_word_embeddings": False, "_qk_norm": True}),
    "qwen3_moe": ("qwen3moe", {"tie_word_embeddings": False, "_qk_norm": True}),
    "olmoe": ("olmoe", {"tie_word_embeddings": False, "_qk_norm": True}),
    "granite": ("granite", {"tie_word_embeddings": False}),
    "granitemoe": ("granitemoe", {"tie_word_embeddings": False}),
    "granitemoeshared": ("granitemoe", {"tie_word_embeddings": False}),
    "smollm3": ("smollm3", {"tie_word_embeddings": True}),
    "lfm2": ("lfm2", {"tie_word_embeddings": True, "_qk_norm": True}),
    "lfm2_moe": ("lfm2moe", {"tie_word_embeddings": True, "_qk_norm": True}),
    "granitemoehybrid": ("granitehybrid", {"tie_word_embeddings": False}),  # all-attention ones: granite (below)
    "phi": ("phi2", {"tie_word_embeddings": False, "_attn_bias": True, "_norm": "layer", "_gated": False}),
    "gpt_neox": ("gptneox", {"tie_word_embeddings": False, "_attn_bias": True, "_norm": "layer", "_gated": False}),
    # llama.cpp's phimoe and gpt-oss loaders require the attention biases whatever the config says
    "phimoe": ("phimoe", {"tie_word_embeddings": False, "_attn_bias": True, "_norm": "layer", "_bias_required": True}),
    "gpt_oss": ("gpt-oss", {"tie_word_embeddings": False, "_attn_bias": True, "_bias_required": True}),
    # MiniCPM 1-4 (remote code MiniCPMForCausalLM): the llama layout with muP scales; untied by
    # default as mlx-lm's minicpm.py reads it (MiniCPM4-8B states false; MiniCPM-2B true)
    "minicpm": ("minicpm", {"tie_word_embeddings": False}),
    # BitNet b1.58 (BitNetForCausalLM, transformers' model_type "bitnet"): llama's layout with
    # sub-layer norms; llama.cpp keeps no output matrix whatever the tie (tensors.tensor_inventory),
    # so the default tie (not re-read from transformers' BitNetConfig) changes no size
    "bitnet": ("bitnet", {"tie_word_embeddings": False}),
}
#: the classes llama.cpp's converter registers for its bitnet architecture (conversion/bitnet.py):
#: it picks the converter by ``architectures``, and 1bitLLM's BitnetForCausalLM configs say
#: model_type "llama", so a config naming one of them is a BitNet whatever its model_type
_BITNET_CLASSES = ("BitnetForCausalLM", "BitNetForCausalLM")
#: the model types whose every layer is MoE (llama.cpp's loaders refuse 0 experts), and the key of
#: their expert width
_MOE_TYPES = {"qwen3_moe": "moe_intermediate_size", "lfm2_moe": "moe_intermediate_size", "olmoe": "intermediate_size",
              "granitemoe": "intermediate_size", "granitemoeshared": "intermediate_size", "phimoe": "intermediate_size",
              "gpt_oss": "intermediate_size"}


#: config.json counts the import does arithmetic on: (lowest, highest) accepted (inputs' sanity bounds)
_HF_COUNTS: dict[str, tuple[int, int]] = {
    "num_hidden_layers": (1, MAX_LAYERS), "hidden_size": (1, MAX_WIDTH), "num_attention_heads": (1, MAX_HEADS),
    "num_key_value_heads": (0, MAX_HEADS), "vocab_size": (1, MAX_VOCAB), "max_position_embeddings": (1, MAX_CONTEXT_TOKENS),
    "intermediate_size": (0, MAX_WIDTH), "head_dim": (0, MAX_WIDTH), "num_experts": (0, MAX_WIDTH),
    "num_local_experts": (0, MAX_WIDTH), "num_experts_per_tok": (0, MAX_WIDTH), "moe_intermediate_size": (0, MAX_WIDTH),
    "shared_intermediate_size": (0, MAX_WIDTH), "num_dense_layers": (0, MAX_LAYERS), "mamba_d_state": (0, MAX_WIDTH),
    "mamba_d_conv": (0, MAX_WIDTH), "mamba_n_groups": (0, MAX_WIDTH), "mamba_n_heads": (0, MAX_WIDTH),
    "mamba_expand": (0, MAX_WIDTH), "mamba_d_head": (1, MAX_WIDTH), "conv_L_cache": (0, MAX_WIDTH), "block_ff_dim": (0, MAX_WIDTH),
    "experts_per_token": (0, MAX_WIDTH), "sliding_window": (0, MAX_CONTEXT_TOKENS),
    "block_multiple_of": (1, MAX_WIDTH), "decoder_sparse_step": (0, MAX_LAYERS),
}
#: config.json fractions and multipliers: (exclusive lowest, highest)
_HF_FACTORS: dict[str, tuple[float, float]] = {
    "partial_rotary_factor": (0.0, 1.0), "rotary_pct": (0.0, 1.0), "block_ffn_dim_multiplier": (0.0, 16.0),
}

#: config.json yes/no switches the import reads
_HF_FLAGS = ("tie_word_embeddings", "attention_bias", "block_auto_adjust_ff_dim")


def _check_config_numbers(path: Path, cfg: dict[str, Any]) -> None:
    """Every count and factor the import computes with is a number in its range (a string, a
    float layer count or a zero head count would otherwise be a TypeError or ZeroDivisionError),
    and the per-layer lists are lists of the right kind."""
    for name, (low, high) in _HF_COUNTS.items():
        if cfg.get(name) is not None:
            _whole(path, name, cfg[name], low=low, high=high)
    for name, (low, high) in _HF_FACTORS.items():
        v = cfg.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not low < v <= high):
            raise DataFileError(f"{path}: {name} is {_shown(v)}, expected a number above {low:g} and at most {high:g}")
    for name, kind, what in (("layer_types", str, "strings"), ("full_attn_idxs", int, "layer indices"),
                             ("mlp_only_layers", int, "layer indices")):
        v = cfg.get(name)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)):
            raise DataFileError(f"{path}: {name} is {_shown(v)}, expected a list of {what}")
    for name in _HF_FLAGS:  # bool("false") is True: a quoted flag would tie the embeddings silently
        v = cfg.get(name)
        if v is not None and not isinstance(v, bool):
            raise DataFileError(f"{path}: {name} is {_shown(v)}, expected true or false")
    if isinstance(cfg.get("layer_types"), list) and len(cfg["layer_types"]) > MAX_LAYERS:
        raise DataFileError(f"{path}: layer_types has {len(cfg['layer_types']):,} entries, more than {MAX_LAYERS:,} layers")


def _json_syntax(exc: json.JSONDecodeError) -> str:
    if "BOM" in exc.msg:  # Python's words: "Unexpected UTF-8 BOM (decode using utf-8-sig)"
        return "starts with a byte-order mark; save it as UTF-8 without one"
    return f"not valid JSON ({exc})"


def _granite_mamba(path: Path, cfg: dict[str, Any], hidden: Any, need: Any, moe: dict[str, Any]) -> None:
    """A Granite 4.0 H config's Mamba2 mixer into ``moe``: the widths llama.cpp requires, checked."""
    if cfg.get("mamba_expand", 2) != 2:
        raise DataFileError(f"{path}: mamba_expand {cfg['mamba_expand']} is not supported; llama.cpp requires d_inner = 2 × hidden")
    heads_ssm, head_ssm = cfg.get("mamba_n_heads"), cfg.get("mamba_d_head")
    if heads_ssm and head_ssm and isinstance(hidden, int) and heads_ssm * head_ssm != 2 * hidden:
        # Mamba2's inner width is heads × head size, and llama.cpp requires it to be 2 × hidden
        raise DataFileError(f"{path}: mamba_n_heads × mamba_d_head is {heads_ssm} × {head_ssm} = {heads_ssm * head_ssm:,}, "
                            f"but llama.cpp requires the Mamba2 inner width to be 2 × hidden_size = {2 * hidden:,}")
    moe.update(ssm_d_state=need("mamba_d_state"), ssm_d_conv=need("mamba_d_conv"), ssm_n_group=need("mamba_n_groups"),
               ssm_n_heads=need("mamba_n_heads"))


def model_from_hf_config(path: str | Path) -> ModelSpec:
    """A ModelSpec from a Hugging Face config.json (text models of the supported types)."""
    path = Path(path)
    cfg = parse_document(path, json.loads, expected="config.json", syntax_error=json.JSONDecodeError,
                         describe_syntax=_json_syntax, shape="a config.json is one flat object")
    if not isinstance(cfg, dict):
        raise DataFileError(f"{path}: expected a JSON object")
    cfg = {**cfg.get("text_config", {}), **cfg} if isinstance(cfg.get("text_config"), dict) else cfg
    model_type = cfg.get("model_type")
    classes = cfg.get("architectures")
    if isinstance(classes, list) and any(c in _BITNET_CLASSES for c in classes if isinstance(c, str)):
        model_type = "bitnet"
    if model_type is None:
        raise DataFileError(f"{path}: the config has no model_type; a Hugging Face config.json names it (supported: {', '.join(_HF_TYPES)})")
    if not isinstance(model_type, str) or model_type not in _HF_TYPES:
        as_gguf = isinstance(model_type, str) and model_type.removesuffix("_text").replace("_", "-") in SUPPORTED_ARCHS
        raise DataFileError(f"{path}: model_type {_shown(model_type)} is not supported; supported: {', '.join(_HF_TYPES)}"
                            + ("; a GGUF of it imports with --gguf-header (the file's first megabytes are enough)" if as_gguf else ""))
    _check_config_numbers(path, cfg)
    arch, defaults = _HF_TYPES[model_type]
    missing: list[str] = []
    keys = dict(CONFIG_KEYS)  # the record's fields as this config spells them, for its errors

    def need(*names: str, field: str | None = None) -> Any:
        for n in names:
            if n in cfg and cfg[n] is not None:
                if field:
                    keys[field] = n
                return cfg[n]
        missing.append(names[0])
        return 0

    layers = need("num_hidden_layers")
    hidden = need("hidden_size")
    heads = need("num_attention_heads")
    vocab = need("vocab_size")
    max_pos = need("max_position_embeddings")
    moe: dict[str, Any] = {}
    kv_per_layer: tuple[int, ...] | None = None
    conv = 0
    ffn = cfg.get("intermediate_size") or 0
    if model_type in _MOE_TYPES:
        n_exp = need("num_experts", "num_local_experts", field="n_experts")
        width = need(_MOE_TYPES[model_type], field="expert_ffn_size")
        if n_exp == 0 and "num_experts" not in missing:
            raise DataFileError(f"{path}: {keys['n_experts']} is 0, but every layer of a {model_type} model is a mixture of "
                                "experts; give the number of routed experts")
        moe = dict(n_experts=n_exp, n_experts_used=need("num_experts_per_tok", "experts_per_token", field="n_experts_used"),
                   expert_ffn_size=width, shared_expert_ffn_size=cfg.get("shared_intermediate_size") or 0)
        if model_type == "lfm2_moe":
            moe["n_dense_layers"] = need("num_dense_layers")
        if model_type == "qwen3_moe" and (cfg.get("mlp_only_layers") or cfg.get("decoder_sparse_step", 1) != 1):
            raise DataFileError(f"{path}: qwen3_moe with dense layers (mlp_only_layers / decoder_sparse_step) is not "
                                "supported; llama.cpp's loader assumes every layer is MoE")
        ffn = ffn or width
    elif model_type == "granitemoehybrid":
        ffn = need("shared_intermediate_size")
        if cfg.get("num_local_experts"):
            keys.update(n_experts="num_local_experts", expert_ffn_size="intermediate_size")
            moe = dict(n_experts=cfg["num_local_experts"], n_experts_used=need("num_experts_per_tok"),
                       expert_ffn_size=need("intermediate_size"), shared_expert_ffn_size=ffn)
        types = cfg.get("layer_types")
        if isinstance(types, list) and types and all(t == "attention" for t in types):
            # no Mamba2 layer (Granite 4.0 Micro): llama.cpp's GraniteHybridModel converts it to
            # the plain granite (granitemoe with experts) architecture, and so does this
            arch = "granitemoe" if moe else "granite"
            types = None
        if arch == "granitehybrid":
            _granite_mamba(path, cfg, hidden, need, moe)
            kv = need("num_key_value_heads")
            if isinstance(types, list):
                _known_layer_types(path, types, ("mamba", "attention"))
                kv_per_layer = tuple(kv if t == "attention" else 0 for t in types)
            else:
                missing.append("layer_types")
    elif model_type == "lfm2":
        ffn = need("block_ff_dim", "intermediate_size")
        if cfg.get("block_auto_adjust_ff_dim"):  # as convert_hf_to_gguf's LFM2Model does
            ffn = int(2 * ffn / 3)
            if cfg.get("block_ffn_dim_multiplier") is not None:
                ffn = int(cfg["block_ffn_dim_multiplier"] * ffn)
            multiple = cfg.get("block_multiple_of", 256)
            ffn = multiple * ((ffn + multiple - 1) // multiple)
    elif model_type in ("phi", "gpt_neox"):
        ffn = ffn or 4 * hidden
    else:
        ffn = need("intermediate_size")
    swa: dict[str, Any] = {}
    if model_type == "gpt_oss":  # llama.cpp hard-codes the pattern: even layers slide, odd layers are global
        swa = dict(sliding_window=need("sliding_window"), swa_global_every=_SWA_PATTERN["gpt-oss"])
        if isinstance(cfg.get("quantization_config"), dict) and cfg["quantization_config"].get("quant_method") == "mxfp4":
            swa["native_format"] = "MXFP4_MOE"  # released with MXFP4 experts: that file is the model itself
    if model_type in ("lfm2", "lfm2_moe"):
        conv = need("conv_L_cache")
        types = cfg.get("layer_types")
        attn_idx = cfg.get("full_attn_idxs")
        kv = need("num_key_value_heads")
        if isinstance(types, list):
            _known_layer_types(path, types, ("conv", "full_attention", "attention"))
            kv_per_layer = tuple(kv if t in ("full_attention", "attention") else 0 for t in types)
        elif isinstance(attn_idx, list):
            beyond = sorted(i for i in attn_idx if not 0 <= i < layers)
            if beyond:  # silently dropped, the model would lose those attention layers' KV cache
                raise DataFileError(f"{path}: full_attn_idxs has {', '.join(map(str, beyond))}, outside the {layers} layers "
                                    f"(0 to {layers - 1}) of num_hidden_layers")
            kv_per_layer = tuple(kv if i in attn_idx else 0 for i in range(layers))
        else:
            missing.append("layer_types")
    if missing:
        raise DataFileError(f"{path}: the config lacks {', '.join(missing)} (needed for model_type {model_type!r})")
    if cfg.get("num_key_value_heads") == 0:
        raise DataFileError(f"{path}: num_key_value_heads is 0; attention needs at least one key/value head "
                            "(leave the key out for as many as num_attention_heads)")
    kv_heads = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or hidden // heads
    rotary = cfg.get("partial_rotary_factor") or cfg.get("rotary_pct")
    rope_dims = int(rotary * head_dim) if rotary and rotary < 1 else 0
    tied = cfg.get("tie_word_embeddings")
    tied = defaults["tie_word_embeddings"] if tied is None else tied
    attn_bias = cfg.get("attention_bias")
    attn_bias = defaults.get("_attn_bias", False) if attn_bias is None else attn_bias
    notes = "Imported from config.json; license unknown (treated as noncommercial); params computed from the inventory."
    if arch == "bitnet":
        if heads * head_dim != hidden:  # llama.cpp's bitnet loader: wq and wo are {n_embd, n_embd}
            raise DataFileError(f"{path}: num_attention_heads × head_dim is {heads} × {head_dim} = {heads * head_dim:,}, but "
                                f"llama.cpp's bitnet requires it to equal hidden_size ({hidden:,})")
        act = cfg.get("hidden_act")
        # ReLU² (BitNet b1.58 2B4T) or SiLU: the FFN is gated either way (gate, up, ffn_sub_norm, down)
        notes += (f" BitNet: hidden_act {_shown(act)}, a gated FFN (gate, up, sub-norm, down); llama.cpp (llama-cpp-python "
                  "0.3.36, src/models/bitnet.cpp) applies SiLU whatever it says, with the same tensors"
                  if isinstance(act, str) else " BitNet: hidden_act not given; a gated FFN as llama.cpp builds it")
        if not tied:
            notes += "; untied in the config, but llama.cpp's bitnet has no output matrix (it multiplies by token_embd)"
        notes += "."
    # a relative "config.json" has the parent "." (no name): the folder it is in, resolved
    name = _name(str(cfg.get("_name_or_path") or "").rstrip("/")) or path.resolve().parent.name or path.stem
    fields: dict[str, Any] = dict(
        id=_slug(str(name).split("/")[-1]), name=str(name).split("/")[-1], family=model_type, publisher="unknown",
        hf_repo=str(name) if "/" in str(name) else "", gguf_arch=arch, license="unknown (not in config.json)",
        license_class="noncommercial", release_date="unknown", params=1, params_published="-",
        context_length=max_pos, max_position_embeddings=max_pos, n_layers=layers, hidden_size=hidden, ffn_size=ffn,
        n_heads=heads, n_kv_heads=kv_heads, head_dim=head_dim, vocab_size=vocab, tied_embeddings=bool(tied),
        attn_bias=bool(defaults.get("_bias_required") or attn_bias),
        qk_norm=defaults.get("_qk_norm", False), norm=defaults.get("_norm", "rms"), ffn_gated=defaults.get("_gated", True),
        post_norms=False, **({"sliding_window": 0, "swa_global_every": 0} | swa),
        n_kv_heads_per_layer=kv_per_layer, shortconv_l_cache=conv, rope_dims=rope_dims, **moe,
        verified=False, source=f"Hugging Face config.json at {path}",
        notes=notes,
    )
    from advisor.engine.tensors import count_params

    # params is the inventory's count: validated with it, so a model past the record's limit is
    # refused here, not written into the catalog that every command reads
    params = count_params(_spec(path, fields, keys))
    if params > MAX_PARAMS:
        raise DataFileError(f"{path}: describes a model of {params:.3g} parameters, over the {MAX_PARAMS:.0e} the advisor "
                            "takes; check num_hidden_layers, hidden_size, intermediate_size and vocab_size")
    return _spec(path, fields | {"params": params}, keys)


# --------------------------------------------------------------------------- storing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def spec_to_toml(spec: ModelSpec) -> str:
    """One ``[[models]]`` table for a models.toml (fields at their defaults left out)."""
    data = spec.model_dump(exclude_defaults=True, exclude={"quality"})
    lines = ["", "[[models]]"]
    for k, v in data.items():
        if k == "file_tensors":
            lines.append("file_tensors = [")
            lines.extend(f"  {_toml_value(t)}," for t in v)
            lines.append("]")
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"

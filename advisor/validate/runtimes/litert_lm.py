"""LiteRT-LM (``litert-lm``, CPU backend: XNNPACK): twins converted by LiteRT Torch's Hugging Face
exporter (``litert-torch export_hf``, what ``litert-lm convert`` installs and runs: the
``litert-torch-nightly`` package), which traces the transformers model, converts it to one TFLite
model with a prefill and a decode signature, quantizes it with an AI Edge Quantizer recipe and packs
it with the tokenizer and the runtime's metadata into one ``.litertlm`` file. Measured through the
runtime's own Python API (``litert_lm``, the ``litert-lm-api`` package: the C library's benchmark
mode, which prefills and decodes a fixed number of tokens) in a child process.

The exporter reads a Hugging Face folder: ``common.hf_twin`` writes the catalog model's exact
architecture with random bf16 weights and a word-level ``tokenizer.json``, so nothing is
downloaded. The twin's folder holds ``model.litertlm``, ``config.json`` (the Hugging Face config
it was exported from), ``export.json`` (the exporter's arguments and versions) and, for a recipe
the quantizer has no name for (int4 in blocks of 128), ``recipe.json``.

``tensor_layout`` reads the file without running it: the ``.litertlm`` header (a flatbuffer after
the ``LITERTLM`` magic: sections with their data types and byte ranges), and in each TFLite section
every buffer a tensor uses (prefill and decode share them: each is listed once), with its dtype
(``INT8``, ``INT4`` two per byte, ``FLOAT32`` …), shape and bytes, and its quantization: a per-channel
tensor's scales (float32) and zero points (int64) are vectors inside the flatbuffer's
``QuantizationParameters`` of each subgraph's tensor — the prefill's and the decode's: two copies —
listed as ``.scales`` / ``.zero_points`` of the weight, once per subgraph (``file`` names it); a block-wise
tensor's scales are a tensor of their own (``BlockwiseQuantization.scales``), listed as the weight's
``.scales``. Tensor names in the file are the converter's fused MLIR locations (``…LlamaDecoderLayer_1/
…/Linear_k_proj;;…Linear_v_proj``) or ``arith.constantN``: each tensor is named here by its role,
from its shape and the model's dimensions, with the location's hints where shapes are alike
(``model.layers.3.self_attn.q_proj#17.weight``: ``#`` the buffer index).
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError, RunError
from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    architecture_key,
    atomic_dir,
    hf_twin,
    run_child,
    run_tool,
    runtime_missing,
)

NAME = "litert-lm"
EXTRA = "litert-lm"

#: format name (catalog/runtimes.toml) → (AI Edge Quantizer recipe name, or None for a recipe
#: written as JSON; bits; granularity). ``dynamic_wi8_afp32`` is the exporter's default recipe.
#: Each quantizes every supported op's weights (fully connected and the embedding lookup),
#: symmetric, activations float32 and quantized to int8 at run time (``compute_precision=INTEGER``).
FORMATS: dict[str, tuple[str | None, int, str]] = {
    "dynamic_int8": ("dynamic_wi8_afp32", 8, "CHANNELWISE"),
    "int4": ("dynamic_wi4_afp32", 4, "CHANNELWISE"),
    "dynamic_int4_block32": ("dynamic_wi4b32_afp32", 4, "BLOCKWISE_32"),
    "dynamic_int4_block128": (None, 4, "BLOCKWISE_128"),
}

#: The KV cache length (``cache_length``, fixed at export; the catalog's default_context, as the
#: published ``ekv1280`` builds) and the one prefill signature (``prefill_lengths``).
DEFAULT_CONTEXT = 1280
PREFILL_LENGTH = 128

#: TFLite TensorType (schema.fbs) → (name, bits per element). INT4 packs two values per byte.
TFLITE_TYPES: dict[int, tuple[str, int]] = {
    0: ("FLOAT32", 32), 1: ("FLOAT16", 16), 2: ("INT32", 32), 3: ("UINT8", 8), 4: ("INT64", 64), 6: ("BOOL", 8),
    7: ("INT16", 16), 9: ("INT8", 8), 10: ("FLOAT64", 64), 12: ("UINT64", 64), 15: ("UINT32", 32), 16: ("UINT16", 16),
    17: ("INT4", 4), 18: ("BFLOAT16", 16), 19: ("INT2", 2), 20: ("UINT4", 4),
}

#: .litertlm header (litert_lm_builder/litertlm_core.py): magic, then at byte 24 the header's end.
MAGIC = b"LITERTLM"
HEADER_BEGIN = 32
HEADER_END_AT = 24


def require() -> dict[str, str]:
    """Versions of litert-lm-api (the runtime), litert-lm-builder and litert-torch (the exporter),
    or the error naming the install command."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import litert_lm  # noqa: F401
        import litert_lm_builder  # noqa: F401
        import litert_torch  # noqa: F401
    except ImportError:
        raise runtime_missing("litert-lm", EXTRA, "LiteRT-LM") from None
    out = {}
    for dist in ("litert-lm-api", "litert-lm-builder", "litert-torch-nightly", "litert-torch", "ai-edge-quantizer-nightly",
                 "ai-edge-quantizer", "torch", "transformers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def check_format(fmt: str) -> tuple[str | None, int, str]:
    if fmt not in FORMATS:
        raise BadInputError(f"unknown LiteRT-LM format '{fmt}'; valid: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def recipe_json(fmt: str) -> list[dict[str, Any]]:
    """The AI Edge Quantizer recipe of ``fmt`` as JSON (what ``recipe._dynamic_wix_afp32`` builds:
    every supported op, dynamic, symmetric; min-max uniform quantization)."""
    _, bits, granularity = check_format(fmt)
    return [{
        "regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize",
        "op_config": {"weight_tensor_config": {"num_bits": bits, "symmetric": True, "granularity": granularity, "dtype": "INT"},
                      "compute_precision": "INTEGER", "explicit_dequantize": False, "skip_checks": False,
                      "min_weight_elements": 0},
    }]


def export_argv(hf_folder: Path, out_dir: Path, recipe: str, context: int) -> list[str]:
    """The ``litert-torch export_hf`` command line (its fire flags)."""
    return ["export_hf", "--model", str(hf_folder), "--output_dir", str(out_dir), "--prefill_lengths", f"[{PREFILL_LENGTH}]",
            "--cache_length", str(context), "--quantization_recipe", recipe]


# litert-torch's own CLI entry point (litert_torch/cli.py: fire over export_hf.export)
EXPORT_DRIVER = r"""
import sys
from litert_torch.cli import main
sys.argv = ["litert-torch"] + sys.argv[1:]
main()
"""


def build(model: ModelSpec, fmt: str, cache_dir: Path, *, context: int = DEFAULT_CONTEXT, timeout_s: float = 3600) -> Path:
    """The ``fmt`` twin of ``model`` (cached): exported by ``litert-torch export_hf`` from the
    Hugging Face twin, KV cache for ``context`` tokens, one prefill signature of 128 tokens."""
    recipe_name, _, _ = check_format(fmt)
    versions = require()
    hf = hf_twin(model, Path(cache_dir))
    final = Path(cache_dir) / f"litertlm-{model.gguf_arch}-{architecture_key(model)}-{fmt}-ctx{context}"

    def export(tmp: Path) -> None:
        recipe = recipe_name
        if recipe is None:
            (tmp / "recipe.json").write_text(json.dumps(recipe_json(fmt), indent=1))
            recipe = str(tmp / "recipe.json")
        argv = export_argv(hf, tmp / "export", recipe, context)
        run_tool([sys.executable, "-c", EXPORT_DRIVER, *argv], what=f"litert-torch export_hf ({fmt})", timeout_s=timeout_s, cwd=tmp)
        produced = tmp / "export" / "model.litertlm"
        if not produced.is_file():
            raise RunError(f"litert-torch export_hf ({fmt}) wrote no model.litertlm")
        produced.rename(tmp / "model.litertlm")
        (tmp / "export").rmdir()
        (tmp / "config.json").write_text((hf / "config.json").read_text())
        (tmp / "export.json").write_text(json.dumps(
            {"exporter": "litert-torch export_hf", "argv": [a.replace(str(hf), "<hf twin>").replace(str(tmp) + "/", "")
                                                            for a in argv],
             "recipe": recipe_name or "recipe.json", "context": context, "prefill_lengths": [PREFILL_LENGTH],
             "versions": versions}, indent=1))

    return atomic_dir(final, export)


# --------------------------------------------------------------------------- reading the file


def litertlm_sections(path: Path) -> list[dict[str, Any]]:
    """The sections of a .litertlm file: data type (``TFLiteModel``, ``HF_Tokenizer_Zlib``,
    ``LlmMetadataProto`` …), byte range and items, from its header (litert_lm_builder's schema)."""
    from litert_lm_builder import litertlm_header_schema_py_generated as hs

    with open(path, "rb") as fh:
        head = fh.read(HEADER_BEGIN)
        if head[:8] != MAGIC:
            raise RunError(f"{path}: not a .litertlm file (magic {head[:8]!r})")
        (end,) = struct.unpack("<Q", head[HEADER_END_AT:HEADER_END_AT + 8])
        major, minor, patch = struct.unpack("<III", head[8:20])
        fh.seek(HEADER_BEGIN)
        header = fh.read(end - HEADER_BEGIN)
    types = {v: k for k, v in vars(hs.AnySectionDataType).items() if not k.startswith("_")}
    meta = hs.LiteRTLMMetaData.GetRootAs(header, 0).SectionMetadata()
    out = []
    for i in range(meta.ObjectsLength()):
        s = meta.Objects(i)
        items = {}
        for j in range(s.ItemsLength()):
            item = s.Items(j)
            if item.ValueType() == hs.VData.StringValue:
                value = hs.StringValue()
                value.Init(item.Value().Bytes, item.Value().Pos)
                items[item.Key().decode()] = value.Value().decode()
        out.append({"index": i, "data_type": types.get(s.DataType(), str(s.DataType())), "begin": s.BeginOffset(),
                    "end": s.EndOffset(), "bytes": s.EndOffset() - s.BeginOffset(), "items": items,
                    "version": f"{major}.{minor}.{patch}"})
    return out


class _Namer:
    """Names a TFLite tensor by its role: shapes and the model's dimensions first, the converter's
    location (``…/Linear_q_proj``) where shapes are alike. Shapes are ``[out, in]``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
        hd = cfg["head_dim"]
        q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
        self.matrices = [((q, h), "self_attn.q_proj"), ((kv, h), "self_attn.k_proj"), ((kv, h), "self_attn.v_proj"),
                         ((h, q), "self_attn.o_proj"), ((f, h), "mlp.gate_proj"), ((f, h), "mlp.up_proj"),
                         ((h, f), "mlp.down_proj")]
        self.biases = [((q,), "self_attn.q_proj"), ((kv,), "self_attn.k_proj"), ((kv,), "self_attn.v_proj")]
        self.vocab, self.hidden, self.head_dim = v, h, hd

    @staticmethod
    def _layer(location: str) -> str:
        layers = set(re.findall(r"DecoderLayer_(\d+)", location))
        return layers.pop() if len(layers) == 1 else "?"

    @staticmethod
    def _joined(candidates: list[str]) -> str:
        """One name for matrices of one shape (k and v → ``self_attn.k_v_proj``; gate and up →
        ``mlp.gate_up_proj``): the fused locations do not say reliably which one a buffer is."""
        prefixes = {c.split(".")[0] for c in candidates}
        leaf = "_".join(c.split(".")[1].removesuffix("_proj") for c in candidates) + "_proj"
        return f"{prefixes.pop() if len(prefixes) == 1 else '?'}.{leaf}"

    def base(self, location: str, shape: tuple[int, ...], dtype: str) -> str:
        if len(shape) == 2 and shape == (self.vocab, self.hidden):
            return "lm_head" if "lm_head" in location else "model.embed_tokens"
        if len(shape) == 2:
            candidates = [name for s, name in self.matrices if s == shape]
            if candidates:
                return f"model.layers.{self._layer(location)}.{self._joined(candidates)}"
        if len(shape) == 1 and dtype.startswith("FLOAT") and "Linear_" in location:
            candidates = [name for s, name in self.biases if s == shape]
            if candidates:
                return f"model.layers.{self._layer(location)}.{self._joined(candidates)}:bias"
        if len(shape) == 1 and dtype.startswith("FLOAT") and shape[0] in (self.hidden, self.head_dim):
            return "norm"
        if dtype.startswith("FLOAT") and "rotary_emb" in location:
            return "rotary"
        return "const"


def _vector(table: Any, kind: str) -> tuple[int, int]:
    """(count, bytes) of a QuantizationParameters vector: scale (float32), zero_point (int64)."""
    n = getattr(table, kind + "Length")()
    return n, n * (4 if kind == "Scale" else 8)


def tflite_layout(data: bytes, cfg: dict[str, Any], where: str) -> tuple[list[TensorLayout], dict[str, Any]]:
    """Every constant buffer of one TFLite model (``data``: the section's bytes), named by role.

    A buffer holds its bytes inline (``data``) or, past the flatbuffer, at ``offset``/``size``
    (the converter's layout for large models); buffer 0 is the empty sentinel. Bytes = the buffer's
    length, checked against shape × the dtype's bits for the weight tensors."""
    from ai_edge_litert import schema_py_generated as tfl

    model = tfl.Model.GetRootAsModel(data, 0)
    namer = _Namer(cfg)
    owner: dict[int, tuple[int, int]] = {}  # buffer → (subgraph, tensor) of its first user
    users: dict[int, list[tuple[int, int]]] = {}  # buffer → its first user in every subgraph that uses it
    scale_of: dict[int, int] = {}  # buffer of a block-wise scales tensor → buffer of its weight
    quant_kinds: dict[str, int] = {}
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            b = tensor.Buffer()
            buf = model.Buffers(b)
            if b == 0 or not (buf.DataLength() or buf.Size()):
                continue
            owner.setdefault(b, (g, t))
            if all(ug != g for ug, _ in users.setdefault(b, [])):
                users[b].append((g, t))
            q = tensor.Quantization()
            if q is not None and q.DetailsType() == tfl.QuantizationDetails.BlockwiseQuantization:
                bw = tfl.BlockwiseQuantization()
                bw.Init(q.Details().Bytes, q.Details().Pos)
                scale_of[sg.Tensors(bw.Scales()).Buffer()] = b
    out: list[TensorLayout] = []
    names: dict[int, str] = {}
    inline_bytes = external_bytes = 0
    for b in sorted(owner, key=lambda b: (b in scale_of, b)):  # weights before their scales
        g, t = owner[b]
        tensor = model.Subgraphs(g).Tensors(t)
        buf = model.Buffers(b)
        nbytes = buf.DataLength() or buf.Size()
        if buf.DataLength():
            inline_bytes += nbytes
        else:
            external_bytes += nbytes
        dtype, bits = TFLITE_TYPES.get(tensor.Type(), (f"type-{tensor.Type()}", 0))
        shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        location = (tensor.Name() or b"").decode()
        if b in scale_of:
            out.append(TensorLayout(f"{names[scale_of[b]]}#{scale_of[b]}.scales", shape, dtype, nbytes, where))
            continue
        base, _, part = namer.base(location, shape, dtype).partition(":")
        names[b] = base
        n = 1
        for s in shape:
            n *= s
        if bits and len(shape) == 2 and nbytes != (n * bits + 7) // 8:
            raise RunError(f"{where}: buffer {b} ({base}) holds {nbytes} bytes, shape {shape} × {bits} bits say otherwise")
        out.append(TensorLayout(f"{base}#{b}.{part or 'weight'}", shape, dtype, nbytes, where))
        q = tensor.Quantization()
        if q is None:
            continue
        if q.DetailsType() == tfl.QuantizationDetails.BlockwiseQuantization:
            bw = tfl.BlockwiseQuantization()
            bw.Init(q.Details().Bytes, q.Details().Pos)
            key = f"{dtype} blockwise {bw.BlockSize()}"
            quant_kinds[key] = quant_kinds.get(key, 0) + 1
            continue
        if q.ScaleLength():
            key = f"{dtype} {'per-channel' if q.ScaleLength() > 1 else 'per-tensor'} dim {q.QuantizedDimension()}"
            quant_kinds[key] = quant_kinds.get(key, 0) + 1
        # each subgraph's tensor carries its own copy of the vectors (prefill's and decode's)
        for ug, ut in users[b]:
            uq = model.Subgraphs(ug).Tensors(ut).Quantization()
            if uq is None:
                continue
            n_scales, scale_bytes = _vector(uq, "Scale")
            n_zero, zero_bytes = _vector(uq, "ZeroPoint")
            if n_scales:
                out.append(TensorLayout(f"{base}#{b}.scales", (n_scales,), "FLOAT32", scale_bytes, f"{where}:quantization:{ug}"))
            if n_zero:
                out.append(TensorLayout(f"{base}#{b}.zero_points", (n_zero,), "INT64", zero_bytes, f"{where}:quantization:{ug}"))
    details = {
        "subgraphs": model.SubgraphsLength(),
        "signatures": [model.SignatureDefs(i).SignatureKey().decode() for i in range(model.SignatureDefsLength())],
        "buffers": model.BuffersLength(), "constant_buffers": len(owner),
        "inline_buffer_bytes": inline_bytes, "external_buffer_bytes": external_bytes,
        "quantized_tensors": [{"kind": k, "count": n} for k, n in sorted(quant_kinds.items())],
        "kv_cache": _kv_inputs(model, tfl),
    }
    return out, details


def _kv_inputs(model: Any, tfl: Any) -> dict[str, Any]:
    """The decode signature's ``kv_cache_*`` inputs: count, dtype, one shape, total bytes."""
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SignatureKey().decode() != "decode":
            continue
        sg = model.Subgraphs(sig.SubgraphIndex())
        total, shapes, dtypes = 0, set(), set()
        for j in range(sig.InputsLength()):
            io = sig.Inputs(j)
            if not io.Name().decode().startswith("kv_cache"):
                continue
            tensor = sg.Tensors(io.TensorIndex())
            shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
            dtype, bits = TFLITE_TYPES.get(tensor.Type(), (str(tensor.Type()), 0))
            n = 1
            for s in shape:
                n *= s
            total += n * bits // 8
            shapes.add(shape)
            dtypes.add(dtype)
        return {"inputs": sum(1 for j in range(sig.InputsLength()) if sig.Inputs(j).Name().decode().startswith("kv_cache")),
                "shapes": sorted(list(s) for s in shapes), "dtypes": sorted(dtypes), "bytes": total}
    return {}


def file_layout(folder: Path) -> tuple[list[TensorLayout], dict[str, Any]]:
    """(every constant tensor of every TFLite section of ``model.litertlm``, what the file says
    about itself: its sections, and per TFLite section its signatures, buffers, quantization kinds
    and KV cache inputs)."""
    folder = Path(folder)
    path = folder / "model.litertlm"
    cfg = json.loads((folder / "config.json").read_text())
    sections = litertlm_sections(path)
    layout: list[TensorLayout] = []
    per_section = {}
    with open(path, "rb") as fh:
        for s in sections:
            if s["data_type"] != "TFLiteModel":
                continue
            fh.seek(s["begin"])
            data = fh.read(s["bytes"])
            where = f"section{s['index']}"
            tensors, details = tflite_layout(data, cfg, where)
            layout += tensors
            per_section[where] = {**details, "model_type": s["items"].get("model_type")}
    return layout, {"litertlm_version": sections[0]["version"] if sections else None,
                    "sections": [{k: v for k, v in s.items() if k != "version"} for s in sections],
                    "tflite": per_section}


def tensor_layout(folder: Path) -> list[TensorLayout]:
    """Every constant tensor of ``model.litertlm`` (``file_layout``)."""
    return file_layout(folder)[0]


def format_details(folder: Path) -> dict[str, Any]:
    """The exporter's arguments, the recipe, and what the file says about itself (``file_layout``)."""
    folder = Path(folder)
    export = json.loads((folder / "export.json").read_text())
    recipe = json.loads((folder / "recipe.json").read_text()) if (folder / "recipe.json").is_file() else None
    return {"export": export, "recipe_json": recipe, **file_layout(folder)[1]}


# --------------------------------------------------------------------------- running


# The C API calls of litert_lm.Benchmark.run (benchmark mode: a fixed number of prefill and decode
# tokens), split so that loading and each run are timed and the RSS read between them.
CHILD = r"""
import ctypes
import litert_lm
from litert_lm._ffi import _get_lib, InputDataType
from importlib.metadata import version
litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
lib = _get_lib()
rss_after_imports = current_rss()
def create_engine():
    settings = lib.litert_lm_engine_settings_create(args["model"], "cpu", None, None)
    lib.litert_lm_engine_settings_enable_benchmark(settings)
    if args.get("threads"):
        lib.litert_lm_engine_settings_set_num_threads(settings, args["threads"])
    lib.litert_lm_engine_settings_set_num_prefill_tokens(settings, args["prompt_tokens"])
    lib.litert_lm_engine_settings_set_num_decode_tokens(settings, args["output_tokens"])
    lib.litert_lm_engine_settings_set_cache_dir(settings, args["cache_dir"])
    t = time.perf_counter()
    engine = lib.litert_lm_engine_create(settings)
    dt = time.perf_counter() - t
    lib.litert_lm_engine_settings_delete(settings)
    if not engine:
        raise SystemExit("litert_lm_engine_create failed for " + args["model"])
    return engine, dt
def run_once(engine):
    t = time.perf_counter()
    session = lib.litert_lm_engine_create_session(engine, None)
    session_s = time.perf_counter() - t
    rss_session = current_rss()
    prompt = b"tok5 tok6 tok7"
    data = lib.litert_lm_input_data_create(InputDataType.TEXT, prompt, len(prompt))
    inputs = (ctypes.c_void_p * 1)(data)
    responses = lib.litert_lm_session_generate_content(session, inputs, 1)
    if responses:
        lib.litert_lm_responses_delete(responses)
    lib.litert_lm_input_data_delete(data)
    info = lib.litert_lm_session_get_benchmark_info(session)
    n_p = lib.litert_lm_benchmark_info_get_num_prefill_turns(info)
    n_d = lib.litert_lm_benchmark_info_get_num_decode_turns(info)
    out = {"prefill_tokens": lib.litert_lm_benchmark_info_get_prefill_token_count_at(info, n_p - 1),
           "prefill_tps": lib.litert_lm_benchmark_info_get_prefill_tokens_per_sec_at(info, n_p - 1),
           "decode_tokens": lib.litert_lm_benchmark_info_get_decode_token_count_at(info, n_d - 1),
           "decode_tps": lib.litert_lm_benchmark_info_get_decode_tokens_per_sec_at(info, n_d - 1),
           "ttft_s": lib.litert_lm_benchmark_info_get_time_to_first_token(info),
           "init_s": lib.litert_lm_benchmark_info_get_total_init_time_in_second(info), "session_s": session_s,
           "rss_after_session": rss_session}
    lib.litert_lm_benchmark_info_delete(info)
    lib.litert_lm_session_delete(session)
    return out
# first start: XNNPACK packs the weights and writes them to the cache directory
engine, first_engine_s = create_engine()
first = run_once(engine)
first_load_s = first_engine_s + first["session_s"]
rss_after_first_load = first.pop("rss_after_session")
peak_rss_first_start = peak_rss()
lib.litert_lm_engine_delete(engine)
cache_files = {f: os.path.getsize(os.path.join(args["cache_dir"], f)) for f in sorted(os.listdir(args["cache_dir"]))}
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
# a later start: the packed weights come from the cache file
engine, engine_s = create_engine()
warm = run_once(engine)  # also the warm-up
load_s = engine_s + warm["session_s"]  # the engine loads the model when its first session is created
rss_after_load = warm["rss_after_session"]
runs = [run_once(engine) for _ in range(args["repeats"])]
rss_after_runs = current_rss()
emit({"load_s": load_s, "engine_create_s": engine_s, "runtime_init_s": warm["init_s"], "first_load_s": first_load_s,
      "first_run": first,
      "prefill_tokens_per_s": spread([r["prefill_tps"] for r in runs]),
      "decode_tokens_per_s": spread([r["decode_tps"] for r in runs]),
      "time_to_first_token_s": spread([r["ttft_s"] for r in runs]),
      "prefill_token_counts": sorted({r["prefill_tokens"] for r in runs}),
      "decode_token_counts": sorted({r["decode_tokens"] for r in runs}),
      "rss_after_imports_bytes": rss_after_imports, "rss_after_first_load_bytes": rss_after_first_load,
      "peak_rss_first_start_bytes": peak_rss_first_start, "rss_after_load_bytes": rss_after_load,
      "rss_after_runs_bytes": rss_after_runs,
      "xnnpack_cache_files": cache_files, "xnnpack_cache_bytes": sum(cache_files.values()),
      "versions": {"litert-lm-api": version("litert-lm-api")}})
"""


def measure(folder: Path, settings: MeasureSettings | None = None) -> dict[str, Any]:
    """Load time (a first start, which packs the weights into XNNPACK's cache file, and a later
    one, which maps that file), prefill/decode tokens/s and time to first token (median, min, max,
    samples: the runtime's own benchmark counters), peak RSS and the KV cache, from a child
    process running the .litertlm on the CPU backend."""
    import tempfile

    settings = settings or MeasureSettings()
    require()
    folder = Path(folder)
    context = json.loads((folder / "export.json").read_text())["context"]
    if settings.prompt_tokens + settings.output_tokens > context:
        raise BadInputError(f"the twin was exported for {context} tokens; prompt + output ({settings.prompt_tokens} + "
                            f"{settings.output_tokens}) do not fit")
    layout_details = file_layout(folder)[1]
    kv = next(iter(layout_details["tflite"].values()))["kv_cache"]
    with tempfile.TemporaryDirectory(prefix="litertlm-cache-") as cache:
        args = {"model": str(folder / "model.litertlm"), "cache_dir": cache, **settings.to_json()}
        out = run_child(CHILD, args, what="LiteRT-LM run", timeout_s=settings.timeout_s)
    out["kv_cache_bytes"] = kv["bytes"]
    out["kv_cache_tokens"] = context
    out["kv_cache_dtype"] = ",".join(kv["dtypes"])
    return out

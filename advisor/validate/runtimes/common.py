"""The part every runtime twin shares: the Hugging Face folder it starts from, the per-tensor
layout record, and the measuring subprocess.

A runtime's own converter (``mlx_lm.convert``, onnxruntime-genai's model builder, …) reads a
Hugging Face checkpoint folder. ``write_hf_twin`` writes one with a catalog model's exact
architecture — ``config.json``, one ``model.safetensors`` of random bf16 weights (no download),
a word-level tokenizer of exactly ``vocab_size`` tokens built locally with the ``tokenizers``
package — so the converter sees what it would see for the real model. The safetensors file is
written by hand (8-byte little-endian header length, JSON header, raw little-endian data: the
format's whole specification), which keeps torch out of it and streams tensor by tensor.

Measuring happens in a child process (``run_child``), as for llama.cpp in ``runner.py``: a crash,
an out-of-memory kill or a timeout comes back as a ``RunError`` naming it, and the child's peak
RSS is its own (``/proc/self/clear_refs``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from advisor.errors import MissingDependencyError, RunError
from advisor.records import ModelSpec
from advisor.validate.runner import MARKER, describe_returncode

# Bump when the written folder changes (names, config keys, tokenizer) so cached twins rebuild.
HF_TWIN_FORMAT_VERSION = 2

#: gguf_arch → Hugging Face model_type / architecture class. Only architectures whose tensor
#: names and config keys ``hf_tensors``/``hf_config`` write exactly.
HF_ARCH = {
    "llama": ("llama", "LlamaForCausalLM"),
    "qwen2": ("qwen2", "Qwen2ForCausalLM"),
    "qwen3": ("qwen3", "Qwen3ForCausalLM"),
}

#: rope_theta of the real checkpoints' config.json (values do not change any size).
_ROPE_THETA = {"llama": 500_000.0, "qwen2": 1_000_000.0, "qwen3": 1_000_000.0}

#: safetensors dtype names → bytes per element (safetensors format spec).
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}


def runtime_missing(package: str, extra: str, what: str) -> MissingDependencyError:
    """The error for a runtime that is not installed, naming the pip command."""
    return MissingDependencyError(
        f"{package} is not installed, so the {what} twin cannot be built or measured; "
        f"install it with: pip install 'edge-model-advisor[{extra}]'"
    )


# --------------------------------------------------------------------------- HF folder


def check_supported(model: ModelSpec) -> None:
    if model.gguf_arch not in HF_ARCH:
        raise RunError(
            f"no runtime twin for {model.id}: architecture '{model.gguf_arch}' is not written as a "
            f"Hugging Face folder yet (supported: {', '.join(sorted(HF_ARCH))}); use a model of those families"
        )
    if model.n_heads_per_layer or model.n_kv_heads_per_layer or model.ffn_size_per_layer:
        raise RunError(f"no runtime twin for {model.id}: per-layer head/FFN sizes are not supported")


def hf_tensors(model: ModelSpec) -> list[tuple[str, tuple[int, ...]]]:
    """Every tensor of the Hugging Face checkpoint, in PyTorch shape order ``(out, in)``.

    Names and shapes are those of ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` /
    ``Qwen3ForCausalLM`` state dicts: Qwen2 has q/k/v biases, Qwen3 per-head q/k RMS norms,
    tied models no ``lm_head.weight``.
    """
    check_supported(model)
    h, hd, f = model.hidden_size, model.head_dim, model.ffn_size
    q, kv = model.n_heads * hd, model.n_kv_heads * hd
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (model.vocab_size, h))]
    for i in range(model.n_layers):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (q, h)),
            (p + "self_attn.k_proj.weight", (kv, h)),
            (p + "self_attn.v_proj.weight", (kv, h)),
        ]
        if model.attn_bias:
            out += [(p + "self_attn.q_proj.bias", (q,)), (p + "self_attn.k_proj.bias", (kv,)),
                    (p + "self_attn.v_proj.bias", (kv,))]
        if model.qk_norm:
            out += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
        out += [
            (p + "self_attn.o_proj.weight", (h, q)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (f, h)),
            (p + "mlp.up_proj.weight", (f, h)),
            (p + "mlp.down_proj.weight", (h, f)),
        ]
    out.append(("model.norm.weight", (h,)))
    if not model.tied_embeddings:
        out.append(("lm_head.weight", (model.vocab_size, h)))
    return out


def hf_config(model: ModelSpec, *, max_position_embeddings: int | None = None) -> dict[str, Any]:
    """The ``config.json`` of ``model`` (the keys transformers and the converters read)."""
    check_supported(model)
    model_type, arch = HF_ARCH[model.gguf_arch]
    cfg: dict[str, Any] = {
        "architectures": [arch], "model_type": model_type, "hidden_size": model.hidden_size,
        "intermediate_size": model.ffn_size, "num_hidden_layers": model.n_layers,
        "num_attention_heads": model.n_heads, "num_key_value_heads": model.n_kv_heads,
        "head_dim": model.head_dim, "vocab_size": model.vocab_size,
        "max_position_embeddings": max_position_embeddings or model.max_position_embeddings,
        "rms_norm_eps": 1e-6, "rope_theta": _ROPE_THETA[model.gguf_arch], "hidden_act": "silu",
        "tie_word_embeddings": model.tied_embeddings, "torch_dtype": "bfloat16",
        "bos_token_id": 1, "eos_token_id": 2, "attention_dropout": 0.0, "initializer_range": 0.02,
        "use_cache": True,
    }
    if model_type == "llama":
        cfg.update(attention_bias=model.attn_bias, mlp_bias=False, pretraining_tp=1)
    if model_type in ("qwen2", "qwen3"):
        cfg.update(use_sliding_window=False, sliding_window=None, max_window_layers=model.n_layers)
    if model_type == "qwen3":
        cfg["attention_bias"] = model.attn_bias
    return cfg


def _bf16_bytes(values: Any, np: Any) -> bytes:
    """float32 → bfloat16 by truncation (the top 16 bits), little-endian."""
    return (values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()


def write_safetensors(path: Path, tensors: list[tuple[str, tuple[int, ...]]], *, seed: int = 0,
                      metadata: dict[str, str] | None = None) -> Path:
    """Write bf16 random weights (normal(0, 0.02); tensors named ``*norm.weight`` 1.0) for
    ``tensors`` as one safetensors file, streaming. Biases are random too, never zero: converters
    drop all-zero biases (onnxruntime-genai's builder checks ``torch.count_nonzero(bias) > 0``),
    which would make the twin's file differ from the real model's."""
    import numpy as np

    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        n = 2 * _prod(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the spec pads the header with spaces to 8 bytes
    rng = np.random.default_rng(seed)
    pool_n = 1 << 22
    pool = rng.standard_normal(2 * pool_n, dtype=np.float32) * np.float32(0.02)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, shape in tensors:
            n = _prod(shape)
            if name.endswith("norm.weight"):
                fh.write(_bf16_bytes(np.ones(n, dtype=np.float32), np))
                continue
            done = 0
            while done < n:  # windows of a random pool at random offsets: disk speed
                k = min(pool_n, n - done)
                start = int(rng.integers(0, pool_n))
                fh.write(_bf16_bytes(pool[start:start + k], np))
                done += k
    return path


def write_tokenizer(folder: Path, vocab_size: int) -> None:
    """A word-level tokenizer of exactly ``vocab_size`` tokens (``<unk>``, ``<s>``, ``</s>``,
    ``tok3`` …), saved as ``tokenizer.json`` + ``tokenizer_config.json`` by the tokenizers
    package — what ``AutoTokenizer.from_pretrained`` loads, with no download."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers
    except ImportError:
        raise runtime_missing("tokenizers", "mlx", "runtime") from None
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"tok{i}": i for i in range(3, vocab_size)})
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "</s>", "model_max_length": 1 << 20,
        "chat_template": "{% for m in messages %}{{ m['content'] }} {% endfor %}",
    }, indent=1))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "</s>"}, indent=1))


def architecture_key(model: ModelSpec) -> str:
    """Short hash of what decides the folder, so two ids with equal dims share a twin."""
    import hashlib

    blob = json.dumps({"config": hf_config(model), "v": HF_TWIN_FORMAT_VERSION}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def write_hf_twin(model: ModelSpec, folder: Path, *, seed: int = 0) -> Path:
    """The Hugging Face folder of ``model``'s synthetic twin (config, bf16 safetensors, tokenizer)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(model), indent=1))
    (folder / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": 2, "do_sample": False}, indent=1))
    write_tokenizer(folder, model.vocab_size)
    write_safetensors(folder / "model.safetensors", hf_tensors(model), seed=seed)
    return folder


def hf_twin(model: ModelSpec, cache_dir: Path) -> Path:
    """The cached Hugging Face twin folder of ``model`` under ``cache_dir``, written if missing."""
    final = Path(cache_dir) / f"hf-{model.gguf_arch}-{architecture_key(model)}"
    return atomic_dir(final, lambda tmp: write_hf_twin(model, tmp))


def atomic_dir(final: Path, build: Callable[[Path], Any]) -> Path:
    """Build a folder under a temporary name beside ``final`` and rename it: never half a twin."""
    final = Path(final)
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", suffix=".tmp", dir=final.parent))
    try:
        build(tmp)
        if tmp.is_dir():
            tmp.chmod(0o755)  # mkdtemp makes it private
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _prod(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class TensorLayout:
    """One tensor as the runtime stored it: shape in the file's own order, its dtype name in the
    file's own vocabulary (safetensors ``BF16``/``U32``, ONNX ``uint8``/``float``), bytes of data."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    file: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TensorLayout:
        return cls(name=d["name"], shape=tuple(d["shape"]), dtype=d["dtype"], nbytes=int(d["nbytes"]),
                   file=d.get("file", ""))


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (no tensor data read)."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise RunError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 << 20:
            raise RunError(f"{path}: not a safetensors file (header length {n})")
        return json.loads(fh.read(n))


def safetensors_layout(header: dict[str, Any], file: str = "") -> list[TensorLayout]:
    """Per-tensor layout from a safetensors header; bytes are the data offsets' span, checked
    against shape × dtype size."""
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        itemsize = SAFETENSORS_ITEMSIZE[info["dtype"]]
        if end - start != _prod(shape) * itemsize:
            raise RunError(f"{file or 'safetensors'}: {name} spans {end - start} bytes, shape {shape} × {itemsize} says otherwise")
        out.append(TensorLayout(name, shape, info["dtype"], end - start, file))
    return out


_ROLES = (
    # order matters: the first match wins
    ("lm_head", re.compile(r"lm_head")),
    ("rotary", re.compile(r"cos_cache|sin_cache|rotary|inv_freq")),
    ("embedding", re.compile(r"embed_tokens|embedding|wte|tok_embeddings")),
    ("norm", re.compile(r"norm|layernorm|ln_")),
    ("attention", re.compile(r"attn|attention|q_proj|k_proj|v_proj|o_proj|qkv")),
    ("ffn", re.compile(r"mlp|ffn|gate_proj|up_proj|down_proj|feed_forward")),
)


def tensor_role(name: str) -> str:
    """embedding | lm_head | rotary | norm | attention | ffn | other, from the tensor's name."""
    low = name.lower()
    for role, pattern in _ROLES:
        if pattern.search(low):
            return role
    return "other"


def tensor_part(name: str) -> str:
    """What a tensor is to its layer: ``weight``, ``scales``, ``biases``/``zero_points``, ``bias``."""
    low = name.lower()
    for suffix in ("scales", "biases", "zero_points", "zp", "bias"):
        if low.endswith(("." + suffix, "_" + suffix)):
            return suffix
    return "weight"


def summarize_layout(layout: Iterable[TensorLayout]) -> dict[str, Any]:
    """Bytes and counts per role × part × dtype, and the total: the table the report shows."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    total = 0
    for t in layout:
        key = (tensor_role(t.name), tensor_part(t.name), t.dtype)
        g = groups.setdefault(key, [0, 0])
        g[0] += 1
        g[1] += t.nbytes
        total += t.nbytes
    rows = [{"role": r, "part": p, "dtype": d, "count": c, "bytes": b} for (r, p, d), (c, b) in sorted(groups.items())]
    return {"total_tensor_bytes": total, "groups": rows}


def folder_files(folder: Path) -> dict[str, int]:
    """Every file of a converted model folder and its size in bytes (relative names)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- measuring


@dataclass
class MeasureSettings:
    """What one measurement does: a warm-up, then ``repeats`` × (fresh cache, a prompt of
    ``prompt_tokens`` processed at once, ``output_tokens`` generated one by one)."""

    prompt_tokens: int = 128
    output_tokens: int = 32
    repeats: int = 3
    threads: int | None = None  # None: the runtime's default
    max_length: int = 0  # runtimes that allocate the KV cache up front (ORT GenAI): 0 = prompt + output + 8
    timeout_s: float = 900.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Shared by every child: reset the RSS high-water mark, read it back, the token ids, the stats.
CHILD_PRELUDE = r"""
import json, os, resource, statistics, sys, time
args = json.loads(sys.argv[1])
try:  # a forked child inherits its parent's RSS high-water mark: start from our own
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
def peak_rss():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
def current_rss():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
def token_ids(n, vocab, salt):
    lo = min(1000, vocab // 4)
    return [lo + (i * salt) % (vocab - lo) for i in range(n)]
def spread(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "samples": samples}
def emit(out):
    out["peak_rss_bytes"] = peak_rss()
    sys.stdout.write("@@ADVISOR_RESULT@@" + json.dumps(out) + "\n"); sys.stdout.flush()
    os._exit(0)
"""


def run_child(source: str, args: dict[str, Any], *, what: str, timeout_s: float,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``CHILD_PRELUDE + source`` with ``args`` in a subprocess and return what it emitted.

    Raises ``RunError`` naming a crash, a kill (likely out of memory), a timeout or the child's
    last error line.
    """
    argv = [sys.executable, "-c", CHILD_PRELUDE + source, json.dumps(args)]
    child_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout_s, env=child_env, check=False)
    except subprocess.TimeoutExpired:
        raise RunError(f"{what} timed out after {timeout_s:.0f} s") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = [ln for ln in proc.stderr.splitlines() if ln.strip()][-3:]
    raise RunError(f"{what} {describe_returncode(proc.returncode)}" + (": " + " | ".join(tail)[-400:] if tail else ""))


def run_tool(argv: list[str], *, what: str, timeout_s: float, cwd: Path | None = None) -> str:
    """Run a converter command line; its stderr tail becomes the RunError when it fails."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout_s, env=env, cwd=cwd,
                              check=False)
    except subprocess.TimeoutExpired:
        raise RunError(f"{what} timed out after {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()][-4:]
        raise RunError(f"{what} failed ({describe_returncode(proc.returncode)}): " + " | ".join(tail)[-600:])
    return proc.stdout + proc.stderr

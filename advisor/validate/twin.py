"""Synthetic twins: GGUF files with a model's exact architecture and random weights.

No weights are ever downloaded. ``write_f16_gguf`` writes every tensor of
``advisor.engine.tensors.tensor_inventory`` (matrices F16, 1-D tensors F32) plus the metadata
llama.cpp needs to load that architecture and a fake SentencePiece-style vocabulary;
``quantize`` runs llama.cpp's own quantizer (``llama_model_quantize``) on it, so the result has
exactly the tensor types llama.cpp would give the real model. ``build_twin`` caches both on disk.

gguf-py takes numpy shapes, which are the ggml ``ne`` order reversed: a ggml tensor
``(ne0=cols, ne1=rows)`` is the numpy array ``(rows, cols)``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.hardware import pid_alive
from advisor.engine.quant_mix import source_type
from advisor.engine.tensors import Tensor, tensor_inventory
from advisor.errors import RunError, missing_extra
from advisor.records import ModelSpec
from advisor.validate.runner import DIE_WITH_PARENT, child_env

Progress = Callable[[int, int], None]

# Bump when the written file changes (metadata, tokenizer, values) so cached twins are rebuilt.
TWIN_FORMAT_VERSION = 2

# llama.cpp refuses these without an importance matrix (tools/quantize/quantize.cpp and the
# "Missing importance matrix for tensor ... in a very low-bit quantization" check of
# src/llama-quant.cpp, which IQ2_M's IQ2_S tensors hit too).
# IQ3_XXS and IQ3_XS are not in the list: their IQ2_S / IQ3_XXS tensors also need one in the
# llama.cpp of llama-cpp-python 0.3.36, but a model whose rows all fall back (hidden size not a
# multiple of 256) still quantizes; llama.cpp's own error is reported when it refuses.
IMATRIX_REQUIRED = frozenset({"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "Q2_K_S"})

# enum llama_ftype (include/llama.h); checked against llama_cpp.LLAMA_FTYPE_* in the tests.
LLAMA_FTYPE = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
    "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
    "Q5_K_M": 17, "Q6_K": 18, "IQ2_XXS": 19, "IQ2_XS": 20, "Q2_K_S": 21, "IQ3_XS": 22,
    "IQ3_XXS": 23, "IQ1_S": 24, "IQ4_NL": 25, "IQ3_S": 26, "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29,
    "IQ4_XS": 30, "IQ1_M": 31, "BF16": 32, "TQ1_0": 36, "TQ2_0": 37, "MXFP4_MOE": 38,
}

_ARCH_FIELDS = (
    "gguf_arch", "max_position_embeddings", "n_layers", "hidden_size", "ffn_size", "n_heads",
    "n_kv_heads", "head_dim", "vocab_size", "tied_embeddings", "attn_bias", "qk_norm", "norm",
    "ffn_gated", "post_norms", "sliding_window", "swa_global_every", "n_heads_per_layer",
    "n_kv_heads_per_layer", "ffn_size_per_layer",
)
# added with MoE/hybrid support: in the key only when set, so the keys of dense twins do not change
_ARCH_FIELDS_OPTIONAL = (
    "n_experts", "n_experts_used", "expert_ffn_size", "shared_expert_ffn_size", "n_dense_layers",
    "shortconv_l_cache", "rope_dims", "ssm_d_state", "ssm_d_conv", "ssm_n_group", "ssm_n_heads", "kv_lora_rank", "v_head_dim",
    "per_layer_input_dims", "altup_inputs", "laurel_rank", "n_kv_layers",
)

_CHUNK = 1 << 22  # elements written at a time; the random pool holds twice as many


def _import_gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise missing_extra("gguf", "validate") from None
    return gguf


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise missing_extra("llama-cpp-python", "validate") from None
    return llama_cpp


def architecture_key(model: ModelSpec) -> str:
    """Hash of the fields that decide the file (not the id or the name): twins are shared."""
    fields = {name: getattr(model, name) for name in _ARCH_FIELDS}
    fields.update({name: getattr(model, name) for name in _ARCH_FIELDS_OPTIONAL if getattr(model, name)})
    fields["_format"] = TWIN_FORMAT_VERSION
    blob = json.dumps(fields, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------- metadata


def _add_metadata(w: Any, m: ModelSpec, gguf: Any) -> None:
    arch = m.gguf_arch
    w.add_name(f"synthetic twin of {m.name}")
    w.add_file_type(LLAMA_FTYPE["F16"])
    w.add_context_length(m.max_position_embeddings)
    w.add_embedding_length(m.hidden_size)
    w.add_block_count(m.n_layers)
    # olmoe and granitemoe size their experts from feed_forward_length (llama.cpp loaders)
    experts_in_ffn = arch in ("olmoe", "granitemoe", "granitehybrid", "phimoe") and m.n_experts > 0
    if m.n_heads_per_layer or m.n_kv_heads_per_layer or m.ffn_size_per_layer:
        w.add_head_count([m.heads(i) for i in range(m.n_layers)])
        w.add_head_count_kv([m.kv_heads(i) for i in range(m.n_layers)])  # 0 marks a recurrent layer
        w.add_feed_forward_length([m.expert_ffn_size if experts_in_ffn else m.ffn(i) for i in range(m.n_layers)])
    else:
        w.add_head_count(m.n_heads)
        w.add_head_count_kv(m.n_kv_heads)
        w.add_feed_forward_length(m.expert_ffn_size if experts_in_ffn else m.ffn_size)
    if m.n_experts:
        w.add_expert_count(m.n_experts)
        w.add_expert_used_count(m.n_experts_used)
        if not experts_in_ffn:
            w.add_expert_feed_forward_length(m.expert_ffn_size)
        if m.shared_expert_ffn_size:
            w.add_expert_shared_feed_forward_length(m.shared_expert_ffn_size)
        if m.n_dense_layers or arch == "deepseek2":
            w.add_leading_dense_block_count(m.n_dense_layers)
        if arch == "lfm2moe":
            w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
            w.add_expert_weights_norm(True)
    if m.shortconv_l_cache:
        w.add_shortconv_l_cache(m.shortconv_l_cache)
    if m.n_kv_layers:
        w.add_shared_kv_layers(m.n_layers - m.n_kv_layers)
    if m.ssm_d_state:
        w.add_ssm_conv_kernel(m.ssm_d_conv)
        w.add_ssm_state_size(m.ssm_d_state)
        w.add_ssm_group_count(m.ssm_n_group)
        w.add_ssm_inner_size(m.ssm_d_inner)
        w.add_ssm_time_step_rank(m.ssm_n_heads)
    if arch == "granitehybrid":
        w.add_rope_scaling_finetuned(False)  # Granite 4.0 H: no RoPE
    if m.kv_lora_rank:  # MLA as convert_hf_to_gguf writes it: one kv head of the latent
        w.add_key_length(m.kv_lora_rank + m.rope_dims)
        w.add_value_length(m.kv_lora_rank)
        w.add_key_length_mla(m.head_dim)
        w.add_value_length_mla(m.v_head_dim)
        w.add_kv_lora_rank(m.kv_lora_rank)
        w.add_q_lora_rank(0)
        w.add_expert_shared_count(m.shared_expert_ffn_size // m.expert_ffn_size)
        w.add_expert_weights_scale(1.0)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SOFTMAX)
    else:
        w.add_key_length(m.head_dim)
        w.add_value_length(m.head_dim)
    if m.norm == "layer":
        w.add_layer_norm_eps(1e-5)
    if m.norm != "layer" or arch == "phimoe":  # phimoe reads the RMS key although its norms are LayerNorms
        w.add_layer_norm_rms_eps(1e-6 if m.norm != "layer" else 1e-5)
    w.add_rope_freq_base(1_000_000.0 if arch in ("gemma3", "gemma3n", "qwen2", "qwen3", "qwen3moe", "lfm2", "lfm2moe")
                         else 150_000.0 if arch == "gpt-oss" else 10_000.0)
    if m.rope_dims:
        w.add_rope_dimension_count(m.rope_dims)  # partial rotary (Phi-2, Phi-4-mini, StableLM 2, GPT-NeoX)
    elif arch in ("phi3", "openelm", "granite", "llama", "granitemoe", "smollm3", "gpt-oss", "phimoe", "minicpm"):
        w.add_rope_dimension_count(m.head_dim)
    if arch == "gptneox":
        w.add_parallel_residual(True)
    if arch == "gemma2":
        w.add_attn_logit_softcapping(50.0)
        w.add_final_logit_softcapping(30.0)
    if arch == "gpt-oss":
        w.add_sliding_window(m.sliding_window)  # llama.cpp: every other layer (pattern 2) slides
    if arch in ("gemma2", "gemma3", "gemma3n") and m.sliding_window:
        w.add_sliding_window(m.sliding_window)
    if arch == "phi3" and m.sliding_window:
        w.add_sliding_window(m.sliding_window)
    if arch in ("granite", "granitemoe", "granitehybrid"):
        # granite-3.x config.json multipliers (values do not change any buffer size)
        w.add_attention_scale(0.015625)
        w.add_embedding_scale(12.0)
        w.add_residual_scale(0.22)
        w.add_logit_scale(8.0)
    if arch == "minicpm":
        # muP scales as conversion/minicpm.py writes them (scale_emb; scale_depth / sqrt(layers);
        # hidden / dim_model_base, MiniCPM4's 256): values, not sizes
        w.add_embedding_scale(12.0)
        w.add_residual_scale(1.4 / m.n_layers ** 0.5)
        w.add_logit_scale(m.hidden_size / 256)
    if arch == "bitnet":
        # as conversion/bitnet.py writes it (linear RoPE scaling of factor 1: none); llama.cpp's
        # bitnet loader reads only the RMS epsilon beyond llama's keys
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(1.0)
    _add_tokenizer(w, m, gguf)


def _add_tokenizer(w: Any, m: ModelSpec, gguf: Any) -> None:
    """A SentencePiece ("llama") vocabulary of exactly vocab_size fake tokens."""
    tt = gguf.TokenType
    n = m.vocab_size
    tokens: list[str] = ["<unk>", "<s>", "</s>"]
    types: list[int] = [int(tt.UNKNOWN), int(tt.CONTROL), int(tt.CONTROL)]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(int(tt.BYTE))
    start = len(tokens)
    tokens.extend(f"tok{i}" for i in range(start, n))
    types.extend([int(tt.NORMAL)] * (n - start))
    tokens, types = tokens[:n], types[:n]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([-float(i) for i in range(len(tokens))])
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)


# --------------------------------------------------------------------------- writing


def _is_norm(t: Tensor) -> bool:
    return "norm" in t.name and t.name.endswith(".weight")


def _write_values(fout: Any, t: Tensor, dtype: Any, pool: Any, rng: Any, np: Any) -> None:
    n = t.n_elements
    if _is_norm(t):
        fout.write(np.ones(n, dtype=dtype).tobytes())
        return
    # Windows of a fixed random pool at random offsets: the values only need to look like
    # weights to the quantizer, and this runs at disk speed (a 1B twin in a few seconds).
    values = pool[dtype]
    done = 0
    while done < n:
        k = min(_CHUNK, n - done)
        start = int(rng.integers(0, _CHUNK))
        fout.write(values[start:start + k].tobytes())
        done += k


def write_f16_gguf(model: ModelSpec, path: Path, *, seed: int = 0, progress: Progress | None = None) -> Path:
    """Write the F16 synthetic twin of ``model`` to ``path``, streaming one tensor at a time.

    Matrices are F16 with normal(0, 0.02) values (windows of a random pool), 1-D tensors F32
    (norms 1.0). ``progress`` is
    called with (tensors written, total tensors).
    """
    gguf = _import_gguf()
    import numpy as np

    path = Path(path)
    inventory = tensor_inventory(model)
    w = gguf.GGUFWriter(path, model.gguf_arch)
    _add_metadata(w, model, gguf)
    specs = []
    for t in inventory:
        # as convert_hf_to_gguf writes an F16 file: routers, conv kernels, norms and biases F32
        dtype = np.float16 if source_type(t) == "F16" else np.float32
        np_shape = tuple(reversed(t.shape))  # numpy order = ggml ne reversed
        nbytes = t.n_elements * np.dtype(dtype).itemsize
        w.add_tensor_info(t.name, np_shape, np.dtype(dtype), nbytes)
        specs.append((t, dtype, nbytes))
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(2 * _CHUNK, dtype=np.float32) * np.float32(0.02)
    pool = {np.float32: base, np.float16: base.astype(np.float16)}
    total = len(specs)
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        fout = w.fout[0]
        for i, (t, dtype, nbytes) in enumerate(specs):
            # same framing as GGUFWriter.write_tensor_data: align the start, pad the end
            w.write_padding(fout, fout.tell())
            start = fout.tell()
            _write_values(fout, t, dtype, pool, rng, np)
            if fout.tell() - start != nbytes:
                raise RunError(f"twin writer: {t.name} wrote {fout.tell() - start} bytes, expected {nbytes}")
            w.write_padding(fout, nbytes)
            if progress is not None:
                progress(i + 1, total)
    finally:
        w.close()
    return path


# --------------------------------------------------------------------------- quantizing


def quantize(
    src: Path,
    dst: Path,
    file_type: str,
    *,
    threads: int | None = None,
    uniform_imatrix: bool = False,
    timeout: float = 1800,
) -> Path:
    """Quantize ``src`` to ``file_type`` with llama.cpp's own quantizer (``llama_model_quantize``).

    ``threads`` None or 0 lets llama.cpp use every core. File types that need an importance
    matrix are refused unless ``uniform_imatrix`` is set: then an all-ones importance matrix is
    passed, which gives the tensor-type mix of a file made *with* an imatrix
    (``quant_mix.tensor_types(..., has_imatrix=True)``); the values are meaningless anyway.
    """
    key = file_type.strip().upper().replace("-", "_")
    if key in IMATRIX_REQUIRED and not uniform_imatrix:
        raise RunError(
            f"cannot build a {key} twin: llama.cpp refuses to quantize {key} without an importance "
            "matrix, and an importance matrix computed on random weights would be meaningless; "
            "predict its size from quant_mix instead (or pass uniform_imatrix=True for the "
            "tensor-type mix of an imatrix file)"
        )
    if key not in LLAMA_FTYPE:
        raise RunError(f"unknown llama.cpp file type '{file_type}'; known: {', '.join(LLAMA_FTYPE)}")
    _import_llama_cpp()  # fail early with the install hint
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise RunError(f"quantize: source GGUF {src} does not exist")
    # In a child process: llama.cpp logs every tensor to stderr and aborts the process on
    # some failures; the child keeps both away from the caller.
    args = json.dumps([str(src), str(dst), LLAMA_FTYPE[key], threads or 0, uniform_imatrix])
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DIE_WITH_PARENT + _QUANTIZE_CHILD, args],
            capture_output=True, text=True, errors="replace", timeout=timeout, check=False, env=child_env(),
        )
    except subprocess.TimeoutExpired:
        raise RunError(f"quantizing {src.name} to {key} timed out after {timeout:.0f} s") from None
    if proc.returncode != 0 or not dst.is_file():
        tail = "\n".join(line for line in proc.stderr.splitlines()[-8:] if line.strip())
        how = _describe_returncode(proc.returncode)
        raise RunError(f"llama_model_quantize({src.name} -> {key}) failed ({how}):\n{tail}")
    return dst


_QUANTIZE_CHILD = """
import ctypes, json, sys
import llama_cpp
src, dst, ftype, nthread, uniform_imatrix = json.loads(sys.argv[1])
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = ftype
params.nthread = nthread
if uniform_imatrix:
    # all-ones importance for every matrix: what the mix rules see is only that one exists
    import gguf
    keep = []
    # one importance per column; 3-D expert tensors carry one slice per expert (ne0 × ne2)
    rows = [(t.name, int(t.shape[0]) * (int(t.shape[2]) if len(t.shape) >= 3 else 1))
            for t in gguf.GGUFReader(src).tensors if len(t.shape) >= 2]
    entries = (llama_cpp.llama_model_imatrix_data * (len(rows) + 1))()
    for i, (name, n) in enumerate(rows):
        data = (ctypes.c_float * n)(*([1.0] * n))
        keep.append((name.encode(), data))
        entries[i].name = keep[-1][0]
        entries[i].data = ctypes.cast(data, ctypes.POINTER(ctypes.c_float))
        entries[i].size = n
    entries[len(rows)].name = None
    params.imatrix = ctypes.cast(entries, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
sys.exit(1 if llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params) != 0 else 0)
"""


def _describe_returncode(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def clean_stale_temporaries(final: Path, *, older_than_s: float = 3600.0) -> list[Path]:
    """Remove the half-written temporaries of ``final`` left by builds that were killed (a twin
    can be gigabytes). A temporary is named ``<final>.<pid>.<random>.tmp``: stale when that
    process is gone; an older name without a pid is stale after ``older_than_s``."""
    removed = []
    for tmp in final.parent.glob(f"{glob.escape(final.name)}.*.tmp"):
        parts = tmp.name[len(final.name) + 1:].split(".")
        pid = int(parts[0]) if len(parts) >= 3 and parts[0].isdigit() else None
        try:
            stale = (not pid_alive(pid)) if pid is not None else time.time() - tmp.stat().st_mtime > older_than_s
            if stale and pid != os.getpid():
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed


def _atomic_build(final: Path, build: Callable[[Path], Any]) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        build(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def twin_path(model: ModelSpec, file_type: str, cache_dir: Path, *, uniform_imatrix: bool = False) -> Path:
    suffix = "-imatrix" if uniform_imatrix else ""
    return Path(cache_dir) / f"twin-{model.gguf_arch}-{architecture_key(model)}-{file_type.upper()}{suffix}.gguf"


def build_twin(
    model: ModelSpec,
    file_type: str,
    cache_dir: Path,
    *,
    progress: Progress | None = None,
    threads: int | None = None,
    uniform_imatrix: bool = False,
) -> Path:
    """Path of the ``file_type`` twin of ``model`` in ``cache_dir``, built if missing.

    Keyed by the architecture (two catalog ids with the same dims share a file); the F16 base is
    kept and reused for every quantized type. Files appear atomically (temp file + rename).
    ``uniform_imatrix``: see :func:`quantize` (needed for IQ1/IQ2 types, Q2_K_S, and in current
    llama.cpp also IQ3_XXS/IQ3_XS, whose IQ2_S/IQ3_XXS tensors need one).
    """
    key = file_type.strip().upper().replace("-", "_")
    if key in IMATRIX_REQUIRED and not uniform_imatrix:
        quantize(Path("/nonexistent"), Path("/nonexistent"), key)  # raises the explanation
    cache_dir = Path(cache_dir)
    final = twin_path(model, key, cache_dir, uniform_imatrix=uniform_imatrix and key != "F16")
    if final.is_file():
        return final
    base = twin_path(model, "F16", cache_dir)
    if not base.is_file():
        _atomic_build(base, lambda tmp: write_f16_gguf(model, tmp, progress=progress))
    if key == "F16":
        return base
    return _atomic_build(
        final, lambda tmp: quantize(base, tmp, key, threads=threads, uniform_imatrix=uniform_imatrix)
    )

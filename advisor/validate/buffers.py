"""Ask llama.cpp itself how much memory it allocates for a GGUF file: load it (with
llama-cpp-python, verbose) in a child process, capture stderr and parse the reported buffers.

The child uses the low-level API (``llama_model_load_from_file`` / ``llama_init_from_model``)
so every knob that changes the buffers is explicit, including ``use_extra_bufts`` (the
weight-repack buffers such as CPU_REPACK / AMX) and llama.cpp's own flash-attention default
("auto"; the high-level ``Llama(...)`` of llama-cpp-python forces it off unless asked).
A child process keeps llama.cpp's log and any crash away from the caller.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from advisor.errors import RunError, missing_extra
from advisor.validate.llama_log import LlamaBuffers, parse_llama_log
from advisor.validate.runner import DIE_WITH_PARENT, child_env

# enum ggml_type values of the KV-cache types llama.cpp accepts
CACHE_TYPES = {"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "iq4_nl": 20}

_CHILD = r"""
import json, sys
cfg = json.loads(sys.argv[1])
import llama_cpp
import llama_cpp._logger as _logger
_logger.set_verbose(True)
llama_cpp.llama_backend_init()
sys.stderr.write("advisor: llama-cpp-python " + llama_cpp.__version__ + "\n")
mp = llama_cpp.llama_model_default_params()
mp.n_gpu_layers = 0
mp.use_extra_bufts = cfg["use_extra_bufts"]
model = llama_cpp.llama_model_load_from_file(cfg["path"].encode(), mp)
if not model:
    sys.stderr.write("advisor: model failed to load\n"); sys.exit(3)
cp = llama_cpp.llama_context_default_params()
cp.n_ctx = cfg["n_ctx"]; cp.n_batch = cfg["n_batch"]; cp.n_ubatch = cfg["n_ubatch"]
cp.n_threads = cfg["threads"]; cp.n_threads_batch = cfg["threads"]
cp.type_k = cfg["type_k"]; cp.type_v = cfg["type_v"]
if cfg["flash_attn"] is not None:
    cp.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if cfg["flash_attn"] else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
if cfg["swa_full"] is not None:
    cp.swa_full = cfg["swa_full"]
ctx = llama_cpp.llama_init_from_model(model, cp)
if not ctx:
    sys.stderr.write("advisor: context creation failed\n"); sys.exit(4)
sys.stderr.write("system_info: " + llama_cpp.llama_print_system_info().decode() + "\n")
n_eval = min(cfg["eval_tokens"], cfg["n_batch"])
if n_eval:
    batch = llama_cpp.llama_batch_init(n_eval, 0, 1)
    for i in range(n_eval):
        batch.token[i] = 3 + (i * 7919) % 200
        batch.pos[i] = i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = i == n_eval - 1
    batch.n_tokens = n_eval
    rc = llama_cpp.llama_decode(ctx, batch)
    sys.stderr.write("advisor: decode rc = %d\n" % rc)
    llama_cpp.llama_batch_free(batch)
    if rc != 0:
        sys.exit(5)
sys.stderr.write("advisor: n_ctx = %d\n" % llama_cpp.llama_n_ctx(ctx))
sys.stderr.flush()
llama_cpp.llama_free(ctx)
llama_cpp.llama_model_free(model)
"""


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def measure_buffers(
    gguf_path: Path,
    *,
    n_ctx: int,
    n_ubatch: int = 512,
    n_batch: int = 512,
    type_k: str = "f16",
    type_v: str | None = None,
    flash_attn: bool | None = None,
    swa_full: bool | None = None,
    use_extra_bufts: bool = True,
    eval_tokens: int = 0,
    threads: int = 2,
    timeout: float = 120,
) -> LlamaBuffers:
    """Load ``gguf_path`` with llama.cpp in a child process and return the buffers it reports.

    ``type_v`` defaults to ``type_k``; ``flash_attn`` / ``swa_full`` None keep llama.cpp's
    defaults (flash attention "auto", full-size SWA cache); ``eval_tokens`` > 0 also decodes
    one batch of that many tokens (which exercises the repacked weights).
    """
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise missing_extra("llama-cpp-python", "validate") from None
    path = Path(gguf_path)
    if not path.is_file():
        raise RunError(f"{path}: no such GGUF file")
    type_v = type_v or type_k
    for name in (type_k, type_v):
        if name not in CACHE_TYPES:
            raise RunError(f"unknown KV cache type '{name}'; use one of {', '.join(CACHE_TYPES)}")
    cfg = {
        "path": str(path), "n_ctx": n_ctx, "n_batch": n_batch, "n_ubatch": n_ubatch,
        "type_k": CACHE_TYPES[type_k], "type_v": CACHE_TYPES[type_v], "flash_attn": flash_attn,
        "swa_full": swa_full, "use_extra_bufts": use_extra_bufts, "eval_tokens": eval_tokens,
        "threads": threads,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-c", DIE_WITH_PARENT + _CHILD, json.dumps(cfg)],
            capture_output=True, text=True, errors="replace", timeout=timeout, check=False, env=child_env(),
        )
    except subprocess.TimeoutExpired:
        raise RunError(f"loading {path.name} with llama.cpp timed out after {timeout:.0f} s") from None
    log = proc.stderr
    if proc.returncode < 0:
        raise RunError(
            f"llama.cpp crashed with {_signal_name(proc.returncode)} while loading {path.name} "
            f"(n_ctx={n_ctx}, use_extra_bufts={use_extra_bufts}, eval_tokens={eval_tokens}); "
            "a crash in the weight-repack path is avoided with use_extra_bufts=False"
        )
    if proc.returncode != 0:
        tail = "\n".join(line for line in log.splitlines()[-6:] if line.strip())
        raise RunError(f"llama.cpp could not load {path.name} (exit code {proc.returncode}):\n{tail}")
    return parse_llama_log(log)

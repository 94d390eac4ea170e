"""MLX (``mlx`` + ``mlx-lm``): twins converted by ``mlx_lm convert``, measured on MLX's CPU device.

On Linux ``pip install 'mlx[cpu]'`` gives MLX's CPU build; on a Mac the same code runs on Metal.
The converted folder holds ``config.json`` (with the ``quantization`` block: bits, group size,
mode) and ``model.safetensors``; each quantized Linear/Embedding ``X`` becomes ``X.weight``
(uint32, packed), ``X.scales`` and ``X.biases`` (the affine zero, in the non-quantized dtype).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    atomic_dir,
    hf_twin,
    read_safetensors_header,
    run_child,
    run_tool,
    runtime_missing,
    safetensors_layout,
)

NAME = "mlx"
EXTRA = "mlx"

#: format name → (bits, group size) for ``mlx_lm convert -q``; None: not quantized (bf16 copy).
#: 64 is mlx_lm's default group size (``convert --q-group-size``).
FORMATS: dict[str, tuple[int, int] | None] = {
    "bf16": None,
    "8bit": (8, 64),
    "6bit": (6, 64),
    "4bit": (4, 64),
    "3bit": (3, 64),
}


def require() -> dict[str, str]:
    """Versions of mlx and mlx-lm, or the error naming the install command."""
    try:
        import mlx.core as mx
        import mlx_lm
    except ImportError:
        raise runtime_missing("mlx / mlx-lm", EXTRA, "MLX") from None
    return {"mlx": mx.__version__, "mlx_lm": getattr(mlx_lm, "__version__", "?")}


def check_format(fmt: str) -> tuple[int, int] | None:
    from advisor.errors import BadInputError

    if fmt not in FORMATS:
        raise BadInputError(f"unknown MLX format '{fmt}'; valid: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def build(model: ModelSpec, fmt: str, cache_dir: Path, *, timeout_s: float = 1800) -> Path:
    """The ``fmt`` MLX twin of ``model`` (cached): the HF twin converted by ``mlx_lm convert``."""
    q = check_format(fmt)
    require()
    src = hf_twin(model, cache_dir)
    final = Path(cache_dir) / f"mlx-{src.name.removeprefix('hf-')}-{fmt}"

    def convert(tmp: Path) -> None:
        shutil.rmtree(tmp)  # mlx_lm convert refuses an existing folder
        argv = [sys.executable, "-m", "mlx_lm", "convert", "--hf-path", str(src), "--mlx-path", str(tmp)]
        if q is not None:
            argv += ["-q", "--q-bits", str(q[0]), "--q-group-size", str(q[1])]
        run_tool(argv, what=f"mlx_lm convert ({fmt})", timeout_s=timeout_s)

    return atomic_dir(final, convert)


def tensor_layout(folder: Path) -> list[TensorLayout]:
    """Every tensor MLX saved (all ``*.safetensors`` shards), as written: name, shape, dtype, bytes."""
    folder = Path(folder)
    out: list[TensorLayout] = []
    for shard in sorted(folder.glob("*.safetensors")):
        out += safetensors_layout(read_safetensors_header(shard), shard.name)
    return out


def safetensors_header_bytes(path: Path) -> int:
    """8 + the JSON header's length: a safetensors file is these bytes plus its tensors' data."""
    with open(path, "rb") as fh:
        return 8 + int.from_bytes(fh.read(8), "little")


def quantization_config(folder: Path) -> dict[str, Any]:
    """The ``quantization`` block mlx_lm wrote into config.json (empty when not quantized)."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    return cfg.get("quantization") or {}


CHILD = r"""
import mlx.core as mx
import mlx_lm
from mlx_lm import load
from mlx_lm.models.cache import make_prompt_cache
rss_after_imports = current_rss()
t0 = time.perf_counter()
model, tokenizer = load(args["folder"])
mx.eval(model.parameters())
load_s = time.perf_counter() - t0
active_after_load = mx.get_active_memory()
rss_after_load = current_rss()
vocab = model.args.vocab_size
prompt = mx.array([token_ids(args["prompt_tokens"], vocab, 7919)])
gen = token_ids(args["output_tokens"], vocab, 104729)
def run_once(n_prompt, n_gen):
    cache = make_prompt_cache(model)
    t = time.perf_counter()
    logits = model(prompt[:, :n_prompt], cache=cache)
    mx.eval(logits)
    dt_prefill = time.perf_counter() - t
    t = time.perf_counter()
    for tok in gen[:n_gen]:
        logits = model(mx.array([[tok]]), cache=cache)
        mx.eval(logits)
    dt_decode = time.perf_counter() - t
    return dt_prefill, dt_decode, cache
run_once(min(8, args["prompt_tokens"]), 1)  # warm-up (short: quantized matmuls are slow on the CPU)
mx.reset_peak_memory()
prefill, decode = [], []
for _ in range(args["repeats"]):
    dp, dd, cache = run_once(args["prompt_tokens"], args["output_tokens"])
    prefill.append(args["prompt_tokens"] / dp)
    decode.append(args["output_tokens"] / dd)
kv = sum(c.nbytes for c in cache)
emit({"load_s": load_s, "prefill_tokens_per_s": spread(prefill), "decode_tokens_per_s": spread(decode),
      "kv_cache_bytes": kv, "kv_cache_tokens": args["prompt_tokens"] + args["output_tokens"],
      "kv_cache_dtype": str(cache[0].keys.dtype), "kv_cache_allocated_tokens": int(cache[0].keys.shape[2]),
      "rss_after_imports_bytes": rss_after_imports, "rss_after_load_bytes": rss_after_load,
      "runtime_active_memory_after_load_bytes": active_after_load, "runtime_peak_memory_bytes": mx.get_peak_memory(),
      "device": str(mx.default_device()), "versions": {"mlx": mx.__version__, "mlx_lm": mlx_lm.__version__}})
"""


def measure(folder: Path, settings: MeasureSettings | None = None) -> dict[str, Any]:
    """Load time, prefill/decode tokens/s (median, min, max, samples), peak RSS, RSS after the
    imports and after loading, MLX's own memory counters and the KV cache it allocated, from a
    child process. MLX's CPU backend has no thread setting (``settings.threads`` is ignored)."""
    settings = settings or MeasureSettings()
    require()
    args = {"folder": str(folder), **settings.to_json()}
    return run_child(CHILD, args, what="MLX run", timeout_s=settings.timeout_s)

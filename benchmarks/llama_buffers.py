"""Ground truth for the memory engine: the buffers llama.cpp itself allocates.

For synthetic twins (exact architecture, random weights; advisor.validate.twin) of a few real
models in F16 / Q8_0 / Q4_K_M, load each with llama-cpp-python at several context sizes and
record what llama.cpp reports: model buffers, KV cache (K and V, SWA part), compute buffer, and
the n_ctx it actually allocated. Writes benchmarks/results/llama_buffers.csv.

    python benchmarks/llama_buffers.py [--cache DIR] [--models id,id]

Rows with type_k = q8_0 quantize V too (type_v = type_k). flash_attn shows what llama.cpp
resolved ("on"/"off") and, in brackets, the setting it printed (llama.cpp's default is "auto").
model_buffer_bytes sums every model buffer: on CPUs with repack buffer types (CPU_REPACK on ARM /
AVX2, AMX here) the repacked tensors exist twice (mapped file + copy); extra_model_buffer_bytes is
the copy, and the use_extra_bufts=False rows show the mapped file alone.

Twins are cached in $ADVISOR_TWIN_CACHE (default /tmp/advisor-twins); a full run needs about
15 GB of disk there and 10-20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llama_cpp

from advisor.catalog import load_catalog
from advisor.validate.buffers import measure_buffers
from advisor.validate.twin import build_twin

MODELS = [
    "smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "qwen3-0.6b", "gemma-3-1b-it",
    "tinyllama-1.1b-chat-v1.0", "llama-3.2-1b-instruct",
]
FILE_TYPES = ["F16", "Q8_0", "Q4_K_M"]
CONTEXTS = [512, 2048, 8192]
COLUMNS = [
    "model_id", "file_type", "n_ctx_requested", "n_ctx_allocated", "n_ubatch", "type_k", "flash_attn",
    "file_bytes", "model_buffer_bytes", "kv_buffer_bytes", "k_bytes", "v_bytes", "compute_buffer_bytes",
    "swa_kv_bytes", "llama_cpp_python_version",
    # extra detail
    "swa_full", "swa_cells", "use_extra_bufts", "extra_model_buffer_bytes", "model_buffers", "output_buffer_bytes",
]


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def row(model_id, file_type, path, n_ctx, *, type_k="f16", swa_full=None, use_extra_bufts=True):
    b = measure_buffers(path, n_ctx=n_ctx, n_ubatch=512, n_batch=512, type_k=type_k,
                        swa_full=swa_full, use_extra_bufts=use_extra_bufts, timeout=300)
    swa = [c for c in b.kv_caches if c.kind == "swa"]
    return {
        "model_id": model_id, "file_type": file_type, "n_ctx_requested": n_ctx,
        "n_ctx_allocated": b.n_ctx, "n_ubatch": b.n_ubatch, "type_k": type_k,
        "flash_attn": {True: "on", False: "off", None: "?"}[b.flash_attn] + f" ({b.flash_attn_setting})",
        "file_bytes": path.stat().st_size, "model_buffer_bytes": b.model_buffer_bytes,
        "kv_buffer_bytes": b.kv_buffer_bytes, "k_bytes": b.k_bytes, "v_bytes": b.v_bytes,
        "compute_buffer_bytes": b.compute_buffer_bytes, "swa_kv_bytes": b.swa_kv_bytes,
        "llama_cpp_python_version": llama_cpp.__version__,
        "swa_full": "" if b.swa_full is None else b.swa_full,
        "swa_cells": swa[0].cells if swa else "",
        "use_extra_bufts": use_extra_bufts,
        "extra_model_buffer_bytes": b.extra_model_buffer_bytes,
        "model_buffers": ";".join(f"{k}={v}" for k, v in b.model_buffers.items()),
        "output_buffer_bytes": sum(b.output_buffers.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("ADVISOR_TWIN_CACHE", "/tmp/advisor-twins")))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "llama_buffers.csv")
    args = ap.parse_args()

    catalog = load_catalog()
    rows = []
    t0 = time.time()
    for model_id in args.models.split(","):
        model = catalog.model(model_id)
        for ft in FILE_TYPES:
            path = build_twin(model, ft, args.cache, progress=None)
            for n_ctx in CONTEXTS:
                rows.append(row(model_id, ft, path, n_ctx))
                log(f"{time.time() - t0:6.0f}s {model_id} {ft} n_ctx={n_ctx}: "
                    f"model {rows[-1]['model_buffer_bytes']/2**20:.1f} MiB, kv {rows[-1]['kv_buffer_bytes']/2**20:.1f} MiB, "
                    f"compute {rows[-1]['compute_buffer_bytes']/2**20:.1f} MiB")
            if ft == "Q4_K_M":
                rows.append(row(model_id, ft, path, 2048, type_k="q8_0"))  # quantized cache, once
                rows.append(row(model_id, ft, path, 2048, use_extra_bufts=False))  # no repack copies
                rows.append(row(model_id, ft, path, 3000))  # padding of an odd n_ctx
                if model.sliding_window:
                    for n_ctx in CONTEXTS:  # the small SWA cache instead of llama.cpp's full-size default
                        rows.append(row(model_id, ft, path, n_ctx, swa_full=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    log(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What llama.cpp allocates on the CUDA path against the engine's memory prediction: the buffers
llama-completion reported on a lent NVIDIA H200 (benchmarks/cuda_memory_device.sh, log in
results/cuda_h200_buffers.log) for synthetic twins of five models, F16 and Q4_K_M, 4,096 and
16,384 tokens of context, flash attention on and off. None of these runs is in a fit.

    python benchmarks/cuda_memory.py [--write]     # prints the table; --write: results/cuda_h200_buffers.md

Measured, per run: the CUDA0 model, KV and compute buffers, the host (CPU_Mapped) model buffer,
and llama.cpp's own memory breakdown of the GPU (self = model + context + compute, and what it
cannot account for: the CUDA context and libraries). Predicted: ``evaluate`` on the H200's
reference profile (benchmarks/reference_devices/ref-h200-141gb.toml) with the same context and
flash-attention setting.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LOG = HERE / "results" / "cuda_h200_buffers.log"
#: what the catalog's NVIDIA desktop profiles keep out of vram_usable (vram − vram_usable: 0.5 GiB each)
PROFILE_VRAM_RESERVE = 512 * (1 << 20)
MIB = 1 << 20
_PREFIX = re.compile(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ", re.MULTILINE)  # llama-completion's "0.00.558.327 I " timestamps
_NAME = re.compile(r"^(?P<model>.+)-(?P<file>F16|Q4_K_M)_c(?P<ctx>\d+)_fa(?P<fa>on|off)$")
# | - CUDA0 (H200) | 143155 = 141171 + (1288 = 942 + 48 + 298) + 695 |
_BREAKDOWN = re.compile(r"- CUDA0 \([^)]*\)\s*\|\s*(\d+)\s*=\s*(\d+)\s*\+\s*\(\s*(\d+)\s*=\s*(\d+)\s*\+\s*(\d+)\s*\+\s*(\d+)\s*\)\s*\+\s*(\d+)")


def runs(text: str) -> list[dict]:
    from advisor.validate.llama_log import parse_llama_log

    out = []
    for section in text.split("=== ")[1:]:
        name, body = section.split("\n", 1)
        m = _NAME.match(name.strip())
        if m is None or "run failed" in body:
            continue
        body = _PREFIX.sub("", body)
        b = parse_llama_log(body)
        bd = _BREAKDOWN.search(body)
        out.append({
            **m.groupdict(), "ctx": int(m["ctx"]), "buffers": b,
            "breakdown": None if bd is None else dict(zip(("total", "free", "self", "model", "context", "compute", "unaccounted"),
                                                            (int(x) * MIB for x in bd.groups()))),
        })
    return out


def pct(pred: float, meas: float) -> str:
    return f"{(pred - meas) / meas * 100:+.1f}%" if meas else "–"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from advisor.catalog import load_catalog, load_device_file
    from advisor.engine.evaluate import evaluate
    from advisor.records import Workload

    catalog = load_catalog()
    device = load_device_file(HERE / "reference_devices" / "ref-h200-141gb.toml")
    lines = [
        "| twin | file | context | flash attn | CUDA0 model MiB (host copy) | engine weights MiB | KV MiB measured / engine | "
        "CUDA0 compute MiB measured / engine | GPU memory outside the buffers MiB / engine overhead + 512 reserve | VRAM MiB measured / engine + 512 reserve |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    errs: dict[str, list[float]] = {"weights": [], "kv": [], "compute": [], "vram": []}
    for r in runs(LOG.read_text()):
        b, bd = r["buffers"], r["breakdown"]
        model = catalog.model(r["model"])
        e = evaluate(model, catalog.file_type(r["file"]), device,
                     Workload(context_tokens=r["ctx"], prompt_tokens=16, output_tokens=4, flash_attn=r["fa"]), catalog,
                     with_speed=False)
        m = e.memory
        gpu_model = b.model_buffers.get("CUDA0", 0)
        host_model = b.model_buffers.get("CPU_Mapped", 0) + b.model_buffers.get("CPU", 0)
        kv = sum(c.size_bytes for c in b.kv_caches)
        compute = b.compute_buffers.get("CUDA0", 0)
        vram = (bd["self"] + bd["unaccounted"]) if bd else None
        errs["weights"].append(abs(m.weights_bytes - gpu_model) / gpu_model)
        errs["kv"].append(abs(m.kv_cache_bytes - kv) / kv)
        errs["compute"].append(abs(m.compute_buffer_bytes - compute) / compute)
        vram_pred = m.gpu_bytes + PROFILE_VRAM_RESERVE
        if vram:
            errs["vram"].append(abs(vram_pred - vram) / vram)
        lines.append(
            f"| {r['model']} | {r['file']} | {r['ctx']:,} | {r['fa']} | {gpu_model / MIB:.1f} ({host_model / MIB:.1f}) | "
            f"{m.weights_bytes / MIB:.1f} {pct(m.weights_bytes, gpu_model)} | {kv / MIB:.1f} / {m.kv_cache_bytes / MIB:.1f} "
            f"{pct(m.kv_cache_bytes, kv)} | {compute / MIB:.1f} / {m.compute_buffer_bytes / MIB:.1f} {pct(m.compute_buffer_bytes, compute)} | "
            f"{(bd['unaccounted'] / MIB if bd else float('nan')):.0f} / {(m.overhead_bytes + PROFILE_VRAM_RESERVE) / MIB:.0f} | "
            f"{(vram / MIB if vram else float('nan')):.0f} / {vram_pred / MIB:.0f} {pct(vram_pred, vram) if vram else ''} |")
    summary = [f"- {k}: median |error| {statistics.median(v) * 100:.1f} % over {len(v)} runs, largest {max(v) * 100:.1f} %"
               for k, v in errs.items() if v]
    print("\n".join(lines))
    print("\n".join(summary))
    if args.write:
        page = "\n".join([
            "# llama.cpp's CUDA buffers on an NVIDIA H200 (lent machine) against the engine's memory prediction",
            "",
            "Runs: `benchmarks/cuda_memory_device.sh` there (llama-completion of the llama.cpp llama-cpp-python 0.3.36 "
            "vendors, built with CUDA; `-ngl 99 -fit off -n 4`), log `cuda_h200_buffers.log`; table: "
            "`python benchmarks/cuda_memory.py --write`. Engine: `evaluate` on `ref-h200-141gb.toml`. "
            "'host copy' is the CPU_Mapped model buffer: the token embeddings llama.cpp keeps in host memory for the "
            "input lookup (for a tied-embedding model in addition to the GPU's copy, used as the output). "
            "'unaccounted' is llama.cpp's own memory breakdown: GPU memory in use beyond its buffers (CUDA context, "
            "cuBLAS), measured as total − free − self. None of these runs is in a fit.",
            "",
            *lines,
            "",
            *summary,
            "",
        ])
        (HERE / "results" / "cuda_h200_buffers.md").write_text(page)
        print(f"wrote {HERE / 'results' / 'cuda_h200_buffers.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

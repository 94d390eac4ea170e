"""The engine's CPU_REPACK prediction against the buffer llama.cpp reports, on this machine.

llama.cpp copies some matrices at load into its CPU kernels' interleaved layout (the CPU_REPACK
buffer, speed.is_repacked); the memory-mapped file's pages of those matrices stay mapped beside the
copy. For each twin (exact architecture, random weights; advisor.validate.twin) this loads the file
with llama-cpp-python, repacking allowed, reads the buffers llama.cpp logs, and sets them against
``speed.repacked_bytes`` for this CPU's family and the per-tensor weights (the mapped buffer).
The cases span dense models whose rows are and are not multiples of the K-quants' 256 weights,
a tied and an untied output, a MoE (3-D expert stacks, MUL_MAT_ID) and a hybrid Mamba model.

    ADVISOR_TWIN_CACHE=/tmp/advisor-twins python benchmarks/repack_buffers.py [--cases model:TYPE,...]

Twins missing from the cache are built (minutes each on 2 cores). Writes
benchmarks/results/repack_buffers.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.memory import per_tensor_bytes  # noqa: E402
from advisor.engine.speed import REPACK_FAMILIES, is_repacked, repack_family, repacked_bytes  # noqa: E402
from advisor.hardware import probe_machine  # noqa: E402
from advisor.local import build_profile  # noqa: E402
from advisor.records import DeviceProfile  # noqa: E402
from advisor.units import MIB  # noqa: E402
from advisor.validate.buffers import measure_buffers  # noqa: E402
from advisor.validate.twin import build_twin  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "repack_buffers.md"
CASES = (
    ("smollm2-135m-instruct", "Q4_0"),            # 576-wide rows: Q4_K_M falls back to legacy types
    ("qwen2.5-0.5b-instruct", "Q4_K_M"),          # 896-wide: mostly Q5_0 fallbacks, not repacked on x86
    ("llama-3.2-1b-instruct", "Q4_0"),
    ("llama-3.2-1b-instruct", "Q4_K_M"),
    ("tinyllama-1.1b-chat-v1.0", "Q4_0"),         # an untied output (Q6_K)
    ("granite-3.1-1b-a400m-instruct", "Q4_0"),    # MoE: 32 experts, 3-D stacks
    ("granite-3.1-1b-a400m-instruct", "Q4_K_M"),
    ("granite-4.0-h-micro", "Q4_K_M"),            # hybrid: Mamba2 layers beside attention
    ("llama-3.2-1b-instruct", "Q2_K"),            # repacked on AVX-512 only
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", help="model:TYPE,... (default: the list in this file)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cases = [tuple(c.split(":", 1)) for c in args.cases.split(",")] if args.cases else CASES
    cache = Path(os.environ.get("ADVISOR_TWIN_CACHE", "/tmp/advisor-twins"))
    catalog = load_catalog()
    info = probe_machine()
    # only the CPU's architecture and ISA matter here: a profile of the probe, nothing measured
    family = repack_family(DeviceProfile.model_validate(build_profile(
        info, bandwidth_gbs=1.0, bandwidth_1t_gbs=1.0, gflops=1.0, working_set=1, threads=1)))
    if family is None:
        print("this CPU has no llama.cpp repack family (speed.REPACKED_TYPES): nothing to check", file=sys.stderr)
        return 1
    at = REPACK_FAMILIES.index(family)
    lines = [
        "# llama.cpp's CPU_REPACK buffer: predicted vs reported",
        "",
        f"Command: `python benchmarks/repack_buffers.py` ({time.strftime('%Y-%m-%d')}; {platform.machine()}, "
        f"{info.cpu_brand}; repack family `{family}`). Synthetic twins loaded by llama-cpp-python with repacking allowed "
        "(use_extra_bufts), 512-token context; the buffers are llama.cpp's own log lines. 'predicted' is "
        "`speed.repacked_bytes` for this family: the matrices llama.cpp repacks (speed.is_repacked), at their file size.",
        "",
        "| model | quant | repacked tensors | CPU_REPACK reported | predicted | error | mapped buffer reported | per-tensor weights | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model_id, ftype_id in cases:
        model, ftype = catalog.model(model_id), catalog.file_types[ftype_id]
        path = build_twin(model, ftype_id, cache)
        b = measure_buffers(path, n_ctx=512, n_ubatch=512, n_batch=512, use_extra_bufts=True, timeout=600)
        rows = per_tensor_bytes(model, ftype, catalog.ggml_types)
        predicted = repacked_bytes(rows)[0][at]
        n = sum(1 for t, ty, _ in rows if is_repacked(t, ty, family))
        reported = b.extra_model_buffer_bytes
        mapped = b.model_buffers.get("CPU_Mapped", 0)
        weights = sum(x for _, _, x in rows)

        def err(pred: float, meas: float) -> str:
            return f"{(pred - meas) / meas * 100:+.2f}%" if meas else ("0 (none)" if not pred else "—")

        lines.append(f"| {model_id} | {ftype_id} | {n} | {reported / MIB:.2f} MiB | {predicted / MIB:.2f} MiB | {err(predicted, reported)} | "
                     f"{mapped / MIB:.2f} MiB | {weights / MIB:.2f} MiB | {err(weights, mapped)} |")
        print(lines[-1], file=sys.stderr)
    lines += [
        "",
        "llama.cpp logs buffer sizes in MiB with two decimals, so ±0.01 MiB is the reading's resolution. The mapped buffer "
        "spans the file's tensor data from the first tensor it holds to the last, so it can be a little smaller than the "
        "per-tensor sum (a repacked tensor at either end is left out of the range).",
        "",
        "What it means for memory: with the file memory-mapped (llama.cpp's default) a repacked model's resident set holds "
        "both the copy and the file's pages of the same matrices, which were read at load and are not touched again: "
        "clean pages the OS reclaims under pressure. The engine's total counts the weights once (what must be free); "
        "`advisor predict` shows the copy on its own line, and `advisor validate` sets peak RSS against the total plus "
        "the copy.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

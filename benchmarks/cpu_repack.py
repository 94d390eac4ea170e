"""llama.cpp's CPU weight repacking, measured on this machine: prefill and decode of synthetic
twins with repacking allowed (llama.cpp's default: ``use_extra_bufts``, the CPU_REPACK buffer
type) and forbidden (``--no-repack`` in llama.cpp's tools), same file, same threads.

    ADVISOR_TWIN_CACHE=/tmp/repack-twins python benchmarks/cpu_repack.py     # ~6 min on 2 cores
    python benchmarks/cpu_repack.py --from-json                              # re-render the table

Which types a build repacks depends on the CPU (ggml-cpu/repack.cpp,
ggml_repack_get_optimal_repack_type): on x86 with AVX2 Q4_0, Q4_K, IQ4_NL and MXFP4, with AVX-512
also Q2_K; on Arm with dotprod Q4_0, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4 and Q8_0. A type the CPU does
not repack is a control: its two runs must agree (no buffer type changes). The ratio of a type's
two runs is measured within one process setting on one machine, so no device's absolute speed
enters it; `advisor.engine.speed.REPACK_PREFILL_SPEEDUP` takes its AVX-512 values from here.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from measured import measure_or_reload  # noqa: E402

MODELS = ("qwen2.5-0.5b-instruct", "llama-3.2-1b-instruct")
QUANTS = ("Q4_0", "Q4_K_M", "Q8_0", "Q2_K")
SETTINGS = {"n_ctx": 1024, "prompt_tokens": 256, "output_tokens": 32, "repeats": 3, "threads": 2}
ROUNDS = 2  # each (model, quant, repack) is run this many times, interleaved; the median is kept


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            return sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "amx", "fma")))
    return []


def measure() -> dict:
    from advisor.catalog import load_catalog
    from advisor.validate.llama_log import parse_llama_log
    from advisor.validate.predicted_vs_measured import twin_cache_dir
    from advisor.validate.runner import RunSettings, run_child
    from advisor.validate.twin import build_twin

    catalog = load_catalog()
    cache = twin_cache_dir()
    runs = []
    for round_ in range(ROUNDS):
        for model_id in MODELS:
            model = catalog.model(model_id)
            for quant in QUANTS:
                path = build_twin(model, quant, cache, threads=SETTINGS["threads"])
                for repack in (True, False):
                    s = RunSettings(gguf=path, n_ctx=SETTINGS["n_ctx"], prompt_tokens=SETTINGS["prompt_tokens"],
                                    output_tokens=SETTINGS["output_tokens"], threads=SETTINGS["threads"],
                                    repeats=SETTINGS["repeats"], use_extra_bufts=repack)
                    out = run_child(s)
                    buffers = sorted(parse_llama_log(out.log).model_buffers)
                    row = {"round": round_, "model": model_id, "quant": quant, "repack": repack, "status": out.status,
                           "error": out.error, "buffers": buffers,
                           **{k: out.measured.get(k) for k in ("prefill_tokens_per_s", "decode_tokens_per_s",
                                                                 "prefill_samples", "decode_samples")}}
                    print(json.dumps(row), flush=True)
                    runs.append(row)
    return {"date": date.today().isoformat(), "machine": platform.machine(), "cpu_flags": cpu_flags(),
            "settings": SETTINGS, "runs": runs}


def render(data: dict) -> str:
    by = {}
    for r in data["runs"]:
        if r["status"] == "ok":
            by.setdefault((r["model"], r["quant"], r["repack"]), []).append(r)
    lines = [
        "# CPU weight repacking, measured on this machine",
        "",
        f"Command: `python benchmarks/cpu_repack.py` ({data['date']}; {data['machine']}, flags "
        f"{', '.join(data['cpu_flags']) or 'unknown'}). Synthetic twins, llama-cpp-python, "
        f"{data['settings']['threads']} threads, {data['settings']['prompt_tokens']}-token prompt, "
        f"{data['settings']['output_tokens']} generated tokens, {data['settings']['repeats']} repeats per run and "
        f"{ROUNDS} runs per cell, interleaved; medians of the runs' medians. 'repacked' = llama.cpp's default "
        "(CPU_REPACK buffer allowed), 'plain' = use_extra_bufts off.",
        "",
        "| model | quant | buffers when allowed | prefill repacked | prefill plain | ratio | engine's ratio (AVX-512) "
        "| decode repacked | decode plain | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    from advisor.catalog import load_catalog
    from advisor.engine import memory as mem
    from advisor.engine import speed as spd

    catalog = load_catalog()

    def engine_ratio(model_id: str, quant: str) -> float:
        rows = mem.per_tensor_bytes(catalog.model(model_id), catalog.file_type(quant), catalog.ggml_types)
        return spd.repack_prefill_speedups(rows)[spd.REPACK_FAMILIES.index("avx512")]

    for model in MODELS:
        for quant in QUANTS:
            on, off = by.get((model, quant, True), []), by.get((model, quant, False), [])
            if not on or not off:
                lines.append(f"| {model} | {quant} | – | failed | | | | | | |")
                continue
            p_on = statistics.median(r["prefill_tokens_per_s"] for r in on)
            p_off = statistics.median(r["prefill_tokens_per_s"] for r in off)
            d_on = statistics.median(r["decode_tokens_per_s"] for r in on)
            d_off = statistics.median(r["decode_tokens_per_s"] for r in off)
            bufs = sorted({b for r in on for b in r["buffers"]})
            lines.append(f"| {model} | {quant} | {', '.join(bufs)} | {p_on:.1f} | {p_off:.1f} | ×{p_on / p_off:.2f} "
                         f"| ×{engine_ratio(model, quant):.2f} | {d_on:.1f} | {d_off:.1f} | ×{d_on / d_off:.2f} |")
    lines += ["", "The Qwen2.5-0.5B twin's K-quant files are mostly fallbacks: its 896-wide rows are not a multiple of "
              "the K-quants' 256-weight blocks, so llama.cpp's quantizer writes its Q4_K_M as 132 Q5_0, 12 Q8_0, 12 Q6_K "
              "and 12 Q4_K matrices and its Q2_K as 120 Q4_0, 24 Q5_0 and 24 Q3_K (the Q2_K row's ×1.89 is Q4_0's "
              "repacking). The Llama-3.2-1B twin's are K-quants (Q4_K_M: 96 Q4_K, 16 Q6_K; Q2_K: 64 Q2_K, 32 Q3_K, "
              "16 Q4_K). The engine (`speed.repack_prefill_speedups`) weighs each matrix's type by its size, so it "
              "takes these mixes as they are: its ratios are those of speed.REPACK_PREFILL_SPEEDUP, whose AVX-512 values "
              "come from this table (Q4_0 from both models, Q4_K and Q2_K from Llama-3.2-1B's files), so the Qwen2.5-0.5B "
              "K-quant rows are the check it was not set on. Decode is measured but not modelled: repacking speeds "
              "it ×1.1–1.25 here at 2 threads, less than the prefill's change."]
    failed = [r for r in data["runs"] if r["status"] != "ok"]
    if failed:
        lines += ["", "Failed runs:", ""] + [f"- {r['model']} {r['quant']} repack={r['repack']}: {r['status']} {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main() -> int:
    return measure_or_reload("cpu_repack", measure, render, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())

"""Decode cost per weight type on this machine's CPU: Llama-3.2-1B twins in five GGUF types
decoded with 1 and 2 threads, same model, same process settings. Where a type's decode reads its
weights well below what the threads can stream, it is bound by the dot products, and the ratio of
two such types' speeds (same parameters) is their per-weight cost ratio — the x86 counterpart of
`advisor.engine.speed.ARM_DOT_COST_BY_TYPE`.

    python benchmarks/cpu_dot_cost.py              # ~6 min on 2 cores
    python benchmarks/cpu_dot_cost.py --from-json  # re-render the table
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

from cpu_repack import cpu_flags  # noqa: E402
from measured import measure_or_reload  # noqa: E402

MODEL = "llama-3.2-1b-instruct"
QUANTS = ("Q4_0", "Q8_0", "Q4_K_M", "Q6_K", "Q2_K")
THREADS = (1, 2)
SETTINGS = {"n_ctx": 512, "prompt_tokens": 16, "output_tokens": 64, "repeats": 3}
ROUNDS = 2


def measure() -> dict:
    from advisor.catalog import load_catalog
    from advisor.validate.predicted_vs_measured import twin_cache_dir
    from advisor.validate.runner import RunSettings, run_child
    from advisor.validate.twin import build_twin

    catalog = load_catalog()
    cache = twin_cache_dir()
    model = catalog.model(MODEL)
    paths = {q: build_twin(model, q, cache, threads=2) for q in QUANTS}
    runs = []
    for round_ in range(ROUNDS):
        for threads in THREADS:
            for quant in QUANTS:
                s = RunSettings(gguf=paths[quant], n_ctx=SETTINGS["n_ctx"], prompt_tokens=SETTINGS["prompt_tokens"],
                                output_tokens=SETTINGS["output_tokens"], threads=threads, repeats=SETTINGS["repeats"])
                out = run_child(s)
                row = {"round": round_, "quant": quant, "threads": threads, "status": out.status, "error": out.error,
                       "file_bytes": paths[quant].stat().st_size,
                       **{k: out.measured.get(k) for k in ("decode_tokens_per_s", "decode_samples", "gguf_tensor_bytes")}}
                print(json.dumps(row), flush=True)
                runs.append(row)
    return {"date": date.today().isoformat(), "machine": platform.machine(), "cpu_flags": cpu_flags(),
            "model": MODEL, "settings": SETTINGS, "runs": runs}


def render(data: dict) -> str:
    by: dict[tuple[str, int], list[float]] = {}
    bytes_of: dict[str, int] = {}
    for r in data["runs"]:
        if r["status"] == "ok" and r["decode_tokens_per_s"]:
            by.setdefault((r["quant"], r["threads"]), []).append(r["decode_tokens_per_s"])
            bytes_of[r["quant"]] = r["gguf_tensor_bytes"] or r["file_bytes"]
    lines = [
        "# Decode cost per weight type, measured on this machine's CPU",
        "",
        f"Command: `python benchmarks/cpu_dot_cost.py` ({data['date']}; {data['machine']}, flags "
        f"{', '.join(data['cpu_flags']) or 'unknown'}). Synthetic {data['model']} twins, llama-cpp-python (repacking "
        f"as llama.cpp's default), {data['settings']['prompt_tokens']}-token prompt, {data['settings']['output_tokens']} "
        f"generated tokens, {data['settings']['repeats']} repeats per run, {ROUNDS} runs per cell interleaved; medians. "
        "'streamed' = tensor bytes × tokens/s: what the weights were read at.",
        "",
        "| threads | type | decode tok/s | streamed GB/s | speed vs Q4_0 | bytes vs Q4_0 |",
        "|---|---|---|---|---|---|",
    ]
    for threads in THREADS:
        ref = by.get(("Q4_0", threads))
        for quant in QUANTS:
            vals = by.get((quant, threads))
            if not vals or not ref:
                lines.append(f"| {threads} | {quant} | failed | | | |")
                continue
            tps = statistics.median(vals)
            lines.append(f"| {threads} | {quant} | {tps:.1f} | {tps * bytes_of[quant] / 1e9:.1f} "
                         f"| ×{tps / statistics.median(ref):.2f} | ×{bytes_of[quant] / bytes_of['Q4_0']:.2f} |")
    lines += ["", "Reading (2026-11-30, AMD EPYC VM with AVX-512 VNNI): one thread streams 24–28 GB/s here, more than "
              "`advisor profile`'s one-thread read (18.2 GB/s). Q8_0 and Q6_K read at that rate (bound by memory); Q4_0, "
              "Q4_K_M and Q2_K decode at one speed (×1.00/×1.05/×1.04) though Q2_K reads a quarter fewer bytes, at 19 GB/s: "
              "bound by the dot products, at the same cost per weight. So on this x86 CPU the K-quants cost what Q4_0 "
              "costs — the engine keeps 1 on x86 (speed.ARM_DOT_COST_BY_TYPE is Arm's), as the Surface Book 3's 2024 "
              "Q2_K/Q4_0 pair also says. Q8_0's own cost cannot be read here (bound by memory)."]
    failed = [r for r in data["runs"] if r["status"] != "ok"]
    if failed:
        lines += ["", "Failed runs:", ""] + [f"- {r['quant']} {r['threads']}t: {r['status']} {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def main() -> int:
    return measure_or_reload("cpu_dot_cost", measure, render, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())

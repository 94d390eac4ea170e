"""Prefill of a MoE's routed experts on this machine's CPU, by weight type and with llama.cpp's
repacking allowed and forbidden: twins (exact architecture, random weights) of Granite-3.1-1B-A400M
(32 experts, 8 per token; every matrix 256-aligned, so K-quants stay K-quants) and, as the control
measured in the same session, of the dense Llama-3.2-1B — the same harness as
benchmarks/cpu_repack.py (the product's own runner, llama-cpp-python, 256-token prompt, 2 threads).
The experts multiply through llama.cpp's MUL_MAT_ID (each expert's share of the micro-batch: 64
rows here), the dense matrices through MUL_MAT; the engine's type factors for the experts
(speed.KQUANT_PREFILL_BY_FAMILY_EXPERTS, REPACK_PREFILL_SPEEDUP_EXPERTS) come from this table.

    ADVISOR_TWIN_CACHE=/tmp/twins python benchmarks/cpu_expert_prefill.py   # ~8 min on 2 cores
    python benchmarks/cpu_expert_prefill.py --from-json                      # re-render the table
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

MOE, DENSE = "granite-3.1-1b-a400m-instruct", "llama-3.2-1b-instruct"
#: (model, file type, repacking allowed) cells; Q8_0 is not repacked on x86: one run is its control
CELLS = [(MOE, "Q8_0", True), (MOE, "Q4_K_M", True), (MOE, "Q4_K_M", False), (MOE, "Q4_0", True), (MOE, "Q4_0", False),
         (DENSE, "Q8_0", True), (DENSE, "Q4_K_M", True), (DENSE, "Q4_K_M", False)]
SETTINGS = {"n_ctx": 1024, "prompt_tokens": 256, "output_tokens": 16, "repeats": 3, "threads": 2}
ROUNDS = 2  # every cell this many times, interleaved; the median is kept


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
        for model_id, quant, repack in CELLS:
            path = build_twin(catalog.model(model_id), quant, cache, threads=SETTINGS["threads"])
            s = RunSettings(gguf=path, n_ctx=SETTINGS["n_ctx"], prompt_tokens=SETTINGS["prompt_tokens"],
                            output_tokens=SETTINGS["output_tokens"], threads=SETTINGS["threads"],
                            repeats=SETTINGS["repeats"], use_extra_bufts=repack)
            out = run_child(s)
            row = {"round": round_, "model": model_id, "quant": quant, "repack": repack, "status": out.status,
                   "error": out.error, "buffers": sorted(parse_llama_log(out.log).model_buffers),
                   "prefill_tokens_per_s": out.measured.get("prefill_tokens_per_s")}
            print(json.dumps(row), flush=True)
            runs.append(row)
    return {"date": date.today().isoformat(), "machine": platform.machine(), "cpu_flags": cpu_flags(),
            "settings": SETTINGS, "runs": runs}


def render(data: dict) -> str:
    from advisor.catalog import load_catalog
    from advisor.engine.evaluate import estimate_speed, factors_for
    from advisor.local import local_profile
    from advisor.records import Workload

    by: dict = {}
    for r in data["runs"]:
        if r["status"] == "ok" and r["prefill_tokens_per_s"]:
            by.setdefault((r["model"], r["quant"], r["repack"]), []).append(r["prefill_tokens_per_s"])
    med = {k: statistics.median(v) for k, v in by.items()}
    catalog = load_catalog()
    device = local_profile()
    factors = factors_for(device, catalog)
    w = Workload(SETTINGS["n_ctx"], SETTINGS["prompt_tokens"], 1, threads=SETTINGS["threads"])

    def predicted(model_id: str, quant: str) -> float:
        return estimate_speed(catalog.model(model_id), catalog.file_type(quant), catalog.ggml_types, device, w,
                              factors).prefill_tokens_per_s

    lines = [
        "# A MoE's routed experts prefill on the CPU, by weight type", "",
        f"Command: `python benchmarks/cpu_expert_prefill.py` ({data['date']}; {data['machine']}, flags "
        f"{', '.join(data['cpu_flags']) or 'unknown'}). Twins of {MOE} (MoE: its routed experts hold nearly all of its "
        f"prefill multiply-adds) and {DENSE} (dense control, same session), the product's runner (llama-cpp-python), "
        f"{data['settings']['threads']} threads, {data['settings']['prompt_tokens']}-token prompt, "
        f"{data['settings']['repeats']} repeats per run, {ROUNDS} runs per cell interleaved; medians. 'repacked' = "
        "llama.cpp's default (CPU_REPACK buffer allowed), 'plain' = use_extra_bufts off. Predicted: the engine on this "
        "machine's profile (shipped factors, repacking on).", "",
        "| model | type | prefill repacked | prefill plain | repacked ÷ plain | ÷ Q8_0 (repacked) | predicted | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model_id in (MOE, DENSE):
        q8 = med.get((model_id, "Q8_0", True))
        for quant in ("Q8_0", "Q4_K_M", "Q4_0"):
            on, off = med.get((model_id, quant, True)), med.get((model_id, quant, False))
            if on is None:
                continue
            pred = predicted(model_id, quant)
            lines.append(f"| {model_id} | {quant} | {on:.1f} | {f'{off:.1f}' if off else '-'} | "
                         f"{f'×{on / off:.2f}' if off else '-'} | {f'×{on / q8:.2f}' if q8 else '-'} | {pred:.1f} | "
                         f"{(pred / on - 1) * 100:+.0f} % |")
    residual = {q: (med[(MOE, q, True)] / predicted(MOE, q)) / (med[(DENSE, q, True)] / predicted(DENSE, q))
                for q in ("Q8_0", "Q4_K_M") if (MOE, q, True) in med and (DENSE, q, True) in med}
    lines += ["", "The MoE's measured ÷ predicted over the dense model's, same type (1 = the experts' prefill modelled as "
              "well as the dense matrices'): " + ", ".join(f"{q} ×{v:.2f}" for q, v in residual.items()) + ". In-sample: "
              "empirical.EXPERT_GEMM_EFFICIENCY_CPU (x86, 0.55: these residuals were ×0.53 and ×0.58 at η = 1) and the "
              "AVX-512 values of speed.REPACK_PREFILL_SPEEDUP_EXPERTS (the repacked ÷ plain column of the MoE) were set "
              "from this table. The absolute errors are the local profile's (both models alike)."]
    failed = [r for r in data["runs"] if r["status"] != "ok"]
    if failed:
        lines += ["", "Failed runs:", ""] + [f"- {r['model']} {r['quant']} repack={r['repack']}: {r['status']} {r['error']}"
                                             for r in failed]
    return "\n".join(lines) + "\n"


def main() -> int:
    return measure_or_reload("cpu_expert_prefill", measure, render, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())

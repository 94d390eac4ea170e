"""llama.cpp's CPU decode on x86 where the dot products bind: what share of the int8 dot-product
rate a decode step runs at (the cpu-x86 path's ``decode_compute_efficiency``), fitted per machine
on measured runs and held out machine by machine.

The published fit (benchmarks/fit_defaults.py) never fits a CPU path's compute efficiency: its
rows, mostly 7B models on many threads, cannot separate compute from memory, and on x86 one device
(the Surface Book 3's T-MAC rows) has rows bound by the dot products. So the efficiency was the
prior's guess, 0.125 of the int8 rate (0.5 of FP32, ÷4 for VNNI: benchmarks/priors.toml). This
measures it on this repository's own x86 machines instead — twins, none among the published rows —
as benchmarks/cpu_prefill_x86.py measures the prefill efficiency.

Machines (their profiles' bandwidth and FP32 peak are measured by ``advisor profile``; the engine
reads such a bandwidth at speed.MEASURED_BW_EFFICIENCY, and so does this fit):
  * the validation study's VM (AMD EPYC, Zen 5 host, 2 cores; ref-study-vm-epyc.toml):
    validation_runs.json's decode rows (2 threads, bound by memory) and cpu_dot_cost.json
    (llama-cpp-python, Llama-3.2-1B twins, 1 and 2 threads, five weight types; the same host:
    its flags are the profile's);
  * the lent H200 machine's host (Xeon, 16 cores of a VM; ref-h200-host-cpu.toml):
    cpu_h200host_bench.jsonl and cpu_h200host_threads.jsonl (llama-bench tg, 1–16 threads);
  * a 2-core Xeon VM with AMX (xeon_vm_runs.json, ref-xeon-vm-2c.toml; no repack: it crashes there),
    a 2-core EPYC VM on a Zen 4 host (epyc_zen4_vm_runs.json, ref-epyc-zen4-vm-2c.toml) and one on
    a Zen 3 host, AVX2 only (epyc_zen3_vm_runs.json, ref-epyc-zen3-vm-2c.toml), 12 runs of
    ``advisor validate`` each (benchmarks/machine_runs.sh);
  * the one published x86 device with rows bound by the dot products, the Surface Book 3 (T-MAC's
    llama.cpp baseline rows of measurements.csv, 1 and 4 threads; a datasheet profile, read at the
    path's shipped bandwidth efficiency).
The i5-6500 of measured_bandwidth.py is not here: its one row is bound by memory.

Each machine's efficiency is fitted on its decode rows alone (every other factor shipped, least
squares in log space, no prior). A machine counts only where its rows identify the efficiency
(standard error of its log below IDENTIFIED_LOG_SE: some rows bound by the dot products); 'held
out' predicts a machine with the median of the other identified machines' fits. The prior would take the median of
the machines' fits only if that rule, held out machine by machine, predicted them better than the
prior does; it does not (2026-12-02: 44 % against 24 %, median over the five machines; 2026-12-03,
with the Zen 3 VM: 28 % against 24 % over six), so the prior stays 0.125.

    python benchmarks/cpu_decode_x86.py     # prints and writes results/cpu_decode_x86.md
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.calibrate_from_runs import observations_from_run  # noqa: E402
from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import Observation, fit, predict  # noqa: E402
from advisor.engine.speed import MEASURED_BW_EFFICIENCY  # noqa: E402
from advisor.records import Workload  # noqa: E402
from measured import RESULTS, XEON_VM_RUNS, ZEN3_VM_RUNS, ZEN4_VM_RUNS, machine_fit_report, mdape, percent_errors, study_runs  # noqa: E402
from measured_bandwidth import h200_host, machine_runs  # noqa: E402

PRIORS = HERE / "priors.toml"
#: a machine's fit counts where the standard error of log(efficiency) is below this (×1.65 either way)
IDENTIFIED_LOG_SE = 0.5


def study_vm(catalog) -> list[Observation]:
    """The validation study's decode rows and cpu_dot_cost.json's (medians per type and threads)."""
    runs, device = study_runs()
    out = [o for run in runs for o in observations_from_run(run, catalog) if o.metric == "decode"]
    data = json.loads((RESULTS / "cpu_dot_cost.json").read_text())
    s = data["settings"]
    by: dict[tuple[str, int], list[float]] = {}
    for r in data["runs"]:
        if r["status"] == "ok" and r.get("decode_tokens_per_s"):
            by.setdefault((r["quant"], r["threads"]), []).append(float(r["decode_tokens_per_s"]))
    for (quant, threads), values in sorted(by.items()):
        w = Workload(context_tokens=s["n_ctx"], prompt_tokens=s["prompt_tokens"], output_tokens=s["output_tokens"], threads=threads)
        out.append(Observation(catalog.model(data["model"]), catalog.file_type(quant), device, w, "decode", statistics.median(values),
                               label=f"{data['model']} {quant} {threads}t (cpu_dot_cost.json)"))
    return out


def surface_book(catalog) -> list[Observation]:
    """The one published x86 device whose rows are bound by the dot products: the Surface Book 3's
    T-MAC llama.cpp baseline rows of measurements.csv (a datasheet profile, read at the path's
    shipped bandwidth efficiency)."""
    import published

    return [r.observation for r in published.load_rows(catalog, with_runtime=False)
            if r.observation is not None and r.raw["device"] == "Microsoft Surface Book 3" and r.observation.metric == "decode"]


MACHINES = {
    "validation study VM (AMD EPYC, Zen 5 host, 2 cores)": study_vm,
    "H200 host (Xeon, 16 cores of a VM)": h200_host,
    "Xeon VM with AMX (2 cores)": machine_runs(XEON_VM_RUNS),
    "EPYC VM on a Zen 4 host (2 cores)": machine_runs(ZEN4_VM_RUNS),
    "EPYC VM on a Zen 3 host (2 cores, AVX2 only)": machine_runs(ZEN3_VM_RUNS),
    "Surface Book 3 (i7-1065G7, published rows, datasheet profile)": surface_book,
}


def vendor(o: Observation) -> str:
    """AMD or Intel, from the profile's CPU name."""
    name = o.device.cpu.name
    return "AMD" if "AMD" in name or "Ryzen" in name else "Intel"


def label(o: Observation) -> str:
    source = f" ({o.label.split('(')[-1]}" if "(" in o.label else ""
    return f"{o.model.id} {o.ftype.id} {o.workload.threads}t{source}"


def main() -> int:
    catalog = load_catalog()
    types = catalog.ggml_types
    shipped = catalog.calibration["cpu-x86"]
    data = {name: load(catalog) for name, load in MACHINES.items()}
    # a measured bandwidth is read at MEASURED_BW_EFFICIENCY (engine.evaluate.for_measured_bandwidth)
    bases = {name: shipped.model_copy(update={"bw_efficiency": MEASURED_BW_EFFICIENCY})
             if obs[0].device.memory.bandwidth_basis == "measured" else shipped for name, obs in data.items()}
    fits = {}
    for name, obs in data.items():
        r = fit(obs, bases[name], types, params=("decode_compute_efficiency",), prior_log_sd=10.0, loss="linear")
        fits[name] = (r.factors.decode_compute_efficiency, r.param_se["decode_compute_efficiency"])
    identified = {k: v for k, (v, se) in fits.items() if se < IDENTIFIED_LOG_SE}
    median_fit = statistics.median(identified.values())
    lines = ["| machine | decode rows | efficiency fitted on its rows (of the int8 rate) | SE of its log | "
             f"MdAPE, shipped ({shipped.decode_compute_efficiency:g}) | MdAPE, the others' median fit (held out) | "
             f"MdAPE, its vendor's others' median (held out) | MdAPE, all machines' median ({median_fit:.3f}) |",
             "|---|---|---|---|---|---|---|---|"]
    held, shipped_errors, by_vendor = [], [], []
    for name, obs in data.items():
        value, se = fits[name]
        base = bases[name]
        others = statistics.median(v for k, v in identified.items() if k != name)
        kin = [v for k, v in identified.items() if k != name and vendor(data[k][0]) == vendor(obs[0])]
        e_kin = mdape(obs, base.model_copy(update={"decode_compute_efficiency": statistics.median(kin)}), types) if kin else float("nan")
        e_held = mdape(obs, base.model_copy(update={"decode_compute_efficiency": others}), types)
        e_ship = mdape(obs, base, types)
        e_all = mdape(obs, base.model_copy(update={"decode_compute_efficiency": median_fit}), types)
        if name in identified:
            held.append(e_held)
            shipped_errors.append(e_ship)
            by_vendor.append(e_kin)
        note = "" if name in identified else " (not identified: bound by memory)"
        lines.append(f"| {name} | {len(obs)} | {value:.3f}{note} | {se:.2f} | {e_ship:.0f} % | {e_held:.0f} % (at {others:.3f}) | "
                     f"{e_kin:.0f} % ({vendor(obs[0])}{f', at {statistics.median(kin):.3f}' if kin else ''}) | {e_all:.0f} % |")
    rows = ["| machine | run | measured tok/s | predicted, shipped | error | bound (shipped) |", "|---|---|---|---|---|---|"]
    for name, obs in data.items():
        for o, e in zip(obs, percent_errors(obs, bases[name], types)):
            rows.append(f"| {name.split(' (')[0]} | {label(o)} | {o.value:.1f} | {predict(o, bases[name], types):.1f} | {e:+.0f}% | "
                        f"{bound(o, bases[name], types)} |")
    summary = (f"Median of the identified machines' fits ({len(identified)} of {len(fits)}): {median_fit:.3f}; "
               f"benchmarks/priors.toml's cpu-x86 decode_compute_efficiency: {prior_efficiency():g}; shipped "
               f"(catalog/calibration.toml): {shipped.decode_compute_efficiency:g}. Held-out MdAPE per identified machine "
               f"{', '.join(f'{e:.0f} %' for e in held)} (median {statistics.median(held):.0f} %), with its vendor's others' median "
               f"{', '.join(f'{e:.0f} %' for e in by_vendor)} (median {statistics.median(by_vendor):.0f} %), with the shipped efficiency "
               f"{', '.join(f'{e:.0f} %' for e in shipped_errors)} (median {statistics.median(shipped_errors):.0f} %): "
               + ("the machines' median would predict an unseen machine better than the prior; priors.toml should take it."
                  if statistics.median(held) < statistics.median(shipped_errors) else
                  "the machines' median would predict an unseen machine worse than the prior does, so the prior stays."))
    machine_fit_report("cpu_decode_x86", "llama.cpp CPU decode on x86: the cpu-x86 decode compute efficiency from measured runs",
                       "Command: `python benchmarks/cpu_decode_x86.py` (re-reads the stored runs; see its docstring for where each "
                       "comes from). Efficiency = share of the int8 dot-product rate (the profile's measured FP32 peak of the decode "
                       "threads × speed.INT8_DOT_PER_FP32_FMA, threads scaled as the engine scales them) that a decode step bound by "
                       "the dot products runs at; the bandwidth is the profile's measured figure × speed.MEASURED_BW_EFFICIENCY, as "
                       "the engine reads it. Each machine's efficiency is fitted on its decode rows alone; a fit counts where its "
                       f"rows identify it (SE of its log < {IDENTIFIED_LOG_SE}); 'held out' predicts a machine with the median of the "
                       "other identified machines' fits. The path's prior would take the machines' median only where that rule, "
                       "held out, predicts the machines better than the prior does.",
                       lines, summary, rows)
    assert all(math.isfinite(v) and v > 0 for v, _ in fits.values()) and len(identified) >= 2
    return 0


def bound(o: Observation, factors, types) -> str:
    from advisor.engine.evaluate import estimate_speed

    s = estimate_speed(o.model, o.ftype, types, o.device, o.workload, factors)
    return s.decode_bound


def prior_efficiency() -> float:
    import tomllib

    paths = tomllib.loads(PRIORS.read_text())["paths"]
    return next(p for p in paths if p["path"] == "cpu-x86")["decode_compute_efficiency"]


if __name__ == "__main__":
    raise SystemExit(main())

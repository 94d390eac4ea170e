"""llama.cpp's CPU prefill on x86: what share of the FP32 peak the prompt runs at (the cpu-x86
path's ``prefill_efficiency``), fitted per machine on measured runs and held out machine by machine.

No published llama.cpp prefill row on x86 is usable (the two in measurements.csv ran a 2023 build's
BLAS path: dequantize to F32, then OpenBLAS/Accelerate), so the path's prefill efficiency was a
guess (0.6 of the FP32 peak, benchmarks/priors.toml) that the published fit leaves as it is. The
x86 kernels are integer ones (llamafile's tinyBLAS and ggml's repacked GEMMs multiply 8-bit
activations by the weights' integers), so a prompt can run faster than the FP32 peak.

Machines (all x86; every run is a synthetic twin measured by one of this repository's benchmarks,
none is in another fit of this efficiency):
  * the validation study's VM (AMD EPYC, 2 cores; profile reference_devices/ref-study-vm-epyc.toml):
    benchmarks/results/validation_runs.json (the product's runner, 256-token prompts),
    cpu_repack.json (repacking on and off), cpu_isa.json (llama-bench pp512, the native build,
    repacking on and off; its session 1), all measured on the host whose profile that is (its flags: AVX-VNNI and
    VP2INTERSECT, a Zen 5). Not cpu_expert_prefill.json: the VM had moved to another host by then
    (no AVX-VNNI, no VP2INTERSECT: a Zen 4, whose 512-bit FMAs are double-pumped), where its dense
    control ran 34 % slower than the same twin, file, prompt and threads in cpu_repack.json (101.7
    against 153.2 tok/s, Q8_0); the profile does not describe that host, and that study reads only
    ratios within its session;
  * the lent H200 machine's host (Xeon, 16 cores of a VM; ref-h200-host-cpu.toml):
    cpu_h200host_bench.jsonl and cpu_h200host_threads.jsonl (llama-bench pp512, 1–16 threads);
  * measured after the first prior (1.14, the first two machines' median) was set, so held out on
    it: a 2-core Xeon VM with AMX (xeon_vm_runs.json, ref-xeon-vm-2c.toml), a 2-core EPYC VM on a
    Zen 4 host (epyc_zen4_vm_runs.json, ref-epyc-zen4-vm-2c.toml) and one on a Zen 3 host, AVX2
    only (epyc_zen3_vm_runs.json, ref-epyc-zen3-vm-2c.toml), 12 runs of ``advisor validate`` each
    (benchmarks/machine_runs.sh).

Each machine's efficiency is fitted on its prefill rows alone (every other factor shipped: the
repack, K-quant and ISA factors of speed.py, least squares in log space); 'held out' predicts a
machine with the median of the other machines' fits. The shipped prior is the machines' median:
1.14 of the first two until the three later machines each fitted below it and were each predicted
better by the others' median (2026-12-03: 0.90, the median of the five).

    python benchmarks/cpu_prefill_x86.py     # prints and writes results/cpu_prefill_x86.md
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
from advisor.catalog import load_catalog, load_device_file  # noqa: E402
from advisor.engine.calibrate import Observation, fit, predict  # noqa: E402
from advisor.records import Workload  # noqa: E402
from cuda_device import bench_case, bench_rows  # noqa: E402
from measured import REFS, RESULTS, XEON_VM_RUNS, ZEN3_VM_RUNS, ZEN4_VM_RUNS, machine_fit_report, mdape, percent_errors, study_runs  # noqa: E402

PRIORS = HERE / "priors.toml"


def _median_runs(runs: list[dict], key: tuple[str, ...], value: str) -> dict[tuple, float]:
    by: dict[tuple, list[float]] = {}
    for r in runs:
        if r.get("status", "ok") == "ok" and r.get(value):
            by.setdefault(tuple(r[k] for k in key), []).append(float(r[value]))
    return {k: statistics.median(v) for k, v in by.items()}


def study_vm(catalog) -> list[Observation]:
    runs, device = study_runs()
    out: list[Observation] = [o for run in runs for o in observations_from_run(run, catalog) if o.metric == "prefill"]
    out = [Observation(o.model, o.ftype, o.device, o.workload, o.metric, o.value, label=f"{o.model.id} {o.ftype.id} (validation_runs.json)") for o in out]

    def runner_rows(name: str) -> list[Observation]:
        data = json.loads((RESULTS / name).read_text())
        s = data["settings"]
        rows = []
        for (model_id, quant, repack), tps in sorted(_median_runs(data["runs"], ("model", "quant", "repack"), "prefill_tokens_per_s").items()):
            w = Workload(context_tokens=s["n_ctx"], prompt_tokens=s["prompt_tokens"], output_tokens=1, threads=s["threads"], cpu_repack=bool(repack))
            rows.append(Observation(catalog.model(model_id), catalog.file_type(quant), device, w, "prefill", tps,
                                    label=f"{model_id} {quant} {'repacked' if repack else 'plain'} ({name})"))
        return rows

    out += runner_rows("cpu_repack.json")
    isa = json.loads((RESULTS / "cpu_isa.json").read_text())
    # session 1: the Zen 5 host the study profile describes (session 2 ran on a Zen 4 host)
    native = [r for r in isa["prefill_runs"] if r["build"] == "native" and r["rc"] == 0 and r.get("session", 1) == 1]
    for (quant, repack), tps in sorted(_median_runs(native, ("quant", "repack"), "tok_s").items()):
        w = Workload(context_tokens=4096, prompt_tokens=512, output_tokens=1, threads=2, cpu_repack=bool(repack))
        out.append(Observation(catalog.model(isa["model"]), catalog.file_type(quant), device, w, "prefill", tps,
                               label=f"{isa['model']} {quant} {'repacked' if repack else 'plain'} pp512 (cpu_isa.json)"))
    return out


def h200_host(catalog) -> list[Observation]:
    device = load_device_file(REFS / "ref-h200-host-cpu.toml")
    out = []
    for name in ("cpu_h200host_bench.jsonl", "cpu_h200host_threads.jsonl"):
        for r in bench_rows(name):
            model_id, quant, metric, w = bench_case(r, catalog)
            if metric == "prefill":
                out.append(Observation(catalog.model(model_id), catalog.file_type(quant), device, w, "prefill", float(r["avg_ts"]),
                                       label=f"{model_id} {quant} {r['n_threads']}t ({name})"))
    return out


def machine_runs(files: tuple[str, str]):
    """A loader of the prefill rows of one machine's exported ``advisor validate`` runs (measured.study_runs)."""
    def load(catalog) -> list[Observation]:
        runs, _ = study_runs(*files)
        return [Observation(o.model, o.ftype, o.device, o.workload, o.metric, o.value, label=f"{o.model.id} {o.ftype.id} {o.workload.threads}t ({files[0]})")
                for run in runs for o in observations_from_run(run, catalog) if o.metric == "prefill"]
    return load


MACHINES = {
    "validation study VM (AMD EPYC, 2 cores, AVX-512 VNNI)": study_vm,
    "H200 host (Xeon, 16 cores of a VM, AVX-512 VNNI and AMX)": h200_host,
    "Xeon VM (2 cores, AMX; 2026-12-02, measured after the others were fitted; no repack: it crashes there)": machine_runs(XEON_VM_RUNS),
    "EPYC VM on a Zen 4 host (2 cores, AVX-512 VNNI; 2026-12-02, measured after the others were fitted)": machine_runs(ZEN4_VM_RUNS),
    "EPYC VM on a Zen 3 host (2 cores, AVX2 only; 2026-12-03, measured after the others were fitted)": machine_runs(ZEN3_VM_RUNS),
}


def fitted_efficiency(obs: list[Observation], shipped, types) -> float:
    """One machine's cpu-x86 prefill efficiency, fitted on its prefill rows alone (every other factor shipped)."""
    return fit(obs, shipped, types, params=("prefill_efficiency",), prior_log_sd=10.0, loss="linear").factors.prefill_efficiency


def prior_efficiency() -> float:
    import tomllib

    paths = tomllib.loads(PRIORS.read_text())["paths"]
    return next(p for p in paths if p["path"] == "cpu-x86")["prefill_efficiency"]


def main() -> int:
    catalog = load_catalog()
    types = catalog.ggml_types
    shipped = catalog.calibration["cpu-x86"]
    guess = 0.6  # the path's prefill prior before this benchmark (priors.toml, "initial guess")
    data = {name: load(catalog) for name, load in MACHINES.items()}
    fitted = {}
    for name, obs in data.items():
        fitted[name] = fitted_efficiency(obs, shipped, types)
    median_fit = statistics.median(fitted.values())
    lines = ["| machine | prefill rows | efficiency fitted on its rows (of the FP32 peak) | MdAPE at the old guess 0.6 "
             "| MdAPE, the others' median fit (held out) | MdAPE, shipped |",
             "|---|---|---|---|---|---|"]
    held, shipped_errors = [], []
    for name, obs in data.items():
        others = statistics.median(v for k, v in fitted.items() if k != name)
        e_guess = mdape(obs, shipped.model_copy(update={"prefill_efficiency": guess}), types)
        e_held = mdape(obs, shipped.model_copy(update={"prefill_efficiency": others}), types)
        e_ship = mdape(obs, shipped, types)
        held.append(e_held)
        shipped_errors.append(e_ship)
        lines.append(f"| {name} | {len(obs)} | {fitted[name]:.2f} | {e_guess:.0f} % | {e_held:.0f} % (at {others:.2f}) | {e_ship:.0f} % |")
    rows = ["| machine | run | measured tok/s | predicted, shipped | error |", "|---|---|---|---|---|"]
    for name, obs in data.items():
        for o, e in zip(obs, percent_errors(obs, shipped, types)):
            rows.append(f"| {name.split(' (')[0]} | {o.label} | {o.value:.1f} | {predict(o, shipped, types):.1f} | {e:+.0f}% |")
    summary = (f"Median of the machines' fits: {median_fit:.2f}; benchmarks/priors.toml's cpu-x86 prefill_efficiency: "
               f"{prior_efficiency():g}; shipped (catalog/calibration.toml): {shipped.prefill_efficiency:g}. "
               f"Held-out MdAPE per machine {', '.join(f'{e:.0f} %' for e in held)} (median {statistics.median(held):.0f} %); "
               f"with the shipped efficiency {', '.join(f'{e:.0f} %' for e in shipped_errors)} "
               f"(median {statistics.median(shipped_errors):.0f} %, in-sample where the shipped value is the median of the fits).")
    machine_fit_report("cpu_prefill_x86", "llama.cpp CPU prefill on x86: the cpu-x86 prefill efficiency from measured runs",
                       "Command: `python benchmarks/cpu_prefill_x86.py` (re-reads the stored runs; see its docstring for where each "
                       "comes from). Efficiency = share of the profile's FP32 peak of the prompt's threads (measured by `advisor "
                       "profile`: numpy's FP32 matrix multiply) that a legacy-type (Q8_0) prompt runs at; the other types take the "
                       "shipped repack and K-quant factors of advisor/engine/speed.py on top. Each machine's efficiency is fitted on "
                       "its prefill rows alone; 'held out' predicts it with the median of the other machines' fits. All are VMs; "
                       "four have AVX-512 VNNI, the Zen 3 VM AVX2 only, whose efficiency is net of speed.X86_PREFILL_BY_ISA's "
                       "AVX2 factor (×0.74, from AVX2-only builds on the first VM: results/cpu_isa.md), as the engine predicts it.",
                       lines, summary, rows)
    assert all(math.isfinite(v) and v > 0 for v in fitted.values())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU decode on a device whose memory bandwidth was *measured* (``advisor profile``'s read
benchmark), not read off a datasheet: what share of that figure llama.cpp's decode streams at.

The paths' bandwidth efficiencies (catalog/calibration.toml) are relative to datasheet peaks and
were fitted on published rows of datasheet profiles (cpu-x86: 0.44). A measured figure is already
an achieved rate: applied to it, 0.44 counts the losses twice — on this repository's own machines
the shipped defaults under-predicted decode by 30–60 %. This fits one efficiency relative to the
measured figure per machine, with every other factor shipped, and holds each machine out in turn.

Machines (all x86; every run is a synthetic twin or a published row, none is in another fit):
  * the validation study's VM (AMD EPYC, 2 cores): benchmarks/results/validation_runs.json
    (``advisor runs export`` of benchmarks/validation_study.py's runs), profile
    reference_devices/ref-study-vm-epyc.toml;
  * the lent H200 machine's host (Xeon, 16 cores, VM): benchmarks/results/cpu_h200host_bench.jsonl
    and cpu_h200host_threads.jsonl (llama-bench, 1–16 threads), profile ref-h200-host-cpu.toml;
  * the i5-6500 desktop of measurements.csv, whose owner measured 20.02 GB/s (the row's note): its
    decode row against that figure instead of the DDR3 datasheet peak.
  * a 2-core Xeon VM with AMX (2026-12-02): benchmarks/results/xeon_vm_runs.json (12 runs of
    ``advisor validate``, benchmarks/machine_runs.sh), profile ref-xeon-vm-2c.toml; measured after
    MEASURED_BW_EFFICIENCY was set from the first three, so that figure (0.70) was held out on it;
  * a 2-core EPYC VM on a Zen 4 host (2026-12-02, a later session): epyc_zen4_vm_runs.json (the same
    12 runs), profile ref-epyc-zen4-vm-2c.toml; held out likewise;
  * a 2-core EPYC VM on a Zen 3 host, AVX2 only (2026-12-03): epyc_zen3_vm_runs.json (the same 12
    runs), profile ref-epyc-zen3-vm-2c.toml; held out likewise. The three later machines each fitted
    below 0.70 and were each predicted better by the others' median, so speed.MEASURED_BW_EFFICIENCY
    became the median of the six (0.635): the table's 'shipped' column is since then in-sample on
    each machine, its 'others' median' column held out.

    python benchmarks/measured_bandwidth.py      # prints and writes results/measured_bandwidth.md
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.calibrate_from_runs import observations_from_run  # noqa: E402
from advisor.catalog import load_catalog, load_device_file  # noqa: E402
from advisor.engine.calibrate import Observation, calibrate_path  # noqa: E402
from advisor.engine.speed import MEASURED_BW_EFFICIENCY, execution_path  # noqa: E402
from cuda_device import decode_observations  # noqa: E402
from measured import REFS, RESULTS, XEON_VM_RUNS, ZEN3_VM_RUNS, ZEN4_VM_RUNS, mdape, study_runs  # noqa: E402



def study_vm(catalog) -> list[Observation]:
    return [o for run in study_runs()[0] for o in observations_from_run(run, catalog) if o.metric == "decode"]


def machine_runs(files: tuple[str, str]):
    """A loader of the decode rows of one machine's exported ``advisor validate`` runs (measured.study_runs)."""
    def load(catalog) -> list[Observation]:
        return [o for run in study_runs(*files)[0] for o in observations_from_run(run, catalog) if o.metric == "decode"]
    return load


def h200_host(catalog) -> list[Observation]:
    device = load_device_file(REFS / "ref-h200-host-cpu.toml")
    return [o for name in ("cpu_h200host_bench.jsonl", "cpu_h200host_threads.jsonl") for o in decode_observations(name, device, catalog)]


def i5_6500(catalog) -> list[Observation]:
    import published

    row = next(r for r in published.load_rows(catalog, with_runtime=False)
               if r.observation is not None and r.raw["device"].startswith("Desktop PC (i5-6500")
               and r.observation.metric == "decode")
    assert "20.02 GB/s is the user's own measured value" in row.raw["notes"]
    dev = row.observation.device
    measured = dev.model_copy(update={"memory": dev.memory.model_copy(update={"bandwidth_gbs": 20.02, "bandwidth_basis": "measured"})})
    o = row.observation
    return [Observation(o.model, o.ftype, measured, o.workload, o.metric, o.value, label=o.label)]


#: label → loader; the table adds each machine's measured figure, read from its rows' profile
MACHINES = {
    "validation study VM (AMD EPYC, 2 cores)": study_vm,
    "H200 host (Xeon, 16 cores of a VM)": h200_host,
    "i5-6500 desktop (the owner's figure; May 2023 build)": i5_6500,
    "Xeon VM with AMX (2 cores; 2026-12-02, measured after the others were fitted)": machine_runs(XEON_VM_RUNS),
    "EPYC VM on a Zen 4 host (2 cores; 2026-12-02, measured after the others were fitted)": machine_runs(ZEN4_VM_RUNS),
    "EPYC VM on a Zen 3 host (2 cores, AVX2 only; 2026-12-03, measured after the others were fitted)": machine_runs(ZEN3_VM_RUNS),
}


def main() -> int:
    catalog = load_catalog()
    types = catalog.ggml_types
    data = {}
    for name, load in MACHINES.items():
        obs = load(catalog)
        measured = {o.device.memory.bandwidth_gbs for o in obs}
        assert len(measured) == 1 and obs[0].device.memory.bandwidth_basis == "measured", name
        data[f"{name}: {measured.pop():g} GB/s measured"] = obs
    # the path's shipped factors as they stand (datasheet-relative efficiency), not the engine's for a measured device
    shipped = {name: catalog.calibration[execution_path(obs[0].device)] for name, obs in data.items()}
    fitted = {}
    for name, obs in data.items():
        f, _, _ = calibrate_path(obs, shipped[name], types, basis="this machine", decode_params=("bw_efficiency",), loss="linear")
        fitted[name] = f.bw_efficiency
    lines = ["| machine | decode rows | bandwidth efficiency fitted on its rows (vs the measured figure) "
             "| MdAPE, the path's datasheet efficiency | MdAPE, the others' median (held out) | MdAPE, shipped MEASURED_BW_EFFICIENCY |",
             "|---|---|---|---|---|---|"]
    held = []
    for name, obs in data.items():
        others = statistics.median(v for k, v in fitted.items() if k != name)
        e_sheet = mdape(obs, shipped[name], types)
        e_held = mdape(obs, shipped[name].model_copy(update={"bw_efficiency": others}), types)
        e_ship = mdape(obs, shipped[name].model_copy(update={"bw_efficiency": MEASURED_BW_EFFICIENCY}), types)
        held.append(e_held)
        lines.append(f"| {name} | {len(obs)} | {fitted[name]:.2f} | {e_sheet:.0f} % | {e_held:.0f} % (at {others:.2f}) | {e_ship:.0f} % |")
    median_fit = statistics.median(fitted.values())
    summary = (f"Median of the machines' fits: {median_fit:.2f} (speed.MEASURED_BW_EFFICIENCY = {MEASURED_BW_EFFICIENCY}); "
               f"held-out MdAPE per machine {', '.join(f'{e:.0f} %' for e in held)}.")
    text = "\n".join([
        "# CPU decode against a measured memory bandwidth",
        "",
        "Command: `python benchmarks/measured_bandwidth.py`. A profile written by `advisor profile` gives the bandwidth its "
        "read benchmark achieved (`bandwidth_basis = \"measured\"`); the engine then uses speed.MEASURED_BW_EFFICIENCY "
        "instead of the path's datasheet-relative efficiency (engine.evaluate.factors_for). Each machine's efficiency is "
        "fitted on its decode rows alone (every other factor shipped, least squares in log space); 'held out' predicts a "
        "machine with the median of the other machines' fits.",
        "",
        *lines,
        "",
        summary,
        "",
    ])
    print(text)
    (RESULTS / "measured_bandwidth.md").write_text(text)
    assert all(math.isfinite(v) for v in fitted.values())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The command line of a benchmark that measures on this machine: measure (slow) and store the raw
runs in ``results/NAME.json``, or ``--from-json`` re-render ``results/NAME.md`` from the stored runs.
Both files are written atomically."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: the profiles of the machines benchmarks/results were measured on
REFS = RESULTS.parent / "reference_devices"


def measure_or_reload(name: str, measure: Callable[[], dict[str, Any]], render: Callable[[dict[str, Any]], str],
                      description: str = "") -> int:
    """Run the benchmark ``name``: results/NAME.json from ``measure()`` (or as stored, with
    ``--from-json``), then results/NAME.md from ``render``; prints the rendering."""
    from advisor.output import write_atomic

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--from-json", action="store_true", help=f"re-render results/{name}.md from results/{name}.json without measuring")
    args = parser.parse_args()
    raw = RESULTS / f"{name}.json"
    RESULTS.mkdir(exist_ok=True)
    if args.from_json:
        data = json.loads(raw.read_text())
    else:
        data = measure()
        write_atomic(raw, (json.dumps(data, indent=1) + "\n").encode(), force=True)
    text = render(data)
    write_atomic(RESULTS / f"{name}.md", text.encode(), force=True)
    print(text)
    return 0


def twin_study() -> tuple[Any, Any, Path]:
    """(catalog, this machine's profile, twin cache) for a benchmark that runs twins here: the
    study's $ADVISOR_HOME and twin cache under benchmarks/.cache unless set; the machine is
    profiled first when that home has no profile of it."""
    import os

    here = Path(__file__).resolve().parent
    os.environ.setdefault("ADVISOR_HOME", str(here / ".cache" / "study-home"))
    os.environ.setdefault("ADVISOR_TWIN_CACHE", str(here / ".cache" / "twins"))
    from advisor.catalog import load_catalog
    from advisor.local import local_profile, local_profile_path, run_profile

    if not local_profile_path().exists():
        print("profiling this machine ...", flush=True)
        run_profile(seconds=4)
    return load_catalog(), local_profile(), Path(os.environ["ADVISOR_TWIN_CACHE"])



def study_runs(runs_file: str = "validation_runs.json", profile_file: str = "ref-study-vm-epyc.toml") -> tuple[list[Any], Any]:
    """(runs, profile): runs of ``advisor validate`` as exported (``advisor runs export --format
    json``; default the validation study's, results/validation_runs.json) on the profile of the
    machine they ran on (default reference_devices/ref-study-vm-epyc.toml). Each run carries that
    profile under the profile's id, not 'local', which would read the local profile of whatever
    machine runs the benchmark."""
    from advisor.catalog import load_device_file
    from advisor.store import Run

    device = load_device_file(REFS / profile_file)
    profile = device.model_dump(mode="json", by_alias=True)
    runs = [Run(**{**r, "device_id": device.id, "device_profile": profile})
            for r in json.loads((RESULTS / runs_file).read_text())["runs"]]
    return runs, device


#: the runs of this repository's third x86 machine, a 2-core Xeon VM with AMX (2026-12-02), measured
#: with `advisor validate` (benchmarks/machine_runs.sh xeon_vm) after every factor they are compared with was set
XEON_VM_RUNS = ("xeon_vm_runs.json", "ref-xeon-vm-2c.toml")
#: the fourth: a 2-core EPYC VM on a Zen 4 host (2026-12-02, a later session; benchmarks/machine_runs.sh
#: epyc_zen4_vm), measured after every factor was set, the cpu-x86 refit of that day included
ZEN4_VM_RUNS = ("epyc_zen4_vm_runs.json", "ref-epyc-zen4-vm-2c.toml")
#: the fifth: a 2-core EPYC VM on a Zen 3 host (family 25 model 1; AVX2, no AVX-512, no VNNI), 2026-12-03,
#: benchmarks/machine_runs.sh epyc_zen3_vm: the first machine this repository ran twins on whose CPU lacks
#: AVX-512 (the i5-6500's AVX2-only row is a published one), measured
#: after every factor it is compared with was set
ZEN3_VM_RUNS = ("epyc_zen3_vm_runs.json", "ref-epyc-zen3-vm-2c.toml")


def percent_errors(observations: list[Any], factors: Any, ggml_types: Any) -> list[float]:
    """Signed % errors of ``factors``' predictions (engine.calibrate.predict) against the measured values."""
    from advisor.engine.calibrate import predict

    return [(predict(o, factors, ggml_types) / o.value - 1) * 100 for o in observations]


def mdape(observations: list[Any], factors: Any, ggml_types: Any) -> float:
    """Median absolute % error of ``percent_errors``."""
    import statistics

    return statistics.median(abs(e) for e in percent_errors(observations, factors, ggml_types))


def machine_fit_report(name: str, title: str, intro: str, table: list[str], summary: str, rows: list[str]) -> str:
    """results/NAME.md of a per-machine fit (cpu_prefill_x86.py, cpu_decode_x86.py): the title, the
    method, the machines' table and summary, then every run against the shipped factors; printed."""
    text = "\n".join([f"# {title}", "", intro, "", *table, "", summary, "", "## Each run against the shipped factors", "", *rows, ""])
    print(text)
    (RESULTS / f"{name}.md").write_text(text)
    return text

"""Speed predictions vs published measurements: median absolute percentage error of decode and
prefill, per device class — in-sample (defaults fitted on all rows) and leave-one-device-out
(each device predicted by factors fitted without any of its rows: the honest figure for a
device the tool has never seen).

    python benchmarks/speed_accuracy.py            # prints the table, writes results/speed_accuracy.md
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import predict  # noqa: E402
from advisor.engine.speed import execution_path  # noqa: E402
from published import fit_paths as fit_published_paths  # noqa: E402
from published import load_priors, load_rows  # noqa: E402


def ape(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas * 100


def fit_paths(rows, catalog, priors, exclude_device: str | None = None):
    return fit_published_paths(rows, catalog, priors, exclude=frozenset({exclude_device}) if exclude_device else frozenset())


def main() -> int:
    catalog = load_catalog()
    all_rows = load_rows(catalog)
    rows = [r for r in all_rows if r.observation is not None]
    excluded = [r for r in all_rows if r.observation is None]

    priors = load_priors()
    shipped = {p: catalog.calibration[p] for p in catalog.calibration}
    in_sample = fit_paths(rows, catalog, priors)
    devices = sorted({r.device_key for r in rows})
    lodo = {d: fit_paths(rows, catalog, priors, exclude_device=d) for d in devices}

    devices_per_path = defaultdict(set)
    for r in rows:
        devices_per_path[execution_path(r.observation.device)].add(r.device_key)

    table = []
    for r in rows:
        o = r.observation
        path = execution_path(o.device)
        f_ship = shipped[path]
        f_in = in_sample.get(path, f_ship)
        f_out = lodo[r.device_key].get(path, priors[path])
        alone = devices_per_path[path] == {r.device_key}  # left out, its path has no data: prior only
        table.append((r, path, predict(o, f_ship, catalog.ggml_types), predict(o, f_in, catalog.ggml_types),
                      predict(o, f_out, catalog.ggml_types), alone))

    lines = [
        "| device class | metric | n | shipped defaults MdAPE | leave-one-device-out MdAPE | n with a fitted path | LODO MdAPE, fitted paths only |",
        "|---|---|---|---|---|---|---|",
    ]
    groups = defaultdict(list)
    for r, path, p_ship, p_in, p_out, alone in table:
        v = (r.observation.value, p_ship, p_in, p_out, alone)
        groups[(r.device_class, r.observation.metric)].append(v)
        groups[("all", r.observation.metric)].append(v)

    def mdape(vals, i):
        return f"{statistics.median(ape(v[i], v[0]) for v in vals):.0f}%" if vals else "n/a"

    for key in sorted(groups, key=lambda k: (k[0] == "all", k)):
        vals = groups[key]
        fitted = [v for v in vals if not v[4]]
        lines.append(f"| {key[0]} | {key[1]} | {len(vals)} | {mdape(vals, 1)} | {mdape(vals, 3)} | {len(fitted)} | {mdape(fitted, 3)} |")

    detail = ["| measurement | metric | measured | predicted (shipped) | error | leave-one-out | error |", "|---|---|---|---|---|---|---|"]
    for r, path, p_ship, p_in, p_out, alone in table:
        o = r.observation
        detail.append(
            f"| {o.label} | {o.metric} | {o.value:g} | {p_ship:.1f} | {(p_ship - o.value) / o.value * 100:+.0f}% | {p_out:.1f} | {(p_out - o.value) / o.value * 100:+.0f}% |"
        )
    excl = [f"- {r.raw['device']} / {r.raw['model']} / {r.raw['metric']}: {r.excluded}" for r in excluded]
    report = "\n".join([
        "# Speed predictions vs published measurements",
        "",
        "Command: `python benchmarks/speed_accuracy.py`. Source: `../shared/reference/measurements.csv` "
        f"({len(rows)} llama.cpp rows used, {len(excluded)} rows excluded). MdAPE = median absolute percentage error.",
        "'shipped defaults' = catalog/calibration.toml as committed (fitted on all rows: in-sample); "
        "'leave-one-device-out' (LODO) = each device predicted with its path's factors fitted on the *other* devices — "
        "the error to expect on a device the tool has no measurements of. Where no other device shares the path "
        "(the Jetson AGX Orin is the only CUDA-on-unified-memory device measured), LODO falls back to the "
        "physical prior of benchmarks/priors.toml; the last column leaves those rows out.",
        "",
        *lines,
        "",
        "## Every row",
        "",
        *detail,
        "",
        "## Excluded rows",
        "",
        *excl,
        "",
    ])
    out = HERE / "results" / "speed_accuracy.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print("\n".join(lines))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

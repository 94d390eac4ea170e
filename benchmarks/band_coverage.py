"""Do the speed bands mean what they say? Each shipped band claims that 80 % of measurements on a
device the tool has not seen fall inside it. Checked per execution path and device class on the
published llama.cpp rows (../shared/reference/measurements.csv), by nested leave-one-device-out:

* each device's rows are predicted by its path's factors fitted on the *other* devices, and
* its band is set, by the rule of benchmarks/fit_defaults.py, from the held-out errors of the
  *other* devices only (each of them predicted by a fit without it and without the device),

so neither the prediction nor the band has seen the device. The share of rows inside is the
band's real coverage (target 75–85 % for an 80 % band). For reference the table also gives the
coverage of the shipped bands (catalog/calibration.toml), which were set from these very rows.

    python benchmarks/band_coverage.py          # prints the table, writes results/band_coverage.md
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from published import MIN_DEVICES_FOR_PATH_BAND, PathBands, held_out, heldout_bands, load_priors, load_rows  # noqa: E402

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import BAND_COVERAGE  # noqa: E402

METRICS = ("decode", "prefill")
KIND_LABEL = {"own": "own path", "widened": "pooled, widened to its path's rows", "pooled": "pooled"}


def main() -> int:
    catalog = load_catalog()
    rows = [r for r in load_rows(catalog) if r.observation is not None]
    priors = load_priors()
    cache: dict = {}  # path fits by devices left out (published.fit_paths)
    plain = held_out(rows, catalog, priors, cache=cache)
    devices = sorted({h.row.device_key for h in plain})
    # per device: the bands the rule would set without it
    nested: dict[str, dict[str, PathBands]] = {}
    for i, dev in enumerate(devices, 1):
        inner = held_out(rows, catalog, priors, also_exclude=frozenset({dev}), cache=cache)
        nested[dev] = {m: heldout_bands(inner, m) for m in METRICS}
        print(f"[{i}/{len(devices)}] {dev}", file=sys.stderr)

    groups: dict[tuple[str, str, str], list[tuple[bool, bool, float]]] = defaultdict(list)
    detail = []
    for h in plain:
        o = h.row.observation
        band, kind = nested[h.row.device_key][o.metric].of(h.path)
        shipped = getattr(catalog.calibration[h.path], f"{o.metric}_band")
        inside = abs(h.log_residual) <= math.log1p(band)
        inside_shipped = abs(h.log_residual) <= math.log1p(shipped)
        keys = [(h.path, "", o.metric), ("", h.row.device_class, o.metric), ("all", "", o.metric)]
        if h.path_fitted:
            keys.append(("all", "fitted paths", o.metric))
        for key in keys:
            groups[key].append((inside, inside_shipped, band))
        detail.append(f"| {o.label} | {o.metric} | {o.value:g} | {h.predicted:.1f} | {math.exp(h.log_residual) * 100 - 100:+.0f}% | "
                      f"±{band * 100:.0f}% ({KIND_LABEL[kind]}) | {'yes' if inside else 'no'} | "
                      f"±{shipped * 100:.0f}% | {'yes' if inside_shipped else 'no'} |")

    def share(vals: list[tuple[bool, bool, float]], i: int) -> str:
        return f"{sum(v[i] for v in vals) / len(vals) * 100:.0f}%"

    lines = [
        "| path | device class | metric | n | held-out coverage (nested: band set without the device) | median band | coverage of the shipped band |",
        "|---|---|---|---|---|---|---|",
    ]
    order = sorted(groups, key=lambda k: (k[0] == "all", k[0] == "", k[0], k[1] != "", k[1], METRICS.index(k[2])))
    for key in order:
        vals = groups[key]
        bands = sorted(v[2] for v in vals)
        lines.append(f"| {key[0] or '–'} | {key[1] or '–'} | {key[2]} | {len(vals)} | {share(vals, 0)} | "
                     f"±{bands[len(bands) // 2] * 100:.0f}% | {share(vals, 1)} |")
    report = "\n".join([
        "# Band coverage: do 80 % bands hold 80 % of held-out measurements?",
        "",
        (f"Command: `python benchmarks/band_coverage.py`. Rows: the {len(plain)} llama.cpp rows of "
        "`../shared/reference/measurements.csv` used by benchmarks/speed_accuracy.py. Band rule (benchmarks/fit_defaults.py, "
        f"published.heldout_bands): the conformal {BAND_COVERAGE:.0%} quantile (the ⌈{BAND_COVERAGE:g}·(n+1)⌉-th smallest of n) "
        "of |log(predicted/measured)| over leave-one-device-out predictions of the path's rows "
        f"where ≥ {MIN_DEVICES_FOR_PATH_BAND} devices share the path and it has ≥ 4 rows, else the same quantile pooled over "
        "every path's held-out rows with each device's rows weighing one device. "
        "'Nested' = each device's rows predicted by a fit without it and judged against a band set without it "
        "(the honest check; target 75–85 %). Rows whose path has no other device are predicted by the bare prior "
        "(benchmarks/priors.toml): the Jetson AGX Orin on CUDA is the only such path with rows; 'all / fitted paths' "
        "leaves those rows out."),
        "",
        *lines,
        "",
        "## Every row",
        "",
        "| measurement | metric | measured | held-out prediction | error | nested band | inside | shipped band | inside |",
        "|---|---|---|---|---|---|---|---|---|",
        *detail,
        "",
    ])
    out = HERE / "results" / "band_coverage.md"
    out.write_text(report)
    print("\n".join(lines))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed predictions vs published measurements: median absolute percentage error of decode and
prefill, per device class — in-sample (defaults fitted on all rows) and leave-one-device-out
(each device predicted by factors fitted without any of its rows: the honest figure for a
device the tool has never seen).

    python benchmarks/speed_accuracy.py            # prints the table, writes results/speed_accuracy.md
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import predict  # noqa: E402
from advisor.engine.power_modes import with_power_mode  # noqa: E402
from advisor.engine.speed import execution_path  # noqa: E402
from published import fit_paths as fit_published_paths  # noqa: E402
from published import load_check_rows, load_priors, load_rows, load_unfitted_rows  # noqa: E402


def cell(text: object) -> str:
    """A Markdown table cell: a '|' inside it (labels like 'Device | model | runtime') escaped, so
    the row keeps its columns."""
    return str(text).replace("|", "\\|")


def ape(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas * 100


def fit_paths(rows, catalog, priors, exclude_device: str | None = None, only: frozenset[str] | None = None):
    """Factors per path (of ``only``, default all) fitted without ``exclude_device``."""
    exclude = frozenset({exclude_device}) if exclude_device else frozenset()
    return fit_published_paths(rows, catalog, priors, exclude=exclude, only=only)


def power_mode_table(rows, catalog, priors) -> list[str]:
    """Every row on a device with power modes, predicted in each mode with the path's prior."""
    with_modes = [r for r in rows if r.observation.device.power.modes and r.observation.device.gpu_usable]
    if not with_modes:
        return ["(no row on a device with power modes)"]
    names = [m.name for m in with_modes[0].observation.device.power.modes]
    lines = ["| measurement | metric | measured | " + " | ".join(f"{n} predicted" for n in names) + " | closest mode |",
             "|---|---|---|" + "---|" * (len(names) + 1)]
    for r in with_modes:
        o = r.observation
        path = execution_path(o.device)
        preds = [predict(dataclasses.replace(o, device=with_power_mode(o.device, n)), priors[path], catalog.ggml_types) for n in names]
        closest = min(range(len(names)), key=lambda i: abs(preds[i] / o.value - 1))
        lines.append(f"| {cell(o.label)} | {o.metric} | {o.value:g} | " + " | ".join(f"{p:.1f} ({(p - o.value) / o.value * 100:+.0f}%)" for p in preds)
                     + f" | {names[closest]} |")
    return lines


def check_table(rows, catalog, shipped) -> list[str]:
    """Check-only rows: predicted on the CPU path and on the device's own (GPU) path."""
    lines = ["| measurement | measured | CPU path predicted | device's path predicted |", "|---|---|---|---|"]
    cpu_err, own_err = [], []
    for r in rows:
        o = r.observation
        own = dataclasses.replace(o, device=r.raw["gpu_device"])
        p_cpu = predict(o, shipped[execution_path(o.device)], catalog.ggml_types)
        p_own = predict(own, shipped[execution_path(own.device)], catalog.ggml_types)
        cpu_err.append(ape(p_cpu, o.value))
        own_err.append(ape(p_own, o.value))
        lines.append(f"| {cell(o.label)} | {o.value:g} | {p_cpu:.1f} ({(p_cpu - o.value) / o.value * 100:+.0f}%, {execution_path(o.device)}) "
                     f"| {p_own:.1f} ({(p_own - o.value) / o.value * 100:+.0f}%, {execution_path(own.device)}) |")
    if rows:
        lines += ["", f"MdAPE over {len(rows)} rows: CPU path {statistics.median(cpu_err):.0f}%, device's path {statistics.median(own_err):.0f}%."]
    return lines


def checked_table(checked, groups, catalog, priors, shipped, lodo) -> list[str]:
    """The check-only rows (published.check_only_reason): each predicted by the shipped factors
    and held out (its device's paths fitted on the other devices' fitted rows), then every figure
    again with them (``groups``: main's rows by class and metric, v[0] measured, v[3] held out)."""
    if not checked:
        return ["(no check-only row)"]
    lines = ["| measurement | metric | why not fitted | measured | shipped | error | leave-one-out | error |",
             "|---|---|---|---|---|---|---|---|"]
    every = {key: [ape(v[3], v[0]) for v in vals] for key, vals in groups.items()}
    trusted = {key: list(errs) for key, errs in every.items()}
    for r in checked:
        o = r.observation
        path = execution_path(o.device)
        p_ship = predict(o, shipped[path], catalog.ggml_types)
        p_out = predict(o, lodo.get(r.device_key, {}).get(path, priors[path]), catalog.ggml_types)
        for key in ((r.device_class, o.metric), ("all", o.metric)):
            every.setdefault(key, []).append(ape(p_out, o.value))
        why = r.excluded.split(":")[0]
        lines.append(f"| {cell(o.label)} | {o.metric} | {cell(why)} | {o.value:g} | {p_ship:.1f} | {(p_ship - o.value) / o.value * 100:+.0f}% "
                     f"| {p_out:.1f} | {(p_out - o.value) / o.value * 100:+.0f}% |")
    lines += ["", "With these rows added to the rows above (leave-one-device-out MdAPE, the check-only rows held out as above):", "",
              "| device class | metric | n | LODO MdAPE, fitted rows | n with check-only rows | LODO MdAPE, all rows |", "|---|---|---|---|---|---|"]
    for key in sorted(every, key=lambda k: (k[0] == "all", k)):
        t = trusted.get(key, [])
        lines.append(f"| {key[0]} | {key[1]} | {len(t)} | {f'{statistics.median(t):.0f}%' if t else 'n/a'} "
                     f"| {len(every[key])} | {statistics.median(every[key]):.0f}% |")
    return lines


def main() -> int:
    catalog = load_catalog()
    all_rows = load_rows(catalog)
    rows = [r for r in all_rows if r.observation is not None]
    excluded = [r for r in all_rows if r.observation is None]

    priors = load_priors()
    shipped = {p: catalog.calibration[p] for p in catalog.calibration}
    in_sample = fit_paths(rows, catalog, priors)
    devices = sorted({r.device_key for r in rows})
    # a device left out is predicted by its own paths' factors only: fit just those
    paths_of = {d: frozenset(execution_path(r.observation.device) for r in rows if r.device_key == d) for d in devices}
    lodo = {d: fit_paths(rows, catalog, priors, exclude_device=d, only=paths_of[d]) for d in devices}
    # before the runtime-measurements.csv rows were added: fits on measurements.csv rows only
    old_rows = [r for r in rows if "runtime" not in r.raw]
    lodo_old = {d: fit_paths(old_rows, catalog, priors, exclude_device=d, only=paths_of[d]) for d in devices}

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
        f_old = lodo_old[r.device_key].get(path, priors[path])
        table.append((r, path, predict(o, f_ship, catalog.ggml_types), predict(o, f_in, catalog.ggml_types),
                      predict(o, f_out, catalog.ggml_types), alone, predict(o, f_old, catalog.ggml_types)))

    lines = [
        "| device class | metric | n | shipped defaults MdAPE | leave-one-device-out MdAPE | n with a fitted path | LODO MdAPE, fitted paths only "
        "| LODO MdAPE, fitted on measurements.csv only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = defaultdict(list)
    by_path = defaultdict(list)
    for r, path, p_ship, p_in, p_out, alone, p_old in table:
        v = (r.observation.value, p_ship, p_in, p_out, alone, p_old)
        groups[(r.device_class, r.observation.metric)].append(v)
        groups[("all", r.observation.metric)].append(v)
        by_path[(path, r.observation.metric)].append(v)

    def mdape(vals, i):
        return f"{statistics.median(ape(v[i], v[0]) for v in vals):.0f}%" if vals else "n/a"

    for key in sorted(groups, key=lambda k: (k[0] == "all", k)):
        vals = groups[key]
        fitted = [v for v in vals if not v[4]]
        lines.append(f"| {key[0]} | {key[1]} | {len(vals)} | {mdape(vals, 1)} | {mdape(vals, 3)} | {len(fitted)} | {mdape(fitted, 3)} "
                     f"| {mdape(vals, 5)} |")
    path_lines = [
        "| execution path | metric | n | devices | LODO MdAPE before (fitted on measurements.csv) | after (+ runtime-measurements.csv) | shipped (in-sample) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (path, metric), vals in sorted(by_path.items()):
        path_lines.append(f"| {path} | {metric} | {len(vals)} | {len(devices_per_path[path])} | {mdape(vals, 5)} | {mdape(vals, 3)} "
                          f"| {mdape(vals, 1)} |")

    detail = ["| measurement | metric | measured | predicted (shipped) | error | leave-one-out | error |", "|---|---|---|---|---|---|---|"]
    for r, path, p_ship, p_in, p_out, alone, _ in table:
        o = r.observation
        detail.append(
            f"| {cell(o.label)} | {o.metric} | {o.value:g} | {p_ship:.1f} | {(p_ship - o.value) / o.value * 100:+.0f}% | {p_out:.1f} | {(p_out - o.value) / o.value * 100:+.0f}% |"
        )
    checked = load_rows(catalog, checked=True) + load_unfitted_rows(catalog)
    for d in sorted({r.device_key for r in checked} - set(lodo)):
        lodo[d] = fit_paths(rows, catalog, priors, exclude_device=d)
    checked_lines = checked_table(checked, groups, catalog, priors, shipped, lodo)
    modes_lines = power_mode_table(rows + checked, catalog, priors)
    check_lines = check_table(load_check_rows(catalog), catalog, shipped)
    excl = [f"- {r.raw['device']} / {r.raw['model']} / {r.raw['metric']}: {r.excluded}" for r in excluded]
    report = "\n".join([
        "# Speed predictions vs published measurements",
        "",
        "Command: `python benchmarks/speed_accuracy.py`. Source: `../shared/reference/measurements.csv` "
        f"and the llama.cpp rows of `runtime-measurements.csv` that map onto the catalog (benchmarks/published.py "
        f"RUNTIME_DEVICE_MAP: {len(rows) - len(old_rows)} rows) — {len(rows)} llama.cpp rows used, "
        f"{len(excluded)} rows of measurements.csv excluded. MdAPE = median absolute percentage error.",
        "'shipped defaults' = catalog/calibration.toml as committed (fitted on all rows: in-sample); "
        "'leave-one-device-out' (LODO) = each device predicted with its path's factors fitted on the *other* devices — "
        "the error to expect on a device the tool has no measurements of. Where no other device shares the path "
        "(the Adreno 750 is the only OpenCL device measured), "
        "LODO falls back to the physical prior of benchmarks/priors.toml; 'fitted paths only' leaves those rows out. "
        "The last column is LODO with factors fitted on measurements.csv alone (before the runtime-measurements.csv rows "
        "were added), on the same rows.",
        "",
        *lines,
        "",
        "## Per execution path: leave-one-device-out before and after adding runtime-measurements.csv",
        "",
        *path_lines,
        "",
        "## Phone rows checked, not fitted: Cactus's llama.cpp-based leaderboard (June 2025)",
        "",
        "GGUF Q8_0 decode ('toks/sec') of Cactus's app on phones the catalog has a profile of "
        "(`published.load_check_rows`). The rows state neither the backend nor the prompt and output lengths, "
        "so they are in no fit and no figure above; each is predicted with the shipped factors on the phone's "
        "CPU path and on its GPU path (Metal on iPhones; the Android profiles run llama.cpp on the CPU).",
        "",
        *check_lines,
        "",
        "## Rows checked, not fitted",
        "",
        "Rows with a `published.check_only_reason`: the rows the reference sheet rates `low` (CHECK_ONLY_TRUST: the "
        "NixOS AGX Orin rows, 'agent-run NixOS build; values far below typical AGX Orin MAXN results'), and CPU prefill "
        "rows of 2023 builds that multiplied the prompt through a BLAS library (BLAS_PREFILL_ROWS: dequantized weights "
        "in F32 sgemm, a code path today's default Linux, Windows and Android builds do not take); and the llama.cpp "
        "rows of runtime-measurements.csv that benchmarks/runtime_published.py maps but no fit takes "
        "(`published.load_unfitted_rows`): mixture-of-experts and hybrid models (MOE_CHECK: they check the expert "
        "rules, not the dense fit; the M2 Ultra MoE prefill rows fitted speed.EXPERT_GEMM_EFFICIENCY_GPU, so those "
        "three are in-sample) and rows whose hardware is not stated (UNSTATED_HARDWARE). They are in no fit "
        "and in no figure above; here each is predicted by the shipped factors and held out, and the figures are given "
        "again with them.",
        "",
        *checked_lines,
        "",
        "## Jetson rows against the power modes (physical prior of the path, no fit)",
        "",
        "The Jetson GPU rows ran in a power mode: MAXN for the T-MAC row, not stated for the NixOS rows. Each is "
        "predicted here in each nvpmodel mode of the AGX Orin 64GB profile (`--device jetson-agx-orin-64gb@MODE`; "
        "advisor/engine/power_modes.py) with the cuda-unified prior of benchmarks/priors.toml — factors fitted on "
        "no Jetson row, so the modes' physics alone is what is compared.",
        "",
        *modes_lines,
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
    print()
    print("\n".join(path_lines))
    print()
    print("\n".join(checked_lines))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speed factors per runtime × backend (MLX on Metal, MLC on WebGPU/OpenCL/CUDA, ExecuTorch on
XNNPACK/Vulkan/WebGPU, LiteRT-LM on CPU/GPU …), fitted to the published rows of
../shared/reference/runtime-measurements.csv (mapped by benchmarks/runtime_published.py), with
leave-one-device-out error.

Each path starts from its prior — llama.cpp's factors for the same hardware
(``engine.evaluate.runtime_prior``) — and fits, with the same MAP least squares as the llama.cpp paths
(``engine.calibrate.fit``), only what its rows can inform: the achieved-bandwidth efficiency from
decode rows, the prefill efficiency from prefill rows. Bands: the conformal 80 % quantile of the
leave-one-device-out |log error| (``engine.calibrate.band_from_heldout``; the prior's widened band
where a path has too few rows for it: fewer than 4). Writes catalog/runtime-calibration.toml and
benchmarks/results/runtime_speed.md.

    python benchmarks/fit_runtimes.py
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import Observation, band_from_heldout, conformal_rank_ok, fit, predict  # noqa: E402
from advisor.engine.evaluate import runtime_prior  # noqa: E402
from advisor.engine.runtimes import Variant  # noqa: E402
from benchmarks.published import cite_all  # noqa: E402
from benchmarks.runtime_published import RuntimeMeasurement, catalog_format, load_runtime_rows  # noqa: E402

OUT = HERE.parent / "catalog" / "runtime-calibration.toml"
RESULT = HERE / "results" / "runtime_speed.md"

#: A fitted factor replaces the prior only with rows from at least this many devices, and only when
#: it lowers the held-out (leave-one-device-out) error below the prior's error on the same rows.
MIN_DEVICES_TO_FIT = 2
#: Coverage of the bands (a band needs conformal_rank_ok rows: 4 at 80 %; else the prior's widened band).
BAND_QUANTILE = 0.8


def observations(rows: list[RuntimeMeasurement], catalog) -> dict[str, list[Observation]]:
    by_path: dict[str, list[Observation]] = defaultdict(list)
    for r in rows:
        if r.metric not in ("decode", "prefill") or r.runtime == "llama.cpp" or r.device is None:
            continue
        runtime = catalog.runtime(r.runtime)
        backend = runtime.backend(r.backend)
        fmt = catalog_format(r.runtime, r.format_id, r.backend, catalog)
        if backend is None or fmt is None:  # runtime_published excludes such rows: a mapping bug
            raise SystemExit(f"line {r.line}: {r.runtime}/{r.backend} {r.format_id} has no catalog backend or format")
        v = Variant(runtime, backend, fmt)
        by_path[v.path].append(Observation(catalog.models[r.model_id], fmt, r.device, r.workload, r.metric, r.value,
                                           label=r.label, weight=r.weight, variant=v))
    return by_path


def fit_path(obs: list[Observation], catalog):
    """(prior, fitted) factors of one path: bandwidth efficiency from its decode rows, prefill
    efficiency from its prefill rows."""
    prior = runtime_prior(obs[0].device, obs[0].variant, catalog)
    # one prior per path: devices whose llama.cpp base paths differ would need a fit each (none do today)
    same = prior.model_dump(exclude={"basis"})
    if any(runtime_prior(o.device, o.variant, catalog).model_dump(exclude={"basis"}) != same for o in obs):
        raise SystemExit(f"{prior.path}: its devices have different llama.cpp priors; fit them apart")
    dec = [o for o in obs if o.metric == "decode"]
    pre = [o for o in obs if o.metric == "prefill"]
    factors = prior
    if dec:
        factors = fit(dec, factors, catalog.ggml_types, params=("bw_efficiency",)).factors
    if pre:
        factors = fit(pre, factors, catalog.ggml_types, params=("prefill_efficiency",)).factors
    return prior, factors


def log_errors(obs: list[Observation], catalog) -> tuple[list[float], list[float], list[float]]:
    """(prior, in-sample, leave-one-device-out) log(pred/measured) of every observation. The
    prior was fitted on none of these rows, so its errors are held-out errors too."""
    prior, factors = fit_path(obs, catalog)
    p_err = [math.log(predict(o, prior, catalog.ggml_types) / o.value) for o in obs]
    in_err = [math.log(predict(o, factors, catalog.ggml_types) / o.value) for o in obs]
    lodo = []
    for o in obs:
        rest = [x for x in obs if x.device.id != o.device.id]
        held = fit_path(rest, catalog)[1] if rest else prior
        lodo.append(math.log(predict(o, held, catalog.ggml_types) / o.value))
    return p_err, in_err, lodo


PARAMS = (("decode", "bw_efficiency"), ("prefill", "prefill_efficiency"))


def device_fits(path: str, obs: list[Observation], update: dict, catalog, sources: dict, n_devices: int, base_path: str) -> list:
    """Each measured device's own factors where the path keeps a prior (a factor not fitted on the
    path: one device only, or a fit that did not lower the held-out error): fitted on that device's
    rows alone, over the prior factors_for gives it, for that device only (evaluate.factors_for).
    In-sample by construction: the device's band stays the path's."""
    out = []
    for dev_id in sorted({o.device.id for o in obs} & set(catalog.devices)):  # reference-only devices: no profile
        mine = [o for o in obs if o.device.id == dev_id]
        prior = runtime_prior(mine[0].device, mine[0].variant, catalog).model_copy(
            update={p: update[p] for p in update["fitted"]})
        factors, own = prior, ()
        for metric, param in PARAMS:
            rows = [o for o in mine if o.metric == metric]
            if rows and param not in update["fitted"]:
                factors = fit(rows, factors, catalog.ggml_types, params=(param,)).factors
                own += (param,)
        if not own:
            continue
        said = ", ".join(f"{m} {'fitted' if p in update['fitted'] or p in own else 'prior'}" for m, p in PARAMS)
        n = {m: sum(1 for o in mine if o.metric == m) for m, _ in PARAMS}
        basis = (f"{len(obs)} published {path} measurements from {n_devices} device{'s' if n_devices > 1 else ''}, "
                 f"{len(mine)} on this device ({said}; "
                 + ", ".join(f"{m} fitted on this device's own {n[m]} row{'s' if n[m] > 1 else ''}, in-sample"
                             for m, p in PARAMS if p in own)
                 + f"; prior llama.cpp {base_path})")
        out.append((dev_id, factors.model_copy(update={"n_measurements": len(mine), "basis": basis, "fitted": own,
                                                       "source": cite_all(sources[o.label] for o in mine)})))
    return out


def mdape(errs: list[float]) -> float:
    return statistics.median(abs(math.exp(e) - 1) for e in errs) * 100 if errs else float("nan")


def band(errs: list[float], fallback: float) -> float:
    """The conformal BAND_QUANTILE band of held-out errors (never below half the prior's band);
    ``fallback`` (the prior's band) when there are too few errors to promise that coverage."""
    if not conformal_rank_ok(len(errs), BAND_QUANTILE):
        return fallback
    return max(fallback / 2, band_from_heldout(errs, BAND_QUANTILE))


def coverage(errs: list[float], devices: list[str], shipped_band: float, prior_band: float) -> tuple[list[bool], list[bool]]:
    """Whether each held-out log error lies within ×/÷(1 + band): the shipped band, and the band
    ``band`` sets from the other devices' errors alone (nested: the row's device held out of its
    band too)."""
    inside = [abs(e) <= math.log1p(shipped_band) for e in errs]
    nested = [abs(e) <= math.log1p(band([x for x, dx in zip(errs, devices) if dx != d], prior_band))
              for e, d in zip(errs, devices)]
    return inside, nested


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} = {sum(flags) / len(flags):.0%}" if flags else "n/a"


def main() -> int:
    catalog = load_catalog()
    rows, _ = load_runtime_rows(catalog)
    by_path = observations(rows, catalog)
    sources = {r.label: r.source for r in rows}
    entries, table, own_entries = [], [], []
    all_prior, all_lodo, all_inside = defaultdict(list), defaultdict(list), defaultdict(list)
    for path, obs in sorted(by_path.items()):
        prior, fitted = fit_path(obs, catalog)
        p_err, in_err, lodo = log_errors(obs, catalog)
        devices = {o.device.id for o in obs}
        update: dict = {"n_measurements": len(obs), "fitted": ()}
        chosen = {}
        for metric, param, band_name in (("decode", "bw_efficiency", "decode_band"), ("prefill", "prefill_efficiency", "prefill_band")):
            idx = [i for i, o in enumerate(obs) if o.metric == metric]
            if not idx:
                continue
            n_dev = len({obs[i].device.id for i in idx})
            held, from_prior = [lodo[i] for i in idx], [p_err[i] for i in idx]
            use_fit = n_dev >= MIN_DEVICES_TO_FIT and mdape(held) < mdape(from_prior)
            errs = held if use_fit else from_prior
            update[param] = getattr(fitted if use_fit else prior, param)
            update["fitted"] += (param,) if use_fit else ()
            update[band_name] = round(band(errs, getattr(prior, band_name)), 3)
            chosen[metric] = "fitted" if use_fit else "prior"
            all_prior[metric] += from_prior
            all_lodo[metric] += errs
            shipped_in, nested_in = coverage(errs, [obs[i].device.id for i in idx], update[band_name], getattr(prior, band_name))
            all_inside[metric] += [shipped_in, nested_in]
            table.append((path, metric, len(idx), n_dev, mdape(from_prior), mdape([in_err[i] for i in idx]), mdape(held),
                          chosen[metric], mdape(errs), update[band_name], shipped_in, nested_in))
        base_path = prior.basis.split("llama.cpp's ")[1].split(" ")[0]
        what = ", ".join(f"{m} {c}" for m, c in chosen.items())
        basis = (f"{len(obs)} published {path} measurements from {len(devices)} device{'s' if len(devices) > 1 else ''} "
                 f"({what}; prior llama.cpp {base_path})")
        entries.append(prior.model_copy(update={**update, "basis": basis,
                                                "source": cite_all(sources[o.label] for o in obs)}))
        own_entries += device_fits(path, obs, update, catalog, sources, len(devices), base_path)
    write_toml(entries, own_entries)
    lines = ["# Runtime speed paths vs published measurements", "",
             "`python benchmarks/fit_runtimes.py` — rows of ../shared/reference/runtime-measurements.csv mapped by",
             "benchmarks/runtime_published.py; prior = llama.cpp's factors for the same hardware; fitted: bandwidth",
             "efficiency (decode rows), prefill efficiency (prefill rows). MdAPE = median absolute percentage error;",
             "held-out = leave-one-device-out (the path refitted without the device's rows).", "",
             f"A fit replaces the prior only from ≥ {MIN_DEVICES_TO_FIT} devices and when it lowers the held-out error;",
             "the prior's own errors are held-out errors too (it was fitted on none of these rows).", "",
             "Inside the band: the share of the shipped held-out predictions within ×/÷ the shipped band, and 'nested',",
             "within the band the same rule sets without the row's device (the honest check; ~80 % is the aim, and",
             "a band set by a path's prior, too few rows to set its own, is not from these rows).", "",
             "| path | metric | rows | devices | prior MdAPE | fit in-sample | fit held-out | shipped | shipped held-out | band (±) "
             "| inside the band (nested) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for path, metric, n, nd, p, i, h, c, e, b, inside, nested in table:
        lines.append(f"| {path} | {metric} | {n} | {nd} | {p:.0f} % | {i:.0f} % | {h:.0f} % | {c} | {e:.0f} % | ×/÷{1 + b:.2f} "
                     f"| {_share(inside)} ({_share(nested)}) |")
    for metric in ("decode", "prefill"):
        inside = [x for pair in all_inside[metric][0::2] for x in pair]
        nested = [x for pair in all_inside[metric][1::2] for x in pair]
        lines.append(f"\nAll runtime paths, {metric}: prior MdAPE {mdape(all_prior[metric]):.0f} %, shipped (held-out) MdAPE "
                     f"{mdape(all_lodo[metric]):.0f} % over {len(all_lodo[metric])} rows; inside the band {_share(inside)} "
                     f"(nested {_share(nested)}).")
    RESULT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def write_toml(entries, own_entries=()) -> None:
    out = ["# Speed factors of runtimes other than llama.cpp, per runtime:backend path.",
           "# Written by `python benchmarks/fit_runtimes.py` from the published rows of",
           "# ../shared/reference/runtime-measurements.csv; see benchmarks/results/runtime_speed.md.",
           "# Paths not listed use llama.cpp's factors of the same hardware as a prior (band ×2); on a listed path the",
           "# factors named in `fitted` are the path's own, the others each device's prior (evaluate.factors_for);",
           "# [[devices]]: a measured device's own fit of the factors its path keeps as a prior, for that device only.", ""]
    fields = ("path", "bw_efficiency", "decode_compute_efficiency", "prefill_efficiency", "fixed_s_per_layer",
              "prefill_kquant_factor", "prefill_float_factor", "decode_band", "prefill_band", "n_measurements", "basis", "source",
              "fitted")

    def table(kind: str, f, extra: dict) -> None:
        out.append(f"[[{kind}]]")
        for name, v in [*extra.items(), *((n, getattr(f, n)) for n in fields)]:
            out.append(f'{name} = "{v}"' if isinstance(v, str) else f"{name} = {v:.6g}" if isinstance(v, float)
                       else f"{name} = [{', '.join(chr(34) + x + chr(34) for x in v)}]" if isinstance(v, tuple) else f"{name} = {v}")
        out.append("")

    for f in entries:
        table("paths", f, {})
    for device_id, f in own_entries:
        table("devices", f, {"device": device_id})
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text("\n".join(out))
    tmp.replace(OUT)


if __name__ == "__main__":
    raise SystemExit(main())

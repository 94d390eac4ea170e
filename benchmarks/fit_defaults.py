"""Fit the shipped default factors per execution path to the published measurements and
rewrite catalog/calibration.toml (paths without measurements keep their prior).

    python benchmarks/fit_defaults.py
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from datetime import date
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.catalog import data_root, load_catalog  # noqa: E402
from advisor.engine.calibrate import calibrate_path  # noqa: E402
from advisor.engine.speed import execution_path  # noqa: E402
from published import (  # noqa: E402
    MIN_DEVICES_FOR_PATH_BAND,
    PUBLISHED_DATA_LOG_SD,
    PUBLISHED_DECODE_PARAMS,
    PUBLISHED_LOSS,
    cite_all,
    decode_params,
    held_out,
    heldout_bands,
    load_priors,
    load_rows,
)

from advisor.engine.calibrate import BAND_COVERAGE  # noqa: E402

HEADER = """# Default empirical factors per execution path, used for devices without their own runs.
# Written by `python benchmarks/fit_defaults.py` on {today}: least-squares fit (log space, with a
# weak prior) to the llama.cpp rows of ../shared/reference/measurements.csv. Paths without
# measurements keep their prior (basis says so).
# Bands: {coverage:.0%} coverage of held-out error. Each path's band is the conformal {coverage:.0%} quantile
# (the ceil({coverage:.0%} x (n + 1))-th smallest of n) of |log(predicted/measured)| over leave-one-device-out
# predictions of its rows (each device predicted by factors fitted without it), where >= {min_dev} devices
# share the path and it has >= 4 rows; else the same quantile pooled over every path's held-out rows,
# each device's rows weighing one device (engine.calibrate.band_from_heldout, published.heldout_bands).
# Checked by `python benchmarks/band_coverage.py`.
# Fields: see advisor/records.py PathFactors.
"""


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def main() -> int:
    catalog = load_catalog()
    rows = [r for r in load_rows(catalog) if r.observation is not None]
    by_path = defaultdict(list)
    for r in rows:
        by_path[execution_path(r.observation.device)].append(r)
    blocks = [HEADER.format(today=date.today().isoformat(), coverage=BAND_COVERAGE, min_dev=MIN_DEVICES_FOR_PATH_BAND)]
    priors = load_priors()
    heldout = held_out(rows, catalog, priors, cache={})
    bands = {m: heldout_bands(heldout, m) for m in ("decode", "prefill")}
    for metric, b in bands.items():
        print(f"{metric} bands ({BAND_COVERAGE:.0%} of held-out): " + ", ".join(f"{p} ±{w:.0%}" for p, w in sorted(b.own.items()))
              + f"; pooled ±{b.pooled:.0%}")

    # a path with nothing measured gets no narrower band than any measured path's (own or pooled)
    widest = {m: max([b.pooled, *b.own.values()]) for m, b in bands.items()}

    for path, prior in priors.items():
        group = by_path.get(path, [])
        if group:
            obs = [r.observation for r in group]
            n_dev = len({r.device_key for r in group})
            years = sorted({y for r in group for y in re.findall(r"\b(20\d\d)\b", r.raw.get("date", ""))})
            dated = "" if not years else f", measured {years[0]}" + (f"–{years[-1]}" if years[-1] != years[0] else "")
            basis = f"fit on {len(obs)} published measurements from {n_dev} device{'' if n_dev == 1 else 's'}{dated}"
            if not any(o.metric == "prefill" for o in obs):
                basis += f" (decode fitted, prefill prior: no published prefill row on this path; {prior.basis})"
            elif prior.prefill_fixed_s_per_layer is not None:
                # not "prior": the word would mark the prefill as unfitted (wording.speed_evidence)
                basis += (f" (a prompt's per-layer cost, {prior.prefill_fixed_s_per_layer * 1e6:.0f} µs, measured apart on "
                          "synthetic twins: python benchmarks/cuda_device.py fit-prefill)")
            fit = partial(calibrate_path, obs, prior, catalog.ggml_types, basis=basis, data_log_sd=PUBLISHED_DATA_LOG_SD,
                          loss=PUBLISHED_LOSS)
            factors, fd, fp = fit(decode_params=decode_params(path))
            source = cite_all(r.raw["source"] for r in group)
            print(f"{path:15s} n={len(obs):2d} decode log-rmse={fd.log_rmse:.3f} prefill log-rmse={fp.log_rmse:.3f} -> "
                  f"bw_eff={factors.bw_efficiency:.3f} fixed/layer={factors.fixed_s_per_layer * 1e6:.1f}us "
                  f"dec_comp={factors.decode_compute_efficiency:.3f} prefill_eff={factors.prefill_efficiency:.3f}")
        else:
            factors = prior.model_copy(update={"basis": f"prior, no published measurements for this path yet ({prior.basis})",
                                               "n_measurements": 0})
            source = prior.source or "benchmarks/priors.toml"
        (db, dk), (pb, pk) = bands["decode"].of(path), bands["prefill"].of(path)
        if not group:  # nothing measured on this path: the widest band, or the prior's when that is wider still
            db, dk = (prior.decode_band, "prior") if prior.decode_band > widest["decode"] else (widest["decode"], "widest")
            pb, pk = (prior.prefill_band, "prior") if prior.prefill_band > widest["prefill"] else (widest["prefill"], "widest")
        where = {"own": "this path", "widened": "all paths' widened to this path's own errors",
                 "prior": "the prior's, wider than all paths'",
                 "widest": "the widest of the measured paths' (this path has no measurement)"}
        factors = factors.model_copy(update={
            "decode_band": db, "prefill_band": pb,
            "basis": factors.basis + f"; {BAND_COVERAGE:.0%} bands from held-out error (decode: "
                     f"{where.get(dk, 'all paths')}, prefill: {where.get(pk, 'all paths')})",
        })
        blocks.append(
            "[[paths]]\n"
            f'path = "{path}"\n'
            f"bw_efficiency = {_fmt(factors.bw_efficiency)}\n"
            f"decode_compute_efficiency = {_fmt(factors.decode_compute_efficiency)}\n"
            f"prefill_efficiency = {_fmt(factors.prefill_efficiency)}\n"
            f"fixed_s_per_layer = {_fmt(factors.fixed_s_per_layer)}\n"
            + (f"prefill_fixed_s_per_layer = {_fmt(factors.prefill_fixed_s_per_layer)}\n"
               if factors.prefill_fixed_s_per_layer is not None else "")
            + f"prefill_kquant_factor = {_fmt(factors.prefill_kquant_factor)}\n"
            f"prefill_float_factor = {_fmt(factors.prefill_float_factor)}\n"
            f"decode_band = {_fmt(round(factors.decode_band, 3))}\n"
            f"prefill_band = {_fmt(round(factors.prefill_band, 3))}\n"
            f"n_measurements = {factors.n_measurements}\n"
            f'basis = "{factors.basis}"\n'
            f'source = "{source.replace(chr(34), chr(39))}"\n'
        )
        if group and decode_params(path) != PUBLISHED_DECODE_PARAMS:
            # the compute efficiency was fitted to llama.cpp's kernels: other runtimes start from the fit without it
            neutral = fit(decode_params=PUBLISHED_DECODE_PARAMS)[0]
            blocks[-1] += ("[paths.other_runtimes]\n"
                           f"bw_efficiency = {_fmt(neutral.bw_efficiency)}\n"
                           f"decode_compute_efficiency = {_fmt(neutral.decode_compute_efficiency)}\n"
                           f"fixed_s_per_layer = {_fmt(neutral.fixed_s_per_layer)}\n")
    target = data_root() / "catalog" / "calibration.toml"
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(blocks))
    tmp.replace(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

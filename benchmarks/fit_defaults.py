"""Fit the shipped default factors per execution path to the published measurements and
rewrite catalog/calibration.toml (paths without measurements keep their prior).

    python benchmarks/fit_defaults.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.catalog import data_root, load_catalog  # noqa: E402
from advisor.engine.calibrate import calibrate_path  # noqa: E402
from advisor.engine.speed import execution_path  # noqa: E402
from published import PUBLISHED_DATA_LOG_SD, PUBLISHED_DECODE_PARAMS, load_priors, load_rows  # noqa: E402

HEADER = """# Default empirical factors per execution path, used for devices without their own runs.
# Written by `python benchmarks/fit_defaults.py` on {today}: least-squares fit (log space, with a
# weak prior) to the llama.cpp rows of ../shared/reference/measurements.csv. Paths without
# measurements keep their prior (basis says so). Bands = residual spread (~80%).
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
    blocks = [HEADER.format(today=date.today().isoformat())]
    for path, prior in load_priors().items():
        group = by_path.get(path, [])
        if group:
            obs = [r.observation for r in group]
            n_dev = len({r.device_key for r in group})
            basis = f"fit on {len(obs)} published measurements from {n_dev} devices"
            factors, fd, fp = calibrate_path(obs, prior, catalog.ggml_types, basis=basis, decode_params=PUBLISHED_DECODE_PARAMS,
                                            data_log_sd=PUBLISHED_DATA_LOG_SD)
            source = "; ".join(sorted({r.raw["source"][:80] for r in group}))[:600]
            print(f"{path:15s} n={len(obs):2d} decode log-rmse={fd.log_rmse:.3f} prefill log-rmse={fp.log_rmse:.3f} -> "
                  f"bw_eff={factors.bw_efficiency:.3f} fixed/layer={factors.fixed_s_per_layer * 1e6:.1f}us "
                  f"dec_comp={factors.decode_compute_efficiency:.3f} prefill_eff={factors.prefill_efficiency:.3f}")
        else:
            factors = prior.model_copy(update={"basis": "prior (no published measurements for this path yet)", "n_measurements": 0})
            source = prior.source
        blocks.append(
            "[[paths]]\n"
            f'path = "{path}"\n'
            f"bw_efficiency = {_fmt(factors.bw_efficiency)}\n"
            f"decode_compute_efficiency = {_fmt(factors.decode_compute_efficiency)}\n"
            f"prefill_efficiency = {_fmt(factors.prefill_efficiency)}\n"
            f"fixed_s_per_layer = {_fmt(factors.fixed_s_per_layer)}\n"
            f"prefill_kquant_factor = {_fmt(factors.prefill_kquant_factor)}\n"
            f"prefill_float_factor = {_fmt(factors.prefill_float_factor)}\n"
            f"decode_band = {_fmt(round(factors.decode_band, 3))}\n"
            f"prefill_band = {_fmt(round(factors.prefill_band, 3))}\n"
            f"n_measurements = {factors.n_measurements}\n"
            f'basis = "{factors.basis}"\n'
            f'source = "{source.replace(chr(34), chr(39))}"\n'
        )
    target = data_root() / "catalog" / "calibration.toml"
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(blocks))
    tmp.replace(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`advisor calibrate`: fit the speed model's factors from the recorded runs — per device, and per
execution path from every device's runs — and store them; predictions then use them.

Lookup order for a device (``engine.fit.factors_for``): its own calibration, else its path's
calibration from recorded runs, else the shipped defaults (catalog/calibration.toml).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from advisor.catalog import Catalog, load_catalog
from advisor.engine.calibrate import Observation, calibrate_path, predict
from advisor.engine.speed import execution_path
from advisor.errors import BadInputError
from advisor.records import DeviceProfile, PathFactors, Workload
from advisor.store import Run, list_runs, save_calibration


def observations_from_run(run: Run, catalog: Catalog) -> list[Observation]:
    """The decode/prefill measurements of one recorded run, with the device and workload they
    were measured on. Runs of unknown models/quants or without a device profile are skipped."""
    if run.status != "ok" or not run.device_profile or run.model_id not in catalog.models or run.quant not in catalog.file_types:
        return []
    try:
        device = DeviceProfile.model_validate(run.device_profile)
    except ValidationError:
        return []
    model, ftype = catalog.models[run.model_id], catalog.file_types[run.quant]
    s, m = run.settings, run.measured
    threads = s.get("threads")
    ctx = int(s.get("n_ctx") or 4096)
    out = []
    if m.get("prefill_tokens_per_s"):
        p = int(s.get("prompt_tokens") or s.get("n_prompt") or 512)
        w = Workload(context_tokens=max(ctx, p + 1), prompt_tokens=p, output_tokens=1, threads=threads)
        out.append(Observation(model, ftype, device, w, "prefill", float(m["prefill_tokens_per_s"]), label=f"run {run.id}"))
    if m.get("decode_tokens_per_s"):
        p = int(s.get("prompt_tokens") or 1) if run.source == "validate" else 1
        g = int(s.get("output_tokens") or s.get("n_gen") or 128)
        w = Workload(context_tokens=max(ctx, p + g), prompt_tokens=p, output_tokens=g, threads=threads)
        out.append(Observation(model, ftype, device, w, "decode", float(m["decode_tokens_per_s"]), label=f"run {run.id}"))
    return out


@dataclass(frozen=True)
class CalibrationSummary:
    scope: str  # device | path
    key: str
    n_runs: int
    n_observations: int
    factors: PathFactors
    decode_mdape_before: float | None
    decode_mdape_after: float | None
    prefill_mdape_before: float | None
    prefill_mdape_after: float | None


def _mdape(obs: list[Observation], factors: PathFactors, catalog: Catalog, metric: str) -> float | None:
    sel = [o for o in obs if o.metric == metric]
    if not sel:
        return None
    return statistics.median(abs(predict(o, factors, catalog.ggml_types) - o.value) / o.value * 100 for o in sel)


def _fit_group(scope: str, key: str, runs: list[Run], obs: list[Observation], prior: PathFactors, catalog: Catalog,
               db: Path | None) -> CalibrationSummary:
    where = "this device" if scope == "device" else f"{key} devices"
    factors, fd, fp = calibrate_path(obs, prior, catalog.ggml_types, basis="")
    band = factors.decode_band if fd.n else factors.prefill_band
    factors = factors.model_copy(update={
        "path": prior.path,
        "basis": f"calibrated from {len(runs)} runs on {where}, ±{band * 100:.0f}%",
        "source": f"advisor calibrate ({scope} {key})",
    })
    summary = CalibrationSummary(
        scope=scope, key=key, n_runs=len(runs), n_observations=len(obs), factors=factors,
        decode_mdape_before=_mdape(obs, prior, catalog, "decode"), decode_mdape_after=_mdape(obs, factors, catalog, "decode"),
        prefill_mdape_before=_mdape(obs, prior, catalog, "prefill"), prefill_mdape_after=_mdape(obs, factors, catalog, "prefill"),
    )
    save_calibration(scope, key, factors, len(runs), {
        "n_observations": len(obs), "decode_log_rmse": fd.log_rmse, "prefill_log_rmse": fp.log_rmse,
        "param_se": {**fd.param_se, **fp.param_se},
        "decode_mdape_before": summary.decode_mdape_before, "decode_mdape_after": summary.decode_mdape_after,
        "prefill_mdape_before": summary.prefill_mdape_before, "prefill_mdape_after": summary.prefill_mdape_after,
    }, db)
    return summary


def run_calibration(*, device_id: str | None = None, db: Path | None = None, catalog: Catalog | None = None,
                    runs: Iterable[Run] | None = None) -> list[CalibrationSummary]:
    """Fit and store per-device and per-path factors from the recorded runs."""
    catalog = catalog or load_catalog()
    runs = list(runs if runs is not None else list_runs(status="ok", path=db))
    by_device: dict[str, list[tuple[Run, list[Observation]]]] = defaultdict(list)
    for r in runs:
        obs = observations_from_run(r, catalog)
        if obs:
            by_device[r.device_id].append((r, obs))
    if device_id is not None:
        if device_id not in by_device:
            raise BadInputError(f"no successful runs recorded for device '{device_id}'; run 'advisor validate' or 'advisor runs import' first")
        selected = {device_id: by_device[device_id]}
    else:
        selected = dict(by_device)
    if not selected:
        raise BadInputError("no successful runs to calibrate from; run 'advisor validate' or 'advisor runs import' first")
    out = []
    by_path: dict[str, list[tuple[Run, list[Observation]]]] = defaultdict(list)
    for dev, items in sorted(selected.items()):
        obs = [o for _, o_list in items for o in o_list]
        path = execution_path(obs[0].device)
        prior = catalog.calibration[path]
        out.append(_fit_group("device", dev, [r for r, _ in items], obs, prior, catalog, db))
        by_path[path].extend(items)
    if device_id is None:
        for path, items in sorted(by_path.items()):
            obs = [o for _, o_list in items for o in o_list]
            out.append(_fit_group("path", path, [r for r, _ in items], obs, catalog.calibration[path], catalog, db))
    return out

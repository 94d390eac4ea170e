"""The report's evidence: where each device's and model's figures come from, the user's measured
runs on the candidate devices, and a fingerprint of the catalog the figures came from."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from advisor.catalog import Catalog
from advisor.engine.evaluate import factors_for, quality_table
from advisor.records import DeviceProfile
from advisor.serialize import rounded


def evidence(devices: Sequence[DeviceProfile], models: Sequence[str], catalog: Catalog,
              overrides: Mapping[str, Any], deployments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per device its figures and their basis (under a target also the target's budget there),
    per model its size, license and quality score."""
    from advisor.engine.speed import device_power_basis, device_power_w, execution_path

    devs = []
    for d in devices:
        f = factors_for(d, catalog, overrides)
        browser = getattr((deployments or {}).get(d.id), "browser", None)
        calibrated = bool(overrides and d.id in overrides)
        devs.append({
            "device": d.id,
            "name": d.name,
            "source": d.source,
            "verification": d.verification,
            "price_usd": d.price.usd if d.price else None,
            "price_basis": d.price.basis if d.price else None,
            "price_note": d.price.note if d.price else "no price in the profile",
            "price_covers": d.price.covers if d.price else None,
            "usable_bytes": d.memory.usable,
            "usable_basis": d.memory.usable_basis,
            "usable_note": d.memory.usable_note,
            "bandwidth_gbs": d.memory.bandwidth_gbs,
            "bandwidth_basis": d.memory.bandwidth_basis,
            "bandwidth_note": d.memory.bandwidth_note,
            "power_typical_w": d.power.typical_w,
            "power_max_w": d.power.max_w,
            "power_basis": d.power.basis,
            "power_note": d.power.note,
            "energy_power_w": round(device_power_w(d), 3),  # the power of every energy figure and of tok/s per W
            "energy_basis": device_power_basis(d),
            # the sequential read the cold load time is based on (engine.load); None: not in the profile
            "storage_kind": d.storage.kind if d.storage else None,
            "storage_read_mb_s": d.storage.read_mb_s if d.storage else None,
            "storage_basis": d.storage.basis if d.storage else None,
            "storage_source": d.storage.source if d.storage else None,
            "storage_note": d.storage.note if d.storage else None,
            # under the browser target the cold load is a later visit, read from this browser's storage
            "storage_browser": browser.name if browser is not None else None,
            "storage_browser_note": (browser.storage_note or None) if browser is not None else None,
            "execution_path": execution_path(d),
            "speed_calibration": "calibrated" if calibrated else "path default",
            "speed_calibration_basis": f.basis,
            "speed_calibration_measurements": f.n_measurements,
            "speed_calibration_source": f.source,
            "measured_at": d.measured_at,
        })
        dep = (deployments or {}).get(d.id)
        if dep is not None:
            devs[-1]["target_budget"] = {
                "target": dep.target.id, "target_name": dep.target.name, "bytes": dep.device.memory.usable,
                "rule": dep.budget.rule, "basis": dep.budget.basis, "source": dep.budget.source,
                "browser": dep.browser.id if dep.browser is not None else None,
                "browser_name": dep.browser.name if dep.browser is not None else None,
            }
    qt = quality_table(catalog)
    mods = []
    for mid in models:
        m = catalog.models[mid]
        mods.append({
            "model": m.id, "name": m.name, "params": m.params, "license": m.license, "license_class": m.license_class,
            "quality_score": rounded("quality_score", qt.base[m.id].score), "quality_basis": qt.base[m.id].basis,
            "verified": m.verified, "source": m.source,
        })
    return {"devices": devs, "models": mods}


def measured_runs(device_ids: set[str]) -> list[dict[str, Any]]:
    """The user's measured validation runs on the candidate devices (none without a database)."""
    from advisor.store import db_path, list_runs

    if not db_path().exists():
        return []
    out = []
    for run in list_runs():
        if run.device_id not in device_ids:
            continue
        md, pd_ = run.measured.get("decode_tokens_per_s"), run.predicted.get("decode_tokens_per_s")
        mp, pp = run.measured.get("prefill_tokens_per_s"), run.predicted.get("prefill_tokens_per_s")
        out.append({
            "id": run.id, "created_at": run.created_at, "device": run.device_id, "model": run.model_id, "quant": run.quant,
            "status": run.status, "source": run.source, "synthetic": run.synthetic, "backend": run.backend,
            "measured_decode_tokens_per_s": md, "predicted_decode_tokens_per_s": pd_,
            "measured_prefill_tokens_per_s": mp, "predicted_prefill_tokens_per_s": pp,
            "decode_measured_over_predicted": rounded("decode_measured_over_predicted", md / pd_) if md and pd_ else None,
            "llama_cpp_version": run.llama_cpp_version, "error": run.error,
        })
    return out


def catalog_digest(catalog: Catalog) -> str:
    """A short fingerprint of the data the figures came from (models, quants, calibration, profiles,
    runtimes, targets)."""
    h = hashlib.sha256()
    for key in sorted(catalog.models):
        h.update(catalog.models[key].model_dump_json().encode())
    for key in sorted(catalog.file_types):
        h.update(catalog.file_types[key].model_dump_json().encode())
    for key in sorted(catalog.calibration):
        h.update(catalog.calibration[key].model_dump_json().encode())
    for key in sorted(catalog.devices):
        h.update(catalog.devices[key].model_dump_json().encode())
    for table in (getattr(catalog, "runtimes", None) or {}, getattr(catalog, "targets", None) or {}):
        for key in sorted(table):  # runtimes' formats and targets' budgets enter the figures too
            h.update(table[key].model_dump_json().encode())
    return h.hexdigest()[:12]

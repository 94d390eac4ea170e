"""Build the procurement report's data once; every format renders from it.

Every figure comes from the library: the model × quant choice and the rejections from
``api.run_recommend``, speed/memory/energy from ``engine.fit.evaluate`` (through ``recommend`` and
``analysis.compare_devices``), value metrics from ``analysis.compare_devices``, the quality/speed
frontier from ``analysis.pareto_front``. Added here is presentation only: fleet price = unit price ×
fleet size, sorting and ranking, the cheapest device per class, and the budget/power filters.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from advisor import __version__
from advisor.analysis import DeviceComparison, compare_devices, pareto_front, sibling_variants, what_if_more_ram
from advisor.api import calibration_overrides, run_recommend
from advisor.catalog import Catalog, load_device_file
from advisor.engine.fit import evaluate, factors_for, quality_table
from advisor.engine.recommend import Constraints, Recommendation
from advisor.errors import AdvisorError, UnknownIdError
from advisor.records import DeviceProfile, Estimate, Workload
from advisor.report.requirements import Requirements, field_error
from advisor.serialize import workload_dict
from advisor.units import GIB, format_seconds, format_size

REPORT_SCHEMA = "edge-model-advisor/report"
REPORT_SCHEMA_VERSION = 1

#: Rejections that mean "not asked for", not "cannot run": they never show up as a device's reason.
FILTER_REASONS = frozenset({"family", "license"})

STATUS_WORDS = {
    "meets": "meets", "speed": "too slow", "ttft": "first token too late", "memory": "does not fit",
    "context": "context too long", "quality": "below quality floor", "budget": "over budget",
    "power": "over power limit",
}

RANK_WORDS = {
    "cost": "lowest unit price", "fleet_cost": "lowest fleet price",
    "energy": "lowest energy per 1,000 responses", "speed": "fastest decode",
}


# --------------------------------------------------------------------------- the data


@dataclass
class ReportData:
    """Everything a report shows, as JSON-ready values (numbers unformatted, units in the keys)."""

    title: str
    generated_at: str
    versions: dict[str, Any]
    requirements: dict[str, Any]
    workload: dict[str, Any]
    requirement_text: str
    summary: str
    recommended: dict[str, Any] | None
    ranking: list[dict[str, Any]]
    cheapest_per_class: list[dict[str, Any]]
    comparison: list[dict[str, Any]]
    rejected_devices: list[dict[str, Any]]
    what_if: list[dict[str, Any]]
    charts: dict[str, Any]
    evidence: dict[str, Any]
    runs: list[dict[str, Any]]
    assumptions: list[str]
    n_candidate_devices: int = 0
    n_meeting_devices: int = 0

    @property
    def any_meets(self) -> bool:
        return self.recommended is not None

    def to_dict(self) -> dict[str, Any]:
        out = {"schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION}
        out.update(asdict(self))
        return out


#: The comparison table's columns: (key, header). CSV/XLSX use the keys, documents the headers.
COMPARISON_COLUMNS: list[tuple[str, str]] = [
    ("device", "device"), ("device_class", "class"), ("model", "model"), ("quant", "quant"),
    ("status", "status"), ("fit", "fit"), ("memory_bytes", "memory"), ("usable_bytes", "usable"),
    ("headroom_bytes", "headroom"), ("decode_tokens_per_s", "decode tok/s"), ("decode_low", "decode low"),
    ("decode_high", "decode high"), ("prefill_tokens_per_s", "prefill tok/s"), ("prefill_low", "prefill low"),
    ("prefill_high", "prefill high"), ("ttft_s", "TTFT s"), ("response_s", "response s"),
    ("energy_wh_per_1000_responses", "Wh / 1,000 responses"), ("unit_price_usd", "unit $"),
    ("fleet_price_usd", "fleet $"), ("tokens_per_s_per_dollar", "tok/s per $"),
    ("tokens_per_s_per_watt", "tok/s per W"), ("quality_score", "quality"), ("meets", "meets"),
    ("pick", "device pick"), ("reason", "why"), ("speed_basis", "speed basis"), ("price_basis", "price basis"),
]


@dataclass(frozen=True)
class _Candidates:
    models: tuple[str, ...]
    devices: tuple[DeviceProfile, ...]
    constraints: Constraints


# --------------------------------------------------------------------------- resolution


def _resolve(req: Requirements, catalog: Catalog) -> _Candidates:
    """Ids → records; unknown ids raise errors that name the file field (or the option)."""
    models: list[str] = []
    for m in req.models:
        try:
            models.append(catalog.model(m).id)
        except UnknownIdError as exc:
            raise _id_error(req, "models", exc, "--model") from None
    quants: list[str] = []
    for q in req.quants:
        try:
            quants.append(catalog.file_type(q).id)
        except UnknownIdError as exc:
            raise _id_error(req, "quants", exc, "--quant") from None
    pool: dict[str, DeviceProfile] = {}
    for d in req.devices:
        try:
            dev = catalog.device(d)
        except UnknownIdError as exc:
            raise _id_error(req, "devices", exc, "--device") from None
        pool[dev.id] = dev
    for cls in req.device_classes:
        members = [d for d in catalog.devices.values() if d.device_class == cls]
        if not members:
            raise field_error(req, "device_classes", f"no device profiles of class '{cls}'; see 'advisor devices'")
        for dev in sorted(members, key=lambda d: d.id):
            pool.setdefault(dev.id, dev)
    for f in req.device_files:
        dev = load_device_file(f)
        pool[dev.id] = dev
    if req.all_devices or not pool:
        for dev in sorted(catalog.devices.values(), key=lambda d: d.id):
            pool.setdefault(dev.id, dev)
    constraints = Constraints(
        min_decode_tps=req.min_tps, max_ttft_s=req.max_ttft_s,
        model_ids=frozenset(models) or None, quant_ids=frozenset(quants) or None,
        quality_floor=req.quality_floor,
    )
    return _Candidates(tuple(dict.fromkeys(models)), tuple(pool.values()), constraints)


def _id_error(req: Requirements, field_name: str, exc: UnknownIdError, option: str) -> AdvisorError:
    """In a file, name the file and the field; on the command line the catalog's message is enough."""
    if req.origin:
        return field_error(req, field_name, str(exc))  # type: ignore[return-value]
    return exc


# --------------------------------------------------------------------------- rows


def _compare(model_id: str, quant_id: str, device: DeviceProfile, workload: Workload, catalog: Catalog,
             overrides: Mapping[str, Any]) -> DeviceComparison:
    """``analysis.compare_devices`` for one device, with the user's calibrations when it takes them."""
    kwargs: dict[str, Any] = {}
    if overrides and "overrides" in inspect.signature(compare_devices).parameters:
        kwargs["overrides"] = overrides
    return compare_devices(model_id, quant_id, [device], workload, catalog, **kwargs)[0]


def _r(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def _row(device: DeviceProfile, est: Estimate | None, comp: DeviceComparison | None, model_id: str,
         status: str, reason: str, fleet_size: int, catalog: Catalog) -> dict[str, Any]:
    model = catalog.models[model_id]
    sp = est.speed if est else None
    m = est.memory if est else None
    price = device.price.usd if device.price else None
    return {
        "device": device.id,
        "device_name": device.name,
        "device_class": device.device_class,
        "model": model_id,
        "model_name": model.name,
        "quant": est.quant_id if est else None,
        "status": status,
        "fit": est.fit if est else None,
        "memory_bytes": m.total_bytes if m else None,
        "weights_bytes": m.weights_bytes if m else None,
        "kv_cache_bytes": m.kv_cache_bytes if m else None,
        "compute_buffer_bytes": m.compute_buffer_bytes if m else None,
        "overhead_bytes": m.overhead_bytes if m else None,
        "usable_bytes": est.usable_bytes if est else device.memory.usable,
        "headroom_bytes": est.headroom_bytes if est else None,
        "decode_tokens_per_s": _r(sp.decode_tokens_per_s, 3) if sp else None,
        "decode_low": _r(sp.decode_band.low, 3) if sp else None,
        "decode_high": _r(sp.decode_band.high, 3) if sp else None,
        "prefill_tokens_per_s": _r(sp.prefill_tokens_per_s, 3) if sp else None,
        "prefill_low": _r(sp.prefill_band.low, 3) if sp else None,
        "prefill_high": _r(sp.prefill_band.high, 3) if sp else None,
        "ttft_s": _r(sp.ttft_s, 4) if sp else None,
        "response_s": _r(sp.response_s, 3) if sp else None,
        "energy_wh_per_1000_responses": _r(comp.energy_wh_per_1000_responses, 3) if comp and sp else None,
        "unit_price_usd": price,
        "fleet_price_usd": _r(price * fleet_size, 2) if price is not None else None,
        "tokens_per_s_per_dollar": _r(comp.tokens_per_s_per_dollar, 5) if comp and sp else None,
        "tokens_per_s_per_watt": _r(comp.tokens_per_s_per_watt, 4) if comp and sp else None,
        "quality_score": _r(est.quality_score, 2) if est else None,
        "meets": status == "meets",
        "pick": False,
        "reason": reason,
        "speed_basis": sp.basis if sp else None,
        "price_basis": device.price.basis if device.price else None,
    }


def _device_rows(device: DeviceProfile, rec: Recommendation, cand: _Candidates, req: Requirements,
                 workload: Workload, catalog: Catalog, overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for est in rec.ranked:
        comp = _compare(est.model_id, est.quant_id, device, workload, catalog, overrides)
        rows.append(_row(device, est, comp, est.model_id, "meets", "meets the requirement", req.fleet_size, catalog))
    shown = set(cand.models) if cand.models else {r["model"] for r in rows}
    for rej in rec.rejected:
        if rej.reason in FILTER_REASONS or rej.model_id not in shown:
            continue
        est = None
        comp = None
        if rej.quant_id is not None:
            est = evaluate(catalog.models[rej.model_id], catalog.file_types[rej.quant_id], device, workload, catalog,
                           overrides=overrides)
            if est.speed is not None:
                comp = _compare(rej.model_id, rej.quant_id, device, workload, catalog, overrides)
        rows.append(_row(device, est, comp, rej.model_id, STATUS_WORDS.get(rej.reason, rej.reason), rej.detail,
                         req.fleet_size, catalog))
    return rows


def _purchase_check(device: DeviceProfile, req: Requirements) -> tuple[str, str] | None:
    """The fleet's budget and the per-unit power limit (reason key, detail) or None."""
    if req.budget_usd is not None:
        if device.price is None:
            return "budget", "no price in the profile, so the budget cannot be checked"
        fleet = device.price.usd * req.fleet_size
        if fleet > req.budget_usd:
            return "budget", f"fleet price ${fleet:,.0f} ({req.fleet_size:,} × ${device.price.usd:,.0f}) exceeds the budget ${req.budget_usd:,.0f}"
    if req.power_limit_w is not None and device.power.max_w > req.power_limit_w:
        return "power", f"draws up to {device.power.max_w:g} W, over the {req.power_limit_w:g} W limit per unit"
    return None


def _rank_key(rank_by: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    price = row["unit_price_usd"]
    energy = row["energy_wh_per_1000_responses"]
    tps = row["decode_tokens_per_s"] or 0.0
    if rank_by in ("cost", "fleet_cost"):
        return (price is None, price or 0.0, -tps, row["device"])
    if rank_by == "energy":
        return (energy is None, energy or 0.0, price or 0.0, row["device"])
    return (-tps, price is None, price or 0.0, row["device"])


# --------------------------------------------------------------------------- hardware question


def cheapest_per_class(ranking: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lowest unit price among the devices that meet the requirement, per device class."""
    best: dict[str, Mapping[str, Any]] = {}
    for row in ranking:
        if row["unit_price_usd"] is None:
            continue
        cur = best.get(row["device_class"])
        if cur is None or (row["unit_price_usd"], row["device"]) < (cur["unit_price_usd"], cur["device"]):
            best[row["device_class"]] = row
    keys = ("device_class", "device", "device_name", "model", "quant", "unit_price_usd", "fleet_price_usd",
            "decode_tokens_per_s", "ttft_s", "energy_wh_per_1000_responses")
    return [{k: best[c][k] for k in keys} for c in sorted(best)]


# --------------------------------------------------------------------------- text


def requirement_text(req: Requirements, models: Sequence[str]) -> str:
    parts = []
    if req.min_tps is not None:
        parts.append(f"≥{req.min_tps:g} tok/s decode")
    if req.max_ttft_s is not None:
        parts.append(f"first token within {format_seconds(req.max_ttft_s)}")
    parts.append(f"{req.context_tokens:,}-token context, {req.prompt_tokens:,}-token prompt, {req.output_tokens:,}-token response")
    if models:
        parts.append("models: " + ", ".join(models))
    if req.quality_floor is not None:
        parts.append(f"quality ≥ {req.quality_floor:g}/100")
    if req.budget_usd is not None:
        parts.append(f"budget ${req.budget_usd:,.0f} for the fleet")
    if req.power_limit_w is not None:
        parts.append(f"≤{req.power_limit_w:g} W per unit")
    return "; ".join(parts)


def _tps(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _money(v: float | None) -> str:
    return "price unknown" if v is None else f"${v:,.0f}"


def _summary(req: Requirements, ranking: Sequence[Mapping[str, Any]], rejected: Sequence[Mapping[str, Any]],
             n_devices: int, catalog: Catalog) -> str:
    units = f"{req.fleet_size:,} unit{'s' if req.fleet_size != 1 else ''}"
    need = f"≥{req.min_tps:g} tok/s" if req.min_tps is not None else "the workload"
    if not ranking:
        closest = rejected[0] if rejected else None
        tail = f" The closest miss: {closest['device_name']} — {closest['summary']}." if closest else ""
        return (f"None of the {n_devices} candidate devices meets the requirement ({requirement_text(req, [])}) "
                f"with the candidate models.{tail}")
    top = ranking[0]
    dev_name = top["device_name"]
    model = catalog.models[top["model"]].name
    fleet = f" ({_money(top['fleet_price_usd'])} for {units})" if top["fleet_price_usd"] is not None else ""
    s1 = (f"Recommended: {dev_name} running {model} in {top['quant']}, at {_money(top['unit_price_usd'])} per unit{fleet}; "
          f"it decodes ~{_tps(top['decode_tokens_per_s'])} tok/s ({_tps(top['decode_low'])}–{_tps(top['decode_high'])}) "
          f"against {need}, answers a {req.prompt_tokens:,}-token prompt in ~{format_seconds(top['ttft_s'])} and "
          f"leaves {format_size(top['headroom_bytes'])} of memory headroom.")
    s2 = f"It has the {RANK_WORDS[req.rank_by]} of the {len(ranking)} of {n_devices} candidate devices that meet the requirement"
    if len(ranking) > 1:
        nxt = ranking[1]
        s2 += (f"; next is {nxt['device_name']} ({_money(nxt['unit_price_usd'])}, ~{_tps(nxt['decode_tokens_per_s'])} tok/s"
               + (f", {nxt['energy_wh_per_1000_responses']:.1f} Wh per 1,000 responses" if req.rank_by == "energy"
                  and nxt["energy_wh_per_1000_responses"] is not None else "") + ")")
    s2 += "."
    caution = ""
    if req.min_tps is not None and top["decode_low"] is not None and top["decode_low"] < req.min_tps:
        caution = (f" Its ~80% band starts below the required {req.min_tps:g} tok/s, so measure one unit "
                   "('advisor validate') before ordering.")
    if rejected:
        names = "; ".join(f"{r['device_name']} ({_first_reason(r)})" for r in rejected[:2])
        more = f"; and {len(rejected) - 2} more (listed below)" if len(rejected) > 2 else ""
        s3 = f" Cannot meet it: {names}{more}."
    else:
        s3 = ""
    return f"{s1} {s2}{caution}{s3}"


def _first_reason(rejected: Mapping[str, Any]) -> str:
    reasons = rejected["reasons"]
    if not reasons:
        return rejected["summary"]
    first = reasons[0]
    return f"{first['model']} {first['status']}" if len(reasons) > 1 else f"{first['model']}: {first['detail']}"


def _assumptions(req: Requirements, cand: _Candidates, catalog: Catalog) -> list[str]:
    quants = sorted(cand.constraints.quant_ids) if cand.constraints.quant_ids else [
        f.id for f in catalog.file_types.values() if f.common]
    out = [
        (f"Workload: {requirement_text(req, list(cand.models))}; KV cache {req.kv_cache_type}; one request at a time "
        "(batch 1) with the model already loaded; threads: the device's big cores."),
        ("Each device is represented by its best candidate: the library's recommend ranking (comfortable fit first, "
        "then quality score, then decode speed) among the models and quantizations that meet the requirement."),
        f"Quantizations tried: {', '.join(quants)} (llama.cpp GGUF file types).",
        (f"Devices are ranked by {RANK_WORDS[req.rank_by]}; fleet price = unit price × {req.fleet_size:,} units "
        "(hardware only: no shipping, power supplies, enclosures, storage, support or taxes)."),
        ("Energy per 1,000 responses = the device's power while generating (typical figure, else a share of its maximum) × "
        "the time for one prompt and response, × 1,000; idle power between requests is not included."),
        "Tokens/s per dollar and per watt divide the decode speed by the unit price and by the device's typical power.",
        ("Decode and prefill figures carry ~80% confidence bands (low–high) from the spread of the calibration fit; "
        "the basis of each figure is listed under Evidence."),
        "Prices are street-price figures from the device profiles; their basis (datasheet/estimated) is shown per device.",
        ("Usable memory is what one app may allocate after the OS; a 'tight' fit uses more than the comfortable share "
        "of it and leaves no room for other apps or longer chats."),
    ]
    if req.power_limit_w is not None:
        out.append(f"The power limit ({req.power_limit_w:g} W per unit) is compared with each device's maximum draw (power.max_w).")
    if req.budget_usd is not None:
        out.append(f"The budget (${req.budget_usd:,.0f}) is for the whole fleet of {req.fleet_size:,} units.")
    return out


# --------------------------------------------------------------------------- evidence


def _evidence(devices: Sequence[DeviceProfile], models: Sequence[str], catalog: Catalog,
              overrides: Mapping[str, Any]) -> dict[str, Any]:
    from advisor.engine.speed import execution_path

    devs = []
    for d in devices:
        f = factors_for(d, catalog, overrides)
        calibrated = bool(overrides and d.id in overrides)
        devs.append({
            "device": d.id,
            "name": d.name,
            "source": d.source,
            "verification": d.verification,
            "price_usd": d.price.usd if d.price else None,
            "price_basis": d.price.basis if d.price else None,
            "price_note": d.price.note if d.price else "no price in the profile",
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
            "execution_path": execution_path(d),
            "speed_calibration": "calibrated" if calibrated else "path default",
            "speed_calibration_basis": f.basis,
            "speed_calibration_measurements": f.n_measurements,
            "speed_calibration_source": f.source,
            "measured_at": d.measured_at,
        })
    qt = quality_table(catalog)
    mods = []
    for mid in models:
        m = catalog.models[mid]
        mods.append({
            "model": m.id, "name": m.name, "params": m.params, "license": m.license, "license_class": m.license_class,
            "quality_score": _r(qt.base[m.id].score, 2), "quality_basis": qt.base[m.id].basis,
            "verified": m.verified, "source": m.source,
        })
    return {"devices": devs, "models": mods}


def _runs(device_ids: set[str]) -> list[dict[str, Any]]:
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
            "decode_measured_over_predicted": _r(md / pd_, 3) if md and pd_ else None,
            "llama_cpp_version": run.llama_cpp_version, "error": run.error,
        })
    return out


def catalog_digest(catalog: Catalog) -> str:
    """A short fingerprint of the data the figures came from (models, quants, calibration, profiles)."""
    h = hashlib.sha256()
    for key in sorted(catalog.models):
        h.update(catalog.models[key].model_dump_json().encode())
    for key in sorted(catalog.file_types):
        h.update(catalog.file_types[key].model_dump_json().encode())
    for key in sorted(catalog.calibration):
        h.update(catalog.calibration[key].model_dump_json().encode())
    for key in sorted(catalog.devices):
        h.update(catalog.devices[key].model_dump_json().encode())
    return h.hexdigest()[:12]


# --------------------------------------------------------------------------- charts


def _charts(rows: Sequence[Mapping[str, Any]], ranking: Sequence[Mapping[str, Any]],
            estimates: Mapping[int, Estimate], req: Requirements) -> dict[str, Any]:
    running = [r for r in rows if r["decode_tokens_per_s"] is not None]
    front_ids = {id(e) for e in pareto_front(estimates.values())}
    points = []
    for i, r in enumerate(rows):
        est = estimates.get(i)
        if est is None or r["decode_tokens_per_s"] is None:
            continue
        points.append({
            "label": f"{r['device']} · {r['model']} {r['quant']}", "device": r["device"], "model": r["model"],
            "quant": r["quant"], "decode_tokens_per_s": r["decode_tokens_per_s"], "quality_score": r["quality_score"],
            "meets": r["meets"], "on_front": id(est) in front_ids,
        })
    points.sort(key=lambda p: (-p["decode_tokens_per_s"], p["label"]))
    by_device: dict[str, Mapping[str, Any]] = {}
    for r in rows:  # the device's pick, else its fastest running row
        cur = by_device.get(r["device"])
        if cur is None or (r["pick"] and not cur["pick"]) or (
            not cur["pick"] and (r["decode_tokens_per_s"] or 0) > (cur["decode_tokens_per_s"] or 0)):
            by_device[r["device"]] = r
    cost_speed = [
        {"device": r["device"], "device_class": r["device_class"], "model": r["model"], "quant": r["quant"],
         "unit_price_usd": r["unit_price_usd"], "decode_tokens_per_s": r["decode_tokens_per_s"],
         "decode_low": r["decode_low"], "decode_high": r["decode_high"], "meets": r["meets"]}
        for r in by_device.values() if r["unit_price_usd"] is not None and r["decode_tokens_per_s"] is not None
    ]
    order = {r["device"]: i for i, r in enumerate(ranking)}
    cost_speed.sort(key=lambda p: (p["unit_price_usd"], p["device"]))
    memory = [
        {"label": f"{r['device']} · {r['model']} {r['quant']}", "device": r["device"], "model": r["model"],
         "quant": r["quant"], "weights_bytes": r["weights_bytes"], "kv_cache_bytes": r["kv_cache_bytes"],
         "compute_buffer_bytes": r["compute_buffer_bytes"], "overhead_bytes": r["overhead_bytes"],
         "usable_bytes": r["usable_bytes"], "meets": r["meets"]}
        for r in sorted(by_device.values(), key=lambda r: (r["device"] not in order, order.get(r["device"], 0), r["device"]))
        if r["weights_bytes"] is not None
    ][:MAX_MEMORY_BARS]
    return {
        "pareto": {"points": points, "n_running": len(running)},
        "cost_speed": {"points": cost_speed, "min_tps": req.min_tps},
        "memory": {"bars": memory},
    }


#: The memory chart shows one bar per device; beyond this many it would be unreadable.
MAX_MEMORY_BARS = 30


# --------------------------------------------------------------------------- the builder


def build_report(requirements: Requirements, catalog: Catalog, *, generated_at: datetime | None = None) -> ReportData:
    """Evaluate the requirements against the catalog; the one input of every renderer."""
    req = requirements
    cand = _resolve(req, catalog)
    workload = req.workload()
    overrides = calibration_overrides()

    rows: list[dict[str, Any]] = []
    estimates: dict[int, Estimate] = {}
    ranking: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for device in cand.devices:
        rec = run_recommend(device, workload, cand.constraints, catalog)
        drows = _device_rows(device, rec, cand, req, workload, catalog, overrides)
        purchase = _purchase_check(device, req)
        if purchase is not None:
            for r in drows:
                if r["meets"]:
                    r["meets"], r["status"], r["reason"] = False, STATUS_WORDS[purchase[0]], purchase[1]
        passing = [r for r in drows if r["meets"]]
        if passing:
            passing[0]["pick"] = True
            ranking.append(passing[0])
        else:
            reasons = [{"model": r["model"], "quant": r["quant"], "status": r["status"], "detail": r["reason"]} for r in drows]
            if not drows:
                reasons = [{"model": x.model_id, "quant": x.quant_id, "status": STATUS_WORDS.get(x.reason, x.reason),
                            "detail": x.detail} for x in rec.rejected if x.reason not in FILTER_REASONS][:5]
            rejected.append({
                "device": device.id, "device_name": device.name, "device_class": device.device_class,
                "unit_price_usd": device.price.usd if device.price else None,
                "summary": _rejection_summary(reasons),
                "reasons": reasons,
            })
        base = len(rows)
        rows.extend(drows)
        for i, est in enumerate(rec.ranked):  # the Pareto front needs the estimates; ranked rows come first
            estimates[base + i] = est

    ranking.sort(key=lambda r: _rank_key(req.rank_by, r))
    order = {r["device"]: i for i, r in enumerate(ranking)}
    rejected.sort(key=lambda r: (r["unit_price_usd"] is None, r["unit_price_usd"] or 0.0, r["device"]))
    rej_order = {r["device"]: i for i, r in enumerate(rejected)}
    # the table: meeting devices in rank order, then the others; each device's pick first
    indexed = sorted(enumerate(rows), key=lambda ir: (
        ir[1]["device"] not in order, order.get(ir[1]["device"], rej_order.get(ir[1]["device"], 0)),
        not ir[1]["pick"], not ir[1]["meets"], ir[0]))
    new_index = {old: new for new, (old, _) in enumerate(indexed)}
    rows = [r for _, r in indexed]
    estimates = {new_index[k]: v for k, v in estimates.items()}

    shown_models = list(cand.models) or sorted({r["model"] for r in rows if r["meets"]})
    recommended = dict(ranking[0]) if ranking else None
    summary = _summary(req, ranking, rejected, len(cand.devices), catalog)
    now = (generated_at or datetime.now(UTC)).astimezone(UTC)
    return ReportData(
        title=req.title or _default_title(req, cand),
        generated_at=now.isoformat(timespec="seconds"),
        versions={
            "tool": f"edge-model-advisor {__version__}",
            "catalog": f"{len(catalog.models)} models, {len(catalog.file_types)} file types, {len(catalog.devices)} device profiles",
            "catalog_digest": catalog_digest(catalog),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        },
        requirements=req.public_dict(),
        workload=workload_dict(workload),
        requirement_text=requirement_text(req, shown_models if cand.models else []),
        summary=summary,
        recommended=recommended,
        ranking=[_ranking_entry(i, r) for i, r in enumerate(ranking, 1)],
        cheapest_per_class=cheapest_per_class(ranking),
        comparison=rows,
        rejected_devices=rejected,
        what_if=what_if_more_ram(cand.devices, workload, cand.constraints, catalog, requested=cand.models),
        charts=_charts(rows, ranking, estimates, req),
        evidence=_evidence(cand.devices, shown_models, catalog, overrides),
        runs=_runs({d.id for d in cand.devices}),
        assumptions=_assumptions(req, cand, catalog),
        n_candidate_devices=len(cand.devices),
        n_meeting_devices=len(ranking),
    )


def _ranking_entry(rank: int, r: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("device", "device_name", "device_class", "model", "quant", "unit_price_usd", "fleet_price_usd",
            "decode_tokens_per_s", "decode_low", "decode_high", "ttft_s", "energy_wh_per_1000_responses",
            "tokens_per_s_per_dollar", "tokens_per_s_per_watt", "headroom_bytes")
    return {"rank": rank, **{k: r[k] for k in keys}}


def _rejection_summary(reasons: Sequence[Mapping[str, Any]]) -> str:
    if not reasons:
        return "no candidate model"
    if len(reasons) <= 3:
        return "; ".join(f"{x['model']}: {x['detail']}" for x in reasons)
    first = reasons[0]
    return f"{first['model']}: {first['detail']}; and {len(reasons) - 1} more models"


def _default_title(req: Requirements, cand: _Candidates) -> str:
    n = len(cand.devices)
    return f"Device comparison for {req.fleet_size:,} unit{'s' if req.fleet_size != 1 else ''} ({n} candidate device{'s' if n != 1 else ''})"


__all__ = [
    "COMPARISON_COLUMNS",
    "GIB",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "ReportData",
    "build_report",
    "cheapest_per_class",
    "sibling_variants",
    "what_if_more_ram",
]

"""Build the procurement report's data once; every format renders from it.

Every figure comes from the library: the model × quant choice and the rejections from
``api.run_recommend``, speed/memory/energy from ``engine.fit.evaluate`` (through ``recommend`` and
``analysis.compare_devices``), value metrics from ``analysis.compare_devices``, fleet prices from
``engine.fleet``, the cheapest device per class from ``engine.recommend.cheapest_by_class``, the
quality/speed frontier from ``analysis.pareto_front``. Added here: sorting and ranking, and the
budget/power filters. The sentences are in ``report.summary``, the evidence in ``report.evidence``,
the chart data in ``report.chart_data``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from advisor import __version__
from advisor.analysis import DeviceComparison, compare_devices, what_if_more_ram
from advisor.api import calibration_overrides, run_recommend
from advisor.catalog import Catalog, load_device_file
from advisor.engine.fit import evaluate
from advisor.engine.fleet import fleet_quote
from advisor.engine.recommend import Constraints, Recommendation, cheapest_by_class
from advisor.errors import AdvisorError, UnknownIdError
from advisor.records import DeviceProfile, Estimate, Workload
from advisor.report.chart_data import chart_data
from advisor.report.evidence import catalog_digest, evidence, measured_runs
from advisor.report.requirements import Requirements, field_error
from advisor.report.summary import RANK_WORDS, assumptions, default_title, rejection_summary, requirement_text, summary
from advisor.serialize import DECIMALS, workload_dict
from advisor.wording import reason_text

REPORT_SCHEMA = "edge-model-advisor/report"
REPORT_SCHEMA_VERSION = 1

STATUS_WORDS = {
    "meets": "meets", "speed": "too slow", "ttft": "first token too late", "memory": "does not fit",
    "context": "context too long", "quality": "below quality floor", "budget": "over budget",
    "power": "over power limit",
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


#: The comparison table's columns: (key, header). CSV uses the keys (units in the names), XLSX the
#: headers (units in brackets; sizes shown in GiB there).
COMPARISON_COLUMNS: list[tuple[str, str]] = [
    ("device", "device"), ("device_class", "class"), ("model", "model"), ("quant", "quant"),
    ("status", "status"), ("fit", "memory fit"), ("memory_bytes", "memory (GiB)"), ("usable_bytes", "usable (GiB)"),
    ("headroom_bytes", "headroom (GiB)"), ("decode_tokens_per_s", "decode (tok/s)"), ("decode_low", "decode low (tok/s)"),
    ("decode_high", "decode high (tok/s)"), ("prefill_tokens_per_s", "prefill (tok/s)"), ("prefill_low", "prefill low (tok/s)"),
    ("prefill_high", "prefill high (tok/s)"), ("ttft_s", "TTFT (s)"), ("response_s", "response (s)"),
    ("energy_wh_per_1000_responses", "energy (Wh / 1,000 responses)"), ("unit_price_usd", "unit price (USD)"),
    ("fleet_price_usd", "fleet price (USD)"), ("tokens_per_s_per_dollar", "tok/s per USD"),
    ("tokens_per_s_per_watt", "tok/s per W"), ("quality_score", "quality (0-100)"), ("meets", "meets"),
    ("pick", "device pick"), ("reason", "why"), ("speed_basis", "speed basis"), ("price_basis", "price basis"),
    ("price_covers", "price covers"),
]


@dataclass(frozen=True)
class Candidates:
    models: tuple[str, ...]
    devices: tuple[DeviceProfile, ...]
    constraints: Constraints


# --------------------------------------------------------------------------- resolution


def _resolve(req: Requirements, catalog: Catalog) -> Candidates:
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
    return Candidates(tuple(dict.fromkeys(models)), tuple(pool.values()), constraints)


def _id_error(req: Requirements, field_name: str, exc: UnknownIdError, option: str) -> AdvisorError:
    """In a file, name the file and the field; on the command line the catalog's message is enough."""
    if req.origin:
        return field_error(req, field_name, str(exc))  # type: ignore[return-value]
    return exc


# --------------------------------------------------------------------------- rows


def _compare(model_id: str, quant_id: str, device: DeviceProfile, workload: Workload, catalog: Catalog,
             overrides: Mapping[str, Any]) -> DeviceComparison:
    """``analysis.compare_devices`` for one device, with the user's calibrations."""
    return compare_devices(model_id, quant_id, [device], workload, catalog, overrides=overrides)[0]


@dataclass
class ComparisonRow:
    """One device × model in the comparison table (figures unrounded; ``to_dict`` rounds them once,
    by ``serialize.DECIMALS``). ``pick``, ``meets``, ``status`` and ``reason`` change as the
    builder applies the budget and power limits and chooses each device's pick."""

    device: str
    device_name: str
    device_class: str
    model: str
    model_name: str
    quant: str | None
    status: str
    fit: str | None
    memory_bytes: int | None
    weights_bytes: int | None
    kv_cache_bytes: int | None
    compute_buffer_bytes: int | None
    overhead_bytes: int | None
    usable_bytes: int
    headroom_bytes: int | None
    decode_tokens_per_s: float | None
    decode_low: float | None
    decode_high: float | None
    prefill_tokens_per_s: float | None
    prefill_low: float | None
    prefill_high: float | None
    ttft_s: float | None
    response_s: float | None
    energy_wh_per_1000_responses: float | None
    unit_price_usd: float | None
    fleet_price_usd: float | None
    tokens_per_s_per_dollar: float | None
    tokens_per_s_per_watt: float | None
    quality_score: float | None
    meets: bool
    pick: bool
    reason: str
    speed_basis: str | None
    price_basis: str | None
    price_covers: str | None

    def to_dict(self) -> dict[str, Any]:
        """The row as the report's JSON/CSV/XLSX see it: every figure rounded by ``DECIMALS``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = round(v, DECIMALS[f.name]) if f.name in DECIMALS and v is not None else v
        return out


def _row(device: DeviceProfile, est: Estimate | None, comp: DeviceComparison | None, model_id: str,
         status: str, reason: str, fleet_size: int, catalog: Catalog) -> ComparisonRow:
    sp = est.speed if est else None
    m = est.memory if est else None
    quote = fleet_quote(device, est, fleet_size)
    return ComparisonRow(
        device=device.id, device_name=device.name, device_class=device.device_class,
        model=model_id, model_name=catalog.models[model_id].name, quant=est.quant_id if est else None,
        status=status, fit=est.fit if est else None,
        memory_bytes=m.total_bytes if m else None, weights_bytes=m.weights_bytes if m else None,
        kv_cache_bytes=m.kv_cache_bytes if m else None, compute_buffer_bytes=m.compute_buffer_bytes if m else None,
        overhead_bytes=m.overhead_bytes if m else None,
        usable_bytes=est.usable_bytes if est else device.memory.usable,
        headroom_bytes=est.headroom_bytes if est else None,
        decode_tokens_per_s=sp.decode_tokens_per_s if sp else None,
        decode_low=sp.decode_band.low if sp else None, decode_high=sp.decode_band.high if sp else None,
        prefill_tokens_per_s=sp.prefill_tokens_per_s if sp else None,
        prefill_low=sp.prefill_band.low if sp else None, prefill_high=sp.prefill_band.high if sp else None,
        ttft_s=sp.ttft_s if sp else None, response_s=sp.response_s if sp else None,
        energy_wh_per_1000_responses=quote.energy_wh_per_1000_responses if sp else None,
        unit_price_usd=quote.unit_price_usd, fleet_price_usd=quote.fleet_price_usd,
        tokens_per_s_per_dollar=comp.tokens_per_s_per_dollar if comp and sp else None,
        tokens_per_s_per_watt=comp.tokens_per_s_per_watt if comp and sp else None,
        quality_score=est.quality_score if est else None,
        meets=status == "meets", pick=False, reason=reason,
        speed_basis=sp.basis if sp else None,
        price_basis=device.price.basis if device.price else None,
        price_covers=device.price.covers if device.price else None,
    )


def _device_rows(device: DeviceProfile, rec: Recommendation, cand: Candidates, req: Requirements,
                 workload: Workload, catalog: Catalog, overrides: Mapping[str, Any]) -> list[ComparisonRow]:
    rows: list[ComparisonRow] = []
    for est in rec.ranked:
        comp = _compare(est.model_id, est.quant_id, device, workload, catalog, overrides)
        rows.append(_row(device, est, comp, est.model_id, "meets", "meets the requirement", req.fleet_size, catalog))
    shown = set(cand.models) if cand.models else {r.model for r in rows}
    for rej in rec.rejected:
        if rej.why.is_filter or rej.model_id not in shown:
            continue
        est = None
        comp = None
        if rej.quant_id is not None:
            est = evaluate(catalog.models[rej.model_id], catalog.file_types[rej.quant_id], device, workload, catalog,
                           overrides=overrides)
            if est.speed is not None:
                comp = _compare(rej.model_id, rej.quant_id, device, workload, catalog, overrides)
        rows.append(_row(device, est, comp, rej.model_id, STATUS_WORDS.get(rej.kind, rej.kind),
                         reason_text(rej.why, context_option="context_tokens"), req.fleet_size, catalog))
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


def _rank_key(rank_by: str, row: ComparisonRow) -> tuple[Any, ...]:
    price = row.unit_price_usd
    energy = row.energy_wh_per_1000_responses
    tps = row.decode_tokens_per_s or 0.0
    if rank_by in ("cost", "fleet_cost"):
        return (price is None, price or 0.0, -tps, row.device)
    if rank_by == "energy":
        return (energy is None, energy or 0.0, price or 0.0, row.device)
    return (-tps, price is None, price or 0.0, row.device)


# --------------------------------------------------------------------------- hardware question


def cheapest_per_class(ranking: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lowest unit price among the devices that meet the requirement, per device class (a price
    that buys only a GPU is not a device's price, so it never counts)."""
    best = cheapest_by_class(
        ranking, price=lambda r: r["unit_price_usd"] if r.get("price_covers") in (None, "device") else None,
        device_class=lambda r: r["device_class"], device_id=lambda r: r["device"],
    )
    keys = ("device_class", "device", "device_name", "model", "quant", "unit_price_usd", "fleet_price_usd",
            "decode_tokens_per_s", "ttft_s", "energy_wh_per_1000_responses")
    return [{k: row[k] for k in keys} for row in best.values()]


# --------------------------------------------------------------------------- the builder


def build_report(requirements: Requirements, catalog: Catalog, *, generated_at: datetime | None = None) -> ReportData:
    """Evaluate the requirements against the catalog; the one input of every renderer."""
    req = requirements
    cand = _resolve(req, catalog)
    workload = req.workload()
    overrides = calibration_overrides()

    rows: list[ComparisonRow] = []
    estimates: dict[int, Estimate] = {}
    ranking: list[ComparisonRow] = []
    rejected: list[dict[str, Any]] = []
    for device in cand.devices:
        rec = run_recommend(device, workload, cand.constraints, catalog)
        drows = _device_rows(device, rec, cand, req, workload, catalog, overrides)
        purchase = _purchase_check(device, req)
        if purchase is not None:
            for r in drows:
                if r.meets:
                    r.meets, r.status, r.reason = False, STATUS_WORDS[purchase[0]], purchase[1]
        passing = [r for r in drows if r.meets]
        if passing:
            passing[0].pick = True
            ranking.append(passing[0])
        else:
            reasons = [{"model": r.model, "quant": r.quant, "status": r.status, "detail": r.reason} for r in drows]
            if not drows:
                reasons = [{"model": x.model_id, "quant": x.quant_id, "status": STATUS_WORDS.get(x.kind, x.kind),
                            "detail": reason_text(x.why, context_option="context_tokens")}
                           for x in rec.rejected if not x.why.is_filter][:5]
            rejected.append({
                "device": device.id, "device_name": device.name, "device_class": device.device_class,
                "unit_price_usd": device.price.usd if device.price else None,
                "price_covers": device.price.covers if device.price else None,
                "summary": rejection_summary(reasons),
                "reasons": reasons,
            })
        base = len(rows)
        rows.extend(drows)
        for i, est in enumerate(rec.ranked):  # the Pareto front needs the estimates; ranked rows come first
            estimates[base + i] = est

    ranking.sort(key=lambda r: _rank_key(req.rank_by, r))
    order = {r.device: i for i, r in enumerate(ranking)}
    rejected.sort(key=lambda r: (r["unit_price_usd"] is None, r["unit_price_usd"] or 0.0, r["device"]))
    rej_order = {r["device"]: i for i, r in enumerate(rejected)}
    # the table: meeting devices in rank order, then the others; each device's pick first
    indexed = sorted(enumerate(rows), key=lambda ir: (
        ir[1].device not in order, order.get(ir[1].device, rej_order.get(ir[1].device, 0)),
        not ir[1].pick, not ir[1].meets, ir[0]))
    new_index = {old: new for new, (old, _) in enumerate(indexed)}
    table = [r.to_dict() for _, r in indexed]
    estimates = {new_index[k]: v for k, v in estimates.items()}
    ranked = [r.to_dict() for r in ranking]

    shown_models = list(cand.models) or sorted({r["model"] for r in table if r["meets"]})
    recommended = dict(ranked[0]) if ranked else None
    now = (generated_at or datetime.now(UTC)).astimezone(UTC)
    return ReportData(
        title=req.title or default_title(req, cand),
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
        summary=summary(req, ranked, rejected, len(cand.devices), catalog),
        recommended=recommended,
        ranking=[_ranking_entry(i, r) for i, r in enumerate(ranked, 1)],
        cheapest_per_class=cheapest_per_class(ranked),
        comparison=table,
        rejected_devices=rejected,
        what_if=what_if_more_ram(cand.devices, workload, cand.constraints, catalog, requested=cand.models),
        charts=chart_data(table, ranked, estimates, req),
        evidence=evidence(cand.devices, shown_models, catalog, overrides),
        runs=measured_runs({d.id for d in cand.devices}),
        assumptions=assumptions(req, cand, catalog),
        n_candidate_devices=len(cand.devices),
        n_meeting_devices=len(ranked),
    )


def _ranking_entry(rank: int, r: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("device", "device_name", "device_class", "model", "quant", "unit_price_usd", "fleet_price_usd",
            "decode_tokens_per_s", "decode_low", "decode_high", "ttft_s", "energy_wh_per_1000_responses",
            "tokens_per_s_per_dollar", "tokens_per_s_per_watt", "headroom_bytes", "price_covers")
    return {"rank": rank, **{k: r[k] for k in keys}}


__all__ = [
    "COMPARISON_COLUMNS",
    "RANK_WORDS",
    "REPORT_SCHEMA",
    "REPORT_SCHEMA_VERSION",
    "ComparisonRow",
    "ReportData",
    "build_report",
    "cheapest_per_class",
]

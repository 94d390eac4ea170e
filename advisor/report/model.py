"""Build the procurement report's data once; every format renders from it.

Every figure comes from the library: the model × quant choice and the rejections from
``api.run_recommend`` (under the deployment target's budget when one is named), speed/memory/energy
from ``engine.evaluate.evaluate`` (through ``recommend``), value metrics as ``analysis.compare_devices``
words them but from the estimate made (any runtime's format), fleet prices from
``engine.fleet``, the cheapest device per class from ``engine.recommend.cheapest_by_class``, the
quality/speed frontier from ``analysis.pareto_front``, the RAM tiers from ``engine.tiers``. Added
here: sorting and ranking, and the budget/power filters. The sentences are in ``report.summary``,
the evidence in ``report.evidence``, the chart data in ``report.chart_data``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from advisor import __version__
from advisor.analysis import DeviceComparison, what_if_more_ram
from advisor.api import calibration_overrides, run_recommend
from advisor.catalog import Catalog, load_device_file
from advisor.engine import targets as tg
from advisor.engine.evaluate import evaluate
from advisor.engine.fleet import fleet_quote, wh_per_1000_responses
from advisor.engine.recommend import ALL_RUNTIMES, Constraints, Recommendation, candidate_variants, cheapest_by_class
from advisor.engine.runtimes import LLAMA_CPP, format_of
from advisor.engine.speed import device_power_w
from advisor.errors import AdvisorError, BadInputError, UnknownIdError
from advisor.records import DeviceProfile, Estimate, Reason, Workload
from advisor.report.chart_data import chart_data
from advisor.report.evidence import catalog_digest, evidence, measured_runs
from advisor.report.requirements import Requirements, field_error
from advisor.report.summary import (
    RANK_WORDS,
    assumptions,
    default_title,
    rejection_summary,
    requirement_text,
    summary,
    target_text,
)
from advisor.serialize import DECIMALS, workload_dict
from advisor.wording import limit_text, reason_text

REPORT_SCHEMA = "edge-model-advisor/report"
REPORT_SCHEMA_VERSION = 1

STATUS_WORDS = {
    "meets": "meets", "speed": "too slow", "ttft": "first token too late", "memory": "does not fit",
    "context": "context too long", "quality": "below quality floor", "budget": "over budget",
    "power": "over power limit", "limit": "over a buffer limit", "download": "download too large",
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
    #: "What to ship per RAM tier" (requirements naming a target and device classes), else empty
    tiers: list[dict[str, Any]] = field(default_factory=list)
    n_candidate_devices: int = 0
    n_meeting_devices: int = 0
    #: the deployment target by name, with its browser or entitlement ("Browser tab in Chrome (desktop)"), else None
    target_text: str | None = None

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
    ("device", "device"), ("device_name", "device name"), ("device_class", "class"), ("model", "model"),
    ("model_name", "model name"), ("quant", "quant"),
    ("runtime", "runtime"), ("backend", "backend"), ("format", "format"), ("status", "status"), ("fit", "memory fit"), ("memory_bytes", "memory (GiB)"), ("usable_bytes", "usable (GiB)"),
    ("headroom_bytes", "headroom (GiB)"), ("decode_tokens_per_s", "decode (tok/s)"), ("decode_low", "decode low (tok/s)"),
    ("decode_high", "decode high (tok/s)"), ("sustained_decode_tokens_per_s", "decode, sustained (tok/s)"),
    ("prefill_tokens_per_s", "prefill (tok/s)"), ("prefill_low", "prefill low (tok/s)"),
    ("prefill_high", "prefill high (tok/s)"), ("ttft_s", "TTFT (s)"), ("response_s", "response (s)"),
    ("load_cold_s", "load, cold (s)"), ("load_cold_case", "load, cold case"), ("cold_start_ttft_s", "cold-start TTFT (s)"),
    ("load_vram_copy_excluded", "load: VRAM copy excluded"),
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
    target: Any = None  # records.Target named by the requirements, or None
    #: each candidate device's deployment under the target (absent: it cannot host the target)
    deployments: Mapping[str, tg.Deployment] = field(default_factory=dict)
    #: why a candidate device cannot host the target (a device the requirements name)
    unhostable: Mapping[str, str] = field(default_factory=dict)
    #: devices of the requested classes that cannot host the target: not candidates at all
    not_hosting: tuple[DeviceProfile, ...] = ()

    def constraints_for(self, device: DeviceProfile) -> Constraints:
        dep = self.deployments.get(device.id)
        return self.constraints if dep is None else replace(self.constraints, deployment=dep)


# --------------------------------------------------------------------------- resolution


def _resolve(req: Requirements, catalog: Catalog) -> Candidates:
    """Ids → records; unknown ids raise errors that name the file field (or the option)."""
    models: list[str] = []
    for m in req.models:
        try:
            models.append(catalog.model(m).id)
        except UnknownIdError as exc:
            raise _id_error(req, "models", exc, "--model") from None
    runtimes = _runtimes(req, catalog)
    target = None
    if req.target is not None:
        try:
            target = catalog.target(req.target)
        except UnknownIdError as exc:
            raise _id_error(req, "target", exc, "--target") from None
        if req.browser is not None and target.browser(req.browser) is None:
            raise field_error(req, "browser", f"unknown browser '{req.browser}'; browsers: {', '.join(b.id for b in target.browsers)}")
        if runtimes is not None and runtimes != ALL_RUNTIMES:
            foreign = sorted(r for r in runtimes if r not in target.runtimes)
            if foreign:
                raise field_error(req, "runtime", f"the {target.id} target does not run {', '.join(foreign)}; "
                                  f"its runtimes: {', '.join(target.runtimes)}")
    considered = _considered_runtimes(runtimes, target, catalog)
    quants: list[str] = []
    for q in req.quants:
        try:
            if considered == [LLAMA_CPP]:
                quants.append(catalog.file_type(q).id)
            else:
                from advisor.api import _check_format_name

                _check_format_name(q, considered, catalog)
                quants.append(catalog.file_types[q.strip().upper().replace("-", "_")].id
                              if q.strip().upper().replace("-", "_") in catalog.file_types else q.strip())
        except UnknownIdError as exc:
            raise _id_error(req, "quants", exc, "--quant") from None
        except BadInputError as exc:
            raise field_error(req, "quants", str(exc)) from None
    pool: dict[str, DeviceProfile] = {}
    named: set[str] = set()  # devices the requirements name, as opposed to those of a class or the whole catalog
    for d in req.devices:
        try:
            dev = catalog.device(d)
        except UnknownIdError as exc:
            raise _id_error(req, "devices", exc, "--device") from None
        pool[dev.id] = dev
        named.add(dev.id)
    for cls in req.device_classes:
        members = [d for d in catalog.devices.values() if d.device_class == cls]
        if not members:
            raise field_error(req, "device_classes", f"no device profiles of class '{cls}'; see 'advisor devices'")
        for dev in sorted(members, key=lambda d: d.id):
            pool.setdefault(dev.id, dev)
    for f in req.device_files:
        dev = load_device_file(f)
        pool[dev.id] = dev
        named.add(dev.id)
    if req.all_devices or not pool:
        for dev in sorted(catalog.devices.values(), key=lambda d: d.id):
            pool.setdefault(dev.id, dev)
    constraints = Constraints(
        min_decode_tps=req.min_tps, max_ttft_s=req.max_ttft_s,
        model_ids=frozenset(models) or None, quant_ids=frozenset(quants) or None,
        quality_floor=req.quality_floor, runtimes=runtimes, max_download_bytes=req.max_download,
    )
    deployments: dict[str, tg.Deployment] = {}
    unhostable: dict[str, str] = {}
    if target is not None:
        for dev in pool.values():
            try:
                deployments[dev.id] = tg.deploy(target, dev, entitlement=req.entitlement is not None, browser_id=req.browser,
                                                targets=list(catalog.targets.values()))
            except BadInputError as exc:
                unhostable[dev.id] = str(exc)
        if not deployments:
            raise field_error(req, "target", f"no candidate device can host the {target.id} target (it runs on "
                              f"{', '.join(target.device_classes)} with {'/'.join(target.platforms)}); "
                              "choose other devices or another target")
    # an iPhone among "phone" devices under android-app is not a candidate that fails: it was never one
    not_hosting = tuple(pool.pop(i) for i in [i for i in unhostable if i not in named])
    unhostable = {i: why for i, why in unhostable.items() if i in named}
    return Candidates(tuple(dict.fromkeys(models)), tuple(pool.values()), constraints, target, deployments, unhostable,
                      not_hosting)


def _deployer(req: Requirements, cand: Candidates, catalog: Catalog) -> Any:
    """Device → its deployment under the report's target (None without one): the what-if's
    variants are weighed on the comparison's own terms — its runtimes, download limit and target."""
    target = cand.target

    def deploy(d: DeviceProfile) -> tg.Deployment | None:
        if target is None:
            return None
        return tg.deploy(target, d, entitlement=req.entitlement is not None, browser_id=req.browser,
                         targets=list(catalog.targets.values()))
    return deploy


def _runtimes(req: Requirements, catalog: Catalog) -> frozenset[str] | None:
    """``runtime``: none or "all" → every runtime with evidence (under a target, the target's);
    names → those alone."""
    if "all" in req.runtime and len(req.runtime) > 1:  # not silently every runtime: the names meant something
        raise field_error(req, "runtime", f"'all' already means every runtime; give it alone or only the names "
                          f"({', '.join(r for r in req.runtime if r != 'all')})",
                          f"--runtime all already means every runtime; give it alone or only the names "
                          f"({', '.join(r for r in req.runtime if r != 'all')})")
    if not req.runtime or "all" in req.runtime:
        return ALL_RUNTIMES
    out = set()
    for name in req.runtime:
        try:
            out.add(catalog.runtime(name).id)
        except UnknownIdError as exc:
            raise _id_error(req, "runtime", exc, "--runtime") from None
    return frozenset(out)


def _considered_runtimes(runtimes: frozenset[str] | None, target: Any, catalog: Catalog) -> list[str]:
    """The runtime ids whose formats a ``quants`` name may be (llama.cpp alone by default)."""
    if runtimes is None:
        return list(target.runtimes) if target is not None else [LLAMA_CPP]
    if runtimes == ALL_RUNTIMES:
        return [r for r in catalog.runtimes if target is None or r in target.runtimes]
    return sorted(runtimes)


def _id_error(req: Requirements, field_name: str, exc: UnknownIdError, option: str) -> AdvisorError:
    """In a file, name the file and the field; on the command line the catalog's message is enough."""
    if req.in_file(field_name):
        return field_error(req, field_name, str(exc))  # type: ignore[return-value]
    return exc


# --------------------------------------------------------------------------- rows


def _compare(est: Estimate, device: DeviceProfile) -> DeviceComparison:
    """The value metrics of ``analysis.compare_devices`` for an estimate already made (in any
    runtime's format, under the target's budget): tok/s per dollar and per watt (of the energy figures), energy."""
    tps = est.speed.decode_tokens_per_s if est.speed else None
    price = device.price.usd if device.price else None
    watts = device_power_w(device)  # the power of the energy figures: (tok/s per W) × (J/token) = 1
    energy = est.speed.energy_j_per_response if est.speed else None
    return DeviceComparison(
        device=device, estimate=est, price_usd=price,
        tokens_per_s_per_dollar=(tps / price) if tps and price else None,
        tokens_per_s_per_watt=(tps / watts) if tps and watts else None,
        energy_j_per_response=energy, energy_wh_per_1000_responses=wh_per_1000_responses(energy),
    )


def _rejected_estimate(model_id: str, quant_id: str, device: DeviceProfile, workload: Workload, catalog: Catalog,
                       constraints: Constraints, overrides: Mapping[str, Any]) -> Estimate | None:
    """The estimate a rejection was made from: a ``Rejection`` names the format, not the runtime,
    so the candidate variants with that format are evaluated again and the smallest taken (the
    one ``recommend`` reports: its most favourable failure)."""
    dep = constraints.deployment
    on = dep.device if dep is not None else device
    model = catalog.models[model_id]
    best: Estimate | None = None
    for v in candidate_variants(on, catalog, constraints):
        fmt = v.format if v is not None and hasattr(v, "runtime") else v
        if fmt is None or fmt.id != quant_id:
            continue
        est = evaluate(model, fmt, on, workload, catalog, overrides=overrides, variant=v if fmt is not v else None,
                       browser=dep.browser if dep is not None else None)
        if best is None or est.memory.total_bytes < best.memory.total_bytes:
            best = est
    return best


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
    runtime: str | None
    backend: str | None
    format: str | None  # the runtime's own format name (a GGUF file type for llama.cpp)
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
    #: decode after minutes of load where the device has a published throttled figure, else None
    sustained_decode_tokens_per_s: float | None
    prefill_tokens_per_s: float | None
    prefill_low: float | None
    prefill_high: float | None
    ttft_s: float | None
    response_s: float | None
    load_cold_s: float | None  # model file read from storage + set-up (engine.load); in a browser: a later visit
    #: what the cold load is (LoadEstimate.cold_case): "first-start", a browser's "later-visit", or
    #: "every-visit-downloads" (the download exceeds the browser's cache storage: no cold figure)
    load_cold_case: str | None
    cold_start_ttft_s: float | None  # cold load + prefill
    #: the load times leave out the copy of the weights into a discrete GPU's VRAM or WebGPU buffers
    load_vram_copy_excluded: bool | None
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
    fmt = format_of(est, catalog) if est else None
    m = est.memory if est else None
    quote = fleet_quote(device, est, fleet_size)
    return ComparisonRow(
        device=device.id, device_name=device.name, device_class=device.device_class,
        model=model_id, model_name=catalog.models[model_id].name, quant=est.quant_id if est else None,
        runtime=est.runtime if est else None, backend=est.backend if est else None,
        format=getattr(fmt, "id", None) if fmt is not None else None,
        status=status, fit=est.fit if est else None,
        memory_bytes=m.total_bytes if m else None, weights_bytes=m.weights_bytes if m else None,
        kv_cache_bytes=m.kv_cache_bytes if m else None, compute_buffer_bytes=m.compute_buffer_bytes if m else None,
        overhead_bytes=m.overhead_bytes if m else None,
        usable_bytes=est.usable_bytes if est else device.memory.usable,
        headroom_bytes=est.headroom_bytes if est else None,
        decode_tokens_per_s=sp.decode_tokens_per_s if sp else None,
        decode_low=sp.decode_band.low if sp else None, decode_high=sp.decode_band.high if sp else None,
        sustained_decode_tokens_per_s=sp.sustained_decode_tokens_per_s if sp else None,
        prefill_tokens_per_s=sp.prefill_tokens_per_s if sp else None,
        prefill_low=sp.prefill_band.low if sp else None, prefill_high=sp.prefill_band.high if sp else None,
        ttft_s=sp.ttft_s if sp else None, response_s=sp.response_s if sp else None,
        load_cold_s=est.load.cold_s if est and est.load else None,
        load_cold_case=est.load.cold_case if est and est.load else None,
        cold_start_ttft_s=est.load.cold_ttft_s if est and est.load else None,
        load_vram_copy_excluded=est.load.vram_copy_excluded if est and est.load else None,
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
    constraints = cand.constraints_for(device)
    for est in rec.ranked:
        comp = _compare(est, device)
        rows.append(_row(device, est, comp, est.model_id, "meets", "meets the requirement", req.fleet_size, catalog))
    shown = set(cand.models) if cand.models else {r.model for r in rows}
    for rej in rec.rejected:
        if rej.why.is_filter or rej.model_id not in shown:
            continue
        est = None
        comp = None
        if rej.quant_id is not None:
            est = _rejected_estimate(rej.model_id, rej.quant_id, device, workload, catalog, constraints, overrides)
            if est is not None and est.speed is not None:
                comp = _compare(est, device)
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
    draw = device.power.max_w  # the whole device's, never below its typical draw (records.PowerSpec)
    if req.power_limit_w is not None and draw > req.power_limit_w:
        return "power", f"draws up to {draw:g} W, over the {req.power_limit_w:g} W limit per unit"
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
    keys = ("device_class", "device", "device_name", "model", "model_name", "quant", "unit_price_usd", "fleet_price_usd",
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
        if device.id in cand.unhostable:
            rejected.append({
                "device": device.id, "device_name": device.name, "device_class": device.device_class,
                "unit_price_usd": device.price.usd if device.price else None,
                "price_covers": device.price.covers if device.price else None,
                "summary": cand.unhostable[device.id],
                "reasons": [],
            })
            continue
        rec = run_recommend(device, workload, cand.constraints_for(device), catalog)
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
            reasons = [{"model": r.model, "model_name": r.model_name, "quant": r.quant, "status": r.status, "detail": r.reason}
                       for r in drows]
            if not drows:
                reasons = [{"model": x.model_id, "model_name": catalog.models[x.model_id].name if x.model_id in catalog.models
                            else x.model_id, "quant": x.quant_id, "status": STATUS_WORDS.get(x.kind, x.kind),
                            "detail": reason_text(x.why, context_option="context_tokens")}
                           for x in rec.rejected if not x.why.is_filter][:5]
            # no runtime asked for runs there: that is its reason, in devices-for's and tiers' words
            no_runtime = not drows and not reasons and not candidate_variants(device, catalog, cand.constraints_for(device))
            rejected.append({
                "device": device.id, "device_name": device.name, "device_class": device.device_class,
                "unit_price_usd": device.price.usd if device.price else None,
                "price_covers": device.price.covers if device.price else None,
                "summary": reason_text(Reason("runtime")) if no_runtime else rejection_summary(reasons),
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
        requirement_text=requirement_text(req, shown_models if cand.models else [], catalog),
        target_text=target_text(req, catalog),
        summary=summary(req, ranked, rejected, len(cand.devices), catalog),
        recommended=recommended,
        ranking=[_ranking_entry(i, r) for i, r in enumerate(ranked, 1)],
        cheapest_per_class=cheapest_per_class(ranked),
        comparison=table,
        rejected_devices=rejected,
        what_if=what_if_more_ram(cand.devices, workload, cand.constraints, catalog, requested=cand.models,
                                 deploy=_deployer(req, cand, catalog)),
        charts=chart_data(table, ranked, estimates, req),
        evidence=evidence(cand.devices, shown_models, catalog, overrides, cand.deployments),
        runs=measured_runs({d.id for d in cand.devices}),
        assumptions=assumptions(req, cand, catalog, table),
        tiers=_tiers(req, cand, workload, catalog),
        n_candidate_devices=len(cand.devices),
        n_meeting_devices=len(ranked),
    )


def _tiers(req: Requirements, cand: Candidates, workload: Workload, catalog: Catalog) -> list[dict[str, Any]]:
    """"What to ship per RAM tier" (``engine.tiers``) over the candidate devices of the named
    classes, when the requirements name a target and device classes; else empty."""
    if cand.target is None or not req.device_classes:
        return []
    from advisor.engine.tiers import tiers

    pool = [d for d in cand.devices if d.device_class in req.device_classes]
    picks = tiers(pool, cand.target, workload, catalog, cand.constraints, entitlement=req.entitlement is not None,
                  browser_id=req.browser, overrides=dict(calibration_overrides()))
    names = {d.id: d.name for d in pool}
    out = []
    for p in picks:
        slowest = p.slowest
        tight = min(p.estimates, key=lambda e: e.headroom_bytes) if p.estimates else None
        sp = slowest.speed if slowest is not None else None
        out.append({
            "tier_gib": p.tier_gib, "devices": [d.id for d in p.devices], "device_names": [d.name for d in p.devices],
            "model": p.model_id, "model_name": catalog.models[p.model_id].name if p.model_id is not None else None,
            "runtime": p.runtime, "format": p.format_id,
            "backends": sorted({e.backend for e in p.estimates if e.backend}),
            "slowest_device": slowest.device_id if slowest is not None else None,
            "slowest_device_name": names.get(slowest.device_id) if slowest is not None else None,
            "decode_tokens_per_s": round(sp.decode_tokens_per_s, DECIMALS["decode_tokens_per_s"]) if sp else None,
            "decode_low": round(sp.decode_band.low, DECIMALS["decode_low"]) if sp else None,
            "decode_high": round(sp.decode_band.high, DECIMALS["decode_high"]) if sp else None,
            "tightest_device": tight.device_id if tight is not None else None,
            "tightest_device_name": names.get(tight.device_id) if tight is not None else None,
            "memory_bytes": tight.memory.total_bytes if tight is not None else None,
            "usable_bytes": tight.usable_bytes if tight is not None else None,
            "download_bytes": p.download_bytes,
            "store_limits_exceeded": [limit_text(lim) for lim in p.store_limits_exceeded],
            "store_limit_ids": [lim.id for lim in p.store_limits_exceeded],  # the same limits, in the same order
            "left_out": [{"device": lo.device.id, "device_name": lo.device.name, "reason": reason_text(lo.why),
                          "hosts_target": cand.target.hosts(lo.device)}
                         for lo in p.left_out],
        })
    return out


def _ranking_entry(rank: int, r: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("device", "device_name", "device_class", "model", "model_name", "quant", "runtime", "backend", "format", "unit_price_usd", "fleet_price_usd",
            "decode_tokens_per_s", "decode_low", "decode_high", "sustained_decode_tokens_per_s", "ttft_s",
            "energy_wh_per_1000_responses", "tokens_per_s_per_dollar", "tokens_per_s_per_watt", "headroom_bytes", "price_covers")
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

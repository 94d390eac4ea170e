"""Recommendation (which model × quant for this device) and the reverse question (which
devices for this model), built on ``fit.evaluate``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.fit import Tables, evaluate, over_by, quality_table
from advisor.engine.runtimes import Variant
from advisor.records import DeviceProfile, Estimate, FileType, ModelSpec, PathFactors, Workload
from advisor.units import format_seconds, format_size


#: Soft speed target: about silent reading speed. 238 words/min for non-fiction (Brysbaert 2019,
#: "How many words do we read per minute?", J. Memory and Language 109) × ~1.3 tokens per English
#: word for Llama/Qwen tokenizers ≈ 5.2 tok/s, rounded to 5.
READING_SPEED_TPS = 5.0


#: ``Constraints.runtimes`` value: every runtime the device can run that has evidence behind it.
ALL_RUNTIMES = frozenset({"all"})


@dataclass(frozen=True)
class Constraints:
    min_decode_tps: float | None = None
    max_ttft_s: float | None = None
    license_classes: frozenset[str] | None = None  # permissive / restricted / noncommercial
    families: frozenset[str] | None = None
    model_ids: frozenset[str] | None = None
    quant_ids: frozenset[str] | None = None  # None: the common file types
    quality_floor: float | None = None
    allow_offload: bool = True
    #: Soft target: candidates decoding at least this fast rank before slower ones (a hard
    #: minimum is min_decode_tps). 5 tok/s ≈ reading speed; 0 ranks by quality alone.
    target_decode_tps: float = READING_SPEED_TPS
    #: runtimes to consider (ids of catalog/runtimes.toml); None: llama.cpp alone; ALL_RUNTIMES:
    #: llama.cpp and every runtime with published measurements for the backend it would use on the
    #: device (a runtime known only by a prior is considered when asked for by name)
    runtimes: frozenset[str] | None = None
    #: a backend id to insist on (e.g. "cpu" to keep a runtime off the GPU)
    backend: str | None = None
    #: where the model ships (engine.targets.Deployment): budget, runtimes, per-buffer limits
    deployment: Any = None
    #: largest download the user accepts: model file + runtime library
    max_download_bytes: int | None = None


@dataclass(frozen=True)
class Rejection:
    model_id: str
    quant_id: str | None
    reason: str  # memory | speed | ttft | license | family | quality | context
    detail: str


@dataclass(frozen=True)
class Recommendation:
    device: DeviceProfile
    workload: Workload
    constraints: Constraints
    ranked: tuple[Estimate, ...]  # best quant per model, best first
    rejected: tuple[Rejection, ...]
    explanation: str
    alternatives: tuple[tuple[str, Estimate], ...] = field(default=())

    @property
    def pick(self) -> Estimate | None:
        return self.ranked[0] if self.ranked else None


def candidate_quants(tables: Tables, constraints: Constraints) -> list[FileType]:
    if constraints.quant_ids:
        return [tables.file_types[q] for q in sorted(constraints.quant_ids) if q in tables.file_types]
    return [f for f in tables.file_types.values() if f.common]


def candidate_variants(device: DeviceProfile, tables: Tables, constraints: Constraints) -> list[Variant | None]:
    """Every runtime × backend × format to try on ``device``: per runtime its default backend on
    the device (an accelerator it can use, else the CPU; or ``constraints.backend``) and its
    formats (llama.cpp: the common GGUF types; ``constraints.quant_ids`` narrows by format name).
    ``[None, …]`` stands for llama.cpp's file types on a catalog without runtimes."""
    runtimes = getattr(tables, "runtimes", None)
    if not runtimes:
        return list(candidate_quants(tables, constraints))  # type: ignore[arg-type]
    wanted = {n.lower() for n in constraints.quant_ids} if constraints.quant_ids else None
    dep = constraints.deployment
    every = constraints.runtimes == ALL_RUNTIMES or (dep is not None and constraints.runtimes is None)
    allowed = set(dep.target.runtimes) if dep is not None else None
    named = constraints.runtimes if constraints.runtimes is not None and not every else frozenset({rt.LLAMA_CPP})
    evidenced: list[Variant | None] = []
    prior_only: list[Variant | None] = []
    for runtime in runtimes.values():
        if (not every and runtime.id not in named) or (allowed is not None and runtime.id not in allowed):
            continue
        usable = tg.runtime_backends(runtime, dep) if dep is not None else list(runtime.usable_backends(device))
        if constraints.backend:
            usable = [b for b in usable if b.id == constraints.backend]
        backend = rt.best_backend(usable)
        if backend is None:
            continue
        if runtime.formats_from == "gguf":
            formats = candidate_quants(tables, constraints) if wanted is None else [
                f for f in tables.file_types.values() if f.id.lower() in wanted]
        else:
            formats = [f for f in runtime.formats_for(backend.id) if wanted is None or wanted & {n.lower() for n in f.names}]
        known = runtime.id == rt.LLAMA_CPP or rt.Variant(runtime, backend, None).path in tables.calibration
        (evidenced if known else prior_only).extend(rt.Variant(runtime, backend, f) for f in formats)
    if not every:
        return evidenced + prior_only  # runtimes named by the user: prior-only ones too
    # every runtime: those with measurements behind them; prior-only ones only where none has any
    return evidenced or prior_only


def _model_filter(model: ModelSpec, c: Constraints) -> Rejection | None:
    if c.model_ids is not None and model.id not in c.model_ids:
        return Rejection(model.id, None, "family", "not among the requested models")
    if c.families is not None and model.family not in c.families:
        return Rejection(model.id, None, "family", f"family {model.family} not requested")
    if c.license_classes is not None and model.license_class not in c.license_classes:
        return Rejection(model.id, None, "license", f"license {model.license} ({model.license_class}) excluded")
    return None


def _check(est: Estimate, model: ModelSpec, workload: Workload, c: Constraints, *, tables: Tables | None = None,
           choice: Any = None) -> Rejection | None:
    if est.fit == "no" or (est.fit == "offload" and not c.allow_offload):
        return Rejection(model.id, est.quant_id, "memory", f"does not fit: {over_by(est)}")
    variant = choice if isinstance(choice, rt.Variant) else None
    if c.deployment is not None and tables is not None:
        fmt = variant.format if variant is not None else choice
        for b in tg.limit_breaches(est, model, fmt, variant, c.deployment, tables):
            return Rejection(model.id, est.quant_id, "limit",
                             f"the {format_size(b.bytes)} {b.what} exceeds the {format_size(b.limit_bytes)} {b.limit} of {b.where}")
    if c.max_download_bytes is not None and tables is not None:
        size = tg.download_bytes(est, variant, tables)
        if size > c.max_download_bytes:
            return Rejection(model.id, est.quant_id, "download",
                             f"download {format_size(size)} > {format_size(c.max_download_bytes)} allowed")
    if workload.context_tokens > model.context_length:
        return Rejection(
            model.id, est.quant_id, "context",
            f"context {workload.context_tokens:,} exceeds its native {model.context_length:,} tokens",
        )
    if c.quality_floor is not None and est.quality_score < c.quality_floor:
        return Rejection(model.id, est.quant_id, "quality", f"quality {est.quality_score:.0f} below the floor {c.quality_floor:g}")
    sp = est.speed
    assert sp is not None
    if c.min_decode_tps is not None and sp.decode_tokens_per_s < c.min_decode_tps:
        return Rejection(
            model.id, est.quant_id, "speed",
            f"too slow: {sp.decode_tokens_per_s:.1f} tok/s < {c.min_decode_tps:g} required",
        )
    if c.max_ttft_s is not None and sp.ttft_s > c.max_ttft_s:
        return Rejection(
            model.id, est.quant_id, "ttft",
            f"first token after {format_seconds(sp.ttft_s)} > {format_seconds(c.max_ttft_s)} allowed",
        )
    return None


def _rank_key(est: Estimate, target_tps: float = 0.0) -> tuple[bool, bool, float, float]:
    """Comfortable fits first (a 'tight' fit leaves no room for other apps or a longer chat),
    then those reaching the soft speed target, then quality, then decode speed."""
    tps = est.speed.decode_tokens_per_s if est.speed else 0.0
    return (est.fit == "fits", tps >= target_tps, round(est.quality_score, 1), tps)


def best_quant(
    model: ModelSpec,
    quants: Sequence[FileType | Variant],
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    constraints: Constraints,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
) -> tuple[Estimate | None, list[tuple[Rejection, Estimate]]]:
    """The best passing quantization of ``model`` on ``device`` (by the ranking key), and why
    each other one failed."""
    best: Estimate | None = None
    failures: list[tuple[Rejection, Estimate]] = []
    for choice in quants:
        if isinstance(choice, rt.Variant):
            est = evaluate(model, choice.format, device, workload, tables, overrides=overrides, variant=choice)
        else:
            est = evaluate(model, choice, device, workload, tables, overrides=overrides)
        why = _check(est, model, workload, constraints, tables=tables, choice=choice)
        if why is not None:
            failures.append((why, est))
        elif best is None or _rank_key(est, constraints.target_decode_tps) > _rank_key(best, constraints.target_decode_tps):
            best = est
    return best, failures


def recommend(
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    constraints: Constraints = Constraints(),
    *,
    overrides: Mapping[str, PathFactors] | None = None,
) -> Recommendation:
    """Rank every model (its best passing runtime × format) that fits and meets the constraints
    (under ``constraints.deployment``'s target when given: its budget, runtimes and limits)."""
    if constraints.deployment is not None:
        device = constraints.deployment.device
    quants = candidate_variants(device, tables, constraints)
    target = constraints.target_decode_tps
    passing: list[Estimate] = []
    rejected: list[Rejection] = []
    for model in tables.models.values():
        pre = _model_filter(model, constraints)
        if pre is not None:
            rejected.append(pre)
            continue
        best, failures = best_quant(model, quants, device, workload, tables, constraints, overrides=overrides)
        if best is not None:
            passing.append(best)
        elif failures:
            # report the most favourable failure: the smallest candidate that was tried
            why, _ = min(failures, key=lambda pair: pair[1].memory.total_bytes)
            rejected.append(why)
    passing.sort(key=lambda e: _rank_key(e, target), reverse=True)
    ranked = tuple(passing)
    return Recommendation(
        device=device,
        workload=workload,
        constraints=constraints,
        ranked=ranked,
        rejected=tuple(sorted(rejected, key=_rejection_order)),
        explanation=explain(ranked, device, workload, tables, constraints),
        alternatives=_alternatives(ranked),
    )


#: Alternatives shown beside the pick must keep at least this share of its quality score
#: (a product choice: "fastest still useful"), and the lightest alternative this larger share
#: ("nearly as good, smaller"). Not fitted to data.
ALTERNATIVE_QUALITY_SHARE = 0.6
LIGHTER_ALTERNATIVE_QUALITY_SHARE = 0.85


_REASON_ORDER = {"speed": 0, "ttft": 1, "memory": 2, "limit": 3, "download": 4, "quality": 5, "context": 6, "license": 7, "family": 8}


def _rejection_order(r: Rejection) -> tuple[int, str]:
    """Closest misses first: too slow / too late before too big, before filtered out."""
    return (_REASON_ORDER.get(r.reason, 9), r.model_id)


def _alternatives(ranked: Sequence[Estimate]) -> tuple[tuple[str, Estimate], ...]:
    if len(ranked) < 2:
        return ()
    pick = ranked[0]
    out: list[tuple[str, Estimate]] = []
    useful = [e for e in ranked if e.quality_score >= ALTERNATIVE_QUALITY_SHARE * pick.quality_score]
    fastest = max(useful, key=lambda e: e.speed.decode_tokens_per_s if e.speed else 0)
    if fastest is not pick:
        out.append((f"fastest with ≥{ALTERNATIVE_QUALITY_SHARE:.0%} of the pick's quality", fastest))
    near = [e for e in ranked[1:] if e.quality_score >= LIGHTER_ALTERNATIVE_QUALITY_SHARE * pick.quality_score]
    if near:
        lightest = min(near, key=lambda e: e.memory.total_bytes)
        if lightest is not fastest:
            out.append((f"lightest with ≥{LIGHTER_ALTERNATIVE_QUALITY_SHARE:.0%} of the pick's quality", lightest))
    return tuple(out)


def _constraint_words(c: Constraints) -> str:
    parts = []
    if c.min_decode_tps is not None:
        parts.append(f"≥ {c.min_decode_tps:g} tok/s")
    if c.max_ttft_s is not None:
        parts.append(f"first token within {format_seconds(c.max_ttft_s)}")
    if c.license_classes is not None:
        parts.append("a " + "/".join(sorted(c.license_classes)) + " license")
    if c.quality_floor is not None:
        parts.append(f"quality ≥ {c.quality_floor:g}")
    if c.families is not None:
        parts.append("family " + "/".join(sorted(c.families)))
    return " and ".join(parts)


def explain(
    ranked: Sequence[Estimate], device: DeviceProfile, workload: Workload, tables: Tables, constraints: Constraints = Constraints()
) -> str:
    wanted = _constraint_words(constraints)
    if not ranked:
        return f"Nothing fits {device.name}" + (f" with {wanted}" if wanted else "") + "; see the rejected candidates for the closest misses."
    pick = ranked[0]
    model = tables.models[pick.model_id]
    sp = pick.speed
    assert sp is not None
    base = quality_table(tables).base[model.id]
    fit_word = {"fits": "fits", "tight": "fits, tightly,", "offload": "fits with partial GPU offload"}[pick.fit]
    target = constraints.target_decode_tps
    slower = [e for e in ranked if e.quality_score > pick.quality_score and e.speed and e.speed.decode_tokens_per_s < target]
    passed_over = ""
    if target and sp.decode_tokens_per_s >= target and slower:
        best_slow = max(slower, key=lambda e: e.quality_score)
        passed_over = (
            f" {tables.models[best_slow.model_id].name} ({best_slow.quant_id}, quality {best_slow.quality_score:.0f}) also fits "
            f"but decodes at ~{best_slow.speed.decode_tokens_per_s:.1f} tok/s, below the {target:g} tok/s reading-speed "
            f"target (a target of 0 ranks by quality alone)."  # type: ignore[union-attr]
        )
    elif target and sp.decode_tokens_per_s < target:
        passed_over = f" Nothing that fits reaches the {target:g} tok/s reading-speed target."
    if pick.fit == "fits" and any(e.fit == "tight" and e.quality_score > pick.quality_score for e in ranked):
        passed_over += " Higher-quality models fit only tightly (under 10% headroom) and are ranked below."
    return (
        f"{model.name} in {pick.quant_id} is the highest-quality model that {fit_word} in the "
        f"{format_size(pick.usable_bytes)} usable on {device.name}{' with ' + wanted if wanted else ''}: it needs {format_size(pick.memory.total_bytes)} "
        f"({format_size(pick.headroom_bytes)} headroom at {workload.context_tokens:,} tokens of context), decodes at "
        f"~{sp.decode_tokens_per_s:.1f} tok/s ({sp.decode_band.low:.1f}–{sp.decode_band.high:.1f}) and answers a "
        f"{workload.prompt_tokens}-token prompt in ~{format_seconds(sp.ttft_s)}. Quality score {pick.quality_score:.0f}/100 "
        f"({base.basis})." + passed_over
    )


# --------------------------------------------------------------------------- reverse question


@dataclass(frozen=True)
class DeviceOption:
    device: DeviceProfile
    estimate: Estimate | None  # the quantization chosen on that device (None: nothing fits)
    meets: bool
    reason: str

    @property
    def price_usd(self) -> float | None:
        return self.device.price.usd if self.device.price else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.estimate.speed.decode_tokens_per_s if self.estimate and self.estimate.speed else None

    @property
    def energy_j_per_response(self) -> float | None:
        return self.estimate.speed.energy_j_per_response if self.estimate and self.estimate.speed else None


RANK_BY = ("price", "energy", "speed")


def _option_key(o: DeviceOption, rank_by: str) -> tuple:
    """Devices that meet the requirement first; then by price (unknown last), energy per
    response (lowest first) or decode speed (fastest first)."""
    if rank_by == "energy":
        e = o.energy_j_per_response
        return (not o.meets, e is None, e or 0.0, o.device.id)
    if rank_by == "speed":
        return (not o.meets, -(o.decode_tokens_per_s or 0.0), o.device.id)
    return (not o.meets, o.price_usd is None, o.price_usd or 0.0, o.device.id)


def cheapest_per_class(options: Sequence[DeviceOption]) -> dict[str, DeviceOption]:
    """The lowest-priced device that meets the requirement, in each device class."""
    best: dict[str, DeviceOption] = {}
    for o in options:
        if o.meets and o.price_usd is not None:
            cur = best.get(o.device.device_class)
            if cur is None or (o.price_usd, o.device.id) < (cur.price_usd or 0.0, cur.device.id):
                best[o.device.device_class] = o
    return dict(sorted(best.items()))


def devices_for(
    model: ModelSpec,
    devices: Iterable[DeviceProfile],
    workload: Workload,
    tables: Tables,
    *,
    quant: FileType | None = None,
    min_decode_tps: float | None = None,
    max_ttft_s: float | None = None,
    overrides: Mapping[str, PathFactors] | None = None,
    rank_by: str = "price",
    runtimes: frozenset[str] | None = None,
    quant_names: frozenset[str] | None = None,
) -> list[DeviceOption]:
    """Which devices run ``model`` (in ``quant``, or its best common quant that meets the speed),
    ranked by price, energy or speed; devices that cannot, last, with the reason. ``runtimes`` and
    ``quant_names`` (format names of any runtime) widen the search as ``Constraints`` does."""
    names = quant_names or (frozenset({quant.id}) if quant else None)
    c = Constraints(min_decode_tps=min_decode_tps, max_ttft_s=max_ttft_s, target_decode_tps=0.0,
                    runtimes=runtimes, quant_ids=names)
    out: list[DeviceOption] = []
    for device in devices:
        quants = candidate_variants(device, tables, c)
        if not quants:
            out.append(DeviceOption(device, None, False, "none of the requested runtimes runs on this device"))
            continue
        best, fails = best_quant(model, quants, device, workload, tables, c, overrides=overrides)
        if best is not None:
            out.append(DeviceOption(device, best, True, "meets the requirement"))
        else:
            why, est = min(fails, key=lambda pair: pair[1].memory.total_bytes)
            out.append(DeviceOption(device, est if est.fit != "no" else None, False, why.detail))
    out.sort(key=lambda o: _option_key(o, rank_by))
    return out


def evaluate_grid(
    tables: Tables,
    devices: Sequence[DeviceProfile],
    workload: Workload,
    *,
    models: Sequence[ModelSpec] | None = None,
    quants: Sequence[FileType] | None = None,
    overrides: Mapping[str, PathFactors] | None = None,
) -> list[Estimate]:
    """Every model × quant × device (the dashboard's and the benchmarks' full table)."""
    models = list(models or tables.models.values())
    quants = list(quants or tables.file_types.values())
    return [
        evaluate(m, q, d, workload, tables, overrides=overrides)
        for d in devices
        for m in models
        for q in quants
    ]

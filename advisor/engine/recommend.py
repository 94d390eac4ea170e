"""Recommendation (which model × quant for this device) and the reverse question (which
devices for this model), built on ``evaluate.evaluate``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.evaluate import DeviceMemo, Staged, Tables, evaluate, finish, memory_shortfall, stage, unfit_speed
from advisor.engine.runtimes import Variant
from advisor.records import UNFIT_SECOND, DeviceProfile, Estimate, FileType, ModelSpec, PathFactors, Reason, SpeedEstimate, Workload


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
    """A model (or one of its quantizations) that did not make the list, and why (as data)."""

    model_id: str
    quant_id: str | None
    why: Reason
    #: the runtime and backend the rejected file ran on (None: the model itself was rejected)
    runtime: str | None = None
    backend: str | None = None

    @property
    def kind(self) -> str:
        """memory | context | quality | speed | ttft | limit | download (cannot) or license | family |
        model (not asked for)."""
        return self.why.kind

    @property
    def reason(self) -> str:
        """The kind (the name the JSON schema gives it)."""
        return self.why.kind


@dataclass(frozen=True)
class Alternative:
    """A candidate shown beside the pick: ``kind`` "fastest" (the fastest keeping ``quality_share``
    of the pick's quality) or "lightest" (the smallest in memory keeping that share)."""

    kind: str
    quality_share: float
    estimate: Estimate


@dataclass(frozen=True)
class RuntimeOption:
    """The pick's model on one runtime considered: its best passing format there (``estimate``),
    or, when none passes, why its closest candidate did not (``why``)."""

    runtime: str
    estimate: Estimate | None
    why: Reason | None = None


#: What sets the pick's runtime above the best other runtime for the same model, by the ranking
#: key's order (``_rank_key``): "fit" (fits comfortably where the other fits tightly), "target"
#: (reaches the soft speed target where the other does not), "quality" (a higher-quality format),
#: "speed" (faster at the same quality), "tie" (the best other runtime is predicted alike on all
#: four: the pick is first of equals), "only" (no other runtime considered runs the model here).
RUNTIME_WHY = ("fit", "target", "quality", "speed", "tie", "only")


@dataclass(frozen=True)
class RuntimeChoice:
    """Why the pick runs on its runtime: the pick's model on every runtime considered (the pick's
    runtime first, the others by the ranking key), and what sets the pick above the runner-up."""

    why: str  # one of RUNTIME_WHY
    options: tuple[RuntimeOption, ...]

    @property
    def runner_up(self) -> RuntimeOption | None:
        """The best other runtime that runs the model (None when no other one passes)."""
        return next((o for o in self.options[1:] if o.estimate is not None), None)


@dataclass(frozen=True)
class Recommendation:
    """The ranked candidates and the facts an explanation is worded from (front ends word it)."""

    device: DeviceProfile
    workload: Workload
    constraints: Constraints
    ranked: tuple[Estimate, ...]  # best quant per model, best first
    rejected: tuple[Rejection, ...]  # closest misses first
    alternatives: tuple[Alternative, ...] = field(default=())
    #: The highest-quality candidate ranked below the pick because it decodes under the soft target.
    passed_over: Estimate | None = None
    #: Higher-quality candidates fit only tightly and were ranked below a comfortable pick.
    tighter_higher_quality: bool = False
    #: Why the pick's runtime (None when a single runtime was considered).
    runtime_choice: RuntimeChoice | None = None

    @property
    def pick(self) -> Estimate | None:
        return self.ranked[0] if self.ranked else None


def candidate_quants(tables: Tables, constraints: Constraints) -> list[FileType]:
    """The GGUF file types to try: those asked for, else the common ones and every model's native
    format (``offered_to`` offers a native format to its own models only)."""
    if constraints.quant_ids:
        ids = sorted({q.strip().upper().replace("-", "_") for q in constraints.quant_ids})
        return [tables.file_types[q] for q in ids if q in tables.file_types]
    native = {m.native_format for m in tables.models.values()}
    return [f for f in tables.file_types.values() if f.common or f.id in native]


def offered_to(quants: Sequence[FileType | Variant], model: ModelSpec, constraints: Constraints) -> list[FileType | Variant]:
    """The candidates of ``quants`` that can load ``model`` (``runtimes.runs_model``); a file type
    that is not common is tried only for the model it is native to, unless asked for by name."""
    def offered(q: FileType | Variant) -> bool:
        fmt = q.format if isinstance(q, rt.Variant) else q
        return (constraints.quant_ids is not None or not isinstance(fmt, FileType) or fmt.common
                or fmt.id == model.native_format)
    return [q for q in quants if rt.runs_model(q, model) and offered(q)]


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
            usable = [b for b in usable if b.id == rt.backend_key(runtime.id, constraints.backend) and rt.modelled(runtime, b, device)]
        # its best backend with a format asked for (any of its formats when none is)
        backend = rt.default_backend(runtime, usable, None if wanted is None else lambda f: bool(wanted & {n.lower() for n in f.names}))
        if backend is None:
            continue
        if runtime.formats_from == "gguf":
            formats = candidate_quants(tables, constraints)
        else:
            formats = [f for f in runtime.formats_for(backend.id) if wanted is None or wanted & {n.lower() for n in f.names}]
        known = runtime.id == rt.LLAMA_CPP or rt.Variant(runtime, backend, None).path in tables.calibration
        (evidenced if known else prior_only).extend(rt.Variant(runtime, backend, f, pinned=bool(constraints.backend))
                                                    for f in formats)
    if not every:
        return evidenced + prior_only  # runtimes named by the user: prior-only ones too
    # every runtime: those with measurements behind them; prior-only ones only where none has any
    return evidenced or prior_only


def _model_filter(model: ModelSpec, c: Constraints) -> Rejection | None:
    if c.model_ids is not None and model.id not in c.model_ids:
        return Rejection(model.id, None, Reason("model"))
    if c.families is not None and model.family not in c.families:
        return Rejection(model.id, None, Reason("family", name=model.family))
    if c.license_classes is not None and model.license_class not in c.license_classes:
        return Rejection(model.id, None, Reason("license", name=model.license, category=model.license_class))
    return None


def _memory_fails(fit: str, c: Constraints) -> bool:
    """The candidate's memory alone rejects it: it does not fit, or fits only by an offload the
    constraints do not allow."""
    return fit == "no" or (fit == "offload" and not c.allow_offload)


def _check(est: Estimate, model: ModelSpec, workload: Workload, c: Constraints, *, tables: Tables | None = None,
           choice: Any = None, staged: Staged | None = None, device: DeviceProfile | None = None) -> Rejection | None:
    """Why ``est`` is rejected, or None. A candidate within the model's native context that fits
    is rejected for the first limit it misses (``_misses``). One beyond that context, or that does
    not fit, for the farthest of its misses (``Reason.shortfall``): the context (no device or
    format lifts it; the memory needed for a context the model cannot hold is moot, so a
    262,144-token request does not call a 32k model a memory miss) or the memory, against the
    limits it would miss by more even so — the target's, the quality floor, and the speed bounds
    (when it does not fit, at ``evaluate.unfit_speed`` of its ``staged`` terms on ``device``; not
    judged without them). So the closest misses do not list 16 MiB short of a model that would
    decode 100× too slowly (recommend and tiers alike)."""
    speed = est.speed
    bounded = c.min_decode_tps is not None or c.max_ttft_s is not None
    if speed is None and staged is not None and device is not None and bounded and _memory_fails(est.fit, c):
        speed = unfit_speed(staged, device, workload)
    misses = _misses(est, model, workload, c, tables, choice, speed)
    if workload.context_tokens > model.context_length:
        first = Reason("context", value=workload.context_tokens, limit=model.context_length)
    elif _memory_fails(est.fit, c):
        first = memory_shortfall(est)
    else:
        return Rejection(model.id, est.quant_id, misses[0], est.runtime, est.backend or None) if misses else None
    why = max([first, *misses], key=lambda r: r.shortfall)
    if first.kind == "memory" and why.kind in UNFIT_SECOND:  # said too: it does not fit either
        why = replace(why, second=float(est.memory.total_bytes))
    return Rejection(model.id, est.quant_id, why, est.runtime, est.backend or None)


def _misses(est: Estimate, model: ModelSpec, workload: Workload, c: Constraints, tables: Tables | None, choice: Any,
            sp: SpeedEstimate | None) -> list[Reason]:
    """The limits other than memory that ``est`` misses, in the order they are reported: the
    target's first (one: the first of them), then the quality floor, then the speed bounds (when
    ``sp`` is given)."""
    out: list[Reason] = []
    variant = choice if isinstance(choice, rt.Variant) else None
    if tables is not None:
        fmt = variant.format if variant is not None else choice
        out += tg.blocking_reasons(est, model, fmt, variant, c.deployment, tables, c.max_download_bytes,
                                   workload.context_tokens)[:1]
    if c.quality_floor is not None and est.quality_score < c.quality_floor:
        out.append(Reason("quality", value=est.quality_score, limit=c.quality_floor))
    if sp is not None and c.min_decode_tps is not None and sp.decode_tokens_per_s < c.min_decode_tps:
        out.append(Reason("speed", value=sp.decode_tokens_per_s, limit=c.min_decode_tps))
    if sp is not None and c.max_ttft_s is not None and sp.ttft_s > c.max_ttft_s:
        out.append(Reason("ttft", value=sp.ttft_s, limit=c.max_ttft_s))
    return out


#: Quality scores are compared in whole points, the precision they are shown in: catalog/QUALITY.md
#: treats differences under ~5 points as ties (harnesses and shot counts differ by more than a
#: point), so at least a 63.8 against a 64.0 (Q6_K vs an 8-bit format) is a tie that decode speed
#: breaks. Whole points, not 5: a coarser step would rank a 4-bit 7B level with a 3B.
QUALITY_RANK_STEP = 1.0


def _rank_key(est: Estimate, target_tps: float = 0.0) -> tuple[bool, bool, float, float]:
    """Comfortable fits first (a 'tight' fit leaves no room for other apps or a longer chat),
    then those reaching the soft speed target, then quality (in whole points), then decode speed."""
    tps = est.speed.decode_tokens_per_s if est.speed else 0.0
    return (est.fit == "fits", tps >= target_tps, _quality_rank(est.quality_score), tps)


def _quality_rank(score: float) -> float:
    """A quality score as ranked: rounded to QUALITY_RANK_STEP."""
    return round(score / QUALITY_RANK_STEP) * QUALITY_RANK_STEP


def best_quant(
    model: ModelSpec,
    quants: Sequence[FileType | Variant],
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    constraints: Constraints,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    memo: DeviceMemo | None = None,
) -> tuple[Estimate | None, list[tuple[Rejection, Estimate]]]:
    """The best passing quantization of ``model`` on ``device`` (by the ranking key), and why
    the ones tried failed — every one of them when none passes.

    The memory side of every candidate comes first (``evaluate.stage``: fit and quality); then
    candidates are finished (speed, checks) from the highest possible rank down, and the search
    stops once the best so far outranks what any candidate left could reach — a candidate's rank
    can be no higher than its fit and quality with the speed target met at unbounded speed. The
    answer is the one a full search gives (ties keep the order of ``quants``). ``memo``: device
    terms shared by calls on the same device, workload and overrides (``recommend`` passes one)."""
    target = constraints.target_decode_tps
    memo = {} if memo is None else memo
    staged = []
    for choice in quants:
        variant = choice if isinstance(choice, rt.Variant) else None
        fmt = variant.format if variant is not None else choice
        staged.append((choice, stage(model, fmt, device, workload, tables, overrides=overrides, variant=variant, memo=memo)))
    staged.sort(key=lambda cs: _rank_ceiling(cs[1], constraints), reverse=True)  # stable: ties keep their order
    best: Estimate | None = None
    failures: list[tuple[Rejection, Estimate]] = []
    for choice, s in staged:
        if best is not None and _rank_ceiling(s, constraints) <= _rank_key(best, target):
            break
        est = finish(s, device, workload, browser=constraints.deployment.browser if constraints.deployment is not None else None)
        why = _check(est, model, workload, constraints, tables=tables, choice=choice, staged=s, device=device)
        if why is not None:
            failures.append((why, est))
        elif best is None or _rank_key(est, target) > _rank_key(best, target):
            best = est
    return best, failures


def _rank_ceiling(s: Staged, c: Constraints) -> tuple[bool, bool, float, float]:
    """The highest ranking key a staged candidate can have, whatever its speed; the lowest key of
    all when its memory alone fails it (``_memory_fails``)."""
    if _memory_fails(s.fit, c):
        return (False, False, -math.inf, -math.inf)
    return (s.fit == "fits", True, _quality_rank(s.quality_score), math.inf)


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
    memo: DeviceMemo = {}  # device terms per runtime × backend, shared by every model
    passing: list[Estimate] = []
    rejected: list[Rejection] = []
    for model in tables.models.values():
        pre = _model_filter(model, constraints)
        if pre is not None:
            rejected.append(pre)
            continue
        runnable = offered_to(quants, model, constraints)
        if quants and not runnable:
            rejected.append(Rejection(model.id, None, rt.architecture_reason(model, getattr(tables, "runtimes", None), quants)))
            continue
        best, failures = best_quant(model, runnable, device, workload, tables, constraints, overrides=overrides, memo=memo)
        if best is not None:
            passing.append(best)
        elif failures:
            # report the most favourable failure: the smallest candidate that was tried
            why, _ = min(failures, key=lambda pair: pair[1].memory.total_bytes)
            rejected.append(why)
    passing.sort(key=lambda e: _rank_key(e, target), reverse=True)
    ranked = tuple(passing)
    passed_over, tighter = _passed_over(ranked, target)
    choice = None
    if ranked:
        pick_model = tables.models[ranked[0].model_id]
        choice = runtime_choice(ranked[0], pick_model, quants, device, workload, tables, constraints, overrides=overrides,
                                memo=memo)
    return Recommendation(
        device=device,
        workload=workload,
        constraints=constraints,
        ranked=ranked,
        rejected=tuple(sorted(rejected, key=rejection_order)),
        alternatives=_alternatives(ranked),
        passed_over=passed_over,
        tighter_higher_quality=tighter,
        runtime_choice=choice,
    )


def runtime_choice(
    pick: Estimate,
    model: ModelSpec,
    quants: Sequence[FileType | Variant],
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    constraints: Constraints,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    memo: DeviceMemo | None = None,
) -> RuntimeChoice | None:
    """The pick's model on each runtime among ``quants`` (its best passing format per runtime, by
    the same ranking key), and what sets the pick's runtime above the runner-up. None when the
    candidates span a single runtime."""
    by_runtime: dict[str, list[FileType | Variant]] = {}
    for q in quants:
        by_runtime.setdefault(rt.choice_key(q)[0], []).append(q)
    if len(by_runtime) < 2:
        return None
    target = constraints.target_decode_tps
    others: list[RuntimeOption] = []
    for runtime_id, choices in by_runtime.items():
        if runtime_id == pick.runtime:
            continue
        if not any(rt.runs_model(q, model) for q in choices):
            others.append(RuntimeOption(runtime_id, None, rt.architecture_reason(model, getattr(tables, "runtimes", None), choices)))
            continue
        best, failures = best_quant(model, choices, device, workload, tables, constraints, overrides=overrides, memo=memo)
        if best is not None:
            others.append(RuntimeOption(runtime_id, best))
        elif failures:
            why, _ = min(failures, key=lambda pair: (pair[0].why.shortfall, pair[1].memory.total_bytes))
            others.append(RuntimeOption(runtime_id, None, why.why))
    others.sort(key=lambda o: (o.estimate is not None, _rank_key(o.estimate, target) if o.estimate else ()), reverse=True)
    runner = next((o.estimate for o in others if o.estimate is not None), None)
    why = "only"
    if runner is not None:
        mine, theirs = _rank_key(pick, target), _rank_key(runner, target)
        why = next((w for w, a, b in zip(RUNTIME_WHY, mine, theirs) if a != b), "tie")
    return RuntimeChoice(why, (RuntimeOption(pick.runtime, pick), *others))


#: Alternatives shown beside the pick must keep at least this share of its quality score
#: (a product choice: "fastest still useful"), and the lightest alternative this larger share
#: ("nearly as good, smaller"). Not fitted to data.
ALTERNATIVE_QUALITY_SHARE = 0.6
LIGHTER_ALTERNATIVE_QUALITY_SHARE = 0.85


def rejection_order(r: Rejection) -> tuple[bool, float, str, str]:
    """Closest misses first: by how far each missed its bound (relative), filtered-out models last."""
    return (r.why.is_filter, r.why.shortfall, r.model_id, r.quant_id or "")


def _alternatives(ranked: Sequence[Estimate]) -> tuple[Alternative, ...]:
    if len(ranked) < 2:
        return ()
    pick = ranked[0]
    out: list[Alternative] = []
    useful = [e for e in ranked if e.quality_score >= ALTERNATIVE_QUALITY_SHARE * pick.quality_score]
    fastest = max(useful, key=lambda e: e.speed.decode_tokens_per_s if e.speed else 0)
    if fastest is not pick:
        out.append(Alternative("fastest", ALTERNATIVE_QUALITY_SHARE, fastest))
    near = [e for e in ranked[1:] if e.quality_score >= LIGHTER_ALTERNATIVE_QUALITY_SHARE * pick.quality_score]
    if near:
        lightest = min(near, key=lambda e: e.memory.total_bytes)
        if lightest is not fastest:
            out.append(Alternative("lightest", LIGHTER_ALTERNATIVE_QUALITY_SHARE, lightest))
    return tuple(out)


def _passed_over(ranked: Sequence[Estimate], target: float) -> tuple[Estimate | None, bool]:
    """The best-quality candidate ranked below the pick for missing the soft speed target (if the
    pick reaches it), and whether higher-quality candidates were ranked below for a tight fit."""
    if not ranked:
        return None, False
    pick = ranked[0]
    tps = pick.speed.decode_tokens_per_s if pick.speed else 0.0
    slower = [e for e in ranked if e.quality_score > pick.quality_score and e.speed and e.speed.decode_tokens_per_s < target]
    passed = max(slower, key=lambda e: e.quality_score) if target and tps >= target and slower else None
    tighter = pick.fit == "fits" and any(e.fit == "tight" and e.quality_score > pick.quality_score for e in ranked)
    return passed, tighter


# --------------------------------------------------------------------------- reverse question


@dataclass(frozen=True)
class DeviceOption:
    device: DeviceProfile
    estimate: Estimate | None  # the quantization chosen on that device (None: nothing fits)
    meets: bool
    reason: Reason | None  # why it does not meet the requirement (None when it does)

    @property
    def price_usd(self) -> float | None:
        return self.device.price.usd if self.device.price else None

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.estimate.speed.decode_tokens_per_s if self.estimate and self.estimate.speed else None

    @property
    def energy_j_per_response(self) -> float | None:
        return self.estimate.speed.energy_j_per_response if self.estimate and self.estimate.speed else None


#: How devices that meet a requirement are ordered (``devices-for --rank-by`` and the reports'
#: ``rank_by``): unit price, fleet price (the same order: unit price × fleet size), energy per
#: response, decode speed.
RANK_BY = ("cost", "fleet_cost", "energy", "speed")


def _option_key(o: DeviceOption, rank_by: str) -> tuple:
    """Devices that meet the requirement first; then by price (unknown last), energy per
    response (lowest first) or decode speed (fastest first)."""
    if rank_by == "energy":
        e = o.energy_j_per_response
        return (not o.meets, e is None, e or 0.0, o.device.id)
    if rank_by == "speed":
        return (not o.meets, -(o.decode_tokens_per_s or 0.0), o.device.id)
    return (not o.meets, o.price_usd is None, o.price_usd or 0.0, o.device.id)


T = TypeVar("T")


def cheapest_by_class(
    items: Iterable[T], *, price: Callable[[T], float | None], device_class: Callable[[T], str],
    device_id: Callable[[T], str],
) -> dict[str, T]:
    """The lowest-priced item in each device class (ties: the lower device id), classes sorted.
    Items without a price are left out. The one home of "cheapest per class" (CLI and reports)."""
    best: dict[str, tuple[float, str, T]] = {}
    for item in items:
        p = price(item)
        if p is None:
            continue
        cls, key = device_class(item), (p, device_id(item))
        if cls not in best or key < best[cls][:2]:
            best[cls] = (*key, item)
    return {cls: best[cls][2] for cls in sorted(best)}


def cheapest_per_class(options: Sequence[DeviceOption]) -> dict[str, DeviceOption]:
    """The lowest-priced device that meets the requirement, in each device class."""
    return cheapest_by_class((o for o in options if o.meets), price=complete_price,
                             device_class=lambda o: o.device.device_class, device_id=lambda o: o.device.id)


def complete_price(o: DeviceOption) -> float | None:
    """The unit price when it buys the whole device (a GPU-only price is not one)."""
    return o.price_usd if o.device.price is not None and o.device.price.complete else None


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
    rank_by: str = "cost",
    runtimes: frozenset[str] | None = None,
    quant_names: frozenset[str] | None = None,
    deployments: Mapping[str, Any] | None = None,
    max_download_bytes: int | None = None,
    backend: str | None = None,
    refusals: Mapping[str, Reason] | None = None,
) -> list[DeviceOption]:
    """Which devices run ``model`` (in ``quant``, or its best common quant that meets the speed),
    ranked by price, energy or speed; devices that cannot, last, with the reason. ``runtimes`` and
    ``quant_names`` (format names of any runtime) widen the search as ``Constraints`` does.
    ``deployments`` (device id → ``targets.Deployment``): a target placed on each device that can
    host it; a device missing from it cannot host the target (``refusals``: why, where known — the
    browser asked for does not run there — else the generic "target" reason)."""
    names = quant_names or (frozenset({quant.id}) if quant else None)
    base = Constraints(min_decode_tps=min_decode_tps, max_ttft_s=max_ttft_s, target_decode_tps=0.0,
                       runtimes=runtimes, quant_ids=names, max_download_bytes=max_download_bytes, backend=backend)
    out: list[DeviceOption] = []
    for device in devices:
        c = base
        if deployments is not None:
            dep = deployments.get(device.id)
            if dep is None:
                why = (refusals or {}).get(device.id) or tg.not_hosted(device)
                out.append(DeviceOption(device, None, False, why))
                continue
            c = replace(base, deployment=dep)
            device = dep.device
        quants = candidate_variants(device, tables, c)
        if not quants:
            out.append(DeviceOption(device, None, False, Reason("runtime")))
            continue
        runnable = offered_to(quants, model, c)
        if not runnable:
            out.append(DeviceOption(device, None, False, rt.architecture_reason(model, getattr(tables, "runtimes", None), quants)))
            continue
        best, fails = best_quant(model, runnable, device, workload, tables, c, overrides=overrides)
        if best is not None:
            out.append(DeviceOption(device, best, True, None))
        else:
            why, est = min(fails, key=lambda pair: pair[1].memory.total_bytes)
            out.append(DeviceOption(device, est if est.fit != "no" else None, False, why.why))
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

"""Derived views shared by the dashboard and the reports: Pareto fronts, sweeps over context and
prompt length, and the procurement comparison of devices. Thin over the engine; no UI here."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from advisor.api import run_recommend
from advisor.catalog import Catalog, load_catalog
from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.evaluate import evaluate
from advisor.engine.fleet import wh_per_1000_responses
from advisor.engine.speed import device_power_w
from advisor.errors import BadInputError
from advisor.engine.recommend import READING_SPEED_TPS, Constraints, Recommendation, best_quant, candidate_variants, offered_to
from advisor.records import DeviceProfile, Estimate, PathFactors, Reason, Workload
from advisor.serialize import rounded
from advisor.wording import speed_evidence


def pareto_front(estimates: Iterable[Estimate]) -> list[Estimate]:
    """Candidates not beaten on both quality and decode speed by another candidate, fastest first."""
    pts = [e for e in estimates if e.speed is not None and e.fit != "no"]
    pts.sort(key=lambda e: (-e.speed.decode_tokens_per_s, -e.quality_score))  # type: ignore[union-attr]
    front: list[Estimate] = []
    best_quality = float("-inf")
    for e in pts:
        if e.quality_score > best_quality:
            front.append(e)
            best_quality = e.quality_score
    return front


def _format(catalog: Catalog, quant_id: str, variant: rt.Variant | None) -> Any:
    """The format record to evaluate: the variant's own (a runtime format, or a GGUF type run by
    llama.cpp on a named backend), else the GGUF file type ``quant_id``."""
    return variant.format if variant is not None else catalog.file_type(quant_id)


def _sweep(
    model_id: str, quant_id: str, device: DeviceProfile, values: Sequence[int], workload_at: Callable[[int], Workload],
    catalog: Catalog | None, overrides: Mapping[str, PathFactors] | None, variant: rt.Variant | None = None,
) -> list[tuple[int, Estimate]]:
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), _format(catalog, quant_id, variant)
    return [(v, evaluate(model, ftype, device, workload_at(v), catalog, overrides=overrides, variant=variant)) for v in values]


def sweep_context(
    model_id: str, quant_id: str, device: DeviceProfile, contexts: Sequence[int], base: Workload,
    catalog: Catalog | None = None, overrides: Mapping[str, PathFactors] | None = None, variant: rt.Variant | None = None,
) -> list[tuple[int, Estimate]]:
    """Memory and decode speed as the context grows (the prompt fills it to 90%). ``variant``: a
    runtime × backend × format (``engine.runtimes.variant_of`` an estimate) instead of llama.cpp's
    GGUF ``quant_id``."""

    def at(ctx: int) -> Workload:
        out_tokens = min(base.output_tokens, max(1, ctx // 10))
        return replace(base, context_tokens=ctx, prompt_tokens=max(1, ctx - out_tokens - 1) if ctx > 2 else 1,
                       output_tokens=out_tokens)

    return _sweep(model_id, quant_id, device, contexts, at, catalog, overrides, variant)


def sweep_prompt(
    model_id: str, quant_id: str, device: DeviceProfile, prompts: Sequence[int], base: Workload,
    catalog: Catalog | None = None, overrides: Mapping[str, PathFactors] | None = None, variant: rt.Variant | None = None,
) -> list[tuple[int, Estimate]]:
    """Time to first token as the prompt grows (context widened when needed); ``variant`` as in
    ``sweep_context``."""

    def at(p: int) -> Workload:
        return replace(base, context_tokens=max(base.context_tokens, p + base.output_tokens), prompt_tokens=p)

    return _sweep(model_id, quant_id, device, prompts, at, catalog, overrides, variant)


@dataclass(frozen=True)
class DeviceComparison:
    device: DeviceProfile
    estimate: Estimate
    price_usd: float | None
    tokens_per_s_per_dollar: float | None
    tokens_per_s_per_watt: float | None
    energy_j_per_response: float | None
    energy_wh_per_1000_responses: float | None


def compare_devices(
    model_id: str, quant_id: str, devices: Sequence[DeviceProfile], workload: Workload, catalog: Catalog | None = None,
    overrides: Mapping[str, PathFactors] | None = None, variant: rt.Variant | None = None,
) -> list[DeviceComparison]:
    """The same model on several devices: speed, headroom, energy, price, value. With ``variant``
    (a runtime other than llama.cpp's default path) each device runs that runtime and format on
    the runtime's default backend there; a device the runtime or format cannot run on is left
    out (``variant_on`` says which)."""
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), _format(catalog, quant_id, variant)
    out = []
    for d in devices:
        on_d = variant_on(variant, d) if variant is not None else None
        if variant is not None and on_d is None:
            continue
        e = evaluate(model, ftype, d, workload, catalog, overrides=overrides, variant=on_d)
        tps = e.speed.decode_tokens_per_s if e.speed else None
        price = d.price.usd if d.price else None
        watts = device_power_w(d)  # the power of the energy figures: (tok/s per W) × (J/token) = 1
        energy = e.speed.energy_j_per_response if e.speed else None
        out.append(DeviceComparison(
            device=d, estimate=e, price_usd=price,
            tokens_per_s_per_dollar=(tps / price) if tps and price else None,
            tokens_per_s_per_watt=(tps / watts) if tps and watts else None,
            energy_j_per_response=energy,
            energy_wh_per_1000_responses=wh_per_1000_responses(energy),
        ))
    return out


def variant_on(variant: rt.Variant, device: DeviceProfile) -> rt.Variant | None:
    """The same runtime and format on another device, on the runtime's default backend there
    (None: the runtime, or this format, does not run on that device)."""
    backend = rt.default_backend(variant.runtime, list(variant.runtime.usable_backends(device)),
                                 lambda f: f is variant.format)
    return rt.Variant(variant.runtime, backend, variant.format) if backend is not None else None


# --------------------------------------------------------------------------- runtimes compared


@dataclass(frozen=True)
class RuntimeComparison:
    """One runtime on one device for one model: its default backend there, the best of its
    formats that passes (fit, the target's per-buffer limits, the download limit), else the
    smallest format tried and why it fails."""

    runtime: Any  # records.Runtime
    backend: Any  # records.RuntimeBackend
    estimate: Estimate
    passes: bool
    reason: Reason | None  # why the shown format does not pass (None when it does)
    download_bytes: int
    #: "fitted" (factors fitted to published measurements of this runtime × backend) or "prior"
    #: (llama.cpp's factors of the same hardware stand in), from the estimate's speed basis
    decode_basis: str
    prefill_basis: str


def compare_runtimes(
    model_id: str, device: DeviceProfile, workload: Workload, catalog: Catalog | None = None, *,
    deployment: Any = None, max_download_bytes: int | None = None, target_decode_tps: float = READING_SPEED_TPS,
    overrides: Mapping[str, PathFactors] | None = None,
) -> list[RuntimeComparison]:
    """``model_id`` on ``device`` (under ``deployment``'s target when given) in every runtime the
    device can run there, each on its default backend in its best passing format (ranked as
    ``recommend`` ranks), passing ones first, fastest decode first."""
    catalog = catalog or load_catalog()
    model = catalog.model(model_id)
    on = deployment.device if deployment is not None else device
    out: list[RuntimeComparison] = []
    for runtime in catalog.runtimes.values():
        c = Constraints(runtimes=frozenset({runtime.id}), deployment=deployment, max_download_bytes=max_download_bytes,
                        target_decode_tps=target_decode_tps)
        variants = offered_to(candidate_variants(on, catalog, c), model, c)
        if not variants:
            continue  # the runtime does not run on the device, or cannot load the model's architecture
        best, failures = best_quant(model, variants, on, workload, catalog, c, overrides=overrides)
        reason = None
        if best is None:
            why, best = min(failures, key=lambda pair: pair[1].memory.total_bytes)
            reason = why.why
        variant = rt.variant_of(best, catalog)
        basis = best.speed.basis if best.speed is not None else ""
        out.append(RuntimeComparison(
            runtime=runtime, backend=variants[0].backend if isinstance(variants[0], rt.Variant) else None,
            estimate=best, passes=reason is None, reason=reason, download_bytes=tg.download_bytes(best, variant, catalog),
            decode_basis=speed_evidence(basis, "decode"), prefill_basis=speed_evidence(basis, "prefill"),
        ))
    out.sort(key=lambda r: (not r.passes, -(r.estimate.speed.decode_tokens_per_s if r.estimate.speed else 0.0)))
    return out


def runtimes_not_loading(model_id: str, catalog: Catalog | None = None, deployment: Any = None) -> list[str]:
    """The catalog runtimes (those of ``deployment``'s target when given) whose converter or
    loader has no code for the model's architecture."""
    catalog = catalog or load_catalog()
    arch = catalog.model(model_id).gguf_arch
    return [r.id for r in catalog.runtimes.values()
            if not r.runs_arch(arch) and (deployment is None or r.id in deployment.target.runtimes)]


def variant_grid(
    device: DeviceProfile, workload: Workload, constraints: Constraints, catalog: Catalog | None = None,
    overrides: Mapping[str, PathFactors] | None = None,
) -> list[Estimate]:
    """Every model × every runtime × format that ``constraints`` considers on ``device`` (under its
    deployment's budget; each runtime on its default backend there): the full table behind a
    recommendation over runtimes, as ``evaluate_grid`` is for llama.cpp's GGUF types. A per-buffer
    limit of the deployment that an estimate breaks is added to its reasons (kind "limit")."""
    catalog = catalog or load_catalog()
    dep = constraints.deployment
    on = dep.device if dep is not None else device
    out = []
    for m in catalog.models.values():
        for v in offered_to(candidate_variants(on, catalog, constraints), m, constraints):
            variant = v if isinstance(v, rt.Variant) else None
            fmt = v.format if variant is not None else v
            e = evaluate(m, fmt, on, workload, catalog, overrides=overrides, variant=variant,
                         browser=dep.browser if dep is not None else None)
            if dep is not None:
                breaches = tg.limit_breaches(e, m, fmt, variant, dep, catalog)
                if breaches:
                    e = replace(e, reasons=e.reasons + tuple(
                        Reason("limit", value=b.bytes, limit=b.limit_bytes, name=b.what, category=f"{b.limit} of {b.where}")
                        for b in breaches))
            out.append(e)
    return out


def runs_under_limits(e: Estimate) -> bool:
    """No per-buffer limit of the target rules the estimate out (``variant_grid`` notes them as
    reasons of kind "limit"; its memory fit says nothing about them)."""
    return not any(r.kind == "limit" for r in e.reasons)


def prediction_error_pct(predicted: float | None, measured: float | None) -> float | None:
    """Signed error of a prediction against a measurement: (predicted − measured) / measured × 100."""
    if predicted is None or not measured:
        return None
    return (predicted - measured) / measured * 100


def sibling_variants(device: DeviceProfile, catalog: Catalog) -> list[DeviceProfile]:
    """Profiles of the same family with more RAM: the same id with a larger ``-NNgb`` suffix."""
    match = re.fullmatch(r"(.+)-(\d+)gb", device.id)
    if not match:
        return []
    prefix = match.group(1)
    out = []
    for other in catalog.devices.values():
        om = re.fullmatch(r"(.+)-(\d+)gb", other.id)
        if om and om.group(1) == prefix and other.memory.ram > device.memory.ram:
            out.append(other)
    return sorted(out, key=lambda d: (d.memory.ram, d.id))


def _processor(e: Estimate, catalog: Catalog) -> str | None:
    """The kind of processor an estimate runs on: "cpu", "gpu" or "npu" — its runtime's backend's
    (llama.cpp's estimates name their execution path: cpu-arm, cuda-unified …)."""
    from advisor.engine.speed import CPU_PATHS, GPU_PATHS

    if e.backend in CPU_PATHS:
        return "cpu"
    if e.backend in GPU_PATHS:
        return "gpu"
    runtime = catalog.runtimes.get(e.runtime)
    backend = runtime.backend(e.backend) if runtime is not None and e.backend else None
    return backend.kind if backend is not None else None


def what_if_more_ram(devices: Sequence[DeviceProfile], workload: Workload, constraints: Constraints,
                     catalog: Catalog, requested: Iterable[str] = (), *,
                     deploy: Callable[[DeviceProfile], Any]) -> list[dict[str, Any]]:
    """For each device with a larger-RAM sibling: the models (any in the catalog, under the same speed,
    TTFT, quality and quant constraints) that meet the requirement there and not on the device, each
    saying whether it fits the device's memory too (``fits_device``): a sibling can also have faster
    memory (an N100 16 GB with DDR5-4800 against the 8 GB's DDR4-3200), and then the gain is speed,
    not RAM.

    ``deploy`` (device → ``targets.Deployment``, or None without a target; a ``BadInputError``
    for a device that cannot host the target, whose variants are then skipped) puts them on the
    answer's own terms — the constraints' runtimes, backend and download cap, and the target's
    budget, runtimes and per-buffer limits on the device and on each variant alike."""
    open_constraints = Constraints(
        min_decode_tps=constraints.min_decode_tps, max_ttft_s=constraints.max_ttft_s,
        quant_ids=constraints.quant_ids, quality_floor=constraints.quality_floor,
        runtimes=constraints.runtimes, backend=constraints.backend, max_download_bytes=constraints.max_download_bytes,
    )
    requested = set(requested)
    cache: dict[str, Recommendation] = {}
    placed: dict[str, DeviceProfile | None] = {}

    def on_target(d: DeviceProfile) -> DeviceProfile | None:
        """The device as the answer evaluates it (its usable memory the target's budget), None
        when it cannot host the target."""
        if d.id not in placed:
            try:
                dep = deploy(d)
            except BadInputError:
                placed[d.id] = None
            else:
                placed[d.id] = d if dep is None else dep.device
                if dep is not None:
                    cache[d.id] = run_recommend(dep.device, workload, replace(open_constraints, deployment=dep), catalog)
        return placed[d.id]

    def rec(d: DeviceProfile) -> Recommendation:
        if d.id not in cache:
            cache[d.id] = run_recommend(d, workload, open_constraints, catalog)
        return cache[d.id]

    out = []
    for device in devices:
        here = on_target(device)
        if here is None:
            continue
        for bigger in sibling_variants(device, catalog):
            if on_target(bigger) is None:
                continue
            base = {e.model_id for e in rec(device).ranked}
            new = [e for e in rec(bigger).ranked if e.model_id not in base]
            # what the device itself said of each: memory (its budget for that runtime: MLC keeps
            # a share of it) or a target's per-buffer limit ruled it out there, or something else
            short = {(r.model_id, r.quant_id, r.runtime) for r in rec(device).rejected if r.kind in ("memory", "limit")}
            price, bprice = (device.price.usd if device.price else None), (bigger.price.usd if bigger.price else None)
            out.append({
                "device": device.id,
                "device_name": device.name,
                "variant": bigger.id,
                "variant_name": bigger.name,
                "ram_bytes": device.memory.ram,
                "variant_ram_bytes": bigger.memory.ram,
                "bandwidth_gbs": device.memory.bandwidth_gbs,
                "variant_bandwidth_gbs": bigger.memory.bandwidth_gbs,
                "cpu_cores": device.cpu.cores,
                "variant_cpu_cores": bigger.cpu.cores,
                "gpu_fp16_tflops": device.gpu.fp16_tflops if device.gpu else None,
                "variant_gpu_fp16_tflops": bigger.gpu.fp16_tflops if bigger.gpu else None,
                "unit_price_usd": price,
                "variant_unit_price_usd": bprice,
                "extra_unit_price_usd": rounded("extra_unit_price_usd", bprice - price)
                if price is not None and bprice is not None else None,
                "newly_possible": [
                    {
                        "model": e.model_id, "model_name": catalog.models[e.model_id].name, "quant": e.quant_id,
                        "runtime": e.runtime, "backend": e.backend, "processor": _processor(e, catalog),
                        "requested": e.model_id in requested,
                        "quality_score": rounded("quality_score", e.quality_score),
                        "decode_tokens_per_s": rounded("decode_tokens_per_s", e.speed.decode_tokens_per_s) if e.speed else None,
                        "memory_bytes": e.memory.total_bytes,
                        "fits_device": (e.model_id, e.quant_id, e.runtime) not in short
                        and e.memory.total_bytes <= here.memory.usable,
                    }
                    for e in new
                ],
            })
    return out

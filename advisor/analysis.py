"""Derived views shared by the dashboard and the reports: Pareto fronts, sweeps over context and
prompt length, and the procurement comparison of devices. Thin over the engine; no UI here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from advisor.catalog import Catalog, load_catalog
from advisor.engine.fit import evaluate
from advisor.records import DeviceProfile, Estimate, PathFactors, Workload


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


def sweep_context(
    model_id: str, quant_id: str, device: DeviceProfile, contexts: Sequence[int], base: Workload,
    catalog: Catalog | None = None, overrides: Mapping[str, PathFactors] | None = None,
) -> list[tuple[int, Estimate]]:
    """Memory and decode speed as the context grows (the prompt fills it to 90%)."""
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), catalog.file_type(quant_id)
    out = []
    for ctx in contexts:
        out_tokens = min(base.output_tokens, max(1, ctx // 10))
        w = Workload(context_tokens=ctx, prompt_tokens=max(1, ctx - out_tokens - 1) if ctx > 2 else 1,
                     output_tokens=out_tokens, kv_cache_type=base.kv_cache_type, n_ubatch=base.n_ubatch, threads=base.threads)
        out.append((ctx, evaluate(model, ftype, device, w, catalog, overrides=overrides)))
    return out


def sweep_prompt(
    model_id: str, quant_id: str, device: DeviceProfile, prompts: Sequence[int], base: Workload,
    catalog: Catalog | None = None, overrides: Mapping[str, PathFactors] | None = None,
) -> list[tuple[int, Estimate]]:
    """Time to first token as the prompt grows (context widened when needed)."""
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), catalog.file_type(quant_id)
    out = []
    for p in prompts:
        ctx = max(base.context_tokens, p + base.output_tokens)
        w = Workload(context_tokens=ctx, prompt_tokens=p, output_tokens=base.output_tokens,
                     kv_cache_type=base.kv_cache_type, n_ubatch=base.n_ubatch, threads=base.threads)
        out.append((p, evaluate(model, ftype, device, w, catalog, overrides=overrides)))
    return out


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
    overrides: Mapping[str, PathFactors] | None = None,
) -> list[DeviceComparison]:
    """The same model on several devices: speed, headroom, energy, price, value."""
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), catalog.file_type(quant_id)
    out = []
    for d in devices:
        e = evaluate(model, ftype, d, workload, catalog, overrides=overrides)
        tps = e.speed.decode_tokens_per_s if e.speed else None
        price = d.price.usd if d.price else None
        watts = d.power.typical_w or d.power.max_w
        energy = e.speed.energy_j_per_response if e.speed else None
        out.append(DeviceComparison(
            device=d, estimate=e, price_usd=price,
            tokens_per_s_per_dollar=(tps / price) if tps and price else None,
            tokens_per_s_per_watt=(tps / watts) if tps and watts else None,
            energy_j_per_response=energy,
            energy_wh_per_1000_responses=(energy * 1000 / 3600) if energy is not None else None,
        ))
    return out


def prediction_error_pct(predicted: float | None, measured: float | None) -> float | None:
    """Signed error of a prediction against a measurement: (predicted − measured) / measured × 100."""
    if predicted is None or not measured:
        return None
    return (predicted - measured) / measured * 100

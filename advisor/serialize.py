"""Plain-dict views of engine results: the stable JSON schema shared by the CLI, the dashboard
and the reports. Field names carry their units (``_bytes``, ``_tokens_per_s``, ``_s``, ``_j``).

Schema version: bump ``SCHEMA_VERSION`` on any incompatible change; additions are compatible.
"""

from __future__ import annotations

from typing import Any

from advisor.engine.fit import Tables, quality_table
from advisor.engine.recommend import Constraints, DeviceOption, Recommendation, Rejection
from advisor.records import DeviceProfile, Estimate, Workload

SCHEMA_VERSION = 1


def workload_dict(w: Workload) -> dict[str, Any]:
    return {
        "context_tokens": w.context_tokens,
        "prompt_tokens": w.prompt_tokens,
        "output_tokens": w.output_tokens,
        "kv_cache_type": w.kv_cache_type,
        "n_ubatch": w.n_ubatch,
        "threads": w.threads,
    }


def device_dict(d: DeviceProfile) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "class": d.device_class,
        "soc": d.soc,
        "ram_bytes": d.memory.ram,
        "usable_bytes": d.memory.usable,
        "usable_basis": d.memory.usable_basis,
        "memory_type": d.memory.type,
        "bandwidth_gbs": d.memory.bandwidth_gbs,
        "bandwidth_basis": d.memory.bandwidth_basis,
        "cpu": d.cpu.name,
        "cpu_cores": d.cpu.cores,
        "gpu": d.gpu.name if d.gpu else None,
        "gpu_backend": d.gpu.backend if d.gpu_usable and d.gpu else None,
        "vram_bytes": d.gpu.vram if d.gpu and d.gpu.discrete else None,
        "price_usd": d.price.usd if d.price else None,
        "power_typical_w": d.power.typical_w,
        "power_max_w": d.power.max_w,
        "measured_at": d.measured_at,
        "source": d.source,
    }


def estimate_dict(e: Estimate, tables: Tables) -> dict[str, Any]:
    model = tables.models[e.model_id]
    base = quality_table(tables).base[model.id]
    m = e.memory
    out: dict[str, Any] = {
        "model": e.model_id,
        "model_name": model.name,
        "quant": e.quant_id,
        "device": e.device_id,
        "fit": e.fit,
        "memory": {
            "weights_bytes": m.weights_bytes,
            "kv_cache_bytes": m.kv_cache_bytes,
            "recurrent_state_bytes": m.recurrent_state_bytes,
            "compute_buffer_bytes": m.compute_buffer_bytes,
            "overhead_bytes": m.overhead_bytes,
            "total_bytes": m.total_bytes,
            "gpu_bytes": m.gpu_bytes,
            "usable_bytes": e.usable_bytes,
            "headroom_bytes": e.headroom_bytes,
        },
        "quality_score": round(e.quality_score, 2),
        "quality_basis": base.basis,
        "params": model.params,
        "license": model.license,
        "license_class": model.license_class,
        "context_length": model.context_length,
        "notes": list(e.reasons),
        "speed": None,
    }
    s = e.speed
    if s is not None:
        out["speed"] = {
            "decode_tokens_per_s": round(s.decode_tokens_per_s, 3),
            "decode_low": round(s.decode_band.low, 3),
            "decode_high": round(s.decode_band.high, 3),
            "decode_bound": s.decode_bound,
            "prefill_tokens_per_s": round(s.prefill_tokens_per_s, 3),
            "prefill_low": round(s.prefill_band.low, 3),
            "prefill_high": round(s.prefill_band.high, 3),
            "prefill_bound": s.prefill_bound,
            "ttft_s": round(s.ttft_s, 4),
            "response_s": round(s.response_s, 3),
            "energy_j_per_token": None if s.energy_j_per_token is None else round(s.energy_j_per_token, 4),
            "energy_j_per_response": None if s.energy_j_per_response is None else round(s.energy_j_per_response, 2),
            "backend": s.backend,
            "threads": s.threads,
            "gpu_layers": s.gpu_layers,
            "bytes_per_token": s.bytes_per_token,
            "basis": s.basis,
        }
    return out


def rejection_dict(r: Rejection) -> dict[str, Any]:
    return {"model": r.model_id, "quant": r.quant_id, "reason": r.reason, "detail": r.detail}


def constraints_dict(c: Constraints) -> dict[str, Any]:
    return {
        "min_decode_tokens_per_s": c.min_decode_tps,
        "max_ttft_s": c.max_ttft_s,
        "license_classes": sorted(c.license_classes) if c.license_classes else None,
        "families": sorted(c.families) if c.families else None,
        "models": sorted(c.model_ids) if c.model_ids else None,
        "quants": sorted(c.quant_ids) if c.quant_ids else None,
        "quality_floor": c.quality_floor,
        "target_decode_tokens_per_s": c.target_decode_tps,
    }


def recommendation_dict(r: Recommendation, tables: Tables, top: int | None = None) -> dict[str, Any]:
    ranked = r.ranked if top is None else r.ranked[:top]
    return {
        "schema": "edge-model-advisor/recommendation",
        "schema_version": SCHEMA_VERSION,
        "device": device_dict(r.device),
        "workload": workload_dict(r.workload),
        "constraints": constraints_dict(r.constraints),
        "explanation": r.explanation,
        "pick": estimate_dict(r.pick, tables) if r.pick else None,
        "alternatives": [{"why": why, **estimate_dict(e, tables)} for why, e in r.alternatives],
        "candidates": [estimate_dict(e, tables) for e in ranked],
        "n_candidates": len(r.ranked),
        "rejected": [rejection_dict(x) for x in r.rejected],
    }


def device_option_dict(o: DeviceOption, tables: Tables) -> dict[str, Any]:
    return {
        "device": device_dict(o.device),
        "meets": o.meets,
        "reason": o.reason,
        "estimate": estimate_dict(o.estimate, tables) if o.estimate else None,
    }

"""Plain-dict views of engine results: the stable JSON schema shared by the CLI, the dashboard
and the reports. Field names carry their units (``_bytes``, ``_tokens_per_s``, ``_s``, ``_j``).

Schema version: bump ``SCHEMA_VERSION`` on any incompatible change; additions are compatible.
"""

from __future__ import annotations

from typing import Any

from advisor.engine.evaluate import Tables, quality_table
from advisor.engine.recommend import Constraints, DeviceOption, Recommendation, Rejection
from advisor.records import DeviceProfile, Estimate, Reason, Workload
from advisor.wording import alternative_text, explanation, option_reason, reason_text

SCHEMA_VERSION = 1

#: Decimal places each figure keeps in JSON, CSV and XLSX: the one rounding of every output (tables
#: and sentences format further, with ``advisor.wording``). Enough digits to recompute the ratios.
DECIMALS: dict[str, int] = {
    "decode_tokens_per_s": 3, "decode_low": 3, "decode_high": 3, "sustained_decode_tokens_per_s": 3,
    "prefill_tokens_per_s": 3, "prefill_low": 3, "prefill_high": 3, "prefill_repack_speedup": 3,
    "ttft_s": 4, "response_s": 3, "load_warm_s": 3, "load_cold_s": 3, "cold_start_ttft_s": 3,
    "energy_j_per_token": 4, "energy_j_per_response": 2, "energy_wh_per_1000_responses": 3,
    "quality_score": 2, "fleet_price_usd": 2, "extra_unit_price_usd": 2,
    "tokens_per_s_per_dollar": 5, "tokens_per_s_per_watt": 4, "decode_measured_over_predicted": 3,
}


def rounded(key: str, value: float | None) -> float | None:
    """``value`` rounded to the places ``DECIMALS`` gives the figure ``key`` (None stays None)."""
    return None if value is None else round(value, DECIMALS[key])


def workload_dict(w: Workload) -> dict[str, Any]:
    return {
        "context_tokens": w.context_tokens,
        "prompt_tokens": w.prompt_tokens,
        "output_tokens": w.output_tokens,
        "kv_cache_type": w.kv_cache_type,
        "n_ubatch": w.n_ubatch,
        "threads": w.threads,
        "cpu_repack": w.cpu_repack,
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
        "storage": d.storage.kind if d.storage else None,
        "storage_read_mb_s": d.storage.read_mb_s if d.storage else None,
        "storage_basis": d.storage.basis if d.storage else None,
        "cpu_arch": d.cpu.arch,
        "measured_at": d.measured_at,
        "source": d.source,
        "stands_for": list(d.stands_for),
        "power_mode": d.power.active_mode,
        "power_modes": [m.name for m in d.power.modes],
        "sustained_decode_fraction": d.power.sustained.decode_fraction if d.power.sustained else None,
    }


def estimate_dict(e: Estimate, tables: Tables) -> dict[str, Any]:
    model = tables.models[e.model_id]
    base = quality_table(tables).base[model.id]
    m = e.memory
    out: dict[str, Any] = {
        "model": e.model_id,
        "model_name": model.name,
        "quant": e.quant_id,
        "runtime": e.runtime,
        "backend": e.backend,
        "format": e.quant_id,
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
            "n_cpu_moe": m.n_cpu_moe,
            "cpu_moe_bytes": m.cpu_moe_bytes,
            "repacked_bytes": m.repacked_bytes,
            "load_copy_bytes": m.load_copy_bytes,
            "load_transient_bytes": m.load_transient_bytes,
            "load_peak_bytes": m.load_peak_bytes,
            "usable_bytes": e.usable_bytes,
            "headroom_bytes": e.headroom_bytes,
        },
        "quality_score": rounded("quality_score", e.quality_score),
        "quality_basis": base.basis,
        "params": model.params,
        "license": model.license,
        "license_class": model.license_class,
        "context_length": model.context_length,
        "notes": [reason_text(r) for r in e.reasons],
        "speed": None,
    }
    s = e.speed
    if s is not None:
        out["speed"] = {
            "decode_tokens_per_s": rounded("decode_tokens_per_s", s.decode_tokens_per_s),
            "decode_low": rounded("decode_low", s.decode_band.low),
            "decode_high": rounded("decode_high", s.decode_band.high),
            "decode_bound": s.decode_bound,
            "prefill_tokens_per_s": rounded("prefill_tokens_per_s", s.prefill_tokens_per_s),
            "prefill_low": rounded("prefill_low", s.prefill_band.low),
            "prefill_high": rounded("prefill_high", s.prefill_band.high),
            "prefill_bound": s.prefill_bound,
            "ttft_s": rounded("ttft_s", s.ttft_s),
            "response_s": rounded("response_s", s.response_s),
            "energy_j_per_token": rounded("energy_j_per_token", s.energy_j_per_token),
            "energy_j_per_response": rounded("energy_j_per_response", s.energy_j_per_response),
            "energy_basis": s.energy_basis or None,
            "backend": s.backend,
            "threads": s.threads,
            "gpu_layers": s.gpu_layers,
            "bytes_per_token": s.bytes_per_token,
            "basis": s.basis,
            "sustained_decode_tokens_per_s": rounded("sustained_decode_tokens_per_s", s.sustained_decode_tokens_per_s),
            "sustained_basis": s.sustained_basis or None,
            "prefill_repack_speedup": rounded("prefill_repack_speedup", s.prefill_repack_speedup),
            "prefill_basis": s.prefill_basis or None,
        }
    ld = e.load
    out["load"] = None if ld is None else {
        "file_bytes": ld.file_bytes,
        "load_warm_s": rounded("load_warm_s", ld.warm_s),
        "load_cold_s": rounded("load_cold_s", ld.cold_s),
        "cold_start_ttft_s": rounded("cold_start_ttft_s", ld.cold_ttft_s),
        "storage": ld.storage_kind,
        "storage_read_mb_s": ld.storage_read_mb_s,
        "storage_basis": ld.storage_basis,
        # "first-start" (a native process after boot) or "later-visit" (a browser tab, the weights in its storage)
        "cold_case": ld.cold_case,
        "browser": ld.browser,
        "browser_name": ld.browser_name,
        "browser_storage_note": ld.browser_storage_note or None,
        # a browser's first visit downloads these bytes before the load; its time is not predicted
        "first_visit_predicted": False if ld.browser is not None else None,
        "first_visit_download_bytes": ld.first_visit_download_bytes,
        "vram_copy_excluded": ld.vram_copy_excluded,
        # the browser's cache-storage limit the download exceeds: every visit downloads (no cold load)
        "storage_cache_limit_exceeded_bytes": ld.storage_cache_limit_exceeded,
        "basis": ld.basis,
    }
    return out


def reason_dict(r: Reason) -> dict[str, Any]:
    """A reason's figures, under the names ``records.REASON_KINDS`` documents (empty ones left out)."""
    out: dict[str, Any] = {"kind": r.kind}
    for key in ("value", "limit", "second"):
        v = getattr(r, key)
        if v is not None:
            out[key] = v
    for key in ("name", "category"):
        if getattr(r, key):
            out[key] = getattr(r, key)
    return out


def rejection_dict(r: Rejection) -> dict[str, Any]:
    return {"model": r.model_id, "quant": r.quant_id, "runtime": r.runtime, "backend": r.backend, "reason": r.kind,
            "detail": reason_text(r.why), "figures": reason_dict(r.why)}


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
        "explanation": explanation(r, tables),
        "pick": estimate_dict(r.pick, tables) if r.pick else None,
        "alternatives": [{"why": alternative_text(a), **estimate_dict(a.estimate, tables)} for a in r.alternatives],
        "candidates": [estimate_dict(e, tables) for e in ranked],
        "n_candidates": len(r.ranked),
        "rejected": [rejection_dict(x) for x in r.rejected],
        "runtime_choice": runtime_choice_dict(r, tables),
    }


def runtime_choice_dict(r: Recommendation, tables: Tables) -> dict[str, Any] | None:
    """The pick's model on every runtime considered, and what sets the pick's runtime first
    (``why``: fit, target, quality, speed, tie or only; see ``engine.recommend.RUNTIME_WHY``)."""
    c = r.runtime_choice
    if c is None:
        return None
    return {
        "why": c.why,
        "options": [{"runtime": o.runtime, "estimate": estimate_dict(o.estimate, tables) if o.estimate else None,
                     "reason": reason_text(o.why) if o.why is not None else None,
                     "reason_figures": reason_dict(o.why) if o.why is not None else None} for o in c.options],
    }


def device_option_dict(o: DeviceOption, tables: Tables) -> dict[str, Any]:
    return {
        "device": device_dict(o.device),
        "meets": o.meets,
        "reason": option_reason(o),
        "reason_figures": reason_dict(o.reason) if o.reason else None,
        "estimate": estimate_dict(o.estimate, tables) if o.estimate else None,
    }

"""The data behind the report's charts (quality vs speed with the Pareto front, price vs speed,
memory breakdown); ``report.charts`` draws them. Every chart marks the recommended device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from advisor.analysis import pareto_front
from advisor.records import Estimate
from advisor.report.requirements import Requirements


def chart_data(rows: Sequence[Mapping[str, Any]], ranking: Sequence[Mapping[str, Any]],
            estimates: Mapping[int, Estimate], req: Requirements) -> dict[str, Any]:
    running = [r for r in rows if r["decode_tokens_per_s"] is not None]
    top = ranking[0] if ranking else None

    def recommended(r: Mapping[str, Any]) -> bool:
        """The report's recommendation (the first ranked device's pick): marked in every chart."""
        return top is not None and bool(r["pick"]) and r["device"] == top["device"]

    front_ids = {id(e) for e in pareto_front(estimates.values())}
    points = []
    for i, r in enumerate(rows):
        est = estimates.get(i)
        if est is None or r["decode_tokens_per_s"] is None:
            continue
        points.append({
            "label": f"{r['device']} · {r['model']} {r['quant']}", "device": r["device"], "model": r["model"],
            "device_name": r["device_name"], "model_name": r["model_name"], "quant": r["quant"], "decode_tokens_per_s": r["decode_tokens_per_s"], "quality_score": r["quality_score"],
            "meets": r["meets"], "on_front": id(est) in front_ids, "recommended": recommended(r),
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
         "decode_low": r["decode_low"], "decode_high": r["decode_high"], "meets": r["meets"],
         "recommended": recommended(r)}
        for r in by_device.values() if r["unit_price_usd"] is not None and r["decode_tokens_per_s"] is not None
    ]
    order = {r["device"]: i for i, r in enumerate(ranking)}
    cost_speed.sort(key=lambda p: (p["unit_price_usd"], p["device"]))
    memory = [
        {"label": f"{r['device']} · {r['model']} {r['quant']}", "device": r["device"], "model": r["model"],
         "quant": r["quant"], "weights_bytes": r["weights_bytes"], "kv_cache_bytes": r["kv_cache_bytes"],
         "compute_buffer_bytes": r["compute_buffer_bytes"], "overhead_bytes": r["overhead_bytes"],
         # the rest of the total: recurrent state, another runtime's packed copy, the load's peak
         "other_bytes": r["memory_bytes"] - (r["weights_bytes"] + r["kv_cache_bytes"] + r["compute_buffer_bytes"] + r["overhead_bytes"]),
         "usable_bytes": r["usable_bytes"], "meets": r["meets"], "recommended": recommended(r)}
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

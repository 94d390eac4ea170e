"""The rows behind the dashboard's tables, as pandas frames built from library results (no
Streamlit here), and the mapping from the current view to report requirements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from advisor import serialize
from advisor.analysis import DeviceComparison, prediction_error_pct
from advisor.catalog import Catalog
from advisor.dashboard.words import FIT_LABELS
from advisor.engine.recommend import Recommendation
from advisor.errors import BadInputError
from advisor.records import Estimate
from advisor.units import gib
from advisor.wording import GPU_ONLY

PICK, AUTO = "__pick__", "__auto__"


def estimate_rows(estimates: list[Estimate], cat: Catalog) -> pd.DataFrame:
    """One flat row per estimate, from the library's JSON schema; sizes in GiB for sorting."""
    rows = []
    for e in estimates:
        d = serialize.estimate_dict(e, cat)
        m, s = d["memory"], d["speed"] or {}
        # the columns a reader compares first come first; ids and detail to the right
        rows.append({
            "model name": d["model_name"], "quant": d["quant"], "fit": FIT_LABELS[d["fit"]],
            "memory GiB": gib(m["total_bytes"]), "headroom GiB": gib(m["headroom_bytes"]),
            "decode tok/s": s.get("decode_tokens_per_s"), "prefill tok/s": s.get("prefill_tokens_per_s"),
            "TTFT s": s.get("ttft_s"), "quality": d["quality_score"], "license": d["license"],
            "decode low": s.get("decode_low"), "decode high": s.get("decode_high"),
            "energy J/response": s.get("energy_j_per_response"), "license class": d["license_class"],
            "params B": d["params"] / 1e9, "model": d["model"], "notes": "; ".join(d["notes"]),
        })
    return pd.DataFrame(rows)


def resolve_focus(cat: Catalog, rec: Recommendation, model: str, quant: str) -> tuple[str, str] | None:
    """The model × quant of the single-model views: the pick unless another is chosen, in the
    quantization the recommendation chose for that model (Q4_K_M if it has none)."""
    if model == PICK:
        if rec.pick is None:
            return None
        model = rec.pick.model_id
    if quant == AUTO:
        quant = next((e.quant_id for e in rec.ranked if e.model_id == model), "Q4_K_M")
    return model, quant


def measured_rows(runs: Sequence[Any]) -> pd.DataFrame:
    """One row per run and metric with both a measured and a predicted speed, and the signed error
    of the prediction (``analysis.prediction_error_pct``)."""
    rows = []
    for r in runs:
        for metric in ("decode", "prefill"):
            meas = r.measured.get(f"{metric}_tokens_per_s")
            pred = r.predicted.get(f"{metric}_tokens_per_s")
            if meas and pred:
                rows.append({"run": r.id, "device": r.device_id, "model": r.model_id, "quant": r.quant,
                             "metric": metric, "measured tok/s": meas, "predicted tok/s": pred,
                             "error %": prediction_error_pct(pred, meas), "synthetic": r.synthetic,
                             "date": r.created_at})
    return pd.DataFrame(rows)


def compare_rows(rows: Sequence[DeviceComparison]) -> pd.DataFrame:
    """The Compare tab's table: one row per device."""
    return pd.DataFrame([{
        "device": r.device.name, "class": r.device.device_class, "fit": FIT_LABELS[r.estimate.fit],
        "decode tok/s": r.estimate.speed.decode_tokens_per_s if r.estimate.speed else None,
        "prefill tok/s": r.estimate.speed.prefill_tokens_per_s if r.estimate.speed else None,
        "TTFT s": r.estimate.speed.ttft_s if r.estimate.speed else None,
        "headroom GiB": gib(r.estimate.headroom_bytes), "usable GiB": gib(r.estimate.usable_bytes),
        "energy J/response": r.energy_j_per_response, "Wh per 1000 responses": r.energy_wh_per_1000_responses,
        "price USD": r.price_usd, "price note": GPU_ONLY if r.device.price and not r.device.price.complete else "",
        "tok/s per $": r.tokens_per_s_per_dollar, "tok/s per W": r.tokens_per_s_per_watt,
    } for r in rows])


def report_requirements(rec: Recommendation, cat: Catalog, compared: list[str], focus: tuple[str, str] | None) -> Any:
    """The current view as report requirements: the pick (and the compared model) on this device and the compared ones."""
    from advisor.report.requirements import from_options

    models = list(dict.fromkeys(m for m in (rec.pick.model_id if rec.pick else None, focus[0] if focus else None) if m))
    devices = [d for d in dict.fromkeys([rec.device.id, *compared]) if d in cat.devices]
    if not models or not devices:
        raise BadInputError("a report needs a recommended model and at least one device from the profiles "
                           "(a RAM-only or uploaded device cannot be named in a report yet)")
    w, c = rec.workload, rec.constraints
    return from_options(
        title=f"{cat.models[models[0]].name} on {cat.devices[devices[0]].name}" + (" and others" if len(devices) > 1 else ""),
        models=models, context_tokens=w.context_tokens, prompt_tokens=w.prompt_tokens, output_tokens=w.output_tokens,
        kv_cache_type=w.kv_cache_type, min_tps=c.min_decode_tps, max_ttft_s=c.max_ttft_s, quality_floor=c.quality_floor,
        devices=devices,
    )

"""The rows behind the dashboard's tables, as pandas frames built from library results (no
Streamlit here), and the mapping from the current view to report requirements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from advisor import api, serialize
from advisor.analysis import DeviceComparison, RuntimeComparison, prediction_error_pct
from advisor.catalog import Catalog
from advisor.dashboard.words import FIT_LABELS, runtime_label
from advisor.engine import runtimes as rt
from advisor.engine.recommend import Recommendation, candidate_variants
from advisor.wording import limit_text, reason_text, when_text
from advisor.errors import BadInputError
from advisor.records import Estimate
from advisor.units import format_size, gib
from advisor.wording import GPU_ONLY, NO_TIER_PICK

PICK, AUTO = "__pick__", "__auto__"


#: The cold-start column in a browser tab: the weights come from the browser's storage on a later
#: visit; the first visit downloads them first, a time not predicted (``wording.load_rows``).
COLD_TTFT_BROWSER = "cold-start TTFT s (later visit)"


def estimate_rows(estimates: list[Estimate], cat: Catalog) -> pd.DataFrame:
    """One flat row per estimate, from the library's JSON schema; sizes in GiB for sorting."""
    rows = []
    in_browser = any(e.load is not None and e.load.browser for e in estimates)  # one deployment: all or none
    cold_ttft = COLD_TTFT_BROWSER if in_browser else "cold-start TTFT s"
    for e in estimates:
        d = serialize.estimate_dict(e, cat)
        m, s = d["memory"], d["speed"] or {}
        # the columns a reader compares first come first; ids and detail to the right
        rows.append({
            "model name": d["model_name"], "quant": d["quant"], "runtime": runtime_label(e), "fit": FIT_LABELS[d["fit"]],
            "memory GiB": gib(m["total_bytes"]), "headroom GiB": gib(m["headroom_bytes"]),
            "decode tok/s": s.get("decode_tokens_per_s"), "prefill tok/s": s.get("prefill_tokens_per_s"),
            "TTFT s": s.get("ttft_s"), "quality": d["quality_score"], "license": d["license"],
            "decode low": s.get("decode_low"), "decode high": s.get("decode_high"),
            "energy J/response": s.get("energy_j_per_response"),
            cold_ttft: (d["load"] or {}).get("cold_start_ttft_s"),
            "license class": d["license_class"],
            "params B": d["params"] / 1e9, "model": d["model"], "notes": "; ".join(d["notes"]),
        })
    return pd.DataFrame(rows)


def resolve_focus(cat: Catalog, rec: Recommendation, model: str, quant: str) -> tuple[str, str] | None:
    """The model × quant of the single-model views: the pick unless another is chosen, in the
    quantization the recommendation chose for that model (if it ranked none, ``fallback_format``)."""
    if model == PICK:
        if rec.pick is None:
            return None
        model = rec.pick.model_id
    if quant == AUTO:
        quant = next((e.quant_id for e in rec.ranked if e.model_id == model), None) or fallback_format(cat, rec, model)[0]
    return model, quant.split(VARIANT_SEP, 1)[-1]


def fallback_format(cat: Catalog, rec: Recommendation, model: str) -> tuple[str, rt.Variant | None]:
    """The format (and variant) of a model the recommendation did not rank, as ``advisor predict``
    chooses them without --runtime and --quant (``api.default_choice``): the one runtime chosen,
    else llama.cpp where the target runs it, else the target's first runtime with a backend there."""
    from advisor.engine.recommend import ALL_RUNTIMES

    chosen = rec.constraints.runtimes
    named = next(iter(chosen)) if chosen not in (None, ALL_RUNTIMES) and len(chosen) == 1 else None
    dep = rec.constraints.deployment
    runtime_id, format_id = api.default_choice(cat.model(model), cat, None if named == "llama.cpp" else named, dep)
    if runtime_id is None:
        return format_id, None
    v = rt.require_format(rt.resolve_variant(cat, rec.device, runtime_id, format_id, deployment=dep))
    return v.format.id, v


#: A runtime's own format in the quantization selector: "runtime/format" (names repeat across runtimes).
VARIANT_SEP = "/"


def focus_formats(cat: Catalog, rec: Recommendation) -> list[str]:
    """The quantization selector's choices: every GGUF file type (llama.cpp, where the target runs
    it), then each format of the other runtimes the recommendation considered on this device, as
    ``runtime/format``."""
    others = [v for v in candidate_variants(rec.device, cat, rec.constraints)
              if isinstance(v, rt.Variant) and not v.is_llama_cpp]
    dep = rec.constraints.deployment
    gguf = list(cat.file_types) if dep is None or "llama.cpp" in dep.target.runtimes else []
    return [*gguf, *dict.fromkeys(f"{v.runtime_id}{VARIANT_SEP}{v.format_id}" for v in others)]


def focus_variant(cat: Catalog, rec: Recommendation, model: str, quant: str) -> rt.Variant | None:
    """The runtime × backend × format of the single-model views (None: llama.cpp's own path):
    the recommendation's for that model when the quantization is automatic, the runtime named in a
    ``runtime/format`` choice (its default backend under the recommendation's target)."""
    if quant == AUTO:
        model_id = rec.pick.model_id if model == PICK and rec.pick else model
        est = next((e for e in rec.ranked if e.model_id == model_id), None)
        return rt.variant_of(est, cat) if est is not None else fallback_format(cat, rec, model_id)[1]
    if VARIANT_SEP not in quant:
        return None
    runtime_id, format_id = quant.split(VARIANT_SEP, 1)
    return rt.resolve_variant(cat, rec.device, runtime_id, format_id, deployment=rec.constraints.deployment)


def device_name(cat: Catalog, device_id: str) -> str:
    """A stored run's device by its catalog name (a power mode's too); another id as stored
    (``local-<fingerprint>``, a profile since removed)."""
    return cat.device(device_id).name if cat.has_device(device_id) else device_id


def run_model_name(cat: Catalog, run: Any) -> str:
    """A stored run's model by its catalog name, else the name stored with the run (a GGUF header's),
    else its id."""
    model = cat.models.get(run.model_id or "")
    return model.name if model is not None else run.model_name or run.model_id or ""


def measured_rows(runs: Sequence[Any], cat: Catalog) -> pd.DataFrame:
    """One row per run and metric with both a measured and a predicted speed, and the signed error
    of the prediction (``analysis.prediction_error_pct``); devices and models by name."""
    rows = []
    for r in runs:
        for metric in ("decode", "prefill"):
            meas = r.measured.get(f"{metric}_tokens_per_s")
            pred = r.predicted.get(f"{metric}_tokens_per_s")
            if meas and pred:
                rows.append({"run": r.id, "device": device_name(cat, r.device_id), "model": run_model_name(cat, r),
                             "quant": r.quant,
                             "metric": metric, "measured tok/s": meas, "predicted tok/s": pred,
                             "error %": prediction_error_pct(pred, meas), "synthetic": r.synthetic,
                             "when (UTC)": when_text(r.created_at, ""),  # as `advisor runs list`
                             "left out of calibration": r.excluded or ""})
    return pd.DataFrame(rows)


def compare_rows(rows: Sequence[DeviceComparison]) -> pd.DataFrame:
    """The Compare tab's table: one row per device."""
    return pd.DataFrame([{
        "device": r.device.name, "class": r.device.device_class, "fit": FIT_LABELS[r.estimate.fit],
        "runtime": runtime_label(r.estimate),
        "decode tok/s": r.estimate.speed.decode_tokens_per_s if r.estimate.speed else None,
        "prefill tok/s": r.estimate.speed.prefill_tokens_per_s if r.estimate.speed else None,
        "TTFT s": r.estimate.speed.ttft_s if r.estimate.speed else None,
        "headroom GiB": gib(r.estimate.headroom_bytes), "usable GiB": gib(r.estimate.usable_bytes),
        "energy J/response": r.energy_j_per_response, "Wh per 1000 responses": r.energy_wh_per_1000_responses,
        "price USD": r.price_usd, "price note": GPU_ONLY if r.device.price and not r.device.price.complete else "",
        "tok/s per $": r.tokens_per_s_per_dollar, "tok/s per W": r.tokens_per_s_per_watt,
    } for r in rows])


def runtime_rows(rows: Sequence[RuntimeComparison], cat: Catalog) -> pd.DataFrame:
    """The Runtimes compared view: one row per runtime the device can run."""
    out = []
    for r in rows:
        e, s = r.estimate, r.estimate.speed
        out.append({
            "runtime": r.runtime.id, "backend": e.backend, "format": e.quant_id,
            "fit": reason_text(r.reason) if r.reason is not None else FIT_LABELS[e.fit],
            "memory GiB": gib(e.memory.total_bytes), "download": format_size(r.download_bytes),
            "decode tok/s": s.decode_tokens_per_s if s else None,
            "decode likely": f"{s.decode_band.low:.1f}–{s.decode_band.high:.1f}" if s else "", "decode basis": r.decode_basis,
            "prefill tok/s": s.prefill_tokens_per_s if s else None,
            "prefill likely": f"{s.prefill_band.low:.0f}–{s.prefill_band.high:.0f}" if s else "", "prefill basis": r.prefill_basis,
            "quality": e.quality_score, "runtime name": r.runtime.name,
            "decode low": s.decode_band.low if s else None, "decode high": s.decode_band.high if s else None,
            "download GiB": gib(r.download_bytes),
        })
    return pd.DataFrame(out)


def tier_rows(picks: Sequence[Any], cat: Catalog) -> pd.DataFrame:
    """What to ship per RAM tier: one row per tier (``engine.tiers.TierPick``)."""
    out = []
    for p in picks:
        slow = p.slowest
        out.append({
            "tier": f"{p.tier_gib} GB", "devices": len(p.devices),
            "pick": cat.models[p.model_id].name if p.model_id else NO_TIER_PICK,
            "runtime": runtime_label(p.estimates[0]) if p.estimates else "",
            "format": p.format_id or "",
            "slowest device": cat.devices[slow.device_id].name if slow and slow.device_id in cat.devices else "",
            "slowest decode tok/s": slow.speed.decode_tokens_per_s if slow and slow.speed else None,
            "download": format_size(p.download_bytes) if p.download_bytes is not None else "",
            "store limits exceeded": "; ".join(limit_text(lim) for lim in p.store_limits_exceeded),
            "left out": ", ".join(lo.device.name for lo in p.left_out),
        })
    return pd.DataFrame(out)


def tier_device_rows(p: Any) -> pd.DataFrame:
    """One tier in detail: each device with the tier's pick, then the devices left out and why."""
    out = [{"device": d.name, "RAM GiB": gib(d.memory.ram), "budget GiB": gib(e.usable_bytes), "fit": FIT_LABELS[e.fit],
            "memory GiB": gib(e.memory.total_bytes),
            "decode tok/s": e.speed.decode_tokens_per_s if e.speed else None, "left out because": ""}
           for d, e in zip(p.devices, p.estimates)]
    out += [{"device": lo.device.name, "RAM GiB": gib(lo.device.memory.ram), "budget GiB": None, "fit": "left out",
             "memory GiB": None, "decode tok/s": None, "left out because": reason_text(lo.why)} for lo in p.left_out]
    return pd.DataFrame(out)


def report_requirements(rec: Recommendation, cat: Catalog, compared: list[str], focus: tuple[str, str] | None) -> Any:
    """The current view as report requirements: the pick (and the compared model) on this device and the compared ones."""
    from advisor.report.requirements import from_options

    models = list(dict.fromkeys(m for m in (rec.pick.model_id if rec.pick else None, focus[0] if focus else None) if m))
    devices = [d for d in dict.fromkeys([rec.device.id, *compared]) if cat.has_device(d)]
    if not models:
        raise BadInputError("a report needs a model: nothing is recommended here, so choose one in the "
                            "Compare devices tab (or relax the constraints)")
    if not devices:
        raise BadInputError("a report names devices from the profiles: a RAM-only or uploaded device cannot be "
                            "named in a report yet; add profiles in the Compare devices tab")
    from advisor.engine.recommend import ALL_RUNTIMES

    w, c = rec.workload, rec.constraints
    dep = c.deployment
    runtime = ("all",) if c.runtimes in (None, ALL_RUNTIMES) else tuple(sorted(c.runtimes))
    return from_options(
        title=f"{cat.models[models[0]].name} on {cat.device(devices[0]).name}" + (" and others" if len(devices) > 1 else ""),
        models=models, context_tokens=w.context_tokens, prompt_tokens=w.prompt_tokens, output_tokens=w.output_tokens,
        kv_cache_type=w.kv_cache_type, min_tps=c.min_decode_tps, max_ttft_s=c.max_ttft_s, quality_floor=c.quality_floor,
        devices=devices, runtime=runtime, max_download=c.max_download_bytes,
        target=dep.target.id if dep is not None else None,
        entitlement="increased-memory" if dep is not None and dep.entitlement else None,
        browser=dep.browser.id if dep is not None and dep.browser is not None else None,
    )

"""The report's sentences: the requirement, the summary, the assumptions, the rejections.

Worded here from the report's rows (figures come from ``report.model``), in the same words as the
CLI (``advisor.wording``) so a figure reads the same in the summary and in the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from advisor.catalog import Catalog
from advisor.report.requirements import Requirements
from advisor.units import format_seconds, format_size
from advisor.wording import GPU_ONLY, GPU_ONLY_SHORT, LICENSE_CLASS_WORDS, TTFT_COMFORT_S, not_hosting_text, plural, tps

if TYPE_CHECKING:
    from advisor.report.model import Candidates

RANK_WORDS = {
    "cost": "lowest unit price", "fleet_cost": "lowest fleet price",
    "energy": "lowest energy per 1,000 responses", "speed": "fastest decode",
}


def target_text(req: Requirements, catalog: Catalog) -> str | None:
    """The deployment target as a reader knows it: ``Browser tab in Chrome (desktop)``, ``iOS / iPadOS
    app with the increased-memory entitlement`` (the ids where the catalog has no such target)."""
    if req.target is None:
        return None
    target = catalog.targets.get(req.target)
    browser = next((b.name for b in target.browsers if b.id == req.browser), req.browser) if target else req.browser
    return ((target.name if target else req.target) + (" with the increased-memory entitlement" if req.entitlement else "")
            + (f" in {browser}" if browser else ""))


def requirement_text(req: Requirements, models: Sequence[str], catalog: Catalog) -> str:
    parts = []
    if req.min_tps is not None:
        parts.append(f"≥{req.min_tps:g} tok/s decode")
    if req.max_ttft_s is not None:
        parts.append(f"first token within {format_seconds(req.max_ttft_s)}")
    parts.append(f"{req.context_tokens:,}-token context, {req.prompt_tokens:,}-token prompt, {req.output_tokens:,}-token response")
    if models:
        parts.append("models: " + ", ".join(models))
    if req.quality_floor is not None:
        parts.append(f"quality ≥ {req.quality_floor:g}/100")
    if req.budget_usd is not None:
        parts.append(f"budget ${req.budget_usd:,.0f} for the fleet")
    if req.power_limit_w is not None:
        parts.append(f"≤{req.power_limit_w:g} W per unit")
    if req.target is not None:
        parts.append(f"target: {target_text(req, catalog)}")
    if req.runtime:
        parts.append("runtimes: " + ("every runtime with published measurements" if "all" in req.runtime else ", ".join(req.runtime)))
    if req.max_download is not None:
        parts.append(f"download ≤ {format_size(req.max_download)}")
    return "; ".join(parts)


def _money(v: float | None, covers: str | None = "device") -> str:
    if v is None:
        return "price unknown"
    return f"${v:,.0f}" + ("" if covers in (None, "device") else f" ({GPU_ONLY})")


def summary(req: Requirements, ranking: Sequence[Mapping[str, Any]], rejected: Sequence[Mapping[str, Any]],
            n_devices: int, catalog: Catalog) -> str:
    units = plural(req.fleet_size, "unit")
    need = f" against ≥{req.min_tps:g} tok/s" if req.min_tps is not None else ""
    if not ranking:
        closest = rejected[0] if rejected else None
        tail = f" The closest miss: {closest['device_name']} — {closest['summary']}." if closest else ""
        lead = "The one candidate device does not meet" if n_devices == 1 else f"None of the {n_devices:,} candidate devices meets"
        return f"{lead} the requirement ({requirement_text(req, [], catalog)}) with the candidate models.{tail}"
    top = ranking[0]
    dev_name = top["device_name"]
    spec = catalog.models[top["model"]]
    covers = top.get("price_covers")
    fleet = (f" ({_money(top['fleet_price_usd'], covers)} for {units})"
             if top["fleet_price_usd"] is not None and req.fleet_size != 1 else "")
    license_words = LICENSE_CLASS_WORDS.get(spec.license_class, spec.license_class)
    on = f" on {top['runtime']} ({top['backend']})" if top.get("runtime") not in (None, "llama.cpp") else ""
    s1 = (f"Recommended: {dev_name} running {spec.name} in {top['quant']}{on} (license {spec.license}: {license_words}), "
          f"at {_money(top['unit_price_usd'], covers)} per unit{fleet}; "
          f"it decodes ~{tps(top['decode_tokens_per_s'])} tok/s ({tps(top['decode_low'])}–{tps(top['decode_high'])})"
          f"{need}, answers a {req.prompt_tokens:,}-token prompt in ~{format_seconds(top['ttft_s'])} and "
          f"leaves {format_size(top['headroom_bytes'])} of memory headroom.")
    if req.max_ttft_s is None and top["ttft_s"] is not None and top["ttft_s"] > TTFT_COMFORT_S:
        s1 += (f" Its first token takes longer than the ~{TTFT_COMFORT_S:g} s a user waits comfortably; set a limit "
               "(--max-ttft, or max_ttft_s in a requirements file) if that matters.")
    if len(ranking) == 1:
        s2 = ("It is the one candidate device, and it meets the requirement" if n_devices == 1 else
              f"It is the only one of the {n_devices:,} candidate devices that meets the requirement")
    elif len(ranking) == n_devices:
        s2 = f"It has the {RANK_WORDS[req.rank_by]} of the {n_devices:,} candidate devices, all of which meet the requirement"
    else:
        s2 = (f"It has the {RANK_WORDS[req.rank_by]} of the {len(ranking):,} candidate devices (of {n_devices:,}) "
              "that meet the requirement")
    if len(ranking) > 1:
        nxt = ranking[1]
        s2 += (f"; next is {nxt['device_name']} ({_money(nxt['unit_price_usd'], nxt.get('price_covers'))}, ~{tps(nxt['decode_tokens_per_s'])} tok/s"
               + (f", {nxt['energy_wh_per_1000_responses']:.1f} Wh per 1,000 responses" if req.rank_by == "energy"
                  and nxt["energy_wh_per_1000_responses"] is not None else "") + ")")
    s2 += "."
    caution = ""
    if req.min_tps is not None and top["decode_low"] is not None and top["decode_low"] < req.min_tps:
        caution = (f" Its ~80% band starts below the required {req.min_tps:g} tok/s, so measure one unit "
                   "('advisor validate') before ordering.")
    if rejected:
        names = "; ".join(f"{r['device_name']} ({_first_reason(r)})" for r in rejected[:2])
        more = f"; and {len(rejected) - 2} more (listed below)" if len(rejected) > 2 else ""
        s3 = f" Cannot meet it: {names}{more}."
    else:
        s3 = ""
    return f"{s1} {s2}{caution}{s3}"


def _first_reason(rejected: Mapping[str, Any]) -> str:
    reasons = rejected["reasons"]
    if not reasons:
        return rejected["summary"]
    first = reasons[0]
    if all(x["detail"] == first["detail"] for x in reasons):  # the device's own reason (budget, power): said once
        return first["detail"] if len(reasons) > 1 else f"{first.get('model_name') or first['model']}: {first['detail']}"
    return f"{first.get('model_name') or first['model']} {first['status']}"


def assumptions(req: Requirements, cand: Candidates, catalog: Catalog, rows: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    quants = sorted(cand.constraints.quant_ids) if cand.constraints.quant_ids else [
        f.id for f in catalog.file_types.values() if f.common]
    if cand.constraints.runtimes is None and cand.target is None:
        tried = f"Quantizations tried: {', '.join(quants)} (llama.cpp GGUF file types)."
    else:
        tried = (("Formats tried: " + ", ".join(sorted(cand.constraints.quant_ids)) + "; " if cand.constraints.quant_ids else
                  "Formats tried: the common GGUF file types for llama.cpp-family runtimes and every format of the others; ")
                 + "runtimes: " + ("those of the target" if cand.constraints.runtimes is None else
                                   "every one the device can run with published measurements for its backend"
                                   if "all" in cand.constraints.runtimes else ", ".join(sorted(cand.constraints.runtimes)))
                 + " (each on its default backend on the device: an accelerator it can use, else the CPU).")
    out = [
        (f"Workload: {requirement_text(req, list(cand.models), catalog)}; KV cache {req.kv_cache_type}; one request at a time "
        "(batch 1) with the model already loaded; threads: the device's big cores."),
        ("Each device is represented by its best candidate: the library's recommend ranking (comfortable fit first, "
        "then quality score, then decode speed) among the models and quantizations that meet the requirement."),
        tried,
        (f"Devices are ranked by {RANK_WORDS[req.rank_by]}; fleet price = unit price × {plural(req.fleet_size, 'unit')} "
        "(hardware only: no shipping, power supplies, enclosures, storage, support or taxes). A price marked "
        f"'{GPU_ONLY}' buys a graphics card alone: it is never the cheapest device of its class."),
        ("Energy per 1,000 responses = the device's power while generating (typical figure, else a share of its maximum) × "
        "the time for one prompt and response, × 1,000; idle power between requests is not included."),
        ("Tokens/s per dollar and per watt divide the decode speed by the unit price and by the same power as the energy "
         f"figures (so tok/s per W × J/token = 1); tok/s per $ marked '{GPU_ONLY_SHORT}' divides by a graphics card's price alone."),
        ("Decode and prefill figures carry ~80% confidence bands (low–high) from the spread of the calibration fit; "
        "the basis of each figure is listed under Evidence."),
        "Prices are street-price figures from the device profiles; their basis (datasheet/estimated) is shown per device.",
        ("Usable memory is what one app may allocate after the OS; a 'tight' fit uses more than the comfortable share "
        "of it and leaves no room for other apps or longer chats."),
    ]
    out.append(load_assumption(cand, rows))
    if req.power_limit_w is not None:
        out.append(f"The power limit ({req.power_limit_w:g} W per unit) is compared with each device's maximum draw (power.max_w: the "
                   "whole device's, a desktop GPU's the board's and the host's).")
    if cand.target is not None:
        out.append(f"Target {cand.target.name}: each device's usable memory is the target's budget for one model process "
                   "there (its rule and source are listed per device under Evidence), with its per-buffer limits; "
                   + (f"{len(cand.unhostable)} candidate device(s) cannot host it and are listed as unable to run the workload."
                      if cand.unhostable else "every candidate device can host it.")
                   + (" " + not_hosting_text(cand.not_hosting, "of the requested classes", "it", by_name=True)
                      if cand.not_hosting else ""))
    if req.max_download is not None:
        out.append(f"The download limit ({format_size(req.max_download)}) counts the model file and the runtime's library "
                   "where its size is published.")
    if req.budget_usd is not None:
        out.append(f"The budget (${req.budget_usd:,.0f}) is for the whole fleet of {plural(req.fleet_size, 'unit')}.")
    return out

def load_assumption(cand: Candidates, rows: Sequence[Mapping[str, Any]]) -> str:
    """What the load times (``engine.load``; the comparison's load_cold_s and cold_start_ttft_s)
    include and leave out, from the rows' ``load_vram_copy_excluded`` and the deployments' browsers."""
    copied = sum(1 for r in rows if r.get("load_vram_copy_excluded"))
    browsers = sorted({d.browser.name for d in cand.deployments.values() if d.browser is not None})
    text = ("Load times (load_cold_s and cold-start TTFT in the CSV, JSON and XLSX tables): the cold load reads the model "
            "file from the device's storage at its sequential read speed (the 'storage read' rows under Evidence), then "
            "passes it through memory and sets up the vocabulary and context (constants fitted on one x86 machine's "
            "llama.cpp loads; a slower CPU takes longer); cold-start TTFT adds the prompt's prefill. Not included: "
            "llama.cpp's repacking of some weight types for the CPU's kernels, and the copy of the weights into a discrete "
            "GPU's VRAM or WebGPU buffers — "
            + (f"{plural(copied, 'row')} of the comparison {'makes' if copied == 1 else 'make'} that copy (load_vram_copy_excluded)." if copied
               else "no row of the comparison makes that copy."))
    if browsers:
        text += (f" In a browser tab ({', '.join(browsers)}) the weights come from the browser's storage (Cache API / OPFS / "
                 "IndexedDB), not a memory-mapped file: the cold figure is a later visit, the weights already stored; the "
                 "first visit downloads them first, which is not predicted (it depends on the network).")
        every = [r for r in rows if r.get("load_cold_case") == "every-visit-downloads"]
        if every:
            text += (f" {plural(len(every), 'row')} of the comparison {'has' if len(every) == 1 else 'have'} no cold figure "
                     "(load_cold_case 'every-visit-downloads'): the download exceeds the browser's cache storage, so every "
                     "visit downloads the model again.")
    return text


def rejection_summary(reasons: Sequence[Mapping[str, Any]]) -> str:
    if not reasons:
        return "no candidate model"
    groups = _by_detail(reasons, with_quant=False)
    if len(groups) <= 3:
        return "; ".join(f"{', '.join(labels)}: {detail}" for detail, labels in groups)
    detail, labels = groups[0]
    return f"{', '.join(labels)}: {detail}; and {plural(len(reasons) - len(labels), 'more model')}"


def reason_groups(reasons: Sequence[Mapping[str, Any]]) -> list[str]:
    """``model quant, model quant: detail`` per distinct detail, in the order first met: a reason
    that holds for every model of a device (over budget, over the power limit) is said once, not
    once per model."""
    return [f"{', '.join(labels)}: {detail}" for detail, labels in _by_detail(reasons, with_quant=True)]


def _by_detail(reasons: Sequence[Mapping[str, Any]], *, with_quant: bool) -> list[tuple[str, list[str]]]:
    """The reasons grouped by their detail, each model by name (the id where a reason has none)."""
    by_detail: dict[str, list[str]] = {}
    for x in reasons:
        label = (x.get("model_name") or x["model"]) + (f" {x['quant']}" if with_quant and x.get("quant") else "")
        by_detail.setdefault(x["detail"], []).append(label)
    return list(by_detail.items())


def default_title(req: Requirements, cand: Candidates) -> str:
    n = len(cand.devices)
    return f"Device comparison for {req.fleet_size:,} unit{'s' if req.fleet_size != 1 else ''} ({n} candidate device{'s' if n != 1 else ''})"

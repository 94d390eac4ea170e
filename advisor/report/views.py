"""The report as a document: sections of paragraphs, tables of formatted strings and bullet lists.

Markdown, HTML and PDF all render these same sections, so the three documents say the same thing;
CSV, JSON and XLSX take the raw numbers from ``ReportData`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.report.model import RANK_WORDS, ReportData
from advisor.report.summary import reason_groups
from advisor.units import format_seconds, format_size
from advisor.wording import GPU_ONLY, GPU_ONLY_SHORT, NO_TIER_PICK, and_list, band, plural, tps, variant_gain_text


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] = field(default_factory=list)  # right-align these columns
    widths: list[float] = field(default_factory=list)  # relative widths for the PDF
    highlight: list[bool] = field(default_factory=list)  # rows to emphasise (the recommendation)


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)  # keys of data.charts drawn here (HTML, PDF)


# --------------------------------------------------------------------------- formatting


def money(v: float | None, covers: str | None = None) -> str:
    """``$329``; a price that buys only a GPU says so (``$329 (GPU only, host not included)``)."""
    if v is None:
        return "-"
    return f"${v:,.0f}" + ("" if covers in (None, "device") else f" ({GPU_ONLY})")


def size(v: int | None) -> str:
    return "-" if v is None else format_size(v)


def seconds(v: float | None) -> str:
    return "-" if v is None else format_seconds(v)


def num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def watts(v: float | None) -> str:
    """A power figure as the profile gives it (12.5, not 12 or 13; 41.667 for a scaled mode)."""
    return "-" if v is None else f"{round(v, 3):g}"


def ratio(v: float | None) -> str:
    """Small value ratios (tok/s per $ ≈ 0.05) keep three significant figures."""
    if v is None:
        return "-"
    return f"{v:.3g}"


def per_dollar(v: float | None, covers: str | None = None) -> str:
    """tok/s per $, marked where the price buys only a GPU (as ``money`` marks the price)."""
    return ratio(v) + ("" if v is None or covers in (None, "device") else f" ({GPU_ONLY_SHORT})")


def device_label(r: Mapping[str, Any]) -> str:
    """A device as a reader knows it: its name (the id where a row has none). The tables a person
    reads (MD, HTML, PDF) name devices and models; CSV, JSON and XLSX keep the ids beside the names."""
    return r.get("device_name") or r.get("name") or r["device"]


def model_label(r: Mapping[str, Any]) -> str:
    """A model by its name (the id where a row has none)."""
    return r.get("model_name") or r["model"]


def model_quant(r: Mapping[str, Any]) -> str:
    """``model · quant``, with `` (runtime/backend)`` for a runtime other than llama.cpp."""
    if not r.get("quant"):
        return model_label(r)
    text = f"{model_label(r)} · {r['quant']}"
    if r.get("runtime") and r["runtime"] != "llama.cpp":
        text += f" ({runtime_backend(r)})"
    return text


def runtime_backend(r: Mapping[str, Any]) -> str:
    """``llama.cpp/cpu-arm``, ``mlc/webgpu``: the runtime and the backend (llama.cpp's: its speed path)."""
    if not r.get("runtime"):
        return "-"
    return f"{r['runtime']}/{r['backend']}" if r.get("backend") else r["runtime"]


# --------------------------------------------------------------------------- sections


def sections(data: ReportData) -> list[Section]:
    out = [_summary(data), _ranking(data), _tiers(data), _comparison(data), _rejected(data), _what_if(data), _charts(data),
           _evidence(data), _runs(data), _assumptions(data)]
    return [s for s in out if s is not None]


def header_line(data: ReportData) -> str:
    v = data.versions
    return f"Generated {data.generated_at} by {v['tool']}; catalog: {v['catalog']} (digest {v['catalog_digest']})."


def _summary(data: ReportData) -> Section:
    s = Section("summary", "Summary", paragraphs=[data.summary, f"Requirement: {data.requirement_text}."])
    if data.recommended is None:
        s.paragraphs.append("No device meets the requirement; see the devices that cannot run it below.")
    else:
        s.paragraphs.append(
            f"{data.n_meeting_devices} of {plural(data.n_candidate_devices, 'candidate device')} "
            f"{'meets' if data.n_meeting_devices == 1 else 'meet'} the requirement; "
            f"ranked by {RANK_WORDS[data.requirements['rank_by']]}."
        )
    return s


def with_sustained(t: Table, rows: Sequence[Mapping[str, Any]], decode_header: str) -> Table:
    """``t`` with the sustained (throttled) decode beside the peak one where any row's device has a
    published figure (``PowerSpec.sustained``); "-" on the rows of devices without one."""
    if not any(r.get("sustained_decode_tokens_per_s") is not None for r in rows):
        return t
    i = t.headers.index(decode_header) + 1
    t.headers.insert(i, "decode tok/s, sustained")
    for cells, r in zip(t.rows, rows):
        cells.insert(i, tps(r.get("sustained_decode_tokens_per_s")))
    t.numeric.insert(i, True)
    t.widths.insert(i, 7)
    return t


def _ranking(data: ReportData) -> Section | None:
    s = Section("ranking", f"Devices that meet the requirement, by {RANK_WORDS[data.requirements['rank_by']]}")
    if not data.ranking:
        s.paragraphs.append("None.")
        return s
    s.tables.append(with_sustained(Table(
        headers=["#", "device", "class", "model · quant", "unit price", "fleet price", "decode tok/s (80% band)", "TTFT",
                 "Wh / 1,000 responses", "tok/s per $", "tok/s per W"],
        rows=[[str(r["rank"]), device_label(r), r["device_class"], model_quant(r), money(r["unit_price_usd"], r.get("price_covers")),
               money(r["fleet_price_usd"], r.get("price_covers")), band(r["decode_tokens_per_s"], r["decode_low"], r["decode_high"]),
               seconds(r["ttft_s"]), num(r["energy_wh_per_1000_responses"]), per_dollar(r["tokens_per_s_per_dollar"], r.get("price_covers")),
               ratio(r["tokens_per_s_per_watt"])] for r in data.ranking],
        numeric=[True, False, False, False, True, True, True, True, True, True, True],
        widths=[3, 17, 6, 17, 7, 8, 12, 6, 9, 7, 7],
        highlight=[i == 0 for i in range(len(data.ranking))],
    ), data.ranking, "decode tok/s (80% band)"))
    if data.cheapest_per_class:
        s.tables.append(Table(
            caption="Cheapest device that meets the requirement, per class",
            headers=["class", "device", "unit price", "fleet price", "model · quant", "decode tok/s", "TTFT"],
            rows=[[c["device_class"], device_label(c), money(c["unit_price_usd"]), money(c["fleet_price_usd"]), model_quant(c),
                   tps(c["decode_tokens_per_s"]), seconds(c["ttft_s"])] for c in data.cheapest_per_class],
            numeric=[False, False, True, True, False, True, True],
            widths=[8, 20, 8, 9, 20, 8, 7],
        ))
    return s


def _comparison(data: ReportData) -> Section:
    rows = data.comparison
    return Section("comparison", "Comparison: devices × models", paragraphs=[
        ("Every candidate model on every candidate device, in the quantization the library picks (the best one that "
        "meets the requirement, else the smallest one tried). Bands are ~80% intervals.")
    ], tables=[with_sustained(Table(
        headers=["device", "model", "quant", "runtime", "status", "memory / usable", "headroom", "decode tok/s", "prefill tok/s",
                 "TTFT", "Wh / 1k resp.", "unit price", "fleet price", "tok/s per $", "tok/s per W"],
        rows=[[device_label(r), model_label(r), r["quant"] or "-", runtime_backend(r), r["status"] + (" (pick)" if r["pick"] else ""),
               f"{size(r['memory_bytes'])} / {size(r['usable_bytes'])}", size(r["headroom_bytes"]),
               band(r["decode_tokens_per_s"], r["decode_low"], r["decode_high"]),
               band(r["prefill_tokens_per_s"], r["prefill_low"], r["prefill_high"]), seconds(r["ttft_s"]),
               num(r["energy_wh_per_1000_responses"]), money(r["unit_price_usd"], r.get("price_covers")),
               money(r["fleet_price_usd"], r.get("price_covers")),
               per_dollar(r["tokens_per_s_per_dollar"], r.get("price_covers")), ratio(r["tokens_per_s_per_watt"])] for r in rows],
        numeric=[False, False, False, False, False, True, True, True, True, True, True, True, True, True, True],
        widths=[15, 12, 6, 13, 8, 11, 6, 10, 10, 5, 4, 5, 6, 5, 5],
        highlight=[bool(r["pick"] and data.recommended and r["device"] == data.recommended["device"]) for r in rows],
    ), rows, "decode tok/s")])


def _tiers(data: ReportData) -> Section | None:
    """What to ship per RAM tier (requirements with a target and device classes)."""
    if not data.tiers:
        return None
    req = data.requirements
    s = Section("tiers", "What to ship per RAM tier", paragraphs=[
        (f"Under the target {data.target_text or req['target']}, the candidate devices of "
         + ("class " if len(req["device_classes"]) == 1 else "classes ") + and_list(req["device_classes"])
         + " grouped by RAM: for each tier the one "
         "runtime × model × format that fits every device of the tier within the target's memory budget and meets the "
         "requirement, ranked on the tier's slowest device. Memory is the tightest device's total against its budget; the "
         "download is the model file plus the runtime library where published.")
    ])
    limits = {}
    rows = []
    for t in data.tiers:
        has = t["model"] is not None
        alone = len(t["devices"]) == 1  # the slowest and tightest device is the tier's one: not named again

        def which(key: str) -> str:
            return "" if alone else f" ({t.get(key + '_name') or t[key]})"

        rows.append([
            # names hold commas ("Apple MacBook Air 13 (M1, 2020), 8 GB"): a semicolon between devices
            f"{t['tier_gib']} GB", "; ".join(t.get("device_names") or t["devices"]) or "-",
            f"{model_label(t)} · {t['format']}" if has else NO_TIER_PICK,
            (f"{t['runtime']}/{','.join(t['backends'])}" if t["backends"] else str(t["runtime"])) if has else "-",
            band(t["decode_tokens_per_s"], t["decode_low"], t["decode_high"]) + which("slowest_device") if has else "-",
            f"{size(t['memory_bytes'])} / {size(t['usable_bytes'])}" + which("tightest_device") if has else "-",
            size(t["download_bytes"]) if has else "-",
            (", ".join(t["store_limit_ids"]) or "none") if has else "-",
            "; ".join(f"{device_label(x)}: {x['reason'] if x['hosts_target'] else 'cannot host the target'}"
                      for x in t["left_out"]) or "-",
        ])
    s.tables.append(Table(
        headers=["RAM tier", "devices", "model · format", "runtime/backend", "slowest decode tok/s", "memory / budget",
                 "download", "store limits exceeded", "left out"],
        rows=rows, numeric=[False, False, False, False, True, True, True, False, False],
        widths=[4, 14, 13, 12, 12, 12, 6, 10, 17],
    ))
    for t in data.tiers:
        for lim_id, text in zip(t["store_limit_ids"], t["store_limits_exceeded"]):
            limits.setdefault(lim_id, text)
    if limits:
        s.bullets = [f"{k}: {v}" for k, v in limits.items()]
    return s


#: What the rejected and runs sections (and the XLSX's sheets) say when they have no rows.
EVERY_DEVICE_MEETS = "Every candidate device meets the requirement with at least one candidate model."
NO_RUNS = ("No measured runs on these devices in the local measurements database; 'advisor validate' on a unit records "
           "them, and 'advisor calibrate' fits the speed model to them.")


def _rejected(data: ReportData) -> Section:
    s = Section("rejected", "Devices that cannot run the workload")
    if not data.rejected_devices:
        s.paragraphs.append(EVERY_DEVICE_MEETS)
        return s
    s.tables.append(Table(
        headers=["device", "class", "unit price", "why not"],
        rows=[[device_label(r), r["device_class"], money(r["unit_price_usd"], r.get("price_covers")),
               "; ".join(reason_groups(r["reasons"])) or r["summary"]] for r in data.rejected_devices],
        numeric=[False, False, True, False],
        widths=[18, 7, 7, 68],
    ))
    return s


#: A variant on which no other model meets the requirement. Not "memory is not what limits": a 1 GB board
#: and its 2 GB sibling can both miss it for want of memory.
NOTHING_NEW = "none: no other model meets the requirement on this variant"


def _what_if(data: ReportData) -> Section | None:
    s = Section("what-if", "What if: the variant with more RAM", paragraphs=[
        ("For each candidate device with a larger-memory variant in the catalog: the models (from the whole catalog, "
        "under the same speed, first-token and quality requirements) that meet the requirement on the variant but not "
        "on the device.")
    ])
    req = data.requirements
    terms = ["its runtimes"] + (["its quantizations"] if req.get("quants") else []) + (
        ["the target's budget"] if req.get("target") else []) + (
        ["the download limit"] if req.get("max_download") is not None else [])
    s.paragraphs.append(f"These variants are weighed on the comparison's own terms: {and_list(terms)}.")
    if not data.what_if:
        s.paragraphs.append("No candidate device has a larger-memory variant in the catalog.")
        return s
    fleet = data.requirements["fleet_size"]
    rows = []
    for w in data.what_if:
        extra = w["extra_unit_price_usd"]
        fit = [n["fits_device"] for n in w["newly_possible"]]
        new = ", ".join(f"{model_label(n)} {n['quant']} ("
                        + ("" if n.get("runtime") in (None, "llama.cpp") else f"{n['runtime']}, ")
                        + f"{tps(n['decode_tokens_per_s'])} tok/s"
                        + (", requested" if n["requested"] else "")
                        + (f", fits the {size(w['ram_bytes'])} unit too" if n["fits_device"] and not all(fit) else "") + ")"
                        for n in w["newly_possible"])
        if any(fit):  # the variant is also faster: the gain is speed, not RAM
            new += (f"; {'all fit' if all(fit) else 'those marked fit'} the {size(w['ram_bytes'])} unit's memory too: "
                    f"fast enough with {variant_gain_text(w)}")
        # a profile's name gives its RAM ("Raspberry Pi 5 (8 GB)"); an id alone does not
        rows.append([device_label(w), w.get("variant_name") or f"{w['variant']} ({size(w['variant_ram_bytes'])})",
                     "-" if extra is None else f"+{money(extra)} (+{money(extra * fleet)} fleet)",
                     new or NOTHING_NEW])
    s.tables.append(Table(headers=["device", "variant", "extra cost", "models that become possible"], rows=rows,
                          widths=[18, 22, 16, 44]))
    return s


def _charts(data: ReportData) -> Section:
    """The charts that have something to draw: no candidate runs anywhere leaves the two speed charts
    empty (bare axes), and a memory chart needs a device with an estimate."""
    c = data.charts
    drawn = [key for key, has in (("pareto", c["pareto"]["points"]), ("cost_speed", c["cost_speed"]["points"]),
                                  ("memory", c["memory"]["bars"])) if has]
    s = Section("charts", "Charts", charts=drawn)
    if not drawn:
        s.paragraphs.append("No chart: no candidate model has a memory or speed estimate on any candidate device.")
    elif len(drawn) < len(CHART_TITLES):
        s.paragraphs.append("Not drawn, as no candidate has the figures they plot (a decode speed; for the price chart, "
                            "a unit price too): " + ", ".join(CHART_TITLES[k] for k in CHART_TITLES if k not in drawn) + ".")
    return s


CHART_TITLES = {
    "pareto": "Quality vs decode speed (Pareto frontier)",
    "cost_speed": "Unit price vs decode speed",
    "memory": "Memory breakdown vs usable memory",
}

CHART_CAPTIONS = {
    "pareto": "Each device × model in its chosen quantization; the frontier joins the candidates that no other beats on "
              "both quality score and decode speed. The star is the recommendation.",
    "cost_speed": "Each device with its pick (or its fastest candidate when none meets the requirement); bars show the "
                  "~80% band of decode speed; the dashed line is the required speed; the star is the recommendation.",
    "memory": "Weights, KV cache, compute buffers and runtime overhead of each device's pick; the marker is the memory "
              "one app may use on that device; the recommended device's bar is outlined.",
}


def _evidence(data: ReportData) -> Section:
    ev = data.evidence
    dev_rows = []
    for d in ev["devices"]:
        name = device_label(d)
        dev_rows += [
            [name, "unit price", money(d["price_usd"], d.get("price_covers")), d["price_basis"] or "-", d["price_note"] or ""],
            [name, "usable memory", size(d["usable_bytes"]), d["usable_basis"], d["usable_note"]],
            [name, "memory bandwidth", f"{d['bandwidth_gbs']:g} GB/s", d["bandwidth_basis"], d["bandwidth_note"]],
            [name, "power (typical / max)", f"{watts(d['power_typical_w'])} / {watts(d['power_max_w'])} W", d["power_basis"],
             d["power_note"]],
            [name, "power of the energy figures", f"{watts(d['energy_power_w'])} W", d["power_basis"],
             f"{d['energy_basis']}; J/token and Wh = this power × time, tok/s per W = decode tok/s ÷ this power"],
            storage_row(d),
            [name, "speed model", d["execution_path"],
             "calibrated" if d["speed_calibration"] == "calibrated" else "derived",
             (f"{d['speed_calibration_basis']} ({d['speed_calibration_measurements']} measurements); "
             f"{d['speed_calibration_source']}")],
            *([[name, f"budget under {d['target_budget'].get('target_name') or d['target_budget']['target']}",
                size(d["target_budget"]["bytes"]), d["target_budget"]["basis"],
                f"{d['target_budget']['rule']} ({d['target_budget']['source']})"
                + (f"; browser {d['target_budget'].get('browser_name') or d['target_budget']['browser']}"
                   if d["target_budget"]["browser"] else "")]]
              if d.get("target_budget") else []),
            [name, "profile source", d["device"], "", d["source"] + (f" — {d['verification']}" if d["verification"] else "")],
        ]
    model_rows = [[f"{m['name']} ({m['model']})" if m.get("name") else m["model"], f"{m['params'] / 1e9:.2f} B", f"{m['license']} ({m['license_class']})",
                   f"{num(m['quality_score'])} — {m['quality_basis']}", "yes" if m["verified"] else "no", m["source"]]
                  for m in ev["models"]]
    return Section("evidence", "Evidence: the basis of every figure", paragraphs=[
        ("Basis: datasheet = published by the vendor; derived = computed from published figures (formula in the note); "
        "estimated = an assumption; measured = from a run on the device; calibrated = fitted to measured runs. "
        "Speeds are derived from memory bandwidth and compute, scaled by efficiency factors fitted to published "
        "llama.cpp measurements (or to your own runs after 'advisor calibrate').")
    ], tables=[
        Table(caption="Devices", headers=["device", "figure", "value", "basis", "note / source"], rows=dev_rows,
              widths=[16, 12, 10, 9, 53]),
        Table(caption="Models", headers=["model", "params", "license", "quality score", "verified", "source"], rows=model_rows,
              widths=[16, 6, 14, 24, 6, 34]),
    ])


def storage_row(d: Mapping[str, Any]) -> list[str]:
    """The Evidence row of the storage read a device's cold load time rests on (in a browser tab:
    the browser's storage on it, a later visit)."""
    if d.get("storage_read_mb_s") is None:
        return [device_label(d), "storage read", "-", "-", "the profile gives no storage read speed: its cold load time is not predicted"]
    note = "; ".join(x for x in (d["storage_kind"], d.get("storage_source"), d.get("storage_note")) if x)
    note += "; cold load = the model file read at this rate + the warm load"
    if d.get("storage_browser"):
        note += (f"; in {d['storage_browser']} the weights are read from the browser's storage (Cache API / OPFS / IndexedDB) "
                 "on a later visit; the first visit's download is not predicted"
                 + (f"; {d['storage_browser_note']}" if d.get("storage_browser_note") else ""))
    return [device_label(d), "storage read", f"{d['storage_read_mb_s']:,.0f} MB/s", d["storage_basis"], note]


def _runs(data: ReportData) -> Section:
    s = Section("runs", "Measured validation runs")
    if not data.runs:
        s.paragraphs.append(NO_RUNS)
        return s
    s.tables.append(Table(
        headers=["run", "date", "device", "model · quant", "status", "decode measured / predicted", "prefill measured / predicted",
                 "measured ÷ predicted"],
        rows=[[str(r["id"]), (r["created_at"] or "")[:10], r["device"], f"{r['model']} · {r['quant']}"
               + (" (synthetic)" if r["synthetic"] else ""), r["status"],
               f"{tps(r['measured_decode_tokens_per_s'])} / {tps(r['predicted_decode_tokens_per_s'])}",
               f"{tps(r['measured_prefill_tokens_per_s'])} / {tps(r['predicted_prefill_tokens_per_s'])}",
               ratio(r["decode_measured_over_predicted"])] for r in data.runs],
        widths=[5, 10, 18, 22, 8, 14, 14, 9],
    ))
    return s


def _assumptions(data: ReportData) -> Section:
    v = data.versions
    return Section("assumptions", "Assumptions and versions", bullets=list(data.assumptions) + [
        (f"Tool: {v['tool']} (Python {v['python']}); catalog: {v['catalog']}, digest {v['catalog_digest']}; "
        f"generated {data.generated_at}."),
    ])

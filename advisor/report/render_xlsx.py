"""XLSX: one sheet per table, raw numbers (not formatted strings) so a spreadsheet can compute."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from advisor.errors import missing_extra
from advisor.report.model import COMPARISON_COLUMNS, ReportData
from advisor.report.views import EVERY_DEVICE_MEETS, NO_RUNS
from advisor.units import GIB
from advisor.wording import NO_TIER_PICK, runtime_suffix

RANKING_COLUMNS = [
    ("rank", "rank"), ("device", "device"), ("device_name", "device name"), ("device_class", "class"), ("model", "model"),
    ("model_name", "model name"), ("quant", "quant"), ("runtime", "runtime"), ("backend", "backend"), ("format", "format"),
    ("unit_price_usd", "unit price (USD)"), ("fleet_price_usd", "fleet price (USD)"),
    ("decode_tokens_per_s", "decode (tok/s)"), ("decode_low", "decode low (tok/s)"), ("decode_high", "decode high (tok/s)"),
    ("sustained_decode_tokens_per_s", "decode, sustained (tok/s)"), ("ttft_s", "TTFT (s)"), ("energy_wh_per_1000_responses", "energy (Wh / 1,000 responses)"),
    ("tokens_per_s_per_dollar", "tok/s per USD"), ("tokens_per_s_per_watt", "tok/s per W"), ("headroom_bytes", "headroom (GiB)"),
    ("price_covers", "price covers"),
]
HEADER_FILL = "E8ECF0"
MONEY_KEYS = {"unit_price_usd", "fleet_price_usd", "variant_unit_price_usd", "extra_unit_price_usd", "price_usd"}

#: One header style for every sheet: words, then the unit in brackets (from the key's unit suffix).
UNIT_SUFFIXES = [
    ("_tokens_per_s", "tok/s"), ("_mb_s", "MB/s"), ("_bytes", "GiB"), ("_usd", "USD"), ("_gbs", "GB/s"), ("_w", "W"), ("_s", "s"),
]


def header(key: str) -> str:
    """``variant_ram_bytes`` → ``variant ram (GiB)``, ``power_max_w`` → ``power max (W)``,
    ``storage_read_mb_s`` → ``storage read (MB/s)`` (not ``storage read mb (s)``)."""
    for suffix, unit in UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ')} ({unit})"
    return key.replace("_", " ")


#: "What to ship per RAM tier": the Markdown table's columns, its composite cells split into raw
#: numbers (the band of the slowest device's decode, memory against the budget of the tightest).
TIER_COLUMNS = [
    ("tier_gib", "RAM tier (GB)"), ("devices", "devices"), ("device_names", "device names"), ("model", "model"),
    ("model_name", "model name"), ("format", "format"), ("runtime", "runtime"),
    ("backends", "backend"), ("decode_tokens_per_s", "slowest decode (tok/s)"), ("decode_low", "slowest decode low (tok/s)"),
    ("decode_high", "slowest decode high (tok/s)"), ("slowest_device", "slowest device"), ("memory_bytes", "memory (GiB)"),
    ("usable_bytes", "budget (GiB)"), ("tightest_device", "tightest device"), ("download_bytes", "download (GiB)"),
    ("store_limits_exceeded", "store limits exceeded"), ("left_out", "left out"),
]

#: The label each key has wherever it appears, so a key reads the same on every sheet (and as in
#: the other formats: "TTFT (s)", not "ttft (s)").
LABELS = {**dict(COMPARISON_COLUMNS), **dict(RANKING_COLUMNS)}


def _columns(sample: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, LABELS.get(k) or header(k)) for k in sample]


def _tier_rows(tiers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tiers as the Markdown words them (nothing fits, the limits by id, who is left out and why)."""
    rows = []
    for t in tiers:
        has = t["model"] is not None
        texts = dict(zip(t["store_limit_ids"], t["store_limits_exceeded"]))
        rows.append({
            **t,
            "device_names": "; ".join(t["device_names"]),  # names hold commas ("Apple MacBook Air 13 (M1, 2020), 8 GB")
            "model": t["model"] if has else NO_TIER_PICK,
            "store_limits_exceeded": ("; ".join(f"{k}: {v}" for k, v in texts.items()) or "none") if has else None,
            "left_out": "; ".join(f"{x['device']}: {x['reason'] if x['hosts_target'] else 'cannot host the target'}"
                                  for x in t["left_out"]) or None,
        })
    return rows


def _sheet(wb: Any, title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> Any:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.append([h for _, h in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    for row in rows:
        ws.append([_cell(row.get(k), k) for k, _ in columns])
    for i, (key, header) in enumerate(columns, 1):
        letter = get_column_letter(i)
        if key in MONEY_KEYS:
            for c in ws[letter][1:]:
                c.number_format = '"$"#,##0.00'
        elif key.endswith("_bytes"):
            for c in ws[letter][1:]:
                c.number_format = "0.000"
        longest = max([len(header)] + [len(str(c.value)) for c in ws[letter][1:] if c.value is not None])
        ws.column_dimensions[letter].width = min(60, max(8, longest + 2))
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions
    return ws


def _cell(v: Any, key: str = "") -> Any:
    """A spreadsheet value: sizes in GiB (the headers say so), lists and tables as text."""
    if key.endswith("_bytes") and isinstance(v, (int, float)) and not isinstance(v, bool):
        return v / GIB
    if isinstance(v, (list, tuple)):
        v = ", ".join(str(x) for x in v)
    elif isinstance(v, dict):
        v = ", ".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, str):  # XML 1.0 has no control characters: a name from a user's file may carry one
        return _CONTROL.sub("", v)
    return v


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def render_xlsx(data: ReportData) -> bytes:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill
    except ImportError:
        raise missing_extra("openpyxl", "report") from None
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    rows: list[tuple[str, Any]] = [
        ("title", data.title), ("summary", data.summary), ("requirement", data.requirement_text),
        ("recommended device", data.recommended["device"] if data.recommended else None),
        ("recommended model", data.recommended["model"] if data.recommended else None),
        ("recommended quant", data.recommended["quant"] if data.recommended else None),
        ("recommended runtime", f"{data.recommended['runtime']}/{data.recommended['backend']}" if data.recommended else None),
        ("devices meeting the requirement", data.n_meeting_devices), ("candidate devices", data.n_candidate_devices),
        ("generated at", data.generated_at),
    ]
    rows += [(f"version: {k}", v) for k, v in data.versions.items()]
    rows += [(f"requirement: {k}", _cell(v)) for k, v in data.requirements.items()]
    for key, value in rows:
        ws.append([_cell(key), _cell(value)])
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 120
    for row in ws.iter_rows():
        row[0].font, row[0].fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)  # the sheets' header style
        row[1].alignment = Alignment(wrap_text=True, vertical="top")

    _sheet(wb, "Ranking", RANKING_COLUMNS, data.ranking)
    if data.tiers:  # after the ranking, as in the documents
        _sheet(wb, "What to ship per RAM tier", TIER_COLUMNS, _tier_rows(data.tiers))
    _sheet(wb, "Comparison", COMPARISON_COLUMNS, data.comparison)
    _sheet(wb, "Cheapest per class", _columns(data.cheapest_per_class[0] if data.cheapest_per_class else {"device_class": 0}),
           data.cheapest_per_class)
    if data.rejected_devices:
        _sheet(wb, "Rejected", [("device", "device"), ("device_name", "device name"), ("device_class", "class"),
                                ("unit_price_usd", "unit price (USD)"), ("summary", "why not")], data.rejected_devices)
    else:  # as the documents say it, not a sheet of bare headers
        _sheet(wb, "Rejected", [("note", "note")], [{"note": EVERY_DEVICE_MEETS}])
    what_if = [{**{k: v for k, v in w.items() if k != "newly_possible"},
                "newly_possible": ", ".join(f"{n['model']} {n['quant']}{runtime_suffix(n.get('runtime'))}"
                                           for n in w["newly_possible"]) or "none"}
               for w in data.what_if]
    if what_if:
        _sheet(wb, "What-if more RAM", _columns(what_if[0]), what_if)
    else:  # as the documents say it, not a sheet with one bare header
        _sheet(wb, "What-if more RAM", [("note", "note")],
               [{"note": "No candidate device has a larger-memory variant in the catalog."}])
    ev_dev = data.evidence["devices"]
    _sheet(wb, "Evidence devices", _columns(ev_dev[0] if ev_dev else {"device": 0}), ev_dev)
    ev_mod = data.evidence["models"]
    _sheet(wb, "Evidence models", _columns(ev_mod[0] if ev_mod else {"model": 0}), ev_mod)
    if data.runs:
        _sheet(wb, "Runs", _columns(data.runs[0]), data.runs)
    else:
        _sheet(wb, "Runs", [("note", "note")], [{"note": NO_RUNS}])
    _sheet(wb, "Assumptions", [("assumption", "assumption")], [{"assumption": a} for a in data.assumptions])

    for sheet in wb.worksheets:  # openpyxl stores text that starts with "=" as a formula, which Excel would run
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"

    # reproducible bytes for the same data: fixed document timestamps
    try:
        stamp = datetime.fromisoformat(data.generated_at).replace(tzinfo=None)
        wb.properties.created = wb.properties.modified = stamp
    except ValueError:
        pass
    wb.properties.creator = data.versions["tool"]
    wb.properties.title = _cell(data.title)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

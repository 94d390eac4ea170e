"""Markdown: the document sections as GitHub-flavoured Markdown (charts live in HTML and PDF)."""

from __future__ import annotations

from advisor.report.model import ReportData
from advisor.report.views import CHART_TITLES, Table, header_line, sections


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    lines = []
    if t.caption:
        lines += [f"**{t.caption}**", ""]
    lines.append("| " + " | ".join(_cell(h) for h in t.headers) + " |")
    aligns = t.numeric or [False] * len(t.headers)
    lines.append("|" + "|".join("---:" if n else "---" for n in aligns) + "|")
    for i, row in enumerate(t.rows):
        cells = [_cell(c) for c in row]
        if t.highlight and t.highlight[i]:
            cells = [f"**{c}**" if c and c != "-" else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def render_md(data: ReportData) -> str:
    lines = [f"# {data.title}", "", f"_{header_line(data)}_", ""]
    for s in sections(data):
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        if s.charts:
            lines += ["Charts are drawn in the HTML and PDF reports: " + ", ".join(CHART_TITLES[c] for c in s.charts) + ".", ""]
            front = [p for p in data.charts["pareto"]["points"] if p["on_front"]]
            if front:
                lines += ["Quality/speed frontier: " + "; ".join(
                    f"{p['device_name']} · {p['model_name']} {p['quant']} ({p['decode_tokens_per_s']:.1f} tok/s, "
                    f"quality {p['quality_score']:.0f})" for p in front) + ".", ""]
        for t in s.tables:
            lines += _table(t)
        for b in s.bullets:
            lines.append(f"- {b}")
        if s.bullets:
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"

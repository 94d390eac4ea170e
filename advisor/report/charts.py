"""The three charts, twice: interactive plotly figures for HTML, static matplotlib PNGs for PDF.
Both draw ``ReportData.charts``; no figure is computed here."""

from __future__ import annotations

import io
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
]
MEETS_COLOR, MISSES_COLOR, FRONT_COLOR = "#2E7D32", "#C62828", "#37474F"
PICK_COLOR, PICK_LABEL = "#F9A825", "recommended"


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
                x=[p["unit_price_usd"] for p in sel], y=[p["decode_tokens_per_s"] for p in sel], mode="markers+text",
                name="meets the requirement" if meets else "misses it", text=[p["device"] for p in sel],
                textposition="top center",
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
        fig.update_xaxes(range=[max(0.0, lo - pad), hi + pad])
    figs["cost_speed"] = fig

    bars = data.charts["memory"]["bars"]
    fig = go.Figure()
    labels = [("★ " if b.get("recommended") else "") + b["label"] for b in bars]
    outline = {"width": [3 if b.get("recommended") else 0 for b in bars], "color": PICK_COLOR}
    for key, name, color in MEMORY_PARTS:
        fig.add_trace(go.Bar(y=labels, x=[_gib(b[key]) for b in bars], name=name, orientation="h", marker_color=color,
                             marker_line=outline, hovertemplate="%{y}<br>" + name + ": %{x:.2f} GiB<extra></extra>"))
    fig.add_trace(go.Scatter(y=labels, x=[_gib(b["usable_bytes"]) for b in bars], mode="markers", name="usable memory",
                             marker={"symbol": "line-ns-open", "size": 22, "color": "#000", "line": {"width": 3, "color": "#000"}},
                             hovertemplate="%{y}<br>usable: %{x:.2f} GiB<extra></extra>"))
    mem_layout = dict(layout, height=max(300, 150 + 48 * len(bars)), margin={"l": 20, "r": 20, "t": 50, "b": 60},
                      legend={"orientation": "h", "y": -0.3, "yanchor": "top", "traceorder": "normal"})
    fig.update_layout(title=CHART_TITLES["memory"], barmode="stack", xaxis_title="GiB", **mem_layout)
    fig.update_yaxes(autorange="reversed", automargin=True)
    figs["memory"] = fig
    return figs


# --------------------------------------------------------------------------- matplotlib (PDF)


def png_charts(data: ReportData, dpi: int = 150) -> dict[str, bytes]:
    """PNG bytes per chart, drawn with matplotlib's object API (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise missing_extra("matplotlib", "report") from None

    def save(fig: Any) -> bytes:
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return buf.getvalue()

    out: dict[str, bytes] = {}
    min_tps = data.requirements.get("min_tps")

    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot()
    pts = data.charts["pareto"]["points"]
    for meets in (True, False):
        sel = [p for p in pts if p["meets"] == meets]
        if sel:
            ax.scatter([p["decode_tokens_per_s"] for p in sel], [p["quality_score"] for p in sel], s=36, alpha=0.85,
                       color=MEETS_COLOR if meets else MISSES_COLOR, label="meets the requirement" if meets else "misses it")
    front = sorted((p for p in pts if p["on_front"]), key=lambda p: p["decode_tokens_per_s"])
    if front:
        ax.plot([p["decode_tokens_per_s"] for p in front], [p["quality_score"] for p in front], ":", color=FRONT_COLOR,
                label="Pareto frontier")
        for p in front:
            ax.annotate(f"{p['device']}\n{p['model']} {p['quant']}", (p["decode_tokens_per_s"], p["quality_score"]),
                        textcoords="offset points", xytext=(5, 3), fontsize=6, color="#333")
    _mark_pick(ax, [p for p in pts if p.get("recommended")], "decode_tokens_per_s", "quality_score")
    if min_tps:
        ax.axvline(min_tps, color="#888", ls="--", lw=1, label=f"required {min_tps:g} tok/s")
    ax.margins(x=0.12, y=0.18)
    ax.set_xlabel("decode tokens/s")
    ax.set_ylabel("quality score (0-100)")
    ax.set_title(CHART_TITLES["pareto"], fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    out["pareto"] = save(fig)

    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot()
    pts = data.charts["cost_speed"]["points"]
    for meets in (True, False):
        sel = [p for p in pts if p["meets"] == meets]
        if sel:
            ax.errorbar([p["unit_price_usd"] for p in sel], [p["decode_tokens_per_s"] for p in sel],
                        yerr=[[p["decode_tokens_per_s"] - p["decode_low"] for p in sel],
                              [p["decode_high"] - p["decode_tokens_per_s"] for p in sel]],
                        fmt="o", capsize=3, color=MEETS_COLOR if meets else MISSES_COLOR,
                        label="meets the requirement" if meets else "misses it")
            for p in sel:
                ax.annotate(p["device"], (p["unit_price_usd"], p["decode_tokens_per_s"]), textcoords="offset points",
                            xytext=(6, 4), fontsize=6.5)
    _mark_pick(ax, [p for p in pts if p.get("recommended")], "unit_price_usd", "decode_tokens_per_s")
    if min_tps:
        ax.axhline(min_tps, color="#888", ls="--", lw=1, label=f"required {min_tps:g} tok/s")
    ax.set_xlabel("unit price (USD)")
    ax.set_ylabel("decode tokens/s")
    ax.set_title(CHART_TITLES["cost_speed"], fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    if pts:
        lo = min(p["unit_price_usd"] for p in pts)
        hi = max(p["unit_price_usd"] for p in pts)
        pad = max(20.0, (hi - lo) * 0.15)
        ax.set_xlim(max(0.0, lo - pad), hi + pad * 1.5)
    out["cost_speed"] = save(fig)

    bars = data.charts["memory"]["bars"]
    fig = Figure(figsize=(7.5, max(1.8, 0.9 + 0.38 * len(bars))))
    ax = fig.add_subplot()
    labels = [("★ " if b.get("recommended") else "") + b["label"] for b in bars]
    ys = list(range(len(bars)))
    left = [0.0] * len(bars)
    edges = [PICK_COLOR if b.get("recommended") else "none" for b in bars]
    for key, name, color in MEMORY_PARTS:
        vals = [_gib(b[key]) or 0.0 for b in bars]
        ax.barh(ys, vals, left=left, color=color, label=name, height=0.6, edgecolor=edges, linewidth=2)
        left = [a + b for a, b in zip(left, vals)]
    ax.scatter([_gib(b["usable_bytes"]) for b in bars], ys, marker="|", s=300, color="black", linewidths=2,
               label="usable memory", zorder=3)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("GiB")
    ax.set_title(CHART_TITLES["memory"], fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    out["memory"] = save(fig)
    return out


def _mark_pick(ax: Any, pick: list[dict[str, Any]], x: str, y: str) -> None:
    """The recommendation as a star over its point (matplotlib)."""
    if pick:
        ax.scatter([p[x] for p in pick], [p[y] for p in pick], marker="*", s=220, color=PICK_COLOR, edgecolors="#333",
                   linewidths=0.8, zorder=4, label=PICK_LABEL)

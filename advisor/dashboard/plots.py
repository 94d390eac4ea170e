"""The dashboard's figures (plotly), built from library results; no Streamlit and no figures computed
here. Titles sit left-aligned above a margin tall enough for two lines (a long model name wraps
instead of being cut), log axes carry 1-2-5 ticks with plain numbers, bar labels get the room
they need."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from advisor.dashboard.words import FIT_LABELS
from advisor.records import Estimate
from advisor.units import gib

FIT_COLORS = {"fits": "#2e7d32", "tight": "#ef6c00", "offload": "#1565c0", "no": "#9e9e9e"}
PICK_COLOR = "#f9a825"
#: Above this many characters a title is wrapped onto a second line (a chart is ~230 px wide in
#: the dashboard's two columns on an 800 px screen: a longer line was cut off).
TITLE_WRAP = 28
#: Legends below the plot sit under the x-axis title, whose tick labels turn on a narrow chart.
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.34}
MARGIN_LEGEND_BELOW = {"t": 80, "l": 60, "r": 30, "b": 130}


def _title(text: str) -> dict[str, Any]:
    if len(text) > TITLE_WRAP and ": " in text:
        head, tail = text.split(": ", 1)
        text = f"{head}:<br><sup>{tail}</sup>"
    elif len(text) > TITLE_WRAP and " " in text[:TITLE_WRAP]:
        cut = text.rindex(" ", 0, TITLE_WRAP)
        text = f"{text[:cut]}<br>{text[cut + 1:]}"
    return {"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 15}}


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    return {"title": _title(title), "height": height, "margin": {"t": 80, "l": 60, "r": 30, "b": 60}, **extra}


def log_ticks(values: Sequence[float]) -> dict[str, Any]:
    """Axis settings for a log axis: ticks at 1, 2, 5 × 10^k between the data's ends, as plain
    numbers (``0.5``, ``20``, ``1,000``) rather than plotly's ``2``/``5`` minor labels."""
    finite = [v for v in values if v and v > 0 and math.isfinite(v)]
    if not finite:
        return {"type": "log"}
    lo, hi = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    ticks = [m * 10.0**k for k in range(lo, hi + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if min(finite) / 2.5 <= t <= max(finite) * 2.5]
    return {"type": "log", "tickvals": ticks, "ticktext": [f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks]}


def quality_speed_figure(table: pd.DataFrame, front: pd.DataFrame, pick: Estimate | None, pick_label: str) -> go.Figure:
    """Quality against decode speed for every model × quant that fits, the Pareto front, the pick."""
    fig = go.Figure()
    for fit, label in FIT_LABELS.items():
        part = table[table["fit"] == label] if not table.empty else table
        if part.empty:
            continue
        fig.add_scatter(
            x=part["decode tok/s"], y=part["quality"], mode="markers", name=label,
            marker={"color": FIT_COLORS[fit], "size": 7, "opacity": 0.55},
            text=part["model name"] + " " + part["quant"], hovertemplate="%{text}<br>%{x:.1f} tok/s, quality %{y:.0f}<extra></extra>",
        )
    if not front.empty:
        fig.add_scatter(
            x=front["decode tok/s"], y=front["quality"], mode="lines+markers", name="Pareto frontier",
            line={"color": "#c62828", "width": 2}, marker={"size": 8, "color": "#c62828"},
            text=front["model name"] + " " + front["quant"], hovertemplate="%{text}<br>%{x:.1f} tok/s, quality %{y:.0f}<extra>frontier</extra>",
        )
    if pick is not None and pick.speed is not None:
        fig.add_scatter(x=[pick.speed.decode_tokens_per_s], y=[pick.quality_score], mode="markers", name="pick",
                        marker={"symbol": "star", "size": 18, "color": PICK_COLOR, "line": {"width": 1, "color": "#333"}},
                        text=[pick_label], hovertemplate="pick: %{text}<extra></extra>")
    speeds = list(table["decode tok/s"].dropna()) if not table.empty else []
    fig.update_layout(**_layout("Quality vs decode speed: everything that fits", 460, margin=MARGIN_LEGEND_BELOW),
                      xaxis={"title": "decode tok/s (log scale)", **log_ticks(speeds)}, yaxis_title="quality score",
                      legend=LEGEND_BELOW)
    return fig


def memory_figure(names: Sequence[str], parts: dict[str, Sequence[float]], usable_gib: float) -> go.Figure:
    """Stacked memory parts (GiB) of the top candidates against the usable memory."""
    fig = go.Figure()
    for label, values in parts.items():
        fig.add_bar(y=list(names), x=list(values), name=label, orientation="h",
                    hovertemplate="%{y}: %{x:.2f} GiB<extra>" + label + "</extra>")
    fig.add_vline(x=usable_gib, line={"color": "#c62828", "dash": "dash"}, annotation_text=f"usable {usable_gib:.2f} GiB",
                  annotation_position="top")
    fig.update_layout(**_layout("Memory breakdown of the top candidates", 460, margin=MARGIN_LEGEND_BELOW), barmode="stack",
                      xaxis_title="GiB", legend={**LEGEND_BELOW, "traceorder": "normal"},
                      colorway=["#1565c0", "#64b5f6", "#ffb74d", "#bdbdbd", "#8e24aa", "#d81b60", "#6d4c41"])
    fig.update_yaxes(automargin=True)
    return fig


def context_figure(title: str, sweep: Sequence[tuple[int, Estimate]]) -> go.Figure:
    """Memory and decode speed as the context grows."""
    fig = go.Figure()
    xs = [c for c, _ in sweep]
    fig.add_scatter(x=xs, y=[gib(e.memory.total_bytes) for _, e in sweep], name="memory GiB",
                    mode="lines+markers", line={"color": "#1565c0"})
    fig.add_scatter(x=[c for c, e in sweep if e.speed], y=[e.speed.decode_tokens_per_s for _, e in sweep if e.speed],
                    name="decode tok/s", mode="lines+markers", line={"color": "#2e7d32"}, yaxis="y2")
    decodes = any(e.speed for _, e in sweep)
    usable = gib(sweep[0][1].usable_bytes)
    # named in the legend, not beside the line: there the label sat on the decode curve (two y axes share the plot)
    fig.add_hline(y=usable, line={"color": "#c62828", "dash": "dash"})
    fig.add_scatter(x=[None], y=[None], mode="lines", line={"color": "#c62828", "dash": "dash"}, name=f"usable {usable:.2f} GiB",
                    hoverinfo="skip")
    fig.update_layout(
        **_layout(f"{title}: memory and decode speed as context grows", 420, margin=MARGIN_LEGEND_BELOW),
        legend=LEGEND_BELOW,
        xaxis={"title": "context tokens (prompt fills 90%)", **log_ticks(xs)},
        yaxis={"title": "memory GiB", "rangemode": "tozero"},
        # an axis without a line read as a speed of 0–4 tok/s where the model does not fit at all
        yaxis2={"title": "decode tok/s", "rangemode": "tozero", "overlaying": "y", "side": "right", "tickmode": "auto", "showgrid": False,
                "visible": decodes},
    )
    if not decodes:
        fig.add_annotation(text="does not fit at any of these context lengths: no decode speed", showarrow=False, x=0.5,
                           y=0.95, xref="paper", yref="paper")
    return fig


def prompt_figure(title: str, sweep: Sequence[tuple[int, Estimate]]) -> go.Figure:
    """Time to first token as the prompt grows."""
    fig = go.Figure()
    xs = [p for p, _ in sweep]
    ys = [e.speed.ttft_s for _, e in sweep if e.speed]
    fig.add_scatter(x=xs, y=ys, mode="lines+markers", name="TTFT", line={"color": "#6a1b9a"},
                    hovertemplate="%{x} tokens: %{y:.2f} s<extra></extra>")
    fig.update_layout(**_layout(f"{title}: time to first token vs prompt length", 420),
                      xaxis={"title": "prompt tokens", **log_ticks(xs)}, yaxis={"title": "seconds", **log_ticks(ys)})
    if not sweep:
        fig.add_annotation(text="does not fit at any of these prompt lengths", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        # empty log axes drew plotly's own ticks, 0.1 to 10k seconds, 1 to 1M tokens, for no data
        fig.update_xaxes(showticklabels=False, showgrid=False)
        fig.update_yaxes(showticklabels=False, showgrid=False)
    return fig


def compare_figure(title: str, table: pd.DataFrame) -> go.Figure:
    """Three panels over the compared devices, one above the other: decode speed, headroom, value.
    Horizontal bars, so that long device names stay on one line and the panels never overlap on a
    narrow screen (side by side, an 800 px page laid each axis title over the next panel's bars)."""
    names = list(table["device"])[::-1]  # the table's first device on top
    panels = [("decode tok/s", list(table["decode tok/s"])[::-1], "#2e7d32"),
              ("headroom GiB", list(table["headroom GiB"])[::-1], None),
              ("tok/s per $100", [v * 100 for v in table["tok/s per $"]][::-1], "#6a1b9a")]
    fig = go.Figure()
    band = 1 / len(panels)
    layout: dict[str, Any] = {}
    for i, (panel, values, color) in enumerate(panels, 1):
        suffix = "" if i == 1 else str(i)
        colors = color or ["#c62828" if v < 0 else "#1565c0" for v in values]
        fig.add_bar(y=names, x=values, orientation="h", marker_color=colors, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                    name=panel, texttemplate="%{x:.3g}", textposition="outside", cliponaxis=False)
        top = 1 - (i - 1) * band
        layout[f"yaxis{suffix}"] = {"domain": [top - band + 0.12, top - 0.02], "anchor": f"x{suffix}", "automargin": True}
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "title": {"text": panel, "standoff": 10}, "automargin": True,
                                    "rangemode": "tozero"}
    fig.update_layout(**_layout(f"{title} on each device", 150 + 3 * (70 + 30 * len(names))), showlegend=False, **layout)
    fig.update_layout(margin={"t": 80, "l": 20, "r": 40, "b": 40})
    return fig


#: Bar colours of the Runtimes compared chart: decode speed fitted to the runtime's own published
#: measurements, or llama.cpp's factors standing in as a prior.
EVIDENCE_COLORS = {"fitted": "#2e7d32", "prior": "#90a4ae"}


def runtimes_figure(title: str, table: pd.DataFrame) -> go.Figure:
    """Decode speed of each runtime with its likely range (error bars), coloured by evidence; a
    runtime whose best format does not pass is drawn hatched; one whose best format does not fit
    has no speed and no bar (gpt-oss 20B on 8 GB of RAM: none)."""
    fig = go.Figure()
    table = table[table["decode tok/s"].notna()]
    names = [f"{r} · {f}" for r, f in zip(table["runtime"], table["format"])][::-1]
    evidence = list(table["decode basis"])[::-1]
    passes = [f in FIT_LABELS.values() for f in table["fit"]][::-1]
    tps, low, high = (list(table[c])[::-1] for c in ("decode tok/s", "decode low", "decode high"))
    fig.add_bar(
        y=names, x=tps, orientation="h", marker={"color": [EVIDENCE_COLORS[e] for e in evidence],
                                                  "pattern": {"shape": ["" if p else "/" for p in passes]}},
        error_x={"type": "data", "symmetric": False, "array": [h - t for h, t in zip(high, tps)],
                 "arrayminus": [t - lo for t, lo in zip(tps, low)], "color": "#455a64"},
        customdata=evidence, hovertemplate="%{y}: %{x:.1f} tok/s (decode %{customdata})<extra></extra>", showlegend=False,
    )
    for e, color in EVIDENCE_COLORS.items():  # legend entries for the colours
        fig.add_bar(y=[None], x=[None], orientation="h", marker_color=color, name=f"decode speed {e}")
    # the legend sits above the plot, under the two-line title: with the usual 80 px margin the title's
    # second line lay over it
    fig.update_layout(**_layout(f"Decode speed by runtime — {title}", 190 + 44 * len(names),
                                margin={"t": 110, "l": 60, "r": 30, "b": 60}),
                      xaxis={"title": "decode tok/s (bar: estimate, whisker: likely range)", "rangemode": "tozero"},
                      yaxis={"automargin": True}, barmode="overlay",
                      legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": 1.02, "yanchor": "bottom"})
    if table.empty:
        fig.add_annotation(text="no runtime fits the model here: no speed to draw", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def measured_figure(table: pd.DataFrame) -> go.Figure:
    """Measured against predicted speed, one series per device and metric, the diagonal for reference."""
    fig = go.Figure()
    for (dev, metric), part in table.groupby(["device", "metric"]):
        fig.add_scatter(x=part["predicted tok/s"], y=part["measured tok/s"], mode="markers", name=f"{dev} {metric}",
                        text=part["model"] + " " + part["quant"].fillna(""),
                        hovertemplate="%{text}<br>predicted %{x:.1f}, measured %{y:.1f}<extra></extra>")
    values = list(table["measured tok/s"]) + list(table["predicted tok/s"])
    hi, lo = float(max(values)) * 1.2, float(min(values)) / 1.2
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = predicted",
                    line={"color": "#757575", "dash": "dot"})
    ticks = log_ticks([lo, hi])
    # the legend below, a line per series on a narrow screen: on the right, the devices' names took
    # all but ~100 px of an 800 px page
    fig.update_layout(**_layout("Measured vs predicted speed", 460 + 22 * len(fig.data), margin=MARGIN_LEGEND_BELOW),
                      legend=LEGEND_BELOW, xaxis={"title": "predicted tok/s", **ticks}, yaxis={"title": "measured tok/s", **ticks})
    return fig

"""edge-model-advisor dashboard: which small LLM, in which llama.cpp quantization, runs how well
on which device.

    streamlit run dashboard.py

Thin over the library (``advisor.api``, ``advisor.analysis``, ``advisor.serialize``, ``advisor.store``):
this file reads widgets, calls the library and draws. Only loading is cached; every figure is
computed by the engine on each rerun. Any AdvisorError becomes ``st.error``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from advisor import analysis, api, serialize, store
from advisor.catalog import Catalog, load_catalog, load_device_file
from advisor.engine.fit import factors_for
from advisor.engine.recommend import Constraints, Recommendation, evaluate_grid
from advisor.errors import AdvisorError
from advisor.records import DeviceProfile, Estimate, Workload
from advisor.units import format_rate, format_seconds, format_size, gib

st.set_page_config(page_title="Edge model advisor", page_icon="🧮", layout="wide")

DEFAULT_DEVICE = "raspberry-pi-5-8gb"
SOURCES = ("Device profile", "RAM only", "This machine", "Upload a profile")
LICENSE_CLASSES = ("permissive", "restricted", "noncommercial")
FIT_LABELS = {"fits": "fits", "tight": "tight", "offload": "GPU offload", "no": "does not fit"}
FIT_COLORS = {"fits": "#2e7d32", "tight": "#ef6c00", "offload": "#1565c0", "no": "#9e9e9e"}
CONTEXT_STEPS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
PROMPT_STEPS = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
COMPARE_DEFAULTS = ("raspberry-pi-5-8gb", "jetson-orin-nano-super-8gb", "mac-mini-m4-16gb", "iphone-16-pro")
PICK, AUTO = "__pick__", "__auto__"


# --------------------------------------------------------------------------- loading (cached)


@st.cache_resource(show_spinner=False)
def catalog() -> Catalog:
    return load_catalog()


@st.cache_data(ttl=30, show_spinner=False)
def measured_runs() -> list[store.Run]:
    # no database yet: nothing measured (and don't create an empty one just by looking)
    if not store.db_path().exists():
        return []
    return store.list_runs(status="ok")


@st.cache_data(ttl=30, show_spinner=False)
def calibrations_in_store() -> dict[str, dict[str, Any]]:
    if not store.db_path().exists():
        return {}
    return {
        scope: {key: (f.model_dump(), stats) for key, (f, stats) in store.latest_calibrations(scope).items()}
        for scope in ("device", "path")
    }


def uploaded_profile(upload: Any) -> DeviceProfile:
    # the library reads files: keep the user's file name so its error messages name it
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return load_device_file(path)


# --------------------------------------------------------------------------- sidebar inputs


@dataclass(frozen=True)
class Inputs:
    device: DeviceProfile
    workload: Workload
    constraints: Constraints


def device_picker(cat: Catalog) -> DeviceProfile | None:
    st.sidebar.header("Device")
    source = st.sidebar.radio("Describe the device by", SOURCES, key="device_source")
    if source == "Device profile":
        query = st.sidebar.text_input("Search by name", key="device_search", placeholder="e.g. pi 5, iphone, orin")
        classes = sorted({d.device_class for d in cat.devices.values()})
        chosen_classes = st.sidebar.multiselect("Device class", classes, key="device_classes", placeholder="all classes")
        words = query.lower().split()
        ids = [
            d.id for d in sorted(cat.devices.values(), key=lambda d: (d.device_class, d.name))
            if (not chosen_classes or d.device_class in chosen_classes)
            and all(w in f"{d.name} {d.id} {d.soc}".lower() for w in words)
        ]
        if not ids:
            st.sidebar.warning("No profile matches; clear the search or the class filter.")
            return None
        index = ids.index(DEFAULT_DEVICE) if DEFAULT_DEVICE in ids else 0
        device_id = st.sidebar.selectbox(
            f"Profile ({len(ids)} match)", ids, index=index, key="device_id",
            format_func=lambda i: f"{cat.devices[i].name} · {cat.devices[i].device_class}",
        )
        return api.resolve_device(api.DeviceChoice(device_id=device_id), cat)
    if source == "RAM only":
        ram = st.sidebar.text_input("RAM", value="8GB", key="ram", help="4GB, 4 GiB, 3.5g, 4096MB (1GB = 1GiB)")
        usable = st.sidebar.text_input("Usable by the app (optional)", value="", key="usable",
                                       help="default: 75% of RAM")
        classes = sorted({d.device_class for d in cat.devices.values()})
        device_class = st.sidebar.selectbox("Speed like a typical…", ["any CPU-only device", *classes], key="ram_class")
        return api.resolve_device(api.DeviceChoice(
            ram=ram.strip() or None, usable=usable.strip() or None,
            device_class=None if device_class == "any CPU-only device" else device_class,
        ), cat)
    if source == "This machine":
        return this_machine()
    upload = st.sidebar.file_uploader("Device profile (.toml)", type=["toml"], key="device_upload",
                                      help="the format of profiles/*.toml, or what 'advisor profile' writes")
    if upload is None:
        st.sidebar.info("Upload a profile to use it.")
        return None
    return uploaded_profile(upload)


def this_machine() -> DeviceProfile | None:
    """The profile command's probe, run only when asked (about 10 s), kept for the session."""
    from advisor import local  # lazy: the probes import heavy modules

    if st.sidebar.button("Measure this machine (~10 s)", key="profile_local"):
        with st.sidebar.status("Measuring memory bandwidth and compute…") as status:
            device, path = local.run_profile(progress=lambda text, frac: status.update(label=f"{text} ({frac:.0%})"))
            status.update(label=f"Measured; saved to {path}", state="complete")
        st.session_state["local_profile"] = device
    if "local_profile" not in st.session_state and local.local_profile_path().exists():
        st.session_state["local_profile"] = local.local_profile()  # measured earlier (CLI or dashboard)
    device = st.session_state.get("local_profile")
    if device is None:
        st.sidebar.info("Press the button to measure this machine.")
    return device


def workload_inputs() -> Workload:
    st.sidebar.header("Workload")
    context = st.sidebar.number_input("Context length (tokens)", 128, 262144, 4096, step=512, key="context")
    prompt = st.sidebar.number_input("Prompt length (tokens)", 1, 262144, 512, step=64, key="prompt_tokens")
    output = st.sidebar.number_input("Output length (tokens)", 1, 262144, 256, step=64, key="output_tokens")
    kv = st.sidebar.selectbox("KV cache type", ["f16", "q8_0", "q4_0"], key="kv_cache_type")
    return Workload(context_tokens=int(context), prompt_tokens=int(prompt), output_tokens=int(output), kv_cache_type=kv)


def constraint_inputs() -> Constraints:
    st.sidebar.header("Constraints")
    min_tps = st.sidebar.number_input("Minimum decode speed (tok/s, 0 = any)", 0.0, 10000.0, 0.0, step=1.0, key="min_tps")
    max_ttft = st.sidebar.number_input("Maximum time to first token (s, 0 = any)", 0.0, 3600.0, 0.0, step=0.5, key="max_ttft")
    target = st.sidebar.number_input(
        "Reading-speed target (tok/s, 0 = rank by quality alone)", 0.0, 1000.0, 5.0, step=1.0, key="target_tps",
        help="Soft target: models at least this fast rank before slower, higher-quality ones.",
    )
    licenses = st.sidebar.multiselect("Licenses", LICENSE_CLASSES, key="licenses", placeholder="any license",
                                      help="commercial use: permissive + restricted")
    floor = st.sidebar.slider("Quality floor (score out of 100, 0 = none)", 0, 100, 0, key="quality_floor")
    return Constraints(
        min_decode_tps=min_tps or None,
        max_ttft_s=max_ttft or None,
        license_classes=api.parse_licenses(licenses),
        quality_floor=floor or None,
        target_decode_tps=target,
    )


# --------------------------------------------------------------------------- shared views


def estimate_rows(estimates: list[Estimate], cat: Catalog) -> pd.DataFrame:
    """One flat row per estimate, from the library's JSON schema; sizes in GiB for sorting."""
    rows = []
    for e in estimates:
        d = serialize.estimate_dict(e, cat)
        m, s = d["memory"], d["speed"] or {}
        # the columns a reader compares first come first; ids and detail to the right
        rows.append({
            "model name": d["model_name"], "quant": d["quant"], "fit": FIT_LABELS[d["fit"]],
            "memory GiB": gib(m["total_bytes"]), "headroom GiB": gib(m["headroom_bytes"]),
            "decode tok/s": s.get("decode_tokens_per_s"), "prefill tok/s": s.get("prefill_tokens_per_s"),
            "TTFT s": s.get("ttft_s"), "quality": d["quality_score"], "license": d["license"],
            "decode low": s.get("decode_low"), "decode high": s.get("decode_high"),
            "energy J/response": s.get("energy_j_per_response"), "license class": d["license_class"],
            "params B": d["params"] / 1e9, "model": d["model"], "notes": "; ".join(d["notes"]),
        })
    return pd.DataFrame(rows)


TABLE_COLUMNS = {
    "memory GiB": st.column_config.NumberColumn(format="%.2f"),
    "headroom GiB": st.column_config.NumberColumn(format="%.2f"),
    "decode tok/s": st.column_config.NumberColumn(format="%.1f"),
    "decode low": st.column_config.NumberColumn(format="%.1f"),
    "decode high": st.column_config.NumberColumn(format="%.1f"),
    "prefill tok/s": st.column_config.NumberColumn(format="%.0f"),
    "TTFT s": st.column_config.NumberColumn(format="%.2f"),
    "energy J/response": st.column_config.NumberColumn(format="%.0f"),
    "quality": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f", width="small"),
    "params B": st.column_config.NumberColumn(format="%.2f"),
}


def model_label(cat: Catalog, model_id: str) -> str:
    return cat.models[model_id].name


def resolve_focus(cat: Catalog, rec: Recommendation, model: str, quant: str) -> tuple[str, str] | None:
    """The model × quant of the single-model views: the pick unless another is chosen, in the
    quantization the recommendation chose for that model (Q4_K_M if it has none)."""
    if model == PICK:
        if rec.pick is None:
            return None
        model = rec.pick.model_id
    if quant == AUTO:
        quant = next((e.quant_id for e in rec.ranked if e.model_id == model), "Q4_K_M")
    return model, quant


def focus_choice(cat: Catalog, rec: Recommendation, key: str) -> tuple[str, str] | None:
    """Model and quant widgets for the single-model views; defaults follow the pick."""
    pick = rec.pick
    models = [PICK, *sorted(cat.models, key=lambda m: model_label(cat, m).lower())]
    c1, c2 = st.columns(2)
    model = c1.selectbox(
        "Model", models, key=f"{key}_model",
        format_func=lambda m: (f"Best pick ({model_label(cat, pick.model_id)})" if pick else "Best pick (none)")
        if m == PICK else model_label(cat, m),
    )
    auto = resolve_focus(cat, rec, model, AUTO)
    quant = c2.selectbox("Quantization", [AUTO, *cat.file_types], key=f"{key}_quant",
                         format_func=lambda q: f"Recommended ({auto[1] if auto else '—'})" if q == AUTO else q)
    focus = resolve_focus(cat, rec, model, quant)
    if focus is None:
        st.info("Nothing is recommended with these constraints; choose a model.")
    return focus


# --------------------------------------------------------------------------- sections


def device_summary(device: DeviceProfile) -> None:
    m = device.memory
    gpu = f" · GPU {device.gpu.name} ({device.gpu.backend})" if device.gpu_usable and device.gpu else ""
    st.caption(
        f"**{device.name}** ({device.device_class}) · {format_size(m.usable)} usable of {format_size(m.ram)} RAM "
        f"({m.usable_basis}) · {m.bandwidth_gbs:g} GB/s ({m.bandwidth_basis}) · {device.cpu.name}{gpu}"
    )


def pick_card(rec: Recommendation, cat: Catalog) -> None:
    pick = rec.pick
    if pick is None:
        st.warning(rec.explanation)
        if rec.rejected:
            st.markdown("**Closest misses:**\n" + "\n".join(
                f"- {r.model_id} {r.quant_id or ''}: {r.detail}" for r in rec.rejected[:6]))
        return
    sp = pick.speed
    assert sp is not None
    st.subheader(f"Best pick: {model_label(cat, pick.model_id)} · {pick.quant_id}")
    energy = "n/a" if sp.energy_j_per_response is None else f"{sp.energy_j_per_response:,.0f} J"
    cards = [
        ("Memory needed", format_size(pick.memory.total_bytes), f"{format_size(pick.headroom_bytes, precision=1)} headroom",
         f"of {format_size(pick.usable_bytes)} usable; fit: {FIT_LABELS[pick.fit]}"),
        ("Decode (tok/s)", format_rate(sp.decode_tokens_per_s), f"likely {sp.decode_band.low:.1f}–{sp.decode_band.high:.1f}",
         sp.basis),
        ("Prefill (tok/s)", format_rate(sp.prefill_tokens_per_s), f"{sp.prefill_bound} bound", None),
        ("Time to first token", format_seconds(sp.ttft_s), f"{rec.workload.prompt_tokens:,}-token prompt", None),
        ("Quality score", f"{pick.quality_score:.0f} / 100", f"license {cat.models[pick.model_id].license}", None),
        ("Energy per response", energy, f"{format_seconds(sp.response_s)} per full response", "device power × time"),
    ]
    for row in (cards[:3], cards[3:]):
        for col, (label, value, note, help_text) in zip(st.columns(3), row):
            col.metric(label, value, note, delta_color="off", delta_arrow="off", help=help_text, border=True)
    st.info(rec.explanation)
    if rec.alternatives:
        st.markdown("\n".join(
            f"- **Alternative** ({why}): {model_label(cat, e.model_id)} {e.quant_id} — "
            f"{format_rate(e.speed.decode_tokens_per_s) if e.speed else '?'} tok/s, "
            f"{format_size(e.memory.total_bytes)}, quality {e.quality_score:.0f}"
            for why, e in rec.alternatives
        ))


TABLE_SCOPES = ("Recommended quant per model", "Every model × quant")


def candidates_table(rec: Recommendation, grid: Callable[[], list[Estimate]], cat: Catalog,
                     scope: str, fits: list[str], query: str) -> pd.DataFrame:
    """The candidates as shown: ranked rows or the whole grid, filtered (presentation only)."""
    if scope == TABLE_SCOPES[0]:
        table = estimate_rows(list(rec.ranked), cat)
        if not table.empty:
            table.insert(0, "rank", range(1, len(table) + 1))
    else:
        table = estimate_rows(grid(), cat)
    if table.empty:
        return table
    if fits:
        table = table[table["fit"].isin(fits)]
    for word in query.lower().split():
        table = table[(table["model"] + " " + table["model name"] + " " + table["quant"]).str.lower().str.contains(word, regex=False)]
    return table


def table_filters() -> tuple[str, list[str], str]:
    """The Candidates tab's filters as last set (also read by the Download tab)."""
    return (st.session_state.get("table_scope", TABLE_SCOPES[0]), st.session_state.get("fit_filter", []),
            st.session_state.get("table_search", ""))


def candidates_tab(rec: Recommendation, grid: Callable[[], list[Estimate]], cat: Catalog) -> None:
    c1, c2, c3 = st.columns([2, 2, 3])
    c1.radio("Rows", TABLE_SCOPES, key="table_scope")
    c2.multiselect("Fit", list(FIT_LABELS.values()), key="fit_filter", placeholder="any fit")
    c3.text_input("Filter by model or quant", key="table_search", placeholder="e.g. qwen3, Q4_K_M")
    table = candidates_table(rec, grid, cat, *table_filters())
    st.caption(f"{len(table)} rows · click a column header to sort · 'decode low/high' is the likely range")
    st.dataframe(table, key="candidates_table", hide_index=True, column_config=TABLE_COLUMNS, height=420)
    if rec.rejected:
        with st.expander(f"Rejected models ({len(rec.rejected)}), closest misses first"):
            st.dataframe(pd.DataFrame([serialize.rejection_dict(r) for r in rec.rejected]), hide_index=True,
                         key="rejected_table")


def quality_speed_plot(grid: list[Estimate], pick: Estimate | None, cat: Catalog) -> go.Figure:
    table = estimate_rows([e for e in grid if e.fit != "no"], cat)
    front = estimate_rows(analysis.pareto_front(grid), cat)
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
        fig.add_annotation(x=math.log10(pick.speed.decode_tokens_per_s), y=pick.quality_score, text=f"pick: {pick.model_id} {pick.quant_id}",
                           showarrow=True, arrowhead=2, ax=40, ay=-30, bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(title="Quality vs decode speed (everything that fits)", xaxis_title="decode tok/s (log)",
                      yaxis_title="quality score", xaxis_type="log", height=460, legend={"orientation": "h", "y": -0.2})
    return fig


def memory_plot(rec: Recommendation, cat: Catalog) -> go.Figure | None:
    top = list(rec.ranked[:12])
    if not top:
        return None
    names = [f"{model_label(cat, e.model_id)} {e.quant_id}" for e in top][::-1]
    parts = [("weights", "weights_bytes"), ("KV cache", "kv_cache_bytes"), ("buffers", "compute_buffer_bytes"),
             ("overhead", "overhead_bytes")]
    fig = go.Figure()
    for label, attr in parts:
        fig.add_bar(y=names, x=[gib(getattr(e.memory, attr)) for e in top][::-1], name=label, orientation="h",
                    hovertemplate="%{y}: %{x:.2f} GiB<extra>" + label + "</extra>")
    usable = gib(top[0].usable_bytes)
    fig.add_vline(x=usable, line={"color": "#c62828", "dash": "dash"}, annotation_text=f"usable {usable:.2f} GiB",
                  annotation_position="top")
    fig.update_layout(barmode="stack", title="Memory breakdown of the top candidates", xaxis_title="GiB",
                      height=460, legend={"orientation": "h", "y": -0.15, "traceorder": "normal"}, margin={"l": 10},
                      colorway=["#1565c0", "#64b5f6", "#ffb74d", "#bdbdbd"])
    return fig


def context_plot(model: str, quant: str, device: DeviceProfile, workload: Workload, cat: Catalog) -> go.Figure:
    limit = cat.models[model].context_length
    steps = [c for c in CONTEXT_STEPS if c <= limit] or [limit]
    sweep = calibrated(analysis.sweep_context, model, quant, device, steps, workload, cat)
    fig = go.Figure()
    fig.add_scatter(x=[c for c, _ in sweep], y=[gib(e.memory.total_bytes) for _, e in sweep], name="memory GiB",
                    mode="lines+markers", line={"color": "#1565c0"})
    fig.add_scatter(x=[c for c, e in sweep if e.speed], y=[e.speed.decode_tokens_per_s for _, e in sweep if e.speed],
                    name="decode tok/s", mode="lines+markers", line={"color": "#2e7d32"}, yaxis="y2")
    usable = gib(sweep[0][1].usable_bytes)
    fig.add_hline(y=usable, line={"color": "#c62828", "dash": "dash"}, annotation_text=f"usable {usable:.2f} GiB")
    fig.update_layout(
        title=f"{model_label(cat, model)} {quant}: memory and decode speed as context grows", height=420,
        legend={"orientation": "h", "y": -0.25},
        xaxis={"title": "context tokens (prompt fills 90%)", "type": "log"},
        yaxis={"title": "memory GiB", "rangemode": "tozero"},
        yaxis2={"title": "decode tok/s", "rangemode": "tozero", "overlaying": "y", "side": "right", "tickmode": "auto", "showgrid": False},
    )
    return fig


def prompt_plot(model: str, quant: str, device: DeviceProfile, workload: Workload, cat: Catalog) -> go.Figure:
    limit = cat.models[model].context_length - workload.output_tokens
    steps = [p for p in PROMPT_STEPS if p <= limit] or [max(1, limit)]
    sweep = [(p, e) for p, e in calibrated(analysis.sweep_prompt, model, quant, device, steps, workload, cat) if e.speed]
    fig = go.Figure()
    fig.add_scatter(x=[p for p, _ in sweep], y=[e.speed.ttft_s for _, e in sweep], mode="lines+markers",
                    name="TTFT", line={"color": "#6a1b9a"},
                    hovertemplate="%{x} tokens: %{y:.2f} s<extra></extra>")
    fig.update_layout(title=f"{model_label(cat, model)} {quant}: time to first token vs prompt length",
                      xaxis_title="prompt tokens", yaxis_title="seconds", xaxis_type="log", yaxis_type="log", height=420)
    if not sweep:
        fig.add_annotation(text="does not fit at any of these prompt lengths", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def plots_tab(rec: Recommendation, grid: Callable[[], list[Estimate]], device: DeviceProfile, workload: Workload, cat: Catalog) -> None:
    c1, c2 = st.columns(2)
    c1.plotly_chart(quality_speed_plot(grid(), rec.pick, cat), key="plot_quality_speed")
    fig = memory_plot(rec, cat)
    if fig is None:
        c2.info("No candidate to break down.")
    else:
        c2.plotly_chart(fig, key="plot_memory")
    st.markdown("**One model in detail**")
    focus = focus_choice(cat, rec, "focus")
    if focus is None:
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(context_plot(*focus, device, workload, cat), key="plot_context")
    c2.plotly_chart(prompt_plot(*focus, device, workload, cat), key="plot_prompt")


def compare_pool(device: DeviceProfile, cat: Catalog) -> dict[str, DeviceProfile]:
    pool = dict(cat.devices)
    pool.setdefault(device.id, device)  # a RAM-only, uploaded or measured device joins the comparison
    return pool


def compared_devices(device: DeviceProfile, pool: dict[str, DeviceProfile]) -> list[str]:
    """The devices to compare: the user's choice (minus ids gone, e.g. a RAM figure changed), else
    this device and two well-known ones."""
    if "compare_devices" in st.session_state:
        return [d for d in st.session_state["compare_devices"] if d in pool]
    return list(dict.fromkeys([device.id, *[d for d in COMPARE_DEFAULTS if d in pool]]))[:3]


def compare_tab(rec: Recommendation, device: DeviceProfile, workload: Workload, cat: Catalog) -> None:
    st.markdown("The same model on 2–4 devices: speed, headroom, energy per response, price and value.")
    pool = compare_pool(device, cat)
    st.session_state["compare_devices"] = compared_devices(device, pool)
    chosen = st.multiselect("Devices", list(pool), max_selections=4, key="compare_devices",
                            format_func=lambda i: pool[i].name)
    focus = focus_choice(cat, rec, "compare")
    if focus is None:
        return
    if len(chosen) < 2:
        st.info("Choose at least two devices.")
        return
    rows = calibrated(analysis.compare_devices, *focus, [pool[i] for i in chosen], workload, cat)
    table = pd.DataFrame([{
        "device": r.device.name, "class": r.device.device_class, "fit": FIT_LABELS[r.estimate.fit],
        "decode tok/s": r.estimate.speed.decode_tokens_per_s if r.estimate.speed else None,
        "prefill tok/s": r.estimate.speed.prefill_tokens_per_s if r.estimate.speed else None,
        "TTFT s": r.estimate.speed.ttft_s if r.estimate.speed else None,
        "headroom GiB": gib(r.estimate.headroom_bytes), "usable GiB": gib(r.estimate.usable_bytes),
        "energy J/response": r.energy_j_per_response, "Wh per 1000 responses": r.energy_wh_per_1000_responses,
        "price USD": r.price_usd, "tok/s per $": r.tokens_per_s_per_dollar, "tok/s per W": r.tokens_per_s_per_watt,
    } for r in rows])
    st.dataframe(table, hide_index=True, key="compare_table", column_config={
        **TABLE_COLUMNS, "usable GiB": st.column_config.NumberColumn(format="%.2f"),
        "Wh per 1000 responses": st.column_config.NumberColumn(format="%.1f"),
        "price USD": st.column_config.NumberColumn(format="$%.0f"),
        "tok/s per $": st.column_config.NumberColumn(format="%.4f"),
        "tok/s per W": st.column_config.NumberColumn(format="%.2f"),
    })
    names = table["device"].str.slice(0, 28)
    fig = go.Figure()
    panels = [("decode tok/s", table["decode tok/s"], "#2e7d32"),
              ("headroom GiB", table["headroom GiB"], ["#c62828" if h < 0 else "#1565c0" for h in table["headroom GiB"]]),
              ("tok/s per $100", table["tok/s per $"] * 100, "#6a1b9a")]
    layout: dict[str, Any] = {}
    for i, (title, values, color) in enumerate(panels, 1):
        suffix = "" if i == 1 else str(i)
        fig.add_bar(x=names, y=values, marker_color=color, xaxis=f"x{suffix}", yaxis=f"y{suffix}", name=title)
        layout[f"xaxis{suffix}"] = {"domain": [(i - 1) / 3 + 0.03, i / 3 - 0.03], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "title": title}
    fig.update_layout(showlegend=False, height=400, title=f"{model_label(cat, focus[0])} {focus[1]} on each device", **layout)
    st.plotly_chart(fig, key="plot_compare")


def measured_tab(device: DeviceProfile, cat: Catalog) -> None:
    runs = measured_runs()
    if not runs:
        st.info("No measurements yet. Runs recorded by the validation command (llama.cpp on a real device) appear "
                "here against their predictions, with the error and the calibration they produce.")
    else:
        devices = sorted({r.device_id for r in runs})
        which = st.selectbox("Device", ["all devices", *devices], key="runs_device")
        rows = []
        for r in runs:
            if which != "all devices" and r.device_id != which:
                continue
            for metric in ("decode", "prefill"):
                meas = r.measured.get(f"{metric}_tokens_per_s")
                pred = r.predicted.get(f"{metric}_tokens_per_s")
                if meas and pred:
                    rows.append({"run": r.id, "device": r.device_id, "model": r.model_id, "quant": r.quant,
                                 "metric": metric, "measured tok/s": meas, "predicted tok/s": pred,
                                 # presentation only: the signed relative error of the stored prediction
                                 "error %": (pred / meas - 1) * 100, "synthetic": r.synthetic, "date": r.created_at})
        table = pd.DataFrame(rows)
        if table.empty:
            st.info("These runs have no paired measured and predicted speeds.")
        else:
            fig = go.Figure()
            for (dev, metric), part in table.groupby(["device", "metric"]):
                fig.add_scatter(x=part["predicted tok/s"], y=part["measured tok/s"], mode="markers", name=f"{dev} {metric}",
                                text=part["model"] + " " + part["quant"].fillna(""),
                                hovertemplate="%{text}<br>predicted %{x:.1f}, measured %{y:.1f}<extra></extra>")
            hi = float(max(table["measured tok/s"].max(), table["predicted tok/s"].max())) * 1.2
            lo = float(min(table["measured tok/s"].min(), table["predicted tok/s"].min())) / 1.2
            fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = predicted",
                            line={"color": "#757575", "dash": "dot"})
            fig.update_layout(title="Measured vs predicted speed", xaxis_title="predicted tok/s", yaxis_title="measured tok/s",
                              xaxis_type="log", yaxis_type="log", height=460)
            st.plotly_chart(fig, key="plot_measured")
            summary = table.groupby(["device", "metric"])["error %"].agg(["count", "median", lambda s: s.abs().median()])
            summary.columns = ["runs", "median error %", "median |error| %"]
            st.dataframe(summary.reset_index(), hide_index=True, key="measured_summary")
            st.dataframe(table, hide_index=True, key="measured_table",
                         column_config={"error %": st.column_config.NumberColumn(format="%+.0f%%")})
    st.markdown("**Calibration in force for this device**")
    factors = factors_for(device, cat, api.calibration_overrides())
    st.caption(f"{factors.path}: {factors.basis} ({factors.n_measurements} measurements). {factors.source}")
    st.dataframe(pd.DataFrame([factors.model_dump()]), hide_index=True, key="calibration_current")
    fitted = calibrations_in_store()
    if any(fitted.values()):
        with st.expander("Calibrations fitted from your runs"):
            for scope, entries in fitted.items():
                for key, (f, stats) in entries.items():
                    st.markdown(f"**{scope} {key}**: {json.dumps(stats, default=str)}")
                    st.json(f, expanded=False)


def report_module() -> Any | None:
    """``advisor.report`` when this installation has it (checked at run time: it is optional)."""
    if importlib.util.find_spec("advisor.report") is None:
        return None
    return importlib.import_module("advisor.report")


def download_tab(rec: Recommendation, grid: Callable[[], list[Estimate]], cat: Catalog) -> None:
    st.markdown("Download the current view in the library's formats (the same schema as `advisor … --format json`).")
    table = candidates_table(rec, grid, cat, *table_filters())
    compared = compared_devices(rec.device, compare_pool(rec.device, cat))
    focus = resolve_focus(cat, rec, st.session_state.get("compare_model", PICK), st.session_state.get("compare_quant", AUTO))
    c1, c2, c3 = st.columns(3)
    # the files are built when clicked (callables), not on every rerun
    c1.download_button("Candidates table (CSV)", lambda: table.to_csv(index=False), "candidates.csv", "text/csv",
                       key="download_csv", help="the rows shown in the Candidates tab, with its filters", on_click="ignore")
    c2.download_button("Recommendation (JSON)", lambda: json.dumps(serialize.recommendation_dict(rec, cat), indent=2),
                       "recommendation.json", "application/json", key="download_json", on_click="ignore")

    def grid_json() -> str:
        return json.dumps({"schema": "edge-model-advisor/grid", "schema_version": serialize.SCHEMA_VERSION,
                           "device": serialize.device_dict(rec.device), "workload": serialize.workload_dict(rec.workload),
                           "estimates": [serialize.estimate_dict(e, cat) for e in grid()]}, indent=2)

    c3.download_button("Every model × quant (JSON)", grid_json, "estimates.json", "application/json",
                       key="download_grid_json", on_click="ignore")
    st.markdown("**Procurement report**")
    report = report_module()
    if report is None:
        st.info("HTML and PDF reports come with the report module (advisor.report), which this installation lacks.")
        return
    report_section(rec, cat, compared, focus)


def report_requirements(rec: Recommendation, cat: Catalog, compared: list[str], focus: tuple[str, str] | None) -> Any:
    """The current view as report requirements: the pick (and the compared model) on this device and the compared ones."""
    from advisor.report.requirements import from_options

    models = list(dict.fromkeys(m for m in (rec.pick.model_id if rec.pick else None, focus[0] if focus else None) if m))
    devices = [d for d in dict.fromkeys([rec.device.id, *compared]) if d in cat.devices]
    if not models or not devices:
        raise AdvisorError("a report needs a recommended model and at least one device from the profiles "
                           "(a RAM-only or uploaded device cannot be named in a report yet)")
    w, c = rec.workload, rec.constraints
    return from_options(
        title=f"{cat.models[models[0]].name} on {cat.devices[devices[0]].name}" + (" and others" if len(devices) > 1 else ""),
        models=models, context_tokens=w.context_tokens, prompt_tokens=w.prompt_tokens, output_tokens=w.output_tokens,
        kv_cache_type=w.kv_cache_type, min_tps=c.min_decode_tps, max_ttft_s=c.max_ttft_s, quality_floor=c.quality_floor,
        devices=devices,
    )


def report_section(rec: Recommendation, cat: Catalog, compared: list[str], focus: tuple[str, str] | None) -> None:
    """Built on request (a PDF takes seconds), kept in the session until the inputs change."""
    from advisor.report import build_report
    from advisor.report.writer import FORMATS, render

    req = report_requirements(rec, cat, compared, focus)
    left_out = "" if rec.device.id in cat.devices else f" ({rec.device.name} is not a catalog profile, so the report cannot name it.)"
    st.caption(f"Covers {', '.join(req.models)} on {', '.join(req.devices)}, with this workload and these constraints "
               f"(the devices are those of the Compare tab).{left_out}")
    c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
    fmt = c1.selectbox("Format", list(FORMATS), key="report_format", format_func=str.upper)
    signature = (req.model_dump_json(), fmt)
    if c2.button("Build the report", key="build_report"):
        with st.spinner(f"Rendering {fmt.upper()}…"):
            st.session_state["report"] = (signature, render(build_report(req, cat), fmt))
    built = st.session_state.get("report")
    if built and built[0] == signature:
        mime = {"html": "text/html", "pdf": "application/pdf", "json": "application/json", "csv": "text/csv",
                "md": "text/markdown"}.get(fmt, "application/octet-stream")
        st.download_button(f"Download report ({fmt.upper()})", built[1], f"report{FORMATS[fmt]}", mime, key="download_report")


# --------------------------------------------------------------------------- page


def calibrated(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a library view with the user's own calibrations (as run_recommend does), so the charts
    and the pick agree on a calibrated device."""
    return fn(*args, overrides=api.calibration_overrides(), **kwargs)


def full_grid(device: DeviceProfile, workload: Workload, cat: Catalog) -> list[Estimate]:
    """Every model × quant on the device, with the same calibration as the pick."""
    return calibrated(evaluate_grid, cat, [device], workload)


TABS = ("Candidates", "Plots", "Compare devices", "Measured vs predicted", "Download")
#: Widgets inside the tabs: only the open tab is drawn, so keep their values while another one is.
TAB_WIDGET_KEYS = ("table_scope", "fit_filter", "table_search", "focus_model", "focus_quant", "compare_devices",
                   "compare_model", "compare_quant", "runs_device", "report_format")


def keep_tab_widget_state() -> None:
    for key in TAB_WIDGET_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def main() -> None:
    st.title("Edge model advisor")
    st.caption("Which small language model, in which llama.cpp quantization, runs how well on your device — "
               "memory, speed, time to first token, energy. Predicted by the engine; measured runs shown where they exist.")
    keep_tab_widget_state()
    try:
        cat = catalog()
        device = device_picker(cat)
        workload = workload_inputs()
        constraints = constraint_inputs()
        if device is None:
            st.info("Choose a device in the sidebar to see a recommendation.")
            return
        device_summary(device)
        rec = api.run_recommend(device, workload, constraints, cat)
        grid = functools.cache(lambda: full_grid(device, workload, cat))  # only the views that need every row pay for it
        pick_card(rec, cat)
        # only the open tab is computed and drawn (a tab switch is a rerun): reruns stay fast
        tabs = dict(zip(TABS, st.tabs(TABS, key="view", on_change="rerun")))
        if tabs["Candidates"].open:
            with tabs["Candidates"]:
                candidates_tab(rec, grid, cat)
        if tabs["Plots"].open:
            with tabs["Plots"]:
                plots_tab(rec, grid, device, workload, cat)
        if tabs["Compare devices"].open:
            with tabs["Compare devices"]:
                compare_tab(rec, device, workload, cat)
        if tabs["Measured vs predicted"].open:
            with tabs["Measured vs predicted"]:
                measured_tab(device, cat)
        if tabs["Download"].open:
            with tabs["Download"]:
                download_tab(rec, grid, cat)
    except AdvisorError as exc:
        st.error(str(exc))


main()

"""edge-model-advisor dashboard: which small LLM, in which runtime and quantization, runs how well
on which device — and, for an app or a browser tab, what to ship on which RAM tier.

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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from advisor import analysis, api, serialize, store
from advisor.catalog import Catalog, load_catalog
from advisor.dashboard import plots
from advisor.dashboard.sidebar import DeploymentInputs, constraint_inputs, deployment_inputs, device_picker, workload_inputs
from advisor.dashboard import rows as rows_view
from advisor.dashboard.words import (ALL_RUNTIMES_CHOICE, FIT_LABELS, binding_limit_lines, factor_rows, pick_runtime_line,
                                     runtime_label, target_line)
from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.evaluate import factors_for
from advisor.engine.recommend import Constraints, Recommendation, evaluate_grid
from advisor.errors import AdvisorError, BadInputError
from advisor.output import csv_cell
from advisor.records import DeviceProfile, Estimate, Workload
from advisor.units import format_seconds, format_size, gib
from advisor.wording import NO_TIER_PICK, alternative_text, explanation, limit_text, load_text, not_hosting_text, one_line, peers_text, reason_text, runtime_suffix, tps

st.set_page_config(page_title="Edge model advisor", page_icon="🧮", layout="wide")

CONTEXT_STEPS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
PROMPT_STEPS = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
COMPARE_DEFAULTS = ("raspberry-pi-5-8gb", "jetson-orin-nano-super-8gb", "mac-mini-m4-16gb", "iphone-16-pro")
PICK, AUTO = rows_view.PICK, rows_view.AUTO


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


# --------------------------------------------------------------------------- shared views


TABLE_COLUMNS = {
    "quant": st.column_config.TextColumn(width="medium"),  # runtime formats have long names (dynamic_int4_block128)
    "runtime": st.column_config.TextColumn(width="medium"),
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


def focus_choice(cat: Catalog, rec: Recommendation, key: str) -> tuple[str, str, rt.Variant | None] | None:
    """Model and quant widgets for the single-model views; defaults follow the pick (its runtime
    too). Returns the model, the format and the variant to evaluate (None: llama.cpp's own path)."""
    pick = rec.pick
    models = [PICK, *sorted(cat.models, key=lambda m: model_label(cat, m).lower())]
    c1, c2 = st.columns(2)
    model = c1.selectbox(
        "Model", models, key=f"{key}_model",
        format_func=lambda m: (f"Best pick ({model_label(cat, pick.model_id)})" if pick else "Best pick (none)")
        if m == PICK else model_label(cat, m),
    )
    auto = rows_view.resolve_focus(cat, rec, model, AUTO)
    options = [AUTO, *rows_view.focus_formats(cat, rec)]
    if f"{key}_quant" in st.session_state and st.session_state[f"{key}_quant"] not in options:
        # a runtime's format no longer considered: back to the recommended one, set (not popped) so
        # the browser is told; popped, it keeps showing the old format and sends it back every rerun
        st.session_state[f"{key}_quant"] = AUTO
    quant = c2.selectbox("Quantization", options, key=f"{key}_quant",
                         format_func=lambda q: f"Recommended ({auto[1] if auto else '—'})" if q == AUTO else q)
    focus = rows_view.resolve_focus(cat, rec, model, quant)
    if focus is None:
        st.info("Nothing is recommended with these constraints; choose a model.")
        return None
    return (*focus, rows_view.focus_variant(cat, rec, model, quant))


def focus_label(cat: Catalog, focus: tuple[str, str, rt.Variant | None], *, backend: bool = True) -> str:
    """``Qwen3 1.7B q4f16_1 with mlc (webgpu)`` (the CLI's ``wording.runtime_words``); without the
    backend where each device uses its own."""
    model, quant, variant = focus
    on = "" if variant is None else f" with {variant.runtime_id}" + (f" ({variant.backend_id})" if backend else "")
    return f"{model_label(cat, model)} {quant}{on}"


# --------------------------------------------------------------------------- sections


def device_summary(device: DeviceProfile) -> None:
    m = device.memory
    gpu = f" · GPU {device.gpu.name} ({device.gpu.backend})" if device.gpu_usable and device.gpu else ""
    st.caption(
        f"**{device.name}** ({device.device_class}) · {format_size(m.usable)} usable of {format_size(m.ram)} RAM "
        f"({m.usable_basis}) · {m.bandwidth_gbs:g} GB/s ({m.bandwidth_basis}) · {device.cpu.name}{gpu}"
    )


def pick_heading(pick: Estimate, cat: Catalog) -> str:
    """``Best pick: Qwen3 1.7B · Q4_K_M`` (llama.cpp), ``… · q4f16_1 on MLC LLM (webgpu)`` (another runtime)."""
    on = "" if pick.runtime == "llama.cpp" else f" on {runtime_label(pick)}"
    return f"Best pick: {model_label(cat, pick.model_id)} · {pick.quant_id}{on}"


def target_notes(rec: Recommendation, cat: Catalog) -> None:
    """Under a target: its budget and basis, and the per-buffer limit that binds (if any rejected)."""
    dep = rec.constraints.deployment
    if dep is not None and dep.target.id != tg.DEFAULT_TARGET:
        st.markdown(target_line(dep))
        if dep.budget.note:
            st.caption(dep.budget.note)
    for line in binding_limit_lines(rec.rejected, cat):
        st.markdown(line)


def ram_peers_line(rec: Recommendation) -> str | None:
    """For a RAM-only device: the catalog device whose speed figures it uses and the pick's decode
    speed on the others it stands for, in the CLI's sentence (``wording.peers_text``)."""
    pick = rec.pick
    if pick is None or not rec.device.stands_for:
        return None
    # each peer on its own default backend unless the user pinned one, under the answer's workload
    # and target (the CLI's --backend, workload and --target)
    speeds = api.peer_speeds(rec.device, pick.model_id, pick.quant_id, runtime_id=pick.runtime,
                             backend_id=rec.constraints.backend, workload=rec.workload,
                             deployment=rec.constraints.deployment)
    return peers_text(speeds, pick.model_id, pick.quant_id) if speeds else None


def pick_card(rec: Recommendation, cat: Catalog) -> None:
    pick = rec.pick
    if pick is None:
        st.warning(explanation(rec, cat))
        target_notes(rec, cat)
        if rec.rejected:
            st.markdown("**Closest misses:**\n" + "\n".join(
                f"- {model_label(cat, r.model_id)} {r.quant_id or ''}{runtime_suffix(r.runtime)}: {reason_text(r.why)}"
                for r in rec.rejected[:6]))
        return
    sp = pick.speed
    assert sp is not None
    st.subheader(pick_heading(pick, cat))
    st.markdown(pick_runtime_line(pick, cat, tg.download_bytes(pick, rt.variant_of(pick, cat), cat)))
    target_notes(rec, cat)
    # units in the labels, so that the values stay short: a card is ~150 px wide on an 800 px screen
    energy = "n/a" if sp.energy_j_per_response is None else f"{sp.energy_j_per_response:,.0f}"
    cards = [
        ("Memory (GiB)", f"{gib(pick.memory.total_bytes):.2f}", f"{format_size(pick.headroom_bytes, precision=1)} headroom",
         f"{format_size(pick.memory.total_bytes)} of {format_size(pick.usable_bytes)} usable; fit: {FIT_LABELS[pick.fit]}"
         + (f". llama.cpp also copies {format_size(pick.memory.repacked_bytes)} of matrices into its CPU kernels' layout at load; "
            "the file's pages of them stay mapped but are reclaimable, so the resident set can read up to "
            f"{format_size(pick.memory.total_bytes + pick.memory.repacked_bytes)}" if pick.memory.repacked_bytes else "")),
        ("Decode (tok/s)", tps(sp.decode_tokens_per_s), f"likely {tps(sp.decode_band.low)}–{tps(sp.decode_band.high)}"
         + ("" if sp.sustained_decode_tokens_per_s is None else f" · sustained {tps(sp.sustained_decode_tokens_per_s)}"),
         sp.basis + ("" if sp.sustained_decode_tokens_per_s is None else f". Sustained: {sp.sustained_basis}")),
        ("Prefill (tok/s)", tps(sp.prefill_tokens_per_s), f"{sp.prefill_bound} bound", sp.prefill_basis or None),
        ("Time to first token", format_seconds(sp.ttft_s), f"{rec.workload.prompt_tokens:,}-token prompt", None),
        ("Quality (of 100)", f"{pick.quality_score:.0f}", f"license {cat.models[pick.model_id].license}",
         f"license class: {cat.models[pick.model_id].license_class}"),
        ("Energy (J)", energy, f"per {format_seconds(sp.response_s)} response", f"one full response: device power × time; power {sp.energy_basis}"),
    ]
    for row in (cards[:3], cards[3:]):
        for col, (label, value, note, help_text) in zip(st.columns(3), row):
            col.metric(label, value, note, delta_color="off", delta_arrow="off", help=help_text, border=True)
    if pick.load is not None:
        st.caption(load_text(pick.load))
    st.info(explanation(rec, cat))
    peers = ram_peers_line(rec)
    if peers:
        st.caption(peers)
    if rec.alternatives:
        st.markdown("\n".join(
            f"- **Alternative** ({alternative_text(a)}): {model_label(cat, a.estimate.model_id)} {a.estimate.quant_id}"
            f"{'' if a.estimate.runtime == 'llama.cpp' else ' on ' + runtime_label(a.estimate)} — "
            f"{tps(a.estimate.speed.decode_tokens_per_s) if a.estimate.speed else '?'} tok/s, "
            f"{format_size(a.estimate.memory.total_bytes)}, quality {a.estimate.quality_score:.0f}"
            for a in rec.alternatives
        ))


TABLE_SCOPES = ("Recommended quant per model", "Every model × quant")
#: The rejections table: ``serialize.rejection_dict``'s keys but its "figures" (the reason as data),
#: the model's name first and its id last, as in the candidates table.
REJECTED_COLUMNS = ["model name", "quant", "runtime", "reason", "detail", "model"]


def candidates_table(rec: Recommendation, grid: Callable[[], list[Estimate]], cat: Catalog,
                     scope: str, fits: list[str], query: str) -> pd.DataFrame:
    """The candidates as shown: ranked rows or the whole grid, filtered (presentation only)."""
    if scope == TABLE_SCOPES[0]:
        table = rows_view.estimate_rows(list(rec.ranked), cat)
        if not table.empty:
            table.insert(0, "rank", range(1, len(table) + 1))
    else:
        table = rows_view.estimate_rows(grid(), cat)
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
            st.dataframe(rejected_rows(rec, cat), hide_index=True, key="rejected_table")


def rejected_rows(rec: Recommendation, cat: Catalog) -> pd.DataFrame:
    """The rejections as the JSON has them (``serialize.rejection_dict``), less the raw figures
    the worded detail already says, with the model's name; a model rejected as a whole has no quant."""
    rows = [{**serialize.rejection_dict(r), "model name": model_label(cat, r.model_id)} for r in rec.rejected]
    return pd.DataFrame(rows, columns=REJECTED_COLUMNS).fillna({"quant": "", "runtime": ""})


def quality_speed_plot(grid: list[Estimate], pick: Estimate | None, cat: Catalog) -> plots.go.Figure:
    grid = [e for e in grid if analysis.runs_under_limits(e)]  # a buffer over the target's limit cannot run, whatever fits
    table = rows_view.estimate_rows([e for e in grid if e.fit != "no"], cat)
    front = rows_view.estimate_rows(analysis.pareto_front(grid), cat)
    label = f"{model_label(cat, pick.model_id)} {pick.quant_id}" if pick else ""
    return plots.quality_speed_figure(table, front, pick, label)


def memory_plot(rec: Recommendation, cat: Catalog) -> plots.go.Figure | None:
    top = list(rec.ranked[:12])
    if not top:
        return None
    names = [f"{model_label(cat, e.model_id)} {e.quant_id}" for e in top][::-1]
    parts = {label: [gib(getattr(e.memory, attr)) for e in top][::-1] for label, attr in (
        ("weights", "weights_bytes"), ("KV cache", "kv_cache_bytes"), ("recurrent state", "recurrent_state_bytes"),
        ("buffers", "compute_buffer_bytes"), ("overhead", "overhead_bytes"), ("packed copy", "load_copy_bytes"))}
    # the load's moment above the run's buffers (a runtime packing its largest matrix): the bar then reaches the total
    parts["load peak"] = [gib(e.memory.load_peak_bytes) for e in top][::-1]
    parts = {label: values for label, values in parts.items() if label in ("weights", "KV cache", "buffers", "overhead") or any(values)}
    return plots.memory_figure(names, parts, gib(top[0].usable_bytes))


def context_plot(focus: tuple[str, str, rt.Variant | None], device: DeviceProfile, workload: Workload,
                 cat: Catalog) -> plots.go.Figure:
    model, quant, variant = focus
    limit = cat.models[model].context_length
    steps = [c for c in CONTEXT_STEPS if c <= limit] or [limit]
    sweep = calibrated(analysis.sweep_context, model, quant, device, steps, workload, cat, variant=variant)
    return plots.context_figure(focus_label(cat, focus), sweep)


def prompt_plot(focus: tuple[str, str, rt.Variant | None], device: DeviceProfile, workload: Workload,
                cat: Catalog) -> plots.go.Figure:
    model, quant, variant = focus
    limit = cat.models[model].context_length - workload.output_tokens
    steps = [p for p in PROMPT_STEPS if p <= limit] or [max(1, limit)]
    sweep = [(p, e) for p, e in calibrated(analysis.sweep_prompt, model, quant, device, steps, workload, cat, variant=variant)
             if e.speed]
    return plots.prompt_figure(focus_label(cat, focus), sweep)


def plots_tab(rec: Recommendation, grid: Callable[[], list[Estimate]], device: DeviceProfile, workload: Workload, cat: Catalog) -> None:
    # one above the other, each the page's width: in half of an 800 px page the memory chart's
    # model names (its y-axis) took all plotly would give them and were cut off
    st.plotly_chart(quality_speed_plot(grid(), rec.pick, cat), key="plot_quality_speed")
    fig = memory_plot(rec, cat)
    if fig is None:
        st.info("No candidate to break down.")
    else:
        st.plotly_chart(fig, key="plot_memory")
    st.markdown("**One model in detail**")
    focus = focus_choice(cat, rec, "focus")
    if focus is None:
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(context_plot(focus, device, workload, cat), key="plot_context")
    c2.plotly_chart(prompt_plot(focus, device, workload, cat), key="plot_prompt")


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
    dep = rec.constraints.deployment
    if dep is not None and dep.target.id != tg.DEFAULT_TARGET:
        st.caption(f"Each device with its own usable memory, not the {dep.target.name} budget: "
                   "see “What to ship per RAM tier” for the target on many devices.")
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
    model, quant, variant = focus
    rows = calibrated(analysis.compare_devices, model, quant, [pool[i] for i in chosen], workload, cat, variant=variant)
    missing = [pool[i].name for i in chosen if pool[i].id not in {r.device.id for r in rows}]
    if missing:
        st.info(f"{variant.runtime_id if variant else 'This runtime'} does not run {quant} on {', '.join(missing)}: "
                "left out of the comparison.")
    table = rows_view.compare_rows(rows)
    st.dataframe(table, hide_index=True, key="compare_table", column_config={
        **TABLE_COLUMNS, "usable GiB": st.column_config.NumberColumn(format="%.2f"),
        "Wh per 1000 responses": st.column_config.NumberColumn(format="%.1f"),
        "price USD": st.column_config.NumberColumn(format="$%.0f"),
        "tok/s per $": st.column_config.NumberColumn(format="%.4f"),
        "tok/s per W": st.column_config.NumberColumn(format="%.2f"),
    })
    if table.empty:
        return
    fig = plots.compare_figure(focus_label(cat, focus, backend=False), table)
    st.plotly_chart(fig, key="plot_compare")


#: The measured tab's tables: speeds as the CLI prints them, errors in whole per cent (a summary's
#: median read -56.6464).
MEASURED_COLUMNS = {
    "measured tok/s": st.column_config.NumberColumn(format="%.1f"),
    "predicted tok/s": st.column_config.NumberColumn(format="%.1f"),
    "error %": st.column_config.NumberColumn(format="%+.0f%%"),
    "median error %": st.column_config.NumberColumn(format="%+.0f%%"),
    "median |error| %": st.column_config.NumberColumn(format="%.0f%%"),
}


def measured_tab(device: DeviceProfile, cat: Catalog) -> None:
    runs = measured_runs()
    if not runs:
        st.info("No measurements yet. Runs recorded by the validation command (llama.cpp on a real device) appear "
                "here against their predictions, with the error and the calibration they produce.")
    else:
        names = {r.device_id: rows_view.device_name(cat, r.device_id) for r in runs}
        devices = sorted(names, key=lambda d: names[d].lower())
        which = st.selectbox("Runs measured on", ["all devices", *devices], key="runs_device",
                             format_func=lambda d: names.get(d, d))
        table = rows_view.measured_rows(runs if which == "all devices" else [r for r in runs if r.device_id == which], cat)
        if table.empty:
            st.info("These runs have no paired measured and predicted speeds.")
        else:
            fig = plots.measured_figure(table)
            st.plotly_chart(fig, key="plot_measured")
            summary = table.groupby(["device", "metric"])["error %"].agg(["count", "median", lambda s: s.abs().median()])
            summary.columns = ["runs", "median error %", "median |error| %"]
            st.dataframe(summary.reset_index(), hide_index=True, key="measured_summary", column_config=MEASURED_COLUMNS)
            st.dataframe(table, hide_index=True, key="measured_table", column_config=MEASURED_COLUMNS)
    # named: "this device" read as the device chosen just above, whose runs are shown, not the sidebar's
    st.markdown(f"**Calibration in force for {device.name}**")
    factors = factors_for(device, cat, api.calibration_overrides())
    st.caption(f"{factors.path}: {factors.basis} ({factors.n_measurements} measurements). {factors.source}")
    st.dataframe(pd.DataFrame(factor_rows(factors.model_dump())), hide_index=True, key="calibration_current")
    fitted = calibrations_in_store()
    if any(fitted.values()):
        with st.expander("Calibrations fitted from your runs"):
            for scope, entries in fitted.items():
                for key, (f, stats) in entries.items():
                    st.markdown(f"**{scope} {key}**: {calibration_line(stats)}")
                    st.dataframe(pd.DataFrame(factor_rows(f)), hide_index=True, key=f"calibration_{scope}_{key}")


def calibration_line(stats: dict[str, Any]) -> str:
    """A stored calibration's record as a sentence: what it was fitted on, and ``advisor
    calibrate``'s decision (applied or not, its held-out error against the shipped factors')."""
    return (f"fitted on {stats.get('n_observations', '?')} measurements from {stats.get('n_devices', '?')} device(s); "
            f"{stats.get('decision', '')}")


def report_module() -> Any | None:
    """``advisor.report`` when this installation has it (checked at run time: it is optional)."""
    if importlib.util.find_spec("advisor.report") is None:
        return None
    return importlib.import_module("advisor.report")


def download_tab(rec: Recommendation, grid: Callable[[], list[Estimate]], cat: Catalog) -> None:
    st.markdown("Download the current view in the library's formats (the same schema as `advisor … --format json`).")
    table = candidates_table(rec, grid, cat, *table_filters())
    compared = compared_devices(rec.device, compare_pool(rec.device, cat))
    focus = rows_view.resolve_focus(cat, rec, st.session_state.get("compare_model", PICK), st.session_state.get("compare_quant", AUTO))
    c1, c2, c3 = st.columns(3)
    # the files are built when clicked (callables), not on every rerun
    # output.csv_cell, as every CSV the tool writes (a model name may come from a user's GGUF)
    c1.download_button("Candidates table (CSV)", lambda: table.map(csv_cell).to_csv(index=False), "candidates.csv", "text/csv",
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


def report_section(rec: Recommendation, cat: Catalog, compared: list[str], focus: tuple[str, str] | None) -> None:
    """Built on request (a PDF takes seconds), kept in the session until the inputs change."""
    from advisor.report import build_report
    from advisor.report.writer import FORMATS, render

    req = rows_view.report_requirements(rec, cat, compared, focus)
    left_out = "" if cat.has_device(rec.device.id) else f" ({rec.device.name} is not a catalog profile, so the report cannot name it.)"
    st.caption(f"Covers {', '.join(model_label(cat, m) for m in req.models)} on {', '.join(cat.device(d).name for d in req.devices)}, "
               "with this workload, these constraints, "
               f"runtimes and target (the devices are those of the Compare tab).{left_out}")
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


# --------------------------------------------------------------------------- runtimes compared


RUNTIME_COLUMNS = {
    "memory GiB": st.column_config.NumberColumn(format="%.2f"),
    "decode tok/s": st.column_config.NumberColumn(format="%.1f"),
    "prefill tok/s": st.column_config.NumberColumn(format="%.0f"),
    "download GiB": None,  # the size column says it in words; these two feed the chart
    "decode low": None,
    "decode high": None,
    "quality": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f", width="small"),
}


def runtimes_page(rec: Recommendation, device: DeviceProfile, workload: Workload, cat: Catalog) -> None:
    """One model on the chosen device in every runtime the device (under the target) can run."""
    dep = rec.constraints.deployment
    where = f" under the {dep.target.name} target" if dep is not None and dep.target.id != tg.DEFAULT_TARGET else ""
    st.subheader(f"Runtimes compared on {device.name}{where}")
    st.markdown("Each runtime on its default backend here, in the best of its formats that fits "
                "(the budget, the target's per-buffer limits and the largest download); decode and prefill with their "
                "likely range, and whether the speed factors were fitted to published measurements of that runtime "
                "or are llama.cpp's as a prior.")
    pick = rec.pick
    models = [PICK, *sorted(cat.models, key=lambda m: model_label(cat, m).lower())]
    model = st.selectbox("Model", models, key="runtimes_model", format_func=lambda m: (
        f"Best pick ({model_label(cat, pick.model_id)})" if pick else "Best pick (none)") if m == PICK else model_label(cat, m))
    if model == PICK:
        if pick is None:
            st.info("Nothing is recommended with these constraints; choose a model.")
            return
        model = pick.model_id
    rows = calibrated(analysis.compare_runtimes, model, device, workload, cat, deployment=dep,
                      max_download_bytes=rec.constraints.max_download_bytes,
                      target_decode_tps=rec.constraints.target_decode_tps)
    if not rows:
        st.warning(f"No runtime of the catalog runs on {device.name}{where}.")
        return
    table = rows_view.runtime_rows(rows, cat)
    st.dataframe(table, hide_index=True, key="runtimes_table", column_config=RUNTIME_COLUMNS)
    unable = analysis.runtimes_not_loading(model, cat, dep)
    st.caption(f"{model_label(cat, model)}, {workload.context_tokens:,} tokens of context, {workload.prompt_tokens:,}-token "
               "prompt. Download = model file + the runtime's library where published. Basis “prior”: no factor fitted to this "
               "runtime's own published measurements; llama.cpp's for the same hardware stand in."
               + (f" Not shown: {', '.join(unable)}, which cannot load its {cat.models[model].gguf_arch} architecture." if unable else ""))
    fig = plots.runtimes_figure(f"{model_label(cat, model)} on {device.name}", table)
    st.plotly_chart(fig, key="plot_runtimes")


# --------------------------------------------------------------------------- what to ship per RAM tier


def tiers_page(choice: DeploymentInputs, device: DeviceProfile | None, workload: Workload, constraints: Constraints,
               cat: Catalog) -> None:
    """``api.run_tiers`` over a device class under the selected target (as ``advisor tiers --class``: the
    devices of the class that cannot host the target are no candidates, named above the table)."""
    target = cat.target(choice.target_id)
    if choice.runtime != ALL_RUNTIMES_CHOICE and choice.runtime not in target.runtimes:
        raise BadInputError(f"{choice.runtime} does not run in the {target.name} target; its runtimes: "
                            f"{', '.join(target.runtimes)}, or all with measurements")
    st.subheader(f"What to ship per RAM tier: {target.name}")
    st.markdown("Devices of one class grouped by RAM; for each tier the one runtime × model × format that runs on *every* "
                "device of the tier under the target's memory budget and limits and meets the constraints, ranked on "
                "the slowest device. A device on which nothing common passes is left out with the reason; one that "
                "cannot host the target is no candidate (as in `advisor tiers` and the report).")
    classes = sorted({d.device_class for d in cat.devices.values()})
    # first shown: the device's class, else phones, else any class with a device that can host the target
    hosting = [c for c in classes if any(d.device_class == c and target.hosts(d) for d in cat.devices.values())]
    default = next((c for c in (device.device_class if device is not None else None, "phone", *hosting) if c in hosting),
                   classes[0])
    cls = st.selectbox("Device class", classes, index=classes.index(default), key="tiers_class")
    others = api.not_hosting(target.id, cls, cat)
    if others:
        st.caption(not_hosting_text(others, f"of class {cls}", f"the {target.name} target", by_name=True))
    with st.spinner(f"Evaluating every model on the {cls} profiles…"):
        picks = api.run_tiers(target.id, workload, device_class=cls, constraints=constraints,
                              entitlement=choice.entitlement, browser_id=choice.browser_id, catalog=cat)
    st.dataframe(rows_view.tier_rows(picks, cat), hide_index=True, key="tiers_table", column_config={
        "slowest decode tok/s": st.column_config.NumberColumn(format="%.1f")})
    for p in picks:
        head = f"{p.tier_gib} GB tier: " + (f"{model_label(cat, p.model_id)} · {p.format_id}" if p.model_id else NO_TIER_PICK)
        st.markdown(f"**{head}** — runs on {len(p.devices)}, left out {len(p.left_out)}"
                    + (f"; exceeds {', '.join(limit_text(lim) for lim in p.store_limits_exceeded)}" if p.store_limits_exceeded else ""))
        st.dataframe(rows_view.tier_device_rows(p), hide_index=True, key=f"tier_{p.tier_gib}", column_config={
            "RAM GiB": st.column_config.NumberColumn(format="%.1f"), "budget GiB": st.column_config.NumberColumn(format="%.2f"),
            "memory GiB": st.column_config.NumberColumn(format="%.2f"),
            "decode tok/s": st.column_config.NumberColumn(format="%.1f")})


# --------------------------------------------------------------------------- page


def calibrated(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a library view with the user's own calibrations (as run_recommend does), so the charts
    and the pick agree on a calibrated device."""
    return fn(*args, overrides=api.calibration_overrides(), **kwargs)


def full_grid(rec: Recommendation, cat: Catalog) -> list[Estimate]:
    """Every model × quant on the device (under the target's budget), with the same calibration as
    the pick: every GGUF type for llama.cpp alone, else every runtime × format the pick was chosen from."""
    if rec.constraints.runtimes in (None, frozenset({"llama.cpp"})):
        return calibrated(evaluate_grid, cat, [rec.device], rec.workload)
    return calibrated(analysis.variant_grid, rec.device, rec.workload, rec.constraints, cat)


PAGES = ("Recommendation", "Runtimes compared", "What to ship per RAM tier")
TABS = ("Candidates", "Plots", "Compare devices", "Measured vs predicted", "Download")
#: Widgets not drawn on every run keep their values while hidden: those inside the tabs (only the
#: open tab is drawn) and the sidebar's conditional ones (the RAM-only inputs while a profile is
#: chosen, the entitlement and the browser under another target): Streamlit drops a widget's
#: value on a run that does not draw it, and the user's 6GB came back as the default 8GB.
HIDDEN_WIDGET_KEYS = ("table_scope", "fit_filter", "table_search", "focus_model", "focus_quant", "compare_devices",
                      "compare_model", "compare_quant", "runs_device", "report_format", "runtimes_model", "tiers_class",
                      "ram", "usable", "ram_class", "entitlement", "browser")


def keep_hidden_widget_state() -> None:
    for key in HIDDEN_WIDGET_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def with_deployment(constraints: Constraints, choice: DeploymentInputs, device: DeviceProfile, cat: Catalog) -> Constraints:
    """The constraints under the chosen runtime and target on this device; a target the device
    cannot host, or a runtime it cannot run there, is a BadInputError naming the valid choices."""
    dep = api.make_deployment(device, choice.target_id, entitlement=choice.entitlement, browser_id=choice.browser_id,
                              catalog=cat)
    if choice.runtime != ALL_RUNTIMES_CHOICE:
        rt.resolve_variant(cat, dep.device, choice.runtime, deployment=dep)
    # the default target is the plain behaviour (the profile's own memory, no per-buffer limits): the
    # engine answers the same without it and skips the limit checks (~10× faster per rerun)
    plain = dep.target.id == tg.DEFAULT_TARGET and dep.device is device
    return replace(constraints, runtimes=choice.runtimes, deployment=None if plain else dep,
                   max_download_bytes=choice.max_download_bytes)


def main() -> None:
    st.title("Edge model advisor")
    st.caption("Which small language model, in which runtime and quantization, runs how well on your device — "
               "memory, speed, time to first token, energy, download — and what to ship in an app or a browser tab. "
               "Predicted by the engine; measured runs shown where they exist.")
    page = st.radio("View", PAGES, key="page", horizontal=True, label_visibility="collapsed")
    keep_hidden_widget_state()
    notices = st.container()  # the store's warnings (an unreadable store, a damaged row), filled last
    store.start_reporting()
    try:
        cat = catalog()
        device = device_picker(cat)
        workload = workload_inputs()
        constraints = constraint_inputs()
        choice = deployment_inputs(cat)
        if page == PAGES[2]:
            tiers_page(choice, device, workload, replace(constraints, runtimes=choice.runtimes,
                                                          max_download_bytes=choice.max_download_bytes), cat)
            return
        if device is None:
            st.info("Choose a device in the sidebar to see a recommendation.")
            return
        constraints = with_deployment(constraints, choice, device, cat)
        # the header tells the memory the engine evaluates on: under a target, the profile with the
        # target's budget (as the CLI's headline does, from deployment.device)
        device_summary(device if constraints.deployment is None else constraints.deployment.device)
        rec = api.run_recommend(device, workload, constraints, cat)
        if page == PAGES[1]:
            runtimes_page(rec, device, workload, cat)
            return
        grid = functools.cache(lambda: full_grid(rec, cat))  # only the views that need every row pay for it
        pick_card(rec, cat)
        # only the open tab is computed and drawn (a tab switch is a rerun): reruns stay fast
        tabs = dict(zip(TABS, st.tabs(TABS, key="view", on_change="rerun")))
        if tabs["Candidates"].open:
            with tabs["Candidates"]:
                candidates_tab(rec, grid, cat)
        if tabs["Plots"].open:
            with tabs["Plots"]:
                plots_tab(rec, grid, rec.device, workload, cat)
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
        st.error(one_line(str(exc)))
    finally:
        store_warnings(notices)


def store_warnings(where: Any, shown: int = 3) -> None:
    """The store's warnings of this rerun (``store.start_reporting``), on the page: with the store
    unreadable the predictions go on without the user's calibrations, which only the server's log said."""
    said = list(dict.fromkeys(store.said()))
    for message in said[:shown]:
        where.warning(one_line(message))
    if len(said) > shown:
        where.caption(f"… and {len(said) - shown} more warnings in the server's log")


main()

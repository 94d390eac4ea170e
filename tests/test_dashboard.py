"""The dashboard driven through Streamlit's AppTest: widgets by key, answers checked against the
library (the dashboard must show what advisor.api computes, and change when the inputs do)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
pytestmark = pytest.mark.extra

from streamlit.testing.v1 import AppTest

from advisor import api, store
from advisor.catalog import data_root, load_catalog
from advisor.dashboard.words import INPUT_NAMES
from advisor.engine.recommend import ALL_RUNTIMES, Constraints
from advisor.engine.runtimes import resolve_variant
from advisor.errors import AdvisorError
from advisor.records import Workload
from advisor.units import format_size, parse_size
from advisor.wording import explanation, reason_text

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard.py")


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_tab(at: AppTest, name: str) -> AppTest:
    """Only the open tab is drawn; a click on a tab is a rerun with its label in state 'view'."""
    at.session_state["view"] = name
    at.run()
    assert_clean(at)
    return at


def heading(at: AppTest) -> str:
    return at.subheader[0].value if at.subheader else ""


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


#: AppTest does not expose the keys of display elements: tables are told apart by their columns.
TABLE_COLUMNS = {
    "candidates_table": {"model", "quant", "fit", "memory GiB", "decode tok/s"},
    "compare_table": {"device", "tok/s per $"},
    "measured_table": {"run", "metric", "error %"},
    "rejected_table": {"model", "quant", "reason", "detail"},
    "calibration_current": {"factor", "value"},
}


def table(at: AppTest, key: str = "candidates_table"):
    found = [d.value for d in at.dataframe if TABLE_COLUMNS[key] <= set(d.value.columns)]
    assert len(found) == 1, f"{len(found)} tables look like {key}"
    return found[0]


def library_pick(device, workload: Workload | None = None, constraints: Constraints | None = None):
    from advisor.catalog import load_catalog

    cat = load_catalog()
    rec = api.run_recommend(device, workload or Workload(), constraints or Constraints(runtimes=ALL_RUNTIMES), cat)
    return rec, (expected_heading(rec) if rec.pick else None)


def catalog_device(device_id: str):
    from advisor.catalog import load_catalog

    return load_catalog().device(device_id)


@pytest.fixture(autouse=True)
def _fresh_caches():
    import streamlit as st

    st.cache_data.clear()
    yield


# --------------------------------------------------------------------------- first render


def test_first_render_shows_the_library_pick_for_the_default_device():
    at = start()
    rec, expected = library_pick(catalog_device("raspberry-pi-5-8gb"))
    assert heading(at) == expected
    assert explanation(rec, load_catalog()) in [i.value for i in at.info]
    rows = table(at)
    assert len(rows) == len(rec.ranked)
    assert (rows.iloc[0]["model"], rows.iloc[0]["quant"]) == (rec.pick.model_id, rec.pick.quant_id)
    assert not at.error
    assert [t.label for t in at.tabs] == ["Candidates", "Plots", "Compare devices", "Measured vs predicted", "Download"]


@pytest.mark.parametrize("tab", ["Plots", "Compare devices", "Measured vs predicted", "Download"])
def test_every_tab_renders_without_error(tab):
    at = open_tab(start(), tab)
    assert not at.error, [e.value for e in at.error]
    assert heading(at).startswith("Best pick:")
    charts = {"Plots": 4, "Compare devices": 1, "Measured vs predicted": 0, "Download": 0}[tab]
    assert len(at.get("plotly_chart")) == charts


def test_table_filters_survive_a_visit_to_another_tab():
    at = start()
    at.radio(key="table_scope").set_value("Every model × quant").run()
    at.text_input(key="table_search").set_value("qwen3").run()
    n = len(table(at))
    open_tab(at, "Plots")
    open_tab(at, "Candidates")
    assert at.radio(key="table_scope").value == "Every model × quant"
    assert at.text_input(key="table_search").value == "qwen3"
    assert len(table(at)) == n


@pytest.mark.parametrize("device_id", ["iphone-16-pro", "raspberry-pi-4-2gb", "desktop-rtx4090-24gb", "galaxy-a15-5g-4gb"])
def test_choosing_a_device_profile_changes_pick_and_table(device_id):
    at = start()
    default_rows = table(at)
    at.selectbox(key="device_id").set_value(device_id).run()
    assert_clean(at)
    rec, expected = library_pick(catalog_device(device_id))
    assert heading(at) == expected
    rows = table(at)
    assert len(rows) == len(rec.ranked)
    assert list(rows["model"]) == [e.model_id for e in rec.ranked]
    assert not rows.equals(default_rows)


def test_a_power_mode_is_the_library_answer_for_that_mode():
    """Jetson AGX Orin 64GB: the mode selector appears, and 15W answers as `--device ...@15W` does."""
    at = start()
    assert "power_mode" not in [w.key for w in at.selectbox]  # the default device (a Pi 5) has no modes
    at.selectbox(key="device_id").set_value("jetson-agx-orin-64gb").run()
    assert at.selectbox(key="power_mode").options == ["MAXN", "50W", "30W", "15W"]
    maxn_heading = heading(at)
    at.selectbox(key="power_mode").set_value("15W").run()
    assert_clean(at)
    rec, expected = library_pick(catalog_device("jetson-agx-orin-64gb@15W"))
    assert heading(at) == expected
    assert list(table(at)["model"]) == [e.model_id for e in rec.ranked]
    assert rec.device.memory.bandwidth_gbs == 136.5 and maxn_heading == library_pick(catalog_device("jetson-agx-orin-64gb"))[1]


def test_a_published_sustained_figure_shows_on_the_decode_card():
    at = start()
    at.selectbox(key="device_id").set_value("iphone-16-pro").run()
    assert_clean(at)
    rec, _ = library_pick(catalog_device("iphone-16-pro"))
    card = next(m for m in at.metric if m.label == "Decode (tok/s)")
    from advisor.wording import tps
    assert f"sustained {tps(rec.pick.speed.sustained_decode_tokens_per_s)}" in card.delta
    at.selectbox(key="device_id").set_value("raspberry-pi-5-8gb").run()
    assert "sustained" not in next(m for m in at.metric if m.label == "Decode (tok/s)").delta


def test_the_cards_say_what_the_prefill_rate_and_the_repacked_copy_are():
    """The prefill card's help gives the engine's prefill basis (peak × efficiency …), and the memory
    card's the repacked copy llama.cpp makes on the Pi 5's CPU, as `advisor predict` does."""
    at = start()
    assert_clean(at)
    rec, _ = library_pick(catalog_device("raspberry-pi-5-8gb"))
    prefill = next(m for m in at.metric if m.label == "Prefill (tok/s)")
    assert prefill.proto.help == rec.pick.speed.prefill_basis and "GFLOP/s" in prefill.proto.help
    memory = next(m for m in at.metric if m.label == "Memory (GiB)")
    assert rec.pick.memory.repacked_bytes > 0 and "copies" in memory.proto.help  # Q5_K and Q6_K: repacked on Arm dotprod


def test_search_and_class_filter_narrow_the_profiles():
    at = start()
    at.multiselect(key="device_classes").set_value(["phone"]).run()
    at.text_input(key="device_search").set_value("pixel").run()
    assert_clean(at)
    options = at.selectbox(key="device_id").options
    assert options and all("Pixel" in o and "phone" in o for o in options)
    assert heading(at).startswith("Best pick:")


# --------------------------------------------------------------------------- RAM only


@pytest.mark.parametrize("ram", ["2GB", "4GB", "16GB"])
def test_ram_only_device_follows_the_library(ram):
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value(ram).run()
    assert_clean(at)
    device = api.resolve_device(api.DeviceChoice(ram=ram))
    rec, expected = library_pick(device)
    assert heading(at) == expected
    assert len(table(at)) == len(rec.ranked)
    assert "Generic device with" in " ".join(c.value for c in at.caption)


def test_more_ram_never_shows_fewer_candidates():
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    counts = []
    for ram in ("1GB", "4GB", "16GB"):
        at.text_input(key="ram").set_value(ram).run()
        assert_clean(at)
        counts.append(len(table(at)))
    assert counts == sorted(counts) and counts[0] < counts[-1]


# --------------------------------------------------------------------------- workload


def test_longer_context_needs_more_memory_and_drops_short_context_models():
    at = start()
    before = table(at)
    at.number_input(key="context").set_value(32768).run()
    assert_clean(at)
    rec, expected = library_pick(catalog_device("raspberry-pi-5-8gb"), Workload(context_tokens=32768))
    assert heading(at) == expected
    after = table(at)
    assert list(after["model"]) == [e.model_id for e in rec.ranked]
    assert len(after) < len(before)  # models with a native context under 32k are rejected
    # the same model × quant needs more memory with the longer context
    common = before.merge(after, on=["model", "quant"], suffixes=("_4k", "_32k"))
    assert not common.empty and (common["memory GiB_32k"] > common["memory GiB_4k"]).all()


def test_llama_cpp_settings_follow_the_library():
    """The CLI's --threads, --flash-attn and --no-repack, in the sidebar: the table is the library's
    answer for that workload, and turning repacking off slows the Pi 5's Q4_0 prompt processing."""
    at = start()
    before = table(at)
    at.checkbox(key="cpu_repack").uncheck().run()
    at.number_input(key="threads").set_value(2).run()
    at.selectbox(key="flash_attn").set_value("off").run()
    assert_clean(at)
    workload = Workload(threads=2, flash_attn="off", cpu_repack=False)
    rec, expected = library_pick(catalog_device("raspberry-pi-5-8gb"), workload)
    assert heading(at) == expected
    after = table(at)
    assert list(after["model"]) == [e.model_id for e in rec.ranked]
    by_key = {(e.model_id, e.quant_id): e for e in rec.ranked}
    for _, row in after.iterrows():
        speed = by_key[(row["model"], row["quant"])].speed
        assert row["prefill tok/s"] == pytest.approx(speed.prefill_tokens_per_s, rel=1e-3)  # the table rounds
    common = before.merge(after, on=["model", "quant"], suffixes=("_default", "_set"))
    # flash attention off: the attention scores take compute-buffer memory
    assert (common["memory GiB_set"] >= common["memory GiB_default"]).all()
    assert (common["memory GiB_set"] > common["memory GiB_default"]).any()
    # repacking off: every Q4_0 file on the Pi 5's dotprod cores prefills slower
    at.radio(key="table_scope").set_value("Every model × quant").run()
    at.selectbox(key="runtime").set_value("llama.cpp").run()
    grid_off = table(at)
    at.checkbox(key="cpu_repack").check().run()
    grid_on = table(at)
    both = grid_on.merge(grid_off, on=["model", "quant"], suffixes=("_on", "_off"))
    q4_0 = both[(both["quant"] == "Q4_0") & both["prefill tok/s_on"].notna()]
    assert not q4_0.empty and (q4_0["prefill tok/s_off"] < q4_0["prefill tok/s_on"]).all()


# --------------------------------------------------------------------------- constraints


def test_impossible_speed_shows_the_nothing_fits_explanation():
    at = start()
    at.number_input(key="min_tps").set_value(5000.0).run()
    assert_clean(at)
    rec, _ = library_pick(catalog_device("raspberry-pi-5-8gb"), constraints=Constraints(min_decode_tps=5000.0))
    assert rec.pick is None
    assert explanation(rec, load_catalog()) in [w.value for w in at.warning]
    assert not at.subheader or not heading(at).startswith("Best pick")


def test_closest_misses_and_the_report_name_models_and_devices_not_ids():
    """The dashboard's prose names a model or a device as every other line of it does, not by its catalog id."""
    at = start()
    at.number_input(key="min_tps").set_value(5000.0).run()
    assert_clean(at)
    cat = load_catalog()
    rec, _ = library_pick(catalog_device("raspberry-pi-5-8gb"),
                          constraints=Constraints(min_decode_tps=5000.0, target_decode_tps=5.0, runtimes=ALL_RUNTIMES))
    misses = next(m.value for m in at.markdown if m.value.startswith("**Closest misses:**")).splitlines()[1:]
    # a file of a runtime other than llama.cpp says whose it is, as the CLI's closest misses do
    assert misses == [f"- {cat.models[r.model_id].name} {r.quant_id or ''}"
                      + (f" ({r.runtime})" if r.runtime not in (None, "llama.cpp") else "")
                      + f": {reason_text(r.why)}" for r in rec.rejected[:6]]
    at.number_input(key="min_tps").set_value(0.0).run()
    open_tab(at, "Download")
    covers = next(c.value for c in at.caption if c.value.startswith("Covers "))
    pick = api.run_recommend(catalog_device("raspberry-pi-5-8gb"), Workload(), Constraints(runtimes=ALL_RUNTIMES), cat).pick
    assert covers.startswith(f"Covers {cat.models[pick.model_id].name} on Raspberry Pi 5 (8 GB), ")
    assert "raspberry-pi-5-8gb" not in covers


def test_license_filter_keeps_only_that_class():
    at = start()
    at.multiselect(key="licenses").set_value(["restricted"]).run()
    assert_clean(at)
    rows = table(at)
    assert len(rows) and set(rows["license class"]) == {"restricted"}


# --------------------------------------------------------------------------- errors


def library_message(fn) -> str:
    with pytest.raises(AdvisorError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize(
    ("ram", "usable", "call"),
    [
        # the dashboard names its own inputs, not the CLI's flags
        ("4XB", "", lambda: parse_size("4XB", what="RAM")),
        ("-4GB", "", lambda: parse_size("-4GB", what="RAM")),
        ("4GB", "8GB", lambda: api.resolve_device(api.DeviceChoice(ram="4GB", usable="8GB", input_names=INPUT_NAMES))),
    ],
)
def test_bad_ram_input_shows_the_library_message(ram, usable, call):
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value(ram)
    at.text_input(key="usable").set_value(usable).run()
    assert_clean(at)
    assert [e.value for e in at.error] == [library_message(call)]
    assert not heading(at).startswith("Best pick")


def test_prompt_longer_than_context_is_an_error_not_a_traceback():
    at = start()
    at.number_input(key="prompt_tokens").set_value(8000).run()
    assert_clean(at)
    expected = library_message(lambda: Workload(context_tokens=4096, prompt_tokens=8000, output_tokens=256))
    assert [e.value for e in at.error] == [expected]


def test_bad_uploaded_profile_shows_the_loader_message():
    at = start()
    at.radio(key="device_source").set_value("Upload a profile").run()
    assert_clean(at)
    uploader = at.file_uploader(key="device_upload") if hasattr(at, "file_uploader") else None
    if uploader is None or not hasattr(uploader, "upload"):
        pytest.skip("this Streamlit's AppTest cannot drive file_uploader")
    uploader.upload("broken.toml", b"id = 'x'\nname = \n", "application/toml").run()
    assert_clean(at)
    assert at.error and "broken.toml" in at.error[0].value


def test_uploaded_profile_is_used():
    at = start()
    at.radio(key="device_source").set_value("Upload a profile").run()
    uploader = at.file_uploader(key="device_upload") if hasattr(at, "file_uploader") else None
    if uploader is None or not hasattr(uploader, "upload"):
        pytest.skip("this Streamlit's AppTest cannot drive file_uploader")
    src = next((data_root() / "profiles").rglob("iphone-16-pro.toml"))
    uploader.upload(src.name, src.read_bytes(), "application/toml").run()
    assert_clean(at)
    _, expected = library_pick(catalog_device("iphone-16-pro"))
    assert heading(at) == expected


def test_this_machine_without_a_profile_does_not_probe():
    at = start()
    at.radio(key="device_source").set_value("This machine").run()
    assert_clean(at)
    assert not at.error
    assert any("Choose a device" in i.value for i in at.info)
    assert at.button(key="profile_local").label.startswith("Measure this machine")


# --------------------------------------------------------------------------- other tabs


def test_every_model_quant_table_and_fit_filter():
    from advisor.catalog import load_catalog

    cat = load_catalog()
    at = start()
    at.radio(key="table_scope").set_value("Every model × quant").run()
    assert_clean(at)
    rec, _ = library_pick(catalog_device("raspberry-pi-5-8gb"))  # every runtime × format it was picked from
    from advisor import analysis

    assert len(table(at)) == len(analysis.variant_grid(rec.device, Workload(), rec.constraints, cat))
    at.selectbox(key="runtime").set_value("llama.cpp").run()
    assert len(table(at)) == len(cat.models) * len(cat.file_types)
    at.radio(key="table_scope").set_value("Every model × quant").run()
    at.multiselect(key="fit_filter").set_value(["does not fit"]).run()
    rows = table(at)
    assert len(rows) and set(rows["fit"]) == {"does not fit"} and rows["decode tok/s"].isna().all()
    at.text_input(key="table_search").set_value("qwen3-8b").run()
    assert set(table(at)["model"]) <= {"qwen3-8b"}


def test_compare_devices_table_has_one_row_per_device():
    at = open_tab(start(), "Compare devices")
    chosen = ["raspberry-pi-5-8gb", "iphone-16-pro", "mac-mini-m4-16gb"]
    at.multiselect(key="compare_devices").set_value(chosen).run()
    assert_clean(at)
    rows = table(at, "compare_table")
    from advisor.catalog import load_catalog

    cat = load_catalog()
    assert list(rows["device"]) == [cat.devices[d].name for d in chosen]
    assert {"decode tok/s", "headroom GiB", "energy J/response", "price USD", "tok/s per $"} <= set(rows.columns)


def test_measured_runs_appear_against_predictions(tmp_path, monkeypatch):
    """A run recorded in a real measurements database shows up against its prediction."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    store.record_run(store.Run(
        source="import", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-1.7b", quant="Q4_K_M",
        measured={"decode_tokens_per_s": 10.0, "prefill_tokens_per_s": 50.0},
        predicted={"decode_tokens_per_s": 12.0, "prefill_tokens_per_s": 40.0},
    ))
    at = open_tab(start(), "Measured vs predicted")
    rows = table(at, "measured_table")
    assert list(rows["metric"]) == ["decode", "prefill"]
    assert list(rows["error %"].round(6)) == [20.0, -20.0]


def test_measured_runs_name_devices_and_models_as_the_catalog_does(tmp_path, monkeypatch):
    """The tab showed raspberry-pi-5-8gb and qwen3-1.7b; an id the catalog lacks stays as stored."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    for device_id, model_id, model_name in (("raspberry-pi-5-8gb", "qwen3-1.7b", None),
                                            ("local-0123abcd", "my-finetune", "My Finetune 1B")):
        store.record_run(store.Run(
            source="import", status="ok", device_id=device_id, model_id=model_id, model_name=model_name, quant="Q4_K_M",
            measured={"decode_tokens_per_s": 10.0}, predicted={"decode_tokens_per_s": 12.0}))
    at = open_tab(start(), "Measured vs predicted")
    rows = table(at, "measured_table")
    assert list(rows["device"]) == ["Raspberry Pi 5 (8 GB)", "local-0123abcd"]
    assert list(rows["model"]) == ["Qwen3 1.7B", "My Finetune 1B"]
    box = at.selectbox(key="runs_device")
    assert box.options == ["all devices", "local-0123abcd", "Raspberry Pi 5 (8 GB)"]
    box.set_value("local-0123abcd").run()
    assert_clean(at)
    assert list(table(at, "measured_table")["device"]) == ["local-0123abcd"]
    # the calibration shown is the sidebar's device's, and says so by name, whichever runs are shown
    assert "**Calibration in force for Raspberry Pi 5 (8 GB)**" in [m.value for m in at.markdown]


def test_the_measured_chart_has_its_legend_below_so_long_device_names_leave_it_room():
    """On the right, "Intel NUC 13 Pro (Core i7-1360P), 32 GB DDR4-3200 prefill" left the chart ~100 px
    of an 800 px page; below, as the other charts' legends, each series adds a line of height."""
    import pandas as pd

    from advisor.dashboard import plots

    table = pd.DataFrame({"device": ["Intel NUC 13 Pro (Core i7-1360P), 32 GB DDR4-3200"] * 2, "metric": ["decode", "prefill"],
                          "model": ["Qwen3 1.7B"] * 2, "quant": ["Q4_K_M"] * 2, "measured tok/s": [10.0, 50.0],
                          "predicted tok/s": [12.0, 40.0]})
    fig = plots.measured_figure(table)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0
    assert fig.layout.height == 460 + 22 * 3  # two series and the diagonal


def test_measured_tables_round_speeds_and_errors_and_say_when_as_the_cli(tmp_path, monkeypatch):
    """The summary's median error read -56.6464, the speeds 1027.1266, the date a raw ISO string."""
    import json

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    store.record_run(store.Run(
        source="import", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-1.7b", quant="Q4_K_M",
        measured={"decode_tokens_per_s": 10.1234}, predicted={"decode_tokens_per_s": 12.0}))
    at = open_tab(start(), "Measured vs predicted")
    formats = {column: config.get("type_config", {}).get("format")
               for d in at.dataframe for column, config in json.loads(d.proto.columns).items()}
    assert {c: formats.get(c) for c in ("measured tok/s", "predicted tok/s", "error %", "median error %", "median |error| %")} == {
        "measured tok/s": "%.1f", "predicted tok/s": "%.1f", "error %": "%+.0f%%", "median error %": "%+.0f%%",
        "median |error| %": "%.0f%%"}
    when = table(at, "measured_table")["when (UTC)"][0]
    assert len(when) == 16 and when[10] == " "


def test_a_stored_calibration_reads_as_a_sentence_and_a_factor_table(tmp_path, monkeypatch):
    """The expander once printed each stored calibration as raw JSON."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    stats = {"n_observations": 4, "n_devices": 1, "applied": True,
             "decision": "applied: leave-one-run-out error 8% vs 21% with the shipped factors"}
    factors = load_catalog().calibration["cpu-arm"].model_copy(update={"bw_efficiency": 0.512345})
    store.save_calibration("device", "raspberry-pi-5-8gb", factors, 2, stats)
    at = open_tab(start(), "Measured vs predicted")
    assert ("**device raspberry-pi-5-8gb**: fitted on 4 measurements from 1 device(s); applied: leave-one-run-out "
            "error 8% vs 21% with the shipped factors") in [m.value for m in at.markdown]
    tables = [dict(zip(d.value["factor"], d.value["value"])) for d in at.dataframe if {"factor", "value"} <= set(d.value.columns)]
    assert "0.512" in [t["bandwidth efficiency (share of datasheet bandwidth reached)"] for t in tables]
    assert not at.json


def test_downloads_offer_csv_and_json():
    at = open_tab(start(), "Download")
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Candidates table (CSV)", "Recommendation (JSON)", "Every model × quant (JSON)"} <= set(labels)


def test_html_report_is_built_on_request():
    import importlib.util

    if importlib.util.find_spec("advisor.report") is None:
        pytest.skip("advisor.report is not in this installation")
    at = open_tab(start(), "Download")
    at.selectbox(key="report_format").set_value("html").run()
    at.button(key="build_report").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert "Download report (HTML)" in [b.proto.label for b in at.get("download_button")]


def test_reading_speed_target_zero_ranks_by_quality_alone():
    """The soft target changes the pick exactly as the library says (Pi 5: a 5 tok/s model vs
    the slower highest-quality one)."""
    from advisor.api import run_recommend
    from advisor.catalog import load_catalog
    from advisor.engine.recommend import Constraints
    from advisor.records import Workload

    device = load_catalog().device("raspberry-pi-5-8gb")
    expected = {t: run_recommend(device, Workload(), Constraints(target_decode_tps=t)).pick for t in (5.0, 0.0)}
    assert expected[5.0].model_id != expected[0.0].model_id

    def page_text(at):
        return " ".join(str(getattr(e, "value", "")) for e in list(at.markdown) + list(at.subheader) + list(at.info))

    at = start()
    name = load_catalog().model(expected[5.0].model_id).name
    assert f"{name} · {expected[5.0].quant_id}" in page_text(at)
    at.number_input(key="target_tps").set_value(0.0).run()
    assert_clean(at)
    name = load_catalog().model(expected[0.0].model_id).name
    assert f"{name} · {expected[0.0].quant_id}" in page_text(at)


# --------------------------------------------------------------------------- runtimes and deployment targets


def library_rec(device_id: str, target_id: str = "server", runtimes=ALL_RUNTIMES, *, entitlement: bool = False,
                browser_id: str | None = None, **constraints):
    """The recommendation the dashboard must show for these sidebar choices, from the library."""
    cat = load_catalog()
    dep = api.make_deployment(cat.device(device_id), target_id, entitlement=entitlement, browser_id=browser_id, catalog=cat)
    return api.run_recommend(cat.device(device_id), Workload(), Constraints(runtimes=runtimes, deployment=dep, **constraints), cat)


def expected_heading(rec) -> str:
    cat = load_catalog()
    e = rec.pick
    on = "" if e.runtime == "llama.cpp" else f" on {e.runtime} ({e.backend})"
    return f"Best pick: {cat.models[e.model_id].name} · {e.quant_id}{on}"


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def choose(at: AppTest, device_id: str, target_id: str | None = None, runtime: str | None = None) -> AppTest:
    at.selectbox(key="device_id").set_value(device_id).run()
    if target_id is not None:
        at.selectbox(key="target").set_value(target_id).run()
    if runtime is not None:
        at.selectbox(key="runtime").set_value(runtime).run()
    assert_clean(at)
    return at


def test_defaults_are_every_runtime_on_the_server_target():
    at = start()
    assert at.selectbox(key="runtime").value == "all"
    assert at.selectbox(key="target").value == "server"
    assert at.selectbox(key="target").options == ["Server / command line", "Desktop app", "iOS / iPadOS app", "Android app",
                                                  "Browser tab"]
    rec = library_rec("raspberry-pi-5-8gb")
    assert heading(at) == expected_heading(rec)
    pick = rec.pick
    backend = pick.backend if pick.runtime != "llama.cpp" else "cpu-arm"
    assert f"Runtime **{pick.runtime}** · backend **{backend}** · format **{pick.quant_id}" in markdown_text(at)
    assert "Target:" not in markdown_text(at)  # the default target is the plain behaviour: no budget line
    runtimes = {r.split(" ")[0] for r in table(at)["runtime"]}
    assert runtimes == {e.runtime for e in rec.ranked}
    assert rec.runtime_choice is not None and len(rec.runtime_choice.options) > 1  # every runtime weighed


def test_browser_target_switches_to_every_runtime_and_names_the_binding_limit():
    """Pixel 8 in Chrome on Android: the pick is the library's over every runtime the browser
    tab allows, the 128 MiB storage-binding limit is said to bind, the budget names its basis."""
    at = choose(start(), "pixel-8", "browser")
    assert at.selectbox(key="runtime").value == "all"  # llama.cpp does not run in a browser tab
    from advisor.engine.recommend import ALL_RUNTIMES
    from advisor.units import format_size

    rec = library_rec("pixel-8", "browser", ALL_RUNTIMES)
    assert heading(at) == expected_heading(rec)
    text = markdown_text(at)
    dep = rec.constraints.deployment
    assert (f"**Target: Browser tab** — {format_size(dep.device.memory.usable)} for the model on Google Pixel 8 "
            f"(the device profile's usable memory; basis: {dep.budget.basis}; {dep.budget.source})") in text
    assert "Browser Chrome (Android): WebGPU, one storage binding ≤ 128.00 MiB" in text
    limited = [r for r in rec.rejected if r.kind == "limit"]
    assert limited, "the library rejects some model for the binding limit"
    assert (f"**Binding limit:** the 128.00 MiB maxStorageBufferBindingSize of Chrome (Android) rules out {len(limited)} "
            f"models") in text
    assert f"backend **{rec.pick.backend}** · format **{rec.pick.quant_id}**" in text
    rows = table(at)
    assert list(zip(rows["model"], rows["quant"])) == [(e.model_id, e.quant_id) for e in rec.ranked]
    assert "llama.cpp" not in set(rows["runtime"])


@pytest.mark.parametrize(("device_id", "target_id", "says"), [
    ("raspberry-pi-5-8gb", "server", " — the first start after boot: read from "),
    ("pixel-8", "browser", "Load (cold, later visit): "),
])
def test_the_pick_says_its_load_times_as_the_engine_gives_them(device_id, target_id, says):
    """The pick's load times under the cards, in the library's words (``wording.load_text``): in a
    browser tab the cold figure is a later visit and the first visit's download is not predicted."""
    from advisor.wording import load_text

    at = choose(start(), device_id, target_id)
    rec = library_rec(device_id, target_id)
    text = load_text(rec.pick.load)
    assert text in [c.value for c in at.caption] and says in text
    assert ("First visit: not predicted" in text) is (target_id == "browser")
    # the table's cold-start column says what its figure is in a browser tab: a later visit
    column = "cold-start TTFT s (later visit)" if target_id == "browser" else "cold-start TTFT s"
    cols = set(table(at).columns)
    assert column in cols and not {"cold-start TTFT s", "cold-start TTFT s (later visit)"} - {column} & cols


@pytest.mark.parametrize(("device_id", "runtime"), [("iphone-16-pro", "mlx"), ("pixel-8", "litert-lm"), ("raspberry-pi-5-8gb", "all")])
def test_runtime_selector_follows_the_library(device_id, runtime):
    from advisor.engine.recommend import ALL_RUNTIMES

    at = choose(start(), device_id, runtime=runtime)
    rec = library_rec(device_id, runtimes=ALL_RUNTIMES if runtime == "all" else frozenset({runtime}))
    assert heading(at) == expected_heading(rec)
    assert list(table(at)["quant"]) == [e.quant_id for e in rec.ranked]
    if runtime != "all":
        assert set(table(at)["runtime"]) == {f"{runtime} ({rec.pick.backend})"}


@pytest.mark.parametrize(("device_id", "target_id", "runtime", "call", "says"), [
    ("raspberry-pi-5-8gb", "ios-app", None,
     lambda cat: api.make_deployment(cat.device("raspberry-pi-5-8gb"), "ios-app", catalog=cat),
     "the iOS / iPadOS app target cannot run on Raspberry Pi 5 (8 GB)"),
    ("pixel-8", None, "mlx",
     lambda cat: resolve_variant(cat, cat.device("pixel-8"), "mlx",
                                 deployment=api.make_deployment(cat.device("pixel-8"), "server", catalog=cat)),
     "mlx does not run on Google Pixel 8 under the Server / command line target"),
    ("iphone-16-pro", "android-app", None,
     lambda cat: api.make_deployment(cat.device("iphone-16-pro"), "android-app", catalog=cat),
     "the Android app target cannot run on Apple iPhone 16 Pro"),
])
def test_impossible_choices_are_errors_in_the_dashboards_words(device_id, target_id, runtime, call, says):
    at = choose(start(), device_id, target_id, runtime)
    expected = library_message(lambda: call(load_catalog()))
    assert [e.value for e in at.error] == [expected]
    assert "--" not in expected  # no CLI flag names
    assert expected.startswith(says)  # the target by the name its selectbox shows, not its id ("under server")
    assert not at.subheader or not heading(at).startswith("Best pick")


def test_entitlement_only_for_an_ios_app_and_it_raises_the_budget():
    from advisor.units import format_size

    at = start()
    assert not [c for c in at.checkbox if c.key == "entitlement"]
    at = choose(at, "iphone-16-pro", "ios-app")
    plain = library_rec("iphone-16-pro", "ios-app").constraints.deployment
    assert f"{format_size(plain.device.memory.usable)} for the model" in markdown_text(at)
    at.checkbox(key="entitlement").check().run()
    assert_clean(at)
    raised = library_rec("iphone-16-pro", "ios-app", entitlement=True)
    assert raised.constraints.deployment.device.memory.usable > plain.device.memory.usable
    assert f"{format_size(raised.constraints.deployment.device.memory.usable)} for the model" in markdown_text(at)
    assert heading(at) == expected_heading(raised)


def test_browser_choice_and_a_browser_the_device_lacks():
    at = choose(start(), "iphone-16-pro", "browser")
    at.selectbox(key="browser").set_value("safari-ios").run()
    assert_clean(at)
    assert "Browser Safari" in markdown_text(at) and not at.error
    at.selectbox(key="browser").set_value("chrome-android").run()
    cat = load_catalog()
    expected = library_message(lambda: api.make_deployment(cat.device("iphone-16-pro"), "browser", browser_id="chrome-android",
                                                           catalog=cat))
    assert [e.value for e in at.error] == [expected]


def test_largest_download_rejects_bigger_candidates():
    from advisor.units import parse_size

    at = start()
    at.text_input(key="max_download").set_value("1GB").run()
    assert_clean(at)
    rec = library_rec("raspberry-pi-5-8gb", max_download_bytes=parse_size("1GB"))
    assert heading(at) == expected_heading(rec)
    assert len(table(at)) == len(rec.ranked) and any(r.kind == "download" for r in rec.rejected)
    at.text_input(key="max_download").set_value("1.5XB").run()
    assert [e.value for e in at.error] == [library_message(lambda: parse_size("1.5XB", what="largest download"))]


def test_runtimes_compared_view_shows_the_library_comparison():
    from advisor import analysis

    at = choose(start(), "iphone-16-pro", "ios-app")
    at.radio(key="page").set_value("Runtimes compared").run()
    assert_clean(at)
    assert not at.error
    rec = library_rec("iphone-16-pro", "ios-app")
    cat = load_catalog()
    expected = analysis.compare_runtimes(rec.pick.model_id, cat.device("iphone-16-pro"), Workload(), cat,
                                         deployment=rec.constraints.deployment, overrides=api.calibration_overrides())
    rows = next(d.value for d in at.dataframe if {"runtime", "decode basis", "download"} <= set(d.value.columns))
    assert list(rows["runtime"]) == [r.runtime.id for r in expected]
    assert list(rows["format"]) == [r.estimate.quant_id for r in expected]
    assert len(expected) > 1 and "llama.cpp" in list(rows["runtime"])
    assert list(rows["decode tok/s"].round(6)) == [round(r.estimate.speed.decode_tokens_per_s, 6) for r in expected]
    # fitted vs prior, as each estimate's speed basis says (llama.cpp is fitted on Metal; a runtime
    # without its own published measurements is a prior)
    evidence = dict(zip(rows["runtime"], zip(rows["decode basis"], rows["prefill basis"])))
    assert evidence["llama.cpp"] == ("fitted", "fitted")
    # catalog/runtime-calibration.toml: mlx:metal keeps a decode prior, prefill fitted; the iPhone 16 Pro has
    # its own published MLX decode row, fitted for it alone ([[devices]])
    assert evidence["mlx"] == ("fitted", "fitted")
    for r in expected:
        if "as a prior" in r.estimate.speed.basis:
            assert evidence[r.runtime.id] == ("prior", "prior")
    assert len(at.get("plotly_chart")) == 1
    # another model
    at.selectbox(key="runtimes_model").set_value("qwen2.5-0.5b-instruct").run()
    assert_clean(at)
    rows = next(d.value for d in at.dataframe if {"runtime", "decode basis"} <= set(d.value.columns))
    expected = analysis.compare_runtimes("qwen2.5-0.5b-instruct", cat.device("iphone-16-pro"), Workload(), cat,
                                         deployment=rec.constraints.deployment, overrides=api.calibration_overrides())
    assert list(rows["format"]) == [r.estimate.quant_id for r in expected]


def _phone_tiers(target: str):
    """The tiers page on the phones under ``target``: the app, the catalog, the library's tiers and
    the page's tier table."""
    at = start()
    at.selectbox(key="target").set_value(target).run()
    at.radio(key="page").set_value("What to ship per RAM tier").run()
    assert_clean(at)
    assert at.selectbox(key="tiers_class").value == "phone"  # the chosen device's class (sbc) cannot host an app
    at.selectbox(key="tiers_class").set_value("phone").run()
    assert_clean(at)
    assert not at.error
    cat = load_catalog()
    picks = api.run_tiers(target, Workload(), device_class="phone", constraints=Constraints(runtimes=ALL_RUNTIMES), catalog=cat)
    rows = next(d.value for d in at.dataframe if {"tier", "pick", "slowest decode tok/s"} <= set(d.value.columns))
    return at, cat, picks, rows


def test_what_to_ship_per_ram_tier_follows_the_engine():
    at, cat, picks, rows = _phone_tiers("android-app")
    assert list(rows["tier"]) == [f"{p.tier_gib} GB" for p in picks]
    assert list(rows["format"]) == [p.format_id or "" for p in picks]
    assert list(rows["devices"]) == [len(p.devices) for p in picks]
    reasons = " ".join(" ".join(d.value["left out because"]) for d in at.dataframe if "left out because" in d.value.columns)
    from advisor.wording import reason_text

    assert all(reason_text(lo.why) in reasons for p in picks for lo in p.left_out)


def test_store_limits_read_as_the_store_publishes_them_with_the_binary_figure_beside():
    """An iOS tier's 1.67 GiB pick "exceeds App Store automatic download over cellular (soft, 0.2 GB)":
    a decimal 0.2 GB beside binary GiB, where `advisor tiers` writes 200 MB = 190.73 MiB."""
    at, cat, picks, rows = _phone_tiers("ios-app")
    limits = [lim for p in picks for lim in p.store_limits_exceeded]
    cellular = next(lim for lim in limits if lim.id == "app-store-cellular")
    said = f"{cellular.what} (200 MB = 190.73 MiB, soft)"
    assert any(said in cell for cell in rows["store limits exceeded"])
    assert any(said in m.value for m in at.markdown)


def test_phones_that_cannot_host_the_target_are_no_candidates_as_in_the_cli():
    """An iOS app over the phones: the Android phones are named as no candidates above the tables, as
    ``advisor tiers --class phone --target ios-app`` does, not left out of tiers of their own that then
    read "nothing fits every device"."""
    at, cat, picks, rows = _phone_tiers("ios-app")
    assert list(rows["tier"]) == [f"{p.tier_gib} GB" for p in picks] == ["8 GB"]
    shown = " ".join(" ".join(d.value["device"]) for d in at.dataframe if "left out because" in d.value.columns)
    android = api.not_hosting("ios-app", "phone", cat)
    assert android and not any(d.name in shown for d in android)
    assert any(c.value.startswith(f"Not candidates: {len(android)} devices of class phone that cannot host the iOS")
               for c in at.caption)


def test_focus_views_evaluate_a_runtime_format_pick():
    """A pick in a runtime's own format (not a GGUF type) drives the Plots and Compare tabs."""
    at = choose(start(), "pixel-8", "browser")
    assert " on " in heading(at)  # a runtime other than llama.cpp
    open_tab(at, "Plots")
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 4
    options = at.selectbox(key="focus_quant").options
    assert any("/" in o for o in options)  # the runtimes' own formats are offered as runtime/format
    open_tab(at, "Compare devices")
    assert not at.error, [e.value for e in at.error]
    runtime = heading(at).split(" on ")[-1].split(" (")[0]
    compared = table(at, "compare_table")
    assert len(compared) >= 2 and all(r.startswith(f"{runtime} (") for r in compared["runtime"])  # its backend on each device
    # every candidate of the runtimes considered, not llama.cpp's GGUF grid
    open_tab(at, "Candidates")
    at.radio(key="table_scope").set_value("Every model × quant").run()
    assert_clean(at)
    from advisor.engine.recommend import ALL_RUNTIMES, candidate_variants

    rec = library_rec("pixel-8", "browser", ALL_RUNTIMES)
    rows = table(at)
    from advisor.engine.runtimes import runs_model

    variants = candidate_variants(rec.device, load_catalog(), rec.constraints)
    assert len(rows) == sum(runs_model(v, m) for m in load_catalog().models.values() for v in variants)  # each runtime's architectures
    assert not any(r.startswith("llama.cpp") for r in rows["runtime"])


def test_tiers_with_a_runtime_the_target_lacks_is_an_error():
    at = start()
    at.selectbox(key="target").set_value("browser").run()
    at.selectbox(key="runtime").set_value("llama.cpp").run()  # chosen again after the switch to "all"
    at.radio(key="page").set_value("What to ship per RAM tier").run()
    assert_clean(at)
    assert [e.value for e in at.error] == [
        "llama.cpp does not run in the Browser tab target; its runtimes: mlc, wllama, executorch, litert-lm, or all with measurements"]


def test_runtimes_compared_of_a_model_that_fits_nowhere_draws_no_bars_instead_of_failing():
    """gpt-oss 20B with 8 GB of RAM: no runtime's best format fits, so none has a speed; the chart
    subtracted the missing bands and the page showed a TypeError."""
    import json

    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.radio(key="page").set_value("Runtimes compared").run()
    at.selectbox(key="runtimes_model").set_value("gpt-oss-20b").run()
    assert_clean(at)
    assert not at.error
    rows = next(d.value for d in at.dataframe if {"runtime", "decode basis", "download"} <= set(d.value.columns))
    assert len(rows) > 1 and rows["fit"].str.startswith("does not fit").all()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [a["text"] for a in chart["layout"]["annotations"]] == ["no runtime fits the model here: no speed to draw"]


def test_runtimes_compared_names_the_runtimes_that_cannot_load_the_model():
    from advisor import analysis

    at = choose(start(), "pixel-8", "android-app")
    at.radio(key="page").set_value("Runtimes compared").run()
    at.selectbox(key="runtimes_model").set_value("granite-4.0-h-micro").run()
    assert_clean(at)
    cat = load_catalog()
    target = cat.target("android-app")
    unable = [r for r in analysis.runtimes_not_loading("granite-4.0-h-micro", cat) if r in target.runtimes]
    assert unable and "mnn" in unable
    captions = " ".join(c.value for c in at.caption)
    assert f"Not shown: {', '.join(unable)}, which cannot load its granitehybrid architecture." in captions
    rows = next(d.value for d in at.dataframe if {"runtime", "decode basis", "download"} <= set(d.value.columns))
    assert not set(rows["runtime"]) & set(unable)


# --------------------------------------------------------------------------- the CLI's words, the same figures


def cli_lines(*args: str) -> list[str]:
    """What ``advisor …`` prints (its table format): the dashboard must say the same."""
    from click.testing import CliRunner

    from advisor.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_header_shows_the_usable_memory_of_the_device_under_the_target():
    """iPhone 16 Pro as an iOS app with the increased-memory entitlement: the header says the
    target's 5.59 GiB (and its basis), as the CLI's headline does, not the profile's 2.79 GiB."""
    at = choose(start(), "iphone-16-pro", "ios-app")
    at.checkbox(key="entitlement").check().run()
    assert_clean(at)
    headline = cli_lines("recommend", "--device", "iphone-16-pro", "--target", "ios-app", "--entitlement", "increased-memory")[0]
    memory = headline.split(": ", 1)[1].split(";")[0]  # "5.59 GiB usable of 8.00 GiB RAM (measured)"
    raw = catalog_device("iphone-16-pro").memory
    assert f"{format_size(raw.usable)} usable" not in memory  # the target changes the figure
    captions = [c.value for c in at.caption if "usable of" in c.value]
    assert len(captions) == 1 and f"· {memory} ·" in captions[0], captions


def test_rejected_models_are_readable_rows():
    """The rejections as the library words them, without the raw figures of the JSON."""
    at = choose(start(), "iphone-16-pro", "ios-app")
    rec = library_rec("iphone-16-pro", "ios-app")
    rows = table(at, "rejected_table")
    assert list(rows.columns) == ["model name", "quant", "runtime", "reason", "detail", "model"]
    assert list(rows["model name"]) == [load_catalog().models[r.model_id].name for r in rec.rejected]  # ids only, once
    assert list(rows["model"]) == [r.model_id for r in rec.rejected]
    assert list(rows["quant"]) == [r.quant_id or "" for r in rec.rejected]
    assert list(rows["runtime"]) == [r.runtime or "" for r in rec.rejected]
    assert list(rows["detail"]) == [reason_text(r.why) for r in rec.rejected]


@pytest.mark.parametrize("ram", ["4GB", "8GB"])
def test_ram_only_device_says_whose_speed_figures_it_uses(ram):
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value(ram).run()
    assert_clean(at)
    sentence = next(line for line in cli_lines("recommend", "--ram", ram) if line.startswith("Speed figures are those of"))
    assert sentence in [c.value for c in at.caption]


@pytest.mark.parametrize("ram, widgets, cli, who, not_who", [
    ("6GB", (("ram_class", "phone"), ("target", "ios-app")), ("--class", "phone", "--target", "ios-app"), "Apple iPhone", None),
    # Safari on iOS in a browser tab: the RAM size stood for every device of the browser target (an
    # N100 mini PC), and Safari was then refused on it
    ("6GB", (("target", "browser"), ("browser", "safari-ios")), ("--target", "browser", "--browser", "safari-ios"),
     "Apple iPhone", None),
    # the runtime chosen (the CLI's --runtime): a 16 GB laptop for MLC is a Mac, not the x86 laptop
    # whose integrated GPU MLC does not drive
    ("16GB", (("ram_class", "laptop"), ("runtime", "mlc")), ("--class", "laptop", "--runtime", "mlc"), "Apple MacBook", "Intel"),
])
def test_a_ram_only_device_stands_for_the_devices_its_choices_allow_as_in_the_cli(ram, widgets, cli, who, not_who):
    """The target (and the browser) and the runtime narrow what a RAM size stands for in the
    dashboard too (the CLI's --target, --browser and --runtime)."""
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value(ram).run()
    for key, value in widgets:
        at.selectbox(key=key).set_value(value).run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    sentence = next(line for line in cli_lines("recommend", "--ram", ram, *cli) if line.startswith("Speed figures are those of"))
    assert who in sentence and sentence in [c.value for c in at.caption]
    assert not_who is None or not_who not in sentence


def test_a_device_profile_has_no_stand_in_sentence():
    at = start()
    assert not [c.value for c in at.caption if "Speed figures are those of" in c.value]


def test_calibration_factors_are_rounded_and_bands_are_factors():
    """The bands are multiplicative (value ×/÷ (1 + band)): ×/÷ 2.21, not ±120.6 %; the fitted
    factors to 3 significant figures (0.617, not 0.616518)."""
    from advisor.engine.evaluate import factors_for

    at = open_tab(start(), "Measured vs predicted")
    factors = factors_for(catalog_device("raspberry-pi-5-8gb"), load_catalog(), api.calibration_overrides())
    values = dict(zip(*(table(at, "calibration_current")[c] for c in ("factor", "value"))))
    assert values["decode likely range (~80 %): value ×/÷"] == f"{1 + factors.decode_band:.3g}"
    assert values["prefill likely range (~80 %): value ×/÷"] == f"{1 + factors.prefill_band:.3g}"
    assert values["bandwidth efficiency (share of datasheet bandwidth reached)"] == f"{factors.bw_efficiency:.3g}"
    assert values["fixed cost per layer per token (µs)"] == f"{factors.fixed_s_per_layer * 1e6:.3g}"
    assert values["measurements fitted"] == str(factors.n_measurements)
    assert not [f for f in values if "±" in f]


def test_a_quantization_gone_from_the_choices_is_reset_in_the_browser_too():
    """A GGUF type chosen for the Plots tab is no choice under the browser target (no llama.cpp):
    the dashboard falls back to the recommended format, and must tell the browser so; the widget
    otherwise keeps showing Q8_0 (and sends it back on every rerun) while the charts show another
    format."""
    at = choose(start(), "iphone-16-pro")
    open_tab(at, "Plots")
    at.selectbox(key="focus_quant").set_value("Q8_0").run()
    assert_clean(at)
    at.selectbox(key="target").set_value("browser").run()
    assert_clean(at)
    quant = at.selectbox(key="focus_quant")
    assert "Q8_0" not in quant.options
    assert quant.value == "__auto__"
    assert quant.proto.set_value, "the browser is not told the quantization changed: it still shows Q8_0"


def test_a_model_not_ranked_is_shown_in_a_runtime_of_the_target_as_predict_does():
    """Under the browser target (no llama.cpp), a model the recommendation did not rank (too large)
    is drawn in the runtime and format ``advisor predict --target browser`` uses, not llama.cpp's Q4_K_M."""
    import json

    at = choose(start(), "iphone-16-pro", "browser")
    open_tab(at, "Plots")
    at.selectbox(key="focus_model").set_value("qwen3-8b").run()
    assert_clean(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    first = next(line for line in cli_lines("predict", "--model", "qwen3-8b", "--device", "iphone-16-pro", "--target", "browser"))
    assert first.startswith("Qwen3 8B q4f16_1 with mlc (webgpu)")  # the CLI's answer
    assert any(t.startswith("Qwen3 8B q4f16_1 with mlc (webgpu)") for t in titles), titles
    assert not any("Q4_K_M" in t for t in titles), titles


@pytest.mark.parametrize("ram", ["64GB", "1TB"])
def test_the_default_speed_class_does_not_promise_a_cpu_only_device(ram):
    """The default of "Speed like a typical…" lets any device without a discrete GPU stand in; at
    64 GB that is a Jetson AGX Orin with its CUDA GPU, which the choice must not call CPU-only."""
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value(ram).run()
    assert_clean(at)
    header = next(c.value for c in at.caption if "usable of" in c.value)
    assert " · GPU " in header  # the stand-in uses its GPU
    default = at.selectbox(key="ram_class").value
    assert "CPU-only" not in default, default


def test_hidden_sidebar_inputs_keep_their_values():
    """A typed RAM came back as the default 8GB after a trip to the device profiles, and the
    entitlement box was cleared by a trip to another target (UI audit)."""
    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at.text_input(key="ram").set_value("6GB").run()
    at.radio(key="device_source").set_value("Device profile").run()
    at.radio(key="device_source").set_value("RAM only").run()
    assert_clean(at)
    assert at.text_input(key="ram").value == "6GB"
    at = choose(start(), "iphone-16-pro", "ios-app")
    at.checkbox(key="entitlement").check().run()
    at.selectbox(key="target").set_value("server").run()
    at.selectbox(key="target").set_value("ios-app").run()
    assert_clean(at)
    assert at.checkbox(key="entitlement").value is True


def test_compare_panels_are_stacked_horizontal_bars_that_do_not_overlap():
    """Side by side, the three Compare panels overlapped on an 800 px screen (each axis title over
    the next panel's bars, the device names slanted under all three): now one above the other,
    horizontal bars, the device names once per panel on one line."""
    import pandas as pd

    from advisor.dashboard import plots

    table = pd.DataFrame({"device": ["Raspberry Pi 5 (8 GB)", "NVIDIA Jetson Orin Nano Super Developer Kit (8 GB, 25 W)"],
                          "decode tok/s": [9.3, 30.7], "headroom GiB": [1.7, -0.2], "tok/s per $": [0.117, 0.123]})
    fig = plots.compare_figure("LFM2 8B-A1B Q5_K_M", table)
    assert [t.orientation for t in fig.data] == ["h", "h", "h"]
    domains = sorted(tuple(fig.layout[f"yaxis{s}"].domain) for s in ("", "2", "3"))
    assert all(a[1] < b[0] for a, b in zip(domains, domains[1:]))  # disjoint bands, bottom to top
    assert list(fig.data[0].y) == list(table["device"])[::-1]  # the table's first device on top
    assert list(fig.data[1].marker.color) == ["#c62828", "#1565c0"]  # a negative headroom in red


def test_a_report_with_nothing_recommended_says_to_choose_a_model():
    """With nothing recommended the Download tab's report said a RAM-only device cannot be named
    in a report — on a device profile, where the missing piece was a model (UI audit)."""
    import importlib.util

    if importlib.util.find_spec("advisor.report") is None:
        pytest.skip("advisor.report is not in this installation")
    at = start()
    at.number_input(key="min_tps").set_value(10000.0).run()
    at = open_tab(at, "Download")
    errors = [e.value for e in at.error]
    assert errors and errors[-1].startswith("a report needs a model: nothing is recommended here"), errors


def test_chart_titles_wrap_and_legends_clear_the_axis_titles():
    """On an 800 px screen a chart in the two columns is ~230 px wide: "Memory breakdown of the top
    candidates" was cut off, and the context chart's legend lay over its x-axis title."""
    from advisor.dashboard import plots

    fig = plots.memory_figure(["a", "b"], {"weights": [1.0, 2.0]}, 3.0)
    assert fig.layout.title.text == "Memory breakdown of the top<br>candidates"
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y <= -0.3 and fig.layout.margin.b >= 120


def test_the_context_chart_names_the_usable_memory_in_its_legend():
    """The usable-memory line is named in the legend: its label beside the line sat on the decode
    curve, the two y axes sharing one plot (front-end audit)."""
    from advisor.dashboard.plots import context_figure
    from advisor.engine.evaluate import evaluate

    cat = load_catalog()
    model, ftype, device = cat.model("llama-3.2-1b-instruct"), cat.file_type("Q4_K_M"), cat.device("raspberry-pi-5-8gb")
    sweep = [(n, evaluate(model, ftype, device, Workload(context_tokens=n, prompt_tokens=n // 2, output_tokens=64), cat)) for n in (512, 4096)]
    fig = context_figure("x", sweep)
    assert not fig.layout.annotations
    assert f"usable {sweep[0][1].usable_bytes / 2**30:.2f} GiB" in [t.name for t in fig.data]


def test_the_detail_charts_of_a_model_that_fits_nowhere_draw_no_empty_scales():
    """Qwen3 30B-A3B with 8 GB of RAM: the context chart kept a 0–4 tok/s decode axis with no line,
    the empty prompt chart plotly's own log ticks (0.1 s to 10k s, 1 to 1M tokens)."""
    import json

    at = start()
    at.radio(key="device_source").set_value("RAM only").run()
    at = open_tab(at, "Plots")
    at.selectbox(key="focus_model").set_value("qwen3-30b-a3b").run()
    assert_clean(at)
    charts = {c.proto.id: json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")}
    context = next(lay for lay in charts.values() if "context grows" in lay["title"]["text"])
    prompt = next(lay for lay in charts.values() if "prompt length" in lay["title"]["text"])
    assert context["yaxis2"]["visible"] is False
    assert [a["text"] for a in context["annotations"]] == ["does not fit at any of these context lengths: no decode speed"]
    assert prompt["xaxis"]["showticklabels"] is False and prompt["yaxis"]["showticklabels"] is False


def test_the_runtimes_chart_legend_sits_under_its_two_line_title():
    """At 800 px the title's second line ("LFM2 8B-A1B on Raspberry Pi 5 (8 GB)") lay over the
    legend above the plot: the top margin holds both."""
    import pandas as pd

    from advisor.dashboard import plots

    table = pd.DataFrame({"runtime": ["mlx", "llama.cpp"], "format": ["4bit", "Q5_K_M"], "fit": ["fits", "fits"],
                          "decode basis": ["prior", "fitted"], "decode tok/s": [11.8, 9.3], "decode low": [6.4, 6.5],
                          "decode high": [22.0, 13.4]})
    fig = plots.runtimes_figure("LFM2 8B-A1B on Raspberry Pi 5 (8 GB)", table)
    assert "<br>" in fig.layout.title.text and fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y > 1
    assert fig.layout.margin.t >= 110


def test_an_unreadable_store_is_said_on_the_page(tmp_path, monkeypatch):
    """The store a directory: predictions go on without the user's calibrations, which only the
    server's log said; the page says it too, at every rerun while it lasts."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    (tmp_path / "advisor.db").mkdir()
    at = start()
    said = [w.value for w in at.warning]
    assert any("is a directory or special file" in w and "without your calibrations" in w for w in said), said
    at.run()
    assert any("without your calibrations" in w.value for w in at.warning)
    (tmp_path / "advisor.db").rmdir()
    at.run()
    assert not any("without your calibrations" in w.value for w in at.warning)

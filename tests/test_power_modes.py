"""Power modes (Jetson nvpmodel) and the sustained (throttled) decode figure: hand-computed
profiles, one engine path, errors with one line and an exit code."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.catalog import _validate
from advisor.cli import main
from advisor.engine.evaluate import evaluate
from advisor.engine.power_modes import with_power_mode
from advisor.errors import DataFileError, UnknownIdError
from advisor.records import DeviceProfile, Workload

AGX = "jetson-agx-orin-64gb"


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_15w_mode_by_hand(catalog):
    """AGX Orin 64GB, 15W: 4 of 12 A78AE cores at ≤ 1.1136 GHz (MAXN: 2.2), GPU 3 of 8 TPCs at
    420.75 of 1300 MHz, EMC 2133 MHz (136.5 GB/s), 15 W."""
    top, d = catalog.device(AGX), catalog.device(AGX + "@15W")
    assert d.id == AGX + "@15w" and d.power.active_mode == "15W" and "15W power mode" in d.name
    assert d.cpu.cores == 4 and d.cpu.threads == 4
    assert [(c.cores, c.ghz) for c in d.cpu.clusters] == [(4, 1.1136)]
    # 422.4 GFLOPS × (4 × 1.1136) / (12 × 2.2) = 422.4 × 0.168727 = 71.2704
    assert d.cpu.fp32_gflops == pytest.approx(71.2704, rel=1e-9)
    # 42.6 TFLOPS × 0.42075 / 1.3 × 3 / 8 = 42.6 × 0.121370 = 5.17037
    assert d.gpu.fp16_tflops == pytest.approx(5.170370, rel=1e-6)
    assert d.gpu.name.endswith("15W power mode: ≤ 421 MHz, 3 of 8 units")  # what the dashboard's device line shows
    assert d.memory.bandwidth_gbs == 136.5 and d.memory.bandwidth_basis == "derived"
    # typical 30.8 W (measured in MAXN) × 15 / 60, an estimate in this mode
    assert (d.power.max_w, d.power.typical_w, d.power.basis) == (15.0, pytest.approx(7.7), "estimated")
    assert top.power.basis == "measured"
    assert top.memory.bandwidth_gbs == 204.8 and top.power.active_mode is None  # the catalog's own profile is untouched


def test_the_top_mode_is_the_profile(catalog):
    top, maxn = catalog.device(AGX), catalog.device(AGX + "@maxn")
    assert maxn.cpu == top.cpu and maxn.gpu == top.gpu and maxn.memory == top.memory
    w = Workload()
    model, ftype = catalog.model("llama-3.2-1b-instruct"), catalog.file_type("Q4_K_M")
    a, b = evaluate(model, ftype, top, w, catalog), evaluate(model, ftype, maxn, w, catalog)
    assert a.speed.decode_tokens_per_s == b.speed.decode_tokens_per_s
    assert a.speed.prefill_tokens_per_s == b.speed.prefill_tokens_per_s


def test_a_mode_is_the_same_estimate_as_a_hand_written_profile(catalog, tmp_path):
    """One engine path: the 30W mode predicts exactly what a profile written by hand with the 30W
    figures predicts (8 cores at 1.728 GHz: 422.4 × 13.824 / 26.4 = 221.184 GFLOPS; GPU 42.6 ×
    0.62475 / 1.3 × 4 / 8 = 10.236288 TFLOPS; 204.8 GB/s; 30 W, typical 30.8 × 30/60 = 15.4 W)."""
    src = Path(catalog.root) / "profiles" / "jetson" / f"{AGX}.toml"
    raw = tomllib.loads(src.read_text())
    raw["id"] = "hand-30w"
    raw["cpu"].update(cores=8, threads=8, clusters=[{"name": "Cortex-A78AE", "cores": 8, "ghz": 1.728}], fp32_gflops=221.184)
    raw["gpu"]["fp16_tflops"] = 10.236288
    raw["power"].update(max_w=30.0, typical_w=15.4, basis="estimated")
    for key in ("modes", "modes_source", "modes_verification"):
        raw["power"].pop(key)
    hand = _validate(DeviceProfile, raw, "hand-30w")
    mode = catalog.device(AGX + "@30w")
    for model_id, quant in (("llama-3.2-1b-instruct", "Q4_K_M"), ("qwen2.5-7b-instruct", "Q4_0"), ("smollm2-135m-instruct", "Q8_0")):
        model, ftype = catalog.model(model_id), catalog.file_type(quant)
        for w in (Workload(), Workload(threads=8, prompt_tokens=1024, context_tokens=8192)):
            a, b = evaluate(model, ftype, mode, w, catalog), evaluate(model, ftype, hand, w, catalog)
            assert a.speed.decode_tokens_per_s == pytest.approx(b.speed.decode_tokens_per_s, rel=1e-6)
            assert a.speed.prefill_tokens_per_s == pytest.approx(b.speed.prefill_tokens_per_s, rel=1e-6)
            assert a.speed.energy_j_per_token == pytest.approx(b.speed.energy_j_per_token, rel=1e-6)


def test_a_lower_mode_is_never_faster(catalog):
    model, ftype = catalog.model("llama-3.2-3b-instruct"), catalog.file_type("Q4_K_M")
    speeds = [evaluate(model, ftype, catalog.device(f"{AGX}@{m}"), Workload(), catalog).speed for m in ("maxn", "50w", "30w", "15w")]
    for hi, lo in zip(speeds, speeds[1:]):
        assert lo.decode_tokens_per_s <= hi.decode_tokens_per_s and lo.prefill_tokens_per_s <= hi.prefill_tokens_per_s


@settings(max_examples=60, deadline=None)
@given(cores=st.integers(1, 12), ghz=st.floats(0.1, 2.2), gpu_ghz=st.floats(0.05, 1.3), units=st.integers(1, 8),
       bw=st.floats(1.0, 204.8), watts=st.floats(1.0, 60.0))
def test_any_mode_below_the_top_scales_every_figure_down(snapshot_catalog, cores, ghz, gpu_ghz, units, bw, watts):
    top = snapshot_catalog.device(AGX)
    mode = top.power.modes[-1].model_copy(update={"name": "X", "cpu_cores": cores, "cpu_ghz": ghz, "gpu_ghz": gpu_ghz,
                                                  "gpu_units": units, "memory_bandwidth_gbs": bw, "max_w": watts})
    dev = top.model_copy(update={"power": top.power.model_copy(update={"modes": (*top.power.modes, mode)})})
    d = with_power_mode(dev, "x")
    assert 0 < d.cpu.fp32_gflops <= top.cpu.fp32_gflops * (1 + 1e-12)
    assert 0 < d.gpu.fp16_tflops <= top.gpu.fp16_tflops * (1 + 1e-12)
    assert d.cpu.cores == cores and d.memory.bandwidth_gbs == bw and d.power.max_w == watts
    assert d.cpu.fp32_gflops == pytest.approx(top.cpu.fp32_gflops * cores * min(ghz, 2.2) / (12 * 2.2))


def test_unknown_modes_are_one_line_errors(catalog, capsys):
    with pytest.raises(UnknownIdError, match="unknown power mode '10w' for jetson-agx-orin-64gb; use one of MAXN, 50W, 30W, 15W"):
        catalog.device(AGX + "@10w")
    with pytest.raises(UnknownIdError, match="device raspberry-pi-5-8gb has no power modes"):
        catalog.device("raspberry-pi-5-8gb@15w")
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", AGX + "@7w")
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: unknown power mode '7w'")
    code2, _, err2 = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "nonexistent@15w")
    assert code2 == code and err2.startswith("Error: unknown device 'nonexistent@15w'")


@pytest.mark.parametrize("change, message", [
    (lambda p: p["power"]["modes"][0].update(memory_bandwidth_gbs=136.5), "the first power mode (MAXN) must be the one the profile's figures describe"),
    (lambda p: p["power"]["modes"][1].update(name="maxn"), "power mode names must be unique"),
    (lambda p: p["power"].pop("modes_source"), "power modes need modes_source"),
    (lambda p: p["power"]["modes"][1].update(cpu_ghz=float("nan")), "cpu_ghz"),
    (lambda p: p["power"]["modes"][1].update(name="15 W; rm -rf"), "name"),
    (lambda p: p["power"].update(sustained={"decode_fraction": 1.5, "after": "x", "basis": "measured", "source": "y"}), "decode_fraction"),
    (lambda p: p["power"]["modes"][3].update(cpu_cores=64), "power mode 15W exceeds the first mode (MAXN), which the profile's figures describe: cpu_cores 64 > 12"),
    (lambda p: p["power"]["modes"][2].update(memory_bandwidth_gbs=400.0, gpu_units=9),
     "power mode 30W exceeds the first mode (MAXN), which the profile's figures describe: gpu_units 9 > 8, memory_bandwidth_gbs 400 > 204.8"),
    (lambda p: p["power"]["modes"][1].pop("gpu_units"), "power mode 50W must give gpu_ghz and gpu_units exactly as the first mode does"),
])
def test_bad_mode_tables_are_refused_with_the_field(catalog, change, message):
    raw = tomllib.loads((Path(catalog.root) / "profiles" / "jetson" / f"{AGX}.toml").read_text())
    change(raw)
    with pytest.raises(DataFileError, match=re.escape(message)):
        _validate(DeviceProfile, raw, "bad.toml")


def test_sustained_decode_is_the_published_share(catalog, capsys):
    """iPhone 16 Pro: 22.6 of 40 tok/s after ~8 iterations (TinyBench) = 0.565 of the peak."""
    model, ftype = catalog.model("qwen2.5-1.5b-instruct"), catalog.file_type("Q4_0")
    s = evaluate(model, ftype, catalog.device("iphone-16-pro"), Workload(), catalog).speed
    assert s.sustained_decode_tokens_per_s == pytest.approx(0.565 * s.decode_tokens_per_s)
    assert "TinyBench" in s.sustained_basis and "56%" in s.sustained_basis
    # a device without a published figure gets none, not a guess
    assert evaluate(model, ftype, catalog.device("galaxy-s24-ultra"), Workload(), catalog).speed.sustained_decode_tokens_per_s is None
    code, out, _ = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--quant", "Q4_0", "--device", "iphone-16-pro", "--format", "json")
    sp = json.loads(out)["speed"]
    assert code == 0 and sp["sustained_decode_tokens_per_s"] == pytest.approx(0.565 * sp["decode_tokens_per_s"], abs=2e-3)
    code, out, _ = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--quant", "Q4_0", "--device", "iphone-16-pro")
    assert code == 0 and "decode, sustained" in out
    code, out, _ = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--quant", "Q4_0", "--device", "galaxy-s24-ultra")
    assert code == 0 and "decode, sustained" not in out


def test_devices_json_lists_the_modes(capsys):
    code, out, _ = run(capsys, "devices", "--search", "agx-orin-64", "--format", "json")
    dev = json.loads(out)["devices"][0]
    assert code == 0 and dev["power_modes"] == ["MAXN", "50W", "30W", "15W"] and dev["power_mode"] is None


def test_devices_table_and_csv_show_the_modes(capsys):
    code, out, _ = run(capsys, "devices", "--search", "orin")
    line = next(ln for ln in out.splitlines() if ln.startswith("jetson-agx-orin-64gb"))
    assert code == 0 and "power modes" in out and line.rstrip().endswith("MAXN, 50W, 30W, 15W")
    code, out, _ = run(capsys, "devices", "--class", "sbc")
    assert code == 0 and "power modes" not in out  # no listed device has modes: no empty column
    code, out, _ = run(capsys, "devices", "--search", "agx-orin-64", "--format", "csv")
    import csv
    import io
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["power_modes"] == "MAXN; 50W; 30W; 15W" and row["stands_for"] == ""  # lists joined, never Python's repr


def test_a_report_carries_the_sustained_figure_and_takes_a_mode(capsys, tmp_path):
    out = tmp_path / "r.csv"
    code, _, err = run(capsys, "report", "--model", "qwen2.5-1.5b-instruct", "--device", "iphone-16-pro",
                       "--device", AGX + "@15W", "--format", "csv", "-o", str(out))
    assert code == 0, err
    import csv
    rows = {r["device"]: r for r in csv.DictReader(out.open())}
    phone, jetson = rows["iphone-16-pro"], rows[AGX + "@15w"]
    assert float(phone["sustained_decode_tokens_per_s"]) == pytest.approx(0.565 * float(phone["decode_tokens_per_s"]), abs=2e-3)
    assert jetson["sustained_decode_tokens_per_s"] == ""


def test_the_dashboards_report_names_a_mode_device(catalog):
    """The dashboard's Download tab builds report requirements from the device on screen: a device
    in a power mode is named (`advisor report --device ID@MODE` takes it), not left out as unknown."""
    from advisor import api
    from advisor.dashboard.rows import report_requirements

    device = catalog.device(AGX + "@15W")
    rec = api.run_recommend(device, Workload(), api.Constraints(), catalog)
    req = report_requirements(rec, catalog, [AGX, "no-such-device"], None)
    assert list(req.devices) == [AGX + "@15w", AGX] and "(15W power mode)" in req.title
    assert catalog.has_device(AGX + "@30w") and not catalog.has_device(AGX + "@7w") and not catalog.has_device("x@15w")

"""Load time (engine.load), the profiles' [storage] tables, RISC-V profiles and their path, and
`advisor report` on an imported model (--gguf-header / --model-config)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.engine import load as ld
from advisor.engine.evaluate import evaluate
from advisor.engine.speed import execution_path
from advisor.records import Workload
from advisor.units import format_size

RISCV = ["banana-pi-bpi-f3-4gb", "milk-v-jupiter-8gb", "starfive-visionfive-2-8gb", "sifive-hifive-premier-p550-16gb"]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# --------------------------------------------------------------------------- formulas, worked by hand


@pytest.mark.parametrize(
    "file_bytes, bandwidth_gbs, efficiency, fixed_s, expected_s",
    [
        (1_000_000_000, 10.0, 0.5, 0.1, 0.3),          # 1e9 / (10e9 × 0.5) + 0.1
        (4_000_000_000, 100.0, 0.25, 0.0, 0.16),       # 4e9 / 25e9
        (0, 17.1, 0.25, 0.15, 0.15),                   # nothing to map: the set-up alone
    ],
)
def test_warm_load_by_hand(file_bytes, bandwidth_gbs, efficiency, fixed_s, expected_s):
    assert ld.warm_load_seconds(file_bytes, bandwidth_gbs, page_in_efficiency=efficiency, fixed_s=fixed_s) == pytest.approx(expected_s)


def test_the_vocabulary_adds_its_set_up_by_hand():
    # 1e9 / (10e9 × 0.5) + 150,000 × 2e-6 + 0.1 = 0.2 + 0.3 + 0.1
    assert ld.warm_load_seconds(1_000_000_000, 10.0, 150_000, page_in_efficiency=0.5, s_per_vocab_token=2e-6,
                                fixed_s=0.1) == pytest.approx(0.6)


@pytest.mark.parametrize(
    "file_bytes, read_mb_s, warm_s, expected_s",
    [
        (900_000_000, 90.0, 0.3, 10.3),        # a 900 MB file from a microSD at 90 MB/s: 10 s + the warm load
        (4_200_000_000, 4200.0, 0.5, 1.5),     # UFS 4.0: 1 s
        (45_000_000, 45.0, 0.0, 1.0),
    ],
)
def test_cold_load_by_hand(file_bytes, read_mb_s, warm_s, expected_s):
    assert ld.cold_load_seconds(file_bytes, read_mb_s, warm_s) == pytest.approx(expected_s)


def test_estimate_load_on_a_raspberry_pi_5_by_hand(catalog):
    """Pi 5: 17.1 GB/s, microSD at 90 MB/s; a 1 GB file with Qwen's 151,936-token vocabulary under the
    shipped constants (PAGE_IN_EFFICIENCY 0.5, 1.9 µs per vocabulary token, 0.24 s fixed)."""
    assert (ld.PAGE_IN_EFFICIENCY, ld.LOAD_S_PER_VOCAB_TOKEN, ld.LOAD_FIXED_S) == (0.5, 1.9e-6, 0.24)
    est = ld.estimate_load(catalog.device("raspberry-pi-5-8gb"), 1_000_000_000, prefill_s=2.0, vocab_size=151_936)
    # 1e9 / 8.55e9 = 0.11696 s; 151,936 × 1.9e-6 = 0.28868 s; + 0.24 s
    assert est.warm_s == pytest.approx(0.645637, abs=1e-5)
    # + 1e9 / 90e6 = 11.11111 s
    assert est.cold_s == pytest.approx(11.756748, abs=1e-5)
    assert est.cold_ttft_s == pytest.approx(13.756748, abs=1e-5)
    assert (est.storage_kind, est.storage_read_mb_s, est.storage_basis) == ("microSD (UHS-I SDR104)", 90.0, "estimated")


def test_every_estimate_carries_its_load_time(catalog):
    model, ftype = catalog.model("qwen2.5-1.5b-instruct"), catalog.file_type("Q4_K_M")
    est = evaluate(model, ftype, catalog.device("galaxy-s24-ultra"), Workload(), catalog)
    assert est.load is not None and est.speed is not None
    assert est.load.file_bytes == est.memory.weights_bytes
    assert est.load.cold_s == pytest.approx(est.memory.weights_bytes / 4200e6 + est.load.warm_s)
    assert est.load.cold_ttft_s == pytest.approx(est.load.cold_s + est.speed.ttft_s)
    # faster storage loads sooner: the same model on a Pi 5's microSD takes longer cold
    pi = evaluate(model, ftype, catalog.device("raspberry-pi-5-8gb"), Workload(), catalog)
    assert pi.load.cold_s > 10 * est.load.cold_s


# --------------------------------------------------------------------------- browser tabs and GPU copies


def _predict(catalog, device_id, model_id="qwen2.5-0.5b-instruct", quant_id=None, *, target=None, runtime=None, backend=None,
             browser_id=None):
    from advisor import api

    device = catalog.device(device_id)
    dep = api.make_deployment(device, target, browser_id=browser_id, catalog=catalog) if target else None
    return api.run_predict(model_id, quant_id, device, Workload(), catalog, runtime_id=runtime, backend_id=backend, deployment=dep)


def test_a_browser_load_is_a_later_visit_and_its_first_visit_a_download_not_predicted(catalog):
    """WebLLM (MLC on WebGPU) in Chrome on a Pixel 8: the weights come from the browser's storage,
    the cold figure is a later visit, the first visit downloads the model and runtime library first
    (not predicted), and the copy into WebGPU buffers is left out."""
    from advisor.engine import targets as tg
    from advisor.engine.runtimes import variant_of

    est = _predict(catalog, "pixel-8", target="browser", runtime="mlc")
    load = est.load
    assert (load.browser, load.browser_name, load.cold_case) == ("chrome-android", "Chrome (Android)", "later-visit")
    assert load.first_visit_download_bytes == tg.download_bytes(est, variant_of(est, catalog), catalog)
    assert load.first_visit_download_bytes > load.file_bytes  # the runtime's library comes with it
    assert load.vram_copy_excluded and est.backend == "webgpu"
    # the same formula: the stored weights read at the device's sequential rate, then the warm load
    assert load.cold_s == pytest.approx(load.file_bytes / (catalog.device("pixel-8").storage.read_mb_s * 1e6) + load.warm_s)
    assert "cold (a later visit)" in load.basis and "Chrome (Android)'s storage" in load.basis
    assert "the first visit downloads them first" in load.basis and ": not predicted" in load.basis
    assert "into WebGPU buffers is not included" in load.basis


def test_a_browsers_storage_note_travels_with_the_load(catalog):
    est = _predict(catalog, "iphone-16-pro", target="browser", runtime="mlc", browser_id="safari-ios")
    note = catalog.target("browser").browser("safari-ios").storage_note
    assert note and est.load.browser_storage_note == note and note in est.load.basis


@pytest.mark.parametrize("model_id, kept", [("qwen2.5-0.5b-instruct", True), ("llama-3.2-1b-instruct", False)])
def test_a_download_larger_than_the_browsers_cache_storage_has_no_later_visit(catalog, model_id, kept):
    """Mobile Safari keeps ≈ 300 MB in cache storage (catalog: storage_cache_limit 3e8): Qwen2.5-0.5B
    in q4f16_1 (≈ 285 MB with WebLLM's library) is kept and loads cold from storage on a later
    visit; Llama-3.2-1B (≈ 700 MB) is fetched again on every visit, so there is no cold figure."""
    est = _predict(catalog, "iphone-16-pro", model_id, target="browser", runtime="mlc", browser_id="safari-ios")
    load, limit = est.load, catalog.target("browser").browser("safari-ios").storage_cache_limit
    assert limit == 300_000_000 and (load.first_visit_download_bytes <= limit) is kept
    if kept:
        assert (load.cold_case, load.storage_cache_limit_exceeded) == ("later-visit", None) and load.cold_s > load.warm_s
    else:
        assert (load.cold_case, load.storage_cache_limit_exceeded, load.cold_s, load.cold_ttft_s) == (
            "every-visit-downloads", limit, None, None)
        assert f"exceed Safari (iOS / iPadOS)'s cache storage of {format_size(limit)} (estimated)" in load.basis


def test_predict_and_the_dashboard_words_say_every_visit_downloads(capsys, catalog):
    from advisor.wording import load_rows, load_text

    code, out, err = run(capsys, "predict", "--model", "llama-3.2-1b-instruct", "--device", "iphone-16-pro", "--target", "browser",
                         "--runtime", "mlc", "--format", "json")
    assert code == 0, err
    load = json.loads(out)["load"]
    assert (load["cold_case"], load["load_cold_s"], load["storage_cache_limit_exceeded_bytes"]) == ("every-visit-downloads", None, 300_000_000)
    code, out, err = run(capsys, "predict", "--model", "llama-3.2-1b-instruct", "--device", "iphone-16-pro", "--target", "browser",
                         "--runtime", "mlc", "--format", "csv")
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["load (cold, later visit)"]["value"] == "none" and "every visit downloads the model again" in rows["load (cold, later visit)"]["basis"]
    assert "load (after the download)" in rows and "first visit" not in rows and rows["every visit"]["value"].startswith("not predicted")
    assert "cold-start TTFT, later visit" not in rows
    load = _predict(catalog, "iphone-16-pro", "llama-3.2-1b-instruct", target="browser", runtime="mlc").load
    text = load_text(load)
    assert "Load (cold, later visit): none — every visit downloads the model again" in text
    assert "Every visit: not predicted" in text and "warm" not in text
    # one wording: predict's rows are the dashboard's lines
    said = load_rows(load)
    assert all(rows[item] == {"item": item, "value": value, "basis": basis} for item, value, basis in said)
    assert len(text.splitlines()) == len(said) == 4


def test_wasm_in_a_browser_copies_nothing_into_a_gpu(catalog):
    est = _predict(catalog, "pixel-8", quant_id="Q4_K_M", target="browser", runtime="wllama")
    assert est.backend == "wasm" and est.load.browser == "chrome-android"
    assert not est.load.vram_copy_excluded and "not included" not in est.load.basis


@pytest.mark.parametrize("device_id, backend, copied", [
    ("desktop-rtx4090-24gb", None, True),      # llama.cpp on CUDA: every tensor copied into VRAM
    ("desktop-rtx4090-24gb", "cpu", False),    # llama.cpp kept on the CPU: the GPU holds nothing
    ("jetson-orin-nano-super-8gb", None, False),  # unified memory
    ("macbook-air-m2-8gb", None, False),       # Metal maps the host buffer
    ("raspberry-pi-5-8gb", None, False),
])
def test_the_vram_copy_is_flagged_where_weights_go_to_a_discrete_gpu(catalog, device_id, backend, copied):
    est = _predict(catalog, device_id, quant_id="Q4_K_M", runtime="llama.cpp" if backend else None, backend=backend)
    assert est.load.vram_copy_excluded is copied
    assert ("the copy of the weights into VRAM is not included" in est.load.basis) is copied
    assert (est.load.browser, est.load.cold_case, est.load.first_visit_download_bytes) == (None, "first-start", None)


def test_every_path_under_a_browser_target_loads_from_the_browser(catalog):
    """recommend (best_quant), the runtime grid, the RAM tiers and a report's rows all evaluate
    under the deployment with its browser: their loads are later visits."""
    from advisor import api
    from advisor.analysis import variant_grid
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints
    from advisor.engine.tiers import tiers

    device = catalog.device("pixel-8")
    dep = api.make_deployment(device, "browser", catalog=catalog)
    c = Constraints(runtimes=ALL_RUNTIMES, deployment=dep)
    rec = api.run_recommend(device, Workload(), c, catalog)
    assert rec.ranked and {e.load.browser for e in rec.ranked} == {"chrome-android"}
    grid = [e for e in variant_grid(device, Workload(), c, catalog) if e.load is not None]
    assert grid and {e.load.cold_case for e in grid} == {"later-visit"}
    picks = tiers([device, catalog.device("galaxy-s24-ultra")], catalog.target("browser"), Workload(), catalog, Constraints())
    loads = [e.load for p in picks for e in p.estimates]
    assert loads and all(ld.cold_case == "later-visit" for ld in loads)
    native = api.run_recommend(device, Workload(), Constraints(runtimes=ALL_RUNTIMES), catalog)
    assert {e.load.browser for e in native.ranked} == {None}


def test_predict_names_the_later_visit_the_first_visits_download_and_the_vram_copy(capsys):
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--device", "pixel-8", "--target", "browser",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    load = d["load"]
    assert (load["browser"], load["cold_case"], load["first_visit_predicted"], load["vram_copy_excluded"]) == (
        "chrome-android", "later-visit", False, True)
    assert load["first_visit_download_bytes"] == d["download_bytes"]
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--device", "pixel-8", "--target", "browser",
                         "--format", "csv")
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(out))}
    assert "load (cold)" not in rows and "cold-start TTFT" not in rows
    assert "a later visit: the weights read from Chrome (Android)'s storage" in rows["load (cold, later visit)"]["basis"]
    assert rows["first visit"]["value"] == f"not predicted (download of {format_size(d['download_bytes'])})"
    assert rows["load, VRAM copy"]["value"] == "not included" and "WebGPU buffers" in rows["load, VRAM copy"]["basis"]
    assert "cold-start TTFT, later visit" in rows


@pytest.mark.parametrize("device_id, vram_row", [("desktop-rtx4090-24gb", True), ("raspberry-pi-5-8gb", False)])
def test_predict_on_a_native_device_says_first_start_and_the_vram_copy_where_made(capsys, device_id, vram_row):
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--quant", "Q4_K_M", "--device", device_id,
                         "--format", "csv")
    assert code == 0, err
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["load (cold)"]["basis"].startswith("the first start after boot: read from") and "first visit" not in rows
    assert ("load, VRAM copy" in rows) is vram_row
    if vram_row:
        assert rows["load, VRAM copy"]["value"] == "not included" and "discrete GPU's VRAM" in rows["load, VRAM copy"]["basis"]
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-0.5b-instruct", "--quant", "Q4_K_M", "--device", device_id,
                         "--format", "json")
    load = json.loads(out)["load"]
    assert (load["browser"], load["cold_case"], load["first_visit_predicted"], load["vram_copy_excluded"]) == (
        None, "first-start", None, vram_row)


def test_a_report_names_the_storage_read_and_what_load_times_include(capsys, tmp_path):
    md, csv_path = tmp_path / "r.md", tmp_path / "r.csv"
    code, out, err = run(capsys, "report", "--model", "qwen2.5-0.5b-instruct", "--device", "desktop-rtx4090-24gb", "--device",
                         "raspberry-pi-5-8gb", "-o", str(tmp_path / "r"), "--format", "md", "--format", "csv")
    assert code == 0, err
    text = md.read_text()
    storage = next(line for line in text.splitlines() if line.startswith("| Raspberry Pi 5 (8 GB) | storage read |"))
    assert storage.startswith("| Raspberry Pi 5 (8 GB) | storage read | 90 MB/s | estimated | microSD (UHS-I SDR104); UHS-I SDR104 bus")
    assert storage.endswith("; cold load = the model file read at this rate + the warm load |")
    bullet = next(line for line in text.splitlines() if line.startswith("- Load times"))
    assert "1 row of the comparison makes that copy (load_vram_copy_excluded)" in bullet
    assert "browser" not in bullet
    rows = {r["device"]: r for r in csv.DictReader(io.StringIO(csv_path.read_text())) if r["pick"] == "True"}
    assert rows["desktop-rtx4090-24gb"]["load_vram_copy_excluded"] == "True"
    assert rows["raspberry-pi-5-8gb"]["load_vram_copy_excluded"] == "False"


def test_a_browser_report_says_its_cold_loads_are_later_visits(capsys, tmp_path):
    md = tmp_path / "r.md"
    code, out, err = run(capsys, "report", "--model", "qwen2.5-0.5b-instruct", "--device", "pixel-8", "--target", "browser",
                         "--runtime", "mlc", "-o", str(md))
    assert code == 0, err
    text = md.read_text()
    storage = next(line for line in text.splitlines() if line.startswith("| Google Pixel 8 | storage read |"))
    assert "in Chrome (Android) the weights are read from the browser's storage" in storage and "not predicted" in storage
    bullet = next(line for line in text.splitlines() if line.startswith("- Load times"))
    assert "In a browser tab (Chrome (Android))" in bullet and "the cold figure is a later visit" in bullet
    assert "the first visit downloads them first, which is not predicted" in bullet


# --------------------------------------------------------------------------- profiles


def test_every_shipped_profile_gives_its_storage_with_a_source(catalog):
    shipped = [d for d in catalog.devices.values() if d.measured_at is None]
    missing = [d.id for d in shipped if d.storage is None]
    assert not missing
    for d in shipped:
        assert d.storage.kind and d.storage.source, d.id
        assert 10 <= d.storage.read_mb_s <= 100_000


@pytest.mark.parametrize(
    "replace, message",
    [
        ("read_mb_s = -5.0", "field 'storage.read_mb_s': a sequential read of -5 MB/s is outside 10–100,000 MB/s; "
                             "give it in decimal MB/s (a 7 GB/s NVMe drive is 7000)"),
        ("read_mb_s = 1e12", "field 'storage.read_mb_s': a sequential read of 1e+12 MB/s is outside 10–100,000 MB/s; "
                             "give it in decimal MB/s (a 7 GB/s NVMe drive is 7000)"),
        ("read_mb_s = 7.0", "field 'storage.read_mb_s': a sequential read of 7 MB/s is outside 10–100,000 MB/s; "
                            "give it in decimal MB/s (a 7 GB/s NVMe drive is 7000)"),
        ("read_mbs = 90.0", "unknown field 'storage.read_mbs'; did you mean 'read_mb_s'?"),
        ('read_mb_s = "fast"', "field 'storage.read_mb_s': Input should be a valid number"),
    ],
)
def test_bad_storage_in_a_profile_is_one_error_line(capsys, tmp_path, catalog, replace, message):
    src = (catalog.root / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
    assert "read_mb_s = 90.0" in src
    f = tmp_path / "mine.toml"
    f.write_text(src.replace("read_mb_s = 90.0", replace))
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device-file", str(f))
    assert code == 1 and out == ""
    assert err.startswith(f"Error: {f}: {message}"), err
    assert len(err.strip().splitlines()) == 1


def test_a_profile_without_storage_still_predicts_and_says_why_no_cold_load(capsys, tmp_path, catalog):
    src = (catalog.root / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
    f = tmp_path / "old.toml"
    f.write_text(src.split("\n[storage]")[0] + "\n")
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device-file", str(f), "--format", "json")
    assert code == 0, err
    load = json.loads(out)["load"]
    assert load["load_warm_s"] > 0 and load["load_cold_s"] is None and load["cold_start_ttft_s"] is None
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device-file", str(f))
    assert "gives no storage read speed" in out


def test_predict_reports_load_and_cold_ttft(capsys):
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--quant", "Q4_K_M", "--device",
                         "raspberry-pi-5-8gb", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    load, sp = d["load"], d["speed"]
    assert load["file_bytes"] == d["memory"]["weights_bytes"]
    assert load["load_cold_s"] == pytest.approx(load["file_bytes"] / 90e6 + load["load_warm_s"], abs=2e-3)
    assert load["cold_start_ttft_s"] == pytest.approx(load["load_cold_s"] + sp["ttft_s"], abs=2e-3)
    assert d["device"]["storage"] == "microSD (UHS-I SDR104)" and d["device"]["storage_read_mb_s"] == 90.0
    code, out, err = run(capsys, "predict", "--model", "qwen2.5-1.5b-instruct", "--quant", "Q4_K_M", "--device", "raspberry-pi-5-8gb",
                         "--format", "csv")
    rows = {line.split(",")[0]: line for line in out.splitlines()}
    assert {"load (warm)", "load (cold)", "cold-start TTFT"} <= set(rows)
    assert "90 MB/s (estimated)" in rows["load (cold)"]


# --------------------------------------------------------------------------- RISC-V


def test_riscv_profiles_run_on_the_cpu_riscv_prior_with_a_wide_band(catalog):
    factors = catalog.calibration["cpu-riscv"]
    assert factors.n_measurements == 0 and "prior" in factors.basis
    measured = [f for f in catalog.calibration.values() if f.n_measurements > 0]
    # no narrower than any measured llama.cpp path (a runtime path's band may be twice its llama.cpp prior's)
    assert factors.decode_band >= max(f.decode_band for f in measured if ":" not in f.path)
    assert factors.prefill_band >= max(f.prefill_band for f in measured if ":" not in f.path)
    rvv = set()
    for device_id in RISCV:
        d = catalog.device(device_id)
        assert d.cpu.arch == "riscv64" and "rv64gc" in d.cpu.isa
        assert execution_path(d) == "cpu-riscv"
        if "rvv1.0" in d.cpu.isa:
            rvv.add(device_id)
        est = evaluate(catalog.model("qwen2.5-0.5b-instruct"), catalog.file_type("Q4_K_M"), d, Workload(), catalog)
        assert est.backend == "cpu-riscv" and "cpu-riscv" in est.speed.basis and "prior" in est.speed.basis
        low, high = est.speed.decode_band.low, est.speed.decode_band.high
        assert high / low == pytest.approx((1 + factors.decode_band) ** 2)
    assert rvv == {"banana-pi-bpi-f3-4gb", "milk-v-jupiter-8gb"}  # the K1 boards; U74 and P550 have no vector unit


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md"])
def test_riscv_in_every_front_end(capsys, tmp_path, fmt):
    code, out, err = run(capsys, "devices", "--search", "riscv64", "--format", fmt)
    assert code == 0, err
    for device_id in RISCV:
        assert device_id in out
    code, out, err = run(capsys, "recommend", "--device", "banana-pi-bpi-f3-4gb", "--top", "2", "--format", fmt)
    assert code == 0, err
    assert "lfm2-1.2b" in out or "qwen" in out  # a pick, with figures from the cpu-riscv path
    code, out, err = run(capsys, "devices-for", "--model", "qwen2.5-0.5b-instruct", "--class", "sbc", "--format", fmt)
    assert code in (0, 3), err
    assert "milk-v-jupiter-8gb" in out
    path = tmp_path / f"riscv.{ 'md' if fmt == 'table' else fmt}"
    code, out, err = run(capsys, "report", "--model", "qwen2.5-0.5b-instruct", "--device", "starfive-visionfive-2-8gb",
                         "--device", "sifive-hifive-premier-p550-16gb", "-o", str(path))
    assert code in (0, 3), err
    assert "sifive-hifive-premier-p550-16gb" in path.read_text()


def test_on_riscv_only_runtimes_built_for_it_are_offered(capsys, catalog):
    code, out, err = run(capsys, "recommend", "--device", "banana-pi-bpi-f3-4gb", "--runtime", "all", "--format", "json")
    assert code == 0, err
    assert {c["runtime"] for c in json.loads(out)["candidates"]} == {"llama.cpp"}
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "banana-pi-bpi-f3-4gb", "--runtime", "mnn")
    assert code == 1
    assert err.strip() == "Error: mnn has no riscv64 build, so it does not run on Banana Pi BPI-F3 (4 GB); runtimes there: llama.cpp"
    for rt in catalog.runtimes.values():  # a riscv64 build is claimed only with its source
        for b in rt.backends:
            assert "riscv64" not in b.cpu_arches or b.cpu_arches_source, (rt.id, b.id)


@pytest.mark.parametrize("ram", ["4GB", "8GB", "16GB"])
def test_a_ram_size_never_stands_for_a_board_whose_speed_is_a_prior_only(capsys, ram):
    """--ram takes the slowest catalog device with that RAM: a RISC-V board (cpu-riscv: no measured
    runs) would become every 8 GB device's yardstick; it is named with --device instead."""
    code, out, err = run(capsys, "recommend", "--ram", ram, "--format", "json")
    assert code == 0, err
    peers = json.loads(out)["device"]["stands_for"]
    assert peers and not set(RISCV) & set(peers)
    assert peers[0].startswith("raspberry-pi-")  # the slowest measured-path device, as before the RISC-V boards


@pytest.mark.parametrize(
    "cpuinfo, isa",
    [
        ("processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdcv_zicbom_zicboz_zicntr_zicond\nmmu\t\t: sv39\n", ["rv64gc", "rvv1.0"]),
        ("isa\t\t: rv64imafdc_zicntr_zicsr_zifencei_zihpm\n", ["rv64gc"]),  # VisionFive 2 (U74): no V
        ("processor : 0\nflags : fpu vme\n", []),
        (None, []),
    ],
)
def test_riscv_isa_from_cpuinfo(cpuinfo, isa):
    from advisor.hardware import parse_riscv_isa

    assert parse_riscv_isa(cpuinfo) == isa


# --------------------------------------------------------------------------- report on an imported model

CONFIG = {  # a small llama-architecture config.json (the shape of SmolLM2-135M's)
    "model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576, "intermediate_size": 1536,
    "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 8192,
    "tie_word_embeddings": True, "_name_or_path": "example/tiny-llama-config",
}


def _header_file(tmp_path: Path) -> Path:
    from test_model_import import _tiny_moe_header

    path = tmp_path / "tiny-moe-Q4_K_M.gguf"
    path.write_bytes(_tiny_moe_header())
    return path


def test_report_on_a_gguf_header(capsys, tmp_path):
    path = _header_file(tmp_path)
    out_file = tmp_path / "r.json"
    code, out, err = run(capsys, "report", "--gguf-header", str(path), "--device", "raspberry-pi-5-8gb", "--device",
                         "galaxy-s24-ultra", "-o", str(out_file))
    assert code == 0, err
    rows = json.loads(out_file.read_text())["comparison"]
    assert {r["model"] for r in rows} == {"tiny-moe-q4-k-m"} and {r["quant"] for r in rows} == {"Q4_K_M"}
    assert all(r["cold_start_ttft_s"] > r["ttft_s"] for r in rows)
    # beside a catalog model, compared in the file's own type
    code, out, err = run(capsys, "report", "--gguf-header", str(path), "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb",
                         "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["comparison"]
    assert {r["model"] for r in rows} == {"tiny-moe-q4-k-m", "qwen3-0.6b"} and {r["quant"] for r in rows} == {"Q4_K_M"}


def test_report_on_a_config_json_and_with_a_requirements_file(capsys, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    req = tmp_path / "req.toml"
    req.write_text('models = ["qwen3-0.6b"]\ndevices = ["raspberry-pi-5-8gb"]\nquants = ["Q4_K_M", "Q8_0"]\n')
    code, out, err = run(capsys, "report", "--requirements", str(req), "--model-config", str(cfg), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    models = {r["model"] for r in data["comparison"]}
    assert "qwen3-0.6b" in models and len(models) == 2  # the file's model kept, the imported one added


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--quant", "Q8_0"], "Error: the GGUF file is Q4_K_M; drop --quant Q8_0 or add --quant Q4_K_M (its tensor types are fixed)"),
        (["--model-config", "{cfg}"], "Error: give exactly one of --gguf-header PATH or --model-config PATH"),
    ],
)
def test_report_import_errors(capsys, tmp_path, extra, message):
    path = _header_file(tmp_path)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    args = [a.replace("{cfg}", str(cfg)) for a in extra]
    code, out, err = run(capsys, "report", "--gguf-header", str(path), "--device", "raspberry-pi-5-8gb", *args)
    assert code == 1 and out == ""
    assert err.strip() == message


def test_report_on_a_missing_header_is_one_error(capsys, tmp_path):
    code, out, err = run(capsys, "report", "--gguf-header", str(tmp_path / "nope.gguf"), "--device", "raspberry-pi-5-8gb")
    assert code == 1 and out == "" and err.startswith("Error: ") and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- this machine's storage


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="needs posix_fadvise (Linux)")
def test_storage_read_is_measured_from_a_dropped_file(tmp_path):
    from advisor.hardware import measure_storage_read

    rate = measure_storage_read(tmp_path, size_bytes=16 * 1024**2, repeats=1)
    assert rate is not None and 10 <= rate <= 100_000  # what a profile accepts
    assert not list(tmp_path.iterdir())  # the test file is removed


def test_a_report_row_whose_download_exceeds_the_cache_storage_has_no_cold_figure(capsys, tmp_path):
    csv_path = tmp_path / "r.csv"
    code, out, err = run(capsys, "report", "--model", "llama-3.2-1b-instruct", "--model", "qwen2.5-0.5b-instruct", "--device",
                         "iphone-16-pro", "--target", "browser", "--runtime", "mlc", "--format", "csv", "-o", str(csv_path))
    assert code == 0, err
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(csv_path.read_text()))}
    assert (rows["llama-3.2-1b-instruct"]["load_cold_case"], rows["llama-3.2-1b-instruct"]["load_cold_s"]) == ("every-visit-downloads", "")
    assert rows["qwen2.5-0.5b-instruct"]["load_cold_case"] == "later-visit" and float(rows["qwen2.5-0.5b-instruct"]["load_cold_s"]) > 0
    code, out, err = run(capsys, "report", "--model", "llama-3.2-1b-instruct", "--model", "qwen2.5-0.5b-instruct", "--device",
                         "iphone-16-pro", "--target", "browser", "--runtime", "mlc", "--format", "md")
    bullet = next(ln for ln in out.splitlines() if ln.startswith("- Load times"))
    assert "1 row of the comparison has no cold figure (load_cold_case 'every-visit-downloads')" in bullet

"""wllama in a real browser: the recorded runs (tests/data/wllama_browser/, written by
benchmarks/wllama_browser.py) against the engine's current wllama predictions, without a browser;
and one live run in headless Chromium, only where chromium and the unpacked @wllama/wllama package
($ADVISOR_WLLAMA_DIR) are present (nothing is downloaded)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDS = sorted((ROOT / "tests" / "data" / "wllama_browser").glob("*.json"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _predicted(record: dict) -> dict:
    import wllama_browser

    b = record["browser"]
    return wllama_browser.predicted(record["model"], record["quant"], b["settings"]["n_ctx"], b["page"]["threads"])


def test_records_are_present():
    assert len(RECORDS) >= 3


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_kv_cache_is_what_wllama_allocates(path):
    """llama.cpp inside wllama logs its KV buffer at load: the engine predicts it to the byte
    (f16, every context cell preallocated; wllama's kv_unified default keeps one n_ctx cache for
    its 4 sequences)."""
    record = json.loads(path.read_text())
    buffers = record["browser"]["llama_buffers"]
    assert buffers["kv_cells"] == record["browser"]["settings"]["n_ctx"]
    assert (buffers["kv_k_dtype"], buffers["kv_v_dtype"]) == ("f16", "f16")
    # the log prints MiB to two decimals
    assert abs(_predicted(record)["kv_cache_bytes"] - buffers["kv_cache_bytes"]) <= 0.005 * 2**20


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_weights_are_the_model_buffer(path):
    record = json.loads(path.read_text())
    logged = record["browser"]["llama_buffers"]["model_buffer_bytes"]
    assert abs(_predicted(record)["weights_bytes"] - logged) <= 0.005 * 2**20


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_wasm_heap_holds_the_buffers(path):
    """The WebAssembly.Memory holds llama.cpp's model, KV and compute buffers: it is at least
    their sum, and within the catalog's 4 GiB heap cap."""
    record = json.loads(path.read_text())
    b = record["browser"]
    buffers = b["llama_buffers"]
    heap = b["wasm_heap_bytes"]["after_generate"]
    assert buffers["model_buffer_bytes"] + buffers["kv_cache_bytes"] + buffers["compute_buffer_bytes"] <= heap <= 4 * 2**30


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_predicted_memory_covers_the_renderer(path):
    """The tab's memory as the engine counts it (weights + KV + compute + overhead) against the
    renderer's growth from the page without a model to its peak: within the 80 % band of
    ±50 % (the renderer also holds the GGUF Blob the page fetched)."""
    import wllama_browser

    record = json.loads(path.read_text())
    ren = record["browser"]["renderer"]
    grown = wllama_browser.peak_rss(record["browser"]) - ren["before_model"]["rss_bytes"]
    total = _predicted(record)["total_bytes"]
    assert 0.5 * total <= grown <= 1.5 * total, (grown / 2**20, total / 2**20)


@pytest.mark.xfail(strict=True, reason="with wasm's measured compute factor (empirical.WASM_DECODE_COMPUTE_FACTOR) "
                   "the engine predicts 25.7 tok/s (10.8-61.0) for SmolLM2-135M at 1 thread; wllama measured 6.7-9.7: "
                   "the prior's native 1-thread compute on this VM is ~2.9x high (native llama.cpp measured 72-109)")
@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.stem)
def test_wasm_decode_speed_inside_the_predicted_band(path):
    import wllama_browser

    record = json.loads(path.read_text())
    _, decode = wllama_browser.wasm_rates(record["browser"])
    low, high = _predicted(record)["decode_band"]
    assert low <= decode <= high, (decode, low, high)


WLLAMA_DIR = os.environ.get("ADVISOR_WLLAMA_DIR")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.extra
@pytest.mark.skipif(not WLLAMA_DIR, reason="set ADVISOR_WLLAMA_DIR to an unpacked @wllama/wllama 3.13.0 (npm pack)")
def test_live_wllama_run(twin_cache, catalog):
    """SmolLM2-135M Q8_0 at n_ctx 512 in headless Chromium: the page loads it multi-threaded, the KV
    cache llama.cpp logs is the predicted one, and it generates."""
    from advisor.validate.twin import build_twin
    from advisor.validate.wllama_browser import chromium_path, measure

    if not chromium_path():
        pytest.skip("no chromium on the PATH")
    gguf = build_twin(catalog.models["smollm2-135m-instruct"], "Q8_0", twin_cache, threads=os.cpu_count())
    got = measure(gguf, n_ctx=512, threads=2, prompt_tokens=32, output_tokens=8, repeats=1, folder=WLLAMA_DIR)
    assert got["page"]["cross_origin_isolated"] and got["page"]["multithread"] and got["page"]["threads"] == 2
    assert got["llama_buffers"]["kv_cells"] == 512
    record = {"model": "smollm2-135m-instruct", "quant": "Q8_0", "browser": got}
    assert abs(_predicted(record)["kv_cache_bytes"] - got["llama_buffers"]["kv_cache_bytes"]) <= 0.005 * 2**20
    assert got["runs"][0]["timings"]["predicted_n"] == 8 and got["runs"][0]["timings"]["prompt_n"] == 32
    assert got["wasm_heap_bytes"]["after_generate"] > got["llama_buffers"]["model_buffer_bytes"]

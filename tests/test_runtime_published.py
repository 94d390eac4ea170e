"""The published runtime measurements (../shared/reference/runtime-measurements.csv) mapped onto
the catalog by benchmarks/runtime_published.py: every row is used or excluded with a reason, every
id it maps to exists, and the values are SI and sane."""

import csv
import dataclasses
import math

import pytest

from benchmarks import runtime_published as rp

pytestmark = [pytest.mark.skipif(not rp.REFERENCE.exists(), reason=f"{rp.REFERENCE} not present"), pytest.mark.catalog_data]


@pytest.fixture(scope="module")
def csv_rows():
    with open(rp.REFERENCE, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def loaded(shipped_catalog):
    return rp.load_runtime_rows(shipped_catalog)


@pytest.fixture(scope="module")
def refs():
    return rp.reference_devices()


def test_every_row_is_mapped_or_excluded_once(loaded, csv_rows):
    used, excluded = loaded
    lines = sorted([r.line for r in used] + [x.line for x in excluded])
    assert lines == list(range(2, len(csv_rows) + 2))


def test_every_excluded_row_names_its_reasons(loaded):
    _, excluded = loaded
    kinds = {"runtime", "metric", "suspect", "model", "pending model", "format", "device", "workload", "value"}
    for x in excluded:
        assert x.reasons, x
        assert all(r.kind in kinds and r.detail.strip() for r in x.reasons), x


def test_mapped_ids_exist(loaded, catalog, refs):
    used, _ = loaded
    assert used
    for r in used:
        assert r.model_id in catalog.models, r.label
        assert r.runtime in rp.RUNTIME_BACKENDS and r.backend in rp.RUNTIME_BACKENDS[r.runtime], r.label
        if r.runtime == "llama.cpp":
            assert r.format_id in catalog.file_types, r.label
        if r.metric == "file_bytes":
            assert r.device is None, r.label
        else:
            assert r.device is not None and (r.device.id in catalog.devices or r.device.id in refs), r.label


def test_values_are_finite_positive_si(loaded):
    used, _ = loaded
    for r in used:
        assert math.isfinite(r.value) and r.value > 0, r.label
        assert 0 < r.weight <= 1
        if r.metric in ("file_bytes", "peak_rss_bytes"):
            assert r.value > 1e7, r.label  # bytes, not MB
        if r.metric == "ttft":
            assert r.value < 60, r.label


def test_map_targets_exist(catalog, refs):
    assert set(rp.MODEL_MAP.values()) <= set(catalog.models)
    for profile_id, _ in rp.DEVICE_MAP.values():
        assert rp.resolve_device(profile_id, catalog, refs).id == profile_id
    for (runtime, _), (format_id, _) in rp.FORMATS.items():
        assert runtime in rp.RUNTIME_BACKENDS
        if runtime == "llama.cpp" and format_id not in (rp.NOT_STATED, "MXFP4"):
            assert format_id in catalog.file_types, format_id


def test_reference_profiles_are_named_by_their_id(refs):
    assert refs and all(stem == d.id for stem, d in refs.items())


def test_no_stale_map_entries(csv_rows):
    """Every key of the maps occurs in the data: a typo cannot silently drop rows."""
    models = {r["model"] for r in csv_rows}
    devices = {r["device"] for r in csv_rows}
    formats = {(rp.RUNTIME_IDS[r["runtime"]], r["format"]) for r in csv_rows if r["runtime"] in rp.RUNTIME_IDS}
    assert set(rp.MODEL_MAP) <= models
    assert set(rp.PENDING_MODEL_MAP) <= models
    assert set(rp.DEVICE_MAP) <= devices
    assert set(rp.FORMATS) <= formats
    assert set(rp.MODEL_ASSUMPTIONS) <= set(rp.MODEL_MAP)
    for pattern, _ in rp.SUSPECT_ROWS + rp.ROW_NOTES:
        assert any(all(r[k] == v for k, v in pattern.items()) for r in csv_rows), pattern


@pytest.mark.parametrize(
    "line, runtime, backend, format_id, model_id, device_key, metric, value",
    [
        (2, "executorch", "xnnpack", "bf16", "llama-3.2-1b-instruct", "ref-oneplus-12-16gb", "decode", 19.2),
        (5, "executorch", "xnnpack", "bf16", "llama-3.2-1b-instruct", "artifact", "file_bytes", 2472.5e6),
        (11, "executorch", "xnnpack", "8da4w-g32-eo8", "llama-3.2-1b-instruct", "ref-oneplus-12-16gb", "peak_rss_bytes", 2014.3e6),
        (34, "executorch", "xnnpack", "8da4w-g128-e4g32", "llama-3-8b-instruct", "ref-galaxy-s24-8gb", "decode", 10.91),
        (72, "executorch", "vulkan", "8da4w-g64", "llama-3.2-1b-instruct", "ref-galaxy-s24-8gb", "decode", 52.68),
        (83, "litert-lm", "gpu", "q4", "gemma-3-1b-it", "galaxy-s24-ultra", "prefill", 1876.5),
        (105, "litert-lm", "cpu", "dynamic_int8", "qwen2.5-1.5b-instruct", "galaxy-s24-ultra", "prefill", 113.7),
        (181, "mlc", "webgpu", "q4f16_1", "llama-3.2-3b-instruct", "ref-pixel-8-pro-12gb", "prefill", 5.38),
        (176, "mlc", "cuda", "q4f16_ft", "llama-2-7b-chat", "jetson-agx-orin-32gb", "decode", 42.9),
        (189, "mlx", "metal", "4bit", "llama-3.1-8b-instruct", "ref-m4-pro-16c-64gb", "peak_rss_bytes", 13523e6),
        (217, "mlx", "metal", "4bit-g128", "llama-3.2-1b-instruct", "macbook-air-m3-8gb", "decode", 78.5),
        (211, "llama.cpp", "metal", "Q4_K_M", "llama-3.1-8b-instruct", "ref-m2-pro-19c-32gb", "decode", 34.1),  # Ollama
        (243, "llama.cpp", "opencl", "Q4_0", "qwen2.5-1.5b-instruct", "galaxy-s24-ultra", "decode", 27.87),
        (226, "ort-genai", "cpu", "int4", "phi-3-mini-4k-instruct", "artifact", "file_bytes", 2720e6),
        # a CUDA build: fp16 scales and embedding (int4-fp16), not the CPU build's fp32 (int4)
        (225, "ort-genai", "cuda", "int4-fp16", "phi-2", "desktop-rtx4090-24gb", "decode", 219.8),
    ],
)
def test_mapped_rows(loaded, line, runtime, backend, format_id, model_id, device_key, metric, value):
    r = {r.line: r for r in loaded[0]}[line]
    assert (r.runtime, r.backend, r.format_id, r.model_id, r.device_key, r.metric) == (
        runtime, backend, format_id, model_id, device_key, metric)
    assert r.value == pytest.approx(value)


@pytest.mark.parametrize(
    "line, kind, detail",
    [
        (120, "runtime", "cactus: Cactus runs its own engine"),
        (230, "runtime", "other (ik_llama.cpp): none of the seven runtimes"),
        (74, "metric", "load_s: load time is not predicted per runtime"),
        (233, "suspect", "user build the reporter calls a regression"),
        (173, "suspect", "user run, power mode possibly not MAXN"),
        (223, "suspect", "thermally throttled steady state"),
        (44, "model", "Gemma-4-E2B-it is not in the catalog"),
        (75, "format", "not stated by the source ('quantized (not specified)')"),
        (212, "workload", "time to first token without a stated prompt length"),
        (207, "format", "mxfp4-q8 on mlx/metal: MXFP4 experts with 8-bit affine attention"),
        (60, "format", "4w on executorch/webgpu: the layout of ExecuTorch's WebGPU 4-bit build is not published"),
    ],
)
def test_excluded_rows(loaded, line, kind, detail):
    x = {x.line: x for x in loaded[1]}[line]
    assert x.reason.kind == kind
    assert x.reason.detail.startswith(detail)


def test_a_pending_model_maps_once_the_catalog_has_it(catalog):
    """OLMoE rows wait for the MoE branch; with the id in the catalog they map (here a stand-in
    spec under that id: the mapping only needs the id)."""
    used, excluded = rp.load_runtime_rows(catalog)
    olmoe = [x for x in excluded if x.model == "OLMoE-1B-7B-0924"]
    if "olmoe-1b-7b-0924-instruct" in catalog.models:
        assert not olmoe
        return
    assert olmoe and all(x.reason.kind == "pending model" for x in olmoe)
    stand_in = catalog.model("qwen3-0.6b").model_copy(update={"id": "olmoe-1b-7b-0924"})
    grown = dataclasses.replace(catalog, models={**catalog.models, "olmoe-1b-7b-0924": stand_in})
    used2, _ = rp.load_runtime_rows(grown)
    mapped = [r for r in used2 if r.model_id == "olmoe-1b-7b-0924"]
    assert {r.line for r in mapped} == {x.line for x in olmoe}  # all six: pp/tg/file on the Pi 5
    assert {r.format_id for r in mapped} == {"Q4_0", "Q8_0"} and len(used2) == len(used) + len(olmoe)


def _row(**cols):
    base = {"prompt_tokens": "", "output_tokens": "", "context": "", "threads": ""}
    return base | cols


@pytest.mark.parametrize(
    "cols, metric, expected, n_notes",
    [
        ({}, "decode", (4096, 128, 128, None), 3),
        ({}, "prefill", (4096, 512, 128, None), 3),
        ({"prompt_tokens": "64"}, "ttft", (4096, 64, 128, None), 2),
        ({"prompt_tokens": "1024", "output_tokens": "256", "context": "4096", "threads": "4"}, "decode", (4096, 1024, 256, 4), 0),
        ({"prompt_tokens": "512", "context": "512"}, "decode", (513, 512, 1, None), 2),  # decode at this depth
        ({"prompt_tokens": "32159", "output_tokens": "1000", "context": "33000"}, "decode", (33159, 32159, 1000, None), 1),
        ({"context": "1280"}, "prefill", (1280, 512, 128, None), 2),
    ],
)
def test_workload_defaults(cols, metric, expected, n_notes):
    w, notes, why = rp.workload_for(_row(**cols), metric)
    assert why is None
    assert (w.context_tokens, w.prompt_tokens, w.output_tokens, w.threads) == expected
    assert len(notes) == n_notes


def test_ttft_needs_a_prompt_length():
    w, _, why = rp.workload_for(_row(), "ttft")
    assert w is None and why == rp.Reason("workload", "time to first token without a stated prompt length")


def test_report_counts_every_row(loaded):
    used, excluded = loaded
    text = rp.report(used, excluded)
    assert f"{len(used)} mapped, {len(excluded)} excluded" in text
    assert f"| {len(used)} |\n" in text  # the total of the runtime × backend × metric table
    listed = [int(line.split("|")[1]) for line in text.splitlines() if line[:3] in {f"| {d}" for d in "123456789"}]
    assert sorted(listed) == sorted([r.line for r in used] + [x.line for x in excluded])


@pytest.mark.catalog_data
def test_a_device_measured_on_a_one_device_path_is_predicted_from_its_own_rows(catalog):
    """LiteRT-LM's GPU path is measured on one phone, so the path keeps llama.cpp's OpenCL prior
    (prefill 44 tok/s for Gemma-3n-E2B); that phone's own fit ([[devices]] in
    runtime-calibration.toml) gives it its measured 816 tok/s, and no other device moves."""
    from advisor.api import run_predict
    from advisor.engine.evaluate import factors_for
    from advisor.engine.runtimes import resolve_variant
    from advisor.records import Workload

    w = Workload(4096, 1024, 256)
    est = run_predict("gemma-3n-e2b-it", "int4", catalog.device("galaxy-s24-ultra"), w, catalog, runtime_id="litert-lm",
                      backend_id="gpu")
    assert est.speed.prefill_tokens_per_s == pytest.approx(816.4, rel=0.25)  # runtime-measurements.csv line 89
    assert "fitted on this device's own 3 rows, in-sample" in est.speed.basis
    own = catalog.device_calibration[("litert-lm:gpu", "galaxy-s24-ultra")]
    path = catalog.calibration["litert-lm:gpu"]
    assert (own.decode_band, own.prefill_band) == (path.decode_band, path.prefill_band)  # the band stays the path's
    other = catalog.device("galaxy-s25-ultra")
    f = factors_for(other, catalog, variant=resolve_variant(catalog, other, "litert-lm", "int4", "gpu"))
    assert f.prefill_efficiency != own.prefill_efficiency and "on this device" not in f.basis


def test_every_mapped_row_has_a_catalog_format_that_runs_on_its_backend(loaded, catalog):
    """A mapped row of a runtime other than llama.cpp is sized in the catalog's own layout of its
    format on its backend (fit_runtimes fits nothing else): a GPU row never takes a CPU build's
    layout, and a format the catalog lacks is an excluded row, not a silently dropped one."""
    used, _ = loaded
    for r in used:
        if r.runtime != "llama.cpp":
            fmt = rp.catalog_format(r.runtime, r.format_id, r.backend, catalog)
            assert fmt is not None and (not fmt.backends or r.backend in fmt.backends), r.label


@pytest.mark.catalog_data
def test_a_gpu_build_row_fitted_in_sample_is_reproduced_in_its_own_layout(catalog):
    """ORT GenAI's CUDA row (Phi-2 on an RTX 4090, 219.8 tok/s) is fitted on that device alone,
    in-sample; predicted in the layout a user gets there (int4-fp16, the GPU build) it comes back
    within a few %. Fitted as the CPU build's int4 (fp32 scales and embedding: 25 % more bytes) it
    came back 12 % high."""
    from advisor.api import run_predict
    from advisor.records import Workload

    est = run_predict("phi-2", None, catalog.device("desktop-rtx4090-24gb"), Workload(4096, 128, 256), catalog,
                      runtime_id="ort-genai")
    assert (est.backend, est.quant_id) == ("cuda", "int4-fp16")
    assert est.speed.decode_tokens_per_s == pytest.approx(219.8, rel=0.05)  # runtime-measurements.csv line 225
    assert "in-sample" in est.speed.basis

"""The published llama.cpp rows the speed benchmarks fit and check (benchmarks/published.py)."""

from advisor.engine.speed import execution_path
from benchmarks import published


def test_opencl_row_runs_on_the_opencl_path(catalog):
    """The Adreno 750 rows were measured with llama.cpp's OpenCL backend: they must be predicted
    (and fitted) on the opencl path, not silently on the phone's CPU path."""
    rows = [r for r in published.load_runtime_rows(catalog) if "Adreno 750" in r.raw["device"]]
    assert rows
    assert {execution_path(r.observation.device) for r in rows} == {"opencl"}


def test_reference_bandwidths_are_theoretical_peaks(catalog):
    """bw_efficiency is relative to the datasheet peak: the i5-6500 desktop is DDR3L-1600 dual channel."""
    row = next(r for r in published.load_rows(catalog, with_runtime=False)
               if r.observation is not None and r.raw["device"].startswith("Desktop PC (i5-6500"))
    assert row.observation.device.memory.bandwidth_gbs == 2 * 64 / 8 * 1.6


def test_rows_with_an_unstated_file_type_say_what_was_assumed(catalog):
    """The Orin Nano Super and IGX Orin rows state no GGUF type: they are read as Q4_0 (the lightest
    file, the conservative reading for the per-layer cost) and their labels say so."""
    rows = {r.raw["device"]: r for r in published.load_runtime_rows(catalog)
            if r.raw["device"].startswith(("Jetson Orin Nano Super", "NVIDIA IGX Orin"))}
    assert len(rows) == 2
    for r in rows.values():
        assert r.observation.ftype.id == "Q4_0" and "Q4_0 assumed" in r.observation.label
        assert execution_path(r.observation.device) == "cuda-unified"
    igx = next(r for d, r in rows.items() if d.startswith("NVIDIA IGX"))
    assert igx.device_key == "jetson-agx-orin-64gb"  # the AGX Orin's profile: left out with the AGX rows


def test_m2_ultra_prefill_rows_keep_their_batch_and_flash_attention(catalog):
    rows = [r for r in published.load_runtime_rows(catalog) if "Qwen2.5-Coder-7B" in r.observation.label]
    assert sorted(r.observation.workload.prompt_tokens for r in rows) == [512, 2048, 16384]
    assert all(r.observation.workload.n_ubatch == 2048 and r.observation.workload.flash_attn == "on" for r in rows)
    assert all(r.observation.workload.context_tokens > r.observation.workload.prompt_tokens for r in rows)
    assert {r.device_class for r in rows} == {"apple"}


def test_check_rows_are_in_no_fit(catalog):
    """Cactus's phone rows are predicted for a check only: none is among the rows the fits use."""
    checks = published.load_check_rows(catalog)
    assert len(checks) == 10 and {r.device_class for r in checks} == {"phone"}
    fitted = {(r.raw["device"], r.raw.get("model"), r.observation.value)
              for r in published.load_rows(catalog) if r.observation is not None}
    assert not any((r.raw["device"], r.raw["model"], r.observation.value) in fitted for r in checks)
    assert all(execution_path(r.observation.device) == "cpu-arm" for r in checks)


def test_blas_and_low_trust_rows_are_checked_not_fitted(catalog):
    """The 2023 BLAS builds' CPU prefill rows and the low-trust rows are returned for the check
    (with their reason) and are absent from the fitted rows; the BLAS devices' decode rows stay."""
    checked = published.load_rows(catalog, checked=True)
    reasons = {r.excluded.split(":")[0] for r in checked}
    assert reasons == {"BLAS prefill", "trust low"}
    blas = [r for r in checked if r.excluded.startswith("BLAS prefill")]
    assert len(blas) == len(published.BLAS_PREFILL_ROWS) == 3
    assert all(r.observation.metric == "prefill" and r.observation.device.gpu is None for r in blas)
    fitted = [r for r in published.load_rows(catalog) if r.observation is not None]
    key = {(r.raw["device"], r.raw["model"], r.raw["metric"], r.raw["backend"]) for r in fitted}
    assert not any((r.raw["device"], r.raw["model"], r.raw["metric"], r.raw["backend"]) in key for r in checked)
    decode = {(r.raw["device"], r.raw["model"]) for r in fitted if r.observation.metric == "decode" and r.observation.device.gpu is None}
    assert set(published.BLAS_PREFILL_ROWS) <= decode  # batch-1 decode takes no BLAS: still fitted
    # no x86 CPU prefill row is left in the fits: the path keeps its prior
    assert not [r for r in fitted if r.observation.metric == "prefill" and execution_path(r.observation.device) == "cpu-x86"]


def test_every_mapped_llama_cpp_row_is_scored(catalog):
    """The llama.cpp rows runtime_published.py maps but no fit took (MoE rows, the M2 Max, the
    i5-9500T and 5800U Ollama rows) were scored nowhere; each is now a check-only row of
    speed_accuracy.py with its reason (load_unfitted_rows raises on a row with none)."""
    rows = published.load_unfitted_rows(catalog)
    fitted = {(r.raw["device"], r.raw["model"], r.raw["metric"]) for r in published.load_runtime_rows(catalog)}
    assert rows and all(r.excluded and r.observation is not None for r in rows)
    assert not any((r.raw["device"], r.raw["model"], r.raw["metric"]) in fitted for r in rows)
    labels = " ".join(r.observation.label for r in rows)
    for seen in ("Mac (M2 Max)", "Qwen3-Coder-30B-A3B", "OLMoE-1B-7B-0924", "i5-9500T", "Ryzen 7 5800U"):
        assert seen in labels, seen
    assert "DeepSeek-V2-Lite" not in labels  # 8.9 GB of weights on an 8 GB board: it paged from storage
    i5 = [r for r in rows if "i5-9500T" in r.observation.label]
    assert all(r.device_class == "x86 CPU" and "hardware not stated" in r.excluded for r in i5)

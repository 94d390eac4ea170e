"""The analysis views over runtimes (``advisor.analysis``): sweeps and the device comparison in a
runtime's own format, the runtimes-compared rows, and the fitted/prior reading of a speed basis."""

from __future__ import annotations

import pytest

from advisor import analysis, api
from advisor.catalog import load_catalog
from advisor.engine.evaluate import evaluate
from advisor.engine.runtimes import resolve_variant
from advisor.errors import AdvisorError
from advisor.records import Workload
from advisor.wording import speed_evidence


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.mark.parametrize(("basis", "decode", "prefill"), [
    # llama.cpp's own paths (catalog/calibration): fitted
    ("fit on 14 published measurements from 4 devices; 80% bands from held-out error (decode: this path, prefill: this path)",
     "fitted", "fitted"),
    # a llama.cpp path with decode rows only keeps its prefill prior (benchmarks/fit_defaults.py)
    ("fit on 6 published measurements from 3 devices, measured 2023–2024 (decode fitted, prefill prior: no published "
     "prefill row on this path; prefill efficiency measured on 56 prompts of twins on two x86 machines "
     "(benchmarks/results/cpu_prefill_x86.md), the rest initial guesses); 80% bands from held-out error (decode: this "
     "path, prefill: all paths)", "fitted", "prior"),
    # runtime paths (catalog/runtime-calibration.toml) say it per metric
    ("9 published mlx:metal measurements from 6 devices (decode prior, prefill fitted; prior llama.cpp metal)", "prior", "fitted"),
    ("11 published litert-lm:cpu measurements from 3 devices (decode fitted, prefill prior; prior llama.cpp cpu-arm)",
     "fitted", "prior"),
    ("2 published mlc:opencl measurements from 1 device (decode prior; prior llama.cpp opencl)", "prior", "prior"),
    # a runtime × backend without its own factors (engine.evaluate.runtime_prior)
    ("no published mnn:cpu measurements: llama.cpp's cpu-arm factors as a prior, band ×2", "prior", "prior"),
])
def test_speed_evidence_reads_the_basis(basis, decode, prefill):
    assert (speed_evidence(basis, "decode"), speed_evidence(basis, "prefill")) == (decode, prefill)


def test_sweep_in_a_runtime_format_is_that_runtimes_estimate(cat):
    device = cat.device("pixel-8")
    variant = resolve_variant(cat, device, "mlc", "q4f16_1")
    model = cat.model("llama-3.2-1b-instruct")
    sweep = analysis.sweep_context("llama-3.2-1b-instruct", "q4f16_1", device, [1024, 4096], Workload(), cat, variant=variant)
    assert [e.runtime for _, e in sweep] == ["mlc", "mlc"]
    assert sweep[0][1].memory.total_bytes < sweep[1][1].memory.total_bytes
    at_4k = Workload(context_tokens=4096, prompt_tokens=4096 - 256 - 1, output_tokens=256)
    assert sweep[1][1] == evaluate(model, variant.format, device, at_4k, cat, variant=variant)
    with pytest.raises(AdvisorError):  # without the variant, q4f16_1 is no GGUF file type
        analysis.sweep_context("llama-3.2-1b-instruct", "q4f16_1", device, [1024], Workload(), cat)


@pytest.mark.parametrize("sweep, value", [(analysis.sweep_context, 16384), (analysis.sweep_prompt, 2048)])
def test_a_sweep_keeps_the_llama_cpp_settings_of_its_workload(cat, sweep, value):
    """The dashboard's context and prompt sweeps: flash attention off and --no-repack (and a fixed
    --n-cpu-moe) are the workload's, at every point, as in the single estimate."""
    device = cat.device("raspberry-pi-5-8gb")
    base = Workload(context_tokens=16384, prompt_tokens=2048, flash_attn="off", cpu_repack=False, threads=2)
    [(_, est)] = sweep("qwen2.5-0.5b-instruct", "Q4_0", device, [value], base, cat)
    at = (Workload(context_tokens=16384, prompt_tokens=16384 - 256 - 1, output_tokens=256, flash_attn="off",
                   cpu_repack=False, threads=2) if sweep is analysis.sweep_context else base)
    assert est == evaluate(cat.model("qwen2.5-0.5b-instruct"), cat.file_type("Q4_0"), device, at, cat)
    assert est.memory.repacked_bytes == 0
    with_flash = evaluate(cat.model("qwen2.5-0.5b-instruct"), cat.file_type("Q4_0"), device,
                          Workload(context_tokens=16384, prompt_tokens=2048), cat)
    assert est.memory.compute_buffer_bytes > with_flash.memory.compute_buffer_bytes  # the attention scores


def test_compare_devices_in_a_runtime_leaves_out_devices_it_cannot_run_on(cat):
    iphone, pixel = cat.device("iphone-16-pro"), cat.device("pixel-8")
    variant = resolve_variant(cat, iphone, "mlx", "4bit")
    rows = analysis.compare_devices("llama-3.2-1b-instruct", "4bit", [iphone, pixel, cat.device("mac-mini-m4-16gb")],
                                    Workload(), cat, variant=variant)
    assert [r.device.id for r in rows] == ["iphone-16-pro", "mac-mini-m4-16gb"]  # no MLX on Android
    assert {(r.estimate.runtime, r.estimate.backend, r.estimate.quant_id) for r in rows} == {("mlx", "metal", "4bit")}
    assert analysis.variant_on(variant, pixel) is None


def test_runtimes_compared_under_a_browser_respects_the_binding_limit(cat):
    """Gemma 3 1B's embedding values in MLC's q4f16_1 are 144 MiB, over Chrome on Android's 128 MiB
    storage binding: MLC's row is another format, or fails for that limit."""
    device = cat.device("pixel-8")
    dep = api.make_deployment(device, "browser", catalog=cat)
    rows = analysis.compare_runtimes("gemma-3-1b-it", device, Workload(), cat, deployment=dep)
    by_runtime = {r.runtime.id: r for r in rows}
    assert set(by_runtime) <= set(dep.target.runtimes) and "mlc" in by_runtime
    mlc = by_runtime["mlc"]
    assert mlc.backend.id == "webgpu"
    assert (mlc.passes and mlc.estimate.quant_id != "q4f16_1") or (mlc.reason is not None and mlc.reason.kind == "limit")
    for r in rows:
        assert r.passes == (r.reason is None)
        assert r.download_bytes >= r.estimate.memory.weights_bytes
    decode = [r.estimate.speed.decode_tokens_per_s for r in rows if r.passes]
    assert decode == sorted(decode, reverse=True)


def test_variant_grid_holds_every_candidate_the_recommendation_ranked(cat):
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints, candidate_variants

    device = cat.device("pixel-8")
    dep = api.make_deployment(device, "browser", catalog=cat)
    c = Constraints(runtimes=ALL_RUNTIMES, deployment=dep)
    grid = analysis.variant_grid(device, Workload(), c, cat, overrides=api.calibration_overrides())
    from advisor.engine.runtimes import runs_model

    variants = candidate_variants(dep.device, cat, c)  # each runtime with the architectures it loads
    assert len(grid) == sum(runs_model(v, m) for m in cat.models.values() for v in variants) < len(cat.models) * len(variants)
    assert {e.runtime for e in grid} <= set(dep.target.runtimes)
    rec = api.run_recommend(device, Workload(), c, cat)
    assert set(rec.ranked) <= set(grid)  # the same estimates, value for value


def test_variant_grid_notes_the_binding_limit(cat):
    """Llama 3.2 1B in MLC's q4f16_1 under Chrome on Android: its 141 MiB embedding breaks the
    128 MiB storage binding; the grid row says so (its memory fit alone would not)."""
    from advisor.engine.recommend import Constraints

    device = cat.device("pixel-8")
    dep = api.make_deployment(device, "browser", catalog=cat)
    grid = analysis.variant_grid(device, Workload(), Constraints(runtimes=frozenset({"mlc"}), deployment=dep), cat)
    row = next(e for e in grid if e.model_id == "gemma-3-1b-it" and e.quant_id == "q4f16_1")
    assert row.fit == "fits" and not analysis.runs_under_limits(row)
    limit = next(r for r in row.reasons if r.kind == "limit")
    assert (limit.name, limit.limit, limit.category) == (
        "token_embd.weight", 128 * 2**20, "maxStorageBufferBindingSize of Chrome (Android)")
    assert any(analysis.runs_under_limits(e) for e in grid)


def test_other_runtimes_start_from_llama_cpps_fit_without_its_kernels_compute_roofline(cat):
    """Metal's compute efficiency is fitted to llama.cpp's kernels (catalog/calibration.toml); MLX on
    the same GPU starts from the fit without it ([paths.other_runtimes]), a CPU runtime from
    llama.cpp's CPU factors as they are (engine.evaluate.runtime_prior)."""
    from advisor.engine.evaluate import runtime_prior

    mac = cat.device("macbook-air-m2-16gb")
    metal = cat.calibration["metal"]
    neutral = metal.other_runtimes
    assert neutral is not None and neutral.decode_compute_efficiency > metal.decode_compute_efficiency
    prior = runtime_prior(mac, resolve_variant(cat, mac, "mlx", "4bit"), cat)
    assert (prior.bw_efficiency, prior.decode_compute_efficiency, prior.fixed_s_per_layer) == (
        neutral.bw_efficiency, neutral.decode_compute_efficiency, neutral.fixed_s_per_layer)
    assert prior.prefill_efficiency == metal.prefill_efficiency and prior.other_runtimes is None
    pixel = cat.device("pixel-8")
    cpu = runtime_prior(pixel, resolve_variant(cat, pixel, "executorch", "8da4w"), cat)
    arm = cat.calibration["cpu-arm"]
    assert arm.other_runtimes is None
    assert (cpu.bw_efficiency, cpu.decode_compute_efficiency) == (arm.bw_efficiency, arm.decode_compute_efficiency)


def test_a_runtime_path_fitted_on_some_devices_keeps_every_other_devices_own_prior(cat):
    """litert-lm:gpu was measured on one Adreno phone only, so nothing on it is fitted: a MacBook's
    prior is Metal's, not the phone's OpenCL factors (its Qwen3-4B prefill read 12 tok/s, slower than
    its CPU's 79). What a path did fit (litert-lm:cpu's bandwidth efficiency) applies on every device;
    the bands are the path's."""
    from advisor.engine.evaluate import factors_for, runtime_prior
    from advisor.engine.runtimes import Variant

    litert = cat.runtime("litert-lm")
    mac = cat.device("macbook-air-m2-16gb")
    gpu = Variant(litert, litert.backend("gpu"), litert.find_format("dynamic_int8"))
    shipped = cat.calibration["litert-lm:gpu"]
    assert shipped.fitted == ()
    got, prior = factors_for(mac, cat, variant=gpu), runtime_prior(mac, gpu, cat)
    assert (got.bw_efficiency, got.prefill_efficiency) == (prior.bw_efficiency, prior.prefill_efficiency)
    assert got.prefill_efficiency > 10 * shipped.prefill_efficiency  # Metal's, not Adreno OpenCL's 0.03
    assert (got.decode_band, got.prefill_band) == (shipped.decode_band, shipped.prefill_band)
    # the basis names the prior this device takes, not the one of the phone the path was measured on
    assert shipped.basis.endswith("prior llama.cpp opencl)")
    assert got.basis == shipped.basis.replace("prior llama.cpp opencl)", "prior llama.cpp metal)")
    cpu = Variant(litert, litert.backend("cpu"), litert.find_format("dynamic_int8"))
    laptop = cat.device("intel-nuc-13-pro-i7-32gb")
    fitted = cat.calibration["litert-lm:cpu"]
    assert "bw_efficiency" in (fitted.fitted or ())
    assert factors_for(laptop, cat, variant=cpu).bw_efficiency == fitted.bw_efficiency


@pytest.mark.parametrize(("device_id", "speedup"), [
    ("pixel-8", 3.2),                     # Arm with dotprod: llama.cpp's repacked Q4_0 speed-up
    ("laptop-ryzen-7-7840u-16gb", 1.85),  # AVX-512 VNNI
    ("raspberry-pi-4-4gb", 1.0),          # Cortex-A72: no dotprod, no int8 GEMM kernel to speed it
])
def test_int4_weights_with_int8_activations_prefill_at_the_int4_gemm_rate(cat, device_id, speedup):
    """ExecuTorch's 8da4w (int4 weights, int8 dynamic activations) against its 4w (int4 weight-only,
    float activations) of the same group: one compute-bound prefill, ×speed.int4_gemm_speedup for
    the integer GEMMs; decode (one token, bound by the weights' bytes) keeps one speed. Checked held
    out on the OnePlus 12's published rows (benchmarks/results/runtime_speed.md): −70 % → −4..−7 %."""
    from advisor.engine.speed import int4_gemm_speedup

    device = cat.device(device_id)
    assert int4_gemm_speedup(device) == speedup
    est = {q: api.run_predict("llama-3.2-1b-instruct", q, device, Workload(), cat, runtime_id="executorch")
           for q in ("8da4w-g256", "4w")}
    # the same int4 groups; XNNPACK's 8da4w writes their scales in bf16 (measured), 4w's stay fp32
    assert est["8da4w-g256"].memory.weights_bytes == pytest.approx(est["4w"].memory.weights_bytes, rel=0.01)
    fast, slow = est["8da4w-g256"].speed, est["4w"].speed
    assert fast.prefill_tokens_per_s / slow.prefill_tokens_per_s == pytest.approx(speedup, rel=0.03)
    assert fast.decode_tokens_per_s == pytest.approx(slow.decode_tokens_per_s, rel=0.02)  # bound by bytes ~1.4 % apart


@pytest.mark.catalog_data
def test_mnn_int4_prefills_with_int8_activations_as_its_default_config_runs_it():
    """llmexport writes "memory": "low" into every MNN config.json: MNN then quantizes the
    activations to int8 at run time and multiplies int4 weights in integer GEMMs. At the float rate
    the prior prefilled Qwen3-4B int4 on a Pi 5 at 8.7 tok/s, below its own decode on a Pixel 8;
    MNN's published Qwen3.5-4B 4-bit (a model of that size the catalog lacks) prefills at 27.6."""
    cat = load_catalog()  # the shipped runtimes (catalog_data)
    pi = cat.device("raspberry-pi-5-8gb")
    est = api.run_predict("qwen3-4b", "int4", pi, Workload(), cat, runtime_id="mnn")
    assert est.speed.prefill_tokens_per_s == pytest.approx(27.6, rel=0.15)
    assert "× weight types ×3.20" in est.speed.prefill_basis
    assert est.speed.decode_tokens_per_s == pytest.approx(4.5, rel=0.15)  # published decode of the same run: 4.5
    assert not cat.runtime("mnn").find_format("int8").int8_activations  # int8 weights keep the float rate
    phone = api.run_predict("qwen2.5-3b-instruct", "int4", cat.device("pixel-8"), Workload(), cat, runtime_id="mnn")
    assert phone.speed.prefill_tokens_per_s > phone.speed.decode_tokens_per_s


def test_int8_weights_and_the_gpu_keep_their_rate(cat):
    """8da8w (int8 weights) is not sped up (llama.cpp's repacked Q8_0 is not measured), nor is a
    GPU backend's prefill: the factor is the CPU's integer GEMMs'."""
    pixel = cat.device("pixel-8")
    a = api.run_predict("llama-3.2-1b-instruct", "8da8w", pixel, Workload(), cat, runtime_id="executorch")
    b = api.run_predict("llama-3.2-1b-instruct", "int8", pixel, Workload(), cat, runtime_id="executorch")
    assert a.speed.prefill_tokens_per_s == pytest.approx(b.speed.prefill_tokens_per_s, rel=0.01)
    from dataclasses import replace

    from advisor.engine import core
    from advisor.engine.evaluate import device_row, speed_candidate

    phone = cat.device("galaxy-s24-ultra")
    v = resolve_variant(cat, phone, "litert-lm", "dynamic_int4_block32", "gpu")
    assert v.format.int8_activations and v.backend.kind == "gpu"
    d = core.device_terms([device_row(phone, Workload(), cat, None, v)])
    c = speed_candidate(cat.model("llama-3.2-1b-instruct"), v.format, cat.ggml_types, Workload(), v)
    assert c.int4_gemm_share == 1.0 and d.cpu_int4_gemm == 3.2 and d.on_gpu
    f = core.FactorTerms.of(cat.calibration["cpu-arm"])
    on_gpu = core.prefill_rate_terms(c, d, f, True)
    assert on_gpu == core.prefill_rate_terms(replace(c, int4_gemm_share=0.0), d, f, True)  # the GPU: no CPU GEMM factor
    on_cpu = core.prefill_rate_terms(c, d, f, False)[1] / core.prefill_rate_terms(replace(c, int4_gemm_share=0.0), d, f, False)[1]
    assert on_cpu == pytest.approx(3.2)

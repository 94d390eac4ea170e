"""Speed formulas against hand-computed values."""

import ast
import re
from pathlib import Path

import pytest

from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.engine.evaluate import estimate_speed
from advisor.records import PathFactors, Workload

FACTORS = PathFactors(path="cpu-arm", bw_efficiency=0.5, decode_compute_efficiency=1.0, prefill_efficiency=0.5,
                      fixed_s_per_layer=0.0, decode_band=0.3, prefill_band=0.5, n_measurements=0, basis="test")


def _device(catalog, **memory):
    d = catalog.device("raspberry-pi-5-8gb")
    return d.model_copy(update={"memory": d.memory.model_copy(update={"llc": None, **memory})})


def test_decode_memory_roofline_by_hand(catalog):
    """tokens/s = bandwidth × efficiency / bytes read per token (no fixed cost, compute ample)."""
    model = catalog.model("llama-3.2-1b-instruct")
    ftype = catalog.file_type("Q4_0")
    device = _device(catalog)
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    s = estimate_speed(model, ftype, catalog.ggml_types, device, w, FACTORS.model_copy(update={"decode_compute_efficiency": 8.0}))
    weights = mem.weights_bytes(model, ftype, catalog.ggml_types)  # tied: the embedding doubles as output, streamed
    kv = mem.kv_read_bytes(model, 1.5)  # mean position while answering: prompt 1 + output 1 / 2
    assert kv == 2 * 16 * 8 * 64 * 2 * 1.5
    expected = 17.1e9 * 0.5 / (weights + kv)
    assert s.decode_tokens_per_s == pytest.approx(expected, rel=1e-9)
    assert s.decode_bound == "memory"


def test_the_basis_names_the_roofline_that_binds(catalog):
    """A compute-bound decode says which rate and which share of it set the speed; a memory-bound
    one does not claim it."""
    model = catalog.model("llama-3.2-1b-instruct")
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    slow = FACTORS.model_copy(update={"decode_compute_efficiency": 0.01})
    s = estimate_speed(model, catalog.file_type("Q4_0"), catalog.ggml_types, _device(catalog), w, slow)
    assert s.decode_bound == "compute" and s.basis.startswith("decode at 0.01 of the CPU's peak int8 dot-product rate; ")
    s = estimate_speed(model, catalog.file_type("F16"), catalog.ggml_types, _device(catalog), w, slow)
    assert s.basis.startswith("decode at 0.01 of the CPU's peak FP32 rate; ")
    fast = FACTORS.model_copy(update={"decode_compute_efficiency": 8.0})
    s = estimate_speed(model, catalog.file_type("Q4_0"), catalog.ggml_types, _device(catalog), w, fast)
    assert s.decode_bound == "memory" and s.basis.startswith("memory bandwidth 17.1 GB/s")


def test_the_basis_states_the_fixed_cost_per_token(catalog):
    """Decode = bytes / (bandwidth × efficiency) + n_layers × fixed: the basis gives every term, so
    a reader reproduces the figure (16 layers × 500 µs = 8 ms of a 23 ms token here)."""
    model = catalog.model("llama-3.2-1b-instruct")
    ftype = catalog.file_type("Q4_0")
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    f = FACTORS.model_copy(update={"decode_compute_efficiency": 8.0, "fixed_s_per_layer": 5e-4})
    s = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, f)
    assert s.basis == ("memory bandwidth 17.1 GB/s (derived) × efficiency 0.50 on cpu-arm, "
                       "+ 8 ms per token fixed (16 layers × 500 µs); test")
    assert 1 / s.decode_tokens_per_s == pytest.approx(s.bytes_per_token / (17.1e9 * 0.5) + 16 * 5e-4, rel=1e-6)
    f = f.model_copy(update={"fixed_s_per_layer": 0.0})
    assert "fixed" not in estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, f).basis


def test_the_prefill_basis_gives_the_rate_it_is_computed_at(catalog):
    """The prefill line states peak × efficiency × weight types and the FLOPs per prompt token, so a
    reader reproduces it: the Pi 5's 4 threads × 2.4 GHz × 16 FLOP = 153.6 GFLOP/s × 0.5 = 76.8 GFLOP/s
    for 2 × 973,078,528 FLOP per token (Q8_0: no repacking gain, a legacy type)."""
    model = catalog.model("llama-3.2-1b-instruct")
    w = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=1)
    s = estimate_speed(model, catalog.file_type("Q8_0"), catalog.ggml_types, _device(catalog), w, FACTORS)
    assert s.prefill_bound == "compute"
    assert s.prefill_basis.startswith("153.6 GFLOP/s (the FP32 peak of 4 CPU threads) × efficiency 0.5 = 76.8 GFLOP/s "
                                      "for 1.95 GFLOP per prompt token + attention")
    # the figure from the stated terms: the prompt's matrix FLOPs at 76.8 GFLOP/s, attention and logits a little more
    by_hand = 512 * 2 * 973_078_528 / 76.8e9
    assert by_hand < s.ttft_s < by_hand * 1.1
    q4 = estimate_speed(model, catalog.file_type("Q4_0"), catalog.ggml_types, _device(catalog), w, FACTORS)
    assert "× weight types ×3.20 = 245.8 GFLOP/s" in q4.prefill_basis  # the dotprod repacking of Q4_0


def test_untied_embedding_is_not_streamed(catalog):
    """An untied token_embd is a lookup (one row per token); the output matrix is streamed."""
    model = catalog.model("tinyllama-1.1b-chat-v1.0")
    ftype = catalog.file_type("Q8_0")
    lookup = mem.embedding_lookup_bytes(model, ftype, catalog.ggml_types)
    assert lookup == 2048 * 32000 * 34 // 32
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    s = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, FACTORS)
    assert s.bytes_per_token == int(mem.weights_bytes(model, ftype, catalog.ggml_types) - lookup + mem.kv_read_bytes(model, 1.5))


def test_kv_reads_grow_with_context(catalog):
    model = catalog.model("qwen3-1.7b")
    ftype = catalog.file_type("Q4_K_M")
    short = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), Workload(32768, 100, 100), FACTORS)
    long = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), Workload(32768, 16000, 100), FACTORS)
    assert long.decode_tokens_per_s < short.decode_tokens_per_s
    per_token = mem.kv_bytes_per_token(model)
    assert per_token == 2 * 28 * 8 * 128 * 2
    assert long.bytes_per_token - short.bytes_per_token == pytest.approx(per_token * 15900, rel=1e-6)


def test_prefill_compute_roofline_by_hand(catalog):
    """prefill time = Σ_ubatch max(tokens × flops/token / (peak × eff), weights / bw) + logits."""
    model = catalog.model("smollm2-135m-instruct")
    ftype = catalog.file_type("Q8_0")
    device = _device(catalog)
    w = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=1)
    s = estimate_speed(model, ftype, catalog.ggml_types, device, w, FACTORS)
    mm = spd.matmul_params(model)
    flops = 512 * (2 * mm + spd.attention_flops(model, 256)) + 2 * 49152 * 576
    peak = spd.cpu_gflops(device, device.cpu.big_cores) * 1e9 * 0.5
    assert s.ttft_s == pytest.approx(flops / peak, rel=1e-6)
    assert s.prefill_bound == "compute"


def _prefill(model, catalog, device, workload, quant):
    return estimate_speed(model, catalog.file_type(quant), catalog.ggml_types, device, workload, FACTORS).prefill_tokens_per_s


def test_repacked_weights_prefill_faster_on_the_cpu_only(catalog):
    """llama.cpp's load-time repacking: a compute-bound CPU prefill of a repacked type runs
    REPACK_PREFILL_SPEEDUP × faster; types not repacked on that CPU, types repacked without a
    measured gain, --no-repack, CPUs without the kernels' ISA and GPU paths are unchanged."""
    model = catalog.model("llama-3.2-1b-instruct")
    pi5 = _device(catalog)  # Cortex-A76 with dotprod
    pi4 = catalog.device("raspberry-pi-4-4gb")  # Cortex-A72: no dotprod, no repacking
    x86 = pi5.model_copy(update={"cpu": pi5.cpu.model_copy(update={"arch": "x86_64", "isa": ("avx2", "avx512", "avx512_vnni")})})
    avx2 = pi5.model_copy(update={"cpu": pi5.cpu.model_copy(update={"arch": "x86_64", "isa": ("avx2", "fma")})})
    on = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=1)
    off = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=1, cpu_repack=False)

    def ratio(device, quant):
        f = catalog.file_type(quant)
        a = estimate_speed(model, f, catalog.ggml_types, device, on, FACTORS)
        b = estimate_speed(model, f, catalog.ggml_types, device, off, FACTORS)
        assert a.prefill_bound == b.prefill_bound == "compute"
        return b.ttft_s / a.ttft_s

    assert spd.REPACK_PREFILL_SPEEDUP == {"avx512": {"Q4_0": 1.85, "Q4_K": 0.55, "Q2_K": 0.48}, "avx2": {"Q4_0": 1.06, "Q4_K": 0.78},
                                          "dotprod": {"Q4_0": 3.2}}
    assert ratio(pi5, "Q4_0") == pytest.approx(3.2, rel=1e-9)
    assert ratio(pi5, "Q8_0") == pytest.approx(1.0, rel=1e-9)  # repacked on Arm, not measured
    assert ratio(pi4, "Q4_0") == pytest.approx(1.0, rel=1e-9)
    # Q4_0's over the legacy types' plain speed, the engine's for plain Q4_0 too: repacked Q4_0
    # against plain Q8_0 as measured (cpu_repack.md, Llama-3.2-1B: 280.6 and 153.5 tok/s)
    assert ratio(x86, "Q4_0") == pytest.approx(1.85, rel=1e-9)
    assert _prefill(model, catalog, x86, on, "Q4_0") / _prefill(model, catalog, x86, off, "Q8_0") == pytest.approx(280.6 / 153.5, rel=0.02)
    # repacked K-quants measured slower here (benchmarks/results/cpu_repack.md: Llama-3.2-1B's
    # files ×0.585 and ×0.588); Q6_K and Q3_K matrices are not repacked on x86
    assert ratio(x86, "Q4_K_M") == pytest.approx(246.0 / 420.2, rel=0.01)
    assert ratio(x86, "Q2_K") == pytest.approx(229.5 / 390.0, rel=0.01)
    assert ratio(x86, "Q8_0") == pytest.approx(1.0, rel=1e-9)  # not repacked on x86
    # an AVX2-only build (benchmarks/results/cpu_isa.md): Q4_0 repacked ×1.06 of plain Q8_0, the Q4_K_M file ×0.80
    assert _prefill(model, catalog, avx2, on, "Q4_0") / _prefill(model, catalog, avx2, off, "Q8_0") == pytest.approx(129.9 / 122.6, rel=0.01)
    assert ratio(avx2, "Q4_K_M") == pytest.approx(136.3 / 169.6, rel=0.02)
    assert ratio(avx2, "Q2_K") == pytest.approx(1.0, rel=0.02)  # Q2_K is repacked only with AVX-512 (its few Q4_K are)
    # unrepacked, AVX-512's K-quant kernels prefill ×2.6 of the legacy types' (cpu_repack.md)
    def plain_kquant_vs_q8(device):
        k, q8 = (estimate_speed(model, catalog.file_type(q), catalog.ggml_types, device, off, FACTORS) for q in ("Q4_K_M", "Q8_0"))
        return q8.ttft_s / k.ttft_s

    assert spd.KQUANT_PREFILL_BY_FAMILY == {"avx512": 2.6, "avx2": 1.36}
    assert plain_kquant_vs_q8(x86) == pytest.approx(2.6, rel=1e-9)
    assert plain_kquant_vs_q8(avx2) == pytest.approx(1.36, rel=1e-9)
    assert plain_kquant_vs_q8(pi5) == pytest.approx(1.0, rel=1e-9)
    gpu = catalog.device("macbook-air-m2-16gb")
    f = catalog.file_type("Q4_0")
    a = estimate_speed(model, f, catalog.ggml_types, gpu, on, FACTORS.model_copy(update={"path": "metal"}))
    b = estimate_speed(model, f, catalog.ggml_types, gpu, off, FACTORS.model_copy(update={"path": "metal"}))
    assert a.ttft_s == pytest.approx(b.ttft_s, rel=1e-12)


def test_repack_speedup_is_the_time_weighted_mix_of_the_tensors_types():
    """Σ n / Σ (n / speed-up) over the prefill matrices; lookups and the output are left out, and
    so are matrices llama.cpp does not repack (output rows not a multiple of the interleave)."""
    from advisor.engine.tensors import Tensor
    rows = [(Tensor("blk.0.ffn_up.weight", (100, 32), 0), "Q4_0", 0), (Tensor("blk.0.ffn_down.weight", (32, 100), 0), "Q6_K", 0),
            (Tensor("blk.0.attn_norm.weight", (100,), 0), "F32", 0), (Tensor("token_embd.weight", (100, 999), None), "Q4_0", 0),
            (Tensor("output.weight", (100, 999), None), "Q6_K", 0)]
    avx2, avx512, dotprod = spd.repack_prefill_speedups(rows)
    assert spd.REPACK_FAMILIES == ("avx2", "avx512", "dotprod")
    assert avx2 == pytest.approx(6400 / (3200 / 1.06 + 3200))
    assert avx512 == pytest.approx(6400 / (3200 / 1.85 + 3200))
    assert dotprod == pytest.approx(6400 / (3200 / 3.2 + 3200))
    # a MoE's routed experts gain what their own pairs measured (OLMoE on Arm, the Granite twin on
    # AVX-512), nothing where not measured (Q4_0 on AVX2)
    experts = [(Tensor("blk.0.ffn_up_exps.weight", (100, 32, 8), 0), "Q4_0", 0), (Tensor("blk.0.attn_q.weight", (100, 104), 0), "Q4_0", 0)]
    avx2, avx512, dotprod = spd.repack_prefill_speedups(experts)
    assert avx2 == pytest.approx(36000 / (25600 + 10400 / 1.06))
    assert avx512 == pytest.approx(36000 / (25600 / 1.27 + 10400 / 1.85))
    assert dotprod == pytest.approx(36000 / (25600 / 1.87 + 10400 / 3.2))
    # 100 output rows: a multiple of Arm's 4-row Q4_0 interleave, not of x86's 8 rows
    odd = [(Tensor("blk.0.attn_q.weight", (64, 100), 0), "Q4_0", 0)]
    assert spd.repack_prefill_speedups(odd) == pytest.approx((1.0, 1.0, 3.2))


def test_prefill_weight_families_mix_by_tensor(catalog):
    """A K-quant file's fallback matrices (rows not a multiple of 256 wide) prefill at the legacy
    rate: the file's factor is the time-weighted mix, 1 / Σ share / factor."""
    from advisor.engine import memory as mem
    from advisor.engine.derived import gguf_weight_terms

    qwen = catalog.model("qwen2.5-0.5b-instruct")  # 896 wide: llama.cpp writes Q5_0/Q8_0 fallbacks
    llama = catalog.model("llama-3.2-1b-instruct")
    kq_qwen, _ = spd.prefill_family_shares(mem.per_tensor_bytes(qwen, catalog.file_type("Q4_K_M"), catalog.ggml_types))
    kq_llama, _ = spd.prefill_family_shares(mem.per_tensor_bytes(llama, catalog.file_type("Q4_K_M"), catalog.ggml_types))
    assert kq_llama == 1.0 and 0.0 < kq_qwen < 0.5
    assert spd.prefill_family_shares(mem.per_tensor_bytes(llama, catalog.file_type("F16"), catalog.ggml_types)) == (0.0, 1.0)
    assert gguf_weight_terms(qwen, mem.per_tensor_bytes(qwen, catalog.file_type("Q4_K_M"), catalog.ggml_types)).family_shares[0] == kq_qwen
    w = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=1)
    kq3 = FACTORS.model_copy(update={"prefill_kquant_factor": 3.0})

    def ttft(model, quant, factors):
        return estimate_speed(model, catalog.file_type(quant), catalog.ggml_types, _device(catalog), w, factors).ttft_s

    # compute-bound prefill matrices only: the ratio is the mix (the logits run at the mix's rate too)
    assert ttft(llama, "Q4_K_M", FACTORS) / ttft(llama, "Q4_K_M", kq3) == pytest.approx(3.0, rel=1e-6)
    assert ttft(qwen, "Q4_K_M", FACTORS) / ttft(qwen, "Q4_K_M", kq3) == pytest.approx(1 / (1 - kq_qwen + kq_qwen / 3), rel=1e-6)


def test_fixed_cost_adds_per_layer(catalog):
    model = catalog.model("qwen2.5-0.5b-instruct")
    ftype = catalog.file_type("Q4_K_M")
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    a = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, FACTORS)
    b = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, FACTORS.model_copy(update={"fixed_s_per_layer": 1e-4}))
    assert 1 / b.decode_tokens_per_s - 1 / a.decode_tokens_per_s == pytest.approx(24 * 1e-4, rel=1e-6)


def test_a_prompt_pays_its_own_per_layer_cost_in_each_micro_batch(catalog):
    """prefill_fixed_s_per_layer adds n_layers × it per micro-batch of the prompt and leaves decode
    alone; unset, a prompt pays the decode's fixed_s_per_layer (as before the prompt had its own).
    SmolLM2-135M, 30 layers, a 1,024-token prompt in two 512-token micro-batches."""
    model = catalog.model("smollm2-135m-instruct")
    ftype = catalog.file_type("Q8_0")
    w = Workload(context_tokens=2048, prompt_tokens=1024, output_tokens=1)
    base = FACTORS.model_copy(update={"fixed_s_per_layer": 1e-5})
    a = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, base)
    b = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, base.model_copy(update={"prefill_fixed_s_per_layer": 2e-4}))
    assert b.ttft_s - a.ttft_s == pytest.approx(2 * 30 * (2e-4 - 1e-5), rel=1e-6)
    assert b.decode_tokens_per_s == a.decode_tokens_per_s
    assert "+ 6 ms fixed per 512-token micro-batch (30 layers × 200 µs)" in b.prefill_basis
    zero = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, base.model_copy(update={"fixed_s_per_layer": 0.0}))
    assert zero.ttft_s == pytest.approx(a.ttft_s - 2 * 30 * 1e-5, rel=1e-6)


def test_small_model_in_last_level_cache_reads_at_cache_speed(catalog):
    """With a measured cache bandwidth, a model that fits in the last-level cache is read at it;
    without one, no speed-up is assumed."""
    model = catalog.model("smollm2-135m-instruct")
    ftype = catalog.file_type("Q4_0")
    w = Workload(context_tokens=512, prompt_tokens=1, output_tokens=1)
    fast = FACTORS.model_copy(update={"decode_compute_efficiency": 8.0})
    dram = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog), w, fast)
    unmeasured = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog, llc=512 * 1024**2), w, fast)
    cached = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog, llc=512 * 1024**2, llc_bandwidth_gbs=100.0), w, fast)
    assert unmeasured.decode_tokens_per_s == pytest.approx(dram.decode_tokens_per_s, rel=1e-9)
    assert cached.decode_tokens_per_s == pytest.approx(100e9 / cached.bytes_per_token, rel=1e-9)
    # a cache figure below the memory's (measured where the cache did not serve the reads) slows nothing
    slow = estimate_speed(model, ftype, catalog.ggml_types, _device(catalog, llc=512 * 1024**2, llc_bandwidth_gbs=1.0), w, fast)
    assert slow.decode_tokens_per_s == pytest.approx(dram.decode_tokens_per_s, rel=1e-9)


def test_energy_is_power_times_time(catalog):
    model = catalog.model("qwen3-0.6b")
    device = _device(catalog)
    s = estimate_speed(model, catalog.file_type("Q8_0"), catalog.ggml_types, device, Workload(2048, 200, 100), FACTORS)
    assert s.energy_j_per_token == pytest.approx(device.power.typical_w / s.decode_tokens_per_s, rel=1e-9)
    assert s.energy_j_per_response == pytest.approx(device.power.typical_w * s.response_s, rel=1e-9)
    assert s.response_s == pytest.approx(s.ttft_s + 100 / s.decode_tokens_per_s, rel=1e-9)


def test_big_little_threads_use_fast_cores_first(catalog):
    # the S24 Ultra's profile: 1 X4 at 3.39 GHz × 32 FLOP/cycle, 5 A720 at 3.1/2.9 GHz × 16, 2 A520 × 8
    phone = catalog.device("galaxy-s24-ultra")
    assert [c.flops_per_cycle for c in phone.cpu.clusters] == [32, 16, 16, 8]
    assert spd.cpu_gflops(phone, 1) == pytest.approx(3.39 * 32, rel=2e-3)  # 108.5 GFLOPS of 385.3
    assert spd.cpu_gflops(phone, 4) == pytest.approx(3.39 * 32 + 3 * 3.1 * 16, rel=2e-3)
    assert spd.cpu_gflops(phone, 8) == pytest.approx(phone.cpu.fp32_gflops)


def test_flops_per_cycle_gives_apple_p_cores_their_share(catalog):
    # M2: 4 P-cores × 3.49 GHz × 32 + 4 E-cores × 2.42 GHz × 8 = 524.2 GFLOPS; one P-core is 111.7,
    # not 524.2 × 3.49 / (4 × 3.49 + 4 × 2.42) = 77.4 as a share by clock alone would give
    mac = catalog.device("macbook-air-m2-16gb")
    assert spd.cpu_gflops(mac, 1) == pytest.approx(3.49 * 32, rel=2e-3)
    assert spd.cpu_gflops(mac, 4) == pytest.approx(4 * 3.49 * 32, rel=2e-3)
    by_clock = mac.model_copy(update={"cpu": mac.cpu.model_copy(update={
        "clusters": tuple(c.model_copy(update={"flops_per_cycle": None}) for c in mac.cpu.clusters)})})
    assert spd.cpu_gflops(by_clock, 1) == pytest.approx(524.2 * 3.49 / (4 * 3.49 + 4 * 2.42), rel=2e-3)


@pytest.mark.parametrize(
    "device_id, isa, message",
    [("raspberry-pi-5-8gb", ["neon", "avx2"], "isa lists 'avx2', an extension of x86_64 CPUs, but arch is arm64; remove it or correct arch"),
     ("mini-pc-intel-n100-8gb", ["avx2", "dotprod"], "isa lists 'dotprod', an extension of arm64 CPUs, but arch is x86_64"),
     ("raspberry-pi-5-8gb", ["neon", "AVX512_VNNI"], "isa lists 'AVX512_VNNI', an extension of x86_64 CPUs"),
     ("mini-pc-intel-n100-8gb", ["avx2", "rvv1.0"], "isa lists 'rvv1.0', an extension of riscv64 CPUs")],
)
def test_a_profile_isa_flag_of_another_arch_is_refused(catalog, device_id, isa, message):
    """An Arm profile listing AVX2 would take an x86 core's int8 rate (speed.INT8_DOT_PER_FP32_FMA)."""
    from pydantic import ValidationError

    from advisor.records import CpuSpec
    data = catalog.device(device_id).cpu.model_dump()
    CpuSpec.model_validate({**data, "isa": [*data["isa"], "fp16", "bf16"]})  # free-form flags pass
    with pytest.raises(ValidationError, match=re.escape(message)):
        CpuSpec.model_validate({**data, "isa": isa})


def test_a_bandwidth_the_bus_cannot_move_is_refused(catalog):
    """A slipped decimal (171 for the Pi 5's 17.1 GB/s) would make every speed ten times too fast."""
    from pydantic import ValidationError

    from advisor.records import MemorySpec
    data = catalog.device("raspberry-pi-5-8gb").memory.model_dump()
    assert (data["type"], data["bus_width_bits"]) == ("LPDDR4X-4267", 32)
    MemorySpec.model_validate({**data, "bandwidth_gbs": 17.9})  # within the 5 % slack (4266 vs 4267 MT/s)
    with pytest.raises(ValidationError, match=re.escape(
            "bandwidth_gbs 171 is more than LPDDR4X-4267 over a 32-bit bus moves (17.1 GB/s); fix bandwidth_gbs, or type or bus_width_bits")):
        MemorySpec.model_validate({**data, "bandwidth_gbs": 171})
    MemorySpec.model_validate({**data, "bandwidth_gbs": 171, "bus_width_bits": None})  # nothing to check against
    MemorySpec.model_validate({**data, "bandwidth_gbs": 171, "type": "LPDDR4X (clock not confirmed)"})
    MemorySpec.model_validate({**data, "thread_bandwidth_gbs": 9.5})
    with pytest.raises(ValidationError, match=re.escape(
            "thread_bandwidth_gbs 95 (one thread) is more than bandwidth_gbs 17.1 (the whole memory); fix one of them")):
        MemorySpec.model_validate({**data, "thread_bandwidth_gbs": 95})


def test_cores_and_the_fp32_rate_agree_with_the_clusters(catalog):
    """The engine splits fp32_gflops over the clusters by cores × GHz × FLOP/cycle: a rate ten
    times the clusters' product (a slipped digit) or a core count the clusters do not have is refused."""
    from pydantic import ValidationError

    from advisor.records import CpuSpec
    data = catalog.device("macbook-air-m2-16gb").cpu.model_dump()
    assert data["fp32_gflops"] == pytest.approx(524.2)
    CpuSpec.model_validate({**data, "fp32_gflops": 560})  # within 10 %
    with pytest.raises(ValidationError, match=re.escape(
            "fp32_gflops = 5242, but the clusters' cores × GHz × flops_per_cycle give 524.2; fix fp32_gflops or the clusters")):
        CpuSpec.model_validate({**data, "fp32_gflops": 5242})
    with pytest.raises(ValidationError, match=re.escape("cores = 10, but the clusters have 8; make them agree")):
        CpuSpec.model_validate({**data, "cores": 10})
    by_clock = {**data, "fp32_gflops": 5242, "clusters": [{**c, "flops_per_cycle": None} for c in data["clusters"]]}
    CpuSpec.model_validate(by_clock)  # no FLOP/cycle stated: nothing to check the rate against


def test_flops_per_cycle_is_given_for_every_cluster_or_none(catalog):
    from pydantic import ValidationError

    from advisor.records import CpuSpec
    mac = catalog.device("macbook-air-m2-16gb")
    data = mac.cpu.model_dump()
    data["clusters"][1]["flops_per_cycle"] = None
    with pytest.raises(ValidationError, match="flops_per_cycle is given for some clusters but not for"):
        CpuSpec.model_validate(data)
    data["clusters"][0]["flops_per_cycle"] = float("nan")
    with pytest.raises(ValidationError):
        CpuSpec.model_validate(data)


def test_execution_paths(catalog):
    assert spd.execution_path(catalog.device("raspberry-pi-4-4gb")) == "cpu-arm-legacy"
    assert spd.execution_path(catalog.device("raspberry-pi-5-8gb")) == "cpu-arm"
    assert spd.execution_path(catalog.device("macbook-air-m2-16gb")) == "metal"
    assert spd.execution_path(catalog.device("desktop-rtx4090-24gb")) == "cuda"
    assert spd.execution_path(catalog.device("jetson-orin-nano-super-8gb")) == "cuda-unified"
    assert spd.execution_path(catalog.device("jetson-nano-4gb")) == "cpu-arm-legacy"
    assert spd.execution_path(catalog.device("mini-pc-intel-n100-8gb")) == "cpu-x86"


FORBIDDEN = {"psutil", "llama_cpp", "click", "streamlit", "jinja2", "cpuinfo", "sqlite3", "plotly"}


def test_engine_is_pure():
    """The engine imports none of the I/O or UI libraries."""
    engine = Path(__file__).resolve().parents[1] / "advisor" / "engine"
    for path in engine.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            assert not (set(names) & FORBIDDEN), (path.name, names)


def test_cpu_decode_compute_is_int8_dot_products_by_isa(catalog):
    """A CPU decodes quantized weights at its int8 dot-product rate (FP32 rate × the ISA's ratio,
    n threads worth n ** THREAD_SCALING_EXPONENT cores); float weights at its FP32 rate."""
    model = catalog.model("llama-3.2-1b-instruct")
    device = _device(catalog)  # Raspberry Pi 5: Cortex-A76 with dotprod
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1, threads=2)
    compute_bound = FACTORS.model_copy(update={"bw_efficiency": 4.0, "decode_compute_efficiency": 0.01})
    ops = 2 * spd.matmul_params(model) + 2 * model.vocab_size * model.hidden_size + spd.attention_flops(model, 1.5)
    fp32 = spd.cpu_gflops(device, 2) * 1e9 * 2 ** (spd.THREAD_SCALING_EXPONENT - 1)
    q = estimate_speed(model, catalog.file_type("Q4_0"), catalog.ggml_types, device, w, compute_bound)
    f = estimate_speed(model, catalog.file_type("F16"), catalog.ggml_types, device, w, compute_bound)
    assert q.decode_bound == "compute" and f.decode_bound == "compute"
    assert q.decode_tokens_per_s == pytest.approx(fp32 * 4.0 * 0.01 / ops, rel=1e-9)
    assert f.decode_tokens_per_s == pytest.approx(fp32 * spd.FLOAT_DOT_PER_FP32_FMA * 0.01 / ops, rel=1e-9)
    plain_neon = device.model_copy(update={"cpu": device.cpu.model_copy(update={"isa": ("neon",)})})
    vnni = device.model_copy(update={"cpu": device.cpu.model_copy(update={"isa": ("avx2", "avx512", "avx512_vnni")})})
    avx2 = device.model_copy(update={"cpu": device.cpu.model_copy(update={"isa": ("avx2", "fma")})})
    # AVX2 decodes as fast as VNNI: measured with one source built both ways (benchmarks/results/cpu_isa.md)
    assert [spd.int8_dot_ratio(d) for d in (device, plain_neon, vnni, avx2)] == [4.0, 1.0, 4.0, 4.0]


def test_q2_k_dot_products_cost_more_on_arm_only(catalog):
    """Compute-bound, a Q2_K decode step on an Arm CPU takes ARM_DOT_COST_BY_TYPE["Q2_K"] × the
    int8 time of the same parameters; on x86 and for the unmeasured K-quants, 1×."""
    model = catalog.model("llama-3.2-1b-instruct")
    arm = _device(catalog)
    x86 = arm.model_copy(update={"cpu": arm.cpu.model_copy(update={"arch": "x86_64", "isa": ("avx2", "avx512", "avx512_vnni")})})
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1, threads=1)
    compute_bound = FACTORS.model_copy(update={"bw_efficiency": 4.0, "decode_compute_efficiency": 0.01})
    ops = 2 * spd.matmul_params(model) + 2 * model.vocab_size * model.hidden_size + spd.attention_flops(model, 1.5)
    int8 = spd.cpu_decode_rates(arm, 1)[0] * 0.01

    def tps(device, quant):
        s = estimate_speed(model, catalog.file_type(quant), catalog.ggml_types, device, w, compute_bound)
        assert s.decode_bound == "compute"
        return s.decode_tokens_per_s

    assert spd.ARM_DOT_COST_BY_TYPE == {"Q2_K": 1.43}
    assert tps(arm, "Q4_0") == pytest.approx(int8 / ops, rel=1e-9)
    assert tps(arm, "Q2_K") == pytest.approx(int8 / 1.43 / ops, rel=1e-9)
    assert tps(arm, "Q4_K_M") == pytest.approx(int8 / ops, rel=1e-9)
    assert tps(x86, "Q2_K") == pytest.approx(tps(x86, "Q4_0"), rel=1e-9)


def test_more_decode_threads_help_less_than_linearly(catalog):
    device = catalog.device("jetson-agx-orin-64gb")
    one, twelve = spd.cpu_decode_rates(device, 1), spd.cpu_decode_rates(device, 12)
    assert twelve[0] / one[0] == pytest.approx(12 ** spd.THREAD_SCALING_EXPONENT, rel=1e-9)
    assert 1 < twelve[0] / one[0] < 12
    # measured on llama.cpp's threads only: another runtime's thread pool keeps linear scaling
    assert spd.cpu_decode_rates(device, 12, llama_cpp=False)[0] / one[0] == pytest.approx(12, rel=1e-9)


def test_few_threads_read_at_most_their_own_bandwidth(catalog):
    """With one thread's read bandwidth known (advisor profile measures it), n threads read at most
    n × it: hand-computed roofline at 1 thread (5 GB/s), 2 (10) and 4 (20: the memory's 17.1 binds)."""
    from advisor.engine.core import cpu_read_gbs

    model = catalog.model("llama-3.2-1b-instruct")
    ftype = catalog.file_type("Q4_0")
    device = _device(catalog, thread_bandwidth_gbs=5.0)
    assert cpu_read_gbs(device, 1) == 5.0 and cpu_read_gbs(device, 4) == 17.1
    assert cpu_read_gbs(_device(catalog), 1) == 17.1  # not measured: the memory's figure
    fast = FACTORS.model_copy(update={"decode_compute_efficiency": 8.0})
    weights = mem.weights_bytes(model, ftype, catalog.ggml_types)
    kv = mem.kv_read_bytes(model, 1.5)
    for threads, gbs in ((1, 5.0), (2, 10.0), (4, 17.1)):
        w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1, threads=threads)
        s = estimate_speed(model, ftype, catalog.ggml_types, device, w, fast)
        assert s.decode_tokens_per_s == pytest.approx(gbs * 1e9 * 0.5 / (weights + kv), rel=1e-9)


def test_a_measured_bandwidth_gets_its_own_efficiency(catalog):
    """A profile whose bandwidth advisor profile measured decodes at MEASURED_BW_EFFICIENCY of that
    figure on a llama.cpp CPU path (the paths' efficiencies are relative to datasheet peaks); a
    datasheet profile, a GPU path and a device's own calibration keep their factors."""
    from advisor.catalog import load_catalog
    from advisor.engine.evaluate import evaluate, factors_for, for_measured_bandwidth

    cat = load_catalog()
    sheet = cat.device("mini-pc-intel-n100-8gb")
    measured = sheet.model_copy(update={"memory": sheet.memory.model_copy(update={"bandwidth_basis": "measured"})})
    shipped = cat.calibration["cpu-x86"]
    assert factors_for(sheet, cat) == shipped
    own = factors_for(measured, cat)
    assert own.bw_efficiency == spd.MEASURED_BW_EFFICIENCY != shipped.bw_efficiency
    assert own.fixed_s_per_layer == shipped.fixed_s_per_layer and own.prefill_efficiency == shipped.prefill_efficiency
    assert "bandwidth measured" in own.basis
    # the same bandwidth figure: a memory-bound decode scales with the efficiency
    w = Workload(context_tokens=4096, prompt_tokens=1, output_tokens=128)
    model, ftype = cat.model("llama-3.2-3b-instruct"), cat.file_type("Q8_0")
    a, b = evaluate(model, ftype, sheet, w, cat).speed, evaluate(model, ftype, measured, w, cat).speed
    assert a.decode_bound == b.decode_bound == "memory"
    assert b.decode_tokens_per_s > a.decode_tokens_per_s * 1.3  # 0.73 / 0.44 with the fixed per-layer cost
    # a GPU path's factors and a device's own calibration are left alone
    metal = cat.calibration["metal"]
    assert for_measured_bandwidth(measured, metal) is metal
    calibrated = shipped.model_copy(update={"bw_efficiency": 1.05, "basis": "this device's runs"})
    assert factors_for(measured, cat, {measured.id: calibrated}) == calibrated
    # another runtime's CPU backend keeps its efficiency relative to llama.cpp's on the same device
    from advisor.engine.runtimes import resolve_variant

    xnn = resolve_variant(cat, measured, "executorch", "8da8w")
    on_sheet, on_measured = factors_for(sheet, cat, variant=xnn), factors_for(measured, cat, variant=xnn)
    assert on_measured.bw_efficiency / on_sheet.bw_efficiency == pytest.approx(own.bw_efficiency / shipped.bw_efficiency)


@pytest.mark.parametrize(("isa", "factor"), [
    (("avx2", "fma", "avx512", "avx512_vnni"), 1.0),  # the two machines the cpu-x86 efficiency was measured on
    (("avx2", "fma", "avx512"), 0.89),
    (("avx2", "fma", "avx_vnni"), None),  # X86_PREFILL_BY_ISA's AVX-VNNI value
    (("avx2", "fma"), None),
    (("sse4_2",), None),  # below AVX2: AVX2's (not measured)
])
def test_x86_prefill_follows_the_cpus_int8_extension(catalog, isa, factor):
    """One llama.cpp source built per x86 extension on one Zen 4 (one FP32 rate for 256- and 512-bit
    code) prefills Q8_0 at ×0.89 without VNNI, less again on AVX2 (benchmarks/results/cpu_isa.md):
    at the same FP32 peak a CPU's prompt runs at its X86_PREFILL_BY_ISA; decode does not change
    (the builds decode at one speed), nor do Arm CPUs or other runtimes' kernels."""
    from advisor.engine.core import device_row

    model = catalog.model("llama-3.2-1b-instruct")
    pi5 = _device(catalog)
    x86 = {i: pi5.model_copy(update={"cpu": pi5.cpu.model_copy(update={"arch": "x86_64", "isa": i})})
           for i in (("avx2", "fma", "avx512", "avx512_vnni"), isa)}
    w = Workload(context_tokens=2048, prompt_tokens=512, output_tokens=16)
    base, this = (estimate_speed(model, catalog.file_type("Q8_0"), catalog.ggml_types, x86[i], w, FACTORS)
                  for i in (("avx2", "fma", "avx512", "avx512_vnni"), isa))
    expected = factor if factor is not None else dict(spd.X86_PREFILL_BY_ISA).get("avx_vnni" if "avx_vnni" in isa else "avx2")
    assert this.prefill_tokens_per_s / base.prefill_tokens_per_s == pytest.approx(expected, rel=0.01)
    assert this.decode_tokens_per_s == pytest.approx(base.decode_tokens_per_s, rel=1e-9)
    assert spd.x86_prefill_isa(pi5) == 1.0
    assert device_row(x86[isa], w, FACTORS, FACTORS, llama_cpp=False)["cpu_prefill_isa"] == 1.0


def test_an_amx_cpu_copies_what_its_amx_kernels_take(catalog):
    """On an x86 CPU with AMX, llama.cpp's AMX buffer takes the 2-D matrices of its types whose rows
    are a multiple of 32 (F16 as it is, Q8_0 with 4 more bytes a block), a tied embedding's output
    copy included, before CPU_REPACK sees them. Measured on this repository's Xeon (tests/test_twins.py
    on an AMX host): SmolLM2-135M F16's AMX buffer 268,959,744 B, the file less its 1-D norms."""
    from advisor.engine.memory import per_tensor_bytes
    from advisor.engine.speed import COPY_FAMILIES, amx_copy_bytes, has_amx, repacked_bytes

    model = catalog.model("smollm2-135m-instruct")
    rows = per_tensor_bytes(model, catalog.file_type("F16"), catalog.ggml_types)
    norms = sum(b for t, _, b in rows if not t.is_matrix)
    assert amx_copy_bytes(rows) == (sum(b for _, _, b in rows) - norms, 0) == (268_959_744, 0)
    assert repacked_bytes(rows)[0][COPY_FAMILIES.index("amx")] == 268_959_744
    q8 = per_tensor_bytes(model, catalog.file_type("Q8_0"), catalog.ggml_types)
    blocks = sum(t.n_elements // 32 for t, ty, _ in q8 if ty == "Q8_0" and t.is_matrix)  # every Q8_0 matrix qualifies here
    assert amx_copy_bytes(q8)[0] == sum(b for t, ty, b in q8 if ty == "Q8_0" and t.is_matrix) + 4 * blocks
    device = catalog.device("intel-nuc-13-pro-i7-32gb")
    assert not has_amx(device)
    amx = device.model_copy(update={"cpu": device.cpu.model_copy(update={"isa": (*device.cpu.isa, "amx", "avx512", "avx512_vnni")})})
    assert has_amx(amx)
    from advisor.engine.evaluate import evaluate

    w = Workload(context_tokens=2048)
    assert evaluate(model, catalog.file_type("F16"), amx, w, catalog).memory.repacked_bytes == 268_959_744
    assert evaluate(model, catalog.file_type("F16"), device, w, catalog).memory.repacked_bytes == 0
    assert evaluate(model, catalog.file_type("F16"), amx, Workload(context_tokens=2048, cpu_repack=False), catalog).memory.repacked_bytes == 0

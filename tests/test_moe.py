"""Mixture-of-experts and hybrid models: sizes, KV/recurrent state, active weights and the
quantizer's expert rules, against hand-worked figures and published file sizes.

Figures marked DERIVED come from shared/reference/models-moe-hybrid.csv / MOE-ARCH-NOTES.md.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from advisor.engine import core, empirical
from advisor.engine import memory as mem
from advisor.engine.evaluate import estimate_speed
from advisor.engine.quant_mix import tensor_types
from advisor.engine.tensors import layer_sums, tensor_inventory
from advisor.records import ModelSpec, PathFactors, Workload

FACTORS = PathFactors(path="cpu-arm", bw_efficiency=0.5, decode_compute_efficiency=8.0, prefill_efficiency=0.5,
                      fixed_s_per_layer=0.0, decode_band=0.3, prefill_band=0.5, n_measurements=0, basis="test")
GIB = 1 << 30


@pytest.mark.parametrize(
    "model_id, kv_bytes_per_token, state_bytes",
    [
        ("qwen3-30b-a3b", 98304, 0),  # 2 × 48 layers × 4 kv × 128 × 2 B
        ("olmoe-1b-7b-0924-instruct", 131072, 0),  # MHA: 2 × 16 × 16 × 128 × 2
        ("granite-3.1-1b-a400m-instruct", 49152, 0),
        ("lfm2-1.2b", 12288, 163840),  # 6 attention layers; 10 conv layers × 2 × 2048 × 4 B
        ("lfm2-350m", 12288, 81920),
        ("lfm2-8b-a1b", 12288, 294912),  # 18 conv layers × 2 × 2048 × 4 B
        ("phi-2", 327680, 0),
        ("pythia-1.4b", 196608, 0),
        ("smollm3-3b", 73728, 0),
        ("granite-4.0-h-micro", 8192, 77377536),  # 36 Mamba2 layers × ((4−1)(4096+256) + 128 × 4096) × 4 B
        ("granite-4.0-h-tiny", 8192, 58060800),
        ("gpt-oss-20b", 24576, 0),
        ("deepseek-v2-lite-chat", 31104, 0),  # MLA: 27 layers × one 576-value latent (512 + 64 rope) × 2 B
        ("gemma-3n-e2b-it", 8192, 0),  # 4 global layers with KV (of 6); layers 20-29 reuse earlier KV  # the 12 global layers; the 12 sliding ones hold 128 + n_ubatch tokens
    ],
)
def test_kv_per_token_and_recurrent_state(catalog, model_id, kv_bytes_per_token, state_bytes):
    model = catalog.model(model_id)
    assert mem.kv_bytes_per_token(model) == kv_bytes_per_token
    assert mem.recurrent_state_bytes(model) == state_bytes
    # the state does not grow with the context; the KV cache does (sliding-window layers stop growing)
    growth = mem.kv_cache_bytes(model, 8192) - mem.kv_cache_bytes(model, 4096)
    assert growth == 4096 * kv_bytes_per_token
    if model.id == "gemma-3n-e2b-it":  # 16 sliding layers × min(4,096, pad(512 + 512)) cells × 2 × 2 × 256 × 2 B
        assert mem.kv_cache_bytes(model, 4096) == 4096 * kv_bytes_per_token + 16 * 1024 * 2048
    else:
        assert mem.kv_cache_bytes(model, 4096) == (4096 * kv_bytes_per_token if not model.sliding_window else
                                                    4096 * kv_bytes_per_token + 768 * kv_bytes_per_token)


@pytest.mark.parametrize(
    "model_id, total_b, active_b",
    [  # computed totals / active incl. embeddings from models-moe-hybrid.csv (whose active figures
       # leave out the routers: 0.013B for Qwen3-30B-A3B, within the tolerance)
        ("qwen3-30b-a3b", 30.53, 3.34), ("olmoe-1b-7b-0924-instruct", 6.92, 1.28),
        ("granite-3.1-1b-a400m-instruct", 1.335, 0.43), ("granite-3.1-3b-a800m-instruct", 3.30, 0.88),
        ("lfm2-8b-a1b", 8.34, 1.56), ("granite-4.0-h-tiny", 6.94, 1.46),
        ("gpt-oss-20b", 20.91, 4.18), ("phi-3.5-moe-instruct", 41.87, 6.64),
        ("deepseek-v2-lite-chat", 15.71, 2.66),  # 3.60B without the input embedding (card: 3.6B active)
    ],
)
@pytest.mark.catalog_data
def test_total_and_active_parameters(catalog, model_id, total_b, active_b):
    model = catalog.model(model_id)
    embeddings = model.vocab_size * model.hidden_size * (1 if model.tied_embeddings else 2)
    assert model.params / 1e9 == pytest.approx(total_b, abs=0.006)
    assert (layer_sums(model).active_matmul_params + embeddings) / 1e9 == pytest.approx(active_b, abs=0.015)


@pytest.mark.catalog_data
def test_published_file_sizes(catalog):
    """Qwen3-30B-A3B Q8_0 GGUF is 30.25 GiB (llama.cpp PR 15616 llama-bench row); OLMoE Q8_0 is
    7360 MB and Q4_0 3930 MB (edge-llm-leaderboard Pi 5 CSV, Q4_0_4_4 is Q4_0 repacked)."""
    q30 = catalog.model("qwen3-30b-a3b")
    olmoe = catalog.model("olmoe-1b-7b-0924-instruct")
    size = lambda m, q: mem.weights_bytes(m, catalog.file_type(q), catalog.ggml_types)  # noqa: E731
    assert size(q30, "Q8_0") / GIB == pytest.approx(30.25, rel=0.001)
    assert size(olmoe, "Q8_0") / 1e6 == pytest.approx(7360, rel=0.001)
    assert size(olmoe, "Q4_0") / 1e6 == pytest.approx(3930, rel=0.002)


def test_decode_reads_active_experts_prefill_reads_all(catalog):
    """Qwen3-30B-A3B Q4_K_M: ~1.9 GB read per decoded token of a ~18.5 GB file (DERIVED)."""
    model = catalog.model("qwen3-30b-a3b")
    ftype = catalog.file_type("Q4_K_M")
    total = mem.weights_bytes(model, ftype, catalog.ggml_types)
    experts = mem.expert_weights_bytes(model, ftype, catalog.ggml_types)
    lookup = mem.embedding_lookup_bytes(model, ftype, catalog.ggml_types)
    decode = mem.decode_weight_read_bytes(model, ftype, catalog.ggml_types)
    assert total / 1e9 == pytest.approx(18.55, abs=0.05)
    assert decode == pytest.approx(total - lookup - experts + experts * 8 / 128)
    assert decode / 1e9 == pytest.approx(1.92, abs=0.02)
    assert mem.prefill_weight_read_bytes(model, ftype, catalog.ggml_types) == total - lookup
    # dense models: decode and prefill read the same weights
    dense = catalog.model("qwen3-8b")
    assert mem.decode_weight_read_bytes(dense, ftype, catalog.ggml_types) == mem.prefill_weight_read_bytes(dense, ftype, catalog.ggml_types)


def test_moe_decodes_like_its_active_size(catalog):
    """A sparse 30B decodes faster than a dense 8B on the same bandwidth, as it reads less per token."""
    device = catalog.device("raspberry-pi-5-16gb")
    ftype = catalog.file_type("Q4_K_M")
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    moe = estimate_speed(catalog.model("qwen3-30b-a3b"), ftype, catalog.ggml_types, device, w, FACTORS)
    dense = estimate_speed(catalog.model("qwen3-8b"), ftype, catalog.ggml_types, device, w, FACTORS)
    model = catalog.model("qwen3-30b-a3b")
    expected = device.memory.bandwidth_gbs * 1e9 * 0.5 / (mem.decode_weight_read_bytes(model, ftype, catalog.ggml_types)
                                                         + mem.kv_read_bytes(model, 1.5))
    assert moe.decode_tokens_per_s == pytest.approx(expected, rel=1e-9)
    assert moe.decode_tokens_per_s > 2 * dense.decode_tokens_per_s


def test_hybrid_bytes_per_token_are_the_bytes_decode_is_timed_on(catalog):
    """Granite 4.0 H Micro Q4_K_M (memory bound here, no fixed cost): the reported bytes per token
    hold the recurrent state read and written back (2 × 77,377,536 B), so bandwidth × efficiency /
    bytes_per_token gives the decode speed shown (without the state: +8 %)."""
    model = catalog.model("granite-4.0-h-micro")
    ftype = catalog.file_type("Q4_K_M")
    device = catalog.device("raspberry-pi-5-8gb")
    w = Workload(context_tokens=2048, prompt_tokens=1, output_tokens=1)
    s = estimate_speed(model, ftype, catalog.ggml_types, device, w, FACTORS)
    state = mem.recurrent_state_bytes(model)
    assert state == 77_377_536
    weights = mem.weights_bytes(model, ftype, catalog.ggml_types)  # tied: no lookup-only table
    assert s.bytes_per_token == int(weights + mem.kv_read_bytes(model, 1.5) + 2 * state)
    assert s.decode_tokens_per_s == pytest.approx(device.memory.bandwidth_gbs * 1e9 * 0.5 / s.bytes_per_token, rel=1e-6)


def _types(model: ModelSpec, ftype: str, base: str) -> dict[str, str]:
    return dict(zip((t.name for t in tensor_inventory(model)), tensor_types(model, ftype, base)))


def test_short_prompt_reads_the_union_of_its_tokens_experts(catalog):
    """A micro-batch of n tokens reads 1 − (1 − k/E)^n of the experts (MOE-ARCH-NOTES §3): one
    prompt token costs a decode step, not a read of all 128 experts; a 512-token micro-batch reads
    them all (Qwen3-30B-A3B, 8 of 128: (120/128)^512 ≈ 4e-15)."""
    device = catalog.device("raspberry-pi-5-16gb")
    ftype = catalog.file_type("Q4_K_M")
    model = catalog.model("qwen3-30b-a3b")
    f = FACTORS.model_copy(update={"decode_compute_efficiency": 1e6, "prefill_efficiency": 1e6})  # memory-bound throughout

    def ttft(n: int) -> float:
        return estimate_speed(model, ftype, catalog.ggml_types, device, Workload(2048, n, 1), f).ttft_s

    one = estimate_speed(model, ftype, catalog.ggml_types, device, Workload(2048, 1, 1), f)
    assert ttft(1) == pytest.approx(1 / one.decode_tokens_per_s, rel=0.02)
    experts = mem.expert_weights_bytes(model, ftype, catalog.ggml_types)
    read = mem.prefill_weight_read_bytes(model, ftype, catalog.ggml_types)
    bw = device.memory.bandwidth_gbs * 1e9 * FACTORS.bw_efficiency
    for n in (4, 16):
        # memory-bound: the weights read once, less the experts no token of the batch routes to
        assert ttft(n) == pytest.approx((read - experts * (120 / 128) ** n) / bw, rel=0.05)
    assert ttft(1) < ttft(4) < ttft(16) < ttft(64)
    assert estimate_speed(model, ftype, catalog.ggml_types, device, Workload(2048, 512, 1), f).ttft_s > ttft(64)


def test_mxfp4_moe_mix(catalog):
    """MXFP4_MOE: experts MXFP4 (17 B per 32 weights), every other quantizable tensor and the
    output Q8_0; routers and biases F32. gpt-oss-20b: 12.10 GB, 2.6 GB read per decoded token."""
    model = catalog.model("gpt-oss-20b")
    t = _types(model, "MXFP4_MOE", "MXFP4")
    assert t["blk.0.ffn_up_exps.weight"] == t["blk.0.ffn_down_exps.weight"] == "MXFP4"
    assert t["blk.0.attn_q.weight"] == t["output.weight"] == t["token_embd.weight"] == "Q8_0"
    assert t["blk.0.ffn_gate_inp.weight"] == t["blk.0.ffn_up_exps.bias"] == t["blk.0.attn_sinks.weight"] == "F32"
    ftype = catalog.file_type("MXFP4_MOE")
    assert mem.weights_bytes(model, ftype, catalog.ggml_types) / 1e9 == pytest.approx(12.097, abs=0.001)
    # K-quant rows of 2880 fall back: a "Q4_K_M" gpt-oss is larger than the MXFP4 one
    q4 = mem.weights_bytes(model, catalog.file_type("Q4_K_M"), catalog.ggml_types)
    assert q4 > mem.weights_bytes(model, ftype, catalog.ggml_types)
    assert _types(model, "Q4_K_M", "Q4_K")["blk.1.ffn_up_exps.weight"] == "Q5_0"


def test_expert_quant_rules(catalog):
    """llama-quant.cpp: routers never quantized; ffn_down_exps follows use_more_bits by its block
    index; K-quants fall back where the row (expert width 768 is fine, 1408 is not) is not a
    multiple of 256; 8-expert models get Q8_0 attn_v/attn_k."""
    q30 = catalog.model("qwen3-30b-a3b")
    t = _types(q30, "Q4_K_M", "Q4_K")
    assert t["blk.0.ffn_gate_inp.weight"] == "F32"
    # 48 layers: blocks 0-5, 42-47 and every third from 8 get more bits
    assert [t[f"blk.{i}.ffn_down_exps.weight"] for i in (0, 5, 6, 7, 8, 42)] == ["Q6_K", "Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q6_K"]
    assert t["blk.0.ffn_gate_exps.weight"] == t["blk.0.ffn_up_exps.weight"] == "Q4_K"
    wide = q30.model_copy(update={"expert_ffn_size": 1408})
    t = _types(wide, "Q4_K_M", "Q4_K")
    assert (t["blk.0.ffn_down_exps.weight"], t["blk.6.ffn_down_exps.weight"]) == ("Q8_0", "Q5_0")
    eight = catalog.model("olmoe-1b-7b-0924-instruct").model_copy(update={"n_experts": 8, "n_experts_used": 2})
    t = _types(eight, "Q4_K_M", "Q4_K")
    assert t["blk.3.attn_v.weight"] == t["blk.3.attn_k.weight"] == "Q8_0"


def test_hybrid_attn_v_counter_runs_over_attention_layers_only(catalog):
    """use_more_bits(i_attention_wv, n_attention_wv) counts attn_v tensors, not blocks: LFM2's
    6 attention layers at blocks 2,5,8,10,12,14 are attn_v #0..#5; with n = 6, n/8 = 0 and
    7n/8 = 5, so #2 and #5 (blocks 8 and 14) get Q6_K; by block index it would be blocks 10 and 14."""
    t = _types(catalog.model("lfm2-1.2b"), "Q4_K_M", "Q4_K")
    got = [t[f"blk.{b}.attn_v.weight"] for b in (2, 5, 8, 10, 12, 14)]
    assert got == ["Q4_K", "Q4_K", "Q6_K", "Q4_K", "Q4_K", "Q6_K"]
    assert t["blk.0.shortconv.conv.weight"] == "F32" and t["blk.0.shortconv.in_proj.weight"] == "Q4_K"


@pytest.mark.parametrize(
    "update, message",
    [
        ({"n_experts": 8}, "n_experts_used must be 1..n_experts=8"),
        ({"n_experts": 8, "n_experts_used": 2}, "needs expert_ffn_size"),
        ({"n_experts": 8, "n_experts_used": 9, "expert_ffn_size": 64}, "n_experts_used must be 1..n_experts=8"),
        ({"expert_ffn_size": 64}, "need n_experts > 0"),
        ({"n_kv_heads_per_layer": (0,) * 30}, "give shortconv_l_cache"),
        # Mamba2 heads and groups must split its inner width 2 × hidden (Granite 4.0 H Tiny: 3072);
        # before, 47 heads or 5 groups were accepted and the norm's shape was d_inner // groups
        ({"granite": True, "ssm_n_heads": 47}, r"ssm_n_heads 47 and ssm_n_group 1 must divide the Mamba2 inner width 2 × hidden_size = 3072"),
        ({"granite": True, "ssm_n_group": 5}, "ssm_n_heads 48 and ssm_n_group 5 must divide"),
    ],
)
def test_model_spec_rejects_inconsistent_moe_and_hybrid_fields(catalog, update, message):
    base = catalog.model("granite-4.0-h-tiny" if update.pop("granite", False) else "smollm2-135m-instruct").model_dump()
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate({**base, **update})


def test_per_layer_embeddings_are_a_lookup(catalog):
    """Gemma 3n E2B: the 2.01B-parameter per-layer embedding table is resident but gathered one
    row per token, so decode does not stream it; it takes the token-embedding quant rule (tied
    model: the output rule, Q6_K under Q4_K_M)."""
    model = catalog.model("gemma-3n-e2b-it")
    ftype = catalog.file_type("Q4_K_M")
    t = _types(model, "Q4_K_M", "Q4_K")
    assert t["per_layer_token_embd.weight"] == "Q6_K"
    assert t["altup_proj.weight"] == t["blk.0.laurel_l.weight"] == "F16" and t["blk.0.altup_correct_coef.weight"] == "F32"
    ple = 256 * 30 * 262400 * 210 // 256  # Q6_K bytes
    total = mem.weights_bytes(model, ftype, catalog.ggml_types)
    assert mem.embedding_lookup_bytes(model, ftype, catalog.ggml_types) == ple
    assert mem.decode_weight_read_bytes(model, ftype, catalog.ggml_types) == total - ple


# --------------------------------------------------------------------------- expert offload (--n-cpu-moe)


GB = 10**9


def _factors(bw: float, fixed: float) -> core.FactorTerms:
    return core.FactorTerms(bw_efficiency=bw, decode_compute_efficiency=0.5, prefill_efficiency=0.5, fixed_s_per_layer=fixed,
                            prefill_fixed_s_per_layer=fixed, prefill_kquant_factor=1.0, prefill_float_factor=1.0,
                            decode_band=0.2, prefill_band=0.5)


def _moe_candidate(dense_lead: int = 0) -> core.CandidateTerms:
    """10 GB of weights, 8 GB of them routed experts over 8 MoE layers (1 GB a layer), a token
    reads 1/10 of each expert tensor; + 0.5 GB KV, 0.3 GB compute buffer, 0.2 GB overhead = 11 GB."""
    return core.candidate_terms([{
        "weights_bytes": 10 * GB, "lookup_bytes": 0, "expert_bytes": 8 * GB, "expert_fraction": 0.1, "recurrent_state_bytes": 0,
        "kv_cache_bytes": GB // 2, "compute_buffer_bytes": 3 * GB // 10, "overhead_bytes": 2 * GB // 10, "n_layers": 8 + dense_lead,
        "matmul_params": 1e9, "global_q_dims": 0, "swa_q_dims": 0, "window": 0, "vocab_flops": 0, "kv_read_bytes": 0,
        "is_float": False, "moe_layers": 8, "dense_lead_layers": dense_lead, "expert_active_params": 0.5e9,
        "expert_cum_bytes": tuple(float(k * GB) for k in range(9))}])


def _gpu_desktop(vram: float = 9 * GB, host: float = 20 * GB) -> core.DeviceTerms:
    """A discrete GPU: 400 GB/s VRAM, 10 TFLOPS; host 50 GB/s, 1 TFLOPS; efficiencies 0.5, CPU hand-over 0.1 ms a layer."""
    return core.device_terms([{
        "on_gpu": True, "discrete": True, "can_offload": True, "cpu_flops": 1e12, "cpu_decode_ops": 1e12, "cpu_decode_flops": 1e12, "cpu_arm": False, "cpu_repack": 0, "cpu_amx": False, "cpu_kquant_prefill": 1.0, "cpu_prefill_isa": 1.0, "cpu_expert_gemm": 1.0, "cpu_int4_gemm": 1.0,
        "gpu_flops": 10e12, "host_gbs": 50.0, "cpu_gbs": 50.0,
        "vram_gbs": 400.0, "llc_bytes": 0.0, "llc_gbs": 0.0, "host_usable": host, "vram_usable": vram, "power_w": 100.0,
        "main": _factors(0.5, 0.0), "cpu": _factors(0.5, 1e-4)}])


@pytest.mark.parametrize(
    "n_cpu_moe, dense_lead, vram, host, fit, cpu_moe_layers, gpu_bytes, flag",
    [
        (None, 0, 9 * GB, 20 * GB, "offload", 2, 9 * GB, 2),  # auto: ceil((11 − 9) GB / 1 GB) = 2 layers
        (None, 1, 9 * GB, 20 * GB, "offload", 2, 9 * GB, 3),  # a leading dense block counts in llama.cpp's N
        (None, 0, 12 * GB, 20 * GB, "tight", 0, 11 * GB, 0),  # fits VRAM: nothing offloaded
        # the 2 GB of experts do not fit host RAM; the placement still says which experts it tried to
        # move (it said 0 layers beside the 9 GB on the GPU that assume 2)
        (None, 0, 9 * GB, 1 * GB, "no", 2, 9 * GB, 2),
        (5, 0, 9 * GB, 20 * GB, "offload", 5, 6 * GB, 5),  # as asked: 11 − 5 GB in VRAM
        (5, 1, 9 * GB, 20 * GB, "offload", 4, 7 * GB, 5),  # blocks 0..4: the dense block 0 has no experts
        (20, 0, 9 * GB, 20 * GB, "offload", 8, 3 * GB, 8),  # more than the MoE layers: all of them (--cpu-moe)
        (1, 0, 9 * GB, 20 * GB, "no", 1, 10 * GB, 1),  # 10 GB left in a 9 GB VRAM (and 1 layer's experts in host RAM, as asked)
    ],
)
def test_expert_offload_placement(n_cpu_moe, dense_lead, vram, host, fit, cpu_moe_layers, gpu_bytes, flag):
    c, d = _moe_candidate(dense_lead), _gpu_desktop(vram, host)
    p = core.placement(c, d, n_cpu_moe=n_cpu_moe)
    assert core.FIT_CODES[p.fit_code] == fit
    assert p.cpu_moe_layers == cpu_moe_layers
    assert p.gpu_bytes == gpu_bytes
    assert core.n_cpu_moe_flag(c, p.cpu_moe_layers) == flag


def test_expert_offload_follows_each_layers_bytes():
    """Layers of unequal size (llama.cpp's Q*_K_M give some layers' ffn_down_exps more bits): the
    first layer holds 1.5 GB, so one layer frees the 2 GB asked for only with the second — and
    --n-cpu-moe 1 moves 1.5 GB, not the mean."""
    table = (0.0, 1.5 * GB, 2.5 * GB, 3.3 * GB, 4.1 * GB, 4.9 * GB, 5.7 * GB, 6.5 * GB, 8.0 * GB)
    c = replace(_moe_candidate(), expert_cum_bytes=table)
    p = core.placement(c, _gpu_desktop())
    assert (p.cpu_moe_layers, p.gpu_bytes) == (2, 11 * GB - 2.5 * GB)
    p = core.placement(c, _gpu_desktop(vram=9.6 * GB))  # 1.4 GB to free: one layer is enough
    assert (p.cpu_moe_layers, p.gpu_bytes) == (1, 9.5 * GB)
    assert core.offloaded_expert_bytes(c, 1) == 1.5 * GB


def test_catalog_expert_offload_is_exact(catalog):
    """Qwen3-30B-A3B Q4_K_M on an RTX 3060 12GB: the host part is the first N blocks' ffn_*_exps
    bytes summed from the file's tensors, and N is the least that leaves the rest within VRAM."""
    from advisor.engine.evaluate import evaluate
    from advisor.engine.tensors import is_expert_tensor

    model, ftype, device = catalog.model("qwen3-30b-a3b"), catalog.file_type("Q4_K_M"), catalog.device("desktop-rtx3060-12gb")
    e = evaluate(model, ftype, device, Workload(), catalog)
    by_block = [0] * model.n_layers
    for t, _, b in mem.per_tensor_bytes(model, ftype, catalog.ggml_types):
        if is_expert_tensor(t):
            by_block[int(t.name.split(".")[1])] += b
    n = e.memory.n_cpu_moe
    assert e.fit == "offload" and 0 < n < model.n_layers
    assert e.memory.cpu_moe_bytes == sum(by_block[:n])
    assert e.memory.gpu_bytes == e.memory.total_bytes - sum(by_block[:n])
    vram = device.gpu.vram_usable
    assert e.memory.total_bytes - sum(by_block[:n]) <= vram < e.memory.total_bytes - sum(by_block[:n - 1])


def test_auto_falls_back_to_layer_split():
    """Even with every expert in host RAM the 3 GB rest exceeds a 2 GB VRAM: llama.cpp's -ngl split."""
    p = core.placement(_moe_candidate(), _gpu_desktop(vram=2 * GB))
    assert p.cpu_moe_layers == 0 and 0 < p.gpu_fraction < 1


def test_expert_offload_two_component_time():
    """2 MoE layers' experts on the CPU. Decode, GPU side: (10 − 2) GB − (8 − 2) GB × 0.9 = 2.6 GB at
    400 × 0.5 GB/s = 13 ms; CPU side: 2 GB × 0.1 = 0.2 GB at 50 × 0.5 GB/s = 8 ms + 2 × 0.1 ms
    hand-overs → 21.2 ms. Prefill of 512 tokens (one micro-batch ≥ 32: the GPU multiplies every
    expert after copying the 2 GB over PCIe 4.0 x16): compute 512 × 2 × (1e9 + 0.5e9 × (1/η − 1)) /
    (10 TFLOPS × 0.5), η = EXPERT_GEMM_EFFICIENCY_GPU, above the 50 ms weight read; + 2 GB / 31.5 GB/s."""
    c, d = _moe_candidate(), _gpu_desktop()
    w = Workload(context_tokens=1024, prompt_tokens=512, output_tokens=1)
    t = core.timing(c, d, w, 1.0, 2.0)
    assert t.decode_s_per_token == pytest.approx(0.013 + 0.008 + 2e-4, rel=1e-12)
    eta = empirical.EXPERT_GEMM_EFFICIENCY_GPU
    compute = 512 * 2 * (1e9 + 0.5e9 * (1 / eta - 1)) / 5e12
    assert compute > 10 * GB / 200e9
    assert t.prompt_s == pytest.approx(compute + 2 * GB / 31.5e9, rel=1e-12)
    # without offload: one side, all 10 GB − 7.2 GB of unread experts at VRAM speed
    t0 = core.timing(c, d, w, 1.0)
    assert t0.decode_s_per_token == pytest.approx((10 - 7.2) * GB / 200e9, rel=1e-12)
    assert t0.prompt_s == pytest.approx(compute, rel=1e-12)


@pytest.mark.parametrize("expert_gemm", [1.0, 0.55])
def test_expert_gemm_efficiency_on_accelerators_and_by_cpu_family(expert_gemm):
    """An Arm CPU keeps η = 1 (Pi 5: OLMoE and Qwen2.5-1.5B Q8_0 prefill off by the same factor); an
    x86 CPU takes its family's (benchmarks/results/cpu_expert_prefill.md); an accelerator the GPU's."""
    c = _moe_candidate()
    cpu = core.device_terms([{
        "on_gpu": False, "discrete": False, "can_offload": True, "cpu_flops": 1e12, "cpu_decode_ops": 1e12, "cpu_decode_flops": 1e12, "cpu_arm": False, "cpu_repack": 0, "cpu_amx": False, "cpu_kquant_prefill": 1.0, "cpu_prefill_isa": 1.0, "cpu_expert_gemm": expert_gemm, "cpu_int4_gemm": 1.0,
        "gpu_flops": 0.0, "host_gbs": 50.0, "cpu_gbs": 50.0, "vram_gbs": 50.0,
        "llc_bytes": 0.0, "llc_gbs": 0.0, "host_usable": 20 * GB, "vram_usable": 0, "power_w": 10.0, "main": _factors(0.5, 0.0), "cpu": _factors(0.5, 0.0)}])
    assert core.with_expert_gemm_efficiency(c, cpu).matmul_params == pytest.approx(1e9 + 0.5e9 * (1 / expert_gemm - 1))
    gpu = core.with_expert_gemm_efficiency(c, _gpu_desktop())
    assert gpu.matmul_params == pytest.approx(1e9 + 0.5e9 * (1 / empirical.EXPERT_GEMM_EFFICIENCY_GPU - 1))


def test_x86_cpus_take_the_measured_expert_gemm_efficiency_and_repack_their_experts(catalog):
    """A Q4_K_M MoE's experts are repacked like dense matrices (×0.61 measured on AVX-512) and run
    at η = 0.55 there; left at 1 and unrepacked, the Granite-3.1-1B-A400M twin's prefill was
    predicted +88 % while the dense Llama-3.2-1B twin's was −31 % (cpu_expert_prefill.md)."""
    from advisor.engine import speed as spd

    intel = core.device_terms([core.device_row(catalog.device("mini-pc-intel-n100-8gb"), Workload(), catalog.calibration["cpu-x86"],
                                               catalog.calibration["cpu-x86"])])
    pi = core.device_terms([core.device_row(catalog.device("raspberry-pi-5-8gb"), Workload(), catalog.calibration["cpu-arm"],
                                            catalog.calibration["cpu-arm"])])
    assert float(intel.cpu_expert_gemm) == empirical.EXPERT_GEMM_EFFICIENCY_CPU["avx2"] and float(pi.cpu_expert_gemm) == 1.0
    assert spd.repack_prefill_speedup("Q4_K", "avx512", expert=True) == pytest.approx(0.57)
    assert spd.repack_prefill_speedup("Q4_K", "avx2", expert=True) == spd.repack_prefill_speedup("Q4_K", "avx2")


def test_published_expert_offload_row(catalog):
    """gpt-oss-20b MXFP4_MOE on an RTX 3060 12GB with --n-cpu-moe 2: 64 tok/s published (smeltcore
    recipe, runtime-measurements.csv); within the CUDA path's 80 % decode band."""
    from advisor.engine.evaluate import evaluate

    e = evaluate(catalog.model("gpt-oss-20b"), catalog.file_type("MXFP4_MOE"), catalog.device("desktop-rtx3060-12gb"),
                 Workload(n_cpu_moe=2), catalog)
    assert e.fit == "offload" and e.memory.n_cpu_moe == 2
    assert e.speed is not None and e.speed.decode_band.low <= 64 <= e.speed.decode_band.high


def test_negative_n_cpu_moe_is_bad_input():
    from advisor.errors import BadInputError

    with pytest.raises(BadInputError, match="--n-cpu-moe must be 0 or more layers"):
        Workload(n_cpu_moe=-1)


def test_an_n_cpu_moe_too_small_for_the_gpu_says_so_and_names_the_value_that_fits(capsys):
    """--n-cpu-moe 30 leaves 7.88 GiB of Qwen3-30B-A3B Q4_K_M on an 8 GB RTX 4060 (7.50 GiB usable):
    before, "fit no" beside 13 GiB of headroom and no word why."""
    import json

    from advisor.cli import main

    args = ["predict", "--model", "qwen3-30b-a3b", "--quant", "Q4_K_M", "--device", "desktop-rtx4060-8gb", "--format", "json"]
    assert main(args + ["--n-cpu-moe", "30"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert short["fit"] == "no"
    assert short["notes"] == ["--n-cpu-moe 30: the experts of the first 30 of 48 layers (10.17 GiB) in host RAM, run on the CPU",
                              "--n-cpu-moe 30 leaves 7.88 GiB on the GPU, more than its 7.50 GiB usable VRAM; 32 (auto's choice) fits"]
    # the memory fields describe the placement asked for, as gpu_bytes does (they said n_cpu_moe 0, cpu_moe_bytes 0)
    assert short["memory"]["n_cpu_moe"] == 30 and \
        abs(short["memory"]["cpu_moe_bytes"] / 2**30 - 10.17) < 0.005
    assert main(args) == 0
    auto = json.loads(capsys.readouterr().out)
    assert auto["fit"] == "offload" and auto["memory"]["n_cpu_moe"] == 32
    assert main(args + ["--n-cpu-moe", "32"]) == 0
    assert json.loads(capsys.readouterr().out)["fit"] == "offload"


def test_expert_offload_note_counts_the_leading_dense_blocks(capsys):
    """llama.cpp's --n-cpu-moe N takes the experts of blocks 0..N-1; LFM2-8B-A1B's blocks 0 and 1
    are dense, so --n-cpu-moe 15 moves 13 layers' experts (13 × 0.66 GiB at F16). The note said
    "the experts of 15 of 24 layers", two layers more than it moves."""
    import json

    from advisor.cli import main

    assert main(["predict", "--model", "lfm2-8b-a1b", "--quant", "F16", "--device", "desktop-rtx4060-8gb", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    per_layer = 3 * 2048 * 1792 * 32 * 2  # gate, up, down × hidden × expert width × 32 experts × F16
    assert data["memory"]["n_cpu_moe"] == 15 and data["memory"]["cpu_moe_bytes"] == 13 * per_layer
    assert data["notes"] == ["--n-cpu-moe 15: the experts of the first 15 of 24 layers (8.53 GiB) in host RAM, run on the CPU"]


def test_a_model_released_in_a_format_is_offered_in_it_and_scores_highest_there(catalog, tmp_path):
    """gpt-oss ships MXFP4 experts. MXFP4_MOE is not a common type, so recommend never tried it
    and picked a Q5_K_M requantization 40 % larger and 3× slower for a quality the native file
    was given less of (69.3 vs 70.8). Now the native file is tried and scores the model's own
    quality; every requantization loses its usual share on top; no other model is offered it."""
    from advisor.catalog import _validate_all, data_root
    from advisor.engine.evaluate import quality_table
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints, candidate_variants, offered_to, recommend
    from advisor.errors import DataFileError

    model = catalog.model("gpt-oss-20b")
    assert model.native_format == "MXFP4_MOE"
    qt = quality_table(catalog)
    native = qt.score(model, catalog.file_type("MXFP4_MOE"))
    others = {q: qt.score(model, catalog.file_type(q)) for q in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS")}
    assert native == pytest.approx(qt.base[model.id].score) and all(v < native for v in others.values()), others
    device = catalog.device("desktop-rtx3060-12gb")
    c = Constraints(model_ids=frozenset({model.id}))
    rec = recommend(device, Workload(), catalog, c)
    assert rec.pick is not None and rec.pick.quant_id == "MXFP4_MOE"
    every = candidate_variants(device, catalog, Constraints(runtimes=ALL_RUNTIMES))
    assert all(rt_format(v) != "MXFP4_MOE" for v in offered_to(every, catalog.model("qwen3-30b-a3b"), Constraints()))
    asked = Constraints(quant_ids=frozenset({"MXFP4_MOE"}))
    assert [rt_format(v) for v in offered_to(candidate_variants(device, catalog, asked), catalog.model("qwen3-30b-a3b"), asked)] \
        == ["MXFP4_MOE"]
    # a native format the quantizations do not know is a data error naming the field
    home = tmp_path / "home"
    (home / "catalog").mkdir(parents=True)
    entry = (data_models_toml().split('id = "gpt-oss-20b"')[1].split("[[models]]")[0])
    (home / "catalog" / "models.toml").write_text('[[models]]\nid = "my-oss"' + entry.replace('"MXFP4_MOE"', '"MXFP9"'),
                                                    encoding="utf-8")
    with pytest.raises(DataFileError, match="native_format MXFP9"):
        _validate_all(data_root(), home)


def rt_format(v) -> str:
    return v.format.id if hasattr(v, "format") else v.id


def data_models_toml() -> str:
    from advisor.catalog import data_root

    return (data_root() / "catalog" / "models.toml").read_text(encoding="utf-8")

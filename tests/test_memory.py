"""Memory formulas against hand-computed values."""

import pytest

from advisor.engine import memory as mem
from advisor.engine.quant_mix import tensor_types
from advisor.engine.tensors import count_params, tensor_inventory
from advisor.records import Workload
from advisor.units import GIB, MIB


@pytest.mark.catalog_data
def test_every_catalog_model_param_count_matches_its_dims(catalog):
    """The tensor inventory reproduces the parameter count computed from config dims."""
    for m in catalog.models.values():
        assert count_params(m) == m.params, m.id


# KV cache = 2 (K and V) × cells × layers × n_kv_heads × head_dim × bytes per value.
@pytest.mark.parametrize(
    "model_id, n_ctx, cache, expected",
    [
        ("llama-3.1-8b-instruct", 4096, "f16", 2 * 4096 * 32 * 8 * 128 * 2),  # 512 MiB, as llama.cpp logs
        ("llama-3.1-8b-instruct", 4096, "q8_0", 2 * 4096 * 32 * 8 * 128 * 34 // 32),  # 272 MiB
        ("llama-3.1-8b-instruct", 4096, "q4_0", 2 * 4096 * 32 * 8 * 128 * 18 // 32),  # 144 MiB
        ("qwen2.5-0.5b-instruct", 4096, "f16", 2 * 4096 * 24 * 2 * 64 * 2),  # 48 MiB: GQA 14/2
        ("smollm2-135m-instruct", 2048, "f16", 2 * 2048 * 30 * 3 * 64 * 2),
        ("phi-3-mini-4k-instruct", 4096, "f16", 2 * 4096 * 32 * 32 * 96 * 2),  # MHA: 1.5 GiB
        ("tinyllama-1.1b-chat-v1.0", 2000, "f16", 2 * 2048 * 22 * 4 * 64 * 2),  # padded to 256 cells
    ],
)
def test_kv_cache_bytes(catalog, model_id, n_ctx, cache, expected):
    assert mem.kv_cache_bytes(catalog.model(model_id), n_ctx, cache) == expected


def test_kv_cache_sliding_window_gemma3(catalog):
    """Gemma 3 1B: 26 layers, every 6th global (layers 5, 11, 17, 23); local layers keep the
    512-token window plus one 512-token micro-batch (1024 cells)."""
    m = catalog.model("gemma-3-1b-it")
    per_cell = 2 * 1 * 256 * 2  # K+V, 1 kv head, head_dim 256, f16
    assert sum(m.is_swa_layer(i) for i in range(m.n_layers)) == 22
    assert mem.kv_cache_bytes(m, 32768, "f16", 512) == per_cell * (4 * 32768 + 22 * 1024)
    # an all-global estimate would be 6.5× larger
    assert mem.kv_cache_bytes(m, 32768) < 0.2 * 2 * 26 * 32768 * 256 * 2


@pytest.mark.parametrize(
    "model_id, n_layers, n_ctx, swa_full, mib",
    [
        # llama.cpp's KV buffers for twins cut to n_layers (llama-cpp-python 0.3.36, this machine):
        # windowed by default, the whole context with swa_full (llama_context_default_params, Llama())
        ("gemma-3-1b-it", 12, 4096, False, 18.0), ("gemma-3-1b-it", 12, 4096, True, 48.0),
        ("gemma-3-1b-it", 12, 32768, False, 74.0), ("gemma-3-1b-it", 12, 32768, True, 384.0),
        ("gemma-2-2b-it", 4, 8192, False, 100.0), ("gemma-2-2b-it", 4, 8192, True, 128.0),
    ],
)
def test_kv_cache_full_size_sliding_window_layers(catalog, model_id, n_layers, n_ctx, swa_full, mib):
    m = catalog.model(model_id).model_copy(update={"n_layers": n_layers})
    assert mem.kv_cache_bytes(m, n_ctx, "f16", 512, swa_full=swa_full) == mib * MIB


@pytest.mark.parametrize(
    "n_ctx, flash_attn, mib",
    [
        # SmolLM2-135M (vocab 49,152, hidden 576): llama.cpp caps n_ubatch at n_ctx (n_ubatch 256 / 300 /
        # 100 reported) and its compute buffer with it: 4 B × n_ubatch × (49,152 + 2 × 576), measured
        # 49.13 / 57.57 / 19.19 MiB with flash attention on and off; from 512 tokens on the 512-token one
        (256, True, 4 * 256 * (49152 + 1152) / MIB), (256, False, 4 * 256 * (49152 + 1152) / MIB),
        (300, True, 4 * 300 * (49152 + 1152) / MIB), (100, False, 4 * 100 * (49152 + 1152) / MIB),
        (512, True, 98.25), (3000, True, 98.25),
    ],
)
def test_compute_buffer_micro_batch_capped_at_the_context(catalog, n_ctx, flash_attn, mib):
    from advisor.engine import empirical

    m = catalog.model("smollm2-135m-instruct")
    assert empirical.guess_compute_buffer_bytes(m, n_ctx, 512, flash_attn=flash_attn) == int(mib * MIB)
    w = Workload(context_tokens=n_ctx, prompt_tokens=n_ctx // 4, output_tokens=n_ctx // 4, flash_attn="on" if flash_attn else "off")
    assert mem.estimate_memory(m, catalog.file_type("Q8_0"), catalog.ggml_types, w).compute_buffer_bytes == int(mib * MIB)


@pytest.mark.parametrize("cache", ["q8_0", "q4_0"])
def test_a_quantized_kv_cache_without_flash_attention_is_refused(cache):
    """llama.cpp: "quantized V cache requires flash_attn to be enabled" — it creates no context."""
    from advisor.errors import BadInputError

    with pytest.raises(BadInputError) as exc:
        Workload(kv_cache_type=cache, flash_attn="off")
    assert str(exc.value) == (f"a {cache} KV cache needs flash attention: llama.cpp refuses a quantized V cache without it; "
                              "turn flash attention on (or auto), or use an f16 KV cache")
    for flash_attn in ("on", "auto"):
        assert Workload(kv_cache_type=cache, flash_attn=flash_attn).kv_cache_type == cache
    assert Workload(kv_cache_type="f16", flash_attn="off").flash_attn == "off"


def test_llama3_8b_q8_0_weights_by_hand(catalog):
    """Q8_0: every matrix at 34 B per 32 weights, norms F32."""
    m = catalog.model("llama-3-8b-instruct")
    norms = 32 * 2 * 4096 + 4096
    expected = (m.params - norms) * 34 // 32 + norms * 4
    assert mem.weights_bytes(m, catalog.file_type("Q8_0"), catalog.ggml_types) == expected


def test_qwen25_05b_q4_k_m_falls_back_for_896_wide_rows(catalog):
    """hidden 896 is not a multiple of the 256-weight K-quant block: llama.cpp falls back to
    Q5_0 (for Q4_K) and Q8_0 (for Q6_K) on tensors whose rows are 896 wide."""
    m = catalog.model("qwen2.5-0.5b-instruct")
    types = dict(zip((t.name for t in tensor_inventory(m)), tensor_types(m, "Q4_K_M", "Q4_K")))
    assert types["token_embd.weight"] == "Q8_0"  # tied: output type (Q6_K) → fallback Q8_0
    assert types["blk.0.attn_q.weight"] == "Q5_0"
    assert types["blk.0.ffn_down.weight"] == "Q6_K"  # 4864 = 19 × 256, use_more_bits layer 0
    assert types["blk.3.ffn_down.weight"] == "Q4_K"
    assert types["blk.0.attn_norm.weight"] == "F32"


def test_use_more_bits_layers_q4_k_m(catalog):
    """Q4_K_M gives Q6_K to attn_v/ffn_down of the first and last eighth and every third layer."""
    m = catalog.model("llama-3.1-8b-instruct")
    types = dict(zip((t.name for t in tensor_inventory(m)), tensor_types(m, "Q4_K_M", "Q4_K")))
    q6 = sorted(i for i in range(32) if types[f"blk.{i}.ffn_down.weight"] == "Q6_K")
    assert q6 == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"


@pytest.mark.parametrize(
    "ftype, published_gib, tolerance",
    [("Q8_0", 7.96, 0.01), ("Q6_K", 6.14, 0.01), ("Q5_K_M", 5.33, 0.015), ("Q4_K_M", 4.58, 0.015),
     ("Q4_0", 4.34, 0.015), ("F16", 14.97, 0.01)],
)
@pytest.mark.catalog_data
def test_llama3_8b_sizes_match_published_files(catalog, ftype, published_gib, tolerance):
    """quantize.cpp's published Llama-3-8B file sizes (GiB) vs our per-tensor sums."""
    m = catalog.model("llama-3-8b-instruct")
    ours = mem.weights_bytes(m, catalog.file_type(ftype), catalog.ggml_types) / GIB
    assert abs(ours - published_gib) / published_gib < tolerance


def test_one_bytes_per_param_constant_is_wrong_for_small_models(catalog):
    """A 0.5B model with a 152k vocabulary is far from 4.5 bits/weight in Q4_K_M."""
    m = catalog.model("qwen2.5-0.5b-instruct")
    bpw = mem.weights_bytes(m, catalog.file_type("Q4_K_M"), catalog.ggml_types) * 8 / m.params
    assert bpw > 5.5


def test_estimate_memory_total_is_the_sum(catalog):
    m = catalog.model("qwen3-0.6b")
    est = mem.estimate_memory(m, catalog.file_type("Q4_K_M"), catalog.ggml_types, Workload(context_tokens=2048))
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.compute_buffer_bytes + est.overhead_bytes
    assert est.kv_cache_bytes == 2 * 2048 * 28 * 8 * 128 * 2
    assert 100 * MIB < est.compute_buffer_bytes < 1 * GIB


def test_llama_cpp_repacks_the_matrices_its_cpu_kernels_take():
    """speed.is_repacked follows ggml-cpu/repack.cpp: the type must be one the CPU family repacks,
    the output rows (ne[1]) a multiple of the interleave (x86: 8; Arm: 4 for Q4_0/IQ4_NL/MXFP4/Q8_0,
    8 for the K-quants), and the matrix multiplied (a lookup table is not)."""
    from advisor.engine.speed import is_repacked
    from advisor.engine.tensors import Tensor

    q = Tensor("blk.0.attn_q.weight", (64, 12), 0)  # 12 rows: a multiple of 4, not of 8
    assert is_repacked(q, "Q4_0", "dotprod") and not is_repacked(q, "Q4_0", "avx2") and not is_repacked(q, "Q4_0", "avx512")
    k = Tensor("blk.0.attn_k.weight", (256, 12), 0)
    assert not is_repacked(k, "Q4_K", "dotprod") and is_repacked(Tensor("blk.0.attn_k.weight", (256, 16), 0), "Q4_K", "dotprod")
    assert is_repacked(Tensor("blk.0.ffn_up.weight", (256, 16), 0), "Q4_K", "avx2")
    assert not is_repacked(Tensor("blk.0.ffn_up.weight", (256, 16), 0), "Q8_0", "avx512")  # x86 keeps Q8_0 as stored
    assert is_repacked(Tensor("blk.0.ffn_up.weight", (256, 16), 0), "Q8_0", "dotprod")
    assert is_repacked(Tensor("blk.0.ffn_up.weight", (256, 16), 0), "Q2_K", "avx512") and not is_repacked(
        Tensor("blk.0.ffn_up.weight", (256, 16), 0), "Q2_K", "avx2")
    assert not is_repacked(Tensor("token_embd.weight", (64, 32000), None), "Q4_0", "avx2")  # GET_ROWS
    assert is_repacked(Tensor("output.weight", (64, 32000), None), "Q4_0", "avx2")  # MUL_MAT
    assert is_repacked(Tensor("blk.0.ffn_up_exps.weight", (256, 512, 32), 0), "Q4_K", "avx512")  # MUL_MAT_ID
    assert not is_repacked(Tensor("blk.0.attn_norm.weight", (64,), 0), "Q4_0", "avx2")
    assert not is_repacked(q, "Q4_0", None)


def test_the_repacked_copy_is_predicted_where_the_cpu_runs_the_layers(catalog):
    """MemoryEstimate.repacked_bytes: Llama-3.2-1B's Q4_0 layer matrices (16 layers × 60,817,408
    weights × 18/32 B = 547,356,672 B, llama.cpp's 522.00 MiB CPU_REPACK buffer on x86) on a CPU
    path; none with --no-repack or with every layer on a GPU; the CPU's share of the layers when a
    discrete GPU holds the rest. Never in the total."""
    from advisor.engine.evaluate import evaluate

    model, q4 = catalog.model("llama-3.2-1b-instruct"), catalog.file_type("Q4_0")
    w = Workload(context_tokens=4096, prompt_tokens=512, output_tokens=64)
    pi5 = evaluate(model, q4, catalog.device("raspberry-pi-5-8gb"), w, catalog).memory
    assert pi5.repacked_bytes == 16 * 60_817_408 * 18 // 32 == 547_356_672
    assert pi5.total_bytes == pi5.weights_bytes + pi5.kv_cache_bytes + pi5.compute_buffer_bytes + pi5.overhead_bytes
    off = evaluate(model, q4, catalog.device("raspberry-pi-5-8gb"), Workload(context_tokens=4096, cpu_repack=False), catalog)
    assert off.memory.repacked_bytes == 0 and off.memory.total_bytes == evaluate(
        model, q4, catalog.device("raspberry-pi-5-8gb"), Workload(context_tokens=4096), catalog).memory.total_bytes
    assert evaluate(model, catalog.file_type("Q8_0"), catalog.device("raspberry-pi-5-8gb"), w, catalog).memory.repacked_bytes > 0  # Arm
    assert evaluate(model, catalog.file_type("Q4_0"), catalog.device("raspberry-pi-4-4gb"), w, catalog).memory.repacked_bytes == 0  # no dotprod
    assert evaluate(model, q4, catalog.device("macbook-air-m2-8gb"), w, catalog).memory.repacked_bytes == 0  # Metal holds every layer
    # a partial offload: the layers left on the host CPU (AVX2) are repacked
    big = evaluate(catalog.model("qwen2.5-7b-instruct"), q4, catalog.device("desktop-rtx4060-8gb"),
                   Workload(context_tokens=131072), catalog)
    assert big.fit == "offload" and big.speed is not None
    cpu_share = 1 - big.speed.gpu_layers / 28
    inv = mem.per_tensor_bytes(catalog.model("qwen2.5-7b-instruct"), q4, catalog.ggml_types)
    from advisor.engine.speed import REPACK_FAMILIES, repacked_bytes

    assert big.memory.repacked_bytes == pytest.approx(repacked_bytes(inv)[0][REPACK_FAMILIES.index("avx2")] * cpu_share, rel=1e-6)

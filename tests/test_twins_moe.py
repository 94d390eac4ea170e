"""Mixture-of-experts and hybrid twins: llama.cpp builds, quantizes and loads them, and the
predictions match what it does, tensor by tensor and buffer by buffer.

Tiny models of five llama.cpp architectures (random weights, dims chosen to exercise the rules):
qwen3moe (16 experts, expert width 384 -> K-quant fallbacks on ffn_down_exps), olmoe (8 experts:
llama.cpp's 8-expert rules, whole-projection QK-norm), granitemoe (shared expert, tied output),
lfm2 (short-convolution layers beside attention layers, llama.cpp's `head_count_kv = 0` marks
a recurrent layer), lfm2moe (both, with two leading dense layers), granitehybrid (Mamba2 layers,
dense and MoE with a shared expert); and the dense layouts of
phi2, gptneox, smollm3, minicpm and bitnet (sub-layer norms, no output matrix; ternary types). For each:
(a) the F16 file has exactly ``tensor_inventory``'s names, ggml shapes and converter types;
(b) llama.cpp's quantizer gives every tensor the type ``quant_mix.tensor_types`` predicts and the
tensor bytes equal ``memory.weights_bytes``; (c) the KV buffer llama.cpp allocates equals
``kv_cache_bytes`` and its recurrent-state buffer equals ``recurrent_state_bytes`` (to the
±0.005 MiB its log prints); with flash attention on and off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from advisor.engine import empirical
from advisor.engine import memory as mem
from advisor.engine.quant_mix import source_type, tensor_types
from advisor.engine.tensors import tensor_inventory
from advisor.records import ModelSpec

gguf = pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.slow

_COMMON = dict(
    publisher="test", hf_repo="test/test", license="test", license_class="permissive", release_date="2025-01",
    params=1, params_published="-", verified=False, source="synthetic test model", attn_bias=False, qk_norm=True,
    norm="rms", ffn_gated=True, post_norms=False, sliding_window=0, swa_global_every=0, context_length=4096,
    max_position_embeddings=4096, vocab_size=2048, head_dim=64, family="test",
)
_HYBRID = (0, 0, 2, 0, 0, 2, 0, 2)  # 3 attention layers, 5 short-conv layers

TINY: dict[str, dict] = {
    "qwen3moe": dict(gguf_arch="qwen3moe", n_layers=8, hidden_size=256, ffn_size=768, n_heads=8, n_kv_heads=2,
                     tied_embeddings=False, n_experts=16, n_experts_used=4, expert_ffn_size=384),
    "olmoe": dict(gguf_arch="olmoe", n_layers=8, hidden_size=256, ffn_size=256, n_heads=4, n_kv_heads=4,
                  tied_embeddings=False, n_experts=8, n_experts_used=2, expert_ffn_size=256),
    "granitemoe": dict(gguf_arch="granitemoe", n_layers=8, hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=2,
                       qk_norm=False, tied_embeddings=True, n_experts=12, n_experts_used=4, expert_ffn_size=512,
                       shared_expert_ffn_size=256),
    "lfm2": dict(gguf_arch="lfm2", n_layers=8, hidden_size=256, ffn_size=768, n_heads=4, n_kv_heads=2,
                 tied_embeddings=True, n_kv_heads_per_layer=_HYBRID, shortconv_l_cache=3),
    "lfm2moe": dict(gguf_arch="lfm2moe", n_layers=8, hidden_size=256, ffn_size=768, n_heads=4, n_kv_heads=2,
                    tied_embeddings=True, n_kv_heads_per_layer=_HYBRID, shortconv_l_cache=3, n_experts=8,
                    n_experts_used=2, expert_ffn_size=384, n_dense_layers=2),
    # Mamba2 layers beside attention layers (Granite 4.0 H), dense and with a shared-expert MoE
    "granitehybrid": dict(gguf_arch="granitehybrid", n_layers=8, hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=4,
                          qk_norm=False, tied_embeddings=True, n_kv_heads_per_layer=(0, 0, 4, 0, 0, 0, 4, 0), ssm_d_state=32,
                          ssm_d_conv=4, ssm_n_group=1, ssm_n_heads=8),
    "granitehybrid-moe": dict(gguf_arch="granitehybrid", n_layers=8, hidden_size=256, ffn_size=256, n_heads=4, n_kv_heads=2,
                              qk_norm=False, tied_embeddings=True, n_kv_heads_per_layer=(0, 0, 2, 0, 0, 0, 2, 0), ssm_d_state=32,
                              ssm_d_conv=4, ssm_n_group=2, ssm_n_heads=8, n_experts=8, n_experts_used=2, expert_ffn_size=256,
                              shared_expert_ffn_size=512),
    # gpt-oss: biases everywhere, attention sinks, every other layer sliding (window 128), hidden 320
    # (not a multiple of 256, like gpt-oss-20b's 2880: K-quants fall back), MXFP4 experts
    "gpt-oss": dict(gguf_arch="gpt-oss", n_layers=4, hidden_size=320, ffn_size=320, n_heads=8, n_kv_heads=2, qk_norm=False,
                    attn_bias=True, tied_embeddings=False, sliding_window=128, swa_global_every=2, n_experts=4,
                    n_experts_used=2, expert_ffn_size=320),
    # phimoe: LayerNorms with biases, q/k/v/o and lm_head biases, 16-expert style MoE
    "phimoe": dict(gguf_arch="phimoe", n_layers=4, hidden_size=256, ffn_size=384, n_heads=4, n_kv_heads=2, qk_norm=False,
                   attn_bias=True, norm="layer", tied_embeddings=False, n_experts=4, n_experts_used=2, expert_ffn_size=384),
    # deepseek2 MLA: the KV cache holds only the compressed latent (kv_lora + rope) per layer; one
    # leading dense layer; two shared experts fused into one shexp
    "deepseek2": dict(gguf_arch="deepseek2", n_layers=4, hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=1, head_dim=96,
                      qk_norm=False, tied_embeddings=False, rope_dims=32, kv_lora_rank=128, v_head_dim=64, n_experts=6,
                      n_experts_used=2, expert_ffn_size=128, shared_expert_ffn_size=256, n_dense_layers=1),
    # gemma3n: per-layer embeddings, AltUp, LAuReL; 22 layers so that the last two reuse the KV of
    # earlier ones (llama.cpp keeps KV for the first 20 only)
    "gemma3n": dict(gguf_arch="gemma3n", n_layers=22, hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=2, qk_norm=True,
                    post_norms=True, tied_embeddings=True, sliding_window=512, swa_global_every=5, per_layer_input_dims=256,
                    altup_inputs=4, laurel_rank=64, n_kv_layers=20),
    # dense layouts new with this catalog: parallel blocks with biases (phi2), fused QKV (gptneox)
    "phi2": dict(gguf_arch="phi2", n_layers=4, hidden_size=256, ffn_size=1024, n_heads=4, n_kv_heads=4, qk_norm=False,
                 tied_embeddings=False, attn_bias=True, norm="layer", ffn_gated=False, rope_dims=32),
    "gptneox": dict(gguf_arch="gptneox", n_layers=4, hidden_size=256, ffn_size=1024, n_heads=4, n_kv_heads=4, qk_norm=False,
                    tied_embeddings=False, attn_bias=True, norm="layer", ffn_gated=False, rope_dims=16),
    # fused attn_qkv (the existing phi3 layout): this llama.cpp gives it the attn_v rules, not Q5_K
    "phi3": dict(gguf_arch="phi3", n_layers=8, hidden_size=256, ffn_size=512, n_heads=8, n_kv_heads=2, qk_norm=False,
                 tied_embeddings=True),
    "smollm3": dict(gguf_arch="smollm3", n_layers=4, hidden_size=256, ffn_size=768, n_heads=4, n_kv_heads=2, qk_norm=False,
                    tied_embeddings=True),
    # MiniCPM 1-4: llama's layout under its own architecture (muP scales as metadata), untied, GQA
    "minicpm": dict(gguf_arch="minicpm", n_layers=4, hidden_size=256, ffn_size=1024, n_heads=4, n_kv_heads=1, qk_norm=False,
                    tied_embeddings=False),
    # BitNet b1.58: llama's layout plus attn_sub_norm / ffn_sub_norm; GQA as in 2B4T
    "bitnet": dict(gguf_arch="bitnet", n_layers=4, hidden_size=256, ffn_size=768, n_heads=4, n_kv_heads=2, qk_norm=False,
                   tied_embeddings=True),
    # as 1bitLLM's 3B: MHA, an untied config (llama.cpp still keeps no output matrix), hidden and
    # FFN not multiples of 256 (3200, 8640): every K-quant and ternary matrix falls back
    "bitnet-untied": dict(gguf_arch="bitnet", n_layers=4, hidden_size=320, ffn_size=864, n_heads=5, n_kv_heads=5,
                          qk_norm=False, tied_embeddings=False),
}
#: twins llama.cpp quantizes but cannot load: phi3's vocabulary loader wants its real special tokens
NO_LOAD = ("phi3",)
FILE_TYPES = ("Q8_0", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "Q5_K_M", "Q4_K_S", "IQ4_XS", "MXFP4_MOE")
IMATRIX_FILE_TYPES = ("IQ2_M", "IQ3_XXS")


def _spec(arch: str) -> ModelSpec:
    return ModelSpec(id=f"tiny-{arch}", name=f"tiny {arch}", **{**_COMMON, **TINY[arch]})


def _read(path: Path) -> dict[str, tuple[tuple[int, ...], str, int]]:
    return {t.name: (tuple(int(d) for d in t.shape), t.tensor_type.name, int(t.n_bytes)) for t in gguf.GGUFReader(path).tensors}


@pytest.mark.parametrize("arch", list(TINY))
def test_f16_twin_matches_inventory(arch, twin_cache):
    from advisor.validate.twin import build_twin

    model = _spec(arch)
    got = _read(build_twin(model, "F16", twin_cache))
    inv = tensor_inventory(model)
    assert list(got) == [t.name for t in inv]
    assert [got[t.name][:2] for t in inv] == [(t.shape, source_type(t)) for t in inv]
    if model.n_experts:
        assert any(len(t.shape) == 3 for t in inv)  # experts stacked into 3-D tensors


@pytest.mark.parametrize("arch,file_type", [(a, f) for a in TINY for f in FILE_TYPES + IMATRIX_FILE_TYPES])
def test_quantized_twin_matches_quant_mix_and_bytes(arch, file_type, twin_cache, catalog):
    from advisor.validate.twin import build_twin

    model = _spec(arch)
    ftype = catalog.file_type(file_type)
    imatrix = file_type in IMATRIX_FILE_TYPES
    got = _read(build_twin(model, file_type, twin_cache, uniform_imatrix=imatrix, threads=os.cpu_count()))
    inv = tensor_inventory(model)
    assert sorted(got) == sorted(t.name for t in inv)
    expected = tensor_types(model, ftype.id, ftype.base_type, imatrix)
    diff = [(t.name, got[t.name][1], want) for t, want in zip(inv, expected) if got[t.name][1] != want]
    assert not diff, f"{len(diff)} tensors differ (name, llama.cpp, quant_mix): {diff[:8]}"
    assert sum(b for _, _, b in got.values()) == mem.weights_bytes(model, ftype, catalog.ggml_types, has_imatrix=imatrix)


#: llama.cpp's ternary file types (llama_ftype 36, 37), not catalog file types: llama.cpp quantizes
#: any model to them, but only a natively ternary one (BitNet b1.58) keeps its quality there
TERNARY = {"TQ1_0": 36, "TQ2_0": 37}


@pytest.mark.parametrize("arch,file_type", [(a, f) for a in ("bitnet", "bitnet-untied") for f in TERNARY])
def test_ternary_twin_matches_quant_mix_and_bytes(arch, file_type, twin_cache, catalog):
    from advisor.records import FileType
    from advisor.validate.twin import build_twin

    model = _spec(arch)
    ftype = FileType(id=file_type, llama_ftype=TERNARY[file_type], base_type=file_type, description="ternary",
                     imatrix="no", common=False)
    got = _read(build_twin(model, file_type, twin_cache, threads=os.cpu_count()))
    inv = tensor_inventory(model)
    expected = tensor_types(model, ftype.id, ftype.base_type)
    assert [got[t.name][1] for t in inv] == list(expected)
    # hidden 256: the matrices are ternary and token_embd (the output too) Q6_K; hidden 320: all fall back
    assert (file_type in expected) is (model.hidden_size % 256 == 0)
    assert sum(b for _, _, b in got.values()) == mem.weights_bytes(model, ftype, catalog.ggml_types)


@pytest.mark.parametrize("flash_attn", [True, False])
@pytest.mark.parametrize("arch", [a for a in TINY if a not in NO_LOAD])
def test_kv_and_recurrent_buffers_match_llama_cpp(arch, flash_attn, twin_cache):
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    model = _spec(arch)
    path = build_twin(model, "Q8_0", twin_cache, threads=os.cpu_count())
    n_ctx = 1000  # llama.cpp pads the context to 1024 cells
    # swa_full=False: llama.cpp's command-line default, which the engine predicts. No extra buffer
    # types: the KV and recurrent buffers do not depend on them, and on an x86 CPU with AMX the
    # AMX kernels crash (SIGSEGV) evaluating these tiny Q8_0 twins (llama-cpp-python 0.3.36)
    b = measure_buffers(path, n_ctx=n_ctx, flash_attn=flash_attn, swa_full=False, eval_tokens=8, use_extra_bufts=False)
    assert b.flash_attn is flash_attn
    assert b.kv_buffer_bytes == mem.kv_cache_bytes(model, n_ctx)
    kv_layers = sum(not model.is_recurrent(i) and (not model.n_kv_layers or i < model.n_kv_layers) for i in range(model.n_layers))
    assert sum(c.layers for c in b.kv_caches) == kv_layers
    assert abs(b.recurrent_state_bytes - mem.recurrent_state_bytes(model)) <= 0.005 * (1 << 20)
    assert (b.recurrent_state_bytes > 0) == bool(model.shortconv_l_cache or model.ssm_d_state)
    # Gemma 3n's per-layer-embedding and AltUp activations are not in the compute-buffer model
    # (at real size its 262k-vocabulary logits dominate them); the other tiny twins are checked
    if not flash_attn and not model.per_layer_input_dims:
        # the attention scores dominate these tiny models' compute buffer; the rest of the graph
        # differs by about one hidden-width activation between layouts (±4 %)
        predicted = empirical.guess_compute_buffer_bytes(model, n_ctx, 512, flash_attn=False)
        if model.n_experts:
            # the expert FFN intermediates (n_ubatch × n_experts_used × expert width) are not in the
            # model yet: the attention phase is a lower bound (granitemoe: 81 % of the buffer)
            assert 0.75 * b.compute_buffer_bytes <= predicted <= 1.04 * b.compute_buffer_bytes
        else:
            assert predicted == pytest.approx(b.compute_buffer_bytes, rel=0.045)


@pytest.mark.parametrize("n_ctx", [2048, 8192])
def test_compute_buffer_without_flash_attention_real_size(n_ctx, twin_cache, catalog):
    """SmolLM2-135M (9 heads, 49k vocab): the logits phase peaks at 2,048 tokens, the attention
    scores at 8,192 (predicted 167 MiB vs 98 MiB of logits)."""
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    model = catalog.model("smollm2-135m-instruct")
    b = measure_buffers(build_twin(model, "Q8_0", twin_cache, threads=os.cpu_count()), n_ctx=n_ctx, flash_attn=False)
    assert b.flash_attn is False
    predicted = empirical.guess_compute_buffer_bytes(model, n_ctx, 512, flash_attn=False)
    assert predicted == pytest.approx(b.compute_buffer_bytes, rel=0.02)


@pytest.mark.parametrize("model_id", ["granite-3.1-1b-a400m-instruct", "lfm2-350m"])
def test_real_size_moe_and_hybrid_twins(model_id, twin_cache, catalog):
    """Catalog models at their real dims (a 1.3B MoE, a 0.35B hybrid) in Q4_K_M: every tensor type,
    the tensor bytes, the KV and recurrent buffers and the compute buffer with flash attention on
    and off, against llama.cpp at 4,096 tokens (measured: compute within 0.01 %)."""
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    model = catalog.model(model_id)
    ftype = catalog.file_type("Q4_K_M")
    path = build_twin(model, "Q4_K_M", twin_cache, threads=os.cpu_count())
    got = _read(path)
    inv = tensor_inventory(model)
    expected = tensor_types(model, ftype.id, ftype.base_type)
    assert [got[t.name][1] for t in inv] == list(expected)
    assert sum(b for _, _, b in got.values()) == mem.weights_bytes(model, ftype, catalog.ggml_types)
    for flash_attn in (True, False):
        b = measure_buffers(path, n_ctx=4096, flash_attn=flash_attn, swa_full=False)
        assert b.kv_buffer_bytes == mem.kv_cache_bytes(model, 4096)
        assert abs(b.recurrent_state_bytes - mem.recurrent_state_bytes(model)) <= 0.005 * (1 << 20)
        predicted = empirical.guess_compute_buffer_bytes(model, 4096, 512, flash_attn=flash_attn)
        assert predicted == pytest.approx(b.compute_buffer_bytes, rel=0.03)

"""Empirical fits and defaults, kept apart from first-principles code (gguf-parser's ``Guess…``).

Every constant here was fitted to, or checked against, something real; the docstring says what.
"""

from __future__ import annotations

from typing import Any

from advisor.records import ModelSpec
from advisor.units import MIB

#: llama.cpp pads the KV cache to a multiple of this many cells (llama_kv_cache::get_padding).
KV_CELL_PADDING = 256

#: Whether llama.cpp's flash attention is on by default for the CPU backend (flash_attn = auto).
FLASH_ATTN_DEFAULT = True

#: Process overhead beyond llama.cpp's buffers: code, libraries, the ggml/llama contexts, the
#: output (logits) buffer, allocator slack. Peak RSS of real runs (benchmarks/results/validation.md,
#: a Python process with llama-cpp-python) leaves ~100 MiB beside the weights for the smallest model.
RUNTIME_OVERHEAD_BYTES = 100 * MIB

#: llama.cpp compiled to WebAssembly (wllama's ``wasm`` backend) against native llama.cpp on the same
#: CPU, threads and GGUF twin: WebAssembly SIMD has 128-bit vectors and no int8 dot-product
#: instruction (int8 × int8 goes through i16 widening), and none of the native AVX/NEON kernels,
#: repacked layouts or tinyBLAS. Measured in headless Chromium with @wllama/wllama 3.13.0 on this
#: repository's x86 VM (AVX-512 VNNI, 1 thread: wllama's default of half the cores;
#: benchmarks/results/wllama_browser.md, python benchmarks/wllama_browser.py): SmolLM2-135M Q8_0
#: decode 9.7 and 8.8 tok/s against native 74.7 and 71.9 (×0.13, ×0.12), Q4_0 6.7 against 109
#: (×0.06); prompt 16.6, 14.8 and 10.1 against 298, 271 and 462 (×0.056, ×0.055, ×0.022). The
#: medians scale the compute efficiencies of the prior a wasm backend takes from llama.cpp's CPU
#: path (``evaluate.runtime_prior``). One x86 machine: on Arm, whose NEON is 128-bit like wasm's,
#: the gap is probably smaller (not measured), so the figures err slow there.
WASM_DECODE_COMPUTE_FACTOR = 0.12
WASM_PREFILL_FACTOR = 0.055

#: Fraction of usable memory above which a fit is called "tight" (no room for other apps or
#: a longer conversation).
TIGHT_FRACTION = 0.90


#: Efficiency of llama.cpp's routed-expert GEMMs (MUL_MAT_ID) in prefill relative to the dense
#: GEMMs of the same accelerator path (``guess_expert_gemm_efficiency``). Fitted by
#: ``benchmarks/moe_speed.py`` (least squares in log of the MoE/dense prefill ratio, 3 rows of one
#: M2 Ultra, llama.cpp PR 15616: 0.532; leave-one-row-out errors +4 / −13 / +12 %, against
#: +59 / +39 / +39 % at 1); results/moe_speed.md.
EXPERT_GEMM_EFFICIENCY_GPU = 0.53

#: The same on llama.cpp's CPU path, by the CPU's kernel family (speed.REPACK_FAMILIES; 1 where not
#: listed). x86: this machine's AVX-512 (python benchmarks/cpu_expert_prefill.py,
#: benchmarks/results/cpu_expert_prefill.md): a Granite-3.1-1B-A400M twin (32 experts, 8 per token,
#: 64 rows per expert at a 256-token prompt) against a dense Llama-3.2-1B twin in the same session,
#: each measured ÷ predicted: the MoE's over the dense model's ×0.53 in Q8_0 and ×0.58 in Q4_K_M —
#: the dense matrices of x86 run llama.cpp's tiled GEMMs (llamafile sgemm, the repacked kernels), the
#: experts' MUL_MAT_ID fewer of them; 0.55. AVX2 takes it (the same code paths; not measured). Arm
#: dotprod: 1 (OLMoE vs Qwen2.5-1.5B Q8_0 on the same Raspberry Pi 5 leaderboard: no MoE loss).
EXPERT_GEMM_EFFICIENCY_CPU = {"avx512": 0.55, "avx2": 0.55}


def guess_expert_gemm_efficiency(on_accelerator: Any, gpu_efficiency: float | None = None, cpu_efficiency: Any = 1.0) -> Any:
    """η of the routed experts' prefill GEMMs: EXPERT_GEMM_EFFICIENCY_GPU on an accelerator path,
    ``cpu_efficiency`` on the CPU (EXPERT_GEMM_EFFICIENCY_CPU of its kernel family). Measured on
    Metal from 32 to 128 rows per expert the loss barely changes (0.63 → 0.72 of the dense
    speed-up), so η does not depend on the micro-batch here."""
    eta = EXPERT_GEMM_EFFICIENCY_GPU if gpu_efficiency is None else gpu_efficiency
    if isinstance(on_accelerator, bool) and not hasattr(cpu_efficiency, "shape"):
        return eta if on_accelerator else cpu_efficiency
    import numpy as np

    return np.where(on_accelerator, eta, cpu_efficiency)


def resolve_flash_attn(setting: str) -> bool:
    """"on"/"off" as given; "auto" is llama.cpp's default, FLASH_ATTN_DEFAULT."""
    return FLASH_ATTN_DEFAULT if setting == "auto" else setting == "on"


def guess_compute_buffer_bytes(model: ModelSpec, n_ctx: int, n_ubatch: int, *, flash_attn: bool) -> int:
    """Guess of llama.cpp's CPU compute (graph) buffer.

    Fitted to the sizes llama.cpp 0.3.36 (llama-cpp-python) reports for 6 architectures × 3 file
    types × 3 contexts (benchmarks/results/llama_buffers.csv): with flash attention (the CPU
    default, "auto" → on) the graph allocator's peak is the logits of one micro-batch plus two
    hidden-width activations, ``4 B × n_ubatch × (n_vocab + 2 × hidden)``, within 3% for every row.

    Without flash attention the attention phase competes with the logits for the peak: the F32
    scores of every head over the padded cache plus the F32 mask,
    ``4 B × n_ubatch × (cells × (n_heads + 1) + 4 × hidden + 2 × n_heads × head_dim)``
    (n_heads of the widest attention layer; cells = n_ctx padded to KV_CELL_PADDING). Fitted to
    llama.cpp 0.3.36 with flash attention off on twins: SmolLM2-135M at 2,048 / 8,192 tokens
    −1.1 % / +0.2 %, LFM2-350M 0.0 % / 0.0 %, and tiny smollm3/qwen3moe/lfm2 twins within 0.1 %
    of the attention phase (tests/test_twins_moe.py).

    A context shorter than the micro-batch shrinks it: with causal attention llama.cpp caps
    n_batch at n_ctx and n_ubatch at n_batch (llama-context.cpp), so ``n_ubatch`` here is
    min(n_ubatch, n_ctx) — measured: SmolLM2-135M at n_ctx 256 / 300 / 100 reports n_ubatch 256 /
    300 / 100 and 49.13 / 57.57 / 19.19 MiB, this formula at the capped micro-batch to the 0.01 MiB.
    """
    n_ubatch = min(n_ubatch, n_ctx)
    logits = model.vocab_size * n_ubatch * 4
    activations = 2 * model.hidden_size * n_ubatch * 4
    if flash_attn:
        return int(logits + activations)
    cells = -(-n_ctx // KV_CELL_PADDING) * KV_CELL_PADDING
    heads = max((model.heads(i) for i in range(model.n_layers) if not model.is_recurrent(i)), default=model.n_heads)
    attention = 4 * n_ubatch * (cells * (heads + 1) + 4 * model.hidden_size + 2 * heads * model.head_dim)
    return int(max(logits + activations, attention))


#: Prefill working buffers of runtimes other than llama.cpp, per token of a prefill chunk and per
#: unit of FFN width: ``3 × activation bytes + 4`` bytes (the gate/up output, the activated
#: product and one f32 scratch). Fitted to WebLLM's own memory figures (webllm-vram.csv, 65 builds
#: of catalog models): the memory beyond weights and KV is 80–88 MiB for the f16 builds of
#: Llama-3.2-1B and SmolLM2-1.7B (chunk 1024 × FFN 8192 × 10 B = 80 MiB) and 128–136 MiB for their
#: f32 builds (× 16 B = 128 MiB); 63 MiB for TinyLlama (FFN 5632: 55 MiB), 162–181 MiB for
#: Llama-3-8B (FFN 14336: 140 MiB).
RUNTIME_BUFFER_BYTES_PER_FFN_UNIT = (3, 4)

#: Model families whose MLC builds hold the logits of a whole prefill chunk in f32
#: (chunk × vocab × 4 B) — seen only in WebLLM's figures, not in a source read: Qwen2.5/Qwen3
#: builds need 0.6–0.9 GB beyond weights + KV + buffers (Qwen3-0.6B q4f16_1: 1,403 MB = 320 + 448 +
#: 30 + 151,936 × 1024 × 4 B = 593 MiB, within 1 %), Phi-4-mini 868 MiB (200,064 × 1024 × 4 B = 781
#: MiB + 80); Llama-3.x, Gemma, Phi-3.x, SmolLM2, Mistral and TinyLlama builds do not.
MLC_FULL_CHUNK_LOGITS_FAMILIES = frozenset({"qwen2.5", "qwen3", "deepseek-r1-distill", "phi-4"})


def guess_runtime_buffer_bytes(model: ModelSpec, chunk: int, activation_bytes: int, *, full_chunk_logits: bool,
                               max_ffn: int) -> int:
    """Guess of a non-llama.cpp runtime's prefill buffers for a chunk of ``chunk`` tokens:
    ``chunk × max FFN width × (3 × activation bytes + 4)``, plus ``chunk × vocab × 4`` when the
    runtime keeps the logits of the whole chunk (see the constants above). ``max_ffn``: the
    widest layer's FFN (``LayerSums.max_ffn``)."""
    per, extra = RUNTIME_BUFFER_BYTES_PER_FFN_UNIT
    logits = chunk * model.vocab_size * 4 if full_chunk_logits else 0
    return int(chunk * max_ffn * (per * activation_bytes + extra) + logits)

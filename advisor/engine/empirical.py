"""Empirical fits and defaults, kept apart from first-principles code (gguf-parser's ``Guess…``).

Every constant here was fitted to, or checked against, something real; the docstring says what.
"""

from __future__ import annotations

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

#: Fraction of usable memory above which a fit is called "tight" (no room for other apps or
#: a longer conversation).
TIGHT_FRACTION = 0.90


def guess_compute_buffer_bytes(model: ModelSpec, n_ctx: int, n_ubatch: int, *, flash_attn: bool) -> int:
    """Guess of llama.cpp's CPU compute (graph) buffer.

    Fitted to the sizes llama.cpp 0.3.36 (llama-cpp-python) reports for 6 architectures × 3 file
    types × 3 contexts (benchmarks/results/llama_buffers.csv): with flash attention (the CPU
    default, "auto" → on) the graph allocator's peak is the logits of one micro-batch plus two
    hidden-width activations, ``4 B × n_ubatch × (n_vocab + 2 × hidden)``, within 3% for every row.
    Without flash attention the attention scores (``4 B × n_heads × n_ctx × n_ubatch``) compete
    with the logits for the peak (first-principles; not measured here).
    """
    logits = model.vocab_size * n_ubatch * 4
    activations = 2 * model.hidden_size * n_ubatch * 4
    if flash_attn:
        return int(logits + activations)
    attention = model.n_heads * n_ctx * n_ubatch * 4
    return int(max(logits, attention) + activations)

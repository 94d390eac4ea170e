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
#: output (logits) buffer, allocator slack. Checked against peak RSS of real runs (benchmarks/).
RUNTIME_OVERHEAD_BYTES = 160 * MIB

#: Fraction of usable memory above which a fit is called "tight" (no room for other apps or
#: a longer conversation).
TIGHT_FRACTION = 0.90


def guess_compute_buffer_bytes(model: ModelSpec, n_ctx: int, n_ubatch: int, *, flash_attn: bool) -> int:
    """Guess of llama.cpp's CPU compute (graph) buffer, fitted to the sizes llama.cpp reports.

    The graph allocator's peak is dominated by the logits of one micro-batch
    (n_vocab × n_ubatch × 4 B) and, without flash attention, the attention scores
    (n_heads × n_ctx × n_ubatch × 4 B); the rest is activations of width hidden/ffn.
    """
    logits = model.vocab_size * n_ubatch * 4
    activations = n_ubatch * (model.hidden_size * 4 + max(model.ffn_size, model.n_heads * model.head_dim) * 2) * 4
    attention = 0 if flash_attn else model.n_heads * n_ctx * n_ubatch * 4
    return int(max(logits, attention) + activations)

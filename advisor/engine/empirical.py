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
    """
    logits = model.vocab_size * n_ubatch * 4
    activations = 2 * model.hidden_size * n_ubatch * 4
    if flash_attn:
        return int(logits + activations)
    cells = -(-n_ctx // KV_CELL_PADDING) * KV_CELL_PADDING
    heads = max((model.heads(i) for i in range(model.n_layers) if not model.is_recurrent(i)), default=model.n_heads)
    attention = 4 * n_ubatch * (cells * (heads + 1) + 4 * model.hidden_size + 2 * heads * model.head_dim)
    return int(max(logits + activations, attention))

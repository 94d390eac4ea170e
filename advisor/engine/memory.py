"""Memory: weights, KV cache, compute buffers and runtime overhead of a model on llama.cpp.

All functions are pure; sizes are integers of bytes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from advisor.engine import empirical
from advisor.engine.quant_mix import tensor_types
from advisor.engine.tensors import LayerSums, Tensor, expert_active_fraction, is_expert_tensor, layer_sums, tensor_inventory
from advisor.records import FileType, GgmlType, MemoryEstimate, ModelSpec, Workload

#: KV cache element storage as (block size, bytes per block): f16 2 B per value; q8_0 34 B per 32
#: values; q4_0 18 B per 32 (ggml-common.h block_q8_0 / block_q4_0).
KV_CACHE_GEOMETRY: dict[str, tuple[int, int]] = {"f16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18)}


def tensor_bytes(t: Tensor, gtype: GgmlType) -> int:
    """ggml_nbytes: rows × row size, row size = ne0 / block_size × type_size (ggml.c ggml_row_size)."""
    row = t.shape[0] // gtype.block_size * gtype.type_size
    rows = t.n_elements // t.shape[0]
    return row * rows


def per_tensor_bytes(
    model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType], *, has_imatrix: bool | None = None,
    inventory: Sequence[Tensor] | None = None,
) -> list[tuple[Tensor, str, int]]:
    """(tensor, ggml type, bytes) for every tensor under the file type's mix rules."""
    imatrix = ftype.imatrix != "no" if has_imatrix is None else has_imatrix
    inventory = inventory if inventory is not None else tensor_inventory(model)
    types = tensor_types(model, ftype.id, ftype.base_type, imatrix, inventory=inventory)
    return [(t, ty, tensor_bytes(t, ggml_types[ty])) for t, ty in zip(inventory, types)]


def weight_split(model: ModelSpec, rows: Sequence[tuple[Tensor, str, int]]) -> tuple[int, int, int]:
    """(total weight bytes, bytes only looked up — an untied token_embd, Gemma 3n's per-layer
    embeddings —, routed-expert bytes) of ``per_tensor_bytes`` rows."""
    total = sum(b for _, _, b in rows)
    has_output = any(t.name == "output.weight" for t, _, _ in rows)
    lookup = sum(b for t, _, b in rows if t.name == "token_embd.weight") if has_output else 0
    # Gemma 3n's per-layer embeddings: one row gathered per token, never streamed
    lookup += sum(b for t, _, b in rows if t.name == "per_layer_token_embd.weight")
    experts = sum(b for t, _, b in rows if is_expert_tensor(t))
    return total, lookup, experts


def expert_bytes_by_layer(rows: Sequence[tuple[Tensor, str, int]]) -> tuple[int, ...]:
    """Routed-expert bytes (the 3-D ``ffn_{gate,up,down}_exps`` weights, ``is_expert_tensor``) of
    each MoE layer, in block order: the bytes llama.cpp's ``--n-cpu-moe`` moves to host RAM layer
    by layer (its Q*_K_M rules give some layers' ffn_down_exps more bits, so the layers differ;
    gpt-oss's 2-D expert biases, which the flag moves too, are < 0.1 % and left out)."""
    by_layer: dict[int, int] = {}
    for t, _, b in rows:
        if is_expert_tensor(t):
            layer = int(t.name.split(".")[1])
            by_layer[layer] = by_layer.get(layer, 0) + b
    return tuple(by_layer[i] for i in sorted(by_layer))


def _weights_and_lookup(
    model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType], has_imatrix: bool | None
) -> tuple[int, int, int]:
    return weight_split(model, per_tensor_bytes(model, ftype, ggml_types, has_imatrix=has_imatrix))


def weights_bytes(
    model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType], *, has_imatrix: bool | None = None
) -> int:
    """Σ over tensors of ggml_nbytes under the per-tensor mix (not a bytes-per-parameter constant).

    Imatrix: by default assumed for file types where llama.cpp recommends or requires one (IQ*),
    as published GGUFs of those types are made with one; not for K-quants and legacy types.
    """
    return _weights_and_lookup(model, ftype, ggml_types, has_imatrix)[0]


def embedding_lookup_bytes(model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType]) -> int:
    """Bytes only looked up, never streamed per token: an untied token_embd, Gemma 3n's per-layer
    embeddings (``weight_split``)."""
    return _weights_and_lookup(model, ftype, ggml_types, None)[1]


def expert_weights_bytes(model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType]) -> int:
    """Bytes of the routed-expert tensors (``ffn_{gate,up,down}_exps``); 0 for a dense model."""
    return _weights_and_lookup(model, ftype, ggml_types, None)[2]


def prefill_weight_read_bytes(model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType]) -> int:
    """Weight bytes one prefill micro-batch streams: every tensor but the token-embedding lookup.

    A micro-batch of n tokens selects the union of its tokens' experts, E × (1 − (1 − k/E)^n)
    per layer with uniform routing; at llama.cpp's n_ubatch 512 that is every expert
    (MOE-ARCH-NOTES.md §3), so prefill reads all experts' weights once per micro-batch."""
    total, lookup, _ = _weights_and_lookup(model, ftype, ggml_types, None)
    return total - lookup


def decode_weight_read_bytes(model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType]) -> float:
    """Weight bytes one decoded token reads: every tensor but the token-embedding lookup, with the
    routed experts at n_experts_used / n_experts of their bytes (``GGML_OP_MUL_MAT_ID`` reads
    only the chosen experts' slices, ggml-cpu.c). Routers, shared experts and attention are read
    in full. Equals ``prefill_weight_read_bytes`` for a dense model."""
    total, lookup, experts = _weights_and_lookup(model, ftype, ggml_types, None)
    return total - lookup - experts + experts * expert_active_fraction(model)


def kv_cells(n_ctx: int, *, pad: int = empirical.KV_CELL_PADDING) -> int:
    """Cells llama.cpp allocates for a context of ``n_ctx`` tokens (padded up to ``pad``)."""
    return -(-n_ctx // pad) * pad


def swa_cells(model: ModelSpec, n_ctx: int, n_ubatch: int, *, pad: int = empirical.KV_CELL_PADDING) -> int:
    """Cells of a sliding-window layer: llama-kv-cache-iswa.cpp
    ``size_swa = min(size_base, GGML_PAD(n_swa + n_ubatch, n_pad))`` (one sequence)."""
    return min(kv_cells(n_ctx, pad=pad), kv_cells(model.sliding_window + n_ubatch, pad=pad))


def kv_cache_bytes(model: ModelSpec, n_ctx: int, cache_type: str = "f16", n_ubatch: int = 512, *, sums: LayerSums | None = None,
                   swa_full: bool = False) -> int:
    """KV cache = Σ_layers 2 × cells_layer × n_kv_heads_layer × head_dim × bytes(cache type).

    K and V each store n_kv_heads × head_dim values per cell (GQA: kv heads, not query heads);
    sliding-window layers (Gemma 2/3) hold only the window plus one micro-batch — llama.cpp's
    default (common ``--swa-full`` off); ``swa_full`` True: they hold the whole context, as
    ``llama_context_default_params`` and llama-cpp-python's ``Llama()`` allocate them.
    """
    block, size = KV_CACHE_GEOMETRY[cache_type]
    sums = sums or layer_sums(model)
    full = kv_cells(n_ctx)
    local = (full if swa_full else swa_cells(model, n_ctx, n_ubatch)) if sums.swa_kv_dims else 0
    # rows are whole blocks: n_kv_heads × head_dim is a multiple of 32 for every catalog model
    return 2 * (full * sums.global_kv_dims + local * sums.swa_kv_dims) // block * size


def recurrent_state_bytes(model: ModelSpec, n_seq: int = 1) -> int:
    """Recurrent state of a hybrid model: per recurrent layer an r and an s tensor of n_embd_r and
    n_embd_s F32 values per sequence (llama-memory-recurrent.cpp, ``mem_size = max(1, n_seq_max)``);
    it does not grow with the context. LFM2 short conv: r = hidden × (l_cache − 1), s = 0."""
    return 4 * layer_sums(model).recurrent_state_values * max(1, n_seq)


def kv_bytes_per_token(model: ModelSpec, cache_type: str = "f16") -> float:
    """KV bytes added per token of context across the global layers (decode reads grow with this)."""
    block, size = KV_CACHE_GEOMETRY[cache_type]
    return 2 * layer_sums(model).global_kv_dims / block * size


def kv_read_bytes(model: ModelSpec, position: float, cache_type: str = "f16", *, sums: LayerSums | None = None) -> float:
    """KV bytes one decode step reads at ``position`` tokens into the context (sliding-window
    layers read at most the window)."""
    block, size = KV_CACHE_GEOMETRY[cache_type]
    sums = sums or layer_sums(model)
    swa_span = min(position, model.sliding_window) if sums.swa_kv_dims else 0
    return 2 * (position * sums.global_kv_dims + swa_span * sums.swa_kv_dims) / block * size


def estimate_memory(
    model: ModelSpec,
    ftype: FileType,
    ggml_types: Mapping[str, GgmlType],
    workload: Workload,
    *,
    flash_attn: bool | None = None,
    overhead_bytes: int = empirical.RUNTIME_OVERHEAD_BYTES,
) -> MemoryEstimate:
    """Weights + KV cache (+ recurrent state) + compute buffer + runtime overhead for one llama.cpp
    context. ``flash_attn`` None: the workload's setting ("auto" = llama.cpp's default)."""
    if flash_attn is None:
        flash_attn = empirical.resolve_flash_attn(workload.flash_attn)
    return MemoryEstimate(
        weights_bytes=weights_bytes(model, ftype, ggml_types),
        kv_cache_bytes=kv_cache_bytes(model, workload.context_tokens, workload.kv_cache_type, workload.n_ubatch),
        recurrent_state_bytes=recurrent_state_bytes(model),
        compute_buffer_bytes=empirical.guess_compute_buffer_bytes(
            model, workload.context_tokens, workload.n_ubatch, flash_attn=flash_attn
        ),
        overhead_bytes=overhead_bytes,
    )

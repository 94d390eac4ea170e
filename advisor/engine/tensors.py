"""Tensor inventory: every weight tensor of a model as llama.cpp names and shapes it.

Shapes are in ggml order: ``shape[0]`` (``ne[0]``) is the row length, i.e. the input dimension
of a matrix, which is what block quantization divides. Tensor names and shapes follow
llama.cpp ``src/llama-model.cpp`` (``llm_build_*`` / ``load_tensors``) and the names written by
``convert_hf_to_gguf.py``. The synthetic-twin builder writes exactly this inventory, so a GGUF
that llama.cpp loads is the test that it is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from advisor.records import ModelSpec


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    layer: int | None  # block index; None for token_embd/output/output_norm

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) >= 2


def _layer_tensors(m: ModelSpec, i: int) -> list[Tensor]:
    e = m.hidden_size
    hd = m.head_dim
    nh, nkv, ff = m.heads(i), m.kv_heads(i), m.ffn(i)
    q_out, kv_out = nh * hd, nkv * hd
    p = f"blk.{i}."
    t: list[Tensor] = []

    def add(name: str, *shape: int) -> None:
        t.append(Tensor(p + name, tuple(shape), i))

    def norm(name: str, dim: int) -> None:
        add(f"{name}.weight", dim)
        if m.norm == "layer":
            add(f"{name}.bias", dim)

    norm("attn_norm", e)
    if m.gguf_arch in ("phi3", "openelm"):
        # fused query/key/value projection
        add("attn_qkv.weight", e, q_out + 2 * kv_out)
    else:
        add("attn_q.weight", e, q_out)
        add("attn_k.weight", e, kv_out)
        add("attn_v.weight", e, kv_out)
    if m.attn_bias:
        add("attn_q.bias", q_out)
        add("attn_k.bias", kv_out)
        add("attn_v.bias", kv_out)
    if m.qk_norm:
        add("attn_q_norm.weight", hd)
        add("attn_k_norm.weight", hd)
    add("attn_output.weight", q_out, e)
    if m.post_norms:
        add("post_attention_norm.weight", e)
    norm("ffn_norm", e)
    if m.gguf_arch in ("phi3", "openelm"):
        # gate and up fused into one [e, 2*ff] tensor
        add("ffn_up.weight", e, 2 * ff)
    else:
        if m.ffn_gated:
            add("ffn_gate.weight", e, ff)
        add("ffn_up.weight", e, ff)
    add("ffn_down.weight", ff, e)
    if m.post_norms:
        add("post_ffw_norm.weight", e)
    return t


def tensor_inventory(m: ModelSpec) -> tuple[Tensor, ...]:
    """All tensors of ``m`` in the order convert_hf_to_gguf writes them (global first)."""
    e, v = m.hidden_size, m.vocab_size
    out: list[Tensor] = [Tensor("token_embd.weight", (e, v), None)]
    for i in range(m.n_layers):
        out.extend(_layer_tensors(m, i))
    out.append(Tensor("output_norm.weight", (e,), None))
    if m.norm == "layer":
        out.append(Tensor("output_norm.bias", (e,), None))
    if not m.tied_embeddings:
        out.append(Tensor("output.weight", (e, v), None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LayerSums:
    """Per-model sums over layers, split into global and sliding-window layers, so that KV and
    attention formulas are closed-form (no per-layer loop in hot paths)."""

    global_kv_dims: int  # Σ over global layers of n_kv_heads × head_dim
    swa_kv_dims: int  # the same over sliding-window layers
    global_q_dims: int  # Σ over global layers of n_heads × head_dim
    swa_q_dims: int
    matmul_params: int  # every matrix except token_embd and output


def layer_sums(m: ModelSpec) -> LayerSums:
    """The sums of one model (O(layers); the catalog's ``derived`` table keeps them)."""
    gkv = skv = gq = sq = 0
    for layer in range(m.n_layers):
        kv, q = m.kv_heads(layer) * m.head_dim, m.heads(layer) * m.head_dim
        if m.is_swa_layer(layer):
            skv, sq = skv + kv, sq + q
        else:
            gkv, gq = gkv + kv, gq + q
    mm = sum(t.n_elements for t in tensor_inventory(m) if t.is_matrix and t.name not in ("token_embd.weight", "output.weight"))
    return LayerSums(global_kv_dims=gkv, swa_kv_dims=skv, global_q_dims=gq, swa_q_dims=sq, matmul_params=mm)


def count_params(m: ModelSpec) -> int:
    """Parameters from the inventory (tied embedding counted once)."""
    return sum(t.n_elements for t in tensor_inventory(m))

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


_FUSED_QKV = ("phi3", "openelm", "gptneox")
_FUSED_GATE_UP = ("phi3", "openelm")
#: Architectures whose every linear layer has a bias (q/k/v, output, ffn up/down) and whose
#: attention and MLP run in parallel off one residual (llama.cpp phi2 / gptneox loaders).
_BIASED = ("phi2", "gptneox")


def _layer_tensors(m: ModelSpec, i: int) -> list[Tensor]:
    e = m.hidden_size
    hd = m.head_dim
    nh, nkv, ff = m.heads(i), m.kv_heads(i), m.ffn(i)
    q_out, kv_out = nh * hd, nkv * hd
    arch = m.gguf_arch
    biased = arch in _BIASED
    p = f"blk.{i}."
    t: list[Tensor] = []

    def add(name: str, *shape: int) -> None:
        t.append(Tensor(p + name, tuple(shape), i))

    def norm(name: str, dim: int) -> None:
        add(f"{name}.weight", dim)
        if m.norm == "layer":
            add(f"{name}.bias", dim)

    norm("attn_norm", e)
    if m.is_recurrent(i) and m.ssm_d_state:
        # Mamba2 mixer (llama.cpp granite-hybrid.cpp load_arch_tensors): in_proj to z, x, B, C, dt;
        # depthwise conv over x, B, C; per-head dt bias, A and D; grouped RMS norm; out_proj
        d_in, g, ds, nh = m.ssm_d_inner, m.ssm_n_group, m.ssm_d_state, m.ssm_n_heads
        add("ssm_in.weight", e, 2 * d_in + 2 * g * ds + nh)
        add("ssm_conv1d.weight", m.ssm_d_conv, d_in + 2 * g * ds)
        add("ssm_conv1d.bias", d_in + 2 * g * ds)
        add("ssm_dt.bias", nh)
        add("ssm_a", 1, nh)
        add("ssm_d", 1, nh)
        # {d_inner / n_group, n_group}; llama.cpp writes a trailing 1 away (1-D when n_group = 1)
        add("ssm_norm.weight", *((d_in // g, g) if g > 1 else (d_in,)))
        add("ssm_out.weight", d_in, e)
    elif m.is_recurrent(i):
        # LFM2 gated short convolution (llama.cpp lfm2.cpp load_arch_tensors): depthwise conv
        # {l_cache, e}, in_proj {e, 3e} (B, C and x), out_proj {e, e}
        add("shortconv.conv.weight", m.shortconv_l_cache, e)
        add("shortconv.in_proj.weight", e, 3 * e)
        add("shortconv.out_proj.weight", e, e)
    elif m.kv_lora_rank:
        # MLA (llama.cpp deepseek2.cpp, no q LoRA as in V2-Lite): q {e, H × (nope + rope)}; the
        # compressed kv latent and the shared rope key {e, kv_lora + rope}; per-head up-projections
        # of k (nope) and v split into 3-D tensors
        r, lora, vd = m.rope_dims, m.kv_lora_rank, m.v_head_dim
        add("attn_kv_a_norm.weight", lora)
        add("attn_q.weight", e, nh * hd)
        add("attn_kv_a_mqa.weight", e, lora + r)
        add("attn_k_b.weight", hd - r, lora, nh)
        add("attn_v_b.weight", lora, vd, nh)
        add("attn_output.weight", nh * vd, e)
    else:
        if arch in _FUSED_QKV:
            add("attn_qkv.weight", e, q_out + 2 * kv_out)
            if biased:
                add("attn_qkv.bias", q_out + 2 * kv_out)
        else:
            add("attn_q.weight", e, q_out)
            add("attn_k.weight", e, kv_out)
            add("attn_v.weight", e, kv_out)
        if m.attn_bias and arch not in _FUSED_QKV:
            add("attn_q.bias", q_out)
            add("attn_k.bias", kv_out)
            add("attn_v.bias", kv_out)
        if m.qk_norm:
            # OLMoE normalises the whole q and k projections, the others per head
            add("attn_q_norm.weight", q_out if arch == "olmoe" else hd)
            add("attn_k_norm.weight", kv_out if arch == "olmoe" else hd)
        if arch == "bitnet":
            # BitNet's sub-layer norm of the attention output, before attn_output (llama.cpp
            # bitnet.cpp: attn_sub_norm {n_embd}; its wq is {n_embd, n_embd}, so q_out = hidden)
            add("attn_sub_norm.weight", e)
        add("attn_output.weight", q_out, e)
        if biased or arch in ("gpt-oss", "phimoe"):
            add("attn_output.bias", e)
        if arch == "gpt-oss":
            add("attn_sinks.weight", nh)  # learned per-head attention sink logits
    if m.post_norms or arch == "gpt-oss":  # gpt-oss: the post-attention norm is its FFN's input norm
        add("post_attention_norm.weight", e)
    if arch not in ("phi2", "gpt-oss"):  # Phi-2's MLP reads the attention norm's output (parallel block)
        norm("ffn_norm", e)
    if m.is_moe_layer(i):
        n, fe = m.n_experts, m.expert_ffn_size
        # router {e, n_expert} kept F32; experts stacked into one 3-D tensor per projection
        add("ffn_gate_inp.weight", e, n)
        add("ffn_gate_exps.weight", e, fe, n)
        add("ffn_up_exps.weight", e, fe, n)
        add("ffn_down_exps.weight", fe, e, n)
        if arch == "lfm2moe":
            add("exp_probs_b.bias", n)  # expert score-correction bias
        if arch == "gpt-oss":  # biases on the router and on every expert (llama.cpp openai-moe.cpp)
            add("ffn_gate_inp.bias", n)
            add("ffn_gate_exps.bias", fe, n)
            add("ffn_up_exps.bias", fe, n)
            add("ffn_down_exps.bias", e, n)
        if m.shared_expert_ffn_size:
            s = m.shared_expert_ffn_size
            add("ffn_gate_shexp.weight", e, s)
            add("ffn_up_shexp.weight", e, s)
            add("ffn_down_shexp.weight", s, e)
    elif arch in _FUSED_GATE_UP:
        # gate and up fused into one [e, 2*ff] tensor
        add("ffn_up.weight", e, 2 * ff)
        add("ffn_down.weight", ff, e)
    else:
        if m.ffn_gated:
            add("ffn_gate.weight", e, ff)
        add("ffn_up.weight", e, ff)
        if biased:
            add("ffn_up.bias", ff)
        if arch == "bitnet":
            add("ffn_sub_norm.weight", ff)  # BitNet: RMS norm of the gated product, before ffn_down
        add("ffn_down.weight", ff, e)
        if biased:
            add("ffn_down.bias", e)
    if m.post_norms:
        add("post_ffw_norm.weight", e)
    if m.per_layer_input_dims:
        # Gemma 3n (llama.cpp gemma3n.cpp): per-layer input gate/projection, AltUp, LAuReL
        pl, n_alt, lr = m.per_layer_input_dims, m.altup_inputs, m.laurel_rank
        add("inp_gate.weight", e, pl)
        add("proj.weight", pl, e)
        add("post_norm.weight", e)
        add("altup_correct_coef.weight", n_alt, n_alt)
        add("altup_correct_scale.weight", e)
        add("altup_predict_coef.weight", n_alt, n_alt * n_alt)
        add("altup_router.weight", e, n_alt)
        add("altup_router_norm.weight", e)
        add("laurel_l.weight", e, lr)
        add("laurel_r.weight", lr, e)
        add("laurel_post_norm.weight", e)
    return t


def _layer_of(name: str) -> int | None:
    if not name.startswith("blk."):
        return None
    head = name[4:].split(".", 1)[0]
    # ASCII digits only, as the import reads block indices: "²".isdigit() is True, int("²") fails
    return int(head) if head.isascii() and head.isdigit() else None


def tensor_inventory(m: ModelSpec) -> tuple[Tensor, ...]:
    """All tensors of ``m`` in the order convert_hf_to_gguf writes them (global first), or the
    tensor table of the GGUF file it was imported from."""
    if m.file_tensors is not None:
        return tuple(Tensor(ft.name, ft.shape, _layer_of(ft.name)) for ft in m.file_tensors)
    e, v = m.hidden_size, m.vocab_size
    out: list[Tensor] = [Tensor("token_embd.weight", (e, v), None)]
    if m.per_layer_input_dims:  # Gemma 3n globals: AltUp projections and the per-layer embeddings
        pl_all = m.per_layer_input_dims * m.n_layers
        out += [Tensor("altup_proj.weight", (e, e, m.altup_inputs - 1), None),
                Tensor("altup_unembd_proj.weight", (e, e, m.altup_inputs - 1), None),
                Tensor("per_layer_token_embd.weight", (pl_all, v), None),
                Tensor("per_layer_model_proj.weight", (e, pl_all), None),
                Tensor("per_layer_proj_norm.weight", (m.per_layer_input_dims,), None)]
    for i in range(m.n_layers):
        out.extend(_layer_tensors(m, i))
    # LFM2's final norm is stored under the name token_embd_norm (llama-arch.cpp OUTPUT_NORM_LFM2)
    out.append(Tensor("token_embd_norm.weight" if m.gguf_arch in ("lfm2", "lfm2moe") else "output_norm.weight", (e,), None))
    if m.norm == "layer":
        out.append(Tensor("output_norm.bias", (e,), None))
    # llama.cpp's bitnet has no output matrix whatever the config says: its loader creates none
    # (bitnet.cpp load_arch_tensors), its graph multiplies by token_embd, and its converter's
    # tensor list (gguf-py MODEL_TENSORS[BITNET]) has no OUTPUT to write an lm_head to
    if not m.tied_embeddings and m.gguf_arch != "bitnet":
        out.append(Tensor("output.weight", (e, v), None))
        if m.gguf_arch in ("phi2", "phimoe"):
            out.append(Tensor("output.bias", (v,), None))
    return tuple(out)


def is_expert_tensor(t: Tensor) -> bool:
    """A routed-expert tensor (3-D ``ffn_*_exps``): a token reads only its chosen experts' slices."""
    return len(t.shape) == 3 and "_exps." in t.name


@dataclass(frozen=True, slots=True)
class LayerSums:
    """Per-model sums over layers, split into global and sliding-window layers, so that KV and
    attention formulas are closed-form (no per-layer loop in hot paths)."""

    global_kv_dims: int  # Σ over global layers of n_kv_heads × head_dim
    swa_kv_dims: int  # the same over sliding-window layers
    global_q_dims: int  # Σ over global layers of n_heads × head_dim
    swa_q_dims: int
    matmul_params: int  # every matrix except token_embd and output
    #: the matrices one token multiplies: like matmul_params, but a routed-expert tensor counts
    #: n_experts_used / n_experts of its elements (shared experts, routers and attention in full)
    active_matmul_params: int = 0
    #: F32 values of recurrent state per sequence, Σ over recurrent layers of n_embd_r + n_embd_s
    #: (llama-hparams.cpp; LFM2 short conv: r = hidden × (l_cache − 1), s = 0)
    recurrent_state_values: int = 0
    max_ffn: int = 0  # the widest layer's FFN (a runtime's prefill buffers scale with it)


#: lookups and the output projection (counted apart): not in matmul_params
_NOT_MULTIPLIED = ("token_embd.weight", "output.weight", "per_layer_token_embd.weight")


def expert_active_fraction(m: ModelSpec) -> float:
    """Share of a routed-expert tensor one token reads: n_experts_used / n_experts (1 for dense)."""
    return m.n_experts_used / m.n_experts if m.n_experts else 1.0


def recurrent_state_values(m: ModelSpec, layer: int) -> int:
    """n_embd_r + n_embd_s of one recurrent layer (llama-hparams.cpp ``n_embd_r``/``n_embd_s``)."""
    if not m.is_recurrent(layer):
        return 0
    if m.ssm_d_state:  # Mamba2: conv state r = (d_conv − 1) × (d_inner + 2 g d_state), scan state s = d_state × d_inner
        d_in = m.ssm_d_inner
        return (m.ssm_d_conv - 1) * (d_in + 2 * m.ssm_n_group * m.ssm_d_state) + m.ssm_d_state * d_in
    return m.hidden_size * (m.shortconv_l_cache - 1)


def layer_sums(m: ModelSpec) -> LayerSums:
    """The sums of one model (O(layers); the catalog's ``derived`` table keeps them)."""
    gkv = skv = gq = sq = rs = 0
    for layer in range(m.n_layers):
        kv, q = m.kv_heads(layer) * m.head_dim, m.heads(layer) * m.head_dim
        if m.is_recurrent(layer):
            rs += recurrent_state_values(m, layer)
            continue
        if m.kv_lora_rank:  # MLA: K is the latent (kv_lora + rope), no V: (K + V) / 2 per cell
            kv = (m.kv_lora_rank + m.rope_dims) // 2
        if m.n_kv_layers and layer >= m.n_kv_layers:  # reuses an earlier layer's KV (Gemma 3n)
            kv = 0
        if m.is_swa_layer(layer):
            skv, sq = skv + kv, sq + q
        else:
            gkv, gq = gkv + kv, gq + q
    frac = expert_active_fraction(m)
    mm = active = 0
    for t in tensor_inventory(m):
        if t.is_matrix and t.name.endswith(".weight") and t.name not in _NOT_MULTIPLIED:
            mm += t.n_elements
            active += round(t.n_elements * frac) if is_expert_tensor(t) else t.n_elements
    return LayerSums(global_kv_dims=gkv, swa_kv_dims=skv, global_q_dims=gq, swa_q_dims=sq, matmul_params=mm,
                     active_matmul_params=active, recurrent_state_values=rs,
                     max_ffn=max((m.ffn(i) for i in range(m.n_layers)), default=0))


def active_params(m: ModelSpec) -> int:
    """Parameters one token uses: all of them except the routed experts it is not sent to
    (n_experts_used / n_experts of each expert tensor counts); = count_params for dense models."""
    frac = expert_active_fraction(m)
    return sum(round(t.n_elements * frac) if is_expert_tensor(t) else t.n_elements for t in tensor_inventory(m))


def count_params(m: ModelSpec) -> int:
    """Parameters from the inventory (tied embedding counted once)."""
    return sum(t.n_elements for t in tensor_inventory(m))

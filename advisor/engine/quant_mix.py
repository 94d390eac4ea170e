"""Which ggml type each tensor gets under a llama.cpp file type (Q4_K_M, IQ3_M, …).

A port of ``llama_tensor_get_type`` and the surrounding rules of ``llama_model_quantize_impl``
in llama.cpp ``src/llama-quant.cpp``:

* only matrices whose name ends in ``weight`` are quantized; 1-D tensors (norms, biases) stay F32;
* ``output.weight`` (or ``token_embd.weight`` of a tied model, which doubles as the output) gets
  Q6_K (Q8_0 stays Q8_0; IQ1/IQ2/IQ3_XXS get Q5_K; Q8_0 when the row is not a multiple of the
  type's block);
* attn_v / ffn_down / attn_output / attn_qkv upgrades per file type, with ``use_more_bits``
  picking about half of the layers for Q4_K_M/Q5_K_M;
* a type whose block does not divide the row length falls back (Q4_K→Q5_0, Q5_K→Q5_1,
  Q6_K→Q8_0, Q2_K/Q3_K→Q4_0, IQ*→IQ4_NL, then F16).

The mixes are checked against files that llama.cpp's own quantizer writes (tests/test_twins.py).
"""

from __future__ import annotations

from typing import Sequence

from advisor.engine.tensors import Tensor, tensor_inventory
from advisor.records import ModelSpec

# ggml block sizes; the catalog carries the full geometry, this is what the rules need.
_BLOCK = {
    "F32": 1, "F16": 1, "BF16": 1,
    "Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "IQ4_NL": 32, "MXFP4": 32,
    "Q2_K": 256, "Q3_K": 256, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256,
    "IQ2_XXS": 256, "IQ2_XS": 256, "IQ2_S": 256, "IQ3_XXS": 256, "IQ3_S": 256,
    "IQ1_S": 256, "IQ1_M": 256, "IQ4_XS": 256, "TQ1_0": 256, "TQ2_0": 256,
}

_FALLBACK = {
    "TQ1_0": "Q4_0", "TQ2_0": "Q4_0",
    "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL",
    "IQ3_S": "IQ4_NL", "IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "IQ4_XS": "IQ4_NL",
    # llama.cpp in llama-cpp-python 0.3.36 falls back to Q4_0 for the K-quants below Q4_K
    # (older trees used IQ4_NL); observed on twins: "required for type q3_K -> falling back to q4_0"
    "Q2_K": "Q4_0", "Q3_K": "Q4_0",
    "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
}

_UNQUANTIZED = ("F32", "F16", "BF16")
_LOW_BIT_OUTPUT_Q5K = ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama-quant.cpp: the first and last eighth of layers and every third one in between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


# --------------------------------------------------------------------------- which tensors

#: Substrings of tensors llama.cpp never quantizes (llama-quant.cpp tensor_allows_quantization):
#: routers, Mamba/LFM2 convolution kernels; the converter stores them F32
#: (convert_hf_to_gguf / conversion/base.py prepare_tensors).
_NEVER_QUANTIZED = ("_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "shortconv.conv.weight",
                    "altup", "laurel", "per_layer_model_proj")
#: what the converter itself forces to F32 (conversion/base.py prepare_tensors); the other
#: never-quantized matrices (Gemma 3n's altup projections/router, laurel, per_layer_model_proj) stay F16
_SOURCE_F32 = ("_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "shortconv.conv.weight",
               "altup_correct_coef", "altup_predict_coef")


def source_type(t: Tensor) -> str:
    """The type convert_hf_to_gguf writes a tensor in for an F16 conversion: F32 for 1-D
    tensors, norms, biases, routers and conv kernels; F16 for the other matrices."""
    if len(t.shape) <= 1 or not t.name.endswith(".weight") or any(k in t.name for k in _SOURCE_F32):
        return "F32"
    return "F16"


def allows_quantization(t: Tensor) -> bool:
    """llama-quant.cpp tensor_allows_quantization: 2-D and 3-D tensors named …weight, except
    norms, routers and conv kernels."""
    return len(t.shape) >= 2 and t.name.endswith("weight") and not any(k in t.name for k in _NEVER_QUANTIZED)


def _category(name: str) -> str:
    """llama-quant.cpp tensor_get_category (substring tests, in its order)."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"), ("attn_v.weight", "attn_v"),
                     ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in name:
            return cat
    return "other"


def _quant_order(inventory: tuple[Tensor, ...]) -> list[int]:
    """The order llama.cpp's quantizer visits tensors: its weights map sorts by block index
    (global tensors first) then by name (llama-model-loader.h weight_name_comparer). The
    attn_v / ffn_down counters of the mix rules run in this order."""
    return sorted(range(len(inventory)), key=lambda k: (-1 if inventory[k].layer is None else inventory[k].layer, inventory[k].name))


class _State:
    """llama-quant.cpp quantize_state_impl: counters over attn_v-like and ffn tensors."""

    def __init__(self, m: ModelSpec, inventory: tuple[Tensor, ...], has_imatrix: bool) -> None:
        self.n_attention_wv = sum(_category(t.name) in ("attn_v", "attn_qkv", "attn_kv_b") for t in inventory)
        self.n_layer = m.n_layers
        self.i_attention_wv = self.i_ffn_down = self.i_ffn_gate = self.i_ffn_up = 0
        self.n_expert = m.n_experts
        kv0 = m.kv_heads(0)
        self.n_gqa = m.heads(0) // kv0 if kv0 else 0  # hparams.n_gqa() reads layer 0
        self.has_imatrix = has_imatrix

    def layer(self, counter: int, t: Tensor) -> int:
        """layer_info: the tensor's block for MoE models (experts are not consecutive), else the counter."""
        return (t.layer or 0) if self.n_expert > 1 else counter


def _choose(ftype: str, base: str, t: Tensor, qs: _State, has_output: bool) -> str:
    """llama_tensor_get_type_impl followed by tensor_type_fallback."""
    name = t.name
    cat = _category(name)
    n_layers = qs.n_layer
    n_gqa, n_expert, has_imatrix = qs.n_gqa, qs.n_expert, qs.has_imatrix
    attn_v_like = cat in ("attn_v", "attn_qkv", "attn_kv_b")
    new = base
    if cat == "output" or (not has_output and cat == "token_embd"):
        if ftype == "MXFP4_MOE":
            new = "Q8_0"
        elif t.shape[0] % _BLOCK[base] != 0:
            new = "Q8_0"
        elif ftype in _LOW_BIT_OUTPUT_Q5K:
            new = "Q5_K"
        elif new != "Q8_0":
            new = "Q6_K"
    elif ftype == "MXFP4_MOE":
        # routed experts (ne[2] > 1) MXFP4, every other quantizable tensor Q8_0
        new = "MXFP4" if len(t.shape) == 3 and t.shape[2] > 1 else "Q8_0"
    elif cat == "token_embd":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            new = "Q2_K"
        elif ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            new = "IQ3_S"
        elif ftype in ("TQ1_0", "TQ2_0"):
            new = "Q4_K"
    elif ftype in ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M"):
        if attn_v_like:
            if n_gqa >= 4 or n_expert >= 4:
                new = "Q4_K"
            else:
                new = "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
            qs.i_attention_wv += 1
        elif n_expert == 8 and cat == "attn_k":
            new = "Q4_K"
        elif cat == "ffn_down":
            if qs.i_ffn_down < n_layers // 8:
                new = "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
            qs.i_ffn_down += 1
        elif cat == "attn_output":
            if n_expert == 8:
                new = "Q5_K"
            elif ftype in ("IQ1_S", "IQ1_M"):
                new = "IQ2_XXS"
            elif ftype in ("IQ2_S", "IQ2_M"):
                new = "IQ3_S"
    elif attn_v_like:
        iv, nv = qs.i_attention_wv, qs.n_attention_wv
        if ftype == "Q2_K":
            new = "Q4_K" if n_gqa >= 4 else "Q3_K"
        elif ftype == "Q2_K_S" and n_gqa >= 4:
            new = "Q4_K"
        elif ftype == "IQ3_XXS":
            new = "Q4_K" if n_gqa >= 4 else ("IQ3_S" if not has_imatrix else "IQ3_XXS")
        elif ftype in ("IQ3_XS", "IQ3_S") and n_gqa >= 4:
            new = "Q4_K"
        elif ftype == "IQ3_M":
            new = "Q4_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if iv < 2 else "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype in ("IQ4_NL", "IQ4_XS") and n_gqa >= 4:
            new = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(iv, nv):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and iv < 4:
            new = "Q5_K"
        # (the LLM_TYPE_70B bump to Q5_K concerns 70B models only)
        if n_expert == 8:
            new = "Q8_0"
        qs.i_attention_wv += 1
    elif cat == "attn_k":
        if n_expert == 8:
            new = "Q8_0"
        elif ftype == "IQ3_XS":
            new = "IQ3_XXS"
        elif ftype == "IQ3_XXS":
            new = "IQ2_S"
    elif cat == "attn_q":
        if ftype == "IQ3_XS":
            new = "IQ3_XXS"
        elif ftype == "IQ3_XXS":
            new = "IQ2_S"
    elif cat == "ffn_down":
        i = qs.layer(qs.i_ffn_down, t)
        if ftype == "Q2_K":
            new = "Q3_K"
        elif ftype == "Q2_K_S":
            if i < n_layers // 8:
                new = "Q4_K"
        elif ftype == "IQ3_XXS" and not has_imatrix:
            new = "Q4_K" if i < n_layers // 8 else "Q3_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if i < n_layers // 16 else "Q4_K"
        elif ftype == "IQ3_M" and (i < n_layers // 8 or (n_expert == 8 and _use_more_bits(i, n_layers))):
            new = "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype == "Q4_K_M":
            if _use_more_bits(i, n_layers):
                new = "Q6_K"
        elif i < n_layers // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not has_imatrix:
            new = "Q5_K"
        elif ftype == "Q5_K_M" and _use_more_bits(i, n_layers):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and i < n_layers // 8:
            new = "Q5_K"
        elif ftype in ("Q4_0", "Q5_0") and has_imatrix and i < n_layers // 8:
            new = "Q4_1" if ftype == "Q4_0" else "Q5_1"
        qs.i_ffn_down += 1
    elif cat == "attn_output":
        if n_expert == 8:
            if ftype in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS"):
                new = "Q5_K"
        elif ftype == "Q2_K":
            new = "Q3_K"
        elif ftype == "IQ3_XXS":
            new = "IQ3_S"
        elif ftype == "Q3_K_M":
            new = "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype == "IQ3_M":
            new = "Q4_K"
    elif cat == "attn_qkv":  # unreachable (attn_v_like above); kept for the reader of llama-quant.cpp
        pass
    elif cat in ("ffn_gate", "ffn_up"):
        counter = qs.i_ffn_gate if cat == "ffn_gate" else qs.i_ffn_up
        i = qs.layer(counter, t)
        if ftype == "IQ3_XS" and n_layers // 8 <= i < 7 * n_layers // 8:
            new = "IQ3_XXS"
        if cat == "ffn_gate":
            qs.i_ffn_gate += 1
        else:
            qs.i_ffn_up += 1

    if t.shape[0] % _BLOCK[new] != 0:
        new = _FALLBACK.get(new, "F16")
        if t.shape[0] % _BLOCK[new] != 0:
            new = "F16"
    return new


def tensor_types(
    m: ModelSpec, ftype: str, base_type: str, has_imatrix: bool = False, *, inventory: Sequence[Tensor] | None = None
) -> tuple[str, ...]:
    """The ggml type of every tensor of ``tensor_inventory(m)`` (or the ``inventory`` given) under
    file type ``ftype``. A model imported from a GGUF header has its file's types, whatever
    ``ftype`` says."""
    if m.file_tensors is not None:
        return tuple(ft.ggml_type for ft in m.file_tensors)
    inventory = inventory if inventory is not None else tensor_inventory(m)
    has_output = any(t.name == "output.weight" for t in inventory)
    qs = _State(m, inventory, has_imatrix)
    types: list[str] = [""] * len(inventory)
    for k in _quant_order(inventory):
        t = inventory[k]
        if not allows_quantization(t):
            types[k] = source_type(t)
        elif base_type in _UNQUANTIZED:
            types[k] = base_type
        else:
            types[k] = _choose(ftype, base_type, t, qs, has_output)
    return tuple(types)

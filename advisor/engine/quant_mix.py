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
    "Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "IQ4_NL": 32,
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


def _choose(ftype: str, base: str, t: Tensor, m: ModelSpec, has_output: bool, has_imatrix: bool) -> str:
    name = t.name
    n_layers = m.n_layers
    i = t.layer if t.layer is not None else 0
    n_gqa = m.n_heads // max(1, m.n_kv_heads)
    new = base
    if name == "output.weight" or (not has_output and name == "token_embd.weight"):
        if t.shape[0] % _BLOCK[base] != 0:
            new = "Q8_0"
        elif ftype in _LOW_BIT_OUTPUT_Q5K:
            new = "Q5_K"
        elif new != "Q8_0":
            new = "Q6_K"
    elif name == "token_embd.weight":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            new = "Q2_K"
        elif ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            new = "IQ3_S"
        elif ftype in ("TQ1_0", "TQ2_0"):
            new = "Q4_K"
    elif ftype in ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M"):
        if "attn_v.weight" in name:
            if n_gqa >= 4:
                new = "Q4_K"
            else:
                new = "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        elif "ffn_down" in name:
            if i < n_layers // 8:
                new = "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        elif "attn_output.weight" in name:
            if ftype in ("IQ1_S", "IQ1_M"):
                new = "IQ2_XXS"
            elif ftype in ("IQ2_S", "IQ2_M"):
                new = "IQ3_S"
    elif "attn_v.weight" in name:
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
            new = "Q5_K" if i < 2 else "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype in ("IQ4_NL", "IQ4_XS") and n_gqa >= 4:
            new = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n_layers):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and i < 4:
            new = "Q5_K"
    elif "attn_k.weight" in name or "attn_q.weight" in name:
        if ftype == "IQ3_XS":
            new = "IQ3_XXS"
        elif ftype in ("IQ2_M", "IQ3_XXS"):
            # IQ3_XXS: observed on llama-cpp-python 0.3.36 twins (attn_q/attn_k -> iq2_s)
            new = "IQ2_S"
    elif "ffn_down" in name:
        if ftype == "Q2_K":
            new = "Q3_K"
        elif ftype == "Q2_K_S":
            if i < n_layers // 8:
                new = "Q4_K"
        elif ftype == "IQ3_XXS" and not has_imatrix:
            new = "Q4_K" if i < n_layers // 8 else "Q3_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if i < n_layers // 16 else "Q4_K"
        elif ftype == "IQ3_M" and i < n_layers // 8:
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
    elif "attn_output.weight" in name:
        if ftype == "Q2_K":
            new = "Q3_K"
        elif ftype == "IQ3_XXS":
            new = "IQ3_S"
        elif ftype == "Q3_K_M":
            new = "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype == "IQ3_M":
            new = "Q4_K"
    elif "attn_qkv.weight" in name:
        if ftype in ("Q3_K_M", "Q3_K_L", "IQ3_M"):
            new = "Q4_K"
        elif ftype == "Q4_K_M":
            new = "Q5_K"
        elif ftype == "Q5_K_M":
            new = "Q6_K"
    elif "ffn_gate" in name or "ffn_up" in name:
        if ftype == "IQ3_XS" and n_layers // 8 <= i < 7 * n_layers // 8:
            new = "IQ3_XXS"

    if t.shape[0] % _BLOCK[new] != 0:
        new = _FALLBACK.get(new, "F16")
        if t.shape[0] % _BLOCK[new] != 0:
            new = "F16"
    return new


def tensor_types(
    m: ModelSpec, ftype: str, base_type: str, has_imatrix: bool = False, *, inventory: Sequence[Tensor] | None = None
) -> tuple[str, ...]:
    """The ggml type of every tensor of ``tensor_inventory(m)`` (or the ``inventory`` given) under
    file type ``ftype``."""
    inventory = inventory if inventory is not None else tensor_inventory(m)
    has_output = any(t.name == "output.weight" for t in inventory)
    types: list[str] = []
    for t in inventory:
        quantize = t.name.endswith("weight") and t.is_matrix and "_norm.weight" not in t.name
        if not quantize:
            types.append("F32")
        elif base_type in _UNQUANTIZED:
            types.append(base_type)
        else:
            types.append(_choose(ftype, base_type, t, m, has_output, has_imatrix))
    return tuple(types)

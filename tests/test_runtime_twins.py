"""Runtime twins (MLX, ONNX Runtime GenAI, ExecuTorch, LiteRT-LM, MNN): the Hugging Face folder they start from, the layout
readers, the records measured on this machine, and — where the runtime is installed — a tiny twin
built by the runtime's own converter and measured for real.

The recorded checks run everywhere: ``tests/data/runtime_twins/*.json`` were written by
``benchmarks/runtime_twins.py`` from real conversions, and each is checked against the layout the
runtime is known to write (every tensor of the Hugging Face checkpoint accounted for, quantized
shapes consistent with bits and group size, bytes adding up to the file sizes).
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections import Counter
from pathlib import Path

import pytest

from advisor.errors import BadInputError, DataFileError, MissingDependencyError, RunError
from advisor.records import ModelSpec
from advisor.validate.runtimes import (
    MeasureSettings,
    TensorLayout,
    load_record,
    measure_twin,
    record_layout,
    runtime_module,
)
from advisor.validate.runtimes.common import (
    hf_config,
    hf_tensors,
    read_safetensors_header,
    safetensors_layout,
    summarize_layout,
    tensor_part,
    tensor_role,
    write_hf_twin,
    write_safetensors,
)

RECORDS = sorted((Path(__file__).parent / "data" / "runtime_twins").glob("*.json"))

_COMMON = {
    "publisher": "test", "hf_repo": "test/test", "license": "test", "license_class": "permissive", "release_date": "2024",
    "params": 1, "params_published": "-", "context_length": 512, "max_position_embeddings": 512, "norm": "rms",
    "ffn_gated": True, "post_norms": False, "sliding_window": 0, "swa_global_every": 0, "verified": True, "source": "test",
}
#: Tiny architectures: a Llama with an untied head and a Qwen2 with QKV biases and a tied head.
TINY = {
    "tiny-llama": ModelSpec(id="tiny-llama", name="tiny llama", family="t", gguf_arch="llama", n_layers=2,
                            hidden_size=256, ffn_size=512, n_heads=4, n_kv_heads=2, head_dim=64, vocab_size=1024,
                            tied_embeddings=False, attn_bias=False, qk_norm=False, **_COMMON),
    "tiny-qwen2": ModelSpec(id="tiny-qwen2", name="tiny qwen2", family="t", gguf_arch="qwen2", n_layers=2,
                            hidden_size=128, ffn_size=384, n_heads=4, n_kv_heads=1, head_dim=32, vocab_size=768,
                            tied_embeddings=True, attn_bias=True, qk_norm=False, **_COMMON),
}


# --------------------------------------------------------------------------- the HF folder


@pytest.mark.parametrize("model_id", [
    "smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "qwen3-0.6b", "tinyllama-1.1b-chat-v1.0", "llama-3.2-1b-instruct",
])
def test_hf_tensors_reproduce_catalog_params(catalog, model_id):
    model = catalog.models[model_id]
    assert sum(math.prod(shape) for _, shape in hf_tensors(model)) == model.params


@pytest.mark.parametrize("model_id, present, absent", [
    ("qwen2.5-0.5b-instruct", ["model.layers.0.self_attn.q_proj.bias"], ["lm_head.weight", "model.layers.0.self_attn.q_norm.weight"]),
    ("qwen3-0.6b", ["model.layers.27.self_attn.k_norm.weight"], ["lm_head.weight", "model.layers.0.self_attn.q_proj.bias"]),
    ("tinyllama-1.1b-chat-v1.0", ["lm_head.weight"], ["model.layers.0.self_attn.q_proj.bias"]),
])
def test_hf_tensor_names_follow_the_architecture(catalog, model_id, present, absent):
    names = {n for n, _ in hf_tensors(catalog.models[model_id])}
    assert set(present) <= names
    assert not set(absent) & names


def test_hf_config_keys(catalog):
    cfg = hf_config(catalog.models["qwen2.5-0.5b-instruct"])
    assert (cfg["model_type"], cfg["architectures"], cfg["hidden_size"], cfg["intermediate_size"]) == ("qwen2", ["Qwen2ForCausalLM"], 896, 4864)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["tie_word_embeddings"], cfg["torch_dtype"]) == (14, 2, True, "bfloat16")


def test_unsupported_architecture_is_one_clear_error(catalog):
    with pytest.raises(RunError, match=r"architecture 'gemma3' is not written as a Hugging Face folder yet \(supported: llama, qwen2, qwen3\)"):
        hf_tensors(catalog.models["gemma-3-1b-it"])


def test_safetensors_written_and_read_back(tmp_path):
    np = pytest.importorskip("numpy")
    tensors = [("a.weight", (3, 5)), ("a.bias", (3,)), ("final_norm.weight", (4,)), ("b.weight", (7, 2, 2))]
    path = write_safetensors(tmp_path / "m.safetensors", tensors, seed=1)
    header = read_safetensors_header(path)
    layout = safetensors_layout(header, "m.safetensors")
    assert [(t.name, t.shape, t.dtype, t.nbytes) for t in layout] == [(n, s, "BF16", 2 * math.prod(s)) for n, s in tensors]
    raw = path.read_bytes()
    (n_header,) = struct.unpack("<Q", raw[:8])
    assert n_header % 8 == 0 and len(raw) == 8 + n_header + sum(t.nbytes for t in layout)
    data = raw[8 + n_header:]

    def values(name):
        start, end = header[name]["data_offsets"]
        return (np.frombuffer(data[start:end], dtype="<u2").astype("<u4") << 16).view("<f4")

    assert values("final_norm.weight").tolist() == [1.0] * 4
    assert all(v != 0.0 for v in values("a.bias").tolist())  # converters drop all-zero biases
    w = values("b.weight")
    assert 0 < float(np.abs(w).max()) < 0.2 and len(set(w.tolist())) > 20


def test_safetensors_span_must_match_shape():
    header = {"x": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 10]}}
    with pytest.raises(RunError, match="x spans 10 bytes"):
        safetensors_layout(header, "bad.safetensors")


def test_hf_twin_folder_is_loadable_by_tokenizers(tmp_path):
    pytest.importorskip("numpy")
    tokenizers = pytest.importorskip("tokenizers")
    folder = write_hf_twin(TINY["tiny-qwen2"], tmp_path / "hf")
    assert json.loads((folder / "config.json").read_text())["vocab_size"] == 768
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size() == 768
    assert tok.encode("tok5 tok767").ids == [5, 767]
    layout = safetensors_layout(read_safetensors_header(folder / "model.safetensors"))
    assert [(t.name, t.shape) for t in layout] == hf_tensors(TINY["tiny-qwen2"])


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name, role, part", [
    ("model.embed_tokens.weight", "embedding", "weight"),
    ("model.embed_tokens.scales", "embedding", "scales"),
    ("lm_head.biases", "lm_head", "biases"),
    ("model.layers.3.self_attn.q_proj.bias", "attention", "bias"),
    ("model.layers.3.self_attn.k_norm.weight", "norm", "weight"),
    ("model.layers.3.mlp.down_proj.weight", "ffn", "weight"),
    ("model.layers.0.attn.qkv_proj.MatMul.weight_Q4", "attention", "weight"),
    ("model.layers.0.mlp.up_proj.MatMul.weight_scales", "ffn", "scales"),
    ("model.layers.0.mlp.up_proj.MatMul.weight_zero_points", "ffn", "zero_points"),
    ("lm_head.MatMul.weight_Q4", "lm_head", "weight"),
    ("model.layers.24.final_norm_layernorm.weight", "norm", "weight"),
    ("cos_cache", "rotary", "weight"),
])
def test_tensor_role_and_part(name, role, part):
    assert (tensor_role(name), tensor_part(name)) == (role, part)


# --------------------------------------------------------------------------- layout checks


def check_mlx_layout(model: ModelSpec, layout: list[TensorLayout], quantization: dict) -> None:
    """Every HF tensor is in the MLX file; with ``quantization`` every 2-D one (each Linear and
    the Embedding) is packed into uint32 with bf16 scales and biases per group, 1-D ones stay bf16."""
    by_name = {t.name: t for t in layout}
    expected = set()
    for name, shape in hf_tensors(model):
        base = name.removesuffix(".weight")
        if len(shape) == 2 and quantization:
            bits, group = quantization["bits"], quantization["group_size"]
            w, s, b = by_name[name], by_name[base + ".scales"], by_name[base + ".biases"]
            assert (w.dtype, w.shape) == ("U32", (shape[0], shape[1] * bits // 32)), name
            assert (s.dtype, s.shape) == ("BF16", (shape[0], shape[1] // group)), name
            assert (b.dtype, b.shape) == ("BF16", (shape[0], shape[1] // group)), name
            expected |= {name, base + ".scales", base + ".biases"}
        else:
            assert (by_name[name].dtype, by_name[name].shape) == ("BF16", shape), name
            expected.add(name)
    assert set(by_name) == expected


def check_ort_layout(model: ModelSpec, layout: list[TensorLayout], bits: int | None, block_size: int | None) -> None:
    """Every initializer of the ORT GenAI CPU model accounted for (``bits`` None: fp32).

    fp32 norms (Qwen3's q/k norms too), the fused Q/K/V bias, rotary cos/sin tables of
    max_position_embeddings × head_dim/2; Q, K and V fused into one qkv_proj; with ``bits`` every
    MatMul (qkv, o, gate, up, down, lm_head) is MatMulNBits — uint8 [N, blocks, block × bits / 8]
    plus fp32 scales [N, blocks], symmetric (no zero points) — else an fp32 [K, N] matrix. The
    embedding is an fp32 [vocab, hidden] table, except for a tied model in int4 (GatherBlockQuantized
    reads the int4 lm_head) or fp32 (Gather on the lm_head matrix); int8 cannot be gathered, so a
    tied int8 model carries an fp32 embedding beside its int8 lm_head.
    """
    h, v, hd, n_layers = model.hidden_size, model.vocab_size, model.head_dim, model.n_layers
    qkv = (model.n_heads + 2 * model.n_kv_heads) * hd
    expected: dict[str, tuple[str, tuple[int, ...]]] = {}
    if not (model.tied_embeddings and bits in (4, None)):
        expected["model.embed_tokens.weight"] = ("float", (v, h))
    for table in ("cos_cache", "sin_cache"):
        expected[table] = ("float", (model.max_position_embeddings, hd // 2))
    expected[f"model.layers.{n_layers}.final_norm_layernorm.weight"] = ("float", (h,))

    def matmul(base: str, n: int, k: int) -> None:
        if bits is None:
            expected[base + ".weight"] = ("float", (k, n))
            return
        blocks = -(-k // block_size)
        expected[base + f".weight_Q{bits}"] = ("uint8", (n, blocks, block_size * bits // 8))
        expected[base + ".weight_scales"] = ("float", (n, blocks))

    for i in range(n_layers):
        p = f"model.layers.{i}."
        expected[p + "input_layernorm.weight"] = ("float", (h,))
        expected[p + "post_attention_layernorm.weight"] = ("float", (h,))
        if model.qk_norm:
            expected[p + "attn.q_norm.layernorm.weight"] = ("float", (hd,))
            expected[p + "attn.k_norm.layernorm.weight"] = ("float", (hd,))
        if model.attn_bias:
            expected[p + "attn.qkv_proj.Add.bias"] = ("float", (qkv,))
        matmul(p + "attn.qkv_proj.MatMul", qkv, h)
        matmul(p + "attn.o_proj.MatMul", h, model.n_heads * hd)
        matmul(p + "mlp.gate_proj.MatMul", model.ffn_size, h)
        matmul(p + "mlp.up_proj.MatMul", model.ffn_size, h)
        matmul(p + "mlp.down_proj.MatMul", h, model.ffn_size)
    matmul("lm_head.MatMul", v, h)
    assert {t.name: (t.dtype, t.shape) for t in layout} == expected


def executorch_linears(model: ModelSpec) -> list[tuple[int, int]]:
    """(out, in) of every Linear of ExecuTorch's Llama ``Transformer``: wq, wk, wv, wo, w1, w3, w2
    per layer, then the output projection (its own Linear, also for a tied model)."""
    hd = model.head_dim
    q, kv, h, f = model.n_heads * hd, model.n_kv_heads * hd, model.hidden_size, model.ffn_size
    return [(q, h), (kv, h), (kv, h), (h, q), (f, h), (f, h), (h, f)] * model.n_layers + [(model.vocab_size, h)]


def check_executorch_layout(model: ModelSpec, layout: list[TensorLayout], fmt: str, context: int) -> None:
    """Every constant of the ExecuTorch XNNPACK .pte accounted for.

    In the program (not delegated): the fp32 token embedding, every RMSNorm weight (2 per layer +
    the final one) with one fp32 0-d constant each, the rotary cos/sin tables of ``context`` ×
    head_dim/2 fp32 (× head_dim with the Hugging Face rope of the Qwen params). In the XNNPACK delegates: every Linear (``executorch_linears``) — quantized
    when the group divides its input dimension (quantize.py's filter_fn; group 0 = per channel:
    always): 8da4w as qbint4 [out, in] (two per byte) with bf16 scales [out, in / group]
    (node_visitor.get_quant_params casts group scales to bf16), 8da8w as qcint8 [out, in] with fp32
    scales, one per row; a Linear the group does not divide stays fp32 — and Qwen2's q/k/v biases
    in fp32. Compared as a multiset of (shape, dtype, bytes, program|xnnpack): the file keeps no
    tensor names.
    """
    qmode, group, emb = runtime_module("executorch").FORMATS[fmt]
    assert emb is None  # the recorded formats keep the embedding in fp32
    h, hd, n = model.hidden_size, model.head_dim, model.n_layers
    expected: Counter = Counter()
    expected[((model.vocab_size, h), "float32", 4 * model.vocab_size * h, "program")] += 1
    expected[((h,), "float32", 4 * h, "program")] += 2 * n + 1
    expected[((), "float32", 4, "program")] += 2 * n + 1
    rope = hd if model.gguf_arch != "llama" else hd // 2  # use_hf_rope (Qwen) keeps both halves
    expected[((context, rope), "float32", 4 * context * rope, "program")] += 2
    for out, inp in executorch_linears(model):
        if group == 0 or inp % group == 0:
            if qmode == "8da4w":
                expected[((out, inp), "qbint4", out * inp // 2, "xnnpack")] += 1
                expected[((out, inp // group), "bf16", 2 * out * inp // group, "xnnpack")] += 1
            else:
                expected[((out, inp), "qcint8", out * inp, "xnnpack")] += 1
                expected[((out, 1), "fp32", 4 * out, "xnnpack")] += 1
        else:
            expected[((out, inp), "fp32", 4 * out * inp, "xnnpack")] += 1
    if model.attn_bias:
        for size in (model.n_heads * hd, model.n_kv_heads * hd, model.n_kv_heads * hd):
            expected[((size,), "fp32", 4 * size, "xnnpack")] += n
    got = Counter((t.shape, t.dtype, t.nbytes, t.file.rstrip("0123456789")) for t in layout)
    assert got == expected


def litert_matrices(model: ModelSpec) -> list[tuple[tuple[int, int], int]]:
    """((out, in), signatures using it) of every matrix in the TFLite model LiteRT Torch's export_hf
    writes: q, k, v, o, gate, up, down per layer and the embedding — a tied model's one copy serves
    the lookup and the head — and an untied model's lm_head. The decode signature uses all; the
    prefill, which returns no logits, neither the head nor the last layer's q, o, gate, up and down
    (only that layer's k and v feed the KV cache: the rest is pruned as dead code)."""
    hd = model.head_dim
    q, kv, h, f = model.n_heads * hd, model.n_kv_heads * hd, model.hidden_size, model.ffn_size
    layer = [(q, h), (kv, h), (kv, h), (h, q), (f, h), (f, h), (h, f)]
    last = [(shape, 2 if i in (1, 2) else 1) for i, shape in enumerate(layer)]
    out = [(shape, 2) for shape in layer] * (model.n_layers - 1) + last + [((model.vocab_size, h), 2)]
    return out + ([] if model.tied_embeddings else [((model.vocab_size, h), 1)])


def check_litert_layout(model: ModelSpec, layout: list[TensorLayout], fmt: str) -> None:
    """Every tensor of the .litertlm's TFLite model accounted for.

    Every matrix (``litert_matrices``) quantized by the recipe, symmetric: per channel as INT8 or
    INT4 (two per byte) ``[out, in]`` with one float32 scale and one **int64** zero point (all 0)
    per output row — vectors of the flatbuffer's QuantizationParameters, which each subgraph's
    tensor carries: one copy per signature using the matrix; block-wise as INT4 with a **float16**
    scales tensor ``[out, in / block]`` (a buffer: one copy) and no zero points. Qwen2's q/k/v
    biases stay float32. Norms: the twin's all-ones RMSNorm weights are one float32 constant (the
    converter folds equal constants), so at most one per distinct length. The rest — shape
    constants, the rotary inverse frequencies, scalars — are under 1 KiB in all.
    """
    _, bits, granularity = runtime_module("litert-lm").FORMATS[fmt]
    expected: Counter = Counter()
    for (out, inp), signatures in litert_matrices(model):
        data = (out * inp * bits + 7) // 8
        dtype = "INT8" if bits == 8 else "INT4"
        expected[((out, inp), dtype, data, "weight")] += 1
        if granularity == "CHANNELWISE":
            expected[((out,), "FLOAT32", 4 * out, "scales")] += signatures
            expected[((out,), "INT64", 8 * out, "zero_points")] += signatures
        else:
            block = int(granularity.rsplit("_", 1)[1])
            assert inp % block == 0  # AI Edge Quantizer refuses the others (SmolLM2's 576 at block 128)
            expected[((out, inp // block), "FLOAT16", 2 * out * inp // block, "scales")] += 1
    if model.attn_bias:
        for size in (model.n_heads * model.head_dim, model.n_kv_heads * model.head_dim, model.n_kv_heads * model.head_dim):
            expected[((size,), "FLOAT32", 4 * size, "bias")] += model.n_layers
    got = Counter((t.shape, t.dtype, t.nbytes, tensor_part(t.name)) for t in layout
                  if tensor_role(t.name) in ("attention", "ffn", "embedding", "lm_head"))
    assert got == expected
    norms = [t for t in layout if tensor_role(t.name) == "norm"]
    assert norms and all(t.dtype == "FLOAT32" and t.shape[0] in (model.hidden_size, model.head_dim) for t in norms)
    assert len({t.shape for t in norms}) == len(norms)
    rest = [t for t in layout if tensor_role(t.name) in ("other", "rotary")]
    assert sum(t.nbytes for t in rest) < 1024


def mnn_linears(model: ModelSpec) -> list[tuple[int, int]]:
    """(out, in) of every Linear llmexport writes as a Convolution: q, k, v, o, gate, up, down per
    layer, then the lm_head (a tied model's too: its quantized weight is the embedding)."""
    hd = model.head_dim
    q, kv, h, f = model.n_heads * hd, model.n_kv_heads * hd, model.hidden_size, model.ffn_size
    return [(q, h), (kv, h), (kv, h), (h, q), (f, h), (f, h), (h, f)] * model.n_layers + [(model.vocab_size, h)]


def check_mnn_layout(model: ModelSpec, layout: list[TensorLayout], fmt: str) -> None:
    """Every span of llmexport's ``llm.mnn.weight`` (and embedding file) accounted for.

    Every Linear (``mnn_linears``): its values at ``quant_bit`` ``[out, in]`` (two per byte at 4),
    a header of 1 byte + the dims as int16 (int32 past 65,535) + the 2^bits + 1-byte value map, and
    per block a **float32** zero point and scale (asymmetric, the default), the block halved until it
    divides the input (block 0: the whole row); Qwen2's q/k/v biases float32. Every RMSNorm: a
    float32 gamma and a float32 beta. An untied model's embedding: ``embeddings_bf16.bin``; a tied
    one has none (the lm_head's int4/int8 weight serves the lookup).
    """
    bits, block = runtime_module("mnn").FORMATS[fmt]
    expected: Counter = Counter()
    for out, inp in mnn_linears(model):
        b = inp if block == 0 else block
        while inp % b:
            b //= 2
        expected[((out, inp), f"int{bits}", out * inp * bits // 8)] += 1
        header = 1 + (8 if max(out, inp) > 65535 else 4) + 2 ** bits + 1
        expected[((header,), "header", header)] += 1
        expected[((out, inp // b), "float32", 4 * out * (inp // b))] += 2  # zero points, scales
    if model.attn_bias:
        for size in (model.n_heads * model.head_dim, model.n_kv_heads * model.head_dim, model.n_kv_heads * model.head_dim):
            expected[((size,), "float32", 4 * size)] += model.n_layers
    expected[((model.hidden_size,), "float32", 4 * model.hidden_size)] += 2 * (2 * model.n_layers + 1)  # gamma, beta
    if not model.tied_embeddings:
        expected[((model.vocab_size, model.hidden_size), "bf16", 2 * model.vocab_size * model.hidden_size)] += 1
    assert Counter((t.shape, t.dtype, t.nbytes) for t in layout) == expected


# --------------------------------------------------------------------------- recorded results


def test_records_are_present():
    runtimes = {json.loads(p.read_text())["runtime"] for p in RECORDS}
    assert {"mlx", "ort-genai", "executorch", "litert-lm", "mnn"} <= runtimes


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_recorded_twin(catalog, path):
    record = load_record(path)
    model = catalog.models[record["model"]["id"]]
    assert record["model"]["config"] == hf_config(model)
    layout = record_layout(record)
    assert record["summary"] == summarize_layout(layout)
    total = sum(t.nbytes for t in layout)
    if record["runtime"] == "mlx":
        quant = record["format_details"]["quantization"]
        check_mlx_layout(model, layout, quant)
        headers = record["format_details"]["safetensors_header_bytes"]
        assert sum(record["files"][f] for f in headers) == sum(headers.values()) + total
        if record["format"] == "bf16":
            assert total == 2 * model.params
        if record["measured"] is not None:  # MLX holds exactly the tensors after loading
            assert total <= record["measured"]["runtime_active_memory_after_load_bytes"] <= total + 4096
    elif record["runtime"] == "executorch":
        details = record["format_details"]
        check_executorch_layout(model, layout, record["format"], details["export"]["context"])
        assert details["params"] == runtime_module("executorch").params_json(model)
        delegated = [t for t in layout if t.file.startswith("xnnpack")]
        # XNNPACK's constants are the program's named data, one entry each (random weights: no two alike)
        assert (details["named_data_entries"], details["named_data_bytes"]) == (len(delegated), sum(t.nbytes for t in delegated))
        # the rest of the file: the program flatbuffer, delegate graphs, alignment padding
        assert 0 < record["files"]["model.pte"] - total < 1 << 20
        if record["measured"] is not None:  # the static KV cache is memory-planned with the activations
            assert record["measured"]["kv_cache_bytes"] < details["planned_memory_bytes"]
    elif record["runtime"] == "litert-lm":
        details = record["format_details"]
        check_litert_layout(model, layout, record["format"])
        assert details["export"]["recipe"] == (runtime_module("litert-lm").FORMATS[record["format"]][0] or "recipe.json")
        kinds = {s["data_type"] for s in details["sections"]}
        assert kinds == {"LlmMetadataProto", "ExecutorMetadataProto", "HF_Tokenizer_Zlib", "TFLiteModel"}
        (tflite,) = details["tflite"].values()
        assert tflite["signatures"] == [f"prefill_{details['export']['prefill_lengths'][0]}", "decode"]
        # buffers hold the tensors' bytes; the flatbuffer holds the per-channel scales and zero points
        buffers = sum(t.nbytes for t in layout if ":quantization" not in t.file)
        assert buffers == tflite["inline_buffer_bytes"] + tflite["external_buffer_bytes"]
        (section,) = [s for s in details["sections"] if s["data_type"] == "TFLiteModel"]
        assert total < section["bytes"] < record["files"]["model.litertlm"]
        assert section["bytes"] - total < total // 20  # the graph: 2 signatures, composite subgraphs, long tensor names
        kv = tflite["kv_cache"]
        assert kv["inputs"] == 2 * model.n_layers and kv["dtypes"] == ["FLOAT32"]
        if record["measured"] is not None:
            measured = record["measured"]
            assert measured["kv_cache_bytes"] == kv["bytes"]
            assert measured["prefill_token_counts"] == [record["settings"]["prompt_tokens"]]
            assert measured["decode_token_counts"] == [record["settings"]["output_tokens"]]
    elif record["runtime"] == "mnn":
        details = record["format_details"]
        check_mnn_layout(model, layout, record["format"])
        bits, block = runtime_module("mnn").FORMATS[record["format"]]
        assert (details["export_args"]["quant_bit"], details["export_args"]["quant_block"], details["export_args"]["sym"]) == (bits, block, False)
        # the ops' spans tile llm.mnn.weight exactly (file_layout checks it when reading); the embedding is its own file
        assert record["files"]["llm.mnn.weight"] == sum(t.nbytes for t in layout if t.file == "llm.mnn.weight")
        assert details["embedding_files"] == ([] if model.tied_embeddings else ["embeddings_bf16.bin"])
        assert (details["tie_embeddings"] is not None) == model.tied_embeddings
        if record["measured"] is not None:
            probe = record["measured"]["kv_probe"]
            assert probe["rss_long_bytes"] > probe["rss_short_bytes"]  # the cache grows with the tokens
    else:
        kinds = record["format_details"]["matmulnbits"]
        assert len(kinds) <= 1  # one bit width and block size for every MatMul
        check_ort_layout(model, layout, kinds[0]["bits"] if kinds else None, kinds[0]["block_size"] if kinds else None)
        data = [t for t in layout if t.file == "model.onnx.data"]
        assert record["files"]["model.onnx.data"] == sum(t.nbytes for t in data)
        if record["format"] == "fp32":  # every parameter once, in fp32, plus the rotary tables
            assert total == 4 * model.params + 2 * model.max_position_embeddings * model.head_dim // 2 * 4
    measured = record["measured"]
    if measured is not None:
        settings = record["settings"]
        for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
            d = measured[key]
            assert len(d["samples"]) == settings["repeats"] and d["min"] <= d["median"] <= d["max"] and d["min"] > 0
        assert 0 < measured["rss_after_imports_bytes"] < measured["rss_after_load_bytes"] <= measured["peak_rss_bytes"]
        assert measured["load_s"] > 0
        assert measured["kv_cache_bytes"] == expected_kv_bytes(record["runtime"], model, measured)


def expected_kv_bytes(runtime: str, model: ModelSpec, measured: dict) -> int:
    """MLX: bf16 K and V grown in steps of 256 tokens (mlx_lm KVCache.step); ORT GenAI: fp32 K and
    V for max_length tokens, allocated up front (past_present_share_buffer); ExecuTorch: fp32 K and
    V for the exported context, static (the KVCache module's buffers); LiteRT-LM: fp32 K and V for
    the exported cache_length (the decode signature's kv_cache_* inputs)."""
    per_token = 2 * model.n_layers * model.n_kv_heads * model.head_dim
    if runtime == "mlx":
        return per_token * 256 * math.ceil(measured["kv_cache_tokens"] / 256) * 2
    if runtime in ("executorch", "litert-lm"):  # LiteRT-LM: fp32 K and V for the exported cache_length
        return per_token * measured["kv_cache_tokens"] * 4
    if runtime == "mnn":  # no figure of MNN's own: the resident memory's growth per token (kv_probe)
        return round(measured["kv_probe"]["rss_bytes_per_token"] * measured["kv_cache_tokens"])
    return per_token * measured["max_length"] * 4


def test_load_record_checks_schema(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(DataFileError, match="schema 'something-else', expected 'advisor.runtime-twin'"):
        load_record(bad)
    bad.write_text("{not json")
    with pytest.raises(DataFileError, match="not a readable runtime-twin record"):
        load_record(bad)


def test_unknown_runtime_names_the_valid_ones():
    with pytest.raises(BadInputError, match=r"no local twin for runtime 'mlc'; twins run here for: mlx, ort-genai, executorch, litert-lm, mnn"):
        runtime_module("mlc")


@pytest.mark.parametrize("runtime, fmt, message", [
    ("mlx", "q4f16_1", "unknown MLX format 'q4f16_1'; valid: bf16, 8bit, 6bit, 4bit, 3bit"),
    ("ort-genai", "4bit", "unknown ONNX Runtime GenAI format '4bit'; valid: fp32, int8, int4, int4-block64, int4-block128"),
    ("executorch", "int4", "unknown ExecuTorch format 'int4'; valid: 8da4w, 8da4w-g256, 8da4w-g128-emb4, 8da4w-g256-emb4, 8da8w"),
    ("litert-lm", "8da4w", "unknown LiteRT-LM format '8da4w'; valid: dynamic_int8, int4, dynamic_int4_block32, dynamic_int4_block128"),
    ("mnn", "q4f16_1", "unknown MNN format 'q4f16_1'; valid: int4, int4-block64, int4-block128, int8"),
])
def test_unknown_format_names_the_valid_ones(runtime, fmt, message):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(")):
        runtime_module(runtime).check_format(fmt)


@pytest.mark.parametrize("runtime, modules, extra", [
    ("mlx", ("mlx", "mlx.core", "mlx_lm"), "mlx"),
    ("ort-genai", ("onnxruntime_genai",), "ortgenai"),
    ("executorch", ("executorch", "torch", "torchao"), "executorch"),
    ("litert-lm", ("litert_lm", "litert_lm_builder", "litert_torch"), "litert-lm"),
    ("mnn", ("MNN", "MNN.llm"), "mnn"),
])
def test_missing_runtime_names_the_fix(monkeypatch, runtime, modules, extra):
    for name in modules:  # None in sys.modules makes the import fail, installed or not
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=rf"install it with: pip install 'edge-model-advisor\[{extra}\]'"):
        runtime_module(runtime).require()


@pytest.mark.parametrize("runtime, module, name, extra", [
    ("executorch", "executorch", "ExecuTorch", "executorch"),
    ("litert-lm", "litert_lm", "LiteRT-LM", "litert-lm"),
    ("mnn", "MNN", "MNN", "mnn"),
])
def test_missing_runtime_says_so_in_one_sentence(monkeypatch, runtime, module, name, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as err:
        runtime_module(runtime).require()
    assert str(err.value) == (f"{runtime} is not installed, so the {name} twin cannot be built or measured; "
                              f"install it with: pip install 'edge-model-advisor[{extra}]'")


@pytest.mark.parametrize("fmt, recipe", [
    ("dynamic_int8", "dynamic_wi8_afp32"),  # export_hf's default recipe
    ("int4", "dynamic_wi4_afp32"),
    ("dynamic_int4_block32", "dynamic_wi4b32_afp32"),
    ("dynamic_int4_block128", "recipe.json"),  # AI Edge Quantizer names no block-128 recipe
])
def test_litert_export_flags(fmt, recipe):
    mod = runtime_module("litert-lm")
    argv = mod.export_argv(Path("hf"), Path("export"), mod.FORMATS[fmt][0] or "recipe.json", 1280)
    assert argv == ["export_hf", "--model", "hf", "--output_dir", "export", "--prefill_lengths", "[128]", "--cache_length", "1280",
                    "--quantization_recipe", recipe]
    if recipe == "recipe.json":
        (entry,) = mod.recipe_json(fmt)
        assert entry["op_config"]["weight_tensor_config"] == {"num_bits": 4, "symmetric": True, "granularity": "BLOCKWISE_128", "dtype": "INT"}
        assert (entry["operation"], entry["op_config"]["compute_precision"], entry["op_config"]["explicit_dequantize"]) == ("*", "INTEGER", False)


@pytest.mark.parametrize("location, shape, dtype, name", [
    ("…/LlamaDecoderLayer_3/…/Linear_k_proj;;…/LlamaDecoderLayer_3/…/Linear_v_proj;", (192, 576), "INT8", "model.layers.3.self_attn.k_v_proj"),
    ("…/LlamaDecoderLayer_0/…/Linear_up_proj;;…/Linear_gate_proj;", (1536, 576), "INT4", "model.layers.0.mlp.gate_up_proj"),
    ("…/LlamaDecoderLayer_7/…/Linear_down_proj;", (576, 1536), "INT8", "model.layers.7.mlp.down_proj"),
    ("…/LlamaDecoderLayer_1/…;;…/LlamaDecoderLayer_2/…/Linear_o_proj;", (576, 576), "INT8", "model.layers.?.self_attn.q_o_proj"),
    ("arith.constant12", (49152, 576), "INT8", "model.embed_tokens"),
    ("…/Linear_lm_head;", (49152, 576), "INT8", "lm_head"),
    ("arith.constant10", (576,), "FLOAT32", "norm"),
    ("…/LlamaRotaryEmbedding_rotary_emb;1", (1, 1, 32), "FLOAT32", "rotary"),
    ("arith.constant3", (4,), "INT32", "const"),
])
def test_litert_tensor_names_come_from_shapes(catalog, location, shape, dtype, name):
    from advisor.validate.runtimes.common import hf_config
    from advisor.validate.runtimes.litert_lm import _Namer

    assert _Namer(hf_config(catalog.models["smollm2-135m-instruct"])).base(location, shape, dtype) == name


@pytest.mark.parametrize("model_id, expected", [
    ("smollm2-135m-instruct", {"dim": 576, "hidden_dim": 1536, "n_heads": 9, "n_kv_heads": 3, "head_dim": 64, "n_layers": 30,
                               "vocab_size": 49152, "attention_qkv_bias": False, "use_hf_rope": False}),
    ("qwen2.5-0.5b-instruct", {"dim": 896, "hidden_dim": 4864, "n_heads": 14, "n_kv_heads": 2, "head_dim": 64, "n_layers": 24,
                               "vocab_size": 151936, "attention_qkv_bias": True, "use_hf_rope": True}),
    ("qwen3-0.6b", {"dim": 1024, "hidden_dim": 3072, "n_heads": 16, "n_kv_heads": 8, "head_dim": 128, "n_layers": 28,
                    "vocab_size": 151936, "attention_qkv_bias": False, "use_qk_norm": True, "qk_norm_before_rope": True}),
])
def test_executorch_params_json_is_the_catalog_architecture(catalog, model_id, expected):
    params = runtime_module("executorch").params_json(catalog.models[model_id])
    assert {k: params[k] for k in expected} == expected


@pytest.mark.parametrize("fmt, flags", [
    ("8da4w", {"-qmode": "8da4w", "-G": "128", "-E": None}),
    ("8da4w-g256-emb4", {"-qmode": "8da4w", "-G": "256", "-E": "4,32"}),
    ("8da8w", {"-qmode": "8da4w", "-G": "0", "-E": None}),  # parsed as 8da4w, then set to 8da8w: -qmode's check lacks it
])
def test_executorch_export_flags(fmt, flags):
    argv = runtime_module("executorch").export_argv(Path("params.json"), Path("."), fmt, 256)
    assert argv[:7] == ["--model", "llama3", "-p", "params.json", "-kv", "--use_sdpa_with_kv_cache", "-X"]
    assert {f: argv[argv.index(f) + 1] if f in argv else None for f in flags} == flags
    assert (argv[argv.index("--max_seq_length") + 1], argv[argv.index("--max_context_length") + 1]) == ("256", "256")


# --------------------------------------------------------------------------- live twins


SETTINGS = MeasureSettings(prompt_tokens=16, output_tokens=4, repeats=2, timeout_s=600)


@pytest.mark.slow
@pytest.mark.parametrize("model_id, fmt", [("tiny-llama", "4bit"), ("tiny-qwen2", "8bit"), ("tiny-qwen2", "bf16")])
def test_mlx_twin_built_and_measured(twin_cache, model_id, fmt):
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_lm")
    model = TINY[model_id]
    record = measure_twin("mlx", model, fmt, cache_dir=twin_cache, settings=SETTINGS)
    layout = record_layout(record)
    check_mlx_layout(model, layout, record["format_details"]["quantization"])
    bits = runtime_module("mlx").FORMATS[fmt]
    assert record["format_details"]["quantization"] == ({} if bits is None else {"bits": bits[0], "group_size": bits[1], "mode": "affine"})
    headers = record["format_details"]["safetensors_header_bytes"]
    assert record["files"]["model.safetensors"] == headers["model.safetensors"] + sum(t.nbytes for t in layout)
    measured = record["measured"]
    assert measured["kv_cache_bytes"] == expected_kv_bytes("mlx", model, measured)
    assert measured["kv_cache_dtype"] == "mlx.core.bfloat16"
    # MLX reads the weights into its own buffers: they are all active after loading, nothing more
    tensor_bytes = sum(t.nbytes for t in layout)
    assert tensor_bytes <= measured["runtime_active_memory_after_load_bytes"] <= tensor_bytes + 4096
    assert measured["peak_rss_bytes"] > sum(t.nbytes for t in layout)
    assert measured["decode_tokens_per_s"]["median"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model_id, fmt, block", [("tiny-llama", "int4", 32), ("tiny-qwen2", "int4-block64", 64), ("tiny-qwen2", "fp32", None)])
def test_ort_genai_twin_built_and_measured(twin_cache, model_id, fmt, block):
    for module in ("onnxruntime_genai", "onnx", "onnx_ir", "torch", "transformers"):
        pytest.importorskip(module)
    model = TINY[model_id]
    record = measure_twin("ort-genai", model, fmt, cache_dir=twin_cache, settings=SETTINGS)
    layout = record_layout(record)
    check_ort_layout(model, layout, None if block is None else 4, block)
    assert record["files"]["model.onnx.data"] == sum(t.nbytes for t in layout if t.file == "model.onnx.data")
    kinds = record["format_details"]["matmulnbits"]
    assert [(k["bits"], k["block_size"]) for k in kinds] == ([] if block is None else [(4, block)])
    measured = record["measured"]
    assert measured["max_length"] == SETTINGS.prompt_tokens + SETTINGS.output_tokens + 8
    assert measured["kv_cache_bytes"] == expected_kv_bytes("ort-genai", model, measured)
    assert measured["decode_tokens_per_s"]["median"] > 0 and measured["peak_rss_bytes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model_id, fmt", [("tiny-llama", "8da4w"), ("tiny-qwen2", "8da8w")])
def test_executorch_twin_built_and_measured(twin_cache, model_id, fmt):
    pytest.importorskip("executorch")
    model = TINY[model_id]
    record = measure_twin("executorch", model, fmt, cache_dir=twin_cache, settings=SETTINGS)
    context = record["format_details"]["export"]["context"]
    check_executorch_layout(model, record_layout(record), fmt, context)
    measured = record["measured"]
    assert measured["kv_cache_bytes"] == expected_kv_bytes("executorch", model, measured)
    assert measured["logits_shape"] == [1, model.vocab_size]
    assert measured["decode_tokens_per_s"]["median"] > 0 and measured["peak_rss_bytes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model_id, fmt", [("tiny-llama", "dynamic_int8"), ("tiny-qwen2", "dynamic_int4_block32"),
                                           ("tiny-qwen2", "dynamic_int4_block128")])
def test_litert_lm_twin_built_and_measured(twin_cache, model_id, fmt):
    for module in ("litert_lm", "litert_lm_builder", "litert_torch"):
        pytest.importorskip(module)
    model = TINY[model_id]
    settings = MeasureSettings(prompt_tokens=32, output_tokens=16, repeats=2, timeout_s=600)
    record = measure_twin("litert-lm", model, fmt, cache_dir=twin_cache, settings=settings)
    check_litert_layout(model, record_layout(record), fmt)
    measured = record["measured"]
    assert measured["kv_cache_bytes"] == expected_kv_bytes("litert-lm", model, measured)
    assert measured["decode_token_counts"] == [16] and measured["decode_tokens_per_s"]["median"] > 0
    assert measured["xnnpack_cache_bytes"] > 0 and measured["peak_rss_bytes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model_id, fmt", [("tiny-llama", "int4-block64"), ("tiny-qwen2", "int8")])
def test_mnn_twin_built_and_measured(twin_cache, model_id, fmt):
    from importlib.util import find_spec

    for module in ("MNN.llm", "torch", "transformers"):
        pytest.importorskip(module)
    if find_spec("llmexport") is None:  # found, not imported: the package imports its utils as a top-level module
        pytest.skip("llmexport is not installed")
    model = TINY[model_id]
    record = measure_twin("mnn", model, fmt, cache_dir=twin_cache, settings=SETTINGS)
    check_mnn_layout(model, record_layout(record), fmt)
    measured = record["measured"]
    assert [r["prompt_len"] for r in measured["runs"]] == [SETTINGS.prompt_tokens] * SETTINGS.repeats
    assert [r["gen_seq_len"] for r in measured["runs"]] == [SETTINGS.output_tokens] * SETTINGS.repeats
    assert measured["decode_tokens_per_s"]["median"] > 0 and measured["peak_rss_bytes"] > 0

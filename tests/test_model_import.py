"""Importing a model without its weights: a GGUF header (bounded against hostile input, never
reading tensor data) and a Hugging Face config.json."""

from __future__ import annotations

import json
import struct
import unicodedata
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.engine import memory as mem
from advisor.engine.tensors import count_params, tensor_inventory
from advisor.errors import DataFileError
from advisor.gguf_header import read_gguf_header
from advisor.model_import import model_from_gguf, model_from_hf_config


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- a GGUF header written by hand (gguf.md)


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value) -> bytes:
    if isinstance(value, str):
        return _s(key) + struct.pack("<I", 8) + _s(value)
    if isinstance(value, list):
        return _s(key) + struct.pack("<I", 9) + struct.pack("<IQ", 4, len(value)) + b"".join(struct.pack("<I", v) for v in value)
    return _s(key) + struct.pack("<I", 4) + struct.pack("<I", value)


def _tensor(name: str, shape: tuple[int, ...], type_id: int, offset: int = 0) -> bytes:
    return _s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<IQ", type_id, offset)


def _header(kvs: list[bytes], tensors: list[bytes], *, n_tensors: int | None = None, n_kv: int | None = None,
            magic: bytes = b"GGUF", version: int = 3) -> bytes:
    return (magic + struct.pack("<I", version) + struct.pack("<Q", len(tensors) if n_tensors is None else n_tensors)
            + struct.pack("<Q", len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(tensors))


_MOE = dict(e=256, v=1024, ff=256, n=4)


def _tiny_moe_kvs() -> list[bytes]:
    e, ff, n = _MOE["e"], _MOE["ff"], _MOE["n"]
    return [_kv("general.architecture", "qwen3moe"), _kv("general.name", "tiny moe"), _kv("general.file_type", 15),
            _kv("qwen3moe.block_count", 2), _kv("qwen3moe.embedding_length", e), _kv("qwen3moe.feed_forward_length", 512),
            _kv("qwen3moe.attention.head_count", 4), _kv("qwen3moe.attention.head_count_kv", 2),
            _kv("qwen3moe.attention.key_length", 64), _kv("qwen3moe.context_length", 4096),
            _kv("qwen3moe.expert_count", n), _kv("qwen3moe.expert_used_count", 2),
            _kv("qwen3moe.expert_feed_forward_length", ff)]


def _tiny_moe_tensors() -> list[bytes]:
    e, v, ff, n = _MOE["e"], _MOE["v"], _MOE["ff"], _MOE["n"]
    ts = [_tensor("token_embd.weight", (e, v), 12), _tensor("output_norm.weight", (e,), 0), _tensor("output.weight", (e, v), 14)]
    for i in range(2):
        p = f"blk.{i}."
        ts += [_tensor(p + "attn_norm.weight", (e,), 0), _tensor(p + "attn_q.weight", (e, 256), 12),
               _tensor(p + "attn_k.weight", (e, 128), 12), _tensor(p + "attn_v.weight", (e, 128), 14),
               _tensor(p + "attn_q_norm.weight", (64,), 0), _tensor(p + "attn_k_norm.weight", (64,), 0),
               _tensor(p + "attn_output.weight", (256, e), 12), _tensor(p + "ffn_norm.weight", (e,), 0),
               _tensor(p + "ffn_gate_inp.weight", (e, n), 0), _tensor(p + "ffn_gate_exps.weight", (e, ff, n), 12),
               _tensor(p + "ffn_up_exps.weight", (e, ff, n), 12), _tensor(p + "ffn_down_exps.weight", (ff, e, n), 14)]
    return ts


def _tiny_moe_header(**replace: bytes) -> bytes:
    """A 2-layer qwen3moe tensor table (Q4_K matrices id 12, F32 norms/routers id 0), no data;
    ``replace`` swaps the metadata entry of a key (its dots as double underscores) for other bytes."""
    swap = {k.replace("__", "."): v for k, v in replace.items()}
    kvs = [next((v for k, v in swap.items() if kv.startswith(_s(k))), kv) for kv in _tiny_moe_kvs()]
    return _header(kvs, _tiny_moe_tensors())


def test_header_gives_the_exact_file_weights(tmp_path, catalog):
    path = tmp_path / "tiny-moe-Q4_K_M.gguf"
    path.write_bytes(_tiny_moe_header())  # header only: no tensor data at all
    header = read_gguf_header(path)
    assert header.header_bytes == path.stat().st_size  # read exactly the header, nothing beyond
    model, ftype = model_from_gguf(path, catalog.ggml_types, catalog.file_types)
    assert ftype.id == "Q4_K_M" and model.gguf_arch == "qwen3moe" and model.n_experts == 4 and model.expert_ffn_size == 256
    assert [t.name for t in tensor_inventory(model)] == [t.name for t in header.tensors]
    q4k, q6k = 144 / 256, 210 / 256  # bytes per weight of Q4_K and Q6_K blocks
    e, v = 256, 1024
    per_layer = (e * 256 + e * 128 + 256 * e) * q4k + e * 128 * q6k + 2 * e * 256 * 4 * q4k + 256 * e * 4 * q6k + (2 * e + 128 + e * 4) * 4  # norms, q/k norms, router (F32)
    expected = e * v * q4k + e * v * q6k + e * 4 + 2 * per_layer
    assert mem.weights_bytes(model, ftype, catalog.ggml_types) == expected
    assert model.params == count_params(model)


def test_header_with_unread_data_section_never_reads_it(tmp_path, catalog):
    """A full file whose data section is garbage: the reader stops at the tensor table."""
    path = tmp_path / "full.gguf"
    head = _tiny_moe_header()
    path.write_bytes(head + b"\xff" * 100_000)
    assert read_gguf_header(path).header_bytes == len(head)


def _pi(n: int) -> bytes:
    return struct.pack("<Q", n)


HOSTILE = [
    ("bad-magic", _header([], [], magic=b"GGML"), "magic is b'GGML', expected b'GGUF' (is it a GGUF file?)"),
    ("old-version", _header([], [], version=1), "version 1 is not supported (GGUF 2 or 3)"),
    ("huge-tensor-count", _header([], [], n_tensors=1 << 40), "tensor count 1,099,511,627,776 exceeds 100,000"),
    ("huge-kv-count", _header([], [], n_kv=10**12), "metadata count 1,000,000,000,000 exceeds 100,000"),
    ("truncated-kv", _header([_kv("general.architecture", "llama")[:-3]], []), "file ends inside 'general.architecture' (truncated at byte 66)"),
    ("huge-string", _header([b"\x05\x00\x00\x00\x00\x00\x00\x00abcde" + struct.pack("<I", 8) + _pi(1 << 40)], []),
     "'abcde' claims 1,099,511,627,776 bytes (limit 16,777,216)"),
    ("huge-array", _header([_s("k") + struct.pack("<I", 9) + struct.pack("<IQ", 4, 1 << 40)], []),
     "'k' claims 1,099,511,627,776 items (limit 16,777,216)"),
    # strings are skipped one by one: 16 M of them took 16 s to walk
    ("many-strings", _header([_s("k") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 16_000_000)], []),
     "'k' claims 16,000,000 strings (limit 2,097,152)"),
    ("bad-value-type", _header([_s("k") + struct.pack("<I", 77)], []), "'k' has unknown value type 77"),
    ("absurd-dims", _header([], [_tensor("t", (1 << 30, 1 << 30, 1 << 30), 0)]),
     "tensor 't' has absurd dimensions (1073741824, 1073741824, 1073741824) (over 281,474,976,710,656 elements)"),
    ("too-many-dims", _header([], [_s("t") + struct.pack("<I", 9)]), "tensor 't' has 9 dimensions (1 to 4)"),
    ("zero-dim", _header([], [_tensor("t", (4, 0), 0)]), "tensor 't' has a zero dimension (4, 0)"),
    ("truncated-table", _header([], [_tensor("t", (4, 4), 0)[:-5]]), "file ends inside the data offset of 't' (truncated at byte 60)"),
    ("duplicate", _header([], [_tensor("t", (4,), 0), _tensor("t", (4,), 0)]), "tensor 't' appears twice in the tensor table"),
    # found at once, not by counting each name (a 100,000-tensor table took ~160 s that way)
    ("duplicate-late", _header([], [_tensor(f"t{i}", (1,), 0) for i in range(20_000)] + [_tensor("t19999", (1,), 0)]),
     "tensor 't19999' appears twice in the tensor table"),
    # llama.cpp refuses a file whose metadata repeats a key
    ("duplicate-key", _header([_kv("general.name", "a"), _kv("general.name", "b")], []), "metadata key 'general.name' appears twice"),
]


@pytest.mark.parametrize("name, blob, message", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_headers_fail_with_one_line(tmp_path, capsys, name, blob, message):
    path = tmp_path / f"{name}.gguf"
    path.write_bytes(blob)
    with pytest.raises(DataFileError) as exc:
        read_gguf_header(path)
    assert str(exc.value) == f"{path}: not a readable GGUF header: {message}"
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"Error: {path}: not a readable GGUF header: {message}"]


@pytest.mark.parametrize(
    "kvs, message",
    [
        ([_kv("general.name", "x")], "the GGUF header has no general.architecture"),
        # it has one, of the wrong kind (was: "has no general.architecture")
        ([_kv("general.architecture", 7)], "the GGUF header's general.architecture is 7, not a string naming an architecture"),
        ([_kv("general.architecture", "mamba")], "architecture 'mamba' is not supported yet; supported: llama,"),
        ([_kv("general.architecture", "llama"), _kv("llama.block_count", 2)],
         "the GGUF header lacks llama.embedding_length, llama.attention.head_count"),
    ],
)
def test_headers_of_unsupported_or_incomplete_models(tmp_path, catalog, kvs, message):
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(kvs, []))
    with pytest.raises(DataFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_from_gguf(path, catalog.ggml_types, catalog.file_types)


@pytest.mark.parametrize(
    "replace, message",
    [
        # llama.cpp's check_tensor_dims refuses each of these files ("wrong shape")
        (dict(qwen3moe__expert_count=_kv("qwen3moe.expert_count", 8)),
         "blk.0.ffn_gate_exps.weight holds 4 experts but qwen3moe.expert_count is 8; the header is inconsistent"),
        (dict(qwen3moe__expert_count=_kv("qwen3moe.x", 0)),
         "the tensor table has routed-expert tensors (blk.0.ffn_gate_exps.weight) but qwen3moe.expert_count is missing or 0"),
        (dict(qwen3moe__attention__head_count_kv=_kv("qwen3moe.attention.head_count_kv", [2, 0])),
         "block 1 has attention tensors but qwen3moe.attention.head_count_kv[1] is 0; the header is inconsistent"),
        (dict(qwen3moe__attention__head_count_kv=_kv("qwen3moe.attention.head_count_kv", 0)),
         "block 0 has attention tensors but qwen3moe.attention.head_count_kv is 0; the header is inconsistent"),
        (dict(qwen3moe__embedding_length=_kv("qwen3moe.embedding_length", 512)),
         "token_embd.weight is 256 wide but qwen3moe.embedding_length is 512; the header is inconsistent"),
        (dict(qwen3moe__attention__head_count=_kv("qwen3moe.attention.head_count", 2)),
         "blk.0.attn_q.weight is 256 wide but the header gives 2 heads of 64 = 128; the header is inconsistent"),
        (dict(qwen3moe__attention__head_count_kv=_kv("qwen3moe.attention.head_count_kv", 4)),
         "blk.0.attn_k.weight is 128 wide but the header gives 4 heads of 64 = 256; the header is inconsistent"),
    ],
)
def test_a_header_whose_metadata_contradicts_its_tensor_table_is_refused(tmp_path, capsys, catalog, replace, message):
    """Metadata that does not describe the tensor table would give confident wrong figures (the
    experts a token reads, the layers that hold a KV cache): one Error: line instead."""
    path = tmp_path / "m.gguf"
    path.write_bytes(_tiny_moe_header(**replace))
    with pytest.raises(DataFileError) as exc:
        model_from_gguf(path, catalog.ggml_types, catalog.file_types)
    assert str(exc.value) == f"{path}: {message}"
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert code == 1 and out == "" and err.strip().splitlines() == [f"Error: {path}: {message}"]


def test_an_imported_model_can_be_forgotten(tmp_path, catalog):
    """api.import_model adds to the process's catalog; forget_imported_models takes it out again
    (the test session does so after every test)."""
    from advisor.api import forget_imported_models, import_model

    path = tmp_path / "tiny-moe.gguf"
    path.write_bytes(_tiny_moe_header())
    before = set(catalog.models)
    imported = import_model(gguf_header=path, catalog=catalog)
    assert imported.model_id in catalog.models and imported.model_id not in before
    forget_imported_models()
    assert set(catalog.models) == before and not catalog.imported


def test_cli_predict_recommend_and_devices_for_from_a_header(tmp_path, capsys):
    path = tmp_path / "tiny-moe-Q4_K_M.gguf"
    path.write_bytes(_tiny_moe_header())
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--device", "raspberry-pi-5-8gb", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["quant"] == "Q4_K_M" and data["model_name"] == "tiny moe"
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--quant", "Q8_0", "--ram", "4GB")
    assert code == 1
    assert err.strip() == "Error: the GGUF file is Q4_K_M; drop --quant Q8_0 (its tensor types are fixed)"
    code, out, err = run(capsys, "recommend", "--gguf-header", str(path), "--ram", "4GB", "--format", "json")
    assert code == 0, err
    assert {c["model"] for c in json.loads(out)["candidates"]} == {"tiny-moe-q4-k-m"}
    code, out, err = run(capsys, "devices-for", "--gguf-header", str(path), "--min-tps", "1", "--format", "json")
    assert code == 0, err


# ---------------------------------------------------------------- config.json

QWEN3_30B = {  # the fields of Qwen/Qwen3-30B-A3B config.json (models-moe-hybrid.csv, verbatim copy)
    "model_type": "qwen3_moe", "_name_or_path": "Qwen/Qwen3-30B-A3B", "num_hidden_layers": 48, "hidden_size": 2048,
    "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
    "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936,
    "max_position_embeddings": 40960, "tie_word_embeddings": False, "attention_bias": False,
    "decoder_sparse_step": 1, "mlp_only_layers": [],
}
LFM2_12B = {  # LFM2-1.2B: block_ff_dim 12288 auto-adjusted to 8192 as convert_hf_to_gguf does
    "model_type": "lfm2", "num_hidden_layers": 16, "hidden_size": 2048, "block_ff_dim": 12288,
    "block_auto_adjust_ff_dim": True, "block_ffn_dim_multiplier": None, "block_multiple_of": 256,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 65536, "max_position_embeddings": 128000,
    "conv_L_cache": 3, "full_attn_idxs": [2, 5, 8, 10, 12, 14],
}


GPT_OSS_20B = {  # the fields of openai/gpt-oss-20b config.json (models-moe-hybrid.csv, verified copy)
    "model_type": "gpt_oss", "_name_or_path": "openai/gpt-oss-20b", "num_hidden_layers": 24, "hidden_size": 2880,
    "intermediate_size": 2880, "num_local_experts": 32, "num_experts_per_tok": 4, "experts_per_token": 4,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 201088,
    "max_position_embeddings": 131072, "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 12,
    "tie_word_embeddings": False, "attention_bias": True, "quantization_config": {"quant_method": "mxfp4"},
}
PHI35_MOE = {  # Phi-3.5-MoE-instruct (models-moe-hybrid.csv: transformers PhimoeConfig defaults)
    "model_type": "phimoe", "_name_or_path": "microsoft/Phi-3.5-MoE-instruct", "num_hidden_layers": 32, "hidden_size": 4096,
    "intermediate_size": 6400, "num_local_experts": 16, "num_experts_per_tok": 2, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 32064, "max_position_embeddings": 131072, "tie_word_embeddings": False,
    "attention_bias": True, "lm_head_bias": True,
}


GRANITE_H_TINY = {  # the fields granitemoehybrid configs carry (values of the catalog's Granite 4.0 H Tiny)
    "model_type": "granitemoehybrid", "_name_or_path": "ibm-granite/granite-4.0-h-tiny", "num_hidden_layers": 40,
    "hidden_size": 1536, "intermediate_size": 512, "shared_intermediate_size": 1024, "num_local_experts": 64,
    "num_experts_per_tok": 6, "num_attention_heads": 12, "num_key_value_heads": 4, "vocab_size": 100352,
    "max_position_embeddings": 131072, "tie_word_embeddings": True, "mamba_d_state": 128, "mamba_d_conv": 4,
    "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_expand": 2,
    "layer_types": ["attention" if i in (5, 15, 25, 35) else "mamba" for i in range(40)],
}
GRANITE_MICRO = {  # Granite 4.0 Micro: a granitemoehybrid config whose 40 layers are all attention
    "model_type": "granitemoehybrid", "_name_or_path": "ibm-granite/granite-4.0-micro", "num_hidden_layers": 40,
    "hidden_size": 2560, "intermediate_size": 8192, "shared_intermediate_size": 8192, "num_local_experts": 0,
    "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 100352, "max_position_embeddings": 131072,
    "tie_word_embeddings": True, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_n_groups": 1, "mamba_n_heads": 128,
    "mamba_expand": 2, "layer_types": ["attention"] * 40,
}
MINICPM4_8B = {  # MiniCPM4(.1)-8B (remote-code MiniCPMForCausalLM; the catalog's dims)
    "model_type": "minicpm", "_name_or_path": "openbmb/MiniCPM4.1-8B", "num_hidden_layers": 32, "hidden_size": 4096,
    "intermediate_size": 16384, "num_attention_heads": 32, "num_key_value_heads": 2, "vocab_size": 73448,
    "max_position_embeddings": 32768, "tie_word_embeddings": False, "scale_emb": 12, "dim_model_base": 256,
    "scale_depth": 1.4,
}
BITNET_2B4T = {  # BitNet b1.58 2B4T (models-moe-hybrid.csv: the catalog's dims; ReLU², tied)
    "architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "_name_or_path": "microsoft/bitnet-b1.58-2B-4T",
    "num_hidden_layers": 30, "hidden_size": 2560, "intermediate_size": 6912, "num_attention_heads": 20, "num_key_value_heads": 5,
    "vocab_size": 128256, "max_position_embeddings": 4096, "hidden_act": "relu2", "tie_word_embeddings": True, "rope_theta": 500000.0,
}
BITNET_3B = {  # 1bitLLM's BitNet b1.58 3B: llama's model_type, the converter picks bitnet by its class; untied
    "architectures": ["BitnetForCausalLM"], "model_type": "llama", "_name_or_path": "1bitLLM/bitnet_b1_58-3B",
    "num_hidden_layers": 26, "hidden_size": 3200, "intermediate_size": 8640, "num_attention_heads": 32, "num_key_value_heads": 32,
    "vocab_size": 32002, "max_position_embeddings": 2048, "hidden_act": "silu", "tie_word_embeddings": False, "rope_theta": 10000.0,
}
LFM2_8B_A1B = {  # LFM2-8B-A1B (models-moe-hybrid.csv: layer_types, num_dense_layers 2, 32 experts top-4)
    "model_type": "lfm2_moe", "num_hidden_layers": 24, "hidden_size": 2048, "intermediate_size": 7168,
    "moe_intermediate_size": 1792, "num_experts": 32, "num_experts_per_tok": 4, "num_dense_layers": 2,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 65536, "max_position_embeddings": 128000,
    "conv_L_cache": 3, "tie_word_embeddings": True,
    "layer_types": ["full_attention" if i in (2, 6, 10, 14, 18, 21) else "conv" for i in range(24)],
}


@pytest.mark.parametrize("config, catalog_id", [(QWEN3_30B, "qwen3-30b-a3b"), (LFM2_12B, "lfm2-1.2b"),
                                                # model types refused before ("not supported") though the catalog has them
                                                (GPT_OSS_20B, "gpt-oss-20b"), (PHI35_MOE, "phi-3.5-moe-instruct"),
                                                (LFM2_8B_A1B, "lfm2-8b-a1b"), (MINICPM4_8B, "minicpm4.1-8b"),
                                                # all attention: llama.cpp converts it to plain granite
                                                (GRANITE_MICRO, "granite-4.0-micro"),
                                                # BitNet by model_type, and by its class under llama's model_type
                                                (BITNET_2B4T, "bitnet-b1.58-2b-4t"), (BITNET_3B, "bitnet-b1.58-3b")])
def test_config_json_reproduces_the_catalog_model(tmp_path, catalog, config, catalog_id):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    model = model_from_hf_config(path)
    ref = catalog.model(catalog_id)
    assert model.params == ref.params
    assert model.gguf_arch == ref.gguf_arch  # the runtimes that load it are the catalog model's
    assert tensor_inventory(model) == tensor_inventory(ref)
    assert mem.kv_bytes_per_token(model) == mem.kv_bytes_per_token(ref)
    assert mem.recurrent_state_bytes(model) == mem.recurrent_state_bytes(ref)
    assert (model.sliding_window, model.swa_global_every, model.native_format) == (ref.sliding_window, ref.swa_global_every,
                                                                                    ref.native_format)


@pytest.mark.parametrize("config, words", [
    (BITNET_2B4T, "hidden_act 'relu2', a gated FFN (gate, up, sub-norm, down); llama.cpp (llama-cpp-python 0.3.36, "
                  "src/models/bitnet.cpp) applies SiLU whatever it says, with the same tensors."),
    (BITNET_3B, "hidden_act 'silu', a gated FFN (gate, up, sub-norm, down); llama.cpp (llama-cpp-python 0.3.36, "
                "src/models/bitnet.cpp) applies SiLU whatever it says, with the same tensors; untied in the config, but "
                "llama.cpp's bitnet has no output matrix (it multiplies by token_embd)."),
])
def test_a_bitnet_config_imports_with_sub_norms_and_no_output_matrix(tmp_path, config, words):
    """ReLU² or SiLU, the FFN is gated and normed before ffn_down; the tie does not matter: llama.cpp
    keeps no output matrix for bitnet (a separate lm_head would not convert)."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    model = model_from_hf_config(path)
    assert (model.gguf_arch, model.family, model.ffn_gated, model.tied_embeddings) == ("bitnet", "bitnet", True,
                                                                                     config["tie_word_embeddings"])
    names = {t.name: t.shape for t in tensor_inventory(model)}
    assert "output.weight" not in names and "blk.0.ffn_gate.weight" in names
    h, f = config["hidden_size"], config["intermediate_size"]
    assert (names["blk.0.attn_sub_norm.weight"], names["blk.0.ffn_sub_norm.weight"]) == ((h,), (f,))
    assert model.notes.endswith(words)


def test_an_imported_models_quality_says_its_release_year_was_assumed(tmp_path, catalog):
    """A config has no release date: the quality estimate takes 2024 and says so (before, it read
    "from size and release year" as if a year were known; the same dims score 35 imported, the
    catalog's Qwen3-30B-A3B 64 from its published MMLU)."""
    from advisor.engine.quality import base_quality, fit_size_model

    path = tmp_path / "config.json"
    path.write_text(json.dumps(QWEN3_30B))
    fit = fit_size_model(list(catalog.models.values()))
    assert "release year (not known: 2024 assumed)" in base_quality(model_from_hf_config(path), fit).basis
    dated = catalog.model("smollm2-135m-instruct")  # no published MMLU, a known date
    assert base_quality(dated, fit).basis.startswith("no published 5-shot MMLU: conservative estimate from size and release year (fit")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"model_type": "mamba2"}, "model_type 'mamba2' is not supported; supported: llama, mistral,"),
        ({"hidden_size": 4}, "the config has no model_type; a Hugging Face config.json names it (supported: llama,"),
        # a type llama.cpp's GGUF import knows: the way to bring it in
        ({"model_type": "gemma2"}, "granitemoehybrid, phi, gpt_neox, phimoe, gpt_oss, minicpm, bitnet; a GGUF of it imports with --gguf-header"),
        ({"model_type": "gemma3_text"}, "a GGUF of it imports with --gguf-header"),
        # an attention layer past the last was dropped, its KV cache with it
        ({**LFM2_12B, "full_attn_idxs": [2, 5, 8, 10, 12, 14, 16]}, "full_attn_idxs has 16, outside the 16 layers (0 to 15) of num_hidden_layers"),
        # worded in the config's keys, not the record's (was "model: Value error, n_heads 15 is not a multiple of n_kv_heads 16")
        ({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 960, "intermediate_size": 2560, "num_attention_heads": 15,
          "num_key_value_heads": 16, "vocab_size": 49152, "max_position_embeddings": 8192},
         "describes an inconsistent model: num_attention_heads 15 is not a multiple of num_key_value_heads 16"),
        ({"model_type": "qwen3_moe", "num_hidden_layers": 2, "hidden_size": 64},
         "the config lacks num_attention_heads, vocab_size, max_position_embeddings, num_experts, moe_intermediate_size, "
         "num_experts_per_tok (needed for model_type 'qwen3_moe')"),
        ({**QWEN3_30B, "mlp_only_layers": [0]}, "qwen3_moe with dense layers"),
        # 0 KV heads was read as "as many as the query heads": a KV cache 8× too large
        ({**QWEN3_30B, "num_key_value_heads": 0}, "num_key_value_heads is 0; attention needs at least one key/value head"),
        # a layer type the converter does not know was read as a recurrent layer, its KV cache lost
        ({**LFM2_12B, "full_attn_idxs": None, "layer_types": ["conv", "sliding_attention"] * 8},
         "layer_types has 'sliding_attention'; this model type's layers are 'conv' or 'full_attention' or 'attention'"),
        # worded in the config's keys (were "num_experts_per_tok/moe_intermediate_size/shared_expert_ffn_size/n_dense_layers
        # need num_experts > 0", "n_dense_layers 24 leaves…", "give shortconv_l_cache (LFM2) or ssm_d_state (Mamba2)",
        # "num_experts_per_tok must be 1..num_experts=64" of a config that has num_local_experts)
        ({**QWEN3_30B, "num_experts": 0},
         "num_experts is 0, but every layer of a qwen3_moe model is a mixture of experts; give the number of routed experts"),
        ({**GRANITE_H_TINY, "num_experts_per_tok": 65},
         "describes an inconsistent model: num_experts_per_tok must be 1..num_local_experts=64, got 65"),
        ({**LFM2_8B_A1B, "num_dense_layers": 24}, "describes an inconsistent model: num_dense_layers 24 leaves no MoE layer of 24"),
        ({**LFM2_12B, "conv_L_cache": 0},
         "layers with 0 kv heads are recurrent: give conv_L_cache (LFM2) or mamba_d_state (Mamba2)"),
        # Mamba2's inner width is heads × head size: llama.cpp requires 2 × hidden (accepted before, the state sized from 2 × hidden)
        ({**GRANITE_H_TINY, "mamba_d_head": 32},
         "mamba_n_heads × mamba_d_head is 48 × 32 = 1,536, but llama.cpp requires the Mamba2 inner width to be 2 × hidden_size = 3,072"),
        ({**GRANITE_H_TINY, "mamba_n_heads": 47},
         "describes an inconsistent model: mamba_n_heads 47 and mamba_n_groups 1 must divide the Mamba2 inner width"),
        # llama.cpp's bitnet sizes wq and wo {hidden, hidden}: the heads must fill the hidden width
        ({**BITNET_2B4T, "head_dim": 96},
         "num_attention_heads × head_dim is 20 × 96 = 1,920, but llama.cpp's bitnet requires it to equal hidden_size (2,560)"),
    ],
)
def test_bad_configs_name_what_is_wrong(tmp_path, capsys, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(DataFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_from_hf_config(path)
    code, out, err = run(capsys, "predict", "--model-config", str(path), "--ram", "8GB")
    assert code == 1 and err.startswith(f"Error: {path}: ") and err.count("\n") == 1


BAD_VALUES = [  # each once gave a traceback (TypeError, ZeroDivisionError, RecursionError) or ran for minutes
    ({**QWEN3_30B, "num_attention_heads": 0}, "num_attention_heads is 0, outside 1 to 4,096"),
    ({**QWEN3_30B, "num_attention_heads": "32"}, "num_attention_heads is '32', expected a whole number"),
    ({**QWEN3_30B, "hidden_size": 2048.5}, "hidden_size is 2048.5, expected a whole number"),
    ({**QWEN3_30B, "num_hidden_layers": True}, "num_hidden_layers is True, expected a whole number"),
    ({**QWEN3_30B, "partial_rotary_factor": "half"}, "partial_rotary_factor is 'half', expected a number above 0 and at most 1"),
    ({**LFM2_12B, "block_ff_dim": "x"}, "block_ff_dim is 'x', expected a whole number"),
    ({**LFM2_12B, "num_hidden_layers": 10**9}, "num_hidden_layers is 1,000,000,000, outside 1 to 1,024"),
    ({**LFM2_12B, "layer_types": "attention"}, "layer_types is 'attention', expected a list of strings"),
    ({**QWEN3_30B, "model_type": ["llama"]}, "model_type ['llama'] is not supported"),
    # bool("false") is True: a quoted flag tied the embeddings, the weights 19 % light (Qwen2.5 0.5B Q4_K_M)
    ({**QWEN3_30B, "tie_word_embeddings": "false"}, "tie_word_embeddings is 'false', expected true or false"),
    ({**QWEN3_30B, "attention_bias": "no"}, "attention_bias is 'no', expected true or false"),
    # every dimension inside its bound, the count past the record's: was imported (params set after validation)
    # and the user catalog then failed to load in every command
    ({"model_type": "llama", "num_hidden_layers": 1024, "hidden_size": 1048576, "num_attention_heads": 4, "num_key_value_heads": 4,
      "vocab_size": 16777216, "max_position_embeddings": 4096, "intermediate_size": 1048576},
     "describes a model of 7.92e+15 parameters, over the 1e+13 the advisor takes; check num_hidden_layers"),
]


@pytest.mark.parametrize("config, message", BAD_VALUES, ids=range(len(BAD_VALUES)))
def test_config_values_of_the_wrong_kind_are_one_error_line(tmp_path, capsys, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, out, err = run(capsys, "predict", "--model-config", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith(f"Error: {path}: {message}") and err.count("\n") == 1


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested more than 32 levels deep; a config.json is one flat object"),
    ('{"vocab_size": 1' + "0" * 5000 + "}", "a number is too large"),
    ('{"hidden_size": NaN, "model_type": "llama"}', "field 'hidden_size': nan is not a finite number"),
    # Python's words were "Unexpected UTF-8 BOM (decode using utf-8-sig)"
    ('\ufeff{"model_type": "llama"}', "starts with a byte-order mark; save it as UTF-8 without one"),
])
def test_hostile_config_files_are_one_error_line(tmp_path, capsys, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    code, out, err = run(capsys, "predict", "--model-config", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith(f"Error: {path}: {message}") and err.count("\n") == 1


def test_an_error_that_echoes_a_huge_value_stays_one_short_line(tmp_path, capsys):
    """A config whose full_attn_idxs lists 100,000 layers gave one 684 KB Error: line: the CLI cuts
    any line past wording.MAX_LINE_CHARS in its middle, keeping what is wrong and the fix."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LFM2_12B, "num_hidden_layers": 1024, "full_attn_idxs": list(range(100_000))}))
    code, out, err = run(capsys, "predict", "--model-config", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith(f"Error: {path}: ") and err.count("\n") == 1
    assert len(err) < 1100 and "characters cut) … " in err


def test_a_config_or_header_that_is_not_a_regular_file_is_refused_without_reading(tmp_path, capsys):
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # reading it would block forever
    for option, path, expected in (("--model-config", fifo, "config.json"), ("--gguf-header", fifo, "GGUF file"),
                                   ("--model-config", Path("/dev/zero"), "config.json")):
        code, out, err = run(capsys, "predict", option, str(path), "--ram", "8GB")
        assert (code, out) == (1, "")
        assert err == f"Error: {path}: is not a regular file (a pipe, device or socket); expected a {expected}\n"
    code, out, err = run(capsys, "models", "add", str(fifo))  # it opened the file to read its magic first
    assert (code, out, err) == (1, "", f"Error: {fifo}: is not a regular file (a pipe, device or socket); expected a GGUF "
                                       "file or config.json\n")


def _f32(key: str, value: float) -> bytes:
    return _s(key) + struct.pack("<I", 6) + struct.pack("<f", value)


def _bool(key: str, value: bool) -> bytes:
    return _s(key) + struct.pack("<I", 7) + struct.pack("<?", value)


BAD_METADATA = [
    (_kv("qwen3moe.attention.head_count", "four"), "qwen3moe.attention.head_count is 'four', expected a whole number"),
    (_f32("qwen3moe.context_length", float("nan")), "qwen3moe.context_length is nan, expected a whole number"),
    (_kv("qwen3moe.expert_count", "eight"), "qwen3moe.expert_count is 'eight', expected a whole number"),
    (_bool("qwen3moe.block_count", True), "qwen3moe.block_count is True, expected a whole number"),
    (_kv("qwen3moe.block_count", 1),
     "qwen3moe.block_count is 1 but the tensor table holds blocks 0 to 1; the header is inconsistent"),
    (_s("qwen3moe.attention.head_count") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2) + _s("a") + _s("b"),
     "qwen3moe.attention.head_count[0] is 'a', expected a whole number"),
]


@pytest.mark.parametrize("entry, message", BAD_METADATA, ids=range(len(BAD_METADATA)))
def test_header_metadata_of_the_wrong_kind_is_one_error_line(tmp_path, capsys, entry, message):
    key = entry[8:8 + struct.unpack("<Q", entry[:8])[0]].decode()
    path = tmp_path / "m.gguf"
    path.write_bytes(_tiny_moe_header(**{key.replace(".", "__"): entry}))
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith(f"Error: {path}: {message}") and err.count("\n") == 1


def test_control_characters_in_a_name_are_not_printed(tmp_path, catalog):
    path = tmp_path / "m.gguf"
    path.write_bytes(_tiny_moe_header(general__name=_kv("general.name", "tiny\x1b[2J\u202emo\u2028e" + "x" * 500)))
    model, _ = model_from_gguf(path, catalog.ggml_types, catalog.file_types)
    assert model.name.startswith("tiny[2Jmoexx") and len(model.name) == 120 and model.name.endswith("…")


def test_a_config_without_its_repo_name_takes_its_folders_name(tmp_path, monkeypatch):
    """A config.json named as a relative path (``advisor models add config.json`` in its folder)
    was named "config" after the file: its parent "." has no name."""
    folder = tmp_path / "my-qwen3-moe"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({k: v for k, v in QWEN3_30B.items() if k != "_name_or_path"}))
    monkeypatch.chdir(folder)
    model = model_from_hf_config("config.json")
    assert (model.id, model.name) == ("my-qwen3-moe", "my-qwen3-moe")


def test_models_add_stores_the_model_under_advisor_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    from advisor.catalog import _load

    _load.cache_clear()
    try:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(QWEN3_30B))
        code, out, err = run(capsys, "models", "add", str(cfg))
        assert code == 0, err
        assert "qwen3-30b-a3b-imported" in out
        stored = Path(tmp_path / "home" / "catalog" / "models.toml")
        assert f'source = "Hugging Face config.json at {cfg}"' in stored.read_text()
        _load.cache_clear()
        code, out, err = run(capsys, "predict", "--model", "qwen3-30b-a3b-imported", "--ram", "32GB", "--format", "json")
        assert code == 0, err
        header = tmp_path / "tiny-moe-Q4_K_M.gguf"
        header.write_bytes(_tiny_moe_header())
        _load.cache_clear()
        code, out, err = run(capsys, "models", "add", str(header))
        assert code == 0, err
        _load.cache_clear()
        code, out, err = run(capsys, "predict", "--model", "tiny-moe-q4-k-m", "--quant", "Q4_K_M", "--ram", "4GB")
        assert code == 0, err
        # the file's type is its only GGUF type: the default, the one recommend lists, another refused
        # (before, recommend listed the Q4_K_M file as F16, with F16's quality score)
        code, out, err = run(capsys, "predict", "--model", "tiny-moe-q4-k-m", "--ram", "4GB", "--format", "json")
        assert code == 0 and json.loads(out)["quant"] == "Q4_K_M"
        code, out, err = run(capsys, "recommend", "--model", "tiny-moe-q4-k-m", "--ram", "4GB", "--runtime", "llama.cpp",
                             "--format", "json")
        assert code == 0 and {c["quant"] for c in json.loads(out)["candidates"]} == {"Q4_K_M"}
        code, out, err = run(capsys, "predict", "--model", "tiny-moe-q4-k-m", "--quant", "Q8_0", "--ram", "4GB")
        assert (code, out) == (1, "") and err == ("Error: tiny-moe-q4-k-m is a GGUF file of type Q4_K_M; drop --quant Q8_0 "
                                                  "(its tensor types are fixed)\n")
        code, out, err = run(capsys, "models", "--format", "json")
        assert code == 0 and "tiny-moe-q4-k-m" in out
        before = stored.read_text()
        monkeypatch.chdir(tmp_path)  # the same file again, by a relative path: refused, nothing stored
        code, out, err = run(capsys, "models", "add", header.name)
        assert (code, out) == (1, "") and err == (f"Error: {header} is already in your catalog as 'tiny-moe-q4-k-m'; nothing "
                                                   "added (to re-import it, remove that entry from your models.toml first)\n")
        assert stored.read_text() == before
    finally:
        _load.cache_clear()




def test_granite_hybrid_config(tmp_path, catalog):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(GRANITE_H_TINY))
    model = model_from_hf_config(path)
    ref = catalog.model("granite-4.0-h-tiny")
    assert tensor_inventory(model) == tensor_inventory(ref)
    assert mem.recurrent_state_bytes(model) == mem.recurrent_state_bytes(ref) == 58060800


def test_a_granite_hybrid_layer_type_of_another_spelling_is_refused(tmp_path):
    path = tmp_path / "config.json"
    types = list(GRANITE_H_TINY["layer_types"])
    types[types.index("attention")] = "Attention"
    path.write_text(json.dumps({**GRANITE_H_TINY, "layer_types": types}))
    with pytest.raises(DataFileError, match="layer_types has 'Attention'; this model type's layers are 'mamba' or 'attention'"):
        model_from_hf_config(path)


@pytest.mark.parametrize("tied, expected", [(True, True), (False, False), (None, False)])
def test_tie_word_embeddings_is_read_as_a_flag(tmp_path, tied, expected):
    """JSON true/false as given; null falls back on the model type's default (qwen3_moe: untied)."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**QWEN3_30B, "tie_word_embeddings": tied}))
    assert model_from_hf_config(path).tied_embeddings is expected


def test_models_add_with_advisor_home_a_file_is_one_error_line(tmp_path, capsys, monkeypatch):
    """ADVISOR_HOME naming a file once ended `models add` in a NotADirectoryError traceback."""
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(QWEN3_30B))
    code, out, err = run(capsys, "models", "add", str(path))
    assert (code, out, err) == (1, "", f"Error: {home / 'catalog' / 'models.toml'}: cannot write your catalog: {home} is a file, "
                                        f"not a directory; set ADVISOR_HOME to a directory you can write (now {home})\n")
    assert home.read_text() == "not a directory"


def _llama_kvs(n_layers: int) -> list[bytes]:
    return [_kv("general.architecture", "llama"), _kv("general.file_type", 15), _kv("llama.block_count", n_layers),
            _kv("llama.embedding_length", 8), _kv("llama.attention.head_count", 1), _kv("llama.attention.head_count_kv", 1),
            _kv("llama.feed_forward_length", 8), _kv("llama.context_length", 2048)]


def _llama_tensors(n_layers: int) -> list[bytes]:
    ts = [_tensor("token_embd.weight", (8, 256), 12), _tensor("output_norm.weight", (8,), 0)]
    for i in range(n_layers):
        ts += [_tensor(f"blk.{i}.attn_q.weight", (8, 8), 12), _tensor(f"blk.{i}.attn_k.weight", (8, 8), 12),
               _tensor(f"blk.{i}.attn_v.weight", (8, 8), 12), _tensor(f"blk.{i}.attn_output.weight", (8, 8), 12),
               _tensor(f"blk.{i}.ffn_gate.weight", (8, 8), 12), _tensor(f"blk.{i}.ffn_up.weight", (8, 8), 12),
               _tensor(f"blk.{i}.ffn_down.weight", (8, 8), 12), _tensor(f"blk.{i}.attn_norm.weight", (8,), 0),
               _tensor(f"blk.{i}.ffn_norm.weight", (8,), 0)]
    return ts


def test_a_block_index_of_thousands_of_digits_is_one_error_line(tmp_path, capsys):
    """A tensor named blk.<5,000 digits>.x once ended in int()'s ValueError (Python's 4,300-digit
    limit) and a traceback."""
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_llama_kvs(2), _llama_tensors(2) + [_tensor("blk." + "9" * 5000 + ".x", (8,), 0)]))
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith(f"Error: {path}: tensor 'blk.999") and len(err.splitlines()) == 1
    assert "far beyond the 1,024 layers" in err


def test_a_routed_expert_tensor_outside_the_blocks_is_one_error_line(tmp_path, capsys):
    """A 3-D ffn_up_exps tensor named blk_1.… (not blk.N.…) passed the import and ended in int()'s
    ValueError, a traceback, when the expert bytes were summed per layer (found by fuzzing)."""
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_tiny_moe_kvs(), [t.replace(b"blk.1.ffn_up_exps", b"blk_1.ffn_up_exps") for t in _tiny_moe_tensors()]))
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"Error: {path}: blk_1.ffn_up_exps.weight is a routed-expert tensor outside the blocks "
                                "(llama.cpp names them blk.N.ffn_*_exps); the header is inconsistent"]


def test_a_block_index_of_other_scripts_digits_is_not_a_block(tmp_path, capsys):
    """blk.\u00b2.x (a superscript two: str.isdigit() says yes, int() says no) ended in a
    ValueError and a traceback when the tensor table was laid out per layer (found by fuzzing)."""
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_llama_kvs(2), _llama_tensors(2) + [_tensor("blk.\u00b2.extra.weight", (8,), 0)]))
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert (code, err) == (0, "") and "decode" in out


def test_a_header_of_many_layers_and_tensors_is_checked_in_linear_time(tmp_path, catalog):
    """The attention-layout check scanned every tensor name once per layer: 1,024 layers and
    ~100,000 tensors took 35 s (past the 20 s beyond which the project counts a command as hung)."""
    import time

    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_llama_kvs(1024), _llama_tensors(1024) + [_tensor(f"x{i}", (1,), 0) for i in range(85_000)]))
    start = time.monotonic()
    model, _ = model_from_gguf(path, catalog.ggml_types, catalog.file_types)
    assert model.n_layers == 1024 and time.monotonic() - start < 20  # no hang


def test_models_add_never_stores_a_catalog_it_cannot_read_back(tmp_path, capsys, monkeypatch):
    """`models add` once wrote an entry (its tensor table) that took your models.toml past the
    4 MiB / 200,000 values a data file may have: every later command, `models` included, failed
    until the file was edited by hand. Now the add is refused and nothing is written."""
    from advisor.catalog import _load

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    kvs = [_kv("general.architecture", "llama"), _kv("general.file_type", 15), _kv("llama.block_count", 1),
           _kv("llama.embedding_length", 8), _kv("llama.attention.head_count", 1), _kv("llama.attention.head_count_kv", 1),
           _kv("llama.feed_forward_length", 8), _kv("llama.context_length", 2048)]
    tensors = [_tensor("token_embd.weight", (8, 256), 12), _tensor("blk.0.attn_q.weight", (8, 8), 12),
               _tensor("blk.0.attn_k.weight", (8, 8), 12), _tensor("blk.0.ffn_up.weight", (8, 8), 12)]
    path = tmp_path / "wide.gguf"
    path.write_bytes(_header(kvs, tensors + [_tensor(f"extra.{i}.weight", (1,), 0) for i in range(45_000)]))
    _load.cache_clear()
    try:
        code, out, err = run(capsys, "models", "add", str(path))
        stored = tmp_path / "home" / "catalog" / "models.toml"
        assert (code, out) == (1, "") and len(err.splitlines()) == 1
        assert err.startswith(f"Error: {stored}: adding wide would make your catalog unreadable (more than 200,000 values")
        assert "nothing added" in err and not stored.exists()
        _load.cache_clear()
        code, out, err = run(capsys, "models", "--format", "csv")
        assert code == 0 and err == ""
    finally:
        _load.cache_clear()


def test_a_terminal_escape_in_a_tensor_name_is_shown_not_obeyed(tmp_path, capsys):
    """A tensor named with an OSC title sequence (ESC ] 0 ; … BEL) reached the terminal as it was:
    click strips colour codes only when stderr is not a terminal, and never this one. The Error:
    line writes each control or format character as its escape."""
    path = tmp_path / "m.gguf"
    path.write_bytes(_header(_llama_kvs(1), _llama_tensors(1) + [_tensor("tok\x1b]0;pwned\x07en\u202e", (8,), 999)]))
    code, out, err = run(capsys, "predict", "--gguf-header", str(path), "--ram", "8GB")
    assert (code, out) == (1, "") and err.startswith("Error: ") and len(err.splitlines()) == 1
    assert "tok\\x1b]0;pwned\\x07en\\u202e" in err
    assert not any(unicodedata.category(ch)[0] == "C" for ch in err.rstrip("\n"))


def test_models_add_at_once_loses_nothing_and_stores_no_id_twice(tmp_path):
    """Several 'models add' at once: each stored, and the same file once (each read the file before
    the others wrote it: entries were lost, or one id stored six times and every command then
    refused the catalog)."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {**os.environ, "ADVISOR_HOME": str(home)}
    configs = []
    for i in range(4):
        cfg = tmp_path / f"c{i}" / "config.json"
        cfg.parent.mkdir()
        cfg.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                                   "intermediate_size": 1536, "num_hidden_layers": 2 + i, "num_attention_heads": 9,
                                   "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 8192,
                                   "tie_word_embeddings": True, "_name_or_path": f"test/tiny-{i}"}))
        configs.append(cfg)
    procs = [subprocess.Popen([sys.executable, "-m", "advisor", "models", "add", str(c)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in configs + [configs[0]] * 3]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 0, 0, 0, 1, 1, 1], results
    assert all("is already in your catalog as 'tiny-0'" in err for code, err in results if code)
    ids = [line for line in (home / "catalog" / "models.toml").read_text().splitlines() if line.startswith("id = ")]
    assert sorted(ids) == [f'id = "tiny-{i}"' for i in range(4)]
    listed = subprocess.run([sys.executable, "-m", "advisor", "models", "--format", "json"], env=env, capture_output=True,
                            text=True)
    assert listed.returncode == 0, listed.stderr

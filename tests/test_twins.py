"""Synthetic twins quantized by llama.cpp itself match tensors.py and quant_mix.py exactly.

For real architectures we write the F16 twin (exact dims, random weights), let llama.cpp's
quantizer (``llama_model_quantize``) produce Q8_0 / Q4_K_M / Q4_0 / Q3_K_M, read the result with
``gguf.GGUFReader`` and check (a) tensor names and ggml shapes = ``tensor_inventory``, (b) every
tensor's ggml type = ``quant_mix.tensor_types``, (c) the tensor bytes = the sum from the
catalog's block geometry. Twins are built once per session (``$ADVISOR_TWIN_CACHE`` keeps them
across sessions).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from advisor.engine.quant_mix import tensor_types
from advisor.engine.tensors import tensor_inventory
from advisor.errors import AdvisorError
from advisor.records import ModelSpec

gguf = pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

pytestmark = [pytest.mark.slow, pytest.mark.extra]

# model id -> file types to check. Qwen2.5-0.5B (hidden 896, not a multiple of 256) exercises
# the K-quant fallbacks; SmolLM2 (576) too; Gemma 3 has sliding-window layers and a 262k vocab.
CASES: dict[str, tuple[str, ...]] = {
    "smollm2-135m-instruct": ("Q8_0", "Q4_K_M", "Q4_0", "Q3_K_M"),
    "qwen2.5-0.5b-instruct": ("Q8_0", "Q4_K_M", "Q4_0", "Q3_K_M"),
    "qwen3-0.6b": ("Q8_0", "Q4_K_M", "Q4_0"),
    "gemma-3-1b-it": ("Q8_0", "Q4_K_M", "Q4_0"),
}

_COMMON = {
    "publisher": "test", "hf_repo": "test/test", "license": "test", "license_class": "permissive",
    "release_date": "2024-01", "params_published": "-", "verified": True, "source": "models.csv",
    "attn_bias": False, "qk_norm": False, "norm": "rms", "ffn_gated": True, "post_norms": False,
    "sliding_window": 0, "swa_global_every": 0,
}
# Literal dims from shared/reference/models.csv (used when the catalog cannot be loaded).
LITERAL = {
    "smollm2-135m-instruct": {
        "name": "SmolLM2 135M", "family": "smollm2", "gguf_arch": "llama", "params": 134515008,
        "context_length": 8192, "max_position_embeddings": 8192, "n_layers": 30, "hidden_size": 576,
        "ffn_size": 1536, "n_heads": 9, "n_kv_heads": 3, "head_dim": 64, "vocab_size": 49152, "tied_embeddings": True},
    "qwen2.5-0.5b-instruct": {
        "name": "Qwen2.5 0.5B", "family": "qwen2.5", "gguf_arch": "qwen2", "params": 494032768,
        "context_length": 32768, "max_position_embeddings": 32768, "n_layers": 24, "hidden_size": 896,
        "ffn_size": 4864, "n_heads": 14, "n_kv_heads": 2, "head_dim": 64, "vocab_size": 151936,
        "tied_embeddings": True, "attn_bias": True},
    "qwen3-0.6b": {
        "name": "Qwen3 0.6B", "family": "qwen3", "gguf_arch": "qwen3", "params": 596049920,
        "context_length": 32768, "max_position_embeddings": 40960, "n_layers": 28, "hidden_size": 1024,
        "ffn_size": 3072, "n_heads": 16, "n_kv_heads": 8, "head_dim": 128, "vocab_size": 151936,
        "tied_embeddings": True, "qk_norm": True},
    "gemma-3-1b-it": {
        "name": "Gemma 3 1B", "family": "gemma-3", "gguf_arch": "gemma3", "params": 999885952,
        "context_length": 32768, "max_position_embeddings": 32768, "n_layers": 26, "hidden_size": 1152,
        "ffn_size": 6912, "n_heads": 4, "n_kv_heads": 1, "head_dim": 256, "vocab_size": 262144,
        "tied_embeddings": True, "qk_norm": True, "post_norms": True, "sliding_window": 512, "swa_global_every": 6},
}


def _spec(model_id: str) -> ModelSpec:
    try:
        from advisor.catalog import load_catalog

        return load_catalog().models[model_id]
    except (ImportError, AdvisorError, KeyError):  # no loadable catalog: the literal dims
        return ModelSpec(id=model_id, **{**_COMMON, **LITERAL[model_id]})


def _geometry() -> dict[str, tuple[int, int]]:
    try:
        from advisor.catalog import load_catalog

        return {name: (g.block_size, g.type_size) for name, g in load_catalog().ggml_types.items()}
    except (ImportError, AdvisorError):
        from gguf.constants import GGML_QUANT_SIZES

        return {t.name: v for t, v in GGML_QUANT_SIZES.items()}


def _read(path: Path) -> dict[str, tuple[tuple[int, ...], str, int]]:
    reader = gguf.GGUFReader(path)
    return {
        t.name: (tuple(int(d) for d in t.shape), t.tensor_type.name, int(t.n_bytes))
        for t in reader.tensors
    }


def test_llama_ftype_ids_match_llama_cpp():
    import llama_cpp

    from advisor.validate.twin import LLAMA_FTYPE

    for name, value in LLAMA_FTYPE.items():
        const = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
        assert getattr(llama_cpp, const) == value, name


def test_imatrix_types_are_refused_with_a_reason(tmp_path):
    from advisor.errors import RunError
    from advisor.validate.twin import quantize

    with pytest.raises(RunError, match="importance matrix"):
        quantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "IQ2_XS")


@pytest.mark.parametrize("model_id", list(CASES))
def test_f16_twin_matches_inventory(model_id, twin_cache):
    from advisor.validate.twin import build_twin

    model = _spec(model_id)
    got = _read(build_twin(model, "F16", twin_cache))
    inv = tensor_inventory(model)
    assert list(got) == [t.name for t in inv]  # the writer keeps convert_hf_to_gguf's order
    for t in inv:
        assert got[t.name][0] == t.shape, t.name
        assert got[t.name][1] == ("F16" if t.is_matrix else "F32"), t.name


@pytest.mark.parametrize(
    "model_id,file_type", [(m, f) for m, fts in CASES.items() for f in fts]
)
def test_quantized_twin_matches_quant_mix(model_id, file_type, twin_cache, catalog):
    from advisor.validate.twin import build_twin

    model = _spec(model_id)
    ftype = catalog.file_type(file_type)
    got = _read(build_twin(model, file_type, twin_cache, threads=os.cpu_count()))
    inv = tensor_inventory(model)

    # (a) names and ggml shapes (llama.cpp reorders tensors by layer, so compare by name)
    assert sorted(got) == sorted(t.name for t in inv)
    shape_diff = [(t.name, got[t.name][0], t.shape) for t in inv if got[t.name][0] != t.shape]
    assert not shape_diff, shape_diff[:5]

    # (b) ggml type of every tensor
    expected = tensor_types(model, ftype.id, ftype.base_type)
    type_diff = [(t.name, got[t.name][1], want) for t, want in zip(inv, expected) if got[t.name][1] != want]
    assert not type_diff, f"{len(type_diff)} tensors differ (name, llama.cpp, quant_mix): {type_diff[:8]}"

    # (c) bytes from the catalog geometry
    _check_bytes(got, inv, expected)


def _check_bytes(got, inv, expected) -> None:
    geometry = _geometry()
    predicted = 0
    for t, ty in zip(inv, expected):
        block, size = geometry[ty]
        assert t.n_elements % block == 0, (t.name, ty)
        predicted += t.n_elements // block * size
    assert sum(b for _, _, b in got.values()) == predicted


def test_imatrix_mix_with_a_uniform_imatrix(twin_cache, catalog):
    """IQ2_M / IQ3_XXS need an importance matrix; with an all-ones one llama.cpp writes the
    imatrix mix (IQ3_XXS: attn_q/attn_k IQ2_S). A small llama-shaped model with rows that are
    multiples of 256, so nothing falls back."""
    from advisor.validate.twin import build_twin

    model = _spec("smollm2-135m-instruct").model_copy(update={
        "id": "tiny-512", "hidden_size": 512, "n_layers": 8, "n_heads": 8, "n_kv_heads": 2, "ffn_size": 768,
        "vocab_size": 2048, "tied_embeddings": False})
    inv = tensor_inventory(model)
    for file_type in ("IQ2_M", "IQ3_XXS"):
        ftype = catalog.file_type(file_type)
        got = _read(build_twin(model, file_type, twin_cache, uniform_imatrix=True, threads=os.cpu_count()))
        expected = tensor_types(model, ftype.id, ftype.base_type, True)
        diff = [(t.name, got[t.name][1], want) for t, want in zip(inv, expected) if got[t.name][1] != want]
        assert not diff, (file_type, diff[:8])
        _check_bytes(got, inv, expected)


_LOG = """\
load_tensors:          AMX model buffer size =    51.31 MiB
load_tensors:   CPU_Mapped model buffer size =    98.87 MiB
llama_context: n_ctx                 = 2048
llama_context: n_ubatch              = 512
llama_context: flash_attn            = auto
llama_kv_cache_iswa: using full-size SWA cache (ref: https://github.com/ggml-org/llama.cpp/pull/13194)
llama_kv_cache_iswa: creating non-SWA KV cache, size = 2048 cells
llama_kv_cache: size =    8.00 MiB (  2048 cells,   4 layers,  1/1 seqs), K (f16):    4.00 MiB, V (f16):    4.00 MiB
llama_kv_cache_iswa: creating     SWA KV cache, size = 2048 cells
llama_kv_cache: size =   44.00 MiB (  2048 cells,  22 layers,  1/1 seqs), K (f16):   22.00 MiB, V (f16):   22.00 MiB
resolve_fused_ops: Flash Attention enabled
sched_reserve:        CPU compute buffer size =   518.75 MiB
~llama_context:        CPU compute buffer size is 518.7520 MiB, matches expectation of 518.7520 MiB
"""


def test_llama_log_parser():
    from advisor.validate.llama_log import parse_llama_log

    b = parse_llama_log(_LOG)
    mib = 1 << 20
    assert b.model_buffers == {"AMX": round(51.31 * mib), "CPU_Mapped": round(98.87 * mib)}
    assert b.extra_model_buffer_bytes == round(51.31 * mib)
    assert b.n_ctx == 2048 and b.n_ubatch == 512
    assert b.flash_attn_setting == "auto" and b.flash_attn is True
    assert [c.kind for c in b.kv_caches] == ["non-swa", "swa"]
    assert b.kv_buffer_bytes == 52 * mib and b.swa_kv_bytes == 44 * mib and b.k_bytes == 26 * mib
    assert b.swa_full is True
    assert b.compute_buffer_bytes == round(518.75 * mib)


@pytest.mark.parametrize("model_id, rope_dims", [("phi-4-mini-instruct", 96), ("stablelm-2-1.6b-chat", 16), ("phi-2", 32)])
def test_a_twin_rotates_the_dims_its_model_rotates(model_id, rope_dims, catalog, tmp_path):
    """Partial rotary: Phi-4-mini rotates 0.75 of its 128 head dims (config.json partial_rotary_factor);
    the catalog had no rope_dims, so its twin rotated all 128. StableLM 2's 0.25 was a special case
    in the twin writer; both now come from the catalog."""
    gguf = pytest.importorskip("gguf")
    from advisor.validate.twin import _add_metadata, architecture_key

    model = catalog.model(model_id)
    assert model.rope_dims == rope_dims
    path = tmp_path / "header.gguf"
    w = gguf.GGUFWriter(str(path), architecture_key(model))
    _add_metadata(w, model, gguf)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    field = gguf.GGUFReader(str(path)).fields[f"{architecture_key(model)}.rope.dimension_count"]
    assert int(field.parts[-1][0]) == rope_dims


def _this_cpu():
    from advisor.hardware import probe_machine
    from advisor.local import build_profile
    from advisor.records import DeviceProfile

    return DeviceProfile.model_validate(build_profile(
        probe_machine(), bandwidth_gbs=1.0, bandwidth_1t_gbs=1.0, gflops=1.0, working_set=1, threads=1))


def _this_cpu_repack_family():
    """speed.repack_family of this machine's CPU (its architecture and ISA as the probe reads them)."""
    from advisor.engine.speed import repack_family

    return repack_family(_this_cpu())


def _this_cpu_copy_family():
    """speed.COPY_FAMILIES' family of this machine's load-time copy: "amx" on an x86 CPU with AMX."""
    from advisor.engine.speed import has_amx

    return "amx" if has_amx(_this_cpu()) else _this_cpu_repack_family()


@pytest.mark.parametrize("model_id,file_type", [("smollm2-135m-instruct", "Q4_0"), ("smollm2-135m-instruct", "Q4_K_M"),
                                                ("qwen2.5-0.5b-instruct", "Q4_0"), ("qwen2.5-0.5b-instruct", "Q4_K_M"),
                                                ("qwen3-0.6b", "Q8_0")])
def test_repacked_copy_is_the_buffer_llama_cpp_reports(model_id, file_type, twin_cache, catalog):
    """The engine's repacked copy (speed.repacked_bytes for this CPU's family) is llama.cpp's own
    CPU_REPACK buffer (on an x86 CPU with AMX, its AMX and CPU_REPACK buffers), to the 0.01 MiB it
    logs, and its model buffers are the file plus that copy: Qwen2.5-0.5B's 896-wide rows make its
    Q4_K_M mostly Q5_0 fallbacks (not repacked on x86), Q8_0 is repacked on Arm and by AMX only."""
    from advisor.engine.memory import per_tensor_bytes
    from advisor.engine.speed import COPY_FAMILIES, repacked_bytes
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    family = _this_cpu_copy_family()
    if family is None:
        pytest.skip("llama.cpp repacks nothing on this CPU (speed.REPACKED_TYPES)")
    model = catalog.model(model_id)
    path = build_twin(model, file_type, twin_cache, threads=os.cpu_count())
    b = measure_buffers(path, n_ctx=512, use_extra_bufts=True)
    rows = per_tensor_bytes(model, catalog.file_type(file_type), catalog.ggml_types)
    predicted = repacked_bytes(rows)[0][COPY_FAMILIES.index(family)]
    assert abs(predicted - b.extra_model_buffer_bytes) <= 0.01 * 2**20, (family, b.model_buffers)
    if family in ("avx2", "avx512"):  # x86 repacks Q4_0 and Q4_K, not Q8_0 (Qwen2.5-0.5B's Q4_K_M keeps 12 Q4_K matrices)
        assert (predicted == 0) == (file_type == "Q8_0")
    # the mapped file holds every tensor's bytes at most (a repacked tensor at an end of the file falls outside its range)
    assert b.model_buffers.get("CPU_Mapped", 0) <= sum(x for _, _, x in rows) + 0.01 * 2**20


@pytest.mark.parametrize("n_ctx", [100, 300, 2048])
def test_a_context_shorter_than_the_micro_batch_shrinks_the_compute_buffer(n_ctx, twin_cache, catalog):
    """llama.cpp caps n_ubatch at n_ctx, and its compute buffer with it (empirical.guess_compute_buffer_bytes)."""
    from advisor.engine import empirical
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    model = catalog.model("smollm2-135m-instruct")
    b = measure_buffers(build_twin(model, "Q8_0", twin_cache, threads=os.cpu_count()), n_ctx=n_ctx, flash_attn=False)
    assert b.n_ubatch == min(512, n_ctx)
    predicted = empirical.guess_compute_buffer_bytes(model, n_ctx, 512, flash_attn=False)
    assert predicted == pytest.approx(b.compute_buffer_bytes, rel=0.02)


@pytest.mark.parametrize("cache", ["q8_0", "q4_0"])
def test_llama_cpp_refuses_a_quantized_v_cache_without_flash_attention(cache, twin_cache, catalog):
    """What records.Workload refuses (--kv-cache q8_0 --flash-attn off) llama.cpp refuses too; with
    flash attention the quantized cache is the engine's size."""
    from advisor.engine.memory import kv_cache_bytes
    from advisor.validate.buffers import measure_buffers
    from advisor.validate.twin import build_twin

    model = catalog.model("smollm2-135m-instruct")
    path = build_twin(model, "Q8_0", twin_cache, threads=os.cpu_count())
    with pytest.raises(AdvisorError, match="quantized V cache requires flash_attn"):
        measure_buffers(path, n_ctx=2048, type_k=cache, flash_attn=False)
    b = measure_buffers(path, n_ctx=2048, type_k=cache, flash_attn=True)
    assert abs(b.kv_buffer_bytes - kv_cache_bytes(model, 2048, cache)) <= 0.01 * 2**20

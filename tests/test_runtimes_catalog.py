"""catalog/runtimes.toml: every runtime loads, cross-references hold, the derived bits per weight
equal the figures runtime-formats.md gives, and whole-file sizes built tensor by tensor from the
format geometry match the published files. Profiles: GPU/NPU runtime lists and OS families."""

import json
import re
import math

import pytest

from advisor.catalog import data_root, load_catalog, load_device_file, load_runtimes_file
from advisor.cli import main
from advisor.engine.tensors import tensor_inventory
from advisor.errors import DataFileError, UnknownIdError
from advisor.records import GGUF_ARCHS, ModelSpec, RuntimeFormat, TensorQuant, os_platforms

ROOT = data_root()  # the snapshot (tests/conftest.py), read by the code tests below
REQUIRED_RUNTIMES = ["llama.cpp", "mlx", "mlc", "executorch", "litert-lm", "ort-genai", "mnn", "wllama"]
MIB = 1024**2


@pytest.mark.parametrize("runtime_id", REQUIRED_RUNTIMES)
@pytest.mark.catalog_data
def test_required_runtime_present_with_sources(catalog, runtime_id):
    rt = catalog.runtime(runtime_id)
    assert rt.id == runtime_id and rt.source.strip() and rt.version.strip()
    assert rt.overhead.source.strip() and rt.kv.source.strip()
    for b in rt.backends:
        assert b.source.strip(), (rt.id, b.id)
    for f in rt.formats:
        assert f.source.strip(), (rt.id, f.id)
    assert bool(rt.formats) != (rt.formats_from == "gguf")


@pytest.mark.catalog_data
def test_every_backend_platform_is_a_runtime_platform_and_formats_name_real_backends(catalog):
    for rt in catalog.runtimes.values():
        ids = {b.id for b in rt.backends}
        for b in rt.backends:
            assert set(b.platforms) <= set(rt.platforms), (rt.id, b.id)
        for f in rt.formats:
            assert set(f.backends) <= ids, (rt.id, f.id)


# (runtime, format, tensor class, bits per weight as runtime-formats.md states it)
BPW_TABLE = [
    ("mlc", "q4f16_1", "linear", 4.5),
    ("mlc", "q4f16_1", "embedding", 4.5),
    ("mlc", "q4f16_1", "output", 4.5),
    ("mlc", "q4f16_0", "linear", 4.5),
    ("mlc", "q4f32_1", "linear", 5.0),
    ("mlc", "q4bf16_1", "linear", 4.5),
    ("mlc", "q4f16_2", "linear", 4.5),
    ("mlc", "q4f16_2", "embedding", 16),
    ("mlc", "q4f16_2", "output", 16),
    ("mlc", "q3f16_1", "linear", 3.6),
    ("mlc", "q3f16_0", "linear", 3.6),
    ("mlc", "q4f16_ft", "linear", 4.0),
    ("mlc", "q0f16", "linear", 16),
    ("mlc", "q0bf16", "linear", 16),
    ("mlc", "q0f32", "linear", 32),
    ("mlc", "e4m3_e4m3_f16", "linear", 8),
    ("mlx", "4bit", "linear", 4.5),
    ("mlx", "4bit", "embedding", 4.5),
    ("mlx", "4bit-g32", "linear", 5.0),
    ("mlx", "4bit-g128", "linear", 4.25),
    ("mlx", "8bit", "linear", 8.5),
    ("mlx", "mxfp4", "linear", 4.25),
    ("mlx", "nvfp4", "linear", 4.5),
    ("mlx", "mxfp8", "linear", 8.25),
    ("executorch", "8da4w-g32-emb8", "linear", 5.0),
    ("ort-genai", "int4", "linear", 5.0),
    ("ort-genai", "int4-asym", "linear", 5.125),
    ("ort-genai", "int4-fp16", "linear", 4.5),
    ("ort-genai", "int4", "embedding", 32),
    ("mnn", "int4", "linear", 4.0),
    ("mnn", "int4-block128", "linear", 4.5),
    ("mnn", "int4-block64", "linear", 5.0),
]


@pytest.mark.parametrize("runtime_id,format_id,which,bpw", BPW_TABLE)
@pytest.mark.catalog_data
def test_bits_per_weight_match_runtime_formats_md(catalog, runtime_id, format_id, which, bpw):
    f = catalog.runtime_format(runtime_id, format_id)
    quant = {"linear": f.linear, "embedding": f.embedding_quant, "output": f.output_quant}[which]
    assert quant.bits_per_weight == pytest.approx(bpw, abs=1e-9)


# hand-worked tensor sizes: rows × cols matrix, groups along cols
TENSOR_TABLE = [
    # q4f16_1 4096×4096: 4096·4096·4/8 data + 4096·128 groups × 2 B
    ({"bits": 4, "group": 32, "scale_bits": 16, "values_per_word": 8}, 4096, 4096, 8_388_608 + 1_048_576),
    # q3f16_1 2×40: 2 rows × 4 uint32 words = 32 B + 2 groups × 2 B
    ({"bits": 3, "group": 40, "scale_bits": 16, "values_per_word": 10}, 2, 40, 36),
    # q3f16_1 a row of 41 values needs a fifth word and a second group
    ({"bits": 3, "group": 40, "scale_bits": 16, "values_per_word": 10}, 1, 41, 5 * 4 + 2 * 2),
    # per-channel int8 with fp32 scale: 10×100 + 10 × 4 B
    ({"bits": 8, "group": 0, "scale_bits": 32}, 10, 100, 1040),
    # MLX affine 4-bit g64, scale + bias: 64×64/2 + 64 groups × 4 B
    ({"bits": 4, "group": 64, "scale_bits": 16, "zero_bits": 16}, 64, 64, 2048 + 256),
    # fp8 with one per-tensor scale
    ({"bits": 8, "group": "tensor", "scale_bits": 16}, 10, 10, 102),
    # plain fp16
    ({"bits": 16}, 3, 5, 30),
]


@pytest.mark.parametrize("geometry,rows,cols,expected", TENSOR_TABLE)
def test_tensor_bytes_hand_worked(geometry, rows, cols, expected):
    assert TensorQuant(**geometry).tensor_bytes(rows, cols) == expected


@pytest.mark.parametrize("geometry,message", [
    ({"bits": 4, "group": 32}, "a grouped or per-tensor format needs scale_bits"),
    ({"bits": 3, "values_per_word": 11}, "11 values of 3 bits do not fit a 32-bit word"),
    ({"bits": 4, "group": -1, "scale_bits": 16}, "group must be >= 0"),
])
def test_bad_geometry_is_refused(geometry, message):
    with pytest.raises(ValueError, match=message):
        TensorQuant(**geometry)


def weight_bytes(model: ModelSpec, f: RuntimeFormat) -> int:
    """Test oracle: every tensor of the model sized with the format's geometry (shape[0] = input dim)."""
    total = 0
    for t in tensor_inventory(model):
        if t.name == "token_embd.weight":
            cols, rows = t.shape
            if model.tied_embeddings and f.tied == "output":
                total += f.output_quant.tensor_bytes(rows, cols)
            else:
                total += f.embedding_quant.tensor_bytes(rows, cols)
                if model.tied_embeddings and f.tied == "both":
                    total += f.output_quant.tensor_bytes(rows, cols)
        elif t.name == "output.weight":
            total += f.output_quant.tensor_bytes(t.shape[1], t.shape[0])
        elif t.is_matrix:
            total += f.linear.tensor_bytes(t.shape[1], t.shape[0])
        else:
            total += f.other.tensor_bytes(1, t.n_elements)
    return total


# published file sizes (runtime-formats.md, "Published file sizes of the same model across runtimes")
FILE_SIZES = [
    # ExecuTorch Llama-3.2-1B SpinQuant PTE: 1,083 MiB (README @cff6f4dd)
    ("executorch", "8da4w-g32-emb8", "llama-3.2-1b-instruct", 1083 * MIB, 0.02),
    # ExecuTorch Llama-3.2-1B and 3B BF16 PTEs: 2,358 and 6,129 MiB (the tied matrix once)
    ("executorch", "bf16", "llama-3.2-1b-instruct", 2358 * MIB, 0.005),
    ("executorch", "bf16", "llama-3.2-3b-instruct", 6129 * MIB, 0.005),
    # ORT GenAI Phi-3-mini-4k cpu-int4-rtn-block-32-acc-level-4 .onnx.data: 2.72 GB
    ("ort-genai", "int4", "phi-3-mini-4k-instruct", 2.72e9, 0.02),
    # LiteRT-LM Qwen2.5-1.5B dynamic_int8: 1,550 MB (model card)
    ("litert-lm", "dynamic_int8", "qwen2.5-1.5b-instruct", 1550e6, 0.02),
]


@pytest.mark.parametrize("runtime_id,format_id,model_id,published,tolerance", FILE_SIZES)
@pytest.mark.catalog_data
def test_tensor_by_tensor_size_matches_published_file(catalog, runtime_id, format_id, model_id, published, tolerance):
    predicted = weight_bytes(catalog.model(model_id), catalog.runtime_format(runtime_id, format_id))
    assert abs(predicted / published - 1) <= tolerance, f"{predicted / 1e6:.0f} MB vs {published / 1e6:.0f} MB"


@pytest.mark.catalog_data
def test_formats_that_keep_embeddings_wide_are_larger_than_those_that_quantize_them(catalog):
    """runtime-formats.md's reading: ExecuTorch's recipe (int8 embedding stored twice) is larger
    than MLC q4f16_1 and MLX 4bit (embedding quantized with the linears) for the same model."""
    model = catalog.model("llama-3.2-1b-instruct")
    et = weight_bytes(model, catalog.runtime_format("executorch", "spinquant"))
    mlc = weight_bytes(model, catalog.runtime_format("mlc", "q4f16_1"))
    mlx = weight_bytes(model, catalog.runtime_format("mlx", "4bit"))
    assert mlc < et and mlx < et
    assert mlc == pytest.approx(model.params * 4.5 / 8, rel=0.01)


# --------------------------------------------------------------------------- lookups and errors


@pytest.mark.parametrize("given,expected", [
    ("mlc", "mlc"), ("WebLLM", "mlc"), ("mlc-llm", "mlc"), ("onnxruntime-genai", "ort-genai"), ("LLAMA.CPP", "llama.cpp"),
    ("litert", "litert-lm"), ("mlx-lm", "mlx"),
])
def test_runtime_by_id_or_alias(catalog, given, expected):
    assert catalog.runtime(given).id == expected


@pytest.mark.parametrize("runtime_id,name,expected", [
    ("mlc", "Q4F16_1", "q4f16_1"), ("mlx", "mlx-4bit", "4bit"), ("executorch", "SpinQuant", "8da4w-g32-emb8"),
    ("litert-lm", "int8", "dynamic_int8"), ("ort-genai", "cpu-int4-rtn-block-32-acc-level-4", "int4"),
])
def test_format_by_id_or_alias(catalog, runtime_id, name, expected):
    assert catalog.runtime_format(runtime_id, name).id == expected


@pytest.mark.parametrize("call,message", [
    (lambda c: c.runtime("mlcc"), "unknown runtime 'mlcc'; did you mean mlc? list them with 'advisor runtimes'"),
    (lambda c: c.runtime_format("mnn", "q4f16_1"),
     "unknown format 'q4f16_1' for runtime mnn; use one of int4, int4-block128, int4-block64, int8 (see 'advisor runtimes')"),
    (lambda c: c.runtime_format("llama.cpp", "Q4_K_M"),
     "llama.cpp uses GGUF file types, not runtime formats; look 'Q4_K_M' up with catalog.file_type (list them with 'advisor quants')"),
])
def test_lookup_errors_name_the_valid_choices(catalog, call, message):
    with pytest.raises(UnknownIdError) as exc:
        call(catalog)
    assert str(exc.value) == message


RUNTIME_HEAD = '''
[[runtime]]
id = "x"
name = "X"
version = "1"
source = "s"
platforms = ["linux"]
kv = { dtype = "f16", allocation = "grows", source = "s" }
overhead = { bytes = "100MiB", basis = "estimated", source = "s" }
[[runtime.backend]]
id = "cpu"
kind = "cpu"
apis = ["cpu"]
platforms = ["linux"]
source = "s"
'''
GGUF_HEAD = RUNTIME_HEAD.replace("kv = {", 'formats_from = "gguf"\nkv = {')
FORMAT = '''
[[runtime.format]]
id = "{id}"
aliases = {aliases}
description = "d"
backends = {backends}
linear = {{ bits = 4, group = 32, scale_bits = 16 }}
other = {{ bits = 16 }}
activation_dtype = "f16"
source = "s"
verified = true
'''


@pytest.mark.parametrize("body,message", [
    (RUNTIME_HEAD + FORMAT.format(id="a", aliases="[]", backends='["gpu"]'),
     "[x]: field '(top level)': format a names unknown backends ['gpu']; known: ['cpu']"),
    (RUNTIME_HEAD + FORMAT.format(id="a", aliases='["b"]', backends="[]") + FORMAT.format(id="b", aliases="[]", backends="[]"),
     "[x]: field '(top level)': format name 'b' is used twice (formats a and b)"),
    (RUNTIME_HEAD + FORMAT.format(id="a", aliases="[]", backends="[]").replace('other = {', 'embedding = "linaer"\nother = {'),
     "[x]: field 'format.embedding': Input should be a valid dictionary or instance of TensorQuant; or Input should be 'linear'"),
    (RUNTIME_HEAD, "[x]: field '(top level)': give either [[runtime.format]] tables or formats_from = \"gguf\", exactly one"),
    (GGUF_HEAD.replace('apis = ["cpu"]', 'apis = ["cpu"]\nkinds = "cpu"'),
     "[x]: unknown field 'backend.kinds'; did you mean 'kind'?"),
    (GGUF_HEAD.replace('platforms = ["linux"]\nsource = "s"', 'platforms = ["linux", "web"]\nsource = "s"'),
     "[x]: field '(top level)': backend cpu names platforms ['web'] missing from the runtime's platforms"),
])
def test_bad_runtime_file_fails_with_one_line(tmp_path, body, message):
    _fails_with_one_line(tmp_path, body, message)


def _fails_with_one_line(tmp_path, body, message):
    """``body`` as runtimes.toml is refused with the one line ``message``, naming the file."""
    path = tmp_path / "runtimes.toml"
    path.write_text(body)
    with pytest.raises(DataFileError) as exc:
        load_runtimes_file(path)
    assert str(exc.value) == f"{path} {message}"



# --------------------------------------------------------------------------- architectures


def test_every_runtime_says_which_architectures_it_runs_and_where_that_was_read(catalog):
    shipped = {r.id: r for r in load_runtimes_file(ROOT / "catalog" / "runtimes.toml")}
    assert set(shipped) == set(REQUIRED_RUNTIMES)
    for rt in shipped.values():
        assert isinstance(rt.architectures, tuple) and rt.architectures, rt.id
        assert set(rt.architectures) <= set(GGUF_ARCHS), rt.id
        assert len(set(rt.architectures)) == len(rt.architectures), rt.id
        assert "read 2026-11-29" in rt.architectures_source, rt.id
        assert catalog.runtime(rt.id).architectures == rt.architectures


@pytest.mark.parametrize("runtime_id", ["llama.cpp", "wllama"])
def test_llama_cpp_runs_every_catalog_architecture(catalog, runtime_id):
    rt = catalog.runtime(runtime_id)
    archs = {m.gguf_arch for m in catalog.models.values()}
    assert archs == set(GGUF_ARCHS)  # the catalog uses every architecture the advisor knows
    assert all(rt.runs_arch(a) for a in archs)


# (runtime, gguf_arch, runs?) checked by hand in the source named in architectures_source
ARCH_FACTS = [
    ("mlx", "granitehybrid", True),  # mlx_lm/models/granitemoehybrid.py, Mamba2 layers included
    ("mlx", "deepseek2", True),  # mlx_lm/models/deepseek_v2.py
    ("mlx", "gemma3n", True),  # mlx_lm/models/gemma3n.py
    ("mlx", "openelm", True),  # mlx_lm/models/openelm.py
    ("mlx", "bitnet", False),  # mlx_lm/models/bitnet.py exists, but packs its ternary weights in no catalog format
    ("ort-genai", "granitehybrid", False),  # builders/granite.py: attention + shared MLP only, no Mamba2
    ("ort-genai", "qwen3moe", False),  # no Qwen3MoeForCausalLM branch in builder.py
    ("ort-genai", "gptneox", False),
    ("ort-genai", "lfm2moe", True),  # Lfm2MoeForCausalLM → LFM2MoEModel
    ("ort-genai", "phimoe", True),  # PhiMoEForCausalLM (CUDA, int4)
    ("ort-genai", "gpt-oss", True),
    ("executorch", "lfm2", True),  # export_llama_lib.py lfm2_350m … lfm2_1_2b
    ("executorch", "lfm2moe", False),
    ("executorch", "qwen3moe", False),
    ("litert-lm", "gemma3n", True),  # export_hf/model_ext/gemma3n
    ("litert-lm", "granitehybrid", False),
    ("litert-lm", "smollm3", False),
    ("mnn", "qwen3moe", True),  # model_mapper.py regist('qwen3_moe', …)
    ("mnn", "phi3", False),  # not registered: falls back to the default map
    ("mlc", "stablelm", True),  # stablelm-2-zephyr-1_6b prebuilt
    ("mlc", "gemma3n", False),
]


@pytest.mark.parametrize("runtime_id,arch,runs", ARCH_FACTS)
def test_hand_checked_architecture_facts(catalog, runtime_id, arch, runs):
    assert catalog.runtime(runtime_id).runs_arch(arch) is runs


def test_granite_4_hybrids_run_only_where_a_converter_handles_mamba2(catalog):
    runs = {rt.id for rt in catalog.runtimes.values() if rt.runs_arch(catalog.model("granite-4.0-h-micro").gguf_arch)}
    assert runs == {"llama.cpp", "wllama", "mlx"}


def test_runs_arch_without_a_list_assumes_every_architecture(tmp_path):
    path = tmp_path / "runtimes.toml"
    path.write_text(GGUF_HEAD)
    (unknown,) = load_runtimes_file(path)
    assert unknown.architectures is None and all(unknown.runs_arch(a) for a in GGUF_ARCHS)
    path.write_text(GGUF_HEAD.replace("kv = {", 'architectures = ["llama", "qwen3"]\narchitectures_source = "s"\nkv = {'))
    (listed,) = load_runtimes_file(path)
    assert listed.architectures == ("llama", "qwen3")
    assert [a for a in GGUF_ARCHS if listed.runs_arch(a)] == ["llama", "qwen3"]


def _with_archs(line: str) -> str:
    return GGUF_HEAD.replace("kv = {", line + "\nkv = {")


@pytest.mark.parametrize("body,message", [
    (_with_archs('architectures = ["llama", "qwen3-moe"]\narchitectures_source = "s"'),
     "[x]: field 'architectures': unknown architecture 'qwen3-moe'; did you mean 'qwen3moe'?"),
    (_with_archs('architectures = ["rwkv6"]\narchitectures_source = "s"'),
     "[x]: field 'architectures': unknown architecture 'rwkv6'; use one of " + ", ".join(GGUF_ARCHS)),
    (_with_archs('architectures = ["llama", "llama"]\narchitectures_source = "s"'),
     "[x]: field 'architectures': architecture llama is listed twice; remove one"),
    (_with_archs('architectures = []\narchitectures_source = "s"'),
     "[x]: field 'architectures': an empty list runs no model; leave architectures out when the runtime's list is not known"),
    (_with_archs('architectures = ["llama"]'),
     "[x]: field '(top level)': architectures needs architectures_source: the package, version and file it was read from"),
    (_with_archs('architecture = ["llama"]\narchitectures_source = "s"'),
     "[x]: unknown field 'architecture'; did you mean 'architectures'?"),
])
def test_bad_architectures_fail_with_one_line(tmp_path, body, message):
    _fails_with_one_line(tmp_path, body, message)


# --------------------------------------------------------------------------- profiles


def test_gpu_usable_means_llama_cpp_can_use_the_gpu(catalog):
    for d in catalog.devices.values():
        assert d.gpu_usable == bool(d.gpu and "llama.cpp" in d.gpu.runtimes and d.gpu.backend not in ("none", "cpu")), d.id


@pytest.mark.parametrize("device_id,gpu,npu", [
    ("iphone-16-pro", {"llama.cpp", "mlx", "mlc"}, {"executorch"}),
    ("macbook-air-m2-16gb", {"llama.cpp", "mlx", "mlc"}, {"executorch"}),
    ("galaxy-s24-ultra", {"mlc", "litert-lm", "executorch"}, {"executorch"}),
    ("galaxy-s25-ultra", {"mlc", "litert-lm", "executorch"}, {"executorch", "litert-lm"}),
    ("jetson-orin-nano-super-8gb", {"llama.cpp", "mlc"}, set()),
    ("desktop-rtx4090-24gb", {"llama.cpp", "mlc", "ort-genai"}, set()),
    ("jetson-nano-4gb", set(), set()),
    ("raspberry-pi-5-8gb", set(), set()),
])
@pytest.mark.catalog_data
def test_accelerator_runtimes(catalog, device_id, gpu, npu):
    d = catalog.device(device_id)
    assert set(d.gpu.runtimes if d.gpu else ()) == gpu
    assert set(d.npu.runtimes if d.npu else ()) == npu
    assert d.accelerator_runtimes() == frozenset(gpu | npu)


@pytest.mark.catalog_data
def test_every_profile_has_an_os_family_and_notes_its_runtimes(catalog):
    for d in catalog.devices.values():
        assert d.platforms and "web" not in d.platforms, d.id
        if d.gpu:
            assert d.gpu.runtimes_note.strip(), d.id


@pytest.mark.parametrize("os,device_class,vendor,expected", [
    ("iOS", "phone", "Apple", ("ios",)),
    ("iPadOS", "tablet", "Apple", ("ios",)),
    ("macOS", "laptop", "Apple", ("macos",)),
    ("Darwin 23.1.0", "desktop", "local", ("macos",)),
    ("Android 15 (One UI 7)", "phone", "Samsung", ("android",)),
    ("Windows 11 / Linux", "laptop", "Generic", ("windows", "linux")),
    ("JetPack 6 (Ubuntu 22.04)", "jetson", "NVIDIA", ("linux",)),
    ("Raspberry Pi OS (Debian), Ubuntu", "sbc", "Raspberry Pi", ("linux",)),
    ("Linux 6.8.0-45-generic", "desktop", "local", ("linux",)),
    ("various", "desktop-gpu", "NVIDIA", ("windows", "linux")),
    ("various", "desktop", "Apple", ("macos",)),
    ("custom BIOS build", "phone", "Fairphone", ("android",)),
])
def test_os_families_from_the_os_text(os, device_class, vendor, expected):
    assert os_platforms(os, device_class, vendor) == expected


def test_older_profiles_with_the_llama_cpp_flag_still_load(tmp_path):
    src = (ROOT / "profiles" / "phone" / "iphone-16-pro.toml").read_text()
    assert 'runtimes = ["llama.cpp", "mlx", "mlc"]' in src
    old = src.replace('runtimes = ["llama.cpp", "mlx", "mlc"]', "usable_by_llama_cpp = true", 1)
    f = tmp_path / "old.toml"
    f.write_text(old)
    dev = load_device_file(f)
    assert dev.gpu.runtimes == ("llama.cpp",) and dev.gpu_usable
    f.write_text(src.replace('runtimes = ["llama.cpp", "mlx", "mlc"]', 'runtimes = ["mlc"]\nusable_by_llama_cpp = false', 1))
    with pytest.raises(DataFileError) as exc:
        load_device_file(f)
    assert str(exc.value) == (f"{f}: field 'gpu': give either runtimes or the older usable_by_llama_cpp, not both; keep runtimes")


def test_a_profile_naming_an_unknown_runtime_is_refused(tmp_path, monkeypatch):
    import shutil

    from advisor import catalog as cat

    root = tmp_path / "data"
    shutil.copytree(ROOT / "catalog", root / "catalog")
    shutil.copytree(ROOT / "profiles", root / "profiles")
    p = root / "profiles" / "phone" / "pixel-8.toml"
    p.write_text(p.read_text().replace('runtimes = ["mlc", "litert-lm"]', 'runtimes = ["mlc", "litert"]'))
    with pytest.raises(DataFileError) as exc:
        cat._load(root, tmp_path / "home")
    assert str(exc.value).startswith(f"{p}: device pixel-8: [gpu] runtimes names unknown runtime 'litert'; known: llama.cpp, wllama, mlc")
    p.write_text(p.read_text().replace('runtimes = ["mlc", "litert"]', 'runtimes = ["mlx"]'))
    with pytest.raises(DataFileError) as exc:
        cat._load(root, tmp_path / "home")
    assert str(exc.value) == (f"{p}: device pixel-8: runtime mlx has no gpu backend on android; remove it from [gpu] runtimes "
                              "or add the backend to runtimes.toml")


def test_a_device_file_is_checked_as_a_catalog_profile_is(capsys, tmp_path):
    """--device-file with [gpu] runtimes = ["nope"] was accepted (exit 0) while the same profile in
    $ADVISOR_HOME/profiles is refused; both name the file."""
    from advisor.cli import main

    p = tmp_path / "my-phone.toml"
    p.write_text((ROOT / "profiles" / "phone" / "pixel-8.toml").read_text().replace('runtimes = ["mlc", "litert-lm"]', 'runtimes = ["nope"]'))
    code = main(["recommend", "--device-file", str(p)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "") and err.startswith(f"Error: {p}: device pixel-8: [gpu] runtimes names unknown runtime 'nope'; known: ")


@pytest.mark.parametrize("swap, message", [
    ('device = "galaxy-s24-ultra"', "'device' must name a device profile"),
    ('path = "litert-lm:gpu"', "path 'litert-lm:nope' has no [[paths]] entry"),
])
def test_a_device_calibration_naming_an_unknown_device_or_path_is_refused(tmp_path, swap, message):
    import shutil

    from advisor import catalog as cat

    root = tmp_path / "data"
    shutil.copytree(ROOT / "catalog", root / "catalog")
    shutil.copytree(ROOT / "profiles", root / "profiles")
    p = root / "catalog" / "runtime-calibration.toml"
    text = p.read_text()
    at = text.index("\n[[devices]]")
    bad = {'device = "galaxy-s24-ultra"': 'device = "no-such-phone"', 'path = "litert-lm:gpu"': 'path = "litert-lm:nope"'}[swap]
    p.write_text(text[:at] + text[at:].replace(swap, bad, 1))
    with pytest.raises(DataFileError, match=re.escape(message)):
        cat._load(root, tmp_path / "home")


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "md"])
def test_runtimes_command(capsys, fmt):
    assert main(["runtimes", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert data["schema"] == "edge-model-advisor/runtimes"
        assert {r["id"] for r in data["runtimes"]} == set(REQUIRED_RUNTIMES)
        mlc = next(r for r in data["runtimes"] if r["id"] == "mlc")
        q4 = next(f for f in mlc["formats"] if f["id"] == "q4f16_1")
        assert q4["bits_per_weight"] == {"linear": 4.5, "embedding": 4.5, "output": 4.5, "other": 16.0}
        assert next(r for r in data["runtimes"] if r["id"] == "litert-lm")["architectures"] and mlc["architectures_source"]
    else:
        for word in ("q4f16_1", "8da4w", "dynamic_int8", "mxfp4", "gguf"):
            assert word in out
    if fmt in ("table", "md"):  # the architectures each runtime loads, and the models of those it lacks
        assert "Model architectures each runtime loads" in out and "granitehybrid (2)" in out
    if fmt == "csv":
        assert "architectures" in out.splitlines()[0]


def test_runtimes_command_one_runtime_and_bad_name(capsys):
    assert main(["runtimes", "--runtime", "webllm", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + len(load_catalog().runtime("mlc").formats)
    assert all(line.startswith("mlc,") for line in lines[1:])
    assert main(["runtimes", "--runtime", "mlcc"]) == 1
    assert capsys.readouterr().err.strip() == "Error: unknown runtime 'mlcc'; did you mean mlc? list them with 'advisor runtimes'"


def test_runtimes_command_gives_the_kv_dtype_the_engine_sizes_on_each_backend(capsys):
    """LiteRT-LM keeps an f32 KV cache on its CPU (measured here) and f16 elsewhere; the listing said
    f16 for every backend, while memory estimates used f32. "activation" is the format's dtype."""
    from advisor.engine.runtimes import kv_dtype_bytes

    catalog = load_catalog()
    assert main(["runtimes", "--runtime", "litert-lm", "--format", "json"]) == 0
    (rt,) = json.loads(capsys.readouterr().out)["runtimes"]
    litert = catalog.runtime("litert-lm")
    for f in rt["formats"]:
        assert f["kv_dtype"]["cpu"] == "f32" and f["kv_dtype"]["gpu"] == "f16"
        fmt = litert.find_format(f["id"])
        assert kv_dtype_bytes(litert, fmt, litert.backend("cpu")) == 4  # the dtype the estimate sizes
    assert main(["runtimes", "--runtime", "litert-lm", "--format", "csv"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert rows and all("f32 on cpu; f16 on gpu, npu; fixed-at-export" in r for r in rows)
    assert main(["runtimes", "--runtime", "mlc", "--format", "json"]) == 0
    (mlc,) = json.loads(capsys.readouterr().out)["runtimes"]
    kv = {f["id"]: set(f["kv_dtype"].values()) for f in mlc["formats"]}
    assert kv["q4f16_1"] == {"f16"} and kv["q4f32_1"] == {"f32"}


@pytest.mark.parametrize("args", [["targets"], ["targets", "--browsers"], ["targets", "--format", "md"], ["targets", "--format", "csv"]])
def test_targets_command(capsys, args):
    assert main(args) == 0
    out = capsys.readouterr().out
    if "--browsers" in args:
        assert "chrome-android" in out and "128 MiB" in out and "1.5 GB" in out
    else:
        assert "ios-app" in out and "play-ai-pack 1.5 GB" in out


def test_targets_json(capsys):
    assert main(["targets", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in data["targets"]] == ["server", "desktop-app", "ios-app", "android-app", "browser"]
    assert math.isclose(data["targets"][2]["memory"]["fraction_with_entitlement"], 0.67)


# --------------------------------------------------------------------------- the default backend and format


@pytest.mark.parametrize("device,runtime_id,quant,expected", [
    # the GPU backend's own formats, not the runtime's first format (a CPU one): int4-fp16 on CUDA
    ("desktop-rtx4090-24gb", "ort-genai", None, ("cuda", "int4-fp16")),
    # a format named: the best backend that runs it (CPU), not an error about CUDA
    ("desktop-rtx4090-24gb", "ort-genai", "int4", ("cpu", "int4")),
    # Core ML has no catalog format: ExecuTorch runs its XNNPACK formats on Apple devices
    ("iphone-15-pro", "executorch", None, ("xnnpack", "8da4w")),
    ("macbook-air-m2-16gb", "executorch", None, ("xnnpack", "8da4w")),
    # Vulkan has its own format; an XNNPACK recipe named runs on XNNPACK
    ("galaxy-s24-ultra", "executorch", None, ("vulkan", "8da4w-g64-vulkan")),
    ("galaxy-s24-ultra", "executorch", "spinquant", ("xnnpack", "8da4w-g32-emb8")),
    ("macbook-air-m2-16gb", "mlx", None, ("metal", "4bit")),
])
def test_default_backend_and_format_run_each_other(catalog, device, runtime_id, quant, expected):
    """``predict --runtime R`` without --backend/--quant (and recommend) take the runtime's best
    backend that has a format of its own, and that backend's first format: never a format that
    does not run on the backend chosen for it."""
    from advisor.engine.runtimes import resolve_variant

    v = resolve_variant(catalog, catalog.device(device), runtime_id, quant)
    assert (v.backend.id, v.format.id) == expected


@pytest.mark.parametrize("args,message", [
    (["--device", "desktop-rtx4090-24gb", "--runtime", "ort-genai", "--quant", "int4", "--backend", "cuda"],
     "Error: ort-genai format int4 runs on cpu, not on cuda; formats on cuda: int4-fp16, fp16"),
    # a web-only runtime or backend named without --target: the error says how to get it
    (["--device", "macbook-air-m2-16gb", "--runtime", "wllama"],
     "Error: wllama does not run on Apple MacBook Air 13 (M2, 2022), 16 GB (macos) natively; runtimes there: executorch, "
     "litert-lm, llama.cpp, mlc, mlx, ort-genai; it runs in a browser tab there: add --target browser"),
    (["--device", "pixel-8", "--runtime", "mlc", "--backend", "webgpu"],
     "Error: mlc cannot use backend 'webgpu' on Google Pixel 8; usable here: opencl; it runs in a browser tab there: "
     "add --target browser"),
    # MLC has Linux and Windows builds, for a GPU only: 'does not run on … (linux)' contradicted 'advisor runtimes'
    (["--device", "raspberry-pi-5-8gb", "--runtime", "mlc"],
     "Error: mlc runs on linux only on a GPU (cuda, vulkan), and Raspberry Pi 5 (8 GB) has none it can use: it has no GPU; "
     "runtimes there: executorch, litert-lm, llama.cpp, mlx, mnn, ort-genai"),
    (["--device", "laptop-core-ultra-7-155h-16gb", "--runtime", "mlc"],
     "Error: mlc runs on windows/linux only on a GPU (cuda, vulkan), and x86 laptop, Intel Core Ultra 7 155H, 16 GB "
     "LPDDR5X-7467 has none it can use: its GPU (Intel Arc Graphics (8 Xe-cores, Meteor Lake)) does not list mlc among "
     "the runtimes that drive it (the profile's [gpu] runtimes); runtimes there: executorch, litert-lm, llama.cpp, mlx, "
     "mnn, ort-genai; it runs in a browser tab there: add --target browser"),
    (["--device", "macbook-air-m2-16gb", "--runtime", "executorch", "--backend", "coreml"],
     "Error: executorch has no format for its coreml backend in the catalog (its weight layout there is not published); "
     "backends with formats: xnnpack, vulkan, qnn"),
])
def test_format_backend_errors_name_the_valid_choices(capsys, args, message):
    assert main(["predict", "--model", "qwen2.5-1.5b-instruct", *args]) == 1
    assert capsys.readouterr().err.strip() == message


def test_predict_and_recommend_run_executorch_on_an_iphone(capsys):
    assert main(["predict", "--model", "qwen2.5-1.5b-instruct", "--device", "iphone-15-pro", "--runtime", "executorch",
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["runtime"], data["backend"], data["quant"]) == ("executorch", "xnnpack", "8da4w")
    assert main(["recommend", "--device", "iphone-15-pro", "--runtime", "executorch", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["pick"]["runtime"] == "executorch"


@pytest.mark.parametrize("runtime_id,line", [
    ("executorch", "| backend | executorch on xnnpack, 5 CPU threads |  |"),  # was "executorch executorch:xnnpack, 5 threads, 0 GPU layers"
    ("mlc", "| backend | mlc on opencl |  |"),  # was "mlc mlc:opencl, 5 threads, 16 GPU layers" (-ngl is llama.cpp's)
    ("llama.cpp", "| backend | llama.cpp cpu-arm, 5 threads, 0 GPU layers |  |"),
])
def test_predict_words_the_backend_in_the_runtime_s_terms(capsys, runtime_id, line):
    assert main(["predict", "--model", "llama-3.2-1b-instruct", "--device", "pixel-8", "--runtime", runtime_id, "--format", "md"]) == 0
    assert line in capsys.readouterr().out.splitlines()

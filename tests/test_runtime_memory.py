"""Memory of runtimes other than llama.cpp, checked against the runtimes' own published figures.

WebLLM publishes, for every prebuilt model, the GPU memory its build needs (``vram_required_MB``
in web-llm's config.ts, copied to ../shared/reference/webllm-vram.csv): weights, the KV cache at
the build's context window and MLC's working buffers. The engine's MLC terms (weights tensor by
tensor, KV in the build's dtype, buffers) must land within 10 % of it for every catalog model with
a WebLLM build. (The process overhead is host memory and is not part of WebLLM's figure.)
"""

import csv
import re
from pathlib import Path

import pytest

from advisor.engine.evaluate import candidate, evaluate
from advisor.engine.runtimes import Variant
from advisor.records import Workload

WEBLLM = Path(__file__).resolve().parents[2] / "shared" / "reference" / "webllm-vram.csv"
MIB = 2**20


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", s.lower())


def webllm_rows(catalog):
    ids = {_norm(k): k for k in catalog.models}
    mlc = catalog.runtime("mlc")
    for r in csv.DictReader(WEBLLM.open()):
        base = r["model_id"].rsplit("-MLC", 1)[0].rsplit("-" + r["quant"], 1)[0]
        key = _norm(base)
        model_id = ids.get(key) or ids.get(key + "instruct") or ids.get(key + "chat")
        fmt = mlc.find_format(r["quant"])
        if model_id and fmt is not None:
            yield model_id, fmt, int(r["context_window_size"]), float(r["vram_required_MB"]) * MIB


#: WebLLM builds the engine does not reproduce, with the largest error seen. Phi-2's build grows by
#: ~0.9 GiB per 1,024 tokens of context (3,054 MB at 2k, 2,132 at 1k): three times its f16 KV
#: cache; what that build keeps per token is not known here, so it is not modelled. Its four figures
#: are not weights + a linear function of context either: a line through the 1k and 2k figures of
#: one format meets zero context at 1,210 MB (q4f16_1) and 1,448 MB (q4f32_1), below the weights
#: alone (1,492 / 1,660 MiB at 4.5 / 5 bits per weight for 2.78 B parameters); so no layout of
#: weights, KV and buffers can match all four, and the figures look stale rather than measured.
KNOWN_MISSES = {"phi-2": 0.30}


@pytest.mark.skipif(not WEBLLM.is_file(), reason="../shared/reference is not beside this checkout")
@pytest.mark.catalog_data
def test_mlc_memory_within_10_percent_of_webllm_for_every_catalog_build(catalog):
    mlc = catalog.runtime("mlc")
    webgpu = mlc.backend("webgpu")
    rows = list(webllm_rows(catalog))
    assert len(rows) >= 60  # 65 builds of catalog models today
    errors, known = [], {}
    for model_id, fmt, ctx, published in rows:
        w = Workload(context_tokens=ctx, prompt_tokens=ctx // 2, output_tokens=1)
        t = candidate(catalog.models[model_id], fmt, w, catalog, Variant(mlc, webgpu, fmt))
        gpu_side = t["weights_bytes"] + t["kv_cache_bytes"] + t["compute_buffer_bytes"]
        err = (abs(gpu_side - published) / published, model_id, fmt.id, ctx)
        (known.setdefault(model_id, []) if model_id in KNOWN_MISSES else errors).append(err)
    worst = max(errors)
    assert worst[0] <= 0.10, worst
    # the known misses stay misses of the stated size (a fix shows up here, as does a regression)
    for model_id, errs in known.items():
        assert all(e[0] <= KNOWN_MISSES[model_id] for e in errs), errs
    assert sorted(e for e, *_ in errors)[len(errors) // 2] <= 0.02  # median within 2 % (0.5 % today)


@pytest.mark.parametrize(
    ("runtime", "fmt", "model", "expected_mib"),
    [
        # hand-worked: Llama-3.2-1B in MLC q4f16_1 = 1,235,746,816 matrix weights (the tied
        # embedding included) at 4 bits + one f16 scale per 32 (4.5 bpw) = 695,107,584 B, plus the
        # norms (16 × 2 × 2048 + 2048 = 67,584 values) in f16 = 135,168 B → 695,242,752 B = 663.035 MiB
        ("mlc", "q4f16_1", "llama-3.2-1b-instruct", 663.035),
        # MLX 4bit (affine, g64, scale + bias f16 → also 4.5 bpw on every Linear and the Embedding)
        ("mlx", "4bit", "llama-3.2-1b-instruct", 663.035),
    ],
)
def test_runtime_weights_hand_worked(catalog, runtime, fmt, model, expected_mib):
    rt = catalog.runtime(runtime)
    f = rt.find_format(fmt)
    w = catalog.derived.runtime_weights(catalog.models[model], rt, f)
    assert w.total_bytes / MIB == pytest.approx(expected_mib, abs=0.001)


def test_runtime_estimate_names_its_runtime_and_prior(catalog):
    """An MLX estimate on a Mac runs on Metal; without shipped MLX factors its basis says it
    borrows llama.cpp's and its band is wider."""
    mlx = catalog.runtime("mlx")
    device = catalog.device("macbook-air-m2-16gb")
    backend = next(b for b in mlx.usable_backends(device) if b.kind == "gpu")
    fmt = mlx.find_format("4bit")
    v = Variant(mlx, backend, fmt)
    est = evaluate(catalog.models["qwen2.5-1.5b-instruct"], fmt, device, Workload(), catalog, variant=v)
    gguf = evaluate(catalog.models["qwen2.5-1.5b-instruct"], catalog.file_type("Q4_0"), device, Workload(), catalog)
    assert est.runtime == "mlx" and est.backend == backend.id
    assert est.speed is not None and gguf.speed is not None
    if "mlx:" + backend.id not in catalog.calibration:
        assert "prior" in est.speed.basis
        assert est.speed.decode_band.high / est.speed.decode_tokens_per_s > gguf.speed.decode_band.high / gguf.speed.decode_tokens_per_s


TWINS = sorted((Path(__file__).parent / "data" / "runtime_twins").glob("*.json"))
EXACT_TWINS = [p for p in TWINS if not p.stem.startswith(("executorch--", "litert-lm--", "mnn--"))]
EXECUTORCH_TWINS = [p for p in TWINS if p.stem.startswith("executorch--")]


@pytest.mark.parametrize("record", EXACT_TWINS, ids=[p.stem for p in EXACT_TWINS])
def test_runtime_weights_equal_the_runtimes_own_files_byte_for_byte(catalog, record):
    """Twins built by MLX's and ONNX Runtime GenAI's own converters on this machine (random weights,
    exact architecture; benchmarks/runtime_twins.py): the engine's tensor-by-tensor weights equal
    the bytes of every tensor in the files they wrote."""
    import json

    runtime_id, model_id, fmt_name = record.stem.split("--")
    data = json.loads(record.read_text())
    rt = catalog.runtime(runtime_id)
    w = catalog.derived.runtime_weights(catalog.models[model_id], rt, rt.find_format(fmt_name))
    assert w.total_bytes == sum(t["nbytes"] for t in data["layout"])


def test_twins_cover_the_runtimes():
    assert {p.stem.split("--")[0] for p in TWINS} == {"mlx", "ort-genai", "executorch", "litert-lm", "mnn"} and len(TWINS) >= 29


def _twin_weights(catalog, record):
    """(model id, format name, model, format, the record, its tensors' bytes, the engine's weights)."""
    import json

    runtime_id, model_id, fmt_name = record.stem.split("--")
    data = json.loads(record.read_text())
    model, rt = catalog.models[model_id], catalog.runtime(runtime_id)
    fmt = rt.find_format(fmt_name)
    return (model_id, fmt_name, model, fmt, data, sum(t["nbytes"] for t in data["layout"]),
            catalog.derived.runtime_weights(model, rt, fmt).total_bytes)


#: ExecuTorch .pte files exported by its own export_llama (XNNPACK, random weights) against the
#: engine's weights for the same format: measured / predicted − 1. Two rules of ExecuTorch's are in
#: catalog/runtimes.toml since these twins measured them (before, SmolLM2-135M 8da4w was predicted
#: at a third of its 533 MiB, Qwen2.5-0.5B 8da4w 0.9 % high):
#: 1. a Linear whose input dimension the group does not divide stays fp32 (quantize.py's filter_fn:
#:    ``m.weight.shape[1] % group_size == 0``), the output projection included (``indivisible =
#:    "unquantized"``; engine.runtime_weights applies it to every matrix role). SmolLM2's 576 is not
#:    a multiple of 128: at -G 128 only its w2 (in 1,536) is int4;
#: 2. XNNPACK stores group-wise scales in bf16 (node_visitor.get_quant_params): ``scale_bits = 16``.
#: The third is not modelled (under 0.03 %): the rotary cos/sin tables (fp32, max_context_length ×
#: head_dim/2 each; × head_dim with the Hugging Face rope the Qwen params use) and one fp32 0-d
#: constant per RMSNorm are in the program too.
EXECUTORCH_GAPS = {
    ("smollm2-135m-instruct", "8da4w"): 0.0001,
    ("smollm2-135m-instruct", "8da8w"): 0.0003,
    ("qwen2.5-0.5b-instruct", "8da4w"): 0.0002,
}


@pytest.mark.parametrize("record", EXECUTORCH_TWINS, ids=[p.stem for p in EXECUTORCH_TWINS])
def test_executorch_weights_against_its_own_pte(catalog, record):
    """The engine's ExecuTorch weights miss the .pte's constants by the stated gap; with the rotary
    tables and norm scalars (``EXECUTORCH_GAPS``' third rule) the same per-tensor sums equal them to
    the byte."""
    from advisor.engine.runtime_weights import per_tensor_bytes

    model_id, fmt_name, model, fmt, data, measured, predicted = _twin_weights(catalog, record)
    assert measured / predicted - 1 == pytest.approx(EXECUTORCH_GAPS[(model_id, fmt_name)], abs=0.0005)
    context = data["format_details"]["export"]["context"]
    rotary = 2 * context * (model.head_dim if model.gguf_arch != "llama" else model.head_dim // 2) * 4  # HF rope: full width
    norm_scalars = 4 * (2 * model.n_layers + 1)
    ruled = sum(nbytes for _, _, nbytes in per_tensor_bytes(catalog.derived.inventory(model), fmt, tied=model.tied_embeddings))
    assert ruled + rotary + norm_scalars == measured


LITERT_TWINS = [p for p in TWINS if p.stem.startswith("litert-lm--")]

#: .litertlm files written by LiteRT Torch's export_hf (AI Edge Quantizer recipes, random weights)
#: against the engine's weights for the same format: measured / predicted − 1, as the catalog
#: stands. Three rules of LiteRT's, of which catalog/runtimes.toml states the third (since these
#: twins measured it) and not the first two (test below):
#: 1. a per-channel tensor keeps, beside its float32 scale, an **int64** zero point per output row
#:    (TFLite's QuantizationParameters.zero_point is a long vector; symmetric, so all 0);
#: 2. those vectors sit in each subgraph's tensor, not in the shared buffer: a matrix the prefill
#:    and the decode signatures both use carries them twice (the prefill returns no logits, so it
#:    uses neither an untied lm_head nor the last layer's q, o, gate, up, down) — per channel, a
#:    row costs 4 + 8 + 4 + 8 = 24 bytes, not the 4 the catalog counts (dynamic_int8, int4);
#: 3. a block-wise tensor's scales are one **float16** tensor [out, in / block] (the catalog took 32-bit).
#: And one artefact of the twin: its RMSNorm weights are all 1.0, which the converter folds into
#: one constant (a real checkpoint's file holds each: SmolLM2 0.13 MiB, Qwen2.5-0.5B 0.16 MiB).
#: The embedding is quantized as the linears, and a tied model stores it once, as the catalog says.
LITERT_GAPS = {
    ("smollm2-135m-instruct", "dynamic_int8"): 0.0288,
    ("smollm2-135m-instruct", "int4"): 0.0572,
    ("smollm2-135m-instruct", "dynamic_int4_block32"): -0.0018,  # -0.1015 before the catalog took fp16 block scales
    ("qwen2.5-0.5b-instruct", "dynamic_int8"): 0.0177,
    ("qwen2.5-0.5b-instruct", "dynamic_int4_block128"): -0.0007,  # -0.0300 before
}


def litert_rules(fmt):
    """The catalog format with LiteRT's rules 1 and 3: a 64-bit zero point per row when per
    channel, 16-bit scales when block-wise. (``model_copy`` does not re-validate: zero_bits caps at 32.)"""
    linear = fmt.linear.model_copy(update={"zero_bits": 64} if fmt.linear.group == 0 else {"scale_bits": 16})
    return fmt.model_copy(update={"linear": linear})


def litert_prefill_pruned(model) -> set[str]:
    """The matrices (engine inventory names) the prefill signature does not use (rule 2)."""
    last = f"blk.{model.n_layers - 1}."
    return {last + n for n in ("attn_q.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")} | {
        "output.weight"}


@pytest.mark.parametrize("record", LITERT_TWINS, ids=[p.stem for p in LITERT_TWINS])
def test_litert_lm_weights_against_its_own_file(catalog, record):
    """The engine's LiteRT-LM weights miss the .litertlm's tensors by the stated gap; with LiteRT's
    three rules (``LITERT_GAPS``) and the twin's folded norms the same per-tensor sums equal them
    to the byte."""
    from advisor.engine.runtime_weights import per_tensor_bytes

    model_id, fmt_name, model, fmt, data, measured, predicted = _twin_weights(catalog, record)
    assert measured / predicted - 1 == pytest.approx(LITERT_GAPS[(model_id, fmt_name)], abs=0.0005)
    assert (fmt.embedding, fmt.output, fmt.tied) == ("linear", "embedding", "embedding")  # as the file: one quantized copy
    pruned = litert_prefill_pruned(model)
    ruled = 0
    for t, role, nbytes in per_tensor_bytes(catalog.derived.inventory(model), litert_rules(fmt), tied=model.tied_embeddings):
        if t.name.endswith("norm.weight"):
            continue  # the twin's norms: folded into one constant (below)
        ruled += nbytes
        if fmt.linear.group == 0 and t.is_matrix and t.name not in pruned:  # rule 2: the prefill's copy
            ruled += (t.n_elements // t.shape[0]) * (4 + 8)
    # what the twin's file holds besides: the one folded norm, shape constants, rotary frequencies
    small = sum(t["nbytes"] for t in data["layout"] if t["name"].startswith(("norm#", "const#", "rotary#")))
    assert small < 8 * 1024
    assert ruled + small == measured


MNN_TWINS = [p for p in TWINS if p.stem.startswith("mnn--")]

#: llm.mnn.weight files written by MNN's llmexport 0.0.5 (random weights) against the engine's
#: weights for the same format: measured / predicted − 1, as the catalog stands. The catalog's MNN
#: formats took two rules from these files (before, SmolLM2-135M int4 was predicted at 105.95 MiB for
#: 65.96 MiB, Qwen2.5-0.5B int4 at 432.87 for 239.46 MiB):
#: 1. a tied model stores its matrix once, as the quantized lm_head, which the runtime also gathers
#:    the embedding from (``tied = "output"``; llm_config.json ``tie_embeddings``) — no bf16 copy;
#: 2. a block that does not divide the input dimension is halved until it does (``indivisible =
#:    "halve"``: SmolLM2's 576 at block 128 is in blocks of 64).
#: Two are not modelled (0.06–0.21 %): each Linear's header (1 byte, its dims as int16 — int32 past
#: 65,535 —, a 2^bits + 1-byte value map: 22–26 bytes at 4 bits, 262 at 8) and a float32 beta
#: (zeros) beside every RMSNorm's gamma (MNN's LayerNorm op keeps both).
MNN_GAPS = {
    ("smollm2-135m-instruct", "int4"): 0.0021,
    ("smollm2-135m-instruct", "int4-block64"): 0.0017,
    ("smollm2-135m-instruct", "int4-block128"): 0.0018,
    ("smollm2-135m-instruct", "int8"): 0.0014,
    ("qwen2.5-0.5b-instruct", "int4"): 0.0007,
    ("qwen2.5-0.5b-instruct", "int4-block128"): 0.0006,
}


@pytest.mark.parametrize("record", MNN_TWINS, ids=[p.stem for p in MNN_TWINS])
def test_mnn_weights_against_its_own_files(catalog, record):
    """The engine's MNN weights miss llmexport's files by the stated gap; with the headers and the
    norms' betas (``MNN_GAPS``' last two) the same per-tensor sums equal them to the byte."""
    from advisor.engine.runtime_weights import per_tensor_bytes

    model_id, fmt_name, model, fmt, data, measured, predicted = _twin_weights(catalog, record)
    assert measured / predicted - 1 == pytest.approx(MNN_GAPS[(model_id, fmt_name)], abs=0.0005)
    assert (fmt.tied, fmt.indivisible, fmt.linear.scale_bits, fmt.linear.zero_bits) == ("output", "halve", 32, 32)
    rows = per_tensor_bytes(catalog.derived.inventory(model), fmt, tied=model.tied_embeddings)
    ruled = sum(nbytes for _, _, nbytes in rows)
    bits = fmt.linear.bits
    headers = sum(1 + (8 if max(t.shape) > 65535 else 4) + 2**bits + 1 for t, role, _ in rows if t.is_matrix and role != "embedding")
    betas = sum(4 * t.n_elements for t, _, _ in rows if t.name.endswith("norm.weight"))
    assert ruled + headers + betas == measured


def test_wllama_has_no_repacked_copy_nor_repacked_kernel_speeds(catalog):
    """wllama is llama.cpp compiled to WebAssembly: ggml's repacking kernels (AVX2, AVX-512, Arm
    dotprod) are not in that build and nothing is memory-mapped, so no CPU_REPACK copy sits beside
    its weights and no repacked-kernel prefill speed-up applies. Before, a MacBook Air M2's Chrome
    tab was told 'the resident set can read up to 9.05 GiB' for Qwen2.5-7B Q4_K_M (a 4.07 GiB copy)."""
    rt = catalog.runtime("wllama")
    device = catalog.device("macbook-air-m2-16gb")
    chrome = next(t for t in catalog.targets.values() if t.id == "browser").browser("chrome-desktop")
    variant = Variant(rt, rt.usable_backends(device, chrome)[0], catalog.file_type("Q4_0"))
    model = catalog.models["qwen2.5-1.5b-instruct"]
    est = evaluate(model, catalog.file_type("Q4_0"), device, Workload(), catalog, variant=variant)
    assert est.memory.repacked_bytes == 0
    assert est.speed is not None and "repacked" not in est.speed.prefill_basis
    # native llama.cpp on the same CPU repacks Q4_0 (Arm dotprod): the copy is there
    cpu = Variant(catalog.runtime("llama.cpp"), next(b for b in catalog.runtime("llama.cpp").usable_backends(device) if b.kind == "cpu"),
                  catalog.file_type("Q4_0"))
    native = evaluate(model, catalog.file_type("Q4_0"), device, Workload(), catalog, variant=cpu)
    assert native.memory.repacked_bytes > 0.5 * native.memory.weights_bytes


ORT_TWINS = [p for p in TWINS if p.stem.startswith("ort-genai--")]


def _ort_twin_estimate(catalog, record):
    """(the record, the engine's memory estimate for its model × format at its workload) on an x86
    profile (the records were measured on an x86 VM; memory does not depend on which)."""
    import json

    from advisor.engine.runtimes import resolve_variant

    _, model_id, fmt_name = record.stem.split("--")
    data = json.loads(record.read_text())
    m, s = data["measured"], data["settings"]
    device = catalog.device("laptop-core-ultra-7-258v-32gb")
    variant = resolve_variant(catalog, device, "ort-genai", fmt_name, "cpu")
    w = Workload(context_tokens=m["kv_cache_tokens"], prompt_tokens=s["prompt_tokens"], output_tokens=s["output_tokens"])
    return data, evaluate(catalog.models[model_id], variant.format, device, w, catalog, variant=variant).memory


@pytest.mark.catalog_data
def test_ort_genai_load_copy_hand_worked(catalog):
    """Qwen2.5-0.5B in ORT GenAI's int4 (MatMulNBits, block 32, tied: the shared matrix stored once
    as the int4 lm_head): after packing at load ONNX Runtime holds 4 B per block more (one float a
    block, measured) and the lm_head again (GatherBlockQuantized reads the stored one). Blocks: 24 layers ×
    (q 896×896 + k, v 128×896 each + o 896×896 + gate, up 4864×896 each + down 896×4864) / 32 +
    lm_head 151936 × 896 / 32; the lm_head: 151936 × 896 × 4 bits + 151936 × 28 fp32 scales."""
    model = catalog.models["qwen2.5-0.5b-instruct"]
    rt = catalog.runtime("ort-genai")
    w = catalog.derived.runtime_weights(model, rt, rt.find_format("int4"))
    per_layer = (896 * 896 * 2 + 128 * 896 * 2 + 4864 * 896 * 2 + 896 * 4864) // 32
    blocks = 24 * per_layer + 151936 * 896 // 32
    lm_head = 151936 * 896 // 2 + 151936 * (896 // 32) * 4
    assert w.load_copy_bytes == 4 * blocks + lm_head
    assert w.load_transient_bytes == 151936 * 896 // 2  # the lm_head's int4 values, the largest array
    # llama.cpp packs nothing beside its weights this way (its CPU_REPACK copy is repacked_bytes)
    assert catalog.derived.weights(model, catalog.file_type("Q4_0")).load_copy_bytes == 0


@pytest.mark.catalog_data
@pytest.mark.parametrize("record", ORT_TWINS, ids=[p.stem for p in ORT_TWINS])
def test_ort_genai_resident_memory_against_its_twins(catalog, record):
    """ONNX Runtime GenAI's own builder twins, measured (RSS from /proc/self/status): what the process
    holds after og.Model() beyond its imports, and its peak over loading and generating, against the
    engine's weights + packed copy and its total. Loaded: within 30 % below (the rest: ONNX Runtime's
    session and the pages of the mapped file it touched, 13–38 MiB of anonymous memory measured) or
    10 % above — except where an fp32 embedding is only looked up (the int8 build's tied = "both",
    TinyLlama's untied one): the engine counts it whole, the file's mapped pages stay mostly unread
    (+60 %, +10 %). Before the load copy was modelled the peaks were 13–31 % under (int4, fp32)."""
    data, mem = _ort_twin_estimate(catalog, record)
    m = data["measured"]
    loaded = m["rss_after_load_bytes"] - m["rss_after_imports_bytes"]
    predicted = mem.weights_bytes + mem.load_copy_bytes
    lookup_only = record.stem.endswith("--int8") or "tinyllama" in record.stem
    assert (-0.30 <= predicted / loaded - 1 <= 0.10) or (lookup_only and predicted > loaded)
    peak = m["peak_rss_bytes"]
    assert -0.10 <= mem.total_bytes / peak - 1 <= (0.40 if lookup_only else 0.10)

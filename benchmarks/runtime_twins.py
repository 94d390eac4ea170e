"""Runtime twins measured on this machine: MLX (CPU build), ONNX Runtime GenAI (CPU EP), ExecuTorch (XNNPACK),
LiteRT-LM (CPU), MNN (CPU).

For each case a catalog model's exact architecture is written as a Hugging Face folder with random
bf16 weights (no download), converted by the runtime's own converter (``mlx_lm convert``,
onnxruntime-genai's model builder, ExecuTorch's export_llama with random weights from a params JSON),
its files read tensor by tensor and — where a case has
settings — measured in a child process (load time, prefill/decode tokens/s, peak RSS, KV cache).
Each result is written as a JSON record to ``tests/data/runtime_twins/`` (the tests check parsing
and layout against them without the runtimes) and the table to
``benchmarks/results/runtime_twins.md``.

Needs the runtimes (``pip install -e '.[mlx,ortgenai-build]'``; torch for the builder:
``pip install torch==2.13.0`` takes the local CPU wheel here; ExecuTorch in a venv of its own:
``pip install torch==2.13.0 && pip install -e '.[executorch]'``):

    python benchmarks/runtime_twins.py                  # every case (~40 min on 2 shared cores)
    python benchmarks/runtime_twins.py --runtime mlx    # one runtime
    /work/venvs/et/bin/python benchmarks/runtime_twins.py --runtime executorch
    /work/venvs/mnn/bin/python benchmarks/runtime_twins.py --runtime mnn   # MNN + llmexport
    python benchmarks/runtime_twins.py --report         # only re-write the table from the records
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("ADVISOR_TWIN_CACHE", str(HERE / ".cache" / "twins"))

from advisor.catalog import load_catalog
from advisor.units import format_size
from advisor.validate.runtimes import MeasureSettings, load_record, measure_twin

RECORDS = ROOT / "tests" / "data" / "runtime_twins"
REPORT = HERE / "results" / "runtime_twins.md"

#: MLX's CPU backend runs quantized matmuls through a scalar reference kernel (8–20× slower than
#: its bf16 matmul here), so quantized MLX twins are measured with short runs on small models.
SHORT = MeasureSettings(prompt_tokens=16, output_tokens=4, repeats=2, timeout_s=1800)
MEDIUM = MeasureSettings(prompt_tokens=64, output_tokens=16, repeats=3, timeout_s=1800)
FULL = MeasureSettings(prompt_tokens=128, output_tokens=32, repeats=3, timeout_s=1800)
#: ExecuTorch decodes these small models at ~40 tok/s here: 32 tokens take under a second, which a
#: shared machine's hiccups swamp; 64 tokens × 5 repeats (the exported context is 256 tokens).
ET_FULL = MeasureSettings(prompt_tokens=128, output_tokens=64, repeats=5, timeout_s=1800)
#: LiteRT-LM: the exported prefill signature is 128 tokens and the KV cache 1,280 (its published
#: ekv1280 builds); 64 decoded tokens × 5 repeats, as for ExecuTorch.
LITERT_FULL = MeasureSettings(prompt_tokens=128, output_tokens=64, repeats=5, timeout_s=1800)
#: MNN: 64 decoded tokens × 5 repeats, as for ExecuTorch and LiteRT-LM (its KV cache grows: no
#: exported context).
MNN_FULL = MeasureSettings(prompt_tokens=128, output_tokens=64, repeats=5, timeout_s=1800)

#: (runtime, model id, format, settings or None for layout only)
CASES: list[tuple[str, str, str, MeasureSettings | None]] = [
    ("mlx", "smollm2-135m-instruct", "4bit", SHORT),
    ("mlx", "smollm2-135m-instruct", "8bit", SHORT),
    ("mlx", "smollm2-135m-instruct", "bf16", MEDIUM),
    ("mlx", "qwen2.5-0.5b-instruct", "4bit", None),
    ("mlx", "qwen2.5-0.5b-instruct", "8bit", None),
    ("mlx", "qwen2.5-0.5b-instruct", "bf16", MEDIUM),
    ("mlx", "qwen3-0.6b", "4bit", None),
    ("mlx", "tinyllama-1.1b-chat-v1.0", "4bit", None),
    ("ort-genai", "smollm2-135m-instruct", "int4", FULL),
    ("ort-genai", "qwen2.5-0.5b-instruct", "int4", FULL),
    ("ort-genai", "qwen2.5-0.5b-instruct", "int4-block128", FULL),
    ("ort-genai", "qwen2.5-0.5b-instruct", "int8", FULL),
    ("ort-genai", "qwen2.5-0.5b-instruct", "fp32", FULL),
    ("ort-genai", "qwen3-0.6b", "int4", FULL),
    ("ort-genai", "tinyllama-1.1b-chat-v1.0", "int4", FULL),
    ("executorch", "smollm2-135m-instruct", "8da4w", ET_FULL),
    ("executorch", "smollm2-135m-instruct", "8da8w", ET_FULL),
    ("executorch", "qwen2.5-0.5b-instruct", "8da4w", ET_FULL),
    ("litert-lm", "smollm2-135m-instruct", "dynamic_int8", LITERT_FULL),
    ("litert-lm", "smollm2-135m-instruct", "dynamic_int4_block32", LITERT_FULL),
    # not ("litert-lm", "smollm2-135m-instruct", "dynamic_int4_block128"): AI Edge Quantizer refuses it,
    # "Quantized dimension 576 in tensor shape (49152, 576) is not divisible by block size 128"
    ("litert-lm", "smollm2-135m-instruct", "int4", LITERT_FULL),
    ("litert-lm", "qwen2.5-0.5b-instruct", "dynamic_int8", LITERT_FULL),
    ("litert-lm", "qwen2.5-0.5b-instruct", "dynamic_int4_block128", LITERT_FULL),
    ("mnn", "smollm2-135m-instruct", "int4", MNN_FULL),
    ("mnn", "smollm2-135m-instruct", "int4-block64", MNN_FULL),
    ("mnn", "smollm2-135m-instruct", "int4-block128", MNN_FULL),
    ("mnn", "smollm2-135m-instruct", "int8", MNN_FULL),
    ("mnn", "qwen2.5-0.5b-instruct", "int4", MNN_FULL),
    ("mnn", "qwen2.5-0.5b-instruct", "int4-block128", MNN_FULL),
]


def record_path(runtime: str, model_id: str, fmt: str) -> Path:
    return RECORDS / f"{runtime}--{model_id}--{fmt}.json"


def write_record(record: dict, path: Path) -> None:
    """JSON with one tensor per line: readable diffs, small files."""
    layout = record["layout"]
    body = {k: v for k, v in record.items() if k != "layout"}
    text = json.dumps(body, indent=1)[:-2] + ',\n "layout": [\n'
    text += ",\n".join("  " + json.dumps(t, separators=(",", ":")) for t in layout) + "\n ]\n}\n"
    json.loads(text)  # the hand-joined text must still be JSON
    path.write_text(text)


def run_cases(runtime: str | None, only_missing: bool) -> None:
    catalog = load_catalog()
    RECORDS.mkdir(parents=True, exist_ok=True)
    for rt, model_id, fmt, settings in CASES:
        if runtime and rt != runtime:
            continue
        path = record_path(rt, model_id, fmt)
        if only_missing and path.exists():
            continue
        print(f"{rt} {model_id} {fmt} …", flush=True)
        record = measure_twin(rt, catalog.models[model_id], fmt, settings=settings, measure=settings is not None)
        write_record(record, path)
        m = record.get("measured") or {}
        print(f"  files {format_size(record['total_file_bytes'])}"
              + (f", decode {m['decode_tokens_per_s']['median']:.2f} tok/s" if m else ""), flush=True)


def _mib(n: int | None) -> str:
    return "—" if n is None else f"{n / 2**20:,.2f} MiB"


def _rate(d: dict | None) -> str:
    if not d:
        return "—"
    return f"{d['median']:.3g} ({d['min']:.3g}–{d['max']:.3g})"


#: The layout rules observed, each pinned by tests/test_runtime_twins.py (check_mlx_layout,
#: check_ort_layout) against every record and against fresh tiny twins.
RULES = """\
## What each converter does to each tensor (pinned by `tests/test_runtime_twins.py`)

**MLX (`mlx_lm convert -q`, affine mode):** every 2-D tensor — each Linear (q, k, v, o, gate, up,
down), the embedding and an untied `lm_head` — is quantized: `X.weight` uint32 `[out, in × bits / 32]`
(packed), `X.scales` and `X.biases` `[out, in / group]` in the unquantized dtype (bf16 here, taken from
`torch_dtype`), group 64. Norms and attention biases stay bf16. A tied head stores nothing extra
(the quantized embedding is used as the output layer). Bits per weight of a quantized matrix =
bits + 2 × 16 / group: 4-bit g64 → 4.5, 8-bit g64 → 8.5. File = 8 + JSON header + Σ tensor bytes.
The KV cache is bf16, grown in steps of 256 tokens (`KVCache.step`).

**ONNX Runtime GenAI (model builder, `-e cpu`):** Q, K and V are fused into one `qkv_proj` (its bias,
if any, one fp32 `qkv_proj.Add.bias`); int4/int8 quantize every MatMul (qkv, o, gate, up, down,
`lm_head`) as `MatMulNBits`: uint8 `[N, ceil(K / block), block × bits / 8]` + fp32 scales
`[N, ceil(K / block)]`, symmetric (no zero points), block 32, accuracy_level 4 — bits per weight =
bits + 32 / block: int4 → 5.0, int8 → 9.0. Norms (Qwen3's q/k norms too) fp32. The embedding: a
tied model in int4 has none (`GatherBlockQuantized` reads the int4 `lm_head`), in fp32 none
(`Gather` on the `lm_head` matrix); a tied model in int8 gets an fp32 embedding beside its int8
head (`GatherBlockQuantized` is int4-only), as does every untied model. fp32 stores matrices as
`[K, N]`. Rotary `cos_cache`/`sin_cache` fp32 `[max_position_embeddings, head_dim / 2]` each
(Qwen3-0.6B at 40,960 positions: 20 MiB). The KV cache is fp32 (CPU `io_dtype` float), allocated
for `max_length` tokens when the generator is created (`past_present_share_buffer`); the default
`max_length` in genai_config is the model's context length.

**ExecuTorch (`export_llama -kv --use_sdpa_with_kv_cache -X -qmode 8da4w -G g`, XNNPACK, `-d fp32`):**
the file keeps no tensor names; each constant is named by its role from its shape (`layers.?.attention.wq_wo#i`).
Not delegated, in the program: the fp32 token embedding, every RMSNorm weight (fp32) with one fp32 0-d
constant each, the rotary cos/sin tables (fp32, `max_context_length` × head_dim / 2 each; × head_dim with
the Hugging Face rope, `use_hf_rope`, of Qwen's params). In the XNNPACK
delegates (one per group of adjacent linears, 121 for SmolLM2): every Linear — q, k, v, o, w1, w3, w2
and the output projection, which is a Linear of its own even for a tied model (the tied matrix is stored
twice: fp32 embedding + the output) — quantized only when the group divides its input dimension
(quantize.py's `filter_fn`: `shape[1] % group_size == 0`; group 0 = per channel, always); 8da4w as
`qbint4` (two per byte) with **bf16** group scales `[out, in / group]` (node_visitor casts them), 8da8w as
`qcint8` with fp32 per-row scales; a Linear the group does not divide stays **fp32** — SmolLM2's
hidden size 576 is not a multiple of 128, so at `-G 128` (the exporter's default, the catalog's 8da4w) only
its 30 w2 matrices (in 1,536) are int4 and the file is 533 MiB, three times the 177 MiB predicted. Qwen2's
q/k/v biases are fp32 in the delegates. Each delegated constant is one named-data entry of the program
(the file = Σ tensors + < 0.5 MiB of flatbuffers and padding). The KV cache is static: fp32 K and V for
`max_context_length` tokens, memory-planned with the activations (`planned_memory_bytes`). RSS after
loading (`load_method`: XNNPACK packs the weights) is the imports — 385 MiB, most of it torch, which the
Python runtime needs for its tensors and an app's C++ runner does not — plus about one copy of the file
(+554, +259, +797 MiB for files of 533, 238, 763 MiB); the peak adds ~70–110 MiB while running.

**LiteRT-LM (`litert-torch export_hf --prefill_lengths [128] --cache_length 1280 --quantization_recipe R`, CPU):**
the Hugging Face twin is traced by transformers, converted to one TFLite model with a `prefill_128` and a
`decode` signature (and ~120 composite subgraphs), quantized by AI Edge Quantizer and packed with the
tokenizer (`HF_Tokenizer_Zlib`) and two metadata protos into one `.litertlm` (sections aligned to 16 KiB).
Recipes: `dynamic_int8` = `dynamic_wi8_afp32` (the exporter's default), `int4` = `dynamic_wi4_afp32`,
`dynamic_int4_block32` = `dynamic_wi4b32_afp32`, `dynamic_int4_block128` = the same with `BLOCKWISE_128` (a
JSON recipe: the quantizer names none). Every matrix is quantized — each Linear and the embedding, which a
tied model stores once (one buffer serves the lookup and the head) — symmetric, activations float32 and
quantized to int8 at run time. Per channel: INT8 / INT4 (two per byte) `[out, in]`, and per output row a
float32 scale **and an int64 zero point** (all 0), vectors of the flatbuffer's `QuantizationParameters`
that each subgraph's tensor carries — the prefill's and the decode's: twice for every matrix but the
last layer's q, o, gate, up, down (the prefill returns no logits, so they are dead code there) — 24
bytes a row where the catalog counts 4. Block-wise: INT4 with a **float16** scales tensor
`[out, in / block]` (the catalog counts 32-bit scales) and no zero points; AI Edge Quantizer refuses a
matrix whose input the block does not divide ("Quantized dimension 576 in tensor shape (49152, 576) is not
divisible by block size 128"), so SmolLM2 has no `dynamic_int4_block128` build at all. Biases and norms
stay float32. Against the engine (tests/test_runtime_memory.py, `LITERT_GAPS`, each reproduced to the byte
with these rules): dynamic_int8 +2.9 % (SmolLM2) / +1.8 % (Qwen2.5-0.5B), int4 +5.7 %, block 32 −10.1 %,
block 128 −3.0 %. The KV cache is **float32** on the CPU (the decode signature's `kv_cache_k_i` /
`kv_cache_v_i` inputs, `[1, kv_heads, head_dim, 1280]` and `[1, kv_heads, 1280, head_dim]`), for the
exported `cache_length` — twice the catalog's f16. The first start packs the weights for XNNPACK and writes
them to a cache file beside the model (`*.xnnpack_cache`, as large as the weights: 130.6 MiB for SmolLM2
int8's 135.6 MiB file); later starts map it (load 0.07–0.29 s here). RSS after loading is the imports
(~100 MiB) plus ~120–170 MiB; the peak adds roughly one more copy of the weights while running (SmolLM2
int8 370 MiB, Qwen2.5-0.5B int8 758 MiB for a 484 MiB file).

**MNN (`llmexport --export mnn --quant_bit B --quant_block K`, llmexport 0.0.5, MNN 3.6.1, CPU):** the
Hugging Face twin is exported to ONNX, converted by MNN's converter into `llm.mnn` (the graph) and
re-quantized by llmexport itself into `llm.mnn.weight` (utils/mnn_converter.py): every Linear — q, k, v,
o, gate, up, down and the lm_head — is a `Convolution` whose span holds a header (1 byte, the dims as
int16, int32 past 65,535, and a 2^bits + 1-byte value map: 22–26 bytes at 4 bits, 262 at 8), the values
(two per byte at 4 bits) and per block a **float32 zero point and scale**, interleaved (asymmetric, the
default; `--quant_block 0` = one block per row), then a float32 bias (Qwen2's q/k/v). A block that does
not divide the input dimension is halved until it does (torch_utils.py `_quant_on_device`: SmolLM2's 576
at block 128 is in blocks of 64). RMSNorms are `LayerNorm` ops with a float32 gamma **and** beta (zeros).
A tied model has no embedding file: the runtime gathers rows of the quantized lm_head (`llm_config.json`
`tie_embeddings`); an untied one gets `embeddings_bf16.bin`. The ops' spans tile `llm.mnn.weight` exactly.
llmexport 0.0.5's own default is `--quant_block 64`. Its .mtok writer knows BPE, WordPiece and Unigram
tokenizers only (the twins' word-level one is rewritten as WordPiece: with no model section MNN crashed
in `Llm::load`). Speeds are MNN's own counters (`Llm` context `prefill_us`, `decode_us`, taken as
differences: they add up over a session) through pymnn's `MNN.llm` with the exporter's config
(`precision: low`, `memory: low`; this CPU has no fp16 arithmetic) and greedy sampling; load =
`Llm.load()`. MNN exposes no KV figure: the KV cache column is the resident memory's growth per token of
context (`kv_probe`: a 17- and a 512-token generation) × the run's tokens.

**Twin artefact to know:** all-zero biases are dropped by the builder (`torch.count_nonzero`), so
the twins write random biases (`common.write_safetensors`). ExecuTorch's random init leaves every
RMSNorm weight at 1.0 and its emitter stores identical program constants once (SmolLM2: 125 constant
tensors in 53 buffers), so a twin's file is ~0.1 MiB smaller than a real checkpoint's; the layout lists
every tensor with its own bytes (a real model's). LiteRT Torch's converter folds them too — one float32
norm constant per twin — and its layout lists only what the file holds (SmolLM2: 0.13 MiB of norms fewer
than a real checkpoint's file).
"""


def role_bytes(record: dict) -> dict[str, int]:
    """Tensor bytes per role (scales, biases and zero points counted with their matrices)."""
    out: dict[str, int] = {}
    for g in record["summary"]["groups"]:
        out[g["role"]] = out.get(g["role"], 0) + g["bytes"]
    return out


def layer_bits_per_weight(record: dict, model) -> float:
    """Bits per weight of the transformer blocks' matrices: their stored bytes (with scales,
    biases) × 8 / their parameter count from the HF checkpoint."""
    from advisor.validate.runtimes.common import hf_tensors

    n = sum(math.prod(shape) for name, shape in hf_tensors(model) if len(shape) == 2 and ".layers." in name)
    stored = sum(g["bytes"] for g in record["summary"]["groups"] if g["role"] in ("attention", "ffn") and g["part"] != "bias")
    return stored * 8 / n


def write_report() -> None:
    records = [load_record(p) for p in sorted(RECORDS.glob("*.json"))]
    lines = [
        "# Runtime twins measured on this machine (MLX CPU, ONNX Runtime GenAI CPU, ExecuTorch XNNPACK, LiteRT-LM CPU, MNN CPU)",
        "",
        "Command: `python benchmarks/runtime_twins.py` (records in `tests/data/runtime_twins/`). Each twin is a",
        "catalog model's exact architecture written as a Hugging Face folder with random bf16 weights",
        "(`advisor/validate/runtimes/common.py`), converted by the runtime's own converter: `mlx_lm convert`",
        "(`-q --q-bits B --q-group-size 64`), `python -m onnxruntime_genai.models.builder -e cpu -p int4|int8|fp32`",
        "and ExecuTorch's `export_llama` (a params JSON of the catalog model, no checkpoint: random weights; run",
        "with `/work/venvs/et/bin/python benchmarks/runtime_twins.py --runtime executorch`, a venv with executorch),",
        "and LiteRT Torch's `litert-torch export_hf` (the converter `litert-lm convert` installs: the Hugging Face",
        "twin traced, converted to TFLite, quantized by an AI Edge Quantizer recipe, packed into a `.litertlm`; run",
        "with `/work/venvs/litert/bin/python benchmarks/runtime_twins.py --runtime litert-lm`, a venv with",
        "litert-lm and litert-torch-nightly), and MNN's `llmexport` (ONNX, MNN's converter, its own weight",
        "quantization; run with `/work/venvs/mnn/bin/python benchmarks/runtime_twins.py --runtime mnn`, a venv",
        "with MNN and llmexport; measured through pymnn's `MNN.llm`).",
        "Bytes are exact (file sizes; per-tensor bytes read from the safetensors header / ONNX initializers /",
        "the .pte's program constants and XNNPACK delegate graphs / the .litertlm's TFLite buffers and",
        "quantization parameters). ExecuTorch speeds come from its Python",
        "runtime (`portable_lib`: `_load_program` + `load_method`, then `forward` calls; load = both);",
        "LiteRT-LM's from its C library's benchmark mode (`litert_lm` API: engine + session, fixed prefill and",
        "decode token counts; its own prefill/decode tokens/s counters; load = engine creation + first session,",
        "a later start that maps the XNNPACK weight cache the first start wrote).",
        "Speeds: median (min–max) of the repeats after a warm-up, prompt processed at once, then tokens one",
        "by one; RSS after imports (Python + the runtime's libraries), after loading the model, and the peak",
        "(the child process's own high-water mark) are read from /proc/self/status. The machine is a",
        "2-core VM shared with other jobs (load average before each run in the records): speeds are",
        "indicative, not calibration-grade.",
        "",
    ]
    if records:
        r0 = records[0]
        lines += [f"Machine: {r0['machine']['processor']}, {r0['machine']['cpu_count']} cores, {r0['machine']['platform']}.", ""]
    lines += [
        "| runtime | model | format | files | weight tensors | quantization | load s | prefill tok/s | decode tok/s | RSS after imports | RSS loaded | peak RSS | KV cache (tokens) | P/G/R |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        m = r.get("measured") or {}
        s = r.get("settings") or {}
        fd = r["format_details"]
        if r["runtime"] == "mlx":
            q = fd["quantization"]
            quant = f"{q['bits']}-bit g{q['group_size']} {q.get('mode', '')}".strip() if q else "none"
        elif r["runtime"] == "executorch":
            quant = ", ".join(f"{k['kind']} ×{k['count']}" for k in fd["quantized_values"]) or "none"
        elif r["runtime"] == "mnn":
            quant = ", ".join(f"{k['kind']} ×{k['count']}" for k in fd["linear_kinds"]) or "none"
        elif r["runtime"] == "litert-lm":
            quant = ", ".join(f"{k['kind']} ×{k['count']}" for sec in fd["tflite"].values() for k in sec["quantized_tensors"]) or "none"
        else:
            quant = ", ".join(f"{k['bits']}-bit b{k['block_size']} acc{k['accuracy_level']} ×{k['count']}" for k in fd["matmulnbits"]) or "none"
            quant += ", zero points" if fd.get("zero_points") else (", symmetric" if fd["matmulnbits"] else "")
        kv = f"{_mib(m.get('kv_cache_bytes'))} ({m.get('kv_cache_tokens')})" if m else "—"
        prg = f"{s.get('prompt_tokens')}/{s.get('output_tokens')}/{s.get('repeats')}" if m else "layout only"
        load = f"{m['load_s']:.2f}" if m else "—"
        lines.append(
            f"| {r['runtime']} | {r['model']['id']} | {r['format']} | {_mib(r['total_file_bytes'])} | "
            f"{_mib(r['summary']['total_tensor_bytes'])} | {quant} | {load} | {_rate(m.get('prefill_tokens_per_s'))} | "
            f"{_rate(m.get('decode_tokens_per_s'))} | {_mib(m.get('rss_after_imports_bytes'))} | {_mib(m.get('rss_after_load_bytes'))} | "
            f"{_mib(m.get('peak_rss_bytes'))} | {kv} | {prg} |"
        )
    catalog = load_catalog()
    lines += ["", "## Bytes by role and bits per weight", "",
              "| runtime | model | format | embedding | lm_head | blocks (attn + ffn) | bits/weight in blocks | norms | rotary tables | other |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        rb = role_bytes(r)
        blocks = rb.get("attention", 0) + rb.get("ffn", 0)
        bpw = layer_bits_per_weight(r, catalog.models[r["model"]["id"]])
        lines.append(f"| {r['runtime']} | {r['model']['id']} | {r['format']} | {_mib(rb.get('embedding', 0))} | {_mib(rb.get('lm_head', 0))} | "
                     f"{_mib(blocks)} | {bpw:.3f} | {_mib(rb.get('norm', 0))} | {_mib(rb.get('rotary', 0))} | {_mib(rb.get('other', 0))} |")
    lines += ["", "(\"blocks\" includes the attention biases where the model has them; the bits per weight leave them out.)", "",
              RULES, "## Layout per twin (bytes per role × part × dtype)", ""]
    for r in records:
        lines += [f"### {r['runtime']} · {r['model']['id']} · {r['format']}", "",
                  (f"Versions: {', '.join(f'{k} {v}' for k, v in r['versions'].items())}. "
                  f"Files: {', '.join(f'{k} {v:,}' for k, v in r['files'].items())}."), "",
                  "| role | part | dtype | tensors | bytes |", "|---|---|---|---|---|"]
        for g in r["summary"]["groups"]:
            lines.append(f"| {g['role']} | {g['part']} | {g['dtype']} | {g['count']} | {g['bytes']:,} |")
        lines.append("")
    REPORT.write_text("\n".join(lines) + "\n")
    print(f"wrote {REPORT}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=["mlx", "ort-genai", "executorch", "litert-lm", "mnn"])
    ap.add_argument("--missing", action="store_true", help="only cases without a record")
    ap.add_argument("--report", action="store_true", help="only re-write the table from the records")
    args = ap.parse_args()
    if not args.report:
        run_cases(args.runtime, args.missing)
    write_report()


if __name__ == "__main__":
    main()

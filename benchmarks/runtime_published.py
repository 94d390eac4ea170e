"""Published measurements of the runtimes other than llama.cpp alone
(../shared/reference/runtime-measurements.csv: MLX, MLC/WebLLM, ExecuTorch, LiteRT-LM, ONNX Runtime
GenAI, MNN, llama.cpp/Ollama) mapped onto the catalog: which runtime × backend, weight format,
catalog model, device profile and workload each row is — as benchmarks/published.py does for the
llama.cpp rows of measurements.csv.

    python benchmarks/runtime_published.py     # prints the summary, writes results/runtime_rows.md

Every CSV row becomes either a `RuntimeMeasurement` (typed, SI units, trust weight) or an
`ExcludedRow` naming every reason it cannot be used; `load_runtime_rows` returns both.

Mapping rules, in the order they are checked (the first failing one is the row's main reason):

1. runtime — `RUNTIME_IDS`: the CSV's names onto the project's runtime ids (`ollama` is
   llama.cpp); `cactus` (own CQ engine) and `other` (vLLM, ik_llama.cpp, Core ML apps, Hailo,
   transformers.js) are none of the seven runtimes.
2. metric — `METRICS`: tg_tok_s → decode, pp_tok_s → prefill (tokens/s), ttft_s → ttft (s),
   file_mb → file_bytes and peak_rss_mb → peak_rss_bytes (the CSV's MB are decimal, 10^6 bytes:
   its notes convert MiB explicitly). load_s, power_w and j_per_token are not fitted.
3. `SUSPECT_ROWS`: rows whose own source says they are not representative (throttled,
   regression builds, unclear power mode, partial CPU offload).
4. model — `MODEL_MAP` (catalog ids; approximations say so in `MODEL_ASSUMPTIONS`), then
   `PENDING_MODEL_MAP` (MoE/hybrid models being added in parallel: a row maps as soon as its id
   exists in the catalog, until then it is excluded as pending).
5. format — `FORMATS[(runtime, published format)]` → a normalized `format_id`; formats not
   stated by the source are excluded; llama.cpp format ids must be catalog quantizations, the
   other runtimes' a catalog format that runs on the row's backend (`catalog_format`; the
   reasons for those that have none: `NO_CATALOG_FORMAT`).
6. device — `DEVICE_MAP`: a shipped profile or a reference profile in
   benchmarks/reference_devices (made by make_reference_devices.py). Artifact rows (file sizes)
   need no device and carry `device=None`.
7. workload — from the prompt_tokens / output_tokens / context / threads columns; blanks take
   the defaults below and the record lists each default in `assumptions`.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from advisor.catalog import Catalog, load_catalog
from advisor.errors import BadInputError
from advisor.records import DeviceProfile, Workload
from benchmarks.published import TRUST_WEIGHT, reference_devices, resolve_device

REFERENCE = HERE.parent.parent / "shared" / "reference" / "runtime-measurements.csv"
RESULT = HERE / "results" / "runtime_rows.md"

Metric = Literal["decode", "prefill", "ttft", "file_bytes", "peak_rss_bytes"]

# --------------------------------------------------------------------------- runtimes

#: CSV runtime name → project runtime id (`advisor --runtime NAME`)
RUNTIME_IDS = {
    "llama.cpp": "llama.cpp",
    "ollama": "llama.cpp",  # Ollama runs llama.cpp (GGUF); its own defaults only change the workload
    "mlx": "mlx",
    "mlc": "mlc",
    "executorch": "executorch",
    "litert-lm": "litert-lm",
    "ort-genai": "ort-genai",
    "mnn": "mnn",
}
EXCLUDED_RUNTIMES = {
    "cactus": "Cactus runs its own engine (CQ rotation+codebook quants; GGUF through llama.cpp before mid-2025), "
              "none of the seven runtimes",
    "other": "none of the seven runtimes",  # the runtime_version column names the software
}
#: backends each runtime has in the data (the CSV's own names); a mapped row outside these is a mapping bug
RUNTIME_BACKENDS = {
    "llama.cpp": {"cpu", "metal", "cuda", "vulkan", "opencl"},
    "mlx": {"metal", "cpu"},
    "mlc": {"opencl", "webgpu", "cuda", "metal", "vulkan"},
    "executorch": {"xnnpack", "vulkan", "webgpu", "coreml", "qnn", "mps"},
    "litert-lm": {"cpu", "gpu", "npu"},
    "ort-genai": {"cpu", "cuda", "dml", "webgpu"},
    "mnn": {"cpu", "opencl", "vulkan", "metal"},
}

# --------------------------------------------------------------------------- metrics

#: CSV metric → (record metric, factor to SI: tokens/s, seconds, bytes)
METRICS: dict[str, tuple[Metric, float]] = {
    "tg_tok_s": ("decode", 1.0),
    "pp_tok_s": ("prefill", 1.0),
    "ttft_s": ("ttft", 1.0),
    "file_mb": ("file_bytes", 1e6),
    "peak_rss_mb": ("peak_rss_bytes", 1e6),
}
UNUSED_METRICS = {
    "load_s": "load time is not predicted per runtime",
    "power_w": "power rows are energy evidence, not speed or memory",
    "j_per_token": "energy rows are derived from power, not speed or memory",
}

# --------------------------------------------------------------------------- workload defaults

#: prompt length when the source gives none: decode rows (llama-bench/app benchmarks use short
#: prompts; decode speed hardly depends on it), prefill rows (llama-bench's pp512, the most
#: published prefill setting). A ttft row without a prompt length is excluded: TTFT scales with it.
DEFAULT_PROMPT_TOKENS = {"decode": 128, "prefill": 512, "file_bytes": 128, "peak_rss_bytes": 128}
#: output length when none is given: llama-bench's tg128, the most published decode setting
DEFAULT_OUTPUT_TOKENS = 128
#: context when none is given: the project's default (records.Workload); fixed-KV runtimes
#: (ExecuTorch, LiteRT-LM) size their cache at export, so peak_rss rows with a defaulted context
#: say so in `assumptions`
DEFAULT_CONTEXT_TOKENS = 4096

# --------------------------------------------------------------------------- models

#: published model name → catalog model id
MODEL_MAP = {
    "Llama-3.2-1B-Instruct": "llama-3.2-1b-instruct",
    "Llama-3.2-1B": "llama-3.2-1b-instruct",
    "Llama-3.2-3B-Instruct": "llama-3.2-3b-instruct",
    "Llama-3-8B": "llama-3-8b-instruct",
    "Llama-2-7B": "llama-2-7b-chat",
    "Llama-2-7b-chat": "llama-2-7b-chat",
    "Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "Meta-Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "Gemma3-1B-IT": "gemma-3-1b-it",
    "Gemma-3-1B-it": "gemma-3-1b-it",
    "Qwen2.5-0.5B-Instruct": "qwen2.5-0.5b-instruct",
    "Qwen2.5-1.5B-Instruct": "qwen2.5-1.5b-instruct",
    "Qwen2.5-Coder-7B": "qwen2.5-7b-instruct",
    "Qwen3-0.6B": "qwen3-0.6b",
    "Qwen3-4B": "qwen3-4b",
    "Qwen3-4B-Instruct-2507": "qwen3-4b",
    "DeepSeek-R1-Distill-Qwen-1.5B": "deepseek-r1-distill-qwen-1.5b",
    "Phi-3-mini-4k-instruct": "phi-3-mini-4k-instruct",
    "SmolLM2-135M": "smollm2-135m-instruct",
    "Mistral-7B": "mistral-7b-instruct-v0.3",
    "Qwen-7B": "qwen1.5-7b-chat",
    "Qwen-1.8B-Chat": "qwen1.5-1.8b-chat",
    "vicuna-v1-7b": "llama-7b",
    "Llama-2-13B": "llama-2-13b",
    "MiniCPM4.1-8B": "minicpm4.1-8b",
    "Gemma-3-270M": "gemma-3-270m-it",
    "granite4:micro (Granite-4.0-Micro, dense)": "granite-4.0-micro",
    "deepseek-r1:14b (dense)": "deepseek-r1-distill-qwen-14b",
}
#: where the catalog entry is a stand-in with the same tensor shapes, not the published model itself
MODEL_ASSUMPTIONS = {
    "Llama-3.2-1B": "base model: same architecture as the instruct catalog entry",
    "Llama-3-8B": "base model: same architecture as the instruct catalog entry",
    "Llama-2-7B": "base model: same architecture as the chat catalog entry",
    "deepseek-r1:14b (dense)": "Ollama's deepseek-r1:14b is DeepSeek-R1-Distill-Qwen-14B",
    "SmolLM2-135M": "base model: same architecture as the instruct catalog entry",
    "Qwen2.5-Coder-7B": "Qwen2.5-Coder-7B has the Qwen2.5-7B architecture",
    "Qwen3-4B-Instruct-2507": "2507 instruct update of Qwen3-4B, same architecture",
    "Mistral-7B": "version not stated; the catalog's v0.3 differs from v0.1/v0.2 only by its 32,768-token vocabulary (32,000 before)",
    "Qwen-7B": "Qwen (1.0) 7B: the dimensions of Qwen1.5-7B (32 layers, hidden 4096, FFN 11008, vocab 151,936)",
    "Qwen-1.8B-Chat": "Qwen (1.0) 1.8B: the dimensions of Qwen1.5-1.8B (24 layers, hidden 2048, FFN 5504, vocab 151,936)",
    "vicuna-v1-7b": "Vicuna v1 is a LLaMA-1 7B fine-tune",
}
#: MoE / hybrid models another branch is adding to the catalog: the expected ids. A row maps as
#: soon as its id is in the catalog; until then it is excluded as "pending".
PENDING_MODEL_MAP = {
    "OLMoE-1B-7B-0924": "olmoe-1b-7b-0924-instruct",
    "Qwen3-30B-A3B": "qwen3-30b-a3b",
    "Qwen3-30B-A3B-Instruct-2507": "qwen3-30b-a3b",
    "Qwen3-30B-A3B (Qwen3-Coder-30B-A3B)": "qwen3-30b-a3b",
    "Qwen3-30B-A3B (model inferred from thread; quant not in excerpt)": "qwen3-30b-a3b",
    "qwen3:30b-a3b": "qwen3-30b-a3b",
    "gpt-oss-20b": "gpt-oss-20b",
    "LFM2-8B-A1B": "lfm2-8b-a1b",
    "LFM2.5-1.2B": "lfm2-1.2b",
    "LFM2.5-350M": "lfm2-350m",
    "Gemma-3n-E2B-it": "gemma-3n-e2b-it",
    "Gemma-3n-E4B-it": "gemma-3n-e4b-it",
    "granite3.1-moe:1b (Granite-3.1-1B-A400M)": "granite-3.1-1b-a400m-instruct",
    "granite4:tiny-h (Granite-4.0-H-Tiny, hybrid Mamba MoE)": "granite-4.0-h-tiny",
    "DeepSeek-V2-Lite": "deepseek-v2-lite-chat",
    "Phi-2": "phi-2",
}
PENDING_MODEL_ASSUMPTIONS = {
    "Qwen3-30B-A3B (Qwen3-Coder-30B-A3B)": "Qwen3-Coder-30B-A3B has the Qwen3-30B-A3B architecture (48 layers, 128 experts, 8 active)",
    "Qwen3-30B-A3B-Instruct-2507": "2507 instruct update, same architecture",
    "Qwen3-30B-A3B (model inferred from thread; quant not in excerpt)": "model inferred by the CSV's author from the thread",
    "LFM2.5-1.2B": "LFM2.5 keeps the LFM2 architecture (retrained); assumption",
    "LFM2.5-350M": "LFM2.5 keeps the LFM2 architecture (retrained); assumption",
}

# --------------------------------------------------------------------------- formats

NOT_STATED = "not stated"
#: (runtime id, format as published) → (format_id, assumption or ""). format_id is the runtime's
#: own name for the layout: llama.cpp = catalog quantization id; mlx = `4bit` (affine, group 64 —
#: mlx-lm's default), `4bit-g128`, `8bit`, `mxfp4-q8`; mlc = the quantization mode; executorch =
#: `bf16`, `8da4w-g<group>` (+ `-eo8`: embedding and output int8 per-channel, the Llama 3.2
#: SpinQuant/QAT recipes, `-lora` with bf16 LoRA adapters; + `-e4g32`: 4-bit g32 embedding), `4w`;
#: litert-lm = `q4` (4-bit per-channel), `dynamic_int8`; ort-genai = `int4` (MatMulNBits block 32,
#: fp32 scales: CPU builds), `int4-fp16` (the same with fp16 scales and io: GPU builds,
#: runtime-formats.md §4); mnn = `int4`, `int4-hqq`.
FORMATS: dict[tuple[str, str], tuple[str, str]] = {
    ("llama.cpp", "Q8_0"): ("Q8_0", ""),
    ("llama.cpp", "Q4_0"): ("Q4_0", ""),
    ("llama.cpp", "Q4_K_M"): ("Q4_K_M", ""),
    ("llama.cpp", "Q4_K_M (llama3.1:8b-instruct-q4_K_M)"): ("Q4_K_M", ""),
    ("llama.cpp", "Ollama default tag (Q4_K_M)"): ("Q4_K_M", ""),
    ("llama.cpp", "Ollama default tag"): ("Q4_K_M", "Ollama's default tag taken as Q4_K_M (the library's current default)"),
    ("llama.cpp", "Q4_0_4_4"): ("Q4_0", "Q4_0_4_4 = Q4_0 blocks interleaved for ARM, same bytes (llama.cpp now repacks Q4_0 at load)"),
    ("llama.cpp", "Q4_0 (QAT GGUF)"): ("Q4_0", ""),
    ("llama.cpp", "Q4_0 (pure, 953.78 MiB)"): ("Q4_0", ("--pure GGUF with an untied output matrix (1.78 B params): every matrix Q4_0, 953.78 MiB, "
                                                 "while the catalog's Q4_0 mix of the tied model is 886 MiB (output at Q6_K)")),
    ("llama.cpp", "Q3_K_M (13.70 GiB)"): ("Q3_K_M", ""),
    ("llama.cpp", "MXFP4 GGUF"): ("MXFP4", ""),
    ("llama.cpp", "MXFP4 GGUF (11.27 GiB)"): ("MXFP4", ""),
    ("llama.cpp", "4-bit (GGUF, type not stated)"): (NOT_STATED, ""),
    ("llama.cpp", "GGUF (quant not in excerpt)"): (NOT_STATED, ""),
    ("llama.cpp", ""): (NOT_STATED, ""),
    ("mlx", "mlx-4bit"): ("4bit", ""),
    ("mlx", "mlx-4bit-g64"): ("4bit", ""),
    ("mlx", "mlx-4bit-g128"): ("4bit-g128", ""),
    ("mlx", "4-bit"): ("4bit", "group size not stated: mlx-lm's default 64 assumed"),
    ("mlx", "mlx 4-bit (assumed)"): ("4bit", "format assumed by the source"),
    ("mlx", "mlx MXFP4-Q8"): ("mxfp4-q8", ""),
    ("mlx", "mlx (not stated)"): (NOT_STATED, ""),
    ("mlc", "q4f16_1"): ("q4f16_1", ""),
    ("mlc", "q4f16_0"): ("q4f16_0", ""),
    ("mlc", "q4f16_ft"): ("q4f16_ft", ""),
    ("mlc", "default 2023 MLC quantization (likely q3f16_0; not stated)"): (NOT_STATED, ""),
    ("executorch", "bf16"): ("bf16", ""),
    ("executorch", "8da4w-g32 SpinQuant (linear int4 g32 + int8 dyn act; output 8-bit per-channel; embedding int8 per-channel)"): ("8da4w-g32-eo8", ""),
    ("executorch", "8da4w-g32 SpinQuant (as 1B)"): ("8da4w-g32-eo8", ""),
    ("executorch", "8da4w-g32 QAT+LoRA (linear int4 g32; output 8-bit per-channel; embedding int8 per-channel; LoRA bf16)"): ("8da4w-g32-eo8-lora", ""),
    ("executorch", "8da4w-g32 QAT+LoRA (as 1B)"): ("8da4w-g32-eo8-lora", ""),
    ("executorch", "8da4w-g128 (PTQ int4 groupwise, int8 dynamic act); embedding 4-bit g32"): ("8da4w-g128-e4g32", ""),
    ("executorch", "8da4w-g256 (PTQ int4 groupwise, int8 dynamic act); embedding 4-bit g32"): ("8da4w-g256-e4g32", ""),
    ("executorch", "8da4w-g128 (PTQ int4 groupwise, int8 dynamic act)"): ("8da4w-g128", "embedding precision not stated"),
    ("executorch", "8da4w-g256 (PTQ int4 groupwise, int8 dynamic act)"): ("8da4w-g256", "embedding precision not stated"),
    ("executorch", "8da4w-g64, --vulkan-force-fp16"): ("8da4w-g64", "Vulkan with --vulkan-force-fp16 (fp16 activations)"),
    ("executorch", "4-bit weight (dynamic-shape artifact; f16 KV cache)"): ("4w", "4-bit weight-only, group size not stated; f16 KV cache"),
    ("executorch", "INT4"): (NOT_STATED, ""),
    ("executorch", "quantized (not specified)"): (NOT_STATED, ""),
    ("litert-lm", "litertlm 4-bit per-channel (q4, ekv4096)"): ("q4", ""),
    ("litert-lm", "litertlm 4-bit per-channel (preview)"): ("q4", ""),
    ("litert-lm", "litertlm 4-bit per-channel"): ("q4", ""),
    ("litert-lm", "litertlm QAT 4-bit"): ("q4", "QAT 4-bit: layout assumed as 4-bit per-channel"),
    ("litert-lm", "dynamic_int8 (int8 weights per-channel, dynamic int8 activations)"): ("dynamic_int8", ""),
    ("litert-lm", "INT8"): ("dynamic_int8", "'INT8' taken as LiteRT's dynamic_int8 (int8 per-channel weights)"),
    ("ort-genai", "int4 (MatMulNBits, CUDA build)"): ("int4-fp16", ""),
    ("ort-genai", "int4-rtn-block-32-acc-level-4 (cpu_and_mobile)"): ("int4", ""),
    ("mnn", "MNN 4-bit HQQ"): ("int4-hqq", ""),
    ("mnn", "MNN int4"): ("int4", ""),
}

#: The normalized format ids above whose catalog format (catalog/runtimes.toml) has another name.
CATALOG_FORMAT_NAMES = {
    ("executorch", "8da4w-g32-eo8"): "8da4w-g32-emb8",
    ("executorch", "8da4w-g32-eo8-lora"): "8da4w-g32-emb8",  # + bf16 LoRA adapters (a few % more bytes)
    ("executorch", "8da4w-g128-e4g32"): "8da4w-g128-emb4",
    ("executorch", "8da4w-g256-e4g32"): "8da4w-g256-emb4",
    ("executorch", "8da4w-g128"): "8da4w",
    ("executorch", "8da4w-g64"): "8da4w-g64-vulkan",
    ("litert-lm", "q4"): "int4",
}
#: Formats of runtimes other than llama.cpp with no catalog layout for the row's backend: why.
NO_CATALOG_FORMAT = {
    ("mlx", "mxfp4-q8"): "MXFP4 experts with 8-bit affine attention and embeddings: a mixed recipe the catalog's "
                         "MLX formats (one layout for every linear layer) do not describe",
    ("executorch", "4w"): "the layout of ExecuTorch's WebGPU 4-bit build is not published (catalog/runtimes.toml "
                          "lists no webgpu format; 4w is an XNNPACK layout with fp32 scales and KV)",
}


def catalog_format(runtime_id: str, format_id: str, backend: str, catalog: Catalog):
    """The catalog format (catalog/runtimes.toml) of a mapped row's normalized format id, or None
    when the runtime has no such format or it does not run on ``backend``."""
    fmt = catalog.runtime(runtime_id).find_format(CATALOG_FORMAT_NAMES.get((runtime_id, format_id), format_id))
    return fmt if fmt is not None and (not fmt.backends or backend in fmt.backends) else None


# --------------------------------------------------------------------------- devices

ARTIFACT = "(artifact, device-independent)"
#: published device → (profile id, assumption or ""); ref-* are in benchmarks/reference_devices
DEVICE_MAP = {
    "OnePlus 12": ("ref-oneplus-12-16gb", ""),
    "Samsung Galaxy S24 Ultra": ("galaxy-s24-ultra", ""),
    "Samsung Galaxy S25 Ultra": ("galaxy-s25-ultra", ""),
    "Samsung Galaxy S25": ("galaxy-s25-ultra", "Galaxy S25 modelled by the S25 Ultra profile (same SoC, 12 GB)"),
    "Samsung Galaxy S24": ("ref-galaxy-s24-8gb", "SoC variant not stated: Snapdragon 8 Gen 3 (US) assumed"),
    "Galaxy S24": ("ref-galaxy-s24-8gb", "SoC variant not stated: Snapdragon 8 Gen 3 (US) assumed"),
    "Galaxy S22": ("ref-galaxy-s22-8gb", "SoC variant not stated: Snapdragon 8 Gen 1 (US) assumed"),
    "Snapdragon 8 Gen 3 Android phone (reference device)": ("galaxy-s24-ultra", "unnamed Snapdragon 8 Gen 3 phone modelled by the Galaxy S24 Ultra profile"),
    "Snapdragon device with Adreno 750 (developer board/phone)": ("galaxy-s24-ultra", "unnamed Snapdragon 8 Gen 3 device modelled by the Galaxy S24 Ultra profile"),
    "Google Pixel 8 Pro": ("ref-pixel-8-pro-12gb", ""),
    "Google Pixel 8 Pro (Chrome)": ("ref-pixel-8-pro-12gb", ""),
    "Google Pixel 10 Pro": ("ref-pixel-10-pro-16gb", ""),
    "iPhone 15 Pro": ("iphone-15-pro", ""),
    "iPhone 15 Pro Max": ("iphone-15-pro", "Pro Max modelled by the Pro profile (same SoC and RAM)"),
    "iPhone 16 Pro": ("iphone-16-pro", ""),
    "iPhone 16 Pro Max": ("iphone-16-pro", "Pro Max modelled by the Pro profile (same SoC and RAM)"),
    "iPhone 16": ("iphone-16", ""),
    "iPhone 17 Pro": ("ref-iphone-17-pro-12gb", ""),
    "Apple M4 Pro Mac (Chrome Canary)": ("ref-m4-pro-16c-24gb", "M4 Pro GPU core count and RAM not stated: base 16-core GPU, 24 GB assumed"),
    "Mac (M4 Pro, 24 GB)": ("ref-m4-pro-16c-24gb", "GPU core count not stated: 16-core assumed"),
    "Mac (M4 Pro)": ("ref-m4-pro-16c-24gb", "GPU core count and RAM not stated: base 16-core GPU, 24 GB assumed"),
    "Mac mini (M4 Pro, 64 GB)": ("ref-m4-pro-16c-64gb", "GPU core count not stated: 16-core assumed"),
    "Apple M4 Max Mac": ("ref-m4-max-40c-48gb", "M4 Max bin and RAM not stated: 40-core GPU (546 GB/s), 48 GB assumed"),
    "Mac (M2 Max)": ("ref-m2-max-38c-32gb", "GPU core count and RAM not stated: 38-core, 32 GB assumed"),
    "Mac Studio (M2 Ultra)": ("ref-m2-ultra-76c-192gb", "GPU core count (60/76) and RAM not stated: 76-core assumed"),
    "Mac (Apple M2 Pro)": ("ref-m2-pro-19c-32gb", "GPU core count (16/19) and RAM not stated: 19-core assumed"),
    "MacBook Pro 14 (2023, M3)": ("ref-macbook-pro-14-m3-8gb", "RAM not stated: 8 GB assumed"),
    "MacBook (M3, base)": ("macbook-air-m3-8gb", "form factor not stated: MacBook Air M3 8 GB assumed"),
    "MacBook Pro 13 (2020, M1, 8 GB)": ("macbook-air-m1-8gb", "MacBook Pro 13 M1 modelled by the MacBook Air M1 profile (same SoC; the Pro has a fan)"),
    "MacBook Pro (M3 Max, 64 GB)": ("macbook-pro-14-m3-max-64gb", ""),
    "Raspberry Pi 5 8GB": ("raspberry-pi-5-8gb", ""),
    "Raspberry Pi 5": ("raspberry-pi-5-8gb", "Raspberry Pi 5 RAM not stated: 8 GB assumed"),
    "Jetson AGX Orin": ("jetson-agx-orin-32gb", "AGX Orin 32 GB (as stated in the MLC thread)"),
    "NVIDIA IGX Orin (iGPU; maintainer states equal to AGX Orin)": ("jetson-agx-orin-64gb", "IGX Orin modelled by the AGX Orin 64 GB profile (maintainer: equal)"),
    "Jetson Orin Nano Super 8GB (25 W mode)": ("jetson-orin-nano-super-8gb", ""),
    "Desktop, NVIDIA RTX 4090": ("desktop-rtx4090-24gb", ""),
    "Desktop, NVIDIA RTX 3060 12GB": ("desktop-rtx3060-12gb", ""),
    "Intel Core i5-9500T PC (UHD 630 iGPU)": ("ref-mini-pc-i5-9500t-16gb", "RAM and chassis not stated: 16 GB dual-channel DDR4-2666 assumed"),
    "Laptop, AMD Ryzen 7 5800U, 64 GB DDR4": ("ref-laptop-ryzen-7-5800u-64gb", ""),
    "Desktop, AMD RX 7900 XT 20GB + DDR4-3200": ("ref-rx7900xt-20gb", "backend (Vulkan or ROCm) not confirmed by the source"),
    "AMD Radeon 680M laptop (Chrome)": ("ref-ryzen-6800u-680m-16gb", "Ryzen 6000 model, memory and RAM not stated: 6800U, LPDDR5-6400, 16 GB assumed"),
}

# --------------------------------------------------------------------------- doubtful rows

#: rows their own source marks as unrepresentative: (columns that must all match, reason)
SUSPECT_ROWS: list[tuple[dict[str, str], str]] = [
    ({"device": "Jetson AGX Orin", "runtime": "mlc", "value": "197.0"},
     "user run, power mode possibly not MAXN (maintainer asked); the maintainer's reference on the same setup is 3.0x faster"),
    ({"device": "Jetson AGX Orin", "runtime": "mlc", "value": "19.3"},
     "user run, power mode possibly not MAXN (maintainer asked); the maintainer's reference on the same setup is 2.2x faster"),
    ({"device": "Snapdragon 8 Gen 2 phone", "runtime": "mnn"},
     "user build the reporter calls a regression against the prebuilt APK (not representative of tuned MNN)"),
    ({"device": "Mac (M2 Max)", "runtime": "mlx"},
     "reported in an issue as a performance problem (MLX Swift at half of llama.cpp's speed on the same Mac; maintainers asked for an mlx-lm comparison)"),
    ({"device": "iPhone 16 Pro", "runtime": "mlx", "value": "22.6"},
     "thermally throttled steady state (-44%); the same source's cold figure is kept"),
    ({"device": "Desktop, NVIDIA RTX 3060 12GB", "model": "gpt-oss-20b"},
     "--n-cpu-moe 2: two layers of experts on the CPU (hybrid placement)"),
    ({"device": "Desktop, AMD RX 7900 XT 20GB + DDR4-3200", "value": "20"},
     "-cmoe: all experts on the CPU (hybrid placement)"),
    ({"device": "Desktop, NVIDIA RTX 5070 12GB (Windows)"},
     "13.7 GiB of weights on a 12 GB card: they spill to host memory (the source's own explanation of the low figures)"),
]
#: notes attached to rows that are kept: (columns that must all match, note)
ROW_NOTES: list[tuple[dict[str, str], str]] = [
    ({"runtime": "mlx", "metric": "peak_rss_mb"}, "mlx 'Peak memory' is the Metal allocator's peak, not the process RSS"),
    ({"device": "iPhone 16 Pro", "runtime": "mlx", "value": "40"}, "cold device, before thermal throttling"),
    ({"runtime": "mlx", "context": "33000"}, "--max-kv-size 33000 is a rotating KV cache: prompt + output exceed it"),
    ({"runtime": "litert-lm", "metric": "pp_tok_s", "context": "1280"}, "prompt length not stated; several fixed prefill signatures compiled in"),
]

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RuntimeMeasurement:
    """One published figure of one runtime, mapped onto the catalog, in SI units."""

    line: int  # line in the CSV (the header is line 1)
    runtime: str  # project runtime id: llama.cpp, mlx, mlc, executorch, litert-lm, ort-genai, mnn
    backend: str  # as published: cpu, xnnpack, metal, webgpu, cuda, vulkan, opencl, gpu, …
    format: str  # as published, e.g. "q4f16_1", "mlx-4bit-g64", "8da4w-g32 SpinQuant (…)"
    format_id: str  # normalized (see FORMATS); for llama.cpp a catalog quantization id
    model_id: str  # catalog model id
    device: DeviceProfile | None  # None: a file size, true on any device
    workload: Workload
    metric: Metric
    value: float  # tokens/s (decode, prefill), s (ttft), bytes (file_bytes, peak_rss_bytes)
    weight: float  # trust weight for a fit (benchmarks/published.py TRUST_WEIGHT)
    trust: str  # the CSV's rating: high | medium
    source: str
    published_runtime: str  # the CSV's runtime name (ollama vs llama.cpp)
    published_device: str
    published_model: str
    assumptions: tuple[str, ...] = ()  # every default and stand-in applied to this row

    @property
    def device_key(self) -> str:
        """The unit of leave-one-device-out: the profile, or 'artifact' for file sizes."""
        return self.device.id if self.device is not None else "artifact"

    @property
    def label(self) -> str:
        return f"{self.published_device} | {self.published_model} {self.format_id} | {self.runtime}/{self.backend}"


@dataclass(frozen=True)
class Reason:
    kind: str  # runtime | metric | suspect | model | pending model | format | device | workload
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class ExcludedRow:
    line: int
    runtime: str
    backend: str
    device: str
    model: str
    format: str
    metric: str
    value: str
    reasons: tuple[Reason, ...]  # every reason, the first checked first

    @property
    def reason(self) -> Reason:
        return self.reasons[0]


# --------------------------------------------------------------------------- mapping


def _matches(row: dict[str, str], pattern: dict[str, str]) -> bool:
    return all(row[k] == v for k, v in pattern.items())


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def workload_for(row: dict[str, str], metric: Metric) -> tuple[Workload | None, list[str], Reason | None]:
    """Workload from the row's columns; blanks take the module defaults, each one noted.

    A decode row whose prompt fills the stated context ("decode at this context depth") gets one
    output token, so the KV length equals the published depth; a rotating KV cache smaller than
    prompt + output is widened to fit (noted)."""
    notes: list[str] = []
    prompt, output, context = _int(row["prompt_tokens"]), _int(row["output_tokens"]), _int(row["context"])
    if prompt is None:
        if metric == "ttft":
            return None, notes, Reason("workload", "time to first token without a stated prompt length")
        prompt = DEFAULT_PROMPT_TOKENS[metric]
        notes.append(f"prompt length not stated: {prompt} assumed")
    if output is None:
        output = DEFAULT_OUTPUT_TOKENS if context is None else max(1, min(DEFAULT_OUTPUT_TOKENS, context - prompt))
        notes.append(f"output length not stated: {output} assumed")
    if context is None:
        context = max(DEFAULT_CONTEXT_TOKENS, prompt + output)
        notes.append(f"context not stated: {context} assumed")
    if prompt + output > context:
        notes.append(f"context {context} widened to prompt + output = {prompt + output}")
        context = prompt + output
    try:
        return Workload(context_tokens=context, prompt_tokens=prompt, output_tokens=output,
                        threads=_int(row["threads"])), notes, None
    except BadInputError as exc:
        return None, notes, Reason("workload", str(exc))


def _map_model(name: str, catalog: Catalog) -> tuple[str | None, str, Reason | None]:
    if name in MODEL_MAP:
        return MODEL_MAP[name], MODEL_ASSUMPTIONS.get(name, ""), None
    if name in PENDING_MODEL_MAP:
        mid = PENDING_MODEL_MAP[name]
        if mid in catalog.models:
            return mid, PENDING_MODEL_ASSUMPTIONS.get(name, ""), None
        return None, "", Reason("pending model", f"{name} → '{mid}' is not in the catalog yet (PENDING_MODEL_MAP)")
    return None, "", Reason("model", f"{name} is not in the catalog")


def _map_format(runtime: str, published: str, backend: str, catalog: Catalog) -> tuple[str | None, str, Reason | None]:
    key = (runtime, published)
    if key not in FORMATS:
        return None, "", Reason("format", f"'{published}' has no format id for {runtime}")
    fid, note = FORMATS[key]
    if fid == NOT_STATED:
        return None, "", Reason("format", f"not stated by the source ('{published}')")
    if runtime == "llama.cpp" and fid not in catalog.file_types:
        return None, "", Reason("format", f"{fid} is not a catalog quantization")
    if runtime != "llama.cpp" and catalog_format(runtime, fid, backend, catalog) is None:
        why = NO_CATALOG_FORMAT.get((runtime, fid), "no catalog format of that name runs on this backend")
        return None, "", Reason("format", f"{fid} on {runtime}/{backend}: {why}")
    return fid, note, None


def load_runtime_rows(catalog: Catalog, path: Path = REFERENCE) -> tuple[list[RuntimeMeasurement], list[ExcludedRow]]:
    """Every row of runtime-measurements.csv, mapped or excluded with its reasons."""
    refs = reference_devices()
    used: list[RuntimeMeasurement] = []
    excluded: list[ExcludedRow] = []
    with open(path, newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            reasons: list[Reason] = []
            notes: list[str] = []

            runtime = RUNTIME_IDS.get(row["runtime"])
            if runtime is None:
                why = EXCLUDED_RUNTIMES.get(row["runtime"], "unknown runtime")
                software = f" ({row['runtime_version']})" if row["runtime"] == "other" and row["runtime_version"] else ""
                reasons.append(Reason("runtime", f"{row['runtime']}{software}: {why}"))

            metric_map = METRICS.get(row["metric"])
            if metric_map is None:
                reasons.append(Reason("metric", f"{row['metric']}: {UNUSED_METRICS.get(row['metric'], 'unknown metric')}"))

            reasons += [Reason("suspect", why) for pattern, why in SUSPECT_ROWS if _matches(row, pattern)]

            model_id, note, why = _map_model(row["model"], catalog)
            reasons += [why] if why else []
            notes += [note] if note else []

            format_id = None
            if runtime is not None:
                format_id, note, why = _map_format(runtime, row["format"], row["backend"], catalog)
                reasons += [why] if why else []
                notes += [note] if note else []

            device: DeviceProfile | None = None
            if row["device"] in DEVICE_MAP:
                profile_id, note = DEVICE_MAP[row["device"]]
                device = resolve_device(profile_id, catalog, refs)
                notes += [note] if note else []
            elif not (row["device"] == ARTIFACT or (metric_map and metric_map[0] == "file_bytes")):
                reasons.append(Reason("device", f"no profile for {row['device']}"))

            workload = None
            if metric_map is not None:
                workload, wnotes, why = workload_for(row, metric_map[0])
                notes += wnotes if metric_map[0] != "file_bytes" else []  # a file's size has no workload
                reasons += [why] if why else []

            value = float(row["value"])
            if not math.isfinite(value) or value <= 0:
                reasons.append(Reason("value", f"{row['value']!r} is not a positive number"))

            if reasons:
                excluded.append(ExcludedRow(line, row["runtime"], row["backend"], row["device"], row["model"],
                                            row["format"], row["metric"], row["value"], tuple(reasons)))
                continue
            assert runtime and metric_map and model_id and format_id and workload  # every failure added a reason
            metric, to_si = metric_map
            notes += [n for pattern, n in ROW_NOTES if _matches(row, pattern)]
            used.append(RuntimeMeasurement(
                line=line, runtime=runtime, backend=row["backend"], format=row["format"], format_id=format_id,
                model_id=model_id, device=None if metric == "file_bytes" else device, workload=workload,
                metric=metric, value=value * to_si, weight=TRUST_WEIGHT[row["trust"]], trust=row["trust"],
                source=row["source"], published_runtime=row["runtime"], published_device=row["device"],
                published_model=row["model"], assumptions=tuple(notes),
            ))
    return used, excluded


# --------------------------------------------------------------------------- summary


def summary_tables(used: list[RuntimeMeasurement], excluded: list[ExcludedRow]) -> list[str]:
    counts: Counter[tuple[str, str, str]] = Counter((r.runtime, r.backend, r.metric) for r in used)
    devices: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in used:
        if r.device is not None:
            devices[(r.runtime, r.backend)].add(r.device_key)
    metrics = ["decode", "prefill", "ttft", "file_bytes", "peak_rss_bytes"]
    lines = ["| runtime | backend | devices (profiles) | " + " | ".join(metrics) + " | all |",
             "|---|---|---|" + "---|" * (len(metrics) + 1)]
    for rt, be in sorted({(r.runtime, r.backend) for r in used}):
        row = [counts[(rt, be, m)] for m in metrics]
        lines.append(f"| {rt} | {be} | {len(devices[(rt, be)])} | " + " | ".join(str(n) for n in row) + f" | {sum(row)} |")
    lines.append("| **all** | | | " + " | ".join(str(sum(counts[k] for k in counts if k[2] == m)) for m in metrics) + f" | {len(used)} |")

    by_kind: Counter[str] = Counter(x.reason.kind for x in excluded)
    by_detail: Counter[tuple[str, str]] = Counter((x.reason.kind, x.reason.detail) for x in excluded)
    lines += ["", "| excluded because (first reason) | rows |", "|---|---|"]
    for kind, n in by_kind.most_common():
        lines.append(f"| **{kind}** | {n} |")
        for (k, detail), m in sorted(by_detail.items(), key=lambda kv: (-kv[1], kv[0])):
            if k == kind:
                lines.append(f"| &nbsp;&nbsp;{detail} | {m} |")
    return lines


def report(used: list[RuntimeMeasurement], excluded: list[ExcludedRow]) -> str:
    table = summary_tables(used, excluded)
    rows = ["| line | runtime/backend | format → id | model | device | metric | value (SI) | trust | assumptions |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in used:
        w = r.workload
        rows.append(f"| {r.line} | {r.runtime}/{r.backend} | {r.format[:40]} → `{r.format_id}` | {r.model_id} | {r.device_key} | "
                    f"{r.metric} (p{w.prompt_tokens}/o{w.output_tokens}/c{w.context_tokens}) | {r.value:.4g} | {r.trust} | "
                    f"{'; '.join(r.assumptions)} |")
    excl = ["| line | runtime/backend | device | model | metric | reasons |", "|---|---|---|---|---|---|"]
    for x in excluded:
        excl.append(f"| {x.line} | {x.runtime}/{x.backend} | {x.device} | {x.model} | {x.metric} | {'; '.join(map(str, x.reasons))} |")
    return "\n".join([
        "# Published runtime measurements mapped onto the catalog",
        "",
        (f"Command: `python benchmarks/runtime_published.py`. Source: `../shared/reference/runtime-measurements.csv` "
         f"({len(used) + len(excluded)} rows: {len(used)} mapped, {len(excluded)} excluded). Mapping rules: the docstring of "
         "`benchmarks/runtime_published.py`. Values in SI units (tokens/s, s, bytes); p/o/c = prompt, output and context tokens "
         "of the workload (defaults noted per row)."),
        "",
        "## Mapped rows per runtime × backend × metric, and exclusions",
        "",
        *table,
        "",
        "## Every mapped row",
        "",
        *rows,
        "",
        "## Every excluded row",
        "",
        *excl,
        "",
    ])


def main() -> int:
    catalog = load_catalog()
    used, excluded = load_runtime_rows(catalog)
    text = report(used, excluded)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(text)
    print("\n".join(summary_tables(used, excluded)))
    print(f"\n{len(used)} rows mapped, {len(excluded)} excluded; wrote {RESULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

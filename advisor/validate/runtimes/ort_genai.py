"""ONNX Runtime GenAI (``onnxruntime-genai``): twins built by its own model builder
(``python -m onnxruntime_genai.models.builder -e cpu -p int4|int8|fp32``), measured through
``og.Model`` / ``og.Generator`` on the CPU execution provider.

The builder loads the Hugging Face folder with transformers + torch (the ``ortgenai-build``
extra); running a built model needs only onnxruntime-genai, and reading its layout only ``onnx``
(the ``ortgenai`` extra). The folder holds ``model.onnx`` (the graph), ``model.onnx.data`` (the
initializers, as ONNX external data) and ``genai_config.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    atomic_dir,
    hf_twin,
    run_child,
    run_tool,
    runtime_missing,
)

NAME = "ort-genai"
EXTRA = "ortgenai"
BUILD_EXTRA = "ortgenai-build"

#: format name → (builder precision, extra options). int4 and int8 are MatMulNBits weight-only
#: quantization at the builder's default block size (32) and its CPU default accuracy_level 4.
FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    "fp32": ("fp32", {}),
    "int8": ("int8", {}),
    "int4": ("int4", {}),
    "int4-block64": ("int4", {"block_size": "64"}),
    "int4-block128": ("int4", {"block_size": "128"}),
}

#: ONNX TensorProto.DataType → (name, bytes per element); int4/uint4 are packed two per byte.
ONNX_DTYPES: dict[int, tuple[str, float]] = {
    1: ("float", 4), 2: ("uint8", 1), 3: ("int8", 1), 4: ("uint16", 2), 5: ("int16", 2), 6: ("int32", 4),
    7: ("int64", 8), 9: ("bool", 1), 10: ("float16", 2), 11: ("double", 8), 12: ("uint32", 4),
    13: ("uint64", 8), 16: ("bfloat16", 2), 21: ("uint4", 0.5), 22: ("int4", 0.5),
}


def require() -> dict[str, str]:
    """Version of onnxruntime-genai, or the error naming the install command."""
    try:
        import onnxruntime_genai as og
    except ImportError:
        raise runtime_missing("onnxruntime-genai", EXTRA, "ONNX Runtime GenAI") from None
    return {"onnxruntime_genai": og.__version__}


def require_builder() -> None:
    """The builder needs torch, transformers, onnx and onnx_ir besides onnxruntime-genai."""
    require()
    for module, package in (("torch", "torch"), ("transformers", "transformers"), ("onnx", "onnx"), ("onnx_ir", "onnx-ir")):
        try:
            __import__(module)
        except ImportError:
            raise runtime_missing(package, BUILD_EXTRA, "ONNX Runtime GenAI (model builder)") from None


def check_format(fmt: str) -> tuple[str, dict[str, str]]:
    from advisor.errors import BadInputError

    if fmt not in FORMATS:
        raise BadInputError(f"unknown ONNX Runtime GenAI format '{fmt}'; valid: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def build(model: ModelSpec, fmt: str, cache_dir: Path, *, context: int | None = None, timeout_s: float = 3600) -> Path:
    """The ``fmt`` CPU twin of ``model`` (cached), built by onnxruntime-genai's model builder.

    ``context`` overrides ``max_position_embeddings`` in the source config: the builder sizes its
    rotary cos/sin tables and ``genai_config`` ``context_length`` from it.
    """
    precision, extra = check_format(fmt)
    require_builder()
    src = hf_twin(model, cache_dir) if context is None else _hf_twin_with_context(model, cache_dir, context)
    final = Path(cache_dir) / f"ortgenai-{src.name.removeprefix('hf-')}-{fmt}"

    def convert(tmp: Path) -> None:
        work = tmp.parent / (tmp.name + ".work")
        argv = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(src), "-o", str(tmp),
                "-p", precision, "-e", "cpu", "-c", str(work)]
        if extra:
            argv += ["--extra_options", *(f"{k}={v}" for k, v in extra.items())]
        try:
            run_tool(argv, what=f"onnxruntime-genai model builder ({fmt})", timeout_s=timeout_s)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return atomic_dir(final, convert)


def _hf_twin_with_context(model: ModelSpec, cache_dir: Path, context: int) -> Path:
    return hf_twin(model.model_copy(update={"max_position_embeddings": context}), cache_dir)


def tensor_layout(folder: Path) -> list[TensorLayout]:
    """Every initializer of ``model.onnx`` (name, ONNX dims, dtype, bytes), read from the graph
    without loading the external data; bytes are the external-data ``length`` the builder wrote,
    else the raw data, checked against dims × dtype size."""
    try:
        import onnx
    except ImportError:
        raise runtime_missing("onnx", EXTRA, "ONNX Runtime GenAI layout") from None
    folder = Path(folder)
    cfg = genai_config(folder)
    filename = cfg["model"]["decoder"]["filename"]
    proto = onnx.load(str(folder / filename), load_external_data=False)
    return onnx_initializer_layout(proto.graph.initializer, filename)


def onnx_initializer_layout(initializers: Any, filename: str = "") -> list[TensorLayout]:
    from advisor.errors import RunError

    out = []
    for init in initializers:
        dims = tuple(int(d) for d in init.dims)
        dtype, itemsize = ONNX_DTYPES.get(init.data_type, (f"onnx-type-{init.data_type}", 0))
        n = 1
        for d in dims:
            n *= d
        expected = int(n * itemsize + 0.5) if itemsize else None
        external = {e.key: e.value for e in init.external_data}
        if "length" in external:
            nbytes, where = int(external["length"]), external.get("location", "")
        elif init.raw_data:
            nbytes, where = len(init.raw_data), filename
        else:
            nbytes, where = expected or 0, filename
        if expected is not None and nbytes != expected:
            raise RunError(f"{filename}: initializer {init.name} holds {nbytes} bytes, dims {dims} × {itemsize} say {expected}")
        out.append(TensorLayout(init.name, dims, dtype, nbytes, where))
    return out


def genai_config(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "genai_config.json").read_text())


def matmulnbits_attributes(folder: Path) -> list[dict[str, Any]]:
    """bits, block_size, accuracy_level, K, N of every MatMulNBits node (the quantized matmuls)."""
    import onnx

    folder = Path(folder)
    proto = onnx.load(str(folder / genai_config(folder)["model"]["decoder"]["filename"]), load_external_data=False)
    out = []
    for node in proto.graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            out.append({"node": node.name, "inputs": list(node.input), **attrs})
    return out


CHILD = r"""
import onnxruntime_genai as og
rss_after_imports = current_rss()
t0 = time.perf_counter()
config = og.Config(args["folder"])
if args.get("threads"):
    config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": args["threads"]}}}}))
model = og.Model(config)
load_s = time.perf_counter() - t0
rss_after_load = current_rss()
vocab = args["vocab_size"]
prompt = token_ids(args["prompt_tokens"], vocab, 7919)
max_length = args["max_length"] or args["prompt_tokens"] + args["output_tokens"] + 8
def run_once(n_prompt, n_gen):
    params = og.GeneratorParams(model)
    # greedy, and never stop early on a random model's end-of-sequence token
    params.set_search_options(max_length=max_length, min_length=max_length, do_sample=False)
    gen = og.Generator(model, params)
    t = time.perf_counter()
    gen.append_tokens(prompt[:n_prompt])  # runs the prompt through the model (logits computed)
    dt_prefill = time.perf_counter() - t
    gen.generate_next_token()  # samples from the prompt's logits; no model call
    t = time.perf_counter()
    for _ in range(n_gen):
        gen.generate_next_token()  # one model call on the last token, then a sample
    dt_decode = time.perf_counter() - t
    return dt_prefill, dt_decode
run_once(min(8, args["prompt_tokens"]), 1)  # warm-up
prefill, decode = [], []
for _ in range(args["repeats"]):
    dp, dd = run_once(args["prompt_tokens"], args["output_tokens"])
    prefill.append(args["prompt_tokens"] / dp)
    decode.append(args["output_tokens"] / dd)
emit({"load_s": load_s, "prefill_tokens_per_s": spread(prefill), "decode_tokens_per_s": spread(decode),
      "max_length": max_length, "rss_after_imports_bytes": rss_after_imports, "rss_after_load_bytes": rss_after_load,
      "versions": {"onnxruntime_genai": og.__version__}})
"""


def measure(folder: Path, settings: MeasureSettings | None = None) -> dict[str, Any]:
    """Load time, prefill/decode tokens/s (median, min, max, samples) and peak RSS from a child
    process. The KV cache is allocated for ``max_length`` tokens when the generator is created
    (``past_present_share_buffer``), so ``settings.max_length`` sets its size."""
    settings = settings or MeasureSettings()
    require()
    cfg = genai_config(folder)
    args = {"folder": str(folder), "vocab_size": cfg["model"]["vocab_size"], **settings.to_json()}
    out = run_child(CHILD, args, what="ONNX Runtime GenAI run", timeout_s=settings.timeout_s)
    out["kv_cache_bytes"] = kv_cache_bytes(cfg, out["max_length"])
    out["kv_cache_tokens"] = out["max_length"]
    return out


#: Bytes per KV element for the model's activation dtype: the CPU builder's fp32 and int4/int8
#: models keep fp32 activations (``io_dtype`` float), so their past/present tensors are fp32.
KV_ITEMSIZE_CPU = 4


def kv_cache_bytes(cfg: dict[str, Any], max_length: int, itemsize: int = KV_ITEMSIZE_CPU) -> int:
    """2 (K and V) × layers × KV heads × head size × max_length × itemsize: the shared
    past/present buffer the generator allocates for a batch of one."""
    d = cfg["model"]["decoder"]
    return 2 * d["num_hidden_layers"] * d["num_key_value_heads"] * d["head_size"] * max_length * itemsize

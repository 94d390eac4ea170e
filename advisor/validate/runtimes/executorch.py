"""ExecuTorch (``executorch``, XNNPACK backend on the CPU): twins exported by ExecuTorch's own LLM
exporter (``executorch.examples.models.llama.export_llama``: ``-kv --use_sdpa_with_kv_cache -X
-qmode … -G …``, as its README's XNNPACK recipes), measured through its Python runtime
(``executorch.extension.pybindings.portable_lib``) in a child process.

The exporter builds its own Llama ``Transformer`` from a params JSON (``dim``, ``hidden_dim``,
``n_heads`` …, written here from the catalog model) and, given no checkpoint, initialises it
with random weights: nothing is downloaded. (``--model llama3`` is passed for every architecture:
for the ids that name a Hugging Face repo — ``smollm2``, ``qwen2_5_0_5b`` … — the exporter would
download the checkpoint when none is given; the architecture itself comes from the params JSON.)
``--xnnpack-extended-ops`` (the config YAMLs' ``extended_ops: True``) is not passed, as in the
README's export_llama command lines: only the linears are delegated, and the rest runs on the
runtime's own kernels (an etdump of SmolLM2 8da8w here: of 15–22 ms per decoded token, 5–8 ms in
the 30 non-delegated ``sigmoid.out`` calls of the SwiGLU; with the flag, 0.3 ms). The weights are the
same either way.

The folder holds ``model.pte``, ``params.json`` and ``export.json`` (the exporter's arguments).
``tensor_layout`` reads the ``.pte`` without running it: the program flatbuffer (behind the
extended header), the constant tensors of the program (embedding, norms, rotary tables: sizes and
dtypes from their ``Tensor`` values, bytes = sizes × element size), and every XNNPACK delegate's
own flatbuffer (``XNNGraph``): each constant ``XValue``'s dims and XNNPACK datatype, the bytes of
its ``ConstantDataOffset`` in the program's named data, and the bytes of its per-group or
per-channel scales (a named-data entry of their own). What it cannot read: tensor names — neither
the program nor the XNNGraph keeps the module's parameter names for constants — so each tensor is
named by its role, inferred from its shape and the model's dimensions (``layers.?.attention.wq``:
the layer index is not recoverable either), and named data shared by identical tensors (the
random init's all-ones norms: one buffer) is listed once per tensor that uses it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError, RunError
from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    architecture_key,
    atomic_dir,
    check_supported,
    run_child,
    run_tool,
    runtime_missing,
)

NAME = "executorch"
EXTRA = "executorch"

#: format name (catalog/runtimes.toml) → (export_llama ``-qmode``, ``-G`` group size, ``-E``
#: embedding quantization or None). The group sizes are the catalog formats' (8da4w: the
#: exporter's own default, 128, quantize.py). ``8da8w`` is a mode of the exporter's
#: ``quantize()`` (int8 weights, per channel with group 0) that its CLI's ``-qmode`` check does
#: not list, so it is passed through the same exporter's Python entry point (``export_llama``).
#: Not here: the SpinQuant/QAT recipes (``8da4w-g32-emb8``: their int8 lm_head needs a
#: pre-quantized checkpoint) and the weight-only ``4w``/``int8``, which XNNPACK does not delegate.
FORMATS: dict[str, tuple[str, int, str | None]] = {
    "8da4w": ("8da4w", 128, None),
    "8da4w-g256": ("8da4w", 256, None),
    "8da4w-g128-emb4": ("8da4w", 128, "4,32"),
    "8da4w-g256-emb4": ("8da4w", 256, "4,32"),
    "8da8w": ("8da8w", 0, None),
}

#: The exported maximum sequence and context length (the KV cache is static, fixed at export):
#: enough for a 128-token prompt and 32 generated tokens; the rotary tables are this long too.
DEFAULT_CONTEXT = 256

#: rope_theta of the real checkpoints (does not change any size).
_ROPE_THETA = {"llama": 500_000.0, "qwen2": 1_000_000.0, "qwen3": 1_000_000.0}

#: ExecuTorch ScalarType (exir/scalar_type.fbs) → (name, bytes per element).
SCALAR_TYPES: dict[int, tuple[str, int]] = {
    0: ("uint8", 1), 1: ("int8", 1), 2: ("int16", 2), 3: ("int32", 4), 4: ("int64", 8), 5: ("float16", 2),
    6: ("float32", 4), 7: ("float64", 8), 11: ("bool", 1), 15: ("bfloat16", 2),
}

#: XNNPACK datatypes (backends/xnnpack/serialization/schema.fbs) → (name, bits per element).
#: qbint4 (blockwise) and qcint4 (channelwise) pack two values per byte.
XNN_DATATYPES: dict[str, tuple[str, int]] = {
    "xnn_datatype_fp32": ("fp32", 32), "xnn_datatype_fp16": ("fp16", 16), "xnn_datatype_bf16": ("bf16", 16),
    "xnn_datatype_qint8": ("qint8", 8), "xnn_datatype_quint8": ("quint8", 8), "xnn_datatype_qint32": ("qint32", 32),
    "xnn_datatype_qcint8": ("qcint8", 8), "xnn_datatype_qcint32": ("qcint32", 32), "xnn_datatype_qcint4": ("qcint4", 4),
    "xnn_datatype_qdint8": ("qdint8", 8), "xnn_datatype_qbint4": ("qbint4", 4), "xnn_datatype_qpint8": ("qpint8", 8),
    "xnn_datatype_int32": ("int32", 32),
}


def require() -> dict[str, str]:
    """Versions of executorch, torch and torchao, or the error naming the install command."""
    try:
        import executorch
        import torch
        import torchao
    except ImportError:
        raise runtime_missing("executorch", EXTRA, "ExecuTorch") from None
    from executorch.version import __version__ as et_version

    del executorch
    return {"executorch": et_version, "torch": torch.__version__, "torchao": torchao.__version__}


def check_format(fmt: str) -> tuple[str, int, str | None]:
    if fmt not in FORMATS:
        raise BadInputError(f"unknown ExecuTorch format '{fmt}'; valid: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def params_json(model: ModelSpec) -> dict[str, Any]:
    """The params JSON ExecuTorch's ``ModelArgs`` reads (the keys of its examples'
    ``*_config.json``): the catalog model's dimensions, QKV biases (Qwen2) and q/k norms (Qwen3)."""
    check_supported(model)
    params: dict[str, Any] = {
        "dim": model.hidden_size, "hidden_dim": model.ffn_size, "n_heads": model.n_heads,
        "n_kv_heads": model.n_kv_heads, "head_dim": model.head_dim, "n_layers": model.n_layers,
        "vocab_size": model.vocab_size, "norm_eps": 1e-6 if model.gguf_arch != "llama" else 1e-5,
        "rope_theta": _ROPE_THETA[model.gguf_arch], "use_scaled_rope": False,
        "use_hf_rope": model.gguf_arch != "llama", "attention_qkv_bias": bool(model.attn_bias),
    }
    if model.qk_norm:
        params.update(use_qk_norm=True, qk_norm_before_rope=True)
    return params


def export_argv(params_path: Path, out_dir: Path, fmt: str, context: int) -> list[str]:
    """The ``export_llama`` command line of ``fmt`` (its CLI's own flags)."""
    qmode, group, emb = check_format(fmt)
    argv = ["--model", "llama3", "-p", str(params_path), "-kv", "--use_sdpa_with_kv_cache", "-X",
            "-qmode", "8da4w" if qmode == "8da8w" else qmode, "-G", str(group), "-d", "fp32",
            "--max_seq_length", str(context), "--max_context_length", str(context),
            "-o", str(out_dir), "-n", "model", "--metadata", '{"get_bos_id":1,"get_eos_ids":[2]}']
    if emb:
        argv += ["-E", emb]
    return argv


# Runs the exporter as export_llama.py's main() does (seed 42, its argument parser), except that
# the quantization mode is set after parsing: -qmode's check does not list 8da8w, which the
# exporter's quantize() implements.
EXPORT_DRIVER = r"""
import json, logging, sys
logging.basicConfig(level=logging.INFO)
import torch
from executorch.examples.models.llama.export_llama_lib import build_args_parser, export_llama
from executorch.extension.llm.export.config.llm_config import LlmConfig
sys.setrecursionlimit(4096)
torch.manual_seed(42)
spec = json.loads(sys.argv[1])
config = LlmConfig.from_args(build_args_parser().parse_args(spec["argv"]))
config.quantization.qmode = spec["qmode"]
print("exported", export_llama(config))
"""


def build(model: ModelSpec, fmt: str, cache_dir: Path, *, context: int = DEFAULT_CONTEXT, timeout_s: float = 3600) -> Path:
    """The ``fmt`` XNNPACK twin of ``model`` (cached), exported by ExecuTorch's LLM exporter with
    random weights for ``context`` tokens (max_seq_length = max_context_length)."""
    qmode, _, _ = check_format(fmt)
    require()
    final = Path(cache_dir) / f"executorch-{model.gguf_arch}-{architecture_key(model)}-{fmt}-ctx{context}"

    def export(tmp: Path) -> None:
        (tmp / "params.json").write_text(json.dumps(params_json(model), indent=1))
        argv = export_argv(Path("params.json"), Path("."), fmt, context)  # relative to cwd=tmp
        spec = {"argv": argv, "qmode": qmode}
        run_tool([sys.executable, "-c", EXPORT_DRIVER, json.dumps(spec)], what=f"ExecuTorch export_llama ({fmt})",
                 timeout_s=timeout_s, cwd=tmp)
        if not (tmp / "model.pte").is_file():
            raise RunError(f"ExecuTorch export_llama ({fmt}) wrote no model.pte")
        (tmp / "export.json").write_text(json.dumps(
            {"exporter": "executorch.examples.models.llama.export_llama", "argv": argv, "qmode": qmode,
             "context": context, "versions": require()}, indent=1))
        for stray in tmp.glob("*.etrecord"):
            stray.unlink()

    return atomic_dir(final, export)


# --------------------------------------------------------------------------- reading the .pte


def read_program(path: Path) -> tuple[Any, int]:
    """(the ``Program`` dataclass, segment base offset) of a .pte, read by ExecuTorch's own
    flatbuffer reader; segment data stays in the file."""
    from executorch.exir._serialize._flatbuffer_program import _flatbuffer_to_program
    from executorch.exir._serialize._program import _get_extended_header

    with open(path, "rb") as fh:
        head = fh.read(256)
        header = _get_extended_header(head)
        if header is None or not header.is_valid():
            raise RunError(f"{path}: no valid extended header (eh00): not an ExecuTorch program with segments")
        fh.seek(0)
        flat = fh.read(header.program_size)
    return _flatbuffer_to_program(flat), header.segment_base_offset


def _segment(path: Path, program: Any, segment_base: int, index: int) -> bytes:
    seg = program.segments[index]
    with open(path, "rb") as fh:
        fh.seek(segment_base + seg.offset)
        return fh.read(seg.size)


def xnngraph_json(payload: bytes) -> dict[str, Any]:
    """The ``XNNGraph`` of an XNNPACK delegate payload (``XH00`` header + flatbuffer), decoded to
    JSON by the flatc and schema.fbs that ship with executorch."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader, _get_schema_bytes
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    header = XNNHeader.from_bytes(payload[:XNNHeader.EXPECTED_LENGTH])
    flat = payload[header.flatbuffer_offset:header.flatbuffer_offset + header.flatbuffer_size]
    with tempfile.TemporaryDirectory() as d:
        schema = os.path.join(d, "schema.fbs")
        Path(schema).write_bytes(_get_schema_bytes())
        binary = os.path.join(d, "graph.bin")
        Path(binary).write_bytes(flat)
        _flatc_decompile(d, schema, binary, ["--raw-binary"])
        return json.loads(Path(d, "graph.json").read_text())


class _Namer:
    """Names a tensor by its role, from its shape and the model's dimensions (the file keeps no
    parameter names for constants). Shapes are PyTorch's ``(out, in)``."""

    def __init__(self, params: dict[str, Any]) -> None:
        d, f, v = params["dim"], params["hidden_dim"], params["vocab_size"]
        hd = params.get("head_dim") or d // params["n_heads"]
        q, kv = params["n_heads"] * hd, params["n_kv_heads"] * hd
        self.matrices = {
            (v, d): "lm_head", (q, d): "layers.?.attention.wq", (kv, d): "layers.?.attention.wk_wv",
            (d, q): "layers.?.attention.wo", (f, d): "layers.?.feed_forward.w1_w3", (d, f): "layers.?.feed_forward.w2",
        }
        if (q, d) == (d, q):
            self.matrices[(d, d)] = "layers.?.attention.wq_wo"
        self.vectors = {d: "layers.?.norm", hd: "layers.?.attention.qk_norm"}
        if params.get("attention_qkv_bias"):
            self.bias = {q: "layers.?.attention.wq:bias", kv: "layers.?.attention.wk_wv:bias"}
        else:
            self.bias = {}
        # cos and sin of max_context_length positions × head_dim/2 (HF-style rope: × head_dim)
        self.rope = params.get("_context"), hd if params.get("use_hf_rope") else hd // 2
        self.vocab, self.dim = v, d

    def name(self, shape: tuple[int, ...], *, delegated: bool) -> str:
        if len(shape) == 2 and not delegated and shape == (self.vocab, self.dim):
            return "tok_embeddings"
        if len(shape) == 2 and shape == self.rope and not delegated:
            return "rotary.freqs_cos_sin"
        if len(shape) == 2 and shape in self.matrices:
            return self.matrices[shape]
        if len(shape) == 1 and delegated and shape[0] in self.bias:
            return self.bias[shape[0]]
        if len(shape) == 1 and shape[0] in self.vectors:
            return self.vectors[shape[0]]
        if not shape:
            return "scalar"  # a 0-d constant of the graph (one per RMSNorm here)
        return "unknown"


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def program_layout(folder: Path) -> tuple[list[TensorLayout], dict[str, Any]]:
    """(every constant tensor of ``model.pte``, what the file says about itself).

    Program constants: one ``TensorLayout`` per ``Tensor`` value with constant data
    (``data_buffer_idx`` > 0, no memory-planned allocation), bytes = sizes × element size.
    XNNPACK constants: one per ``XValue`` with constant data — its weight (bytes = the named-data
    entry's size, checked against dims × bits) and, for quantized values, its scales (the named
    entry of ``scale_buffer_idx``). Details: segment and named-data totals, the delegates, the
    planned (non-constant) memory, the quantized datatypes with their group sizes.
    """
    folder = Path(folder)
    path = folder / "model.pte"
    params = json.loads((folder / "params.json").read_text())
    context = json.loads((folder / "export.json").read_text()).get("context")
    namer = _Namer({**params, "_context": context})
    program, segment_base = read_program(path)
    plan = program.execution_plan[0]
    named_sizes = {nd.key: program.segments[nd.segment_index].size for nd in (program.named_data or [])}
    out: list[TensorLayout] = []
    counters: dict[str, int] = {}

    def add(name: str, shape: tuple[int, ...], dtype: str, nbytes: int, where: str, part: str = "weight") -> None:
        """``name#i.part``: the i-th tensor of that role (a bias's role ends in ``:bias``)."""
        base, _, own_part = name.partition(":")
        key = f"{base}.{own_part or part}"
        i = counters.get(key, 0)
        counters[key] = i + 1
        out.append(TensorLayout(f"{base}#{i}.{own_part or part}", shape, dtype, nbytes, where))

    const_tensors, const_buffers = 0, set()
    for value in plan.values:
        t = getattr(value, "val", None)
        if type(t).__name__ != "Tensor" or t.data_buffer_idx <= 0 or t.allocation_info is not None:
            continue
        const_buffers.add(t.data_buffer_idx)
        dtype, size = SCALAR_TYPES.get(int(t.scalar_type), (f"scalar-type-{int(t.scalar_type)}", 0))
        shape = tuple(int(s) for s in t.sizes)
        add(namer.name(shape, delegated=False), shape, dtype, _prod(shape) * size, "program")
        const_tensors += 1

    delegates, quant_kinds = [], {}
    for di, delegate in enumerate(plan.delegates):
        ref = delegate.processed
        if int(ref.location) == 1:  # SEGMENT
            payload = _segment(path, program, segment_base, ref.index)
        else:
            payload = bytes(program.backend_delegate_data[ref.index].data)
        if "xnnpack" not in delegate.id.lower():
            delegates.append({"id": delegate.id, "payload_bytes": len(payload)})
            continue
        graph = xnngraph_json(payload)
        consts = graph.get("constant_data") or []
        n_values = 0
        for xv in graph.get("xvalues", []):
            kind, body = xv.get("xvalue_union_type"), xv.get("xvalue_union") or {}
            tv = body.get("tensor_value", body) if kind == "XNNQuantizedTensorValue" else body
            idx = int(tv.get("constant_buffer_idx", 0))
            if idx <= 0:
                continue
            dtype, bits = XNN_DATATYPES.get(tv.get("datatype"), (str(tv.get("datatype")), 0))
            shape = tuple(int(s) for s in tv.get("dims", []))
            entry = consts[idx]
            nbytes = named_sizes.get(entry.get("named_key"), int(entry.get("size", 0)))
            if bits and nbytes != (_prod(shape) * bits + 7) // 8:
                raise RunError(f"model.pte: XNNPACK constant {entry.get('named_key')} holds {nbytes} bytes, dims {shape} × {bits} bits say otherwise")
            name = namer.name(shape, delegated=True)
            add(name, shape, dtype, nbytes, f"xnnpack{di}")
            n_values += 1
            if kind == "XNNQuantizedTensorValue":
                qtype, q = body.get("quant_params_type"), body.get("quant_params") or {}
                sidx = int(q.get("scale_buffer_idx", -1))
                group = int(q.get("group_size", 0)) if qtype == "PerChannelGroupQuant" else 0
                if sidx > 0:
                    s_entry = consts[sidx]
                    s_bytes = named_sizes.get(s_entry.get("named_key"), int(s_entry.get("size", 0)))
                    n_scales = int(q.get("num_scales", 0)) or 1
                    s_dtype = {2: "bf16", 4: "fp32"}.get(s_bytes // n_scales, f"{8 * s_bytes // n_scales}-bit")
                    s_shape = (shape[0], n_scales // shape[0]) if shape and n_scales % shape[0] == 0 else (n_scales,)
                    add(name, s_shape, s_dtype, s_bytes, f"xnnpack{di}", part="scales")
                    key = f"{dtype} {qtype} group {group} scales {s_dtype}"
                else:
                    key = f"{dtype} {qtype}"
                quant_kinds[key] = quant_kinds.get(key, 0) + 1
        delegates.append({"id": delegate.id, "payload_bytes": len(payload), "constant_values": n_values,
                          "xnodes": len(graph.get("xnodes", []))})
    details = {
        "segments_bytes": sum(s.size for s in program.segments),
        "named_data_entries": len(named_sizes), "named_data_bytes": sum(named_sizes.values()),
        # the emitter stores identical constants once (the random init's all-ones norms): a real
        # checkpoint's file holds one buffer per tensor
        "program_constant_tensors": const_tensors, "program_constant_buffers": len(const_buffers),
        "program_constant_segment_bytes": program.segments[program.constant_segment.segment_index].size
        if program.constant_segment.offsets else 0,
        "delegates": delegates,
        "quantized_values": [{"kind": k, "count": n} for k, n in sorted(quant_kinds.items())],
        "planned_memory_bytes": sum(int(b) for b in plan.non_const_buffer_sizes[1:]),
        "operators": sorted({f"{op.name}.{op.overload}" if op.overload else op.name for op in plan.operators}),
    }
    return out, details


def tensor_layout(folder: Path) -> list[TensorLayout]:
    """Every constant tensor of ``model.pte``: program constants and XNNPACK weights with their
    scales (``program_layout``)."""
    return program_layout(folder)[0]


def format_details(folder: Path) -> dict[str, Any]:
    """The exporter's arguments and what the .pte says about itself (``program_layout``)."""
    folder = Path(folder)
    export = json.loads((folder / "export.json").read_text())
    # the twin was exported in a temporary folder: its paths, as the folder's own names
    export["argv"] = [a if not a.startswith("/") else Path(a).name if (folder / Path(a).name).is_file() else "."
                      for a in export["argv"]]
    return {"export": export, "params": json.loads((folder / "params.json").read_text()), **program_layout(folder)[1]}


CHILD = r"""
import torch
from executorch.extension.llm.custom_ops import custom_ops  # registers llama::custom_sdpa / update_cache
from executorch.extension.pybindings import portable_lib as pl
from executorch.version import __version__ as et_version
rss_after_imports = current_rss()
if args.get("threads"):
    pl._unsafe_reset_threadpool(args["threads"])
t0 = time.perf_counter()
program = pl._load_program(args["pte"])  # the file (mmap)
load_program_s = time.perf_counter() - t0
method = program.load_method("forward")  # memory planned, XNNPACK delegates initialised (weights packed)
load_s = time.perf_counter() - t0
rss_after_load = current_rss()
vocab = args["vocab_size"]
prompt = token_ids(args["prompt_tokens"], vocab, 7919)
gen = token_ids(args["output_tokens"], vocab, 104729)
def run_once(n_prompt, n_gen):
    # the KV cache is static and lives in the program: restarting at position 0 overwrites it
    t = time.perf_counter()
    logits = method.call((torch.tensor([prompt[:n_prompt]], dtype=torch.long), torch.tensor([0], dtype=torch.long)))[0]
    dt_prefill = time.perf_counter() - t
    t = time.perf_counter()
    for i, tok in enumerate(gen[:n_gen]):
        logits = method.call((torch.tensor([[tok]], dtype=torch.long), torch.tensor([n_prompt + i], dtype=torch.long)))[0]
    dt_decode = time.perf_counter() - t
    return dt_prefill, dt_decode, logits
run_once(min(8, args["prompt_tokens"]), 1)  # warm-up
prefill, decode = [], []
for _ in range(args["repeats"]):
    dp, dd, logits = run_once(args["prompt_tokens"], args["output_tokens"])
    prefill.append(args["prompt_tokens"] / dp)
    decode.append(args["output_tokens"] / dd)
emit({"load_s": load_s, "load_program_s": load_program_s, "prefill_tokens_per_s": spread(prefill), "decode_tokens_per_s": spread(decode),
      "logits_shape": list(logits.shape), "threads": pl._threadpool_get_thread_count(),
      "rss_after_imports_bytes": rss_after_imports, "rss_after_load_bytes": rss_after_load,
      "versions": {"executorch": et_version, "torch": torch.__version__}})
"""


def kv_cache_bytes(params: dict[str, Any], context: int, itemsize: int = 4) -> int:
    """2 (K and V) × layers × KV heads × head dim × context × itemsize: the static cache the
    exporter's ``KVCache`` allocates as mutable buffers for ``max_context_length`` tokens, in
    the model dtype (fp32 here, ``-d fp32``)."""
    hd = params.get("head_dim") or params["dim"] // params["n_heads"]
    return 2 * params["n_layers"] * params["n_kv_heads"] * hd * context * itemsize


def measure(folder: Path, settings: MeasureSettings | None = None) -> dict[str, Any]:
    """Load time, prefill/decode tokens/s (median, min, max, samples), peak RSS and the static KV
    cache, from a child process running the .pte through ExecuTorch's Python runtime (XNNPACK
    delegate + its optimized and custom kernels)."""
    settings = settings or MeasureSettings()
    require()
    folder = Path(folder)
    params = json.loads((folder / "params.json").read_text())
    context = json.loads((folder / "export.json").read_text())["context"]
    if settings.prompt_tokens + settings.output_tokens > context:
        raise BadInputError(f"the twin was exported for {context} tokens; prompt + output ({settings.prompt_tokens} + "
                            f"{settings.output_tokens}) do not fit")
    args = {"pte": str(folder / "model.pte"), "vocab_size": params["vocab_size"], **settings.to_json()}
    out = run_child(CHILD, args, what="ExecuTorch run", timeout_s=settings.timeout_s)
    out["kv_cache_bytes"] = kv_cache_bytes(params, context)
    out["kv_cache_tokens"] = context
    return out

"""Runtimes as a dimension: which runtime × backend × format can run on a device, and the terms
of a model in a non-GGUF runtime format (weights tensor by tensor, KV cache in the runtime's
dtype and allocation, buffers, overhead) for the one evaluation path (``engine.core``).

llama.cpp keeps its own, measured path (``core.candidate_row``: the GGUF per-tensor mix, padded
KV cells, llama.cpp's compute buffer). Every other runtime is described by data
(``catalog/runtimes.toml``) and goes through ``runtime_candidate_row`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from advisor.engine import empirical, runtime_weights
from advisor.engine.speed import COPY_FAMILIES, REPACK_FAMILIES
from advisor.engine.core import model_terms
from advisor.engine.derived import WeightTerms
from advisor.engine.tensors import LayerSums, Tensor, is_expert_tensor
from advisor.records import DeviceProfile, FileType, ModelSpec, Reason, Workload

LLAMA_CPP = "llama.cpp"

#: Bytes per stored value of a KV cache or activation dtype.
DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "int16": 2, "int8": 1}

#: Logits are computed in f32 by every runtime read (MLC logit processor, MLX, ORT GenAI io dtype
#: f32 on CPU); activations in the format's activation dtype.
LOGITS_BYTES = 4


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to run a model: a runtime, one of its backends, one of its formats (a GGUF file
    type for llama.cpp)."""

    runtime: Any  # records.Runtime
    backend: Any  # records.RuntimeBackend
    format: Any  # records.FileType (llama.cpp) or records.RuntimeFormat
    #: the backend was named by the user (--backend): a RAM-only device's peers run it too, rather
    #: than each its own default (``peer_variant``)
    pinned: bool = False

    @property
    def runtime_id(self) -> str:
        return self.runtime.id

    @property
    def backend_id(self) -> str:
        return self.backend.id

    @property
    def format_id(self) -> str:
        return self.format.id

    @property
    def is_gguf(self) -> bool:
        return isinstance(self.format, FileType)

    @property
    def is_llama_cpp(self) -> bool:
        """llama.cpp itself: its own, measured execution paths (cpu-arm, metal, cuda, …)."""
        return self.runtime.id == LLAMA_CPP

    @property
    def on_accelerator(self) -> bool:
        return self.backend.kind in ("gpu", "npu")

    @property
    def path(self) -> str:
        """Calibration key of a non-llama.cpp variant: ``runtime:backend``."""
        return f"{self.runtime.id}:{self.backend.id}"


def best_backend(backends: Sequence[Any]) -> Any | None:
    """The backend a runtime uses by default on a device (of ``Runtime.usable_backends``): an
    accelerator over the CPU (GPU, then NPU), in the order given."""
    order = {"gpu": 0, "npu": 1, "cpu": 2}
    return min(backends, key=lambda b: order[b.kind]) if backends else None


def default_backend(runtime: Any, backends: Sequence[Any], wants: Callable[[Any], bool] | None = None) -> Any | None:
    """The backend ``runtime`` uses by default among ``backends`` (usable ones, best first): the
    best (``best_backend``) of those with a format of its own that ``wants`` accepts (any format
    when None), so a backend the catalog gives no format (ExecuTorch's Core ML or WebGPU today)
    is never the default while another runs the model. None: no backend has such a format."""
    if runtime.formats_from != "gguf":
        backends = [b for b in backends if any(wants is None or wants(f) for f in runtime.formats_for(b.id))]
    return best_backend(backends)


def formats_of(runtime: Any, backend: Any, gguf_types: Iterable[FileType]) -> list[Any]:
    if runtime.formats_from == "gguf":
        return list(gguf_types)
    return list(runtime.formats_for(backend.id))


# --------------------------------------------------------------------------- memory terms


def weight_terms(model: ModelSpec, fmt: Any, inventory: Sequence[Tensor]) -> WeightTerms:
    """Σ per-tensor bytes in the runtime's format, plus rotary tables the format stores."""
    rows = runtime_weights.per_tensor_bytes(inventory, fmt, tied=model.tied_embeddings)
    total, lookup = runtime_weights.weights_and_lookup(rows, tied=model.tied_embeddings)
    experts = sum(b for t, _, b in rows if is_expert_tensor(t))
    held, transient = runtime_weights.load_copy_bytes(rows, fmt, tied=model.tied_embeddings)
    return WeightTerms(total + rotary_cache_bytes(model, fmt), lookup, experts, load_copy_bytes=held, load_transient_bytes=transient)


def rotary_cache_bytes(model: ModelSpec, fmt: Any) -> int:
    """cos and sin tables of max_position_embeddings × head_dim/2 values (ORT GenAI stores them in
    the model file: 8 MiB in fp32 for Qwen2.5-0.5B's 32,768 positions × 32)."""
    bits = getattr(fmt, "rotary_cache_bits", 0)
    return 2 * model.max_position_embeddings * (model.head_dim // 2) * bits // 8


def kv_dtype(runtime: Any, fmt: Any, backend: Any = None) -> str:
    """The KV cache dtype of ``runtime`` in ``fmt`` on ``backend``: the backend's own where it has
    one (LiteRT-LM's CPU: f32), else the runtime's ("activation": the format's activation dtype)."""
    dtype = getattr(backend, "kv_dtype", None) or runtime.kv.dtype
    return fmt.activation_dtype if dtype == "activation" else dtype


def kv_dtype_bytes(runtime: Any, fmt: Any, backend: Any = None) -> int:
    return DTYPE_BYTES[kv_dtype(runtime, fmt, backend)]


def kv_cache_bytes(sums: LayerSums, window: int, context: int, bytes_per_value: int) -> int:
    """K and V for ``context`` tokens: 2 × (context × Σ_global kv_dims + min(context, window) ×
    Σ_swa kv_dims) × bytes per value; ``window`` 0: sliding-window layers hold the whole context
    too. No cell padding (runtimes allocate per token or per page)."""
    local = min(context, window) if window else context
    return int(2 * (context * sums.global_kv_dims + local * sums.swa_kv_dims) * bytes_per_value)


def kv_read_bytes(sums: LayerSums, window: int, position: float, bytes_per_value: int) -> float:
    local = min(position, window) if window else position
    return 2 * (position * sums.global_kv_dims + local * sums.swa_kv_dims) * bytes_per_value


def runs_on(variant: Variant, device: DeviceProfile, targets: Any = None) -> bool:
    """Whether ``variant``'s backend runs on ``device``: natively (``Runtime.usable_backends``), or,
    a web backend, in a browser page there — a browser of the catalog's targets (``targets``:
    id → Target) that runs on the device's OS and offers the backend (WebGPU where it ships it)."""
    if any(b.id == variant.backend.id for b in variant.runtime.usable_backends(device)):
        return True
    if "web" not in variant.backend.platforms:
        return False
    browsers = {b.id: b for t in (targets or {}).values() for b in t.browsers_for(device)}
    return any(b.id == variant.backend.id for br in browsers.values() for b in variant.runtime.usable_backends(device, browser=br))


def choice_key(choice: Any) -> tuple[str, str]:
    """(runtime id, format id) of a candidate: a ``Variant``, or a GGUF file type for llama.cpp."""
    if isinstance(choice, Variant):
        return choice.runtime.id, choice.format.id
    return LLAMA_CPP, choice.id


def runs_model(choice: Any, model: ModelSpec) -> bool:
    """Whether a candidate (a ``Variant``, or a GGUF file type for llama.cpp) can load ``model``:
    its runtime's converter or loader has code for the model's architecture; a model read from a
    GGUF file's header (``file_type``) comes in that file's type only."""
    if model.file_type is not None and (not isinstance(choice, Variant) or choice.is_gguf) \
            and choice_key(choice)[1] != model.file_type:
        return False
    if choice_key(choice)[0] in model.miscomputed_by:  # it loads, but computes another function
        return False
    return not isinstance(choice, Variant) or choice.runtime.runs_arch(model.gguf_arch)


def architecture_reason(model: ModelSpec, runtimes: Any, choices: Any = None) -> Reason:
    """``Reason("architecture")`` for a model none of the considered runtimes loads, naming the
    catalog runtimes (``runtimes``: id → Runtime) that do; ``Reason("miscomputed")`` when the
    runtimes of the candidates considered (``choices``; default every runtime) that load it
    compute another function (``miscomputed_by``)."""
    considered = None if choices is None else {choice_key(c)[0] for c in choices}
    loads = [r.id for r in runtimes.values() if r.runs_arch(model.gguf_arch)] if runtimes else []
    wrong = [i for i in loads if i in model.miscomputed_by and (considered is None or i in considered)]
    if wrong:
        return Reason("miscomputed", name=model.gguf_arch, category=", ".join(wrong))
    return Reason("architecture", name=model.gguf_arch, category=", ".join(i for i in loads if i not in model.miscomputed_by))


def runtime_candidate_row(
    model: ModelSpec, runtime: Any, fmt: Any, workload: Workload, weights: WeightTerms, sums: LayerSums, backend: Any = None,
) -> dict[str, Any]:
    """Terms of ``model`` in a runtime's own format on ``backend`` (see ``core.candidate_row`` for llama.cpp)."""
    bpv = kv_dtype_bytes(runtime, fmt, backend)
    position = workload.prompt_tokens + workload.output_tokens / 2
    chunk = runtime.prefill_chunk or workload.n_ubatch
    window = model.sliding_window if runtime.kv.windowed else 0
    full_logits = runtime.id == "mlc" and model.family in empirical.MLC_FULL_CHUNK_LOGITS_FAMILIES
    return {
        **model_terms(model, weights, sums),
        "kv_cache_bytes": kv_cache_bytes(sums, window, workload.context_tokens, bpv),
        "compute_buffer_bytes": empirical.guess_runtime_buffer_bytes(
            model, chunk, DTYPE_BYTES[fmt.activation_dtype], full_chunk_logits=full_logits, max_ffn=sums.max_ffn),
        "overhead_bytes": runtime.overhead.bytes,
        "kv_read_bytes": kv_read_bytes(sums, window, position, bpv),
        "is_float": fmt.linear.scale_bits == 0,
        "arm_dot_cost": 1.0,  # other runtimes' CPU kernels: not measured
        # llama.cpp's load-time repacking only
        **{f"repack_{f}": 1.0 for f in REPACK_FAMILIES}, **{f"repacked_{p}{f}": 0.0 for p in ("", "expert_") for f in COPY_FAMILIES},
        "kquant_share": 0.0, "float_share": 1.0 if fmt.linear.scale_bits == 0 else 0.0,
        "int4_gemm_share": 1.0 if fmt.int8_activations and fmt.linear.scale_bits and fmt.linear.bits <= 4 else 0.0,
    }


# --------------------------------------------------------------------------- lookups


#: llama.cpp's execution paths (speed.CPU_PATHS, GPU_PATHS: the ``backend`` of its estimates)
#: that are not a backend id themselves, and the backend each runs on.
LLAMA_CPP_BACKEND_OF_PATH = {"cpu-x86": "cpu", "cpu-arm": "cpu", "cpu-arm-legacy": "cpu", "cpu-riscv": "cpu",
                             "cuda-unified": "cuda"}


def backend_key(runtime_id: str, backend_id: str) -> str:
    """The backend id a user's ``--backend`` names for ``runtime_id``: case and spaces ignored;
    for llama.cpp also one of its execution paths (cpu-arm, cuda-unified)."""
    asked = backend_id.strip().lower()
    if runtime_id == LLAMA_CPP:  # llama.cpp's estimates name their execution path (cpu-arm, cuda-unified)
        asked = LLAMA_CPP_BACKEND_OF_PATH.get(asked, asked)
    return asked


def modelled(runtime: Any, backend: Any, device: DeviceProfile) -> bool:
    """Whether the engine predicts ``runtime`` on ``backend`` on ``device``: not llama.cpp's build
    for another GPU API than the one it runs on there by default (its factors are fitted per API,
    on the devices that run it by default: its Vulkan build on an NVIDIA GPU was answered with the
    CUDA estimate, labelled cuda)."""
    return not (runtime.formats_from == "gguf" and backend.kind == "gpu" and device.gpu is not None
                and backend.id != device.gpu.backend and "wasm" not in backend.apis)


def resolve_variant(tables: Any, device: DeviceProfile, runtime_id: str, format_name: str | None = None,
                    backend_id: str | None = None, deployment: Any = None) -> Variant:
    """The variant a user names (``--runtime mlx --quant 4bit [--backend cpu]``) on ``device``
    (under ``deployment``'s target when given), or a ``BadInputError`` naming the problem and the
    valid choices: a runtime the device cannot run, a backend it cannot use there, a format the
    runtime lacks."""
    from advisor.engine.targets import runtime_backends
    from advisor.errors import BadInputError

    def usable_for(r: Any) -> list[Any]:
        return runtime_backends(r, deployment) if deployment is not None else list(r.usable_backends(device))

    def in_browser(backend_ids: set[str] | None = None) -> str:
        """'; it runs in a browser tab there: add --target browser' when, with no target named, the
        runtime (one of ``backend_ids``) runs on ``device`` in a catalog browser only."""
        if deployment is not None:
            return ""
        browsers = {b.id: b for t in (getattr(tables, "targets", None) or {}).values() for b in t.browsers_for(device)}
        if any(backend_ids is None or b.id in backend_ids for br in browsers.values() for b in runtime.usable_backends(device, browser=br)):
            return "; it runs in a browser tab there: add --target browser"
        return ""

    runtime = tables.runtime(runtime_id)
    usable = usable_for(runtime)
    if not usable:
        able = sorted(r.id for r in tables.runtimes.values() if usable_for(r))
        where = f"{device.name} under the {deployment.target.name} target" if deployment is not None else device.name
        if deployment is None and not any(device.cpu.arch in b.cpu_arches for b in runtime.backends):
            raise BadInputError(f"{runtime.id} has no {device.cpu.arch} build, so it does not run on {where}; "
                                f"runtimes there: {', '.join(able) or 'none'}")
        web = in_browser()
        # built for this OS and CPU, but only for a GPU or NPU this device's profile does not give it
        accel = [b for b in runtime.backends if b.kind != "cpu" and device.cpu.arch in b.cpu_arches
                 and any(p in b.platforms for p in device.platforms)] if deployment is None else []
        if accel:
            has = {"gpu": device.gpu, "npu": device.npu}
            which = sorted({b.kind for b in accel})
            own = "; ".join(f"its {k.upper()} ({has[k].name}) does not list {runtime.id} among the runtimes that drive "
                            f"it (the profile's [{k}] runtimes)" if has[k] is not None
                            else f"it has no {k.upper()}" for k in which)
            raise BadInputError(f"{runtime.id} runs on {'/'.join(device.platforms)} only on a {' or '.join(k.upper() for k in which)} "
                                f"({', '.join(b.id for b in accel)}), and {where} has none it can use: {own}; "
                                f"runtimes there: {', '.join(able) or 'none'}{web}")
        raise BadInputError(f"{runtime.id} does not run on {where} ({'/'.join(device.platforms)}){' natively' if web else ''}; "
                            f"runtimes there: {', '.join(able) or 'none'}{web}")
    if backend_id is not None:
        asked = backend_key(runtime.id, backend_id)
        chosen = [b for b in usable if b.id == asked]
        if not chosen:
            raise BadInputError(f"{runtime.id} cannot use backend '{backend_id}' on {device.name}; usable here: "
                                f"{', '.join(b.id for b in usable)}{in_browser({asked})}")
        backend = chosen[0]
        if not modelled(runtime, backend, device):
            raise BadInputError(f"{runtime.id}'s {backend.id} backend on {device.name} is not modelled: the engine predicts "
                                f"{runtime.id} there through {device.gpu.backend}; drop --backend or use "
                                f"{device.gpu.backend} (or cpu)")
    else:  # the runtime's default: its best backend with a format of its own (the format named, below)
        backend = default_backend(runtime, usable) or best_backend(usable)
    fmt = None
    if runtime.formats_from == "gguf":
        fmt = tables.file_type(format_name) if format_name else None
    elif format_name:
        fmt = runtime.find_format(format_name)
        if fmt is None:
            raise BadInputError(f"{runtime.id} has no format '{format_name}'; its formats: "
                                f"{', '.join(f.id for f in runtime.formats_for(backend.id))}")
        if backend_id is None:
            backend = default_backend(runtime, usable, lambda f: f is fmt) or backend
        if fmt.backends and backend.id not in fmt.backends:
            raise BadInputError(f"{runtime.id} format {fmt.id} runs on {', '.join(fmt.backends)}, not on {backend.id}; "
                                f"formats on {backend.id}: {', '.join(f.id for f in runtime.formats_for(backend.id)) or 'none'}")
    else:
        fmt = next(iter(runtime.formats_for(backend.id)), None)  # its first format there (None: it has none)
    return Variant(runtime, backend, fmt, pinned=backend_id is not None)


def peer_variant(variant: Variant, device: DeviceProfile, targets: Any = None) -> Variant | None:
    """``variant``'s runtime and format as ``device`` runs them — a catalog device a RAM-only device
    stands for: on its own default backend for them (llama.cpp on the M1's Metal, MLC on an
    iPhone's Metal where the template phone uses OpenCL), or on ``variant``'s backend when the user
    pinned it or it is a browser's; None where ``device`` cannot run them. The RAM-only device's
    speed is the slowest of its peers', each run as its owner would run it."""
    if variant.pinned or "web" in variant.backend.platforms:
        return variant if runs_on(variant, device, targets) and modelled(variant.runtime, variant.backend, device) else None
    runtime, fmt = variant.runtime, variant.format
    usable = list(runtime.usable_backends(device))
    if runtime.formats_from == "gguf":
        backend = default_backend(runtime, usable)
    else:
        backend = default_backend(runtime, usable, lambda f: f.id == fmt.id)
        if backend is not None and fmt.backends and backend.id not in fmt.backends:
            backend = None
    if backend is None:
        return None
    return variant if backend.id == variant.backend.id else Variant(runtime, backend, fmt)


def require_format(variant: Variant) -> Variant:
    """``variant`` when it has a format; else (a backend the catalog gives no format of its runtime,
    and none named) a ``BadInputError`` naming the runtime's backends that have formats."""
    from advisor.errors import BadInputError

    if variant.format is None and variant.runtime.formats_from != "gguf":
        others = [b.id for b in variant.runtime.backends if variant.runtime.formats_for(b.id)]
        raise BadInputError(f"{variant.runtime.id} has no format for its {variant.backend.id} backend in the catalog "
                            f"(its weight layout there is not published); backends with formats: {', '.join(others)}")
    if variant.format is None:
        raise BadInputError(f"name a format of {variant.runtime.id}")
    return variant


def variant_of(estimate: Any, tables: Any) -> Variant | None:
    """The variant an estimate was made for (None: llama.cpp's own default path)."""
    return named_variant(tables, estimate.runtime, estimate.backend, estimate.quant_id)


def named_variant(tables: Any, runtime_id: str, backend_id: str, format_id: str) -> Variant | None:
    """The variant of a runtime, one of its backends and one of its formats, by their ids (None:
    llama.cpp, whose estimates name a speed path, not a backend; or a runtime the tables lack).
    Unlike ``resolve_variant``, no device is checked: the ids are an estimate's own."""
    runtimes = getattr(tables, "runtimes", None) or {}
    runtime = runtimes.get(runtime_id)
    if runtime is None or runtime.id == LLAMA_CPP:
        return None
    backend = runtime.backend(backend_id)
    fmt = tables.file_types.get(format_id) if runtime.formats_from == "gguf" else runtime.find_format(format_id)
    return Variant(runtime, backend, fmt)


def format_of(estimate: Any, tables: Any) -> Any:
    """The estimate's format record: a GGUF file type, or the runtime's own format."""
    v = variant_of(estimate, tables)
    return v.format if v is not None else tables.file_types[estimate.quant_id]

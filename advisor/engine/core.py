"""The one evaluation path: where a candidate's bytes go on a device (placement) and how long its
tokens take (timing), written once over ``Num`` (a float or a numpy array, ``engine.arrays``).

A single estimate (``evaluate.evaluate``, ``evaluate.estimate_speed``) runs these functions on plain
numbers; the whole grid (``grid.evaluate_grid_arrays``) runs the *same* functions on a column of
candidates (model × format, shape (N, 1)) against a row of devices (shape (1, D)). A new runtime,
format or architecture changes the terms fed in here, never a second copy of the arithmetic.

The formulas themselves (``speed.decode_seconds``, ``speed.prefill_seconds``,
``speed.effective_bandwidth``) carry their derivations; this module only combines them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

from advisor.engine import empirical
from advisor.engine.arrays import Num, clip, floor, logical_not, maximum, minimum, never, rounded, where
from advisor.engine.speed import (
    COPY_FAMILIES,
    GPU_PATHS,
    KQUANT_PREFILL_BY_FAMILY,
    OFFLOAD_BAND_WIDENING,
    REPACK_FAMILIES,
    arm_dot_cost,
    attention_flops_at,
    cpu_decode_rates,
    cpu_gflops,
    decode_bound_code,
    decode_seconds,
    decode_threads,
    device_power_w,
    effective_bandwidth,
    has_amx,
    int4_gemm_speedup,
    prefill_seconds,
    repack_family,
    weight_family,
    x86_prefill_isa,
)
from advisor.engine import memory as mem
from advisor.engine.derived import WeightTerms
from advisor.engine.tensors import LayerSums, expert_active_fraction
from advisor.records import DeviceProfile, FileType, ModelSpec, PathFactors, Workload, memory_total
from advisor.units import GB_S

#: fit codes of ``Placement.fit_code``
FIT_CODES = ("fits", "tight", "offload", "no")


def _stack(rows: Sequence[Mapping[str, Any]], cls: type, axis: int | None) -> Any:
    """One record of terms: plain numbers for one row (axis None), else numpy arrays shaped as a
    column (axis 0: (N, 1)) or a row (axis 1: (1, D)) so that the two broadcast into a grid."""
    if axis is None:
        return cls(**rows[0])
    import numpy as np

    out = {}
    for f in fields(cls):
        values = [r[f.name] for r in rows]
        if isinstance(values[0], FactorTerms):
            out[f.name] = _stack([{g.name: getattr(v, g.name) for g in fields(FactorTerms)} for v in values], FactorTerms, axis)
            continue
        if isinstance(values[0], tuple):  # a per-candidate table (expert_cum_bytes): padded with inf
            width = max(len(v) for v in values)
            arr = np.asarray([v + (np.inf,) * (width - len(v)) for v in values], dtype=np.float64)
            out[f.name] = arr[:, None, :] if axis == 0 else arr[None, :, :]
            continue
        arr = np.asarray(values, dtype=bool if isinstance(values[0], bool) else np.float64)
        out[f.name] = arr[:, None] if axis == 0 else arr[None, :]
    return cls(**out)


# --------------------------------------------------------------------------- terms


@dataclass(frozen=True, slots=True)
class CandidateTerms:
    """What the arithmetic needs of one model in one format for one workload."""

    weights_bytes: Num
    lookup_bytes: Num  # untied token_embd (and other lookup tables): read by lookup, not per token
    expert_bytes: Num  # MoE routed experts: all resident, a token reads expert_fraction of them
    expert_fraction: Num
    recurrent_state_bytes: Num  # hybrid models' conv/SSM state (fixed per sequence)
    kv_cache_bytes: Num
    compute_buffer_bytes: Num
    overhead_bytes: Num
    n_layers: Num
    matmul_params: Num  # multiplied per token (MoE: the active experts only)
    global_q_dims: Num
    swa_q_dims: Num
    window: Num
    vocab_flops: Num
    kv_read_bytes: Num  # KV read by one decode step at the mean answering position
    is_float: Num
    #: MoE layers (those holding routed experts: all but the leading dense ones; 0 for dense models)
    moe_layers: Num = 0
    #: leading dense layers of a MoE (llama.cpp counts --n-cpu-moe from block 0)
    dense_lead_layers: Num = 0
    #: routed-expert parameters one token multiplies, over all MoE layers (k experts × 3 matrices)
    expert_active_params: Num = 0
    #: bytes of the first k MoE layers' experts for k = 0 … moe_layers (a tuple; in the grid an
    #: array padded with inf to the longest, shaped (N, 1, L))
    expert_cum_bytes: Any = (0.0,)
    #: per-weight cost of the CPU dot-product kernel on Arm (speed.ARM_DOT_COST_BY_TYPE): a
    #: compute-bound Arm CPU decode runs at 1 / this of the int8 rate; 1 off Arm
    arm_dot_cost: Num = 1.0
    #: CPU prefill speed-up of the file's type when llama.cpp repacks it (speed.REPACK_PREFILL_SPEEDUP),
    #: on a CPU of each speed.REPACKED_TYPES family; 1 where it is not repacked
    repack_avx2: Num = 1.0
    repack_avx512: Num = 1.0
    repack_dotprod: Num = 1.0
    #: shares of the prefill matrices in K/IQ-quant and float types (the rest legacy), which prefill
    #: at the path's prefill_kquant_factor / prefill_float_factor (speed.prefill_family_shares)
    kquant_share: Num = 0.0
    float_share: Num = 0.0
    #: bytes llama.cpp copies into its CPU_REPACK buffer on a CPU of each speed.REPACKED_TYPES family
    #: (speed.repacked_bytes), and the routed experts' part of them; 0 where nothing is repacked
    repacked_avx2: Num = 0.0
    repacked_avx512: Num = 0.0
    repacked_dotprod: Num = 0.0
    repacked_expert_avx2: Num = 0.0
    repacked_expert_avx512: Num = 0.0
    repacked_expert_dotprod: Num = 0.0
    #: the same on an x86 CPU with AMX: its AMX buffer and what CPU_REPACK takes of the rest (speed.amx_copy_bytes)
    repacked_amx: Num = 0.0
    repacked_expert_amx: Num = 0.0
    #: share of the prefill matrices another runtime stores in int4 and multiplies with int8
    #: activations (``RuntimeFormat.int8_activations``): they prefill on a native CPU at
    #: DeviceTerms.cpu_int4_gemm (speed.int4_gemm_speedup); 0 for llama.cpp (its repack terms above)
    int4_gemm_share: Num = 0.0
    #: another runtime's weights packed at load (WeightTerms.load_copy_bytes): held beside the
    #: file's weights, and the moment's extra while it packs the largest matrix
    load_copy_bytes: Num = 0.0
    load_transient_bytes: Num = 0.0

    @property
    def total_bytes(self) -> Num:
        """Weights (+ their packed copy) and overhead, and the larger of what a run adds (KV cache,
        recurrent state, compute buffers) and the load's transient, which is gone before the run's
        buffers exist (``memory_total``)."""
        return memory_total(self.weights_bytes, self.kv_cache_bytes, self.recurrent_state_bytes, self.compute_buffer_bytes,
                            self.overhead_bytes, self.load_copy_bytes, self.load_transient_bytes)


def model_terms(model: ModelSpec, weights: WeightTerms, sums: LayerSums) -> dict[str, Any]:
    """The terms every runtime shares: what the weights are and what a token multiplies."""
    return {
        "weights_bytes": weights.total_bytes,
        "lookup_bytes": weights.lookup_bytes,
        "expert_bytes": weights.expert_bytes,
        "expert_fraction": expert_active_fraction(model),
        "recurrent_state_bytes": 4 * sums.recurrent_state_values,  # F32 (memory.recurrent_state_bytes)
        "n_layers": model.n_layers,
        "matmul_params": sums.active_matmul_params,
        "global_q_dims": sums.global_q_dims,
        "swa_q_dims": sums.swa_q_dims,
        "window": model.sliding_window,
        "vocab_flops": 2 * model.vocab_size * model.hidden_size,
        **moe_terms(model),
        "expert_cum_bytes": expert_cum_bytes(weights, model),
        "load_copy_bytes": weights.load_copy_bytes,
        "load_transient_bytes": weights.load_transient_bytes,
    }


def expert_cum_bytes(weights: WeightTerms, model: ModelSpec) -> tuple[float, ...]:
    """(0, b₀, b₀ + b₁, …): the expert bytes of the first k MoE layers, from the per-layer split
    (``memory.expert_bytes_by_layer``), else the layers taken as equal."""
    layers = weights.expert_layer_bytes
    if not layers:
        n = sum(1 for i in range(model.n_layers) if model.is_moe_layer(i)) if model.n_experts else 0
        layers = (weights.expert_bytes / n,) * n if n else ()
    out, acc = [0.0], 0.0
    for b in layers:
        acc += b
        out.append(float(acc))
    return tuple(out)


def moe_terms(model: ModelSpec) -> dict[str, Any]:
    """The MoE layout the expert offload and the expert-GEMM efficiency need: MoE layers, leading
    dense layers, and the routed-expert parameters a token multiplies — n_experts_used experts ×
    (gate + up + down) = 3 × hidden × expert_ffn per MoE layer (MOE-ARCH-NOTES §1)."""
    if not model.n_experts:
        return {"moe_layers": 0, "dense_lead_layers": 0, "expert_active_params": 0}
    moe_layers = sum(1 for i in range(model.n_layers) if model.is_moe_layer(i))
    return {
        "moe_layers": moe_layers,
        "dense_lead_layers": model.n_dense_layers,
        "expert_active_params": moe_layers * 3 * model.hidden_size * model.expert_ffn_size * model.n_experts_used,
    }


def candidate_row(model: ModelSpec, ftype: FileType, workload: Workload, weights: WeightTerms, sums: LayerSums) -> dict[str, Any]:
    """Terms of ``model`` in a GGUF file type on llama.cpp (padded KV cells, its compute buffer)."""
    family = weight_family(ftype.base_type)
    position = workload.prompt_tokens + workload.output_tokens / 2  # mean position while answering
    return {
        **model_terms(model, weights, sums),
        "kv_cache_bytes": mem.kv_cache_bytes(model, workload.context_tokens, workload.kv_cache_type, workload.n_ubatch, sums=sums),
        "compute_buffer_bytes": empirical.guess_compute_buffer_bytes(
            model, workload.context_tokens, workload.n_ubatch, flash_attn=empirical.resolve_flash_attn(workload.flash_attn)),
        "overhead_bytes": empirical.RUNTIME_OVERHEAD_BYTES,
        "kv_read_bytes": mem.kv_read_bytes(model, position, workload.kv_cache_type, sums=sums),
        "is_float": family == "float",
        "arm_dot_cost": arm_dot_cost(ftype.base_type),
        # a GGUF's WeightTerms carry both (derived.gguf_weight_terms)
        **dict(zip((f"repack_{f}" for f in REPACK_FAMILIES), weights.repack_speedups)),
        **dict(zip(("kquant_share", "float_share"), weights.family_shares)),
        **dict(zip((f"repacked_{f}" for f in COPY_FAMILIES), weights.repacked_bytes)),
        **dict(zip((f"repacked_expert_{f}" for f in COPY_FAMILIES), weights.repacked_expert_bytes)),
        "int4_gemm_share": 0.0,
    }


def candidate_terms(rows: Sequence[Mapping[str, Any]], *, axis: int | None = None) -> CandidateTerms:
    return _stack(rows, CandidateTerms, axis)


@dataclass(frozen=True, slots=True)
class FactorTerms:
    """The empirical factors of one execution path (``PathFactors``) as numbers or arrays."""

    bw_efficiency: Num
    decode_compute_efficiency: Num
    prefill_efficiency: Num
    fixed_s_per_layer: Num
    prefill_fixed_s_per_layer: Num  # PathFactors' own, else the decode's fixed_s_per_layer
    prefill_kquant_factor: Num
    prefill_float_factor: Num
    decode_band: Num
    prefill_band: Num

    @classmethod
    def of(cls, f: PathFactors) -> "FactorTerms":
        own = {"prefill_fixed_s_per_layer": f.prompt_fixed_s_per_layer}
        return cls(*(own[name] if name in own else getattr(f, name) for name in _FACTOR_NAMES))


_FACTOR_NAMES = tuple(g.name for g in fields(FactorTerms))


@dataclass(frozen=True, slots=True)
class DeviceTerms:
    """What the arithmetic needs of one device: its memories, rates, power and the factors of its
    main execution path and of its CPU path (the part of a model left on the CPU)."""

    on_gpu: Num  # main path runs on an accelerator (GPU or NPU)
    discrete: Num  # a discrete GPU with its own VRAM takes part
    can_offload: Num  # the runtime can split layers between GPU and CPU (llama.cpp -ngl)
    cpu_flops: Num  # FP32 peak of the decode threads (prefill)
    cpu_decode_ops: Num  # int8 dot-product ops/s of the decode threads (quantized weights)
    cpu_decode_flops: Num  # FP32 FLOP/s of the decode threads (float weights)
    cpu_arm: Num  # an Arm CPU (its dot products cost CandidateTerms.arm_dot_cost per weight)
    #: which CandidateTerms.repack_* speed-up the CPU's prefill takes: 0 none (no repacking, or the
    #: workload turns it off), else 1 + the index of its family in REPACK_FAMILIES
    cpu_repack: Num
    #: an x86 CPU with AMX (speed.has_amx), under llama.cpp with repacking on: its load-time copy is
    #: CandidateTerms.repacked_amx, not its repack family's
    cpu_amx: Num
    #: the CPU's unrepacked K-quant prefill against the legacy types' (speed.KQUANT_PREFILL_BY_FAMILY)
    cpu_kquant_prefill: Num
    #: llama.cpp's x86 prefill by the CPU's int8 extension against AVX-512 VNNI's (speed.X86_PREFILL_BY_ISA;
    #: 1 off x86 and for other runtimes, whose kernels were not measured)
    cpu_prefill_isa: Num
    #: prefill speed-up of another runtime's int4 × int8 GEMMs on this CPU (speed.int4_gemm_speedup;
    #: 1 for llama.cpp, whose repacking the cpu_repack terms carry, and in WebAssembly)
    cpu_int4_gemm: Num
    #: η of a MoE's routed-expert prefill GEMMs on this CPU (empirical.EXPERT_GEMM_EFFICIENCY_CPU;
    #: 1 for other runtimes, whose expert kernels were not measured)
    cpu_expert_gemm: Num
    gpu_flops: Num
    host_gbs: Num
    cpu_gbs: Num  # what the CPU threads can read: host_gbs, or threads × one thread's bandwidth if less
    vram_gbs: Num
    llc_bytes: Num
    llc_gbs: Num
    host_usable: Num
    vram_usable: Num
    power_w: Num
    main: FactorTerms
    cpu: FactorTerms


def device_row(
    device: DeviceProfile, workload: Workload, main: PathFactors, cpu: PathFactors, *,
    accelerator: str | None = None, can_offload: bool = True, llama_cpp: bool = True, native_cpu: bool = True,
) -> dict[str, Any]:
    """``accelerator``: "gpu" or "npu" when a runtime backend names it; None: llama.cpp's own
    choice (its GPU paths when the profile says llama.cpp can use the GPU)."""
    gpu = device.gpu
    on_gpu = main.path in GPU_PATHS if accelerator is None else accelerator in ("gpu", "npu")
    uses_gpu = device.gpu_usable if accelerator is None else accelerator == "gpu"
    discrete = bool(uses_gpu and gpu and gpu.discrete)
    threads = decode_threads(device, workload.threads)
    decode_ops, decode_flops = cpu_decode_rates(device, threads, llama_cpp=llama_cpp)
    # which of llama.cpp's CPU kernel families (speed.REPACKED_TYPES): native llama.cpp's alone — in
    # WebAssembly (wllama) ggml has neither the AVX2/dotprod kernels that repack nor their K-quant speeds
    family = repack_family(device) if llama_cpp else None
    if accelerator == "npu" and device.npu is not None and device.npu.tops:
        accel_flops = device.npu.tops * 1e12
    else:
        accel_flops = gpu.fp16_tflops * 1e12 if gpu else 0.0
    return {
        "on_gpu": on_gpu,
        "discrete": discrete,
        "can_offload": can_offload,
        "cpu_flops": cpu_gflops(device, threads) * 1e9,
        "cpu_decode_ops": decode_ops,
        "cpu_decode_flops": decode_flops,
        "cpu_arm": device.cpu.arch == "arm64",
        "cpu_repack": 1 + REPACK_FAMILIES.index(family) if workload.cpu_repack and family else 0,
        "cpu_amx": bool(llama_cpp and workload.cpu_repack and has_amx(device)),
        "cpu_kquant_prefill": KQUANT_PREFILL_BY_FAMILY.get(family or "", 1.0),
        "cpu_prefill_isa": x86_prefill_isa(device) if llama_cpp else 1.0,
        "cpu_expert_gemm": empirical.EXPERT_GEMM_EFFICIENCY_CPU.get(family or "", 1.0) if llama_cpp else 1.0,
        "cpu_int4_gemm": int4_gemm_speedup(device) if native_cpu and not llama_cpp else 1.0,
        "gpu_flops": accel_flops,
        "host_gbs": device.memory.bandwidth_gbs,
        "cpu_gbs": cpu_read_gbs(device, threads),
        "vram_gbs": (gpu.vram_bandwidth_gbs or device.memory.bandwidth_gbs) if gpu and gpu.discrete else device.memory.bandwidth_gbs,
        "llc_bytes": float(device.memory.llc or 0),
        "llc_gbs": float(device.memory.llc_bandwidth_gbs or 0),
        "host_usable": device.memory.usable,
        "vram_usable": (gpu.vram_usable or 0) if gpu and gpu.discrete else 0,
        "power_w": device_power_w(device),
        "main": FactorTerms.of(main),
        "cpu": FactorTerms.of(cpu),
    }


def cpu_read_gbs(device: DeviceProfile, threads: int) -> float:
    """Peak read bandwidth of ``threads`` CPU threads: the memory's, or threads × the bandwidth one
    thread reaches (``memory.thread_bandwidth_gbs``) when that is less — one core cannot keep
    enough loads in flight to fill the memory bus (a 16-core Xeon: 8.3 GB/s for one thread of 94;
    llama.cpp decode there at 1–4 threads, benchmarks/results/cpu_h200host_threads.md)."""
    per_thread = device.memory.thread_bandwidth_gbs
    total = device.memory.bandwidth_gbs
    return min(total, max(1, threads) * per_thread) if per_thread else total


def device_terms(rows: Sequence[Mapping[str, Any]], *, axis: int | None = None) -> DeviceTerms:
    return _stack(rows, DeviceTerms, axis)


# --------------------------------------------------------------------------- placement


@dataclass(frozen=True, slots=True)
class Placement:
    fit_code: Num  # index into FIT_CODES
    usable_bytes: Num
    gpu_bytes: Num
    gpu_fraction: Num  # share of the layers on the main path (1 unless partially offloaded)
    #: MoE layers whose routed experts stay in host RAM (llama.cpp --n-cpu-moe); 0 = none
    cpu_moe_layers: Num = 0.0


def placement_code(total: Num, usable: Num, tight_fraction: float = empirical.TIGHT_FRACTION) -> Num:
    """0 "fits" (within tight_fraction of usable), 1 "tight" (within usable), 3 "no"."""
    return where(total <= usable * tight_fraction, 0, where(total <= usable, 1, 3))


def placement(c: CandidateTerms, d: DeviceTerms, tight_fraction: float = empirical.TIGHT_FRACTION, *,
              n_cpu_moe: int | None = None) -> Placement:
    """Fit of the whole candidate in the memory it runs from; on a discrete GPU that cannot hold
    it, as many layers as fit in VRAM beside the compute buffer and overhead (llama.cpp
    ``-ngl``), the rest in host memory ("offload" when that part fits there) — unless it is a
    MoE whose experts can leave VRAM instead (``expert_offload``; ``n_cpu_moe`` None = the
    fewest layers that fit, else llama.cpp's ``--n-cpu-moe N``)."""
    total = c.total_bytes
    usable = where(d.discrete, d.vram_usable, d.host_usable)
    fit_code = placement_code(total, usable, tight_fraction)
    per_layer = (c.weights_bytes + c.kv_cache_bytes) / c.n_layers
    layers = clip(floor((d.vram_usable - c.compute_buffer_bytes - c.overhead_bytes) / per_layer), 0, c.n_layers)
    partial = d.discrete & d.can_offload & (fit_code == 3)
    fit_code = where(partial & (total - layers * per_layer <= d.host_usable), 2, fit_code)
    gpu_fraction = where(partial & d.on_gpu, layers / c.n_layers, 1.0)
    gpu_bytes = where(partial, floor(layers * per_layer), where(d.discrete, total, 0))
    layer_split = Placement(
        fit_code=fit_code,
        usable_bytes=where(partial, d.vram_usable + d.host_usable, usable),
        gpu_bytes=gpu_bytes,
        gpu_fraction=gpu_fraction,
    )
    return expert_offload(c, d, layer_split, placement_code(total, usable, tight_fraction), n_cpu_moe)


# --------------------------------------------------------------------------- MoE expert offload
# llama.cpp --n-cpu-moe N / --cpu-moe: the routed-expert tensors (ffn_{gate,up,down}_exps) of
# blocks 0..N-1 stay in host RAM and run on the CPU; attention, routers, shared experts, the
# output head, the KV cache and the other layers' experts stay on the GPU (common/arg.cpp builds
# the tensor-override pattern ``blk\.(i)\.ffn_(up|down|gate)_exps`` for each i < N).

#: A micro-batch of at least this many tokens has the CPU-resident weights of an op copied to the
#: GPU and computed there (ggml-cuda.cu ``ggml_backend_cuda_device_offload_op``, min_batch_size
#: 32; ``--no-op-offload`` turns it off); smaller batches (decode) multiply on the CPU.
OP_OFFLOAD_MIN_BATCH = 32

#: Host→GPU copy rate for those weights: PCIe 4.0 x16, 16 GT/s × 16 lanes × 128/130 / 8 = 31.5 GB/s
#: per direction (PCI-SIG 4.0 base specification) — an upper bound: cards on x8 links (RTX 4060 /
#: 4060 Ti) get half, copies from pageable (mmap-ed) host memory run below the link rate, and the
#: profiles record neither. No published prefill row with expert offload checks it.
HOST_LINK_GBS = 31.5


def offloaded_expert_bytes(c: CandidateTerms, cpu_moe_layers: Num) -> Num:
    """Expert bytes of the first ``cpu_moe_layers`` MoE layers (the blocks --n-cpu-moe moves):
    ``expert_cum_bytes[k]``, k clipped to the MoE layers."""
    k = minimum(cpu_moe_layers, c.moe_layers)
    table = c.expert_cum_bytes
    if isinstance(table, tuple):
        return table[int(k)]
    import numpy as np

    k = np.asarray(k, dtype=np.int64)
    shape = np.broadcast_shapes(k.shape, table.shape[:-1])
    picked = np.take_along_axis(np.broadcast_to(table, shape + table.shape[-1:]), np.broadcast_to(k, shape)[..., None], -1)
    return picked[..., 0]


def expert_layers_offloaded(c: CandidateTerms, n_cpu_moe: Num) -> Num:
    """MoE layers whose experts ``--n-cpu-moe n_cpu_moe`` keeps in host RAM: blocks 0..N-1 less
    the leading dense blocks (they have no experts), at most every MoE layer."""
    return clip(n_cpu_moe - c.dense_lead_layers, 0, c.moe_layers)


def fewest_expert_layers(c: CandidateTerms, d: DeviceTerms) -> Num:
    """The fewest MoE layers whose experts must leave VRAM for the rest to fit, as a user finds N:
    the least k with expert_cum_bytes[k] ≥ total − usable VRAM (moe_layers + 1 when none is)."""
    need = c.total_bytes - d.vram_usable
    table = c.expert_cum_bytes
    if isinstance(table, tuple):
        return float(sum(1 for b in table if b < need))
    return (table < need[..., None]).sum(axis=-1).astype(float)


def n_cpu_moe_flag(c: CandidateTerms, cpu_moe_layers: Num) -> Num:
    """The ``--n-cpu-moe`` value that offloads ``cpu_moe_layers`` MoE layers (counted from block 0,
    so the leading dense blocks are included); 0 when none."""
    return where(cpu_moe_layers > 0, cpu_moe_layers + c.dense_lead_layers, 0)


def expert_offload(c: CandidateTerms, d: DeviceTerms, layer_split: Placement, whole_code: Num,
                   n_cpu_moe: int | None = None) -> Placement:
    """Expert offload on a discrete GPU (llama.cpp with every layer on the GPU): VRAM holds
    total − the first k MoE layers' experts (non-expert weights, KV, buffers, the other layers'
    experts), host RAM those experts (``offloaded_expert_bytes``). ``n_cpu_moe`` None: k = ``fewest_expert_layers`` when the
    whole model does not fit VRAM and k ≤ the MoE layers (else the ``-ngl`` layer split stands);
    an int N: k = ``expert_layers_offloaded`` (N = 0: no expert offload). "offload" when both
    parts fit, "no" when either does not."""
    eligible = d.discrete & d.can_offload & d.on_gpu & (c.moe_layers > 0)
    if never(eligible):  # a dense model, or no discrete GPU: the layer split stands
        return layer_split
    if n_cpu_moe is None:
        k = fewest_expert_layers(c, d)
        use = eligible & (whole_code == 3) & (k <= c.moe_layers)
    else:
        k = expert_layers_offloaded(c, float(n_cpu_moe))
        use = eligible & (k > 0)
    host = offloaded_expert_bytes(c, k)
    gpu_part = c.total_bytes - host
    ok = (gpu_part <= d.vram_usable) & (host <= d.host_usable)
    # both parts fit: the two memories; else the one that does not, beside the other part as it
    # is, so the headroom is that memory's shortfall (it was the two memories' sum: 'does not fit'
    # beside a headroom of +13 GiB, when the GPU part was 10 GiB over the VRAM)
    usable = where(ok, d.vram_usable + d.host_usable,
                   where(gpu_part > d.vram_usable, d.vram_usable + host, d.host_usable + gpu_part))
    return Placement(
        fit_code=where(use, where(ok, 2, 3), layer_split.fit_code),
        usable_bytes=where(use, usable, layer_split.usable_bytes),
        gpu_bytes=where(use, floor(gpu_part), layer_split.gpu_bytes),
        gpu_fraction=where(use, 1.0, layer_split.gpu_fraction),
        cpu_moe_layers=where(use, k, 0.0),
    )


def without_offloaded_experts(c: CandidateTerms, cpu_moe_layers: Num) -> CandidateTerms:
    """The terms of the GPU side under expert offload: the offloaded layers' expert bytes and
    expert parameters removed (the rest of every layer stays)."""
    if never(cpu_moe_layers):
        return c
    off_bytes = offloaded_expert_bytes(c, cpu_moe_layers)
    off_params = cpu_moe_layers / maximum(c.moe_layers, 1) * c.expert_active_params
    return replace(c, weights_bytes=c.weights_bytes - off_bytes, expert_bytes=c.expert_bytes - off_bytes,
                   matmul_params=c.matmul_params - off_params, expert_active_params=c.expert_active_params - off_params)


def offloaded_expert_decode_seconds(c: CandidateTerms, d: DeviceTerms, cpu_moe_layers: Num) -> tuple[Num, Num, Num, Num]:
    """The CPU's part of one decoded token under expert offload (the GPU's part runs on
    ``without_offloaded_experts``; the two follow each other layer by layer, so they add):

        t = max(offloaded_expert_bytes × n_used/n_experts / (host GB/s × cpu bw_efficiency),
                2 × k/moe_layers × expert_active_params / (cpu FLOPS × cpu decode_compute_efficiency))
            + k × cpu fixed_s_per_layer        (one GPU→CPU→GPU hand-over per offloaded layer)

    (the CPU's MUL_MAT_ID reads only the chosen experts' slices, MOE-ARCH-NOTES §1; the hidden
    state crossing PCIe is hidden × 4 B, negligible beside the fixed cost). Returns (total,
    memory, compute, fixed) seconds, like ``speed.decode_seconds``."""
    read = offloaded_expert_bytes(c, cpu_moe_layers) * c.expert_fraction
    params = cpu_moe_layers / maximum(c.moe_layers, 1) * c.expert_active_params
    bandwidth = effective_bandwidth(d.cpu_gbs, d.cpu.bw_efficiency, read, 0.0, 0.0, False)
    return decode_seconds(read, bandwidth, 2 * params, d.cpu_flops * d.cpu.decode_compute_efficiency,
                          cpu_moe_layers, d.cpu.fixed_s_per_layer)


def offloaded_expert_prefill_seconds(c: CandidateTerms, d: DeviceTerms, workload: Workload, cpu_moe_layers: Num) -> Num:
    """The extra prefill time of expert offload. Micro-batches of ≥ OP_OFFLOAD_MIN_BATCH tokens
    copy the offloaded experts to the GPU (a micro-batch touches every expert, MOE-ARCH-NOTES §3)
    and the GPU multiplies them: ceil(prompt / n_ubatch) × offloaded_expert_bytes / HOST_LINK_GBS.
    Smaller prompts multiply those experts on the CPU: prompt × the decode step's compute, the
    union of the prompt's experts read once (min(1, prompt × n_used/n_experts) of them)."""
    batch = min(workload.prompt_tokens, workload.n_ubatch)
    if batch >= OP_OFFLOAD_MIN_BATCH:
        n_batches = -(-workload.prompt_tokens // workload.n_ubatch)
        return n_batches * offloaded_expert_bytes(c, cpu_moe_layers) / (HOST_LINK_GBS * GB_S)
    _, t_mem, t_comp, t_fixed = offloaded_expert_decode_seconds(c, d, cpu_moe_layers)
    touched = minimum(1.0, workload.prompt_tokens * c.expert_fraction)
    return maximum(t_mem / c.expert_fraction * touched, workload.prompt_tokens * t_comp) + t_fixed



# --------------------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Timing:
    decode_s_per_token: Num
    prompt_s: Num
    response_s: Num
    decode_bound_code: Num  # index into speed.DECODE_BOUNDS
    prefill_compute_bound: Num
    decode_band: Num  # relative half-width
    prefill_band: Num
    gpu_layers: Num
    #: the shortest a decoded token can take: its weights and KV read at the full bandwidth of each
    #: side (efficiency 1, or the path's own where a calibration put it above), no compute, no
    #: fixed cost — the band's high end stops there (``decode_high``)
    decode_floor_s: Num = 0.0


def decode_high(t: Timing) -> Num:
    """The high end of the decode band: the estimate × (1 + band), but no faster than the memory
    roofline (``Timing.decode_floor_s``): a wide prior band (×2 for a runtime without
    measurements) otherwise promised more than the bandwidth can carry."""
    high = (1 + t.decode_band) / t.decode_s_per_token
    return where(t.decode_floor_s > 0, minimum(high, 1.0 / maximum(t.decode_floor_s, 1e-30)), high)


def repack_speedup(c: CandidateTerms, d: DeviceTerms) -> Num:
    """The CPU prefill speed-up of the candidate's repacked weights on the device (1: none)."""
    return _by_repack_family(c, d, "repack_", 1.0)


def _by_repack_family(c: CandidateTerms, d: DeviceTerms, prefix: str, default: Num) -> Num:
    """The candidate's ``prefix + family`` term for the device's repack family (``default``: none)."""
    out = default
    for i, family in enumerate(REPACK_FAMILIES, start=1):
        out = where(d.cpu_repack == i, getattr(c, f"{prefix}{family}"), out)
    return out


def repacked_bytes(c: CandidateTerms, d: DeviceTerms, place: Placement) -> Num:
    """Bytes llama.cpp copies into its CPU_REPACK buffer at load: the repacked matrices
    (speed.is_repacked) of the layers the CPU runs — all on a CPU path; the layers left in host
    memory when a discrete GPU holds the rest (by layer share); the experts --n-cpu-moe keeps in
    host memory (by their share of the expert bytes); none when a GPU holds every layer. Only the
    CPU path is checked against llama.cpp's buffers (benchmarks/results/repack_buffers.md)."""
    whole = where(d.cpu_amx, c.repacked_amx, _by_repack_family(c, d, "repacked_", 0.0))
    experts = where(d.cpu_amx, c.repacked_expert_amx, _by_repack_family(c, d, "repacked_expert_", 0.0))
    moved = offloaded_expert_bytes(c, place.cpu_moe_layers) / maximum(c.expert_bytes, 1.0)
    on_gpu = whole * (1.0 - place.gpu_fraction) + where(place.cpu_moe_layers > 0, experts * moved, 0.0)
    return where(d.on_gpu, on_gpu, whole)


def decode_bytes_per_token(c: CandidateTerms) -> Num:
    """Bytes one decoded token moves: the weights but the lookup tables, the routed experts at
    expert_fraction, the KV cache at the mean answering position, and a hybrid's F32 conv/SSM state
    twice — its recurrent layers read it and write it back every token (ggml ssm_conv / ssm_scan)."""
    weights = c.weights_bytes - c.lookup_bytes - c.expert_bytes * (1 - c.expert_fraction)
    return weights + c.kv_read_bytes + 2 * c.recurrent_state_bytes


def prefill_rate_terms(c: CandidateTerms, d: DeviceTerms, f: FactorTerms, gpu_side: Num) -> tuple[Num, Num]:
    """(peak FLOP/s, weight-type factor) of a prefill on one side: the GPU's FP16 peak, or the CPU
    threads' FP32 peak × the x86 int8 extension's factor; the type factor is the time-weighted mix of
    the file's weight families (K-quants and floats at the path's factors, on a CPU the family's
    unrepacked K-quant rate) × the CPU's repacking speed-up (llama.cpp) or its int4 × int8 GEMM
    speed-up (another runtime's int4 weights with int8 activations). Prefill computes at peak ×
    f.prefill_efficiency × type factor."""
    rate = where(gpu_side, d.gpu_flops, d.cpu_flops * d.cpu_prefill_isa)
    kquant_rate = f.prefill_kquant_factor * where(gpu_side, 1.0, d.cpu_kquant_prefill)
    type_factor = 1.0 / (1.0 - c.kquant_share - c.float_share + c.kquant_share / kquant_rate + c.float_share / f.prefill_float_factor)
    int4_gemm = 1.0 / (1.0 - c.int4_gemm_share + c.int4_gemm_share / d.cpu_int4_gemm)
    return rate, type_factor * where(gpu_side, 1.0, repack_speedup(c, d) * int4_gemm)


def _path_times(c: CandidateTerms, d: DeviceTerms, f: FactorTerms, workload: Workload, gpu_side: Num, share: Num):
    """Decode and prefill seconds of ``share`` of the layers on one side (GPU or CPU). A decoded
    token reads its experts only; a prefill micro-batch of n tokens the union of theirs, 1 − (1 − k/E)^n
    of the experts — every one at a long prompt's 512 (MOE-ARCH-NOTES §3)."""
    weight_read = c.weights_bytes - c.lookup_bytes
    bytes_per_token = decode_bytes_per_token(c)
    decode_flops = 2 * c.matmul_params + c.vocab_flops + attention_flops_at(
        c.global_q_dims, c.swa_q_dims, c.window, workload.prompt_tokens + workload.output_tokens / 2)
    peak = where(gpu_side, where(d.discrete, d.vram_gbs, d.host_gbs), d.cpu_gbs)
    rate, type_factor = prefill_rate_terms(c, d, f, gpu_side)
    # a CPU decodes quantized weights through int8 dot products, float weights through FMA
    dot_rate = d.cpu_decode_ops / where(d.cpu_arm, c.arm_dot_cost, 1.0)
    decode_rate = where(gpu_side, d.gpu_flops, where(c.is_float, d.cpu_decode_flops, dot_rate))
    cpu_side = logical_not(gpu_side)
    bw_d = effective_bandwidth(peak, f.bw_efficiency, bytes_per_token, d.llc_bytes, d.llc_gbs, cpu_side)
    t, t_mem, t_comp, t_fixed = decode_seconds(
        bytes_per_token, bw_d, decode_flops, decode_rate * f.decode_compute_efficiency, c.n_layers, f.fixed_s_per_layer, share)
    bw_p = effective_bandwidth(peak, f.bw_efficiency, weight_read, d.llc_bytes, d.llc_gbs, cpu_side)
    p, p_comp, p_mem = prefill_seconds(
        workload.prompt_tokens, workload.n_ubatch, c.matmul_params, c.global_q_dims, c.swa_q_dims, c.window, weight_read,
        bw_p, rate * f.prefill_efficiency * type_factor, c.n_layers, f.prefill_fixed_s_per_layer, c.vocab_flops, share,
        expert_bytes=c.expert_bytes, expert_fraction=c.expert_fraction)
    return t, t_mem, t_comp, t_fixed, p, p_comp, p_mem


def timing(c: CandidateTerms, d: DeviceTerms, workload: Workload, gpu_fraction: Num, cpu_moe_layers: Num = 0.0) -> Timing:
    """Per-token decode and whole-prompt prefill time: the main path runs ``gpu_fraction`` of the
    layers, the CPU path the rest (partial offload); under expert offload (``cpu_moe_layers`` > 0)
    every layer runs on the GPU but the offloaded experts (``offloaded_expert_decode_seconds``,
    ``offloaded_expert_prefill_seconds``; placement never combines it with ``gpu_fraction`` < 1).
    The band of a mixed run is the wider of the two,
    widened by OFFLOAD_BAND_WIDENING. Prefill on an accelerator runs the routed experts at
    ``expert_gemm_efficiency``."""
    on_gpu_side = without_offloaded_experts(c, cpu_moe_layers)
    main_times = _path_times(on_gpu_side, d, d.main, workload, d.on_gpu, gpu_fraction)
    t_main, m_mem, m_comp, m_fixed, _, _, _ = main_times
    prefill_side = with_expert_gemm_efficiency(
        c if min(workload.prompt_tokens, workload.n_ubatch) >= OP_OFFLOAD_MIN_BATCH else on_gpu_side, d)
    if prefill_side is not on_gpu_side:  # else the same terms: the same times
        main_times = _path_times(prefill_side, d, d.main, workload, d.on_gpu, gpu_fraction)
    _, _, _, _, p_main, pm_comp, pm_mem = main_times
    rest = 1.0 - gpu_fraction
    layer_split = rest > 0
    moe_split = cpu_moe_layers > 0
    offload = layer_split | moe_split
    if never(offload):  # one candidate wholly on its main path: no CPU side to time
        t_cpu = c_mem = c_comp = c_fixed = p_cpu = 0.0
    else:
        t_cpu, c_mem, c_comp, c_fixed, p_cpu, _, _ = _path_times(c, d, d.cpu, workload, False, rest)
        e_cpu, e_mem, e_comp, e_fixed = offloaded_expert_decode_seconds(c, d, cpu_moe_layers)
        t_cpu, c_mem, c_comp, c_fixed = (where(moe_split, e, x) for e, x in ((e_cpu, t_cpu), (e_mem, c_mem), (e_comp, c_comp), (e_fixed, c_fixed)))
        p_cpu = where(moe_split, offloaded_expert_prefill_seconds(c, d, workload, cpu_moe_layers), p_cpu)
    t_token = t_main + where(offload, t_cpu, 0.0)
    floor_s = m_mem * minimum(1.0, d.main.bw_efficiency) + where(offload, c_mem * minimum(1.0, d.cpu.bw_efficiency), 0.0)
    t_prompt = p_main + where(offload, p_cpu, 0.0)
    widen = lambda a, b: where(offload, where(a >= b, a, b) * OFFLOAD_BAND_WIDENING, a)  # noqa: E731
    use_cpu = offload & (t_cpu > t_main)  # the bound of the side that takes longer
    bound = decode_bound_code(where(use_cpu, c_mem, m_mem), where(use_cpu, c_comp, m_comp), where(use_cpu, c_fixed, m_fixed))
    return Timing(
        decode_s_per_token=t_token,
        prompt_s=t_prompt,
        response_s=t_prompt + workload.output_tokens * t_token,
        decode_bound_code=bound,
        prefill_compute_bound=pm_comp >= pm_mem,
        decode_band=widen(d.main.decode_band, d.cpu.decode_band),
        prefill_band=widen(d.main.prefill_band, d.cpu.prefill_band),
        gpu_layers=where(d.on_gpu, rounded(c.n_layers * gpu_fraction), 0),
        decode_floor_s=floor_s,
    )


# --------------------------------------------------------------------------- MoE prefill


def with_expert_gemm_efficiency(c: CandidateTerms, d: DeviceTerms) -> CandidateTerms:
    """Prefill terms with the routed experts' GEMMs at efficiency η of the dense GEMMs: their
    parameters count 1/η times (η = ``empirical.guess_expert_gemm_efficiency``: below 1 on
    llama.cpp's accelerator paths — ``can_offload`` marks llama.cpp — and on its x86 CPU path,
    1 on Arm CPUs and in the other runtimes, whose expert kernels were not measured)."""
    if never(c.expert_active_params):
        return c
    eta = empirical.guess_expert_gemm_efficiency(d.on_gpu & d.can_offload, cpu_efficiency=where(d.on_gpu, 1.0, d.cpu_expert_gemm))
    return replace(c, matmul_params=c.matmul_params + c.expert_active_params * (1.0 / eta - 1.0))

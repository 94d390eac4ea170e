"""Speed: decode and prefill tokens/s, time to first token, response time and energy.

Decode (one token at a time) reads every active weight and the KV cache so far, so per token
(MoE: active = attention, routers, shared experts and n_experts_used / n_experts of the routed
experts; a prefill micro-batch of 512 tokens touches every expert, so prefill reads all weights)

    t_decode = max(bytes_read / (bandwidth × bw_efficiency),            memory roofline
                   2 × matmul_params / (flops × decode_compute_efficiency))  compute roofline
               + n_layers × fixed_s_per_layer                             fixed cost (launches, syncs)

On a CPU, ``flops`` of quantized weights is the int8 dot-product rate of the decode threads
(FP32 rate × INT8_DOT_PER_FP32_FMA of the ISA: dotprod, VNNI, AVX2, plain NEON), float weights
the FP32 rate, and n threads count as n ** THREAD_SCALING_EXPONENT cores (``cpu_decode_rates``).

Prefill processes the prompt in micro-batches of n_ubatch tokens; each micro-batch costs

    t_ubatch = max(tokens × flops_per_token / (flops × prefill_efficiency),   compute roofline
                   weight_bytes / (bandwidth × bw_efficiency))               weights read once

with flops_per_token = 2 × matmul params + 4 × n_layers × n_heads × head_dim × position
(QKᵀ and AV). See shared/PREDICTION.md. The efficiencies are per execution path ("cpu-arm",
"metal", "cuda", …), fitted to published measurements (catalog/calibration.toml) and refined per
device from the user's own runs (advisor calibrate).
"""

from __future__ import annotations

from collections.abc import Sequence

from advisor.engine.arrays import Num, maximum, minimum, where
from advisor.engine.tensors import Tensor, is_expert_tensor, layer_sums
from advisor.records import DeviceProfile, ModelSpec, PathFactors
from advisor.units import GB_S

#: When model + KV fit in the last-level cache, the CPU reads them at the cache's bandwidth if the
#: profile gives one (`advisor profile` measures it). Without a measurement no speed-up is assumed:
#: on the machine we validated on, a hypervisor-reported 480 MiB L3 gave none (benchmarks/results/validation.md).
LLC_BANDWIDTH_MULTIPLIER = 1.0

#: Fraction of the power envelope drawn while generating, when a profile gives no typical draw.
POWER_FRACTION_OF_MAX = 0.6

#: Partial offload mixes two paths; its band is the wider of the two, widened by this factor.
OFFLOAD_BAND_WIDENING = 1.25

GPU_PATHS = ("cuda", "cuda-unified", "metal", "vulkan", "opencl")


def execution_path(device: DeviceProfile) -> str:
    """Which llama.cpp backend a device runs on by default, as a calibration key."""
    if device.gpu_usable:
        gpu = device.gpu
        assert gpu is not None
        if gpu.backend == "cuda":
            return "cuda" if gpu.discrete else "cuda-unified"
        return gpu.backend  # metal, vulkan, opencl
    return cpu_path(device)


def cpu_path(device: DeviceProfile) -> str:
    """The CPU execution path of a device (where layers left off a GPU run)."""
    if device.cpu.arch == "x86_64":
        return "cpu-x86"
    if device.cpu.arch == "riscv64":
        return "cpu-riscv"  # one path, with or without RVV: the profile's FP32 rate tells them apart
    if "dotprod" in device.cpu.isa:
        return "cpu-arm"
    return "cpu-arm-legacy"


#: llama.cpp's CPU paths whose factors are fitted against datasheet bandwidths (catalog/calibration.toml).
CPU_PATHS = ("cpu-x86", "cpu-arm", "cpu-arm-legacy", "cpu-riscv")

#: Share of a *measured* memory bandwidth (a profile with bandwidth_basis = "measured": what
#: ``advisor profile``'s multi-threaded read benchmark achieved) that llama.cpp's CPU decode streams
#: weights at. The paths' bw_efficiency is relative to a datasheet peak (cpu-x86 0.44): applied to a
#: figure that is already achieved, it counts the losses twice, and the shipped defaults
#: under-predicted decode on each of three machines with a measured figure. Fitted per machine with
#: every other factor shipped (python benchmarks/measured_bandwidth.py,
#: benchmarks/results/measured_bandwidth.md); this is the median of the machines' fits. Set at 0.70
#: from the first three (the validation study's 2-core EPYC VM 0.70, the lent H200's 16-core Xeon
#: host 0.64, the i5-6500 desktop whose owner measured 20.02 GB/s, a May 2023 build, 0.73); three
#: machines measured after it was set (2026-12-02/03: a 2-core Xeon VM 0.38, 2-core EPYC VMs on a Zen 4
#: host 0.63 and on a Zen 3 host 0.57) each fitted below it, and each held out is predicted better by
#: the others' median than by 0.70: decode MdAPE 72 % / 9 % / 11 % against 87 % / 9 % / 21 %; over
#: all six, held out 19.5 % (median) against 22 % with 0.70, itself in-sample on three. The median of
#: the six: 0.635. The VM's figures are those of the max-based read benchmark (advisor/hardware.py,
#: 2026-11-30: 41.2 GB/s, one thread 34.2); the H200 host's profile (94 GB/s, one thread 8.3) is
#: from the older sum-based benchmark and could not be re-measured. x86 machines only; applied on
#: every CPU path (the read benchmark and the decode stream the same memory the same way).
MEASURED_BW_EFFICIENCY = 0.635


def default_threads(device: DeviceProfile) -> int:
    """Decode threads: the big cores (more threads on big.LITTLE phones slow decode down)."""
    return device.cpu.big_cores


def decode_threads(device: DeviceProfile, requested: int | None) -> int:
    """The threads a run uses: those asked for (default: ``default_threads``), at most the CPU's
    hardware threads. More would not add a core; llama.cpp's spinning barriers then wait on
    threads the OS has descheduled, a slowdown the engine does not model, so the estimate is the
    hardware's (``evaluate`` notes the cap: Reason "threads")."""
    return min(requested or default_threads(device), max(device.cpu.threads, device.cpu.cores))


def cpu_gflops(device: DeviceProfile, threads: int) -> float:
    """Peak FP32 GFLOPS of the ``threads`` fastest cores: each core's share of the profile's
    ``fp32_gflops`` is GHz × FLOP/cycle (``Cluster.core_weight``; GHz alone when the profile
    gives no FLOP/cycle)."""
    per_weight = device.cpu.fp32_gflops / max(1e-9, sum(c.weight for c in device.cpu.clusters))
    remaining, total = threads, 0.0
    for cluster in sorted(device.cpu.clusters, key=lambda c: -c.core_weight):
        used = min(remaining, cluster.cores)
        total += used * cluster.core_weight * per_weight
        remaining -= used
        if remaining <= 0:
            break
    return total


#: Integer dot-product throughput of a CPU core relative to its FP32 FMA throughput on the same
#: vectors, by the best ISA extension the profile lists (``cpu.isa``). Decode on the CPU multiplies
#: quantized weights by 8-bit-quantized activations (ggml's q*_K / q4_0 × q8 dot products), so its
#: compute roofline is the core's int8 multiply-accumulate rate, not its FP32 rate. Ratios are
#: multiply-accumulates per 32-bit lane per instruction against one FMA per FP32 lane (Arm ARM
#: SDOT; Intel SDM VPDPBUSD, VPMADDUBSW); ops per second = FP32 FLOP/s × ratio.
#: AVX2 takes VNNI's ratio, though its VPMADDUBSW + VPMADDWD pair does half of VPDPBUSD's work per
#: instruction: measured, the decode kernels do not run slower for it. One llama.cpp source built
#: three ways on this repository's AVX-512 VM (python benchmarks/cpu_isa.py,
#: benchmarks/results/cpu_isa.md) decodes Llama-3.2-1B Q4_0, Q8_0 and Q4_K_M with 1 and 2 threads
#: at one speed: without VNNI ×0.97–1.05, AVX2 only ×0.97–1.00 of the native build. The ratio 2
#: predicted ×0.71. The rest of the kernel (unpacking nibbles, scales, horizontal sums) and one
#: core's streaming bound it, not the multiply instruction. (Prefill does depend on the ISA:
#: REPACK_PREFILL_SPEEDUP and KQUANT_PREFILL_BY_FAMILY by family.)
INT8_DOT_PER_FP32_FMA = (
    ("avx512_vnni", 4.0),  # VPDPBUSD zmm: 4 u8×s8 MACs per 32-bit lane, one instruction
    ("avx_vnni", 4.0),     # VPDPBUSD ymm (Alder Lake and later): the same per lane
    ("dotprod", 4.0),      # Armv8.2 SDOT/UDOT: 4 s8 MACs per 32-bit lane
    ("avx2", 4.0),         # VPMADDUBSW then VPMADDWD: half of VNNI per instruction, the same decode (above)
    ("neon", 1.0),         # SMULL/SMLAL(2) to 16 bit then SADALP: as many MACs per instruction as FMLA
)
#: Float weights (F32, F16, BF16) are multiplied in FP32 (x86: F16C conversion, then FMA).
FLOAT_DOT_PER_FP32_FMA = 1.0

#: Parallel efficiency of llama.cpp's decode threads: n threads deliver n ** THREAD_SCALING_EXPONENT
#: cores' worth of compute (a barrier per operation, shared caches and memory controllers). Source:
#: the 1-thread / n-thread pairs of the T-MAC rows of measurements.csv (same device, model and file:
#: M2 Ultra 1→8 threads ×5.6 and ×5.8, AGX Orin CPU 1→12 ×7.1 and ×9.0, Surface Book 3 1→4 ×2.6
#: and ×2.8: exponents 0.69–0.88, median 0.82). A ratio within one device, so no device's
#: absolute speed enters it.
THREAD_SCALING_EXPONENT = 0.8


#: Per-weight cost of llama.cpp's Arm NEON dot-product kernel of a quantization type, relative to
#: the legacy types (Q4_0 … Q8_0: one scale per 32 weights): a compute-bound CPU decode step of the
#: type runs at 1 / cost of the int8 rate. K-quants unpack 2–6-bit weights with 6-bit sub-block
#: scales and mins before the dot products. Source: the Q4_0 / Q2_K pairs of the T-MAC rows of
#: measurements.csv (same device, model, threads; compute-bound at 1 thread): M2 Ultra 5.65 / 3.82
#: = 1.48 (8 threads: 31.57 / 22.06 = 1.43), AGX Orin CPU 1.04 / 0.79 = 1.32; median 1.43. A ratio
#: within one device, so no device's absolute speed enters it. Only Q2_K is measured; the other
#: K-quants stay at 1 (not measured). x86 keeps 1 for every type: the Surface Book 3's pair
#: (AVX-512 VNNI, 1 thread, a 2024 build) gives 2.5 / 2.7 = 0.93, Q2_K no slower; on this
#: repository's AVX-512 VM (a current build, python benchmarks/cpu_dot_cost.py) Llama-3.2-1B's
#: Q4_0, Q4_K_M and Q2_K decode at one speed with 1 thread (×1.00/×1.05/×1.04), bound by the dot
#: products though Q2_K reads a quarter fewer bytes.
ARM_DOT_COST_BY_TYPE = {"Q2_K": 1.43}


def arm_dot_cost(base_type: str) -> float:
    """ARM_DOT_COST_BY_TYPE of a GGUF base type (1 for the types not measured)."""
    return ARM_DOT_COST_BY_TYPE.get(base_type, 1.0)


#: Quantization types llama.cpp repacks at load into interleaved blocks for its CPU GEMM/GEMV
#: kernels (the CPU_REPACK buffer), by the CPU feature that selects the kernel:
#: ggml-cpu/repack.cpp ``ggml_repack_get_optimal_repack_type`` of llama.cpp as vendored in
#: llama-cpp-python 0.3.36. Turned off by llama.cpp's ``--no-repack`` (``Workload.cpu_repack``).
#: RISC-V vector repacking (by VLEN) is not modelled.
REPACKED_TYPES = {
    "avx512": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"}),
    "avx2": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}),
    "dotprod": frozenset({"Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", "Q8_0"}),
}

#: Prefill speed-up (or slow-down) of a repacked type on the CPU over the same file unrepacked, by
#: REPACKED_TYPES family, where measured; a type repacked but not measured keeps 1. Q4_0's is over
#: the legacy types' unrepacked speed (the engine's for every legacy type, Q8_0's as measured):
#: unrepacked, x86's Q4_0 kernel runs at only ×0.84–0.88 of Q8_0's (AVX2 ×0.78), so repacked Q4_0
#: against plain Q4_0 (×2.2 on AVX-512) would overstate it against the other types by ~17 %.
#: - AVX-512 (this machine, 2 threads; ``python benchmarks/cpu_repack.py``,
#:   benchmarks/results/cpu_repack.md: the same twin with repacking allowed and off, 2 runs × 3
#:   repeats each): Q4_0 repacked against plain Q8_0 ×1.85 (Qwen2.5-0.5B) and ×1.83 (Llama-3.2-1B;
#:   against plain Q4_0 ×2.20 and ×2.18), and ×1.89 in llama-bench pp512 (cpu_isa.md): ×1.85.
#:   The K-quant files of Llama-3.2-1B: Q4_K_M ×0.585 and Q2_K ×0.588 — the repacked K-quant kernels are slower than the
#:   plain AVX-512 dot products; per type, so that the files' mixes (``repack_prefill_speedups``;
#:   Q6_K and Q3_K are not repacked on x86) give those: Q4_K ×0.55, Q2_K ×0.48. (The Qwen2.5-0.5B
#:   twin's K-quant files fall back to legacy types for its 896-wide rows: they measure those.)
#:   Q8_0, not repacked on x86, is the control: ×1.00.
#: - AVX2 without AVX-512 (one llama.cpp source built AVX2-only on the same machine, llama-bench
#:   pp512 with 2 threads, ``--repack`` 1 and 0; python benchmarks/cpu_isa.py,
#:   benchmarks/results/cpu_isa.md): Q4_0 ×1.06 against plain Q8_0 (×1.36 against plain Q4_0); the
#:   Llama-3.2-1B Q4_K_M file ×0.80, Q4_K ×0.78
#:   per type (its Q6_K, 15 % of the weights, is not repacked on x86); Q2_K not repacked (file
#:   ×0.98). The same source built with AVX-512 but without VNNI gives Q4_0 ×2.03 (×1.78 against
#:   plain Q8_0) and Q4_K_M ×1.36: the AVX-512 values above are those of CPUs with VNNI (every AVX-512 client CPU since
#:   Ice Lake, and Zen 4).
#: - Arm with dotprod: the Raspberry Pi 5's edge-llm-leaderboard rows (runtime-measurements.csv,
#:   same board, 4 threads, pp512, one 2024 build): mpt-7b Q4_0_4_4 (the layout llama.cpp now
#:   repacks Q4_0 into, then a file type) at 14.6 tok/s × 12.9 GFLOP per token against
#:   Qwen2.5-1.5B Q8_0 (not repacked then) at 21.9 × 2.66: 3.2× the FLOP rate. Qwen2.5-0.5B Q4_0 of
#:   a 2025+ build (llama.cpp discussion #30069) against the same Q8_0 row gives 3.6×; OLMoE-1B-7B's
#:   Q4_0_4_4 / Q8_0 pair (a MoE: experts multiply in small batches) 1.9×.
REPACK_PREFILL_SPEEDUP = {
    "avx512": {"Q4_0": 1.85, "Q4_K": 0.55, "Q2_K": 0.48},
    "avx2": {"Q4_0": 1.06, "Q4_K": 0.78},
    "dotprod": {"Q4_0": 3.2},
}

#: Prefill speed of a K-quant file's unrepacked kernels against the legacy types', by
#: REPACKED_TYPES family, where measured (else 1; a path's own ``prefill_kquant_factor`` applies on
#: top). AVX-512: this machine (benchmarks/results/cpu_repack.md, the 'plain' column of
#: Llama-3.2-1B): Q4_K_M 420 and Q2_K 390 tok/s against Q8_0's 153 — ×2.74 and ×2.55; ×2.6.
#: Repacked (the default), REPACK_PREFILL_SPEEDUP's ×0.55 / ×0.48 apply on top: the files then
#: prefill ×1.6 and ×1.5 of Q8_0, as measured. AVX2 (benchmarks/results/cpu_isa.md, an AVX2-only
#: build on the same machine, plain kernels against Q8_0's): Q4_K_M ×1.38, Q2_K ×1.35: ×1.36. (Built
#: with AVX-512 but without VNNI: ×1.33 and ×1.30 — the ×2.6 needs VNNI.) These and the repack factors
#: above were measured with the VM on a Zen 5 host; on a Zen 4 host (cpu_isa.md, session 2) the same
#: builds give AVX-512's K-quant ×1.83 and Q4_0 repacked ×1.26 of plain Q8_0: they depend on the core.
KQUANT_PREFILL_BY_FAMILY = {"avx512": 2.6, "avx2": 1.36}

#: llama.cpp's CPU prefill on an x86 CPU by the best int8 extension it has, against AVX-512 VNNI's at
#: the same FP32 peak: the cpu-x86 prefill efficiency was measured on two AVX-512 VNNI machines
#: (benchmarks/cpu_prefill_x86.py), and tinyBLAS's and ggml's integer kernels multiply-add 8-bit
#: values in one VPDPBUSD with VNNI, in VPMADDUBSW + VPMADDWD without. One llama.cpp source built per
#: extension on this repository's VM, Q8_0 pp512 unrepacked, 2 threads, against the native build
#: in the same session (python benchmarks/cpu_isa.py, benchmarks/results/cpu_isa.md):
#: - AVX-512 without VNNI ×0.89 (133.7 against 149.4 tok/s; session 1, a Zen 5 host: both builds 512-bit);
#: - AVX2 only ×0.74 (73.7 against 99.5; session 2, a Zen 4 host, whose double-pumped 512-bit FMAs
#:   give 256- and 512-bit code one FP32 rate, as an AVX2 CPU's profile counts it). On the Zen 5
#:   host, where AVX2 code has half the native build's FP32 rate, it was ×0.82;
#: - AVX2 with AVX-VNNI (Intel's client CPUs since Alder Lake: Core Ultra, N100): not measured (the Zen 4
#:   host lacks it; the build crashed there): the same VPDPBUSD on 256-bit registers, the same int8
#:   rate per FP32 FMA (INT8_DOT_PER_FP32_FMA), so AVX-512 VNNI's 1;
#: - below AVX2 (not measured): AVX2's.
#: Every weight type scales with it (the K-quant and repack factors are against the same build's Q8_0).
X86_PREFILL_BY_ISA = (("avx512_vnni", 1.0), ("avx_vnni", 1.0), ("avx512", 0.89), ("avx2", 0.74))


def x86_prefill_isa(device: DeviceProfile) -> float:
    """X86_PREFILL_BY_ISA of a device's CPU (1 off x86)."""
    if device.cpu.arch != "x86_64":
        return 1.0
    isa = set(device.cpu.isa)
    return next((factor for flag, factor in X86_PREFILL_BY_ISA if flag in isa), X86_PREFILL_BY_ISA[-1][1])


#: The same for a MoE's routed-expert matrices (llama.cpp's MUL_MAT_ID, which multiplies each
#: expert's share of a micro-batch, a few dozen rows): llama.cpp repacks them too. AVX-512: this
#: machine (python benchmarks/cpu_expert_prefill.py, benchmarks/results/cpu_expert_prefill.md: a
#: Granite-3.1-1B-A400M twin, 32 experts of which 8 per token, 256-token prompt, repacking allowed
#: and forbidden in the same session): the Q4_K_M file ×0.61 (dense Llama-3.2-1B beside it: ×0.62),
#: Q4_K ×0.57 per type; Q4_0, as the dense one against plain Q8_0, the file ×1.29 (×1.49 against
#: plain Q4_0), ×1.27 per type beside the dense matrices' ×1.85. Left at 1, the experts of a
#: Q4_K_M MoE prefilled at the unrepacked K-quant speed: +88 % there. AVX2: Q4_K as the dense
#: matrices' (an assumption from the AVX-512 pair, 0.57 against 0.55); Q4_0 not measured: 1. Arm
#: dotprod: OLMoE-1B-7B on the Raspberry Pi 5 (same leaderboard, board, build and model: Q4_0_4_4
#: 50.4 against Q8_0 26.9 tok/s at pp512), ×1.87 with nearly all its prefill FLOPs in the experts.
REPACK_PREFILL_SPEEDUP_EXPERTS = {"avx512": {"Q4_0": 1.27, "Q4_K": 0.57}, "avx2": {"Q4_K": 0.78}, "dotprod": {"Q4_0": 1.87}}


#: Prefill of another runtime's int4 weights multiplied with int8 per-token activations
#: (``RuntimeFormat.int8_activations``: ExecuTorch's 8da4w, LiteRT's dynamic_int4, ONNX Runtime's
#: MatMulNBits at accuracy level 4) on a native CPU: XNNPACK's qd8×qc4w GEMMs, KleidiAI's (which
#: llama.cpp's Arm repack also calls) and MLAS's multiply packed int4 blocks with int8 activations in
#: integer micro-kernels, the kind of kernel llama.cpp's repacked Q4_0 runs. The prefill takes that
#: measured speed-up over the unrepacked legacy types (REPACK_PREFILL_SPEEDUP's Q4_0 of the CPU's
#: family; 1 without one, or in WebAssembly) instead of the float rate the other runtimes' prior
#: assumed — a prior from llama.cpp's twins, not fitted on any runtime row. Held out against the
#: published rows (python benchmarks/fit_runtimes.py, benchmarks/results/runtime_speed.md): the
#: OnePlus 12's ExecuTorch 8da4w prefills (Llama-3.2-1B and 3B, four rows) were predicted at −70 %
#: with the float rate, at −4 to −7 % with this; its bf16 rows (float weights) keep the float rate
#: (+24 %, +26 %). LiteRT-LM's CPU int4 rows (two devices, six rows): −58..−84 % → −49..+35 %, median
#: |error| 70 % → 22 %. On x86 (AVX-512 VNNI, ×1.85), ONNX Runtime GenAI's twins on this repository's
#: VM (benchmarks/results/runtime_twins.md, a noisy 2-core VM; as a ratio within the machine):
#: Qwen2.5-0.5B int4 (accuracy level 4) prefilled ×1.87 and int4-block128 ×2.44 of the fp32 build.
#: In absolute terms, on a profile of the VM measured on another day (advisor profile), the fp32
#: build is predicted +70 % and the int4 builds move from −9 % / −30 % to +68 % / +28 %: the
#: ratio holds, the VM's level does not. Int8 weights (8da8w, dynamic_int8, ORT int8: ×1.57 of fp32
#: there) keep 1: llama.cpp's repacked Q8_0 is not measured.
def int4_gemm_speedup(device: DeviceProfile) -> float:
    """The int4 × int8 GEMM prefill speed-up of the device's CPU (REPACK_PREFILL_SPEEDUP's Q4_0)."""
    family = repack_family(device)
    return REPACK_PREFILL_SPEEDUP[family].get("Q4_0", 1.0) if family else 1.0


#: the families of REPACKED_TYPES in the order core.DeviceTerms.cpu_repack counts them (from 1)
REPACK_FAMILIES = ("avx2", "avx512", "dotprod")


def repack_family(device: DeviceProfile) -> str | None:
    """The REPACKED_TYPES key of a device's CPU (None: llama.cpp repacks nothing there)."""
    isa = set(device.cpu.isa)
    if device.cpu.arch == "x86_64":
        return "avx512" if "avx512" in isa else "avx2" if "avx2" in isa else None
    if device.cpu.arch == "arm64" and "dotprod" in isa:
        return "dotprod"
    return None


#: The multiple of a matrix's output rows (ggml ne[1]) llama.cpp needs to repack a type, by
#: REPACKED_TYPES family: its x86 kernels interleave 8 rows of every type; Arm's interleave 4 rows
#: of the 32-weight types (Q4_0, IQ4_NL, MXFP4, Q8_0: 4x4 / 4x8) and 8 of the K-quants (8x4 /
#: 8x8). ggml-cpu/repack.cpp ``ggml_repack_get_optimal_repack_type`` (llama-cpp-python 0.3.36);
#: an Arm CPU with 256-bit SVE and i8mm (a server part) takes x86's 8x8 Q4_0 layout, not modelled.
REPACK_ROW_MULTIPLE = {"avx2": {}, "avx512": {}, "dotprod": {"Q4_0": 4, "IQ4_NL": 4, "MXFP4": 4, "Q8_0": 4}}
#: matrices llama.cpp only looks rows up in (GET_ROWS, which the repacked buffer does not run):
#: they stay in the file's layout
LOOKUP_MATRICES = ("token_embd.weight", "per_layer_token_embd.weight")


def is_repacked(t: Tensor, base_type: str, family: str | None) -> bool:
    """Whether llama.cpp repacks tensor ``t`` of ``base_type`` at load on a CPU of REPACKED_TYPES
    ``family``: a multiplied matrix (2-D, or a MoE's 3-D expert stack) of a type the family repacks,
    whose output rows are a multiple of REPACK_ROW_MULTIPLE (ggml-cpu/repack.cpp: the buffer type's
    ``supports_op`` takes MUL_MAT of 2-D and MUL_MAT_ID of 3-D weights)."""
    if family is None or base_type not in REPACKED_TYPES[family] or len(t.shape) not in (2, 3) or t.name in LOOKUP_MATRICES:
        return False
    return t.shape[1] % REPACK_ROW_MULTIPLE[family].get(base_type, 8) == 0


#: x86 CPUs with AMX-INT8 (and AVX-512 VNNI, which ggml's AMX buffer also needs): llama.cpp puts
#: the matrices its AMX kernels take into an AMX buffer before the CPU_REPACK one sees them
#: (ggml-cpu.cpp lists AMX first among the extra buffer types). Its ``supports_op`` (ggml-cpu/amx/
#: amx.cpp, llama-cpp-python 0.3.36): a 2-D MUL_MAT (not a MoE's MUL_MAT_ID) of these types, output
#: rows a multiple of 2 × TILE_N = 32 and input a multiple of the type's alignment (TILE_K 32, QK_K
#: 256, F16 16). The packed size (mmq.cpp ``ggml_backend_amx_get_alloc_size``): each row's blocks as
#: stored plus, per block, the int32 compensation of Q8_0 and 4 bytes of Q4_K/Q5_K's or 2 of
#: IQ4_XS's unpacked scales; F16 is copied as it is. Measured on a Xeon with AMX (this repository's
#: twins, tests/test_twins.py): SmolLM2-135M F16's AMX buffer held every matrix, the tied
#: embedding's output copy too (268,959,744 B: the file less its norms).
AMX_ALIGNMENT = {"Q4_0": 32, "Q4_1": 32, "Q8_0": 32, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256, "IQ4_XS": 256, "F16": 16}
#: the block size of each quantized type: its alignment (F16 is not blocked)
AMX_BLOCK = {ty: align for ty, align in AMX_ALIGNMENT.items() if ty != "F16"}
AMX_EXTRA_PER_BLOCK = {"Q8_0": 4, "Q4_K": 4, "Q5_K": 4, "IQ4_XS": 2}
AMX_ROW_MULTIPLE = 32


def has_amx(device: DeviceProfile) -> bool:
    """An x86 CPU whose llama.cpp build runs ggml's AMX buffer (AMX-INT8 and AVX-512 VNNI)."""
    isa = set(device.cpu.isa)
    return device.cpu.arch == "x86_64" and "amx" in isa and "avx512_vnni" in isa


def amx_bytes(t: Tensor, base_type: str, nbytes: int, *, matmul: bool) -> int:
    """Bytes of ``t`` in llama.cpp's AMX buffer (0: its AMX kernels do not take it); ``matmul``:
    the tensor is multiplied (MUL_MAT), a lookup table only when False."""
    align = AMX_ALIGNMENT.get(base_type)
    if not matmul or align is None or len(t.shape) != 2 or t.shape[1] % AMX_ROW_MULTIPLE or t.shape[0] % align:
        return 0
    blocks = t.shape[1] * (t.shape[0] // AMX_BLOCK[base_type]) if base_type in AMX_BLOCK else 0
    return nbytes + blocks * AMX_EXTRA_PER_BLOCK.get(base_type, 0)


def amx_copy_bytes(rows: "Sequence[tuple[Tensor, str, int]]") -> tuple[int, int]:
    """(all, routed-expert) bytes llama.cpp copies at load on an AMX CPU: the AMX buffer's matrices
    (``amx_bytes``; a tied model's token embedding is multiplied as its output too, so its output
    copy is one of them) and, in CPU_REPACK, what the AVX-512 family repacks of the rest (a MoE's
    expert stacks: AMX takes no MUL_MAT_ID)."""
    tied = not any(t.name == "output.weight" for t, _, _ in rows)
    total = experts = 0
    for t, ty, nbytes in rows:
        amx = amx_bytes(t, ty, nbytes, matmul=t.name not in LOOKUP_MATRICES or (tied and t.name == "token_embd.weight"))
        if amx:
            total += amx
        elif is_repacked(t, ty, "avx512"):
            total += nbytes
            experts += nbytes if is_expert_tensor(t) else 0
    return total, experts


#: the families of llama.cpp's load-time copies: REPACK_FAMILIES' CPU_REPACK buffers, then an AMX
#: CPU's (its speeds are the AVX-512 family's: its prefill was measured with the copy in place)
COPY_FAMILIES = (*REPACK_FAMILIES, "amx")


def repacked_bytes(rows: "Sequence[tuple[Tensor, str, int]]") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(all, routed-expert) bytes llama.cpp copies into its CPU_REPACK buffer at load on a CPU of each
    COPY_FAMILIES family (the last: an AMX CPU's AMX and CPU_REPACK buffers, ``amx_copy_bytes``),
    from ``memory.per_tensor_bytes`` rows (a repacked block keeps its size: the copy is as large as the tensors; benchmarks/results/validation.md checks it against
    llama.cpp's reported buffer). The copy is what the CPU multiplies; the memory-mapped file's
    pages of those tensors stay mapped beside it, read once at load and reclaimable."""
    out = [[t for t in rows if is_repacked(t[0], t[1], family)] for family in REPACK_FAMILIES]
    amx, amx_experts = amx_copy_bytes(rows)
    return (tuple(sum(b for _, _, b in picked) for picked in out) + (amx,),
            tuple(sum(b for t, _, b in picked if is_expert_tensor(t)) for picked in out) + (amx_experts,))


#: tensors a prefill multiplies on the CPU that are not block matrices of the file's mix: the
#: token-embedding lookup (and Gemma 3n's per-layer one) and the output projection (``vocab_flops``)
NOT_PREFILL_MATMUL = ("token_embd.weight", "per_layer_token_embd.weight", "output.weight")


def prefill_matrices(rows: "Sequence[tuple[Tensor, str, int]]") -> list[tuple[Tensor, str]]:
    """(tensor, type) of the matrices a prefill multiplies in the file's types: the
    ``memory.per_tensor_bytes`` rows less NOT_PREFILL_MATMUL and the vectors."""
    return [(t, ty) for t, ty, _ in rows if t.is_matrix and t.name not in NOT_PREFILL_MATMUL]


def repack_prefill_speedups(rows: "Sequence[tuple[Tensor, str, int]]") -> tuple[float, ...]:
    """The prefill speed-up of a GGUF's weights on a CPU of each REPACK_FAMILIES family: the time
    of its matrices at their own types' speed-ups, Σ n / Σ (n / speed-up) over the matrices' element
    counts (``memory.per_tensor_bytes`` rows: a Q4_K_M file of a model with 896-wide rows holds
    mostly Q5_0 and Q8_0 fallbacks, which repack differently)."""
    mats = prefill_matrices(rows)
    total = sum(t.n_elements for t, _ in mats)
    if not total:
        return (1.0,) * len(REPACK_FAMILIES)
    return tuple(total / sum(t.n_elements / (repack_prefill_speedup(ty, family, expert=is_expert_tensor(t)) if is_repacked(t, ty, family) else 1.0)
                             for t, ty in mats) for family in REPACK_FAMILIES)


def prefill_family_shares(rows: "Sequence[tuple[Tensor, str, int]]") -> tuple[float, float]:
    """(K/IQ-quant share, float share) of a GGUF's prefill matrices by element count (the rest are
    legacy types): a Q4_K_M file of a model whose rows are not a multiple of 256 wide holds mostly
    legacy fallbacks, which run at the legacy types' speed."""
    mats = [(t.n_elements, weight_family(ty)) for t, ty in prefill_matrices(rows)]
    total = sum(n for n, _ in mats)
    if not total:
        return 0.0, 0.0
    return (sum(n for n, f in mats if f == "kquant") / total, sum(n for n, f in mats if f == "float") / total)


def repack_prefill_speedup(base_type: str, family: str | None, *, expert: bool = False) -> float:
    """Prefill speed-up of ``base_type`` on a CPU of REPACKED_TYPES ``family`` (1: not repacked
    there, or repacked without a measurement; below 1: repacking measured slower); ``expert``: of
    a routed-expert matrix (REPACK_PREFILL_SPEEDUP_EXPERTS)."""
    if family is None or base_type not in REPACKED_TYPES[family]:
        return 1.0
    return (REPACK_PREFILL_SPEEDUP_EXPERTS if expert else REPACK_PREFILL_SPEEDUP)[family].get(base_type, 1.0)


def int8_dot_ratio(device: DeviceProfile) -> float:
    """Int8 dot-product ops per FP32 FLOP of the device's CPU (INT8_DOT_PER_FP32_FMA)."""
    isa = set(device.cpu.isa)
    return next((ratio for flag, ratio in INT8_DOT_PER_FP32_FMA if flag in isa), 1.0)


def cpu_decode_rates(device: DeviceProfile, threads: int, *, llama_cpp: bool = True) -> tuple[float, float]:
    """(int8 dot ops/s, FP32 FLOP/s) of ``threads`` decode threads: the fastest cores' peak
    (``cpu_gflops``), for llama.cpp scaled by n ** (THREAD_SCALING_EXPONENT − 1). The exponent was
    measured on llama.cpp's threads (a barrier per graph node); other runtimes' thread pools are
    not measured and keep linear scaling."""
    n = max(1, threads)
    exponent = THREAD_SCALING_EXPONENT if llama_cpp else 1.0
    peak = cpu_gflops(device, n) * 1e9 * n ** (exponent - 1)
    return peak * int8_dot_ratio(device), peak * FLOAT_DOT_PER_FP32_FMA


def matmul_params(model: ModelSpec) -> int:
    """Parameters multiplied per token: every matrix except the token-embedding lookup and the
    output projection (counted apart: prefill computes logits for the last token only); of a
    routed-expert tensor only the n_experts_used / n_experts a token is sent to."""
    return layer_sums(model).active_matmul_params


def attention_flops(model: ModelSpec, position: float) -> float:
    """FLOPs of QKᵀ and AV for one token at ``position``: 4 × Σ_layers n_heads × head_dim × span
    (sliding-window layers span at most the window)."""
    sums = layer_sums(model)
    return attention_flops_at(sums.global_q_dims, sums.swa_q_dims, model.sliding_window, position)


def weight_family(base_type: str) -> str:
    """'float' (F32/F16/BF16), 'kquant' (K- and IQ-quants) or 'legacy' (Q4_0 … Q8_0)."""
    if base_type in ("F32", "F16", "BF16"):
        return "float"
    if base_type.endswith("_K") or base_type.startswith("IQ") or base_type.startswith("TQ"):
        return "kquant"
    return "legacy"


def prefill_type_factor(base_type: str, factors: PathFactors) -> float:
    family = weight_family(base_type)
    if family == "kquant":
        return factors.prefill_kquant_factor
    if family == "float":
        return factors.prefill_float_factor
    return 1.0


# --------------------------------------------------------------------------- formulas
# Each works on plain numbers (one estimate) and on numpy arrays (the grid, advisor.engine.grid).


def effective_bandwidth(peak_gbs: Num, efficiency: Num, resident_bytes: Num, llc_bytes: Num, llc_gbs: Num, cpu_path: Num) -> Num:
    """Achieved bytes/s: peak × efficiency; on a CPU path, data that fits in the last-level cache
    is read at the cache bandwidth (given, or LLC_BANDWIDTH_MULTIPLIER × DRAM), never slower than
    from DRAM: a cache figure below the memory's is a measurement the cache did not serve (a VM
    whose L3 other tenants share: 17 GB/s at half of a 32 MiB L3 against 23.6 GB/s from DRAM on
    this repository's Zen 3 VM, benchmarks/reference_devices/ref-epyc-zen3-vm-2c.toml)."""
    dram = peak_gbs * GB_S * efficiency
    cache = maximum(where(llc_gbs > 0, llc_gbs * GB_S, dram * LLC_BANDWIDTH_MULTIPLIER), dram)
    in_cache = (llc_bytes > 0) & (resident_bytes <= llc_bytes) & cpu_path
    return where(in_cache, cache, dram)


def attention_flops_at(global_q_dims: Num, swa_q_dims: Num, window: Num, position: Num) -> Num:
    """QKᵀ and AV FLOPs of one token at ``position``: 4 × (Σ_global q_dims × pos + Σ_swa q_dims × min(pos, window))."""
    return 4 * (global_q_dims * position + swa_q_dims * minimum(position, window))


def decode_seconds(
    bytes_per_token: Num, bandwidth: Num, flops_per_token: Num, flops_rate: Num, n_layers: Num,
    fixed_s_per_layer: Num, share: Num = 1.0,
) -> tuple[Num, Num, Num, Num]:
    """One decode step: max(memory time, compute time) + fixed per-layer cost, for ``share`` of
    the layers. Returns (total, memory, compute, fixed) seconds."""
    t_mem = share * bytes_per_token / bandwidth
    t_comp = share * flops_per_token / flops_rate
    t_fixed = share * n_layers * fixed_s_per_layer
    return maximum(t_mem, t_comp) + t_fixed, t_mem, t_comp, t_fixed


def prefill_seconds(
    prompt_tokens: int, n_ubatch: int, matmul_params: Num, global_q_dims: Num, swa_q_dims: Num, window: Num,
    weight_read_bytes: Num, bandwidth: Num, flops_rate: Num, n_layers: Num, fixed_s_per_layer: Num,
    vocab_flops: Num, share: Num = 1.0, expert_bytes: Num = 0.0, expert_fraction: Num = 1.0,
) -> tuple[Num, Num, Num]:
    """The prompt in micro-batches: each costs max(compute, one read of the weights) plus the
    fixed per-layer cost; then the logits of the last token. Returns (total, compute, memory).
    A MoE micro-batch of n tokens reads the union of its tokens' experts, 1 − (1 − k/E)^n of
    them with uniform routing (MOE-ARCH-NOTES §3): ``expert_bytes`` × (1 − k/E)^n are not read."""
    total = compute = memory = 0.0
    done = 0
    while done < prompt_tokens:
        n = min(n_ubatch, prompt_tokens - done)
        t_c = share * n * (2 * matmul_params + attention_flops_at(global_q_dims, swa_q_dims, window, done + n / 2)) / flops_rate
        t_m = share * (weight_read_bytes - expert_bytes * (1.0 - expert_fraction) ** n) / bandwidth
        total = total + maximum(t_c, t_m) + share * n_layers * fixed_s_per_layer
        compute = compute + t_c
        memory = memory + t_m
        done += n
    total = total + share * vocab_flops / flops_rate
    return total, compute, memory


DECODE_BOUNDS = ("memory", "compute", "overhead")


def decode_bound_code(t_mem: Num, t_comp: Num, t_fixed: Num) -> Num:
    """Index into DECODE_BOUNDS: overhead when the fixed cost exceeds both rooflines, else the
    larger of memory and compute time."""
    return where(t_fixed > maximum(t_mem, t_comp), 2, where(t_mem >= t_comp, 0, 1))


def decode_bound(t_mem: float, t_comp: float, t_fixed: float) -> str:
    return DECODE_BOUNDS[decode_bound_code(t_mem, t_comp, t_fixed)]


def device_power_w(device: DeviceProfile) -> float:
    """Draw while generating: the profile's typical figure, else a share of the envelope. The one
    power figure of every energy figure (J/token, J/response) and of tok/s per W."""
    return device.power.typical_w or device.power.max_w * POWER_FRACTION_OF_MAX


def _watts(w: float) -> str:
    return f"{round(w, 3):g} W"


def device_power_basis(device: DeviceProfile, owner: str | None = None) -> str:
    """Which power figure ``device_power_w`` took, in words: the profile's typical draw (in a power
    mode, the top mode's typical draw scaled to the mode's budget), else a share of the maximum.
    ``owner`` names the device whose profile it is where that is not the device asked about (a
    RAM-only device's slowest peer)."""
    whose = f"{owner}'s" if owner else "the profile's"
    p = device.power
    mode = next((m for m in p.modes if m.name == p.active_mode), None)
    top = p.modes[0] if p.modes else None
    if p.typical_w:
        if mode is not None and top is not None and mode is not top:
            return (f"{_watts(p.typical_w)}: the {mode.name} power mode's typical draw while generating, the "
                    f"{top.name} mode's {_watts(p.typical_w * top.max_w / p.max_w)} × {p.max_w:g}/{top.max_w:g} W ({p.basis})")
        return f"{_watts(p.typical_w)}: {whose} typical draw while generating ({p.basis})"
    envelope = f"the {mode.name} power mode's {_watts(p.max_w)} budget" if mode is not None else f"the {_watts(p.max_w)} maximum"
    if owner:
        envelope = f"{owner}'s " + envelope.removeprefix("the ")
    return (f"{_watts(device_power_w(device))}: {POWER_FRACTION_OF_MAX:.0%} of {envelope} ({p.basis}); "
            f"{owner or 'the profile'} gives no typical draw")

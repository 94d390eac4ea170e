"""Speed: decode and prefill tokens/s, time to first token, response time and energy.

Decode (one token at a time) reads every active weight and the KV cache so far, so per token

    t_decode = max(bytes_read / (bandwidth × bw_efficiency),            memory roofline
                   2 × matmul_params / (flops × decode_compute_efficiency))  compute roofline
               + n_layers × fixed_s_per_layer                             fixed cost (launches, syncs)

Prefill processes the prompt in micro-batches of n_ubatch tokens; each micro-batch costs

    t_ubatch = max(tokens × flops_per_token / (flops × prefill_efficiency),   compute roofline
                   weight_bytes / (bandwidth × bw_efficiency))               weights read once

with flops_per_token = 2 × matmul params + 4 × n_layers × n_heads × head_dim × position
(QKᵀ and AV). See shared/PREDICTION.md. The efficiencies are per execution path ("cpu-arm",
"metal", "cuda", …), fitted to published measurements (catalog/calibration.toml) and refined per
device from the user's own runs (advisor calibrate).
"""

from __future__ import annotations

from typing import Mapping

from advisor.engine import memory as mem
from advisor.engine.tensors import tensor_inventory
from advisor.records import Band, DeviceProfile, FileType, GgmlType, ModelSpec, PathFactors, SpeedEstimate, Workload
from advisor.units import GB_S

#: When model + KV fit in the last-level cache, the CPU reads them at cache speed. Without a
#: measured cache bandwidth in the profile we assume this multiple of DRAM bandwidth.
LLC_BANDWIDTH_MULTIPLIER = 3.0

#: Fraction of the power envelope drawn while generating, when a profile gives no typical draw.
POWER_FRACTION_OF_MAX = 0.6


def execution_path(device: DeviceProfile) -> str:
    """Which llama.cpp backend a device runs on by default, as a calibration key."""
    if device.gpu_usable:
        gpu = device.gpu
        assert gpu is not None
        if gpu.backend == "cuda":
            return "cuda" if gpu.discrete else "cuda-unified"
        return gpu.backend  # metal, vulkan, opencl
    if device.cpu.arch == "x86_64":
        return "cpu-x86"
    if "dotprod" in device.cpu.isa:
        return "cpu-arm"
    return "cpu-arm-legacy"


def default_threads(device: DeviceProfile) -> int:
    """Decode threads: the big cores (more threads on big.LITTLE phones slow decode down)."""
    return device.cpu.big_cores


def cpu_gflops(device: DeviceProfile, threads: int) -> float:
    """Peak FP32 GFLOPS of the ``threads`` fastest cores (clusters are listed fastest first)."""
    per_core_total = device.cpu.fp32_gflops / max(1, sum(c.cores * c.ghz for c in device.cpu.clusters))
    remaining, total = threads, 0.0
    for cluster in sorted(device.cpu.clusters, key=lambda c: -c.ghz):
        used = min(remaining, cluster.cores)
        total += used * cluster.ghz * per_core_total
        remaining -= used
        if remaining <= 0:
            break
    return total


def matmul_params(model: ModelSpec) -> int:
    """Parameters multiplied per token: every matrix except the token-embedding lookup and the
    output projection (counted apart: prefill computes logits for the last token only)."""
    return sum(
        t.n_elements
        for t in tensor_inventory(model)
        if t.is_matrix and t.name not in ("token_embd.weight", "output.weight")
    )


def attention_flops(model: ModelSpec, position: float) -> float:
    """FLOPs of QKᵀ and AV for one token at ``position``: 4 × Σ_layers n_heads × head_dim × span."""
    total = 0.0
    for layer in range(model.n_layers):
        span = min(position, model.sliding_window) if model.is_swa_layer(layer) else position
        total += 4 * model.heads(layer) * model.head_dim * span
    return total


def _band(value: float, rel: float) -> Band:
    return Band(low=value / (1 + rel), high=value * (1 + rel))


def estimate_speed(
    model: ModelSpec,
    ftype: FileType,
    ggml_types: Mapping[str, GgmlType],
    device: DeviceProfile,
    workload: Workload,
    factors: PathFactors,
    *,
    gpu_fraction: float = 1.0,
    cpu_factors: PathFactors | None = None,
) -> SpeedEstimate:
    """All speed figures of one model × quant on one device for one workload.

    ``gpu_fraction`` < 1 models partial offload to a discrete GPU: that share of the layers runs
    on the GPU at VRAM bandwidth, the rest on the CPU path (``cpu_factors``).
    """
    path = factors.path
    on_gpu = path in ("cuda", "cuda-unified", "metal", "vulkan", "opencl")
    threads = workload.threads or default_threads(device)

    weights = mem.weights_bytes(model, ftype, ggml_types)
    lookup = mem.embedding_lookup_bytes(model, ftype, ggml_types)
    weight_read = weights - lookup  # an untied embedding is gathered (one row), not streamed
    vocab_matmul = 2 * model.vocab_size * model.hidden_size
    mm_params = matmul_params(model)

    # ---- bandwidth and compute of the path
    def bandwidth(fac: PathFactors, gpu: bool, resident_bytes: float) -> float:
        if gpu and device.gpu and device.gpu.discrete:
            return (device.gpu.vram_bandwidth_gbs or device.memory.bandwidth_gbs) * GB_S * fac.bw_efficiency
        bw = device.memory.bandwidth_gbs * GB_S * fac.bw_efficiency
        llc = device.memory.llc
        if not gpu and llc and resident_bytes <= llc:
            cache_bw = device.memory.llc_bandwidth_gbs
            bw = cache_bw * GB_S if cache_bw else bw * LLC_BANDWIDTH_MULTIPLIER
        return bw

    def flops(gpu: bool) -> float:
        if gpu and device.gpu:
            return device.gpu.fp16_tflops * 1e12
        return cpu_gflops(device, threads) * 1e9

    positions_mid = workload.prompt_tokens + workload.output_tokens / 2
    kv_read = mem.kv_read_bytes(model, int(positions_mid), workload.kv_cache_type)
    bytes_per_token = weight_read + kv_read

    def decode_time(fac: PathFactors, gpu: bool, share: float) -> tuple[float, str]:
        bw = bandwidth(fac, gpu, bytes_per_token)
        t_mem = share * bytes_per_token / bw
        t_comp = share * (2 * mm_params + vocab_matmul + attention_flops(model, positions_mid)) / (
            flops(gpu) * fac.decode_compute_efficiency
        )
        t_fixed = share * model.n_layers * fac.fixed_s_per_layer
        bound = "memory" if t_mem >= t_comp else "compute"
        if t_fixed > max(t_mem, t_comp):
            bound = "overhead"
        return max(t_mem, t_comp) + t_fixed, bound

    def prefill_time(fac: PathFactors, gpu: bool, share: float) -> tuple[float, str]:
        bw = bandwidth(fac, gpu, weight_read)
        rate = flops(gpu) * fac.prefill_efficiency
        total, compute_total, mem_total = 0.0, 0.0, 0.0
        done = 0
        while done < workload.prompt_tokens:
            n = min(workload.n_ubatch, workload.prompt_tokens - done)
            mid = done + n / 2
            t_c = share * n * (2 * mm_params + attention_flops(model, mid)) / rate
            t_m = share * weight_read / bw
            total += max(t_c, t_m) + share * model.n_layers * fac.fixed_s_per_layer
            compute_total += t_c
            mem_total += t_m
            done += n
        total += share * vocab_matmul / rate  # logits of the last prompt token
        return total, ("compute" if compute_total >= mem_total else "memory")

    if on_gpu and gpu_fraction < 1.0:
        cpu_fac = cpu_factors or factors
        t_g, bound = decode_time(factors, True, gpu_fraction)
        t_c, bound_c = decode_time(cpu_fac, False, 1 - gpu_fraction)
        t_token = t_g + t_c
        bound = bound_c if t_c > t_g else bound
        p_g, pbound = prefill_time(factors, True, gpu_fraction)
        p_c, _ = prefill_time(cpu_fac, False, 1 - gpu_fraction)
        t_prompt = p_g + p_c
        band_d = max(factors.decode_band, cpu_fac.decode_band) * 1.25
        band_p = max(factors.prefill_band, cpu_fac.prefill_band) * 1.25
    else:
        t_token, bound = decode_time(factors, on_gpu, 1.0)
        t_prompt, pbound = prefill_time(factors, on_gpu, 1.0)
        band_d, band_p = factors.decode_band, factors.prefill_band

    decode_tps = 1.0 / t_token
    prefill_tps = workload.prompt_tokens / t_prompt
    response_s = t_prompt + workload.output_tokens * t_token

    power = device.power.typical_w or device.power.max_w * POWER_FRACTION_OF_MAX
    basis = (
        f"{'VRAM' if on_gpu and device.gpu and device.gpu.discrete else 'memory'} bandwidth "
        f"{device.memory.bandwidth_gbs if not (on_gpu and device.gpu and device.gpu.discrete) else device.gpu.vram_bandwidth_gbs:g} GB/s "
        f"({device.memory.bandwidth_basis if not (on_gpu and device.gpu and device.gpu.discrete) else device.gpu.vram_bandwidth_basis}) "
        f"× efficiency {factors.bw_efficiency:.2f} on {path}; {factors.basis}"
    )
    return SpeedEstimate(
        decode_tokens_per_s=decode_tps,
        decode_band=_band(decode_tps, band_d),
        decode_bound=bound,  # type: ignore[arg-type]
        prefill_tokens_per_s=prefill_tps,
        prefill_band=_band(prefill_tps, band_p),
        prefill_bound=pbound,  # type: ignore[arg-type]
        ttft_s=t_prompt,
        response_s=response_s,
        energy_j_per_token=power * t_token,
        energy_j_per_response=power * response_s,
        backend=path,
        threads=threads,
        gpu_layers=round(model.n_layers * gpu_fraction) if on_gpu else 0,
        basis=basis,
        bytes_per_token=int(bytes_per_token),
    )

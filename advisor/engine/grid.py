"""The whole grid — every model × quantization × device — evaluated at once with numpy, from
the same formula functions as a single estimate (``speed.decode_seconds`` & co.).

Returns columns (a dict of arrays), one row per model × quant × device; ``tests/test_grid.py``
checks every row against ``fit.evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from advisor.engine import empirical
from advisor.engine import memory as mem
from advisor.engine.fit import Tables, cpu_path_factors, factors_for, quality_table
from advisor.engine.speed import (
    GPU_PATHS,
    OFFLOAD_BAND_WIDENING,
    cpu_gflops,
    decode_bound_code,
    decode_seconds,
    default_threads,
    device_power_w,
    effective_bandwidth,
    attention_flops_at,
    prefill_seconds,
    weight_family,
)
from advisor.engine.tensors import layer_sums
from advisor.records import DeviceProfile, FileType, ModelSpec, PathFactors, Workload

FIT_CODES = ("fits", "tight", "offload", "no")


@dataclass(frozen=True)
class Grid:
    model_ids: np.ndarray
    quant_ids: np.ndarray
    device_ids: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.model_ids)


def evaluate_grid_arrays(
    tables: Tables,
    devices: Sequence[DeviceProfile],
    workload: Workload,
    *,
    models: Sequence[ModelSpec] | None = None,
    quants: Sequence[FileType] | None = None,
    overrides: Mapping[str, PathFactors] | None = None,
) -> Grid:
    models = list(models or tables.models.values())
    quants = list(quants or tables.file_types.values())
    qt = quality_table(tables)

    # ---- per model × quant: shape (MQ, 1)
    mq = [(m, q) for m in models for q in quants]

    def col(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)[:, None]

    sums = {id(m): layer_sums(m) for m in models}
    weights = col([mem.weights_bytes(m, q, tables.ggml_types) for m, q in mq])
    weight_read = col([mem.prefill_weight_read_bytes(m, q, tables.ggml_types) for m, q in mq])
    decode_weight_read = col([mem.decode_weight_read_bytes(m, q, tables.ggml_types) for m, q in mq])
    recurrent = col([mem.recurrent_state_bytes(m) for m, _ in mq])
    kv_by_model = {id(m): mem.kv_cache_bytes(m, workload.context_tokens, workload.kv_cache_type, workload.n_ubatch) for m in models}
    kv = col([kv_by_model[id(m)] for m, _ in mq])
    cbuf_by_model = {id(m): empirical.guess_compute_buffer_bytes(m, workload.context_tokens, workload.n_ubatch,
                                                                  flash_attn=empirical.resolve_flash_attn(workload.flash_attn))
                      for m in models}
    cbuf = col([cbuf_by_model[id(m)] for m, _ in mq])
    overhead = float(empirical.RUNTIME_OVERHEAD_BYTES)
    total = weights + kv + recurrent + cbuf + overhead
    quality = col([qt.score(m, q) for m, q in mq])
    n_layers = col([m.n_layers for m, _ in mq])
    mm = col([sums[id(m)].active_matmul_params for m, _ in mq])
    gq = col([sums[id(m)].global_q_dims for m, _ in mq])
    sq = col([sums[id(m)].swa_q_dims for m, _ in mq])
    window = col([m.sliding_window for m, _ in mq])
    vocab_flops = col([2 * m.vocab_size * m.hidden_size for m, _ in mq])
    position = workload.prompt_tokens + workload.output_tokens / 2
    kv_read = col([mem.kv_read_bytes(m, position, workload.kv_cache_type) for m, _ in mq])
    bytes_per_token = decode_weight_read + kv_read
    decode_flops = 2 * mm + vocab_flops + attention_flops_at(gq, sq, window, position)
    ctx_ok = col([workload.context_tokens <= m.context_length for m, _ in mq]).astype(bool)
    family = [weight_family(q.base_type) for _, q in mq]
    is_k = col([f == "kquant" for f in family]).astype(bool)
    is_float = col([f == "float" for f in family]).astype(bool)

    # ---- per device: shape (1, D)
    def row(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)[None, :]

    main = [factors_for(d, tables, overrides) for d in devices]
    cpuf = [cpu_path_factors(d, tables) for d in devices]
    on_gpu = row([f.path in GPU_PATHS for f in main]).astype(bool)
    discrete = row([bool(d.gpu_usable and d.gpu and d.gpu.discrete) for d in devices]).astype(bool)
    threads = [workload.threads or default_threads(d) for d in devices]
    cpu_rate = row([cpu_gflops(d, t) * 1e9 for d, t in zip(devices, threads)])
    gpu_rate = row([(d.gpu.fp16_tflops * 1e12) if d.gpu else 0.0 for d in devices])
    host_bw = row([d.memory.bandwidth_gbs for d in devices])
    vram_bw = row([(d.gpu.vram_bandwidth_gbs or d.memory.bandwidth_gbs) if d.gpu and d.gpu.discrete else d.memory.bandwidth_gbs for d in devices])
    llc = row([float(d.memory.llc or 0) for d in devices])
    llc_gbs = row([float(d.memory.llc_bandwidth_gbs or 0) for d in devices])
    host_usable = row([d.memory.usable for d in devices])
    vram_usable = row([(d.gpu.vram_usable or 0) if d.gpu and d.gpu.discrete else 0 for d in devices])
    power = row([device_power_w(d) for d in devices])

    def frow(fs: list[PathFactors], name: str) -> np.ndarray:
        return row([getattr(f, name) for f in fs])

    # ---- fit
    tight = empirical.TIGHT_FRACTION
    usable = np.where(discrete, vram_usable, host_usable)
    fit_code = np.where(total <= usable * tight, 0, np.where(total <= usable, 1, 3))
    per_layer = (weights + kv) / n_layers
    layers = np.clip(np.floor((vram_usable - cbuf - overhead) / per_layer), 0, n_layers)
    host_part = total - layers * per_layer
    partial = discrete & (fit_code == 3)
    fit_code = np.where(partial & (host_part <= host_usable), 2, fit_code)
    usable = np.where(partial, vram_usable + host_usable, usable)
    gpu_fraction = np.where(partial, layers / n_layers, 1.0)
    gpu_fraction = np.where(on_gpu, gpu_fraction, 1.0)

    # ---- speed: main path for gpu_fraction of the layers, CPU path for the rest
    def path_times(fs: list[PathFactors], gpu_side: np.ndarray, share: np.ndarray):
        peak = np.where(gpu_side & discrete, vram_bw, host_bw)
        rate = np.where(gpu_side, gpu_rate, cpu_rate)
        eff = frow(fs, "bw_efficiency")
        bw_d = effective_bandwidth(peak, eff, bytes_per_token, llc, llc_gbs, ~gpu_side)
        t, t_mem, t_comp, t_fixed = decode_seconds(bytes_per_token, bw_d, decode_flops, rate * frow(fs, "decode_compute_efficiency"),
                                                   n_layers, frow(fs, "fixed_s_per_layer"), share)
        bw_p = effective_bandwidth(peak, eff, weight_read, llc, llc_gbs, ~gpu_side)
        type_factor = np.where(is_k, frow(fs, "prefill_kquant_factor"), np.where(is_float, frow(fs, "prefill_float_factor"), 1.0))
        p, p_comp, p_mem = prefill_seconds(workload.prompt_tokens, workload.n_ubatch, mm, gq, sq, window, weight_read, bw_p,
                                           rate * frow(fs, "prefill_efficiency") * type_factor, n_layers,
                                           frow(fs, "fixed_s_per_layer"), vocab_flops, share)
        return t, t_mem, t_comp, t_fixed, p, p_comp, p_mem

    with np.errstate(divide="ignore", invalid="ignore"):
        t_main, m_mem, m_comp, m_fixed, p_main, pm_comp, pm_mem = path_times(main, on_gpu, gpu_fraction)
        rest = 1.0 - gpu_fraction
        t_cpu, c_mem, c_comp, c_fixed, p_cpu, _, _ = path_times(cpuf, np.zeros_like(on_gpu), rest)
        t_cpu, p_cpu = np.where(rest > 0, t_cpu, 0.0), np.where(rest > 0, p_cpu, 0.0)
        t_token = t_main + t_cpu
        t_prompt = p_main + p_cpu
        decode_tps = 1.0 / t_token
        prefill_tps = workload.prompt_tokens / t_prompt
    offload = rest > 0
    band_d = np.where(offload, np.maximum(frow(main, "decode_band"), frow(cpuf, "decode_band")) * OFFLOAD_BAND_WIDENING,
                      frow(main, "decode_band"))
    band_p = np.where(offload, np.maximum(frow(main, "prefill_band"), frow(cpuf, "prefill_band")) * OFFLOAD_BAND_WIDENING,
                      frow(main, "prefill_band"))
    # bound of the side that takes longer
    use_cpu = offload & (t_cpu > t_main)
    b_mem, b_comp, b_fixed = (np.where(use_cpu, c, m) for c, m in ((c_mem, m_mem), (c_comp, m_comp), (c_fixed, m_fixed)))
    decode_bound = decode_bound_code(b_mem, b_comp, b_fixed)
    prefill_bound = np.where(pm_comp >= pm_mem, 1, 0)
    response_s = t_prompt + workload.output_tokens * t_token

    shape = (len(mq), len(devices))
    bcast = lambda a: np.broadcast_to(a, shape).ravel()  # noqa: E731
    has_speed = bcast(fit_code != 3)
    columns = {
        "weights_bytes": bcast(weights), "kv_cache_bytes": bcast(kv), "compute_buffer_bytes": bcast(cbuf),
        "overhead_bytes": np.full(shape[0] * shape[1], overhead), "total_bytes": bcast(total), "usable_bytes": bcast(usable),
        "fit_code": bcast(fit_code).astype(np.int8), "quality_score": bcast(quality), "context_ok": bcast(ctx_ok),
        "gpu_layers": bcast(np.where(on_gpu, np.round(n_layers * gpu_fraction), 0)),
        "decode_tokens_per_s": np.where(has_speed, bcast(decode_tps), np.nan),
        "decode_low": np.where(has_speed, bcast(decode_tps / (1 + band_d)), np.nan),
        "decode_high": np.where(has_speed, bcast(decode_tps * (1 + band_d)), np.nan),
        "decode_bound_code": bcast(decode_bound).astype(np.int8),
        "prefill_tokens_per_s": np.where(has_speed, bcast(prefill_tps), np.nan),
        "prefill_low": np.where(has_speed, bcast(prefill_tps / (1 + band_p)), np.nan),
        "prefill_high": np.where(has_speed, bcast(prefill_tps * (1 + band_p)), np.nan),
        "prefill_bound_code": bcast(prefill_bound).astype(np.int8),
        "ttft_s": np.where(has_speed, bcast(t_prompt), np.nan),
        "response_s": np.where(has_speed, bcast(response_s), np.nan),
        "energy_j_per_response": np.where(has_speed, bcast(power * response_s), np.nan),
    }
    model_ids = np.repeat(np.array([m.id for m, _ in mq]), len(devices))
    quant_ids = np.repeat(np.array([q.id for _, q in mq]), len(devices))
    device_ids = np.tile(np.array([d.id for d in devices]), len(mq))
    return Grid(model_ids=model_ids, quant_ids=quant_ids, device_ids=device_ids, columns=columns)

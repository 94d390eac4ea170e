"""Evaluate one model × quantization on one device: memory, fit, speed, quality."""

from __future__ import annotations

import statistics
from typing import Mapping, Protocol, Sequence

from advisor.engine import core, empirical
from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.engine.derived import Derived, QualityTable, WeightTerms
from advisor.engine.tensors import layer_sums
from advisor.records import (
    Band,
    DeviceProfile,
    Estimate,
    FileType,
    GgmlType,
    MemoryEstimate,
    ModelSpec,
    PathFactors,
    SpeedEstimate,
    Workload,
)
from advisor.units import format_size


class Tables(Protocol):
    """The data the engine needs (advisor.catalog.Catalog satisfies it)."""

    models: Mapping[str, ModelSpec]
    ggml_types: Mapping[str, GgmlType]
    file_types: Mapping[str, FileType]
    calibration: Mapping[str, PathFactors]
    derived: Derived


def quality_table(tables: Tables) -> QualityTable:
    return tables.derived.quality()


def factors_for(device: DeviceProfile, tables: Tables, overrides: Mapping[str, PathFactors] | None = None) -> PathFactors:
    """The device's own calibration when it has runs, else its execution path's calibration from
    recorded runs, else the shipped defaults for the path."""
    path = spd.execution_path(device)
    if overrides:
        if device.id in overrides and overrides[device.id].path == path:
            return overrides[device.id]
        if f"path:{path}" in overrides:
            return overrides[f"path:{path}"]
    return tables.calibration[path]


def cpu_path_factors(device: DeviceProfile, tables: Tables) -> PathFactors:
    return tables.calibration[spd.cpu_path(device)]


def classify(total: int, usable: int, tight_fraction: float = empirical.TIGHT_FRACTION) -> str:
    return core.FIT_CODES[core.placement_code(total, usable, tight_fraction)]


def candidate(model: ModelSpec, ftype: FileType, workload: Workload, tables: Tables) -> dict:
    """The terms of one model × format (weights and layer sums from the catalog's derived tables)."""
    return core.candidate_row(model, ftype, workload, tables.derived.weights(model, ftype), tables.derived.sums(model))


def device_row(device: DeviceProfile, workload: Workload, tables: Tables, overrides: Mapping[str, PathFactors] | None) -> dict:
    return core.device_row(device, workload, factors_for(device, tables, overrides), cpu_path_factors(device, tables))


def evaluate(
    model: ModelSpec,
    ftype: FileType,
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    with_speed: bool = True,
) -> Estimate:
    """Memory, fit, speed and quality of ``model`` in ``ftype`` on ``device`` for ``workload``:
    the one path (``engine.core``) run on plain numbers."""
    c = core.candidate_terms([candidate(model, ftype, workload, tables)])
    main = factors_for(device, tables, overrides)
    d = core.device_terms([core.device_row(device, workload, main, cpu_path_factors(device, tables))])
    place = core.placement(c, d)
    fit = core.FIT_CODES[place.fit_code]
    memory = MemoryEstimate(
        int(c.weights_bytes), int(c.kv_cache_bytes), int(c.compute_buffer_bytes), int(c.overhead_bytes),
        gpu_bytes=int(place.gpu_bytes),
    )
    reasons: list[str] = []
    if fit == "offload":
        layers = round(model.n_layers * place.gpu_fraction)
        reasons.append(f"{layers}/{model.n_layers} layers on the GPU, the rest on the CPU")
    if workload.context_tokens > model.context_length:
        reasons.append(f"context {workload.context_tokens} exceeds the native {model.context_length}")
    speed = None
    if with_speed and fit != "no":
        speed = _speed(model, device, workload, c, d, main, place.gpu_fraction)
    return Estimate(
        model_id=model.id,
        quant_id=ftype.id,
        device_id=device.id,
        memory=memory,
        usable_bytes=int(place.usable_bytes),
        fit=fit,  # type: ignore[arg-type]
        speed=speed,
        quality_score=quality_table(tables).score(model, ftype),
        reasons=tuple(reasons),
    )


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
    """All speed figures of one model × format on one device under the given factors (used to
    fit those factors). ``gpu_fraction`` < 1 models partial offload to a discrete GPU: that share
    of the layers runs on the GPU path, the rest on the CPU path (``cpu_factors``)."""
    weights = WeightTerms(mem.weights_bytes(model, ftype, ggml_types), mem.embedding_lookup_bytes(model, ftype, ggml_types))
    c = core.candidate_terms([core.candidate_row(model, ftype, workload, weights, layer_sums(model))])
    d = core.device_terms([core.device_row(device, workload, factors, cpu_factors or factors)])
    return _speed(model, device, workload, c, d, factors, gpu_fraction if factors.path in spd.GPU_PATHS else 1.0)


def _speed(model: ModelSpec, device: DeviceProfile, workload: Workload, c: core.CandidateTerms, d: core.DeviceTerms,
           factors: PathFactors, gpu_fraction: float) -> SpeedEstimate:
    t = core.timing(c, d, workload, gpu_fraction)
    decode_tps = 1.0 / t.decode_s_per_token
    prefill_tps = workload.prompt_tokens / t.prompt_s
    power = d.power_w
    gpu = device.gpu
    gpu_bw = bool(d.on_gpu and d.discrete and gpu is not None)
    basis = (
        f"{'VRAM' if gpu_bw else 'memory'} bandwidth "
        f"{gpu.vram_bandwidth_gbs if gpu_bw and gpu else device.memory.bandwidth_gbs:g} GB/s "
        f"({gpu.vram_bandwidth_basis if gpu_bw and gpu else device.memory.bandwidth_basis}) "
        f"× efficiency {factors.bw_efficiency:.2f} on {factors.path}; {factors.basis}"
    )
    return SpeedEstimate(
        decode_tokens_per_s=decode_tps,
        decode_band=Band(decode_tps / (1 + t.decode_band), decode_tps * (1 + t.decode_band)),
        decode_bound=spd.DECODE_BOUNDS[t.decode_bound_code],  # type: ignore[arg-type]
        prefill_tokens_per_s=prefill_tps,
        prefill_band=Band(prefill_tps / (1 + t.prefill_band), prefill_tps * (1 + t.prefill_band)),
        prefill_bound="compute" if t.prefill_compute_bound else "memory",
        ttft_s=t.prompt_s,
        response_s=t.response_s,
        energy_j_per_token=power * t.decode_s_per_token,
        energy_j_per_response=power * t.response_s,
        backend=factors.path,
        threads=workload.threads or spd.default_threads(device),
        gpu_layers=int(t.gpu_layers),
        basis=basis,
        bytes_per_token=int(c.weights_bytes - c.lookup_bytes + c.kv_read_bytes),
    )


# --------------------------------------------------------------------------- RAM-only devices

#: Share of RAM assumed usable by one app on a device described only by its RAM.
GENERIC_USABLE_FRACTION = 0.75


def generic_device(
    ram_bytes: int,
    templates: Sequence[DeviceProfile],
    *,
    device_class: str | None = None,
    usable_bytes: int | None = None,
) -> DeviceProfile:
    """A device known only by its RAM: memory from the user, speed from the median of the
    shipped CPU-only profiles (of ``device_class`` when given). Marked estimated."""
    pool = [d for d in templates if not d.gpu_usable and (device_class is None or d.device_class == device_class)]
    if not pool:
        pool = [d for d in templates if not d.gpu_usable]
    bw = statistics.median(d.memory.bandwidth_gbs for d in pool)
    gflops = statistics.median(d.cpu.fp32_gflops for d in pool)
    cores = int(statistics.median(d.cpu.big_cores for d in pool))
    power = statistics.median(d.power.typical_w or d.power.max_w for d in pool)
    arm = sum(d.cpu.arch == "arm64" for d in pool) > len(pool) / 2
    usable = usable_bytes or int(ram_bytes * GENERIC_USABLE_FRACTION)
    label = device_class or "CPU-only device"
    note = (
        f"generic {label}: speed assumes the median of {len(pool)} shipped profiles "
        f"({bw:g} GB/s, {gflops:g} GFLOPS); use --device or --device-file for real figures"
    )
    raw = {
        "id": f"generic-{format_size(ram_bytes, precision=1).replace(' ', '').lower()}",
        "name": f"Generic {label} with {format_size(ram_bytes, precision=1)} RAM",
        "class": device_class or ("sbc" if arm else "laptop"),
        "vendor": "generic",
        "soc": "unknown",
        "release": "n/a",
        "os": "unknown",
        "source": note,
        "memory": {
            "ram": ram_bytes,
            "type": "unknown",
            "bandwidth_gbs": bw,
            "bandwidth_basis": "estimated",
            "bandwidth_note": note,
            "usable": min(usable, ram_bytes),
            "usable_basis": "estimated",
            "usable_note": (
                "given with --usable" if usable_bytes else f"{GENERIC_USABLE_FRACTION:.0%} of RAM (assumption: OS and other apps take the rest)"
            ),
            "unified": True,
        },
        "cpu": {
            "name": "typical",
            "arch": "arm64" if arm else "x86_64",
            "isa": ["neon", "dotprod"] if arm else ["avx2"],
            "cores": cores,
            "threads": cores,
            "clusters": [{"name": "typical", "cores": cores, "ghz": 2.0}],
            "fp32_gflops": gflops,
            "fp32_gflops_basis": "estimated",
        },
        "power": {"typical_w": power, "max_w": power, "basis": "estimated"},
    }
    return DeviceProfile.model_validate(raw)


def over_by(est: Estimate) -> str:
    excess = est.memory.total_bytes - est.usable_bytes
    return f"needs {format_size(est.memory.total_bytes)}, {format_size(excess)} more than the {format_size(est.usable_bytes)} usable"


__all__ = ["evaluate", "estimate_speed", "generic_device", "quality_table", "factors_for", "classify", "QualityTable"]

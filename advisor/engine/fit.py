"""Evaluate one model × quantization on one device: memory, fit, speed, quality."""

from __future__ import annotations

import statistics
from typing import Mapping, Protocol, Sequence

from advisor.engine import core, empirical
from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.engine import runtimes as rt
from advisor.engine.derived import Derived, QualityTable, WeightTerms
from advisor.engine.runtimes import Variant
from advisor.engine.tensors import layer_sums, tensor_inventory
from advisor.records import (
    Band,
    DeviceProfile,
    Estimate,
    FileType,
    GgmlType,
    MemoryEstimate,
    ModelSpec,
    PathFactors,
    Reason,
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


def factors_for(
    device: DeviceProfile, tables: Tables, overrides: Mapping[str, PathFactors] | None = None, *, variant: Variant | None = None,
) -> PathFactors:
    """The device's own calibration when it has runs, else its execution path's calibration from
    recorded runs, else the shipped defaults for the path; a runtime × backend without shipped
    factors gets a prior (``runtime_prior``)."""
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        path = spd.execution_path(device)
    elif variant.is_llama_cpp:
        path = spd.cpu_path(device)  # llama.cpp asked to stay on the CPU
    else:
        path = variant.path
    if overrides:
        if device.id in overrides and overrides[device.id].path == path:
            return overrides[device.id]
        if f"path:{path}" in overrides:
            return overrides[f"path:{path}"]
    if path in tables.calibration:
        return tables.calibration[path]
    assert variant is not None
    return runtime_prior(device, variant, tables)


#: A runtime × backend without fitted factors borrows llama.cpp's factors for the same hardware,
#: its bands widened by this factor: nothing measured says how that runtime differs (assumption).
PRIOR_BAND_WIDENING = 2.0


def runtime_prior(device: DeviceProfile, variant: Variant, tables: Tables) -> PathFactors:
    """llama.cpp's factors of the same hardware (its CPU path, or its path for the device's GPU
    API) as the prior of a runtime × backend that has no published measurements."""
    base = tables.calibration[spd.cpu_path(device)]
    if variant.backend.kind != "cpu" and device.gpu is not None:
        api = device.gpu.backend
        key = ("cuda" if device.gpu.discrete else "cuda-unified") if api == "cuda" else api
        base = tables.calibration.get(key, base)
    return base.model_copy(update={
        "path": variant.path,
        "decode_band": base.decode_band * PRIOR_BAND_WIDENING,
        "prefill_band": base.prefill_band * PRIOR_BAND_WIDENING,
        "n_measurements": 0,
        "basis": f"no published {variant.path} measurements: llama.cpp's {base.path} factors as a prior, band ×{PRIOR_BAND_WIDENING:g}",
    })


def cpu_path_factors(device: DeviceProfile, tables: Tables) -> PathFactors:
    return tables.calibration[spd.cpu_path(device)]


def classify(total: int, usable: int, tight_fraction: float = empirical.TIGHT_FRACTION) -> str:
    return core.FIT_CODES[core.placement_code(total, usable, tight_fraction)]


def candidate(model: ModelSpec, ftype: FileType, workload: Workload, tables: Tables, variant: Variant | None = None) -> dict:
    """The terms of one model × format (weights and layer sums from the catalog's derived tables):
    a GGUF file type through llama.cpp's path, a runtime's own format through ``engine.runtimes``."""
    sums = tables.derived.sums(model)
    if variant is None or variant.is_gguf:
        return core.candidate_row(model, ftype, workload, tables.derived.weights(model, ftype), sums)
    weights = tables.derived.runtime_weights(model, variant.runtime, variant.format)
    return rt.runtime_candidate_row(model, variant.runtime, variant.format, workload, weights, sums)


def device_row(
    device: DeviceProfile, workload: Workload, tables: Tables, overrides: Mapping[str, PathFactors] | None,
    variant: Variant | None = None,
) -> dict:
    main = factors_for(device, tables, overrides, variant=variant)
    cpu = cpu_path_factors(device, tables)
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        return core.device_row(device, workload, main, cpu)  # llama.cpp's own choice of backend
    return core.device_row(device, workload, main, cpu, accelerator=variant.backend.kind, can_offload=variant.is_llama_cpp)


def evaluate(
    model: ModelSpec,
    ftype: FileType,
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    with_speed: bool = True,
    variant: Variant | None = None,
) -> Estimate:
    """Memory, fit, speed and quality of ``model`` in ``ftype`` on ``device`` for ``workload``:
    the one path (``engine.core``) run on plain numbers. ``variant`` names a runtime × backend ×
    format other than llama.cpp's default (``ftype`` is then ``variant.format``)."""
    c = core.candidate_terms([candidate(model, ftype, workload, tables, variant)])
    main = factors_for(device, tables, overrides, variant=variant)
    d = core.device_terms([device_row(device, workload, tables, overrides, variant)])
    place = core.placement(c, d)
    fit = core.FIT_CODES[place.fit_code]
    memory = MemoryEstimate(
        int(c.weights_bytes), int(c.kv_cache_bytes), int(c.compute_buffer_bytes), int(c.overhead_bytes),
        gpu_bytes=int(place.gpu_bytes),
    )
    reasons: list[Reason] = []
    if fit == "offload":
        layers = round(model.n_layers * place.gpu_fraction)
        reasons.append(Reason("offload", value=layers, limit=model.n_layers))
    if workload.context_tokens > model.context_length:
        reasons.append(Reason("context", value=workload.context_tokens, limit=model.context_length))
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
        runtime=variant.runtime.id if variant is not None else rt.LLAMA_CPP,
        backend=variant.backend.id if variant is not None and not variant.is_llama_cpp else main.path,
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
    variant: Variant | None = None,
) -> SpeedEstimate:
    """All speed figures of one model × format on one device under the given factors (used to
    fit those factors). ``gpu_fraction`` < 1 models partial offload to a discrete GPU: that share
    of the layers runs on the GPU path, the rest on the CPU path (``cpu_factors``). ``variant``:
    a runtime × backend × format other than llama.cpp's (``ftype`` is then its format)."""
    sums = layer_sums(model)
    if variant is None or variant.is_gguf:
        weights = WeightTerms(mem.weights_bytes(model, ftype, ggml_types), mem.embedding_lookup_bytes(model, ftype, ggml_types))
        row = core.candidate_row(model, ftype, workload, weights, sums)
    else:
        weights = rt.weight_terms(model, variant.format, tensor_inventory(model))
        row = rt.runtime_candidate_row(model, variant.runtime, variant.format, workload, weights, sums)
    c = core.candidate_terms([row])
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        d = core.device_terms([core.device_row(device, workload, factors, cpu_factors or factors)])
    else:
        d = core.device_terms([core.device_row(device, workload, factors, cpu_factors or factors,
                                               accelerator=variant.backend.kind, can_offload=variant.is_llama_cpp)])
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
        f"({bw:g} GB/s, {gflops:g} GFLOPS); name a real device profile for real figures"
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
                "given by the user" if usable_bytes else f"{GENERIC_USABLE_FRACTION:.0%} of RAM (assumption: OS and other apps take the rest)"
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


def memory_shortfall(est: Estimate) -> Reason:
    """Why ``est`` does not fit: the memory it needs against the memory it may use."""
    return Reason("memory", value=est.memory.total_bytes, limit=est.usable_bytes)


__all__ = ["evaluate", "estimate_speed", "generic_device", "quality_table", "factors_for", "classify", "QualityTable",
           "memory_shortfall"]

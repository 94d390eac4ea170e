"""Evaluate one model × quantization on one device: memory, fit, speed, quality."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Mapping, Protocol, Sequence

from advisor.engine import empirical, quality
from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.records import (
    DeviceProfile,
    Estimate,
    FileType,
    GgmlType,
    ModelSpec,
    PathFactors,
    Workload,
)
from advisor.units import format_size


class Tables(Protocol):
    """The data the engine needs (advisor.catalog.Catalog satisfies it)."""

    models: Mapping[str, ModelSpec]
    ggml_types: Mapping[str, GgmlType]
    file_types: Mapping[str, FileType]
    calibration: Mapping[str, PathFactors]


@dataclass(frozen=True)
class QualityTable:
    base: Mapping[str, quality.BaseQuality]
    rel_ppl: Mapping[str, float]
    fit: quality.SizeFit

    def score(self, model: ModelSpec, ftype: FileType) -> float:
        return quality.quantized_score(self.base[model.id], model, self.rel_ppl[ftype.id])


_QUALITY_CACHE: dict[int, QualityTable] = {}


def forget_quality_table(tables: Tables) -> None:
    """Drop the cached table after a model was added to ``tables.models`` (an imported model)."""
    _QUALITY_CACHE.pop(id(tables.models), None)


def quality_table(tables: Tables) -> QualityTable:
    key = id(tables.models)
    cached = _QUALITY_CACHE.get(key)
    if cached is None:
        fit = quality.fit_size_model(tables.models.values())
        cached = QualityTable(
            base={m.id: quality.base_quality(m, fit) for m in tables.models.values()},
            rel_ppl={
                f.id: quality.relative_ppl_increase(f, tables.ggml_types, tables.file_types.values())
                for f in tables.file_types.values()
            },
            fit=fit,
        )
        _QUALITY_CACHE[key] = cached
    return cached


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
    key = "cpu-x86" if device.cpu.arch == "x86_64" else ("cpu-arm" if "dotprod" in device.cpu.isa else "cpu-arm-legacy")
    return tables.calibration[key]


def classify(total: int, usable: int, tight_fraction: float = empirical.TIGHT_FRACTION) -> str:
    if total <= usable * tight_fraction:
        return "fits"
    if total <= usable:
        return "tight"
    return "no"


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
    """Memory, fit, speed and quality of ``model`` in ``ftype`` on ``device`` for ``workload``."""
    memory = mem.estimate_memory(model, ftype, tables.ggml_types, workload)
    factors = factors_for(device, tables, overrides)
    gpu = device.gpu if device.gpu_usable else None
    reasons: list[str] = []
    gpu_fraction = 1.0
    if gpu is not None and gpu.discrete:
        vram = gpu.vram_usable or 0
        fit = classify(memory.total_bytes, vram)
        usable = vram
        if fit == "no":
            # partial offload: as many layers as fit in VRAM beside the compute buffer
            per_layer = (memory.weights_bytes + memory.kv_cache_bytes) / model.n_layers
            room = vram - memory.compute_buffer_bytes - memory.overhead_bytes
            layers = max(0, min(model.n_layers, int(room // per_layer)))
            gpu_fraction = layers / model.n_layers
            host_part = memory.total_bytes - int(layers * per_layer)
            usable = vram + device.memory.usable
            if host_part <= device.memory.usable:
                fit = "offload"
                reasons.append(f"{layers}/{model.n_layers} layers on the GPU, the rest on the CPU")
            memory = replace(memory, gpu_bytes=int(layers * per_layer))
        else:
            memory = replace(memory, gpu_bytes=memory.total_bytes)
    else:
        usable = device.memory.usable
        fit = classify(memory.total_bytes, usable)
    if workload.context_tokens > model.context_length:
        reasons.append(f"context {workload.context_tokens} exceeds the native {model.context_length}")
    speed = None
    if with_speed and fit != "no":
        speed = spd.estimate_speed(
            model, ftype, tables.ggml_types, device, workload, factors,
            gpu_fraction=gpu_fraction,
            cpu_factors=cpu_path_factors(device, tables) if gpu_fraction < 1 else None,
        )
    return Estimate(
        model_id=model.id,
        quant_id=ftype.id,
        device_id=device.id,
        memory=memory,
        usable_bytes=usable,
        fit=fit,  # type: ignore[arg-type]
        speed=speed,
        quality_score=quality_table(tables).score(model, ftype),
        reasons=tuple(reasons),
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


__all__ = ["evaluate", "generic_device", "quality_table", "factors_for", "classify"]

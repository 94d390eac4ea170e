"""Evaluate one model × quantization on one device: memory, fit, speed, quality."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from advisor.engine import empirical, quality
from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.records import (
    DeviceProfile,
    Estimate,
    FileType,
    GgmlType,
    MemoryEstimate,
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
            memory = MemoryEstimate(
                memory.weights_bytes, memory.kv_cache_bytes, memory.compute_buffer_bytes,
                memory.overhead_bytes, gpu_bytes=int(layers * per_layer),
            )
        else:
            memory = MemoryEstimate(
                memory.weights_bytes, memory.kv_cache_bytes, memory.compute_buffer_bytes,
                memory.overhead_bytes, gpu_bytes=memory.total_bytes,
            )
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


#: The combination that ranks a RAM-only device's peers from slowest to fastest.
REFERENCE_MODEL, REFERENCE_QUANT = "llama-3.2-1b-instruct", "Q4_K_M"


def ram_peers(ram_bytes: int, templates: Sequence[DeviceProfile], *, device_class: str | None = None) -> list[DeviceProfile]:
    """The catalog devices a RAM-only device stands for: those with exactly ``ram_bytes`` of RAM
    (of ``device_class`` when it has any), else those at the catalog's nearest RAM size (by
    ratio; the smaller on a tie). Devices with a discrete GPU are left out: their RAM is host
    memory, and the model would live in VRAM the user did not describe."""
    pool = [d for d in templates if not (d.gpu and d.gpu.discrete)]
    in_class = [d for d in pool if device_class is not None and d.device_class == device_class]
    pool = in_class or pool
    if not pool:
        return []
    sizes = sorted({d.memory.ram for d in pool})
    nearest = min(sizes, key=lambda r: (abs(math.log(r / ram_bytes)), r))
    return [d for d in pool if d.memory.ram == nearest]


def peer_decode_tokens_per_s(device: DeviceProfile, tables: Tables, model_id: str = REFERENCE_MODEL,
                             quant_id: str = REFERENCE_QUANT, overrides: Mapping[str, PathFactors] | None = None) -> float:
    """Decode speed of ``model_id`` in ``quant_id`` on ``device`` (default workload): the yardstick
    that orders a RAM-only device's peers."""
    return spd.estimate_speed(tables.models[model_id], tables.file_types[quant_id], tables.ggml_types, device, Workload(),
                              factors_for(device, tables, overrides)).decode_tokens_per_s


def generic_device(
    ram_bytes: int,
    templates: Sequence[DeviceProfile],
    *,
    device_class: str | None = None,
    usable_bytes: int | None = None,
    tables: Tables | None = None,
) -> DeviceProfile:
    """A device known only by its RAM: memory from the user, speed from the *slowest* real
    catalog device with that much RAM (``ram_peers``) — so a user with only a RAM figure is not
    promised more than the slowest likely device delivers. Slowest = lowest decode of
    REFERENCE_MODEL × REFERENCE_QUANT under the shipped factors when ``tables`` is given, else
    lowest memory bandwidth. ``stands_for`` lists the peers, slowest first. Marked estimated."""
    peers = ram_peers(ram_bytes, templates, device_class=device_class)
    if not peers:
        raise ValueError("generic_device needs at least one catalog device without a discrete GPU")
    if tables is not None and REFERENCE_MODEL in tables.models:
        peers.sort(key=lambda d: (peer_decode_tokens_per_s(d, tables), d.id))
    else:
        peers.sort(key=lambda d: (d.memory.bandwidth_gbs, d.id))
    slowest = peers[0]
    usable = min(usable_bytes or int(ram_bytes * GENERIC_USABLE_FRACTION), ram_bytes)
    size = format_size(ram_bytes, precision=1)
    peer_size = format_size(slowest.memory.ram, precision=0)
    label = device_class or ("device" if slowest.gpu_usable else "CPU-only device")
    note = (
        f"speed of the slowest of the {len(peers)} catalog devices with {peer_size} RAM"
        + (f" ({device_class})" if device_class and slowest.device_class == device_class else "")
        + f": {slowest.name}; the others: {', '.join(d.name for d in peers[1:]) or 'none'}. "
        "Use --device or --device-file for a specific device's figures"
    )
    raw = slowest.model_dump(mode="python", by_alias=True)
    raw.update({
        "id": f"generic-{size.replace(' ', '').lower()}",
        "name": f"Generic {label} with {size} RAM",
        "class": slowest.device_class,
        "vendor": "generic",
        "source": note,
        "verification": f"speed figures from the catalog profile {slowest.id}",
        "notes": note,
        "measured_at": None,
        "price": None,
        "stands_for": tuple(d.id for d in peers),
    })
    raw["memory"] = {
        **raw["memory"], "ram": ram_bytes, "usable": usable, "usable_basis": "estimated",
        "usable_note": "given with --usable" if usable_bytes else f"{GENERIC_USABLE_FRACTION:.0%} of RAM (assumption: OS and other apps take the rest)",
    }
    return DeviceProfile.model_validate(raw)


def over_by(est: Estimate) -> str:
    excess = est.memory.total_bytes - est.usable_bytes
    return f"needs {format_size(est.memory.total_bytes)}, {format_size(excess)} more than the {format_size(est.usable_bytes)} usable"


__all__ = ["evaluate", "generic_device", "ram_peers", "peer_decode_tokens_per_s", "quality_table", "factors_for", "classify"]

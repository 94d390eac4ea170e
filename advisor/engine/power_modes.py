"""Vendor power modes (Jetson ``nvpmodel``): a device run in one of its modes is the same device
with the mode's caps — fewer CPU cores online, lower CPU and GPU clocks, fewer GPU units, a lower
memory clock, a smaller power budget. ``with_power_mode`` returns that profile, so every estimate
of a mode goes through the one engine path (``evaluate``) unchanged.

The first mode of a profile is the one its own figures describe (the profile validator checks
its cores and bandwidth). Other modes scale from it:

    CPU FP32 rate   × Σ(cores online × min(GHz, mode GHz)) / Σ(cores × GHz)   (fastest cores stay online)
    GPU FP16 rate   × mode GPU GHz / top GPU GHz × mode GPU units / top GPU units
    memory          the mode's bandwidth (memory clock × bus width)
    power           the mode's budget; the typical draw × mode budget / top budget (the power
                    note states both, then the top mode's own note)

Not scaled: the per-layer fixed costs of the execution paths (fitted per path, not per clock) and
a one-thread read bandwidth measured by ``advisor profile``.
"""

from __future__ import annotations

from advisor.errors import UnknownIdError
from advisor.records import Cluster, DeviceProfile, PowerMode

#: "<device id>@<mode>" names a device in one of its power modes (catalog.device)
MODE_SEPARATOR = "@"


def find_mode(device: DeviceProfile, name: str) -> PowerMode:
    """The device's mode called ``name`` (case-insensitive); the error lists the modes."""
    for mode in device.power.modes:
        if mode.name.lower() == name.strip().lower():
            return mode
    if not device.power.modes:
        raise UnknownIdError(f"device {device.id} has no power modes (its profile publishes no mode table), so there is no "
                             f"'{name.strip()}' mode: drop '{MODE_SEPARATOR}{name.strip()}' to use its own figures; 'advisor devices' "
                             "lists the devices that have power modes in its 'power modes' column")
    names = ", ".join(m.name for m in device.power.modes)
    raise UnknownIdError(f"unknown power mode '{name}' for {device.id}; use one of {names} "
                         f"(e.g. {device.id}{MODE_SEPARATOR}{device.power.modes[-1].name})")


def _online_clusters(clusters: tuple[Cluster, ...], cores: int, ghz: float) -> tuple[Cluster, ...]:
    """The fastest ``cores`` cores, each capped at ``ghz``."""
    out, remaining = [], cores
    for c in sorted(clusters, key=lambda c: -c.core_weight):
        if remaining <= 0:
            break
        n = min(remaining, c.cores)
        out.append(c.model_copy(update={"cores": n, "ghz": min(c.ghz, ghz)}))
        remaining -= n
    return tuple(out)


def with_power_mode(device: DeviceProfile, name: str) -> DeviceProfile:
    """``device`` run in its power mode ``name`` (see the module docstring); the top mode returns
    the profile itself with the mode named."""
    mode = find_mode(device, name)
    top = device.power.modes[0]
    suffix = f"{MODE_SEPARATOR}{mode.name.lower()}"
    label = f"{mode.name} power mode"
    cpu, gpu, memory = device.cpu, device.gpu, device.memory
    if mode is not top:
        clusters = _online_clusters(cpu.clusters, mode.cpu_cores, mode.cpu_ghz)
        ghz_cores = sum(c.weight for c in clusters) / sum(c.weight for c in cpu.clusters)
        smt = cpu.threads / cpu.cores
        cpu = cpu.model_copy(update={
            "cores": mode.cpu_cores, "threads": max(mode.cpu_cores, round(mode.cpu_cores * smt)), "clusters": clusters,
            "fp32_gflops": cpu.fp32_gflops * ghz_cores, "fp32_gflops_basis": "derived",
            "fp32_gflops_note": f"{cpu.fp32_gflops:g} GFLOPS of the {top.name} mode × {ghz_cores:.3f} "
                                f"({mode.cpu_cores} cores online at ≤ {mode.cpu_ghz:g} GHz in the {label})"})
        if gpu is not None and mode.gpu_ghz is not None and top.gpu_ghz is not None:
            units = mode.gpu_units / top.gpu_units if mode.gpu_units and top.gpu_units else 1.0
            scale = mode.gpu_ghz / top.gpu_ghz * units
            of_units = f", {mode.gpu_units} of {top.gpu_units} units" if units != 1.0 else ""
            gpu = gpu.model_copy(update={
                "name": f"{gpu.name}; {label}: ≤ {mode.gpu_ghz * 1000:.0f} MHz{of_units}",
                "fp16_tflops": gpu.fp16_tflops * scale, "fp16_tflops_basis": "derived",
                "fp16_tflops_note": f"{gpu.fp16_tflops:g} TFLOPS of the {top.name} mode × {scale:.3f} "
                                    f"(GPU ≤ {mode.gpu_ghz:g} GHz{of_units} in the {label})"})
        memory = memory.model_copy(update={
            "bandwidth_gbs": mode.memory_bandwidth_gbs, "bandwidth_basis": "derived",
            "bandwidth_note": f"{mode.memory_bandwidth_gbs:g} GB/s at the memory clock of the {label}"})
    p = device.power
    typical = None if p.typical_w is None else p.typical_w * mode.max_w / top.max_w
    note = p.note
    if mode is not top:  # the profile's note words the top mode's figures: state this mode's first
        draw = ("" if typical is None else
                f", typical {round(typical, 3):g} W while generating = {p.typical_w:g} W × {mode.max_w:g}/{top.max_w:g}")
        note = f"{label}: {mode.max_w:g} W budget{draw}" + (f". {top.name} mode: {p.note}" if p.note else "")
    # another mode's draw is the top mode's scaled to its budget: an estimate, whatever the top one's basis
    basis = p.basis if mode is top else "estimated"
    power = p.model_copy(update={"max_w": mode.max_w, "typical_w": typical, "active_mode": mode.name, "note": note, "basis": basis})
    return device.model_copy(update={
        "id": device.id + suffix, "name": f"{device.name} ({label})", "cpu": cpu, "gpu": gpu, "memory": memory,
        "power": power, "notes": (device.notes + " " if device.notes else "") + f"Run in the {label}: {mode.note}".rstrip(": ")})

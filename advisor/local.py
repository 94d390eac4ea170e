"""`advisor profile`: describe this machine as a device profile, with measured bandwidth and
compute, written in the same TOML format as profiles/ (usable as ``--device local``)."""

from __future__ import annotations

import platform
import re
from datetime import date
from pathlib import Path
from typing import Any

from advisor.catalog import advisor_home, load_device_file
from advisor.errors import DataFileError
from advisor.hardware import (
    MachineInfo,
    Progress,
    gpu_memory_bandwidth_gbs,
    measure_bandwidth,
    measure_compute,
    measure_storage_read,
    probe_machine,
)
from advisor.records import DeviceProfile
from advisor.hardware import STORAGE_TEST_BYTES
from advisor.units import GIB, MIB

LOCAL_ID = "local"

#: Working set of the bandwidth benchmark: this multiple of the last-level cache (so it measures
#: DRAM, not cache), at least 512 MiB, at most a quarter of available memory.
WORKING_SET_LLC_MULTIPLE = 4
MIN_WORKING_SET = 512 * MIB


def local_profile_path() -> Path:
    return advisor_home() / "profiles" / f"{LOCAL_ID}.toml"


def local_profile() -> DeviceProfile:
    path = local_profile_path()
    if not path.exists():
        raise DataFileError("this machine has no profile yet; run 'advisor profile' first (a few seconds)")
    return load_device_file(path)


def profile_fingerprint(profile: DeviceProfile) -> str | None:
    """The fingerprint of the machine a local profile was measured on (None: not recorded); a
    profile written before the field existed says it in its source text."""
    return profile.fingerprint or next(iter(re.findall(r"fingerprint ([0-9a-f]{16})", profile.source or "")), None)


def _device_class(info: MachineInfo) -> str:
    board = (info.board or "").lower()
    if info.tegra_release or "jetson" in board or "nvidia" in board:
        return "jetson"
    if board:
        return "sbc"
    if info.gpus:
        return "desktop-gpu"
    return "desktop"


def build_profile(info: MachineInfo, *, bandwidth_gbs: float, bandwidth_1t_gbs: float, gflops: float,
                  working_set: int, threads: int, llc_bandwidth_gbs: float | None = None,
                  storage_read_mb_s: float | None = None) -> dict[str, Any]:
    """The profile as a plain dict (TOML-ready), marked measured."""
    today = date.today().isoformat()
    clusters = [{"name": f"cluster {i}", "cores": n, "ghz": round(ghz, 2) or 2.0} for i, (n, ghz) in enumerate(info.clusters)]
    cores = sum(c["cores"] for c in clusters)
    llc = info.l3_bytes or info.l2_bytes
    profile: dict[str, Any] = {
        "id": LOCAL_ID,
        "name": f"This machine ({info.cpu_brand}, {info.ram_total_bytes / GIB:.0f} GiB)",
        "class": _device_class(info),
        "vendor": info.board or platform.system(),
        "soc": info.cpu_brand,
        "release": "n/a",
        "os": f"{info.system} {platform.release()}",
        "source": f"advisor profile on {info.hostname} ({today}); fingerprint {info.fingerprint}",
        "verification": "measured on this machine",
        "notes": (f"board: {info.board}; " if info.board else "") + (f"{info.tegra_release}; " if info.tegra_release else "")
        + (f"container memory limit {info.cgroup_limit_bytes / GIB:.1f} GiB; " if info.cgroup_limit_bytes else "")
        + "measured by advisor profile",
        "measured_at": today,
        "fingerprint": info.fingerprint,
        "memory": {
            "ram": f"{info.ram_total_bytes}B",
            "type": "unknown",
            "bandwidth_gbs": round(bandwidth_gbs, 2),
            "bandwidth_basis": "measured",
            "bandwidth_note": f"read benchmark (each thread takes the max of its slice), {threads} threads, {working_set // MIB} MiB working set",
            "thread_bandwidth_gbs": round(bandwidth_1t_gbs, 2),
            "usable": f"{info.usable_bytes}B",
            "usable_basis": "measured",
            "usable_note": "available memory at profiling time" + (", capped by the cgroup limit" if info.cgroup_limit_bytes else ""),
            "unified": True,
        },
        "cpu": {
            "name": info.cpu_brand,
            "arch": {"arm64": "arm64", "aarch64": "arm64", "riscv64": "riscv64"}.get(info.machine.lower(), "x86_64"),
            "isa": info.isa,
            "cores": cores,
            "threads": info.logical_cores,
            "clusters": clusters,
            "fp32_gflops": round(gflops, 1),
            "fp32_gflops_basis": "measured",
            "fp32_gflops_note": "FP32 matrix multiply (numpy BLAS), all threads",
        },
        "power": {"max_w": 65.0, "basis": "estimated", "note": "not measurable here; a typical desktop envelope"},
    }
    if storage_read_mb_s:
        profile["storage"] = {
            "kind": f"the disk holding {advisor_home()}",
            "read_mb_s": round(storage_read_mb_s, 1),
            "basis": "measured",
            "source": f"advisor profile on {info.hostname} ({today})",
            "note": f"sequential read of a {STORAGE_TEST_BYTES // MIB} MiB file after dropping it from the page cache "
                    "(fsync + posix_fadvise DONTNEED), best of 2; on a virtual machine the host's cache may serve it",
        }
    if llc:
        profile["memory"]["llc"] = f"{llc}B"
        if llc_bandwidth_gbs:
            profile["memory"]["llc_bandwidth_gbs"] = round(llc_bandwidth_gbs, 2)
    if info.gpus:
        g = info.gpus[0]
        bandwidth: dict[str, Any] = {"vram_bandwidth_gbs": 300.0, "vram_bandwidth_basis": "estimated"}
        if g.get("memory_bus_bits") and g.get("memory_clock_mhz"):
            bandwidth = {
                "vram_bandwidth_gbs": round(gpu_memory_bandwidth_gbs(g["memory_bus_bits"], g["memory_clock_mhz"]), 1),
                "vram_bandwidth_basis": "derived",
                "vram_bandwidth_note": f"NVML: {g['memory_bus_bits']}-bit bus × {g['memory_clock_mhz']} MHz × 2 / 8",
            }
        profile["gpu"] = {
            "name": g["name"], "backend": "cuda", "fp16_tflops": 10.0, "fp16_tflops_basis": "estimated",
            "fp16_tflops_note": "detected by NVML; compute not measured, edit with the card's datasheet figure",
            "discrete": True, "vram": f"{g['memory_total_bytes']}B",
            "vram_usable": f"{int(g.get('memory_free_bytes') or g['memory_total_bytes'] * 0.95)}B",
            **bandwidth, "runtimes": ["llama.cpp"],
        }
    return profile


def run_profile(*, seconds: float = 3.0, progress: Progress | None = None, write: bool = True) -> tuple[DeviceProfile, Path | None]:
    """Probe and benchmark this machine; write ``$ADVISOR_HOME/profiles/local.toml`` atomically."""
    if progress:
        progress("probing RAM, CPU, caches, GPUs", 0.0)
    info = probe_machine()
    llc = info.l3_bytes or info.l2_bytes or 32 * MIB
    working_set = int(min(max(WORKING_SET_LLC_MULTIPLE * llc, MIN_WORKING_SET), info.ram_available_bytes // 4))
    threads = max(1, info.physical_cores)
    def stage(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda text, frac: progress(text, lo + (hi - lo) * frac)

    bw = measure_bandwidth(working_set_bytes=working_set, threads=threads, seconds=seconds * 0.6, progress=stage(0.1, 0.7))
    gflops = measure_compute(seconds=seconds * 0.3, progress=stage(0.7, 0.85))
    llc_bw = None
    if info.l3_bytes or info.l2_bytes:
        # the read benchmark again with a working set of half the last-level cache
        cache_set = max(MIB, int(llc // 2))
        llc_bw = measure_bandwidth(working_set_bytes=cache_set, threads=threads, seconds=seconds * 0.1, progress=stage(0.85, 0.95))
    # where validate's twins live, so the rate is the one their loads see
    storage = measure_storage_read(advisor_home(), progress=stage(0.95, 0.99))
    raw = build_profile(info, bandwidth_gbs=bw.all_threads_gbs, bandwidth_1t_gbs=bw.single_thread_gbs, gflops=gflops,
                        working_set=working_set, threads=threads,
                        llc_bandwidth_gbs=llc_bw.all_threads_gbs if llc_bw else None, storage_read_mb_s=storage)
    device = DeviceProfile.model_validate(raw)
    path = None
    if write:
        path = local_profile_path()
        write_toml(raw, path)
    if progress:
        progress("done", 1.0)
    return device, path


# --------------------------------------------------------------------------- a small TOML writer


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def dumps_toml(data: dict[str, Any]) -> str:
    """Top-level scalars, then one [table] per nested dict (enough for device profiles)."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def write_toml(data: dict[str, Any], path: Path) -> None:
    """Atomic write (``output.write_atomic``: a temp file of its own, flushed, then renamed; never
    named *.toml, so a crash's leftover is not read as a profile), checked to load as a profile
    before it replaces ``path`` (the old profile stays otherwise)."""
    import tomllib

    from advisor.catalog import _validate
    from advisor.output import write_atomic

    text = dumps_toml(data)
    _validate(DeviceProfile, tomllib.loads(text), str(path))  # what we write must load, before it replaces the old one
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write the profile ({exc})") from None
    write_atomic(path, text.encode("utf-8"), force=True)


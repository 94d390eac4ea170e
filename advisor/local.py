"""`advisor profile`: describe this machine as a device profile, with measured bandwidth and
compute, written in the same TOML format as profiles/ (usable as ``--device local``)."""

from __future__ import annotations

import os
import platform
import re
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

from advisor.catalog import advisor_home, load_device_file
from advisor.errors import DataFileError
from advisor.hardware import (
    MachineInfo,
    Progress,
    cpu_sample,
    foreign_cores,
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
                  storage_read_mb_s: float | None = None, busy_cores: float | None = None,
                  busy: bool = False, rounds: int = 1) -> dict[str, Any]:
    """The profile as a plain dict (TOML-ready), marked measured; ``busy_cores`` is what other
    processes used during the quietest round, ``busy`` whether that was too much (is_busy)."""
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
        + "measured by advisor profile"
        + (f" while other processes used {busy_cores:.2f} of its {info.logical_cores} CPUs (the quietest of "
           f"{rounds} rounds): the bandwidth and compute figures may read low; run advisor profile again on an idle "
           "machine" if busy and busy_cores is not None else ""),
        "measured_at": today,
        "fingerprint": info.fingerprint,
        **({"busy_cores": round(busy_cores, 2)} if busy_cores is not None else {}),
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


#: Rounds of the bandwidth and compute benchmarks when other processes keep the CPU busy while
#: they run (engine.calibrate.is_busy, the rule ``advisor validate`` applies to its repeats): each
#: figure is the highest of the rounds, since another process only ever slows a benchmark down. On
#: this repository's 2-core VM, with a test run on one core, the FP32 figure read 96–356 GFLOPS in
#: four profiles a minute apart, the bandwidth 14.8 and 28.3 GB/s (2026-12-02).
PROFILE_ROUNDS = 3
#: Pause before another round, so a short burst of other work can end.
PROFILE_RETRY_PAUSE_S = 2.0


def _benchmarks(working_set: int, cache_set: int | None, threads: int, seconds: float,
                stage: Callable[[float, float], Progress | None]) -> tuple[float, float, float, float | None]:
    """(bandwidth all threads, bandwidth one thread, FP32 GFLOPS, cache bandwidth or None): one round;
    the cache's is the read benchmark again on ``cache_set`` bytes (None: no cache size known)."""
    bw = measure_bandwidth(working_set_bytes=working_set, threads=threads, seconds=seconds * 0.6, progress=stage(0.1, 0.7))
    gflops = measure_compute(seconds=seconds * 0.3, progress=stage(0.7, 0.85))
    llc_bw = None
    if cache_set is not None:
        llc_bw = measure_bandwidth(working_set_bytes=cache_set, threads=threads, seconds=seconds * 0.1, progress=stage(0.85, 0.95))
    return bw.all_threads_gbs, bw.single_thread_gbs, gflops, llc_bw.all_threads_gbs if llc_bw else None


def _quiet_profile_kept(path: Path, fingerprint: str) -> DeviceProfile | None:
    """The saved profile at ``path`` when it is of this machine and was measured on a machine that
    was not busy (or before the load was recorded), else None."""
    from advisor.engine.calibrate import profile_busy

    if not path.exists():
        return None
    try:
        old = load_device_file(path)
    except Exception:  # a damaged profile is replaced, not kept
        return None
    if profile_fingerprint(old) != fingerprint or profile_busy(old):
        return None
    return old


def run_profile(*, seconds: float = 3.0, progress: Progress | None = None, write: bool = True, force: bool = False,
                warn: Callable[[str], None] | None = None) -> tuple[DeviceProfile, Path | None]:
    """Probe and benchmark this machine; write ``$ADVISOR_HOME/profiles/local.toml`` atomically.

    While other processes keep the CPU busy the benchmarks run again (PROFILE_ROUNDS); a profile
    still measured busy is marked so (``busy_cores``, the notes) and ``warn`` is told, and it does
    not replace a saved profile of this machine measured idle unless ``force`` (the path returned
    is then None)."""
    from advisor.engine.calibrate import is_busy

    if write:  # before the seconds of measuring, not after: a profile it cannot save was wasted
        check_profile_writable(local_profile_path())
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

    # the read benchmark again with a working set of half the last-level cache, where its size is known
    cache_set = max(MIB, int(llc // 2)) if info.l3_bytes or info.l2_bytes else None
    results: list[tuple[float, float, float, float | None]] = []
    quietest: float | None = None
    busy = False
    for rounds in range(1, PROFILE_ROUNDS + 1):
        before = cpu_sample()
        results.append(_benchmarks(working_set, cache_set, threads, seconds, stage))
        other, window = foreign_cores(before, cpu_sample())
        if other is not None:
            quietest = other if quietest is None else min(quietest, other)
        busy = is_busy(quietest, info.logical_cores, threads, window)
        if not busy:
            break
        if rounds < PROFILE_ROUNDS:
            if progress:
                progress(f"other processes used {other:.2f} of {info.logical_cores} CPUs: measuring again "
                         f"(round {rounds + 1} of {PROFILE_ROUNDS})", 0.1)
            time.sleep(PROFILE_RETRY_PAUSE_S)
    # each figure the best of the rounds: another process only ever slows a benchmark down
    bw_all, bw_one, gflops = (max(r[i] for r in results) for i in range(3))
    llc_bw = max((r[3] for r in results if r[3] is not None), default=None)
    # where validate's twins live, so the rate is the one their loads see
    storage = measure_storage_read(advisor_home(), progress=stage(0.95, 0.99))
    raw = build_profile(info, bandwidth_gbs=bw_all, bandwidth_1t_gbs=bw_one, gflops=gflops,
                        working_set=working_set, threads=threads, llc_bandwidth_gbs=llc_bw, storage_read_mb_s=storage,
                        busy_cores=quietest, busy=busy, rounds=len(results))
    device = DeviceProfile.model_validate(raw)
    path = kept = None
    if write:
        path = local_profile_path()
        kept = _quiet_profile_kept(path, info.fingerprint) if busy and not force else None
        if kept is not None:
            path = None
        else:
            write_toml(raw, path)
    if busy and warn and quietest is not None:
        warn(f"other processes used {quietest:.2f} of this machine's {info.logical_cores} CPUs while it was measured "
             f"(the quietest of {len(results)} rounds), so its bandwidth and compute may read low"
             + (f"; the saved profile measured on {kept.measured_at or 'an earlier day'} on an idle machine is kept "
                "(--force replaces it)" if kept is not None else "; run advisor profile again when it is idle"))
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


def check_profile_writable(path: Path) -> None:
    """A DataFileError now when ``path``'s directory cannot take a new file (ADVISOR_HOME a file, a
    read-only file system, 'profiles' a file)."""
    import tempfile
    from advisor.output import home_write_problem

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".write-test-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write the profile there: {home_write_problem(path.parent, exc)}, "
                            "or pass --no-write to print it") from None


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


"""Probes of this machine: RAM, CPU, caches, GPUs, boards, containers; and short benchmarks of
what datasheets cannot tell (achieved memory bandwidth and compute).

Everything heavy is imported lazily. Each probe returns ``None`` (or an empty result) when the
thing it looks for is absent, and never raises for a missing optional tool: GPUtil 1.4.0, for
one, imports distutils, which Python 3.12 removed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from advisor.catalog import advisor_home
from advisor.units import bus_bandwidth_gbs

Progress = Callable[[str, float], None]  # (step description, fraction done)


# --------------------------------------------------------------------------- readers (pure)


def parse_cgroup_limit(v2_text: str | None, v1_text: str | None) -> int | None:
    """Memory limit from cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; None = unlimited."""
    for text in (v2_text, v1_text):
        if text is None:
            continue
        value = text.strip()
        if not value or value == "max":
            continue
        try:
            n = int(value)
        except ValueError:
            continue
        if n < 1 << 60:  # v1 reports 'unlimited' as a huge number
            return n
    return None


def parse_device_tree_model(text: str | None) -> str | None:
    if not text:
        return None
    return text.replace("\x00", "").strip() or None


def parse_tegra_release(text: str | None) -> str | None:
    """'# R36 (release), REVISION: 4.0, …' → 'L4T R36.4.0'."""
    if not text:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"L4T R{m.group(1)}.{m.group(2)}" if m else None


def parse_nvidia_smi_csv(text: str) -> list[dict[str, Any]]:
    """``nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[1].replace(".", "").isdigit():
            gpus.append({"name": parts[0], "memory_total_bytes": int(float(parts[1]) * 1024**2),
                         "memory_free_bytes": int(float(parts[2]) * 1024**2) if len(parts) > 2 and parts[2] else None})
    return gpus


def parse_riscv_isa(cpuinfo: str | None) -> list[str]:
    """The profile's ISA names from a RISC-V /proc/cpuinfo ``isa`` line ("rv64imafdcv_zicsr_…"):
    rv64gc (IMAFD + C) and rvv1.0 when the single-letter extensions include V (the kernel
    reports V only for the ratified 1.0 vector extension)."""
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "isa":
            base = value.strip().lower().split("_")[0]
            letters = base[4:] if base.startswith(("rv64", "rv32")) else ""
            out = [f"{base[:4]}gc"] if set("imafdc") <= set(letters.replace("g", "imafd")) else []
            return out + (["rvv1.0"] if "v" in letters else [])
    return []


def cluster_cpus(max_freqs_khz: dict[int, int]) -> list[tuple[int, float]]:
    """Group logical CPUs by their maximum frequency: [(count, GHz)], fastest first (big.LITTLE)."""
    groups: dict[int, int] = {}
    for _, f in max_freqs_khz.items():
        groups[f] = groups.get(f, 0) + 1
    return [(n, f / 1e6) for f, n in sorted(groups.items(), reverse=True)]


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


# --------------------------------------------------------------------------- probes


@dataclass
class MachineInfo:
    hostname: str
    system: str
    machine: str
    cpu_brand: str
    physical_cores: int
    logical_cores: int
    clusters: list[tuple[int, float]]
    isa: list[str]
    l2_bytes: int | None
    l3_bytes: int | None
    ram_total_bytes: int
    ram_available_bytes: int
    swap_total_bytes: int
    cgroup_limit_bytes: int | None
    board: str | None = None
    tegra_release: str | None = None
    apple_silicon: bool = False
    gpus: list[dict[str, Any]] = field(default_factory=list)

    @property
    def usable_bytes(self) -> int:
        """What one process may really use: available RAM, capped by a container limit."""
        usable = self.ram_available_bytes
        if self.cgroup_limit_bytes:
            usable = min(usable, self.cgroup_limit_bytes)
        return usable

    @property
    def fingerprint(self) -> str:
        key = f"{self.cpu_brand}|{self.logical_cores}|{self.ram_total_bytes // (1 << 28)}|{self.board}|{self.machine}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


ISA_FLAGS = {
    "avx2": "avx2", "avx512f": "avx512", "avx_vnni": "avx_vnni", "avx512_vnni": "avx512_vnni", "amx_int8": "amx",
    "asimd": "neon", "neon": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve", "fma": "fma", "f16c": "f16c",
}


def cpu_info_cached() -> dict[str, Any]:
    """py-cpuinfo's answer, cached on disk per machine (it takes about a second)."""
    key = hashlib.sha256((_read("/proc/cpuinfo") or platform.processor() or platform.machine()).encode()).hexdigest()[:16]
    cache = advisor_home() / "cache" / f"cpuinfo-{key}.json"
    try:
        cached = json.loads(cache.read_text()) if cache.is_file() else None  # a FIFO there would hang the read
        if isinstance(cached, dict):
            return cached
    except (OSError, ValueError, RecursionError):
        pass
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo can fail on exotic platforms; fall back to platform
        info = {"brand_raw": platform.processor() or platform.machine(), "flags": []}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, default=str))
        tmp.replace(cache)
    except OSError:
        pass
    return info


def gpu_memory_bandwidth_gbs(bus_bits: int, memory_clock_mhz: float) -> float:
    """Peak memory bandwidth of an NVIDIA GPU from NVML's memory bus width and maximum memory
    clock: bus / 8 bytes × clock × 2 transfers per clock (NVML reports the clock at half the data
    rate). RTX 3060: 192-bit × 7,501 MHz → 360 GB/s; RTX 4090: 384-bit × 10,501 MHz → 1,008 GB/s
    (their datasheets' figures)."""
    return bus_bandwidth_gbs(memory_clock_mhz * 2, bus_bits)


def probe_nvidia() -> list[dict[str, Any]]:
    """NVIDIA GPUs through NVML (nvidia-ml-py), then GPUtil, then nvidia-smi; [] when none."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                name = pynvml.nvmlDeviceGetName(h)
                gpu = {"name": name.decode() if isinstance(name, bytes) else name,
                       "memory_total_bytes": int(mem.total), "memory_free_bytes": int(mem.free), "via": "nvml"}
                try:  # the memory interface, for a derived bandwidth (gpu_memory_bandwidth_gbs)
                    gpu["memory_bus_bits"] = int(pynvml.nvmlDeviceGetMemoryBusWidth(h))
                    gpu["memory_clock_mhz"] = int(pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM))
                except Exception:  # older drivers or bindings: the bandwidth stays an estimate
                    gpu.pop("memory_bus_bits", None)
                out.append(gpu)
            return out
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        pass
    try:
        import GPUtil  # type: ignore[import-not-found]  # imports distutils: fails on Python ≥ 3.12

        gpus = GPUtil.getGPUs()
        if gpus:
            return [{"name": g.name, "memory_total_bytes": int(g.memoryTotal * 1024**2),
                     "memory_free_bytes": int(g.memoryFree * 1024**2), "via": "gputil"} for g in gpus]
    except Exception:
        pass
    try:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10,
        )
        if proc.returncode == 0:
            return [dict(g, via="nvidia-smi") for g in parse_nvidia_smi_csv(proc.stdout)]
    except (OSError, subprocess.SubprocessError):
        pass
    return []


def _max_freqs() -> dict[int, int]:
    out = {}
    for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/cpuinfo_max_freq"):
        try:
            out[int(p.parent.parent.name[3:])] = int(p.read_text())
        except (OSError, ValueError):
            continue
    return out


def probe_machine() -> MachineInfo:
    import psutil

    info = cpu_info_cached()
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or logical
    freqs = _max_freqs()
    if freqs:
        clusters = cluster_cpus(freqs)
    else:
        hz = info.get("hz_advertised") or info.get("hz_actual") or [2.0e9]
        ghz = (hz[0] if isinstance(hz, (list, tuple)) else 2.0e9) / 1e9
        clusters = [(physical, round(ghz, 2))]
    flags = {str(f).lower() for f in info.get("flags", [])}
    isa = sorted({name for flag, name in ISA_FLAGS.items() if flag in flags})
    if platform.machine().lower() == "riscv64":
        isa = parse_riscv_isa(_read("/proc/cpuinfo"))
    caches = parse_sysfs_caches(_sysfs_cache_entries())
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    if apple:
        isa = sorted(set(isa) | {"neon", "dotprod"})
    return MachineInfo(
        hostname=platform.node(),
        system=platform.system(),
        machine=platform.machine(),
        cpu_brand=str(info.get("brand_raw") or platform.processor() or "unknown CPU"),
        physical_cores=int(physical),
        logical_cores=int(logical),
        clusters=clusters,
        isa=isa,
        # the kernel's cache topology first: py-cpuinfo reads /proc/cpuinfo's "cache size", which on an
        # AMD EPYC VM is one core's 1 MiB L2 reported as the L3 (sysfs: a 32 MiB L3)
        l2_bytes=caches.get(2) or _cache_bytes(info.get("l2_cache_size")),
        l3_bytes=caches.get(3) or _cache_bytes(info.get("l3_cache_size")),
        ram_total_bytes=int(vm.total),
        ram_available_bytes=int(vm.available),
        swap_total_bytes=int(swap.total),
        cgroup_limit_bytes=parse_cgroup_limit(_read("/sys/fs/cgroup/memory.max"), _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")),
        board=parse_device_tree_model(_read("/proc/device-tree/model")),
        tegra_release=parse_tegra_release(_read("/etc/nv_tegra_release")),
        apple_silicon=apple,
        gpus=probe_nvidia(),
    )


def _sysfs_cache_entries(cpu_dir: str = "/sys/devices/system/cpu/cpu0/cache") -> list[tuple[str | None, str | None, str | None]]:
    """(level, type, size) of each cache of CPU 0 as Linux's sysfs lists them; [] elsewhere."""
    return [(_read(f"{d}/level"), _read(f"{d}/type"), _read(f"{d}/size")) for d in sorted(glob.glob(f"{cpu_dir}/index[0-9]*"))]


def parse_sysfs_caches(entries: list[tuple[str | None, str | None, str | None]]) -> dict[int, int]:
    """Bytes of each level's data or unified cache of one CPU from ``_sysfs_cache_entries``
    (size '32768K'); entries that do not parse, and instruction caches, are skipped."""
    out: dict[int, int] = {}
    for level, kind, size in entries:
        if not (level and kind and size) or kind.strip() == "Instruction" or not level.strip().isdigit():
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", size.strip(), re.IGNORECASE)
        if m and int(m.group(1)) > 0:
            out[int(level)] = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2).upper()]
    return out


def _cache_bytes(value: Any) -> int | None:
    if value in (None, "", 0):
        return None
    if isinstance(value, int):
        return value
    m = re.match(r"([\d.]+)\s*([KMG]?)i?B", str(value), re.IGNORECASE)
    if not m:
        return None
    return int(float(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2).upper()])


# --------------------------------------------------------------------------- benchmarks


@dataclass
class BandwidthResult:
    single_thread_gbs: float
    all_threads_gbs: float
    threads: int
    working_set_bytes: int


def measure_bandwidth(
    *, working_set_bytes: int, threads: int, seconds: float = 1.5, progress: Progress | None = None
) -> BandwidthResult:
    """Achieved read bandwidth: threads each reduce their own slice of a buffer well above the
    last-level cache (numpy releases the GIL inside the reduction). GB/s = bytes read / s.

    The reduction is a maximum, not a sum: numpy's float64 sum is pairwise and bound by its adds
    (~19 GB/s on one core of the 2-core EPYC VM of benchmarks/results/cpu_isa.md, whatever the
    memory), its max a SIMD compare that reads as fast as the memory allows (34 GB/s on that core;
    2 threads 40 GB/s). llama.cpp's Q8_0 decode streams 29 GB/s with 1 thread and 40 GB/s with 2
    there: the max measures what the decode can reach, the sum under-measured it ×0.55 on one
    core."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    n = working_set_bytes // 8
    buf = np.ones(n, dtype=np.float64)

    def read_rate(buf: "np.ndarray", n_threads: int, budget: float) -> float:
        slices = np.array_split(buf, n_threads)
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(np.max, slices))  # warm-up: fault pages in
            best, start = 0.0, time.perf_counter()
            while time.perf_counter() - start < budget:
                t0 = time.perf_counter()
                list(pool.map(np.max, slices))
                dt = time.perf_counter() - t0
                best = max(best, buf.nbytes / dt / 1e9)
        return best

    if progress:
        progress("memory bandwidth, 1 thread", 0.0)
    one = read_rate(buf, 1, seconds / 2)
    if progress:
        progress(f"memory bandwidth, {threads} threads", 0.5)
    many = read_rate(buf, threads, seconds / 2) if threads > 1 else one
    del buf
    return BandwidthResult(single_thread_gbs=one, all_threads_gbs=max(one, many), threads=threads, working_set_bytes=working_set_bytes)


def measure_compute(*, seconds: float = 1.0, size: int = 1024, progress: Progress | None = None) -> float:
    """Achieved FP32 GFLOPS of a square matrix multiply (BLAS, all threads): 2n³ per product."""
    import numpy as np

    if progress:
        progress("compute (FP32 matrix multiply)", 0.0)
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return best


def cpu_sample() -> tuple[float, float, float] | None:
    """(every CPU's busy seconds, this process's own CPU seconds, wall clock) now; None where the
    OS does not tell. Two samples give ``foreign_cores``."""
    try:
        import psutil

        t, own = psutil.cpu_times(), os.times()
    except Exception:
        return None
    busy = sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    return busy, own.user + own.system, time.perf_counter()


def foreign_cores(start: tuple[float, float, float] | None, end: tuple[float, float, float] | None) -> tuple[float | None, float]:
    """(cores other processes used on average between two ``cpu_sample``s — a VM's stolen time
    included — , the window in seconds); None where either sample is missing."""
    if start is None or end is None:
        return None, 0.0
    window = end[2] - start[2]
    return max(0.0, ((end[0] - start[0]) - (end[1] - start[1])) / max(window, 1e-9)), window


# --------------------------------------------------------------------------- storage and the page cache

#: Size of the file the storage benchmark writes and reads back: large enough that the read is
#: sequential streaming (readahead at full depth), small enough to take about a second.
STORAGE_TEST_BYTES = 256 * 1024**2
_CHUNK = 8 * 1024**2


def can_drop_page_cache() -> bool:
    """Whether this OS lets a process drop one file's pages from the page cache (posix_fadvise)."""
    return hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


def drop_from_page_cache(path: str | Path) -> None:
    """Evict ``path``'s pages from the page cache, so the next read comes from storage: write back
    its dirty pages (fsync), then POSIX_FADV_DONTNEED (no root needed, unlike drop_caches)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_through(path: str | Path) -> float:
    """Read ``path`` sequentially to its end (which leaves it in the page cache); seconds taken."""
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, _CHUNK):
            pass
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a file named after it is then not stale). Windows: assumed
    running (its os.kill(pid, 0) would send the process a Ctrl-C)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except (OverflowError, OSError):  # not a pid this system has
        return False
    return True


def measure_storage_read(directory: str | Path, *, size_bytes: int = STORAGE_TEST_BYTES, repeats: int = 2,
                         progress: Progress | None = None) -> float | None:
    """Sequential read rate of the storage under ``directory`` in decimal MB/s (10^6 B/s): a file of
    incompressible bytes is written there and synced, dropped from the page cache, and read back
    (best of ``repeats``); the file is removed. None where the OS cannot drop a file's pages or the
    directory cannot be written. On a virtual machine the host's own cache may serve the read:
    the figure is what a model load there sees, not the physical disk's rate."""
    if not can_drop_page_cache():
        return None
    directory = Path(directory)
    block = os.urandom(1024**2)  # repeated 1 MiB of random bytes: no filesystem compresses it
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # a run killed mid-way (SIGKILL, a power cut) left its 256 MiB file behind: gone with its process
        for old in directory.glob(".storage-read-test-*"):
            pid = old.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                old.unlink(missing_ok=True)
        path = directory / f".storage-read-test-{os.getpid()}"
        with open(path, "wb") as fh:
            for _ in range(size_bytes // len(block)):
                fh.write(block)
        best = 0.0
        for i in range(repeats):
            if progress:
                progress(f"storage read, pass {i + 1} of {repeats}", i / repeats)
            drop_from_page_cache(path)
            best = max(best, size_bytes / read_through(path) / 1e6)
        return best
    except OSError:
        return None
    finally:
        try:
            (directory / f".storage-read-test-{os.getpid()}").unlink()
        except OSError:
            pass

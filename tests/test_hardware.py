"""Probes of this machine (real), and of hardware this machine lacks (recorded tool outputs)."""

import json
import sys

import psutil
import pytest

from advisor import hardware as hw
from advisor.units import GIB, MIB


@pytest.mark.hardware
def test_probe_machine_is_sane():
    info = hw.probe_machine()
    vm = psutil.virtual_memory()
    assert info.ram_total_bytes == vm.total
    assert 0 < info.usable_bytes <= vm.total
    assert 1 <= info.physical_cores <= info.logical_cores <= 4096
    assert info.cpu_brand and info.clusters and all(ghz > 0 for _, ghz in info.clusters)
    assert len(info.fingerprint) == 16 and info.fingerprint == hw.probe_machine().fingerprint


@pytest.mark.hardware
def test_bandwidth_and_compute_benchmarks_are_plausible():
    bw = hw.measure_bandwidth(working_set_bytes=256 * MIB, threads=2, seconds=0.5)
    assert 0.5 < bw.single_thread_gbs <= bw.all_threads_gbs < 2000
    gflops = hw.measure_compute(seconds=0.3, size=512)
    assert 0.5 < gflops < 100_000


@pytest.mark.parametrize(
    "v2, v1, expected",
    [("max\n", None, None), ("4294967296\n", None, 4 * GIB), (None, "9223372036854771712\n", None), (None, "2147483648", 2 * GIB),
     (None, None, None), ("garbage", "1073741824", GIB)],
)
def test_cgroup_limits(v2, v1, expected):
    assert hw.parse_cgroup_limit(v2, v1) == expected


# Recorded outputs of the real tools on the devices this machine is not.
NVIDIA_SMI = "NVIDIA GeForce RTX 4090, 24564, 23987\nNVIDIA GeForce RTX 3060, 12288, 11811\n"
PI5_MODEL = "Raspberry Pi 5 Model B Rev 1.0\x00"
JETSON_MODEL = "NVIDIA Jetson Orin Nano Developer Kit\x00"
TEGRA_RELEASE = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n"


def test_cache_sizes_come_from_sysfs_levels_not_cpuinfos_cache_size():
    # an AMD EPYC VM: /proc/cpuinfo's "cache size" (py-cpuinfo's l3) is one core's L2; sysfs lists the L3
    entries = [("1\n", "Data\n", "32K\n"), ("1\n", "Instruction\n", "32K\n"), ("2\n", "Unified\n", "1024K\n"),
               ("3\n", "Unified\n", "32768K\n")]
    assert hw.parse_sysfs_caches(entries) == {1: 32 * 1024, 2: MIB, 3: 32 * MIB}
    hostile = [(None, None, None), ("x", "Data", "1K"), ("2", "Data", "-5K"), ("3", "Unified", "0K"), ("3", "Unified", "1e400K"),
               ("2", "Unified", "12Q"), ("4", "Unified", "2G")]
    assert hw.parse_sysfs_caches(hostile) == {4: 2 * 1024**3}
    assert hw.parse_sysfs_caches(hw._sysfs_cache_entries("/nonexistent")) == {}


@pytest.mark.hardware
def test_probe_reads_the_last_level_cache_the_kernel_lists():
    caches = hw.parse_sysfs_caches(hw._sysfs_cache_entries())
    if 3 not in caches:
        pytest.skip("no L3 in this machine's sysfs")
    assert hw.probe_machine().l3_bytes == caches[3]


def test_parse_nvidia_smi():
    gpus = hw.parse_nvidia_smi_csv(NVIDIA_SMI)
    assert gpus[0] == {"name": "NVIDIA GeForce RTX 4090", "memory_total_bytes": 24564 * MIB, "memory_free_bytes": 23987 * MIB}
    assert gpus[1]["memory_total_bytes"] == 12 * GIB


def test_parse_boards():
    assert hw.parse_device_tree_model(PI5_MODEL) == "Raspberry Pi 5 Model B Rev 1.0"
    assert hw.parse_device_tree_model(JETSON_MODEL) == "NVIDIA Jetson Orin Nano Developer Kit"
    assert hw.parse_tegra_release(TEGRA_RELEASE) == "L4T R36.4.0"
    assert hw.parse_tegra_release(None) is None


def test_big_little_clusters():
    # a Snapdragon 8 Gen 3 as /sys reports cpuinfo_max_freq (kHz)
    freqs = {0: 2265600, 1: 2265600, 2: 3014400, 3: 3014400, 4: 3014400, 5: 3014400, 6: 3014400, 7: 3302400}
    assert hw.cluster_cpus(freqs) == [(1, 3.3024), (5, 3.0144), (2, 2.2656)]


def test_gputil_that_cannot_import_never_breaks_the_probe(monkeypatch):
    """GPUtil 1.4.0 imports distutils, gone in Python 3.12: the probe must shrug it off."""

    class Broken:
        def __getattr__(self, name):
            raise ModuleNotFoundError("No module named 'distutils'")

    monkeypatch.setitem(sys.modules, "GPUtil", Broken())
    monkeypatch.setitem(sys.modules, "pynvml", None)  # no NVML on this machine either
    assert isinstance(hw.probe_nvidia(), list)


@pytest.mark.hardware
def test_profile_command_writes_a_loadable_profile(tmp_path, monkeypatch):
    from advisor.catalog import load_device_file
    from advisor.local import run_profile

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    device, path = run_profile(seconds=0.6)
    again = load_device_file(path)
    assert again.id == "local" and again.memory.bandwidth_basis == "measured" and again.measured_at
    assert again.memory.bandwidth_gbs == device.memory.bandwidth_gbs > 0.5
    assert again.busy_cores is not None and again.busy_cores >= 0  # other processes' load while it measured
    if hw.can_drop_page_cache():  # Linux: the storage read is measured too (the cold load time's rate)
        assert again.storage is not None and again.storage.basis == "measured" and again.storage.read_mb_s >= 10


def test_a_profile_it_cannot_save_is_refused_before_it_measures(tmp_path, monkeypatch):
    """ADVISOR_HOME a file: it measured for seconds (a minute with --seconds 60), then failed to save."""
    import time

    from advisor.errors import DataFileError
    from advisor.local import run_profile

    home = tmp_path / "afile"
    home.write_text("")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    measured = []
    start = time.perf_counter()
    with pytest.raises(DataFileError, match="cannot write the profile there: .* is a file, not a directory; set ADVISOR_HOME to a directory you can write .*, or pass --no-write"):
        run_profile(seconds=5, progress=lambda text, frac: measured.append(text))
    assert measured == [] and time.perf_counter() - start < 5


def test_gpu_bandwidth_from_the_memory_interface():
    """bus / 8 × memory clock × 2, against datasheets: RTX 3060 360 GB/s, RTX 4090 1,008 GB/s."""
    assert hw.gpu_memory_bandwidth_gbs(192, 7501) == pytest.approx(360.0, rel=1e-3)
    assert hw.gpu_memory_bandwidth_gbs(384, 10501) == pytest.approx(1008.1, rel=1e-3)


def test_profile_of_a_machine_with_an_nvidia_gpu(tmp_path):
    """A probed NVIDIA GPU (as probe_nvidia reports it; this machine has none) becomes a discrete
    GPU whose bandwidth is derived from NVML's bus width and memory clock when NVML gives them,
    else a marked estimate; the profile loads."""
    from advisor.catalog import load_device_file
    from advisor.local import build_profile, write_toml

    gpu = {"name": "NVIDIA GeForce RTX 3060", "memory_total_bytes": 12 * GIB, "memory_free_bytes": 11 * GIB, "via": "nvml"}
    for extra, gbs, basis in (({"memory_bus_bits": 192, "memory_clock_mhz": 7501}, 360.0, "derived"), ({}, 300.0, "estimated")):
        info = hw.MachineInfo(hostname="h", system="Linux", machine="x86_64", cpu_brand="cpu", physical_cores=8,
                              logical_cores=16, clusters=[(8, 3.5)], isa=["avx2"], l2_bytes=None, l3_bytes=32 * MIB,
                              ram_total_bytes=32 * GIB, ram_available_bytes=30 * GIB, swap_total_bytes=0,
                              cgroup_limit_bytes=None, gpus=[{**gpu, **extra}])
        data = build_profile(info, bandwidth_gbs=50.0, bandwidth_1t_gbs=12.0, gflops=800.0, working_set=GIB, threads=16)
        path = tmp_path / f"{basis}.toml"
        write_toml(data, path)
        device = load_device_file(path)
        assert device.gpu.discrete and device.gpu.vram_bandwidth_gbs == pytest.approx(gbs, rel=1e-3)
        assert device.gpu.vram_bandwidth_basis == basis
        assert device.memory.thread_bandwidth_gbs == 12.0
        assert device.fingerprint == info.fingerprint  # runs made elsewhere are told apart by it


def test_a_profile_that_would_not_load_never_replaces_the_old_one(tmp_path):
    """write_toml checks the profile loads before it replaces the file, and leaves no temp file
    (it wrote local.toml.tmp, replaced the profile, then found it did not load)."""
    from advisor.errors import DataFileError
    from advisor.local import write_toml

    path = tmp_path / "profiles" / "local.toml"
    path.parent.mkdir()
    path.write_text("id = 'old'\n")
    with pytest.raises(DataFileError):
        write_toml({"id": "local", "name": "x"}, path)  # no memory, no cpu: not a profile
    assert path.read_text() == "id = 'old'\n" and sorted(p.name for p in path.parent.iterdir()) == ["local.toml"]


def test_foreign_cores_is_the_cpu_time_of_other_processes_over_the_window():
    """All CPUs' busy seconds less this process's own, over the wall time: 3 s busy of which 1 s
    ours, in 1 s of wall time, is 2 cores used by others; a missing sample is None."""
    assert hw.foreign_cores((10.0, 1.0, 0.0), (13.0, 2.0, 1.0)) == (pytest.approx(2.0), pytest.approx(1.0))
    assert hw.foreign_cores((10.0, 1.0, 0.0), (10.0, 2.0, 1.0))[0] == 0.0  # never below zero
    assert hw.foreign_cores(None, (1.0, 1.0, 1.0)) == (None, 0.0)


@pytest.mark.hardware
def test_a_profile_measured_busy_is_marked_and_keeps_the_idle_one(tmp_path, monkeypatch):
    """Real processes spinning on every CPU while `advisor profile` measures: it measures again
    (PROFILE_ROUNDS), records what they used (busy_cores, beyond engine.calibrate.is_busy's
    allowance), says so in the notes and through ``warn``, and does not replace the saved profile
    of this machine measured idle unless forced."""
    import subprocess

    from advisor import local
    from advisor.catalog import load_device_file
    from advisor.engine.calibrate import is_busy

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    monkeypatch.setattr(local, "PROFILE_RETRY_PAUSE_S", 0.1)
    info = hw.probe_machine()
    path = local.local_profile_path()
    local.write_toml(local.build_profile(info, bandwidth_gbs=50.0, bandwidth_1t_gbs=12.0, gflops=800.0, working_set=GIB,
                                         threads=info.physical_cores, busy_cores=0.0), path)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(info.logical_cores)]
    try:
        warnings: list[str] = []
        steps: list[str] = []
        device, written = local.run_profile(seconds=0.6, warn=warnings.append, progress=lambda text, frac: steps.append(text))
        assert is_busy(device.busy_cores, info.logical_cores, info.physical_cores)
        assert sum("measuring again" in text for text in steps) == local.PROFILE_ROUNDS - 1
        assert written is None and load_device_file(path).memory.bandwidth_gbs == 50.0  # the idle profile is kept
        assert len(warnings) == 1 and "is kept (--force replaces it)" in warnings[0]
        assert "may read low" in device.notes
        device, written = local.run_profile(seconds=0.6, force=True, warn=warnings.append)
        saved = load_device_file(path)
        assert written == path and saved.busy_cores == device.busy_cores and "may read low" in saved.notes
        # a profile measured busy is not kept against another busy one: this one is replaced
        _, written = local.run_profile(seconds=0.6, warn=warnings.append)
        assert written == path
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_a_profile_measured_busy_says_so_in_every_estimate(tmp_path, capsys):
    """A profile saved busy (its first one, or --force) carries busy_cores; each estimate on it
    notes that its bandwidth and compute may read low (Reason "busy_profile"); an idle one does not."""
    from advisor.catalog import load_device_file
    from advisor.cli import main
    from advisor.local import build_profile, write_toml

    info = hw.MachineInfo(hostname="h", system="Linux", machine="x86_64", cpu_brand="cpu", physical_cores=2,
                          logical_cores=2, clusters=[(2, 2.6)], isa=["avx2"], l2_bytes=None, l3_bytes=32 * MIB,
                          ram_total_bytes=24 * GIB, ram_available_bytes=23 * GIB, swap_total_bytes=0, cgroup_limit_bytes=None)
    for busy_cores, busy in ((0.92, True), (0.02, False)):
        path = tmp_path / f"{busy}.toml"
        write_toml(build_profile(info, bandwidth_gbs=28.6, bandwidth_1t_gbs=15.1, gflops=329.0, working_set=GIB, threads=2,
                                 busy_cores=busy_cores, busy=busy, rounds=3), path)
        assert load_device_file(path).busy_cores == busy_cores
        assert main(["predict", "--model", "qwen2.5-0.5b-instruct", "--device-file", str(path), "--format", "json"]) == 0
        notes = json.loads(capsys.readouterr().out)["notes"]
        said = [n for n in notes if n.startswith("the device's profile was measured while other processes used")]
        assert said == (["the device's profile was measured while other processes used 0.92 of its 2 CPUs: its bandwidth and "
                         "compute, and so these speeds, may read low; run advisor profile again on an idle machine"] if busy else [])


def test_storage_test_files_of_dead_processes_are_removed(tmp_path):
    """A profile killed mid-way left its 256 MiB '.storage-read-test-<pid>' behind for good; the
    next one removes those whose process is gone, and keeps a running one's."""
    import os
    import subprocess
    import sys

    from advisor.hardware import measure_storage_read, pid_alive

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    assert not pid_alive(dead)
    (tmp_path / f".storage-read-test-{dead}").write_bytes(b"x" * 4096)
    (tmp_path / f".storage-read-test-{os.getppid()}").write_bytes(b"x")  # a live process's
    measure_storage_read(tmp_path, size_bytes=1024**2, repeats=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".storage-read-test-{os.getppid()}"]

"""Write the device profiles of the machines that published measurements were taken on
(../shared/reference/measurements.csv and runtime-measurements.csv) but that are not shipped
profiles. Used only by the
accuracy benchmark. Specs are vendor figures written from knowledge (marked so), bandwidth as
stated in the measurement source where it gives one.

    python benchmarks/make_reference_devices.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "reference_devices"

APPLE_P = 32  # FP32 FLOP/cycle of an Apple P-core (4 × 128-bit FMA)
APPLE_E = 8

DEVICES = [
    # id, name, class, soc, ram GiB, bw, mem type, P cores, P GHz, E cores, E GHz, gpu name, gpu tflops, power
    ("ref-m1-max-24c-32gb", "MacBook Pro 16 (M1 Max, 24-core GPU, 32 GB)", "laptop", "Apple M1 Max", 32, 400, "LPDDR5-6400", 8, 3.2, 2, 2.06, "Apple M1 Max 24-core GPU", 7.8, 60),
    ("ref-m1-max-32c-64gb", "MacBook Pro 14 (M1 Max, 32-core GPU, 64 GB)", "laptop", "Apple M1 Max", 64, 400, "LPDDR5-6400", 8, 3.2, 2, 2.06, "Apple M1 Max 32-core GPU", 10.4, 70),
    ("ref-m1-ultra-64c-128gb", "Mac Studio (M1 Ultra, 64-core GPU, 128 GB)", "desktop", "Apple M1 Ultra", 128, 800, "LPDDR5-6400", 16, 3.2, 4, 2.06, "Apple M1 Ultra 64-core GPU", 21.0, 120),
    ("ref-m2-ultra-76c-192gb", "Mac Studio (M2 Ultra, 76-core GPU, 192 GB)", "desktop", "Apple M2 Ultra", 192, 800, "LPDDR5-6400", 16, 3.5, 8, 2.4, "Apple M2 Ultra 76-core GPU", 27.2, 130),
    ("ref-m2-pro-19c-32gb", "Mac mini (M2 Pro, 19-core GPU, 32 GB)", "desktop", "Apple M2 Pro", 32, 200, "LPDDR5-6400", 8, 3.5, 4, 2.4, "Apple M2 Pro 19-core GPU", 6.8, 50),
]

CUDA = [
    # id, name, vram GiB, vram bw, fp16 tflops (NVIDIA: dense tensor FP16 with FP32 accumulate, as the shipped profiles; AMD/Intel: FP16 shader rate), board W, backend
    ("ref-rtx4080-16gb", "Desktop with NVIDIA GeForce RTX 4080 16GB", 16, 716.8, 97.5, 320, "cuda"),
    ("ref-rtx3070-8gb", "Desktop with NVIDIA GeForce RTX 3070 8GB", 8, 448.0, 40.6, 220, "cuda"),
    ("ref-arc-a310-4gb", "Raspberry Pi 500+ with Intel Arc A310 ECO 4GB (Vulkan)", 4, 124.0, 6.1, 50, "vulkan"),
    ("ref-arc-pro-b50-16gb", "Raspberry Pi 500+ with Intel Arc Pro B50 16GB (Vulkan)", 16, 224.0, 21.3, 70, "vulkan"),
    ("ref-rx580-8gb", "SiFive P550 with AMD Radeon RX 580 8GB (Vulkan)", 8, 256.0, 6.2, 185, "vulkan"),
    ("ref-rx470-4gb", "Ivy Bridge PC with AMD Radeon RX 470 4GB (Vulkan)", 4, 211.2, 4.9, 120, "vulkan"),
]

X86 = [
    # id, name, ram GiB, bw, mem type, cores, ghz, flop/cycle, isa, power. Bandwidth: theoretical peak, as every
    # profile (bw_efficiency is relative to it). ISA: Cascade Lake Xeon W and Ice Lake both have AVX-512 VNNI
    # ("Intel Deep Learning Boost", Intel ARK); the i5-6500 (Skylake) has AVX2 only.
    ("ref-mac-pro-2019-xeon-w-16c", "Mac Pro 2019 (Intel Xeon W, 16 cores)", 384, 140.8, "DDR4-2933 6-channel", 16, 3.2, 64, ["avx2", "avx512", "avx512_vnni"], 250),
    ("ref-surface-book-3-i7-1065g7", "Microsoft Surface Book 3 (Core i7-1065G7)", 16, 58.7, "LPDDR4X-3733 128-bit", 4, 3.5, 32, ["avx2", "avx512", "avx512_vnni"], 25),
    ("ref-desktop-i5-6500-ddr3", "Desktop PC (Core i5-6500, 16 GB DDR3)", 16, 25.6, "DDR3L-1600 dual channel (theoretical; the source measured 20.02 GB/s)", 4, 3.3, 32, ["avx2"], 65),
]
#: x86 CPUs above without Hyper-Threading (one thread per core): the Core i5-6500 (4 cores, 4 threads; Intel ARK)
X86_NO_SMT = {"ref-desktop-i5-6500-ddr3"}


def _apple(d) -> str:
    (did, name, cls, soc, ram, bw, mtype, p, pg, e, eg, gpu, tflops, watts) = d
    gflops = p * pg * APPLE_P + e * eg * APPLE_E
    usable = ram * 2 / 3 if ram <= 36 else ram * 3 / 4
    return f'''id = "{did}"
name = "{name}"
class = "{cls}"
vendor = "Apple"
soc = "{soc}"
release = "n/a"
os = "macOS"
source = "Apple specifications (from knowledge); bandwidth as in ../shared/reference/measurements.csv"
verification = "reference device for the accuracy benchmark; specs from knowledge, not re-read"

[memory]
ram = "{ram}GiB"
type = "{mtype}"
bandwidth_gbs = {bw}
bandwidth_basis = "datasheet"
usable = "{usable:.1f}GiB"
usable_basis = "estimated"
usable_note = "macOS GPU working-set limit"
unified = true

[cpu]
name = "Apple P/E cores"
arch = "arm64"
isa = ["neon", "dotprod", "i8mm"]
cores = {p + e}
threads = {p + e}
clusters = [ {{ name = "P", cores = {p}, ghz = {pg}, flops_per_cycle = {APPLE_P} }}, {{ name = "E", cores = {e}, ghz = {eg}, flops_per_cycle = {APPLE_E} }} ]
fp32_gflops = {gflops:.0f}
fp32_gflops_basis = "derived"
fp32_gflops_note = "{p} P x {pg} GHz x {APPLE_P} + {e} E x {eg} GHz x {APPLE_E} FLOP/cycle"

[gpu]
name = "{gpu}"
backend = "metal"
fp16_tflops = {tflops}
fp16_tflops_basis = "datasheet"
discrete = false
runtimes = ["llama.cpp"]

[power]
typical_w = {watts}
max_w = {watts * 1.5:.0f}
basis = "estimated"
'''


def _gpu(d) -> str:
    (did, name, vram, bw, tflops, watts, backend) = d
    return f'''id = "{did}"
name = "{name}"
class = "desktop-gpu"
vendor = "various"
soc = "discrete GPU"
release = "n/a"
os = "Linux"
source = "vendor specifications (from knowledge); bandwidth as in ../shared/reference/measurements.csv"
verification = "reference device for the accuracy benchmark; host assumed"

[memory]
ram = "32GiB"
type = "DDR4-3200 (assumed host)"
bandwidth_gbs = 51.2
bandwidth_basis = "estimated"
usable = "24GiB"
usable_basis = "estimated"
unified = false

[cpu]
name = "host CPU (assumed 8 cores)"
arch = "x86_64"
isa = ["avx2"]
cores = 8
threads = 16
clusters = [ {{ name = "host", cores = 8, ghz = 3.5 }} ]
fp32_gflops = 896
fp32_gflops_basis = "estimated"

[gpu]
name = "{name}"
backend = "{backend}"
fp16_tflops = {tflops}
fp16_tflops_basis = "datasheet"
fp16_tflops_note = "NVIDIA: dense tensor FP16 with FP32 accumulate; others: FP16 shader rate"
discrete = true
vram = "{vram}GiB"
vram_usable = "{vram - 0.5}GiB"
vram_bandwidth_gbs = {bw}
vram_bandwidth_basis = "datasheet"
runtimes = ["llama.cpp"]

[power]
typical_w = {watts * 0.7 + 60:.0f}
max_w = {watts + 100}
basis = "estimated"
'''


def _x86(d) -> str:
    (did, name, ram, bw, mtype, cores, ghz, fpc, isa, watts) = d
    isa_s = ", ".join(f'"{i}"' for i in isa)
    return f'''id = "{did}"
name = "{name}"
class = "desktop"
vendor = "various"
soc = "x86 CPU"
release = "n/a"
os = "various"
source = "vendor specifications (from knowledge); bandwidth as in ../shared/reference/measurements.csv"
verification = "reference device for the accuracy benchmark"

[memory]
ram = "{ram}GiB"
type = "{mtype}"
bandwidth_gbs = {bw}
bandwidth_basis = "datasheet"
usable = "{ram * 0.75:.1f}GiB"
usable_basis = "estimated"
unified = true

[cpu]
name = "{name}"
arch = "x86_64"
isa = [{isa_s}]
cores = {cores}
threads = {cores if did in X86_NO_SMT else cores * 2}
clusters = [ {{ name = "core", cores = {cores}, ghz = {ghz} }} ]
fp32_gflops = {cores * ghz * fpc:.0f}
fp32_gflops_basis = "derived"
fp32_gflops_note = "{cores} cores × {ghz} GHz × {fpc} FLOP/cycle"

[power]
typical_w = {watts}
max_w = {watts * 1.3:.0f}
basis = "estimated"
'''


# --------------------------------------------------------------------------- runtime-measurements.csv devices
# Devices of ../shared/reference/runtime-measurements.csv (MLX, MLC, ExecuTorch, LiteRT-LM rows)
# that have no shipped profile. Written from the vendors' figures as recalled (marked so) with the
# same FLOP/cycle conventions as the shipped profiles (profiles/SCHEMA.md); bandwidth from the
# CSV's memory_bandwidth_gbs column where it gives one.

RUNTIME_CSV = "../shared/reference/runtime-measurements.csv"
ANDROID_USABLE = ("estimated", "Android: an app can count on roughly half of RAM before the low-memory killer steps in (PREDICTION.md); rule 50% of RAM; assumption")
IOS_USABLE = ("estimated", "iOS jetsam per-app limit: ~50% of RAM without the increased-memory-limit entitlement; rule 50% of RAM; assumption")
MACOS_USABLE = ("estimated", "macOS Metal GPU working-set limit (recommendedMaxWorkingSetSize) ~ 2/3 of RAM (RAM <= 36 GiB), ~3/4 above; estimate")
PHONE_POWER = {"typical_w": 6.5, "max_w": 12.0, "basis": "estimated",
               "note": "estimated: typical = sustained phone draw while generating tokens (thermally limited, ~5-7 W); max = short-burst SoC+DRAM peak, not published by the vendor"}
ADRENO_750 = {"name": "Qualcomm Adreno 750", "backend": "opencl", "fp16_tflops": 5.5, "fp16_tflops_basis": "estimated",
              "fp16_tflops_note": "rough estimate as profiles/phone/galaxy-s24-ultra.toml: ~1536 ALU x 2 (FMA) x ~0.9 GHz x 2 (FP16); Qualcomm publishes no TFLOPS; usable_by_llama_cpp false as the shipped Snapdragon profiles (llama.cpp's Adreno OpenCL backend is experimental)",
              "discrete": False, "usable_by_llama_cpp": False}
SD8G3_CPU = {"name": "Snapdragon 8 Gen 3 (1x X4 + 5x A720 + 2x A520)", "arch": "arm64", "isa": ["neon", "dotprod", "i8mm", "fp16"],
             "cores": 8, "threads": 8,
             "clusters": [{"name": "Cortex-X4", "cores": 1, "ghz": 3.3}, {"name": "Cortex-A720", "cores": 3, "ghz": 3.15},
                          {"name": "Cortex-A720", "cores": 2, "ghz": 2.96}, {"name": "Cortex-A520", "cores": 2, "ghz": 2.27}],
             "fp32_gflops": 387.8, "fp32_gflops_basis": "derived",
             "fp32_gflops_note": "1 x 3.3 GHz x 32 + 3 x 3.15 x 16 + 2 x 2.96 x 16 + 2 x 2.27 x 8 = 387.8 GFLOPS (X-series 32, A7xx 16, A5xx 8 FLOP/cycle as the shipped profiles); Qualcomm reference clocks from recall"}


def _apple_cpu(name: str, p: int, pg: float, e: int, eg: float, isa: list[str]) -> dict:
    gflops = p * pg * APPLE_P + e * eg * APPLE_E
    return {"name": name, "arch": "arm64", "isa": isa, "cores": p + e, "threads": p + e,
            "clusters": [{"name": "P", "cores": p, "ghz": pg, "flops_per_cycle": APPLE_P}, {"name": "E", "cores": e, "ghz": eg, "flops_per_cycle": APPLE_E}],
            "fp32_gflops": round(gflops, 1), "fp32_gflops_basis": "derived",
            "fp32_gflops_note": f"{p} P x {pg} GHz x {APPLE_P} + {e} E x {eg} GHz x {APPLE_E} FLOP/cycle; clocks from recall (Apple does not publish them)"}


def _apple_gpu(cores: int, ghz: float, basis_note: str = "") -> dict:
    tflops = round(cores * 128 * 2 * ghz / 1000, 2)
    return {"name": f"Apple {cores}-core GPU", "backend": "metal", "fp16_tflops": tflops, "fp16_tflops_basis": "estimated",
            "fp16_tflops_note": f"derived estimate: {cores} cores x 128 ALU x 2 (FMA) x ~{ghz} GHz (clock not published; FP16 at least at the FP32 rate){basis_note}",
            "discrete": False, "usable_by_llama_cpp": True}


RUNTIME_DEVICES: list[dict] = [
    {
        "id": "ref-oneplus-12-16gb", "name": "OnePlus 12 (16 GB)", "class": "phone", "vendor": "OnePlus",
        "soc": "Qualcomm Snapdragon 8 Gen 3", "release": "2024-01", "os": "Android 14",
        "source": f"Qualcomm Snapdragon 8 Gen 3 product brief (LPDDR5X up to 4800 MHz); OnePlus 12 specifications (16 GB LPDDR5X) from recall; RAM and bandwidth as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; specs from knowledge, not re-read",
        "memory": {"ram": "16GiB", "type": "LPDDR5X-9600", "bus_width_bits": 64, "bandwidth_gbs": 76.8, "bandwidth_basis": "derived",
                   "bandwidth_note": "9600 MT/s x 64 bit / 8 = 76.8 GB/s (memory_bandwidth_gbs column of runtime-measurements.csv)",
                   "usable": "8GiB", "usable_basis": ANDROID_USABLE[0], "usable_note": ANDROID_USABLE[1], "unified": True},
        "cpu": SD8G3_CPU, "gpu": ADRENO_750,
        "npu": {"name": "Qualcomm Hexagon NPU", "note": "no official TOPS; needs QNN"},
        "power": PHONE_POWER,
    },
    {
        "id": "ref-galaxy-s24-8gb", "name": "Samsung Galaxy S24 (8 GB, Snapdragon variant assumed)", "class": "phone", "vendor": "Samsung",
        "soc": "Qualcomm Snapdragon 8 Gen 3 for Galaxy (assumed; Exynos 2400 outside the US/China)", "release": "2024-01", "os": "Android 14",
        "source": "as profiles/phone/galaxy-s24-ultra.toml (same SoC); Galaxy S24 8 GB from Samsung's launch specifications (recall)",
        "verification": "reference device for the runtime fit; the source (ExecuTorch docs) does not say which SoC variant: the US Snapdragon variant is assumed",
        "notes": "Exynos 2400 variant: 10-core CPU, Xclipse 940 GPU — rows measured on one would not match this profile",
        "memory": {"ram": "8GiB", "type": "LPDDR5X-9600 (SoC maximum; part speed unverified)", "bus_width_bits": 64, "bandwidth_gbs": 76.8,
                   "bandwidth_basis": "derived", "bandwidth_note": "Qualcomm 'LPDDR5X up to 4800 MHz' = 9600 MT/s x 64 bit / 8, as the S24 Ultra profile",
                   "usable": "4GiB", "usable_basis": ANDROID_USABLE[0], "usable_note": ANDROID_USABLE[1], "unified": True},
        "cpu": {**SD8G3_CPU, "clusters": [{"name": "Cortex-X4", "cores": 1, "ghz": 3.39}, {"name": "Cortex-A720", "cores": 3, "ghz": 3.1},
                                          {"name": "Cortex-A720", "cores": 2, "ghz": 2.9}, {"name": "Cortex-A520", "cores": 2, "ghz": 2.2}],
                "fp32_gflops": 385.3, "fp32_gflops_note": "as profiles/phone/galaxy-s24-ultra.toml (Galaxy clocks, recall)"},
        "gpu": ADRENO_750,
        "npu": {"name": "Qualcomm Hexagon NPU", "note": "no official TOPS; needs QNN"},
        "power": PHONE_POWER,
    },
    {
        "id": "ref-galaxy-s22-8gb", "name": "Samsung Galaxy S22 (8 GB, Snapdragon variant assumed)", "class": "phone", "vendor": "Samsung",
        "soc": "Qualcomm Snapdragon 8 Gen 1 (assumed; Exynos 2200 outside the US)", "release": "2022-02", "os": "Android 12",
        "source": "Qualcomm Snapdragon 8 Gen 1 product brief (LPDDR5 up to 3200 MHz) and Samsung Galaxy S22 specifications, from recall",
        "verification": "reference device for the runtime fit; specs from knowledge; the source (ExecuTorch README) does not say which SoC variant: Snapdragon assumed",
        "memory": {"ram": "8GiB", "type": "LPDDR5-6400", "bus_width_bits": 64, "bandwidth_gbs": 51.2, "bandwidth_basis": "derived",
                   "bandwidth_note": "6400 MT/s x 64 bit / 8 = 51.2 GB/s (SoC maximum; runtime-measurements.csv gives none)",
                   "usable": "4GiB", "usable_basis": ANDROID_USABLE[0], "usable_note": ANDROID_USABLE[1], "unified": True},
        "cpu": {"name": "Snapdragon 8 Gen 1 (1x X2 + 3x A710 + 4x A510)", "arch": "arm64", "isa": ["neon", "dotprod", "i8mm", "fp16"],
                "cores": 8, "threads": 8,
                "clusters": [{"name": "Cortex-X2", "cores": 1, "ghz": 3.0}, {"name": "Cortex-A710", "cores": 3, "ghz": 2.5},
                             {"name": "Cortex-A510", "cores": 4, "ghz": 1.8}],
                "fp32_gflops": 273.6, "fp32_gflops_basis": "derived",
                "fp32_gflops_note": "1 x 3.0 GHz x 32 + 3 x 2.5 x 16 + 4 x 1.8 x 8 = 273.6 GFLOPS; clocks from recall"},
        "gpu": {"name": "Qualcomm Adreno 730", "backend": "opencl", "fp16_tflops": 3.0, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "rough estimate (~55% of the Adreno 750 estimate); Qualcomm publishes no TFLOPS",
                "discrete": False, "usable_by_llama_cpp": False},
        "power": PHONE_POWER,
    },
    {
        "id": "ref-pixel-8-pro-12gb", "name": "Google Pixel 8 Pro (12 GB)", "class": "phone", "vendor": "Google",
        "soc": "Google Tensor G3", "release": "2023-10", "os": "Android 14",
        "source": "as profiles/phone/pixel-8.toml (same SoC); 12 GB from https://store.google.com/product/pixel_8_pro_specs (recall)",
        "verification": "reference device for the runtime fit; memory speed not published by Google (bandwidth is the pixel-8 estimate)",
        "memory": {"ram": "12GiB", "type": "LPDDR5X", "bus_width_bits": 64, "bandwidth_gbs": 68.3, "bandwidth_basis": "estimated",
                   "bandwidth_note": "estimate as profiles/phone/pixel-8.toml: assumed LPDDR5X-8533 x 64 bit / 8",
                   "usable": "6GiB", "usable_basis": ANDROID_USABLE[0], "usable_note": ANDROID_USABLE[1], "unified": True},
        "cpu": {"name": "Tensor G3 (1x X3 + 4x A715 + 4x A510)", "arch": "arm64", "isa": ["neon", "dotprod", "i8mm", "fp16"],
                "cores": 9, "threads": 9,
                "clusters": [{"name": "Cortex-X3", "cores": 1, "ghz": 2.91}, {"name": "Cortex-A715", "cores": 4, "ghz": 2.37},
                             {"name": "Cortex-A510", "cores": 4, "ghz": 1.7}],
                "fp32_gflops": 299.2, "fp32_gflops_basis": "derived", "fp32_gflops_note": "as profiles/phone/pixel-8.toml"},
        "gpu": {"name": "Arm Mali-G715 MC10", "backend": "vulkan", "fp16_tflops": 1.1, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "rough estimate as profiles/phone/pixel-8.toml", "discrete": False, "usable_by_llama_cpp": False},
        "power": {**PHONE_POWER, "typical_w": 6.0, "max_w": 10.0},
    },
    {
        "id": "ref-pixel-10-pro-16gb", "name": "Google Pixel 10 Pro (16 GB)", "class": "phone", "vendor": "Google",
        "soc": "Google Tensor G5", "release": "2025-08", "os": "Android 16",
        "source": "Google Pixel 10 Pro specifications and Tensor G5 coverage (TSMC N3E; 1x X4 + 5x A725 + 2x A520), from recall",
        "verification": "reference device for the runtime fit; specs from knowledge, not re-read; memory speed not published",
        "memory": {"ram": "16GiB", "type": "LPDDR5X", "bus_width_bits": 64, "bandwidth_gbs": 68.3, "bandwidth_basis": "estimated",
                   "bandwidth_note": "estimate: Google publishes no memory speed; assumed LPDDR5X-8533 x 64 bit / 8 as the Pixel 8 profile",
                   "usable": "8GiB", "usable_basis": ANDROID_USABLE[0], "usable_note": ANDROID_USABLE[1], "unified": True},
        "cpu": {"name": "Tensor G5 (1x X4 + 5x A725 + 2x A520)", "arch": "arm64", "isa": ["neon", "dotprod", "i8mm", "fp16"],
                "cores": 8, "threads": 8,
                "clusters": [{"name": "Cortex-X4", "cores": 1, "ghz": 3.78}, {"name": "Cortex-A725", "cores": 5, "ghz": 3.05},
                             {"name": "Cortex-A520", "cores": 2, "ghz": 2.25}],
                "fp32_gflops": 401.0, "fp32_gflops_basis": "derived",
                "fp32_gflops_note": "1 x 3.78 GHz x 32 + 5 x 3.05 x 16 + 2 x 2.25 x 8 = 401.0 GFLOPS; clocks from recall"},
        "gpu": {"name": "Imagination PowerVR DXT-48-1536", "backend": "vulkan", "fp16_tflops": 1.7, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "rough estimate: 1536 FLOP/clock x ~1.1 GHz; Google publishes no TFLOPS", "discrete": False,
                "usable_by_llama_cpp": False},
        "power": {**PHONE_POWER, "typical_w": 6.0, "max_w": 10.0},
    },
    {
        "id": "ref-iphone-17-pro-12gb", "name": "Apple iPhone 17 Pro (12 GB)", "class": "phone", "vendor": "Apple",
        "soc": "Apple A19 Pro", "release": "2025-09", "os": "iOS",
        "source": "https://www.apple.com/newsroom/2025/09/ (iPhone 17 Pro announcement); 12 GB RAM as teardown-reported, from recall",
        "verification": "reference device for the runtime fit; RAM and memory speed are not on Apple's spec sheet; clocks from recall",
        "memory": {"ram": "12GiB", "type": "LPDDR5X-9600 (assumed)", "bus_width_bits": 64, "bandwidth_gbs": 76.8, "bandwidth_basis": "estimated",
                   "bandwidth_note": "estimate: LPDDR5X-9600 x 64 bit / 8 = 76.8 GB/s; Apple publishes neither RAM nor bandwidth",
                   "usable": "6GiB", "usable_basis": IOS_USABLE[0], "usable_note": IOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple A19 Pro (2P+4E)", 2, 4.26, 4, 2.6, ["neon", "dotprod", "i8mm", "fp16", "sme"]),
        "gpu": _apple_gpu(6, 1.6, "; the GPU's neural accelerators (matmul units) are not counted"),
        "npu": {"name": "16-core Neural Engine", "note": "TOPS not published; needs Core ML"},
        "power": {**PHONE_POWER, "typical_w": 6.0, "max_w": 10.0},
    },
    {
        "id": "ref-m4-pro-16c-24gb", "name": "Mac with Apple M4 Pro (12-core CPU, 16-core GPU, 24 GB; configuration assumed)", "class": "desktop",
        "vendor": "Apple", "soc": "Apple M4 Pro", "release": "2024-11", "os": "macOS",
        "source": f"Apple M4 Pro specifications (273 GB/s; base 12-core CPU / 16-core GPU, 24 GB), from recall; bandwidth as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; the sources state neither the GPU core count nor (for the Chrome Canary rows) RAM: the base configuration is assumed",
        "memory": {"ram": "24GiB", "type": "LPDDR5X-8533", "bus_width_bits": 256, "bandwidth_gbs": 273.0, "bandwidth_basis": "datasheet",
                   "bandwidth_note": "Apple: 273 GB/s", "usable": "16GiB", "usable_basis": MACOS_USABLE[0], "usable_note": MACOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple M4 Pro (8P+4E)", 8, 4.5, 4, 2.9, ["neon", "dotprod", "i8mm", "fp16", "sme"]),
        "gpu": _apple_gpu(16, 1.47, "; clock as the shipped M4 profiles"),
        "npu": {"name": "16-core Neural Engine", "tops": 38.0, "note": "Apple figure; precision not stated; Core ML"},
        "power": {"typical_w": 40.0, "max_w": 140.0, "basis": "estimated", "note": "estimated: sustained draw while generating on the GPU; max = Mac mini M4 Pro maximum continuous power (recall)"},
    },
    {
        "id": "ref-m4-pro-16c-64gb", "name": "Mac mini (M4 Pro, 64 GB; 16-core GPU assumed)", "class": "desktop",
        "vendor": "Apple", "soc": "Apple M4 Pro", "release": "2024-11", "os": "macOS",
        "source": f"Apple M4 Pro specifications (273 GB/s), from recall; RAM and bandwidth as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; GPU core count not stated by the source (16-core base assumed)",
        "memory": {"ram": "64GiB", "type": "LPDDR5X-8533", "bus_width_bits": 256, "bandwidth_gbs": 273.0, "bandwidth_basis": "datasheet",
                   "bandwidth_note": "Apple: 273 GB/s", "usable": "48GiB", "usable_basis": MACOS_USABLE[0], "usable_note": MACOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple M4 Pro (8P+4E)", 8, 4.5, 4, 2.9, ["neon", "dotprod", "i8mm", "fp16", "sme"]),
        "gpu": _apple_gpu(16, 1.47, "; clock as the shipped M4 profiles"),
        "npu": {"name": "16-core Neural Engine", "tops": 38.0, "note": "Apple figure; precision not stated; Core ML"},
        "power": {"typical_w": 40.0, "max_w": 140.0, "basis": "estimated", "note": "estimated: sustained draw while generating on the GPU; max = Mac mini M4 Pro maximum continuous power (recall)"},
    },
    {
        "id": "ref-m4-max-40c-48gb", "name": "Mac with Apple M4 Max (16-core CPU, 40-core GPU, 48 GB; configuration assumed)", "class": "laptop",
        "vendor": "Apple", "soc": "Apple M4 Max", "release": "2024-11", "os": "macOS",
        "source": "Apple M4 Max specifications (16-core CPU / 40-core GPU: 546 GB/s; 14-core / 32-core: 410 GB/s), from recall",
        "verification": "reference device for the runtime fit; the source states neither the chip bin nor RAM: the 40-core GPU with 48 GB is assumed (the 32-core bin has 25% less bandwidth)",
        "memory": {"ram": "48GiB", "type": "LPDDR5X-8533", "bus_width_bits": 512, "bandwidth_gbs": 546.0, "bandwidth_basis": "datasheet",
                   "bandwidth_note": "Apple: 546 GB/s (40-core GPU bin)", "usable": "36GiB", "usable_basis": MACOS_USABLE[0], "usable_note": MACOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple M4 Max (12P+4E)", 12, 4.5, 4, 2.9, ["neon", "dotprod", "i8mm", "fp16", "sme"]),
        "gpu": _apple_gpu(40, 1.47, "; clock as the shipped M4 profiles"),
        "npu": {"name": "16-core Neural Engine", "tops": 38.0, "note": "Apple figure; precision not stated; Core ML"},
        "power": {"typical_w": 60.0, "max_w": 140.0, "basis": "estimated", "note": "estimated: sustained package draw while generating on the GPU; max = 140 W adapter of the 16-inch MacBook Pro"},
    },
    {
        "id": "ref-m2-max-38c-32gb", "name": "Mac with Apple M2 Max (38-core GPU, 32 GB; configuration assumed)", "class": "laptop",
        "vendor": "Apple", "soc": "Apple M2 Max", "release": "2023-01", "os": "macOS",
        "source": f"Apple M2 Max specifications (400 GB/s; up to 38-core GPU, 13.6 TFLOPS), from recall; bandwidth as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; GPU core count (30 or 38) and RAM not stated by the source: 38-core, 32 GB assumed",
        "memory": {"ram": "32GiB", "type": "LPDDR5-6400", "bus_width_bits": 512, "bandwidth_gbs": 400.0, "bandwidth_basis": "datasheet",
                   "bandwidth_note": "Apple: 400 GB/s", "usable": "21.3GiB", "usable_basis": MACOS_USABLE[0], "usable_note": MACOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple M2 Max (8P+4E)", 8, 3.5, 4, 2.4, ["neon", "dotprod", "fp16"]),
        "gpu": {**_apple_gpu(38, 1.4), "fp16_tflops": 13.6, "fp16_tflops_basis": "datasheet",
                "fp16_tflops_note": "Apple: 13.6 TFLOPS FP32 for the 38-core M2 Max (recall); FP16 at least at the FP32 rate"},
        "power": {"typical_w": 50.0, "max_w": 96.0, "basis": "estimated", "note": "estimated: sustained package draw while generating on the GPU; max = 96 W adapter"},
    },
    {
        "id": "ref-macbook-pro-14-m3-8gb", "name": "MacBook Pro 14 (M3, 2023, 8 GB)", "class": "laptop",
        "vendor": "Apple", "soc": "Apple M3", "release": "2023-11", "os": "macOS",
        "source": f"https://www.apple.com/newsroom/2023/10/apple-unveils-m3-m3-pro-and-m3-max-the-most-advanced-chips-for-a-personal-computer/ (M3: 8-core CPU, 10-core GPU, 100 GB/s); RAM not stated by the source (base 8 GB assumed); bandwidth as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; same chip figures as profiles/laptop/macbook-air-m3-8gb.toml with the 10-core GPU and a fan",
        "memory": {"ram": "8GiB", "type": "LPDDR5-6400", "bus_width_bits": 128, "bandwidth_gbs": 100.0, "bandwidth_basis": "datasheet",
                   "bandwidth_note": "Apple: 100 GB/s", "usable": "5.33GiB", "usable_basis": MACOS_USABLE[0], "usable_note": MACOS_USABLE[1], "unified": True},
        "cpu": _apple_cpu("Apple M3 (4P+4E)", 4, 4.05, 4, 2.75, ["neon", "dotprod", "i8mm", "fp16"]),
        "gpu": _apple_gpu(10, 1.38, "; clock as profiles/laptop/macbook-air-m3-8gb.toml"),
        "npu": {"name": "16-core Neural Engine", "tops": 18.0, "note": "Apple figure; Core ML"},
        "power": {"typical_w": 20.0, "max_w": 70.0, "basis": "estimated", "note": "estimated: sustained package+DRAM draw while generating; max = 70 W adapter"},
    },
    {
        "id": "ref-ryzen-6800u-680m-16gb", "name": "Laptop with AMD Radeon 680M (Ryzen 7 6800U, 16 GB LPDDR5-6400 assumed)", "class": "laptop",
        "vendor": "AMD (various OEMs)", "soc": "AMD Ryzen 7 6800U (Rembrandt)", "release": "2022-01", "os": "Windows 11 / Linux",
        "source": "https://www.amd.com/en/products/apu/amd-ryzen-7-6800u (Radeon 680M 12 CU up to 2.2 GHz; LPDDR5-6400 / DDR5-4800), from recall",
        "verification": "reference device for the runtime fit; the source says only 'Ryzen 6000-series with Radeon 680M': the 6800U with LPDDR5-6400 and 16 GB is assumed",
        "memory": {"ram": "16GiB", "type": "LPDDR5-6400 (assumed)", "bus_width_bits": 128, "bandwidth_gbs": 102.4, "bandwidth_basis": "derived",
                   "bandwidth_note": "6400 MT/s x 128 bit / 8 = 102.4 GB/s (with DDR5-4800 it would be 76.8)",
                   "usable": "12GiB", "usable_basis": "estimated", "usable_note": "desktop OS: RAM - max(2 GiB, 25% of RAM); assumption", "unified": True},
        "cpu": {"name": "AMD Ryzen 7 6800U (8x Zen 3+)", "arch": "x86_64", "isa": ["avx2", "fma", "f16c"], "cores": 8, "threads": 16,
                "clusters": [{"name": "Zen 3+", "cores": 8, "ghz": 4.7}], "fp32_gflops": 1203.2, "fp32_gflops_basis": "derived",
                "fp32_gflops_note": "8 cores x 4.7 GHz (max boost) x 32 FLOP/cycle (2 x 256-bit FMA); sustained all-core lower"},
        "gpu": {"name": "AMD Radeon 680M (12 CU RDNA2)", "backend": "vulkan", "fp16_tflops": 6.8, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "estimate: 12 CU x 64 lanes x 2 (FMA) x 2.2 GHz x 2 (packed FP16) = 6.8",
                "discrete": False, "usable_by_llama_cpp": True},
        "power": {"typical_w": 25.0, "max_w": 28.0, "basis": "estimated", "note": "estimated: typical = package + platform draw while generating on the iGPU; max = top of AMD's 15-28 W cTDP range"},
    },
    {
        "id": "ref-mini-pc-i5-9500t-16gb", "name": "Mini PC / SFF with Intel Core i5-9500T (16 GB DDR4-2666 assumed)", "class": "mini-pc",
        "vendor": "various", "soc": "Intel Core i5-9500T (Coffee Lake, 6C/6T, 35 W)", "release": "2019-04", "os": "Linux / Windows",
        "source": "https://www.intel.com/content/www/us/en/products/sku/191046/ (i5-9500T: 6 cores, up to 3.7 GHz, DDR4-2666, 2 channels, UHD 630), from recall",
        "verification": "reference device for the runtime fit; the source states neither RAM nor the chassis: 16 GB dual-channel DDR4-2666 assumed",
        "memory": {"ram": "16GiB", "type": "DDR4-2666 dual channel (assumed)", "bus_width_bits": 128, "bandwidth_gbs": 42.7, "bandwidth_basis": "derived",
                   "bandwidth_note": "2666 MT/s x 128 bit / 8 = 42.7 GB/s (Intel's maximum memory speed for this CPU)",
                   "usable": "12GiB", "usable_basis": "estimated", "usable_note": "desktop OS: RAM - max(2 GiB, 25% of RAM); assumption", "unified": True},
        "cpu": {"name": "Intel Core i5-9500T (6x Coffee Lake)", "arch": "x86_64", "isa": ["avx2", "fma", "f16c"], "cores": 6, "threads": 6,
                "clusters": [{"name": "Coffee Lake", "cores": 6, "ghz": 3.7}], "fp32_gflops": 710.4, "fp32_gflops_basis": "derived",
                "fp32_gflops_note": "6 cores x 3.7 GHz (max turbo) x 32 FLOP/cycle (2 x 256-bit FMA); sustained at 35 W lower"},
        "gpu": {"name": "Intel UHD Graphics 630 (24 EU)", "backend": "vulkan", "fp16_tflops": 0.84, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "estimate: 24 EU x 16 FP32 FLOP/clock x 1.1 GHz x 2 (FP16); not used by the published rows (CPU)",
                "discrete": False, "usable_by_llama_cpp": False},
        "power": {"typical_w": 30.0, "max_w": 35.0, "basis": "estimated", "note": "estimated: typical = package draw while generating on all cores; max = 35 W TDP (Intel)"},
    },
    {
        "id": "ref-laptop-ryzen-7-5800u-64gb", "name": "Laptop with AMD Ryzen 7 5800U (64 GB DDR4-3200)", "class": "laptop",
        "vendor": "AMD (various OEMs)", "soc": "AMD Ryzen 7 5800U (Cezanne, Radeon Vega 8)", "release": "2021-01", "os": "Linux / Windows",
        "source": f"https://www.amd.com/en/products/apu/amd-ryzen-7-5800u (8 cores up to 4.4 GHz, DDR4-3200 / LPDDR4X-4266, Vega 8 at 2.0 GHz), from recall; RAM as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; specs from knowledge; the source states ~50 GB/s for its DDR4",
        "memory": {"ram": "64GiB", "type": "DDR4-3200 dual channel", "bus_width_bits": 128, "bandwidth_gbs": 51.2, "bandwidth_basis": "derived",
                   "bandwidth_note": "3200 MT/s x 128 bit / 8 = 51.2 GB/s (the source: ~50 GB/s)",
                   "usable": "48GiB", "usable_basis": "estimated", "usable_note": "desktop OS: RAM - max(2 GiB, 25% of RAM); assumption", "unified": True},
        "cpu": {"name": "AMD Ryzen 7 5800U (8x Zen 3)", "arch": "x86_64", "isa": ["avx2", "fma", "f16c"], "cores": 8, "threads": 16,
                "clusters": [{"name": "Zen 3", "cores": 8, "ghz": 4.4}], "fp32_gflops": 1126.4, "fp32_gflops_basis": "derived",
                "fp32_gflops_note": "8 cores x 4.4 GHz (max boost) x 32 FLOP/cycle (2 x 256-bit FMA); sustained all-core lower"},
        "gpu": {"name": "AMD Radeon Vega 8 (8 CU GCN 5)", "backend": "vulkan", "fp16_tflops": 4.1, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "estimate: 8 CU x 64 lanes x 2 (FMA) x 2.0 GHz x 2 (packed FP16) = 4.1; the published rows ran on it through Vulkan",
                "discrete": False, "usable_by_llama_cpp": True},
        "power": {"typical_w": 25.0, "max_w": 25.0, "basis": "estimated", "note": "estimated: typical = package + platform while generating; max = top of AMD's 10-25 W cTDP range"},
    },
    {
        "id": "ref-rx7900xt-20gb", "name": "Desktop with AMD Radeon RX 7900 XT 20GB (host DDR4-3200)", "class": "desktop-gpu",
        "vendor": "various", "soc": "discrete GPU", "release": "n/a", "os": "Linux / Windows",
        "source": f"AMD Radeon RX 7900 XT specifications (84 CU, 20 GB GDDR6, 800 GB/s), from recall; VRAM bandwidth and host memory as in {RUNTIME_CSV}",
        "verification": "reference device for the runtime fit; host CPU not stated (assumed 8 cores); backend (Vulkan or ROCm) not confirmed by the source",
        "memory": {"ram": "32GiB", "type": "DDR4-3200 dual channel (as stated; size assumed)", "bus_width_bits": 128, "bandwidth_gbs": 51.2,
                   "bandwidth_basis": "derived", "bandwidth_note": "3200 MT/s x 128 bit / 8", "usable": "24GiB", "usable_basis": "estimated",
                   "usable_note": "desktop OS: RAM - max(2 GiB, 25% of RAM); assumption", "unified": False},
        "cpu": {"name": "host CPU (assumed 8 cores)", "arch": "x86_64", "isa": ["avx2"], "cores": 8, "threads": 16,
                "clusters": [{"name": "host", "cores": 8, "ghz": 3.5}], "fp32_gflops": 896.0, "fp32_gflops_basis": "estimated",
                "fp32_gflops_note": "assumed host as the other desktop-GPU reference devices: 8 cores x 3.5 GHz x 32"},
        "gpu": {"name": "AMD Radeon RX 7900 XT 20GB", "backend": "vulkan", "fp16_tflops": 51.6, "fp16_tflops_basis": "estimated",
                "fp16_tflops_note": "FP16 shader rate: 84 CU x 64 lanes x 2 (FMA) x 2.4 GHz x 2 (packed) = 51.6, without RDNA3 dual-issue (AMD quotes ~103)",
                "discrete": True, "vram": "20GiB", "vram_usable": "19.5GiB", "vram_bandwidth_gbs": 800.0, "vram_bandwidth_basis": "datasheet",
                "usable_by_llama_cpp": True},
        "power": {"typical_w": 280.0, "max_w": 415.0, "basis": "estimated", "note": "estimated: board power 315 W x 0.7 + 60 W host; max = board + 100 W"},
    },
]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


#: FP32 FLOP/cycle of Arm cores by family, the convention of the shipped profiles' notes
#: (profiles/SCHEMA.md): Cortex-X 4 × 128-bit FMA, A7xx 2 × 128-bit, A5xx as the A55 class
ARM_FLOPS_PER_CYCLE = (("Cortex-X", 32), ("Cortex-A7", 16), ("Cortex-A5", 8))


def _with_flops_per_cycle(cpu: dict) -> dict:
    """``cpu`` with each cluster's FP32 FLOP/cycle (multi-cluster Arm CPUs by ARM_FLOPS_PER_CYCLE,
    when every cluster is named by it), so the engine shares fp32_gflops among the cores by it."""
    clusters = cpu.get("clusters", [])
    if len(clusters) < 2 or all("flops_per_cycle" in c for c in clusters):
        return cpu
    fpc = [next((f for prefix, f in ARM_FLOPS_PER_CYCLE if c["name"].startswith(prefix)), None) for c in clusters]
    if None in fpc:
        raise ValueError(f"no FLOP/cycle for a cluster of {cpu['name']}: give flops_per_cycle")
    return {**cpu, "clusters": [{**c, "flops_per_cycle": f} for c, f in zip(clusters, fpc)]}


def _render(d: dict) -> str:
    """One profile dict → TOML in the layout of profiles/SCHEMA.md (scalars first, then the tables)."""
    if "cpu" in d:
        d = {**d, "cpu": _with_flops_per_cycle(d["cpu"])}
    head = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "\n".join(f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()) for k, v in d.items() if isinstance(v, dict)]
    return "\n".join(head) + "\n" + "\n".join(tables) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for d in DEVICES:
        (OUT / f"{d[0]}.toml").write_text(_apple(d))
    for d in CUDA:
        (OUT / f"{d[0]}.toml").write_text(_gpu(d))
    for d in X86:
        (OUT / f"{d[0]}.toml").write_text(_x86(d))
    for d in RUNTIME_DEVICES:
        (OUT / f"{d['id']}.toml").write_text(_render(d))
    print(f"wrote {len(DEVICES) + len(CUDA) + len(X86) + len(RUNTIME_DEVICES)} profiles to {OUT}")


if __name__ == "__main__":
    main()

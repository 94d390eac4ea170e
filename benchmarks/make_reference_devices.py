"""Write the device profiles of the machines that published measurements were taken on
(../shared/reference/measurements.csv) but that are not shipped profiles. Used only by the
accuracy benchmark. Specs are vendor figures written from knowledge (marked so), bandwidth as
stated in the measurement source where it gives one.

    python benchmarks/make_reference_devices.py
"""

from __future__ import annotations

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
    # id, name, ram GiB, bw, mem type, cores, ghz, flop/cycle, isa, power
    ("ref-mac-pro-2019-xeon-w-16c", "Mac Pro 2019 (Intel Xeon W, 16 cores)", 384, 140.8, "DDR4-2933 6-channel", 16, 3.2, 64, ["avx2", "avx512"], 250),
    ("ref-surface-book-3-i7-1065g7", "Microsoft Surface Book 3 (Core i7-1065G7)", 16, 58.7, "LPDDR4X-3733 128-bit", 4, 3.5, 32, ["avx2", "avx512"], 25),
    ("ref-desktop-i5-6500-ddr3", "Desktop PC (Core i5-6500, 16 GB DDR3)", 16, 20.02, "DDR3 (bandwidth as measured in the source)", 4, 3.3, 32, ["avx2"], 65),
]


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
clusters = [ {{ name = "P", cores = {p}, ghz = {pg} }}, {{ name = "E", cores = {e}, ghz = {eg} }} ]
fp32_gflops = {gflops:.0f}
fp32_gflops_basis = "derived"

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
threads = {cores * 2}
clusters = [ {{ name = "core", cores = {cores}, ghz = {ghz} }} ]
fp32_gflops = {cores * ghz * fpc:.0f}
fp32_gflops_basis = "derived"
fp32_gflops_note = "{cores} cores × {ghz} GHz × {fpc} FLOP/cycle"

[power]
typical_w = {watts}
max_w = {watts * 1.3:.0f}
basis = "estimated"
'''


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for d in DEVICES:
        (OUT / f"{d[0]}.toml").write_text(_apple(d))
    for d in CUDA:
        (OUT / f"{d[0]}.toml").write_text(_gpu(d))
    for d in X86:
        (OUT / f"{d[0]}.toml").write_text(_x86(d))
    print(f"wrote {len(DEVICES) + len(CUDA) + len(X86)} profiles to {OUT}")


if __name__ == "__main__":
    main()

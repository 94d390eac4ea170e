"""Published llama.cpp measurements (../shared/reference/measurements.csv) mapped onto the
catalog: which model, quantization, device and workload each row is.

Only llama.cpp-based runtimes (llama.cpp, llama-bench, Ollama) are used: MLX, MNN, ncnn and
TensorRT-LLM rows measure other software and are listed as excluded with the reason.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from advisor.catalog import Catalog, _read_toml, _validate, load_device_file
from advisor.engine.calibrate import Observation
from advisor.records import DeviceProfile, PathFactors, Workload

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent.parent / "shared" / "reference" / "measurements.csv"
RUNTIME_REFERENCE = HERE.parent.parent / "shared" / "reference" / "runtime-measurements.csv"

MODEL_MAP = {
    "LLaMA-2-7B": "llama-2-7b-chat",
    "Llama-2-7B": "llama-2-7b-chat",
    "LLaMA-7B (LLaMA 1)": "llama-7b",
    "Meta-Llama-3-8B": "llama-3-8b-instruct",
    "TinyLlama-1.1B-1T-OpenOrca": "tinyllama-1.1b-chat-v1.0",
    "TinyLlama-1.1B": "tinyllama-1.1b-chat-v1.0",
    "Llama-3.2-3B-Instruct": "llama-3.2-3b-instruct",
    "llama3.2:3b -> Llama-3.2-3B-Instruct": "llama-3.2-3b-instruct",
    "Llama-3.2-1B-Instruct": "llama-3.2-1b-instruct",
    "qwen:1.8b -> Qwen1.5-1.8B-Chat": "qwen1.5-1.8b-chat",
    "Qwen3-0.6B": "qwen3-0.6b",
    "Qwen3-1.7B": "qwen3-1.7b",
    "BitNet b1.58 3B": "bitnet-b1.58-3b",  # T-MAC's llama.cpp Q2_K rows (1bitLLM's bitnet_b1_58-3B)
}

# device column → (profile id, CPU only?). ref-* live in benchmarks/reference_devices.
DEVICE_MAP = {
    "MacBook Pro 16 (M1 Max 24-core GPU)": ("ref-m1-max-24c-32gb", False),
    "Mac Studio (M2 Ultra 76-core GPU)": ("ref-m2-ultra-76c-192gb", False),
    "RunPod RTX 4080 16GB": ("ref-rtx4080-16gb", False),
    "MacBook Air 13 (M1 7-core GPU 8GB)": ("macbook-air-m1-8gb", False),
    "MacBook Pro 14 (M1 Max 32-core GPU)": ("ref-m1-max-32c-64gb", False),
    "RunPod RTX 3070 8GB": ("ref-rtx3070-8gb", False),
    "Mac mini (M2 Pro 12C CPU/19C GPU)": ("ref-m2-pro-19c-32gb", None),  # backend column decides
    "Mac Pro 2019 (Intel Xeon W 16-core)": ("ref-mac-pro-2019-xeon-w-16c", True),
    "Apple M1 (7-core GPU)": ("macbook-air-m1-8gb", False),
    "Apple M1 (8-core GPU)": ("macbook-air-m1-8gb", False),
    "Apple M1 Max (32-core GPU, 64GB)": ("ref-m1-max-32c-64gb", False),
    "Mac Studio M1 Ultra (64-core GPU, 128GB)": ("ref-m1-ultra-64c-128gb", False),
    "Raspberry Pi 500+ + Intel Arc A310 ECO 4GB": ("ref-arc-a310-4gb", False),
    "Raspberry Pi 500+ + Intel Arc Pro B50 16GB": ("ref-arc-pro-b50-16gb", False),
    "SiFive HiFive Premier P550 + AMD RX 580": ("ref-rx580-8gb", False),
    "Intel Ivy Bridge PC + AMD RX 470": ("ref-rx470-4gb", False),
    "Raspberry Pi 400 4GB": ("raspberry-pi-4-4gb", True),
    "MacBook Pro (M1 Max) 32GB": ("ref-m1-max-24c-32gb", False),
    "Mac Studio (M1 Max, 10-core CPU) 64GB": ("ref-m1-max-24c-32gb", False),
    "Raspberry Pi 4 2GB": ("raspberry-pi-4-2gb", True),
    "Mac Studio (M2 Ultra) CPU": ("ref-m2-ultra-76c-192gb", True),
    "Jetson AGX Orin (CPU only; 32/64GB not stated)": ("jetson-agx-orin-64gb", True),
    "Microsoft Surface Book 3": ("ref-surface-book-3-i7-1065g7", True),
    "Jetson AGX Orin (MAXN; 32/64GB not stated)": ("jetson-agx-orin-64gb", False),
    "Jetson AGX Orin 64GB (NixOS, power mode not stated)": ("jetson-agx-orin-64gb", False),
    "Raspberry Pi 4": ("raspberry-pi-4-4gb", True),
    "Desktop PC (i5-6500, 16GB DDR3)": ("ref-desktop-i5-6500-ddr3", True),
}

#: decode parameters fitted to published rows (compute efficiency stays at its prior: see calibrate_path).
#: Fitting it too was measured (2026-11-29, int8 dot-product roofline): the 1-thread T-MAC rows of the
#: M2 Ultra and the AGX Orin CPU need efficiencies 2x apart, so each device left out was predicted
#: from the other's: leave-one-device-out cpu-arm decode MdAPE 51 % against 34 % with the prior.
PUBLISHED_DECODE_PARAMS = ("bw_efficiency", "fixed_s_per_layer")
#: Paths whose published rows do separate compute from memory, and fit the compute efficiency too:
#: Metal's rows span F16, Q8_0 and Q4_0 of one model on one chip (the M1 Max's LLaMA-7B reads
#: 310, 288 and 234 GB/s: the fewer bits, the less of the bandwidth: a compute roofline).
PUBLISHED_DECODE_PARAMS_BY_PATH = {"metal": (*PUBLISHED_DECODE_PARAMS, "decode_compute_efficiency")}


_CITATION = re.compile(r"(?:https?://|www\.|github\.com/)\S+(?: [\w./-]+\.md\b)?")  # a repository and the file in it


def cite(source: str) -> str:
    """A row's source as a citation a calibration can list: its first link (a page, a repository
    file), or else its text up to the first remark, cut at a word, never inside a parenthesis."""
    link = _CITATION.search(source)
    if link:
        return link.group(0).rstrip(".,;)")
    head = re.split(r" \(|;", source, maxsplit=1)[0].strip()
    return head if len(head) <= 80 or " " not in head[:80] else head[:80].rsplit(" ", 1)[0] + "…"


def cite_all(sources) -> str:
    """The distinct citations of ``sources``, sorted, all of them."""
    return "; ".join(sorted({cite(s) for s in sources}))


def decode_params(path: str) -> tuple[str, ...]:
    """The decode parameters fitted to a path's published rows."""
    return PUBLISHED_DECODE_PARAMS_BY_PATH.get(path, PUBLISHED_DECODE_PARAMS)


#: log-space spread of one published row around the model (different builds, settings, harnesses)
PUBLISHED_DATA_LOG_SD = 0.3
#: loss for the published rows: plain least squares. Soft-L1 (the default for a user's own runs,
#: which can be noisy) was measured here too: leave-one-device-out decode MdAPE 27% vs 25%,
#: prefill 34% vs 35% (python benchmarks/speed_accuracy.py, 2026-11-29) — no gain on curated rows.
PUBLISHED_LOSS = "linear"

# the reference sheet rates each source; less trusted rows count less in the fit
TRUST_WEIGHT = {"high": 1.0, "medium": 0.6, "low": 0.3}
#: Rows the sheet rates "low" are checked, never fitted, and kept out of the headline figures
#: (``load_rows(checked=True)`` returns every check-only row; speed_accuracy.py reports them apart,
#: and with all rows together). The only ones are the NixOS AGX Orin rows ("agent-run NixOS build;
#: values far below typical AGX Orin MAXN results"): their decode runs at ~25–30 GB/s, the Orin
#: CPU's rate, on a 204.8 GB/s GPU path, and fitted they had set the CUDA-on-Jetson per-layer cost
#: to 1,051 µs, capping every model on every Jetson near 30 tok/s. A weight of 0.3 did not stop
#: that: they were the path's only prefill rows and most of its decode rows.
CHECK_ONLY_TRUST = frozenset({"low"})

#: CPU prefill rows whose build multiplied the prompt through a BLAS library: ggml of 2023 handed
#: every matrix product with all sides >= 32 to cblas_sgemm when built with BLAS, after
#: dequantizing the weights to F32 (ggml_compute_forward_mul_mat_use_blas). That is a different
#: code path from today's default builds on Linux, Windows and Android, which link no BLAS and
#: multiply int8 blocks in ggml's own (llamafile sgemm, repacked) kernels; the engine models
#: those. These rows are checked, not fitted (speed_accuracy.py, "Rows checked, not fitted"):
#: fitted, the two x86 ones had set cpu-x86 prefill to 0.195 of FP32 peak, against 0.96 for a
#: current build on this repository's AVX-512 VM (benchmarks/results/validation.md), and the two
#: disagreed 4x with each other (OpenBLAS on a 4-core Skylake, Accelerate on a 16-core Xeon W).
#: Their decode rows (batch 1: no BLAS) stay fitted.
BLAS_PREFILL_ROWS = {
    ("Desktop PC (i5-6500, 16GB DDR3)", "LLaMA-7B (LLaMA 1)"):
        "built with OpenBLAS (the row's backend says BLAS=1), May 2023",
    ("Mac Pro 2019 (Intel Xeon W 16-core)", "LLaMA-2-7B"):
        "macOS build of commit 335acd2 (Aug 2023), whose Makefile linked Apple Accelerate by default",
    ("Mac mini (M2 Pro 12C CPU/19C GPU)", "LLaMA-2-7B"):
        "macOS build of commit 335acd2 (Aug 2023), whose Makefile linked Apple Accelerate by default "
        "(on Apple silicon its sgemm runs on the AMX units)",
}


def check_only_reason(row: dict[str, str], cpu: bool) -> str:
    """Why a row of measurements.csv is checked against the predictions but not fitted ("" when
    it is fitted): a trust CHECK_ONLY_TRUST, or a CPU prefill row of a BLAS build."""
    if row["trust"] in CHECK_ONLY_TRUST:
        return f"trust {row['trust']}: {row['notes'] or 'rated low by the reference sheet'}"
    blas = BLAS_PREFILL_ROWS.get((row["device"], row["model"]))
    if cpu and blas and row["metric"] == "pp_tok_s":
        return f"BLAS prefill: {blas}"
    return ""


#: Published CPU rows whose build repacked their weights at load (Workload.cpu_repack; the engine's
#: speed.REPACK_PREFILL_SPEEDUP). Every other row predates the repacking of its type: the rows of
#: measurements.csv are from 2023 to mid-2024 builds (llama.cpp began repacking Q4_0 at load in late
#: 2024; before, only explicit Q4_0_4_4 files had the layout), and the 2024 Pi 5 Q8_0 row predates
#: Q8_0's repacking on Arm.
REPACKED_BUILD_ROWS = {
    ("Raspberry Pi 5", "Qwen2.5-0.5B-Instruct", "Q4_0"): "llama.cpp discussion #30069, a 2025+ build: Q4_0 repacked at load",
}


def repacked_build(row: dict[str, str]) -> bool:
    """Whether the row's build repacked its weights (REPACKED_BUILD_ROWS, or an explicit
    interleaved Q4_0_4_x file)."""
    return (row["device"], row["model"], row["format"]) in REPACKED_BUILD_ROWS or row["format"].startswith("Q4_0_4_")


# classes for reporting the error
CLASS_OF = {
    "apple_laptop_desktop": "apple",
    "discrete_gpu": "discrete GPU",
    "x86_cpu": "x86 CPU",
    "jetson": "jetson",
    "raspberry_pi": "raspberry pi",
    "phone": "phone",
}


@dataclass(frozen=True)
class PublishedRow:
    observation: Observation | None
    device_class: str
    device_key: str  # for leave-one-device-out
    raw: dict[str, str]
    excluded: str = ""


def _quant(text: str) -> str | None:
    t = text.strip()
    if t.startswith("Q4_K_M"):
        return "Q4_K_M"
    if t.startswith("q4 (ggml"):
        return "Q4_0"
    if t.startswith("Ollama default tag"):
        return "Q4_0"
    return t if t in {"Q4_0", "Q8_0", "F16", "Q6_K", "Q2_K", "Q4_K_M"} else None


def _workload(row: dict[str, str], metric: str) -> Workload:
    setting = row["prompt_context_setting"]
    threads = int(row["threads"]) if row["threads"].strip() else None
    if metric == "prefill":
        prompt = 353 if "353 prompt tokens" in setting else 512
        return Workload(context_tokens=4096, prompt_tokens=prompt, output_tokens=1, threads=threads, cpu_repack=False)
    n = 512 if "tg512" in setting else 128
    return Workload(context_tokens=4096, prompt_tokens=1, output_tokens=n, threads=threads, cpu_repack=False)


def reference_devices() -> dict[str, DeviceProfile]:
    """The profiles of benchmarks/reference_devices by file stem (devices of published rows the
    catalog does not ship)."""
    return {p.stem: load_device_file(p) for p in sorted((HERE / "reference_devices").glob("*.toml"))}


def resolve_device(profile_id: str, catalog: Catalog, refs: dict[str, DeviceProfile]) -> DeviceProfile:
    """A reference profile (``refs``) by id, else the catalog's."""
    return refs[profile_id] if profile_id in refs else catalog.device(profile_id)


def cpu_only(device: DeviceProfile) -> DeviceProfile:
    return device.model_copy(update={"gpu": None, "id": device.id + "+cpu"})


def load_rows(catalog: Catalog, path: Path = REFERENCE, *, with_runtime: bool = True,
              checked: bool = False) -> list[PublishedRow]:
    """Every row of measurements.csv (used or excluded with the reason), and with ``with_runtime``
    the mapped llama.cpp rows of runtime-measurements.csv (``load_runtime_rows``). Rows with a
    ``check_only_reason`` are excluded ("checked, not fitted"); ``checked=True`` returns those rows
    alone, with their observations and the reason in ``excluded``, for the check."""
    refs = reference_devices()
    out: list[PublishedRow] = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            metric = {"tg_tok_s": "decode", "pp_tok_s": "prefill"}.get(row["metric"])
            cls = CLASS_OF.get(row["device_class"], row["device_class"])
            backend = row["backend"]

            def excluded(reason: str) -> PublishedRow:
                return PublishedRow(None, cls, row["device"], row, reason)

            if metric is None:
                out.append(excluded(f"metric {row['metric']} (memory rows are checked elsewhere)"))
                continue
            if not ("llama.cpp" in backend or "Ollama" in backend):
                out.append(excluded(f"runtime {backend} is not llama.cpp"))
                continue
            model_id = MODEL_MAP.get(row["model"])
            if model_id is None:
                out.append(excluded(f"model {row['model']} not in the catalog"))
                continue
            quant = _quant(row["quant"])
            if quant is None:
                out.append(excluded(f"quantization {row['quant']!r} unknown"))
                continue
            mapped = DEVICE_MAP.get(row["device"])
            if mapped is None:
                out.append(excluded(f"no profile for device {row['device']}"))
                continue
            dev_id, cpu = mapped
            device = resolve_device(dev_id, catalog, refs)
            if cpu is None:
                cpu = "CPU" in backend
            if cpu:
                device = cpu_only(device)
            obs = Observation(
                model=catalog.model(model_id),
                ftype=catalog.file_type(quant),
                device=device,
                workload=_workload(row, metric),
                metric=metric,  # type: ignore[arg-type]
                value=float(row["value"]),
                label=f"{row['device']} | {row['model']} {quant} | {backend}" + (f" | {row['threads']}t" if row["threads"] else ""),
                weight=TRUST_WEIGHT.get(row["trust"], 0.5),
            )
            reason = check_only_reason(row, cpu)
            if checked:
                if reason:
                    out.append(PublishedRow(obs, cls, device.id, row, reason))
            elif reason:
                out.append(excluded(f"checked against the predictions, not fitted ({reason}; "
                                    "benchmarks/speed_accuracy.py, section 'Rows checked, not fitted')"))
            else:
                out.append(PublishedRow(obs, cls, device.id, row))
    if checked:
        return [r for r in out if r.observation is not None]
    return out + (load_runtime_rows(catalog) if with_runtime else [])


def fit_paths(rows: list[PublishedRow], catalog: Catalog, priors: dict[str, PathFactors],
              exclude: frozenset[str] = frozenset(), only: frozenset[str] | None = None,
              cache: dict | None = None) -> dict[str, PathFactors]:
    """Factors per execution path (of ``only``, default all) fitted to the rows of every device
    not in ``exclude``. ``cache`` (a dict kept by the caller for one ``rows``, ``priors`` pair)
    reuses a path's fit when the same devices of that path are left out: a path's fit depends on
    its own rows only, so the nested leave-one-device-out of band_coverage.py refits far less."""
    from collections import defaultdict

    from advisor.engine.calibrate import calibrate_path
    from advisor.engine.speed import execution_path

    by_path: dict[str, list[Observation]] = defaultdict(list)
    left_out: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r.observation is not None:
            path = execution_path(r.observation.device)
            if only is not None and path not in only:
                continue
            if r.device_key in exclude:
                left_out[path].add(r.device_key)
            else:
                by_path[path].append(r.observation)
    out = {}
    for path, obs in by_path.items():
        key = (path, frozenset(left_out[path]))
        if cache is not None and key in cache:
            out[path] = cache[key]
            continue
        out[path] = calibrate_path(obs, priors[path], catalog.ggml_types, basis=f"fit on {len(obs)} published measurements",
                                   decode_params=decode_params(path), data_log_sd=PUBLISHED_DATA_LOG_SD, loss=PUBLISHED_LOSS)[0]
        if cache is not None:
            cache[key] = out[path]
    return out


@dataclass(frozen=True)
class HeldOut:
    """One published row predicted by factors fitted without its device."""

    row: PublishedRow
    path: str
    predicted: float
    log_residual: float  # log(predicted / measured)
    path_fitted: bool  # False: no other device shares the path; the prior predicted it


def held_out(rows: list[PublishedRow], catalog: Catalog, priors: dict[str, PathFactors],
             also_exclude: frozenset[str] = frozenset(), cache: dict | None = None) -> list[HeldOut]:
    """Leave-one-device-out predictions of every row (of devices not in ``also_exclude``), each
    from its path's factors fitted on the other devices (minus ``also_exclude``); ``cache``: see
    ``fit_paths``."""
    import math

    from advisor.engine.calibrate import predict
    from advisor.engine.speed import execution_path

    rows = [r for r in rows if r.observation is not None]
    out = []
    for dev in sorted({r.device_key for r in rows} - also_exclude):
        paths = frozenset(execution_path(r.observation.device) for r in rows if r.device_key == dev)
        fitted = fit_paths(rows, catalog, priors, exclude=also_exclude | {dev}, only=paths, cache=cache)
        for r in rows:
            if r.device_key != dev:
                continue
            o = r.observation
            path = execution_path(o.device)
            f = fitted.get(path, priors[path])
            p = predict(o, f, catalog.ggml_types)
            out.append(HeldOut(r, path, p, math.log(p / o.value), path in fitted))
    return out


#: A path's band comes from its own held-out residuals when at least this many devices share it
#: and it has enough rows for the conformal rank (``engine.calibrate.conformal_rank_ok``: ≥ 4 rows
#: at 80 %); otherwise from the pooled band (``heldout_bands``).
MIN_DEVICES_FOR_PATH_BAND = 2


class PathBands(NamedTuple):
    """``heldout_bands``' answer: ``own`` per path (its rows' band, or — ``widened`` — the pooled
    band widened to its rows' rank), ``pooled`` for every other path."""
    own: dict[str, float]
    pooled: float
    widened: frozenset[str]

    def of(self, path: str) -> tuple[float, str]:
        """(band, where it came from: "own", "widened" or "pooled") of ``path``."""
        if path not in self.own:
            return self.pooled, "pooled"
        return self.own[path], "widened" if path in self.widened else "own"


def heldout_bands(heldout: list[HeldOut], metric: str) -> PathBands:
    """Per-path band and the pooled band, each holding BAND_COVERAGE of held-out residuals by the
    conformal rank of ``engine.calibrate.band_from_heldout``.

    * own band: the path's rows, where ≥ MIN_DEVICES_FOR_PATH_BAND devices share it and its rows
      suffice for the rank. A device's rows are not independent errors (one profile, one harness):
      each of a device's m rows weighs 1 / (1 + (m − 1)·ρ), so the device counts as its effective
      number of rows (Kish's design effect), ρ the intraclass correlation of the held-out errors
      (``engine.calibrate.intra_device_correlation`` over every fitted path's rows). Counting rows
      as independent (ρ = 0) held 71 % of decode rows instead of 80 %, one unit per device (ρ = 1)
      88 % (benchmarks/band_coverage.py, 2026-11-30). A path with too few devices for that rank
      but enough rows for it (the x86 CPUs: 3 devices, 6 rows) takes the pooled band, widened to
      its rows' own rank where they err more: a device's own errors are the least it can expect;
    * pooled band (every other path): the held-out residuals of every path, each *device*'s rows
      sharing one unit of weight. A path without its own band is a path with one or two devices,
      and what it needs is the error of "a device" — rows of one device share its errors (its
      profile's bandwidth, its harness), so pooling rows would let the best-measured path (Metal:
      14 of 27 prefill rows) set the band of every sparse one, which held 74 % instead of 80 %
      (benchmarks/band_coverage.py, 2026-11-29). Rows the bare prior predicted (no other device on
      their path) are left out: they measure "no data at all", which describes no shipped path
      with measurements."""
    from collections import Counter, defaultdict

    from advisor.engine.calibrate import band_from_heldout, conformal_rank_ok, intra_device_correlation

    sel = [h for h in heldout if h.row.observation.metric == metric]
    by_path: dict[str, list[HeldOut]] = defaultdict(list)
    for h in sel:
        by_path[h.path].append(h)
    fitted = [h for h in sel if h.path_fitted]
    of_device: dict[str, list[float]] = defaultdict(list)
    for h in fitted:
        of_device[h.row.device_key].append(h.log_residual)
    pooled = band_from_heldout([h.log_residual for h in fitted], weights=[1 / len(of_device[h.row.device_key]) for h in fitted])
    rho = intra_device_correlation(list(of_device.values()))
    bands, widened = {}, set()
    for path, hs in by_path.items():
        rows_of = Counter(h.row.device_key for h in hs)
        if len(rows_of) < MIN_DEVICES_FOR_PATH_BAND:
            continue
        weights = [1 / (1 + (rows_of[h.row.device_key] - 1) * rho) for h in hs]
        if conformal_rank_ok(sum(weights)):
            bands[path] = band_from_heldout([h.log_residual for h in hs], weights=weights)
        elif conformal_rank_ok(len(hs)) and (rows_band := band_from_heldout([h.log_residual for h in hs])) > pooled:
            bands[path] = rows_band  # too few devices for a band of its own, but its rows widen the pooled one
            widened.add(path)
    return PathBands(bands, pooled, frozenset(widened))


# runtime-measurements.csv rows of llama.cpp (or Ollama) on a catalog model with a stated GGUF type,
# on hardware we have a profile for: (device column prefix, backend) → (profile id, how to run it).
# "opencl": the shipped Galaxy S24 Ultra profile (Snapdragon 8 Gen 3, Adreno 750) with llama.cpp's
# OpenCL backend on (the profile assumes the CPU path); the row's device is a Snapdragon 8 Gen 3
# development device with the same SoC. "Mac (M2 Max)" is left out: its GPU core count is not stated.
RUNTIME_DEVICE_MAP = {
    ("Snapdragon device with Adreno 750", "opencl"): ("galaxy-s24-ultra", "opencl"),
    ("Raspberry Pi 5", "cpu"): ("raspberry-pi-5-8gb", "cpu"),
    ("Mac (Apple M2 Pro)", "metal"): ("ref-m2-pro-19c-32gb", "gpu"),
    # llama.cpp PR 15616: ggerganov's Mac Studio, the M2 Ultra 76-core GPU / 192 GB of measurements.csv
    ("Mac Studio (M2 Ultra)", "metal"): ("ref-m2-ultra-76c-192gb", "gpu"),
    # the catalog profile (its figures: 102 GB/s, the 25 W / MAXN SUPER memory clock)
    ("Jetson Orin Nano Super 8GB", "cuda"): ("jetson-orin-nano-super-8gb", "gpu"),
    # IGX Orin's iGPU: the AGX Orin's Orin SoC and 204.8 GB/s (the row's maintainer: "equal to AGX
    # Orin"); the AGX Orin 64GB profile, so leave-one-device-out leaves it out with the AGX rows
    ("NVIDIA IGX Orin (iGPU", "cuda"): ("jetson-agx-orin-64gb", "gpu"),
    # MiniCPM issue #331: "nvpmodel max + jetson_clocks" (MAXN); 32 or 64 GB not stated: the 64 GB
    # profile, as for the T-MAC rows. Both modules read 204.8 GB/s; the 32 GB's GPU is smaller
    # (1792 cores at 930 MHz against 2048 at 1.3 GHz), which a bandwidth-bound decode hardly sees
    ("Jetson AGX Orin", "cuda"): ("jetson-agx-orin-64gb", "gpu"),
}
#: Rows whose GGUF file type is not stated, read as the model's lightest common file (Q4_0): of the
#: readings, the one that leaves the most of the measured time to the per-layer fixed cost, so a
#: fit on it predicts small models the slowest — the conservative side. (device prefix, model) → type.
ASSUMED_FILE_TYPE = {("Jetson Orin Nano Super 8GB", "SmolLM2-135M"): "Q4_0",
                     ("NVIDIA IGX Orin (iGPU", "Llama-2-7B"): "Q4_0",  # "4-bit (GGUF, type not stated)"
                     ("NVIDIA IGX Orin (iGPU", "Llama-2-13B"): "Q4_0"}
RUNTIME_MODEL_MAP = {
    "Qwen2.5-1.5B-Instruct": "qwen2.5-1.5b-instruct",
    "Qwen2.5-0.5B-Instruct": "qwen2.5-0.5b-instruct",
    "Llama-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "Qwen2.5-Coder-7B": "qwen2.5-7b-instruct",
    "SmolLM2-135M": "smollm2-135m-instruct",  # the base model of the same architecture
    "Llama-2-7B": "llama-2-7b-chat",  # the base model of the same architecture
    "Llama-2-13B": "llama-2-13b",
    "MiniCPM4.1-8B": "minicpm4.1-8b",
}


def with_opencl(device: DeviceProfile) -> DeviceProfile:
    assert device.gpu is not None and device.gpu.backend == "opencl"
    runtimes = tuple(dict.fromkeys((*device.gpu.runtimes, "llama.cpp")))  # usable_by_llama_cpp is derived from runtimes
    return device.model_copy(update={"gpu": device.gpu.model_copy(update={"runtimes": runtimes}),
                                     "id": device.id + "+opencl"})


def load_runtime_rows(catalog: Catalog, path: Path = RUNTIME_REFERENCE) -> list[PublishedRow]:
    """The llama.cpp rows of runtime-measurements.csv that map onto the catalog (see
    RUNTIME_DEVICE_MAP); every other row of that file measures other runtimes or unknown files."""
    refs = reference_devices()
    out: list[PublishedRow] = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            metric = {"tg_tok_s": "decode", "pp_tok_s": "prefill"}.get(row["metric"])
            if metric is None or row["runtime"] not in ("llama.cpp", "ollama"):
                continue
            key = next((v for (prefix, backend), v in RUNTIME_DEVICE_MAP.items()
                        if row["device"].startswith(prefix) and row["backend"] == backend), None)
            model_id = RUNTIME_MODEL_MAP.get(row["model"])
            assumed = next((q for (prefix, model), q in ASSUMED_FILE_TYPE.items()
                            if row["device"].startswith(prefix) and row["model"] == model), None)
            quant = assumed or (_quant(row["format"].split(" ")[0]) if row["format"] else None)
            if key is None or model_id is None or quant is None:
                continue
            dev_id, how = key
            device = resolve_device(dev_id, catalog, refs)
            device = cpu_only(device) if how == "cpu" else with_opencl(device) if how == "opencl" else device
            threads = int(row["threads"]) if row["threads"].strip() else None
            bench = row["runtime_version"]
            # llama-bench settings the row states: a larger physical batch, flash attention on
            ubatch = int(m.group(1)) if (m := re.search(r"n_ubatch (\d+)", bench)) else 512
            fa = "on" if "flash-attn on" in bench else "auto"
            if metric == "prefill":
                prompt = int(row["prompt_tokens"] or 512)
                w = Workload(context_tokens=max(4096, prompt + 1), prompt_tokens=prompt, output_tokens=1, threads=threads,
                             n_ubatch=ubatch, flash_attn=fa, cpu_repack=repacked_build(row))
            else:
                w = Workload(context_tokens=4096, prompt_tokens=1, output_tokens=int(row["output_tokens"] or 128), threads=threads,
                             cpu_repack=repacked_build(row))
            obs = Observation(
                model=catalog.model(model_id), ftype=catalog.file_type(quant), device=device, workload=w,
                metric=metric,  # type: ignore[arg-type]
                value=float(row["value"]),
                label=f"{row['device']} | {row['model']} {quant}" + (f" ({row['format'] or 'file type not stated'}; {quant} assumed)" if assumed else "")
                      + f" | {row['runtime']} {row['backend']}" + (f" | {row['threads']}t" if row["threads"] else ""),
                weight=TRUST_WEIGHT.get(row["trust"], 0.5),
            )
            cls = "apple" if row["soc"].startswith("Apple") else {"sbc": "raspberry pi"}.get(row["device_class"], row["device_class"])
            out.append(PublishedRow(obs, cls, device.id, {**row, "source": row["source"]}))
    return out


#: Cactus's June 2025 leaderboard (runtime-measurements.csv: "Cactus (llama.cpp/GGUF-based)", GGUF Q8_0):
#: phones the catalog has a profile of. Checked, never fitted: the rows state neither the backend
#: (CPU or the phone's GPU; the sheet assumes CPU) nor the prompt and output lengths ("toks/sec").
CACTUS_DEVICE_MAP = {
    "iPhone 16 Pro": "iphone-16-pro", "iPhone 16": "iphone-16", "iPhone 15 Pro": "iphone-15-pro",
    "Samsung Galaxy S24 Ultra": "galaxy-s24-ultra", "Samsung Galaxy S25 Ultra": "galaxy-s25-ultra",
    "OnePlus 12": "ref-oneplus-12-16gb", "Samsung Galaxy S24": "ref-galaxy-s24-8gb",
}
CACTUS_MODEL_MAP = {"Gemma-3-1B-it": "gemma-3-1b-it", "Qwen2.5-1.5B-Instruct": "qwen2.5-1.5b-instruct"}


#: llama.cpp (or Ollama) rows of runtime-measurements.csv that benchmarks/runtime_published.py maps
#: onto the catalog but no fit takes, and why. They are predicted as check-only rows
#: (speed_accuracy.py, 'Rows checked, not fitted'); ``load_unfitted_rows`` fails on a mapped row
#: in neither list, so no published llama.cpp row goes unscored.
#: A hardware detail the prediction needs is not stated (device column prefix → what):
UNSTATED_HARDWARE = {
    "Mac (M2 Max)": "GPU core count (30 or 38) not stated",
    "Intel Core i5-9500T PC": "memory not stated (one or two DDR4 channels: 21 or 43 GB/s); a community 'Avg TPS'",
    "Laptop, AMD Ryzen 7 5800U": "Ollama on an integrated GPU: the layers it kept on the CPU are not stated",
}
#: Mixture-of-experts and hybrid models: the dense fit leaves them out; they check the expert rules
#: (benchmarks/moe_speed.py). The M2 Ultra MoE prefill rows fitted speed.EXPERT_GEMM_EFFICIENCY_GPU:
#: in-sample there.
MOE_CHECK = "MoE or hybrid model: checks the expert rules, not the dense fit"


def load_unfitted_rows(catalog: Catalog) -> list[PublishedRow]:
    """The mapped llama.cpp rows of runtime-measurements.csv outside ``load_runtime_rows``, as
    check-only rows (``UNSTATED_HARDWARE``, ``MOE_CHECK``). A row whose weights exceed its device's
    RAM (DeepSeek-V2-Lite on an 8 GB Pi 5: it paged from storage) is left out: no estimate to check."""
    from benchmarks.runtime_published import load_runtime_rows as load_mapped  # it imports this module
    from advisor.engine.evaluate import evaluate

    fitted = {(r.raw["device"], r.raw["model"], r.raw["metric"], float(r.raw["value"])) for r in load_runtime_rows(catalog)}
    out: list[PublishedRow] = []
    for m in load_mapped(catalog)[0]:
        if m.runtime != "llama.cpp" or m.metric not in ("decode", "prefill") or m.device is None:
            continue
        metric = {"decode": "tg_tok_s", "prefill": "pp_tok_s"}[m.metric]
        if (m.published_device, m.published_model, metric, m.value) in fitted:
            continue
        model = catalog.model(m.model_id)
        hardware = next((why for prefix, why in UNSTATED_HARDWARE.items() if m.published_device.startswith(prefix)), None)
        why = "; ".join(w for w in ((MOE_CHECK if model.n_experts or 0 in (model.n_kv_heads_per_layer or ()) else None),
                                     (f"hardware not stated: {hardware}" if hardware else None)) if w)
        if not why:
            raise ValueError(f"runtime-measurements.csv line {m.line}: a mapped llama.cpp row in no fit and no check; "
                             "add it to published.py's rows, UNSTATED_HARDWARE or a reason")
        device = cpu_only(m.device) if m.backend == "cpu" else m.device
        ftype = catalog.file_type(m.format_id)
        workload = m.workload
        if m.backend == "cpu" and m.published_runtime == "llama.cpp":  # a stated build: did it repack (Ollama's: today's default)
            workload = replace(workload, cpu_repack=repacked_build(
                {"device": m.published_device, "model": m.published_model, "format": m.format}))
        if evaluate(model, ftype, device, workload, catalog).memory.weights_bytes > device.memory.ram:
            continue  # the weights cannot stay resident: the run paged from storage
        obs = Observation(model=model, ftype=ftype, device=device, workload=workload, metric=m.metric, value=m.value,
                          label=f"{m.published_device} | {m.published_model} {m.format_id} | {m.published_runtime} {m.backend}",
                          weight=m.weight)
        cls = ("apple" if device.soc.startswith("Apple") or "Apple" in m.published_device or "Mac" in m.published_device
               else "x86 CPU" if m.backend == "cpu" and device.cpu.arch == "x86_64"
               else "raspberry pi" if device.device_class == "sbc" else device.device_class)
        out.append(PublishedRow(obs, cls, device.id, {"device": m.published_device, "model": m.published_model,
                                                      "metric": metric, "value": f"{m.value:g}", "source": m.source}, why))
    return out


def load_check_rows(catalog: Catalog, path: Path = RUNTIME_REFERENCE) -> list[PublishedRow]:
    """Rows predicted for a check but left out of every fit (``CACTUS_DEVICE_MAP``): each on the
    device's CPU path; ``raw["gpu_device"]`` holds the profile for a prediction on its GPU path."""
    refs = reference_devices()
    out: list[PublishedRow] = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            dev_id = CACTUS_DEVICE_MAP.get(row["device"])
            model_id = CACTUS_MODEL_MAP.get(row["model"])
            if (row["runtime"] != "cactus" or row["format"] != "GGUF Q8_0" or row["metric"] != "tg_tok_s"
                    or dev_id is None or model_id is None):
                continue
            device = resolve_device(dev_id, catalog, refs)
            obs = Observation(
                model=catalog.model(model_id), ftype=catalog.file_type("Q8_0"), device=cpu_only(device),
                workload=Workload(context_tokens=4096, prompt_tokens=1, output_tokens=128, cpu_repack=False), metric="decode",
                value=float(row["value"]), label=f"{row['device']} | {row['model']} Q8_0 | {row['runtime_version']}",
                weight=TRUST_WEIGHT.get(row["trust"], 0.5))
            out.append(PublishedRow(obs, "phone", device.id, {**row, "gpu_device": device}))  # type: ignore[dict-item]
    return out


def load_priors() -> dict[str, PathFactors]:
    """The data-independent priors (benchmarks/priors.toml), one per execution path."""
    raw = _read_toml(HERE / "priors.toml")
    return {e["path"]: _validate(PathFactors, e, "priors.toml") for e in raw["paths"]}

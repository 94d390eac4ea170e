"""Evaluate one model × quantization on one device: memory, fit, speed, quality."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Protocol, Sequence

from advisor.engine import core, empirical
from advisor.engine import load as ld
from advisor.engine import memory as mem
from advisor.engine import speed as spd
from advisor.engine import runtimes as rt
from advisor.engine import targets as tg
from advisor.engine.derived import Derived, QualityTable, gguf_weight_terms
from advisor.engine.runtimes import Variant
from advisor.engine.tensors import layer_sums, tensor_inventory
from advisor.records import (
    Band,
    BrowserPlatform,
    DeviceProfile,
    Estimate,
    FileType,
    GgmlType,
    MemoryEstimate,
    ModelSpec,
    PathFactors,
    Reason,
    SpeedEstimate,
    Workload,
)
from advisor.units import format_flops, format_size


class Tables(Protocol):
    """The data the engine needs (advisor.catalog.Catalog satisfies it)."""

    models: Mapping[str, ModelSpec]
    ggml_types: Mapping[str, GgmlType]
    file_types: Mapping[str, FileType]
    calibration: Mapping[str, PathFactors]
    derived: Derived


def quality_table(tables: Tables) -> QualityTable:
    return tables.derived.quality()


def factors_for(
    device: DeviceProfile, tables: Tables, overrides: Mapping[str, PathFactors] | None = None, *, variant: Variant | None = None,
) -> PathFactors:
    """The device's own calibration when it has runs, else its execution path's calibration from
    recorded runs, else the shipped defaults for the path; a runtime × backend without shipped
    factors gets a prior (``runtime_prior``)."""
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        path = spd.execution_path(device)
    elif variant.is_llama_cpp:
        path = spd.cpu_path(device)  # llama.cpp asked to stay on the CPU
    else:
        path = variant.path
    if overrides:
        if device.id in overrides and overrides[device.id].path == path:
            return overrides[device.id]
        if f"path:{path}" in overrides:  # a path-wide calibration moves a measured bandwidth's efficiency with it
            return for_measured_bandwidth(device, overrides[f"path:{path}"], shipped=tables.calibration.get(path))
    # another runtime on the CPU is measured against llama.cpp's CPU factors of the same hardware
    cpu_runtime = variant is not None and not variant.is_llama_cpp and variant.backend.kind == "cpu"
    llama_cpu = tables.calibration[spd.cpu_path(device)] if cpu_runtime else None
    shipped = tables.calibration.get(path)
    if shipped is not None and (shipped.fitted is None or variant is None):
        return for_measured_bandwidth(device, shipped, llama_cpu=llama_cpu)
    assert variant is not None
    prior = runtime_prior(device, variant, tables)
    if shipped is not None:  # the factors fitted on the path's measurements over this device's prior
        prior = prior.model_copy(update={
            **{name: getattr(shipped, name) for name in shipped.fitted or ()},
            **{name: getattr(shipped, name) for name in ("decode_band", "prefill_band", "n_measurements", "source", "fitted")},
            # the shipped text names the prior of the devices it was fitted on; this device's may differ
            "basis": _PRIOR_NAMED.sub(f"prior llama.cpp {prior_path(device, variant, tables)})", shipped.basis),
        })
        # a device measured on the path: the factors the path keeps as a prior, fitted on its own rows
        # (the bands stay the path's: in-sample, its own fit says nothing of its error)
        own = (getattr(tables, "device_calibration", None) or {}).get((path, device.id))
        if own is not None:
            prior = prior.model_copy(update={**{name: getattr(own, name) for name in own.fitted or ()},
                                             "basis": own.basis, "fitted": tuple(shipped.fitted or ()) + tuple(own.fitted or ())})
    return for_measured_bandwidth(device, prior, llama_cpu=llama_cpu)


def for_measured_bandwidth(device: DeviceProfile, factors: PathFactors, *, llama_cpu: PathFactors | None = None,
                           shipped: PathFactors | None = None) -> PathFactors:
    """Shipped factors for a device whose bandwidth was measured (its profile's bandwidth_basis):
    on a llama.cpp CPU path the bandwidth efficiency of a measured figure
    (speed.MEASURED_BW_EFFICIENCY) replaces the path's, which is relative to datasheet peaks;
    another runtime's CPU backend (``llama_cpu``: llama.cpp's factors of the device's CPU path)
    keeps its efficiency relative to llama.cpp's. ``factors`` a path-wide calibration of the
    ``shipped`` path factors: the measured figure's efficiency moves by the same ratio (the
    calibration is relative to datasheet peaks too). Other devices' factors, GPU paths, and a
    device's own calibration are used as they are."""
    if device.memory.bandwidth_basis != "measured":
        return factors
    llama = factors.path in spd.CPU_PATHS
    if llama:
        eff = spd.MEASURED_BW_EFFICIENCY
        if shipped is not None and shipped.bw_efficiency > 0 and factors.bw_efficiency != shipped.bw_efficiency:
            eff *= factors.bw_efficiency / shipped.bw_efficiency
    elif llama_cpu is not None and llama_cpu.bw_efficiency > 0:
        eff = factors.bw_efficiency * spd.MEASURED_BW_EFFICIENCY / llama_cpu.bw_efficiency
    else:
        return factors
    scaled = llama and eff != spd.MEASURED_BW_EFFICIENCY
    return factors.model_copy(update={
        "bw_efficiency": eff,
        "basis": f"bandwidth measured: efficiency {spd.MEASURED_BW_EFFICIENCY:g} of the measured figure for llama.cpp "
                 f"(the median of six x86 machines' fits, benchmarks/results/measured_bandwidth.md)"
                 + ("" if llama else ", this runtime's ratio to llama.cpp's kept")
                 + (f" × {eff / spd.MEASURED_BW_EFFICIENCY:.3g}, the path calibration's ratio to the shipped efficiency" if scaled else "")
                 + f"; otherwise {factors.basis}",
    })


#: A runtime × backend without fitted factors borrows llama.cpp's factors for the same hardware,
#: its bands widened by this factor: nothing measured says how that runtime differs (assumption).
PRIOR_BAND_WIDENING = 2.0


def runtime_prior(device: DeviceProfile, variant: Variant, tables: Tables) -> PathFactors:
    """llama.cpp's factors of the same hardware (its CPU path, or its path for the device's GPU
    API) as the prior of a runtime × backend that has no published measurements — where llama.cpp's
    compute efficiency was fitted to its own kernels, its fit without it."""
    base = tables.calibration[prior_path(device, variant, tables)]
    prior = base.model_copy(update={
        "path": variant.path,
        # llama.cpp's fitted kernel roofline is not another runtime's (records.OtherRuntimeFactors)
        **(base.other_runtimes.model_dump() if base.other_runtimes else {}),
        "other_runtimes": None,
        "decode_band": base.decode_band * PRIOR_BAND_WIDENING,
        "prefill_band": base.prefill_band * PRIOR_BAND_WIDENING,
        "n_measurements": 0,
        "basis": f"no published {variant.path} measurements: llama.cpp's {base.path} factors as a prior, band ×{PRIOR_BAND_WIDENING:g}",
    })
    if "wasm" in variant.backend.apis:  # llama.cpp in WebAssembly: its compute, measured against native's
        prior = prior.model_copy(update={
            "decode_compute_efficiency": prior.decode_compute_efficiency * empirical.WASM_DECODE_COMPUTE_FACTOR,
            "prefill_efficiency": prior.prefill_efficiency * empirical.WASM_PREFILL_FACTOR,
            "basis": prior.basis + (f", compute ×{empirical.WASM_DECODE_COMPUTE_FACTOR:g} (decode) and ×{empirical.WASM_PREFILL_FACTOR:g} "
                                    "(prompt) of native llama.cpp's, as wllama measured in Chromium on an x86 CPU"),
        })
    return prior


#: how benchmarks/fit_runtimes.py ends a runtime path's basis: "(decode prior, prefill fitted; prior llama.cpp vulkan)"
_PRIOR_NAMED = re.compile(r"prior llama\.cpp [\w-]+\)$")


def prior_path(device: DeviceProfile, variant: Variant, tables: Tables) -> str:
    """The llama.cpp path ``runtime_prior`` takes its factors from on ``device``: its path for the
    device's GPU API where the catalog calibrates one and the backend is not the CPU, else its CPU path."""
    if variant.backend.kind != "cpu" and device.gpu is not None:
        api = device.gpu.backend
        path = ("cuda" if device.gpu.discrete else "cuda-unified") if api == "cuda" else api
        if path in tables.calibration:
            return path
    return spd.cpu_path(device)


def cpu_path_factors(device: DeviceProfile, tables: Tables) -> PathFactors:
    return for_measured_bandwidth(device, tables.calibration[spd.cpu_path(device)])


def classify(total: int, usable: int, tight_fraction: float = empirical.TIGHT_FRACTION) -> str:
    return core.FIT_CODES[core.placement_code(total, usable, tight_fraction)]


def candidate(model: ModelSpec, ftype: FileType, workload: Workload, tables: Tables, variant: Variant | None = None) -> dict:
    """The terms of one model × format (weights and layer sums from the catalog's derived tables):
    a GGUF file type through llama.cpp's path, a runtime's own format through ``engine.runtimes``."""
    sums = tables.derived.sums(model)
    if variant is None or variant.is_gguf:
        return core.candidate_row(model, ftype, workload, tables.derived.weights(model, ftype), sums)
    weights = tables.derived.runtime_weights(model, variant.runtime, variant.format)
    return rt.runtime_candidate_row(model, variant.runtime, variant.format, workload, weights, sums, variant.backend)


def variant_device_row(device: DeviceProfile, workload: Workload, main: PathFactors, cpu: PathFactors,
                       variant: Variant | None) -> dict:
    """``core.device_row`` as ``variant`` runs: llama.cpp's own choice of backend (no variant, or
    its GPU backend), else the variant's backend kind, offload only in llama.cpp, its kernels'
    factors only in llama.cpp, the int4 × int8 GEMMs only on a native CPU (not WebAssembly)."""
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        return core.device_row(device, workload, main, cpu)
    return core.device_row(device, workload, main, cpu, accelerator=variant.backend.kind, can_offload=variant.is_llama_cpp,
                           llama_cpp=variant.is_llama_cpp, native_cpu="wasm" not in variant.backend.apis)


def device_row(
    device: DeviceProfile, workload: Workload, tables: Tables, overrides: Mapping[str, PathFactors] | None,
    variant: Variant | None = None,
) -> dict:
    main = factors_for(device, tables, overrides, variant=variant)
    cpu = cpu_path_factors(device, tables)
    row = variant_device_row(device, workload, main, cpu, variant)
    fraction = gpu_memory_fraction(variant)
    if fraction < 1.0:  # the runtime's GPU allocations stay within its share; its process overhead is beside them
        row["host_usable"] = int(row["host_usable"] * fraction + variant.runtime.overhead.bytes)
        row["vram_usable"] = int(row["vram_usable"] * fraction)
    return row


def gpu_memory_fraction(variant: Variant | None) -> float:
    """The share of the GPU memory it detects that a runtime allocates within (MLC's
    gpu_memory_utilization, 0.85: it refuses to load beyond it) on its native GPU backends; 1
    elsewhere (WebGPU's allocations are the browser's, bounded by the target's limits)."""
    if variant is None or variant.runtime.gpu_memory_fraction is None or variant.backend.kind != "gpu" \
            or "webgpu" in variant.backend.apis:
        return 1.0
    return variant.runtime.gpu_memory_fraction


@dataclass(frozen=True, slots=True)
class Staged:
    """The memory side of one candidate, before its speed: the terms, where its bytes go, its
    fit and quality — all that ranking needs to tell whether its speed could matter
    (``recommend.best_quant`` finishes only those that could win)."""

    model: ModelSpec
    ftype: Any  # a GGUF FileType, or a runtime's RuntimeFormat (then ``variant`` names the runtime)
    variant: Variant | None
    main: PathFactors
    c: core.CandidateTerms
    d: core.DeviceTerms
    place: core.Placement
    fit: str
    quality_score: float
    #: a RAM-only device's other peers (``DeviceProfile.stands_for``) that run the candidate, each
    #: as its owner would (``Peer``): its speed is the slowest of them and the template's
    peers: tuple[Peer, ...] = ()


#: Device terms of one device for one workload, by (runtime, backend) of the candidate (None:
#: llama.cpp's own choice): a caller evaluating many candidates on one device passes one dict
#: for all of them (it must not outlive that device, workload and overrides).
DeviceMemo = dict


def _device_key(variant: Variant | None) -> tuple[str, str] | None:
    if variant is None or (variant.is_llama_cpp and variant.backend.kind == "gpu"):
        return None
    return variant.runtime.id, variant.backend.id


def stage(
    model: ModelSpec,
    ftype: Any,
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    variant: Variant | None = None,
    memo: DeviceMemo | None = None,
) -> Staged:
    """Terms, placement, fit and quality of ``model`` in ``ftype`` on ``device`` (``evaluate``'s
    first half)."""
    key = _device_key(variant)
    hit = memo.get(key) if memo is not None else None
    if hit is None:
        hit = (factors_for(device, tables, overrides, variant=variant),
               core.device_terms([device_row(device, workload, tables, overrides, variant)]))
        if memo is not None:
            memo[key] = hit
    main, d = hit
    c = core.candidate_terms([candidate(model, ftype, workload, tables, variant)])
    place = core.placement(c, d, n_cpu_moe=workload.n_cpu_moe)
    peers = _peer_terms(device, model, ftype, workload, tables, overrides, variant, c, memo) if device.stands_for else ()
    return Staged(model, ftype, variant, main, c, d, place, core.FIT_CODES[place.fit_code],
                  quality_table(tables).score(model, ftype), peers)


@dataclass(frozen=True)
class Peer:
    """A catalog device a RAM-only device stands for, set to run one candidate: the variant it runs
    it with (``runtimes.peer_variant``: its own default backend unless the user pinned one), the
    candidate's terms there (a backend may keep another KV dtype), its factors, device terms and
    placement."""

    device: DeviceProfile
    variant: Variant | None
    c: core.CandidateTerms
    main: PathFactors
    d: core.DeviceTerms
    place: core.Placement


def _peer_terms(device: DeviceProfile, model: ModelSpec, ftype: Any, workload: Workload, tables: Tables,
                overrides: Mapping[str, PathFactors] | None, variant: Variant | None, c: core.CandidateTerms,
                memo: DeviceMemo | None) -> tuple[Peer, ...]:
    """The peers a RAM-only device stands for besides its template (``stands_for[0]``) that run
    ``variant``'s runtime and format, each on the backend its owner would use (llama.cpp runs on
    every one; on the M1's Metal where the template laptop's is its CPU)."""
    catalog_devices = getattr(tables, "devices", None) or {}
    targets = getattr(tables, "targets", None)
    out = []
    for peer_id in device.stands_for[1:]:
        p = catalog_devices.get(peer_id)
        if p is None:
            continue
        pv = rt.peer_variant(variant, p, targets) if variant is not None else None
        if variant is not None and pv is None:
            continue  # the runtime does not run the format there (natively or in a browser)
        key = ("peer", peer_id, _device_key(pv), pv.pinned if pv is not None else False)
        hit = memo.get(key) if memo is not None else None
        if hit is None:
            hit = (factors_for(p, tables, overrides, variant=pv), core.device_terms([device_row(p, workload, tables, overrides, pv)]))
            if memo is not None:
                memo[key] = hit
        main, d = hit
        same_terms = pv is variant or pv is None or pv.is_gguf  # llama.cpp's terms do not depend on the backend
        cp = c if same_terms else core.candidate_terms([candidate(model, ftype, workload, tables, pv)])
        out.append(Peer(p, pv, cp, main, d, core.placement(cp, d, n_cpu_moe=workload.n_cpu_moe)))
    return tuple(out)


def _each_peer(s: Staged, device: DeviceProfile, workload: Workload) -> list[tuple[DeviceProfile, SpeedEstimate, PathFactors]]:
    """The candidate's speed and factors on ``device`` and, a RAM-only device, on each of its
    other peers that runs it (``Staged.peers``), in ``stands_for`` order."""
    out = [(device, _speed(s.model, device, workload, s.c, s.d, s.main, s.place.gpu_fraction, s.place.cpu_moe_layers), s.main)]
    for peer in s.peers:
        out.append((peer.device, _speed(s.model, peer.device, workload, peer.c, peer.d, peer.main, peer.place.gpu_fraction,
                                        peer.place.cpu_moe_layers), peer.main))
    return out


def _slowest_speed(s: Staged, device: DeviceProfile, workload: Workload) -> tuple[SpeedEstimate, PathFactors]:
    """The candidate's speed and the factors it ran with; a RAM-only device is promised no more
    than the slowest of its peers delivers, file by file, each run as its owner would run it."""
    slowest, speed, main = min(_each_peer(s, device, workload), key=lambda t: t[1].decode_tokens_per_s)  # the first of equals
    if slowest is not device:
        speed = replace(speed, basis=f"{slowest.name}, the slowest for this file of the {len(device.stands_for)} "
                                     f"catalog devices this one stands for: {speed.basis}",
                        energy_basis=spd.device_power_basis(slowest, owner=slowest.name))
    return speed, main


def peer_speeds(s: Staged, device: DeviceProfile, workload: Workload) -> list[tuple[DeviceProfile, SpeedEstimate]]:
    """The staged candidate's speed on each catalog device a RAM-only device stands for that runs
    it — the template (``stands_for[0]``, given as ``device`` itself) and ``Staged.peers`` — slowest
    first: the first is the one its estimate takes (``_slowest_speed``)."""
    return sorted(((d, sp) for d, sp, _ in _each_peer(s, device, workload)), key=lambda t: t[1].decode_tokens_per_s)


def unfit_speed(s: Staged, device: DeviceProfile, workload: Workload) -> SpeedEstimate | None:
    """The speed a candidate that does not fit would run at were the memory there — on a device
    without a discrete GPU, where every layer runs on the main path whatever the fit (a
    recommendation's closest misses weigh a small memory miss against a large speed miss). None
    with a discrete GPU: how many layers would spill to the host is what the memory decides."""
    if float(s.d.discrete):
        return None
    return _slowest_speed(s, device, workload)[0]


def finish(s: Staged, device: DeviceProfile, workload: Workload, *, with_speed: bool = True,
           browser: BrowserPlatform | None = None) -> Estimate:
    """The estimate of a staged candidate (``evaluate``'s second half): its memory, reasons and,
    unless it does not fit, its speed and load time (``browser``: the page's browser when the
    candidate runs in a browser tab — its weights come from the browser's storage)."""
    model, c, place = s.model, s.c, s.place
    memory = MemoryEstimate(
        int(c.weights_bytes), int(c.kv_cache_bytes), int(c.compute_buffer_bytes), int(c.overhead_bytes),
        gpu_bytes=int(place.gpu_bytes), recurrent_state_bytes=int(c.recurrent_state_bytes),
        n_cpu_moe=int(core.n_cpu_moe_flag(c, place.cpu_moe_layers)),
        cpu_moe_bytes=int(core.offloaded_expert_bytes(c, place.cpu_moe_layers)),
        repacked_bytes=int(core.repacked_bytes(c, s.d, place)),
        load_copy_bytes=int(c.load_copy_bytes), load_transient_bytes=int(c.load_transient_bytes),
    )
    reasons: list[Reason] = []
    if s.fit == "offload" and not memory.n_cpu_moe:
        layers = round(model.n_layers * place.gpu_fraction)
        reasons.append(Reason("offload", value=layers, limit=model.n_layers))
    if memory.n_cpu_moe:
        reasons.append(Reason("expert_offload", value=memory.n_cpu_moe, limit=model.n_layers, second=memory.cpu_moe_bytes))
    if s.fit == "no" and workload.n_cpu_moe and model.n_experts and float(s.d.discrete) and place.gpu_bytes > s.d.vram_usable:
        # an --n-cpu-moe too small for the GPU: say so, and the value that fits (auto's)
        need = core.n_cpu_moe_flag(c, core.fewest_expert_layers(c, s.d))
        reasons.append(Reason("expert_offload_short", value=float(place.gpu_bytes), limit=float(s.d.vram_usable),
                              second=float(need) if need <= model.n_layers else None, name=str(workload.n_cpu_moe)))
    if (share := gpu_memory_fraction(s.variant)) < 1.0:
        reasons.append(Reason("runtime_budget", value=share, name=s.variant.runtime.id))
    if workload.context_tokens > model.context_length:
        reasons.append(Reason("context", value=workload.context_tokens, limit=model.context_length))
    if workload.threads and (threads := spd.decode_threads(device, workload.threads)) < workload.threads:
        reasons.append(Reason("threads", value=workload.threads, limit=threads))
    if device.busy_cores is not None:
        from advisor.engine.calibrate import profile_busy  # calibrate imports this module

        if profile_busy(device):
            reasons.append(Reason("busy_profile", value=device.busy_cores, limit=float(device.cpu.threads)))
    runtime_id = s.variant.runtime.id if s.variant is not None else rt.LLAMA_CPP
    if runtime_id in model.miscomputed_by:
        # asked for by name (predict): sized, with the warning recommend rejects it for
        reasons.append(Reason("miscomputed", name=model.gguf_arch, category=runtime_id))
    # a RAM-only device's speed (and llama.cpp's path) is its slowest peer's; the runtime's backend
    # stays its template's, which its memory and per-buffer limits are those of
    speed, main = _slowest_speed(s, device, workload) if with_speed and s.fit != "no" else (None, s.main)
    variant = s.variant
    load = None
    if speed is not None:
        # the load copies weights into a GPU's own memory: a discrete GPU holding some of them, or
        # WebGPU (every weight written into a GPUBuffer, unified memory or not)
        vram_copy = (bool(float(s.d.discrete)) and place.gpu_bytes > 0) or (browser is not None and bool(float(s.d.on_gpu)))
        download = (tg.download_size(memory.weights_bytes, variant.runtime if variant is not None else None)
                    if browser is not None else None)
        load = ld.estimate_load(device, memory.weights_bytes, speed.ttft_s, model.vocab_size, browser=browser,
                                download_bytes=download, vram_copy=vram_copy)
    return Estimate(
        model_id=model.id,
        quant_id=s.ftype.id,
        device_id=device.id,
        memory=memory,
        usable_bytes=int(place.usable_bytes),
        fit=s.fit,  # type: ignore[arg-type]
        speed=speed,
        quality_score=s.quality_score,
        reasons=tuple(reasons),
        runtime=runtime_id,
        backend=variant.backend.id if variant is not None and not variant.is_llama_cpp else main.path,
        load=load,
    )


def evaluate(
    model: ModelSpec,
    ftype: FileType,
    device: DeviceProfile,
    workload: Workload,
    tables: Tables,
    *,
    overrides: Mapping[str, PathFactors] | None = None,
    with_speed: bool = True,
    variant: Variant | None = None,
    memo: DeviceMemo | None = None,
    browser: BrowserPlatform | None = None,
) -> Estimate:
    """Memory, fit, speed and quality of ``model`` in ``ftype`` on ``device`` for ``workload``:
    the one path (``engine.core``) run on plain numbers. ``variant`` names a runtime × backend ×
    format other than llama.cpp's default (``ftype`` is then ``variant.format``). ``browser``: the
    browser of a browser-tab deployment (``targets.Deployment.browser``), which changes what the
    load time means (``engine.load``)."""
    staged = stage(model, ftype, device, workload, tables, overrides=overrides, variant=variant, memo=memo)
    return finish(staged, device, workload, with_speed=with_speed, browser=browser)


def speed_candidate(model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType], workload: Workload,
                    variant: Variant | None = None) -> core.CandidateTerms:
    """The model × format × workload terms of ``estimate_speed``: they depend on no device and no
    factors, so a fit computes them once per measurement."""
    sums = layer_sums(model)
    if variant is None or variant.is_gguf:
        weights = gguf_weight_terms(model, mem.per_tensor_bytes(model, ftype, ggml_types))
        row = core.candidate_row(model, ftype, workload, weights, sums)
    else:
        weights = rt.weight_terms(model, variant.format, tensor_inventory(model))
        row = rt.runtime_candidate_row(model, variant.runtime, variant.format, workload, weights, sums, variant.backend)
    return core.candidate_terms([row])


def estimate_speed(
    model: ModelSpec,
    ftype: FileType,
    ggml_types: Mapping[str, GgmlType],
    device: DeviceProfile,
    workload: Workload,
    factors: PathFactors,
    *,
    gpu_fraction: float = 1.0,
    cpu_factors: PathFactors | None = None,
    variant: Variant | None = None,
    cpu_moe_layers: float = 0.0,
    candidate: core.CandidateTerms | None = None,
) -> SpeedEstimate:
    """All speed figures of one model × format on one device under the given factors (used to
    fit those factors). ``gpu_fraction`` < 1 models partial offload to a discrete GPU: that share
    of the layers runs on the GPU path, the rest on the CPU path (``cpu_factors``). ``variant``:
    a runtime × backend × format other than llama.cpp's (``ftype`` is then its format).
    ``cpu_moe_layers``: MoE layers whose experts run from host RAM (``core.expert_offload``).
    ``candidate``: ``speed_candidate`` of the same model, format, workload and variant, when the
    caller evaluates it under many factors (a fit)."""
    c = candidate if candidate is not None else speed_candidate(model, ftype, ggml_types, workload, variant)
    d = core.device_terms([variant_device_row(device, workload, factors, cpu_factors or factors, variant)])
    on_gpu = factors.path in spd.GPU_PATHS
    return _speed(model, device, workload, c, d, factors, gpu_fraction if on_gpu else 1.0, cpu_moe_layers if on_gpu else 0.0)


def _fixed_cost_phrase(n_layers: int, factors: PathFactors) -> str:
    """The per-token fixed cost decode adds to the rooflines (``speed.decode_seconds``), worded for
    the basis: without it bandwidth × efficiency / bytes per token overstates decode (48 layers ×
    128 µs on Metal are 6 ms of a 14 ms token)."""
    if not factors.fixed_s_per_layer:
        return ""
    per_token = n_layers * factors.fixed_s_per_layer
    return f", + {per_token * 1e3:.2g} ms per token fixed ({n_layers} layers × {factors.fixed_s_per_layer * 1e6:.3g} µs)"


def _prefill_phrase(model: ModelSpec, workload: Workload, c: core.CandidateTerms, d: core.DeviceTerms, factors: PathFactors,
                    threads: int, gpu_fraction: float, compute_bound: bool) -> str:
    """The terms of the main path's prefill rate (``core.prefill_rate_terms``), worded for the basis,
    so that a reader can reproduce the figure: peak × efficiency × weight types, and the FLOPs a prompt
    token costs (2 × the matrix parameters it multiplies; attention grows with the position)."""
    rate, type_factor = (float(x) for x in core.prefill_rate_terms(c, d, d.main, d.on_gpu))
    isa = float(d.cpu_prefill_isa)
    peak = ("the GPU's FP16 peak" if d.on_gpu else
            f"the FP32 peak of {threads} CPU thread{'s' if threads != 1 else ''}" + (f" × {isa:.2f} for its int8 extension" if isa != 1.0 else ""))
    types = f" × weight types ×{type_factor:.2f}" if abs(type_factor - 1.0) >= 0.005 else ""
    text = (f"{format_flops(rate)} ({peak}) × efficiency {factors.prefill_efficiency:.3g}{types} = "
            f"{format_flops(rate * factors.prefill_efficiency * type_factor)} for {2 * float(c.matmul_params) / 1e9:.3g} GFLOP "
            "per prompt token + attention")
    if model.n_experts:
        text += ", the routed experts at their own GEMM efficiency"
    if (fixed := float(d.main.prefill_fixed_s_per_layer)) > 0:
        text += (f", + {model.n_layers * fixed * 1e3:.2g} ms fixed per {workload.n_ubatch}-token micro-batch "
                 f"({model.n_layers} layers × {fixed * 1e6:.3g} µs)")
    if not compute_bound:
        text += f"; the weights, read once per {workload.n_ubatch}-token micro-batch, take longer"
    if d.on_gpu and gpu_fraction < 1.0:
        text += "; the layers left on the CPU at its own rate"
    return text


def _speed(model: ModelSpec, device: DeviceProfile, workload: Workload, c: core.CandidateTerms, d: core.DeviceTerms,
           factors: PathFactors, gpu_fraction: float, cpu_moe_layers: float = 0.0) -> SpeedEstimate:
    t = core.timing(c, d, workload, gpu_fraction, cpu_moe_layers)
    decode_tps = 1.0 / t.decode_s_per_token
    prefill_tps = workload.prompt_tokens / t.prompt_s
    power = d.power_w
    gpu = device.gpu
    gpu_bw = bool(d.on_gpu and d.discrete and gpu is not None)
    basis = (
        f"{'VRAM' if gpu_bw else 'memory'} bandwidth "
        f"{gpu.vram_bandwidth_gbs if gpu_bw and gpu else device.memory.bandwidth_gbs:g} GB/s "
        f"({gpu.vram_bandwidth_basis if gpu_bw and gpu else device.memory.bandwidth_basis}) "
        f"× efficiency {factors.bw_efficiency:.2f} on {factors.path}"
        f"{_fixed_cost_phrase(model.n_layers, factors)}; {factors.basis}"
    )
    if spd.DECODE_BOUNDS[t.decode_bound_code] == "compute":  # name the roofline that binds
        basis = (f"decode at {factors.decode_compute_efficiency:.3g} of the {'GPU' if d.on_gpu else 'CPU'}'s peak "
                 f"{'FP16' if d.on_gpu else 'FP32' if c.is_float else 'int8 dot-product'} rate; " + basis)
    if cpu_moe_layers:
        basis += (f"; + the experts of {cpu_moe_layers:.0f} layers from host RAM, {device.memory.bandwidth_gbs:g} GB/s "
                  f"× efficiency {d.cpu.bw_efficiency:.2f} on the CPU, prefill copies them over PCIe ({core.HOST_LINK_GBS:g} GB/s)")
    sus = device.power.sustained  # a published throttled share of this device, if any
    on_cpu = (not d.on_gpu) or gpu_fraction < 1.0  # some layers prefill on the CPU
    threads = spd.decode_threads(device, workload.threads)
    return SpeedEstimate(
        decode_tokens_per_s=decode_tps,
        decode_band=Band(decode_tps / (1 + t.decode_band), float(core.decode_high(t))),
        decode_bound=spd.DECODE_BOUNDS[t.decode_bound_code],  # type: ignore[arg-type]
        prefill_tokens_per_s=prefill_tps,
        prefill_band=Band(prefill_tps / (1 + t.prefill_band), prefill_tps * (1 + t.prefill_band)),
        prefill_bound="compute" if t.prefill_compute_bound else "memory",
        ttft_s=t.prompt_s,
        response_s=t.response_s,
        energy_j_per_token=power * t.decode_s_per_token,
        energy_j_per_response=power * t.response_s,
        backend=factors.path,
        threads=threads,
        gpu_layers=int(t.gpu_layers),
        basis=basis,
        prefill_basis=_prefill_phrase(model, workload, c, d, factors, threads, gpu_fraction, bool(t.prefill_compute_bound)),
        bytes_per_token=int(core.decode_bytes_per_token(c)),
        sustained_decode_tokens_per_s=None if sus is None else decode_tps * sus.decode_fraction,
        sustained_basis="" if sus is None else (f"{sus.decode_fraction:.0%} of the first runs' decode after {sus.after} "
                                                f"({sus.basis}: {sus.source})"),
        prefill_repack_speedup=float(core.repack_speedup(c, d)) if on_cpu else 1.0,
        energy_basis=spd.device_power_basis(device),
    )


# --------------------------------------------------------------------------- RAM-only devices

#: Share of RAM assumed usable by one app on a device described only by its RAM, when no class
#: is given (with a class: the smallest share among that class's peers, ``generic_device``).
GENERIC_USABLE_FRACTION = 0.75


#: The combination that ranks a RAM-only device's peers from slowest to fastest.
REFERENCE_MODEL, REFERENCE_QUANT = "llama-3.2-1b-instruct", "Q4_K_M"
#: The same model in float weights: a CPU decodes quantized weights through int8 dot products and
#: float weights through FMA (speed.INT8_DOT_PER_FP32_FMA), so a peer with slow memory but fast
#: integer units (Raspberry Pi 4) and one the other way round (Jetson Nano) trade places between
#: the two; the slowest peer is the slowest over both (geometric mean of its speed relative to the
#: median peer in each): no single peer need be the slowest for every file.
REFERENCE_FLOAT_QUANT = "F16"


def ram_peer_pool(templates: Sequence[DeviceProfile]) -> list[DeviceProfile]:
    """The devices a RAM size may stand for: those without a discrete GPU (their RAM is host
    memory; the model would live in VRAM a RAM size does not describe)."""
    return [d for d in templates if not (d.gpu and d.gpu.discrete)]


def ram_peers(ram_bytes: int, templates: Sequence[DeviceProfile], *, device_class: str | None = None) -> list[DeviceProfile]:
    """The catalog devices a RAM-only device stands for: those with exactly ``ram_bytes`` of RAM
    (of ``device_class`` when it has any), else those at the catalog's nearest RAM size (by
    ratio; the smaller on a tie), among ``ram_peer_pool``."""
    pool = ram_peer_pool(templates)
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
    s = stage(tables.models[model_id], tables.file_types[quant_id], device, Workload(), tables, overrides=overrides)
    return _speed(s.model, device, Workload(), s.c, s.d, s.main, 1.0).decode_tokens_per_s


def generic_device(
    ram_bytes: int,
    templates: Sequence[DeviceProfile],
    *,
    device_class: str | None = None,
    usable_bytes: int | None = None,
    tables: Tables | None = None,
) -> DeviceProfile:
    """A device known only by its RAM: memory from the user, the rest from the *slowest* real
    catalog device with that much RAM (``ram_peers``) — slowest = lowest decode of REFERENCE_MODEL
    over REFERENCE_QUANT and REFERENCE_FLOAT_QUANT (product of the speeds relative to the median
    peer), under the shipped factors when ``tables`` is given, else lowest memory bandwidth.
    ``stands_for`` lists the peers, that one first; each estimate's speed is then the slowest of
    them for its own file (``finish``), so a user with only a RAM figure is not promised more than
    the slowest likely device delivers. Usable memory: the user's figure, else with a
    ``device_class`` the smallest share of RAM among the peers (an 8 GiB phone: an iPhone's iOS app
    limit, 35 %, not the 75 % of an unnamed device — the same rule: no more than the tightest likely
    device allows), else GENERIC_USABLE_FRACTION. Marked estimated."""
    peers = ram_peers(ram_bytes, templates, device_class=device_class)
    if not peers:
        raise ValueError("generic_device needs at least one catalog device without a discrete GPU")
    if tables is not None and REFERENCE_MODEL in tables.models:
        quants = [q for q in (REFERENCE_QUANT, REFERENCE_FLOAT_QUANT) if q in tables.file_types]
        speeds = {d.id: [peer_decode_tokens_per_s(d, tables, quant_id=q) for q in quants] for d in peers}
        medians = [sorted(v[i] for v in speeds.values())[len(peers) // 2] for i in range(len(quants))]
        peers.sort(key=lambda d: (math.prod(v / m for v, m in zip(speeds[d.id], medians)), d.id))
    else:
        peers.sort(key=lambda d: (d.memory.bandwidth_gbs, d.id))
    slowest = peers[0]
    size = format_size(ram_bytes, precision=1)
    peer_size = format_size(slowest.memory.ram, precision=0)
    if usable_bytes:
        usable, usable_note = min(usable_bytes, ram_bytes), "given by the user"
    elif device_class:
        tightest = min(peers, key=lambda d: (d.memory.usable / d.memory.ram, d.id))
        share = tightest.memory.usable / tightest.memory.ram
        usable = int(ram_bytes * share)
        why = re.split(r" \(|; ", tightest.memory.usable_note, maxsplit=1)[0] or tightest.memory.usable_basis
        usable_note = (f"{share:.0%} of RAM, the least of the {len(peers)} {device_class} devices with {peer_size} RAM: "
                       f"{tightest.name}'s ({why})")
    else:
        usable = int(ram_bytes * GENERIC_USABLE_FRACTION)
        usable_note = f"{GENERIC_USABLE_FRACTION:.0%} of RAM (assumption: OS and other apps take the rest)"
    # not "CPU-only" after the slowest: the peers that run a candidate set its speed, on their GPUs too
    label = device_class or "device"
    note = (
        f"speed of the slowest, file by file, of the {len(peers)} catalog devices with {peer_size} RAM"
        + (f" ({device_class})" if device_class and slowest.device_class == device_class else "")
        + f": {', '.join(d.name for d in peers)}; GPU, storage and power of {slowest.name}, the slowest over "
        "llama.cpp's reference files. Name a device profile for a specific device's figures"
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
        "usable_note": usable_note,
    }
    return DeviceProfile.model_validate(raw)


def memory_shortfall(est: Estimate) -> Reason:
    """Why ``est`` does not fit: the memory it needs against the memory it may use."""
    return Reason("memory", value=est.memory.total_bytes, limit=est.usable_bytes)


__all__ = ["evaluate", "estimate_speed", "generic_device", "peer_speeds", "ram_peers", "ram_peer_pool", "peer_decode_tokens_per_s", "quality_table", "factors_for",
           "classify", "QualityTable", "memory_shortfall"]

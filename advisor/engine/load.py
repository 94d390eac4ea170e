"""Load time: how long a model takes before it can take its first prompt token, and the time to
first token of a cold start.

llama.cpp memory-maps the model file; on a CPU it asks the kernel to read the whole mapping in
at once (``llama_mmap``: ``MAP_POPULATE`` and ``POSIX_MADV_WILLNEED``, src/llama-mmap.cpp), then
sets up the tensors (repacking some types for the CPU's kernels), reads the vocabulary and
allocates the context (KV cache, compute buffers). So

    t_warm = file_bytes / (memory_bandwidth × PAGE_IN_EFFICIENCY)
             + vocab_size × LOAD_S_PER_VOCAB_TOKEN + LOAD_FIXED_S
             the file's pages already in the page cache (a restart): mapping them and touching
             the tensors moves the file through memory once; the vocabulary is built token by
             token (llama_vocab::load: its maps and the tokenizer's tables), then the context
    t_cold = file_bytes / storage_read + t_warm
             the page cache does not hold the file (the first start after boot, or after the OS
             evicted it): every byte comes from storage at its sequential read rate first

    TTFT (cold start) = t_cold + prefill of the prompt

In a browser tab (WebLLM/MLC on WebGPU, wllama, transformers.js) the weights are not a mapped
file but entries of the browser's storage (Cache API, OPFS, IndexedDB) on the same device: the
same two terms are applied to them, so ``t_cold`` is a *later visit* (the weights stored, their
pages not cached) and ``t_warm`` a reload with their pages still cached. The *first* visit
downloads them first; that depends on the network and is not predicted.

``file_bytes`` is the model's weights as stored (the GGUF's tensor data; its header is a few MiB
more). The copy of the weights into a GPU's own buffers — a discrete GPU's VRAM, or WebGPU buffers
(a page writes every weight into a ``GPUBuffer``, unified memory or not) — is not included
(``LoadEstimate.vram_copy_excluded`` says where it applies), nor llama.cpp's repacking of some
types (Q4_0, IQ4_NL …) into interleaved blocks for the CPU's kernels, which adds a copy on CPUs
that have those kernels. LOAD_S_PER_VOCAB_TOKEN and LOAD_FIXED_S are fitted to warm loads
measured with ``advisor validate`` on one x86 machine (benchmarks/load_time.py,
benchmarks/results/load_time.md) and are that CPU's seconds: a slower CPU takes longer.
"""

from __future__ import annotations

from advisor.records import BrowserPlatform, DeviceProfile, LoadEstimate
from advisor.units import GB_S, format_size

#: Achieved share of the memory bandwidth while a page-cached file is mapped and its tensors
#: touched. An assumption (mapping a cached page costs about half a copy of it): the warm loads
#: measured here cannot resolve it — a 1 GB and a 0.35 GB file of the same model load within
#: their noise of each other (benchmarks/results/load_time.md).
PAGE_IN_EFFICIENCY = 0.5
#: Seconds per vocabulary token of a load (the vocabulary's maps and tokenizer tables): fitted on
#: one x86 machine's warm loads (benchmarks/results/load_time.md); 151,936 tokens ≈ 0.3 s there.
LOAD_S_PER_VOCAB_TOKEN = 1.9e-6
#: Fixed start-up of a load (context and compute-buffer set-up, the bindings), seconds: same fit.
LOAD_FIXED_S = 0.24


def warm_load_seconds(file_bytes: float, bandwidth_gbs: float, vocab_size: int = 0, *,
                      page_in_efficiency: float = PAGE_IN_EFFICIENCY, s_per_vocab_token: float = LOAD_S_PER_VOCAB_TOKEN,
                      fixed_s: float = LOAD_FIXED_S) -> float:
    """t_warm = file_bytes / (bandwidth_gbs × 10^9 × page_in_efficiency)
                + vocab_size × s_per_vocab_token + fixed_s  [s]."""
    return file_bytes / (bandwidth_gbs * GB_S * page_in_efficiency) + vocab_size * s_per_vocab_token + fixed_s


def cold_load_seconds(file_bytes: float, storage_read_mb_s: float, warm_s: float) -> float:
    """t_cold = file_bytes / (storage_read_mb_s × 10^6) + t_warm  [s]: the file read from storage
    at its sequential rate, then the warm load's mapping and set-up."""
    return file_bytes / (storage_read_mb_s * 1e6) + warm_s


def estimate_load(device: DeviceProfile, file_bytes: int, prefill_s: float | None, vocab_size: int = 0, *,
                  browser: BrowserPlatform | None = None, download_bytes: int | None = None,
                  vram_copy: bool = False) -> LoadEstimate:
    """Warm and cold load time of a ``file_bytes`` model file with a ``vocab_size``-token vocabulary
    on ``device``, and the time to first token of a cold start (cold load + ``prefill_s``; None
    without a prefill time or a storage speed in the profile).

    ``browser``: the page's browser when the model runs in a browser tab (the weights in its
    storage: the cold load is a later visit; the first visit's ``download_bytes`` are fetched
    first, not predicted). ``vram_copy``: the load copies the weights into a GPU's own buffers (a
    discrete GPU's VRAM, WebGPU buffers), a copy these figures leave out."""
    bandwidth = device.memory.bandwidth_gbs
    warm = warm_load_seconds(file_bytes, bandwidth, vocab_size)
    storage = device.storage
    cold = cold_load_seconds(file_bytes, storage.read_mb_s, warm) if storage is not None else None
    limit = browser.storage_cache_limit if browser is not None else None
    exceeded = limit if limit is not None and download_bytes is not None and download_bytes > limit else None
    if exceeded is not None:
        cold = None  # nothing stored between visits: every visit is a first visit (a download)
    fitted = (f"through memory at {bandwidth:g} GB/s × {PAGE_IN_EFFICIENCY:g} + vocabulary and context set-up "
              "(fitted on one x86 machine's llama.cpp loads, benchmarks/results/load_time.md)")
    if browser is None:
        basis = f"warm: file {fitted}"
    else:
        basis = f"warm (a reload, the stored weights still in the OS page cache): weights {fitted}"
    if exceeded is not None:
        basis += (f"; cold: none — every visit downloads the weights again: {format_size(download_bytes)} exceed "
                  f"{browser.name}'s cache storage of {format_size(exceeded)} ({browser.storage_cache_basis})")
    elif storage is None:
        basis += "; cold: the profile gives no storage read speed (add a [storage] table)"
    elif browser is None:
        basis += f"; cold: + file read at {storage.read_mb_s:,.0f} MB/s ({storage.kind}, {storage.basis})"
    else:
        basis += (f"; cold (a later visit): + the weights read from {browser.name}'s storage (Cache API / OPFS / "
                  f"IndexedDB) on {storage.kind} at its sequential {storage.read_mb_s:,.0f} MB/s ({storage.basis})")
    if browser is not None:
        basis += ("; the first visit downloads them first"
                  + (f" ({format_size(download_bytes)})" if download_bytes is not None else "") + ": not predicted")
        if browser.storage_note:
            basis += f"; {browser.name}: {browser.storage_note}"
    if vram_copy:
        basis += f"; the copy of the weights into {'WebGPU buffers' if browser is not None else 'VRAM'} is not included"
    return LoadEstimate(
        file_bytes=int(file_bytes),
        warm_s=warm,
        cold_s=cold,
        cold_ttft_s=cold + prefill_s if cold is not None and prefill_s is not None else None,
        storage_kind=storage.kind if storage else None,
        storage_read_mb_s=storage.read_mb_s if storage else None,
        storage_basis=storage.basis if storage else None,
        basis=basis,
        browser=browser.id if browser is not None else None,
        browser_name=browser.name if browser is not None else None,
        browser_storage_note=browser.storage_note if browser is not None else "",
        first_visit_download_bytes=int(download_bytes) if browser is not None and download_bytes is not None else None,
        vram_copy_excluded=bool(vram_copy),
        storage_cache_limit_exceeded=exceeded,
    )


__all__ = ["LOAD_FIXED_S", "LOAD_S_PER_VOCAB_TOKEN", "PAGE_IN_EFFICIENCY", "cold_load_seconds", "estimate_load", "warm_load_seconds"]

"""The dashboard's own words: its inputs are widgets, not CLI flags, so messages name the widgets.

The engine's reasons carry no flags (``advisor.wording.reason_text`` words them for everyone); what
is the dashboard's own is named here: the RAM inputs, the fit labels, the calibration factors.
"""

from __future__ import annotations

from typing import Any

#: What the RAM-only inputs are called in messages (``api.DeviceChoice.input_names``).
INPUT_NAMES: tuple[tuple[str, str], ...] = (("ram", "RAM"), ("usable", "usable memory"))

FIT_LABELS = {"fits": "fits", "tight": "tight", "offload": "GPU offload", "no": "does not fit"}

#: The speed model's calibration factors (``records.PathFactors``) with human names and units, and
#: the scale from the stored unit to the shown one.
FACTOR_LABELS: dict[str, tuple[str, float]] = {
    "path": ("execution path", 1.0),
    "bw_efficiency": ("bandwidth efficiency (share of datasheet bandwidth reached)", 1.0),
    "decode_compute_efficiency": ("decode compute efficiency (share of peak FLOPS)", 1.0),
    "prefill_efficiency": ("prefill efficiency (share of peak FLOPS)", 1.0),
    "fixed_s_per_layer": ("fixed cost per layer per token (µs)", 1e6),
    "prefill_fixed_s_per_layer": ("fixed cost per layer per prompt micro-batch (µs)", 1e6),
    "prefill_kquant_factor": ("prefill speed-up of K/IQ-quants (×)", 1.0),
    "prefill_float_factor": ("prefill speed-up of float weights (×)", 1.0),
    "decode_band": ("decode likely range (~80 %): value ×/÷", 1.0),
    "prefill_band": ("prefill likely range (~80 %): value ×/÷", 1.0),
    "n_measurements": ("measurements fitted", 1.0),
    "basis": ("basis", 1.0),
    "source": ("source", 1.0),
}


def factor_rows(factors: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """One row per factor: its human name and its value in the shown unit (the factors other
    runtimes start from, where a path has them, after its own)."""
    rows = []
    for key, value in factors.items():
        if value is None:
            continue
        if isinstance(value, dict):  # records.OtherRuntimeFactors
            rows += factor_rows(value, prefix="other runtimes' prior: ")
            continue
        label, scale = FACTOR_LABELS.get(key, (key.replace("_", " "), 1.0))
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        elif isinstance(value, float):
            # a band multiplies and divides the value by 1 + band (engine.evaluate): ±120 % would read as going negative
            value = significant(1 + value if key in BAND_KEYS else value * scale)
        rows.append({"factor": prefix + label, "value": value})
    return rows


#: factors that are a likely range's half-width in log terms, shown as the factor 1 + band
BAND_KEYS = ("decode_band", "prefill_band")


def significant(value: float, digits: int = 3) -> str:
    """``0.617``, ``15.2``, ``1,230``: a fitted factor to the figures it carries."""
    return f"{float(f'{value:.{digits}g}'):,g}"


# --------------------------------------------------------------------------- runtimes and targets

#: The runtime selector's choice that considers every runtime with published measurements
#: (``engine.recommend.ALL_RUNTIMES``); the other choices are runtime ids.
ALL_RUNTIMES_CHOICE = "all"
#: The browser selector's choice that lets the engine pick the device's own (WebGPU first).
AUTO_BROWSER = "__auto__"


def runtime_label(e: Any) -> str:
    """``llama.cpp`` for llama.cpp's own path, ``mlc (webgpu)`` for another runtime (its id, as
    the CLI and the reports name it)."""
    return "llama.cpp" if e.runtime == "llama.cpp" else f"{e.runtime} ({e.backend})"


def pick_runtime_line(e: Any, tables: Any, download_bytes: int) -> str:
    """Under the pick's heading: how it runs (runtime, backend, format) and what the user downloads."""
    from advisor.units import format_size

    runtime = tables.runtimes.get(e.runtime)
    name = runtime.name if runtime is not None else e.runtime
    kind = "GGUF file type" if runtime is None or runtime.formats_from == "gguf" else "the runtime's own format"
    return (f"Runtime **{name}** · backend **{e.backend}** · format **{e.quant_id}** ({kind}) · download "
            f"**{format_size(download_bytes)}** (model file + the runtime's library where published)")


def target_line(dep: Any) -> str:
    """The target's memory budget on the device and its basis, and the browser it assumes."""
    from advisor.units import format_size

    b = dep.budget
    text = (f"**Target: {dep.target.name}** — {format_size(dep.device.memory.usable)} for the model on {dep.device.name} "
            f"({b.rule}; basis: {b.basis}; {b.source})")
    if dep.browser is not None:
        br = dep.browser
        gpu = "WebGPU" if br.webgpu_for(dep.device) else "no WebGPU (WebAssembly only)"
        text += (f". Browser {br.name}: {gpu}, one storage binding ≤ {format_size(br.max_storage_buffer_binding_size)}, "
                 f"one buffer ≤ {format_size(br.max_buffer_size)} ({br.limits_basis})")
    return text + "."


def binding_limit_lines(rejected: Any, tables: Any) -> list[str]:
    """Which per-buffer limit binds: one line per limit that rejected models, with how many and
    the closest miss (``Rejection`` of kind "limit": its buffer, size and the limit's name)."""
    from advisor.units import format_size

    by_limit: dict[str, list[Any]] = {}
    for r in rejected:
        if r.kind == "limit":
            by_limit.setdefault(r.why.category or "", []).append(r)
    lines = []
    for limit, rs in by_limit.items():
        first = rs[0]
        model = tables.models[first.model_id].name if first.model_id in tables.models else first.model_id
        n = len(rs)
        lines.append(
            f"**Binding limit:** the {format_size(first.why.limit)} {limit} rules out {n} model{'' if n == 1 else 's'} — "
            f"e.g. {model} in {first.quant_id}: its {format_size(first.why.value)} {first.why.name} exceeds it, "
            "whatever the memory.")
    return lines

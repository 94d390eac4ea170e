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
    "prefill_kquant_factor": ("prefill speed-up of K/IQ-quants (×)", 1.0),
    "prefill_float_factor": ("prefill speed-up of float weights (×)", 1.0),
    "decode_band": ("decode band half-width (±%)", 100.0),
    "prefill_band": ("prefill band half-width (±%)", 100.0),
    "n_measurements": ("measurements fitted", 1.0),
    "basis": ("basis", 1.0),
    "source": ("source", 1.0),
}


def factor_rows(factors: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per factor: its human name and its value in the shown unit."""
    rows = []
    for key, value in factors.items():
        label, scale = FACTOR_LABELS.get(key, (key.replace("_", " "), 1.0))
        shown = value * scale if isinstance(value, (int, float)) and not isinstance(value, bool) and scale != 1.0 else value
        rows.append({"factor": label, "value": shown if isinstance(shown, str) else f"{shown:g}"})
    return rows

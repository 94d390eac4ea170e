"""``advisor validate --runtime NAME``: a runtime other than llama.cpp run for real on this machine
(MLX's CPU build, ONNX Runtime GenAI, ExecuTorch's XNNPACK, LiteRT-LM, MNN), on a synthetic twin its own converter built
(``advisor.validate.runtimes``), compared with the engine's prediction for that runtime × format:
weight bytes tensor by tensor, KV cache, peak resident memory, prefill and decode speed. The run
is recorded in the store (it is never fitted into llama.cpp's calibration: ``run_exclusion``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from advisor.catalog import Catalog
from advisor.engine.evaluate import evaluate
from advisor.engine.runtimes import resolve_variant
from advisor.records import DeviceProfile, Workload
from advisor.store import Run, record_run
from advisor.validate.predicted_vs_measured import Comparison


@dataclass
class RuntimeValidation:
    run_id: int
    runtime: str
    model_id: str
    fmt: str
    device_id: str
    status: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _median(figure: Any) -> float | None:
    if isinstance(figure, dict):
        figure = figure.get("median")
    return float(figure) if isinstance(figure, (int, float)) and math.isfinite(figure) else None


def cpu_variant(catalog: Catalog, device: DeviceProfile, runtime_id: str, fmt_name: str):
    """The runtime × format on its CPU backend (MLX's and ORT's "cpu", ExecuTorch's "xnnpack"):
    where the twins run."""
    runtime = catalog.runtime(runtime_id)
    cpu = next((b.id for b in runtime.usable_backends(device) if b.kind == "cpu"), "cpu")
    return resolve_variant(catalog, device, runtime.id, fmt_name, cpu)


def validate_runtime(runtime_id: str, model_id: str, fmt_name: str, *, device: DeviceProfile, catalog: Catalog,
                     prompt_tokens: int = 128, output_tokens: int = 32, repeats: int = 3, db: Path | None = None,
                     cache_dir: Path | None = None, record: dict[str, Any] | None = None,
                     progress: Callable[[str], None] | None = None) -> RuntimeValidation:
    """Measure (or take the given ``record`` of) the twin and compare it with the prediction."""
    from advisor.engine.calibrate import is_noisy
    from advisor.validate.runtimes import MeasureSettings, measure_twin, runtime_module

    runtime = catalog.runtime(runtime_id)
    model = catalog.model(model_id)
    mod = runtime_module(runtime.id)
    mod.check_format(fmt_name)  # the twin builder's own list, with its error
    variant = cpu_variant(catalog, device, runtime.id, fmt_name)
    settings = MeasureSettings(prompt_tokens=prompt_tokens, output_tokens=output_tokens, repeats=repeats)
    if record is None:
        if progress:
            progress(f"building the {runtime.id} {fmt_name} twin of {model.id} with {runtime.id}'s own converter and measuring it")
        record = measure_twin(runtime.id, model, fmt_name, cache_dir=cache_dir, settings=settings)
    measured = record.get("measured") or {}
    context = int(measured.get("kv_cache_tokens") or prompt_tokens + output_tokens)
    workload = Workload(context_tokens=max(context, prompt_tokens + output_tokens), prompt_tokens=prompt_tokens,
                        output_tokens=output_tokens)
    est = evaluate(model, variant.format, device, workload, catalog, variant=variant)
    weights_measured = sum(int(t["nbytes"]) for t in record["layout"])
    rows = [
        Comparison("weights (Σ tensor bytes)", est.memory.weights_bytes, weights_measured, "bytes"),
        Comparison("model files on disk", est.memory.weights_bytes, record.get("total_file_bytes"), "bytes"),
    ]
    if measured.get("kv_cache_bytes") is not None:
        rows.append(Comparison("KV cache", est.memory.kv_cache_bytes, measured.get("kv_cache_bytes"), "bytes"))
    if measured.get("peak_rss_bytes") is not None:
        rows.append(Comparison("peak RSS (whole process)", est.memory.total_bytes, measured.get("peak_rss_bytes"), "bytes"))
    decode, prefill = _median(measured.get("decode_tokens_per_s")), _median(measured.get("prefill_tokens_per_s"))
    if est.speed is not None:
        rows.append(Comparison("prefill", est.speed.prefill_tokens_per_s, prefill, "tok/s"))
        rows.append(Comparison("decode", est.speed.decode_tokens_per_s, decode, "tok/s"))
    samples = (measured.get("decode_tokens_per_s") or {}).get("samples") if isinstance(measured.get("decode_tokens_per_s"), dict) else None
    status = "noisy" if isinstance(samples, list) and samples and is_noisy(samples) else "ok"
    notes = [f"synthetic weights: {runtime.id}'s own converter built the twin (speed is real, the text is not)",
             f"speed predicted with {est.speed.basis}" if est.speed else "no speed predicted (does not fit)"]
    run_id = record_run(Run(
        source="validate", status=status, device_id=device.id, model_id=model.id, model_name=model.name, quant=variant.format.id,
        synthetic=True, backend=variant.path, device_profile=device.model_dump(mode="json", by_alias=True),
        settings={"runtime": runtime.id, "backend": variant.backend.id, "format": variant.format.id, "n_ctx": workload.context_tokens,
                  "prompt_tokens": prompt_tokens, "output_tokens": output_tokens, "repeats": repeats,
                  "versions": record.get("versions", {})},
        predicted={"weights_bytes": est.memory.weights_bytes, "kv_cache_bytes": est.memory.kv_cache_bytes,
                   "total_bytes": est.memory.total_bytes,
                   "decode_tokens_per_s": est.speed.decode_tokens_per_s if est.speed else None,
                   "prefill_tokens_per_s": est.speed.prefill_tokens_per_s if est.speed else None},
        measured={"weights_bytes": weights_measured, "file_bytes": record.get("total_file_bytes"),
                  "kv_cache_bytes": measured.get("kv_cache_bytes"), "peak_rss_bytes": measured.get("peak_rss_bytes"),
                  "decode_tokens_per_s": decode, "prefill_tokens_per_s": prefill,
                  "decode_samples": samples or [], "load_s": _median(measured.get("load_s"))},
    ), db)
    return RuntimeValidation(run_id, runtime.id, model.id, variant.format.id, device.id, status, rows, notes)

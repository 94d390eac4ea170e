"""Synthetic twins for runtimes other than llama.cpp, validated where they run (this Linux CPU).

For each runtime a module with the same five names:
  ``FORMATS``                         its own format names (``4bit``, ``int4``, …)
  ``require()``                       versions, or an error naming ``pip install 'edge-model-advisor[EXTRA]'``
  ``build(model, fmt, cache_dir)``    the catalog model's exact architecture with random weights,
                                      converted and quantized by the runtime's own converter (cached)
  ``tensor_layout(folder)``           every tensor as the runtime stored it (name, shape, dtype, bytes)
  ``measure(folder, settings)``       load time, prefill/decode tokens/s, peak RSS, KV cache, in a
                                      child process
and here the runtime-independent entry points: ``build_twin``, ``tensor_layout``,
``measure_twin`` (one JSON-able record with files, layout, summary and measurements) and
``load_record`` / ``record_layout`` for recorded results.

Every runtime import is lazy: importing this package needs neither MLX, onnxruntime-genai, executorch, LiteRT-LM nor MNN.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

from advisor.errors import BadInputError, DataFileError
from advisor.records import ModelSpec
from advisor.validate.runtimes.common import (
    MeasureSettings,
    TensorLayout,
    folder_files,
    hf_config,
    summarize_layout,
)

#: runtime name (as in catalog/runtimes.toml and ``--runtime``) → module under this package.
RUNTIME_MODULES = {"mlx": "mlx", "ort-genai": "ort_genai", "executorch": "executorch", "litert-lm": "litert_lm",
                   "mnn": "mnn"}

RECORD_SCHEMA = "advisor.runtime-twin"
RECORD_SCHEMA_VERSION = 1

__all__ = [
    "RUNTIME_MODULES", "MeasureSettings", "TensorLayout", "build_twin", "load_record", "measure_twin",
    "record_layout", "runtime_module", "tensor_layout", "twin_cache_dir",
]


def runtime_module(runtime: str) -> ModuleType:
    """The module of ``runtime`` (imports no runtime package itself)."""
    if runtime not in RUNTIME_MODULES:
        raise BadInputError(
            f"no local twin for runtime '{runtime}'; twins run here for: {', '.join(RUNTIME_MODULES)}"
        )
    return importlib.import_module(f"advisor.validate.runtimes.{RUNTIME_MODULES[runtime]}")


def twin_cache_dir() -> Path:
    """``$ADVISOR_TWIN_CACHE`` or ``$ADVISOR_HOME/twins``, as for the GGUF twins."""
    from advisor.catalog import advisor_home

    return Path(os.environ.get("ADVISOR_TWIN_CACHE") or advisor_home() / "twins")


def build_twin(runtime: str, model: ModelSpec, fmt: str, cache_dir: Path | None = None) -> Path:
    """Folder of the ``fmt`` twin of ``model`` built by ``runtime``'s own converter (cached)."""
    return runtime_module(runtime).build(model, fmt, Path(cache_dir or twin_cache_dir()))


def tensor_layout(runtime: str, folder: Path) -> list[TensorLayout]:
    """Every tensor the runtime wrote into ``folder``: name, shape (file order), dtype (file's
    own name), bytes. Sum of ``nbytes`` = the weight data in the files."""
    return runtime_module(runtime).tensor_layout(Path(folder))


def measure_twin(runtime: str, model: ModelSpec, fmt: str, *, cache_dir: Path | None = None,
                 settings: MeasureSettings | None = None, measure: bool = True) -> dict[str, Any]:
    """Build (or reuse) the twin, read its layout and measure it: one JSON-able record.

    Keys: ``schema``, ``schema_version``, ``runtime``, ``format``, ``model`` (id + the config.json
    the twin was written from), ``versions``, ``machine``, ``settings``, ``files`` (name → bytes),
    ``total_file_bytes``, ``layout`` (one dict per tensor), ``summary`` (bytes per role × part ×
    dtype), ``format_details`` (the runtime's own quantization parameters) and ``measured``
    (``load_s``, ``prefill_tokens_per_s`` / ``decode_tokens_per_s`` as median/min/max/samples,
    ``peak_rss_bytes``, ``kv_cache_bytes``, ``kv_cache_tokens`` and runtime-specific counters;
    None with ``measure=False``: build and layout only).
    """
    mod = runtime_module(runtime)
    versions = mod.require()
    settings = settings or MeasureSettings()
    folder = mod.build(model, fmt, Path(cache_dir or twin_cache_dir()))
    layout = mod.tensor_layout(folder)
    files = folder_files(folder)
    measured = mod.measure(folder, settings) if measure else None
    versions.update((measured or {}).pop("versions", {}))
    return {
        "schema": RECORD_SCHEMA, "schema_version": RECORD_SCHEMA_VERSION,
        "runtime": runtime, "format": fmt,
        "model": {"id": model.id, "config": hf_config(model)},
        "versions": versions,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "load_average_before": list(os.getloadavg())},
        "settings": settings.to_json() if measure else None,
        "files": files, "total_file_bytes": sum(files.values()),
        "layout": [t.to_json() for t in layout],
        "summary": summarize_layout(layout),
        "format_details": _format_details(runtime, folder),
        "measured": measured,
    }


def _format_details(runtime: str, folder: Path) -> dict[str, Any]:
    mod = runtime_module(runtime)
    if hasattr(mod, "format_details"):  # a runtime that describes its own files (ExecuTorch)
        return mod.format_details(folder)
    if runtime == "mlx":
        return {"quantization": mod.quantization_config(folder),
                "safetensors_header_bytes": {p.name: mod.safetensors_header_bytes(p) for p in sorted(folder.glob("*.safetensors"))}}
    nodes = mod.matmulnbits_attributes(folder)
    kinds = sorted({(n.get("bits"), n.get("block_size"), n.get("accuracy_level")) for n in nodes}, key=str)
    return {
        "matmulnbits": [{"bits": b, "block_size": bs, "accuracy_level": a,
                         "count": sum(1 for n in nodes if (n.get("bits"), n.get("block_size"), n.get("accuracy_level")) == (b, bs, a))}
                        for b, bs, a in kinds],
        "zero_points": any(len(n["inputs"]) > 3 and n["inputs"][3] for n in nodes),
        "quantized_nodes": [n["node"] for n in nodes],
        "search": mod.genai_config(folder).get("search", {}),
    }


def load_record(path: Path) -> dict[str, Any]:
    """A recorded ``measure_twin`` result (JSON), checked for its schema."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{path}: not a readable runtime-twin record ({exc}); re-record it with benchmarks/runtime_twins.py") from None
    if record.get("schema") != RECORD_SCHEMA:
        raise DataFileError(f"{path}: schema {record.get('schema')!r}, expected {RECORD_SCHEMA!r}")
    if record.get("schema_version") != RECORD_SCHEMA_VERSION:
        raise DataFileError(f"{path}: schema_version {record.get('schema_version')}, expected {RECORD_SCHEMA_VERSION}")
    return record


def record_layout(record: dict[str, Any]) -> list[TensorLayout]:
    """The per-tensor layout stored in a record."""
    return [TensorLayout.from_json(t) for t in record["layout"]]

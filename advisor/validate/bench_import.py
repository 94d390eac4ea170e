"""Import llama.cpp's own benchmark output (`llama-bench -o json|jsonl|csv`), so measurements
from devices where this tool does not run (phones, boards) land in the store beside ours."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import DataFileError

#: llama.cpp's file-type names (llama_model_ftype_name) → our file-type ids.
FTYPE_NAMES = {
    "all F32": "F32", "F16": "F16", "BF16": "BF16", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
    "Q8_0": "Q8_0", "Q6_K": "Q6_K", "Q2_K - Medium": "Q2_K", "Q2_K - Small": "Q2_K_S", "Q3_K - Small": "Q3_K_S",
    "Q3_K - Medium": "Q3_K_M", "Q3_K - Large": "Q3_K_L", "Q4_K - Small": "Q4_K_S", "Q4_K - Medium": "Q4_K_M",
    "Q5_K - Small": "Q5_K_S", "Q5_K - Medium": "Q5_K_M", "IQ3_S mix": "IQ3_M",
}


def ftype_from_model_type(model_type: str) -> str | None:
    """'qwen2 0.5B Q4_K - Medium' → 'Q4_K_M'; 'llama 1B IQ4_XS - 4.25 bpw' → 'IQ4_XS'."""
    for name in sorted(FTYPE_NAMES, key=len, reverse=True):
        if model_type.endswith(name) or f" {name} -" in model_type + " -":
            return FTYPE_NAMES[name]
    m = re.search(r"\b(IQ\d_[A-Z]+|IQ\d_NL)\b", model_type)
    return m.group(1) if m else None


@dataclass(frozen=True)
class BenchRow:
    """One llama-bench test: pp (prompt processing), tg (generation) or pg (both)."""

    test: str  # "pp" | "tg" | "pg"
    n_prompt: int
    n_gen: int
    tokens_per_s: float
    stddev_tokens_per_s: float
    n_threads: int | None
    n_batch: int | None
    n_ubatch: int | None
    n_gpu_layers: int | None
    type_k: str | None
    flash_attn: bool | None
    model_type: str
    model_filename: str
    model_size_bytes: int | None
    model_n_params: int | None
    ftype: str | None
    backends: str | None
    build: str | None
    cpu_info: str | None
    gpu_info: str | None
    raw: dict[str, Any]


def _int(v: Any) -> int | None:
    try:
        return int(float(v)) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if v in (None, ""):
        return None
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _row(d: dict[str, Any], where: str) -> BenchRow:
    n_prompt, n_gen = _int(d.get("n_prompt")) or 0, _int(d.get("n_gen")) or 0
    ts = _float(d.get("avg_ts"))
    if ts is None or ts <= 0:
        raise DataFileError(f"{where}: a row has no avg_ts; is this llama-bench output (-o json, jsonl or csv)?")
    test = "pg" if n_prompt and n_gen else ("pp" if n_prompt else "tg")
    model_type = str(d.get("model_type") or "")
    build = d.get("build_commit")
    if d.get("build_number") not in (None, ""):
        build = f"{build} ({d.get('build_number')})"
    return BenchRow(
        test=test, n_prompt=n_prompt, n_gen=n_gen, tokens_per_s=ts, stddev_tokens_per_s=_float(d.get("stddev_ts")) or 0.0,
        n_threads=_int(d.get("n_threads")), n_batch=_int(d.get("n_batch")), n_ubatch=_int(d.get("n_ubatch")),
        n_gpu_layers=_int(d.get("n_gpu_layers")), type_k=d.get("type_k"), flash_attn=_bool(d.get("flash_attn")),
        model_type=model_type, model_filename=str(d.get("model_filename") or ""), model_size_bytes=_int(d.get("model_size")),
        model_n_params=_int(d.get("model_n_params")), ftype=ftype_from_model_type(model_type),
        backends=d.get("backends") or d.get("backend"), build=build, cpu_info=d.get("cpu_info"), gpu_info=d.get("gpu_info"),
        raw=d,
    )


def parse_llama_bench(text: str, where: str = "input") -> list[BenchRow]:
    """Rows of llama-bench output in any of its machine formats (json array, jsonl, csv)."""
    stripped = text.strip()
    if not stripped:
        raise DataFileError(f"{where}: empty; expected llama-bench output (-o json, jsonl or csv)")
    records: list[dict[str, Any]]
    try:
        if stripped.startswith("["):
            records = json.loads(stripped)
        elif stripped.startswith("{"):
            records = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        else:
            records = list(csv.DictReader(io.StringIO(stripped)))
            if not records or "avg_ts" not in records[0]:
                raise DataFileError(f"{where}: not llama-bench output: no avg_ts column (use -o json, jsonl or csv)")
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}); expected llama-bench -o json output") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataFileError(f"{where}: expected a list of llama-bench results")
    return [_row(r, where) for r in records]


def read_llama_bench(path: str | Path) -> list[BenchRow]:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise DataFileError(f"{p}: file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{p}: cannot be read ({exc})") from None
    return parse_llama_bench(text, str(p))

"""Import llama.cpp's own benchmark output (`llama-bench -o json|jsonl|csv`), so measurements
from devices where this tool does not run (phones, boards) land in the store beside ours."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import DataFileError
from advisor.inputs import (
    MAX_BENCH_FILE_BYTES,
    MAX_CORES,
    MAX_LAYERS,
    MAX_PARAMS,
    MAX_TOKENS_PER_S,
    check_document,
    read_bounded_text,
)
from advisor.store import TEXT_LIMITS
from advisor.units import MAX_SIZE_BYTES

#: Longest prompt or generation of one test: the longest context any catalog model has.
MAX_BENCH_TOKENS = 1_048_576
#: Most tests in one import.
MAX_BENCH_ROWS = 10_000

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
    #: llama-bench's per-repeat rates (samples_ts); () when the output has none
    samples_tokens_per_s: tuple[float, ...] = ()


class _Bad(ValueError):
    """One field of one row is wrong: the message names the field."""


def _number(d: dict[str, Any], key: str) -> float | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise _Bad(f"{key} = {v!r} is not a number")
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise _Bad(f"{key} = {str(v)[:40]!r} is not a number") from None
    if not math.isfinite(x):
        raise _Bad(f"{key} = {v!r} is not a finite number")
    return x


def _int(d: dict[str, Any], key: str, low: int, high: int) -> int | None:
    x = _number(d, key)
    if x is None:
        return None
    if x != int(x):
        raise _Bad(f"{key} = {d[key]!r} is not a whole number")
    if not low <= x <= high:
        raise _Bad(f"{key} = {d[key]!r} is out of range [{low:,}, {high:,}]")
    return int(x)


#: the longest backends text a run is stored with: the store reads a longer backend back as a
#: damaged row
MAX_BACKENDS_CHARS = TEXT_LIMITS["backend"]


def _text(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, (dict, list)):
        raise _Bad(f"{key} is not text")
    return str(v)[:1000]


#: llama-bench's flash_attn as written by its versions: a bool, 0/1, or (since flash attention
#: became 'auto' by default) -1 / "auto", which says only that llama.cpp chose: None
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "enabled": True,
          "0": False, "false": False, "no": False, "off": False, "disabled": False, "-1": None, "auto": None}
#: the KV cache types llama.cpp's --cache-type-k takes (common/arg.cpp kv_cache_types)
_KV_TYPES = frozenset({"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"})


def _bool(d: dict[str, Any], key: str) -> bool | None:
    v = d.get(key)
    if isinstance(v, bool):
        return v
    if v in (None, ""):
        return None
    text = str(v).strip().lower()
    if text not in _FLAGS:
        raise _Bad(f"{key} = {v!r} is not a yes/no value (true/false, 1/0, or -1/auto)")
    return _FLAGS[text]


def _kv_type(d: dict[str, Any], key: str) -> str | None:
    v = _text(d, key)
    if v is not None and v.strip().lower() not in _KV_TYPES:
        raise _Bad(f"{key} = {v[:40]!r} is not a KV cache type llama.cpp takes ({', '.join(sorted(_KV_TYPES))})")
    return v.strip().lower() if v is not None else None


def _row(d: dict[str, Any], where: str, index: int) -> BenchRow:
    """One llama-bench record, checked: a rate that is not a positive finite number, a token
    count that is negative, fractional or beyond any context window, is refused with the row
    and the field named (an import is all or nothing)."""
    if d.get("avg_ts") in (None, ""):
        raise DataFileError(f"{where}: a row has no avg_ts (row {index}); is this llama-bench output (-o json, jsonl or csv)?")
    try:
        ts = _number(d, "avg_ts")
        if ts is None or not 0 < ts <= MAX_TOKENS_PER_S:
            raise _Bad(f"avg_ts = {d['avg_ts']!r} is not a rate in (0, {MAX_TOKENS_PER_S:g}] tokens/s")
        stddev = _number(d, "stddev_ts")
        if stddev is not None and not 0 <= stddev <= MAX_TOKENS_PER_S:
            raise _Bad(f"stddev_ts = {d['stddev_ts']!r} is out of range [0, {MAX_TOKENS_PER_S:g}]")
        n_prompt = _int(d, "n_prompt", 0, MAX_BENCH_TOKENS) or 0
        n_gen = _int(d, "n_gen", 0, MAX_BENCH_TOKENS) or 0
        if not n_prompt and not n_gen:
            raise _Bad("n_prompt and n_gen are both 0 or missing: neither a prompt nor a generation test")
        n_threads = _int(d, "n_threads", 1, MAX_CORES * 8)
        n_batch = _int(d, "n_batch", 1, MAX_BENCH_TOKENS)
        n_ubatch = _int(d, "n_ubatch", 1, MAX_BENCH_TOKENS)
        n_gpu_layers = _int(d, "n_gpu_layers", -1, MAX_LAYERS * 8)
        model_size = _int(d, "model_size", 0, MAX_SIZE_BYTES)
        n_params = _int(d, "model_n_params", 0, MAX_PARAMS)
        model_type = _text(d, "model_type") or ""
        model_filename = _text(d, "model_filename") or ""
        build = _text(d, "build_commit")
        number = _text(d, "build_number")
        backends = _text(d, "backends") or _text(d, "backend")
        if backends is not None and len(backends) > MAX_BACKENDS_CHARS:  # stored, the run would read back as damaged
            raise _Bad(f"backends is {len(backends):,} characters long (at most {MAX_BACKENDS_CHARS}): llama-bench lists a few "
                       "backend names")
        type_k, cpu_info, gpu_info = _kv_type(d, "type_k"), _text(d, "cpu_info"), _text(d, "gpu_info")
        flash_attn = _bool(d, "flash_attn")
        samples = _samples(d)
    except _Bad as exc:
        raise DataFileError(f"{where}: row {index}: {exc}; fix or remove that row (nothing was imported)") from None
    test = "pg" if n_prompt and n_gen else ("pp" if n_prompt else "tg")
    if number is not None:
        build = f"{build} ({number})"
    return BenchRow(
        test=test, n_prompt=n_prompt, n_gen=n_gen, tokens_per_s=ts, stddev_tokens_per_s=stddev or 0.0,
        n_threads=n_threads, n_batch=n_batch, n_ubatch=n_ubatch,
        n_gpu_layers=n_gpu_layers, type_k=type_k, flash_attn=flash_attn,
        model_type=model_type, model_filename=model_filename, model_size_bytes=model_size,
        model_n_params=n_params, ftype=ftype_from_model_type(model_type),
        backends=backends, build=build, cpu_info=cpu_info, gpu_info=gpu_info,
        raw=d, samples_tokens_per_s=samples,
    )


def _samples(d: dict[str, Any]) -> tuple[float, ...]:
    """samples_ts as finite non-negative rates (a list in json/jsonl, '[a, b]' or 'a;b' text in csv)."""
    v = d.get("samples_ts")
    if v in (None, "", []):
        return ()
    items = v if isinstance(v, list) else str(v).strip("[] ").replace(";", ",").split(",")
    out = []
    for i, item in enumerate(items[:100_000]):
        x = _number({"samples_ts": item}, "samples_ts")
        if x is None or not 0 <= x <= MAX_TOKENS_PER_S:
            raise _Bad(f"samples_ts[{i}] = {item!r} is not a rate in [0, {MAX_TOKENS_PER_S:g}] tokens/s")
        out.append(x)
    return tuple(out)


def parse_llama_bench(text: str, where: str = "input") -> list[BenchRow]:
    """Rows of llama-bench output in any of its machine formats (json array, jsonl, csv); a UTF-8
    byte-order mark (a file saved by a Windows editor) is not part of it."""
    stripped = text.removeprefix("\ufeff").strip()
    if not stripped:
        raise DataFileError(f"{where}: empty; expected llama-bench output (-o json, jsonl or csv)")
    records: list[dict[str, Any]]
    try:
        if stripped.startswith("["):
            records = json.loads(stripped)
        elif stripped.startswith("{"):
            records = []
            for lineno, line in enumerate(stripped.splitlines(), 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataFileError(f"{where}: line {lineno} is not valid JSON ({exc.msg}); expected llama-bench -o jsonl output") from None
        else:
            csv.field_size_limit(MAX_BENCH_FILE_BYTES)
            records = list(csv.DictReader(io.StringIO(stripped)))
            if not records or "avg_ts" not in records[0]:
                raise DataFileError(f"{where}: not llama-bench output: no avg_ts column (use -o json, jsonl or csv)")
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}); expected llama-bench -o json output") from None
    except RecursionError:
        raise DataFileError(f"{where}: nested too deeply; expected llama-bench output (-o json, jsonl or csv)") from None
    except (csv.Error, ValueError) as exc:
        raise DataFileError(f"{where}: not llama-bench output ({exc}); use -o json, jsonl or csv") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataFileError(f"{where}: expected a list of llama-bench results")
    if len(records) > MAX_BENCH_ROWS:
        raise DataFileError(f"{where}: {len(records):,} rows; import at most {MAX_BENCH_ROWS:,} at a time")
    check_document(records, where, max_values=MAX_BENCH_ROWS * 200, finite=False)  # _row names a NaN's row
    return [_row(r, where, i) for i, r in enumerate(records, 1)]


def read_llama_bench(path: str | Path) -> list[BenchRow]:
    p = Path(path)
    text = read_bounded_text(p, max_bytes=MAX_BENCH_FILE_BYTES, what="llama-bench output")
    return parse_llama_bench(text, str(p))

"""Bounds on what the tool reads from outside: files (regular, size-capped, shallow) and the
magnitudes of the numbers in them.

Every file a user names (a device profile, a requirements file, an overlay under
``$ADVISOR_HOME``, llama-bench output, a GGUF) goes through :func:`read_bounded` or
:func:`check_regular_file` first, so a FIFO, ``/dev/zero``, a directory or a gigabyte of junk is
one clear error naming the file instead of a hang or a MemoryError. Parsed documents go through
:func:`check_document` (a TOML/YAML/JSON document nested thousands deep is refused, not a
RecursionError). The limits are sanity bounds, far beyond any real file: they are not facts about
devices or models.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

from advisor.errors import DataFileError

#: Largest data file (TOML/YAML profile, catalog overlay, requirements) read: the shipped
#: models.toml, the largest, is 67 KB.
MAX_DATA_FILE_BYTES = 4 * 1024**2
#: Largest llama-bench output read (one test per line, ~1 KB each: thousands of tests).
MAX_BENCH_FILE_BYTES = 32 * 1024**2
#: Deepest nesting of tables/lists accepted in a data file (the shipped files use 3).
MAX_NESTING = 32


def check_regular_file(path: str | Path, *, hint: str = "check the path", expected: str = "file") -> os.stat_result:
    """The file's stat, or one DataFileError: missing, a directory, or not a regular file (a FIFO,
    a device such as /dev/zero, a socket), any of which would hang or never end when read."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise DataFileError(f"{p}: file not found; {hint}") from None
    except OSError as exc:
        raise DataFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFileError(f"{p}: is a directory, expected a {expected}")
    if not stat.S_ISREG(st.st_mode):
        raise DataFileError(f"{p}: is not a regular file (a pipe, device or socket); expected a {expected}")
    return st


def read_bounded(path: str | Path, *, max_bytes: int = MAX_DATA_FILE_BYTES, what: str = "data file",
                 expected: str = "file") -> bytes:
    """The bytes of a regular file no larger than ``max_bytes``; one DataFileError otherwise."""
    p = Path(path)
    st = check_regular_file(p, expected=expected)
    if st.st_size > max_bytes:
        raise DataFileError(f"{p}: {st.st_size:,} bytes is too large for a {what} (at most {max_bytes:,}); "
                            "is this the right file?")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise DataFileError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew while we read it
        raise DataFileError(f"{p}: larger than the {max_bytes:,} bytes a {what} may have; is this the right file?")
    return data


def read_bounded_text(path: str | Path, *, max_bytes: int = MAX_DATA_FILE_BYTES, what: str = "data file",
                      expected: str = "file") -> str:
    data = read_bounded(path, max_bytes=max_bytes, what=what, expected=expected)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not UTF-8 text (byte {exc.start}); is this the right file?") from None


#: Most values (scalars, lists, tables) a data file may hold: a YAML alias bomb expands to
#: billions of references to a few lists and is refused before anything walks them.
MAX_VALUES = 200_000


def check_document(raw: Any, where: str, *, limit: int = MAX_NESTING, max_values: int = MAX_VALUES, root: str = "",
                   finite: bool = True) -> None:
    """A parsed data file is shallow (``limit`` levels), small (``max_values`` values) and holds
    only finite numbers; otherwise one DataFileError naming the file (and the field of a NaN/inf;
    ``root`` prefixes the field path). Walks iteratively, so no document can exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(raw, 0, root)]
    seen = 0
    while stack:
        item, depth, field = stack.pop()
        seen += 1
        if seen > max_values:
            raise DataFileError(f"{where}: more than {max_values:,} values; a data file is a few tables and lists")
        if finite and isinstance(item, float) and not math.isfinite(item):
            raise DataFileError(f"{where}: field '{field or '(top level)'}': {item} is not a finite number; give a real value")
        if isinstance(item, dict):
            children = [(v, f"{field}.{k}" if field else str(k)) for k, v in item.items()]
        elif isinstance(item, (list, tuple)):
            children = [(v, field) for v in item]
        else:
            continue
        if depth + 1 > limit:
            raise DataFileError(f"{where}: nested more than {limit} levels deep; a data file is flat tables and lists")
        stack.extend((v, depth + 1, f) for v, f in children)


# --------------------------------------------------------------------------- magnitudes
# Sanity bounds on the numbers of catalog entries, profiles and overlays: each is far beyond every
# real model or device (the largest published LLMs have ~130 layers, a 16k hidden size and a
# 256k vocabulary; an H200 moves 4.8 TB/s), and small enough that the formulas stay finite and
# fast (an overlay model with 10^9 layers would make the per-layer sums run for hours).

MAX_LAYERS = 1024
MAX_WIDTH = 1 << 20  # hidden size, feed-forward size, head dimension
MAX_HEADS = 4096
MAX_VOCAB = 1 << 24
MAX_PARAMS = 10**13
MAX_CONTEXT_TOKENS = 1 << 24
MAX_CORES = 4096
MAX_GHZ = 10.0
#: FP32 FLOP per cycle of one CPU core: 64 is two 512-bit FMA units; 128 leaves room
MAX_FLOPS_PER_CYCLE = 128.0
MIN_BANDWIDTH_GBS = 0.01  # 10 MB/s: slower than any RAM
MAX_BANDWIDTH_GBS = 1e5
MIN_GFLOPS = 0.01
MAX_GFLOPS = 1e7
MIN_TFLOPS = 1e-5
MAX_TFLOPS = 1e5
MIN_WATTS = 0.01
MAX_WATTS = 1e5
MAX_PRICE_USD = 1e9
#: Sequential storage read in decimal MB/s: 10 MB/s is below any card or disk a model is loaded
#: from (a UHS-I microSD reads ~45–90 MB/s), 100,000 MB/s above any drive or array (PCIe 5.0 ×4
#: NVMe: ~14,000 MB/s); outside these a figure is a unit slip (GB/s given as MB/s, bytes/s).
MIN_STORAGE_READ_MB_S = 10.0
MAX_STORAGE_READ_MB_S = 100_000.0
#: Largest tokens/s a measurement may claim (a datacenter GPU prefills ~10^5 tokens/s).
MAX_TOKENS_PER_S = 1e7


def parse_document(path: str | Path, parse: Any, *, expected: str, syntax_error: Any, describe_syntax: Any, shape: str) -> Any:
    """Read ``path`` bounded (``read_bounded_text``), parse it with ``parse(text)`` and check the
    result (``check_document``); every failure is one DataFileError naming the file: its syntax
    (``syntax_error`` worded by ``describe_syntax``), nesting too deep for the parser (``shape``
    says what the file should look like), or an integer of thousands of digits."""
    text = read_bounded_text(path, expected=expected)
    if text.startswith("\ufeff"):  # Windows editors' UTF-8; the parser's words were "line 1, column 1"
        raise DataFileError(f"{path}: starts with a byte-order mark; save it as UTF-8 without one")
    try:
        raw = parse(text)
    except syntax_error as exc:
        raise DataFileError(f"{path}: {describe_syntax(exc)}") from None
    except RecursionError:
        raise DataFileError(f"{path}: nested more than {MAX_NESTING} levels deep; {shape}") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise DataFileError(f"{path}: a number is too large ({str(exc).split(':')[0]})") from None
    check_document(raw, str(path))
    return raw

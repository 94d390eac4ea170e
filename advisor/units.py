"""Units: the one place that parses and formats sizes, bandwidths and rates.

Unit policy (documented in the README):

* Memory sizes follow the JEDEC convention used for RAM (JESD100B.01): ``K``/``KB``/``KiB`` =
  2^10 bytes, ``M``/``MB``/``MiB`` = 2^20, ``G``/``GB``/``GiB`` = 2^30, ``T``/``TB``/``TiB`` =
  2^40. RAM is sold and reported by operating systems in these binary units, so ``4GB`` and
  ``4GiB`` mean the same 4,294,967,296 bytes. A bare number is bytes. Case and spaces do not
  matter (``4 gb``, ``3.5g``, ``4096MB``).
* Bandwidths are decimal GB/s (10^9 bytes per second), as every vendor publishes them.
* Compute is FLOP/s; catalog files use GFLOPS/TFLOPS (10^9 / 10^12).
* Inside the library sizes are integers of bytes; units appear only at the edges.
"""

from __future__ import annotations

import math
import re

from advisor.errors import BadInputError

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4
GB_S = 1e9  # bytes per second in one GB/s

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB, "kb": KIB, "kib": KIB,
    "m": MIB, "mb": MIB, "mib": MIB,
    "g": GIB, "gb": GIB, "gib": GIB,
    "t": TIB, "tb": TIB, "tib": TIB,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)

#: Largest memory size we accept from a user: anything above is a typo, not a device.
MAX_SIZE_BYTES = 64 * TIB
#: Smallest memory a device can have: below this a "RAM size" is a forgotten unit (``--ram 4``
#: is 4 bytes), not a device — the smallest boards that run llama.cpp have 512 MiB.
MIN_DEVICE_MEMORY_BYTES = 64 * MIB
#: the smallest download a limit can mean: below it, a bare number is a forgotten unit (parse_download_size)
MIN_DOWNLOAD_BYTES = MIB
#: Largest number any numeric option or file field may hold (rates, prices, powers): far beyond
#: every real device, small enough that sums and products of them stay finite.
MAX_NUMBER = 1e12


def parse_size(text: str | int | float, *, what: str = "size") -> int:
    """Parse a memory size such as ``4GB``, ``4 GiB``, ``3.5g`` or ``4096MB`` into bytes.

    Raises BadInputError naming the accepted forms when the text is malformed, negative, zero
    or absurdly large.
    """
    if isinstance(text, bool):
        raise BadInputError(f"{what} {text!r} is not a size; write it like 4GB, 4GiB or 4096MB")
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            stripped = str(text).strip()
            if stripped.startswith("-"):
                raise BadInputError(f"{what} {text!r} is negative; give a positive size like 4GB")
            raise BadInputError(
                f"{what} {text!r} is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"
            )
        value, unit = float(match.group(1)), match.group(2).lower()
        if unit not in _SIZE_UNITS:
            raise BadInputError(
                f"{what} {text!r} has an unknown unit {match.group(2)!r}; use B, KB, MB, GB or TB "
                "(binary, JEDEC: 1GB = 1GiB = 1024 MiB)"
            )
    if math.isinf(value):  # 1e400GB: a float overflow, not a negative
        raise BadInputError(f"{what} {text!r} is larger than 64 TiB; check the unit (e.g. 4GB)")
    if not math.isfinite(value) or value <= 0:
        raise BadInputError(f"{what} {text!r} must be a positive size like 4GB")
    if value * _SIZE_UNITS[unit] > MAX_SIZE_BYTES:
        raise BadInputError(f"{what} {text!r} is larger than 64 TiB; check the unit (e.g. 4GB)")
    size = int(round(value * _SIZE_UNITS[unit]))
    if size < 1:
        raise BadInputError(f"{what} {text!r} is less than one byte; give a size like 4GB")
    return size


def _no_unit_below(text: str | float, floor: int, what: str, floor_words: str) -> None:
    """BadInputError for a bare number (bytes) under ``floor``: a forgotten unit ("4" for 4GB),
    answered with a did-you-mean naming why no such size makes sense (``floor_words``)."""
    plain = str(text).strip()
    match = None if isinstance(text, bool) else _SIZE_RE.match(plain)
    if match and not match.group(2):  # a bare number is bytes: "4" is 4 bytes, surely meant 4GB
        value = float(match.group(1))
        if math.isfinite(value) and 0 < value < floor:
            raise BadInputError(f"{what} {text!r} has no unit, so it means {value:g} byte{'' if value == 1 else 's'}; "
                                f"{floor_words}: did you mean {plain}GB?")


def parse_memory_size(text: str | float, *, what: str = "memory size") -> int:
    """A device's memory (``--ram``, ``--usable``, ``--min-ram``, a profile's ``ram``): a size
    under MIN_DEVICE_MEMORY_BYTES (64 MiB) is a forgotten unit, answered with a did-you-mean."""
    _no_unit_below(text, MIN_DEVICE_MEMORY_BYTES, what, "no device has less than 64 MiB")
    size = parse_size(text, what=what)
    if size < MIN_DEVICE_MEMORY_BYTES:
        raise BadInputError(f"{what} {text!r} is {format_size(size)}; no device has less than 64 MiB: "
                            "give a size like 4GB")
    return size


def parse_download_size(text: str | float, *, what: str = "download size") -> int:
    """A download limit (``--max-download``): a bare number under MIN_DOWNLOAD_BYTES (1 MiB, less
    than any model file) is a forgotten unit; a bare byte count above it ("1.5e9", a store's
    decimal limit) is taken as bytes."""
    _no_unit_below(text, MIN_DOWNLOAD_BYTES, what, "no model file is smaller than 1 MiB")
    return parse_size(text, what=what)


def bus_bandwidth_gbs(mega_transfers_per_s: float, bus_bits: int) -> float:
    """Peak GB/s of a memory bus: transfers/s × bus bytes (LPDDR4X-4267 over 32 bits: 17.1)."""
    return mega_transfers_per_s * 1e6 * bus_bits / 8 / GB_S


def format_size(n_bytes: float, *, precision: int = 2) -> str:
    """Format bytes with binary units: ``1.50 GiB``, ``512.00 MiB``, ``12 B``."""
    sign = "-" if n_bytes < 0 else ""
    n = abs(float(n_bytes))
    for unit, factor in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= factor:
            return f"{sign}{n / factor:.{precision}f} {unit}"
    return f"{sign}{n:.0f} B"


def format_decimal_size(n_bytes: float) -> str:
    """Format bytes in decimal units as stores and download pages publish them: ``200 MB``, ``1.5 GB``."""
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= factor:
            return f"{n_bytes / factor:.3g} {unit}"
    return f"{n_bytes:.0f} B"


def gib(n_bytes: float) -> float:
    return n_bytes / GIB


def _shown(text: object) -> str:
    """A value as an error quotes it: its repr, cut after 35 characters with its length said (a
    number of 5,000 digits is not echoed whole)."""
    plain = str(text)
    if len(plain) <= 40:
        return repr(text)
    head = repr(plain[:35])
    return f"{head[:-1]}…{head[-1]} ({len(plain):,} characters)"


def _ascii_digits(plain: str) -> str:
    """``plain`` if it is ASCII; else ValueError. Python's int() and float() read other scripts'
    digits ('４０９６', '٤') as numbers, which no size, no file and no other tool here accepts."""
    if not plain.isascii():
        raise ValueError(plain)
    return plain


def _in_ascii(plain: str) -> str:
    """The hint an error about a number adds when the text has digits of another script."""
    return "" if plain.isascii() or not any(ch.isdigit() for ch in plain) else ", written with the digits 0-9"


def parse_positive_int(text: str | int, *, what: str, maximum: int | None = None) -> int:
    """Parse a whole positive number (token counts, thread counts) with a clear error."""
    plain = str(text).replace("_", "").strip()
    try:
        value = int(_ascii_digits(plain))
    except ValueError:
        if plain.isascii() and plain.isdigit():  # past int()'s 4,300-digit limit: whole, and too large
            raise BadInputError(f"{what} {_shown(text)} is larger than the maximum {maximum:,}" if maximum is not None else
                                f"{what} {_shown(text)} is too large; give e.g. 512") from None
        raise BadInputError(f"{what} {_shown(text)} is not a whole number; give e.g. 512{_in_ascii(plain)}") from None
    if value <= 0:
        raise BadInputError(f"{what} must be positive, got {value if len(plain) <= 40 else _shown(text)}")
    if maximum is not None and value > maximum:
        raise BadInputError(f"{what} {value if len(plain) <= 40 else _shown(text)} is larger than the maximum {maximum:,}")
    return value


def parse_positive_float(text: str | float, *, what: str, maximum: float | None = None) -> float:
    try:
        value = float(_ascii_digits(str(text).strip()))
    except ValueError:
        raise BadInputError(f"{what} {_shown(text)} is not a number; give e.g. 10{_in_ascii(str(text))}") from None
    if value == math.inf and maximum is not None and any(ch.isdigit() for ch in str(text)):  # 1e400: an overflow
        raise BadInputError(f"{what} {_shown(text)} is larger than the maximum {maximum:g}")
    if not math.isfinite(value) or value <= 0:
        raise BadInputError(f"{what} must be a positive number, got {_shown(text)}")
    if maximum is not None and value > maximum:
        raise BadInputError(f"{what} {value:g} is larger than the maximum {maximum:g}")
    return value


def parse_number(text: str | float, *, what: str, minimum: float = 0.0, maximum: float = MAX_NUMBER,
                 example: str = "10") -> float:
    """A finite number in [minimum, maximum] (``--target-tps 0``, ``--quality-floor 60``);
    ``nan``, ``inf`` and numbers out of range are refused with the range named."""
    try:
        value = float(_ascii_digits(str(text).strip()))
    except ValueError:
        raise BadInputError(f"{what} {_shown(text)} is not a number; give e.g. {example}{_in_ascii(str(text))}") from None
    if math.isinf(value) and any(ch.isdigit() for ch in str(text)):  # 1e400: a number past float's range
        raise BadInputError(f"{what} {_shown(text)} is out of range; give a number from {minimum:g} to {maximum:g}")
    if not math.isfinite(value):
        raise BadInputError(f"{what} {_shown(text)} is not a finite number; give e.g. {example}")
    if not minimum <= value <= maximum:
        raise BadInputError(f"{what} {value:g} is out of range; give a number from {minimum:g} to {maximum:g}")
    return value


def format_rate(tokens_per_s: float) -> str:
    """Tokens per second as shown everywhere (tables, summaries, dashboard): ``2,489``, ``168``,
    ``8.7``, ``0.04`` — whole numbers from 100 (thousands separated, as token counts are), one
    decimal below, two below 0.1 (never ``0.0``)."""
    if tokens_per_s >= 100:
        return f"{tokens_per_s:,.0f}"
    if tokens_per_s >= 0.1 or tokens_per_s == 0:
        return f"{tokens_per_s:.1f}"
    return f"{tokens_per_s:.2f}"


def format_flops(flops_per_s: float) -> str:
    """A compute rate: ``153.6 GFLOP/s``, ``10.6 TFLOP/s`` (from 1,000 GFLOP/s), three significant digits."""
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.3g} TFLOP/s"
    return f"{flops_per_s / 1e9:.4g} GFLOP/s"


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


#: Longest duration accepted (a time to first token, a timeout): one day.
MAX_DURATION_S = 86_400.0

_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(ms|s|sec|min|m)?\s*$", re.IGNORECASE)


def parse_duration(text: str | float, *, what: str = "duration") -> float:
    """Seconds from ``2``, ``2s``, ``500ms`` or ``1.5min``."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise BadInputError(f"{what} {text!r} is not a duration; write it like 2, 2s or 500ms")
    value = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    seconds = value / 1000 if unit == "ms" else value * 60 if unit in ("min", "m") else value
    if seconds <= 0:
        raise BadInputError(f"{what} must be positive, got {text!r}")
    if seconds > MAX_DURATION_S:
        raise BadInputError(f"{what} {text!r} is longer than a day; write it like 2s or 500ms")
    return seconds

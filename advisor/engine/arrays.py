"""Element-wise helpers that work on plain numbers and on numpy arrays alike, so each formula is
written once and serves both one estimate and the whole grid (numpy is imported only for arrays,
keeping the CLI's start fast)."""

from __future__ import annotations

from typing import Any

Num = Any  # float | numpy.ndarray


#: Plain numbers (numpy's float64 is a float too); anything else is taken for an array.
_SCALARS = (int, float, bool)


def maximum(a: Num, b: Num) -> Num:
    if isinstance(a, _SCALARS) and isinstance(b, _SCALARS):
        return a if a >= b else b
    import numpy as np

    return np.maximum(a, b)


def minimum(a: Num, b: Num) -> Num:
    if isinstance(a, _SCALARS) and isinstance(b, _SCALARS):
        return a if a <= b else b
    import numpy as np

    return np.minimum(a, b)


def where(cond: Num, a: Num, b: Num) -> Num:
    if isinstance(cond, _SCALARS):
        return a if cond else b
    import numpy as np

    return np.where(cond, a, b)


def never(cond: Num) -> bool:
    """True when ``cond`` is a plain false number: a scalar evaluation may then skip the terms
    that only count where ``cond`` holds (an array evaluates them, ``where`` picks per element)."""
    return isinstance(cond, _SCALARS) and not cond


def floor(a: Num) -> Num:
    if isinstance(a, _SCALARS):
        import math

        return float(math.floor(a))
    import numpy as np

    return np.floor(a)


def clip(a: Num, low: Num, high: Num) -> Num:
    return maximum(minimum(a, high), low)


def logical_not(a: Num) -> Num:
    if isinstance(a, _SCALARS):
        return not a
    import numpy as np

    return np.logical_not(a)


def rounded(a: Num) -> Num:
    """Round half to even, as numpy does."""
    if isinstance(a, _SCALARS):
        return float(round(a))
    import numpy as np

    return np.round(a)

"""Element-wise helpers that work on plain numbers and on numpy arrays alike, so each formula is
written once and serves both one estimate and the whole grid (numpy is imported only for arrays,
keeping the CLI's start fast)."""

from __future__ import annotations

from typing import Any

Num = Any  # float | numpy.ndarray


def _scalar(*xs: object) -> bool:
    return all(isinstance(x, (int, float, bool)) for x in xs)


def maximum(a: Num, b: Num) -> Num:
    if _scalar(a, b):
        return a if a >= b else b
    import numpy as np

    return np.maximum(a, b)


def minimum(a: Num, b: Num) -> Num:
    if _scalar(a, b):
        return a if a <= b else b
    import numpy as np

    return np.minimum(a, b)


def where(cond: Num, a: Num, b: Num) -> Num:
    if _scalar(cond):
        return a if cond else b
    import numpy as np

    return np.where(cond, a, b)

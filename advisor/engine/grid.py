"""The whole grid — every model × format × device — through the one evaluation path
(``engine.core``), run on numpy arrays: candidates as a column, devices as a row.

Returns columns (a dict of arrays), one row per model × quant × device; ``tests/test_grid.py``
checks rows against ``evaluate.evaluate`` (the same functions run on plain numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from advisor.engine import core
from advisor.engine.core import FIT_CODES
from advisor.engine.evaluate import Tables, candidate, device_row, quality_table
from advisor.records import DeviceProfile, FileType, ModelSpec, PathFactors, Workload

__all__ = ["FIT_CODES", "Grid", "evaluate_grid_arrays"]


@dataclass(frozen=True)
class Grid:
    model_ids: np.ndarray
    quant_ids: np.ndarray
    device_ids: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.model_ids)


def evaluate_grid_arrays(
    tables: Tables,
    devices: Sequence[DeviceProfile],
    workload: Workload,
    *,
    models: Sequence[ModelSpec] | None = None,
    quants: Sequence[FileType] | None = None,
    overrides: Mapping[str, PathFactors] | None = None,
) -> Grid:
    models = list(models or tables.models.values())
    quants = list(quants or tables.file_types.values())
    qt = quality_table(tables)
    mq = [(m, q) for m in models for q in quants]
    c = core.candidate_terms([candidate(m, q, workload, tables) for m, q in mq], axis=0)
    d = core.device_terms([device_row(dev, workload, tables, overrides) for dev in devices], axis=1)
    quality = np.asarray([qt.score(m, q) for m, q in mq], dtype=np.float64)[:, None]
    ctx_ok = np.asarray([workload.context_tokens <= m.context_length for m, _ in mq])[:, None]

    with np.errstate(divide="ignore", invalid="ignore"):
        place = core.placement(c, d, n_cpu_moe=workload.n_cpu_moe)
        t = core.timing(c, d, workload, place.gpu_fraction, place.cpu_moe_layers)
        decode_tps = 1.0 / t.decode_s_per_token
        prefill_tps = workload.prompt_tokens / t.prompt_s

    shape = (len(mq), len(devices))
    bcast = lambda a: np.broadcast_to(a, shape).ravel()  # noqa: E731
    has_speed = bcast(place.fit_code != 3)
    speed_col = lambda a: np.where(has_speed, bcast(a), np.nan)  # noqa: E731
    columns = {
        "weights_bytes": bcast(c.weights_bytes), "kv_cache_bytes": bcast(c.kv_cache_bytes),
        "compute_buffer_bytes": bcast(c.compute_buffer_bytes), "overhead_bytes": bcast(c.overhead_bytes),
        "total_bytes": bcast(c.total_bytes), "usable_bytes": bcast(place.usable_bytes),
        "fit_code": bcast(place.fit_code).astype(np.int8), "quality_score": bcast(quality), "context_ok": bcast(ctx_ok),
        "gpu_layers": bcast(t.gpu_layers),
        "n_cpu_moe": bcast(core.n_cpu_moe_flag(c, place.cpu_moe_layers)),
        "decode_tokens_per_s": speed_col(decode_tps),
        "decode_low": speed_col(decode_tps / (1 + t.decode_band)),
        "decode_high": speed_col(core.decode_high(t)),
        "decode_bound_code": bcast(t.decode_bound_code).astype(np.int8),
        "prefill_tokens_per_s": speed_col(prefill_tps),
        "prefill_low": speed_col(prefill_tps / (1 + t.prefill_band)),
        "prefill_high": speed_col(prefill_tps * (1 + t.prefill_band)),
        "prefill_bound_code": bcast(t.prefill_compute_bound).astype(np.int8),
        "ttft_s": speed_col(t.prompt_s),
        "response_s": speed_col(t.response_s),
        "energy_j_per_response": speed_col(d.power_w * t.response_s),
    }
    model_ids = np.repeat(np.array([m.id for m, _ in mq]), len(devices))
    quant_ids = np.repeat(np.array([q.id for _, q in mq]), len(devices))
    device_ids = np.tile(np.array([dev.id for dev in devices]), len(mq))
    return Grid(model_ids=model_ids, quant_ids=quant_ids, device_ids=device_ids, columns=columns)

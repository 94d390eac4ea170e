"""The vectorized grid agrees with one-at-a-time evaluation on every row."""

import numpy as np
import pytest

from advisor.engine.evaluate import evaluate
from advisor.engine.grid import FIT_CODES, evaluate_grid_arrays
from advisor.engine.speed import DECODE_BOUNDS
from advisor.records import Workload

WORKLOADS = [Workload(), Workload(context_tokens=32768, prompt_tokens=4000, output_tokens=500, kv_cache_type="q8_0")]


@pytest.mark.parametrize("workload", WORKLOADS, ids=["default", "long-q8"])
def test_grid_matches_scalar_evaluate(catalog, workload):
    devices = list(catalog.devices.values())
    grid = evaluate_grid_arrays(catalog, devices, workload)
    models, quants, devs = catalog.models, catalog.file_types, catalog.devices
    cols = grid.columns
    checked = 0
    for i in range(0, len(grid), 7):  # every 7th row: all models, quants and devices appear
        e = evaluate(models[grid.model_ids[i]], quants[grid.quant_ids[i]], devs[grid.device_ids[i]], workload, catalog)
        assert FIT_CODES[cols["fit_code"][i]] == e.fit, (grid.model_ids[i], grid.quant_ids[i], grid.device_ids[i])
        assert cols["total_bytes"][i] == e.memory.total_bytes
        assert cols["usable_bytes"][i] == e.usable_bytes
        assert cols["quality_score"][i] == pytest.approx(e.quality_score, rel=1e-12)
        if e.speed is None:
            assert np.isnan(cols["decode_tokens_per_s"][i])
            continue
        assert cols["decode_tokens_per_s"][i] == pytest.approx(e.speed.decode_tokens_per_s, rel=1e-9)
        assert cols["prefill_tokens_per_s"][i] == pytest.approx(e.speed.prefill_tokens_per_s, rel=1e-9)
        assert cols["ttft_s"][i] == pytest.approx(e.speed.ttft_s, rel=1e-9)
        assert cols["decode_high"][i] == pytest.approx(e.speed.decode_band.high, rel=1e-9)
        assert cols["prefill_low"][i] == pytest.approx(e.speed.prefill_band.low, rel=1e-9)
        assert cols["energy_j_per_response"][i] == pytest.approx(e.speed.energy_j_per_response, rel=1e-9)
        assert DECODE_BOUNDS[cols["decode_bound_code"][i]] == e.speed.decode_bound
        assert cols["gpu_layers"][i] == e.speed.gpu_layers
        checked += 1
    assert checked > 5000


@pytest.mark.parametrize("n_cpu_moe", [None, 3])
def test_grid_matches_expert_offload_rows(catalog, n_cpu_moe):
    """Every MoE × file type × discrete-GPU row (where expert offload happens) agrees with evaluate."""
    from advisor.records import Workload

    models = [m for m in catalog.models.values() if m.n_experts]
    gpus = [d for d in catalog.devices.values() if d.gpu and d.gpu.discrete]
    w = Workload(n_cpu_moe=n_cpu_moe)
    grid = evaluate_grid_arrays(catalog, gpus, w, models=models)
    cols = grid.columns
    offloaded = 0
    for i in range(len(grid)):
        e = evaluate(catalog.models[grid.model_ids[i]], catalog.file_types[grid.quant_ids[i]], catalog.devices[grid.device_ids[i]], w, catalog)
        assert FIT_CODES[cols["fit_code"][i]] == e.fit
        assert cols["n_cpu_moe"][i] == e.memory.n_cpu_moe
        offloaded += e.memory.n_cpu_moe > 0
        if e.speed is None:
            continue
        assert cols["decode_tokens_per_s"][i] == pytest.approx(e.speed.decode_tokens_per_s, rel=1e-9)
        assert cols["prefill_tokens_per_s"][i] == pytest.approx(e.speed.prefill_tokens_per_s, rel=1e-9)
        assert DECODE_BOUNDS[cols["decode_bound_code"][i]] == e.speed.decode_bound
    assert offloaded > 20

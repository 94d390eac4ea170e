"""Calibration recovers known factors from data generated with them."""

import math
import random

import pytest

from advisor.engine.calibrate import Observation, calibrate_path, fit, predict
from advisor.records import Workload

TRUE = dict(bw_efficiency=0.42, fixed_s_per_layer=250e-6, prefill_efficiency=0.31)  # fixed: ~30% of a small model's token time


def _observations(catalog, factors, noise=0.0, seed=1):
    rng = random.Random(seed)
    device = catalog.device("raspberry-pi-5-8gb")
    out = []
    for mid in ("smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "qwen3-1.7b", "llama-3.2-3b-instruct", "gemma-3-1b-it"):
        for q in ("Q4_K_M", "Q8_0", "Q4_0"):
            m, f = catalog.model(mid), catalog.file_type(q)
            for metric, w in (("decode", Workload(4096, 1, 128)), ("prefill", Workload(4096, 512, 1))):
                o = Observation(m, f, device, w, metric, 1.0)
                v = predict(o, factors, catalog.ggml_types) * math.exp(rng.gauss(0, noise))
                out.append(Observation(m, f, device, w, metric, v))
    return out


def test_recovers_known_factors(catalog):
    prior = catalog.calibration["cpu-arm"].model_copy(update={"decode_compute_efficiency": 5.0})
    truth = prior.model_copy(update=TRUE)
    obs = _observations(catalog, truth)
    fitted, fd, fp = calibrate_path(obs, prior, catalog.ggml_types, basis="test")
    assert fitted.bw_efficiency == pytest.approx(TRUE["bw_efficiency"], rel=0.03)
    assert fitted.fixed_s_per_layer == pytest.approx(TRUE["fixed_s_per_layer"], rel=0.1)
    assert fitted.prefill_efficiency == pytest.approx(TRUE["prefill_efficiency"], rel=0.03)
    assert fd.log_rmse < 0.02 and fitted.n_measurements == len(obs)  # the weak prior leaves ~1%


def test_noise_gives_standard_errors_and_a_band(catalog):
    prior = catalog.calibration["cpu-arm"].model_copy(update={"decode_compute_efficiency": 5.0})
    obs = _observations(catalog, prior.model_copy(update=TRUE), noise=0.1)
    fitted, fd, fp = calibrate_path(obs, prior, catalog.ggml_types, basis="test")
    assert fitted.bw_efficiency == pytest.approx(TRUE["bw_efficiency"], rel=0.15)
    assert 0 < fd.param_se["bw_efficiency"] < 0.2
    assert 0.08 <= fitted.decode_band < 0.4


def test_prior_holds_without_data(catalog):
    prior = catalog.calibration["metal"]
    result = fit([], prior, catalog.ggml_types)
    assert result.factors == prior and result.n == 0

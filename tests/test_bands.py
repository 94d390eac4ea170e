"""The rule that sets the 80 % speed bands from held-out errors (engine.calibrate.band_from_heldout,
benchmarks/published.heldout_bands): a band must hold its stated share of *new* measurements."""

import math
import random

import pytest

from advisor.engine.calibrate import Observation, band_from_heldout, conformal_rank_ok
from advisor.records import Workload
from benchmarks import published


@pytest.mark.parametrize(("n", "rank"), [(4, 4), (5, 5), (6, 6), (9, 8), (10, 9), (19, 16), (20, 17)])
def test_band_is_the_conformal_rank(n, rank):
    """The ⌈0.8 (n + 1)⌉-th smallest of n held-out errors, not the ⌈0.8 n⌉-th."""
    errs = [math.log(1 + 0.1 * i) for i in range(1, n + 1)]
    random.Random(n).shuffle(errs)
    assert band_from_heldout(errs) == pytest.approx(0.1 * rank)


@pytest.mark.parametrize(("weight", "ok"), [(1, False), (3, False), (3.9, False), (4, True), (10, True)])
def test_enough_errors_for_an_80_percent_band(weight, ok):
    assert conformal_rank_ok(weight) is ok


@pytest.mark.parametrize("n", [4, 5, 6, 8, 12])
def test_band_covers_80_percent_of_a_new_error(n):
    """Exchangeable errors: the band set from n of them holds the next one ≥ 80 % of the time
    (the empirical ⌈0.8 n⌉-th error held 67 % at n = 5)."""
    rng = random.Random(11)
    trials, inside = 4000, 0
    for _ in range(trials):
        errs = [rng.gauss(0, 0.4) for _ in range(n + 1)]
        inside += abs(errs[-1]) <= math.log1p(band_from_heldout(errs[:-1], minimum=0.0))
    assert inside / trials >= 0.78


def _held(catalog, device: str, path: str, err: float) -> published.HeldOut:
    o = Observation(catalog.model("qwen3-0.6b"), catalog.file_type("Q4_0"), catalog.device("raspberry-pi-5-8gb"),
                    Workload(4096, 1, 128), "decode", 10.0)
    return published.HeldOut(published.PublishedRow(o, "x", device, {}), path, 10.0 * math.exp(err), err, True)


def test_pooled_band_weighs_devices_not_rows(catalog):
    """Five well-measured devices with 10 rows each (errors 1 %) and five devices of sparse paths
    with one row each (errors ×3): a path without its own band is like "a device", so the pooled
    band must be set by the devices (×3), not by the 50 small rows."""
    held = [_held(catalog, f"m{d}", "metal", 0.01) for d in range(5) for _ in range(10)]
    held += [_held(catalog, f"s{d}", p, math.log(3)) for d, p in enumerate(["vulkan", "cuda", "opencl", "cpu-x86", "cpu-arm"])]
    own, pooled, widened = published.heldout_bands(held, "decode")
    assert pooled == pytest.approx(2.0)
    # a device's rows err alike here (intraclass correlation 1): each device counts once, and 5
    # devices suffice for an 80 % rank: its own band (at the 5 % floor)
    assert own == {"metal": pytest.approx(0.05)} and widened == frozenset()
    fewer = published.heldout_bands([h for h in held if h.row.device_key not in ("m3", "m4")], "decode")
    assert fewer.of("metal") == (fewer.pooled, "pooled")  # 3 devices of 10 alike rows are 3 errors, too few for the rank


def test_a_devices_rows_count_by_how_alike_they_err(catalog):
    """Kish's design effect: two devices of five rows each count as ten errors when their rows err
    independently (every device's mean error alike), as two when a device's rows err alike — then
    too few for a band of their own: the pooled band (set here by ten other devices' 1 % errors:
    ×1.105), widened to the rows' own rank."""
    others = [_held(catalog, f"m{d}", "metal", 0.01) for d in range(10)]
    spread = [0.1, -0.1, 0.2, -0.2, 0.15]
    independent = [_held(catalog, d, "vulkan", e) for d in ("a", "b") for e in spread]
    own, pooled, widened = published.heldout_bands(independent + others, "decode")
    assert pooled == pytest.approx(math.exp(0.1) - 1)
    assert own["vulkan"] == pytest.approx(math.exp(0.2) - 1)  # its own band: the 9th of 10 |errors|, ⌈0.8 · 11⌉
    assert "vulkan" not in widened
    alike = [_held(catalog, "a", "vulkan", 0.1) for _ in range(5)] + [_held(catalog, "b", "vulkan", -0.3) for _ in range(5)]
    own, pooled, widened = published.heldout_bands(alike + others, "decode")
    assert pooled == pytest.approx(math.exp(0.1) - 1)
    assert own["vulkan"] == pytest.approx(math.exp(0.3) - 1)  # the pooled band widened to the rows' rank
    assert published.heldout_bands(alike + others, "decode").of("vulkan") == (pytest.approx(math.exp(0.3) - 1), "widened")


def test_a_path_with_too_few_rows_takes_the_pooled_band(catalog):
    """Two devices, three rows: too few for an 80 % rank; the path borrows the pooled band."""
    held = [_held(catalog, "a", "vulkan", 0.1), _held(catalog, "a", "vulkan", 0.2), _held(catalog, "b", "vulkan", 0.3)]
    held += [_held(catalog, f"d{d}", "metal", 0.5) for d in range(6)]
    own, pooled, widened = published.heldout_bands(held, "decode")
    assert "vulkan" not in own and own["metal"] == pytest.approx(math.exp(0.5) - 1)
    assert published.heldout_bands(held, "decode").of("vulkan") == (pooled, "pooled")
    assert pooled == pytest.approx(math.exp(0.5) - 1)


def test_intra_device_correlation_by_hand():
    """One-way ANOVA intraclass correlation of held-out errors grouped by device (hand-computed):
    [[0, 2], [2, 4]]: group means 1, 3, grand mean 2; MSB = (2·1 + 2·1)/1 = 4, MSW = 4/2 = 2, m0 = 2,
    so ρ = (4 − 2)/(4 + 2) = 1/3."""
    from advisor.engine.calibrate import intra_device_correlation

    assert intra_device_correlation([[0, 2], [2, 4]]) == pytest.approx(1 / 3)
    assert intra_device_correlation([[1, 1], [-1, -1]]) == 1.0  # a device's rows err alike
    assert intra_device_correlation([[1, -1], [1, -1]]) == 0.0  # negative estimate clamped
    assert intra_device_correlation([[0.3, 0.1]]) == 1.0  # one device: nothing to compare, the cautious 1
    assert intra_device_correlation([[float("nan")], [0.2, 0.4], [0.1]]) == intra_device_correlation([[0.2, 0.4], [0.1]])


def test_a_path_short_of_devices_keeps_at_least_its_own_rows_errors(catalog):
    """Three devices whose rows err alike are too few for a band of their own: the path takes the
    pooled band, widened to the rank of its own six rows where they err more (the x86 CPUs)."""
    held = [_held(catalog, f"x{d}", "cpu-x86", e) for d, errs in enumerate([[0.5, 0.5, 0.5, 0.5], [0.1], [0.1]]) for e in errs]
    held += [_held(catalog, f"m{d}", "metal", 0.1) for d in range(6)]
    own, pooled, widened = published.heldout_bands(held, "decode")
    assert pooled < math.exp(0.5) - 1
    assert own["cpu-x86"] == pytest.approx(math.exp(0.5) - 1) and widened == {"cpu-x86"}  # the 6th of 6 rows: ⌈0.8 · 7⌉
    narrow = [_held(catalog, f"x{d}", "cpu-x86", e) for d, errs in enumerate([[0.01] * 4, [0.01], [0.01]]) for e in errs]
    own, pooled, widened = published.heldout_bands(narrow + held[6:], "decode")
    assert published.heldout_bands(narrow + held[6:], "decode").of("cpu-x86") == (pooled, "pooled")  # never narrower


def test_the_band_high_end_stops_at_the_memory_roofline(catalog):
    """A prior's ×2 band put MNN's Qwen3-1.7B int4 on a Raspberry Pi 5 at up to 20.9 tok/s, while
    its 0.94 GB per token over the Pi's 17.1 GB/s cannot go past 18.2: the high end stops at the
    bandwidth (at efficiency 1, no compute, no fixed cost), the estimate and the low end stay."""
    from advisor.api import run_predict
    from advisor.records import Workload

    def predict(model, quant, device_id, runtime=None):
        return run_predict(model, quant, catalog.device(device_id), Workload(), catalog, runtime_id=runtime)

    pi = catalog.device("raspberry-pi-5-8gb")
    est = predict("qwen3-1.7b", "int4", "raspberry-pi-5-8gb", runtime="mnn")
    s = est.speed
    roof = pi.memory.bandwidth_gbs * 1e9 / s.bytes_per_token
    assert s.decode_band.high == pytest.approx(roof, rel=1e-6)  # capped: (1 + band) × estimate is above it
    assert s.decode_tokens_per_s * 2 > roof and s.decode_band.low < s.decode_tokens_per_s < s.decode_band.high
    # every estimate on memory-bound CPU devices (models larger than any cache): never past the roofline
    for device_id in ("raspberry-pi-5-8gb", "mini-pc-intel-n100-8gb", "pixel-8", "orange-pi-5-8gb"):
        dev = catalog.device(device_id)
        for model, quant, runtime in (("qwen2.5-1.5b-instruct", "Q4_K_M", None), ("llama-3.2-3b-instruct", "Q8_0", None),
                                      ("qwen3-1.7b", "int4", "mnn")):
            e = predict(model, quant, device_id, runtime=runtime)
            assert e.speed is not None
            assert e.speed.decode_band.high <= dev.memory.bandwidth_gbs * 1e9 / e.speed.bytes_per_token * (1 + 1e-9)


def test_no_published_decode_is_past_the_roofline_the_band_stops_at(catalog):
    """The cap is physics, not a guess: none of the published decode rows the bands are checked on
    decodes faster than its device's bandwidth over the bytes a token reads."""
    from advisor.engine.evaluate import evaluate

    rows = [r for r in published.load_rows(catalog) if r.observation is not None and r.observation.metric == "decode"]
    assert len(rows) > 30
    for r in rows:
        o = r.observation
        est = evaluate(o.model, o.ftype, o.device, o.workload, catalog)
        if est.speed is None:
            continue
        gpu = o.device.gpu
        on_vram = gpu is not None and gpu.discrete and est.speed.gpu_layers > 0
        if on_vram and est.speed.gpu_layers < o.model.n_layers:
            continue  # split between VRAM and host memory: no single bandwidth
        bandwidth = gpu.vram_bandwidth_gbs if on_vram else o.device.memory.bandwidth_gbs
        assert o.value <= bandwidth * 1e9 / est.speed.bytes_per_token, (r.device_key, o.model.id, o.value)

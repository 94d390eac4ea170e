"""Properties that must hold for any input (hypothesis)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.engine import memory as mem
from advisor.engine.evaluate import evaluate, generic_device
from advisor.engine.recommend import recommend
from advisor.records import Workload
from advisor.units import GIB, MIB

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ids(catalog):
    return sorted(catalog.models)


@SETTINGS
@given(data=st.data())
def test_more_memory_never_fits_fewer_models(catalog, data):
    ram = data.draw(st.integers(min_value=512 * MIB, max_value=32 * GIB))
    more = data.draw(st.integers(min_value=ram, max_value=64 * GIB))
    templates = list(catalog.devices.values())
    w = Workload(context_tokens=2048, prompt_tokens=256, output_tokens=128)
    small = recommend(generic_device(ram, templates), w, catalog)
    big = recommend(generic_device(more, templates), w, catalog)
    assert {e.model_id for e in small.ranked} <= {e.model_id for e in big.ranked}


@SETTINGS
@given(data=st.data())
def test_longer_context_never_needs_less_memory(catalog, data):
    model = catalog.model(data.draw(st.sampled_from(_ids(catalog))))
    ftype = catalog.file_type(data.draw(st.sampled_from(sorted(catalog.file_types))))
    ctx = data.draw(st.integers(min_value=256, max_value=65536))
    longer = data.draw(st.integers(min_value=ctx, max_value=131072))
    kv = data.draw(st.sampled_from(["f16", "q8_0", "q4_0"]))
    a = mem.estimate_memory(model, ftype, catalog.ggml_types, Workload(ctx, 1, 1, kv_cache_type=kv))
    b = mem.estimate_memory(model, ftype, catalog.ggml_types, Workload(longer, 1, 1, kv_cache_type=kv))
    assert b.total_bytes >= a.total_bytes
    assert b.kv_cache_bytes >= a.kv_cache_bytes


# File types ordered by the bits of their base type; a bigger type never weighs less.
ORDER = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_K_S", "Q4_K_M", "Q4_1", "Q5_0", "Q5_K_S", "Q5_K_M",
         "Q5_1", "Q6_K", "Q8_0", "F16", "F32"]


def _k_quant_friendly(m) -> bool:
    """Rows divisible by the 256-weight K-quant block: no fallback types in any file type."""
    return m.hidden_size % 256 == 0 and all(m.ffn(i) % 256 == 0 for i in range(m.n_layers)) and (m.n_heads * m.head_dim) % 256 == 0


@SETTINGS
@given(data=st.data())
def test_bigger_quant_never_weighs_less(catalog, data):
    """Holds where every K-quant block divides the rows; see the inversion test below."""
    model = catalog.model(data.draw(st.sampled_from([i for i in _ids(catalog) if _k_quant_friendly(catalog.model(i))])))
    weights = [mem.weights_bytes(model, catalog.file_type(q), catalog.ggml_types) for q in ORDER]
    # K-quant _S/_M/_L and legacy types interleave by a few percent; the ladder must be monotone
    # within each family and across the big steps.
    for lo, hi in [("Q2_K", "Q3_K_S"), ("Q3_K_S", "Q3_K_M"), ("Q3_K_M", "Q3_K_L"), ("Q4_K_S", "Q4_K_M"),
                   ("Q5_K_S", "Q5_K_M"), ("Q4_0", "Q4_1"), ("Q5_0", "Q5_1"), ("Q4_K_M", "Q5_K_M"),
                   ("Q5_K_M", "Q6_K"), ("Q6_K", "Q8_0"), ("Q8_0", "F16"), ("F16", "F32"), ("Q3_K_L", "Q4_K_M")]:
        assert weights[ORDER.index(lo)] <= weights[ORDER.index(hi)], (model.id, lo, hi)


@SETTINGS
@given(data=st.data())
def test_more_bandwidth_never_decodes_slower(catalog, data):
    device = catalog.device(data.draw(st.sampled_from(sorted(catalog.devices))))
    model = catalog.model(data.draw(st.sampled_from(_ids(catalog))))
    ftype = catalog.file_type("Q4_K_M")
    w = Workload(context_tokens=2048, prompt_tokens=128, output_tokens=64)
    faster = device.model_copy(update={"memory": device.memory.model_copy(update={"bandwidth_gbs": device.memory.bandwidth_gbs * 2})})
    a = evaluate(model, ftype, device, w, catalog)
    b = evaluate(model, ftype, faster, w, catalog)
    if a.speed and b.speed:
        assert b.speed.decode_tokens_per_s >= a.speed.decode_tokens_per_s * 0.999


@SETTINGS
@given(data=st.data())
def test_longer_prompt_never_reaches_first_token_sooner(catalog, data):
    device = catalog.device(data.draw(st.sampled_from(sorted(catalog.devices))))
    model = catalog.model(data.draw(st.sampled_from(_ids(catalog))))
    p = data.draw(st.integers(min_value=1, max_value=2000))
    q = data.draw(st.integers(min_value=p, max_value=4000))
    ftype = catalog.file_type("Q4_0")
    a = evaluate(model, ftype, device, Workload(8192, p, 16), catalog)
    b = evaluate(model, ftype, device, Workload(8192, q, 16), catalog)
    if a.speed and b.speed and a.fit == b.fit:
        assert b.speed.ttft_s >= a.speed.ttft_s * 0.999


def test_fallback_inverts_the_ladder_for_odd_widths(catalog):
    """MobileLLM-1.5B (hidden 1600 = 6.25 × 256): Q2_K/Q3_K tensors with 1600-wide rows fall back
    to Q4_0 (llama.cpp: "falling back to q4_0"), and Q2_K's upgraded attn_v (Q4_K → Q5_0) makes its
    file heavier than Q3_K_S. A bytes-per-weight constant cannot see this; the per-tensor mix does
    (the fallback rules are checked against llama.cpp's quantizer in tests/test_twins.py)."""
    m = catalog.model("mobilellm-1.5b")
    q2 = mem.weights_bytes(m, catalog.file_type("Q2_K"), catalog.ggml_types)
    q3s = mem.weights_bytes(m, catalog.file_type("Q3_K_S"), catalog.ggml_types)
    assert q2 > q3s


def _exhaustive_best(model, quants, device, workload, catalog, constraints):
    """The best passing candidate by trying every one (what best_quant's pruned search must equal)."""
    from advisor.engine import recommend as rec
    from advisor.engine.runtimes import Variant

    best = None
    for q in quants:
        v = q if isinstance(q, Variant) else None
        est = evaluate(model, v.format if v else q, device, workload, catalog, variant=v)
        passes = rec._check(est, model, workload, constraints, tables=catalog, choice=q) is None
        if passes and (best is None or rec._rank_key(est, constraints.target_decode_tps) > rec._rank_key(best, constraints.target_decode_tps)):
            best = est
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(data=st.data())
def test_pruned_search_finds_the_exhaustive_best(catalog, data):
    """best_quant finishes (speed, checks) only candidates whose fit and quality could still beat
    the best so far; its answer must be the one trying every candidate gives, ties included."""
    from hypothesis import assume

    from advisor.api import make_deployment
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints, best_quant, candidate_variants
    from advisor.engine.runtimes import runs_model
    from advisor.errors import AdvisorError

    device = catalog.device(data.draw(st.sampled_from(sorted(catalog.devices))))
    model = catalog.model(data.draw(st.sampled_from(_ids(catalog))))
    deployment = None
    target = data.draw(st.sampled_from([None, *sorted(catalog.targets)]))
    if target is not None:
        try:
            deployment = make_deployment(device, target, catalog=catalog)
        except AdvisorError:
            assume(False)  # the target does not run on this device
        device = deployment.device
    c = Constraints(runtimes=ALL_RUNTIMES, target_decode_tps=data.draw(st.sampled_from([0.0, 5.0, 30.0, 200.0])),
                    min_decode_tps=data.draw(st.sampled_from([None, 2.0, 20.0])), deployment=deployment,
                    quality_floor=data.draw(st.sampled_from([None, 20.0, 50.0])),
                    max_download_bytes=data.draw(st.sampled_from([None, 500 * MIB, 2 * GIB])),
                    allow_offload=data.draw(st.booleans()))
    w = Workload(context_tokens=data.draw(st.sampled_from([2048, 4096, 32768])))
    quants = [q for q in candidate_variants(device, catalog, c) if runs_model(q, model)]
    best, failures = best_quant(model, quants, device, w, catalog, c)
    expected = _exhaustive_best(model, quants, device, w, catalog, c)
    assert (best is None) == (expected is None)
    if best is not None:
        assert (best.runtime, best.quant_id, best.speed.decode_tokens_per_s) == (
            expected.runtime, expected.quant_id, expected.speed.decode_tokens_per_s)
    else:  # nothing passes: every candidate was tried, so every failure is there
        assert len(failures) == len(quants)

"""The quality score (advisor/engine/quality.py): the bits per weight a runtime format's quality is
read at, and the wording of the evidence behind a model's score."""

import pytest

from advisor.engine import quality
from advisor.engine.evaluate import quality_table
from advisor.records import TensorQuant

# --------------------------------------------------------------------------- bits that carry precision


# bits + (min(scale_bits, 16) + min(zero_bits, 16)) / group; per-row and per-tensor scales left out.
@pytest.mark.parametrize(
    "layout, storage_bpw, quality_bpw",
    [
        (dict(bits=4, group=32, scale_bits=16, values_per_word=8), 4.5, 4 + 16 / 32),  # MLC q4f16_1
        (dict(bits=4, group=32, scale_bits=32, values_per_word=8), 5.0, 4 + 16 / 32),  # MLC q4f32_1: fp32 scale counts 16
        (dict(bits=3, group=40, scale_bits=16, values_per_word=10), 3.6, 3 + 16 / 40),  # MLC q3f16_1: 3 bits, not 32/10 stored
        (dict(bits=4, group=128, scale_bits=16, zero_bits=4, values_per_word=8), 4.15625, 4 + 20 / 128),  # q4f16_autoawq
        (dict(bits=4, group=32, scale_bits=32, zero_bits=4), 5.125, 4 + (16 + 4) / 32),  # ORT int4-asym
        (dict(bits=4, group=32, scale_bits=16), 4.5, 4.5),  # ORT int4-fp16
        (dict(bits=8, group=32, scale_bits=32), 9.0, 8 + 16 / 32),  # ORT int8
        (dict(bits=4, group=128, scale_bits=32), 4.25, 4 + 16 / 128),  # ExecuTorch 8da4w
        (dict(bits=4, group=64, scale_bits=32, zero_bits=32), 5.0, 4 + 32 / 64),  # MNN int4-block64
        (dict(bits=4, group=64, scale_bits=16, zero_bits=16), 4.5, 4.5),  # MLX 4bit (fp16 scale and bias)
        (dict(bits=4, group=32, scale_bits=8), 4.25, 4.25),  # MLX mxfp4 (E8M0 scale)
        (dict(bits=8, group=0, scale_bits=32), 8.0, 8.0),  # ExecuTorch 8da8w: per-row scale left out
        (dict(bits=8, group="tensor", scale_bits=16), 8.0, 8.0),  # MLC e4m3: one scale per tensor
        (dict(bits=16), 16.0, 16.0),  # unquantized
    ],
)
def test_quality_bits_per_weight_charges_scales_at_most_16_bits(layout, storage_bpw, quality_bpw):
    """The storage figure (memory, sizes, ``advisor runtimes``) is unchanged; quality reads its own."""
    q = TensorQuant(**layout)
    assert q.bits_per_weight == pytest.approx(storage_bpw)
    assert quality.quality_bits_per_weight(q) == pytest.approx(quality_bpw)


def test_an_fp32_scale_scores_as_an_fp16_scale_but_still_weighs_more(catalog):
    """q4f32_1 and q4f16_1 differ only in the scale's storage (fp32 vs fp16): the same quality for
    every model (q4f32_1 scored higher before: 18.34 vs 18.23 for Llama-3.2-1B, read at 5.0 bpw),
    while the weights still take q4f32_1's extra 0.5 bit per weight."""
    qt = quality_table(catalog)
    mlc = catalog.runtime("mlc")
    f16, f32 = catalog.runtime_format("mlc", "q4f16_1"), catalog.runtime_format("mlc", "q4f32_1")
    for m in catalog.models.values():
        assert qt.score(m, f32) == qt.score(m, f16), m.id
    m = catalog.model("llama-3.2-1b-instruct")
    assert round(qt.score(m, f32), 2) == 18.23
    assert catalog.derived.runtime_weights(m, mlc, f32).total_bytes > catalog.derived.runtime_weights(m, mlc, f16).total_bytes


@pytest.mark.parametrize(
    "runtime, fmt, expected",
    [("ort-genai", "int4-asym", 53.1), ("mlc", "q3f16_1", 44.2), ("mlc", "q4f16_1", 53.1)],
)
def test_runtime_format_scores_worked_by_hand(catalog, runtime, fmt, expected):
    """Llama-3.1-8B-Instruct: MMLU 69.4, 66.7, 68.1 → 68.07 → score 100 × 43.07 / 75 = 57.42; its
    8.03 B parameters are the reference's, so (P_ref / P)^0.3 = 1.00 and the score is 57.42 × (1 − rel),
    rel = Δppl / 6.233 of the group-wise GGUF points (Q4_0 4.5 bpw 0.4685 → 0.07516, Q4_1 5.0 bpw
    0.4511 → 0.07237, Q5_0 5.5 bpw 0.1316 → 0.02111), log-interpolated, below 4.5 × (4.5 / b)^4.

    * ORT int4-asym (int4 values, fp32 scale, 4-bit zero, group 32): 4 + (16 + 4) / 32 = 4.625 bits,
      a quarter of the way from Q4_0 to Q4_1: rel = 0.07516^0.75 × 0.07237^0.25 = 0.07446,
      57.42 × 0.92554 = 53.1. (Before: 4 + (32 + 4) / 32 = 5.125, a quarter of the way from Q4_1 to
      Q5_0: rel = 0.07237^0.75 × 0.02111^0.25 = 0.05319 → 54.4, above q4f16_1 for a wider scale.)
    * MLC q3f16_1 (3-bit values, 10 to a 32-bit word, fp16 scale, group 40): 3 + 16 / 40 = 3.4 bits,
      rel = 0.07516 × (4.5 / 3.4)^4 = 0.07516 × 3.0686 = 0.2306, 57.42 × 0.7694 = 44.2. (Before: the
      word's 2 unused bits counted, 32 / 10 + 16 / 40 = 3.6: 0.07516 × 2.4414 = 0.1835 → 46.9.)
    * MLC q4f16_1: 4 + 16 / 32 = 4.5 = Q4_0: rel 0.07516, 57.42 × 0.92484 = 53.1 (unchanged)."""
    qt = quality_table(catalog)
    model = catalog.model("llama-3.1-8b-instruct")
    assert round(qt.score(model, catalog.runtime_format(runtime, fmt)), 1) == expected


# --------------------------------------------------------------------------- evidence wording


@pytest.mark.parametrize(
    "model_id, basis",
    [
        ("qwen2.5-1.5b-instruct", "published 5-shot MMLU (1 figure, base model)"),  # Qwen2.5-1.5B's 60.9
        ("qwen3-1.7b", "published 5-shot MMLU (1 figure, base model)"),  # Qwen3-1.7B-Base's 62.63
        ("granite-3.1-8b-instruct", "published 5-shot MMLU (1 figure)"),  # the instruct model's own
        ("llama-3.2-1b-instruct", "published 5-shot MMLU (2 figures)"),  # instruct 49.3 and base 32.2
        ("llama-3.1-8b-instruct", "published 5-shot MMLU (3 figures)"),
    ],
)
def test_the_basis_says_when_the_only_figure_is_the_base_models(catalog, model_id, basis):
    assert quality_table(catalog).base[model_id].basis == basis


def test_an_estimated_score_has_no_figure_count(catalog):
    basis = quality_table(catalog).base["smollm2-360m-instruct"].basis
    assert basis.startswith("no published 5-shot MMLU: conservative estimate") and "figure" not in basis


def test_the_basis_names_the_shot_counts_of_its_figures(catalog):
    """A 0-shot MMLU figure counts (published_mmlu_entries) and the basis says so rather than
    calling it 5-shot."""
    from advisor.engine.quality import base_quality

    model = catalog.model("granite-3.1-8b-instruct")
    five = next(q for q in model.quality if q.benchmark == "MMLU" and q.shots == 5)
    zero = five.model_copy(update={"shots": 0, "value": five.value - 2})
    fit = quality_table(catalog).fit
    assert base_quality(model.model_copy(update={"quality": (zero,)}), fit).basis == "published 0-shot MMLU (1 figure)"
    mixed = base_quality(model.model_copy(update={"quality": (five, zero)}), fit)
    assert mixed.basis == "published 0 and 5-shot MMLU (2 figures)" and mixed.mmlu_equivalent == pytest.approx(five.value - 1)

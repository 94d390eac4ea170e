"""A quality score comparable across models, and how quantization lowers it.

See catalog/QUALITY.md for the method. In short:

1. Each model's *MMLU-equivalent* is the mean of its published 5-shot MMLU figures (base or
   instruct, any harness). Models without one get a conservative estimate: a fit of MMLU on
   log10(parameters) and release year over the models that have one, minus one residual standard
   deviation (an unmeasured model should not outrank a measured one on a guess); it is marked.
2. The ranking score is chance-corrected: ``100 × (mmlu − 25) / 75`` (0 = guessing, 100 = perfect).
3. A quantized file loses ``score × loss``, with
   ``loss = min(0.95, κ × Δppl/ppl_F16 × (P_ref / P)^α)``: the relative perplexity increase
   llama.cpp measured for that file type on Llama-3-8B, scaled up for smaller models, which are
   more sensitive to quantization. A runtime's own format (MLC, MLX, ONNX, ExecuTorch …) takes the
   Δppl of the group-wise GGUF types at the bits per weight that carry precision
   (``quality_bits_per_weight``: value bits plus scales and zero points of at most 16 bits each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from advisor.records import FileType, GgmlType, ModelSpec, QualityEntry, TensorQuant

CHANCE_MMLU = 25.0

#: Wikitext-2 perplexity of Llama-3-8B at F16 (llama.cpp examples/perplexity/README.md, "LLaMA 3
#: 8b Scoreboard"; value recalled as 6.233, not re-read this session).
PPL_F16_LLAMA3_8B = 6.233
#: Parameter count of the model the perplexity deltas were measured on.
PPL_REFERENCE_PARAMS = 8.03e9
#: Relative quality loss per relative perplexity increase (assumption: 1:1).
KAPPA = 1.0
#: Sensitivity exponent: a model 16× smaller loses 16^0.3 ≈ 2.3× more (assumption, consistent
#: with the common observation that sub-2B models degrade more under 4-bit quantization).
ALPHA = 0.3
#: Cap on the share of the score quantization can take (assumption: a 1-bit file keeps a little).
MAX_LOSS = 0.95
#: Below the smallest bits per weight with a measured Δppl, Δppl is extrapolated as
#: (b_min / b)^BELOW_RANGE_EXPONENT. The catalog's own figures rise about this steeply at the low
#: end: IQ3_XXS (3.06 bpw, Δppl 1.23) → IQ2_XXS (2.06 bpw, Δppl 7.86) is a slope of −4.7 in
#: log-log; 4 is that slope rounded down (assumption). Every shipped type is measured, so this
#: serves only a user's file type below IQ1_S's 1.56 bpw.
BELOW_RANGE_EXPONENT = 4
#: Release year the size fit is centred on, and the year assumed when a release date is missing.
YEAR_ORIGIN = 2024


@dataclass(frozen=True, slots=True)
class BaseQuality:
    mmlu_equivalent: float
    score: float
    #: "published 5-shot MMLU (n figures)" (the shot counts of the figures: "0 and 5-shot" where mixed),
    #: "(1 figure, base model)" when only the base model's
    #: figures exist, or "no published 5-shot MMLU: conservative estimate … (fit on n models …)"
    basis: str


def published_mmlu_entries(model: ModelSpec) -> list[QualityEntry]:
    """The quality entries the MMLU-equivalent averages."""
    return [q for q in model.quality if q.benchmark == "MMLU" and (q.shots in (0, 5))]


def published_mmlu(model: ModelSpec) -> list[float]:
    return [q.value for q in published_mmlu_entries(model)]


def evidence_count(entries: Sequence[QualityEntry]) -> str:
    """'1 figure', '2 figures'; ', base model' added when every figure is the base model's (the
    instruct model a user runs has no figure of its own: Qwen2.5-1.5B-Instruct scores as the
    base Qwen2.5-1.5B's 60.9)."""
    words = f"{len(entries)} figure{'s' if len(entries) > 1 else ''}"
    if entries and all(q.variant == "base" for q in entries):
        words += ", base model"
    return words


def _release_year(model: ModelSpec) -> float | None:
    """The release date as a fractional year; None when it is not known (an imported model)."""
    try:
        year, month = model.release_date[:7].split("-")
        return int(year) + (int(month) - 1) / 12
    except ValueError:
        return None


def _year(model: ModelSpec) -> float:
    """_release_year, YEAR_ORIGIN when not known."""
    year = _release_year(model)
    return float(YEAR_ORIGIN) if year is None else year


@dataclass(frozen=True, slots=True)
class SizeFit:
    a: float
    b: float
    c: float
    n: int
    sd: float

    def predict(self, model: ModelSpec) -> float:
        return self.a + self.b * math.log10(quality_size(model)) + self.c * (_year(model) - YEAR_ORIGIN)


def quality_size(model: ModelSpec) -> float:
    """The size the quality fit reads: the parameter count of a dense model; for a mixture of
    experts the geometric mean of total and active parameters, the usual dense-equivalent rule
    of thumb (a sparse 30B-A3B scores like a dense ~10B, not a 30B). An assumption, not a fit:
    no MoE in the catalog has a published 5-shot MMLU yet. Gemma 3n counts without its
    per-layer-embedding table, as Google's "effective" sizes (E2B, E4B) do."""
    if model.per_layer_input_dims:
        return float(model.params - model.per_layer_input_dims * model.n_layers * model.vocab_size)
    if not model.n_experts:
        return float(model.params)
    from advisor.engine.tensors import active_params

    return math.sqrt(model.params * active_params(model))


def fit_size_model(models: Iterable[ModelSpec]) -> SizeFit:
    """Least squares MMLU ≈ a + b·log10(params) + c·(year − 2024) over models with a published MMLU."""
    rows = []
    for m in models:
        values = published_mmlu(m)
        if values:
            rows.append((1.0, math.log10(quality_size(m)), _year(m) - YEAR_ORIGIN, sum(values) / len(values)))
    n = len(rows)
    if n < 4:
        return SizeFit(a=0.0, b=0.0, c=0.0, n=n, sd=float("nan"))
    # normal equations for 3 unknowns
    xtx = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    xty = [sum(r[i] * r[3] for r in rows) for i in range(3)]
    coef = _solve3(xtx, xty)
    resid = [r[3] - (coef[0] + coef[1] * r[1] + coef[2] * r[2]) for r in rows]
    sd = math.sqrt(sum(e * e for e in resid) / max(1, n - 3))
    return SizeFit(a=coef[0], b=coef[1], c=coef[2], n=n, sd=sd)


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(3):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][3] / m[i][i] for i in range(3)]


def base_quality(model: ModelSpec, fit: SizeFit) -> BaseQuality:
    entries = published_mmlu_entries(model)
    if entries:
        mmlu = sum(q.value for q in entries) / len(entries)
        shots = sorted({q.shots for q in entries})
        basis = f"published {' and '.join(map(str, shots))}-shot MMLU ({evidence_count(entries)})"
    else:
        mmlu = fit.predict(model) - fit.sd
        year = "release year" if _release_year(model) is not None else f"release year (not known: {YEAR_ORIGIN} assumed)"
        basis = (f"no published 5-shot MMLU: conservative estimate from size and {year} "
                 f"(fit on {fit.n} models minus one s.d., ±{fit.sd:.1f} points)")
    mmlu = min(100.0, max(CHANCE_MMLU, mmlu))
    return BaseQuality(mmlu_equivalent=mmlu, score=100 * (mmlu - CHANCE_MMLU) / (100 - CHANCE_MMLU), basis=basis)


def relative_ppl_increase(ftype: FileType, ggml_types: Mapping[str, GgmlType], all_ftypes: Iterable[FileType]) -> float:
    """Δppl / ppl_F16 on Llama-3-8B; for file types without a published delta, interpolated in
    log space over bits per weight of the base type from the types that have one."""
    if ftype.ppl_delta is not None:
        return max(0.0, ftype.ppl_delta) / PPL_F16_LLAMA3_8B
    if ftype.base_type in ("F32", "F16", "BF16"):
        return 0.0
    bpw = ggml_types[ftype.base_type].bits_per_weight
    known = sorted(
        (ggml_types[f.base_type].bits_per_weight, f.ppl_delta / PPL_F16_LLAMA3_8B)
        for f in all_ftypes
        if f.ppl_delta and f.ppl_delta > 0 and f.base_type in ggml_types
    )
    return interpolate_rel_ppl(bpw, known)


#: GGUF types whose scheme matches the plain group-wise int formats of other runtimes (one scale,
#: optionally a zero, per block of 32): their measured Δppl stands in for a runtime format of the
#: same ``quality_bits_per_weight`` (assumption: MLC q4f16_1 is Q4_0's scheme exactly; MLX affine
#: g64, ORT MatMulNBits, ExecuTorch 8da4w are close relatives; no runtime publishes a Δppl table).
GROUPWISE_GGUF_TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0")


def groupwise_points(ggml_types: Mapping[str, GgmlType], all_ftypes: Iterable[FileType]) -> tuple[tuple[float, float], ...]:
    """(bits per weight, Δppl / ppl_F16) of the group-wise GGUF types with a measured Δppl, sorted:
    the points ``groupwise_rel_ppl`` interpolates."""
    return tuple(sorted(
        (ggml_types[f.base_type].bits_per_weight, f.ppl_delta / PPL_F16_LLAMA3_8B)
        for f in all_ftypes
        if f.id in GROUPWISE_GGUF_TYPES and f.ppl_delta and f.ppl_delta > 0 and f.base_type in ggml_types
    ))


#: Most bits a scale or a zero point counts for in ``quality_bits_per_weight``: an fp32 scale
#: (q4f32_1, ORT MatMulNBits, ExecuTorch 8da4w) counts as an fp16 one (q4f16_1). The GGUF types
#: these formats are read against all store fp16 scales, and a 4-bit value's rounding error
#: dwarfs an fp16 scale's, so the wider scale buys no accuracy the points could show (assumption).
MAX_QUALITY_SCALE_BITS = 16


def quality_bits_per_weight(quant: TensorQuant, max_scale_bits: int = MAX_QUALITY_SCALE_BITS) -> float:
    """Bits per weight that carry precision, for the quality estimate (not for sizes):
    ``bits + (min(scale_bits, m) + min(zero_bits, m)) / group`` for group-wise formats, ``bits``
    otherwise (per-row and per-tensor scales left out, as ``TensorQuant.bits_per_weight`` does),
    with m = ``max_scale_bits``. ``bits``, not the packing's ``storage_bits``: MLC int3's two
    unused bits per 32-bit word (3.2 stored) hold nothing. q4f16_1: 4 + 16/32 = 4.5; q4f32_1: 4 +
    min(32, 16)/32 = 4.5; ORT int4-asym: 4 + (16 + 4)/32 = 4.625; q3f16_1: 3 + 16/40 = 3.4.
    Memory and file sizes read ``TensorQuant.tensor_bytes`` (storage widths), never this."""
    if isinstance(quant.group, int) and quant.group > 0:
        return quant.bits + (min(quant.scale_bits, max_scale_bits) + min(quant.zero_bits, max_scale_bits)) / quant.group
    return float(quant.bits)


def groupwise_rel_ppl(bits_per_weight: float, points: Sequence[tuple[float, float]]) -> float:
    """Δppl / ppl_F16 of a runtime's own format, interpolated at its linear layers'
    ``quality_bits_per_weight`` over the group-wise GGUF types' ``points`` (no loss at 16 bits and above)."""
    if bits_per_weight >= 16:
        return 0.0
    return interpolate_rel_ppl(bits_per_weight, points)


def interpolate_rel_ppl(bpw: float, known: Sequence[tuple[float, float]]) -> float:
    """Log-space interpolation of (bits per weight, relative Δppl) points; below the range,
    (b_min / b)^BELOW_RANGE_EXPONENT; above it, the last point."""
    if not known:
        return 0.0
    if bpw <= known[0][0]:
        return known[0][1] * (known[0][0] / bpw) ** BELOW_RANGE_EXPONENT
    for (x0, y0), (x1, y1) in zip(known, known[1:]):
        if x0 <= bpw <= x1:
            w = (bpw - x0) / (x1 - x0) if x1 > x0 else 0
            return math.exp(math.log(y0) * (1 - w) + math.log(y1) * w)
    return known[-1][1]


def quantization_loss(model: ModelSpec, rel_ppl: float) -> float:
    """Fraction of the score lost: min(0.95, κ × rel_ppl × (P_ref / P)^α)."""
    scale = (PPL_REFERENCE_PARAMS / model.params) ** ALPHA
    return min(MAX_LOSS, KAPPA * rel_ppl * scale)


def quantized_score(base: BaseQuality, model: ModelSpec, rel_ppl: float) -> float:
    return base.score * (1 - quantization_loss(model, rel_ppl))

"""Fit the speed model's empirical factors to measurements (least squares in log space).

The parameters of one execution path or one device — achieved-bandwidth efficiency, decode
compute efficiency, prefill compute efficiency, fixed per-layer cost — are fitted by
Levenberg–Marquardt on log(predicted / measured), with a weak prior pulling each parameter
toward its default (so two measurements do not produce wild factors). Uncertainty: the
parameters' standard errors from the Gauss–Newton covariance ``s² (JᵀJ)⁻¹`` and the residual
spread, which becomes the prediction band.

Robustness (one bad run must not move the factors):

* a run whose repeats disagree is *noisy* (``is_noisy``: the fastest repeat more than
  NOISY_SPREAD_LIMIT × the slowest, or a coefficient of variation above NOISY_CV_LIMIT when only
  mean ± stddev are known) and is not fitted at all;
* the fit minimises the soft-L1 loss ρ(z) = 2(√(1+z) − 1), z = (log error / data_log_sd)², not
  the squared error: quadratic within one data SD, linear beyond, so a measurement 20× off pulls
  the factors with the weight of ~log(20)/0.1 instead of its square (scipy's ``soft_l1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from advisor.engine.evaluate import estimate_speed, for_measured_bandwidth, speed_candidate
from advisor.records import DeviceProfile, FileType, GgmlType, ModelSpec, PathFactors, Workload

if TYPE_CHECKING:
    import numpy as np

Metric = Literal["decode", "prefill"]

#: Parameters fitted per metric. Decode speed depends on bandwidth efficiency and the fixed
#: per-layer cost (and on compute efficiency when compute bound); prefill on compute efficiency.
DECODE_PARAMS = ("bw_efficiency", "fixed_s_per_layer", "decode_compute_efficiency")
PREFILL_PARAMS = ("prefill_efficiency",)

#: MAP weighting: each measurement's log error counts with this standard deviation (run-to-run
#: and model noise, ~10%), each parameter's prior with PRIOR_LOG_SD (a factor e² ≈ 7 either way).
DATA_LOG_SD = 0.1
PRIOR_LOG_SD = 1.0
#: Per-parameter prior widths (log space): achieved-bandwidth efficiency is physically bounded
#: (~0.2–0.9), so its prior is tighter; the compute efficiencies vary more, and the fixed
#: per-layer cost most: 15 µs (cpu-arm) to 176 µs (Metal) in the shipped fits and ~200 µs on the
#: 2-vCPU VM of benchmarks/results/validation.md, ×13 apart, hence e² ≈ 7 for one standard deviation.
PRIOR_LOG_SD_BY_PARAM = {"bw_efficiency": 0.5, "fixed_s_per_layer": 2.0, "prefill_fixed_s_per_layer": 2.0,
                         "decode_compute_efficiency": 1.0, "prefill_efficiency": 1.0,
                         "prefill_kquant_factor": 1.0, "prefill_float_factor": 1.0}

#: z for a two-sided 80% band.
Z80 = 1.2816

#: A run is noisy when its fastest repeat is more than this many times its slowest (repeats of a
#: quiet machine agree within a few %; the busy-machine run of issue 11 had 19.2 vs 0.89 tok/s).
NOISY_SPREAD_LIMIT = 1.5
#: The same rule for results that report only mean ± standard deviation (llama-bench's avg_ts,
#: stddev_ts): a coefficient of variation above this is as noisy as a 1.5× spread of 3 repeats.
NOISY_CV_LIMIT = 0.2

#: A run is busy when, on average over its repeats, other processes (and a VM's stolen time) used
#: more than the cores its threads left free plus this many: llama.cpp's threads spin at each
#: barrier, so a core they share with another job slows every token, however steady the repeats
#: (a 2-core VM running a test suite beside the run decoded SmolLM2-135M at 3 tok/s, 1.14× apart,
#: against ~80 quiet).
BUSY_EXTRA_CORES = 0.25
#: Repeats shorter than this are not judged: one wake-up of a daemon (a few ms) is a large share of
#: a 20 ms window, and a run that short says little of a model's speed anyway.
BUSY_MIN_WINDOW_S = 0.5


def is_busy(foreign_cores: float | None, cpu_count: int | None, threads: int, window_s: float | None = None) -> bool:
    """Whether other processes took more than the run's spare cores + BUSY_EXTRA_CORES over
    repeats of at least BUSY_MIN_WINDOW_S (False when not measured)."""
    if foreign_cores is None or not cpu_count or (window_s is not None and window_s < BUSY_MIN_WINDOW_S):
        return False
    return foreign_cores > max(0, cpu_count - threads) + BUSY_EXTRA_CORES


def profile_busy(device: DeviceProfile) -> bool:
    """Whether `advisor profile` measured ``device`` while other processes used more than is_busy
    allows (``busy_cores``; its benchmarks run a thread per core)."""
    return is_busy(device.busy_cores, max(device.cpu.threads, device.cpu.cores), device.cpu.cores)


Loss = Literal["linear", "soft_l1"]


def sample_spread(samples: Sequence[float]) -> float:
    """Fastest / slowest repeat (1.0 = perfect agreement); inf when a sample is not a positive
    finite number (a NaN or a zero rate is never trusted)."""
    vals = [float(v) for v in samples]
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        return math.inf
    return max(vals) / min(vals)


def is_noisy(samples: Sequence[float] = (), *, mean: float | None = None, stddev: float | None = None) -> bool:
    """True when repeats disagree beyond NOISY_SPREAD_LIMIT (or, for mean ± stddev results,
    beyond NOISY_CV_LIMIT). One sample cannot disagree with itself: never noisy."""
    if len(samples) >= 2 and sample_spread(samples) > NOISY_SPREAD_LIMIT:
        return True
    if mean is not None and stddev is not None and mean > 0 and math.isfinite(stddev):
        return stddev / mean > NOISY_CV_LIMIT
    return False


def robust_residuals(r: np.ndarray, loss: Loss) -> np.ndarray:
    """Residuals whose squares sum to the loss: soft-L1 maps r to sign(r)·√(2(√(1+r²) − 1))."""
    import numpy as np

    if loss == "linear":
        return r
    return np.sign(r) * np.sqrt(2 * (np.sqrt(1 + r * r) - 1))


@dataclass(frozen=True)
class Observation:
    model: ModelSpec
    ftype: FileType
    device: DeviceProfile
    workload: Workload
    metric: Metric
    value: float  # measured tokens/s
    label: str = ""
    weight: float = 1.0  # trust in the measurement: residuals count with this weight
    variant: Any = None  # engine.runtimes.Variant of a runtime other than llama.cpp (None: llama.cpp)
    #: the path's shipped factors when a fit is path-wide: a device whose bandwidth was measured
    #: then reads it at the factors' ratio to them, as ``evaluate.factors_for`` applies a path
    #: calibration (None: the factors are the device's own)
    shipped: PathFactors | None = None


@dataclass(frozen=True)
class FitResult:
    factors: PathFactors
    n: int
    log_rmse: float  # residual spread of log(pred/measured)
    param_se: Mapping[str, float]  # standard error of log(parameter)
    residuals: tuple[float, ...]


def predict(obs: Observation, factors: PathFactors, ggml_types: Mapping[str, GgmlType], candidate: Any = None) -> float:
    """The measured metric of ``obs`` as predicted under ``factors``; ``candidate``: its
    ``speed_candidate`` when already computed (``fit`` evaluates each observation hundreds of times,
    and the model × format terms are ~90 % of one evaluation)."""
    if obs.shipped is not None:
        factors = for_measured_bandwidth(obs.device, factors, shipped=obs.shipped)
    s = estimate_speed(obs.model, obs.ftype, ggml_types, obs.device, obs.workload, factors, variant=obs.variant,
                       candidate=candidate)
    return s.decode_tokens_per_s if obs.metric == "decode" else s.prefill_tokens_per_s


def same_prediction_groups(observations: Sequence[Observation]) -> tuple[list[int], list[Observation]]:
    """(for each observation the index of its group, one observation per group): observations
    whose prediction is the same under any factors (same model, file type, device, workload,
    metric, runtime variant and shipped factors; only the measured value differs)."""
    dumps: dict[int, str] = {}

    def content(record: Any) -> str:
        if record is None:
            return ""
        key = id(record)
        if key not in dumps:
            dumps[key] = record.model_dump_json() if hasattr(record, "model_dump_json") else repr(record)
        return dumps[key]

    groups: dict[tuple, int] = {}
    index: list[int] = []
    unique: list[Observation] = []
    for o in observations:
        key = (content(o.model), content(o.ftype), content(o.device), repr(o.workload), o.metric, content(o.variant),
               content(o.shipped))
        if key not in groups:
            groups[key] = len(unique)
            unique.append(o)
        index.append(groups[key])
    return index, unique


def predict_each(observations: Sequence[Observation], factors: PathFactors, ggml_types: Mapping[str, GgmlType]) -> list[float]:
    """``predict`` of each observation, each distinct one computed once (``same_prediction_groups``)."""
    index, unique = same_prediction_groups(observations)
    values = [predict(o, factors, ggml_types) for o in unique]
    return [values[i] for i in index]


def log_bounds(name: str) -> tuple[float, float]:
    """(lowest, highest) log of a PathFactors field the fit may reach: the field's own bounds
    (``records.MIN_FACTOR`` for the efficiencies and factors), so a fit never writes a calibration
    the store would refuse as damaged; inside e^-12 … e^3 (a cost of 6 µs … 20 s) otherwise."""
    low, high = math.exp(-12), math.exp(3)
    for bound in PathFactors.model_fields[name].metadata:
        low = max(low, getattr(bound, "ge", None) or getattr(bound, "gt", None) or low)
        high = min(high, getattr(bound, "le", None) or high)
    return math.log(low) + 1e-12, math.log(high) - 1e-12  # inside: exp(log(x)) may round past x


def _with(factors: PathFactors, names: Sequence[str], logs: Sequence[float]) -> PathFactors:
    return factors.model_copy(update={n: math.exp(v) for n, v in zip(names, logs)})


def family_params(observations: Sequence[Observation]) -> tuple[str, ...]:
    """The per-family prefill factors the runs identify: a family's factor is its speed beside
    another family's *on the same device*. Across devices it would also absorb whatever sets the
    devices apart (two CUDA rows, a legacy quant on an RTX 4080 and a K-quant on an RTX 3070,
    fitted K-quants 1.57x faster, where one H200 measured them at ~0.56x of F16)."""
    from advisor.engine.speed import weight_family

    by_device: dict[str, set[str]] = {}
    for o in observations:
        if o.metric == "prefill":
            by_device.setdefault(o.device.id, set()).add(weight_family(o.ftype.base_type))
    identified = set().union(*(fams for fams in by_device.values() if len(fams) > 1))
    return tuple(f"prefill_{f}_factor" for f in ("kquant", "float") if f in identified)


def fit(
    observations: Sequence[Observation],
    prior: PathFactors,
    ggml_types: Mapping[str, GgmlType],
    *,
    params: Sequence[str] | None = None,
    prior_log_sd: float | None = None,
    data_log_sd: float = DATA_LOG_SD,
    iterations: int = 60,
    loss: Loss = "soft_l1",
) -> FitResult:
    """MAP fit of ``params`` (default: those the observed metrics inform) to ``observations``,
    under ``loss`` (soft-L1 by default: see the module docstring)."""
    import numpy as np

    metrics = {o.metric for o in observations}
    if params is None:
        params = tuple(p for m, ps in (("decode", DECODE_PARAMS), ("prefill", PREFILL_PARAMS)) if m in metrics for p in ps)
        if "prefill" in metrics:
            params += family_params(observations)
    names = list(params)
    if not observations or not names:
        return FitResult(prior, 0, float("nan"), {}, ())
    start = {"prefill_fixed_s_per_layer": prior.prompt_fixed_s_per_layer}  # unset: the decode's
    bounds = np.array([log_bounds(n) for n in names])
    x0 = np.array([math.log(max(start.get(n, getattr(prior, n)), 1e-7)) for n in names])
    sd = np.array([prior_log_sd or PRIOR_LOG_SD_BY_PARAM.get(n, PRIOR_LOG_SD) for n in names])
    y = np.array([math.log(o.value) for o in observations])
    w = np.sqrt(np.array([o.weight for o in observations]))
    # observations that differ only in the measured value are predicted once: a store of 100 runs of
    # one model on one device took a minute to calibrate (a prediction per run per step)
    index, unique = same_prediction_groups(observations)
    candidates = [speed_candidate(o.model, o.ftype, ggml_types, o.workload, o.variant) for o in unique]
    where = np.array(index)

    def raw(x: np.ndarray) -> np.ndarray:
        f = _with(prior, names, x)
        logs = np.array([math.log(predict(o, f, ggml_types, c)) for o, c in zip(unique, candidates)])
        return (logs[where] - y) / data_log_sd

    def residuals(x: np.ndarray) -> np.ndarray:
        r = w * robust_residuals(raw(x), loss)
        return np.concatenate([r, (x - x0) / sd])  # prior as pseudo-observations

    def jacobian(x: np.ndarray, r0: np.ndarray) -> np.ndarray:
        j = np.zeros((len(r0), len(x)))
        for k in range(len(x)):
            dx = np.zeros_like(x)
            dx[k] = 1e-4
            j[:, k] = (residuals(x + dx) - r0) / 1e-4
        return j

    def descend(start: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        x, lam = start.copy(), 1e-2
        r = residuals(x)
        cost = float(r @ r)
        for _ in range(iterations):
            jac = jacobian(x, r)
            a = jac.T @ jac
            g = jac.T @ r
            step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-9), -g)
            x_new = np.clip(x + step, bounds[:, 0], bounds[:, 1])
            r_new = residuals(x_new)
            c_new = float(r_new @ r_new)
            if c_new < cost:
                x, r, cost, lam = x_new, r_new, c_new, lam / 3
                if np.max(np.abs(step)) < 1e-5:
                    break
            else:
                lam *= 4
                if lam > 1e8:
                    break
        return x, r, cost

    # The roofline's max(memory, compute) has flat regions where a parameter has no gradient
    # (compute efficiency while every point is memory bound): start from the prior and from
    # each parameter moved 5× down and up, keep the best.
    starts = [np.clip(s0, bounds[:, 0], bounds[:, 1])
              for s0 in [x0] + [x0 + np.eye(len(x0))[k] * shift for k in range(len(x0)) for shift in (-math.log(5), math.log(5))]]
    x, r, cost = min((descend(s0) for s0 in starts), key=lambda t: t[2])
    n = len(observations)
    data_r = raw(x) * data_log_sd  # unweighted log errors for the spread
    dof = max(1, n - len(names))
    s2 = float(data_r @ data_r) / dof if n > len(names) else float("nan")
    jac = jacobian(x, r)
    try:
        # residuals were scaled by 1/DATA_LOG_SD: rescale the covariance to the observed spread
        cov = np.linalg.inv(jac.T @ jac) * ((s2 / data_log_sd**2) if math.isfinite(s2) else 1.0)
        se = {nm: float(math.sqrt(max(0.0, cov[k, k]))) for k, nm in enumerate(names)}
    except np.linalg.LinAlgError:
        se = {nm: float("nan") for nm in names}
    rmse = float(math.sqrt(float(data_r @ data_r) / n))
    fitted = _with(prior, names, x)
    return FitResult(fitted, n, rmse, se, tuple(float(v) for v in data_r))


def band_from_residuals(log_rmse: float, n: int, *, minimum: float = 0.08) -> float:
    """Relative half-width of an ~80% band from the residual spread (widened for small n)."""
    if not math.isfinite(log_rmse) or n == 0:
        return 0.5
    widen = math.sqrt(1 + 1 / n)
    return max(minimum, math.exp(Z80 * log_rmse * widen) - 1)


#: Coverage the shipped bands are set for: this share of held-out measurements falls inside.
BAND_COVERAGE = 0.8


def conformal_rank_ok(total_weight: float, coverage: float = BAND_COVERAGE) -> bool:
    """True when ``total_weight`` held-out errors (a count of rows, or of devices when each
    device's rows share one unit of weight) can promise ``coverage``: coverage × (W + 1) ≤ W,
    i.e. W ≥ coverage / (1 − coverage) — 4 at 80 %."""
    return coverage * (total_weight + 1) <= total_weight + 1e-9


def intra_device_correlation(groups: Sequence[Sequence[float]]) -> float:
    """The share of the held-out log errors' variance that lies between devices (the intraclass
    correlation, one-way ANOVA estimator with unequal group sizes; clamped to [0, 1]): 0 when a
    device's rows err independently of each other, 1 when they all err alike (one profile, one
    harness). Too few groups or rows to estimate it: 1, the cautious reading."""
    groups = [[x for x in g if math.isfinite(x)] for g in groups]
    groups = [g for g in groups if g]
    k, n = len(groups), sum(len(g) for g in groups)
    if k < 2 or n <= k:
        return 1.0
    means = [sum(g) / len(g) for g in groups]
    grand = sum(sum(g) for g in groups) / n
    msb = sum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means)) / (k - 1)
    msw = sum((x - m) ** 2 for g, m in zip(groups, means) for x in g) / (n - k)
    m0 = (n - sum(len(g) ** 2 for g in groups) / n) / (k - 1)
    denominator = msb + (m0 - 1) * msw
    return 1.0 if denominator <= 0 else min(1.0, max(0.0, (msb - msw) / denominator))


def band_from_heldout(log_residuals: Sequence[float], coverage: float = BAND_COVERAGE, *,
                      weights: Sequence[float] | None = None, minimum: float = 0.05) -> float:
    """Relative half-width of a band that holds ``coverage`` of held-out measurements, as a
    ratio − 1 (the band is value ×/÷ (1 + b)), from |log(predicted / measured)| of predictions
    made without the measured device (leave-one-device-out).

    Rule (split-conformal quantile, Vovk et al. 2005; Lei et al. 2018): with n exchangeable
    held-out errors, the ⌈coverage × (n + 1)⌉-th smallest covers the next one with probability
    ≥ coverage. The plain empirical quantile, the ⌈coverage × n⌉-th, covers only
    ⌈coverage × n⌉ / (n + 1): 67 % for n = 5 at 80 % — the shortfall benchmarks/band_coverage.py
    measured. ``weights`` (default 1 each) count rows unequally (one device's rows sharing one
    unit): the smallest error whose cumulative weight reaches coverage × (W + 1), W = Σ weights.
    When W is too small for that (``conformal_rank_ok`` false) the largest error is returned:
    callers that must keep the promise use a pooled band instead."""
    pairs = sorted((abs(r), 1.0 if weights is None else float(w))
                   for r, w in zip(log_residuals, weights if weights is not None else [1.0] * len(log_residuals))
                   if math.isfinite(r))
    if not pairs:
        return float("nan")
    target = coverage * (sum(w for _, w in pairs) + 1)
    cumulative, err = 0.0, pairs[-1][0]
    for e, w in pairs:
        cumulative += w
        if cumulative >= target - 1e-9:
            err = e
            break
    return max(minimum, math.exp(err) - 1)


def calibrate_path(
    observations: Sequence[Observation],
    prior: PathFactors,
    ggml_types: Mapping[str, GgmlType],
    *,
    basis: str,
    decode_params: Sequence[str] | None = None,
    data_log_sd: float = DATA_LOG_SD,
    loss: Loss = "soft_l1",
) -> tuple[PathFactors, FitResult, FitResult]:
    """Fit decode and prefill parameters separately; set bands from the residuals.

    ``decode_params`` narrows the decode fit (the shipped defaults fit bandwidth efficiency and
    the fixed cost only: published rows, mostly 7B models, cannot separate compute from memory)."""
    dec = [o for o in observations if o.metric == "decode"]
    pre = [o for o in observations if o.metric == "prefill"]
    fd = fit(dec, prior, ggml_types, params=decode_params, data_log_sd=data_log_sd, loss=loss) if dec else FitResult(prior, 0, float("nan"), {}, ())
    fp = fit(pre, fd.factors, ggml_types, data_log_sd=data_log_sd, loss=loss) if pre else FitResult(fd.factors, 0, float("nan"), {}, ())
    factors = fp.factors.model_copy(update={
        "decode_band": band_from_residuals(fd.log_rmse, fd.n) if fd.n else prior.decode_band,
        "prefill_band": band_from_residuals(fp.log_rmse, fp.n) if fp.n else prior.prefill_band,
        "n_measurements": len(observations),
        "basis": basis,
    })
    return factors, fd, fp


__all__ = ["Observation", "FitResult", "fit", "calibrate_path", "predict", "band_from_residuals", "band_from_heldout", "conformal_rank_ok", "intra_device_correlation", "is_noisy", "sample_spread"]

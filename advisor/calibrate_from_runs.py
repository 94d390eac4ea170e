"""`advisor calibrate`: fit the speed model's factors from the recorded runs — per device, and per
execution path from several devices' runs — and store them; predictions then use them.

Lookup order for a device (``engine.evaluate.factors_for``): its own calibration, else its path's
calibration from recorded runs, else the shipped defaults (catalog/calibration.toml).

What keeps one bad run from making answers worse:

* a run is fitted only when it is ``ok`` and its figures are plausible: finite positive rates,
  repeats that agree (``engine.calibrate.is_noisy``; ``advisor validate`` stores disagreeing
  runs as ``noisy``), token counts within the tool's limits (``run_exclusion`` says why not),
  and once: a second copy of an imported llama-bench row (``store.run_identity``) is left out;
* the fit is robust (soft-L1 loss, ``engine.calibrate``);
* a device's own calibration applies to that device only, and only when it predicts the
  device's runs better than the shipped factors do — held out (leave-one-run-out) when the
  device has ≥ 3 runs, in-sample otherwise; held out, each metric is judged too: where decode
  gains and prefill loses (or the other way round), the losing metric keeps the shipped factors;
* a path-wide calibration (which changes every catalog device on that path) needs runs on
  ≥ MIN_DEVICES_FOR_PATH distinct devices and must lower the leave-one-device-out error
  against the shipped factors; otherwise it is stored as not applied and the shipped factors stay.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pydantic import ValidationError

from advisor.catalog import Catalog, load_catalog
from advisor.engine.calibrate import (
    DECODE_PARAMS,
    NOISY_CV_LIMIT,
    NOISY_SPREAD_LIMIT,
    PREFILL_PARAMS,
    Observation,
    band_from_heldout,
    conformal_rank_ok,
    calibrate_path,
    is_noisy,
    predict_each,
    sample_spread,
)
from advisor.engine.evaluate import estimate_speed, factors_for, for_measured_bandwidth
from advisor.engine.speed import execution_path
from advisor.errors import AdvisorError, BadInputError
from advisor.records import DeviceProfile, PathFactors, Workload
from advisor.store import NO_REPACK_WEIGHT_PATH, Run, list_runs, load_device_calibrations, run_identity, save_calibrations
from advisor.wording import speed_evidence

#: A path-wide default changes only from runs on at least this many distinct devices: one or two
#: machines cannot tell a property of the path from a property of the machine (issue 11: one busy
#: VM's runs re-fitted cpu-x86 for every x86 device).
MIN_DEVICES_FOR_PATH = 3
#: A device's calibration is judged held out (leave-one-run-out) from this many runs on.
MIN_RUNS_FOR_HELD_OUT = 3
#: Held-out fits per calibration at most: beyond this many runs (or devices) they are held out in
#: this many folds (every MAX_HELDOUT_FOLDS-th run of the id order together), so a device with 60
#: runs takes 21 fits, not 61 (calibrate's time grows with the runs × the fits).
MAX_HELDOUT_FOLDS = 20
#: Token counts above the CLI's own limit (--context ≤ 1,048,576) are not a real run.
MAX_TOKENS = 1_048_576
#: The combination shown in the before/after table for the devices a path calibration changes.
REFERENCE_MODEL, REFERENCE_QUANT = "llama-3.2-1b-instruct", "Q4_K_M"
#: A measurement this many times off the shipped prediction (either way) is not a measurement of
#: this device × model: no fit can use it without poisoning the factors and their bands.
MAX_PLAUSIBLE_RATIO = 20.0


def _positive_rate(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def other_machine(run: Run, catalog: Catalog) -> str | None:
    """Why a run recorded under the id ``local`` is not this machine's: its fingerprint differs
    from the one the current local profile was measured on (a $ADVISOR_HOME shared between
    machines, or a profile copied from another). None when they agree or either is unknown."""
    from advisor.local import LOCAL_ID, profile_fingerprint

    here = catalog.devices.get(LOCAL_ID)
    if run.device_id != LOCAL_ID or not run.device_fingerprint or here is None:
        return None
    found = profile_fingerprint(here)
    if found is None or found == run.device_fingerprint:
        return None
    return (f"run on another machine (fingerprint {run.device_fingerprint}; the local profile was measured on "
            f"{found}): its figures are not this machine's")


def run_exclusion(run: Run, catalog: Catalog, weights_memo: dict[tuple[str, str], int] | None = None) -> str | None:
    """Why a recorded run is not fitted (None: it is fitted). ``weights_memo``: the predicted weight
    bytes per (model, quant), shared across the runs of one calibration (10,000 imported runs spent
    half a minute recomputing them)."""
    if run.excluded is not None:
        return f"left out with 'advisor runs exclude' ({run.excluded})"
    if run.status == "noisy":
        return "stored as noisy (its repeats disagree)"
    if run.status != "ok":
        return f"status {run.status}"
    if not run.device_profile:
        return "no device profile recorded"
    other = other_machine(run, catalog)
    if other:
        return other
    runtime = (run.settings or {}).get("runtime", "llama.cpp")
    if runtime != "llama.cpp":
        return f"a {runtime} run (llama.cpp's factors are fitted from llama.cpp runs only)"
    if run.model_id is None or run.quant is None:
        return f"no {'model' if run.model_id is None else 'quantization'} recorded"
    if run.model_id not in catalog.models or run.quant not in catalog.file_types:
        return f"model {run.model_id} {run.quant} not in the catalog"
    m, s = run.measured, run.settings
    rates = {k: m.get(k) for k in ("decode_tokens_per_s", "prefill_tokens_per_s") if m.get(k) is not None}
    if not rates:
        return "no decode or prefill figure"
    for k, v in rates.items():
        if not _positive_rate(v):
            return f"{k.split('_')[0]} rate {v!r} is not a positive finite number"
    for metric in ("decode", "prefill"):
        samples = m.get(f"{metric}_samples")
        if isinstance(samples, list) and is_noisy(samples):
            vals = ", ".join(f"{v:.3g}" if isinstance(v, (int, float)) else repr(v) for v in samples)
            return (f"noisy: {metric} repeats [{vals}] tok/s are {sample_spread(samples):.3g}× apart "
                    f"(limit {NOISY_SPREAD_LIMIT:g}×)")
    for k, v in rates.items():
        predicted = (run.predicted or {}).get(k)
        if _positive_rate(predicted) and not 1 / MAX_PLAUSIBLE_RATIO <= v / predicted <= MAX_PLAUSIBLE_RATIO:
            return (f"implausible: {k.split('_')[0]} {v:.3g} tok/s is {max(v / predicted, predicted / v):.3g}× "
                    f"off the prediction {predicted:.3g} tok/s (limit {MAX_PLAUSIBLE_RATIO:g}×)")
    sd = m.get("stddev_tokens_per_s")
    mean = next(iter(rates.values()))
    if _positive_rate(sd) and is_noisy(mean=mean, stddev=sd):
        return f"noisy: ±{sd:.3g} tok/s on {mean:.3g} tok/s (coefficient of variation > {NOISY_CV_LIMIT:.0%})"
    for key in ("n_ctx", "prompt_tokens", "output_tokens", "n_prompt", "n_gen", "threads"):
        v = s.get(key)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > MAX_TOKENS:
            return f"setting {key} = {v!r} is not a plausible count (0 … {MAX_TOKENS:,})"
    try:
        device = DeviceProfile.model_validate(run.device_profile)
    except ValidationError:
        return "its device profile no longer validates"
    if run.source == "llama-bench":  # imported: the checks runs import makes now, on runs stored before them
        from advisor.validate.importer import bench_mismatch

        from advisor.engine.memory import weights_bytes

        model, ftype = catalog.models[run.model_id], catalog.file_types[run.quant]
        memo = weights_memo if weights_memo is not None else {}
        if (model.id, ftype.id) not in memo:
            memo[(model.id, ftype.id)] = weights_bytes(model, ftype, catalog.ggml_types)
        wrong = bench_mismatch(device, model, ftype, catalog.ggml_types,
                               cpu_info=_text(m.get("cpu_info")), backends=_text(run.backend),
                               n_gpu_layers=_count(s.get("n_gpu_layers")), n_params=None, size_bytes=_count(m.get("model_size_bytes")),
                               expected_bytes=memo[(model.id, ftype.id)])
        if wrong is not None:
            return f"runs import now refuses it: it {wrong.reason}"
    return None


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def _count(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def current_profile(run: Run, catalog: Catalog) -> DeviceProfile:
    """The profile a run is fitted against: its device's as predictions use it now (the catalog's,
    or this machine's latest `advisor profile`), since that is the profile the fitted factors are
    applied to — a run stored while the profile said half the bandwidth would otherwise double the
    device's speed. The profile stored with the run when the id is no longer known, or when the
    stored one runs on another execution path (CPU-only runs kept under a GPU device's id)."""
    stored = DeviceProfile.model_validate(run.device_profile)
    try:
        now = catalog.device(run.device_id)
    except AdvisorError:
        return stored
    return now if execution_path(now) == execution_path(stored) else stored


def observations_from_run(run: Run, catalog: Catalog) -> list[Observation]:
    """The decode/prefill measurements of one recorded run, with the device and workload they
    were measured on; none when ``run_exclusion`` names a reason."""
    return [] if run_exclusion(run, catalog) is not None else _observations(run, catalog)


def _observations(run: Run, catalog: Catalog) -> list[Observation]:
    """``observations_from_run`` of a run ``run_exclusion`` has passed already."""
    device = current_profile(run, catalog)
    model, ftype = catalog.models[run.model_id], catalog.file_types[run.quant]
    s, m = run.settings, run.measured
    threads = s.get("threads") or None
    ctx = int(s.get("n_ctx") or 4096)
    # llama.cpp repacks at load unless told not to; validate retries without it after a crash there
    repack = run.weight_path != NO_REPACK_WEIGHT_PATH
    out = []
    try:
        if m.get("prefill_tokens_per_s"):
            p = int(s.get("prompt_tokens") or s.get("n_prompt") or 512)
            w = Workload(context_tokens=max(ctx, p + 1), prompt_tokens=p, output_tokens=1, threads=threads, cpu_repack=repack)
            out.append(Observation(model, ftype, device, w, "prefill", float(m["prefill_tokens_per_s"]), label=f"run {run.id}"))
        if m.get("decode_tokens_per_s"):
            p = int(s.get("prompt_tokens") or 1) if run.source == "validate" else 1
            g = int(s.get("output_tokens") or s.get("n_gen") or 128)
            w = Workload(context_tokens=max(ctx, p + g), prompt_tokens=p, output_tokens=g, threads=threads, cpu_repack=repack)
            out.append(Observation(model, ftype, device, w, "decode", float(m["decode_tokens_per_s"]), label=f"run {run.id}"))
    except AdvisorError:  # a workload the engine refuses is not a measurement to fit
        return []
    return out


@dataclass(frozen=True)
class Effect:
    """One device's decode prediction, and its ~80 % band, before and after this calibration."""

    device_id: str
    combination: str  # "model quant"
    decode_before: float
    decode_after: float
    band_before: float = 0.0  # relative half-width of the decode band (PathFactors.decode_band)
    band_after: float = 0.0


@dataclass(frozen=True)
class CalibrationSummary:
    scope: str  # device | path
    key: str
    n_runs: int
    n_observations: int
    factors: PathFactors
    decode_mdape_before: float | None  # in-sample, shipped factors
    decode_mdape_after: float | None  # in-sample, fitted factors
    prefill_mdape_before: float | None
    prefill_mdape_after: float | None
    n_devices: int = 1
    applied: bool = True
    decision: str = ""
    heldout_kind: str = ""  # leave-one-run-out | leave-one-device-out | 20-fold cross-validated | in-sample
    heldout_mdape_before: float | None = None  # shipped factors on the held-out measurements
    heldout_mdape_after: float | None = None  # fits that did not see them
    effects: tuple[Effect, ...] = ()

    @property
    def name(self) -> str:
        """Its key among the engine's calibrations (``factors_for``): the device id, or ``path:<path>``."""
        return self.key if self.scope == "device" else f"path:{self.key}"


@dataclass(frozen=True)
class CalibrationReport:
    groups: list[CalibrationSummary]
    excluded: list[tuple[int | None, str, str]] = field(default_factory=list)  # run id, device, reason
    dry_run: bool = False


def _mdape(obs: list[Observation], factors: PathFactors, catalog: Catalog, metric: str | None = None) -> float | None:
    sel = [o for o in obs if metric is None or o.metric == metric]
    if not sel:
        return None
    return statistics.median(abs(p - o.value) / o.value * 100 for o, p in zip(sel, predict_each(sel, factors, catalog.ggml_types)))


#: The factors each metric's fit sets (engine.calibrate: the family factors are prefill's too): a
#: metric whose held-out error a fit raises keeps the shipped ones (``_fit_group``).
METRIC_PARAMS = {"decode": DECODE_PARAMS, "prefill": (*PREFILL_PARAMS, "prefill_kquant_factor", "prefill_float_factor")}


def _keep_shipped(factors: PathFactors, prior: PathFactors, metrics: Iterable[str]) -> PathFactors:
    """``factors`` with ``metrics``' own factors (METRIC_PARAMS) back at the shipped ``prior``'s."""
    return factors.model_copy(update={p: getattr(prior, p) for m in metrics for p in METRIC_PARAMS[m]})


def _heldout_fits(groups: Mapping[str, list[Observation]], prior: PathFactors,
                  catalog: Catalog) -> list[tuple[list[Observation], PathFactors]]:
    """Each group's measurements with the fit that left the group out (leave-one-group-out)."""
    return [(held, calibrate_path([o for k, obs in groups.items() if k != key for o in obs], prior, catalog.ggml_types, basis="")[0])
            for key, held in groups.items()]


@dataclass(frozen=True)
class HeldOut:
    """Per metric: the absolute % errors of the shipped factors and of the held-out fits on the
    measurements each fit did not see, and those fits' log errors (for the band)."""

    before: dict[str, list[float]]
    after: dict[str, list[float]]
    logs: dict[str, list[float]]

    def mdape(self, which: str, metric: str | None = None) -> float:
        errors = getattr(self, which)
        return statistics.median(e for m in ([metric] if metric else errors) for e in errors.get(m, []))


def _heldout(fits: Sequence[tuple[list[Observation], PathFactors]], prior: PathFactors, catalog: Catalog,
             kept: Sequence[str] = ()) -> HeldOut:
    """The held-out errors of ``fits`` (``_heldout_fits``), each with the ``kept`` metrics' factors shipped."""
    before: dict[str, list[float]] = defaultdict(list)
    after: dict[str, list[float]] = defaultdict(list)
    logs: dict[str, list[float]] = defaultdict(list)
    for held, fitted in fits:
        fitted = _keep_shipped(fitted, prior, kept)
        for o, p, shipped in zip(held, predict_each(held, fitted, catalog.ggml_types), predict_each(held, prior, catalog.ggml_types)):
            before[o.metric].append(abs(shipped - o.value) / o.value * 100)
            after[o.metric].append(abs(p - o.value) / o.value * 100)
            logs[o.metric].append(math.log(p / o.value))
    return HeldOut(dict(before), dict(after), dict(logs))


def _band(factors: PathFactors, prior: PathFactors, metric: str, heldout: list[float]) -> float:
    """A calibration's band for ``metric``: from its held-out log errors (BAND_COVERAGE of them
    inside), as for the shipped factors, never narrower than the fit's own residual band; and where
    too few runs were held out to promise that coverage (``conformal_rank_ok``: 4 at 80 %; none
    for a fit judged in-sample), never narrower than the prior's — one run fits a device's factors
    exactly, and says nothing of how far its next run will fall (on this VM a one-run calibration
    predicted the other runs' decode with a median error of 20 %, where its in-sample band said ±8 %)."""
    band = getattr(factors, f"{metric}_band")
    if heldout:
        band = max(band, band_from_heldout(heldout))
    if not conformal_rank_ok(len(heldout)):
        band = max(band, getattr(prior, f"{metric}_band"))
    return band


def _fit_group(scope: str, key: str, runs: list[Run], obs: list[Observation], by_unit: Mapping[str, list[Observation]],
               prior: PathFactors, catalog: Catalog) -> CalibrationSummary:
    """Fit one device (``by_unit``: its runs) or one path (``by_unit``: its devices) and decide
    whether the fit is applied."""
    where = "this device" if scope == "device" else f"{len(by_unit)} {key} devices"
    n_dev = 1 if scope == "device" else len(by_unit)
    kept: list[str] = []  # metrics whose factors stay the shipped ones
    kept_text = ""
    if scope == "path" and n_dev < MIN_DEVICES_FOR_PATH:
        decision = (f"not applied: a path-wide default needs runs on ≥ {MIN_DEVICES_FOR_PATH} devices (has {n_dev}); "
                    "the shipped factors stay for every other device")
        return CalibrationSummary(scope, key, len(runs), len(obs), prior, _mdape(obs, prior, catalog, "decode"), None,
                                  _mdape(obs, prior, catalog, "prefill"), None, n_devices=n_dev, applied=False, decision=decision)
    factors, fd, fp = calibrate_path(obs, prior, catalog.ggml_types, basis="")
    factors = factors.model_copy(update={"path": prior.path, "source": f"advisor calibrate ({scope} {key})"})
    if scope == "path" or len(by_unit) >= MIN_RUNS_FOR_HELD_OUT:
        unit = "device" if scope == "path" else "run"
        kind = f"leave-one-{unit}-out"
        if len(by_unit) > MAX_HELDOUT_FOLDS:
            kind = f"{MAX_HELDOUT_FOLDS}-fold cross-validated"
            units = list(by_unit.values())
            by_unit = {str(k): [o for obs_list in units[k::MAX_HELDOUT_FOLDS] for o in obs_list] for k in range(MAX_HELDOUT_FOLDS)}
        fits = _heldout_fits(by_unit, prior, catalog)
        held = _heldout(fits, prior, catalog)
        # a metric the fit predicts worse held out keeps the shipped factors, when another gains:
        # on this repository's VM a 7-run fit halved the decode error and raised prefill's 6 % → 15 %
        worse = [m for m in held.after if (held.mdape("after", m) >= held.mdape("before", m) if scope == "path"
                                           else held.mdape("after", m) > held.mdape("before", m))]
        if 0 < len(worse) < len(held.after):
            kept = worse
            kept_text = "; ".join(f"{m} factors kept shipped ({kind} error {held.mdape('after', m):.1f}% fitted vs "
                                  f"{held.mdape('before', m):.1f}% shipped)" for m in kept)
            held = _heldout(fits, prior, catalog, kept)
            factors = _keep_shipped(factors, prior, kept)
        before, after, log_errors = held.mdape("before"), held.mdape("after"), held.logs
    else:
        kind = "in-sample"
        before, after = _mdape(obs, prior, catalog) or 0.0, _mdape(obs, factors, catalog) or 0.0
        log_errors = {}
    factors = factors.model_copy(update={f"{m}_band": getattr(prior, f"{m}_band") if m in kept else _band(factors, prior, m, log_errors.get(m, []))
                                         for m in ("decode", "prefill")})
    band = factors.decode_band if fd.n else factors.prefill_band
    # per metric, as wording.speed_evidence reads it: fitted on these runs, or the shipped factors' own evidence
    evidence = ", ".join(f"{m} fitted" if fit.n and m not in kept else f"{m} {speed_evidence(prior.basis, m)} as shipped"
                         for m, fit in (("decode", fd), ("prefill", fp)))
    factors = factors.model_copy(update={
        "basis": f"calibrated from {len(runs)} run{'' if len(runs) == 1 else 's'} on {where} ({evidence}), ±{band * 100:.0f}%"})
    try:  # model_copy(update=) does not validate: a band past PathFactors' limits would be stored as a damaged row
        factors = PathFactors.model_validate(factors.model_dump())
    except ValidationError as exc:
        return CalibrationSummary(scope, key, len(runs), len(obs), prior, _mdape(obs, prior, catalog, "decode"), None,
                                  _mdape(obs, prior, catalog, "prefill"), None, n_devices=n_dev, applied=False,
                                  decision=f"not applied: the fit is out of range ({exc.errors()[0]['msg']}); the shipped factors stay")
    # a path-wide change must strictly lower the held-out error; a device's own fit must not raise it
    applied = after < before if scope == "path" else after <= before
    decision = (f"{'applied' if applied else 'not applied'}: {kind} error {after:.0f}% vs {before:.0f}% with the shipped factors"
                + ("" if applied else "; the shipped factors stay") + (f"; {kept_text}" if applied and kept else ""))
    return CalibrationSummary(
        scope=scope, key=key, n_runs=len(runs), n_observations=len(obs), factors=factors,
        decode_mdape_before=_mdape(obs, prior, catalog, "decode"), decode_mdape_after=_mdape(obs, factors, catalog, "decode"),
        prefill_mdape_before=_mdape(obs, prior, catalog, "prefill"), prefill_mdape_after=_mdape(obs, factors, catalog, "prefill"),
        n_devices=n_dev, applied=applied, decision=decision, heldout_kind=kind,
        heldout_mdape_before=before, heldout_mdape_after=after,
    )


def _decode(device: DeviceProfile, model_id: str, quant: str, factors: PathFactors, catalog: Catalog) -> float:
    return estimate_speed(catalog.models[model_id], catalog.file_types[quant], catalog.ggml_types, device, Workload(),
                          factors).decode_tokens_per_s


def _effects(summary: CalibrationSummary, devices: Mapping[str, DeviceProfile], combos: Mapping[str, tuple[str, str]],
             current: Mapping[str, PathFactors], new: Mapping[str, PathFactors], catalog: Catalog) -> tuple[Effect, ...]:
    """Decode before → after on the devices this calibration concerns: the device itself, or
    the catalog devices on the path (without a calibration of their own) whose figure or band
    changes."""
    if summary.scope == "device":
        targets = [(devices[summary.key], *combos[summary.key])]
    else:
        targets = [(d, REFERENCE_MODEL, REFERENCE_QUANT) for d in catalog.devices.values()
                   if execution_path(d) == summary.key and d.id not in new]
    out = []
    for device, mid, q in targets:
        f_now, f_new = factors_for(device, catalog, current), factors_for(device, catalog, new)
        before, after = _decode(device, mid, q, f_now, catalog), _decode(device, mid, q, f_new, catalog)
        # a path row lists only the devices it changes, a band included
        if summary.scope == "device" or before != after or f_now.decode_band != f_new.decode_band:
            out.append(Effect(device.id, f"{mid} {q}", before, after, f_now.decode_band, f_new.decode_band))
    return tuple(out)


@lru_cache(maxsize=1)
def _engine_source_digest() -> bytes:
    """The tool's version and the engine's source files, hashed once per process."""
    from advisor import __version__
    from advisor.engine import __file__ as engine_init

    digest = hashlib.sha256(__version__.encode())
    for source in sorted(Path(engine_init).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.digest()


def engine_key(catalog: Catalog) -> str:
    """What a calibration depends on besides its runs: the engine's formulas (its source) and the
    shipped factors it starts from. A calibration stored under another key was fitted for other
    formulas or priors, and its factors mean something else now (``store.load_device_calibrations``)."""
    digest = hashlib.sha256(_engine_source_digest())
    for name in sorted(catalog.calibration):
        digest.update(catalog.calibration[name].model_dump_json().encode())
    return digest.hexdigest()[:16]


def calibration_key(catalog: Catalog, name: str, fitted_on: DeviceProfile | None = None) -> str:
    """The key a stored calibration ``name`` (a device id, or ``path:<path>``) must carry to be
    applied: ``engine_key``, and for a device the profile it was fitted against as well — factors
    fitted against a profile since corrected (a catalog bandwidth fixed by an upgrade, this machine
    profiled again) would be applied to the new one (``current_profile``). ``fitted_on``: the
    profile a fit used when the catalog does not know the device (runs restored before this machine
    was profiled are fitted against their stored profile: the same profile, restored, then matches)."""
    key = engine_key(catalog)
    if name.startswith("path:"):
        return key
    try:
        profile = catalog.device(name).model_dump_json()
    except AdvisorError:
        if fitted_on is None:
            return key  # a device no longer known: nothing predicts with its calibration
        profile = fitted_on.model_dump_json()
    return hashlib.sha256(f"{key}\0{profile}".encode()).hexdigest()[:16]


def _stats(s: CalibrationSummary, key: str) -> dict[str, object]:
    return {
        "fitted_with": key,
        "n_observations": s.n_observations, "n_devices": s.n_devices, "applied": s.applied, "decision": s.decision,
        "heldout_kind": s.heldout_kind, "heldout_mdape_before": s.heldout_mdape_before, "heldout_mdape_after": s.heldout_mdape_after,
        "decode_mdape_before": s.decode_mdape_before, "decode_mdape_after": s.decode_mdape_after,
        "prefill_mdape_before": s.prefill_mdape_before, "prefill_mdape_after": s.prefill_mdape_after,
    }


def run_calibration(*, device_id: str | None = None, db: Path | None = None, catalog: Catalog | None = None,
                    runs: Iterable[Run] | None = None, dry_run: bool = False) -> CalibrationReport:
    """Fit per-device and per-path factors from the recorded runs, decide which are applied, and
    store them (not with ``dry_run``). ``device_id``: only that device's own calibration."""
    catalog = catalog or load_catalog()
    runs = list(runs if runs is not None else list_runs(path=db))
    by_device: dict[str, list[tuple[Run, list[Observation]]]] = defaultdict(list)
    excluded: list[tuple[int | None, str, str]] = []
    first_copy: dict[str, int | None] = {}  # run_identity → the run fitted for it
    weights_memo: dict[tuple[str, str], int] = {}
    for r in runs:
        if device_id is not None and r.device_id != device_id:
            continue
        reason = run_exclusion(r, catalog, weights_memo)
        key = None if reason else run_identity(r)
        if key is not None:
            if key in first_copy:  # stored before runs import skipped copies
                reason = f"a copy of run {first_copy[key]} (the same llama-bench row imported again)"
            else:
                first_copy[key] = r.id
        obs = [] if reason else _observations(r, catalog)
        if obs:
            by_device[r.device_id].append((r, obs))
        elif r.status in ("ok", "noisy"):  # failed attempts are not measurements: not worth a line
            excluded.append((r.id, r.device_id, reason or "no usable figure"))
    left_out = (f" ({len(excluded)} left out, e.g. run {excluded[0][0]}: {excluded[0][2]})" if excluded else "")
    if device_id is not None and device_id not in by_device:
        if not excluded and not any(r.device_id == device_id for r in runs):
            catalog.device(device_id)  # a typo is an unknown device (with its did-you-mean), not a device without runs
        raise BadInputError(f"no usable runs recorded for device '{device_id}'{left_out}; run 'advisor validate' or 'advisor runs import' first")
    if not by_device:
        raise BadInputError(f"no usable runs to calibrate from{left_out}; run 'advisor validate' or 'advisor runs import' first")
    groups: list[CalibrationSummary] = []
    devices: dict[str, DeviceProfile] = {}
    combos: dict[str, tuple[str, str]] = {}
    by_path: dict[str, dict[str, list[Observation]]] = defaultdict(dict)
    runs_by_path: dict[str, list[Run]] = defaultdict(list)
    for dev, items in sorted(by_device.items()):
        obs = [o for _, o_list in items for o in o_list]
        devices[dev] = obs[0].device
        combos[dev] = (items[-1][0].model_id or "", items[-1][0].quant or "")
        path = execution_path(obs[0].device)
        per_run = {str(r.id if r.id is not None else i): o_list for i, (r, o_list) in enumerate(items)}
        # the device's prior: the shipped factors as the engine applies them to it (a measured bandwidth's own efficiency)
        prior = for_measured_bandwidth(obs[0].device, catalog.calibration[path])
        groups.append(_fit_group("device", dev, [r for r, _ in items], obs, per_run, prior, catalog))
        by_path[path][dev] = obs
        runs_by_path[path].extend(r for r, _ in items)
    if device_id is None:
        for path, per_device in sorted(by_path.items()):
            shipped = catalog.calibration[path]
            # each device read as factors_for will apply the path's fit to it (a measured bandwidth at its own efficiency)
            per_device = {dev: [replace(o, shipped=shipped) for o in o_list] for dev, o_list in per_device.items()}
            obs = [o for o_list in per_device.values() for o in o_list]
            groups.append(_fit_group("path", path, runs_by_path[path], obs, per_device, shipped, catalog))
    current = load_device_calibrations(db, fitted_with=partial(calibration_key, catalog), say_stale=False)  # this refits them
    new = {k: v for k, v in current.items()}
    for s in groups:
        if s.applied:
            new[s.name] = s.factors
        else:
            new.pop(s.name, None)
    groups = [replace(s, effects=_effects(s, devices, combos, current, new, catalog)) for s in groups]
    if not dry_run:  # one transaction: all of this calibration lands, or none of it
        save_calibrations([(s.scope, s.key, s.factors, s.n_runs,
                            _stats(s, calibration_key(catalog, s.name, devices.get(s.key) if s.scope == "device" else None)))
                           for s in groups], db)
    return CalibrationReport(groups, excluded, dry_run)

"""`advisor validate`: predict, run for real through llama.cpp, compare, record.

Every attempt is recorded in the measurements store — refused, crashed and timed-out runs too —
so nothing is lost and the history shows which weight path (with or without llama.cpp's extra
buffer types, i.e. CPU weight repacking) produced each figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from advisor.catalog import Catalog, advisor_home, load_catalog
from advisor.engine.calibrate import BUSY_EXTRA_CORES, NOISY_SPREAD_LIMIT, is_busy, is_noisy, sample_spread
from advisor.engine.evaluate import evaluate
from advisor.errors import BadInputError, DataFileError, RunError, missing_extra
from advisor.inputs import check_regular_file
from advisor.records import DeviceProfile, Estimate, FileType, ModelSpec, Workload
from advisor.store import NO_REPACK_WEIGHT_PATH, Run, record_run
from advisor.units import format_size
from advisor.engine.empirical import resolve_flash_attn
from advisor.hardware import can_drop_page_cache, drop_from_page_cache, read_through
from advisor.validate.runner import RunOutcome, RunSettings, run_child

Progress = Callable[[str], None]

#: The page cache a run starts from: "warm" (the file read through first, as on a restart) or
#: "cold" (its pages dropped first, as on the first start after boot); the prediction is the
#: engine's matching load time (engine.load).
PAGE_CACHE_STATES = ("warm", "cold")

#: ggml type ids llama.cpp takes for the KV cache type (type_k / type_v).
KV_TYPE_IDS = {"f16": 1, "q8_0": 8, "q4_0": 2}

CRASH_SIGNALS_RETRYABLE = (-11, -6, -7, -4)  # SIGSEGV, SIGABRT, SIGBUS, SIGILL


def twin_cache_dir() -> Path:
    return Path(os.environ.get("ADVISOR_TWIN_CACHE") or advisor_home() / "twins")


def check_twin_cache() -> None:
    """The synthetic twins' directory (ADVISOR_TWIN_CACHE, else $ADVISOR_HOME/twins) exists or can
    be made: checked before profiling, so a file or /dev/null there is one Error: line, not a
    FileExistsError traceback after the profile and the prediction."""
    cache = twin_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = "ADVISOR_TWIN_CACHE" if os.environ.get("ADVISOR_TWIN_CACHE") else "ADVISOR_HOME"
        raise DataFileError(f"{cache}: cannot keep the synthetic twins there ({exc.strerror or exc}); "
                            f"point {where} at a directory") from None
    if not cache.is_dir():
        raise DataFileError(f"{cache}: cannot keep the synthetic twins there (not a directory); point ADVISOR_TWIN_CACHE at a directory")


def check_gguf(path: Path) -> None:
    """A readable GGUF file (a regular file with the magic bytes), or one clear error."""
    check_regular_file(path, hint="check the --gguf path", expected=".gguf model file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc})") from None
    if magic != b"GGUF":
        raise DataFileError(f"{path}: not a GGUF file (bad magic {magic!r}); pass a llama.cpp .gguf model")


@dataclass(frozen=True)
class GgufHeader:
    architecture: str
    n_layers: int | None
    hidden_size: int | None
    n_tensors: int
    file_type: int | None = None  # general.file_type: llama.cpp's LLAMA_FTYPE


def read_gguf_header(path: Path) -> GgufHeader:
    """The architecture a GGUF declares (general.architecture, <arch>.block_count,
    <arch>.embedding_length), read with the gguf package; a header or tensor table that does not
    parse, or tensor data past the end of the file, is bad input (one DataFileError), not a run."""
    try:
        import gguf
    except ImportError:
        raise missing_extra("gguf", "validate") from None
    try:
        reader = gguf.GGUFReader(str(path))

        def scalar(key: str) -> Any:
            field_ = reader.get_field(key)
            return None if field_ is None else field_.contents()

        arch = scalar("general.architecture")
        layers = scalar(f"{arch}.block_count") if arch else None
        hidden = scalar(f"{arch}.embedding_length") if arch else None
        file_type = scalar("general.file_type")
        n_tensors = len(reader.tensors)
    except MemoryError:
        raise DataFileError(f"{path}: the GGUF header declares absurd sizes; the file is damaged or not a model") from None
    except Exception as exc:  # noqa: BLE001 — gguf raises ValueError, IndexError, struct errors … on damaged files
        raise DataFileError(f"{path}: a damaged GGUF file ({type(exc).__name__}: {str(exc)[:120]}); "
                            "download or convert it again") from None
    if not isinstance(arch, str) or not arch:
        raise DataFileError(f"{path}: the GGUF header names no general.architecture; the file is damaged or not a model")
    if n_tensors == 0:
        raise DataFileError(f"{path}: the GGUF file holds no tensors; it is a header without a model")
    return GgufHeader(architecture=arch, n_layers=int(layers) if isinstance(layers, int) else None,
                      hidden_size=int(hidden) if isinstance(hidden, int) else None, n_tensors=n_tensors,
                      file_type=file_type if isinstance(file_type, int) and not isinstance(file_type, bool) else None)


def check_architecture(header: GgufHeader, model: ModelSpec, path: Path) -> None:
    """A --gguf of another model is bad input: its layers and hidden size must be the catalog
    model's (a 2-layer file measured as an 8B model would poison the calibration)."""
    found = {"architecture": header.architecture, "layers": header.n_layers, "hidden size": header.hidden_size}
    want = {"architecture": model.gguf_arch, "layers": model.n_layers, "hidden size": model.hidden_size}
    wrong = [k for k in found if found[k] is not None and found[k] != want[k]]
    if wrong:
        got = ", ".join(f"{k} {found[k]}" for k in wrong)
        exp = ", ".join(f"{want[k]}" for k in wrong)
        raise BadInputError(f"{path} is not {model.id}: its header says {got} (the catalog model has {exp}); "
                            "pass the --model the file is, or the file of that model")


#: llama.cpp's LLAMA_FTYPE_GUESSED: the converter guessed the file type (not a statement to check)
_FTYPE_GUESSED = 1024


def check_quantization(header: GgufHeader, ftype: FileType, file_types: Mapping[str, FileType], path: Path) -> None:
    """A --gguf of another quantization than --quant is bad input: the run would be stored (and
    fitted) as --quant's (an F16 file recorded as Q8_0 calibrated the machine to a file twice the
    size). Judged by the header's general.file_type when it states one the catalog knows."""
    stated = header.file_type
    if stated is None or stated & _FTYPE_GUESSED:
        return
    named = next((f for f in file_types.values() if f.llama_ftype == stated), None)
    if named is not None and named.llama_ftype != ftype.llama_ftype:
        raise BadInputError(f"{path} is {named.id} (its header's general.file_type), not {ftype.id}: pass --quant {named.id}, "
                            f"or the {ftype.id} file")


@dataclass
class Comparison:
    name: str
    predicted: float | None
    measured: float | None
    unit: str  # "bytes" | "tok/s" | "s"

    @property
    def error_pct(self) -> float | None:
        from advisor.analysis import prediction_error_pct

        return prediction_error_pct(self.predicted, self.measured)


@dataclass
class ValidationResult:
    run_id: int
    status: str
    model_id: str
    quant: str
    device_id: str
    synthetic: bool
    gguf: str | None
    weight_path: str
    comparisons: list[Comparison] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)


def predicted_figures(est: Estimate, page_cache: str = "warm") -> dict[str, Any]:
    m = est.memory
    out: dict[str, Any] = {
        "weights_bytes": m.weights_bytes, "kv_cache_bytes": m.kv_cache_bytes, "compute_buffer_bytes": m.compute_buffer_bytes,
        "overhead_bytes": m.overhead_bytes, "total_bytes": m.total_bytes, "repacked_bytes": m.repacked_bytes,
    }
    if est.load is not None:
        out.update(load_s=est.load.cold_s if page_cache == "cold" else est.load.warm_s, load_warm_s=est.load.warm_s,
                   load_cold_s=est.load.cold_s, load_basis=est.load.basis, page_cache=page_cache)
    if est.speed:
        out.update(decode_tokens_per_s=est.speed.decode_tokens_per_s, prefill_tokens_per_s=est.speed.prefill_tokens_per_s,
                   ttft_s=est.speed.ttft_s, decode_bound=est.speed.decode_bound, basis=est.speed.basis)
    return out


def gguf_tensor_bytes(path: Path) -> int | None:
    """Bytes of tensor data in a GGUF file, as its header declares them (gguf package)."""
    try:
        import gguf

        return int(sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors))
    except Exception:  # an unreadable header is reported by llama.cpp's own load
        return None


def measured_figures(outcome: RunOutcome, gguf_path: Path | None = None) -> dict[str, Any]:
    from advisor.validate.llama_log import parse_llama_log

    m = dict(outcome.measured)
    if gguf_path is not None:
        m["gguf_tensor_bytes"] = gguf_tensor_bytes(gguf_path)
    buffers = parse_llama_log(outcome.log)
    m.update(
        model_buffer_bytes=buffers.model_buffer_bytes, mapped_model_bytes=buffers.model_buffers.get("CPU_Mapped", buffers.model_buffers.get("CPU")),
        extra_model_buffer_bytes=buffers.extra_model_buffer_bytes, model_buffers=buffers.model_buffers,
        kv_buffer_bytes=buffers.kv_buffer_bytes, compute_buffer_bytes=buffers.compute_buffer_bytes,
        n_ctx_allocated=buffers.n_ctx, flash_attn=buffers.flash_attn,
    )
    return m


def _plus(a: float | None, b: float) -> float | None:
    return None if a is None else a + b


def compare(pred: dict[str, Any], meas: dict[str, Any]) -> list[Comparison]:
    """Each prediction against its measurement. Where llama.cpp repacked weights for the CPU, its
    model buffers hold the memory-mapped file and the repacked copy, and the peak RSS both
    (the file's pages of the repacked matrices were read at load): each is set against the
    prediction plus the predicted copy (``MemoryEstimate.repacked_bytes``). A run stored before
    the copy was predicted is compared as it was."""
    repacked = pred.get("repacked_bytes") or 0
    copy = [Comparison("repacked copy (CPU_REPACK)", repacked, meas.get("extra_model_buffer_bytes"), "bytes")] if (
        "repacked_bytes" in pred and (repacked or meas.get("extra_model_buffer_bytes"))) else []
    return [
        Comparison(f"load time ({pred.get('page_cache', 'warm')} page cache)", pred.get("load_s"), meas.get("load_s"), "s"),
        Comparison("weights (GGUF tensor data)", pred.get("weights_bytes"), meas.get("gguf_tensor_bytes"), "bytes"),
        *copy,
        Comparison("model buffers (llama.cpp)" + (", with the repacked copy" if repacked else ""),
                   _plus(pred.get("weights_bytes"), repacked), meas.get("model_buffer_bytes"), "bytes"),
        Comparison("KV cache buffer", pred.get("kv_cache_bytes"), meas.get("kv_buffer_bytes"), "bytes"),
        Comparison("compute buffer", pred.get("compute_buffer_bytes"), meas.get("compute_buffer_bytes"), "bytes"),
        Comparison("peak RSS vs total" + (" + repacked copy" if repacked else ""), _plus(pred.get("total_bytes"), repacked),
                   meas.get("peak_rss_bytes"), "bytes"),
        Comparison("prefill", pred.get("prefill_tokens_per_s"), meas.get("prefill_tokens_per_s"), "tok/s"),
        Comparison("decode", pred.get("decode_tokens_per_s"), meas.get("decode_tokens_per_s"), "tok/s"),
        Comparison("time to first token", pred.get("ttft_s"), meas.get("ttft_s"), "s"),
    ]


def busy_text(measured: dict[str, Any], threads: int) -> str | None:
    """"other processes used 1.3 of the 2 cores …" when the machine was busy during the repeats
    (engine.calibrate.is_busy), else None."""
    foreign, cores = measured.get("foreign_cpu_cores"), measured.get("cpu_count")
    if not is_busy(foreign, cores, threads, measured.get("repeats_wall_s")):
        return None
    return (f"the machine was busy: other processes used {foreign:.2f} of its {cores} cores on average during the repeats, "
            f"more than the {max(0, cores - threads)} the run's {threads} threads left free + {BUSY_EXTRA_CORES:g}")


def _noise_error(noisy: bool, spread: str, busy: str | None) -> str | None:
    """A noisy run's stored error: why its speeds are not fitted (None: a quiet run)."""
    return "; ".join(x for x in (f"repeats disagree: {spread}" if noisy else "", busy or "") if x) or None


def repeat_spread(measured: dict[str, Any]) -> tuple[str, bool]:
    """The spread of a run's repeats, in words ("decode 5.1–5.3 tok/s (1.04×), …"), and whether
    it is noisy (engine.calibrate.is_noisy: fastest repeat > NOISY_SPREAD_LIMIT × the slowest)."""
    parts, noisy = [], False
    for metric in ("decode", "prefill"):
        samples = measured.get(f"{metric}_samples") or []
        if len(samples) < 2:
            continue
        spread = sample_spread(samples)
        noisy = noisy or is_noisy(samples)
        lo, hi = min(samples), max(samples)
        parts.append(f"{metric} {lo:.3g}–{hi:.3g} tok/s over {len(samples)} repeats ({spread:.2f}× apart)")
    return "; ".join(parts), noisy


def _available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def run_validation(
    model_id: str,
    quant_id: str,
    *,
    device: DeviceProfile,
    gguf: str | Path | None = None,
    context: int = 2048,
    prompt_tokens: int = 256,
    output_tokens: int = 64,
    threads: int | None = None,
    repeats: int = 3,
    kv_cache: str = "f16",
    flash_attn: str = "auto",
    force: bool = False,
    page_cache: str = "warm",
    timeout_s: float = 600.0,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
    db: Path | None = None,
    child_source: str | None = None,
) -> ValidationResult:
    catalog = catalog or load_catalog()
    model, ftype = catalog.model(model_id), catalog.file_type(quant_id)
    say = progress or (lambda _msg: None)
    threads = threads or device.cpu.big_cores
    workload = Workload(context_tokens=context, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                        kv_cache_type=kv_cache, threads=threads, flash_attn=flash_attn)  # type: ignore[arg-type]
    if page_cache not in PAGE_CACHE_STATES:
        raise BadInputError(f"page cache '{page_cache}' is not one of {', '.join(PAGE_CACHE_STATES)}")
    if page_cache == "cold" and not can_drop_page_cache():
        raise BadInputError("this OS cannot drop one file from the page cache (no posix_fadvise); validate with a warm page cache")
    est = evaluate(model, ftype, device, workload, catalog)
    predicted = predicted_figures(est, page_cache)
    settings_doc: dict[str, Any] = {"n_ctx": context, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
                                    "threads": threads, "repeats": repeats, "kv_cache": kv_cache, "n_ubatch": workload.n_ubatch,
                                    "flash_attn": flash_attn, "page_cache": page_cache}
    base_run = dict(source="validate", device_id=device.id, model_id=model.id, model_name=model.name, quant=ftype.id,
                    device_profile=device.model_dump(mode="json", by_alias=True), backend="cpu", predicted=predicted,
                    settings=settings_doc, device_fingerprint=_machine_fingerprint())

    synthetic = gguf is None
    if gguf is not None:
        path = Path(gguf)
        check_gguf(path)
        header = read_gguf_header(path)
        check_architecture(header, model, path)
        check_quantization(header, ftype, catalog.file_types, path)
    else:
        from advisor.validate.twin import build_twin

        say(f"building the synthetic twin of {model.id} in {ftype.id} (exact architecture, random weights; cached)")
        last = [-1]

        def twin_progress(done: int, total: int) -> None:
            pct = int(100 * done / max(1, total))
            if pct >= last[0] + 10:
                last[0] = pct
                say(f"  writing tensors {pct}%")

        try:
            path = build_twin(model, ftype.id, twin_cache_dir(), progress=twin_progress)
        except RunError as exc:
            run_id = record_run(Run(status="failed", error=str(exc), synthetic=True, **base_run), db)
            raise RunError(f"{exc} (recorded as run {run_id})") from None

    available = _available_bytes()
    if est.memory.total_bytes > available and not force:
        msg = (f"refused: the run needs ~{format_size(est.memory.total_bytes)} but only {format_size(available)} is available; "
               "free memory, lower --context, or pass --force")
        run_id = record_run(Run(status="refused", error=msg, synthetic=synthetic, gguf_path=str(path), **base_run), db)
        raise RunError(f"{msg} (recorded as run {run_id})")

    settings = RunSettings(gguf=path, n_ctx=context, prompt_tokens=prompt_tokens, output_tokens=output_tokens, threads=threads,
                           repeats=repeats, type_k=KV_TYPE_IDS[kv_cache] if kv_cache != "f16" else None, timeout_s=timeout_s,
                           flash_attn=resolve_flash_attn(flash_attn))
    say(f"running llama.cpp: {repeats} repeats of {prompt_tokens} prompt + {output_tokens} generated tokens, {threads} threads")
    notes: list[str] = []
    child = run_child if child_source is None else partial(run_child, child_source=child_source)

    def run(settings: RunSettings, **kw: Any) -> RunOutcome:
        # every attempt starts from the page cache asked for: the file dropped from it, or read through it
        drop_from_page_cache(path) if page_cache == "cold" else read_through(path)
        return child(settings, **kw)

    outcome = run(settings, progress=lambda text: say(f"  {text}"))
    weight_path = "default (extra buffer types: CPU weight repacking allowed)"
    first_attempt: str | None = None
    if outcome.status == "crashed" and outcome.returncode in CRASH_SIGNALS_RETRYABLE:
        # llama.cpp's CPU weight-repack path crashes on some CPUs: one retry without it, one line,
        # one recorded run (the crash is kept in that run's settings and notes)
        first_attempt = outcome.error
        notes.append(f"first attempt {first_attempt}; retried with use_extra_bufts = False (no CPU weight repacking)")
        say(notes[-1])
        settings.use_extra_bufts = False
        outcome = run(settings, progress=lambda text: say(f"  {text}"))
        weight_path = NO_REPACK_WEIGHT_PATH
        settings_doc["first_attempt"] = first_attempt
        # the retry ran without repacking: compare it with the prediction for that (--no-repack)
        est = evaluate(model, ftype, device, replace(workload, cpu_repack=False), catalog)
        predicted = base_run["predicted"] = predicted_figures(est, page_cache)
    if not outcome.ok:
        error = outcome.error if first_attempt is None else f"{outcome.error} (first attempt, with repacking: {first_attempt})"
        run_id = record_run(Run(status=outcome.status, error=error, synthetic=synthetic, gguf_path=str(path),
                                weight_path=weight_path, **base_run), db)
        raise RunError(f"the run {outcome.status}: {error} (recorded as run {run_id})")

    spread, noisy = repeat_spread(outcome.measured)
    busy = busy_text(outcome.measured, threads)
    kept_id: int | None = None  # the noisy first attempt's run, when measuring again failed
    measured = measured_figures(outcome, path)
    if noisy or busy:
        # a busy machine: keep the attempt (as noisy, never fitted) and measure once more
        first_id = record_run(Run(status="noisy", error=_noise_error(noisy, spread, busy), synthetic=synthetic, gguf_path=str(path),
                                  weight_path=weight_path, measured=measured, **base_run), db)
        notes.append("; ".join(x for x in (f"repeats disagreed by more than {NOISY_SPREAD_LIMIT:g}× ({spread})" if noisy else "",
                                            busy or "") if x) + "; measured again")
        say(notes[-1])
        again = run(settings)
        if again.ok:
            outcome = again
            spread, noisy = repeat_spread(outcome.measured)
            busy = busy_text(outcome.measured, threads)
            measured = measured_figures(outcome, path)
        else:  # the first attempt stands, stored once (it was recorded a second time)
            kept_id = first_id
            notes.append(f"measuring again {again.status} ({again.error}); the first attempt is kept as noisy (run {first_id})")
            say(notes[-1])
    status = "noisy" if noisy or busy else "ok"
    if spread:
        notes.append(f"repeats: {spread}" + (
            f" — NOISY (more than {NOISY_SPREAD_LIMIT:g}× apart twice): stored as noisy, left out of 'advisor calibrate'; "
            "rerun on a quiet machine" if noisy else ""))
    if busy:
        notes.append(f"BUSY twice — {busy}: stored as noisy, left out of 'advisor calibrate'; rerun on a quiet machine")
    if measured.get("extra_model_buffer_bytes"):
        notes.append(
            f"llama.cpp repacked the matrix weights into {', '.join(k for k in measured['model_buffers'] if k not in ('CPU', 'CPU_Mapped'))} "
            f"buffers ({format_size(measured['extra_model_buffer_bytes'])}) beside the memory-mapped file: its model buffers "
            "and the peak RSS count those weights twice (compared below with the predicted copy added); the mapped pages "
            "can be reclaimed, the repacked copy cannot"
        )
    run_id = kept_id if kept_id is not None else record_run(
        Run(status=status, synthetic=synthetic, gguf_path=str(path), weight_path=weight_path,
            error=_noise_error(noisy, spread, busy),
            measured=measured, llama_cpp_version=measured.get("llama_cpp_python"), **base_run), db)
    if synthetic:
        notes.insert(0, "weights are SYNTHETIC (random, exact architecture): memory and speed are the real model's, its answers are not")
    return ValidationResult(run_id=run_id, status=status, model_id=model.id, quant=ftype.id, device_id=device.id,
                            synthetic=synthetic, gguf=str(path), weight_path=weight_path,
                            comparisons=compare(predicted, measured), notes=notes, measured=measured)


def _machine_fingerprint() -> str | None:
    """This machine's fingerprint (``hardware.MachineInfo.fingerprint``), stored with each run so
    that a run made on another machine under a shared $ADVISOR_HOME is never fitted to this one."""
    try:
        from advisor.hardware import probe_machine

        return probe_machine().fingerprint
    except Exception:  # noqa: BLE001 — a probe that fails leaves the run without one, as before
        return None


__all__ = ["Comparison", "ValidationResult", "check_architecture", "check_gguf", "check_quantization", "check_twin_cache", "read_gguf_header", "run_validation", "twin_cache_dir"]

"""Turn llama-bench results into recorded runs, each with our prediction for the same test."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from advisor.catalog import Catalog, load_catalog, load_device_file, suggest
from advisor.engine.calibrate import is_noisy
from advisor.engine.evaluate import evaluate
from advisor.engine.memory import weights_bytes
from advisor.engine.tensors import count_params
from advisor.errors import BadInputError
from advisor.inputs import MAX_BENCH_FILE_BYTES, check_document, read_bounded_text
from advisor.records import DeviceProfile, FileType, GgmlType, ModelSpec, Workload
from advisor.store import Run, record_new_runs, run_from_export
from advisor.units import format_size
from advisor.validate.bench_import import MAX_BENCH_ROWS, BenchRow, read_llama_bench
from advisor.validate.predicted_vs_measured import predicted_figures


def guess_model(filename: str, catalog: Catalog) -> str | None:
    """'Qwen2.5-0.5B-Instruct-Q4_K_M.gguf' → 'qwen2.5-0.5b-instruct': the longest catalog id the
    file name contains. Never a guess from less: an empty or generic name ("model.gguf", "qwen")
    gives None, and the caller asks for --model."""
    stem = re.sub(r"[-_.](?:i?q\d\w*|f16|bf16|f32)(?:[-_.].*)?\.gguf$", "", Path(filename).name.lower())
    stem = stem.removesuffix(".gguf")
    if not stem:
        return None
    hits = [m for m in catalog.models if m in stem]
    return max(hits, key=len) if hits else None


#: CPU families named in llama-bench's ``cpu_info`` (the CPU's brand string): the word that tells
#: the instruction set. A string naming none (or several) is not checked.
_CPU_FAMILIES = (
    ("arm64-apple", re.compile(r"\bapple\b", re.I)),
    ("x86_64", re.compile(r"\b(?:intel|amd|x86(?:_64)?|xeon|epyc|ryzen|threadripper|pentium|celeron|athlon)\b", re.I)),
    ("arm64", re.compile(r"\b(?:arm(?:v[89])?|aarch64|cortex|neoverse|snapdragon|qualcomm|kryo|oryon|graviton|"
                         r"ampere|mediatek|dimensity|exynos|rockchip|broadcom|orin|carmel)\b", re.I)),
    ("riscv64", re.compile(r"\b(?:risc-?v|riscv64|sifive|spacemit|starfive|t-head)\b", re.I)),
)
#: Tensor-element count of the file against the named model's: beyond this, it is another model.
PARAMS_TOLERANCE = 0.03
#: Tensor bytes of the file against the model in the named quantization: beyond this, another
#: quantization or model. A type's mix moves a few % between llama.cpp versions, so this is loose:
#: it catches a wrong bit width two steps away (Q4_K_M vs Q6_K: +27 % on Llama-3.2-1B, Q8_0 +64 %),
#: not a neighbour (Q4_K_M → Q5_0 +11 %, Q4_K_S → Q4_K_M +4 %; engine.memory.weights_bytes).
SIZE_TOLERANCE = 0.12


def cpu_family(cpu_info: str | None) -> str | None:
    """'x86_64', 'arm64', 'arm64-apple' or 'riscv64' from a CPU brand string; None when it names
    no family or more than one (Apple counts before the generic ARM words)."""
    found = {fam for fam, pattern in _CPU_FAMILIES if cpu_info and pattern.search(cpu_info)}
    if "arm64-apple" in found:
        found.discard("arm64")
    return found.pop() if len(found) == 1 else None


def device_cpu_family(device: DeviceProfile) -> str:
    apple = device.vendor.lower().startswith("apple") and device.cpu.arch == "arm64"
    return "arm64-apple" if apple else device.cpu.arch


#: llama-bench ``backends`` names of GPU backends, by the engine's GPU backend they are (None: a
#: GPU backend the engine has no path for: SYCL, HIP, CANN, MUSA …)
_GPU_BACKENDS = {"cuda": "cuda", "metal": "metal", "vulkan": "vulkan", "opencl": "opencl", "sycl": None, "hip": None,
                 "rocm": None, "cann": None, "musa": None, "kompute": None, "webgpu": None}


def row_gpu_backend(backends: str | None, n_gpu_layers: int | None) -> tuple[bool, str | None]:
    """(ran on a GPU, the engine's backend of it) of llama-bench's ``backends`` and
    ``n_gpu_layers``: a GPU backend listed and layers offloaded — any n_gpu_layers but 0 (−1 is
    llama-bench's default since 2025, "auto": as many as fit; 99 the older "all"), or not stated."""
    names = [b.strip().lower() for b in (backends or "").split(",")]
    gpu = [n for n in names if n in _GPU_BACKENDS]
    offloaded = bool(gpu) and n_gpu_layers != 0
    return offloaded, (_GPU_BACKENDS[gpu[0]] if offloaded else None)


@dataclass(frozen=True)
class Mismatch:
    """Why a llama-bench measurement does not belong to a device × model × quantization, and what
    to do on import."""

    reason: str
    fix: str


def bench_mismatch(device: DeviceProfile, model: ModelSpec, ftype: FileType, ggml_types: Mapping[str, GgmlType], *,
                   cpu_info: str | None, backends: str | None, n_gpu_layers: int | None, n_params: int | None,
                   size_bytes: int | None, expected_bytes: int | None = None) -> Mismatch | None:
    """A measurement made on another kind of CPU than ``device``'s, on another processor than the
    one llama.cpp uses there (a GPU run for a CPU-only device, a CPU-only run for a device whose
    GPU llama.cpp uses, another GPU backend, part of the layers offloaded), or on another model or
    quantization: fitted, it would calibrate the wrong device, path or model. Only what is stated
    is checked (None everywhere: no mismatch). ``expected_bytes``: the model's weight bytes in
    ``ftype`` when already computed."""
    again = "name the device they ran on with --device or --device-file"
    fam, device_fam = cpu_family(cpu_info), device_cpu_family(device)
    if fam is not None and fam != device_fam:
        theirs = "an Apple" if device_fam == "arm64-apple" else "an " + device.cpu.arch
        return Mismatch(f"was measured on '{cpu_info}' ({fam.replace('-apple', ', Apple')}), but {device.id} has {theirs} CPU: "
                        "these are another machine's runs", again)
    on_gpu, backend = row_gpu_backend(backends, n_gpu_layers)
    device_gpu = device.gpu.backend if device.gpu_usable and device.gpu else None
    ran = f"(backends {backends}, n_gpu_layers {n_gpu_layers})"
    if on_gpu and backend != device_gpu:
        there = (f"on its GPU through {device_gpu}: the measurement would calibrate the wrong path" if device_gpu
                 else "on its CPU: these are another machine's runs")
        return Mismatch(f"ran on the GPU {ran}, but llama.cpp on {device.id} runs {there}", again)
    if on_gpu and n_gpu_layers is not None and 0 < n_gpu_layers < model.n_layers:
        return Mismatch(f"ran {n_gpu_layers} of {model.n_layers} layers on the GPU: a split the engine does not predict "
                        "(it places every layer that fits)", "import runs with every layer offloaded (-ngl 99)")
    if device_gpu and backends and not on_gpu:
        return Mismatch(f"ran on the CPU only {ran}, but llama.cpp on {device.id} runs on its GPU through {device_gpu}: the "
                        "measurement would calibrate the GPU path",
                        "import it with a --device-file of the device without its [gpu] table, under an id of its own")
    if n_params:
        ours = count_params(model)
        if abs(n_params / ours - 1) > PARAMS_TOLERANCE:
            return Mismatch(f"measured a file of {n_params:,} parameters, but {model.id} has {ours:,}: it is another model", "name it with --model")
    if size_bytes:
        ours = expected_bytes if expected_bytes is not None else weights_bytes(model, ftype, ggml_types)
        if abs(size_bytes / ours - 1) > SIZE_TOLERANCE:
            return Mismatch(f"measured {format_size(size_bytes)} of weights, but {model.id} in {ftype.id} would be "
                            f"{format_size(ours)}: it is another quantization or model", "name them with --quant and --model")
    return None


def workload_for(row: BenchRow) -> Workload:
    if row.test == "pp":
        return Workload(context_tokens=max(512, row.n_prompt + 1), prompt_tokens=row.n_prompt, output_tokens=1,
                        threads=row.n_threads, n_ubatch=row.n_ubatch or 512)
    return Workload(context_tokens=max(512, row.n_prompt + row.n_gen + 1), prompt_tokens=max(1, row.n_prompt),
                    output_tokens=row.n_gen, threads=row.n_threads, n_ubatch=row.n_ubatch or 512)


@dataclass(frozen=True)
class Imported:
    """What ``import_llama_bench`` stored: the new runs' ids, and for each row of the file stored
    already (an earlier import of the same file, or the row twice in it) its row number and the
    stored run's id. Copies are not stored again: a measurement counted twice would weigh double
    in ``advisor calibrate`` and sit on both sides of its leave-one-run-out check."""

    ids: list[int]
    copies: list[tuple[int, int]]


def import_llama_bench(
    path: str | Path, *, device_id: str | None = None, device_file: str | None = None,
    model_id: str | None = None, quant_id: str | None = None, catalog: Catalog | None = None, db: Path | None = None,
) -> Imported:
    catalog = catalog or load_catalog()
    if bool(device_id) == bool(device_file):
        raise BadInputError("name the device the measurements were made on with exactly one of --device ID or --device-file FILE")
    device: DeviceProfile = catalog.device(device_id) if device_id else load_device_file(device_file)  # type: ignore[arg-type]
    rows = read_llama_bench(path)
    if model_id is not None:
        catalog.model(model_id)
        files = sorted({r.model_filename for r in rows if r.model_filename and r.test != "pg"})
        if len(files) > 1:
            raise BadInputError(
                f"{path}: the rows measure {len(files)} different model files ({', '.join(Path(f).name for f in files[:3])}); "
                "--model names one: import each model's rows separately"
            )
    pending: list[Run] = []
    row_numbers: list[int] = []
    for index, row in enumerate(rows, 1):
        if row.test == "pg":
            continue  # mixed prompt+generation tests are not comparable to either rate
        if model_id:
            mid: str | None = model_id
        elif not row.model_filename:
            raise BadInputError(f"{path}: row {index} does not name its model (no model_filename); pass --model ID")
        else:
            mid = guess_model(row.model_filename, catalog)
        if mid is None:
            close = suggest(Path(row.model_filename).stem, catalog.models)
            raise BadInputError(
                f"cannot tell which catalog model {row.model_filename!r} is; pass --model ID"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
            )
        model = catalog.model(mid)
        qid = quant_id or row.ftype
        if qid is None:
            raise BadInputError(f"{path}: row {index}: cannot tell the quantization of '{row.model_type}'; pass --quant (e.g. Q4_K_M)")
        ftype = catalog.file_type(qid)
        wrong = bench_mismatch(device, model, ftype, catalog.ggml_types, cpu_info=row.cpu_info, backends=row.backends,
                               n_gpu_layers=row.n_gpu_layers, n_params=row.model_n_params, size_bytes=row.model_size_bytes)
        if wrong is not None:
            raise BadInputError(f"{path}: row {index} {wrong.reason}; {wrong.fix}")
        workload = workload_for(row)
        est = evaluate(model, ftype, device, workload, catalog)
        metric = "prefill_tokens_per_s" if row.test == "pp" else "decode_tokens_per_s"
        pending.append(Run(
            source="llama-bench", device_id=device.id,
            # repeats that disagree (stddev > NOISY_CV_LIMIT of the mean) are kept but never fitted
            status="noisy" if is_noisy(row.samples_tokens_per_s, mean=row.tokens_per_s, stddev=row.stddev_tokens_per_s) else "ok", model_id=model.id, model_name=model.name, quant=ftype.id,
            synthetic=False, gguf_path=row.model_filename or None, backend=row.backends, weight_path=None,
            device_profile=device.model_dump(mode="json", by_alias=True),
            settings={"test": row.test, "n_prompt": row.n_prompt, "n_gen": row.n_gen, "threads": row.n_threads,
                      "n_batch": row.n_batch, "n_ubatch": row.n_ubatch, "type_k": row.type_k, "flash_attn": row.flash_attn,
                      "n_gpu_layers": row.n_gpu_layers, "n_ctx": workload.context_tokens,
                      "prompt_tokens": workload.prompt_tokens, "output_tokens": workload.output_tokens},
            predicted=predicted_figures(est),
            measured={metric: row.tokens_per_s, "stddev_tokens_per_s": row.stddev_tokens_per_s,
                      f"{metric.split('_')[0]}_samples": list(row.samples_tokens_per_s) or None,
                      "model_size_bytes": row.model_size_bytes, "cpu_info": row.cpu_info, "gpu_info": row.gpu_info},
            llama_cpp_version=row.build,
        ))
        row_numbers.append(index)
    if not pending:
        raise BadInputError(f"{path}: no pp or tg tests in this llama-bench output")
    # one transaction: every new row is stored, or (an error, Ctrl-C, a kill) none
    ids, copies = record_new_runs(pending, db)
    return Imported(ids, [(row_numbers[i], stored) for i, stored in copies])


# --------------------------------------------------------------------------- runs exported by this tool

#: ``advisor runs export --format json``'s schema and the versions ``runs import`` reads
RUNS_SCHEMA = "edge-model-advisor/runs"
RUNS_SCHEMA_VERSIONS = (1,)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a measurement can have")


def _export_document(text: str, where: str) -> dict | None:
    """The parsed export when ``text`` is one (a JSON object naming RUNS_SCHEMA), else None (it is
    not one: llama-bench output, or nothing this tool wrote). NaN and ±Infinity are refused."""
    stripped = text.removeprefix("\ufeff").strip()
    if not stripped.startswith("{") or f'"{RUNS_SCHEMA}"' not in stripped[:4096]:
        return None
    try:
        raw = json.loads(stripped, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}); export the runs again "
                            "('advisor runs export --format json')") from None
    except RecursionError:
        raise BadInputError(f"{where}: nested too deeply for an export of runs") from None
    except ValueError as exc:
        raise BadInputError(f"{where}: {exc}; export the runs again ('advisor runs export --format json')") from None
    if not isinstance(raw, dict) or raw.get("schema") != RUNS_SCHEMA:
        return None
    check_document(raw, where, max_values=MAX_BENCH_ROWS * 400)
    return raw


def _machine_key(run: Run) -> str | None:
    """The fingerprint of the machine a 'local' run was measured on, from the run or its profile
    (16 hex digits, as ``advisor profile`` writes it; None: not recorded, or not one)."""
    profile = run.device_profile or {}
    found = run.device_fingerprint or profile.get("fingerprint")
    return found if isinstance(found, str) and re.fullmatch(r"[0-9a-f]{16}", found) else None


def _other_machine_id(run: Run) -> str:
    """'local-<fingerprint>': the id another machine's 'local' runs are stored under; without a
    fingerprint, 16 hex digits of its profile's hash (the same profile, the same id)."""
    from advisor.local import LOCAL_ID

    key = _machine_key(run) or hashlib.sha256(json.dumps(run.device_profile, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{LOCAL_ID}-{key}"


@dataclass(frozen=True)
class ExportImported(Imported):
    """``Imported`` of an export, and the device ids other machines' 'local' runs were stored
    under (id → the machine's fingerprint)."""

    moved: dict[str, str]


def import_exported_runs(
    path: str | Path, raw: Mapping[str, object], *, device_id: str | None = None, device_file: str | None = None,
    catalog: Catalog | None = None, db: Path | None = None,
) -> ExportImported:
    """Store the runs of an export (``advisor runs export --format json``, from this machine or
    another): all of them or, on any bad run, none (one BadInputError naming it). Each keeps its
    device profile, recording time, status and exclusion; the store gives it a new id. A run
    recorded under 'local' on another machine (another fingerprint than this machine's profile's),
    or without a fingerprint, is stored under 'local-<fingerprint>' (``_other_machine_id``): fitted
    as this machine, it would calibrate the wrong one. ``device_id``/``device_file``: the device the runs were measured on, for an
    export whose runs carry no profile. Runs stored already (``store.copy_identity``) are skipped."""
    from advisor.local import LOCAL_ID, profile_fingerprint

    catalog = catalog or load_catalog()
    if device_id and device_file:
        raise BadInputError("name the device with one of --device ID or --device-file FILE, not both")
    device: DeviceProfile | None = None
    if device_id or device_file:
        device = catalog.device(device_id) if device_id else load_device_file(device_file)  # type: ignore[arg-type]
    version = raw.get("schema_version")
    if version not in RUNS_SCHEMA_VERSIONS:
        raise BadInputError(f"{path}: an export of schema version {version!r}; this version of advisor reads "
                            f"{', '.join(map(str, RUNS_SCHEMA_VERSIONS))}: upgrade advisor, or export the runs again with this one")
    items = raw.get("runs")
    if not isinstance(items, list):
        raise BadInputError(f"{path}: 'runs' is not a list of runs; export the runs again ('advisor runs export --format json')")
    if len(items) > MAX_BENCH_ROWS:
        raise BadInputError(f"{path}: {len(items):,} runs; import at most {MAX_BENCH_ROWS:,} at a time")
    here = catalog.devices.get(LOCAL_ID)
    here_key = profile_fingerprint(here) if here else None
    pending: list[Run] = []
    moved: dict[str, str] = {}
    for index, item in enumerate(items, 1):
        label = f"{path}: run {index}" + (f" (id {item['id']})" if isinstance(item, dict) and isinstance(item.get("id"), int) else "")
        if not isinstance(item, dict):
            raise BadInputError(f"{label} is not a JSON object; export the runs again ('advisor runs export --format json')")
        try:
            run = run_from_export(item)
        except ValueError as exc:
            raise BadInputError(f"{label}: {exc}; correct the file or export the runs again") from None
        if device is not None:
            run = replace(run, device_id=device.id, device_profile=device.model_dump(mode="json", by_alias=True))
        elif run.device_profile is None:
            raise BadInputError(f"{label} carries no device profile (an export written before profiles were exported); "
                                "name the device the runs were measured on with --device or --device-file")
        try:
            DeviceProfile.model_validate(run.device_profile)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise BadInputError(f"{label}: its device profile does not validate ({where}: {first['msg']}); "
                                "name the device with --device or --device-file") from None
        # another machine's, or a machine nothing tells (no fingerprint: calibrate could not tell it
        # from this one later); a fingerprint this machine's profile lacks is compared by calibrate
        # once the machine is profiled (calibrate_from_runs.other_machine)
        theirs = _machine_key(run)
        if run.device_id == LOCAL_ID and device is None and (theirs is None or (here_key is not None and theirs != here_key)):
            new_id = _other_machine_id(run)
            moved[new_id] = theirs or "not recorded"
            run = replace(run, device_id=new_id, device_profile={**(run.device_profile or {}), "id": new_id})
        pending.append(run)
    if not pending:
        raise BadInputError(f"{path}: the export holds no runs")
    ids, copies = record_new_runs(pending, db)
    return ExportImported(ids, [(i + 1, stored) for i, stored in copies], dict(sorted(moved.items())))


def import_runs_file(
    path: str | Path, *, device_id: str | None = None, device_file: str | None = None, model_id: str | None = None,
    quant_id: str | None = None, catalog: Catalog | None = None, db: Path | None = None,
) -> Imported:
    """``advisor runs import``: an export of this tool's runs (``import_exported_runs``) or
    llama-bench output (``import_llama_bench``), told apart by the file's schema field."""
    text = read_bounded_text(Path(path), max_bytes=MAX_BENCH_FILE_BYTES, what="runs file")
    raw = _export_document(text, str(path))
    if raw is None:
        return import_llama_bench(path, device_id=device_id, device_file=device_file, model_id=model_id, quant_id=quant_id,
                                  catalog=catalog, db=db)
    if model_id or quant_id:
        raise BadInputError(f"{path} is an export of advisor's runs, which name their model and quantization; "
                            "leave out --model and --quant (they are for llama-bench output)")
    return import_exported_runs(path, raw, device_id=device_id, device_file=device_file, catalog=catalog, db=db)

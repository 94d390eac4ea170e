"""The library's front door: what the CLI, the dashboard and the reports call.

Each function takes user-level inputs (ids, sizes, workload numbers), resolves them against the
catalog and returns engine results. Input problems raise AdvisorError subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from advisor.catalog import Catalog, check_device_runtimes, load_catalog, load_device_file
from advisor.engine.evaluate import evaluate, generic_device, ram_peer_pool
from advisor.engine.recommend import Constraints, DeviceOption, Recommendation, devices_for, recommend
from advisor.errors import BadInputError, DataFileError, NothingFitsError
from advisor.records import DeviceProfile, Estimate, ModelSpec, PathFactors, Reason, Workload
from advisor.units import parse_memory_size

LICENSE_ALIASES = {
    "permissive": {"permissive"},
    "restricted": {"restricted"},
    "noncommercial": {"noncommercial"},
    "non-commercial": {"noncommercial"},
    "commercial": {"permissive", "restricted"},
    "any": {"permissive", "restricted", "noncommercial"},
}


def parse_licenses(values: Iterable[str]) -> frozenset[str] | None:
    out: set[str] = set()
    for raw in values:
        for part in raw.split(","):
            key = part.strip().lower()
            if not key:
                continue
            if key not in LICENSE_ALIASES:
                raise BadInputError(
                    f"unknown license class '{part.strip()}'; use permissive, restricted, noncommercial, commercial or any"
                )
            out |= LICENSE_ALIASES[key]
    return frozenset(out) if out else None


#: How the CLI names the RAM-only inputs in its messages (a front end passes its own names).
CLI_INPUT_NAMES: tuple[tuple[str, str], ...] = (("ram", "--ram"), ("usable", "--usable"))


@dataclass(frozen=True)
class DeviceChoice:
    """How the user named the device: exactly one of id, file or RAM. ``input_names`` says what the
    front end calls the RAM and usable-memory inputs, for its error messages."""

    device_id: str | None = None
    device_file: str | Path | None = None
    ram: str | None = None
    usable: str | None = None
    device_class: str | None = None
    #: the deployment target the device is for: a RAM-only device stands for the devices of that
    #: RAM that can host it (an iOS app's 6 GB phone is an iPhone, not an Android phone)
    target_id: str | None = None
    #: the browser of a browser target: the devices it runs on (Safari on iOS: the iPhones and iPads)
    browser_id: str | None = None
    #: the runtimes named (--runtime; None: every one): a RAM-only device stands for the devices of
    #: that RAM that run one of them natively (MLC's 16 GB laptop is a Mac, not the x86 laptop whose
    #: integrated GPU MLC does not drive)
    runtimes: frozenset[str] | None = None
    input_names: tuple[tuple[str, str], ...] = CLI_INPUT_NAMES


#: RAM-only devices kept with the catalog (and its cache) before the memo starts afresh.
MAX_MADE_DEVICES = 32


def resolve_device(choice: DeviceChoice, catalog: Catalog | None = None) -> DeviceProfile:
    catalog = catalog or load_catalog()
    names = dict(choice.input_names)
    for value, flag, give in ((choice.device_id, "--device", "a device id (see 'advisor devices')"),
                              (choice.device_file, "--device-file", "the path of a device profile"),
                              (choice.ram, names["ram"], "a size such as 4GB")):
        if value is not None and not str(value).strip():
            raise BadInputError(f"{flag} is empty; give {give}")
    given = [x for x in (choice.device_id, choice.device_file, choice.ram) if x]
    if len(given) != 1:
        raise BadInputError("name the device with exactly one of --device ID, --device-file FILE or --ram SIZE")
    if not choice.ram and (choice.usable or choice.device_class is not None):
        what = " and ".join(flag for flag, value in ((names["usable"], choice.usable), ("--class", choice.device_class is not None)) if value)
        raise BadInputError(f"{what} describe{'s' if ' and ' not in what else ''} a device given by {names['ram']} only; "
                            "a device profile states its own usable memory and class (an app's budget: --target)")
    if choice.device_id:
        if choice.device_id.strip().lower() == "local":
            from advisor.local import local_profile  # lazy: probes are slow

            return local_profile()
        return catalog.device(choice.device_id)
    if choice.device_file:  # checked as a catalog profile is: the runtimes its [gpu]/[npu] name
        device = load_device_file(choice.device_file)
        check_device_runtimes(device, catalog.runtimes, Path(choice.device_file))
        return device
    assert choice.ram is not None
    ram = parse_memory_size(choice.ram, what=names["ram"])
    usable = parse_memory_size(choice.usable, what=names["usable"]) if choice.usable else None
    if usable is not None and usable > ram:
        raise BadInputError(
            f"{names['usable']} {choice.usable} is more than {names['ram']} {choice.ram}; usable memory is part of RAM")
    templates = ram_peer_templates(catalog)
    device_class = None
    if choice.device_class is not None:  # a class of the catalog's, else the error lists those a RAM size can take
        classes = _classes_of(ram_peer_pool(templates))
        asked = choice.device_class.strip().lower()
        device_class = asked if asked in {d.device_class for d in catalog.devices.values()} else \
            check_device_class(choice.device_class, catalog, classes)
        if device_class not in classes:
            raise BadInputError(f"every {device_class} profile has a discrete GPU, whose VRAM a RAM size does not describe: "
                                f"name one with --device (see 'advisor devices --class {device_class}'); "
                                f"with {names['ram']}, use one of {', '.join(classes)}")
    target = catalog.target(choice.target_id) if choice.target_id else None
    if target is not None:
        browser = target.browser(choice.browser_id.strip().lower()) if choice.browser_id and target.browsers else None
        templates = [d for d in templates if target.hosts(d) and (browser is None or browser in target.browsers_for(d))
                     ] or templates  # none: the deployment says why
    runtimes = _named_runtimes(choice.runtimes, catalog)
    if runtimes and not (target is not None and target.browsers):  # a browser's runtimes run in its tab, not natively
        templates = [d for d in templates if any(r.usable_backends(d) for r in runtimes)] or templates  # none: the runtime says why
    key = ("generic", ram, device_class, usable, choice.target_id, choice.browser_id,
           tuple(sorted(r.id for r in runtimes)))
    made = catalog.made_devices.get(key)
    if made is None:
        if len(catalog.made_devices) >= MAX_MADE_DEVICES:
            catalog.made_devices.clear()  # a bounded memo: the cache file stays small
        made = catalog.made_devices[key] = generic_device(
            ram, templates, device_class=device_class, usable_bytes=usable, tables=catalog)
    return made


def _named_runtimes(runtimes: frozenset[str] | None, catalog: Catalog) -> list[Any]:
    """The runtimes a user named (none for every runtime: ``ALL_RUNTIMES`` or None), as records;
    an unknown name is left to the answer's own check."""
    from advisor.engine.recommend import ALL_RUNTIMES

    if not runtimes or runtimes == ALL_RUNTIMES:
        return []
    return [catalog.runtimes[r] for r in sorted(runtimes) if r in catalog.runtimes]


def check_device_class(device_class: str | None, catalog: Catalog, choices: Sequence[str] | None = None) -> str | None:
    """``--class`` as given (None when not given), checked: an empty or unknown class is one error
    listing the classes (``choices``, default every class of the catalog's devices) — every command
    that takes --class says the same."""
    if device_class is None:
        return None
    classes = list(choices) if choices is not None else sorted({d.device_class for d in catalog.devices.values()})
    if not device_class.strip():
        raise BadInputError(f"--class is empty; give one of {', '.join(classes)}, or leave it out for every class")
    if device_class.strip().lower() not in classes:
        raise BadInputError(f"unknown device class '{device_class}'; use one of {', '.join(classes)}")
    return device_class.strip().lower()


def ram_classes(catalog: Catalog) -> list[str]:
    """The device classes a RAM-only device may take its speed from (``engine.evaluate.ram_peers``
    leaves out devices with a discrete GPU: a class of only those has no RAM peer)."""
    return _classes_of(ram_peer_pool(ram_peer_templates(catalog)))


def _classes_of(devices: Iterable[DeviceProfile]) -> list[str]:
    return sorted({d.device_class for d in devices})


def ram_peer_templates(catalog: Catalog) -> list[DeviceProfile]:
    """The catalog devices a RAM size may stand for: those whose execution path has measured
    runs. A device whose speed is a prior only (the RISC-V boards: no RISC-V CPU run in the
    reference data) would otherwise become the yardstick of every device with its RAM; it is
    named with --device instead. All devices when none qualifies."""
    from advisor.engine.speed import execution_path

    measured = [d for d in catalog.devices.values()
                if (f := catalog.calibration.get(execution_path(d))) is None or f.n_measurements > 0]
    return measured or list(catalog.devices.values())


def peer_speeds(device: DeviceProfile, model_id: str, quant_id: str, catalog: Catalog | None = None, *,
                runtime_id: str | None = None, backend_id: str | None = None,
                workload: Workload | None = None, deployment: Any = None) -> list[tuple[DeviceProfile, float]]:
    """For a RAM-only device (``device.stands_for``): the decode speed of ``model_id`` in
    ``quant_id`` with ``runtime_id`` (default llama.cpp) for ``workload`` (default context 4,096,
    prompt 512, output 256), under ``deployment``'s target when given, on each catalog device it
    stands for that runs it, slowest to fastest —
    each on its own default backend unless ``backend_id`` pins one (the user's --backend) — from
    the engine's own list (``evaluate.peer_speeds``), so the first is the one its estimate took.
    Empty for a real device, or when the runtime does not run the format there."""
    from advisor.engine.evaluate import peer_speeds as engine_peer_speeds
    from advisor.engine.evaluate import stage
    from advisor.engine.runtimes import resolve_variant

    if not device.stands_for:
        return []
    catalog = catalog or load_catalog()
    try:
        v = resolve_variant(catalog, device, runtime_id or "llama.cpp", quant_id, backend_id, deployment)
    except BadInputError:
        return []
    if v.format is None:
        return []
    workload = workload or Workload()
    s = stage(catalog.model(model_id), v.format, device, workload, catalog, overrides=calibration_overrides(), variant=v)
    template = catalog.devices.get(device.stands_for[0], device)
    return [(template if d is device else d, sp.decode_tokens_per_s) for d, sp in engine_peer_speeds(s, device, workload)]


def calibration_overrides() -> Mapping[str, PathFactors]:
    """Per-device factors fitted from the user's own runs (advisor calibrate), if any."""
    from advisor.catalog import store_path

    if not store_path().exists():
        return {}  # no store yet: nothing to import (sqlite included)
    try:
        from advisor.store import load_device_calibrations
    except ImportError:
        return {}
    from functools import partial

    from advisor.calibrate_from_runs import calibration_key

    return load_device_calibrations(fitted_with=partial(calibration_key, load_catalog()))


def run_recommend(
    device: DeviceProfile,
    workload: Workload,
    constraints: Constraints,
    catalog: Catalog | None = None,
) -> Recommendation:
    catalog = catalog or load_catalog()
    constraints = _resolved_constraints(constraints, catalog)
    return recommend(device, workload, catalog, constraints, overrides=calibration_overrides())


def check_backend_id(backend_id: str | None, catalog: Catalog) -> None:
    """``--backend`` must name a backend some runtime has (or one of llama.cpp's execution paths):
    a typo is one error naming the backends, not a search that finds nothing."""
    from advisor.engine.runtimes import LLAMA_CPP_BACKEND_OF_PATH

    if backend_id is None:
        return
    known = {b.id for r in catalog.runtimes.values() for b in r.backends} | set(LLAMA_CPP_BACKEND_OF_PATH)
    if backend_id.strip().lower() not in known:
        raise BadInputError(f"unknown backend '{backend_id}'; backends: {', '.join(sorted(known))}")


def check_runnable(device: DeviceProfile, constraints: Constraints, catalog: Catalog | None = None) -> None:
    """For one device: the runtimes and backend the constraints name must be able to run there;
    else one error naming the valid choices (as ``predict`` gives), not an empty answer."""
    from advisor.engine import runtimes as rt
    from advisor.engine.recommend import ALL_RUNTIMES, candidate_variants

    catalog = catalog or load_catalog()
    check_backend_id(constraints.backend, catalog)
    if (constraints.runtimes == ALL_RUNTIMES and constraints.backend is None) or not catalog.runtimes:
        return
    if candidate_variants(device, catalog, constraints):
        return
    dep = constraints.deployment
    on = dep.device if dep is not None else device
    if constraints.runtimes == ALL_RUNTIMES or constraints.runtimes is None and dep is not None:
        ids = [r for r in catalog.runtimes if dep is None or r in dep.target.runtimes]
    else:
        ids = sorted(constraints.runtimes or {rt.LLAMA_CPP})
    fmt = next(iter(constraints.quant_ids)) if constraints.quant_ids and len(constraints.quant_ids) == 1 else None
    if len(ids) == 1:  # its own error names the valid choices (runtimes, backends or formats there)
        rt.resolve_variant(catalog, on, ids[0], fmt, constraints.backend, dep)
    where = f"{on.name} under the {dep.target.name} target" if dep is not None else on.name
    asked = f"backend '{constraints.backend}'" if constraints.backend else "these formats"
    raise BadInputError(f"none of the runtimes considered ({', '.join(ids)}) can use {asked} on {where}; "
                        "see 'advisor runtimes' for each runtime's backends and formats")


def _resolved_constraints(c: Constraints, catalog: Catalog) -> Constraints:
    """``c`` with its model ids as the catalog's (a model may be named by any spelling
    ``Catalog.model`` takes: Qwen3-0.6B, gpt_oss-20b, Qwen/Qwen3-0.6B); an unknown id raises."""
    names = _runtime_names(c.runtimes, catalog)
    for q in c.quant_ids or ():
        _check_format_name(q, names, catalog)
    if c.model_ids:  # the engine filters by the catalog's id: another spelling matched nothing ('Nothing fits')
        c = replace(c, model_ids=frozenset(catalog.model(m).id for m in c.model_ids))
    if c.families:
        known = {m.family for m in catalog.models.values()}
        for fam in c.families:
            if fam not in known:
                raise BadInputError(f"unknown model family '{fam}'; known families: {', '.join(sorted(known))}")
    return c


def _runtime_names(runtimes: frozenset[str] | None, catalog: Catalog) -> list[str]:
    """The runtime ids a constraint set considers (``None``: llama.cpp; ``all``: every one)."""
    from advisor.engine.recommend import ALL_RUNTIMES

    if runtimes is None:
        return ["llama.cpp"]
    if runtimes == ALL_RUNTIMES:
        return list(catalog.runtimes)
    return [catalog.runtime(r).id for r in runtimes]


def _check_format_name(name: str, runtime_ids: Sequence[str], catalog: Catalog) -> None:
    """A format name must belong to one of the runtimes considered: a GGUF file type for the
    llama.cpp family, a runtime's own format otherwise; else the error lists the valid ones."""
    valid: list[str] = []
    for rid in runtime_ids:
        rt = catalog.runtimes.get(rid)
        if rt is None or rt.formats_from == "gguf":
            if name.strip().upper().replace("-", "_") in catalog.file_types:
                return
            valid.append(f"{rid}: GGUF file types (see 'advisor quants')")
        elif rt.find_format(name) is not None:
            return
        else:
            valid.append(f"{rid}: {', '.join(f.id for f in rt.formats)}")
    if runtime_ids == ["llama.cpp"]:
        catalog.file_type(name)  # the plain did-you-mean error
    raise BadInputError(f"no runtime considered has a format '{name}'; valid formats — " + "; ".join(valid))


def runtime_choice(names: Sequence[str]) -> frozenset[str] | None:
    """``--runtime`` values: none or ``all`` → every runtime the device can run that has evidence
    behind it (the default); names → those runtimes alone (``llama.cpp`` for llama.cpp's answer)."""
    from advisor.engine.recommend import ALL_RUNTIMES

    wanted = {n.strip().lower() for name in names for n in name.split(",") if n.strip()}  # repeated, or a,b
    if "all" in wanted and len(wanted) > 1:  # not silently every runtime: the names meant something
        raise BadInputError(f"--runtime all already means every runtime; give it alone or only the names "
                            f"({', '.join(sorted(wanted - {'all'}))})")
    if not wanted or "all" in wanted:
        return ALL_RUNTIMES
    catalog = load_catalog()
    return frozenset(catalog.runtime(n).id for n in wanted)


def implied_target(target_id: str | None, *, entitlement: bool = False, browser_id: str | None = None) -> str | None:
    """The target named, else the one the other inputs imply: a browser named alone means the
    browser target, the entitlement alone an iOS app; None for the plain behaviour."""
    if target_id is not None:
        return target_id
    if browser_id is not None:
        return "browser"
    return "ios-app" if entitlement else None  # the entitlement is an iOS app's


def make_deployment(device: DeviceProfile, target_id: str | None, *, entitlement: bool = False, browser_id: str | None = None,
                    catalog: Catalog | None = None):
    """The deployment target placed on the device (``engine.targets.Deployment``), or None for the
    plain behaviour (no target named). A browser named alone means the browser target."""
    from advisor.engine.targets import deploy

    catalog = catalog or load_catalog()
    target_id = implied_target(target_id, entitlement=entitlement, browser_id=browser_id)
    if target_id is None:
        return None
    return deploy(catalog.target(target_id), device, entitlement=entitlement, browser_id=browser_id,
                  targets=list(catalog.targets.values()))


def names_llama_cpp(runtime_id: str | None) -> bool:
    """Whether ``--runtime`` (None: not given) is llama.cpp, by id or alias (ggml, llamacpp): a
    literal list of its names let 'ggml' through as another runtime. An unknown name: the
    catalog's UnknownIdError."""
    return runtime_id is None or load_catalog().runtime(runtime_id).id == "llama.cpp"


def resolve_n_cpu_moe(workload: Workload, n_cpu_moe: int | str | None, model: ModelSpec, device: DeviceProfile | None = None,
                      *, runtime_id: str | None = None, backend_id: str | None = None) -> Workload:
    """``workload`` with llama.cpp's ``--n-cpu-moe`` for ``model``: None (auto) as is, "all" = every
    layer (``--cpu-moe``), a number of layers checked against the model. With ``device`` (and the
    runtime and backend asked), refused where it changes nothing: not llama.cpp, or not on a
    discrete GPU (it was echoed as if applied while the estimate ignored it)."""
    if n_cpu_moe is None:
        return workload
    if not model.n_experts:
        raise BadInputError(f"--n-cpu-moe applies to mixture-of-experts models; {model.id} is dense (leave it at auto)")
    if not names_llama_cpp(runtime_id):
        raise BadInputError(f"--n-cpu-moe is llama.cpp's; {runtime_id} places the experts itself (leave it at auto)")
    if device is not None:
        gpu = device.gpu if device.gpu_usable else None
        if gpu is None or not gpu.discrete:
            where = "unified memory" if gpu is not None else "no GPU llama.cpp uses"
            raise BadInputError(f"--n-cpu-moe moves experts from a discrete GPU's VRAM to system RAM; {device.name} has "
                                f"{where}, so every weight is in one memory (leave it at auto)")
        if backend_id is not None and backend_id.strip().lower() == "cpu":
            raise BadInputError("--n-cpu-moe moves experts off the GPU; with --backend cpu every weight is there already "
                                "(leave it at auto)")
    layers = model.n_layers if n_cpu_moe == "all" else int(n_cpu_moe)
    if not 0 <= layers <= model.n_layers:
        raise BadInputError(f"--n-cpu-moe {n_cpu_moe} is more than the {model.n_layers} layers of {model.id}; "
                            f"give 0 to {model.n_layers}, all or auto")
    return replace(workload, n_cpu_moe=layers)


def default_choice(model: ModelSpec, catalog: Catalog, runtime_id: str | None = None,
                   deployment: Any = None) -> tuple[str | None, str | None]:
    """(runtime id or None for llama.cpp, format) of a prediction named by its model alone: the
    runtime named, else llama.cpp where the deployment runs it, else the target's first runtime with
    a backend there (a browser without WebGPU: wllama); in it, the model's own GGUF type (a file
    added by its header, else the one it was released in) or Q4_K_M; for a runtime with formats of
    its own, None: the first format of the backend it runs on (``resolve_variant`` picks both)."""
    from advisor.engine import targets as tg

    if runtime_id is None and deployment is not None and "llama.cpp" not in deployment.target.runtimes:
        runtime_id = next((r for r in deployment.target.runtimes if tg.runtime_backends(catalog.runtime(r), deployment)),
                          deployment.target.runtimes[0])
    runtime = catalog.runtime(runtime_id) if runtime_id else None
    if runtime is None or runtime.formats_from == "gguf":
        return runtime_id, model.file_type or model.native_format or "Q4_K_M"
    return runtime_id, None


def run_predict(model_id: str, quant_id: str | None, device: DeviceProfile, workload: Workload, catalog: Catalog | None = None, *,
                runtime_id: str | None = None, backend_id: str | None = None, deployment=None) -> Estimate:
    """One estimate; with ``runtime_id`` (or a ``deployment`` whose target lacks llama.cpp) in that
    runtime's own format ``quant_id`` (None: its first on the backend) on its default (or the named)
    backend."""
    from advisor.engine.runtimes import architecture_reason, require_format, resolve_variant

    catalog = catalog or load_catalog()
    model = catalog.model(model_id)
    target_device = deployment.device if deployment is not None else device
    if runtime_id is None and deployment is not None and "llama.cpp" not in deployment.target.runtimes:
        raise BadInputError(f"the {deployment.target.id} target runs {', '.join(deployment.target.runtimes)}, not llama.cpp; "
                            "name one of them as the runtime")
    browser = deployment.browser if deployment is not None else None  # a browser tab: the load reads its storage
    if runtime_id is None and backend_id is None:
        return evaluate(model, catalog.file_type(quant_id), target_device, workload, catalog, overrides=calibration_overrides(),
                        browser=browser)
    variant = resolve_variant(catalog, target_device, runtime_id or "llama.cpp", quant_id, backend_id, deployment)
    require_format(variant)
    if not variant.runtime.runs_arch(model.gguf_arch):
        able = architecture_reason(model, catalog.runtimes).category  # the catalog runtimes that load it
        raise BadInputError(f"{variant.runtime.id} cannot load {model.id}: its converter has no code for the "
                            f"{model.gguf_arch} architecture; runtimes that can: {able or 'none in the catalog'}")
    return evaluate(model, variant.format, target_device, workload, catalog, overrides=calibration_overrides(), variant=variant,
                    browser=browser)


@dataclass(frozen=True)
class ImportedModel:
    model_id: str
    quant_id: str | None  # the file's own type for a GGUF header; None for a config.json


#: the catalogs import_model added models to in this process (forget_imported_models undoes it)
_CATALOGS_WITH_IMPORTS: list[Catalog] = []


def forget_imported_models() -> None:
    """Remove every model import_model added to this process's catalogs (a long-lived process —
    the test session, a notebook — that imports one model per task)."""
    while _CATALOGS_WITH_IMPORTS:
        catalog = _CATALOGS_WITH_IMPORTS.pop()
        for model_id in catalog.imported:
            catalog.models.pop(model_id, None)
        catalog.imported.clear()
        catalog.derived.forget_quality()


def import_model(gguf_header: str | Path | None = None, model_config: str | Path | None = None,
                 catalog: Catalog | None = None) -> ImportedModel:
    """Read a model that is not in the catalog (GGUF header or HF config.json) and make it known
    to this process's catalog under a fresh id, so every command can use it by id."""
    from advisor.catalog_cache import discard_pending
    from advisor.model_import import model_from_gguf, model_from_hf_config

    if (gguf_header is None) == (model_config is None):
        raise BadInputError("give exactly one of --gguf-header PATH or --model-config PATH")
    for value, flag, what in ((gguf_header, "--gguf-header", "a GGUF file (its first megabytes are enough)"),
                              (model_config, "--model-config", "a Hugging Face config.json")):
        if value is not None and not str(value).strip():  # Path('') is '.', read as "a directory"
            raise BadInputError(f"{flag} is empty; give the path of {what}")
    catalog = catalog or load_catalog()
    quant_id = None
    if gguf_header is not None:
        spec, ftype = model_from_gguf(gguf_header, catalog.ggml_types, catalog.file_types)
        quant_id = ftype.id
    else:
        spec = model_from_hf_config(model_config)  # type: ignore[arg-type]
    if spec.id in catalog.models and catalog.models[spec.id] != spec and spec.id not in catalog.imported:
        spec = spec.model_copy(update={"id": spec.id + "-imported"})  # never shadow a catalog model
    catalog.models[spec.id] = spec
    catalog.imported.add(spec.id)
    if all(c is not catalog for c in _CATALOGS_WITH_IMPORTS):
        _CATALOGS_WITH_IMPORTS.append(catalog)
    catalog.derived.forget_quality()
    discard_pending()  # this process's catalog now holds the import: never store it as the cached catalog
    return ImportedModel(spec.id, quant_id)


def _check_overlay_fits(stored: Path, text: str, model_id: str) -> None:
    """``text`` (your models.toml with the new entry) stays within what ``load_catalog`` reads
    back (``inputs.MAX_DATA_FILE_BYTES``, ``inputs.MAX_VALUES``); otherwise one DataFileError and
    nothing is written: a file past them made every later command fail until it was edited."""
    import tomllib

    from advisor.inputs import MAX_DATA_FILE_BYTES, check_document

    size = len(text.encode("utf-8"))
    if size > MAX_DATA_FILE_BYTES:
        raise DataFileError(f"{stored}: adding {model_id} would make your catalog {size:,} bytes, more than the "
                            f"{MAX_DATA_FILE_BYTES:,} it may have; nothing added (remove models you no longer need from it)")
    try:
        check_document(tomllib.loads(text), str(stored))
    except DataFileError as exc:
        raise DataFileError(f"{stored}: adding {model_id} would make your catalog unreadable ({str(exc).split(': ', 1)[-1]}); "
                            "nothing added (remove models you no longer need from it)") from None


def add_user_model(path: str | Path, catalog: Catalog | None = None) -> tuple[ModelSpec, Path]:
    """Import ``path`` (a file starting with the GGUF magic, else a config.json) and append it to
    ``$ADVISOR_HOME/catalog/models.toml``. Returns the stored spec and the file."""
    from advisor.catalog import advisor_home
    from advisor.model_import import model_from_gguf, model_from_hf_config, spec_to_toml

    from advisor.inputs import check_regular_file, read_bounded_text
    from advisor.catalog import load_models_file
    from advisor.output import exclusive_lock, home_write_problem, write_atomic

    if not str(path).strip():  # Path('') is the current directory
        raise BadInputError("the path is empty; give a GGUF file (its first megabytes are enough) or a Hugging Face config.json")
    catalog = catalog or load_catalog()
    p = Path(path).absolute()  # its source names the file: the same file by another relative path is the same
    check_regular_file(p, expected="GGUF file or config.json")  # a FIFO would block the open below
    try:
        with open(p, "rb") as f:
            is_gguf = f.read(4) == b"GGUF"
    except OSError as exc:
        raise BadInputError(f"{p}: cannot open ({exc.strerror or exc}); check the path") from None
    if is_gguf:
        spec, ftype = model_from_gguf(p, catalog.ggml_types, catalog.file_types)
        spec = spec.model_copy(update={"notes": spec.notes + f" The file is {ftype.id}; its tensor types are used whatever --quant says."})
    else:
        spec = model_from_hf_config(p)
    stored = advisor_home() / "catalog" / "models.toml"
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # ADVISOR_HOME is a file, or a directory this user cannot write
        raise DataFileError(f"{stored}: cannot write your catalog: {home_write_problem(stored.parent, exc)}") from None
    # read, check and write under one lock, against the file as it is now: two 'models add' at once
    # lost an entry, or stored one id twice (then every command refused the catalog)
    with exclusive_lock(stored.parent / ".models.toml.lock"):
        models = dict(catalog.models)
        if stored.exists():
            models.update((m.id, m) for m in load_models_file(stored))
        same = [m.id for m in models.values() if m.source == spec.source]
        if same:  # the source names the file: importing it again would store a copy as "<id>-imported"
            raise BadInputError(f"{p} is already in your catalog as '{same[0]}'; nothing added (to re-import it, remove "
                                "that entry from your models.toml first)")
        if spec.id in models:
            spec = spec.model_copy(update={"id": spec.id + "-imported"})
        if spec.id in models:
            raise BadInputError(f"a model with id '{spec.id}' is already in the catalog; remove it from your models.toml first")
        before = read_bounded_text(stored, what="models.toml") if stored.exists() else ""
        after = before + spec_to_toml(spec)
        _check_overlay_fits(stored, after, spec.id)  # never store what every later command would refuse to read
        write_atomic(stored, after.encode("utf-8"), force=True)  # never half an entry
    return spec, stored


def run_devices_for(
    model_id: str,
    workload: Workload,
    *,
    quant_id: str | None = None,
    min_decode_tps: float | None = None,
    max_ttft_s: float | None = None,
    device_class: str | None = None,
    devices: Sequence[DeviceProfile] | None = None,
    catalog: Catalog | None = None,
    rank_by: str = "price",
    runtimes: frozenset[str] | None = None,
    target_id: str | None = None,
    entitlement: bool = False,
    browser_id: str | None = None,
    max_download_bytes: int | None = None,
    backend_id: str | None = None,
) -> list[DeviceOption]:
    from advisor.errors import BadInputError as _Bad

    catalog = catalog or load_catalog()
    model = catalog.model(model_id)
    check_backend_id(backend_id, catalog)
    names = None
    quant = None
    if quant_id:
        _check_format_name(quant_id, _runtime_names(runtimes, catalog), catalog)
        if runtimes is None:
            quant = catalog.file_type(quant_id)
        else:
            names = frozenset({quant_id})
    pool = list(devices) if devices is not None else list(catalog.devices.values())
    device_class = check_device_class(device_class, catalog)
    if device_class:
        pool = [d for d in pool if d.device_class == device_class]
        if not pool:
            raise BadInputError(f"no device profiles of class '{device_class}'; see 'advisor devices'")
    deployments, refusals = None, {}
    if target_id is not None or browser_id is not None or entitlement:
        target = catalog.target(target_id or ("browser" if browser_id else "ios-app"))
        if entitlement and not target.memory.entitlement:
            raise BadInputError(f"target {target.id} has no memory entitlement; drop the entitlement or use ios-app")
        _check_browser(target, browser_id)
        deployments, refusals = {}, {}
        for d in pool:
            try:
                dep = make_deployment(d, target_id, entitlement=entitlement, browser_id=browser_id, catalog=catalog)
            except _Bad as exc:  # this device cannot host the target (or run the browser): listed with that reason
                if isinstance(exc.reason, Reason):
                    refusals[d.id] = exc.reason
                continue
            deployments[d.id] = dep
        if not deployments:
            what = f"of class {device_class}" if device_class else "named"
            if not any(target.hosts(d) for d in pool):
                raise _cannot_host(target, pool, what, catalog)
            raise BadInputError(f"browser '{browser_id}' runs on no device {what}; name another browser or other devices")
    return devices_for(
        model, pool, workload, catalog, quant=quant, min_decode_tps=min_decode_tps, max_ttft_s=max_ttft_s,
        overrides=calibration_overrides(), rank_by=rank_by, runtimes=runtimes, quant_names=names,
        deployments=deployments, max_download_bytes=max_download_bytes, backend=backend_id, refusals=refusals,
    )


def _check_browser(target: Any, browser_id: str | None) -> None:
    """A browser named for a selection of devices: the target must have browsers and know this one
    (before each device is placed, so that the error is said once, not as every device's reason)."""
    if browser_id is None:
        return
    if not target.browsers:
        raise BadInputError(f"--browser applies to the browser target, not {target.id}; drop it or use --target browser")
    if target.browser(browser_id.strip().lower()) is None:
        raise BadInputError(f"unknown browser '{browser_id}'; browsers: {', '.join(b.id for b in target.browsers)}")


def _cannot_host(target: Any, pool: Sequence[DeviceProfile], what: str, catalog: Catalog) -> BadInputError:
    """No device of ``pool`` can host ``target``: where the target runs, and the targets these devices can host."""
    able = sorted({t.id for t in catalog.targets.values() for d in pool if t.hosts(d)})
    return BadInputError(f"no device {what} can host the {target.id} target (it runs on {', '.join(target.device_classes)} "
                         f"with {'/'.join(target.platforms)}); targets for these devices: {', '.join(able) or 'none'}")


def not_hosting(target_id: str, device_class: str, catalog: Catalog | None = None) -> list[DeviceProfile]:
    """The devices of ``device_class`` that cannot host the target (``run_tiers`` leaves them out)."""
    catalog = catalog or load_catalog()
    target = catalog.target(target_id)
    return sorted((d for d in catalog.devices.values() if d.device_class == device_class and not target.hosts(d)),
                  key=lambda d: d.id)


def run_tiers(
    target_id: str,
    workload: Workload,
    *,
    device_class: str | None = None,
    device_ids: Sequence[str] = (),
    constraints: Constraints | None = None,
    entitlement: bool = False,
    browser_id: str | None = None,
    catalog: Catalog | None = None,
) -> list[Any]:
    """What to ship per RAM tier (``engine.tiers.tiers``) on the devices of ``device_class`` or
    named by ``device_ids`` under the ``target_id`` deployment target (of a class, those that can
    host the target: ``not_hosting`` names the others; a device named that cannot is left out of
    its tier, with the reason). Bad input — an unknown
    target, browser or device, the entitlement on a target without one, a runtime the target
    lacks, a selection none of whose devices can host the target — raises ``BadInputError``."""
    from advisor.engine.recommend import ALL_RUNTIMES
    from advisor.engine.targets import deploy
    from advisor.engine.tiers import tiers

    catalog = catalog or load_catalog()
    constraints = _resolved_constraints(constraints or Constraints(), catalog)
    target = catalog.target(target_id)
    if entitlement and not target.memory.entitlement:
        raise BadInputError(f"target {target.id} has no memory entitlement; drop --entitlement or use --target ios-app")
    _check_browser(target, browser_id)
    if constraints.runtimes is not None and constraints.runtimes != ALL_RUNTIMES:
        foreign = sorted(r for r in constraints.runtimes if r not in target.runtimes)
        if foreign:
            raise BadInputError(f"the {target.id} target does not run {', '.join(foreign)}; its runtimes: {', '.join(target.runtimes)}")
    if (device_class is not None) == bool(device_ids):
        raise BadInputError("name the devices with exactly one of --class CLASS or --devices ID,ID,…")
    if device_ids:
        pool = [catalog.device(i.strip()) for i in device_ids if i.strip()]
        what = "of " + ", ".join(d.id for d in pool)
    else:
        device_class = check_device_class(device_class, catalog)
        pool = [d for d in catalog.devices.values() if d.device_class == device_class]
        what = f"of class {device_class}"
    hostable = [d for d in pool if target.hosts(d)]
    if not hostable:
        raise _cannot_host(target, pool, what, catalog)
    if browser_id is not None:  # the named browser must run on at least one of them
        deployable = []
        for d in hostable:
            try:
                deploy(target, d, entitlement=entitlement, browser_id=browser_id, targets=list(catalog.targets.values()))
                deployable.append(d)
            except BadInputError:
                pass
        if not deployable:
            raise BadInputError(f"browser '{browser_id}' runs on no device {what}; name another browser or other devices")
    if device_class:  # a phone of another OS is no candidate of a class; a device named is, and is said to be left out
        pool = hostable
    return tiers(pool, target, workload, catalog, constraints, entitlement=entitlement, browser_id=browser_id,
                 overrides=dict(calibration_overrides()))


__all__ = [
    "DeviceChoice", "resolve_device", "peer_speeds", "import_model", "ImportedModel", "run_recommend", "run_predict", "run_devices_for",
    "parse_licenses", "run_tiers",
    "NothingFitsError", "Constraints", "Workload",
]

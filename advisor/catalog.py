"""Load and validate the shipped catalog (models, quantizations) and device profiles, plus the
user's own additions.

Where the data lives:
* installed wheel: ``advisor/_data/catalog`` and ``advisor/_data/profiles`` (mapped at build time);
* source checkout / editable install: ``catalog/`` and ``profiles/`` at the repository root;
* ``ADVISOR_DATA_DIR`` overrides both (a directory holding ``catalog/`` and ``profiles/``);
* the user's own models and devices: ``$ADVISOR_HOME/catalog/models.toml`` and
  ``$ADVISOR_HOME/profiles/**/*.toml`` (``ADVISOR_HOME`` defaults to ``~/.edge-model-advisor``).
  A user entry with the id of a shipped one replaces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ValidationError

from advisor.engine.derived import Derived
from advisor.errors import DataFileError, UnknownIdError
from advisor.inputs import parse_document
from advisor.records import DeviceProfile, FileType, GgmlType, ModelSpec, PathFactors, Runtime, RuntimeFormat, Target

T = TypeVar("T", bound=BaseModel)


def advisor_home() -> Path:
    return Path(os.environ.get("ADVISOR_HOME") or Path.home() / ".edge-model-advisor")


def store_path() -> Path:
    """The measurements database (``advisor.store``): known without importing the store, so a
    command can tell there is none without loading sqlite."""
    return advisor_home() / "advisor.db"


def data_root() -> Path:
    """Directory that holds ``catalog/`` and ``profiles/``."""
    override = os.environ.get("ADVISOR_DATA_DIR")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    packaged = here / "_data"
    if (packaged / "catalog").is_dir():
        return packaged
    return here.parent


# --------------------------------------------------------------------------- errors


def _is_union_tag(part: Any) -> bool:
    """pydantic names the branch of a union in the error location ("function-after[…]", "int",
    "literal['linear']"); these are not field names."""
    return isinstance(part, str) and ("[" in part or part in ("int", "str", "float", "bool"))


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int) and not _is_union_tag(p)) or "(top level)"


def _explain(exc: ValidationError, model: type[BaseModel], where: str) -> DataFileError:
    # a misspelt key shows up as "missing X" and "unknown Y": the unknown one names the typo
    errs = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errs[0]
    path = _field_path(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        leaf = str(err["loc"][-1])
        known = _known_fields(model, err["loc"][:-1])
        import difflib

        close = difflib.get_close_matches(leaf, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it (see the SCHEMA.md beside the data)"
        return DataFileError(f"{where}: unknown field '{path}'; {hint}")
    if kind == "missing":
        return DataFileError(f"{where}: missing field '{path}'; add it (see the SCHEMA.md beside the data)")
    msg = err["msg"].removeprefix("Value error, ")
    if any(_is_union_tag(p) for p in err["loc"]):
        # a value that fits no branch of a union: say what each branch wanted
        msgs = dict.fromkeys(e["msg"].removeprefix("Value error, ") for e in errs if _field_path(e["loc"]) == path)
        msg = "; or ".join(msgs)
    return DataFileError(f"{where}: field '{path}': {msg}")


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at ``loc`` (for the did-you-mean hint)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            return []
        ann = info.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        current = inner[0]
    names = []
    for name, f in getattr(current, "model_fields", {}).items():
        names.append(f.alias or name)
    return names


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML file, bounded (a regular file of at most 4 MiB, 32 levels deep, finite numbers)."""
    import tomllib  # only when the catalog is validated (not on a cached run)

    return parse_document(path, tomllib.loads, expected=".toml file", syntax_error=tomllib.TOMLDecodeError,
                          describe_syntax=lambda exc: f"not valid TOML ({exc}); fix the syntax at that line",
                          shape="a data file is flat tables and lists")


def _validate(model: type[T], raw: Any, where: str) -> T:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _explain(exc, model, where) from None


# --------------------------------------------------------------------------- loaders


def load_models_file(path: Path) -> list[ModelSpec]:
    raw = _read_toml(path)
    entries = raw.get("models")
    if not isinstance(entries, list):
        raise DataFileError(f"{path}: expected [[models]] tables")
    out = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        label = entry.get("id", f"entry {i + 1}") if isinstance(entry, dict) else f"entry {i + 1}"
        model = _validate(ModelSpec, entry, f"{path} [{label}]")
        if model.id in seen:
            raise DataFileError(f"{path}: model id '{model.id}' appears twice (entries {seen[model.id]} and {i + 1}); remove one")
        seen[model.id] = i + 1
        out.append(model)
    return out


def load_quantizations_file(path: Path) -> tuple[list[GgmlType], list[FileType]]:
    raw = _read_toml(path)
    types = [_validate(GgmlType, e, f"{path} [ggml_types {e.get('name', i)}]") for i, e in enumerate(raw.get("ggml_types", []))]
    ftypes = [_validate(FileType, e, f"{path} [file_types {e.get('id', i)}]") for i, e in enumerate(raw.get("file_types", []))]
    if not types or not ftypes:
        raise DataFileError(f"{path}: expected [[ggml_types]] and [[file_types]] tables")
    return types, ftypes


def _load_tables(path: Path, key: str, model: type[T]) -> list[T]:
    """``[[key]]`` tables of one file, validated, ids unique."""
    raw = _read_toml(path)
    entries = raw.get(key)
    if not isinstance(entries, list) or not entries:
        raise DataFileError(f"{path}: expected [[{key}]] tables")
    out: list[T] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        label = entry.get("id", f"entry {i + 1}") if isinstance(entry, dict) else f"entry {i + 1}"
        item = _validate(model, entry, f"{path} [{label}]")
        item_id = item.id  # type: ignore[attr-defined]
        if item_id in seen:
            raise DataFileError(f"{path}: {key} id '{item_id}' appears twice (entries {seen[item_id]} and {i + 1}); remove one")
        seen[item_id] = i + 1
        out.append(item)
    return out


def load_runtimes_file(path: Path) -> list[Runtime]:
    """``catalog/runtimes.toml``: ``[[runtime]]`` with ``[[runtime.backend]]`` and ``[[runtime.format]]``."""
    runtimes = _load_tables(path, "runtime", Runtime)
    owner: dict[str, str] = {}
    for rt in runtimes:
        for name in rt.names:
            key = name.lower()
            if key in owner:
                raise DataFileError(f"{path}: runtime name '{name}' is used by both {owner[key]} and {rt.id}; rename one")
            owner[key] = rt.id
    return runtimes


def load_targets_file(path: Path) -> list[Target]:
    """``catalog/targets.toml``: ``[[target]]`` with memory rules, download/allocation limits, browsers."""
    return _load_tables(path, "target", Target)


def check_runtime_references(runtimes: dict[str, Runtime], targets: dict[str, Target], devices: dict[str, DeviceProfile],
                             paths: dict[str, Path] | None = None) -> None:
    """Every runtime id named by a target or a device profile exists, and a device's GPU/NPU
    runtime has a backend of that kind on one of the device's platforms (``check_device_runtimes``;
    ``paths``: device id → its profile's file, named in the error)."""
    for t in targets.values():
        for rid in t.runtimes:
            if rid not in runtimes:
                raise DataFileError(f"targets.toml: target {t.id} names unknown runtime '{rid}'; known: {', '.join(runtimes)}")
            if not set(runtimes[rid].platforms) & set(t.runtime_platforms):
                raise DataFileError(f"targets.toml: target {t.id} lists runtime {rid}, which runs on none of its platforms")
        for lim in t.download_limits:
            for rid in lim.runtimes:
                if rid not in runtimes:
                    raise DataFileError(f"targets.toml: target {t.id} download limit {lim.id} names unknown runtime '{rid}'; "
                                        f"known: {', '.join(runtimes)}")
    for d in devices.values():
        check_device_runtimes(d, runtimes, (paths or {}).get(d.id))


def check_device_runtimes(d: DeviceProfile, runtimes: dict[str, Runtime], path: Path | None = None) -> None:
    """The runtimes a device's [gpu]/[npu] table names exist and have a backend of that kind on one
    of its platforms; the error names the profile's file when known (``path``)."""
    where = f"{path}: device {d.id}" if path is not None else f"device {d.id}"
    for kind, spec in (("gpu", d.gpu), ("npu", d.npu)):
        for rid in spec.runtimes if spec else ():
            if rid not in runtimes:
                raise DataFileError(f"{where}: [{kind}] runtimes names unknown runtime '{rid}'; known: {', '.join(runtimes)}")
            if not any(runtimes[rid].backends_for(p, kind) for p in d.platforms):
                raise DataFileError(f"{where}: runtime {rid} has no {kind} backend on {', '.join(d.platforms)}; "
                                    f"remove it from [{kind}] runtimes or add the backend to runtimes.toml")


def load_device_file(path: str | Path) -> DeviceProfile:
    """Load one device profile; errors name the file and the field."""
    path = Path(path)
    if path.suffix != ".toml":
        raise DataFileError(f"{path}: a device file must be a .toml profile (see profiles/SCHEMA.md)")
    return _validate(DeviceProfile, _read_toml(path), str(path))


def _profile_files(root: Path) -> Iterable[Path]:
    if root.is_dir():
        yield from sorted(p for p in root.rglob("*.toml"))


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec]
    ggml_types: dict[str, GgmlType]
    file_types: dict[str, FileType]
    devices: dict[str, DeviceProfile]
    calibration: dict[str, PathFactors]
    root: Path
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    #: (runtime path, device id) -> the factors fitted on that device's own published rows where
    #: the path's factor is a prior (catalog/runtime-calibration.toml [[devices]]; evaluate.factors_for)
    device_calibration: dict[tuple[str, str], PathFactors] = field(default_factory=dict)
    #: tables derived from this catalog's records, computed once and owned by it (engine.derived)
    derived: Derived = field(init=False, repr=False, compare=False)
    #: devices made from this catalog's profiles (the RAM-only devices of ``api.resolve_device``),
    #: kept with it, so the catalog cache carries them to the next run already validated
    made_devices: dict[tuple[Any, ...], DeviceProfile] = field(default_factory=dict, init=False, repr=False, compare=False)
    #: ids of the models this process imported (api.import_model): a later import of a file with the
    #: same name replaces its own earlier one rather than taking a fresh id
    imported: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", Derived(self))

    def factors(self, path: str) -> PathFactors:
        try:
            return self.calibration[path]
        except KeyError:
            raise DataFileError(f"calibration.toml has no factors for execution path '{path}'; add a [[paths]] entry") from None

    def model(self, model_id: str) -> ModelSpec:
        """A model by id, case-insensitive; "_" and "-" alike (Hugging Face names mix them:
        OpenELM-1_1B; gpt-oss-20b was gpt_oss-20b in earlier versions, as stored runs may say); or
        by its Hugging Face repository (``hf_repo``)."""
        key = model_id.strip().lower()
        if key in self.models:
            return self.models[key]
        loose = key.replace("_", "-")
        found = next((m for k, m in self.models.items() if k.replace("_", "-") == loose), None)
        if found is None and "/" in key:  # its Hugging Face repository, as copied from the hub: Qwen/Qwen3-0.6B
            found = next((m for m in self.models.values() if m.hf_repo.strip().lower() == key), None)
        if found is not None:
            return found
        if _names_a_file(model_id, (".gguf", ".json")):  # a model from a file is given as one
            option = "--gguf-header" if model_id.strip().lower().endswith(".gguf") else "--model-config"
            raise UnknownIdError(f"'{model_id}' is a file name, not a model id: give the file with {option} {model_id}, "
                                 f"or add it to your catalog with 'advisor models add {model_id}'")
        # a Hugging Face repository (Qwen/Qwen2.5-0.5B-Instruct): its name, not its owner, is like an id
        raise UnknownIdError(_unknown("model", model_id, self.models, "advisor models", like=key.rsplit("/", 1)[-1]))

    def file_type(self, quant_id: str) -> FileType:
        key = quant_id.strip().upper().replace("-", "_")
        if key in self.file_types:
            return self.file_types[key]
        owners = [rt.id for rt in self.runtimes.values() if rt.formats_from != "gguf" and rt.find_format(quant_id) is not None]
        if owners:  # '4bit' is MLX's, 'q4f16_1' MLC's: say whose, not 'did you mean Q4_1'
            whose = owners[0] if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]}"
            raise UnknownIdError(f"'{quant_id}' is not a GGUF quantization but a format of {whose}; add "
                                 f"--runtime {owners[0] if len(owners) == 1 else 'with one of them'} (llama.cpp's types: 'advisor quants')")
        raise UnknownIdError(_unknown("quantization", quant_id, self.file_types, "advisor quants"))

    def device(self, device_id: str) -> DeviceProfile:
        """A device by id; "<id>@<mode>" is the device in one of its power modes (engine.power_modes)."""
        key = device_id.strip().lower()
        if key in self.devices:
            return self.devices[key]
        from advisor.engine.power_modes import MODE_SEPARATOR, with_power_mode

        base, sep, _ = key.partition(MODE_SEPARATOR)
        if sep and base in self.devices:  # the mode as typed (matched case-insensitively), so errors quote it
            return with_power_mode(self.devices[base], device_id.strip().partition(MODE_SEPARATOR)[2])
        if _names_a_file(device_id, (".toml",)):
            raise UnknownIdError(f"'{device_id}' is a file name, not a device id: give your own profile with "
                                 f"--device-file {device_id}")
        raise UnknownIdError(_unknown("device", device_id, self.devices, "advisor devices"))

    def has_device(self, device_id: str) -> bool:
        """``device`` resolves the id: a catalog profile, or one in one of its power modes."""
        try:
            self.device(device_id)
        except UnknownIdError:
            return False
        return True

    def runtime(self, runtime_id: str) -> Runtime:
        """A runtime by id or alias ("webllm" → mlc), case-insensitive."""
        key = runtime_id.strip().lower()
        for rt in self.runtimes.values():
            if key in (n.lower() for n in rt.names):
                return rt
        raise UnknownIdError(_unknown("runtime", runtime_id, self.runtimes, "advisor runtimes"))

    def runtime_format(self, runtime_id: str, format_name: str) -> RuntimeFormat:
        """A runtime's own weight format by id or alias; the error lists the valid ones. Runtimes
        whose formats are GGUF file types (llama.cpp, wllama) take them from ``file_type``."""
        rt = self.runtime(runtime_id)
        if rt.formats_from == "gguf":
            raise UnknownIdError(f"{rt.id} uses GGUF file types, not runtime formats; look '{format_name}' up with "
                                 "catalog.file_type (list them with 'advisor quants')")
        found = rt.find_format(format_name)
        if found is None:
            valid = ", ".join(f.id for f in rt.formats)
            raise UnknownIdError(f"unknown format '{format_name}' for runtime {rt.id}; use one of {valid} (see 'advisor runtimes')")
        return found

    def target(self, target_id: str) -> Target:
        key = target_id.strip().lower()
        if key in self.targets:
            return self.targets[key]
        raise UnknownIdError(_unknown("target", target_id, self.targets, "advisor targets"))


def _names_a_file(given: str, suffixes: tuple[str, ...]) -> bool:
    """Does an id look like a file's name (one ending in one of ``suffixes``)? No id has such a
    suffix. Judged on the text alone: the catalog reads no file for it."""
    return given.strip().lower().endswith(suffixes)


def _unknown(kind: str, given: str, known: dict[str, Any], command: str, *, like: str | None = None) -> str:
    close = suggest(like or given, known)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return f"unknown {kind} '{given}'; {hint}list them with '{command}'"


def suggest(given: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Closest ids: edit similarity to the whole id and to its prefix, favouring the same family
    (the part before the first '-') and substring hits ("pi-5", "qwen3")."""
    import difflib

    g = given.strip().lower()
    family = g.split("-")[0]
    scored = []
    for k in known:
        kl = k.lower()
        ratio = max(difflib.SequenceMatcher(None, g, kl).ratio(), difflib.SequenceMatcher(None, g, kl[: len(g) + 2]).ratio())
        if kl.split("-")[0] == family:
            ratio += 0.15
        if g in kl:
            ratio += 0.3
        if ratio >= 0.6:
            scored.append((ratio, k))
    return [k for _, k in sorted(scored, key=lambda x: (-x[0], x[1]))[:n]]


def _merge(base: dict[str, Any], extra: Iterable[Any], key: str = "id") -> None:
    for item in extra:
        base[getattr(item, key).lower() if key == "id" else getattr(item, key)] = item


@lru_cache(maxsize=4)
def _load(root: Path, home: Path) -> Catalog:
    from advisor.catalog_cache import load_or_build

    return load_or_build(root, home, lambda: _validate_all(root, home))


def _validate_all(root: Path, home: Path) -> Catalog:
    models: dict[str, ModelSpec] = {}
    _merge(models, load_models_file(root / "catalog" / "models.toml"))
    user_models = home / "catalog" / "models.toml"
    if user_models.is_file():
        _merge(models, load_models_file(user_models))

    types, ftypes = load_quantizations_file(root / "catalog" / "quantizations.toml")
    ggml_types = {t.name: t for t in types}
    file_types = {f.id: f for f in ftypes}
    for f in ftypes:
        if f.base_type not in ggml_types:
            raise DataFileError(f"quantizations.toml: file type {f.id} names unknown base_type {f.base_type}")

    for m in models.values():
        if m.native_format is not None and m.native_format not in file_types:
            raise DataFileError(f"models.toml: model {m.id} names unknown native_format {m.native_format}; "
                                f"use a quantizations.toml id such as {', '.join(list(file_types)[:3])}")

    devices: dict[str, DeviceProfile] = {}
    seen: dict[str, Path] = {}
    for path in _profile_files(root / "profiles"):
        dev = load_device_file(path)
        if dev.id in seen:
            raise DataFileError(f"{path}: device id '{dev.id}' already defined in {seen[dev.id]}")
        seen[dev.id] = path
        devices[dev.id] = dev
    for path in _profile_files(home / "profiles"):
        dev = load_device_file(path)
        devices[dev.id] = dev
        seen[dev.id] = path
    calibration: dict[str, PathFactors] = {}
    device_calibration: dict[tuple[str, str], PathFactors] = {}
    # llama.cpp's paths, then the other runtimes' runtime:backend paths (benchmarks/fit_runtimes.py)
    for name in ("calibration.toml", "runtime-calibration.toml"):
        path = root / "catalog" / name
        if name == "calibration.toml" or path.is_file():
            raw_cal = _read_toml(path)
            calibration.update(
                (f.path, f) for f in (_validate(PathFactors, e, f"{name} [{e.get('path', i)}]") for i, e in enumerate(raw_cal.get("paths", [])))
            )
            # a runtime path's factors fitted on one measured device's own rows, for that device only
            for i, e in enumerate(raw_cal.get("devices", [])):
                entry = dict(e) if isinstance(e, dict) else {}
                device_id = entry.pop("device", None)
                where = f"{name} [devices {entry.get('path', i)} {device_id}]"
                if not isinstance(device_id, str) or device_id not in devices:
                    raise DataFileError(f"{root / 'catalog' / name}: {where}: 'device' must name a device profile")
                f = _validate(PathFactors, entry, where)
                if f.path not in calibration:
                    raise DataFileError(f"{root / 'catalog' / name}: {where}: path '{f.path}' has no [[paths]] entry")
                device_calibration[(f.path, device_id)] = f
    if not models or not devices:
        raise DataFileError(f"{root}: no models or no device profiles found; is the installation complete?")
    runtimes = {rt.id: rt for rt in load_runtimes_file(root / "catalog" / "runtimes.toml")}
    targets = {t.id: t for t in load_targets_file(root / "catalog" / "targets.toml")}
    check_runtime_references(runtimes, targets, devices, seen)
    for m in models.values():
        unknown = [r for r in m.miscomputed_by if r not in runtimes]
        if unknown:
            raise DataFileError(f"models.toml: model {m.id} names unknown runtimes in miscomputed_by: {', '.join(unknown)}; "
                                f"use runtimes.toml ids such as {', '.join(list(runtimes)[:3])}")
    return Catalog(models=models, ggml_types=ggml_types, file_types=file_types, devices=devices, calibration=calibration, root=root,
                   runtimes=runtimes, targets=targets, device_calibration=device_calibration)


def load_catalog() -> Catalog:
    """The shipped catalog merged with the user's additions (cached per process)."""
    return _load(data_root(), advisor_home())

"""The library's front door: what the CLI, the dashboard and the reports call.

Each function takes user-level inputs (ids, sizes, workload numbers), resolves them against the
catalog and returns engine results. Input problems raise AdvisorError subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from advisor.catalog import Catalog, load_catalog, load_device_file
from advisor.engine.fit import evaluate, generic_device
from advisor.engine.recommend import Constraints, DeviceOption, Recommendation, devices_for, recommend
from advisor.errors import BadInputError, NothingFitsError
from advisor.records import DeviceProfile, Estimate, ModelSpec, PathFactors, Workload
from advisor.units import parse_size

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


@dataclass(frozen=True)
class DeviceChoice:
    """How the user named the device: exactly one of id, file or RAM."""

    device_id: str | None = None
    device_file: str | Path | None = None
    ram: str | None = None
    usable: str | None = None
    device_class: str | None = None


def resolve_device(choice: DeviceChoice, catalog: Catalog | None = None) -> DeviceProfile:
    catalog = catalog or load_catalog()
    given = [x for x in (choice.device_id, choice.device_file, choice.ram) if x]
    if len(given) != 1:
        raise BadInputError("name the device with exactly one of --device ID, --device-file FILE or --ram SIZE")
    if choice.device_id:
        if choice.device_id == "local":
            from advisor.local import local_profile  # lazy: probes are slow

            return local_profile()
        return catalog.device(choice.device_id)
    if choice.device_file:
        return load_device_file(choice.device_file)
    assert choice.ram is not None
    ram = parse_size(choice.ram, what="--ram")
    usable = parse_size(choice.usable, what="--usable") if choice.usable else None
    if usable is not None and usable > ram:
        raise BadInputError(f"--usable {choice.usable} is more than --ram {choice.ram}; usable memory is part of RAM")
    if choice.device_class and choice.device_class not in {d.device_class for d in catalog.devices.values()}:
        classes = ", ".join(sorted({d.device_class for d in catalog.devices.values()}))
        raise BadInputError(f"unknown device class '{choice.device_class}'; use one of {classes}")
    return generic_device(ram, list(catalog.devices.values()), device_class=choice.device_class, usable_bytes=usable)


def calibration_overrides() -> Mapping[str, PathFactors]:
    """Per-device factors fitted from the user's own runs (advisor calibrate), if any."""
    try:
        from advisor.store import load_device_calibrations
    except ImportError:
        return {}
    return load_device_calibrations()


def run_recommend(
    device: DeviceProfile,
    workload: Workload,
    constraints: Constraints,
    catalog: Catalog | None = None,
) -> Recommendation:
    catalog = catalog or load_catalog()
    _check_constraint_ids(constraints, catalog)
    return recommend(device, workload, catalog, constraints, overrides=calibration_overrides())


def _check_constraint_ids(c: Constraints, catalog: Catalog) -> None:
    for q in c.quant_ids or ():
        catalog.file_type(q)
    for m in c.model_ids or ():
        catalog.model(m)
    if c.families:
        known = {m.family for m in catalog.models.values()}
        for fam in c.families:
            if fam not in known:
                raise BadInputError(f"unknown model family '{fam}'; known families: {', '.join(sorted(known))}")


def run_predict(model_id: str, quant_id: str, device: DeviceProfile, workload: Workload, catalog: Catalog | None = None) -> Estimate:
    catalog = catalog or load_catalog()
    return evaluate(catalog.model(model_id), catalog.file_type(quant_id), device, workload, catalog, overrides=calibration_overrides())


@dataclass(frozen=True)
class ImportedModel:
    model_id: str
    quant_id: str | None  # the file's own type for a GGUF header; None for a config.json


def import_model(gguf_header: str | Path | None = None, model_config: str | Path | None = None,
                 catalog: Catalog | None = None) -> ImportedModel:
    """Read a model that is not in the catalog (GGUF header or HF config.json) and make it known
    to this process's catalog under a fresh id, so every command can use it by id."""
    from advisor.engine.fit import forget_quality_table
    from advisor.model_import import model_from_gguf, model_from_hf_config

    if (gguf_header is None) == (model_config is None):
        raise BadInputError("give exactly one of --gguf-header PATH or --model-config PATH")
    catalog = catalog or load_catalog()
    quant_id = None
    if gguf_header is not None:
        spec, ftype = model_from_gguf(gguf_header, catalog.ggml_types, catalog.file_types)
        quant_id = ftype.id
    else:
        spec = model_from_hf_config(model_config)  # type: ignore[arg-type]
    if spec.id in catalog.models and catalog.models[spec.id] != spec:
        spec = spec.model_copy(update={"id": spec.id + "-imported"})
    catalog.models[spec.id] = spec
    forget_quality_table(catalog)
    return ImportedModel(spec.id, quant_id)


def add_user_model(path: str | Path, catalog: Catalog | None = None) -> tuple[ModelSpec, Path]:
    """Import ``path`` (a file starting with the GGUF magic, else a config.json) and append it to
    ``$ADVISOR_HOME/catalog/models.toml``. Returns the stored spec and the file."""
    from advisor.catalog import advisor_home
    from advisor.model_import import model_from_gguf, model_from_hf_config, spec_to_toml

    catalog = catalog or load_catalog()
    p = Path(path)
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
    if spec.id in catalog.models:
        spec = spec.model_copy(update={"id": spec.id + "-imported"})
    if spec.id in catalog.models:
        raise BadInputError(f"a model with id '{spec.id}' is already in the catalog; remove it from your models.toml first")
    stored = advisor_home() / "catalog" / "models.toml"
    stored.parent.mkdir(parents=True, exist_ok=True)
    with open(stored, "a", encoding="utf-8") as f:
        f.write(spec_to_toml(spec))
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
) -> list[DeviceOption]:
    catalog = catalog or load_catalog()
    model = catalog.model(model_id)
    quant = catalog.file_type(quant_id) if quant_id else None
    pool = list(devices) if devices is not None else list(catalog.devices.values())
    if device_class:
        pool = [d for d in pool if d.device_class == device_class]
        if not pool:
            raise BadInputError(f"no device profiles of class '{device_class}'; see 'advisor devices'")
    return devices_for(
        model, pool, workload, catalog, quant=quant, min_decode_tps=min_decode_tps, max_ttft_s=max_ttft_s,
        overrides=calibration_overrides(), rank_by=rank_by,
    )


__all__ = [
    "DeviceChoice", "resolve_device", "import_model", "ImportedModel", "run_recommend", "run_predict", "run_devices_for", "parse_licenses",
    "NothingFitsError", "Constraints", "Workload",
]

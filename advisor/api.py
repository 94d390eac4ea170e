"""The library's front door: what the CLI, the dashboard and the reports call.

Each function takes user-level inputs (ids, sizes, workload numbers), resolves them against the
catalog and returns engine results. Input problems raise AdvisorError subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from advisor.catalog import Catalog, load_catalog, load_device_file
from advisor.engine.fit import evaluate, generic_device, peer_decode_tokens_per_s
from advisor.engine.recommend import Constraints, DeviceOption, Recommendation, devices_for, recommend
from advisor.errors import BadInputError, NothingFitsError
from advisor.records import DeviceProfile, Estimate, PathFactors, Workload
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
    input_names: tuple[tuple[str, str], ...] = CLI_INPUT_NAMES


#: RAM-only devices kept with the catalog (and its cache) before the memo starts afresh.
MAX_MADE_DEVICES = 32


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
    names = dict(choice.input_names)
    ram = parse_memory_size(choice.ram, what=names["ram"])
    usable = parse_memory_size(choice.usable, what=names["usable"]) if choice.usable else None
    if usable is not None and usable > ram:
        raise BadInputError(
            f"{names['usable']} {choice.usable} is more than {names['ram']} {choice.ram}; usable memory is part of RAM")
    if choice.device_class and choice.device_class not in {d.device_class for d in catalog.devices.values()}:
        classes = ", ".join(sorted({d.device_class for d in catalog.devices.values()}))
        raise BadInputError(f"unknown device class '{choice.device_class}'; use one of {classes}")
    key = ("generic", ram, choice.device_class, usable)
    made = catalog.made_devices.get(key)
    if made is None:
        if len(catalog.made_devices) >= MAX_MADE_DEVICES:
            catalog.made_devices.clear()  # a bounded memo: the cache file stays small
        made = catalog.made_devices[key] = generic_device(
            ram, list(catalog.devices.values()), device_class=choice.device_class, usable_bytes=usable, tables=catalog)
    return made


def peer_speeds(device: DeviceProfile, model_id: str, quant_id: str, catalog: Catalog | None = None) -> list[tuple[DeviceProfile, float]]:
    """For a RAM-only device (``device.stands_for``): the decode speed of ``model_id`` in
    ``quant_id`` on each catalog device it stands for, the device its figures come from first,
    then slowest to fastest (context 4,096, prompt 512, output 256). Empty for a real device."""
    catalog = catalog or load_catalog()
    overrides = calibration_overrides()
    peers = [catalog.devices[i] for i in device.stands_for if i in catalog.devices]
    out = [(d, peer_decode_tokens_per_s(d, catalog, model_id, quant_id, overrides)) for d in peers]
    return out[:1] + sorted(out[1:], key=lambda t: t[1])


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
    "DeviceChoice", "resolve_device", "peer_speeds", "run_recommend", "run_predict", "run_devices_for", "parse_licenses",
    "NothingFitsError", "Constraints", "Workload",
]

"""The report's input: a workload, candidate devices and a fleet, from a TOML/YAML file or options.

A requirements file is flat; every key is optional except that the models must be named (``models``
or ``quality_floor``)::

    title = "Kiosk assistant, 500 units"
    models = ["llama-3.2-1b-instruct", "qwen3-1.7b"]
    context_tokens = 4096
    prompt_tokens = 512
    output_tokens = 200
    min_tps = 8
    devices = ["raspberry-pi-5-8gb", "mini-pc-intel-n100-8gb"]
    fleet_size = 500
    rank_by = "fleet_cost"

Runtimes and where the model ships (issues 8, 9): ``runtime = "all"`` (or names, e.g.
``["llama.cpp", "mlc"]``; none: every runtime with measurements, under a target the target's),
``target = "android-app"`` (server, desktop-app, ios-app, android-app, browser),
``entitlement = "increased-memory"`` (ios-app), ``browser = "chrome-android"`` (browser target),
``max_download = "1.5GB"`` (model file + runtime library; a number is bytes). With a target and
``device_classes``, the report adds "What to ship per RAM tier".

Errors name the file and the field, in the style of the catalog loader.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from advisor.catalog import _read_toml, _validate
from advisor.engine.recommend import RANK_BY as _ENGINE_RANK_BY
from advisor.errors import BadInputError, DataFileError, MissingDependencyError
from advisor.inputs import parse_document
from advisor.records import MAX_CONTEXT_TOKENS, DeviceClass, KvCacheType, Workload, refuse_bool_for_number
from advisor.units import MAX_NUMBER, parse_duration, parse_size

RankBy = Literal["cost", "fleet_cost", "energy", "speed"]
RANK_BY: tuple[str, ...] = _ENGINE_RANK_BY  # one list for the reports and devices-for



def _listify(value: object) -> object:
    """A single id is a list of one: ``models = "qwen3-1.7b"`` reads like ``["qwen3-1.7b"]``."""
    return [value] if isinstance(value, str) else value


def _duration(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str)):
        try:
            return parse_duration(value, what="max_ttft_s")
        except BadInputError as exc:  # pydantic wants ValueError to report the field
            raise ValueError(str(exc)) from None
    return value


def _download(value: object) -> object:
    """``max_download``: a size ("1.5GB", JEDEC as everywhere) or a number of bytes."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return parse_size(value, what="max_download")
        except BadInputError as exc:  # pydantic wants ValueError to report the field
            raise ValueError(str(exc)) from None
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _lower_ids(value: object) -> object:
    value = _listify(value)
    if isinstance(value, (list, tuple)):
        return tuple(_lower(v) for v in value)
    return value


def _title(value: object) -> object:
    """A title is one line of printable text: control characters break XLSX cells and headings."""
    if isinstance(value, str):
        bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise ValueError(f"contains the control character {bad!r}; give one line of plain text")
        if len(value) > 200:
            raise ValueError(f"is {len(value)} characters long; keep it under 200")
    return value


def _once(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A list names each id once, in the order given: a device listed 100,000 times is one
    candidate, and the report echoes it once (it echoed every copy: a 2 MB HTML file)."""
    return tuple(dict.fromkeys(values))


Title = Annotated[str, BeforeValidator(_title)]
Ids = Annotated[tuple[str, ...], BeforeValidator(_listify), AfterValidator(_once)]
Classes = Annotated[tuple[DeviceClass, ...], BeforeValidator(_listify), AfterValidator(_once)]
Seconds = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
#: a runtime, target or browser id: one short word (the catalog then checks it exists)
Name = Annotated[str, BeforeValidator(_lower), Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
Names = Annotated[tuple[Name, ...], BeforeValidator(_lower_ids), AfterValidator(_once), Field(max_length=20)]
#: at most 1 PiB: larger is a typo, not a download
DownloadBytes = Annotated[int, BeforeValidator(_download), Field(gt=0, le=2**50)]


class Requirements(BaseModel):
    """What the buyer needs; field names are the keys of a requirements file."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    title: Title | None = None
    # the workload
    models: Ids = ()
    quality_floor: float | None = Field(default=None, ge=0, le=100)
    quants: Ids = ()
    context_tokens: int = Field(default=4096, gt=0, le=MAX_CONTEXT_TOKENS)
    prompt_tokens: int = Field(default=512, gt=0, le=MAX_CONTEXT_TOKENS)
    output_tokens: int = Field(default=256, gt=0, le=MAX_CONTEXT_TOKENS)
    kv_cache_type: KvCacheType = "f16"
    min_tps: float | None = Field(default=None, gt=0, le=MAX_NUMBER)
    max_ttft_s: Seconds | None = None
    # the candidate devices (none named: every profile in the catalog)
    devices: Ids = ()
    device_classes: Classes = ()
    device_files: Ids = ()
    all_devices: bool = False
    # the purchase
    fleet_size: int = Field(default=1, gt=0, le=100_000_000)
    budget_usd: float | None = Field(default=None, gt=0, le=MAX_NUMBER)
    power_limit_w: float | None = Field(default=None, gt=0, le=MAX_NUMBER)
    rank_by: RankBy = "cost"
    # runtimes and the deployment target
    runtime: Names = ()  # runtime ids, or ("all",); none: every runtime with evidence (under a target: the target's)
    target: Name | None = None
    entitlement: Literal["increased-memory"] | None = None
    browser: Name | None = None
    max_download: DownloadBytes | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_for_number(cls, value, info)

    # where the requirements came from: a file path (errors name it and the field) or None (options)
    _origin: str | None = PrivateAttr(default=None)
    # the fields the command line gave on top of the file (errors about them word the option)
    _options: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def origin(self) -> str | None:
        return self._origin

    def in_file(self, *fields: str) -> bool:
        """Whether these fields' values all come from the requirements file (not from options)."""
        return self._origin is not None and not self._options.intersection(fields)

    def workload(self) -> Workload:
        return Workload(
            context_tokens=self.context_tokens, prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens, kv_cache_type=self.kv_cache_type,
        )

    def public_dict(self) -> dict[str, Any]:
        """The requirements as given (lists, not tuples), for the report's JSON."""
        out = self.model_dump(mode="json")
        return out


def field_error(req: Requirements, field: str, message: str, option_message: str | None = None,
                also: tuple[str, ...] = ()) -> Exception:
    """An error about one field (judged with the fields ``also`` names): names the file and field
    when the file gave them all; when an option gave one, the option's own wording
    (``option_message``, else ``message``): ``--context 100`` over a file is not the file's fault."""
    if req.in_file(field, *also):
        return DataFileError(f"{req.origin}: field '{field}': {message}")
    return BadInputError(option_message or message)


def check(req: Requirements) -> Requirements:
    """Cross-field rules that pydantic's per-field checks do not cover."""
    if not req.models and req.quality_floor is None:
        raise field_error(req, "models", "name the candidate models (models = [...]) or set a quality_floor",
                          "name the candidate models with --model (repeatable) or give a --quality-floor")
    if req.prompt_tokens + req.output_tokens > req.context_tokens:
        raise field_error(
            req, "context_tokens",
            f"prompt_tokens ({req.prompt_tokens}) + output_tokens ({req.output_tokens}) exceed the context of "
            f"{req.context_tokens}; raise context_tokens or shorten them",
            f"prompt ({req.prompt_tokens}) + output ({req.output_tokens}) tokens exceed the context of "
            f"{req.context_tokens}; raise --context or shorten them",
            also=("prompt_tokens", "output_tokens"),
        )
    if req.entitlement is not None and req.target not in (None, "ios-app"):
        raise field_error(req, "entitlement", f"the increased-memory entitlement is an iOS app's, not {req.target}'s; "
                          "drop it or set target = \"ios-app\"",
                          f"--entitlement is for --target ios-app, not {req.target}; drop it or use --target ios-app",
                          also=("target",))
    if req.browser is not None and req.target not in (None, "browser"):
        raise field_error(req, "browser", f"a browser applies to the browser target, not {req.target}; "
                          "drop it or set target = \"browser\"",
                          f"--browser applies to --target browser, not {req.target}; drop it or use --target browser",
                          also=("target",))
    if req.target is None and (req.browser is not None or req.entitlement is not None):
        # as recommend/predict/devices-for read them (api.implied_target): a browser named alone
        # means the browser target, the entitlement alone an iOS app; ignored, an unknown browser
        # passed unnoticed and the report was a server's
        req = req.model_copy(update={"target": "browser" if req.browser is not None else "ios-app"})
    return req


def from_options(**values: Any) -> Requirements:
    """Requirements from CLI options (None and empty values mean: the default)."""
    given = {k: v for k, v in values.items() if v is not None and v != () and v != []}
    req = _validate(Requirements, given, "options")
    return check(req)


def _read_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError(
            f"{path}: reading YAML needs PyYAML; install it with: pip install pyyaml (or write the requirements as TOML)"
        ) from None
    class RepeatedKey(yaml.constructor.ConstructorError):
        pass

    class Loader(yaml.SafeLoader):
        """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
        one silently; TOML refuses it): 'fleet_size: 1' then 'fleet_size: 2' reported fleet 2."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                # '<<' merges (their keys may be overridden) and non-scalar keys are not names to repeat
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                if key in seen:
                    raise RepeatedKey(None, None, f"key '{key}' appears twice (lines {seen[key]} and {line}); keep one",
                                      key_node.start_mark)
                seen[key] = line
            return super().construct_mapping(node, deep)

    def syntax(exc: Any) -> str:
        if isinstance(exc, RepeatedKey):
            return str(exc.problem)
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        return f"not valid YAML{line}; fix the syntax there"

    return parse_document(path, lambda text: yaml.load(text, Loader=Loader), expected=".yaml file",  # noqa: S506 — a SafeLoader
                          syntax_error=yaml.YAMLError, describe_syntax=syntax, shape="a requirements file is flat")


def load_requirements(path: str | Path) -> Requirements:
    """Read a requirements file (.toml, or .yaml/.yml when PyYAML is installed)."""
    path = Path(path)
    if not path.exists():  # said before its suffix is judged: /nonexistent is missing, not misnamed
        raise DataFileError(f"{path}: file not found; check the path")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        raw = _read_toml(path)
    elif suffix in (".yaml", ".yml"):
        raw = _read_yaml(path)
    else:
        raise DataFileError(f"{path}: a requirements file must be .toml, .yaml or .yml")
    if not isinstance(raw, dict):
        raise DataFileError(f"{path}: expected a table of requirements (key = value lines)")
    req = _validate(Requirements, raw, str(path))
    # device files are relative to the requirements file, so CI can run from anywhere
    files = tuple(str((path.parent / f) if not Path(f).is_absolute() else Path(f)) for f in req.device_files)
    if files:
        req = req.model_copy(update={"device_files": files})
    req._origin = str(path)
    return check(req)


def merge(base: Requirements, **overrides: Any) -> Requirements:
    """A file's requirements with some options given on the command line on top."""
    given = {k: v for k, v in overrides.items() if v is not None and v != () and v != []}
    if not given:
        return base
    _validate(Requirements, given, "options")  # an option's bad value is the option's, not the file's
    raw = base.model_dump()
    raw.update(given)
    merged = _validate(Requirements, raw, base.origin or "options")
    merged._origin = base.origin
    merged._options = frozenset(given)
    return check(merged)

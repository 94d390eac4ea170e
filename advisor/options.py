"""Click option types shared by every command (``cli``, ``report.command``, ``validate.command``).

Each type calls the library's parser (``advisor.units``), so a bad value raises the same
``BadInputError`` — naming the option and the fix — whichever command it was given to; ``--help``
shows the kind of value (INTEGER, NUMBER, DURATION, SIZE).
"""

from __future__ import annotations

from typing import Any, Callable

import click

from advisor.records import MAX_CONTEXT_TOKENS  # one definition, beside Workload
from advisor.units import MAX_NUMBER, parse_download_size, parse_duration, parse_memory_size, parse_number, parse_positive_float, parse_positive_int


class _Parsed(click.ParamType):
    """A click type whose conversion is a library parser; its errors keep their own wording."""

    def __init__(self, name: str, parse: Callable[[Any, str], Any], what: str | None = None) -> None:
        self.name = name
        self._parse = parse
        self._what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or not isinstance(value, str):
            return value  # already converted (a default given as a number)
        what = self._what or (param.opts[0] if param is not None and param.opts else self.name)
        return self._parse(value, what)  # BadInputError → cli.main prints "Error: …", exit 1


def positive_int(maximum: int, *, what: str | None = None) -> click.ParamType:
    """A whole number from 1 to ``maximum`` (token counts, thread counts, fleet sizes)."""
    return _Parsed("integer", lambda v, what: parse_positive_int(v, what=what, maximum=maximum), what)


def positive_number(maximum: float = MAX_NUMBER) -> click.ParamType:
    """A finite number above 0 and up to ``maximum`` (speeds, prices, scores)."""
    return _Parsed("number", lambda v, what: parse_positive_float(v, what=what, maximum=maximum))


def number_in(minimum: float, maximum: float) -> click.ParamType:
    """A finite number from ``minimum`` to ``maximum`` (a target speed that may be 0, a 0–100 score)."""
    return _Parsed("number", lambda v, what: parse_number(v, what=what, minimum=minimum, maximum=maximum))


DURATION = _Parsed("duration", lambda v, what: parse_duration(v, what=what))
#: a device's memory: at least 64 MiB, with did-you-mean for a bare number (units.parse_memory_size)
SIZE = _Parsed("size", lambda v, what: parse_memory_size(v, what=what))
TOKENS = positive_int(MAX_CONTEXT_TOKENS)
THREADS = positive_int(1024)
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")

#: ``--rank-by`` values, the same for ``devices-for`` and ``report`` (``engine.recommend.RANK_BY``).
RANK_BY_CHOICES = ("cost", "fleet_cost", "energy", "speed")
#: Older spellings still accepted (not listed in --help).
RANK_BY_ALIASES = {"price": "cost"}


def canonical_rank_by(value: str) -> str:
    return RANK_BY_ALIASES.get(value, value)


class RankByChoice(click.Choice):
    """The shared ``--rank-by`` choices; accepts the older spelling ``price`` for ``cost``."""

    def __init__(self) -> None:
        super().__init__(RANK_BY_CHOICES)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(canonical_rank_by(value) if isinstance(value, str) else value, param, ctx)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The shared ``--format table|json|csv|md``."""
    from advisor.output import FORMATS

    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="Output format: human table, JSON (stable schema), CSV or Markdown.",
    )(f)


def workload_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--context, --prompt-tokens, --output-tokens, --kv-cache, --threads, --flash-attn, --no-repack
    (→ ``workload_from``)."""
    opts = [
        click.option("--context", "context", default=4096, show_default=True, type=TOKENS,
                     help="Context window to allocate (tokens)."),
        click.option("--prompt-tokens", default=512, show_default=True, type=TOKENS,
                     help="Prompt length for time to first token."),
        click.option("--output-tokens", default=256, show_default=True, type=TOKENS, help="Response length."),
        click.option("--kv-cache", type=click.Choice(KV_CACHE_TYPES), default="f16", show_default=True,
                     help="KV cache type (K and V); q8_0 and q4_0 need flash attention on or auto, as llama.cpp does."),
        click.option("--threads", default=None, type=THREADS, help="CPU threads (default: the device's big cores)."),
        click.option("--flash-attn", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True,
                     help="llama.cpp flash attention; off adds the attention scores to the compute buffer. "
                          "auto = llama.cpp's default (on for CPU); llama-cpp-python's Llama() defaults to off."),
        click.option("--no-repack", is_flag=True, default=False,
                     help="llama.cpp --no-repack: keep the weights as stored instead of repacking them for the CPU's "
                          "kernels (repacked Q4_0 prefills 2-3x faster on AVX2/AVX-512 and Arm dotprod CPUs)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


#: the most layers --n-cpu-moe accepts before the model is known (records' width limit)
MAX_N_CPU_MOE = 100_000


def parse_n_cpu_moe(text: Any, what: str) -> int | str | None:
    """``--n-cpu-moe``: "auto" (None: the fewest layers that fit), "all" (llama.cpp's --cpu-moe:
    every layer; resolved against the model by ``api.resolve_n_cpu_moe``) or a whole number ≥ 0."""
    from advisor.errors import BadInputError

    word = str(text).strip().lower()
    if word in ("auto", "all"):
        return None if word == "auto" else "all"
    try:
        if not word.isascii():  # int() reads '３' as 3
            raise ValueError
        value = int(word.replace("_", ""))
    except ValueError:
        raise BadInputError(f"{what} {text!r} is not a number of layers; give e.g. 2, all or auto") from None
    if value < 0:
        raise BadInputError(f"{what} must be 0 or more layers (or all, auto), got {value}")
    if value > MAX_N_CPU_MOE:  # it said 'must be 0 or more' of 10^20, which is
        raise BadInputError(f"{what} {value:,} is more layers than any model has (at most {MAX_N_CPU_MOE:,}); "
                            "give the model's layer count, all or auto")
    return value


N_CPU_MOE = _Parsed("layers", parse_n_cpu_moe)


def moe_offload_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--n-cpu-moe (llama.cpp's flag; ``api.resolve_n_cpu_moe`` turns it into Workload.n_cpu_moe)."""
    return click.option(
        "--n-cpu-moe", "n_cpu_moe", default="auto", show_default=True, type=N_CPU_MOE, metavar="N|all|auto",
        help="MoE on a discrete GPU: keep the routed experts of the first N layers in host RAM, run on the CPU "
             "(llama.cpp --n-cpu-moe; all = --cpu-moe). auto: the fewest layers that let the rest fit VRAM.",
    )(f)


def device_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--device, --device-file, --ram, --usable, --class (→ ``device_from``)."""
    opts = [
        click.option("--device", "device_id", default=None, metavar="ID", help="Device profile id (see 'advisor devices'), ID@MODE for one of its power modes (jetson-agx-orin-64gb@15W), or 'local'."),
        click.option("--device-file", type=click.Path(dir_okay=False), default=None, help="Your own device profile (TOML)."),
        click.option("--ram", default=None, metavar="SIZE",
                     help="Only the RAM size, e.g. 4GB, 4 GiB, 3.5g, 4096MB (JEDEC: GB = GiB)."),
        click.option("--usable", default=None, metavar="SIZE", help="With --ram: memory one app may use (default 75% of RAM; with --class, the smallest share among that class's devices with that RAM)."),
        click.option("--class", "device_class", default=None, help="With --ram: device class whose typical speed to assume."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


#: a download size (any size: a file can be smaller than a device's memory)
DOWNLOAD_SIZE = _Parsed("size", lambda v, what: parse_download_size(v, what=what))
#: --max-download's help: sizes are JEDEC like every size here, while stores publish decimal limits
#: (Play's AI pack "1.5 GB" is 1.5e9 B, 1.40 GiB), so the way to write a store's limit is said
MAX_DOWNLOAD_HELP = ("Largest download a user accepts: model file + runtime library, e.g. 1.5GB (= 1.5 GiB, as every size "
                     "here; a store limit published as 1.5 GB is decimal: write 1.5e9).")


def runtime_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--runtime, --backend, --target, --entitlement, --browser, --max-download (→ ``deployment_from``)."""
    opts = [
        click.option("--runtime", "runtimes", multiple=True, metavar="NAME",
                     help="Runtime to consider (repeatable, or a comma list): llama.cpp, mlx, mlc, executorch, litert-lm, ort-genai, mnn, "
                          "wllama, or 'all' (every runtime with published measurements for the device). "
                          "Default: all (predict: llama.cpp, or the --target's first runtime); under --target, "
                          "the target's runtimes."),
        click.option("--backend", default=None, metavar="ID", help="Insist on one backend of the runtime (cpu, metal, opencl, webgpu, …)."),
        click.option("--target", "target_id", default=None, metavar="TARGET",
                     help="Where the model ships: server, desktop-app, ios-app, android-app, browser (memory budget, "
                          "runtimes, per-buffer limits; see 'advisor targets')."),
        click.option("--entitlement", type=click.Choice(["increased-memory"]), default=None,
                     help="iOS app holding com.apple.developer.kernel.increased-memory-limit (implies --target ios-app)."),
        click.option("--browser", "browser_id", default=None, metavar="ID",
                     help="Browser for --target browser: chrome-desktop, chrome-android, safari-ios, safari-macos, firefox "
                          "(default: the device's first that offers WebGPU)."),
        click.option("--max-download", default=None, type=DOWNLOAD_SIZE, metavar="SIZE",
                     help=MAX_DOWNLOAD_HELP),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def deployment_from(kw: dict[str, Any], device: Any) -> Any:
    """Pop --target/--entitlement/--browser from ``kw``: the deployment on ``device`` (or None)."""
    from advisor.api import make_deployment

    return make_deployment(device, kw.pop("target_id"), entitlement=kw.pop("entitlement") is not None,
                           browser_id=kw.pop("browser_id"))


def workload_from(kw: dict[str, Any]) -> Any:
    """Pop the ``workload_options`` values from ``kw`` into a Workload."""
    from advisor.records import Workload

    return Workload(
        context_tokens=kw.pop("context"),
        prompt_tokens=kw.pop("prompt_tokens"),
        output_tokens=kw.pop("output_tokens"),
        kv_cache_type=kw.pop("kv_cache"),
        threads=kw.pop("threads"),
        flash_attn=kw.pop("flash_attn"),
        cpu_repack=not kw.pop("no_repack"),
    )


def device_from(kw: dict[str, Any]) -> Any:
    """Pop the ``device_options`` values from ``kw`` and resolve the device they name."""
    from advisor.api import DeviceChoice, implied_target, resolve_device, runtime_choice

    # the target (its options popped later by deployment_from) and the runtimes named narrow what a
    # RAM size stands for
    target = implied_target(kw.get("target_id"), entitlement=kw.get("entitlement") is not None,
                            browser_id=kw.get("browser_id"))
    runtimes = runtime_choice(kw["runtimes"]) if kw.get("runtimes") and kw.get("ram") else None
    return resolve_device(DeviceChoice(
        device_id=kw.pop("device_id"), device_file=kw.pop("device_file"), ram=kw.pop("ram"),
        usable=kw.pop("usable"), device_class=kw.pop("device_class"), target_id=target,
        browser_id=kw.get("browser_id"), runtimes=runtimes,
    ))


def import_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--gguf-header PATH, --model-config PATH: a model that is not in the catalog (→ ``imported``)."""
    opts = [
        click.option("--gguf-header", type=click.Path(dir_okay=False), default=None,
                     help="A local GGUF file (or its first megabytes): read only its metadata and tensor table; exact weights."),
        click.option("--model-config", type=click.Path(dir_okay=False), default=None,
                     help="A Hugging Face config.json of a model not in the catalog."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def imported(kw: dict[str, Any], model_id: str | None, quant_id: str | None) -> tuple[str, str | None]:
    """Resolve --model / --gguf-header / --model-config to one model id (and a GGUF's own quant)."""
    from advisor.errors import BadInputError

    header, config = kw.pop("gguf_header"), kw.pop("model_config")
    if header is None and config is None:
        if not model_id:
            raise BadInputError("name the model with --model ID, --gguf-header PATH or --model-config PATH")
        from advisor.catalog import load_catalog

        catalog = load_catalog()
        own = catalog.model(model_id).file_type  # a model added from a GGUF file: that file's type
        asked = quant_id.upper().replace("-", "_") if quant_id else None
        if own and asked and asked in catalog.file_types and asked != own:  # another runtime's format: its own check
            raise BadInputError(f"{model_id} is a GGUF file of type {own}; drop --quant {quant_id} (its tensor types are fixed)")
        return catalog.model(model_id).id, quant_id or own  # the catalog's id, however it was spelled
    if model_id:
        raise BadInputError("--model cannot be combined with --gguf-header or --model-config; give one of them")
    from advisor.api import import_model

    got = import_model(header, config)
    if got.quant_id and quant_id and quant_id.upper().replace("-", "_") != got.quant_id:
        raise BadInputError(f"the GGUF file is {got.quant_id}; drop --quant {quant_id} (its tensor types are fixed)")
    return got.model_id, got.quant_id or quant_id

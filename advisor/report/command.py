"""`advisor report`: requirements (a file or options) → one ReportData → each asked-for format.

Registered in ``advisor.cli`` with ``cli.add_command(report)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from advisor.errors import BadInputError, NothingFitsError, OutputExistsError
from advisor.output import settle
from advisor.options import (DOWNLOAD_SIZE, DURATION, MAX_DOWNLOAD_HELP, KV_CACHE_TYPES, TOKENS, RankByChoice, import_options, number_in, positive_int,
                             positive_number)
from advisor.report.writer import FORMATS, SUFFIX_FORMATS, TEXT_FORMATS


#: Formats that take seconds to render, and what they are doing meanwhile (shown on stderr).
SLOW_FORMATS = {"pdf": "drawing three charts, then laying out the pages", "html": "drawing three interactive charts"}


def plan_outputs(formats: tuple[str, ...], output: str | None) -> list[tuple[str, Path | None]]:
    """(format, path or None for stdout) for each report to write.

    ``-o report.pdf`` alone infers the format; with several ``--format``s, ``-o`` is the base name and
    each format gets its suffix (``-o out/kiosk --format html --format pdf``)."""
    fmts = list(dict.fromkeys(f.lower() for f in formats))
    if output is None:
        fmts = fmts or ["md"]
        binary = [f for f in fmts if f not in TEXT_FORMATS]
        if binary:
            raise BadInputError(f"--format {binary[0]} needs a file: add -o/--output PATH")
        if len(fmts) > 1:
            raise BadInputError("several formats need -o/--output PATH (the base name of the files)")
        return [(fmts[0], None)]
    from advisor.output import check_output_name

    check_output_name(output, example=f"report{FORMATS[fmts[0]]}" if fmts else "report.md")
    path = Path(output)
    if not fmts:
        fmt = SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise BadInputError(
                f"cannot tell the format of '{output}' from its suffix; add --format ({', '.join(FORMATS)}) "
                "or end the name in .html, .pdf, .md, .csv, .json or .xlsx"
            )
        return [(fmt, path)]
    if len(fmts) == 1:
        suffix_fmt = SUFFIX_FORMATS.get(path.suffix.lower())
        if suffix_fmt is None:
            return [(fmts[0], path.with_name(path.name + FORMATS[fmts[0]]))]
        if suffix_fmt != fmts[0]:
            raise BadInputError(f"-o {output} ends in {path.suffix} but --format is {fmts[0]}; make them agree")
        return [(fmts[0], path)]
    base = path.with_suffix("") if path.suffix.lower() in SUFFIX_FORMATS else path
    return [(f, base.with_name(base.name + FORMATS[f])) for f in fmts]


def add_imported_model(options: dict[str, Any], base: Any = None) -> None:
    """--gguf-header / --model-config: import the model and add it to the candidate models (those
    of the options, else of the requirements file ``base``). A GGUF file's tensor types are fixed,
    so the report's quantizations become the file's own type; a --quant (or a file's ``quants``)
    without it is an error."""
    header, config = options.pop("gguf_header", None), options.pop("model_config", None)
    if header is None and config is None:
        return
    from advisor.api import import_model

    got = import_model(header, config)
    models = options["models"] or (base.models if base is not None else ())
    options["models"] = tuple(dict.fromkeys((*models, got.model_id)))
    if got.quant_id is None:
        return
    quants = options["quants"] or (base.quants if base is not None else ())
    if quants and got.quant_id not in (q.strip().upper().replace("-", "_") for q in quants):
        raise BadInputError(f"the GGUF file is {got.quant_id}; drop --quant {', '.join(quants)} or add --quant {got.quant_id} "
                            "(its tensor types are fixed)")
    options["quants"] = (got.quant_id,)


@click.command("report")
@click.option("--requirements", "requirements_file", type=click.Path(dir_okay=False), default=None,
              help="Requirements file (TOML, or YAML with PyYAML); options given as well override its values.")
@click.option("--model", "models", multiple=True, metavar="ID", help="Candidate model id (repeatable).")
@import_options
@click.option("--quality-floor", default=None, metavar="SCORE", type=number_in(0, 100),
              help="Candidate models: every model with at least this quality score (0-100).")
@click.option("--quant", "quants", multiple=True, metavar="QUANT", help="Only these quantizations (repeatable; default: the common ones).")
@click.option("--device", "devices", multiple=True, metavar="ID", help="Candidate device id, or ID@MODE for a power mode (repeatable).")
@click.option("--class", "device_classes", multiple=True, metavar="CLASS", help="Every device of this class (repeatable).")
@click.option("--device-file", "device_files", multiple=True, type=click.Path(dir_okay=False),
              help="Your own device profile, TOML (repeatable).")
@click.option("--all-devices", is_flag=True, default=None, help="Every device profile in the catalog (also the default when none is named).")
@click.option("--fleet", "fleet_size", default=None, type=positive_int(100_000_000), help="Number of units to buy [default: 1].")
@click.option("--budget", "budget_usd", default=None, metavar="USD", type=positive_number(), help="Budget for the whole fleet, USD.")
@click.option("--power-limit", "power_limit_w", default=None, metavar="W", type=positive_number(), help="Maximum power per unit, W.")
@click.option("--context", "context_tokens", default=None, type=TOKENS,
              help="Context window to allocate (tokens) [default: 4096].")
@click.option("--prompt-tokens", default=None, type=TOKENS, help="Prompt length [default: 512].")
@click.option("--output-tokens", default=None, type=TOKENS, help="Response length [default: 256].")
@click.option("--kv-cache", "kv_cache_type", type=click.Choice(KV_CACHE_TYPES), default=None, help="KV cache type [default: f16].")
@click.option("--min-tps", default=None, metavar="TOK/S", type=positive_number(), help="Required decode speed (tokens/s).")
@click.option("--max-ttft", "max_ttft_s", default=None, metavar="DURATION", type=DURATION,
              help="Maximum time to first token, e.g. 2s or 500ms.")
@click.option("--rank-by", type=RankByChoice(), default=None,
              help="Order of the devices that meet it: unit or fleet price, energy per response, or decode speed [default: cost].")
@click.option("--runtime", "runtime", multiple=True, metavar="NAME",
              help="Runtime to consider (repeatable): llama.cpp, mlx, mlc, executorch, litert-lm, ort-genai, mnn, wllama, or 'all' "
                   "[default: all: every runtime with measurements for the device; under --target, the target's].")
@click.option("--target", "target", default=None, metavar="TARGET",
              help="Where the model ships: server, desktop-app, ios-app, android-app, browser (its memory budget, runtimes and "
                   "limits; with --class, adds 'What to ship per RAM tier').")
@click.option("--entitlement", type=click.Choice(["increased-memory"]), default=None,
              help="iOS app holding com.apple.developer.kernel.increased-memory-limit (--target ios-app).")
@click.option("--browser", "browser", default=None, metavar="ID",
              help="Browser for --target browser: chrome-desktop, chrome-android, safari-ios, safari-macos, firefox.")
@click.option("--max-download", "max_download", default=None, type=DOWNLOAD_SIZE, metavar="SIZE",
              help=MAX_DOWNLOAD_HELP)
@click.option("--title", default=None, help="Report title.")
@click.option("--format", "formats", multiple=True, type=click.Choice(list(FORMATS)),
              help="html, pdf, md, csv, json or xlsx (repeatable; default: from the -o suffix, else md).")
@click.option("-o", "--output", default=None, metavar="PATH", help="File to write (without it md/json/csv go to stdout).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def report(requirements_file: str | None, formats: tuple[str, ...], output: str | None, force: bool, **options: Any) -> None:
    """A procurement report: which device and model+quant meet a workload, at what price and energy.

    Compares candidate devices × models (fit, headroom, decode/prefill tok/s, TTFT, energy per 1,000
    responses, unit and fleet price, tok/s per $ and per W), ranks the devices that meet the requirement,
    lists the ones that cannot and why, the cheapest per class, what a larger-RAM variant would allow,
    and the basis of every figure. Exit code 3 when no device meets the requirement (the report is
    still written).
    """
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.requirements import from_options, load_requirements, merge
    from advisor.report.writer import render, write_atomic

    plan = plan_outputs(formats, output)  # check the outputs before the work
    for _, path in plan:
        if path is not None and path.exists() and not force:
            raise OutputExistsError(f"{path} already exists; pass --force to overwrite it")
        parent = path.parent if path is not None else None
        if parent is not None and str(parent) and not parent.is_dir():
            from advisor.output import no_directory_error

            raise no_directory_error(path, parent)
    options["models"] = tuple(m.lower() for m in options["models"])
    from typing import get_args

    from advisor.api import check_device_class
    from advisor.records import DeviceClass

    # an unknown class is worded as every command words it, not in the requirements model's terms
    options["device_classes"] = tuple(check_device_class(c, None, get_args(DeviceClass)) for c in options["device_classes"])
    options["all_devices"] = options["all_devices"] or None  # an absent flag keeps the file's value
    if requirements_file is not None and not requirements_file.strip():  # not "no file": the user named one
        raise BadInputError("--requirements is empty; give the path of a requirements TOML file "
                            "(examples/requirements-kiosk.toml), or leave it out and give the options")
    base = load_requirements(requirements_file) if requirements_file else None
    add_imported_model(options, base)
    if base is not None:
        req = merge(base, **options)
    else:
        req = from_options(**options)
    slow = [fmt for fmt, _ in plan if fmt in SLOW_FORMATS]
    if slow:
        click.echo("Evaluating the candidate devices and models…", err=True)
    data = build_report(req, load_catalog())
    none_meet = settle(None if data.any_meets else NothingFitsError(
        "no candidate device meets the requirement; the report says why (it was still written)"))
    for fmt, path in plan:
        if fmt in SLOW_FORMATS:
            click.echo(f"Rendering {fmt.upper()} ({SLOW_FORMATS[fmt]})…", err=True)
        payload = render(data, fmt)
        if path is None:
            click.echo(payload.decode("utf-8").rstrip("\n"))
        else:
            write_atomic(path, payload, force=force)
            click.echo(f"Wrote {path} ({fmt}, {len(payload):,} bytes)", err=True)
    if none_meet:
        raise none_meet

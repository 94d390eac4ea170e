"""CLI commands of the measure-for-real loop: profile, validate, runs, calibrate.

Registered lazily in advisor.cli (nothing here is imported by `advisor recommend`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from advisor.errors import BadInputError
from advisor.options import KV_CACHE_TYPES, THREADS, TOKENS, format_option, number_in, positive_int
from advisor.output import FORMATS, dumps_json, render_rows
from advisor.units import format_seconds, format_size
from advisor.wording import id_ranges, plural, tps, when_text


def _emit(text: str) -> None:
    click.echo(text.rstrip("\n"))


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def _warn(msg: str) -> None:
    click.echo(f"Warning: {msg}", err=True)


def _fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "bytes":
        return format_size(v)
    if unit == "s":
        return format_seconds(v)
    return f"{tps(v)} tok/s"


# --------------------------------------------------------------------------- profile


@click.command()
@click.option("--seconds", default=3.0, show_default=True, type=number_in(0.5, 60), help="Benchmark duration.")
@click.option("--no-write", is_flag=True, help="Print the profile without saving it.")
@click.option("--force", is_flag=True, help="Save the profile even when it was measured on a busy machine and a profile "
              "of this machine measured idle is saved.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "toml"]), default="table", show_default=True,
              help="A table, or the profile itself as JSON or TOML (the file --device local reads).")
def profile(seconds: float, no_write: bool, force: bool, fmt: str) -> None:
    """Profile this machine: RAM, CPU, caches, GPUs, board and container limits, plus measured
    memory bandwidth and compute. Saved as a device profile usable with --device local."""
    from advisor.local import dumps_toml, run_profile

    device, path = run_profile(seconds=seconds, write=not no_write, force=force, warn=_warn,
                               progress=lambda s, f: _say(f"[{f:4.0%}] {s}"))
    raw = device.model_dump(mode="json", by_alias=True, exclude_none=True)
    if fmt == "json":
        _emit(dumps_json(raw))
    elif fmt == "toml":
        _emit(dumps_toml(raw))
    else:
        rows = [
            {"item": "CPU", "value": f"{device.cpu.name} ({device.cpu.cores} cores, {', '.join(device.cpu.isa) or 'no SIMD flags'})"},
            {"item": "RAM", "value": f"{format_size(device.memory.ram)} ({format_size(device.memory.usable)} usable now)"},
            {"item": "last-level cache", "value": format_size(device.memory.llc) if device.memory.llc else "unknown"},
            {"item": "memory bandwidth", "value": f"{device.memory.bandwidth_gbs:g} GB/s measured ({device.memory.bandwidth_note})"},
            {"item": "compute", "value": f"{device.cpu.fp32_gflops:g} GFLOPS FP32 measured"},
            {"item": "storage read", "value": f"{device.storage.read_mb_s:,.0f} MB/s measured ({device.storage.note})" if device.storage
             else "not measured (this OS cannot drop a file from the page cache)"},
            {"item": "GPU", "value": device.gpu.name if device.gpu else "none detected"},
            {"item": "class", "value": device.device_class},
            {"item": "notes", "value": device.notes},
        ]
        _emit(render_rows(rows, [("item", "item"), ("value", "value")], "table", title=device.name, wrap=("value",)))
        if path:
            _say(f"saved {path}; use it with --device local")


# --------------------------------------------------------------------------- validate


@click.command()
@click.option("--model", "model_id", required=True, help="Catalog model id.")
@click.option("--quant", "quant_id", default="Q4_K_M", show_default=True, help="Quantization.")
@click.option("--gguf", type=click.Path(dir_okay=False), default=None,
              help="A real GGUF of that model; default: build a synthetic twin (exact architecture, random weights).")
@click.option("--context", default=2048, show_default=True, type=TOKENS, help="Context window to allocate (tokens).")
@click.option("--prompt-tokens", default=256, show_default=True, type=TOKENS, help="Prompt length (tokens).")
@click.option("--output-tokens", default=64, show_default=True, type=TOKENS, help="Tokens to generate.")
@click.option("--threads", default=None, type=THREADS, help="Default: the machine's cores.")
@click.option("--repeats", default=3, show_default=True, type=positive_int(100), help="Measured repeats (median).")
@click.option("--kv-cache", type=click.Choice(KV_CACHE_TYPES), default="f16", show_default=True,
              help="KV cache type (K and V); q8_0 and q4_0 need flash attention on or auto, as llama.cpp does.")
@click.option("--flash-attn", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True,
              help="llama.cpp flash attention for the run and the prediction (auto = llama.cpp's default, on for CPU).")
@click.option("--force", is_flag=True, help="Run even when the prediction says it will not fit in available memory.")
@click.option("--page-cache", type=click.Choice(["warm", "cold"]), default="warm", show_default=True,
              help="Load the file from a warm page cache (read through first, a restart) or a cold one (dropped first, "
                   "a first start after boot); the load time is compared with the matching prediction.")
@click.option("--timeout", default=600.0, show_default=True, type=number_in(1, 86400), help="Seconds before the run is stopped.")
@click.option("--runtime", "runtime_id", default=None, metavar="NAME",
              help="Validate another runtime that runs here (mlx, ort-genai, executorch, litert-lm, mnn) on a twin its own "
                   "converter builds; --quant is then its format (e.g. 4bit, int4, 8da4w, dynamic_int8).")
@format_option
def validate(fmt: str, model_id: str, quant_id: str, gguf: str | None, context: int, prompt_tokens: int, output_tokens: int,
             threads: int | None, repeats: int, kv_cache: str, flash_attn: str, force: bool, page_cache: str, timeout: float,
             runtime_id: str | None) -> None:
    """Run a model for real on this machine (llama.cpp, or --runtime mlx / ort-genai / executorch / litert-lm /
    mnn) and compare
    with the prediction: load time, weights, model/KV/compute buffers, peak RSS, prefill, decode,
    time to first token. Every run (and every failure) is recorded; exit code 4 when the run fails."""
    from advisor.local import local_profile, local_profile_path, run_profile
    from advisor.records import Workload
    from advisor.validate.predicted_vs_measured import run_validation

    if prompt_tokens + output_tokens > context:
        raise BadInputError(f"--prompt-tokens + --output-tokens ({prompt_tokens + output_tokens}) exceed --context {context}")
    from advisor.api import names_llama_cpp

    if not names_llama_cpp(runtime_id):
        return _validate_runtime(fmt, runtime_id, model_id, quant_id, gguf, prompt_tokens, output_tokens, repeats)
    # the workload's own checks (a quantized KV cache without flash attention) before anything runs
    Workload(context_tokens=context, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
             kv_cache_type=kv_cache, flash_attn=flash_attn)  # type: ignore[arg-type]
    _require_validate_extra()  # before the minutes of profiling and twin building
    from advisor.catalog import load_catalog
    from advisor.store import check_writable
    from advisor.validate.predicted_vs_measured import (check_architecture, check_gguf, check_quantization, check_twin_cache,
                                                        read_gguf_header)

    catalog = load_catalog()
    model, ftype = catalog.model(model_id), catalog.file_type(quant_id)
    if gguf is not None:  # bad input is refused before anything is measured or recorded
        check_gguf(Path(gguf))
        header = read_gguf_header(Path(gguf))
        check_architecture(header, model, Path(gguf))
        check_quantization(header, ftype, catalog.file_types, Path(gguf))
    check_writable()  # a run the store cannot keep is not measured (its figures would be lost)
    if gguf is None:
        check_twin_cache()  # the twin is built there, after minutes of profiling
    if not local_profile_path().exists():
        _say("no profile of this machine yet: profiling it first (a few seconds)")
        run_profile(warn=_warn, progress=lambda s, f: _say(f"[{f:4.0%}] {s}"))
    device = local_profile()
    result = run_validation(model_id, quant_id, device=device, gguf=gguf, context=context, prompt_tokens=prompt_tokens,
                            output_tokens=output_tokens, threads=threads, repeats=repeats, kv_cache=kv_cache, flash_attn=flash_attn, force=force,
                            page_cache=page_cache, timeout_s=timeout, progress=_say)
    rows = [{"figure": c.name, "predicted": _fmt_value(c.predicted, c.unit), "measured": _fmt_value(c.measured, c.unit),
             "error": "-" if c.error_pct is None else f"{c.error_pct:+.1f}%",
             "predicted_raw": c.predicted, "measured_raw": c.measured, "error_pct": c.error_pct} for c in result.comparisons]
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/validation", "schema_version": 1, "run_id": result.run_id,
                          "model": result.model_id, "quant": result.quant, "device": result.device_id,
                          "synthetic_weights": result.synthetic, "gguf": result.gguf, "weight_path": result.weight_path,
                          "notes": result.notes,
                          "comparisons": [{"figure": r["figure"], "predicted": r["predicted_raw"], "measured": r["measured_raw"],
                                           "error_pct": r["error_pct"]} for r in rows]}))
        return
    title = f"{result.model_id} {result.quant} on {result.device_id} — run {result.run_id}"
    if fmt == "table":
        for note in result.notes:
            _emit(f"NOTE: {note}")
    _emit(render_rows(rows, [("figure", "figure"), ("predicted", "predicted"), ("measured", "measured"), ("error", "error")], fmt,
                      title=title, wrap=("figure",)))
    if fmt == "table":
        _emit("  next: 'advisor calibrate' fits this machine's speed factors to its recorded runs "
              "(their bands narrow from 4 runs on; 'advisor runs exclude ID' leaves out a run you know is wrong)")


def _validate_runtime(fmt: str, runtime_id: str, model_id: str, quant_id: str, gguf: str | None, prompt_tokens: int,
                      output_tokens: int, repeats: int) -> None:
    from advisor.catalog import load_catalog
    from advisor.local import local_profile, local_profile_path, run_profile
    from advisor.store import check_writable
    from advisor.validate.runtime_validation import validate_runtime
    from advisor.validate.runtimes import runtime_module

    if gguf is not None:
        raise BadInputError("--gguf is a llama.cpp file; drop it with --runtime (the runtime builds its own twin)")
    catalog = load_catalog()
    runtime = catalog.runtime(runtime_id)
    mod = runtime_module(runtime.id)  # a runtime without a local twin: error listing those with one
    quant = quant_id if quant_id != "Q4_K_M" else runtime.formats[0].id  # the --quant default is llama.cpp's
    mod.check_format(quant)
    mod.require()  # the runtime's package, or the extra that installs it — before profiling
    catalog.model(model_id)
    check_writable()  # a run the store cannot keep is not measured (its figures would be lost)
    if not local_profile_path().exists():
        _say("no profile of this machine yet: profiling it first (a few seconds)")
        run_profile(warn=_warn, progress=lambda s, f: _say(f"[{f:4.0%}] {s}"))
    result = validate_runtime(runtime.id, model_id, quant, device=local_profile(), catalog=catalog, prompt_tokens=prompt_tokens,
                              output_tokens=output_tokens, repeats=repeats, progress=_say)
    rows = [{"figure": c.name, "predicted": _fmt_value(c.predicted, c.unit), "measured": _fmt_value(c.measured, c.unit),
             "error": "-" if c.error_pct is None else f"{c.error_pct:+.1f}%",
             "predicted_raw": c.predicted, "measured_raw": c.measured, "error_pct": c.error_pct} for c in result.comparisons]
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/validation", "schema_version": 1, "run_id": result.run_id,
                          "runtime": result.runtime, "model": result.model_id, "quant": result.fmt, "device": result.device_id,
                          "synthetic_weights": True, "status": result.status, "notes": result.notes,
                          "comparisons": [{"figure": r["figure"], "predicted": r["predicted_raw"], "measured": r["measured_raw"],
                                           "error_pct": r["error_pct"]} for r in rows]}))
        return
    if fmt == "table":
        for note in result.notes:
            _emit(f"NOTE: {note}")
    _emit(render_rows(rows, [("figure", "figure"), ("predicted", "predicted"), ("measured", "measured"), ("error", "error")], fmt,
                      title=f"{result.model_id} {result.fmt} on {result.runtime} ({result.device_id}) — run {result.run_id}",
                      wrap=("figure",)))


def _require_validate_extra() -> None:
    """llama-cpp-python and gguf, found without importing them (importing llama.cpp takes a while)."""
    import importlib.util

    from advisor.errors import missing_extra

    for module, package in (("llama_cpp", "llama-cpp-python"), ("gguf", "gguf")):
        if importlib.util.find_spec(module) is None:
            raise missing_extra(package, "validate")


# --------------------------------------------------------------------------- runs


@click.group()
def runs() -> None:
    """The measurements database: list, show, export and import runs; exclude or include them in calibration."""


RUN_COLUMNS = [("id", "id"), ("created_at", "when"), ("source", "source"), ("status", "status"), ("device_id", "device"),
               ("model_id", "model"), ("quant", "quant"), ("synthetic", "synthetic"), ("decode", "decode tok/s"),
               ("predicted_decode", "predicted decode"), ("prefill", "prefill tok/s"), ("predicted_prefill", "predicted prefill")]


def _run_row(r: Any, *, missing: str | None = "-") -> dict[str, Any]:
    """A run as a listing's row; a figure it lacks is ``missing`` ("-" in a table, None, an empty
    cell, in CSV: output.csv_cell)."""
    def num(v: Any) -> str | None:
        return missing if v is None else tps(v)

    return {"id": r.id, "created_at": r.created_at, "source": r.source, "status": r.status, "device_id": r.device_id,
            "model_id": r.model_id, "quant": r.quant, "synthetic": "yes" if r.synthetic else "no",
            "decode": num(r.measured.get("decode_tokens_per_s")), "predicted_decode": num(r.predicted.get("decode_tokens_per_s")),
            "prefill": num(r.measured.get("prefill_tokens_per_s")), "predicted_prefill": num(r.predicted.get("prefill_tokens_per_s")),
            "error": r.error or (f"left out of calibration: {r.excluded}" if r.excluded else "")}


def _run_dict(r: Any, *, profile: bool = False) -> dict[str, Any]:
    """A run as JSON: with its device profile for an export ('runs import' reads it back), without
    for a listing."""
    from dataclasses import asdict

    d = asdict(r)
    if not profile:
        d.pop("device_profile", None)
    return d


class _RunId(click.ParamType):
    """A run's id as 'runs list' shows it: a whole number from 1 (the token counts' 'give e.g. 512'
    did not fit a run)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not (value.strip().isdecimal() and value.strip().strip("0")):  # no int(): 5,000 digits
            raise BadInputError(f"{value!r} is not a run id; give a number from the id column of 'advisor runs list', e.g. 1")
        return positive_int(10**12, what="run id").convert(value, param, ctx)


RUN_ID = _RunId()


#: Runs ``runs list`` shows in a table without --limit: the latest (a terminal table of 8,000 runs
#: took 4 s to draw and scrolls out of sight; CSV and JSON list them all).
TABLE_RUNS = 200


def _stored_id(given: str | None, kind: str) -> str | None:
    """The id runs are stored under for a --device or --model as typed: the catalog's id when the
    catalog knows it by that spelling (any case, a model's Hugging Face repository), else as typed
    (a device or model the catalog no longer has). 'SmolLM2-135M-Instruct' matched no run."""
    from advisor.catalog import load_catalog
    from advisor.errors import UnknownIdError

    if given is None:
        return None
    catalog = load_catalog()
    try:
        return (catalog.model(given) if kind == "model" else catalog.device(given)).id
    except UnknownIdError:
        return given.strip()


@runs.command("list")
@click.option("--device", default=None, help="Only the runs on this device id (as the device column shows it).")
@click.option("--model", default=None, help="Only the runs of this catalog model id.")
@click.option("--status", default=None, type=click.Choice(["ok", "noisy", "crashed", "timeout", "refused", "failed"]),
              help="Only the runs with this outcome.")
@click.option("--limit", default=None, type=positive_int(1_000_000),
              help=f"At most this many runs (default: all; the table shows the latest {TABLE_RUNS:,}).")
@format_option
def runs_list(device: str | None, model: str | None, status: str | None, limit: int | None, fmt: str) -> None:
    """List recorded runs."""
    from advisor.store import list_runs

    matching = list_runs(device_id=_stored_id(device, "device"), model_id=_stored_id(model, "model"), status=status)
    latest = fmt == "table" and limit is None and len(matching) > TABLE_RUNS
    found = matching[-TABLE_RUNS:] if latest else matching[:limit] if limit else matching
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/runs", "schema_version": 1, "runs": [_run_dict(r) for r in found]}))
        return
    if not found and fmt == "table":
        filters = " ".join(f"--{k} {v}" for k, v in (("device", device), ("model", model), ("status", status)) if v)
        if filters:
            _emit(f"No recorded runs match {filters}; see them all with 'advisor runs list'")
        else:
            _emit("No runs recorded yet; measure one with 'advisor validate' or import llama-bench output with 'advisor runs import'")
        return
    rows = [_run_row(r, missing=None if fmt == "csv" else "-") for r in found]
    if fmt == "table":
        for row in rows:
            row["created_at"] = when_text(row["created_at"])
    title = (plural(len(found), "run") if len(found) == len(matching) else
             f"the latest {len(found):,} of {len(matching):,} runs" if latest else f"{len(found)} of {len(matching)} runs")
    _emit(render_rows(rows, RUN_COLUMNS + [("error", "error")], fmt, title=title, wrap=("error",),
                      optional=("synthetic", "source", "predicted_prefill", "predicted_decode", "prefill", "status")))
    if latest:
        _emit(f"  … and {len(matching) - len(found):,} earlier runs (--limit {len(matching)} or --format csv lists them all)")
    elif fmt == "table" and len(found) < len(matching):
        _emit(f"  … and {len(matching) - len(found)} more runs (raise --limit to list them)")


@runs.command("show")
@click.argument("run_id", type=RUN_ID)
def runs_show(run_id: int) -> None:
    """Show one run in full (JSON)."""
    from dataclasses import asdict

    from advisor.store import get_run

    _emit(dumps_json(asdict(get_run(run_id))))


@runs.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv: a row per run, each figure and setting a column; json: with each run's device profile, as 'runs import' reads it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None, help="File to write (default, or '-': stdout).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def runs_export(fmt: str, output: str | None, force: bool) -> None:
    """Export every run (CSV or JSON) for spreadsheets and other tools; the JSON keeps each run's
    device profile, so 'advisor runs import' reads it into another machine's store (a backup, or
    one store for the runs of several machines)."""
    from advisor.store import list_runs

    if output == "-":  # the usual name of stdout (it wrote a file named '-')
        output = None
    if output is not None:  # before the work, as report checks its outputs
        from advisor.output import check_output_name

        check_output_name(output, example=f"runs.{fmt}")
    found = list_runs()
    if fmt == "json":
        text = dumps_json({"schema": "edge-model-advisor/runs", "schema_version": 1,
                           "runs": [_run_dict(r, profile=True) for r in found]})
    else:
        rows = []
        for r in found:
            row = _run_row(r, missing=None)
            row.update({f"measured_{k}": v for k, v in r.measured.items() if not isinstance(v, (dict, list))})
            row.update({f"predicted_{k}": v for k, v in r.predicted.items() if not isinstance(v, (dict, list))})
            row.update({f"setting_{k}": v for k, v in r.settings.items()})
            rows.append(row)
        keys: list[str] = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        text = render_rows(rows, [(k, k) for k in keys], "csv")
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from advisor.output import write_atomic

    path = write_atomic(output, text.encode("utf-8"), force=force)
    _say(f"wrote {plural(len(found), 'run')} to {path}")


@runs.command("exclude")
@click.argument("run_ids", nargs=-1, required=True, type=RUN_ID)
@click.option("--reason", default="excluded by its owner", show_default=True, help="Why (shown by calibrate and runs show).")
def runs_exclude(run_ids: tuple[int, ...], reason: str) -> None:
    """Leave runs out of calibration (a run you know is wrong: a busy machine, the wrong device or
    file). The runs are kept; 'advisor runs include' fits them again."""
    from advisor.store import set_excluded

    reason = " ".join("".join(ch if ch.isprintable() else " " for ch in reason).split())
    if not reason:
        raise BadInputError("--reason is empty; say why the runs are left out, or leave --reason off")
    ids = list(dict.fromkeys(run_ids))
    set_excluded(ids, reason[:500])
    _emit(f"{_these_runs(ids)} left out of calibration ({reason[:500]}); run 'advisor calibrate' to refit without them")


def _these_runs(ids: list[int]) -> str:
    """'run 5 is' / 'runs 5, 7 are'."""
    return f"run {ids[0]} is" if len(ids) == 1 else f"runs {', '.join(map(str, ids))} are"


@runs.command("include")
@click.argument("run_ids", nargs=-1, required=True, type=RUN_ID)
def runs_include(run_ids: tuple[int, ...]) -> None:
    """Fit runs left out with 'advisor runs exclude' again."""
    from advisor.store import set_excluded

    ids = list(dict.fromkeys(run_ids))
    set_excluded(ids, None)
    _emit(f"{_these_runs(ids)} fitted again when usable; run 'advisor calibrate' to refit")


@runs.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--device", "device_id", default=None, help="Device profile id the measurements were made on.")
@click.option("--device-file", default=None, type=click.Path(dir_okay=False), help="Or its profile file.")
@click.option("--model", "model_id", default=None, help="Catalog model id (default: guessed from the file name).")
@click.option("--quant", "quant_id", default=None, help="Quantization (default: from llama-bench's model type).")
def runs_import(file: str, device_id: str | None, device_file: str | None, model_id: str | None, quant_id: str | None) -> None:
    """Import llama.cpp's own benchmark output (`llama-bench -o json|jsonl|csv`) measured on
    another device (a phone, a board), with our prediction beside each figure; or the runs of
    'advisor runs export --format json' (this machine's backup, or another machine's runs)."""
    from advisor.validate.importer import ExportImported, import_runs_file

    done = import_runs_file(file, device_id=device_id, device_file=device_file, model_id=model_id, quant_id=quant_id)
    exported = isinstance(done, ExportImported)
    items = "runs" if exported else "rows"
    stored = id_ranges([run_id for _, run_id in done.copies])
    one = len(done.copies) == 1
    if not done.ids:
        _emit(f"nothing imported: every {items[:-1]} of {file} is stored already (run{'' if one else 's'} {stored})")
        return
    _emit(f"imported {len(done.ids)} {'run' if exported else 'measurement'}{'' if len(done.ids) == 1 else 's'} as "
          f"run{'' if len(done.ids) == 1 else 's'} {id_ranges(done.ids)}"
          + (f"; {len(done.copies)} {items[:-1] if one else items} {'was' if one else 'were'} stored already "
             f"(run{'' if one else 's'} {stored}) and {'is' if one else 'are'} not stored again" if done.copies else ""))
    if exported and done.moved:
        _emit("runs another machine recorded as 'local' are stored under "
              + ", ".join(f"'{new}' (fingerprint {fp})" for new, fp in done.moved.items())
              + ": 'advisor calibrate' fits them as that machine, not this one")
    if exported:
        _emit("run 'advisor calibrate' to fit them")


# --------------------------------------------------------------------------- calibrate


@click.command()
@click.option("--device", "device_id", default=None, help="Only this device (default: every device with runs, and each path).")
@click.option("--dry-run", is_flag=True, help="Fit and show before/after, but store nothing.")
@click.option("--reset", is_flag=True, help="Delete the stored calibrations (of --device, or all): back to the shipped factors.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="csv: the calibrations table alone (json: with the effects and the runs left out).")
def calibrate(device_id: str | None, dry_run: bool, reset: bool, fmt: str) -> None:
    """Fit the speed model's factors (bandwidth efficiency, per-layer cost, compute efficiency) from
    the recorded runs, per device and per execution path, and show each affected device's decode
    speed before → after. Noisy or impossible runs are left out; a device's fit applies to that
    device only; a path-wide default changes only from runs on 3 or more devices and only when it
    lowers the leave-one-device-out error; a fit worse than the shipped factors is not applied, and
    a metric (decode or prefill) the fit predicts worse held out keeps the shipped factors."""
    from advisor.calibrate_from_runs import MIN_DEVICES_FOR_PATH, run_calibration

    device_id = _stored_id(device_id, "device")  # 'RASPBERRY-PI-5-8GB' found no runs of raspberry-pi-5-8gb
    if reset:
        if dry_run:
            raise BadInputError("--reset and --dry-run together do nothing; pass one of them")
        from advisor.catalog import load_catalog
        from advisor.store import clear_calibrations, latest_calibrations

        own_path = None
        if device_id is not None:
            catalog = load_catalog()
            if catalog.has_device(device_id):  # a profile, or one in a power mode: its path, as factors_for reads it
                from advisor.engine.speed import execution_path

                own_path = execution_path(catalog.device(device_id))
            elif device_id not in latest_calibrations("device"):
                catalog.device(device_id)  # UnknownIdError with suggestions, exit 1
        n = clear_calibrations(device_id)
        what = f"device '{device_id}'" if device_id else "every device and path"
        # the path calibrations that now apply to it: its own path's (it named every applied path,
        # cpu-x86 for an iPhone), all of them for a device the catalog does not hold
        paths = sorted(k for k, (_, st) in latest_calibrations("path").items()
                       if st.get("applied", True) and own_path in (None, k)) if device_id else []
        if fmt in ("json", "csv"):  # the format asked for (json printed this sentence)
            doc = {"removed": n, "device": device_id, "follows_path_calibrations": paths}
            _emit(dumps_json(doc) if fmt == "json" else render_rows([{**doc, "follows_path_calibrations": " ".join(paths)}],
                                                                    [(k, k) for k in doc], "csv"))
            return
        tail = (f"; it now follows its path's calibration from runs ({', '.join(paths)}) where one applies — "
                "'advisor calibrate --reset' removes those too") if paths else "; predictions use the shipped factors (catalog/calibration.toml)"
        _emit(f"removed {plural(n, 'stored calibration')} of {what}{tail}")
        return
    report = run_calibration(device_id=device_id, dry_run=dry_run)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}%"

    def _num(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    rows = [{"scope": s.scope, "key": s.key, "runs": s.n_runs, "devices": s.n_devices, "applied": s.applied,
             "bw_efficiency": round(s.factors.bw_efficiency, 3),
             "fixed_us_per_layer": round(s.factors.fixed_s_per_layer * 1e6, 1),
             "prefill_efficiency": round(s.factors.prefill_efficiency, 3),
             "decode_mdape": f"{pct(s.decode_mdape_before)} → {pct(s.decode_mdape_after)}",
             "prefill_mdape": f"{pct(s.prefill_mdape_before)} → {pct(s.prefill_mdape_after)}",
             "heldout": f"{pct(s.heldout_mdape_before)} → {pct(s.heldout_mdape_after)} ({s.heldout_kind})" if s.heldout_kind else "-",
             "decision": s.decision, "basis": s.factors.basis,
             # the same errors as numbers (percent; None where not computed), for scripts
             "decode_mdape_before_pct": _num(s.decode_mdape_before), "decode_mdape_after_pct": _num(s.decode_mdape_after),
             "prefill_mdape_before_pct": _num(s.prefill_mdape_before), "prefill_mdape_after_pct": _num(s.prefill_mdape_after),
             "heldout_mdape_before_pct": _num(s.heldout_mdape_before), "heldout_mdape_after_pct": _num(s.heldout_mdape_after),
             "heldout_kind": s.heldout_kind or None} for s in report.groups]
    effects = [{"scope": s.scope, "key": s.key, "device": e.device_id, "combination": e.combination,
                "decode_before_tokens_per_s": round(e.decode_before, 2), "decode_after_tokens_per_s": round(e.decode_after, 2),
                "change": f"{(e.decode_after / e.decode_before - 1) * 100:+.0f}%",
                "change_pct": round((e.decode_after / e.decode_before - 1) * 100, 1),
                "decode_band_before": round(e.band_before, 3), "decode_band_after": round(e.band_after, 3),
                "band": f"±{e.band_before * 100:.0f}% → ±{e.band_after * 100:.0f}%"}
               for s in report.groups for e in s.effects]
    excluded = [{"run": rid, "device": dev, "reason": why} for rid, dev, why in report.excluded]
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/calibration", "schema_version": 1, "dry_run": report.dry_run,
                          "min_devices_for_path": MIN_DEVICES_FOR_PATH, "calibrations": rows, "effects": effects,
                          "excluded_runs": excluded}))
        return
    title = "Calibrations (dry run: nothing stored)" if report.dry_run else "Calibrations stored"
    _emit(render_rows(rows, [("scope", "scope"), ("key", "device / path"), ("runs", "runs"), ("devices", "devices"),
                             ("bw_efficiency", "bw eff"), ("fixed_us_per_layer", "µs/layer"), ("prefill_efficiency", "prefill eff"),
                             ("decode_mdape", "decode error shipped → fit"), ("prefill_mdape", "prefill error shipped → fit"),
                             ("heldout", "held-out error shipped → fit"), ("decision", "decision")], fmt, title=title,
                      heading=2))
    if fmt == "csv":  # one table per CSV stream: the calibrations (JSON carries the effects and the runs left out)
        return
    if effects:
        _emit("")
        _emit(render_rows(effects, [("scope", "scope"), ("key", "device / path"), ("device", "device"), ("combination", "model quant"),
                                    ("decode_before_tokens_per_s", "decode tok/s now"), ("decode_after_tokens_per_s", "after"),
                                    ("change", "change"), ("band", "decode band")], fmt,
                          title="Effect on predictions (context 4,096, prompt 512, output 256)", heading=2))
    if excluded:
        _emit("")
        _emit(render_rows(excluded, [("run", "run"), ("device", "device"), ("reason", "not fitted because")], fmt,
                          title=f"{len(excluded)} run{'' if len(excluded) == 1 else 's'} left out"))

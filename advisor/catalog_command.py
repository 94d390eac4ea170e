"""`advisor models`, `advisor quants`, `advisor devices`: the catalog as tables.

Registered lazily in ``advisor.cli`` (imported only when one of them runs).
"""

from __future__ import annotations

from typing import Any

import click

from advisor.errors import BadInputError
from advisor.options import SIZE, format_option, positive_number
from advisor.output import dumps_json, render_rows
from advisor.units import format_size
from advisor.wording import plural, price_text


def _emit(text: str) -> None:
    click.echo(text.rstrip("\n"))


def _listing(rows: list[dict], cols: list[tuple[str, str]], fmt: str, noun: str, total: int,
             filters: dict[str, object], **kw: object) -> str:
    """A listing; for people (table, md) an empty one is a sentence naming the filters that left
    nothing and how many the catalog has without them, not a bare header (CSV and JSON keep their
    header and empty list: a script reads those)."""
    if rows or fmt not in ("table", "md"):
        return render_rows(rows, cols, fmt, title=plural(len(rows), noun), **kw)  # type: ignore[arg-type]
    given = " ".join(f"{flag} {value}" for flag, value in filters.items() if value not in (None, "", ()))
    return f"No {noun} matches {given}: the catalog has {plural(total, noun)}; drop or widen a filter to see them."


@click.group(invoke_without_command=True)
@click.option("--family", default=None, help="Only this family.")
@click.option("--license", "licenses", multiple=True,
              help="Allowed license classes: permissive, restricted, noncommercial, commercial (= permissive+restricted), any.")
@click.option("--max-params", default=None, type=positive_number(1e7), help="Largest size in billions of parameters.")
@format_option
@click.pass_context
def models(ctx: click.Context, fmt: str, family: str | None, licenses: tuple[str, ...], max_params: float | None) -> None:
    """List the catalog's models with architecture, license and quality ('advisor models add PATH' adds one)."""
    if ctx.invoked_subcommand is not None:
        return
    from advisor.api import parse_licenses
    from advisor.catalog import load_catalog
    from advisor.engine.evaluate import quality_table

    catalog = load_catalog()
    allowed = parse_licenses(licenses)
    qt = quality_table(catalog)
    rows = []
    for m in sorted(catalog.models.values(), key=lambda m: (m.family, m.params)):
        if family and m.family != family.lower():
            continue
        if allowed and m.license_class not in allowed:
            continue
        if max_params and m.params > max_params * 1e9:
            continue
        rows.append(_model_row(m, qt.base[m.id]))
    families = sorted({m.family for m in catalog.models.values()})
    if family and family.lower() not in families:  # a family that has models, but not under the other filters, lists none
        raise BadInputError(f"unknown model family '{family}'; use one of {', '.join(families)}")
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/models", "schema_version": 1, "models": rows}))
        return
    cols = [("id", "id"), ("params_b", "params (B)"), ("layers", "layers"), ("heads", "heads q/kv"), ("context", "context"),
            ("license_class", "license"), ("quality", "quality"), ("mmlu_equivalent", "MMLU-eq")]
    if fmt == "csv":  # every field, the same header whether or not a model matched
        first = next(iter(catalog.models.values()))
        cols = [(k, k) for k in _model_row(first, qt.base[first.id])]
    _emit(_listing(rows, cols, fmt, "model", len(catalog.models),
                   {"--family": family, "--license": ",".join(licenses), "--max-params": max_params and f"{max_params:g}"},
                   optional=("mmlu_equivalent", "heads", "layers", "context")))


def _model_row(m: Any, b: Any) -> dict[str, Any]:
    """One model of the listing (``b``: its base quality from ``quality_table``)."""
    return {
        "id": m.id, "name": m.name, "family": m.family, "params_b": round(m.params / 1e9, 3),
        "layers": m.n_layers, "hidden": m.hidden_size, "heads": f"{m.n_heads}/{m.n_kv_heads}", "head_dim": m.head_dim,
        "vocab": m.vocab_size, "context": m.context_length, "license": m.license, "license_class": m.license_class,
        "quality": round(b.score, 1), "mmlu_equivalent": round(b.mmlu_equivalent, 1), "quality_basis": b.basis,
        "verified": m.verified, "source": m.source,
    }


@models.command("add")
@click.argument("path", type=click.Path(dir_okay=False))
def models_add(path: str) -> None:
    """Add a model from a GGUF file's header or a Hugging Face config.json to your own catalog
    ($ADVISOR_HOME/catalog/models.toml), with the file as its source."""
    from advisor.api import add_user_model

    spec, stored = add_user_model(path)
    _emit(f"added {spec.id} ({spec.name}, {spec.gguf_arch}, {spec.params / 1e9:.3f}B parameters) to {stored}")


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include the rarely used file types.")
@format_option
def quants(fmt: str, show_all: bool) -> None:
    """List quantization file types with block geometry and measured quality loss."""
    from advisor.catalog import load_catalog

    catalog = load_catalog()
    rows = []
    for f in catalog.file_types.values():
        if not (f.common or show_all):
            continue
        g = catalog.ggml_types[f.base_type]
        rows.append({
            "id": f.id, "base_type": f.base_type, "block": f"{g.type_size} B / {g.block_size} w", "bpw": round(g.bits_per_weight, 4),
            "ppl_delta": f.ppl_delta, "ppl_model": f.ppl_delta_model, "imatrix": f.imatrix, "common": f.common,
            "llama3_8b_gib": f.llama3_8b_size_gib, "description": f.description, "source": f.ppl_source,
        })
    rows.sort(key=lambda r: -r["bpw"])
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/quants", "schema_version": 1, "quants": rows}))
        return
    cols = [("id", "id"), ("base_type", "base"), ("block", "block"), ("bpw", "bits/weight"), ("ppl_delta", "Δppl (Llama-3-8B)"),
            ("imatrix", "imatrix"), ("llama3_8b_gib", "Llama-3-8B GiB")]
    if fmt == "csv":
        cols = [(k, k) for k in rows[0]] if rows else cols
    _emit(render_rows(rows, cols, fmt, title=plural(len(rows), "file type"), optional=("llama3_8b_gib", "block", "imatrix")))


@click.command()
@click.option("--runtime", "runtime_id", default=None, help="Only this runtime (e.g. mlc, mlx, executorch).")
@format_option
def runtimes(fmt: str, runtime_id: str | None) -> None:
    """List inference runtimes with their backends and weight formats (bits per weight derived)."""
    from advisor.catalog import load_catalog
    from advisor.listings import architecture_rows, runtime_dict, runtime_rows

    catalog = load_catalog()
    rows = runtime_rows(catalog, runtime_id)
    if fmt == "json":
        chosen = [catalog.runtime(runtime_id)] if runtime_id else list(catalog.runtimes.values())
        _emit(dumps_json({"schema": "edge-model-advisor/runtimes", "schema_version": 1, "runtimes": [runtime_dict(r) for r in chosen]}))
        return
    cols = [("runtime", "runtime"), ("format", "format"), ("backends", "backends"), ("bpw", "bits/weight"), ("linear", "linear layers"),
            ("embedding", "embedding"), ("output", "lm_head"), ("activations", "act."), ("kv_cache", "KV cache")]
    if fmt == "csv":
        cols = [(k, k) for k in ("runtime", "platforms", "format", "aliases", "backends", "bpw", "linear", "embedding", "output",
                                 "activations", "kv_cache", "default_context", "architectures", "verified", "source")]
        _emit(render_rows(rows, cols, fmt, title=plural(len(rows), "runtime format")))
        return
    _emit(render_rows(rows, cols, fmt, title=plural(len(rows), "runtime format")))
    click.echo()
    _emit(render_rows(architecture_rows(catalog, runtime_id),
                      [("runtime", "runtime"), ("loads", "catalog architectures"), ("lacks", "lacks (catalog models)"),
                       ("source", "source")], fmt, title="Model architectures each runtime loads", wrap=("lacks", "source")))


@click.command()
@click.option("--browsers", is_flag=True, help="List the browser platforms (WebGPU limits, WASM memory, tab limit) instead.")
@format_option
def targets(fmt: str, browsers: bool) -> None:
    """List deployment targets (server, desktop-app, ios-app, android-app, browser) and their limits."""
    from advisor.catalog import load_catalog
    from advisor.listings import browser_rows, target_dict, target_rows

    catalog = load_catalog()
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/targets", "schema_version": 1,
                          "targets": [target_dict(t) for t in catalog.targets.values()]}))
        return
    if browsers:
        rows = browser_rows(catalog)
        cols = [("id", "browser"), ("hosts", "on"), ("webgpu", "WebGPU"), ("max_buffer", "maxBufferSize"),
                ("max_binding", "maxStorageBufferBindingSize"), ("shader_f16", "shader-f16"), ("wasm32", "wasm32"),
                ("memory64", "Memory64"), ("tab_limit", "tab limit")]
        title = f"{len(rows)} browser platforms"
    else:
        rows = target_rows(catalog)
        cols = [("id", "target"), ("device_classes", "devices"), ("runtimes", "runtimes"), ("memory", "memory budget"),
                ("download_limits", "download limits")]
        title = f"{len(rows)} targets"
    if fmt == "csv":
        cols = [(k, k) for k in rows[0]]
    _emit(render_rows(rows, cols, fmt, title=title))


@click.command()
@click.option("--class", "device_class", default=None, help="phone, tablet, laptop, desktop, desktop-gpu, sbc, jetson, mini-pc.")
@click.option("--search", default=None, help="Text to find in the id, name, SoC or CPU architecture (riscv64, arm64, x86_64).")
@click.option("--min-ram", default=None, type=SIZE, help="Smallest RAM, e.g. 8GB.")
@click.option("--max-price", default=None, type=positive_number(1e7), help="Highest price in USD.")
@format_option
def devices(fmt: str, device_class: str | None, search: str | None, min_ram: int | None, max_price: float | None) -> None:
    """List device profiles."""
    from advisor.catalog import load_catalog
    from advisor.engine.speed import execution_path
    from advisor.api import check_device_class
    from advisor.serialize import device_dict

    catalog = load_catalog()
    device_class = check_device_class(device_class, catalog)
    ram_floor = min_ram or 0
    rows = []
    for d in sorted(catalog.devices.values(), key=lambda d: (d.device_class, d.memory.ram, d.id)):
        if device_class and d.device_class != device_class:
            continue
        if search and search.lower() not in " ".join((d.id, d.name, d.soc, d.cpu.arch)).lower():
            continue
        if d.memory.ram < ram_floor:
            continue
        if max_price and (d.price is None or d.price.usd > max_price):
            continue
        row = device_dict(d)
        row.update({
            "ram": format_size(d.memory.ram, precision=0), "usable": format_size(d.memory.usable, precision=1),
            "bandwidth": f"{(d.gpu.vram_bandwidth_gbs if d.gpu and d.gpu.discrete else d.memory.bandwidth_gbs):g} GB/s",
            "path": execution_path(d), "price": price_text(d.price),
            "vram": format_size(d.gpu.vram, precision=0) if d.gpu and d.gpu.discrete and d.gpu.vram else "",
            "modes": ", ".join(row["power_modes"]),
        })
        rows.append(row)
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/devices", "schema_version": 1, "devices": [device_dict(catalog.device(r["id"])) for r in rows]}))
        return
    cols = [("id", "id"), ("class", "class"), ("ram", "RAM"), ("vram", "VRAM"), ("usable", "usable"), ("bandwidth", "bandwidth"),
            ("path", "backend"), ("price", "price")]
    if any(r["modes"] for r in rows):
        cols.append(("modes", "power modes (--device ID@MODE)"))
    if fmt == "csv":
        cols = [(k, k) for k in device_dict(next(iter(catalog.devices.values())))]
    _emit(_listing(rows, cols, fmt, "device", len(catalog.devices),
                   {"--class": device_class, "--search": search and repr(search), "--min-ram": min_ram and format_size(min_ram, precision=0),
                    "--max-price": max_price and f"{max_price:g}"},
                   optional=("modes", "vram", "usable", "path", "bandwidth")))

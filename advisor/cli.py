"""The `advisor` command line: parse → one library call → format.

Exit codes (documented in the README):
  0  success
  1  bad input (unknown id, malformed size, bad file, bad option)
  3  nothing satisfies the constraints (recommend / devices-for found no candidate)
  4  a measurement run failed (crash, timeout, refused)
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from advisor import errors
from advisor.errors import AdvisorError, BadInputError
from advisor.output import FORMATS, dumps_json, render_rows
from advisor.units import format_seconds, format_size, parse_duration, parse_positive_float, parse_positive_int

MAX_CONTEXT = 1_048_576


# --------------------------------------------------------------------------- option helpers


def _callback(parser: Callable[..., Any], what: str) -> Callable[..., Any]:
    def cb(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        return parser(value, what=what)  # BadInputError names the option; main() prints it

    return cb


def _int_cb(what: str, maximum: int | None = None) -> Callable[..., Any]:
    return _callback(lambda v, what: parse_positive_int(v, what=what, maximum=maximum), what)


def _float_cb(what: str) -> Callable[..., Any]:
    return _callback(lambda v, what: parse_positive_float(v, what=what, maximum=1e7), what)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="Output format: human table, JSON (stable schema), CSV or Markdown.",
    )(f)


def workload_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--context", "context", default="4096", show_default=True, callback=_int_cb("--context", MAX_CONTEXT),
                     help="Context window to allocate (tokens)."),
        click.option("--prompt-tokens", default="512", show_default=True, callback=_int_cb("--prompt-tokens", MAX_CONTEXT),
                     help="Prompt length for time to first token."),
        click.option("--output-tokens", default="256", show_default=True, callback=_int_cb("--output-tokens", MAX_CONTEXT),
                     help="Response length."),
        click.option("--kv-cache", type=click.Choice(["f16", "q8_0", "q4_0"]), default="f16", show_default=True,
                     help="KV cache type."),
        click.option("--threads", default=None, callback=_int_cb("--threads", 1024),
                     help="CPU threads (default: the device's big cores)."),
        click.option("--flash-attn", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True,
                     help="llama.cpp flash attention; off adds the attention scores to the compute buffer. "
                          "auto = llama.cpp's default (on for CPU); llama-cpp-python's Llama() defaults to off."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def device_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--device", "device_id", default=None, help="Device profile id (see 'advisor devices'), or 'local'."),
        click.option("--device-file", type=click.Path(dir_okay=False), default=None, help="Your own device profile (TOML)."),
        click.option("--ram", default=None, help="Only the RAM size, e.g. 4GB, 4 GiB, 3.5g, 4096MB (JEDEC: GB = GiB)."),
        click.option("--usable", default=None, help="With --ram: memory one app may use (default 75%% of RAM)."),
        click.option("--class", "device_class", default=None, help="With --ram: device class whose typical speed to assume."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def import_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--gguf-header", type=click.Path(dir_okay=False), default=None,
                     help="A local GGUF file (or its first megabytes): read only its metadata and tensor table; exact weights."),
        click.option("--model-config", type=click.Path(dir_okay=False), default=None,
                     help="A Hugging Face config.json of a model not in the catalog."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _imported(kw: dict[str, Any], model_id: str | None, quant_id: str | None) -> tuple[str, str | None]:
    """Resolve --model / --gguf-header / --model-config to one model id (and a GGUF's own quant)."""
    header, config = kw.pop("gguf_header"), kw.pop("model_config")
    if header is None and config is None:
        if not model_id:
            raise BadInputError("name the model with --model ID, --gguf-header PATH or --model-config PATH")
        return model_id, quant_id
    if model_id:
        raise BadInputError("--model cannot be combined with --gguf-header or --model-config; give one of them")
    from advisor.api import import_model

    imported = import_model(header, config)
    if imported.quant_id and quant_id and quant_id.upper().replace("-", "_") != imported.quant_id:
        raise BadInputError(f"the GGUF file is {imported.quant_id}; drop --quant {quant_id} (its tensor types are fixed)")
    return imported.model_id, imported.quant_id or quant_id


def _workload(kw: dict[str, Any]):
    from advisor.records import Workload

    return Workload(
        context_tokens=kw.pop("context"),
        prompt_tokens=kw.pop("prompt_tokens"),
        output_tokens=kw.pop("output_tokens"),
        kv_cache_type=kw.pop("kv_cache"),
        threads=kw.pop("threads"),
        flash_attn=kw.pop("flash_attn"),
    )


def _device(kw: dict[str, Any]):
    from advisor.api import DeviceChoice, resolve_device

    return resolve_device(DeviceChoice(
        device_id=kw.pop("device_id"), device_file=kw.pop("device_file"), ram=kw.pop("ram"),
        usable=kw.pop("usable"), device_class=kw.pop("device_class"),
    ))


def _emit(text: str) -> None:
    click.echo(text.rstrip("\n"))


def _tps(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


# --------------------------------------------------------------------------- commands


class LazyGroup(click.Group):
    """Subcommands that live in other modules are imported only when called (fast start)."""

    lazy = {
        "report": "advisor.report.command:report",
        "profile": "advisor.validate.command:profile",
        "validate": "advisor.validate.command:validate",
        "runs": "advisor.validate.command:runs",
        "calibrate": "advisor.validate.command:calibrate",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="edge-model-advisor", prog_name="advisor")
def cli() -> None:
    """Which small language model, in which quantization, runs how well on which device.

    Predicts memory (weights, KV cache, buffers) and speed (prefill, decode, time to first token,
    energy) of llama.cpp models from model architecture and device bandwidth/compute, with the
    basis and a confidence band for every figure.
    """


@cli.command()
@device_options
@workload_options
@click.option("--min-tps", default=None, callback=_float_cb("--min-tps"), help="Minimum decode speed (tokens/s).")
@click.option("--target-tps", default=5.0, show_default=True, type=click.FloatRange(0, 1e6),
              help="Soft speed target: candidates at least this fast rank first (reading speed); 0 ranks by quality alone.")
@click.option("--max-ttft", default=None, callback=_callback(parse_duration, "--max-ttft"),
              help="Maximum time to first token, e.g. 2s or 500ms.")
@click.option("--license", "licenses", multiple=True,
              help="Allowed license classes: permissive, restricted, noncommercial, commercial (= permissive+restricted), any.")
@click.option("--family", "families", multiple=True, help="Only these model families (repeatable).")
@click.option("--model", "models", multiple=True, help="Only these model ids (repeatable).")
@import_options
@click.option("--quant", "quants", multiple=True, help="Only these quantizations (repeatable; default: the common ones).")
@click.option("--quality-floor", default=None, callback=_float_cb("--quality-floor"), help="Minimum quality score (0-100).")
@click.option("--top", default="10", callback=_int_cb("--top", 10_000), show_default=True, help="How many candidates to list.")
@format_option
def recommend(fmt: str, top: int, **kw: Any) -> None:
    """Rank the models (and quantization) that fit a device and meet the constraints.

    Exit code 3 when nothing satisfies the constraints.
    """
    from advisor.api import parse_licenses, run_recommend
    from advisor.engine.recommend import Constraints
    from advisor.serialize import recommendation_dict

    if kw["gguf_header"] or kw["model_config"]:
        imported_id, imported_quant = _imported(kw, None, None)
        kw["models"] = (*kw["models"], imported_id)
        if imported_quant:
            kw["quants"] = (imported_quant,)
    else:
        kw.pop("gguf_header"), kw.pop("model_config")
    workload = _workload(kw)
    device = _device(kw)
    constraints = Constraints(
        min_decode_tps=kw["min_tps"], max_ttft_s=kw["max_ttft"], license_classes=parse_licenses(kw["licenses"]),
        families=frozenset(f.lower() for f in kw["families"]) or None,
        model_ids=frozenset(m.lower() for m in kw["models"]) or None,
        quant_ids=frozenset(q.upper().replace("-", "_") for q in kw["quants"]) or None,
        quality_floor=kw["quality_floor"], target_decode_tps=kw["target_tps"],
    )
    rec = run_recommend(device, workload, constraints)
    from advisor.catalog import load_catalog

    data = recommendation_dict(rec, load_catalog(), top=top)
    if fmt == "json":
        _emit(dumps_json(data))
    else:
        rows = [_candidate_row(c, i) for i, c in enumerate(data["candidates"], 1)]
        if fmt == "table":
            _emit(f"{device.name}: {format_size(device.memory.usable)} usable of {format_size(device.memory.ram)} RAM "
                  f"({device.memory.usable_basis}); context {workload.context_tokens:,}, prompt {workload.prompt_tokens}, "
                  f"output {workload.output_tokens} tokens")
            _emit("")
            _emit(rec.explanation)
            for why, alt in rec.alternatives:
                sp = alt.speed
                _emit(f"  Alternative ({why}): {alt.model_id} {alt.quant_id} — {_tps(sp.decode_tokens_per_s if sp else None)} tok/s, "
                      f"{format_size(alt.memory.total_bytes)}, quality {alt.quality_score:.0f}")
            _emit("")
        if fmt == "md":
            _emit(f"**{device.name}** — {rec.explanation}\n")
        _emit(render_rows(rows, CANDIDATE_COLUMNS, fmt, title=f"Top {min(top, len(rec.ranked))} of {len(rec.ranked)} candidates"))
        if fmt == "table" and rec.rejected:
            shown = [r for r in rec.rejected if r.reason not in ("family", "license")][:8]
            if shown:
                _emit("Rejected (closest misses):")
                for r in shown:
                    _emit(f"  {r.model_id}{' ' + r.quant_id if r.quant_id else ''}: {r.detail}")
            hidden = len(rec.rejected) - len(shown)
            if hidden > 0:
                _emit(f"  … and {hidden} more (see --format json)")
    if not rec.ranked:
        raise click.exceptions.Exit(errors.EXIT_NO_CANDIDATE)


CANDIDATE_COLUMNS = [
    ("rank", "#"), ("model", "model"), ("quant", "quant"), ("fit", "fit"), ("memory", "memory"),
    ("headroom", "headroom"), ("decode", "decode tok/s"), ("prefill", "prefill tok/s"), ("ttft", "TTFT"),
    ("quality", "quality"), ("license", "license"),
]


def _candidate_row(c: dict[str, Any], rank: int | None = None) -> dict[str, Any]:
    sp = c.get("speed") or {}
    m = c["memory"]
    return {
        "rank": rank,
        "model": c["model"],
        "quant": c["quant"],
        "fit": c["fit"],
        "memory": format_size(m["total_bytes"]),
        "headroom": format_size(m["headroom_bytes"]),
        "decode": f"{_tps(sp.get('decode_tokens_per_s'))} ({_tps(sp.get('decode_low'))}–{_tps(sp.get('decode_high'))})" if sp else "-",
        "prefill": _tps(sp.get("prefill_tokens_per_s")) if sp else "-",
        "ttft": format_seconds(sp["ttft_s"]) if sp else "-",
        "quality": f"{c['quality_score']:.0f}",
        "license": c["license_class"],
    }


@cli.command()
@click.option("--model", "model_id", default=None, help="Model id (see 'advisor models').")
@import_options
@click.option("--quant", "quant_id", default=None, help="Quantization (see 'advisor quants'); default Q4_K_M, or the GGUF file's own.")
@device_options
@workload_options
@format_option
def predict(fmt: str, model_id: str | None, quant_id: str | None, **kw: Any) -> None:
    """Every estimate for one model × quantization on one device, with the breakdown."""
    from advisor.api import run_predict
    from advisor.catalog import load_catalog
    from advisor.engine.memory import per_tensor_bytes
    from advisor.serialize import device_dict, estimate_dict, workload_dict

    model_id, quant_id = _imported(kw, model_id, quant_id)
    quant_id = quant_id or "Q4_K_M"
    workload = _workload(kw)
    device = _device(kw)
    est = run_predict(model_id, quant_id, device, workload)
    catalog = load_catalog()
    data = estimate_dict(est, catalog)
    by_type: dict[str, list[int]] = {}
    for _, ty, nbytes in per_tensor_bytes(catalog.model(est.model_id), catalog.file_type(est.quant_id), catalog.ggml_types):
        acc = by_type.setdefault(ty, [0, 0])
        acc[0] += 1
        acc[1] += nbytes
    data["weights_by_type"] = [{"ggml_type": k, "tensors": v[0], "bytes": v[1]} for k, v in sorted(by_type.items(), key=lambda kv: -kv[1][1])]
    data["device"] = device_dict(device)
    data["workload"] = workload_dict(workload)
    from advisor.engine.empirical import resolve_flash_attn

    data["workload"]["flash_attn"] = workload.flash_attn
    data["workload"]["flash_attn_enabled"] = resolve_flash_attn(workload.flash_attn)
    data["schema"] = "edge-model-advisor/prediction"
    if fmt == "json":
        _emit(dumps_json(data))
        return
    rows = _prediction_rows(data)
    if fmt == "table":
        _emit(f"{data['model_name']} {est.quant_id} on {device.name}")
    _emit(render_rows(rows, [("item", "item"), ("value", "value"), ("basis", "basis")], fmt))


def _prediction_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    m = d["memory"]
    rows = [
        {"item": "fit", "value": d["fit"], "basis": f"usable {format_size(m['usable_bytes'])} ({d['device']['usable_basis']})"},
        {"item": "weights", "value": format_size(m["weights_bytes"]), "basis": "Σ per-tensor ggml sizes under the llama.cpp mix: "
         + ", ".join(f"{w['ggml_type']}×{w['tensors']}" for w in d["weights_by_type"])},
        {"item": "KV cache", "value": format_size(m["kv_cache_bytes"]), "basis": f"{d['workload']['context_tokens']:,} tokens, {d['workload']['kv_cache_type']}"},
        *([{"item": "recurrent state", "value": format_size(m["recurrent_state_bytes"]),
             "basis": "conv state of the recurrent layers, fixed per sequence"}] if m.get("recurrent_state_bytes") else []),
        {"item": "compute buffers", "value": format_size(m["compute_buffer_bytes"]),
         "basis": "fit to llama.cpp's reported buffers; flash attention "
                  + ("on" if d["workload"].get("flash_attn_enabled", True) else "off (attention scores in the buffer)")
                  + (" (auto)" if d["workload"].get("flash_attn") == "auto" else "")},
        {"item": "runtime overhead", "value": format_size(m["overhead_bytes"]), "basis": "fit to peak RSS of real runs"},
        {"item": "total", "value": format_size(m["total_bytes"]), "basis": f"headroom {format_size(m['headroom_bytes'])}"},
        {"item": "quality score", "value": f"{d['quality_score']:.1f}", "basis": d["quality_basis"]},
    ]
    sp = d.get("speed")
    if sp:
        rows += [
            {"item": "decode", "value": f"{_tps(sp['decode_tokens_per_s'])} tok/s ({_tps(sp['decode_low'])}–{_tps(sp['decode_high'])})",
             "basis": f"{sp['decode_bound']} bound; {sp['basis']}"},
            {"item": "prefill", "value": f"{_tps(sp['prefill_tokens_per_s'])} tok/s ({_tps(sp['prefill_low'])}–{_tps(sp['prefill_high'])})",
             "basis": f"{sp['prefill_bound']} bound"},
            {"item": "time to first token", "value": format_seconds(sp["ttft_s"]), "basis": f"{d['workload']['prompt_tokens']} prompt tokens, model loaded"},
            {"item": "full response", "value": format_seconds(sp["response_s"]), "basis": f"+ {d['workload']['output_tokens']} output tokens"},
            {"item": "energy", "value": "-" if sp["energy_j_per_response"] is None else f"{sp['energy_j_per_token']:.2f} J/token, {sp['energy_j_per_response']:.0f} J/response",
             "basis": "device power × time"},
            {"item": "backend", "value": f"{sp['backend']}, {sp['threads']} threads, {sp['gpu_layers']} GPU layers", "basis": ""},
        ]
    for note in d.get("notes", []):
        rows.append({"item": "note", "value": note, "basis": ""})
    return rows


@cli.group(invoke_without_command=True)
@click.option("--family", default=None, help="Only this family.")
@click.option("--license", "licenses", multiple=True, help="License classes (permissive, restricted, noncommercial, commercial).")
@click.option("--max-params", default=None, callback=_float_cb("--max-params"), help="Largest size in billions of parameters.")
@format_option
@click.pass_context
def models(ctx: click.Context, fmt: str, family: str | None, licenses: tuple[str, ...], max_params: float | None) -> None:
    """List the catalog's models with architecture, license and quality ('advisor models add PATH' adds one)."""
    if ctx.invoked_subcommand is not None:
        return
    from advisor.api import parse_licenses
    from advisor.catalog import load_catalog
    from advisor.engine.fit import quality_table

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
        b = qt.base[m.id]
        rows.append({
            "id": m.id, "name": m.name, "family": m.family, "params_b": round(m.params / 1e9, 3),
            "layers": m.n_layers, "hidden": m.hidden_size, "heads": f"{m.n_heads}/{m.n_kv_heads}", "head_dim": m.head_dim,
            "vocab": m.vocab_size, "context": m.context_length, "license": m.license, "license_class": m.license_class,
            "quality": round(b.score, 1), "mmlu_equivalent": round(b.mmlu_equivalent, 1), "quality_basis": b.basis,
            "verified": m.verified, "source": m.source,
        })
    if family and not rows:
        raise BadInputError(f"no models in family '{family}'; see 'advisor models'")
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/models", "schema_version": 1, "models": rows}))
        return
    cols = [("id", "id"), ("params_b", "params (B)"), ("layers", "layers"), ("heads", "heads q/kv"), ("context", "context"),
            ("license_class", "license"), ("quality", "quality"), ("mmlu_equivalent", "MMLU-eq")]
    if fmt == "csv":
        cols = [(k, k) for k in rows[0]] if rows else cols
    _emit(render_rows(rows, cols, fmt, title=f"{len(rows)} models"))


@models.command("add")
@click.argument("path", type=click.Path(dir_okay=False))
def models_add(path: str) -> None:
    """Add a model from a GGUF file's header or a Hugging Face config.json to your own catalog
    ($ADVISOR_HOME/catalog/models.toml), with the file as its source."""
    from advisor.api import add_user_model

    spec, stored = add_user_model(path)
    _emit(f"added {spec.id} ({spec.name}, {spec.gguf_arch}, {spec.params / 1e9:.3f}B parameters) to {stored}")


@cli.command()
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
    _emit(render_rows(rows, cols, fmt, title=f"{len(rows)} file types"))


@cli.command()
@click.option("--class", "device_class", default=None, help="phone, tablet, laptop, desktop, desktop-gpu, sbc, jetson, mini-pc.")
@click.option("--search", default=None, help="Text to find in the id or name.")
@click.option("--min-ram", default=None, help="Smallest RAM, e.g. 8GB.")
@click.option("--max-price", default=None, callback=_float_cb("--max-price"), help="Highest price in USD.")
@format_option
def devices(fmt: str, device_class: str | None, search: str | None, min_ram: str | None, max_price: float | None) -> None:
    """List device profiles."""
    from advisor.catalog import load_catalog
    from advisor.engine.speed import execution_path
    from advisor.serialize import device_dict
    from advisor.units import parse_size

    catalog = load_catalog()
    classes = sorted({d.device_class for d in catalog.devices.values()})
    if device_class and device_class not in classes:
        raise BadInputError(f"unknown device class '{device_class}'; use one of {', '.join(classes)}")
    ram_floor = parse_size(min_ram, what="--min-ram") if min_ram else 0
    rows = []
    for d in sorted(catalog.devices.values(), key=lambda d: (d.device_class, d.memory.ram, d.id)):
        if device_class and d.device_class != device_class:
            continue
        if search and search.lower() not in (d.id + " " + d.name).lower():
            continue
        if d.memory.ram < ram_floor:
            continue
        if max_price and (d.price is None or d.price.usd > max_price):
            continue
        row = device_dict(d)
        row.update({
            "ram": format_size(d.memory.ram, precision=0), "usable": format_size(d.memory.usable, precision=1),
            "bandwidth": f"{(d.gpu.vram_bandwidth_gbs if d.gpu and d.gpu.discrete else d.memory.bandwidth_gbs):g} GB/s",
            "path": execution_path(d), "price": f"${d.price.usd:,.0f}" if d.price else "-",
            "vram": format_size(d.gpu.vram, precision=0) if d.gpu and d.gpu.discrete and d.gpu.vram else "",
        })
        rows.append(row)
    if fmt == "json":
        _emit(dumps_json({"schema": "edge-model-advisor/devices", "schema_version": 1, "devices": [device_dict(catalog.device(r["id"])) for r in rows]}))
        return
    cols = [("id", "id"), ("class", "class"), ("ram", "RAM"), ("vram", "VRAM"), ("usable", "usable"), ("bandwidth", "bandwidth"),
            ("path", "backend"), ("price", "price")]
    if fmt == "csv":
        cols = [(k, k) for k in device_dict(next(iter(catalog.devices.values())))]
    _emit(render_rows(rows, cols, fmt, title=f"{len(rows)} devices"))


@cli.command("devices-for")
@click.option("--model", "model_id", default=None, help="Model id.")
@import_options
@click.option("--quant", "quant_id", default=None, help="Quantization (default: the best common one that meets the speed).")
@click.option("--min-tps", default=None, callback=_float_cb("--min-tps"), help="Required decode speed (tokens/s).")
@click.option("--max-ttft", default=None, callback=_callback(parse_duration, "--max-ttft"), help="Maximum time to first token.")
@click.option("--class", "device_class", default=None, help="Only devices of this class.")
@click.option("--rank-by", type=click.Choice(["price", "energy", "speed"]), default="price", show_default=True,
              help="Order of the devices that meet the requirement: unit price, energy per response, or decode speed.")
@click.option("--fleet", default="1", show_default=True, callback=_int_cb("--fleet", 10_000_000),
              help="Units to buy: adds the fleet price and fleet energy per 1,000 responses each.")
@click.option("--what-if", "what_if", is_flag=True, help="Also show which models become possible on the larger-RAM variant of each device.")
@workload_options
@click.option("--top", default="20", callback=_int_cb("--top", 10_000), show_default=True, help="How many devices to list.")
@format_option
def devices_for(fmt: str, model_id: str | None, quant_id: str | None, min_tps: float | None, max_ttft: float | None,
                device_class: str | None, rank_by: str, fleet: int, what_if: bool, top: int, **kw: Any) -> None:
    """Which devices run a model at the required speed: cheapest (or most frugal, or fastest)
    first, the cheapest in each class, and why the others cannot.

    Exit code 3 when no device meets the requirement.
    """
    from advisor.api import run_devices_for
    from advisor.catalog import load_catalog
    from advisor.engine.recommend import cheapest_per_class
    from advisor.serialize import device_option_dict, workload_dict

    model_id, quant_id = _imported(kw, model_id, quant_id)
    workload = _workload(kw)
    options = run_devices_for(model_id, workload, quant_id=quant_id, min_decode_tps=min_tps, max_ttft_s=max_ttft,
                              device_class=device_class, rank_by=rank_by)
    catalog = load_catalog()
    meeting = [o for o in options if o.meets]
    per_class = cheapest_per_class(options)
    variants: list[dict[str, Any]] = []
    if what_if:
        from advisor.engine.recommend import Constraints
        from advisor.analysis import what_if_more_ram

        shown = [o.device for o in options[:top]]
        variants = what_if_more_ram(shown, workload,
                                    Constraints(min_decode_tps=min_tps, max_ttft_s=max_ttft), catalog, requested=[model_id])
    if fmt == "json":
        devices = []
        for o in options:
            d = device_option_dict(o, catalog)
            d["fleet_price_usd"] = o.price_usd * fleet if o.price_usd is not None else None
            devices.append(d)
        _emit(dumps_json({
            "schema": "edge-model-advisor/devices-for", "schema_version": 1, "model": model_id, "quant": quant_id,
            "min_decode_tokens_per_s": min_tps, "max_ttft_s": max_ttft, "workload": workload_dict(workload),
            "rank_by": rank_by, "fleet": fleet, "devices": devices,
            "cheapest_per_class": {k: o.device.id for k, o in per_class.items()},
            "what_if": variants,
        }))
    else:
        rows = []
        for o in options[:top] if fmt == "table" else options:
            e = o.estimate
            sp = e.speed if e else None
            energy = o.energy_j_per_response
            rows.append({
                "device": o.device.id, "class": o.device.device_class,
                "price": f"${o.price_usd:,.0f}" if o.price_usd else "-",
                "fleet": f"${o.price_usd * fleet:,.0f}" if o.price_usd else "-",
                "meets": "yes" if o.meets else "no", "quant": e.quant_id if e else "-",
                "decode": _tps(sp.decode_tokens_per_s) if sp else "-",
                "ttft": format_seconds(sp.ttft_s) if sp else "-",
                "energy": f"{energy * 1000 / 3600:.1f} Wh" if energy is not None else "-",
                "memory": f"{format_size(e.memory.total_bytes)} / {format_size(e.usable_bytes)}" if e else "-",
                "reason": o.reason,
            })
        cols = [("device", "device"), ("class", "class"), ("price", "price"), ("meets", "meets"), ("quant", "quant"),
                ("decode", "decode tok/s"), ("ttft", "TTFT"), ("energy", "energy / 1,000 responses"),
                ("memory", "memory / usable"), ("reason", "why")]
        if fleet > 1:
            cols.insert(3, ("fleet", f"fleet of {fleet:,}"))
        title = f"{len(meeting)} of {len(options)} devices run {model_id}" + (f" at ≥{min_tps:g} tok/s" if min_tps else "") + f", by {rank_by}"
        _emit(render_rows(rows, cols, fmt, title=title))
        if fmt == "table" and per_class:
            _emit("Cheapest that meets it, per class: " + "; ".join(
                f"{cls}: {o.device.id} (${o.price_usd:,.0f})" for cls, o in per_class.items()))
        if fmt == "table" and what_if:
            useful = [v for v in variants if v["newly_possible"]]
            for v in useful:
                names = [f"{n['model']} {n['quant']}" for n in v["newly_possible"]]
                more = f" and {len(names) - 6} more" if len(names) > 6 else ""
                extra = f" (+${v['extra_unit_price_usd']:,.0f})" if v.get("extra_unit_price_usd") is not None else ""
                _emit(f"What if {v['device']} → {v['variant']}{extra}: also {', '.join(names[:6])}{more}")
            idle = sorted({f"{v['device']} → {v['variant']}" for v in variants if not v["newly_possible"]})
            if idle:
                _emit(f"No more models at this speed with: {'; '.join(idle)}")
            if not variants:
                _emit("What if: none of the listed devices has a larger-RAM variant among the profiles")
    if not meeting:
        raise click.exceptions.Exit(errors.EXIT_NO_CANDIDATE)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; AdvisorError → 'Error: …' on stderr and its exit code, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="advisor", standalone_mode=False)
        # in non-standalone mode click returns the code of click.exceptions.Exit
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.UsageError as exc:
        hint = f"\nTry '{exc.ctx.command_path} --help' for help." if exc.ctx else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        return errors.EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except AdvisorError as exc:
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 0


def run() -> None:
    sys.exit(main())

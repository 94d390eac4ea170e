"""The `advisor` command line: parse → one library call → format.

Exit codes (documented in the README):
  0  success (also: the output pipe was closed by the reader, as in `advisor models | head -1`)
  1  bad input (unknown id, malformed size, bad file, bad option, output that cannot be written)
  3  nothing satisfies the constraints (recommend / devices-for found no candidate)
  4  a measurement run failed (crash, timeout, refused)
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from advisor import errors
from advisor.errors import AdvisorError, BadInputError, NothingFitsError
from advisor.options import DURATION, device_from, device_options, format_option, imported, import_options, number_in, positive_int, positive_number
from advisor.options import RankByChoice, deployment_from, moe_offload_option, runtime_options, workload_from, workload_options
from advisor.output import dumps_json, prose, render_rows, settle, terminal_width
from advisor.units import format_seconds, format_size
from advisor.wording import band, limit_id_text, load_rows, one_line, peers_text, plural, price_text, printable, speed_evidence, tps, usd_text

if TYPE_CHECKING:
    from advisor.records import LoadEstimate


def _emit(text: str) -> None:
    click.echo(text.rstrip("\n"))


# --------------------------------------------------------------------------- commands


class LazyGroup(click.Group):
    """Subcommands that live in other modules are imported only when called (fast start)."""

    lazy = {
        "models": "advisor.catalog_command:models",
        "quants": "advisor.catalog_command:quants",
        "devices": "advisor.catalog_command:devices",
        "runtimes": "advisor.catalog_command:runtimes",
        "targets": "advisor.catalog_command:targets",
        "tiers": "advisor.tiers_command:tiers",
        "report": "advisor.report.command:report",
        "profile": "advisor.validate.command:profile",
        "validate": "advisor.validate.command:validate",
        "runs": "advisor.validate.command:runs",
        "calibrate": "advisor.validate.command:calibrate",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None and not isinstance(cmd, click.Group):
            refuse_repeated_options(cmd, ctx, rest)
        return name, cmd, rest

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


def refuse_repeated_options(cmd: click.Command, ctx: click.Context, args: list[str]) -> None:
    """An option that takes one value given twice is an error, not 'the last one wins' silently
    (``predict --model A --model B`` predicted B alone). Flags and repeatable options are not
    counted; a command line the parser refuses is left to the real parse to word."""
    probe = click.Context(cmd, info_name=cmd.name, parent=ctx, resilient_parsing=True)
    try:
        _, _, order = cmd.make_parser(probe).parse_args(args=list(args))
    except click.exceptions.UsageError:
        return
    seen: dict[str, int] = {}
    for p in order:
        if isinstance(p, click.Option) and not (p.multiple or p.count or p.is_flag):
            seen[p.name] = seen.get(p.name, 0) + 1
            if seen[p.name] == 2:
                opt = max(p.opts, key=len)
                raise click.UsageError(f"{opt} is given more than once; {cmd.name} takes one {opt}", ctx=probe)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="edge-model-advisor", prog_name="advisor")
def cli() -> None:
    """Which small language model, in which quantization, runs how well on which device.

    Predicts memory (weights, KV cache, buffers), load time and speed (prefill, decode, time to
    first token, energy) of a model in a runtime (llama.cpp, MLX, MLC/WebLLM, ExecuTorch,
    LiteRT-LM, ONNX Runtime GenAI, MNN, wllama) on a device, for a deployment target (server,
    desktop app, iOS or Android app, browser tab), from the model's architecture and the device's
    bandwidth and compute, with the basis and an 80 % band for every figure.
    """


@cli.command()
@device_options
@workload_options
@click.option("--min-tps", default=None, type=positive_number(1e7), help="Minimum decode speed (tokens/s).")
@click.option("--target-tps", default=5.0, show_default=True, type=number_in(0, 1e6),
              help="Soft speed target: candidates at least this fast rank first (reading speed); 0 ranks by quality alone.")
@click.option("--max-ttft", default=None, type=DURATION,
              help="Maximum time to first token, e.g. 2s or 500ms.")
@click.option("--license", "licenses", multiple=True,
              help="Allowed license classes: permissive, restricted, noncommercial, commercial (= permissive+restricted), any.")
@click.option("--family", "families", multiple=True, help="Only these model families (repeatable).")
@click.option("--model", "models", multiple=True, help="Only these model ids (repeatable).")
@import_options
@click.option("--quant", "quants", multiple=True, help="Only these quantizations (repeatable; default: the common ones).")
@click.option("--quality-floor", default=None, type=number_in(0, 100), help="Minimum quality score (0-100).")
@click.option("--top", default=10, type=positive_int(10_000), show_default=True, help="How many candidates to list.")
@runtime_options
@format_option
def recommend(fmt: str, top: int, **kw: Any) -> None:
    """Rank the models (and quantization) that fit a device and meet the constraints.

    Exit code 3 when nothing satisfies the constraints.
    """
    from advisor.api import parse_licenses, run_recommend
    from advisor.engine.recommend import Constraints
    from advisor.serialize import recommendation_dict

    if kw["gguf_header"] or kw["model_config"]:
        imported_id, imported_quant = imported(kw, None, None)
        kw["models"] = (*kw["models"], imported_id)
        if imported_quant:
            kw["quants"] = (imported_quant,)
    else:
        kw.pop("gguf_header"), kw.pop("model_config")
    from advisor.api import runtime_choice

    workload = workload_from(kw)
    usable_given = bool(kw.get("usable"))
    device = device_from(kw)
    deployment = deployment_from(kw, device)
    constraints = Constraints(
        min_decode_tps=kw["min_tps"], max_ttft_s=kw["max_ttft"], license_classes=parse_licenses(kw["licenses"]),
        families=frozenset(f.lower() for f in kw["families"]) or None,
        model_ids=frozenset(m.lower() for m in kw["models"]) or None,
        quant_ids=frozenset(q.strip() for q in kw["quants"]) or None,
        quality_floor=kw["quality_floor"], target_decode_tps=kw["target_tps"],
        runtimes=runtime_choice(kw["runtimes"]), backend=kw["backend"], deployment=deployment,
        max_download_bytes=kw["max_download"],
    )
    from advisor.api import check_runnable

    check_runnable(device, constraints)
    rec = run_recommend(device, workload, constraints)
    where = {"json": "in its 'rejected' list", "csv": "listed by --format json or table"}.get(fmt, "listed above")
    none_fit = settle(None if rec.ranked else NothingFitsError(
        f"no model fits {device.name} with these constraints; the closest misses are {where}"))
    if deployment is not None:
        device = deployment.device
    runtime_column = any(e.runtime != "llama.cpp" for e in rec.ranked)
    from advisor.catalog import load_catalog
    from advisor.wording import alternative_text, deployment_line, reason_text, rejected_file_text, runtime_words

    data = recommendation_dict(rec, load_catalog(), top=top)
    peers = (_peers(device, rec.pick.model_id, rec.pick.quant_id, rec.pick.runtime, kw["backend"], workload, deployment)
             if rec.pick else None)
    if peers:
        data["pick_decode_on_ram_peers"] = peers[1]
    if fmt == "json":
        _emit(dumps_json(data))
    else:
        rows = [_candidate_row(c, i) for i, c in enumerate(data["candidates"], 1)]
        if fmt == "table":  # at a terminal the sentences wrap at its width, as the table fits it
            _emit(_paragraph(f"{device.name}: {format_size(device.memory.usable)} usable of {format_size(device.memory.ram)} RAM "
                             f"({device.memory.usable_basis}); context {workload.context_tokens:,}, prompt {workload.prompt_tokens}, "
                             f"output {workload.output_tokens} tokens"))
            if deployment is not None:
                _emit(_paragraph(deployment_line(deployment)))
            elif device.stands_for:  # a RAM-only device: where its usable memory comes from
                _emit(_paragraph(f"Usable memory: {device.memory.usable_note}" + ("." if usable_given else "; --usable sets yours.")))
            _emit("")
            _emit(_paragraph(data["explanation"]))
            if peers:
                _emit(_paragraph(peers[0]))
            for alt in rec.alternatives:
                e = alt.estimate
                _emit(_indented(f"Alternative ({alternative_text(alt)}): {e.model_id} {e.quant_id}{runtime_words(e)} — "
                                f"{tps(e.speed.decode_tokens_per_s if e.speed else None)} tok/s, "
                                f"{format_size(e.memory.total_bytes)}, quality {e.quality_score:.0f}"))
            _emit("")
        if fmt == "md":
            _emit(f"**{device.name}** — {data['explanation']}" + (f" {peers[0]}" if peers else "") + "\n")
        if rows or fmt != "table":
            columns = CANDIDATE_COLUMNS if not runtime_column else CANDIDATE_COLUMNS[:2] + [("runtime", "runtime")] + CANDIDATE_COLUMNS[2:]
            _emit(render_rows(rows, columns, fmt, title=f"Top {min(top, len(rec.ranked))} of {len(rec.ranked)} candidates",
                              optional=CANDIDATE_OPTIONAL, heading=3))
        if fmt == "table" and len(rec.ranked) > top:
            _emit(f"  … and {len(rec.ranked) - top} more candidates (--top {len(rec.ranked)} lists them all)")
        if fmt in ("table", "md") and rec.rejected:  # csv is one table: its misses are in json's 'rejected'
            shown = [r for r in rec.rejected if not r.why.is_filter][:8]
            if shown:
                _emit("Rejected (closest misses):" if fmt == "table" else "\n### Rejected (closest misses)\n")
                for r in shown:
                    line = f"{rejected_file_text(r)}: {reason_text(r.why)}"
                    _emit(_indented(line) if fmt == "table" else f"- {line}")
            hidden = len(rec.rejected) - len(shown)
            if hidden > 0:
                _emit(f"{'  ' if fmt == 'table' else '- '}… and {hidden} more (see --format json)")
    if none_fit:
        raise none_fit


def _paragraph(text: str) -> str:
    """A sentence or paragraph wrapped at the terminal's width (``COLUMNS``, else the terminal's),
    a word never split; piped, one line, whole for grep (the tables take 200 columns there)."""
    return prose(text) if terminal_width() else text


def _indented(text: str, indent: str = "  ", hanging: str = "    ") -> str:
    """A list item: ``indent`` first; at a terminal, wrapped at its width with the continuation
    lines indented by ``hanging``, a word (an id, a figure) never split."""
    return prose(text, indent=indent, hanging=hanging) if terminal_width() else f"{indent}{text}"


def _peers(device: Any, model_id: str, quant_id: str, runtime_id: str | None, backend_id: str | None,
           workload: Any, deployment: Any) -> tuple[str, list[dict[str, Any]]] | None:
    """For a RAM-only device: one sentence naming the catalog devices it stands for and the range
    of decode speeds across them (the slowest's figure, the one used, first), and the rows.
    ``backend_id``: the user's --backend (None: each device's own default)."""
    if not device.stands_for:
        return None
    from advisor.api import peer_speeds

    speeds = peer_speeds(device, model_id, quant_id, runtime_id=runtime_id, backend_id=backend_id, workload=workload,
                         deployment=deployment)
    if not speeds:
        return None
    rows = [{"device": d.id, "name": d.name, "decode_tokens_per_s": v, "used": i == 0} for i, (d, v) in enumerate(speeds)]
    return peers_text(speeds, model_id, quant_id), rows


CANDIDATE_COLUMNS = [
    ("rank", "#"), ("model", "model"), ("quant", "quant"), ("fit", "fit"), ("memory", "memory"),
    ("headroom", "headroom"), ("decode", "decode tok/s"), ("prefill", "prefill tok/s"), ("ttft", "TTFT"),
    ("quality", "quality"), ("license", "license"),
]
#: left out, in this order, when the terminal is too narrow (the JSON and CSV keep every column)
CANDIDATE_OPTIONAL = ("prefill", "headroom", "fit", "license", "ttft")


def _candidate_row(c: dict[str, Any], rank: int | None = None) -> dict[str, Any]:
    sp = c.get("speed") or {}
    m = c["memory"]
    return {
        "rank": rank,
        "model": c["model"],
        "runtime": c["runtime"] if c.get("runtime") == "llama.cpp" else f"{c.get('runtime')}/{c.get('backend')}",
        "quant": c["quant"],
        "fit": c["fit"],
        "memory": format_size(m["total_bytes"]),
        "headroom": format_size(m["headroom_bytes"]),
        "decode": band(sp.get("decode_tokens_per_s"), sp.get("decode_low"), sp.get("decode_high")) if sp else "-",
        "prefill": tps(sp.get("prefill_tokens_per_s")) if sp else "-",
        "ttft": format_seconds(sp["ttft_s"]) if sp else "-",
        "quality": f"{c['quality_score']:.0f}",
        "license": c["license_class"],
    }


@cli.command()
@click.option("--model", "model_id", default=None, help="Model id (see 'advisor models').")
@import_options
@click.option("--quant", "quant_id", default=None,
              help="Quantization or the runtime's own format (default: Q4_K_M, a GGUF file's own, or a runtime's first format; "
                   "see 'advisor quants', 'advisor runtimes').")
@device_options
@workload_options
@moe_offload_option
@runtime_options
@format_option
def predict(fmt: str, model_id: str | None, quant_id: str | None, **kw: Any) -> None:
    """Every estimate for one model × quantization (× runtime, × deployment target) on one device, with the breakdown."""
    from advisor.api import default_choice, resolve_n_cpu_moe, run_predict
    from advisor.catalog import load_catalog
    from advisor.engine import targets as tg
    from advisor.engine.runtimes import variant_of
    from advisor.serialize import device_dict, estimate_dict, reason_dict, workload_dict
    from advisor.wording import deployment_line, reason_text, runtime_words

    model_id, quant_id = imported(kw, model_id, quant_id)
    workload = workload_from(kw)
    device = device_from(kw)
    deployment = deployment_from(kw, device)
    catalog = load_catalog()
    # repeated, or a comma list, as on recommend (runtime_choice): one name, given once or twice
    runtimes = list(dict.fromkeys(n.strip().lower() for r in kw["runtimes"] for n in r.split(",") if n.strip()))
    if len(runtimes) > 1 or "all" in runtimes:
        raise BadInputError("predict takes one --runtime; to compare runtimes use 'advisor recommend --runtime all'")
    runtime_id, default_quant = default_choice(catalog.model(model_id), catalog, runtimes[0] if runtimes else None, deployment)
    quant_id = quant_id or default_quant
    workload = resolve_n_cpu_moe(workload, kw.pop("n_cpu_moe"), catalog.model(model_id),
                                 deployment.device if deployment is not None else device, runtime_id=runtime_id,
                                 backend_id=kw["backend"])
    est = run_predict(model_id, quant_id, device, workload, catalog, runtime_id=runtime_id, backend_id=kw["backend"],
                      deployment=deployment)
    if deployment is not None:
        device = deployment.device
    model = catalog.model(est.model_id)
    variant = variant_of(est, catalog)
    data = estimate_dict(est, catalog)
    if variant is None or variant.is_gguf:
        from advisor.engine.memory import per_tensor_bytes

        by_type: dict[str, list[int]] = {}
        for _, ty, nbytes in per_tensor_bytes(model, catalog.file_type(est.quant_id), catalog.ggml_types):
            acc = by_type.setdefault(ty, [0, 0])
            acc[0] += 1
            acc[1] += nbytes
        data["weights_by_type"] = [{"ggml_type": k, "tensors": v[0], "bytes": v[1]} for k, v in sorted(by_type.items(), key=lambda kv: -kv[1][1])]
        if model.sliding_window and model.swa_global_every:
            from advisor.engine.memory import kv_cache_bytes, swa_cells

            # the windowed cache is llama.cpp's default; llama-cpp-python's Llama() allocates it whole
            data["kv_sliding_window"] = {
                "window": model.sliding_window, "cells": swa_cells(model, workload.context_tokens, workload.n_ubatch),
                "swa_full_bytes": kv_cache_bytes(model, workload.context_tokens, workload.kv_cache_type, workload.n_ubatch, swa_full=True)}
    else:
        from advisor.engine.runtime_weights import per_tensor_bytes as runtime_tensor_bytes

        by_role: dict[str, list[int]] = {}
        for _, role, nbytes in runtime_tensor_bytes(catalog.derived.inventory(model), variant.format, tied=model.tied_embeddings):
            acc = by_role.setdefault(role, [0, 0])
            acc[0] += 1
            acc[1] += nbytes
        from advisor.engine.runtimes import rotary_cache_bytes

        rotary = rotary_cache_bytes(model, variant.format)
        if rotary:
            by_role["rotary tables"] = [2, rotary]
        data["weights_by_role"] = [{"role": k, "tensors": v[0], "bytes": v[1]} for k, v in sorted(by_role.items(), key=lambda kv: -kv[1][1])]
    data["download_bytes"] = tg.download_bytes(est, variant, catalog)
    if deployment is not None:  # the target's store limits the download exceeds (as advisor tiers says them)
        exceeded = tg.store_limits_exceeded(deployment.target, data["download_bytes"], est.runtime)
        data["store_limits_exceeded"] = [{"id": lim.id, "what": lim.what, "max_bytes": lim.max_bytes, "kind": lim.kind,
                                          "text": limit_id_text(lim)} for lim in exceeded]
    # what each memory term rests on for this runtime: llama.cpp's GGUF path (wllama included) is
    # fitted to llama.cpp's own reports; MLC's buffers to WebLLM's figures; the others borrow that rule
    runtime = variant.runtime if variant is not None else catalog.runtimes.get("llama.cpp")
    gguf = variant is None or variant.is_gguf
    data["memory_basis"] = {
        "compute_buffers": "llama.cpp" if gguf else "webllm" if runtime.id == "mlc" else "webllm-rule-borrowed",
        "overhead": f"{runtime.overhead.basis}: {runtime.overhead.source}" if runtime is not None else "",
    }
    if variant is not None and not variant.is_llama_cpp:
        from advisor.engine.runtimes import kv_dtype, kv_dtype_bytes

        kv = variant.runtime.kv
        dtype = kv_dtype(variant.runtime, variant.format, variant.backend)
        data["kv_cache_policy"] = (f"{dtype} ({kv_dtype_bytes(variant.runtime, variant.format, variant.backend)} B per value), "
                                   f"{kv.allocation}"
                                   + ("" if kv.windowed else ", every layer holds the whole context"))
    fmt_record = variant.format if variant is not None else catalog.file_type(est.quant_id)
    if deployment is not None:
        breaches = tg.limit_breaches(est, model, fmt_record, variant, deployment, catalog)
        data["target"] = {"id": deployment.target.id, "budget_bytes": deployment.device.memory.usable, "budget_rule": deployment.budget.rule,
                          "budget_source": deployment.budget.source, "browser": deployment.browser.id if deployment.browser else None,
                          "limit_breaches": [{"what": b.what, "bytes": b.bytes, "limit": b.limit, "limit_bytes": b.limit_bytes,
                                              "where": b.where} for b in breaches]}
    # the verdict recommend, devices-for and tiers give: a limit no RAM lifts, or the download cap,
    # rules it out though its memory fits ("fit" stays the memory verdict, as in their estimates)
    blocks = tg.blocking_reasons(est, model, fmt_record, variant, deployment, catalog, kw.get("max_download"),
                                 workload.context_tokens)
    data["runs_here"] = est.fit != "no" and not blocks
    data["blocked_by"] = [reason_dict(r) for r in blocks]
    for r in blocks:
        data.setdefault("notes", []).append(reason_text(r) + ": it cannot run there")
    data["device"] = device_dict(device)
    data["workload"] = workload_dict(workload)
    from advisor.engine.empirical import resolve_flash_attn

    data["workload"]["flash_attn"] = workload.flash_attn
    data["workload"]["flash_attn_enabled"] = resolve_flash_attn(workload.flash_attn)
    data["workload"]["n_cpu_moe"] = "auto" if workload.n_cpu_moe is None else workload.n_cpu_moe
    data["schema"] = "edge-model-advisor/prediction"
    data["schema_version"] = 1
    peers = _peers(device, est.model_id, est.quant_id, est.runtime, kw["backend"], workload, deployment)
    if peers:
        data["decode_on_ram_peers"] = peers[1]
        data.setdefault("notes", []).append(peers[0])
    if fmt == "json":
        _emit(dumps_json(data))
        return
    rows = _prediction_rows(data, est.load)
    heading = f"{data['model_name']} {est.quant_id}{runtime_words(est)} on {device.name}"
    if fmt == "table":
        _emit(heading)
        if deployment is not None:
            _emit(_paragraph(deployment_line(deployment)))
    if fmt == "md":  # what the table is of, as recommend's Markdown says its device first
        _emit(f"**{heading}**" + (f"\n\n{deployment_line(deployment)}" if deployment is not None else ""))
        _emit("")  # a blank line before the table, which Markdown needs
    _emit(render_rows(rows, [("item", "item"), ("value", "value"), ("basis", "basis")], fmt, wrap=("value", "basis")))


def _prediction_rows(d: dict[str, Any], load: LoadEstimate | None = None) -> list[dict[str, Any]]:
    m = d["memory"]
    rows = [
        {"item": "fit", "value": d["fit"] if d["runs_here"] or d["fit"] == "no" else f"{d['fit']} in memory; cannot run there (see the notes)",
         "basis": f"usable {format_size(m['usable_bytes'])} ({d['device']['usable_basis']})" + (
            f"; in memory only: the context is beyond the model's native {d['context_length']:,} tokens, which recommend "
            "and devices-for reject" if d["workload"]["context_tokens"] > d["context_length"] else "")},
        {"item": "weights", "value": format_size(m["weights_bytes"]), "basis": (
            "Σ per-tensor ggml sizes under the llama.cpp mix: " + ", ".join(f"{w['ggml_type']}×{w['tensors']}" for w in d["weights_by_type"])
            if "weights_by_type" in d else
            f"Σ per-tensor sizes in {d['runtime']}'s {d['format']}: "
            + ", ".join(f"{w['role']} ×{w['tensors']} {format_size(w['bytes'])}" for w in d["weights_by_role"]))},
        {"item": "KV cache", "value": format_size(m["kv_cache_bytes"]),
         "basis": f"{d['workload']['context_tokens']:,} tokens, " + (d["workload"]["kv_cache_type"] if "kv_cache_policy" not in d
                                                                     else d["kv_cache_policy"]) + (
             f"; the sliding-window layers hold {d['kv_sliding_window']['cells']:,} cells (window "
             f"{d['kv_sliding_window']['window']:,} + one micro-batch), llama.cpp's default; with --swa-full, or in "
             f"llama-cpp-python's Llama() unless swa_full=False, they hold the whole context: "
             f"{format_size(d['kv_sliding_window']['swa_full_bytes'])}" if d.get("kv_sliding_window") else "")},
        *([{"item": "recurrent state", "value": format_size(m["recurrent_state_bytes"]),
             "basis": "conv/SSM state of the recurrent layers, fixed per sequence"}] if m.get("recurrent_state_bytes") else []),
        {"item": "compute buffers", "value": format_size(m["compute_buffer_bytes"]),
         "basis": ("fit to llama.cpp's reported buffers; flash attention "
                   + ("on" if d["workload"].get("flash_attn_enabled", True) else "off (attention scores in the buffer)")
                   + (" (auto)" if d["workload"].get("flash_attn") == "auto" else ""))
         if d["memory_basis"]["compute_buffers"] == "llama.cpp" else
         "prefill-chunk buffers fitted to WebLLM's own memory figures" if d["memory_basis"]["compute_buffers"] == "webllm" else
         f"prefill-chunk buffers by the rule fitted to WebLLM's figures (not measured for {d['runtime']}: estimated)"},
        {"item": "runtime overhead", "value": format_size(m["overhead_bytes"]), "basis": d["memory_basis"]["overhead"]},
        *([{"item": "packed copy", "value": format_size(m["load_copy_bytes"]),
            "basis": f"{d['runtime']} packs the weights at load into its kernels' layout and holds this beside them "
                     "(per quantization block, and a tied matrix the lookup keeps); measured on its own twins"}]
          if m.get("load_copy_bytes") else []),
        {"item": "total", "value": format_size(m["total_bytes"]), "basis": f"headroom {format_size(m['headroom_bytes'])}" + (
            f"; the peak is the load's: {format_size(m['load_transient_bytes'])} more while the largest matrix is packed, "
            "before the KV cache and buffers exist"
            if m.get("load_peak_bytes") else "")},
        *([{"item": "repacked copy", "value": format_size(m["repacked_bytes"]),
            "basis": "llama.cpp copies these matrices at load into its CPU kernels' layout (CPU_REPACK; --no-repack keeps them "
                     "as stored); the file's pages of the same matrices stay mapped, read once and reclaimable, so the total "
                     f"counts them once and the resident set (RSS) can read up to {format_size(m['total_bytes'] + m['repacked_bytes'])}"}]
          if m.get("repacked_bytes") else []),
        {"item": "download", "value": format_size(d["download_bytes"]), "basis": "model file + the runtime's library where published"
         + (f"; exceeds the target's {'; '.join(x['text'] for x in d['store_limits_exceeded'])}" if d.get("store_limits_exceeded") else "")},
        {"item": "quality score", "value": f"{d['quality_score']:.1f}", "basis": d["quality_basis"]},
    ]
    sp = d.get("speed")
    if sp:
        rows += [
            {"item": "decode", "value": f"{band(sp['decode_tokens_per_s'], sp['decode_low'], sp['decode_high'])} tok/s",
             "basis": f"{sp['decode_bound']} bound; {sp['basis']}"},
            *([{"item": "decode, sustained", "value": f"{tps(sp['sustained_decode_tokens_per_s'])} tok/s", "basis": sp["sustained_basis"]}]
              if sp.get("sustained_decode_tokens_per_s") is not None else []),
            {"item": "prefill", "value": f"{band(sp['prefill_tokens_per_s'], sp['prefill_low'], sp['prefill_high'])} tok/s",
             "basis": f"{sp['prefill_bound']} bound" + (f"; {sp['prefill_basis']}" if sp.get("prefill_basis") else "") + (
                 f"; the weights repacked at load for the CPU's kernels: ×{sp['prefill_repack_speedup']:.3g} (measured; "
                 "--no-repack turns it off)" if sp.get("prefill_repack_speedup", 1.0) > 1.0 else "") + (
                 "; efficiency: the path's prior, no published prefill row fitted (what the prior rests on: the decode line)"
                 if speed_evidence(sp["basis"], "prefill") == "prior" else "")},
            {"item": "time to first token", "value": format_seconds(sp["ttft_s"]), "basis": f"{d['workload']['prompt_tokens']} prompt tokens, model loaded"},
            {"item": "full response", "value": format_seconds(sp["response_s"]), "basis": f"+ {d['workload']['output_tokens']} output tokens"},
            *({"item": item, "value": value, "basis": basis} for item, value, basis in (load_rows(load) if load else ())),
            {"item": "energy", "value": "-" if sp["energy_j_per_response"] is None else f"{sp['energy_j_per_token']:.2f} J/token, {sp['energy_j_per_response']:.0f} J/response",
             "basis": "device power × time; power " + (sp.get("energy_basis") or "-")},
            {"item": "backend", "value": _backend_words(d, sp), "basis": ""},
        ]
    for note in d.get("notes", []):
        rows.append({"item": "note", "value": note, "basis": ""})
    return rows


def _backend_words(d: dict, sp: dict) -> str:
    """llama.cpp: its execution path, threads and offloaded layers (-ngl); another runtime: its
    backend (the speed path is "runtime:backend"), with CPU threads only where it runs on the CPU."""
    runtime = d.get("runtime", "llama.cpp")
    if runtime == "llama.cpp":
        return f"llama.cpp {sp['backend']}, {sp['threads']} threads, {sp['gpu_layers']} GPU layers"
    backend = sp["backend"].split(":", 1)[-1]
    return f"{runtime} on {backend}" + ("" if sp["gpu_layers"] else f", {sp['threads']} CPU threads")


@cli.command("devices-for")
@click.option("--model", "model_id", default=None, help="Model id.")
@import_options
@click.option("--quant", "quant_id", default=None, help="Quantization (default: the best common one that meets the speed).")
@click.option("--min-tps", default=None, type=positive_number(1e7), help="Required decode speed (tokens/s).")
@click.option("--max-ttft", default=None, type=DURATION, help="Maximum time to first token, e.g. 2s or 500ms.")
@click.option("--class", "device_class", default=None, help="Only devices of this class.")
@click.option("--rank-by", type=RankByChoice(), default="cost", show_default=True,
              help="Order of the devices that meet the requirement: unit or fleet price, energy per response, or decode speed.")
@click.option("--fleet", default=1, show_default=True, type=positive_int(10_000_000),
              help="Units to buy: adds the fleet price and fleet energy per 1,000 responses each.")
@click.option("--what-if", "what_if", is_flag=True, help="Also show which models become possible on the larger-RAM variant of each device.")
@workload_options
@runtime_options
@click.option("--top", default=20, type=positive_int(10_000), show_default=True, help="How many devices to list.")
@format_option
def devices_for(fmt: str, model_id: str | None, quant_id: str | None, min_tps: float | None, max_ttft: float | None,
                device_class: str | None, rank_by: str, fleet: int, what_if: bool, top: int, **kw: Any) -> None:
    """Which devices run a model at the required speed: cheapest (or most frugal, or fastest)
    first, the cheapest in each class, and why the others cannot.

    Exit code 3 when no device meets the requirement.
    """
    from advisor.api import run_devices_for
    from advisor.catalog import load_catalog
    from advisor.engine.fleet import fleet_quote
    from advisor.engine.recommend import cheapest_per_class
    from advisor.serialize import device_option_dict, rounded, workload_dict
    from advisor.wording import option_reason

    from advisor.api import runtime_choice

    model_id, quant_id = imported(kw, model_id, quant_id)
    workload = workload_from(kw)
    runtimes = runtime_choice(kw["runtimes"])
    options = run_devices_for(model_id, workload, quant_id=quant_id, min_decode_tps=min_tps, max_ttft_s=max_ttft,
                              device_class=device_class, rank_by=rank_by, runtimes=runtimes,
                              target_id=kw["target_id"], entitlement=kw["entitlement"] is not None,
                              browser_id=kw["browser_id"], max_download_bytes=kw["max_download"], backend_id=kw["backend"])
    catalog = load_catalog()
    meeting = [o for o in options if o.meets]
    none_meet = settle(None if meeting else NothingFitsError(
        f"no device runs {model_id} with these requirements; the reasons are listed above"))
    per_class = cheapest_per_class(options)
    quotes = [fleet_quote(o.device, o.estimate, fleet) for o in options]
    variants: list[dict[str, Any]] = []
    if what_if:
        from advisor.analysis import what_if_more_ram
        from advisor.api import make_deployment
        from advisor.engine.recommend import Constraints

        def deploy(d: Any) -> Any:  # the same target, browser and entitlement as the table above
            return make_deployment(d, kw["target_id"], entitlement=kw["entitlement"] is not None,
                                   browser_id=kw["browser_id"], catalog=catalog)

        shown = [catalog.devices.get(o.device.id, o.device) for o in options[:top]]  # the profiles, not the target's view
        variants = what_if_more_ram(shown, workload,
                                    Constraints(min_decode_tps=min_tps, max_ttft_s=max_ttft, runtimes=runtimes,
                                                backend=kw["backend"], max_download_bytes=kw["max_download"]),
                                    catalog, requested=[model_id], deploy=deploy)
    if fmt == "json":
        devices = []
        for o, q in zip(options, quotes):
            d = device_option_dict(o, catalog)
            d["fleet_price_usd"] = rounded("fleet_price_usd", q.fleet_price_usd)
            d["price_covers"] = o.device.price.covers if o.device.price else None
            d["energy_wh_per_1000_responses"] = rounded("energy_wh_per_1000_responses", q.energy_wh_per_1000_responses)
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
        shown_pairs = list(zip(options, quotes))
        for o, q in shown_pairs[:top] if fmt == "table" else shown_pairs:
            e = o.estimate
            sp = e.speed if e else None
            rows.append({
                "device": o.device.id, "class": o.device.device_class,
                "price": price_text(o.device.price),
                "fleet": price_text(o.device.price, q.fleet_price_usd),
                "meets": "yes" if o.meets else "no",
                "quant": (e.quant_id + ("" if e.runtime == "llama.cpp" else f" ({e.runtime}/{e.backend})")) if e else "-",
                "decode": tps(sp.decode_tokens_per_s) if sp else "-",
                "ttft": format_seconds(sp.ttft_s) if sp else "-",
                "energy": f"{q.energy_wh_per_1000_responses:.1f} Wh" if q.energy_wh_per_1000_responses is not None else "-",
                "memory": f"{format_size(e.memory.total_bytes)} / {format_size(e.usable_bytes)}" if e else "-",
                "reason": option_reason(o),
            })
        cols = [("device", "device"), ("class", "class"), ("price", "price"), ("meets", "meets"), ("quant", "quant"),
                ("decode", "decode tok/s"), ("ttft", "TTFT"), ("energy", "energy / 1,000 responses"),
                ("memory", "memory / usable"), ("reason", "why")]
        if fleet > 1:
            cols.insert(3, ("fleet", f"fleet of {fleet:,}"))
        title = (f"{len(meeting)} of {plural(len(options), 'device')} run {model_id}"
                 + (f" at ≥{min_tps:g} tok/s" if min_tps else "") + f", by {rank_by}")
        _emit(render_rows(rows, cols, fmt, title=title, wrap=("reason",),
                          optional=("class", "energy", "memory", "ttft", "fleet", "quant")))
        if fmt == "table" and len(options) > top:
            _emit(f"  … and {len(options) - top} more devices (--top {len(options)} lists them all)")
        if fmt == "table" and per_class:
            import textwrap

            from advisor.output import table_width

            _emit(textwrap.fill("Cheapest that meets it, per class: " + "; ".join(
                f"{cls}: {o.device.id} ({price_text(o.device.price)})" for cls, o in per_class.items()),
                width=table_width(), subsequent_indent="  ", break_long_words=False, break_on_hyphens=False))
        if fmt == "table" and what_if:
            _emit_what_if(variants)
    if none_meet:
        raise none_meet


def _emit_what_if(variants: list[dict[str, Any]]) -> None:
    from advisor.wording import runtime_suffix, variant_gain_text

    for v in (v for v in variants if v["newly_possible"]):
        names = [f"{n['model']} {n['quant']}{runtime_suffix(n['runtime'])}" for n in v["newly_possible"]]
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        extra = f" (+{usd_text(v['extra_unit_price_usd'])})" if v.get("extra_unit_price_usd") is not None else ""
        fit = sum(n["fits_device"] for n in v["newly_possible"])
        faster = (f"; {'all' if fit == len(names) else fit} of them fit {v['device']}'s memory too: "
                  f"fast enough with {variant_gain_text(v)}" if fit else "")
        _emit(_indented(f"What if {v['device']} → {v['variant']}{extra}: also {', '.join(names[:6])}{more}{faster}", "", "  "))
    idle = sorted({f"{v['device']} → {v['variant']}" for v in variants if not v["newly_possible"]})
    if idle:
        _emit(_indented(f"No more models at this speed with: {'; '.join(idle)}", "", "  "))
    if not variants:
        _emit("What if: none of the listed devices has a larger-RAM variant among the profiles")


# --------------------------------------------------------------------------- entry point


#: errno values that mean the output itself cannot be written (stdout or -o on a full disk).
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; AdvisorError → 'Error: …' on stderr and its exit code, never a traceback.

    Output that cannot be written ends like other Unix tools: a closed pipe (``| head -1``) quietly
    with 0, or with the error the answer ends with (nothing fits: 3; ``output.settle``), a full
    disk with one ``Error:`` line and 1."""
    _writable_streams()
    settle(None)
    try:
        rv = cli.main(args=argv, prog_name="advisor", standalone_mode=False)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at interpreter exit
        # in non-standalone mode click returns the code of click.exceptions.Exit
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.UsageError as exc:
        _discard_cache_stores()
        # the hint on the same line: one Error: line, as every error (it was a second line)
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"Error: {one_line(printable(exc.format_message()))}{hint}", err=True)
        return errors.EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except AdvisorError as exc:
        from advisor.wording import error_text

        if exc.exit_code != errors.EXIT_NO_CANDIDATE:
            _discard_cache_stores()
        click.echo(f"Error: {one_line(printable(error_text(exc), line_breaks=isinstance(exc, errors.RunError)))}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        return _cut_short()
    except SystemExit:
        if isinstance(sys.stdout, click.utils.PacifyFlushWrapper):  # click's own closed-pipe exit
            return _cut_short()
        raise
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # a path option or ADVISOR_HOME past the file system's limit
            _discard_cache_stores()
            name = str(exc.filename or "a path")
            shown = name if len(name) <= 80 else f"{name[:40]}…{name[-30:]} ({len(name):,} characters)"
            click.echo(f"Error: {shown}: the name is too long for the file system; give a shorter path", err=True)
            return errors.EXIT_BAD_INPUT
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _discard_stdout()
        click.echo(f"Error: cannot write the output ({exc.strerror}); free some space or write somewhere else", err=True)
        return errors.EXIT_BAD_INPUT


def _cut_short() -> int:
    """A closed pipe: stdout goes quiet; the error the answer had settled on (nothing fits) is
    still said on stderr, with its exit code, as when the reader took every line."""
    from advisor.output import settled
    from advisor.wording import error_text

    _discard_stdout()
    error = settled()
    if error is None:
        return 0
    click.echo(f"Error: {one_line(printable(error_text(error)))}", err=True)
    return error.exit_code


def _writable_streams() -> None:
    """Streams every answer can be written to: a closed stdout or stderr (``advisor models >&-``,
    which Python gives as None) is /dev/null, as a closed pipe is; an encoding that lacks a
    character the answer uses (cp1252 or latin-1 when redirected on Windows: Σ, ≈) writes it
    escaped (\\u03a3) instead of ending in a traceback."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 — lives as long as the process
            continue
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding not in ("utf8", "utf8sig") and getattr(stream, "errors", "strict") == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's capture): as it is
                pass


def _discard_cache_stores() -> None:
    """A failed command writes nothing, not even the catalog cache."""
    from advisor.catalog_cache import discard_pending

    discard_pending()


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of what is still buffered
    cannot fail again ("Exception ignored … BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run() -> None:
    import signal

    def terminated(signum: int, frame: Any) -> None:
        # SIGTERM (kill, a CI timeout) unwinds as Ctrl-C does: the finally blocks remove the
        # temporary files (profile's 256 MiB storage test file was left behind), then exit 143
        raise SystemExit(128 + signum)

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, terminated)
    sys.exit(main())

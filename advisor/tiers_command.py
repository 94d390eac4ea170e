"""`advisor tiers`: what to ship per RAM tier under a deployment target (``engine.tiers``).

Registered lazily in ``advisor.cli.LazyGroup``. Exit codes: 1 bad input (unknown target, a
selection of devices none of which can host the target, …), 3 no tier has a pick.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from advisor.errors import BadInputError, NothingFitsError
from advisor.options import DOWNLOAD_SIZE, DURATION, MAX_DOWNLOAD_HELP, format_option, number_in, positive_number, workload_from, workload_options
from advisor.output import dumps_json, prose, render_rows, settle
from advisor.units import format_size
from advisor.wording import NO_TIER_PICK, band, limit_id_text, limit_text, not_hosting_text, plural, reason_text


def _emit(text: str) -> None:
    click.echo(text.rstrip("\n"))


COLUMNS = [
    ("tier", "RAM tier"), ("devices", "devices"), ("model", "model"), ("runtime", "runtime/backend"), ("format", "format"),
    ("decode", "slowest decode tok/s"), ("slowest", "slowest device"), ("memory", "memory / budget (tightest)"),
    ("tightest", "tightest device"), ("download", "download"), ("exceeds", "store limits exceeded"), ("left_out", "left out"),
]
#: left out of a narrow terminal's table, in this order (JSON and CSV keep every column)
OPTIONAL = ("tightest", "slowest", "format", "exceeds")


def _runtime_text(pick: Any) -> str:
    backends = sorted({e.backend for e in pick.estimates if e.backend})
    return f"{pick.runtime}/{','.join(backends)}" if backends else str(pick.runtime)


def _tightest(pick: Any) -> Any:
    return min(pick.estimates, key=lambda e: e.headroom_bytes) if pick.estimates else None


def tier_dict(pick: Any) -> dict[str, Any]:
    """One tier as JSON: its devices, the pick (or null), the slowest and tightest device, the
    download and the store limits it exceeds, and each device left out with the reason (figures
    rounded as every other command's JSON rounds them)."""
    from advisor.serialize import rounded

    slowest, tightest = pick.slowest, _tightest(pick)
    sp = slowest.speed if slowest is not None else None
    return {
        "tier_gib": pick.tier_gib,
        "devices": [d.id for d in pick.devices],
        "pick": None if pick.model_id is None else {
            "model": pick.model_id, "runtime": pick.runtime, "format": pick.format_id,
            "backends": sorted({e.backend for e in pick.estimates if e.backend}),
        },
        "slowest": None if sp is None else {
            "device": slowest.device_id, "decode_tokens_per_s": rounded("decode_tokens_per_s", sp.decode_tokens_per_s),
            "decode_low": rounded("decode_low", sp.decode_band.low), "decode_high": rounded("decode_high", sp.decode_band.high),
            "ttft_s": rounded("ttft_s", sp.ttft_s),
        },
        "tightest": None if tightest is None else {
            "device": tightest.device_id, "total_bytes": tightest.memory.total_bytes, "usable_bytes": tightest.usable_bytes,
            "headroom_bytes": tightest.headroom_bytes,
        },
        "per_device": [{
            "device": e.device_id, "backend": e.backend, "fit": e.fit, "total_bytes": e.memory.total_bytes,
            "usable_bytes": e.usable_bytes, "decode_tokens_per_s": rounded("decode_tokens_per_s", e.speed.decode_tokens_per_s)
            if e.speed else None,
        } for e in pick.estimates],
        "download_bytes": pick.download_bytes,
        "store_limits_exceeded": [limit_text(lim) for lim in pick.store_limits_exceeded],
        "store_limit_ids": [lim.id for lim in pick.store_limits_exceeded],  # the same limits, in the same order (the table's ids)
        "left_out": [{"device": lo.device.id, "reason": reason_text(lo.why), "kind": lo.why.kind} for lo in pick.left_out],
    }


def _left_out_text(lo: Any, target: Any) -> str:
    if not target.hosts(lo.device):
        return f"{lo.device.id}: not an {target.id} host ({'/'.join(lo.device.platforms)})"
    return f"{lo.device.id}: {reason_text(lo.why)}"


def tier_row(pick: Any, target: Any) -> dict[str, Any]:
    """One tier as formatted cells (the table, CSV and Markdown); store limits by id, a device
    the target cannot host in a few words (the JSON keeps the engine's full reasons)."""
    slowest, tightest = pick.slowest, _tightest(pick)
    sp = slowest.speed if slowest is not None else None
    has = pick.model_id is not None
    return {
        "tier": f"{pick.tier_gib} GB",
        "devices": ", ".join(d.id for d in pick.devices) or "-",
        "model": pick.model_id if has else NO_TIER_PICK,
        "runtime": _runtime_text(pick) if has else "-",
        "format": pick.format_id if has else "-",
        "decode": band(sp.decode_tokens_per_s, sp.decode_band.low, sp.decode_band.high) if sp else "-",
        "slowest": slowest.device_id if slowest is not None else "-",
        "memory": f"{format_size(tightest.memory.total_bytes)} / {format_size(tightest.usable_bytes)}" if tightest else "-",
        "tightest": tightest.device_id if tightest is not None else "-",
        "download": format_size(pick.download_bytes) if pick.download_bytes is not None else "-",
        "exceeds": ("; ".join(limit_id_text(lim) for lim in pick.store_limits_exceeded) or "none") if has else "-",
        "left_out": "; ".join(_left_out_text(lo, target) for lo in pick.left_out) or "-",
    }


def _split_ids(values: Sequence[str]) -> tuple[str, ...]:
    """The ids of repeated or comma-separated options, each once, in order (a device named twice
    was counted twice in its tier)."""
    return tuple(dict.fromkeys(p.strip() for v in values for p in v.split(",") if p.strip()))


@click.command("tiers")
@click.option("--target", "target_id", required=True, metavar="TARGET",
              help="Where the model ships: server, desktop-app, ios-app, android-app, browser (see 'advisor targets').")
@click.option("--class", "device_class", default=None, metavar="CLASS", help="Every device profile of this class (phone, tablet, sbc, …).")
@click.option("--devices", "device_ids", multiple=True, metavar="ID,ID,…", help="These device ids (comma-separated or repeated).")
@click.option("--min-tps", default=None, type=positive_number(1e7), help="Minimum decode speed on every device of a tier (tokens/s).")
@click.option("--target-tps", default=5.0, show_default=True, type=number_in(0, 1e6),
              help="Soft speed target: picks at least this fast on the slowest device rank first; 0 ranks by quality alone.")
@click.option("--max-ttft", default=None, type=DURATION, help="Maximum time to first token, e.g. 2s or 500ms.")
@click.option("--license", "licenses", multiple=True,
              help="Allowed license classes: permissive, restricted, noncommercial, commercial (= permissive+restricted), any.")
@click.option("--max-download", default=None, type=DOWNLOAD_SIZE, metavar="SIZE",
              help=MAX_DOWNLOAD_HELP)
@click.option("--runtime", "runtimes", multiple=True, metavar="NAME",
              help="Runtime to consider (repeatable), or 'all'. Default: every runtime of the target with published measurements.")
@click.option("--entitlement", type=click.Choice(["increased-memory"]), default=None,
              help="iOS app holding com.apple.developer.kernel.increased-memory-limit (ios-app only).")
@click.option("--browser", "browser_id", default=None, metavar="ID",
              help="Browser for --target browser: chrome-desktop, chrome-android, safari-ios, safari-macos, firefox "
                   "(default: each device's first that offers WebGPU).")
@workload_options
@format_option
def tiers(fmt: str, target_id: str, device_class: str | None, device_ids: tuple[str, ...], **kw: Any) -> None:
    """What to ship per RAM tier: group the devices into RAM tiers and pick, for each, the one
    runtime × model × format that fits every device of the tier under the target's budget and
    meets the constraints — with the slowest device's speed, the tightest device's memory, the
    download and the store limits it exceeds, and the devices left out and why.

    Exit code 3 when no tier has a pick.
    """
    from advisor.api import not_hosting, parse_licenses, run_tiers, runtime_choice
    from advisor.engine.recommend import Constraints
    from advisor.serialize import workload_dict

    workload = workload_from(kw)
    constraints = Constraints(
        min_decode_tps=kw["min_tps"], max_ttft_s=kw["max_ttft"], license_classes=parse_licenses(kw["licenses"]),
        target_decode_tps=kw["target_tps"], runtimes=runtime_choice(kw["runtimes"]), max_download_bytes=kw["max_download"],
    )
    entitlement = kw["entitlement"] is not None
    if device_ids and not _split_ids(device_ids):  # given, but only commas or spaces: not "missing"
        raise BadInputError("--devices is empty; give device ids, e.g. --devices pixel-8,pixel-9 (see 'advisor devices')")
    picks = run_tiers(target_id, workload, device_class=device_class, device_ids=_split_ids(device_ids),
                      constraints=constraints, entitlement=entitlement, browser_id=kw["browser_id"])
    picked = [p for p in picks if p.model_id is not None]
    none_picked = settle(None if picked else NothingFitsError(
        f"no RAM tier has a model that fits all its devices under {target_id} with these constraints; "
        "the reasons are listed above"))
    others = not_hosting(target_id, device_class) if device_class else []
    if fmt == "json":
        _emit(dumps_json({
            "schema": "edge-model-advisor/tiers", "schema_version": 1, "target": target_id, "entitlement": entitlement,
            "browser": kw["browser_id"], "device_class": device_class, "devices": list(_split_ids(device_ids)) or None,
            "min_decode_tokens_per_s": kw["min_tps"], "max_ttft_s": kw["max_ttft"], "max_download_bytes": kw["max_download"],
            "runtimes": sorted(constraints.runtimes) if constraints.runtimes else None, "workload": workload_dict(workload),
            "tiers": [tier_dict(p) for p in picks],
            "not_hosting": [{"device": d.id, "platforms": list(d.platforms)} for d in others],
        }))
    else:
        n = sum(len(p.devices) + len(p.left_out) for p in picks)
        title = (f"What to ship per RAM tier, {target_id}{' with the increased-memory entitlement' if entitlement else ''}: "
                 f"{len(picked)} of {plural(len(picks), 'tier')} of {plural(n, 'device')} {'has' if len(picked) == 1 else 'have'} a pick")
        if fmt in ("table", "md"):
            notes = [f"Context {workload.context_tokens:,}, prompt {workload.prompt_tokens}, output {workload.output_tokens} "
                     "tokens; a pick runs on every device of its tier, ranked on the slowest; memory is the tightest "
                     "device's total against the target's budget there."]
            if others:
                notes.append(not_hosting_text(others, f"of class {device_class}", target_id))
            _emit("\n\n".join(notes) + "\n" if fmt == "md" else "\n".join(prose(n) for n in notes))
        from advisor.catalog import load_catalog

        target = load_catalog().target(target_id)
        _emit(render_rows([tier_row(p, target) for p in picks], COLUMNS, fmt, title=title, wrap=("devices", "exceeds", "left_out"),
                          optional=OPTIONAL, heading=1))
    if none_picked:
        raise none_picked


__all__ = ["tier_dict", "tier_row", "tiers"]

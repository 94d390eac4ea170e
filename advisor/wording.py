"""Words for the engine's structured results, in the idiom of the CLI and the reports.

The engine returns reasons as data (``records.Reason``: a kind and its figures) and a
``Recommendation`` with the facts behind its pick; this module turns them into sentences. The
dashboard words the few reasons that name an input in its own way (its widgets, not CLI flags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from advisor.units import format_decimal_size, format_rate, format_seconds, format_size

if TYPE_CHECKING:
    from advisor.engine.evaluate import Tables
    from advisor.engine.recommend import Alternative, Constraints, DeviceOption, Recommendation, RuntimeChoice
    from advisor.records import LoadEstimate, Price, Reason

#: A first token later than this is worth saying so. 10 s is the limit for keeping a user's
#: attention on a dialogue (J. Nielsen, "Response Times: The 3 Important Limits", 1993, after
#: R. B. Miller 1968); a stated maximum (--max-ttft) replaces this comfort level.
TTFT_COMFORT_S = 10.0

LICENSE_CLASS_WORDS = {
    "permissive": "permissive",
    "restricted": "restricted: check its use terms",
    "noncommercial": "non-commercial",
}


def tps(v: float | None) -> str:
    """A decode/prefill speed in tokens/s, or "-" when there is none."""
    return "-" if v is None else format_rate(v)


def band(v: float | None, low: float | None, high: float | None) -> str:
    """``8.7 (4.6–16.2)``: a speed with its ~80% band."""
    return "-" if v is None else f"{tps(v)} ({tps(low)}–{tps(high)})"


#: A RAM tier whose devices no one model serves: none fits them all, or none meets the speed, first-token
#: or download limit on every one ("nothing fits every device" named memory whatever bound).
NO_TIER_PICK = "no model meets the requirements on every device"


def when_text(created_at: str | None, missing: str = "-") -> str:
    """A run's recording time on one line of a table: '2026-11-29T16:34:12+00:00' → '2026-11-29
    16:34' (UTC); ``missing`` without one."""
    return created_at.replace("T", " ")[:16] if created_at else missing


def plural(n: int, word: str) -> str:
    """``1 device``, ``3 devices``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def peers_text(speeds: Sequence[tuple[Any, float]], model_id: str, quant_id: str) -> str:
    """For a RAM-only device: the sentence naming the catalog devices it stands for and the decode
    speeds across them, the slowest's (the one used) first (``api.peer_speeds``' pairs)."""
    first, rest = speeds[0], speeds[1:]
    # the slowest for this file (evaluate.finish): not always the device whose memory and GPU the
    # RAM-only device takes (the slowest over llama.cpp's reference files)
    ram = format_size(first[0].memory.ram, precision=0)
    which = (f"the only catalog device with {ram} RAM that runs this file" if len(speeds) == 1 else
             f"the slowest for this file of {len(speeds)} catalog devices with {ram} RAM")
    text = f"Speed figures are those of {first[0].name}, {which}: {model_id} {quant_id} decodes at {tps(first[1])} tok/s there"
    if rest:
        text += "; on the others " + ", ".join(f"{d.name} {tps(v)}" for d, v in rest) + " tok/s"
    return text + "."


def not_hosting_text(devices: Sequence[Any], where: str, target: str, *, by_name: bool = False) -> str:
    """The devices of the requested classes that cannot host a target (``api.not_hosting``):
    ``Not candidates: 2 devices of class phone that cannot host ios-app (pixel-8 (android), …).``"""
    shown = ", ".join(f"{d.name if by_name else d.id} ({'/'.join(d.platforms)})" for d in devices)
    return f"Not candidates: {plural(len(devices), 'device')} {where} that cannot host {target} ({shown})."


def limit_text(lim: Any) -> str:
    """A store limit (``records.DownloadLimit``) by its name, with the store's decimal figure and
    the binary one downloads are given in: ``Play base module (200 MB = 190.73 MiB, hard)`` ("0.2
    GB" beside a download of "1.67 GiB" read as the same unit)."""
    return f"{lim.what} ({format_decimal_size(lim.max_bytes)} = {format_size(lim.max_bytes)}, {lim.kind})"


def limit_id_text(lim: Any) -> str:
    """A store limit by its id, as tables show it: ``play-ai-pack (1.5 GB = 1.40 GiB, hard)`` — the
    store's decimal figure, and the binary one the download beside it and --max-download use."""
    return f"{lim.id} ({format_decimal_size(lim.max_bytes)} = {format_size(lim.max_bytes)}, {lim.kind})"


def reason_text(r: Reason, *, context_option: str = "--context") -> str:
    """One reason as a phrase: ``too slow: 7.9 tok/s < 8 required``. ``context_option`` names
    the input that sets the context (a CLI flag here, a requirements-file field in a report). A
    candidate rejected for another limit that does not fit either says so: ``too slow: 2.9 tok/s
    < 10 required, and it does not fit (needs 3.14 GiB)``."""
    from advisor.records import UNFIT_SECOND

    text = _reason_phrase(r, context_option)
    if r.kind in UNFIT_SECOND and r.second is not None:
        text += f", and it does not fit (needs {format_size(r.second)})"
    return text


def _reason_phrase(r: Reason, context_option: str) -> str:
    v, lim = r.value, r.limit
    if r.kind == "memory":
        assert v is not None and lim is not None
        return f"does not fit: needs {format_size(v)}, {format_size(v - lim)} more than the {format_size(lim)} usable"
    if r.kind == "context":
        return f"context {v:,.0f} exceeds its native {lim:,.0f} tokens"
    if r.kind == "quality":
        return f"quality {v:.0f} below the floor {lim:g}"
    if r.kind == "speed":
        return f"too slow: {format_rate(v)} tok/s < {f'{lim:,.0f}' if lim == int(lim) else f'{lim:g}'} required"
    if r.kind == "ttft":
        assert v is not None and lim is not None
        return f"first token after {format_seconds(v)} > {format_seconds(lim)} allowed"
    if r.kind == "license":
        return f"license {r.name} ({r.category}) excluded"
    if r.kind == "family":
        return f"family {r.name} not requested"
    if r.kind == "model":
        return "not among the requested models"
    if r.kind == "offload":
        return f"{v:.0f}/{lim:.0f} layers on the GPU, the rest on the CPU"
    if r.kind == "expert_offload":
        assert v is not None and r.second is not None
        # llama.cpp's flag counts blocks from 0, leading dense blocks (no experts) included
        return f"--n-cpu-moe {v:.0f}: the experts of the first {v:.0f} of {lim:.0f} layers ({format_size(r.second)}) in host RAM, run on the CPU"
    if r.kind == "runtime_budget":
        assert v is not None
        return f"{r.name} allocates within {v:.0%} of the GPU memory it detects (it refuses to load beyond): the usable memory counts that"
    if r.kind == "runtime_context":
        assert v is not None and lim is not None
        return f"context {v:,.0f} exceeds the {lim:,.0f}-token KV capacity of {r.name} on {r.category}"
    if r.kind == "expert_offload_short":
        assert v is not None and lim is not None
        return (f"--n-cpu-moe {r.name} leaves {format_size(v)} on the GPU, more than its {format_size(lim)} usable VRAM"
                + (f"; {r.second:.0f} (auto's choice) fits" if r.second is not None else "; no value fits"))
    if r.kind == "limit":
        assert v is not None and lim is not None
        return f"the {format_size(v)} {r.name} exceeds the {format_size(lim)} {r.category}"
    if r.kind == "threads":
        return f"{v:,.0f} threads asked for; estimated with the CPU's {lim:,.0f} (more threads than it has only slow llama.cpp down)"
    if r.kind == "download":
        assert v is not None and lim is not None
        return f"download {format_size(v)} > {format_size(lim)} allowed"
    if r.kind == "runtime":
        return "none of the requested runtimes runs on this device"
    if r.kind == "architecture":
        return (f"no runtime considered loads its {r.name} architecture"
                + (f" (runtimes that do: {r.category})" if r.category else " (no catalog runtime does)"))
    if r.kind == "busy_profile":
        assert v is not None and lim is not None
        return (f"the device's profile was measured while other processes used {v:.2f} of its {lim:.0f} CPUs: its bandwidth "
                "and compute, and so these speeds, may read low; run advisor profile again on an idle machine")
    if r.kind == "miscomputed":
        one = ", " not in r.category
        return (f"{r.category} {'loads' if one else 'load'} its {r.name} architecture but {'computes' if one else 'compute'} "
                "another function than the trained model's (the model's notes say why)")
    if r.kind == "target":
        return "the deployment target cannot run on this device" + (f" ({r.category})" if r.category else "")
    if r.kind == "browser":
        return f"{r.name} does not run on this device" + (f" (its browsers: {r.category})" if r.category else " (no browser of the catalog does)")
    if r.kind == "tier":
        return "nothing that passes on the rest of its tier passes here"
    if r.kind == "prompt_exceeds_context":
        return (f"prompt ({v:.0f}) + output ({r.second:.0f}) tokens exceed the context of {lim:.0f}; "
                f"raise {context_option} or shorten them")
    return r.kind


#: Reasons worded for a row of one device ("the deployment target cannot run on this device"):
#: as a whole error their message says more — the target, the device by name and the choices.
_ROW_REASONS = frozenset({"target", "browser"})


def printable(text: str, *, line_breaks: bool = False) -> str:
    """``text`` safe for a terminal: each control or format character (a terminal escape, a bell, a
    right-to-left override that reorders the line, a line break in an id or a file name that split
    the Error: line in two) written as its escape (``\\x1b``, ``\\n``), so that a name from a
    hostile file is shown, not obeyed. ``line_breaks`` keeps the line breaks of a message made of
    lines by design (a RunError's log tail)."""
    from advisor.records import unprintable

    return "".join(ch.encode("unicode_escape").decode("ascii") if unprintable(ch) and not (line_breaks and ch == "\n") else ch
                   for ch in text)


#: The longest line ``one_line`` keeps whole: an error that echoes a hostile value (a 684 KB
#: config list, a 5,000-digit number) is cut in its middle, where the value sits; its start (what
#: is wrong) and its end (the fix) stay.
MAX_LINE_CHARS = 1000


def one_line(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """Each line of ``text`` at most ``limit`` characters: a longer one keeps its first two thirds
    and its last third around '… (N characters cut) …'."""
    out = []
    for line in text.split("\n"):
        if len(line) > limit:
            head, tail = limit * 2 // 3, limit // 3
            line = f"{line[:head]} … ({len(line) - head - tail:,} characters cut) … {line[-tail:]}"
        out.append(line)
    return "\n".join(out)


def error_text(exc: Exception, *, context_option: str = "--context") -> str:
    """An AdvisorError's message, worded from its reason when it carries one (so that the option
    named is this front end's), except a reason meant for one device's row (``_ROW_REASONS``)."""
    from advisor.records import Reason

    reason = getattr(exc, "reason", None)
    if isinstance(reason, Reason) and reason.kind not in _ROW_REASONS:
        return reason_text(reason, context_option=context_option)
    return str(exc)


def option_reason(o: DeviceOption) -> str:
    """Why a device does (not) meet the requirement in ``devices-for``."""
    return "meets the requirement" if o.reason is None else reason_text(o.reason)


def runtime_suffix(runtime: str | None) -> str:
    """" (mlc)" after a file of a runtime other than llama.cpp, whose file types need no owner
    named; "" for llama.cpp's or none."""
    return f" ({runtime})" if runtime and runtime != "llama.cpp" else ""


def rejected_file_text(r: Any) -> str:
    """What a rejection names: the model, its file type and, for a runtime other than llama.cpp,
    that runtime ("qwen3-8b q4f16_1 (mlc)"), as the candidates' table names each pick's runtime."""
    return f"{r.model_id}{' ' + r.quant_id if r.quant_id else ''}{runtime_suffix(getattr(r, 'runtime', None))}"


def variant_gain_text(w: Mapping[str, Any]) -> str:
    """What makes a larger-RAM variant faster where the models it opens fit the smaller unit too
    (an ``analysis.what_if_more_ram`` entry): its memory's bandwidth, its CPU cores or its GPU,
    each named only where it differs and the processor those models run on is that one ("faster
    memory (25.6 → 38.4 GB/s)"; an 8 GB and a 16 GB Jetson Orin NX read 102.4 GB/s alike, and on
    their CPUs the 16 GB's two more cores are the gain)."""
    on = {n.get("processor") for n in w.get("newly_possible", ()) if n.get("fits_device")} or {"cpu", "gpu"}
    parts = []
    if w.get("variant_bandwidth_gbs") != w.get("bandwidth_gbs"):
        parts.append(f"faster memory ({w['bandwidth_gbs']:g} → {w['variant_bandwidth_gbs']:g} GB/s)")
    if "cpu" in on and w.get("cpu_cores") and w.get("variant_cpu_cores") and w["variant_cpu_cores"] != w["cpu_cores"]:
        parts.append(f"{'more' if w['variant_cpu_cores'] > w['cpu_cores'] else 'other'} CPU cores "
                     f"({w['cpu_cores']} → {w['variant_cpu_cores']})")
    if ("gpu" in on and w.get("gpu_fp16_tflops") and w.get("variant_gpu_fp16_tflops")
            and w["variant_gpu_fp16_tflops"] != w["gpu_fp16_tflops"]):
        parts.append(f"{'faster' if w['variant_gpu_fp16_tflops'] > w['gpu_fp16_tflops'] else 'other'} GPU "
                     f"({w['gpu_fp16_tflops']:g} → {w['variant_gpu_fp16_tflops']:g} FP16 TFLOPS)")
    return "the variant's " + (and_list(parts) if parts else "faster hardware")


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def alternative_text(a: Alternative) -> str:
    what = {"fastest": "fastest", "lightest": "lightest"}.get(a.kind, a.kind)
    return f"{what} with ≥{a.quality_share:.0%} of the pick's quality"


def constraint_words(c: Constraints) -> str:
    parts = []
    if c.min_decode_tps is not None:
        parts.append(f"≥ {c.min_decode_tps:g} tok/s")
    if c.max_ttft_s is not None:
        parts.append(f"first token within {format_seconds(c.max_ttft_s)}")
    if c.license_classes is not None:
        parts.append("a " + "/".join(sorted(c.license_classes)) + " license")
    if c.quality_floor is not None:
        parts.append(f"quality ≥ {c.quality_floor:g}")
    if c.families is not None:
        parts.append("family " + "/".join(sorted(c.families)))
    if c.max_download_bytes is not None:
        parts.append(f"a download of at most {format_size(c.max_download_bytes)}")
    return " and ".join(parts)


#: How a rejection's kind reads in the count of what ruled the candidates out.
RULED_OUT_BY = {"memory": "memory", "download": "the download limit", "limit": "a per-buffer limit of the target",
                "speed": "speed", "ttft": "the first-token time", "quality": "the quality floor", "context": "the context",
                "expert_offload_short": "memory", "architecture": "the architectures the runtimes load",
                "miscomputed": "a runtime that computes the model wrongly"}


def ruled_out_text(rejected: Sequence[Any]) -> str:
    """``of 62 candidates, 54 are ruled out by the download limit, 8 by memory``: what binds when
    nothing passes (filtered-out models — license, family, model — are not candidates)."""
    counts: dict[str, int] = {}
    for r in rejected:
        if not r.why.is_filter:
            what = RULED_OUT_BY.get(r.why.kind, r.why.kind)
            counts[what] = counts.get(what, 0) + 1
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    first, rest = ranked[0], ranked[1:]
    return (f"of {plural(sum(counts.values()), 'candidate')}, {first[1]:,} {'is' if first[1] == 1 else 'are'} ruled out by "
            f"{first[0]}" + "".join(f", {n:,} by {what}" for what, n in rest))


def runtime_words(e: Any) -> str:
    """" with mlc (webgpu)" for a runtime other than llama.cpp (llama.cpp is the default, unnamed):
    "Qwen3 0.6B q4f16_1 with mlc (opencl) on Google Pixel 8", not "… on mlc (opencl) on …"."""
    return "" if e.runtime == "llama.cpp" else f" with {e.runtime} ({e.backend})"


def _runtime_option_words(o: Any) -> str:
    """``llama.cpp (Q8_0, 3.9 tok/s, quality 48)`` or ``mlx (does not fit: …)``."""
    e = o.estimate
    if e is None and o.why is not None and o.why.kind == "architecture":
        return f"{o.runtime} (cannot load its {o.why.name} architecture)"
    if e is None and o.why is not None and o.why.kind == "miscomputed":
        return f"{o.runtime} (loads its {o.why.name} architecture but computes another function)"
    if e is None:
        return f"{o.runtime} ({reason_text(o.why) if o.why is not None else 'no candidate'})"
    return f"{o.runtime} ({e.quant_id}, {tps(e.speed.decode_tokens_per_s if e.speed else None)} tok/s, quality {e.quality_score:.0f})"


#: At most this many other runtimes are named after the runner-up (the JSON lists them all).
RUNTIMES_NAMED = 3


def runtime_choice_text(choice: RuntimeChoice | None, target_tps: float) -> str:
    """Why the pick runs on its runtime: what sets it above the best other runtime for the same
    model, then the others ("" when one runtime was considered)."""
    if choice is None:
        return ""
    pick = choice.options[0].estimate
    assert pick is not None and pick.speed is not None
    runner = choice.runner_up
    name = f"{pick.runtime}" + ("" if pick.runtime == "llama.cpp" else f" ({pick.backend})")
    if runner is None:
        text = f" Runtime {name}: the only one considered that runs it here"
    else:
        r = runner.estimate
        assert r is not None and r.speed is not None
        because = {
            "fit": f"it fits comfortably where {runner.runtime}'s best fits only {'tightly' if r.fit == 'tight' else 'with offload'}",
            "target": f"it reaches the {target_tps:g} tok/s target, {runner.runtime} does not",
            "quality": f"its best format keeps more quality ({pick.quality_score:.0f} vs {r.quality_score:.0f})",
            "speed": f"it decodes faster ({tps(pick.speed.decode_tokens_per_s)} vs {tps(r.speed.decode_tokens_per_s)} tok/s)",
            "tie": "predicted alike (a tie): either serves",
        }.get(choice.why, "it ranks first")
        text = f" Runtime {name} over {_runtime_option_words(runner)}: {because}"
    rest = [o for o in choice.options[1:] if o is not runner]
    if rest:
        named = rest[:RUNTIMES_NAMED]
        more = len(rest) - len(named)
        text += ("; " if runner is None else "; also ") + ", ".join(
            _runtime_option_words(o) for o in named) + (f" and {more} more" if more else "")
    return text + "."


def explanation(rec: Recommendation, tables: Tables) -> str:
    """Why the pick: the paragraph under the device line (CLI, dashboard, JSON ``explanation``)."""
    from advisor.engine.evaluate import quality_table

    c = rec.constraints
    device = rec.device
    wanted = constraint_words(c)
    if rec.pick is None:
        counted = ruled_out_text(rec.rejected)
        return (f"Nothing fits {device.name}" + (f" with {wanted}" if wanted else "") + (f": {counted}" if counted else "")
                + "; see the rejected candidates for the closest misses.")
    pick = rec.pick
    model = tables.models[pick.model_id]
    sp = pick.speed
    assert sp is not None
    base = quality_table(tables).base[model.id]
    fit_word = {"fits": "fits", "tight": "fits, tightly,", "offload": "fits with partial GPU offload"}[pick.fit]
    target = c.target_decode_tps
    tail = ""
    slow = rec.passed_over
    if slow is not None and slow.speed is not None:
        tail = (
            f" {tables.models[slow.model_id].name} ({slow.quant_id}, quality {slow.quality_score:.0f}) also fits "
            f"but decodes at ~{tps(slow.speed.decode_tokens_per_s)} tok/s, below the {target:g} tok/s reading-speed "
            f"target (a target of 0 ranks by quality alone)."
        )
    elif target and sp.decode_tokens_per_s < target:
        tail = f" Nothing that fits reaches the {target:g} tok/s reading-speed target."
    if rec.tighter_higher_quality:
        tail += " Higher-quality models fit only tightly (under 10% headroom) and are ranked below."
    if c.max_ttft_s is None and sp.ttft_s > TTFT_COMFORT_S:
        tail += (f" Its first token takes ~{format_seconds(sp.ttft_s)}, beyond the ~{TTFT_COMFORT_S:g} s a user waits "
                 "comfortably: shorten the prompt or choose a faster device.")
    license_words = LICENSE_CLASS_WORDS.get(model.license_class, model.license_class)
    return (
        f"{model.name} in {pick.quant_id}{runtime_words(pick)} is the highest-quality model that {fit_word} in the "
        f"{format_size(pick.usable_bytes)} usable on {device.name}{' with ' + wanted if wanted else ''}: it needs "
        f"{format_size(pick.memory.total_bytes)} ({format_size(pick.headroom_bytes)} headroom at "
        f"{rec.workload.context_tokens:,} tokens of context), decodes at ~{tps(sp.decode_tokens_per_s)} tok/s "
        f"({tps(sp.decode_band.low)}–{tps(sp.decode_band.high)}) and answers a {rec.workload.prompt_tokens}-token prompt in "
        f"~{format_seconds(sp.ttft_s)}. Quality score {pick.quality_score:.0f}/100 ({base.basis}); "
        f"license {model.license} ({license_words})." + runtime_choice_text(rec.runtime_choice, target) + tail
    )


def load_rows(ld: LoadEstimate) -> list[tuple[str, str, str]]:
    """The load times of an estimate (``engine.load``) as (item, value, basis) rows, the words of
    predict's table and of the dashboard: warm and cold (a browser's later visit) and the time to
    first token of a cold start; in a browser tab the first visit (a download) is said to be not
    predicted, or every visit when the download exceeds the browser's cache storage; a row says
    when the copy of the weights into a GPU's own memory is left out."""
    browser = ld.browser_name
    cold = "load (cold, later visit)" if browser else "load (cold)"
    every_visit = ld.cold_case == "every-visit-downloads"
    download = ld.first_visit_download_bytes
    if every_visit:
        rows = [("load (after the download)", format_seconds(ld.warm_s),
                 f"{format_size(ld.file_bytes)} of weights already in memory, once downloaded (set-up only): nothing is kept "
                 "between visits"),
                (cold, "none", f"every visit downloads the model again: {format_size(download or ld.file_bytes)} exceed "
                               f"{browser}'s cache storage of {format_size(ld.storage_cache_limit_exceeded or 0)}"
                               + (f" ({ld.browser_storage_note})" if ld.browser_storage_note else ""))]
    else:
        rows = [("load (warm)", format_seconds(ld.warm_s),
                 f"{format_size(ld.file_bytes)} of weights in the OS page cache (a reload of the page)" if browser
                 else f"{format_size(ld.file_bytes)} file in the page cache (a restart)")]
        if ld.cold_s is None:
            rows.append((cold, "-", "the device profile gives no storage read speed; add a [storage] table"))
        else:
            rows += [
                (cold, format_seconds(ld.cold_s),
                 (f"a later visit: the weights read from {browser}'s storage (Cache API / OPFS / IndexedDB) on {ld.storage_kind} "
                  if browser else f"the first start after boot: read from {ld.storage_kind} ")
                 + f"at {ld.storage_read_mb_s or 0:,.0f} MB/s ({ld.storage_basis}) + the warm load"
                 + (f"; {browser}: {ld.browser_storage_note}" if browser and ld.browser_storage_note else "")),
                ("cold-start TTFT, later visit" if browser else "cold-start TTFT", format_seconds(ld.cold_ttft_s),
                 "cold load + prefill of the prompt"),
            ]
    if browser:
        rows.append(("every visit" if every_visit else "first visit",
                     "not predicted" + (f" (download of {format_size(download)})" if download is not None else ""),
                     ("every visit" if every_visit else "the first visit") + " downloads the model (and the runtime's library "
                     "where published) before this load; its time depends on the network"))
    if ld.vram_copy_excluded:
        rows.append(("load, VRAM copy", "not included",
                     "the copy of the weights into " + ("WebGPU buffers" if browser else "the discrete GPU's VRAM")
                     + " at load is not in the load times above"))
    return rows


def load_text(ld: LoadEstimate) -> str:
    """``load_rows`` as Markdown lines, one per row (the dashboard's caption under the pick)."""
    return "  \n".join(f"{item[:1].upper()}{item[1:]}: {value} — {basis}." for item, value, basis in load_rows(ld))


def price_text(price: Price | None, amount: float | None = None) -> str:
    """``$329 (GPU only, host not included)``: a price (``amount`` = a fleet's, else the unit's),
    always marked when it buys only a GPU."""
    if price is None:
        return "-"
    usd = price.usd if amount is None else amount
    return usd_text(usd) + ("" if price.complete else f" ({GPU_ONLY})")


def usd_text(usd: float) -> str:
    """``$1,300`` or ``$1,299.99``: whole dollars unless the figure has cents, so that a unit price
    times the fleet reads as the fleet price shown beside it ($449.99 × 500 = $224,995, not $450 × 500)."""
    cents = round(usd * 100)
    return f"${cents / 100:,.0f}" if cents % 100 == 0 else f"${cents / 100:,.2f}"


#: How a GPU-only price is marked wherever it is shown.
GPU_ONLY = "GPU only, host not included"
#: The same mark on a figure divided by such a price (tok/s per $), where a table cell is short.
GPU_ONLY_SHORT = "GPU only"


def deployment_line(dep: Any) -> str:
    """The target's budget and its basis, and the browser it assumes."""
    b = dep.budget
    text = f"Target {dep.target.name}: {format_size(dep.device.memory.usable)} for the model ({b.rule}; {b.source})"
    if dep.browser is not None:
        gpu = "WebGPU" if dep.browser.webgpu_for(dep.device) else "no WebGPU"
        text += (f"; browser {dep.browser.name}, {gpu}, storage binding ≤ {format_size(dep.browser.max_storage_buffer_binding_size)}")
    return text + "."


def speed_evidence(basis: str, metric: str) -> str:
    """"fitted" or "prior" for ``metric`` (decode/prefill) of a speed basis: a runtime path's basis
    says per metric ("decode prior, prefill fitted"); a path without its own factors says "as a
    prior"; llama.cpp's paths are fitted ("fit on N published measurements")."""
    said = re.search(rf"\b{metric} (prior|fitted)\b", basis)
    if said:
        return said.group(1)
    return "prior" if "prior" in basis else "fitted"


def id_ranges(ids: Sequence[int | None]) -> str:
    """Run ids as ranges: '1–10000' for a 10,000-row import (it printed each: a 58 KB line)."""
    nums = sorted({i for i in ids if i is not None})
    parts: list[str] = []
    start = prev = None
    for n in nums + [None]:
        if start is not None and (n is None or n != prev + 1):
            parts.append(str(start) if start == prev else f"{start}{', ' if prev == start + 1 else '–'}{prev}")
            start = None
        if n is not None and start is None:
            start = n
        prev = n
    return ", ".join(parts)

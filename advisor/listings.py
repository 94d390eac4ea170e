"""Rows for the `advisor runtimes` and `advisor targets` listings (plain dicts; the CLI formats them).

Bits per weight are derived from each format's geometry (``TensorQuant.bits_per_weight``), never
typed; per-row and per-tensor scales are named in the layout text instead, because their share
depends on the row length.
"""

from __future__ import annotations

from typing import Any

from advisor.catalog import Catalog
from advisor.records import Runtime, RuntimeFormat, Target, TensorQuant
from advisor.units import format_decimal_size, format_size


def layout(q: TensorQuant) -> str:
    """Human text for one tensor storage: "4-bit, group 32, 16-bit scale", "16-bit float"."""
    if not q.scale_bits:
        return f"{q.bits}-bit float" if q.bits >= 16 else f"{q.bits}-bit"
    where = {0: "per row", "tensor": "per tensor"}.get(q.group, f"group {q.group}")
    zero = f" + {q.zero_bits}-bit zero" if q.zero_bits else ""
    packed = f", {q.values_per_word} per {q.word_bits}-bit word" if q.values_per_word else ""
    return f"{q.bits}-bit, {where}, {q.scale_bits}-bit scale{zero}{packed}"


def _same_as(spec: object) -> str:
    return f"as {spec}" if isinstance(spec, str) else ""


def _bpw(q: TensorQuant) -> float:
    return round(q.bits_per_weight, 4)


def kv_dtypes(rt: Runtime, f: RuntimeFormat) -> dict[str, str]:
    """The KV cache dtype ``f`` keeps on each of its backends, as the engine sizes it
    (``runtimes.kv_dtype``: a backend's own dtype, LiteRT-LM's CPU f32, else the runtime's, the
    format's activation dtype for "activation")."""
    from advisor.engine.runtimes import kv_dtype

    return {b.id: kv_dtype(rt, f, b) for b in rt.backends if not f.backends or b.id in f.backends}


def _kv_text(rt: Runtime, f: RuntimeFormat) -> str:
    """"f16, grows"; "f32 on cpu; f16 on gpu, npu; fixed-at-export" where backends differ."""
    by: dict[str, list[str]] = {}
    for backend, dtype in kv_dtypes(rt, f).items():
        by.setdefault(dtype, []).append(backend)
    if len(by) <= 1:
        return f"{next(iter(by), rt.kv.dtype)}, {rt.kv.allocation}"
    return "; ".join(f"{dtype} on {', '.join(ids)}" for dtype, ids in by.items()) + f"; {rt.kv.allocation}"


def format_dict(rt: Runtime, f: RuntimeFormat) -> dict[str, Any]:
    data = f.model_dump(mode="json")
    data["backends"] = list(f.backends or (b.id for b in rt.backends))
    data["kv_dtype"] = kv_dtypes(rt, f)
    data["bits_per_weight"] = {"linear": _bpw(f.linear), "embedding": _bpw(f.embedding_quant), "output": _bpw(f.output_quant),
                               "other": _bpw(f.other)}
    return data


def runtime_dict(rt: Runtime) -> dict[str, Any]:
    data = rt.model_dump(mode="json", exclude={"formats"})
    data["formats"] = [format_dict(rt, f) for f in rt.formats]
    return data


def architecture_rows(catalog: Catalog, runtime_id: str | None = None) -> list[dict[str, Any]]:
    """One row per runtime: the catalog architectures its converter or loader has code for, those
    it lacks (the catalog models of each architecture in brackets), and the source read."""
    runtimes = [catalog.runtime(runtime_id)] if runtime_id else list(catalog.runtimes.values())
    used: dict[str, int] = {}
    for m in catalog.models.values():
        used[m.gguf_arch] = used.get(m.gguf_arch, 0) + 1
    rows = []
    for rt in runtimes:
        lacks = [a for a in sorted(used) if not rt.runs_arch(a)]
        rows.append({"runtime": rt.id, "loads": f"{len(used) - len(lacks)} of {len(used)}",
                     "lacks": ", ".join(f"{a} ({used[a]})" for a in lacks) or "-",
                     "source": rt.architectures_source or "not known: every architecture assumed"})
    return rows


def runtime_rows(catalog: Catalog, runtime_id: str | None = None) -> list[dict[str, Any]]:
    """One row per runtime × weight format (one row for a runtime that uses GGUF file types)."""
    runtimes = [catalog.runtime(runtime_id)] if runtime_id else list(catalog.runtimes.values())
    rows: list[dict[str, Any]] = []
    for rt in runtimes:
        base = {
            "runtime": rt.id, "platforms": ", ".join(rt.platforms),
            "architectures": ", ".join(rt.architectures) if rt.architectures is not None else "any (not known)",
            "kv_cache": f"{rt.kv.dtype}, {rt.kv.allocation}", "default_context": rt.default_context,
        }
        if rt.formats_from:
            rows.append({**base, "format": f"{rt.formats_from} file types ('advisor quants')",
                         "backends": ", ".join(b.id for b in rt.backends), "bpw": None, "linear": "", "embedding": "",
                         "output": "", "activations": "", "verified": True, "source": rt.source})
            continue
        for f in rt.formats:
            rows.append({
                **base, "format": f.id, "aliases": ", ".join(f.aliases),
                "backends": ", ".join(f.backends or (b.id for b in rt.backends)),
                "bpw": _bpw(f.linear), "linear": layout(f.linear),
                "embedding": _same_as(f.embedding) or layout(f.embedding_quant),
                "output": _same_as(f.output) or layout(f.output_quant),
                "activations": f.activation_dtype, "kv_cache": _kv_text(rt, f), "verified": f.verified, "source": f.source,
            })
    return rows


def target_dict(t: Target) -> dict[str, Any]:
    return t.model_dump(mode="json")


def target_rows(catalog: Catalog) -> list[dict[str, Any]]:
    rows = []
    for t in catalog.targets.values():
        m = t.memory
        if m.rule == "profile":
            memory = "profile's usable memory"
        else:
            memory = f"{m.fraction:.0%} of RAM"
            if m.fraction_with_entitlement:
                memory += f" ({m.fraction_with_entitlement:.0%} with the entitlement)"
            if m.published:
                n = len(m.published)
                memory += f"; published figures for {n} device{'s' if n > 1 else ''}"
        if t.browsers:
            memory += "; capped by the tab limit"
        # with the runtimes each concerns, and only those of the target's runtimes: ONNX's protobuf
        # limit is no limit of a browser tab, where no catalog runtime writes ONNX
        limits = "; ".join(
            f"{d.id} {format_decimal_size(d.max_bytes)}"
            + (f" ({', '.join(r for r in d.runtimes if r in t.runtimes)})" if d.runtimes else "")
            for d in t.download_limits if not d.runtimes or set(d.runtimes) & set(t.runtimes))
        rows.append({
            "id": t.id, "name": t.name, "device_classes": ", ".join(t.device_classes), "platforms": ", ".join(t.platforms),
            "runtimes": ", ".join(t.runtimes), "memory": memory, "download_limits": limits,
            "browsers": ", ".join(b.id for b in t.browsers), "source": t.source,
        })
    return rows


def browser_rows(catalog: Catalog) -> list[dict[str, Any]]:
    rows = []
    for t in catalog.targets.values():
        for b in t.browsers:
            rows.append({
                "id": b.id, "name": b.name, "hosts": ", ".join(b.host_platforms),
                "webgpu": b.webgpu_since if b.webgpu else "no",
                "max_buffer": format_size(b.max_buffer_size, precision=0),
                "max_binding": format_size(b.max_storage_buffer_binding_size, precision=0),
                "shader_f16": b.shader_f16, "wasm32": format_size(b.wasm32_max, precision=0),
                "memory64": b.memory64_since if b.memory64 else "no",
                "tab_limit": format_decimal_size(b.tab_memory_limit) if b.tab_memory_limit else "",
                "verified": b.verified, "source": b.limits_source,
            })
    return rows

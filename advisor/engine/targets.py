"""Deployment targets on a device: the memory one model process may use there, the runtimes and
backends the target allows, the per-buffer limits (a WebGPU storage binding, an OpenCL single
allocation, 32-bit WebAssembly) and the download the user pays — all from catalog/targets.toml.

A ``Deployment`` is a target placed on one device. The engine evaluates candidates on
``deployment.device`` (the profile with its usable memory replaced by the target's budget), so
fit, offload and speed need no second path; ``limit_breaches`` adds the limits no amount of RAM
lifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from advisor.engine.runtimes import LLAMA_CPP, Variant
from advisor.errors import BadInputError
from advisor.records import DeviceProfile, Reason

#: The target that reproduces the plain behaviour: the profile's own usable memory, native runtimes.
DEFAULT_TARGET = "server"


@dataclass(frozen=True)
class Deployment:
    target: Any  # records.Target
    device: DeviceProfile  # the profile with memory.usable = the target's budget
    budget: Any  # records.MemoryBudget
    browser: Any | None  # records.BrowserPlatform for the browser target
    entitlement: bool

    @property
    def is_browser(self) -> bool:
        return self.browser is not None


def _choices(items: Any) -> str:
    """Targets or browsers to choose from, named as the user sees them elsewhere, each with the id
    its option takes: 'Server / command line (server), Desktop app (desktop-app)'."""
    return ", ".join(f"{x.name} ({x.id})" for x in items)


def not_hosted(device: DeviceProfile) -> Reason:
    """Why ``device`` is left out of a target it cannot host: the OS families it runs."""
    return Reason("target", name=device.name, category="/".join(device.platforms))


def deploy(target: Any, device: DeviceProfile, *, entitlement: bool = False, browser_id: str | None = None,
           targets: Sequence[Any] = ()) -> Deployment:
    """Place ``target`` on ``device``: check it can host it, pick the browser (the one named, else
    the first of the device's OS that offers WebGPU there, else its first), compute the budget."""
    if not target.hosts(device):
        able = [t for t in targets if t.hosts(device)]
        raise BadInputError(
            f"the {target.name} target cannot run on {device.name} (its OS: {'/'.join(device.platforms)}); "
            + (f"targets for this device: {_choices(able)}" if able else "it hosts no target"), reason=not_hosted(device))
    browser = None
    if browser_id is not None and not target.browsers:
        raise BadInputError(f"--browser applies to the browser target, not {target.id}; drop it or use --target browser")
    if target.browsers:
        offered = target.browsers_for(device)
        if browser_id is not None:
            browser = target.browser(browser_id.strip().lower())
            if browser is None:  # a typo, not a browser of another OS: the ids --browser takes
                raise BadInputError(f"unknown browser '{browser_id}'; browsers: {', '.join(b.id for b in target.browsers)}",
                                    reason=Reason("browser", name=browser_id, category=", ".join(b.name for b in offered)))
            if browser not in offered:
                raise BadInputError(f"browser '{browser_id}' does not run on {device.name}; its browsers: "
                                    f"{_choices(offered) or 'none'}",
                                    reason=Reason("browser", name=browser.name, category=", ".join(b.name for b in offered)))
        elif offered:
            browser = next((b for b in offered if b.webgpu_for(device)), offered[0])
        else:
            raise BadInputError(f"no browser of the catalog runs on {device.name}")
    budget = target.memory_budget(device, entitlement=entitlement, browser=browser)
    usable = min(int(budget.bytes), device.memory.ram)
    if usable == device.memory.usable:
        view = device
    else:
        memory = device.memory.model_copy(update={"usable": usable, "usable_basis": _basis(budget.basis),
                                                  "usable_note": f"{target.name}: {budget.rule} ({budget.source})"})
        view = device.model_copy(update={"memory": memory})
    return Deployment(target, view, budget, browser, entitlement)


def store_limits_exceeded(target: Any, download_bytes: int, runtime_id: str) -> tuple[Any, ...]:
    """The target's store and packaging limits (``DownloadLimit``) a download of ``download_bytes``
    in ``runtime_id``'s packaging exceeds."""
    return tuple(lim for lim in target.download_limits if download_bytes > lim.max_bytes and lim.applies_to(runtime_id))


def _basis(basis: str) -> str:
    return basis if basis in ("datasheet", "derived", "measured", "estimated", "calibrated") else "estimated"


def runtime_backends(runtime: Any, deployment: Deployment) -> list[Any]:
    """Backends of ``runtime`` usable under the deployment (in a browser: its web backends that
    this browser offers on this device), best first."""
    if runtime.id not in deployment.target.runtimes:
        return []
    if deployment.browser is not None:
        return list(runtime.usable_backends(deployment.device, browser=deployment.browser))
    plats = deployment.target.platforms
    return [b for b in runtime.usable_backends(deployment.device) if any(p in plats for p in b.platforms)]


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """A buffer the deployment cannot hold, whatever the RAM: ``what`` (its tensor or buffer) of
    ``bytes`` exceeds ``limit_bytes``, the ``limit`` of ``where``."""

    kind: str  # "binding" (WebGPU storage binding), "buffer" (WebGPU maxBufferSize), "allocation", "wasm"
    what: str
    bytes: int
    limit: str
    limit_bytes: int
    where: str


def largest_tensor(model: Any, fmt: Any, variant: Variant | None, tables: Any) -> tuple[str, int]:
    """(name, bytes) of the largest weight tensor in the variant's format (memoized by the catalog)."""
    return tables.derived.largest_tensor(model, fmt, variant.runtime.id if variant is not None else LLAMA_CPP)


def limit_breaches(estimate: Any, model: Any, fmt: Any, variant: Variant | None, deployment: Deployment,
                   tables: Any) -> list[LimitBreach]:
    """The per-buffer limits an estimate breaks under the deployment."""
    out: list[LimitBreach] = []
    backend = variant.backend if variant is not None else None
    apis = set(backend.apis) if backend is not None else set()
    browser = deployment.browser
    name, nbytes = largest_tensor(model, fmt, variant, tables)
    if browser is not None and backend is not None and backend.kind == "gpu":
        for kind, limit, value in (("binding", "maxStorageBufferBindingSize", browser.max_storage_buffer_binding_size),
                                   ("buffer", "maxBufferSize", browser.max_buffer_size)):
            if nbytes > value:
                out.append(LimitBreach(kind, name, nbytes, limit, int(value), browser.name))
                break
    if browser is not None and backend is not None and backend.kind == "cpu":
        cap = browser.memory64_max if browser.memory64 and browser.memory64_max else browser.wasm32_max
        what = "64-bit WebAssembly memory" if browser.memory64 else "32-bit WebAssembly memory"
        heap_max = variant.runtime.wasm_heap_max if variant is not None else None
        if heap_max is not None and heap_max < cap:  # the runtime's build stops below what the browser allows
            cap, what = heap_max, f"heap {variant.runtime.id}'s build allows in the {what}"  # type: ignore[union-attr]
        total = estimate.memory.total_bytes
        if total > cap:
            out.append(LimitBreach("wasm", "the whole model process", total, what, int(cap), browser.name))
    for lim in deployment.target.allocation_limits:
        if browser is not None and lim.api == "webgpu":
            continue  # the browser's own adapter limits (above) replace the spec's minimum
        if lim.api in apis and nbytes > lim.max_bytes and lim.applies_to(deployment.device):
            out.append(LimitBreach("allocation", name, nbytes, lim.what, int(lim.max_bytes), lim.api))
    return out


def download_bytes(estimate: Any, variant: Variant | None, tables: Any) -> int:
    """What the user downloads: the model's weights (the file) and the runtime's own library
    where the runtime publishes its size (0 otherwise, and for llama.cpp built into an app)."""
    runtime = variant.runtime if variant is not None else (getattr(tables, "runtimes", {}) or {}).get(LLAMA_CPP)
    return download_size(estimate.memory.weights_bytes, runtime)


def download_size(weights_bytes: int, runtime: Any | None) -> int:
    """weights_bytes + the runtime's published library download (0 when unpublished or None)  [B]."""
    lib = runtime.runtime_download.bytes if runtime is not None and runtime.runtime_download is not None else 0
    return int(weights_bytes + lib)


def blocking_reasons(estimate: Any, model: Any, fmt: Any, variant: Variant | None, deployment: Deployment | None,
                     tables: Any, max_download_bytes: int | None = None, context_tokens: int | None = None) -> list[Reason]:
    """What rules an estimate out though its memory fits: a context beyond the runtime backend's
    KV capacity (MLC on Metal: 32,768), each per-buffer limit it breaks under the deployment
    (``limit_breaches``), then a download beyond ``max_download_bytes`` — the verdict recommend,
    devices-for, tiers and predict share."""
    cap = variant.backend.max_context if variant is not None else None
    out = ([Reason("runtime_context", value=context_tokens, limit=cap, name=variant.runtime.id, category=variant.backend.id)]
           if cap is not None and context_tokens is not None and context_tokens > cap and variant is not None else [])
    out += [Reason("limit", value=b.bytes, limit=b.limit_bytes, name=b.what, category=f"{b.limit} of {b.where}")
            for b in (limit_breaches(estimate, model, fmt, variant, deployment, tables) if deployment is not None else ())]
    if max_download_bytes is not None:
        size = download_bytes(estimate, variant, tables)
        if size > max_download_bytes:
            out.append(Reason("download", value=size, limit=max_download_bytes))
    return out

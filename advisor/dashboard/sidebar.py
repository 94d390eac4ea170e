"""The dashboard's sidebar: the device (a profile, RAM only, this machine or an uploaded profile),
the workload, the constraints and where the model ships (runtime, deployment target), read from widgets with explicit keys and handed to the library."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from advisor import api
from advisor.catalog import Catalog, load_device_file
from advisor.dashboard.words import ALL_RUNTIMES_CHOICE, AUTO_BROWSER, INPUT_NAMES
from advisor.engine.recommend import Constraints
from advisor.engine.targets import DEFAULT_TARGET
from advisor.records import DeviceProfile, Workload
from advisor.units import parse_download_size

DEFAULT_DEVICE = "raspberry-pi-5-8gb"
SOURCES = ("Device profile", "RAM only", "This machine", "Upload a profile")
LICENSE_CLASSES = ("permissive", "restricted", "noncommercial")
#: "Speed like a typical…" without a class: any device of that RAM without a discrete GPU.
ANY_RAM_CLASS = "any device (no discrete GPU)"


def uploaded_profile(upload: Any) -> DeviceProfile:
    # the library reads files: keep the user's file name so its error messages name it
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        return load_device_file(path)


# --------------------------------------------------------------------------- sidebar inputs


def device_picker(cat: Catalog) -> DeviceProfile | None:
    st.sidebar.header("Device")
    source = st.sidebar.radio("Describe the device by", SOURCES, key="device_source")
    if source == "Device profile":
        query = st.sidebar.text_input("Search by name", key="device_search", placeholder="e.g. pi 5, iphone, orin")
        classes = sorted({d.device_class for d in cat.devices.values()})
        chosen_classes = st.sidebar.multiselect("Device class", classes, key="device_classes", placeholder="all classes")
        words = query.lower().split()
        ids = [
            d.id for d in sorted(cat.devices.values(), key=lambda d: (d.device_class, d.name))
            if (not chosen_classes or d.device_class in chosen_classes)
            and all(w in f"{d.name} {d.id} {d.soc}".lower() for w in words)
        ]
        if not ids:
            st.sidebar.warning("No profile matches; clear the search or the class filter.")
            return None
        index = ids.index(DEFAULT_DEVICE) if DEFAULT_DEVICE in ids else 0
        device_id = st.sidebar.selectbox(
            f"Profile ({len(ids)} match)", ids, index=index, key="device_id",
            format_func=lambda i: f"{cat.devices[i].name} · {cat.devices[i].device_class}",
        )
        modes = [m.name for m in cat.devices[device_id].power.modes]
        if modes:
            mode = st.sidebar.selectbox("Power mode", modes, key="power_mode",
                                        help=f"the vendor's power modes ({cat.devices[device_id].power.modes_source})")
            if mode != modes[0]:
                device_id = f"{device_id}@{mode}"
        return api.resolve_device(api.DeviceChoice(device_id=device_id), cat)
    if source == "RAM only":
        ram = st.sidebar.text_input("RAM", value="8GB", key="ram", help="4GB, 4 GiB, 3.5g, 4096MB (1GB = 1GiB)")
        usable = st.sidebar.text_input("Usable by the app (optional)", value="", key="usable",
                                       help="default: 75% of RAM")
        # any class: the catalog devices of that RAM without a discrete GPU (integrated GPUs included:
        # a Jetson, a Mac), as the CLI's --ram without --class
        device_class = st.sidebar.selectbox("Speed like a typical…", [ANY_RAM_CLASS, *api.ram_classes(cat)], key="ram_class",
                                            help="the slowest catalog device of that RAM (of that class) lends its speed")
        # the deployment target (its widget is further down; a change reruns the page) narrows what a
        # RAM size stands for, as the CLI's --target and --browser do: an iOS app's 6 GB phone is an iPhone
        return api.resolve_device(api.DeviceChoice(
            ram=ram.strip() or None, usable=usable.strip() or None,
            device_class=None if device_class == ANY_RAM_CLASS else device_class, input_names=INPUT_NAMES,
            target_id=st.session_state.get("target"),
            browser_id=None if st.session_state.get("browser") in (None, AUTO_BROWSER) else st.session_state["browser"],
            # and the runtime chosen, as the CLI's --runtime: MLC's 16 GB laptop is a Mac
            runtimes=None if st.session_state.get("runtime") in (None, ALL_RUNTIMES_CHOICE)
            else frozenset({st.session_state["runtime"]}),
        ), cat)
    if source == "This machine":
        return this_machine()
    upload = st.sidebar.file_uploader("Device profile (.toml)", type=["toml"], key="device_upload",
                                      help="the format of profiles/*.toml, or what 'advisor profile' writes")
    if upload is None:
        st.sidebar.info("Upload a profile to use it.")
        return None
    return uploaded_profile(upload)


def this_machine() -> DeviceProfile | None:
    """The profile command's probe, run only when asked (about 10 s), kept for the session."""
    from advisor import local  # lazy: the probes import heavy modules

    if st.sidebar.button("Measure this machine (~10 s)", key="profile_local"):
        warnings: list[str] = []
        with st.sidebar.status("Measuring memory bandwidth and compute…") as status:
            device, path = local.run_profile(progress=lambda text, frac: status.update(label=f"{text} ({frac:.0%})"),
                                             warn=warnings.append)
            status.update(label=f"Measured; saved to {path}" if path else "Measured; not saved", state="complete")
        for text in warnings:  # measured on a busy machine (advisor.local.run_profile)
            st.sidebar.warning(text[0].upper() + text[1:] + ".")
        st.session_state["local_profile"] = device
    if "local_profile" not in st.session_state and local.local_profile_path().exists():
        st.session_state["local_profile"] = local.local_profile()  # measured earlier (CLI or dashboard)
    device = st.session_state.get("local_profile")
    if device is None:
        st.sidebar.info("Press the button to measure this machine.")
    return device


def workload_inputs() -> Workload:
    st.sidebar.header("Workload")
    context = st.sidebar.number_input("Context length (tokens)", 128, 262144, 4096, step=512, key="context")
    prompt = st.sidebar.number_input("Prompt length (tokens)", 1, 262144, 512, step=64, key="prompt_tokens")
    output = st.sidebar.number_input("Output length (tokens)", 1, 262144, 256, step=64, key="output_tokens")
    kv = st.sidebar.selectbox("KV cache type", ["f16", "q8_0", "q4_0"], key="kv_cache_type")
    # the CLI's --threads, --flash-attn and --no-repack (advisor/options.py), for llama.cpp runs
    with st.sidebar.expander("llama.cpp settings"):
        threads = st.number_input("CPU threads (0 = the device's big cores)", 0, 1024, 0, step=1, key="threads")
        flash = st.selectbox("Flash attention", ["auto", "on", "off"], key="flash_attn",
                             help="off: the attention scores take compute-buffer memory")
        repack = st.checkbox("Repack weights for the CPU at load", value=True, key="cpu_repack",
                             help="llama.cpp's default; off is its --no-repack (slower prompt processing "
                                  "of Q4_0 on most CPUs)")
    return Workload(context_tokens=int(context), prompt_tokens=int(prompt), output_tokens=int(output), kv_cache_type=kv,
                    threads=int(threads) or None, flash_attn=flash, cpu_repack=bool(repack))


def constraint_inputs() -> Constraints:
    st.sidebar.header("Constraints")
    min_tps = st.sidebar.number_input("Minimum decode speed (tok/s, 0 = any)", 0.0, 10000.0, 0.0, step=1.0, key="min_tps")
    max_ttft = st.sidebar.number_input("Maximum time to first token (s, 0 = any)", 0.0, 3600.0, 0.0, step=0.5, key="max_ttft")
    target = st.sidebar.number_input(
        "Reading-speed target (tok/s, 0 = rank by quality alone)", 0.0, 1000.0, 5.0, step=1.0, key="target_tps",
        help="Soft target: models at least this fast rank before slower, higher-quality ones.",
    )
    licenses = st.sidebar.multiselect("Licenses", LICENSE_CLASSES, key="licenses", placeholder="any license",
                                      help="commercial use: permissive + restricted")
    floor = st.sidebar.slider("Quality floor (score out of 100, 0 = none)", 0, 100, 0, key="quality_floor")
    return Constraints(
        min_decode_tps=min_tps or None,
        max_ttft_s=max_ttft or None,
        license_classes=api.parse_licenses(licenses),
        quality_floor=floor or None,
        target_decode_tps=target,
    )


# --------------------------------------------------------------------------- runtime and target


@dataclass(frozen=True)
class DeploymentInputs:
    """The runtime and deployment-target widgets as read (resolved against a device by the page)."""

    runtime: str  # a runtime id, or ALL_RUNTIMES_CHOICE
    target_id: str
    entitlement: bool
    browser_id: str | None  # None: the device's own browser (WebGPU first)
    max_download_bytes: int | None

    @property
    def runtimes(self) -> frozenset[str]:
        """``Constraints.runtimes``: the runtime chosen, or every runtime with measurements."""
        return api.runtime_choice([self.runtime])  # type: ignore[return-value]


def _runtime_fits_target(cat: Catalog) -> None:
    """On a change of target: a runtime the new target does not run becomes "all with measurements"
    (choosing the browser tab with llama.cpp selected would otherwise show only an error)."""
    runtime = st.session_state.get("runtime")
    target = cat.targets.get(st.session_state.get("target", DEFAULT_TARGET))
    if target is not None and runtime not in (None, ALL_RUNTIMES_CHOICE) and runtime not in target.runtimes:
        st.session_state["runtime"] = ALL_RUNTIMES_CHOICE


def deployment_inputs(cat: Catalog) -> DeploymentInputs:
    st.sidebar.header("Runtime and target")
    targets = list(cat.targets)
    target_id = st.sidebar.selectbox(
        "Deployment target", targets, index=targets.index(DEFAULT_TARGET), key="target",
        format_func=lambda t: cat.targets[t].name, on_change=_runtime_fits_target, args=(cat,),
        help="Where the model ships: its memory budget on the device, the runtimes it allows and its per-buffer limits.",
    )
    target = cat.targets[target_id]
    runtimes = [ALL_RUNTIMES_CHOICE, *cat.runtimes]
    runtime = st.sidebar.selectbox(
        "Runtime", runtimes, key="runtime",
        format_func=lambda r: "All with measurements" if r == ALL_RUNTIMES_CHOICE else cat.runtimes[r].name,
        help="Every runtime with published speed measurements for the backend it would use on the device "
             "(each on its default backend there; the default), or one runtime alone.",
    )
    entitlement = False
    if target.memory.entitlement:
        entitlement = st.sidebar.checkbox(
            "Increased-memory entitlement", key="entitlement",
            help=f"The app holds {target.memory.entitlement}: a larger share of RAM.")
    browser_id = None
    if target.browsers:
        browser = st.sidebar.selectbox(
            "Browser", [AUTO_BROWSER, *[b.id for b in target.browsers]], key="browser",
            format_func=lambda b: "The device's own (WebGPU first)" if b == AUTO_BROWSER else target.browser(b).name,
        )
        browser_id = None if browser == AUTO_BROWSER else browser
    limit = st.sidebar.text_input("Largest download (optional)", value="", key="max_download",
                                  placeholder="e.g. 1.5GB", help="model file + the runtime's library where published")
    max_download = parse_download_size(limit.strip(), what="largest download") if limit.strip() else None
    return DeploymentInputs(runtime, target_id, entitlement, browser_id, max_download)

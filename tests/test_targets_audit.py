"""Deployment targets, as a user meets them: the errors that refuse a target or a browser, the
per-buffer limits a device's own GPU meets, and tiers that keep the devices a pick runs on."""

import pytest

from advisor.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# A device that cannot host the target, or a browser it does not run, is one Error: line naming the
# target, the device and the choices, as the engine words it — not the devices-for row's "the
# deployment target cannot run on this device (linux)", which named neither.
@pytest.mark.parametrize("args, message", [
    (["predict", "--device", "raspberry-pi-5-8gb", "--model", "qwen3-0.6b", "--target", "ios-app"],
     "Error: the iOS / iPadOS app target cannot run on Raspberry Pi 5 (8 GB) (a sbc running linux); targets for this "
     "device: Server / command line (server), Desktop app (desktop-app)"),
    (["recommend", "--device", "pixel-8", "--entitlement", "increased-memory"],
     "Error: the iOS / iPadOS app target cannot run on Google Pixel 8 (a phone running android); targets for this "
     "device: Server / command line (server), Android app (android-app), Browser tab (browser)"),
    (["recommend", "--device", "iphone-15-pro", "--target", "browser", "--browser", "chrome-android"],
     "Error: browser 'chrome-android' does not run on Apple iPhone 15 Pro; its browsers: Safari (iOS / iPadOS) (safari-ios)"),
    # a typo is an unknown browser with the ids --browser takes (it read "chrome does not run on this device")
    (["recommend", "--device", "iphone-15-pro", "--target", "browser", "--browser", "chrome"],
     "Error: unknown browser 'chrome'; browsers: chrome-desktop, chrome-android, safari-ios, safari-macos, firefox"),
])
def test_a_refused_target_or_browser_names_device_and_choices(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert err.strip() == message


# --------------------------------------------------------------------------- OpenCL single allocation


def _opencl_breaches(catalog, device, model_id, fmt_id):
    from advisor.engine.evaluate import evaluate
    from advisor.engine.runtimes import resolve_variant
    from advisor.engine.targets import deploy, limit_breaches
    from advisor.records import Workload

    dep = deploy(catalog.target("android-app"), device, targets=list(catalog.targets.values()))
    v = resolve_variant(catalog, dep.device, "mlc", fmt_id, backend_id="opencl", deployment=dep)
    model = catalog.models[model_id]
    est = evaluate(model, v.format, dep.device, Workload(1024, 256, 128), catalog, variant=v)
    return [(b.what, b.bytes, b.limit_bytes) for b in limit_breaches(est, model, v.format, v, dep, catalog)]


def test_the_opencl_allocation_limit_holds_on_the_gpu_it_was_reported_on(catalog):
    """The 268,435,456 B OpenCL max allocation was reported on a QCS8550 (Adreno 740): it refused
    MLC's Qwen1.5-7B q4f16_0 (a 311,164,928 B token embedding) on an Adreno 750 — the very build MLC
    ran there at 11 tok/s (relax PR #319, runtime-measurements.csv) — and Qwen2.5-7B's on a Pixel 9's
    Mali GPU, which no source reports it for. An Adreno 740 phone still meets it."""
    s24 = catalog.device("galaxy-s24-ultra")
    assert "Adreno 750" in s24.gpu.name
    assert _opencl_breaches(catalog, s24, "qwen1.5-7b-chat", "q4f16_0") == []
    pixel = catalog.device("pixel-9")
    assert "Mali" in pixel.gpu.name
    assert _opencl_breaches(catalog, pixel, "qwen2.5-7b-instruct", "q4f16_1") == []
    s23 = s24.model_copy(update={"id": "galaxy-s23-like", "gpu": s24.gpu.model_copy(update={"name": "Qualcomm Adreno 740"})})
    assert _opencl_breaches(catalog, s23, "qwen1.5-7b-chat", "q4f16_0") == [("token_embd.weight", 311164928, 268435456)]


# --------------------------------------------------------------------------- tiers keep the devices a pick runs on


def test_a_tier_keeps_the_devices_the_pick_runs_on(catalog):
    """The 8 GB phones under the browser target: Gemma 3 1B q4f16_1 on WebLLM runs in Safari on the
    iPhones (1.40 GiB tab, 1 GB buffers) and on no Android one (its 144 MiB embedding array exceeds
    Chrome's 128 MiB binding). The iPhones, with the least budget, were left out first ("nothing that
    passes on the rest of its tier passes here"), then the Androids, and the tier had no pick while
    devices-for said all three iPhones meet it."""
    from advisor.engine.recommend import Constraints
    from advisor.engine.tiers import tiers
    from advisor.records import Workload

    phones = [d for d in catalog.devices.values() if d.device_class == "phone"]
    c = Constraints(runtimes=frozenset({"mlc"}), quant_ids=frozenset({"q4f16_1"}), model_ids=frozenset({"gemma-3-1b-it"}))
    (eight,) = [t for t in tiers(phones, catalog.target("browser"), Workload(), catalog, c) if t.tier_gib == 8]
    iphones = {d.id for d in phones if "ios" in d.platforms and d.memory.ram == 8 * 1024**3}
    assert eight.model_id == "gemma-3-1b-it"
    assert {d.id for d in eight.devices} == iphones
    left = {lo.device.id: lo.why for lo in eight.left_out}
    assert iphones.isdisjoint(left)
    assert left["pixel-8"].kind == "limit" and left["pixel-8"].category == "maxStorageBufferBindingSize of Chrome (Android)"


@pytest.mark.parametrize(("limit_id", "text"), [
    ("play-ai-pack", "play-ai-pack (1.5 GB = 1.40 GiB, hard)"),  # what --max-download 1.5e9 stays within
    ("play-base-aab", "play-base-aab (200 MB = 190.73 MiB, hard)"),
    ("play-app-total", "play-app-total (4 GB = 3.73 GiB, hard)"),
])
def test_a_store_limit_is_shown_in_the_units_of_the_download_beside_it(catalog, limit_id, text):
    """Play's '1.5 GB' is 1.5e9 B: beside a 1.45 GiB download (which --max-download 1.5GB, 1.5 GiB,
    let through) '1.5 GB' alone read as larger than it is."""
    from advisor.wording import limit_id_text

    (lim,) = [x for x in catalog.target("android-app").download_limits if x.id == limit_id]
    assert limit_id_text(lim) == text

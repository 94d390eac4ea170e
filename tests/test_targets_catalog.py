"""catalog/targets.toml: the five targets load, each target's memory budget on named profiles
equals the figure of deployment-targets.md, hosting rules, and the store/browser limits."""

import pytest

from advisor.errors import BadInputError
from advisor.units import GIB, MIB

TARGETS = ["server", "desktop-app", "ios-app", "android-app", "browser"]


@pytest.mark.catalog_data
def test_targets_present_with_sources(catalog):
    assert list(catalog.targets) == TARGETS
    for t in catalog.targets.values():
        assert t.source.strip() and t.memory.source.strip(), t.id
        for limit in (*t.download_limits, *t.allocation_limits):
            assert limit.source.strip(), (t.id, limit.id)
        for p in t.memory.published:
            assert p.source.strip(), (t.id, p.device)
        for rid in t.runtimes:
            assert set(catalog.runtime(rid).platforms) & set(t.runtime_platforms), (t.id, rid)


# (target, device, entitlement, expected bytes, expected rule text)
BUDGETS = [
    ("server", "raspberry-pi-5-8gb", False, None, "the device profile's usable memory"),
    ("server", "iphone-16-pro", False, 3.0e9, "the device profile's usable memory"),
    ("desktop-app", "macbook-air-m2-16gb", False, None, "the device profile's usable memory"),
    # iPhone 15 Pro: ≈ 3 GB → 6 GB (rtabmap PR #1446)
    ("ios-app", "iphone-15-pro", False, 3.0e9, "published: iPhone 15 Pro (8 GB), without the entitlement (unverified)"),
    ("ios-app", "iphone-15-pro", True, 6.0e9, "published: iPhone 15 Pro (8 GB), with the entitlement (unverified)"),
    # same 8 GB RAM: the published 8 GB figure applies
    ("ios-app", "iphone-16", True, 6.0e9, "published: iPhone 15 Pro (8 GB), with the entitlement (unverified)"),
    # iPads have no published figure: the planning rule 0.5 / 0.67 × RAM
    ("ios-app", "ipad-pro-m4-16gb", False, 8 * GIB, "50% of RAM"),
    ("ios-app", "ipad-pro-m4-16gb", True, int(16 * GIB * 0.67), "67% of RAM with the entitlement"),
    # Galaxy S23 (8 GB): "~4 GB out of 8 GB is available" (executorch issue #3599)
    ("android-app", "pixel-8", False, 4e9, "published: Galaxy S23 (8 GB) (unverified)"),
    ("android-app", "galaxy-s24-ultra", False, 6 * GIB, "50% of RAM"),
    ("android-app", "galaxy-a15-5g-4gb", False, 2 * GIB, "50% of RAM"),
]


@pytest.mark.parametrize("target_id,device_id,entitlement,expected,rule", BUDGETS)
@pytest.mark.catalog_data
def test_memory_budget(catalog, target_id, device_id, entitlement, expected, rule):
    device = catalog.device(device_id)
    budget = catalog.target(target_id).memory_budget(device, entitlement=entitlement)
    assert budget.bytes == (device.memory.usable if expected is None else int(expected))
    assert budget.rule == rule
    assert budget.source.strip()


@pytest.mark.parametrize("device_id,browser_id,expected,rule", [
    # iOS Safari: WebContent process ≈ 1.5 GB (WebKit PR #49472)
    ("iphone-16-pro", "safari-ios", int(1.5e9), "Safari (iOS / iPadOS) tab limit"),
    ("macbook-air-m2-16gb", "chrome-desktop", None, "the device profile's usable memory"),
    ("pixel-8", "chrome-android", None, "the device profile's usable memory"),
])
@pytest.mark.catalog_data
def test_browser_budget_is_capped_by_the_tab_limit(catalog, device_id, browser_id, expected, rule):
    target = catalog.target("browser")
    device = catalog.device(device_id)
    browser = target.browser(browser_id)
    assert browser in target.browsers_for(device)
    budget = target.memory_budget(device, browser=browser)
    assert budget.bytes == (device.memory.usable if expected is None else expected)
    assert budget.rule == rule


def test_entitlement_outside_ios_is_refused(catalog):
    with pytest.raises(BadInputError) as exc:
        catalog.target("android-app").memory_budget(catalog.device("pixel-8"), entitlement=True)
    assert str(exc.value) == "target android-app has no memory entitlement; drop the entitlement or use ios-app"


@pytest.mark.parametrize("target_id,device_id,hosts", [
    ("ios-app", "iphone-16-pro", True),
    ("ios-app", "ipad-air-m2-8gb", True),
    ("ios-app", "raspberry-pi-5-8gb", False),
    ("ios-app", "pixel-8", False),
    ("android-app", "galaxy-s24-ultra", True),
    ("android-app", "iphone-16", False),
    ("desktop-app", "macbook-air-m1-8gb", True),
    ("desktop-app", "iphone-16", False),
    ("browser", "pixel-9", True),
    ("browser", "raspberry-pi-5-8gb", False),
    ("server", "raspberry-pi-5-8gb", True),
])
def test_which_devices_a_target_hosts(catalog, target_id, device_id, hosts):
    assert catalog.target(target_id).hosts(catalog.device(device_id)) is hosts


@pytest.mark.parametrize("device_id,browsers", [
    ("pixel-8", ["chrome-android"]),
    ("iphone-16-pro", ["safari-ios"]),
    ("macbook-air-m2-16gb", ["chrome-desktop", "safari-macos", "firefox"]),
    ("desktop-rtx4090-24gb", ["chrome-desktop", "firefox"]),
])
def test_browsers_per_device(catalog, device_id, browsers):
    assert [b.id for b in catalog.target("browser").browsers_for(catalog.device(device_id))] == browsers


@pytest.mark.parametrize("target_id,limit_id,max_bytes,kind", [
    ("ios-app", "app-store-cellular", 200e6, "soft"),
    ("ios-app", "app-store-app", 4e9, "hard"),
    ("ios-app", "on-demand-resources-pack", 8e9, "hard"),
    ("android-app", "play-base-aab", 200e6, "hard"),
    ("android-app", "play-ai-pack", 1.5e9, "hard"),
    ("android-app", "play-app-total", 4e9, "hard"),
])
@pytest.mark.catalog_data
def test_download_limits(catalog, target_id, limit_id, max_bytes, kind):
    limit = next(d for d in catalog.target(target_id).download_limits if d.id == limit_id)
    assert limit.max_bytes == int(max_bytes) and limit.kind == kind


@pytest.mark.parametrize("browser_id,buffer,binding,memory64,tab", [
    ("chrome-desktop", 1 * GIB, 1 * GIB, True, None),
    ("chrome-android", 256 * MIB, 128 * MIB, True, None),
    # WebKit's "capped at 1 GB": a limit published as GB is read as 10^9 B (targets.toml's rule), not 1 GiB
    ("safari-ios", int(1e9), int(1e9), False, int(1.5e9)),
    ("safari-macos", int(1e9), int(1e9), False, None),
    ("firefox", 256 * MIB, 128 * MIB, True, None),
])
@pytest.mark.catalog_data
def test_browser_limits(catalog, browser_id, buffer, binding, memory64, tab):
    b = catalog.target("browser").browser(browser_id)
    assert (b.max_buffer_size, b.max_storage_buffer_binding_size, b.memory64, b.tab_memory_limit) == (buffer, binding, memory64, tab)
    assert b.wasm32_max == 4 * GIB


@pytest.mark.catalog_data
def test_webgpu_spec_defaults(catalog):
    limits = {a.id: a.max_bytes for a in catalog.target("browser").allocation_limits}
    assert limits == {"webgpu-max-buffer-default": 256 * MIB, "webgpu-storage-binding-default": 128 * MIB}


# (device, runtime, browser or None, usable backend ids in order)
BACKENDS = [
    ("iphone-16-pro", "mlx", None, ["metal"]),
    ("iphone-16-pro", "llama.cpp", None, ["cpu", "metal"]),
    ("galaxy-s24-ultra", "llama.cpp", None, ["cpu"]),  # Adreno left off llama.cpp's list
    ("galaxy-s24-ultra", "executorch", None, ["xnnpack", "qnn", "vulkan"]),
    ("pixel-8", "mlc", None, ["opencl"]),  # MLC's Android backend, though the profile's GPU API is Vulkan
    ("galaxy-a55", "mlc", None, []),
    ("desktop-rtx4090-24gb", "mlc", None, ["cuda", "vulkan"]),
    ("jetson-nano-4gb", "llama.cpp", None, ["cpu"]),
    ("raspberry-pi-5-8gb", "mlc", None, []),
    ("pixel-8", "mlc", "chrome-android", ["webgpu"]),
    ("galaxy-a55", "mlc", "chrome-android", []),  # Xclipse: not a Qualcomm/ARM GPU
    ("galaxy-a55", "wllama", "chrome-android", ["wasm"]),
    ("laptop-ryzen-7-7840u-16gb", "mlc", "chrome-desktop", ["webgpu"]),
    ("laptop-ryzen-7-7840u-16gb", "mlc", "firefox", ["webgpu"]),
    ("raspberry-pi-5-8gb", "mlc", "chrome-desktop", []),  # no GPU in the profile
    ("iphone-16-pro", "llama.cpp", "safari-ios", []),  # native llama.cpp does not run in a page
]


@pytest.mark.parametrize("device_id,runtime_id,browser_id,expected", BACKENDS)
def test_usable_backends(catalog, device_id, runtime_id, browser_id, expected):
    browser = catalog.target("browser").browser(browser_id) if browser_id else None
    backends = catalog.runtime(runtime_id).usable_backends(catalog.device(device_id), browser)
    assert [b.id for b in backends] == expected


def test_targets_listing_shows_a_limit_only_where_one_of_its_runtimes_ships(catalog):
    """ONNX's 2 GB protobuf limit concerns ort-genai, which no browser tab runs: 'advisor targets'
    listed it under the browser target all the same."""
    from advisor.listings import target_rows

    rows = {r["id"]: r for r in target_rows(catalog)}
    assert "onnx-protobuf" not in rows["browser"]["download_limits"]
    assert "single-arraybuffer 2 GB (wllama, executorch, litert-lm)" in rows["browser"]["download_limits"]
    assert rows["android-app"]["download_limits"] == "play-base-aab 200 MB; play-ai-pack 1.5 GB; play-app-total 4 GB"

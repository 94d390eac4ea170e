"""Deployment targets in the engine: budgets, runtimes, per-buffer limits, downloads, tiers."""

import pytest

from advisor.engine.evaluate import evaluate
from advisor.engine.recommend import Constraints, recommend
from advisor.engine.runtimes import resolve_variant
from advisor.engine.targets import deploy, limit_breaches
from advisor.engine.tiers import tier_of, tiers
from advisor.errors import BadInputError
from advisor.records import Workload
from advisor.units import GIB, MIB
from advisor.wording import reason_text


def _deploy(catalog, target, device, **kw):
    return deploy(catalog.target(target), catalog.device(device), targets=list(catalog.targets.values()), **kw)


@pytest.mark.parametrize(
    ("target", "device", "entitlement", "budget_gib"),
    [
        ("server", "raspberry-pi-5-8gb", False, 7.5),  # the profile's own usable memory
        ("ios-app", "iphone-15-pro", False, 3.0e9 / GIB),  # published, without the entitlement
        ("ios-app", "iphone-15-pro", True, 6.0e9 / GIB),  # published, with it
        ("android-app", "galaxy-s24-ultra", False, 6.0),  # 50 % of 12 GB
    ],
)
def test_budget_becomes_the_usable_memory(catalog, target, device, entitlement, budget_gib):
    dep = _deploy(catalog, target, device, entitlement=entitlement)
    assert dep.device.memory.usable / GIB == pytest.approx(budget_gib, rel=1e-6)
    assert dep.device.memory.usable <= dep.device.memory.ram


@pytest.mark.parametrize(
    ("target", "device", "kw", "message"),
    [
        ("ios-app", "raspberry-pi-5-8gb", {}, "the iOS / iPadOS app target cannot run on Raspberry Pi 5 (8 GB) (its OS: "
                                              "linux); targets for this device: Server / command line (server), Desktop app "
                                              "(desktop-app)"),
        ("android-app", "galaxy-s24-ultra", {"entitlement": True}, "target android-app has no memory entitlement"),
        # the browsers named as the dashboard's selectbox names them, with the id --browser takes
        ("browser", "pixel-8", {"browser_id": "safari-ios"}, "browser 'safari-ios' does not run on Google Pixel 8; its browsers: "
                                                             "Chrome (Android) (chrome-android)"),
    ],
)
def test_bad_deployments_are_one_clear_error(catalog, target, device, kw, message):
    with pytest.raises(BadInputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        _deploy(catalog, target, device, **kw)


def test_webgpu_binding_limit_rejects_a_tensor_whatever_the_ram(catalog):
    """Gemma 3 1B's token embedding in MLC q4f16_1 is 262,144 × 1,152 values at 4 bits = 144 MiB in its
    q_weight array (its fp16 scales, 18 MiB, are an array of their own): over Chrome-on-Android's
    128 MiB storage binding, however much RAM the phone has. Llama-3.2-1B's, 128,256 × 2,048 at 4
    bits = 125.25 MiB, binds (the 141 MiB of values and scales together did not, before the arrays
    were counted apart)."""
    dep = _deploy(catalog, "browser", "pixel-8")
    assert dep.browser.id == "chrome-android"
    v = resolve_variant(catalog, dep.device, "mlc", "q4f16_1", backend_id="webgpu", deployment=dep)
    model = catalog.models["gemma-3-1b-it"]
    est = evaluate(model, v.format, dep.device, Workload(), catalog, variant=v)
    assert est.fit == "fits"
    (breach,) = limit_breaches(est, model, v.format, v, dep, catalog)
    assert (breach.what, breach.limit, breach.limit_bytes) == ("token_embd.weight", "maxStorageBufferBindingSize", 128 * MIB)
    assert breach.bytes == 262144 * 1152 // 2
    rec = recommend(dep.device, Workload(), catalog, Constraints(deployment=dep, runtimes=frozenset({"mlc"}), quant_ids=frozenset({"q4f16_1"}),
                                                                  model_ids=frozenset({"gemma-3-1b-it"})))
    assert rec.pick is None
    assert rec.rejected[0].reason == "limit"
    assert "token_embd.weight exceeds the 128.00 MiB maxStorageBufferBindingSize of Chrome (Android)" in reason_text(rec.rejected[0].why)
    # the 3-bit build's embedding values (3.2 bits packed: 116 MiB) bind on the same phone
    rec3 = recommend(dep.device, Workload(), catalog, Constraints(deployment=dep, runtimes=frozenset({"mlc"}), quant_ids=frozenset({"q3f16_1"}),
                                                                   model_ids=frozenset({"gemma-3-1b-it"})))
    assert rec3.pick is not None and rec3.pick.quant_id == "q3f16_1"
    llama = catalog.models["llama-3.2-1b-instruct"]
    est_l = evaluate(llama, v.format, dep.device, Workload(), catalog, variant=v)
    assert limit_breaches(est_l, llama, v.format, v, dep, catalog) == []
    # a desktop Chrome adapter grants 1 GiB bindings: the Gemma build runs there
    desk = _deploy(catalog, "browser", "macbook-air-m2-16gb")
    v2 = resolve_variant(catalog, desk.device, "mlc", "q4f16_1", backend_id="webgpu", deployment=desk)
    est2 = evaluate(model, v2.format, desk.device, Workload(), catalog, variant=v2)
    assert limit_breaches(est2, model, v2.format, v2, desk, catalog) == []


def test_download_limit_rejects(catalog):
    dep = _deploy(catalog, "android-app", "galaxy-s24-ultra")
    c = Constraints(deployment=dep, max_download_bytes=1_000_000_000, model_ids=frozenset({"qwen3-4b"}))
    rec = recommend(dep.device, Workload(), catalog, c)
    assert rec.pick is None
    assert rec.rejected[0].reason == "download"
    assert reason_text(rec.rejected[0].why).startswith("download ")


@pytest.mark.parametrize(("ram_gib", "tier"), [(3.8, 4), (4.0, 4), (5.6, 6), (7.5, 8), (10.0, 8), (11.0, 12), (12.0, 12), (0.5, 1)])
def test_tier_of(ram_gib, tier):
    assert tier_of(int(ram_gib * GIB)) == tier


def test_tiers_pick_runs_on_every_device_of_its_tier(catalog):
    phones = [d for d in catalog.devices.values() if d.device_class == "phone"]
    out = tiers(phones, catalog.target("android-app"), Workload(), catalog, Constraints(min_decode_tps=5))
    assert [t.tier_gib for t in out] == sorted(t.tier_gib for t in out)
    iphones = {lo.device.id for t in out for lo in t.left_out}
    assert {"iphone-15-pro", "iphone-16-pro", "iphone-16"} <= iphones  # android-app cannot host them
    for t in out:
        if t.model_id is None:
            continue
        assert len(t.estimates) == len(t.devices) > 0
        for d, e in zip(t.devices, t.estimates):
            assert e.model_id == t.model_id and e.quant_id == t.format_id and e.fit in ("fits", "tight")
            assert e.speed.decode_tokens_per_s >= 5
        assert t.slowest.speed.decode_tokens_per_s == min(e.speed.decode_tokens_per_s for e in t.estimates)
        assert t.download_bytes >= t.estimates[0].memory.weights_bytes


def test_store_limits_listed_only_for_the_runtimes_they_concern(catalog):
    """A >2 GB MLC build is sharded (params_shard_*.bin): neither the one-ArrayBuffer limit nor
    ONNX's protobuf limit concerns it; a >2 GB GGUF in wllama meets the ArrayBuffer one only."""
    from advisor.engine.recommend import Constraints
    from advisor.engine.tiers import tiers
    from advisor.records import Workload

    target = catalog.target("browser")
    laptop = [catalog.device("macbook-air-m2-16gb")]
    seen = {}
    for runtime in ("mlc", "wllama"):
        c = Constraints(runtimes=frozenset({runtime}), model_ids=frozenset({"qwen3-8b"}), target_decode_tps=0.0)
        (pick,) = tiers(laptop, target, Workload(2048, 256, 128), catalog, c)
        assert pick.model_id == "qwen3-8b" and pick.download_bytes > 2e9, (runtime, pick)
        seen[runtime] = " ".join(lim.what for lim in pick.store_limits_exceeded)
    assert "ArrayBuffer" not in seen["mlc"] and "ONNX" not in seen["mlc"]
    assert "ArrayBuffer" in seen["wllama"] and "ONNX" not in seen["wllama"]


def test_a_budget_measured_on_another_device_is_derived_and_an_unverified_one_estimated(catalog):
    """A figure measured on one device and applied to another of its RAM is derived there (the
    report's legend defines measured as 'from a run on the device'). A figure the reference marks
    unverified (the iPhone 15 Pro's rounded '≈ 3 GB', the Galaxy S23's one report) is an estimate
    everywhere, and its rule says so: it was shown 'measured' on the iPhone 15 Pro."""
    ios = catalog.target("ios-app")
    pixel = catalog.target("android-app").memory_budget(catalog.device("pixel-8"))
    assert pixel.rule.startswith("published: Galaxy S23") and pixel.rule.endswith("(unverified)") and pixel.basis == "estimated"
    for device in ("iphone-15-pro", "iphone-16"):
        budget = ios.memory_budget(catalog.device(device))
        assert budget.rule.startswith("published: iPhone 15 Pro") and "(unverified)" in budget.rule, device
        assert budget.basis == "estimated", device
    verified = next(p for p in ios.memory.published if p.verified)  # iPhone 13 Pro: os_proc_available_memory
    six = next(d for d in catalog.devices.values() if verified.applies_to(d) and d.id not in verified.profiles)
    budget = ios.memory_budget(six)
    assert budget.rule.startswith(f"published: {verified.device}") and budget.basis == "derived"


def test_mlc_native_gpu_allocates_within_its_share_and_metal_caps_its_kv_capacity(capsys):
    """MLC refuses to load beyond gpu_memory_utilization 0.85 of the GPU memory it detects
    (cpp/serve/config.h; a Pixel 8 Pro failed at 4,352 MB, mlc-llm #2703) and caps its KV capacity
    at 32,768 tokens on Metal: Qwen2.5-7B q4f16_1 (5.07 GiB) on an 8 GB MacBook Air (5.33 GiB usable)
    'tight' before, and a 65,536-token context accepted with a 2 GiB KV cache."""
    import json

    from advisor.cli import main

    args = ["predict", "--runtime", "mlc", "--quant", "q4f16_1", "--format", "json"]
    assert main(args + ["--model", "qwen2.5-7b-instruct", "--device", "macbook-air-m2-8gb"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["fit"] == "no" and d["memory"]["usable_bytes"] < 0.86 * 5.34 * 2**30 + 101 * 2**20
    assert any("allocates within 85% of the GPU memory" in n for n in d["notes"])
    assert main(args + ["--model", "llama-3.2-1b-instruct", "--device", "macbook-air-m2-16gb", "--context", "65536"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["runs_here"] is False and [b["kind"] for b in d["blocked_by"]] == ["runtime_context"]
    # WebGPU's allocations are the browser's: no share there
    assert main(args + ["--model", "llama-3.2-1b-instruct", "--device", "macbook-air-m2-16gb", "--target", "browser"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert not any("GPU memory it detects" in n for n in d.get("notes", []))


def test_a_context_beyond_the_models_native_length_is_its_reason_not_memory(catalog):
    """At 262,144 tokens Qwen2.5-1.5B (native 32,768) also does not fit a Pi 5's 7.5 GiB, but no device
    or format lifts its context: the rejection says so (before, 'does not fit: needs 7.89 GiB')."""
    rec = recommend(catalog.device("raspberry-pi-5-8gb"), Workload(context_tokens=262_144), catalog)
    by_model = {r.model_id: r for r in rec.rejected}
    miss = by_model["qwen2.5-1.5b-instruct"]
    assert miss.why.kind == "context" and miss.why.limit == 32_768
    assert "exceeds its native 32,768 tokens" in reason_text(miss.why)
    # a model whose context allows it is still rejected for memory
    est = evaluate(catalog.model("qwen2.5-1.5b-instruct"), catalog.file_type("Q4_K_M"), catalog.device("raspberry-pi-5-8gb"),
                   Workload(context_tokens=32_768 * 8), catalog)
    assert est.fit == "no"


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


def test_wllama_stops_at_its_builds_heap_not_at_chromes_memory64_cap(catalog):
    """wllama 3.13.0's build grows its WebAssembly heap to 4 GiB at most (esm/index.js getHeapMax),
    Memory64 or not: a 4.98 GiB Qwen2.5-7B Q4_K_M process cannot run in desktop Chrome, whose own
    Memory64 cap (16 GiB) it was checked against before; a 3B model's 2.4 GiB still runs."""
    dep = _deploy(catalog, "browser", "laptop-ryzen-7-7840u-16gb", browser_id="chrome-desktop")
    assert dep.browser.memory64 and dep.browser.memory64_max == 16 * GIB
    v = resolve_variant(catalog, dep.device, "wllama", "Q4_K_M", deployment=dep)
    assert v.runtime.wasm_heap_max == 4 * GIB
    big = catalog.models["qwen2.5-7b-instruct"]
    est = evaluate(big, v.format, dep.device, Workload(), catalog, variant=v)
    (breach,) = limit_breaches(est, big, v.format, v, dep, catalog)
    assert (breach.kind, breach.limit_bytes, breach.bytes) == ("wasm", 4 * GIB, est.memory.total_bytes)
    assert breach.limit == "heap wllama's build allows in the 64-bit WebAssembly memory"
    small = catalog.models["qwen2.5-3b-instruct"]
    est_s = evaluate(small, v.format, dep.device, Workload(), catalog, variant=v)
    assert est_s.memory.total_bytes < 4 * GIB and limit_breaches(est_s, small, v.format, v, dep, catalog) == []

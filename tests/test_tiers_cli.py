"""advisor tiers: what to ship per RAM tier under a deployment target — golden output, the JSON
against the engine's own figures, constraints that change the pick, bad input rows (exit 1) and
nothing fits (exit 3)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.wording import NO_TIER_PICK

GOLDEN = Path(__file__).resolve().parent / "golden" / "tiers"


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory, monkeypatch):
    """No calibrations from other tests: the goldens see the shipped data only."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "tiers-home"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def android_phones(tmp_path_factory):
    """`advisor tiers --target android-app --class phone --format json`, run once."""
    with pytest.MonkeyPatch.context() as mp, pytest.MonkeyPatch.context():
        mp.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "tiers-home"))
        buf = io.StringIO()
        mp.setattr("sys.stdout", buf)
        code = main(["tiers", "--target", "android-app", "--class", "phone", "--format", "json"])
    assert code == 0
    return json.loads(buf.getvalue())


@pytest.mark.parametrize("name, args", [
    ("android-phones.md", ["--target", "android-app", "--class", "phone", "--format", "md"]),
    ("ios-entitlement.csv", ["--target", "ios-app", "--devices", "iphone-15-pro,iphone-16,iphone-16-pro",
                             "--entitlement", "increased-memory", "--format", "csv"]),
])
def test_golden(capsys, update_golden, name, args):
    code, out, err = run(capsys, "tiers", *args)
    assert code == 0, err
    path = GOLDEN / name
    if update_golden or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8"), f"{path} differs; rerun with --update-golden if the change is intended"


def test_json_tiers_match_the_engine(android_phones, catalog):
    """Each tier's figures are those of the engine's estimates for its pick, device by device."""
    from advisor.engine import targets as tg
    from advisor.engine.evaluate import evaluate
    from advisor.engine.runtimes import format_of, variant_of
    from advisor.records import Workload

    data = android_phones
    assert data["schema"] == "edge-model-advisor/tiers" and data["schema_version"] == 1
    tiers = data["tiers"]
    assert [t["tier_gib"] for t in tiers] == sorted(t["tier_gib"] for t in tiers)
    target = catalog.target("android-app")
    seen = {d["device"] for d in data["not_hosting"]}  # the iPhones: no candidates of an android-app
    assert {d["platforms"][0] for d in data["not_hosting"]} == {"ios"}
    for t in tiers:
        for lo in t["left_out"]:
            seen.add(lo["device"])
        seen.update(t["devices"])
        if t["pick"] is None:
            continue
        per = {p["device"]: p for p in t["per_device"]}
        assert set(per) == set(t["devices"])
        # the slowest device is the one with the lowest decode, the tightest the one with least headroom
        assert t["slowest"]["decode_tokens_per_s"] == min(p["decode_tokens_per_s"] for p in per.values())
        assert t["tightest"]["headroom_bytes"] == min(p["usable_bytes"] - p["total_bytes"] for p in per.values())
        for p in per.values():
            assert p["total_bytes"] <= p["usable_bytes"]
            dev = tg.deploy(target, catalog.device(p["device"]), targets=list(catalog.targets.values()))
            assert p["usable_bytes"] == dev.device.memory.usable  # the target's budget, not 75 % of RAM
        # re-evaluate the pick on its slowest device: the same total and the same download
        first = catalog.device(t["slowest"]["device"])
        dep = tg.deploy(target, first, targets=list(catalog.targets.values()))
        model = catalog.model(t["pick"]["model"])
        runtime = catalog.runtime(t["pick"]["runtime"])
        from advisor.engine.runtimes import resolve_variant

        variant = resolve_variant(catalog, dep.device, runtime.id, t["pick"]["format"], None, dep)  # its default backend there
        est = evaluate(model, variant.format, dep.device, Workload(), catalog, variant=variant)
        assert est.memory.total_bytes == per[first.id]["total_bytes"]
        assert format_of(est, catalog).id == t["pick"]["format"]
        assert t["download_bytes"] == tg.download_bytes(est, variant_of(est, catalog), catalog)
        exceeded = [lim for lim in target.download_limits if t["download_bytes"] > lim.max_bytes]
        assert len(t["store_limits_exceeded"]) == len(exceeded)
        assert t["store_limit_ids"] == [lim.id for lim in exceeded]  # the table's ids, beside the descriptions
    phones = {d.id for d in catalog.devices.values() if d.device_class == "phone"}
    assert seen == phones  # every phone is in a tier or left out of one, with a reason
    assert not [lo for t in tiers for lo in t["left_out"] if lo["device"].startswith("iphone")]


def test_a_named_device_that_cannot_host_the_target_is_left_out_with_the_reason(capsys):
    code, out, err = run(capsys, "tiers", "--target", "android-app", "--devices", "iphone-16,pixel-8", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    left = [lo for t in data["tiers"] for lo in t["left_out"]]
    assert [lo["device"] for lo in left] == ["iphone-16"] and "cannot run on" in left[0]["reason"]
    assert data["not_hosting"] == []


def test_a_device_named_twice_counts_once(capsys):
    """'--devices a,a' made '1 tier of 2 devices', the device listed twice."""
    code, out, err = run(capsys, "tiers", "--target", "server", "--devices", "raspberry-pi-5-8gb,raspberry-pi-5-8gb",
                         "--devices", "raspberry-pi-5-8gb", "--format", "json")
    assert code == 0, err
    assert [d for t in json.loads(out)["tiers"] for d in t["devices"]] == ["raspberry-pi-5-8gb"]


def test_max_download_changes_the_pick(capsys, android_phones):
    """--max-download 1GB (JEDEC: 1 GiB): every pick downloads at most that (the default picks are larger)."""
    assert any(t["download_bytes"] and t["download_bytes"] > 10**9 for t in android_phones["tiers"])
    code, out, err = run(capsys, "tiers", "--target", "android-app", "--class", "phone", "--max-download", "1GB", "--format", "json")
    assert code == 0, err
    picks = [t for t in json.loads(out)["tiers"] if t["pick"]]
    assert picks and all(t["download_bytes"] <= 1024**3 for t in picks)


def test_runtime_narrows_the_choice(capsys):
    code, out, err = run(capsys, "tiers", "--target", "android-app", "--class", "phone", "--runtime", "llama.cpp", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["runtime"].startswith("llama.cpp/") for r in rows if r["model"] != NO_TIER_PICK)


def test_table_has_every_tier(capsys, android_phones):
    code, out, err = run(capsys, "tiers", "--target", "android-app", "--class", "phone")
    assert code == 0, err
    assert "What to ship per RAM tier, android-app" in out
    for t in android_phones["tiers"]:
        assert f"{t['tier_gib']} GB" in out


def test_nothing_fits_exit_3(capsys):
    code, out, err = run(capsys, "tiers", "--target", "android-app", "--class", "phone", "--min-tps", "500", "--format", "csv")
    assert code == 3
    assert err.startswith("Error: no RAM tier has a model that fits all its devices under android-app")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["model"] == NO_TIER_PICK and r["left_out"] != "-" for r in rows)


def test_an_impossible_speed_is_the_reason_not_a_few_mib_of_memory(capsys):
    """--min-tps 100000: every model is far too slow; the closest miss was 'does not fit: 4 MiB
    more' of a model that would also be 300x too slow (recommend judges the speed of a candidate
    that does not fit; tiers did not)."""
    code, out, err = run(capsys, "tiers", "--target", "desktop-app", "--class", "laptop", "--min-tps", "100000", "--format", "json")
    assert code == 3, err
    reasons = [r for t in json.loads(out)["tiers"] for r in t["left_out"]]
    assert reasons and all(r["kind"] == "speed" for r in reasons), {r["kind"] for r in reasons}


@pytest.mark.parametrize("args, message", [
    (["--target", "nope", "--class", "phone"], "Error: unknown target 'nope'"),
    (["--target", "ios-app", "--class", "sbc"], "Error: no device of class sbc can host the ios-app target"),
    (["--target", "android-app", "--class", "phone", "--entitlement", "increased-memory"],
     "Error: target android-app has no memory entitlement; drop --entitlement or use --target ios-app"),
    (["--target", "android-app"], "Error: name the devices with exactly one of --class CLASS or --devices ID,ID,…"),
    (["--target", "android-app", "--class", "phone", "--devices", "pixel-8"],
     "Error: name the devices with exactly one of --class CLASS or --devices ID,ID,…"),
    (["--target", "android-app", "--class", "fridge"], "Error: unknown device class 'fridge'"),
    (["--target", "android-app", "--devices", ",,"],  # it said to give --devices, which was given
     "Error: --devices is empty; give device ids, e.g. --devices pixel-8,pixel-9 (see 'advisor devices')"),
    (["--target", "android-app", "--devices", "pixel-8,no-such-phone"], "Error: unknown device"),
    (["--target", "android-app", "--class", "phone", "--browser", "firefox"],
     "Error: --browser applies to the browser target, not android-app"),
    (["--target", "browser", "--class", "phone", "--browser", "netscape"], "Error: unknown browser 'netscape'"),
    (["--target", "ios-app", "--class", "phone", "--runtime", "litert-lm"], "Error: the ios-app target does not run litert-lm"),
    (["--target", "android-app", "--class", "phone", "--runtime", "nope"], "Error: unknown runtime"),
    (["--target", "android-app", "--class", "phone", "--max-download", "lots"], "Error: "),
])
def test_bad_input_exit_1(capsys, args, message):
    code, out, err = run(capsys, "tiers", *args)
    assert code == 1, (out, err)
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("width", [120, 160, 200, 240])
def test_the_table_fits_the_terminal_and_loses_no_word(capsys, monkeypatch, width):
    """rich spread the free-text columns wider than the terminal and the console cut each line's
    end: at 200 columns 'iphone-16: not an android-app host (ios)' printed as 'not an android'."""
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = run(capsys, "tiers", "--target", "android-app", "--class", "phone")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= width
    table = out.split("What to ship per RAM tier", 1)[1]
    monkeypatch.setenv("COLUMNS", "100000")
    _, wide, _ = run(capsys, "tiers", "--target", "android-app", "--class", "phone", "--format", "csv")
    left_out = [w for row in csv.DictReader(io.StringIO(wide)) for w in row["left_out"].split()]
    shown = table.split()
    assert left_out and all(shown.count(w) >= left_out.count(w) for w in set(left_out))


def test_json_figures_are_rounded_as_the_other_commands_round_them(capsys):
    code, out, _ = run(capsys, "tiers", "--target", "android-app", "--class", "phone", "--format", "json")
    assert code == 0
    import re

    assert "decode_tokens_per_s" in out and not re.findall(r"\d+\.\d{5,}", out)  # was 7.1179939515640385


@pytest.mark.parametrize("target, device", [
    ("browser", "galaxy-a15-5g-4gb"),  # MLC q4f16_0 and q4f16_1 tie there: tiers took the first by name
    ("browser", "pixel-8"),
    ("android-app", "pixel-9"),
    ("ios-app", "iphone-15-pro"),
    ("desktop-app", "macbook-air-m2-16gb"),
])
def test_a_tier_of_one_device_picks_what_recommend_picks_there(capsys, target, device):
    """Of candidates that tie on the ranking key, tiers and recommend take the same one (the
    catalog's order)."""
    code, out, _ = run(capsys, "tiers", "--target", target, "--devices", device, "--format", "json")
    assert code == 0
    (tier,) = json.loads(out)["tiers"]
    code, out, _ = run(capsys, "recommend", "--target", target, "--device", device, "--format", "json", "--top", "1")
    assert code == 0
    pick = json.loads(out)["pick"]
    assert (tier["pick"]["model"], tier["pick"]["runtime"], tier["pick"]["format"]) == (pick["model"], pick["runtime"], pick["quant"])


def test_a_device_none_of_the_runtimes_runs_on_is_left_out_for_that(capsys):
    """The Galaxy A55 has no WebGPU in Chrome (Android): under a browser tab with MLC alone it is left
    out because no runtime asked for runs there, as devices-for says (it read "nothing that passes on
    the rest of its tier passes here")."""
    from advisor.cli import main

    assert main(["tiers", "--target", "browser", "--runtime", "mlc", "--class", "phone", "--format", "json"]) in (0, 3)
    out = json.loads(capsys.readouterr().out)
    reasons = [(lo["reason"], lo["kind"]) for t in out["tiers"] for lo in t["left_out"] if lo["device"] == "galaxy-a55"]
    assert reasons == [("none of the requested runtimes runs on this device", "runtime")]

"""advisor report with runtimes and deployment targets: the requirement fields (file and options),
their errors naming file and field, rows carrying runtime/backend/format, candidates rejected in
a runtime's own format, the target's budget as each device's usable memory, and the section
"What to ship per RAM tier" against ``engine.tiers``."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.wording import NO_TIER_PICK

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "examples" / "requirements-android-app.toml"
GOLDEN = ROOT / "tests" / "golden" / "report"


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-targets-home"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def android(tmp_path_factory):
    """The Android-app example's report data, built once."""
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.requirements import load_requirements

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-targets-home"))
        return build_report(load_requirements(ANDROID), load_catalog())


def test_android_rows_carry_runtime_backend_format(android, catalog):
    from advisor.engine import targets as tg

    rows = android.comparison
    assert rows and all(r["runtime"] and r["backend"] and r["format"] for r in rows if r["quant"])
    # runtime = "all": each row is the model's best over every runtime the target runs (the
    # engine's own runtime comparison), not llama.cpp's best
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints, recommend
    from advisor.records import Workload
    from advisor.units import parse_size

    seen = set()
    for r in rows[:8]:
        dep = tg.deploy(catalog.target("android-app"), catalog.device(r["device"]), targets=list(catalog.targets.values()))
        c = Constraints(min_decode_tps=8, model_ids=frozenset({r["model"]}), runtimes=ALL_RUNTIMES, deployment=dep,
                        max_download_bytes=parse_size("1.5GB"))
        rec = recommend(dep.device, Workload(4096, 512, 256), catalog, c)
        assert rec.pick is not None and (rec.pick.runtime, rec.pick.quant_id) == (r["runtime"], r["format"])
        seen |= {o.runtime for o in rec.runtime_choice.options}
    assert seen >= {"llama.cpp", "litert-lm", "executorch", "mlc"}  # the others were weighed
    target = catalog.target("android-app")
    for r in rows:
        if r["runtime"] == "llama.cpp":
            assert r["format"] == r["quant"] and r["quant"] in catalog.file_types
        else:
            assert catalog.runtime(r["runtime"]).find_format(r["format"]) is not None
        dep = tg.deploy(target, catalog.device(r["device"]), targets=list(catalog.targets.values()))
        assert r["usable_bytes"] == dep.device.memory.usable  # the target's budget, not the profile's share
    assert android.recommended["runtime"] and android.recommended["format"]
    assert all(r["runtime"] for r in android.ranking)


def test_phones_of_another_os_are_not_candidates_of_an_android_app(android, catalog):
    """The iPhones among "phone" devices cannot host an android-app: they are no candidates (the
    summary once counted "7 of 10 candidate devices" and spent its last sentence on them), and the
    assumptions name them."""
    iphones = {d.id for d in catalog.devices.values() if d.device_class == "phone" and "ios" in d.platforms}
    androids = {d.id for d in catalog.devices.values() if d.device_class == "phone" and "ios" not in d.platforms}
    assert iphones and androids
    assert not iphones & ({r["device"] for r in android.rejected_devices} | {r["device"] for r in android.comparison})
    assert android.n_candidate_devices == len(androids) and "iPhone" not in android.summary
    names = sorted(catalog.devices[i].name for i in iphones)
    assert any(f"Not candidates: {len(iphones)} devices of the requested classes that cannot host it" in a
               and all(n in a for n in names) for a in android.assumptions)


def test_a_named_device_that_cannot_host_the_target_is_rejected(capsys):
    code, out, err = run(capsys, "report", "--target", "android-app", "--device", "iphone-16", "--device", "pixel-8",
                         "--model", "qwen3-1.7b", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    rejected = {r["device"]: r for r in data["rejected_devices"]}
    assert "cannot run on" in rejected["iphone-16"]["summary"] and data["n_candidate_devices"] == 2


def test_a_device_no_requested_runtime_runs_on_says_so_as_devices_for_does(capsys):
    """The Galaxy A55's Chrome has no WebGPU, so MLC cannot run in its tab: the report said 'no
    candidate model' where devices-for and tiers say no requested runtime runs there."""
    code, out, err = run(capsys, "report", "--target", "browser", "--runtime", "mlc", "--device", "galaxy-a55", "--device", "pixel-8",
                         "--model", "gemma-3-1b-it", "--format", "json")
    assert code == 0, err
    rejected = {r["device"]: r for r in json.loads(out)["rejected_devices"]}
    assert rejected["galaxy-a55"]["summary"] == "none of the requested runtimes runs on this device"


def test_android_budget_in_evidence(android):
    budgets = [d for d in android.evidence["devices"] if d.get("target_budget")]
    assert budgets and all(d["target_budget"]["target"] == "android-app" and d["target_budget"]["source"] for d in budgets)


def test_android_tiers_match_the_engine(android, catalog):
    from advisor.engine.recommend import ALL_RUNTIMES, Constraints
    from advisor.engine.tiers import tiers
    from advisor.records import Workload

    phones = [d for d in catalog.devices.values() if d.device_class == "phone"]
    c = Constraints(min_decode_tps=8, model_ids=frozenset({"llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct", "qwen3-1.7b",
                                                           "gemma-3-1b-it"}),
                    runtimes=ALL_RUNTIMES, max_download_bytes=int(1.5 * 1024**3))
    expected = tiers(sorted(phones, key=lambda d: d.id), catalog.target("android-app"),
                     Workload(context_tokens=4096, prompt_tokens=512, output_tokens=256), catalog, c)
    got = android.tiers
    assert [t["tier_gib"] for t in got] == [p.tier_gib for p in expected]
    for t, p in zip(got, expected):
        assert (t["model"], t["runtime"], t["format"]) == (p.model_id, p.runtime, p.format_id)
        assert t["download_bytes"] == p.download_bytes and t["devices"] == [d.id for d in p.devices]
        if t["model"]:
            assert t["download_bytes"] <= 1.5 * 1024**3
            assert t["decode_tokens_per_s"] >= 8
            assert t["memory_bytes"] <= t["usable_bytes"]


def test_android_tiers_section_golden(capsys, update_golden):
    """The section as Markdown (a golden: the new section of this change)."""
    code, out, err = run(capsys, "report", "--requirements", ANDROID, "--format", "md")
    assert code == 0, err
    section = re.search(r"## What to ship per RAM tier\n.*?(?=\n## )", out, re.DOTALL)
    assert section is not None
    got = section.group(0) + "\n"
    path = GOLDEN / "android-app-tiers.md"
    if update_golden or not path.exists():
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"{path} differs; rerun with --update-golden if the change is intended"


def test_android_tiers_in_xlsx(android):
    """The XLSX has the section too: the Markdown table's columns, composite cells split into raw numbers."""
    openpyxl = pytest.importorskip("openpyxl")
    from advisor.report.render_xlsx import render_xlsx

    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(android)))
    assert wb.sheetnames[:4] == ["Summary", "Ranking", "What to ship per RAM tier", "Comparison"]
    rows = list(wb["What to ship per RAM tier"].iter_rows(values_only=True))
    assert list(rows[0]) == [
        "RAM tier (GB)", "devices", "device names", "model", "model name", "format", "runtime", "backend", "slowest decode (tok/s)",
        "slowest decode low (tok/s)", "slowest decode high (tok/s)", "slowest device", "memory (GiB)", "budget (GiB)",
        "tightest device", "download (GiB)", "store limits exceeded", "left out"]
    assert len(rows) - 1 == len(android.tiers)
    for got, t in zip(rows[1:], android.tiers):
        row = dict(zip(rows[0], got))
        assert row["RAM tier (GB)"] == t["tier_gib"] and row["devices"] == ", ".join(t["devices"])
        # names hold commas: a semicolon between devices
        assert row["device names"] == "; ".join(t["device_names"]) and len(t["device_names"]) == len(t["devices"])
        assert row["model"] == (t["model"] or NO_TIER_PICK) and row["model name"] == t["model_name"]
        if t["model"]:
            assert (row["format"], row["runtime"], row["backend"]) == (t["format"], t["runtime"], ", ".join(t["backends"]))
            assert row["slowest decode (tok/s)"] == t["decode_tokens_per_s"] and row["slowest device"] == t["slowest_device"]
            assert row["memory (GiB)"] == pytest.approx(t["memory_bytes"] / 1024**3)
            assert row["budget (GiB)"] == pytest.approx(t["usable_bytes"] / 1024**3)
            assert row["download (GiB)"] == pytest.approx(t["download_bytes"] / 1024**3)
            assert all(i in (row["store limits exceeded"] or "") for i in t["store_limit_ids"])
        assert all(x["device"] in row["left out"] for x in t["left_out"])


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_android_pdf_layout_has_no_collisions(android):
    """No caption under a chart, no word of a table broken (the tiers' long device names, "headroom")."""
    from test_report import pdf_layout_problems

    from advisor.report.render_pdf import render_pdf

    assert pdf_layout_problems(render_pdf(android), android) == []


@pytest.mark.parametrize("key", ["pareto", "cost_speed", "memory"])
def test_android_chart_labels_do_not_collide(android, key):
    """Seven phones, two pairs at one price: no label over another, a marker, the frontier or the legend."""
    from test_report import chart_overlaps

    from advisor.report.charts import mpl_figures

    assert chart_overlaps(mpl_figures(android)[key]) == []


def test_no_tiers_without_a_class(capsys):
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--device", "pixel-8", "--target", "android-app",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["tiers"] == [] and data["requirements"]["target"] == "android-app"
    assert "What to ship per RAM tier" not in run(capsys, "report", "--model", "qwen3-1.7b", "--device", "pixel-8",
                                                  "--target", "android-app")[1]


def test_options_ios_entitlement(capsys):
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--model", "qwen3-4b", "--class", "phone",
                         "--target", "ios-app", "--entitlement", "increased-memory", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["requirements"]["entitlement"] == "increased-memory"
    assert data["tiers"] and all(t["model"] is None or t["runtime"] for t in data["tiers"])
    assert {r["device"] for r in data["comparison"]} <= {"iphone-15-pro", "iphone-16", "iphone-16-pro"}


@pytest.mark.parametrize("args, target", [(("--browser", "chrome-android"), "browser"),
                                          (("--entitlement", "increased-memory"), "ios-app")])
def test_a_browser_or_entitlement_alone_implies_its_target(capsys, args, target):
    """As recommend, predict and devices-for read them: report once ignored --browser and
    --entitlement without --target (a server's report, an unknown browser passed unnoticed)."""
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--class", "phone", *args, "--format", "json")
    assert code in (0, 3), err
    assert json.loads(out)["requirements"]["target"] == target
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--class", "phone", "--browser", "netscape", "--format", "json")
    assert (code, out) == (1, "") and err.startswith("Error: unknown browser 'netscape'; browsers: ")


def test_runtime_format_quant(capsys):
    """--runtime mlc --quant q4f16_1: MLC's own format, on each device's backend."""
    code, out, err = run(capsys, "report", "--model", "qwen2.5-1.5b-instruct", "--device", "pixel-8", "--device", "iphone-16",
                         "--runtime", "mlc", "--quant", "q4f16_1", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["runtime"], r["format"]) for r in rows] == [("mlc", "q4f16_1")] * 2
    assert {r["backend"] for r in rows} == {"opencl", "metal"}


def test_rejected_in_runtime_formats(capsys):
    """Every candidate rejected for its download: the rows still carry the runtime format's figures."""
    code, out, _ = run(capsys, "report", "--model", "qwen2.5-1.5b-instruct", "--class", "phone", "--target", "browser",
                         "--runtime", "all", "--max-download", "100MB", "--format", "csv")
    assert code == 3
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["status"] == "download too large" for r in rows)
    assert any(r["runtime"] != "llama.cpp" for r in rows)
    assert all(r["memory_bytes"] and r["decode_tokens_per_s"] for r in rows)


@pytest.mark.parametrize("body, message", [
    ('runtime = "nope"', "field 'runtime': unknown runtime 'nope'"),
    ('target = "nope"', "field 'target': unknown target 'nope'"),
    ('target = "android-app"\nentitlement = "increased-memory"', "field 'entitlement': the increased-memory entitlement is an iOS app's"),
    ('entitlement = "more"', "entitlement"),
    ('target = "ios-app"\nbrowser = "firefox"', "field 'browser': a browser applies to the browser target, not ios-app"),
    ('target = "browser"\nbrowser = "netscape"', "field 'browser': unknown browser 'netscape'"),
    ('target = "ios-app"\nruntime = "litert-lm"', "field 'runtime': the ios-app target does not run litert-lm"),
    ('max_download = "lots"', "max_download"),
    ("max_download = -5", "max_download"),
    ('target = "' + "x" * 50 + '"', "target"),
    ('target = "ios-app"\ndevices = ["raspberry-pi-5-8gb"]', "field 'target': no candidate device can host the ios-app target"),
    ('runtime = "mlc"\nquants = ["Q9_Z"]', "field 'quants': no runtime considered has a format 'Q9_Z'"),
])
def test_file_errors_name_file_and_field(capsys, tmp_path, body, message):
    path = tmp_path / "req.toml"
    path.write_text('models = ["qwen3-1.7b"]\ndevices = ["pixel-8"]\n' * ("devices" not in body) + ('models = ["qwen3-1.7b"]\n' if "devices" in body else "")
                    + body + "\n", encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code == 1, (out, err)
    assert err.startswith(f"Error: {path}") and message in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--target", "nope"], "Error: unknown target 'nope'"),
    (["--target", "android-app", "--entitlement", "increased-memory"], "Error: --entitlement is for --target ios-app, not android-app"),
    (["--runtime", "nope"], "Error: unknown runtime 'nope'"),
    (["--max-download", "lots"], "Error: --max-download"),
])
def test_option_errors(capsys, args, message):
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--device", "pixel-8", *args)
    assert code == 1, (out, err)
    assert err.startswith(message), err


def test_tier_devices_are_told_apart_when_names_hold_commas(capsys):
    """'Mid-range Android (Snapdragon 7 Gen 3 class, 8 GB)' holds a comma: a comma between devices made
    the tier's device list read as one more device; a semicolon separates them."""
    code, out, err = run(capsys, "report", "--requirements", ANDROID, "--format", "json")
    assert code == 0, err
    tier = next(t for t in json.loads(out)["tiers"] if any("," in n for n in t["device_names"]))
    code, out, err = run(capsys, "report", "--requirements", ANDROID, "--format", "md")
    row = next(line for line in out.splitlines() if line.startswith(f"| {tier['tier_gib']} GB | "))
    assert row.split(" | ")[1].split("; ") == tier["device_names"]


@pytest.mark.parametrize("args, target", [
    (["--target", "browser", "--browser", "chrome-desktop", "--class", "laptop"], "Browser tab in Chrome (desktop)"),
    (["--target", "ios-app", "--entitlement", "increased-memory", "--class", "phone", "--class", "tablet"],
     "iOS / iPadOS app with the increased-memory entitlement"),
])
def test_the_target_is_named_not_given_by_id(capsys, args, target):
    """The requirement read 'shipped as browser in chrome-desktop', the tiers 'Under the ios-app
    target … of class phone, tablet' and the Evidence 'budget under android-app'."""
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", *args, "--format", "md")
    assert code == 0, err
    assert f"; target: {target}." in out and "shipped as" not in out
    classes = "classes phone and tablet" if "tablet" in args else "class laptop"
    assert f"Under the target {target}, the candidate devices of {classes} grouped by RAM" in out
    budget = next(line for line in out.splitlines() if "| budget under " in line)
    assert f"| budget under {target.split(' with ')[0].split(' in ')[0]} |" in budget
    assert "; browser Chrome (desktop) |" in budget if "browser" in args else "browser" not in budget
    data = json.loads(run(capsys, "report", "--model", "qwen3-1.7b", *args, "--format", "json")[1])
    assert data["target_text"] == target

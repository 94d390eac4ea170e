"""advisor report: goldens of the text formats, HTML in headless Chromium, PDF text and pages,
XLSX round trip, requirement-file errors, no-clobber writes, exit codes."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.catalog import data_root
from advisor.cli import cli, main
from advisor.report.command import plan_outputs, report

if "report" not in cli.commands:
    cli.add_command(report)

ROOT = Path(__file__).resolve().parents[1]
KIOSK = ROOT / "examples" / "requirements-kiosk.toml"
GOLDEN = ROOT / "tests" / "golden" / "report"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory, monkeypatch):
    """No measured runs or calibrations from other tests: the goldens see the shipped data only."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-home"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def kiosk_json(tmp_path_factory):
    """The kiosk report's data, built once for the renderers' tests."""
    from advisor.catalog import load_catalog
    from advisor.report.model import build_report
    from advisor.report.requirements import load_requirements

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADVISOR_HOME", str(tmp_path_factory.getbasetemp() / "report-home"))
        return build_report(load_requirements(KIOSK), load_catalog())


# --------------------------------------------------------------------------- goldens


def normalise(text: str, versions: dict) -> str:
    """Date and versions change without the report changing: replace them with placeholders."""
    for key in ("catalog_digest", "catalog", "tool"):
        text = text.replace(versions[key], f"<{key}>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "<generated_at>", text)
    text = text.replace(f'"python": "{versions["python"]}"', '"python": "<python>"')
    return text.replace(f"Python {versions['python']}", "Python <python>")


@pytest.mark.parametrize("fmt, suffix", [("json", "json"), ("csv", "csv"), ("md", "md")])
def test_kiosk_golden(capsys, update_golden, fmt, suffix):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", fmt)
    assert code == 0, err
    code, js, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    meta = json.loads(js)
    got = normalise(out + "\n", meta["versions"])
    path = GOLDEN / f"kiosk.{suffix}"
    if update_golden or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"{path} differs; rerun with --update-golden if the change is intended"


def test_kiosk_json_content(capsys):
    code, out, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["schema"] == "edge-model-advisor/report" and d["schema_version"] == 1
    assert d["requirements"]["fleet_size"] == 500 and d["requirements"]["rank_by"] == "fleet_cost"
    assert {r["device"] for r in d["comparison"]} == {"jetson-orin-nano-super-8gb", "raspberry-pi-5-8gb", "mini-pc-intel-n100-8gb"}
    assert {r["model"] for r in d["comparison"]} == {"llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct", "qwen3-1.7b"}
    assert len(d["comparison"]) == 9
    for r in d["comparison"]:
        if r["meets"]:
            assert r["decode_tokens_per_s"] >= 8
            assert r["decode_low"] <= r["decode_tokens_per_s"] <= r["decode_high"]
            assert r["fleet_price_usd"] == pytest.approx(r["unit_price_usd"] * 500)
            assert r["memory_bytes"] + r["headroom_bytes"] == r["usable_bytes"]
    fleet = [r["fleet_price_usd"] for r in d["ranking"]]
    assert fleet == sorted(fleet)
    assert d["recommended"]["device"] == d["ranking"][0]["device"]
    assert next(r for r in d["comparison"] if r["pick"])["device"] == d["recommended"]["device"]
    assert d["summary"].startswith("Recommended: ")
    assert {c["device_class"] for c in d["cheapest_per_class"]} == {"jetson", "sbc", "mini-pc"}
    assert {w["variant"] for w in d["what_if"]} == {"raspberry-pi-5-16gb", "mini-pc-intel-n100-16gb"}
    assert all(e["price_basis"] for e in d["evidence"]["devices"])
    assert d["runs"] == []


def test_library_figures_match_the_report(kiosk_json, catalog):
    """The report adds no figures of its own: a row equals the library's evaluate/compare_devices."""
    from advisor.analysis import compare_devices

    row = next(r for r in kiosk_json.comparison if r["pick"] and r["device"] == "raspberry-pi-5-8gb")
    comp = compare_devices(row["model"], row["quant"], [catalog.device("raspberry-pi-5-8gb")],
                           kiosk_json_workload(kiosk_json), catalog)[0]
    assert row["decode_tokens_per_s"] == round(comp.estimate.speed.decode_tokens_per_s, 3)
    assert row["energy_wh_per_1000_responses"] == round(comp.energy_wh_per_1000_responses, 3)
    assert row["memory_bytes"] == comp.estimate.memory.total_bytes


def kiosk_json_workload(data):
    from advisor.records import Workload

    w = data.workload
    return Workload(w["context_tokens"], w["prompt_tokens"], w["output_tokens"], w["kv_cache_type"])


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(kiosk_json):
    from plotly.offline import get_plotlyjs

    from advisor.report.render_html import plotly_js_gzip, render_html

    html = render_html(kiosk_json)
    bundle = plotly_js_gzip(get_plotlyjs())
    assert html.count(bundle) == 1  # plotly.js inlined once (compressed: the browser unpacks it)
    assert len(html.encode("utf-8")) < 2_100_000  # ~2 MB, not 4.8 MB
    page = html.replace(bundle, "")  # the bundle's own strings (e.g. its unused topojson URL) aside
    assert "<script src=" not in page and "cdn.plot.ly" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert kiosk_json.summary.split(";")[0].replace("&", "&amp;") in html


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_renders_charts_offline(kiosk_json, tmp_path):
    from advisor.report.render_html import render_html

    page = tmp_path / "kiosk.html"
    page.write_text(render_html(kiosk_json), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False).stdout
    assert dom.count('class="main-svg"') >= 3, "plotly did not draw the charts"
    for key in ("pareto", "cost_speed", "memory"):
        assert re.search(rf'id="plot-{key}"[^>]*class="[^"]*js-plotly-plot', dom), key
    assert "Recommended: Raspberry Pi 5 (8 GB)" in dom
    assert "Comparison: devices × models" in dom


# --------------------------------------------------------------------------- PDF


@pytest.fixture(scope="module")
def kiosk_pdf(kiosk_json):
    from advisor.report.render_pdf import render_pdf

    return render_pdf(kiosk_json)


def test_pdf_contains_summary_and_table(kiosk_pdf, kiosk_json):
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(io.BytesIO(kiosk_pdf))
    text = "\n".join(p.extract_text() for p in reader.pages)
    flat = re.sub(r"\s+", " ", text)
    assert "Recommended: Raspberry Pi 5 (8 GB) running Qwen3 1.7B" in flat
    assert "Comparison: devices × models" in flat
    for r in kiosk_json.ranking:
        assert r["device"] in flat
    assert "$40,000" in flat and "decode tok/s" in flat
    assert "Evidence" in flat and "Assumptions" in flat
    assert reader.metadata.title == kiosk_json.title


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_pdf_renders_to_png(kiosk_pdf, tmp_path):
    pdf = tmp_path / "kiosk.pdf"
    pdf.write_bytes(kiosk_pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    assert all(p.stat().st_size > 5_000 for p in pages)


# --------------------------------------------------------------------------- XLSX


def test_xlsx_has_the_same_numbers(kiosk_json):
    openpyxl = pytest.importorskip("openpyxl")
    from advisor.report.model import COMPARISON_COLUMNS
    from advisor.report.render_xlsx import render_xlsx

    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(kiosk_json)))
    assert {"Summary", "Ranking", "Comparison", "Rejected", "Evidence devices", "Assumptions"} <= set(wb.sheetnames)
    ws = wb["Comparison"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == [h for _, h in COMPARISON_COLUMNS]
    assert len(rows) - 1 == len(kiosk_json.comparison)
    for got, want in zip(rows[1:], kiosk_json.comparison):
        for (key, _), value in zip(COMPARISON_COLUMNS, got):
            expected = want[key] / 1024**3 if key.endswith("_bytes") and want[key] is not None else want[key]
            assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected, key  # sizes in GiB
    ranking = list(wb["Ranking"].iter_rows(values_only=True))
    assert [r[1] for r in ranking[1:]] == [r["device"] for r in kiosk_json.ranking]
    summary = dict(r for r in wb["Summary"].iter_rows(values_only=True))
    assert summary["summary"] == kiosk_json.summary


# --------------------------------------------------------------------------- bad input


BAD_FILES = [
    ("typo.toml", 'models = ["qwen3-1.7b"]\nmin_tsp = 8\n', "unknown field 'min_tsp'; did you mean 'min_tps'?"),
    ("type.toml", 'models = ["qwen3-1.7b"]\nfleet_size = "many"\n',
     "field 'fleet_size': Input should be a valid integer, unable to parse string as an integer"),
    ("neg.toml", 'models = ["qwen3-1.7b"]\nmin_tps = -1\n', "field 'min_tps': Input should be greater than 0"),
    ("model.toml", 'models = ["qwen3-1.7"]\n',
     "field 'models': unknown model 'qwen3-1.7'; did you mean qwen3-1.7b, qwen3-0.6b, qwen3-4b? list them with 'advisor models'"),
    ("device.toml", 'models = ["qwen3-1.7b"]\ndevices = ["raspbery-pi-5-8gb"]\n',
     ("field 'devices': unknown device 'raspbery-pi-5-8gb'; did you mean raspberry-pi-5-8gb, raspberry-pi-4-8gb, "
     "raspberry-pi-5-2gb? list them with 'advisor devices'")),
    ("class.toml", 'models = ["qwen3-1.7b"]\ndevice_classes = ["toaster"]\n',
     "field 'device_classes': Input should be 'phone', 'tablet', 'laptop', 'desktop', 'desktop-gpu', 'sbc', 'jetson' or 'mini-pc'"),
    ("rank.toml", 'models = ["qwen3-1.7b"]\nrank_by = "price"\n',
     "field 'rank_by': Input should be 'cost', 'fleet_cost', 'energy' or 'speed'"),
    ("ttft.toml", 'models = ["qwen3-1.7b"]\nmax_ttft_s = "soon"\n',
     "field 'max_ttft_s': max_ttft_s 'soon' is not a duration; write it like 2, 2s or 500ms"),
    ("nomodel.toml", 'devices = ["raspberry-pi-5-8gb"]\n',
     "field 'models': name the candidate models (models = [...]) or set a quality_floor"),
    ("ctx.toml", 'models = ["qwen3-1.7b"]\ncontext_tokens = 512\n',
     ("field 'context_tokens': prompt_tokens (512) + output_tokens (256) exceed the context of 512; "
     "raise context_tokens or shorten them")),
    ("syntax.toml", 'models = ["qwen3-1.7b"\n', "not valid TOML (Unclosed array (at end of document)); fix the syntax at that line"),
    ("list.yaml", "- qwen3-1.7b\n", "expected a table of requirements (key = value lines)"),
    ("req.txt", "models = []\n", "a requirements file must be .toml, .yaml or .yml"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_requirement_files(capsys, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code == 1
    assert out == ""
    assert err == f"Error: {path}: {message}\n"


def test_missing_requirements_file(capsys, tmp_path):
    code, _, err = run(capsys, "report", "--requirements", tmp_path / "nope.toml")
    assert (code, err) == (1, f"Error: {tmp_path / 'nope.toml'}: file not found; check the path\n")


def test_yaml_requirements(capsys, tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "req.yaml"
    path.write_text("models: [qwen3-1.7b]\ndevices: raspberry-pi-5-8gb\nfleet_size: 10\nmin_tps: 5\n", encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", path, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["requirements"]["devices"] == ["raspberry-pi-5-8gb"] and d["recommended"]["fleet_price_usd"] == 800


def test_yaml_without_pyyaml_names_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "req.yaml"
    path.write_text("models: [qwen3-1.7b]\n", encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", path)
    assert code == 1
    assert err == f"Error: {path}: reading YAML needs PyYAML; install it with: pip install pyyaml (or write the requirements as TOML)\n"


@pytest.mark.parametrize("args, message", [
    (["--model", "qwen3-1.7b", "--format", "pdf"], "--format pdf needs a file: add -o/--output PATH"),
    (["--model", "qwen3-1.7b", "--format", "md", "--format", "json"],
     "several formats need -o/--output PATH (the base name of the files)"),
    (["--model", "qwen3-1.7b", "-o", "x.docx"],
     ("cannot tell the format of 'x.docx' from its suffix; add --format (html, pdf, md, csv, json, xlsx) or end the name "
     "in .html, .pdf, .md, .csv, .json or .xlsx")),
    (["--model", "nope", "--device", "pixel-8"],
     "unknown model 'nope'; did you mean openelm-1_1b-instruct, openelm-3b-instruct? list them with 'advisor models'"),
    (["--device", "pixel-8"], "name the candidate models with --model (repeatable) or give a --quality-floor"),
    (["--model", "qwen3-1.7b", "--fleet", "0"], "--fleet must be positive, got 0"),
    (["--model", "qwen3-1.7b", "--context", "512"],
     "prompt (512) + output (256) tokens exceed the context of 512; raise --context or shorten them"),
])
def test_bad_options(capsys, args, message):
    code, out, err = run(capsys, "report", *args)
    assert (code, out) == (1, "")
    assert err == f"Error: {message}\n"


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("formats, output, expected", [
    ((), None, [("md", None)]),
    (("json",), None, [("json", None)]),
    ((), "r.pdf", [("pdf", "r.pdf")]),
    (("xlsx",), "r", [("xlsx", "r.xlsx")]),
    (("html", "pdf"), "out/kiosk", [("html", "out/kiosk.html"), ("pdf", "out/kiosk.pdf")]),
    (("md", "csv"), "out/kiosk.md", [("md", "out/kiosk.md"), ("csv", "out/kiosk.csv")]),
])
def test_plan_outputs(formats, output, expected):
    got = [(f, None if p is None else str(p)) for f, p in plan_outputs(formats, output)]
    assert got == expected


def test_no_clobber_without_force(capsys, tmp_path):
    target = tmp_path / "kiosk.csv"
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target)
    assert code == 0, err
    first = target.read_bytes()
    target.write_text("keep me", encoding="utf-8")
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target)
    assert (code, err) == (1, f"Error: {target} already exists; pass --force to overwrite it\n")
    assert target.read_text(encoding="utf-8") == "keep me"
    code, _, err = run(capsys, "report", "--requirements", KIOSK, "-o", target, "--force")
    assert code == 0, err
    assert target.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["kiosk.csv"]  # no temporary files left behind


def test_write_atomic_refuses_and_replaces(tmp_path):
    from advisor.errors import AdvisorError
    from advisor.report.writer import write_atomic

    path = tmp_path / "a.json"
    write_atomic(path, b"1")
    with pytest.raises(AdvisorError, match="pass --force"):
        write_atomic(path, b"2")
    write_atomic(path, b"3", force=True)
    assert path.read_bytes() == b"3"
    with pytest.raises(AdvisorError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "a.json", b"1")


def test_all_formats_in_one_go(capsys, tmp_path):
    base = tmp_path / "kiosk"
    args = ["report", "--requirements", KIOSK, "-o", base]
    for fmt in ("html", "pdf", "md", "csv", "json", "xlsx"):
        args += ["--format", fmt]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["kiosk.csv", "kiosk.html", "kiosk.json", "kiosk.md", "kiosk.pdf", "kiosk.xlsx"]
    assert (tmp_path / "kiosk.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "kiosk.xlsx").read_bytes().startswith(b"PK")


# --------------------------------------------------------------------------- the hardware question


def test_nothing_meets_exits_3_and_still_writes(capsys, tmp_path):
    target = tmp_path / "r.json"
    code, _, err = run(capsys, "report", "--model", "qwen3-8b", "--device", "raspberry-pi-5-4gb", "--min-tps", "50", "-o", target)
    assert code == 3, err
    d = json.loads(target.read_text(encoding="utf-8"))
    assert d["recommended"] is None and d["ranking"] == []
    assert d["rejected_devices"][0]["device"] == "raspberry-pi-5-4gb"
    assert d["rejected_devices"][0]["reasons"][0]["status"] in ("does not fit", "too slow")
    assert d["summary"].startswith("The one candidate device does not meet the requirement")  # "1 device", not "1 devices"


def test_budget_and_power_limit_reject_devices(capsys):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--budget", "100000", "--power-limit", "26",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    rejected = {r["device"]: r["reasons"][0] for r in d["rejected_devices"]}
    assert rejected["jetson-orin-nano-super-8gb"]["status"] == "over budget"
    assert "exceeds the budget $100,000" in rejected["jetson-orin-nano-super-8gb"]["detail"]
    assert rejected["raspberry-pi-5-8gb"]["status"] == "over power limit"
    assert [r["device"] for r in d["ranking"]] == ["mini-pc-intel-n100-8gb"]


@pytest.mark.parametrize("rank_by, key, reverse", [
    ("cost", "unit_price_usd", False),
    ("energy", "energy_wh_per_1000_responses", False),
    ("speed", "decode_tokens_per_s", True),
])
def test_rank_by(capsys, rank_by, key, reverse):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--rank-by", rank_by, "--format", "json")
    assert code == 0, err
    values = [r[key] for r in json.loads(out)["ranking"]]
    assert values == sorted(values, reverse=reverse)


def test_class_and_cheapest_per_class(capsys):
    code, out, err = run(capsys, "report", "--model", "qwen3-1.7b", "--class", "sbc", "--class", "mini-pc", "--min-tps", "5",
                         "--fleet", "100", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert {r["device_class"] for r in d["comparison"]} == {"sbc", "mini-pc"}
    for c in d["cheapest_per_class"]:
        prices = [r["unit_price_usd"] for r in d["ranking"] if r["device_class"] == c["device_class"]]
        assert c["unit_price_usd"] == min(prices)
        assert c["fleet_price_usd"] == c["unit_price_usd"] * 100


@pytest.mark.parametrize("device, variants", [
    ("raspberry-pi-5-8gb", ["raspberry-pi-5-16gb"]),
    ("raspberry-pi-5-2gb", ["raspberry-pi-5-4gb", "raspberry-pi-5-8gb", "raspberry-pi-5-16gb"]),
    ("raspberry-pi-5-16gb", []),
    ("pixel-8", []),
])
def test_sibling_variants(catalog, device, variants):
    from advisor.analysis import sibling_variants

    assert [d.id for d in sibling_variants(catalog.device(device), catalog)] == variants


def test_what_if_more_ram_opens_models(capsys):
    """A 4 GB board cannot hold an 8B model; its 16 GB sibling can (at a slow speed)."""
    code, out, err = run(capsys, "report", "--model", "qwen3-8b", "--device", "orange-pi-5-4gb", "--format", "json")
    assert code == 3, err
    d = json.loads(out)
    w = {x["variant"]: x for x in d["what_if"] if x["device"] == "orange-pi-5-4gb"}
    assert "qwen3-8b" in {n["model"] for n in w["orange-pi-5-16gb"]["newly_possible"]}
    assert next(n for n in w["orange-pi-5-16gb"]["newly_possible"] if n["model"] == "qwen3-8b")["requested"] is True


def test_options_override_the_file(capsys):
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--fleet", "20", "--device", "raspberry-pi-5-8gb",
                         "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["requirements"]["fleet_size"] == 20 and {r["device"] for r in d["comparison"]} == {"raspberry-pi-5-8gb"}
    assert d["requirements"]["models"] == ["llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct", "qwen3-1.7b"]


def test_report_has_help():
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0 and "procurement report" in result.output


def test_measured_runs_are_shown(capsys, tmp_path, monkeypatch):
    from advisor.store import Run, record_run

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    record_run(Run(source="validate", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-1.7b", quant="Q4_K_M",
                   predicted={"decode_tokens_per_s": 8.0, "prefill_tokens_per_s": 50.0},
                   measured={"decode_tokens_per_s": 10.0, "prefill_tokens_per_s": 45.0}))
    record_run(Run(source="validate", status="ok", device_id="pixel-8", model_id="qwen3-1.7b", quant="Q4_K_M"))
    code, out, err = run(capsys, "report", "--requirements", KIOSK, "--format", "json")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [(r["device"], r["decode_measured_over_predicted"]) for r in runs] == [("raspberry-pi-5-8gb", 1.25)]
    code, out, _ = run(capsys, "report", "--requirements", KIOSK, "--format", "md")
    assert "| 1 | " in out and "10.0 / 8.0" in out


def test_device_files_are_relative_to_the_requirements(capsys, tmp_path):
    profile = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text(encoding="utf-8")
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "my-board.toml").write_text(
        profile.replace('id = "raspberry-pi-5-8gb"', 'id = "my-board-8gb"'), encoding="utf-8")
    req = tmp_path / "req.toml"
    req.write_text('models = ["qwen3-1.7b"]\ndevice_files = ["boards/my-board.toml"]\nmin_tps = 5\n', encoding="utf-8")
    code, out, err = run(capsys, "report", "--requirements", req, "--format", "json")
    assert code == 0, err
    assert [r["device"] for r in json.loads(out)["ranking"]] == ["my-board-8gb"]


def test_quality_floor_picks_the_models(capsys):
    code, out, err = run(capsys, "report", "--quality-floor", "55", "--device", "mac-mini-m4-16gb", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert d["comparison"] and all(r["quality_score"] >= 55 for r in d["comparison"] if r["meets"])

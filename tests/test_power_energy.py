"""Power and energy figures: one power figure behind J/token and tok/s per W (and its basis named),
a power mode's own power note, the sustained decode and GPU-only tok/s per $ in every report format,
the error for a power mode on a device without any, devices-for's JSON rounding."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pytest

from advisor import analysis
from advisor.catalog import _validate
from advisor.cli import cli, main
from advisor.records import DeviceProfile, Workload
from advisor.report.command import report
from advisor.report.model import _compare
from advisor.serialize import DECIMALS

if "report" not in cli.commands:
    cli.add_command(report)

AGX = "jetson-agx-orin-64gb"
PI5 = "raspberry-pi-5-8gb"
MODEL = "llama-3.2-1b-instruct"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def untyped_pi(catalog, tmp_path) -> tuple[DeviceProfile, Path]:
    """The Raspberry Pi 5 (8 GB) profile without its typical draw (as a user's or `advisor profile`'s
    profile may be): its power while generating is 60 % of the 27 W maximum, 16.2 W."""
    text = (Path(catalog.root) / "profiles" / "sbc" / f"{PI5}.toml").read_text()
    text = re.sub(r"^typical_w = .*\n", "", re.sub(r'^id = ".*"', 'id = "pi5-no-typical"', text, flags=re.MULTILINE),
                  flags=re.MULTILINE)
    path = tmp_path / "pi5-no-typical.toml"
    path.write_text(text)
    dev = _validate(DeviceProfile, tomllib.loads(text), "pi5-no-typical")
    assert dev.power.typical_w is None and dev.power.max_w == 27.0
    return dev, path


# --------------------------------------------------------------------------- one power figure


def test_tok_s_per_w_and_j_per_token_are_one_power_figure(catalog, untyped_pi):
    """(tok/s per W) × (J/token) = 1 on every device, also one without a typical draw (was 0.6:
    tok/s per W divided by the 27 W maximum, J/token used 16.2 W)."""
    dev, _ = untyped_pi
    devices = [dev, catalog.device(PI5), catalog.device(AGX + "@15W"), catalog.device("desktop-rtx4060-8gb")]
    for c in analysis.compare_devices(MODEL, "Q4_K_M", devices, Workload(), catalog):
        s = c.estimate.speed
        assert c.tokens_per_s_per_watt * s.energy_j_per_token == pytest.approx(1.0, rel=1e-12), c.device.id
        r = _compare(c.estimate, c.device)  # the report's rows
        assert r.tokens_per_s_per_watt * s.energy_j_per_token == pytest.approx(1.0, rel=1e-12), c.device.id
    no_typical = analysis.compare_devices(MODEL, "Q4_K_M", [dev], Workload(), catalog)[0]
    assert no_typical.tokens_per_s_per_watt == pytest.approx(no_typical.estimate.speed.decode_tokens_per_s / 16.2)


def test_the_report_rows_agree_on_the_power(capsys, untyped_pi):
    _, path = untyped_pi
    code, out, err = run(capsys, "report", "--model", MODEL, "--device-file", path, "--device", PI5, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    for r in d["comparison"]:
        if r["decode_tokens_per_s"]:
            # Wh per 1,000 responses = W × response s / 3.6; tok/s per W = tok/s / W
            watts = r["decode_tokens_per_s"] / r["tokens_per_s_per_watt"]
            assert watts == pytest.approx(r["energy_wh_per_1000_responses"] * 3.6 / r["response_s"], rel=2e-3), r["device"]
    ev = {e["device"]: e for e in d["evidence"]["devices"]}
    assert ev["pi5-no-typical"]["energy_power_w"] == 16.2 and ev[PI5]["energy_power_w"] == 8.0


# --------------------------------------------------------------------------- the basis named


@pytest.mark.parametrize("device, words", [
    (PI5, ["8 W: the profile's typical draw while generating (estimated)"]),
    (AGX + "@15W", ["7.7 W: the 15W power mode's typical draw", "the MAXN mode's 30.8 W × 15/60 W (estimated)"]),
    (AGX, ["30.8 W: the profile's typical draw while generating (measured)"]),
])
def test_the_energy_basis_names_the_power(capsys, device, words):
    code, out, _ = run(capsys, "predict", "--model", MODEL, "--device", device, "--format", "json")
    assert code == 0
    basis = json.loads(out)["speed"]["energy_basis"]
    for w in words:
        assert w in basis
    code, out, _ = run(capsys, "predict", "--model", MODEL, "--device", device)
    assert code == 0 and words[0].split(":")[0] in re.search(r"^energy .*(?:\n {20,}.*)*", out, re.MULTILINE).group(0)


def test_the_energy_basis_without_a_typical_draw(capsys, untyped_pi):
    _, path = untyped_pi
    code, out, _ = run(capsys, "predict", "--model", MODEL, "--device-file", path, "--format", "json")
    sp = json.loads(out)["speed"]
    assert code == 0 and sp["energy_basis"].startswith("16.2 W: 60% of the 27 W maximum")
    assert "no typical draw" in sp["energy_basis"]
    assert sp["energy_j_per_token"] == pytest.approx(16.2 / sp["decode_tokens_per_s"], rel=2e-3)


# --------------------------------------------------------------------------- power modes


def test_a_power_mode_states_its_own_power(catalog, capsys):
    d = catalog.device(AGX + "@15W")
    assert d.power.note.startswith("15W power mode: 15 W budget, typical 7.7 W while generating = 30.8 W × 15/60. MAXN mode: ")
    assert catalog.device(AGX + "@50W").power.note.startswith("50W power mode: 50 W budget, typical 25.667 W")
    assert catalog.device(AGX + "@maxn").power.note == catalog.device(AGX).power.note  # the profile's own figures
    code, out, err = run(capsys, "report", "--model", MODEL, "--device", AGX + "@15W", "--format", "md")
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if "| power (typical / max) |" in ln)
    assert "| 7.7 / 15 W |" in row and "typical 7.7 W" in row  # not 8 / 15 W


def test_a_power_mode_on_a_device_without_modes_is_one_clear_line(capsys):
    code, out, err = run(capsys, "predict", "--model", MODEL, "--device", PI5 + "@15W")
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: device {PI5} has no power modes")
    assert "drop '@15W'" in lines[0] and "'advisor devices' lists the devices that have power modes" in lines[0]


# --------------------------------------------------------------------------- reports


def test_sustained_and_gpu_only_in_every_report_format(capsys, tmp_path, catalog):
    """The iPhone 16 Pro's sustained decode (0.565 of the peak) beside the peak in the ranking and
    comparison tables (MD, and the same sections in HTML/PDF), the JSON ranking and the XLSX ranking;
    tok/s per $ of a GPU-only price marked."""
    args = ["report", "--model", MODEL, "--device", "iphone-16-pro", "--device", "desktop-rtx4060-8gb", "--device", PI5]
    code, out, err = run(capsys, *args, "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    rank = {r["device"]: r for r in d["ranking"]}
    iphone = rank["iphone-16-pro"]
    assert iphone["sustained_decode_tokens_per_s"] == pytest.approx(0.565 * iphone["decode_tokens_per_s"], abs=2e-3)
    assert rank[PI5]["sustained_decode_tokens_per_s"] is None
    code, md, _ = run(capsys, *args, "--format", "md")
    assert code == 0
    tables = [t for t in re.split(r"\n\n", md) if t.startswith("| ") and "decode tok/s, sustained" in t]
    assert len(tables) == 2  # the ranking and the comparison
    for t in tables:
        header, _, *rows = t.splitlines()
        cols = [c.strip() for c in header.strip("|").split("|")]
        i, j, k = cols.index("decode tok/s, sustained"), cols.index("tok/s per $"), cols.index("device")
        cells = {c[k]: c for c in ([x.strip().strip("*") for x in r.strip("|").split("|")] for r in rows)}
        phone, pi5, rtx = (cells[catalog.device(d).name] for d in ("iphone-16-pro", PI5, "desktop-rtx4060-8gb"))  # tables name devices
        peak = float(phone[i - 1].split()[0])  # the peak's column is just before
        assert float(phone[i]) == pytest.approx(0.565 * peak, abs=0.1)
        assert pi5[i] == "-"
        assert rtx[j].endswith("(GPU only)") and not pi5[j].endswith(")")
    pytest.importorskip("openpyxl")
    import openpyxl

    path = tmp_path / "r.xlsx"
    code, _, err = run(capsys, *args, "-o", path)
    assert code == 0, err
    ws = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))["Ranking"]
    header = [c.value for c in ws[1]]
    col = header.index("decode, sustained (tok/s)")
    values = {row[1]: row[col] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert values["iphone-16-pro"] == pytest.approx(iphone["sustained_decode_tokens_per_s"]) and values[PI5] is None


def test_a_report_without_sustained_figures_has_no_empty_column(capsys):
    code, md, _ = run(capsys, "report", "--model", MODEL, "--device", PI5, "--format", "md")
    assert code == 0 and "sustained" not in md.split("## Evidence")[0]


# --------------------------------------------------------------------------- devices-for JSON


def test_devices_for_json_rounds_as_every_json_output(capsys):
    code, out, _ = run(capsys, "devices-for", "--model", MODEL, "--min-tps", "8", "--class", "sbc", "--format", "json")
    assert code == 0
    devices = json.loads(out)["devices"]
    assert devices
    for d in devices:
        for key in ("energy_wh_per_1000_responses", "fleet_price_usd"):
            v = d[key]
            assert v is None or v == round(v, DECIMALS[key]), (d["device"]["id"], key, v)


def test_a_ram_only_devices_energy_names_the_peer_whose_power_it_is(catalog):
    """A RAM-only device's speed is, file by file, the slowest of the catalog devices it stands
    for; its energy is that device's draw × time, and the basis names that device (it read 'the
    profile's typical draw', i.e. the template's, whose figure it was not)."""
    from advisor.api import ram_peer_templates
    from advisor.engine.evaluate import evaluate, generic_device
    from advisor.engine.speed import device_power_w

    device = generic_device(4 * 1024**3, ram_peer_templates(catalog), tables=catalog)
    seen = set()
    for model_id in ("llama-3.2-1b-instruct", "qwen2.5-0.5b-instruct", "smollm2-135m-instruct", "llama-3.2-3b-instruct"):
        for quant in ("Q4_K_M", "Q8_0", "F16", "Q4_0"):
            e = evaluate(catalog.model(model_id), catalog.file_type(quant), device, Workload(), catalog)
            if e.speed is None:
                continue
            peer = next((catalog.device(i) for i in device.stands_for[1:] if e.speed.basis.startswith(catalog.device(i).name + ",")), None)
            if peer is None:  # the template's own figures
                assert e.speed.energy_basis.startswith(f"{device_power_w(device):g} W: the profile's"), e.speed.energy_basis
                continue
            seen.add(peer.id)
            assert e.speed.energy_basis.startswith(f"{round(device_power_w(peer), 3):g} W: {peer.name}'s "), e.speed.energy_basis
            assert e.speed.energy_j_per_token == pytest.approx(device_power_w(peer) / e.speed.decode_tokens_per_s, rel=1e-9)
    assert seen, "no file had a peer slower than the template: the test checks nothing"

"""`advisor runs export --format json` read back by `advisor runs import`: a backup restored, or
the runs of several machines gathered in one store. Real SQLite stores, the real CLI; the runs are
llama-bench rows recorded on this machine (tests/data/llama-bench) imported through the CLI."""

import json
from pathlib import Path

import pytest

from advisor.calibrate_from_runs import run_calibration, run_exclusion
from advisor.catalog import _load, load_catalog
from advisor.cli import main
from advisor.store import list_runs

DATA = Path(__file__).parent / "data" / "llama-bench"
DEVICE = "intel-nuc-13-pro-i7-32gb"


def _home(monkeypatch, path: Path) -> Path:
    monkeypatch.setenv("ADVISOR_HOME", str(path))
    return path


def _export(capsys, path: Path) -> dict:
    assert main(["runs", "export", "--format", "json", "-o", str(path), "--force"]) == 0
    capsys.readouterr()
    return json.loads(path.read_text())


@pytest.fixture()
def exported(capsys, tmp_path, monkeypatch) -> Path:
    """An export of two runs (pp and tg of one llama-bench file) from store A."""
    _home(monkeypatch, tmp_path / "a")
    assert main(["runs", "import", str(DATA / "smollm2-135m-q4_k_m.json"), "--device", DEVICE,
                 "--model", "smollm2-135m-instruct"]) == 0
    path = tmp_path / "runs.json"
    _export(capsys, path)
    return path


def _comparable(run) -> dict:
    d = {k: getattr(run, k) for k in run.__dataclass_fields__}
    d.pop("id")
    return d


def test_an_export_keeps_the_device_profile_and_restores_into_another_store(capsys, tmp_path, monkeypatch, exported):
    doc = json.loads(exported.read_text())
    assert doc["schema"] == "edge-model-advisor/runs" and all(r["device_profile"]["id"] == DEVICE for r in doc["runs"])
    before = list_runs()  # store A's
    assert len(before) == 2
    _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "imported 2 runs as runs 1, 2" in out and "advisor calibrate" in out
    after = list_runs()
    assert [_comparable(r) for r in after] == [_comparable(r) for r in before]  # everything but the id, created_at included
    # the listing stays compact: no profile in runs list's JSON
    assert main(["runs", "list", "--format", "json"]) == 0
    assert "device_profile" not in json.loads(capsys.readouterr().out)["runs"][0]


def test_importing_an_export_twice_stores_it_once(capsys, tmp_path, monkeypatch, exported):
    _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(exported)]) == 0
    capsys.readouterr()
    assert main(["runs", "import", str(exported)]) == 0
    assert "nothing imported: every run of" in capsys.readouterr().out
    assert len(list_runs()) == 2
    # and a store's own export read back into it adds nothing
    _home(monkeypatch, tmp_path / "a")
    assert main(["runs", "import", str(exported)]) == 0
    assert "stored already (runs 1, 2)" in capsys.readouterr().out


#: the study VM's profile, whose source names the machine it measured ("fingerprint 020555de505a8135")
STUDY_VM = Path(__file__).parents[1] / "benchmarks" / "reference_devices" / "ref-study-vm-epyc.toml"


def _profile_here(home: Path) -> None:
    """This machine's profile, as `advisor profile` leaves it in $ADVISOR_HOME: the study VM's."""
    profile = STUDY_VM.read_text().replace('id = "ref-study-vm-epyc"', 'id = "local"')
    assert 'id = "local"' in profile and "fingerprint 020555de505a8135" in profile
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "local.toml").write_text(profile)
    _load.cache_clear()  # the catalog is cached per process and home; `advisor profile` ends its process


def _as_local(exported: Path, to: Path, fingerprint: str | None) -> Path:
    doc = json.loads(exported.read_text())
    for r in doc["runs"]:
        r["device_id"], r["device_fingerprint"] = "local", fingerprint
        r["device_profile"]["id"] = "local"
    to.write_text(json.dumps(doc))
    return to


def test_another_machines_local_runs_are_stored_under_an_id_of_their_own(capsys, tmp_path, monkeypatch, exported):
    """A 'local' run from another machine, fitted as this machine, would calibrate the wrong one:
    it is stored as 'local-<its fingerprint>' and calibrated as that device."""
    other = _as_local(exported, tmp_path / "other.json", "00112233aabbccdd")
    _profile_here(_home(monkeypatch, tmp_path / "b"))
    assert main(["runs", "import", str(other)]) == 0
    out = capsys.readouterr().out
    assert "'local-00112233aabbccdd' (fingerprint 00112233aabbccdd)" in out
    runs = list_runs()
    assert {r.device_id for r in runs} == {"local-00112233aabbccdd"}
    assert {r.device_profile["id"] for r in runs} == {"local-00112233aabbccdd"}
    report = run_calibration(dry_run=True)
    assert [g.key for g in report.groups if g.scope == "device"] == ["local-00112233aabbccdd"]
    # imported again it is recognised, under its new id
    assert main(["runs", "import", str(other)]) == 0
    assert "nothing imported" in capsys.readouterr().out


def test_a_local_run_of_this_machine_stays_local(capsys, tmp_path, monkeypatch, exported):
    mine = _as_local(exported, tmp_path / "mine.json", "020555de505a8135")
    _profile_here(_home(monkeypatch, tmp_path / "b"))
    assert main(["runs", "import", str(mine)]) == 0
    assert "stored under" not in capsys.readouterr().out
    assert {r.device_id for r in list_runs()} == {"local"}


def test_a_local_run_without_a_fingerprint_is_never_taken_for_this_machine(capsys, tmp_path, monkeypatch, exported):
    """Nothing tells its machine: it gets an id of its own from its profile's hash, the same on every import."""
    unknown = _as_local(exported, tmp_path / "unknown.json", None)
    _profile_here(_home(monkeypatch, tmp_path / "b"))
    assert main(["runs", "import", str(unknown)]) == 0
    assert "(fingerprint not recorded)" in capsys.readouterr().out
    (new_id,) = {r.device_id for r in list_runs()}
    assert new_id.startswith("local-") and new_id != "local"
    assert main(["runs", "import", str(unknown)]) == 0
    assert "nothing imported" in capsys.readouterr().out


def test_before_this_machine_is_profiled_a_fingerprinted_local_run_stays_local_and_calibrate_tells(capsys, tmp_path, monkeypatch, exported):
    """A backup restored before `advisor profile` keeps its 'local' runs; once this machine is
    profiled, calibrate leaves out those of another fingerprint (other_machine), as for any run."""
    other = _as_local(exported, tmp_path / "other.json", "00112233aabbccdd")
    home = _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(other)]) == 0
    assert {r.device_id for r in list_runs()} == {"local"}
    _profile_here(home)
    ok = [r for r in list_runs() if r.status == "ok"]
    assert ok and all(run_exclusion(r, load_catalog()).startswith("run on another machine (fingerprint 00112233aabbccdd")
                      for r in ok)


def test_an_export_without_profiles_needs_the_device(capsys, tmp_path, monkeypatch, exported):
    doc = json.loads(exported.read_text())
    for r in doc["runs"]:
        r.pop("device_profile")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(old)]) == 1
    err = capsys.readouterr().err
    assert err.count("Error:") == 1 and "carries no device profile" in err and "--device" in err
    assert main(["runs", "import", str(old), "--device", DEVICE]) == 0
    assert {r.device_profile["id"] for r in list_runs()} == {DEVICE}


def _bad(doc: dict, case: str) -> str:
    run = doc["runs"][1]
    if case == "nan":
        run["measured"]["decode_tokens_per_s"] = float("nan")
        return json.dumps(doc)  # json writes NaN, which is not JSON
    if case == "infinity":
        return json.dumps(doc).replace(json.dumps(run["measured"]["decode_tokens_per_s"] or 1.0), "Infinity", 1)
    if case == "negative":
        run["measured"]["decode_tokens_per_s"] = -5.0
    elif case == "samples":
        run["measured"]["decode_samples"] = ["fast", "slow"]
    elif case == "huge prompt":
        run["settings"]["n_prompt"] = 10**12
    elif case == "status":
        run["status"] = "excellent"
    elif case == "unknown field":
        run["owner"] = "me"
    elif case == "profile":
        run["device_profile"]["memory"]["bandwidth_gbs"] = -1
    elif case == "device id":
        run["device_id"] = "pixel\nError: forged"
    elif case == "created_at":
        run["created_at"] = "yesterday"
    elif case == "version":
        doc["schema_version"] = 99
    elif case == "not a list":
        doc["runs"] = {"a": 1}
    elif case == "row":
        doc["runs"][1] = "run"
    return json.dumps(doc)


@pytest.mark.parametrize(("case", "says"), [
    ("nan", "NaN is not a number"), ("infinity", "Infinity is not a number"),
    ("negative", "is not a rate"), ("samples", "field 'measured.decode_samples[0]' = 'fast' is not a rate"), ("huge prompt", "settings.n_prompt"), ("status", "field 'status'"),
    ("unknown field", "unknown field 'owner'"), ("profile", "device profile does not validate"),
    ("device id", "is not a device id"), ("created_at", "not a date and time"), ("version", "schema version 99"),
    ("not a list", "'runs' is not a list"), ("row", "run 2 is not a JSON object"),
])
def test_a_bad_run_refuses_the_whole_file_with_one_error(capsys, tmp_path, monkeypatch, exported, case, says):
    """Impossible values are refused at import, naming the run; nothing of the file is stored."""
    doc = json.loads(exported.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(_bad(doc, case))
    _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error:") and err.count("\n") == 1 and says in err, err  # one line: a forged newline is quoted
    assert list_runs() == []


def test_model_and_quant_options_are_for_llama_bench_output(capsys, tmp_path, monkeypatch, exported):
    _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(exported), "--model", "smollm2-135m-instruct"]) == 1
    assert "leave out --model and --quant" in capsys.readouterr().err
    assert list_runs() == []


def test_a_backup_calibrated_before_this_machine_is_profiled_applies_once_the_same_profile_is_back(capsys, tmp_path, monkeypatch, exported):
    """Restored runs of this machine, calibrated before `advisor profile` ran, are fitted against
    their stored profile; once that same profile is back, predict applies the calibration. Before,
    it warned that the calibration was fitted 'by another version of the engine or against another
    profile of the device' and predicted with the shipped factors."""
    import tomllib

    from advisor.records import DeviceProfile

    doc = json.loads(exported.read_text())
    profile = DeviceProfile.model_validate({**tomllib.loads(STUDY_VM.read_text()), "id": "local"}).model_dump(mode="json", by_alias=True)
    for r in doc["runs"]:
        r["device_id"], r["device_fingerprint"], r["device_profile"] = "local", "020555de505a8135", profile
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(doc))
    home = _home(monkeypatch, tmp_path / "b")
    assert main(["runs", "import", str(mine)]) == 0
    report = run_calibration()
    assert [g.applied for g in report.groups if g.scope == "device" and g.key == "local"] == [True]
    _profile_here(home)
    capsys.readouterr()
    assert main(["predict", "--model", "smollm2-135m-instruct", "--quant", "Q4_K_M", "--device", "local", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert "another version of the engine" not in err
    assert "calibrated from 1 run on this device" in json.loads(out)["speed"]["basis"]  # the tg row (the pp row is stored as noisy)


def test_runs_list_says_which_speed_each_predicted_column_is(capsys, monkeypatch, exported):
    """Two columns were headed 'predicted', and the note said 'left out: …, predicted, predicted'."""
    assert main(["runs", "list", "--format", "md"]) == 0
    assert "| decode tok/s | predicted decode | prefill tok/s | predicted prefill |" in capsys.readouterr().out
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["runs", "list"]) == 0
    assert "(left out at 120 columns: synthetic, source, predicted prefill, predicted decode;" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["show", "abc"], ["show", "1.5"], ["show", "0"], ["exclude", "1", "abc"], ["include", "#2"]])
def test_a_bad_run_id_is_refused_naming_a_run_id(capsys, args, exported):
    """It said "give e.g. 512", the example of a token count."""
    assert main(["runs", *args]) == 1
    value = args[-1]
    assert capsys.readouterr().err == (f"Error: '{value}' is not a run id; give a number from the id column of "
                                       "'advisor runs list', e.g. 1\n")


@pytest.mark.parametrize("args", [["export"], ["list", "--format", "csv"]])
def test_csv_leaves_a_figure_a_run_lacks_empty(capsys, exported, args):
    """As every CSV the tool writes (output.csv_cell); it wrote the table's "-". The pp row has no
    decode speed, the tg row no prefill speed."""
    import csv

    assert main(["runs", *args]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["decode"], r["prefill"]) for r in rows] == [("", "269"), ("33.2", "")]
    assert all(r["predicted_decode"] and r["predicted_prefill"] for r in rows)


def test_calibrate_on_a_narrow_terminal_heads_each_block_with_its_scope_and_id_once(capsys, monkeypatch, exported):
    """Each block read 'device', then 'device / path: intel-nuc-…' on the next line."""
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["calibrate", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines.count(f"device  {DEVICE}") == 2 and "path  cpu-x86" in lines  # the calibrations, the effect
    assert not any("device / path" in line for line in lines)


def test_one_run_is_said_to_be_one(capsys, tmp_path, monkeypatch):
    """It was '1 runs', 'wrote 1 runs', 'stored already (runs 1)' and 'removed 1 stored calibrations'."""
    _home(monkeypatch, tmp_path / "a")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(json.loads((DATA / "smollm2-135m-q4_k_m.json").read_text())[1:]))  # the tg row
    args = ["runs", "import", str(one), "--device", DEVICE, "--model", "smollm2-135m-instruct"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out == f"nothing imported: every row of {one} is stored already (run 1)\n"
    assert main(["runs", "list", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("### 1 run\n")
    assert main(["runs", "export", "-o", str(tmp_path / "runs.csv")]) == 0
    assert capsys.readouterr().err == f"wrote 1 run to {tmp_path / 'runs.csv'}\n"
    assert main(["calibrate"]) == 0
    capsys.readouterr()
    assert main(["calibrate", "--reset", "--device", DEVICE]) == 0
    assert capsys.readouterr().out.startswith(f"removed 1 stored calibration of device '{DEVICE}';")


def test_a_run_without_a_model_or_quantization_is_left_out_in_words(capsys, exported):
    """A run whose model or quantization is missing (a store edited by hand) was left out as
    'model None None not in the catalog'."""
    import dataclasses

    run = next(r for r in list_runs() if r.status == "ok")
    catalog = load_catalog()
    assert run_exclusion(run, catalog) is None  # fitted as it is
    assert run_exclusion(dataclasses.replace(run, model_id=None), catalog) == "no model recorded"
    assert run_exclusion(dataclasses.replace(run, quant=None), catalog) == "no quantization recorded"


def test_an_export_to_dash_goes_to_stdout(capsys, tmp_path, monkeypatch, exported):
    """'-o -' wrote a file named '-'; it is stdout, as without -o."""
    monkeypatch.chdir(tmp_path)
    assert main(["runs", "export", "--format", "json", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] and not (tmp_path / "-").exists()

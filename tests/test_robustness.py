"""Hostile input, class by class: files (FIFOs, devices, depth, size, magnitudes), a damaged or
read-only store, poisoned imports, output paths. Each row: one exact `Error:` line, its exit code,
nothing written."""

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from advisor.catalog import data_root
from advisor.calibrate_from_runs import calibration_key
from advisor.cli import main
from advisor.store import Run, list_runs, load_device_calibrations, record_run, save_calibration

ROOT = Path(__file__).resolve().parents[1]
PI5 = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
BENCH = ROOT / "tests" / "data" / "llama-bench"


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("ADVISOR_HOME", str(h))
    from advisor.catalog import _load

    _load.cache_clear()
    yield h
    _load.cache_clear()


# --------------------------------------------------------------------------- hostile files


def _profile(text_edit):
    return text_edit(PI5)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("gflops.toml", lambda: re.sub(r"(?m)^fp32_gflops = .*$", "fp32_gflops = 5e-324", PI5),
         "field 'cpu.fp32_gflops': Input should be greater than or equal to 0.01"),
        ("clusters.toml", lambda: re.sub(r"(?m)^clusters = .*$", "clusters = []", PI5),
         "field 'cpu.clusters': Tuple should have at least 1 item after validation, not 0"),
        ("inf.toml", lambda: re.sub(r"(?m)^bandwidth_gbs = .*$", "bandwidth_gbs = inf", PI5, count=1),
         "field 'memory.bandwidth_gbs': inf is not a finite number; give a real value"),
        ("nan.toml", lambda: re.sub(r"(?m)^max_w = .*$", "max_w = nan", PI5, count=1),
         "field 'power.max_w': nan is not a finite number; give a real value"),
        ("bigint.toml", lambda: re.sub(r"(?m)^cores = .*$", "cores = " + "9" * 5000, PI5, count=1),
         "a number is too large (Exceeds the limit (4300 digits) for integer string conversion)"),
        ("bigcores.toml", lambda: re.sub(r"(?m)^cores = .*$", "cores = " + "9" * 400, PI5, count=1),
         "field 'cpu.cores': Input should be less than or equal to 4096"),
        ("ram.toml", lambda: re.sub(r'(?m)^ram = .*$', "ram = 8", PI5, count=1),
         "field 'memory.ram': size 8 has no unit, so it means 8 bytes; no device has less than 64 MiB: did you mean 8GB?"),
        ("usable.toml", lambda: re.sub(r'(?m)^usable = .*$', 'usable = "1"', PI5, count=1),
         "field 'memory': usable memory of 1 bytes is less than 1 MiB; give it with a unit, like 3GB"),
        ("bandwidth.toml", lambda: re.sub(r"(?m)^bandwidth_gbs = .*$", "bandwidth_gbs = " + "9" * 400, PI5, count=1),
         "field 'memory.bandwidth_gbs': Input should be a valid number"),
        ("deep.toml", lambda: "a = " + "[" * 10_000 + "]" * 10_000,
         "nested more than 32 levels deep; a data file is flat tables and lists"),
        ("big.toml", lambda: PI5 + "\n#" + "x" * (5 * 1024**2),
         f"{len(PI5) + 2 + 5 * 1024**2:,} bytes is too large for a data file (at most 4,194,304); is this the right file?"),
        ("bom.toml", lambda: b"\xef\xbb\xbf" + PI5.encode(),  # Notepad's UTF-8: "line 1, column 1" before
         "starts with a byte-order mark; save it as UTF-8 without one"),
        ("binary.toml", lambda: b"\xff\xfe\x00junk",
         "not UTF-8 text (byte 0); is this the right file?"),
        # pydantic's lax mode read true as 1: a 1 GB/s Raspberry Pi, one core, 1 GiB... without a word
        # accepted before: an empty id (the JSON said "id": ""), a path as the id, a name split over two lines
        ("empty-id.toml", lambda: re.sub(r'(?m)^id = .*$', 'id = ""', PI5, count=1),
         "field 'id': is empty; give the device an id like my-board-8gb (--device takes it)"),
        ("path-id.toml", lambda: re.sub(r'(?m)^id = .*$', 'id = "../../etc/passwd"', PI5, count=1),
         "field 'id': '../../etc/passwd' holds a space, a control character or a slash; use letters, digits and '-', "
         "like my-board-8gb"),
        ("newline-name.toml", lambda: re.sub(r'(?m)^name = .*$', lambda _: 'name = "Pi\\nfive"', PI5, count=1),
         "field 'name': holds a control or format character (a line break, a tab, a terminal escape or a right-to-left "
         "override); give the name on one line, in plain text"),
        # a right-to-left override reorders the line a name is printed in; a C1 control or a line
        # separator moves the cursor: refused as the C0 controls were (shown escaped, not obeyed)
        ("rtl-name.toml", lambda: re.sub(r'(?m)^name = .*$', lambda _: 'name = "Pi \\u202efive"', PI5, count=1),
         "field 'name': holds a control or format character (a line break, a tab, a terminal escape or a right-to-left "
         "override); give the name on one line, in plain text"),
        ("c1-id.toml", lambda: re.sub(r'(?m)^id = .*$', lambda _: 'id = "pi\\u009b5"', PI5, count=1),
         "field 'id': 'pi\\x9b5' holds a space, a control character or a slash; use letters, digits and '-', like my-board-8gb"),
        ("bool-bandwidth.toml", lambda: re.sub(r"(?m)^bandwidth_gbs = .*$", "bandwidth_gbs = true", PI5, count=1),
         "field 'memory.bandwidth_gbs': true is not a number; give a number (true/false are for yes/no fields)"),
        ("bool-cores.toml", lambda: re.sub(r"(?m)^cores = .*$", "cores = true", PI5, count=1),
         "field 'cpu.cores': true is not a number; give a number (true/false are for yes/no fields)"),
        ("bool-ghz.toml", lambda: PI5.replace("ghz = 2.4", "ghz = false"),
         "field 'cpu.clusters.ghz': false is not a number; give a number (true/false are for yes/no fields)"),
    ],
)
def test_hostile_profiles(capsys, tmp_path, home, name, content, message):
    path = tmp_path / name
    data = content()
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    code, out, err = run(capsys, "recommend", "--device-file", str(path))
    assert (code, out, err) == (1, "", f"Error: {path}: {message}\n")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
@pytest.mark.parametrize("option", ["--device-file", "--requirements", "import"])
def test_files_that_are_not_regular_files(capsys, tmp_path, home, kind, option):
    if kind == "fifo":
        path = tmp_path / "pipe.toml"
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = tmp_path / "zero.toml"
        os.symlink("/dev/zero", path)
    else:
        path = tmp_path / "dir.toml"
        path.mkdir()
    if option == "import":
        args = ["runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--model", "qwen3-0.6b"]
        expected = "file"
    elif option == "--requirements":
        args = ["report", "--requirements", str(path)]
        expected = ".toml file"
    else:
        args = ["recommend", "--device-file", str(path)]
        expected = ".toml file"
    code, out, err = run(capsys, *args)
    if kind == "directory":  # click's own check of the option comes first
        assert (code, out) == (1, "") and err.startswith("Error: ") and "is a directory" in err and "Traceback" not in err
    else:
        assert (code, out, err) == (1, "", f"Error: {path}: is not a regular file (a pipe, device or socket); expected a {expected}\n")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("deep.yaml", "a: " + "[" * 10_000 + "]" * 10_000, "nested more than 32 levels deep; a requirements file is flat"),
        ("bomb.yaml", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
         "more than 200,000 values; a data file is a few tables and lists"),
        ("inf.toml", 'models = ["qwen3-0.6b"]\nmin_tps = inf\n', "field 'min_tps': inf is not a finite number; give a real value"),
        ("floor.toml", 'quality_floor = 101\n', "field 'quality_floor': Input should be less than or equal to 100"),
        ("title.yaml", 'models: [qwen3-0.6b]\ntitle: "a\\x07b"\n', "field 'title': contains the control character '\\x07'; give one line of plain text"),
        ("budget.toml", 'models = ["qwen3-0.6b"]\nbudget_usd = 1e300\n', "field 'budget_usd': Input should be less than or equal to 1000000000000"),
        # true was read as 1: min_tps 1 tok/s, a fleet of 1, a $1 budget
        ("bool-tps.toml", 'models = ["qwen3-0.6b"]\nmin_tps = true\n',
         "field 'min_tps': true is not a number; give a number (true/false are for yes/no fields)"),
        ("bool-fleet.toml", 'models = ["qwen3-0.6b"]\nfleet_size = true\n',
         "field 'fleet_size': true is not a number; give a number (true/false are for yes/no fields)"),
    ],
)
def test_hostile_requirements(capsys, tmp_path, home, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    out_file = tmp_path / "r.md"
    code, out, err = run(capsys, "report", "--requirements", str(path), "-o", str(out_file))
    assert (code, out, err) == (1, "", f"Error: {path}: {message}\n")
    assert not out_file.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda e: re.sub(r"\nn_layers = \d+", "\nn_layers = 1000000000", e), "field 'n_layers': Input should be less than or equal to 1024"),
        (lambda e: re.sub(r"\nhidden_size = \d+", "\nhidden_size = inf", e), "field 'models.hidden_size': inf is not a finite number; give a real value"),
        (lambda e: re.sub(r"\nvocab_size = \d+", "\nvocab_size = -5", e), "field 'vocab_size': Input should be greater than 0"),
    ],
)
def test_hostile_model_overlay(capsys, home, edit, message):
    shipped = (data_root() / "catalog" / "models.toml").read_text()
    first = shipped.index("\n[[models]]\n")
    entry = shipped[first:shipped.index("\n[[models]]\n", first + 1)]
    (home / "catalog").mkdir()
    overlay = home / "catalog" / "models.toml"
    overlay.write_text(edit(entry))
    model_id = re.search(r'\nid = "([^"]+)"', entry).group(1)
    code, out, err = run(capsys, "recommend", "--ram", "4GB")
    assert (code, out) == (1, "")
    if "inf is not" in message:
        assert err == f"Error: {overlay}: {message}\n"
    else:
        assert err == f"Error: {overlay} [{model_id}]: {message}\n"


# --------------------------------------------------------------------------- the store


DAMAGE = [
    ("UPDATE calibrations SET factors = 'xx' WHERE id = 2",
     "calibration 2 is damaged (field 'factors': Invalid JSON: expected value at line 1 column 1)"),
    ("UPDATE calibrations SET factors = '{\"path\": \"cpu-arm\"}' WHERE id = 2",
     "calibration 2 is damaged (field 'factors.bw_efficiency': Field required)"),
    ("UPDATE calibrations SET stats = '[1]' WHERE id = 2", "calibration 2 is damaged (field 'stats' is not a JSON object)"),
    ("UPDATE calibrations SET factors = json_set(factors, '$.other_runtimes', json('{\"bw_efficiency\": -1, "
     "\"decode_compute_efficiency\": 0.1, \"fixed_s_per_layer\": 0}')) WHERE id = 2",
     "calibration 2 is damaged (field 'factors.other_runtimes.bw_efficiency': Input should be greater than or equal to 0.001)"),
    # positive but absurd: was applied, a decode of 0.0 tok/s and a 300-digit time to first token
    ("UPDATE calibrations SET factors = json_set(factors, '$.bw_efficiency', 1e-300) WHERE id = 2",
     "calibration 2 is damaged (field 'factors.bw_efficiency': Input should be greater than or equal to 0.001)"),
    ("UPDATE runs SET measured = '{\"decode_tokens_per_s\": NaN}' WHERE id = 1",
     "run 1 is damaged (field 'measured.decode_tokens_per_s': nan is not a finite number; give a real value)"),
    ("UPDATE runs SET measured = '{\"decode_tokens_per_s\": -3}' WHERE id = 1",
     "run 1 is damaged (field 'measured.decode_tokens_per_s' = -3 is not a rate in [0, 1e+07] tokens/s)"),
    ("UPDATE runs SET settings = '{\"n_prompt\": 1000000000000}' WHERE id = 1",
     "run 1 is damaged (field 'settings.n_prompt' = 1000000000000 is not a whole number in [0, 16,777,216])"),
    ("UPDATE runs SET settings = 'xx' WHERE id = 1", "run 1 is damaged (field 'settings' is not valid JSON)"),
    ("UPDATE runs SET status = 'weird' WHERE id = 1",
     "run 1 is damaged (field 'status' = 'weird' is not one of ok, noisy, crashed, timeout, refused, failed)"),
    ("UPDATE runs SET device_profile = '" + "[" * 5000 + "]" * 5000 + "' WHERE id = 1",
     "run 1 is damaged (field 'device_profile' is not valid JSON)"),
    ("UPDATE runs SET device_profile = '[1, 2]' WHERE id = 1", "run 1 is damaged (field 'device_profile' is not a JSON object)"),
    # 'runs list' printed all 5 MB of it
    ("UPDATE runs SET model_id = printf('%.*c', 5000000, 'x') WHERE id = 1",
     "run 1 is damaged (field 'model_id' is 5,000,000 characters long (at most 200): not a value the tool writes)"),
]


@pytest.fixture
def store_with_rows(home, catalog):
    db = home / "advisor.db"
    f = catalog.calibration["cpu-arm"]
    for tps in (5.0, 6.0):
        record_run(Run(source="validate", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-0.6b", quant="Q4_K_M",
                       measured={"decode_tokens_per_s": tps}, settings={"n_ctx": 512}), db)
    fitted = {"fitted_with": calibration_key(catalog, "raspberry-pi-5-8gb")}  # by this engine, on this profile: applied
    save_calibration("device", "raspberry-pi-5-8gb", f.model_copy(update={"bw_efficiency": 0.3}), 2, fitted, db)
    save_calibration("device", "raspberry-pi-5-8gb", f.model_copy(update={"bw_efficiency": 0.4}), 2, fitted, db)
    return db


@pytest.mark.parametrize("sql, problem", DAMAGE, ids=[p.split(" (")[0] + f"-{i}" for i, (_, p) in enumerate(DAMAGE)])
def test_a_damaged_row_is_reported_once_and_skipped(capsys, store_with_rows, sql, problem):
    conn = sqlite3.connect(store_with_rows)
    conn.execute(sql)
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "recommend", "--device", "raspberry-pi-5-8gb", "--format", "json")
    code2, out2, err2 = run(capsys, "runs", "list", "--format", "json")
    assert code == 0 and code2 == 0 and json.loads(out)["pick"]
    warning = f"Warning: {store_with_rows}: {problem}; it is skipped (the row is kept as it is)\n"
    assert (err + err2).count(warning) == 1 and (err + err2).count("Warning") == 1
    runs = json.loads(out2)["runs"]
    assert len(runs) == (1 if problem.startswith("run 1") else 2)
    if problem.startswith("calibration 2"):  # the one before it answers
        assert load_device_calibrations(store_with_rows)["raspberry-pi-5-8gb"].bw_efficiency == 0.3


def test_an_unreadable_store_never_stops_a_prediction(capsys, home):
    (home / "advisor.db").write_bytes(b"this is not a database" * 100)
    code, out, err = run(capsys, "recommend", "--ram", "4GB", "--format", "json")
    assert code == 0 and json.loads(out)["pick"]
    assert err.startswith(f"Warning: {home / 'advisor.db'}: the measurements database is unreadable")
    assert "predicting with the shipped factors" in err and "delete" not in err and "remove" not in err


def test_reads_never_write_the_store(home):
    """A read opens the store read-only: an empty database file stays untouched (no migration)."""
    db = home / "advisor.db"
    sqlite3.connect(db).close()
    before = db.read_bytes()
    assert list_runs(path=db) == [] and load_device_calibrations(db) == {}
    assert db.read_bytes() == before and not (home / "advisor.db-wal").exists()


# --------------------------------------------------------------------------- imports


def _bench_rows():
    return [json.loads(line) for line in (BENCH / "smollm2-135m-q4_k_m.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("avg_ts", float("nan"), "row 3: avg_ts = nan is not a finite number"),
        ("avg_ts", float("inf"), "row 3: avg_ts = inf is not a finite number"),
        ("avg_ts", -5.0, "row 3: avg_ts = -5.0 is not a rate in (0, 1e+07] tokens/s"),
        ("avg_ts", "fast", "row 3: avg_ts = 'fast' is not a number"),
        ("n_prompt", 10**12, "row 3: n_prompt = 1000000000000 is out of range [0, 1,048,576]"),
        ("n_prompt", -64, "row 3: n_prompt = -64 is out of range [0, 1,048,576]"),
        ("n_gen", 1.5, "row 3: n_gen = 1.5 is not a whole number"),
        ("n_threads", 0, "row 3: n_threads = 0 is out of range [1, 32,768]"),
        ("stddev_ts", -1, "row 3: stddev_ts = -1 is out of range [0, 1e+07]"),
        # stored as given before ('x' as the KV type of a run), and junk read as 'flash attention off'
        ("type_k", "x", "row 3: type_k = 'x' is not a KV cache type llama.cpp takes "
                        "(bf16, f16, f32, iq4_nl, q4_0, q4_1, q5_0, q5_1, q8_0)"),
        ("flash_attn", "maybe", "row 3: flash_attn = 'maybe' is not a yes/no value (true/false, 1/0, or -1/auto)"),
    ],
)
def test_a_poisoned_import_is_refused_whole(capsys, tmp_path, home, field, value, message):
    rows = _bench_rows()
    bad = dict(rows[1], **{field: value})
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (rows[0], rows[1], bad)) + "\n")
    code, out, err = run(capsys, "runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--model", "smollm2-135m-instruct")
    assert (code, out, err) == (1, "", f"Error: {path}: {message}; fix or remove that row (nothing was imported)\n")
    assert list_runs() == []  # the first two rows are not kept


def test_a_row_without_a_model_name_is_not_attributed(capsys, tmp_path, home):
    rows = _bench_rows()
    rows[0]["model_filename"] = "/models/SmolLM2-135M-Instruct-Q4_K_M.gguf"
    rows[1]["model_filename"] = ""
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = run(capsys, "runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--quant", "Q4_K_M")
    assert (code, err) == (1, f"Error: {path}: row 2 does not name its model (no model_filename); pass --model ID\n")
    assert list_runs() == []


def test_rows_of_several_models_need_separate_imports(capsys, tmp_path, home):
    rows = _bench_rows()
    rows[1]["model_filename"] = "/models/Qwen3-0.6B-Q4_K_M.gguf"
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, out, err = run(capsys, "runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--model", "qwen3-0.6b")
    assert (code, err) == (1, (f"Error: {path}: the rows measure 2 different model files (Qwen3-0.6B-Q4_K_M.gguf, "
                               "twin-llama-c41dadd209f3220a-Q4_K_M.gguf); --model names one: import each model's rows separately\n"))


@pytest.mark.parametrize(
    "filename, expected",
    [("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "qwen2.5-0.5b-instruct"), ("", None), ("model.gguf", None), ("qwen.gguf", None),
     ("/x/qwen3-0.6b-Q8_0.gguf", "qwen3-0.6b")],
)
def test_guess_model_never_guesses_from_too_little(catalog, filename, expected):
    from advisor.validate.importer import guess_model

    assert guess_model(filename, catalog) == expected


def test_an_interrupted_import_keeps_nothing(tmp_path, catalog, monkeypatch):
    """Ctrl-C halfway through: the rows already evaluated are not stored either."""
    from advisor.validate import importer

    calls = []
    real = importer.evaluate

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "evaluate", interrupted)
    db = tmp_path / "i.db"
    with pytest.raises(KeyboardInterrupt):
        importer.import_llama_bench(BENCH / "smollm2-135m-q4_k_m.json", device_id="mini-pc-intel-n100-8gb",
                                    model_id="smollm2-135m-instruct", catalog=catalog, db=db)
    assert list_runs(path=db) == []


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    "target, message",
    [("missing/dir/out.csv", "{p}: the directory {d} does not exist; create it first"),
     ("a-file/out.csv", "{p}: {d} is a file, not a directory; give a path in a directory"),
     ("/dev/full", "/dev/full: is not a regular file; give the name of a file to write")],
)
def test_export_to_a_bad_path(capsys, tmp_path, home, target, message):
    p = tmp_path / target if not target.startswith("/") else Path(target)
    if target.startswith("a-file/"):
        p.parent.write_text("a file where a directory should be")
    code, out, err = run(capsys, "runs", "export", "-o", str(p), "--force")
    assert (code, err) == (1, "Error: " + message.format(p=p, d=p.parent) + "\n")


@pytest.mark.parametrize("args", [("runs", "export", "-o", "{long}.csv"), ("report", "--model", "qwen3-0.6b", "-o", "{long}.html"),
                                  ("report", "--requirements", "{long}.toml"), ("recommend", "--ram", "4GB")])
def test_a_path_too_long_for_the_file_system_is_one_error_line(capsys, tmp_path, home, monkeypatch, args):
    """A file name past NAME_MAX (255 bytes) once ended in OSError ENAMETOOLONG and a traceback:
    Path.exists() raises it (it swallows only a missing file)."""
    long = str(tmp_path / ("a" * 300))
    if args[0] == "recommend":
        monkeypatch.setenv("ADVISOR_HOME", long)  # the home itself
    code, out, err = run(capsys, *(a.format(long=long) for a in args))
    assert (code, out) == (1, "") and len(err.splitlines()) == 1
    assert err.startswith(f"Error: {long[:40]}…") and err.endswith("characters): the name is too long for the file system; "
                                                                    "give a shorter path\n")


def test_report_into_a_missing_directory_fails_before_the_work(capsys, tmp_path, home):
    p = tmp_path / "nope" / "r.pdf"
    code, out, err = run(capsys, "report", "--model", "qwen3-0.6b", "-o", str(p))
    assert (code, err) == (1, f"Error: {p}: the directory {p.parent} does not exist; create it first\n")


def test_xlsx_drops_control_characters(tmp_path):
    pytest.importorskip("openpyxl")
    from advisor.report.render_xlsx import _cell

    assert _cell("a\x00b\x07c\td") == "abc\td" and _cell(["x\x1b", "y"]) == "x, y"


@pytest.mark.parametrize(
    "filters, message",
    [((), "No runs recorded yet; measure one with 'advisor validate' or import llama-bench output with 'advisor runs import'"),
     (("--device", "pixel-9"), "No recorded runs match --device pixel-9; see them all with 'advisor runs list'")],
)
def test_an_empty_runs_list_says_so(capsys, home, filters, message):
    code, out, err = run(capsys, "runs", "list", *filters)
    assert (code, out, err) == (0, message + "\n", "")


def test_runs_list_limit_says_how_many_more(capsys, home, catalog):
    for tps in (1.0, 2.0, 3.0):
        record_run(Run(source="validate", status="ok", device_id="local", measured={"decode_tokens_per_s": tps}))
    code, out, err = run(capsys, "runs", "list", "--limit", "2")
    assert code == 0 and "2 of 3 runs" in out and "  … and 1 more runs (raise --limit to list them)" in out
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", out)  # the time on one line, no 'T…+00:00'


@pytest.mark.parametrize("missing, package", [("llama_cpp", "llama-cpp-python"), ("gguf", "gguf")])
def test_validate_without_the_extra_fails_before_profiling(capsys, home, monkeypatch, missing, package):
    import importlib.util

    from advisor.local import local_profile_path

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    code, out, err = run(capsys, "validate", "--model", "qwen3-0.6b")
    assert (code, out, err) == (1, "", f"Error: {package} is not installed; install it with: pip install 'edge-model-advisor[validate]'\n")
    assert not local_profile_path().exists()  # no profiling happened


@pytest.mark.parametrize(
    "args, message",
    [(["validate", "--model", "qwen3-0.6b", "--gguf", "/dev/zero"],
      "Error: /dev/zero: is not a regular file (a pipe, device or socket); expected a .gguf model file"),
     (["validate", "--model", "qwen3-0.6b", "--gguf", "/nonexistent.gguf"],
      "Error: /nonexistent.gguf: file not found; check the --gguf path"),
     (["validate", "--model", "qwen3-06b"], "Error: unknown model 'qwen3-06b'; did you mean")],
)
def test_validate_refuses_bad_input_before_profiling(capsys, home, args, message):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from advisor.local import local_profile_path

    code, out, err = run(capsys, *args)
    assert code == 1 and err.startswith(message) and err.count("\n") == 1
    assert not local_profile_path().exists() and list_runs() == []


@pytest.mark.parametrize("cache", ["/dev/null", "a-file"])
def test_validate_refuses_a_twin_cache_that_is_not_a_directory_before_profiling(capsys, home, tmp_path, monkeypatch, cache):
    """ADVISOR_TWIN_CACHE naming a file once ended in FileExistsError (a traceback) after the
    machine had been profiled and the prediction made."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from advisor.local import local_profile_path

    path = Path(cache) if cache.startswith("/") else tmp_path / cache
    if not path.exists():
        path.write_text("not a directory")
    monkeypatch.setenv("ADVISOR_TWIN_CACHE", str(path))
    code, out, err = run(capsys, "validate", "--model", "qwen3-0.6b")
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith(f"Error: {path}: cannot keep the synthetic twins there (")
    assert err.endswith("; point ADVISOR_TWIN_CACHE at a directory\n")
    assert not local_profile_path().exists() and list_runs() == []


@pytest.fixture
def read_only_home(tmp_path, monkeypatch, catalog):
    """A store on a read-only file system (a tmpfs remounted read-only: needs root; skipped otherwise)."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only file system needs root")
    src = tmp_path / "src"
    src.mkdir()
    db = src / "advisor.db"
    record_run(Run(source="validate", status="ok", device_id="raspberry-pi-5-8gb", measured={"decode_tokens_per_s": 5.0}), db)
    save_calibration("device", "raspberry-pi-5-8gb", catalog.calibration["cpu-arm"].model_copy(update={"bw_efficiency": 0.2}), 2,
                     {"fitted_with": calibration_key(catalog, "raspberry-pi-5-8gb")}, db)
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "none", str(ro)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (ro / "advisor.db").write_bytes(db.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        monkeypatch.setenv("ADVISOR_HOME", str(ro))
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


def test_a_read_only_store_still_answers(capsys, read_only_home):
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--format", "json")
    assert (code, err) == (0, "") and "efficiency 0.20" in json.loads(out)["speed"]["basis"]  # its calibration is used
    code, out, err = run(capsys, "runs", "list", "--format", "json")
    assert (code, err) == (0, "") and len(json.loads(out)["runs"]) == 1
    code, out, err = run(capsys, "runs", "import", str(BENCH / "smollm2-135m-q4_k_m.json"), "--device", "mini-pc-intel-n100-8gb",
                         "--model", "smollm2-135m-instruct")
    assert (code, out) == (1, "")
    assert err == (f"Error: {read_only_home / 'advisor.db'}: the measurements database is read-only (unable to open database file); "
                   "make it and its directory writable, or set ADVISOR_HOME to a writable directory (reads and predictions still work)\n")


def _validate_without_measuring(monkeypatch, catalog, tmp_path):
    """`advisor validate` up to the measurement: a profile of this machine, and a run that would
    take minutes (here: fails the test)."""
    import advisor.local
    import advisor.validate.command
    import advisor.validate.predicted_vs_measured

    profile = tmp_path / "local.toml"
    profile.write_text("")
    monkeypatch.setattr(advisor.validate.command, "_require_validate_extra", lambda: None)
    monkeypatch.setattr(advisor.local, "local_profile_path", lambda: profile)
    monkeypatch.setattr(advisor.local, "local_profile", lambda: catalog.device("mini-pc-intel-n100-8gb"))

    def measure(*args, **kwargs):
        raise AssertionError("measured a run the store cannot record")

    monkeypatch.setattr(advisor.validate.predicted_vs_measured, "run_validation", measure)


def test_validate_refuses_a_damaged_store_before_measuring(capsys, home, monkeypatch, catalog, tmp_path):
    """The run was measured (minutes for a large model), then lost with the store's error."""
    (home / "advisor.db").write_bytes(b"not a database, " * 1000)
    _validate_without_measuring(monkeypatch, catalog, tmp_path)
    code, out, err = run(capsys, "validate", "--model", "qwen3-0.6b")
    assert (code, out) == (1, "")
    assert err == (f"Error: {home / 'advisor.db'}: the measurements database is unreadable (file is not a database); move it "
                   "aside and retry (keep the file: its runs can be recovered with sqlite3 .recover)\n")


def test_validate_refuses_a_read_only_store_before_measuring(capsys, read_only_home, monkeypatch, catalog, tmp_path):
    _validate_without_measuring(monkeypatch, catalog, tmp_path)
    code, out, err = run(capsys, "validate", "--model", "qwen3-0.6b")
    assert (code, out) == (1, "") and err.startswith(f"Error: {read_only_home / 'advisor.db'}: the measurements database is read-only")


@pytest.mark.parametrize(
    "args, message",
    [
        # click's 'the last one wins' predicted llama-3.2-1b-instruct alone, exit 0
        (("predict", "--model", "qwen3-0.6b", "--model", "llama-3.2-1b-instruct", "--device", "raspberry-pi-5-8gb"),
         "Error: --model is given more than once; predict takes one --model (see 'advisor predict --help')\n"),
        (("recommend", "--ram", "4GB", "--ram", "8GB"),
         "Error: --ram is given more than once; recommend takes one --ram (see 'advisor recommend --help')\n"),
        # an overflow to inf, not a negative: it said 'must be a positive size like 4GB'
        (("recommend", "--ram", "1e400GB"), "Error: --ram '1e400GB' is larger than 64 TiB; check the unit (e.g. 4GB)\n"),
        # the requirements model's words ('options: field device_classes: Input should be …') before
        (("report", "--class", "nope", "--model", "qwen3-0.6b"),
         "Error: unknown device class 'nope'; use one of phone, tablet, laptop, desktop, desktop-gpu, sbc, jetson, mini-pc\n"),
        # a missing file is missing, whatever its name ('must be .toml, .yaml or .yml' before)
        (("report", "--requirements", "/nonexistent"), "Error: /nonexistent: file not found; check the path\n"),
    ],
)
def test_option_slips_are_one_clear_error(capsys, home, args, message):
    code, out, err = run(capsys, *args)
    assert (code, out, err) == (1, "", message)


def test_repeatable_options_and_flags_may_repeat(capsys, home):
    code, out, err = run(capsys, "recommend", "--ram", "8GB", "--model", "qwen3-0.6b", "--model", "llama-3.2-1b-instruct",
                         "--format", "json")
    assert code == 0, err
    assert {c["model"] for c in json.loads(out)["candidates"]} <= {"qwen3-0.6b", "llama-3.2-1b-instruct"}


@pytest.mark.parametrize("quant, message", [
    ("4bit", "'4bit' is not a GGUF quantization but a format of mlx; add --runtime mlx (llama.cpp's types: 'advisor quants')"),
    ("int4", "'int4' is not a GGUF quantization but a format of litert-lm, ort-genai and mnn; add --runtime with one of them "
             "(llama.cpp's types: 'advisor quants')"),
])
def test_another_runtimes_format_without_its_runtime_names_the_runtime(capsys, home, quant, message):
    """Before: "unknown quantization 'q4f16_1'; did you mean Q4_1, F16?" — the format exists, in MLC."""
    code, out, err = run(capsys, "predict", "--model", "qwen3-0.6b", "--device", "macbook-air-m2-16gb", "--quant", quant)
    assert (code, out, err) == (1, "", f"Error: {message}\n")


def test_runs_list_with_advisor_home_a_file_names_the_slip(capsys, tmp_path, monkeypatch):
    """It said 'No runs recorded yet', as if the store were empty."""
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    code, out, err = run(capsys, "runs", "list")
    assert (code, out, err) == (1, "", f"Error: {home}: ADVISOR_HOME is a file, not a directory; point it at a directory\n")

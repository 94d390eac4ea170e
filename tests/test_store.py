"""Measurements database: migrations, concurrent writers, failures recorded, clear errors."""

import multiprocessing as mp
import os
import sqlite3

import pytest

from advisor import store
from advisor.errors import DataFileError
from advisor.store import MIGRATIONS, Run, connect, list_runs, record_run


def test_fresh_database_is_at_the_latest_version(tmp_path):
    db = tmp_path / "a.db"
    with connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrates_an_old_database_keeping_its_rows(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for statement in store._statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (created_at, source, status, device_id) VALUES ('2026-01-01', 'validate', 'ok', 'old-device')")
    conn.commit()
    conn.close()
    runs = list_runs(path=db)
    assert [r.device_id for r in runs] == ["old-device"]
    assert runs[0].weight_path is None and runs[0].excluded is None  # columns added by migrations 2 and 3
    with connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 3
    assert [r.excluded for r in list_runs(path=db)] == [None]


def test_newer_database_is_refused(tmp_path):
    db = tmp_path / "new.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(DataFileError, match="schema version 99, newer than this tool"):
        list_runs(path=db)


def test_corrupt_database_is_a_clear_error(tmp_path):
    db = tmp_path / "bad.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataFileError, match="unreadable"):
        list_runs(path=db)


def _writer(args):
    db, worker, n = args
    for i in range(n):
        record_run(Run(source="test", status="ok", device_id=f"w{worker}", measured={"decode_tokens_per_s": float(i)}), db)
    return n


def test_concurrent_writers_lose_nothing(tmp_path):
    db = tmp_path / "c.db"
    with connect(db):
        pass
    with mp.get_context("spawn").Pool(4) as pool:
        assert sum(pool.map(_writer, [(db, w, 25) for w in range(4)])) == 100
    runs = list_runs(path=db)
    assert len(runs) == 100
    assert {r.device_id for r in runs} == {"w0", "w1", "w2", "w3"}
    assert len({r.id for r in runs}) == 100


def test_round_trip_of_a_run(tmp_path):
    db = tmp_path / "r.db"
    rid = record_run(Run(source="validate", status="crashed", device_id="local", model_id="qwen3-0.6b", quant="Q4_K_M",
                         synthetic=True, error="llama.cpp crashed with SIGSEGV", settings={"n_ctx": 2048},
                         predicted={"decode_tokens_per_s": 12.5}, weight_path="default"), db)
    r = store.get_run(rid, db)
    assert (r.status, r.error, r.synthetic, r.settings, r.predicted["decode_tokens_per_s"]) == (
        "crashed", "llama.cpp crashed with SIGSEGV", True, {"n_ctx": 2048}, 12.5)


def test_calibrations_latest_wins(tmp_path, catalog):
    db = tmp_path / "k.db"
    f = catalog.calibration["cpu-x86"]
    store.save_calibration("device", "local", f.model_copy(update={"bw_efficiency": 0.3}), 2, {}, db)
    store.save_calibration("device", "local", f.model_copy(update={"bw_efficiency": 0.4}), 3, {}, db)
    store.save_calibration("path", "cpu-x86", f.model_copy(update={"bw_efficiency": 0.5}), 3, {}, db)
    got = store.load_device_calibrations(db)
    assert got["local"].bw_efficiency == 0.4 and got["path:cpu-x86"].bw_efficiency == 0.5


def test_another_programs_database_is_one_error_not_a_traceback(tmp_path):
    """A negative PRAGMA user_version (no edge-model-advisor writes one) indexed the migrations
    list from its end: an IndexError traceback."""
    path = tmp_path / "advisor.db"
    with sqlite3.connect(path) as conn:
        conn.executescript("CREATE TABLE foo(a); PRAGMA user_version = -5;")
    with pytest.raises(DataFileError, match="another program's file"):
        record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), path)
    # the readers' rule is the same: 'runs list' said "No runs recorded yet", hiding whatever the file holds
    with pytest.raises(DataFileError, match="another program's file"):
        store.list_runs(path=path)


def test_a_directory_where_the_database_should_be_is_named_as_such(tmp_path):
    path = tmp_path / "advisor.db"
    path.mkdir()
    with pytest.raises(DataFileError, match="is a directory or special file"):
        list_runs(path=path)
    # writers say the same (a store linked to /dev/null was a 'disk I/O error' to recover with sqlite3)
    with pytest.raises(DataFileError, match="is a directory or special file"):
        record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), path)
    null = tmp_path / "null" / "advisor.db"
    null.parent.mkdir()
    null.symlink_to("/dev/null")
    with pytest.raises(DataFileError, match="is a directory or special file"):
        record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), null)


def test_a_store_under_a_file_names_advisor_home(tmp_path):
    home = tmp_path / "afile"
    home.write_text("")
    with pytest.raises(DataFileError) as err:  # it said '[Errno 17] File exists'
        record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), home / "advisor.db")
    assert str(err.value).startswith(f"{home / 'advisor.db'}: cannot create the measurements database: {home} is a file, "
                                     "not a directory; set ADVISOR_HOME to a directory you can write")


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_a_store_below_a_file_names_the_file(tmp_path, monkeypatch, below):
    """A home under a file said '([Errno 20] Not a directory: …); check ADVISOR_HOME', naming neither the file at fault
    nor what to do."""
    blocker = tmp_path / "afile"
    blocker.write_text("keep")
    home = blocker / below
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    with pytest.raises(DataFileError) as err:
        record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), home / "advisor.db")
    assert str(err.value) == (f"{home / 'advisor.db'}: cannot create the measurements database: {blocker} is a file, not a "
                              f"directory; set ADVISOR_HOME to a directory you can write (now {home})")
    assert blocker.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any directory")
def test_a_store_in_a_read_only_directory_says_so(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    home = parent / "home"
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    try:
        with pytest.raises(DataFileError) as err:
            record_run(Run(source="validate", status="ok", device_id="x", model_id="m", quant="q"), home / "advisor.db")
    finally:
        parent.chmod(0o755)
    assert f"{parent} is not writable by this user; set ADVISOR_HOME to a directory you can write" in str(err.value)


@pytest.mark.parametrize("samples, says", [
    (["fast", "slow"], "field 'measured.decode_samples[0]' = 'fast' is not a rate"),
    ([20.0, None], "field 'measured.decode_samples[1]' = None is not a rate"),
    ([[20.0], [21.0]], "field 'measured.decode_samples[0]' = [20.0] is not a rate"),
    ([20.0, -1.0], "field 'measured.decode_samples[1]' = -1.0 is not a rate"),
    ("20, 21", "field 'measured.decode_samples' is not a list of rates"),
])
def test_a_run_whose_repeats_are_not_rates_is_damaged(tmp_path, capsys, samples, says):
    """Repeats that are not rates (a hand-edited export, a damaged row) made 'advisor calibrate'
    stop with a traceback in sample_spread: the row is skipped with one warning instead."""
    db = tmp_path / "advisor.db"
    record_run(Run(source="validate", status="ok", device_id="local",
                   measured={"decode_tokens_per_s": 20.0, "decode_samples": samples}), db)
    assert list_runs(path=db) == []
    err = capsys.readouterr().err
    assert err.startswith("Warning:") and err.count("\n") == 1 and says in err, err


def test_a_store_locked_by_another_program_is_one_error_within_20_s(tmp_path):
    """A store held under an exclusive lock (a database browser, `PRAGMA locking_mode=EXCLUSIVE`)
    once kept every read — `runs list`, each prediction's calibrations — waiting the 30 s busy
    timeout, past the 20 s beyond which the project counts a command as hung."""
    import time

    db = tmp_path / "advisor.db"
    record_run(Run(source="validate", status="ok", device_id="d", model_id="m", quant="Q4_K_M"), db)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("SELECT count(*) FROM runs").fetchone()
        assert store.READ_BUSY_TIMEOUT_S <= 10 and store.WRITE_BUSY_TIMEOUT_S < 20
        start = time.monotonic()
        with pytest.raises(DataFileError, match="the measurements database is busy"):
            list_runs(path=db)
        assert time.monotonic() - start < 20
    finally:
        holder.close()
    assert len(list_runs(path=db)) == 1  # the lock gone, the store answers again


def test_runs_list_table_shows_the_latest_runs_csv_and_json_all(tmp_path, monkeypatch, capsys):
    """A table of 8,000 runs took 4 s to draw and scrolled out of sight: without --limit the table
    shows the latest TABLE_RUNS and says how many earlier runs there are; CSV, JSON and an explicit
    --limit list what they are asked for."""
    import csv
    import io
    import json

    from advisor.cli import main
    from advisor.validate.command import TABLE_RUNS

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    record_run(Run(source="validate", status="ok", device_id="d", model_id="m", quant="Q4_K_M"))
    with sqlite3.connect(store.db_path()) as conn:
        cols = [c[1] for c in conn.execute("PRAGMA table_info(runs)") if c[1] != "id"]
        conn.executemany(f"INSERT INTO runs ({', '.join(cols)}) SELECT {', '.join(cols)} FROM runs WHERE id = 1",
                         [()] * (TABLE_RUNS + 49))
    n = TABLE_RUNS + 50
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert f"the latest {TABLE_RUNS} of {n} runs" in out and f"… and 50 earlier runs (--limit {n} or --format csv" in out
    ids = [int(line.split()[0]) for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert ids == list(range(51, n + 1))
    assert main(["runs", "list", "--format", "csv"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == n
    assert main(["runs", "list", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == n
    assert main(["runs", "list", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert f"3 of {n} runs" in out and f"… and {n - 3} more runs (raise --limit" in out

"""The measurements database: every validation run and every imported benchmark, and the
calibrations fitted from them.

SQLite in ``$ADVISOR_HOME/advisor.db`` (``ADVISOR_HOME`` moves it). WAL journal and a busy
timeout so concurrent writers (two validations at once) both land; each write is one
transaction. Schema versions live in ``PRAGMA user_version`` and migrate forward in order.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from pydantic import ValidationError

from advisor.catalog import store_path
from advisor.errors import DataFileError, UnknownIdError
from advisor.inputs import MAX_CONTEXT_TOKENS, MAX_DATA_FILE_BYTES, MAX_TOKENS_PER_S, check_document
from advisor.records import PathFactors

#: How long a command waits for a store another process has locked, in seconds. Writes are single
#: short transactions, so a wait this long means a lock held on purpose (a database browser, an
#: exclusive-locking tool): the command says so instead of hanging (a 30 s wait broke the
#: README's "never a hang past 20 s"; a read waited the 30 s before its warning).
READ_BUSY_TIMEOUT_S = 5.0
WRITE_BUSY_TIMEOUT_S = 15.0

MIGRATIONS: list[str] = [
    # 1: runs and calibrations
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        source TEXT NOT NULL,                 -- validate | llama-bench | import
        status TEXT NOT NULL,                 -- ok | crashed | timeout | refused | failed
        error TEXT,
        device_id TEXT NOT NULL,
        device_fingerprint TEXT,
        device_profile TEXT,                  -- JSON of the profile used for the prediction
        model_id TEXT,
        model_name TEXT,
        quant TEXT,
        synthetic INTEGER NOT NULL DEFAULT 0, -- 1: synthetic twin (random weights)
        gguf_path TEXT,
        backend TEXT,
        settings TEXT NOT NULL DEFAULT '{}',  -- JSON: n_ctx, prompt/output tokens, threads, repeats, …
        llama_cpp_version TEXT,
        tool_version TEXT,
        predicted TEXT NOT NULL DEFAULT '{}', -- JSON of predicted figures
        measured TEXT NOT NULL DEFAULT '{}',  -- JSON of measured figures (medians)
        decode_tps REAL,
        prefill_tps REAL,
        predicted_decode_tps REAL,
        predicted_prefill_tps REAL
    );
    CREATE INDEX runs_device ON runs(device_id);
    CREATE INDEX runs_model ON runs(model_id, quant);
    CREATE TABLE calibrations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        scope TEXT NOT NULL,                  -- device | path
        key TEXT NOT NULL,                    -- device id or execution path
        factors TEXT NOT NULL,                -- JSON of PathFactors
        n_runs INTEGER NOT NULL,
        stats TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX calibrations_key ON calibrations(scope, key, id);
    """,
    # 2: which llama.cpp weight path a run used (repacked extra buffer types or not)
    """
    ALTER TABLE runs ADD COLUMN weight_path TEXT;
    """,
    # 3: a run its owner left out of calibration (`advisor runs exclude`): the reason, NULL = fitted
    """
    ALTER TABLE runs ADD COLUMN excluded TEXT;
    """,
]


def db_path() -> Path:
    return store_path()


@contextmanager
def connect(path: Path | None = None, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to the store. Writers migrate it forward; ``readonly`` connections never write
    (no migration, no journal change), so a store on a read-only disk or owned by someone else
    still answers reads."""
    path = path or db_path()
    conn = _open_readonly(path) if readonly else _open_writable(path)
    try:
        yield conn
    except sqlite3.DatabaseError as exc:
        raise _database_error(path, exc) from None
    finally:
        conn.close()


def _database_error(path: Path, exc: sqlite3.Error) -> DataFileError:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return DataFileError(f"{path}: the measurements database is read-only ({text}); make it and its directory "
                             "writable, or set ADVISOR_HOME to a writable directory (reads and predictions still work)")
    if "locked" in text or "busy" in text:
        return DataFileError(f"{path}: the measurements database is busy ({text}); retry when the other advisor finishes")
    return DataFileError(f"{path}: the measurements database is unreadable ({text}); move it aside and retry "
                         "(keep the file: its runs can be recovered with sqlite3 .recover)")


def _open_writable(path: Path) -> sqlite3.Connection:
    from advisor.output import home_write_problem

    _check_regular(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # errno's 'File exists' or 'Not a directory' named neither the path at fault nor the fix
        raise DataFileError(f"{path}: cannot create the measurements database: {home_write_problem(path.parent, exc)}") from None
    try:
        conn = sqlite3.connect(path, timeout=WRITE_BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise DataFileError(f"{path}: cannot open the measurements database ({exc}); check ADVISOR_HOME") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(WRITE_BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not _writable(path):
            raise DataFileError(f"{path}: the measurements database is read-only ({exc}); make it and its directory "
                                "writable, or set ADVISOR_HOME to a writable directory (reads and predictions still work)") from None
        raise _database_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _writable(path: Path) -> bool:
    """Can this process write the store (its file and, for the journal, its directory)?"""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _check_regular(path: Path) -> None:
    """The store is a regular file (or none yet): a directory, /dev/null or a FIFO is refused by name
    (writing to /dev/null was called a 'disk I/O error … recover it with sqlite3')."""
    if path.exists() and not path.is_file():
        raise DataFileError(f"{path}: is a directory or special file, not a measurements database; move it aside or set ADVISOR_HOME")


def _open_readonly(path: Path) -> sqlite3.Connection:
    """Read-only: ``mode=ro`` first; ``immutable=1`` when even the WAL index cannot be created (a
    read-only directory)."""
    _check_regular(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no measurements database yet; record runs with 'advisor validate' or 'advisor runs import'")
    last: sqlite3.Error | None = None
    for flags in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=READ_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(READ_BUSY_TIMEOUT_S * 1000)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            last = exc
            if "unable to open" in str(exc) or "readonly" in str(exc):
                continue
            raise _database_error(path, exc) from None
        try:
            _check_version(version)
        except DataFileError:
            conn.close()
            raise
        return conn
    raise DataFileError(f"{path}: cannot open the measurements database ({last}); check its permissions")


def _check_version(version: int) -> int:
    """The store's schema version, or DataFileError when this tool cannot read it (the readers'
    and the writers' one rule): negative — no edge-model-advisor writes that — or newer than this tool."""
    if version < 0:
        raise DataFileError(f"the measurements database has schema version {version}, which no edge-model-advisor writes: "
                            "it is another program's file; set ADVISOR_HOME elsewhere or move it aside")
    if version > len(MIGRATIONS):
        raise DataFileError(
            f"the measurements database has schema version {version}, newer than this tool ({len(MIGRATIONS)}); upgrade edge-model-advisor"
        )
    return version


def _has_tables(conn: sqlite3.Connection) -> bool:
    """False for a store no writer has migrated yet (read-only connections do not migrate)."""
    return conn.execute("PRAGMA user_version").fetchone()[0] >= 1


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: BEGIN IMMEDIATE (concurrent writers queue on the lock), then COMMIT,
    or ROLLBACK on any error or interrupt, so all of it lands or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own immediate transaction. Returns the version."""
    version = _check_version(conn.execute("PRAGMA user_version").fetchone()[0])
    while version < len(MIGRATIONS):
        # executescript would commit implicitly: run the statements one by one in one transaction
        with _immediate(conn):
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current == version:  # another process may have migrated meanwhile
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our statements' literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [st.strip() for st in "\n".join(lines).split(";") if st.strip()]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: Run.weight_path of a run made without llama.cpp's CPU weight repacking (``advisor validate``
#: retries so after a crash in the repack path); its speeds are measured with --no-repack
NO_REPACK_WEIGHT_PATH = "no extra buffer types (use_extra_bufts = False, after a crash)"


@dataclass
class Run:
    """One measurement (or failed attempt) to record."""

    source: str
    status: str
    device_id: str
    model_id: str | None = None
    model_name: str | None = None
    quant: str | None = None
    synthetic: bool = False
    gguf_path: str | None = None
    backend: str | None = None
    weight_path: str | None = None
    device_fingerprint: str | None = None
    device_profile: Mapping[str, Any] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    predicted: Mapping[str, Any] = field(default_factory=dict)
    measured: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    llama_cpp_version: str | None = None
    tool_version: str | None = None
    id: int | None = None
    created_at: str | None = None
    #: why its owner left it out of calibration (``advisor runs exclude``); None: fitted when usable
    excluded: str | None = None


_RUN_COLUMNS = [
    "created_at", "source", "status", "error", "device_id", "device_fingerprint", "device_profile", "model_id",
    "model_name", "quant", "synthetic", "gguf_path", "backend", "settings", "llama_cpp_version", "tool_version",
    "predicted", "measured", "decode_tps", "prefill_tps", "predicted_decode_tps", "predicted_prefill_tps", "weight_path",
    "excluded",
]


def check_writable(path: Path | None = None) -> None:
    """Raise DataFileError now when a run could not be recorded (a read-only, busy or damaged
    store): ``advisor validate`` calls it before the minutes of measuring a run it must keep."""
    with connect(path) as conn:
        with _immediate(conn):
            pass


def record_run(run: Run, path: Path | None = None) -> int:
    """Insert one run in its own transaction; returns its id."""
    return record_runs([run], path)[0]


def record_runs(runs: list[Run], path: Path | None = None) -> list[int]:
    """Insert several runs in one transaction: all of them land, or (an error, an interrupt)
    none. Returns their ids."""
    return _store_runs(runs, path, skip_copies=False)[0]


#: What tells one imported llama-bench measurement from another: the test, its settings and its
#: result as llama-bench printed them. The same row imported twice has them all equal; a new run of
#: the same test does not (its rate and deviation differ in the last digits llama-bench prints).
_IDENTITY_SETTINGS = ("test", "n_prompt", "n_gen", "threads", "n_batch", "n_ubatch", "type_k", "flash_attn", "n_gpu_layers")
_IDENTITY_MEASURED = ("decode_tokens_per_s", "prefill_tokens_per_s", "stddev_tokens_per_s", "model_size_bytes", "cpu_info", "gpu_info")


def run_identity(run: Run) -> str | None:
    """The key two copies of one imported llama-bench measurement share (None: a run measured here
    by ``advisor validate``, each of which is a measurement of its own)."""
    if run.source != "llama-bench":
        return None
    return json.dumps([run.device_id, run.model_id, run.quant, run.gguf_path, run.backend, run.llama_cpp_version,
                       [run.settings.get(k) for k in _IDENTITY_SETTINGS], [run.measured.get(k) for k in _IDENTITY_MEASURED]],
                      default=str)


def copy_identity(run: Run) -> str | None:
    """What an import compares with the stored runs: ``run_identity`` of a llama-bench row; of any
    other run (an export carried it here), the time it was recorded, the machine and its result,
    whatever device id it is stored under (``runs import`` stores another machine's 'local' runs
    under an id of their own). None: a run without its recording time."""
    if run.source == "llama-bench":
        return run_identity(run)
    if not run.created_at:
        return None
    return json.dumps([run.source, run.created_at, run.device_fingerprint, run.model_id, run.quant, run.status,
                       [run.measured.get(k) for k in _IDENTITY_MEASURED]], default=str)


def record_new_runs(runs: list[Run], path: Path | None = None) -> tuple[list[int], list[tuple[int, int]]]:
    """``record_runs`` less the runs already stored (``copy_identity``) or given twice: returns the
    new runs' ids and, for each run left out, (its index in ``runs``, the id of the stored copy).
    The check and the inserts are one transaction, so two imports of one file at once store it once."""
    return _store_runs(runs, path, skip_copies=True)


def _stored_identities(conn: sqlite3.Connection, runs: list[Run]) -> dict[str, int]:
    """copy_identity → id of the first stored run with it, of the stored runs that can be copies of
    ``runs``: llama-bench runs of their devices, other runs recorded at their times."""
    stored: dict[str, int] = {}
    devices = sorted({r.device_id for r in runs if r.source == "llama-bench"})
    times = sorted({r.created_at for r in runs if r.source != "llama-bench" and r.created_at})
    queries = [("source = 'llama-bench' AND device_id", devices[i:i + 500]) for i in range(0, len(devices), 500)]
    queries += [("source != 'llama-bench' AND created_at", times[i:i + 500]) for i in range(0, len(times), 500)]
    for where, values in queries:
        for row in conn.execute(f"SELECT * FROM runs WHERE {where} IN ({', '.join('?' for _ in values)}) ORDER BY id", values):
            try:
                key = copy_identity(_row_to_run(row))
            except ValueError:
                continue  # a damaged row is no copy of anything (list_runs reports it)
            if key is not None:
                stored[key] = min(stored.get(key, int(row["id"])), int(row["id"]))
    return stored


def _store_runs(runs: list[Run], path: Path | None, *, skip_copies: bool) -> tuple[list[int], list[tuple[int, int]]]:
    sql = f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in _RUN_COLUMNS)})"
    rows = [_run_values(run) for run in runs]
    ids: list[int] = []
    copies: list[tuple[int, int]] = []
    with connect(path) as conn:
        with _immediate(conn):
            stored = _stored_identities(conn, runs) if skip_copies else {}
            for index, (run, values) in enumerate(zip(runs, rows)):
                key = copy_identity(run) if skip_copies else None
                if key is not None and key in stored:
                    copies.append((index, stored[key]))
                    continue
                ids.append(int(conn.execute(sql, [values[c] for c in _RUN_COLUMNS]).lastrowid))
                if key is not None:
                    stored[key] = ids[-1]
    return ids, copies


def _run_values(run: Run) -> dict[str, Any]:
    from advisor import __version__

    return {
        "created_at": run.created_at or now(),
        "source": run.source,
        "status": run.status,
        "error": run.error[-TEXT_LIMITS["error"]:] if run.error else run.error,  # a log's tail, as read back
        "device_id": run.device_id,
        "device_fingerprint": run.device_fingerprint,
        "device_profile": json.dumps(run.device_profile, default=str) if run.device_profile else None,
        "model_id": run.model_id,
        "model_name": run.model_name,
        "quant": run.quant,
        "synthetic": int(run.synthetic),
        "gguf_path": run.gguf_path,
        "backend": run.backend,
        "settings": json.dumps(dict(run.settings), default=str),
        "llama_cpp_version": run.llama_cpp_version,
        "tool_version": run.tool_version or __version__,
        "predicted": json.dumps(dict(run.predicted), default=str),
        "measured": json.dumps(dict(run.measured), default=str),
        "decode_tps": run.measured.get("decode_tokens_per_s"),
        "prefill_tps": run.measured.get("prefill_tokens_per_s"),
        "predicted_decode_tps": run.predicted.get("decode_tokens_per_s"),
        "predicted_prefill_tps": run.predicted.get("prefill_tokens_per_s"),
        "weight_path": run.weight_path,
        "excluded": run.excluded,
    }


# --------------------------------------------------------------------------- validated reads

RUN_STATUSES = ("ok", "noisy", "crashed", "timeout", "refused", "failed")
#: settings a reader turns into a Workload (calibration): whole numbers in range, when present
_SETTING_INTS = ("n_ctx", "prompt_tokens", "output_tokens", "n_prompt", "n_gen", "threads", "repeats", "n_batch", "n_ubatch")
#: figures of tokens per second: finite and not negative, when present
_RATES = ("decode_tokens_per_s", "prefill_tokens_per_s")
#: the repeats' rates (``advisor validate``'s, llama-bench's samples_ts): lists of such figures, when
#: present — calibrate compares the fastest with the slowest (``engine.calibrate.sample_spread``)
_SAMPLES = ("decode_samples", "prefill_samples")

_reported: set[tuple[str, str, int]] = set()


_said: list[str] = []


def warn(message: str) -> None:
    """How a skipped row or an unreadable store is reported (once per row and process): on stderr,
    and kept for the dashboard to show (``said``; it went to the server's log alone)."""
    _said.append(message)
    sys.stderr.write(f"Warning: {message}\n")


def said() -> tuple[str, ...]:
    """The ``warn`` messages since ``start_reporting`` (else of this process), in order."""
    return tuple(_said)


def start_reporting() -> None:
    """Report every problem again from now on (the dashboard, at each rerun: its page shows the
    store as it is now, not as it was when the server started)."""
    _said.clear()
    _reported.clear()


def _report_bad_row(path: Path, table: str, row_id: int, problem: str) -> None:
    key = (str(path), table, row_id)
    if key in _reported:
        return
    _reported.add(key)
    what = "run" if table == "runs" else "calibration"
    warn(f"{path}: {what} {row_id} is damaged ({problem}); it is skipped (the row is kept as it is)")


def _json_field(d: Mapping[str, Any], name: str, *, nullable: bool = False) -> Any:
    text = d[name]
    if text is None:
        if nullable:
            return None
        text = "{}"
    if not isinstance(text, str):
        raise ValueError(f"field '{name}' is not JSON text")  # noqa: TRY004 — a damaged row, reported as such
    if len(text) > MAX_DATA_FILE_BYTES:
        raise ValueError(f"field '{name}' is larger than {MAX_DATA_FILE_BYTES:,} bytes")
    try:
        value = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        raise ValueError(f"field '{name}' is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"field '{name}' is not a JSON object")  # noqa: TRY004 — a damaged row, reported as such
    try:
        check_document(value, "JSON", root=name)
    except DataFileError as exc:
        raise ValueError(str(exc).removeprefix("JSON: ")) from None
    return value


def _check_rates(figures: Mapping[str, Any], name: str) -> None:
    for key in _RATES:
        v = figures.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_TOKENS_PER_S:
            raise ValueError(f"field '{name}.{key}' = {v!r} is not a rate in [0, {MAX_TOKENS_PER_S:g}] tokens/s")


def _check_samples(measured: Mapping[str, Any]) -> None:
    for key in _SAMPLES:
        samples = measured.get(key)
        if samples is None:
            continue
        if not isinstance(samples, list):
            raise ValueError(f"field 'measured.{key}' is not a list of rates")  # noqa: TRY004 — a damaged row, reported as such
        for i, v in enumerate(samples):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_TOKENS_PER_S:
                raise ValueError(f"field 'measured.{key}[{i}]' = {v!r} is not a rate in [0, {MAX_TOKENS_PER_S:g}] tokens/s")


def _check_settings(settings: Mapping[str, Any]) -> None:
    for key in _SETTING_INTS:
        v = settings.get(key)
        if v is None:
            continue
        low = 1 if key == "threads" else 0
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= MAX_CONTEXT_TOKENS:
            raise ValueError(f"field 'settings.{key}' = {v!r} is not a whole number in [{low}, {MAX_CONTEXT_TOKENS:,}]")


#: The longest text a stored run's fields hold as the tool writes them (ids and names are short;
#: paths are a file system's; an error keeps a log's tail).
TEXT_LIMITS = {"source": 200, "status": 200, "device_id": 200, "model_id": 200, "quant": 200, "backend": 200,
               "model_name": 1000, "gguf_path": 4096, "weight_path": 4096, "excluded": 1000, "error": 100_000}


def _row_to_run(row: sqlite3.Row) -> Run:
    """A stored row as a Run, checked: JSON fields parse to objects, statuses are known, rates
    (the repeats' too) are finite and positive, workload settings are whole numbers in range. ValueError names the
    field otherwise."""
    d = dict(row)
    for name in ("source", "status", "device_id", "created_at"):
        if not isinstance(d.get(name), str) or not d[name]:
            raise ValueError(f"field '{name}' is empty or not text")
    if d["status"] not in RUN_STATUSES:
        raise ValueError(f"field 'status' = {d['status']!r} is not one of {', '.join(RUN_STATUSES)}")
    settings, predicted, measured = _json_field(d, "settings"), _json_field(d, "predicted"), _json_field(d, "measured")
    profile = _json_field(d, "device_profile", nullable=True)
    _check_rates(measured, "measured")
    _check_rates(predicted, "predicted")
    _check_samples(measured)
    _check_settings(settings)
    for name in ("model_id", "model_name", "quant", "gguf_path", "backend", "error", "weight_path", "excluded"):
        if d.get(name) is not None and not isinstance(d[name], str):
            raise ValueError(f"field '{name}' is not text")
    for name, most in TEXT_LIMITS.items():  # a 5 MB model id was printed whole by 'runs list'
        if isinstance(d.get(name), str) and len(d[name]) > most:
            raise ValueError(f"field '{name}' is {len(d[name]):,} characters long (at most {most:,}): not a value the tool writes")
    return Run(
        id=d["id"], created_at=d["created_at"], source=d["source"], status=d["status"], error=d["error"],
        device_id=d["device_id"], device_fingerprint=d["device_fingerprint"],
        device_profile=profile,
        model_id=d["model_id"], model_name=d["model_name"], quant=d["quant"], synthetic=bool(d["synthetic"]),
        gguf_path=d["gguf_path"], backend=d["backend"], weight_path=d.get("weight_path"),
        settings=settings, predicted=predicted,
        measured=measured, llama_cpp_version=d["llama_cpp_version"], tool_version=d["tool_version"],
        excluded=d.get("excluded"),
    )


#: The fields of one run in ``advisor runs export --format json`` (``Run``'s)
RUN_FIELDS = tuple(Run.__dataclass_fields__)


def run_from_export(d: Mapping[str, Any]) -> Run:
    """One run of an export (``advisor runs export --format json``), checked as a stored row is
    (``_row_to_run``: statuses known, rates finite and in range, token counts whole and in range,
    JSON fields objects); its id is dropped (the store gives it one). ValueError names the field."""
    unknown = sorted(set(d) - set(RUN_FIELDS))
    if unknown:
        raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown[:5]))}")
    row: dict[str, Any] = {name: d.get(name) for name in RUN_FIELDS}
    for name in ("settings", "predicted", "measured", "device_profile"):
        value = row[name]
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"field '{name}' is not a JSON object")
        row[name] = None if value is None else json.dumps(value)
    if not isinstance(row["synthetic"], (bool, type(None))):
        raise ValueError(f"field 'synthetic' = {row['synthetic']!r} is not true or false")
    for name in ("device_fingerprint", "llama_cpp_version", "tool_version"):
        if row[name] is not None and not isinstance(row[name], str):
            raise ValueError(f"field '{name}' is not text")
    device = row["device_id"]
    if isinstance(device, str) and (len(device) > 200 or not device.isprintable() or device != device.strip()):
        raise ValueError(f"field 'device_id' = {device[:60]!r} is not a device id")
    if isinstance(row["created_at"], str):
        try:
            datetime.fromisoformat(row["created_at"])
        except ValueError:
            raise ValueError(f"field 'created_at' = {row['created_at'][:60]!r} is not a date and time (ISO 8601)") from None
    return _row_to_run({**row, "id": None, "synthetic": bool(row["synthetic"])})  # type: ignore[arg-type]


def list_runs(
    *, device_id: str | None = None, model_id: str | None = None, status: str | None = None,
    limit: int | None = None, path: Path | None = None,
) -> list[Run]:
    where, args = [], []
    for col, val in (("device_id", device_id), ("model_id", model_id), ("status", status)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
    target = path or db_path()
    if target.parent.exists() and not target.parent.is_dir():  # 'No runs recorded yet' would hide the slip
        raise DataFileError(f"{target.parent}: ADVISOR_HOME is a file, not a directory; point it at a directory")
    if not target.exists():
        return []
    out: list[Run] = []
    with connect(target, readonly=True) as conn:
        if not _has_tables(conn):
            return []
        for row in conn.execute(sql, args):
            try:
                out.append(_row_to_run(row))
            except ValueError as exc:
                _report_bad_row(target, "runs", row["id"], str(exc))
                continue
            if limit and len(out) >= limit:
                break
    return out


def set_excluded(run_ids: list[int], reason: str | None, path: Path | None = None) -> None:
    """Leave the runs out of calibration with ``reason`` (None: fit them again), in one
    transaction: an id that is not stored changes nothing and raises UnknownIdError."""
    target = path or db_path()
    if not target.exists():
        raise UnknownIdError(f"no runs are recorded yet ({target} does not exist); measure one with 'advisor validate'")
    with connect(target) as conn:
        with _immediate(conn):
            stored: set[int] = set()
            for start in range(0, len(run_ids), 500):  # SQLite caps the parameters of one statement
                chunk = run_ids[start:start + 500]
                stored.update(int(r[0]) for r in conn.execute(f"SELECT id FROM runs WHERE id IN ({', '.join('?' for _ in chunk)})", chunk))
            missing = [i for i in run_ids if i not in stored]
            if missing:
                shown = ", ".join(map(str, missing[:10])) + (f", … ({len(missing):,} ids in all)" if len(missing) > 10 else "")
                raise UnknownIdError(f"no run with id {shown}; nothing changed; list them with 'advisor runs list'")
            conn.executemany("UPDATE runs SET excluded = ? WHERE id = ?", [(reason, i) for i in run_ids])


def get_run(run_id: int, path: Path | None = None) -> Run:
    target = path or db_path()
    row = None
    if target.exists():
        with connect(target, readonly=True) as conn:
            if _has_tables(conn):
                row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise UnknownIdError(f"no run with id {run_id}; list them with 'advisor runs list'")
    try:
        return _row_to_run(row)
    except ValueError as exc:
        raise DataFileError(f"{target}: run {run_id} is damaged ({exc}); it is skipped everywhere, the row is kept") from None


def save_calibration(scope: str, key: str, factors: PathFactors, n_runs: int, stats: Mapping[str, Any], path: Path | None = None) -> int:
    """One calibration (``save_calibrations`` of one)."""
    return save_calibrations([(scope, key, factors, n_runs, stats)], path)[0]


def save_calibrations(items: list[tuple[str, str, PathFactors, int, Mapping[str, Any]]], path: Path | None = None) -> list[int]:
    """Several calibrations in one transaction: every one lands, or none (an error, Ctrl-C)."""
    sql = "INSERT INTO calibrations (created_at, scope, key, factors, n_runs, stats) VALUES (?, ?, ?, ?, ?, ?)"
    with connect(path) as conn:
        with _immediate(conn):
            return [int(conn.execute(sql, (now(), scope, key, PathFactors.model_validate(f.model_dump()).model_dump_json(), n,
                                           json.dumps(dict(st), default=str))).lastrowid) for scope, key, f, n, st in items]


def _row_to_calibration(row: sqlite3.Row) -> tuple[PathFactors, dict[str, Any]]:
    d = dict(row)
    if not isinstance(d.get("key"), str) or not d["key"]:
        raise ValueError("field 'key' is empty or not text")
    if not isinstance(d.get("factors"), str) or len(d["factors"]) > MAX_DATA_FILE_BYTES:
        raise ValueError("field 'factors' is not JSON text")
    try:
        factors = PathFactors.model_validate_json(d["factors"])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"field 'factors{'.' + where if where else ''}': {err['msg']}") from None
    return factors, _json_field(d, "stats")


def latest_calibrations(scope: str, path: Path | None = None) -> dict[str, tuple[PathFactors, dict[str, Any]]]:
    """The newest valid calibration per key: a damaged row is reported once and skipped, so the
    one before it answers."""
    target = path or db_path()
    if not target.exists():
        return {}
    out: dict[str, tuple[PathFactors, dict[str, Any]]] = {}
    with connect(target, readonly=True) as conn:
        if not _has_tables(conn):
            return {}
        for row in conn.execute("SELECT * FROM calibrations WHERE scope = ? ORDER BY id DESC", (scope,)):
            if row["key"] in out:
                continue
            try:
                out[row["key"]] = _row_to_calibration(row)
            except ValueError as exc:
                _report_bad_row(target, "calibrations", row["id"], str(exc))
    return out


def load_device_calibrations(path: Path | None = None, *, fitted_with: Callable[[str], str] | None = None,
                             say_stale: bool = True) -> dict[str, PathFactors]:
    """Calibrations for the engine, keyed by device id and by ``path:<execution path>``; empty
    when there is no database yet (no I/O then). A key whose latest calibration was not applied
    (``stats["applied"]`` false: it did not beat the shipped factors) uses the shipped factors.
    ``fitted_with``: the key each calibration must carry (``calibrate_from_runs.calibration_key``);
    one fitted by another engine (an upgrade changed its formulas or shipped factors) or against
    another profile of its device is left out, said once, until ``advisor calibrate`` refits it
    from the runs (``say_stale``: warn so). A store that cannot be read at all is
    reported once and predictions go on with the shipped factors: calibrations refine
    predictions, they never stop them."""
    target = path or db_path()
    if not target.exists():
        return {}
    try:
        rows = [(k, f, st) for k, (f, st) in latest_calibrations("device", target).items()]
        rows += [(f"path:{k}", f, st) for k, (f, st) in latest_calibrations("path", target).items()]
    except DataFileError as exc:
        key = (str(target), "store", 0)
        if key not in _reported:
            _reported.add(key)
            warn(f"{exc} — predicting with the shipped factors, without your calibrations")
        return {}
    applied = [(k, f, st) for k, f, st in rows if st.get("applied", True)]
    stale = sorted(k for k, _, st in applied if fitted_with is not None and st.get("fitted_with") != fitted_with(k))
    if stale and say_stale and (str(target), "stale", 0) not in _reported:
        _reported.add((str(target), "stale", 0))
        warn(f"the calibrations of {', '.join(stale)} were fitted by another version of the engine or against another "
             "profile of the device; predicting with the shipped factors there — run 'advisor calibrate' to refit them from your runs "
             "('advisor validate' first if this machine changed: runs of another machine are never fitted to it)")
    return {k: f for k, f, _ in applied if k not in stale}


def clear_calibrations(device_id: str | None = None, path: Path | None = None) -> int:
    """Delete stored calibrations (every one, or one device's); predictions then use the shipped
    factors. Returns how many rows went. No database: nothing to delete."""
    if not (path or db_path()).exists():
        return 0
    sql, args = ("DELETE FROM calibrations", ()) if device_id is None else (
        "DELETE FROM calibrations WHERE scope = 'device' AND key = ?", (device_id,))
    with connect(path) as conn:
        with _immediate(conn):
            n = conn.execute(sql, args).rowcount
    return int(n)

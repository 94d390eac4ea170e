"""The measurements database: every validation run and every imported benchmark, and the
calibrations fitted from them.

SQLite in ``$ADVISOR_HOME/advisor.db`` (``ADVISOR_HOME`` moves it). WAL journal and a busy
timeout so concurrent writers (two validations at once) both land; each write is one
transaction. Schema versions live in ``PRAGMA user_version`` and migrate forward in order.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from advisor.catalog import advisor_home
from advisor.errors import DataFileError, UnknownIdError
from advisor.records import PathFactors

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
]


def db_path() -> Path:
    return advisor_home() / "advisor.db"


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    path = path or db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise DataFileError(f"{path}: cannot open the measurements database ({exc}); check ADVISOR_HOME") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        yield conn
    except sqlite3.DatabaseError as exc:
        raise DataFileError(f"{path}: the measurements database is unreadable ({exc}); move it aside and retry") from None
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations, each in its own immediate transaction. Returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise DataFileError(
            f"the measurements database has schema version {version}, newer than this tool ({len(MIGRATIONS)}); upgrade edge-model-advisor"
        )
    while version < len(MIGRATIONS):
        # executescript would commit implicitly: run the statements one by one in one transaction
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current == version:  # another process may have migrated meanwhile
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our statements' literals)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [st.strip() for st in "\n".join(lines).split(";") if st.strip()]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


_RUN_COLUMNS = [
    "created_at", "source", "status", "error", "device_id", "device_fingerprint", "device_profile", "model_id",
    "model_name", "quant", "synthetic", "gguf_path", "backend", "settings", "llama_cpp_version", "tool_version",
    "predicted", "measured", "decode_tps", "prefill_tps", "predicted_decode_tps", "predicted_prefill_tps", "weight_path",
]


def record_run(run: Run, path: Path | None = None) -> int:
    """Insert one run in its own transaction; returns its id."""
    from advisor import __version__

    values = {
        "created_at": run.created_at or now(),
        "source": run.source,
        "status": run.status,
        "error": run.error,
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
    }
    sql = f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in _RUN_COLUMNS)})"
    return _insert(sql, [values[c] for c in _RUN_COLUMNS], path)


def _insert(sql: str, params: list[Any] | tuple[Any, ...], path: Path | None) -> int:
    """One INSERT in its own immediate transaction (concurrent writers queue on the lock)."""
    with connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return int(cur.lastrowid)


def _row_to_run(row: sqlite3.Row) -> Run:
    d = dict(row)
    return Run(
        id=d["id"], created_at=d["created_at"], source=d["source"], status=d["status"], error=d["error"],
        device_id=d["device_id"], device_fingerprint=d["device_fingerprint"],
        device_profile=json.loads(d["device_profile"]) if d["device_profile"] else None,
        model_id=d["model_id"], model_name=d["model_name"], quant=d["quant"], synthetic=bool(d["synthetic"]),
        gguf_path=d["gguf_path"], backend=d["backend"], weight_path=d.get("weight_path"),
        settings=json.loads(d["settings"] or "{}"), predicted=json.loads(d["predicted"] or "{}"),
        measured=json.loads(d["measured"] or "{}"), llama_cpp_version=d["llama_cpp_version"], tool_version=d["tool_version"],
    )


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
    if limit:
        sql += f" LIMIT {int(limit)}"
    with connect(path) as conn:
        return [_row_to_run(r) for r in conn.execute(sql, args)]


def get_run(run_id: int, path: Path | None = None) -> Run:
    with connect(path) as conn:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise UnknownIdError(f"no run with id {run_id}; list them with 'advisor runs list'")
    return _row_to_run(row)


def save_calibration(scope: str, key: str, factors: PathFactors, n_runs: int, stats: Mapping[str, Any], path: Path | None = None) -> int:
    return _insert(
        "INSERT INTO calibrations (created_at, scope, key, factors, n_runs, stats) VALUES (?, ?, ?, ?, ?, ?)",
        (now(), scope, key, factors.model_dump_json(), n_runs, json.dumps(dict(stats), default=str)),
        path,
    )


def latest_calibrations(scope: str, path: Path | None = None) -> dict[str, tuple[PathFactors, dict[str, Any]]]:
    sql = (
        "SELECT c.* FROM calibrations c JOIN (SELECT key, MAX(id) AS id FROM calibrations WHERE scope = ? GROUP BY key) m "
        "ON c.id = m.id"
    )
    with connect(path) as conn:
        rows = conn.execute(sql, (scope,)).fetchall()
    return {r["key"]: (PathFactors.model_validate_json(r["factors"]), json.loads(r["stats"])) for r in rows}


def load_device_calibrations(path: Path | None = None) -> dict[str, PathFactors]:
    """Calibrations for the engine, keyed by device id and by ``path:<execution path>``; empty
    when there is no database yet (no I/O then). A key whose latest calibration was not applied
    (``stats["applied"]`` false: it did not beat the shipped factors) uses the shipped factors."""
    target = path or db_path()
    if not target.exists():
        return {}
    out = {k: f for k, (f, st) in latest_calibrations("device", path).items() if st.get("applied", True)}
    out.update({f"path:{k}": f for k, (f, st) in latest_calibrations("path", path).items() if st.get("applied", True)})
    return out


def clear_calibrations(device_id: str | None = None, path: Path | None = None) -> int:
    """Delete stored calibrations (every one, or one device's); predictions then use the shipped
    factors. Returns how many rows went. No database: nothing to delete."""
    if not (path or db_path()).exists():
        return 0
    sql, args = ("DELETE FROM calibrations", ()) if device_id is None else (
        "DELETE FROM calibrations WHERE scope = 'device' AND key = ?", (device_id,))
    with connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(sql, args).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return int(n)

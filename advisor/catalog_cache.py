"""The validated catalog kept between runs: a pickle under ``$ADVISOR_HOME/cache/``.

Reading and validating ~70 TOML files takes longer than answering the question, so the first run
after a data file changes validates them and stores the result; later runs load it in a few
milliseconds. The key is every source file's path, size and modification time (shipped data and
the user's additions), plus the code that defines the records and the engine and the Python and
pydantic versions: any edit to a data file, a record class or an engine module means a fresh
validation. The tables the engine derives from the catalog (``catalog.derived``: per-tensor weight
sums, layer sums) travel with it: when a run computed more of them than it loaded, it stores the
catalog again at exit, so the next run starts with them. A cache that cannot be read or written is
ignored (the catalog is then validated every run, as before); ``ADVISOR_NO_CACHE=1`` turns it off.
The file is the user's own (like the rest of ``$ADVISOR_HOME``).
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CACHE_NAME = "catalog.pickle"
#: Bump when the cached object's layout changes in a way the code fingerprint would not catch.
CACHE_FORMAT = 1


def _stat(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_size, st.st_mtime_ns)


def _sources(root: Path, home: Path) -> list[Path]:
    files = sorted((root / "catalog").glob("*.toml")) + sorted((root / "profiles").rglob("*.toml"))
    files += [home / "catalog" / "models.toml"] + sorted((home / "profiles").rglob("*.toml"))
    return files


def _code() -> list[Path]:
    """The modules whose classes or logic shape the cached object."""
    here = Path(__file__).resolve().parent
    return [here / "records.py", here / "catalog.py", here / "catalog_cache.py", *sorted((here / "engine").glob("*.py"))]


def cache_key(root: Path, home: Path) -> tuple[Any, ...]:
    import pydantic

    files = tuple(s for s in (_stat(p) for p in _sources(root, home)) if s is not None)
    code = tuple(s for s in (_stat(p) for p in _code()) if s is not None)
    return (CACHE_FORMAT, sys.version_info[:2], pydantic.VERSION, str(root), str(home), files, code)


def cache_path(home: Path) -> Path:
    return home / "cache" / CACHE_NAME


def load_or_build(root: Path, home: Path, build: Callable[[], T]) -> T:
    """The cached object for these sources, else ``build()`` (stored for the next run)."""
    if os.environ.get("ADVISOR_NO_CACHE") == "1":
        return build()
    key = cache_key(root, home)
    path = cache_path(home)
    try:
        with open(path, "rb") as fh:
            stored_key, value = pickle.load(fh)
        if stored_key == key:
            _store_at_exit_if_grown(path, key, value)
            return value
    except Exception:  # missing, unreadable, truncated or from another version: validate afresh
        pass
    value = build()
    _store(path, key, value)
    _store_at_exit_if_grown(path, key, value)
    return value


#: Set by ``discard_pending`` when the command failed: nothing is written then (a failed command
#: leaves ``$ADVISOR_HOME`` as it found it).
_discarded = False


def discard_pending() -> None:
    """Drop the stores registered for exit (the CLI calls this when a command fails)."""
    global _discarded
    _discarded = True


def _memo_size(value: Any) -> int:
    """Entries computed from the catalog and kept with it (derived tables, RAM-only devices)."""
    derived = getattr(value, "derived", None)
    size = derived.memo_size() if derived is not None and hasattr(derived, "memo_size") else 0
    return size + len(getattr(value, "made_devices", ()))


def _store_at_exit_if_grown(path: Path, key: tuple[Any, ...], value: Any) -> None:
    """At exit, store ``value`` again when it has grown, unless the command failed."""
    loaded = _memo_size(value)

    def store() -> None:
        if not _discarded and _memo_size(value) > loaded:
            _store(path, key, value)

    atexit.register(store)


def _store(path: Path, key: tuple[Any, ...], value: Any) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            pickle.dump((key, value), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except Exception:  # a read-only home, a full disk, an unpicklable value: just no cache
        try:
            tmp.unlink()
        except OSError:
            pass

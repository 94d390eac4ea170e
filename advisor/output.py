"""Render rows as table (rich), csv, md or json. One place for the CLI's --format option."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from advisor.errors import AdvisorError, DataFileError

FORMATS = ("table", "json", "csv", "md")


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN/±inf float replaced by None: JSON has no Infinity or NaN, and a
    figure that is not a number is unknown (``null``), not a string a parser chokes on."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def dumps_json(payload: Any) -> str:
    """Strict JSON (never ``Infinity``/``NaN``: those become ``null``)."""
    return json.dumps(finite_or_null(payload), indent=2, ensure_ascii=False, default=str, allow_nan=False)


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], fmt: str, *, title: str = "") -> str:
    """``columns`` = (key, header). Values are already formatted strings/numbers."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([key for key, _ in columns])
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in columns])
        return buf.getvalue()
    if fmt == "md":
        lines = []
        if title:
            lines += [f"### {title}", ""]
        lines.append("| " + " | ".join(h for _, h in columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            cells = ["" if row.get(k) is None else str(row.get(k)).replace("|", "\\|") for k, _ in columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    if fmt == "table":
        return _rich_table(rows, columns, title)
    raise ValueError(fmt)


def _rich_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, show_lines=False, header_style="bold")
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*["" if row.get(k) is None else str(row.get(k)) for k, _ in columns])
    width = 200 if not sys.stdout.isatty() else None
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None if width else "auto")
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def write_atomic(path: str | Path, payload: bytes, *, force: bool = False) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same directory, so a reader never
    sees half a file (a report, an export). An existing file is kept unless ``force``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DataFileError(f"{path}: the directory {directory} does not exist; create it first")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; give a file name")
    if path.exists() and not path.is_file():  # /dev/full, a FIFO: never replaced by a file
        raise DataFileError(f"{path}: is not a regular file; give the name of a file to write")
    if path.exists() and not force:
        raise AdvisorError(f"{path} already exists; pass --force to overwrite it")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write there ({exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic and fails if the file appeared meanwhile
            except FileExistsError:
                raise AdvisorError(f"{path} already exists; pass --force to overwrite it") from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise AdvisorError(f"{path} already exists; pass --force to overwrite it") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write it ({exc.strerror or exc}); free some space or write somewhere else") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

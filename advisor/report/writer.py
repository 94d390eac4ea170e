"""Atomic, no-clobber writes of rendered reports, and the format registry."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from advisor.errors import BadInputError, DataFileError, OutputExistsError
from advisor.report.model import ReportData

#: format → file suffix; the text formats may also go to stdout.
FORMATS: dict[str, str] = {"html": ".html", "pdf": ".pdf", "md": ".md", "csv": ".csv", "json": ".json", "xlsx": ".xlsx"}
TEXT_FORMATS = ("md", "csv", "json")
SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".md": "md", ".markdown": "md", ".csv": "csv",
                  ".json": "json", ".xlsx": "xlsx"}


def renderer(fmt: str) -> Callable[[ReportData], str | bytes]:
    """The render function of one format (imports its libraries only when asked for)."""
    if fmt == "json":
        from advisor.report.render_json import render_json as fn
    elif fmt == "csv":
        from advisor.report.render_csv import render_csv as fn
    elif fmt == "md":
        from advisor.report.render_md import render_md as fn
    elif fmt == "html":
        from advisor.report.render_html import render_html as fn
    elif fmt == "pdf":
        from advisor.report.render_pdf import render_pdf as fn
    elif fmt == "xlsx":
        from advisor.report.render_xlsx import render_xlsx as fn
    else:
        raise BadInputError(f"unknown report format '{fmt}'; use one of {', '.join(FORMATS)}")
    return fn


def render(data: ReportData, fmt: str) -> bytes:
    out = renderer(fmt)(data)
    return out.encode("utf-8") if isinstance(out, str) else out


def write_atomic(path: str | Path, payload: bytes, *, force: bool = False) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same directory, so a reader never
    sees half a report. An existing file is kept unless ``force``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DataFileError(f"{path}: the directory {directory} does not exist; create it first")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force to overwrite it")
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
                raise OutputExistsError(f"{path} already exists; pass --force to overwrite it") from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise OutputExistsError(f"{path} already exists; pass --force to overwrite it") from None
                os.replace(tmp, path)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write the report ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

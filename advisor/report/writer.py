"""Atomic, no-clobber writes of rendered reports, and the format registry."""

from __future__ import annotations

from collections.abc import Callable

from advisor.errors import BadInputError
from advisor.output import write_atomic
from advisor.report.model import ReportData

__all__ = ["FORMATS", "SUFFIX_FORMATS", "TEXT_FORMATS", "render", "renderer", "write_atomic"]

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

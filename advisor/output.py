"""Render rows as table (rich), csv, md or json. One place for the CLI's --format option."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

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


def render_rows(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], fmt: str, *, title: str = "",
                wrap: Sequence[str] = (), optional: Sequence[str] = (), heading: int = 1) -> str:
    """``columns`` = (key, header). Values are already formatted strings/numbers.

    Tables fit the terminal (``COLUMNS``, else its width; 200 when piped): ids, prices and figures
    are never split; only the ``wrap`` columns (free text) wrap at spaces. When the table is too
    wide the ``optional`` columns are left out, in that order, with a line saying so; when even
    then it does not fit, each row becomes a block: its first ``heading`` cells, then
    ``header: value`` pairs."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([key for key, _ in columns])
        for row in rows:
            writer.writerow([csv_cell(row.get(k)) for k, _ in columns])
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
        return _fitted_table(rows, columns, title, wrap=wrap, optional=optional, heading=heading)
    raise ValueError(fmt)


def csv_cell(value: Any) -> Any:
    """A CSV cell: nothing for None, a list's items joined by "; " (never Python's repr), text
    made safe for a spreadsheet (``spreadsheet_text``) — every CSV the tool writes, one rule."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    return spreadsheet_text(value) if isinstance(value, str) else value


def spreadsheet_text(text: str) -> str:
    """``text`` as a spreadsheet shows it, never run: a cell that starts like a formula (=, @, a
    tab or carriage return; + or - unless the cell is a plain number such as "-12%", or a lone "-"
    for nothing) gets a leading apostrophe. Names and notes may come from a user's own profile or
    an imported file."""
    head = text[:1]
    if head in ("=", "@", "\t", "\r") or (head in ("+", "-") and text != "-" and not _NUMBER_CELL.fullmatch(text)):
        return "'" + text
    return text


_NUMBER_CELL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*%?")


def table_width() -> int:
    """Columns available: ``COLUMNS`` when set, the terminal's width, or 200 when piped."""
    return terminal_width() or 200


def _rule_char() -> str:
    """The table's rule: a box-drawing line, or '-' where stdout's encoding has none (cp1252, latin-1)."""
    try:
        "\u2500".encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "-"
    return "\u2500"


def terminal_width() -> int | None:
    """The width there is to fit: ``COLUMNS`` when set, else the terminal's; None when piped."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) >= 20:
        return int(env)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return None


def _cell_text(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    return "" if v is None else str(v)


def _fitted_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str, *,
                  wrap: Sequence[str], optional: Sequence[str], heading: int) -> str:
    width = table_width()
    shown = list(columns)
    left_out: list[str] = []
    to_drop = [k for k in optional if any(k == key for key, _ in columns)]
    while _min_width(rows, shown, wrap) > width:
        if not to_drop:
            return _blocks(rows, columns, title, width, heading)
        key = to_drop.pop(0)
        left_out += [h for k, h in shown if k == key]
        shown = [c for c in shown if c[0] != key]
    out = _plain_table(rows, shown, title, wrap, width)
    if out is None:
        from rich.console import Console

        console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None, highlight=False)
        console.print(_rich_table(rows, shown, title, wrap, _wrap_widths(rows, shown, wrap, width)))
        out = "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"  # type: ignore[attr-defined]
    if left_out and rows:
        note = f"(left out at {width} columns: {', '.join(left_out)}; --format csv has every column)"
        out += _pack(note.split(" "), width, "") + "\n"
    return out


_GAP = 3  # between two columns: padding, the (blank) rule, padding


def _column_min(rows: Sequence[dict[str, Any]], key: str, header: str, wrap: Sequence[str]) -> int:
    cells = [_cell_text(r, key) for r in rows]
    longest_header_word = max([len(w) for w in header.split()] + [1])
    if key in wrap:  # free text: at least its longest word, and up to 24 columns before it wraps
        longest_word = max([len(w) for c in cells for w in c.split()] + [1])
        return max(longest_header_word, longest_word, min(max([len(c) for c in cells] + [8]), 24))
    return max([len(c) for c in cells] + [longest_header_word])


def _wrap_widths(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], wrap: Sequence[str],
                 width: int) -> dict[str, int]:
    """The width of each free-text column: its minimum (``_column_min``) and a share of the room the
    table has left, in proportion to what its longest cell still lacks. Set here, not left to rich,
    whose own spread can make a table wider than the terminal, which then cuts the line's end
    ("not an android" for "not an android-app")."""
    mins = {k: _column_min(rows, k, h, wrap) for k, h in columns if k in wrap}
    wants = {k: max([len(_cell_text(r, k)) for r in rows] + [mins[k]]) - mins[k] for k in mins}
    spare = max(0, width - _min_width(rows, columns, wrap))
    total = sum(wants.values())
    if not total:
        return mins
    extra = {k: min(wants[k], spare * wants[k] // total) for k in mins}
    return {k: mins[k] + extra[k] for k in mins}


def _min_width(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], wrap: Sequence[str]) -> int:
    """The narrowest the table can be with no id or figure split: every fixed column at its
    widest cell, every free-text column at its longest word (at most 24)."""
    return sum(_column_min(rows, k, h, wrap) for k, h in columns) + _GAP * max(0, len(columns) - 1)


def _plain_text(text: str) -> bool:
    """Text every character of which takes one terminal cell, with single spaces between words
    (rich measures and wraps it as ``len`` and ``str.split`` do)."""
    return text.isprintable() and "  " not in text and text == text.strip() and all(
        ch < "\u0300" or ("\u2000" <= ch < "\u2300" and not "\u200b" <= ch <= "\u200f") for ch in text)


def _plain_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str, wrap: Sequence[str],
                 width: int) -> str | None:
    """The table ``_rich_table`` prints (box SIMPLE_HEAD, no edge), laid out here without
    importing rich, when every column has a fixed width (no free-text column) and every string is
    plain (``_plain_text``); None otherwise (rich then lays it out). tests/test_output.py checks
    the two agree."""
    if any(k in wrap for k, _ in columns) or not columns:
        return None
    cells = [[_cell_text(r, k) for k, _ in columns] for r in rows]
    texts = [h for _, h in columns] + [c for row in cells for c in row if c] + ([title] if title else [])
    if not all(_plain_text(t) for t in texts):
        return None
    widths = [_column_min(rows, k, h, wrap) for k, h in columns]
    total = sum(widths) + _GAP * (len(columns) - 1)
    if total > width or len(title) > total:
        return None

    def line(parts: Sequence[str]) -> str:
        return (" " * _GAP).join(p.ljust(w) for p, w in zip(parts, widths)).rstrip()

    out = [" " * ((total - len(title)) // 2) + title] if title else []  # centred as rich does
    heads = [_pack(h.split(" "), w, "").split("\n") for (_, h), w in zip(columns, widths)]  # greedy, as rich wraps
    depth = max(len(h) for h in heads)
    heads = [[""] * (depth - len(h)) + h for h in heads]  # headers sit on the bottom line
    out += [line([h[i] for h in heads]) for i in range(depth)]
    out.append(_rule_char() * total)
    out += [line(row) for row in cells]
    return "\n".join(out) + "\n"


def _rich_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str, wrap: Sequence[str],
                widths: dict[str, int] | None = None) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_lines=False, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False)
    for key, header in columns:
        if key in wrap:  # free text: the width _wrap_widths gave it
            assert widths is not None, "a table with free-text columns needs their widths (_wrap_widths)"
            table.add_column(Text(header, no_wrap=False, overflow="fold"), overflow="fold", width=widths[key])
        else:  # ids, prices and figures: never split, never cut
            table.add_column(Text(header, no_wrap=False, overflow="fold"), no_wrap=True, width=_column_min(rows, key, header, wrap))
    for row in rows:
        table.add_row(*[_cell_text(row, k) for k, _ in columns])
    return table


def prose(text: str, *, indent: str = "", hanging: str | None = None) -> str:
    """A paragraph wrapped at the table width (``table_width``), a word never split; ``indent``
    before its first line, ``hanging`` (default: ``indent``) before the others (a list item)."""
    return _pack(text.split(" "), table_width(), indent, hanging)


def _pack(items: Sequence[str], width: int, indent: str, hanging: str | None = None) -> str:
    """Items joined by spaces into lines of at most ``width``, an item never split; the lines
    after the first begin with ``hanging`` (default: ``indent``)."""
    lines: list[str] = []
    prefix = indent
    line = prefix
    for item in items:
        if line.strip() and len(line) + 1 + len(item) > width:
            lines.append(line)
            prefix = indent if hanging is None else hanging
            line = prefix
        line = f"{line} {item}" if line.strip() else f"{prefix}{item}"
    if line.strip():
        lines.append(line)
    return "\n".join(lines)


def _blocks(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str, width: int, heading: int) -> str:
    """The compact layout for a narrow terminal: one block per row."""
    out = [_pack(title.split(" "), width, "")] if title else []
    for row in rows:
        head = "  ".join(_cell_text(row, k) for k, _ in columns[:heading] if _cell_text(row, k))
        out.append(head)
        items = [f"{h}: {_cell_text(row, k)}" + ";" for k, h in columns[heading:] if _cell_text(row, k)]
        if items:
            items[-1] = items[-1].rstrip(";")
            # an item wider than a line wraps between its words; a word (an id, a figure) is never split
            words = [w for item in items for w in (item.split(" ") if len(item) > width - 4 else [item])]
            out.append(_pack(words, width, "    "))
    return "\n".join(out) + "\n"


def check_output_name(output: str, *, option: str = "-o/--output", example: str = "report.md") -> None:
    """An output path the user typed names a plain file: not empty, not a directory (``.``, ``..``,
    ``/``, ``out/``: a base name of none made Path.with_name raise ValueError), and without a line
    break or another control character (a file named so breaks every line-based tool, and the
    'Wrote …' line). One BadInputError otherwise, raised before any work."""
    from advisor.errors import BadInputError
    from advisor.records import unprintable
    from advisor.wording import printable

    if not output.strip():
        raise BadInputError(f"{option} is empty; give the name of a file to write, like {example}")
    if any(unprintable(ch) for ch in output):
        raise BadInputError(f"{option} {printable(repr(output))} holds a line break or another control character; "
                            "give a plain file name")
    if output.endswith(("/", os.sep)) or Path(output).name in ("", ".", ".."):
        raise BadInputError(f"{option} {output!r} names a directory; give the name of a file to write in it, "
                            f"like {output.rstrip('/' + os.sep)}/{example}")


def no_directory_error(path: Path, directory: Path) -> DataFileError:
    """The error of an output whose directory is missing, or is a file."""
    if directory.exists():
        return DataFileError(f"{path}: {directory} is a file, not a directory; give a path in a directory")
    return DataFileError(f"{path}: the directory {directory} does not exist; create it first")


#: The error a command has settled on before it prints its answer (``settle``); main ends with it
#: when the output is cut short by a closed pipe.
_settled: list[AdvisorError | None] = [None]


def settle(error: AdvisorError | None) -> AdvisorError | None:
    """Note the error the answer about to be printed ends with (nothing fits: exit 3), or clear it
    (None); returns it, to be raised after the output. A closed pipe then ends the command with it
    too: ``recommend … | head -1`` exited 0 when the reader closed the pipe before the last line,
    3 when after."""
    _settled[0] = error
    return error


def settled() -> AdvisorError | None:
    return _settled[0]


def home_write_problem(directory: Path, exc: OSError) -> str:
    """Why ``directory`` (under ADVISOR_HOME) could not be created or written, and the fix, in
    words: the errno text alone ('Not a directory', 'No such file or directory') named neither the
    path at fault nor what to do."""
    from advisor.catalog import advisor_home

    fix = f"set ADVISOR_HOME to a directory you can write (now {advisor_home()})"
    here = Path(directory)
    while not here.exists() and here != here.parent:  # the nearest part of the path that exists
        here = here.parent
    if here.exists() and not here.is_dir():
        return f"{here} is a file, not a directory; {fix}"
    if here.is_dir() and not os.access(here, os.W_OK | os.X_OK):
        return f"{here} is not writable by this user; {fix}"
    return f"cannot create {directory} ({exc.strerror or exc}); {fix}"


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for a read-change-write of a file other
    processes change too: two 'models add' at once each read the file before the other wrote it (an
    entry lost, or one id stored twice). Blocks until the other holder is done; POSIX (fcntl) only:
    elsewhere, no lock."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer at a time is the user's to keep
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataFileError(f"{path}: cannot create the lock file: {home_write_problem(path.parent, exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomic(path: str | Path, payload: bytes, *, force: bool = False) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same directory, so a reader never
    sees half a file (a report, an export). An existing file is kept unless ``force``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise no_directory_error(path, directory)
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; give a file name")
    if path.exists() and not path.is_file():  # /dev/full, a FIFO: never replaced by a file
        raise DataFileError(f"{path}: is not a regular file; give the name of a file to write")
    if path.exists() and not force:
        raise AdvisorError(f"{path} already exists; pass --force to overwrite it")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot write there ({exc.strerror or exc}); write somewhere else") from None
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

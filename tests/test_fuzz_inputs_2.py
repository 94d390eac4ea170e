"""A second fuzz pass over what the CLI reads from users: each defect it found, pinned as a table.

Whatever comes in, the CLI must answer with exactly one ``Error:`` line naming the problem and the
fix, a documented exit code, and no traceback (``advisor.cli.main`` re-raises anything else).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------- a line break in what the user typed


@pytest.mark.parametrize(
    "args, says",
    [
        (("predict", "--model", "qwen\nx", "--ram", "8GB"), "Error: unknown model 'qwen\\nx'"),
        (("predict", "--model", "qwen2.5-0.5b-instruct", "--device", "pi\nx"), "Error: unknown device 'pi\\nx'"),
        (("predict", "--ram", "8GB", "--gguf-header", "a\nb.gguf"), "Error: a\\nb.gguf: file not found; check the path"),
        (("predict", "--model-config", "a\nb.json", "--ram", "8GB"), "Error: a\\nb.json: file not found; check the path"),
        (("runs", "import", "a\nb.jsonl", "--device", "raspberry-pi-5-8gb"), "Error: a\\nb.jsonl: file not found; check the path"),
    ],
)
def test_a_line_break_in_an_id_or_path_is_shown_on_the_one_error_line(capsys, args, says):
    """A line break in an id or a file name split the Error: line in two (the second line looked
    like another message); it is written as its escape, like every other control character."""
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(says), err


# ---------------------------------------------------------------- output paths that name no file

REPORT = ("report", "--model", "qwen2.5-0.5b-instruct", "--device", "raspberry-pi-5-8gb", "--format", "md")


@pytest.mark.parametrize(
    "args, says",
    [
        # a base name that is no name: Path('.').with_name() raised ValueError, a traceback
        ((*REPORT, "-o", ""), "Error: -o/--output is empty; give the name of a file to write, like report.md"),
        ((*REPORT, "-o", "."), "Error: -o/--output '.' names a directory; give the name of a file to write in it, like ./report.md"),
        ((*REPORT, "-o", "/"), "Error: -o/--output '/' names a directory; give the name of a file to write in it, like /report.md"),
        # wrote a file named '...md' beside the current directory
        ((*REPORT, "-o", ".."), "Error: -o/--output '..' names a directory; give the name of a file to write in it, like ../report.md"),
        # wrote out.md beside the directory out/ the user named
        ((*REPORT, "-o", "out/"), "Error: -o/--output 'out/' names a directory; give the name of a file to write in it, like out/report.md"),
        # wrote a file whose name holds a line break (and a 'Wrote …' line split in two)
        ((*REPORT, "-o", "a\nb.md"), "Error: -o/--output 'a\\nb.md' holds a line break or another control character; "
                                     "give a plain file name"),
        (("runs", "export", "-o", "x\ny.csv"), "Error: -o/--output 'x\\ny.csv' holds a line break or another control character; "
                                              "give a plain file name"),
    ],
)
def test_an_output_path_that_names_no_plain_file_is_one_error_line(tmp_path, capsys, args, says):
    (tmp_path / "out").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert err.splitlines() == [says]
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not (tmp_path.parent / "...md").exists()  # nothing written


def test_an_output_directory_that_cannot_be_written_names_the_os_reason_not_a_temp_file(tmp_path, capsys):
    """A report to a directory where no file can be made (/proc) named the temporary file in
    Python's own words ("[Errno 2] … '/proc/.r.md.x1y2.tmp'") and no fix."""
    code, out, err = run(capsys, *REPORT, "-o", "/proc/r.md")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["Error: /proc/r.md: cannot write there (No such file or directory); write somewhere else"]


# ---------------------------------------------------------------- measurement rows the store cannot read back

BENCH = Path(__file__).parent / "data" / "llama-bench" / "smollm2-135m-q4_k_m.json"


def test_an_imported_row_with_a_backends_text_too_long_to_read_back_is_refused(tmp_path, capsys):
    """llama-bench's backends of 500 characters was imported (the run stored), and every later
    read skipped the run as damaged ("field 'backend' is 500 characters long (at most 200)"): the
    import said it stored a measurement that no command could use."""
    rows = json.loads(BENCH.read_text())
    path = tmp_path / "bench.json"
    path.write_text(json.dumps([rows[0], {**rows[1], "backends": "CPU," * 125}]))
    code, out, err = run(capsys, "runs", "import", str(path), "--device", "intel-nuc-13-pro-i7-32gb", "--model", "smollm2-135m-instruct")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"Error: {path}: row 2: backends is 500 characters long (at most 200): llama-bench lists a few "
                                "backend names; fix or remove that row (nothing was imported)"]
    code, out, err = run(capsys, "runs", "list")
    assert (code, err) == (0, "") and "No runs recorded yet" in out


# ---------------------------------------------------------------- numbers too large to be numbers

DIGITS = "9" * 5000  # past Python's 4,300-digit limit on int(str)


@pytest.mark.parametrize(
    "args, says",
    [
        # int() refused the digits: a traceback, or "is not a whole number" of a whole number
        (("runs", "show", DIGITS), "Error: run id '99999999999999999999999999999999999…' (5,000 characters) is larger than the maximum "
                                   "1,000,000,000,000"),
        (("runs", "exclude", DIGITS), "Error: run id '99999999999999999999999999999999999…' (5,000 characters) is larger than the maximum "
                                      "1,000,000,000,000"),
        (("predict", "--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb", "--context", DIGITS),
         "Error: --context '99999999999999999999999999999999999…' (5,000 characters) is larger than the maximum 1,048,576"),
        # float() overflowed to inf: "must be a positive number" of a positive number
        (("recommend", "--ram", "8GB", "--min-tps", "1e400"), "Error: --min-tps '1e400' is larger than the maximum 1e+07"),
        (("recommend", "--ram", "8GB", "--min-tps", DIGITS),
         "Error: --min-tps '99999999999999999999999999999999999…' (5,000 characters) is larger than the maximum 1e+07"),
        (("recommend", "--ram", "8GB", "--target-tps", DIGITS),
         "Error: --target-tps '99999999999999999999999999999999999…' (5,000 characters) is out of range; give a number from 0 to 1e+06"),
    ],
)
def test_a_number_too_large_to_convert_is_too_large_not_malformed(capsys, args, says):
    code, out, err = run(capsys, *args)
    assert (code, out) == (1, "")
    assert err.splitlines() == [says]


# ---------------------------------------------------------------- an empty path is named, not read as '.'

@pytest.mark.parametrize("args, message", [
    # before: silently no requirements file ("name the candidate models …")
    (["report", "--requirements", "", "--format", "md", "-o", "r.md"], "Error: --requirements is empty; give the path of"),
    # before: ".: is a directory, expected a GGUF file" (Path('') is the current directory)
    (["predict", "--gguf-header", "", "--ram", "4GB"], "Error: --gguf-header is empty; give the path of a GGUF file"),
    (["predict", "--model-config", " ", "--ram", "4GB"], "Error: --model-config is empty; give the path of a Hugging Face config.json"),
    (["models", "add", ""], "Error: the path is empty; give a GGUF file"),
])
def test_an_empty_path_is_named_as_empty(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert not Path("r.md").exists()

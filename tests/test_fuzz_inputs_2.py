"""A second fuzz pass over what the CLI reads from users: each defect it found, pinned as a table.

Whatever comes in, the CLI must answer with exactly one ``Error:`` line naming the problem and the
fix, a documented exit code, and no traceback (``advisor.cli.main`` re-raises anything else).
"""

from __future__ import annotations

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

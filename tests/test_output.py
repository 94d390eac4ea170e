"""The plain table layout (``output._plain_table``, no rich import) against rich's own."""

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import output

WORD = st.text(alphabet=st.sampled_from(list("abcXYZ019.,%()/-–…≥$~") + ["é", "µ"]), min_size=1, max_size=12)
CELL = st.one_of(st.none(), st.lists(WORD, min_size=1, max_size=3).map(" ".join), st.floats(0, 1e4, allow_nan=False),
                 st.integers(0, 10**6))


def _rich(rows, columns, title, width):
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None, highlight=False)
    console.print(output._rich_table(rows, columns, title, ()))
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_plain_table_is_richs_table(data):
    n_cols = data.draw(st.integers(1, 6))
    headers = data.draw(st.lists(st.lists(WORD, min_size=1, max_size=3).map(" ".join), min_size=n_cols, max_size=n_cols))
    columns = [(f"k{i}", h) for i, h in enumerate(headers)]
    rows = [{k: data.draw(CELL) for k, _ in columns} for _ in range(data.draw(st.integers(0, 5)))]
    title = data.draw(st.one_of(st.just(""), st.lists(WORD, min_size=1, max_size=4).map(" ".join)))
    width = data.draw(st.integers(20, 200))
    plain = output._plain_table(rows, columns, title, (), width)
    if plain is not None:
        assert plain == _rich(rows, columns, title, width)


def test_plain_table_serves_the_recommend_table():
    """The common case (ids, figures, a title) is laid out without rich, and as rich lays it out."""
    columns = [("rank", "#"), ("model", "model"), ("decode", "decode tok/s"), ("prefill", "prefill tok/s")]
    rows = [{"rank": 1, "model": "qwen3-0.6b", "decode": "6.2 (4.9–7.8)", "prefill": 19.0},
            {"rank": 2, "model": "lfm2-1.2b", "decode": "5.2 (4.1–6.6)", "prefill": 8.6}]
    plain = output._plain_table(rows, columns, "Top 2 of 2 candidates", (), 200)
    assert plain is not None and plain == _rich(rows, columns, "Top 2 of 2 candidates", 200)
    lines = plain.splitlines()  # the long header wraps; the others sit on its bottom line
    assert lines[1].strip() == "prefill" and lines[2].startswith("#   model") and lines[2].endswith("tok/s")


def test_free_text_or_wide_characters_go_to_rich():
    columns = [("a", "name"), ("b", "note")]
    rows = [{"a": "x", "b": "some free text"}]
    assert output._plain_table(rows, columns, "", ("b",), 200) is None
    assert output._plain_table([{"a": "漢字", "b": "1"}], columns, "", (), 200) is None

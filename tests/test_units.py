import pytest

from advisor.errors import BadInputError
from advisor.units import GIB, MIB, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4GB", 4 * GIB),
        ("4 GB", 4 * GIB),
        ("4GiB", 4 * GIB),
        ("4 gib", 4 * GIB),
        ("3.5g", int(3.5 * GIB)),
        ("4096MB", 4 * GIB),
        ("4096 MiB", 4 * GIB),
        ("512m", 512 * MIB),
        ("1T", 1024 * GIB),
        ("1024", 1024),
        ("1024B", 1024),
        (8, 8),
    ],
)
def test_parse_size_jedec_policy(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("4XB", "--ram '4XB' has an unknown unit 'XB'; use B, KB, MB, GB or TB (binary, JEDEC: 1GB = 1GiB = 1024 MiB)"),
        ("-4GB", "--ram '-4GB' is negative; give a positive size like 4GB"),
        ("0GB", "--ram '0GB' must be a positive size like 4GB"),
        ("lots", "--ram 'lots' is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"),
        ("", "--ram '' is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"),
        ("100000TB", "--ram '100000TB' is larger than 64 TiB; check the unit (e.g. 4GB)"),
        ("4 G B", "--ram '4 G B' is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"),
    ],
)
def test_parse_size_errors(text, message):
    with pytest.raises(BadInputError) as err:
        parse_size(text, what="--ram")
    assert str(err.value) == message


@pytest.mark.parametrize(
    "n, text",
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (1536 * MIB, "1.50 GiB"), (4 * GIB, "4.00 GiB")],
)
def test_format_size(n, text):
    assert format_size(n) == text


@pytest.mark.parametrize("text, seconds", [("2", 2.0), ("2s", 2.0), ("500ms", 0.5), ("1.5min", 90.0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_error():
    with pytest.raises(BadInputError, match="not a duration"):
        parse_duration("soon")

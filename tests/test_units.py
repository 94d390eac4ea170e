import pytest

from advisor.errors import BadInputError
from advisor.units import (GIB, MIB, format_rate, format_size, parse_duration, parse_memory_size, parse_number, parse_positive_float,
                           parse_positive_int, parse_size)


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


@pytest.mark.parametrize("rate, text", [(12746.9, "12,747"), (2489.4, "2,489"), (999.5, "1,000"), (168.2, "168"),
                                        (8.66, "8.7"), (0.1, "0.1"), (0.04, "0.04"), (0, "0.0")])
def test_format_rate_separates_thousands_as_token_counts_do(rate, text):
    assert format_rate(rate) == text


@pytest.mark.parametrize("text, seconds", [("2", 2.0), ("2s", 2.0), ("500ms", 0.5), ("1.5min", 90.0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_error():
    with pytest.raises(BadInputError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1", "--ram '1' has no unit, so it means 1 byte; no device has less than 64 MiB: did you mean 1GB?"),
        ("4", "--ram '4' has no unit, so it means 4 bytes; no device has less than 64 MiB: did you mean 4GB?"),
        ("0.4", "--ram '0.4' has no unit, so it means 0.4 bytes; no device has less than 64 MiB: did you mean 0.4GB?"),
        ("1e-9GB", "--ram '1e-9GB' is 1 B; no device has less than 64 MiB: give a size like 4GB"),
        ("32MB", "--ram '32MB' is 32.00 MiB; no device has less than 64 MiB: give a size like 4GB"),
        ("1e-30GB", "--ram '1e-30GB' is less than one byte; give a size like 4GB"),
        ("nan", "--ram 'nan' is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"),
        ("inf GB", "--ram 'inf GB' is not a size; write it like 4GB, 4 GiB, 3.5g or 4096MB"),
        ("1e400GB", "--ram '1e400GB' is larger than 64 TiB; check the unit (e.g. 4GB)"),
        ("9" * 5000, f"--ram '{'9' * 5000}' is larger than 64 TiB; check the unit (e.g. 4GB)"),
    ],
)
def test_device_memory_sizes_refused(text, message):
    with pytest.raises(BadInputError) as err:
        parse_memory_size(text, what="--ram")
    assert str(err.value) == message


@pytest.mark.parametrize("text, expected", [("64MB", 64 * MIB), ("4GB", 4 * GIB), (str(64 * MIB), 64 * MIB), ("0.5GB", 512 * MIB)])
def test_device_memory_sizes_accepted(text, expected):
    assert parse_memory_size(text, what="--ram") == expected


@pytest.mark.parametrize(
    "text, low, high, message",
    [
        ("nan", 0, 100, "--quality-floor 'nan' is not a finite number; give e.g. 10"),
        ("inf", 0, 100, "--quality-floor 'inf' is not a finite number; give e.g. 10"),
        ("-inf", 0, 100, "--quality-floor '-inf' is not a finite number; give e.g. 10"),
        ("101", 0, 100, "--quality-floor 101 is out of range; give a number from 0 to 100"),
        ("-1", 0, 100, "--quality-floor -1 is out of range; give a number from 0 to 100"),
        ("lots", 0, 100, "--quality-floor 'lots' is not a number; give e.g. 10"),
        ("1e309", 0, 100, "--quality-floor '1e309' is out of range; give a number from 0 to 100"),  # past float's range: a number
        # float() reads other scripts' digits as numbers ('５' as 5), which no size and no other tool accepts
        ("\uff15", 0, 100, "--quality-floor '\uff15' is not a number; give e.g. 10, written with the digits 0-9"),
        ("\u0665\u0660", 0, 100, "--quality-floor '\u0665\u0660' is not a number; give e.g. 10, written with the digits 0-9"),
    ],
)
def test_numbers_refused(text, low, high, message):
    with pytest.raises(BadInputError) as err:
        parse_number(text, what="--quality-floor", minimum=low, maximum=high)
    assert str(err.value) == message


@pytest.mark.parametrize("text, value", [("0", 0.0), ("100", 100.0), (" 55.5 ", 55.5)])
def test_numbers_accepted(text, value):
    assert parse_number(text, what="--quality-floor", minimum=0, maximum=100) == value


@pytest.mark.parametrize(
    "text, message",
    [("2days", "--max-ttft '2days' is not a duration; write it like 2, 2s or 500ms"),
     ("100000", "--max-ttft '100000' is longer than a day; write it like 2s or 500ms"),
     ("0ms", "--max-ttft must be positive, got '0ms'"),
     # written with an exponent it is a duration, out of range (it said "not a duration")
     ("1e308s", "--max-ttft '1e308s' is longer than a day; write it like 2s or 500ms"),
     ("1e400", "--max-ttft '1e400' is longer than a day; write it like 2s or 500ms")],
)
def test_durations_refused(text, message):
    """Each refusal names the option and the fix; 2.5e3ms reads as 2.5 s (below)."""
    assert parse_duration("2.5e3ms") == 2.5
    with pytest.raises(BadInputError) as err:
        parse_duration(text, what="--max-ttft")
    assert str(err.value) == message


def test_bus_bandwidth_by_hand():
    """MT/s × bus bytes: LPDDR4X-4267 over 32 bits 17.07 GB/s (the Pi 5's 17.1), LPDDR5-6400 over
    128 bits 102.4, an RTX 3060's GDDR6 (NVML: 7,501 MHz, two transfers per clock) over 192 bits 360."""
    from advisor.hardware import gpu_memory_bandwidth_gbs
    from advisor.units import bus_bandwidth_gbs

    assert bus_bandwidth_gbs(4267, 32) == pytest.approx(17.068)
    assert bus_bandwidth_gbs(6400, 128) == pytest.approx(102.4)
    assert gpu_memory_bandwidth_gbs(192, 7501) == pytest.approx(360.048)


@pytest.mark.parametrize("parse, text, message", [
    (parse_positive_int, "\uff14\uff10\uff19\uff16", "--context '\uff14\uff10\uff19\uff16' is not a whole number; give e.g. 512, "
                                                   "written with the digits 0-9"),  # int() read it as 4096
    (parse_positive_int, "\u0664", "--context '\u0664' is not a whole number; give e.g. 512, written with the digits 0-9"),
    (parse_positive_int, "4k", "--context '4k' is not a whole number; give e.g. 512"),  # no hint without such digits
    (parse_positive_float, "\uff15.5", "--context '\uff15.5' is not a number; give e.g. 10, written with the digits 0-9"),
])
def test_digits_of_other_scripts_refused(parse, text, message):
    with pytest.raises(BadInputError) as err:
        parse(text, what="--context")
    assert str(err.value) == message


def test_ascii_numbers_still_accepted():
    assert parse_positive_int(" 4_096 ", what="--context") == 4096
    assert parse_positive_float("1e3", what="--min-tps") == 1000.0

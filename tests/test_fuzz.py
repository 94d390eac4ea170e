"""Fuzz the front door: hypothesis over the CLI's options and over the contents of profiles,
overlays, requirements files, llama-bench output and the measurements store.

Whatever comes in, the CLI (run in-process through ``advisor.cli.main``) must: raise nothing (a
traceback), exit with a documented code (0, 1, 3, 4), print exactly one ``Error:`` line when it
fails, write nothing when it fails, and print strict JSON (no NaN/Infinity) when asked for JSON.
"""

import atexit
import contextlib
import io
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.catalog import data_root
from advisor.cli import main

ROOT = Path(__file__).resolve().parents[1]
PI5 = (data_root() / "profiles" / "sbc" / "raspberry-pi-5-8gb.toml").read_text()
KIOSK = (ROOT / "examples" / "requirements-kiosk.toml").read_text()
BENCH_ROWS = [json.loads(line) for line in (ROOT / "tests" / "data" / "llama-bench" / "smollm2-135m-q4_k_m.jsonl").read_text().splitlines()]
DOCUMENTED_EXIT_CODES = {0, 1, 3, 4}

#: the default run is quick and repeatable; ADVISOR_FUZZ_EXAMPLES=2000 explores (randomly) much further
_DEEP = int(os.environ.get("ADVISOR_FUZZ_EXAMPLES") or 0)
FUZZ = settings(max_examples=_DEEP or 40, deadline=None, derandomize=not _DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: values that broke (or could break) a parser: units, magnitudes, non-finite numbers, junk
HOSTILE_TEXT = ["4GB", "1", "0.4", "1e-9GB", "4", "0", "-1", "101", "nan", "inf", "-inf", "1e309", "5e-324", "9" * 400,
                "", " ", "4 G B", "abc", "2s", "500ms", "1e12", "0x10", "1_000", "３", "4GB\x00", "∞", "--help"]
hostile = st.sampled_from(HOSTILE_TEXT)
option_value = st.one_of(hostile, hostile, hostile, st.text(max_size=8),  # mostly the known-hostile values
                         st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**6, 10**15).map(str))


_SHARED = tempfile.mkdtemp(prefix="advisor-fuzz-")
atexit.register(shutil.rmtree, _SHARED, True)  # a run leaves no fuzz homes behind


@contextlib.contextmanager
def isolated_home(fresh: bool = True):
    """A fresh ADVISOR_HOME (and working directory) for one example; the catalog cache follows it.
    ``fresh=False`` reuses one empty home (options write nothing, and the catalog stays cached)."""
    from advisor.catalog import _load

    old_home, old_cwd = os.environ.get("ADVISOR_HOME"), os.getcwd()
    with (tempfile.TemporaryDirectory() if fresh else contextlib.nullcontext(_SHARED)) as tmp:
        home = Path(tmp) / "home"
        home.mkdir(exist_ok=True)
        os.environ["ADVISOR_HOME"] = str(home)
        os.chdir(tmp)
        if fresh:
            _load.cache_clear()
        try:
            yield Path(tmp)
        finally:
            os.chdir(old_cwd)
            if fresh:
                _load.cache_clear()
            if old_home is None:
                os.environ.pop("ADVISOR_HOME", None)
            else:
                os.environ["ADVISOR_HOME"] = old_home


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but the catalog cache ($ADVISOR_HOME/cache: derived from the data
    files and keyed by them, written by whichever run first validates a changed catalog)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(root).parts[:-1]}


def invoke(args: list[str], root: Path) -> tuple[int, str, str]:
    """Run the CLI in-process and check the contract; returns (code, stdout, stderr)."""
    before = snapshot(root)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)  # anything but an AdvisorError escapes here: that is a traceback
    stdout, stderr = out.getvalue(), err.getvalue()
    assert code in DOCUMENTED_EXIT_CODES, (args, code, stderr)
    assert "Traceback" not in stderr, (args, stderr)
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    if code in (1, 4):
        assert len(error_lines) == 1, (args, stderr)
        assert snapshot(root) == before, (args, "wrote files although it failed")
    elif code == 3:  # nothing fits: the closest misses are printed, and at most one Error line says so
        assert len(error_lines) <= 1, (args, stderr)
    else:
        assert not error_lines, (args, stderr)
    if code in (0, 3) and "json" in args and stdout.strip().startswith("{"):
        json.loads(stdout, parse_constant=lambda name: pytest.fail(f"{args}: JSON with {name}"))
    return code, stdout, stderr


# --------------------------------------------------------------------------- options

COMMANDS = {
    "recommend": ["--ram", "--usable", "--context", "--prompt-tokens", "--output-tokens", "--threads", "--min-tps",
                  "--target-tps", "--max-ttft", "--quality-floor", "--top", "--kv-cache", "--license", "--quant", "--class"],
    "predict": ["--ram", "--usable", "--context", "--prompt-tokens", "--output-tokens", "--threads", "--quant", "--kv-cache"],
    "devices-for": ["--min-tps", "--max-ttft", "--fleet", "--top", "--context", "--prompt-tokens", "--output-tokens",
                    "--rank-by", "--quant", "--class"],
    "devices": ["--min-ram", "--max-price", "--class", "--search"],
    "models": ["--max-params", "--license", "--family"],
    "report": ["--quality-floor", "--fleet", "--budget", "--power-limit", "--context", "--min-tps", "--max-ttft",
               "--title", "--rank-by", "--prompt-tokens", "--output-tokens"],
}
BASE = {"recommend": ["--ram", "4GB"], "predict": ["--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb"],
        "devices-for": ["--model", "qwen3-0.6b"], "devices": [], "models": [],
        "report": ["--model", "qwen3-0.6b", "--device", "raspberry-pi-5-8gb"]}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(COMMANDS) + ["recommend", "recommend", "predict"]))  # the most options: drawn more
    args = [command]
    options = draw(st.lists(st.sampled_from(COMMANDS[command]), min_size=1, max_size=2, unique=True))
    base = list(BASE[command])
    for option in options:
        value = draw(option_value)
        if option in base:  # the fuzzed value replaces the base one
            base[base.index(option) + 1] = value
        else:
            args += [option, value]
    fmt = draw(st.sampled_from(["table", "json", "csv", "md"])) if command != "report" else "md"
    return args + base + ["--format", fmt]


@settings(FUZZ, max_examples=_DEEP or 300)
@given(command_lines())
def test_fuzz_options(args):
    with isolated_home(fresh=False) as root:
        invoke(args, root)


# --------------------------------------------------------------------------- files

HOSTILE_LITERALS = ["0", "-1", "5e-324", "1e308", "inf", "nan", "-inf", '"x"', "[]", "{}", "true", "9" * 30, "9" * 5000,
                    '"4"', '"1e-9GB"', '"' + "a" * 300 + '"', "[" * 50 + "]" * 50, "1000000000", "0.0001", '"\\u0007"']


def mutate(text: str, draw) -> str:
    """Replace one `key = value` line's value by a hostile literal, drop a line, or append junk."""
    lines = text.splitlines()
    assigned = [i for i, line in enumerate(lines) if re.match(r"^\w+ = ", line)]
    how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "append"]))
    i = draw(st.sampled_from(assigned))
    if how == "replace":
        key = lines[i].split(" = ", 1)[0]
        lines[i] = f"{key} = {draw(st.sampled_from(HOSTILE_LITERALS))}"
    elif how == "drop":
        del lines[i]
    else:
        lines.append(draw(st.sampled_from(["[[[", "x = 1", "= 2", "[memory]", "a." * 40 + "b = 1", "\x00"])))
    return "\n".join(lines) + "\n"


@FUZZ
@given(st.data())
def test_fuzz_device_profiles(data):
    text = mutate(PI5, data.draw)
    with isolated_home() as root:
        path = root / "device.toml"
        path.write_text(text)
        invoke(["recommend", "--device-file", str(path), "--format", "json"], root)


@FUZZ
@given(st.data())
def test_fuzz_model_overlays(data):
    shipped = (data_root() / "catalog" / "models.toml").read_text()
    first = shipped.index("\n[[models]]\n")
    entry = shipped[first:shipped.index("\n[[models]]\n", first + 1)]
    text = mutate(entry, data.draw)
    with isolated_home() as root:
        (root / "home" / "catalog").mkdir()
        (root / "home" / "catalog" / "models.toml").write_text(text)
        invoke(["recommend", "--ram", "4GB", "--format", "json", "--top", "3"], root)


@FUZZ
@given(st.data())
def test_fuzz_requirements(data):
    text = mutate(KIOSK, data.draw)
    fmt = data.draw(st.sampled_from(["md", "json", "csv"]))
    with isolated_home() as root:
        path = root / "req.toml"
        path.write_text(text)
        invoke(["report", "--requirements", str(path), "-o", str(root / f"out.{fmt}")], root)


bench_value = st.one_of(st.sampled_from([float("nan"), float("inf"), -1, 0, 10**12, 1.5, "", "x", None, True, [], {}]),
                        st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15), st.text(max_size=6))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(sorted(BENCH_ROWS[0])), bench_value), max_size=3),
       st.sampled_from(["jsonl", "json", "csv"]))
def test_fuzz_llama_bench_imports(edits, fmt):
    rows = [dict(r) for r in BENCH_ROWS] + [dict(BENCH_ROWS[0])]
    for row, key, value in edits:
        rows[row][key] = value
    if fmt == "jsonl":
        text = "\n".join(json.dumps(r) for r in rows)
    elif fmt == "json":
        text = json.dumps(rows)
    else:
        keys = list(BENCH_ROWS[0])
        text = ",".join(keys) + "\n" + "\n".join(",".join(json.dumps(r.get(k)) for k in keys) for r in rows)
    with isolated_home() as root:
        from advisor.store import list_runs

        path = root / f"bench.{fmt}"
        path.write_text(text)
        code, _, _ = invoke(["runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--model", "smollm2-135m-instruct"], root)
        stored = list_runs()
        assert len(stored) == (0 if code else len(stored))  # all or nothing
        for r in stored:  # what was stored reads back valid
            assert all(math.isfinite(v) for v in r.measured.values() if isinstance(v, float))


_EXPORT: list[dict] = []


def exported_runs() -> dict:
    """An export (``advisor runs export --format json``) of the llama-bench rows imported into a store."""
    if not _EXPORT:
        with isolated_home() as root:
            path = root / "bench.jsonl"
            path.write_text("\n".join(json.dumps(r) for r in BENCH_ROWS))
            assert invoke(["runs", "import", str(path), "--device", "mini-pc-intel-n100-8gb", "--model", "smollm2-135m-instruct"], root)[0] == 0
            code, out, _ = invoke(["runs", "export", "--format", "json"], root)
            assert code == 0
            _EXPORT.append(json.loads(out))
    return json.loads(json.dumps(_EXPORT[0]))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["", "measured", "settings", "predicted", "device_profile",
                                                              "device_profile.memory", "device_profile.cpu"]),
                          st.data(), bench_value), min_size=1, max_size=3))
def test_fuzz_exported_run_imports(edits):
    """An export read back with its fields changed: imported whole, or refused whole with one Error line."""
    doc = exported_runs()
    for index, where, data, value in edits:
        target = doc["runs"][index]
        for part in filter(None, where.split(".")):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):  # an earlier edit may have replaced the table
            target[data.draw(st.sampled_from(sorted(target) + ["extra"]))] = value
    with isolated_home() as root:
        from advisor.store import list_runs

        path = root / "runs.json"
        path.write_text(json.dumps(doc))  # NaN and Infinity as json writes them
        code, _, _ = invoke(["runs", "import", str(path)], root)
        stored = list_runs()
        assert len(stored) == (0 if code else 2)  # all or nothing
        for r in stored:  # what was stored reads back valid
            assert all(math.isfinite(v) for v in r.measured.values() if isinstance(v, float))


STORE_COLUMNS = {"runs": ["measured", "predicted", "settings", "device_profile", "status", "source", "device_id", "created_at",
                          "model_id", "quant", "synthetic", "excluded"],
                 "calibrations": ["factors", "stats", "key", "scope", "n_runs"]}
store_value = st.one_of(st.sampled_from(["xx", "{}", "[]", "null", '{"decode_tokens_per_s": NaN}', '{"decode_tokens_per_s": -1}',
                                         '{"n_ctx": 1e300}', '{"bw_efficiency": "x"}', "[" * 3000 + "]" * 3000, "", None, 5, 1.5]),
                        st.text(max_size=10), st.integers(-2**63, 2**63 - 1), st.binary(max_size=8))


@FUZZ
@given(st.sampled_from(sorted(STORE_COLUMNS)), st.data(), store_value)
def test_fuzz_store_contents(table, data, value):
    column = data.draw(st.sampled_from(STORE_COLUMNS[table]))
    with isolated_home() as root:
        from advisor.catalog import load_catalog
        from advisor.store import Run, db_path, record_run, save_calibration

        record_run(Run(source="validate", status="ok", device_id="raspberry-pi-5-8gb", model_id="qwen3-0.6b", quant="Q4_K_M",
                       measured={"decode_tokens_per_s": 5.0}, settings={"n_ctx": 512}))
        save_calibration("device", "raspberry-pi-5-8gb", load_catalog().calibration["cpu-arm"], 1, {})
        conn = sqlite3.connect(db_path())
        try:
            conn.execute(f"UPDATE {table} SET {column} = ?", (value,))
            conn.commit()
        except sqlite3.IntegrityError:  # NOT NULL: the schema itself refuses it
            pass
        finally:
            conn.close()
        code, _, _ = invoke(["recommend", "--device", "raspberry-pi-5-8gb", "--format", "json", "--top", "2"], root)
        assert code == 0  # a damaged store never breaks a prediction
        invoke(["runs", "list", "--format", "json"], root)
        invoke(["runs", "list"], root)

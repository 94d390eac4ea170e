"""Start-up cost against llmfit: the same question ("what runs on a machine with 4 GB of RAM?")
asked of both tools from a fresh process, runs alternating so both see the same machine state.
Reports each tool's median wall time and the median of the per-pair ratios; writes
results/startup.md.

    pip install llmfit            # a Rust binary on PyPI
    python benchmarks/startup.py  # [--runs 21]

The two commands:
    advisor recommend --ram 4GB                                   (python -m advisor, this checkout)
    llmfit --ram 4G --cpu-cores 4 recommend -n 5 --json

The advisor runs against a private ADVISOR_HOME (shipped data only). Its first run there fills the
catalog cache (``advisor.catalog`` keeps the validated catalog as a pickle keyed by the data files'
sizes and times); that warm-up run is not timed, as on a user's machine only the first command
after installing or editing a data file pays it — its cost is reported separately.

An installed advisor runs from bytecode: ``pip install`` byte-compiles the package. This checkout
is byte-compiled the same way (``compileall``, into the ignored ``__pycache__`` folders) before the
runs, and the advisor is also timed from source (a copy of the package without ``__pycache__``,
nothing written: what an editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` pays on every run;
the libraries keep their bytecode) — that figure is shown for information; the target is the
installed one. The load average before and
after is printed: on a busy machine llmfit slows more than the advisor, so only a quiet machine's
ratio counts.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ADVISOR = [sys.executable, "-m", "advisor", "recommend", "--ram", "4GB"]
LLMFIT_ARGS = ["--ram", "4G", "--cpu-cores", "4", "recommend", "-n", "5", "--json"]


def llmfit_path() -> str | None:
    found = shutil.which("llmfit")
    if found:
        return found
    user = Path.home() / ".local" / "bin" / "llmfit"
    return str(user) if user.exists() else None


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall time of ``cmd``, run in ``env["BENCH_CWD"]`` (``python -m`` puts that folder first on
    the path), else in the checkout."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=env.get("BENCH_CWD", ROOT))
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=21, help="timed runs of each tool (alternating)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write results/startup.md")
    args = ap.parse_args()
    llmfit = llmfit_path()
    if llmfit is None:
        raise SystemExit("llmfit is not installed: pip install llmfit")
    home = tempfile.mkdtemp(prefix="advisor-startup-")
    env = {**os.environ, "ADVISOR_HOME": home, "PYTHONPATH": str(ROOT)}
    compileall.compile_dir(str(ROOT / "advisor"), quiet=1)  # as pip install does
    plain = Path(home) / "source"  # the package without bytecode, run with nothing written
    shutil.copytree(ROOT / "advisor", plain / "advisor", ignore=shutil.ignore_patterns("__pycache__"))
    source_env = {**env, "ADVISOR_HOME": str(Path(home) / "source-home"), "PYTHONPATH": str(plain), "ADVISOR_DATA_DIR": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
                  "BENCH_CWD": str(plain)}
    timed(ADVISOR, source_env)  # its own home: the catalog cache key names the code that wrote it
    cold = timed(ADVISOR, env)  # fills the catalog cache under this ADVISOR_HOME
    timed([llmfit, *LLMFIT_ARGS], env)  # and warms llmfit's page cache the same way
    load_before = os.getloadavg()[0]
    ours: list[float] = []
    source: list[float] = []
    theirs: list[float] = []
    for i in range(args.runs):
        trio = [(ours, ADVISOR, env), (theirs, [llmfit, *LLMFIT_ARGS], env), (source, ADVISOR, source_env)]
        trio = trio[i % 3:] + trio[:i % 3]  # rotate which goes first
        for out, cmd, e in trio:
            out.append(timed(cmd, e))
    load_after = os.getloadavg()[0]
    ratios = [a / b for a, b in zip(ours, theirs)]
    version = subprocess.run([llmfit, "--version"], capture_output=True, text=True).stdout.strip() or "llmfit"
    lines = [
        "# Start-up: `advisor recommend --ram 4GB` vs llmfit",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {version}. `python benchmarks/startup.py --runs {args.runs}` "
        f"({args.runs} rounds of the three commands in rotating order, fresh processes, wall time).",
        "",
        "| | median | min | max |",
        "|---|---|---|---|",
        f"| advisor recommend --ram 4GB | {statistics.median(ours):.3f} s | {min(ours):.3f} s | {max(ours):.3f} s |",
        f"| llmfit --ram 4G --cpu-cores 4 recommend -n 5 --json | {statistics.median(theirs):.3f} s | {min(theirs):.3f} s "
        f"| {max(theirs):.3f} s |",
        "",
        f"| advisor, from source (no bytecode; for information) | {statistics.median(source):.3f} s | {min(source):.3f} s "
        f"| {max(source):.3f} s |",
        "",
        f"**Median ratio advisor / llmfit: {statistics.median(ratios):.2f}** (per pair; ≤ 1.00 is the target); "
        f"from source {statistics.median(a / b for a, b in zip(source, theirs)):.2f}.",
        "",
        f"Load average (1 min) before the runs {load_before:.2f}, after {load_after:.2f} ({os.cpu_count()} CPUs).",
        "",
        f"First run after installing or editing a data file (validates the catalog and writes its cache): {cold:.3f} s.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (HERE / "results" / "startup.md").write_text(text)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

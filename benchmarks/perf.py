"""Speed of the tool itself: the whole grid (all models × quantizations × devices) and the CLI's
cold start. Medians of repeated runs; writes results/perf.md.

    python benchmarks/perf.py
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

GRID_SNIPPET = """
import time
t0 = time.perf_counter()
from advisor.catalog import load_catalog
from advisor.engine.grid import evaluate_grid_arrays
from advisor.records import Workload
c = load_catalog()
t1 = time.perf_counter()
g = evaluate_grid_arrays(c, list(c.devices.values()), Workload())
t2 = time.perf_counter()
g = evaluate_grid_arrays(c, list(c.devices.values()), Workload(context_tokens=8192))
t3 = time.perf_counter()
print(len(g), t1 - t0, t2 - t1, t3 - t2)
"""


# shipped data only: the user's own profiles/models under ADVISOR_HOME stay out of the figures
ENV = {**os.environ, "ADVISOR_HOME": tempfile.mkdtemp(prefix="advisor-perf-")}


def median_runs(argv: list[str], n: int, env: dict[str, str] | None = None) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env or ENV)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 3):
            raise SystemExit(f"{argv} failed: {proc.stderr}")
    return statistics.median(times), times


def main() -> int:
    rows = []
    grid = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", GRID_SNIPPET], capture_output=True, text=True, cwd=ROOT, check=True,
                             env=ENV).stdout.split()
        grid.append(tuple(float(x) for x in out))
    n = int(grid[0][0])
    load = statistics.median(g[1] for g in grid)
    cold = statistics.median(g[2] for g in grid)
    warm = statistics.median(g[3] for g in grid)
    rows.append(f"| whole grid, first evaluation in a process ({n:,} model × quant × device rows) | {cold * 1000:.0f} ms |")
    rows.append(f"| whole grid, next evaluation (other workload; weight sums cached) | {warm * 1000:.0f} ms |")
    rows.append(f"| catalog + profiles load | {load * 1000:.0f} ms |")
    for label, argv in [
        ("`advisor recommend --ram 4GB` (process start to answer)", [sys.executable, "-m", "advisor", "recommend", "--ram", "4GB"]),
        ("`advisor recommend --ram 4GB --format json`", [sys.executable, "-m", "advisor", "recommend", "--ram", "4GB", "--format", "json"]),
        ("`advisor predict --model qwen3-1.7b --device raspberry-pi-5-8gb`",
         [sys.executable, "-m", "advisor", "predict", "--model", "qwen3-1.7b", "--device", "raspberry-pi-5-8gb"]),
        ("`python -c pass` (interpreter alone, for reference)", [sys.executable, "-c", "pass"]),
    ]:
        med, _ = median_runs(argv, 9)
        rows.append(f"| {label} | {med * 1000:.0f} ms |")
    # calibrate over one device's stored runs: the llama-bench file of the lent machine's host CPU
    # (benchmarks/results/cpu_h200host.md), imported once into a store of its own
    cal_env = {**ENV, "ADVISOR_HOME": tempfile.mkdtemp(prefix="advisor-perf-cal-")}
    subprocess.run([sys.executable, "-m", "advisor", "runs", "import", "benchmarks/results/cpu_h200host_bench.jsonl",
                    "--device-file", "benchmarks/reference_devices/ref-h200-host-cpu.toml"],
                   capture_output=True, text=True, cwd=ROOT, env=cal_env, check=True)
    med, _ = median_runs([sys.executable, "-m", "advisor", "calibrate", "--dry-run"], 3, env=cal_env)
    rows.append(f"| `advisor calibrate --dry-run` over 12 stored runs of one device (a fit and 12 leave-one-run-out fits) | {med * 1000:.0f} ms |")
    # a large store: the two llama-bench rows of the smollm2 twin (its decode and its prompt test)
    # imported as 1,000 quiet runs, each its own (test_time, a rate within 1 %, a 1 % deviation):
    # every fit predicts each distinct setting once, not each run (this took ~10 min before)
    big_env = {**ENV, "ADVISOR_HOME": tempfile.mkdtemp(prefix="advisor-perf-big-")}
    big = Path(big_env["ADVISOR_HOME"]) / "runs.jsonl"
    import json

    rows_in = [json.loads(line) for line in (ROOT / "tests/data/llama-bench/smollm2-135m-q4_k_m.jsonl").read_text().splitlines() if line.strip()]
    with big.open("w") as fh:
        for i in range(1000):
            r = dict(rows_in[i % len(rows_in)])
            rate = r["avg_ts"] * (1 + 0.01 * i / 1000)
            r.update(test_time=f"2026-11-20T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", avg_ts=rate,
                     stddev_ts=rate * 0.01, samples_ts=[rate * 0.99, rate * 1.01])
            r.pop("avg_ns", None), r.pop("stddev_ns", None), r.pop("samples_ns", None)
            fh.write(json.dumps(r) + "\n")
    subprocess.run([sys.executable, "-m", "advisor", "runs", "import", str(big), "--device", "mini-pc-intel-n100-8gb",
                    "--model", "smollm2-135m-instruct"], capture_output=True, text=True, cwd=ROOT, env=big_env, check=True)
    med, _ = median_runs([sys.executable, "-m", "advisor", "calibrate", "--dry-run"], 3, env=big_env)
    rows.append(f"| `advisor calibrate --dry-run` over 1,000 stored runs of one device (20-fold cross-validated) | {med * 1000:.0f} ms |")
    machine = f"{platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    try:
        import psutil

        machine += f", {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        pass
    report = "\n".join([
        "# Tool performance",
        "",
        f"Command: `python benchmarks/perf.py` — medians (5 grid processes, 9 CLI runs). Machine: {machine}.",
        "Target: whole grid under 0.5 s; `advisor recommend --ram 4GB` well under a second; "
        "`advisor calibrate` over a device's runs in seconds.",
        "",
        "| what | median |",
        "|---|---|",
        *rows,
        "",
    ])
    out = HERE / "results" / "perf.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

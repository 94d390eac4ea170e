"""Server-side time of the dashboard's script runs, measured with Streamlit's AppTest.

    python benchmarks/dashboard_rerun.py [--repeats 7] [--out benchmarks/results/dashboard_rerun.md]

What is timed: ``AppTest.run()`` — the whole script run on the server (widgets, library calls, building
every chart and table) plus AppTest's own bookkeeping; not the network or the browser's drawing.
* cold first render: the first run in a fresh process (imports plotly/pandas, loads the catalog);
* first render of a new session: a new AppTest in a warm process (a second browser tab);
* reruns after one widget change each, the median of ``--repeats`` alternations.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard.py")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "dashboard_rerun.md"

#: (what changes, open tab, widget kind, key, value A, value B): each repeat sets A then B and times both runs.
#: Only the open tab is computed, so each change is timed with the tab its widget lives in.
CHANGES = [
    ("device profile (Pi 5 ↔ iPhone 16 Pro)", "Candidates", "selectbox", "device_id", "iphone-16-pro", "raspberry-pi-5-8gb"),
    ("context length (4,096 ↔ 16,384)", "Candidates", "number_input", "context", 16384, 4096),
    ("RAM only: RAM (4GB ↔ 16GB)", "Candidates", "text_input", "ram", "4GB", "16GB"),
    ("minimum decode speed (0 ↔ 5 tok/s)", "Candidates", "number_input", "min_tps", 5.0, 0.0),
    ("table rows (ranked ↔ every model × quant)", "Candidates", "radio", "table_scope", "Every model × quant",
     "Recommended quant per model"),
    ("context length, Plots tab open (4,096 ↔ 16,384)", "Plots", "number_input", "context", 16384, 4096),
    ("focus model of the detail plots", "Plots", "selectbox", "focus_model", "qwen3-1.7b", "__pick__"),
    ("compared devices (3 ↔ 4)", "Compare devices", "multiselect", "compare_devices",
     ["raspberry-pi-5-8gb", "jetson-orin-nano-super-8gb", "mac-mini-m4-16gb", "iphone-16-pro"],
     ["raspberry-pi-5-8gb", "jetson-orin-nano-super-8gb", "mac-mini-m4-16gb"]),
    ("open tab (Candidates ↔ Plots)", "Candidates", "tab", "view", "Plots", "Candidates"),
    ("runtime (llama.cpp ↔ all with measurements)", "Candidates", "selectbox", "runtime", "all", "llama.cpp"),
    ("deployment target (server ↔ desktop app)", "Candidates", "selectbox", "target", "desktop-app", "server"),
    ("view (Recommendation ↔ Runtimes compared)", "Candidates", "radio", "page", "Runtimes compared", "Recommendation"),
    ("view (Recommendation ↔ What to ship per RAM tier, sbc class)", "Candidates", "radio", "page",
     "What to ship per RAM tier", "Recommendation"),
]


def timed_run(at) -> float:
    t0 = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"the dashboard raised: {[e.value for e in at.exception]}")
    if at.error:
        raise SystemExit(f"the dashboard showed an error: {[e.value for e in at.error]}")
    return elapsed


def widget(at, kind: str, key: str):
    return getattr(at, kind)(key=key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    os.environ.setdefault("ADVISOR_HOME", tempfile.mkdtemp(prefix="advisor-bench-"))  # no user runs or calibrations

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    cold = timed_run(at)
    sessions = []
    for _ in range(args.repeats):
        fresh = AppTest.from_file(APP, default_timeout=120)
        sessions.append(timed_run(fresh))

    results: list[tuple[str, list[float]]] = []
    for label, tab, kind, key, a, b in CHANGES:
        at = AppTest.from_file(APP, default_timeout=120)
        timed_run(at)
        at.session_state["view"] = tab
        timed_run(at)
        if key == "ram":
            at.radio(key="device_source").set_value("RAM only")
            timed_run(at)
        times = []
        for _ in range(args.repeats):
            for value in (a, b):
                if kind == "tab":
                    at.session_state[key] = value
                else:
                    widget(at, kind, key).set_value(value)
                times.append(timed_run(at))
        results.append((label, times))

    def ms(x: float) -> str:
        return f"{x * 1000:.0f}"

    lines = [
        "# Dashboard: server-side time of a script run",
        "",
        (f"Command: `python benchmarks/dashboard_rerun.py --repeats {args.repeats}` "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}; "
        f"no GPU; empty measurements store)."),
        "",
        "Timed: `AppTest.run()`, i.e. the whole script run on the server (widgets, library calls, every table and",
        "chart built) plus AppTest's bookkeeping; not the network or the browser's drawing. Loading (the catalog,",
        "the measurements store) is cached; every figure is recomputed by the engine on each run. Only the open tab",
        "is computed and drawn, so each change is timed with its own tab open. The machine may be shared with other",
        "work: compare medians, not maxima.",
        "",
        "| run | median ms | min ms | max ms | n |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| cold first render (fresh process: imports, catalog load) | {ms(cold)} | {ms(cold)} | {ms(cold)} | 1 |",
        (f"| first render of a new session (warm process) | {ms(statistics.median(sessions))} | {ms(min(sessions))} | "
        f"{ms(max(sessions))} | {len(sessions)} |"),
    ]
    for label, times in results:
        lines.append(f"| rerun after changing {label} | {ms(statistics.median(times))} | {ms(min(times))} | "
                     f"{ms(max(times))} | {len(times)} |")
    all_reruns = [t for _, ts in results for t in ts]
    lines += ["", (f"All reruns: median {ms(statistics.median(all_reruns))} ms, "
              f"90th percentile {ms(statistics.quantiles(all_reruns, n=10)[-1])} ms over {len(all_reruns)} runs."), ""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())

"""The command line of a benchmark that measures on this machine: measure (slow) and store the raw
runs in ``results/NAME.json``, or ``--from-json`` re-render ``results/NAME.md`` from the stored runs.
Both files are written atomically."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def measure_or_reload(name: str, measure: Callable[[], dict[str, Any]], render: Callable[[dict[str, Any]], str],
                      description: str = "") -> int:
    """Run the benchmark ``name``: results/NAME.json from ``measure()`` (or as stored, with
    ``--from-json``), then results/NAME.md from ``render``; prints the rendering."""
    from advisor.output import write_atomic

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--from-json", action="store_true", help=f"re-render results/{name}.md from results/{name}.json without measuring")
    args = parser.parse_args()
    raw = RESULTS / f"{name}.json"
    RESULTS.mkdir(exist_ok=True)
    if args.from_json:
        data = json.loads(raw.read_text())
    else:
        data = measure()
        write_atomic(raw, (json.dumps(data, indent=1) + "\n").encode(), force=True)
    text = render(data)
    write_atomic(RESULTS / f"{name}.md", text.encode(), force=True)
    print(text)
    return 0

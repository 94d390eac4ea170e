"""wllama in a real browser against the engine's wllama predictions (and native llama.cpp).

Each case builds a GGUF twin of a catalog model (random weights, llama.cpp's quantizer), runs it in
@wllama/wllama 3.13.0 inside headless Chromium on this machine (advisor/validate/wllama_browser.py:
COOP/COEP page on 127.0.0.1, ``n_gpu_layers: 0``, a 128-token prompt and 64 generated tokens per
repeat after a short warm-up), runs the same twin through native llama.cpp (llama-cpp-python, same
context, prompt, output and threads; advisor/validate/runner.py), and records both beside the
engine's prediction for runtime wllama on the reference profile of this VM
(benchmarks/reference_devices/ref-study-vm-epyc.toml: the 2-core AMD EPYC VM with 24 GiB,
``--target browser`` on Chrome desktop). Records go to ``tests/data/wllama_browser/`` (the tests
check them against current predictions without a browser), the table to
``benchmarks/results/wllama_browser.md``.

Needs chromium and the npm package unpacked locally (no download at run time):

    cd /tmp && npm pack @wllama/wllama@3.13.0 && tar xzf wllama-wllama-3.13.0.tgz
    ADVISOR_WLLAMA_DIR=/tmp/package python benchmarks/wllama_browser.py          # every case (~25 min here)
    python benchmarks/wllama_browser.py --report                                   # table from the records
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ADVISOR_TWIN_CACHE", str(HERE / ".cache" / "twins"))

from advisor.units import format_size  # noqa: E402

RECORDS = ROOT / "tests" / "data" / "wllama_browser"
REPORT = HERE / "results" / "wllama_browser.md"
DEVICE_FILE = HERE / "reference_devices" / "ref-study-vm-epyc.toml"
PROMPT, OUTPUT = 128, 64

#: (model id, GGUF type, n_ctx, threads; None = wllama's default: floor(hardwareConcurrency / 2))
#: wllama's default on this 2-core VM is 1 thread (its single-threaded build); 2 threads on the
#: shared VM (another job on one core) decoded SmolLM2-135M Q8_0 at 0.5-0.7 tok/s in a first run,
#: its threads spinning at barriers, so the recorded cases take the default.
CASES: list[tuple[str, str, int, int | None]] = [
    ("smollm2-135m-instruct", "Q8_0", 512, None),
    ("smollm2-135m-instruct", "Q8_0", 4096, None),
    ("smollm2-135m-instruct", "Q4_0", 512, None),
    ("qwen2.5-0.5b-instruct", "Q4_0", 512, None),
]


def record_name(model_id: str, quant: str, n_ctx: int, threads: int | None) -> str:
    return f"{model_id}--{quant}--ctx{n_ctx}--t{threads or 'default'}.json"


def predicted(model_id: str, quant: str, n_ctx: int, threads: int) -> dict:
    """The engine's figures for runtime wllama in a Chrome tab on this VM's reference profile,
    with ``threads`` CPU threads (the threads wllama really used)."""
    from advisor.api import DeviceChoice, make_deployment, resolve_device, run_predict
    from advisor.catalog import load_catalog
    from advisor.records import Workload

    catalog = load_catalog()
    device = resolve_device(DeviceChoice(device_file=DEVICE_FILE), catalog)
    workload = Workload(context_tokens=n_ctx, prompt_tokens=PROMPT, output_tokens=OUTPUT, threads=threads)
    deployment = make_deployment(device, "browser", browser_id="chrome-desktop")
    est = run_predict(model_id, quant, device, workload, catalog, runtime_id="wllama", deployment=deployment)
    m, s = est.memory, est.speed
    return {"device": device.id, "weights_bytes": m.weights_bytes, "kv_cache_bytes": m.kv_cache_bytes,
            "compute_buffer_bytes": m.compute_buffer_bytes, "overhead_bytes": m.overhead_bytes, "total_bytes": m.total_bytes,
            "decode_tokens_per_s": s.decode_tokens_per_s, "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "decode_band": [s.decode_band.low, s.decode_band.high], "threads": s.threads,
            "load_warm_s": est.load.warm_s if est.load else None}


def run_case(model_id: str, quant: str, n_ctx: int, threads: int | None, repeats: int) -> dict:
    from advisor.catalog import load_catalog
    from advisor.validate.runner import RunSettings, run_child
    from advisor.validate.twin import build_twin
    from advisor.validate.wllama_browser import measure, wllama_dir, wllama_version

    catalog = load_catalog()
    gguf = build_twin(catalog.models[model_id], quant, Path(os.environ["ADVISOR_TWIN_CACHE"]), threads=os.cpu_count())
    print(f"{model_id} {quant} n_ctx {n_ctx} threads {threads or 'default'}: browser …", flush=True)
    browser = measure(gguf, n_ctx=n_ctx, threads=threads, prompt_tokens=PROMPT, output_tokens=OUTPUT, repeats=repeats)
    used = int(browser["page"]["threads"])
    print(f"  wllama: {summary(browser)}; native llama.cpp at {used} threads …", flush=True)
    native = run_child(RunSettings(gguf=gguf, n_ctx=n_ctx, prompt_tokens=PROMPT, output_tokens=OUTPUT, threads=used,
                                   repeats=repeats, timeout_s=900))
    if not native.ok:
        raise SystemExit(f"native llama.cpp failed: {native.error}")
    nat = {k: native.measured[k] for k in ("load_s", "prefill_tokens_per_s", "decode_tokens_per_s", "prefill_samples",
                                          "decode_samples", "peak_rss_bytes", "llama_cpp_python", "foreign_cpu_cores")}
    from advisor.validate.wllama_browser import buffer_sizes

    nat["llama_buffers"] = buffer_sizes(native.log.splitlines())
    print(f"  native: prefill {nat['prefill_tokens_per_s']:.1f}, decode {nat['decode_tokens_per_s']:.1f} tok/s", flush=True)
    return {
        "schema": "advisor.wllama-browser", "schema_version": 1,
        "model": model_id, "quant": quant, "gguf_bytes": gguf.stat().st_size,
        "versions": {"wllama": wllama_version(wllama_dir()), "chromium": chromium_version()},
        "machine": {"cpu_count": os.cpu_count(), "load_average_before": list(os.getloadavg())},
        "browser": browser, "native": nat,
        "predicted_at_record": predicted(model_id, quant, n_ctx, used),
    }


def chromium_version() -> str:
    import subprocess

    from advisor.validate.wllama_browser import chromium_path

    out = subprocess.run([chromium_path() or "chromium", "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def wasm_rates(browser: dict) -> tuple[float, float]:
    """Median prefill and decode tok/s of the repeats, from llama.cpp's own timings."""
    return (median([r["timings"]["prompt_per_second"] for r in browser["runs"]]),
            median([r["timings"]["predicted_per_second"] for r in browser["runs"]]))


def summary(browser: dict) -> str:
    pre, dec = wasm_rates(browser)
    return (f"load {browser['page']['load_s']:.2f} s, prefill {pre:.1f}, decode {dec:.1f} tok/s, "
            f"{browser['page']['threads']} threads, KV {format_size(browser['llama_buffers'].get('kv_cache_bytes', 0))}, "
            f"wasm heap {format_size(browser['wasm_heap_bytes']['after_generate'] or 0)}, "
            f"renderer peak RSS {format_size(peak_rss(browser))}")


def peak_rss(browser: dict) -> int:
    """The renderer's largest RSS seen: VmHWM read after loading and after generating, and the
    sampled RSS (Chromium's renderer has been seen to read a lower VmHWM later)."""
    ren = browser["renderer"]
    return max(ren["loaded"].get("peak_rss_bytes", 0), ren["after_generate"].get("peak_rss_bytes", 0),
               ren.get("sampled_peak_rss_bytes", 0))


def report(records: list[dict]) -> str:
    mib = lambda b: f"{b / 2**20:,.1f}" if b else "—"  # noqa: E731
    lines = [
        "# wllama in headless Chromium on this machine, against the engine's wllama predictions",
        "",
        "Command: `ADVISOR_WLLAMA_DIR=/tmp/package python benchmarks/wllama_browser.py` (records in",
        "`tests/data/wllama_browser/`; `--report` re-writes this table from them). @wllama/wllama 3.13.0",
        "(npm pack, unpacked locally) in Debian's Chromium, new headless mode, page and files served from",
        "127.0.0.1 with COOP/COEP (cross-origin isolated: wllama's multi-threaded build); `n_gpu_layers: 0`",
        "(the WASM CPU path); GGUF twins (random weights, llama.cpp's quantizer); a 128-token prompt",
        "(`cache_prompt: false`) and 64 generated tokens per repeat after a warm-up; speeds are llama.cpp's",
        "own timings as wllama returns them (llama-server's `prompt_per_second`, `predicted_per_second`).",
        "Native: the same twin through llama-cpp-python at the same threads and context. Predicted: `advisor",
        "predict --runtime wllama --target browser --browser chrome-desktop` on",
        "`benchmarks/reference_devices/ref-study-vm-epyc.toml` (this VM: AMD EPYC, 2 cores, 24 GiB).",
        "Memory: llama.cpp's own buffer lines (forwarded to the page's logger), the wasm heap",
        "(`Module.wasmMemory.buffer.byteLength` inside wllama's worker) and the renderer process's RSS",
        "before the model (page + wllama JS), after generating, and its peak (VmHWM). The VM is shared",
        "(load average in the records): speeds are indicative.",
        "",
        "| model | type | n_ctx | threads | load s | prefill tok/s wasm / native / predicted | decode tok/s wasm / native / predicted "
        "| wasm/native decode | KV MiB (log / pred) | compute MiB (log / pred) | wasm heap MiB | renderer RSS MiB before / after / peak "
        "| predicted total MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        b, n, p = r["browser"], r["native"], r["predicted_at_record"]
        pre, dec = wasm_rates(b)
        buf = b["llama_buffers"]
        ren = b["renderer"]
        lines.append(
            f"| {r['model']} | {r['quant']} | {b['settings']['n_ctx']} | {b['page']['threads']}"
            f"{'' if b['settings']['threads'] else ' (default)'} | {b['page']['load_s']:.2f} "
            f"| {pre:.1f} / {n['prefill_tokens_per_s']:.1f} / {p['prefill_tokens_per_s']:,.0f} "
            f"| {dec:.1f} / {n['decode_tokens_per_s']:.1f} / {p['decode_tokens_per_s']:,.0f} "
            f"| {dec / n['decode_tokens_per_s']:.2f} "
            f"| {mib(buf.get('kv_cache_bytes'))} / {mib(p['kv_cache_bytes'])} "
            f"| {mib(buf.get('compute_buffer_bytes'))} / {mib(p['compute_buffer_bytes'])} "
            f"| {mib(b['wasm_heap_bytes']['after_generate'])} "
            f"| {mib(ren['before_model'].get('rss_bytes'))} / {mib(ren['after_generate'].get('rss_bytes'))} / "
            f"{mib(peak_rss(b))} | {mib(p['total_bytes'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="only re-write the table from the records")
    parser.add_argument("--model", help="only cases of this model id")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    RECORDS.mkdir(parents=True, exist_ok=True)
    if not args.report:
        for case in CASES:
            if args.model and case[0] != args.model:
                continue
            rec = run_case(*case, repeats=args.repeats)
            (RECORDS / record_name(*case)).write_text(json.dumps(rec, indent=1) + "\n")
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    REPORT.write_text(report(records))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()

"""Other runtimes' CPU speed and peak memory on a profiled x86 machine: ``advisor validate --runtime``
runs of ONNX Runtime GenAI and MNN twins on the 2-core EPYC VM on a Zen 3 host (AVX2, no AVX-512),
against the engine's prediction for that machine's profile — and, beside them, the same machine's
llama.cpp runs, predicted the same way.

No published row gives these runtimes' CPU speed on x86 (catalog/runtime-calibration.toml has no
``ort-genai:cpu`` or ``mnn:cpu`` path), so each borrows llama.cpp's cpu-x86 factors for the same
hardware with a band twice as wide (engine.evaluate.PRIOR_BAND_WIDENING). None of these runs was
fitted: the figures are held out. The runs: ``benchmarks/results/epyc_zen3_vm_runtime_runs.json``
(``advisor runs export`` of the store, the runtime runs only), measured 2026-12-03 with
``advisor validate --runtime R --model M --quant F --prompt-tokens 128 --output-tokens 64 --repeats 5``
in a venv with onnxruntime-genai 0.18.0, MNN 3.6.1, llmexport 0.0.5, torch 2.13.0+cpu, transformers
5.25 (ADVISOR_HOME=benchmarks/.cache/epyc_zen3_vm-home: the machine's own profile, the idle one of
``benchmarks/reference_devices/ref-epyc-zen3-vm-2c.toml``); its llama.cpp runs are
``epyc_zen3_vm_runs.json`` (``bash benchmarks/machine_runs.sh epyc_zen3_vm``).

    python benchmarks/runtime_cpu_speed.py     # prints and writes results/runtime_cpu_speed.md
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.catalog import load_catalog, load_device_file  # noqa: E402
from advisor.engine.evaluate import evaluate  # noqa: E402
from advisor.records import Workload  # noqa: E402
from advisor.validate.runtime_validation import cpu_variant  # noqa: E402
from measured import RESULTS, study_runs  # noqa: E402

REFS = HERE / "reference_devices"
PROFILE = REFS / "ref-epyc-zen3-vm-2c.toml"
RUNTIME_RUNS = "epyc_zen3_vm_runtime_runs.json"
LLAMA_RUNS = "epyc_zen3_vm_runs.json"


def _err(pred: float, meas: float | None) -> float | None:
    return None if not meas or not math.isfinite(pred) else (pred / meas - 1) * 100


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:+.0f}%"


def predicted(run, catalog, device) -> tuple[float, float, float, float, float, float, float]:
    """(decode, its band's low and high end, prefill, its band's low and high end, total bytes) the engine predicts for the run's
    runtime × format × workload on ``device``: the workload validate predicted the run with."""
    s = run.settings
    runtime = s.get("runtime", "llama.cpp")
    model = catalog.model(run.model_id)
    p, g = int(s.get("prompt_tokens") or 128), int(s.get("output_tokens") or 64)
    ctx = max(int(s.get("n_ctx") or p + g), p + g)
    if runtime == "llama.cpp":
        threads = s.get("threads") or None
        w = Workload(context_tokens=ctx, prompt_tokens=p, output_tokens=g, threads=threads)
        est = evaluate(model, catalog.file_type(run.quant), device, w, catalog)
    else:
        variant = cpu_variant(catalog, device, runtime, run.quant)  # as advisor validate --runtime predicted it
        w = Workload(context_tokens=ctx, prompt_tokens=p, output_tokens=g)
        est = evaluate(model, variant.format, device, w, catalog, variant=variant)
    sp = est.speed
    return (sp.decode_tokens_per_s, sp.decode_band.low, sp.decode_band.high, sp.prefill_tokens_per_s, sp.prefill_band.low,
            sp.prefill_band.high, float(est.memory.total_bytes))


def main() -> int:
    catalog = load_catalog()
    device = load_device_file(PROFILE)
    runtime_runs, _ = study_runs(RUNTIME_RUNS, PROFILE.name)
    llama_runs, _ = study_runs(LLAMA_RUNS, PROFILE.name)
    rows, errors = [], {}
    for run in [*runtime_runs, *llama_runs]:
        runtime = run.settings.get("runtime", "llama.cpp")
        m = run.measured
        dec, low, high, pre, p_low, p_high, peak = predicted(run, catalog, device)
        e_dec, e_pre = _err(dec, m.get("decode_tokens_per_s")), _err(pre, m.get("prefill_tokens_per_s"))
        # llama.cpp's resident set is not its total (mapped file pages, the repacked copy: validate compares
        # those on their own), so only the other runtimes' peak RSS is set against the total, as validate does
        e_peak = _err(peak, m.get("peak_rss_bytes")) if runtime != "llama.cpp" else None
        inside = low <= (m.get("decode_tokens_per_s") or 0) <= high
        p_inside = p_low <= (m.get("prefill_tokens_per_s") or 0) <= p_high
        if run.status == "ok":
            for key, e in (("decode", e_dec), ("prefill", e_pre), ("peak RSS", e_peak)):
                if e is not None:
                    errors.setdefault((runtime, key), []).append(e)
            errors.setdefault((runtime, "decode inside band"), []).append(float(inside))
            errors.setdefault((runtime, "prefill inside band"), []).append(float(p_inside))
        threads = f" {run.settings['threads']}t" if run.settings.get("threads") else ""
        rows.append(f"| {runtime} | {run.model_id} {run.quant}{threads} | {run.status} | {m.get('decode_tokens_per_s') or 0:.1f} | {dec:.1f} "
                    f"({low:.1f}–{high:.1f}) | {_cell(e_dec)} | {'yes' if inside else 'no'} | {m.get('prefill_tokens_per_s') or 0:.1f} | {pre:.1f} "
                    f"({p_low:.1f}–{p_high:.1f}) | {_cell(e_pre)} | {'yes' if p_inside else 'no'} | {_cell(e_peak)} |")
    summary = ["| runtime | runs (ok) | decode MdAPE | decode median error | decode inside its band | prefill MdAPE | prefill median error "
               "| prefill inside its band | peak RSS median error |", "|---|---|---|---|---|---|---|---|---|"]
    for runtime in ("ort-genai", "mnn", "llama.cpp"):
        d, p, r = (errors.get((runtime, k), []) for k in ("decode", "prefill", "peak RSS"))
        inside = errors.get((runtime, "decode inside band"), [])
        p_inside = errors.get((runtime, "prefill inside band"), [])
        if not d:
            continue
        summary.append(f"| {runtime} | {len(d)} | {statistics.median(abs(x) for x in d):.0f} % | {statistics.median(d):+.0f} % | "
                       f"{sum(inside):.0f}/{len(inside)} | {statistics.median(abs(x) for x in p):.0f} % | {statistics.median(p):+.0f} % | "
                       f"{sum(p_inside):.0f}/{len(p_inside)} | "
                       + (f"{statistics.median(r):+.0f} % |" if r else "– |"))
    text = "\n".join([
        "# Other runtimes on a profiled x86 CPU: ONNX Runtime GenAI and MNN twins against the engine",
        "",
        f"Command: `python benchmarks/runtime_cpu_speed.py` (re-reads `benchmarks/results/{RUNTIME_RUNS}` and "
        f"`{LLAMA_RUNS}`; how they were measured: the script's docstring). Machine: the 2-core EPYC VM on a Zen 3 host "
        "(AVX2 only; `benchmarks/reference_devices/ref-epyc-zen3-vm-2c.toml`: 23.6 GB/s, one thread 15.8, 146 GFLOPS FP32). "
        "Each run is predicted for that profile with the runtime × format the run used, at its workload (128-token prompt, "
        "64 tokens generated, the twin's KV length; llama.cpp: 256/64, 1 or 2 threads). ONNX Runtime GenAI and MNN have no "
        "published CPU row: both take llama.cpp's cpu-x86 factors, their bands twice as wide — so every figure here is held out. "
        "Runs stored as noisy (repeats disagree) are listed and left out of the medians. Peak RSS: the whole process "
        "(Python and the runtime's libraries included) against the engine's total, as `advisor validate --runtime` sets them; "
        "llama.cpp's runs are not in-sample-free: this machine is one of the six whose median set "
        "speed.MEASURED_BW_EFFICIENCY and one of the five whose median set the cpu-x86 prefill efficiency (2026-12-03).",
        "",
        *summary,
        "",
        "| runtime | run | status | decode measured | decode predicted (band) | error | inside | prefill measured | prefill predicted (band) "
        "| error | inside | peak RSS error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    out = RESULTS / "runtime_cpu_speed.md"
    out.write_text(text)
    print(text)
    assert runtime_runs and llama_runs
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

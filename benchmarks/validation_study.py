"""Predicted vs measured on this machine, before and after calibration (issue: measure for real).

Validates catalog models spanning 0.1B–3B at several quantization types through llama.cpp
(synthetic twins: exact architecture, random weights), then fits this machine's calibration on a
training split and reports the held-out error. Run it on a quiet machine: llama.cpp's threads spin
when cores are shared, and the script records the load average beside each run.

    python benchmarks/validation_study.py            # ~20–30 min on 2 cores the first time (twins cached after)
    python benchmarks/validation_study.py --report   # only re-fit and re-write the report from the stored runs
    python benchmarks/validation_study.py --from-json  # the same from results/validation_runs.json (the stored runs as
                                                       # `advisor runs export` wrote them) and the study machine's profile
                                                       # (reference_devices/ref-study-vm-epyc.toml): on any machine
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

os.environ.setdefault("ADVISOR_HOME", str(HERE / ".cache" / "study-home"))
os.environ.setdefault("ADVISOR_TWIN_CACHE", str(HERE / ".cache" / "twins"))

from advisor.calibrate_from_runs import observations_from_run, run_calibration  # noqa: E402
from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.calibrate import predict  # noqa: E402
from advisor.engine.evaluate import evaluate, for_measured_bandwidth  # noqa: E402
from advisor.engine.speed import execution_path  # noqa: E402
from advisor.errors import AdvisorError  # noqa: E402
from advisor.local import local_profile, local_profile_path, run_profile  # noqa: E402
from advisor.records import DeviceProfile, Workload  # noqa: E402
from advisor.store import NO_REPACK_WEIGHT_PATH, Run, list_runs  # noqa: E402
from advisor.units import GIB, MIB  # noqa: E402
from advisor.validate.predicted_vs_measured import run_validation  # noqa: E402
from measured import mdape, study_runs  # noqa: E402

#: (model, quant, split): the test split holds out one whole model and one quant type of others.
PLAN = [
    ("smollm2-135m-instruct", "Q8_0", "train"), ("smollm2-135m-instruct", "Q4_K_M", "train"), ("smollm2-135m-instruct", "Q4_0", "test"),
    ("qwen2.5-0.5b-instruct", "Q8_0", "train"), ("qwen2.5-0.5b-instruct", "Q4_K_M", "test"), ("qwen2.5-0.5b-instruct", "Q4_0", "train"),
    ("llama-3.2-1b-instruct", "Q8_0", "train"), ("llama-3.2-1b-instruct", "Q4_K_M", "train"), ("llama-3.2-1b-instruct", "Q4_0", "test"),
    ("qwen2.5-1.5b-instruct", "Q8_0", "test"), ("qwen2.5-1.5b-instruct", "Q4_K_M", "test"),
    ("llama-3.2-3b-instruct", "Q4_K_M", "train"), ("llama-3.2-3b-instruct", "Q4_0", "test"),
]
SETTINGS = dict(context=2048, prompt_tokens=256, output_tokens=64, repeats=3)


def run_all() -> None:
    if not local_profile_path().exists():
        print("profiling this machine ...", flush=True)
        run_profile(seconds=4)
    device = local_profile()
    for model, quant, split in PLAN:
        load = os.getloadavg()[0]
        t = time.time()
        try:
            r = run_validation(model, quant, device=device, progress=lambda m: print("   ", m, flush=True), **SETTINGS)
            d = {c.name: c for c in r.comparisons}
            print(f"{model} {quant} [{split}] run {r.run_id}: decode {d['decode'].measured:.1f} tok/s "
                  f"(pred {d['decode'].predicted:.1f}), prefill {d['prefill'].measured:.1f} (pred {d['prefill'].predicted:.1f}), "
                  f"load avg before {load:.2f}, {time.time() - t:.0f} s", flush=True)
        except AdvisorError as exc:
            print(f"{model} {quant}: {exc}", flush=True)


def pct(p: float, m: float) -> float:
    return (p - m) / m * 100


def repacked_now(run: Run, device: DeviceProfile, catalog) -> int:
    """The engine's repacked copy for a stored run that predates the prediction: the run's model and
    quant on ``device`` with the run's settings (no copy where the run had repacking off)."""
    s = run.settings
    workload = Workload(context_tokens=s["n_ctx"], prompt_tokens=s["prompt_tokens"], output_tokens=s["output_tokens"],
                        threads=s["threads"], cpu_repack=run.weight_path != NO_REPACK_WEIGHT_PATH)
    est = evaluate(catalog.model(run.model_id), catalog.file_types[run.quant], device, workload, catalog, with_speed=False)
    return est.memory.repacked_bytes


def report(stored: tuple[list[Run], DeviceProfile] | None = None) -> str:
    """The report of the stored runs on this machine's profile, or of ``stored`` (runs, profile)."""
    catalog = load_catalog()
    runs = [r for r in (stored[0] if stored else list_runs()) if r.status == "ok" and r.source == "validate"]
    latest = {}
    for r in runs:
        latest[(r.model_id, r.quant)] = r
    split = {(m, q): s for m, q, s in PLAN}
    rows = [(split.get(k, "train"), r) for k, r in sorted(latest.items(), key=lambda kv: kv[1].id)]
    if not rows:
        raise SystemExit("no successful validation runs stored; run without --report first")
    device = stored[1] if stored else local_profile()
    path = execution_path(device)
    prior = for_measured_bandwidth(device, catalog.calibration[path])  # the shipped factors as the engine applies them here
    # the device calibration `advisor calibrate` stores from the training runs (its decision included:
    # a metric whose held-out error the fit raises keeps the shipped factors)
    dev = device_calibration([r for s, r in rows if s == "train"], catalog)
    fitted = dev.factors if dev.applied else prior

    mem_lines = ["| model | quant | weights: GGUF tensors | error | repacked copy (CPU_REPACK) | predicted | error | llama.cpp model buffers | "
                 "predicted (weights + copy) | error | KV buffer | error | compute buffer | error | peak RSS | predicted total + copy | error |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    speed_lines = ["| model | quant | split | decode measured | before calibration | error | after | error | prefill measured | before | error | after | error |",
                   "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    errs: dict[str, list[float]] = {k: [] for k in ("w", "rep", "buf", "kv", "cb", "rss", "d_before_test", "d_after_test", "p_before_test", "p_after_test",
                                                    "d_before_all", "p_before_all")}
    for s, r in rows:
        m, p = r.measured, r.predicted

        def e(pred: float | None, meas: float | None) -> str:
            return "-" if not pred or not meas else f"{pct(pred, meas):+.1f}%"

        # the copy llama.cpp makes of the matrices it repacks (runs stored before the engine predicted it: predicted now)
        copy = p["repacked_bytes"] if "repacked_bytes" in p else repacked_now(r, device, catalog)
        mem_lines.append(
            f"| {r.model_id} | {r.quant} | {m.get('gguf_tensor_bytes', 0) / MIB:.1f} MiB | {e(p['weights_bytes'], m.get('gguf_tensor_bytes'))} | "
            f"{m.get('extra_model_buffer_bytes', 0) / MIB:.1f} MiB | {copy / MIB:.1f} MiB | "
            f"{e(copy, m.get('extra_model_buffer_bytes')) if copy or m.get('extra_model_buffer_bytes') else 'none'} | "
            f"{m.get('model_buffer_bytes', 0) / MIB:.1f} MiB | {(p['weights_bytes'] + copy) / MIB:.1f} MiB | "
            f"{e(p['weights_bytes'] + copy, m.get('model_buffer_bytes'))} | "
            f"{m.get('kv_buffer_bytes', 0) / MIB:.1f} MiB | {e(p['kv_cache_bytes'], m.get('kv_buffer_bytes'))} | "
            f"{m.get('compute_buffer_bytes', 0) / MIB:.1f} MiB | {e(p['compute_buffer_bytes'], m.get('compute_buffer_bytes'))} | "
            f"{m.get('peak_rss_bytes', 0) / GIB:.2f} GiB | {(p['total_bytes'] + copy) / GIB:.2f} GiB | "
            f"{e(p['total_bytes'] + copy, m.get('peak_rss_bytes'))} |"
        )
        for key, pred, meas in (("w", p["weights_bytes"], m.get("gguf_tensor_bytes")),
                                ("rep", copy, m.get("extra_model_buffer_bytes")),
                                ("buf", p["weights_bytes"] + copy, m.get("model_buffer_bytes")),
                                ("kv", p["kv_cache_bytes"], m.get("kv_buffer_bytes")),
                                ("cb", p["compute_buffer_bytes"], m.get("compute_buffer_bytes")),
                                ("rss", p["total_bytes"] + copy, m.get("peak_rss_bytes"))):
            if meas:
                errs[key].append(abs(pct(pred, meas)))
        obs = {o.metric: o for o in observations_from_run(r, catalog)}
        cells = []
        for metric in ("decode", "prefill"):
            o = obs[metric]
            before, after = predict(o, prior, catalog.ggml_types), predict(o, fitted, catalog.ggml_types)
            cells.append(f"{o.value:.1f} | {before:.1f} | {pct(before, o.value):+.0f}% | {after:.1f} | {pct(after, o.value):+.0f}%")
            errs[f"{metric[0]}_before_all"].append(abs(pct(before, o.value)))
            if s == "test":
                errs[f"{metric[0]}_before_test"].append(abs(pct(before, o.value)))
                errs[f"{metric[0]}_after_test"].append(abs(pct(after, o.value)))
        speed_lines.append(f"| {r.model_id} | {r.quant} | {s} | {cells[0]} | {cells[1]} |")

    def md(key: str) -> str:
        return f"{statistics.median(errs[key]):.1f}%" if errs[key] else "n/a"

    # held out for prefill: the median of the other x86 machines' efficiencies (benchmarks/cpu_prefill_x86.py)
    from cpu_prefill_x86 import MACHINES, fitted_efficiency, study_vm

    others = [load for load in MACHINES.values() if load is not study_vm]
    other_eff = statistics.median(fitted_efficiency(load(catalog), catalog.calibration["cpu-x86"], catalog.ggml_types) for load in others)
    other = prior.model_copy(update={"prefill_efficiency": other_eff})
    prefill_obs = [o for _, r in rows for o in observations_from_run(r, catalog) if o.metric == "prefill"]
    other_mdape = mdape(prefill_obs, other, catalog.ggml_types)
    machine = f"{device.cpu.name}, {device.cpu.cores} cores, {device.memory.bandwidth_gbs:g} GB/s measured, LLC {device.memory.llc / MIB if device.memory.llc else 0:.0f} MiB"
    llama_version = rows[-1][1].llama_cpp_version
    return "\n".join([
        "# Validation on this machine: predicted vs measured, before and after calibration",
        "",
        f"Command: `python benchmarks/validation_study.py` (re-rendered from the stored runs: `--from-json`). Machine: {machine} "
        f"({device.os if stored else platform.platform()}); llama-cpp-python {llama_version}.",
        f"Workload: context {SETTINGS['context']}, prompt {SETTINGS['prompt_tokens']} tokens, {SETTINGS['output_tokens']} generated, "
        f"median of {SETTINGS['repeats']} repeats after a warm-up, threads = physical cores. Weights are synthetic twins (exact architecture, random "
        "weights, quantized by llama.cpp's own quantizer). Where llama.cpp crashed in its CPU weight-repack path the run was retried with "
        "use_extra_bufts = False and recorded as such.",
        "",
        "## Memory (median absolute error)",
        "",
        f"weights vs GGUF tensor data {md('w')} · repacked copy vs llama.cpp's CPU_REPACK buffer {md('rep')} "
        f"({len(errs['rep'])} runs with one) · model buffers {md('buf')} · KV cache vs llama.cpp's KV buffer {md('kv')} · "
        f"compute buffer vs llama.cpp's {md('cb')} · predicted total + copy vs peak RSS {md('rss')}",
        "",
        "llama.cpp copies the matrices its CPU kernels repack (here Q4_0, Q4_K and Q2_K; Q8_0, Q6_K and Q5_0 are not "
        "repacked on x86) into a CPU_REPACK buffer at load, while the memory-mapped file's pages of the same matrices, read "
        "once at load, stay mapped: its model buffers and the process's resident set count those weights twice. The "
        "engine predicts the copy (`MemoryEstimate.repacked_bytes`, speed.is_repacked; "
        "benchmarks/results/repack_buffers.md checks it on more architectures) and keeps it out of the total, which "
        "counts the weights once: the file's dead pages are clean and the OS reclaims them under pressure. The total "
        "is the full commitment at the configured context (the whole KV cache and the logits buffer llama.cpp allocates "
        "up front), which is what must be free for the run to be safe. Peak RSS of these short runs (256 + 64 tokens of "
        "a 2,048 context) is lower than the total + copy because allocated-but-untouched pages do not count: the larger "
        "the model, the closer the two. Peak RSS is the child process's own high-water mark (reset with "
        "/proc/self/clear_refs), Python and llama-cpp-python included.",
        "",
        *mem_lines,
        "",
        "## Speed",
        "",
        f"Calibration: `{path}` path factors fitted on the {sum(1 for s, _ in rows if s == 'train')} training runs "
        f"(bw efficiency {prior.bw_efficiency:.3f} → {fitted.bw_efficiency:.3f}, fixed {prior.fixed_s_per_layer * 1e6:.0f} → "
        f"{fitted.fixed_s_per_layer * 1e6:.0f} µs/layer, prefill efficiency {prior.prefill_efficiency:.3f} → {fitted.prefill_efficiency:.3f}, "
        f"decode compute efficiency {prior.decode_compute_efficiency:.3f} → {fitted.decode_compute_efficiency:.3f}, "
        f"prefill factor of K-quants vs legacy types {prior.prefill_kquant_factor:.2f} → {fitted.prefill_kquant_factor:.2f}; "
        f"calibrate's decision: {dev.decision}).",
        "",
        f"Held-out runs (test split), median absolute error: decode {md('d_before_test')} before → **{md('d_after_test')}** after; "
        f"prefill {md('p_before_test')} before → **{md('p_after_test')}** after. All runs before calibration (shipped defaults): "
        f"decode {md('d_before_all')}, prefill {md('p_before_all')}. The shipped cpu-x86 prefill efficiency is the median of "
        f"{len(MACHINES)} x86 machines' fits, this machine's among them (benchmarks/results/cpu_prefill_x86.md), so the 'before' "
        f"prefill column is not quite held out; predicted with the median of the other {len(others)} machines' fits "
        f"({other_eff:.2f}), these runs' prompts are off by {other_mdape:.0f} % (MdAPE).",
        "",
        *speed_lines,
        "",
        "## Bands of a calibration, held out",
        "",
        "Each run predicted by the device calibration `advisor calibrate` makes from the other runs (its band: the "
        "conformal quantile of their leave-one-run-out errors), and each run's one-run calibration predicting the other "
        "runs (too few runs held out to promise a coverage: the shipped band). An 80 % band should hold ~80 %.",
        "",
        *band_check([r for _, r in rows], catalog),
        "",
    ])


def device_calibration(runs: list, catalog):
    """The device calibration `advisor calibrate` makes from ``runs`` (run_calibration's summary,
    its decision included), against the shipped factors: no stored calibration, nothing stored."""
    (dev,) = [g for g in run_calibration(runs=runs, catalog=catalog, db=_NOWHERE, dry_run=True).groups if g.scope == "device"]
    return dev


#: a store that does not exist: no stored calibration, so the shipped factors are "before"
_NOWHERE = Path(tempfile.mkdtemp()) / "none.db"


def band_check(runs: list, catalog) -> list[str]:
    """Do a calibration's bands hold its device's next run? Each run predicted by `advisor
    calibrate`'s device calibration (run_calibration, as stored) fitted on the other runs — and
    by each one-run calibration — and whether it falls inside the calibration's band."""

    def device_factors(train: list):
        dev = device_calibration(train, catalog)
        return dev.factors if dev.applied else None

    lines = ["| calibration | metric | held-out predictions | inside the band | median band | median |error| |", "|---|---|---|---|---|---|"]
    for label, cases in (("all other runs (12)", [([o for o in runs if o is not r], [r]) for r in runs]),
                         ("one run", [([r], [o for o in runs if o is not r]) for r in runs])):
        got: dict[str, list[tuple[bool, float, float]]] = {"decode": [], "prefill": []}
        for train, test in cases:
            f = device_factors(train)
            if f is None:
                continue
            for r in test:
                for o in observations_from_run(r, catalog):
                    pred = predict(o, f, catalog.ggml_types)
                    band = getattr(f, f"{o.metric}_band")
                    got[o.metric].append((pred / (1 + band) <= o.value <= pred * (1 + band), band, abs(pct(pred, o.value))))
        for metric, rows in got.items():
            if rows:
                lines.append(f"| {label} | {metric} | {len(rows)} | {sum(i for i, _, _ in rows) / len(rows):.0%} | "
                             f"±{statistics.median(b for _, b, _ in rows) * 100:.0f}% | {statistics.median(e for _, _, e in rows):.0f}% |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", action="store_true", help="only re-write the report from stored runs")
    ap.add_argument("--from-json", action="store_true", help="only re-write the report from results/validation_runs.json")
    args = ap.parse_args()
    if not (args.report or args.from_json):
        run_all()
    text = report(study_runs() if args.from_json else None)
    out = HERE / "results" / "validation.md"
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

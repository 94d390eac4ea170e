"""llama.cpp's CUDA path on a lent data-centre GPU (an H200), measured on synthetic twins, against
the engine's prediction for that GPU. The machine is lent to some sessions only (the `device`
tool); nothing here runs in the tests.

    # here: stage the source and wheels (ignored folder .devcheck, see benchmarks/cuda_device.sh)
    # there: bash benchmarks/cuda_device.sh            (builds llama.cpp with CUDA, twins, llama-bench)
    python benchmarks/cuda_device.py build DIR          # F16 twins of MODELS (run there by the script)
    python benchmarks/cuda_device.py compare cuda|cpu|threads [--write]   # here: measured vs predicted
    python benchmarks/cuda_device.py fit                # here: the cuda prior's per-layer cost
    python benchmarks/cuda_device.py fit-prefill        # here: the cuda prior's per-layer cost in a prompt

The GPU is not an edge device, so it is not in profiles/: its profile is
benchmarks/reference_devices/ref-h200-141gb.toml (datasheet figures). What it checks: the
`cuda` path's factors, fitted on RTX 3070/4080 rows of 7-8B models, on a GPU 5× faster in memory —
where small models are bound by the fixed per-layer cost, not by bandwidth. The CPU runs are a
held-out check, in no fit. The GPU's decode runs set one number: the `cuda` prior's per-layer cost
(benchmarks/priors.toml; `fit`), which the published 7-8B rows cannot tell from bandwidth; the
published fit starts from it, so the GPU page checks that fit on its own evidence, not held out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MODELS = ("smollm2-135m-instruct", "qwen2.5-0.5b-instruct", "llama-3.2-1b-instruct", "qwen2.5-1.5b-instruct",
          "llama-3.2-3b-instruct")


def build(out: Path, models: list[str] | None = None) -> None:
    from advisor.catalog import load_catalog
    from advisor.validate.twin import write_f16_gguf

    catalog = load_catalog()
    out.mkdir(parents=True, exist_ok=True)
    for model_id in models or MODELS:
        path = out / f"{model_id}-F16.gguf"
        write_f16_gguf(catalog.model(model_id), path)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB)", flush=True)


#: The runs of each script, the profile they are predicted with, and the results page.
RUNS = {
    "cuda": ("cuda_h200_bench.jsonl", "ref-h200-141gb.toml", "cuda_h200.md", "benchmarks/cuda_device.sh"),
    "cpu": ("cpu_h200host_bench.jsonl", "ref-h200-host-cpu.toml", "cpu_h200host.md", "benchmarks/cpu_device.sh"),
    "threads": ("cpu_h200host_threads.jsonl", "ref-h200-host-cpu.toml", "cpu_h200host_threads.md",
                "benchmarks/cpu_threads_device.sh"),
}


def bench_rows(name: str) -> list[dict]:
    """The llama-bench JSON rows of results/NAME (one object a line; other lines ignored)."""
    return [json.loads(line) for line in (HERE / "results" / name).read_text().splitlines() if line.strip().startswith("{")]


def median_ts(r: dict) -> float:
    """A llama-bench row's tokens/s: the median of its repetitions (``samples_ts``), else its mean.
    On the GPU the first repetition also captures the CUDA graph (the H200's prompts: 11.7 ms then
    6.5 and 6.4 ms for Llama-3.2-1B F16), so the mean (``avg_ts``) is not what a running app sees."""
    samples = r.get("samples_ts") or []
    return float(statistics.median(samples)) if samples else float(r["avg_ts"])


def bench_case(r: dict, catalog):
    """(model id, file type, metric, workload) of one llama-bench row of these scripts: the twin's
    file is named <model id>-<file type>.gguf, as build() and the scripts name it; threads count on
    a CPU-only run."""
    from advisor.records import Workload

    model_id, quant = Path(r["model_filename"]).name.removesuffix(".gguf").rsplit("-", 1)
    threads = int(r["n_threads"]) if r.get("n_gpu_layers", 99) == 0 else None
    if r["n_gen"] > 0:
        return model_id, quant, "decode", Workload(context_tokens=4096, prompt_tokens=1, output_tokens=int(r["n_gen"]), threads=threads)
    return model_id, quant, "prefill", Workload(context_tokens=4096, prompt_tokens=int(r["n_prompt"]), output_tokens=1, threads=threads)


def decode_observations(name: str, device, catalog) -> list:
    """The decode runs of results/NAME as calibration observations on ``device``, labelled
    "<model id> <file type>" (and "<n>t" on a CPU-only run)."""
    from advisor.engine.calibrate import Observation

    out = []
    for r in bench_rows(name):
        model_id, quant, metric, w = bench_case(r, catalog)
        if metric == "decode":
            label = f"{model_id} {quant}" + (f" {r['n_threads']}t" if w.threads else "")
            out.append(Observation(catalog.model(model_id), catalog.file_type(quant), device, w, "decode", median_ts(r), label=label))
    return out


def compare(kind: str, write: bool) -> None:
    from advisor.api import load_device_file
    from advisor.catalog import load_catalog
    from advisor.engine.evaluate import evaluate

    bench_name, device_name, page, script = RUNS[kind]
    catalog = load_catalog()
    device = load_device_file(HERE / "reference_devices" / device_name)
    rows = bench_rows(bench_name)
    lines = ["| model | file | test | threads | measured tok/s (repetitions) | predicted tok/s (80 % band) | error | in band |",
             "|---|---|---|---|---|---|---|---|"]
    errors: dict[str, list[float]] = {"decode": [], "prefill": []}
    inside: dict[str, list[bool]] = {"decode": [], "prefill": []}
    for r in rows:
        model_id, quant, metric, w = bench_case(r, catalog)
        model, ftype = catalog.model(model_id), catalog.file_type(quant)
        est = evaluate(model, ftype, device, w, catalog)
        sp = est.speed
        assert sp is not None
        pred, band = (sp.decode_tokens_per_s, sp.decode_band) if metric == "decode" else (sp.prefill_tokens_per_s, sp.prefill_band)
        measured = median_ts(r)
        err = pred / measured - 1
        errors[metric].append(abs(err))
        inside[metric].append(band.low <= measured <= band.high)
        lines.append(f"| {model_id} | {quant} | {metric} | {r['n_threads'] if w.threads else '–'} | {measured:.1f} ({_spread(r)}) | "
                     f"{pred:.1f} ({band.low:.1f}–{band.high:.1f}) | {err:+.0%} | {'yes' if inside[metric][-1] else 'no'} |")
    summary = [f"- {m}: median |error| {statistics.median(e):.0%} over {len(e)} runs; {sum(inside[m])} of {len(e)} inside the band"
               for m, e in errors.items() if e]
    text = "\n".join(lines + [""] + summary) + "\n"
    print(text)
    if write:
        on = rows[0].get("gpu_info") if kind == "cuda" else rows[0].get("cpu_info")
        head = (f"# llama.cpp {'CPU' if kind == 'threads' else kind.upper()} on {on} (lent machine): synthetic twins against the engine's prediction\n\n"
                "llama-bench of the llama.cpp that llama-cpp-python 0.3.36 vendors (commit 0c1e570, as in "
                "tests/data/llama-bench; the runs' `build_commit` field names this repository's commit instead: the "
                "source was built outside llama.cpp's own git tree), "
                f"run by `{script}`; predicted with `benchmarks/reference_devices/{device_name}` "
                f"(`python benchmarks/cuda_device.py compare {kind} --write`). "
                "Measured: the median of llama-bench's repetitions (listed; on the GPU the first also captures the CUDA graph). "
                + ("The decode runs set the cuda prior's per-layer cost (benchmarks/priors.toml, "
                   "`python benchmarks/cuda_device.py fit`), the prefill runs its per-layer cost in a prompt "
                   "(`python benchmarks/cuda_device.py fit-prefill`), so neither is held out; the GPU's own share of its "
                   "FP16 peak, which the prefill runs also fit, is not carried over (the path's comes from the RTX rows).\n\n"
                   if kind == "cuda" else "These runs are in no fit.\n\n"))
        (HERE / "results" / page).write_text(head + text)


def _spread(r: dict) -> str:
    samples = r.get("samples_ts") or []
    return ", ".join(f"{v:.1f}" for v in samples) if samples else f"± {float(r.get('stddev_ts', 0)):.1f}"


#: the cuda prior's per-layer cost before these runs replaced it (a guess), where the fit starts
FIRST_GUESS_S_PER_LAYER = 8e-6


def _print_fit(obs: list, factors, catalog) -> None:
    """Each run against ``factors`` and the median error."""
    from advisor.engine.calibrate import predict

    errors = []
    for o in obs:
        pred = predict(o, factors, catalog.ggml_types)
        errors.append(abs(pred / o.value - 1))
        print(f"  {o.label}: measured {o.value:.1f}, fitted {pred:.1f} ({pred / o.value - 1:+.0%})")
    print(f"median |error| {statistics.median(errors):.0%}")


def fit_fixed_cost() -> None:
    """Fit the cuda path's bandwidth efficiency and per-layer cost to the GPU's decode runs, from
    the first guess (the other factors: benchmarks/priors.toml), and print the fit and each run."""
    import published
    from advisor.api import load_device_file
    from advisor.catalog import load_catalog
    from advisor.engine.calibrate import fit

    catalog = load_catalog()
    bench_name, device_name, _, _ = RUNS["cuda"]
    obs = decode_observations(bench_name, load_device_file(HERE / "reference_devices" / device_name), catalog)
    prior = published.load_priors()["cuda"].model_copy(update={"fixed_s_per_layer": FIRST_GUESS_S_PER_LAYER})
    result = fit(obs, prior, catalog.ggml_types, params=("bw_efficiency", "fixed_s_per_layer"),
                 loss=published.PUBLISHED_LOSS)
    f = result.factors
    print(f"{len(obs)} decode runs: bw_efficiency {f.bw_efficiency:.2f}, fixed_s_per_layer {f.fixed_s_per_layer * 1e6:.1f} us "
          f"(log-rmse {result.log_rmse:.3f})")
    _print_fit(obs, f, catalog)


def fit_prefill_cost() -> None:
    """Fit the GPU's prefill runs with the cuda prior's factors but three: the prompt's per-layer
    cost (``prefill_fixed_s_per_layer``), this GPU's share of its FP16 peak (``prefill_efficiency``)
    and F16 weights' rate against quantized ones (``prefill_float_factor``), and print the fit and
    each run. Only the per-layer cost goes into benchmarks/priors.toml: the other two are this
    GPU's (0.12 of an H200's 989 TFLOPS against 0.64 of an RTX 4080's and 3070's peaks, fitted on
    their published rows), not the path's."""
    import published
    from advisor.api import load_device_file
    from advisor.catalog import load_catalog
    from advisor.engine.calibrate import Observation, fit

    catalog = load_catalog()
    bench_name, device_name, _, _ = RUNS["cuda"]
    device = load_device_file(HERE / "reference_devices" / device_name)
    obs = []
    for r in bench_rows(bench_name):
        model_id, quant, metric, w = bench_case(r, catalog)
        if metric == "prefill":
            obs.append(Observation(catalog.model(model_id), catalog.file_type(quant), device, w, "prefill", median_ts(r),
                                   label=f"{model_id} {quant}"))
    prior = published.load_priors()["cuda"]
    params = ("prefill_fixed_s_per_layer", "prefill_efficiency", "prefill_float_factor")
    result = fit(obs, prior, catalog.ggml_types, params=params, prior_log_sd=10.0, loss=published.PUBLISHED_LOSS)
    f = result.factors
    print(f"{len(obs)} prefill runs: prefill_fixed_s_per_layer {f.prefill_fixed_s_per_layer * 1e6:.1f} us, "
          f"prefill_efficiency {f.prefill_efficiency:.3f}, prefill_float_factor {f.prefill_float_factor:.2f} "
          f"(log-rmse {result.log_rmse:.3f})")
    _print_fit(obs, f, catalog)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    b.add_argument("--models", nargs="*", help=f"catalog model ids (default: {', '.join(MODELS)})")
    c = sub.add_parser("compare")
    c.add_argument("kind", choices=sorted(RUNS))
    c.add_argument("--write", action="store_true")
    sub.add_parser("fit")
    sub.add_parser("fit-prefill")
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.out, args.models)
    elif args.cmd == "fit":
        fit_fixed_cost()
    elif args.cmd == "fit-prefill":
        fit_prefill_cost()
    else:
        compare(args.kind, args.write)


if __name__ == "__main__":
    main()

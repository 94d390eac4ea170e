"""Mixture-of-experts speed: predictions vs the published llama.cpp MoE rows, with the prediction
for a dense model of the same file size (every weight read per token) beside it; expert offload
to host RAM (--n-cpu-moe / --cpu-moe) vs its published rows; and the fit of the expert-GEMM
prefill efficiency (``empirical.EXPERT_GEMM_EFFICIENCY_GPU``).

Rows: shared/reference/runtime-measurements.csv. Shipped calibration, no refit of the path
factors. Writes results/moe_speed.md.

    python benchmarks/moe_speed.py
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine import empirical  # noqa: E402
from advisor.engine.evaluate import estimate_speed, evaluate, factors_for  # noqa: E402
from advisor.records import Workload  # noqa: E402

REFERENCE = HERE.parent.parent / "shared" / "reference" / "runtime-measurements.csv"
MODELS = {"OLMoE-1B-7B-0924": "olmoe-1b-7b-0924-instruct", "Qwen3-30B-A3B": "qwen3-30b-a3b"}
DEVICES = {"Raspberry Pi 5 8GB": "raspberry-pi-5-8gb"}
QUANTS = {"Q4_0_4_4": "Q4_0", "Q8_0": "Q8_0", "Q4_K_M": "Q4_K_M"}  # Q4_0_4_4 = Q4_0 repacked for ARM

#: Same machine, same build, same settings (llama.cpp PR 15616, Mac Studio M2 Ultra, llama-bench,
#: n_ubatch 2048, flash attention on, Q8_0): MoE Qwen3-Coder-30B-A3B vs dense Qwen2.5-Coder-7B
#: (same architecture as the catalog's qwen2.5-7b-instruct). prompt tokens → (MoE, dense) tok/s.
M2_ULTRA_PP = {512: (2045.19, 1419.54), 2048: (2272.56, 1470.14), 16384: (1022.81, 1037.44)}
#: A Metal profile to run the ratio on (the ratio of two compute-bound prefills does not depend on
#: the device's figures, only on the path's factors; no M2 Ultra profile ships).
METAL_DEVICE = "macbook-pro-14-m3-max-64gb"
#: Same leaderboard, same board, same file type (edge-llm-leaderboard Pi 5 CSV, Q8_0, pp512):
#: MoE OLMoE-1B-7B vs dense Qwen2.5-1.5B.
PI5_Q8_PAIR = (("olmoe-1b-7b-0924-instruct", 26.9), ("qwen2.5-1.5b-instruct", 21.9))


def _reference() -> Path:
    reference = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE
    return reference if reference.is_file() else Path("/work/shared/reference/runtime-measurements.csv")


def published_rows(catalog, lines: list[str]) -> dict[str, list[float]]:
    lines += ["## Published MoE rows on catalog devices", "",
              "| device | model | quant | metric | measured | predicted (MoE) | error | dense of the same file | error |",
              "|---|---|---|---|---|---|---|---|---|"]
    errors: dict[str, list[float]] = {"moe": [], "dense": []}
    with open(_reference(), newline="") as fh:
        for row in csv.DictReader(fh):
            model_id = next((v for k, v in MODELS.items() if row["model"].startswith(k)), None)
            device_id = DEVICES.get(row["device"])
            quant = QUANTS.get(row["format"])
            if row["runtime"] != "llama.cpp" or not (model_id and device_id and quant) or row["metric"] not in ("tg_tok_s", "pp_tok_s"):
                continue
            model, device, ftype = catalog.model(model_id), catalog.device(device_id), catalog.file_type(quant)
            threads = int(row["threads"]) if row["threads"] else None
            prompt = int(row["prompt_tokens"] or 512) if row["metric"] == "pp_tok_s" else 1
            output = int(row["output_tokens"] or 128) if row["metric"] == "tg_tok_s" else 1
            # the Q4_0_4_4 files are Q4_0 in the layout llama.cpp now repacks Q4_0 into; the 2024 build
            # of these rows did not repack Q8_0
            w = Workload(context_tokens=max(512, prompt + output), prompt_tokens=prompt, output_tokens=output, threads=threads,
                         cpu_repack=row["format"].startswith("Q4_0_4_"))
            # the same file read as if dense: every expert streamed per token
            dense = model.model_copy(update={"n_experts_used": model.n_experts})
            figures = []
            for m in (model, dense):
                sp = evaluate(m, ftype, device, w, catalog).speed
                assert sp is not None
                figures.append(sp.decode_tokens_per_s if row["metric"] == "tg_tok_s" else sp.prefill_tokens_per_s)
            measured = float(row["value"])
            e_moe, e_dense = (abs(f - measured) / measured * 100 for f in figures)
            errors["moe"].append(e_moe)
            errors["dense"].append(e_dense)
            lines.append(f"| {device_id} | {model_id} | {quant} | {row['metric']} | {measured:g} | {figures[0]:.1f} | "
                         f"{e_moe:.0f} % | {figures[1]:.1f} | {e_dense:.0f} % |")
    # a dense row of the same board, file type and leaderboard: the Q8_0 prefill gap is not MoE's
    device = catalog.device("raspberry-pi-5-8gb")
    w = Workload(context_tokens=1024, prompt_tokens=512, output_tokens=1, threads=4, cpu_repack=False)
    pred = {m: estimate_speed(catalog.model(m), catalog.file_type("Q8_0"), catalog.ggml_types, device, w,
                              factors_for(device, catalog)).prefill_tokens_per_s for m, _ in PI5_Q8_PAIR}
    (moe, moe_meas), (dns, dns_meas) = PI5_Q8_PAIR
    # a catalog device whose row names no file type: shown at the two likely ones, not scored
    m3max = catalog.device("macbook-pro-14-m3-max-64gb")
    w = Workload(context_tokens=2048, prompt_tokens=680, output_tokens=128)
    tg = {q: evaluate(catalog.model("qwen3-30b-a3b"), catalog.file_type(q), m3max, w, catalog).speed for q in ("Q4_K_M", "Q8_0")}
    lines += ["", ("Not scored (file type not stated): MacBook Pro M3 Max 64GB, Qwen3-30B-A3B, llama.cpp b5215 Metal, tg 57.26 "
                   f"tok/s (mlx-lm issue 92); predicted {tg['Q4_K_M'].decode_tokens_per_s:.1f} at Q4_K_M, "
                   f"{tg['Q8_0'].decode_tokens_per_s:.1f} at Q8_0.")]
    lines += ["", (f"Dense row of the same leaderboard, board and file type: {dns} Q8_0 pp512 measured {dns_meas:g}, "
                  f"predicted {pred[dns]:.1f} (measured/predicted {dns_meas / pred[dns]:.3f}); {moe} Q8_0: "
                  f"{moe_meas / pred[moe]:.3f}. The MoE/dense ratio of the two, {moe_meas / pred[moe] / (dns_meas / pred[dns]):.3f}, "
                  "is the CPU expert-GEMM efficiency at 64 rows per expert: the Q8_0 prefill gap is the dense CPU "
                  "Q8_0 term's, not the experts'."),
              "DeepSeek-V2-Lite Q4_0 (8.9 GB) on the 8 GB board is left out: it does not fit, the run pages from storage."]
    return errors


def _prefill_ratio(catalog, prompt: int, efficiency: float) -> float:
    """Predicted MoE/dense prefill ratio on the Metal path for one M2 Ultra row."""
    device = catalog.device(METAL_DEVICE)
    w = Workload(context_tokens=prompt + 1, prompt_tokens=prompt, output_tokens=1, n_ubatch=2048, flash_attn="on")
    saved = empirical.EXPERT_GEMM_EFFICIENCY_GPU
    empirical.EXPERT_GEMM_EFFICIENCY_GPU = efficiency
    try:
        moe, dense = (estimate_speed(catalog.model(m), catalog.file_type("Q8_0"), catalog.ggml_types, device, w,
                                     factors_for(device, catalog)).prefill_tokens_per_s
                      for m in ("qwen3-30b-a3b", "qwen2.5-7b-instruct"))
    finally:
        empirical.EXPERT_GEMM_EFFICIENCY_GPU = saved
    return moe / dense


def _fit(catalog, prompts: list[int]) -> float:
    """The rule: η minimising Σ (log predicted ratio − log measured ratio)² over ``prompts``
    (golden-section search on 0.05 … 1)."""
    def loss(eta: float) -> float:
        return sum((math.log(_prefill_ratio(catalog, p, eta)) - math.log(M2_ULTRA_PP[p][0] / M2_ULTRA_PP[p][1])) ** 2
                   for p in prompts)

    lo, hi = 0.05, 1.0
    g = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        lo, hi = (lo, b) if loss(a) < loss(b) else (a, hi)
    return (lo + hi) / 2


def expert_gemm_fit(catalog, lines: list[str]) -> None:
    prompts = list(M2_ULTRA_PP)
    eta = _fit(catalog, prompts)
    lines += ["", "## Expert-GEMM prefill efficiency (accelerator paths)", "",
              ("Rule: `EXPERT_GEMM_EFFICIENCY_GPU` = the η minimising the squared log error of the predicted MoE/dense "
              "prefill ratio over the M2 Ultra rows (llama.cpp PR 15616: Qwen3-Coder-30B-A3B vs Qwen2.5-Coder-7B, Q8_0, "
              f"same machine and build; ratio computed on the Metal path). Fit on all rows: **η = {eta:.3f}**. "
              "Leave-one-row-out:"), "",
              "| prompt | rows per expert | measured MoE/dense | predicted, η = 1 | error | predicted, held-out η | η (other rows) | error |",
              "|---|---|---|---|---|---|---|---|"]
    for p in prompts:
        measured = M2_ULTRA_PP[p][0] / M2_ULTRA_PP[p][1]
        held = _fit(catalog, [q for q in prompts if q != p])
        r1, rh = _prefill_ratio(catalog, p, 1.0), _prefill_ratio(catalog, p, held)
        lines.append(f"| {p} | {min(p, 2048) * 8 / 128:g} | {measured:.3f} | {r1:.3f} | {(r1 / measured - 1) * 100:+.0f} % | "
                     f"{rh:.3f} | {held:.3f} | {(rh / measured - 1) * 100:+.0f} % |")
    lines += ["", ("One device only: no other accelerator has a published MoE row beside a dense one of the same build; "
                  "the same η is applied to every llama.cpp accelerator path (assumption). The M3 Max llama.cpp row "
                  "(Qwen3-30B-A3B, quant not stated, b5215, pp680 320.66 tok/s) is 2.5-4x below the prediction with "
                  "either η and is not scored (an older Metal MUL_MAT_ID build, unknown quant).")]


def _with_gpu(device, **gpu):
    raw = device.model_dump(mode="python", by_alias=True)
    raw["gpu"] = {**raw["gpu"], **gpu}
    return type(device).model_validate(raw)


def offload_rows(catalog, lines: list[str]) -> list[float]:
    """The published expert-offload rows (decode). Devices: the RTX 3060 12GB profile as is (its
    assumed host is DDR4-3200 dual channel); the RX 7900 XT row's host is stated as DDR4-3200 dual
    channel too, so the same profile with its GPU swapped for the RX 7900 XT (20 GB, 800 GB/s,
    AMD datasheet; Vulkan)."""
    rtx3060 = catalog.device("desktop-rtx3060-12gb")
    rx7900xt = _with_gpu(rtx3060, name="AMD Radeon RX 7900 XT 20GB", backend="vulkan", fp16_tflops=103.0,
                         vram="20GiB", vram_usable="19GiB", vram_bandwidth_gbs=800.0)
    gpt_oss, mxfp4 = catalog.model("gpt-oss-20b"), catalog.file_type("MXFP4_MOE")
    rows = [  # device, label, --n-cpu-moe, measured tok/s, source
        (rtx3060, "RTX 3060 12GB", 2, 64.0, "smeltcore recipe, --n-cpu-moe 2"),
        (rx7900xt, "RX 7900 XT 20GB", 0, 94.0, "llama.cpp discussion 15396, all layers on the GPU"),
        (rx7900xt, "RX 7900 XT 20GB", gpt_oss.n_layers, 20.0, "llama.cpp discussion 15396, --cpu-moe"),
    ]
    lines += ["", "## Expert offload (--n-cpu-moe), gpt-oss-20b MXFP4_MOE, decode", "",
              "| device | --n-cpu-moe | VRAM | host RAM (experts) | measured tok/s | predicted | error | auto picks | source |",
              "|---|---|---|---|---|---|---|---|---|"]
    errors = []
    for device, label, n, measured, source in rows:
        w = Workload(context_tokens=4096, prompt_tokens=512, output_tokens=128, n_cpu_moe=n)
        e = evaluate(gpt_oss, mxfp4, device, w, catalog)
        auto = evaluate(gpt_oss, mxfp4, device, Workload(context_tokens=4096, prompt_tokens=512, output_tokens=128), catalog)
        assert e.speed is not None
        err = (e.speed.decode_tokens_per_s / measured - 1) * 100
        errors.append(abs(err))
        lines.append(f"| {label} | {n} | {e.memory.gpu_bytes / 2**30:.2f} GiB | {e.memory.cpu_moe_bytes / 2**30:.2f} GiB | "
                     f"{measured:g} | {e.speed.decode_tokens_per_s:.1f} | {err:+.0f} % | {auto.memory.n_cpu_moe} | {source} |")
    # the RTX 5070 row is a spill into Windows shared memory (ngl 99 on a 13.7 GiB file), not --n-cpu-moe
    rtx5070 = _with_gpu(rtx3060, name="NVIDIA GeForce RTX 5070 12GB", fp16_tflops=61.7, vram_bandwidth_gbs=672.0)
    e = evaluate(catalog.model("qwen3-30b-a3b"), catalog.file_type("Q3_K_M"), rtx5070,
                 Workload(context_tokens=4096, prompt_tokens=512, output_tokens=128), catalog)
    assert e.speed is not None
    lines += ["", (f"Not scored: RTX 5070 12GB, Qwen3-30B-A3B Q3_K_M, ngl 99 with the weights spilling into Windows shared "
                  f"memory (llama.cpp PR 15952 baseline: tg 11.09, pp512 378.46 tok/s). With auto expert offload the engine "
                  f"picks --n-cpu-moe {e.memory.n_cpu_moe} and predicts tg {e.speed.decode_tokens_per_s:.1f}, pp512 "
                  f"{e.speed.prefill_tokens_per_s:.0f} tok/s (profile: the RTX 3060 one with 672 GB/s VRAM); the PR's own "
                  "--n-cpu-moe rows are not in the reference CSV.")]
    return errors


def main() -> int:
    catalog = load_catalog()
    lines: list[str] = []
    errors = published_rows(catalog, lines)
    if not errors["moe"]:
        print("no MoE rows matched", file=sys.stderr)
        return 1
    lines.append(f"\nMdAPE over {len(errors['moe'])} rows: MoE-aware {statistics.median(errors['moe']):.0f} %, "
                 f"dense of the same file {statistics.median(errors['dense']):.0f} %.")
    offload = offload_rows(catalog, lines)
    lines.append(f"\nExpert offload: MdAPE {statistics.median(offload):.0f} % over {len(offload)} rows.")
    expert_gemm_fit(catalog, lines)
    text = "# MoE speed vs published llama.cpp rows\n\n" + "\n".join(lines) + "\n"
    (HERE / "results" / "moe_speed.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

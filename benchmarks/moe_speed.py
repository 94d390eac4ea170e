"""Mixture-of-experts speed: predictions vs the published llama.cpp MoE rows, with the
prediction for a dense model of the same file size (every weight read per token) beside it.

Rows: shared/reference/runtime-measurements.csv, llama.cpp rows of catalog MoE models on
catalog devices (today: OLMoE-1B-7B on a Raspberry Pi 5 8GB from the edge-llm-leaderboard CSV;
the Qwen3-30B-A3B rows are on Macs and GPUs that have no profile yet). Shipped calibration, no
refit. Writes results/moe_speed.md.

    python benchmarks/moe_speed.py
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from advisor.catalog import load_catalog  # noqa: E402
from advisor.engine.evaluate import evaluate  # noqa: E402
from advisor.records import Workload  # noqa: E402

REFERENCE = HERE.parent.parent / "shared" / "reference" / "runtime-measurements.csv"
MODELS = {"OLMoE-1B-7B-0924": "olmoe-1b-7b-0924-instruct", "Qwen3-30B-A3B": "qwen3-30b-a3b"}
DEVICES = {"Raspberry Pi 5 8GB": "raspberry-pi-5-8gb"}
QUANTS = {"Q4_0_4_4": "Q4_0", "Q8_0": "Q8_0", "Q4_K_M": "Q4_K_M"}  # Q4_0_4_4 = Q4_0 repacked for ARM


def main() -> int:
    catalog = load_catalog()
    reference = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE
    if not reference.is_file():
        reference = Path("/work/shared/reference/runtime-measurements.csv")
    lines = ["| device | model | quant | metric | measured | predicted (MoE) | error | dense of the same file | error |",
             "|---|---|---|---|---|---|---|---|---|"]
    errors: dict[str, list[float]] = {"moe": [], "dense": []}
    with open(reference, newline="") as fh:
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
            w = Workload(context_tokens=max(512, prompt + output), prompt_tokens=prompt, output_tokens=output, threads=threads)
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
    if not errors["moe"]:
        print("no MoE rows matched", file=sys.stderr)
        return 1
    summary = (f"\nMdAPE over {len(errors['moe'])} rows: MoE-aware {statistics.median(errors['moe']):.0f} %, "
               f"dense of the same file {statistics.median(errors['dense']):.0f} %.\n")
    text = "# MoE speed vs published llama.cpp rows\n\n" + "\n".join(lines) + "\n" + summary
    (HERE / "results" / "moe_speed.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

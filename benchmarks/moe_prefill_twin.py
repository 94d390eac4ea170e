"""A MoE prompt of n tokens reads the union of its tokens' experts, measured: a qwen3moe twin (8
layers, 64 experts of which 2 per token, width 1024, Q8_0, random weights: 1.38 GB, so every
micro-batch reads from RAM) evaluated through llama-cpp-python on this machine, one micro-batch of n
tokens, against the engine's time to first token with the union rule (1 − (1 − k/E)^n of the
experts read: ``speed.prefill_seconds``) and with the rule it replaced (every expert read by every
micro-batch). Random token ids route near-uniformly, as the rule assumes.

    python benchmarks/moe_prefill_twin.py      # ~2 min on 2 cores (the twin is cached after)

Writes benchmarks/results/moe_prefill_twin.md. Run it on a quiet machine.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from advisor.engine import core  # noqa: E402
from advisor.engine.evaluate import estimate_speed, factors_for  # noqa: E402
from advisor.records import Workload  # noqa: E402
from advisor.validate.twin import build_twin  # noqa: E402
from measured import twin_study  # noqa: E402

RESULT = HERE / "results" / "moe_prefill_twin.md"
PROMPTS = (1, 2, 4, 8, 16, 32, 64, 128)
REPEATS = 5  # the first of each is a warm-up, left out of the median
THREADS = 2


def twin_spec(catalog):
    return catalog.model("qwen3-30b-a3b").model_copy(update={
        "id": "moe-prefill-twin", "n_layers": 8, "hidden_size": 1024, "n_heads": 8, "n_kv_heads": 4, "head_dim": 128,
        "n_experts": 64, "n_experts_used": 2, "expert_ffn_size": 768, "vocab_size": 32000,
        "context_length": 4096, "max_position_embeddings": 4096})


def measure(path: Path) -> dict[int, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=512, n_batch=512, n_ubatch=512, n_threads=THREADS, verbose=False)
    rng = random.Random(0)
    out = {}
    for n in PROMPTS:
        times = []
        for _ in range(REPEATS):
            llm.reset()
            tokens = [rng.randrange(100, 30000) for _ in range(n)]
            start = time.perf_counter()
            llm.eval(tokens)
            times.append(time.perf_counter() - start)
        out[n] = statistics.median(times[1:])
        print(f"  {n:4d} tokens: {out[n] * 1000:.1f} ms", flush=True)
    return out


def predicted(model, catalog, device, union: bool) -> dict[int, float]:
    factors = factors_for(device, catalog)
    original = core.prefill_seconds
    if not union:  # the replaced rule: no expert left unread, whatever the micro-batch
        core.prefill_seconds = lambda *a, **k: original(*a, **{**k, "expert_bytes": 0.0})
    try:
        return {n: estimate_speed(model, catalog.file_type("Q8_0"), catalog.ggml_types, device,
                                  Workload(512, n, 1, threads=THREADS), factors).ttft_s for n in PROMPTS}
    finally:
        core.prefill_seconds = original


def main() -> int:
    catalog, device, cache = twin_study()
    model = twin_spec(catalog)
    path = build_twin(model, "Q8_0", cache, threads=THREADS)
    print(f"twin {path} ({path.stat().st_size / 1e9:.2f} GB); load average {os.getloadavg()[0]:.2f}", flush=True)
    measured = measure(path)
    union, every = predicted(model, catalog, device, True), predicted(model, catalog, device, False)

    def err(p: dict[int, float]) -> list[float]:
        return [abs(p[n] / measured[n] - 1) * 100 for n in PROMPTS]

    k, e = model.n_experts_used, model.n_experts
    lines = [
        "# MoE prefill: the experts a short prompt reads, measured", "",
        f"Command: `python benchmarks/moe_prefill_twin.py`. A qwen3moe twin (8 layers, {e} experts, {k} per token, width "
        f"1024, Q8_0, {path.stat().st_size / 1e9:.2f} GB, random weights) through llama-cpp-python with {THREADS} threads on "
        f"{device.name} ({device.cpu.name}); one micro-batch of n random tokens, median of {REPEATS - 1} after a warm-up. "
        "Predicted: the engine's time to first token on this machine's profile (shipped factors), with the union rule "
        f"(a micro-batch of n tokens reads 1 − (1 − {k}/{e})^n of the experts) and with the rule it replaced (every expert, "
        "every micro-batch).", "",
        "| prompt tokens | experts read (union) | measured | predicted, union | error | predicted, every expert | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in PROMPTS:
        lines.append(f"| {n} | {(1 - (1 - k / e) ** n) * 100:.0f} % | {measured[n] * 1000:.1f} ms | {union[n] * 1000:.1f} ms | "
                     f"{(union[n] / measured[n] - 1) * 100:+.0f} % | {every[n] * 1000:.1f} ms | {(every[n] / measured[n] - 1) * 100:+.0f} % |")
    lines += ["", f"MdAPE over {len(PROMPTS)} prompt lengths: union rule {statistics.median(err(union)):.0f} %, "
                  f"every expert {statistics.median(err(every)):.0f} %.", ""]
    RESULT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How fast llama.cpp's own CPU decode kernels run on this machine: a probe, and how it compares
with the machine's own decode runs — evidence for measuring the kernels in ``advisor profile``.

A decode step with one or two threads is bound by llama.cpp's dot products, not by memory, and
their rate is not the FP32 peak × a fixed share: five x86 machines ran them at 0.023–0.171 of the
int8 rate the FP32 peak implies (results/cpu_decode_x86.md), which no profile figure predicts. The
probe: a synthetic model (PROBE_DIMS: one llama layer of 1024 × 4096, a 512-token vocabulary; 9–17
MB, in a desktop CPU's last-level cache, so its speed is the kernels'; on a CPU with a smaller
cache memory slows it too) in Q4_0, Q8_0 and Q4_K (a Q4_K_S file), decoded by one thread, 128
tokens, 5 repeats, in a child process (validate's runner: a crash or a hang of llama.cpp cannot
take the benchmark down), ROUNDS rounds. The rate is the engine's decode FLOPs of the probe
(2 × matmul parameters + the output projection + attention) × the fastest repeat's tokens/s
(another process only ever slows a kernel down). Where llama.cpp's repacked CPU weights crash (a
Xeon VM with AMX did), the probe measures without them and says so.

With NAME, the machine's runs of benchmarks/machine_runs.sh (results/NAME_runs.json) are read
beside it: each one-thread decode run's GOPS (the engine's decode FLOPs × its tokens/s) against the
probe's rate of its weight type. benchmarks/machine_runs.sh runs this after its runs.

    python benchmarks/kernel_probe.py [NAME]     # writes results/NAME_kernel_probe.{json,md} (NAME default: this_machine)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the probe's shape: one llama layer (9 MB in Q4_0, 17 MB in Q8_0: in a desktop CPU's last-level
#: cache). On this repository's Zen 4 VM one layer and four ran Q4_0 at one rate per weight
#: (26.6 and 26.0 G weights/s, one thread): the per-token costs outside the layer weigh little.
PROBE_DIMS = {"n_layers": 1, "hidden_size": 1024, "ffn_size": 4096, "n_heads": 16, "n_kv_heads": 4, "head_dim": 64,
              "vocab_size": 512, "max_position_embeddings": 4096, "context_length": 4096}
#: the catalog model whose other fields (llama architecture, RMS norm, gated FFN) the probe takes
PROBE_BASE = "llama-3.2-1b-instruct"
#: the weight types measured (file type → the weight type of most of its tensors)
PROBE_TYPES = {"Q4_0": "Q4_0", "Q8_0": "Q8_0", "Q4_K_S": "Q4_K"}  # Q4_K_S: Q4_K tensors (its few Q5_K aside)
PROMPT_TOKENS = 16
OUTPUT_TOKENS = 128
REPEATS = 5
TIMEOUT_S = 120.0
ROUNDS = 3

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


@dataclass(frozen=True)
class ProbeResult:
    rates: dict[str, float]  # weight type → GOPS of one thread
    repack: bool
    notes: tuple[str, ...]


def probe_model(catalog: Any) -> Any:
    base = catalog.model(PROBE_BASE)
    return base.model_copy(update={"id": "kernel-probe", "name": "llama.cpp kernel probe", "tied_embeddings": False,
                                   **PROBE_DIMS})


def decode_flops_per_token(model: Any, prompt_tokens: int, output_tokens: int) -> float:
    """The engine's decode FLOPs of one token at the mean answering position (core._path_times)."""
    from advisor.engine.speed import attention_flops, matmul_params

    position = prompt_tokens + output_tokens / 2
    return 2 * matmul_params(model) + 2 * model.vocab_size * model.hidden_size + attention_flops(model, position)


def measure_kernel_rates(catalog: Any, cache_dir: Path, *, progress: Callable[[str], None] | None = None) -> ProbeResult:
    """One thread of llama.cpp's decode on the probe in each PROBE_TYPES type; never raises for a
    crashed, failed or noisy run (its type is left out, with a note)."""
    from advisor.errors import AdvisorError
    from advisor.validate.runner import RunSettings, run_child
    from advisor.validate.twin import build_twin

    model = probe_model(catalog)
    flops = decode_flops_per_token(model, PROMPT_TOKENS, OUTPUT_TOKENS)
    rates: dict[str, float] = {}
    notes: list[str] = []
    repack = True
    for ggml_type, weight_type in PROBE_TYPES.items():
        if progress:
            progress(f"llama.cpp's {ggml_type} decode kernel, one thread")
        try:
            gguf = build_twin(model, ggml_type, cache_dir)
        except (AdvisorError, OSError) as exc:  # no disk space, an unwritable cache: the type is left out
            notes.append(f"{ggml_type}: the probe could not be built ({exc})")
            continue
        outcome = run_child(RunSettings(gguf=gguf, n_ctx=256, prompt_tokens=PROMPT_TOKENS, output_tokens=OUTPUT_TOKENS,
                                        threads=1, repeats=REPEATS, use_extra_bufts=repack, timeout_s=TIMEOUT_S))
        if outcome.status == "crashed" and repack:
            repack = False
            notes.append(f"llama.cpp's repacked CPU weights {outcome.error.removeprefix('llama.cpp ') if outcome.error else 'crashed'} "
                         "here: measured without them")
            outcome = run_child(RunSettings(gguf=gguf, n_ctx=256, prompt_tokens=PROMPT_TOKENS, output_tokens=OUTPUT_TOKENS,
                                            threads=1, repeats=REPEATS, use_extra_bufts=False, timeout_s=TIMEOUT_S))
        if not outcome.ok:
            notes.append(f"{ggml_type}: {outcome.error or outcome.status}")
            continue
        samples = [float(v) for v in outcome.measured.get("decode_samples", ()) if float(v) > 0]
        if not samples:
            notes.append(f"{ggml_type}: no decode samples")
            continue
        # the fastest repeat, as the profile's other figures take the best of their rounds:
        # another process (or a VM's neighbour) only ever slows a kernel down
        rates[weight_type] = flops * max(samples) / 1e9
    return ProbeResult(rates, repack, tuple(notes))


WEIGHT_TYPE = {"Q4_0": "Q4_0", "Q8_0": "Q8_0", "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K"}


def run_rows(name: str, catalog: Any, rates: dict[str, float]) -> list[str]:
    """The one-thread decode runs of results/NAME_runs.json against the probe's rate of their type."""
    from advisor.calibrate_from_runs import observations_from_run
    from measured import REFS, RESULTS, study_runs

    runs_file = RESULTS / f"{name}_runs.json"
    profiles = sorted(REFS.glob(f"ref-{name.replace('_', '-')}*.toml"))  # ref-xeon-vm-2c.toml for xeon_vm
    if not runs_file.exists() or len(profiles) != 1:
        return []
    runs, _ = study_runs(runs_file.name, profiles[0].name)
    rows = ["| run | decode tok/s | its GOPS (the engine's FLOPs × tok/s) | probe's GOPS of its type | run / probe |",
            "|---|---|---|---|---|"]
    for o in (o for run in runs for o in observations_from_run(run, catalog) if o.metric == "decode" and o.workload.threads == 1):
        weight = WEIGHT_TYPE.get(o.ftype.id)
        gops = decode_flops_per_token(o.model, o.workload.prompt_tokens, o.workload.output_tokens) * o.value / 1e9
        probe = rates.get(weight or "")
        rows.append(f"| {o.model.id} {o.ftype.id} 1t | {o.value:.1f} | {gops:.1f} | "
                    + (f"{probe:.1f} ({weight}) | ×{gops / probe:.2f} |" if probe else "– | – |"))
    return rows


def main() -> int:
    import os
    from datetime import date

    from advisor.catalog import load_catalog
    from advisor.output import write_atomic
    from measured import RESULTS

    name = sys.argv[1] if len(sys.argv) > 1 else "this_machine"
    os.environ.setdefault("ADVISOR_TWIN_CACHE", str(HERE / ".cache" / "twins"))
    catalog = load_catalog()
    rounds = [measure_kernel_rates(catalog, Path(os.environ["ADVISOR_TWIN_CACHE"]), progress=lambda t: print(t, file=sys.stderr))
              for _ in range(ROUNDS)]
    data = {"date": date.today().isoformat(), "machine": name, "probe": PROBE_DIMS, "rounds": [
        {"rates_gops": r.rates, "repack": r.repack, "notes": list(r.notes)} for r in rounds]}
    write_atomic(RESULTS / f"{name}_kernel_probe.json", (json.dumps(data, indent=1) + "\n").encode(), force=True)
    types = list(PROBE_TYPES.values())
    best = {t: max(r.rates[t] for r in rounds if t in r.rates) for t in types if any(t in r.rates for r in rounds)}
    table = ["| weight type | GOPS of one thread, each round | best | spread (max / min) |", "|---|---|---|---|"]
    for t in types:
        values = [r.rates[t] for r in rounds if t in r.rates]
        if values:
            table.append(f"| {t} | {', '.join(f'{v:.1f}' for v in values)} | {best[t]:.1f} | ×{max(values) / min(values):.2f} |")
    notes = sorted({n for r in rounds for n in r.notes})
    runs = run_rows(name, catalog, best)
    text = "\n".join([
        f"# llama.cpp's CPU decode kernels on {name}, one thread",
        "",
        f"Command: `python benchmarks/kernel_probe.py {name}` ({data['date']}); see its docstring. Probe: "
        f"{PROBE_DIMS['n_layers']} llama layer of {PROBE_DIMS['hidden_size']} × {PROBE_DIMS['ffn_size']}, "
        f"{PROBE_DIMS['vocab_size']}-token vocabulary, {OUTPUT_TOKENS} tokens × {REPEATS} repeats per round, "
        f"{ROUNDS} rounds; GOPS = the engine's decode FLOPs × the fastest repeat's tokens/s."
        + (f" Notes: {'; '.join(notes)}." if notes else ""),
        "",
        *table,
        *(["", "## The machine's one-thread decode runs (benchmarks/machine_runs.sh) against the probe", "", *runs] if runs else []),
        "",
    ])
    write_atomic(RESULTS / f"{name}_kernel_probe.md", text.encode(), force=True)
    print(text)
    return 0 if best else 1


if __name__ == "__main__":
    raise SystemExit(main())

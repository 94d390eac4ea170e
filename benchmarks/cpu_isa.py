"""Decode speed by x86 instruction set, measured on this machine: one llama.cpp source built three
ways (benchmarks/cpu_isa.sh: native AVX-512 VNNI, AVX-512 without VNNI, AVX2 only), Llama-3.2-1B
twins decoded with 1 and 2 threads by each build's llama-bench. Were decode bound by the int8
multiply instruction, the builds would differ by their instructions' work (VPDPBUSD does in one what
AVX2 does in VPMADDUBSW + VPMADDWD): the check of ``speed.INT8_DOT_PER_FP32_FMA`` against what the
kernels deliver. The engine's prediction for each build is this machine's
profile (benchmarks/reference_devices/ref-study-vm-epyc.toml, measured bandwidth) with the
profile's ISA list cut to what the build compiled.

Second part, prefill: pp512 with 2 threads of Q4_0, Q8_0, Q4_K_M and Q2_K files, each with
llama.cpp's CPU repacking on and off (``--repack``), per build: the AVX2 and AVX-512 kernels'
repack speed-ups and K-quant factors (``speed.REPACK_PREFILL_SPEEDUP``,
``KQUANT_PREFILL_BY_FAMILY``) measured in one machine, one source and one file set, and each
build's Q8_0 against the native build's in the same session (``speed.X86_PREFILL_BY_ISA``; a fourth
build, AVX2 with AVX-VNNI, is measured for prefill only).

    bash benchmarks/cpu_isa.sh /tmp/isa-builds       # ~10 min per build on 2 cores
    python benchmarks/cpu_isa.py /tmp/isa-builds     # ~20 min: measure, write results/cpu_isa.md
    python benchmarks/cpu_isa.py /tmp/isa-builds --prefill-only --builds native,avx2,avx2vnni   # one new prefill session
    python benchmarks/cpu_isa.py --from-json         # re-render the table
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from cpu_repack import cpu_flags  # noqa: E402

MODEL = "llama-3.2-1b-instruct"
QUANTS = ("Q4_0", "Q8_0", "Q4_K_M")
THREADS = (1, 2)
#: each build and the ISA extensions of the profile's list it did not compile
BUILDS = {"native": (), "novnni": ("avx512_vnni", "avx_vnni"), "avx2": ("avx512", "avx512_vnni", "avx_vnni", "avx512_bf16"),
          "avx2vnni": ("avx512", "avx512_vnni", "avx512_bf16")}
N_GEN, REPEATS, ROUNDS = 64, 3, 2
PREFILL_QUANTS = ("Q4_0", "Q8_0", "Q4_K_M", "Q2_K")
N_PROMPT, PREFILL_THREADS = 512, 2
JSON = HERE / "results" / "cpu_isa.json"
PAGE = HERE / "results" / "cpu_isa.md"


def twins(quants) -> dict[str, Path]:
    from advisor.catalog import load_catalog
    from advisor.validate.predicted_vs_measured import twin_cache_dir
    from advisor.validate.twin import build_twin

    catalog = load_catalog()
    cache = twin_cache_dir()
    return {q: build_twin(catalog.model(MODEL), q, cache, threads=2) for q in quants}


def bench(exe: Path, args: list[str]) -> tuple[int, float | None, list | None]:
    """(exit status, mean tok/s, samples) of one llama-bench test."""
    out = subprocess.run([str(exe), *args, "-o", "jsonl"], capture_output=True, text=True, timeout=900)
    rows = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    return out.returncode, rows[0]["avg_ts"] if rows else None, rows[0]["samples_ts"] if rows else None


def measure_prefill(builds: Path, which: list[str], session: int, rounds: int = 1) -> list[dict]:
    """pp512 of each file with repacking on and off, per build of ``which``, in one session
    (``rounds`` interleaved passes; render takes each cell's median)."""
    paths = twins(PREFILL_QUANTS)
    runs = []
    for round_ in range(rounds):
        for build in which:
            for quant in PREFILL_QUANTS:
                for repack in (1, 0):
                    rc, tok_s, samples = bench(builds / build / "bin" / "llama-bench",
                                               ["-m", str(paths[quant]), "-t", str(PREFILL_THREADS), "-p", str(N_PROMPT), "-n", "0",
                                                "-r", str(REPEATS), "--repack", str(repack)])
                    row = {"session": session, "date": date.today().isoformat(), "round": round_, "build": build, "quant": quant,
                           "repack": repack, "rc": rc, "tok_s": tok_s, "samples": samples}
                    print(json.dumps(row), flush=True)
                    runs.append(row)
    return runs


def measure(builds: Path) -> dict:
    paths = twins(QUANTS)
    runs = []
    for round_ in range(ROUNDS):
        for build in BUILDS:
            bench_path = builds / build / "bin" / "llama-bench"
            for threads in THREADS:
                for quant in QUANTS:
                    rc, tok_s, samples = bench(bench_path, ["-m", str(paths[quant]), "-t", str(threads), "-p", "0",
                                                            "-n", str(N_GEN), "-r", str(REPEATS)])
                    row = {"round": round_, "build": build, "quant": quant, "threads": threads, "rc": rc, "tok_s": tok_s,
                           "samples": samples}
                    print(json.dumps(row), flush=True)
                    runs.append(row)
    return {"date": date.today().isoformat(), "machine": platform.machine(), "cpu_flags": cpu_flags(), "model": MODEL,
            "n_gen": N_GEN, "repeats": REPEATS, "runs": runs}


def build_device(build: str):
    """This machine's profile with its ISA list cut to what ``build`` compiled."""
    from advisor.api import load_device_file

    device = load_device_file(HERE / "reference_devices" / "ref-study-vm-epyc.toml")
    cut = BUILDS[build]
    return device.model_copy(update={"cpu": device.cpu.model_copy(update={"isa": [i for i in device.cpu.isa if i not in cut]})})


def predicted(catalog, device, quant: str, threads: int) -> float:
    from advisor.engine.evaluate import evaluate
    from advisor.records import Workload

    w = Workload(context_tokens=512, prompt_tokens=1, output_tokens=N_GEN, threads=threads)
    est = evaluate(catalog.model(MODEL), catalog.file_type(quant), device, w, catalog)
    assert est.speed is not None
    return est.speed.decode_tokens_per_s


def render(data: dict) -> str:
    from advisor.catalog import load_catalog

    catalog = load_catalog()
    devices = {b: build_device(b) for b in BUILDS}
    med: dict[tuple[str, str, int], float] = {}
    for b in BUILDS:
        for q in QUANTS:
            for t in THREADS:
                vals = [r["tok_s"] for r in data["runs"] if (r["build"], r["quant"], r["threads"]) == (b, q, t) and r["tok_s"]]
                if vals:
                    med[b, q, t] = statistics.median(vals)
    lines = [
        f"# Decode by x86 instruction set on this machine ({data['date']})", "",
        "Command: `bash benchmarks/cpu_isa.sh DIR && python benchmarks/cpu_isa.py DIR` (re-render: `--from-json`). "
        f"One llama.cpp source (.devcheck/llama.cpp, the commit llama-cpp-python 0.3.36 vendors) built three ways; "
        f"{data['model']} twins; llama-bench tg{data['n_gen']}, {data['repeats']} repetitions, {ROUNDS} rounds (median). "
        f"CPU flags: {', '.join(f for f in data['cpu_flags'] if 'avx' in f or 'vnni' in f) or 'n/a'}. "
        "Predicted: the engine with this machine's profile (ref-study-vm-epyc.toml) and the ISA list cut to what the build compiled.",
        "",
        "| file | threads | build | measured tok/s | ×native | predicted tok/s | ×native (predicted) | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors: dict[str, list[float]] = {}
    for q in QUANTS:
        for t in THREADS:
            if ("native", q, t) not in med:
                continue
            p_native = predicted(catalog, devices["native"], q, t)
            for b in BUILDS:
                if (b, q, t) not in med:
                    continue
                m, p = med[b, q, t], predicted(catalog, devices[b], q, t)
                errors.setdefault(b, []).append(abs(p / m - 1))
                lines.append(f"| {q} | {t} | {b} | {m:.1f} | ×{m / med['native', q, t]:.2f} | {p:.1f} | ×{p / p_native:.2f} | {p / m - 1:+.0%} |")
    lines += ["", *(f"- {b}: median |error| {statistics.median(e):.0%} over {len(e)} cases" for b, e in errors.items())]
    lines += ["", "Reading: the three builds decode at one speed, so the int8 instruction (VPDPBUSD, or VPMADDUBSW + "
              "VPMADDWD) does not bound decode here; one core's streaming and the rest of the kernel do (Q8_0 reads "
              "1.7× Q4_0's bytes and is 1.4× slower at one thread). `speed.INT8_DOT_PER_FP32_FMA` gives AVX2 VNNI's ratio "
              "for that reason. The absolute error is the engine's: this machine's measured bandwidth × "
              "`speed.MEASURED_BW_EFFICIENCY` and the cpu-x86 path's fixed and compute terms."]
    for session, info in sorted(data.get("prefill_sessions", {"1": {"date": data["date"], "cpu_flags": data["cpu_flags"]}}).items()):
        runs = [r for r in data.get("prefill_runs", []) if str(r.get("session", 1)) == session]
        if runs:
            lines += ["", *render_prefill(runs, catalog, devices, session, info)]
    return "\n".join(lines) + "\n"


def render_prefill(runs: list[dict], catalog, devices: dict, session: str, info: dict) -> list[str]:
    from advisor.engine import memory as mem
    from advisor.engine import speed

    cells: dict[tuple[str, str, int], list[float]] = {}
    for r in runs:
        if r["tok_s"]:
            cells.setdefault((r["build"], r["quant"], r["repack"]), []).append(r["tok_s"])
    tok = {k: statistics.median(v) for k, v in cells.items()}
    failed = sorted({f"{r['build']} {r['quant']}" for r in runs if r["rc"] != 0})
    flags = ", ".join(f for f in info["cpu_flags"] if "avx" in f or "vnni" in f)
    lines = [f"## Prefill by build, session {session} ({info['date']}): pp{N_PROMPT}, {PREFILL_THREADS} threads, repacking on and off", "",
             f"CPU flags of the VM's host then: {flags}." + (f" Crashed (an instruction this host lacks): {', '.join(failed)}." if failed else ""), "",
             "Repacked ÷ plain is the file's repack speed-up; the engine's (`speed.repack_prefill_speedups`) weighs each "
             "matrix's type by its size. Plain ÷ Q8_0 plain is the K-quant factor of the unrepacked kernels "
             "(`speed.KQUANT_PREFILL_BY_FAMILY`). The engine keys both on the family `speed.repack_family` gives the build's "
             "ISA list: the AVX-512 build without VNNI counts as avx512, whose factors were measured with VNNI. "
             "Q8_0 plain ÷ native's is the build's whole prefill against AVX-512 VNNI's at this machine's one FP32 peak "
             "(Zen 4 runs 256- and 512-bit FMAs at one rate), measured in the same session as the native build "
             "(`speed.X86_PREFILL_BY_ISA`; engine: that factor for the build's ISA list); a cell is the median of the "
             "session's rounds.", "",
             "| build | family | file | plain tok/s | repacked tok/s | repacked ÷ plain | engine | plain ÷ Q8_0 plain | engine "
             "| Q8_0 plain ÷ native's | engine |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    same = tok.get(("native", "Q8_0", 0))
    for b in BUILDS:
        fam = speed.repack_family(devices[b])
        q8 = tok.get((b, "Q8_0", 0))
        isa = f"×{q8 / same:.2f} | ×{speed.x86_prefill_isa(devices[b]):.2f}" if q8 and same else "- | -"
        for q in PREFILL_QUANTS:
            plain, rep = tok.get((b, q, 0)), tok.get((b, q, 1))
            if not plain or not rep or not q8:
                continue
            rows = mem.per_tensor_bytes(catalog.model(MODEL), catalog.file_type(q), catalog.ggml_types)
            engine_repack = speed.repack_prefill_speedups(rows)[speed.REPACK_FAMILIES.index(fam)]
            kquant = speed.weight_family(catalog.file_type(q).base_type) == "kquant"
            kq = speed.KQUANT_PREFILL_BY_FAMILY.get(fam, 1.0) if kquant else 1.0
            lines.append(f"| {b} | {fam} | {q} | {plain:.1f} | {rep:.1f} | ×{rep / plain:.2f} | ×{engine_repack:.2f} | "
                         f"×{plain / q8:.2f} | ×{kq:.2f} | {isa if q == 'Q8_0' else ' | '} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="?", type=Path, help="BUILD_ROOT of benchmarks/cpu_isa.sh")
    ap.add_argument("--from-json", action="store_true")
    ap.add_argument("--prefill-only", action="store_true", help="keep the decode runs of the JSON, measure prefill")
    ap.add_argument("--builds", dest="only", default=",".join(BUILDS),
                    help="with --prefill-only: the builds to measure, in one new session (their earlier prefill runs are replaced)")
    args = ap.parse_args()
    if args.from_json:
        data = json.loads(JSON.read_text())
    else:
        if args.builds is None:
            ap.error("give BUILD_ROOT, or --from-json")
        which = [b.strip() for b in args.only.split(",") if b.strip()] if args.prefill_only else list(BUILDS)
        unknown = [b for b in which if b not in BUILDS]
        if unknown:
            raise SystemExit(f"Error: unknown build {', '.join(unknown)}; builds: {', '.join(BUILDS)}")
        missing = [b for b in which if not (args.builds / b / "bin" / "llama-bench").is_file()]
        if missing:
            raise SystemExit(f"Error: no llama-bench for {', '.join(missing)} under {args.builds}; "
                             f"build them first: CONFIGS=\"{' '.join(missing)}\" bash benchmarks/cpu_isa.sh {args.builds}")
        if args.prefill_only:  # a new session beside the earlier ones (the VM's host may have changed)
            data = json.loads(JSON.read_text())
            session = 1 + max((r.get("session", 1) for r in data.get("prefill_runs", [])), default=0)
            data["prefill_runs"] = data.get("prefill_runs", []) + measure_prefill(args.builds, which, session, rounds=2)
        else:
            data, session = measure(args.builds), 1
            data["prefill_runs"] = measure_prefill(args.builds, which, session)
        data.setdefault("prefill_sessions", {})[str(session)] = {"date": date.today().isoformat(), "cpu_flags": cpu_flags()}
        JSON.write_text(json.dumps(data, indent=1) + "\n")
    text = render(data)
    PAGE.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

#!/bin/bash
# llama.cpp on this machine through `advisor validate` (synthetic twins): a quiet profile, then 12 runs
# (1 and 2 threads, 0.1-3B, Q4_0/Q8_0/Q4_K_M), exported to results/NAME_runs.json and the profile to
# reference_devices/ref-NAME.toml's source (copy what `advisor profile` wrote under HOME_DIR/profiles),
# then benchmarks/kernel_probe.py NAME (results/NAME_kernel_probe.md).
# Run on the 2-core Xeon VM with AMX (2026-12-02: xeon_vm) and the 2-core EPYC VM on a Zen 4 host
# (2026-12-02: epyc_zen4_vm); benchmarks/measured_bandwidth.py and cpu_prefill_x86.py read them. ~25 min
# on 2 cores; run it on an idle machine (validate stores a busy repeat as noisy and measures once more).
#   bash benchmarks/machine_runs.sh NAME [HOME_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bash benchmarks/machine_runs.sh NAME [HOME_DIR]}"
export ADVISOR_HOME="${2:-benchmarks/.cache/$name-home}" ADVISOR_TWIN_CACHE="${ADVISOR_TWIN_CACHE:-benchmarks/.cache/twins}"
mkdir -p "$ADVISOR_HOME"
advisor profile --seconds 3 >&2
for spec in "llama-3.2-1b-instruct Q4_0 1" "llama-3.2-1b-instruct Q4_0 2" "llama-3.2-1b-instruct Q8_0 1" "llama-3.2-1b-instruct Q8_0 2" \
            "llama-3.2-1b-instruct Q4_K_M 1" "llama-3.2-1b-instruct Q4_K_M 2" "qwen2.5-0.5b-instruct Q4_K_M 2" "qwen2.5-0.5b-instruct Q8_0 2" \
            "smollm2-135m-instruct Q8_0 2" "qwen2.5-1.5b-instruct Q4_K_M 2" "llama-3.2-3b-instruct Q4_K_M 2" "llama-3.2-3b-instruct Q4_0 2"; do
  set -- $spec
  echo "[$(date +%T)] $spec (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  advisor validate --model "$1" --quant "$2" --threads "$3" --timeout 900 --format json > /dev/null || echo "run failed: $spec" >&2
done
advisor runs export --format json -o "benchmarks/results/${name}_runs.json" --force
# llama.cpp's decode kernels on their own, beside the runs (reads the runs against them once
# reference_devices/ref-NAME-2c.toml holds the profile: run it again then)
python benchmarks/kernel_probe.py "$name" > /dev/null || echo "kernel probe failed" >&2

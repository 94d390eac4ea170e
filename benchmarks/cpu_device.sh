#!/bin/bash
# llama.cpp's CPU path on the lent machine's host CPU (the `device` tool), on synthetic twins, with
# the machine profiled by `advisor profile` (measured bandwidth and FP32 rate) so the prediction
# uses that machine's own figures. Same staging as benchmarks/cuda_device.sh (.devcheck carried).
# Writes $OUT/host_profile.toml, $OUT/cpu_bench.jsonl, $OUT/log.txt.
set -u
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcheck/whl/*.whl >> "$OUT/log.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD ADVISOR_HOME=/tmp/advisor-home
lscpu > "$OUT/lscpu.txt" 2>&1
log "profile"
python3 -m advisor profile --no-write --format toml --seconds 3 > "$OUT/host_profile.toml" 2>> "$OUT/log.txt" || log "profile failed"
log "configure"
cmake -S .devcheck/llama.cpp -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log | tee -a "$OUT/log.txt"; exit 1; }
python3 benchmarks/cuda_device.py build /tmp/twins --models qwen2.5-0.5b-instruct llama-3.2-1b-instruct llama-3.2-3b-instruct >> "$OUT/log.txt" 2>&1 &
TWINS=$!
timeout 240 cmake --build /tmp/build -j 16 --target llama-bench llama-quantize > /tmp/build.log 2>&1 \
  || { tail -40 /tmp/build.log | tee -a "$OUT/log.txt"; exit 1; }
log "built"
wait $TWINS || { log "twin build failed"; exit 1; }
for f16 in /tmp/twins/*-F16.gguf; do
  for q in Q4_K_M Q8_0; do
    /tmp/build/bin/llama-quantize "$f16" "${f16%-F16.gguf}-$q.gguf" $q 16 > /dev/null 2>&1 || log "quantize $q failed for $f16"
  done
  rm -f "$f16"
done
log "quantized"
for m in /tmp/twins/*.gguf; do
  timeout 90 /tmp/build/bin/llama-bench -m "$m" -ngl 0 -t 16 -p 512 -n 64 -r 2 -o jsonl >> "$OUT/cpu_bench.jsonl" 2>> /tmp/bench.err \
    || log "bench failed for $m"
done
log "done"

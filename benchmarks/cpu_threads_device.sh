#!/bin/bash
# Thread scaling of llama.cpp's CPU decode and prefill on the lent machine's host CPU (the `device`
# tool): Llama-3.2-1B twins (Q4_K_M, Q8_0) at 1, 2, 4, 8 and 16 threads. Same staging as
# benchmarks/cuda_device.sh (.devcheck carried). Writes $OUT/threads_bench.jsonl, $OUT/log.txt.
set -u
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcheck/whl/*.whl >> "$OUT/log.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD ADVISOR_HOME=/tmp/advisor-home
cmake -S .devcheck/llama.cpp -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log | tee -a "$OUT/log.txt"; exit 1; }
python3 benchmarks/cuda_device.py build /tmp/twins --models llama-3.2-1b-instruct >> "$OUT/log.txt" 2>&1 &
TWINS=$!
timeout 200 cmake --build /tmp/build -j 16 --target llama-bench llama-quantize > /tmp/build.log 2>&1 \
  || { tail -40 /tmp/build.log | tee -a "$OUT/log.txt"; exit 1; }
wait $TWINS || { log "twin build failed"; exit 1; }
for q in Q4_K_M Q8_0; do
  /tmp/build/bin/llama-quantize /tmp/twins/llama-3.2-1b-instruct-F16.gguf "/tmp/twins/llama-3.2-1b-instruct-$q.gguf" $q 16 > /dev/null 2>&1
done
log "built and quantized"
for q in Q4_K_M Q8_0; do
  timeout 150 /tmp/build/bin/llama-bench -m "/tmp/twins/llama-3.2-1b-instruct-$q.gguf" -ngl 0 -t 1,2,4,8,16 -p 128 -n 32 -r 2 \
    -o jsonl >> "$OUT/threads_bench.jsonl" 2>> /tmp/bench.err || log "bench failed for $q"
done
log "done"

#!/bin/bash
# llama.cpp's CUDA path measured on a lent GPU machine (the `device` tool), on synthetic twins.
# Run from the repository root there, with .devcheck carried (see benchmarks/cuda_device.py):
#   .devcheck/llama.cpp  llama.cpp's source (the version llama-cpp-python 0.3.36 vendors), trimmed
#   .devcheck/whl        wheels for python 3.12: pydantic, pydantic-core, annotated-types,
#                        typing-inspection, typing-extensions, gguf
# Writes $OUT/gpu.csv, $OUT/bench.jsonl (llama-bench JSON lines), $OUT/log.txt.
set -u
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,power.limit,driver_version --format=csv > "$OUT/gpu.csv" 2>&1
nproc >> "$OUT/gpu.csv"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcheck/whl/*.whl >> "$OUT/log.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD
ROOT=$PWD
log "configure"
cmake -S .devcheck/llama.cpp -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log | tee -a "$OUT/log.txt"; exit 1; }
log "build (twins written meanwhile)"
python3 benchmarks/cuda_device.py build /tmp/twins >> "$OUT/log.txt" 2>&1 &
TWINS=$!
timeout 420 cmake --build /tmp/build -j 16 --target llama-bench llama-quantize > /tmp/build.log 2>&1 \
  || { tail -40 /tmp/build.log | tee -a "$OUT/log.txt"; exit 1; }
log "built"
cd "$ROOT"
wait $TWINS || { log "twin build failed"; exit 1; }
log "twins written"
for f16 in /tmp/twins/*-F16.gguf; do
  /tmp/build/bin/llama-quantize "$f16" "${f16%-F16.gguf}-Q4_K_M.gguf" Q4_K_M 16 > /dev/null 2>&1 || log "quantize failed for $f16"
done
log "quantized"
for m in /tmp/twins/*.gguf; do
  timeout 120 /tmp/build/bin/llama-bench -m "$m" -ngl 99 -p 512 -n 128 -r 3 -o jsonl >> "$OUT/bench.jsonl" 2>> "$OUT/log.txt" \
    || log "bench failed for $m"
done
log "done"

#!/bin/bash
# What llama.cpp allocates on the CUDA path (model, KV and compute buffers on the GPU and in host
# memory), measured on a lent GPU machine (the `device` tool) on synthetic twins. Run from the
# repository root there with .devcheck carried (see benchmarks/cuda_device.sh for what it holds);
# compared here by `python benchmarks/cuda_memory.py --write`.
# Writes $OUT/mem/<twin>_c<ctx>_fa<on|off>.log (the buffer lines of llama-completion's log),
# $OUT/gpu.csv and $OUT/log.txt.
set -u
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }
mkdir -p "$OUT/mem"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcheck/whl/*.whl >> "$OUT/log.txt" 2>&1
export PYTHONPATH=/tmp/site:$PWD
log "configure"
cmake -S .devcheck/llama.cpp -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF > /tmp/cmake.log 2>&1 || { tail -40 /tmp/cmake.log | tee -a "$OUT/log.txt"; exit 1; }
log "build (twins written meanwhile)"
python3 benchmarks/cuda_device.py build /tmp/twins --models smollm2-135m-instruct qwen2.5-0.5b-instruct \
  llama-3.2-1b-instruct gemma-3-1b-it qwen2.5-1.5b-instruct >> "$OUT/log.txt" 2>&1 &
TWINS=$!
timeout 420 cmake --build /tmp/build -j 16 --target llama-completion llama-quantize > /tmp/build.log 2>&1 \
  || { tail -40 /tmp/build.log | tee -a "$OUT/log.txt"; exit 1; }
log "built"
wait $TWINS || { log "twin build failed"; exit 1; }
for f16 in /tmp/twins/*-F16.gguf; do
  /tmp/build/bin/llama-quantize "$f16" "${f16%-F16.gguf}-Q4_K_M.gguf" Q4_K_M 16 > /dev/null 2>&1 || log "quantize failed for $f16"
done
log "quantized"
for m in /tmp/twins/*.gguf; do
  name=$(basename "$m" .gguf)
  for ctx in 4096 16384; do
    for fa in on off; do
      timeout 90 /tmp/build/bin/llama-completion -m "$m" -c "$ctx" -ngl 99 -fa "$fa" -fit off -n 4 -p "hello there" \
        -no-cnv --no-warmup -t 8 --temp 0 < /dev/null > /dev/null 2> /tmp/run.log || log "run failed: $name c$ctx fa$fa"
      grep -E "buffer size|n_ctx|n_batch|n_ubatch|flash_attn|Flash Attention|llama_kv_cache|file size|file type|memory_breakdown|\| +- |CUDA0 \(" \
        /tmp/run.log > "$OUT/mem/${name}_c${ctx}_fa${fa}.log"
    done
  done
done
log "done"

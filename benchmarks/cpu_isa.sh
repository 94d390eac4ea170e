#!/bin/bash
# Builds llama-bench from the llama.cpp source staged in .devcheck/llama.cpp (the commit llama-cpp-python
# 0.3.36 vendors) once per x86 instruction-set configuration, on this machine, for
# benchmarks/cpu_isa.py:
#   native   GGML_NATIVE=ON: every extension the CPU has (here AVX-512 with VNNI)
#   novnni   AVX-512 (F, CD, VL, DQ, BW) without VNNI: what a Windows build (MSVC or clang-cl)
#            compiles on an AVX-512 CPU with the default options (ggml-cpu/cmake/FindSIMD.cmake
#            detects AVX, AVX2 and AVX-512, never VNNI; GGML_AVX512_VNNI defaults to OFF)
#   avx2     AVX2 + FMA + F16C, no AVX-512: the int8 dot products of an AVX2-only CPU (Zen 3, Skylake)
#   avx2vnni the same with AVX-VNNI (VPDPBUSD on 256-bit registers): Intel's client CPUs since Alder
#            Lake (Core Ultra, N100), which have no AVX-512
# Usage: bash benchmarks/cpu_isa.sh BUILD_ROOT   (~10 min per configuration on 2 cores)
set -euo pipefail
root=${1:?usage: cpu_isa.sh BUILD_ROOT}
src=$(cd "$(dirname "$0")/.." && pwd)/.devcheck/llama.cpp
[ -f "$src/CMakeLists.txt" ] || { echo "Error: no llama.cpp source in $src (stage it as benchmarks/cuda_device.sh says)" >&2; exit 2; }
common=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF)
x86=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
declare -A flags=(
  [native]="-DGGML_NATIVE=ON"
  [novnni]="${x86[*]} -DGGML_AVX512=ON -DGGML_AVX512_VNNI=OFF"
  [avx2]="${x86[*]} -DGGML_AVX512=OFF"
  [avx2vnni]="${x86[*]} -DGGML_AVX512=OFF -DGGML_AVX_VNNI=ON"
)
mkdir -p "$root"
for cfg in ${CONFIGS:-native novnni avx2}; do
  if [ -x "$root/$cfg/bin/llama-bench" ]; then echo "$cfg: built"; continue; fi
  # shellcheck disable=SC2086
  cmake -S "$src" -B "$root/$cfg" "${common[@]}" ${flags[$cfg]} > "$root/$cfg.cmake.log" 2>&1
  cmake --build "$root/$cfg" -j 2 --target llama-bench > "$root/$cfg.build.log" 2>&1
  echo "$cfg: built ($(grep -c . "$root/$cfg.build.log") build lines)"
done

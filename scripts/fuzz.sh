#!/usr/bin/env bash
# Run every libFuzzer target for a bounded time: scripts/fuzz.sh [seconds-per-target]
# Crashes are written to build/fuzz/crashes/<target>/; add each as a regression input
# under tests/fuzz/corpus/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/deps.sh
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DDYNMX_FUZZ=ON -DDYNMX_BUILD_TESTS=OFF -DDYNMX_FUZZ_SMOKE_SECONDS="$seconds" >/dev/null
targets=$(ls tests/fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
cmake --build build/fuzz -j"$(nproc)" --target $targets
ctest --test-dir build/fuzz/tests/fuzz --output-on-failure -j"$(nproc)"

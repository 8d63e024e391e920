#!/usr/bin/env bash
# The test command: install what is missing, build with warnings as errors, run every
# test under ctest; then the same suite again under ASan+UBSan.
# Env: DYNMX_SKIP_SANITIZE=1 skips the sanitizer pass (local iteration only; CI runs both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DDYNMX_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 300
}

echo "== release build (RelWithDebInfo, -Werror) =="
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${DYNMX_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== sanitizer build (ASan+UBSan, -Werror) =="
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DDYNMX_SANITIZE=ON
fi

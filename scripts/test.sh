#!/usr/bin/env bash
# The test command: install what is missing, build with warnings as errors under
# ASan+UBSan, and run every test under ctest (unit, integration with real named, dovecot,
# fetchmail and the loopback provider, end to end); then a short smoke of every fuzz target.
# Env: DYNMX_RELEASE_PASS=1 also runs the suite on an optimised build first.
#      DYNMX_SKIP_FUZZ=1 skips the fuzz smoke (local iteration only; CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DDYNMX_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600
}

if [ "${DYNMX_RELEASE_PASS:-0}" = 1 ]; then
  echo "== release build (RelWithDebInfo, -Werror) =="
  run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi

if [ "${DYNMX_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz smoke (clang, libFuzzer + ASan/UBSan, 10 s per target) =="
  bash scripts/fuzz.sh 10
fi

echo "== sanitizer build (ASan+UBSan, -Werror) and the whole suite =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DDYNMX_SANITIZE=ON

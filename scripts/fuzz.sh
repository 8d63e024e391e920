#!/usr/bin/env bash
# Run every libFuzzer target for a bounded time: scripts/fuzz.sh [seconds-per-target]
#   1. builds the fuzz targets with clang (ASan+UBSan+libFuzzer, -Werror);
#   2. replays the regression inputs (tests/fuzz/regressions/<target>/): each once crashed;
#   3. runs each target for SECONDS (default 60), nproc at a time, seeded from
#      tests/fuzz/corpus/<target>/; new inputs go to build/fuzz/corpus/<target>/ and crashes
#      to build/fuzz/crashes/<target>/;
#   4. prints one line per target: executions, exec/s, new coverage, crash or not.
# Exit status: non-zero if any regression input or any target crashed.
# Env: DYNMX_FUZZ_BUILD (build dir, default build/fuzz), DYNMX_FUZZ_TARGETS (a subset),
#      DYNMX_FUZZ_JOBS (targets at once, default nproc).
# A crash: fix it, then add the input under tests/fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${DYNMX_FUZZ_BUILD:-build/fuzz}
jobs=${DYNMX_FUZZ_JOBS:-$(nproc)}
bash scripts/deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DDYNMX_FUZZ=ON -DDYNMX_WERROR=ON -DDYNMX_BUILD_TESTS=OFF -DDYNMX_FUZZ_SMOKE_SECONDS="$seconds" >/dev/null
targets=${DYNMX_FUZZ_TARGETS:-$(ls tests/fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')}
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets

status=0
for t in $targets; do
  if [ -d "tests/fuzz/regressions/$t" ]; then
    if ! "$build/tests/fuzz/$t" -runs=0 "tests/fuzz/regressions/$t" >"$build/regressions-$t.log" 2>&1; then
      echo "REGRESSION $t: a kept crash input crashes again (see $build/regressions-$t.log)"
      status=1
    fi
  fi
done

run_one() {
  local t=$1 seconds=$2 build=$3
  mkdir -p "$build/corpus/$t" "$build/crashes/$t"
  "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" \
    "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$build/$t.log" 2>&1
  local rc=$?
  local execs rate cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/$t.log")
  cov=$(grep -o 'cov: [0-9]*' "$build/$t.log" | tail -1)
  if [ "$rc" = 0 ]; then
    printf '%-24s %12s execs %8s/s  %-10s ok\n' "$t" "${execs:-?}" "${rate:-?}" "$cov"
  else
    printf '%-24s %12s execs %8s/s  %-10s CRASH (%s)\n' "$t" "${execs:-?}" "${rate:-?}" "$cov" \
      "$(ls "$build/crashes/$t" | head -1)"
    return 1
  fi
}
export -f run_one
# shellcheck disable=SC2086
if ! printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$seconds" "$build"; then
  status=1
fi
exit $status

#!/usr/bin/env bash
# The test command: install what is missing, build with warnings as errors, and run every
# test under ctest: unit (with each fuzz target's committed inputs replayed), integration
# with real named, dovecot, fetchmail and the loopback provider, the fault suite, the
# senders' world, soak, and the Debian package installed and purged; then the threaded
# tests again under ThreadSanitizer.
#
# The order keeps a fresh 2-core CI machine well under 45 minutes:
#   1. the ASan+UBSan build, on every core;
#   2. in the background at nice 19, so they only take the CPU that the suite leaves idle
#      (most of it waits on real servers and timers): the Debian package, then the TSan
#      build and, beside it, the libFuzzer smoke (clang: every fuzz target for 10 s);
#   3. the ASan suite, every label but `package`;
#   4. the package test, on the .deb from step 2;
#   5. the libFuzzer smoke's result, then the TSan pass (tsan_pass below).
# Env: DYNMX_NO_SKIP (default 1): a skipped test fails the run, in each test binary (the
#      shared test main) and at the ctest level below. 0 only for a local non-root run.
#      DYNMX_SKIP_TSAN=1 skips the TSan build and pass (local iteration only; CI runs it).
#      DYNMX_RELEASE_PASS=1 also runs the suite on an optimised build first.
# The fuzz_replay_* tests run every target's corpus and kept crash inputs once under the
# GCC ASan+UBSan build; the libFuzzer smoke looks for new inputs for a few seconds per
# target; the long fuzzing run (10 minutes per target) is scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
export DYNMX_NO_SKIP=${DYNMX_NO_SKIP:-1}
started=$SECONDS
stamp() { echo "== [$(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s] $* =="; }

# Count what ctest ran from its JUnit file, print it, and fail on any test that did not
# run (skipped, not run, disabled) unless DYNMX_NO_SKIP=0: a skip hides a broken test.
check_ran() {
  local junit=$1 label=$2
  [ -s "$junit" ] || { echo "== $label: no ctest JUnit report ($junit) =="; return 1; }
  local head tests failures skipped disabled
  head=$(sed -n '/<testsuite/,/>/p' "$junit" | tr '\n\t' '  ')
  tests=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$head")
  failures=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$head")
  skipped=$(sed -n 's/.* skipped="\([0-9]*\)".*/\1/p' <<<"$head")
  disabled=$(sed -n 's/.* disabled="\([0-9]*\)".*/\1/p' <<<"$head")
  echo "== $label: ${tests:-?} tests, ${failures:-?} failed, ${skipped:-?} skipped, ${disabled:-?} disabled =="
  [ -n "$tests" ] && [ -n "$skipped" ] && [ -n "$disabled" ] || { echo "cannot read the counts"; return 1; }
  if [ "$DYNMX_NO_SKIP" != 0 ] && [ $((skipped + disabled)) -gt 0 ]; then
    echo "== $label: tests that did not run (DYNMX_NO_SKIP=$DYNMX_NO_SKIP: a skip is a failure) =="
    grep -o '<testcase name="[^"]*"[^>]*status="\(notrun\|disabled\)"' "$junit" | sed 's/<testcase name="\([^"]*\)".*/  \1/' || true
    return 1
  fi
}

configure() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DDYNMX_WERROR=ON "$@" >/dev/null
}
# The sanitizer builds carry line tables only (-g1), not full debug info: the reports and
# stack traces keep every file:line, and the compile takes about 15 % less CPU (the run is
# CPU-bound; docs/security.md, "Where the CI time goes"). Locals in gdb need a -g build.
sanitizer_debug_flags=(-DCMAKE_CXX_FLAGS_DEBUG=-g1)

# ctest in DIR with the given selection; JUnit to DIR/ctest-junit-NAME.xml, then checked.
run_ctest() {
  local dir=$1 name=$2; shift 2
  local status=0
  "${ctest_prefix[@]}" ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 \
    --output-junit "$PWD/$dir/ctest-junit-$name.xml" "$@" || status=$?
  check_ran "$dir/ctest-junit-$name.xml" "ctest ($dir, $name)" || status=1
  return "$status"
}
ctest_prefix=()

# The fault classes append one line per test to DIR/fault-summary.txt; a suite that wrote
# nothing (or left a class out) fails here.
fault_summary() {
  echo "== fault suite ($1): scenarios per class =="
  bash tests/fault/summary.sh "$1/fault-summary.txt"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ "${DYNMX_RELEASE_PASS:-0}" = 1 ]; then
  stamp "release build (RelWithDebInfo, -Werror) and its suite"
  configure build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build/release -j"$jobs"
  rm -f build/release/fault-summary.txt
  run_ctest build/release all -LE '^package$'
  fault_summary build/release
fi

stamp "ASan+UBSan build (-Werror)"
configure build/asan -DCMAKE_BUILD_TYPE=Debug "${sanitizer_debug_flags[@]}" -DDYNMX_SANITIZE=ON
cmake --build build/asan -j"$jobs"

# The background builds: the .deb (release, no tests; lintian must report no error), then
# beside each other the TSan build and the libFuzzer smoke. Their output goes to logs; a
# failure fails the run below.
mkdir -p build
rm -f build/package/dynmx_*.deb
(
  nice -n 19 bash scripts/package.sh build/package >build/package-build.log 2>&1
) &
package_job=$!

# The libFuzzer smoke: every fuzz target built with clang (ASan+UBSan+libFuzzer; only the
# pure libraries they link, about 150 CPU-s), its kept crash inputs replayed, then fuzzed
# for new inputs for DYNMX_FUZZ_SMOKE_SECONDS (default 10) each, one target at a time.
# libFuzzer's limit is wall time, so at nice 19 the smoke only takes CPU the suite leaves
# and never lengthens the run. A crash, a leak or a timeout fails the run (below).
# scripts/fuzz.sh is the long run (docs/security.md, "Fuzzing").
(
  while kill -0 "$package_job" 2>/dev/null; do sleep 5; done
  configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DDYNMX_FUZZ=ON -DDYNMX_BUILD_TESTS=OFF -DDYNMX_FUZZ_SMOKE_SECONDS="${DYNMX_FUZZ_SMOKE_SECONDS:-10}" &&
    nice -n 19 cmake --build build/fuzz -j"$jobs" --target fuzzers &&
    nice -n 19 ctest --test-dir build/fuzz -L '^fuzz$' -j1 --timeout 300 --output-on-failure \
      --output-junit "$PWD/build/fuzz/ctest-junit-fuzz.xml"
) >build/fuzz-smoke.log 2>&1 &
fuzz_job=$!
tsan_job=
if [ "${DYNMX_SKIP_TSAN:-0}" != 1 ]; then
  (
    while kill -0 "$package_job" 2>/dev/null; do sleep 5; done
    configure build/tsan -DCMAKE_BUILD_TYPE=Debug "${sanitizer_debug_flags[@]}" -DDYNMX_TSAN=ON &&
      nice -n 19 cmake --build build/tsan -j"$jobs"
  ) >build/tsan-build.log 2>&1 &
  tsan_job=$!
fi

status=0
stamp "the ASan suite (unit, integration, fault, world, soak)"
rm -f build/asan/fault-summary.txt
run_ctest build/asan suite -LE '^package$' || status=1
fault_summary build/asan || status=1

stamp "waiting for the Debian package"
if wait "$package_job"; then
  tail -n 3 build/package-build.log
  DYNMX_DEB=$(ls "$PWD"/build/package/dynmx_*.deb | head -n 1)
  export DYNMX_DEB
  stamp "the package test on $DYNMX_DEB"
  run_ctest build/asan package -L '^package$' || status=1
else
  tail -n 80 build/package-build.log
  echo "== the Debian package did not build (whole log: build/package-build.log) =="
  status=1
fi

# --- ThreadSanitizer pass ------------------------------------------------------------
# Threads exist: libcurl's threaded resolver, the test MailSink, the loopback provider's
# io thread, the control/metrics server harnesses, the guard, the real daemon. TSan cannot
# share a build with ASan, so this is a second build (build/tsan, -DDYNMX_TSAN=ON). It
# holds only what has threads to see (tests/CMakeLists.txt): the integration tests and the
# unit tests marked THREADS; not the fault suite, the world, soak, package, fuzz replays or
# benchmarks (ASan pass only: TSan sees no thread there that the integration tests do not
# already run). Excluded at run time: the 25 MB and kill tests of the guard (MultidropSlow,
# minutes under TSan, single-threaded where it matters), and the dyndns2 MX lever end to end
# (MxDyndns2EndToEnd: ~100 s of waiting, the account's min_interval of 10 s between MX
# requests and the way back to direct, which would be the TSan pass's whole tail; its
# threads are the daemon's, which MxSteeringE2E runs under TSan in 14 s).
# Every instrumented process (tests, `dynmx run`, dynmx-test-dyndns2d, even when they
# run as another user and their stderr goes to a log file) writes its reports to
# build/tsan/tsan-reports; any report there fails the pass.
tsan_pass() {
  local dir=build/tsan reports
  reports=$PWD/$dir/tsan-reports
  rm -rf "$reports" && mkdir -p "$reports" && chmod 1777 "$reports"  # the daemon may run as `dynmx`
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp:log_path=$reports/tsan"
  # GCC 12's TSan cannot map its shadow memory with more than 28 bits of mmap ASLR.
  ctest_prefix=()
  if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
    ctest_prefix=(setarch "$(uname -m)" -R)
  fi
  local pass=0
  run_ctest "$dir" tsan -L '^(unit|integration)$' -E '^(MultidropSlow|MxDyndns2EndToEnd)\.' || pass=1
  ctest_prefix=()
  if compgen -G "$reports/tsan.*" >/dev/null; then
    echo "== ThreadSanitizer reports =="
    cat "$reports"/tsan.*
    pass=1
  fi
  return "$pass"
}
stamp "waiting for the libFuzzer smoke"
if wait "$fuzz_job" && check_ran build/fuzz/ctest-junit-fuzz.xml "ctest (build/fuzz, libFuzzer smoke)"; then
  # One line per target: how many inputs it ran.
  awk '/^[0-9]+\/[0-9]+ Test: /{t=$3}
       /^stat::number_of_executed_units:/{if (t ~ /^fuzz_smoke_/) printf "  %-36s %10s inputs\n", t, $2}' \
    build/fuzz/Testing/Temporary/LastTest.log || true
else
  tail -n 60 build/fuzz-smoke.log
  echo "== the libFuzzer smoke failed (whole log: build/fuzz-smoke.log) =="
  status=1
fi

if [ -n "$tsan_job" ]; then
  stamp "waiting for the TSan build"
  if wait "$tsan_job"; then
    stamp "the TSan pass (threaded unit tests and integration)"
    tsan_pass || status=1
  else
    tail -n 80 build/tsan-build.log
    echo "== the TSan build failed (whole log: build/tsan-build.log) =="
    status=1
  fi
fi

stamp "done: $([ "$status" = 0 ] && echo passed || echo FAILED)"
exit "$status"

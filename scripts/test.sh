#!/usr/bin/env bash
# The test command: install what is missing, build with warnings as errors under
# ASan+UBSan, and run every test under ctest (unit, integration with real named, dovecot,
# fetchmail and the loopback provider, end to end); then a short smoke of every fuzz target.
# Env: DYNMX_RELEASE_PASS=1 also runs the suite on an optimised build first.
#      DYNMX_SKIP_FUZZ=1 skips the fuzz smoke (local iteration only; CI runs it).
#      DYNMX_NO_SKIP (default 1): a skipped test fails the run, in each test binary (the
#      shared test main) and at the ctest level below. 0 only for a local non-root run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
export DYNMX_NO_SKIP=${DYNMX_NO_SKIP:-1}

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

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DDYNMX_WERROR=ON "$@" >/dev/null || return 1
  cmake --build "$dir" -j"$jobs" || return 1
  rm -f "$dir/fault-summary.txt"   # the fault classes append one line per test
  local status=0
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 --output-junit "$PWD/$dir/ctest-junit.xml" || status=$?
  check_ran "$dir/ctest-junit.xml" "ctest ($dir)" || status=1
  # Always: a fault suite that wrote nothing (or left a class out) fails here.
  echo "== fault suite ($dir): scenarios per class =="
  bash tests/fault/summary.sh "$dir/fault-summary.txt" || status=1
  return "$status"
}

if [ "${DYNMX_RELEASE_PASS:-0}" = 1 ]; then
  echo "== release build (RelWithDebInfo, -Werror) =="
  run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi

# The Debian package, built once (release, no tests; lintian must report no error); the
# package test in the ASan suite installs this .deb, checks it and purges it.
echo "== Debian package (scripts/package.sh) =="
SECONDS=0
bash scripts/package.sh build/package
DYNMX_DEB=$(ls "$PWD"/build/package/dynmx_*.deb | head -n 1)
export DYNMX_DEB
echo "== Debian package: $DYNMX_DEB in ${SECONDS} s =="

if [ "${DYNMX_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz smoke (clang, libFuzzer + ASan/UBSan, 10 s per target) =="
  bash scripts/fuzz.sh 10
fi

echo "== sanitizer build (ASan+UBSan, -Werror) and the whole suite =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DDYNMX_SANITIZE=ON

# --- ThreadSanitizer pass (helper E; keep this block self-contained) -----------------
# Threads exist: libcurl's threaded resolver, the test MailSink, the loopback provider's
# io thread, the control/metrics server harnesses. TSan cannot share a build with ASan,
# so this is a second build (build/tsan, -DDYNMX_TSAN=ON; no fuzz targets in it).
# Labels run: unit and integration (threads: curl's resolver, the mail sinks, the provider,
# the control socket, the guard, the real daemon). The fault suite, the senders' world and
# the package test run in the ASan pass only: together they are ~20 minutes of a 2-core
# machine, and TSan sees no thread there that the integration tests do not already run.
# Excluded: the soak tests (Seeds/Month.*, MonthOfflineOnMultidrop.*, MonthChecker.*): one
# thread on ManualTime, nothing for TSan to see, and minutes of CPU under TSan.
# Every instrumented process (tests, `dynmx run`, dynmx-test-dyndns2d, even when they
# run as another user and their stderr goes to a log file) writes its reports to
# build/tsan/tsan-reports; any report there fails the pass.
# Env: DYNMX_SKIP_TSAN=1 skips it (local iteration only; CI runs it).
tsan_pass() {
  local dir=build/tsan reports
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDYNMX_TSAN=ON -DDYNMX_WERROR=ON >/dev/null
  cmake --build "$dir" -j"$jobs"
  reports=$PWD/$dir/tsan-reports
  rm -rf "$reports" && mkdir -p "$reports" && chmod 1777 "$reports"  # the daemon may run as `dynmx`
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp:log_path=$reports/tsan"
  # GCC 12's TSan cannot map its shadow memory with more than 28 bits of mmap ASLR.
  local norandom=()
  if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
    norandom=(setarch "$(uname -m)" -R)
  fi
  local status=0
  rm -f "$dir/fault-summary.txt"
  "${norandom[@]}" ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 600 \
    -L '^(unit|integration)$' -E '^(Seeds/Month|MonthOfflineOnMultidrop|MonthChecker|MultidropSlow)\.' \
    --output-junit "$PWD/$dir/ctest-junit.xml" || status=$?
  check_ran "$dir/ctest-junit.xml" "ctest ($dir)" || status=1
  if compgen -G "$reports/tsan.*" >/dev/null; then
    echo "== ThreadSanitizer reports =="
    cat "$reports"/tsan.*
    status=1
  fi
  return "$status"
}
if [ "${DYNMX_SKIP_TSAN:-0}" != 1 ]; then
  echo "== ThreadSanitizer build (-Werror) and the threaded suite (unit, integration, fault) =="
  SECONDS=0
  tsan_pass
  echo "== ThreadSanitizer pass: ${SECONDS} s =="
fi

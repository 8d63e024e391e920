#!/usr/bin/env bash
# The exposure measure (issues 10 and 11): every scenario of the senders' world in four
# columns side by side: DDNS only (mode = "direct"), dynmx without a DNS lever (auto),
# dynmx + MX steering (auto, [[mx]] lever rfc2136), dynmx + offline=YES (auto,
# offline_on_multidrop). Then one line per row with every count. Each row runs in its own
# network namespace (the world binary unshares itself), two at a time; 28 rows take about
# 16 minutes on 2 cores.
#
#   sudo bench/exposure.sh [--write]     # --write: also put the table into docs/benchmarks.md
#
# Env: EXPOSURE_BUILD_DIR (default build/dev), EXPOSURE_JOBS (default 2).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${EXPOSURE_BUILD_DIR:-$root/build/dev}"
jobs="${EXPOSURE_JOBS:-2}"

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/exposure.sh: needs root (the world builds its own network namespace)" >&2
  exit 2
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDYNMX_WERROR=ON >/dev/null
fi
cmake --build "$build" -j2 --target dynmx dynmx-test-dyndns2d dynmx_world_test >/dev/null

started=$(date +%s)
table="$(mktemp)"
trap 'rm -f "$table"' EXIT
status=0
"$build/tests/world/dynmx_world_test" --table --jobs "$jobs" >"$table" || status=$?
elapsed=$(( $(date +%s) - started ))
cat "$table"
echo "($(grep -c '^| [a-g]_' "$table") rows in ${elapsed}s, $jobs at a time; exit $status)" >&2

if [ "${1:-}" = "--write" ]; then
  doc="$root/docs/benchmarks.md"
  rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  python3 - "$doc" "$table" "$rev" <<'PY'
import sys, re, datetime
doc, table, rev = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
text = open(doc).read()
block = ("<!-- exposure:begin (bench/exposure.sh --write) -->\n"
         f"Measured {datetime.date.today()} at {rev} (`sudo bench/exposure.sh --write`):\n\n"
         + table + "<!-- exposure:end -->")
pat = re.compile(r"<!-- exposure:begin.*?<!-- exposure:end -->", re.S)
if not pat.search(text):
    sys.exit("docs/benchmarks.md has no exposure block to replace")
open(doc, "w").write(pat.sub(lambda m: block, text))
PY
fi
exit $status

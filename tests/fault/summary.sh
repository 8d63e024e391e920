#!/usr/bin/env bash
# Sum the fault suite's summary lines per class: tests/fault/summary.sh FILE
# Input lines: `fault class NAME: T tried, S survived, L messages lost[ (failed: ...)]`.
# Exit status 1 if any class has a scenario that did not survive or a lost message, or if
# an expected class did not report at all (a class that never ran proves nothing).
set -euo pipefail
# Every fault class the suite has; a new class adds its name here (one list, one place).
expected_classes=${DYNMX_FAULT_CLASSES:-"provider dns fetchmail files sigkill rfc2136"}
file=${1:?usage: summary.sh FILE}
[ -s "$file" ] || { echo "fault suite: no summary lines in $file"; exit 1; }
awk -v expected="$expected_classes" '
  /^fault class / {
    name = $3; sub(/:$/, "", name)
    if (!(name in tried)) order[++n] = name
    tried[name] += $4; survived[name] += $6; lost[name] += $8
  }
  END {
    bad = 0
    for (i = 1; i <= n; i++) {
      c = order[i]
      pct = tried[c] ? 100 * survived[c] / tried[c] : 0
      printf "fault class %-10s %3d scenarios tried, %3d survived (%3d%%), %d messages lost\n", c, tried[c], survived[c], pct, lost[c]
      if (survived[c] != tried[c] || lost[c] != 0 || tried[c] == 0) bad = 1
    }
    m = split(expected, want, " ")
    for (i = 1; i <= m; i++) {
      if (!(want[i] in tried)) {
        printf "fault class %-10s did not report at all: FAILED\n", want[i]
        bad = 1
      }
    }
    exit bad
  }' "$file"

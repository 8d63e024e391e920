#!/usr/bin/env bash
# The live demonstration: installs what is missing, builds, then runs dynmx in a loopback
# world (BIND9, a dyndns2 provider, dovecot as the ISP box, the real fetchmail, a mail
# sink) through a healthy start, a hijack, and a recovery, with `dynmx status` at each step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNMX_WERROR=ON >/dev/null
cmake --build build/release -j"$(nproc)" --target dynmx dynmx-test-dyndns2d dynmx-demo
exec build/release/tests/demo/dynmx-demo

#!/usr/bin/env bash
# One command: dynmx beside ddclient and inadyn against one loopback dyndns2 provider
# (issue 5). Installs the peers if missing, builds dynmx and the provider (Release, in
# build/bench), runs every measure inside a network namespace that has only lo and a veth
# pair, prints the tables and writes docs/benchmarks.md.
#
#   sudo bench/run.sh [--quick]        # root: it creates a network namespace
#
# Env: BENCH_BUILD_DIR (default build/bench), BENCH_NETNS (default dynmxbench).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${BENCH_BUILD_DIR:-$root/build/bench}"
netns="${BENCH_NETNS:-dynmxbench}"
work="$build/bench-run"   # kept after the run: results.json, every config and log

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: needs root (network namespace, interface addresses)" >&2
  exit 2
fi

# --- peers and tools from Debian, without starting their services ------------------------
need=()
# named, dovecot and fetchmail for the loopback world (measures 5 and 6) come from
# scripts/deps.sh, as for the test suite.
for p in ddclient inadyn openssl iproute2 python3 bind9 bind9-utils bind9-dnsutils dovecot-core dovecot-pop3d fetchmail curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "bench: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  policy_rc=/usr/sbin/policy-rc.d
  created=0
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    created=1
  fi
  # ddclient's debconf questions get their defaults; its service stays off.
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  if [ "$created" = 1 ]; then rm -f "$policy_rc"; fi
fi

# --- build -------------------------------------------------------------------------------
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYNMX_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target dynmx dynmx-test-dyndns2d dynmx-bench-rusage dynmx-bench-world -j2
dynmx="$build/daemon/dynmx"
dyndns2d="$build/tests/dyndns2d/dynmx-test-dyndns2d"
rusage="$build/bench/dynmx-bench-rusage"
world="$build/bench/dynmx-bench-world"   # failover + dynmx idle in the test suite's loopback world

# --- namespace: lo + a veth pair, no route out -------------------------------------------
cleanup() { ip netns del "$netns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns del "$netns" 2>/dev/null || true
rm -rf "$work" && mkdir -p "$work"
ip netns add "$netns"
ip -n "$netns" link set lo up
ip -n "$netns" link add bv0 type veth peer name bv1
ip -n "$netns" link set bv0 up
ip -n "$netns" link set bv1 up
ip -n "$netns" addr add 203.0.113.10/24 dev bv0

# A throwaway CA-less self-signed certificate for 127.0.0.1 (the https IP-check source).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/ip.key" -out "$work/ip.crt" -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

# `ip netns exec` gives the command its own mount namespace (slave of the host's): the bind
# mount of the bench certificate over the CA bundle is seen by the benchmark only.
git_rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
ip netns exec "$netns" sh -c '
  mount --bind "$1" /etc/ssl/certs/ca-certificates.crt || exit 3
  shift
  exec /usr/bin/python3 "$@"' sh "$work/ip.crt" "$here/bench.py" \
  --dynmx "$dynmx" --dyndns2d "$dyndns2d" --rusage "$rusage" --world "$world" --cert "$work/ip.crt" --key "$work/ip.key" \
  --work "$work/run" --netns "$netns" --git "$git_rev" --out "$root/docs/benchmarks.md" "$@"

#!/usr/bin/env bash
# Install every Debian 12 package dynmx needs to build, test and demo.
# Idempotent: installs only what is missing. Non-interactive.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev
  libcurl4-openssl-dev libc-ares-dev libspdlog-dev libfmt-dev libssl-dev openssl
  libgtest-dev libgmock-dev googletest
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libsystemd-dev libcap-ng-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  bind9 bind9-utils bind9-dnsutils
  dovecot-core dovecot-pop3d dovecot-imapd
  fetchmail python3 iproute2 procps curl ca-certificates util-linux
  # wave 2: the senders' world (real Postfix senders and ISP relay, unbound as the
  # senders' resolver), RFC 2136 with TSIG through ldns, the Debian package and its checks
  postfix unbound libldns-dev ldnsutils swaks
  debhelper dpkg-dev fakeroot lintian man-db groff-base systemd bash-completion
  ccache
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The unprivileged user `dynmx run` drops to when started as root (as the package would
# create it); the tests run the daemon as root and check that it does.
ensure_user() {
  if ! getent passwd dynmx >/dev/null; then
    echo "deps: creating system user dynmx"
    local s=""; [ "$(id -u)" -ne 0 ] && s="sudo"
    $s useradd --system --user-group --no-create-home --home-dir /var/lib/dynmx --shell /usr/sbin/nologin dynmx
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  ensure_user
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure the system instance; the tests run their own instances.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string localhost.test" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# Do not let package post-install scripts start system daemons (bind9, dovecot):
# the tests run their own instances on loopback high ports.
policy_rc=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy_rc" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc" >/dev/null
  $SUDO chmod 755 "$policy_rc"
  created_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy_rc"; fi
ensure_user
echo "deps: done"

#!/usr/bin/env bash
# The Debian package, end to end on the test machine (root; CI): build it (or take
# $DYNMX_DEB), print lintian's verdict, dpkg -i, check what an admin relies on, run the
# daemon once on the shipped policy, dpkg --purge, and check nothing is left but the
# dynmx user (kept, as Debian policy advises). Whatever happens, the package is purged
# and the daemon stopped on exit, so a later run on the same machine starts clean.
# Usage: package_test.sh OUTDIR
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: package_test.sh OUTDIR}
failures=0
daemon_pid=""
tmp=$(mktemp -d /tmp/dynmx-package-test.XXXXXX)

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
die() { echo "FAIL: $*"; exit 1; }
installed() { dpkg-query -W -f='${Status}' dynmx 2>/dev/null | grep -q ' installed$'; }
present() { [ -n "$(dpkg-query -W -f='${Status}' dynmx 2>/dev/null | grep -v 'not-installed')" ]; }

cleanup() {
  local status=$?
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  if present; then
    echo "cleanup: purging dynmx"
    dpkg --purge dynmx >/dev/null 2>&1 || echo "cleanup: dpkg --purge dynmx failed"
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[ "$(id -u)" -eq 0 ] || die "must run as root (CI does): it installs and purges the package with dpkg"
for tool in dpkg dpkg-buildpackage dpkg-query systemd-analyze man lintian python3; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh"
done
if present; then
  echo "note: dynmx is installed (an earlier run was killed?): purging it before the test"
  dpkg --purge dynmx >/dev/null || die "cannot purge the dynmx left installed"
fi

# --- build -----------------------------------------------------------------------------
SECONDS=0
if [ -n "${DYNMX_DEB:-}" ]; then
  [ -f "$DYNMX_DEB" ] || die "DYNMX_DEB=$DYNMX_DEB does not exist"
  deb=$DYNMX_DEB
  echo "== lintian $deb =="
  lint=$(lintian --info --display-info --tag-display-limit 0 "$deb" 2>&1)
  echo "${lint:-(no tags)}"
  grep -q '^E: ' <<<"$lint" && fail "lintian reports errors"
else
  bash "$src/scripts/package.sh" "$out" || die "scripts/package.sh failed (build or lintian errors)"
  deb=$(ls "$out"/dynmx_*.deb | head -n 1)
fi
echo "package: $deb (built and linted in ${SECONDS} s)"

# --- install ---------------------------------------------------------------------------
echo "== dpkg -i =="
dpkg -i "$deb" || die "dpkg -i $deb failed"
installed || die "dpkg says dynmx is not installed after dpkg -i"
mapfile -t files < <(dpkg -L dynmx)

for f in /usr/bin/dynmx /etc/dynmx/dynmx.toml /usr/share/man/man8/dynmx.8.gz \
  /usr/share/man/man5/dynmx.toml.5.gz /usr/share/bash-completion/completions/dynmx \
  /usr/lib/sysusers.d/dynmx.conf /usr/lib/tmpfiles.d/dynmx.conf /usr/share/doc/dynmx/guide.md \
  /usr/share/doc/dynmx/README.md /usr/share/doc/dynmx/configuration.md \
  /usr/share/doc/dynmx/copyright /usr/share/doc/dynmx/changelog.gz \
  /usr/share/doc/dynmx/examples/dynmx.toml; do
  [ -e "$f" ] || fail "$f is not installed"
done
[ -x /usr/bin/dynmx ] || fail "/usr/bin/dynmx is not executable"
dpkg-query -W -f='${Conffiles}\n' dynmx | grep -q '^ /etc/dynmx/dynmx.toml ' ||
  fail "/etc/dynmx/dynmx.toml is not a conffile"
deps=$(dpkg-query -W -f='${Depends}' dynmx)
echo "Depends: $deps"
grep -q 'fetchmail' <<<"$deps" || fail "Depends lacks fetchmail"
grep -q 'libc6' <<<"$deps" || fail "Depends is not computed from the shared libraries (no libc6)"

unit=$(printf '%s\n' "${files[@]}" | grep '/systemd/system/dynmx.service$' | head -n 1)
[ -n "$unit" ] && [ -f "$unit" ] || die "the systemd unit is not installed"
echo "unit: $unit"
grep -q '^ExecStart=/usr/bin/dynmx run -c /etc/dynmx/dynmx.toml ' "$unit" ||
  fail "the unit does not run /usr/bin/dynmx on /etc/dynmx/dynmx.toml"
# Installed disabled and not started (debian/rules): no wants link, not marked enabled.
[ ! -e /etc/systemd/system/multi-user.target.wants/dynmx.service ] || fail "the unit was enabled on install"

# --- the user and its directories --------------------------------------------------------
getent passwd dynmx >/dev/null || fail "the dynmx user does not exist"
for d in /var/lib/dynmx /run/dynmx; do
  got=$(stat -c '%U:%G %a' "$d" 2>/dev/null) || { fail "$d does not exist"; continue; }
  [ "$got" = "dynmx:dynmx 750" ] || fail "$d is $got, expected dynmx:dynmx 750"
done
# The sysusers.d entry creates the user where it does not exist yet: try it on an empty root.
mkdir -p "$tmp/root/etc" "$tmp/root/usr/lib/sysusers.d"
grep -v '^dynmx:' /etc/passwd >"$tmp/root/etc/passwd"
grep -v '^dynmx:' /etc/group >"$tmp/root/etc/group"
: >"$tmp/root/etc/shadow"; : >"$tmp/root/etc/gshadow"
cp /usr/lib/sysusers.d/dynmx.conf "$tmp/root/usr/lib/sysusers.d/"
if systemd-sysusers --root="$tmp/root" dynmx.conf; then
  entry=$(grep '^dynmx:' "$tmp/root/etc/passwd")
  [[ $entry == dynmx:x:*:*:*:/var/lib/dynmx:/usr/sbin/nologin ]] ||
    fail "sysusers.d/dynmx.conf made '$entry', expected home /var/lib/dynmx, shell nologin"
else
  fail "systemd-sysusers rejects sysusers.d/dynmx.conf"
fi

# --- systemd-analyze verify, offline (no systemd runs in CI) ----------------------------
echo "== systemd-analyze verify $unit =="
# --man=yes: the unit's Documentation=man: pages must exist (they are installed now).
verify=$(systemd-analyze verify --man=yes --generators=no "$unit" 2>&1)
rc=$?
echo "${verify:-(clean)}"
[ $rc -eq 0 ] && [ -z "$verify" ] || fail "systemd-analyze verify: exit $rc, output above"

# --- the shipped policy ------------------------------------------------------------------
echo "== dynmx check =="
got=$(/usr/bin/dynmx check -c /etc/dynmx/dynmx.toml 2>&1)
rc=$?
echo "$got"
[ $rc -eq 0 ] && [ "$got" = "/etc/dynmx/dynmx.toml: OK" ] || fail "dynmx check on the installed policy: exit $rc"
got=$(cd / && /usr/bin/dynmx check 2>&1)
[ "$got" = "/etc/dynmx/dynmx.toml: OK" ] || fail "dynmx check without -c does not read /etc/dynmx/dynmx.toml: $got"
# Uncommented as the file invites (every '# key = value' and '# [table]'), switched to
# auto with DDNS on and the password files pointed at real 0600 files, it is a valid policy.
printf 'x\n' >"$tmp/isp.pw"; printf 'y\n' >"$tmp/ddns.pw"; chmod 600 "$tmp"/*.pw
# The daemon user must be able to read its secrets, and nobody else (docs/security.md).
chown dynmx "$tmp"/*.pw
python3 - "$tmp" <<'PY' || fail "the starter policy, uncommented, is not a valid auto policy"
import re, subprocess, sys
tmp = sys.argv[1]
out = []
for line in open("/etc/dynmx/dynmx.toml").read().splitlines():
    if re.match(r"^# (\[|[a-z_]+ = )", line) and not line.startswith("# static_address"):
        line = line[2:]
    out.append(line)
text = "\n".join(out) + "\n"
text = text.replace('mode = "direct"', 'mode = "auto"').replace("enabled = false", "enabled = true")
text = text.replace("/etc/dynmx/isp.password", tmp + "/isp.pw").replace("/etc/dynmx/ddns.password", tmp + "/ddns.pw")
open(tmp + "/auto.toml", "w").write(text)
r = subprocess.run(["/usr/bin/dynmx", "check", "-c", tmp + "/auto.toml"], capture_output=True, text=True)
print("starter policy uncommented, mode auto:", r.stdout.strip())
sys.exit(r.returncode)
PY

# --- the daemon starts on it, as the unit starts it (as root here: it drops to dynmx) ----
echo "== dynmx run on the shipped policy =="
/usr/bin/dynmx check -c /etc/dynmx/dynmx.toml --quiet || fail "ExecStartPre (check --quiet) fails"
/usr/bin/dynmx run -c /etc/dynmx/dynmx.toml --log stderr >"$tmp/run.log" 2>&1 &
daemon_pid=$!
status_rc=9
for _ in $(seq 1 60); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  /usr/bin/dynmx status >"$tmp/status.txt" 2>&1 && { status_rc=0; break; }
  sleep 0.5
done
if [ "$status_rc" -ne 0 ]; then
  fail "the daemon did not come up on the shipped policy (log and last status below)"
  cat "$tmp/run.log" "$tmp/status.txt"
else
  head -n 1 "$tmp/status.txt"
  grep -q '^dynmx: OK: mail via direct' "$tmp/status.txt" || fail "status is not 'OK: mail via direct'"
  [ -S /run/dynmx/control.sock ] || fail "no control socket at /run/dynmx/control.sock"
fi
if kill -0 "$daemon_pid" 2>/dev/null; then
  kill -TERM "$daemon_pid"
  wait "$daemon_pid"
  rc=$?
  [ $rc -eq 0 ] || fail "the daemon exited $rc on SIGTERM"
else
  wait "$daemon_pid"
  fail "the daemon exited on its own ($?)"
  cat "$tmp/run.log"
fi
daemon_pid=""
grep -q 'running as user dynmx' "$tmp/run.log" || fail "the daemon did not drop to the dynmx user"

# --- man pages and completion ------------------------------------------------------------
echo "== man --warnings =="
for page in /usr/share/man/man8/dynmx.8.gz /usr/share/man/man5/dynmx.toml.5.gz; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >"$tmp/page.txt")
  [ -z "$warnings" ] || fail "man --warnings $page: $warnings"
  grep -q '^NAME' "$tmp/page.txt" || fail "$page renders no NAME section"
  echo "$page: $(wc -l <"$tmp/page.txt") lines, no warnings"
done
echo "== bash completion =="
# shellcheck disable=SC2016
comp=$(bash -c '
  source /usr/share/bash-completion/bash_completion
  _completion_loader dynmx
  t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        _dynmx dynmx "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"; echo "${COMPREPLY[*]}"; }
  t dynmx ch; t dynmx run --log j; t dynmx status --js' 2>&1)
echo "$comp"
[ "$comp" = $'check\njournald\n--json' ] || fail "bash completion: expected check / journald / --json"

# --- purge -------------------------------------------------------------------------------
echo "== dpkg --purge =="
dpkg --purge dynmx || fail "dpkg --purge dynmx failed"
present && fail "dpkg still knows dynmx after purge"
for f in "${files[@]}"; do
  [ -d "$f" ] && continue  # shared directories (/usr/bin, ...) stay
  [ -e "$f" ] || [ -L "$f" ] && fail "$f is left after purge"
done
for f in /etc/dynmx /var/lib/dynmx /run/dynmx /usr/share/doc/dynmx /usr/bin/dynmx \
  /etc/systemd/system/multi-user.target.wants/dynmx.service; do
  [ -e "$f" ] && fail "$f is left after purge"
done
compgen -G '/var/lib/systemd/deb-systemd-helper-*/*dynmx*' >/dev/null && fail "deb-systemd-helper state is left"
getent passwd dynmx >/dev/null && echo "kept: the dynmx system user (Debian policy: a removed user's uid could be reused and inherit its files)"

echo "package test: $failures failure(s), ${SECONDS} s in all"
[ "$failures" -eq 0 ]

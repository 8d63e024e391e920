#!/usr/bin/env bash
# Build the Debian package of dynmx with dpkg-buildpackage from debian/, in a scratch copy
# of the working tree (uncommitted changes included, build dirs and ignored files not), and
# put dynmx_VERSION_ARCH.deb (with its .buildinfo and .changes) in OUTDIR, default
# build/package. Then print lintian's verdict on the .deb; exit 1 if lintian reports an
# error (E:), so the build cannot silently regress.
# Usage: bash scripts/package.sh [OUTDIR]
# Env:   DYNMX_PACKAGE_JOBS  parallel jobs (default: nproc)
#        DYNMX_SKIP_LINTIAN=1  skip lintian (local iteration only)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${1:-build/package}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=${DYNMX_PACKAGE_JOBS:-$(nproc)}

version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=dynmx_${version}_${arch}.deb

# A fixed build path per OUTDIR: ccache keys on the compiler's paths, so a second package
# build of unchanged sources is served from the cache.
work=$out/src
rm -rf "$work"
trap 'rm -rf "$work"' EXIT
tree=$work/dynmx-$version
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # The files git tracks or would track, as they are now; deleted ones are skipped.
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done | tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi

# debhelper (compat 13) points HOME at a scratch dir during the build: keep ccache's cache.
if command -v ccache >/dev/null 2>&1; then
  CCACHE_DIR=$(ccache -k cache_dir)
  export CCACHE_DIR
fi

echo "== dpkg-buildpackage: dynmx $version ($arch), $jobs jobs =="
SECONDS=0
(cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -us -uc -b) \
  >"$out/build.log" 2>&1 || {
  tail -n 60 "$out/build.log"
  echo "package: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
build_seconds=$SECONDS
rm -f "$out"/dynmx_* "$out"/dynmx-dbgsym_*
mv "$work"/dynmx_"$version"_* "$work"/dynmx-dbgsym_"$version"_* "$out"/ 2>/dev/null || true
[ -e "$out/$deb" ] || { echo "package: $deb was not produced" >&2; exit 1; }
echo "package: $out/$deb built in ${build_seconds} s"

if [ "${DYNMX_SKIP_LINTIAN:-0}" = 1 ]; then
  exit 0
fi
echo "== lintian $deb =="
lintian_out=$(lintian --info --display-info --tag-display-limit 0 "$out/$deb" 2>&1) || true
echo "${lintian_out:-(no tags)}"
if grep -q '^E: ' <<<"$lintian_out"; then
  echo "package: lintian reports errors" >&2
  exit 1
fi

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build Silo's Debian packages from the current source tree (committed or not) and leave the
# .deb files in OUTDIR. Usage: packaging/build-debs.sh OUTDIR
#
# dpkg-buildpackage needs debian/ at the top of the tree and writes its results into the
# tree's parent, so the build happens in a temporary copy: the tree's files (git's tracked and
# untracked ones, without what .gitignore names such as build directories), plus
# packaging/debian as debian/. Nothing is written into the source tree or its parent.
# Build-dependencies: packaging/debian/control (scripts/install-deps.sh installs them).
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
outdir=$1
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/packaging/debian/control" ] || {
    echo "build-debs: $src/packaging/debian/control not found" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/silo-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/silo"

# The file list: git's view when $src is a checkout (so build-* and other ignored output is
# left out), otherwise everything but build directories (an unpacked release tarball).
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Deleted-but-not-yet-committed files are still listed by ls-files: keep what exists.
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null --no-recursion -cf - -T -) | tar -xf - -C "$work/silo"
else
    tar -C "$src" --exclude='./build*' --exclude=./.git --exclude=./debian -cf - . |
        tar -xf - -C "$work/silo"
fi
rm -rf "$work/silo/debian"
cp -a "$src/packaging/debian" "$work/silo/debian"

# Two jobs (the machines we build on have two cores), no -dbgsym packages, and nocheck: the
# test suites need root and a VM (packaging/debian/rules). The caller's DEB_BUILD_OPTIONS
# come first.
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck noddebs parallel=2"
(cd "$work/silo" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log" >&2
    echo "build-debs: dpkg-buildpackage failed (last 60 lines above)" >&2
    exit 1
}

mkdir -p "$outdir"
# Only the packages of an earlier run are replaced: OUTDIR may hold other files.
rm -f "$outdir"/silo-*_*.deb "$outdir"/siloctl_*.deb
mv "$work"/*.deb "$outdir"/
cp "$work/build.log" "$outdir/build.log"
ls -1 "$outdir"/*.deb

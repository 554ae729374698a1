#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build Silo's Debian packages from the current source tree (committed or not) and leave the
# .deb files in OUTDIR; then, when a COMMAND follows, run it (tests: the packages are built on
# the host before the test runs, and only when the tree changed).
# Usage: packaging/build-debs.sh OUTDIR [COMMAND [ARGS...]]
#
# dpkg-buildpackage needs debian/ at the top of the tree and writes its results into the
# tree's parent, so the build happens in a temporary copy: the tree's files (git's tracked and
# untracked ones, without what .gitignore names such as build directories), plus
# packaging/debian as debian/. Nothing is written into the source tree or its parent.
# OUTDIR/fingerprint is a hash of those files' names and contents: when it matches, the
# packages in OUTDIR are already those of this tree and nothing is built.
# Build-dependencies: packaging/debian/control (scripts/install-deps.sh installs them).
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR [COMMAND [ARGS...]]" >&2
    exit 2
fi
outdir=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/packaging/debian/control" ] || {
    echo "build-debs: $src/packaging/debian/control not found" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/silo-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The file list: git's view when $src is a checkout (so build-* and other ignored output is
# left out; files deleted but not yet committed are still listed, so keep what exists),
# otherwise everything but build directories (an unpacked release tarball).
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done) \
        >"$work/files"
else
    (cd "$src" && find . \( -path './build*' -o -path ./.git -o -path ./debian \) -prune -o \
        \( -type f -o -type l \) -printf '%P\0') >"$work/files"
fi
fingerprint=$(cd "$src" && xargs -0 sha256sum <"$work/files" | sha256sum | cut -d' ' -f1)

# One check-and-build at a time per OUTDIR: the README's test command runs the host
# "packages" suite and vm-packages at the same time, and two builds replacing the same debs
# would let one read a half-replaced set. Released before COMMAND runs.
mkdir -p "$outdir"
exec 9>>"$outdir/.lock"
flock 9
if [ -f "$outdir/fingerprint" ] && [ "$(cat "$outdir/fingerprint")" = "$fingerprint" ] &&
    ls "$outdir"/silo-agent_*.deb >/dev/null 2>&1; then
    echo "build-debs: the packages in $outdir are up to date"
else
    mkdir "$work/silo"
    (cd "$src" && tar --null --no-recursion -cf - -T "$work/files") | tar -xf - -C "$work/silo"
    rm -rf "$work/silo/debian"
    cp -a "$src/packaging/debian" "$work/silo/debian"

    # Two jobs (the machines we build on have two cores), no -dbgsym packages, and nocheck:
    # the test suites need root and a VM (packaging/debian/rules). The caller's
    # DEB_BUILD_OPTIONS come first.
    export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck noddebs parallel=2"
    echo "build-debs: building the packages into $outdir (log: $outdir/build.log)"
    (cd "$work/silo" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
        tail -n 60 "$work/build.log" >&2
        echo "build-debs: dpkg-buildpackage failed (last 60 lines above)" >&2
        exit 1
    }

    # Only the packages of an earlier run are replaced: OUTDIR may hold other files.
    rm -f "$outdir"/silo-*_*.deb "$outdir"/siloctl_*.deb "$outdir/fingerprint"
    mv "$work"/*.deb "$outdir"/
    cp "$work/build.log" "$outdir/build.log"
    # What `meson install --prefix /usr --destdir debian/tmp` (dh_auto_install) put where, for
    # tests/host/packages.sh: the layout of a plain meson install, before dh splits it.
    (cd "$work/silo/debian/tmp" && find . -mindepth 1 ! -type d | sed 's|^\./||' | sort) \
        >"$outdir/install-files.txt"
    echo "$fingerprint" >"$outdir/fingerprint"
fi
ls -1 "$outdir"/*.deb
exec 9>&-

if [ $# -gt 0 ]; then
    rm -rf "$work"
    trap - EXIT
    exec "$@"
fi

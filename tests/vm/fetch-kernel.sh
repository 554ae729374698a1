#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Fetch Debian 12's 6.1 kernel image and modules into a cache for the VM harness, never into /boot.
#
# Usage: tests/vm/fetch-kernel.sh [--print]
#   --print   print the cache directory of the kernel (the extracted package root) on stdout
#
# The package is the one linux-image-amd64 depends on (linux-image-6.1.0-N-amd64). It is
# downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into
# $SILO_VM_CACHE (default /var/cache/silo-vm)/<package>_<version>/ only when that directory is
# not already complete; `apt-get update` runs only if the download fails (stale lists).
set -euo pipefail

cache="${SILO_VM_CACHE:-/var/cache/silo-vm}"
print=0
case "${1:-}" in
    --print) print=1 ;;
    "") ;;
    *) echo "fetch-kernel: unknown argument '$1' (usage: $0 [--print])" >&2; exit 2 ;;
esac

say() { echo "fetch-kernel: $*" >&2; }

mkdir -p "$cache"
# Two callers (install-deps and a first VM run) must not unpack into the same place at once.
exec 9>"$cache/.lock"
flock 9

# A complete cache entry has a kernel image and a modules.dep next to it; "done" is written last.
entry_ok() { [ -f "$1/done" ] && ls "$1"/boot/vmlinuz-* >/dev/null 2>&1; }

# Which image package does the meta package point at? apt-cache reads local lists only.
resolve_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}

# apt-cache takes seconds here (no pkgcache.bin): reuse the last answer while the package
# lists are unchanged since it was given.
resolved="$cache/resolved"
if [ -f "$resolved" ] && [ "$resolved" -nt /var/lib/apt/lists ]; then
    dir="$(cat "$resolved")"
    if entry_ok "$dir"; then
        [ "$print" = 1 ] && echo "$dir"
        exit 0
    fi
fi

pkg="$(resolve_pkg || true)"
if [ -z "$pkg" ]; then
    # No package lists yet (fresh machine): a cached kernel is good enough; otherwise update once.
    newest="$(ls -d "$cache"/linux-image-*/ 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -n "$newest" ] && entry_ok "${newest%/}"; then
        [ "$print" = 1 ] && echo "${newest%/}"
        exit 0
    fi
    say "linux-image-amd64 unknown to apt-cache, running apt-get update"
    apt-get update -q >&2
    pkg="$(resolve_pkg)"
    if [ -z "$pkg" ]; then
        say "cannot resolve linux-image-amd64 to a kernel image package"
        exit 1
    fi
fi

ver="$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')"
if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    say "no candidate version for $pkg"
    exit 1
fi
dir="$cache/${pkg}_${ver}"

if ! entry_ok "$dir"; then
    tmp="$(mktemp -d "$cache/.dl.XXXXXX")"
    # apt-get download drops privileges to _apt when that user can write the directory.
    chmod 0755 "$tmp"
    chown _apt "$tmp" 2>/dev/null || true
    trap 'rm -rf "$tmp"' EXIT
    say "downloading $pkg $ver into $cache"
    if ! (cd "$tmp" && apt-get download -q "$pkg=$ver" >&2); then
        say "download failed, running apt-get update and retrying"
        apt-get update -q >&2
        ver="$(apt-cache policy "$pkg" | sed -n 's/^ *Candidate: //p')"
        dir="$cache/${pkg}_${ver}"
        (cd "$tmp" && apt-get download -q "$pkg=$ver" >&2)
    fi
    deb="$(ls "$tmp"/*.deb)"
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    # depmod needs a System.map-free run against the unpacked tree; Debian ships modules.dep
    # only through postinst, so build it here (-b: base directory, never the host's /lib).
    kver="$(basename "$(ls -d "$dir"/lib/modules/*/ | head -n1)")"
    depmod -b "$dir" "$kver"
    touch "$dir/done"
    say "kernel $kver cached in $dir"
fi

echo "$dir" >"$resolved"
if [ "$print" = 1 ]; then
    echo "$dir"
fi

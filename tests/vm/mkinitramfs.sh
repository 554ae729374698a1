#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build the VM harness's initramfs: static busybox, the guest init, kernel modules with their
# dependencies in load order. The run directory (config, shares, command) is not in it:
# run-vm.sh appends that as a second cpio archive per boot (the kernel unpacks concatenated
# archives in turn), so this image depends only on its inputs and run-vm.sh caches it.
#
# Usage: mkinitramfs.sh KERNEL_DIR OUT.cpio MODULE[=PARAMS]...
#   KERNEL_DIR  a tree unpacked by fetch-kernel.sh (boot/vmlinuz-*, lib/modules/<kver>/)
#   MODULE      a module name; "=PARAMS" (space-separated key=value) is passed to insmod
# Modules are resolved with modprobe --show-depends against KERNEL_DIR (never the host's
# /lib/modules); builtins are skipped; .ko.xz/.ko.zst are decompressed because busybox
# insmod takes plain ELF only.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 KERNEL_DIR OUT.cpio MODULE[=PARAMS]..." >&2
    exit 2
fi
kdir="$1"; out="$2"; shift 2
here="$(cd "$(dirname "$0")" && pwd)"

kver="$(basename "$(ls -d "$kdir"/lib/modules/*/ | head -n1)")"
# busybox-static installs /bin/busybox; a dynamically linked one would need its libraries.
busybox=/bin/busybox
if [ ! -x "$busybox" ] || [[ "$(LC_ALL=C ldd "$busybox" 2>&1 || true)" != *"not a dynamic executable"* ]]; then
    echo "mkinitramfs: $busybox is missing or not static (install busybox-static)" >&2
    exit 1
fi

stage="$(mktemp -d "${TMPDIR:-/tmp}/silo-initramfs.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,modules,silo}
cp "$busybox" "$stage/bin/busybox"
cp "$here/init.sh" "$stage/init"
cp "$here/stage2.sh" "$stage/silo/stage2.sh"
chmod 0755 "$stage/init" "$stage/silo/stage2.sh"

# Resolve every requested module to its dependency chain, deduplicated, in load order.
declare -A seen=()
declare -A params=()
n=0
: >"$stage/modules/order"
names=()
for spec in "$@"; do
    name="${spec%%=*}"
    names+=("$name")
    if [ "$name" != "$spec" ]; then
        params[$name]="${spec#*=}"
    fi
done
for name in "${names[@]}"; do
    if ! deps="$(modprobe -d "$kdir" -S "$kver" -C /dev/null --show-depends "$name" 2>&1)"; then
        echo "mkinitramfs: module '$name' (from the module list) not found for kernel $kver: $deps" >&2
        exit 1
    fi
    while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        [ -z "${seen[$path]:-}" ] || continue
        seen[$path]=1
        base="$(basename "$path")"
        mod="${base%%.ko*}"
        dst="$stage/modules/$(printf '%02d' "$n")-$mod.ko"
        case "$path" in
            *.ko.xz) xz -dc "$path" >"$dst" ;;
            *.ko.zst) zstd -qdc "$path" >"$dst" ;;
            *.ko.gz) gzip -dc "$path" >"$dst" ;;
            *) cp "$path" "$dst" ;;
        esac
        n=$((n + 1))
        # modprobe spells module names with either '-' or '_'; match both.
        p="${params[$mod]:-${params[${mod//_/-}]:-}}"
        echo "$(basename "$dst") $p" >>"$stage/modules/order"
    done <<<"$deps"
done

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$out"

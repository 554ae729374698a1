#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Run one command as root inside a qemu (TCG) guest booted with Debian's 6.1 kernel, cgroup v2
# and null_blk, and exit with the command's exit status (KERNEL-TESTING.md, tests/vm/README.md).
#
# Usage: run-vm.sh [--systemd] [--timeout SEC] [--mem MiB] [--null-blk "PARAMS"]
#                  [--modules "mod1 mod2"] -- COMMAND [ARGS...]
#
# Exit status: COMMAND's (77 = skipped); 1 with the console tail on a boot failure, a kernel
# panic, a missing exit marker or a timeout; 2 on bad usage.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    sed -n 's/^# Usage: //p; s/^#                  /              /p' "${BASH_SOURCE[0]}" | head -n2 >&2
    exit 2
}

say() { echo "run-vm: $*" >&2; }

mode=plain
timeout=300
mem=2048
null_blk="nr_devices=1 gb=1"
extra_modules=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --systemd) mode=systemd; shift ;;
        --timeout) timeout="${2:-}"; shift 2 || usage ;;
        --mem) mem="${2:-}"; shift 2 || usage ;;
        --null-blk) null_blk="${2:-}"; shift 2 || usage ;;
        --modules) extra_modules="${2:-}"; shift 2 || usage ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) say "unknown option '$1'"; usage ;;
    esac
done
if [ "$#" -eq 0 ]; then
    say "no COMMAND given after --"
    usage
fi
if ! [[ "$timeout" =~ ^[1-9][0-9]*$ ]]; then
    say "--timeout: '$timeout' is not a positive number of seconds"
    exit 2
fi
if ! [[ "$mem" =~ ^[1-9][0-9]*$ ]] || [ "$mem" -lt 256 ]; then
    say "--mem: '$mem' is not a number of MiB >= 256"
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    # 9p passthrough must create files as their real owners in the shared tree.
    say "must run as root (9p security_model=passthrough)"
    exit 1
fi
for tool in qemu-system-x86_64 timeout flock modprobe; do
    if ! command -v "$tool" >/dev/null; then
        say "'$tool' not found (scripts/install-deps.sh installs it)"
        exit 1
    fi
done

src="$(cd "${SILO_SOURCE_DIR:-$here/../..}" && pwd)"
export SILO_SOURCE_DIR="$src"

kdir="$("$here/fetch-kernel.sh" --print)"
vmlinuz="$(ls "$kdir"/boot/vmlinuz-* | head -n1)"
cache="${SILO_VM_CACHE:-/var/cache/silo-vm}"

# Under TCG the firmware's copy of the bzImage and its own xz decompressor take 4-7 s of every
# boot, more than the kernel's init. A kernel built with CONFIG_PVH boots straight from its
# uncompressed ELF image through qemu's PVH entry: unpack the bzImage's payload (boot protocol
# 2.08+: payload_offset/payload_length at 0x248, after (setup_sects + 1) * 512 bytes; its last
# 4 bytes are the uncompressed size) once per kernel, next to it in the cache. Prints the
# image's path; fails (and the bzImage boots as before) for any other kernel.
pvh_image() {
    local out="$kdir/vmlinux-pvh" tmp setup_sects proto off len magic
    [ "$out" -nt "$vmlinuz" ] && { echo "$out"; return 0; }
    grep -qx 'CONFIG_PVH=y' "$kdir/boot/config-${vmlinuz##*/vmlinuz-}" 2>/dev/null || return 1
    u8() { od -An -tu"$2" -j "$1" -N"$2" "$vmlinuz" | tr -d ' '; }
    [ "$(od -An -c -j 514 -N4 "$vmlinuz" | tr -d ' ')" = HdrS ] || return 1
    proto=$(u8 518 2); setup_sects=$(u8 497 1); off=$(u8 584 4); len=$(u8 588 4)
    [ "$proto" -ge $((0x208)) ] && [ "$len" -gt 4 ] || return 1
    [ "$setup_sects" -ne 0 ] || setup_sects=4
    off=$(( (setup_sects + 1) * 512 + off ))
    magic=$(od -An -tx1 -j "$off" -N4 "$vmlinuz" | tr -d ' ')
    tmp="$(mktemp "$kdir/.vmlinux-pvh.XXXXXX")"
    local unpack
    case "$magic" in
        fd377a58) unpack=(xz -dc) ;;
        28b52ffd) unpack=(zstd -qdc) ;;
        1f8b*) unpack=(gzip -dc) ;;
        *) rm -f "$tmp"; return 1 ;;
    esac
    if dd if="$vmlinuz" iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) status=none |
        "${unpack[@]}" >"$tmp" 2>/dev/null &&
        [ "$(od -An -c -N4 "$tmp" | tr -d ' ')" = '177ELF' ]; then
        chmod 0644 "$tmp"
        mv -f "$tmp" "$out"
        echo "$out"
        return 0
    fi
    rm -f "$tmp"
    return 1
}
if ! kernel="$(pvh_image)"; then
    kernel="$vmlinuz"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/silo-vm.XXXXXX")"
vm_pid=""
reader_pid=""
lock_pid=""
dump_pid=""
cleanup() {
    [ -z "$lock_pid" ] || kill -TERM "$lock_pid" 2>/dev/null || true
    dump_stop
    [ -z "$vm_pid" ] || kill -TERM "$vm_pid" 2>/dev/null || true
    [ -z "$reader_pid" ] || kill -TERM "$reader_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 1' INT TERM HUP

# Quote a value for /bin/sh: single quotes, with each embedded ' spelled '\''.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# The per-boot files, archived as the initramfs's second part (below) under /silo.
run="$work/runfs/silo"
mkdir -p "$run"
token="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
{
    echo "SILO_VM_MODE=$mode"
    echo "SILO_VM_TOKEN=$token"
    echo "SILO_VM_TIMEOUT=$timeout"
    echo "SILO_VM_MODULES_DIR=$(ls -d "$kdir"/lib/modules/*/ | head -n1)"
} >"$run/config"

# Writable shares: the source tree, and the build tree when it lives outside it.
shares=("$src")
if [ -n "${SILO_BUILD_DIR:-}" ]; then
    build="$(cd "$SILO_BUILD_DIR" && pwd)"
    export SILO_BUILD_DIR="$build"
    case "$build/" in
        "$src"/*) ;;
        *) shares+=("$build") ;;
    esac
fi
virtfs=()
: >"$run/shares"
for i in "${!shares[@]}"; do
    # qemu option values spell a literal comma as ",,".
    virtfs+=(-virtfs "local,path=${shares[$i]//,/,,},mount_tag=silo$i,security_model=passthrough,multidevs=remap")
    echo "silo$i ${shares[$i]}" >>"$run/shares"
done

{
    echo "export PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'"
    echo "export HOME='/root'"
    echo "export LANG='C.UTF-8'"
    while IFS= read -r name; do
        echo "export $name=$(shq "${!name}")"
    done < <(compgen -e | grep '^SILO_' | grep -v '^SILO_IN_VM$' || true)
    echo "export SILO_IN_VM='1'"
    echo "cd $(shq "$PWD") || { echo $(shq "run-vm: working directory $PWD is not visible in the guest (only SILO_SOURCE_DIR and SILO_BUILD_DIR are shared, and /tmp is the guest's own)") >&2; exit 1; }"
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(shq "$a")"; done
    echo
} >"$run/cmd"
cp "$here/systemd-setup.sh" "$run/"

# The virtio/9p/overlay chain first, then what suites rely on, then what the caller asked for.
modules=(virtio_pci 9pnet_virtio 9p overlay configfs "null_blk=$null_blk"
         loop veth bridge llc stp ext4)
for m in $extra_modules; do modules+=("$m"); done

# The image of busybox, init and modules depends only on its inputs: build it once per set of
# them (the harness's scripts, busybox, the kernel's modules, the module list with parameters),
# not once per boot, and append this boot's run directory as a second cpio archive.
busybox=/bin/busybox
[ -x "$busybox" ] || { say "$busybox not found (install busybox-static)"; exit 1; }
initrd_cache="$cache/initramfs"
mkdir -p "$initrd_cache"
key="$({ cat "$here/mkinitramfs.sh" "$here/init.sh" "$here/stage2.sh"
         cksum <"$busybox"
         echo "$kdir"; stat -c %Y "$kdir"/lib/modules/*/modules.dep
         printf '%s\n' "${modules[@]}"; } | sha256sum | cut -c1-32)"
base="$initrd_cache/$key.cpio"
if [ -s "$base" ]; then
    touch "$base"
else
    tmp="$(mktemp "$initrd_cache/.build.XXXXXX")"
    "$here/mkinitramfs.sh" "$kdir" "$tmp" "${modules[@]}" || { rm -f "$tmp"; exit 1; }
    chmod 0644 "$tmp"
    mv -f "$tmp" "$base"
    # Images of module lists and scripts no longer in use.
    find "$initrd_cache" \( -name '*.cpio' -mtime +7 -o -name '.build.*' -mmin +60 \) -delete 2>/dev/null || true
fi
(cd "$work/runfs" && find . -mindepth 2 | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) \
    >"$work/run.cpio"
cat "$base" "$work/run.cpio" >"$work/initramfs.cpio"

# Two TCG guests on two shared cores starve each other: one VM at a time, machine-wide.
lock=/tmp/silo-vm.lock
exec 8>>"$lock"
if ! flock -n 8; then
    say "waiting for another VM to finish (lock $lock)"
    # In the background so that a TERM from the caller (meson's timeout) is handled at once;
    # the lock belongs to the shared open file, so it stays ours after flock exits.
    flock 8 &
    lock_pid=$!
    wait "$lock_pid"
    lock_pid=""
fi

log="$work/console.log"
status_file="$work/status"
wedged_file="$work/wedged"
vm_pidfile="$work/vm.pid"

# A guest whose kernel reports the same soft lockup for this long is wedged: under TCG that
# has been seen once in CI (both vCPUs stuck in the kernel for minutes at the agent's first
# HTTP request, never reproduced), and waiting out --timeout teaches nothing more. A host that
# merely starves the vCPU threads for a while makes the watchdog report 20-40 s at most.
wedge_after_s=60

# mawk (Debian's default awk) fills its whole input buffer before it looks at a line unless
# told -W interactive; the reader must see each console line as it comes.
reader_awk=(awk)
if command -v mawk >/dev/null; then
    reader_awk=(mawk -W interactive)
fi

# Each vCPU's instruction pointer and state through qemu's human monitor: HLT=1 is a vCPU
# idle in HLT (waiting for an interrupt or a timer), CPL=3 one running user code, CPL=0 with
# HLT=0 one busy in the kernel; RIP names the place with the KASLR base the guest printed at
# boot (init.sh) and the System.map of Debian's linux-image-*-dbg package. Into the console
# log, whose tail a timeout prints.
vcpu_dump() {
    echo "run-vm: ---- vCPU state from qemu's monitor, $((SECONDS - start_s)) s after the boot ----"
    timeout 30 python3 - "$work/monitor.sock" <<'PY' || echo "run-vm: the monitor query failed (exit status $?)"
import re, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
# Stopped first: under TCG a running vCPU's RIP is written back only when it leaves translated
# code, so a vCPU spinning in the kernel would show a stale one. HLT is exact either way.
for cmd in ["stop", "info status", "info cpus", "info registers -a", "cont"]:
    s.sendall((cmd + "\n").encode())
    time.sleep(1)
out = b""
s.settimeout(2)
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    pass
text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode(errors="replace").replace("\r", ""))
if not text.strip():
    print("no answer from qemu's monitor: its main loop is blocked")
# The registers that say where each vCPU is (RIP, HLT=1: idle), the monitor's answers, not
# its echo of what was typed.
for line in text.splitlines():
    if line.startswith("(qemu)") or re.match(r"(RAX|RSI|R8 |R12|[ECSDFG]S |LDT|TR |GDT|IDT|CR0|DR|EFER|FCW|FPR|YMM|XMM|$)", line):
        continue
    print(line)
PY
    echo "run-vm: ---- end of vCPU state ----"
}

# The dump's timer: a builtin read with a timeout on a fifo that never gets data, so there is
# no sleep to outlive the run; it neither holds the VM lock (fd 8) nor the caller's output.
dump_start() {
    rm -f "$work/dump.fifo"
    mkfifo "$work/dump.fifo"
    (
        read -r -t $((timeout - 15)) _ <>"$work/dump.fifo" || vcpu_dump >>"$log" 2>&1
    ) </dev/null >/dev/null 2>&1 8>&- &
    dump_pid=$!
}
dump_stop() {
    [ -n "$dump_pid" ] || return 0
    kill -TERM "$dump_pid" 2>/dev/null || true
    wait "$dump_pid" 2>/dev/null || true
    dump_pid=""
}

# One boot: the guest runs the command; sets vm_rc. Everything the guest prints goes to the
# log; only what lies between the start and exit markers (the command's own output) goes to
# our stdout. The reader kills qemu (through `timeout`, which passes the TERM on) when the
# guest is wedged, and says so in $wedged_file.
boot() {
    rm -f "$status_file" "$wedged_file" "$vm_pidfile" "$work/console"
    mkfifo "$work/console"
    "${reader_awk[@]}" -v start="SILO-VM-START-$token" -v stop="SILO-VM-EXIT-$token " \
        -v logf="$log" -v status_file="$status_file" -v wedged_file="$wedged_file" \
        -v pidfile="$vm_pidfile" -v wedge_after="$wedge_after_s" '
        {
            gsub(/\r/, "")
            # The log is for people: drop the firmware'"'"'s terminal control sequences.
            clean = $0
            gsub(/\033\[[0-9;?]*[A-Za-z]|\033c/, "", clean)
            print clean >> logf; fflush(logf)
        }
        !wedged && match($0, /soft lockup - CPU#[0-9]+ stuck for [0-9]+s/) {
            secs = substr($0, RSTART, RLENGTH); sub(/.* for /, "", secs); sub(/s$/, "", secs)
            if (secs + 0 >= wedge_after) {
                wedged = 1
                print substr($0, RSTART, RLENGTH) > wedged_file; close(wedged_file)
                if ((getline pid < pidfile) > 0) system("kill -TERM " pid)
            }
        }
        !started { if (index($0, start)) started = 1; next }
        {
            i = index($0, stop)
            if (i) {
                if (i > 1) print substr($0, 1, i - 1)
                print substr($0, i + length(stop)) > status_file
                close(status_file)
                started = 0
                fflush()
                next
            }
            print; fflush()
        }' <"$work/console" &
    reader_pid=$!

    rm -f "$work/monitor.sock"
    # A socket path longer than sun_path (108 bytes) would stop qemu from starting: then no
    # monitor, and no dump. Commas in an option value are spelled ",,".
    monitor=""
    if [ "${#work}" -lt 90 ]; then
        monitor="unix:${work//,/,,}/monitor.sock,server=on,wait=off"
    fi
    start_s=$SECONDS
    # -no-reboot turns the guest's reboot (panic=-1) into qemu exiting; `timeout` kills qemu by
    # its PID (TERM, then KILL 5 s later) so a wedged guest never hangs the caller.
    timeout -k 5 "$timeout" qemu-system-x86_64 \
        -accel tcg -cpu max -m "$mem" -smp 2 -nographic -no-reboot -nic none \
        -kernel "$kernel" -initrd "$work/initramfs.cpio" -append "$append" \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
        ${monitor:+-monitor "$monitor"} \
        "${virtfs[@]}" </dev/null >"$work/console" 2>&1 &
    vm_pid=$!
    echo "$vm_pid" >"$vm_pidfile"
    # Shortly before --timeout, what the vCPUs execute, from outside the guest: the guest's
    # own watchdog (stage2.sh) needs a guest that still schedules, and twice in CI a guest
    # printed nothing for minutes, its watchdog included.
    [ -z "$monitor" ] || [ "$timeout" -le 30 ] || dump_start
    set +e
    wait "$vm_pid"
    vm_rc=$?
    set -e
    vm_pid=""
    dump_stop
    wait "$reader_pid" || true
    reader_pid=""
}

loglevel="${SILO_VM_LOGLEVEL:-1}"
append="console=ttyS0 quiet loglevel=$loglevel panic=-1 oops=panic rw"
if [ "$mode" = systemd ]; then
    append+=" systemd.show_status=false systemd.log_level=warning"
fi

boot
# A wedged guest that had not reported the command's exit gets one fresh boot: the command
# starts again from a clean guest (every suite does), and both boots' output is shown. A
# command that wedges the kernel every time still fails, on the second boot.
if [ -s "$wedged_file" ] && [ ! -s "$status_file" ]; then
    say "the guest's kernel is wedged ($(cat "$wedged_file")) after $((SECONDS - start_s))s, before COMMAND finished; the console tail follows, then a fresh boot runs COMMAND once more"
    tail -n 30 "$log" >&2 || true
    # The first boot's console stays in the log (and in SILO_VM_CONSOLE_LOG) above this line.
    echo "run-vm: ==== second boot after a wedged guest ====" | tee -a "$log"
    boot
fi
exec 8>&-

# Keep the whole console log for debugging when asked (SILO_VM_CONSOLE_LOG=FILE).
if [ -n "${SILO_VM_CONSOLE_LOG:-}" ]; then
    cp "$log" "$SILO_VM_CONSOLE_LOG" 2>/dev/null || say "cannot copy the console log to SILO_VM_CONSOLE_LOG='$SILO_VM_CONSOLE_LOG'"
fi

console_tail() {
    echo "run-vm: ---- last 100 lines of the console log ----" >&2
    tail -n 100 "$log" >&2 || true
    echo "run-vm: ---- end of console log ----" >&2
}

if [ -s "$status_file" ]; then
    status="$(cat "$status_file")"
    if [[ "$status" =~ ^[0-9]+$ ]]; then
        if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
            say "COMMAND exited with status $status; the guest's logs follow"
            sed -n "/SILO-VM-EXIT-$token /,\$p" "$log" | tail -n +2 | tail -n 100 >&2
        fi
        exit "$status"
    fi
    say "malformed exit marker '$status'"
    console_tail
    exit 1
fi
if [ -s "$wedged_file" ]; then
    say "the guest's kernel is wedged again ($(cat "$wedged_file")) after $((SECONDS - start_s))s; qemu killed"
elif [ "$vm_rc" -eq 124 ] || [ "$vm_rc" -eq 137 ]; then
    say "timed out after ${timeout}s (--timeout); qemu killed"
else
    say "the guest stopped without an exit marker after $((SECONDS - start_s))s (boot failure or kernel panic; qemu exit status $vm_rc)"
fi
console_tail
exit 1

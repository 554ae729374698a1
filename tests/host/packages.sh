#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Host suite "packages": the Debian packages built by packaging/build-debs.sh (meson target
# packaging/debs) and the layout of `meson install`, without installing anything:
#   - lintian reports no error (E:) on any package;
#   - each package holds its files where the units and daemons look for them (binaries in
#     /usr/bin, the shim in /usr/libexec/silo, units in /lib/systemd/system, man pages, bash
#     completion), /etc/silo/*.conf are conffiles, and the maintainer scripts apply sysusers
#     and tmpfiles and stop the units on removal;
#   - every Depends: is installed on this host (the systemd VM suite installs the packages
#     with apt-get in a guest that is this host's root without network);
#   - `meson install --prefix /usr --destdir` (as the package build ran it) put every file in
#     place, and this build's own `meson install --destdir` puts the shim where its agent
#     looks for it;
#   - every option each program's --help lists is in its manual page;
#   - bash completion of siloctl completes commands, flags and flag values.
# Usage: packages.sh DEBS_DIR BUILD_DIR SILO_MASTER SILO_AGENT SILOCTL SILO_IO SILO_IOSTAT
set -euo pipefail
. "$(dirname "$0")/../lib/assert.sh"

debs=$1 build=$2
declare -A exe=([silo-master]=$3 [silo-agent]=$4 [siloctl]=$5 [silo-io]=$6 [silo-iostat]=$7)

for tool in lintian dpkg-deb; do
    command -v "$tool" >/dev/null || skip_suite "$tool not installed (scripts/install-deps.sh)"
done

tmp=$(mktemp -d)
lintian_pid=""
# A check that fails before lintian's verdict is read ends lintian too (|| true: under set -e
# the killed lintian's status would end the trap before the rm and replace the suite's own).
trap 'rc=$?
    if [ -n "$lintian_pid" ]; then
        kill "$lintian_pid" 2>/dev/null || true
        wait "$lintian_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit $rc' EXIT

deb_of() {
    local f
    f=$(ls "$debs/$1"_*.deb 2>/dev/null | head -n 1)
    [ -n "$f" ] || fail "no $1 package in $debs"
    echo "$f"
}

# --- lintian (started first, read last) -------------------------------------------------------
# The longest check (40 s of the suite's 48 s on a loaded 2-core host, most of it waiting on
# unpacking), so it runs in the background while the other checks, which only read the
# packages, run; its verdict is read at the end. Its exit status decides (--fail-on error), so
# a lintian that cannot run fails the check too.
lintian --fail-on error --tag-display-limit 0 "$debs"/*.deb >"$tmp/lintian.txt" 2>&1 &
lintian_pid=$!
check_lintian() {
    local lintian_rc=0 errors warnings
    wait "$lintian_pid" || lintian_rc=$?
    lintian_pid=""
    errors=$(grep -c '^E: ' "$tmp/lintian.txt" || true)
    warnings=$(grep -c '^W: ' "$tmp/lintian.txt" || true)
    grep -E '^(E|W): ' "$tmp/lintian.txt" || true
    [ "$lintian_rc" -eq 0 ] || tail -n 20 "$tmp/lintian.txt"
    assert_eq "lintian exit status on $(ls "$debs"/*.deb | wc -l) packages ($errors errors, $warnings warnings)" "$lintian_rc" 0
}

# --- contents --------------------------------------------------------------------------------
declare -A want=(
    [silo-common]="/usr/lib/sysusers.d/silo.conf /usr/lib/tmpfiles.d/silo.conf
        /usr/share/man/man5/silo.conf.5.gz"
    [silo-master]="/usr/bin/silo-master /etc/silo/master.conf /lib/systemd/system/silo-master.service
        /usr/share/man/man8/silo-master.8.gz /usr/share/silo/grafana/silo-cluster.json"
    [silo-agent]="/usr/bin/silo-agent /usr/libexec/silo/silo-shim /usr/bin/silo-iostat
        /etc/silo/agent.conf /lib/systemd/system/silo-agent.service
        /usr/share/man/man8/silo-agent.8.gz /usr/share/man/man8/silo-iostat.8.gz"
    [siloctl]="/usr/bin/siloctl /usr/share/man/man1/siloctl.1.gz
        /usr/share/bash-completion/completions/siloctl"
    [silo-io]="/usr/bin/silo-io /usr/share/man/man1/silo-io.1.gz"
    [python3-silo]="/usr/lib/python3/dist-packages/silo/__init__.py
        /usr/lib/python3/dist-packages/silo/framework.py
        /usr/share/doc/python3-silo/examples/framework.py"
    [libsilo0]="/usr/lib/x86_64-linux-gnu/libsilo.so.0 /usr/lib/x86_64-linux-gnu/libsilo.so.0.1.0"
    [libsilo-dev]="/usr/include/silo/client.h /usr/lib/x86_64-linux-gnu/libsilo.so
        /usr/lib/x86_64-linux-gnu/pkgconfig/libsilo.pc /usr/share/man/man3/libsilo.3.gz"
)
for pkg in silo-common silo-master silo-agent siloctl silo-io python3-silo libsilo0 libsilo-dev; do
    deb=$(deb_of "$pkg")
    dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }' >"$tmp/$pkg.files"
    missing=""
    for f in ${want[$pkg]}; do
        grep -qxF "$f" "$tmp/$pkg.files" || missing="$missing $f"
    done
    [ -z "$missing" ] || fail "$pkg lacks:$missing"
    pass "$pkg holds $(echo ${want[$pkg]} | wc -w) expected files ($(grep -vc '/$' "$tmp/$pkg.files") files)"
    dpkg-deb -e "$deb" "$tmp/$pkg.ctrl"
done
assert_file_contains "silo-master conffiles" "$tmp/silo-master.ctrl/conffiles" /etc/silo/master.conf
assert_file_contains "silo-agent conffiles" "$tmp/silo-agent.ctrl/conffiles" /etc/silo/agent.conf
assert_file_contains "silo-common postinst creates the silo user" \
    "$tmp/silo-common.ctrl/postinst" "systemd-sysusers"
assert_file_contains "silo-common postinst creates /etc/silo and /var/lib/silo" \
    "$tmp/silo-common.ctrl/postinst" "systemd-tmpfiles"
for pkg in silo-master silo-agent; do
    assert_file_contains "$pkg postinst registers its unit" "$tmp/$pkg.ctrl/postinst" \
        "deb-systemd-helper"
    assert_file_contains "$pkg prerm stops its unit on removal" "$tmp/$pkg.ctrl/prerm" \
        "deb-systemd-invoke stop"
    assert_file_contains "$pkg postrm purges its unit's state" "$tmp/$pkg.ctrl/postrm" \
        "deb-systemd-helper purge"
done
assert_file_contains "silo-agent prerm stops the node's tasks on removal" \
    "$tmp/silo-agent.ctrl/prerm" "deb-systemd-invoke stop silo-tasks.scope"
assert_file_contains "silo-agent postrm purges its state" "$tmp/silo-agent.ctrl/postrm" \
    "rm -rf /var/lib/silo/agent"
assert_file_contains "silo-master postrm purges its state" "$tmp/silo-master.ctrl/postrm" \
    "rm -rf /var/lib/silo/master"
for pkg in silo-common silo-master silo-agent; do
    for script in "$tmp/$pkg.ctrl"/p*; do
        sh -n "$script" || fail "$script: sh syntax error"
    done
done
pass "maintainer scripts parse with sh -n"
# The module imports from where the package puts it (with the Python the host has).
mkdir "$tmp/python3-silo"
dpkg-deb -x "$(deb_of python3-silo)" "$tmp/python3-silo"
assert_eq "python3-silo: silo.framework imports from the package's files" \
    "$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import silo.framework; print(silo.__file__)' \
        "$tmp/python3-silo/usr/lib/python3/dist-packages")" \
    "$tmp/python3-silo/usr/lib/python3/dist-packages/silo/__init__.py"

# --- Depends: from the shared libraries, all installed here ----------------------------------
agent_depends=$(dpkg-deb -f "$(deb_of silo-agent)" Depends)
echo "silo-agent Depends: $agent_depends"
for lib in libbpf1 libcgroup2 liburing2 libsystemd0 libmicrohttpd12 libcurl3-gnutls libjansson4; do
    grep -qE "(^|, )$lib( |,|$)" <<<"$agent_depends" || fail "silo-agent does not depend on $lib"
done
pass "silo-agent depends on the libraries it links (shlibs)"
# One TLS stack: libcurl's GnuTLS build, never the OpenSSL one (libcurl4 pulls libssl3 in).
for deb in "$debs"/*.deb; do
    d=$(dpkg-deb -f "$deb" Depends)
    if grep -qE "(^|, )(libcurl4|libssl3)( |,|$)" <<<"$d"; then
        fail "$(basename "$deb") depends on OpenSSL's libcurl or libssl3: $d"
    fi
done
pass "no package depends on libcurl4 (OpenSSL) or libssl3"
assert_match "silo-master Depends: libsqlite3-0" "$(dpkg-deb -f "$(deb_of silo-master)" Depends)" \
    "(^|, )libsqlite3-0( |,|$)"
assert_match "siloctl Depends: libsilo0, the client library it runs on" \
    "$(dpkg-deb -f "$(deb_of siloctl)" Depends)" "(^|, )libsilo0 \\(= "
notinst=""
for deb in "$debs"/*.deb; do
    # Each Depends: entry is "a (>= v) | b:any | c": one installed alternative is enough (an
    # architecture qualifier such as dh_python3's python3:any left aside); our own packages come
    # from $debs.
    while IFS= read -r dep; do
        ok=0
        for alt in $(sed 's/([^)]*)//g; s/:[a-z0-9]*//g; s/|/ /g' <<<"$dep"); do
            case $alt in silo-* | siloctl | libsilo*) ok=1 ;; esac
            dpkg-query -W -f='${Status}' "$alt" 2>/dev/null | grep -q "install ok installed" && ok=1
        done
        [ "$ok" = 1 ] || notinst="$notinst [$dep]"
    done < <(dpkg-deb -f "$deb" Depends | sed 's/, /\n/g')
done
assert_eq "Depends: not installed on this host (scripts/install-deps.sh)" "$notinst" ""

# --- meson install layout ---------------------------------------------------------------------
# The package build's `meson install --prefix /usr --destdir debian/tmp`, before dh split it.
missing=""
for f in usr/bin/silo-master usr/bin/silo-agent usr/bin/siloctl usr/bin/silo-io \
    usr/bin/silo-iostat usr/libexec/silo/silo-shim lib/systemd/system/silo-master.service \
    lib/systemd/system/silo-agent.service usr/lib/sysusers.d/silo.conf \
    usr/lib/tmpfiles.d/silo.conf etc/silo/master.conf etc/silo/agent.conf \
    usr/share/man/man8/silo-master.8 usr/share/man/man8/silo-agent.8 \
    usr/share/man/man8/silo-iostat.8 usr/share/man/man1/siloctl.1 usr/share/man/man1/silo-io.1 \
    usr/share/man/man5/silo.conf.5 usr/share/bash-completion/completions/siloctl \
    usr/share/silo/grafana/silo-cluster.json usr/lib/python3/dist-packages/silo/client.py; do
    grep -qxF "$f" "$debs/install-files.txt" || missing="$missing $f"
done
[ -z "$missing" ] || fail "meson install --prefix /usr lacks:$missing"
pass "meson install --prefix /usr --destdir: $(wc -l <"$debs/install-files.txt") files, all in place"
# The units run the binaries at the paths the prefix-/usr install gives them.
for unit in silo-master silo-agent; do
    bin=$(dpkg-deb --fsys-tarfile "$(deb_of "$unit")" |
        tar -xOf - "./lib/systemd/system/$unit.service" | sed -n 's/^ExecStart=\([^ ]*\).*/\1/p')
    grep -qxF "$bin" "$tmp/$unit.files" || fail "$unit.service runs $bin, which $unit does not hold"
    pass "$unit.service's ExecStart $bin is in the package"
done
# This build's own install (whatever its prefix): the agent looks for its shim next to itself
# or in the libexec directory its build was configured with.
meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/destdir" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install -C $build failed"; }
prefix=$(meson introspect "$build" --buildoptions |
    python3 -c 'import json, sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
shim=$(find "$tmp/destdir" -name silo-shim -type f | sed "s|^$tmp/destdir||")
agent=$(find "$tmp/destdir" -name silo-agent -type f | sed "s|^$tmp/destdir||")
assert_eq "meson install (prefix $prefix): silo-shim" "$shim" "$prefix/libexec/silo/silo-shim"
assert_eq "meson install (prefix $prefix): silo-agent" "$agent" "$prefix/bin/silo-agent"
grep -qaF "$shim" "${exe[silo-agent]}" || fail "silo-agent (prefix $prefix) does not look for $shim"
pass "silo-agent (prefix $prefix) looks for its shim at $shim"

# --- manual pages list every option of --help -------------------------------------------------
# Options are taken from --help (for siloctl, also each command's --help) and looked up in the
# packaged page, roff's \- turned back into -.
page_text() { # PACKAGE PAGE
    dpkg-deb --fsys-tarfile "$(deb_of "$1")" | tar -xOf - "./$2" | gzip -dc | sed 's/\\-/-/g'
}
check_page() { # PROGRAM PACKAGE PAGE HELP-TEXT
    local opts missing="" o n
    opts=$(grep -oE -- '--[a-z][a-z0-9_-]*' <<<"$4" | sort -u)
    page_text "$2" "$3" >"$tmp/page"
    for o in $opts; do
        grep -qE -- "${o}([^a-z0-9_-]|\$)" "$tmp/page" || missing="$missing $o"
    done
    n=$(wc -w <<<"$opts")
    [ -z "$missing" ] || fail "$3 lacks options of $1 --help:$missing"
    pass "$3 has all $n options of $1 --help"
}
check_page silo-master silo-master usr/share/man/man8/silo-master.8.gz "$("${exe[silo-master]}" --help)"
check_page silo-agent silo-agent usr/share/man/man8/silo-agent.8.gz "$("${exe[silo-agent]}" --help)"
check_page silo-io silo-io usr/share/man/man1/silo-io.1.gz "$("${exe[silo-io]}" --help)"
check_page silo-iostat silo-agent usr/share/man/man8/silo-iostat.8.gz "$("${exe[silo-iostat]}" --help)"
ctl_help=$("${exe[siloctl]}" --help)
commands=$(sed -n '/^Commands/,/^$/p' <<<"$ctl_help" | awk '/^  [a-z]/ { print $1 }')
[ -n "$commands" ] || fail "no commands in siloctl --help"
page_text siloctl usr/share/man/man1/siloctl.1.gz >"$tmp/siloctl.1"
for c in $commands; do
    ctl_help="$ctl_help
$("${exe[siloctl]}" "$c" --help)"
    grep -qE "^\\.?(\\\\fB)?$c(\\\\fR)?( |\$)" "$tmp/siloctl.1" ||
        fail "siloctl.1 has no command $c (siloctl --help lists it)"
done
pass "siloctl.1 has all $(wc -w <<<"$commands") commands of siloctl --help"
check_page siloctl siloctl usr/share/man/man1/siloctl.1.gz "$ctl_help"

# --- bash completion of siloctl ---------------------------------------------------------------
complete_words() { # WORDS...: what completing the last word offers
    bash -c '
        . /usr/share/bash-completion/bash_completion
        . "$0"
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _siloctl siloctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' "$tmp/completion" "$@" | sort | tr '\n' ' '
}
if [ -r /usr/share/bash-completion/bash_completion ]; then
    dpkg-deb --fsys-tarfile "$(deb_of siloctl)" |
        tar -xOf - ./usr/share/bash-completion/completions/siloctl >"$tmp/completion"
    assert_eq "completion: siloctl ins" "$(complete_words siloctl ins)" "inspect "
    assert_eq "completion: siloctl ag" "$(complete_words siloctl ag)" "agent agents "
    assert_eq "completion: siloctl --output " "$(complete_words siloctl --output '')" "json text "
    assert_eq "completion: siloctl top --sort p" "$(complete_words siloctl top --sort p)" "p99 "
    assert_eq "completion: siloctl logs --f" "$(complete_words siloctl logs --f)" "--follow "
    assert_eq "completion: siloctl events --type task_state,agent_l" \
        "$(complete_words siloctl events --type task_state,agent_l)" "task_state,agent_lost "
    assert_eq "completion: siloctl -a URL tasks --state RU" \
        "$(complete_words siloctl -a http://h:1 tasks --state RU)" "RUNNING "
else
    skip_part "bash completion not checked: bash-completion not installed"
fi

check_lintian
assert_done

#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's state is private (issue 12, finding 8): its state directory is 0700 and master.db
# with its WAL and SHM 0600 whatever existed before (modes are fixed at start and logged); a
# --token-file that group or others can read is warned about, one they can write is refused.
. "$(dirname "$0")/master-lib.sh"
umask 022

mode() { stat -c %a "$1"; }

# A fresh state directory under umask 022.
start_master
[ -e "$WORK/state/master.db-wal" ] || fail "no WAL file while the master runs"
assert_eq "mode of a new state directory" "$(mode "$WORK/state")" 700
for f in master.db master.db-wal master.db-shm; do
    assert_eq "mode of a new $f" "$(mode "$WORK/state/$f")" 600
done
grep -q "readable by" "$WORK/master.log" && fail "a warning about the 0600 token file: $(grep 'readable by' "$WORK/master.log")"
pass "a new state directory is 0700, master.db and its WAL and SHM 0600 (umask 022)"

# What an older master left: a 0755 directory, a 0644 database, WAL and SHM (killed, so they stay).
kill9_master
chmod 0755 "$WORK/state"
chmod 0644 "$WORK/state"/master.db*
ls -l "$WORK/state" > "$WORK/before.txt"
[ -e "$WORK/state/master.db-wal" ] || fail "the WAL did not survive kill -9"
: > "$WORK/master.log"
start_master
assert_eq "mode of a pre-existing 0755 state directory" "$(mode "$WORK/state")" 700
for f in master.db master.db-wal master.db-shm; do
    assert_eq "mode of a pre-existing 0644 $f" "$(mode "$WORK/state/$f")" 600
done
grep -q "state: mode 0755 changed to 0700: the master's state is private" "$WORK/master.log" || fail "no log line for the directory: $(cat "$WORK/master.log" | head -20)"
grep -q "master.db: mode 0644 changed to 0600: the master's state is private" "$WORK/master.log" || fail "no log line for master.db"
pass "a 0755 state directory and 0644 master.db, WAL and SHM are made 0700/0600 at start, and logged"

# A token file others can read: the master starts (a running cluster is not broken) but warns.
stop_master
chmod 0644 "$WORK/token"
: > "$WORK/master.log"
start_master
grep -q "token file $WORK/token: mode 0644 lets every local user read it" "$WORK/master.log" || fail "no warning about a 0644 token file: $(head -20 "$WORK/master.log")"
assert_eq "the master does not change a token file it was given" "$(mode "$WORK/token")" 644
pass "a --token-file readable by others is warned about"

# One that group or others may write is refused: they could replace the cluster token.
stop_master
chmod 0620 "$WORK/token"
rc=0
"$MASTER_BIN" --listen 127.0.0.1:0 --state-dir "$WORK/state" --token-file "$WORK/token" 2>"$WORK/err.txt" || rc=$?
assert_eq "exit status with a group-writable token file" "$rc" 1
grep -q "token file $WORK/token: mode 0620 lets its group write it" "$WORK/err.txt" || fail "refusal message: $(cat "$WORK/err.txt")"
chmod 0600 "$WORK/token"
pass "a --token-file writable by group or others is refused"
assert_done

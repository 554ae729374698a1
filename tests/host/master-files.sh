#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The master's state is private (issue 12, finding 8): its state directory is 0700 and master.db
# with its WAL and SHM 0600 whatever existed before (modes are fixed at start and logged).
. "$(dirname "$0")/master-lib.sh"
umask 022

mode() { stat -c %a "$1"; }

# A fresh state directory under umask 022.
start_master
[ -e "$WORK/state/master.db-wal" ] || fail "no WAL file while the master runs"
expect_eq "$(mode "$WORK/state")" 700 "mode of a new state directory"
for f in master.db master.db-wal master.db-shm; do
    expect_eq "$(mode "$WORK/state/$f")" 600 "mode of a new $f"
done
grep -q "readable by" "$WORK/master.log" && fail "a warning about the 0600 token file: $(grep 'readable by' "$WORK/master.log")"
ok "a new state directory is 0700, master.db and its WAL and SHM 0600 (umask 022)"

# What an older master left: a 0755 directory, a 0644 database, WAL and SHM (killed, so they stay).
kill9_master
chmod 0755 "$WORK/state"
chmod 0644 "$WORK/state"/master.db*
ls -l "$WORK/state" > "$WORK/before.txt"
[ -e "$WORK/state/master.db-wal" ] || fail "the WAL did not survive kill -9"
: > "$WORK/master.log"
start_master
expect_eq "$(mode "$WORK/state")" 700 "mode of a pre-existing 0755 state directory"
for f in master.db master.db-wal master.db-shm; do
    expect_eq "$(mode "$WORK/state/$f")" 600 "mode of a pre-existing 0644 $f"
done
grep -q "state: mode 0755 gave group or others access; changed to 0700" "$WORK/master.log" || fail "no log line for the directory: $(cat "$WORK/master.log" | head -20)"
grep -q "master.db: mode 0644 gave group or others access; changed to 0600" "$WORK/master.log" || fail "no log line for master.db"
ok "a 0755 state directory and 0644 master.db, WAL and SHM are made 0700/0600 at start, and logged"

/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: crash-safe atomic writes (temp, fsync, rename, fsync dir) and whole-file reads. */
#pragma once

#include <stdbool.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Replace `path` with `data` so that after a crash the file holds either the old or the new
 * content, never a mix: write a temp file in the same directory, fsync it, rename it over
 * `path`, fsync the directory. Returns 0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* The same replacement without either fsync: a reader, and the writer after a crash of its
 * own (kill -9: the page cache survives it), finds the old or the new content, never a mix;
 * after a power loss either, or an empty file. For files that matter only while processes of
 * this boot use them (a shim's launch.json and shim.json, a sandbox's /etc files) or that a
 * durable write follows before anyone is told (a launch's first checkpoint): each fsync is a
 * journal commit on the disk. Returns 0 or -errno. */
int file_write_replace(const char *path, const void *data, size_t size, mode_t mode);

/* Read a whole file (at most `max` bytes, 0 for 64 MiB) into a NUL-terminated buffer.
 * ret_size may be NULL. Returns 0 or -errno (-EFBIG when larger than max). */
int file_read_full(const char *path, size_t max, char **ret_data, size_t *ret_size);

/* Write a short string to an existing (pseudo) file without creating it, as cgroupfs and
 * sysfs want: one write() call, so the kernel sees the whole value at once. */
int file_write_string(const char *path, const char *s);

/* Until `fd` is readable (data, EOF, or for a pidfd: its process exited): 0, -EBADF for an fd
 * that is not open, or -ETIMEDOUT at `deadline_usec` (now_usec(), CLOCK_MONOTONIC). A
 * deadline, not a timeout restarted after each EINTR: io_uring's task work interrupts its
 * owner's blocking calls, and a restarted timeout (SO_RCVTIMEO, a poll() per try) would never
 * end under a steady stream of them. */
int fd_wait_readable(int fd, uint64_t deadline_usec);

/* fsync the directory `dir` itself. */
int fsync_directory(const char *dir);
/* fsync the directory that holds `path`, a file or an entry just removed: what makes its
 * creation, rename or unlink durable. */
int fsync_parent(const char *path);

/* mkdir -p with the given mode for every created component. */
int mkdir_parents(const char *path, mode_t mode);

/* Give `path` (symlinks followed) exactly the permission bits `mode`, whatever it had: 1 when
 * they changed (the old bits in *ret_old_mode, may be NULL), 0 when they already were `mode`,
 * -errno. For state a daemon creates private but may find made by someone else (mkdir -p). */
int path_mode_enforce(const char *path, mode_t mode, mode_t *ret_old_mode);

/* Whether `path` is `dir` or lies below it, comparing whole components of absolute paths as
 * written (canonicalise first where symlinks matter); every path is under "/". */
bool path_is_under(const char *path, const char *dir);

/* Remove a directory tree (like rm -rf), not crossing into other mounts. 0 if absent. Any depth
 * in constant stack and two fds (a task may have written the tree); the first error is returned
 * after everything else that could be removed is gone. */
int rm_rf(const char *path);

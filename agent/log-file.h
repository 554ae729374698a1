/* SPDX-License-Identifier: Apache-2.0 */
/* A task's stdout/stderr as size-rotated files in its sandbox, addressed by absolute stream offsets. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Layout for stream "stdout" in <dir>:
 *   stdout          the current file (tail -f friendly)
 *   stdout.1 .. stdout.<files-1>   older files, .1 the newest
 *   stdout.base     the absolute stream offset where "stdout" starts (decimal), rewritten
 *                   atomically at each rotation
 * No file grows beyond max_bytes, so a stream never takes more than files * max_bytes.
 * Readers (the agent's logs API) address bytes by absolute offset since the task started, so a
 * client that follows a log keeps its place across rotations and learns when it fell behind.
 */

struct log_writer;

/* Open (or continue) the stream's current file. files >= 1, max_bytes >= 1. */
int log_writer_open(const char *dir, const char *stream, uint64_t max_bytes, unsigned files,
                    struct log_writer **ret);
/* Append, rotating as needed. Returns 0 or -errno. */
int log_writer_write(struct log_writer *w, const void *data, size_t size);
/* Total bytes written to the stream since the task started. */
uint64_t log_writer_offset(const struct log_writer *w);
struct log_writer *log_writer_free(struct log_writer *w);

struct log_chunk {
        char *data;             /* malloc'd, size bytes (not NUL-terminated) */
        size_t size;
        uint64_t offset;        /* absolute offset of data[0]: > requested when it was rotated away */
        uint64_t start;         /* oldest offset still retained */
        uint64_t end;           /* offset after the last byte written so far */
};

/* Read up to max bytes of the stream from absolute offset `offset`. An offset past the end
 * yields size 0 at offset = end. -ENOENT when the stream has no file at all. */
int log_read(const char *dir, const char *stream, uint64_t offset, size_t max,
             struct log_chunk *ret);
void log_chunk_done(struct log_chunk *c);

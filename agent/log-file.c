/* SPDX-License-Identifier: Apache-2.0 */
/* Size-rotated log files: the shim writes them, the agent's logs API reads them by absolute offset. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log-file.h"
#include "common/fileio.h"
#include "common/macro.h"

struct log_writer {
        char *dir;
        char *stream;
        uint64_t max_bytes;
        unsigned files;
        int fd;
        uint64_t size;  /* of the current file */
        uint64_t base;  /* absolute offset of the current file's first byte */
};

static int path_of(const char *dir, const char *stream, const char *suffix, unsigned n,
                   char *buf, size_t len)
{
        int k;

        if (suffix)
                k = snprintf(buf, len, "%s/%s.%s", dir, stream, suffix);
        else if (n > 0)
                k = snprintf(buf, len, "%s/%s.%u", dir, stream, n);
        else
                k = snprintf(buf, len, "%s/%s", dir, stream);
        return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

static int read_base(const char *dir, const char *stream, uint64_t *ret)
{
        char p[PATH_MAX];
        _cleanup_free_ char *s = NULL;
        int r;

        r = path_of(dir, stream, "base", 0, p, sizeof(p));
        if (r < 0)
                return r;
        r = file_read_full(p, 64, &s, NULL);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return r;
        if (sscanf(s, "%" SCNu64, ret) != 1)
                return -EBADMSG;
        return 0;
}

int log_writer_open(const char *dir, const char *stream, uint64_t max_bytes, unsigned files,
                    struct log_writer **ret)
{
        struct log_writer *w;
        char p[PATH_MAX];
        struct stat st;
        int r;

        if (max_bytes == 0 || files == 0)
                return -EINVAL;
        r = path_of(dir, stream, NULL, 0, p, sizeof(p));
        if (r < 0)
                return r;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->dir = strdup(dir);
        w->stream = strdup(stream);
        w->max_bytes = max_bytes;
        w->files = files;
        w->fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (!w->dir || !w->stream || w->fd < 0) {
                r = w->fd < 0 && w->dir && w->stream ? negative_errno() : -ENOMEM;
                log_writer_free(w);
                return r;
        }
        if (fstat(w->fd, &st) == 0)
                w->size = (uint64_t)st.st_size;
        r = read_base(dir, stream, &w->base);
        if (r < 0) {
                log_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

struct log_writer *log_writer_free(struct log_writer *w)
{
        if (!w)
                return NULL;
        safe_close(w->fd);
        free(w->dir);
        free(w->stream);
        free(w);
        return NULL;
}

uint64_t log_writer_offset(const struct log_writer *w)
{
        return w->base + w->size;
}

static int rotate(struct log_writer *w)
{
        char from[PATH_MAX], to[PATH_MAX], num[32];
        int r;

        /* Shift stdout.(k) -> stdout.(k+1), dropping the oldest; then stdout -> stdout.1. */
        if (w->files > 1) {
                r = path_of(w->dir, w->stream, NULL, w->files - 1, to, sizeof(to));
                if (r < 0)
                        return r;
                (void)unlink(to);
                for (unsigned k = w->files - 1; k >= 1; k--) {
                        path_of(w->dir, w->stream, NULL, k - 1, from, sizeof(from));
                        path_of(w->dir, w->stream, NULL, k, to, sizeof(to));
                        if (rename(from, to) < 0 && errno != ENOENT)
                                return negative_errno();
                }
        } else {
                path_of(w->dir, w->stream, NULL, 0, from, sizeof(from));
                (void)unlink(from);
        }
        w->base += w->size;
        w->size = 0;
        path_of(w->dir, w->stream, "base", 0, to, sizeof(to));
        snprintf(num, sizeof(num), "%" PRIu64 "\n", w->base);
        r = file_write_atomic(to, num, strlen(num), 0640);
        if (r < 0)
                return r;

        safe_close(w->fd);
        path_of(w->dir, w->stream, NULL, 0, from, sizeof(from));
        w->fd = open(from, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
        if (w->fd < 0)
                return negative_errno();
        return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int log_writer_write(struct log_writer *w, const void *data, size_t size)
{
        const char *p = data;
        int r;

        while (size > 0) {
                uint64_t room = w->max_bytes - w->size;
                size_t n;

                if (room == 0) {
                        r = rotate(w);
                        if (r < 0)
                                return r;
                        continue;
                }
                n = (size_t)MIN((uint64_t)size, room);
                r = write_all(w->fd, p, n);
                if (r < 0)
                        return r;
                w->size += n;
                p += n;
                size -= n;
        }
        return 0;
}

struct segment {
        char path[PATH_MAX];
        uint64_t start, size;
};

/* The retained files oldest first, with their absolute start offsets. */
static int list_segments(const char *dir, const char *stream, struct segment *seg, size_t max,
                         size_t *ret_n, uint64_t *ret_base)
{
        struct segment tmp[64];
        uint64_t base, start;
        size_t n = 0;
        int r;

        r = read_base(dir, stream, &base);
        if (r < 0)
                return r;
        /* Walk from the current file back through .1, .2, ... until one is missing. */
        for (unsigned k = 0; k < ELEMENTSOF(tmp) && n < max; k++) {
                struct stat st;

                path_of(dir, stream, NULL, k, tmp[n].path, sizeof(tmp[n].path));
                if (stat(tmp[n].path, &st) < 0) {
                        if (k == 0)
                                return errno == ENOENT ? -ENOENT : negative_errno();
                        break;
                }
                tmp[n].size = (uint64_t)st.st_size;
                n++;
        }
        start = base;
        for (size_t i = 0; i < n; i++) {
                if (i > 0) {
                        if (tmp[i].size > start)
                                return -EAGAIN; /* a rotation raced with us */
                        start -= tmp[i].size;
                }
                tmp[i].start = start;
        }
        for (size_t i = 0; i < n; i++)
                seg[i] = tmp[n - 1 - i];
        *ret_n = n;
        *ret_base = base;
        return 0;
}

static int read_at(const char *path, uint64_t off, char *buf, size_t n, size_t *ret)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t got = 0;

        if (fd < 0)
                return negative_errno();
        while (got < n) {
                ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        *ret = got;
        return 0;
}

static int log_read_once(const char *dir, const char *stream, uint64_t offset, size_t max,
                         struct log_chunk *ret)
{
        struct segment seg[64];
        size_t n, got = 0;
        uint64_t base, base2, end;
        _cleanup_free_ char *buf = NULL;
        int r;

        r = list_segments(dir, stream, seg, ELEMENTSOF(seg), &n, &base);
        if (r < 0)
                return r;
        end = seg[n - 1].start + seg[n - 1].size;
        if (offset < seg[0].start)
                offset = seg[0].start;
        if (offset > end)
                offset = end;
        max = (size_t)MIN((uint64_t)max, end - offset);
        buf = malloc(max ? max : 1);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < n && got < max; i++) {
                uint64_t pos = offset + got;
                size_t k;

                if (pos >= seg[i].start + seg[i].size)
                        continue;
                r = read_at(seg[i].path, pos - seg[i].start, buf + got,
                            (size_t)MIN((uint64_t)(max - got), seg[i].start + seg[i].size - pos), &k);
                if (r == -ENOENT)
                        return -EAGAIN;
                if (r < 0)
                        return r;
                got += k;
                if (k == 0)
                        break;
        }
        /* A rotation in between would have shifted the files under us: read again. */
        r = read_base(dir, stream, &base2);
        if (r < 0)
                return r;
        if (base2 != base)
                return -EAGAIN;
        ret->data = TAKE_PTR(buf);
        ret->size = got;
        ret->offset = offset;
        ret->start = seg[0].start;
        ret->end = end;
        return 0;
}

int log_read(const char *dir, const char *stream, uint64_t offset, size_t max,
             struct log_chunk *ret)
{
        int r = -EAGAIN;

        for (int attempt = 0; attempt < 5 && r == -EAGAIN; attempt++)
                r = log_read_once(dir, stream, offset, max, ret);
        return r;
}

void log_chunk_done(struct log_chunk *c)
{
        free(c->data);
        c->data = NULL;
        c->size = 0;
}

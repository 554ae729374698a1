/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: crash-safe atomic writes and whole-file reads. */
#include <fcntl.h>
#include <poll.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "common/array.h"
#include "common/clock.h"
#include "common/fileio.h"
#include "common/macro.h"

static int write_all(int fd, const void *data, size_t size)
{
        const char *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += n;
                size -= (size_t)n;
        }
        return 0;
}

int fd_wait_readable(int fd, uint64_t deadline_usec)
{
        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                uint64_t now = now_usec(), ms;
                int r;

                if (now >= deadline_usec)
                        return -ETIMEDOUT;
                ms = (deadline_usec - now + 999) / 1000;
                r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
                if (r > 0)
                        return p.revents & POLLNVAL ? -EBADF : 0;
                if (r < 0 && errno != EINTR)
                        return negative_errno();
        }
}

int fsync_directory(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        return fsync(fd) < 0 ? negative_errno() : 0;
}

int fsync_parent(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);

        return copy ? fsync_directory(dirname(copy)) : -ENOMEM;
}

/* temp file, (fsync), rename; (fsync of the directory): the one body of both writers. */
static int file_write_renamed(const char *path, const void *data, size_t size, mode_t mode, bool durable)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return -ENOMEM;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return negative_errno();
        r = write_all(fd, data, size);
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = negative_errno();
        if (r >= 0 && durable && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && rename(tmp, path) < 0)
                r = negative_errno();
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        return durable ? fsync_parent(path) : 0;
}

int file_write_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
        return file_write_renamed(path, data, size, mode, true);
}

int file_write_replace(const char *path, const void *data, size_t size, mode_t mode)
{
        return file_write_renamed(path, data, size, mode, false);
}

int file_read_full(const char *path, size_t max, char **ret_data, size_t *ret_size)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        if (max == 0)
                max = 64u << 20;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        for (;;) {
                ssize_t n;

                if (size + 1 >= alloc) {
                        if (alloc > max + 1)
                                return -EFBIG;
                        if (!ARRAY_GROW(buf, alloc, MAX(size + 2, (size_t)4096)))
                                return -ENOMEM;
                }
                n = read(fd, buf + size, alloc - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t)n;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        if (ret_size)
                *ret_size = size;
        *ret_data = TAKE_PTR(buf);
        return 0;
}

int file_write_string(const char *path, const char *s)
{
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(s);
        ssize_t n;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        n = write(fd, s, len);
        if (n < 0)
                return negative_errno();
        if ((size_t)n != len)
                return -EIO;
        return 0;
}

int mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

int path_mode_enforce(const char *path, mode_t mode, mode_t *ret_old_mode)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* One fd for the check and the change: nothing can swap the path in between. */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if ((st.st_mode & 07777) == mode)
                return 0;
        if (fchmod(fd, mode) < 0)
                return negative_errno();
        if (ret_old_mode)
                *ret_old_mode = st.st_mode & 07777;
        return 1;
}

/*
 * rm -rf without recursion. The trees removed here (a task's sandbox, a persistent volume) were
 * written by tasks, and a task can make a directory chain tens of thousands of levels deep:
 * one stack frame, one fd and one DIR buffer per level would overflow the stack (the agent
 * would crash, and again at every start that resumes the removal) or exhaust the fd limit. So
 * one directory is open at a time and the way back up is a heap stack of names: descend into
 * the first subdirectory that is not empty, go back up through ".." (checked against the
 * recorded device and inode, so a tree moved meanwhile stops the walk instead of removing
 * elsewhere), remove it, rescan. Subdirectories that cannot be emptied are remembered per
 * level and skipped by later rescans; everything else is still removed and the first error is
 * returned, as before.
 */
struct rm_level {
        char *name;             /* this directory's name in its parent (NULL for the top) */
        dev_t dev;
        ino_t ino;
        char **failed;          /* subdirectories given up on, not descended into again */
        size_t n_failed, cap_failed;
};

static void rm_level_done(struct rm_level *l)
{
        free(l->name);
        for (size_t i = 0; i < l->n_failed; i++)
                free(l->failed[i]);
        free(l->failed);
}

static bool rm_level_failed(const struct rm_level *l, const char *name)
{
        for (size_t i = 0; i < l->n_failed; i++)
                if (streq(l->failed[i], name))
                        return true;
        return false;
}

static int rm_level_add_failed(struct rm_level *l, const char *name)
{
        char *copy = strdup(name);

        if (!copy || !ARRAY_GROW(l->failed, l->cap_failed, l->n_failed + 1)) {
                free(copy);
                return -ENOMEM;
        }
        l->failed[l->n_failed++] = copy;
        return 0;
}

#define RM_KEEP_FIRST(r, q) do { if ((q) < 0 && (r) == 0) (r) = (q); } while (0)

/* One pass over the open directory `fd`: unlink what is not a directory, rmdir the empty
 * subdirectories; the first one left that is not empty (and not given up on) is returned in
 * *ret_down with its stat, to descend into. */
static int rm_scan(int fd, const struct rm_level *l, char **ret_down, struct stat *ret_st)
{
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3), r = 0;
        DIR *d;
        struct dirent *de;

        *ret_down = NULL;
        if (dfd < 0)
                return negative_errno();
        d = fdopendir(dfd);
        if (!d) {
                r = negative_errno();
                safe_close(dfd);
                return r;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                RM_KEEP_FIRST(r, negative_errno());
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
                                RM_KEEP_FIRST(r, negative_errno());
                        continue;
                }
                if (st.st_dev != l->dev)
                        continue; /* another mount: leave it alone */
                if (unlinkat(fd, de->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                        continue;
                if (errno != ENOTEMPTY && errno != EEXIST) {
                        RM_KEEP_FIRST(r, negative_errno());
                        continue;
                }
                if (rm_level_failed(l, de->d_name))
                        continue;
                *ret_down = strdup(de->d_name);
                if (!*ret_down)
                        RM_KEEP_FIRST(r, -ENOMEM);
                else
                        *ret_st = st;
                break;
        }
        closedir(d);
        return r;
}

static int rm_tree(int top, const struct stat *top_st)
{
        struct rm_level *levels = NULL;
        size_t depth = 0, cap = 0;
        int cur = top, r = 0, q;

        if (!ARRAY_GROW(levels, cap, 1)) {
                safe_close(top);
                return -ENOMEM;
        }
        levels[0] = (struct rm_level){ .dev = top_st->st_dev, .ino = top_st->st_ino };
        for (;;) {
                struct rm_level *l = &levels[depth];
                _cleanup_free_ char *down = NULL;
                struct stat st = {}, sub_st;
                int sub;

                q = rm_scan(cur, l, &down, &st);
                RM_KEEP_FIRST(r, q);
                if (q == -ENOMEM)
                        break;
                if (down) {
                        sub = openat(cur, down, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0 || fstat(sub, &sub_st) < 0 || sub_st.st_dev != st.st_dev ||
                            sub_st.st_ino != st.st_ino) {
                                /* Gone, replaced or unreadable since the scan: give it up. */
                                RM_KEEP_FIRST(r, sub < 0 ? negative_errno() : -ESTALE);
                                if (sub >= 0)
                                        safe_close(sub);
                                if (rm_level_add_failed(l, down) < 0) {
                                        RM_KEEP_FIRST(r, -ENOMEM);
                                        break;
                                }
                                continue;
                        }
                        if (!ARRAY_GROW(levels, cap, depth + 2)) {
                                safe_close(sub);
                                RM_KEEP_FIRST(r, -ENOMEM);
                                break;
                        }
                        depth++;
                        levels[depth] = (struct rm_level){
                                .name = TAKE_PTR(down), .dev = st.st_dev, .ino = st.st_ino };
                        safe_close(cur);
                        cur = sub;
                        continue;
                }
                if (depth == 0)
                        break;
                /* Back up to the parent, which must still be the directory we came from. */
                sub = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 || fstat(sub, &sub_st) < 0 || sub_st.st_dev != levels[depth - 1].dev ||
                    sub_st.st_ino != levels[depth - 1].ino) {
                        RM_KEEP_FIRST(r, sub < 0 ? negative_errno() : -ESTALE);
                        if (sub >= 0)
                                safe_close(sub);
                        break;
                }
                safe_close(cur);
                cur = sub;
                if (unlinkat(cur, levels[depth].name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                        RM_KEEP_FIRST(r, negative_errno());
                        if (rm_level_add_failed(&levels[depth - 1], levels[depth].name) < 0) {
                                RM_KEEP_FIRST(r, -ENOMEM);
                                rm_level_done(&levels[depth--]);
                                break;
                        }
                }
                rm_level_done(&levels[depth--]);
        }
        for (size_t i = 0; i <= depth; i++)
                rm_level_done(&levels[i]);
        free(levels);
        safe_close(cur);
        return r;
}

int rm_rf(const char *path)
{
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }
        r = rm_tree(fd, &st);
        if (rmdir(path) < 0 && errno != ENOENT && r == 0)
                r = negative_errno();
        return r;
}

bool path_is_under(const char *path, const char *dir)
{
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n == 1)
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Paths inside a container's root, opened and created without ever resolving out of it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macro.h"
#include "isolator/container.h"

/*
 * A rootfs image is untrusted content: "/etc" may be a symlink to the host's "/etc", a
 * volume target may climb out through "../..". Every path the launcher creates, writes or
 * mounts onto is therefore opened with openat2(RESOLVE_IN_ROOT), which makes the kernel treat
 * the root's fd as "/" for every absolute symlink and ".." on the way (CVE-2019-5736,
 * CVE-2021-30465 are what happens otherwise), and the object is then used through its fd
 * (mknodat, mkdirat, move_mount onto the fd), never through the path again.
 * glibc 2.36 has no openat2() wrapper; the raw syscall is stable since Linux 5.6.
 */
int inroot_open(int root_fd, const char *path, int flags, int *ret_fd)
{
        struct open_how how = {
                .flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int path_open_nofollow(const char *path, int *ret_fd)
{
        struct open_how how = {
                .flags = O_PATH | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

/* Split "/a/b/c/" into the parent "/a/b" (in `parent`) and a pointer to the last name in
 * `path` ("c/": the caller stops at the first '/'). */
static int path_split(const char *path, char *parent, size_t len, const char **ret_name)
{
        size_t n = strlen(path);
        char *slash;

        if (n == 0 || n >= len)
                return -ENAMETOOLONG;
        memcpy(parent, path, n + 1);
        while (n > 1 && parent[n - 1] == '/')
                parent[--n] = '\0';
        slash = strrchr(parent, '/');
        if (!slash)
                return -EINVAL;
        *ret_name = path + (slash - parent) + 1;
        if (slash == parent)
                parent[1] = '\0';
        else
                *slash = '\0';
        return 0;
}

int inroot_open_parent(int root_fd, const char *path, bool create, int *ret_parent_fd,
                       char *ret_name, size_t name_len)
{
        char parent[PATH_MAX];
        const char *name;
        size_t n;
        int r = path_split(path, parent, sizeof(parent), &name);

        if (r < 0)
                return r;
        n = strcspn(name, "/");
        if (n == 0 || n >= name_len || (n == 1 && name[0] == '.') ||
            (n == 2 && name[0] == '.' && name[1] == '.'))
                return -EINVAL;
        memcpy(ret_name, name, n);
        ret_name[n] = '\0';
        if (create)
                return inroot_mkpath(root_fd, parent, INROOT_DIR, 0755, ret_parent_fd);
        return inroot_open(root_fd, parent, O_PATH | O_DIRECTORY, ret_parent_fd);
}

static int check_kind(int fd, enum inroot_kind kind)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (kind == INROOT_DIR && !S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (kind == INROOT_FILE && S_ISDIR(st.st_mode))
                return -EISDIR;
        return 0;
}

int inroot_mkpath(int root_fd, const char *path, enum inroot_kind kind, mode_t mode,
                  int *ret_fd)
{
        _cleanup_close_ int fd = -EBADF;
        int r = inroot_open(root_fd, path, O_PATH, &fd);

        if (r == -ENOENT) {
                _cleanup_close_ int parent_fd = -EBADF;
                char name[NAME_MAX + 1];

                r = inroot_open_parent(root_fd, path, true, &parent_fd, name, sizeof(name));
                if (r < 0)
                        return r;
                /* Relative to the resolved parent's fd, and never following the last name: a
                 * dangling symlink there makes mkdirat/openat fail with EEXIST and the
                 * re-open below report ENOENT, instead of creating the link's target. */
                if (kind == INROOT_DIR) {
                        if (mkdirat(parent_fd, name, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                } else {
                        int f = openat(parent_fd, name,
                                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
                        if (f < 0 && errno != EEXIST)
                                return negative_errno();
                        safe_close(f);
                }
                r = inroot_open(root_fd, path, O_PATH, &fd);
        }
        if (r < 0)
                return r;
        r = check_kind(fd, kind);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

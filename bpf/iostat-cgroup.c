/* SPDX-License-Identifier: Apache-2.0 */
/* Cgroup ids as the iostat programs record them: find their hierarchy, id <-> path, liveness. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "iostat.h"

/* kernfs file handles (fs/kernfs/mount.c): type FILEID_KERNFS, 8 bytes holding the node id,
 * the same u64 the programs read from kn->id. */
#define IOSTAT_FILEID_KERNFS 0xfe

struct kernfs_handle {
        struct file_handle fh;
        uint64_t id;
};

/* A mountinfo line: "36 25 0:31 / /sys/fs/cgroup/blkio rw,... shared:1 - cgroup cgroup rw,blkio".
 * Returns the mount point (octal escapes left alone: cgroup mounts have none) or NULL. */
static const char *mountinfo_match(char *line, const char *fstype, const char *super_opt)
{
        char *sep = strstr(line, " - "), *fields[5], *save = NULL, *mnt, *type, *opts, *tok;
        unsigned n = 0;

        if (!sep)
                return NULL;
        *sep = '\0';
        for (tok = strtok_r(line, " ", &save); tok && n < 5; tok = strtok_r(NULL, " ", &save))
                fields[n++] = tok;
        if (n < 5)
                return NULL;
        mnt = fields[4];
        type = strtok_r(sep + 3, " ", &save);
        (void)strtok_r(NULL, " ", &save); /* source */
        opts = strtok_r(NULL, " \n", &save);
        if (!type || strcmp(type, fstype) != 0)
                return NULL;
        if (super_opt) {
                bool found = false;
                char *osave = NULL;

                for (tok = opts ? strtok_r(opts, ",", &osave) : NULL; tok;
                     tok = strtok_r(NULL, ",", &osave))
                        found = found || strcmp(tok, super_opt) == 0;
                if (!found)
                        return NULL;
        }
        return mnt;
}

int iostat_cgroup_root_find(char **ret_path)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        _cleanup_free_ char *v1 = NULL, *v2 = NULL;
        char line[4096];

        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f)) {
                char copy[sizeof(line)];
                const char *m;

                /* On hybrid hosts the blkio controller lives on a v1 hierarchy and bios carry
                 * that hierarchy's blkcg, so its ids are the ones the programs see. */
                memcpy(copy, line, sizeof(line));
                m = mountinfo_match(copy, "cgroup", "blkio");
                if (m && !v1 && !(v1 = strdup(m)))
                        return -ENOMEM;
                memcpy(copy, line, sizeof(line));
                m = mountinfo_match(copy, "cgroup2", NULL);
                if (m && !v2 && !(v2 = strdup(m)))
                        return -ENOMEM;
        }
        if (v1) {
                *ret_path = TAKE_PTR(v1);
                return 0;
        }
        if (v2) {
                *ret_path = TAKE_PTR(v2);
                return 0;
        }
        return -ENOENT;
}

int iostat_cgroup_id(const char *path, uint64_t *ret_id)
{
        struct kernfs_handle h = {.fh.handle_bytes = sizeof(uint64_t)};
        int mount_id;

        if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
                return negative_errno();
        if (h.fh.handle_type != IOSTAT_FILEID_KERNFS || h.fh.handle_bytes != sizeof(uint64_t))
                return -EMEDIUMTYPE; /* not a cgroup (kernfs) directory */
        memcpy(ret_id, h.fh.f_handle, sizeof(uint64_t));
        return 0;
}

int iostat_cgroup_path(const char *cgroup_root, uint64_t id, char **ret_path)
{
        struct kernfs_handle h = {.fh.handle_bytes = sizeof(uint64_t),
                                  .fh.handle_type = IOSTAT_FILEID_KERNFS};
        _cleanup_close_ int mfd = -EBADF, fd = -EBADF;
        char proc[64], target[PATH_MAX];
        size_t rootlen = strlen(cgroup_root);
        ssize_t n;
        char *p;

        mfd = open(cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mfd < 0)
                return negative_errno();
        memcpy(h.fh.f_handle, &id, sizeof(id));
        fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno(); /* -ESTALE: no such cgroup (any more) */

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, target, sizeof(target) - 1);
        if (n < 0)
                return negative_errno();
        target[n] = '\0';
        /* The link is the absolute path; show it relative to the hierarchy's mount. */
        while (rootlen > 1 && cgroup_root[rootlen - 1] == '/')
                rootlen--;
        if (strncmp(target, cgroup_root, rootlen) == 0 &&
            (target[rootlen] == '/' || target[rootlen] == '\0'))
                p = strdup(target[rootlen] ? target + rootlen : "/");
        else
                p = strdup(target);
        if (!p)
                return -ENOMEM;
        *ret_path = p;
        return 0;
}

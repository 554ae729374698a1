/* SPDX-License-Identifier: Apache-2.0 */
/* Cached probe of the cgroup hierarchy: is it v2, and which controllers does it offer. */
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/fileio.h"
#include "isolator/cgroup-internal.h"
#include "common/error.h"

static const struct {
        unsigned bit;
        const char *name;
} controller_names[] = {
        { CG_CTRL_CPU, "cpu" },   { CG_CTRL_CPUSET, "cpuset" }, { CG_CTRL_MEMORY, "memory" },
        { CG_CTRL_IO, "io" },     { CG_CTRL_PIDS, "pids" },
};

const char *cg_controller_to_string(unsigned ctrl_bit)
{
        for (size_t i = 0; i < ELEMENTSOF(controller_names); i++)
                if (controller_names[i].bit == ctrl_bit)
                        return controller_names[i].name;
        return NULL;
}

unsigned cg_controllers_from_string(const char *content)
{
        unsigned mask = 0;
        const char *p = content;

        while (p && *p) {
                size_t n;

                p += strspn(p, " \t\n");
                n = strcspn(p, " \t\n");
                for (size_t i = 0; i < ELEMENTSOF(controller_names); i++)
                        if (n == strlen(controller_names[i].name) &&
                            strncmp(p, controller_names[i].name, n) == 0)
                                mask |= controller_names[i].bit;
                p += n;
        }
        return mask;
}


static int probe_one(const char *mountpoint, struct cg_probe *p)
{
        _cleanup_free_ char *content = NULL, *path = NULL;
        struct statfs sfs;

        memset(p, 0, sizeof(*p));
        if (strlen(mountpoint) >= sizeof(p->mountpoint))
                return -ENAMETOOLONG;
        strcpy(p->mountpoint, mountpoint);
        /* libcgroup has no v1/v2 probe of a given mount point, so ask statfs directly. */
        if (statfs(mountpoint, &sfs) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        p->unified = (sfs.f_type == CGROUP2_SUPER_MAGIC);
        if (!p->unified)
                return 0;
        if (asprintf(&path, "%s/cgroup.controllers", mountpoint) < 0)
                return -ENOMEM;
        if (file_read_full(path, 0, &content, NULL) >= 0)
                p->controllers = cg_controllers_from_string(content);

        /* cgroup.kill, cgroup.freeze and memory.peak never exist in the root group, so look
         * in the first child group (the per-group callers check the file again anyway). */
        {
                _cleanup_closedir_ DIR *d = opendir(mountpoint);
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        char f[PATH_MAX];

                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        snprintf(f, sizeof(f), "%s/%s/cgroup.kill", mountpoint, de->d_name);
                        p->has_kill = access(f, F_OK) == 0;
                        snprintf(f, sizeof(f), "%s/%s/cgroup.freeze", mountpoint, de->d_name);
                        p->has_freeze = access(f, F_OK) == 0;
                        snprintf(f, sizeof(f), "%s/%s/memory.peak", mountpoint, de->d_name);
                        p->has_memory_peak = access(f, F_OK) == 0;
                        break;
                }
        }
        return 0;
}

int cg_probe(const char *mountpoint, const struct cg_probe **ret)
{
        static struct cg_probe cache[4];
        static size_t n_cache;
        int r;

        if (!mountpoint)
                mountpoint = CG_DEFAULT_MOUNTPOINT;
        for (size_t i = 0; i < n_cache; i++)
                if (streq(cache[i].mountpoint, mountpoint)) {
                        *ret = &cache[i];
                        return 0;
                }
        if (n_cache == ELEMENTSOF(cache))
                n_cache = 0;    /* tests probing many fake trees: recycle */
        r = probe_one(mountpoint, &cache[n_cache]);
        if (r < 0)
                return r;
        *ret = &cache[n_cache++];
        return 0;
}

int cg_probe_check(const struct cg_probe *p, char **ret_error)
{
        char missing[64] = "";
        unsigned lacking = CG_CTRL_REQUIRED & ~(p->unified ? p->controllers : 0);

        if (!lacking)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(controller_names); i++)
                if (lacking & controller_names[i].bit) {
                        if (missing[0])
                                strcat(missing, ", ");
                        strcat(missing, controller_names[i].name);
                }
        if (!p->unified)
                return error_set(ret_error, -EOPNOTSUPP,
                                "cgroup v2 controllers %s not available at %s (no cgroup2 "
                                "filesystem there: hybrid/v1 host?); Silo will not run tasks "
                                "without isolation",
                                missing, p->mountpoint);
        return error_set(ret_error, -EOPNOTSUPP,
                        "cgroup v2 controllers %s not available at %s (missing from "
                        "cgroup.controllers); Silo will not run tasks without isolation",
                        missing, p->mountpoint);
}

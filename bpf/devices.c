/* SPDX-License-Identifier: Apache-2.0 */
/* Loader of the per-task device allow-list: build the rules, fill the map, attach to the cgroup. */
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/macro.h"
#include "devices.h"
#include "devices.skel.h"
#include "common/error.h"


/* What every task may use (as runc/Docker allow): the harmless character devices and the
 * pseudo-terminals of its own devpts (major 136). */
static const struct devices_rule default_rules[] = {
        { 'c', 1, 3, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* null */
        { 'c', 1, 5, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* zero */
        { 'c', 1, 7, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* full */
        { 'c', 1, 8, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* random */
        { 'c', 1, 9, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* urandom */
        { 'c', 5, 0, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* tty */
        { 'c', 5, 2, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* ptmx */
        { 'c', 136, DEVICES_ANY, SILO_DEV_READ | SILO_DEV_WRITE },       /* pts */
};

int devices_rules_build(const struct silo_device *devices, size_t n_devices,
                        struct devices_rule **ret, size_t *ret_n, char **ret_error)
{
        size_t n = ELEMENTSOF(default_rules);
        struct devices_rule *v;

        if (n + n_devices > DEVICES_MAX_RULES)
                return error_set(ret_error, -E2BIG,
                                 "container.devices: %zu entries, at most %u are supported",
                                 n_devices, DEVICES_MAX_RULES - (unsigned)n);
        v = calloc(n + n_devices, sizeof(*v));
        if (!v)
                return -ENOMEM;
        memcpy(v, default_rules, sizeof(default_rules));
        for (size_t i = 0; i < n_devices; i++) {
                const char *p = devices[i].path;
                struct stat st;

                if (!p || stat(p, &st) < 0) {
                        int r = p ? negative_errno() : -EINVAL;

                        free(v);
                        if (r == -ENOENT)
                                return error_set(ret_error, r,
                                                 "container.devices[%zu].path: %s does not exist",
                                                 i, p);
                        return error_set(ret_error, r, "container.devices[%zu].path: %s: %s", i,
                                         strempty(p), strerror(-r));
                }
                if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) {
                        free(v);
                        return error_set(ret_error, -ENOTBLK,
                                         "container.devices[%zu].path: %s is not a device node",
                                         i, p);
                }
                v[n++] = (struct devices_rule){
                        .type = S_ISBLK(st.st_mode) ? 'b' : 'c',
                        .major = major(st.st_rdev),
                        .minor = minor(st.st_rdev),
                        .access = devices[i].access
                                          ? devices[i].access
                                          : SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD,
                };
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static __u32 access_to_bpf(unsigned a)
{
        return (a & SILO_DEV_MKNOD ? BPF_DEVCG_ACC_MKNOD : 0) |
               (a & SILO_DEV_READ ? BPF_DEVCG_ACC_READ : 0) |
               (a & SILO_DEV_WRITE ? BPF_DEVCG_ACC_WRITE : 0);
}

/*
 * Why the legacy bpf_prog_attach() and not a bpf_link: a link is detached when its last fd
 * closes, so it would need a bpffs pin to survive the agent, and a pin is one more thing an
 * agent crash can leave inconsistent. A legacy attachment is held by the cgroup itself: it
 * stays after this process (and its fds) are gone, an agent restart cannot drop it, and
 * rmdir of the cgroup releases it. Flags 0 (no BPF_F_ALLOW_OVERRIDE/MULTI): nothing below
 * the task's group may replace or add to it.
 */
int devices_attach(int cgroup_fd, const struct devices_rule *rules, size_t n_rules,
                   char **ret_error)
{
        struct devices_bpf *skel;
        int map_fd, r;

        skel = devices_bpf__open_and_load();
        if (!skel) {
                r = errno > 0 ? -errno : -EIO;
                return error_set(ret_error, r,
                                 "cannot load the device allow-list program: %s%s",
                                 strerror(-r),
                                 r == -EPERM ? " (needs root: CAP_BPF and CAP_SYS_ADMIN)" : "");
        }
        map_fd = bpf_map__fd(skel->maps.allowed);
        for (size_t i = 0; i < n_rules; i++) {
                struct devices_key k = {
                        .type = rules[i].type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR,
                        .major = rules[i].major,
                        .minor = rules[i].minor,
                };
                __u32 acc = 0;

                /* the same device listed twice: the union of the accesses */
                (void)bpf_map_lookup_elem(map_fd, &k, &acc);
                acc |= access_to_bpf(rules[i].access);
                if (bpf_map_update_elem(map_fd, &k, &acc, BPF_ANY) < 0) {
                        r = -errno;
                        devices_bpf__destroy(skel);
                        return error_set(ret_error, r, "cannot fill the device map: %s",
                                         strerror(-r));
                }
        }
        r = bpf_prog_attach(bpf_program__fd(skel->progs.silo_devices), cgroup_fd,
                            BPF_CGROUP_DEVICE, 0);
        if (r < 0) {
                r = -errno;
                devices_bpf__destroy(skel);
                return error_set(ret_error, r,
                                 "cannot attach the device allow-list to the cgroup: %s",
                                 strerror(-r));
        }
        /* Closing our fds leaves the program attached and its map referenced by it. */
        devices_bpf__destroy(skel);
        return 0;
}

int devices_query(int cgroup_fd, uint32_t *ret_count)
{
        __u32 ids[8], cnt = ELEMENTSOF(ids), flags = 0;

        if (bpf_prog_query(cgroup_fd, BPF_CGROUP_DEVICE, 0, &flags, ids, &cnt) < 0)
                return -errno;
        *ret_count = cnt;
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Loader of the per-task device allow-list: build the rules, fill the map, attach to the cgroup. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/error.h"
#include "common/macro.h"
#include "devices.h"
#include "devices.skel.h"
#include "isolator/isolator.h"

/* What every task may use (as runc/Docker allow): the harmless character devices and the
 * pseudo-terminals of its own devpts (major 136). */
static const struct cg_device_rule default_rules[] = {
        { 'c', 1, 3, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* null */
        { 'c', 1, 5, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* zero */
        { 'c', 1, 7, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* full */
        { 'c', 1, 8, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* random */
        { 'c', 1, 9, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* urandom */
        { 'c', 5, 0, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* tty */
        { 'c', 5, 2, SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD },  /* ptmx */
        { 'c', 136, DEVICES_ANY, SILO_DEV_READ | SILO_DEV_WRITE },       /* pts */
};

_Static_assert(DEVICES_ANY == CG_DEVICE_ANY, "one wildcard for the map and the rules");
_Static_assert(DEVICES_MAX_RULES - ELEMENTSOF(default_rules) == CG_DEVICE_RULES_MAX,
               "CG_DEVICE_RULES_MAX is what the map leaves after the defaults");

int devices_rules_build(const struct cg_device_rule *rules, size_t n_rules,
                        struct cg_device_rule **ret, size_t *ret_n)
{
        size_t n = ELEMENTSOF(default_rules);
        struct cg_device_rule *v;

        if (n_rules > DEVICES_MAX_RULES - n)
                return -E2BIG;
        v = calloc(n + n_rules, sizeof(*v));
        if (!v)
                return -ENOMEM;
        memcpy(v, default_rules, sizeof(default_rules));
        if (n_rules > 0)
                memcpy(v + n, rules, n_rules * sizeof(*v));
        *ret = v;
        *ret_n = n + n_rules;
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
 * the task's group may replace or add to it. One loaded program may be attached to many
 * groups (the kernel counts the references), so groups with the same rules can share one
 * program and its map, which nobody writes after the load.
 */
/* The map holds one entry per device: listed twice, it gets the union of the accesses. */
static int map_fill(int map_fd, const struct cg_device_rule *rules, size_t n_rules)
{
        for (size_t i = 0; i < n_rules; i++) {
                struct devices_key k = {
                        .type = rules[i].type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR,
                        .major = rules[i].major,
                        .minor = rules[i].minor,
                };
                __u32 acc = 0;

                (void)bpf_map_lookup_elem(map_fd, &k, &acc);
                acc |= access_to_bpf(rules[i].access);
                if (bpf_map_update_elem(map_fd, &k, &acc, BPF_ANY) < 0)
                        return -errno;
        }
        return 0;
}

int devices_load(const struct cg_device_rule *extra, size_t n_extra, int *ret_prog_fd,
                 char **ret_error)
{
        _cleanup_free_ struct cg_device_rule *rules = NULL;
        struct devices_bpf *skel;
        size_t n_rules;
        int r;

        r = devices_rules_build(extra, n_extra, &rules, &n_rules);
        if (r < 0)
                return error_set(ret_error, r, "%zu device rules, at most %u are supported",
                                 n_extra, CG_DEVICE_RULES_MAX);
        skel = devices_bpf__open_and_load();
        if (!skel) {
                r = errno > 0 ? -errno : -EIO;
                return error_set(ret_error, r,
                                 "cannot load the device allow-list program: %s%s",
                                 strerror(-r),
                                 r == -EPERM ? " (needs root: CAP_BPF and CAP_SYS_ADMIN)" : "");
        }
        r = map_fill(bpf_map__fd(skel->maps.allowed), rules, n_rules);
        if (r < 0)
                r = error_set(ret_error, r, "cannot fill the device map: %s", strerror(-r));
        /* The program holds its map: our copy of its fd is all that is kept. */
        else if ((*ret_prog_fd = fcntl(bpf_program__fd(skel->progs.silo_devices), F_DUPFD_CLOEXEC, 3)) < 0)
                r = error_set(ret_error, -errno, "cannot keep the device allow-list program: %m");
        devices_bpf__destroy(skel);
        return r;
}

int devices_attach_prog(int prog_fd, int cgroup_fd, char **ret_error)
{
        if (bpf_prog_attach(prog_fd, cgroup_fd, BPF_CGROUP_DEVICE, 0) < 0)
                return error_set(ret_error, -errno,
                                 "cannot attach the device allow-list to the cgroup: %m");
        return 0;
}

int devices_attach(int cgroup_fd, const struct cg_device_rule *extra, size_t n_extra,
                   char **ret_error)
{
        int prog_fd = -1;
        int r;

        r = devices_load(extra, n_extra, &prog_fd, ret_error);
        if (r >= 0)
                r = devices_attach_prog(prog_fd, cgroup_fd, ret_error);
        /* Closing our fd leaves the program attached and its map referenced by it. */
        safe_close(prog_fd);
        return r;
}

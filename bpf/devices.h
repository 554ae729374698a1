/* SPDX-License-Identifier: Apache-2.0 */
/* Per-task device allow-list (BPF_PROG_TYPE_CGROUP_DEVICE): shared map layout and loader API. */
#pragma once

#ifndef __bpf__
#include <linux/types.h>        /* vmlinux.h provides these on the BPF side */
#endif

/* Shared with devices.bpf.c: keep to __u32-style types. */
#define DEVICES_ANY 0xffffffffu         /* wildcard major or minor */
#define DEVICES_MAX_RULES 256

struct devices_key {
        __u32 type;     /* BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2) */
        __u32 major;
        __u32 minor;    /* or DEVICES_ANY */
};
/* The map value is the allowed BPF_DEVCG_ACC_* bits (mknod 1, read 2, write 4). */

#ifndef __bpf__
#include <stddef.h>

struct cg_device_rule;  /* isolator/isolator.h */

/* The default rules (/dev/null zero full random urandom tty ptmx with rwm, and pts: char
 * 136:* rw) followed by `rules`, as one vector; -E2BIG past DEVICES_MAX_RULES. Free *ret. */
int devices_rules_build(const struct cg_device_rule *rules, size_t n_rules,
                        struct cg_device_rule **ret, size_t *ret_n);

/* Load a fresh program + map holding the defaults and `rules` and attach it to the cgroup
 * `cgroup_fd` (an O_RDONLY directory fd). The attachment outlives the caller: see devices.c.
 * -EPERM means root/CAP_BPF+CAP_SYS_ADMIN is needed; -EEXIST that a program is already
 * attached. */
int devices_attach(int cgroup_fd, const struct cg_device_rule *rules, size_t n_rules,
                   char **ret_error);

/* The same program, loaded but not attached: *ret_prog_fd (O_CLOEXEC) for devices_attach_prog(),
 * as many times as there are groups with these rules; close it when none is to come. */
int devices_load(const struct cg_device_rule *rules, size_t n_rules, int *ret_prog_fd,
                 char **ret_error);
int devices_attach_prog(int prog_fd, int cgroup_fd, char **ret_error);
#endif

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/* Device allow-list of one task's cgroup: allow an access only if the map grants it. */
/* No CO-RE relocations: bpf_cgroup_dev_ctx is stable UAPI, and without them libbpf does not
 * parse the kernel's 5 MB BTF on every task launch (it cost ~80 ms per launch). */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "devices.h"

/* Filled by the loader before attach; one map per task, never written afterwards. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, DEVICES_MAX_RULES);
        __type(key, struct devices_key);
        __type(value, __u32);
} allowed SEC(".maps");

static __always_inline int granted(__u32 type, __u32 major, __u32 minor, __u32 access)
{
        struct devices_key k = { .type = type, .major = major, .minor = minor };
        __u32 *v = bpf_map_lookup_elem(&allowed, &k);

        return v && (*v & access) == access;
}

SEC("cgroup/dev")
int silo_devices(struct bpf_cgroup_dev_ctx *ctx)
{
        /* access_type: low 16 bits the device type, high 16 bits the access mask. */
        __u32 type = ctx->access_type & 0xffff;
        __u32 access = ctx->access_type >> 16;

        if (granted(type, ctx->major, ctx->minor, access) ||
            granted(type, ctx->major, DEVICES_ANY, access))
                return 1;
        return 0;
}

char LICENSE[] SEC("license") = "GPL";

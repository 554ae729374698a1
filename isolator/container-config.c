/* SPDX-License-Identifier: Apache-2.0 */
/* Building and freeing a launcher config. The shim builds it from launch.json, the task spec and what the
 * agent resolved (agent/shim-protocol.c, shim_container_config()). */
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "isolator/container.h"

/* Here, not in container-launch.c: the agent builds configs too (shim-protocol.c), and taking
 * this from that file would link the child's code and libseccomp into the agent. */
uint64_t container_default_capabilities(void)
{
        /* Docker's default set: enough for ordinary root-in-a-container programs, without the
         * capabilities that break out (SYS_ADMIN, SYS_MODULE, SYS_PTRACE, NET_ADMIN, ...). */
        static const int caps[] = {
                CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
                CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
                CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
        };
        uint64_t m = 0;

        for (size_t i = 0; i < ELEMENTSOF(caps); i++)
                m |= UINT64_C(1) << caps[i];
        return m;
}

static void strv_clear(char ***v)
{
        *v = strv_free(*v);
}

void container_config_clear(struct container_config *c)
{
        if (!c)
                return;
        strv_clear(&c->argv);
        strv_clear(&c->env);
        free(c->cwd);
        free(c->groups);
        free(c->hostname);
        free(c->netns_path);
        free(c->netns_dir);
        free(c->rootfs);
        free(c->sandbox);
        /* Not container_seccomp_prog_clear(): the fuzz build links this file without
         * container-seccomp.c and libseccomp (tests/fuzz/meson.build). */
        free(c->quota_prog.filter);
        strv_clear(&c->hidden);
        for (size_t i = 0; i < c->n_volumes; i++) {
                free(c->volumes[i].source);
                free(c->volumes[i].target);
        }
        free(c->volumes);
        for (size_t i = 0; i < c->n_devices; i++)
                free(c->devices[i].path);
        free(c->devices);
        free(c->rlimits);
        memset(c, 0, sizeof(*c));
}

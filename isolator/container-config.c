/* SPDX-License-Identifier: Apache-2.0 */
/* Freeing a launcher config. The shim builds it from launch.json, the task spec and what the
 * agent resolved (agent/shim-protocol.c, shim_container_config()). */
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "isolator/container.h"

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

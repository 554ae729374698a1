/* SPDX-License-Identifier: Apache-2.0 */
/* VM helper: create, set and read back a cgroup v2 group through libcgroup's C API, as the isolator does. */

/*
 * Usage:
 *   silo-vm-cgroup-check create GROUP CONTROLLER SETTING VALUE
 *       create GROUP (relative to the cgroup2 root) with CONTROLLER enabled for it, write
 *       SETTING=VALUE through libcgroup, read SETTING back through libcgroup and print it;
 *       exit 1 if the read-back value differs.
 *   silo-vm-cgroup-check delete GROUP CONTROLLER
 *
 * It exists so that the env suite proves libcgroup 2.0.2 itself works against the 6.1 kernel's
 * cgroup v2 (cgroup_init finds the cgroup2 mount, creation, writes and reads), independently of
 * any file the shell could write directly.
 */

#include <libcgroup.h>
#include <stdbool.h>

#include "common/macro.h"

static void cgroup_freep(struct cgroup **cg)
{
        if (*cg)
                cgroup_free(cg);
}

static int fail(const char *what, const char *group, int r)
{
        fprintf(stderr, "silo-vm-cgroup-check: %s of group '%s' failed: %s (libcgroup code %d)\n",
                what, group, cgroup_strerror(r), r);
        return 1;
}

static int group_create(const char *group, const char *controller, const char *setting,
                        const char *value)
{
        _cleanup_(cgroup_freep) struct cgroup *cg = cgroup_new_cgroup(group);
        _cleanup_(cgroup_freep) struct cgroup *back = NULL;
        _cleanup_free_ char *got = NULL;
        struct cgroup_controller *c;
        int r;

        if (!cg)
                return fail("allocation", group, ECGFAIL);
        c = cgroup_add_controller(cg, controller);
        if (!c)
                return fail("adding controller", group, ECGINVAL);
        r = cgroup_add_value_string(c, setting, value);
        if (r != 0)
                return fail("adding the setting", group, r);
        r = cgroup_create_cgroup(cg, 0);
        if (r != 0)
                return fail("creation", group, r);

        /* Read back through a fresh object so the value comes from the kernel, not our copy. */
        back = cgroup_new_cgroup(group);
        if (!back)
                return fail("allocation", group, ECGFAIL);
        r = cgroup_get_cgroup(back);
        if (r != 0)
                return fail("reading", group, r);
        c = cgroup_get_controller(back, controller);
        if (!c) {
                fprintf(stderr, "silo-vm-cgroup-check: group '%s' has no controller '%s' after creation\n",
                        group, controller);
                return 1;
        }
        r = cgroup_get_value_string(c, setting, &got);
        if (r != 0)
                return fail("reading the setting", group, r);
        /* Values read from cgroupfs may carry the file's trailing newline. */
        got[strcspn(got, "\n")] = '\0';
        printf("%s %s=%s\n", group, setting, got);
        if (strcmp(got, value) != 0) {
                fprintf(stderr, "silo-vm-cgroup-check: %s of '%s' reads back '%s', wrote '%s'\n",
                        setting, group, got, value);
                return 1;
        }
        return 0;
}

/*
 * libcgroup 2.0.2 on the unified hierarchy: a group filled by cgroup_get_cgroup() lists every
 * controller at the same path, and cgroup_delete_cgroup() removes the directory for the first
 * one and then fails with ECGOTHER/ENOENT on the second. Deleting through an object naming a
 * single controller removes the directory exactly once.
 */
static int group_delete(const char *group, const char *controller)
{
        _cleanup_(cgroup_freep) struct cgroup *cg = cgroup_new_cgroup(group);
        int r;

        if (!cg)
                return fail("allocation", group, ECGFAIL);
        if (!cgroup_add_controller(cg, controller))
                return fail("adding controller", group, ECGINVAL);
        r = cgroup_delete_cgroup(cg, 0);
        if (r != 0)
                return fail("deletion", group, r);
        return 0;
}

static int usage(const char *prog)
{
        fprintf(stderr, "usage: %s create GROUP CONTROLLER SETTING VALUE\n"
                        "       %s delete GROUP CONTROLLER\n", prog, prog);
        return 2;
}

int main(int argc, char **argv)
{
        bool create;
        int r;

        if (argc == 6 && strcmp(argv[1], "create") == 0)
                create = true;
        else if (argc == 4 && strcmp(argv[1], "delete") == 0)
                create = false;
        else
                return usage(argv[0]);

        r = cgroup_init();
        if (r != 0) {
                fprintf(stderr, "silo-vm-cgroup-check: cgroup_init failed: %s (libcgroup code %d)\n",
                        cgroup_strerror(r), r);
                return 1;
        }
        if (create)
                return group_create(argv[2], argv[3], argv[4], argv[5]);
        return group_delete(argv[2], argv[3]);
}

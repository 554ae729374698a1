/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codec and validation of a task spec's top level (name, command, env, user, capabilities,
 * rlimits, ...). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/error.h"
#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "common/task-spec-parts.h"

#define RLIMIT_CHOICES                                                                             \
        "nofile, nproc, core, memlock, stack, fsize, as, cpu, data, locks, msgqueue, nice, "       \
        "rtprio, sigpending, rss"
#define KILL_GRACE_MAX_S 3600

static void task_spec_init(struct silo_task_spec *s)
{
        *s = (struct silo_task_spec){
            .init = true,
            .kill_grace_s = UINT32_MAX,
        };
        silo_resources_init(&s->resources);
        silo_container_init(&s->container);
        silo_constraints_init(&s->constraints);
}

void silo_task_spec_clear(struct silo_task_spec *s)
{
        free(s->id);
        free(s->name);
        free(s->role);
        strv_free(s->command);
        silo_kv_array_free(s->env, s->n_env);
        free(s->user);
        free(s->group);
        free(s->rlimits);
        silo_resources_clear(&s->resources);
        silo_container_clear(&s->container);
        silo_constraints_clear(&s->constraints);
        task_spec_init(s);
}

static int command_from_json(const json_t *j, char ***ret, char **ret_error)
{
        const json_t *arr = json_field(j, "command");
        _cleanup_strv_free_ char **argv = NULL;
        size_t n;

        if (!arr)
                return json_error(ret_error, -EINVAL, "command", "missing");
        if (!json_is_array(arr) || json_array_size(arr) == 0)
                return json_error(ret_error, -EINVAL, "command",
                                  "must be a non-empty array of strings");
        n = json_array_size(arr);
        argv = calloc(n + 1, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_array_get(arr, i);

                /* Only the program must be non-empty: an empty argument is legitimate
                 * ("grep -e ''"). */
                if (!json_is_string(v) || (i == 0 && json_string_length(v) == 0) ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return json_error(ret_error, -EINVAL, "command",
                                          "must be a non-empty array of strings "
                                          "(element %zu is not %s)",
                                          i, i == 0 ? "a non-empty string" : "a string");
                argv[i] = strdup(json_string_value(v));
                if (!argv[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(argv);
        return 0;
}

/* execve() takes "NAME=value": a name with '=' would be split differently by the task. */
static bool env_name_is_valid(const char *k)
{
        return *k && !strchr(k, '=');
}

/* A user name or numeric uid: no separators getpwnam() or /etc/passwd would trip on. */
static bool user_is_valid(const char *u)
{
        if (!*u || strlen(u) > 256)
                return false;
        for (; *u; u++)
                if (*u == ':' || *u == '/' || *u == ' ' || *u == '\t' || *u == '\n' ||
                    (unsigned char)*u < 0x20)
                        return false;
        return true;
}

static int capabilities_from_json(const json_t *j, uint64_t *ret, char **ret_error)
{
        const json_t *arr = json_field(j, "capabilities");
        uint64_t mask = 0;

        if (!arr)
                return 0;
        if (!json_is_array(arr))
                return json_error(ret_error, -EINVAL, "capabilities",
                                  "must be an array of strings");
        for (size_t i = 0; i < json_array_size(arr); i++) {
                _cleanup_free_ char *ipath = json_path_index("capabilities", i);
                const json_t *v = json_array_get(arr, i);
                int cap;

                if (!ipath)
                        return -ENOMEM;
                if (!json_is_string(v))
                        return json_error(ret_error, -EINVAL, ipath, "must be a string");
                cap = silo_capability_from_string(json_string_value(v));
                if (cap < 0)
                        return json_error(ret_error, -EINVAL, ipath,
                                          "'%s' is not a capability (see capabilities(7))",
                                          json_string_value(v));
                mask |= UINT64_C(1) << cap;
        }
        *ret = mask;
        return 0;
}

/* An rlimit value: a quantity, or "unlimited" (RLIM_INFINITY). */
static int rlimit_value_from_json(const json_t *v, const char *path, uint64_t *ret,
                                  char **ret_error)
{
        if (json_is_string(v) && streq(json_string_value(v), "unlimited")) {
                *ret = RLIM_INFINITY;
                return 0;
        }
        return quantity_from_json(v, path, ret, ret_error);
}

/*
 * What the kernel accepts for each rlimit, and the least a task can start with (measured in the
 * VM: below these the task's first process fails to exec, crashes or is killed at once). Either
 * would otherwise be found out only in the task's first process, after its cgroup and sandbox
 * exist; refusing them here makes the master refuse them too. Limits not listed take
 * 0..unlimited (nproc counts every process of the task's user on the node, so no figure here
 * could promise a start).
 */
struct rlimit_range {
        int resource;
        uint64_t min; /* for the soft limit (the one a process hits) */
        uint64_t max; /* for the hard limit; 0 = no maximum */
        bool unlimited_ok;
        const char *why; /* shown with a refused value */
};

static const struct rlimit_range rlimit_ranges[] = {
    /* setrlimit(RLIMIT_NOFILE) refuses more than fs.nr_open with EPERM, and fs.nr_open
     * itself is at most sysctl_nr_open_max (INT_MAX rounded down to BITS_PER_LONG,
     * fs/file.c); the node's own fs.nr_open is checked by the agent. With 3 the dynamic
     * loader cannot open libc (exit 127). */
    {RLIMIT_NOFILE, 4, 2147483584, false,
     "the kernel caps open files at fs.nr_open; a task needs stdin, stdout, stderr and one "
     "more to exec"},
    /* exec gives the arguments and environment a quarter of the stack (fs/exec.c); a 4 KiB
     * stack crashes /bin/sh at start. */
    {RLIMIT_STACK, 64 << 10, 0, true, "a smaller stack crashes programs at exec"},
    /* 1 MiB of address space cannot map /bin/sh and libc (exit 127); RLIMIT_DATA 0
     * crashes it (SIGSEGV); RLIMIT_CPU 0 kills the task at once (SIGKILL). */
    {RLIMIT_AS, 16 << 20, 0, true, "a smaller address space cannot load a program"},
    {RLIMIT_DATA, 1 << 20, 0, true, "a smaller data segment crashes programs at start"},
    {RLIMIT_CPU, 1, 0, true, "0 kills the task at once"},
    /* RLIMIT_NICE is a ceiling of 20 - value (0..40); RLIMIT_RTPRIO a priority (0..99). */
    {RLIMIT_NICE, 0, 40, true, "the nice ceiling is 20 - value"},
    {RLIMIT_RTPRIO, 0, 99, true, "real-time priorities are 0..99"},
};

static const struct rlimit_range *rlimit_range_of(int resource)
{
        for (size_t i = 0; i < ELEMENTSOF(rlimit_ranges); i++)
                if (rlimit_ranges[i].resource == resource)
                        return &rlimit_ranges[i];
        return NULL;
}

static void rlimit_value_format(uint64_t v, char *buf, size_t n)
{
        if (v == RLIM_INFINITY)
                snprintf(buf, n, "unlimited");
        else
                (void)quantity_format(v, buf, n);
}

/* One value (v, at `path`) of an rlimit against its range: `is_soft` values are held to the
 * minimum, `is_hard` values to the maximum (a plain value is both). */
static int rlimit_value_check(const struct rlimit_range *range, const json_t *v, const char *path,
                              uint64_t value, bool is_soft, bool is_hard, char **ret_error)
{
        _cleanup_free_ char *desc = NULL;
        char lo[QUANTITY_FORMAT_MAX], hi[QUANTITY_FORMAT_MAX];

        if (!range)
                return 0;
        if (value == RLIM_INFINITY && range->unlimited_ok)
                return 0;
        if ((!is_soft || value >= range->min) &&
            (!is_hard || range->max == 0 || (value != RLIM_INFINITY && value <= range->max)))
                return 0;
        desc = json_value_describe(v);
        if (!desc)
                return -ENOMEM;
        rlimit_value_format(range->min, lo, sizeof(lo));
        rlimit_value_format(range->max ?: RLIM_INFINITY, hi, sizeof(hi));
        if (value == RLIM_INFINITY)
                return json_error(ret_error, -EINVAL, path,
                                  "%s is not allowed: give a number in %s..%s (%s)", desc, lo, hi,
                                  range->why);
        if (range->max == 0)
                return json_error(ret_error, -EINVAL, path, "%s is below the minimum of %s (%s)",
                                  desc, lo, range->why);
        return json_error(ret_error, -EINVAL, path, "%s is out of range (%s..%s%s; %s)", desc, lo,
                          hi, range->unlimited_ok ? " or 'unlimited'" : "", range->why);
}

static int rlimit_from_json(const char *name, const json_t *v, struct silo_rlimit *ret,
                            char **ret_error)
{
        static const char *const keys[] = {"soft", "hard", NULL};
        _cleanup_free_ char *path = json_path_key("rlimits", name);
        _cleanup_free_ char *spath = NULL, *hpath = NULL;
        const struct rlimit_range *range;
        int resource, r;
        uint64_t soft, hard;

        if (!path)
                return -ENOMEM;
        resource = silo_rlimit_from_string(name);
        if (resource < 0)
                return json_error(ret_error, -EINVAL, "rlimits",
                                  "'%s' is not an rlimit (" RLIMIT_CHOICES ")", name);
        range = rlimit_range_of(resource);
        if (!json_is_object(v)) {
                r = rlimit_value_from_json(v, path, &soft, ret_error);
                if (r >= 0)
                        r = rlimit_value_check(range, v, path, soft, true, true, ret_error);
                if (r < 0)
                        return r;
                *ret = (struct silo_rlimit){.resource = resource, .soft = soft, .hard = soft};
                return 0;
        }

        r = json_check_object(v, path, keys, ret_error);
        if (r < 0)
                return r;
        spath = json_path_key(path, "soft");
        hpath = json_path_key(path, "hard");
        if (!spath || !hpath)
                return -ENOMEM;
        if (!json_field(v, "soft"))
                return json_error(ret_error, -EINVAL, spath, "missing");
        if (!json_field(v, "hard"))
                return json_error(ret_error, -EINVAL, hpath, "missing");
        r = rlimit_value_from_json(json_field(v, "soft"), spath, &soft, ret_error);
        if (r >= 0)
                r = rlimit_value_from_json(json_field(v, "hard"), hpath, &hard, ret_error);
        if (r < 0)
                return r;
        if (soft > hard) {
                _cleanup_free_ char *sd = json_value_describe(json_field(v, "soft"));
                _cleanup_free_ char *hd = json_value_describe(json_field(v, "hard"));

                if (!sd || !hd)
                        return -ENOMEM;
                return json_error(ret_error, -EINVAL, path, "soft limit %s is above hard limit %s",
                                  sd, hd);
        }
        r = rlimit_value_check(range, json_field(v, "soft"), spath, soft, true, false, ret_error);
        if (r >= 0)
                r = rlimit_value_check(range, json_field(v, "hard"), hpath, hard, false, true,
                                       ret_error);
        if (r < 0)
                return r;
        *ret = (struct silo_rlimit){.resource = resource, .soft = soft, .hard = hard};
        return 0;
}

static int rlimits_from_json(const json_t *j, struct silo_task_spec *s, char **ret_error)
{
        const json_t *obj = json_field(j, "rlimits");
        const char *name;
        json_t *v;

        if (!obj)
                return 0;
        if (!json_is_object(obj))
                return json_error(ret_error, -EINVAL, "rlimits", "must be an object");
        if (json_object_size(obj) == 0)
                return 0;
        s->rlimits = calloc(json_object_size(obj), sizeof(*s->rlimits));
        if (!s->rlimits)
                return -ENOMEM;
        json_object_foreach((json_t *)obj, name, v)
        {
                int r = rlimit_from_json(name, v, &s->rlimits[s->n_rlimits], ret_error);

                if (r < 0)
                        return r;
                s->n_rlimits++;
        }
        return 0;
}

int silo_task_spec_from_json(const json_t *j, struct silo_task_spec **ret, char **ret_error)
{
        static const char *const keys[] = {
            "id",        "name",         "role",        "command",
            "env",       "user",         "group",       "priority",
            "init",      "capabilities", "rlimits",     "kill_grace_s",
            "resources", "container",    "constraints", NULL};
        _cleanup_(silo_task_spec_clear) struct silo_task_spec s;
        struct silo_task_spec *p;
        const json_t *part;
        int64_t grace = UINT32_MAX;
        int r;

        task_spec_init(&s);
        if (!json_is_object(j))
                return json_error(ret_error, -EINVAL, NULL, "a task spec must be a JSON object");
        r = json_check_object(j, NULL, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "id", false, &s.id, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "name", true, &s.name, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "role", false, &s.role, ret_error);
        if (r >= 0 && !s.role && !(s.role = strdup("default")))
                r = -ENOMEM;
        if (r >= 0)
                r = command_from_json(j, &s.command, ret_error);
        if (r >= 0)
                r = json_field_kv(j, NULL, "env", env_name_is_valid,
                                  "a valid variable name (non-empty, without '=')", &s.env,
                                  &s.n_env, ret_error);
        if (r >= 0)
                r = json_field_string(j, NULL, "user", false, &s.user, ret_error);
        if (r >= 0 && s.user && !user_is_valid(s.user))
                r = json_error(ret_error, -EINVAL, "user", "'%s' is not a user name or uid",
                               s.user);
        if (r >= 0)
                r = json_field_name(j, NULL, "group", false, &s.group, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "priority", false, INT64_MIN, INT64_MAX, &s.priority,
                                   ret_error);
        if (r >= 0)
                r = json_field_bool(j, NULL, "init", &s.init, ret_error);
        if (r >= 0)
                r = capabilities_from_json(j, &s.capabilities, ret_error);
        if (r >= 0)
                r = rlimits_from_json(j, &s, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "kill_grace_s", false, 0, KILL_GRACE_MAX_S, &grace,
                                   ret_error);
        if (r < 0)
                return r;
        s.kill_grace_s = (uint32_t)grace;

        part = json_field(j, "resources");
        if (part) {
                r = silo_resources_from_json(part, "resources", &s.resources, ret_error);
                if (r < 0)
                        return r;
                /* The init forks the command: with pids.max 1 that fork fails (EAGAIN). */
                if (s.init && s.resources.pids < 2) {
                        _cleanup_free_ char *desc = json_value_describe(json_field(part, "pids"));

                        return desc ? json_error(ret_error, -EINVAL, "resources.pids",
                                                 "%s is below the minimum of 2 with init "
                                                 "(the init and the command are two processes; "
                                                 "init: false runs with 1)",
                                                 desc)
                                    : -ENOMEM;
                }
        }
        part = json_field(j, "container");
        if (part) {
                r = silo_container_from_json(part, "container", &s.container, ret_error);
                if (r < 0)
                        return r;
                s.has_container = true;
        }
        r = silo_task_cross_check(&s.resources, s.has_container ? &s.container : NULL,
                                  json_field(j, "capabilities"), ret_error);
        if (r < 0)
                return r;
        part = json_field(j, "constraints");
        if (part) {
                r = silo_constraints_from_json(part, "constraints", &s.constraints, ret_error);
                if (r < 0)
                        return r;
        }

        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = s;
        task_spec_init(&s);
        *ret = p;
        return 0;
}

static json_t *rlimit_value_to_json(uint64_t v)
{
        return v == RLIM_INFINITY ? json_string("unlimited") : quantity_to_json(v);
}

static json_t *rlimits_to_json(const struct silo_task_spec *s)
{
        _cleanup_json_ json_t *o = json_object();

        for (size_t i = 0; i < s->n_rlimits; i++) {
                const struct silo_rlimit *l = &s->rlimits[i];
                json_t *v;

                if (l->soft == l->hard)
                        v = rlimit_value_to_json(l->soft);
                else {
                        v = json_object();
                        if (json_set(v, "soft", rlimit_value_to_json(l->soft)) < 0 ||
                            json_set(v, "hard", rlimit_value_to_json(l->hard)) < 0) {
                                json_decref(v);
                                return NULL;
                        }
                }
                if (json_set(o, silo_rlimit_to_string(l->resource), v) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

json_t *silo_task_spec_to_json(const struct silo_task_spec *s)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *arr;
        int r = 0;

        if (s->id)
                r = json_set(o, "id", json_string(s->id));
        if (r >= 0)
                r = json_set(o, "name", json_string(s->name));
        if (r >= 0)
                r = json_set(o, "role", json_string(silo_task_spec_role(s)));
        if (r >= 0) {
                r = json_set(o, "command", arr = json_array());
                for (char **a = s->command; r >= 0 && a && *a; a++)
                        r = json_array_append_new(arr, json_string(*a)) < 0 ? -ENOMEM : 0;
        }
        if (r >= 0 && s->n_env)
                r = json_set(o, "env", silo_kv_array_to_json(s->env, s->n_env));
        if (r >= 0 && s->user)
                r = json_set(o, "user", json_string(s->user));
        if (r >= 0 && s->group)
                r = json_set(o, "group", json_string(s->group));
        if (r >= 0)
                r = json_set(o, "priority", json_integer(s->priority));
        if (r >= 0)
                r = json_set(o, "init", json_boolean(s->init));
        if (r >= 0 && s->capabilities) {
                r = json_set(o, "capabilities", arr = json_array());
                for (int cap = 0; r >= 0 && cap < 64; cap++)
                        if ((s->capabilities & (UINT64_C(1) << cap)) &&
                            silo_capability_to_string(cap))
                                r = json_array_append_new(
                                        arr, json_string(silo_capability_to_string(cap))) < 0
                                        ? -ENOMEM
                                        : 0;
        }
        if (r >= 0 && s->n_rlimits)
                r = json_set(o, "rlimits", rlimits_to_json(s));
        if (r >= 0 && s->kill_grace_s != UINT32_MAX)
                r = json_set(o, "kill_grace_s", json_integer(s->kill_grace_s));
        if (r >= 0 && !silo_resources_is_empty(&s->resources))
                r = json_set(o, "resources", silo_resources_to_json(&s->resources));
        if (r >= 0 && s->has_container)
                r = json_set(o, "container", silo_container_to_json(&s->container));
        if (r >= 0 && !silo_constraints_is_empty(&s->constraints))
                r = json_set(o, "constraints", silo_constraints_to_json(&s->constraints));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

SILO_DEFINE_CODEC_COMMON(task_spec)

int silo_volume_check_existing(const struct silo_volume *vol, size_t i, const char *disk,
                               const char *disk_class, char **ret_error)
{
        if (vol->disk && !streq(vol->disk, "any") && !streq(vol->disk, disk))
                return error_set(ret_error, -EINVAL,
                                 "container.volumes[%zu].disk: volume '%s' is on disk %s, not %s", i,
                                 vol->name, disk, vol->disk);
        if (vol->class && !streq_ptr(vol->class, disk_class))
                return error_set(ret_error, -EINVAL,
                                 "container.volumes[%zu].class: volume '%s' is on disk %s %s%s%s, not "
                                 "of class '%s'",
                                 i, vol->name, disk, disk_class ? "of class '" : "whose class is unknown",
                                 strempty(disk_class), disk_class ? "'" : "", vol->class);
        return 0;
}

const char *silo_task_spec_role(const struct silo_task_spec *spec)
{
        return spec->role ? spec->role : "default";
}

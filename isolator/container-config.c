/* SPDX-License-Identifier: Apache-2.0 */
/* The launch config as JSON (<sandbox>/launch.json): what the agent hands the task's shim. */
#include <errno.h>
#include <stdio.h>
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

static json_t *strv_to_json(char *const *v)
{
        json_t *a = json_array();

        for (; a && v && *v; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

json_t *container_config_to_json(const struct container_config *c)
{
        json_t *j = json_object(), *vols = json_array(), *devs = json_array(),
               *rl = json_array(), *groups = json_array();

        if (!j || !vols || !devs || !rl || !groups) {
                json_decref(j);
                json_decref(vols);
                json_decref(devs);
                json_decref(rl);
                json_decref(groups);
                return NULL;
        }
        json_object_set_new(j, "argv", strv_to_json(c->argv));
        json_object_set_new(j, "env", strv_to_json(c->env));
        if (c->cwd)
                json_object_set_new(j, "cwd", json_string(c->cwd));
        if (c->set_user) {
                json_object_set_new(j, "uid", json_integer(c->uid));
                json_object_set_new(j, "gid", json_integer(c->gid));
                for (size_t i = 0; i < c->n_groups; i++)
                        json_array_append_new(groups, json_integer(c->groups[i]));
        }
        json_object_set_new(j, "groups", groups);
        json_object_set_new(j, "namespaces", json_integer(c->namespaces));
        if (c->hostname)
                json_object_set_new(j, "hostname", json_string(c->hostname));
        if (c->rootfs)
                json_object_set_new(j, "rootfs", json_string(c->rootfs));
        json_object_set_new(j, "sandbox", json_string(c->sandbox));
        if (c->hidden)
                json_object_set_new(j, "hidden", strv_to_json(c->hidden));
        for (size_t i = 0; i < c->n_volumes; i++)
                json_array_append_new(vols, json_pack("{s:s, s:s, s:b}", "source", c->volumes[i].source,
                                                      "target", c->volumes[i].target,
                                                      "readonly", c->volumes[i].readonly));
        json_object_set_new(j, "volumes", vols);
        for (size_t i = 0; i < c->n_devices; i++)
                json_array_append_new(devs, json_pack("{s:s, s:i}", "path", c->devices[i].path,
                                                      "access", (int)c->devices[i].access));
        json_object_set_new(j, "devices", devs);
        /* A string: JSON integers are signed 64-bit and cannot carry bit 63 portably. */
        {
                char buf[32];
                snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)c->capabilities);
                json_object_set_new(j, "capabilities", json_string(buf));
        }
        for (size_t i = 0; i < c->n_rlimits; i++) {
                char s[32], h[32];
                snprintf(s, sizeof(s), "%llu", (unsigned long long)c->rlimits[i].soft);
                snprintf(h, sizeof(h), "%llu", (unsigned long long)c->rlimits[i].hard);
                json_array_append_new(rl, json_pack("{s:i, s:s, s:s}", "resource",
                                                    c->rlimits[i].resource, "soft", s, "hard", h));
        }
        json_object_set_new(j, "rlimits", rl);
        json_object_set_new(j, "init", json_boolean(c->init));
        return j;
}

static int strv_from_json(const json_t *a, char ***ret)
{
        size_t i, n;
        char **v;

        if (!json_is_array(a))
                return -EINVAL;
        n = json_array_size(a);
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (!s || !(v[i] = strdup(s))) {
                        strv_free(v);
                        return s ? -ENOMEM : -EINVAL;
                }
        }
        *ret = v;
        return 0;
}

static int dup_opt(const json_t *j, const char *key, char **ret)
{
        const json_t *v = json_object_get(j, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EINVAL;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int bad(char **ret_error, const char *field)
{
        if (ret_error && asprintf(ret_error, "launch config: %s: missing or invalid", field) < 0)
                *ret_error = NULL;
        return -EINVAL;
}

int container_config_from_json(const json_t *j, struct container_config *ret, char **ret_error)
{
        struct container_config c = {};
        const json_t *v, *e;
        size_t i;

        if (!json_is_object(j))
                return bad(ret_error, "(top level)");
        if (strv_from_json(json_object_get(j, "argv"), &c.argv) < 0 || !c.argv[0] || !*c.argv[0])
                goto fail_argv;
        if (strv_from_json(json_object_get(j, "env"), &c.env) < 0) {
                container_config_clear(&c);
                return bad(ret_error, "env");
        }
        if (dup_opt(j, "cwd", &c.cwd) < 0 || dup_opt(j, "hostname", &c.hostname) < 0 ||
            dup_opt(j, "rootfs", &c.rootfs) < 0 || dup_opt(j, "sandbox", &c.sandbox) < 0 ||
            !c.sandbox) {
                container_config_clear(&c);
                return bad(ret_error, "cwd/hostname/rootfs/sandbox");
        }
        if ((v = json_object_get(j, "hidden")) && strv_from_json(v, &c.hidden) < 0) {
                container_config_clear(&c);
                return bad(ret_error, "hidden");
        }
        if ((v = json_object_get(j, "uid"))) {
                c.set_user = true;
                c.uid = (uid_t)json_integer_value(v);
                c.gid = (gid_t)json_integer_value(json_object_get(j, "gid"));
        }
        v = json_object_get(j, "groups");
        if (json_array_size(v) > 0) {
                c.groups = calloc(json_array_size(v), sizeof(gid_t));
                if (!c.groups)
                        goto fail_nomem;
                json_array_foreach(v, i, e)
                        c.groups[c.n_groups++] = (gid_t)json_integer_value(e);
        }
        c.namespaces = (unsigned)json_integer_value(json_object_get(j, "namespaces"));
        v = json_object_get(j, "volumes");
        if (json_array_size(v) > 0) {
                c.volumes = calloc(json_array_size(v), sizeof(*c.volumes));
                if (!c.volumes)
                        goto fail_nomem;
                json_array_foreach(v, i, e) {
                        struct container_volume *vol = &c.volumes[c.n_volumes++];
                        if (dup_opt(e, "source", &vol->source) < 0 ||
                            dup_opt(e, "target", &vol->target) < 0 || !vol->source || !vol->target) {
                                container_config_clear(&c);
                                return bad(ret_error, "volumes");
                        }
                        vol->readonly = json_is_true(json_object_get(e, "readonly"));
                }
        }
        v = json_object_get(j, "devices");
        if (json_array_size(v) > 0) {
                c.devices = calloc(json_array_size(v), sizeof(*c.devices));
                if (!c.devices)
                        goto fail_nomem;
                json_array_foreach(v, i, e) {
                        struct container_device *d = &c.devices[c.n_devices++];
                        if (dup_opt(e, "path", &d->path) < 0 || !d->path) {
                                container_config_clear(&c);
                                return bad(ret_error, "devices");
                        }
                        d->access = (unsigned)json_integer_value(json_object_get(e, "access"));
                }
        }
        {
                const char *caps = json_string_value(json_object_get(j, "capabilities"));
                char *end;

                if (!caps) {
                        container_config_clear(&c);
                        return bad(ret_error, "capabilities");
                }
                errno = 0;
                c.capabilities = strtoull(caps, &end, 16);
                if (errno || *end) {
                        container_config_clear(&c);
                        return bad(ret_error, "capabilities");
                }
        }
        v = json_object_get(j, "rlimits");
        if (json_array_size(v) > 0) {
                c.rlimits = calloc(json_array_size(v), sizeof(*c.rlimits));
                if (!c.rlimits)
                        goto fail_nomem;
                json_array_foreach(v, i, e) {
                        struct silo_rlimit *r = &c.rlimits[c.n_rlimits++];
                        const char *s = json_string_value(json_object_get(e, "soft"));
                        const char *h = json_string_value(json_object_get(e, "hard"));

                        if (!s || !h) {
                                container_config_clear(&c);
                                return bad(ret_error, "rlimits");
                        }
                        r->resource = (int)json_integer_value(json_object_get(e, "resource"));
                        r->soft = strtoull(s, NULL, 10);
                        r->hard = strtoull(h, NULL, 10);
                }
        }
        c.init = json_is_true(json_object_get(j, "init"));
        *ret = c;
        return 0;

fail_argv:
        container_config_clear(&c);
        return bad(ret_error, "argv");
fail_nomem:
        container_config_clear(&c);
        return -ENOMEM;
}

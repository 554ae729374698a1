/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding of the agent <-> shim files in the sandbox, each written atomically. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/shim-protocol.h"
#include "common/fileio.h"
#include "common/macro.h"

static int json_write(const char *sandbox, const char *name, json_t *j)
{
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;

        if (!j)
                return -ENOMEM;
        text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        if (snprintf(path, sizeof(path), "%s/%s", sandbox, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        return file_write_atomic(path, text, strlen(text), 0640);
}

static int json_read(const char *sandbox, const char *name, json_t **ret)
{
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        json_t *j;
        int r;

        if (snprintf(path, sizeof(path), "%s/%s", sandbox, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        r = file_read_full(path, 4 << 20, &text, NULL);
        if (r < 0)
                return r;
        j = json_loads(text, 0, NULL);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

int shim_launch_write(const char *sandbox, const struct shim_launch *l)
{
        json_t *c = container_config_to_json(&l->container);

        if (!c)
                return -ENOMEM;
        return json_write(sandbox, SHIM_LAUNCH_FILE,
                          json_pack("{s:s, s:s, s:I, s:i, s:o}", "task_id", l->task_id, "cgroup",
                                    l->cgroup, "log_max_bytes", (json_int_t)l->log_max_bytes,
                                    "log_files", (int)l->log_files, "container", c));
}

int shim_launch_read(const char *sandbox, struct shim_launch *ret, char **ret_error)
{
        struct shim_launch l = {};
        json_t *j = NULL;
        const char *id, *cg;
        json_int_t max = 0;
        int files = 0, r;

        r = json_read(sandbox, SHIM_LAUNCH_FILE, &j);
        if (r < 0) {
                if (ret_error && asprintf(ret_error, "%s/%s: %s", sandbox, SHIM_LAUNCH_FILE,
                                          strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (json_unpack(j, "{s:s, s:s, s:I, s:i}", "task_id", &id, "cgroup", &cg, "log_max_bytes",
                        &max, "log_files", &files) < 0 || max <= 0 || files <= 0) {
                json_decref(j);
                if (ret_error && asprintf(ret_error, "%s/%s: malformed", sandbox, SHIM_LAUNCH_FILE) < 0)
                        *ret_error = NULL;
                return -EBADMSG;
        }
        l.task_id = strdup(id);
        l.cgroup = strdup(cg);
        l.log_max_bytes = (uint64_t)max;
        l.log_files = (unsigned)files;
        r = container_config_from_json(json_object_get(j, "container"), &l.container, ret_error);
        json_decref(j);
        if (r < 0 || !l.task_id || !l.cgroup) {
                shim_launch_clear(&l);
                return r < 0 ? r : -ENOMEM;
        }
        *ret = l;
        return 0;
}

void shim_launch_clear(struct shim_launch *l)
{
        free(l->task_id);
        free(l->cgroup);
        container_config_clear(&l->container);
        memset(l, 0, sizeof(*l));
}

int shim_state_write(const char *sandbox, const struct shim_state *s)
{
        return json_write(sandbox, SHIM_STATE_FILE,
                          json_pack("{s:i, s:I, s:i, s:I, s:I}", "shim_pid", (int)s->shim_pid,
                                    "shim_start_time", (json_int_t)s->shim_start_time, "task_pid",
                                    (int)s->task_pid, "task_start_time",
                                    (json_int_t)s->task_start_time, "started_ms",
                                    (json_int_t)s->started_ms));
}

int shim_state_read(const char *sandbox, struct shim_state *ret)
{
        json_t *j = NULL;
        json_int_t sst = 0, tst = 0, started = 0;
        int spid = 0, tpid = 0, r;

        r = json_read(sandbox, SHIM_STATE_FILE, &j);
        if (r < 0)
                return r;
        r = json_unpack(j, "{s:i, s:I, s:i, s:I, s:I}", "shim_pid", &spid, "shim_start_time", &sst,
                        "task_pid", &tpid, "task_start_time", &tst, "started_ms", &started);
        json_decref(j);
        if (r < 0)
                return -EBADMSG;
        *ret = (struct shim_state){.shim_pid = spid, .shim_start_time = (uint64_t)sst,
                                   .task_pid = tpid, .task_start_time = (uint64_t)tst,
                                   .started_ms = (uint64_t)started};
        return 0;
}

int shim_exit_record_write(const char *sandbox, const struct shim_exit_record *e)
{
        json_t *j = json_pack("{s:i, s:i, s:b, s:I}", "exit_code", e->exit_code, "signal", e->signal,
                              "core_dumped", e->core_dumped, "finished_ms",
                              (json_int_t)e->finished_ms);

        if (j && e->launch_error)
                json_object_set_new(j, "launch_error", json_string(e->launch_error));
        return json_write(sandbox, SHIM_EXIT_FILE, j);
}

int shim_exit_record_read(const char *sandbox, struct shim_exit_record *ret)
{
        struct shim_exit_record e = {};
        json_t *j = NULL;
        json_int_t fin = 0;
        const char *le;
        int core = 0, r;

        r = json_read(sandbox, SHIM_EXIT_FILE, &j);
        if (r < 0)
                return r;
        r = json_unpack(j, "{s:i, s:i, s:b, s:I}", "exit_code", &e.exit_code, "signal", &e.signal,
                        "core_dumped", &core, "finished_ms", &fin);
        if (r < 0) {
                json_decref(j);
                return -EBADMSG;
        }
        e.core_dumped = core;
        e.finished_ms = (uint64_t)fin;
        le = json_string_value(json_object_get(j, "launch_error"));
        if (le && !(e.launch_error = strdup(le))) {
                json_decref(j);
                return -ENOMEM;
        }
        json_decref(j);
        *ret = e;
        return 0;
}

void shim_exit_record_clear(struct shim_exit_record *e)
{
        free(e->launch_error);
        e->launch_error = NULL;
}

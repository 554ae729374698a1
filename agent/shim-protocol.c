/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding of the agent <-> shim files in the sandbox, each written atomically. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/shim-protocol.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/http-json.h"
#include "common/json-util.h"
#include "common/macro.h"
#include "common/protocol-json.h"

/* durable: fsynced (file_write_atomic()); else file_write_replace(), for a file that only this
 * boot's processes read. */
static int json_write(const char *sandbox, const char *name, json_t *j, bool durable)
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
        return durable ? file_write_atomic(path, text, strlen(text), 0640)
                       : file_write_replace(path, text, strlen(text), 0640);
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
        /* As the codecs: a repeated key would silently keep one of two values. */
        j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

static size_t strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

/* A copy of the NULL-terminated vector v (NULL: an empty one); NULL on ENOMEM. */
static char **strv_copy(char *const *v)
{
        size_t n = strv_length(v);
        char **c = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; c && i < n; i++)
                if (!(c[i] = strdup(v[i])))
                        return strv_free(c);
        return c;
}

static json_t *strv_to_json(char *const *v)
{
        json_t *a = json_array();

        for (; a && v && *v; v++)
                if (json_array_append_new(a, json_string(*v)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

/* A JSON array of strings (absent: *ret stays NULL), or -EINVAL. */
static int strv_from_json(const json_t *a, char ***ret)
{
        _cleanup_strv_free_ char **v = NULL;
        size_t n;

        if (!a)
                return 0;
        if (!json_is_array(a))
                return -EINVAL;
        n = json_array_size(a);
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *x = json_string_value(json_array_get(a, i));

                if (!x)
                        return -EINVAL;
                if (!(v[i] = strdup(x)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* uint64_t as a decimal string: JSON integers are signed 64-bit ("unlimited" is UINT64_MAX). */
static json_t *u64_to_json(uint64_t v)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
}

static int u64_from_json(const char *s, uint64_t *ret)
{
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno || end == s || *end ? -EINVAL : 0;
}

static json_t *resolved_to_json(const struct shim_resolved *r)
{
        json_t *j = json_pack("{s:s, s:s, s:I, s:i, s:o, s:i, s:o}", "cgroup", r->cgroup, "sandbox",
                              r->sandbox, "log_max_bytes", (json_int_t)r->log_max_bytes, "log_files",
                              (int)r->log_files, "env", strv_to_json(r->env), "namespaces",
                              (int)r->namespaces, "volume_sources", strv_to_json(r->volume_sources));

        if (!j)
                return NULL;
        if (r->set_user && (json_set(j, "uid", json_integer(r->uid)) < 0 ||
                            json_set(j, "gid", json_integer(r->gid)) < 0))
                goto fail;
        if (r->hostname && json_set(j, "hostname", json_string(r->hostname)) < 0)
                goto fail;
        if (r->netns_path && json_set(j, "netns_path", json_string(r->netns_path)) < 0)
                goto fail;
        if (r->netns_dir && json_set(j, "netns_dir", json_string(r->netns_dir)) < 0)
                goto fail;
        if (r->hidden && json_set(j, "hidden", strv_to_json(r->hidden)) < 0)
                goto fail;
        if (r->nofile.resource >= 0 &&
            json_set(j, "nofile", json_pack("{s:o, s:o}", "soft", u64_to_json(r->nofile.soft), "hard",
                                            u64_to_json(r->nofile.hard))) < 0)
                goto fail;
        return j;
fail:
        json_decref(j);
        return NULL;
}

/* The resolved object; a field that is missing or of the wrong type is named. */
static int resolved_from_json(json_t *j, struct shim_resolved *r, char **ret_error)
{
        const char *cg, *sandbox, *hostname = NULL, *netns = NULL, *netns_dir = NULL, *soft = NULL, *hard = NULL;
        json_t *env, *vols, *hidden = NULL, *uid = NULL, *gid = NULL, *nofile = NULL;
        json_int_t max;
        int files, ns, k;

        if (json_unpack(j, "{s:s, s:s, s:I, s:i, s:o, s:i, s:o, s?s, s?s, s?s, s?o, s?o, s?o, s?o}", "cgroup",
                        &cg, "sandbox", &sandbox, "log_max_bytes", &max, "log_files", &files, "env",
                        &env, "namespaces", &ns, "volume_sources", &vols, "hostname", &hostname,
                        "netns_path", &netns, "netns_dir", &netns_dir, "hidden", &hidden, "uid", &uid, "gid", &gid, "nofile", &nofile) < 0 ||
            max <= 0 || files <= 0)
                return error_set(ret_error, -EBADMSG, "resolved: malformed");
        r->log_max_bytes = (uint64_t)max;
        r->log_files = (unsigned)files;
        r->namespaces = (unsigned)ns;
        r->cgroup = strdup(cg);
        r->sandbox = strdup(sandbox);
        r->hostname = hostname ? strdup(hostname) : NULL;
        r->netns_path = netns ? strdup(netns) : NULL;
        r->netns_dir = netns_dir ? strdup(netns_dir) : NULL;
        if (!r->cgroup || !r->sandbox || (hostname && !r->hostname) || (netns && !r->netns_path) ||
            (netns_dir && !r->netns_dir))
                return -ENOMEM;
        if ((k = strv_from_json(env, &r->env)) < 0 || !r->env)
                return k == -ENOMEM ? k : error_set(ret_error, -EINVAL, "resolved.env: missing or invalid");
        if ((k = strv_from_json(vols, &r->volume_sources)) < 0)
                return k == -ENOMEM ? k : error_set(ret_error, -EINVAL, "resolved.volume_sources: invalid");
        if ((k = strv_from_json(hidden, &r->hidden)) < 0)
                return k == -ENOMEM ? k : error_set(ret_error, -EINVAL, "resolved.hidden: invalid");
        if (uid || gid) {
                if (!json_is_integer(uid) || !json_is_integer(gid))
                        return error_set(ret_error, -EINVAL, "resolved.uid/gid: invalid");
                r->set_user = true;
                r->uid = (uid_t)json_integer_value(uid);
                r->gid = (gid_t)json_integer_value(gid);
        }
        r->nofile.resource = -1;
        if (nofile) {
                if (json_unpack(nofile, "{s:s, s:s}", "soft", &soft, "hard", &hard) < 0 ||
                    u64_from_json(soft, &r->nofile.soft) < 0 || u64_from_json(hard, &r->nofile.hard) < 0)
                        return error_set(ret_error, -EINVAL, "resolved.nofile: invalid");
                r->nofile.resource = RLIMIT_NOFILE;
        }
        return 0;
}

int shim_launch_write(const char *sandbox, const struct silo_task_spec *spec,
                      const struct shim_resolved *resolved)
{
        json_t *r = resolved_to_json(resolved);

        if (!r)
                return -ENOMEM;
        return json_write(sandbox, SHIM_LAUNCH_FILE,
                          json_pack("{s:i, s:o, s:o}", "version", 2, "spec",
                                    silo_task_spec_to_json(spec), "resolved", r),
                          false);
}

static int launch_decode(json_t *j, struct shim_launch *l, char **ret_error)
{
        int r;

        r = silo_task_spec_from_json(json_object_get(j, "spec"), &l->spec, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "spec");
        if (!l->spec->id)
                return error_set(ret_error, -EINVAL, "spec.id: missing");
        r = resolved_from_json(json_object_get(j, "resolved"), &l->resolved, ret_error);
        if (r < 0)
                return r;
        if (strv_length(l->resolved.volume_sources) !=
            (l->spec->has_container ? l->spec->container.n_volumes : 0))
                return error_set(ret_error, -EINVAL,
                                 "resolved.volume_sources: not one per container.volumes entry");
        return shim_container_config(l->spec, &l->resolved, &l->container);
}

static int launch_decode_take(json_t *j, struct shim_launch *ret, char **ret_error)
{
        struct shim_launch l = {};
        int r;

        r = launch_decode(j, &l, ret_error);
        json_decref(j);
        if (r < 0) {
                shim_launch_clear(&l);
                return r;
        }
        *ret = l;
        return 0;
}

int shim_launch_read(const char *sandbox, struct shim_launch *ret, char **ret_error)
{
        json_t *j = NULL;
        int r;

        r = json_read(sandbox, SHIM_LAUNCH_FILE, &j);
        if (r < 0)
                return error_set(ret_error, r, "%s/%s: %s", sandbox, SHIM_LAUNCH_FILE, strerror(-r));
        r = launch_decode_take(j, ret, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "%s/%s", sandbox, SHIM_LAUNCH_FILE);
        return 0;
}

int shim_launch_parse(const char *text, size_t size, struct shim_launch *ret, char **ret_error)
{
        json_t *j = NULL;
        int r;

        /* The parser of request bodies: duplicate keys refused, the file's size limit. */
        r = http_json_parse(text, size, 4 << 20, &j, ret_error);
        if (r < 0)
                return r;
        if (!json_is_object(j)) {
                json_decref(j);
                return error_set(ret_error, -EBADMSG, "not a JSON object");
        }
        return launch_decode_take(j, ret, ret_error);
}

static char *strdup_opt(const char *s, bool *oom)
{
        char *d = s ? strdup(s) : NULL;

        *oom |= s && !d;
        return d;
}

int shim_container_config(const struct silo_task_spec *spec, const struct shim_resolved *r,
                          struct container_config *ret)
{
        const struct silo_container *sc = spec->has_container ? &spec->container : NULL;
        struct container_config c = {
                .set_user = r->set_user,
                .uid = r->uid,
                .gid = r->gid,
                .namespaces = r->namespaces,
                .capabilities = container_default_capabilities() | spec->capabilities,
                .init = spec->init,
        };
        bool oom = false;

        c.argv = strv_copy(spec->command);
        c.env = strv_copy(r->env);
        c.hidden = r->hidden ? strv_copy(r->hidden) : NULL;
        oom |= !c.argv || !c.env || (r->hidden && !c.hidden);
        c.rootfs = strdup_opt(sc ? sc->rootfs : NULL, &oom);
        c.cwd = strdup_opt(c.rootfs ? "/" : r->sandbox, &oom);
        c.sandbox = strdup_opt(r->sandbox, &oom);
        c.hostname = strdup_opt(r->hostname, &oom);
        c.netns_path = strdup_opt(r->netns_path, &oom);
        c.netns_dir = strdup_opt(r->netns_dir, &oom);
        if (sc && sc->n_volumes > 0 && !oom) {
                c.volumes = calloc(sc->n_volumes, sizeof(*c.volumes));
                oom |= !c.volumes;
                for (size_t i = 0; c.volumes && i < sc->n_volumes; i++, c.n_volumes++) {
                        c.volumes[i].source = strdup_opt(r->volume_sources[i], &oom);
                        c.volumes[i].target = strdup_opt(sc->volumes[i].target, &oom);
                        c.volumes[i].readonly = sc->volumes[i].readonly;
                        c.quota_filter |= sc->volumes[i].name != NULL;
                }
        }
        if (sc && sc->n_devices > 0 && !oom) {
                c.devices = calloc(sc->n_devices, sizeof(*c.devices));
                oom |= !c.devices;
                for (size_t i = 0; c.devices && i < sc->n_devices; i++, c.n_devices++) {
                        c.devices[i].path = strdup_opt(sc->devices[i].path, &oom);
                        c.devices[i].access = sc->devices[i].access;
                }
        }
        /* The spec's rlimits, and the agent's default open-file limit when it sets none. */
        c.rlimits = calloc(spec->n_rlimits + 1, sizeof(*c.rlimits));
        oom |= !c.rlimits;
        if (c.rlimits) {
                if (spec->n_rlimits > 0)        /* rlimits is NULL without any */
                        memcpy(c.rlimits, spec->rlimits, spec->n_rlimits * sizeof(*c.rlimits));
                c.n_rlimits = spec->n_rlimits;
                if (r->nofile.resource >= 0)
                        c.rlimits[c.n_rlimits++] = r->nofile;
        }
        if (oom) {
                container_config_clear(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void shim_resolved_clear(struct shim_resolved *r)
{
        free(r->cgroup);
        free(r->sandbox);
        strv_free(r->env);
        free(r->hostname);
        free(r->netns_path);
        free(r->netns_dir);
        strv_free(r->hidden);
        strv_free(r->volume_sources);
        *r = (struct shim_resolved){.nofile.resource = -1};
}

void shim_launch_clear(struct shim_launch *l)
{
        silo_task_spec_free(l->spec);
        shim_resolved_clear(&l->resolved);
        container_config_clear(&l->container);
        *l = (struct shim_launch){.resolved.nofile.resource = -1};
}

int shim_state_write(const char *sandbox, const struct shim_state *s)
{
        return json_write(sandbox, SHIM_STATE_FILE,
                          json_pack("{s:i, s:I, s:i, s:I, s:I}", "shim_pid", (int)s->shim_pid,
                                    "shim_start_time", (json_int_t)s->shim_start_time, "task_pid",
                                    (int)s->task_pid, "task_start_time",
                                    (json_int_t)s->task_start_time, "started_ms",
                                    (json_int_t)s->started_ms),
                          false);
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
        /* The one record of how the task ended while the agent is away: kept across a power
         * loss too. */
        return json_write(sandbox, SHIM_EXIT_FILE, j, true);
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

/* One datagram with up to 3 fds; the fds are the caller's still. */
static int seqpacket_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds)
{
        union {
                char buf[CMSG_SPACE(3 * sizeof(int))];
                struct cmsghdr align;
        } control = {};
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        assert(n_fds <= 3);
        if (n_fds > 0) {
                struct cmsghdr *c;

                msg.msg_control = control.buf;
                msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
        }
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        return n == (ssize_t)len ? 0 : -EIO;
}

/* One datagram: its length (0 at EOF) with the fds it carried (*ret_n_fds of them, at most
 * max_fds), or -EBADMSG (nothing left open) for a truncated one or one with more fds. */
static ssize_t seqpacket_recv(int sock, void *buf, size_t cap, int *fds, size_t max_fds, size_t *ret_n_fds)
{
        union {
                char buf[CMSG_SPACE(4 * sizeof(int))];
                struct cmsghdr align;
        } control;
        struct iovec iov = {.iov_base = buf, .iov_len = cap};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
        size_t got = 0;
        ssize_t n;

        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int in[4];

                memcpy(in, CMSG_DATA(c), MIN(k, ELEMENTSOF(in)) * sizeof(int));
                for (size_t i = 0; i < MIN(k, ELEMENTSOF(in)); i++) {
                        if (got < max_fds)
                                fds[got] = in[i];
                        else
                                close(in[i]);
                        got++;
                }
        }
        if (got <= max_fds && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                *ret_n_fds = got;
                return n;
        }
        for (size_t i = 0; i < MIN(got, max_fds); i++)
                close(fds[i]);
        return -EBADMSG;
}

int shim_request_send(int sock, const char *sandbox, const int fds[_SHIM_REQUEST_FDS])
{
        size_t len = strlen(sandbox);

        if (sandbox[0] != '/' || len >= PATH_MAX)
                return -EINVAL;
        return seqpacket_send(sock, sandbox, len, fds, _SHIM_REQUEST_FDS);
}

int shim_request_recv(int sock, char **ret_sandbox, int ret_fds[_SHIM_REQUEST_FDS])
{
        char path[PATH_MAX];
        int fds[_SHIM_REQUEST_FDS];
        size_t n_fds = 0;
        ssize_t n = seqpacket_recv(sock, path, sizeof(path) - 1, fds, _SHIM_REQUEST_FDS, &n_fds);
        bool valid;

        if (n < 0)
                return (int)n;
        if (n == 0 && n_fds == 0)
                return 0;
        path[n] = '\0';
        valid = n_fds == _SHIM_REQUEST_FDS && path[0] == '/' && strlen(path) == (size_t)n;
        if (!valid || !(*ret_sandbox = strdup(path))) {
                for (size_t i = 0; i < n_fds; i++)
                        close(fds[i]);
                return valid ? -ENOMEM : -EBADMSG;
        }
        memcpy(ret_fds, fds, sizeof(fds));
        return 1;
}

int shim_answer_send(int sock, const struct shim_answer *a, int pidfd)
{
        return seqpacket_send(sock, a, sizeof(*a), &pidfd, pidfd >= 0 ? 1 : 0);
}

int shim_answer_recv(int sock, struct shim_answer *ret, int *ret_pidfd)
{
        struct shim_answer a;
        int pidfd = -1;
        size_t n_fds = 0;
        ssize_t n = seqpacket_recv(sock, &a, sizeof(a), &pidfd, 1, &n_fds);

        if (n < 0)
                return (int)n;
        if (n == 0 && n_fds == 0)
                return -EPIPE;
        if (n != (ssize_t)sizeof(a)) {
                if (n_fds)
                        close(pidfd);
                return -EBADMSG;
        }
        *ret = a;
        *ret_pidfd = n_fds ? pidfd : -1;
        return 0;
}

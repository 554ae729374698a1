/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent's side of the cluster: status updates from task transitions, registration body, calibration. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/volumes.h"
#include "isolator/pquota.h"
#include "agent/calibration.h"
#include "agent/link.h"
#include "agent/master-link.h"
#include "agent/status-queue.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/tls.h"
#include "common/protocol-json.h"
#include "common/quantity.h"

struct agent_link {
        struct agent *agent;
        struct status_queue *queue;
        struct calibration *calib;
        struct master_link *master;
        struct silo_kv *attrs;
        size_t n_attrs;
        char *address;
        char *hostname;
        struct silo_identity *identity; /* of --tls-cert: the agent id is its CN */
};

struct status_queue *agent_link_queue(const struct agent *a)
{
        return a->link ? a->link->queue : NULL;
}

struct master_link *agent_link_master(const struct agent *a)
{
        return a->link ? a->link->master : NULL;
}

struct calibration *agent_link_calibration(const struct agent *a)
{
        return a->link ? a->link->calib : NULL;
}

/* "rack=r1" -> attributes; keys are names, values any non-empty text. */
static int attributes_parse(char **list, struct silo_kv **ret, size_t *ret_n, char **ret_error)
{
        struct silo_kv *v = NULL;
        size_t n = 0;

        for (char **s = list; s && *s; s++) {
                const char *eq = strchr(*s, '=');
                _cleanup_free_ char *key = eq ? strndup(*s, (size_t)(eq - *s)) : NULL;
                struct silo_kv *nv;

                if (!eq || !key || !silo_name_is_valid(key) || !eq[1]) {
                        silo_kv_array_free(v, n);
                        return error_set(ret_error, -EINVAL,
                                         "attribute: '%s' is not KEY=VALUE with KEY a name (rack=r1)", *s);
                }
                for (size_t i = 0; i < n; i++)
                        if (streq(v[i].key, key)) {
                                silo_kv_array_free(v, n);
                                return error_set(ret_error, -EINVAL, "attribute: '%s': %s is given twice", *s,
                                                 key);
                        }
                nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv) {
                        silo_kv_array_free(v, n);
                        return -ENOMEM;
                }
                v = nv;
                v[n].key = TAKE_PTR(key);
                v[n].value = strdup(eq + 1);
                n++;
                if (!v[n - 1].value) {
                        silo_kv_array_free(v, n);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int agent_link_setup(struct agent *a)
{
        const struct agent_link_options *o = &a->opts.link;
        _cleanup_free_ struct calibration_target *targets = NULL;
        _cleanup_free_ char *dir = NULL, *cache = NULL, *err = NULL;
        struct agent_link *l;
        size_t skipped = 0;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return log_error_errno(-ENOMEM, "Out of memory");
        l->agent = a;
        a->link = l;

        r = attributes_parse(o->attribute, &l->attrs, &l->n_attrs, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "attribute: invalid");

        if (asprintf(&dir, "%s/status", a->opts.state_dir) < 0 ||
            asprintf(&cache, "%s/calibration.json", a->opts.state_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = status_queue_open(dir, &l->queue, &skipped);
        if (r < 0)
                return log_error_errno(r, "Failed to open the status update queue %s: %m", dir);
        if (skipped > 0)
                log_warning("%zu unreadable status updates in %s set aside as *.bad", skipped, dir);
        if (status_queue_size(l->queue) > 0)
                log_info("%zu unacknowledged status updates queued in %s", status_queue_size(l->queue), dir);

        targets = calloc(a->n_disks ? a->n_disks : 1, sizeof(*targets));
        if (!targets)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < a->n_disks; i++)
                targets[i] = (struct calibration_target){
                        .name = a->disks[i].name, .path = a->disks[i].path, .devnum = a->disks[i].devnum,
                        .size = a->disks[i].size_bytes,
                };
        r = calibration_new(&o->calib, cache, targets, a->n_disks, &l->calib, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "disk figures: invalid configuration");
        return 0;
}

/* ---- status updates ---- */

void agent_link_task_changed(struct task *t)
{
        struct agent_link *l = t->agent->link;
        struct silo_status_update u = {
                .task_id = t->id, .state = t->state, .reason = t->reason, .exit_code = t->exit_code,
                .signal = t->signal, .message = t->message, .timestamp_ms = now_realtime_ms(),
        };
        char id[37];
        int r;

        if (!l || !l->queue)
                return;
        status_update_id_make(t->id, t->created_ms, t->state, id);
        u.update_id = id;
        r = status_queue_push(l->queue, &u);
        if (r < 0)
                log_error_errno(r, "Task %s: failed to queue the %s status update in %s: %m", t->id,
                                silo_task_state_to_string(t->state), status_queue_dir(l->queue));
}

static void on_queue_push(struct status_queue *q, void *userdata)
{
        struct agent_link *l = userdata;

        (void)q;
        if (l->master)
                master_link_kick(l->master);
}

/* ---- registration ---- */

static double host_cpus(void)
{
        cpu_set_t set;

        /* What the agent may run on (a cpuset or taskset narrows it), not the machine's count. */
        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                return CPU_COUNT(&set);
        return (double)MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L);
}

static uint64_t host_mem(void)
{
        struct sysinfo si;

        if (sysinfo(&si) < 0)
                return 0;
        return (uint64_t)si.totalram * si.mem_unit;
}

static uint64_t host_pids(void)
{
        _cleanup_free_ char *s = NULL;

        if (file_read_full("/proc/sys/kernel/pid_max", 64, &s, NULL) < 0)
                return 0;
        return strtoull(s, NULL, 10);
}

/* What the master counts persistent volumes against: the size of the filesystem mounted
 * for them (--disk NAME:MOUNTPOINT), as the agent counts it (volumes.c); a disk without one
 * takes no volume (0). */
static uint64_t disk_volume_capacity(const struct agent_disk *d)
{
        uint64_t cap = 0;

        if (!d->fs || pquota_fs_capacity(d->fs, &cap, NULL) < 0)
                return 0;
        return cap;
}

static json_t *link_disks_json(const struct agent_link *l)
{
        const struct agent *a = l->agent;
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < a->n_disks; i++) {
                const struct agent_disk *d = &a->disks[i];
                struct calibration_figures f = {};
                char dev[32];
                struct silo_disk sd;

                (void)calibration_get(l->calib, d->name, &f);
                snprintf(dev, sizeof(dev), "%u:%u", major(d->devnum), minor(d->devnum));
                sd = (struct silo_disk){
                        .device = dev, .name = d->name, .path = d->path,
                        .class = (char *)(f.class ? f.class : d->class),
                        .mount = d->mount,
                        .source = (char *)calibration_disk_source(&f),
                        .size = disk_volume_capacity(d),
                };
                memcpy(sd.figure, f.value, sizeof(sd.figure));
                json_array_append_new(arr, silo_disk_to_json(&sd));
        }
        return arr;
}

static json_t *link_registration_build(void *userdata)
{
        struct agent_link *l = userdata;
        const struct agent *a = l->agent;
        json_t *tasks = json_array(), *attrs = silo_kv_array_to_json(l->attrs, l->n_attrs), *res, *reg;
        uint16_t pmin, pmax;

        /* Live tasks; the master link adds ended ones whose outcome is still queued. */
        for (size_t i = 0; tasks && i < a->n_tasks; i++)
                if (!silo_task_state_is_terminal(a->tasks[i]->state))
                        json_array_append_new(tasks, json_pack("{s:s, s:s}", "id", a->tasks[i]->id, "state",
                                                               silo_task_state_to_string(a->tasks[i]->state)));
        res = json_pack("{s:f, s:I, s:I, s:o, s:O}", "cpus", host_cpus(), "mem", (json_int_t)host_mem(), "pids",
                        (json_int_t)host_pids(), "disks", link_disks_json(l), "attributes", attrs);
        /* The host ports bridge tasks may map: the master picks each task's from this range
         * (main() refused a --task-ports that does not parse). */
        if (res && silo_port_range_parse(a->opts.task_ports, &pmin, &pmax) >= 0)
                json_object_set_new(res, "ports", json_sprintf("%u-%u", (unsigned)pmin, (unsigned)pmax));
        reg = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "hostname", l->hostname, "address",
                        l->address, "version", SILO_VERSION, "resources", res, "attributes", attrs, "tasks",
                        tasks, "volumes", agent_volumes_report_json(a));
        return reg;
}

static json_t *link_heartbeat_build(void *userdata)
{
        struct agent_link *l = userdata;
        const struct agent *a = l->agent;
        json_t *tasks = json_array();

        for (size_t i = 0; tasks && i < a->n_tasks; i++)
                if (!silo_task_state_is_terminal(a->tasks[i]->state))
                        json_array_append_new(tasks, json_string(a->tasks[i]->id));
        /* The volumes too: a master that restarted or took over learns them here. */
        return json_pack("{s:o, s:o}", "tasks", tasks, "volumes", agent_volumes_report_json(a));
}

/* The address the master dials: --advertise, else the listen address with the port actually
 * bound, with the hostname standing in for a wildcard host. */
static int link_address(struct agent_link *l)
{
        const struct agent *a = l->agent;
        const char *listen = a->opts.listen, *colon = strrchr(listen, ':');
        _cleanup_free_ char *host = NULL;

        if (a->opts.link.advertise)
                return (l->address = strdup(a->opts.link.advertise)) ? 0 : -ENOMEM;
        host = colon ? strndup(listen, (size_t)(colon - listen)) : strdup(listen);
        if (!host)
                return -ENOMEM;
        if (!*host || streq(host, "0.0.0.0") || streq(host, "[::]") || streq(host, "*")) {
                free(host);
                host = strdup(l->hostname);
                if (!host)
                        return -ENOMEM;
        }
        if (asprintf(&l->address, "%s:%u", host, http_server_port(a->http)) < 0) {
                l->address = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* ---- calibration ---- */

static void on_calibrated(struct calibration *c, void *userdata)
{
        struct agent_link *l = userdata;
        const struct agent *a = l->agent;

        for (size_t i = 0; i < a->n_disks; i++) {
                struct calibration_figures f;
                char rb[QUANTITY_FORMAT_MAX] = "?", wb[QUANTITY_FORMAT_MAX] = "?";

                if (calibration_get(c, a->disks[i].name, &f) < 0)
                        continue;
                snprintf(rb, sizeof(rb), "%.1f MB/s", (double)f.value[SILO_IO_RBPS] / 1e6);
                snprintf(wb, sizeof(wb), "%.1f MB/s", (double)f.value[SILO_IO_WBPS] / 1e6);
                log_info("disk %s: read %s, %" PRIu64 " IOPS; write %s, %" PRIu64 " IOPS (%s)", a->disks[i].name, rb,
                         f.value[SILO_IO_RIOPS], f.value[SILO_IO_WBPS] ? wb : "unknown",
                         f.value[SILO_IO_WIOPS], calibration_disk_source(&f));
        }
        {
                json_t *st = calibration_status_json(c), *disks = json_object_get(st, "disks"), *v;
                const char *name;

                json_object_foreach(disks, name, v)
                        if (json_is_string(json_object_get(v, "error")))
                                log_warning("disk %s: calibration failed: %s", name,
                                            json_string_value(json_object_get(v, "error")));
                json_decref(st);
        }
        /* New figures change what the master may place here. */
        if (l->master)
                master_link_reregister(l->master);
}

int agent_link_calibrate(struct agent *a, const char *const *names, size_t n_names, char **ret_error)
{
        struct agent_link *l = a->link;

        if (!l || !l->calib)
                return -EOPNOTSUPP;
        return calibration_start(l->calib, a->loop, names, n_names, on_calibrated, l, ret_error);
}

int agent_link_start(struct agent *a)
{
        struct agent_link *l = a->link;
        _cleanup_free_ char *err = NULL, *id_path = NULL;
        char host[HOST_NAME_MAX + 1] = "";
        int r;

        if (a->opts.link.hostname)
                l->hostname = strdup(a->opts.link.hostname);
        else {
                (void)gethostname(host, sizeof(host) - 1);
                /* A machine without a configured name reports "(none)", which no master takes. */
                if (!host[0] || streq(host, "(none)")) {
                        log_notice("The system has no hostname; registering as 'localhost' (use --hostname)");
                        snprintf(host, sizeof(host), "localhost");
                }
                l->hostname = strdup(host);
        }
        if (!l->hostname || link_address(l) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");

        if (a->opts.link.calib.calibrate && a->n_disks > 0) {
                _cleanup_free_ const char **missing = NULL;
                size_t n = calibration_missing(l->calib, &missing);

                if (n > 0) {
                        log_info("Calibrating %zu disk%s never measured here (%g s per figure, in the background)",
                                 n, n == 1 ? "" : "s", a->opts.link.calib.calibrate_seconds);
                        r = agent_link_calibrate(a, missing, n, &err);
                        if (r < 0)
                                log_warning_errno(r, "Cannot start calibrating: %s", err ? err : strerror(-r));
                }
        }

        if (!a->opts.master)
                return 0;
        if (asprintf(&id_path, "%s/agent-id", a->opts.state_dir) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        if (a->tls) {
                /* Under TLS the certificate names the agent: its CN is the id to register as. */
                r = tls_creds_identity(a->tls, &l->identity, &err);
                if (r < 0)
                        return log_error_errno(r, "%s", err ? err : "cannot read the agent's certificate");
                if (l->identity->kind != SILO_IDENTITY_AGENT)
                        return log_error_errno(-EINVAL,
                                               "--tls-cert %s names %s:%s, not an agent (siloctl tls cert --agent ID)",
                                               a->opts.tls_cert, silo_identity_kind_name(l->identity->kind),
                                               l->identity->name);
        }
        {
                struct master_link_config cfg = {
                        .master_url = a->opts.master, .token = a->token, .id_path = id_path, .queue = l->queue,
                        .fence = &a->epoch,
                        .tls = a->tls ? tls_creds_files(a->tls) : NULL,
                        .cert_agent_id = l->identity ? l->identity->name : NULL,
                        .cert_path = a->opts.tls_cert,
                        .registration_build = link_registration_build, .heartbeat_build = link_heartbeat_build,
                        .userdata = l,
                };
                r = master_link_new(&cfg, &l->master, &err);
                if (r < 0)
                        return log_error_errno(r, "%s", err ? err : "cannot set up the master link");
        }
        status_queue_set_notify(l->queue, on_queue_push, l);
        r = master_link_start(l->master, a->loop);
        if (r < 0)
                return log_error_errno(r, "Failed to start the master link: %m");
        log_info("Registering with master %s as %s (%s)", a->opts.master, l->address, l->hostname);
        return 0;
}

void agent_link_free(struct agent *a)
{
        struct agent_link *l = a->link;

        if (!l)
                return;
        master_link_free(l->master);
        calibration_free(l->calib);
        status_queue_free(l->queue);
        silo_kv_array_free(l->attrs, l->n_attrs);
        free(l->address);
        free(l->hostname);
        silo_identity_free(l->identity);
        free(l);
        a->link = NULL;
}

void agent_link_disk_annotate(const struct agent *a, const char *disk, json_t *obj)
{
        if (a->link && a->link->calib)
                (void)calibration_disk_json_annotate(a->link->calib, disk, obj);
}

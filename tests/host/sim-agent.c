/* SPDX-License-Identifier: Apache-2.0 */
/* A simulated agent for the master's host tests: speaks the agent side of the protocol over HTTP.
 */
/*
 * It registers with the master, heartbeats, accepts launches (idempotent by id) and kills,
 * and sends status updates until they are acknowledged, exactly as docs/PROTOCOL.md describes
 * an agent, without running anything. Tests steer it through the /sim/ endpoints:
 *   GET  /sim/state                      counters, tasks and their states
 *   POST /sim/pause {"paused": bool}     stop/restart heartbeats (to provoke a timeout)
 *   POST /sim/refuse {"refuse": bool}    answer launches with 503
 *   POST /sim/delay {"ms": N}            hold every launch answer N ms (a launch "in flight");
 *                                        answers held longer go out N ms from now
 *   POST /sim/hold {"hold": bool}        keep status updates queued (heartbeats go on)
 *   POST /sim/finish/{id} {"state": "FINISHED"|"FAILED", "exit_code": N, "repeat": N}
 *                                        end a task; its update is sent `repeat` times
 *   POST /sim/adopt {"id": ..}           pretend to run a task the master never placed here
 *   POST /sim/rtt-reset {}               forget the heartbeat round trips measured so far
 *   GET  /sim/rtt                        those round trips: {"samples_us": [...]}
 *   POST /sim/volume-drop {"name": ..}   lose a persistent volume behind the master's back
 * Persistent volumes: a disk given a size (--disk ...:SIZE) takes them; a launch naming one it
 * has not got makes it on the disk the launch names, and registrations and heartbeats report
 * them ("volumes"); GET /api/v1/volumes lists them, DELETE /api/v1/volumes/{name} deletes one
 * as the agent does: 202 "deleting" (again while it lasts), the volume reported "deleting"
 * for --volume-delete-ms, then gone (404, no longer reported); 409 volume_in_use while a task
 * not ended mounts it, 404 when unknown. A launch naming a volume being deleted is refused
 * with 409 volume_deleting, as the agent refuses it.
 *   GET  /sim/launches                   every launch request received, in order: {"launches":
 *                                        [{"id", "epoch", "at_ms" (wall clock), "status"}]}
 * --master takes a list of masters, as silo-agent does: on a connection failure or a 503 it
 * moves to the next, a 307 to one of them moves it there (to any other host: refused, logged),
 * and a 404 to a heartbeat makes it register again (a new leader). Launches and kills carrying
 * Silo-Master-Epoch follow the agent's fencing rule, the agent's own code (agent/epoch-fence.c,
 * kept in memory only: the sim has no state dir): one lower than the highest epoch seen is
 * refused with 409 stale_epoch, one naming another cluster than the last registration's with
 * 409 other_cluster.
 * GET /api/v1/tasks/{id}/isolation answers in the real agent's shape (agent/api.c,
 * agent/measure.h) with the spec's limits as "in force" and usage and eBPF figures at
 * --io-fill of each limit, so the master's relay and the dashboard see known figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "agent/epoch-fence.h"

#include "common/auth.h"
#include "common/config.h"
#include "common/fileio.h"
#include "common/http-client.h"
#include "common/http-json.h"
#include "common/http-server.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "common/tls.h"

struct sim_options {
        char *master;
        char *listen;
        char *address;
        char *token_file;
        char *hostname;
        char *port_file;
        double cpus;
        double io_fill;
        uint64_t mem;
        uint64_t finish_after_ms; /* 0: tasks run until /sim/finish or a kill */
        uint64_t volume_delete_ms;
        char **disks; /* name:class:read_bps:write_bps:read_iops:write_iops */
        char **attrs; /* key=value */
        char *ports;  /* host port range offered, "MIN-MAX" */
        char *tls_ca, *tls_cert, *tls_key; /* mutual TLS, as silo-agent's --tls-* */
};

#define OPT(f) offsetof(struct sim_options, f)
static const struct config_option sim_table[] = {
    {"master", CONFIG_STRING, OPT(master), NULL, "URL", "master URL (http://127.0.0.1:5050)"},
    {"listen", CONFIG_STRING, OPT(listen), "127.0.0.1:0", "ADDR", "agent API address"},
    {"address", CONFIG_STRING, OPT(address), NULL, "HOST:PORT",
     "the address to register (default: where it listens): another process there plays it"},
    {"token-file", CONFIG_STRING, OPT(token_file), NULL, "FILE", "cluster token"},
    {"hostname", CONFIG_STRING, OPT(hostname), "sim", "NAME", "hostname to register"},
    {"port-file", CONFIG_STRING, OPT(port_file), NULL, "FILE", "write the bound port here"},
    {"cpus", CONFIG_DOUBLE, OPT(cpus), "4", "N", "cpus offered"},
    {"mem", CONFIG_UINT, OPT(mem), "8589934592", "BYTES", "memory offered"},
    {"disk", CONFIG_LIST, OPT(disks), NULL, "SPEC",
     "name:class:read_bps:write_bps:read_iops:write_iops[:size] (size: bytes for volumes)"},
    {"attr", CONFIG_LIST, OPT(attrs), NULL, "K=V", "attribute"},
    {"ports", CONFIG_STRING, OPT(ports), NULL, "MIN-MAX",
     "host port range offered to bridge tasks (silo-agent --task-ports); none without"},
    {"io-fill", CONFIG_DOUBLE, OPT(io_fill), "0.9", "F",
     "share of each limit a task's isolation view reports as used and measured"},
    {"volume-delete-ms", CONFIG_UINT, OPT(volume_delete_ms), "300", "MS",
     "a volume's deletion takes this long (answered 202 \"deleting\" meanwhile)", 0, 86400000},
    {"finish-after-ms", CONFIG_UINT, OPT(finish_after_ms), "0", "MS",
     "a task finishes (exit 0) this long after its launch; 0: never by itself", 0, 86400000},
    {"tls-ca", CONFIG_STRING, OPT(tls_ca), NULL, "FILE", "cluster CA (mutual TLS, as silo-agent)"},
    {"tls-cert", CONFIG_STRING, OPT(tls_cert), NULL, "FILE",
     "this agent's certificate (siloctl tls cert --agent): HTTPS and calls over TLS"},
    {"tls-key", CONFIG_STRING, OPT(tls_key), NULL, "FILE", "the key of --tls-cert"},
};
static const struct config_schema sim_schema = {
    .program = "sim-agent",
    .summary = "Simulated Silo agent for the master's tests.",
    .options = sim_table,
    .n_options = ELEMENTSOF(sim_table),
};

struct sim_task {
        char *id;
        struct silo_task_spec *spec;
        silo_task_state state;
        uint64_t started_ms; /* monotonic: its CPU time grows from here */
        unsigned launch_requests; /* launches received for this id, repeats included */
};

struct sim_update {
        json_t *body;
        char *update_id;
        unsigned sends_left; /* > 1 for a deliberately repeated update */
        bool in_flight;
        uint64_t not_before_ms;
};

struct sim_volume {
        char *name, *disk;
        uint64_t size, used_bytes;
        uint64_t deleted_at_ms; /* deleting: gone at this CLOCK_MONOTONIC time; 0: ready */
};

struct sim_delayed {
        http_deferred *d;
        uint64_t due_ms;
        unsigned status;
        json_t *body;
};

static struct {
        struct sim_options o;
        char *token;
        struct tls_creds *tls; /* --tls-*: NULL without TLS */
        char address[64];
        char *agent_id;
        http_server *http;
        http_client *client;
        char **masters; /* --master split at ',' */
        size_t n_masters, cur_master;
        struct sim_launch_log {
                char *id;
                uint64_t epoch, at_ms;
                unsigned status;
        } *launch_log;
        size_t n_launch_log, launch_log_cap;
        struct epoch_fence fence; /* cluster id and highest Silo-Master-Epoch seen */
        uint64_t other_cluster_refusals;
        uint64_t stale_epoch_refusals, master_switches, redirects_refused;
        struct sim_task tasks[4096];
        size_t n_tasks;
        struct sim_update updates[8192];
        size_t n_updates;
        struct sim_delayed delayed[256];
        size_t n_delayed;
        struct sim_volume volumes[256];
        size_t n_volumes;
        uint64_t volume_deletes;
        uint64_t heartbeat_interval_ms;
        uint64_t next_heartbeat_ms;
        bool registering, registered, heartbeat_in_flight, paused, refuse, hold;
        uint64_t delay_ms;
        uint64_t seq;
        /* counters for /sim/state */
        uint64_t registrations, heartbeats, launch_requests, launches_created, kill_requests, acks,
            unknown_kills, registration_refusals, updates_refused;
        /* Heartbeat round trips (us) and the longest time between two answered heartbeats:
         * what a stalled master loop costs its agents. */
        uint64_t heartbeat_sent_ms, last_heartbeat_ok_ms, heartbeat_max_gap_ms;
        uint64_t heartbeat_sent_us;
        uint32_t heartbeat_rtt[65536];
        size_t n_heartbeat_rtt;
} sim;

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t realtime_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *sim_master(void)
{
        return sim.masters[sim.cur_master];
}

/* What an answer from the master says about which master to talk to (the agent's rule,
 * docs/PROTOCOL.md): true when the request was not served here and the caller should retry later
 * against sim_master(). */
static bool sim_master_moved(const struct http_client_result *res)
{
        if (res->error == 0 && res->status == 307 && res->location) {
                /* The agent's own rule (common/http-client.h): only to one of the masters. */
                int i = http_redirect_target(sim_master(), res->location,
                                             (const char *const *)sim.masters, sim.n_masters);

                if (i >= 0) {
                        if ((size_t)i != sim.cur_master)
                                sim.master_switches++;
                        sim.cur_master = (size_t)i;
                        return true;
                }
                sim.redirects_refused++;
                fprintf(stderr, "sim-agent %s: redirect to %s refused: not one of the masters\n",
                        sim.o.hostname, res->location);
                return true;
        }
        /* With one master there is nowhere to go: the caller's usual retry applies. */
        if (sim.n_masters > 1 && ((res->error != 0 && res->error != -ECANCELED) ||
                                  res->status == 503 || res->status == 307)) {
                sim.cur_master = (sim.cur_master + 1) % sim.n_masters;
                sim.master_switches++;
                return true;
        }
        return false;
}

/* The agent's fencing rule for a launch or kill: false (409 or 400 filled in) when the call
 * names another cluster or an epoch older than the highest seen. */
static bool sim_epoch_ok(http_request *req, http_response *resp, uint64_t *ret_epoch)
{
        const char *h = http_request_header(req, SILO_MASTER_EPOCH_HEADER);
        _cleanup_free_ char *err = NULL;
        int r;

        *ret_epoch = h ? strtoull(h, NULL, 10) : 0;
        r = epoch_fence_admit(&sim.fence, http_request_header(req, SILO_CLUSTER_ID_HEADER), h,
                              &err);
        if (r >= 0)
                return true;
        if (r == -ESTALE)
                sim.stale_epoch_refusals++;
        else if (r == -EXDEV)
                sim.other_cluster_refusals++;
        (void)http_response_error(resp, r == -EINVAL ? 400 : 409,
                                  r == -EXDEV    ? "other_cluster"
                                  : r == -EINVAL ? "bad_request"
                                                 : "stale_epoch",
                                  "%s", err ? err : strerror(-r));
        return false;
}

static void sim_log_launch(const char *id, uint64_t epoch, unsigned status)
{
        if (sim.n_launch_log == sim.launch_log_cap) {
                size_t cap = sim.launch_log_cap ? sim.launch_log_cap * 2 : 1024;
                void *p = reallocarray(sim.launch_log, cap, sizeof(*sim.launch_log));
                if (!p)
                        return;
                sim.launch_log = p;
                sim.launch_log_cap = cap;
        }
        sim.launch_log[sim.n_launch_log++] = (struct sim_launch_log){
            .id = strdup(strempty(id)), .epoch = epoch, .at_ms = realtime_ms(), .status = status};
}

static struct sim_task *sim_task_find(const char *id)
{
        for (size_t i = 0; i < sim.n_tasks; i++)
                if (streq(sim.tasks[i].id, id))
                        return &sim.tasks[i];
        return NULL;
}

static void sim_queue_update(struct sim_task *t, silo_task_state state, silo_task_reason reason,
                             int exit_code, unsigned repeat)
{
        struct silo_status_update u = {
            .task_id = t->id,
            .agent_id = sim.agent_id,
            .state = state,
            .reason = reason,
            .exit_code = exit_code,
            .timestamp_ms = realtime_ms(),
        };
        char id[128];

        if (sim.n_updates >= ELEMENTSOF(sim.updates))
                return;
        snprintf(id, sizeof(id), "%s-%s-%" PRIu64, sim.o.hostname, t->id, ++sim.seq);
        u.update_id = id;
        t->state = state;
        sim.updates[sim.n_updates++] = (struct sim_update){
            .body = silo_status_update_to_json(&u),
            .update_id = strdup(id),
            .sends_left = repeat ? repeat : 1,
        };
}

static void sim_send_updates(void);

static void sim_update_done(const struct http_client_result *res, void *userdata)
{
        char *update_id = userdata;

        for (size_t i = 0; i < sim.n_updates; i++) {
                struct sim_update *u = &sim.updates[i];

                if (!streq(u->update_id, update_id))
                        continue;
                u->in_flight = false;
                if (sim_master_moved(res))
                        u->not_before_ms = now_ms() + 50;
                else if (res->error == 0 && res->status == 200) {
                        sim.acks++;
                        if (--u->sends_left == 0) {
                                json_decref(u->body);
                                free(u->update_id);
                                memmove(u, u + 1, (sim.n_updates - i - 1) * sizeof(*u));
                                sim.n_updates--;
                        }
                } else if (res->error == 0 && (res->status == 400 || res->status == 409)) {
                        /* Refused for good, as the real agent sets it aside: never retried. */
                        fprintf(stderr, "sim-agent %s: status update %s refused: %ld %s\n",
                                sim.o.hostname, update_id, res->status, strempty(res->body));
                        sim.updates_refused++;
                        json_decref(u->body);
                        free(u->update_id);
                        memmove(u, u + 1, (sim.n_updates - i - 1) * sizeof(*u));
                        sim.n_updates--;
                } else
                        u->not_before_ms = now_ms() + 200;
                break;
        }
        free(update_id);
        /* The next one goes out at once, not at the next tick. */
        if (!sim.paused && !sim.hold)
                sim_send_updates();
}

/* Updates go out in order, one at a time, until acknowledged (at-least-once). */
static void sim_send_updates(void)
{
        _cleanup_free_ char *url = NULL;
        struct sim_update *u;

        if (sim.n_updates == 0 || !sim.registered)
                return;
        u = &sim.updates[0];
        if (u->in_flight || u->not_before_ms > now_ms())
                return;
        if (asprintf(&url, "%s/api/v1/status", sim_master()) < 0)
                return;
        json_object_set_new(u->body, "agent_id", json_string(sim.agent_id));
        if (http_client_request(sim.client, "POST", url, u->body, sim.token, 2000, sim_update_done,
                                strdup(u->update_id)) == 0)
                u->in_flight = true;
}

static void sim_volume_remove(struct sim_volume *v)
{
        free(v->name);
        free(v->disk);
        *v = sim.volumes[--sim.n_volumes];
}

/* The deletions that are over: their volumes go. */
static void sim_volumes_reap(void)
{
        uint64_t now = now_ms();

        for (size_t i = sim.n_volumes; i-- > 0;)
                if (sim.volumes[i].deleted_at_ms && now >= sim.volumes[i].deleted_at_ms)
                        sim_volume_remove(&sim.volumes[i]);
}

static json_t *sim_volumes_json(void)
{
        json_t *arr = json_array();

        sim_volumes_reap();
        for (size_t i = 0; arr && i < sim.n_volumes; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:s}", "name",
                                                     sim.volumes[i].name, "disk",
                                                     sim.volumes[i].disk, "size",
                                                     (json_int_t)sim.volumes[i].size, "used_bytes",
                                                     (json_int_t)sim.volumes[i].used_bytes, "state",
                                                     sim.volumes[i].deleted_at_ms ? "deleting" : "ready"));
        return arr;
}

static struct sim_volume *sim_volume_find(const char *name)
{
        sim_volumes_reap();
        for (size_t i = 0; name && i < sim.n_volumes; i++)
                if (streq(sim.volumes[i].name, name))
                        return &sim.volumes[i];
        return NULL;
}

/* The first of a launch's persistent volumes that is being deleted, or NULL. */
static const char *sim_volume_deleting(const struct silo_task_spec *spec)
{
        for (size_t i = 0; spec->has_container && i < spec->container.n_volumes; i++) {
                const struct sim_volume *v = sim_volume_find(spec->container.volumes[i].name);

                if (v && v->deleted_at_ms)
                        return v->name;
        }
        return NULL;
}

/* A launch's persistent volumes the sim has not got are made on the disk the launch names. */
static void sim_volumes_make(const struct silo_task_spec *spec)
{
        for (size_t i = 0; spec->has_container && i < spec->container.n_volumes; i++) {
                const struct silo_volume *v = &spec->container.volumes[i];

                if (!v->name || sim_volume_find(v->name) || sim.n_volumes >= ELEMENTSOF(sim.volumes))
                        continue;
                sim.volumes[sim.n_volumes++] = (struct sim_volume){
                    .name = strdup(v->name),
                    .disk = strdup(v->disk ? v->disk : "any"),
                    .size = v->size,
                    .used_bytes = 4096,
                };
        }
}

static json_t *sim_registration(void)
{
        json_t *disks = json_array(), *tasks = json_array(), *attrs = json_object(), *reg;

        for (char **d = sim.o.disks; d && *d; d++) {
                char name[64], cls[32], mount[80];
                unsigned long long rb, wb, ri, wi, size = 0;
                json_t *dj;

                if (sscanf(*d, "%63[^:]:%31[^:]:%llu:%llu:%llu:%llu:%llu", name, cls, &rb, &wb,
                           &ri, &wi, &size) < 6)
                        continue;
                dj = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "device", "254:0",
                               "name", name, "path", "/dev/null", "read_bps", (json_int_t)rb,
                               "write_bps", (json_int_t)wb, "read_iops", (json_int_t)ri,
                               "write_iops", (json_int_t)wi, "class", cls, "source", "config");
                if (size) {
                        snprintf(mount, sizeof(mount), "/srv/%s", name);
                        json_object_set_new(dj, "size", json_integer((json_int_t)size));
                        json_object_set_new(dj, "mount", json_string(mount));
                }
                json_array_append_new(disks, dj);
        }
        for (char **a = sim.o.attrs; a && *a; a++) {
                char *eq = strchr(*a, '=');
                if (eq) {
                        _cleanup_free_ char *k = strndup(*a, (size_t)(eq - *a));
                        json_object_set_new(attrs, k, json_string(eq + 1));
                }
        }
        /* Every task it still has, ended ones included: a live task missing here is one the
         * agent really lost, which the master then marks LOST. */
        for (size_t i = 0; i < sim.n_tasks; i++)
                json_array_append_new(tasks,
                                      json_pack("{s:s, s:s}", "id", sim.tasks[i].id, "state",
                                                silo_task_state_to_string(sim.tasks[i].state)));
        reg = json_pack("{s:s, s:s, s:s, s:{s:f, s:I, s:I, s:o}, s:o, s:o}", "hostname",
                        sim.o.hostname, "address", sim.address, "version", "sim", "resources",
                        "cpus", sim.o.cpus, "mem", (json_int_t)sim.o.mem, "pids", (json_int_t)32768,
                        "disks", disks, "attributes", attrs, "tasks", tasks);
        if (sim.agent_id)
                json_object_set_new(reg, "agent_id", json_string(sim.agent_id));
        if (sim.o.ports)
                json_object_set_new(json_object_get(reg, "resources"), "ports",
                                    json_string(sim.o.ports));
        json_object_set_new(reg, "volumes", sim_volumes_json());
        return reg;
}

static void sim_register_done(const struct http_client_result *res, void *userdata)
{
        const char *id;

        (void)userdata;
        sim.registering = false;
        if (sim_master_moved(res)) {
                sim.next_heartbeat_ms = now_ms() + 50;
                return;
        }
        if (res->error != 0 || res->status / 100 != 2) {
                if (res->error == 0)
                        sim.registration_refusals++;
                fprintf(stderr, "sim-agent %s: registration failed: %s %ld %s\n", sim.o.hostname,
                        strempty(res->error_message), res->status, res->body);
                sim.next_heartbeat_ms = now_ms() + 200;
                return;
        }
        id = json_string_value(json_object_get(res->json, "agent_id"));
        if (id && !streq_ptr(id, sim.agent_id)) {
                free(sim.agent_id);
                sim.agent_id = strdup(id);
        }
        {
                _cleanup_free_ char *err = NULL;
                json_int_t epoch = json_integer_value(json_object_get(res->json, "epoch"));

                /* As the agent: a registration is where a new cluster (a reset state) is taken. */
                if (epoch_fence_adopt(&sim.fence,
                                      json_string_value(json_object_get(res->json, "cluster_id")),
                                      epoch > 0 ? (uint64_t)epoch : 0, &err) < 0) {
                        fprintf(stderr, "sim-agent %s: registration answer: %s\n",
                                sim.o.hostname, strempty(err));
                        sim.next_heartbeat_ms = now_ms() + 200;
                        return;
                }
        }
        sim.heartbeat_interval_ms =
            (uint64_t)json_integer_value(json_object_get(res->json, "heartbeat_interval_ms"));
        if (sim.heartbeat_interval_ms == 0)
                sim.heartbeat_interval_ms = 1000;
        sim.registered = true;
        sim.registrations++;
        sim.next_heartbeat_ms = now_ms() + sim.heartbeat_interval_ms;
}

static void sim_register(void)
{
        _cleanup_free_ char *url = NULL;
        json_t *reg;

        if (sim.registering || asprintf(&url, "%s/api/v1/agents", sim_master()) < 0)
                return;
        reg = sim_registration();
        if (http_client_request(sim.client, "POST", url, reg, sim.token, 2000, sim_register_done,
                                NULL) == 0)
                sim.registering = true;
        json_decref(reg);
}

static void sim_heartbeat_done(const struct http_client_result *res, void *userdata)
{
        (void)userdata;
        sim.heartbeat_in_flight = false;
        if (sim_master_moved(res)) {
                sim.next_heartbeat_ms = now_ms() + 50;
                return;
        }
        if (res->error == 0 && res->status == 404) {
                /* The master lost us (timeout) or never knew us: register again with our tasks. */
                sim.registered = false;
                sim_register();
                return;
        }
        if (res->error == 0 && res->status == 200) {
                uint64_t now = now_ms();

                sim.heartbeats++;
                if (sim.n_heartbeat_rtt < ELEMENTSOF(sim.heartbeat_rtt))
                        sim.heartbeat_rtt[sim.n_heartbeat_rtt++] =
                            (uint32_t)(now_us() - sim.heartbeat_sent_us);
                if (sim.last_heartbeat_ok_ms && now - sim.last_heartbeat_ok_ms > sim.heartbeat_max_gap_ms)
                        sim.heartbeat_max_gap_ms = now - sim.last_heartbeat_ok_ms;
                sim.last_heartbeat_ok_ms = now;
        }
}

static int u32_cmp(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

/* The q-th percentile (0..100) of the heartbeat round trips, in us. */
static uint32_t sim_heartbeat_percentile(unsigned q)
{
        _cleanup_free_ uint32_t *v = NULL;
        size_t n = sim.n_heartbeat_rtt;

        if (n == 0 || !(v = malloc(n * sizeof(*v))))
                return 0;
        memcpy(v, sim.heartbeat_rtt, n * sizeof(*v));
        qsort(v, n, sizeof(*v), u32_cmp);
        /* nearest rank: the smallest value with at least q % of the samples at or below it */
        size_t rank = (n * q + 99) / 100;
        return v[rank == 0 ? 0 : MIN(rank, n) - 1];
}

static void sim_tick(void)
{
        uint64_t now = now_ms();

        if (!sim.registered) {
                if (!sim.registering && now >= sim.next_heartbeat_ms)
                        sim_register();
        } else if (!sim.paused && !sim.heartbeat_in_flight && now >= sim.next_heartbeat_ms) {
                _cleanup_free_ char *url = NULL;
                json_t *tasks = json_array(), *body;

                for (size_t i = 0; i < sim.n_tasks; i++)
                        if (!silo_task_state_is_terminal(sim.tasks[i].state))
                                json_array_append_new(tasks, json_string(sim.tasks[i].id));
                body = json_pack("{s:o, s:o}", "tasks", tasks, "volumes", sim_volumes_json());
                if (asprintf(&url, "%s/api/v1/agents/%s/heartbeat", sim_master(), sim.agent_id) >=
                        0 &&
                    http_client_request(sim.client, "POST", url, body, sim.token, 2000,
                                        sim_heartbeat_done, NULL) == 0) {
                        sim.heartbeat_in_flight = true;
                        sim.heartbeat_sent_ms = now;
                        sim.heartbeat_sent_us = now_us();
                }
                json_decref(body);
                sim.next_heartbeat_ms = now + sim.heartbeat_interval_ms;
        }
        for (size_t i = 0; sim.o.finish_after_ms && i < sim.n_tasks; i++)
                if (sim.tasks[i].state == SILO_TASK_RUNNING &&
                    now >= sim.tasks[i].started_ms + sim.o.finish_after_ms)
                        sim_queue_update(&sim.tasks[i], SILO_TASK_FINISHED, SILO_REASON_NONE, 0, 1);
        if (!sim.paused && !sim.hold)
                sim_send_updates();
        for (size_t i = 0; i < sim.n_delayed;) {
                struct sim_delayed *d = &sim.delayed[i];

                if (d->due_ms > now) {
                        i++;
                        continue;
                }
                (void)http_response_json(http_deferred_response(d->d), d->status, d->body);
                (void)http_deferred_finish(d->d);
                memmove(d, d + 1, (sim.n_delayed - i - 1) * sizeof(*d));
                sim.n_delayed--;
        }
}

static json_t *sim_task_json(const struct sim_task *t)
{
        return json_pack("{s:s, s:s}", "id", t->id, "state", silo_task_state_to_string(t->state));
}

static int sim_launch(http_request *req, http_response *resp, void *userdata)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec = NULL;
        _cleanup_free_ char *err = NULL;
        struct sim_task *t;
        unsigned status;
        uint64_t epoch;
        json_t *body;

        (void)userdata;
        sim.launch_requests++;
        if (!sim_epoch_ok(req, resp, &epoch)) {
                sim_log_launch(json_string_value(json_object_get(req->body, "id")), epoch, 409);
                return 0;
        }
        if (sim.refuse)
                return http_response_error(resp, 503, "unavailable",
                                           "sim-agent %s refuses launches", sim.o.hostname);
        if (silo_task_spec_from_json(req->body, &spec, &err) < 0)
                return http_response_error(resp, 400, "invalid_spec", "%s", strempty(err));
        if (!spec->id)
                return http_response_error(resp, 400, "invalid_spec", "id: missing");
        t = sim_task_find(spec->id);
        if (t) {
                if (!silo_task_spec_equal(t->spec, spec))
                        return http_response_error(resp, 409, "conflict",
                                                   "task %s exists with another spec", t->id);
                status = 200;
        } else {
                if (sim.n_tasks >= ELEMENTSOF(sim.tasks))
                        return http_response_error(resp, 503, "unavailable", "too many tasks");
                const char *deleting = sim_volume_deleting(spec);

                /* As agent/volumes.c: not the spec's fault, and not for long. */
                if (deleting) {
                        sim_log_launch(spec->id, epoch, 409);
                        return http_response_error(resp, 409, "volume_deleting",
                                                   "volume '%s' is being deleted (its GET answers "
                                                   "404 once it is gone; a launch then makes a new one)",
                                                   deleting);
                }
                t = &sim.tasks[sim.n_tasks++];
                t->id = strdup(spec->id);
                sim_volumes_make(spec);
                t->spec = TAKE_PTR(spec);
                t->started_ms = now_ms();
                sim.launches_created++;
                sim_queue_update(t, SILO_TASK_STARTING, SILO_REASON_NONE, -1, 1);
                sim_queue_update(t, SILO_TASK_RUNNING, SILO_REASON_NONE, -1, 1);
                status = 201;
        }
        t->launch_requests++;
        sim_log_launch(t->id, epoch, status);
        body = sim_task_json(t);
        if (sim.delay_ms > 0 && sim.n_delayed < ELEMENTSOF(sim.delayed)) {
                http_deferred *d = http_request_defer(req);
                sim.delayed[sim.n_delayed++] =
                    (struct sim_delayed){d, now_ms() + sim.delay_ms, status, body};
                return HTTP_DEFERRED;
        }
        return http_response_json(resp, status, body);
}

static int sim_kill(http_request *req, http_response *resp, void *userdata)
{
        struct sim_task *t = sim_task_find(req->captures[0]);
        uint64_t epoch;

        (void)userdata;
        sim.kill_requests++;
        if (!sim_epoch_ok(req, resp, &epoch))
                return 0;
        if (!t)
                return http_response_error(resp, 404, "not_found", "task %s: no such task",
                                           req->captures[0]);
        if (!silo_task_state_is_terminal(t->state))
                sim_queue_update(t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST, -1, 1);
        /* Like a real agent with a grace period: the kill is under way, KILLED follows as an
         * update. */
        return http_response_json(resp, 202,
                                  json_pack("{s:s, s:b}", "id", t->id, "kill_requested", 1));
}

/* The task not ended that mounts the volume, or NULL. */
static const struct sim_task *sim_volume_user(const char *name)
{
        for (size_t i = 0; i < sim.n_tasks; i++) {
                const struct silo_task_spec *spec = sim.tasks[i].spec;

                if (!spec || silo_task_state_is_terminal(sim.tasks[i].state))
                        continue;
                for (size_t k = 0; spec->has_container && k < spec->container.n_volumes; k++)
                        if (streq_ptr(spec->container.volumes[k].name, name))
                                return &sim.tasks[i];
        }
        return NULL;
}

static int sim_volume_delete(http_request *req, http_response *resp, void *userdata)
{
        struct sim_volume *v = sim_volume_find(req->captures[0]);
        const struct sim_task *user;
        uint64_t epoch;

        (void)userdata;
        sim.volume_deletes++;
        if (!sim_epoch_ok(req, resp, &epoch))
                return 0;
        if (!v)
                return http_response_error(resp, 404, "not_found", "volume %s: no such volume",
                                           req->captures[0]);
        if ((user = sim_volume_user(v->name)))
                return http_response_error(resp, 409, "volume_in_use",
                                           "volume %s: in use by task %s", v->name, user->id);
        if (!v->deleted_at_ms)
                v->deleted_at_ms = now_ms() + sim.o.volume_delete_ms;
        return http_response_json(resp, 202, json_pack("{s:s, s:s}", "name", v->name, "state", "deleting"));
}

static int sim_volume_list(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:o}", "volumes", sim_volumes_json()));
}

static int sim_list(http_request *req, http_response *resp, void *userdata)
{
        json_t *arr = json_array();

        (void)req;
        (void)userdata;
        for (size_t i = 0; i < sim.n_tasks; i++)
                json_array_append_new(arr, sim_task_json(&sim.tasks[i]));
        return http_response_json(resp, 200, json_pack("{s:o}", "tasks", arr));
}

/* A limit as the agent shows it read back: a number, or "max". */
static json_t *sim_limit(uint64_t v)
{
        return v == SILO_UNSET ? json_string("max") : json_integer((json_int_t)v);
}

static json_t *sim_share(uint64_t limit)
{
        return limit == SILO_UNSET ? json_null() : json_integer((json_int_t)(sim.o.io_fill * (double)limit));
}

static int sim_isolation(http_request *req, http_response *resp, void *userdata)
{
        struct sim_task *t = sim_task_find(req->captures[0]);
        const struct silo_resources *r;
        json_t *io = json_array();
        uint64_t cpu_usec;

        (void)userdata;
        if (!t || !t->spec) {
                json_decref(io);
                return http_response_error(resp, 404, "not_found", "task %s: no such task",
                                           req->captures[0]);
        }
        if (silo_task_state_is_terminal(t->state)) {
                json_decref(io);
                return http_response_error(resp, 409, NULL,
                                           "task '%s' is %s: its cgroup no longer exists", t->id,
                                           silo_task_state_to_string(t->state));
        }
        r = &t->spec->resources;
        for (size_t i = 0; i < r->n_io; i++) {
                const struct silo_io_request *q = &r->io[i];
                json_t *o = json_pack("{s:s, s:s, s:i}", "device", "254:0", "name",
                                      q->disk ? q->disk : "sim", "weight", 100);
                FOREACH_IO_LIMIT(k)
                        json_object_set_new(o, silo_io_limit_to_string(k), sim_limit(q->limit[k]));
                json_object_set_new(
                    o, "measured",
                    json_pack("{s:f, s:o, s:o, s:o, s:o, s:i, s:i}", "interval_s", 1.0, "read_bps",
                              sim_share(q->limit[SILO_IO_RBPS]), "write_bps",
                              sim_share(q->limit[SILO_IO_WBPS]), "read_iops",
                              sim_share(q->limit[SILO_IO_RIOPS]), "write_iops",
                              sim_share(q->limit[SILO_IO_WIOPS]), "p50_us", 250, "p99_us", 1800));
                json_array_append_new(io, o);
        }
        cpu_usec = (uint64_t)((double)(now_ms() - t->started_ms) * 1000.0 * sim.o.io_fill *
                              (r->cpus > 0 ? r->cpus : 1));
        return http_response_json(
            resp, 200,
            json_pack("{s:s, s:{s:o, s:I, s:o, s:o, s:o}, s:{s:{s:I}, s:{s:I}, s:I}, s:{s:s}}",
                      "task_id", t->id, "limits", "cpu_quota_usec",
                      r->cpus > 0 ? json_integer((json_int_t)(r->cpus * 100000)) : json_string("max"),
                      "cpu_period_usec", (json_int_t)100000, "memory_max", sim_limit(r->mem),
                      "pids_max", sim_limit(r->pids), "io", io, "usage", "cpu", "usage_usec",
                      (json_int_t)cpu_usec, "memory", "current",
                      (json_int_t)(r->mem == SILO_UNSET ? 64 << 20 : sim.o.io_fill * (double)r->mem),
                      "pids_current", (json_int_t)3, "measured", "source", "sim"));
}

static int sim_health(http_request *req, http_response *resp, void *userdata)
{
        (void)req;
        (void)userdata;
        return http_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static int sim_state(http_request *req, http_response *resp, void *userdata)
{
        json_t *tasks = json_object(), *launches = json_object(), *hb, *st;

        (void)req;
        (void)userdata;
        for (size_t i = 0; i < sim.n_tasks; i++) {
                json_object_set_new(tasks, sim.tasks[i].id,
                                    json_string(silo_task_state_to_string(sim.tasks[i].state)));
                json_object_set_new(launches, sim.tasks[i].id,
                                    json_integer(sim.tasks[i].launch_requests));
        }
        hb = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "samples",
                       (json_int_t)sim.n_heartbeat_rtt, "p50_ms",
                       (json_int_t)sim_heartbeat_percentile(50) / 1000, "p99_ms",
                       (json_int_t)sim_heartbeat_percentile(99) / 1000, "max_ms",
                       (json_int_t)sim_heartbeat_percentile(100) / 1000, "p50_us",
                       (json_int_t)sim_heartbeat_percentile(50), "p99_us",
                       (json_int_t)sim_heartbeat_percentile(99), "max_gap_ms",
                       (json_int_t)sim.heartbeat_max_gap_ms, "updates_refused",
                       (json_int_t)sim.updates_refused);
        st = json_pack("{s:o, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "heartbeat", hb,
                      "agent_id",
                      sim.agent_id, "registrations", (json_int_t)sim.registrations, "heartbeats",
                      (json_int_t)sim.heartbeats, "launch_requests",
                      (json_int_t)sim.launch_requests, "launches_created",
                      (json_int_t)sim.launches_created, "kill_requests",
                      (json_int_t)sim.kill_requests, "acks", (json_int_t)sim.acks, "unacked",
                      (json_int_t)sim.n_updates, "registration_refusals",
                      (json_int_t)sim.registration_refusals, "tasks", tasks);
        /* Launch requests per task id (a repeat is harmless, launches are idempotent by id, but
         * the HA suites count them), the fencing figures and the master it talks to. */
        json_object_set_new(st, "launch_requests_by_task", launches);
        json_object_set_new(st, "epoch", json_integer((json_int_t)sim.fence.seen));
        json_object_set_new(st, "cluster_id", sim.fence.cluster_id
                                                  ? json_string(sim.fence.cluster_id)
                                                  : json_null());
        json_object_set_new(st, "other_cluster_refusals",
                            json_integer((json_int_t)sim.other_cluster_refusals));
        json_object_set_new(st, "stale_epoch_refusals",
                            json_integer((json_int_t)sim.stale_epoch_refusals));
        json_object_set_new(st, "master_switches", json_integer((json_int_t)sim.master_switches));
        json_object_set_new(st, "redirects_refused",
                            json_integer((json_int_t)sim.redirects_refused));
        json_object_set_new(st, "master", json_string(sim_master()));
        json_object_set_new(st, "volume_deletes", json_integer((json_int_t)sim.volume_deletes));
        return http_response_json(resp, 200, st);
}

static int sim_launches(http_request *req, http_response *resp, void *userdata)
{
        json_t *arr = json_array();

        (void)req;
        (void)userdata;
        for (size_t i = 0; arr && i < sim.n_launch_log; i++) {
                const struct sim_launch_log *l = &sim.launch_log[i];
                json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:i}", "id", l->id, "epoch",
                                                     (json_int_t)l->epoch, "at_ms",
                                                     (json_int_t)l->at_ms, "status",
                                                     (int)l->status));
        }
        return http_response_json(resp, 200, json_pack("{s:o?}", "launches", arr));
}

/* Every heartbeat round trip since the last rtt-reset, so that a test can take the percentile of
 * several agents' samples pooled rather than the worst of each agent's own, which is one outlier. */
static int sim_rtt(http_request *req, http_response *resp, void *userdata)
{
        json_t *samples = json_array();

        (void)req;
        (void)userdata;
        for (size_t i = 0; samples && i < sim.n_heartbeat_rtt; i++)
                json_array_append_new(samples, json_integer(sim.heartbeat_rtt[i]));
        return http_response_json(resp, 200, json_pack("{s:o?}", "samples_us", samples));
}

static int sim_control(http_request *req, http_response *resp, void *userdata)
{
        const char *what = req->path + strlen("/sim/");

        (void)userdata;
        if (!json_is_object(req->body))
                return http_response_error(resp, 400, "bad_request", "body: expected an object");
        if (streq(what, "pause"))
                sim.paused = json_is_true(json_object_get(req->body, "paused"));
        else if (streq(what, "refuse"))
                sim.refuse = json_is_true(json_object_get(req->body, "refuse"));
        else if (streq(what, "hold"))
                sim.hold = json_is_true(json_object_get(req->body, "hold"));
        else if (streq(what, "rtt-reset"))
                sim.n_heartbeat_rtt = 0;
        else if (streq(what, "delay")) {
                sim.delay_ms = (uint64_t)json_integer_value(json_object_get(req->body, "ms"));
                /* Answers held longer than the new delay go out by it: a test holds a launch
                 * "in flight" as long as it needs, then lets it land. */
                for (size_t i = 0; i < sim.n_delayed; i++)
                        sim.delayed[i].due_ms = MIN(sim.delayed[i].due_ms, now_ms() + sim.delay_ms);
        }
        else if (streq(what, "volume-drop")) {
                struct sim_volume *v =
                    sim_volume_find(json_string_value(json_object_get(req->body, "name")));
                if (!v)
                        return http_response_error(resp, 404, "not_found", "no such volume");
                sim_volume_remove(v);
        }
        else if (streq(what, "adopt")) {
                const char *id = json_string_value(json_object_get(req->body, "id"));
                if (!id || sim.n_tasks >= ELEMENTSOF(sim.tasks))
                        return http_response_error(resp, 400, "bad_request", "id: missing");
                struct sim_task *t = &sim.tasks[sim.n_tasks++];
                t->id = strdup(id);
                t->spec = NULL;
                t->state = SILO_TASK_RUNNING;
        }
        return http_response_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static int sim_finish(http_request *req, http_response *resp, void *userdata)
{
        struct sim_task *t = sim_task_find(req->captures[0]);
        const char *state;
        int s, code;
        json_int_t repeat;

        (void)userdata;
        if (!t)
                return http_response_error(resp, 404, "not_found", "task %s: no such task",
                                           req->captures[0]);
        state = json_string_value(json_object_get(req->body, "state"));
        s = silo_task_state_from_string(state ? state : "FINISHED");
        if (s < 0 || !silo_task_state_is_terminal(s))
                return http_response_error(resp, 400, "bad_request", "state: '%s' is not terminal",
                                           strempty(state));
        code = (int)json_integer_value(json_object_get(req->body, "exit_code"));
        repeat = json_integer_value(json_object_get(req->body, "repeat"));
        sim_queue_update(t, s, s == SILO_TASK_FAILED ? SILO_REASON_EXIT_NONZERO : SILO_REASON_NONE,
                         code, repeat > 0 ? (unsigned)repeat : 1);
        return http_response_json(resp, 200, sim_task_json(t));
}

static const struct http_route sim_routes[] = {
    {"GET", "/health", sim_health, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/tasks", sim_launch, 0},
    {"GET", "/api/v1/tasks", sim_list, 0},
    {"DELETE", "/api/v1/tasks/{id}", sim_kill, 0},
    {"GET", "/api/v1/volumes", sim_volume_list, 0},
    {"DELETE", "/api/v1/volumes/{name}", sim_volume_delete, 0},
    {"GET", "/api/v1/tasks/{id}/isolation", sim_isolation, 0},
    {"GET", "/sim/state", sim_state, 0},
    {"GET", "/sim/rtt", sim_rtt, 0},
    {"GET", "/sim/launches", sim_launches, 0},
    {"POST", "/sim/pause", sim_control, 0},
    {"POST", "/sim/refuse", sim_control, 0},
    {"POST", "/sim/delay", sim_control, 0},
    {"POST", "/sim/hold", sim_control, 0},
    {"POST", "/sim/volume-drop", sim_control, 0},
    {"POST", "/sim/adopt", sim_control, 0},
    {"POST", "/sim/rtt-reset", sim_control, 0},
    {"POST", "/sim/finish/{id}", sim_finish, 0},
};

int main(int argc, char **argv)
{
        _cleanup_free_ char *err = NULL;
        struct http_server_config hc;
        struct tls_files tls_to_master = {0};
        struct itimerspec its = {.it_value.tv_nsec = 20000000, .it_interval.tv_nsec = 20000000};
        struct epoll_event ev = {.events = EPOLLIN};
        int epfd, tfd, sfd, r;
        sigset_t mask;

        r = config_parse(&sim_schema, argc, argv, &sim.o, &err);
        if (r != 0 || !sim.o.master || !sim.o.token_file) {
                fprintf(stderr, "sim-agent: %s\n",
                        err ? err : "--master and --token-file are required");
                return 2;
        }
        sim.masters = calloc(strlen(sim.o.master) / 2 + 2, sizeof(char *));
        for (char *save = NULL, *u = strtok_r(sim.o.master, ",", &save); sim.masters && u;
             u = strtok_r(NULL, ",", &save)) {
                size_t n = strlen(u);
                while (n > 0 && u[n - 1] == '/')
                        u[--n] = 0;
                sim.masters[sim.n_masters++] = u;
        }
        if (sim.n_masters == 0) {
                fprintf(stderr, "sim-agent: --master '%s': no URL\n", sim.o.master);
                return 2;
        }
        r = auth_token_load(sim.o.token_file, NULL, &sim.token, NULL, &err);
        if (r < 0) {
                fprintf(stderr, "sim-agent: %s\n", strempty(err));
                return 1;
        }
        if (sim.o.tls_ca || sim.o.tls_cert || sim.o.tls_key) {
                struct tls_files f = {sim.o.tls_ca, sim.o.tls_cert, sim.o.tls_key, NULL};

                r = tls_creds_new(&f, &sim.tls, &err);
                if (r < 0) {
                        fprintf(stderr, "sim-agent: %s\n", strempty(err));
                        return 2;
                }
        }
        hc = (struct http_server_config){
            .listen = sim.o.listen,
            .routes = sim_routes,
            .n_routes = ELEMENTSOF(sim_routes),
            .token = sim.token,
            .tls = sim.tls,
        };
        r = http_server_new(&hc, &sim.http);
        if (sim.tls) {
                /* As the real agent: only a master's certificate answers as the master. */
                tls_to_master = *tls_creds_files(sim.tls);
                tls_to_master.peer = (struct tls_peer){TLS_PEER_MASTER, NULL};
        }
        if (r < 0 || http_client_new(&sim.client) < 0 ||
            (sim.tls && http_client_set_tls(sim.client, &tls_to_master) < 0)) {
                fprintf(stderr, "sim-agent: cannot listen on %s: %s\n", sim.o.listen, strerror(-r));
                return 1;
        }
        if (sim.o.address)
                snprintf(sim.address, sizeof(sim.address), "%s", sim.o.address);
        else
                snprintf(sim.address, sizeof(sim.address), "127.0.0.1:%u", http_server_port(sim.http));
        if (sim.o.port_file) {
                char buf[16];
                snprintf(buf, sizeof(buf), "%u\n", http_server_port(sim.http));
                if (file_write_atomic(sim.o.port_file, buf, strlen(buf), 0644) < 0)
                        return 1;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        timerfd_settime(tfd, 0, &its, NULL);
        epfd = epoll_create1(EPOLL_CLOEXEC);
        ev.data.u32 = 1;
        epoll_ctl(epfd, EPOLL_CTL_ADD, http_server_get_fd(sim.http), &ev);
        ev.data.u32 = 2;
        epoll_ctl(epfd, EPOLL_CTL_ADD, http_client_get_fd(sim.client), &ev);
        ev.data.u32 = 3;
        epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
        ev.data.u32 = 4;
        epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
        sim.heartbeat_interval_ms = 1000;

        for (;;) {
                struct epoll_event evs[16];
                int n = epoll_wait(epfd, evs, ELEMENTSOF(evs), http_server_timeout_ms(sim.http));

                if (n < 0 && errno != EINTR)
                        break;
                if (n <= 0)
                        (void)http_server_run(sim.http);
                for (int i = 0; i < n; i++) {
                        uint64_t v;

                        switch (evs[i].data.u32) {
                        case 1:
                                (void)http_server_run(sim.http);
                                break;
                        case 2:
                                (void)http_client_process(sim.client);
                                break;
                        case 3:
                                (void)!read(tfd, &v, sizeof(v));
                                sim_tick();
                                /* Resumed connections are served by the next run. */
                                (void)http_server_run(sim.http);
                                break;
                        case 4:
                                goto out;
                        }
                }
        }
out:
        http_server_free(sim.http);
        http_client_free(sim.client);
        return 0;
}

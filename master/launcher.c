/* SPDX-License-Identifier: Apache-2.0 */
/* Calls from the master to agents: launches and kills over libcurl multi, with bounded retries. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/array.h"
#include "common/http-json.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/master.h"

#define MASTER_RETRY_MAX_MS 30000u

enum call_kind {
        CALL_LAUNCH,
        CALL_KILL,
        CALL_VOLUME_DELETE, /* task_id holds the volume's name */
};

/* What a completion needs; ids are copied because the task may change meanwhile. */
struct agent_call {
        master *m;
        enum call_kind kind;
        char *task_id;
        char *agent_id;
        bool tracked; /* the master knows the task and flagged it in flight */
        uint64_t queued_ns; /* CLOCK_MONOTONIC, for the launch latency of /metrics */
        /* the request, kept until the outbox is flushed */
        const char *method;
        char *url;
        json_t *body;
        http_client_done_fn done;
};

static void agent_call_free(struct agent_call *c)
{
        if (!c)
                return;
        free(c->task_id);
        free(c->agent_id);
        free(c->url);
        json_decref(c->body);
        free(c);
}

/* Queue a call: it leaves only after this loop turn's changes are committed, so an agent is
 * never told to launch or kill something the master could still forget in a crash. Takes c. */
static int agent_call_queue(master *m, struct agent_call *c)
{
        if (!ARRAY_GROW(m->outbox, m->cap_outbox, m->n_outbox + 1)) {
                agent_call_free(c);
                return -ENOMEM;
        }
        m->outbox[m->n_outbox++] = c;
        return 0;
}

int master_agent_peer_set(master *m, const char *agent_id)
{
        if (!m->tls)
                return 0;
        return http_client_set_peer(m->client, &(struct tls_peer){TLS_PEER_AGENT, agent_id});
}

void master_outbox_flush(master *m)
{
        void **calls = m->outbox;
        size_t n = m->n_outbox;

        /* Completions may queue new calls: they go to a fresh outbox for the next turn. */
        m->outbox = NULL;
        m->n_outbox = m->cap_outbox = 0;
        for (size_t i = 0; i < n; i++) {
                struct agent_call *c = calls[i];
                int r = master_agent_peer_set(m, c->agent_id);

                if (r >= 0)
                        r = http_client_request(m->client, c->method, c->url, c->body, m->token,
                                                (unsigned)m->opts.launch_timeout_ms, c->done, c);

                if (r < 0) {
                        /* Report it like any failed call, so the task follows the usual path. */
                        struct http_client_result res = {
                            .error = r,
                            .error_message = "could not start the request",
                            .body = "",
                        };
                        c->done(&res, c);
                }
        }
        free(calls);
}

void master_outbox_drop(master *m)
{
        for (size_t i = 0; i < m->n_outbox; i++)
                agent_call_free(m->outbox[i]);
        free(m->outbox);
        m->outbox = NULL;
        m->n_outbox = m->cap_outbox = 0;
}

static struct agent_call *agent_call_new(master *m, enum call_kind kind, const char *task_id,
                                         const char *agent_id)
{
        struct agent_call *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->m = m;
        c->kind = kind;
        c->queued_ns = clock_now_nsec(CLOCK_MONOTONIC);
        c->task_id = strdup(task_id);
        c->agent_id = strdup(agent_id);
        if (!c->task_id || !c->agent_id) {
                agent_call_free(c);
                return NULL;
        }
        return c;
}

static uint64_t master_backoff_ms(master *m, uint64_t attempts)
{
        uint64_t d = m->opts.retry_base_ms ? m->opts.retry_base_ms : 1000;

        for (uint64_t i = 1; i < attempts && d < MASTER_RETRY_MAX_MS; i++)
                d *= 2;
        return MIN(d, (uint64_t)MASTER_RETRY_MAX_MS);
}

/* "agent X (addr) unreachable: ..." / "agent X refused the launch: 409 conflict: ..." */
static char *describe_failure(const char *what, const struct master_agent *a, const char *agent_id,
                              const struct http_client_result *res)
{
        _cleanup_free_ char *code = NULL, *message = NULL;
        char *s = NULL;

        if (res->error != 0) {
                if (asprintf(&s, "agent %s (%s) unreachable for the %s: %s", agent_id,
                             a ? a->reg->address : "?", what, strempty(res->error_message)) < 0)
                        return NULL;
                return s;
        }
        (void)http_json_error_parse(res->json, &code, &message);
        if (asprintf(&s, "agent %s refused the %s: HTTP %ld%s%s%s%s", agent_id, what, res->status,
                     code ? " " : "", strempty(code), message ? ": " : "", strempty(message)) < 0)
                return NULL;
        return s;
}

/* The error code of an agent's 409 answer ("stale_epoch", "volume_deleting", ...): NULL for
 * any other answer, or a 409 whose body has no error code and message. */
static char *agent_conflict_code(const struct http_client_result *res)
{
        char *code = NULL;

        if (res->error != 0 || res->status != 409)
                return NULL;
        (void)http_json_error_parse(res->json, &code, NULL);
        return code;
}

/* The agent's epoch fence refused the call (agent/epoch-fence.c, docs/PROTOCOL.md): 409
 * "stale_epoch" says the agent heard a newer leader of this cluster, so this master is deposed;
 * 409 "other_cluster" says the agent follows another state's master (as right after a
 * migration) and must register here first, which its next heartbeat's 404 asks. Neither is
 * the task's fault, so neither counts as a launch or kill attempt. True when it was one of
 * them. */
static bool agent_fence_refused(master *m, struct master_agent *a, const char *why,
                                const struct http_client_result *res)
{
        _cleanup_free_ char *code = agent_conflict_code(res);

        if (streq_ptr(code, "stale_epoch")) {
                if (m->leader)
                        master_step_down(m, why ?: "an agent saw a newer leader's epoch");
                else
                        log_error("%s: a master with a higher epoch of this cluster's state "
                                  "called this agent (a copy of the state running elsewhere?); "
                                  "it refuses this master's calls",
                                  strempty(why));
                return true;
        }
        if (streq_ptr(code, "other_cluster")) {
                if (a)
                        a->registered_since_start = false;
                log_warning("%s: it must register with this master first (its next heartbeat "
                            "is answered 404)",
                            strempty(why));
                return true;
        }
        return false;
}

/* The agent refused the launch with 409 "volume_deleting": a persistent volume it mounts is
 * being deleted there (agent/volumes.c), which the master may not know of (a DELETE sent to the
 * agent directly). Not the task's fault and not for long, so not a launch attempt: it waits
 * as a task refused by the fence does, and the launch once the volume is gone makes a new one. */
static bool agent_volume_deleting(const struct http_client_result *res)
{
        _cleanup_free_ char *code = agent_conflict_code(res);

        return streq_ptr(code, "volume_deleting");
}

/* The agent took the launch: STAGING -> STARTING; a kill requested meanwhile follows it. */
static void launch_accepted(master *m, struct master_task *t, struct master_agent *a,
                            const struct agent_call *c, long status)
{
        int r;

        m->metrics.launches_accepted++;
        t->launch_waits = 0;
        log_debug("task %s: launch accepted by agent %s (HTTP %ld)", t->id, c->agent_id, status);
        if (t->state == SILO_TASK_STAGING) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "launch accepted by agent %s", c->agent_id) < 0)
                        msg = NULL;
                r = master_task_transition(m, t, SILO_TASK_STARTING, SILO_REASON_NONE, msg, NULL);
                if (r < 0)
                        log_error("task %s: cannot record STARTING: %s", t->id, strerror(-r));
        }
        if (t->kill_requested && a && !t->kill_in_flight)
                (void)master_kill_send(m, a, t->id, t);
}

/* The launch failed or was refused: back to PENDING with a backoff, or FAILED after the last
 * attempt, or KILLED when that was asked meanwhile. */
static void launch_failed(master *m, struct master_task *t, struct master_agent *a,
                          const struct agent_call *c, const struct http_client_result *res)
{
        _cleanup_free_ char *why = describe_failure("launch", a, c->agent_id, res);
        int r;

        m->metrics.launches_failed++;
        if (t->state != SILO_TASK_STAGING) {
                /* Its status updates already say it runs there: the answer got lost, not the
                 * launch. */
                log_info("task %s: %s, but the agent already reported it %s", t->id, strempty(why),
                         silo_task_state_to_string(t->state));
                return;
        }
        if (agent_fence_refused(m, a, why, res)) {
                if (m->deposed)
                        return; /* the next leader sends it again from the committed state */
                if (t->launch_attempts > 0)
                        t->launch_attempts--;
        } else if (agent_volume_deleting(res)) {
                if (t->launch_attempts > 0)
                        t->launch_attempts--;
                t->launch_waits++;
                log_info("task %s: %s (waits for the deletion; not counted as a launch attempt)",
                         t->id, strempty(why));
        } else
                log_warning("task %s: %s (attempt %" PRIu64 " of %" PRIu64 ")", t->id,
                            strempty(why), t->launch_attempts, m->opts.launch_attempts);
        if (res->error == -ETIMEDOUT || res->error == -ECONNRESET) {
                /* The agent may have started it before the connection broke: make sure it
                 * does not keep running there while the task is placed again. */
                if (a && a->state == MASTER_AGENT_ACTIVE)
                        (void)master_kill_send(m, a, t->id, NULL);
        }
        if (t->kill_requested) {
                r = master_task_transition(m, t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST,
                                           "killed by request while its launch failed", NULL);
        } else if (t->launch_attempts >= m->opts.launch_attempts) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "gave up after %" PRIu64 " launch attempts; last: %s",
                             t->launch_attempts, strempty(why)) < 0)
                        msg = NULL;
                r = master_task_transition(m, t, SILO_TASK_FAILED, SILO_REASON_LAUNCH_FAILED, msg,
                                           NULL);
        } else {
                /* A deletion can take minutes: its waits back off as far as failures do. */
                t->not_before_ms = now_mono_ms() + master_backoff_ms(m, MAX(t->launch_attempts, t->launch_waits));
                r = master_task_transition(m, t, SILO_TASK_PENDING, SILO_REASON_NONE, why, NULL);
        }
        if (r < 0)
                log_error("task %s: cannot record the failed launch: %s", t->id, strerror(-r));
}

static void master_launch_done(const struct http_client_result *res, void *userdata)
{
        struct agent_call *c = userdata;
        master *m = c->m;
        struct master_task *t = master_task_get(m, c->task_id);
        struct master_agent *a = master_agent_get(m, c->agent_id);
        bool ok = res->error == 0 && res->status >= 200 && res->status < 300;

        if (res->error == -ECANCELED)
                goto out; /* shutting down */
        metrics_hist_observe(&m->metrics.launch_seconds,
                             (double)(clock_now_nsec(CLOCK_MONOTONIC) - c->queued_ns) / 1e9);
        if (t && c->tracked)
                t->launch_in_flight = false;

        if (!t || !streq_ptr(t->agent_id, c->agent_id) || silo_task_state_is_terminal(t->state) ||
            t->state == SILO_TASK_PENDING) {
                /* The master moved on while the launch was in flight (task lost, killed, requeued):
                 * whatever the agent started must not run. */
                if (ok && a && a->state == MASTER_AGENT_ACTIVE) {
                        m->metrics.reconcile_kills++;
                        (void)master_kill_send(m, a, c->task_id, NULL);
                }
        } else if (ok) {
                launch_accepted(m, t, a, c, res->status);
        } else {
                launch_failed(m, t, a, c, res);
        }
out:
        agent_call_free(c);
}

json_t *master_launch_body(const struct master_task *t, const char *const *volume_disks)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec = silo_task_spec_dup(t->spec);

        if (!spec)
                return NULL;
        if (!streq_ptr(spec->id, t->id)) {
                free(spec->id);
                if (!(spec->id = strdup(t->id)))
                        return NULL;
        }
        for (size_t i = 0; i < spec->resources.n_io && i < t->n_disks; i++) {
                struct silo_io_request *io = &spec->resources.io[i];

                if (!t->disks[i])
                        continue;
                free(io->disk);
                if (!(io->disk = strdup(t->disks[i])))
                        return NULL;
                /* The class only guided the choice; the agent needs the disk. */
                free(io->class);
                io->class = NULL;
        }
        for (size_t i = 0; volume_disks && i < spec->container.n_volumes; i++) {
                struct silo_volume *vol = &spec->container.volumes[i];

                if (!vol->name || !volume_disks[i])
                        continue;
                /* the disk its size was counted on: the agent makes it there */
                free(vol->disk);
                free(vol->class);
                vol->class = NULL;
                if (!(vol->disk = strdup(volume_disks[i])))
                        return NULL;
        }
        return silo_task_spec_to_json(spec);
}

int master_launch_send(master *m, struct master_task *t)
{
        const char *volume_disks[SILO_CONTAINER_VOLUMES_MAX] = {0};
        struct master_agent *a = master_agent_get(m, t->agent_id);
        _cleanup_free_ char *url = NULL;
        struct agent_call *c;
        json_t *body;
        int r;

        if (!a)
                return -ENOENT;
        if (asprintf(&url, "%s://%s/api/v1/tasks", m->agent_scheme, a->reg->address) < 0)
                return -ENOMEM;
        for (size_t i = 0; t->spec->has_container && i < t->spec->container.n_volumes &&
                           i < SILO_CONTAINER_VOLUMES_MAX;
             i++) {
                struct master_volume *v = master_volume_get(m, t->spec->container.volumes[i].name);

                volume_disks[i] = v ? v->disk : NULL;
        }
        body = master_launch_body(t, volume_disks);
        c = agent_call_new(m, CALL_LAUNCH, t->id, a->id);
        if (!body || !c) {
                json_decref(body);
                agent_call_free(c);
                return -ENOMEM;
        }
        c->tracked = true;
        c->method = "POST";
        c->url = TAKE_PTR(url);
        c->body = body;
        c->done = master_launch_done;
        r = agent_call_queue(m, c);
        if (r < 0)
                return r;
        t->launch_in_flight = true;
        m->metrics.launches_sent++;
        log_debug("task %s: launch queued for agent %s at %s", t->id, a->id, a->reg->address);
        return 0;
}

/* The agent took the kill. It may answer with the task already ended; otherwise its KILLED
 * status update follows, and the kill is asked again only if none arrives for a while. */
static void kill_accepted(master *m, struct master_task *t, const struct http_client_result *res)
{
        const char *state = json_string_value(json_object_get(res->json, "state"));
        int s = state ? silo_task_state_from_string(state) : -EINVAL, r;

        if (s >= 0 && silo_task_state_is_terminal(s) &&
            master_task_transition_allowed(t->state, s)) {
                silo_task_reason reason =
                    s == SILO_TASK_KILLED ? SILO_REASON_KILLED_BY_REQUEST : SILO_REASON_NONE;

                r = master_task_transition(m, t, s, reason,
                                           "confirmed by the agent's kill response", NULL);
                if (r < 0)
                        log_error("task %s: cannot record its end: %s", t->id, strerror(-r));
                return;
        }
        t->kill_attempts++;
        t->kill_not_before_ms =
            now_mono_ms() + MAX((uint64_t)5000, master_backoff_ms(m, t->kill_attempts));
}

static void master_kill_done(const struct http_client_result *res, void *userdata)
{
        struct agent_call *c = userdata;
        master *m = c->m;
        struct master_task *t = master_task_get(m, c->task_id);
        struct master_agent *a = master_agent_get(m, c->agent_id);
        int r;

        if (res->error == -ECANCELED)
                goto out;
        if (t && c->tracked)
                t->kill_in_flight = false;
        if (!t || !c->tracked || silo_task_state_is_terminal(t->state) ||
            !streq_ptr(t->agent_id, c->agent_id))
                goto out; /* a reconciliation kill: heartbeats repeat it if it did not work */

        if (res->error == 0 && res->status >= 200 && res->status < 300) {
                kill_accepted(m, t, res);
                goto out;
        }
        if (res->error == 0 && res->status == 404) {
                _cleanup_free_ char *msg = NULL;
                if (asprintf(&msg, "agent %s does not know the task; considered killed",
                             c->agent_id) < 0)
                        msg = NULL;
                r = master_task_transition(m, t, SILO_TASK_KILLED, SILO_REASON_KILLED_BY_REQUEST,
                                           msg, NULL);
                if (r < 0)
                        log_error("task %s: cannot record KILLED: %s", t->id, strerror(-r));
                goto out;
        }
        {
                _cleanup_free_ char *why = describe_failure("kill", a, c->agent_id, res);

                if (agent_fence_refused(m, a, why, res)) {
                        if (!m->deposed)
                                t->kill_not_before_ms =
                                    now_mono_ms() + master_backoff_ms(m, t->kill_attempts);
                        goto out;
                }
                t->kill_attempts++;
                t->kill_not_before_ms = now_mono_ms() + master_backoff_ms(m, t->kill_attempts);
                log_warning("task %s: %s; retrying the kill later", t->id, strempty(why));
        }
out:
        agent_call_free(c);
}

/* A reconciliation kill (a task the agent should not run) is repeated at most this often:
 * heartbeats keep naming the task until the agent's kill grace period is over. */
#define MASTER_RECONCILE_KILL_REPEAT_MS 5000u

struct master_recent_kill {
        char *key;
        uint64_t sent_ms;
};

static void recent_kill_free(struct master_recent_kill *k)
{
        if (k) {
                free(k->key);
                free(k);
        }
}

void master_recent_kills_free(master *m)
{
        struct master_recent_kill *k;
        size_t i = 0;

        if (!m->recent_kills)
                return;
        while (table_next(m->recent_kills, &i, NULL, (void **)&k))
                recent_kill_free(k);
        m->recent_kills = table_free(m->recent_kills);
}

/* Whether a reconciliation kill of task_id on a went out recently; records it when not. */
static bool recent_kill_check(master *m, const struct master_agent *a, const char *task_id)
{
        _cleanup_free_ char *key = NULL;
        struct master_recent_kill *k;
        uint64_t now = now_mono_ms();

        if (!m->recent_kills && table_new(&m->recent_kills) < 0)
                return false;
        if (asprintf(&key, "%s/%s", a->id, task_id) < 0)
                return false;
        k = table_get(m->recent_kills, key);
        if (k) {
                if (now - k->sent_ms < MASTER_RECONCILE_KILL_REPEAT_MS)
                        return true;
                k->sent_ms = now;
                return false;
        }
        k = calloc(1, sizeof(*k));
        if (!k)
                return false;
        k->key = TAKE_PTR(key);
        k->sent_ms = now;
        if (table_put(m->recent_kills, k->key, k) < 0)
                recent_kill_free(k);
        return false;
}

static void recent_kills_prune(master *m)
{
        _cleanup_free_ struct master_recent_kill **old = NULL;
        struct master_recent_kill *k;
        uint64_t now = now_mono_ms();
        size_t i = 0, n = 0;

        if (!m->recent_kills || table_size(m->recent_kills) == 0)
                return;
        old = calloc(table_size(m->recent_kills), sizeof(*old));
        if (!old)
                return;
        while (table_next(m->recent_kills, &i, NULL, (void **)&k))
                if (now - k->sent_ms > 12 * MASTER_RECONCILE_KILL_REPEAT_MS)
                        old[n++] = k;
        for (i = 0; i < n; i++) {
                (void)table_remove(m->recent_kills, old[i]->key);
                recent_kill_free(old[i]);
        }
}

int master_kill_send(master *m, struct master_agent *a, const char *task_id, struct master_task *t)
{
        _cleanup_free_ char *url = NULL;
        struct agent_call *c;
        int r;

        if (!t && recent_kill_check(m, a, task_id))
                return 0;

        if (asprintf(&url, "%s://%s/api/v1/tasks/%s", m->agent_scheme, a->reg->address, task_id) < 0)
                return -ENOMEM;
        c = agent_call_new(m, CALL_KILL, task_id, a->id);
        if (!c)
                return -ENOMEM;
        c->tracked = t != NULL;
        c->method = "DELETE";
        c->url = TAKE_PTR(url);
        c->done = master_kill_done;
        r = agent_call_queue(m, c);
        if (r < 0)
                return r;
        if (t)
                t->kill_in_flight = true;
        m->metrics.kills_sent++;
        log_debug("task %s: kill queued for agent %s", task_id, a->id);
        return 0;
}

/* The agent's answer to a volume's DELETE: 204 (or 404: it has none) removes the record, 202
 * (removing) asks again later, 409 volume_in_use makes it ready again, anything else is
 * retried with backoff. */
static void master_volume_delete_done(const struct http_client_result *res, void *userdata)
{
        struct agent_call *c = userdata;
        master *m = c->m;
        struct master_volume *v = master_volume_get(m, c->task_id);
        struct master_agent *a = master_agent_get(m, c->agent_id);
        _cleanup_free_ char *why = NULL;

        if (res->error == -ECANCELED || !v || !streq(v->agent_id, c->agent_id))
                goto out;
        v->delete_in_flight = false;
        if (v->state != MASTER_VOLUME_DELETING)
                goto out;
        if (res->error == 0 && (res->status == 204 || res->status == 404)) {
                master_volume_delete_gone(m, v);
                goto out;
        }
        /* 202: the agent removes its tree in the background. Asked again later, it answers
         * 202 while it works and 404 once done; its report dropping the volume says so too. */
        if (res->error == 0 && res->status == 202) {
                v->delete_not_before_ms = now_mono_ms() + master_backoff_ms(m, ++v->delete_attempts);
                goto out;
        }
        why = describe_failure("volume's deletion", a, c->agent_id, res);
        if (agent_fence_refused(m, a, why, res))
                goto out;
        if (res->error == 0 && res->status == 409) {
                master_volume_delete_refused(m, v, why);
                goto out;
        }
        v->delete_attempts++;
        v->delete_not_before_ms = now_mono_ms() + master_backoff_ms(m, v->delete_attempts);
        log_warning("volume %s: %s; retrying later", v->name, strempty(why));
out:
        agent_call_free(c);
}

int master_volume_delete_send(master *m, struct master_agent *a, struct master_volume *v)
{
        _cleanup_free_ char *url = NULL;
        struct agent_call *c;
        int r;

        if (asprintf(&url, "%s://%s/api/v1/volumes/%s", m->agent_scheme, a->reg->address,
                     v->name) < 0)
                return -ENOMEM;
        c = agent_call_new(m, CALL_VOLUME_DELETE, v->name, a->id);
        if (!c)
                return -ENOMEM;
        c->method = "DELETE";
        c->url = TAKE_PTR(url);
        c->done = master_volume_delete_done;
        r = agent_call_queue(m, c);
        if (r < 0)
                return r;
        v->delete_in_flight = true;
        m->metrics.volume_deletes_sent++;
        log_debug("volume %s: deletion queued for agent %s", v->name, a->id);
        return 0;
}

void master_launcher_tick(master *m)
{
        uint64_t now = now_mono_ms();
        struct master_task *t;
        size_t i = 0;

        recent_kills_prune(m);
        master_volumes_tick(m);
        while (table_next(m->tasks, &i, NULL, (void **)&t)) {
                struct master_agent *a;

                if (t->state == SILO_TASK_PENDING) {
                        if (t->not_before_ms && t->not_before_ms <= now) {
                                t->not_before_ms = 0;
                                master_schedule(m);
                        }
                        continue;
                }
                if (silo_task_state_is_terminal(t->state))
                        continue;
                a = master_agent_get(m, t->agent_id);
                if (!a || a->state != MASTER_AGENT_ACTIVE)
                        continue;
                /* A restart forgot which launches were in flight: send them again; the agent
                 * answers a repeated launch of the same spec with the existing task. */
                if (t->state == SILO_TASK_STAGING && !t->launch_in_flight) {
                        (void)master_launch_send(m, t);
                        continue;
                }
                if (t->kill_requested && !t->kill_in_flight && !t->launch_in_flight &&
                    t->kill_not_before_ms <= now)
                        (void)master_kill_send(m, a, t->id, t);
        }
}

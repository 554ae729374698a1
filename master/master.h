/* SPDX-License-Identifier: Apache-2.0 */
/* silo-master's shared state: options, tasks, agents, and the functions its modules export. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/id.h"
#include "common/metrics-text.h"
#include "common/http-client.h"
#include "common/http-server.h"
#include "common/protocol-json.h"
#include "master/allocator.h"
#include "master/leader.h"
#include "common/table.h"
#include "silo/protocol.h"

struct event_loop;
struct master_leader;
struct store;
struct master_events;

struct master_options {
        char *listen;
        char *state_dir;
        char *token_file;
        uint64_t heartbeat_interval_ms;
        uint64_t agent_timeout_ms;
        uint64_t launch_attempts;   /* launches tried before a task FAILS with LAUNCH_FAILED */
        uint64_t launch_timeout_ms; /* one HTTP call to an agent */
        uint64_t retry_base_ms;     /* first retry delay; doubles per attempt, capped at 30 s */
        uint64_t max_connections;
        uint64_t max_connections_per_client; /* per client address, 0 = no limit */
        uint64_t header_timeout_s;           /* a request's headers must arrive within */
        uint64_t idle_timeout_s;             /* kept-alive connections closed after */
        uint64_t nofile;     /* RLIMIT_NOFILE to raise to */
        uint64_t gc_max_age_s; /* ended tasks are forgotten this long after they end; 0: never */
        uint64_t gc_max_tasks; /* at most this many ended tasks are kept; 0: no limit */
        char **role_weights; /* "ROLE=WEIGHT" for weighted DRF; applied by master_new() */
        uint64_t event_window;      /* events kept in the store for ?since= */
        uint64_t event_buffer;      /* events kept in memory: a consumer further behind is dropped */
        uint64_t event_heartbeat_s; /* an idle event stream gets a heartbeat line this often */
        uint64_t event_consumers_max; /* event streams open at once; more: 503 */
        char *log_level;
        char *tls_ca, *tls_cert, *tls_key, *tls_crl; /* mutual TLS when tls_cert is set */
        char *health_listen;                         /* plain-HTTP /health only */
        /* the state backend (store.h) */
        char *store;       /* "sqlite" (default) or "etcd" */
        char *etcd;        /* etcd endpoints "http://h1:2379,http://h2:2379" */
        char *etcd_prefix; /* keys under it, default "/silo/" */
        char *etcd_ca, *etcd_cert, *etcd_key; /* mutual TLS to etcd when etcd_cert is set */
        char *migrate_to;  /* "etcd": copy the SQLite state into etcd and exit */
        /* high availability (role.c, leader.c) */
        uint64_t lease_ttl_s; /* the leader's lease on etcd; 0: no election (master_role_elects) */
        char *advertise;      /* URL followers redirect to; NULL: from --listen */
        char *name;           /* this master in the leader key; NULL: hostname:port */
};

/* The --etcd-ca/--etcd-cert/--etcd-key files of opts, as a struct tls_files (common/tls.h). */
#define MASTER_ETCD_TLS(opts) \
        ((struct tls_files){.ca = (opts)->etcd_ca, .cert = (opts)->etcd_cert, .key = (opts)->etcd_key})
/* Open the state backend the options name (SQLite in the state dir, or etcd). */
int master_store_open(const struct master_options *opts, struct store **ret, char **ret_error);

extern const struct config_schema master_config_schema;

/* A task as the master tracks it. Everything but the *_in_flight flags and `pending_reason`
 * is persisted at every change (store.c). */
struct master_task {
        char *id;
        struct silo_task_spec *spec; /* spec->id == id */
        silo_task_state state;
        silo_task_reason reason;
        char *message;  /* why it is in this state (a refused launch, a kill...) */
        char *agent_id; /* STAGING and later: where it was sent */
        char **disks;   /* chosen disk per resources.io[i] (n_io entries) */
        size_t n_disks;
        int exit_code; /* -1 until known */
        int signal;
        uint64_t launch_attempts;
        bool kill_requested;
        uint64_t created_ms, updated_ms; /* CLOCK_REALTIME */
        uint64_t seq;                    /* submission order */
        /* bit i: container.ports[i].host was 0 and the allocator chose it (in spec), so a
         * refused launch gives the choice back (tasks.c), after a restart too */
        uint64_t ports_chosen;

        /* in memory only */
        bool launch_in_flight;
        bool kill_in_flight;
        uint64_t kill_attempts;
        uint64_t not_before_ms;      /* monotonic: retry backoff for the next placement */
        uint64_t launch_waits;       /* refusals not counted as attempts (volume_deleting) in a
                                      * row: their backoff grows with them */
        uint64_t kill_not_before_ms; /* monotonic: retry backoff for a DELETE to the agent */
        char *pending_reason;        /* the allocator's latest reason while PENDING */
        /* ended tasks, oldest end first, for retention (retention.c) */
        struct master_task *ended_prev, *ended_next;
        bool ended_listed;
};

enum master_agent_state {
        MASTER_AGENT_ACTIVE,
        MASTER_AGENT_LOST,
};

struct master_agent {
        char *id;
        struct silo_agent_registration *reg; /* latest registration (reg->agent_id == id) */
        enum master_agent_state state;
        uint64_t registered_ms, updated_ms; /* CLOCK_REALTIME */
        uint64_t last_seen_mono_ms;         /* last registration or heartbeat */
        uint64_t heartbeats;
        /* Registered with this master process: after a restart every agent must register
         * again (heartbeats get 404) so the master reconciles what it runs now. */
        bool registered_since_start;
        /* Live tasks placed here (STAGING..RUNNING), id -> struct master_task, kept by
         * master_task_reindex() so per-agent work never scans every task. */
        struct table *tasks;
};

/* A persistent volume as the master knows it (volumes.c): where it lives and what it books
 * there. Everything but the in-memory part is persisted at every change (store_volume_put). */
enum master_volume_state {
        MASTER_VOLUME_PENDING,  /* placed with a task; its agent has not reported it yet */
        MASTER_VOLUME_READY,    /* its agent reports it */
        MASTER_VOLUME_DELETING, /* deletion asked; the agent's confirmation removes the record */
        _MASTER_VOLUME_STATE_MAX,
};

struct master_volume {
        char *name;
        char *agent_id;
        char *disk;
        char *class; /* the class asked for when it was created; may be NULL */
        char *role;  /* the role of the task that created it; NULL when adopted from an agent */
        uint64_t size, used_bytes;
        enum master_volume_state state;
        /* READY, but its agent's last report did not name it (deleted behind the master's back,
         * or its disk gone): kept and shown, never dropped silently */
        bool missing;
        uint64_t created_ms, updated_ms; /* CLOCK_REALTIME */

        /* in memory only */
        bool delete_in_flight;
        uint64_t delete_attempts;
        uint64_t delete_not_before_ms; /* monotonic: retry backoff of the DELETE to the agent */
};

struct master_metrics {
        uint64_t http_requests;
        uint64_t registrations;
        uint64_t reregistrations;
        uint64_t heartbeats;
        uint64_t agents_lost;
        uint64_t status_updates;
        uint64_t status_duplicates;
        uint64_t status_ignored;
        uint64_t status_refused; /* not from the agent the task is placed on */
        uint64_t requests_forbidden; /* refused by common/authz.h: 403 */
        uint64_t tasks_submitted;
        uint64_t launches_sent;
        uint64_t launches_accepted;
        uint64_t launches_failed;
        uint64_t kills_sent;
        uint64_t volume_deletes_sent;
        uint64_t reconcile_kills;
        uint64_t tasks_forgotten;   /* ended tasks dropped by retention */
        uint64_t updates_forgotten; /* updates for unknown tasks dropped by retention */
        uint64_t allocation_passes;
        uint64_t allocation_placed;
        uint64_t events_published;        /* event stream: events committed and handed out */
        uint64_t event_consumers_dropped; /* event stream: consumers dropped as too slow */
        double last_pass_seconds;
        /* histograms of /metrics, bounds set by master_metrics_init() */
        struct metrics_hist pass_seconds;         /* alloc_place_batch() */
        struct metrics_hist status_delay_seconds; /* agent's transition -> applied here */
        struct metrics_hist launch_seconds;       /* launch queued -> agent's answer */
};

typedef struct master {
        struct master_options opts;
        char *token;
        struct store *store;
        struct master_events *events; /* the event stream (events.c) */
        struct table *tasks;        /* id -> struct master_task */
        struct table *agents;       /* id -> struct master_agent */
        struct table *recent_kills; /* "agent/task" -> struct master_recent_kill */
        struct table *volumes;      /* name -> struct master_volume */
        struct alloc_cluster *alloc;
        http_server *http;
        http_server *health; /* --health-listen */
        http_client *client;
        struct tls_creds *tls; /* --tls-*: the API is HTTPS, and so are calls to agents */
        const char *agent_scheme; /* "https" with TLS, else "http" */
        struct event_loop *loop; /* signals, the tick, the API server, agent calls (master.c) */
        int stop_fd;             /* master_stop() */
        bool alloc_needed;
        int fatal; /* a commit failed: stop, the restart recovers */
        /* Answers held until the loop turn's transaction is committed (group commit). */
        http_deferred **acks;
        size_t n_acks, cap_acks;
        bool http_run_needed; /* event streams were resumed at the commit: run the server */
        /* Calls to agents held until the changes they act on are committed (launcher.c). */
        void **outbox;
        size_t n_outbox, cap_outbox;
        uint64_t next_seq;
        uint64_t started_ms;
        /* High availability (role.c): with etcd, the election; the state is loaded only once
         * this master leads, and a deposed one stops acting and re-executes itself. */
        struct master_leader *leader; /* NULL: standalone (SQLite) */
        char *advertise, *name;       /* as resolved from the options */
        uint64_t epoch;               /* sent to agents as SILO_MASTER_EPOCH_HEADER */
        uint64_t lease_deadline_ms;   /* monotonic: the leader's, bounding the store's calls */
        bool loaded;                  /* the state is in memory: standalone, or leading */
        bool deposed;                 /* stop acting; master_run() returns -ESTALE */
        char *deposed_why;
        struct master_metrics metrics;
        /* Retention (retention.c): ended tasks in order of their end, and where the sweep of
         * updates for unknown tasks goes on. Nothing to free: the list links the tasks. */
        struct {
                struct master_task *head, *tail;
                size_t n;
                bool unsorted;
                uint64_t orphan_cursor;
        } ended;
} master;

/* ---- lifecycle (master.c) ---- */
/* Apply the options, open the store and recover the state, bind the API, and set up the event
 * loop (which blocks SIGTERM and SIGINT in the calling thread to take them as events).
 * *ret_error explains a failure. */
int master_new(const struct master_options *opts, master **ret, char **ret_error);
master *master_free(master *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(master *, master_free);
/* Run the loop until SIGTERM/SIGINT or master_stop(); each turn ends with the group commit. */
int master_run(master *m);
/* Thread-safe: ask a running master_run() to return (tests). */
void master_stop(master *m);
/* Commit this loop turn's changes (one fsync for all of them), then release the answers
 * that waited for it. A failed commit is fatal: answers become 503 and master_run() returns. */
int master_commit(master *m);
/* For a handler whose answer must wait for the commit of the changes made so far: suspend
 * the request (the response already filled stays queued). Returns HTTP_DEFERRED, or 0 when
 * nothing is waiting to be committed (answer now), or -ENOMEM. */
int master_ack_after_commit(master *m, http_request *req);

/* ---- roles (role.c) ---- */
/* Resolve --advertise and --name, and on etcd set up the election (started by
 * master_role_start()); standalone: the store's epoch goes on every agent call. */
int master_role_setup(master *m, char **ret_error);
/* Whether this master takes part in an election: on etcd with a lease TTL. A TTL of 0 (the
 * option's minimum is 2; in-process tests leave it 0) is a master alone on etcd: it acts at
 * once, its writes holding only while no leader key exists (store.h). */
bool master_role_elects(const master *m);
int master_role_start(master *m);
/* standalone, follower or leader (a leader past its lease deadline is a follower). */
enum master_role master_role(const master *m);
/* The epoch /health and /metrics show: ours when acting, the followed leader's otherwise
 * (0: none known). */
uint64_t master_epoch_shown(const master *m);
/* Whether this master may act now: answer, commit, launch, kill. */
bool master_acting(const master *m);
/* Stop acting at once (lease lost, a commit refused as stale): held answers become 503,
 * queued agent calls are dropped, master_run() returns -ESTALE. */
void master_step_down(master *m, const char *why);
/* The HTTP server's gate: a follower redirects every route but /health and /metrics to the
 * leader (307), or answers 503 no_leader when none is known. */
int master_gate(http_request *req, http_response *resp, void *userdata);
/* Load the state from the store (startup standalone, or when elected). */
int master_state_load(master *m, char **ret_error);

/* ---- tasks (tasks.c) ---- */
struct master_task *master_task_get(master *m, const char *id);
/* Create and persist a PENDING task from a validated spec; the id is generated when absent.
 * -EEXIST with *ret_task set when the id exists with an equal spec (idempotent submit),
 * -EBUSY when it exists with another spec; -EINVAL with *ret_error for a spec the master
 * cannot place (e.g. an io entry naming a device path). */
int master_task_submit(master *m, struct silo_task_spec *spec, struct master_task **ret_task,
                       char **ret_error);
/* Whether the master's state machine allows from -> to: the protocol's rules, except that a
 * terminal state (LOST included: the master gave the task up) is final. */
bool master_task_transition_allowed(silo_task_state from, silo_task_state to);
/* Move a task to `to`, persist it (and the event) in one transaction, then release its
 * resources when it ended. update may be NULL (a master decision). -EBUSY when illegal. */
int master_task_transition(master *m, struct master_task *t, silo_task_state to,
                           silo_task_reason reason, const char *message,
                           const struct silo_status_update *update);
/* Keep the agents' live-task indexes in step after t's state or agent changed; old_agent_id
 * is the agent it was on before (NULL: none). */
void master_task_reindex(master *m, struct master_task *t, const char *old_agent_id);
/* User kill: PENDING -> KILLED at once; STAGING..RUNNING -> DELETE to the agent. -EBUSY when
 * already terminal. *ret_accepted tells whether it is done (false: the agent must confirm). */
int master_task_kill(master *m, struct master_task *t, bool *ret_done);
/* Apply an agent's status update. *ret_duplicate when its update_id was seen already. */
int master_status_apply(master *m, const struct silo_status_update *u, bool *ret_duplicate,
                        char **ret_error);
json_t *master_task_to_json(master *m, const struct master_task *t, bool with_history);
struct master_task *master_task_free(struct master_task *t);
/* The tasks keep() keeps, in submission order (free() the array). */
int master_tasks_select(master *m, bool (*keep)(const struct master_task *t, const void *userdata),
                        const void *userdata, struct master_task ***ret, size_t *ret_n);
/* All tasks sorted by submission order, optionally only one state (state < 0: all). */
int master_tasks_list(master *m, int state, struct master_task ***ret, size_t *ret_n);

/* ---- privacy (privacy.c) ---- */
/* Refuse a --token-file group or others may write, warn about one they may read (NULL: the
 * generated token, private already). */
int master_token_file_check(const char *token_file, char **ret_error);

/* ---- retention (retention.c) ---- */
/* Queue an ended task for retention (master_task_reindex() does it; idempotent). */
void master_retention_add(master *m, struct master_task *t);
/* Forget ended tasks past --gc-max-age-s or beyond --gc-max-tasks (oldest end first), and
 * updates for unknown tasks past the age, at most MASTER_RETENTION_BATCH of each per call, so
 * the loop's timer can call it every tick without stalling. */
void master_retention_tick(master *m);

/* ---- allocation (placement.c) ---- */
void master_schedule(master *m); /* ask for a pass at the end of this loop turn */
int master_allocate(master *m);  /* one batched pass over due PENDING tasks */
/* Charge the allocator for a task that holds resources on its agent (restart, reconcile). */
int master_task_charge(master *m, struct master_task *t);

/* ---- agents (agents.c) ---- */
struct master_agent *master_agent_get(master *m, const char *id);
int master_agent_new(const char *id, struct master_agent **ret);
int master_agent_register(master *m, struct silo_agent_registration *reg,
                          struct master_agent **ret_agent, char **ret_error);
/* -ENOENT for an unknown agent, -ESTALE for a lost one, -EAGAIN for one that has not
 * registered since the master started: the last two must register again. */
int master_agent_heartbeat(master *m, const char *id, const json_t *body, char **ret_error);
/* Mark agents silent past the timeout lost; their tasks become LOST. */
void master_agents_check(master *m);
json_t *master_agent_to_json(master *m, const struct master_agent *a);
struct master_agent *master_agent_free(struct master_agent *a);

/* ---- persistent volumes (volumes.c) ---- */
/* The most persistent volumes one task may name: what the allocator places per task. */
#define MASTER_TASK_VOLUMES_MAX ALLOC_VOLUMES_MAX
const char *master_volume_state_to_string(enum master_volume_state s);
struct master_volume *master_volume_get(master *m, const char *name);
struct master_volume *master_volume_free(struct master_volume *v);
/* The record as stored (both backends) and back; from_record names what is wrong. */
json_t *master_volume_record(const struct master_volume *v);
int master_volume_from_record(const char *name, const char *text, size_t len,
                              struct master_volume **ret, char **ret_error);
/* Take a volume loaded from the store (master_state_load). */
int master_volume_load(master *m, struct master_volume *v);
/* The submission's rules for the spec's persistent volumes against the volumes and the tasks
 * not ended: -EINVAL for a spec that names a volume with another size than it has, -EBUSY
 * (409 volume_in_use) when a task not ended mounts it and either mount is read-write (unless
 * both are shared) or it is being deleted. *ret_error names the volume and the task. */
/* At submission, before master_task_submit(): each existing volume the spec names checked
 * with authz_volume_mount() for the submitter `id` (NULL: no TLS, the operator). -EACCES
 * (403) naming the field, the volume and its role. */
int master_volumes_authz_submit(master *m, const struct silo_identity *id,
                                const struct silo_task_spec *spec, char **ret_error);
int master_volumes_check_submit(master *m, const struct silo_task_spec *spec, char **ret_error);
/* Record the new volumes of a task just placed (PENDING volumes on res->volume_disk); part of
 * the caller's open change, which also moves the task to STAGING. added[i] (the spec's
 * volume index, SILO_CONTAINER_VOLUMES_MAX entries, false on entry) says which it recorded,
 * also on failure, for master_volumes_place_undo(). */
int master_volumes_place(master *m, const struct master_task *t, const struct alloc_result *res,
                         bool *added);
/* Forget in memory the volumes master_volumes_place() recorded (added[]) when the change that
 * held them was rolled back. */
void master_volumes_place_undo(master *m, const struct master_task *t, const bool *added);
/* Forget what master_volumes_place() booked when the placement could not be recorded. */
void master_volumes_unplace(master *m, const struct master_task *t);
/* Merge an agent's report (registration or heartbeat): its volumes become READY with their
 * figures, one it has that the master does not know is adopted, a READY one it no longer names
 * is flagged missing. */
int master_volumes_report(master *m, struct master_agent *a, const struct silo_volume_report *v,
                          size_t n);
/* The tasks not ended that mount the volume, in submission order (free() the array). */
int master_volume_tasks(master *m, const char *name, struct master_task ***ret, size_t *ret_n);
json_t *master_volume_to_json(master *m, const struct master_volume *v);
/* DELETE /api/v1/volumes/{name}: -EBUSY with *ret_error naming a task not ended that mounts
 * it; else DELETING (durable), and its agent is asked (now or when it is back). */
int master_volume_delete(master *m, struct master_volume *v, char **ret_error);
/* The agent's answer to a DELETE: gone (removed, or the agent has no such volume: the record
 * goes), refused (in use there: READY again, with why), or failed (retried later). */
void master_volume_delete_gone(master *m, struct master_volume *v);
void master_volume_delete_refused(master *m, struct master_volume *v, const char *why);
/* Resend the deletions a restart or a lost agent interrupted (master_launcher_tick). */
void master_volumes_tick(master *m);

/* ---- agent calls (launcher.c) ---- */
/* The spec the agent gets (POST /api/v1/tasks): the task's typed spec with its id and, for
 * every io entry, the disk chosen here in place of "any" and the class, and for every
 * persistent volume its disk (volume_disks[i] for container.volumes[i], NULL: as given; may be
 * NULL), encoded by the codec. NULL on ENOMEM. */
json_t *master_launch_body(const struct master_task *t, const char *const *volume_disks);
int master_launch_send(master *m, struct master_task *t);
/* DELETE the task on the agent; t may be NULL for a task the master does not know. */
int master_kill_send(master *m, struct master_agent *a, const char *task_id, struct master_task *t);
/* DELETE the volume on its agent (v->agent_id, active); the answer goes to
 * master_volume_delete_gone/refused. */
int master_volume_delete_send(master *m, struct master_agent *a, struct master_volume *v);
/* Resend what a restart interrupted (STAGING launches, requested kills) and due retries. */
void master_launcher_tick(master *m);
/* Free the record of recent reconciliation kills (master_free). */
void master_recent_kills_free(master *m);
/* Start the agent calls queued this turn; call only after master_commit() succeeded. */
void master_outbox_flush(master *m);
/* Under TLS, the next call on m->client must reach a certificate with O=silo:agent and CN =
 * agent_id (a process at the agent's address that is not that agent is refused). */
int master_agent_peer_set(master *m, const char *agent_id);
/* Forget queued calls without sending them (shutdown, failed commit). */
void master_outbox_drop(master *m);

/* ---- API (api.c) and metrics (metrics.c) ---- */
extern const struct http_route master_routes[];
extern const size_t master_n_routes;
/* The API's errno -> status table: the status for r, and in *ret_code its error code (the
 * endpoint's code, when the table leaves it to the endpoint). 500 and NULL: not the client's. */
unsigned master_api_status(int r, const char *code, const char **ret_code);
struct authz_request;
/* 0 when the request's identity may do q (common/authz.h); else a 403 "forbidden" in resp,
 * counted and logged, and 1 (the handler returns 0: answered); -ENOMEM. */
int master_api_authz(master *m, http_request *req, http_response *resp,
                     const struct authz_request *q);
char *master_metrics_format(master *m);
/* Set the histograms' bounds (a zeroed struct has none). */
void master_metrics_init(struct master_metrics *x);

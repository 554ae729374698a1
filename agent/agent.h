/* SPDX-License-Identifier: Apache-2.0 */
/* silo-agent's shared state: the daemon, its options, and the tasks it runs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/epoch-fence.h"
#include "agent/link.h"
#include "agent/shim-protocol.h"
#include "common/authz.h"
#include "common/event-loop.h"
#include "common/id.h"
#include "common/http-server.h"
#include "isolator/container.h"
#include "isolator/isolator.h"
#include "silo/protocol.h"

#define AGENT_DEFAULT_STATE_DIR "/var/lib/silo/agent"
#define AGENT_DEFAULT_CONFIG "/etc/silo/agent.conf"

struct agent_options {
        char *listen;
        char *state_dir;
        char *token_file;
        char *master;
        char *cgroup_root;
        char **disk;
        uint64_t kill_grace_s;
        uint64_t log_max_bytes;
        uint64_t log_files;
        char *shim;
        char *log_level;
        uint64_t gc_max_age_s;          /* terminal tasks older than this are forgotten */
        uint64_t gc_max_tasks;          /* at most this many terminal tasks are kept */
        uint64_t max_connections;       /* HTTP connections in total */
        uint64_t max_connections_per_client; /* per client address, 0 = no limit */
        uint64_t header_timeout_s;      /* a request's headers must arrive within */
        uint64_t idle_timeout_s;        /* kept-alive connections closed after */
        char *task_subnet;              /* bridge tasks' addresses (task-network.h); NULL: chosen */
        char *task_bridge;              /* the bridge their veths join */
        char *task_ports;               /* host ports for bridge tasks' mappings, "MIN-MAX" */
        char *tls_ca, *tls_cert, *tls_key, *tls_crl; /* mutual TLS when tls_cert is set */
        char *health_listen;            /* plain-HTTP /health only */
        struct agent_link_options link;  /* master link and calibration (link.h) */
};

/* A disk offered with --disk, resolved to the device io.max takes. */
struct agent_disk {
        char *name;             /* "nvme0n1" */
        char *path;             /* "/dev/nvme0n1" */
        dev_t devnum;
        char *class;            /* "ssd", "hdd" */
        uint64_t size_bytes;
        char *mount;            /* --disk NAME:MOUNTPOINT: where its persistent volumes live */
        struct pquota_fs *fs;   /* that filesystem, checked at start (isolator/pquota.h) */
};

/* What this node's kernel accepts for a task's limits, read once at start (task-limits.c). */
enum { NODE_SWAP_UNKNOWN, NODE_SWAP_YES, NODE_SWAP_NO };
enum { NODE_CPUSET_UNKNOWN, NODE_CPUSET_YES, NODE_CPUSET_NO };
struct node_limits {
        uint64_t nr_open;       /* fs.nr_open, the most RLIMIT_NOFILE can be; 0 = unknown */
        uint64_t pid_max;       /* kernel.pid_max; 0 = unknown */
        char cpus[1024];        /* CPUs tasks may use ("0-1"); "" = unknown */
        const char *cpus_source;        /* where cpus came from: "online" or "cpuset.cpus.effective" */
        int swap;               /* NODE_SWAP_*: whether memory.swap.max exists for tasks */
        int cpuset;             /* NODE_CPUSET_*: whether tasks get the cpuset controller */
        /* The agent's capability bounding set (bit per CAP_*), which every shim and task
         * inherits: silo-agent.service's CapabilityBoundingSet= narrows it; 0 = unknown. */
        uint64_t cap_bounding;
};

struct task;
struct log_waiter;
struct pquota_fs;
struct agent_volume;
struct agent_link;
struct shim_server;

struct agent {
        struct agent_options opts;
        struct event_loop *loop;
        http_server *http;
        http_server *health;    /* --health-listen */
        struct tls_creds *tls;  /* --tls-*: the API is HTTPS, and so are calls to the master */
        struct cg_hierarchy *cg;
        char *token;
        char *shim_path;
        struct shim_server *shim_server; /* forks the tasks' shims (shim-server.c); NULL: none yet */
        char *tasks_dir;        /* <state-dir>/tasks: checkpoints */
        char *state_dir_real;   /* <state-dir> with symlinks resolved, once, when it is locked */
        char *sysfs_root;       /* where block devices are resolved; NULL: /sys (tests: a fake tree) */
        char *sandboxes_dir;    /* <state-dir>/sandboxes */
        struct task **tasks;
        size_t n_tasks;
        struct agent_disk *disks;
        size_t n_disks;
        struct agent_volume **volumes;  /* persistent volumes (volumes.h) */
        size_t n_volumes;
        struct log_waiter *log_waiters;
        struct agent_link *link;        /* status queue, master link, calibration (link.c) */
        struct agent_measure *measure;  /* eBPF I/O figures for the isolation view (measure.c) */
        struct agent_ports *ports;      /* bridge tasks' host port range and NAT table (task-ports.h) */
        struct agent_network *network;  /* bridge tasks' subnet, leases, bridge (task-network.h) */
        char *network_error;            /* why network is NULL: no task subnet could be chosen */
        struct event_source *http_timer, *housekeeping_timer, *watchdog_timer;
        uint64_t started_usec;
        int lock_fd;                    /* flock on <state-dir>/lock, held for the process lifetime */
        struct node_limits node_limits; /* this node's kernel limits for task specs (task-limits.c) */
        struct epoch_fence epoch;       /* highest master epoch seen (epoch-fence.h) */
        /* counters for /metrics */
        uint64_t launches_total, launch_rejected_total, launch_failed_total, kills_total;
        uint64_t requests_forbidden_total; /* refused by common/authz.h: 403 */
        uint64_t oom_kills_total;
        uint64_t gc_tasks_total;        /* terminal tasks garbage-collected */
        uint64_t ended_total[_SILO_TASK_REASON_MAX];
};

struct task {
        struct agent *agent;
        char *id;
        struct silo_task_spec *spec;
        silo_task_state state;
        silo_task_reason reason;
        int exit_code;          /* -1 until it exited */
        int signal;             /* the signal that ended it, 0 otherwise */
        char *message;
        uint64_t created_ms, started_ms, finished_ms;
        char *sandbox;
        char *cgroup_path;
        struct cg_task *cg;
        pid_t shim_pid;
        int shim_pidfd;
        uint64_t shim_start_time;
        pid_t pid;              /* the task's first process (init or command) */
        uint64_t pid_start_time;
        bool kill_requested;
        uint64_t kill_requested_ms;
        struct event_source *shim_src, *report_src, *kill_timer;
        struct event_source *cg_src;    /* the isolator's events fd (memory.events, cgroup.events) */
        struct event_source *adopt_timer; /* re-adopted while STARTING: polls shim.json (task-run.c) */
        uint64_t oom_kills;             /* memory.events oom_kill as last seen */
        char *report_buf;               /* TASK_REPORT_MAX bytes while the shim's report is read */
        size_t report_len;
        /* An ended task's compact record (task_compact()): the spec is freed, its checkpoint
         * keeps it on disk; what the API lists and authorizes by stays here. */
        char *name, *role;
        silo_network_mode network_mode;
};

/* The most the shim's launch report (task-run.c) may hold: {"pid", "start_time"} or {"error"}. */
#define TASK_REPORT_MAX 2048

/* ---- master epoch (launch-http.c) ---- */
/* For launch and kill: 0 to go on, or 1 after answering 409 stale_epoch (a deposed master) or
 * 400 (a malformed epoch header) in resp, logged with both epochs. */
int agent_epoch_check(struct agent *a, http_request *req, http_response *resp);

/* ---- tasks (task.c) ---- */
struct task *agent_task_find(struct agent *a, const char *id);
/* A task of that id that has not ended (what keeps its network and port rules). */
bool agent_task_is_live(struct agent *a, const char *id);
int task_new(struct agent *a, struct silo_task_spec *spec, struct task **ret);
struct task *task_free(struct task *t);
int agent_task_add(struct agent *a, struct task *t);
void agent_task_remove(struct agent *a, struct task *t);
/* The task as the API shows it: with the spec (read back from the checkpoint for a compacted
 * task) for GET /tasks/{id}, without it for lists; shim_rss_bytes while its shim runs. */
json_t *task_to_json(const struct task *t, bool with_spec);
/* The spec's name (NULL: none), role ("default" when it names none) and network mode, from
 * the spec or, once it is compacted, from the task's compact record. */
const char *task_name(const struct task *t);
const char *task_role(const struct task *t);
silo_network_mode task_network_mode(const struct task *t);
/* An ended task that holds nothing live any more (no shim, cgroup, timer or watch) drops its
 * spec and keeps a compact record: what GC keeps of thousands of ended tasks stays small
 * (Mesos bounds its completed tasks, Nomad its GC'd allocations alike). The spec stays in the
 * checkpoint, where task_to_json() and task_spec_load() find it. Returns true when it did. */
bool task_compact(struct task *t);
/* Give a compacted task its spec back from its checkpoint (the launch's idempotence check
 * compares specs); 0 when it has one already. */
int task_spec_load(struct task *t);
/* Atomically write <state-dir>/tasks/<id>.json with everything part 2's recovery needs,
 * durably (fsync of the file and its directory): what a launch's 2xx, a terminal status
 * update or a kill promised. */
int task_checkpoint_save(const struct task *t);
/* The same write without the fsyncs (file_write_replace()): it survives a kill -9 of the
 * agent, not a power loss, which also ends every task and group it could name. Only for a
 * launch's first checkpoint, before its group exists: a new file, never renamed over a
 * durable record (after a power loss that rename could leave an empty file in its place). */
int task_checkpoint_stage(const struct task *t);
/* The one name of a task's checkpoint, <state-dir>/tasks/<id>.json, written into buf
 * (PATH_MAX bytes) and returned. */
const char *task_checkpoint_path(const struct agent *a, const char *id, char *buf);
/* Move to `state`, stamp the time, checkpoint, log. */
int task_transition(struct task *t, silo_task_state state, silo_task_reason reason,
                    const char *message);

/* ---- recovery (recover.c) ---- */
/* Load the checkpoints of <state-dir>/tasks: re-adopt each live task through its shim and
 * cgroup (identity checked), end the others with their real status or a reason naming what
 * vanished, then remove cgroups and sandboxes that no checkpoint knows. */
int agent_tasks_recover(struct agent *a);
/* Test builds only (-Dtest_crash_points=true): SIGKILL ourselves when SILO_TEST_CRASH_AT
 * names `point`. A no-op otherwise. */
void agent_crash_point(const char *point);

/* ---- state-dir lock (state-lock.c) ---- */
/* Take the exclusive lock on <state-dir>/lock and record our pid in it, then make the state
 * directory 0700 and its token 0600 (logged when they were not). -EBUSY with *ret_error
 * naming the holder when another agent runs on this state directory. */
int agent_state_lock(const char *state_dir, int *ret_fd, char **ret_error);
/* Refuse (logged, -EPERM) a --token-file others may write, warn when they may read it. */
int agent_token_file_check(const struct agent *a);

/* ---- housekeeping (housekeeping.c) ---- */
/* Remove groups that were slow to empty and garbage-collect ended tasks (gc-max-age-s,
 * gc-max-tasks); runs now and then every few seconds. */
int agent_housekeeping_start(struct agent *a);
void agent_housekeeping_run(struct agent *a);
/* Forget an ended task: its sandbox, its checkpoint and its record. */
int task_forget(struct task *t);

/* ---- launch (launch.c, task-validate.c) ---- */
/* Everything a launch resolved on this host before anything was created: handed from the
 * validation to the start, so that each rule is checked and each value resolved once. */
struct task_plan {
        struct shim_resolved resolved;  /* uid/gid, env as built, namespaces, hostname, hidden
                                         * paths, volume sources: for the shim's launch.json */
        struct blockdev *io_targets;    /* resources.io[i] resolved to its io.max target */
        size_t n_io_targets;            /* = spec->resources.n_io */
        struct cg_device_rule *devices; /* container.devices[i] resolved (type, major:minor) */
        size_t n_devices;
};
void task_plan_clear(struct task_plan *p);

/* The one launch pipeline: give the task an id when it has none, return the task already
 * launched with the same id and spec (1: nothing done), validate and resolve the spec
 * against this host, create the task, start it (cgroup, sandbox, shim, checkpoints) and add
 * it (0). Takes ownership of `spec` in every case; *ret is owned by the agent. Errors:
 * -EINVAL, -ENOENT, -ENODEV: the spec cannot run on this host; -EEXIST: the id is taken by
 * another spec or cgroup; others: the launch failed here. *ret_error names the field. Keeps
 * the launch counters of /metrics. */
int agent_task_launch(struct agent *a, struct silo_task_spec *spec, struct task **ret,
                      char **ret_error);
/* Whether a launch's -errno refuses the spec (-EINVAL, -ENOENT, -ENODEV, -EEXIST: the
 * client's error) rather than reporting a failure of this node. */
bool agent_launch_refused(int r);

/* Check everything the codec cannot: paths, devices, users, disks, namespaces against this
 * host, and resolve what the start needs (user, environment, volume sources, io targets,
 * device rules) into *ret.
 * -EINVAL with *ret_error naming the field (-ENOMEM). Creates nothing. */
int task_spec_validate(const struct agent *a, const struct silo_task_spec *spec,
                       const char *sandbox, struct task_plan *ret, char **ret_error);

/* ---- node limits (task-limits.c) ---- */
/* Read fs.nr_open, kernel.pid_max, the CPUs under <cgroup_root>/tasks and whether it has swap
 * accounting. What cannot be read stays unknown (unchecked). Returns 0. */
int node_limits_read(const char *cgroup_root, struct node_limits *ret);
/* The spec's limits against this node: rlimits.nofile <= fs.nr_open, resources.pids <=
 * kernel.pid_max, resources.cpuset within the node's CPUs, resources.cpus <= their count,
 * resources.swap only with swap accounting. -EINVAL with *ret_error naming the field, the
 * value and the allowed range. Creates nothing. */
int task_limits_check(const struct silo_task_spec *spec, const struct node_limits *node,
                      char **ret_error);

/* ---- running (task-run.c) ---- */
/* Create the cgroup, sandbox and shim for a validated task, from what its validation
 * resolved. On failure nothing is left (checkpoint included); -errno and *ret_error as the
 * cgroup's creation set them (the kernel refused the spec's limits), or -EIO (or another
 * errno agent_launch_refused() does not take) with *ret_error naming the step that failed. */
int task_start(struct task *t, const struct task_plan *plan, char **ret_error);
/* SIGTERM through the shim, cgroup.kill after the grace period. */
int task_kill(struct task *t);
/* The shim is gone: end the task from its exit record (or as SHIM_LOST), release the cgroup. */
void task_finish(struct task *t);
/* What the shim recorded in shim.json: the task's pid and start time, and the shim's own
 * when the checkpoint had none (then true). False when there is no shim.json. */
bool task_shim_state_load(struct task *t);
/* Re-attach the loop to a running task's shim (recovery). */
int task_watch_shim(struct task *t);
/* Watch the task's cgroup events (OOM kills as they happen, the group emptying). */
int task_watch_cgroup(struct task *t);

/* ---- HTTP API (api.c, launch-http.c) ---- */
/* POST /api/v1/tasks: decode the spec, agent_task_launch(), answer 201 (200 when it was
 * launched already) or the error its -errno maps to (launch_http_status). */
int agent_api_launch(http_request *req, http_response *resp, void *userdata);
/* The one table of what a launch's -errno means for the client: a refusal
 * (agent_launch_refused()) 400 "invalid_spec", -EEXIST 409 "conflict", anything else 500
 * (*ret_code NULL: the status's default code). */
unsigned launch_http_status(int r, const char **ret_code);
struct authz_request;
/* 0 when the request's identity may do q (common/authz.h); else a 403 "forbidden" in resp,
 * counted and logged, and 1 (the handler returns 0: answered); -ENOMEM. */
int agent_api_authz(struct agent *a, http_request *req, http_response *resp,
                    const struct authz_request *q);
/* Whether this agent takes its tasks from a master (--master) or is standalone. */
bool agent_managed(const struct agent *a);
#define AGENT_AUTHZ(a, req, resp, ...)                                                             \
        AUTHZ_RETURN_IF_DENIED(agent_api_authz(a, req, resp, &(struct authz_request){__VA_ARGS__}))
/* The persistent volumes' endpoints (api-volumes.c). */
int agent_api_volume_list(http_request *req, http_response *resp, void *userdata);
int agent_api_volume_get(http_request *req, http_response *resp, void *userdata);
int agent_api_volume_delete(http_request *req, http_response *resp, void *userdata);
int agent_api_start(struct agent *a, char **ret_error);
void agent_api_stop(struct agent *a);
/* Wake log followers of `t` (its output grew or it ended). */
void agent_logs_notify(struct agent *a, struct task *t);
/* Tasks by state, for sd_notify STATUS and /metrics. */
size_t agent_count_tasks(const struct agent *a, silo_task_state state);
/* GET /metrics (metrics.c): the Prometheus text of the agent, its live tasks and its disks
 * (malloc'ed). -ENOMEM. */
int agent_metrics_format(struct agent *a, char **ret_text);
void agent_notify_status(struct agent *a);

/* ---- devices (devices.c) ---- */
int agent_disks_resolve(struct agent *a, char **ret_error);
json_t *agent_disks_to_json(const struct agent *a);

/* SPDX-License-Identifier: Apache-2.0 */
/* Silo wire protocol, version 1: the types every daemon shares (docs/PROTOCOL.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SILO_PROTOCOL_VERSION 1

/* Header of every master -> agent call: the sending master's epoch (etcd: the leader key's
 * create revision; SQLite: the store's start counter). An agent refuses a launch or kill
 * whose epoch is lower than the highest it has seen (409 stale_epoch). */
#define SILO_MASTER_EPOCH_HEADER "Silo-Master-Epoch"
/* With it, the cluster (master state) the epoch counts in: a UUID made with the state. Epochs of
 * two clusters do not compare; an agent takes a new cluster id only from a registration answer
 * ("cluster_id", "epoch") and refuses launches and kills naming another (409 other_cluster). */
#define SILO_CLUSTER_ID_HEADER "Silo-Cluster-Id"

/* An optional quantity that was not given. 0 is a real value (e.g. "swap": 0 = no swap). */
#define SILO_UNSET UINT64_MAX

/* ---- enums (each with *_to_string / *_from_string; from_string returns -EINVAL) ---- */

typedef enum silo_task_state {
        SILO_TASK_PENDING,
        SILO_TASK_STAGING,
        SILO_TASK_STARTING,
        SILO_TASK_RUNNING,
        SILO_TASK_FINISHED,
        SILO_TASK_FAILED,
        SILO_TASK_KILLED,
        SILO_TASK_LOST,
        _SILO_TASK_STATE_MAX,
} silo_task_state;

typedef enum silo_task_reason {
        SILO_REASON_NONE,
        SILO_REASON_EXIT_NONZERO,
        SILO_REASON_SIGNALED,
        SILO_REASON_OOM_KILLED,
        SILO_REASON_LAUNCH_FAILED,
        SILO_REASON_AGENT_LOST,
        SILO_REASON_KILLED_BY_REQUEST,
        SILO_REASON_SHIM_LOST,       /* the task's shim vanished (agent recovery) */
        SILO_REASON_CGROUP_LOST,     /* the task's cgroup vanished (agent recovery) */
        _SILO_TASK_REASON_MAX,
} silo_task_reason;

typedef enum silo_spread {
        SILO_SPREAD_NONE,
        SILO_SPREAD_HOSTNAME,
        _SILO_SPREAD_MAX,
} silo_spread;

typedef enum silo_network_mode {
        SILO_NETWORK_HOST,   /* no net namespace: the host's network */
        SILO_NETWORK_NONE,   /* a net namespace with only lo */
        SILO_NETWORK_BRIDGE, /* a net namespace on the agent's bridge: address, route, ports */
        _SILO_NETWORK_MODE_MAX,
} silo_network_mode;

typedef enum silo_port_proto {
        SILO_PORT_TCP,
        SILO_PORT_UDP,
        _SILO_PORT_PROTO_MAX,
} silo_port_proto;

/* Namespaces a container may ask for; the cgroup namespace is always used. */
enum {
        SILO_NS_PID = 1u << 0,
        SILO_NS_MOUNT = 1u << 1,
        SILO_NS_UTS = 1u << 2,
        SILO_NS_IPC = 1u << 3,
        SILO_NS_NET = 1u << 4,
        SILO_NS_CGROUP = 1u << 5,
};

/* Device access bits for a container device entry (like the device cgroup's "rwm"). */
enum {
        SILO_DEV_READ = 1u << 0,
        SILO_DEV_WRITE = 1u << 1,
        SILO_DEV_MKNOD = 1u << 2,
};

const char *silo_task_state_to_string(silo_task_state s);
int silo_task_state_from_string(const char *s);       /* >= 0 state, or -EINVAL */
bool silo_task_state_is_terminal(silo_task_state s);
/* Whether the state machine allows from -> to (PENDING->STAGING->STARTING->RUNNING->terminal,
 * any non-terminal -> KILLED/FAILED/LOST, STAGING -> PENDING on a refused launch,
 * STAGING/STARTING -> RUNNING directly; same -> same is an allowed no-op; nothing leaves
 * FINISHED/FAILED/KILLED). LOST is terminal (is_terminal() is true: the master frees its
 * resources) but a lost agent may come back: LOST -> RUNNING (the task survived, the master
 * resumes it) and LOST -> FINISHED/FAILED/KILLED (its true outcome) are allowed. */
bool silo_task_state_transition_ok(silo_task_state from, silo_task_state to);
const char *silo_task_reason_to_string(silo_task_reason r);
int silo_task_reason_from_string(const char *s);
const char *silo_spread_to_string(silo_spread s);
int silo_spread_from_string(const char *s);
const char *silo_network_mode_to_string(silo_network_mode m);
int silo_network_mode_from_string(const char *s);
const char *silo_port_proto_to_string(silo_port_proto p); /* "tcp", "udp" */
int silo_port_proto_from_string(const char *s);
/* A port range "MIN-MAX" (or one port "N"), 1 <= MIN <= MAX <= 65535, as an agent offers host
 * ports (--task-ports, the registration's resources.ports). 0, or -EINVAL for anything else. */
int silo_port_range_parse(const char *s, uint16_t *ret_min, uint16_t *ret_max);
const char *silo_namespace_to_string(unsigned ns_bit);
int silo_namespace_from_string(const char *s);         /* SILO_NS_* bit or -EINVAL */
/* Capability names as in capabilities(7) ("CAP_NET_BIND_SERVICE"); number or -EINVAL. */
int silo_capability_from_string(const char *s);
const char *silo_capability_to_string(int cap);
/* rlimit names without the RLIMIT_ prefix, lower case ("nofile"); RLIMIT_* or -EINVAL. */
int silo_rlimit_from_string(const char *s);
const char *silo_rlimit_to_string(int resource);

/* ---- small shared pieces ---- */

struct silo_kv {
        char *key;
        char *value;
};

/* ---- task spec ---- */

/* The four io.max limits, in io.max's order, and the four figures a disk advertises
 * (read_bps, write_bps, read_iops, write_iops) against which they are costed. */
typedef enum silo_io_limit {
        SILO_IO_RBPS,
        SILO_IO_WBPS,
        SILO_IO_RIOPS,
        SILO_IO_WIOPS,
        _SILO_IO_LIMIT_MAX,
} silo_io_limit;

#define FOREACH_IO_LIMIT(l) for (silo_io_limit l = 0; l < _SILO_IO_LIMIT_MAX; l++)

const char *silo_io_limit_to_string(silo_io_limit l);  /* "rbps", "wbps", "riops", "wiops" */
/* The disk figure a limit is costed against: "read_bps", "write_bps", "read_iops", "write_iops". */
const char *silo_io_figure_to_string(silo_io_limit l);

struct silo_io_request {
        char *disk;     /* a disk name the agent advertises, or "any"; NULL when device is set */
        char *device;   /* a path (standalone agent only): device, partition, mount point, file */
        char *class;    /* with disk "any": the disk class wanted ("ssd", "hdd", ...); may be NULL */
        uint64_t limit[_SILO_IO_LIMIT_MAX]; /* SILO_UNSET = no limit */
        uint32_t weight;                   /* 1..10000, 0 = unset */
};

struct silo_resources {
        double cpus;            /* > 0, or 0 = unlimited */
        uint32_t cpu_weight;    /* 1..10000, 0 = unset */
        char *cpuset;           /* "0-1,3" or NULL */
        uint64_t mem;           /* SILO_UNSET = unlimited */
        uint64_t mem_high;      /* SILO_UNSET = unset */
        uint64_t swap;          /* SILO_UNSET = unset; 0 = no swap */
        uint64_t pids;          /* SILO_UNSET = unlimited */
        struct silo_io_request *io;
        size_t n_io;
        uint64_t net_egress;    /* bits/s, SILO_UNSET = unlimited; only with network "bridge" */
};

/* The largest resources.net_egress: the tbf qdisc takes its rate in bytes/s as a 32-bit int
 * (TCA_TBF_PARMS; libnl 3.7 has no TCA_TBF_RATE64), so no agent could set more. */
#define SILO_NET_EGRESS_MAX ((uint64_t)INT32_MAX * 8)

/* A container volume: a bind mount of a host path (source set), or a persistent volume (name
 * set, source NULL): a directory with a hard size limit on one of the agent's disks that
 * outlives the task, created by the first launch that names it (docs/TASK-SPEC.md). */
struct silo_volume {
        char *source;   /* absolute host path; NULL for a persistent volume */
        char *target;   /* absolute path inside the container; must not escape the rootfs */
        bool readonly;
        char *name;     /* persistent volume: cluster-wide name (silo_name_is_valid()) */
        uint64_t size;  /* persistent volume: bytes, > 0 (its quota); 0 for a bind mount */
        char *disk;     /* persistent volume: a disk name or "any" (the default) */
        char *class;    /* persistent volume with disk "any": the disk class wanted; may be NULL */
        bool shared;    /* persistent volume: may be mounted read-write by other shared tasks */
};

struct silo_device {
        char *path;       /* "/dev/nvme0n1" */
        unsigned access;  /* SILO_DEV_* bits; "rwm" when given as a plain string */
};

/* More volumes or devices than any real task mounts or opens: a bound so that no spec can make
 * validation (or the launch after it) costly (94k devices once held the master for 10 s), and
 * so that the container's child can keep its volumes on its stack. */
#define SILO_CONTAINER_VOLUMES_MAX 256
#define SILO_CONTAINER_DEVICES_MAX 256
/* Port mappings of one task: more than any service publishes (Docker and Nomad have no bound;
 * this one keeps a spec and the master's per-agent port bookkeeping small). */
#define SILO_CONTAINER_PORTS_MAX 64

/* A host port forwarded to a port of a "bridge" task. host 0 in a submission: the master (or a
 * standalone agent) chooses one from the agent's range; a launch always carries the chosen one. */
struct silo_port_mapping {
        uint16_t container;     /* 1..65535 */
        uint16_t host;          /* 1..65535, or 0 = chosen for you */
        silo_port_proto proto;
};

struct silo_container {
        char *rootfs;           /* NULL: the host's root */
        unsigned namespaces;    /* SILO_NS_* bits */
        silo_network_mode network;
        char *hostname;         /* with the uts namespace; default: the task name */
        struct silo_volume *volumes;
        size_t n_volumes;
        struct silo_device *devices;
        size_t n_devices;
        struct silo_port_mapping *ports; /* only with network "bridge" */
        size_t n_ports;
};

struct silo_constraints {
        char *hostname;             /* NULL: any */
        struct silo_kv *attributes; /* every key must equal */
        size_t n_attributes;
        silo_spread spread;
};

struct silo_rlimit {
        int resource;           /* RLIMIT_* */
        uint64_t soft, hard;    /* a plain number sets both */
};

struct silo_task_spec {
        char *id;               /* optional in a submission; always set in a launch */
        char *name;
        char *role;             /* default "default" */
        char **command;         /* NULL-terminated, at least one element */
        struct silo_kv *env;
        size_t n_env;
        char *user;             /* name or uid; NULL = the agent's user */
        char *group;            /* tasks that belong together (replicas of a shard) */
        int64_t priority;       /* default 0 */
        bool init;              /* default true */
        uint64_t capabilities;  /* bit per CAP_* added to Docker's default set */
        struct silo_rlimit *rlimits;
        size_t n_rlimits;
        uint32_t kill_grace_s;  /* UINT32_MAX = unset (the agent's default) */
        struct silo_resources resources;
        bool has_container;
        struct silo_container container;
        struct silo_constraints constraints;
};

/* ---- status updates (agent -> master) ---- */

struct silo_status_update {
        char *update_id;        /* unique; the master deduplicates by it */
        char *task_id;
        char *agent_id;         /* NULL for a standalone agent */
        silo_task_state state;
        silo_task_reason reason;
        int exit_code;          /* -1 when not exited */
        int signal;             /* 0 when not signaled */
        char *message;          /* may be NULL */
        uint64_t timestamp_ms;  /* CLOCK_REALTIME */
};

/* ---- agent registration (agent -> master) ---- */

struct silo_disk {
        char *device;           /* "259:0" */
        char *name;             /* "nvme0n1" */
        char *path;             /* "/dev/nvme0n1" */
        /* by silo_io_limit: read_bps, write_bps, read_iops, write_iops; 0 = unknown */
        uint64_t figure[_SILO_IO_LIMIT_MAX];
        char *class;            /* "ssd", "hdd", "nvme", ... */
        char *mount;            /* may be NULL */
        char *source;           /* "calibrated" | "config" */
        /* bytes persistent volumes may take on it: the size of the filesystem at `mount`;
         * 0 (no mount point, or unknown): the master places no volume on it */
        uint64_t size;
};

struct silo_agent_resources {
        double cpus;            /* > 0 */
        uint64_t mem;           /* > 0 */
        uint64_t pids;          /* 0 = not reported */
        struct silo_disk *disks;
        size_t n_disks;
        struct silo_kv *attributes; /* "rack": "r1"; may be empty */
        size_t n_attributes;
        uint16_t port_min;          /* host ports offered to bridge tasks ("ports": "MIN-MAX"), */
        uint16_t port_max;          /* 0/0 = none */
};

struct silo_task_ref {
        char *id;
        silo_task_state state;
};

/* A persistent volume an agent holds, as it reports it in its registration and heartbeats
 * ("volumes": [{"name", "disk", "size", "used_bytes", "state"}]), so that a master learns the
 * volumes after its own restart or a failover. */
typedef enum {
        SILO_VOLUME_REPORT_READY,       /* "ready"; also when "state" is absent (older agents) */
        SILO_VOLUME_REPORT_CREATING,    /* "creating": recorded, its directory and quota not done */
        SILO_VOLUME_REPORT_DELETING,    /* "deleting": its removal started */
        _SILO_VOLUME_REPORT_STATE_MAX,
} silo_volume_report_state;
const char *silo_volume_report_state_to_string(silo_volume_report_state s); /* "ready", ... */
int silo_volume_report_state_from_string(const char *s);

struct silo_volume_report {
        char *name;
        char *disk;             /* the agent's disk name */
        uint64_t size;          /* bytes, > 0: the volume's hard limit */
        uint64_t used_bytes;    /* bytes in use (the quota's current usage) */
        silo_volume_report_state state;
        char *role;             /* of the task that made it (authz_volume_mount()); NULL: none,
                                 * or an agent before the field */
};

struct silo_agent_registration {
        char *agent_id;         /* absent the first time */
        char *hostname;
        char *address;          /* "10.0.0.3:5051" */
        char *version;
        struct silo_agent_resources resources;
        struct silo_kv *attributes;
        size_t n_attributes;
        struct silo_task_ref *tasks;
        size_t n_tasks;
        struct silo_volume_report *volumes;
        size_t n_volumes;
};

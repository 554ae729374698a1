/* SPDX-License-Identifier: Apache-2.0 */
/* Private structures shared by the allocator's files (allocator*.c); nothing else includes it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/table.h"
#include "master/allocator.h"

/* ---- dimensions ---- */

enum {
        ALLOC_DIM_CPUS,         /* millicpus */
        ALLOC_DIM_MEM,          /* bytes */
        ALLOC_DIM_PIDS,
        ALLOC_DIM_IO,           /* cluster-wide io totals (sum over all disks), one per */
        _ALLOC_DIM_IO_END = ALLOC_DIM_IO + _SILO_IO_LIMIT_MAX - 1,      /* silo_io_limit */
        _ALLOC_DIM_MAX,
};

/* The keys agents are indexed by (free capacity, log-linear buckets). */
enum {
        ALLOC_KEY_CPUS,
        ALLOC_KEY_MEM,
        _ALLOC_KEY_MAX,
};

/* Disk classes are interned to small ids so fit checks compare integers; past the first
 * ALLOC_CLASS_MAX classes the rest compare strings. */
#define ALLOC_CLASS_MAX 16
#define ALLOC_CLASS_ANY (-1)            /* a disk without class / a request for any class */
#define ALLOC_CLASS_STRCMP (-2)         /* not interned: compare the strings */
#define ALLOC_CLASS_NONE (-3)           /* a request for a class no disk has */

#define ALLOC_INDEX_SUB_BITS 4
#define ALLOC_INDEX_BUCKETS (16 + 60 * 16)
#define ALLOC_INDEX_WORDS ((ALLOC_INDEX_BUCKETS + 63) / 64)

struct alloc_agent;

struct alloc_bucket {
        struct alloc_agent *head;
        size_t n;
        /* Upper bounds of what any agent in the bucket has free (stale-high is safe: it only
         * prunes less); tightened whenever a walk of the bucket finds nothing. */
        int64_t max_mcpus;
        uint64_t max_mem, max_pids;
        double max_io_free;
        double max_io_class[ALLOC_CLASS_MAX];   /* per interned disk class */
        uint32_t max_ports_free[_SILO_PORT_PROTO_MAX];
};

struct alloc_index {
        struct alloc_bucket buckets[ALLOC_INDEX_BUCKETS];
        uint64_t nonempty[ALLOC_INDEX_WORDS];
};

/* A max-tree over agent slots: each node holds the most any agent below it has free in every
 * dimension (exact, updated on every change), so a first-fit query prunes whole subtrees. */
#define ALLOC_TREE_STEPS 6
struct alloc_tree_node {
        int64_t mcpus;
        uint64_t mem, pids;
        double io;
        double io_class[ALLOC_CLASS_MAX];
        /* per cpu step (1/2, 1, 2, 4, 8, 16 cpus): the most mem and io cost free on one agent
         * that has at least that many cpus free, so cpu-rich but memory-poor agents and the
         * reverse do not add up to a fit no agent has */
        uint64_t mem_at[ALLOC_TREE_STEPS];
        double io_at[ALLOC_TREE_STEPS];
        uint32_t ports_free[_SILO_PORT_PROTO_MAX];
};

struct alloc_tree {
        struct alloc_tree_node *nodes;  /* 2 * cap, root at 1, leaf of slot s at cap + s */
        struct alloc_agent **leaves;    /* cap */
        size_t cap, n_used;
        size_t cursor;                  /* where the last find succeeded */
        size_t *free_slots;
        size_t n_free;
};

/* ---- objects ---- */

struct alloc_role {
        char *name;
        double weight;
        double use[_ALLOC_DIM_MAX];
        size_t n_tasks;
};

struct alloc_group_member {
        struct alloc_agent *agent;
        size_t n;
};

struct alloc_group {
        char *name;
        struct alloc_group_member *members;
        size_t n_members, cap_members;
};

struct alloc_disk {
        char *name;
        char *class;
        int class_id;           /* interned id, ALLOC_CLASS_ANY or ALLOC_CLASS_STRCMP */
        uint64_t figure[_SILO_IO_LIMIT_MAX];   /* read_bps, ...; 0 = unknown */
        double used;            /* io cost charged */
        uint64_t size;          /* bytes volumes may take (silo_disk.size); 0: none */
        uint64_t vol_booked;    /* bytes the volumes on it book */
};

struct alloc_task;

struct alloc_agent {
        char *id;
        char *hostname;
        struct silo_kv *attrs;
        size_t n_attrs;
        int64_t mcpus_total, mcpus_used;
        uint64_t mem_total, mem_used;
        uint64_t pids_total, pids_used;         /* pids_total UINT64_MAX: not reported */
        struct alloc_disk *disks;
        size_t n_disks;
        /* Host ports offered to tasks, [port_min, port_max] (0/0: none): one bitmap per protocol
         * over the range (a bit per port, set = held), allocated with the range (1.6 KiB per
         * protocol for the default 20000-32767), so a fixed port is one bit test and a chosen
         * one a word scan from port_next, which rotates so that a port just freed is not handed
         * out again at once (a client of the old task may still be connecting to it). */
        uint16_t port_min, port_max;
        uint64_t *port_used[_SILO_PORT_PROTO_MAX];
        uint32_t port_free[_SILO_PORT_PROTO_MAX];
        uint32_t port_next[_SILO_PORT_PROTO_MAX]; /* offset in the range */
        uint32_t port_shared; /* charges of a port already held (recovery): see unbook */
        struct alloc_task *tasks;               /* doubly linked through task->agent_prev/next */
        size_t n_tasks;
        /* every agent in registration order (deterministic scans for reasons) */
        struct alloc_agent *all_prev, *all_next;
        /* agents with the same hostname, singly linked from cluster->by_hostname */
        struct alloc_agent *host_next;
        /* index membership per key */
        struct alloc_agent *ix_prev[_ALLOC_KEY_MAX], *ix_next[_ALLOC_KEY_MAX];
        int ix_bucket[_ALLOC_KEY_MAX];
        size_t tree_slot;
};

/* The agents that carry one attribute value, for tasks constrained to it. */
struct alloc_attr_list {
        char *key;                      /* "key=value" */
        struct alloc_agent **agents;
        size_t n, cap;
};

struct alloc_task_io {
        int disk;               /* index into agent->disks, -1 when the disk disappeared */
        double cost;
};

struct alloc_task {
        char *id;
        struct alloc_role *role;
        struct alloc_agent *agent;
        struct alloc_group *group;              /* NULL without a group */
        struct alloc_task *agent_prev, *agent_next;
        int64_t mcpus;
        uint64_t mem, pids;
        double use[_ALLOC_DIM_MAX];             /* what it adds to its role's use */
        uint32_t *ports;                        /* ALLOC_PORT_KEY of each host port held */
        size_t n_ports;
        size_t n_io;
        struct alloc_task_io io[];
};

/* A host port with its protocol, as the bitmaps and task records keep it. */
#define ALLOC_PORT_KEY(proto, port) (((uint32_t)(proto) << 16) | (uint32_t)(port))
#define ALLOC_PORT_PROTO(key) ((silo_port_proto)((key) >> 16))
#define ALLOC_PORT_NUM(key) ((uint16_t)((key) & 0xffff))

/* A persistent volume: where it lives, agent present or not. */
struct alloc_volume {
        char *name;
        char *agent_id;
        char *disk;
        uint64_t size;
};

struct alloc_cluster {
        struct table agents;            /* id -> alloc_agent */
        struct table volumes;           /* name -> alloc_volume */
        struct alloc_agent *first, *last; /* registration order */
        struct table by_hostname;       /* hostname -> first alloc_agent (host_next chain) */
        struct table by_attr;           /* "key=value" -> alloc_attr_list */
        struct table roles;             /* name -> alloc_role */
        struct table groups;            /* name -> alloc_group */
        struct table tasks;             /* id -> alloc_task */
        double total[_ALLOC_DIM_MAX];   /* cluster capacity per DRF dimension */
        double used[_ALLOC_DIM_MAX];    /* what charged tasks hold of it */
        size_t total_disks;
        /* the largest disk figures seen (never lowered): bounds the cheapest cost of a request */
        uint64_t max_figure[_SILO_IO_LIMIT_MAX];
        char *classes[ALLOC_CLASS_MAX];
        size_t n_classes;
        uint64_t class_max[ALLOC_CLASS_MAX][_SILO_IO_LIMIT_MAX]; /* the same per class */
        struct alloc_index index[_ALLOC_KEY_MAX];
        struct alloc_tree tree;
        /* Host ports cluster-wide: on how many agents each port is offered (a Fenwick tree of
         * range starts and ends, so any mix of ranges costs O(log) per agent and per query) and,
         * per protocol and port, on how many it is held; a fixed port no agent can give is then
         * known without a search (else every task asking for a port held everywhere would walk
         * the whole cluster: 36 s for 90,000 of them on 10,000 agents). Allocated with the
         * first agent that offers ports. */
        int32_t *port_offered;                     /* Fenwick tree, indexes 1..65536 */
        uint32_t *port_held[_SILO_PORT_PROTO_MAX]; /* 65536 each */
};

/* ---- per-pass task record ---- */

/* What a task's persistent volumes ask of its placement, resolved against the cluster's volumes
 * when it is searched (a task earlier in the pass may have booked one). */
struct alloc_pending_vol {
        const struct alloc_volume *pin;      /* a known volume it names: its agent only */
        const struct alloc_volume *conflict; /* a known volume on another agent than pin's */
        const struct silo_volume *fresh[ALLOC_VOLUMES_MAX]; /* the ones unknown: to create */
        size_t n_fresh;
        uint64_t fresh_bytes;
};

struct alloc_pending_io {
        int class_id;                   /* interned class asked for, or ALLOC_CLASS_* */
        bool any;                       /* disk "any" */
        double need;                    /* the least this entry can cost on a disk of its class */
};

struct alloc_pending {
        const struct silo_task_spec *spec;
        size_t pos;                     /* index in the batch */
        struct alloc_role *role;
        int64_t mcpus;
        uint64_t mem, pids;
        double use[_ALLOC_DIM_MAX];
        double share;                   /* dominant share of demand (vs cluster totals) */
        int key;                        /* ALLOC_KEY_* the search walks (set by alloc_fit_find) */
        struct alloc_pending_io *io;    /* one per resources.io entry (at most ALLOC_IO_MAX) */
        bool constrained;               /* hostname, attributes or spread */
        /* container.ports: how many host ports of each protocol (fixed and chosen) it needs */
        size_t n_ports;
        uint32_t ports_need[_SILO_PORT_PROTO_MAX];
        bool has_volumes;               /* names persistent volumes: vol is resolved */
        struct alloc_pending_vol vol;
};

/* A placement found for one pending task. */
struct alloc_choice {
        struct alloc_agent *agent;
        int disk[ALLOC_IO_MAX];
        double cost[ALLOC_IO_MAX];
        int volume_disk;                /* where the new volumes go; -1: none */
};

/* ---- allocator-drf.c ---- */
struct alloc_role *alloc_role_get(struct alloc_cluster *c, const char *name, bool create);
void alloc_totals_add_agent(struct alloc_cluster *c, const struct alloc_agent *a, int sign);
double alloc_role_share_of(const struct alloc_cluster *c, const struct alloc_role *r);
void alloc_demand_from_spec(const struct silo_task_spec *spec, int64_t *ret_mcpus,
                            uint64_t *ret_mem, uint64_t *ret_pids,
                            double ret_use[static _ALLOC_DIM_MAX]);

/* ---- allocator-index.c ---- */
uint64_t alloc_key_value(const struct alloc_agent *a, int key);
int alloc_index_insert(struct alloc_cluster *c, struct alloc_agent *a);       /* -ENOMEM */
void alloc_index_done(struct alloc_cluster *c);
/* First fit over the max-tree (exact: false means no eligible agent fits). */
bool alloc_tree_find(struct alloc_cluster *c, const struct alloc_pending *p,
                     struct alloc_choice *ret);
bool alloc_bounds_may_fit(int64_t mcpus, uint64_t mem, uint64_t pids, double io_free,
                          const double *io_class, const struct alloc_pending *p);
void alloc_index_remove(struct alloc_cluster *c, struct alloc_agent *a);
void alloc_index_reposition(struct alloc_cluster *c, struct alloc_agent *a);
int alloc_index_bucket_of(uint64_t v);
void alloc_bucket_tighten(struct alloc_bucket *b, int key);

/* ---- allocator-fit.c ---- */
int64_t alloc_agent_free_mcpus(const struct alloc_agent *a);
uint64_t alloc_agent_free_mem(const struct alloc_agent *a);
uint64_t alloc_agent_free_pids(const struct alloc_agent *a);
bool alloc_agent_matches(const struct alloc_agent *a, const struct silo_constraints *k);
bool alloc_group_has_host(const struct alloc_group *g, const char *hostname);
/* pio (optional) carries the interned class of the request for a faster check. */
bool alloc_disk_selectable(const struct alloc_disk *d, const struct silo_io_request *io,
                           const struct alloc_pending_io *pio);
int alloc_class_intern(struct alloc_cluster *c, const char *class);
int alloc_class_lookup(const struct alloc_cluster *c, const char *class);
/* What tells two io requests apart for the allocator's caches (disk, class, limits); NULL on
 * allocation failure. */
char *alloc_io_key(const struct silo_io_request *io);
int alloc_disk_cost(const struct alloc_disk *d, const struct silo_io_request *io, double *ret_cost,
                    silo_io_limit *ret_missing);
/* Whether the task fits on the agent (capacity and disks only, no constraints); fills *ret. */
bool alloc_agent_fit(const struct alloc_agent *a, const struct alloc_pending *p,
                     struct alloc_choice *ret);
/* Best-fit search over eligible agents; false when none fits. */
bool alloc_fit_find(struct alloc_cluster *c, struct alloc_pending *p, struct alloc_choice *ret);
/* Whether the agent passes the task's constraints (hostname, attributes, spread). */
bool alloc_agent_eligible(const struct alloc_cluster *c, const struct alloc_agent *a,
                          const struct alloc_pending *p);

/* ---- allocator-volumes.c ---- */
void alloc_volumes_done(struct alloc_cluster *c);
/* Book on the agent's disks the volumes the cluster holds there (a disk's vol_booked). */
void alloc_volumes_book_agent(struct alloc_cluster *c, struct alloc_agent *a);
/* Fill p->vol from the cluster's volumes now. */
void alloc_volumes_resolve(const struct alloc_cluster *c, struct alloc_pending *p);
/* The index of a disk of the agent by name, -1 when none. */
int alloc_agent_disk_find(const struct alloc_agent *a, const char *name);
/* The volumes' part of alloc_agent_fit(): whether the agent can hold the task's volumes;
 * *ret_vdisk gets the volume's disk io entries with "any" go to (-1: no volume), and
 * *ret_fresh_disk the disk for the new ones (-1: none). */
bool alloc_volumes_fit(const struct alloc_agent *a, const struct alloc_pending *p, int *ret_vdisk,
                       int *ret_fresh_disk);
/* Book the task's new volumes on the disk chosen; -ENOMEM. */
int alloc_volumes_book_fresh(struct alloc_cluster *c, const struct alloc_pending *p,
                             const struct alloc_agent *a, int disk);
/* Why the task's volumes keep it out, or NULL when they do not (the usual reasons follow);
 * *ret_oom on ENOMEM. */
char *alloc_volumes_explain(const struct alloc_cluster *c, const struct alloc_pending *p,
                            bool *ret_oom);

/* ---- allocator-reasons.c ---- */
/* What the reasons of one pass share (cluster-wide maxima, io diagnoses per request), computed
 * on first use; valid while the cluster does not change. */
struct diag;
struct alloc_reason_ctx {
        struct diag *dims;
        struct table io_cache;
};
int alloc_reason_ctx_init(struct alloc_reason_ctx *ctx);
void alloc_reason_ctx_done(struct alloc_reason_ctx *ctx);
/* Bytes the way a user writes them in a spec: "16Gi" when exact, "1.5Gi" otherwise. */
int alloc_format_bytes(uint64_t v, char *buf, size_t size);
/* The first thing the agent lacks for the task: "short of mem: needs 8Gi, 2Gi free". */
void alloc_shortfall_string(const struct alloc_agent *a, const struct alloc_pending *p,
                            char *out, size_t size);
/* Why nothing fits, specifically; a malloc'd string or NULL on ENOMEM. */
char *alloc_reason_explain(struct alloc_cluster *c, struct alloc_reason_ctx *ctx,
                           const struct alloc_pending *p);

/* ---- allocator.c ---- */
const struct alloc_attr_list *alloc_attr_list_get(const struct alloc_cluster *c,
                                                  const struct silo_kv *kv);

/* ---- allocator-task.c ---- */
void alloc_group_free(struct alloc_group *g);
/* Book a task on an agent: its capacity, the chosen disks (index and cost per io entry), its
 * host ports (ret_host_ports, optional: the port booked for container.ports[i]), its role's use
 * and its group. -ENOMEM, -EEXIST (id already booked). */
int alloc_task_book(struct alloc_cluster *c, const struct silo_task_spec *spec,
                    struct alloc_agent *a, const int *disks, const double *costs,
                    uint16_t *ret_host_ports);

/* ---- allocator-ports.c ---- */
/* Give the agent its registered range (bitmaps all free); -ENOMEM. */
int alloc_ports_setup(struct alloc_agent *a, uint16_t port_min, uint16_t port_max);
void alloc_ports_done(struct alloc_agent *a);
/* Make sure alloc_ports_link() of an agent with a range needs no memory; -ENOMEM. */
int alloc_ports_reserve(struct alloc_cluster *c);
/* Count the agent's range and held ports in the cluster's figures (after alloc_ports_reserve())
 * or take them out (agent removed or replaced by an update). */
void alloc_ports_link(struct alloc_cluster *c, struct alloc_agent *a);
void alloc_ports_unlink(struct alloc_cluster *c, struct alloc_agent *a);
void alloc_ports_cluster_done(struct alloc_cluster *c);
/* Whether every fixed host port of the task is free on at least one agent (any agent: a
 * necessary condition, checked before a search). */
bool alloc_ports_available(const struct alloc_cluster *c, const struct alloc_pending *p);
/* What the task's ports need (pending_init). */
void alloc_ports_demand(const struct silo_task_spec *spec, struct alloc_pending *p);
bool alloc_ports_bound_ok(const uint32_t *ports_free, const struct alloc_pending *p);
/* Whether every fixed host port of the task is in the agent's range and free, and enough ports
 * are free for the rest. */
bool alloc_ports_fit(const struct alloc_agent *a, const struct alloc_pending *p);
bool alloc_port_is_held(const struct alloc_agent *a, uint32_t key);
/* Book the task's host ports on its agent: fixed ones as given (a charge may hold a port twice
 * or outside the range: it is real use), a chosen one for each host 0. Fills t->ports and
 * ret_host_ports (optional); -ENOMEM. */
int alloc_ports_book(struct alloc_cluster *c, struct alloc_agent *a, struct alloc_task *t,
                     const struct silo_port_mapping *ports, size_t n, uint16_t *ret_host_ports);
void alloc_ports_unbook(struct alloc_cluster *c, struct alloc_agent *a, struct alloc_task *t);
/* Mark the ports of every task on the agent again (after its range changed). */
void alloc_ports_rebook_all(struct alloc_cluster *c, struct alloc_agent *a);
/* The task on the agent that holds the port, or NULL. */
const struct alloc_task *alloc_port_holder(const struct alloc_agent *a, uint32_t key);
/* Undo alloc_task_book() and free the task; the caller already took it out of c->tasks. */
void alloc_task_unbook(struct alloc_cluster *c, struct alloc_task *t);

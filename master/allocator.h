/* SPDX-License-Identifier: Apache-2.0 */
/* The master's I/O-aware allocator: cpus, mem, pids and per-disk io cost, weighted DRF across
 * roles, priority-per-share greedy within a role, best-fit placement, specific pending reasons. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "silo/protocol.h"

/*
 * A pure library: no I/O, no locking (the master calls it from one thread), never logs above
 * debug. The cluster object mirrors what the master knows: agents with their capacity, and the
 * tasks that hold resources on them (placed by a pass, or recovered and charged explicitly).
 *
 * Dimensions: cpus, mem, pids, and each disk's io cost
 *      rbps/read_bps + wbps/write_bps + riops/read_iops + wiops/write_iops
 * kept <= 1 per disk. A request dimension that is SILO_UNSET adds nothing (cpus 0, mem and pids
 * unset book nothing); a disk whose figure for a limited dimension is 0 (unknown) cannot take that
 * request. An agent reporting pids 0 has no pids limit to run out of.
 *
 * Host ports (container.ports of "bridge" tasks): an agent offers the range it registered
 * (resources.ports; none: it takes no task with ports). A fixed host port fits an agent when it
 * lies in the range and no task charged there holds it (per protocol); each host 0 entry gets a
 * free port of the range, chosen at booking (alloc_result.host_ports). A charge books the ports
 * its spec names (a launched spec names them all).
 *
 * Lifetime of strings handed back (agent ids, hostnames, disk names in results): owned by the
 * cluster, valid until that agent is updated or removed or the cluster is freed. Copy them when
 * keeping them longer.
 */

/* The most io entries one task may carry (the codec takes more: a standalone agent's limit). */
#define ALLOC_IO_MAX 8
/* The most persistent volumes (container.volumes[] with a name) one task may name. */
#define ALLOC_VOLUMES_MAX 8

struct alloc_cluster;

/* One task's outcome from a pass. */
struct alloc_result {
        bool placed;
        /* placed: */
        const char *agent_id;
        const char *hostname;
        size_t n_io;                            /* == spec->resources.n_io */
        const char *disks[ALLOC_IO_MAX];        /* the disk chosen for resources.io[i] */
        double io_cost[ALLOC_IO_MAX];           /* the cost charged on that disk */
        size_t n_ports;                         /* == spec->container.n_ports */
        uint16_t host_ports[SILO_CONTAINER_PORTS_MAX]; /* the host port of container.ports[i] */
        /* the disk the task's new persistent volumes were booked on (alloc_volume_set() done),
         * NULL when it names none the cluster did not know */
        const char *volume_disk;
        /* pending: why, specifically (malloc'd; released by alloc_results_clear()), e.g.
         *   "cpus: needs 8, the largest free is 4 (node-2)"
         *   "resources.io[0]: no agent has a disk of class ssd with 0.4 io cost free
         *    (best: node-3/nvme0n1 at 0.25)"
         *   "spread: all 3 agents already run group shard-7"
         *   "container.ports[0]: host port 5432/tcp is taken on every agent that offers it
         *    (node-1: task pg-1)" */
        char *reason;
};

/* The precondition on every spec handed to the allocator, which the master enforces when a task
 * is submitted (master_spec_check(), with the messages users see): each io entry names a disk
 * or "any" (never a device path) and there are at most ALLOC_IO_MAX of them, and at most
 * ALLOC_VOLUMES_MAX persistent volumes. Breaking it is a
 * programmer error: alloc_place_batch() and alloc_task_charge() refuse such a spec, -EINVAL. */
bool alloc_spec_is_checked(const struct silo_task_spec *spec);

int alloc_cluster_new(struct alloc_cluster **ret);
struct alloc_cluster *alloc_cluster_free(struct alloc_cluster *c);     /* NULL-safe; returns NULL */
static inline void alloc_cluster_freep(struct alloc_cluster **c)
{
        if (*c)
                *c = alloc_cluster_free(*c);
}

/* Role weights for weighted DRF (default 1.0 for a role never set). weight > 0 and finite,
 * else -EINVAL. */
int alloc_role_set_weight(struct alloc_cluster *c, const char *role, double weight);
/* A role's weighted dominant share: max over dimensions (cpus, mem, pids, cluster-wide read_bps,
 * write_bps, read_iops, write_iops) of its use over the cluster total, divided by its weight.
 * 0 for a role that holds nothing (or was never seen). */
double alloc_role_dominant_share(const struct alloc_cluster *c, const char *role);

/* Agents. The registration's own agent_id is ignored: the master passes the id it assigned.
 * add: -EEXIST when known. update: replaces capacity, hostname, attributes and disks (tasks stay
 *      charged; a disk that disappeared drops its charges), -ENOENT when unknown.
 * remove: releases every task charged on it (the master marks them LOST), -ENOENT when unknown;
 *      returns the number of tasks released. */
int alloc_agent_add(struct alloc_cluster *c, const char *agent_id,
                    const struct silo_agent_registration *reg);
int alloc_agent_update(struct alloc_cluster *c, const char *agent_id,
                       const struct silo_agent_registration *reg);
int alloc_agent_remove(struct alloc_cluster *c, const char *agent_id);
size_t alloc_cluster_n_agents(const struct alloc_cluster *c);

/* Charge a task that already runs on an agent (master restart, agent re-registration):
 * disks[i] is the disk chosen for spec->resources.io[i] (NULL when n_io == 0). The charge is
 * recorded even when it overcommits (it is real use). -EINVAL for a spec without id or not
 * alloc_spec_is_checked(), -ENOENT agent unknown, -ENXIO a disk unknown on that agent, -EEXIST
 * task already charged. */
int alloc_task_charge(struct alloc_cluster *c, const struct silo_task_spec *spec,
                      const char *agent_id, const char *const *disks);
/* A task ended (or its launch was refused): give its resources back. -ENOENT when not charged. */
int alloc_task_release(struct alloc_cluster *c, const char *task_id);
bool alloc_task_is_charged(const struct alloc_cluster *c, const char *task_id);

/* One allocation pass over a batch of pending tasks (call it once per burst of changes).
 * Fairness picks the role to serve next: the lowest weighted dominant share that still has a task
 * to try. Within a role, tasks with a positive priority go by priority per dominant share of
 * demand (the greedy for max Σ Cᵢxᵢ s.t. Σ Aᵢxᵢ ≤ b, b the free capacity, a dimension the batch
 * oversubscribes counting as that much scarcer), then the others by priority; ties keep
 * submission order. A task goes to the best of the tightest-fitting agents (the first
 * candidates met in ascending free capacity, which keeps large holes for large tasks; of those,
 * the one whose free cpus/mem/io best match the task's shape) and, per io entry, to the disk it
 * fills most tightly; it is booked at once (running tasks are never moved). The search is exact:
 * a task is pending only if no agent can take it now. Pending reasons describe the cluster as
 * the pass leaves it.
 * ret_results[i] describes specs[i]. Every spec needs an id that is not yet charged.
 * Returns the number placed, -EINVAL for a spec without id or not alloc_spec_is_checked(),
 * -EEXIST for one already charged (or twice in the batch), -ENOMEM. On failure no task was charged and ret_results holds nothing to
 * clear. */
int alloc_place_batch(struct alloc_cluster *c, const struct silo_task_spec *const *specs, size_t n,
                      struct alloc_result *ret_results);
/* Free the reasons of n results (after the caller has used them). */
void alloc_results_clear(struct alloc_result *results, size_t n);

/* The io cost of one request on one disk (see above). -EDOM when the disk's figure for a limited
 * dimension is unknown (0); *ret_missing (optional) then says which (SILO_IO_WBPS: the disk lacks write_bps). */
int alloc_io_cost(const struct silo_io_request *io, const struct silo_disk *disk, double *ret_cost,
                  silo_io_limit *ret_missing);

/*
 * Persistent volumes (container.volumes[] entries with a name): each lives on one disk of one
 * agent and books its size there, against the disk's size as the agent reports it
 * (silo_disk.size; a disk of size 0 takes none), whether its agent is present or not. A task
 * naming a known volume goes only to that volume's agent, and its io entries with disk "any"
 * to the volume's disk; all the volumes a task names must be on one agent. The volumes a task
 * names that the cluster does not know go together on one disk of its agent that matches each
 * one's disk and class and has room for their sizes; they are booked when the task is placed
 * (alloc_result.volume_disk), and stay booked after the task ends, until removed.
 */
/* Add or move a volume (replacing the record of the same name). -ENOMEM. */
int alloc_volume_set(struct alloc_cluster *c, const char *name, const char *agent_id,
                     const char *disk, uint64_t size);
/* -ENOENT when unknown. */
int alloc_volume_remove(struct alloc_cluster *c, const char *name);
/* The bytes volumes book on a disk of an agent (0 for a disk or agent unknown). */
uint64_t alloc_disk_volume_bytes(const struct alloc_cluster *c, const char *agent_id,
                                 const char *disk);

/* What an agent has free now (for /api/v1/agents and the tests). */
struct alloc_agent_free {
        double cpus;
        uint64_t mem;
        uint64_t pids;
        size_t n_tasks;
        uint16_t port_min, port_max;            /* the host port range; 0/0: none */
        uint32_t ports_free[_SILO_PORT_PROTO_MAX];
};
int alloc_agent_get_free(const struct alloc_cluster *c, const char *agent_id,
                         struct alloc_agent_free *ret);
/* The io cost in use on one disk of an agent (0..1, above 1 only when overcommitted by charges). */
int alloc_disk_get_used(const struct alloc_cluster *c, const char *agent_id, const char *disk,
                        double *ret_used);

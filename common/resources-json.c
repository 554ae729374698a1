/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codec of a task's resources: cpus, weights, cpuset, memory, pids and per-disk I/O limits. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu-list.h"
#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "common/table.h"
#include "common/task-spec-parts.h"

#define CPUS_MAX 4096.0
#define CPUSET_CPU_MAX 4096
/* io entries per task: one per disk a task limits; far more disks than a node has. */
#define RESOURCES_IO_MAX 64
/* The smallest memory.max and memory.high a task gets. Under 256 KiB even a shell is
 * OOM-killed (memory.max) before it runs, as the VM showed; real programs need a few MiB more
 * for libraries, page tables and the kernel memory of their namespaces. 6 MiB is Docker's
 * minimum (linuxMinMemory in daemon/daemon_unix.go); the VM suite agent-limits runs a task at
 * exactly this figure. */
#define MEM_MIN (UINT64_C(6) << 20)
/* pids.max takes at most PID_MAX_LIMIT (4194304 on 64-bit, include/linux/threads.h): the
 * kernel's pids_max_write() refuses more with EINVAL, whatever kernel.pid_max says. */
#define PIDS_MAX UINT64_C(4194304)
/* 1 kbit/s, the smallest egress limit Kubernetes' bandwidth plugin accepts
 * (pkg/util/bandwidth: "resource is unreasonably small (< 1kbit)"). */
#define NET_EGRESS_MIN UINT64_C(1000)

void silo_resources_init(struct silo_resources *r)
{
        *r = (struct silo_resources){
            .mem = SILO_UNSET,
            .mem_high = SILO_UNSET,
            .swap = SILO_UNSET,
            .pids = SILO_UNSET,
            .net_egress = SILO_UNSET,
        };
}

static void io_request_clear(struct silo_io_request *io)
{
        free(io->disk);
        free(io->device);
        free(io->class);
}

void silo_resources_clear(struct silo_resources *r)
{
        free(r->cpuset);
        for (size_t i = 0; r->io && i < r->n_io; i++)
                io_request_clear(&r->io[i]);
        free(r->io);
        silo_resources_init(r);
}

bool silo_resources_is_empty(const struct silo_resources *r)
{
        return r->cpus == 0 && r->cpu_weight == 0 && !r->cpuset && r->mem == SILO_UNSET &&
               r->mem_high == SILO_UNSET && r->swap == SILO_UNSET && r->pids == SILO_UNSET &&
               r->n_io == 0 && r->net_egress == SILO_UNSET;
}

static int io_request_from_json(const json_t *j, const char *path, struct silo_io_request *ret,
                                char **ret_error)
{
        static const char *const keys[] = {"disk",  "device", "class",  "rbps", "wbps",
                                           "riops", "wiops",  "weight", NULL};
        _cleanup_(io_request_clear) struct silo_io_request io = {
            .limit = {SILO_UNSET, SILO_UNSET, SILO_UNSET, SILO_UNSET},
        };
        bool any_limit = false;
        int64_t weight = 0;
        int r;

        r = json_check_object(j, path, keys, ret_error);
        if (r < 0)
                return r;
        if (!json_field(j, "disk") == !json_field(j, "device"))
                return json_error(ret_error, -EINVAL, path, "needs exactly one of disk and device");

        r = json_field_string(j, path, "disk", false, &io.disk, ret_error);
        if (r < 0)
                return r;
        if (io.disk && !streq(io.disk, "any") && !silo_name_is_valid(io.disk))
                return json_field_error(ret_error, path, "disk",
                                        "'%s' is not a disk name (like nvme0n1) or \"any\"",
                                        io.disk);
        r = json_field_abs_path(j, path, "device", false, &io.device, ret_error);
        if (r < 0)
                return r;
        r = json_field_name(j, path, "class", false, &io.class, ret_error);
        if (r < 0)
                return r;
        if (io.class && !streq_ptr(io.disk, "any"))
                return json_field_error(ret_error, path, "class",
                                        "'%s' is only allowed with disk \"any\"", io.class);

        FOREACH_IO_LIMIT(l) {
                r = json_field_quantity(j, path, silo_io_limit_to_string(l), false, true,
                                        &io.limit[l], ret_error);
                if (r < 0)
                        return r;
                any_limit = any_limit || io.limit[l] != SILO_UNSET;
        }
        r = json_field_int(j, path, "weight", false, 1, 10000, &weight, ret_error);
        if (r < 0)
                return r;
        io.weight = (uint32_t)weight;

        if (!any_limit && io.weight == 0)
                return json_error(ret_error, -EINVAL, path,
                                  "needs at least one of rbps, wbps, riops, wiops, weight");

        *ret = io;
        io = (struct silo_io_request){};
        return 0;
}

/* One element of resources.io. */
static int io_element_parse(const json_t *e, const char *ipath, const char *fpath, void *vec,
                            size_t i, char **ret_error)
{
        struct silo_io_request *io = vec;

        (void)fpath;
        return io_request_from_json(e, ipath, &io[i], ret_error);
}

/* A disk or device is limited by one entry only: two entries for the same target would make
 * io.max depend on their order. One pass over a hash set of "device\n<path>" and
 * "disk\n<name>\n<class>" (names hold no newline), never a pairwise walk. */
static int io_check_unique(const struct silo_resources *res, const char *path, char **ret_error)
{
        _cleanup_free_ char **keys = NULL, *fpath = NULL, *ipath = NULL;
        size_t i, k;
        int r = 0;

        if (res->n_io < 2)
                return 0;
        keys = calloc(res->n_io, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        for (i = 0; r >= 0 && i < res->n_io; i++) {
                const struct silo_io_request *io = &res->io[i];

                if ((io->device ? asprintf(&keys[i], "device\n%s", io->device)
                                : asprintf(&keys[i], "disk\n%s\n%s", strempty(io->disk),
                                           strempty(io->class))) < 0) {
                        keys[i] = NULL;
                        r = -ENOMEM;
                }
        }
        if (r >= 0)
                r = table_find_duplicate((const char *const *)keys, res->n_io, &i, &k);
        for (size_t x = 0; x < res->n_io; x++)
                free(keys[x]);
        if (r <= 0)
                return r;
        fpath = json_path_key(path, "io");
        ipath = fpath ? json_path_index(fpath, i) : NULL;
        if (!ipath)
                return -ENOMEM;
        return json_error(ret_error, -EINVAL, ipath, "%s '%s' is already limited by %s[%zu]",
                          res->io[i].device ? "device" : "disk",
                          res->io[i].device ?: res->io[i].disk, fpath, k);
}

/* resources.<key> (already parsed into v) against the smallest value a task can run with. */
static int check_minimum(const json_t *j, const char *path, const char *key, uint64_t v,
                         uint64_t min, const char *why, char **ret_error)
{
        _cleanup_free_ char *desc = NULL;
        char m[QUANTITY_FORMAT_MAX];

        if (v == SILO_UNSET || v >= min)
                return 0;
        desc = json_value_describe(json_field(j, key));
        if (!desc)
                return -ENOMEM;
        (void)quantity_format(min, m, sizeof(m));
        return json_field_error(ret_error, path, key, "%s is below the minimum of %s (%s)", desc, m,
                                why);
}

int silo_resources_from_json(const json_t *j, const char *path, struct silo_resources *ret,
                             char **ret_error)
{
        static const char *const keys[] = {"cpus", "cpu_weight", "cpuset", "mem",        "mem_high",
                                           "swap", "pids",       "io",     "net_egress", NULL};
        _cleanup_(silo_resources_clear) struct silo_resources res;
        int64_t weight = 0;
        void *vec = NULL;
        int r;

        silo_resources_init(&res);
        r = json_check_object(j, path, keys, ret_error);
        if (r < 0)
                return r;

        r = json_field_cpus(j, path, "cpus", false, CPUS_MAX, &res.cpus, ret_error);
        if (r < 0)
                return r;
        r = json_field_int(j, path, "cpu_weight", false, 1, 10000, &weight, ret_error);
        if (r < 0)
                return r;
        res.cpu_weight = (uint32_t)weight;
        r = json_field_string(j, path, "cpuset", false, &res.cpuset, ret_error);
        if (r < 0)
                return r;
        /* The kernel would accept "5,0-3" too, but ascending order makes two specs that mean
         * the same thing compare equal far more often. */
        if (res.cpuset && !cpu_list_is_valid(res.cpuset, CPUSET_CPU_MAX)) {
                _cleanup_free_ char *fpath = json_path_key(path, "cpuset");

                return fpath ? json_error(ret_error, -EINVAL, fpath,
                                          "'%s' is not a CPU list (ascending ranges of CPUs "
                                          "below %d, like 0-3,5)",
                                          res.cpuset, CPUSET_CPU_MAX)
                             : -ENOMEM;
        }

        r = json_field_quantity(j, path, "mem", false, true, &res.mem, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "mem_high", false, true, &res.mem_high, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "swap", false, false, &res.swap, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "pids", false, true, &res.pids, ret_error);
        /* bits/s, as tc and ethtool count a link ("100M" = 100 Mbit/s) */
        if (r >= 0)
                r = json_field_quantity(j, path, "net_egress", false, true, &res.net_egress,
                                        ret_error);
        if (r >= 0)
                r = check_minimum(j, path, "mem", res.mem, MEM_MIN,
                                  "the smallest memory.max a task can start in", ret_error);
        if (r >= 0)
                r = check_minimum(j, path, "net_egress", res.net_egress, NET_EGRESS_MIN,
                                  "1 kbit/s, as Kubernetes' bandwidth limits", ret_error);
        if (r >= 0)
                r = check_minimum(j, path, "mem_high", res.mem_high, MEM_MIN,
                                  "below it memory.high throttles a task from its start",
                                  ret_error);
        if (r < 0)
                return r;
        if (res.pids != SILO_UNSET && res.pids > PIDS_MAX) {
                _cleanup_free_ char *desc = json_value_describe(json_field(j, "pids"));

                return desc ? json_field_error(ret_error, path, "pids",
                                               "%s is out of range (1..%" PRIu64
                                               ", the kernel's PID_MAX_LIMIT)",
                                               desc, PIDS_MAX)
                            : -ENOMEM;
        }
        /* Above it every agent would refuse the launch: refused at submission instead. */
        if (res.net_egress != SILO_UNSET && res.net_egress > SILO_NET_EGRESS_MAX)
                return json_field_error(ret_error, path, "net_egress",
                                        "%" PRIu64 " is above the maximum of %" PRIu64
                                        " (tbf's 32-bit rate)",
                                        res.net_egress, SILO_NET_EGRESS_MAX);
        if (res.mem != SILO_UNSET && res.mem_high != SILO_UNSET && res.mem_high > res.mem) {
                _cleanup_free_ char *fpath = json_path_key(path, "mem_high");
                char a[QUANTITY_FORMAT_MAX], b[QUANTITY_FORMAT_MAX];

                (void)quantity_format(res.mem_high, a, sizeof(a));
                (void)quantity_format(res.mem, b, sizeof(b));
                return fpath ? json_error(ret_error, -EINVAL, fpath,
                                          "%s is above mem (%s): memory.high must not exceed "
                                          "memory.max",
                                          a, b)
                             : -ENOMEM;
        }

        r = json_field_array(j, path, "io", sizeof(*res.io), RESOURCES_IO_MAX, io_element_parse,
                             &vec, &res.n_io, ret_error);
        res.io = TAKE_PTR(vec); /* even on failure, so the clear frees what was parsed */
        if (r >= 0)
                r = io_check_unique(&res, path, ret_error);
        if (r < 0)
                return r;

        *ret = res;
        silo_resources_init(&res);
        return 0;
}

static int set_quantity(json_t *o, const char *key, uint64_t v)
{
        return v == SILO_UNSET ? 0 : json_set(o, key, quantity_to_json(v));
}

static json_t *io_request_to_json(const struct silo_io_request *io)
{
        json_t *o = json_object();
        int r = 0;

        if (io->disk)
                r = json_set(o, "disk", json_string(io->disk));
        if (r >= 0 && io->device)
                r = json_set(o, "device", json_string(io->device));
        if (r >= 0 && io->class)
                r = json_set(o, "class", json_string(io->class));
        FOREACH_IO_LIMIT(l)
                if (r >= 0)
                        r = set_quantity(o, silo_io_limit_to_string(l), io->limit[l]);
        if (r >= 0 && io->weight)
                r = json_set(o, "weight", json_integer(io->weight));
        if (r < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *silo_resources_to_json(const struct silo_resources *res)
{
        _cleanup_json_ json_t *o = json_object();
        int r = 0;

        if (res->cpus > 0)
                r = json_set(o, "cpus", json_real(res->cpus));
        if (r >= 0 && res->cpu_weight)
                r = json_set(o, "cpu_weight", json_integer(res->cpu_weight));
        if (r >= 0 && res->cpuset)
                r = json_set(o, "cpuset", json_string(res->cpuset));
        if (r >= 0)
                r = set_quantity(o, "mem", res->mem);
        if (r >= 0)
                r = set_quantity(o, "mem_high", res->mem_high);
        if (r >= 0)
                r = set_quantity(o, "swap", res->swap);
        if (r >= 0)
                r = set_quantity(o, "pids", res->pids);
        if (r >= 0)
                r = set_quantity(o, "net_egress", res->net_egress);
        if (r >= 0 && res->n_io > 0) {
                json_t *arr = json_array();

                r = json_set(o, "io", arr);
                for (size_t i = 0; r >= 0 && i < res->n_io; i++)
                        r = json_array_append_new(arr, io_request_to_json(&res->io[i])) < 0
                                ? -ENOMEM
                                : 0;
        }
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

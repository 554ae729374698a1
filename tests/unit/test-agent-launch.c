/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the agent's launch pipeline up to the isolator boundary: agent_task_launch()
 * with the real validation and resolution (block devices through a fake /sys tree), a fake
 * task_start() that records the isolator's limits it would create the cgroup with, and the
 * one table of statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/task-network.h"
#include "agent/task-cgroup.h"
#include "agent/volumes.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "isolator/pquota.h"
#include "tests/unit/unit-util.h"

static char tmpdir[] = "/tmp/silo-test-launch-XXXXXX";
static char sys[256], state[256], state_real[PATH_MAX], tasks[300], sandboxes[300];
static struct agent agent;
static struct agent_disk offered = {.name = (char *)"vda", .path = (char *)"/dev/vda"};

/* ---- the fakes: the rest of the agent, and the isolator boundary */

static struct {
        unsigned calls;
        int fail;                       /* what task_start returns */
        const char *fail_message;
        struct cg_limits limits;        /* what cg_task_create would have been given */
        struct cg_io_target io[8];
        struct cg_device_rule devices[8];
        bool set_user;
        uid_t uid;
        gid_t gid;
        char env[16][256];
        size_t n_env;
        char volume_source[256];        /* container.volumes[0] as the shim would bind it */
} started;

int task_start(struct task *t, const struct task_plan *plan, char **ret_error)
{
        _cleanup_free_ struct cg_io_target *io = NULL;
        int r;

        started.calls++;
        r = task_cgroup_limits(t->spec, plan->io_targets, plan->devices, plan->n_devices,
                               &started.limits, &io, ret_error);
        assert_int_equal(r, 0);
        assert_true(started.limits.n_io <= ELEMENTSOF(started.io));
        assert_true(started.limits.n_devices <= ELEMENTSOF(started.devices));
        if (started.limits.n_io > 0)
                memcpy(started.io, io, started.limits.n_io * sizeof(*io));
        if (started.limits.n_devices > 0)
                memcpy(started.devices, started.limits.devices,
                       started.limits.n_devices * sizeof(*started.devices));
        started.set_user = plan->resolved.set_user;
        started.uid = plan->resolved.uid;
        started.gid = plan->resolved.gid;
        started.n_env = 0;
        for (char **e = plan->resolved.env; e && *e && started.n_env < 16; e++)
                snprintf(started.env[started.n_env++], sizeof(started.env[0]), "%s", *e);
        snprintf(started.volume_source, sizeof(started.volume_source), "%s",
                 plan->resolved.volume_sources ? strempty(plan->resolved.volume_sources[0]) : "");
        if (started.fail)
                return started.fail_message ? error_set(ret_error, started.fail, "%s",
                                                        started.fail_message)
                                            : started.fail;
        return 0;
}

int task_kill(struct task *t)
{
        (void)t;
        return 0;
}

void agent_notify_status(struct agent *a)
{
        (void)a;
}

void agent_crash_point(const char *point)
{
        (void)point;
}

void agent_link_task_changed(struct task *t)
{
        (void)t;
}

void agent_logs_notify(struct agent *a, struct task *t)
{
        (void)a;
        (void)t;
}

/* ---- a fake /sys: vda (253:0) with vda1 (253:1), vdb (253:16) */

static void sys_path(char *p, size_t size, const char *rel)
{
        snprintf(p, size, "%s/%s", sys, rel);
}

static void add_disk(const char *parent, const char *name, const char *devnum,
                     const char *partno)
{
        char d[512], p[1024], l[1024], target[1100];

        snprintf(d, sizeof(d), "devices/%s/%s", parent, name);
        sys_path(p, sizeof(p), d);
        assert_int_equal(mkdir_parents(p, 0755), 0);
        snprintf(target, sizeof(target), "%s/dev", p);
        assert_int_equal(file_write_atomic(target, devnum, strlen(devnum), 0644), 0);
        if (partno) {
                snprintf(target, sizeof(target), "%s/partition", p);
                assert_int_equal(file_write_atomic(target, partno, strlen(partno), 0644), 0);
        }
        snprintf(target, sizeof(target), "../../%s", d);
        snprintf(l, sizeof(l), "%s/dev/block/%s", sys, devnum);
        assert_int_equal(symlink(target, l), 0);
        snprintf(l, sizeof(l), "%s/class/block/%s", sys, name);
        assert_int_equal(symlink(target, l), 0);
}

static int setup(void **st)
{
        char p[512];

        (void)st;
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
        snprintf(state, sizeof(state), "%s/state", tmpdir);
        snprintf(tasks, sizeof(tasks), "%s/tasks", state);
        snprintf(sandboxes, sizeof(sandboxes), "%s/sandboxes", state);
        sys_path(p, sizeof(p), "dev/block");
        assert_int_equal(mkdir_parents(p, 0755), 0);
        sys_path(p, sizeof(p), "class/block");
        assert_int_equal(mkdir_parents(p, 0755), 0);
        add_disk("virtual/block", "vda", "253:0", NULL);
        add_disk("virtual/block/vda", "vda1", "253:1", "1");
        add_disk("virtual/block", "vdb", "253:16", NULL);
        assert_int_equal(mkdir_parents(tasks, 0700), 0);
        assert_int_equal(mkdir_parents(sandboxes, 0700), 0);
        /* As agent_state_open() resolves it once. */
        assert_non_null(realpath(state, state_real));
        return 0;
}

static int teardown(void **st)
{
        (void)st;
        return rm_rf(tmpdir);
}

/* A fresh agent for each test: one offered disk, a node like the test VM. */
static int agent_reset(void **st)
{
        (void)st;
        for (size_t i = 0; i < agent.n_tasks; i++)
                task_free(agent.tasks[i]);
        free(agent.tasks);
        agent_volumes_free(&agent);
        agent = (struct agent){
                .opts = {.state_dir = state},
                .state_dir_real = state_real,
                .tasks_dir = tasks,
                .sandboxes_dir = sandboxes,
                .sysfs_root = sys,
                .disks = &offered,
                .n_disks = 1,
                .node_limits = {.nr_open = 1048576, .pid_max = 32768, .cpus = "0-1",
                                .cpus_source = "online", .swap = NODE_SWAP_YES},
        };
        memset(&started, 0, sizeof(started));
        return 0;
}

/* Launch the spec `json` (JSON text with single quotes, its "name" added). */
static int launch(const char *json, struct task **ret, char **ret_error)
{
        _cleanup_free_ char *named = NULL;
        struct task *t = NULL;
        int r;

        assert_true(asprintf(&named, "{'name': 'n', %s", json + 1) > 0);
        r = agent_task_launch(&agent, spec_of(named), &t, ret_error);

        if (ret)
                *ret = t;
        return r;
}

/* ---- tests */

static void test_launch_resolves_once(void **st)
{
        _cleanup_free_ char *err = NULL;
        struct task *t = NULL;

        (void)st;
        assert_int_equal(launch("{'id': 't1', 'command': ['true'], 'resources': {'cpus': 1, "
                                "'mem': '64M', 'io': [{'disk': 'vda', 'wbps': 1000, "
                                "'weight': 200}, {'device': '/dev/null', 'riops': 10}]}}",
                                &t, &err),
                         -EINVAL);
        /* /dev/null is no block device: the resolver's message, prefixed by the entry. */
        assert_non_null(err);
        assert_true(strncmp(err, "resources.io[1].device: ", 24) == 0);
        assert_int_equal(started.calls, 0);
        assert_int_equal(agent.launch_rejected_total, 1);
        assert_int_equal(agent.n_tasks, 0);

        free(err);
        err = NULL;
        assert_int_equal(launch("{'id': 't1', 'command': ['true'], 'user': '0', 'env': {'A': 'b'}, "
                                "'resources': {'cpus': 1, 'mem': '64M', 'io': [{'disk': "
                                "'vda', 'wbps': 1000, 'weight': 200}]}}",
                                &t, &err),
                         0);
        assert_null(err);
        assert_non_null(t);
        assert_int_equal(agent.n_tasks, 1);
        assert_int_equal(agent.launches_total, 1);
        assert_int_equal(started.calls, 1);
        /* What the isolator gets: plain values, the disk resolved through the fake /sys. */
        assert_int_equal(started.limits.n_io, 1);
        assert_int_equal(started.io[0].dev.devnum, makedev(253, 0));
        assert_string_equal(started.io[0].dev.name, "vda");
        assert_int_equal(started.io[0].limit[SILO_IO_WBPS], 1000);
        assert_int_equal(started.io[0].limit[SILO_IO_RBPS], CG_MAX);
        assert_int_equal(started.io[0].weight, 200);
        assert_true(started.limits.cpus == 1.0);
        assert_int_equal(started.limits.mem, 64000000);
        assert_int_equal(started.limits.n_devices, 0);
        assert_true(started.set_user);
        assert_int_equal(started.uid, 0);
        assert_string_equal(started.env[0], "A=b");
        assert_string_equal(started.env[3], "SILO_TASK_ID=t1");
}

static void test_launch_idempotent(void **st)
{
        _cleanup_free_ char *err = NULL;
        struct task *t1 = NULL, *t2 = NULL;

        (void)st;
        assert_int_equal(launch("{'id': 'same', 'command': ['true']}", &t1, &err), 0);
        /* The same spec again: the task already launched, nothing started. */
        assert_int_equal(launch("{'id': 'same', 'command': ['true']}", &t2, &err), 1);
        assert_ptr_equal(t1, t2);
        assert_int_equal(started.calls, 1);
        assert_int_equal(agent.launches_total, 1);
        /* Another spec under that id: a conflict, counted as rejected. */
        assert_int_equal(launch("{'id': 'same', 'command': ['false']}", &t2, &err), -EEXIST);
        assert_string_equal(err, "id: task 'same' already exists with a different spec");
        assert_int_equal(agent.launch_rejected_total, 1);
        assert_int_equal(agent.n_tasks, 1);
}

/* Launch task `id` with a realistic spec, checkpoint it and end it as FINISHED. */
static struct task *launch_and_end(const char *id)
{
        _cleanup_free_ char *err = NULL, *json = NULL;
        struct task *t = NULL;

        assert_true(asprintf(&json, "{'id': '%s', 'command': ['/bin/sh', '-c', 'echo hello; exit 0'], "
                                    "'env': {'A': 'b', 'PATH': '/usr/bin:/bin'}, 'resources': {'cpus': 1, "
                                    "'mem': '64M', 'pids': 64}}",
                     id) > 0);
        assert_int_equal(launch(json, &t, &err), 0);
        assert_int_equal(task_checkpoint_save(t), 0);
        t->exit_code = 0;
        assert_int_equal(task_transition(t, SILO_TASK_FINISHED, SILO_REASON_NONE, NULL), 0);
        return t;
}

/* An ended task drops its spec for a compact record; every API field survives, the spec comes
 * back from the checkpoint, and the launch's idempotence still compares against it. */
static void test_ended_task_compact(void **st)
{
        _cleanup_free_ char *err = NULL, *full_text = NULL, *compact_text = NULL;
        struct task *t, *t2 = NULL;
        json_t *full, *compact, *list;

        (void)st;
        t = launch_and_end("done");
        full = task_to_json(t, true);
        assert_non_null(full);
        /* A live structure left (here: a kill timer) keeps the spec. */
        t->kill_timer = (struct event_source *)&agent;
        assert_false(task_compact(t));
        t->kill_timer = NULL;
        /* So does a network lease left by a failed teardown: GET /tasks shows its ports. */
        {
                struct task_net_lease lease = {.task_id = (char *)"done"};
                struct agent_network net = {.leases = &lease, .n_leases = 1};

                agent.network = &net;
                assert_false(task_compact(t));
                agent.network = NULL;
        }
        assert_true(task_compact(t));
        assert_null(t->spec);
        assert_false(task_compact(t));
        assert_string_equal(task_name(t), "n");
        assert_string_equal(task_role(t), "default");
        assert_int_equal(task_network_mode(t), SILO_NETWORK_HOST);
        compact = task_to_json(t, true);
        assert_non_null(compact);
        full_text = json_dumps(full, JSON_SORT_KEYS | JSON_COMPACT);
        compact_text = json_dumps(compact, JSON_SORT_KEYS | JSON_COMPACT);
        assert_string_equal(compact_text, full_text);
        list = task_to_json(t, false);
        assert_string_equal(json_string_value(json_object_get(list, "name")), "n");
        assert_null(json_object_get(list, "spec"));
        json_decref(list);
        json_decref(full);
        json_decref(compact);

        /* The same launch again: idempotent against the spec on disk; another: a conflict. */
        assert_int_equal(launch("{'id': 'done', 'command': ['/bin/sh', '-c', 'echo hello; exit 0'], "
                                "'env': {'A': 'b', 'PATH': '/usr/bin:/bin'}, 'resources': {'cpus': 1, "
                                "'mem': '64M', 'pids': 64}}",
                                &t2, &err),
                         1);
        assert_ptr_equal(t2, t);
        assert_non_null(t->spec);
        assert_true(task_compact(t));
        assert_int_equal(launch("{'id': 'done', 'command': ['false']}", &t2, &err), -EEXIST);
        assert_string_equal(err, "id: task 'done' already exists with a different spec");
        assert_true(task_compact(t));

        /* Its checkpoint gone (forgotten under us): the record still answers, spec null. */
        {
                char path[PATH_MAX];

                assert_int_equal(unlink(task_checkpoint_path(&agent, "done", path)), 0);
                compact = task_to_json(t, true);
                assert_non_null(compact);
                assert_true(json_is_null(json_object_get(compact, "spec")));
                assert_string_equal(json_string_value(json_object_get(compact, "state")), "FINISHED");
                json_decref(compact);
                /* ... but is never checkpointed without its spec. */
                assert_int_equal(task_checkpoint_save(t), -ENOENT);
        }
}

/* What the agent holds per kept ended task, measured with the allocator's own count
 * (mallinfo2 uordblks): <= 1 KiB (issue 19 goal 3), the task table's slot included. */
static void test_ended_task_bytes(void **st)
{
        enum { N = 300 };
        size_t before, after;

        (void)st;
#if defined(__SANITIZE_ADDRESS__)
        /* ASan's allocator replaces glibc's: mallinfo2() counts nothing there. */
        skip();
#endif
        /* The table's growth is part of the cost: start from an empty one. */
        before = mallinfo2().uordblks;
        for (int i = 0; i < N; i++) {
                char id[32];

                snprintf(id, sizeof(id), "ended-task-%04d", i);
                assert_true(task_compact(launch_and_end(id)));
        }
        after = mallinfo2().uordblks;
        print_message("%d compacted ended tasks: %zu bytes each\n", N, (after - before) / N);
        assert_true(after > before);
        assert_true((after - before) / N <= 1024);
}

static void test_launch_assigns_id(void **st)
{
        struct task *t = NULL;

        (void)st;
        assert_int_equal(launch("{'command': ['true']}", &t, NULL), 0);
        assert_non_null(t->id);
        assert_int_equal(strlen(t->id), 36);
        assert_string_equal(t->spec->id, t->id);
}

static void test_launch_start_fails(void **st)
{
        _cleanup_free_ char *err = NULL;

        (void)st;
        started.fail = -EEXIST;
        started.fail_message = "cgroup /x/tasks/c1 already exists";
        assert_int_equal(launch("{'id': 'c1', 'command': ['true']}", NULL, &err), -EEXIST);
        assert_string_equal(err, "cgroup /x/tasks/c1 already exists");
        assert_int_equal(agent.launch_rejected_total, 1);
        assert_int_equal(agent.launch_failed_total, 0);
        assert_int_equal(agent.n_tasks, 0);

        free(err);
        err = NULL;
        started.fail = -EIO;
        started.fail_message = NULL;
        assert_int_equal(launch("{'id': 'c1', 'command': ['true']}", NULL, &err), -EIO);
        assert_int_equal(agent.launch_failed_total, 1);
        assert_int_equal(agent.n_tasks, 0);
}

struct refusal {
        const char *spec;       /* after 'id' */
        const char *error;
};

static const struct refusal refusals[] = {
    {"'command': ['true'], 'resources': {'io': [{'disk': 'any', 'wbps': 1}]}",
     "resources.io[0].disk: 'any' is for the master to resolve; name a disk of this agent"},
    {"'command': ['true'], 'resources': {'io': [{'disk': 'vdb', 'wbps': 1}]}",
     "resources.io[0].disk: 'vdb' is not a disk this agent offers"},
    {"'command': ['true'], 'resources': {'io': [{'disk': 'vda', 'wbps': 1}, {'disk': 'vda1', "
     "'rbps': 1}]}",
     "resources.io[1]: vda is the same disk as resources.io[0]"},
    {"'command': ['true'], 'container': {'rootfs': '/nonexistent-rootfs'}",
     "container.rootfs: /nonexistent-rootfs does not exist"},
    {"'command': ['true'], 'container': {'rootfs': '/etc/hostname'}",
     "container.rootfs: /etc/hostname is not a directory"},
    {"'command': ['true'], 'container': {'volumes': [{'source': '/nonexistent-src', 'target': "
     "'/tmp/x'}]}",
     "container.volumes[0].source: /nonexistent-src does not exist"},
    {"'command': ['true'], 'container': {'volumes': [{'source': '/usr', 'target': "
     "'/nonexistent-target'}]}",
     "container.volumes[0].target: /nonexistent-target does not exist (without a rootfs the "
     "target must exist on the host, or be under /tmp or /var/tmp)"},
    {"'command': ['true'], 'user': 'no-such-user-here'",
     "user: 'no-such-user-here' does not exist in the host's user database"},
    {"'command': ['true'], 'resources': {'pids': 100000}",
     "resources.pids: 100000 is out of range (1..32768, this node's kernel.pid_max)"},
    /* persistent volumes need a disk offered with a mount point (--disk vda:/srv/vda) */
    {"'command': ['true'], 'container': {'volumes': [{'name': 'v', 'size': '1Gi', 'target': "
     "'/tmp/v'}]}",
     "container.volumes[0]: no disk of this agent can hold volume 'v' (offer one with a mount "
     "point: --disk NAME:MOUNTPOINT)"},
    {"'command': ['true'], 'container': {'volumes': [{'name': 'v', 'size': '1Gi', 'class': "
     "'nvme', 'target': '/tmp/v'}]}",
     "container.volumes[0]: no disk of this agent of class 'nvme' can hold volume 'v' (offer one "
     "with a mount point: --disk NAME:MOUNTPOINT)"},
    {"'command': ['true'], 'container': {'volumes': [{'name': 'v', 'size': '1Gi', 'disk': 'vda', "
     "'target': '/tmp/v'}]}",
     "container.volumes[0].disk: 'vda' is not a disk this agent offers with a mount point "
     "(--disk vda:MOUNTPOINT)"},
};

static void test_launch_refusals(void **st)
{
        (void)st;
        for (size_t i = 0; i < ELEMENTSOF(refusals); i++) {
                _cleanup_free_ char *json = NULL, *err = NULL;
                char path[PATH_MAX];

                assert_true(asprintf(&json, "{'id': 'r%zu', %s}", i, refusals[i].spec) > 0);
                assert_int_equal(launch(json, NULL, &err), -EINVAL);
                if (!err || !streq(err, refusals[i].error))
                        fail_msg("%s: got '%s', want '%s'", json, strempty(err), refusals[i].error);
                assert_int_equal(agent.launch_rejected_total, i + 1);
                snprintf(path, sizeof(path), "r%zu", i);
                assert_null(agent_task_find(&agent, path));
                assert_int_equal(access(task_checkpoint_path(&agent, path, path), F_OK), -1);
        }
        assert_int_equal(started.calls, 0);
        assert_int_equal(agent.n_tasks, 0);
}

/* A ready volume "pg" of 1 GiB on vda, as agent_volumes_load() leaves one. */
static void volume_add(const char *name, const char *path)
{
        struct agent_volume *v = calloc(1, sizeof(*v));

        assert_non_null(v);
        *v = (struct agent_volume){.name = strdup(name), .disk = strdup("vda"), .size = UINT64_C(1) << 30,
                                   .projid = VOLUME_PROJID_MIN, .state = VOLUME_READY, .path = strdup(path)};
        agent.volumes = realloc(agent.volumes, (agent.n_volumes + 1) * sizeof(*agent.volumes));
        assert_non_null(agent.volumes);
        agent.volumes[agent.n_volumes++] = v;
}

#define PGS(size, extra) "'command': ['true'], 'container': {'volumes': [{'name': 'pg', 'size': '" size \
                         "', 'target': '/tmp/pg'" extra "}]}"
#define PG(extra) PGS("1Gi", extra)

/* An existing volume: its directory is the mount's source, "any" (the volume's disk and the
 * io entries') means its disk, a second writer is refused (409 volume_in_use), and so is
 * another size or disk, and its deletion while a task mounts it. */
static void test_launch_existing_volume(void **st)
{
        _cleanup_free_ char *err = NULL;
        struct task *t = NULL;
        const char *code;

        (void)st;
        volume_add("pg", tmpdir);
        volume_add("sh", "/var/tmp");
        assert_int_equal(launch("{'id': 'big', " PGS("2Gi", "") "}", NULL, &err), -EINVAL);
        assert_string_equal(err, "container.volumes[0].size: 2Gi differs from volume 'pg''s size 1Gi "
                                 "(a volume keeps its size; delete it to change it)");
        free(err);
        err = NULL;
        assert_int_equal(launch("{'id': 'vdb', " PG(", 'disk': 'vdb'") "}", NULL, &err), -EINVAL);
        assert_string_equal(err, "container.volumes[0].disk: volume 'pg' is on disk vda, not vdb");
        free(err);
        err = NULL;
        assert_int_equal(launch("{'id': 'cls', " PG(", 'class': 'nvme'") "}", NULL, &err), -EINVAL);
        assert_true(strncmp(err, "container.volumes[0].class: volume 'pg' is on disk vda ", 55) == 0);
        assert_non_null(strstr(err, ", not of class 'nvme'"));
        free(err);
        err = NULL;

        assert_int_equal(launch("{'id': 't1', " PG("") ", 'resources': {'io': [{'disk': 'any', "
                                "'class': 'ssd', 'wbps': 1000}]}}",
                                &t, &err),
                         0);
        assert_string_equal(started.volume_source, tmpdir);
        assert_string_equal(started.io[0].dev.name, "vda");
        assert_string_equal(t->spec->resources.io[0].disk, "vda");
        assert_null(t->spec->resources.io[0].class);
        assert_string_equal(t->spec->container.volumes[0].disk, "vda");
        /* A retry of the same spec (with its "any"s) is the task launched. */
        assert_int_equal(launch("{'id': 't1', " PG("") ", 'resources': {'io': [{'disk': 'any', "
                                "'class': 'ssd', 'wbps': 1000}]}}",
                                NULL, &err),
                         1);

        assert_int_equal(launch("{'id': 't2', " PG(", 'readonly': true") "}", NULL, &err), -EBUSY);
        assert_string_equal(err, "container.volumes[0]: volume 'pg' is mounted read-write by task t1 "
                                 "(two tasks may mount a volume at once only read-only, or both with "
                                 "\"shared\": true)");
        assert_int_equal(launch_http_status(-EBUSY, &code), 409);
        assert_string_equal(code, "volume_in_use");
        free(err);
        err = NULL;
        assert_int_equal(agent_volume_delete(&agent, "pg", &err), -EBUSY);
        assert_true(strncmp(err, "volume 'pg' is in use by task t1 (", 34) == 0);
        free(err);
        err = NULL;
        assert_int_equal(agent_volume_delete(&agent, "nope", &err), -ENOENT);
        assert_string_equal(err, "volume 'nope' does not exist");
        free(err);
        err = NULL;

        /* A volume being deleted: 409 volume_deleting, nothing kept of the launch. */
        volume_add("gone", "/var/tmp");
        agent.volumes[agent.n_volumes - 1]->state = VOLUME_DELETING;
        assert_int_equal(launch("{'id': 'g1', 'command': ['true'], 'container': {'volumes': [{'name': "
                                "'gone', 'size': '1Gi', 'target': '/tmp/g'}]}}",
                                NULL, &err),
                         -EINPROGRESS);
        assert_string_equal(err, "container.volumes[0]: volume 'gone' is being deleted (its GET answers 404 "
                                 "once it is gone; a launch then makes a new one)");
        assert_int_equal(launch_http_status(-EINPROGRESS, &code), 409);
        assert_string_equal(code, "volume_deleting");
        assert_null(agent_task_find(&agent, "g1"));

        /* Two shared writers, or two readers, may mount one volume. */
        assert_int_equal(launch("{'id': 's1', 'command': ['true'], 'container': {'volumes': [{'name': "
                                "'sh', 'size': '1Gi', 'target': '/tmp/s', 'shared': true}]}}",
                                NULL, NULL),
                         0);
        assert_int_equal(launch("{'id': 's2', 'command': ['true'], 'container': {'volumes': [{'name': "
                                "'sh', 'size': '1Gi', 'target': '/tmp/s', 'shared': true}]}}",
                                NULL, NULL),
                         0);
        assert_int_equal(launch("{'id': 's3', 'command': ['true'], 'container': {'volumes': [{'name': "
                                "'sh', 'size': '1Gi', 'target': '/tmp/s'}]}}",
                                NULL, NULL),
                         -EBUSY);
        assert_int_equal(agent.n_tasks, 3);
}

/* A volume keeps the role of the task that made it: a task of another role is refused
 * (403 forbidden), one of its role is launched. */
static void test_launch_volume_role(void **st)
{
        _cleanup_free_ char *err = NULL;
        const char *code;

        (void)st;
        volume_add("pg", tmpdir);
        agent.volumes[agent.n_volumes - 1]->role = strdup("storage");
        assert_int_equal(launch("{'id': 'b1', 'role': 'batch', " PG("") "}", NULL, &err), -EACCES);
        assert_string_equal(err, "container.volumes[0]: volume 'pg' belongs to role 'storage': a task "
                                 "of role 'batch' may not mount it");
        assert_int_equal(launch_http_status(-EACCES, &code), 403);
        assert_string_equal(code, "forbidden");
        assert_int_equal(agent.n_tasks, 0);
        assert_int_equal(launch("{'id': 's1', 'role': 'storage', " PG("") "}", NULL, NULL), 0);
        assert_int_equal(agent.n_tasks, 1);
}

/* A bind mount cannot reach persistent volumes: not their directory, not one below it, not the
 * disk's mount point above it (they are mounted by name, where the in-use rules apply). */
static void test_launch_bind_into_volumes(void **st)
{
        char mnt[PATH_MAX], pg[PATH_MAX + 32];
        const char *sources[] = {pg, mnt};

        (void)st;
        snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
        snprintf(pg, sizeof(pg), "%s/silo-volumes/pg/data", mnt);
        assert_int_equal(mkdir_parents(pg, 0755), 0);
        offered.mount = mnt;
        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                _cleanup_free_ char *json = NULL, *err = NULL, *want = NULL;

                assert_true(asprintf(&json, "{'id': 'b%zu', 'command': ['true'], 'container': {'volumes': "
                                     "[{'source': '%s', 'target': '/tmp/x'}]}}", i, sources[i]) > 0);
                assert_true(asprintf(&want, "container.volumes[0].source: %s would expose the persistent "
                                     "volumes in %s/silo-volumes (disk vda); mount a volume by its name",
                                     sources[i], mnt) > 0);
                assert_int_equal(launch(json, NULL, &err), -EINVAL);
                assert_string_equal(err, want);
        }
        offered.mount = NULL;
        assert_int_equal(started.calls, 0);
        assert_int_equal(rm_rf(mnt), 0);
}

/* A disk whose filesystem is the test's tmpdir, as agent_disks_resolve() opens one. */
static struct pquota_fs fake_fs;

static void disk_with_fs(void)
{
        snprintf(fake_fs.mount, sizeof(fake_fs.mount), "%s/mnt", tmpdir);
        snprintf(fake_fs.source, sizeof(fake_fs.source), "/dev/nonexistent-silo-test");
        assert_int_equal(mkdir_parents(fake_fs.mount, 0755), 0);
        offered.mount = fake_fs.mount;
        offered.fs = &fake_fs;
}

static void disk_without_fs(void)
{
        offered.mount = NULL;
        offered.fs = NULL;
        assert_int_equal(rm_rf(fake_fs.mount), 0);
}

/* A volume whose disk is not offered is not deleted (its data would stay behind, unrecorded),
 * and a new volume never adopts a directory that is there without a record. */
static void test_volume_stale_directory(void **st)
{
        _cleanup_free_ char *err = NULL, *want = NULL;
        char stale[PATH_MAX + 32];

        (void)st;
        volume_add("gone", "/nonexistent");
        assert_int_equal(agent_volume_delete(&agent, "gone", &err), -ENODEV);
        assert_string_equal(err, "volume 'gone': its disk vda is not offered with a mount point "
                                 "(--disk vda:MOUNTPOINT); it can be deleted once it is");
        assert_non_null(agent_volume_find(&agent, "gone"));
        free(err);
        err = NULL;

        disk_with_fs();
        snprintf(stale, sizeof(stale), "%s/silo-volumes/pg", fake_fs.mount);
        assert_int_equal(mkdir_parents(stale, 0755), 0);
        assert_int_equal(launch("{'id': 'p1', " PG("") "}", NULL, &err), -EINVAL);
        assert_true(asprintf(&want, "container.volumes[0]: %s exists, but this agent has no record of "
                             "volume 'pg' (an earlier volume's data?): move it out of the way or remove it",
                             stale) > 0);
        assert_string_equal(err, want);
        assert_int_equal(access(stale, F_OK), 0);
        assert_null(agent_volume_find(&agent, "pg"));
        disk_without_fs();
}

/* Two new volumes of one spec that each fit the disk's room but not together: the second is
 * refused (the master books them together too). */
static void test_volume_new_pair_room(void **st)
{
        _cleanup_free_ char *json = NULL, *err = NULL;
        const char *tail = " and those of this spec's other new volumes)";
        uint64_t cap = 0;

        (void)st;
        disk_with_fs();
        assert_int_equal(pquota_fs_capacity(&fake_fs, &cap, NULL), 0);
        assert_true(cap > 4096);
        assert_true(asprintf(&json, "{'id': 'two', 'command': ['true'], 'container': {'volumes': ["
                             "{'name': 'a', 'size': '%" PRIu64 "', 'target': '/tmp/a'}, "
                             "{'name': 'b', 'size': '%" PRIu64 "', 'target': '/tmp/b'}]}}",
                             cap / 5 * 3, cap / 5 * 3) > 0);
        assert_int_equal(launch(json, NULL, &err), -EINVAL);
        if (!err || strncmp(err, "container.volumes[1].size: ", 27) != 0 || strlen(err) < strlen(tail) ||
            !streq(err + strlen(err) - strlen(tail), tail))
                fail_msg("got '%s'", strempty(err));
        assert_int_equal(agent.n_volumes, 0);
        disk_without_fs();
}

/* The capacity volumes may book leaves out ext4's root-only blocks and the metadata margin:
 * 1000 blocks of 4 KiB, 600 free of which 550 for users (50 reserved for root). */
static void test_volume_capacity(void **st)
{
        struct statvfs s = {.f_blocks = 1000, .f_bfree = 600, .f_bavail = 550, .f_frsize = 4096};
        uint64_t usable = UINT64_C(950) * 4096;

        (void)st;
        assert_int_equal(pquota_capacity_of(&s), usable - usable / 100 * PQUOTA_METADATA_MARGIN_PERCENT);
        s.f_bavail = s.f_bfree;         /* XFS: no root-only blocks */
        assert_int_equal(pquota_capacity_of(&s), UINT64_C(990) * 4096);
        s = (struct statvfs){.f_blocks = 10, .f_bfree = 900, .f_bavail = 0, .f_frsize = 4096};
        assert_int_equal(pquota_capacity_of(&s), 0);
}

/* A volume's inode limit is its share of the filesystem's inodes, never under the floor:
 * 1 GiB of a 16 GiB filesystem with 2^20 inodes gets 2^16. */
static void test_volume_inode_limit(void **st)
{
        struct statvfs s = {.f_blocks = UINT64_C(4) << 20, .f_frsize = 4096, .f_files = UINT64_C(1) << 20};

        (void)st;
        assert_int_equal(pquota_inode_limit(&s, UINT64_C(1) << 30), UINT64_C(1) << 16);
        assert_int_equal(pquota_inode_limit(&s, UINT64_C(1) << 20), PQUOTA_INODES_MIN);
        assert_int_equal(pquota_inode_limit(&s, 0), 0);
        s.f_files = 0;
        assert_int_equal(pquota_inode_limit(&s, UINT64_C(1) << 30), 0);
}

static void test_launch_devices(void **st)
{
        _cleanup_free_ char *err = NULL;

        (void)st;
        assert_int_equal(launch("{'id': 'd1', 'command': ['true'], 'container': {'devices': "
                                "['/dev/null', {'path': '/dev/zero', 'access': 'r'}]}}",
                                NULL, &err),
                         0);
        assert_int_equal(started.limits.n_devices, 2);
        assert_int_equal(started.devices[0].type, 'c');
        assert_int_equal(started.devices[0].major, 1);
        assert_int_equal(started.devices[0].minor, 3);
        assert_int_equal(started.devices[1].minor, 5);
        assert_int_equal(started.devices[1].access, SILO_DEV_READ);

        assert_int_equal(launch("{'id': 'd2', 'command': ['true'], 'container': {'devices': "
                                "['/dev/nonexistent-dev']}}",
                                NULL, &err),
                         -EINVAL);
        /* The resolver's message (agent/task-cgroup.c), as validation always answered. */
        assert_string_equal(err, "container.devices[0]: /dev/nonexistent-dev does not exist on "
                                 "this host");
}

static void test_status_table(void **st)
{
        const char *code = "x";

        (void)st;
        assert_int_equal(launch_http_status(-EINVAL, &code), 400);
        assert_string_equal(code, "invalid_spec");
        assert_int_equal(launch_http_status(-ENOENT, &code), 400);
        assert_string_equal(code, "invalid_spec");
        assert_int_equal(launch_http_status(-ENODEV, &code), 400);
        assert_string_equal(code, "invalid_spec");
        assert_int_equal(launch_http_status(-EEXIST, &code), 409);
        assert_string_equal(code, "conflict");
        assert_int_equal(launch_http_status(-EIO, &code), 500);
        assert_null(code);
        assert_int_equal(launch_http_status(-EOPNOTSUPP, &code), 500);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_launch_resolves_once, agent_reset),
                cmocka_unit_test_setup(test_launch_idempotent, agent_reset),
                cmocka_unit_test_setup(test_ended_task_compact, agent_reset),
                cmocka_unit_test_setup(test_ended_task_bytes, agent_reset),
                cmocka_unit_test_setup(test_launch_assigns_id, agent_reset),
                cmocka_unit_test_setup(test_launch_start_fails, agent_reset),
                cmocka_unit_test_setup(test_launch_refusals, agent_reset),
                cmocka_unit_test_setup(test_launch_existing_volume, agent_reset),
                cmocka_unit_test_setup(test_launch_volume_role, agent_reset),
                cmocka_unit_test_setup(test_launch_bind_into_volumes, agent_reset),
                cmocka_unit_test_setup(test_volume_stale_directory, agent_reset),
                cmocka_unit_test_setup(test_volume_new_pair_room, agent_reset),
                cmocka_unit_test(test_volume_capacity),
                cmocka_unit_test(test_volume_inode_limit),
            cmocka_unit_test_setup(test_launch_devices, agent_reset),
                cmocka_unit_test_setup_teardown(test_status_table, agent_reset, agent_reset),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

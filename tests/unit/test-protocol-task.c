/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the task spec codec: the full spec of the starting design, defaults, canonical round trips,
 * equality and every validation error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/resource.h>

#include "common/macro.h"
#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/task-spec-parts.h"
#include "tests/unit/unit-util.h"

static const char example[] =
    "{'name': 'backup-7', 'role': 'storage',"
    " 'command': ['/usr/bin/fio', '--name=job', '--rw=write', '--size=1G'],"
    " 'env': {'TZ': 'UTC'}, 'user': 'nobody',"
    " 'resources': {'cpus': 1.5, 'cpu_weight': 100, 'cpuset': '0-1',"
    "   'mem': '512Mi', 'mem_high': '400Mi', 'swap': 0, 'pids': 256,"
    "   'io': [{'disk': 'any', 'class': 'ssd', 'rbps': '200M', 'wbps': '100M',"
    "           'riops': 20000, 'wiops': 10000, 'weight': 100}]},"
    " 'container': {'rootfs': '/var/lib/silo/images/debian',"
    "   'namespaces': ['pid', 'mount', 'uts', 'ipc', 'net'], 'network': 'none',"
    "   'volumes': [{'source': '/srv/data', 'target': '/data', 'readonly': false}],"
    "   'devices': ['/dev/nvme0n1']},"
    " 'constraints': {'hostname': 'node-3', 'attributes': {'rack': 'r1'}, 'spread': 'hostname'},"
    " 'group': 'shard-7', 'priority': 10, 'init': true,"
    " 'capabilities': ['CAP_NET_BIND_SERVICE'], 'rlimits': {'nofile': 65536},"
    " 'kill_grace_s': 10}";

static struct silo_task_spec *parse_ok(const char *text)
{
        _cleanup_free_ char *t = dq(text), *error = NULL;
        struct silo_task_spec *s = NULL;
        int r = silo_task_spec_from_string(t, &s, &error);

        if (r < 0)
                fail_msg("%s: %d %s", t, r, strempty(error));
        assert_null(error);
        return s;
}

static void test_example(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = parse_ok(example);
        const struct silo_io_request *io;
        (void)state;

        assert_null(s->id);
        assert_string_equal(s->name, "backup-7");
        assert_string_equal(s->role, "storage");
        assert_string_equal(s->command[0], "/usr/bin/fio");
        assert_string_equal(s->command[3], "--size=1G");
        assert_null(s->command[4]);
        assert_int_equal(s->n_env, 1);
        assert_string_equal(s->env[0].key, "TZ");
        assert_string_equal(s->env[0].value, "UTC");
        assert_string_equal(s->user, "nobody");
        assert_string_equal(s->group, "shard-7");
        assert_int_equal(s->priority, 10);
        assert_true(s->init);
        assert_true(s->capabilities == UINT64_C(1) << 10); /* CAP_NET_BIND_SERVICE */
        assert_int_equal(s->n_rlimits, 1);
        assert_int_equal(s->rlimits[0].resource, RLIMIT_NOFILE);
        assert_int_equal(s->rlimits[0].soft, 65536);
        assert_int_equal(s->rlimits[0].hard, 65536);
        assert_int_equal(s->kill_grace_s, 10);

        assert_true(s->resources.cpus == 1.5);
        assert_int_equal(s->resources.cpu_weight, 100);
        assert_string_equal(s->resources.cpuset, "0-1");
        assert_int_equal(s->resources.mem, 536870912);
        assert_int_equal(s->resources.mem_high, 419430400);
        assert_int_equal(s->resources.swap, 0);
        assert_int_equal(s->resources.pids, 256);
        assert_int_equal(s->resources.n_io, 1);
        io = &s->resources.io[0];
        assert_string_equal(io->disk, "any");
        assert_null(io->device);
        assert_string_equal(io->class, "ssd");
        assert_int_equal(io->limit[SILO_IO_RBPS], 200000000);
        assert_int_equal(io->limit[SILO_IO_WBPS], 100000000);
        assert_int_equal(io->limit[SILO_IO_RIOPS], 20000);
        assert_int_equal(io->limit[SILO_IO_WIOPS], 10000);
        assert_int_equal(io->weight, 100);

        assert_true(s->has_container);
        assert_string_equal(s->container.rootfs, "/var/lib/silo/images/debian");
        assert_int_equal(s->container.namespaces,
                         SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_UTS | SILO_NS_IPC | SILO_NS_NET);
        assert_int_equal(s->container.network, SILO_NETWORK_NONE);
        assert_null(s->container.hostname);
        assert_int_equal(s->container.n_volumes, 1);
        assert_string_equal(s->container.volumes[0].source, "/srv/data");
        assert_string_equal(s->container.volumes[0].target, "/data");
        assert_false(s->container.volumes[0].readonly);
        assert_int_equal(s->container.n_devices, 1);
        assert_string_equal(s->container.devices[0].path, "/dev/nvme0n1");
        assert_int_equal(s->container.devices[0].access,
                         SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);

        assert_string_equal(s->constraints.hostname, "node-3");
        assert_int_equal(s->constraints.n_attributes, 1);
        assert_string_equal(s->constraints.attributes[0].key, "rack");
        assert_string_equal(s->constraints.attributes[0].value, "r1");
        assert_int_equal(s->constraints.spread, SILO_SPREAD_HOSTNAME);
}

/* The typed values of the issue 15 fields, and their canonical form: host 0 and proto tcp are
 * spelled out so that a launch body always says which port and protocol it means. */
static void test_bridge_ports(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s =
            parse_ok("{'name': 'pg', 'command': ['x'], 'resources': {'net_egress': '100M'},"
                     " 'container': {'network': 'bridge', 'ports': [{'container': 5432},"
                     " {'container': 53, 'host': 5353, 'proto': 'udp'}]}}");
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *plain =
            parse_ok("{'name': 'a', 'command': ['x'], 'container': {'network': 'none'}}");
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_int_equal(s->container.network, SILO_NETWORK_BRIDGE);
        assert_true(s->container.namespaces & SILO_NS_NET);
        assert_true(s->resources.net_egress == 100000000);
        assert_int_equal(s->container.n_ports, 2);
        assert_int_equal(s->container.ports[0].container, 5432);
        assert_int_equal(s->container.ports[0].host, 0);
        assert_int_equal(s->container.ports[0].proto, SILO_PORT_TCP);
        assert_int_equal(s->container.ports[1].container, 53);
        assert_int_equal(s->container.ports[1].host, 5353);
        assert_int_equal(s->container.ports[1].proto, SILO_PORT_UDP);
        text = silo_task_spec_to_string(s);
        assert_non_null(strstr(text, "\"net_egress\":100000000"));
        assert_non_null(strstr(text, "\"network\":\"bridge\",\"ports\":[{\"container\":5432,"
                                     "\"host\":0,\"proto\":\"tcp\"},{\"container\":53,"
                                     "\"host\":5353,\"proto\":\"udp\"}]"));
        assert_int_equal(plain->container.network, SILO_NETWORK_NONE);
        assert_int_equal(plain->container.n_ports, 0);
        assert_null(plain->container.ports);
        assert_true(plain->resources.net_egress == SILO_UNSET);
        assert_string_equal(silo_port_proto_to_string(SILO_PORT_UDP), "udp");
        assert_int_equal(silo_port_proto_from_string("tcp"), SILO_PORT_TCP);
        assert_int_equal(silo_port_proto_from_string("icmp"), -EINVAL);
        assert_string_equal(silo_network_mode_to_string(SILO_NETWORK_BRIDGE), "bridge");
}

/* container.ports holds at most 64 entries, counted before any is parsed. */
static void test_ports_bound(void **state)
{
        json_t *ports = json_array(), *j;
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        struct silo_task_spec *s = NULL;
        (void)state;

        for (int i = 0; i < 64; i++)
                json_array_append_new(ports, json_pack("{s:i}", "container", 1000 + i));
        j = json_pack("{s:s, s:[s], s:{s:s, s:O}}", "name", "p", "command", "x", "container",
                      "network", "bridge", "ports", ports);
        assert_int_equal(silo_task_spec_from_json(j, &s, &e1), 0);
        assert_int_equal(s->container.n_ports, 64);
        s = silo_task_spec_free(s);
        json_array_append_new(ports, json_pack("{s:i}", "container", 2000));
        json_object_set(json_object_get(j, "container"), "ports", ports);
        assert_int_equal(silo_task_spec_from_json(j, &s, &e2), -EINVAL);
        assert_string_equal(e2, "container.ports: 65 entries, at most 64 are allowed");
        assert_null(s);
        json_decref(ports);
        json_decref(j);
}

static void test_defaults(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s =
            parse_ok("{'name': 'a', 'command': ['/bin/true']}");
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_string_equal(s->role, "default");
        assert_int_equal(s->priority, 0);
        assert_true(s->init);
        assert_int_equal(s->kill_grace_s, UINT32_MAX);
        assert_true(s->capabilities == 0);
        assert_int_equal(s->n_env, 0);
        assert_int_equal(s->n_rlimits, 0);
        assert_null(s->user);
        assert_null(s->group);
        assert_true(s->resources.cpus == 0);
        assert_int_equal(s->resources.cpu_weight, 0);
        assert_true(s->resources.mem == SILO_UNSET);
        assert_true(s->resources.mem_high == SILO_UNSET);
        assert_true(s->resources.swap == SILO_UNSET);
        assert_true(s->resources.pids == SILO_UNSET);
        assert_int_equal(s->resources.n_io, 0);
        assert_true(s->resources.net_egress == SILO_UNSET);
        assert_false(s->has_container);
        assert_int_equal(s->constraints.spread, SILO_SPREAD_NONE);

        /* canonical form: defaults that matter spelled out, unset fields omitted */
        text = silo_task_spec_to_string(s);
        assert_string_equal(text,
                            "{\"name\":\"a\",\"role\":\"default\",\"command\":[\"/bin/true\"],"
                            "\"priority\":0,\"init\":true}");
}

/* to_json -> from_json -> to_json is the identity, and the spec compares equal to its copy. */
static void assert_round_trip(const struct silo_task_spec *s)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *back = NULL, *copy = NULL;
        _cleanup_free_ char *t1 = silo_task_spec_to_string(s), *t2 = NULL, *error = NULL;

        assert_non_null(t1);
        assert_int_equal(silo_task_spec_from_string(t1, &back, &error), 0);
        t2 = silo_task_spec_to_string(back);
        assert_string_equal(t1, t2);
        assert_true(silo_task_spec_equal(s, back));
        copy = silo_task_spec_dup(s);
        assert_non_null(copy);
        assert_true(silo_task_spec_equal(s, copy));
}

static void test_round_trips(void **state)
{
        static const char *const specs[] = {
            example,
            "{'name': 'a', 'command': ['/bin/true']}",
            "{'id': 'task-1', 'name': 'a.b_c-d', 'command': ['x', '', 'y'], 'init': false,"
            " 'priority': -5, 'kill_grace_s': 0,"
            " 'capabilities': ['sys_admin', 'cap_bpf', 'NET_RAW', 'CAP_SYS_ADMIN'],"
            " 'rlimits': {'core': 0, 'nofile': {'soft': 1024, 'hard': '64Ki'},"
            "             'memlock': 'unlimited', 'stack': {'soft': '8Mi', 'hard': 'unlimited'}}}",
            "{'name': 'io', 'command': ['x'], 'resources': {'cpus': '0.25', 'io': ["
            " {'device': '/dev/sda', 'rbps': '18446744073709551614'},"
            " {'disk': 'nvme0n1', 'weight': 50}, {'disk': 'any', 'wiops': 1},"
            " {'disk': 'any', 'class': 'hdd', 'wbps': 1.9}]}}",
            "{'name': 'c', 'command': ['x'], 'container': {}}",
            "{'name': 'c', 'command': ['x'], 'container': {'namespaces': ['cgroup', 'uts'],"
            " 'hostname': 'web-1', 'network': 'host', 'devices': [{'path': '/dev/sda',"
            " 'access': 'wr'}, {'path': '/dev/sdb', 'access': 'mrw'}, '/dev/fuse'],"
            " 'volumes': [{'source': '/a', 'target': '/x//y/./z/', 'readonly': true}]}}",
            "{'name': 'k', 'command': ['x'], 'constraints': {'attributes': {}}, 'env': {},"
            " 'resources': {}}",
            "{'name': 'pg', 'command': ['x'], 'resources': {'net_egress': '20M'},"
            " 'container': {'network': 'bridge', 'ports': [{'container': 5432},"
            " {'container': 53, 'host': 5353, 'proto': 'udp'}]}}",
            "{'name': 'pv', 'command': ['x'], 'container': {'volumes': ["
            " {'name': 'pg-data', 'size': '2Gi', 'target': '/var/lib/postgresql/data'},"
            " {'name': 'b', 'size': 1, 'disk': 'any', 'class': 'ssd', 'target': '/b',"
            "  'shared': true, 'readonly': true},"
            " {'name': 'c', 'size': '18446744073709551614', 'disk': 'nullb1', 'target': '/c'},"
            " {'source': '/a', 'target': '/d'}]}}",
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(specs); i++) {
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = parse_ok(specs[i]);

                assert_round_trip(s);
        }
}

static void test_normalisation(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s =
            parse_ok("{'name': 'c', 'command': ['x'], 'resources': {'cpus': 0.333, 'swap': '0'},"
                     " 'capabilities': ['sys_admin', 'cap_bpf'],"
                     " 'rlimits': {'nofile': {'soft': 10, 'hard': 10}, 'core': 'unlimited'},"
                     " 'container': {'volumes': [{'source': '/a', 'target': '/x//y/./z/'}],"
                     "               'network': 'none', 'devices': [{'path': '/dev/sda'}]}}");
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_true(s->resources.cpus == 0.33);
        assert_int_equal(s->resources.swap, 0);
        assert_true(s->capabilities == ((UINT64_C(1) << 21) | (UINT64_C(1) << 39)));
        assert_int_equal(s->rlimits[1].resource, RLIMIT_CORE);
        assert_true(s->rlimits[1].soft == RLIM_INFINITY && s->rlimits[1].hard == RLIM_INFINITY);
        assert_string_equal(s->container.volumes[0].target, "/x/y/z");
        /* network none asks for the net namespace; a volume needs the mount namespace */
        assert_int_equal(s->container.namespaces, SILO_NS_NET | SILO_NS_MOUNT);
        assert_int_equal(s->container.network, SILO_NETWORK_NONE);
        assert_int_equal(s->container.devices[0].access,
                         SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD);

        text = silo_task_spec_to_string(s);
        assert_string_equal(
            text, "{\"name\":\"c\",\"role\":\"default\",\"command\":[\"x\"],\"priority\":0,"
                  "\"init\":true,\"capabilities\":[\"CAP_SYS_ADMIN\",\"CAP_BPF\"],"
                  "\"rlimits\":{\"nofile\":10,\"core\":\"unlimited\"},"
                  "\"resources\":{\"cpus\":0.33,\"swap\":0},"
                  "\"container\":{\"namespaces\":[\"mount\",\"net\"],\"network\":\"none\","
                  "\"volumes\":[{\"source\":\"/a\",\"target\":\"/x/y/z\",\"readonly\":false}],"
                  "\"devices\":[\"/dev/sda\"]}}");
}

/* A persistent volume decodes with its defaults (disk "any", rw, not shared) and encodes to
 * its canonical form; a bind mount carries none of its fields. */
static void test_persistent_volume(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *s =
            parse_ok("{'name': 'pg', 'command': ['x'], 'container': {'volumes': ["
                     " {'name': 'pg-data', 'size': '2Gi', 'target': '/var/lib//pg/'},"
                     " {'source': '/srv', 'target': '/srv'}]}}");
        _cleanup_free_ char *text = NULL;
        const struct silo_volume *v = &s->container.volumes[0];
        (void)state;

        assert_null(v->source);
        assert_string_equal(v->name, "pg-data");
        assert_true(v->size == UINT64_C(2) << 30);
        assert_string_equal(v->disk, "any");
        assert_null(v->class);
        assert_false(v->readonly);
        assert_false(v->shared);
        assert_string_equal(v->target, "/var/lib/pg");
        assert_null(s->container.volumes[1].name);
        assert_int_equal(s->container.volumes[1].size, 0);
        assert_true(s->container.namespaces & SILO_NS_MOUNT);
        text = json_dump_take(silo_container_to_json(&s->container));
        assert_string_equal(text, "{\"namespaces\":[\"mount\"],\"network\":\"host\","
                                  "\"volumes\":[{\"name\":\"pg-data\",\"size\":2147483648,"
                                  "\"disk\":\"any\",\"target\":\"/var/lib/pg\","
                                  "\"readonly\":false,\"shared\":false},"
                                  "{\"source\":\"/srv\",\"target\":\"/srv\","
                                  "\"readonly\":false}]}");
}

/* Launch idempotency compares specs: key order and spelling must not matter, content must. */
static void test_equal(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *a =
            parse_ok("{'name': 'a', 'command': ['x'], 'env': {'A': '1', 'B': '2'},"
                     " 'resources': {'mem': '1Gi', 'cpus': 1}}");
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *b = parse_ok(
            "{'resources': {'cpus': '1.0', 'mem': 1073741824}, 'env': {'B': '2', 'A': '1'},"
            " 'command': ['x'], 'name': 'a', 'role': 'default', 'init': true}");
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *c =
            parse_ok("{'name': 'a', 'command': ['x'], 'env': {'A': '1', 'B': '3'},"
                     " 'resources': {'mem': '1Gi', 'cpus': 1}}");
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *d =
            parse_ok("{'name': 'a', 'command': ['x'], 'env': {'A': '1', 'B': '2'},"
                     " 'resources': {'mem': '1Gi', 'cpus': 1.01}}");
        (void)state;

        assert_true(silo_task_spec_equal(a, b));
        assert_true(silo_task_spec_equal(b, a));
        assert_false(silo_task_spec_equal(a, c));
        assert_false(silo_task_spec_equal(a, d));
        assert_false(silo_task_spec_equal(a, NULL));
        assert_true(silo_task_spec_equal(NULL, NULL));
}

static void test_free_null(void **state)
{
        (void)state;
        assert_null(silo_task_spec_free(NULL));
}

struct error_case {
        const char *json;
        const char *error;
};

#define B "'name': 't', 'command': ['x']"
#define RES(x) "{" B ", 'resources': {" x "}}"
#define IO(x) RES("'io': [" x "]")
#define CT(x) "{" B ", 'container': {" x "}}"
#define CS(x) "{" B ", 'constraints': {" x "}}"
#define NAME_RULE "is not a valid name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
#define CPULIST_RULE "is not a CPU list (ascending ranges of CPUs below 4096, like 0-3,5)"

static const struct error_case error_cases[] = {
    /* top level */
    {"[1]", "a task spec must be a JSON object"},
    {"{" B ", 'cpu': 2}", "unknown key 'cpu'"},
    {"{'command': ['x']}", "name: missing"},
    {"{'name': null, 'command': ['x']}", "name: missing"},
    {"{'name': 5, 'command': ['x']}", "name: must be a string"},
    {"{'name': 'a/b', 'command': ['x']}", "name: 'a/b' " NAME_RULE},
    {"{'name': '', 'command': ['x']}", "name: '' " NAME_RULE},
    {"{'name': '.hidden', 'command': ['x']}", "name: '.hidden' " NAME_RULE},
    {"{'name': '-x', 'command': ['x']}", "name: '-x' " NAME_RULE},
    {"{'name': '..', 'command': ['x']}", "name: '..' " NAME_RULE},
    {"{'name': 'a b', 'command': ['x']}", "name: 'a b' " NAME_RULE},
    {"{'name': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'command': "
     "['x']}",
     "name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' " NAME_RULE},
    {"{" B ", 'id': 'x/../y'}", "id: 'x/../y' " NAME_RULE},
    {"{" B ", 'id': 7}", "id: must be a string"},
    {"{" B ", 'role': 'a:b'}", "role: 'a:b' " NAME_RULE},
    {"{'name': 't'}", "command: missing"},
    {"{'name': 't', 'command': 'ls'}", "command: must be a non-empty array of strings"},
    {"{'name': 't', 'command': []}", "command: must be a non-empty array of strings"},
    {"{'name': 't', 'command': ['ls', 1]}",
     "command: must be a non-empty array of strings (element 1 is not a string)"},
    {"{'name': 't', 'command': ['ls', '']}", NULL},
    {"{'name': 't', 'command': ['']}",
     "command: must be a non-empty array of strings (element 0 is not a non-empty string)"},
    {"{" B ", 'env': ['A=1']}", "env: must be an object of strings"},
    {"{" B ", 'env': {'A=B': 'x'}}",
     "env: 'A=B' is not a valid variable name (non-empty, without '=')"},
    {"{" B ", 'env': {'': 'x'}}", "env: '' is not a valid variable name (non-empty, without '=')"},
    {"{" B ", 'env': {'TZ': 1}}", "env.TZ: must be a string"},
    {"{" B ", 'user': 0}", "user: must be a string"},
    {"{" B ", 'user': 'a:b'}", "user: 'a:b' is not a user name or uid"},
    {"{" B ", 'user': ''}", "user: '' is not a user name or uid"},
    {"{" B ", 'group': 'g/1'}", "group: 'g/1' " NAME_RULE},
    {"{" B ", 'priority': 1.5}", "priority: must be an integer"},
    {"{" B ", 'priority': '10'}", "priority: must be an integer"},
    {"{" B ", 'init': 1}", "init: must be a boolean"},
    {"{" B ", 'capabilities': 'CAP_CHOWN'}", "capabilities: must be an array of strings"},
    {"{" B ", 'capabilities': [21]}", "capabilities[0]: must be a string"},
    {"{" B ", 'capabilities': ['CAP_CHOWN', 'CAP_FLY']}",
     "capabilities[1]: 'CAP_FLY' is not a capability (see capabilities(7))"},
    {"{" B ", 'capabilities': ['CAP_']}",
     "capabilities[0]: 'CAP_' is not a capability (see capabilities(7))"},
    {"{" B ", 'rlimits': [1]}", "rlimits: must be an object"},
    {"{" B ", 'rlimits': {'nofiles': 1}}",
     "rlimits: 'nofiles' is not an rlimit (nofile, nproc, core, memlock, stack, fsize, as, cpu, "
     "data, locks, msgqueue, nice, rtprio, sigpending, rss)"},
    {"{" B ", 'rlimits': {'nofile': '12Q'}}", "rlimits.nofile: '12Q' is not a quantity"},
    {"{" B ", 'rlimits': {'nofile': -1}}", "rlimits.nofile: -1 is negative"},
    {"{" B ", 'rlimits': {'nofile': true}}",
     "rlimits.nofile: must be a number or a quantity string"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 1, 'hard': 2, 'max': 3}}}",
     "rlimits.nofile: unknown key 'max'"},
    {"{" B ", 'rlimits': {'nofile': {'hard': 2}}}", "rlimits.nofile.soft: missing"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 2}}}", "rlimits.nofile.hard: missing"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 'x', 'hard': 2}}}",
     "rlimits.nofile.soft: 'x' is not a quantity"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 2048, 'hard': 1024}}}",
     "rlimits.nofile: soft limit 2048 is above hard limit 1024"},
    {"{" B ", 'rlimits': {'core': {'soft': 'unlimited', 'hard': '1Gi'}}}",
     "rlimits.core: soft limit 'unlimited' is above hard limit '1Gi'"},
/* rlimits against the kernel's fixed maxima and the least a task can start with (issue 12) */
#define NOFILE_WHY "the kernel caps open files at fs.nr_open; a task needs stdin, stdout, stderr " \
                   "and one more to exec"
    {"{" B ", 'rlimits': {'nofile': 'unlimited'}}",
     "rlimits.nofile: 'unlimited' is not allowed: give a number in 4..2147483584 (" NOFILE_WHY ")"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 1024, 'hard': 'unlimited'}}}",
     "rlimits.nofile.hard: 'unlimited' is not allowed: give a number in 4..2147483584 (" NOFILE_WHY
     ")"},
    {"{" B ", 'rlimits': {'nofile': 2147483585}}",
     "rlimits.nofile: 2147483585 is out of range (4..2147483584; " NOFILE_WHY ")"},
    {"{" B ", 'rlimits': {'nofile': 3}}",
     "rlimits.nofile: 3 is out of range (4..2147483584; " NOFILE_WHY ")"},
    {"{" B ", 'rlimits': {'nofile': {'soft': 0, 'hard': 1024}}}",
     "rlimits.nofile.soft: 0 is out of range (4..2147483584; " NOFILE_WHY ")"},
    {"{" B ", 'rlimits': {'nofile': 4}}", NULL},
    {"{" B ", 'rlimits': {'nofile': 2147483584}}", NULL},
    {"{" B ", 'rlimits': {'stack': '4Ki'}}",
     "rlimits.stack: '4Ki' is below the minimum of 64Ki (a smaller stack crashes programs at "
     "exec)"},
    {"{" B ", 'rlimits': {'stack': '64Ki'}}", NULL},
    {"{" B ", 'rlimits': {'stack': 'unlimited'}}", NULL},
    {"{" B ", 'rlimits': {'as': '1Mi'}}",
     "rlimits.as: '1Mi' is below the minimum of 16Mi (a smaller address space cannot load a "
     "program)"},
    {"{" B ", 'rlimits': {'as': {'soft': '16Mi', 'hard': 'unlimited'}}}", NULL},
    {"{" B ", 'rlimits': {'data': 0}}",
     "rlimits.data: 0 is below the minimum of 1Mi (a smaller data segment crashes programs "
     "at start)"},
    {"{" B ", 'rlimits': {'cpu': 0}}", "rlimits.cpu: 0 is below the minimum of 1 (0 kills the "
                                       "task at once)"},
    {"{" B ", 'rlimits': {'cpu': 1}}", NULL},
    {"{" B ", 'rlimits': {'nice': 41}}",
     "rlimits.nice: 41 is out of range (0..40 or 'unlimited'; the nice ceiling is 20 - value)"},
    {"{" B ", 'rlimits': {'nice': {'soft': 0, 'hard': 41}}}",
     "rlimits.nice.hard: 41 is out of range (0..40 or 'unlimited'; the nice ceiling is 20 - "
     "value)"},
    {"{" B ", 'rlimits': {'nice': 40}}", NULL},
    {"{" B ", 'rlimits': {'rtprio': 100}}",
     "rlimits.rtprio: 100 is out of range (0..99 or 'unlimited'; real-time priorities are "
     "0..99)"},
    {"{" B ", 'rlimits': {'rtprio': 'unlimited'}}", NULL},
    {"{" B ", 'rlimits': {'core': 0, 'fsize': 0, 'nproc': 0, 'memlock': 0}}", NULL},
    {"{" B ", 'kill_grace_s': 3601}", "kill_grace_s: 3601 is out of range (0..3600)"},
    {"{" B ", 'kill_grace_s': -1}", "kill_grace_s: -1 is out of range (0..3600)"},
    {"{" B ", 'kill_grace_s': '10'}", "kill_grace_s: must be an integer"},

    /* resources */
    {"{" B ", 'resources': []}", "resources: must be an object"},
    {RES("'cpu': 2"), "resources: unknown key 'cpu'"},
    {RES("'cpus': 0"), "resources.cpus: 0 must be positive"},
    {RES("'cpus': -1"), "resources.cpus: -1 must be positive"},
    {RES("'cpus': '0'"), "resources.cpus: '0' must be positive"},
    {RES("'cpus': 4097"), "resources.cpus: 4097 is out of range (0.01..4096)"},
    {RES("'cpus': 0.004"), "resources.cpus: 0.004 rounds to 0 (the minimum is 0.01)"},
    {RES("'cpus': 'abc'"), "resources.cpus: 'abc' is not a number of CPUs"},
    {RES("'cpus': '1e3'"), "resources.cpus: '1e3' is not a number of CPUs"},
    {RES("'cpus': '500m'"), "resources.cpus: '500m' is not a number of CPUs"},
    {RES("'cpus': ' 1'"), "resources.cpus: ' 1' is not a number of CPUs"},
    {RES("'cpus': true"), "resources.cpus: must be a number"},
    {RES("'cpu_weight': 0"), "resources.cpu_weight: 0 is out of range (1..10000)"},
    {RES("'cpu_weight': 10001"), "resources.cpu_weight: 10001 is out of range (1..10000)"},
    {RES("'cpu_weight': 1.5"), "resources.cpu_weight: must be an integer"},
    {RES("'cpuset': 3"), "resources.cpuset: must be a string"},
    {RES("'cpuset': ''"), "resources.cpuset: '' " CPULIST_RULE},
    {RES("'cpuset': '3-1'"), "resources.cpuset: '3-1' " CPULIST_RULE},
    {RES("'cpuset': '0-3,2'"), "resources.cpuset: '0-3,2' " CPULIST_RULE},
    {RES("'cpuset': '5,0'"), "resources.cpuset: '5,0' " CPULIST_RULE},
    {RES("'cpuset': '4096'"), "resources.cpuset: '4096' " CPULIST_RULE},
    {RES("'cpuset': '0,,1'"), "resources.cpuset: '0,,1' " CPULIST_RULE},
    {RES("'cpuset': '0-'"), "resources.cpuset: '0-' " CPULIST_RULE},
    {RES("'cpuset': '0,'"), "resources.cpuset: '0,' " CPULIST_RULE},
    {RES("'cpuset': ' 0'"), "resources.cpuset: ' 0' " CPULIST_RULE},
    {RES("'cpuset': 'a'"), "resources.cpuset: 'a' " CPULIST_RULE},
    {RES("'mem': '12Q'"), "resources.mem: '12Q' is not a quantity"},
    {RES("'mem': '1K'"), "resources.mem: '1K' is not a quantity"},
    {RES("'mem': 0"), "resources.mem: 0 must be positive"},
    {RES("'mem': '0.1'"), "resources.mem: '0.1' must be positive"},
    {RES("'mem': -5"), "resources.mem: -5 is negative"},
    {RES("'mem': '-5Mi'"), "resources.mem: '-5Mi' is negative"},
    {RES("'mem': true"), "resources.mem: must be a number or a quantity string"},
    {RES("'mem': '17179869184Gi'"), "resources.mem: '17179869184Gi' is out of range"},
    {RES("'mem_high': 0"), "resources.mem_high: 0 must be positive"},
    {RES("'mem': '512Mi', 'mem_high': '600Mi'"),
     "resources.mem_high: 600Mi is above mem (512Mi): memory.high must not exceed memory.max"},
    {RES("'swap': -1"), "resources.swap: -1 is negative"},
    {RES("'swap': 'none'"), "resources.swap: 'none' is not a quantity"},
    {RES("'pids': 0"), "resources.pids: 0 must be positive"},
    {RES("'pids': '1.5k'"), NULL}, /* valid: 1500 */
    /* limits no task can start with, and the kernel's fixed maxima (issue 12) */
    {RES("'mem': 1"),
     "resources.mem: 1 is below the minimum of 6Mi (the smallest memory.max a task can start "
     "in)"},
    {RES("'mem': '6143Ki'"),
     "resources.mem: '6143Ki' is below the minimum of 6Mi (the smallest memory.max a task can "
     "start in)"},
    {RES("'mem': '6Mi'"), NULL},
    {RES("'mem_high': '1Mi'"),
     "resources.mem_high: '1Mi' is below the minimum of 6Mi (below it memory.high throttles a "
     "task from its start)"},
    {RES("'mem': '64Mi', 'mem_high': '6Mi'"), NULL},
    {RES("'pids': 5000000"),
     "resources.pids: 5000000 is out of range (1..4194304, the kernel's PID_MAX_LIMIT)"},
    {RES("'pids': 4194304"), NULL},
    {RES("'pids': 1"),
     "resources.pids: 1 is below the minimum of 2 with init (the init and the command are two "
     "processes; init: false runs with 1)"},
    {"{" B ", 'init': false, 'resources': {'pids': 1}}", NULL},
    {RES("'pids': 2"), NULL},
    {RES("'swap': 0"), NULL},
    {RES("'io': {}"), "resources.io: must be an array"},
    {IO("1"), "resources.io[0]: must be an object"},
    {IO("{'disk': 'sda', 'rbps': 1, 'iops': 2}"), "resources.io[0]: unknown key 'iops'"},
    {IO("{'rbps': 1}"), "resources.io[0]: needs exactly one of disk and device"},
    {IO("{'disk': 'sda', 'device': '/dev/sda', 'rbps': 1}"),
     "resources.io[0]: needs exactly one of disk and device"},
    {IO("{'disk': 'sd a', 'rbps': 1}"),
     "resources.io[0].disk: 'sd a' is not a disk name (like nvme0n1) or \"any\""},
    {IO("{'disk': 3, 'rbps': 1}"), "resources.io[0].disk: must be a string"},
    {IO("{'device': 'sda', 'rbps': 1}"), "resources.io[0].device: 'sda' is not an absolute path"},
    {IO("{'disk': 'sda', 'class': 'ssd', 'rbps': 1}"),
     "resources.io[0].class: 'ssd' is only allowed with disk \"any\""},
    {IO("{'device': '/dev/sda', 'class': 'ssd', 'rbps': 1}"),
     "resources.io[0].class: 'ssd' is only allowed with disk \"any\""},
    {IO("{'disk': 'any', 'class': 's s', 'rbps': 1}"), "resources.io[0].class: 's s' " NAME_RULE},
    {IO("{'disk': 'sda', 'rbps': '12Q'}"), "resources.io[0].rbps: '12Q' is not a quantity"},
    {IO("{'disk': 'sda', 'rbps': -5}"), "resources.io[0].rbps: -5 is negative"},
    {IO("{'disk': 'sda', 'wbps': '0Mi'}"), "resources.io[0].wbps: '0Mi' must be positive"},
    {IO("{'disk': 'sda', 'riops': 0.5}"), "resources.io[0].riops: 0.5 must be positive"},
    {IO("{'disk': 'sda', 'wiops': 0}"), "resources.io[0].wiops: 0 must be positive"},
    {IO("{'disk': 'sda', 'weight': 0}"), "resources.io[0].weight: 0 is out of range (1..10000)"},
    {IO("{'disk': 'sda', 'weight': 10001}"),
     "resources.io[0].weight: 10001 is out of range (1..10000)"},
    {IO("{'disk': 'sda'}"),
     "resources.io[0]: needs at least one of rbps, wbps, riops, wiops, weight"},
    {IO("{'disk': 'sda', 'rbps': 1}, {'disk': 'sda', 'wbps': 1}"),
     "resources.io[1]: disk 'sda' is already limited by resources.io[0]"},
    {IO("{'disk': 'any', 'rbps': 1}, {'disk': 'sdb', 'rbps': 1}, {'disk': 'any', 'wbps': 1}"),
     "resources.io[2]: disk 'any' is already limited by resources.io[0]"},
    {IO("{'device': '/dev/sda', 'rbps': 1}, {'device': '/dev/sda', 'wbps': 1}"),
     "resources.io[1]: device '/dev/sda' is already limited by resources.io[0]"},

    /* container */
    {"{" B ", 'container': 'debian'}", "container: must be an object"},
    {CT("'image': 'debian'"), "container: unknown key 'image'"},
    {CT("'rootfs': 'images/debian'"), "container.rootfs: 'images/debian' is not an absolute path"},
    {CT("'namespaces': 'pid'"), "container.namespaces: must be an array of strings"},
    {CT("'namespaces': [1]"), "container.namespaces[0]: must be a string"},
    {CT("'namespaces': ['pid', 'mount', 'pidd']"),
     "container.namespaces[2]: 'pidd' is not a namespace (pid, mount, uts, ipc, net, cgroup)"},
    {CT("'namespaces': ['pid', 'net', 'pid']"), "container.namespaces[2]: 'pid' is listed twice"},
    {CT("'network': 'overlay'"),
     "container.network: 'overlay' is not a network mode (bridge, none, host)"},
    {CT("'network': 'bridge', 'namespaces': ['net']"), NULL}, /* valid: bridge implies net */

/* container.ports and resources.net_egress (issue 15) */
#define BR(x) CT("'network': 'bridge', 'ports': [" x "]")
    {BR("{'container': 5432}"), NULL},
    {BR("{'container': 53, 'proto': 'udp'}, {'container': 53, 'host': 53}"), NULL},
    {BR("{'container': 1, 'host': 1}, {'container': 65535, 'host': 65535}"), NULL},
    {BR("{'container': 80}, {'container': 81, 'host': 70000}"),
     "container.ports[1].host: 70000 is not a port (1-65535, or 0 to have one chosen)"},
    {BR("{'container': 80, 'host': -1}"),
     "container.ports[0].host: -1 is not a port (1-65535, or 0 to have one chosen)"},
    {BR("{'container': 0}"), "container.ports[0].container: 0 is not a port (1-65535)"},
    {BR("{'container': 65536}"), "container.ports[0].container: 65536 is not a port (1-65535)"},
    {BR("{'container': '80'}"), "container.ports[0].container: must be an integer (a port)"},
    {BR("{'container': 80.5}"), "container.ports[0].container: must be an integer (a port)"},
    {BR("{'host': 8080}"), "container.ports[0].container: missing"},
    {BR("{'container': 80, 'proto': 'sctp'}"),
     "container.ports[0].proto: 'sctp' is not a protocol (tcp, udp)"},
    {BR("{'container': 80, 'proto': 'TCP'}"),
     "container.ports[0].proto: 'TCP' is not a protocol (tcp, udp)"},
    {BR("{'container': 80, 'hostPort': 80}"), "container.ports[0]: unknown key 'hostPort'"},
    {BR("80"), "container.ports[0]: must be an object"},
    {CT("'network': 'bridge', 'ports': {'container': 80}"), "container.ports: must be an array"},
    {BR("{'container': 80, 'host': 8080}, {'container': 81, 'host': 8081},"
        " {'container': 82, 'host': 8080, 'proto': 'tcp'}"),
     "container.ports[2].host: 8080/tcp is already mapped by container.ports[0]"},
    {BR("{'container': 80, 'host': 8080}, {'container': 81, 'host': 8080, 'proto': 'udp'}"), NULL},
    {BR("{'container': 80}, {'container': 81}, {'container': 82}"), NULL}, /* host 0 repeats */
    {BR("{'container': 80, 'host': 8080}, {'container': 80, 'host': 8081}"),
     "container.ports[1].container: 80/tcp is already published by container.ports[0]"},
    {CT("'ports': [{'container': 80}]"),
     "container.ports: needs network \"bridge\" (this task's network is \"host\")"},
    {CT("'network': 'none', 'ports': [{'container': 80}]"),
     "container.ports: needs network \"bridge\" (this task's network is \"none\")"},
    {CT("'network': 'host', 'ports': []"), NULL}, /* an empty list maps nothing */
#undef BR
    {"{" B ", 'resources': {'net_egress': '100M'}, 'container': {'network': 'bridge'}}", NULL},
    {"{" B ", 'resources': {'net_egress': '100M'}, 'container': {'network': 'none'}}",
     "resources.net_egress: needs container.network \"bridge\" (this task's network is "
     "\"none\": an egress limit is set on the task's own interface)"},
    {RES("'net_egress': '100M'"),
     "resources.net_egress: needs container.network \"bridge\" (this task's network is "
     "\"host\": an egress limit is set on the task's own interface)"},
    {"{" B ", 'resources': {'net_egress': '17179869176'}, 'container': {'network': 'bridge'}}",
     NULL},
    {"{" B ", 'resources': {'net_egress': '20G'}, 'container': {'network': 'bridge'}}",
     "resources.net_egress: 20000000000 is above the maximum of 17179869176 (tbf's 32-bit "
     "rate)"},
    /* NET_ADMIN in a bridge task's namespace would lift its egress limit (review 5, 1) */
    {"{" B ", 'capabilities': ['SYS_TIME', 'cap_net_admin'], 'container': {'network': 'bridge'}}",
     "capabilities[1]: NET_ADMIN cannot be given to a \"bridge\" task (it could remove its own "
     "egress limit, or change the address and routes the agent gave it)"},
    {"{" B ", 'capabilities': ['NET_ADMIN'], 'container': {'network': 'none'}}", NULL},
    {"{" B ", 'capabilities': ['NET_ADMIN']}", NULL},
    {RES("'net_egress': 0"), "resources.net_egress: 0 must be positive"},
    {RES("'net_egress': '1Z'"), "resources.net_egress: '1Z' is not a quantity"},
    {RES("'net_egress': 999"),
     "resources.net_egress: 999 is below the minimum of 1000 (1 kbit/s, as Kubernetes' "
     "bandwidth limits)"},
    {CT("'namespaces': ['net'], 'network': 'host'"),
     "container.network: 'host' cannot be combined with the net namespace"},
    {CT("'namespaces': ['uts'], 'hostname': 'a_b'"),
     "container.hostname: 'a_b' is not a valid hostname"},
    {CT("'namespaces': ['uts'], 'hostname': '-web'"),
     "container.hostname: '-web' is not a valid hostname"},
    {CT("'namespaces': ['uts'], 'hostname': 'web.'"),
     "container.hostname: 'web.' is not a valid hostname"},
    {CT("'hostname': 'web'"), "container.hostname: 'web' needs the uts namespace"},
    {CT("'volumes': {}"), "container.volumes: must be an array"},
    {CT("'volumes': ['/a:/b']"), "container.volumes[0]: must be an object"},
    {CT("'volumes': [{'source': '/a', 'target': '/b', 'ro': true}]"),
     "container.volumes[0]: unknown key 'ro'"},
    {CT("'volumes': [{'target': '/b'}]"),
     "container.volumes[0]: needs exactly one of source (a host path to bind) and name (a "
     "persistent volume)"},
    {CT("'volumes': [{'source': '/a'}]"), "container.volumes[0].target: missing"},
    {CT("'volumes': [{'source': 'a', 'target': '/b'}]"),
     "container.volumes[0].source: 'a' is not an absolute path"},
    {CT("'volumes': [{'source': '/a', 'target': 'b'}]"),
     "container.volumes[0].target: 'b' is not an absolute path"},
    {CT("'volumes': [{'source': '/', 'target': '/host'}]"),
     "container.volumes[0].source: '/' is the whole host; name the directories the task needs"},
    {CT("'volumes': [{'source': '//proc/./1', 'target': '/p'}]"),
     "container.volumes[0].source: '//proc/./1' is under /proc, the host's kernel interface"},
    {CT("'volumes': [{'source': '/dev/nullb0', 'target': '/host-dev/nullb0'}]"), NULL},
    {CT("'volumes': [{'source': '/a', 'target': '/dev/x'}]"),
     "container.volumes[0].target: '/dev/x' is under /dev, which the agent sets up itself"},
    {CT("'volumes': [{'source': '/a', 'target': '/sys/fs/cgroup/'}]"),
     "container.volumes[0].target: '/sys/fs/cgroup/' is under /sys, which the agent sets up "
     "itself"},
    {CT("'volumes': [{'source': '/a', 'target': '/system'}]"), NULL},
    {CT("'volumes': [{'source': '/a', 'target': '/data/../etc'}]"),
     "container.volumes[0].target: '/data/../etc' must not contain '..' (it would escape the "
     "rootfs)"},
    {CT("'volumes': [{'source': '/a', 'target': '/..'}]"),
     "container.volumes[0].target: '/..' must not contain '..' (it would escape the rootfs)"},
    {CT("'volumes': [{'source': '/a', 'target': '/'}]"),
     "container.volumes[0].target: '/' would hide the whole rootfs"},
    {CT("'volumes': [{'source': '/a', 'target': '//./'}]"),
     "container.volumes[0].target: '//./' would hide the whole rootfs"},
    {CT("'volumes': [{'source': '/a', 'target': '/b', 'readonly': 'yes'}]"),
     "container.volumes[0].readonly: must be a boolean"},
    {CT("'volumes': [{'source': '/a', 'target': '/data'}, {'source': '/b', 'target': '/data/'}]"),
     "container.volumes[1].target: '/data' is already the target of container.volumes[0]"},
    /* persistent volumes */
#define PV(x) CT("'volumes': [{" x "}]")
    {PV("'target': '/b', 'readonly': true"),
     "container.volumes[0]: needs exactly one of source (a host path to bind) and name (a "
     "persistent volume)"},
    {PV("'source': '/a', 'name': 'v', 'size': '1Gi', 'target': '/b'"),
     "container.volumes[0]: needs exactly one of source (a host path to bind) and name (a "
     "persistent volume)"},
    {PV("'name': 'pg/data', 'size': '1Gi', 'target': '/b'"),
     "container.volumes[0].name: 'pg/data' " NAME_RULE},
    {PV("'name': '..', 'size': '1Gi', 'target': '/b'"),
     "container.volumes[0].name: '..' " NAME_RULE},
    {PV("'name': '../etc', 'size': '1Gi', 'target': '/b'"),
     "container.volumes[0].name: '../etc' " NAME_RULE},
    {PV("'name': '', 'size': '1Gi', 'target': '/b'"), "container.volumes[0].name: '' " NAME_RULE},
    {PV("'name': 7, 'size': '1Gi', 'target': '/b'"), "container.volumes[0].name: must be a string"},
    {PV("'name': 'v', 'target': '/b'"), "container.volumes[0].size: missing"},
    {PV("'name': 'v', 'size': '2Gb', 'target': '/b'"),
     "container.volumes[0].size: '2Gb' is not a quantity"},
    {PV("'name': 'v', 'size': 'lots', 'target': '/b'"),
     "container.volumes[0].size: 'lots' is not a quantity"},
    {PV("'name': 'v', 'size': 0, 'target': '/b'"), "container.volumes[0].size: 0 must be positive"},
    {PV("'name': 'v', 'size': '0Gi', 'target': '/b'"),
     "container.volumes[0].size: '0Gi' must be positive"},
    {PV("'name': 'v', 'size': -5, 'target': '/b'"),
     "container.volumes[0].size: -5 is negative"},
    {PV("'name': 'v', 'size': true, 'target': '/b'"),
     "container.volumes[0].size: must be a number or a quantity string"},
    {PV("'name': 'v', 'size': '1Gi'"), "container.volumes[0].target: missing"},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b/../..'"),
     "container.volumes[0].target: '/b/../..' must not contain '..' (it would escape the rootfs)"},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'disk': 'nvme/0'"),
     "container.volumes[0].disk: 'nvme/0' is not a disk name (like nvme0n1) or \"any\""},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'disk': 3"),
     "container.volumes[0].disk: must be a string"},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'class': 's s'"),
     "container.volumes[0].class: 's s' " NAME_RULE},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'disk': 'sda', 'class': 'ssd'"),
     "container.volumes[0].class: 'ssd' is only allowed with disk \"any\""},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'disk': 'any', 'class': 'ssd'"), NULL},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'shared': 'yes'"),
     "container.volumes[0].shared: must be a boolean"},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'readonly': 1"),
     "container.volumes[0].readonly: must be a boolean"},
    {PV("'name': 'v', 'size': '1Gi', 'target': '/b', 'source_path': '/x'"),
     "container.volumes[0]: unknown key 'source_path'"},
    {PV("'source': '/a', 'target': '/b', 'size': '1Gi'"),
     "container.volumes[0].size: is only for a persistent volume (with name, not source)"},
    {PV("'source': '/a', 'target': '/b', 'shared': true"),
     "container.volumes[0].shared: is only for a persistent volume (with name, not source)"},
    {PV("'source': '/a', 'target': '/b', 'disk': 'any'"),
     "container.volumes[0].disk: is only for a persistent volume (with name, not source)"},
    {CT("'volumes': [{'name': 'v', 'size': '1Gi', 'target': '/a'},"
        " {'name': 'v', 'size': '1Gi', 'target': '/b'}]"),
     "container.volumes[1].name: 'v' is already mounted by container.volumes[0]"},
    {CT("'volumes': [{'name': 'v', 'size': '1Gi', 'target': '/a'},"
        " {'source': '/v', 'target': '/a'}]"),
     "container.volumes[1].target: '/a' is already the target of container.volumes[0]"},
    {"{" B ", 'capabilities': ['CHOWN', 'sys_resource'], 'container': {'volumes': [{'name': 'v',"
     " 'size': '1Gi', 'target': '/v'}]}}",
     "capabilities[1]: SYS_RESOURCE cannot be given to a task with a persistent volume (it could "
     "write past the volume's size)"},
    {"{" B ", 'capabilities': ['SYS_RESOURCE'], 'container': {'volumes': [{'source': '/a',"
     " 'target': '/v'}]}}",
     NULL},
#undef PV
    {CT("'devices': '/dev/sda'"), "container.devices: must be an array"},
    {CT("'devices': [8]"),
     "container.devices[0]: must be a device path or an object with path and access"},
    {CT("'devices': ['/tmp/x']"), "container.devices[0]: '/tmp/x' is not a device path (/dev/...)"},
    {CT("'devices': ['/dev/']"), "container.devices[0]: '/dev/' is not a device path (/dev/...)"},
    {CT("'devices': ['/dev/../etc/shadow']"),
     "container.devices[0]: '/dev/../etc/shadow' is not a device path (/dev/...)"},
    {CT("'devices': [{'path': '/dev/sda', 'mode': 'r'}]"),
     "container.devices[0]: unknown key 'mode'"},
    {CT("'devices': [{'access': 'r'}]"), "container.devices[0].path: missing"},
    {CT("'devices': [{'path': 'sda'}]"),
     "container.devices[0].path: 'sda' is not a device path (/dev/...)"},
    {CT("'devices': [{'path': '/dev/sda', 'access': 'rwx'}]"),
     "container.devices[0].access: 'rwx' is not a device access (a non-empty subset of rwm)"},
    {CT("'devices': [{'path': '/dev/sda', 'access': ''}]"),
     "container.devices[0].access: '' is not a device access (a non-empty subset of rwm)"},
    {CT("'devices': [{'path': '/dev/sda', 'access': 'rr'}]"),
     "container.devices[0].access: 'rr' is not a device access (a non-empty subset of rwm)"},
    {CT("'devices': [{'path': '/dev/sda', 'access': 7}]"),
     "container.devices[0].access: must be a string"},
    {CT("'devices': ['/dev/sda', {'path': '/dev/sda', 'access': 'r'}]"),
     "container.devices[1]: '/dev/sda' is already listed in container.devices[0]"},

    /* constraints */
    {"{" B ", 'constraints': 1}", "constraints: must be an object"},
    {CS("'host': 'a'"), "constraints: unknown key 'host'"},
    {CS("'hostname': 'node_3'"), "constraints.hostname: 'node_3' is not a valid hostname"},
    {CS("'hostname': ''"), "constraints.hostname: '' is not a valid hostname"},
    {CS("'attributes': ['rack']"), "constraints.attributes: must be an object of strings"},
    {CS("'attributes': {'rack': 1}"), "constraints.attributes.rack: must be a string"},
    {CS("'attributes': {'a b': 'x'}"),
     "constraints.attributes: 'a b' is not a valid attribute name"},
    {CS("'spread': 'rack'"), "constraints.spread: 'rack' is not a spread (hostname, none)"},
    {CS("'spread': 1"), "constraints.spread: must be a string"},
};

static void test_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
                _cleanup_free_ char *t = dq(error_cases[i].json), *error = NULL;
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = NULL;
                int r = silo_task_spec_from_string(t, &s, &error);

                if (!error_cases[i].error) {
                        if (r < 0)
                                fail_msg("%s: unexpected error %s", t, strempty(error));
                        continue;
                }
                if (r >= 0 || !streq_ptr(error, error_cases[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", t, r,
                                 strempty(error), error_cases[i].error);
                assert_null(s);
                assert_true(r == -EINVAL || r == -ERANGE);
        }
}

/* Arrays are bounded (container.devices and volumes 256, resources.io 64) before any element
 * is parsed, and duplicates are found in one pass: the last of 256 elements repeating the
 * fourth is named with both indexes (issue 12, finding 10). */
static char *spec_with_array(const char *section, const char *key, size_t n, size_t dup_of,
                             const char *(*elem)(size_t i, char *buf))
{
        json_t *arr = json_array(), *j;
        char buf[128], *text;

        for (size_t i = 0; i < n; i++)
                json_array_append_new(
                    arr, json_loads(elem(i == n - 1 && dup_of != SIZE_MAX ? dup_of : i, buf),
                                    JSON_DECODE_ANY, NULL));
        j = json_pack("{s:s, s:[s], s:{s:o}}", "name", "big", "command", "/bin/true", section,
                      key, arr);
        if (streq(section, "container"))
                json_object_set_new(json_object_get(j, "container"), "namespaces",
                                    json_pack("[s]", "mount"));
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(text);
        return text;
}

static const char *device_elem(size_t i, char *buf)
{
        snprintf(buf, 128, "\"/dev/d%zu\"", i);
        return buf;
}

static const char *volume_elem(size_t i, char *buf)
{
        /* "/v/3/" normalises to "/v/3": the same target as the fourth */
        snprintf(buf, 128, "{\"source\": \"/srv\", \"target\": \"/v/%zu%s\"}", i, i == 3 ? "/" : "");
        return buf;
}

static const char *io_elem(size_t i, char *buf)
{
        snprintf(buf, 128, "{\"disk\": \"sd%zu\", \"rbps\": 1}", i);
        return buf;
}

static void test_array_bounds(void **state)
{
        static const struct {
                const char *section, *key;
                size_t max;
                const char *(*elem)(size_t i, char *buf);
                const char *too_many, *dup;
        } cases[] = {
            {"container", "devices", 256, device_elem,
             "container.devices: 257 entries, at most 256 are allowed",
             "container.devices[255]: '/dev/d3' is already listed in container.devices[3]"},
            {"container", "volumes", 256, volume_elem,
             "container.volumes: 257 entries, at most 256 are allowed",
             "container.volumes[255].target: '/v/3' is already the target of container.volumes[3]"},
            {"resources", "io", 64, io_elem, "resources.io: 65 entries, at most 64 are allowed",
             "resources.io[63]: disk 'sd3' is already limited by resources.io[3]"},
        };
        (void)state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                _cleanup_free_ char *ok = spec_with_array(cases[c].section, cases[c].key,
                                                          cases[c].max, SIZE_MAX, cases[c].elem);
                _cleanup_free_ char *over = spec_with_array(
                    cases[c].section, cases[c].key, cases[c].max + 1, SIZE_MAX, cases[c].elem);
                _cleanup_free_ char *dup = spec_with_array(cases[c].section, cases[c].key,
                                                           cases[c].max, 3, cases[c].elem);
                _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;
                struct silo_task_spec *s = NULL;

                assert_int_equal(silo_task_spec_from_string(ok, &s, &e1), 0);
                s = silo_task_spec_free(s);
                assert_int_equal(silo_task_spec_from_string(over, &s, &e2), -EINVAL);
                assert_string_equal(e2, cases[c].too_many);
                assert_int_equal(silo_task_spec_from_string(dup, &s, &e3), -EINVAL);
                assert_string_equal(e3, cases[c].dup);
                assert_null(s);
        }
}

/* Values built in memory (not parsed from text) may hold a NUL: it would cut paths and argv. */
static void test_from_json_direct(void **state)
{
        json_t *j = json_pack("{s:s%, s:[s]}", "name", "a\0b", (size_t)3, "command", "x");
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        struct silo_task_spec *s = NULL;
        (void)state;

        assert_non_null(j);
        assert_int_equal(silo_task_spec_from_json(j, &s, &e1), -EINVAL);
        assert_string_equal(e1, "name: must not contain a NUL character");
        json_decref(j);

        j = json_string("spec");
        assert_int_equal(silo_task_spec_from_json(j, &s, &e2), -EINVAL);
        assert_string_equal(e2, "a task spec must be a JSON object");
        json_decref(j);
        assert_null(s);
}

static void test_syntax_errors(void **state)
{
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;
        struct silo_task_spec *s = NULL;
        (void)state;

        assert_int_equal(
            silo_task_spec_from_string("{\"name\": \"a\",\n  \"command\": [\"x\",]}", &s, &e1),
            -EINVAL);
        assert_non_null(e1);
        assert_true(strncmp(e1, "invalid JSON at line 2, column ", 31) == 0);
        /* A repeated key would silently drop one of the values. */
        assert_int_equal(silo_task_spec_from_string(
                             "{\"name\": \"a\", \"name\": \"b\", \"command\": [\"x\"]}", &s, &e2),
                         -EINVAL);
        assert_true(strncmp(e2, "invalid JSON at line 1, column ", 31) == 0);
        assert_non_null(strstr(e2, "duplicate object key"));
        assert_int_equal(silo_task_spec_from_string("", &s, &e3), -EINVAL);
        assert_true(strncmp(e3, "invalid JSON at line 1, column ", 31) == 0);
        assert_null(s);
        /* callers may not want the message */
        assert_int_equal(silo_task_spec_from_string("{}", &s, NULL), -EINVAL);
        assert_null(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_example),       cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_round_trips),   cmocka_unit_test(test_normalisation),
            cmocka_unit_test(test_persistent_volume),
            cmocka_unit_test(test_equal),         cmocka_unit_test(test_free_null),
            cmocka_unit_test(test_errors),        cmocka_unit_test(test_from_json_direct),
            cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_array_bounds),
            cmocka_unit_test(test_bridge_ports),  cmocka_unit_test(test_ports_bound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

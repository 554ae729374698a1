/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent registrations, agent resources and disks: round trips, defaults and every
 * validation error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

/* The agent resources of docs/PROTOCOL.md's registration example. */
static const char resources_example[] =
    "{'cpus': 16, 'mem': 68719476736, 'pids': 32768,"
    " 'disks': [{'device': '259:0', 'name': 'nvme0n1', 'path': '/dev/nvme0n1',"
    "            'read_bps': 3200000000, 'write_bps': 2100000000,"
    "            'read_iops': 650000, 'write_iops': 420000, 'class': 'ssd',"
    "            'mount': '/srv/nvme0', 'source': 'calibrated'}],"
    " 'attributes': {'rack': 'r1'}, 'ports': '20000-32767'}";

static const char registration_example[] =
    "{'agent_id': '0b7c6a52-3f0e-4c1e-9d7a-2f5b8e1c9a10', 'hostname': 'node-3',"
    " 'address': '10.0.0.3:5051', 'version': '0.1.0',"
    " 'resources': {'cpus': 16, 'mem': '64Gi', 'disks': [{'name': 'sda', 'class': 'hdd',"
    "               'read_bps': '150M', 'source': 'config'}, {'name': 'nvme0n1'}]},"
    " 'attributes': {'rack': 'r1', 'zone': 'z2'},"
    " 'tasks': [{'id': 'backup-7', 'state': 'RUNNING'}, {'id': 'scrub-1', 'state': 'STARTING'}],"
    " 'volumes': [{'name': 'pg-data', 'disk': 'sda', 'size': '2Gi', 'used_bytes': 4096, 'role': 'db'},"
    "             {'name': 'brick', 'disk': 'nvme0n1', 'size': 1, 'used_bytes': 0,"
    "              'state': 'creating'}]}";

static void test_resources_example(void **state)
{
        _cleanup_free_ char *t = dq(resources_example), *error = NULL, *t1 = NULL, *t2 = NULL;
        _cleanup_(silo_agent_resources_freep) struct silo_agent_resources *r = NULL, *back = NULL;
        const struct silo_disk *d;
        (void)state;

        assert_int_equal(silo_agent_resources_from_string(t, &r, &error), 0);
        assert_true(r->cpus == 16);
        assert_true(r->mem == 68719476736ULL);
        assert_int_equal(r->pids, 32768);
        assert_int_equal(r->n_disks, 1);
        d = &r->disks[0];
        assert_string_equal(d->device, "259:0");
        assert_string_equal(d->name, "nvme0n1");
        assert_string_equal(d->path, "/dev/nvme0n1");
        assert_true(d->figure[SILO_IO_RBPS] == 3200000000ULL);
        assert_true(d->figure[SILO_IO_WBPS] == 2100000000ULL);
        assert_int_equal(d->figure[SILO_IO_RIOPS], 650000);
        assert_int_equal(d->figure[SILO_IO_WIOPS], 420000);
        assert_string_equal(d->class, "ssd");
        assert_string_equal(d->mount, "/srv/nvme0");
        assert_string_equal(d->source, "calibrated");
        assert_int_equal(r->n_attributes, 1);
        assert_string_equal(r->attributes[0].key, "rack");
        assert_int_equal(r->port_min, 20000);
        assert_int_equal(r->port_max, 32767);

        t1 = silo_agent_resources_to_string(r);
        assert_non_null(strstr(t1, "\"ports\":\"20000-32767\""));
        assert_int_equal(silo_agent_resources_from_string(t1, &back, &error), 0);
        t2 = silo_agent_resources_to_string(back);
        assert_string_equal(t1, t2);
        assert_true(silo_agent_resources_equal(r, back));
}

static void test_registration(void **state)
{
        _cleanup_free_ char *t = dq(registration_example), *error = NULL, *t1 = NULL, *t2 = NULL;
        _cleanup_(silo_agent_registration_freep) struct silo_agent_registration *reg = NULL,
                                                                                *back = NULL,
                                                                                *copy = NULL;
        (void)state;

        assert_int_equal(silo_agent_registration_from_string(t, &reg, &error), 0);
        assert_string_equal(reg->agent_id, "0b7c6a52-3f0e-4c1e-9d7a-2f5b8e1c9a10");
        assert_string_equal(reg->hostname, "node-3");
        assert_string_equal(reg->address, "10.0.0.3:5051");
        assert_string_equal(reg->version, "0.1.0");
        assert_true(reg->resources.mem == 64ULL << 30);
        assert_int_equal(reg->resources.pids, 0); /* not reported */
        assert_int_equal(reg->resources.port_min, 0); /* no host ports offered */
        assert_int_equal(reg->resources.port_max, 0);
        assert_int_equal(reg->resources.n_disks, 2);
        assert_true(reg->resources.disks[0].figure[SILO_IO_RBPS] == 150000000);
        assert_int_equal(reg->resources.disks[0].figure[SILO_IO_WBPS], 0); /* unknown */
        assert_null(reg->resources.disks[1].class);
        assert_int_equal(reg->n_attributes, 2);
        assert_int_equal(reg->n_tasks, 2);
        assert_string_equal(reg->tasks[1].id, "scrub-1");
        assert_int_equal(reg->tasks[1].state, SILO_TASK_STARTING);
        assert_int_equal(reg->n_volumes, 2);
        assert_string_equal(reg->volumes[0].name, "pg-data");
        assert_string_equal(reg->volumes[0].disk, "sda");
        assert_true(reg->volumes[0].size == UINT64_C(2) << 30);
        assert_int_equal(reg->volumes[0].used_bytes, 4096);
        assert_int_equal(reg->volumes[1].used_bytes, 0);
        /* no "state" (an older agent): ready */
        assert_int_equal(reg->volumes[0].state, SILO_VOLUME_REPORT_READY);
        assert_int_equal(reg->volumes[1].state, SILO_VOLUME_REPORT_CREATING);
        /* the role its agent recorded (the master adopts it with the volume); none: NULL */
        assert_string_equal(reg->volumes[0].role, "db");
        assert_null(reg->volumes[1].role);

        t1 = silo_agent_registration_to_string(reg);
        assert_int_equal(silo_agent_registration_from_string(t1, &back, &error), 0);
        t2 = silo_agent_registration_to_string(back);
        assert_string_equal(t1, t2);
        copy = silo_agent_registration_dup(reg);
        assert_true(silo_agent_registration_equal(reg, copy));
        copy->tasks[0].state = SILO_TASK_LOST;
        assert_false(silo_agent_registration_equal(reg, copy));
        copy->tasks[0].state = reg->tasks[0].state;
        copy->volumes[1].used_bytes = 512;
        assert_false(silo_agent_registration_equal(reg, copy));
}

static void test_first_registration(void **state)
{
        _cleanup_free_ char *t =
            dq("{'hostname': 'node-1', 'address': '[::1]:5051', 'version': 'x',"
               " 'resources': {'cpus': 0.5, 'mem': 1}}");
        _cleanup_(silo_agent_registration_freep) struct silo_agent_registration *reg = NULL;
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_int_equal(silo_agent_registration_from_string(t, &reg, NULL), 0);
        assert_null(reg->agent_id);
        assert_int_equal(reg->n_tasks, 0);
        assert_int_equal(reg->resources.n_disks, 0);
        text = silo_agent_registration_to_string(reg);
        assert_string_equal(text, "{\"hostname\":\"node-1\",\"address\":\"[::1]:5051\","
                                  "\"version\":\"x\",\"resources\":{\"cpus\":0.5,\"mem\":1,"
                                  "\"disks\":[]},\"tasks\":[]}");
}

static void test_disk(void **state)
{
        _cleanup_(silo_disk_freep) struct silo_disk *d = NULL, *copy = NULL;
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_int_equal(silo_disk_from_string("{\"name\": \"md0\", \"device\": \"9:0\", "
                                               "\"read_iops\": \"1.5k\", \"size\": \"2Gi\"}",
                                               &d, NULL),
                         0);
        assert_int_equal(d->figure[SILO_IO_RIOPS], 1500);
        /* the bytes the master counts persistent volumes against */
        assert_true(d->size == UINT64_C(2) << 30);
        text = silo_disk_to_string(d);
        assert_string_equal(
            text, "{\"device\":\"9:0\",\"name\":\"md0\",\"read_iops\":1500,\"size\":2147483648}");
        copy = silo_disk_dup(d);
        assert_true(silo_disk_equal(d, copy));
        assert_null(silo_disk_free(NULL));
}

struct error_case {
        const char *json;
        const char *error;
};

#define R "'hostname': 'h', 'address': 'h:1', 'version': 'v'"
#define RES(x) "{" R ", 'resources': {'cpus': 1, 'mem': 1" x "}}"
#define DISK(x) RES(", 'disks': [{" x "}]")
#define NAME_RULE "is not a valid name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"

static const struct error_case registration_errors[] = {
    {"[]", "an agent registration must be a JSON object"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'port': 1}", "unknown key 'port'"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'agent_id': 'a b'}",
     "agent_id: 'a b' " NAME_RULE},
    {"{'address': 'h:1', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}", "hostname: missing"},
    {"{'hostname': 'h_1', 'address': 'h:1', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "hostname: 'h_1' is not a valid hostname"},
    {"{'hostname': 'h', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}", "address: missing"},
    {"{'hostname': 'h', 'address': 'h', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: 'h' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'h:0', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: 'h:0' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'h:65536', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: 'h:65536' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': ':5051', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: ':5051' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'h:50x', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: 'h:50x' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'h:+1', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: 'h:+1' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': '[]:1', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: '[]:1' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': '::1:5051', 'version': 'v', 'resources': {'cpus': 1, 'mem': 1}}",
     "address: '::1:5051' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'http://h:1', 'version': 'v', 'resources': {'cpus': 1, 'mem': "
     "1}}",
     "address: 'http://h:1' is not HOST:PORT (like 10.0.0.3:5051)"},
    {"{'hostname': 'h', 'address': 'h:1', 'resources': {'cpus': 1, 'mem': 1}}", "version: missing"},
    {"{'hostname': 'h', 'address': 'h:1', 'version': 1, 'resources': {'cpus': 1, 'mem': 1}}",
     "version: must be a string"},
    {"{" R "}", "resources: missing"},
    {"{" R ", 'resources': 16}", "resources: must be an object"},
    {RES(", 'cpu': 1"), "resources: unknown key 'cpu'"},
    {"{" R ", 'resources': {'mem': 1}}", "resources.cpus: missing"},
    {"{" R ", 'resources': {'cpus': 0, 'mem': 1}}", "resources.cpus: 0 must be positive"},
    {"{" R ", 'resources': {'cpus': 1}}", "resources.mem: missing"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 0}}", "resources.mem: 0 must be positive"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': '64GB'}}", "resources.mem: '64GB' is not a quantity"},
    {RES(", 'pids': -1"), "resources.pids: -1 is negative"},
#define PORT_RULE "is not a port range (MIN-MAX with 1 <= MIN <= MAX <= 65535, like 20000-32767)"
    {RES(", 'ports': '20000-32767'"), NULL},
    {RES(", 'ports': '1-65535'"), NULL},
    {RES(", 'ports': '8080'"), NULL}, /* one port */
    {RES(", 'ports': '8080-8080'"), NULL},
    {RES(", 'ports': '32767-20000'"), "resources.ports: '32767-20000' " PORT_RULE},
    {RES(", 'ports': '0-100'"), "resources.ports: '0-100' " PORT_RULE},
    {RES(", 'ports': '20000-70000'"), "resources.ports: '20000-70000' " PORT_RULE},
    {RES(", 'ports': '20000-'"), "resources.ports: '20000-' " PORT_RULE},
    {RES(", 'ports': '-5'"), "resources.ports: '-5' " PORT_RULE},
    {RES(", 'ports': '+1-5'"), "resources.ports: '+1-5' " PORT_RULE},
    {RES(", 'ports': '1 - 5'"), "resources.ports: '1 - 5' " PORT_RULE},
    {RES(", 'ports': '0000001-5'"), "resources.ports: '0000001-5' " PORT_RULE},
    {RES(", 'ports': ''"), "resources.ports: '' " PORT_RULE},
    {RES(", 'ports': 20000"), "resources.ports: must be a string"},
    {RES(", 'disks': {}"), "resources.disks: must be an array"},
    {RES(", 'disks': ['sda']"), "resources.disks[0]: must be an object"},
    {RES(", 'attributes': {'rack': 1}"), "resources.attributes.rack: must be a string"},
    {DISK("'name': 'sda', 'model': 'x'"), "resources.disks[0]: unknown key 'model'"},
    {DISK("'path': '/dev/sda'"), "resources.disks[0].name: missing"},
    {DISK("'name': 'sd/a'"), "resources.disks[0].name: 'sd/a' " NAME_RULE},
    {DISK("'name': 'sda', 'device': '8'"),
     "resources.disks[0].device: '8' is not a device number (MAJOR:MINOR)"},
    {DISK("'name': 'sda', 'device': '8:'"),
     "resources.disks[0].device: '8:' is not a device number (MAJOR:MINOR)"},
    {DISK("'name': 'sda', 'device': '8:0x'"),
     "resources.disks[0].device: '8:0x' is not a device number (MAJOR:MINOR)"},
    {DISK("'name': 'sda', 'path': 'sda'"),
     "resources.disks[0].path: 'sda' is not an absolute path"},
    {DISK("'name': 'sda', 'read_bps': '1.5GB'"),
     "resources.disks[0].read_bps: '1.5GB' is not a quantity"},
    {DISK("'name': 'sda', 'write_bps': -1"), "resources.disks[0].write_bps: -1 is negative"},
    {DISK("'name': 'sda', 'read_iops': true"),
     "resources.disks[0].read_iops: must be a number or a quantity string"},
    {DISK("'name': 'sda', 'write_iops': '1e3'"),
     "resources.disks[0].write_iops: '1e3' is not a quantity"},
    {DISK("'name': 'sda', 'class': 'fast disk'"),
     "resources.disks[0].class: 'fast disk' " NAME_RULE},
    {DISK("'name': 'sda', 'mount': 'srv'"),
     "resources.disks[0].mount: 'srv' is not an absolute path"},
    {DISK("'name': 'sda', 'source': 'guess'"),
     "resources.disks[0].source: 'guess' is not a figure source (calibrated, config)"},
    {RES(", 'disks': [{'name': 'sda'}, {'name': 'sdb'}, {'name': 'sda'}]"),
     "resources.disks[2].name: 'sda' is already used by resources.disks[0]"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'attributes': []}",
     "attributes: must be an object of strings"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'attributes': {'': 'x'}}",
     "attributes: '' is not a valid attribute name"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': {}}", "tasks: must be an array"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': ['t1']}", "tasks[0]: must be an object"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': [{'state': 'RUNNING'}]}",
     "tasks[0].id: missing"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': [{'id': 't', 'state': 'UP'}]}",
     "tasks[0].state: 'UP' is not a task state (PENDING, STAGING, STARTING, RUNNING, FINISHED, "
     "FAILED, KILLED, LOST)"},
    {"{" R
     ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': [{'id': 't', 'state': 'RUNNING', 'pid': 1}]}",
     "tasks[0]: unknown key 'pid'"},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'tasks': [{'id': 't', 'state': 'RUNNING'},"
     " {'id': 't', 'state': 'LOST'}]}",
     "tasks[1].id: 't' is already listed in tasks[0]"},
#define VOL(x) "{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'volumes': [" x "]}"
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 1, 'used_bytes': 0}"), NULL},
    {"{" R ", 'resources': {'cpus': 1, 'mem': 1}, 'volumes': {}}", "volumes: must be an array"},
    {VOL("'v'"), "volumes[0]: must be an object"},
    {VOL("{'disk': 'sda', 'size': 1, 'used_bytes': 0}"), "volumes[0].name: missing"},
    {VOL("{'name': 'a/b', 'disk': 'sda', 'size': 1, 'used_bytes': 0}"),
     "volumes[0].name: 'a/b' " NAME_RULE},
    {VOL("{'name': '..', 'disk': 'sda', 'size': 1, 'used_bytes': 0}"),
     "volumes[0].name: '..' " NAME_RULE},
    {VOL("{'name': 'v', 'size': 1, 'used_bytes': 0}"), "volumes[0].disk: missing"},
    {VOL("{'name': 'v', 'disk': 'any', 'size': 1, 'used_bytes': 0, 'path': '/x'}"),
     "volumes[0]: unknown key 'path'"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 0, 'used_bytes': 0}"),
     "volumes[0].size: 0 must be positive"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': '1X', 'used_bytes': 0}"),
     "volumes[0].size: '1X' is not a quantity"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 1}"), "volumes[0].used_bytes: missing"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 1, 'used_bytes': 0, 'state': 'made'}"),
     "volumes[0].state: 'made' is not a volume state (creating, ready, deleting)"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 1, 'used_bytes': -1}"),
     "volumes[0].used_bytes: -1 is negative"},
    {VOL("{'name': 'v', 'disk': 'sda', 'size': 1, 'used_bytes': 0},"
         " {'name': 'w', 'disk': 'sda', 'size': 1, 'used_bytes': 0},"
         " {'name': 'v', 'disk': 'sdb', 'size': 1, 'used_bytes': 0}"),
     "volumes[2].name: 'v' is already listed in volumes[0]"},
#undef VOL
};

static const struct error_case disk_errors[] = {
    {"{}", "name: missing"},
    {"{'name': 'sda', 'capacity': 1}", "unknown key 'capacity'"},
    {"{'name': 'sda', 'size': 'big'}", "size: 'big' is not a quantity"},
};

static void test_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(registration_errors); i++) {
                _cleanup_free_ char *t = dq(registration_errors[i].json), *error = NULL;
                _cleanup_(silo_agent_registration_freep) struct silo_agent_registration *reg = NULL;
                int r = silo_agent_registration_from_string(t, &reg, &error);

                if (!registration_errors[i].error) { /* valid */
                        if (r < 0)
                                fail_msg("%s: unexpected error %s", t, strempty(error));
                        continue;
                }
                if (r >= 0 || !streq_ptr(error, registration_errors[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", t, r,
                                 strempty(error), registration_errors[i].error);
                assert_null(reg);
        }
        for (size_t i = 0; i < ELEMENTSOF(disk_errors); i++) {
                _cleanup_free_ char *t = dq(disk_errors[i].json), *error = NULL;
                _cleanup_(silo_disk_freep) struct silo_disk *d = NULL;
                int r = silo_disk_from_string(t, &d, &error);

                if (r >= 0 || !streq_ptr(error, disk_errors[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", t, r,
                                 strempty(error), disk_errors[i].error);
        }
}

/* A registration's disks are bounded at 1024 and its tasks at 32768, and a duplicate at the
 * end of a full array is found (in one pass) with both indexes (issue 12, finding 10). */
static char *registration_with(size_t n_disks, size_t n_tasks, bool dup)
{
        json_t *disks = json_array(), *tasks = json_array(), *j;
        char id[32], *text;

        for (size_t i = 0; i < n_disks; i++) {
                snprintf(id, sizeof(id), "sd%zu", dup && i == n_disks - 1 ? (size_t)3 : i);
                json_array_append_new(disks, json_pack("{s:s}", "name", id));
        }
        for (size_t i = 0; i < n_tasks; i++) {
                snprintf(id, sizeof(id), "t%zu", dup && i == n_tasks - 1 ? (size_t)3 : i);
                json_array_append_new(tasks, json_pack("{s:s, s:s}", "id", id, "state", "RUNNING"));
        }
        j = json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:o}, s:o}", "hostname", "node-3", "address",
                      "10.0.0.3:5051", "version", "0.1.0", "resources", "cpus", 1, "mem", 1,
                      "disks", disks, "tasks", tasks);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        assert_non_null(text);
        return text;
}

static void test_registration_bounds(void **state)
{
        static const struct {
                size_t disks, tasks;
                bool dup;
                const char *error; /* NULL: accepted */
        } cases[] = {
            {1024, 0, false, NULL},
            {1025, 0, false, "resources.disks: 1025 entries, at most 1024 are allowed"},
            {1024, 0, true, "resources.disks[1023].name: 'sd3' is already used by resources.disks[3]"},
            {0, 32768, false, NULL},
            {0, 32769, false, "tasks: 32769 entries, at most 32768 are allowed"},
            {0, 32768, true, "tasks[32767].id: 't3' is already listed in tasks[3]"},
        };
        (void)state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                _cleanup_free_ char *t = registration_with(cases[c].disks, cases[c].tasks,
                                                           cases[c].dup), *error = NULL;
                _cleanup_(silo_agent_registration_freep) struct silo_agent_registration *reg = NULL;
                int r = silo_agent_registration_from_string(t, &reg, &error);

                if (!cases[c].error) {
                        if (r < 0)
                                fail_msg("case %zu: unexpected error %s", c, strempty(error));
                        assert_int_equal(reg->resources.n_disks, cases[c].disks);
                        assert_int_equal(reg->n_tasks, cases[c].tasks);
                        continue;
                }
                assert_int_equal(r, -EINVAL);
                assert_string_equal(error, cases[c].error);
                assert_null(reg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_resources_example),
            cmocka_unit_test(test_registration),
            cmocka_unit_test(test_first_registration),
            cmocka_unit_test(test_disk),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_registration_bounds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

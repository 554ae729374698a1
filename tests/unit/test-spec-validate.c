/* SPDX-License-Identifier: Apache-2.0 */
/* Task spec validation, message by message: every error the codec (silo_task_spec_from_json and
 * the parsers it calls: common/task-spec-json.c, resources-json.c, container-json.c, quantity.c,
 * json-util.c) can give, each with a spec that triggers it, asserted word for word with its
 * errno. What the agent and the master answer a refused launch (HTTP 400 and this message) is
 * decided here, so a change of wording shows up in this table first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

struct refusal {
        const char *json;
        int error; /* errno */
        const char *message;
};

#define B "'name': 't', 'command': ['x']"
#define TOP(x) "{" B ", " x "}"
#define RES(x) TOP("'resources': {" x "}")
#define IO(x) RES("'io': [" x "]")
#define CT(x) TOP("'container': {" x "}")
#define CS(x) TOP("'constraints': {" x "}")
#define NAME_RULE "is not a valid name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
#define CPULIST_RULE "is not a CPU list (ascending ranges of CPUs below 4096, like 0-3,5)"
#define RLIMITS "nofile, nproc, core, memlock, stack, fsize, as, cpu, data, locks, msgqueue, nice, rtprio, " \
                "sigpending, rss"
#define NOFILE_WHY "the kernel caps open files at fs.nr_open; a task needs stdin, stdout, stderr and one more " \
                   "to exec"
#define NAMESPACES "pid, mount, uts, ipc, net, cgroup"
#define ARRAY_OF_STRINGS "must be a non-empty array of strings"

static const struct refusal refusals[] = {
    /* json-util.c: the document, objects and their keys */
    {"", EINVAL, "invalid JSON at line 1, column 0: '[' or '{' expected near end of file"},
    {"{'name': 't',\n 'command': ['x',]}", EINVAL, "invalid JSON at line 2, column 18: unexpected token near ']'"},
    {"{'name': 'a', 'name': 'b', 'command': ['x']}", EINVAL,
     "invalid JSON at line 1, column 20: duplicate object key near '\"name\"'"},
    {"[1]", EINVAL, "a task spec must be a JSON object"},
    {TOP("'cpu': 2"), EINVAL, "unknown key 'cpu'"},
    {TOP("'resources': []"), EINVAL, "resources: must be an object"},
    {RES("'cpu': 2"), EINVAL, "resources: unknown key 'cpu'"},
    {IO("1"), EINVAL, "resources.io[0]: must be an object"},
    {IO("{'disk': 'sda', 'rbps': 1, 'iops': 2}"), EINVAL, "resources.io[0]: unknown key 'iops'"},
    {TOP("'container': 'debian'"), EINVAL, "container: must be an object"},
    {CT("'image': 'debian'"), EINVAL, "container: unknown key 'image'"},
    {CT("'volumes': ['/a:/b']"), EINVAL, "container.volumes[0]: must be an object"},
    {CT("'volumes': [{'source': '/a', 'target': '/b', 'ro': true}]"), EINVAL,
     "container.volumes[0]: unknown key 'ro'"},
    {CT("'devices': [{'path': '/dev/sda', 'mode': 'r'}]"), EINVAL, "container.devices[0]: unknown key 'mode'"},
    {TOP("'constraints': 1"), EINVAL, "constraints: must be an object"},
    {CS("'host': 'a'"), EINVAL, "constraints: unknown key 'host'"},
    {TOP("'rlimits': {'nofile': {'soft': 1, 'hard': 2, 'max': 3}}"), EINVAL,
     "rlimits.nofile: unknown key 'max'"},

    /* json-util.c: missing, types */
    {"{'command': ['x']}", EINVAL, "name: missing"},
    {"{'name': null, 'command': ['x']}", EINVAL, "name: missing"},
    {CT("'volumes': [{'target': '/b'}]"), EINVAL,
     "container.volumes[0]: needs exactly one of source (a host path to bind) and name (a "
     "persistent volume)"},
    {CT("'volumes': [{'source': '/a'}]"), EINVAL, "container.volumes[0].target: missing"},
    {CT("'devices': [{'access': 'r'}]"), EINVAL, "container.devices[0].path: missing"},
    {"{'name': 5, 'command': ['x']}", EINVAL, "name: must be a string"},
    {TOP("'id': 7"), EINVAL, "id: must be a string"},
    {TOP("'role': []"), EINVAL, "role: must be a string"},
    {TOP("'user': 0"), EINVAL, "user: must be a string"},
    {TOP("'group': 1"), EINVAL, "group: must be a string"},
    {RES("'cpuset': 3"), EINVAL, "resources.cpuset: must be a string"},
    {IO("{'disk': 3, 'rbps': 1}"), EINVAL, "resources.io[0].disk: must be a string"},
    {IO("{'device': 3, 'rbps': 1}"), EINVAL, "resources.io[0].device: must be a string"},
    {IO("{'disk': 'any', 'class': 3, 'rbps': 1}"), EINVAL, "resources.io[0].class: must be a string"},
    {CT("'rootfs': 1"), EINVAL, "container.rootfs: must be a string"},
    {CT("'network': 1"), EINVAL, "container.network: must be a string"},
    {CT("'namespaces': ['uts'], 'hostname': 1"), EINVAL, "container.hostname: must be a string"},
    {CT("'volumes': [{'source': 1, 'target': '/b'}]"), EINVAL, "container.volumes[0].source: must be a string"},
    {CT("'volumes': [{'source': '/a', 'target': 1}]"), EINVAL, "container.volumes[0].target: must be a string"},
    {CT("'devices': [{'path': 5}]"), EINVAL, "container.devices[0].path: must be a string"},
    {CT("'devices': [{'path': '/dev/sda', 'access': 7}]"), EINVAL, "container.devices[0].access: must be a string"},
    {CS("'hostname': 1"), EINVAL, "constraints.hostname: must be a string"},
    {CS("'spread': 1"), EINVAL, "constraints.spread: must be a string"},
    {TOP("'init': 1"), EINVAL, "init: must be a boolean"},
    {CT("'volumes': [{'source': '/a', 'target': '/b', 'readonly': 'yes'}]"), EINVAL,
     "container.volumes[0].readonly: must be a boolean"},
    {TOP("'priority': 1.5"), EINVAL, "priority: must be an integer"},
    {TOP("'priority': '10'"), EINVAL, "priority: must be an integer"},
    {TOP("'kill_grace_s': '10'"), EINVAL, "kill_grace_s: must be an integer"},
    {RES("'cpu_weight': 1.5"), EINVAL, "resources.cpu_weight: must be an integer"},
    {IO("{'disk': 'sda', 'weight': '5'}"), EINVAL, "resources.io[0].weight: must be an integer"},
    {TOP("'kill_grace_s': 3601"), ERANGE, "kill_grace_s: 3601 is out of range (0..3600)"},
    {TOP("'kill_grace_s': -1"), ERANGE, "kill_grace_s: -1 is out of range (0..3600)"},
    {RES("'cpu_weight': 0"), ERANGE, "resources.cpu_weight: 0 is out of range (1..10000)"},
    {RES("'cpu_weight': 10001"), ERANGE, "resources.cpu_weight: 10001 is out of range (1..10000)"},
    {IO("{'disk': 'sda', 'weight': 0}"), ERANGE, "resources.io[0].weight: 0 is out of range (1..10000)"},
    {IO("{'disk': 'sda', 'weight': 10001}"), ERANGE, "resources.io[0].weight: 10001 is out of range (1..10000)"},

    /* json-util.c: names, paths, enums, maps, arrays */
    {"{'name': 'a/b', 'command': ['x']}", EINVAL, "name: 'a/b' " NAME_RULE},
    {"{'name': '', 'command': ['x']}", EINVAL, "name: '' " NAME_RULE},
    {"{'name': '.hidden', 'command': ['x']}", EINVAL, "name: '.hidden' " NAME_RULE},
    {"{'name': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'command': ['x']}", EINVAL,
     "name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' " NAME_RULE},
    {TOP("'id': '../escape'"), EINVAL, "id: '../escape' " NAME_RULE},
    {TOP("'role': 'a:b'"), EINVAL, "role: 'a:b' " NAME_RULE},
    {TOP("'group': 'g/1'"), EINVAL, "group: 'g/1' " NAME_RULE},
    {IO("{'disk': 'any', 'class': 's s', 'rbps': 1}"), EINVAL, "resources.io[0].class: 's s' " NAME_RULE},
    {CT("'rootfs': 'images/debian'"), EINVAL, "container.rootfs: 'images/debian' is not an absolute path"},
    {IO("{'device': 'sda', 'rbps': 1}"), EINVAL, "resources.io[0].device: 'sda' is not an absolute path"},
    {CT("'volumes': [{'source': 'a', 'target': '/b'}]"), EINVAL,
     "container.volumes[0].source: 'a' is not an absolute path"},
    {CT("'volumes': [{'source': '/a', 'target': 'b'}]"), EINVAL,
     "container.volumes[0].target: 'b' is not an absolute path"},
    {CT("'network': 'overlay'"), EINVAL, "container.network: 'overlay' is not a network mode (bridge, none, host)"},
    {CS("'spread': 'rack'"), EINVAL, "constraints.spread: 'rack' is not a spread (hostname, none)"},
    {TOP("'env': ['A=1']"), EINVAL, "env: must be an object of strings"},
    {CS("'attributes': ['rack']"), EINVAL, "constraints.attributes: must be an object of strings"},
    {TOP("'env': {'A=B': 'x'}"), EINVAL, "env: 'A=B' is not a valid variable name (non-empty, without '=')"},
    {TOP("'env': {'': 'x'}"), EINVAL, "env: '' is not a valid variable name (non-empty, without '=')"},
    {CS("'attributes': {'a b': 'x'}"), EINVAL, "constraints.attributes: 'a b' is not a valid attribute name"},
    {TOP("'env': {'TZ': 1}"), EINVAL, "env.TZ: must be a string"},
    {CS("'attributes': {'rack': 1}"), EINVAL, "constraints.attributes.rack: must be a string"},
    {RES("'io': {}"), EINVAL, "resources.io: must be an array"},
    {CT("'volumes': {}"), EINVAL, "container.volumes: must be an array"},
    {CT("'devices': '/dev/sda'"), EINVAL, "container.devices: must be an array"},

    /* json-util.c: CPUs */
    {RES("'cpus': 'abc'"), EINVAL, "resources.cpus: 'abc' is not a number of CPUs"},
    {RES("'cpus': '500m'"), EINVAL, "resources.cpus: '500m' is not a number of CPUs"},
    {RES("'cpus': true"), EINVAL, "resources.cpus: must be a number"},
    {RES("'cpus': 0"), EINVAL, "resources.cpus: 0 must be positive"},
    {RES("'cpus': '0'"), EINVAL, "resources.cpus: '0' must be positive"},
    {RES("'cpus': -1"), EINVAL, "resources.cpus: -1 must be positive"},
    {RES("'cpus': 4097"), ERANGE, "resources.cpus: 4097 is out of range (0.01..4096)"},
    {RES("'cpus': 0.004"), EINVAL, "resources.cpus: 0.004 rounds to 0 (the minimum is 0.01)"},

    /* quantity.c */
    {RES("'mem': true"), EINVAL, "resources.mem: must be a number or a quantity string"},
    {RES("'mem': -5"), EINVAL, "resources.mem: -5 is negative"},
    {RES("'mem': -0.5"), EINVAL, "resources.mem: -0.5 is negative"},
    {RES("'mem': '-5Mi'"), EINVAL, "resources.mem: '-5Mi' is negative"},
    {RES("'mem': 1e20"), ERANGE, "resources.mem: 1e+20 is out of range"},
    {RES("'mem': '17179869184Gi'"), ERANGE, "resources.mem: '17179869184Gi' is out of range"},
    {RES("'mem': '12Q'"), EINVAL, "resources.mem: '12Q' is not a quantity"},
    {RES("'mem': '1K'"), EINVAL, "resources.mem: '1K' is not a quantity"},
    {RES("'mem': 0"), EINVAL, "resources.mem: 0 must be positive"},
    {RES("'mem': '0.1'"), EINVAL, "resources.mem: '0.1' must be positive"},
    {RES("'mem_high': 0"), EINVAL, "resources.mem_high: 0 must be positive"},
    {RES("'pids': 0"), EINVAL, "resources.pids: 0 must be positive"},
    {RES("'swap': -1"), EINVAL, "resources.swap: -1 is negative"},
    {RES("'swap': 'none'"), EINVAL, "resources.swap: 'none' is not a quantity"},
    {IO("{'disk': 'sda', 'rbps': '12Q'}"), EINVAL, "resources.io[0].rbps: '12Q' is not a quantity"},
    {IO("{'disk': 'sda', 'wbps': '0Mi'}"), EINVAL, "resources.io[0].wbps: '0Mi' must be positive"},
    {IO("{'disk': 'sda', 'riops': 0.5}"), EINVAL, "resources.io[0].riops: 0.5 must be positive"},
    {IO("{'disk': 'sda', 'wiops': -1}"), EINVAL, "resources.io[0].wiops: -1 is negative"},
    {TOP("'rlimits': {'nofile': '12Q'}"), EINVAL, "rlimits.nofile: '12Q' is not a quantity"},
    {TOP("'rlimits': {'nofile': true}"), EINVAL, "rlimits.nofile: must be a number or a quantity string"},
    {TOP("'rlimits': {'nofile': {'soft': 'x', 'hard': 2}}"), EINVAL, "rlimits.nofile.soft: 'x' is not a quantity"},
    {TOP("'rlimits': {'core': {'soft': 0, 'hard': -1}}"), EINVAL, "rlimits.core.hard: -1 is negative"},

    /* task-spec-json.c: command, user, capabilities */
    {"{'name': 't'}", EINVAL, "command: missing"},
    {"{'name': 't', 'command': 'ls'}", EINVAL, "command: " ARRAY_OF_STRINGS},
    {"{'name': 't', 'command': []}", EINVAL, "command: " ARRAY_OF_STRINGS},
    {"{'name': 't', 'command': ['ls', 1]}", EINVAL, "command: " ARRAY_OF_STRINGS " (element 1 is not a string)"},
    {"{'name': 't', 'command': ['']}", EINVAL,
     "command: " ARRAY_OF_STRINGS " (element 0 is not a non-empty string)"},
    {TOP("'user': 'a:b'"), EINVAL, "user: 'a:b' is not a user name or uid"},
    {TOP("'user': ''"), EINVAL, "user: '' is not a user name or uid"},
    {TOP("'capabilities': 'CAP_CHOWN'"), EINVAL, "capabilities: must be an array of strings"},
    {TOP("'capabilities': [21]"), EINVAL, "capabilities[0]: must be a string"},
    {TOP("'capabilities': ['CAP_CHOWN', 'CAP_FLY']"), EINVAL,
     "capabilities[1]: 'CAP_FLY' is not a capability (see capabilities(7))"},

    /* task-spec-json.c: rlimits */
    {TOP("'rlimits': [1]"), EINVAL, "rlimits: must be an object"},
    {TOP("'rlimits': {'nofiles': 1}"), EINVAL, "rlimits: 'nofiles' is not an rlimit (" RLIMITS ")"},
    {TOP("'rlimits': {'nofile': {'hard': 2}}"), EINVAL, "rlimits.nofile.soft: missing"},
    {TOP("'rlimits': {'nofile': {'soft': 2}}"), EINVAL, "rlimits.nofile.hard: missing"},
    {TOP("'rlimits': {'nofile': {'soft': 2048, 'hard': 1024}}"), EINVAL,
     "rlimits.nofile: soft limit 2048 is above hard limit 1024"},
    {TOP("'rlimits': {'core': {'soft': 'unlimited', 'hard': '1Gi'}}"), EINVAL,
     "rlimits.core: soft limit 'unlimited' is above hard limit '1Gi'"},
    {TOP("'rlimits': {'nofile': 'unlimited'}"), EINVAL,
     "rlimits.nofile: 'unlimited' is not allowed: give a number in 4..2147483584 (" NOFILE_WHY ")"},
    {TOP("'rlimits': {'nofile': {'soft': 1024, 'hard': 'unlimited'}}"), EINVAL,
     "rlimits.nofile.hard: 'unlimited' is not allowed: give a number in 4..2147483584 (" NOFILE_WHY ")"},
    {TOP("'rlimits': {'nofile': 2147483585}"), EINVAL,
     "rlimits.nofile: 2147483585 is out of range (4..2147483584; " NOFILE_WHY ")"},
    {TOP("'rlimits': {'nofile': {'soft': 0, 'hard': 1024}}"), EINVAL,
     "rlimits.nofile.soft: 0 is out of range (4..2147483584; " NOFILE_WHY ")"},
    {TOP("'rlimits': {'stack': '4Ki'}"), EINVAL,
     "rlimits.stack: '4Ki' is below the minimum of 64Ki (a smaller stack crashes programs at exec)"},
    {TOP("'rlimits': {'as': '1Mi'}"), EINVAL,
     "rlimits.as: '1Mi' is below the minimum of 16Mi (a smaller address space cannot load a program)"},
    {TOP("'rlimits': {'data': 0}"), EINVAL,
     "rlimits.data: 0 is below the minimum of 1Mi (a smaller data segment crashes programs at start)"},
    {TOP("'rlimits': {'cpu': 0}"), EINVAL, "rlimits.cpu: 0 is below the minimum of 1 (0 kills the task at once)"},
    {TOP("'rlimits': {'nice': 41}"), EINVAL,
     "rlimits.nice: 41 is out of range (0..40 or 'unlimited'; the nice ceiling is 20 - value)"},
    {TOP("'rlimits': {'nice': {'soft': 0, 'hard': 41}}"), EINVAL,
     "rlimits.nice.hard: 41 is out of range (0..40 or 'unlimited'; the nice ceiling is 20 - value)"},
    {TOP("'rlimits': {'rtprio': 100}"), EINVAL,
     "rlimits.rtprio: 100 is out of range (0..99 or 'unlimited'; real-time priorities are 0..99)"},

    /* resources-json.c */
    {RES("'cpuset': ''"), EINVAL, "resources.cpuset: '' " CPULIST_RULE},
    {RES("'cpuset': '3-1'"), EINVAL, "resources.cpuset: '3-1' " CPULIST_RULE},
    {RES("'cpuset': '4096'"), EINVAL, "resources.cpuset: '4096' " CPULIST_RULE},
    {RES("'mem': 1"), EINVAL,
     "resources.mem: 1 is below the minimum of 6Mi (the smallest memory.max a task can start in)"},
    {RES("'mem': '6143Ki'"), EINVAL,
     "resources.mem: '6143Ki' is below the minimum of 6Mi (the smallest memory.max a task can start in)"},
    {RES("'mem_high': '1Mi'"), EINVAL,
     "resources.mem_high: '1Mi' is below the minimum of 6Mi (below it memory.high throttles a task from its "
     "start)"},
    {RES("'mem': '512Mi', 'mem_high': '600Mi'"), EINVAL,
     "resources.mem_high: 600Mi is above mem (512Mi): memory.high must not exceed memory.max"},
    {RES("'pids': 5000000"), EINVAL, "resources.pids: 5000000 is out of range (1..4194304, the kernel's PID_MAX_LIMIT)"},
    {RES("'pids': 1"), EINVAL,
     "resources.pids: 1 is below the minimum of 2 with init (the init and the command are two processes; "
     "init: false runs with 1)"},
    {IO("{'rbps': 1}"), EINVAL, "resources.io[0]: needs exactly one of disk and device"},
    {IO("{'disk': 'sda', 'device': '/dev/sda', 'rbps': 1}"), EINVAL,
     "resources.io[0]: needs exactly one of disk and device"},
    {IO("{'disk': 'sd a', 'rbps': 1}"), EINVAL,
     "resources.io[0].disk: 'sd a' is not a disk name (like nvme0n1) or \"any\""},
    {IO("{'disk': 'sda', 'class': 'ssd', 'rbps': 1}"), EINVAL,
     "resources.io[0].class: 'ssd' is only allowed with disk \"any\""},
    {IO("{'disk': 'sda'}"), EINVAL, "resources.io[0]: needs at least one of rbps, wbps, riops, wiops, weight"},
    {IO("{'disk': 'sda', 'rbps': 1}, {'disk': 'sda', 'wbps': 1}"), EINVAL,
     "resources.io[1]: disk 'sda' is already limited by resources.io[0]"},
    {IO("{'device': '/dev/sda', 'rbps': 1}, {'device': '/dev/sda', 'wbps': 1}"), EINVAL,
     "resources.io[1]: device '/dev/sda' is already limited by resources.io[0]"},

    /* container-json.c */
    {CT("'namespaces': 'pid'"), EINVAL, "container.namespaces: must be an array of strings"},
    {CT("'namespaces': [1]"), EINVAL, "container.namespaces[0]: must be a string"},
    {CT("'namespaces': ['pid', 'mount', 'pidd']"), EINVAL,
     "container.namespaces[2]: 'pidd' is not a namespace (" NAMESPACES ")"},
    {CT("'namespaces': ['pid', 'net', 'pid']"), EINVAL, "container.namespaces[2]: 'pid' is listed twice"},
    {CT("'namespaces': ['net'], 'network': 'host'"), EINVAL,
     "container.network: 'host' cannot be combined with the net namespace"},
    {CT("'namespaces': ['uts'], 'hostname': 'a_b'"), EINVAL, "container.hostname: 'a_b' is not a valid hostname"},
    {CT("'hostname': 'web'"), EINVAL, "container.hostname: 'web' needs the uts namespace"},
    {CS("'hostname': 'node_3'"), EINVAL, "constraints.hostname: 'node_3' is not a valid hostname"},
    {CT("'volumes': [{'source': '/', 'target': '/host'}]"), EINVAL,
     "container.volumes[0].source: '/' is the whole host; name the directories the task needs"},
    {CT("'volumes': [{'source': '//proc/./1', 'target': '/p'}]"), EINVAL,
     "container.volumes[0].source: '//proc/./1' is under /proc, the host's kernel interface"},
    {CT("'volumes': [{'source': '/a', 'target': '/dev/x'}]"), EINVAL,
     "container.volumes[0].target: '/dev/x' is under /dev, which the agent sets up itself"},
    {CT("'volumes': [{'source': '/a', 'target': '/data/../etc'}]"), EINVAL,
     "container.volumes[0].target: '/data/../etc' must not contain '..' (it would escape the rootfs)"},
    {CT("'volumes': [{'source': '/a', 'target': '//./'}]"), EINVAL,
     "container.volumes[0].target: '//./' would hide the whole rootfs"},
    {CT("'volumes': [{'source': '/a', 'target': '/data'}, {'source': '/b', 'target': '/data/'}]"), EINVAL,
     "container.volumes[1].target: '/data' is already the target of container.volumes[0]"},
    {CT("'devices': [8]"), EINVAL, "container.devices[0]: must be a device path or an object with path and access"},
    {CT("'devices': ['/dev/../etc/shadow']"), EINVAL,
     "container.devices[0]: '/dev/../etc/shadow' is not a device path (/dev/...)"},
    {CT("'devices': [{'path': 'sda'}]"), EINVAL, "container.devices[0].path: 'sda' is not a device path (/dev/...)"},
    {CT("'devices': [{'path': '/dev/sda', 'access': 'rr'}]"), EINVAL,
     "container.devices[0].access: 'rr' is not a device access (a non-empty subset of rwm)"},
    {CT("'devices': ['/dev/sda', {'path': '/dev/sda', 'access': 'r'}]"), EINVAL,
     "container.devices[1]: '/dev/sda' is already listed in container.devices[0]"},
};

static void test_refusals(void **state)
{
        size_t failed = 0;
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(refusals); i++) {
                _cleanup_free_ char *t = dq(refusals[i].json), *error = NULL;
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = NULL;
                int r = silo_task_spec_from_string(t, &s, &error);

                if (r != -refusals[i].error || !streq_ptr(error, refusals[i].message) || s) {
                        print_error("%s:\n  got      %d \"%s\"\n  expected %d \"%s\"\n", t, r, strempty(error),
                                    -refusals[i].error, refusals[i].message);
                        failed++;
                }
        }
        assert_int_equal(failed, 0);
}

/* The specs one step inside each refused bound are taken: the table above tests the message, not
 * a rule stricter than the codec's. */
static void test_bounds_taken(void **state)
{
        static const char *const taken[] = {
            TOP("'kill_grace_s': 3600"),        TOP("'rlimits': {'nofile': 4}"),
            TOP("'rlimits': {'nofile': 2147483584}"), TOP("'rlimits': {'stack': '64Ki'}"),
            TOP("'rlimits': {'nice': 40}"),      TOP("'rlimits': {'rtprio': 'unlimited'}"),
            RES("'cpus': 4096"),                 RES("'cpus': 0.005"),
            RES("'cpu_weight': 10000"),          RES("'mem': '6Mi'"),
            RES("'mem': '64Mi', 'mem_high': '64Mi'"), RES("'pids': 4194304"),
            TOP("'init': false, 'resources': {'pids': 1}"), RES("'swap': 0"),
            CT("'volumes': [{'source': '/a', 'target': '/system'}]"),
            CT("'devices': [{'path': '/dev/sda', 'access': 'rwm'}]"),
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(taken); i++) {
                _cleanup_free_ char *t = dq(taken[i]), *error = NULL;
                _cleanup_(silo_task_spec_freep) struct silo_task_spec *s = NULL;

                if (silo_task_spec_from_string(t, &s, &error) < 0)
                        fail_msg("%s: refused: %s", t, strempty(error));
        }
}

/* Values built in memory rather than parsed from text may hold a NUL (the JSON parser refuses
 * \u0000): it would cut paths, argv and limits. */
static void test_nul_refusals(void **state)
{
        static const struct {
                const char *key; /* in "resources" when it starts with "resources." */
                const char *message;
        } cases[] = {
            {"name", "name: must not contain a NUL character"},
            {"resources.mem", "resources.mem: '1' is not a quantity"},
            {"env", "env.A: must be a string"},
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *j = json_pack("{s:s, s:[s]}", "name", "t", "command", "x");
                json_t *v = json_stringn("1\0x", 3);
                _cleanup_free_ char *error = NULL;
                struct silo_task_spec *s = NULL;

                assert_non_null(j);
                assert_non_null(v);
                if (streq(cases[i].key, "name"))
                        json_object_set_new(j, "name", v);
                else if (streq(cases[i].key, "env"))
                        json_object_set_new(j, "env", json_pack("{s:o}", "A", v));
                else
                        json_object_set_new(j, "resources", json_pack("{s:o}", "mem", v));
                assert_int_equal(silo_task_spec_from_json(j, &s, &error), -EINVAL);
                assert_string_equal(error, cases[i].message);
                assert_null(s);
                json_decref(j);
        }
}

static const char *device_elem(size_t i, char *buf, size_t n)
{
        snprintf(buf, n, "\"/dev/d%zu\"", i);
        return buf;
}

static const char *volume_elem(size_t i, char *buf, size_t n)
{
        snprintf(buf, n, "{\"source\": \"/srv\", \"target\": \"/v/%zu\"}", i);
        return buf;
}

static const char *io_elem(size_t i, char *buf, size_t n)
{
        snprintf(buf, n, "{\"disk\": \"sd%zu\", \"rbps\": 1}", i);
        return buf;
}

/* The array bounds (container.devices and volumes 256, resources.io 64) are checked before any
 * element is parsed. */
static void test_array_limits(void **state)
{
        static const struct {
                const char *section, *key;
                const char *(*elem)(size_t i, char *buf, size_t n);
                size_t max;
                const char *message;
        } cases[] = {
            {"container", "devices", device_elem, 256, "container.devices: 257 entries, at most 256 are allowed"},
            {"container", "volumes", volume_elem, 256, "container.volumes: 257 entries, at most 256 are allowed"},
            {"resources", "io", io_elem, 64, "resources.io: 65 entries, at most 64 are allowed"},
        };
        (void)state;

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                json_t *arr = json_array(), *j;
                _cleanup_free_ char *error = NULL;
                struct silo_task_spec *s = NULL;
                char buf[128];

                assert_non_null(arr);
                for (size_t i = 0; i <= cases[c].max; i++) {
                        assert_int_equal(json_array_append_new(
                                             arr, json_loads(cases[c].elem(i, buf, sizeof(buf)), JSON_DECODE_ANY, NULL)),
                                         0);
                }
                j = json_pack("{s:s, s:[s], s:{s:o}}", "name", "big", "command", "x", cases[c].section,
                              cases[c].key, arr);
                assert_non_null(j);
                assert_int_equal(silo_task_spec_from_json(j, &s, &error), -EINVAL);
                assert_string_equal(error, cases[c].message);
                assert_null(s);
                json_decref(j);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_bounds_taken),
            cmocka_unit_test(test_nul_refusals),
            cmocka_unit_test(test_array_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the agent's host port choice and checks (agent/task-ports.c): dynamic ports,
 * exhaustion, release, reload from checkpointed specs after a restart, fixed ports in use by a
 * task or a host process, outside the range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/task-ports.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

/* A probe with a fixed set of ports held by "host processes", and a count of its calls. */
struct fake_host {
        uint16_t bound[8];
        size_t n_bound;
        int fail; /* returned for every port when non-zero */
        unsigned calls;
};

static int fake_probe(uint16_t port, silo_port_proto proto, void *userdata)
{
        struct fake_host *h = userdata;

        (void)proto;
        h->calls++;
        if (h->fail)
                return h->fail;
        for (size_t i = 0; i < h->n_bound; i++)
                if (h->bound[i] == port)
                        return -EADDRINUSE;
        return 0;
}

static void test_dynamic_ports_differ_and_advance(void **state)
{
        struct agent_ports p = {.min = 20000, .max = 20009};
        struct silo_port_mapping m[3] = {
            {.container = 80}, {.container = 443}, {.container = 53, .proto = SILO_PORT_UDP}};
        struct silo_port_mapping again[1] = {{.container = 80}};
        struct fake_host h = {};
        (void)state;

        assert_int_equal(task_ports_choose(&p, m, 3, NULL, 0, fake_probe, &h, NULL), 0);
        assert_int_equal(m[0].host, 20000);
        assert_int_equal(m[1].host, 20001);
        /* UDP has its own ports: 20000/udp is free although 20000/tcp is taken. */
        assert_int_equal(m[2].host, 20000);
        /* The next task starts after the last one chosen, even with nothing in use. */
        assert_int_equal(task_ports_choose(&p, again, 1, NULL, 0, fake_probe, &h, NULL), 0);
        assert_int_equal(again[0].host, 20002);
}

static void test_fixed_before_dynamic(void **state)
{
        struct agent_ports p = {.min = 20000, .max = 20001};
        struct silo_port_mapping m[2] = {{.container = 80}, {.container = 81, .host = 20000}};
        struct fake_host h = {};
        (void)state;

        /* The dynamic entry comes first but must not take the port the second one names. */
        assert_int_equal(task_ports_choose(&p, m, 2, NULL, 0, fake_probe, &h, NULL), 0);
        assert_int_equal(m[0].host, 20001);
        assert_int_equal(m[1].host, 20000);
}

static void test_exhaustion(void **state)
{
        struct agent_ports p = {.min = 20000, .max = 20003};
        struct task_port_use used[] = {{20000, SILO_PORT_TCP, "t1"}, {20002, SILO_PORT_TCP, "t2"}};
        struct silo_port_mapping m[3] = {{.container = 1}, {.container = 2}, {.container = 3}};
        struct fake_host h = {.bound = {20001}, .n_bound = 1};
        _cleanup_free_ char *err = NULL;
        (void)state;

        /* 20000 and 20002 are tasks', 20001 a host process's: one port left for three entries. */
        assert_int_equal(task_ports_choose(&p, m, 3, used, 2, fake_probe, &h, &err), -EINVAL);
        assert_string_equal(err,
                            "container.ports[1].host: no free tcp port left in this agent's host "
                            "port range 20000-20003 (--task-ports): each is mapped to a task or "
                            "bound by a process");
        /* Nothing is written on a refusal, and the search position did not move. */
        assert_int_equal(m[0].host, 0);
        assert_int_equal(p.next[SILO_PORT_TCP], 0);
        /* One entry fits. */
        assert_int_equal(task_ports_choose(&p, m, 1, used, 2, fake_probe, &h, NULL), 0);
        assert_int_equal(m[0].host, 20003);
}

/* A fake agent whose tasks hold the ports of their specs. */
static struct task *task_with(const char *id, const char *spec_json, silo_task_state state)
{
        struct task *t = calloc(1, sizeof(*t));

        assert_non_null(t);
        t->id = strdup(id);
        t->spec = spec_of(spec_json);
        t->state = state;
        return t;
}

static void task_drop(struct task *t)
{
        silo_task_spec_free(t->spec);
        free(t->id);
        free(t);
}

#define BRIDGE_TASK(ports)                                                                         \
        "{'name': 'x', 'command': ['x'], 'container': {'network': 'bridge', 'ports': " ports "}}"

static void test_release_and_reuse(void **state)
{
        struct agent_ports p = {.min = 30000, .max = 30001};
        struct task *t1 =
            task_with("t1", BRIDGE_TASK("[{'container': 80, 'host': 30000}]"), SILO_TASK_RUNNING);
        struct task *t2 =
            task_with("t2", BRIDGE_TASK("[{'container': 80, 'host': 30001}]"), SILO_TASK_RUNNING);
        struct task *tasks[] = {t1, t2};
        struct agent a = {.tasks = tasks, .n_tasks = 2, .ports = &p};
        struct silo_port_mapping m[1] = {{.container = 80}};
        _cleanup_free_ struct task_port_use *used = NULL;
        _cleanup_free_ char *err = NULL;
        struct fake_host h = {};
        size_t n = 0;
        (void)state;

        assert_int_equal(task_ports_used(&a, NULL, &used, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(task_ports_choose(&p, m, 1, used, n, fake_probe, &h, &err), -EINVAL);
        assert_non_null(strstr(err, "no free tcp port left"));
        free(used);
        used = NULL;

        /* t1 ended: its port is free again. */
        t1->state = SILO_TASK_FINISHED;
        assert_int_equal(task_ports_used(&a, NULL, &used, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(used[0].port, 30001);
        assert_string_equal(used[0].task_id, "t2");
        assert_int_equal(task_ports_choose(&p, m, 1, used, n, fake_probe, &h, NULL), 0);
        assert_int_equal(m[0].host, 30000);

        /* The task being launched does not count against itself. */
        free(used);
        used = NULL;
        assert_int_equal(task_ports_used(&a, t2, &used, &n), 0);
        assert_int_equal(n, 0);
        task_drop(t1);
        task_drop(t2);
}

/* After a restart the ports chosen before come back from the tasks' checkpointed specs (the spec
 * as launched, with its chosen host ports), and a new choice avoids them. */
static void test_reload_after_restart(void **state)
{
        struct agent_ports before = {.min = 40000, .max = 40002};
        struct task *t = task_with("t1", BRIDGE_TASK("[{'container': 80}, {'container': 81}]"),
                                   SILO_TASK_RUNNING);
        struct task *tasks[1] = {t};
        struct agent a = {.tasks = tasks, .n_tasks = 1, .ports = &before};
        struct agent_ports after = {.min = 40000, .max = 40002};
        struct silo_port_mapping m[2] = {{.container = 1}, {.container = 2}};
        _cleanup_free_ struct task_port_use *used = NULL;
        _cleanup_free_ char *text = NULL, *err = NULL;
        struct silo_task_spec *reloaded = NULL;
        struct fake_host h = {};
        size_t n = 0;
        (void)state;

        assert_int_equal(
            task_ports_choose(&before, t->spec->container.ports, 2, NULL, 0, fake_probe, &h, NULL),
            0);
        text = silo_task_spec_to_string(t->spec);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"host\":40000"));
        assert_non_null(strstr(text, "\"host\":40001"));
        assert_int_equal(silo_task_spec_from_string(text, &reloaded, &err), 0);
        silo_task_spec_free(t->spec);
        t->spec = reloaded;

        a.ports = &after;
        assert_int_equal(task_ports_used(&a, NULL, &used, &n), 0);
        assert_int_equal(n, 2);
        /* One port of the three is left for a restarted agent: two entries do not fit, one does. */
        assert_int_equal(task_ports_choose(&after, m, 2, used, n, fake_probe, &h, &err), -EINVAL);
        assert_non_null(strstr(err, "container.ports[1].host: no free tcp port left"));
        assert_int_equal(task_ports_choose(&after, m, 1, used, n, fake_probe, &h, NULL), 0);
        assert_int_equal(m[0].host, 40002);
        task_drop(t);
}

static void test_fixed_port_refusals(void **state)
{
        struct agent_ports p = {.min = 20000, .max = 20010};
        struct task_port_use used[] = {{20005, SILO_PORT_UDP, "pg-1"}};
        struct silo_port_mapping out[1] = {{.container = 80, .host = 8080}};
        struct silo_port_mapping taken[2] = {
            {.container = 80}, {.container = 53, .host = 20005, .proto = SILO_PORT_UDP}};
        struct silo_port_mapping bound[1] = {{.container = 80, .host = 20007}};
        struct silo_port_mapping tcp_ok[1] = {{.container = 80, .host = 20005}};
        struct fake_host h = {.bound = {20007}, .n_bound = 1};
        char *err = NULL;
        (void)state;

        assert_int_equal(task_ports_choose(&p, out, 1, NULL, 0, fake_probe, &h, &err), -EINVAL);
        assert_string_equal(err,
                            "container.ports[0].host: 8080 is outside this agent's host port range "
                            "20000-20010 (--task-ports)");
        free(err);
        err = NULL;
        assert_int_equal(task_ports_choose(&p, taken, 2, used, 1, fake_probe, &h, &err), -EINVAL);
        assert_string_equal(err,
                            "container.ports[1].host: 20005/udp is already mapped to task pg-1");
        assert_int_equal(taken[0].host, 0);
        free(err);
        err = NULL;
        assert_int_equal(task_ports_choose(&p, bound, 1, used, 1, fake_probe, &h, &err), -EINVAL);
        assert_string_equal(
            err, "container.ports[0].host: 20007/tcp is bound by a process on this host");
        free(err);
        err = NULL;
        /* The same number in the other protocol is another port. */
        assert_int_equal(task_ports_choose(&p, tcp_ok, 1, used, 1, fake_probe, &h, NULL), 0);
        /* A probe that cannot tell is an error of this node, not a refusal, and names the port. */
        h.fail = -EMFILE;
        bound[0].host = 20008;
        assert_int_equal(task_ports_choose(&p, bound, 1, NULL, 0, fake_probe, &h, &err), -EMFILE);
        assert_non_null(strstr(err, "container.ports[0].host: checking whether 20008/tcp is free"));
        free(err);
}

/* The real probe against real sockets: a TCP listener and a bound UDP socket on loopback make
 * their ports unavailable; after they close, the ports are free. */
static void test_probe_bind_real_sockets(void **state)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        int tcp, udp;
        uint16_t tport, uport;
        (void)state;

        tcp = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(tcp >= 0);
        assert_int_equal(bind(tcp, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(tcp, 1), 0);
        assert_int_equal(getsockname(tcp, (struct sockaddr *)&sa, &len), 0);
        tport = ntohs(sa.sin_port);
        udp = socket(AF_INET, SOCK_DGRAM, 0);
        assert_true(udp >= 0);
        sa.sin_port = 0;
        assert_int_equal(bind(udp, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(udp, (struct sockaddr *)&sa, &len), 0);
        uport = ntohs(sa.sin_port);

        assert_int_equal(task_port_probe_bind(tport, SILO_PORT_TCP, NULL), -EADDRINUSE);
        assert_int_equal(task_port_probe_bind(uport, SILO_PORT_UDP, NULL), -EADDRINUSE);
        close(tcp);
        close(udp);
        assert_int_equal(task_port_probe_bind(tport, SILO_PORT_TCP, NULL), 0);
        assert_int_equal(task_port_probe_bind(uport, SILO_PORT_UDP, NULL), 0);
}

static void test_assign_without_network(void **state)
{
        struct task *t = task_with("t1", BRIDGE_TASK("[{'container': 80}]"), SILO_TASK_STARTING);
        struct agent a = {};
        _cleanup_free_ char *err = NULL;
        (void)state;

        assert_int_equal(task_ports_assign(&a, t, &err), -EINVAL);
        assert_non_null(strstr(err, "container.ports: this agent has no host ports to offer"));
        task_drop(t);
}

/* A standalone agent's client retrying a launch with `host: 0` gets the same spec as the task's,
 * which has its ports chosen; another spec stays another. */
static void test_retry_fills_chosen(void **state)
{
        struct task *t = task_with("t1",
                                   BRIDGE_TASK("[{'container': 80, 'host': 20001}, {'container': "
                                               "53, 'host': 20002, 'proto': 'udp'}]"),
                                   SILO_TASK_RUNNING);
        struct silo_task_spec *retry =
            spec_of(BRIDGE_TASK("[{'container': 80}, {'container': 53, 'proto': 'udp'}]"));
        struct silo_task_spec *other =
            spec_of(BRIDGE_TASK("[{'container': 80}, {'container': 54, 'proto': 'udp'}]"));
        (void)state;

        task_ports_fill_chosen(t, retry);
        assert_int_equal(retry->container.ports[0].host, 20001);
        assert_int_equal(retry->container.ports[1].host, 20002);
        assert_true(silo_task_spec_equal(t->spec, retry));
        task_ports_fill_chosen(t, other);
        assert_int_equal(other->container.ports[1].host, 0);
        assert_false(silo_task_spec_equal(t->spec, other));
        silo_task_spec_free(retry);
        silo_task_spec_free(other);
        task_drop(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_dynamic_ports_differ_and_advance),
            cmocka_unit_test(test_fixed_before_dynamic),
            cmocka_unit_test(test_exhaustion),
            cmocka_unit_test(test_release_and_reuse),
            cmocka_unit_test(test_reload_after_restart),
            cmocka_unit_test(test_fixed_port_refusals),
            cmocka_unit_test(test_probe_bind_real_sockets),
            cmocka_unit_test(test_assign_without_network),
            cmocka_unit_test(test_retry_fills_chosen),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

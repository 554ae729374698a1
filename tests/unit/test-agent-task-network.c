/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the task subnet and its address leases (agent/task-network.c) and the IPv4 parsing under them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/errno.h>

#include "agent/task-network.h"
#include "isolator/net-internal.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"

static char dir[] = "/tmp/silo-test-net-XXXXXX";

static int setup(void **state)
{
        (void)state;
        strcpy(dir, "/tmp/silo-test-net-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

/* The host routes 10.88.0.0/16 up to 10.88.1.x, and 10.88.3.0/24. */
static int routed_fake(const struct net_ipv4_net *net, bool *ret, char **ret_error)
{
        static const struct net_ipv4_net routes[] = {{(10u << 24) | (88u << 16), 23}, {(10u << 24) | (88u << 16) | (3u << 8), 24}};

        (void)ret_error;
        *ret = false;
        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                *ret |= net_ipv4_overlap(net, &routes[i]);
        return 0;
}

/* A host that routes all of 10/8 (a VPN) and 172.16.0.0/24: the choice moves to 172.16.1.0/24. */
static int routed_ten(const struct net_ipv4_net *net, bool *ret, char **ret_error)
{
        static const struct net_ipv4_net routes[] = {{10u << 24, 8}, {(172u << 24) | (16u << 16), 24}};

        (void)ret_error;
        *ret = false;
        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                *ret |= net_ipv4_overlap(net, &routes[i]);
        return 0;
}

/* Every private range routed. */
static int routed_all(const struct net_ipv4_net *net, bool *ret, char **ret_error)
{
        (void)net;
        (void)ret_error;
        *ret = true;
        return 0;
}

static int routed_fails(const struct net_ipv4_net *net, bool *ret, char **ret_error)
{
        (void)net;
        (void)ret;
        return error_set(ret_error, -ENOBUFS, "listing the routes: No buffer space available");
}

static const char *addr_str(uint32_t a)
{
        static char buf[INET_ADDRSTRLEN];

        return net_ipv4_to_string(a, buf);
}

static void test_parse(void **state)
{
        struct net_ipv4_net n;
        char *err = NULL;

        (void)state;
        assert_int_equal(net_ipv4_net_parse("10.88.0.0/24", &n, NULL), 0);
        assert_int_equal(n.addr, (10u << 24) | (88u << 16));
        assert_int_equal(n.prefix, 24);
        static const struct {
                const char *in, *msg;
        } bad[] = {
                {"10.88.0.0", "is not an IPv4 network"},
                {"10.88.0.1/24", "has host bits set (did you mean 10.88.0.0/24?)"},
                {"10.88.0.0/33", "the prefix length must be 0-32"},
                {"10.88.0.0/", "the prefix length must be 0-32"},
                {"10.88/16", "10.88 is not an IPv4 address"},
                {"fd00::/64", "fd00:: is not an IPv4 address"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(net_ipv4_net_parse(bad[i].in, &n, &err), -EINVAL);
                assert_non_null(strstr(err, bad[i].in));
                assert_non_null(strstr(err, bad[i].msg));
                free(err);
                err = NULL;
        }
}

/* libnl's codes back to the kernel's errno, and its messages worded as the kernel's. */
static void test_netlink_errors(void **state)
{
        char *err = NULL;

        (void)state;
        assert_int_equal(net_nl_errno(-NLE_EXIST), -EEXIST);
        assert_int_equal(net_nl_errno(NLE_EXIST), -EEXIST);
        assert_int_equal(net_nl_errno(-NLE_OBJ_NOTFOUND), -ENOENT);
        assert_int_equal(net_nl_errno(-NLE_PERM), -EPERM);
        assert_int_equal(net_nl_errno(-NLE_BUSY), -EBUSY);
        assert_int_equal(net_nl_errno(-NLE_PARSE_ERR), -EIO);
        assert_int_equal(net_nl_error(&err, -NLE_EXIST, "adding address %s to %s", "10.88.0.5/24", "silo0"),
                         -EEXIST);
        assert_string_equal(err, "adding address 10.88.0.5/24 to silo0: File exists");
        free(err);
        err = NULL;
        /* No errno for it: libnl's own words. */
        assert_int_equal(net_nl_error(&err, -NLE_PARSE_ERR, "listing links"), -EIO);
        assert_string_equal(err, "listing links: Unable to parse object");
        free(err);
}

static void test_resolv_conf(void **state)
{
        static const char stub[] = "# resolved's stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n";
        static const char upstream[] = "nameserver 192.0.2.53\nnameserver ::1\nsearch example.org\n";
        static const char plain[] = "nameserver 192.0.2.1\nnameserver 198.51.100.1\n";
        char *r;

        (void)state;
        /* A host file with real servers is kept as it is. */
        r = task_net_resolv_conf(plain, upstream);
        assert_string_equal(r, plain);
        free(r);
        /* Only resolved's stub: its upstream servers, without their own loopback entries. */
        r = task_net_resolv_conf(stub, upstream);
        assert_string_equal(r, "nameserver 192.0.2.53\nsearch example.org\n");
        free(r);
        /* A loopback stub that is not resolved's (no upstream list): the rest of the file. */
        r = task_net_resolv_conf(stub, NULL);
        assert_string_equal(r, "# resolved's stub\noptions edns0 trust-ad\nsearch example.org\n");
        free(r);
        r = task_net_resolv_conf(NULL, NULL);
        assert_string_equal(r, "");
        free(r);
}

static void test_default_subnet_kept(void **state)
{
        struct agent_network *n = NULL;
        char path[512];

        (void)state;
        /* 10.88.0/1 and .3 are routed: the first free one is 10.88.2.0/24. */
        assert_int_equal(agent_network_load(dir, NULL, NULL, routed_fake, &n, NULL), 0);
        assert_string_equal(addr_str(n->subnet.addr), "10.88.2.0");
        assert_int_equal(n->subnet.prefix, 24);
        assert_string_equal(n->bridge, "silo0");
        assert_string_equal(addr_str(agent_network_gateway(n)), "10.88.2.1");
        agent_network_free(n);
        snprintf(path, sizeof(path), "%s/network.json", dir);
        assert_int_equal(access(path, F_OK), 0);
        /* Kept: a later start takes it from the file, whatever routes the host has then. */
        assert_int_equal(agent_network_load(dir, NULL, NULL, NULL, &n, NULL), 0);
        assert_string_equal(addr_str(n->subnet.addr), "10.88.2.0");
        assert_string_equal(n->subnet_source, path);
        agent_network_free(n);
}

/* No 10.88.N.0/24 free: the other private ranges; none at all: -EADDRNOTAVAIL with the
 * reason (the agent starts without bridge mode), and nothing is stored. */
static void test_default_subnet_other_ranges(void **state)
{
        struct agent_network *n = NULL;
        char path[512], *err = NULL;

        (void)state;
        snprintf(path, sizeof(path), "%s/network.json", dir);
        assert_int_equal(agent_network_load(dir, NULL, NULL, routed_all, &n, &err), -EADDRNOTAVAIL);
        assert_null(n);
        assert_string_equal(err, "choosing the task subnet: the host routes every 10.88.N.0/24, "
                                 "172.16-31.N.0/24 and 192.168.N.0/24 already; give one with --task-subnet");
        free(err);
        err = NULL;
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(agent_network_load(dir, NULL, NULL, routed_fails, &n, &err), -EADDRNOTAVAIL);
        assert_string_equal(err, "choosing the task subnet: listing the routes: No buffer space available");
        free(err);
        assert_int_equal(agent_network_load(dir, NULL, NULL, routed_ten, &n, NULL), 0);
        assert_string_equal(addr_str(n->subnet.addr), "172.16.1.0");
        assert_int_equal(n->subnet.prefix, 24);
        agent_network_free(n);
}

static void test_option_errors(void **state)
{
        struct agent_network *n = NULL;
        char *err = NULL;

        (void)state;
        assert_int_equal(agent_network_load(dir, "10.0.0.1/8", NULL, NULL, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "--task-subnet: '10.0.0.1/8' has host bits set"));
        free(err);
        err = NULL;
        assert_int_equal(agent_network_load(dir, "10.0.0.0/31", NULL, NULL, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "--task-subnet: 10.0.0.0/31 has no room"));
        free(err);
        err = NULL;
        assert_int_equal(agent_network_load(dir, "10.0.0.0/24", "a-very-long-bridge-name", NULL, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "--task-bridge: 'a-very-long-bridge-name' is not an interface name"));
        free(err);
        assert_null(n);
}

static void test_allocate_exhaust_release(void **state)
{
        struct agent_network *n = NULL;
        const struct task_net_lease *le;
        char id[32], *err = NULL;

        (void)state;
        /* A /29: 8 addresses, network, gateway .1 and broadcast .7 excluded: .2 to .6. */
        assert_int_equal(agent_network_load(dir, "192.168.7.0/29", "br-test", NULL, &n, NULL), 0);
        for (int i = 0; i < 5; i++) {
                snprintf(id, sizeof(id), "task-%d", i);
                assert_int_equal(agent_network_allocate(n, id, &le, NULL), 0);
                assert_int_equal(le->address, n->subnet.addr + 2 + (uint32_t)i);
                assert_string_equal(le->task_id, id);
                snprintf(id, sizeof(id), "silo-task-%d", i);
                assert_string_equal(le->ifname, id);
        }
        /* The same task again: its lease, nothing new. */
        assert_int_equal(agent_network_allocate(n, "task-3", &le, NULL), 0);
        assert_string_equal(addr_str(le->address), "192.168.7.5");
        assert_int_equal(n->n_leases, 5);
        assert_int_equal(agent_network_room_check(n, &err), -ENOSPC);
        assert_string_equal(err, "task subnet 192.168.7.0/29 (--task-subnet) is exhausted: all 5 task addresses are in use");
        free(err);
        err = NULL;
        assert_int_equal(agent_network_allocate(n, "task-5", &le, &err), -ENOSPC);
        assert_non_null(strstr(err, "task subnet 192.168.7.0/29 (--task-subnet) is exhausted: all 5 task addresses are in use"));
        free(err);
        /* A release frees exactly one address; the next task gets that one. */
        assert_int_equal(agent_network_release(n, "task-1"), 0);
        assert_int_equal(agent_network_release(n, "task-1"), 0);
        assert_null(agent_network_lease(n, "task-1"));
        assert_int_equal(agent_network_allocate(n, "task-6", &le, NULL), 0);
        assert_string_equal(addr_str(le->address), "192.168.7.3");
        agent_network_free(n);
}

static void test_reload_no_collision(void **state)
{
        struct agent_network *n = NULL;
        const struct task_net_lease *le;
        uint32_t seen[8] = {};
        size_t k = 0;

        (void)state;
        assert_int_equal(agent_network_load(dir, "10.9.0.0/28", NULL, NULL, &n, NULL), 0);
        assert_int_equal(agent_network_allocate(n, "a", &le, NULL), 0);
        assert_int_equal(agent_network_allocate(n, "b", &le, NULL), 0);
        assert_int_equal(agent_network_allocate(n, "c", &le, NULL), 0);
        assert_int_equal(agent_network_release(n, "b"), 0);
        agent_network_free(n);

        /* An agent restart: the leases and where the search stopped come back from the file. */
        assert_int_equal(agent_network_load(dir, NULL, NULL, NULL, &n, NULL), 0);
        assert_string_equal(addr_str(n->subnet.addr), "10.9.0.0");
        assert_int_equal(n->subnet.prefix, 28);
        assert_int_equal(n->n_leases, 2);
        assert_non_null((le = agent_network_lease(n, "a")));
        assert_string_equal(addr_str(le->address), "10.9.0.2");
        assert_string_equal(le->ifname, "silo-a");
        assert_non_null((le = agent_network_lease(n, "c")));
        assert_string_equal(addr_str(le->address), "10.9.0.4");
        /* New tasks never get a leased address; b's released .3 is not reused at once. */
        assert_int_equal(agent_network_allocate(n, "d", &le, NULL), 0);
        assert_string_equal(addr_str(le->address), "10.9.0.5");
        for (size_t i = 0; i < n->n_leases; i++)
                seen[k++] = n->leases[i].address;
        for (int i = 0; i < 20; i++) {
                char id[16];

                snprintf(id, sizeof(id), "x%d", i);
                if (agent_network_allocate(n, id, &le, NULL) < 0)
                        break;
                for (size_t j = 0; j < k; j++)
                        assert_int_not_equal(le->address, seen[j]);
                if (k < ELEMENTSOF(seen))
                        seen[k++] = le->address;
        }
        /* /28: 16 - 3 = 13 addresses in all. */
        assert_int_equal(n->n_leases, 13);
        agent_network_free(n);
}

static void test_ifname_collision(void **state)
{
        struct agent_network *n = NULL;
        const struct task_net_lease *a, *b;

        (void)state;
        assert_int_equal(agent_network_load(dir, "10.9.0.0/24", NULL, NULL, &n, NULL), 0);
        /* Two ids with the same first 10 characters get different veth names. */
        assert_int_equal(agent_network_allocate(n, "0123456789-first", &a, NULL), 0);
        assert_string_equal(a->ifname, "silo-0123456789");
        assert_int_equal(agent_network_allocate(n, "0123456789-second", &b, NULL), 0);
        a = agent_network_lease(n, "0123456789-first");
        assert_string_not_equal(a->ifname, b->ifname);
        assert_int_equal(strlen(b->ifname), 15);
        agent_network_free(n);
}

static void test_bad_state_file(void **state)
{
        struct agent_network *n = NULL;
        char path[512], *err = NULL;
        static const char text[] = "{\"subnet\": \"10.9.0.0/24\", \"leases\": [{\"task\": \"a\", \"address\": \"10.9.0.300\", \"interface\": \"silo-a\"}]}";

        (void)state;
        snprintf(path, sizeof(path), "%s/network.json", dir);
        assert_int_equal(file_write_atomic(path, text, strlen(text), 0600), 0);
        assert_int_equal(agent_network_load(dir, NULL, NULL, NULL, &n, &err), -EINVAL);
        assert_non_null(strstr(err, "leases[0].address: '10.9.0.300' is not an IPv4 address"));
        assert_non_null(strstr(err, path));
        free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_netlink_errors),
                cmocka_unit_test(test_resolv_conf),
                cmocka_unit_test_setup_teardown(test_default_subnet_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_subnet_other_ranges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_option_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_allocate_exhaust_release, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_no_collision, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ifname_collision, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_state_file, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

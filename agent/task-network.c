/* SPDX-License-Identifier: Apache-2.0 */
/* The task subnet and its address leases: chosen once, persisted atomically, never handing out an address twice. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/task-network.h"
#include "common/array.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "common/json-util.h"
#include "common/macro.h"

#define STATE_MAX_BYTES (4u << 20)
#define DEFAULT_PREFIX 24u
#define IPV4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))

/* Where a default subnet is looked for, in order: 10.88.N.0/24, as Podman's default network
 * (10.88.0.0/16) sits there; then the other private ranges, 172.16-31.N.0/24 and
 * 192.168.N.0/24, for a host that routes all of 10/8 (a VPN, a cloud network). N grows past
 * what the host routes already. */
static const struct {
        uint32_t base;
        unsigned count;         /* /24s from base */
} default_ranges[] = {
        {IPV4(10, 88, 0, 0), 256},
        {IPV4(172, 16, 0, 0), 16 * 256},
        {IPV4(192, 168, 0, 0), 256},
};

struct agent_network *agent_network_free(struct agent_network *n)
{
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_leases; i++)
                free(n->leases[i].task_id);
        free(n->leases);
        free(n->subnet_source);
        free(n->bridge);
        free(n->state_path);
        free(n->netns_dir);
        free(n);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_network *, agent_network_free);

static char *net_to_string(const struct net_ipv4_net *net)
{
        char buf[INET_ADDRSTRLEN], *s;

        return asprintf(&s, "%s/%u", net_ipv4_to_string(net->addr, buf), net->prefix) < 0 ? NULL : s;
}

uint32_t agent_network_gateway(const struct agent_network *n)
{
        return n->subnet.addr + 1;
}

/* Usable task addresses: between the gateway and the broadcast address, both excluded. */
static uint32_t host_count(const struct agent_network *n)
{
        uint64_t size = UINT64_C(1) << (32 - n->subnet.prefix);

        return size < 4 ? 0 : (uint32_t)(size - 3);
}

/* Leased addresses of the current subnet (leases of an earlier one do not take its room). */
static size_t leases_in_subnet(const struct agent_network *n)
{
        size_t k = 0;

        for (size_t i = 0; i < n->n_leases; i++)
                if (net_ipv4_overlap(&n->subnet, &(struct net_ipv4_net){n->leases[i].address, 32}))
                        k++;
        return k;
}

static int exhausted(const struct agent_network *n, char **ret_error)
{
        _cleanup_free_ char *s = net_to_string(&n->subnet);

        return error_set(ret_error, -ENOSPC, "task subnet %s (%s) is exhausted: all %u task "
                         "addresses are in use", s ? s : "?", n->subnet_source, host_count(n));
}

int agent_network_room_check(const struct agent_network *n, char **ret_error)
{
        return leases_in_subnet(n) < host_count(n) ? 0 : exhausted(n, ret_error);
}

struct task_net_lease *agent_network_lease(const struct agent_network *n, const char *task_id)
{
        for (size_t i = 0; i < n->n_leases; i++)
                if (streq(n->leases[i].task_id, task_id))
                        return &n->leases[i];
        return NULL;
}

static bool address_leased(const struct agent_network *n, uint32_t a)
{
        for (size_t i = 0; i < n->n_leases; i++)
                if (n->leases[i].address == a)
                        return true;
        return false;
}

static bool ifname_leased(const struct agent_network *n, const char *name)
{
        for (size_t i = 0; i < n->n_leases; i++)
                if (streq(n->leases[i].ifname, name))
                        return true;
        return false;
}

/* "silo-" and the id's first 10 characters (what `ip link` shows stays recognisable), or,
 * when another task's veth has that name, 10 hex digits of the id's hash. */
static void ifname_choose(const struct agent_network *n, const char *task_id, char ret[16])
{
        size_t p = strlen(TASK_NET_IFNAME_PREFIX);

        memcpy(ret, TASK_NET_IFNAME_PREFIX, p);
        for (size_t i = 0; task_id[i] && p < IFNAMSIZ - 1; i++, p++) {
                char c = task_id[i];

                ret[p] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                         c == '-' || c == '_' ? c : '_';
        }
        ret[p] = '\0';
        if (ifname_leased(n, ret))
                snprintf(ret, 16, "%s%010llx", TASK_NET_IFNAME_PREFIX,
                         (unsigned long long)(hash_fnv1a(0xcbf29ce484222325ULL, task_id, strlen(task_id)) &
                                              0xffffffffffULL));
}

static int state_save(const struct agent_network *n)
{
        _cleanup_free_ char *subnet = net_to_string(&n->subnet), *text = NULL;
        char buf[INET_ADDRSTRLEN];
        json_t *j, *leases = json_array();

        if (!subnet || !leases) {
                json_decref(leases);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n->n_leases; i++)
                json_array_append_new(leases, json_pack("{s:s, s:s, s:s}", "task", n->leases[i].task_id,
                                                        "address",
                                                        net_ipv4_to_string(n->leases[i].address, buf),
                                                        "interface", n->leases[i].ifname));
        j = json_pack("{s:i, s:s, s:s, s:s, s:o}", "version", 1, "subnet", subnet, "bridge", n->bridge,
                      "last", net_ipv4_to_string(n->last, buf), "leases", leases);
        if (!j)
                return -ENOMEM;
        text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return file_write_atomic(n->state_path, text, strlen(text), 0600);
}

/* One lease of the state file; every field is named in the error. */
static int lease_from_json(struct agent_network *n, json_t *l, size_t i, char **ret_error)
{
        const char *task = NULL, *addr = NULL, *ifname = NULL;
        struct task_net_lease *le;
        uint32_t a;

        if (json_unpack(l, "{s:s, s:s, s:s}", "task", &task, "address", &addr, "interface", &ifname) < 0)
                return error_set(ret_error, -EINVAL, "%s: leases[%zu]: needs task, address and interface",
                                 n->state_path, i);
        if (net_ipv4_from_string(addr, &a) < 0)
                return error_set(ret_error, -EINVAL, "%s: leases[%zu].address: '%s' is not an IPv4 address",
                                 n->state_path, i, addr);
        if (strlen(ifname) >= IFNAMSIZ || address_leased(n, a) || agent_network_lease(n, task))
                return error_set(ret_error, -EINVAL, "%s: leases[%zu]: %s (%s, %s) repeats another lease or "
                                 "has an invalid interface name", n->state_path, i, task, addr, ifname);
        if (!ARRAY_GROW(n->leases, n->cap_leases, n->n_leases + 1))
                return -ENOMEM;
        le = &n->leases[n->n_leases];
        *le = (struct task_net_lease){.task_id = strdup(task), .address = a};
        if (!le->task_id)
                return -ENOMEM;
        strcpy(le->ifname, ifname);
        n->n_leases++;
        return 0;
}

static int state_load(struct agent_network *n, struct net_ipv4_net *ret_subnet, bool *ret_found,
                      char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        const char *subnet = NULL, *last = NULL;
        json_t *j = NULL, *leases = NULL;
        int r;

        r = file_read_full(n->state_path, STATE_MAX_BYTES, &text, NULL);
        if (r == -ENOENT) {
                *ret_found = false;
                return 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "reading %s: %s", n->state_path, strerror(-r));
        r = json_parse_text(text, &j, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "%s", n->state_path);
        if (json_unpack(j, "{s:s, s?s, s:o}", "subnet", &subnet, "last", &last, "leases", &leases) < 0 ||
            !json_is_array(leases)) {
                json_decref(j);
                return error_set(ret_error, -EINVAL, "%s: needs \"subnet\" and a \"leases\" array",
                                 n->state_path);
        }
        r = net_ipv4_net_parse(subnet, ret_subnet, ret_error);
        if (r < 0)
                r = error_wrap(ret_error, r, "%s: subnet", n->state_path);
        if (r >= 0 && last && net_ipv4_from_string(last, &n->last) < 0)
                r = error_set(ret_error, -EINVAL, "%s: last: '%s' is not an IPv4 address", n->state_path, last);
        for (size_t i = 0; r >= 0 && i < json_array_size(leases); i++)
                r = lease_from_json(n, json_array_get(leases, i), i, ret_error);
        json_decref(j);
        *ret_found = true;
        return r;
}

static int subnet_choose(task_net_routed_fn routed, struct net_ipv4_net *ret, char **ret_error)
{
        for (size_t k = 0; k < ELEMENTSOF(default_ranges); k++)
                for (unsigned i = 0; i < default_ranges[k].count; i++) {
                        struct net_ipv4_net c = {.addr = default_ranges[k].base + (i << 8),
                                                 .prefix = DEFAULT_PREFIX};
                        bool used = false;
                        int r = routed ? routed(&c, &used, ret_error) : 0;

                        if (r < 0)
                                return error_wrap(ret_error, r, "choosing the task subnet");
                        if (!used) {
                                *ret = c;
                                return 0;
                        }
                }
        return error_set(ret_error, -EADDRINUSE, "choosing the task subnet: the host routes every "
                         "10.88.N.0/24, 172.16-31.N.0/24 and 192.168.N.0/24 already; give one "
                         "with --task-subnet");
}

int agent_network_options_check(const char *subnet_opt, const char *bridge, struct net_ipv4_net *ret_subnet,
                                char **ret_error)
{
        struct net_ipv4_net subnet = {};
        int r;

        if (bridge && (strlen(bridge) >= IFNAMSIZ || !bridge[0] || strpbrk(bridge, "/ \t\n:")))
                return error_set(ret_error, -EINVAL, "--task-bridge: '%s' is not an interface name "
                                 "(1-15 characters, no '/', ':' or space)", bridge);
        if (!subnet_opt)
                return 0;
        r = net_ipv4_net_parse(subnet_opt, &subnet, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "--task-subnet");
        if (subnet.prefix > 30)
                return error_set(ret_error, -EINVAL, "--task-subnet: %s has no room for a gateway and a "
                                 "task (a prefix of at most /30)", subnet_opt);
        if (ret_subnet)
                *ret_subnet = subnet;
        return 0;
}

int agent_network_load(const char *state_dir, const char *subnet_opt, const char *bridge,
                       task_net_routed_fn routed, struct agent_network **ret, char **ret_error)
{
        _cleanup_(agent_network_freep) struct agent_network *n = calloc(1, sizeof(*n));
        struct net_ipv4_net stored = {};
        bool found = false;
        int r;

        if (!n)
                return -ENOMEM;
        if (asprintf(&n->state_path, "%s/%s", state_dir, TASK_NET_STATE_FILE) < 0 ||
            asprintf(&n->netns_dir, "%s/%s", state_dir, TASK_NET_NETNS_DIR) < 0) {
                n->state_path = n->netns_dir = NULL;
                return -ENOMEM;
        }
        n->bridge = strdup(bridge ? bridge : TASK_NET_DEFAULT_BRIDGE);
        if (!n->bridge)
                return -ENOMEM;
        r = agent_network_options_check(subnet_opt, n->bridge, &n->subnet, ret_error);
        if (r < 0)
                return r;
        r = state_load(n, &stored, &found, ret_error);
        if (r < 0)
                return r;
        if (subnet_opt) {
                n->subnet_source = strdup("--task-subnet");
        } else if (found) {
                n->subnet = stored;
                n->subnet_source = strdup(n->state_path);
        } else {
                r = subnet_choose(routed, &n->subnet, ret_error);
                if (r < 0)
                        return -EADDRNOTAVAIL; /* the reason is in *ret_error */
                n->subnet_source = strdup("chosen at first start");
        }
        if (!n->subnet_source)
                return -ENOMEM;
        if (!found || subnet_opt) {
                r = state_save(n);
                if (r < 0)
                        return error_set(ret_error, r, "writing %s: %s", n->state_path, strerror(-r));
        }
        *ret = TAKE_PTR(n);
        return 0;
}

int agent_network_allocate(struct agent_network *n, const char *task_id,
                           const struct task_net_lease **ret, char **ret_error)
{
        uint32_t count = host_count(n), first = n->subnet.addr + 2, start;
        struct task_net_lease *le = agent_network_lease(n, task_id);
        int r;

        if (le) {
                *ret = le;
                return 0;
        }
        /* Round-robin from after the last one handed out, as Docker's IPAM does, so a
         * released address is not reused while peers may still have it cached. */
        start = n->last >= first && n->last - first < count ? n->last - first + 1 : 0;
        for (uint32_t k = 0; k < count; k++) {
                uint32_t a = first + (start + k) % count;

                if (address_leased(n, a))
                        continue;
                if (!ARRAY_GROW(n->leases, n->cap_leases, n->n_leases + 1))
                        return -ENOMEM;
                le = &n->leases[n->n_leases];
                *le = (struct task_net_lease){.task_id = strdup(task_id), .address = a};
                if (!le->task_id)
                        return -ENOMEM;
                ifname_choose(n, task_id, le->ifname);
                n->n_leases++;
                n->last = a;
                r = state_save(n);
                if (r < 0) {
                        free(le->task_id);
                        n->n_leases--;
                        return error_set(ret_error, r, "writing %s: %s", n->state_path, strerror(-r));
                }
                *ret = le;
                return 0;
        }
        return exhausted(n, ret_error);
}

int agent_network_release(struct agent_network *n, const char *task_id)
{
        struct task_net_lease *le = agent_network_lease(n, task_id);
        size_t i;

        if (!le)
                return 0;
        i = (size_t)(le - n->leases);
        free(le->task_id);
        memmove(le, le + 1, (n->n_leases - i - 1) * sizeof(*le));
        n->n_leases--;
        return state_save(n);
}

/* A "nameserver" line naming a loopback address: a local stub (systemd-resolved's 127.0.0.53,
 * dnsmasq's 127.0.0.1) that a task in its own namespace cannot reach. */
static bool line_is_loopback_ns(const char *line)
{
        char ns[64];

        return sscanf(line, "nameserver %63s", ns) == 1 && (strncmp(ns, "127.", 4) == 0 || streq(ns, "::1"));
}

/* `text` without its loopback nameserver lines (into out, at least as large); whether it had any. */
static bool resolv_drop_loopback(const char *text, char *out)
{
        bool found = false;

        for (const char *l = text; *l;) {
                const char *end = strchrnul(l, '\n');
                size_t len = (size_t)(end - l) + (*end ? 1 : 0);

                if (line_is_loopback_ns(l))
                        found = true;
                else
                        out = mempcpy(out, l, len);
                l += len;
        }
        *out = '\0';
        return found;
}

char *task_net_resolv_conf(const char *host, const char *resolved_upstream)
{
        const char *src = host ? host : "";
        char *out = malloc(strlen(src) + 1);

        if (!out)
                return NULL;
        /* The stub's own upstream servers, when the host names a loopback stub and it is
         * systemd-resolved's; otherwise the host's file without the stub. */
        if (resolv_drop_loopback(src, out) && resolved_upstream) {
                free(out);
                out = malloc(strlen(resolved_upstream) + 1);
                if (out)
                        (void)resolv_drop_loopback(resolved_upstream, out);
        }
        return out;
}

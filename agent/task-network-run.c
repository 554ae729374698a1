/* SPDX-License-Identifier: Apache-2.0 */
/* A bridge task's network on the agent: set up before its shim, torn down after it ended, recovered at start, measured each second. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "agent/task-network.h"
#include "agent/task-ports.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"

#define SAMPLE_USEC 1000000u
/* systemd-resolved's list of the upstream servers it uses, for a host whose resolv.conf names
 * only its stub on 127.0.0.53 (which a task in its own namespace cannot reach): Docker does
 * the same (libnetwork/resolvconf). */
#define RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

static bool task_is_bridge(const struct task *t)
{
        return task_network_mode(t) == SILO_NETWORK_BRIDGE;
}

/* The task's lease, when it is a bridge task and has one. */
static const struct task_net_lease *task_lease(const struct agent *a, const struct task *t)
{
        return task_is_bridge(t) && a->network ? agent_network_lease(a->network, t->id) : NULL;
}

static void netns_path_of(const struct agent_network *n, const char *task_id, char buf[PATH_MAX])
{
        snprintf(buf, PATH_MAX, "%s/%s", n->netns_dir, task_id);
}

struct sample_ctx {
        struct agent_network *n;
        uint64_t now_ms;
};

static void sample_one(const char *ifname, const struct net_link_counters *c, void *userdata)
{
        struct sample_ctx *ctx = userdata;

        for (size_t i = 0; i < ctx->n->n_leases; i++) {
                struct task_net_lease *le = &ctx->n->leases[i];

                if (!streq(le->ifname, ifname))
                        continue;
                le->sample[0] = le->sample[1];
                le->sample_ms[0] = le->sample_ms[1];
                le->sample[1] = *c;
                le->sample_ms[1] = ctx->now_ms;
                if (le->n_samples < 2)
                        le->n_samples++;
                return;
        }
}

/* Once a second: the host end's counters of every leased veth, the last two kept, so the
 * isolation view's rate covers exactly one tick, as the eBPF io rates do (measure.c). */
static int on_sample(struct event_source *s, uint64_t count, void *userdata)
{
        struct sample_ctx ctx = {.n = userdata, .now_ms = now_mono_ms()};

        (void)s;
        (void)count;
        if (ctx.n->n_leases > 0)
                (void)net_links_counters_read(TASK_NET_IFNAME_PREFIX, sample_one, &ctx, NULL);
        return 0;
}

int agent_network_start(struct agent *a, char **ret_error)
{
        int r;

        r = agent_network_load(a->opts.state_dir, a->opts.task_subnet, a->opts.task_bridge,
                               net_route_overlaps, &a->network, ret_error);
        /* A host without a free private /24 can still run every other task: bridge launches
         * are refused with the reason (task_network_check()). */
        if (r == -EADDRNOTAVAIL) {
                a->network_error = ret_error ? TAKE_PTR(*ret_error) : NULL;
                log_warning("Bridge-mode tasks cannot start: %s", strempty(a->network_error));
                return 0;
        }
        if (r < 0)
                return r;
        if (mkdir(a->network->netns_dir, 0700) < 0 && errno != EEXIST)
                return error_set(ret_error, -errno, "creating %s: %m", a->network->netns_dir);
        /* The host port range and the settings of the subnet's NAT (task-ports.h); its
         * nftables table is written at the first bridge task's start. */
        {
                _cleanup_free_ char *err = NULL;

                r = agent_ports_start(a, a->network->bridge, a->network->subnet.addr,
                                      a->network->subnet.prefix, &err);
                if (r < 0)
                        log_warning_errno(r, "Bridge-mode tasks cannot start: %s", strempty(err));
        }
        return event_loop_add_timer(a->loop, SAMPLE_USEC, SAMPLE_USEC, on_sample, a->network, NULL,
                                    &a->network->tick);
}

void agent_network_stop(struct agent *a)
{
        free(a->network_error);
        a->network_error = NULL;
        if (!a->network)
                return;
        a->network->tick = event_source_remove(a->network->tick);
        a->network = agent_network_free(a->network);
        a->ports = agent_ports_free(a->ports);
}

int task_network_check(const struct agent *a, const struct silo_task_spec *spec, char **ret_error)
{
        struct agent_network *n = a->network;
        int r;

        if (!spec->has_container || spec->container.network != SILO_NETWORK_BRIDGE)
                return 0;
        if (!n)
                return error_set(ret_error, -EINVAL, "container.network: bridge mode is not set up on "
                                 "this agent%s%s", a->network_error ? ": " : "", strempty(a->network_error));
        /* The bridge is this node's, but a launch that cannot have it is refused with the reason
         * rather than failing half-way through its start. */
        r = net_bridge_ensure(n->bridge, agent_network_gateway(n), n->subnet.prefix, ret_error);
        if (r < 0)
                return error_wrap(ret_error, -EINVAL, "container.network: bridge: the task bridge "
                                  "(--task-bridge %s)", n->bridge);
        r = agent_network_room_check(n, ret_error);
        if (r < 0)
                return error_wrap(ret_error, -EINVAL, "container.network: bridge");
        return 0;
}

char *task_network_netns_path(const struct agent *a, const struct task *t)
{
        char path[PATH_MAX];

        if (!task_is_bridge(t) || !a->network)
                return NULL;
        netns_path_of(a->network, t->id, path);
        return strdup(path);
}

int task_network_setup(struct task *t, char **ret_error)
{
        struct agent_network *n = t->agent->network;
        const struct task_net_lease *le;
        char path[PATH_MAX];
        uint64_t egress = t->spec->resources.net_egress;
        int r;

        if (!task_is_bridge(t))
                return 0;
        r = agent_network_allocate(n, t->id, &le, ret_error);
        if (r < 0)
                return r;
        netns_path_of(n, t->id, path);
        /* A file an earlier task of this id left (it is unmounted; a mount would be EEXIST). */
        (void)net_netns_remove(path, NULL);
        r = net_netns_create(path, ret_error);
        if (r >= 0) {
                struct net_task_config c = {
                        .netns_path = path,
                        .bridge = n->bridge,
                        .host_ifname = le->ifname,
                        .address = le->address,
                        .prefix = n->subnet.prefix,
                        .gateway = agent_network_gateway(n),
                        .egress_bps = egress == SILO_UNSET ? 0 : egress,
                };
                r = net_task_setup(&c, ret_error);
        }
        /* Its NAT and port mappings last: a failure here tears down the rest, rules included. */
        if (r >= 0)
                r = task_ports_apply(t->agent, t, le->address, ret_error);
        if (r < 0) {
                task_network_teardown(t->agent, t->id);
                return error_wrap(ret_error, r, "setting up the task's network");
        }
        return 0;
}

void task_network_teardown(struct agent *a, const char *task_id)
{
        struct agent_network *n = a->network;
        struct task_net_lease *le;
        _cleanup_free_ char *err = NULL;
        char path[PATH_MAX];
        int r;

        if (!n)
                return;
        le = agent_network_lease(n, task_id);
        if (le)
                task_ports_release(a, task_id);
        /* The veth first: deleting one end deletes the pair now, where the namespace's own
         * teardown (and the peer with it) waits for the kernel's cleanup_net work. */
        if (le && (r = net_link_remove(le->ifname, &err)) < 0)
                log_warning_errno(r, "Task %s: %s", task_id, err);
        netns_path_of(n, task_id, path);
        free(err);
        err = NULL;
        if ((r = net_netns_remove(path, &err)) < 0)
                log_warning_errno(r, "Task %s: %s", task_id, err);
        if (le) {
                char buf[INET_ADDRSTRLEN];

                log_info("task %s: network released (address %s, veth %s)", task_id,
                         net_ipv4_to_string(le->address, buf), le->ifname);
                r = agent_network_release(n, task_id);
                if (r < 0)
                        log_warning_errno(r, "Task %s: cannot persist the release of its address in %s: %m",
                                          task_id, n->state_path);
        }
}

/* A live task's address, for task_ports_recover(). */
static bool lease_address(const struct agent *a, const char *task_id, uint32_t *ret)
{
        const struct task_net_lease *le = agent_network_lease(a->network, task_id);

        if (le)
                *ret = le->address;
        return le;
}

void agent_network_recover(struct agent *a)
{
        struct agent_network *n = a->network;
        _cleanup_strv_free_ char **ports = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        if (!n)
                return;
        for (size_t i = 0; i < n->n_leases;) {
                _cleanup_free_ char *id = NULL;

                if (agent_task_is_live(a, n->leases[i].task_id)) {
                        i++;
                        continue;
                }
                log_notice("task %s: ended while the agent was away, removing its network",
                           n->leases[i].task_id);
                /* A copy: the teardown frees the lease's own string, and logs the id after. */
                id = strdup(n->leases[i].task_id);
                if (!id) {
                        log_error("Out of memory removing the networks of ended tasks");
                        break;
                }
                task_network_teardown(a, id);     /* removes leases[i] */
        }
        /* Rules of tasks without a lease any more (a crash between the two removals) go; the
         * live tasks' are written again. */
        task_ports_recover(a, lease_address);
        /* Namespace files and veths no lease knows: left by a crash between their creation and
         * the lease's write, or a state file reset by hand. */
        d = opendir(n->netns_dir);
        while (d && (de = readdir(d))) {
                char path[PATH_MAX];

                if (de->d_name[0] == '.' || agent_network_lease(n, de->d_name))
                        continue;
                netns_path_of(n, de->d_name, path);
                if (net_netns_remove(path, NULL) >= 0)
                        log_notice("Removed leftover network namespace %s", path);
        }
        if (net_bridge_ports(n->bridge, TASK_NET_IFNAME_PREFIX, &ports, NULL) < 0)
                return;
        for (char **p = ports; *p; p++) {
                bool known = false;

                for (size_t i = 0; i < n->n_leases && !known; i++)
                        known = streq(n->leases[i].ifname, *p);
                if (!known && net_link_remove(*p, NULL) >= 0)
                        log_notice("Removed leftover veth %s from bridge %s", *p, n->bridge);
        }
}

json_t *task_network_to_json(const struct agent *a, const struct task *t)
{
        silo_network_mode m = task_network_mode(t);
        const struct task_net_lease *le = task_lease(a, t);
        json_t *j = json_pack("{s:s}", "mode", silo_network_mode_to_string(m));
        char buf[INET_ADDRSTRLEN];

        if (j && le) {
                json_object_set_new(j, "address", json_string(net_ipv4_to_string(le->address, buf)));
                json_object_set_new(j, "interface", json_string(le->ifname));
                /* The mappings in force (task-ports.h): the spec's, with the host ports chosen. */
                json_object_set_new(j, "ports", silo_port_mappings_to_json(t->spec->container.ports,
                                                                           t->spec->container.n_ports));
        }
        return j;
}

/* bits/s between the two samples of one counter */
static json_t *rate(uint64_t a, uint64_t b, uint64_t ms)
{
        return json_real(b >= a && ms ? (double)(b - a) * 8000.0 / (double)ms : 0.0);
}

json_t *task_network_isolation(const struct agent *a, const struct task *t)
{
        const struct task_net_lease *le = task_lease(a, t);
        _cleanup_free_ char *err = NULL;
        char path[PATH_MAX];
        uint64_t limit = 0;
        json_t *j = task_network_to_json(a, t), *m;

        if (!j || !le)
                return j;
        netns_path_of(a->network, t->id, path);
        if (net_egress_read(path, &limit, &err) < 0)
                json_object_set_new(j, "egress_error", json_string(err ? err : "unreadable"));
        /* The limit in force as the kernel has it, null when there is none. */
        json_object_set_new(j, "egress_bits_per_s", limit ? json_integer((json_int_t)limit) : json_null());
        if (le->n_samples < 2) {
                json_object_set_new(j, "measured", json_null());
                return j;
        }
        /* The host end's receive is the task's transmit, and the other way round. */
        {
                const struct net_link_counters *c0 = &le->sample[0], *c1 = &le->sample[1];
                uint64_t ms = le->sample_ms[1] - le->sample_ms[0];

                m = json_pack("{s:f, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "interval_s", (double)ms / 1000.0,
                              "tx_bits_per_s", rate(c0->rx_bytes, c1->rx_bytes, ms), "rx_bits_per_s",
                              rate(c0->tx_bytes, c1->tx_bytes, ms), "total", "tx_bytes",
                              (json_int_t)c1->rx_bytes, "rx_bytes", (json_int_t)c1->tx_bytes, "tx_packets",
                              (json_int_t)c1->rx_packets, "rx_packets", (json_int_t)c1->tx_packets);
        }
        json_object_set_new(j, "measured", m);
        return j;
}

int task_network_figures(const struct agent *a, const struct task *t, struct net_link_counters *ret,
                         uint64_t *ret_egress_bps)
{
        const struct task_net_lease *le = task_lease(a, t);
        uint64_t limit;

        /* No lease: not a bridge task, or an ended one (whose spec may be compacted away). */
        if (!le || le->n_samples == 0)
                return -ENOENT;
        limit = t->spec->resources.net_egress;
        /* The host end's counters, seen from the task's side. */
        *ret = (struct net_link_counters){
                .tx_bytes = le->sample[1].rx_bytes,
                .rx_bytes = le->sample[1].tx_bytes,
                .tx_packets = le->sample[1].rx_packets,
                .rx_packets = le->sample[1].tx_packets,
        };
        /* The spec's, which task_network_setup() set: a scrape reads no qdisc (two setns()
         * and a dump per task); the isolation view reads the kernel's. */
        *ret_egress_bps = limit == SILO_UNSET ? 0 : limit;
        return 0;
}

int task_network_etc_write(const struct task *t, const char *hostname)
{
        const struct task_net_lease *le = agent_network_lease(t->agent->network, t->id);
        _cleanup_free_ char *resolv = NULL, *upstream = NULL, *hosts = NULL, *out = NULL;
        char path[PATH_MAX], buf[INET_ADDRSTRLEN];
        int r;

        if (!le)
                return -ENOENT;
        if (asprintf(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n",
                     net_ipv4_to_string(le->address, buf), hostname) < 0) {
                hosts = NULL;
                return -ENOMEM;
        }
        snprintf(path, sizeof(path), "%s/hosts", t->sandbox);
        r = file_write_replace(path, hosts, strlen(hosts), 0644);
        if (r < 0)
                return r;
        /* A file that cannot be read counts as absent. */
        if (file_read_full("/etc/resolv.conf", 65536, &resolv, NULL) < 0) {
                free(resolv);
                resolv = NULL;
        }
        if (file_read_full(RESOLVED_UPSTREAM, 65536, &upstream, NULL) < 0) {
                free(upstream);
                upstream = NULL;
        }
        out = task_net_resolv_conf(resolv, upstream);
        if (!out)
                return -ENOMEM;
        snprintf(path, sizeof(path), "%s/resolv.conf", t->sandbox);
        return file_write_replace(path, out, strlen(out), 0644);
}

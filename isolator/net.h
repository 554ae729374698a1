/* SPDX-License-Identifier: Apache-2.0 */
/* A task's network over netlink (libnl-3, libnl-route-3): netns files, the bridge, veth, address, route, egress qdisc. */
#pragma once

/*
 * Same contract as isolator.h: >= 0 or -errno, ret_* written only on success, and *ret_error
 * (may be NULL) naming the netlink operation and its object on failure, e.g.
 * "adding address 10.88.0.5/24 to eth0 in /var/lib/silo/agent/netns/t1: File exists".
 * libnl's own error codes (NLE_*) are mapped back to the errno the kernel gave. Everything
 * runs in the caller's network namespace unless a netns path is given; a socket is opened in
 * a task's namespace with setns() on the calling thread and the thread moves straight back
 * (as CNI's ns.Do does), so nothing else of the caller changes namespace. Never prints.
 */

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "silo/protocol.h"

/* The task's end of its veth, inside its namespace. */
#define NET_TASK_IFNAME "eth0"
/* Egress limits above this many bits/s cannot be set (protocol.h: tbf's 32-bit rate). */
#define NET_EGRESS_MAX_BPS SILO_NET_EGRESS_MAX

/* An IPv4 network: address (host byte order) and prefix length. */
struct net_ipv4_net {
        uint32_t addr;
        unsigned prefix;        /* 0..32 */
};

/* Parse "10.88.0.0/24" (host bits must be zero). -EINVAL with *ret_error naming the value. */
int net_ipv4_net_parse(const char *s, struct net_ipv4_net *ret, char **ret_error);
/* "10.88.0.5" into buf (INET_ADDRSTRLEN bytes); returns buf. */
const char *net_ipv4_to_string(uint32_t addr, char *buf);
int net_ipv4_from_string(const char *s, uint32_t *ret);
/* Whether two networks share any address. */
bool net_ipv4_overlap(const struct net_ipv4_net *a, const struct net_ipv4_net *b);

/* ---- persistent network namespaces (as `ip netns add` / `ip netns delete`) */

/* Create a new network namespace and keep it alive by bind-mounting its nsfs file onto `path`
 * (a new empty file; its directory must exist). The namespace has only lo, down. -EEXIST when
 * `path` exists. */
int net_netns_create(const char *path, char **ret_error);
/* Unmount (lazily: a process inside keeps the namespace until it ends) and unlink `path`.
 * 0 when it does not exist. */
int net_netns_remove(const char *path, char **ret_error);

/* ---- links */

/* The bridge `name` exists (created when missing), is up and has `gateway` (host byte order)
 * with the network's prefix (other addresses on it are left alone). -ENOTTY when a link of
 * that name exists and is not a bridge. */
int net_bridge_ensure(const char *name, uint32_t gateway, unsigned prefix, char **ret_error);

struct net_task_config {
        const char *netns_path;         /* from net_netns_create() */
        const char *bridge;             /* from net_bridge_ensure() */
        const char *host_ifname;        /* the host end, at most 15 characters */
        uint32_t address;               /* the task's, host byte order */
        unsigned prefix;
        uint32_t gateway;               /* the bridge's address: the default route */
        uint64_t egress_bps;            /* bits/s, 0: no limit */
};

/* In the task's namespace: a veth pair whose host end (`host_ifname`, up) joins the bridge
 * and whose peer becomes NET_TASK_IFNAME with the address; lo and eth0 up; a default route via
 * the gateway; with egress_bps a tbf qdisc as eth0's root (inside the namespace, where a task
 * without CAP_NET_ADMIN cannot change it). On failure the veth is removed again. */
int net_task_setup(const struct net_task_config *c, char **ret_error);
/* Delete a link of the caller's namespace (the veth's host end; its peer goes with it).
 * 0 when there is none. */
int net_link_remove(const char *ifname, char **ret_error);
/* The names of the links enslaved to `bridge` whose name starts with `prefix`, as a
 * NULL-terminated vector (strv_free); -ENODEV when the bridge does not exist. */
int net_bridge_ports(const char *bridge, const char *prefix, char ***ret, char **ret_error);

struct net_link_counters {
        uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
};
typedef void (*net_link_counters_fn)(const char *ifname, const struct net_link_counters *c, void *userdata);
/* The interface counters of every link of the caller's namespace whose name starts with
 * `prefix`, from one dump of the links: fn once per link. */
int net_links_counters_read(const char *prefix, net_link_counters_fn fn, void *userdata, char **ret_error);
/* The egress rate (bits/s) of the tbf root qdisc on eth0 in the namespace at `netns_path`,
 * read back from the kernel; 0 when eth0 has no tbf root. */
int net_egress_read(const char *netns_path, uint64_t *ret_bps, char **ret_error);

/* Whether any route of the caller's main table (the default route excepted) overlaps `net`:
 * for choosing a task subnet that the host does not already reach some other way. */
int net_route_overlaps(const struct net_ipv4_net *net, bool *ret, char **ret_error);

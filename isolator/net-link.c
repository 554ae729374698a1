/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's bridge and each task's veth, address, route and counters, through libnl-route. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "common/array.h"
#include "common/error.h"
#include "isolator/net-internal.h"
#include "isolator/net.h"

static void rtnl_addr_putp(struct rtnl_addr **a)
{
        if (*a)
                rtnl_addr_put(*a);
}
static void rtnl_route_putp(struct rtnl_route **r)
{
        if (*r)
                rtnl_route_put(*r);
}
static void nl_cache_freep(struct nl_cache **c)
{
        if (*c)
                nl_cache_free(*c);
}

int net_link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret)
{
        int r = rtnl_link_get_kernel(sk, 0, name, ret);

        /* The kernel's ENODEV reaches us as NLE_OBJ_NOTFOUND. */
        if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
                return -ENODEV;
        return r < 0 ? net_nl_errno(r) : 0;
}

int net_link_up(struct nl_sock *sk, struct rtnl_link *link)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
        int r;

        if (!change)
                return -ENOMEM;
        if (rtnl_link_get_flags(link) & IFF_UP)
                return 0;
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0);
        return r < 0 ? r : 0;   /* an NLE code: callers word it with net_nl_error() */
}

static struct nl_addr *ipv4_addr(uint32_t a, unsigned prefix)
{
        uint32_t be = htonl(a);
        struct nl_addr *na = nl_addr_build(AF_INET, &be, sizeof(be));

        if (na)
                nl_addr_set_prefixlen(na, (int)prefix);
        return na;
}

/* Add a/prefix to the link; an address already there is fine when `exist_ok`. `where` names
 * the link for the message ("silo0", "eth0 in <netns>"). */
static int addr_add(struct nl_sock *sk, int ifindex, uint32_t a, unsigned prefix, bool exist_ok,
                    const char *where, char **ret_error)
{
        _cleanup_(rtnl_addr_putp) struct rtnl_addr *addr = rtnl_addr_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *local = ipv4_addr(a, prefix);
        char buf[INET_ADDRSTRLEN];
        int r;

        if (!addr || !local)
                return -ENOMEM;
        rtnl_addr_set_ifindex(addr, ifindex);
        rtnl_addr_set_family(addr, AF_INET);
        r = rtnl_addr_set_local(addr, local);
        if (r >= 0)
                r = rtnl_addr_add(sk, addr, 0);
        if (r == -NLE_EXIST && exist_ok)
                return 0;
        if (r < 0)
                return net_nl_error(ret_error, r, "adding address %s/%u to %s", net_ipv4_to_string(a, buf),
                                    prefix, where);
        return 0;
}

int net_bridge_ensure(const char *name, uint32_t gateway, unsigned prefix, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
        const char *type;
        int r;

        r = net_sock_open(NULL, &sk, ret_error);
        if (r < 0)
                return r;
        r = net_link_get(sk, name, &link);
        if (r == -ENODEV) {
                _cleanup_(rtnl_link_putp) struct rtnl_link *br = rtnl_link_alloc();

                if (!br)
                        return -ENOMEM;
                rtnl_link_set_name(br, name);
                r = rtnl_link_set_type(br, "bridge");
                if (r >= 0)
                        r = rtnl_link_add(sk, br, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0)
                        return net_nl_error(ret_error, r, "creating bridge %s", name);
                r = net_link_get(sk, name, &link);
        }
        if (r < 0)
                return error_set(ret_error, r, "reading link %s: %s", name, strerror(-r));
        type = rtnl_link_get_type(link);
        if (!type || strcmp(type, "bridge") != 0)
                return error_set(ret_error, -ENOTTY, "link %s exists and is not a bridge (type %s)", name,
                                 type ? type : "none");
        r = net_link_up(sk, link);
        if (r < 0)
                return net_nl_error(ret_error, r, "setting bridge %s up", name);
        return addr_add(sk, rtnl_link_get_ifindex(link), gateway, prefix, true, name, ret_error);
}

/* The veth pair: the host end up and in the bridge, the peer created directly inside the
 * task's namespace (IFLA_NET_NS_FD in the peer's attributes) under its final name, so no
 * other name ever appears there. */
static int veth_create(struct nl_sock *sk, const struct net_task_config *c, int bridge_ifindex,
                       char **ret_error)
{
        struct rtnl_link *veth = rtnl_link_veth_alloc(), *peer;
        _cleanup_close_ int nsfd = -1;
        int r;

        if (!veth)
                return -ENOMEM;
        nsfd = open(c->netns_path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0) {
                rtnl_link_veth_release(veth);
                return error_set(ret_error, -errno, "opening network namespace %s: %m", c->netns_path);
        }
        rtnl_link_set_name(veth, c->host_ifname);
        rtnl_link_set_master(veth, bridge_ifindex);
        rtnl_link_set_flags(veth, IFF_UP);
        peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(peer, NET_TASK_IFNAME);
        rtnl_link_set_ns_fd(peer, nsfd);
        rtnl_link_put(peer);
        r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_veth_release(veth);
        if (r < 0)
                return net_nl_error(ret_error, r, "creating veth %s (peer %s in %s) on bridge %s",
                                    c->host_ifname, NET_TASK_IFNAME, c->netns_path, c->bridge);
        return 0;
}

static int default_route_add(struct nl_sock *sk, int ifindex, uint32_t gateway, const char *where,
                             char **ret_error)
{
        _cleanup_(rtnl_route_putp) struct rtnl_route *rt = rtnl_route_alloc();
        _cleanup_(nl_addr_putp) struct nl_addr *dst = ipv4_addr(0, 0), *gw = ipv4_addr(gateway, 32);
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        char buf[INET_ADDRSTRLEN];
        int r;

        if (!rt || !dst || !gw || !nh) {
                if (nh)
                        rtnl_route_nh_free(nh);
                return -ENOMEM;
        }
        rtnl_route_set_family(rt, AF_INET);
        rtnl_route_set_table(rt, RT_TABLE_MAIN);
        rtnl_route_set_protocol(rt, RTPROT_STATIC);
        rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
        rtnl_route_set_type(rt, RTN_UNICAST);
        r = rtnl_route_set_dst(rt, dst);
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_add_nexthop(rt, nh);         /* the route owns it now */
        if (r >= 0)
                r = rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0)
                return net_nl_error(ret_error, r, "adding the default route via %s to %s",
                                    net_ipv4_to_string(gateway, buf), where);
        return 0;
}

/* Inside the task's namespace: address, lo and eth0 up, default route, egress qdisc. */
static int task_inside_setup(const struct net_task_config *c, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *eth = NULL, *lo = NULL;
        char where[512];
        int r;

        r = net_sock_open(c->netns_path, &sk, ret_error);
        if (r < 0)
                return r;
        snprintf(where, sizeof(where), "%s in %s", NET_TASK_IFNAME, c->netns_path);
        r = net_link_get(sk, NET_TASK_IFNAME, &eth);
        if (r >= 0)
                r = net_link_get(sk, "lo", &lo);
        if (r < 0)
                return error_set(ret_error, r, "reading the links of %s: %s", c->netns_path, strerror(-r));
        r = addr_add(sk, rtnl_link_get_ifindex(eth), c->address, c->prefix, false, where, ret_error);
        if (r < 0)
                return r;
        if ((r = net_link_up(sk, lo)) < 0)
                return net_nl_error(ret_error, r, "setting lo up in %s", c->netns_path);
        if ((r = net_link_up(sk, eth)) < 0)
                return net_nl_error(ret_error, r, "setting %s up", where);
        r = default_route_add(sk, rtnl_link_get_ifindex(eth), c->gateway, where, ret_error);
        if (r >= 0 && c->egress_bps > 0)
                r = net_tc_egress_set(sk, eth, c->egress_bps, where, ret_error);
        return r;
}

int net_task_setup(const struct net_task_config *c, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *br = NULL;
        int r;

        if (strlen(c->host_ifname) >= IFNAMSIZ)
                return error_set(ret_error, -EINVAL, "interface name %s is longer than %d characters",
                                 c->host_ifname, IFNAMSIZ - 1);
        r = net_sock_open(NULL, &sk, ret_error);
        if (r < 0)
                return r;
        r = net_link_get(sk, c->bridge, &br);
        if (r < 0)
                return error_set(ret_error, r, "bridge %s: %s", c->bridge,
                                 r == -ENODEV ? "no such link" : strerror(-r));
        r = veth_create(sk, c, rtnl_link_get_ifindex(br), ret_error);
        if (r < 0)
                return r;
        r = task_inside_setup(c, ret_error);
        if (r < 0)
                (void)net_link_remove(c->host_ifname, NULL);
        return r;
}

int net_link_remove(const char *ifname, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();
        int r;

        if (!link)
                return -ENOMEM;
        r = net_sock_open(NULL, &sk, ret_error);
        if (r < 0)
                return r;
        rtnl_link_set_name(link, ifname);
        r = rtnl_link_delete(sk, link);
        if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
                return 0;
        if (r < 0)
                return net_nl_error(ret_error, r, "deleting link %s", ifname);
        return 0;
}

/* Every link of the caller's network namespace, in one dump. The cache keeps no reference to
 * the socket, which is closed here. */
static int links_dump(struct nl_cache **ret, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        int r;

        r = net_sock_open(NULL, &sk, ret_error);
        if (r < 0)
                return r;
        r = rtnl_link_alloc_cache(sk, AF_UNSPEC, ret);
        if (r < 0)
                return net_nl_error(ret_error, r, "listing links");
        return 0;
}

int net_bridge_ports(const char *bridge, const char *prefix, char ***ret, char **ret_error)
{
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, cap = 0;
        int r, br;

        r = links_dump(&cache, ret_error);
        if (r < 0)
                return r;
        br = rtnl_link_name2i(cache, bridge);
        if (br <= 0)
                return error_set(ret_error, -ENODEV, "bridge %s: no such link", bridge);
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_link *l = (struct rtnl_link *)o;
                const char *name = rtnl_link_get_name(l);

                if (rtnl_link_get_master(l) != br || !name || strncmp(name, prefix, strlen(prefix)) != 0)
                        continue;
                if (!ARRAY_GROW(names, cap, n + 2))
                        return -ENOMEM;
                if (!(names[n] = strdup(name)))
                        return -ENOMEM;
                names[++n] = NULL;
        }
        if (!names && !(names = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(names);
        return 0;
}

int net_links_counters_read(const char *prefix, net_link_counters_fn fn, void *userdata, char **ret_error)
{
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        int r;

        /* One dump of the links for all of them: a GET per link was a socket and a round trip
         * each, every tick. */
        r = links_dump(&cache, ret_error);
        if (r < 0)
                return r;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
                struct rtnl_link *l = (struct rtnl_link *)o;
                const char *name = rtnl_link_get_name(l);

                if (!name || strncmp(name, prefix, strlen(prefix)) != 0)
                        continue;
                fn(name,
                   &(struct net_link_counters){
                       .rx_bytes = rtnl_link_get_stat(l, RTNL_LINK_RX_BYTES),
                       .tx_bytes = rtnl_link_get_stat(l, RTNL_LINK_TX_BYTES),
                       .rx_packets = rtnl_link_get_stat(l, RTNL_LINK_RX_PACKETS),
                       .tx_packets = rtnl_link_get_stat(l, RTNL_LINK_TX_PACKETS),
                   },
                   userdata);
        }
        return 0;
}

int net_route_overlaps(const struct net_ipv4_net *net, bool *ret, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(nl_cache_freep) struct nl_cache *cache = NULL;
        bool found = false;
        int r;

        r = net_sock_open(NULL, &sk, ret_error);
        if (r < 0)
                return r;
        r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
        if (r < 0)
                return net_nl_error(ret_error, r, "listing IPv4 routes");
        for (struct nl_object *o = nl_cache_get_first(cache); o && !found; o = nl_cache_get_next(o)) {
                struct rtnl_route *rt = (struct rtnl_route *)o;
                struct nl_addr *dst = rtnl_route_get_dst(rt);
                struct net_ipv4_net d;
                uint32_t be;

                if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || !dst || nl_addr_get_prefixlen(dst) == 0 ||
                    nl_addr_get_len(dst) != sizeof(be))
                        continue;
                memcpy(&be, nl_addr_get_binary_addr(dst), sizeof(be));
                d = (struct net_ipv4_net){.addr = ntohl(be), .prefix = (unsigned)nl_addr_get_prefixlen(dst)};
                found = net_ipv4_overlap(net, &d);
        }
        *ret = found;
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* A task's egress limit: a tbf root qdisc on its eth0, inside its namespace, set and read back through libnl-route. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/pkt_sched.h>
#include <netlink/errno.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/tc.h>

#include "common/error.h"
#include "isolator/net-internal.h"
#include "isolator/net.h"

#define TBF_HANDLE TC_HANDLE(1, 0)
/* The bucket: 50 ms at the rate, and never less than 32 KiB, so a few full-size (and GSO)
 * packets pass without tbf splitting them, and a qdisc watchdog or TCP small-queues wakeup that
 * runs late (a loaded or virtual machine) does not lose the time it was late by: with 10 ms a
 * 20 Mbit/s limit gave 15-18.5 Mbit/s under qemu TCG (the network VM suite), with 50 ms 19.2
 * (the most TCP payload can be: 20 * 1448/1514). Over seconds the rate is exact either way. */
#define TBF_BUCKET_MIN (32u * 1024)
/* Queue what the rate sends in 50 ms (tc's "latency 50ms"); more only adds delay. */
#define TBF_LATENCY_USEC 50000

static void rtnl_qdisc_putp(struct rtnl_qdisc **q)
{
        if (*q)
                rtnl_qdisc_put(*q);
}

int net_tc_egress_set(struct nl_sock *sk, struct rtnl_link *link, uint64_t bps, const char *where,
                      char **ret_error)
{
        _cleanup_(rtnl_qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
        uint64_t bytes = bps / 8, bucket;
        int r;

        if (!q)
                return -ENOMEM;
        if (bps < 8 || bps > NET_EGRESS_MAX_BPS)
                return error_set(ret_error, -ERANGE, "egress limit %llu bit/s on %s: tbf takes 8 to %llu bit/s",
                                 (unsigned long long)bps, where, (unsigned long long)NET_EGRESS_MAX_BPS);
        bucket = MAX(bytes / 20, TBF_BUCKET_MIN);
        /* rtnl_tc_set_link, not only the ifindex: libnl builds the rate table from the link's
         * MTU and type. */
        rtnl_tc_set_link(TC_CAST(q), link);
        rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
        rtnl_tc_set_handle(TC_CAST(q), TBF_HANDLE);
        r = rtnl_tc_set_kind(TC_CAST(q), "tbf");
        if (r >= 0) {
                rtnl_qdisc_tbf_set_rate(q, (int)bytes, (int)MIN(bucket, (uint64_t)INT32_MAX), 0);
                r = rtnl_qdisc_tbf_set_limit_by_latency(q, TBF_LATENCY_USEC);
        }
        if (r >= 0)
                r = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_REPLACE);
        if (r < 0)
                return net_nl_error(ret_error, r, "adding tbf qdisc (rate %llu bit/s) to %s",
                                    (unsigned long long)bps, where);
        return 0;
}

int net_egress_read(const char *netns_path, uint64_t *ret_bps, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *eth = NULL;
        struct nl_cache *cache = NULL;
        struct rtnl_qdisc *q;
        uint64_t bps = 0;
        int r;

        r = net_sock_open(netns_path, &sk, ret_error);
        if (r < 0)
                return r;
        r = net_link_get(sk, NET_TASK_IFNAME, &eth);
        if (r < 0)
                return error_set(ret_error, r, "reading %s in %s: %s", NET_TASK_IFNAME, netns_path,
                                 strerror(-r));
        r = rtnl_qdisc_alloc_cache(sk, &cache);
        if (r < 0)
                return net_nl_error(ret_error, r, "listing the qdiscs of %s", netns_path);
        q = rtnl_qdisc_get_by_parent(cache, rtnl_link_get_ifindex(eth), TC_H_ROOT);
        if (q) {
                const char *kind = rtnl_tc_get_kind(TC_CAST(q));

                if (kind && strcmp(kind, "tbf") == 0)
                        bps = (uint64_t)rtnl_qdisc_tbf_get_rate(q) * 8;
                rtnl_qdisc_put(q);
        }
        nl_cache_free(cache);
        *ret_bps = bps;
        return 0;
}

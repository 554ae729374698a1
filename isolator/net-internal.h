/* SPDX-License-Identifier: Apache-2.0 */
/* What the isolator's netlink files share: sockets (here or in a task's namespace) and libnl's errors as errno. */
#pragma once

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "common/macro.h"

/* -errno for a libnl return code (-NLE_*): the errno the kernel gave where libnl folded one
 * in, -EIO for libnl's own failures. */
int net_nl_errno(int nle);
/* error_set() for a failed netlink operation: "<what>: <strerror>", with libnl's wording when
 * the code has no errno. Returns the -errno. */
int net_nl_error(char **ret_error, int nle, const char *format, ...) _printf_(3, 4);

/* A connected NETLINK_ROUTE socket in the caller's namespace, or (netns_path non-NULL) in
 * that namespace. */
int net_sock_open(const char *netns_path, struct nl_sock **ret, char **ret_error);

/* A link by name (ifindex 0) from the kernel; -ENODEV when there is none. */
int net_link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret);
/* Set IFF_UP on a link. */
int net_link_up(struct nl_sock *sk, struct rtnl_link *link);

static inline void nl_socket_freep(struct nl_sock **s)
{
        if (*s)
                nl_socket_free(*s);
}
static inline void rtnl_link_putp(struct rtnl_link **l)
{
        if (*l)
                rtnl_link_put(*l);
}
static inline void nl_addr_putp(struct nl_addr **a)
{
        if (*a)
                nl_addr_put(*a);
}

/* A tbf root qdisc of `bps` bits/s on `link` (a link of sk's namespace); `where` names it for
 * the message. Replaces whatever root qdisc was there. */
int net_tc_egress_set(struct nl_sock *sk, struct rtnl_link *link, uint64_t bps, const char *where,
                      char **ret_error);

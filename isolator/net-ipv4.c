/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4 networks as the agent's task subnet uses them: parse, print, overlap. Pure. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "isolator/net.h"

static uint32_t prefix_mask(unsigned prefix)
{
        return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

int net_ipv4_from_string(const char *s, uint32_t *ret)
{
        struct in_addr a;

        /* inet_pton, not inet_aton: no "10.1" shorthands, no octal. */
        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = ntohl(a.s_addr);
        return 0;
}

const char *net_ipv4_to_string(uint32_t addr, char *buf)
{
        struct in_addr a = {.s_addr = htonl(addr)};

        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

int net_ipv4_net_parse(const char *s, struct net_ipv4_net *ret, char **ret_error)
{
        char addr[INET_ADDRSTRLEN + 1], *end;
        const char *slash = s ? strchr(s, '/') : NULL;
        unsigned long prefix;
        uint32_t a;

        if (!slash || (size_t)(slash - s) >= sizeof(addr))
                return error_set(ret_error, -EINVAL, "'%s' is not an IPv4 network (e.g. 10.88.0.0/24)",
                                 s ? s : "");
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = '\0';
        if (net_ipv4_from_string(addr, &a) < 0)
                return error_set(ret_error, -EINVAL, "'%s': %s is not an IPv4 address", s, addr);
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix > 32)
                return error_set(ret_error, -EINVAL, "'%s': the prefix length must be 0-32", s);
        if (a & ~prefix_mask((unsigned)prefix))
                return error_set(ret_error, -EINVAL, "'%s' has host bits set (did you mean %s/%lu?)", s,
                                 net_ipv4_to_string(a & prefix_mask((unsigned)prefix), addr), prefix);
        *ret = (struct net_ipv4_net){.addr = a, .prefix = (unsigned)prefix};
        return 0;
}

bool net_ipv4_overlap(const struct net_ipv4_net *a, const struct net_ipv4_net *b)
{
        uint32_t m = prefix_mask(MIN(a->prefix, b->prefix));

        return (a->addr & m) == (b->addr & m);
}

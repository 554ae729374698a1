/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's nftables table (libnftnl + libmnl): outbound masquerade of the task subnet,
 * DNAT of host ports to task addresses, hairpin masquerade on the task bridge.
 *
 * The table lives in the calling process's network namespace (the agent's) and holds:
 */
/* clang-format off */
/*
 *   table ip <table> {
 *     chain prerouting  { type nat hook prerouting priority dstnat;
 *                         fib daddr type local jump ports }
 *     chain output      { type nat hook output priority dstnat;
 *                         ip daddr != 127.0.0.0/8 fib daddr type local jump ports }
 *     chain postrouting { type nat hook postrouting priority srcnat;
 *                         ip saddr <subnet> oifname != <bridge> masquerade
 *                         ip saddr <subnet> oifname <bridge> ct status dnat masquerade }
 *     chain ports       { <proto> dport <host> dnat to <addr>:<port> comment "<owner>"
 *                         ... }
 *   }
 */
/* clang-format on */
/*
 * The chain layout and the address-type test are Docker's (its DOCKER chain, jumped to from
 * PREROUTING and OUTPUT for `--dst-type LOCAL`). Every rule of `ports` carries its owner (the
 * task id) as its comment, so an owner's rules are found and removed by that comment, also by
 * a restarted agent. Each change is one nftables transaction: it applies whole or not at all.
 *
 * Functions return 0 or -errno with *ret_error naming the nftables operation that failed.
 * Nothing here prints.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFT_OWNER_MAX 127 /* NFTNL_UDATA_COMMENT_MAXLEN less its NUL */

/* The table's fixed part: which subnet is masqueraded and which interface is the bridge. */
struct nft_config {
        const char *table;     /* "silo" */
        const char *bridge;    /* the task bridge, "silo0" */
        struct in_addr subnet; /* network address of the task subnet */
        unsigned prefix_len;   /* 0..32 */
};

/* One DNAT rule: <proto> dport <host_port> dnat to <addr>:<container_port>. */
struct nft_port_rule {
        uint8_t l4proto; /* IPPROTO_TCP or IPPROTO_UDP */
        uint16_t host_port;
        uint16_t container_port;
};

/* Create the table and its chains if missing and (re)write the fixed rules of
 * prerouting, output and postrouting from `cfg`, in one transaction. The rules of `ports`
 * (the owners') are kept. */
int nft_table_setup(const struct nft_config *cfg, char **ret_error);

/* In one transaction: remove every rule of `owner` and add one DNAT rule to `addr` per
 * entry of `rules`. With n = 0 it only removes. */
int nft_ports_replace(const char *table, const char *owner, struct in_addr addr,
                      const struct nft_port_rule *rules, size_t n, char **ret_error);

/* Remove (one transaction per 1000 rules) every rule of `ports` whose owner `keep` returns false
 * for (rules without an owner comment are not ours to judge and are kept). *ret_removed (may be
 * NULL) counts the rules removed. 0 when the table does not exist. */
int nft_ports_prune(const char *table, bool (*keep)(const char *owner, void *userdata),
                    void *userdata, size_t *ret_removed, char **ret_error);

/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's nftables NAT table through libnftnl + libmnl (the rules are described in nft.h). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4.h>
#include <linux/rtnetlink.h>

#include "common/array.h"
#include "common/error.h"
#include "common/macro.h"
#include "isolator/nft.h"

/*
 * Why `ip` and not `inet`: task addresses are IPv4 only (the task subnet is an IPv4 prefix),
 * and an `ip` table sees only IPv4, so no rule needs an `meta nfproto ipv4` guard and IPv6
 * traffic is never rewritten by accident. An IPv6 task subnet would get an `ip6` table of the
 * same shape.
 */
#define CHAIN_PORTS "ports"
/* A transaction is one sendmsg(); the kernel refuses one larger than the socket's send buffer
 * (212992 bytes by default), so a batch stays under it and a large prune is cut into several
 * transactions (each still whole or nothing; pruning again finishes an interrupted one). */
#define BATCH_LIMIT (128 * 1024)
#define PRUNE_CHUNK 1000
#define DUMP_BUFFER (32 * 1024)

struct nft_batch {
        struct mnl_socket *nl;
        uint32_t portid;
        char *buf; /* 2 * BATCH_LIMIT, as mnl_nlmsg_batch_start() asks */
        struct mnl_nlmsg_batch *b;
        uint32_t seq_first; /* the seq of the first message after BEGIN */
        uint32_t seq;
        char **what; /* what each message does, by seq - seq_first */
        size_t n_what, cap_what;
        bool failed; /* out of memory or over BATCH_LIMIT while building */
};

static void batch_free(struct nft_batch *b)
{
        if (b->nl)
                mnl_socket_close(b->nl);
        if (b->b)
                mnl_nlmsg_batch_stop(b->b);
        free(b->buf);
        for (size_t i = 0; i < b->n_what; i++)
                free(b->what[i]);
        free(b->what);
        *b = (struct nft_batch){};
}

static int nl_open(struct mnl_socket **ret_nl, uint32_t *ret_portid, char **ret_error)
{
        struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);

        if (!nl)
                return error_set(ret_error, -errno,
                                 "nftables: opening a netfilter netlink socket: %m");
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                mnl_socket_close(nl);
                return error_set(ret_error, r, "nftables: binding the netlink socket: %s",
                                 strerror(-r));
        }
        *ret_portid = mnl_socket_get_portid(nl);
        *ret_nl = nl;
        return 0;
}

/* Open the socket and start a transaction (BEGIN). */
static int batch_begin(struct nft_batch *b, char **ret_error)
{
        int r;

        *b = (struct nft_batch){};
        r = nl_open(&b->nl, &b->portid, ret_error);
        if (r < 0)
                return r;
        b->buf = malloc(2 * BATCH_LIMIT);
        if (!b->buf)
                return -ENOMEM;
        b->b = mnl_nlmsg_batch_start(b->buf, BATCH_LIMIT);
        if (!b->b)
                return -ENOMEM;
        b->seq = 1;
        nftnl_batch_begin(mnl_nlmsg_batch_current(b->b), b->seq++);
        mnl_nlmsg_batch_next(b->b);
        b->seq_first = b->seq;
        return 0;
}

/* Start the next message of the transaction; `what` says what it does, for errors. Always
 * returns a header to build the payload in: after a failure (out of memory, marked in the batch,
 * which is then never sent) the batch buffer's current slot, so callers need no check. */
static struct nlmsghdr *batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags,
                                  const char *format, ...) _printf_(4, 5);
static struct nlmsghdr *batch_msg(struct nft_batch *b, uint16_t type, uint16_t flags,
                                  const char *format, ...)
{
        va_list ap;
        char *what = NULL;
        int k;

        va_start(ap, format);
        k = b->failed ? -1 : vasprintf(&what, format, ap);
        va_end(ap);
        if (k < 0 || !ARRAY_GROW(b->what, b->cap_what, b->n_what + 1)) {
                if (k >= 0)
                        free(what);
                b->failed = true;
                return mnl_nlmsg_batch_current(b->b);
        }
        b->what[b->n_what++] = what;
        /* NLM_F_ACK on every message: each one is answered, so a failure names its message. */
        return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), type, NFPROTO_IPV4,
                                     flags | NLM_F_ACK, b->seq++);
}

static void batch_next(struct nft_batch *b)
{
        if (!b->failed && !mnl_nlmsg_batch_next(b->b))
                b->failed = true;
}

/* End the transaction, send it and read every answer: 0, or the first error with the message
 * that caused it. */
static int batch_commit(struct nft_batch *b, const char *table, char **ret_error)
{
        _cleanup_free_ char *rbuf = NULL;
        size_t acks = 0, expected = b->n_what;
        int fd, first = 0;
        size_t first_idx = 0;

        if (b->failed)
                return error_set(ret_error, -ENOMEM,
                                 "nftables: building a transaction of %zu changes on table ip %s: "
                                 "out of memory or over %d bytes",
                                 b->n_what, table, BATCH_LIMIT);
        if (expected == 0)
                return 0;
        nftnl_batch_end(mnl_nlmsg_batch_current(b->b), b->seq++);
        mnl_nlmsg_batch_next(b->b);
        if (mnl_socket_sendto(b->nl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b)) < 0)
                return error_set(ret_error, -errno,
                                 "nftables: sending a transaction to table ip %s: %m", table);
        rbuf = malloc(MNL_SOCKET_BUFFER_SIZE);
        if (!rbuf)
                return -ENOMEM;
        fd = mnl_socket_get_fd(b->nl);
        /* The kernel runs a batch inside sendmsg(), so its answers are queued when that
         * returns; after a failure it answers what it checked and may stop early, so only
         * what is already there is read then. */
        while (acks < expected) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;
                int len;

                if (poll(&p, 1, first ? 0 : 5000) <= 0)
                        break;
                n = recv(fd, rbuf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return error_set(ret_error, -errno,
                                         "nftables: reading the answer of table ip %s: %m", table);
                }
                len = (int)n;
                for (const struct nlmsghdr *h = (const struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len)) {
                        const struct nlmsgerr *e;

                        if (h->nlmsg_type != NLMSG_ERROR)
                                continue;
                        e = mnl_nlmsg_get_payload(h);
                        acks++;
                        if (e->error < 0 && !first) {
                                first = e->error;
                                first_idx = h->nlmsg_seq - b->seq_first;
                        }
                }
        }
        if (first < 0)
                return error_set(ret_error, first, "nftables: %s: %s",
                                 first_idx < b->n_what ? b->what[first_idx] : "a change",
                                 strerror(-first));
        if (acks < expected)
                return error_set(ret_error, -ETIMEDOUT,
                                 "nftables: table ip %s: %zu of %zu changes were not answered",
                                 table, expected - acks, expected);
        return 0;
}

/* ---- rule building: each helper appends one expression; an allocation failure marks the
 * builder and the rule is dropped at the end. ---- */

struct rule_builder {
        struct nftnl_rule *r;
        bool oom;
};

/* One attribute of an expression: a 32-bit value, or `len` bytes at `data`. */
struct expr_attr {
        uint16_t type;
        uint32_t u32;
        const void *data;
        uint32_t len;
};

/* Append expression `name` with its attributes to the rule. */
static void rb_put(struct rule_builder *rb, const char *name, const struct expr_attr *attrs,
                   size_t n)
{
        struct nftnl_expr *e = rb->oom ? NULL : nftnl_expr_alloc(name);

        if (!e) {
                rb->oom = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (attrs[i].data)
                        nftnl_expr_set(e, attrs[i].type, attrs[i].data, attrs[i].len);
                else
                        nftnl_expr_set_u32(e, attrs[i].type, attrs[i].u32);
        }
        nftnl_rule_add_expr(rb->r, e);
}

#define RB_PUT(rb, name, ...)                                                                      \
        rb_put((rb), (name), (const struct expr_attr[]){__VA_ARGS__},                              \
               sizeof((const struct expr_attr[]){__VA_ARGS__}) / sizeof(struct expr_attr))

/* reg1 = <len bytes at offset of the header `base`> */
static void rb_payload(struct rule_builder *rb, uint32_t base, uint32_t offset, uint32_t len)
{
        RB_PUT(rb, "payload", {NFTNL_EXPR_PAYLOAD_BASE, base}, {NFTNL_EXPR_PAYLOAD_OFFSET, offset},
               {NFTNL_EXPR_PAYLOAD_LEN, len}, {NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1});
}

static void rb_meta(struct rule_builder *rb, uint32_t key)
{
        RB_PUT(rb, "meta", {NFTNL_EXPR_META_KEY, key}, {NFTNL_EXPR_META_DREG, NFT_REG_1});
}

/* reg1 <op> data */
static void rb_cmp(struct rule_builder *rb, uint32_t op, const void *data, uint32_t len)
{
        RB_PUT(rb, "cmp", {NFTNL_EXPR_CMP_SREG, NFT_REG_1}, {NFTNL_EXPR_CMP_OP, op},
               {NFTNL_EXPR_CMP_DATA, .data = data, .len = len});
}

/* reg1 &= mask (xor 0). */
static void rb_mask(struct rule_builder *rb, const void *mask, uint32_t len)
{
        static const uint8_t zero[16];

        RB_PUT(rb, "bitwise", {NFTNL_EXPR_BITWISE_SREG, NFT_REG_1},
               {NFTNL_EXPR_BITWISE_DREG, NFT_REG_1}, {NFTNL_EXPR_BITWISE_LEN, len},
               {NFTNL_EXPR_BITWISE_MASK, .data = mask, .len = len},
               {NFTNL_EXPR_BITWISE_XOR, .data = zero, .len = len});
}

/* ip saddr|daddr (offset 12|16) & mask <op> net */
static void rb_ip_prefix(struct rule_builder *rb, uint32_t offset, uint32_t op, struct in_addr net,
                         unsigned prefix_len)
{
        uint32_t mask = prefix_len ? htonl(~0u << (32 - prefix_len)) : 0;
        uint32_t value = net.s_addr & mask;

        rb_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, offset, 4);
        rb_mask(rb, &mask, 4);
        rb_cmp(rb, op, &value, 4);
}

/* oifname <op> name: meta loads the name zero-padded to IFNAMSIZ, so the whole padded name
 * is compared (an exact match, not a prefix). */
static void rb_oifname(struct rule_builder *rb, uint32_t op, const char *name)
{
        char padded[IFNAMSIZ] = {};

        strncpy(padded, name, sizeof(padded) - 1);
        rb_meta(rb, NFT_META_OIFNAME);
        rb_cmp(rb, op, padded, sizeof(padded));
}

/* fib daddr type local: the destination is one of this namespace's own addresses (Docker's
 * `-m addrtype --dst-type LOCAL`), whichever interface holds it. */
static void rb_daddr_local(struct rule_builder *rb)
{
        uint32_t local = RTN_LOCAL; /* fib stores the type in host order */

        RB_PUT(rb, "fib", {NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR},
               {NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE}, {NFTNL_EXPR_FIB_DREG, NFT_REG_1});
        rb_cmp(rb, NFT_CMP_EQ, &local, sizeof(local));
}

static void rb_jump(struct rule_builder *rb, const char *chain)
{
        RB_PUT(rb, "immediate", {NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT},
               {NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP},
               {NFTNL_EXPR_IMM_CHAIN, .data = chain, .len = (uint32_t)strlen(chain) + 1});
}

static void rb_masquerade(struct rule_builder *rb)
{
        rb_put(rb, "masq", NULL, 0);
}

/* ct status dnat: the connection's destination was rewritten (by our prerouting). */
static void rb_ct_dnat(struct rule_builder *rb)
{
        uint32_t bit = IPS_DST_NAT, zero = 0;

        RB_PUT(rb, "ct", {NFTNL_EXPR_CT_KEY, NFT_CT_STATUS}, {NFTNL_EXPR_CT_DREG, NFT_REG_1});
        rb_mask(rb, &bit, sizeof(bit));
        rb_cmp(rb, NFT_CMP_NEQ, &zero, sizeof(zero));
}

/* meta l4proto <proto> th dport <host> dnat ip to <addr>:<port> */
static void rb_dnat(struct rule_builder *rb, const struct nft_port_rule *p, struct in_addr addr)
{
        uint16_t dport = htons(p->host_port), to_port = htons(p->container_port);

        rb_meta(rb, NFT_META_L4PROTO);
        rb_cmp(rb, NFT_CMP_EQ, &p->l4proto, 1);
        rb_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        rb_cmp(rb, NFT_CMP_EQ, &dport, 2);
        RB_PUT(rb, "immediate", {NFTNL_EXPR_IMM_DREG, NFT_REG_1},
               {NFTNL_EXPR_IMM_DATA, .data = &addr.s_addr, .len = 4});
        RB_PUT(rb, "immediate", {NFTNL_EXPR_IMM_DREG, NFT_REG_2},
               {NFTNL_EXPR_IMM_DATA, .data = &to_port, .len = 2});
        RB_PUT(rb, "nat", {NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT},
               {NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4}, {NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1},
               {NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2});
}

static void rb_comment(struct rule_builder *rb, const char *owner)
{
        struct nftnl_udata_buf *u;

        if (rb->oom)
                return;
        u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        if (!u || !nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, owner))
                rb->oom = true;
        else
                nftnl_rule_set_data(rb->r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
                                    nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
}

static struct rule_builder rb_start(const char *table, const char *chain)
{
        struct rule_builder rb = {.r = nftnl_rule_alloc()};

        if (!rb.r) {
                rb.oom = true;
                return rb;
        }
        nftnl_rule_set_u32(rb.r, NFTNL_RULE_FAMILY, NFPROTO_IPV4);
        nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, chain);
        return rb;
}

/* Put the built rule into the transaction as a `type` message (NEWRULE: appended at the
 * chain's end; DELRULE: by handle, or every rule of the chain without one). */
static void rb_commit(struct nft_batch *b, struct rule_builder *rb, uint16_t type, const char *what)
{
        if (rb->oom)
                b->failed = true;
        else {
                nftnl_rule_nlmsg_build_payload(
                    batch_msg(b, type, type == NFT_MSG_NEWRULE ? NLM_F_CREATE | NLM_F_APPEND : 0,
                              "%s", what),
                    rb->r);
                batch_next(b);
        }
        if (rb->r)
                nftnl_rule_free(rb->r);
        *rb = (struct rule_builder){};
}

static void batch_delete_rules(struct nft_batch *b, const char *table, const char *chain,
                               uint64_t handle, const char *what)
{
        struct rule_builder rb = rb_start(table, chain);

        if (!rb.oom && handle)
                nftnl_rule_set_u64(rb.r, NFTNL_RULE_HANDLE, handle);
        rb_commit(b, &rb, NFT_MSG_DELRULE, what);
}

/* NEWCHAIN (created when missing, left as it is otherwise); hook < 0: a regular chain. */
static void batch_chain(struct nft_batch *b, const char *table, const char *name, int hook,
                        int prio)
{
        struct nftnl_chain *c = nftnl_chain_alloc();

        if (!c) {
                b->failed = true;
                return;
        }
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (hook >= 0) {
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
        }
        nftnl_chain_nlmsg_build_payload(batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE,
                                                  "creating chain %s in table ip %s", name, table),
                                        c);
        batch_next(b);
        nftnl_chain_free(c);
}

/* NEWTABLE: created when missing, left as it is otherwise. */
static void batch_table(struct nft_batch *b, const char *table)
{
        struct nftnl_table *t = nftnl_table_alloc();

        if (!t) {
                b->failed = true;
                return;
        }
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
        nftnl_table_nlmsg_build_payload(
            batch_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, "creating table ip %s", table), t);
        batch_next(b);
        nftnl_table_free(t);
}

int nft_table_setup(const struct nft_config *cfg, char **ret_error)
{
        static const struct {
                const char *name;
                int hook, prio;
        } base[] = {
            {"prerouting", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST},
            {"output", NF_INET_LOCAL_OUT, NF_IP_PRI_NAT_DST},
            {"postrouting", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC},
        };
        const struct in_addr loopback = {.s_addr = htonl(INADDR_LOOPBACK)};
        _cleanup_(batch_free) struct nft_batch b = {};
        char subnet[INET_ADDRSTRLEN], what[256];
        struct rule_builder rb;
        int r;

        if (strlen(cfg->bridge) >= IFNAMSIZ || cfg->prefix_len > 32)
                return error_set(ret_error, -EINVAL,
                                 "nftables: bridge '%s' or prefix /%u is not valid", cfg->bridge,
                                 cfg->prefix_len);
        inet_ntop(AF_INET, &cfg->subnet, subnet, sizeof(subnet));
        r = batch_begin(&b, ret_error);
        if (r < 0)
                return r;
        /* Created when missing; the fixed rules are flushed and written again in the same
         * transaction (the subnet or the bridge may have changed since the last start), and
         * `ports` keeps the rules of the tasks that outlived the agent. */
        batch_table(&b, cfg->table);
        for (size_t i = 0; i < ELEMENTSOF(base); i++) {
                batch_chain(&b, cfg->table, base[i].name, base[i].hook, base[i].prio);
                snprintf(what, sizeof(what), "flushing chain %s of table ip %s", base[i].name,
                         cfg->table);
                batch_delete_rules(&b, cfg->table, base[i].name, 0, what);
        }
        batch_chain(&b, cfg->table, CHAIN_PORTS, -1, 0);

        rb = rb_start(cfg->table, "prerouting");
        rb_daddr_local(&rb);
        rb_jump(&rb, CHAIN_PORTS);
        rb_commit(&b, &rb, NFT_MSG_NEWRULE,
                  "adding 'fib daddr type local jump ports' to chain prerouting");

        /* 127.0.0.0/8 is left alone: DNAT of a loopback connection to a task would need
         * route_localnet and a masquerade of 127.0.0.1; the host reaches a mapped port at one of
         * its other addresses (documented in the README). */
        rb = rb_start(cfg->table, "output");
        rb_ip_prefix(&rb, 16, NFT_CMP_NEQ, loopback, 8);
        rb_daddr_local(&rb);
        rb_jump(&rb, CHAIN_PORTS);
        rb_commit(
            &b, &rb, NFT_MSG_NEWRULE,
            "adding 'ip daddr != 127.0.0.0/8 fib daddr type local jump ports' to chain output");

        /* Tasks reach other machines under the address of the interface they leave by. */
        rb = rb_start(cfg->table, "postrouting");
        rb_ip_prefix(&rb, 12, NFT_CMP_EQ, cfg->subnet, cfg->prefix_len);
        rb_oifname(&rb, NFT_CMP_NEQ, cfg->bridge);
        rb_masquerade(&rb);
        snprintf(what, sizeof(what),
                 "adding 'ip saddr %s/%u oifname != %s masquerade' to chain postrouting", subnet,
                 cfg->prefix_len, cfg->bridge);
        rb_commit(&b, &rb, NFT_MSG_NEWRULE, what);

        /* Hairpin: a task that reached another task (or itself) through a mapped port would
         * get the answer straight from the task's address, which it never asked, and drop it;
         * masquerading makes the answer come back through us. */
        rb = rb_start(cfg->table, "postrouting");
        rb_ip_prefix(&rb, 12, NFT_CMP_EQ, cfg->subnet, cfg->prefix_len);
        rb_oifname(&rb, NFT_CMP_EQ, cfg->bridge);
        rb_ct_dnat(&rb);
        rb_masquerade(&rb);
        snprintf(
            what, sizeof(what),
            "adding 'ip saddr %s/%u oifname %s ct status dnat masquerade' to chain postrouting",
            subnet, cfg->prefix_len, cfg->bridge);
        rb_commit(&b, &rb, NFT_MSG_NEWRULE, what);

        return batch_commit(&b, cfg->table, ret_error);
}

/* ---- reading the rules of `ports` ---- */

struct owned_rule {
        uint64_t handle;
        char *owner; /* NULL: no comment */
};

struct rule_list {
        struct owned_rule *v;
        size_t n, cap;
        bool oom;
};

static void rule_list_clear(struct rule_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].owner);
        free(l->v);
        *l = (struct rule_list){};
}

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
        const char **ret = data;
        const char *v = nftnl_udata_get(attr);
        uint8_t len = nftnl_udata_len(attr);

        if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && len > 0 && v[len - 1] == '\0')
                *ret = v;
        return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
        struct rule_list *l = data;
        struct nftnl_rule *r = nftnl_rule_alloc();
        const char *owner = NULL;
        const void *ud;
        uint32_t len = 0;

        if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0 || !ARRAY_GROW(l->v, l->cap, l->n + 1)) {
                l->oom = true;
                if (r)
                        nftnl_rule_free(r);
                return MNL_CB_OK;
        }
        ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
        if (ud)
                (void)nftnl_udata_parse(ud, len, comment_cb, &owner);
        l->v[l->n] = (struct owned_rule){.handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE)};
        if (owner && !(l->v[l->n].owner = strdup(owner)))
                l->oom = true;
        l->n++;
        nftnl_rule_free(r);
        return MNL_CB_OK;
}

/* Every rule of chain `ports` with its handle and owner; an empty list when the table or the
 * chain does not exist. */
static int ports_rules_list(const char *table, struct rule_list *ret, char **ret_error)
{
        _cleanup_free_ char *buf = malloc(DUMP_BUFFER);
        struct mnl_socket *nl = NULL;
        struct nftnl_rule *filter;
        struct nlmsghdr *nlh;
        uint32_t portid, seq = 1;
        ssize_t n;
        int r;

        *ret = (struct rule_list){};
        if (!buf)
                return -ENOMEM;
        filter = nftnl_rule_alloc();
        if (!filter)
                return -ENOMEM;
        r = nl_open(&nl, &portid, ret_error);
        if (r < 0) {
                nftnl_rule_free(filter);
                return r;
        }
        nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(filter, NFTNL_RULE_CHAIN, CHAIN_PORTS);
        nlh =
            nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_IPV4, NLM_F_DUMP | NLM_F_ACK, seq);
        nftnl_rule_nlmsg_build_payload(nlh, filter);
        nftnl_rule_free(filter);
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
                r = -errno;
                goto out;
        }
        do {
                n = mnl_socket_recvfrom(nl, buf, DUMP_BUFFER);
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                r = mnl_cb_run(buf, (size_t)n, seq, portid, rule_cb, ret);
                if (r < 0) {
                        r = -errno;
                        goto out;
                }
        } while (r > MNL_CB_STOP);
        r = ret->oom ? -ENOMEM : 0;
out:
        mnl_socket_close(nl);
        if (r == -ENOENT) {
                rule_list_clear(ret);
                return 0;
        }
        if (r < 0) {
                rule_list_clear(ret);
                return error_set(ret_error, r,
                                 "nftables: listing the rules of chain %s in table ip %s: %s",
                                 CHAIN_PORTS, table, strerror(-r));
        }
        return 0;
}

/* Queue the deletion of each listed rule for which `keep` says no. */
static size_t batch_delete_owned(struct nft_batch *b, const char *table, const struct rule_list *l,
                                 size_t from, size_t to,
                                 bool (*keep)(const char *owner, void *userdata), void *userdata)
{
        char what[256];
        size_t n = 0;

        for (size_t i = from; i < to; i++) {
                if (!l->v[i].owner || keep(l->v[i].owner, userdata))
                        continue;
                snprintf(what, sizeof(what),
                         "deleting rule %llu (task %s) of chain %s in table ip %s",
                         (unsigned long long)l->v[i].handle, l->v[i].owner, CHAIN_PORTS, table);
                batch_delete_rules(b, table, CHAIN_PORTS, l->v[i].handle, what);
                n++;
        }
        return n;
}

static bool keep_others(const char *owner, void *userdata)
{
        return !streq(owner, (const char *)userdata);
}

int nft_ports_replace(const char *table, const char *owner, struct in_addr addr,
                      const struct nft_port_rule *rules, size_t n, char **ret_error)
{
        _cleanup_(rule_list_clear) struct rule_list l = {};
        _cleanup_(batch_free) struct nft_batch b = {};
        char to[INET_ADDRSTRLEN], what[256];
        int r;

        if (!owner[0] || strlen(owner) > NFT_OWNER_MAX)
                return error_set(ret_error, -EINVAL,
                                 "nftables: owner '%s' is empty or longer than %d bytes", owner,
                                 NFT_OWNER_MAX);
        r = ports_rules_list(table, &l, ret_error);
        if (r < 0)
                return r;
        r = batch_begin(&b, ret_error);
        if (r < 0)
                return r;
        (void)batch_delete_owned(&b, table, &l, 0, l.n, keep_others, (void *)owner);
        inet_ntop(AF_INET, &addr, to, sizeof(to));
        for (size_t i = 0; i < n; i++) {
                struct rule_builder rb = rb_start(table, CHAIN_PORTS);
                const char *proto = rules[i].l4proto == IPPROTO_UDP ? "udp" : "tcp";

                assert(rules[i].l4proto == IPPROTO_TCP || rules[i].l4proto == IPPROTO_UDP);
                rb_dnat(&rb, &rules[i], addr);
                rb_comment(&rb, owner);
                snprintf(what, sizeof(what),
                         "adding '%s dport %u dnat to %s:%u' (task %s) to chain %s in table ip %s",
                         proto, rules[i].host_port, to, rules[i].container_port, owner, CHAIN_PORTS,
                         table);
                rb_commit(&b, &rb, NFT_MSG_NEWRULE, what);
        }
        return batch_commit(&b, table, ret_error);
}

int nft_ports_prune(const char *table, bool (*keep)(const char *owner, void *userdata),
                    void *userdata, size_t *ret_removed, char **ret_error)
{
        _cleanup_(rule_list_clear) struct rule_list l = {};
        size_t removed = 0;
        int r;

        r = ports_rules_list(table, &l, ret_error);
        if (r < 0)
                return r;
        for (size_t from = 0; from < l.n; from += PRUNE_CHUNK) {
                _cleanup_(batch_free) struct nft_batch b = {};
                size_t to = MIN(l.n, from + PRUNE_CHUNK), k;

                r = batch_begin(&b, ret_error);
                if (r < 0)
                        return r;
                k = batch_delete_owned(&b, table, &l, from, to, keep, userdata);
                r = batch_commit(&b, table, ret_error);
                if (r < 0)
                        return r;
                removed += k;
        }
        if (ret_removed)
                *ret_removed = removed;
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election among silo-masters sharing etcd: a lease, a create-if-absent leader key,
 * keepalives, and a deadline kept by this master's own clock, CLOCK_BOOTTIME (it runs on
 * during a suspend, as the lease does in etcd). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct event_loop;

/*
 * Campaign: grant a lease of --lease-ttl-s, then one txn that creates <prefix>leader bound to
 * it only if the key is absent (create_revision == 0). The winner's epoch is the key's
 * create_revision (the txn's revision). Its value: {"name", "advertise", "started_ms"}.
 *
 * Leading: a keepalive every TTL/3 on the loop's asynchronous etcd calls (a slow etcd never
 * blocks the loop). The leader acts only until its deadline: the send time of the last
 * answered grant or keepalive + the TTL etcd answered - a safety margin
 * (leader_deadline_ms()). etcd counts its TTL from when it received the request, later than
 * we sent it, so our deadline passes before etcd can expire the lease and let another master
 * win. At the deadline, or when etcd says the lease is gone, `deposed` runs and this master
 * must not launch, kill or answer anything more.
 *
 * Following: the leader key is read every poll interval (TTL/4, at most 1 s) and watched
 * (/v3/watch from the revision read, so nothing between the two is missed). When etcd reports
 * the key deleted (the leader's lease expired or was revoked), the follower campaigns at once:
 * the takeover after a leader dies is the lease's expiry plus one round trip, where the poll
 * alone added up to TTL/4. The poll stays, every TTL while the watch is open (a stream can stall
 * without breaking), and at its own rate when the watch cannot be opened or breaks (logged
 * once; the watch is opened again after a backoff, leader_watch_backoff_ms()). Both go through
 * the etcd client's endpoint failover. When the key is absent, the follower campaigns. A leader
 * key naming this master (a previous life of it: a crash, a re-exec after stepping down) is not
 * a leader to follow: its lease is revoked so the election goes on now rather than after the
 * TTL.
 */

enum master_role {
        MASTER_ROLE_STANDALONE, /* SQLite: the only master */
        MASTER_ROLE_FOLLOWER,
        MASTER_ROLE_LEADER,
};
const char *master_role_to_string(enum master_role r);

struct master_leader;

struct master_leader_config {
        const char *endpoints; /* etcd: "http://h1:2379,http://h2:2379" */
        const struct tls_files *tls; /* mutual TLS to etcd, or NULL */
        const char *prefix;    /* "/silo/": the key is <prefix>leader */
        const char *name;      /* this master's name (--name) */
        const char *advertise; /* the URL followers redirect to (--advertise) */
        uint64_t ttl_s;        /* --lease-ttl-s */
        /* Won: load the state at `epoch` and start leading. < 0: cannot lead (deposed). */
        int (*elected)(uint64_t epoch, void *userdata);
        /* The deadline moved (elected, or a keepalive answered): what bounds blocking calls. */
        void (*deadline)(uint64_t deadline_ms, void *userdata);
        /* Lost (lease expired by our clock or in etcd): stop acting at once. Runs once. */
        void (*deposed)(const char *why, void *userdata);
        void *userdata;
};

/* Check the configuration (-EINVAL naming the bad endpoint), nothing sent yet. */
int master_leader_new(const struct master_leader_config *cfg, struct master_leader **ret,
                      char **ret_error);
/* Start polling and campaigning on the loop. */
int master_leader_start(struct master_leader *l, struct event_loop *loop);
/* Stop; a leader revokes its lease first (blocking, one second at most) so a standby takes
 * over at once rather than after the TTL. */
struct master_leader *master_leader_free(struct master_leader *l);

/* Leading: take a keepalive answer that already arrived (its deadline counts from when it was
 * sent, so taking it late is sound) and send a keepalive that is due. The master calls it at
 * the start of each turn and around its blocking commit: a loop busy with requests would
 * otherwise judge the deadline before the answer sitting in the socket, or send the next
 * keepalive only after its whole turn. Does nothing when not leading. */
void master_leader_service(struct master_leader *l);

/* LEADER only while the deadline has not passed (checked now, by CLOCK_BOOTTIME, now_boot_ms). */
enum master_role master_leader_role(const struct master_leader *l);
/* This master's epoch when leading; the followed leader's as last read otherwise. */
uint64_t master_leader_epoch(const struct master_leader *l);
/* The leader's advertised URL as last read (NULL: no leader known; this one's when leading). */
const char *master_leader_url(const struct master_leader *l);
const char *master_leader_endpoints(const struct master_leader *l);

/* ---- arithmetic (pure, unit-tested) ---- */
/* What the leader's clock allows: sent_ms (now_boot_ms, when the grant or keepalive that etcd
 * answered with ttl_s was sent) + ttl_s - the margin. */
uint64_t leader_deadline_ms(uint64_t sent_ms, int64_t ttl_s);
/* The margin: a tenth of the TTL, at least 500 ms, at most a third of it. */
uint64_t leader_margin_ms(int64_t ttl_s);
/* How often a leader renews (TTL/3) and a follower reads the key (TTL/4, 100 ms .. 1 s). */
uint64_t leader_keepalive_interval_ms(int64_t ttl_s);
uint64_t leader_poll_interval_ms(int64_t ttl_s);
/* How long a follower waits before opening the leader key's watch again after the one before
 * (previous_ms, 0 for the first) broke: 0.5 s doubling up to 30 s. */
uint64_t leader_watch_backoff_ms(uint64_t previous_ms);
/* The leader key's value: {"name", "advertise", "instance" (the host's boot id),
 * "started_ms"}; parse gives borrowed strings of j. */
json_t *leader_value_json(const char *name, const char *advertise, const char *instance,
                          uint64_t started_ms);
/* Written by an earlier run of this master: same name, advertise URL and boot id (only one
 * process holds that port at a time). Another master with the same --name is not. */
bool leader_value_is_previous_life(const json_t *j, const char *name, const char *advertise,
                                   const char *instance);
int leader_value_parse(const json_t *j, const char **ret_name, const char **ret_advertise);

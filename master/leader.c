/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election among silo-masters sharing etcd (leader.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/event-loop.h"
#include "common/fileio.h"
#include "common/http-client.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/etcd.h"
#include "master/leader.h"

enum phase {
        PHASE_IDLE,     /* follower between polls */
        PHASE_POLLING,  /* range of the leader key in flight */
        PHASE_GRANTING, /* campaign: lease grant in flight */
        PHASE_CREATING, /* campaign: create-if-absent txn in flight */
        PHASE_LEADING,
        PHASE_DEPOSED, /* for good: the master re-executes itself */
};

struct master_leader {
        struct master_leader_config cfg; /* strings owned below */
        char *endpoints, *prefix, *name, *advertise;
        /* This host's boot id: an earlier run of this master (a re-exec, a restart) on this boot
         * wrote it with our name and advertise URL, whose port we hold now, so it is dead. */
        char instance[64];
        bool name_clash_logged;
        char *key; /* <prefix>leader */
        struct etcd *etcd;
        http_client *client; /* its own: keepalives never wait behind agent calls */
        struct event_loop *loop;
        struct event_source *timer;
        enum phase phase;
        bool freeing;

        int64_t lease, ttl_s;
        uint64_t grant_sent_ms;
        uint64_t deadline_ms; /* CLOCK_BOOTTIME (now_boot_ms): the leader acts until then */
        uint64_t epoch;
        uint64_t started_ms;
        bool keepalive_in_flight;
        uint64_t keepalive_sent_ms, next_keepalive_ms;
        bool keepalive_trouble; /* a failed keepalive was logged */

        char *leader_url; /* the leader's advertise as last read, NULL: none known */
        bool poll_trouble;

        /* Following: a watch on the leader key, so that its deletion (the leader's lease
         * expired or was revoked) starts a campaign one round trip later rather than at the
         * next poll. The poll goes on, slower while the watch is open (a stream can stall
         * without breaking), as it was when the watch cannot be opened. */
        struct etcd_watch *watch;
        bool watch_open;          /* etcd said "created" */
        bool watch_trouble;       /* a broken watch was logged; quiet until it opens again */
        uint64_t watch_retry_ms;  /* no new watch before (backoff) */
        uint64_t watch_backoff_ms;
        bool key_gone; /* the watch saw the key deleted: campaign at the next chance */
};

const char *master_role_to_string(enum master_role r)
{
        static const char *const names[] = {
            [MASTER_ROLE_STANDALONE] = "standalone",
            [MASTER_ROLE_FOLLOWER] = "follower",
            [MASTER_ROLE_LEADER] = "leader",
        };
        return (size_t)r < ELEMENTSOF(names) ? names[r] : "?";
}

/* ---- arithmetic ---- */

uint64_t leader_margin_ms(int64_t ttl_s)
{
        uint64_t ttl_ms = ttl_s > 0 ? (uint64_t)ttl_s * 1000 : 0;

        return MIN(MAX(ttl_ms / 10, (uint64_t)500), ttl_ms / 3);
}

uint64_t leader_deadline_ms(uint64_t sent_ms, int64_t ttl_s)
{
        if (ttl_s <= 0)
                return sent_ms;
        return sent_ms + (uint64_t)ttl_s * 1000 - leader_margin_ms(ttl_s);
}

uint64_t leader_keepalive_interval_ms(int64_t ttl_s)
{
        return ttl_s > 0 ? (uint64_t)ttl_s * 1000 / 3 : 100;
}

uint64_t leader_poll_interval_ms(int64_t ttl_s)
{
        uint64_t v = ttl_s > 0 ? (uint64_t)ttl_s * 1000 / 4 : 100;

        return MIN(MAX(v, (uint64_t)100), (uint64_t)1000);
}

json_t *leader_value_json(const char *name, const char *advertise, const char *instance,
                          uint64_t started_ms)
{
        return json_pack("{s:s, s:s, s:s, s:I}", "name", name, "advertise", advertise, "instance",
                         instance, "started_ms", (json_int_t)started_ms);
}

bool leader_value_is_previous_life(const json_t *j, const char *name, const char *advertise,
                                   const char *instance)
{
        const char *n = json_string_value(json_object_get(j, "name"));
        const char *a = json_string_value(json_object_get(j, "advertise"));
        const char *i = json_string_value(json_object_get(j, "instance"));

        return n && a && i && streq(n, name) && streq(a, advertise) && streq(i, instance);
}

int leader_value_parse(const json_t *j, const char **ret_name, const char **ret_advertise)
{
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *adv = json_string_value(json_object_get(j, "advertise"));

        if (!name || !adv || (strncmp(adv, "http://", 7) != 0 && strncmp(adv, "https://", 8) != 0))
                return -EBADMSG;
        *ret_name = name;
        *ret_advertise = adv;
        return 0;
}

uint64_t leader_watch_backoff_ms(uint64_t previous_ms)
{
        return previous_ms ? MIN(previous_ms * 2, (uint64_t)30000) : 500;
}

/* ---- driving ---- */

static void leader_schedule(struct master_leader *l, uint64_t at_ms)
{
        uint64_t now = now_boot_ms();

        if (l->timer)
                (void)event_source_set_time(l->timer, at_ms > now ? (at_ms - now) * 1000 : 1, 0);
}

static void leader_forget_leader(struct master_leader *l)
{
        l->leader_url = (free(l->leader_url), NULL);
}

static void leader_watch_close(struct master_leader *l)
{
        etcd_watch_cancel(l->watch);
        l->watch = NULL;
        l->watch_open = false;
}

static void leader_deposed(struct master_leader *l, const char *why)
{
        if (l->phase == PHASE_DEPOSED)
                return;
        log_error("no longer the leader (epoch %" PRIu64 "): %s; stepping down", l->epoch, why);
        l->phase = PHASE_DEPOSED;
        l->deadline_ms = 0;
        leader_forget_leader(l);
        (void)event_source_set_time(l->timer, UINT64_MAX, 0);
        l->cfg.deposed(why, l->cfg.userdata);
}

static void leader_set_leader(struct master_leader *l, const char *name, const char *url)
{
        if (l->leader_url && streq(l->leader_url, url))
                return;
        /* A leader value without a name (another tool, an older master) still has its URL. */
        log_info("following the leader %s at %s", name ? name : "(unnamed)", url);
        free(l->leader_url);
        l->leader_url = strdup(url);
}

/* One endpoint may not take the whole lease: each gets a sixth of the TTL. */
static unsigned leader_endpoint_timeout_ms(const struct master_leader *l)
{
        return (unsigned)MAX(l->cfg.ttl_s * 1000 / 6, (uint64_t)300);
}

static int leader_send(struct master_leader *l, const char *path, json_t *body, etcd_done_fn done)
{
        int r;

        if (!body)
                return -ENOMEM;
        r = etcd_call_async(l->etcd, l->client, path, body, leader_endpoint_timeout_ms(l), done, l);
        json_decref(body);
        return r;
}

static void on_revoked(int r, const json_t *answer, const char *error, void *userdata)
{
        struct master_leader *l = userdata;

        (void)answer;
        if (l->freeing)
                return;
        if (r < 0 && r != -ENOENT)
                log_debug("revoking a lease of ours: %s", strempty(error));
}

static void leader_revoke_async(struct master_leader *l, int64_t lease)
{
        if (leader_send(l, "/v3/lease/revoke", etcd_lease_id_body(lease), on_revoked) < 0)
                log_debug("cannot revoke lease %" PRId64, lease);
}

/* ---- campaign ---- */

static void on_created(int r, const json_t *answer, const char *error, void *userdata)
{
        struct master_leader *l = userdata;
        struct etcd_txn_result res = {0};
        const char *name, *url;
        _cleanup_free_ char *why = NULL;

        if (l->freeing)
                return;
        l->phase = PHASE_IDLE;
        if (r >= 0)
                r = etcd_txn_result_from_json(answer, &res);
        if (r < 0) {
                log_warning("campaign: %s", error ? error : strerror(-r));
                leader_revoke_async(l, l->lease);
                goto out;
        }
        if (!res.succeeded) {
                /* Another master was faster: follow it, give our lease back. */
                leader_revoke_async(l, l->lease);
                if (res.failure.n == 1 && res.failure.kvs[0].value) {
                        json_t *v = json_loads(res.failure.kvs[0].value, 0, NULL);

                        if (leader_value_parse(v, &name, &url) >= 0 && !streq(name, l->name))
                                leader_set_leader(l, name, url);
                        json_decref(v);
                }
                goto out;
        }
        l->epoch = (uint64_t)res.revision;
        l->deadline_ms = leader_deadline_ms(l->grant_sent_ms, l->ttl_s);
        l->phase = PHASE_LEADING;
        /* A leader watches nothing: its lease's keepalives tell it all it needs. */
        leader_watch_close(l);
        free(l->leader_url);
        l->leader_url = strdup(l->advertise);
        log_notice("elected leader with epoch %" PRIu64 " (lease %" PRId64 ", TTL %" PRId64
                   " s, etcd %s)",
                   l->epoch, l->lease, l->ttl_s, etcd_endpoint(l->etcd));
        if (now_boot_ms() >= l->deadline_ms) {
                leader_deposed(l, "the lease deadline passed while the election was won");
                goto out;
        }
        l->next_keepalive_ms = l->grant_sent_ms + leader_keepalive_interval_ms(l->ttl_s);
        l->cfg.deadline(l->deadline_ms, l->cfg.userdata);
        r = l->cfg.elected(l->epoch, l->cfg.userdata);
        if (r < 0) {
                if (asprintf(&why, "cannot lead: %s", strerror(-r)) < 0)
                        why = NULL;
                leader_deposed(l, why ? why : "cannot lead");
        }
out:
        etcd_txn_result_done(&res);
        if (l->phase == PHASE_IDLE)
                leader_schedule(l, now_boot_ms() + leader_poll_interval_ms(l->ttl_s));
        else if (l->phase == PHASE_LEADING)
                leader_schedule(l, MIN(l->next_keepalive_ms, l->deadline_ms));
}

static void leader_create(struct master_leader *l)
{
        _cleanup_free_ char *value = NULL;
        json_t *v = leader_value_json(l->name, l->advertise, l->instance, l->started_ms);
        struct etcd_txn t;
        int r;

        value = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        if (!value || etcd_txn_init(&t) < 0)
                return;
        r = etcd_txn_compare(&t, l->key, ETCD_CREATE, ETCD_EQUAL, 0);
        if (r >= 0)
                r = etcd_txn_put(&t, l->key, value, strlen(value), l->lease);
        if (r >= 0)
                r = etcd_txn_on_failure_get(&t, l->key);
        if (r >= 0)
                r = etcd_call_async(l->etcd, l->client, "/v3/kv/txn", etcd_txn_body(&t),
                                    leader_endpoint_timeout_ms(l), on_created, l);
        etcd_txn_done(&t);
        if (r < 0) {
                log_warning_errno(r, "campaign: cannot send the leader txn: %m");
                leader_revoke_async(l, l->lease);
                return;
        }
        l->phase = PHASE_CREATING;
}

static void on_granted(int r, const json_t *answer, const char *error, void *userdata)
{
        struct master_leader *l = userdata;

        if (l->freeing)
                return;
        l->phase = PHASE_IDLE;
        if (r >= 0)
                r = etcd_lease_grant_from_json(answer, &l->lease, &l->ttl_s);
        if (r < 0)
                log_warning("campaign: lease grant: %s", error ? error : strerror(-r));
        else
                leader_create(l);
        if (l->phase == PHASE_IDLE)
                leader_schedule(l, now_boot_ms() + leader_poll_interval_ms(l->ttl_s));
}

static void leader_campaign(struct master_leader *l)
{
        l->grant_sent_ms = now_boot_ms();
        if (leader_send(l, "/v3/lease/grant", etcd_lease_grant_body((int64_t)l->cfg.ttl_s),
                        on_granted) < 0)
                return;
        l->phase = PHASE_GRANTING;
}

/* ---- following ---- */

static void leader_watch_open(struct master_leader *l, int64_t from_revision);

/* The follower's next read of the key: slower while a watch reports changes as they happen. */
static uint64_t leader_follow_interval_ms(const struct master_leader *l)
{
        return l->watch_open ? MAX(leader_poll_interval_ms(l->cfg.ttl_s),
                                   (uint64_t)l->cfg.ttl_s * 1000)
                             : leader_poll_interval_ms(l->cfg.ttl_s);
}

/* The leader key names a leader to follow (name, URL) and is not this master's earlier life. */
static bool leader_follow_value(struct master_leader *l, const json_t *v, int64_t create_revision)
{
        const char *name, *url;

        if (leader_value_parse(v, &name, &url) < 0 ||
            leader_value_is_previous_life(v, l->name, l->advertise, l->instance))
                return false;
        /* The same --name on another host or port is a live master, not an earlier run of
         * this one: followed, never deposed; the duplicate is an error to fix. */
        if (streq(name, l->name) && !l->name_clash_logged) {
                log_error("the leader %s at %s has this master's --name '%s': give each master "
                          "its own name",
                          name, url, l->name);
                l->name_clash_logged = true;
        }
        leader_set_leader(l, name, url);
        l->epoch = (uint64_t)create_revision;
        return true;
}

static void on_polled(int r, const json_t *answer, const char *error, void *userdata)
{
        struct master_leader *l = userdata;
        struct etcd_kvs kvs = {0};
        const char *name, *url;
        json_t *v = NULL;

        /* Overtaken by the watch (a campaign started meanwhile): that decides. */
        if (l->freeing || l->phase != PHASE_POLLING)
                return;
        l->phase = PHASE_IDLE;
        if (r >= 0)
                r = etcd_kvs_from_json(answer, &kvs);
        if (r < 0) {
                if (!l->poll_trouble)
                        log_warning("reading the leader key: %s (no leader known until etcd "
                                    "answers)",
                                    error ? error : strerror(-r));
                l->poll_trouble = true;
                leader_forget_leader(l);
                goto out;
        }
        if (l->poll_trouble)
                log_info("etcd answers again (%s)", etcd_endpoint(l->etcd));
        l->poll_trouble = false;
        /* From the revision read on: no change between this read and the watch is missed. */
        if (!l->watch && now_boot_ms() >= l->watch_retry_ms)
                leader_watch_open(l, kvs.revision + 1);
        if (kvs.n == 0 || l->key_gone) {
                l->key_gone = false;
                leader_forget_leader(l);
                leader_campaign(l);
                goto out;
        }
        v = kvs.kvs[0].value ? json_loads(kvs.kvs[0].value, 0, NULL) : NULL;
        if (leader_follow_value(l, v, kvs.kvs[0].create_revision))
                goto out;
        leader_forget_leader(l);
        if (leader_value_parse(v, &name, &url) < 0)
                log_warning("leader key %s holds '%.80s', not {\"name\", \"advertise\"}: no leader "
                            "to redirect to until it expires",
                            l->key, strempty(kvs.kvs[0].value));
        else {
                /* Ours from before a crash or a step-down: this process does not lead. */
                log_notice("leader key %s names this master (%s) from an earlier run: revoking "
                           "its lease %" PRId64,
                           l->key, name, kvs.kvs[0].lease);
                if (kvs.kvs[0].lease)
                        leader_revoke_async(l, kvs.kvs[0].lease);
        }
out:
        json_decref(v);
        etcd_kvs_done(&kvs);
        if (l->phase == PHASE_IDLE)
                leader_schedule(l, now_boot_ms() + leader_follow_interval_ms(l));
}

/* ---- watching ---- */

/* The watch is gone (broken, cancelled by etcd, never opened): say so once until one opens
 * again, read the key meanwhile, open the next after a backoff. */
static void leader_watch_lost(struct master_leader *l, const char *why)
{
        if (!l->watch_trouble)
                log_warning("watching the leader key %s: %s; reading it every %" PRIu64
                            " ms until the watch opens again",
                            l->key, why, leader_poll_interval_ms(l->cfg.ttl_s));
        l->watch_trouble = true;
        l->watch = NULL;
        l->watch_open = false;
        l->watch_backoff_ms = leader_watch_backoff_ms(l->watch_backoff_ms);
        l->watch_retry_ms = now_boot_ms() + l->watch_backoff_ms;
}

/* Runs inside curl's write callback: it may not start or end transfers (libcurl refuses
 * calls into the multi handle from its callbacks), so a deletion only marks the key gone and
 * wakes the timer, which campaigns at once. */
static void on_watch_response(const json_t *j, void *userdata)
{
        struct master_leader *l = userdata;
        struct etcd_watch_response res = {0};
        const char *error = NULL;
        int r;

        if (l->freeing)
                return;
        r = etcd_watch_response_from_json(j, &res, &error);
        if (r < 0 || res.canceled) {
                /* Ends the stream; on_watch_end() does not run for a cancel. */
                etcd_watch_cancel(l->watch);
                leader_watch_lost(l, r == -EIO               ? strempty(error)
                                     : r < 0                 ? "an answer that is not a watch's"
                                     : res.compact_revision ? "its start was compacted away"
                                     : res.cancel_reason     ? res.cancel_reason
                                                             : "etcd cancelled it");
                if (l->phase == PHASE_IDLE)
                        leader_schedule(l, now_boot_ms()); /* read it now */
                goto out;
        }
        if (res.created && !l->watch_open) {
                if (l->watch_trouble)
                        log_info("watching the leader key %s again (etcd %s)", l->key,
                                 etcd_endpoint(l->etcd));
                else
                        log_debug("watching the leader key %s from revision %" PRId64, l->key,
                                  res.revision);
                l->watch_open = true;
                l->watch_trouble = false;
                l->watch_backoff_ms = 0;
        }
        for (size_t i = 0; i < res.n_events; i++) {
                const struct etcd_watch_event *ev = &res.events[i];
                json_t *v;

                if (!streq(ev->kv.key, l->key) || l->phase == PHASE_LEADING ||
                    l->phase == PHASE_DEPOSED)
                        continue;
                if (ev->deleted) {
                        log_info("the leader key %s was deleted (revision %" PRId64
                                 "): campaigning",
                                 l->key, ev->kv.mod_revision);
                        leader_forget_leader(l);
                        l->key_gone = true;
                        leader_schedule(l, now_boot_ms());
                        continue;
                }
                l->key_gone = false;
                v = ev->kv.value ? json_loads(ev->kv.value, 0, NULL) : NULL;
                /* Another leader won: follow it now. Anything else (our earlier life, a value
                 * not ours) is the poll's to handle, at once. */
                if (!leader_follow_value(l, v, ev->kv.create_revision) && l->phase == PHASE_IDLE)
                        leader_schedule(l, now_boot_ms());
                json_decref(v);
        }
out:
        etcd_watch_response_done(&res);
}

static void on_watch_end(int r, const char *error, void *userdata)
{
        struct master_leader *l = userdata;

        if (l->freeing) {
                l->watch = NULL;
                return;
        }
        leader_watch_lost(l, error ? error : strerror(-r));
        if (l->phase == PHASE_IDLE)
                leader_schedule(l, now_boot_ms() + leader_poll_interval_ms(l->cfg.ttl_s));
}

static void leader_watch_open(struct master_leader *l, int64_t from_revision)
{
        json_t *body = etcd_watch_body(l->key, NULL, from_revision);
        int r;

        r = body ? etcd_watch_async(l->etcd, l->client, body, leader_endpoint_timeout_ms(l),
                                    on_watch_response, on_watch_end, l, &l->watch)
                 : -ENOMEM;
        json_decref(body);
        if (r < 0)
                leader_watch_lost(l, strerror(-r));
}

static void leader_poll(struct master_leader *l)
{
        json_t *body = json_object();
        char *k = etcd_base64(l->key, strlen(l->key));

        if (!body || !k || json_object_set_new(body, "key", json_string(k)) < 0) {
                json_decref(body);
                free(k);
                return;
        }
        free(k);
        if (leader_send(l, "/v3/kv/range", body, on_polled) >= 0)
                l->phase = PHASE_POLLING;
}

/* ---- leading ---- */

static void on_keepalive(int r, const json_t *answer, const char *error, void *userdata)
{
        struct master_leader *l = userdata;
        int64_t ttl = 0;

        if (l->freeing || l->phase != PHASE_LEADING)
                return;
        l->keepalive_in_flight = false;
        if (r >= 0)
                r = etcd_lease_keepalive_from_json(answer, &ttl);
        if (r == -ENOENT) {
                leader_deposed(l, "etcd says the lease expired");
                return;
        }
        if (r < 0) {
                if (!l->keepalive_trouble)
                        log_warning("lease keepalive: %s (leading until the deadline in %" PRIu64
                                    " ms unless one succeeds)",
                                    error ? error : strerror(-r),
                                    l->deadline_ms > now_boot_ms() ? l->deadline_ms - now_boot_ms()
                                                                   : 0);
                l->keepalive_trouble = true;
                /* Try again soon: the deadline is what counts. */
                l->next_keepalive_ms =
                    now_boot_ms() + MIN(leader_keepalive_interval_ms(l->ttl_s) / 3, (uint64_t)500);
        } else {
                if (l->keepalive_trouble)
                        log_info("lease keepalive answered again");
                l->keepalive_trouble = false;
                l->deadline_ms = MAX(l->deadline_ms, leader_deadline_ms(l->keepalive_sent_ms, ttl));
                l->cfg.deadline(l->deadline_ms, l->cfg.userdata);
                l->next_keepalive_ms = l->keepalive_sent_ms + leader_keepalive_interval_ms(ttl);
        }
        leader_schedule(l, MIN(l->next_keepalive_ms, l->deadline_ms));
}

static void leader_keepalive(struct master_leader *l)
{
        l->keepalive_sent_ms = now_boot_ms();
        if (leader_send(l, "/v3/lease/keepalive", etcd_lease_id_body(l->lease), on_keepalive) < 0) {
                l->next_keepalive_ms = now_boot_ms() + 100;
                return;
        }
        l->keepalive_in_flight = true;
}

void master_leader_service(struct master_leader *l)
{
        if (!l || l->phase != PHASE_LEADING)
                return;
        /* Non-blocking: only what has arrived; on_keepalive() moves the deadline. */
        (void)http_client_process(l->client);
        if (l->phase == PHASE_LEADING && !l->keepalive_in_flight &&
            now_boot_ms() >= l->next_keepalive_ms && now_boot_ms() < l->deadline_ms) {
                leader_keepalive(l);
                /* Let curl write it now rather than after the caller's blocking work. */
                (void)http_client_process(l->client);
        }
}

static int on_timer(struct event_source *s, uint64_t n, void *userdata)
{
        struct master_leader *l = userdata;
        uint64_t now = now_boot_ms();

        (void)s;
        (void)n;
        switch (l->phase) {
        case PHASE_IDLE:
                if (l->key_gone) {
                        /* The watch saw the leader key go: no read first. */
                        l->key_gone = false;
                        leader_campaign(l);
                } else
                        leader_poll(l);
                if (l->phase == PHASE_IDLE)
                        leader_schedule(l, now + leader_poll_interval_ms(l->cfg.ttl_s));
                break;
        case PHASE_LEADING:
                /* The answer may be waiting behind this timer in the same wakeup. */
                if (l->keepalive_in_flight)
                        (void)http_client_process(l->client);
                if (l->phase != PHASE_LEADING)
                        break;
                if (now_boot_ms() >= l->deadline_ms) {
                        leader_deposed(l, "no keepalive answered before the lease deadline");
                        break;
                }
                if (!l->keepalive_in_flight && now >= l->next_keepalive_ms)
                        leader_keepalive(l);
                leader_schedule(l, l->keepalive_in_flight
                                       ? l->deadline_ms
                                       : MIN(l->next_keepalive_ms, l->deadline_ms));
                break;
        default: /* a call in flight decides; DEPOSED does nothing more */
                break;
        }
        return 0;
}

/* ---- lifecycle ---- */

int master_leader_new(const struct master_leader_config *cfg, struct master_leader **ret,
                      char **ret_error)
{
        struct master_leader *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->cfg = *cfg;
        l->endpoints = strdup(cfg->endpoints);
        l->prefix = strdup(cfg->prefix);
        l->name = strdup(cfg->name);
        l->advertise = strdup(cfg->advertise);
        l->started_ms = now_realtime_ms();
        {
                _cleanup_free_ char *boot = NULL;

                if (file_read_full("/proc/sys/kernel/random/boot_id", 64, &boot, NULL) >= 0 &&
                    boot[0]) {
                        boot[strcspn(boot, "\n")] = 0;
                        snprintf(l->instance, sizeof(l->instance), "%s", boot);
                } else /* never an earlier run's: its lease then simply expires */
                        snprintf(l->instance, sizeof(l->instance), "pid-%d-%" PRIu64,
                                 (int)getpid(), l->started_ms);
        }
        if (!l->endpoints || !l->prefix || !l->name || !l->advertise ||
            asprintf(&l->key, "%sleader", cfg->prefix) < 0) {
                l->key = NULL;
                master_leader_free(l);
                return -ENOMEM;
        }
        l->ttl_s = (int64_t)cfg->ttl_s;
        r = etcd_new(cfg->endpoints, 0, &l->etcd, ret_error);
        if (r >= 0)
                r = etcd_set_tls(l->etcd, cfg->tls, ret_error);
        if (r >= 0)
                r = http_client_new(&l->client);
        /* the keepalives and polls (asynchronous) go over the same TLS as the blocking calls */
        if (r >= 0)
                r = http_client_set_tls(l->client, cfg->tls);
        if (r < 0) {
                master_leader_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int master_leader_start(struct master_leader *l, struct event_loop *loop)
{
        int r;

        l->loop = loop;
        r = http_client_attach(l->client, loop);
        if (r < 0)
                return r;
        return event_loop_add_timer(loop, 1, 0, on_timer, l, NULL, &l->timer);
}

struct master_leader *master_leader_free(struct master_leader *l)
{
        if (!l)
                return NULL;
        l->freeing = true;
        l->timer = event_source_remove(l->timer);
        leader_watch_close(l);
        l->client = http_client_free(l->client); /* completions see freeing */
        if (l->phase == PHASE_LEADING && l->etcd) {
                _cleanup_free_ char *err = NULL;

                /* A clean stop hands over now, not after the TTL; an unreachable etcd
                 * holds the stop one second at most (the lease then expires by itself). */
                etcd_set_deadline(l->etcd, now_boot_ms() + 1000);
                if (etcd_lease_revoke(l->etcd, l->lease, &err) < 0)
                        log_warning("cannot revoke the leader's lease %" PRId64
                                    " (a standby takes over when it expires): %s",
                                    l->lease, strempty(err));
                else
                        log_info("leader lease revoked: a standby takes over now");
        }
        etcd_free(l->etcd);
        free(l->endpoints);
        free(l->prefix);
        free(l->name);
        free(l->advertise);
        free(l->key);
        free(l->leader_url);
        free(l);
        return NULL;
}

enum master_role master_leader_role(const struct master_leader *l)
{
        return l->phase == PHASE_LEADING && now_boot_ms() < l->deadline_ms ? MASTER_ROLE_LEADER
                                                                           : MASTER_ROLE_FOLLOWER;
}

uint64_t master_leader_epoch(const struct master_leader *l)
{
        return l->epoch;
}

const char *master_leader_url(const struct master_leader *l)
{
        /* A leader past its deadline knows of no leader: not itself any more. */
        if (l->phase == PHASE_LEADING && master_leader_role(l) != MASTER_ROLE_LEADER)
                return NULL;
        return l->leader_url;
}

const char *master_leader_endpoints(const struct master_leader *l)
{
        return l->endpoints;
}

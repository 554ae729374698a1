/* SPDX-License-Identifier: Apache-2.0 */
/* A small client of etcd 3.4's v3 JSON gateway (grpc-gateway) on libcurl, for the master's
 * state backend (store-etcd.c) and its leader election (leader.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/http-client.h"

/*
 * etcd speaks JSON on its client port (/v3/kv/range, /v3/kv/txn, /v3/kv/deleterange,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke, /v3/watch): keys and values are
 * base64, 64-bit integers are JSON strings in answers (numbers are accepted in requests), and
 * fields at their zero value are left out (a txn that failed has no "succeeded", an empty
 * value no "value").
 *
 * Endpoints: a client has a list ("http://10.0.0.1:2379,http://10.0.0.2:2379"). A call goes
 * to the endpoint that answered last; on a transport failure (refused, reset, timed out) or a
 * 503 (a member cut off from its quorum) it tries the next ones in turn, each once, and
 * remembers the one that answered. Any other answer, success or etcd error, is final.
 *
 * Errors (-errno, and a message naming the endpoint, the call and the key):
 *   transport failure on every endpoint: the last one's -errno (-ECONNREFUSED, -ETIMEDOUT...)
 *   etcd unavailable (503, no quorum):   -EAGAIN
 *   etcd's "too many operations"/"request is too large": -E2BIG
 *   a revision compacted away:           -ERANGE
 *   a lease that does not exist:         -ENOENT
 *   any other etcd error:                -EIO (-EINVAL for InvalidArgument)
 *   an answer that is not etcd's JSON:   -EBADMSG
 *
 * Two forms of every call: blocking (one kept libcurl easy handle, so the connection to etcd
 * is reused from call to call; the state backend commits with it, as SQLite's fsync blocks),
 * and asynchronous on the daemon's http_client (etcd_call_async()), for lease keepalives and
 * campaigns that must never hold the event loop. A struct etcd is not thread-safe.
 */

struct etcd;

/* endpoints: a comma-separated list of http:// or https:// URLs (no path), e.g.
 * "http://127.0.0.1:2379,http://127.0.0.1:22379". timeout_ms bounds each blocking call on
 * one endpoint (0 = 5 s). -EINVAL naming the bad entry. */
int etcd_new(const char *endpoints, unsigned timeout_ms, struct etcd **ret, char **ret_error);
struct etcd *etcd_free(struct etcd *e);
struct tls_files;
/* Mutual TLS to etcd (its --client-cert-auth): every later call checks etcd's certificate
 * against tls->ca and presents tls->cert/tls->key (copied). -EINVAL naming an endpoint that is
 * not https:// (nothing may go in clear when TLS is asked for). tls NULL or no cert: none. */
int etcd_set_tls(struct etcd *e, const struct tls_files *tls, char **ret_error);
/* Bound every later blocking call by deadline_ms (now_boot_ms, the lease's clock; 0: none):
 * each endpoint gets at most what is left, and past it a call fails at once with -ETIMEDOUT
 * without sending anything. The master's leader sets its lease deadline here, so a commit never keeps it
 * blocked, and acting, past the instant its leadership may have ended. */
void etcd_set_deadline(struct etcd *e, uint64_t deadline_ms);
/* The endpoint calls go to first (the one that answered last). */
const char *etcd_endpoint(const struct etcd *e);
/* The whole list as given, for messages ("no leader: etcd at http://...,http://..."). */
const char *etcd_endpoints(const struct etcd *e);

/* One key-value as etcd returns it; key and value decoded and NUL-terminated (value may hold
 * NULs: value_size). */
struct etcd_kv {
        char *key;
        char *value;
        size_t value_size;
        int64_t create_revision, mod_revision, version, lease;
};
void etcd_kv_done(struct etcd_kv *kv);
/* Decode one "kv" object of an answer (range, watch event, txn range response). */
int etcd_kv_from_json(const json_t *j, struct etcd_kv *ret);

/* A range's answer: the store's revision when it was read, and the keys, in key order. */
struct etcd_kvs {
        int64_t revision;
        struct etcd_kv *kvs;
        size_t n;
        bool more;     /* a limit cut it short */
        int64_t count; /* keys in the range */
};
void etcd_kvs_done(struct etcd_kvs *r);
int etcd_kvs_from_json(const json_t *j, struct etcd_kvs *ret);

/* The range_end of every key starting with prefix (the prefix with its last byte + 1,
 * carrying over 0xff), malloc'ed; "\0" (every key) for an empty prefix. */
char *etcd_prefix_end(const char *prefix);

/* Keys in [key, range_end) (range_end NULL: key alone) at `revision` (0 = now), at most
 * `limit` (0 = all), in key order. */
int etcd_range(struct etcd *e, const char *key, const char *range_end, int64_t revision,
               int64_t limit, struct etcd_kvs *ret, char **ret_error);
/* The first (last: true) key of [key, range_end) at `revision` (0 = now): ret->n is 0 or 1. */
int etcd_range_edge(struct etcd *e, const char *key, const char *range_end, int64_t revision,
                    bool last, struct etcd_kvs *ret, char **ret_error);
/* The revision the store is at now and how many keys are in [key, range_end) (count only). */
int etcd_count(struct etcd *e, const char *key, const char *range_end, int64_t *ret_revision,
               int64_t *ret_count, char **ret_error);

/* A transaction: if every compare holds, run `success`, else `failure`. Build it, commit it
 * (etcd_txn_commit()) or send its body (etcd_txn_body()) yourself, then etcd_txn_done(). */
struct etcd_txn {
        json_t *compare, *success, *failure;
        size_t n_ops;     /* operations in success (etcd limits them: --max-txn-ops, 128) */
        size_t n_bytes;   /* about the size of the request (etcd: --max-request-bytes, 1.5 MiB) */
        char *key0; /* the first key it touches (a copy: callers free theirs), for messages */
};
enum etcd_target { ETCD_VERSION, ETCD_CREATE, ETCD_MOD, ETCD_VALUE, ETCD_LEASE };
enum etcd_cmp { ETCD_EQUAL, ETCD_GREATER, ETCD_LESS, ETCD_NOT_EQUAL };
int etcd_txn_init(struct etcd_txn *t);
void etcd_txn_done(struct etcd_txn *t);
/* Compare the key's create_revision, mod_revision, version or lease with n (0 for a key that
 * does not exist). */
int etcd_txn_compare(struct etcd_txn *t, const char *key, enum etcd_target target,
                     enum etcd_cmp cmp, int64_t n);
/* Put a value (lease 0: none) on success. */
int etcd_txn_put(struct etcd_txn *t, const char *key, const void *value, size_t size,
                 int64_t lease);
/* Delete [key, range_end) (range_end NULL: key alone) on success. */
int etcd_txn_delete(struct etcd_txn *t, const char *key, const char *range_end);
/* Read key on failure, so a refused txn says what is there now (etcd_txn_result.failure_kvs). */
int etcd_txn_on_failure_get(struct etcd_txn *t, const char *key);
/* The request body (borrowed references into t: use it before etcd_txn_done()). */
json_t *etcd_txn_body(const struct etcd_txn *t);

struct etcd_txn_result {
        bool succeeded;
        int64_t revision;       /* the store's revision after it (the puts' mod_revision) */
        struct etcd_kvs failure; /* what etcd_txn_on_failure_get() read, when it failed */
};
void etcd_txn_result_done(struct etcd_txn_result *r);
int etcd_txn_result_from_json(const json_t *j, struct etcd_txn_result *ret);
/* A refused compare is not an error: 0 with ret->succeeded false. */
int etcd_txn_commit(struct etcd *e, const struct etcd_txn *t, struct etcd_txn_result *ret,
                    char **ret_error);

/* Delete [key, range_end) outside a txn; *ret_deleted (may be NULL) counts the keys. */
int etcd_delete(struct etcd *e, const char *key, const char *range_end, int64_t *ret_deleted,
                char **ret_error);

/* Forget the store's history before `revision` (/v3/kv/compaction): etcd keeps every revision
 * of every key until told, and a store written at every loop turn would fill its quota. */
int etcd_compact(struct etcd *e, int64_t revision, char **ret_error);

/* Leases. grant: a new lease of ttl_s seconds (etcd may grant a longer one: *ret_ttl_s).
 * keepalive: renew once; *ret_ttl_s is the TTL granted from now, -ENOENT when the lease is
 * gone (expired or revoked). revoke: delete it and every key bound to it. */
int etcd_lease_grant(struct etcd *e, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s,
                     char **ret_error);
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl_s, char **ret_error);
int etcd_lease_revoke(struct etcd *e, int64_t id, char **ret_error);
/* The answers' parsers, for the asynchronous form. keepalive: -ENOENT for a lost lease, -EIO
 * for the gateway's in-stream {"error": ...} (says nothing about the lease). */
int etcd_lease_grant_from_json(const json_t *j, int64_t *ret_id, int64_t *ret_ttl_s);
int etcd_lease_keepalive_from_json(const json_t *j, int64_t *ret_ttl_s);

/* Any call, blocking: POST `body` to `path` ("/v3/kv/range"...); *ret is etcd's answer
 * (new reference). `key` (may be NULL) only names the call in messages. */
int etcd_call(struct etcd *e, const char *path, const json_t *body, const char *key,
              json_t **ret, char **ret_error);

/* Any call, on an http_client the caller's loop drives. done runs exactly once, from
 * http_client_process() (never from here): r = 0 and the answer (borrowed) or r < 0 and a
 * message (borrowed); endpoint failover as for blocking calls. e must outlive the call;
 * body is copied. timeout_ms per endpoint (0 = the client's). Returns 0 or -errno (nothing
 * started: done never runs). */
typedef void (*etcd_done_fn)(int r, const json_t *answer, const char *error, void *userdata);
int etcd_call_async(struct etcd *e, http_client *c, const char *path, const json_t *body,
                    unsigned timeout_ms, etcd_done_fn done, void *userdata);

/* Request bodies, for etcd_call_async(). */
json_t *etcd_lease_grant_body(int64_t ttl_s);
json_t *etcd_lease_id_body(int64_t id); /* keepalive, revoke */
/* A watch of [key, range_end) from start_revision (0 = now): POST it to /v3/watch; etcd
 * answers with a stream of {"result": {"header", "created"?, "events": [{"type"?: "DELETE",
 * "kv": {...}}]}} objects (an event without "type" is a PUT). */
json_t *etcd_watch_body(const char *key, const char *range_end, int64_t start_revision);

/* ---- watches ---- */

/* The gateway answers /v3/watch with a stream of JSON objects, one a line (etcd 3.4 writes a
 * "\n" after each; objects that come without one are taken too). A stream reader keeps what is
 * not a whole object yet; feed gives each whole object to `fn` (borrowed), in order. -EBADMSG
 * for bytes that cannot begin a JSON object, -EFBIG past 4 MiB without a whole object; fn's own
 * -errno ends the feed. */
struct etcd_stream {
        char *buf;
        size_t n;
};
typedef int (*etcd_stream_fn)(const json_t *object, void *userdata);
int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t n, etcd_stream_fn fn,
                     void *userdata);
void etcd_stream_done(struct etcd_stream *s);

/* One object of a watch stream. */
struct etcd_watch_event {
        bool deleted; /* DELETE, else PUT */
        struct etcd_kv kv;
};
struct etcd_watch_response {
        int64_t revision; /* the header's: the store's revision when it was sent */
        bool created;     /* the watch is open (the first answer) */
        bool canceled;    /* etcd ended it: compacted, or cancel_reason */
        int64_t compact_revision; /* canceled because start_revision was compacted away */
        const char *cancel_reason; /* borrowed from the JSON */
        struct etcd_watch_event *events;
        size_t n_events; /* 0 with none of the flags: a progress notification */
};
/* -EIO for the gateway's in-stream {"error": ...} (*ret_error set), -EBADMSG for anything else
 * that is not {"result": ...}. */
int etcd_watch_response_from_json(const json_t *j, struct etcd_watch_response *ret,
                                  const char **ret_error);
void etcd_watch_response_done(struct etcd_watch_response *r);

/* A watch on the caller's loop: POST body (etcd_watch_body()) to /v3/watch on the endpoint that
 * answered last, trying the next ones while none has opened the stream (refused, reset, 503);
 * each object goes to on_response. etcd is asked to end the stream when its member loses its
 * raft leader (the gateway's "hasleader" metadata), so a watch never stays open, silent, on a
 * member cut off from the quorum. on_end runs once when the stream ends for any reason but
 * etcd_watch_cancel() (r < 0 and a message; 0 when the member closed it). */
struct etcd_watch;
typedef void (*etcd_watch_fn)(const json_t *response, void *userdata);
typedef void (*etcd_watch_end_fn)(int r, const char *error, void *userdata);
int etcd_watch_async(struct etcd *e, http_client *c, const json_t *body,
                     unsigned connect_timeout_ms, etcd_watch_fn on_response,
                     etcd_watch_end_fn on_end, void *userdata, struct etcd_watch **ret);
/* Close it; on_end does not run. May be called from on_response. */
void etcd_watch_cancel(struct etcd_watch *w);

/* Base64 (etcd's encoding of keys and values), through GnuTLS. */
char *etcd_base64(const void *data, size_t size);
int etcd_unbase64(const char *text, char **ret, size_t *ret_size);

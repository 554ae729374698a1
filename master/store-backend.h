/* SPDX-License-Identifier: Apache-2.0 */
/* The state backends' interface (store-sqlite.c, store-etcd.c) behind master/store.h: a table of
 * functions, as crun's cgroup backends, so no caller knows which store is in use. */
#pragma once

#include "common/id.h"

#include "master/store.h"

struct store_ops {
        const char *name; /* "sqlite", "etcd" */
        void (*free)(struct store *s);
        int (*change_begin)(struct store *s);
        int (*change_end)(struct store *s, int r);
        bool (*in_transaction)(struct store *s);
        int (*commit)(struct store *s);
        int (*set_epoch)(struct store *s, uint64_t epoch);
        void (*set_deadline)(struct store *s, uint64_t deadline_ms); /* NULL: nothing blocks long */
        int (*task_put)(struct store *s, const struct master_task *t);
        int (*event_add)(struct store *s, const struct store_event *e);
        int (*update_seen)(struct store *s, const char *update_id);
        int (*task_events)(struct store *s, const char *task_id, json_t **ret);
        int (*agent_put)(struct store *s, const struct master_agent *a);
        int (*volume_put)(struct store *s, const struct master_volume *v);
        int (*volume_delete)(struct store *s, const char *name);
        int (*load_volumes)(struct store *s, int (*cb)(struct master_volume *v, void *userdata),
                            void *userdata);
        int (*task_delete)(struct store *s, const char *task_id);
        int (*unapplied_sweep)(struct store *s, uint64_t *cursor, uint64_t before_ms, size_t max,
                               bool (*task_known)(const char *task_id, void *userdata),
                               void *userdata, size_t *ret_deleted);
        int (*load_agents)(struct store *s, int (*cb)(struct master_agent *a, void *userdata),
                           void *userdata);
        int (*load_tasks)(struct store *s, int (*cb)(struct master_task *t, void *userdata),
                          void *userdata);
        int (*history_each)(struct store *s,
                            int (*cb)(uint64_t seq, const struct store_event *e, void *userdata),
                            void *userdata);
        int (*history_import)(struct store *s, uint64_t seq, const struct store_event *e);
        int (*stream_bounds)(struct store *s, uint64_t *ret_oldest, uint64_t *ret_last);
        int (*stream_put)(struct store *s, const struct store_stream_event *e);
        int (*stream_range)(struct store *s, uint64_t after, size_t max,
                            int (*cb)(const struct store_stream_event *e, void *userdata),
                            void *userdata);
        int (*stream_trim)(struct store *s, uint64_t upto);
        int (*is_empty)(struct store *s, char **ret_error);
};

/* Every backend's object starts with this. */
struct store {
        const struct store_ops *ops;
        uint64_t epoch;
        /* The cluster's id (a UUID made with the state; "" for none yet): epochs count within it. */
        char cluster_id[ID_UUID_LEN + 1];
        void (*page_hook)(void *userdata); /* store_set_page_hook() */
        void *page_hook_userdata;
};

/* A history event as the JSON object GET /api/v1/tasks/<id> shows (and etcd stores). */
json_t *store_event_to_json(uint64_t seq, const struct store_event *e);

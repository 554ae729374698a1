/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed hash table (open addressing): the master's tasks and agents by id, the
 * allocator's agents, roles, groups and tasks, and the codecs' duplicate checks
 * (table_find_duplicate()), so no array is checked pairwise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Keys are borrowed: the caller keeps each key alive (it is the object's own id) until the
 * entry is removed. Values are opaque; the table never frees them.
 *
 * A table is either allocated (table_new()/table_free()) or embedded in another object: a
 * zero-initialised struct table is an empty table that allocates on its first put, and
 * table_done() releases it (the allocator's maps). The members are private to table.c. */
struct table_slot;
struct table {
        struct table_slot *slots;
        size_t cap;  /* power of two, or 0 before the first put */
        size_t n;    /* live entries */
        size_t used; /* live + tombstones: what drives growth */
};

int table_new(struct table **ret);
struct table *table_free(struct table *t);
/* Release an embedded table's memory; it is empty (and usable) again afterwards. */
void table_done(struct table *t);
void *table_get(const struct table *t, const char *key);
/* Insert or replace. Returns 0 or -ENOMEM. Putting back a key just removed needs no memory. */
int table_put(struct table *t, const char *key, void *value);
/* Remove and return the value (NULL when absent). */
void *table_remove(struct table *t, const char *key);
size_t table_size(const struct table *t);
/* Iterate: start with *i = 0; returns false at the end. The table must not change meanwhile;
 * ret_key and ret_value may be NULL. */
bool table_next(const struct table *t, size_t *i, const char **ret_key, void **ret_value);

/* The first key of keys[0..n) equal to an earlier one, in one pass (NULL keys are skipped):
 * 1 with *ret_index = its index and *ret_first = the earlier one's, 0 when all keys are
 * distinct, -ENOMEM. Replaces the pairwise loop that made a 94k-element array cost seconds. */
int table_find_duplicate(const char *const *keys, size_t n, size_t *ret_index, size_t *ret_first);

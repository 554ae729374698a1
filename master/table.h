/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed hash table (open addressing) for the master's tasks and agents by id. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Keys are borrowed: the caller keeps each key alive (it is the object's own id) until the
 * entry is removed. Values are opaque; the table never frees them. */
struct table;

int table_new(struct table **ret);
struct table *table_free(struct table *t);
void *table_get(const struct table *t, const char *key);
/* Insert or replace. Returns 0 or -ENOMEM. */
int table_put(struct table *t, const char *key, void *value);
/* Remove and return the value (NULL when absent). */
void *table_remove(struct table *t, const char *key);
size_t table_size(const struct table *t);
/* Iterate: start with *i = 0; returns false at the end. The table must not change meanwhile. */
bool table_next(const struct table *t, size_t *i, const char **ret_key, void **ret_value);

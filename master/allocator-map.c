/* SPDX-License-Identifier: Apache-2.0 */
/* A small string-keyed hash map for the allocator's agents, roles, groups and tasks (none of our
 * libraries offers one): open addressing, linear probing, tombstones, FNV-1a hashes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/allocator-internal.h"

/* A key pointer that never equals a real string: marks a deleted slot. */
static const char tombstone_key[1];
#define ALLOC_MAP_TOMBSTONE (tombstone_key)

static uint64_t hash_string(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        /* FNV's low bits are weak for short keys that differ in the last character; mix. */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return h;
}

static int map_grow(struct alloc_map *m)
{
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct alloc_map_slot *old = m->slots, *slots;
        size_t old_cap = m->cap;

        /* Rehash in place of growing when tombstones, not live entries, fill the table. */
        if (m->cap && m->n * 2 < m->cap)
                cap = m->cap;
        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < old_cap; i++) {
                size_t j;

                if (!old[i].key || old[i].key == ALLOC_MAP_TOMBSTONE)
                        continue;
                for (j = old[i].hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
                        ;
                slots[j] = old[i];
        }
        free(old);
        m->slots = slots;
        m->cap = cap;
        m->used = m->n;
        return 0;
}

static struct alloc_map_slot *map_find(const struct alloc_map *m, const char *key, uint64_t h)
{
        if (!m->cap)
                return NULL;
        for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
                struct alloc_map_slot *s = &m->slots[j];

                if (!s->key)
                        return NULL;
                if (s->key != ALLOC_MAP_TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
                        return s;
        }
}

int alloc_map_put(struct alloc_map *m, const char *key, void *value)
{
        uint64_t h = hash_string(key);
        size_t j;
        int r;

        if (map_find(m, key, h))
                return -EEXIST;
        /* Keep the load (with tombstones) under 3/4 so probes stay short and always end. */
        if ((m->used + 1) * 4 > m->cap * 3) {
                r = map_grow(m);
                if (r < 0)
                        return r;
        }
        for (j = h & (m->cap - 1); m->slots[j].key && m->slots[j].key != ALLOC_MAP_TOMBSTONE;
             j = (j + 1) & (m->cap - 1))
                ;
        if (!m->slots[j].key)
                m->used++;
        m->slots[j] = (struct alloc_map_slot){.key = key, .hash = h, .value = value};
        m->n++;
        return 0;
}

void *alloc_map_get(const struct alloc_map *m, const char *key)
{
        struct alloc_map_slot *s = map_find(m, key, hash_string(key));

        return s ? s->value : NULL;
}

void *alloc_map_remove(struct alloc_map *m, const char *key)
{
        struct alloc_map_slot *s = map_find(m, key, hash_string(key));
        void *v;

        if (!s)
                return NULL;
        v = s->value;
        s->key = ALLOC_MAP_TOMBSTONE;
        s->value = NULL;
        m->n--;
        return v;
}

bool alloc_map_next(const struct alloc_map *m, size_t *i, void **ret_value)
{
        for (; *i < m->cap; (*i)++) {
                const struct alloc_map_slot *s = &m->slots[*i];

                if (s->key && s->key != ALLOC_MAP_TOMBSTONE) {
                        *ret_value = s->value;
                        (*i)++;
                        return true;
                }
        }
        return false;
}

void alloc_map_done(struct alloc_map *m)
{
        free(m->slots);
        *m = (struct alloc_map){};
}

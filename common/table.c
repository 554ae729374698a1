/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed hash table (open addressing) with linear probing and FNV-1a. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/hash.h"
#include "common/table.h"

/* A key pointer that never equals a real string: marks a removed entry (a tombstone), which
 * keeps the probe chains that ran through its slot intact. */
static const char tombstone_key[1];
#define TOMBSTONE (tombstone_key)

struct table_slot {
        const char *key; /* NULL: empty; TOMBSTONE: removed */
        uint64_t hash;   /* compared before the key, so a probe rarely reads another string */
        void *value;
};

static bool slot_live(const struct table_slot *s)
{
        return s->key && s->key != TOMBSTONE;
}

/* Keys come from clients (task ids, device paths): a per-process random seed and a final
 * mix keep anyone from precomputing keys that share a slot and turn probes quadratic. */
static uint64_t table_seed;

static void table_seed_init(void)
{
        uint64_t s = 0;

        if (table_seed)
                return;
        if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
                s = (uint64_t)(uintptr_t)&s ^ (uint64_t)time(NULL);
        table_seed = s | 1;
}

static uint64_t table_hash(const char *s)
{
        /* FNV-1a from a seeded start, then a finaliser: every input bit reaches the low bits
         * the mask keeps */
        return hash_mix64(hash_fnv1a(HASH_FNV1A_OFFSET ^ table_seed, s, strlen(s)));
}

int table_new(struct table **ret)
{
        struct table *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

void table_done(struct table *t)
{
        free(t->slots);
        *t = (struct table){};
}

struct table *table_free(struct table *t)
{
        if (t) {
                table_done(t);
                free(t);
        }
        return NULL;
}

static struct table_slot *table_find(const struct table *t, const char *key)
{
        uint64_t h;

        if (t->n == 0)
                return NULL; /* also: nothing was hashed yet, the seed may be unset */
        h = table_hash(key);
        for (size_t mask = t->cap - 1, i = h & mask;; i = (i + 1) & mask) {
                struct table_slot *s = &t->slots[i];

                if (!s->key)
                        return NULL;
                if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
                        return s;
        }
}

void *table_get(const struct table *t, const char *key)
{
        struct table_slot *s = table_find(t, key);

        return s ? s->value : NULL;
}

/* Rehash into `cap` slots, dropping tombstones. */
static int table_resize(struct table *t, size_t cap)
{
        struct table_slot *old = t->slots, *slots;
        size_t old_cap = t->cap;

        table_seed_init();
        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < old_cap; i++) {
                size_t j;

                if (!slot_live(&old[i]))
                        continue;
                for (j = old[i].hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
                        ;
                slots[j] = old[i];
        }
        free(old);
        t->slots = slots;
        t->cap = cap;
        t->used = t->n;
        return 0;
}

int table_put(struct table *t, const char *key, void *value)
{
        struct table_slot *s, *reuse = NULL;
        uint64_t h;
        size_t i;
        int r;

        if (!t->cap && (r = table_resize(t, 16)) < 0)
                return r;
        h = table_hash(key);
        /* One probe finds the key, or the first tombstone on its chain to reuse. */
        for (i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
                s = &t->slots[i];
                if (!s->key)
                        break;
                if (s->key == TOMBSTONE) {
                        if (!reuse)
                                reuse = s;
                } else if (s->hash == h && strcmp(s->key, key) == 0) {
                        s->key = key;
                        s->value = value;
                        return 0;
                }
        }
        if (reuse) {
                *reuse = (struct table_slot){.key = key, .hash = h, .value = value};
                t->n++;
                return 0;
        }
        /* Keep the load (tombstones included) under 70 % so probes stay short and end. */
        if ((t->used + 1) * 10 > t->cap * 7) {
                r = table_resize(t, t->n * 2 + 1 > t->cap / 2 ? t->cap * 2 : t->cap);
                if (r < 0)
                        return r;
                for (i = h & (t->cap - 1); t->slots[i].key; i = (i + 1) & (t->cap - 1))
                        ;
                s = &t->slots[i];
        }
        *s = (struct table_slot){.key = key, .hash = h, .value = value};
        t->n++;
        t->used++;
        return 0;
}

void *table_remove(struct table *t, const char *key)
{
        struct table_slot *s = table_find(t, key);
        void *v;

        if (!s)
                return NULL;
        v = s->value;
        *s = (struct table_slot){.key = TOMBSTONE};
        t->n--;
        return v;
}

size_t table_size(const struct table *t)
{
        return t->n;
}

bool table_next(const struct table *t, size_t *i, const char **ret_key, void **ret_value)
{
        for (; *i < t->cap; (*i)++) {
                if (slot_live(&t->slots[*i])) {
                        if (ret_key)
                                *ret_key = t->slots[*i].key;
                        if (ret_value)
                                *ret_value = t->slots[*i].value;
                        (*i)++;
                        return true;
                }
        }
        return false;
}

int table_find_duplicate(const char *const *keys, size_t n, size_t *ret_index, size_t *ret_first)
{
        struct table *t = NULL;
        int r;

        if (n < 2)
                return 0;
        r = table_new(&t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                void *seen;

                if (!keys[i])
                        continue;
                seen = table_get(t, keys[i]);
                if (seen) {
                        /* values are index + 1, so index 0 is not NULL */
                        *ret_index = i;
                        *ret_first = (size_t)((uintptr_t)seen - 1);
                        table_free(t);
                        return 1;
                }
                r = table_put(t, keys[i], (void *)(uintptr_t)(i + 1));
                if (r < 0) {
                        table_free(t);
                        return r;
                }
        }
        table_free(t);
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed hash table (open addressing) with linear probing and FNV-1a. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/table.h"

struct table_slot {
        const char *key; /* NULL = empty */
        void *value;
        bool tombstone;
};

struct table {
        struct table_slot *slots;
        size_t cap;  /* power of two */
        size_t n;    /* live entries */
        size_t used; /* live + tombstones: what drives growth */
};

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
        uint64_t h = 1469598103934665603ULL ^ table_seed; /* FNV-1a */

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        /* murmur3's fmix64: every input bit reaches the low bits the mask keeps */
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}

int table_new(struct table **ret)
{
        struct table *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        table_seed_init();
        t->cap = 64;
        t->slots = calloc(t->cap, sizeof(*t->slots));
        if (!t->slots) {
                free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

struct table *table_free(struct table *t)
{
        if (t) {
                free(t->slots);
                free(t);
        }
        return NULL;
}

static struct table_slot *table_find(const struct table *t, const char *key)
{
        size_t mask = t->cap - 1, i = table_hash(key) & mask;

        for (;;) {
                struct table_slot *s = &t->slots[i];

                if (!s->key && !s->tombstone)
                        return NULL;
                if (s->key && strcmp(s->key, key) == 0)
                        return s;
                i = (i + 1) & mask;
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

        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        t->slots = slots;
        t->cap = cap;
        t->used = t->n;
        for (size_t i = 0; i < old_cap; i++) {
                if (!old[i].key)
                        continue;
                size_t j = table_hash(old[i].key) & (cap - 1);
                while (slots[j].key)
                        j = (j + 1) & (cap - 1);
                slots[j].key = old[i].key;
                slots[j].value = old[i].value;
        }
        free(old);
        return 0;
}

int table_put(struct table *t, const char *key, void *value)
{
        struct table_slot *s = table_find(t, key);
        size_t i;

        if (s) {
                s->key = key;
                s->value = value;
                return 0;
        }
        /* Keep the load (tombstones included) under 70 % so probes stay short. */
        if ((t->used + 1) * 10 > t->cap * 7) {
                int r = table_resize(t, t->n * 2 + 1 > t->cap / 2 ? t->cap * 2 : t->cap);
                if (r < 0)
                        return r;
        }
        i = table_hash(key) & (t->cap - 1);
        while (t->slots[i].key)
                i = (i + 1) & (t->cap - 1);
        if (!t->slots[i].tombstone)
                t->used++;
        t->slots[i] = (struct table_slot){.key = key, .value = value};
        t->n++;
        return 0;
}

void *table_remove(struct table *t, const char *key)
{
        struct table_slot *s = table_find(t, key);
        void *v;

        if (!s)
                return NULL;
        v = s->value;
        s->key = NULL;
        s->value = NULL;
        s->tombstone = true;
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
                if (t->slots[*i].key) {
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

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one growable array: make room for `need` elements in a heap array, doubling its
 * capacity (systemd's GREEDY_REALLOC). The array is any `T *p` with a `size_t cap` beside it:
 *
 *     if (!ARRAY_GROW(l->items, l->cap, l->n + 1))
 *             return -ENOMEM;
 *     l->items[l->n++] = x;
 *
 * New slots are zeroed. On failure the array is left as it was.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

bool array_grow(void **p, size_t *cap, size_t need, size_t elem_size, size_t min_cap);

#define ARRAY_GROW(p, cap, need) \
        array_grow((void **)&(p), &(cap), (need), sizeof(*(p)), 16)

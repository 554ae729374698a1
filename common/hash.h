/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The non-cryptographic hashes, one copy each: FNV-1a over bytes and the splitmix64
 * finaliser. Both are fixed functions (no per-process seed inside), so what is derived from
 * them stays the same across builds and restarts: status update ids (agent/status-queue.c),
 * verify payloads and block orders (io/); a hash table mixes its own random seed into the
 * starting value (common/table.c).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_OFFSET 0xcbf29ce484222325ULL

/* FNV-1a, 64 bit, continued from `h` (start with HASH_FNV1A_OFFSET). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *data, size_t n)
{
        const unsigned char *p = data;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

/* The splitmix64 finaliser: every input bit reaches every output bit. */
static inline uint64_t hash_mix64(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

/* splitmix64 (Steele, Lea, Flood 2014): one step of the generator, as a hash of x. */
static inline uint64_t hash_splitmix64(uint64_t x)
{
        return hash_mix64(x + 0x9e3779b97f4a7c15ULL);
}

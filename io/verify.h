/* SPDX-License-Identifier: Apache-2.0 */
/* Verify blocks: a header {magic, offset, seed, block size, payload checksum} followed by a
 * payload derived from (seed, offset), so a reader can tell what a block should hold. */
#pragma once

#include <stdint.h>

#define IO_VERIFY_MAGIC 0x3152455653494c53ULL /* "SLISVER1" little-endian */
#define IO_VERIFY_HDR_SIZE 64U

/* On-disk layout (little-endian, the rest of the 64 bytes is zero). */
struct io_verify_hdr {
        uint64_t magic;
        uint64_t offset;
        uint64_t seed;
        uint32_t bs;
        uint32_t crc;   /* crc32 (zlib) of the payload: the bs - 64 bytes after the header */
};

enum io_verify_status {
        IO_VERIFY_OK,
        IO_VERIFY_BAD_MAGIC,
        IO_VERIFY_BAD_OFFSET,
        IO_VERIFY_BAD_SEED,
        IO_VERIFY_BAD_BS,
        IO_VERIFY_BAD_CHECKSUM,
        _IO_VERIFY_MAX,
};

/* "ok", "bad magic", "wrong offset", "wrong seed", "wrong block size", "checksum mismatch" */
const char *io_verify_status_to_string(enum io_verify_status s);

/* What the header said against what was expected, for the report. */
struct io_verify_detail {
        uint64_t expected;
        uint64_t found;
};

/* Write the block for (offset, seed) into buf (bs >= IO_VERIFY_HDR_SIZE, 8-byte aligned). */
void io_verify_fill(void *buf, uint32_t bs, uint64_t offset, uint64_t seed);
/* Check a block read from `offset`; the first problem found wins, in the order of the enum.
 * ret_detail may be NULL. */
enum io_verify_status io_verify_check(const void *buf, uint32_t bs, uint64_t offset,
                                      uint64_t seed, struct io_verify_detail *ret_detail);

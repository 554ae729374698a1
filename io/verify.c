/* SPDX-License-Identifier: Apache-2.0 */
/* Verify block encoding and checking: deterministic payload from (seed, offset), zlib crc32. */
#include <endian.h>
#include <string.h>
#include <zlib.h>

#include "common/hash.h"
#include "io/verify.h"

static const char *const status_names[_IO_VERIFY_MAX] = {
        [IO_VERIFY_OK] = "ok",
        [IO_VERIFY_BAD_MAGIC] = "bad magic",
        [IO_VERIFY_BAD_OFFSET] = "wrong offset",
        [IO_VERIFY_BAD_SEED] = "wrong seed",
        [IO_VERIFY_BAD_BS] = "wrong block size",
        [IO_VERIFY_BAD_CHECKSUM] = "checksum mismatch",
};

const char *io_verify_status_to_string(enum io_verify_status s)
{
        if ((unsigned)s >= _IO_VERIFY_MAX)
                return "unknown";
        return status_names[s];
}

/* xorshift64* stream: cheap enough to fill GB/s, and every (seed, offset) gives a different
 * stream, so a block written at another offset or by another run never matches. */
static void payload_fill(uint8_t *p, size_t len, uint64_t offset, uint64_t seed)
{
        uint64_t s = hash_splitmix64(seed ^ hash_splitmix64(offset)) | 1;
        size_t i = 0;

        for (; i + 8 <= len; i += 8) {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                uint64_t v = htole64(s * 0x2545f4914f6cdd1dULL);
                memcpy(p + i, &v, 8);
        }
        for (; i < len; i++)
                p[i] = (uint8_t)(i ^ seed);
}

static uint32_t payload_crc(const uint8_t *p, size_t len)
{
        uLong crc = crc32(0L, Z_NULL, 0);
        /* zlib takes uInt lengths: feed in chunks so 64 MiB blocks are fine too. */
        while (len) {
                uInt n = len > (1U << 30) ? (1U << 30) : (uInt)len;
                crc = crc32(crc, p, n);
                p += n;
                len -= n;
        }
        return (uint32_t)crc;
}

void io_verify_fill(void *buf, uint32_t bs, uint64_t offset, uint64_t seed)
{
        uint8_t *b = buf;
        struct io_verify_hdr h;

        payload_fill(b + IO_VERIFY_HDR_SIZE, bs - IO_VERIFY_HDR_SIZE, offset, seed);
        h = (struct io_verify_hdr){
                .magic = htole64(IO_VERIFY_MAGIC),
                .offset = htole64(offset),
                .seed = htole64(seed),
                .bs = htole32(bs),
                .crc = htole32(payload_crc(b + IO_VERIFY_HDR_SIZE, bs - IO_VERIFY_HDR_SIZE)),
        };
        memset(b, 0, IO_VERIFY_HDR_SIZE);
        memcpy(b, &h, sizeof(h));
}

enum io_verify_status io_verify_check(const void *buf, uint32_t bs, uint64_t offset,
                                      uint64_t seed, struct io_verify_detail *ret_detail)
{
        const uint8_t *b = buf;
        struct io_verify_hdr h;
        struct io_verify_detail d = {};
        enum io_verify_status st = IO_VERIFY_OK;
        uint32_t crc;

        memcpy(&h, b, sizeof(h));
        if (le64toh(h.magic) != IO_VERIFY_MAGIC) {
                st = IO_VERIFY_BAD_MAGIC;
                d = (struct io_verify_detail){ IO_VERIFY_MAGIC, le64toh(h.magic) };
        } else if (le64toh(h.offset) != offset) {
                st = IO_VERIFY_BAD_OFFSET;
                d = (struct io_verify_detail){ offset, le64toh(h.offset) };
        } else if (le64toh(h.seed) != seed) {
                st = IO_VERIFY_BAD_SEED;
                d = (struct io_verify_detail){ seed, le64toh(h.seed) };
        } else if (le32toh(h.bs) != bs) {
                st = IO_VERIFY_BAD_BS;
                d = (struct io_verify_detail){ bs, le32toh(h.bs) };
        } else if ((crc = payload_crc(b + IO_VERIFY_HDR_SIZE, bs - IO_VERIFY_HDR_SIZE)) !=
                   le32toh(h.crc)) {
                st = IO_VERIFY_BAD_CHECKSUM;
                d = (struct io_verify_detail){ le32toh(h.crc), crc };
        }
        if (ret_detail)
                *ret_detail = d;
        return st;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Device calibration for the agent: time-bounded read bandwidth and IOPS of a disk (and write
 * figures where writes are allowed), each recorded with how it was measured. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define IO_CALIBRATE_DEFAULT_SECONDS 5.0
#define IO_CALIBRATE_DEFAULT_SCRATCH (1ULL << 30)

struct io_calibrate_opts {
        /* A block device node (reads on the raw device), or a directory on the disk's
         * filesystem (reads on its block device; writes, if allowed, on a scratch file there). */
        const char *path;
        double seconds;         /* per figure; 0 = IO_CALIBRATE_DEFAULT_SECONDS */
        /* Directory: create a scratch file (deleted afterwards) and measure writes on it.
         * Device: write to the device itself; refused if it or a partition is mounted or held. */
        bool allow_write;
        uint64_t scratch_size;  /* scratch file size; 0 = 1 GiB */
        uint64_t region_size;   /* device bytes to use from offset 0; 0 = the whole device */
};

struct io_calibration_figure {
        bool measured;
        double value;           /* bytes/s for *_bps, I/Os per second for *_iops */
        char method[16];        /* "seqread", "randread", "seqwrite", "randwrite" */
        char target[PATH_MAX];  /* what was read or written: the device or the scratch file */
        bool scratch_file;
        uint32_t bs;
        uint32_t iodepth;
        double seconds;         /* measured run time */
        bool direct;
        double p99_us;
        /* Reads that may have hit never-written blocks (thin/flash devices answer those
         * without touching media, so the figure can be optimistic). */
        bool unwritten_data;
};

struct io_calibration {
        char path[PATH_MAX];
        char device[32];        /* "MAJ:MIN" of the disk, "" when there is none */
        uint64_t device_size;
        struct io_calibration_figure read_bps;
        struct io_calibration_figure read_iops;
        struct io_calibration_figure write_bps;
        struct io_calibration_figure write_iops;
};

/* Measure the disk at o->path: sequential read bandwidth (1 MiB, QD 32) and random read IOPS
 * (4 KiB, QD 64), each for o->seconds; with o->allow_write also sequential write bandwidth and
 * random write IOPS (written before the reads, so the reads then see real data). Returns 0 or
 * -errno with *ret_error naming the path; ret is written only on success. */
int io_calibrate_disk(const struct io_calibrate_opts *o, struct io_calibration *ret,
                      char **ret_error);

/* {"path", "device", "size", "read_bps": {"value", "measured", "method", "target", "bs",
 *  "iodepth", "seconds", "direct", "p99_us", "unwritten_data"}, "read_iops": ..., ...}
 * New reference, NULL on allocation failure. */
json_t *io_calibration_to_json(const struct io_calibration *c);

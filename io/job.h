/* SPDX-License-Identifier: Apache-2.0 */
/* An I/O job description (what to run) plus the fio-style value parsers it is built from. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum io_rw {
        IO_RW_READ,
        IO_RW_WRITE,
        IO_RW_RANDREAD,
        IO_RW_RANDWRITE,
        IO_RW_RW,     /* sequential, mixed by rwmixread */
        IO_RW_RANDRW, /* random, mixed by rwmixread */
        _IO_RW_MAX,
};

const char *io_rw_to_string(enum io_rw rw);
/* Accepts fio's names (read, write, randread, randwrite, rw, readwrite, randrw).
 * Returns the mode or -EINVAL. */
int io_rw_from_string(const char *s);
bool io_rw_is_random(enum io_rw rw);
bool io_rw_reads(enum io_rw rw);
bool io_rw_writes(enum io_rw rw);

#define IO_JOB_MAX_CPUS 256
#define IO_JOB_MAX_IODEPTH 4096
#define IO_JOB_MAX_NUMJOBS 64
#define IO_JOB_MAX_BS (64U << 20)

struct io_job {
        const char *filename;
        int fd;                /* >= 0: use this open fd instead of opening filename (not closed) */
        enum io_rw rw;
        uint32_t bs;
        uint32_t iodepth;
        uint64_t offset;       /* start of the region, bytes */
        uint64_t size;         /* region length; 0 = to the end of the file or device */
        uint64_t io_size;      /* bytes to move per job; 0 = size (one pass over the region) */
        uint64_t runtime_ns;   /* > 0: time based, loop over the region until it elapses */
        uint32_t numjobs;      /* threads, one ring each, each doing the whole job */
        int direct;            /* 1 O_DIRECT, 0 buffered, -1 default (direct on block devices) */
        bool verify;           /* write pass stamping headers, then a read-back verify pass */
        bool verify_only;      /* only the read-back verify pass */
        uint64_t seed;         /* run seed: offsets and verify payload derive from it */
        uint32_t rwmixread;    /* percent of reads in rw/randrw */
        uint64_t rate_bps;     /* per job, 0 = unlimited */
        uint16_t cpus[IO_JOB_MAX_CPUS]; /* job i runs on cpus[i % ncpus] */
        uint32_t ncpus;
        bool sqpoll;
        bool hipri;            /* IORING_SETUP_IOPOLL */
        bool fixedbufs;        /* registered buffers (default on) */
        bool registerfiles;    /* registered file, fixed index in SQEs (default on) */
        bool allow_write_device;
        /* Optional: set it (from a signal handler or another thread) to end the run early;
         * in-flight I/O is drained and the result covers what completed. */
        const atomic_bool *cancel;
};

/* Defaults: read, 4 KiB, QD 1, one job, direct by target, seed 0x5110, 50% reads,
 * registered buffers and files. */
void io_job_init(struct io_job *job);

/* fio sizes: an integer with an optional 1024-based suffix (k, K, KiB, kb, m, MiB, g, t, p,
 * optionally followed by "b"), so "4k" is 4096. Returns 0, -EINVAL or -ERANGE. */
int io_size_parse(const char *s, uint64_t *ret);
/* Durations: integer with an optional unit us, ms, s (default), m, h. Returns 0 or -EINVAL/-ERANGE. */
int io_duration_parse(const char *s, uint64_t *ret_ns);
/* CPU lists "0-3,6". Returns the count (> 0) or -EINVAL/-ERANGE. */
int io_cpulist_parse(const char *s, uint16_t *cpus, size_t max);

/* Check the combination of settings; on failure return -EINVAL with *ret_error (may be NULL)
 * naming the option and the offending value. Target-dependent checks (size of the device,
 * block device writes) happen when the job runs. */
int io_job_validate(const struct io_job *job, char **ret_error);

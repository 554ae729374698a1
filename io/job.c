/* SPDX-License-Identifier: Apache-2.0 */
/* Job defaults, fio-compatible value parsers (sizes, durations, CPU lists) and job validation. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cpu-list.h"
#include "common/error.h"
#include "common/macro.h"
#include "io/job.h"

static const char *const rw_names[_IO_RW_MAX] = {
        [IO_RW_READ] = "read",
        [IO_RW_WRITE] = "write",
        [IO_RW_RANDREAD] = "randread",
        [IO_RW_RANDWRITE] = "randwrite",
        [IO_RW_RW] = "rw",
        [IO_RW_RANDRW] = "randrw",
};

const char *io_rw_to_string(enum io_rw rw)
{
        if ((unsigned)rw >= _IO_RW_MAX)
                return NULL;
        return rw_names[rw];
}

int io_rw_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < _IO_RW_MAX; i++)
                if (streq(s, rw_names[i]))
                        return (int)i;
        if (streq(s, "readwrite"))
                return IO_RW_RW;
        return -EINVAL;
}

bool io_rw_is_random(enum io_rw rw)
{
        return rw == IO_RW_RANDREAD || rw == IO_RW_RANDWRITE || rw == IO_RW_RANDRW;
}

bool io_rw_reads(enum io_rw rw)
{
        return rw != IO_RW_WRITE && rw != IO_RW_RANDWRITE;
}

bool io_rw_writes(enum io_rw rw)
{
        return rw != IO_RW_READ && rw != IO_RW_RANDREAD;
}

void io_job_init(struct io_job *job)
{
        *job = (struct io_job){
                .fd = -EBADF,
                .rw = IO_RW_READ,
                .bs = 4096,
                .iodepth = 1,
                .numjobs = 1,
                .direct = -1,
                .seed = 0x5110,
                .rwmixread = 50,
                .fixedbufs = true,
                .registerfiles = true,
        };
}

/* Parse a non-negative decimal integer prefix; *end points after it (at the unit). */
static int parse_u64_prefix(const char *s, uint64_t *ret, const char **end)
{
        uint64_t v = 0;
        const char *p = s;

        if (!p || !isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        *end = p;
        return 0;
}

int io_size_parse(const char *s, uint64_t *ret)
{
        static const struct {
                char c;
                unsigned shift;
        } units[] = { { 'k', 10 }, { 'm', 20 }, { 'g', 30 }, { 't', 40 }, { 'p', 50 } };
        unsigned shift = 0;
        const char *p;
        uint64_t v;
        int r = parse_u64_prefix(s, &v, &p);

        if (r < 0)
                return r;
        if (*p) {
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (tolower((unsigned char)*p) == units[i].c) {
                                shift = units[i].shift;
                                found = true;
                        }
                if (found) {
                        p++;
                        /* fio also takes "KiB", "kB", "KB": all 1024-based by default. */
                        if (*p == 'i')
                                p++;
                        if (*p == 'b' || *p == 'B')
                                p++;
                } else if (*p == 'b' || *p == 'B')
                        p++;
                if (*p)
                        return -EINVAL;
        }
        if (shift && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

int io_duration_parse(const char *s, uint64_t *ret_ns)
{
        static const struct {
                const char *unit;
                uint64_t ns;
        } units[] = {
                { "", 1000000000ULL },    { "s", 1000000000ULL },   { "ms", 1000000ULL },
                { "us", 1000ULL },        { "m", 60000000000ULL },  { "h", 3600000000000ULL },
        };
        const char *unit;
        uint64_t v;
        int r = parse_u64_prefix(s, &v, &unit);

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(units); i++)
                if (streq(unit, units[i].unit)) {
                        if (v > UINT64_MAX / units[i].ns)
                                return -ERANGE;
                        *ret_ns = v * units[i].ns;
                        return 0;
                }
        return r < 0 ? r : -EINVAL;
}

struct cpu_array {
        uint16_t *cpus;
        size_t n, max;
};

static int cpu_array_add(unsigned lo, unsigned hi, void *userdata)
{
        struct cpu_array *a = userdata;

        for (unsigned c = lo; c <= hi; c++) {
                if (a->n >= a->max)
                        return -ERANGE;
                a->cpus[a->n++] = (uint16_t)c;
        }
        return 0;
}

int io_cpulist_parse(const char *s, uint16_t *cpus, size_t max)
{
        struct cpu_array a = { .cpus = cpus, .max = max };
        /* fio's cpus_allowed: any order, repeats kept, CPUs below 65536. */
        int r = cpu_list_parse(s, 65536, 0, cpu_array_add, &a);

        return r < 0 ? r : (int)a.n;
}

int io_job_validate(const struct io_job *job, char **ret_error)
{
        if (!job->filename && job->fd < 0)
                return error_set(ret_error, -EINVAL,
                                 "--filename: missing (which file or device to use)");
        if ((unsigned)job->rw >= _IO_RW_MAX)
                return error_set(ret_error, -EINVAL, "--rw: invalid mode %d", (int)job->rw);
        if (job->bs == 0 || job->bs > IO_JOB_MAX_BS)
                return error_set(ret_error, -EINVAL, "--bs: %" PRIu32 " is out of range (1..%u)",
                                 job->bs, IO_JOB_MAX_BS);
        if (job->iodepth == 0 || job->iodepth > IO_JOB_MAX_IODEPTH)
                return error_set(ret_error, -EINVAL,
                                 "--iodepth: %" PRIu32 " is out of range (1..%u)", job->iodepth,
                                 IO_JOB_MAX_IODEPTH);
        if (job->numjobs == 0 || job->numjobs > IO_JOB_MAX_NUMJOBS)
                return error_set(ret_error, -EINVAL,
                                 "--numjobs: %" PRIu32 " is out of range (1..%u)", job->numjobs,
                                 IO_JOB_MAX_NUMJOBS);
        if (job->rwmixread > 100)
                return error_set(ret_error, -EINVAL,
                                 "--rwmixread: %" PRIu32 " is not a percentage (0..100)",
                                 job->rwmixread);
        if (job->size && job->size < job->bs)
                return error_set(ret_error, -EINVAL,
                                 "--size: %" PRIu64 " is smaller than --bs %" PRIu32, job->size,
                                 job->bs);
        if (job->direct == 1 && (job->bs % 512 || job->offset % 512))
                return error_set(ret_error, -EINVAL,
                                 "--direct: O_DIRECT needs --bs and --offset in multiples of 512 "
                                 "(bs %" PRIu32 ", offset %" PRIu64 ")",
                                 job->bs, job->offset);
        if (job->verify && job->verify_only)
                return error_set(ret_error, -EINVAL,
                                 "--verify-only: cannot be combined with --verify");
        if (job->verify || job->verify_only) {
                if (job->bs < 64)
                        return error_set(ret_error, -EINVAL,
                                         "--bs: %" PRIu32 " is too small to hold a verify header "
                                         "(at least 64)",
                                         job->bs);
                if (job->verify && !io_rw_writes(job->rw))
                        return error_set(
                            ret_error, -EINVAL,
                            "--verify: needs a writing --rw (write or randwrite), not '%s'",
                            io_rw_to_string(job->rw));
                if (job->rw == IO_RW_RW || job->rw == IO_RW_RANDRW)
                        return error_set(ret_error, -EINVAL,
                                         "--verify: mixed --rw '%s' is not supported; use write or "
                                         "randwrite",
                                         io_rw_to_string(job->rw));
                if (job->runtime_ns)
                        return error_set(
                            ret_error, -EINVAL,
                            "--runtime: a verify run must cover the region exactly once; "
                            "drop --runtime");
                if (job->io_size && job->io_size != job->size)
                        return error_set(ret_error, -EINVAL,
                                         "--io_size: a verify run covers the whole region; drop "
                                         "--io_size");
                if (job->numjobs != 1)
                        return error_set(ret_error, -EINVAL,
                                         "--numjobs: %" PRIu32 ": verify runs use one job (raise "
                                         "--iodepth instead)",
                                         job->numjobs);
        }
        if (job->ncpus > IO_JOB_MAX_CPUS)
                return error_set(ret_error, -EINVAL, "--cpus-allowed: too many CPUs (%" PRIu32 ")",
                                 job->ncpus);
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven parser for silo-io's options, with an error message per kind of bad value. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macro.h"
#include "io/options.h"

enum opt_kind {
        OPT_FLAG,       /* no value */
        OPT_STRING,
        OPT_SIZE,       /* fio size */
        OPT_UINT,
        OPT_BOOL01,     /* 0 or 1 */
        OPT_DURATION,
        OPT_RW,
        OPT_CPUS,
};

enum opt_id {
        O_FILENAME, O_RW, O_BS, O_IODEPTH, O_SIZE, O_OFFSET, O_IO_SIZE, O_RUNTIME, O_NUMJOBS,
        O_DIRECT, O_VERIFY, O_VERIFY_ONLY, O_SEED, O_RWMIXREAD, O_RATE, O_CPUS_ALLOWED,
        O_SQPOLL, O_HIPRI, O_FIXEDBUFS, O_REGISTERFILES, O_JSON, O_ALLOW_WRITE_DEVICE, O_HELP, O_VERSION,
        O_CALIBRATE,
};

static const struct option_def {
        const char *name;
        const char *alias;
        enum opt_kind kind;
        enum opt_id id;
        uint64_t min, max;  /* OPT_UINT and OPT_SIZE bounds */
} options[] = {
        { "filename", NULL, OPT_STRING, O_FILENAME, 0, 0 },
        { "rw", "readwrite", OPT_RW, O_RW, 0, 0 },
        { "bs", NULL, OPT_SIZE, O_BS, 1, IO_JOB_MAX_BS },
        { "iodepth", NULL, OPT_UINT, O_IODEPTH, 1, IO_JOB_MAX_IODEPTH },
        { "size", NULL, OPT_SIZE, O_SIZE, 1, UINT64_MAX },
        { "offset", NULL, OPT_SIZE, O_OFFSET, 0, UINT64_MAX },
        { "io_size", "io-size", OPT_SIZE, O_IO_SIZE, 1, UINT64_MAX },
        { "runtime", NULL, OPT_DURATION, O_RUNTIME, 0, 0 },
        { "numjobs", NULL, OPT_UINT, O_NUMJOBS, 1, IO_JOB_MAX_NUMJOBS },
        { "direct", NULL, OPT_BOOL01, O_DIRECT, 0, 0 },
        { "verify", NULL, OPT_FLAG, O_VERIFY, 0, 0 },
        { "verify-only", "verify_only", OPT_FLAG, O_VERIFY_ONLY, 0, 0 },
        { "seed", NULL, OPT_UINT, O_SEED, 0, UINT64_MAX },
        { "rwmixread", NULL, OPT_UINT, O_RWMIXREAD, 0, 100 },
        { "rate", NULL, OPT_SIZE, O_RATE, 1, UINT64_MAX },
        { "cpus-allowed", "cpus_allowed", OPT_CPUS, O_CPUS_ALLOWED, 0, 0 },
        { "sqpoll", NULL, OPT_FLAG, O_SQPOLL, 0, 0 },
        { "hipri", NULL, OPT_FLAG, O_HIPRI, 0, 0 },
        { "fixedbufs", NULL, OPT_BOOL01, O_FIXEDBUFS, 0, 0 },
        { "registerfiles", NULL, OPT_BOOL01, O_REGISTERFILES, 0, 0 },
        { "json", NULL, OPT_FLAG, O_JSON, 0, 0 },
        { "allow-write-device", "allow_write_device", OPT_FLAG, O_ALLOW_WRITE_DEVICE, 0, 0 },
        { "help", NULL, OPT_FLAG, O_HELP, 0, 0 },
        { "version", NULL, OPT_FLAG, O_VERSION, 0, 0 },
        { "calibrate", NULL, OPT_FLAG, O_CALIBRATE, 0, 0 },
};

const char *io_cli_usage(void)
{
        return "Usage: silo-io --filename PATH [OPTIONS]\n"
               "io_uring storage workload and benchmark (fio-style options; sizes are 1024-based: 4k = 4096).\n"
               "\n"
               "  --filename PATH        file or block device\n"
               "  --rw MODE              read, write, randread, randwrite, rw, randrw (default read)\n"
               "  --bs SIZE              block size (default 4k)\n"
               "  --iodepth N            I/Os in flight per job (default 1)\n"
               "  --offset SIZE          start of the region (default 0)\n"
               "  --size SIZE            region length (default: to the end of the file/device)\n"
               "  --io_size SIZE         bytes per job (default: one pass over the region)\n"
               "  --runtime DURATION     time based: loop over the region for this long (10, 10s, 500ms, 2m)\n"
               "  --numjobs N            threads, one ring each, each running the whole job\n"
               "  --direct 0|1           O_DIRECT (default 1 on block devices, 0 on files)\n"
               "  --rwmixread PCT        reads in rw/randrw (default 50)\n"
               "  --rate SIZE            bytes per second per job (token bucket)\n"
               "  --cpus-allowed LIST    pin job i to the i-th CPU of LIST (e.g. 0-1)\n"
               "  --sqpoll               kernel submission polling thread (SQPOLL)\n"
               "  --hipri                polled completions (IOPOLL; device needs poll queues)\n"
               "  --fixedbufs 0|1        registered buffers (default 1)\n"
               "  --registerfiles 0|1    registered file (default 1)\n"
               "  --verify               write with verify headers, then read back and check\n"
               "  --verify-only          only read back and check what a --verify run wrote\n"
               "  --seed N               run seed for offsets and verify data (default 20752)\n"
               "  --allow-write-device   allow writing to an (unmounted, unused) block device\n"
               "  --json                 JSON output\n"
               "  --calibrate            measure the disk at --filename (a block device, or a directory\n"
               "                         on its filesystem) as the agent does: sequential read bandwidth\n"
               "                         (1M, QD 32) and random read IOPS (4k, QD 64), --runtime per figure\n"
               "                         (default 5s); with --allow-write-device also write figures (on\n"
               "                         an unused device, or a scratch file in the directory)\n"
               "  --help                 this text\n"
               "  --version              print the version and exit\n"
               "\n"
               "Exit status: 0 ok, 1 setup or I/O error, 2 bad options, 3 verify found bad blocks,\n"
               "130 stopped by SIGINT/SIGTERM (figures of what completed are still printed).\n";
}

static const struct option_def *option_find(const char *name, size_t len)
{
        for (size_t i = 0; i < ELEMENTSOF(options); i++) {
                const struct option_def *o = &options[i];
                if ((strlen(o->name) == len && strncmp(o->name, name, len) == 0) ||
                    (o->alias && strlen(o->alias) == len && strncmp(o->alias, name, len) == 0))
                        return o;
        }
        return NULL;
}

static int parse_uint(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (*end)
                return -EINVAL;
        if (errno == ERANGE)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int apply(struct io_cli *cli, const struct option_def *o, const char *v, char **ret_error)
{
        struct io_job *job = &cli->job;
        uint64_t u = 0;
        int r;

        switch (o->kind) {
        case OPT_SIZE:
        case OPT_UINT:
                r = o->kind == OPT_SIZE ? io_size_parse(v, &u) : parse_uint(v, &u);
                if (r == -ERANGE)
                        return error_set(ret_error, -EINVAL, "--%s: '%s' is too large", o->name, v);
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "--%s: '%s' is not a %s", o->name, v,
                                         o->kind == OPT_SIZE ? "size" : "number");
                if (u < o->min || u > o->max)
                        return error_set(ret_error, -EINVAL,
                                         "--%s: '%s' is out of range (%" PRIu64 "..%" PRIu64 ")",
                                         o->name, v, o->min, o->max);
                break;
        case OPT_BOOL01:
                if (!streq(v, "0") && !streq(v, "1"))
                        return error_set(ret_error, -EINVAL, "--%s: '%s' is not 0 or 1", o->name,
                                         v);
                u = v[0] == '1';
                break;
        case OPT_DURATION:
                r = io_duration_parse(v, &u);
                if (r < 0)
                        return error_set(ret_error, -EINVAL,
                                         "--%s: '%s' is not a duration (e.g. 10, 10s, 500ms, 2m)",
                                         o->name, v);
                if (u == 0)
                        return error_set(ret_error, -EINVAL, "--%s: '%s' must be positive", o->name,
                                         v);
                break;
        case OPT_RW:
                r = io_rw_from_string(v);
                if (r < 0)
                        return error_set(
                            ret_error, -EINVAL,
                            "--%s: '%s' is not a mode (read, write, randread, randwrite, "
                            "rw, randrw)",
                            o->name, v);
                job->rw = (enum io_rw)r;
                return 0;
        case OPT_CPUS:
                r = io_cpulist_parse(v, job->cpus, IO_JOB_MAX_CPUS);
                if (r < 0)
                        return error_set(ret_error, -EINVAL,
                                         "--%s: '%s' is not a CPU list (e.g. 0-3,6)", o->name, v);
                job->ncpus = (uint32_t)r;
                return 0;
        case OPT_STRING:
                if (!v[0])
                        return error_set(ret_error, -EINVAL, "--%s: empty value", o->name);
                break;
        case OPT_FLAG:
                break;
        }

        switch (o->id) {
        case O_FILENAME: job->filename = v; break;
        case O_BS: job->bs = (uint32_t)u; break;
        case O_IODEPTH: job->iodepth = (uint32_t)u; break;
        case O_SIZE: job->size = u; break;
        case O_OFFSET: job->offset = u; break;
        case O_IO_SIZE: job->io_size = u; break;
        case O_RUNTIME: job->runtime_ns = u; break;
        case O_NUMJOBS: job->numjobs = (uint32_t)u; break;
        case O_DIRECT: job->direct = (int)u; break;
        case O_VERIFY: job->verify = true; break;
        case O_VERIFY_ONLY: job->verify_only = true; break;
        case O_SEED: job->seed = u; break;
        case O_RWMIXREAD: job->rwmixread = (uint32_t)u; break;
        case O_RATE: job->rate_bps = u; break;
        case O_SQPOLL: job->sqpoll = true; break;
        case O_HIPRI: job->hipri = true; break;
        case O_FIXEDBUFS: job->fixedbufs = u; break;
        case O_REGISTERFILES: job->registerfiles = u; break;
        case O_JSON: cli->json = true; break;
        case O_ALLOW_WRITE_DEVICE: job->allow_write_device = true; break;
        case O_HELP: cli->help = true; break;
        case O_VERSION: cli->version = true; break;
        case O_CALIBRATE: cli->calibrate = true; break;
        case O_RW:
        case O_CPUS_ALLOWED:
                break;
        }
        return 0;
}

int io_cli_parse(int argc, char *const *argv, struct io_cli *ret, char **ret_error)
{
        struct io_cli cli = {};
        int r;

        io_job_init(&cli.job);
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *name, *eq, *value = NULL;
                const struct option_def *o;
                size_t len;

                if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
                        return error_set(
                            ret_error, -EINVAL,
                            "unexpected argument '%s' (options start with --; see --help)", a);
                name = a + 2;
                eq = strchr(name, '=');
                len = eq ? (size_t)(eq - name) : strlen(name);
                o = option_find(name, len);
                if (!o)
                        return error_set(ret_error, -EINVAL, "unknown option '--%.*s' (see --help)",
                                         (int)len, name);
                if (o->kind == OPT_FLAG) {
                        if (eq)
                                return error_set(ret_error, -EINVAL,
                                                 "--%s: takes no value (got '%s')", o->name,
                                                 eq + 1);
                } else if (eq)
                        value = eq + 1;
                else if (i + 1 < argc)
                        value = argv[++i];
                else
                        return error_set(ret_error, -EINVAL, "--%s: needs a value", o->name);

                r = apply(&cli, o, value ? value : "", ret_error);
                if (r < 0)
                        return r;
        }
        if (cli.calibrate && !cli.job.filename)
                return error_set(ret_error, -EINVAL,
                                 "--filename: missing (which device or directory to calibrate)");
        if (!cli.help && !cli.version && !cli.calibrate) {
                r = io_job_validate(&cli.job, ret_error);
                if (r < 0)
                        return r;
        }
        *ret = cli;
        return 0;
}

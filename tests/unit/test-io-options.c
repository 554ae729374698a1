/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for silo-io's option parsing and io_job validation: values, defaults, every error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "common/macro.h"
#include "io/options.h"

#define MAXARGS 64

/* Split a space-separated command line (no quoting needed in these tests) and parse it. */
static int parse(const char *line, struct io_cli *cli, char *err, size_t errlen)
{
        static char buf[1024];
        _cleanup_free_ char *error = NULL;
        char *argv[MAXARGS];
        int argc = 0, r;

        snprintf(buf, sizeof(buf), "silo-io %s", line);
        for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && argc < MAXARGS;
             t = strtok_r(NULL, " ", &save))
                argv[argc++] = t;
        r = io_cli_parse(argc, argv, cli, &error);
        snprintf(err, errlen, "%s", strempty(error));
        return r;
}

static void test_defaults_and_values(void **state)
{
        struct io_cli cli;
        char err[512];
        (void)state;

        assert_int_equal(parse("--filename /dev/x", &cli, err, sizeof(err)), 0);
        assert_string_equal(cli.job.filename, "/dev/x");
        assert_int_equal(cli.job.rw, IO_RW_READ);
        assert_int_equal(cli.job.bs, 4096);
        assert_int_equal(cli.job.iodepth, 1);
        assert_int_equal(cli.job.numjobs, 1);
        assert_int_equal(cli.job.direct, -1);
        assert_int_equal(cli.job.rwmixread, 50);
        assert_true(cli.job.fixedbufs);
        assert_true(cli.job.registerfiles);
        assert_false(cli.json);

        assert_int_equal(parse("--filename=/f --rw randrw --bs=128k --iodepth 32 --size 1g "
                               "--offset 4k --io_size 2m --runtime 500ms --numjobs 2 --direct 0 "
                               "--seed 0x10 --rwmixread 70 --rate 10m --cpus-allowed 0-1,3 "
                               "--sqpoll --fixedbufs 0 --registerfiles=0 --json "
                               "--allow-write-device", &cli, err, sizeof(err)), 0);
        assert_string_equal(cli.job.filename, "/f");
        assert_int_equal(cli.job.rw, IO_RW_RANDRW);
        assert_int_equal(cli.job.bs, 131072);
        assert_int_equal(cli.job.iodepth, 32);
        assert_int_equal(cli.job.size, 1ULL << 30);
        assert_int_equal(cli.job.offset, 4096);
        assert_int_equal(cli.job.io_size, 2 << 20);
        assert_int_equal(cli.job.runtime_ns, 500000000ULL);
        assert_int_equal(cli.job.numjobs, 2);
        assert_int_equal(cli.job.direct, 0);
        assert_int_equal(cli.job.seed, 16);
        assert_int_equal(cli.job.rwmixread, 70);
        assert_int_equal(cli.job.rate_bps, 10 << 20);
        assert_int_equal(cli.job.ncpus, 3);
        assert_int_equal(cli.job.cpus[0], 0);
        assert_int_equal(cli.job.cpus[1], 1);
        assert_int_equal(cli.job.cpus[2], 3);
        assert_true(cli.job.sqpoll);
        assert_false(cli.job.fixedbufs);
        assert_false(cli.job.registerfiles);
        assert_true(cli.json);
        assert_true(cli.job.allow_write_device);

        assert_int_equal(parse("--help", &cli, err, sizeof(err)), 0);
        assert_true(cli.help);
        assert_int_equal(parse("--filename /f --rw readwrite --hipri --verify --rw write", &cli,
                               err, sizeof(err)), 0);
        assert_int_equal(cli.job.rw, IO_RW_WRITE);
        assert_true(cli.job.hipri);
        assert_true(cli.job.verify);
}

static void test_sizes(void **state)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } cases[] = {
                { "4096", 0, 4096 },        { "4k", 0, 4096 },          { "4K", 0, 4096 },
                { "4KiB", 0, 4096 },        { "4kb", 0, 4096 },         { "4KB", 0, 4096 },
                { "1m", 0, 1048576 },       { "1MiB", 0, 1048576 },     { "2g", 0, 2ULL << 30 },
                { "1t", 0, 1ULL << 40 },    { "1p", 0, 1ULL << 50 },    { "512b", 0, 512 },
                { "0", 0, 0 },              { "4q", -EINVAL, 0 },       { "", -EINVAL, 0 },
                { "k", -EINVAL, 0 },        { "-4k", -EINVAL, 0 },      { "4kk", -EINVAL, 0 },
                { "1.5k", -EINVAL, 0 },     { "4 k", -EINVAL, 0 },      { "16384p", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 0;
                int r = io_size_parse(cases[i].s, &v);
                if (r != cases[i].r)
                        fail_msg("io_size_parse(\"%s\") = %d, want %d", cases[i].s, r, cases[i].r);
                if (r == 0 && v != cases[i].v)
                        fail_msg("io_size_parse(\"%s\") -> %ju, want %ju", cases[i].s,
                                 (uintmax_t)v, (uintmax_t)cases[i].v);
        }
}

static void test_durations_and_cpus(void **state)
{
        uint64_t ns;
        uint16_t cpus[4];
        (void)state;

        assert_int_equal(io_duration_parse("10", &ns), 0);
        assert_int_equal(ns, 10000000000ULL);
        assert_int_equal(io_duration_parse("2m", &ns), 0);
        assert_int_equal(ns, 120000000000ULL);
        assert_int_equal(io_duration_parse("250us", &ns), 0);
        assert_int_equal(ns, 250000ULL);
        assert_int_equal(io_duration_parse("1h", &ns), 0);
        assert_int_equal(ns, 3600000000000ULL);
        assert_int_equal(io_duration_parse("5x", &ns), -EINVAL);
        assert_int_equal(io_duration_parse("s", &ns), -EINVAL);

        assert_int_equal(io_cpulist_parse("1", cpus, 4), 1);
        assert_int_equal(cpus[0], 1);
        assert_int_equal(io_cpulist_parse("0-2,7", cpus, 4), 4);
        assert_int_equal(cpus[3], 7);
        assert_int_equal(io_cpulist_parse("0-4", cpus, 4), -ERANGE);
        assert_int_equal(io_cpulist_parse("2-1", cpus, 4), -EINVAL);
        assert_int_equal(io_cpulist_parse("1,", cpus, 4), -EINVAL);
        assert_int_equal(io_cpulist_parse("a", cpus, 4), -EINVAL);
        assert_int_equal(io_cpulist_parse("", cpus, 4), -EINVAL);
}

static void test_rw_names(void **state)
{
        (void)state;
        for (int i = 0; i < _IO_RW_MAX; i++)
                assert_int_equal(io_rw_from_string(io_rw_to_string((enum io_rw)i)), i);
        assert_int_equal(io_rw_from_string("readwrite"), IO_RW_RW);
        assert_int_equal(io_rw_from_string("trim"), -EINVAL);
        assert_true(io_rw_is_random(IO_RW_RANDRW));
        assert_false(io_rw_is_random(IO_RW_RW));
        assert_true(io_rw_reads(IO_RW_RANDRW));
        assert_false(io_rw_reads(IO_RW_RANDWRITE));
        assert_true(io_rw_writes(IO_RW_RW));
        assert_false(io_rw_writes(IO_RW_RANDREAD));
}

/* Every message the parser and the validator can give, word for word. */
static void test_errors(void **state)
{
        static const struct {
                const char *line;
                const char *msg;
        } cases[] = {
                { "--filename /f --bs 4q", "--bs: '4q' is not a size" },
                { "--filename /f --bs 128m", "--bs: '128m' is out of range (1..67108864)" },
                { "--filename /f --bs 0", "--bs: '0' is out of range (1..67108864)" },
                { "--filename /f --size 99999999999999999999", "--size: '99999999999999999999' is too large" },
                { "--filename /f --iodepth x", "--iodepth: 'x' is not a number" },
                { "--filename /f --iodepth -1", "--iodepth: '-1' is not a number" },
                { "--filename /f --iodepth 0", "--iodepth: '0' is out of range (1..4096)" },
                { "--filename /f --iodepth 99999999999999999999999", "--iodepth: '99999999999999999999999' is too large" },
                { "--filename /f --numjobs 65", "--numjobs: '65' is out of range (1..64)" },
                { "--filename /f --rwmixread 101", "--rwmixread: '101' is out of range (0..100)" },
                { "--filename /f --rw trim", "--rw: 'trim' is not a mode (read, write, randread, randwrite, rw, randrw)" },
                { "--filename /f --direct 2", "--direct: '2' is not 0 or 1" },
                { "--filename /f --fixedbufs yes", "--fixedbufs: 'yes' is not 0 or 1" },
                { "--filename /f --runtime 5x", "--runtime: '5x' is not a duration (e.g. 10, 10s, 500ms, 2m)" },
                { "--filename /f --runtime 0", "--runtime: '0' must be positive" },
                { "--filename /f --cpus-allowed 0-x", "--cpus-allowed: '0-x' is not a CPU list (e.g. 0-3,6)" },
                { "--filename /f --rate fast", "--rate: 'fast' is not a size" },
                { "--filename /f --json=1", "--json: takes no value (got '1')" },
                { "--filename /f --bs", "--bs: needs a value" },
                { "--filename=", "--filename: empty value" },
                { "--filename /f --frobnicate 1", "unknown option '--frobnicate' (see --help)" },
                { "--filename /f extra", "unexpected argument 'extra' (options start with --; see --help)" },
                { "--rw read", "--filename: missing (which file or device to use)" },
                { "--filename /f --size 1k --bs 4k", "--size: 1024 is smaller than --bs 4096" },
                { "--filename /f --direct 1 --bs 1000", "--direct: O_DIRECT needs --bs and --offset in multiples of 512 (bs 1000, offset 0)" },
                { "--filename /f --verify --verify-only", "--verify-only: cannot be combined with --verify" },
                { "--filename /f --verify --rw write --bs 32", "--bs: 32 is too small to hold a verify header (at least 64)" },
                { "--filename /f --verify --rw read", "--verify: needs a writing --rw (write or randwrite), not 'read'" },
                { "--filename /f --verify --rw randrw", "--verify: mixed --rw 'randrw' is not supported; use write or randwrite" },
                { "--filename /f --verify --rw write --runtime 5", "--runtime: a verify run must cover the region exactly once; drop --runtime" },
                { "--filename /f --verify --rw write --size 1m --io_size 4k", "--io_size: a verify run covers the whole region; drop --io_size" },
                { "--filename /f --verify-only --numjobs 2", "--numjobs: 2: verify runs use one job (raise --iodepth instead)" },
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct io_cli cli;
                char err[512];
                int r = parse(cases[i].line, &cli, err, sizeof(err));
                if (r != -EINVAL)
                        fail_msg("'%s' parsed with %d, want -EINVAL", cases[i].line, r);
                if (!streq(err, cases[i].msg))
                        fail_msg("'%s':\n  got  \"%s\"\n  want \"%s\"", cases[i].line, err,
                                 cases[i].msg);
        }
}

static void test_validate_direct(void **state)
{
        _cleanup_free_ char *error = NULL;
        struct io_job job;
        (void)state;

        io_job_init(&job);
        job.filename = "/f";
        assert_int_equal(io_job_validate(&job, &error), 0);
        assert_null(error);
        job.direct = 1;
        job.offset = 100;
        assert_int_equal(io_job_validate(&job, &error), -EINVAL);
        assert_non_null(error);
        assert_non_null(strstr(error, "offset 100"));
        /* A NULL ret_error is allowed */
        assert_int_equal(io_job_validate(&job, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_and_values),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_durations_and_cpus),
                cmocka_unit_test(test_rw_names),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_validate_direct),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

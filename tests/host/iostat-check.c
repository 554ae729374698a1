/* SPDX-License-Identifier: Apache-2.0 */
/* Host check of iostat on a loop device: exact bytes, I/O counts vs sysfs, histograms, reuse. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/macro.h"
#include "iostat.h"

#define CHUNK (1024 * 1024)

static int failures;

#define CHECK(cond, ...)                                          \
        do {                                                      \
                if (!(cond)) {                                    \
                        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
                        fprintf(stderr, __VA_ARGS__);             \
                        fputc('\n', stderr);                      \
                        failures++;                               \
                }                                                 \
        } while (0)

/* /sys/block/X/stat: reads, merges, sectors, ticks, writes, ..., then discards (12-15) and
 * flushes (16-17) on kernels that have them. */
struct sysstat {
        unsigned long long f[17];
        int n;
};

static int sysstat_read(const char *name, struct sysstat *ret)
{
        char path[256];
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(path, sizeof(path), "/sys/block/%s/stat", name);
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        memset(ret, 0, sizeof(*ret));
        while (ret->n < 17 && fscanf(f, "%llu", &ret->f[ret->n]) == 1)
                ret->n++;
        return ret->n >= 11 ? 0 : -EIO;
}

/* The cgroup this process's bios carry: blkio's v1 cgroup on hybrid hosts, else the v2 one. */
static int own_cgroup_id(const char *root, uint64_t *ret)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        char line[1024], path[2048], *v1 = NULL, *v2 = NULL;
        bool hybrid_v1 = strstr(root, "blkio") != NULL;

        if (!f)
                return negative_errno();
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (strncmp(line, "0::", 3) == 0 && !v2)
                        v2 = strdup(line + 3);
                char *c = strchr(line, ':');
                if (c && strncmp(c + 1, "blkio:", 6) == 0 && !v1)
                        v1 = strdup(c + 7);
        }
        snprintf(path, sizeof(path), "%s%s", root, hybrid_v1 ? (v1 ?: "/") : (v2 ?: "/"));
        free(v1);
        free(v2);
        return iostat_cgroup_id(path, ret);
}

static int do_io(const char *dev, size_t mib)
{
        _cleanup_close_ int fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
        unsigned char *buf = NULL;
        int r = 0;

        if (fd < 0)
                return negative_errno();
        if (posix_memalign((void **)&buf, 4096, CHUNK) != 0)
                return -ENOMEM;
        for (size_t i = 0; i < mib && r == 0; i++) {
                memset(buf, (int)(0x40 + i), CHUNK);
                if (pwrite(fd, buf, CHUNK, (off_t)(i * CHUNK)) != CHUNK)
                        r = errno ? -errno : -EIO;
        }
        for (size_t i = 0; i < mib && r == 0; i++) {
                if (pread(fd, buf, CHUNK, (off_t)(i * CHUNK)) != CHUNK)
                        r = errno ? -errno : -EIO;
                else if (buf[0] != (unsigned char)(0x40 + i) || buf[CHUNK - 1] != buf[0])
                        r = -EILSEQ;
        }
        free(buf);
        return r;
}

static void check_hist(const char *what, const struct iostat_stat *s)
{
        double p[4];
        static const double q[4] = {0.5, 0.9, 0.99, 0.999};
        uint64_t n = 0;

        for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                n += s->hist[i];
        CHECK(n > 0, "%s: latency histogram is empty", what);
        CHECK(n + s->untimed == s->ios, "%s: %llu timed + %llu untimed != %llu I/Os", what,
              (unsigned long long)n, (unsigned long long)s->untimed,
              (unsigned long long)s->ios);
        for (int i = 0; i < 4; i++)
                CHECK(iostat_hist_percentile(s->hist, q[i], &p[i]) == 0, "%s: no p%g", what,
                      q[i] * 100);
        CHECK(p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3],
              "%s: percentiles out of order: %.1f %.1f %.1f %.1f", what, p[0], p[1], p[2], p[3]);
        printf("  %s: %llu I/Os, p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us\n", what,
               (unsigned long long)s->ios, p[0], p[1], p[2], p[3]);
}

/* iostat_attach() with its message copied into err ("" when it left none). */
static int attach(const struct iostat_options *opts, struct iostat **ret, char *err, size_t errlen)
{
        _cleanup_free_ char *error = NULL;
        int r = iostat_attach(opts, ret, &error);

        snprintf(err, errlen, "%s", error ? error : "");
        return r;
}

static int run_mode(const char *device, const char *bpffs, size_t mib, enum iostat_ts_mode mode)
{
        struct iostat_options opts = {.bpffs = bpffs, .ts_mode = mode};
        struct iostat_snapshot *before = NULL, *after = NULL, *again = NULL;
        struct iostat *io = NULL, *io2 = NULL;
        struct iostat_stat d0[IOSTAT_OP_MAX], d1[IOSTAT_OP_MAX], c0, c1;
        struct iostat_prog_stats prog0[IOSTAT_PROG_MAX], prog1[IOSTAT_PROG_MAX];
        struct sysstat s0, s1;
        _cleanup_free_ char *cgroot = NULL;
        uint64_t own = 0;
        struct stat st;
        const char *name = strrchr(device, '/') ? strrchr(device, '/') + 1 : device;
        char err[512] = "";
        int r;

        if (stat(device, &st) < 0 || !S_ISBLK(st.st_mode)) {
                fprintf(stderr, "%s is not a block device\n", device);
                return -ENOTBLK;
        }
        r = attach(&opts, &io, err, sizeof(err));
        if (r == -ENOTSUP) {
                fprintf(stderr, "SKIP: %s\n", err);
                return 77;
        }
        if (r < 0) {
                fprintf(stderr, "attach: %s\n", err);
                return r;
        }
        CHECK(!iostat_reused(io), "fresh bpffs but programs were reused");
        printf("mode %s\n", mode == IOSTAT_TS_HASH_ONLY ? "hash-only" : "kernel-first");

        r = iostat_cgroup_root_find(&cgroot);
        CHECK(r == 0, "no cgroup hierarchy found: %s", strerror(-r));
        if (r == 0) {
                r = own_cgroup_id(cgroot, &own);
                CHECK(r == 0, "own cgroup id under %s: %s", cgroot, strerror(-r));
        }

        if (sysstat_read(name, &s0) < 0 || iostat_snapshot_take(io, &before) < 0)
                return -EIO;
        r = iostat_prog_stats_read(io, prog0);
        if (r < 0) {
                fprintf(stderr, "reading the BPF programs' stats: %s\n", strerror(-r));
                return r;
        }
        r = do_io(device, mib);
        if (r < 0) {
                fprintf(stderr, "I/O on %s failed: %s\n", device, strerror(-r));
                return r;
        }
        /* Completions are traced before the bio ends, but sysfs accounting runs just after. */
        usleep(200 * 1000);
        if (sysstat_read(name, &s1) < 0 || iostat_snapshot_take(io, &after) < 0)
                return -EIO;
        r = iostat_prog_stats_read(io, prog1);
        if (r < 0) {
                fprintf(stderr, "reading the BPF programs' stats: %s\n", strerror(-r));
                return r;
        }
        /* Why a count can come up short. A completion run the kernel skipped (the program was
         * already running on that CPU: an interrupt's completion nested in a task's) is an I/O,
         * or a partial completion's bytes, the maps never see; a skipped issue run only leaves
         * its I/O untimed, a skipped requeue its requeue uncounted. A completion whose new key
         * could not be inserted is lost too. */
        printf("  program runs the kernel skipped: complete %llu, issue %llu, requeue %llu; "
               "completions lost to a failed stats insert: %llu\n",
               (unsigned long long)(prog1[IOSTAT_PROG_COMPLETE].misses -
                                    prog0[IOSTAT_PROG_COMPLETE].misses),
               (unsigned long long)(prog1[IOSTAT_PROG_ISSUE].misses - prog0[IOSTAT_PROG_ISSUE].misses),
               (unsigned long long)(prog1[IOSTAT_PROG_REQUEUE].misses -
                                    prog0[IOSTAT_PROG_REQUEUE].misses),
               (unsigned long long)(after->lost_keys - before->lost_keys));

        for (int op = 0; op < IOSTAT_OP_MAX; op++) {
                struct iostat_stat a, b;

                iostat_snapshot_sum(before, st.st_rdev, IOSTAT_CGROUP_ANY, 1U << op, &a);
                iostat_snapshot_sum(after, st.st_rdev, IOSTAT_CGROUP_ANY, 1U << op, &b);
                iostat_stat_delta(&a, &b, &d1[op], NULL);
                d0[op] = a;
        }
        (void)d0;
        unsigned long long want = (unsigned long long)mib * CHUNK;
        CHECK(d1[IOSTAT_OP_WRITE].bytes == want, "write bytes %llu != %llu",
              (unsigned long long)d1[IOSTAT_OP_WRITE].bytes, want);
        CHECK(d1[IOSTAT_OP_READ].bytes == want, "read bytes %llu != %llu",
              (unsigned long long)d1[IOSTAT_OP_READ].bytes, want);
        CHECK(d1[IOSTAT_OP_READ].ios == s1.f[0] - s0.f[0], "read I/Os %llu != sysfs %llu",
              (unsigned long long)d1[IOSTAT_OP_READ].ios, s1.f[0] - s0.f[0]);
        CHECK(d1[IOSTAT_OP_WRITE].ios == s1.f[4] - s0.f[4], "write I/Os %llu != sysfs %llu",
              (unsigned long long)d1[IOSTAT_OP_WRITE].ios, s1.f[4] - s0.f[4]);
        CHECK((s1.f[2] - s0.f[2]) * 512 == want && (s1.f[6] - s0.f[6]) * 512 == want,
              "sysfs saw other I/O on %s: %llu/%llu sectors", name, s1.f[2] - s0.f[2],
              s1.f[6] - s0.f[6]);
        if (s1.n >= 15)
                CHECK(d1[IOSTAT_OP_DISCARD].ios == s1.f[11] - s0.f[11], "discards %llu != %llu",
                      (unsigned long long)d1[IOSTAT_OP_DISCARD].ios, s1.f[11] - s0.f[11]);
        if (s1.n >= 17)
                CHECK(d1[IOSTAT_OP_FLUSH].ios == s1.f[15] - s0.f[15], "flushes %llu != %llu",
                      (unsigned long long)d1[IOSTAT_OP_FLUSH].ios, s1.f[15] - s0.f[15]);
        printf("  %s: wrote %llu B in %llu I/Os, read %llu B in %llu I/Os (sysfs: %llu, %llu)\n",
               name, (unsigned long long)d1[IOSTAT_OP_WRITE].bytes,
               (unsigned long long)d1[IOSTAT_OP_WRITE].ios,
               (unsigned long long)d1[IOSTAT_OP_READ].bytes,
               (unsigned long long)d1[IOSTAT_OP_READ].ios, s1.f[4] - s0.f[4], s1.f[0] - s0.f[0]);
        {
                struct iostat_stat all = d1[IOSTAT_OP_READ];
                const char *timing;

                iostat_stat_add(&all, &d1[IOSTAT_OP_WRITE]);
                timing = iostat_stat_timing(&all);
                printf("  %s timing: %s, issue program %s\n", name, timing,
                       after->issue_hook ? "attached" : "not attached");
                /* Loop devices stamp (wbt) on 6.1 and later: completion-only there. */
                CHECK(mode == IOSTAT_TS_HASH_ONLY || strcmp(timing, "kernel") == 0,
                      "kernel-first mode on %s timed by %s", name, timing);
                /* Only the kernel-first mode may ever use the kernel's stamps. */
                CHECK(mode == IOSTAT_TS_KERNEL_FIRST || strcmp(timing, "hash") == 0,
                      "hash-only mode used kernel timestamps (%s)", timing);
                CHECK(mode == IOSTAT_TS_KERNEL_FIRST || after->issue_hook,
                      "hash-only mode without the issue program");
        }
        CHECK(d1[IOSTAT_OP_WRITE].untimed == 0 && d1[IOSTAT_OP_READ].untimed == 0,
              "%llu/%llu completions without issue time",
              (unsigned long long)d1[IOSTAT_OP_WRITE].untimed,
              (unsigned long long)d1[IOSTAT_OP_READ].untimed);
        check_hist("write", &d1[IOSTAT_OP_WRITE]);
        check_hist("read", &d1[IOSTAT_OP_READ]);
        uint64_t infl = 1;
        CHECK(iostat_device_in_flight(st.st_rdev, &infl) == 0 && infl == 0,
              "%s: %llu requests still in flight", name, (unsigned long long)infl);

        /* The issuing cgroup (this process's), not whoever ran the completion. */
        if (own) {
                iostat_snapshot_sum(before, st.st_rdev, own, 1U << IOSTAT_OP_WRITE, &c0);
                iostat_snapshot_sum(after, st.st_rdev, own, 1U << IOSTAT_OP_WRITE, &c1);
                CHECK(c1.bytes - c0.bytes == want, "cgroup %llu wrote %llu != %llu",
                      (unsigned long long)own, (unsigned long long)(c1.bytes - c0.bytes), want);
                printf("  cgroup id %llu (own) wrote %llu B\n", (unsigned long long)own,
                       (unsigned long long)(c1.bytes - c0.bytes));
        }

        /* A second loader reuses the pinned programs: same counters, no second copy. */
        r = attach(&opts, &io2, err, sizeof(err));
        CHECK(r == 0, "re-attach: %s", err);
        if (r == 0) {
                CHECK(iostat_reused(io2), "second attach did not reuse the pins");
                io = iostat_free(io); /* the first handle closing must not detach anything */
                r = do_io(device, 1);
                CHECK(r == 0, "I/O after re-attach: %s", strerror(-r));
                CHECK(iostat_snapshot_take(io2, &again) == 0, "snapshot after re-attach");
                if (again) {
                        struct iostat_stat w0, w1;

                        iostat_snapshot_sum(after, st.st_rdev, IOSTAT_CGROUP_ANY,
                                            1U << IOSTAT_OP_WRITE, &w0);
                        iostat_snapshot_sum(again, st.st_rdev, IOSTAT_CGROUP_ANY,
                                            1U << IOSTAT_OP_WRITE, &w1);
                        /* Exactly once: a double attach would count 2 MiB. */
                        CHECK(w1.bytes - w0.bytes == CHUNK,
                              "after re-attach 1 MiB written counted as %llu B",
                              (unsigned long long)(w1.bytes - w0.bytes));
                }
                CHECK(iostat_detach(io2) == 0, "detach");
                io2 = iostat_free(io2);
        }
        char pin[512];
        snprintf(pin, sizeof(pin), "%s/%s/stats", bpffs, IOSTAT_PIN_SUBDIR);
        CHECK(access(pin, F_OK) < 0, "%s still pinned after detach", pin);

        iostat_free(io);
        iostat_snapshot_free(before);
        iostat_snapshot_free(after);
        iostat_snapshot_free(again);
        return 0;
}

/* Reads and writes of the device, summed over ops, between two snapshots. */
static void device_delta(const struct iostat_snapshot *a, const struct iostat_snapshot *b,
                         dev_t dev, struct iostat_stat *ret)
{
        struct iostat_stat x, y;
        const unsigned rw = (1U << IOSTAT_OP_READ) | (1U << IOSTAT_OP_WRITE);

        iostat_snapshot_sum(a, dev, IOSTAT_CGROUP_ANY, rw, &x);
        iostat_snapshot_sum(b, dev, IOSTAT_CGROUP_ANY, rw, &y);
        iostat_stat_delta(&x, &y, ret, NULL);
}

/* do_io() on device; returns the reads and writes sysfs counted meanwhile. */
static uint64_t io_counted(const char *device, size_t mib)
{
        const char *name = strrchr(device, '/') ? strrchr(device, '/') + 1 : device;
        struct sysstat y0, y1;
        int r;

        CHECK(sysstat_read(name, &y0) == 0, "sysfs stat of %s", name);
        r = do_io(device, mib);
        CHECK(r == 0, "I/O: %s", strerror(-r));
        usleep(200 * 1000);
        CHECK(sysstat_read(name, &y1) == 0, "sysfs stat of %s", name);
        return (y1.f[0] - y0.f[0]) + (y1.f[4] - y0.f[4]);
}

/* A queue that does not stamp rq->io_start_time_ns (simulated for this loop device, whose
 * queue does): no issue program until a completion reports it, its completions until then
 * untimed, and from the next snapshot on every I/O timed through the hash. */
static int run_fallback(const char *device, const char *bpffs, size_t mib)
{
        struct stat st;
        struct iostat_options opts = {.bpffs = bpffs};
        struct iostat_snapshot *s0 = NULL, *s1 = NULL, *s2 = NULL;
        struct iostat_prog_stats cost[IOSTAT_PROG_MAX];
        struct iostat_stat d;
        struct iostat *io = NULL;
        char err[512] = "";
        uint64_t timed = 0, want;
        int r;

        if (stat(device, &st) < 0)
                return negative_errno();
        opts.test_unstamped_dev = st.st_rdev;
        r = attach(&opts, &io, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "attach: %s\n", err);
                return r;
        }
        printf("mode kernel-first, %s treated as not stamping\n", device);
        CHECK(iostat_snapshot_take(io, &s0) == 0, "first snapshot");
        CHECK(s0 && !s0->issue_hook, "issue program attached before any unstamped completion");
        CHECK(iostat_prog_stats_read(io, cost) == 0 && !cost[IOSTAT_PROG_ISSUE].attached,
              "prog stats: issue program attached");
        want = io_counted(device, mib);
        /* This snapshot sees the unstamped completions and attaches the issue program. */
        CHECK(iostat_snapshot_take(io, &s1) == 0, "second snapshot");
        CHECK(iostat_snapshot_take(io, &s2) == 0, "third snapshot");
        if (s0 && s1 && s2) {
                device_delta(s0, s1, st.st_rdev, &d);
                CHECK(d.ios == want && d.unstamped == d.ios && d.untimed == d.ios,
                      "before the issue program: %llu I/Os, %llu unstamped, %llu untimed "
                      "(want %llu each, sysfs)",
                      (unsigned long long)d.ios, (unsigned long long)d.unstamped,
                      (unsigned long long)d.untimed, (unsigned long long)want);
                CHECK(s2->issue_hook, "issue program not attached after unstamped completions");
                CHECK(s1->unstamped >= d.ios, "overflow[unstamped] %llu < %llu",
                      (unsigned long long)s1->unstamped, (unsigned long long)d.ios);
        }
        want = io_counted(device, mib);
        s0 = iostat_snapshot_free(s0);
        CHECK(iostat_snapshot_take(io, &s0) == 0, "fourth snapshot");
        if (s0 && s2) {
                device_delta(s2, s0, st.st_rdev, &d);
                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        timed += d.hist[i];
                CHECK(d.ios == want && d.unstamped == d.ios && d.untimed == 0 && timed == d.ios,
                      "with the issue program: %llu I/Os, %llu unstamped, %llu untimed, %llu "
                      "timed (want %llu, sysfs, all timed)",
                      (unsigned long long)d.ios, (unsigned long long)d.unstamped,
                      (unsigned long long)d.untimed, (unsigned long long)timed,
                      (unsigned long long)want);
                CHECK(strcmp(iostat_stat_timing(&d), "hash") == 0, "timing %s, want hash",
                      iostat_stat_timing(&d));
                printf("  %s: I/Os untimed before the issue program, then %llu of %llu timed "
                       "through the hash\n",
                       device, (unsigned long long)timed, (unsigned long long)d.ios);
        }
        CHECK(iostat_prog_stats_read(io, cost) == 0 && cost[IOSTAT_PROG_ISSUE].attached,
              "prog stats: issue program not attached");
        CHECK(iostat_detach(io) == 0, "detach");
        iostat_free(io);
        iostat_snapshot_free(s0);
        iostat_snapshot_free(s1);
        iostat_snapshot_free(s2);
        return 0;
}

/* Pins left by an iostat with another map layout: refused with -EPROTO and a message, or
 * replaced when the caller asks (an agent upgrade). */
static int run_incompatible(const char *bpffs)
{
        struct iostat_options opts = {.bpffs = bpffs};
        struct iostat_snapshot *snap = NULL;
        struct iostat *io = NULL;
        char err[512] = "", pin[512], cmd[1024];
        int r;

        r = attach(&opts, &io, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "attach: %s\n", err);
                return r;
        }
        io = iostat_free(io);
        snprintf(pin, sizeof(pin), "%s/%s/stats", bpffs, IOSTAT_PIN_SUBDIR);
        CHECK(unlink(pin) == 0, "unlink %s: %m", pin);
        /* Same name and type, an 8-byte value: what an older or newer build might have left. */
        snprintf(cmd, sizeof(cmd), "bpftool map create %s type percpu_hash key 16 value 8 "
                 "entries 16 name stats", pin);
        if (system(cmd) != 0) {
                fprintf(stderr, "SKIP incompatible pins: '%s' failed\n", cmd);
                return iostat_unpin(bpffs);
        }

        r = attach(&opts, &io, err, sizeof(err));
        CHECK(r == -EPROTO, "attach over an incompatible stats pin returned %d (%s)", r, err);
        CHECK(strstr(err, "incompatible") && strstr(err, pin), "message: '%s'", err);
        printf("  incompatible pins refused: %s\n", err);
        io = iostat_free(io);

        opts.replace_incompatible = true;
        r = attach(&opts, &io, err, sizeof(err));
        CHECK(r == 0, "attach with replace_incompatible: %s", err);
        if (r == 0) {
                CHECK(!iostat_reused(io), "incompatible pins were reused");
                CHECK(iostat_snapshot_take(io, &snap) == 0, "snapshot after replacing pins");
                printf("  incompatible pins replaced\n");
                io = iostat_free(io);
        }

        /* Same layout but no version marker: programs of another build, also refused. */
        char marker[512];
        snprintf(marker, sizeof(marker), "%s/%s/abi-%d", bpffs, IOSTAT_PIN_SUBDIR,
                 IOSTAT_ABI_VERSION);
        CHECK(rmdir(marker) == 0, "rmdir %s: %m", marker);
        opts.replace_incompatible = false;
        r = attach(&opts, &io, err, sizeof(err));
        CHECK(r == -EPROTO && strstr(err, marker), "attach without %s: %d (%s)", marker, r, err);
        printf("  unmarked pins refused: %s\n", err);
        io = iostat_free(io);
        CHECK(iostat_unpin(bpffs) == 0, "unpin");
        snprintf(pin, sizeof(pin), "%s/%s", bpffs, IOSTAT_PIN_SUBDIR);
        CHECK(access(pin, F_OK) < 0, "%s left after unpin", pin);
        iostat_snapshot_free(snap);
        iostat_free(io);
        return 0;
}

int main(int argc, char **argv)
{
        const char *device = NULL, *bpffs = IOSTAT_BPFFS_DEFAULT;
        size_t mib = 16;
        int c, r;

        while ((c = getopt(argc, argv, "d:m:b:")) >= 0) {
                switch (c) {
                case 'd':
                        device = optarg;
                        break;
                case 'm':
                        mib = strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        bpffs = optarg;
                        break;
                default:
                        return 2;
                }
        }
        if (!device || mib == 0) {
                fprintf(stderr, "usage: %s -d /dev/loopN [-m MiB] [-b bpffs]\n", argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: needs root\n");
                return 77;
        }
        r = run_mode(device, bpffs, mib, IOSTAT_TS_KERNEL_FIRST);
        if (r == 77)
                return 77;
        if (r == 0)
                r = run_mode(device, bpffs, mib, IOSTAT_TS_HASH_ONLY);
        if (r == 0)
                r = run_fallback(device, bpffs, mib);
        if (r == 0)
                r = run_incompatible(bpffs);
        if (r < 0) {
                fprintf(stderr, "FAIL: %s\n", strerror(-r));
                return 1;
        }
        if (failures) {
                fprintf(stderr, "%d check(s) failed\n", failures);
                return 1;
        }
        printf("PASS\n");
        return 0;
}

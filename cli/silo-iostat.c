/* SPDX-License-Identifier: Apache-2.0 */
/* silo-iostat: biotop-style view of per-device and per-cgroup block I/O from the iostat maps. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <jansson.h>

#include "common/log.h"
#include "common/macro.h"
#include "iostat.h"

static const char help_text[] =
        "NAME\n"
        "    silo-iostat - block I/O throughput, IOPS and latency per device and per cgroup\n"
        "\n"
        "SYNOPSIS\n"
        "    silo-iostat [--interval SEC] [--count N] [--json] [--device DEV] [--top N]\n"
        "    silo-iostat --totals [--json] [--device DEV]\n"
        "    silo-iostat --detach\n"
        "\n"
        "DESCRIPTION\n"
        "    Attaches Silo's iostat eBPF programs to the block layer (tp_btf/block_rq_complete,\n"
        "    block_rq_requeue, and block_rq_issue only when needed), or reuses the copy an\n"
        "    agent pinned under <bpffs>/silo/iostat, and every interval prints for each device\n"
        "    and for each cgroup that issued I/O: throughput, IOPS, requests in flight (the\n"
        "    disk's, from the kernel; \"-\" per cgroup) and issue-to-completion latency\n"
        "    percentiles (p50, p90, p99, p99.9, from log2 histograms).\n"
        "    TIMING says where the issue time came from: \"kernel\" when the disk's queue\n"
        "    records rq->io_start_time_ns (QUEUE_FLAG_STATS, set by wbt, iocost or iolatency):\n"
        "    completion-only accounting, no program runs at issue; \"hash\" when it does not\n"
        "    (e.g. BFQ): the issue program, attached at the first such completion, keeps the\n"
        "    issue time by request (those before it count as untimed); \"mixed\" for both.\n"
        "    The cgroup is the one that issued the bio (its blkcg), shown as a path\n"
        "    relative to the hierarchy that owns block I/O accounting. Counters of removed\n"
        "    cgroups are folded into the row \"(removed)\".\n"
        "\n"
        "OPTIONS\n"
        "    -i, --interval SEC   seconds between reports (default 1; fractions allowed)\n"
        "    -c, --count N        stop after N reports (default: until SIGINT/SIGTERM)\n"
        "    -j, --json           one JSON object per report, one per line\n"
        "    -t, --totals         print the counters accumulated since the programs were\n"
        "                         attached, once, and exit\n"
        "    -d, --device DEV     only DEV: a name (nvme0n1), a path (/dev/loop0) or MAJ:MIN\n"
        "    -n, --top N          at most N cgroup rows per report (default 20, 0: all)\n"
        "        --keep           leave the programs attached when exiting (the default is to\n"
        "                         detach them if this run attached them; ones an agent pinned\n"
        "                         are always left alone)\n"
        "        --detach         unpin and detach the programs, then exit\n"
        "        --bpffs PATH     bpffs mount point (default " IOSTAT_BPFFS_DEFAULT ")\n"
        "        --mount-bpffs    mount bpffs at that point when it is not mounted\n"
        "        --prog-cost      also report the programs' own CPU time per run and per I/O,\n"
        "                         and runs the kernel skipped (I/O not counted)\n"
        "                         (turns on the kernel's BPF run-time accounting meanwhile)\n"
        "        --hash-timestamps  time every request through the in-flight hash instead of\n"
        "                         the kernel's rq->io_start_time_ns (for overhead comparisons;\n"
        "                         applies when this run attaches the programs)\n"
        "    -h, --help           this text\n"
        "        --version        print the version and exit\n"
        "\n"
        "EXIT STATUS\n"
        "    0 on success, 1 on a usage or runtime error (the message says which).\n"
        "    Needs root (or CAP_BPF, CAP_PERFMON, CAP_DAC_OVERRIDE and, for cgroup paths,\n"
        "    CAP_DAC_READ_SEARCH) and a kernel >= 6.1 with BTF.\n";

struct args {
        double interval;
        long count;
        bool json;
        bool totals;
        bool keep;
        bool detach;
        bool mount_bpffs;
        bool hash_ts;
        bool prog_cost;
        long top;
        dev_t device;
        const char *bpffs;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static int device_parse(const char *s, dev_t *ret)
{
        char path[PATH_MAX];
        unsigned ma, mi;
        struct stat st;
        char extra;

        if (sscanf(s, "%u:%u%c", &ma, &mi, &extra) == 2) {
                *ret = makedev(ma, mi);
                return 0;
        }
        snprintf(path, sizeof(path), "%s%s", strchr(s, '/') ? "" : "/dev/", s);
        if (stat(path, &st) < 0)
                return negative_errno();
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        *ret = st.st_rdev;
        return 0;
}

static int args_parse(int argc, char **argv, struct args *a)
{
        enum { OPT_KEEP = 256, OPT_DETACH, OPT_BPFFS, OPT_MOUNT, OPT_HASH, OPT_COST, OPT_VERSION };
        static const struct option options[] = {
                {"interval", required_argument, NULL, 'i'},
                {"count", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"totals", no_argument, NULL, 't'},
                {"device", required_argument, NULL, 'd'},
                {"top", required_argument, NULL, 'n'},
                {"keep", no_argument, NULL, OPT_KEEP},
                {"detach", no_argument, NULL, OPT_DETACH},
                {"bpffs", required_argument, NULL, OPT_BPFFS},
                {"mount-bpffs", no_argument, NULL, OPT_MOUNT},
                {"hash-timestamps", no_argument, NULL, OPT_HASH},
                {"prog-cost", no_argument, NULL, OPT_COST},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {},
        };
        char *end;
        int c, r;

        *a = (struct args){.interval = 1.0, .count = -1, .top = 20, .device = IOSTAT_DEV_ANY};
        while ((c = getopt_long(argc, argv, "i:c:jtd:n:h", options, NULL)) >= 0) {
                switch (c) {
                case 'i':
                        errno = 0;
                        a->interval = strtod(optarg, &end);
                        if (errno || *end || !(a->interval >= 0.01 && a->interval <= 86400))
                                return log_error_errno(EINVAL, "--interval: '%s' is not a "
                                                       "number of seconds in [0.01, 86400]",
                                                       optarg);
                        break;
                case 'c':
                case 'n':
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || *end || v < (c == 'c' ? 1 : 0))
                                return log_error_errno(EINVAL, "--%s: '%s' is not a %s integer",
                                                       c == 'c' ? "count" : "top", optarg,
                                                       c == 'c' ? "positive" : "non-negative");
                        if (c == 'c')
                                a->count = v;
                        else
                                a->top = v;
                        break;
                case 'j':
                        a->json = true;
                        break;
                case 't':
                        a->totals = true;
                        break;
                case 'd':
                        r = device_parse(optarg, &a->device);
                        if (r < 0)
                                return log_error_errno(r, "--device: '%s' is not a block device "
                                                       "(name, path or MAJ:MIN): %m", optarg);
                        break;
                case OPT_KEEP:
                        a->keep = true;
                        break;
                case OPT_DETACH:
                        a->detach = true;
                        break;
                case OPT_BPFFS:
                        a->bpffs = optarg;
                        break;
                case OPT_MOUNT:
                        a->mount_bpffs = true;
                        break;
                case OPT_HASH:
                        a->hash_ts = true;
                        break;
                case OPT_COST:
                        a->prog_cost = true;
                        break;
                case 'h':
                        fputs(help_text, stdout);
                        exit(EXIT_SUCCESS);
                case OPT_VERSION:
                        printf("silo-iostat %s\n", SILO_VERSION);
                        exit(EXIT_SUCCESS);
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "unexpected argument '%s' (see --help)",
                                       argv[optind]);
        return 0;
}

/* "nvme0n1" from /sys/dev/block/MAJ:MIN, or "MAJ:MIN" when sysfs does not know it. */
static void device_name(dev_t dev, char *buf, size_t size)
{
        char link[PATH_MAX], target[PATH_MAX];
        ssize_t n;

        snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev), minor(dev));
        n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
                target[n] = '\0';
                const char *base = strrchr(target, '/');
                size_t len = strlen(base ? base + 1 : target);

                len = MIN(len, size - 1);
                memcpy(buf, base ? base + 1 : target, len);
                buf[len] = '\0';
        } else {
                snprintf(buf, size, "%u:%u", major(dev), minor(dev));
        }
}

static char *cgroup_name(const char *root, uint64_t id)
{
        char *p = NULL;

        if (id == 0)
                return strdup("(none)");
        if (id == IOSTAT_CGROUP_REMOVED)
                return strdup("(removed)");
        if (root && iostat_cgroup_path(root, id, &p) >= 0)
                return p;
        if (asprintf(&p, "(id %llu)", (unsigned long long)id) < 0)
                return NULL;
        return p;
}

/* One row of a report: a (device, op) or a (cgroup, device, op). */
struct row {
        dev_t dev;
        uint64_t cgroup_id;
        enum iostat_op op;
        struct iostat_stat cur;
        struct iostat_stat prev;
};

static int row_cmp(const void *x, const void *y)
{
        const struct row *a = x, *b = y;
        uint64_t da = a->cur.bytes - MIN(a->cur.bytes, a->prev.bytes);
        uint64_t db = b->cur.bytes - MIN(b->cur.bytes, b->prev.bytes);

        if (da != db)
                return da < db ? 1 : -1;
        if (a->cur.ios != b->cur.ios)
                return a->cur.ios < b->cur.ios ? 1 : -1;
        return 0;
}

/* Rows from a snapshot: per device (cgroup ids summed) or per key; prev values matched by
 * (dev, cgroup, op) in the previous snapshot. */
static int rows_build(const struct iostat_snapshot *cur, const struct iostat_snapshot *prev,
                      bool per_cgroup, dev_t only, struct row **ret, size_t *ret_n)
{
        _cleanup_free_ struct row *rows = calloc(cur->n_entries + 1, sizeof(*rows));
        size_t n = 0;

        if (!rows)
                return -ENOMEM;
        for (size_t i = 0; i < cur->n_entries; i++) {
                const struct iostat_entry *e = &cur->entries[i];
                uint64_t cg = per_cgroup ? e->cgroup_id : IOSTAT_CGROUP_ANY;
                bool seen = false;

                if (only != IOSTAT_DEV_ANY && e->dev != only)
                        continue;
                for (size_t j = 0; j < n && !seen; j++)
                        seen = rows[j].dev == e->dev && rows[j].op == e->op &&
                               rows[j].cgroup_id == cg;
                if (seen)
                        continue;
                rows[n] = (struct row){.dev = e->dev, .cgroup_id = cg, .op = e->op};
                iostat_snapshot_sum(cur, e->dev, cg, 1U << e->op, &rows[n].cur);
                if (prev)
                        iostat_snapshot_sum(prev, e->dev, cg, 1U << e->op, &rows[n].prev);
                n++;
        }
        qsort(rows, n, sizeof(*rows), row_cmp);
        *ret = TAKE_PTR(rows);
        *ret_n = n;
        return 0;
}

static json_t *lat_json(const struct iostat_rate *r)
{
        return json_pack("{s:f, s:f, s:f, s:f, s:f}", "mean", r->lat_mean_us, "p50", r->p50_us,
                         "p90", r->p90_us, "p99", r->p99_us, "p99.9", r->p999_us);
}

/* Requests of the row's whole disk in the driver (the kernel's count): a device row only, the
 * programs do not count issues per cgroup. -1: not known. */
static long long row_in_flight(const struct row *w)
{
        uint64_t n;

        if (w->cgroup_id != IOSTAT_CGROUP_ANY || iostat_device_in_flight(w->dev, &n) < 0)
                return -1;
        return (long long)n;
}

/* How the row's completions were timed: over the interval, or since attach when the interval
 * had none. */
static const char *row_timing(const struct row *w, bool totals)
{
        struct iostat_stat d;

        if (totals)
                return iostat_stat_timing(&w->cur);
        iostat_stat_delta(&w->prev, &w->cur, &d, NULL);
        return d.ios ? iostat_stat_timing(&d) : iostat_stat_timing(&w->cur);
}

static json_t *row_json(const struct row *w, const struct iostat_rate *r, const char *cgroot,
                        bool totals)
{
        char name[64], devno[32];
        long long infl = row_in_flight(w);
        const char *timing = row_timing(w, totals);
        json_t *o;

        device_name(w->dev, name, sizeof(name));
        snprintf(devno, sizeof(devno), "%u:%u", major(w->dev), minor(w->dev));
        o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:s, s:b}", "device", name, "dev",
                      devno, "op", iostat_op_to_string(w->op), "bytes", (json_int_t)r->bytes,
                      "ios", (json_int_t)r->ios, "in_flight",
                      infl < 0 ? json_null() : json_integer(infl), "lat_us", lat_json(r),
                      "timing", timing, "kernel_timestamps", strcmp(timing, "kernel") == 0);
        if (!o)
                return NULL;
        if (!totals) {
                json_object_set_new(o, "bytes_per_s", json_real(r->bytes_per_s));
                json_object_set_new(o, "iops", json_real(r->ios_per_s));
        } else {
                json_t *h = json_array();

                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        json_array_append_new(h, json_integer((json_int_t)w->cur.hist[i]));
                json_object_set_new(o, "hist_log2_us", h);
                json_object_set_new(o, "requeued", json_integer((json_int_t)w->cur.requeued));
                json_object_set_new(o, "unstamped", json_integer((json_int_t)w->cur.unstamped));
                json_object_set_new(o, "untimed", json_integer((json_int_t)w->cur.untimed));
        }
        if (w->cgroup_id != IOSTAT_CGROUP_ANY) {
                _cleanup_free_ char *cg = cgroup_name(cgroot, w->cgroup_id);

                json_object_set_new(o, "cgroup_id",
                                    w->cgroup_id == IOSTAT_CGROUP_REMOVED
                                            ? json_null()
                                            : json_integer((json_int_t)w->cgroup_id));
                json_object_set_new(o, "cgroup", json_string(cg ? cg : "?"));
        }
        return o;
}

static void row_print(const struct row *w, const struct iostat_rate *r, const char *cgroot,
                      bool totals)
{
        char name[64], lat[96], infl[24] = "-";
        long long n = row_in_flight(w);

        if (n >= 0)
                snprintf(infl, sizeof(infl), "%lld", n);
        device_name(w->dev, name, sizeof(name));
        if (r->lat_mean_us > 0)
                snprintf(lat, sizeof(lat), "%8.0f %8.0f %8.0f %8.0f", r->p50_us, r->p90_us,
                         r->p99_us, r->p999_us);
        else
                snprintf(lat, sizeof(lat), "%8s %8s %8s %8s", "-", "-", "-", "-");
        if (totals)
                printf("%-12s %-7s %14llu %11llu %5s %s %-6s", name, iostat_op_to_string(w->op),
                       (unsigned long long)r->bytes, (unsigned long long)r->ios, infl, lat,
                       row_timing(w, totals));
        else
                printf("%-12s %-7s %10.2f %10.0f %5s %s %-6s", name, iostat_op_to_string(w->op),
                       r->bytes_per_s / 1e6, r->ios_per_s, infl, lat, row_timing(w, totals));
        if (w->cgroup_id != IOSTAT_CGROUP_ANY) {
                _cleanup_free_ char *cg = cgroup_name(cgroot, w->cgroup_id);
                printf("  %s", cg ? cg : "?");
        }
        putchar('\n');
}

/* The programs' CPU cost over the interval: ns per run of each, and what the programs that fire
 * per I/O (complete, and issue while attached) cost per completed I/O (requeues are rare
 * enough to leave out of the per-I/O figure). */
static void cost_report(const struct args *a, json_t *doc,
                        const struct iostat_prog_stats cost[2][IOSTAT_PROG_MAX],
                        const struct iostat_snapshot *cur, const struct iostat_snapshot *prev)
{
        static const char *const names[IOSTAT_PROG_MAX] = {"issue", "complete", "requeue"};
        struct iostat_stat c, p = {};
        double per_run[IOSTAT_PROG_MAX] = {}, per_io[IOSTAT_PROG_MAX] = {}, total_ns = 0;
        uint64_t ios, misses = 0;
        json_t *o = a->json ? json_object() : NULL;

        iostat_snapshot_sum(cur, IOSTAT_DEV_ANY, IOSTAT_CGROUP_ANY, 0, &c);
        if (prev)
                iostat_snapshot_sum(prev, IOSTAT_DEV_ANY, IOSTAT_CGROUP_ANY, 0, &p);
        ios = c.ios >= p.ios ? c.ios - p.ios : c.ios;
        for (unsigned i = 0; i < IOSTAT_PROG_MAX; i++) {
                /* The issue program may have been attached during the interval. */
                const struct iostat_prog_stats *b = cost[0][i].attached ? &cost[0][i]
                                                                         : &(struct iostat_prog_stats){};
                uint64_t runs = cost[1][i].run_cnt - b->run_cnt;
                uint64_t ns = cost[1][i].run_time_ns - b->run_time_ns;

                per_run[i] = runs ? (double)ns / (double)runs : 0;
                per_io[i] = ios ? (double)ns / (double)ios : 0;
                misses += cost[1][i].misses - b->misses;
                if (i != IOSTAT_PROG_REQUEUE)
                        total_ns += (double)ns;
                if (o)
                        json_object_set_new(o, names[i],
                                            json_pack("{s:b, s:I, s:f, s:f, s:I}", "attached",
                                                      cost[1][i].attached, "runs", (json_int_t)runs,
                                                      "ns_per_run", per_run[i], "ns_per_io",
                                                      per_io[i], "misses",
                                                      (json_int_t)(cost[1][i].misses - b->misses)));
        }
        if (o) {
                json_object_set_new(o, "ns_per_io", json_real(ios ? total_ns / (double)ios : 0));
                json_object_set_new(o, "ios", json_integer((json_int_t)ios));
                json_object_set_new(o, "misses", json_integer((json_int_t)misses));
                json_object_set_new(doc, "bpf_cost", o);
        } else {
                printf("BPF cost: complete %.0f ns/run, issue %s, %.0f ns per I/O, %llu runs "
                       "missed\n",
                       per_run[IOSTAT_PROG_COMPLETE],
                       cost[1][IOSTAT_PROG_ISSUE].attached ? "attached" : "not attached",
                       ios ? total_ns / (double)ios : 0.0, (unsigned long long)misses);
                if (cost[1][IOSTAT_PROG_ISSUE].attached)
                        printf("          issue %.0f ns/run\n", per_run[IOSTAT_PROG_ISSUE]);
        }
}

/* One report. With totals, prev is NULL and the "interval" is everything since attach. */
static int report(const struct args *a, const struct iostat_snapshot *cur,
                  const struct iostat_snapshot *prev, const char *cgroot,
                  const struct iostat_prog_stats cost[2][IOSTAT_PROG_MAX])
{
        static const struct iostat_stat zero;
        uint64_t interval = prev ? cur->time_ns - prev->time_ns : 1000000000ULL;
        json_t *doc = NULL, *arr = NULL;
        int r;

        if (a->json) {
                char when[32];
                time_t now = time(NULL);
                struct tm tm;

                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
                doc = json_pack("{s:s, s:f, s:I, s:I, s:I, s:b}", "time", when, "interval_s",
                                prev ? (double)interval / 1e9 : 0.0, "lost_keys",
                                (json_int_t)cur->lost_keys, "lost_timestamps",
                                (json_int_t)cur->lost_ts, "unstamped",
                                (json_int_t)cur->unstamped, "issue_hook", cur->issue_hook);
                if (!doc)
                        return -ENOMEM;
                if (cur->issue_hook_error[0])
                        json_object_set_new(doc, "issue_hook_error", json_string(cur->issue_hook_error));
        } else {
                char when[16];
                time_t now = time(NULL);
                struct tm tm;

                strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
                if (cur->issue_hook_error[0])
                        printf("issue program: not attached, a queue needs it (retrying): %s\n",
                               cur->issue_hook_error);
                else
                        printf("issue program: %s\n",
                               cur->issue_hook ? "attached (a queue does not record issue times)"
                                               : "not attached (completion-only)");
                if (a->totals)
                        printf("%s  totals since attach\n", when);
                else
                        printf("%s  interval %.2fs\n", when, (double)interval / 1e9);
                if (cur->lost_keys)
                        printf("completions not counted: %" PRIu64 " in this interval, %" PRIu64
                               " since attach: their new key could not be added to the stats map "
                               "(full at %u keys, or the kernel could not allocate or lock)\n",
                               prev && cur->lost_keys >= prev->lost_keys ? cur->lost_keys - prev->lost_keys
                                                                          : cur->lost_keys,
                               cur->lost_keys, IOSTAT_MAX_KEYS);
        }

        if (cost)
                cost_report(a, doc, cost, cur, prev);
        for (int pass = 0; pass < 2; pass++) {
                _cleanup_free_ struct row *rows = NULL;
                size_t n;

                r = rows_build(cur, prev, pass == 1, a->device, &rows, &n);
                if (r < 0)
                        goto out;
                if (a->json) {
                        arr = json_array();
                        json_object_set_new(doc, pass ? "cgroups" : "devices", arr);
                } else {
                        printf("%-12s %-7s %10s %10s %5s %8s %8s %8s %8s%s\n",
                               pass ? "CGROUP-DEV" : "DEVICE", "OP",
                               a->totals ? "BYTES" : "MB/s", a->totals ? "IOS" : "IOPS",
                               "INFL", "p50us", "p90us", "p99us", "p99.9us",
                               pass ? " TIMING  CGROUP" : " TIMING");
                }
                size_t shown = 0;
                for (size_t i = 0; i < n; i++) {
                        struct iostat_rate rate;
                        bool idle = rows[i].cur.ios == rows[i].prev.ios &&
                                    rows[i].cur.bytes == rows[i].prev.bytes &&
                                    row_in_flight(&rows[i]) <= 0;

                        if (!a->totals && idle)
                                continue;
                        if (pass == 1 && a->top > 0 && shown >= (size_t)a->top)
                                break;
                        r = iostat_rate_compute(a->totals ? &zero : &rows[i].prev, &rows[i].cur,
                                                interval, &rate);
                        if (r < 0)
                                goto out;
                        if (a->json)
                                json_array_append_new(arr, row_json(&rows[i], &rate, cgroot,
                                                                    a->totals));
                        else
                                row_print(&rows[i], &rate, cgroot, a->totals);
                        shown++;
                }
                if (!a->json)
                        putchar('\n');
        }
        if (a->json) {
                char *s = json_dumps(doc, JSON_COMPACT);
                if (!s) {
                        r = -ENOMEM;
                        goto out;
                }
                puts(s);
                free(s);
        }
        fflush(stdout);
        r = 0;
out:
        json_decref(doc);
        return r;
}

static void sleep_interval(double seconds)
{
        struct timespec ts = {.tv_sec = (time_t)seconds,
                              .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};

        /* A signal cuts the sleep short; the loop then reports once more and stops. */
        (void)nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
        struct iostat_options opts = {};
        _cleanup_free_ char *cgroot = NULL;
        struct iostat_snapshot *prev = NULL, *cur = NULL;
        struct iostat *io = NULL;
        struct iostat_prog_stats cost[2][IOSTAT_PROG_MAX] = {};
        _cleanup_close_ int stats_fd = -EBADF;
        _cleanup_free_ char *error = NULL;
        struct args a;
        int r;

        log_set_ident("silo-iostat");
        r = args_parse(argc, argv, &a);
        if (r < 0)
                return EXIT_FAILURE;

        if (a.detach) {
                r = iostat_unpin(a.bpffs);
                if (r < 0)
                        return log_error_errno(r, "Failed to detach iostat under %s: %m",
                                               a.bpffs ?: IOSTAT_BPFFS_DEFAULT),
                               EXIT_FAILURE;
                return EXIT_SUCCESS;
        }

        opts.bpffs = a.bpffs;
        opts.mount_bpffs = a.mount_bpffs;
        opts.ts_mode = a.hash_ts ? IOSTAT_TS_HASH_ONLY : IOSTAT_TS_KERNEL_FIRST;
        r = iostat_attach(&opts, &io, &error);
        if (r < 0) {
                log_error("%s", error ?: strerror(-r));
                return EXIT_FAILURE;
        }
        if (iostat_cgroup_root_find(&cgroot) < 0)
                cgroot = NULL; /* paths unknown: ids are shown instead */
        if (a.prog_cost) {
                stats_fd = iostat_prog_stats_enable();
                if (stats_fd < 0) {
                        r = log_error_errno(stats_fd, "Failed to enable BPF run-time "
                                            "statistics: %m");
                        goto finish;
                }
        }

        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        if (a.totals) {
                r = iostat_snapshot_take(io, &cur);
                if (r >= 0)
                        r = report(&a, cur, NULL, cgroot, NULL);
                if (r < 0)
                        log_error_errno(r, "Failed to read the iostat maps: %m");
        } else {
                r = iostat_snapshot_take(io, &prev);
                if (r >= 0 && a.prog_cost)
                        r = iostat_prog_stats_read(io, cost[0]);
                for (long done = 0; r >= 0 && (a.count < 0 || done < a.count); done++) {
                        sleep_interval(a.interval);
                        if (cgroot)
                                (void)iostat_prune(io, cgroot);
                        r = iostat_snapshot_take(io, &cur);
                        if (r >= 0 && a.prog_cost)
                                r = iostat_prog_stats_read(io, cost[1]);
                        if (r < 0)
                                break;
                        r = report(&a, cur, prev, cgroot, a.prog_cost ? cost : NULL);
                        if (r < 0)
                                break;
                        memcpy(cost[0], cost[1], sizeof(cost[0]));
                        iostat_snapshot_free(prev);
                        prev = TAKE_PTR(cur);
                        if (stop_requested)
                                break;
                }
                if (r < 0)
                        log_error_errno(r, "Failed to read the iostat maps: %m");
        }
finish:
        iostat_snapshot_free(prev);
        iostat_snapshot_free(cur);

        /* Leave programs an agent (or an earlier --keep) pinned; remove our own. */
        if (!iostat_reused(io) && !a.keep) {
                int k = iostat_detach(io);
                if (k < 0)
                        log_warning_errno(k, "Failed to detach iostat: %m");
        }
        iostat_free(io);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

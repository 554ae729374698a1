/* SPDX-License-Identifier: Apache-2.0 */
/* iostat loader: attach or reuse the pinned programs, read per-CPU maps into snapshots, prune. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "common/array.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "iostat.h"
#include "iostat.skel.h"

#define BTF_VMLINUX "/sys/kernel/btf/vmlinux"

/* Everything pinned under the pin directory: maps first, then the links that hold the
 * programs attached. A complete set (link_issue is optional: it exists only while some queue
 * does not stamp rq->io_start_time_ns, or in hash-only mode) is reused; a partial one (a loader
 * died while attaching) is removed and attached again. */
enum {
        PIN_MAP_STATS,
        PIN_MAP_START,
        PIN_MAP_OVERFLOW,
        PIN_LINK_ISSUE,
        PIN_LINK_COMPLETE,
        PIN_LINK_REQUEUE,
        PIN_MAX,
};
static const char *const pin_names[PIN_MAX] = {
        [PIN_MAP_STATS] = "stats",
        [PIN_MAP_START] = "start",
        [PIN_MAP_OVERFLOW] = "overflow",
        [PIN_LINK_ISSUE] = "link_issue",
        [PIN_LINK_COMPLETE] = "link_complete",
        [PIN_LINK_REQUEUE] = "link_requeue",
};

struct iostat {
        char *pin_dir;
        int fds[PIN_MAX];
        int ncpus;
        bool reused;
        /* Attaching the issue program failed: why, how often in a row, and when to try again
         * (a backoff, so a lasting failure costs no load per snapshot and a passing one,
         * EAGAIN or ENOMEM, does not leave unstamped queues untimed for the process's life). */
        char hook_error[IOSTAT_HOOK_ERROR_MAX];
        unsigned hook_failures;
        uint64_t hook_retry_ns;
        __u32 test_unstamped_dev; /* iostat_options.test_unstamped_dev, key encoding */
};

/* Whether pins_open() found every pin a working set needs. */
static bool pins_complete(const int fds[PIN_MAX])
{
        for (unsigned i = 0; i < PIN_MAX; i++)
                if (i != PIN_LINK_ISSUE && fds[i] < 0)
                        return false;
        return true;
}

/* libbpf prints through a global callback; library code must not print, so while this loader
 * calls into libbpf its messages go to log_debug and the last one is kept for *ret_error. */
static __thread char libbpf_last[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
        char buf[1024];
        size_t n;

        vsnprintf(buf, sizeof(buf), fmt, ap);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        if (level != LIBBPF_DEBUG && n > 0)
                snprintf(libbpf_last, sizeof(libbpf_last), "%s", buf);
        log_debug("libbpf: %s", buf);
        return 0;
}

static int perm_error(char **ret_error, const char *what)
{
        return error_set(ret_error, -EPERM,
                         "%s: permission denied: loading BPF programs needs root "
                         "(or CAP_BPF, CAP_PERFMON and CAP_DAC_OVERRIDE)",
                         what);
}

/* Refuse kernels older than the oldest one the programs are tested on instead of
 * shipping fallbacks nobody runs. */
static int kernel_check(char **ret_error)
{
        struct utsname u;
        int r;

        if (uname(&u) < 0)
                return negative_errno();
        r = iostat_kernel_release_check(u.release);
        if (r == -EINVAL)
                return error_set(ret_error, -ENOTSUP, "cannot parse kernel release '%s' from uname",
                                 u.release);
        if (r < 0)
                return error_set(ret_error, -ENOTSUP,
                                 "kernel %s is older than %d.%d, the oldest kernel the iostat "
                                 "BPF programs support",
                                 u.release, IOSTAT_MIN_KERNEL_MAJOR, IOSTAT_MIN_KERNEL_MINOR);
        if (access(BTF_VMLINUX, R_OK) < 0) {
                if (errno == EACCES)
                        return perm_error(ret_error, BTF_VMLINUX);
                return error_set(ret_error, -ENOTSUP,
                                 "kernel %s has no BTF (%s missing): the iostat programs need a "
                                 "kernel built with CONFIG_DEBUG_INFO_BTF=y",
                                 u.release, BTF_VMLINUX);
        }
        return 0;
}

static int bpffs_ensure(const char *bpffs, bool do_mount, char **ret_error)
{
        struct statfs sfs;
        int r;

        if (statfs(bpffs, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
                return 0;
        if (!do_mount)
                return error_set(ret_error, -ENOENT,
                                 "bpffs is not mounted at %s (mount -t bpf bpf %s, or ask the "
                                 "loader to mount it)",
                                 bpffs, bpffs);
        r = mkdir_parents(bpffs, 0755);
        if (r < 0)
                return error_set(ret_error, r, "cannot create bpffs mount point %s: %s", bpffs,
                                 strerror(-r));
        if (mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0) {
                r = negative_errno();
                if (r == -EPERM)
                        return perm_error(ret_error, "mounting bpffs");
                return error_set(ret_error, r, "cannot mount bpffs at %s: %s", bpffs, strerror(-r));
        }
        return 0;
}

static void fds_close(int fds[PIN_MAX])
{
        for (unsigned i = 0; i < PIN_MAX; i++)
                fds[i] = safe_close(fds[i]);
}

/* The directory <pin_dir>/abi-<N> marks pins made by this layout and these programs: bpffs
 * holds only BPF objects and directories, so a directory is the marker. */
static void abi_marker_path(const char *pin_dir, char *buf, size_t size)
{
        snprintf(buf, size, "%s/abi-%d", pin_dir, IOSTAT_ABI_VERSION);
}

/* Empty the pin directory, including pins and markers of other iostat versions: it is ours. */
static void pins_remove(const char *pin_dir)
{
        _cleanup_closedir_ DIR *d = opendir(pin_dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
                        (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        }
}

/* Open whatever is pinned; returns how many pins exist. */
static int pins_open(const char *pin_dir, int fds[PIN_MAX])
{
        char path[PATH_MAX];
        int n = 0;

        for (unsigned i = 0; i < PIN_MAX; i++) {
                snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[i]);
                fds[i] = bpf_obj_get(path);
                if (fds[i] >= 0) {
                        n++;
                } else if (fds[i] != -ENOENT) {
                        int r = fds[i];

                        fds[i] = -EBADF;
                        fds_close(fds);
                        return r;
                }
        }
        return n;
}

/* A reused stats map must have this build's layout, or snapshots would misread it. */
static int pins_check(const int fds[PIN_MAX], const char *pin_dir, char **ret_error)
{
        struct bpf_map_info info = {};
        __u32 len = sizeof(info);
        int r;

        r = bpf_obj_get_info_by_fd(fds[PIN_MAP_STATS], &info, &len);
        if (r < 0)
                return error_set(ret_error, r, "cannot inspect %s/stats: %s", pin_dir,
                                 strerror(-r));
        if (info.type != BPF_MAP_TYPE_PERCPU_HASH || info.key_size != sizeof(struct iostat_key) ||
            info.value_size != sizeof(struct iostat_value))
                return error_set(ret_error, -EPROTO,
                                 "%s/stats was pinned by an incompatible iostat (key %u/value %u "
                                 "bytes, this build expects %zu/%zu, ABI %d): detach it first "
                                 "(silo-iostat --detach)",
                                 pin_dir, info.key_size, info.value_size, sizeof(struct iostat_key),
                                 sizeof(struct iostat_value), IOSTAT_ABI_VERSION);
        char marker[PATH_MAX];
        abi_marker_path(pin_dir, marker, sizeof(marker));
        if (access(marker, F_OK) < 0)
                return error_set(ret_error, -EPROTO,
                                 "%s holds programs pinned by an incompatible iostat (no %s): "
                                 "detach them first (silo-iostat --detach)",
                                 pin_dir, marker);
        return 0;
}

/* The bit of QUEUE_FLAG_STATS in request_queue.queue_flags: an enumerator in the kernel's BTF
 * since 6.11, a #define (not in BTF) before. */
static __u32 queue_flag_stats_bit(void)
{
        struct btf *btf = btf__load_vmlinux_btf();
        __u32 bit = IOSTAT_QUEUE_FLAG_STATS_BIT_6_1;

        if (!btf)
                return bit;
        for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
                const struct btf_type *t = btf__type_by_id(btf, id);
                const struct btf_enum *e;

                if (!btf_is_enum(t))
                        continue;
                e = btf_enum(t);
                for (__u16 i = 0; i < btf_vlen(t); i++)
                        if (strcmp(btf__name_by_offset(btf, e[i].name_off), "QUEUE_FLAG_STATS") == 0) {
                                bit = (__u32)e[i].val;
                                goto out;
                        }
        }
out:
        btf__free(btf);
        return bit;
}

/* Open the skeleton with its settings; `only_issue`: load just the issue program, to attach it
 * next to programs already pinned (its maps are the pinned ones). */
static int skel_load(struct iostat_bpf **ret, enum iostat_ts_mode ts_mode,
                     __u32 test_unstamped_dev, const int map_fds[3], char **ret_error)
{
        struct iostat_bpf *skel = iostat_bpf__open();
        int r;

        if (!skel) {
                r = negative_errno();
                return error_set(ret_error, r, "cannot open the iostat BPF object: %s",
                                 libbpf_last[0] ? libbpf_last : strerror(-r));
        }
        skel->rodata->ts_mode = ts_mode;
        skel->rodata->queue_flag_stats_bit = queue_flag_stats_bit();
        skel->rodata->test_unstamped_dev = test_unstamped_dev;
        if (map_fds) {
                struct bpf_map *maps[3] = {skel->maps.stats, skel->maps.start, skel->maps.overflow};

                bpf_program__set_autoload(skel->progs.iostat_complete, false);
                bpf_program__set_autoload(skel->progs.iostat_requeue, false);
                for (unsigned i = 0; i < 3; i++) {
                        r = bpf_map__reuse_fd(maps[i], map_fds[i]);
                        if (r < 0) {
                                iostat_bpf__destroy(skel);
                                return error_set(ret_error, r, "cannot reuse the pinned %s map: %s",
                                                 bpf_map__name(maps[i]), strerror(-r));
                        }
                }
        }
        r = iostat_bpf__load(skel);
        if (r < 0) {
                iostat_bpf__destroy(skel);
                if (r == -EPERM || r == -EACCES)
                        return perm_error(ret_error, "loading iostat");
                return error_set(ret_error, r, "cannot load the iostat programs: %s (%s)",
                                 strerror(-r), libbpf_last[0] ? libbpf_last : "no detail");
        }
        *ret = skel;
        return 0;
}

/* Attach one program and pin its link as pin_names[pin]. */
static int prog_attach_pin(struct bpf_program *prog, const char *pin_dir, unsigned pin,
                           char **ret_error)
{
        struct bpf_link *link = bpf_program__attach(prog);
        char path[PATH_MAX];
        int r;

        if (!link) {
                r = negative_errno();
                return error_set(ret_error, r, "cannot attach %s: %s",
                                 bpf_program__section_name(prog), strerror(-r));
        }
        snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[pin]);
        r = bpf_link__pin(link, path);
        if (r < 0)
                r = error_set(ret_error, r, "cannot pin %s: %s", path, strerror(-r));
        bpf_link__destroy(link); /* a pinned link stays attached */
        return r;
}

/* Load, attach and pin. The pins, not this process, then keep the programs attached. The issue
 * program is attached here only in hash-only mode; otherwise when a completion without the
 * kernel's stamp asks for it (issue_hook_ensure()). */
static int programs_attach(const char *pin_dir, enum iostat_ts_mode ts_mode,
                           __u32 test_unstamped_dev, char **ret_error)
{
        struct iostat_bpf *skel = NULL;
        char path[PATH_MAX];
        int r;

        r = skel_load(&skel, ts_mode, test_unstamped_dev, NULL, ret_error);
        if (r < 0)
                return r;

        /* Marker first: a loader dying before the last pin leaves a partial set, which the
         * next one replaces; a complete set without this marker is another version's. */
        abi_marker_path(pin_dir, path, sizeof(path));
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
                r = negative_errno();
                r = error_set(ret_error, r, "cannot create %s: %s", path, strerror(-r));
                goto out;
        }
        struct bpf_map *maps[3] = {skel->maps.stats, skel->maps.start, skel->maps.overflow};
        for (unsigned i = PIN_MAP_STATS; i <= PIN_MAP_OVERFLOW; i++) {
                snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[i]);
                r = bpf_map__pin(maps[i - PIN_MAP_STATS], path);
                if (r < 0) {
                        r = error_set(ret_error, r, "cannot pin %s: %s", path, strerror(-r));
                        goto out;
                }
        }
        /* Requeue before complete: link_complete is the last pin, so its presence means the
         * set is whole (tests and scripts wait for it). */
        if (ts_mode == IOSTAT_TS_HASH_ONLY)
                r = prog_attach_pin(skel->progs.iostat_issue, pin_dir, PIN_LINK_ISSUE, ret_error);
        if (r >= 0)
                r = prog_attach_pin(skel->progs.iostat_requeue, pin_dir, PIN_LINK_REQUEUE,
                                    ret_error);
        if (r >= 0)
                r = prog_attach_pin(skel->progs.iostat_complete, pin_dir, PIN_LINK_COMPLETE,
                                    ret_error);
out:
        if (r < 0)
                pins_remove(pin_dir);
        iostat_bpf__destroy(skel);
        return r < 0 ? r : 0;
}

int iostat_attach(const struct iostat_options *opts, struct iostat **ret, char **ret_error)
{
        static const struct iostat_options defaults = {};
        const char *bpffs;
        _cleanup_free_ char *pin_dir = NULL;
        _cleanup_close_ int dfd = -EBADF;
        libbpf_print_fn_t old_print;
        struct iostat *io;
        int fds[PIN_MAX], r, n;

        if (!opts)
                opts = &defaults;
        bpffs = opts->bpffs ?: IOSTAT_BPFFS_DEFAULT;
        __u32 test_dev = opts->test_unstamped_dev
                                 ? iostat_dev_encode(major(opts->test_unstamped_dev),
                                                     minor(opts->test_unstamped_dev))
                                 : 0;
        if ((unsigned)opts->ts_mode > IOSTAT_TS_HASH_ONLY)
                return error_set(ret_error, -EINVAL, "invalid timestamp mode %d",
                                 (int)opts->ts_mode);
        for (unsigned i = 0; i < PIN_MAX; i++)
                fds[i] = -EBADF;

        r = kernel_check(ret_error);
        if (r < 0)
                return r;
        r = bpffs_ensure(bpffs, opts->mount_bpffs, ret_error);
        if (r < 0)
                return r;
        if (asprintf(&pin_dir, "%s/%s", bpffs, IOSTAT_PIN_SUBDIR) < 0)
                return -ENOMEM;
        r = mkdir_parents(pin_dir, 0700);
        if (r < 0) {
                if (r == -EPERM || r == -EACCES)
                        return perm_error(ret_error, pin_dir);
                return error_set(ret_error, r, "cannot create %s: %s", pin_dir, strerror(-r));
        }
        /* Serialize loaders: two agents starting together must not both attach. */
        dfd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
                r = negative_errno();
                return error_set(ret_error, r, "cannot lock %s: %s", pin_dir, strerror(-r));
        }

        libbpf_last[0] = '\0';
        old_print = libbpf_set_print(libbpf_capture);

        n = pins_open(pin_dir, fds);
        if (n == -EPERM || n == -EACCES) {
                r = perm_error(ret_error, pin_dir);
                goto out;
        }
        if (n < 0) {
                r = error_set(ret_error, n, "cannot open pins in %s: %s", pin_dir, strerror(-n));
                goto out;
        }
        bool reused = n > 0 && pins_complete(fds);
        if (reused && opts->replace_incompatible &&
            pins_check(fds, pin_dir, NULL) == -EPROTO) {
                /* Pinned by another iostat version (an upgrade): start over, counters too. */
                log_debug("iostat: replacing incompatible pins in %s", pin_dir);
                reused = false;
        }
        if (!reused) {
                if (n > 0) {
                        log_debug("iostat: %d pins in %s, not a complete set: re-attaching", n,
                                  pin_dir);
                        fds_close(fds);
                        pins_remove(pin_dir);
                }
                r = programs_attach(pin_dir, opts->ts_mode, test_dev, ret_error);
                if (r < 0)
                        goto out;
                n = pins_open(pin_dir, fds);
                if (n < 0 || !pins_complete(fds)) {
                        r = error_set(ret_error, n < 0 ? n : -EIO,
                                      "pins in %s vanished right after attaching", pin_dir);
                        goto out;
                }
        }
        r = pins_check(fds, pin_dir, ret_error);
        if (r < 0)
                goto out;

        io = calloc(1, sizeof(*io));
        if (!io) {
                r = -ENOMEM;
                goto out;
        }
        io->ncpus = libbpf_num_possible_cpus();
        if (io->ncpus <= 0) {
                r = io->ncpus < 0 ? io->ncpus : -EIO;
                free(io);
                goto out;
        }
        io->pin_dir = TAKE_PTR(pin_dir);
        memcpy(io->fds, fds, sizeof(fds));
        for (unsigned i = 0; i < PIN_MAX; i++)
                fds[i] = -EBADF;
        io->reused = reused;
        io->test_unstamped_dev = test_dev;
        *ret = io;
        r = 0;
out:
        fds_close(fds);
        libbpf_set_print(old_print);
        return r;
}

struct iostat *iostat_free(struct iostat *io)
{
        if (!io)
                return NULL;
        fds_close(io->fds);
        free(io->pin_dir);
        free(io);
        return NULL;
}

bool iostat_reused(const struct iostat *io)
{
        return io->reused;
}

static int unpin_dir(const char *pin_dir)
{
        _cleanup_close_ int dfd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (flock(dfd, LOCK_EX) < 0)
                return negative_errno();
        pins_remove(pin_dir);
        if (rmdir(pin_dir) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int iostat_detach(struct iostat *io)
{
        return unpin_dir(io->pin_dir);
}

int iostat_unpin(const char *bpffs)
{
        _cleanup_free_ char *pin_dir = NULL;

        if (asprintf(&pin_dir, "%s/%s", bpffs ?: IOSTAT_BPFFS_DEFAULT, IOSTAT_PIN_SUBDIR) < 0)
                return -ENOMEM;
        return unpin_dir(pin_dir);
}

/* Per-CPU map values come as one slot per possible CPU, each rounded up to 8 bytes. */
static void value_sum(const struct iostat_value *slots, int ncpus, struct iostat_stat *ret)
{
        memset(ret, 0, sizeof(*ret));
        for (int c = 0; c < ncpus; c++) {
                const struct iostat_value *v = &slots[c];

                ret->bytes += v->bytes;
                ret->ios += v->ios;
                ret->requeued += v->requeued;
                ret->lat_sum_ns += v->lat_sum_ns;
                ret->unstamped += v->unstamped;
                ret->untimed += v->untimed;
                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        ret->hist[i] += v->hist[i];
        }
}

static uint64_t overflow_read(const struct iostat *io, __u32 idx)
{
        _cleanup_free_ __u64 *v = calloc(io->ncpus, sizeof(__u64));
        uint64_t sum = 0;

        if (!v || bpf_map_lookup_elem(io->fds[PIN_MAP_OVERFLOW], &idx, v) < 0)
                return 0;
        for (int c = 0; c < io->ncpus; c++)
                sum += v[c];
        return sum;
}

_Static_assert(sizeof(struct iostat_value) % 8 == 0, "per-CPU slots are 8-byte aligned");

/* Append the keys and per-CPU values of one batch to the snapshot. */
static int snapshot_append(struct iostat_snapshot *s, size_t *cap, const struct iostat_key *keys,
                           const struct iostat_value *vals, unsigned count, int ncpus)
{
        if (!ARRAY_GROW(s->entries, *cap, s->n_entries + count))
                return -ENOMEM;
        for (unsigned i = 0; i < count; i++) {
                struct iostat_entry *e = &s->entries[s->n_entries];

                if (iostat_key_decode(&keys[i], &e->dev, &e->cgroup_id, &e->op) < 0)
                        continue; /* not written by this ABI: ignore */
                value_sum(&vals[(size_t)i * ncpus], ncpus, &e->stat);
                s->n_entries++;
        }
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct iostat_snapshot *, iostat_snapshot_free)

#define ISSUE_HOOK_BACKOFF_NS UINT64_C(1000000000) /* the first retry's wait */

/* Attach the issue program next to the pinned ones once a completion without the kernel's
 * stamp was seen (a queue without QUEUE_FLAG_STATS: e.g. BFQ, wbt never set up), so that
 * queue's later I/O is timed through the hash; until then its completions count as untimed.
 * Another loader may have attached it meanwhile: the pin is looked for under the lock. */
static void issue_hook_ensure(struct iostat *io)
{
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int dfd = -EBADF;
        struct iostat_bpf *skel = NULL;
        char path[PATH_MAX];
        libbpf_print_fn_t old_print;
        int r;

        if (io->fds[PIN_LINK_ISSUE] >= 0 || clock_now_nsec(CLOCK_MONOTONIC) < io->hook_retry_ns ||
            overflow_read(io, IOSTAT_OVERFLOW_UNSTAMPED) == 0)
                return;
        dfd = open(io->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || flock(dfd, LOCK_EX) < 0)
                return;
        snprintf(path, sizeof(path), "%s/%s", io->pin_dir, pin_names[PIN_LINK_ISSUE]);
        io->fds[PIN_LINK_ISSUE] = bpf_obj_get(path);
        if (io->fds[PIN_LINK_ISSUE] >= 0) {
                io->hook_failures = 0;
                io->hook_error[0] = '\0';
                return;
        }
        libbpf_last[0] = '\0';
        old_print = libbpf_set_print(libbpf_capture);
        const int map_fds[3] = {io->fds[PIN_MAP_STATS], io->fds[PIN_MAP_START],
                                io->fds[PIN_MAP_OVERFLOW]};
        r = skel_load(&skel, IOSTAT_TS_KERNEL_FIRST, io->test_unstamped_dev, map_fds, &error);
        if (r >= 0) {
                r = prog_attach_pin(skel->progs.iostat_issue, io->pin_dir, PIN_LINK_ISSUE, &error);
                iostat_bpf__destroy(skel);
        }
        libbpf_set_print(old_print);
        if (r >= 0)
                io->fds[PIN_LINK_ISSUE] = bpf_obj_get(path);
        if (io->fds[PIN_LINK_ISSUE] < 0) {
                /* 1 s, 2 s, 4 s ... up to 5 min between tries. */
                uint64_t backoff = ISSUE_HOOK_BACKOFF_NS << MIN(io->hook_failures, 8u);

                io->hook_failures++;
                io->hook_retry_ns = clock_now_nsec(CLOCK_MONOTONIC) +
                                    MIN(backoff, 300 * ISSUE_HOOK_BACKOFF_NS);
                snprintf(io->hook_error, sizeof(io->hook_error), "%s",
                         error ? error : strerror(-(r < 0 ? r : io->fds[PIN_LINK_ISSUE])));
                log_debug("iostat: cannot attach the issue program for unstamped queues (try %u): %s",
                          io->hook_failures, io->hook_error);
                return;
        }
        io->hook_failures = 0;
        io->hook_error[0] = '\0';
}

int iostat_snapshot_take(struct iostat *io, struct iostat_snapshot **ret)
{
        _cleanup_(iostat_snapshot_freep) struct iostat_snapshot *s = NULL;
        _cleanup_free_ struct iostat_key *keys = NULL;
        _cleanup_free_ struct iostat_value *vals = NULL;
        unsigned chunk = 64;
        size_t cap = 0;
        __u32 batch;
        bool first = true;
        int r;

        issue_hook_ensure(io);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        /* Batch lookups walk the hash by bucket, so keys that the programs add or a prune
         * deletes meanwhile never make the walk restart and count an entry twice (as a
         * get_next_key walk would after its cursor key is deleted). */
        for (;;) {
                __u32 count = chunk;

                if (!keys) {
                        keys = calloc(chunk, sizeof(*keys));
                        vals = calloc((size_t)chunk * io->ncpus, sizeof(*vals));
                        if (!keys || !vals)
                                return -ENOMEM;
                }
                r = bpf_map_lookup_batch(io->fds[PIN_MAP_STATS], first ? NULL : &batch, &batch,
                                         keys, vals, &count, NULL);
                if (r == -ENOSPC && chunk < IOSTAT_MAX_KEYS) {
                        /* One bucket holds more keys than fit: retry it with room. */
                        chunk *= 4;
                        free(keys);
                        free(vals);
                        keys = NULL;
                        vals = NULL;
                        continue;
                }
                if (r < 0 && r != -ENOENT)
                        return r;
                int k = snapshot_append(s, &cap, keys, vals, count, io->ncpus);
                if (k < 0)
                        return k;
                if (r == -ENOENT)
                        break; /* that was the last batch */
                first = false;
        }
        s->lost_keys = overflow_read(io, IOSTAT_OVERFLOW_KEYS);
        s->lost_ts = overflow_read(io, IOSTAT_OVERFLOW_TS);
        s->unstamped = overflow_read(io, IOSTAT_OVERFLOW_UNSTAMPED);
        s->issue_hook = io->fds[PIN_LINK_ISSUE] >= 0;
        if (!s->issue_hook)
                snprintf(s->issue_hook_error, sizeof(s->issue_hook_error), "%s", io->hook_error);
        s->time_ns = clock_now_nsec(CLOCK_MONOTONIC);
        *ret = TAKE_PTR(s);
        return 0;
}

struct iostat_snapshot *iostat_snapshot_free(struct iostat_snapshot *s)
{
        if (s) {
                free(s->entries);
                free(s);
        }
        return NULL;
}

/* Add the per-CPU slots of a removed cgroup's key into the REMOVED key of the same device and
 * op, then delete it. Only loaders (under the pin lock) write REMOVED keys; the programs never
 * produce that id, so the read-modify-write cannot lose kernel increments. */
static int key_fold_removed(struct iostat *io, const struct iostat_key *dead,
                            struct iostat_value *dslots, struct iostat_value *rslots)
{
        struct iostat_key rkey = *dead;
        int fd = io->fds[PIN_MAP_STATS], r;

        rkey.cgroup_id = IOSTAT_CGROUP_REMOVED;
        r = bpf_map_lookup_elem(fd, dead, dslots);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        r = bpf_map_lookup_elem(fd, &rkey, rslots);
        if (r == -ENOENT)
                memset(rslots, 0, io->ncpus * sizeof(*rslots));
        else if (r < 0)
                return r;
        for (int c = 0; c < io->ncpus; c++) {
                struct iostat_value *d = &dslots[c], *a = &rslots[c];

                a->bytes += d->bytes;
                a->ios += d->ios;
                a->requeued += d->requeued;
                a->lat_sum_ns += d->lat_sum_ns;
                a->unstamped += d->unstamped;
                a->untimed += d->untimed;
                for (unsigned i = 0; i < IOSTAT_HIST_SLOTS; i++)
                        a->hist[i] += d->hist[i];
        }
        r = bpf_map_update_elem(fd, &rkey, rslots, BPF_ANY);
        if (r < 0)
                return r;
        r = bpf_map_delete_elem(fd, dead);
        return r == -ENOENT ? 0 : r;
}

int iostat_prune(struct iostat *io, const char *cgroup_root)
{
        _cleanup_free_ struct iostat_value *dslots = calloc(io->ncpus, sizeof(*dslots));
        _cleanup_free_ struct iostat_value *rslots = calloc(io->ncpus, sizeof(*rslots));
        _cleanup_free_ struct iostat_key *dead = NULL;
        _cleanup_close_ int dfd = -EBADF;
        struct iostat_key key, next;
        size_t n_dead = 0, cap = 0;
        bool first = true;
        int r, removed = 0;

        if (!dslots || !rslots)
                return -ENOMEM;
        /* Only -ESTALE from a working root means "gone": check the root itself first. */
        {
                _cleanup_free_ char *rootpath = NULL;
                uint64_t root_id;

                r = iostat_cgroup_id(cgroup_root, &root_id);
                if (r >= 0)
                        r = iostat_cgroup_path(cgroup_root, root_id, &rootpath);
                if (r < 0)
                        return r; /* e.g. -EPERM without CAP_DAC_READ_SEARCH */
        }
        dfd = open(io->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || flock(dfd, LOCK_EX) < 0)
                return negative_errno();

        /* Collect first: deleting while walking with get_next_key restarts the walk. */
        for (;;) {
                _cleanup_free_ char *path = NULL;

                r = bpf_map_get_next_key(io->fds[PIN_MAP_STATS], first ? NULL : &key, &next);
                if (r == -ENOENT)
                        break;
                if (r < 0)
                        return r;
                first = false;
                key = next;
                if (key.cgroup_id == 0 || key.cgroup_id == IOSTAT_CGROUP_REMOVED)
                        continue;
                r = iostat_cgroup_path(cgroup_root, key.cgroup_id, &path);
                if (r != -ESTALE) {
                        if (r < 0) /* alive as far as we can tell: keep it */
                                log_debug("iostat: cgroup %llu in %s: %s",
                                          (unsigned long long)key.cgroup_id, cgroup_root,
                                          strerror(-r));
                        continue;
                }
                if (!ARRAY_GROW(dead, cap, n_dead + 1))
                        return -ENOMEM;
                dead[n_dead++] = key;
        }
        for (size_t i = 0; i < n_dead; i++) {
                r = key_fold_removed(io, &dead[i], dslots, rslots);
                if (r < 0)
                        return r;
                removed++;
        }
        return removed;
}

int iostat_prog_stats_enable(void)
{
        int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

        return fd < 0 ? (fd == -EACCES ? -EPERM : fd) : fd;
}

int iostat_prog_stats_read(struct iostat *io, struct iostat_prog_stats ret[IOSTAT_PROG_MAX])
{
        static const unsigned pins[IOSTAT_PROG_MAX] = {
                [IOSTAT_PROG_ISSUE] = PIN_LINK_ISSUE,
                [IOSTAT_PROG_COMPLETE] = PIN_LINK_COMPLETE,
                [IOSTAT_PROG_REQUEUE] = PIN_LINK_REQUEUE,
        };
        struct iostat_prog_stats out[IOSTAT_PROG_MAX] = {};

        for (unsigned i = 0; i < IOSTAT_PROG_MAX; i++) {
                struct bpf_link_info link = {};
                struct bpf_prog_info prog = {};
                __u32 len = sizeof(link);
                _cleanup_close_ int pfd = -EBADF;
                int r;

                if (io->fds[pins[i]] < 0)
                        continue; /* the issue program is not attached */
                r = bpf_obj_get_info_by_fd(io->fds[pins[i]], &link, &len);
                if (r < 0)
                        return r;
                pfd = bpf_prog_get_fd_by_id(link.prog_id);
                if (pfd < 0)
                        return pfd;
                len = sizeof(prog);
                r = bpf_obj_get_info_by_fd(pfd, &prog, &len);
                if (r < 0)
                        return r;
                out[i].attached = true;
                out[i].run_cnt = prog.run_cnt;
                out[i].run_time_ns = prog.run_time_ns;
                out[i].misses = prog.recursion_misses;
        }
        memcpy(ret, out, sizeof(out));
        return 0;
}

int iostat_device_in_flight(dev_t dev, uint64_t *ret)
{
        char path[64];
        unsigned long long rd, wr;
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/inflight", major(dev), minor(dev));
        f = fopen(path, "re");
        if (!f)
                return negative_errno();
        if (fscanf(f, "%llu %llu", &rd, &wr) != 2)
                return -EIO;
        *ret = rd + wr;
        return 0;
}

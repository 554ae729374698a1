/* SPDX-License-Identifier: Apache-2.0 */
/* Job orchestration: open and vet the target, run each pass on job threads, merge results. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"
#include "io/engine.h"
#include "io/target.h"
#include "io/worker.h"

static bool job_writes(const struct io_job *job)
{
        return job->verify || (!job->verify_only && io_rw_writes(job->rw));
}

/* Open the target with the access the job needs. Writes to a block device need the explicit
 * allowance and an unused device; O_EXCL then keeps anyone from mounting it while we write. */
static int target_open(const struct io_job *job, int *ret_fd, bool *ret_owned, char **ret_error)
{
        bool writes = job_writes(job);
        const char *name = job->filename ? job->filename : "(fd)";
        struct stat st;
        int flags, fd;

        if (job->fd >= 0) {
                if (fstat(job->fd, &st) < 0)
                        return error_set(ret_error, negative_errno(), "%s: %s", name,
                                         strerror(errno));
        } else if (stat(job->filename, &st) < 0) {
                int r = negative_errno();
                if (r != -ENOENT || !writes)
                        return error_set(ret_error, r, "--filename: %s: %s", job->filename,
                                         strerror(-r));
                st.st_mode = S_IFREG;
        }
        if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
                return error_set(ret_error, -EINVAL,
                                 "--filename: %s is neither a regular file nor a block device",
                                 name);
        if (S_ISBLK(st.st_mode) && writes) {
                int r;
                if (!job->allow_write_device)
                        return error_set(ret_error, -EPERM,
                                         "refusing to write to block device %s: pass "
                                         "--allow-write-device if its data may be destroyed",
                                         name);
                r = io_blockdev_check_unused(st.st_rdev, ret_error);
                if (r < 0)
                        return error_wrap(ret_error, r, "refusing to write to block device %s",
                                          name);
        }
        if (job->fd >= 0) {
                *ret_fd = job->fd;
                *ret_owned = false;
                return 0;
        }

        flags = (writes ? O_RDWR : O_RDONLY) | O_CLOEXEC;
        if (S_ISREG(st.st_mode) && writes)
                flags |= O_CREAT;
        if (S_ISBLK(st.st_mode) && writes)
                flags |= O_EXCL;
        if (job->direct == 1 || (job->direct < 0 && S_ISBLK(st.st_mode)))
                flags |= O_DIRECT;
        /* A device we just closed may still be claimed for a moment (the kernel drops the
         * exclusive claim when the last reference goes, which a ring being torn down can hold
         * briefly); the unused check above passed, so retry for up to a second. */
        /* No atime check per read: a direct read calls file_accessed() at every submission
         * (touch_atime(), ~60 ns per 4 KiB read at QD 1 here); fio opens its files the same
         * way. The kernel allows O_NOATIME only to the file's owner or CAP_FOWNER: without
         * it, open as before. */
        flags |= O_NOATIME;
        for (int attempt = 0;; attempt++) {
                fd = open(job->filename, flags, 0644);
                if (fd < 0 && errno == EPERM && (flags & O_NOATIME)) {
                        flags &= ~O_NOATIME;
                        continue;
                }
                if (fd >= 0 || errno != EBUSY || !(flags & O_EXCL) || attempt >= 50)
                        break;
                (void)usleep(20000);
        }
        if (fd < 0) {
                int r = negative_errno();
                if (r == -EINVAL && (flags & O_DIRECT))
                        return error_set(ret_error, r,
                                         "--direct: %s does not support O_DIRECT (use --direct 0)",
                                         job->filename);
                if (r == -EBUSY)
                        return error_set(ret_error, r,
                                         "refusing to write to block device %s: it is in use "
                                         "(exclusive open failed)",
                                         job->filename);
                return error_set(ret_error, r, "--filename: cannot open %s: %s", job->filename,
                                 strerror(-r));
        }
        *ret_fd = fd;
        *ret_owned = true;
        return 0;
}

static void merge_worker(struct io_result *res, const struct io_worker *w)
{
        res->read.ios += w->read.ios;
        res->read.bytes += w->read.bytes;
        io_hist_merge(&res->read.lat, &w->read.lat);
        res->write.ios += w->write.ios;
        res->write.bytes += w->write.bytes;
        io_hist_merge(&res->write.lat, &w->write.lat);
        res->cpu_user_sec += w->cpu_user_sec;
        res->cpu_sys_sec += w->cpu_sys_sec;
        res->retries.eagain += w->retries.eagain;
        res->retries.eintr += w->retries.eintr;
        res->retries.ecanceled += w->retries.ecanceled;
        res->retries.short_io += w->retries.short_io;

        if (w->verify.blocks_checked) {
                struct io_verify_report *v = &res->verify;
                if (w->verify.blocks_bad &&
                    (v->blocks_bad == 0 || w->verify.first_bad_offset < v->first_bad_offset)) {
                        v->first_bad_offset = w->verify.first_bad_offset;
                        v->first_status = w->verify.first_status;
                        v->first_detail = w->verify.first_detail;
                }
                v->blocks_checked += w->verify.blocks_checked;
                v->blocks_bad += w->verify.blocks_bad;
        }
        if (w->io_error && !res->io_error) {
                res->io_error = w->io_error;
                res->io_error_offset = w->io_error_offset;
                res->io_error_short = w->io_error_short;
        }
}

/* Run one pass on job->numjobs threads; returns its wall time in *ret_ns. */
static int pass_run(struct io_pass *pass, struct io_result *res, uint64_t *ret_ns,
                    char **ret_error)
{
        const struct io_job *job = pass->job;
        unsigned n = job->numjobs;
        _cleanup_free_ struct io_worker *ws = NULL;
        _cleanup_free_ pthread_t *tids = NULL;
        unsigned started = 0;
        uint64_t first = UINT64_MAX, last = 0;
        int r = 0;

        ws = calloc(n, sizeof(*ws));
        tids = calloc(n, sizeof(*tids));
        if (!ws || !tids)
                return error_set(ret_error, -ENOMEM, "out of memory");
        r = pthread_barrier_init(&pass->barrier, NULL, n);
        if (r)
                return error_set(ret_error, -r, "pthread_barrier_init: %s", strerror(r));
        atomic_init(&pass->abort, false);

        for (unsigned i = 0; i < n; i++) {
                ws[i].pass = pass;
                ws[i].index = i;
                r = pthread_create(&tids[i], NULL, io_worker_main, &ws[i]);
                if (r)
                        break;
                started++;
        }
        if (started < n) {
                /* The barrier counts n threads: the missing ones can never arrive, so the
                 * started ones would wait forever. Stand in for them after flagging abort. */
                atomic_store(&pass->abort, true);
                for (unsigned i = started; i < n; i++)
                        pthread_barrier_wait(&pass->barrier);
        }
        for (unsigned i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        pthread_barrier_destroy(&pass->barrier);
        if (started < n)
                return error_set(ret_error, -r, "starting job thread %u: %s", started, strerror(r));

        r = 0;
        for (unsigned i = 0; i < n; i++) {
                if (ws[i].setup_error && r == 0)
                        r = error_set(ret_error, ws[i].setup_error, "job %u: %s", i,
                                      ws[i].error ?: strerror(-ws[i].setup_error));
                free(ws[i].error);
        }
        if (r < 0)
                return r;

        for (unsigned i = 0; i < n; i++) {
                merge_worker(res, &ws[i]);
                first = MIN(first, ws[i].start_ns);
                last = MAX(last, ws[i].end_ns);
        }
        res->ring_flags = ws[0].ring_flags;
        *ret_ns = last > first ? last - first : 0;
        return 0;
}

/* The first pass of `job` on the open target: its region (checked against the target's size
 * and logical block size), block count, I/Os per job and mode. */
static int pass_plan(const struct io_job *job, int fd, const struct io_target_info *info,
                     bool direct, struct io_pass *pass, char **ret_error)
{
        uint64_t region_size;

        if (job->size)
                region_size = job->size;
        else if (info->size > job->offset)
                region_size = info->size - job->offset;
        else
                return error_set(ret_error, -EINVAL,
                                 "--size: needed: %s has no data past --offset %" PRIu64,
                                 strempty(job->filename), job->offset);
        /* Reading past the end gives short reads; a device cannot grow. Files being written
         * grow as needed. */
        if ((info->is_blockdev || !job_writes(job)) && job->offset + region_size > info->size)
                return error_set(ret_error, -EINVAL,
                                 "--size: offset %" PRIu64 " + size %" PRIu64
                                 " goes past the end of %s (%" PRIu64 " bytes)",
                                 job->offset, region_size, strempty(job->filename), info->size);
        if (direct && (job->bs % info->logical_bs || job->offset % info->logical_bs))
                return error_set(ret_error, -EINVAL,
                                 "--bs: O_DIRECT on %s needs --bs and --offset in multiples "
                                 "of its %" PRIu32 "-byte logical blocks (bs %" PRIu32
                                 ", offset %" PRIu64 ")",
                                 strempty(job->filename), info->logical_bs, job->bs, job->offset);
        if (job->hipri && !direct)
                return error_set(ret_error, -EINVAL, "--hipri: polled I/O needs --direct 1");

        *pass = (struct io_pass){
                .job = job,
                .fd = fd,
                .region_offset = job->offset,
                .nblocks = region_size / job->bs,
                .runtime_ns = job->runtime_ns,
        };
        if (pass->nblocks == 0)
                return error_set(ret_error, -EINVAL,
                                 "--size: %" PRIu64 " holds no block of --bs %" PRIu32, region_size,
                                 job->bs);
        if (job->io_size) {
                pass->ios_per_job = job->io_size / job->bs;
                if (pass->ios_per_job == 0)
                        return error_set(ret_error, -EINVAL,
                                         "--io_size: %" PRIu64 " is smaller than --bs %" PRIu32,
                                         job->io_size, job->bs);
        } else if (!job->runtime_ns)
                pass->ios_per_job = pass->nblocks;
        if (job->verify_only) {
                pass->rw = io_rw_is_random(job->rw) ? IO_RW_RANDREAD : IO_RW_READ;
                pass->check = true;
        } else {
                pass->rw = job->rw;
                pass->stamp = job->verify;
        }
        return 0;
}

int io_job_run(const struct io_job *job, struct io_result **ret, char **ret_error)
{
        _cleanup_free_ struct io_result *res = NULL;
        _cleanup_close_ int owned_fd = -EBADF;
        struct io_target_info info;
        struct io_pass pass;
        uint64_t ns;
        bool owned = false;
        int fd = -EBADF, r, fl;

        r = io_job_validate(job, ret_error);
        if (r < 0)
                return r;
        r = target_open(job, &fd, &owned, ret_error);
        if (r < 0)
                return r;
        if (owned)
                owned_fd = fd;
        r = io_target_stat(fd, &info);
        if (r < 0)
                return error_set(ret_error, r, "--filename: %s: %s", strempty(job->filename),
                                 strerror(-r));

        res = calloc(1, sizeof(*res));
        if (!res)
                return error_set(ret_error, -ENOMEM, "out of memory");
        io_hist_init(&res->read.lat);
        io_hist_init(&res->write.lat);
        fl = fcntl(fd, F_GETFL);
        res->direct = fl >= 0 && (fl & O_DIRECT);
        res->is_blockdev = info.is_blockdev;

        r = pass_plan(job, fd, &info, res->direct, &pass, ret_error);
        if (r < 0)
                return r;
        res->region_offset = job->offset;
        res->region_size = pass.nblocks * job->bs;
        r = pass_run(&pass, res, &ns, ret_error);
        if (r < 0)
                return r;
        res->elapsed_ns = ns;

        res->verified = job->verify_only;
        if (job->verify && !res->io_error && !(job->cancel && atomic_load(job->cancel))) {
                /* Read back from the device, not the page cache: flush what buffered writes
                 * left there and drop it. */
                if (!res->direct) {
                        if (fdatasync(fd) < 0)
                                return error_set(ret_error, negative_errno(), "fdatasync %s: %s",
                                                 strempty(job->filename), strerror(errno));
                        (void)posix_fadvise(fd, (off_t)job->offset, (off_t)res->region_size,
                                            POSIX_FADV_DONTNEED);
                }
                res->write_pass_ns = ns;
                pass.rw = IO_RW_READ;
                pass.stamp = false;
                pass.check = true;
                r = pass_run(&pass, res, &ns, ret_error);
                if (r < 0)
                        return r;
                res->elapsed_ns += ns;
                res->verified = true;
        }
        res->cancelled = job->cancel && atomic_load(job->cancel);
        log_debug("io job on %s done: %" PRIu64 " reads, %" PRIu64 " writes in %" PRIu64 " ns",
                  strempty(job->filename), res->read.ios, res->write.ios, res->elapsed_ns);
        *ret = TAKE_PTR(res);
        return 0;
}

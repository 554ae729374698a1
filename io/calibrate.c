/* SPDX-License-Identifier: Apache-2.0 */
/* Calibration runs built on the engine: choose targets, order writes before reads, record method. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"
#include "io/calibrate.h"
#include "io/engine.h"
#include "io/target.h"

struct calib_target {
        const char *name;       /* for reports */
        const char *filename;   /* opened by the engine, or NULL when fd is used */
        int fd;
        uint64_t size;
        bool scratch;
        bool allow_write_device;
};

/* One time-bounded run of `rw` at (bs, qd) on the target; fills the figure. */
static int figure_run(const struct calib_target *t, enum io_rw rw, uint32_t bs, uint32_t qd,
                      uint64_t size, double seconds, bool want_iops,
                      struct io_calibration_figure *fig, uint64_t *ret_bytes, char **ret_error)
{
        _cleanup_free_ struct io_result *res = NULL;
        const struct io_dir_stats *d;
        struct io_job job;
        double s;
        int r;

        io_job_init(&job);
        job.filename = t->filename;
        job.fd = t->filename ? -EBADF : t->fd;
        job.rw = rw;
        job.bs = bs;
        job.iodepth = qd;
        job.size = size - size % bs;
        /* The run stops issuing at 90% of the bound; the rest is for draining what is in
         * flight (32 x 1 MiB takes a while on a slow disk) so the figure stays in its bound. */
        job.runtime_ns = (uint64_t)(seconds * 0.9e9);
        job.allow_write_device = t->allow_write_device;
        if (job.size < bs)
                return error_set(ret_error, -EINVAL,
                                 "calibrating %s: only %" PRIu64 " bytes to use, less than one "
                                 "%" PRIu32 "-byte block",
                                 t->name, size, bs);

        r = io_job_run(&job, &res, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r,
                                  "calibrating %s (%s, bs %" PRIu32 ", QD %" PRIu32 ")", t->name,
                                  io_rw_to_string(rw), bs, qd);
        if (res->io_error)
                return error_set(ret_error, res->io_error,
                                 "calibrating %s (%s): I/O failed at offset %" PRIu64 ": %s",
                                 t->name, io_rw_to_string(rw), res->io_error_offset,
                                 res->io_error_short ? "short transfer" : strerror(-res->io_error));
        d = io_rw_writes(rw) ? &res->write : &res->read;
        s = (double)res->elapsed_ns / 1e9;
        if (s <= 0 || d->ios == 0)
                return error_set(ret_error, -EIO, "calibrating %s (%s): no I/O completed", t->name,
                                 io_rw_to_string(rw));

        *fig = (struct io_calibration_figure){
                .measured = true,
                .value = want_iops ? (double)d->ios / s : (double)d->bytes / s,
                .scratch_file = t->scratch,
                .bs = bs,
                .iodepth = qd,
                .seconds = s,
                .direct = res->direct,
                .p99_us = (double)io_hist_percentile(&d->lat, 99.0) / 1e3,
        };
        snprintf(fig->method, sizeof(fig->method), "%s",
                 rw == IO_RW_READ ? "seqread" : rw == IO_RW_WRITE ? "seqwrite" : io_rw_to_string(rw));
        snprintf(fig->target, sizeof(fig->target), "%s", t->name);
        if (ret_bytes)
                *ret_bytes = d->bytes;
        return 0;
}

/* An unlinked scratch file in dir: O_TMPFILE where the filesystem has it, so nothing is left
 * behind even if we crash; O_DIRECT when the filesystem takes it. */
static int scratch_open(const char *dir, bool *ret_direct)
{
        static const int extra[] = { O_DIRECT, 0 };

        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | extra[i], 0600);
                if (fd >= 0) {
                        *ret_direct = extra[i] != 0;
                        return fd;
                }
                if (errno != EINVAL && errno != EOPNOTSUPP && errno != EISDIR)
                        return negative_errno();
        }
        for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
                _cleanup_free_ char *p = NULL;
                int fd;
                if (asprintf(&p, "%s/.silo-calibrate-XXXXXX", dir) < 0)
                        return -ENOMEM;
                fd = mkostemp(p, O_CLOEXEC | extra[i]);
                if (fd < 0) {
                        if (errno == EINVAL)
                                continue;
                        return negative_errno();
                }
                (void)unlink(p);
                *ret_direct = extra[i] != 0;
                return fd;
        }
        return -EOPNOTSUPP;
}

/* The disk's device node as a target: reads, and writes when o->allow_write names the device
 * itself (is_blockdev). *ret_device_size is the whole device's size. */
static int dev_target_open(const struct io_calibrate_opts *o, const char *devpath, bool is_blockdev,
                           struct calib_target *ret, uint64_t *ret_device_size, char **ret_error)
{
        _cleanup_close_ int fd = open(devpath, O_RDONLY | O_CLOEXEC);
        struct io_target_info info;
        int r;

        if (fd < 0)
                return error_set(ret_error, negative_errno(), "calibration: cannot open %s: %s",
                                 devpath, strerror(errno));
        r = io_target_stat(fd, &info);
        if (r < 0)
                return error_set(ret_error, r, "calibration: %s: %s", devpath, strerror(-r));
        *ret = (struct calib_target){
                .name = devpath,
                .filename = devpath,
                .fd = -EBADF,
                .size = o->region_size ? MIN(o->region_size, info.size) : info.size,
                .allow_write_device = is_blockdev && o->allow_write,
        };
        *ret_device_size = info.size;
        return 0;
}

/* A scratch file in the directory o->path as the target; returns its fd (the caller closes
 * it). Its blocks are reserved, so the timed writes measure writing, not allocation. */
static int scratch_target_open(const struct io_calibrate_opts *o, struct calib_target *ret,
                               char **ret_error)
{
        uint64_t size = o->scratch_size ? o->scratch_size : IO_CALIBRATE_DEFAULT_SCRATCH;
        bool direct;
        int fd = scratch_open(o->path, &direct), r;

        if (fd < 0)
                return error_set(ret_error, fd,
                                 "calibration: cannot create a scratch file in %s: %s", o->path,
                                 strerror(-fd));
        if (posix_fallocate(fd, 0, (off_t)size) != 0 && ftruncate(fd, (off_t)size) < 0) {
                r = error_set(ret_error, negative_errno(),
                              "calibration: cannot size the scratch file in %s to %" PRIu64
                              " bytes: %s",
                              o->path, size, strerror(errno));
                safe_close(fd);
                return r;
        }
        *ret = (struct calib_target){ .name = o->path, .fd = fd, .size = size, .scratch = true };
        return fd;
}

int io_calibrate_disk(const struct io_calibrate_opts *o, struct io_calibration *ret,
                      char **ret_error)
{
        _cleanup_free_ char *devpath = NULL;
        _cleanup_close_ int scratch_fd = -EBADF;
        struct io_calibration c = {};
        struct calib_target dev = { .fd = -EBADF }, scr = { .fd = -EBADF };
        const struct calib_target *rt;
        double secs = o->seconds > 0 ? o->seconds : IO_CALIBRATE_DEFAULT_SECONDS;
        uint64_t read_size, written = 0;
        bool have_dev = false, reads_unwritten = true;
        struct stat st;
        int r = 0;

        if (!o->path)
                return error_set(ret_error, -EINVAL, "calibration: no disk path given");
        if (stat(o->path, &st) < 0)
                return error_set(ret_error, negative_errno(), "calibration: %s: %s", o->path,
                                 strerror(errno));
        snprintf(c.path, sizeof(c.path), "%s", o->path);

        if (S_ISBLK(st.st_mode)) {
                devpath = strdup(o->path);
                if (!devpath)
                        return -ENOMEM;
                snprintf(c.device, sizeof(c.device), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
        } else if (S_ISDIR(st.st_mode)) {
                /* The filesystem's device, when it has one (tmpfs or overlay do not). */
                if (major(st.st_dev) != 0 && io_blockdev_path(st.st_dev, &devpath) >= 0)
                        snprintf(c.device, sizeof(c.device), "%u:%u", major(st.st_dev),
                                 minor(st.st_dev));
        } else
                return error_set(ret_error, -EINVAL,
                                 "calibration: %s is neither a block device nor a directory",
                                 o->path);

        if (devpath) {
                /* A directory calibrated through a scratch file does not need its device. */
                bool optional = S_ISDIR(st.st_mode) && o->allow_write;

                r = dev_target_open(o, devpath, S_ISBLK(st.st_mode), &dev, &c.device_size,
                                    optional ? NULL : ret_error);
                if (r < 0 && !optional)
                        return r;
                have_dev = r >= 0;
        }

        if (S_ISDIR(st.st_mode) && o->allow_write) {
                r = scratch_target_open(o, &scr, ret_error);
                if (r < 0)
                        return r;
                scratch_fd = r;
        } else if (!have_dev)
                return error_set(ret_error, -ENOTBLK,
                                 "calibration: %s is on no block device; pass a device, or "
                                 "allow writes to measure with a scratch file there",
                                 o->path);

        /* Writes first, so the reads afterwards read real data. */
        if (o->allow_write) {
                const struct calib_target *wt = scratch_fd >= 0 ? &scr : &dev;
                r = figure_run(wt, IO_RW_WRITE, 1U << 20, 32, wt->size, secs, false, &c.write_bps,
                               &written, ret_error);
                if (r < 0)
                        return r;
                r = figure_run(wt, IO_RW_RANDWRITE, 4096, 64, MIN(wt->size, MAX(written, 1U << 20)),
                               secs, true, &c.write_iops, NULL, ret_error);
                if (r < 0)
                        return r;
                rt = wt;
                read_size = MIN(wt->size, written);
                reads_unwritten = false;
                if (wt->scratch && !c.write_bps.direct)
                        (void)fdatasync(wt->fd), (void)posix_fadvise(wt->fd, 0, 0, POSIX_FADV_DONTNEED);
        } else {
                rt = &dev;
                read_size = dev.size;
        }

        r = figure_run(rt, IO_RW_READ, 1U << 20, 32, read_size, secs, false, &c.read_bps, NULL,
                       ret_error);
        if (r < 0)
                return r;
        r = figure_run(rt, IO_RW_RANDREAD, 4096, 64, read_size, secs, true, &c.read_iops, NULL,
                       ret_error);
        if (r < 0)
                return r;
        c.read_bps.unwritten_data = reads_unwritten;
        c.read_iops.unwritten_data = reads_unwritten;

        log_debug("calibrated %s: read %.0f B/s, %.0f IOPS", o->path, c.read_bps.value,
                  c.read_iops.value);
        *ret = c;
        return 0;
}

static json_t *figure_json(const struct io_calibration_figure *f)
{
        if (!f->measured)
                return json_pack("{s:b}", "measured", 0);
        return json_pack("{s:b, s:f, s:s, s:s, s:b, s:I, s:I, s:f, s:b, s:f, s:b}",
                         "measured", 1,
                         "value", f->value,
                         "method", f->method,
                         "target", f->target,
                         "scratch_file", f->scratch_file,
                         "bs", (json_int_t)f->bs,
                         "iodepth", (json_int_t)f->iodepth,
                         "seconds", f->seconds,
                         "direct", f->direct,
                         "p99_us", f->p99_us,
                         "unwritten_data", f->unwritten_data);
}

json_t *io_calibration_to_json(const struct io_calibration *c)
{
        return json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o}",
                         "path", c->path,
                         "device", c->device,
                         "size", (json_int_t)c->device_size,
                         "read_bps", figure_json(&c->read_bps),
                         "read_iops", figure_json(&c->read_iops),
                         "write_bps", figure_json(&c->write_bps),
                         "write_iops", figure_json(&c->write_iops));
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Result reporting: rates from counters, percentiles from histograms, JSON and text layouts. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "io/report.h"
#include "io/ring.h"

static double secs(const struct io_result *res)
{
        return res->elapsed_ns ? (double)res->elapsed_ns / 1e9 : 0.0;
}

/* A --verify run has a write pass then a read pass: rate each direction over its own pass. */
static double dir_secs(const struct io_result *res, bool write)
{
        if (!res->write_pass_ns)
                return secs(res);
        return (double)(write ? res->write_pass_ns : res->elapsed_ns - res->write_pass_ns) / 1e9;
}

static json_t *lat_json(const struct io_hist *h)
{
        return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}",
                         "min", h->count ? (double)h->min / 1e3 : 0.0,
                         "mean", io_hist_mean(h) / 1e3,
                         "p50", (double)io_hist_percentile(h, 50.0) / 1e3,
                         "p99", (double)io_hist_percentile(h, 99.0) / 1e3,
                         "p99.9", (double)io_hist_percentile(h, 99.9) / 1e3,
                         "max", (double)h->max / 1e3);
}

static json_t *dir_json(const struct io_dir_stats *d, double s)
{
        return json_pack("{s:I, s:I, s:f, s:f, s:o}",
                         "ios", (json_int_t)d->ios,
                         "bytes", (json_int_t)d->bytes,
                         "iops", s > 0 ? (double)d->ios / s : 0.0,
                         "bw_bytes", s > 0 ? (double)d->bytes / s : 0.0,
                         "lat_us", lat_json(&d->lat));
}

int io_verify_describe(const struct io_verify_report *v, char **ret)
{
        char *s;
        int n;

        if (v->blocks_bad == 0)
                n = asprintf(&s, "all %" PRIu64 " blocks ok", v->blocks_checked);
        else
                switch (v->first_status) {
                case IO_VERIFY_BAD_CHECKSUM:
                case IO_VERIFY_BAD_MAGIC:
                        n = asprintf(&s, "offset %" PRIu64 ": %s (expected 0x%" PRIx64
                                     ", found 0x%" PRIx64 ")", v->first_bad_offset,
                                     io_verify_status_to_string(v->first_status),
                                     v->first_detail.expected, v->first_detail.found);
                        break;
                default:
                        n = asprintf(&s, "offset %" PRIu64 ": %s (expected %" PRIu64
                                     ", found %" PRIu64 ")", v->first_bad_offset,
                                     io_verify_status_to_string(v->first_status),
                                     v->first_detail.expected, v->first_detail.found);
                }
        if (n < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

json_t *io_result_to_json(const struct io_job *job, const struct io_result *res)
{
        double s = secs(res);
        char flags[128];
        struct io_hist all;
        json_t *root;
        uint64_t ios = res->read.ios + res->write.ios, bytes = res->read.bytes + res->write.bytes;

        io_hist_init(&all);
        io_hist_merge(&all, &res->read.lat);
        io_hist_merge(&all, &res->write.lat);

        root = json_pack("{s:{s:s?, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:s},"
                         " s:f, s:o, s:o, s:{s:I, s:I, s:f, s:f}, s:o, s:{s:f, s:f}}",
                         "job",
                         "filename", job->filename,
                         "rw", io_rw_to_string(job->rw),
                         "bs", (json_int_t)job->bs,
                         "iodepth", (json_int_t)job->iodepth,
                         "numjobs", (json_int_t)job->numjobs,
                         "offset", (json_int_t)res->region_offset,
                         "size", (json_int_t)res->region_size,
                         "direct", res->direct,
                         "blockdev", res->is_blockdev,
                         "ring_flags", io_ring_flags_to_string(res->ring_flags, flags, sizeof(flags)),
                         "elapsed_sec", s,
                         "read", dir_json(&res->read, dir_secs(res, false)),
                         "write", dir_json(&res->write, dir_secs(res, true)),
                         "total",
                         "ios", (json_int_t)ios,
                         "bytes", (json_int_t)bytes,
                         "iops", s > 0 ? (double)ios / s : 0.0,
                         "bw_bytes", s > 0 ? (double)bytes / s : 0.0,
                         "lat_us", lat_json(&all),
                         "cpu",
                         "user_sec", res->cpu_user_sec,
                         "sys_sec", res->cpu_sys_sec);
        if (!root)
                return NULL;
        /* Always present (zeros included): scripts check that a throttled run resubmitted
         * instead of failing. */
        const struct io_retry_stats *rt = &res->retries;
        if (json_object_set_new(root, "retries",
                                json_pack("{s:I, s:I, s:I, s:I, s:I}",
                                          "total", (json_int_t)io_retry_stats_total(rt),
                                          "eagain", (json_int_t)rt->eagain,
                                          "eintr", (json_int_t)rt->eintr,
                                          "ecanceled", (json_int_t)rt->ecanceled,
                                          "short", (json_int_t)rt->short_io)) < 0) {
                json_decref(root);
                return NULL;
        }
        if (res->cancelled && json_object_set_new(root, "cancelled", json_true()) < 0) {
                json_decref(root);
                return NULL;
        }
        if (res->verified) {
                const struct io_verify_report *v = &res->verify;
                json_t *vj = json_pack("{s:I, s:I, s:b}",
                                       "blocks_checked", (json_int_t)v->blocks_checked,
                                       "blocks_bad", (json_int_t)v->blocks_bad,
                                       "ok", v->blocks_bad == 0);
                if (vj && v->blocks_bad) {
                        json_object_set_new(vj, "first_bad_offset", json_integer((json_int_t)v->first_bad_offset));
                        json_object_set_new(vj, "reason", json_string(io_verify_status_to_string(v->first_status)));
                        json_object_set_new(vj, "expected", json_integer((json_int_t)v->first_detail.expected));
                        json_object_set_new(vj, "found", json_integer((json_int_t)v->first_detail.found));
                }
                if (!vj || json_object_set_new(root, "verify", vj) < 0) {
                        json_decref(root);
                        return NULL;
                }
        }
        if (res->io_error) {
                json_t *e = json_pack("{s:i, s:s}", "errno", -res->io_error, "message",
                                      res->io_error_short ? "short transfer" : strerror(-res->io_error));
                if (e && res->io_error_offset != UINT64_MAX)
                        json_object_set_new(e, "offset", json_integer((json_int_t)res->io_error_offset));
                if (!e || json_object_set_new(root, "error", e) < 0) {
                        json_decref(root);
                        return NULL;
                }
        }
        return root;
}

static void dir_format(FILE *f, const char *name, const struct io_dir_stats *d, double s)
{
        const struct io_hist *h = &d->lat;

        if (!d->ios)
                return;
        fprintf(f, "  %-5s: IOPS=%.0f, BW=%.1fMiB/s (%.1fMB/s), %" PRIu64 " ios, %" PRIu64 " bytes\n",
                name, (double)d->ios / s, (double)d->bytes / s / 1048576.0, (double)d->bytes / s / 1e6,
                d->ios, d->bytes);
        fprintf(f, "         lat (usec): min=%.1f mean=%.1f p50=%.1f p99=%.1f p99.9=%.1f max=%.1f\n",
                (double)h->min / 1e3, io_hist_mean(h) / 1e3,
                (double)io_hist_percentile(h, 50.0) / 1e3, (double)io_hist_percentile(h, 99.0) / 1e3,
                (double)io_hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
}

int io_result_format(const struct io_job *job, const struct io_result *res, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        double s = secs(res);
        char flags[128];
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "%s: rw=%s bs=%" PRIu32 " iodepth=%" PRIu32 " numjobs=%" PRIu32
                " direct=%d ring=%s\n",
                strempty(job->filename), io_rw_to_string(job->rw), job->bs, job->iodepth,
                job->numjobs, res->direct, io_ring_flags_to_string(res->ring_flags, flags, sizeof(flags)));
        fprintf(f, "  region: offset=%" PRIu64 " size=%" PRIu64 ", run %.3fs\n", res->region_offset,
                res->region_size, s);
        if (s > 0) {
                dir_format(f, "read", &res->read, dir_secs(res, false));
                dir_format(f, "write", &res->write, dir_secs(res, true));
        }
        fprintf(f, "  cpu  : usr=%.3fs sys=%.3fs\n", res->cpu_user_sec, res->cpu_sys_sec);
        if (io_retry_stats_total(&res->retries))
                fprintf(f, "  retry: %" PRIu64 " resubmitted (EAGAIN=%" PRIu64 " EINTR=%" PRIu64
                        " ECANCELED=%" PRIu64 " short=%" PRIu64 ")\n",
                        io_retry_stats_total(&res->retries), res->retries.eagain,
                        res->retries.eintr, res->retries.ecanceled, res->retries.short_io);
        if (res->cancelled)
                fprintf(f, "  cancelled: stopped early; figures cover what completed\n");
        if (res->verified) {
                _cleanup_free_ char *d = NULL;
                if (io_verify_describe(&res->verify, &d) == 0)
                        fprintf(f, "  verify: %s%s\n", res->verify.blocks_bad ? "FAILED at " : "", d);
                if (res->verify.blocks_bad)
                        fprintf(f, "  verify: %" PRIu64 " of %" PRIu64 " blocks bad\n",
                                res->verify.blocks_bad, res->verify.blocks_checked);
        }
        if (res->io_error) {
                if (res->io_error_offset != UINT64_MAX)
                        fprintf(f, "  error: I/O at offset %" PRIu64 " failed: %s\n",
                                res->io_error_offset,
                                res->io_error_short ? "short transfer" : strerror(-res->io_error));
                else
                        fprintf(f, "  error: io_uring_enter failed: %s\n", strerror(-res->io_error));
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

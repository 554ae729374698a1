/* SPDX-License-Identifier: Apache-2.0 */
/* Disk figures: config overrides, the calibration cache, and background calibration runs. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/calibration.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "io/calibrate.h"

enum disk_state {
        DISK_IDLE,
        DISK_QUEUED,
        DISK_DONE,
        DISK_FAILED,
};

struct calib_disk {
        char *name, *path;
        dev_t devnum;
        uint64_t size;
        const struct calibration_override *ovr;         /* NULL when none */
        /* the cache: the last measurement of this very device */
        bool cached;
        uint64_t cached_value[_CALIB_FIGURE_MAX];
        uint64_t calibrated_ms;
        json_t *measurement;
        enum disk_state state;
        char *error;
};

/* What the worker thread owns while it runs: copies, so it never touches the agent's state. */
struct calib_job {
        char *name;
        char *path;             /* device node or scratch directory */
        bool allow_write;
        double seconds;
        int r;
        char err[512];
        struct io_calibration result;
};

struct calibration {
        char *cache_path;
        double seconds;
        struct calibration_override *ovr;
        size_t n_ovr;
        struct calib_disk *disks;
        size_t n_disks;
        /* a running calibration */
        pthread_t thread;
        bool running;
        atomic_bool cancel;
        struct calib_job *jobs;
        size_t n_jobs;
        int efd;
        struct event_source *src;
        calibration_done_fn done;
        void *done_userdata;
};

static const char *const figure_names[_CALIB_FIGURE_MAX] = {
        [CALIB_READ_BPS] = "read_bps",
        [CALIB_WRITE_BPS] = "write_bps",
        [CALIB_READ_IOPS] = "read_iops",
        [CALIB_WRITE_IOPS] = "write_iops",
};

const char *calibration_figure_name(unsigned figure)
{
        return figure < _CALIB_FIGURE_MAX ? figure_names[figure] : NULL;
}

const char *calibration_source_to_string(calibration_source s)
{
        switch (s) {
        case CALIB_SOURCE_CONFIG:
                return "config";
        case CALIB_SOURCE_CALIBRATED:
                return "calibrated";
        default:
                return "unknown";
        }
}

struct calibration_override *calibration_overrides_free(struct calibration_override *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].disk);
                free(v[i].class);
                free(v[i].write_dir);
        }
        free(v);
        return NULL;
}

static struct calibration_override *override_get(struct calibration_override **v, size_t *n,
                                                 const char *disk, size_t len)
{
        struct calibration_override *nv;

        for (size_t i = 0; i < *n; i++)
                if (strlen((*v)[i].disk) == len && strncmp((*v)[i].disk, disk, len) == 0)
                        return &(*v)[i];
        nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (!nv)
                return NULL;
        *v = nv;
        nv[*n] = (struct calibration_override){ .disk = strndup(disk, len) };
        if (!nv[*n].disk)
                return NULL;
        return &nv[(*n)++];
}

static int override_error(char **ret_error, const char *key, const char *value, const char *fmt, ...)
        _printf_(4, 5);
static int override_error(char **ret_error, const char *key, const char *value, const char *fmt, ...)
{
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (asprintf(ret_error, "%s: '%s': %s", key, value, what) < 0)
                return -ENOMEM;
        return -EINVAL;
}

/* "NAME:REST" with a valid disk name; *ret_rest points into value. */
static int split_disk(const char *key, const char *value, bool rest_optional, size_t *ret_len,
                      const char **ret_rest, char **ret_error)
{
        const char *colon = strchr(value, ':');
        size_t len = colon ? (size_t)(colon - value) : strlen(value);
        char name[128];

        if (!colon && !rest_optional)
                return override_error(ret_error, key, value, "expected DISK:VALUE (nvme0n1:3200M)");
        if (len == 0 || len >= sizeof(name))
                return override_error(ret_error, key, value, "the disk name before ':' is missing");
        memcpy(name, value, len);
        name[len] = '\0';
        if (!silo_name_is_valid(name))
                return override_error(ret_error, key, value, "'%s' is not a disk name", name);
        if (colon && !colon[1])
                return override_error(ret_error, key, value, "nothing after ':'");
        *ret_len = len;
        *ret_rest = colon ? colon + 1 : NULL;
        return 0;
}

int calibration_overrides_parse(const struct calibration_options *o, struct calibration_override **ret,
                                size_t *ret_n, char **ret_error)
{
        static const char *const keys[_CALIB_FIGURE_MAX] = {
                [CALIB_READ_BPS] = "disk-read-bps",
                [CALIB_WRITE_BPS] = "disk-write-bps",
                [CALIB_READ_IOPS] = "disk-read-iops",
                [CALIB_WRITE_IOPS] = "disk-write-iops",
        };
        char **const lists[_CALIB_FIGURE_MAX] = {
                [CALIB_READ_BPS] = o->disk_read_bps,
                [CALIB_WRITE_BPS] = o->disk_write_bps,
                [CALIB_READ_IOPS] = o->disk_read_iops,
                [CALIB_WRITE_IOPS] = o->disk_write_iops,
        };
        struct calibration_override *v = NULL, *e;
        size_t n = 0, len;
        const char *rest;
        int r = 0;

        for (unsigned f = 0; f < _CALIB_FIGURE_MAX && r >= 0; f++)
                for (char **s = lists[f]; s && *s && r >= 0; s++) {
                        uint64_t q;

                        r = split_disk(keys[f], *s, false, &len, &rest, ret_error);
                        if (r < 0)
                                break;
                        r = quantity_parse(rest, &q);
                        if (r == -ERANGE)
                                r = override_error(ret_error, keys[f], *s, "'%s' is out of range", rest);
                        else if (r < 0)
                                r = override_error(ret_error, keys[f], *s, "'%s' is not a quantity", rest);
                        else if (q == 0)
                                r = override_error(ret_error, keys[f], *s, "'%s' must be positive", rest);
                        if (r < 0)
                                break;
                        e = override_get(&v, &n, *s, len);
                        if (!e)
                                r = -ENOMEM;
                        else if (e->value[f])
                                r = override_error(ret_error, keys[f], *s, "disk %s is given twice", e->disk);
                        else
                                e->value[f] = q;
                }
        for (char **s = o->disk_class; s && *s && r >= 0; s++) {
                r = split_disk("disk-class", *s, false, &len, &rest, ret_error);
                if (r < 0)
                        break;
                if (!silo_name_is_valid(rest)) {
                        r = override_error(ret_error, "disk-class", *s, "'%s' is not a class name", rest);
                        break;
                }
                e = override_get(&v, &n, *s, len);
                if (!e)
                        r = -ENOMEM;
                else if (e->class)
                        r = override_error(ret_error, "disk-class", *s, "disk %s is given twice", e->disk);
                else if (!(e->class = strdup(rest)))
                        r = -ENOMEM;
        }
        for (char **s = o->calibrate_write; s && *s && r >= 0; s++) {
                r = split_disk("calibrate-write", *s, true, &len, &rest, ret_error);
                if (r < 0)
                        break;
                if (rest && rest[0] != '/') {
                        r = override_error(ret_error, "calibrate-write", *s, "'%s' is not an absolute directory",
                                           rest);
                        break;
                }
                e = override_get(&v, &n, *s, len);
                if (!e)
                        r = -ENOMEM;
                else if (e->write)
                        r = override_error(ret_error, "calibrate-write", *s, "disk %s is given twice", e->disk);
                else {
                        e->write = true;
                        if (rest && !(e->write_dir = strdup(rest)))
                                r = -ENOMEM;
                }
        }
        if (r < 0) {
                calibration_overrides_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- the cache ---- */

static int cache_load(struct calibration *c)
{
        _cleanup_free_ char *text = NULL;
        json_t *j, *disks;
        int r;

        r = file_read_full(c->cache_path, 4u << 20, &text, NULL);
        if (r < 0)
                return r;
        j = json_loads(text, 0, NULL);
        if (!j)
                return -EBADMSG;
        disks = json_object_get(j, "disks");
        for (size_t i = 0; i < c->n_disks; i++) {
                struct calib_disk *d = &c->disks[i];
                json_t *e = json_object_get(disks, d->name);
                char dev[32];

                snprintf(dev, sizeof(dev), "%u:%u", major(d->devnum), minor(d->devnum));
                /* Another disk under the same name (replaced, re-numbered) needs measuring again. */
                if (!json_is_object(e) || !streq_ptr(json_string_value(json_object_get(e, "device")), dev) ||
                    (uint64_t)json_integer_value(json_object_get(e, "size")) != d->size)
                        continue;
                for (unsigned f = 0; f < _CALIB_FIGURE_MAX; f++)
                        d->cached_value[f] = (uint64_t)json_integer_value(json_object_get(e, figure_names[f]));
                d->calibrated_ms = (uint64_t)json_integer_value(json_object_get(e, "calibrated_ms"));
                d->measurement = json_incref(json_object_get(e, "measurement"));
                d->cached = true;
        }
        json_decref(j);
        return 0;
}

static int cache_save(const struct calibration *c)
{
        _cleanup_free_ char *text = NULL;
        json_t *j, *disks;

        disks = json_object();
        j = json_pack("{s:i, s:o}", "version", 1, "disks", disks);
        if (!j)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_disks; i++) {
                const struct calib_disk *d = &c->disks[i];
                char dev[32];
                json_t *e;

                if (!d->cached)
                        continue;
                snprintf(dev, sizeof(dev), "%u:%u", major(d->devnum), minor(d->devnum));
                e = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:O?}", "device", dev, "size",
                              (json_int_t)d->size, "calibrated_ms", (json_int_t)d->calibrated_ms, "read_bps",
                              (json_int_t)d->cached_value[CALIB_READ_BPS], "write_bps",
                              (json_int_t)d->cached_value[CALIB_WRITE_BPS], "read_iops",
                              (json_int_t)d->cached_value[CALIB_READ_IOPS], "write_iops",
                              (json_int_t)d->cached_value[CALIB_WRITE_IOPS], "measurement", d->measurement);
                if (!e || json_object_set_new(disks, d->name, e) < 0) {
                        json_decref(j);
                        return -ENOMEM;
                }
        }
        text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
        if (!text)
                return -ENOMEM;
        return file_write_atomic(c->cache_path, text, strlen(text), 0644);
}

/* ---- object ---- */

static struct calib_disk *disk_find(const struct calibration *c, const char *name)
{
        for (size_t i = 0; i < c->n_disks; i++)
                if (streq(c->disks[i].name, name))
                        return &c->disks[i];
        return NULL;
}

int calibration_new(const struct calibration_options *o, const char *cache_path,
                    const struct calibration_target *disks, size_t n_disks, struct calibration **ret,
                    char **ret_error)
{
        _cleanup_(calibration_freep) struct calibration *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->efd = -EBADF;
        c->seconds = o->calibrate_seconds;
        if (!(c->seconds > 0 && c->seconds <= 600)) {
                if (asprintf(ret_error, "calibrate-seconds: %g is not in (0, 600]", o->calibrate_seconds) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        c->cache_path = strdup(cache_path);
        c->disks = calloc(n_disks ? n_disks : 1, sizeof(*c->disks));
        if (!c->cache_path || !c->disks)
                return -ENOMEM;
        for (size_t i = 0; i < n_disks; i++) {
                struct calib_disk *d = &c->disks[c->n_disks++];

                d->name = strdup(disks[i].name);
                d->path = strdup(disks[i].path);
                d->devnum = disks[i].devnum;
                d->size = disks[i].size;
                if (!d->name || !d->path)
                        return -ENOMEM;
        }
        r = calibration_overrides_parse(o, &c->ovr, &c->n_ovr, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_ovr; i++) {
                struct calib_disk *d = disk_find(c, c->ovr[i].disk);

                if (!d) {
                        if (asprintf(ret_error, "disk %s is configured (disk-*/calibrate-write) but not offered "
                                     "with --disk", c->ovr[i].disk) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
                d->ovr = &c->ovr[i];
        }
        r = cache_load(c);
        if (r < 0 && r != -ENOENT)
                log_debug("calibration cache %s unreadable (%s): measuring again", cache_path, strerror(-r));
        *ret = TAKE_PTR(c);
        return 0;
}

static void jobs_free(struct calibration *c)
{
        for (size_t i = 0; i < c->n_jobs; i++) {
                free(c->jobs[i].name);
                free(c->jobs[i].path);
        }
        free(c->jobs);
        c->jobs = NULL;
        c->n_jobs = 0;
}

struct calibration *calibration_free(struct calibration *c)
{
        if (!c)
                return NULL;
        if (c->running) {
                /* Stops after the disk being measured; at most one figure's run time. */
                atomic_store(&c->cancel, true);
                pthread_join(c->thread, NULL);
        }
        jobs_free(c);
        if (c->src)
                event_source_remove(c->src); /* closes the eventfd */
        else
                safe_close(c->efd);
        for (size_t i = 0; i < c->n_disks; i++) {
                free(c->disks[i].name);
                free(c->disks[i].path);
                free(c->disks[i].error);
                json_decref(c->disks[i].measurement);
        }
        free(c->disks);
        calibration_overrides_free(c->ovr, c->n_ovr);
        free(c->cache_path);
        free(c);
        return NULL;
}

int calibration_get(const struct calibration *c, const char *disk, struct calibration_figures *ret)
{
        const struct calib_disk *d = disk_find(c, disk);
        struct calibration_figures f = {};

        if (!d)
                return -ENOENT;
        for (unsigned i = 0; i < _CALIB_FIGURE_MAX; i++) {
                if (d->ovr && d->ovr->value[i]) {
                        f.value[i] = d->ovr->value[i];
                        f.source[i] = CALIB_SOURCE_CONFIG;
                } else if (d->cached && d->cached_value[i]) {
                        f.value[i] = d->cached_value[i];
                        f.source[i] = CALIB_SOURCE_CALIBRATED;
                }
        }
        f.class = d->ovr ? d->ovr->class : NULL;
        f.calibrated_ms = d->cached ? d->calibrated_ms : 0;
        *ret = f;
        return 0;
}

const char *calibration_disk_source(const struct calibration_figures *f)
{
        for (unsigned i = 0; i < _CALIB_FIGURE_MAX; i++)
                if (f->source[i] == CALIB_SOURCE_CALIBRATED)
                        return "calibrated";
        for (unsigned i = 0; i < _CALIB_FIGURE_MAX; i++)
                if (f->source[i] == CALIB_SOURCE_CONFIG)
                        return "config";
        /* Nothing known yet: the figures will come from calibration. */
        return "calibrated";
}

static bool disk_fully_configured(const struct calib_disk *d)
{
        for (unsigned i = 0; i < _CALIB_FIGURE_MAX; i++)
                if (!d->ovr || !d->ovr->value[i])
                        return false;
        return true;
}

size_t calibration_missing(const struct calibration *c, const char ***ret_names)
{
        const char **v = calloc(c->n_disks + 1, sizeof(*v));
        size_t n = 0;

        for (size_t i = 0; v && i < c->n_disks; i++)
                if (!c->disks[i].cached && !disk_fully_configured(&c->disks[i]))
                        v[n++] = c->disks[i].name;
        *ret_names = v;
        return v ? n : 0;
}

bool calibration_running(const struct calibration *c)
{
        return c->running;
}

/* ---- background runs ---- */

static void *calibration_thread(void *userdata)
{
        struct calibration *c = userdata;
        uint64_t one = 1;

        for (size_t i = 0; i < c->n_jobs; i++) {
                struct calib_job *j = &c->jobs[i];
                struct io_calibrate_opts o = {
                        .path = j->path, .seconds = j->seconds, .allow_write = j->allow_write,
                        .errbuf = j->err, .errlen = sizeof(j->err),
                };

                if (atomic_load(&c->cancel)) {
                        j->r = -ECANCELED;
                        continue;
                }
                j->r = io_calibrate_disk(&o, &j->result);
                if (j->r < 0 && !j->err[0])
                        snprintf(j->err, sizeof(j->err), "%s", strerror(-j->r));
        }
        (void)!write(c->efd, &one, sizeof(one));
        return NULL;
}

/* Take the worker's results into the cache (on the loop's thread, after the join). */
static void calibration_apply(struct calibration *c)
{
        uint64_t now = now_realtime_usec() / 1000;
        bool changed = false;

        for (size_t i = 0; i < c->n_jobs; i++) {
                struct calib_job *j = &c->jobs[i];
                struct calib_disk *d = disk_find(c, j->name);
                const struct io_calibration_figure *fig[_CALIB_FIGURE_MAX] = {
                        [CALIB_READ_BPS] = &j->result.read_bps,
                        [CALIB_WRITE_BPS] = &j->result.write_bps,
                        [CALIB_READ_IOPS] = &j->result.read_iops,
                        [CALIB_WRITE_IOPS] = &j->result.write_iops,
                };

                if (!d)
                        continue;
                free(d->error);
                d->error = NULL;
                if (j->r < 0) {
                        d->state = DISK_FAILED;
                        d->error = strdup(j->err);
                        continue;
                }
                if (!d->cached)
                        memset(d->cached_value, 0, sizeof(d->cached_value));
                /* Figures not measured this time (writes not allowed) keep an earlier
                 * measurement of the same device. */
                for (unsigned f = 0; f < _CALIB_FIGURE_MAX; f++)
                        if (fig[f]->measured && fig[f]->value >= 1)
                                d->cached_value[f] = (uint64_t)fig[f]->value;
                json_decref(d->measurement);
                d->measurement = io_calibration_to_json(&j->result);
                d->calibrated_ms = now;
                d->cached = true;
                d->state = DISK_DONE;
                changed = true;
        }
        if (changed) {
                int r = cache_save(c);
                if (r < 0)
                        log_debug("cannot write the calibration cache %s: %s", c->cache_path, strerror(-r));
        }
}

static int on_calibration_done(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct calibration *c = userdata;
        uint64_t v;

        (void)revents;
        (void)!read(fd, &v, sizeof(v));
        pthread_join(c->thread, NULL);
        c->running = false;
        calibration_apply(c);
        jobs_free(c);
        c->src = NULL;
        event_source_remove(s); /* closes the eventfd */
        c->efd = -EBADF;
        if (c->done)
                c->done(c, c->done_userdata);
        return 0;
}

int calibration_start(struct calibration *c, struct event_loop *loop, const char *const *names,
                      size_t n_names, calibration_done_fn done, void *userdata, char **ret_error)
{
        size_t n = names ? n_names : c->n_disks;
        int r;

        if (c->running)
                return -EBUSY;
        for (size_t i = 0; names && i < n_names; i++)
                if (!disk_find(c, names[i])) {
                        if (asprintf(ret_error, "disk %s is not offered by this agent", names[i]) < 0)
                                *ret_error = NULL;
                        return -ENOENT;
                }
        if (n == 0)
                return -ENOENT;
        c->jobs = calloc(n, sizeof(*c->jobs));
        if (!c->jobs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                struct calib_disk *d = names ? disk_find(c, names[i]) : &c->disks[i];
                struct calib_job *j = &c->jobs[c->n_jobs++];

                j->name = strdup(d->name);
                j->allow_write = d->ovr && d->ovr->write;
                j->path = strdup(d->ovr && d->ovr->write_dir ? d->ovr->write_dir : d->path);
                j->seconds = c->seconds;
                d->state = DISK_QUEUED;
                if (!j->name || !j->path) {
                        jobs_free(c);
                        return -ENOMEM;
                }
        }
        c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0) {
                r = negative_errno();
                jobs_free(c);
                return r;
        }
        r = event_loop_add_io(loop, c->efd, POLLIN, EVENT_IO_ONESHOT | EVENT_IO_OWN_FD, on_calibration_done, c,
                              NULL, &c->src);
        if (r < 0) {
                c->efd = safe_close(c->efd);
                jobs_free(c);
                return r;
        }
        atomic_store(&c->cancel, false);
        c->done = done;
        c->done_userdata = userdata;
        r = -pthread_create(&c->thread, NULL, calibration_thread, c);
        if (r < 0) {
                c->src = event_source_remove(c->src);
                c->efd = -EBADF;
                jobs_free(c);
                return r;
        }
        c->running = true;
        return 0;
}

static const char *disk_state_to_string(enum disk_state s)
{
        switch (s) {
        case DISK_QUEUED:
                return "calibrating";
        case DISK_DONE:
                return "calibrated";
        case DISK_FAILED:
                return "failed";
        default:
                return "idle";
        }
}

json_t *calibration_status_json(const struct calibration *c)
{
        json_t *disks = json_object();

        for (size_t i = 0; disks && i < c->n_disks; i++) {
                const struct calib_disk *d = &c->disks[i];

                json_object_set_new(disks, d->name,
                                    json_pack("{s:s, s:s?, s:I, s:O?}", "state", disk_state_to_string(d->state),
                                              "error", d->error, "calibrated_ms",
                                              (json_int_t)(d->cached ? d->calibrated_ms : 0), "measurement",
                                              d->measurement));
        }
        return disks ? json_pack("{s:b, s:f, s:o}", "running", c->running, "seconds_per_figure", c->seconds,
                                 "disks", disks)
                     : NULL;
}

int calibration_disk_json_annotate(const struct calibration *c, const char *disk, json_t *obj)
{
        const struct calib_disk *d = disk_find(c, disk);
        struct calibration_figures f;
        json_t *detail;
        int r;

        r = calibration_get(c, disk, &f);
        if (r < 0)
                return r;
        detail = json_object();
        if (!detail)
                return -ENOMEM;
        for (unsigned i = 0; i < _CALIB_FIGURE_MAX; i++) {
                json_object_set_new(obj, figure_names[i], json_integer((json_int_t)f.value[i]));
                json_object_set_new(detail, figure_names[i],
                                    json_pack("{s:I, s:s}", "value", (json_int_t)f.value[i], "source",
                                              calibration_source_to_string(f.source[i])));
        }
        if (f.class)
                json_object_set_new(obj, "class", json_string(f.class));
        json_object_set_new(obj, "source", json_string(calibration_disk_source(&f)));
        json_object_set_new(obj, "figures", detail);
        json_object_set_new(obj, "calibration",
                            json_pack("{s:s, s:s?, s:I}", "state", disk_state_to_string(d->state), "error", d->error,
                                      "calibrated_ms", (json_int_t)f.calibrated_ms));
        return 0;
}

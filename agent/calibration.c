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
#include "common/error.h"
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
        uint64_t cached_value[_SILO_IO_LIMIT_MAX];
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
        char *error;            /* malloc'ed by the worker thread, taken by calibration_apply() */
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

static const char *calibration_source_to_string(calibration_source s)
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

/* What a disk-* or calibrate-write value sets: a figure (SILO_IO_RBPS...), the class, or
 * the write allowance. */
enum {
        OVR_CLASS = _SILO_IO_LIMIT_MAX,
        OVR_WRITE,
};

/* "NAME:REST" with a valid disk name; *ret_rest points into value. */
static int split_disk(const char *value, bool rest_optional, size_t *ret_len, const char **ret_rest,
                      char **ret_error)
{
        const char *colon = strchr(value, ':');
        size_t len = colon ? (size_t)(colon - value) : strlen(value);
        char name[128];

        if (!colon && !rest_optional)
                return error_set(ret_error, -EINVAL, "expected DISK:VALUE (nvme0n1:3200M)");
        if (len == 0 || len >= sizeof(name))
                return error_set(ret_error, -EINVAL, "the disk name before ':' is missing");
        memcpy(name, value, len);
        name[len] = '\0';
        if (!silo_name_is_valid(name))
                return error_set(ret_error, -EINVAL, "'%s' is not a disk name", name);
        if (colon && !colon[1])
                return error_set(ret_error, -EINVAL, "nothing after ':'");
        *ret_len = len;
        *ret_rest = colon ? colon + 1 : NULL;
        return 0;
}

/* Check one value and record it in its disk's override (`what`: a figure, OVR_CLASS or
 * OVR_WRITE). The message says what is wrong with the value; the caller names key and value. */
static int override_add(struct calibration_override **v, size_t *n, unsigned what, const char *value,
                        char **ret_error)
{
        struct calibration_override *e;
        const char *rest = NULL;
        uint64_t q = 0;
        size_t len = 0;
        int r;

        r = split_disk(value, what == OVR_WRITE, &len, &rest, ret_error);
        if (r < 0)
                return r;
        if (what < _SILO_IO_LIMIT_MAX) {
                r = quantity_parse(rest, &q);
                if (r == -ERANGE)
                        return error_set(ret_error, -EINVAL, "'%s' is out of range", rest);
                if (r < 0)
                        return error_set(ret_error, -EINVAL, "'%s' is not a quantity", rest);
                if (q == 0)
                        return error_set(ret_error, -EINVAL, "'%s' must be positive", rest);
        } else if (what == OVR_CLASS && !silo_name_is_valid(rest))
                return error_set(ret_error, -EINVAL, "'%s' is not a class name", rest);
        else if (what == OVR_WRITE && rest && rest[0] != '/')
                return error_set(ret_error, -EINVAL, "'%s' is not an absolute directory", rest);

        e = override_get(v, n, value, len);
        if (!e)
                return -ENOMEM;
        if (what < _SILO_IO_LIMIT_MAX ? e->value[what] != 0 : what == OVR_CLASS ? !!e->class : e->write)
                return error_set(ret_error, -EINVAL, "disk %s is given twice", e->disk);
        if (what < _SILO_IO_LIMIT_MAX)
                e->value[what] = q;
        else if (what == OVR_CLASS && !(e->class = strdup(rest)))
                return -ENOMEM;
        else if (what == OVR_WRITE) {
                e->write = true;
                if (rest && !(e->write_dir = strdup(rest)))
                        return -ENOMEM;
        }
        return 0;
}

int calibration_overrides_parse(const struct calibration_options *o, struct calibration_override **ret,
                                size_t *ret_n, char **ret_error)
{
        const struct {
                const char *key;
                unsigned what;
                char **values;
        } keys[] = {
                { "disk-read-bps", SILO_IO_RBPS, o->disk_read_bps },
                { "disk-write-bps", SILO_IO_WBPS, o->disk_write_bps },
                { "disk-read-iops", SILO_IO_RIOPS, o->disk_read_iops },
                { "disk-write-iops", SILO_IO_WIOPS, o->disk_write_iops },
                { "disk-class", OVR_CLASS, o->disk_class },
                { "calibrate-write", OVR_WRITE, o->calibrate_write },
        };
        struct calibration_override *v = NULL;
        size_t n = 0;

        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                for (char **s = keys[k].values; s && *s; s++) {
                        int r = override_add(&v, &n, keys[k].what, *s, ret_error);

                        if (r < 0) {
                                calibration_overrides_free(v, n);
                                return error_wrap(ret_error, r, "%s: '%s'", keys[k].key, *s);
                        }
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
                FOREACH_IO_LIMIT(f)
                        d->cached_value[f] =
                                (uint64_t)json_integer_value(json_object_get(e, silo_io_figure_to_string(f)));
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
                e = json_pack("{s:s, s:I, s:I, s:O?}", "device", dev, "size", (json_int_t)d->size,
                              "calibrated_ms", (json_int_t)d->calibrated_ms, "measurement", d->measurement);
                FOREACH_IO_LIMIT(f)
                        if (e && json_object_set_new(e, silo_io_figure_to_string(f),
                                                     json_integer((json_int_t)d->cached_value[f])) < 0)
                                json_decref(TAKE_PTR(e));
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
        if (!(c->seconds > 0 && c->seconds <= 600))
                return error_set(ret_error, -EINVAL, "calibrate-seconds: %g is not in (0, 600]",
                                 o->calibrate_seconds);
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

                if (!d)
                        return error_set(ret_error, -EINVAL,
                                         "disk %s is configured (disk-*/calibrate-write) but not "
                                         "offered with --disk",
                                         c->ovr[i].disk);
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
                free(c->jobs[i].error);
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
        FOREACH_IO_LIMIT(i) {
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
        FOREACH_IO_LIMIT(i)
                if (f->source[i] == CALIB_SOURCE_CALIBRATED)
                        return "calibrated";
        FOREACH_IO_LIMIT(i)
                if (f->source[i] == CALIB_SOURCE_CONFIG)
                        return "config";
        /* Nothing known yet: the figures will come from calibration. */
        return "calibrated";
}

static bool disk_fully_configured(const struct calib_disk *d)
{
        FOREACH_IO_LIMIT(i)
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

/* ---- background runs ---- */

static void *calibration_thread(void *userdata)
{
        struct calibration *c = userdata;
        uint64_t one = 1;

        for (size_t i = 0; i < c->n_jobs; i++) {
                struct calib_job *j = &c->jobs[i];
                struct io_calibrate_opts o = {
                        .path = j->path, .seconds = j->seconds, .allow_write = j->allow_write,
                };

                if (atomic_load(&c->cancel)) {
                        j->r = -ECANCELED;
                        continue;
                }
                j->r = io_calibrate_disk(&o, &j->result, &j->error);
        }
        (void)!write(c->efd, &one, sizeof(one));
        return NULL;
}

/* Take the worker's results into the cache (on the loop's thread, after the join). */
static void calibration_apply(struct calibration *c)
{
        uint64_t now = now_realtime_ms();
        bool changed = false;

        for (size_t i = 0; i < c->n_jobs; i++) {
                struct calib_job *j = &c->jobs[i];
                struct calib_disk *d = disk_find(c, j->name);
                const struct io_calibration_figure *fig[_SILO_IO_LIMIT_MAX] = {
                        [SILO_IO_RBPS] = &j->result.read_bps,
                        [SILO_IO_WBPS] = &j->result.write_bps,
                        [SILO_IO_RIOPS] = &j->result.read_iops,
                        [SILO_IO_WIOPS] = &j->result.write_iops,
                };

                if (!d)
                        continue;
                free(d->error);
                d->error = NULL;
                if (j->r < 0) {
                        d->state = DISK_FAILED;
                        d->error = j->error ? TAKE_PTR(j->error) : strdup(strerror(-j->r));
                        continue;
                }
                if (!d->cached)
                        memset(d->cached_value, 0, sizeof(d->cached_value));
                /* Figures not measured this time (writes not allowed) keep an earlier
                 * measurement of the same device. */
                FOREACH_IO_LIMIT(f)
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
                if (!disk_find(c, names[i]))
                        return error_set(ret_error, -ENOENT, "disk %s is not offered by this agent",
                                         names[i]);
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
        FOREACH_IO_LIMIT(i) {
                json_object_set_new(obj, silo_io_figure_to_string(i), json_integer((json_int_t)f.value[i]));
                json_object_set_new(detail, silo_io_figure_to_string(i),
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

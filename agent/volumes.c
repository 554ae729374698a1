/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent volumes on the agent: records in <state-dir>/volumes, directories with their own
 * project quota under <disk mount>/silo-volumes, the launch's checks and creation, deletion. */
#include <dirent.h>
#include <errno.h>
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/volumes.h"
#include "common/authz.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/metrics-text.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "isolator/pquota.h"

/*
 * A volume is created in steps a crash may interrupt anywhere, so its record is written
 * first (state "creating", durable) and marked "ready" only when the directory, its project
 * id, its quota and its owner are all in place: a launch the crash left unanswered is retried
 * and finishes the creation (each step is idempotent); the record is "ready" before the launch
 * answers 2xx. A deletion marks the record "deleting" first and is finished at the next start
 * when a crash interrupts it. A "ready" volume whose directory is gone is reported, never
 * recreated: its data is lost, and an empty directory in its place would hide that.
 */

static const char *const volume_state_names[] = {
        [VOLUME_CREATING] = "creating",
        [VOLUME_READY] = "ready",
        [VOLUME_DELETING] = "deleting",
};

static int volume_state_from_string(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(volume_state_names); i++)
                if (streq(s, volume_state_names[i]))
                        return (int)i;
        return -EINVAL;
}

static int volume_problem(struct agent_volume *v, const char *fmt, ...) _printf_(2, 3);

static struct agent_volume *volume_free(struct agent_volume *v)
{
        if (v) {
                event_source_remove(v->delete_src);
                free(v->name);
                free(v->disk);
                free(v->role);
                free(v->path);
                free(v->problem);
                free(v);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_volume *, volume_free);

void agent_volumes_free(struct agent *a)
{
        for (size_t i = 0; i < a->n_volumes; i++)
                volume_free(a->volumes[i]);
        free(a->volumes);
        a->volumes = NULL;
        a->n_volumes = 0;
}

struct agent_volume *agent_volume_find(const struct agent *a, const char *name)
{
        for (size_t i = 0; i < a->n_volumes; i++)
                if (streq(a->volumes[i]->name, name))
                        return a->volumes[i];
        return NULL;
}

char *agent_volumes_dir(const struct agent_disk *d, const char *name)
{
        char *p;

        if (!d->mount)
                return NULL;
        if (asprintf(&p, "%s/silo-volumes%s%s", d->mount, name ? "/" : "", strempty(name)) < 0)
                return NULL;
        return p;
}

static const struct agent_disk *disk_find(const struct agent *a, const char *name)
{
        for (size_t i = 0; i < a->n_disks; i++)
                if (streq(a->disks[i].name, name))
                        return &a->disks[i];
        return NULL;
}

/* The room a disk's filesystem leaves a new volume: its size minus the sizes of the volumes
 * already on it (sizes are reserved, as the master counts them, not what they use now). */
static uint64_t disk_room(const struct agent *a, const struct agent_disk *d)
{
        uint64_t cap = 0, taken = 0;

        if (!d->fs || pquota_fs_capacity(d->fs, &cap, NULL) < 0)
                return 0;
        for (size_t i = 0; i < a->n_volumes; i++)
                if (streq(a->volumes[i]->disk, d->name))
                        taken += a->volumes[i]->size;
        return cap > taken ? cap - taken : 0;
}

static char *volume_record_path(const struct agent *a, const char *name)
{
        char *p;

        return asprintf(&p, "%s/volumes/%s.json", a->opts.state_dir, name) < 0 ? NULL : p;
}

static int volume_record_save(const struct agent *a, const struct agent_volume *v)
{
        _cleanup_free_ char *path = volume_record_path(a, v->name), *text = NULL;

        text = json_dump_take(json_pack("{s:s, s:s, s:o, s:I, s:I, s:s, s:s*}", "name", v->name, "disk",
                                        v->disk, "size", quantity_to_json(v->size), "project_id",
                                        (json_int_t)v->projid, "created_ms",
                                        (json_int_t)v->created_ms, "state",
                                        volume_state_names[v->state], "role", v->role));
        if (!path || !text)
                return -ENOMEM;
        return file_write_atomic(path, text, strlen(text), 0600);
}

static int volume_path_set(struct agent_volume *v, const struct agent_disk *d)
{
        free(v->path);
        v->path = NULL;
        if (!d || !d->fs)
                return 0;
        v->path = agent_volumes_dir(d, v->name);
        return v->path ? 0 : -ENOMEM;
}

static int volumes_append(struct agent *a, struct agent_volume *v)
{
        struct agent_volume **n = realloc(a->volumes, (a->n_volumes + 1) * sizeof(*n));

        if (!n)
                return -ENOMEM;
        v->agent = a;
        a->volumes = n;
        a->volumes[a->n_volumes++] = v;
        return 0;
}

static void volumes_drop(struct agent *a, struct agent_volume *v)
{
        for (size_t i = 0; i < a->n_volumes; i++)
                if (a->volumes[i] == v) {
                        memmove(&a->volumes[i], &a->volumes[i + 1],
                                (a->n_volumes - i - 1) * sizeof(*a->volumes));
                        a->n_volumes--;
                        break;
                }
        volume_free(v);
}

/* The first step of a deletion: the record says "deleting" (durable), so that a crash at any
 * later point is finished at the next start. */
static int volume_mark_deleting(struct agent *a, struct agent_volume *v, char **ret_error)
{
        int r;

        v->state = VOLUME_DELETING;
        r = volume_record_save(a, v);
        if (r < 0)
                return error_set(ret_error, r, "volume '%s': writing its record: %s", v->name,
                                 strerror(-r));
        agent_crash_point("volume-delete-recorded");
        return 0;
}

/* The last step, once its tree is gone: its quota, its record, its entry. */
static int volume_forget(struct agent *a, struct agent_volume *v, char **ret_error)
{
        _cleanup_free_ char *record = volume_record_path(a, v->name);
        const struct agent_disk *d = disk_find(a, v->disk);
        int r;

        if (!record)
                return -ENOMEM;
        /* The project's limit goes with it: a later volume given this id starts unlimited
         * until its own limit is set, never with a stale one. */
        if (d && d->fs && (r = pquota_limit_set(d->fs, v->projid, 0, ret_error)) < 0)
                return error_wrap(ret_error, r, "volume '%s'", v->name);
        if (unlink(record) < 0 && errno != ENOENT)
                return error_set(ret_error, negative_errno(), "volume '%s': removing %s: %m",
                                 v->name, record);
        (void)fsync_parent(record);
        log_info("Volume %s deleted (%s, project %u)", v->name, strempty(v->path), v->projid);
        volumes_drop(a, v);
        return 0;
}

/* Remove the volume at once, on the loop: only for one that never held a task's data (a
 * launch that failed after creating it, a creation no task is left to finish), so its tree
 * is at most an empty directory. */
static int volume_remove(struct agent *a, struct agent_volume *v, char **ret_error)
{
        int r = volume_mark_deleting(a, v, ret_error);

        if (r >= 0 && v->path && (r = rm_rf(v->path)) < 0)
                return error_set(ret_error, r, "volume '%s': removing %s: %s", v->name, v->path,
                                 strerror(-r));
        return r < 0 ? r : volume_forget(a, v, ret_error);
}

/*
 * A volume with data is removed off the event loop: a brick or a database holds millions of
 * files, and rm -rf of those takes minutes in which the agent would answer nothing, send no
 * heartbeat and reap no task. A thread removes the tree (rm_rf() touches only its own path and
 * fds) and reports its result through an eventfd; the loop then finishes the deletion. The
 * thread is detached and owns its job with its own copy of the eventfd, so a volume freed
 * meanwhile (the agent stopping) leaves it nothing dangling; the record says "deleting" and
 * the next start removes the rest.
 */
struct delete_job {
        char *path;
        int efd;
};

static void *delete_thread(void *userdata)
{
        struct delete_job *j = userdata;
        int r = rm_rf(j->path);
        uint64_t v = (uint64_t)-r + 1;  /* an eventfd never reads 0: 1 is success, 1 + errno */

        (void)!write(j->efd, &v, sizeof(v));
        close(j->efd);
        free(j->path);
        free(j);
        return NULL;
}

static int on_volume_deleted(struct event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct agent_volume *v = userdata;
        struct agent *a = v->agent;
        _cleanup_free_ char *err = NULL;
        uint64_t res = 0;
        int r;

        (void)revents;
        if (read(fd, &res, sizeof(res)) != sizeof(res))
                res = 1 + EIO;
        v->delete_src = event_source_remove(s);
        if (res != 1) {
                (void)volume_problem(v, "deleting it: removing %s: %s (delete it again to retry)",
                                     v->path, strerror((int)(res - 1)));
                return 0;
        }
        r = volume_forget(a, v, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                (void)volume_problem(v, "deleting it: %s (delete it again to retry)", err);
        return 0;
}

/* Mark v deleting and start removing its tree; 0 also when it is being removed already. */
static int volume_delete_start(struct agent *a, struct agent_volume *v, char **ret_error)
{
        struct delete_job *j;
        pthread_attr_t attr;
        pthread_t thread;
        int efd, r;

        if (v->delete_src)
                return 0;
        r = volume_mark_deleting(a, v, ret_error);
        if (r < 0)
                return r;
        free(v->problem);
        v->problem = NULL;
        efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
                return error_set(ret_error, negative_errno(), "volume '%s': eventfd: %m", v->name);
        j = calloc(1, sizeof(*j));
        if (!j || !(j->path = strdup(v->path))) {
                free(j);
                close(efd);
                return -ENOMEM;
        }
        j->efd = fcntl(efd, F_DUPFD_CLOEXEC, 0);
        r = j->efd < 0 ? negative_errno()
                       : event_loop_add_io(a->loop, efd, POLLIN, EVENT_IO_ONESHOT | EVENT_IO_OWN_FD,
                                           on_volume_deleted, v, NULL, &v->delete_src);
        if (r < 0) {
                close(efd);
                goto fail;
        }
        r = -pthread_attr_init(&attr);
        if (r == 0) {
                (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                r = -pthread_create(&thread, &attr, delete_thread, j);
                pthread_attr_destroy(&attr);
        }
        if (r == 0) {
                log_info("Volume %s: removing %s", v->name, v->path);
                return 0;
        }
        v->delete_src = event_source_remove(v->delete_src);
fail:
        if (j->efd >= 0)
                close(j->efd);
        free(j->path);
        free(j);
        return error_set(ret_error, r, "volume '%s': starting its removal: %s", v->name, strerror(-r));
}

/* ---- loading ---- */

static int volume_record_parse(const char *file, const char *text, struct agent_volume **ret,
                               char **ret_error)
{
        static const char *const keys[] = {"name",       "disk",       "size", "project_id",
                                           "created_ms", "state",      "role", NULL};
        _cleanup_(volume_freep) struct agent_volume *v = calloc(1, sizeof(*v));
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *state = NULL;
        int64_t projid = 0, created = 0;
        int r, s;

        if (!v)
                return -ENOMEM;
        r = json_parse_text(text, &j, ret_error);
        if (r >= 0)
                r = json_check_object(j, NULL, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "name", true, &v->name, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "disk", true, &v->disk, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, NULL, "size", true, true, &v->size, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "project_id", true, 1, UINT32_MAX, &projid, ret_error);
        if (r >= 0)
                r = json_field_int(j, NULL, "created_ms", true, 0, INT64_MAX, &created, ret_error);
        if (r >= 0)
                r = json_field_string(j, NULL, "state", true, &state, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "role", false, &v->role, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "%s", file);
        s = volume_state_from_string(state);
        if (s < 0)
                return error_set(ret_error, -EINVAL, "%s: state: '%s' is not a volume state", file,
                                 state);
        v->state = (volume_state)s;
        v->projid = (uint32_t)projid;
        v->created_ms = (uint64_t)created;
        *ret = TAKE_PTR(v);
        return 0;
}

/* Mark v unusable with why (replacing an earlier reason); logged once here. */
static int volume_problem(struct agent_volume *v, const char *fmt, ...)
{
        va_list ap;
        char *s;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(v->problem);
        v->problem = s;
        log_error("Volume %s: %s", v->name, s);
        return 0;
}

/* A "ready" volume against its directory and quota: a missing directory or another project id
 * is a problem; a limit the quota lost is set again (the record is the truth). */
static int volume_verify(struct agent *a, struct agent_volume *v)
{
        const struct agent_disk *d = disk_find(a, v->disk);
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct pquota_usage u;
        uint32_t projid;
        bool inherit;
        int r;

        if (!d || !d->fs)
                return volume_problem(v, "its disk %s is not offered with a mount point (--disk %s:MOUNTPOINT)",
                                      v->disk, v->disk);
        if (v->state != VOLUME_READY)
                return 0;
        fd = open(v->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
                return volume_problem(v, "its directory %s is missing (its data is gone: delete the volume to create it anew)",
                                      v->path);
        if (fd < 0)
                return volume_problem(v, "cannot open its directory %s: %m", v->path);
        r = pquota_dir_project_get(fd, &projid, &inherit, &err);
        if (r < 0)
                return volume_problem(v, "%s: %s", v->path, err);
        if (projid != v->projid || !inherit)
                return volume_problem(v, "its directory %s has project id %u%s, not %u as recorded", v->path,
                                      projid, inherit ? "" : " without PROJINHERIT", v->projid);
        r = pquota_usage_get(d->fs, v->projid, &u, &err);
        if (r < 0)
                return volume_problem(v, "%s", err);
        /* An inode limit of 0: a volume made before they were set, given one now. */
        if (u.limit_bytes != pquota_limit_bytes(v->size) || u.limit_inodes == 0) {
                log_warning("Volume %s: project %u had a limit of %" PRIu64 " bytes, setting %" PRIu64 " again",
                            v->name, v->projid, u.limit_bytes, v->size);
                r = pquota_limit_set(d->fs, v->projid, v->size, &err);
                if (r < 0)
                        return volume_problem(v, "%s", err);
        }
        return 0;
}

int agent_volumes_load(struct agent *a, char **ret_error)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        if (asprintf(&dir, "%s/volumes", a->opts.state_dir) < 0)
                return -ENOMEM;
        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return error_set(ret_error, r, "creating %s: %s", dir, strerror(-r));
        d = opendir(dir);
        if (!d)
                return error_set(ret_error, negative_errno(), "opening %s: %m", dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL, *err = NULL;
                _cleanup_(volume_freep) struct agent_volume *v = NULL;
                size_t len = strlen(de->d_name);

                if (len <= 5 || !streq(de->d_name + len - 5, ".json"))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                r = file_read_full(path, 4096, &text, NULL);
                if (r >= 0)
                        r = volume_record_parse(path, text, &v, &err);
                if (r == -ENOMEM)
                        return r;
                /* Kept as it is for the operator to look at: its volume is not ours to guess. */
                if (r < 0) {
                        log_error("Ignoring the volume record %s: %s", path, err ? err : strerror(-r));
                        continue;
                }
                if (len - 5 != strlen(v->name) || strncmp(de->d_name, v->name, len - 5) != 0) {
                        log_error("Ignoring the volume record %s: it names volume '%s'", path, v->name);
                        continue;
                }
                r = volume_path_set(v, disk_find(a, v->disk));
                if (r >= 0)
                        r = volumes_append(a, v);
                if (r < 0)
                        return r;
                (void)TAKE_PTR(v);
        }
        for (size_t i = 0; i < a->n_volumes; i++)
                if ((r = volume_verify(a, a->volumes[i])) < 0)
                        return r;
        /* Each volume disk's silo-volumes exists from the start, root's alone: tasks without a
         * rootfs get it hidden (task-validate.c), and no other user of the host may look into
         * volumes through it. */
        for (size_t i = 0; i < a->n_disks; i++) {
                _cleanup_free_ char *p = NULL;

                if (!a->disks[i].mount)
                        continue;
                if (!(p = agent_volumes_dir(&a->disks[i], NULL)))
                        return -ENOMEM;
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return error_set(ret_error, negative_errno(), "creating %s: %m", p);
                if ((r = path_mode_enforce(p, 0700, NULL)) < 0)
                        return error_set(ret_error, r, "chmod 0700 %s: %s", p, strerror(-r));
        }
        log_info("%zu persistent volume(s) in %s", a->n_volumes, dir);
        return 0;
}

/* ---- a launch ---- */

/* Each volume's users: the tasks not ended whose spec mounts it. */
static bool task_mounts(const struct task *t, const char *name, const struct silo_volume **ret)
{
        const struct silo_container *c;

        /* An ended task's spec may be compacted away (task_compact()): test the state first. */
        if (silo_task_state_is_terminal(t->state) || !t->spec->has_container)
                return false;
        c = &t->spec->container;
        for (size_t i = 0; i < c->n_volumes; i++)
                if (c->volumes[i].name && streq(c->volumes[i].name, name)) {
                        if (ret)
                                *ret = &c->volumes[i];
                        return true;
                }
        return false;
}

/* The first task not ended that mounts volume `name`, or NULL. */
static const struct task *volume_user(const struct agent *a, const char *name)
{
        for (size_t k = 0; k < a->n_tasks; k++)
                if (task_mounts(a->tasks[k], name, NULL))
                        return a->tasks[k];
        return NULL;
}

void agent_volumes_recover(struct agent *a)
{
        for (size_t i = 0; i < a->n_volumes;) {
                struct agent_volume *v = a->volumes[i];
                const struct agent_disk *d = disk_find(a, v->disk);
                _cleanup_free_ char *err = NULL;
                int r = 0;

                if (!d || !d->fs) {     /* volume_verify() said so; kept until it is offered */
                        i++;
                        continue;
                }
                if (v->state == VOLUME_DELETING) {
                        r = volume_delete_start(a, v, &err);
                } else if (v->state == VOLUME_CREATING && !volume_user(a, v->name)) {
                        /* A crash between its record and its task's launch: no task holds
                         * it, and the launch was never answered, so nobody was promised it
                         * (a retried launch makes it again). Its tree is at most an empty
                         * directory: it never held data. */
                        log_info("Volume %s: its creation was interrupted and no task mounts it; removing it",
                                 v->name);
                        r = volume_remove(a, v, &err);
                        if (r >= 0)
                                continue;       /* dropped: the same index holds the next one */
                }
                if (r < 0)
                        (void)volume_problem(v, "%s", err ? err : strerror(-r));
                i++;
        }
}

static const struct agent_disk *disk_for_new_volume(const struct agent *a, const struct silo_volume *v)
{
        const struct agent_disk *best = NULL;
        uint64_t best_room = 0;

        for (size_t i = 0; i < a->n_disks; i++) {
                const struct agent_disk *d = &a->disks[i];
                uint64_t room;

                if (!d->fs || (v->class && !streq(v->class, d->class)))
                        continue;
                room = disk_room(a, d);
                if (!best || room > best_room) {
                        best = d;
                        best_room = room;
                }
        }
        return best;
}

static int replace_string(char **p, const char *s)
{
        char *c = strdup(s);

        if (!c)
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

int agent_volumes_resolve_spec(const struct agent *a, struct silo_task_spec *spec, char **ret_error)
{
        struct silo_container *c = &spec->container;
        const char *disk = NULL;
        int r;

        if (!spec->has_container)
                return 0;
        for (size_t i = 0; i < c->n_volumes; i++) {
                struct silo_volume *v = &c->volumes[i];
                const struct agent_volume *have;
                const struct agent_disk *d;

                if (!v->name)
                        continue;
                have = agent_volume_find(a, v->name);
                if (have) {
                        d = disk_find(a, have->disk);
                        r = silo_volume_check_existing(v, i, have->disk, d ? d->class : NULL, ret_error);
                        if (r < 0)
                                return r;
                }
                if (!have && streq(v->disk, "any")) {
                        d = disk_for_new_volume(a, v);
                        if (!d)
                                return error_set(ret_error, -EINVAL,
                                                 "container.volumes[%zu]: no disk of this agent%s%s%s can hold volume '%s' "
                                                 "(offer one with a mount point: --disk NAME:MOUNTPOINT)",
                                                 i, v->class ? " of class '" : "", strempty(v->class),
                                                 v->class ? "'" : "", v->name);
                        have = NULL;
                        r = replace_string(&v->disk, d->name);
                } else
                        r = have ? replace_string(&v->disk, have->disk) : 0;
                if (r < 0)
                        return r;
                free(v->class);
                v->class = NULL;
                if (disk && !streq(disk, v->disk))
                        disk = "";      /* the task's volumes are on several disks */
                else if (!disk)
                        disk = v->disk;
        }
        for (size_t i = 0; i < spec->resources.n_io; i++) {
                struct silo_io_request *io = &spec->resources.io[i];

                if (!io->disk || !streq(io->disk, "any") || !disk)
                        continue;
                if (!*disk)
                        return error_set(ret_error, -EINVAL,
                                         "resources.io[%zu].disk: 'any' is ambiguous: the task's volumes are on "
                                         "several disks; name one",
                                         i);
                r = replace_string(&io->disk, disk);
                if (r < 0)
                        return r;
                free(io->class);
                io->class = NULL;
        }
        return 0;
}

int agent_volume_check(const struct agent *a, const struct silo_task_spec *spec, size_t i,
                       char **ret_source, char **ret_error)
{
        const struct silo_volume *v = &spec->container.volumes[i];
        const struct agent_volume *have = agent_volume_find(a, v->name);
        const struct agent_disk *d = disk_find(a, v->disk);
        char size[QUANTITY_FORMAT_MAX], other[QUANTITY_FORMAT_MAX];
        char *path;

        (void)quantity_format(v->size, size, sizeof(size));
        for (size_t k = 0; k < a->n_tasks; k++) {
                const struct task *t = a->tasks[k];
                const struct silo_volume *theirs;

                if (streq(t->id, spec->id) || !task_mounts(t, v->name, &theirs))
                        continue;
                if ((v->readonly && theirs->readonly) || (v->shared && theirs->shared))
                        continue;
                return error_set(ret_error, -EBUSY,
                                 "container.volumes[%zu]: volume '%s' is mounted %s by task %s (two tasks "
                                 "may mount a volume at once only read-only, or both with \"shared\": true)",
                                 i, v->name, theirs->readonly ? "read-only" : "read-write", t->id);
        }
        if (have) {
                /* Only an operator or the master launches here (AUTHZ_TASK_LAUNCH), hence
                 * no identity: the volume's role is what is checked. */
                int r = authz_volume_mount(NULL, have->name, have->role, silo_task_spec_role(spec),
                                           ret_error);

                if (r < 0)
                        return error_wrap(ret_error, r, "container.volumes[%zu]", i);
                (void)quantity_format(have->size, other, sizeof(other));
                if (have->size != v->size)
                        return error_set(ret_error, -EINVAL,
                                         "container.volumes[%zu].size: %s differs from volume '%s''s size %s "
                                         "(a volume keeps its size; delete it to change it)",
                                         i, size, v->name, other);
                if (have->problem)
                        return error_set(ret_error, -EINVAL, "container.volumes[%zu]: volume '%s': %s", i,
                                         v->name, have->problem);
                /* Not the spec's fault, and not for long: 409 (launch_http_status()), so
                 * that a client may launch again once GET answers 404. */
                if (have->state == VOLUME_DELETING)
                        return error_set(ret_error, -EINPROGRESS,
                                         "container.volumes[%zu]: volume '%s' is being deleted (its GET "
                                         "answers 404 once it is gone; a launch then makes a new one)",
                                         i, v->name);
                path = strdup(have->path);
        } else {
                uint64_t room, fresh = 0;

                if (!d || !d->fs)
                        return error_set(ret_error, -EINVAL,
                                         "container.volumes[%zu].disk: '%s' is not a disk this agent offers with "
                                         "a mount point (--disk %s:MOUNTPOINT)",
                                         i, v->disk, v->disk);
                room = disk_room(a, d);
                /* The spec's earlier new volumes on this disk are not recorded yet, but they
                 * take their share of the room as the master books them (fresh_bytes). */
                for (size_t j = 0; j < i; j++) {
                        const struct silo_volume *e = &spec->container.volumes[j];

                        if (e->name && !streq(e->name, v->name) && streq(e->disk, v->disk) &&
                            !agent_volume_find(a, e->name))
                                fresh += e->size;
                }
                room = room > fresh ? room - fresh : 0;
                (void)quantity_format(room, other, sizeof(other));
                if (v->size > room)
                        return error_set(ret_error, -EINVAL,
                                         "container.volumes[%zu].size: %s is more than disk %s has free "
                                         "(%s: its filesystem's size minus its volumes' sizes%s)",
                                         i, size, d->name, other,
                                         fresh ? " and those of this spec's other new volumes" : "");
                path = agent_volumes_dir(d, v->name);
                /* Never adopted: its files would keep another project id (outside the new
                 * quota), the task would see someone else's data, and a failed launch would
                 * remove it. */
                if (path && access(path, F_OK) == 0) {
                        (void)error_set(ret_error, -EINVAL,
                                        "container.volumes[%zu]: %s exists, but this agent has no record of "
                                        "volume '%s' (an earlier volume's data?): move it out of the way or "
                                        "remove it",
                                        i, path, v->name);
                        free(path);
                        return -EINVAL;
                }
        }
        if (!path)
                return -ENOMEM;
        *ret_source = path;
        return 0;
}

/* The next project id: above every recorded one, and unused on the filesystem (no inode
 * charged to it: never one a directory still holds, ours or not). */
static int projid_allocate(const struct agent *a, const struct agent_disk *d, uint32_t *ret,
                           char **ret_error)
{
        uint32_t id = VOLUME_PROJID_MIN;

        for (size_t i = 0; i < a->n_volumes; i++)
                if (a->volumes[i]->projid >= id)
                        id = a->volumes[i]->projid + 1;
        for (unsigned tries = 0; tries < 1024; tries++, id++) {
                struct pquota_usage u;
                int r = pquota_usage_get(d->fs, id, &u, ret_error);

                if (r < 0)
                        return r;
                if (u.inodes == 0 && u.used_bytes == 0) {
                        *ret = id;
                        return 0;
                }
        }
        return error_set(ret_error, -ENOSPC, "no free project id on %s from %u", d->fs->mount, id - 1024);
}

/* The directory, its project id, its limit and its owner: each step may be done already. */
static int volume_build(const struct agent_disk *d, const struct agent_volume *v,
                        const struct task_plan *plan, char **ret_error)
{
        _cleanup_free_ char *parent = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        parent = agent_volumes_dir(d, NULL);
        if (!parent)
                return -ENOMEM;
        if (mkdir(parent, 0700) < 0 && errno != EEXIST)
                return error_set(ret_error, negative_errno(), "creating %s: %m", parent);
        if (mkdir(v->path, 0755) < 0 && errno != EEXIST)
                return error_set(ret_error, negative_errno(), "creating %s: %m", v->path);
        fd = open(v->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "opening %s: %m", v->path);
        r = pquota_dir_project_set(fd, v->projid, ret_error);
        if (r >= 0)
                r = pquota_limit_set(d->fs, v->projid, v->size, ret_error);
        if (r < 0)
                return error_wrap(ret_error, r, "%s", v->path);
        /* A new volume belongs to the task's user (a database refuses a data directory it does
         * not own); later tasks find it as the earlier ones left it. */
        if (plan->resolved.set_user && fchown(fd, plan->resolved.uid, plan->resolved.gid) < 0)
                return error_set(ret_error, negative_errno(), "chown %s to %u:%u: %m", v->path,
                                 plan->resolved.uid, plan->resolved.gid);
        if (fsync(fd) < 0)
                return error_set(ret_error, negative_errno(), "fsync %s: %m", v->path);
        /* The entries too, or a power cut could leave a READY record naming a directory that
         * is gone: the volume's is in silo-volumes (parent), silo-volumes' in the disk's root.
         * Only a volume being built gets here, so a launch of a READY volume pays none of these. */
        const char *const holders[] = {parent, d->mount};
        for (size_t i = 0; i < ELEMENTSOF(holders); i++) {
                r = fsync_directory(holders[i]);
                if (r < 0)
                        return error_set(ret_error, r, "fsync %s, which holds %s: %s", holders[i],
                                         i == 0 ? v->path : parent, strerror(-r));
        }
        return 0;
}

static int created_push(char ***list, size_t *n, const char *name)
{
        char **x = realloc(*list, (*n + 2) * sizeof(char *));

        if (!x)
                return -ENOMEM;
        *list = x;
        x[*n] = strdup(name);
        if (!x[*n])
                return -ENOMEM;
        x[++*n] = NULL;
        return 0;
}

/* One volume of the spec made ready: recorded (new) or found "creating", then built. */
static int volume_make_ready(struct agent *a, const struct silo_volume *sv, const char *role,
                             const struct task_plan *plan, bool *ret_new, char **ret_error)
{
        const struct agent_disk *d = disk_find(a, sv->disk);
        struct agent_volume *v = agent_volume_find(a, sv->name);
        int r;

        *ret_new = false;
        if (v && v->state == VOLUME_READY)
                return 0;
        assert(d && d->fs);     /* agent_volume_check() */
        if (!v) {
                _cleanup_(volume_freep) struct agent_volume *nv = calloc(1, sizeof(*nv));

                if (!nv)
                        return -ENOMEM;
                nv->name = strdup(sv->name);
                nv->disk = strdup(d->name);
                nv->role = role ? strdup(role) : NULL;
                nv->size = sv->size;
                nv->created_ms = now_realtime_ms();
                nv->state = VOLUME_CREATING;
                if (!nv->name || !nv->disk || (role && !nv->role) || volume_path_set(nv, d) < 0)
                        return -ENOMEM;
                r = projid_allocate(a, d, &nv->projid, ret_error);
                if (r < 0)
                        return r;
                r = volume_record_save(a, nv);
                if (r < 0)
                        return error_set(ret_error, r, "writing the record of volume '%s': %s", nv->name,
                                         strerror(-r));
                r = volumes_append(a, nv);
                if (r < 0)
                        return r;
                v = TAKE_PTR(nv);
                *ret_new = true;
                agent_crash_point("volume-recorded");
        }
        r = volume_build(d, v, plan, ret_error);
        if (r < 0)
                return r;
        agent_crash_point("volume-built");
        v->state = VOLUME_READY;
        r = volume_record_save(a, v);
        if (r < 0) {
                v->state = VOLUME_CREATING;
                return error_set(ret_error, r, "writing the record of volume '%s': %s", v->name, strerror(-r));
        }
        log_info("Volume %s created: %s, %" PRIu64 " bytes, project %u", v->name, v->path, v->size, v->projid);
        return 0;
}

int agent_volumes_create(struct agent *a, const struct silo_task_spec *spec, const struct task_plan *plan,
                         char ***ret_created, char **ret_error)
{
        _cleanup_strv_free_ char **created = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; spec->has_container && i < spec->container.n_volumes; i++) {
                const struct silo_volume *sv = &spec->container.volumes[i];
                bool is_new;

                if (!sv->name)
                        continue;
                r = volume_make_ready(a, sv, silo_task_spec_role(spec), plan, &is_new, ret_error);
                if (r >= 0 && is_new)
                        r = created_push(&created, &n, sv->name);
                if (r < 0) {
                        r = error_wrap(ret_error, r, "container.volumes[%zu]: creating volume '%s'", i,
                                       sv->name);
                        break;
                }
        }
        if (r < 0) {
                agent_volumes_undo(a, created);
                return r;
        }
        *ret_created = TAKE_PTR(created);
        return 0;
}

void agent_volumes_undo(struct agent *a, char **created)
{
        for (char **n = created; n && *n; n++) {
                struct agent_volume *v = agent_volume_find(a, *n);
                _cleanup_free_ char *err = NULL;

                if (v && volume_remove(a, v, &err) < 0)
                        log_warning("Volume %s: removing it after a failed launch: %s", *n, strempty(err));
        }
}

/* ---- the API ---- */

int agent_volume_delete(struct agent *a, const char *name, char **ret_error)
{
        struct agent_volume *v = agent_volume_find(a, name);
        const struct agent_disk *d;
        const struct task *t;

        if (!v)
                return error_set(ret_error, -ENOENT, "volume '%s' does not exist", name);
        if ((t = volume_user(a, name)))
                return error_set(ret_error, -EBUSY, "volume '%s' is in use by task %s (%s): kill it first",
                                 name, t->id, silo_task_state_to_string(t->state));
        /* Without its disk's filesystem the directory cannot be removed: forgetting the record
         * then would leave the data behind, for a later volume of that name to find. */
        d = disk_find(a, v->disk);
        if (!d || !d->fs)
                return error_set(ret_error, -ENODEV,
                                 "volume '%s': its disk %s is not offered with a mount point "
                                 "(--disk %s:MOUNTPOINT); it can be deleted once it is",
                                 name, v->disk, v->disk);
        return volume_delete_start(a, v, ret_error);
}

/* Zeros when its disk or quota cannot be read (volume_verify() reported why at start). */
static struct pquota_usage volume_usage(const struct agent *a, const struct agent_volume *v)
{
        const struct agent_disk *d = disk_find(a, v->disk);
        struct pquota_usage u;

        if (!d || !d->fs || pquota_usage_get(d->fs, v->projid, &u, NULL) < 0)
                return (struct pquota_usage){};
        return u;
}

static uint64_t volume_used(const struct agent *a, const struct agent_volume *v)
{
        return volume_usage(a, v).used_bytes;
}

json_t *agent_volume_to_json(const struct agent *a, const struct agent_volume *v)
{
        _cleanup_json_ json_t *o = NULL;
        json_t *tasks = json_array();
        struct pquota_usage u = volume_usage(a, v);

        for (size_t k = 0; tasks && k < a->n_tasks; k++)
                if (task_mounts(a->tasks[k], v->name, NULL) &&
                    json_array_append_new(tasks, json_string(a->tasks[k]->id)) < 0)
                        json_decref(TAKE_PTR(tasks));
        o = json_pack("{s:s, s:s, s:s*, s:o, s:o, s:I, s:I, s:s?, s:I, s:I, s:s, s:o}", "name", v->name, "disk",
                      v->disk, "role", v->role, "size", quantity_to_json(v->size), "used_bytes",
                      quantity_to_json(u.used_bytes), "used_inodes", (json_int_t)u.inodes, "inode_limit",
                      (json_int_t)u.limit_inodes,
                      "path", v->path, "project_id", (json_int_t)v->projid, "created_ms",
                      (json_int_t)v->created_ms, "state", volume_state_names[v->state], "tasks", tasks);
        if (o && v->problem && json_set(o, "problem", json_string(v->problem)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

void agent_volumes_metrics(const struct agent *a, struct metrics_text *w)
{
        metrics_text_family(w, "silo_agent_volume_size_bytes", METRICS_GAUGE,
                            "Persistent volumes: their size (the hard limit of their project quota).");
        for (size_t i = 0; i < a->n_volumes; i++)
                metrics_text_sample_u64(w, METRICS_LABELS({"volume", a->volumes[i]->name},
                                                          {"disk", a->volumes[i]->disk}),
                                        a->volumes[i]->size);
        metrics_text_family(w, "silo_agent_volume_used_bytes", METRICS_GAUGE,
                            "Persistent volumes: bytes charged to their project quota.");
        for (size_t i = 0; i < a->n_volumes; i++)
                metrics_text_sample_u64(w, METRICS_LABELS({"volume", a->volumes[i]->name},
                                                          {"disk", a->volumes[i]->disk}),
                                        volume_used(a, a->volumes[i]));
}

/* The master keeps a volume PENDING until its agent reports it "ready". */
static silo_volume_report_state volume_report_state(volume_state s)
{
        return s == VOLUME_CREATING ? SILO_VOLUME_REPORT_CREATING
               : s == VOLUME_DELETING ? SILO_VOLUME_REPORT_DELETING
                                      : SILO_VOLUME_REPORT_READY;
}

json_t *agent_volumes_report_json(const struct agent *a)
{
        _cleanup_free_ struct silo_volume_report *r = calloc(a->n_volumes + 1, sizeof(*r));

        if (!r)
                return NULL;
        for (size_t i = 0; i < a->n_volumes; i++)
                r[i] = (struct silo_volume_report){.name = a->volumes[i]->name,
                                                   .disk = a->volumes[i]->disk,
                                                   .size = a->volumes[i]->size,
                                                   .used_bytes = volume_used(a, a->volumes[i]),
                                                   .state = volume_report_state(a->volumes[i]->state),
                                                   .role = a->volumes[i]->role};
        return silo_volume_reports_to_json(r, a->n_volumes);
}

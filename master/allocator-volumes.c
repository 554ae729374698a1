/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent volumes in the allocator: where each one lives, the bytes it books on its disk, and
 * what they ask of a task's placement (its volumes' agent, room for the new ones). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "master/allocator-internal.h"

static void volume_free(struct alloc_volume *v)
{
        if (!v)
                return;
        free(v->name);
        free(v->agent_id);
        free(v->disk);
        free(v);
}

void alloc_volumes_done(struct alloc_cluster *c)
{
        void *v;

        for (size_t i = 0; table_next(&c->volumes, &i, NULL, &v);)
                volume_free(v);
        table_done(&c->volumes);
}

int alloc_agent_disk_find(const struct alloc_agent *a, const char *name)
{
        for (size_t d = 0; name && d < a->n_disks; d++)
                if (streq(a->disks[d].name, name))
                        return (int)d;
        return -1;
}

/* The disk of the cluster a volume books, NULL when its agent or disk is not there. */
static struct alloc_disk *volume_disk(const struct alloc_cluster *c, const struct alloc_volume *v)
{
        struct alloc_agent *a = table_get(&c->agents, v->agent_id);
        int d = a ? alloc_agent_disk_find(a, v->disk) : -1;

        return d >= 0 ? &a->disks[d] : NULL;
}

static void volume_book(const struct alloc_cluster *c, const struct alloc_volume *v, int sign)
{
        struct alloc_disk *d = volume_disk(c, v);

        if (!d)
                return;
        if (sign > 0)
                d->vol_booked += v->size;
        else
                d->vol_booked -= MIN(d->vol_booked, v->size);
}

int alloc_volume_set(struct alloc_cluster *c, const char *name, const char *agent_id,
                     const char *disk, uint64_t size)
{
        struct alloc_volume *v = table_get(&c->volumes, name);
        char *a = strdup(agent_id), *d = strdup(disk);

        if (!a || !d) {
                free(a);
                free(d);
                return -ENOMEM;
        }
        if (!v) {
                v = calloc(1, sizeof(*v));
                if (!v || !(v->name = strdup(name)) || table_put(&c->volumes, v->name, v) < 0) {
                        volume_free(v);
                        free(a);
                        free(d);
                        return -ENOMEM;
                }
        } else {
                volume_book(c, v, -1);
                free(v->agent_id);
                free(v->disk);
        }
        v->agent_id = a;
        v->disk = d;
        v->size = size;
        volume_book(c, v, +1);
        return 0;
}

int alloc_volume_remove(struct alloc_cluster *c, const char *name)
{
        struct alloc_volume *v = name ? table_get(&c->volumes, name) : NULL;

        if (!v)
                return -ENOENT;
        volume_book(c, v, -1);
        table_remove(&c->volumes, name);
        volume_free(v);
        return 0;
}

uint64_t alloc_disk_volume_bytes(const struct alloc_cluster *c, const char *agent_id,
                                 const char *disk)
{
        struct alloc_agent *a = agent_id ? table_get(&c->agents, agent_id) : NULL;
        int d = a ? alloc_agent_disk_find(a, disk) : -1;

        return d >= 0 ? a->disks[d].vol_booked : 0;
}

/* An agent's disks were made afresh (registration): count the volumes on them again. */
void alloc_volumes_book_agent(struct alloc_cluster *c, struct alloc_agent *a)
{
        void *p;

        for (size_t d = 0; d < a->n_disks; d++)
                a->disks[d].vol_booked = 0;
        for (size_t i = 0; table_next(&c->volumes, &i, NULL, &p);) {
                const struct alloc_volume *v = p;
                int d;

                if (!streq(v->agent_id, a->id) || (d = alloc_agent_disk_find(a, v->disk)) < 0)
                        continue;
                a->disks[d].vol_booked += v->size;
        }
}

void alloc_volumes_resolve(const struct alloc_cluster *c, struct alloc_pending *p)
{
        const struct silo_container *ct = &p->spec->container;
        struct alloc_pending_vol *pv = &p->vol;

        *pv = (struct alloc_pending_vol){};
        for (size_t i = 0; p->spec->has_container && i < ct->n_volumes; i++) {
                const struct silo_volume *vol = &ct->volumes[i];
                const struct alloc_volume *v;

                if (!vol->name)
                        continue;
                v = table_get(&c->volumes, vol->name);
                if (v && !pv->pin)
                        pv->pin = v;
                else if (v && !pv->conflict && !streq(v->agent_id, pv->pin->agent_id))
                        pv->conflict = v;
                else if (!v && pv->n_fresh < ALLOC_VOLUMES_MAX) {
                        pv->fresh[pv->n_fresh++] = vol;
                        pv->fresh_bytes += vol->size;
                }
        }
}

/* Whether a new volume may go on the disk: one with room for volumes, the one it names (or
 * "any"), of its class. */
static bool fresh_disk_matches(const struct alloc_disk *d, const struct silo_volume *vol)
{
        if (d->size == 0)
                return false;
        if (vol->disk && !streq(vol->disk, "any") && !streq(vol->disk, d->name))
                return false;
        return !vol->class || streq_ptr(vol->class, d->class);
}

static bool fresh_disk_matches_all(const struct alloc_disk *d, const struct alloc_pending_vol *pv)
{
        for (size_t i = 0; i < pv->n_fresh; i++)
                if (!fresh_disk_matches(d, pv->fresh[i]))
                        return false;
        return true;
}

static uint64_t disk_volume_free(const struct alloc_disk *d)
{
        return d->size > d->vol_booked ? d->size - d->vol_booked : 0;
}

bool alloc_volumes_fit(const struct alloc_agent *a, const struct alloc_pending *p, int *ret_vdisk,
                       int *ret_fresh_disk)
{
        const struct alloc_pending_vol *pv = &p->vol;
        uint64_t best_left = UINT64_MAX;
        int vdisk = -1, best = -1;

        *ret_vdisk = *ret_fresh_disk = -1;
        if (!p->has_volumes)
                return true;
        if (pv->conflict)
                return false;
        if (pv->pin) {
                if (!streq(a->id, pv->pin->agent_id))
                        return false;
                vdisk = alloc_agent_disk_find(a, pv->pin->disk);
                if (vdisk < 0)
                        return false;
        }
        if (pv->n_fresh > 0) {
                /* the tightest disk with room: large holes stay for large volumes */
                for (size_t d = 0; d < a->n_disks; d++) {
                        uint64_t room = disk_volume_free(&a->disks[d]);

                        if (!fresh_disk_matches_all(&a->disks[d], pv) || room < pv->fresh_bytes ||
                            room - pv->fresh_bytes >= best_left)
                                continue;
                        best = (int)d;
                        best_left = room - pv->fresh_bytes;
                }
                if (best < 0)
                        return false;
                if (vdisk < 0)
                        vdisk = best;
        }
        *ret_vdisk = vdisk;
        *ret_fresh_disk = best;
        return true;
}

int alloc_volumes_book_fresh(struct alloc_cluster *c, const struct alloc_pending *p,
                             const struct alloc_agent *a, int disk)
{
        for (size_t i = 0; i < p->vol.n_fresh; i++) {
                const struct silo_volume *vol = p->vol.fresh[i];
                int r = alloc_volume_set(c, vol->name, a->id, a->disks[disk].name, vol->size);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* "volume 'x'" or "volumes 'x' and 2 more". */
static void fresh_names(const struct alloc_pending_vol *pv, char *out, size_t size)
{
        if (pv->n_fresh == 1)
                snprintf(out, size, "volume '%s'", pv->fresh[0]->name);
        else
                snprintf(out, size, "volumes '%s' and %zu more (together)", pv->fresh[0]->name,
                         pv->n_fresh - 1);
}

/* The new volumes find no disk: none matches, or none has room (the largest room named). */
static char *explain_fresh(const struct alloc_cluster *c, const struct alloc_pending *p,
                           const struct alloc_agent *only)
{
        const struct alloc_pending_vol *pv = &p->vol;
        const struct alloc_agent *best_agent = NULL;
        const struct alloc_disk *best = NULL;
        char names[160], need[32], have[32];
        size_t n_match = 0;
        char *s = NULL;

        for (const struct alloc_agent *a = only ? only : c->first; a; a = only ? NULL : a->all_next) {
                if (!only && !alloc_agent_eligible(c, a, p))
                        continue;
                for (size_t d = 0; d < a->n_disks; d++) {
                        if (!fresh_disk_matches_all(&a->disks[d], pv))
                                continue;
                        n_match++;
                        if (!best || disk_volume_free(&a->disks[d]) > disk_volume_free(best)) {
                                best = &a->disks[d];
                                best_agent = a;
                        }
                }
        }
        fresh_names(pv, names, sizeof(names));
        if (n_match == 0)
                return asprintf(&s,
                                "%s: no disk%s%s%s offers room for volumes (a disk with a mount "
                                "point and a size) matching disk %s%s%s",
                                names, only ? " of agent " : "", only ? only->hostname : "",
                                only ? " (which holds the task's other volumes)" : "",
                                pv->fresh[0]->disk ? pv->fresh[0]->disk : "any",
                                pv->fresh[0]->class ? ", class " : "",
                                strempty(pv->fresh[0]->class)) < 0
                           ? NULL
                           : s;
        if (disk_volume_free(best) >= pv->fresh_bytes)
                return NULL;
        alloc_format_bytes(pv->fresh_bytes, need, sizeof(need));
        alloc_format_bytes(disk_volume_free(best), have, sizeof(have));
        return asprintf(&s, "no disk%s%s has %s free for %s (largest free: %s on %s/%s)",
                        only ? " of agent " : "", only ? only->hostname : "", need, names, have,
                        best_agent->hostname, best->name) < 0
                   ? NULL
                   : s;
}

char *alloc_volumes_explain(const struct alloc_cluster *c, const struct alloc_pending *p,
                            bool *ret_oom)
{
        struct alloc_pending q = *p;
        const struct alloc_pending_vol *pv = &q.vol;
        const struct alloc_agent *a;
        struct alloc_choice ch;
        char shortfall[160];
        char *s = NULL;
        int r = 0;

        *ret_oom = false;
        alloc_volumes_resolve(c, &q);
        if (pv->conflict)
                r = asprintf(&s,
                             "container.volumes: volume '%s' is on agent %s and volume '%s' on "
                             "agent %s; a task runs on one agent",
                             pv->pin->name, pv->pin->agent_id, pv->conflict->name,
                             pv->conflict->agent_id);
        else if (pv->pin) {
                a = table_get(&c->agents, pv->pin->agent_id);
                if (!a)
                        r = asprintf(&s, "volume '%s' is on agent %s (disk %s), which is not active",
                                     pv->pin->name, pv->pin->agent_id, pv->pin->disk);
                else if (alloc_agent_disk_find(a, pv->pin->disk) < 0)
                        r = asprintf(&s,
                                     "volume '%s' is on disk %s of agent %s (%s), which the agent "
                                     "no longer offers",
                                     pv->pin->name, pv->pin->disk, a->id, a->hostname);
                else if (!alloc_agent_eligible(c, a, &q))
                        r = asprintf(&s,
                                     "volume '%s' is on agent %s (%s), which the task's "
                                     "constraints rule out",
                                     pv->pin->name, a->id, a->hostname);
                else if (pv->n_fresh > 0 && (s = explain_fresh(c, &q, a)))
                        r = 0;
                else if (!alloc_agent_fit(a, &q, &ch)) {
                        alloc_shortfall_string(a, &q, shortfall, sizeof(shortfall));
                        r = asprintf(&s,
                                     "volume '%s' is on agent %s (%s), which cannot take the task "
                                     "now: %s",
                                     pv->pin->name, a->id, a->hostname, shortfall);
                }
        } else if (pv->n_fresh > 0)
                s = explain_fresh(c, &q, NULL);
        if (r < 0) {
                *ret_oom = true;
                return NULL;
        }
        return s;
}

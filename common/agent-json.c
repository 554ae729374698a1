/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codec of agent registrations, agent resources and the disks an agent offers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "common/table.h"

#define AGENT_CPUS_MAX 65536.0
#define HOSTNAME_MAX 253
/* Bounds on a registration's arrays, beyond any real node, so that no registration can make
 * its validation or the master's reconciliation costly (issue 12, finding 10). A registration
 * lists the agent's live and kept ended tasks (agent gc-max-tasks, 1000 by default). */
#define AGENT_DISKS_MAX 1024
#define AGENT_TASKS_MAX 32768
/* Persistent volumes of one agent: more than any node holds (Kubernetes' default is at most a
 * few hundred attachable volumes per node). */
#define AGENT_VOLUMES_MAX 16384

void silo_disk_clear(struct silo_disk *d)
{
        free(d->device);
        free(d->name);
        free(d->path);
        free(d->class);
        free(d->mount);
        free(d->source);
        *d = (struct silo_disk){};
}

/* "MAJOR:MINOR" as in /sys/dev/block and io.max. */
static bool devnum_is_valid(const char *s)
{
        size_t a = strspn(s, "0123456789");

        return a > 0 && a <= 10 && s[a] == ':' && strspn(s + a + 1, "0123456789") > 0 &&
               strspn(s + a + 1, "0123456789") <= 10 &&
               s[a + 1 + strspn(s + a + 1, "0123456789")] == '\0';
}

int silo_disk_parse(const json_t *j, const char *path, struct silo_disk *ret, char **ret_error)
{
        static const char *const keys[] = {"device",    "name",      "path",       "read_bps",
                                           "write_bps", "read_iops", "write_iops", "class",
                                           "mount",     "source",    "size",       NULL};
        _cleanup_(silo_disk_clear) struct silo_disk d = {};
        int r;

        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, path, "name", true, &d.name, ret_error);
        if (r >= 0)
                r = json_field_string(j, path, "device", false, &d.device, ret_error);
        if (r >= 0 && d.device && !devnum_is_valid(d.device))
                r = json_field_error(ret_error, path, "device",
                                     "'%s' is not a device number (MAJOR:MINOR)", d.device);
        if (r >= 0)
                r = json_field_abs_path(j, path, "path", false, &d.path, ret_error);
        FOREACH_IO_LIMIT(l)
                if (r >= 0)
                        r = json_field_quantity(j, path, silo_io_figure_to_string(l), false, false,
                                                &d.figure[l], ret_error);
        if (r >= 0)
                r = json_field_name(j, path, "class", false, &d.class, ret_error);
        if (r >= 0)
                r = json_field_abs_path(j, path, "mount", false, &d.mount, ret_error);
        if (r >= 0)
                r = json_field_string(j, path, "source", false, &d.source, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "size", false, false, &d.size, ret_error);
        if (r >= 0 && d.source && !streq(d.source, "calibrated") && !streq(d.source, "config"))
                r = json_field_error(ret_error, path, "source",
                                     "'%s' is not a figure source (calibrated, config)", d.source);
        if (r < 0)
                return r;
        *ret = d;
        d = (struct silo_disk){};
        return 0;
}

int silo_disk_from_json(const json_t *j, struct silo_disk **ret, char **ret_error)
{
        struct silo_disk d, *p;
        int r;

        r = silo_disk_parse(j, NULL, &d, ret_error);
        if (r < 0)
                return r;
        p = malloc(sizeof(*p));
        if (!p) {
                silo_disk_clear(&d);
                return -ENOMEM;
        }
        *p = d;
        *ret = p;
        return 0;
}

static int set_figure(json_t *o, const char *key, uint64_t v)
{
        return v == 0 ? 0 : json_set(o, key, quantity_to_json(v));
}

json_t *silo_disk_to_json(const struct silo_disk *d)
{
        _cleanup_json_ json_t *o = json_object();
        int r = 0;

        if (d->device)
                r = json_set(o, "device", json_string(d->device));
        if (r >= 0)
                r = json_set(o, "name", json_string(d->name));
        if (r >= 0 && d->path)
                r = json_set(o, "path", json_string(d->path));
        FOREACH_IO_LIMIT(l)
                if (r >= 0)
                        r = set_figure(o, silo_io_figure_to_string(l), d->figure[l]);
        if (r >= 0 && d->class)
                r = json_set(o, "class", json_string(d->class));
        if (r >= 0 && d->mount)
                r = json_set(o, "mount", json_string(d->mount));
        if (r >= 0 && d->source)
                r = json_set(o, "source", json_string(d->source));
        if (r >= 0)
                r = set_figure(o, "size", d->size);
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

SILO_DEFINE_CODEC_COMMON(disk)

void silo_agent_resources_clear(struct silo_agent_resources *res)
{
        for (size_t i = 0; res->disks && i < res->n_disks; i++)
                silo_disk_clear(&res->disks[i]);
        free(res->disks);
        silo_kv_array_free(res->attributes, res->n_attributes);
        *res = (struct silo_agent_resources){};
}

static bool attribute_name_is_valid(const char *k)
{
        return silo_name_is_valid(k);
}

/* <path>.ports: the host ports the agent offers to "bridge" tasks, "MIN-MAX". Absent: none. */
static int port_range_from_json(const json_t *j, const char *path, uint16_t *ret_min,
                                uint16_t *ret_max, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        int r;

        r = json_field_string(j, path, "ports", false, &text, ret_error);
        if (r <= 0)
                return r;
        if (silo_port_range_parse(text, ret_min, ret_max) < 0)
                return json_field_error(ret_error, path, "ports",
                                        "'%s' is not a port range (MIN-MAX with 1 <= MIN <= MAX "
                                        "<= 65535, like 20000-32767)",
                                        text);
        return 0;
}

int silo_agent_resources_parse(const json_t *j, const char *path, struct silo_agent_resources *ret,
                               char **ret_error)
{
        static const char *const keys[] = {"cpus",       "mem",   "pids", "disks",
                                           "attributes", "ports", NULL};
        _cleanup_(silo_agent_resources_clear) struct silo_agent_resources res = {};
        _cleanup_free_ char *dpath = json_path_key(path, "disks");
        const json_t *arr;
        int r;

        if (!dpath)
                return -ENOMEM;
        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = json_field_cpus(j, path, "cpus", true, AGENT_CPUS_MAX, &res.cpus, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "mem", true, true, &res.mem, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, path, "pids", false, false, &res.pids, ret_error);
        if (r >= 0)
                r = json_field_kv(j, path, "attributes", attribute_name_is_valid,
                                  "a valid attribute name", &res.attributes, &res.n_attributes,
                                  ret_error);
        if (r >= 0)
                r = port_range_from_json(j, path, &res.port_min, &res.port_max, ret_error);
        if (r < 0)
                return r;

        arr = json_field(j, "disks");
        if (arr && !json_is_array(arr))
                return json_error(ret_error, -EINVAL, dpath, "must be an array");
        if (arr && json_array_size(arr) > AGENT_DISKS_MAX)
                return json_error(ret_error, -EINVAL, dpath, "%zu entries, at most %d are allowed",
                                  json_array_size(arr), AGENT_DISKS_MAX);
        if (arr && json_array_size(arr) > 0) {
                res.disks = calloc(json_array_size(arr), sizeof(*res.disks));
                if (!res.disks)
                        return -ENOMEM;
        }
        for (size_t i = 0; arr && i < json_array_size(arr); i++) {
                _cleanup_free_ char *ipath = json_path_index(dpath, i);

                if (!ipath)
                        return -ENOMEM;
                r = silo_disk_parse(json_array_get(arr, i), ipath, &res.disks[i], ret_error);
                if (r < 0)
                        return r;
                res.n_disks = i + 1;
        }
        /* Task io entries name disks: two with one name would make them ambiguous. */
        if (res.n_disks > 1) {
                _cleanup_free_ const char **names = calloc(res.n_disks, sizeof(*names));
                _cleanup_free_ char *ipath = NULL;
                size_t i, k;

                if (!names)
                        return -ENOMEM;
                for (i = 0; i < res.n_disks; i++)
                        names[i] = res.disks[i].name;
                r = table_find_duplicate(names, res.n_disks, &i, &k);
                if (r < 0)
                        return r;
                if (r > 0)
                        return (ipath = json_path_index(dpath, i))
                                   ? json_field_error(ret_error, ipath, "name",
                                                      "'%s' is already used by %s[%zu]",
                                                      res.disks[i].name, dpath, k)
                                   : -ENOMEM;
        }

        *ret = res;
        res = (struct silo_agent_resources){};
        return 0;
}

int silo_agent_resources_from_json(const json_t *j, struct silo_agent_resources **ret,
                                   char **ret_error)
{
        struct silo_agent_resources res, *p;
        int r;

        r = silo_agent_resources_parse(j, NULL, &res, ret_error);
        if (r < 0)
                return r;
        p = malloc(sizeof(*p));
        if (!p) {
                silo_agent_resources_clear(&res);
                return -ENOMEM;
        }
        *p = res;
        *ret = p;
        return 0;
}

json_t *silo_agent_resources_to_json(const struct silo_agent_resources *res)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *arr;
        int r;

        r = json_set(o, "cpus", json_real(res->cpus));
        if (r >= 0)
                r = json_set(o, "mem", quantity_to_json(res->mem));
        if (r >= 0 && res->pids)
                r = json_set(o, "pids", quantity_to_json(res->pids));
        if (r >= 0) {
                r = json_set(o, "disks", arr = json_array());
                for (size_t i = 0; r >= 0 && i < res->n_disks; i++)
                        r = json_array_append_new(arr, silo_disk_to_json(&res->disks[i])) < 0
                                ? -ENOMEM
                                : 0;
        }
        if (r >= 0 && res->n_attributes)
                r = json_set(o, "attributes",
                             silo_kv_array_to_json(res->attributes, res->n_attributes));
        if (r >= 0 && res->port_max)
                r = json_set(
                    o, "ports",
                    json_sprintf("%u-%u", (unsigned)res->port_min, (unsigned)res->port_max));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

SILO_DEFINE_CODEC_COMMON(agent_resources)

void silo_agent_registration_clear(struct silo_agent_registration *reg)
{
        free(reg->agent_id);
        free(reg->hostname);
        free(reg->address);
        free(reg->version);
        silo_agent_resources_clear(&reg->resources);
        silo_kv_array_free(reg->attributes, reg->n_attributes);
        for (size_t i = 0; reg->tasks && i < reg->n_tasks; i++)
                silo_task_ref_clear(&reg->tasks[i]);
        free(reg->tasks);
        silo_volume_reports_free(reg->volumes, reg->n_volumes);
        *reg = (struct silo_agent_registration){};
}

struct silo_volume_report *silo_volume_reports_free(struct silo_volume_report *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                free(v[i].disk);
                free(v[i].role);
        }
        free(v);
        return NULL;
}

static int volume_report_parse(const json_t *j, const char *ipath, const char *fpath, void *vec,
                               size_t i, char **ret_error)
{
        static const char *const keys[] = {"name", "disk", "size", "used_bytes", "state", "role", NULL};
        struct silo_volume_report *v = &((struct silo_volume_report *)vec)[i];
        int state = SILO_VOLUME_REPORT_READY;
        int r;

        (void)fpath;
        r = json_check_object(j, ipath, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, ipath, "name", true, &v->name, ret_error);
        if (r >= 0)
                r = json_field_name(j, ipath, "disk", true, &v->disk, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, ipath, "size", true, true, &v->size, ret_error);
        if (r >= 0)
                r = json_field_quantity(j, ipath, "used_bytes", true, false, &v->used_bytes,
                                        ret_error);
        /* Absent from agents before the field: they reported ready volumes only as ready. */
        if (r >= 0 && json_object_get(j, "state"))
                r = json_field_enum(j, ipath, "state", true, silo_volume_report_state_from_string,
                                    "a volume state", "creating, ready, deleting", &state, ret_error);
        if (r >= 0)
                r = json_field_name(j, ipath, "role", false, &v->role, ret_error);
        v->state = (silo_volume_report_state)state;
        return r < 0 ? r : 0;
}

int silo_volume_reports_parse(const json_t *obj, const char *path,
                              struct silo_volume_report **ret, size_t *ret_n, char **ret_error)
{
        _cleanup_free_ const char **names = NULL;
        _cleanup_free_ char *fpath = NULL, *ipath = NULL;
        void *vec = NULL;
        size_t n = 0, i, k;
        int r;

        r = json_field_array(obj, path, "volumes", sizeof(struct silo_volume_report),
                             AGENT_VOLUMES_MAX, volume_report_parse, &vec, &n, ret_error);
        if (r >= 0 && n > 1) {
                names = calloc(n, sizeof(*names));
                if (!names)
                        r = -ENOMEM;
                for (i = 0; r >= 0 && i < n; i++)
                        names[i] = ((struct silo_volume_report *)vec)[i].name;
                r = r < 0 ? r : table_find_duplicate(names, n, &i, &k);
                if (r > 0) {
                        fpath = json_path_key(path, "volumes");
                        ipath = fpath ? json_path_index(fpath, i) : NULL;
                        r = ipath ? json_field_error(ret_error, ipath, "name",
                                                     "'%s' is already listed in %s[%zu]",
                                                     names[i], fpath, k)
                                  : -ENOMEM;
                }
        }
        if (r < 0) {
                silo_volume_reports_free(vec, n);
                return r;
        }
        *ret = vec;
        *ret_n = n;
        return 0;
}

json_t *silo_volume_reports_to_json(const struct silo_volume_report *v, size_t n)
{
        _cleanup_json_ json_t *arr = json_array();

        for (size_t i = 0; arr && i < n; i++)
                if (json_array_append_new(
                            arr, json_pack("{s:s, s:s, s:o, s:o, s:s, s:s*}", "name", v[i].name, "disk",
                                           v[i].disk, "size", quantity_to_json(v[i].size),
                                           "used_bytes", quantity_to_json(v[i].used_bytes), "state",
                                           silo_volume_report_state_to_string(v[i].state), "role",
                                           v[i].role)) < 0)
                        return NULL;
        return TAKE_PTR(arr);
}

/* "host:port", "[v6addr]:port": what the master dials for launches and kills. */
static bool address_is_valid(const char *a)
{
        const char *colon, *end;
        char *e;
        unsigned long port;

        if (a[0] == '[') {
                end = strchr(a, ']');
                if (!end || end == a + 1 || end[1] != ':' ||
                    strspn(a + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - a - 1))
                        return false;
                colon = end + 1;
        } else {
                _cleanup_free_ char *host = NULL;

                colon = strrchr(a, ':');
                if (!colon || colon == a)
                        return false;
                host = strndup(a, (size_t)(colon - a));
                if (!host || !hostname_is_valid(host, HOSTNAME_MAX))
                        return false;
        }
        if (colon[1] < '0' || colon[1] > '9')
                return false;
        errno = 0;
        port = strtoul(colon + 1, &e, 10);
        return errno == 0 && *e == '\0' && port >= 1 && port <= 65535;
}

int silo_agent_registration_from_json(const json_t *j, struct silo_agent_registration **ret,
                                      char **ret_error)
{
        static const char *const keys[] = {"agent_id",  "hostname",   "address", "version",
                                           "resources", "attributes", "tasks",   "volumes",
                                           NULL};
        _cleanup_(silo_agent_registration_clear) struct silo_agent_registration reg = {};
        struct silo_agent_registration *p;
        const json_t *arr;
        int r;

        if (!json_is_object(j))
                return json_error(ret_error, -EINVAL, NULL,
                                  "an agent registration must be a JSON object");
        r = json_check_object(j, NULL, keys, ret_error);
        if (r >= 0)
                r = json_field_name(j, NULL, "agent_id", false, &reg.agent_id, ret_error);
        if (r >= 0)
                r = json_field_string(j, NULL, "hostname", true, &reg.hostname, ret_error);
        if (r >= 0 && !hostname_is_valid(reg.hostname, HOSTNAME_MAX))
                r = json_error(ret_error, -EINVAL, "hostname", "'%s' is not a valid hostname",
                               reg.hostname);
        if (r >= 0)
                r = json_field_string(j, NULL, "address", true, &reg.address, ret_error);
        if (r >= 0 && !address_is_valid(reg.address))
                r = json_error(ret_error, -EINVAL, "address",
                               "'%s' is not HOST:PORT (like 10.0.0.3:5051)", reg.address);
        if (r >= 0)
                r = json_field_string(j, NULL, "version", true, &reg.version, ret_error);
        if (r >= 0 && !json_field(j, "resources"))
                r = json_error(ret_error, -EINVAL, "resources", "missing");
        if (r >= 0)
                r = silo_agent_resources_parse(json_field(j, "resources"), "resources",
                                               &reg.resources, ret_error);
        if (r >= 0)
                r = json_field_kv(j, NULL, "attributes", attribute_name_is_valid,
                                  "a valid attribute name", &reg.attributes, &reg.n_attributes,
                                  ret_error);
        if (r >= 0)
                r = silo_volume_reports_parse(j, NULL, &reg.volumes, &reg.n_volumes, ret_error);
        if (r < 0)
                return r;

        arr = json_field(j, "tasks");
        if (arr && !json_is_array(arr))
                return json_error(ret_error, -EINVAL, "tasks", "must be an array");
        if (arr && json_array_size(arr) > AGENT_TASKS_MAX)
                return json_error(ret_error, -EINVAL, "tasks", "%zu entries, at most %d are allowed",
                                  json_array_size(arr), AGENT_TASKS_MAX);
        if (arr && json_array_size(arr) > 0) {
                reg.tasks = calloc(json_array_size(arr), sizeof(*reg.tasks));
                if (!reg.tasks)
                        return -ENOMEM;
        }
        for (size_t i = 0; arr && i < json_array_size(arr); i++) {
                _cleanup_free_ char *ipath = json_path_index("tasks", i);

                if (!ipath)
                        return -ENOMEM;
                r = silo_task_ref_parse(json_array_get(arr, i), ipath, &reg.tasks[i], ret_error);
                if (r < 0)
                        return r;
                reg.n_tasks = i + 1;
        }
        if (reg.n_tasks > 1) {
                _cleanup_free_ const char **ids = calloc(reg.n_tasks, sizeof(*ids));
                _cleanup_free_ char *ipath = NULL;
                size_t i, k;

                if (!ids)
                        return -ENOMEM;
                for (i = 0; i < reg.n_tasks; i++)
                        ids[i] = reg.tasks[i].id;
                r = table_find_duplicate(ids, reg.n_tasks, &i, &k);
                if (r < 0)
                        return r;
                if (r > 0)
                        return (ipath = json_path_index("tasks", i))
                                   ? json_field_error(ret_error, ipath, "id",
                                                      "'%s' is already listed in tasks[%zu]",
                                                      reg.tasks[i].id, k)
                                   : -ENOMEM;
        }

        p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = reg;
        reg = (struct silo_agent_registration){};
        *ret = p;
        return 0;
}

json_t *silo_agent_registration_to_json(const struct silo_agent_registration *reg)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *arr;
        int r = 0;

        if (reg->agent_id)
                r = json_set(o, "agent_id", json_string(reg->agent_id));
        if (r >= 0)
                r = json_set(o, "hostname", json_string(reg->hostname));
        if (r >= 0)
                r = json_set(o, "address", json_string(reg->address));
        if (r >= 0)
                r = json_set(o, "version", json_string(reg->version));
        if (r >= 0)
                r = json_set(o, "resources", silo_agent_resources_to_json(&reg->resources));
        if (r >= 0 && reg->n_attributes)
                r = json_set(o, "attributes",
                             silo_kv_array_to_json(reg->attributes, reg->n_attributes));
        if (r >= 0) {
                r = json_set(o, "tasks", arr = json_array());
                for (size_t i = 0; r >= 0 && i < reg->n_tasks; i++)
                        r = json_array_append_new(arr, silo_task_ref_to_json(&reg->tasks[i])) < 0
                                ? -ENOMEM
                                : 0;
        }
        if (r >= 0 && reg->n_volumes)
                r = json_set(o, "volumes", silo_volume_reports_to_json(reg->volumes, reg->n_volumes));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

SILO_DEFINE_CODEC_COMMON(agent_registration)

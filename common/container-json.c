/* SPDX-License-Identifier: Apache-2.0 */
/* JSON codec of a task's container (rootfs, namespaces, network, volumes, devices) and placement
 * constraints. */
#include <assert.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/json-util.h"
#include "common/protocol-json.h"
#include "common/quantity.h"
#include "common/table.h"
#include "common/task-spec-parts.h"

#define NAMESPACE_CHOICES "pid, mount, uts, ipc, net, cgroup"
#define NS_ALL                                                                                     \
        (SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_UTS | SILO_NS_IPC | SILO_NS_NET | SILO_NS_CGROUP)

/* UTS hostnames are at most 64 bytes (HOST_NAME_MAX); placement names may be FQDNs. */
#define CONTAINER_HOSTNAME_MAX 64
#define HOSTNAME_MAX 253

void silo_container_init(struct silo_container *c)
{
        *c = (struct silo_container){.network = SILO_NETWORK_HOST};
}

static void volume_clear(struct silo_volume *v)
{
        free(v->source);
        free(v->target);
        free(v->name);
        free(v->disk);
        free(v->class);
        *v = (struct silo_volume){};
}

void silo_container_clear(struct silo_container *c)
{
        free(c->rootfs);
        free(c->hostname);
        for (size_t i = 0; c->volumes && i < c->n_volumes; i++)
                volume_clear(&c->volumes[i]);
        free(c->volumes);
        for (size_t i = 0; c->devices && i < c->n_devices; i++)
                free(c->devices[i].path);
        free(c->devices);
        free(c->ports);
        silo_container_init(c);
}

/* Collapse "//" and "." components and drop a trailing "/", so "/data/" and "/data" are
 * recognised as the same mount target. -EINVAL when a ".." component is present: the
 * launcher must never have to reason about a target climbing out of the rootfs. */
static int path_normalize(const char *in, char **ret)
{
        _cleanup_free_ char *out = malloc(strlen(in) + 2);
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (const char *p = in; *p;) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return -EINVAL;
                if (!(len == 1 && p[0] == '.')) {
                        out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

static int namespaces_from_json(const json_t *j, const char *path, unsigned *ret, char **ret_error)
{
        const json_t *arr = json_field(j, "namespaces");
        _cleanup_free_ char *fpath = json_path_key(path, "namespaces");
        unsigned mask = 0;

        if (!fpath)
                return -ENOMEM;
        if (!arr)
                return 0;
        if (!json_is_array(arr))
                return json_error(ret_error, -EINVAL, fpath, "must be an array of strings");
        for (size_t i = 0; i < json_array_size(arr); i++) {
                _cleanup_free_ char *ipath = json_path_index(fpath, i);
                const json_t *v = json_array_get(arr, i);
                int ns;

                if (!ipath)
                        return -ENOMEM;
                if (!json_is_string(v))
                        return json_error(ret_error, -EINVAL, ipath, "must be a string");
                ns = silo_namespace_from_string(json_string_value(v));
                if (ns < 0)
                        return json_error(ret_error, -EINVAL, ipath,
                                          "'%s' is not a namespace (" NAMESPACE_CHOICES ")",
                                          json_string_value(v));
                if (mask & (unsigned)ns)
                        return json_error(ret_error, -EINVAL, ipath, "'%s' is listed twice",
                                          json_string_value(v));
                mask |= (unsigned)ns;
        }
        *ret = mask;
        return 0;
}

/* The trees the agent builds for every task: a volume over them would undo the task's
 * read-only /proc and /sys (with its cgroupfs) or vanish under its fresh /dev, and a volume
 * of /proc or /sys would hand the task the host's kernel knobs. A source under /dev is
 * allowed: every device node still needs the task's device allow-list (container.devices).
 * The agent checks the resolved source again (symlinks, its state directory). */
const char *silo_volume_kernel_tree(const char *normalized, bool target)
{
        static const char *const trees[] = {"/proc", "/sys", "/dev"};

        for (size_t i = 0; i < ELEMENTSOF(trees) - !target; i++)
                if (path_is_under(normalized, trees[i]))
                        return trees[i];
        return NULL;
}

/* The host side of a bind-mount volume: an absolute path, neither the whole host nor under
 * its kernel interface. */
static int volume_source_check(const char *path, const char *source, char **ret_error)
{
        _cleanup_free_ char *src = NULL;
        int r;

        r = path_normalize(source, &src);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && streq(src, "/"))
                return json_field_error(ret_error, path, "source",
                                        "'%s' is the whole host; name the directories the task needs",
                                        source);
        if (r >= 0 && silo_volume_kernel_tree(src, false))
                return json_field_error(ret_error, path, "source",
                                        "'%s' is under %s, the host's kernel interface", source,
                                        silo_volume_kernel_tree(src, false));
        return 0;
}

/* The persistent-volume fields (name, size, disk, class, shared) into *v; a bind mount
 * (source) carries none of them. */
static int volume_persistent_from_json(const json_t *j, const char *path, struct silo_volume *v,
                                       char **ret_error)
{
        static const char *const only[] = {"size", "disk", "class", "shared"};
        int r;

        if (v->source) {
                for (size_t i = 0; i < ELEMENTSOF(only); i++)
                        if (json_field(j, only[i]))
                                return json_field_error(ret_error, path, only[i],
                                                        "is only for a persistent volume (with "
                                                        "name, not source)");
                return 0;
        }
        r = json_field_quantity(j, path, "size", true, true, &v->size, ret_error);
        if (r >= 0)
                r = json_field_string(j, path, "disk", false, &v->disk, ret_error);
        if (r < 0)
                return r;
        if (v->disk && !streq(v->disk, "any") && !silo_name_is_valid(v->disk))
                return json_field_error(ret_error, path, "disk",
                                        "'%s' is not a disk name (like nvme0n1) or \"any\"",
                                        v->disk);
        if (!v->disk && !(v->disk = strdup("any")))
                return -ENOMEM;
        r = json_field_name(j, path, "class", false, &v->class, ret_error);
        if (r < 0)
                return r;
        if (v->class && !streq(v->disk, "any"))
                return json_field_error(ret_error, path, "class",
                                        "'%s' is only allowed with disk \"any\"", v->class);
        return json_field_bool(j, path, "shared", &v->shared, ret_error);
}

static int volume_from_json(const json_t *j, const char *path, struct silo_volume *ret,
                            char **ret_error)
{
        static const char *const keys[] = {"source", "name",  "target", "readonly",
                                           "size",   "disk",  "class",  "shared", NULL};
        _cleanup_(volume_clear) struct silo_volume v = {};
        _cleanup_free_ char *target = NULL;
        int r;

        r = json_check_object(j, path, keys, ret_error);
        if (r < 0)
                return r;
        if (!json_field(j, "source") == !json_field(j, "name"))
                return json_error(ret_error, -EINVAL, path,
                                  "needs exactly one of source (a host path to bind) and name "
                                  "(a persistent volume)");
        r = json_field_abs_path(j, path, "source", false, &v.source, ret_error);
        if (r >= 0)
                r = json_field_name(j, path, "name", false, &v.name, ret_error);
        if (r >= 0)
                r = json_field_abs_path(j, path, "target", true, &target, ret_error);
        if (r >= 0)
                r = json_field_bool(j, path, "readonly", &v.readonly, ret_error);
        if (r < 0)
                return r;
        r = path_normalize(target, &v.target);
        if (r == -EINVAL)
                return json_field_error(ret_error, path, "target",
                                        "'%s' must not contain '..' (it would escape the rootfs)",
                                        target);
        if (r < 0)
                return r;
        if (streq(v.target, "/"))
                return json_field_error(ret_error, path, "target",
                                        "'%s' would hide the whole rootfs", target);
        if (silo_volume_kernel_tree(v.target, true))
                return json_field_error(ret_error, path, "target",
                                        "'%s' is under %s, which the agent sets up itself", target,
                                        silo_volume_kernel_tree(v.target, true));
        r = v.source ? volume_source_check(path, v.source, ret_error) : 0;
        if (r >= 0)
                r = volume_persistent_from_json(j, path, &v, ret_error);
        if (r < 0)
                return r;
        *ret = v;
        v = (struct silo_volume){};
        return 0;
}

/* One element of container.volumes. */
static int volume_element_parse(const json_t *e, const char *ipath, const char *fpath, void *vec,
                                size_t i, char **ret_error)
{
        struct silo_volume *v = vec;

        (void)fpath;
        return volume_from_json(e, ipath, &v[i], ret_error);
}

/* "rw" -> SILO_DEV_READ|SILO_DEV_WRITE; -EINVAL for empty, repeated or other letters. */
static int device_access_parse(const char *s, unsigned *ret)
{
        unsigned a = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                unsigned bit = *s == 'r'   ? SILO_DEV_READ
                               : *s == 'w' ? SILO_DEV_WRITE
                               : *s == 'm' ? SILO_DEV_MKNOD
                                           : 0;

                if (!bit || (a & bit))
                        return -EINVAL;
                a |= bit;
        }
        *ret = a;
        return 0;
}

static bool device_path_is_valid(const char *p)
{
        _cleanup_free_ char *norm = NULL;

        return strncmp(p, "/dev/", 5) == 0 && path_normalize(p, &norm) == 0 &&
               strncmp(norm, "/dev/", 5) == 0;
}

static int device_from_json(const json_t *v, const char *path, struct silo_device *ret,
                            char **ret_error)
{
        static const char *const keys[] = {"path", "access", NULL};
        _cleanup_free_ char *p = NULL, *access = NULL;
        unsigned bits = SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD;
        int r;

        if (json_is_string(v)) {
                p = strdup(json_string_value(v));
                if (!p)
                        return -ENOMEM;
                if (!device_path_is_valid(p))
                        return json_error(ret_error, -EINVAL, path,
                                          "'%s' is not a device path (/dev/...)", p);
        } else if (json_is_object(v)) {
                r = json_check_object(v, path, keys, ret_error);
                if (r >= 0)
                        r = json_field_string(v, path, "path", true, &p, ret_error);
                if (r >= 0)
                        r = json_field_string(v, path, "access", false, &access, ret_error);
                if (r < 0)
                        return r;
                if (!device_path_is_valid(p))
                        return json_field_error(ret_error, path, "path",
                                                "'%s' is not a device path (/dev/...)", p);
                if (access && device_access_parse(access, &bits) < 0)
                        return json_field_error(ret_error, path, "access",
                                                "'%s' is not a device access (a non-empty "
                                                "subset of rwm)",
                                                access);
        } else
                return json_error(ret_error, -EINVAL, path,
                                  "must be a device path or an object with path and access");

        *ret = (struct silo_device){.path = TAKE_PTR(p), .access = bits};
        return 0;
}

/* One element of container.devices. */
static int device_element_parse(const json_t *e, const char *ipath, const char *fpath, void *vec,
                                size_t i, char **ret_error)
{
        struct silo_device *d = vec;

        (void)fpath;
        return device_from_json(e, ipath, &d[i], ret_error);
}

/* <path>.<key> as a port: an integer 1..65535 (0 too when zero_ok). Absent: *ret untouched. */
static int port_field(const json_t *j, const char *path, const char *key, bool required,
                      bool zero_ok, uint16_t *ret, char **ret_error)
{
        const json_t *v = json_field(j, key);
        json_int_t n;

        if (!v)
                return required ? json_field_error(ret_error, path, key, "missing") : 0;
        if (!json_is_integer(v))
                return json_field_error(ret_error, path, key, "must be an integer (a port)");
        n = json_integer_value(v);
        if (n < (zero_ok ? 0 : 1) || n > 65535)
                return json_field_error(ret_error, path, key,
                                        "%" JSON_INTEGER_FORMAT " is not a port (1-65535%s)", n,
                                        zero_ok ? ", or 0 to have one chosen" : "");
        *ret = (uint16_t)n;
        return 1;
}

static int port_mapping_from_json(const json_t *j, const char *path, struct silo_port_mapping *ret,
                                  char **ret_error)
{
        static const char *const keys[] = {"container", "host", "proto", NULL};
        struct silo_port_mapping m = {.proto = SILO_PORT_TCP};
        int proto = SILO_PORT_TCP, r;

        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = port_field(j, path, "container", true, false, &m.container, ret_error);
        if (r >= 0)
                r = port_field(j, path, "host", false, true, &m.host, ret_error);
        if (r >= 0)
                r = json_field_enum(j, path, "proto", false, silo_port_proto_from_string,
                                    "a protocol", "tcp, udp", &proto, ret_error);
        if (r < 0)
                return r;
        m.proto = proto;
        *ret = m;
        return 0;
}

/* One element of container.ports. */
static int port_element_parse(const json_t *e, const char *ipath, const char *fpath, void *vec,
                              size_t i, char **ret_error)
{
        struct silo_port_mapping *m = vec;

        (void)fpath;
        return port_mapping_from_json(e, ipath, &m[i], ret_error);
}

/* No host port+proto is mapped twice (the second mapping could never receive anything) and no
 * container port+proto is published twice (Docker allows that; a port allocator counting host
 * ports per task then sees one listener as two services). host 0 entries are distinct until
 * chosen. "container.ports[2].host: 8080/tcp is already mapped by container.ports[0]". */
static int ports_check_unique(const struct silo_container *c, const char *path, char **ret_error)
{
        static const char *const fields[] = {"host", "container"};
        char buf[SILO_CONTAINER_PORTS_MAX][sizeof("65535/tcp")];
        const char *keys[SILO_CONTAINER_PORTS_MAX];
        size_t i, k;
        int r;

        assert(c->n_ports <= SILO_CONTAINER_PORTS_MAX);
        for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
                _cleanup_free_ char *fpath = NULL, *ipath = NULL;

                for (i = 0; i < c->n_ports; i++) {
                        const struct silo_port_mapping *m = &c->ports[i];
                        uint16_t port = f == 0 ? m->host : m->container;

                        (void)snprintf(buf[i], sizeof(buf[i]), "%u/%s", port,
                                       silo_port_proto_to_string(m->proto));
                        keys[i] = port == 0 ? NULL : buf[i];
                }
                r = table_find_duplicate(keys, c->n_ports, &i, &k);
                if (r <= 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                fpath = json_path_key(path, "ports");
                ipath = fpath ? json_path_index(fpath, i) : NULL;
                if (!ipath)
                        return -ENOMEM;
                return json_field_error(ret_error, ipath, fields[f], "%s is already %s by %s[%zu]",
                                        keys[i], f == 0 ? "mapped" : "published", fpath, k);
        }
        return 0;
}

/* The first of keys[0..n) equal to an earlier one, as "<path>.<array>[i].<field>: '<key>'
 * <what> <path>.<array>[k]" (field NULL: the element itself); 0 when all differ. */
static int keys_check_unique(const char **keys, size_t n, const char *path, const char *array,
                             const char *field, const char *what, char **ret_error)
{
        _cleanup_free_ char *fpath = NULL, *ipath = NULL;
        size_t i, k;
        int r = table_find_duplicate(keys, n, &i, &k);

        if (r <= 0)
                return r;
        fpath = json_path_key(path, array);
        ipath = fpath ? json_path_index(fpath, i) : NULL;
        if (!ipath)
                return -ENOMEM;
        if (!field)
                return json_error(ret_error, -EINVAL, ipath, "'%s' %s %s[%zu]", keys[i], what, fpath,
                                  k);
        return json_field_error(ret_error, ipath, field, "'%s' %s %s[%zu]", keys[i], what, fpath, k);
}

/* No two volumes share a target or a persistent volume (one task mounting a volume twice
 * would be two writers of one quota) and each device is listed once: one pass over a hash
 * set each. "container.devices[5]: '/dev/x' is already listed in container.devices[2]". */
static int container_check_unique(const struct silo_container *c, const char *path,
                                  char **ret_error)
{
        size_t n = MAX(c->n_volumes, c->n_devices), i;
        _cleanup_free_ const char **keys = NULL;
        int r;

        if (n < 2)
                return 0;
        keys = calloc(n, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        for (i = 0; i < c->n_volumes; i++)
                keys[i] = c->volumes[i].target;
        r = keys_check_unique(keys, c->n_volumes, path, "volumes", "target",
                              "is already the target of", ret_error);
        for (i = 0; r == 0 && i < c->n_volumes; i++)
                keys[i] = c->volumes[i].name;
        if (r == 0)
                r = keys_check_unique(keys, c->n_volumes, path, "volumes", "name",
                                      "is already mounted by", ret_error);
        for (i = 0; r == 0 && i < c->n_devices; i++)
                keys[i] = c->devices[i].path;
        if (r == 0)
                r = keys_check_unique(keys, c->n_devices, path, "devices", NULL,
                                      "is already listed in", ret_error);
        return r;
}

int silo_container_from_json(const json_t *j, const char *path, struct silo_container *ret,
                             char **ret_error)
{
        static const char *const keys[] = {"rootfs",  "namespaces", "network", "hostname",
                                           "volumes", "devices",    "ports",   NULL};
        _cleanup_(silo_container_clear) struct silo_container c;
        void *vec = NULL;
        int network = -1, r;

        silo_container_init(&c);
        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = json_field_abs_path(j, path, "rootfs", false, &c.rootfs, ret_error);
        if (r >= 0)
                r = namespaces_from_json(j, path, &c.namespaces, ret_error);
        if (r >= 0)
                r = json_field_enum(j, path, "network", false, silo_network_mode_from_string,
                                    "a network mode", "bridge, none, host", &network, ret_error);
        if (r < 0)
                return r;

        if (network == SILO_NETWORK_HOST && (c.namespaces & SILO_NS_NET))
                return json_field_error(ret_error, path, "network",
                                        "'host' cannot be combined with the net namespace");
        /* "none" means a private net namespace with only lo, "bridge" one the agent wires to its
         * bridge: ask for it implicitly. Without a net namespace the task shares the host's
         * network whatever it says. */
        if (network == SILO_NETWORK_NONE || network == SILO_NETWORK_BRIDGE)
                c.namespaces |= SILO_NS_NET;
        c.network = network == SILO_NETWORK_BRIDGE ? SILO_NETWORK_BRIDGE
                    : (c.namespaces & SILO_NS_NET) ? SILO_NETWORK_NONE
                                                   : SILO_NETWORK_HOST;

        r = json_field_string(j, path, "hostname", false, &c.hostname, ret_error);
        if (r < 0)
                return r;
        if (c.hostname && !hostname_is_valid(c.hostname, CONTAINER_HOSTNAME_MAX))
                return json_field_error(ret_error, path, "hostname", "'%s' is not a valid hostname",
                                        c.hostname);
        if (c.hostname && !(c.namespaces & SILO_NS_UTS))
                return json_field_error(ret_error, path, "hostname", "'%s' needs the uts namespace",
                                        c.hostname);

        /* Vectors come back through void *, assigned even on failure so the clear frees them. */
        r = json_field_array(j, path, "volumes", sizeof(*c.volumes), SILO_CONTAINER_VOLUMES_MAX,
                             volume_element_parse, &vec, &c.n_volumes, ret_error);
        c.volumes = TAKE_PTR(vec);
        if (r >= 0) {
                r = json_field_array(j, path, "devices", sizeof(*c.devices),
                                     SILO_CONTAINER_DEVICES_MAX, device_element_parse, &vec,
                                     &c.n_devices, ret_error);
                c.devices = TAKE_PTR(vec);
        }
        if (r >= 0)
                r = container_check_unique(&c, path, ret_error);
        if (r >= 0) {
                r = json_field_array(j, path, "ports", sizeof(*c.ports), SILO_CONTAINER_PORTS_MAX,
                                     port_element_parse, &vec, &c.n_ports, ret_error);
                c.ports = TAKE_PTR(vec);
        }
        if (r >= 0 && c.n_ports > 0 && c.network != SILO_NETWORK_BRIDGE) {
                _cleanup_free_ char *fpath = json_path_key(path, "ports");

                return fpath ? json_error(ret_error, -EINVAL, fpath,
                                          "needs network \"bridge\" (this task's network is "
                                          "\"%s\")",
                                          silo_network_mode_to_string(c.network))
                             : -ENOMEM;
        }
        if (r >= 0)
                r = ports_check_unique(&c, path, ret_error);
        if (r < 0)
                return r;
        /* A rootfs or a volume is a mount: it needs a private mount namespace, or it would
         * change the host's mount table. */
        if (c.rootfs || c.n_volumes > 0)
                c.namespaces |= SILO_NS_MOUNT;

        *ret = c;
        silo_container_init(&c);
        return 0;
}

static json_t *device_to_json(const struct silo_device *d)
{
        char access[4];
        size_t n = 0;

        if (d->access == (SILO_DEV_READ | SILO_DEV_WRITE | SILO_DEV_MKNOD))
                return json_string(d->path);
        if (d->access & SILO_DEV_READ)
                access[n++] = 'r';
        if (d->access & SILO_DEV_WRITE)
                access[n++] = 'w';
        if (d->access & SILO_DEV_MKNOD)
                access[n++] = 'm';
        access[n] = '\0';
        return json_pack("{s:s, s:s}", "path", d->path, "access", access);
}

static json_t *volume_to_json(const struct silo_volume *v)
{
        _cleanup_json_ json_t *o = NULL;

        if (v->source)
                return json_pack("{s:s, s:s, s:b}", "source", v->source, "target", v->target,
                                 "readonly", v->readonly);
        o = json_pack("{s:s, s:o, s:s, s:s, s:b, s:b}", "name", v->name, "size",
                      quantity_to_json(v->size), "disk", v->disk, "target", v->target,
                      "readonly", v->readonly, "shared", v->shared);
        if (o && v->class && json_set(o, "class", json_string(v->class)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_t *silo_container_to_json(const struct silo_container *c)
{
        _cleanup_json_ json_t *o = json_object();
        json_t *arr;
        int r = 0;

        if (c->rootfs)
                r = json_set(o, "rootfs", json_string(c->rootfs));
        if (r >= 0 && c->namespaces) {
                r = json_set(o, "namespaces", arr = json_array());
                for (unsigned bit = 1; r >= 0 && bit & NS_ALL; bit <<= 1)
                        if (c->namespaces & bit)
                                r = json_array_append_new(
                                        arr, json_string(silo_namespace_to_string(bit))) < 0
                                        ? -ENOMEM
                                        : 0;
        }
        if (r >= 0)
                r = json_set(o, "network", json_string(silo_network_mode_to_string(c->network)));
        if (r >= 0 && c->hostname)
                r = json_set(o, "hostname", json_string(c->hostname));
        if (r >= 0 && c->n_volumes) {
                r = json_set(o, "volumes", arr = json_array());
                for (size_t i = 0; r >= 0 && i < c->n_volumes; i++)
                        r = json_array_append_new(arr, volume_to_json(&c->volumes[i])) < 0
                                ? -ENOMEM
                                : 0;
        }
        if (r >= 0 && c->n_devices) {
                r = json_set(o, "devices", arr = json_array());
                for (size_t i = 0; r >= 0 && i < c->n_devices; i++)
                        r = json_array_append_new(arr, device_to_json(&c->devices[i])) < 0 ? -ENOMEM
                                                                                           : 0;
        }
        if (r >= 0 && c->n_ports)
                r = json_set(o, "ports", silo_port_mappings_to_json(c->ports, c->n_ports));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_t *silo_port_mappings_to_json(const struct silo_port_mapping *ports, size_t n)
{
        _cleanup_json_ json_t *arr = json_array();

        if (!arr)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(
                        arr, json_pack("{s:i, s:i, s:s}", "container", (int)ports[i].container,
                                       "host", (int)ports[i].host, "proto",
                                       silo_port_proto_to_string(ports[i].proto))) < 0)
                        return NULL;
        return TAKE_PTR(arr);
}

/* "capabilities[i]: <why>" when the spec's capabilities array lists `cap`; else 0. */
static int capability_refuse(const json_t *capabilities, int cap, const char *why, char **ret_error)
{
        for (size_t i = 0; i < json_array_size(capabilities); i++) {
                const char *name = json_string_value(json_array_get(capabilities, i));
                _cleanup_free_ char *ipath = NULL;

                if (!name || silo_capability_from_string(name) != cap)
                        continue;
                ipath = json_path_index("capabilities", i);
                return ipath ? json_error(ret_error, -EINVAL, ipath, "%s", why) : -ENOMEM;
        }
        return 0;
}

static bool container_has_persistent_volume(const struct silo_container *c)
{
        for (size_t i = 0; c && i < c->n_volumes; i++)
                if (c->volumes[i].name)
                        return true;
        return false;
}

/* What needs a "bridge" network beyond container.ports: an egress limit is a qdisc on the
 * task's own veth, which the other modes do not have. And what a bridge task may not have:
 * NET_ADMIN in its own namespace would let it delete that qdisc, or take another task's
 * address or change its routes, all of which the agent sets for it. Likewise SYS_RESOURCE
 * lets a process write past quotas (ext4 and XFS skip the check for it): a task with a
 * persistent volume would outgrow the size its disk was counted for. */
int silo_task_cross_check(const struct silo_resources *res, const struct silo_container *c,
                          const json_t *capabilities, char **ret_error)
{
        silo_network_mode mode = c ? c->network : SILO_NETWORK_HOST;

        if (res->net_egress != SILO_UNSET && mode != SILO_NETWORK_BRIDGE)
                return json_error(ret_error, -EINVAL, "resources.net_egress",
                                  "needs container.network \"bridge\" (this task's network is "
                                  "\"%s\": an egress limit is set on the task's own interface)",
                                  silo_network_mode_to_string(mode));
        if (mode == SILO_NETWORK_BRIDGE) {
                int r = capability_refuse(capabilities, CAP_NET_ADMIN,
                                          "NET_ADMIN cannot be given to a \"bridge\" task (it could "
                                          "remove its own egress limit, or change the address and "
                                          "routes the agent gave it)",
                                          ret_error);
                if (r < 0)
                        return r;
        }
        if (container_has_persistent_volume(c))
                return capability_refuse(capabilities, CAP_SYS_RESOURCE,
                                         "SYS_RESOURCE cannot be given to a task with a persistent "
                                         "volume (it could write past the volume's size)",
                                         ret_error);
        return 0;
}

void silo_constraints_init(struct silo_constraints *c)
{
        *c = (struct silo_constraints){.spread = SILO_SPREAD_NONE};
}

void silo_constraints_clear(struct silo_constraints *c)
{
        free(c->hostname);
        silo_kv_array_free(c->attributes, c->n_attributes);
        silo_constraints_init(c);
}

bool silo_constraints_is_empty(const struct silo_constraints *c)
{
        return !c->hostname && c->n_attributes == 0 && c->spread == SILO_SPREAD_NONE;
}

static bool attribute_name_is_valid(const char *k)
{
        return silo_name_is_valid(k);
}

int silo_constraints_from_json(const json_t *j, const char *path, struct silo_constraints *ret,
                               char **ret_error)
{
        static const char *const keys[] = {"hostname", "attributes", "spread", NULL};
        _cleanup_(silo_constraints_clear) struct silo_constraints c;
        int spread = SILO_SPREAD_NONE, r;

        silo_constraints_init(&c);
        r = json_check_object(j, path, keys, ret_error);
        if (r >= 0)
                r = json_field_string(j, path, "hostname", false, &c.hostname, ret_error);
        if (r < 0)
                return r;
        if (c.hostname && !hostname_is_valid(c.hostname, HOSTNAME_MAX))
                return json_field_error(ret_error, path, "hostname", "'%s' is not a valid hostname",
                                        c.hostname);
        r = json_field_kv(j, path, "attributes", attribute_name_is_valid, "a valid attribute name",
                          &c.attributes, &c.n_attributes, ret_error);
        if (r >= 0)
                r = json_field_enum(j, path, "spread", false, silo_spread_from_string, "a spread",
                                    "hostname, none", &spread, ret_error);
        if (r < 0)
                return r;
        c.spread = spread;

        *ret = c;
        silo_constraints_init(&c);
        return 0;
}

json_t *silo_constraints_to_json(const struct silo_constraints *c)
{
        _cleanup_json_ json_t *o = json_object();
        int r = 0;

        if (c->hostname)
                r = json_set(o, "hostname", json_string(c->hostname));
        if (r >= 0 && c->n_attributes)
                r = json_set(o, "attributes",
                             silo_kv_array_to_json(c->attributes, c->n_attributes));
        if (r >= 0 && c->spread != SILO_SPREAD_NONE)
                r = json_set(o, "spread", json_string(silo_spread_to_string(c->spread)));
        if (r < 0)
                return NULL;
        return TAKE_PTR(o);
}

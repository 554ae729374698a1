/* SPDX-License-Identifier: Apache-2.0 */
/* Pure parsers of cgroup v2 file contents (cpu.stat, memory.events, io.stat, PSI, ...). */
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "common/array.h"
#include "isolator/cgroup-internal.h"

int cg_parse_max_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        s += strspn(s, " \t");
        if (strncmp(s, "max", 3) == 0 && (s[3] == 0 || strchr(" \t\n", s[3]))) {
                *ret = CG_MAX;
                return 0;
        }
        if (*s < '0' || *s > '9')
                return -EBADMSG;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end && !strchr(" \t\n", *end))
                return -EBADMSG;
        *ret = v;
        return 0;
}

int cg_parse_cpu_max(const char *s, uint64_t *ret_quota, uint64_t *ret_period)
{
        uint64_t q, p;
        const char *sp;
        int r;

        r = cg_parse_max_u64(s, &q);
        if (r < 0)
                return r;
        sp = strpbrk(s, " \t");
        if (!sp)
                return -EBADMSG;
        r = cg_parse_max_u64(sp, &p);
        if (r < 0 || p == CG_MAX || p == 0)
                return -EBADMSG;
        *ret_quota = q;
        *ret_period = p;
        return 0;
}

/* Find "key value" at the start of a line; keys are matched whole. */
static int cg_parse_keyed_u64(const char *content, const char *key, uint64_t *ret)
{
        size_t kl = strlen(key);

        for (const char *line = content; line && *line;) {
                if (strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == '\t'))
                        return cg_parse_max_u64(line + kl, ret);
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return -ENOENT;
}

struct keyed_field {
        const char *key;
        size_t offset;          /* of a uint64_t in the struct parsed into */
};

#define F(type, key, field) { key, offsetof(type, field) }

/* The field of `f` named `key`, or NULL. */
static const struct keyed_field *keyed_field_find(const struct keyed_field *f, size_t n,
                                                  const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (streq(f[i].key, key))
                        return &f[i];
        return NULL;
}

/* Fill the fields listed of the struct *ret of `size` bytes (only on success): "key value"
 * lines; missing keys stay 0 (older kernels lack some), but one at least must be there. */
static int parse_keyed_fields(const char *content, const struct keyed_field *f, size_t n,
                              void *ret, size_t size)
{
        uint64_t out[16] = {};
        int found = 0;

        assert(size <= sizeof(out));
        for (size_t i = 0; i < n; i++) {
                uint64_t *field = (uint64_t *)((char *)out + f[i].offset);
                int r = cg_parse_keyed_u64(content, f[i].key, field);

                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                found++;
        }
        if (found == 0)
                return -EBADMSG;
        memcpy(ret, out, size);
        return 0;
}

int cg_parse_cpu_stat(const char *content, struct cg_cpu_stat *ret)
{
        static const struct keyed_field f[] = {
                F(struct cg_cpu_stat, "usage_usec", usage_usec),
                F(struct cg_cpu_stat, "user_usec", user_usec),
                F(struct cg_cpu_stat, "system_usec", system_usec),
                F(struct cg_cpu_stat, "nr_periods", nr_periods),
                F(struct cg_cpu_stat, "nr_throttled", nr_throttled),
                F(struct cg_cpu_stat, "throttled_usec", throttled_usec),
        };

        return parse_keyed_fields(content, f, ELEMENTSOF(f), ret, sizeof(*ret));
}

int cg_parse_memory_events(const char *content, struct cg_memory_events *ret)
{
        static const struct keyed_field f[] = {
                F(struct cg_memory_events, "low", low),
                F(struct cg_memory_events, "high", high),
                F(struct cg_memory_events, "max", max),
                F(struct cg_memory_events, "oom", oom),
                F(struct cg_memory_events, "oom_kill", oom_kill),
                F(struct cg_memory_events, "oom_group_kill", oom_group_kill),
        };

        return parse_keyed_fields(content, f, ELEMENTSOF(f), ret, sizeof(*ret));
}

int cg_parse_memory_stat(const char *content, struct cg_memory_stat *ret)
{
        static const struct keyed_field f[] = {
                F(struct cg_memory_stat, "anon", anon),
                F(struct cg_memory_stat, "file", file),
                F(struct cg_memory_stat, "kernel_stack", kernel_stack),
                F(struct cg_memory_stat, "slab", slab),
                F(struct cg_memory_stat, "sock", sock),
                F(struct cg_memory_stat, "shmem", shmem),
                F(struct cg_memory_stat, "file_dirty", file_dirty),
                F(struct cg_memory_stat, "file_writeback", file_writeback),
                F(struct cg_memory_stat, "pgfault", pgfault),
                F(struct cg_memory_stat, "pgmajfault", pgmajfault),
                F(struct cg_memory_stat, "inactive_file", inactive_file),
        };

        return parse_keyed_fields(content, f, ELEMENTSOF(f), ret, sizeof(*ret));
}

static int parse_psi_line(const char *line, struct cg_psi_line *ret)
{
        struct cg_psi_line l = {};

        /* "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" */
        if (sscanf(line, "%*s avg10=%lf avg60=%lf avg300=%lf total=%" SCNu64, &l.avg10,
                   &l.avg60, &l.avg300, &l.total_usec) != 4)
                return -EBADMSG;
        *ret = l;
        return 0;
}

int cg_parse_pressure(const char *content, struct cg_pressure *ret)
{
        struct cg_pressure p = {};
        bool some = false;

        for (const char *line = content; line && *line;) {
                int r = 0;

                if (strncmp(line, "some ", 5) == 0) {
                        r = parse_psi_line(line, &p.some);
                        some = true;
                } else if (strncmp(line, "full ", 5) == 0)
                        r = parse_psi_line(line, &p.full);
                if (r < 0)
                        return r;
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        if (!some)
                return -EBADMSG;
        p.valid = true;
        *ret = p;
        return 0;
}

/* One io.stat line, "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"; 0 for a blank
 * line, 1 for a device. `l` is modified. */
static int parse_io_stat_line(char *l, struct cg_io_stat *ret)
{
        static const struct keyed_field f[] = {
                F(struct cg_io_stat, "rbytes", rbytes), F(struct cg_io_stat, "wbytes", wbytes),
                F(struct cg_io_stat, "rios", rios),     F(struct cg_io_stat, "wios", wios),
                F(struct cg_io_stat, "dbytes", dbytes), F(struct cg_io_stat, "dios", dios),
        };
        struct cg_io_stat s = {};
        char *save = NULL, *tok = strtok_r(l, " ", &save);

        if (!tok)
                return 0;
        if (sscanf(tok, "%u:%u", &s.major, &s.minor) != 2)
                return -EBADMSG;
        while ((tok = strtok_r(NULL, " ", &save))) {
                const struct keyed_field *k;
                char *eq = strchr(tok, '=');
                uint64_t x;

                if (!eq || cg_parse_max_u64(eq + 1, &x) < 0)
                        continue;       /* newer keys with other formats */
                *eq = 0;
                k = keyed_field_find(f, ELEMENTSOF(f), tok);
                if (k)
                        *(uint64_t *)((char *)&s + k->offset) = x;
        }
        *ret = s;
        return 1;
}

int cg_parse_io_stat(const char *content, struct cg_io_stat **ret, size_t *ret_n)
{
        _cleanup_free_ struct cg_io_stat *v = NULL;
        size_t n = 0, cap = 0;

        for (const char *line = content; line && *line;) {
                const char *eol = strchr(line, '\n');
                _cleanup_free_ char *l = strndup(line, eol ? (size_t)(eol - line) : strlen(line));
                struct cg_io_stat s;
                int r;

                if (!l)
                        return -ENOMEM;
                r = parse_io_stat_line(l, &s);
                if (r < 0)
                        return r;
                if (r > 0) {
                        if (!ARRAY_GROW(v, cap, n + 1))
                                return -ENOMEM;
                        v[n++] = s;
                }
                line = eol ? eol + 1 : NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* The entry of device ma:mi in v, added (no limit, the default weight) when missing. */
static struct cg_io_limit *limit_for(struct cg_io_limit **v, size_t *n, size_t *cap,
                                     unsigned ma, unsigned mi, uint32_t default_weight)
{
        for (size_t i = 0; i < *n; i++)
                if ((*v)[i].major == ma && (*v)[i].minor == mi)
                        return &(*v)[i];
        if (!ARRAY_GROW(*v, *cap, *n + 1))
                return NULL;
        (*v)[*n] = (struct cg_io_limit){ .major = ma, .minor = mi,
                                         .limit = {CG_MAX, CG_MAX, CG_MAX, CG_MAX},
                                         .weight = default_weight };
        return &(*v)[(*n)++];
}

/* The "rbps=N wbps=max ..." keys of one io.max line (after "MAJ:MIN") into l->limit. */
static int parse_io_max_keys(const char *line, struct cg_io_limit *l)
{
        for (const char *p = strchr(line, ' '); p && *p && *p != '\n'; p = strpbrk(p, " \n")) {
                uint64_t x;
                char key[16];

                p += strspn(p, " ");
                if (sscanf(p, "%15[a-z]=", key) != 1)
                        break;
                if (cg_parse_max_u64(p + strlen(key) + 1, &x) < 0)
                        return -EBADMSG;
                FOREACH_IO_LIMIT(k)
                        if (streq(key, silo_io_limit_to_string(k)))
                                l->limit[k] = x;
        }
        return 0;
}

int cg_parse_io_limits(const char *io_max, const char *io_weight, struct cg_io_limit **ret,
                       size_t *ret_n)
{
        _cleanup_free_ struct cg_io_limit *v = NULL;
        uint32_t def = 100;
        size_t n = 0, cap = 0;
        const char *d;

        /* io.weight: "default 100" then "MAJ:MIN W" lines. */
        if (io_weight && (d = strstr(io_weight, "default ")))
                (void)sscanf(d, "default %" SCNu32, &def);
        for (const char *line = io_max; line && *line;) {
                struct cg_io_limit *l;
                unsigned ma, mi;

                if (sscanf(line, "%u:%u", &ma, &mi) == 2) {
                        l = limit_for(&v, &n, &cap, ma, mi, def);
                        if (!l)
                                return -ENOMEM;
                        if (parse_io_max_keys(line, l) < 0)
                                return -EBADMSG;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        for (const char *line = io_weight; line && *line;) {
                unsigned ma, mi, w;

                if (sscanf(line, "%u:%u %u", &ma, &mi, &w) == 3) {
                        struct cg_io_limit *l = limit_for(&v, &n, &cap, ma, mi, def);

                        if (!l)
                                return -ENOMEM;
                        l->weight = w;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* io.cost.qos: "MAJ:MIN enable=1 ctrl=user rpct=... " per configured device. */
bool cg_parse_iocost_enabled(const char *io_cost_qos, dev_t dev)
{
        for (const char *line = io_cost_qos; line && *line;) {
                unsigned ma, mi;

                if (sscanf(line, "%u:%u", &ma, &mi) == 2 && makedev(ma, mi) == dev) {
                        const char *eol = strchr(line, '\n');
                        const char *e = strstr(line, "enable=1");

                        return e && (!eol || e < eol);
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

int cg_parse_scheduler(const char *content, char *buf, size_t size)
{
        const char *open = strchr(content, '['), *close;

        if (!open) {
                /* single-queue "none" devices print just "none" */
                size_t n = strcspn(content, " \n");

                if (n == 0 || n >= size)
                        return -EBADMSG;
                memcpy(buf, content, n);
                buf[n] = 0;
                return 0;
        }
        close = strchr(open, ']');
        if (!close || (size_t)(close - open - 1) >= size || close == open + 1)
                return -EBADMSG;
        memcpy(buf, open + 1, close - open - 1);
        buf[close - open - 1] = 0;
        return 0;
}

int cg_parse_events(const char *content, bool *ret_populated, bool *ret_frozen)
{
        uint64_t p, f = 0;
        int r;

        r = cg_parse_keyed_u64(content, "populated", &p);
        if (r < 0)
                return r == -ENOENT ? -EBADMSG : r;
        (void)cg_parse_keyed_u64(content, "frozen", &f);  /* before 5.2: no freezer */
        *ret_populated = p != 0;
        if (ret_frozen)
                *ret_frozen = f != 0;
        return 0;
}

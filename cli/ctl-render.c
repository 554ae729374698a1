/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's human output: tables for lists, aligned key/value trees for objects. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/ctl-render.h"
#include "common/macro.h"
#include "silo/protocol.h"

void ctl_format_bytes(double v, char *buf, size_t n)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        size_t u = 0;

        while (fabs(v) >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0 || v >= 100)
                snprintf(buf, n, "%.0f %s", v, units[u]);
        else
                snprintf(buf, n, "%.1f %s", v, units[u]);
}

/* Keys whose numbers are byte counts or byte rates: shown with units. */

static const char *const io_row_label[_SILO_IO_LIMIT_MAX] = {
    [SILO_IO_RBPS] = "read bytes/s",
    [SILO_IO_WBPS] = "write bytes/s",
    [SILO_IO_RIOPS] = "read IOPS",
    [SILO_IO_WIOPS] = "write IOPS",
};
static bool key_is_bytes(const char *key)
{
        static const char *const suffixes[] = {"bytes", "bps", "mem", "mem_high", "swap",
                                               "current", "peak", "max", "high", "anon",
                                               "file", "kernel", "shmem"};
        size_t kl = strlen(key);

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t sl = strlen(suffixes[i]);
                if (kl >= sl && streq(key + kl - sl, suffixes[i]))
                        return !strstr(key, "pids") && !strstr(key, "iops");
        }
        return false;
}

static void print_scalar(const char *key, const json_t *v)
{
        char b[64];

        if (json_is_string(v))
                fputs(json_string_value(v), stdout);
        else if (json_is_integer(v)) {
                if (key && key_is_bytes(key) && json_integer_value(v) >= 1024) {
                        ctl_format_bytes((double)json_integer_value(v), b, sizeof(b));
                        printf("%s%s", b, strstr(key, "bps") ? "/s" : "");
                } else
                        printf("%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v))
                printf("%.3g", json_real_value(v));
        else if (json_is_true(v))
                fputs("yes", stdout);
        else if (json_is_false(v))
                fputs("no", stdout);
        else if (json_is_null(v))
                fputs("-", stdout);
}

static bool is_scalar_array(const json_t *v)
{
        size_t i;
        json_t *e;

        json_array_foreach(v, i, e) if (json_is_object(e) || json_is_array(e)) return false;
        return true;
}

static void tree(const char *key, const json_t *v, int depth)
{
        const char *k;
        json_t *e;
        size_t i;

        if (json_is_object(v)) {
                if (key)
                        printf("%*s%s:\n", depth * 2, "", key);
                json_object_foreach((json_t *)v, k, e) tree(k, e, key ? depth + 1 : depth);
        } else if (json_is_array(v)) {
                if (is_scalar_array(v)) {
                        printf("%*s%s: ", depth * 2, "", strempty(key));
                        json_array_foreach(v, i, e)
                        {
                                if (i)
                                        fputs(json_is_string(e) ? " " : ", ", stdout);
                                print_scalar(key, e);
                        }
                        putchar('\n');
                        return;
                }
                printf("%*s%s:\n", depth * 2, "", strempty(key));
                json_array_foreach(v, i, e)
                {
                        char idx[32];
                        snprintf(idx, sizeof(idx), "[%zu]", i);
                        tree(idx, e, depth + 1);
                }
        } else {
                printf("%*s%s: ", depth * 2, "", strempty(key));
                print_scalar(key, v);
                putchar('\n');
        }
}

void ctl_render_tree(const json_t *v)
{
        tree(NULL, v, 0);
}

void ctl_render_task(const json_t *v)
{
        ctl_render_tree(v);
}

static const char *str(const json_t *o, const char *k)
{
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "-";
}

/* Lists come bare or wrapped ({"tasks": [...]}); accept both. */
static const json_t *list_of(const json_t *v, const char *key)
{
        if (json_is_array(v))
                return v;
        return json_object_get(v, key);
}

void ctl_render_tasks(const json_t *v)
{
        const json_t *a = list_of(v, "tasks");
        json_t *t;
        size_t i;

        printf("%-24s %-16s %-10s %-9s %-14s %s\n", "ID", "NAME", "ROLE", "STATE", "REASON",
               "WHERE/WHY");
        json_array_foreach(a, i, t)
        {
                char extra[256] = "-";
                json_t *ec = json_object_get(t, "exit_code");
                const char *pending = json_string_value(json_object_get(t, "pending_reason"));

                /* Where it runs (master: its agent's hostname), why it waits, or how it ended. */
                if (pending)
                        snprintf(extra, sizeof(extra), "%s", pending);
                else if (json_string_value(json_object_get(t, "hostname")))
                        snprintf(extra, sizeof(extra), "%s", str(t, "hostname"));
                else if (json_string_value(json_object_get(t, "agent_id")))
                        snprintf(extra, sizeof(extra), "%s", str(t, "agent_id"));
                else if (json_is_integer(ec) && json_integer_value(ec) >= 0)
                        snprintf(extra, sizeof(extra), "exit %lld",
                                 (long long)json_integer_value(ec));
                printf("%-24s %-16s %-10s %-9s %-14s %s\n", str(t, "id"), str(t, "name"),
                       str(t, "role"), str(t, "state"), str(t, "reason"), extra);
        }
}

void ctl_render_agents(const json_t *v)
{
        const json_t *a = list_of(v, "agents");
        json_t *ag;
        size_t i;

        printf("%-38s %-16s %-22s %-8s %6s %10s %5s\n", "ID", "HOSTNAME", "ADDRESS", "STATE",
               "CPUS", "MEM", "DISKS");
        json_array_foreach(a, i, ag)
        {
                json_t *res = json_object_get(ag, "resources");
                char mem[32] = "-";
                if (json_is_integer(json_object_get(res, "mem")))
                        ctl_format_bytes((double)json_integer_value(json_object_get(res, "mem")),
                                         mem, sizeof(mem));
                printf("%-38s %-16s %-22s %-8s %6.2f %10s %5zu\n", str(ag, "id"),
                       str(ag, "hostname"), str(ag, "address"), str(ag, "state"),
                       json_number_value(json_object_get(res, "cpus")), mem,
                       json_array_size(json_object_get(res, "disks")));
        }
}

void ctl_render_devices(const json_t *v)
{
        const json_t *a = list_of(v, "disks");
        json_t *d;
        size_t i;

        if (!a)
                a = list_of(v, "devices");
        printf("%-12s %-8s %-18s %-6s %12s %12s %10s %10s %s\n", "NAME", "DEVICE", "PATH",
               "CLASS", "READ", "WRITE", "R-IOPS", "W-IOPS", "SOURCE");
        json_array_foreach(a, i, d)
        {
                char rb[32] = "-", wb[32] = "-";
                json_int_t r = json_integer_value(json_object_get(d, "read_bps"));
                json_int_t w = json_integer_value(json_object_get(d, "write_bps"));
                if (r > 0) {
                        ctl_format_bytes((double)r, rb, sizeof(rb) - 2);
                        strcat(rb, "/s");
                }
                if (w > 0) {
                        ctl_format_bytes((double)w, wb, sizeof(wb) - 2);
                        strcat(wb, "/s");
                }
                printf("%-12s %-8s %-18s %-6s %12s %12s %10lld %10lld %s\n", str(d, "name"),
                       str(d, "device"), str(d, "path"), str(d, "class"), rb, wb,
                       (long long)json_integer_value(json_object_get(d, "read_iops")),
                       (long long)json_integer_value(json_object_get(d, "write_iops")),
                       str(d, "source"));
        }
}

/* One LIMIT vs MEASURED cell pair: a limit is an integer or "max"; a measurement a real. */
static void isolation_row(const char *label, const json_t *limit, const json_t *measured,
                          bool bytes)
{
        char l[32] = "-", m[32] = "-";

        if (json_is_string(limit))
                snprintf(l, sizeof(l), "%s", json_string_value(limit));
        else if (json_is_integer(limit) && bytes) {
                ctl_format_bytes((double)json_integer_value(limit), l, sizeof(l) - 2);
                strcat(l, "/s");
        } else if (json_is_integer(limit))
                snprintf(l, sizeof(l), "%lld", (long long)json_integer_value(limit));
        if (json_is_number(measured) && bytes) {
                ctl_format_bytes(json_number_value(measured), m, sizeof(m) - 2);
                strcat(m, "/s");
        } else if (json_is_number(measured))
                snprintf(m, sizeof(m), "%.0f", json_number_value(measured));
        printf("  %-16s %14s %14s\n", label, l, m);
}

/* limits.io[] with the agent's eBPF figures (agent/measure.h): a LIMIT vs MEASURED table per
 * device, after the generic tree of everything else. */
static void isolation_io_tables(const json_t *v)
{
        const json_t *io = json_object_get(json_object_get(v, "limits"), "io");
        const json_t *top = json_object_get(v, "measured");
        const char *error = json_string_value(json_object_get(top, "error"));
        json_t *d;
        size_t i;

        if (!json_is_array(io) || json_array_size(io) == 0)
                return;
        putchar('\n');
        if (error)
                printf("I/O measurements: unavailable (%s)\n", error);
        json_array_foreach(io, i, d)
        {
                const json_t *m = json_object_get(d, "measured");
                const json_t *p50 = json_object_get(m, "p50_us"), *p99 = json_object_get(m, "p99_us");
                char lat[64] = "-";

                if (json_is_number(p50) && json_is_number(p99))
                        snprintf(lat, sizeof(lat), "%.0f / %.0f us", json_number_value(p50),
                                 json_number_value(p99));
                else if (json_is_object(m))
                        snprintf(lat, sizeof(lat), "no I/O");
                if (json_is_object(m))
                        printf("I/O %s (%s), measured over %.1f s:\n", str(d, "name"),
                               str(d, "device"), json_number_value(json_object_get(m, "interval_s")));
                else
                        printf("I/O %s (%s), not measured:\n", str(d, "name"), str(d, "device"));
                printf("  %-16s %14s %14s\n", "", "LIMIT", "MEASURED");
                FOREACH_IO_LIMIT(l)
                        isolation_row(io_row_label[l], json_object_get(d, silo_io_limit_to_string(l)),
                                      json_object_get(m, silo_io_figure_to_string(l)),
                                      l == SILO_IO_RBPS || l == SILO_IO_WBPS);
                printf("  %-16s %14s %14s\n", "latency p50/p99", "-", lat);
        }
}

void ctl_render_isolation(const json_t *v)
{
        json_t *rest = json_deep_copy(v), *io, *d;
        size_t i;

        /* The measured figures go in the tables below, not twice. */
        io = json_object_get(json_object_get(rest, "limits"), "io");
        json_array_foreach(io, i, d)
                json_object_del(d, "measured");
        json_object_del(rest, "measured");
        ctl_render_tree(rest ? rest : v);
        json_decref(rest);
        isolation_io_tables(v);
}

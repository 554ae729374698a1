/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's human output: tables sized from the data, short reports for one task or agent,
 * and siloctl top's rows. No I/O but the FILE given; the clock comes in through the view. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl-render.h"
#include "common/macro.h"
#include "silo/protocol.h"

/* ---- formatting ---- */

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

void ctl_format_compact(double v, char *buf, size_t n)
{
        static const char units[] = " KMGTP";
        size_t u = 0;

        if (isnan(v)) {
                snprintf(buf, n, "-");
                return;
        }
        while (fabs(v) >= 1024 && u + 1 < sizeof(units) - 1) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, n, "%.0f", v);
        else if (v >= 100 || v == floor(v))
                snprintf(buf, n, "%.0f%c", v, units[u]);
        else
                snprintf(buf, n, "%.1f%c", v, units[u]);
}

void ctl_format_age(int64_t ms, char *buf, size_t n)
{
        int64_t s = ms / 1000;

        if (s < 0)
                s = 0;
        if (s < 120)
                snprintf(buf, n, "%llds", (long long)s);
        else if (s < 600)
                snprintf(buf, n, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
        else if (s < 3 * 3600)
                snprintf(buf, n, "%lldm", (long long)(s / 60));
        else if (s < 8 * 3600)
                snprintf(buf, n, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
        else if (s < 48 * 3600)
                snprintf(buf, n, "%lldh", (long long)(s / 3600));
        else
                snprintf(buf, n, "%lldd", (long long)(s / 86400));
}

void ctl_format_time(int64_t ms, int64_t now_ms, char *buf, size_t n)
{
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char age[32], when[32] = "?";

        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        ctl_format_age(now_ms - ms, age, sizeof(age));
        snprintf(buf, n, "%s (%s ago)", when, age);
}

void ctl_format_usec(double us, char *buf, size_t n)
{
        if (isnan(us))
                snprintf(buf, n, "-");
        else if (us < 1000)
                snprintf(buf, n, "%.0fus", us);
        else if (us < 1e6)
                snprintf(buf, n, "%.*fms", us < 1e4 ? 1 : 0, us / 1000);
        else
                snprintf(buf, n, "%.2fs", us / 1e6);
}

void ctl_short_id(const char *id, char *buf, size_t n)
{
        snprintf(buf, n, "%.8s", id ? id : "-");
}

/* Display columns of a UTF-8 string (code points; CJK double width is not considered). */
static size_t text_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                w += ((unsigned char)*s & 0xc0) != 0x80;
        return w;
}

/* Byte length of the first `cols` display columns of s. */
static size_t text_prefix(const char *s, size_t cols)
{
        size_t i = 0, w = 0;

        for (; s[i]; i++) {
                if (((unsigned char)s[i] & 0xc0) != 0x80 && w++ == cols)
                        break;
        }
        return i;
}

/* ---- tables ---- */

void ctl_table_init(struct ctl_table *t, const struct ctl_col *cols, size_t n_cols)
{
        assert(n_cols <= CTL_TABLE_MAX_COLS);
        *t = (struct ctl_table){.cols = cols, .n_cols = n_cols};
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
        if (t->n_rows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                char **c = reallocarray(t->cells, cap * t->n_cols, sizeof(char *));

                if (!c)
                        return -ENOMEM;
                t->cells = c;
                t->cap = cap;
        }
        for (size_t i = 0; i < t->n_cols; i++) {
                char *s = strdup(cells[i] && cells[i][0] ? cells[i] : "-");

                if (!s) {
                        while (i > 0)
                                free(t->cells[t->n_rows * t->n_cols + --i]);
                        return -ENOMEM;
                }
                t->cells[t->n_rows * t->n_cols + i] = s;
        }
        t->n_rows++;
        return 0;
}

void ctl_table_done(struct ctl_table *t)
{
        for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (struct ctl_table){};
}

static void print_cell(FILE *f, const char *s, size_t w, bool right, bool last)
{
        size_t tw = text_width(s);

        if (tw > w) {
                /* Cut: keep w - 1 columns and mark the cut. */
                fprintf(f, "%.*s~", (int)text_prefix(s, w ? w - 1 : 0), s);
                tw = w;
        } else if (right)
                fprintf(f, "%*s%s", (int)(w - tw), "", s);
        else
                fputs(s, f);
        if (!right && !last)
                fprintf(f, "%*s", (int)(w - tw), "");
}

void ctl_table_print(const struct ctl_table *t, FILE *f, int width)
{
        size_t w[CTL_TABLE_MAX_COLS], total = 0, shown = 0, last = 0;
        bool show[CTL_TABLE_MAX_COLS];

        for (size_t c = 0; c < t->n_cols; c++) {
                bool empty = true;

                w[c] = text_width(t->cols[c].header);
                for (size_t r = 0; r < t->n_rows; r++) {
                        const char *s = t->cells[r * t->n_cols + c];

                        w[c] = MAX(w[c], text_width(s));
                        empty = empty && streq(s, "-");
                }
                show[c] = !(t->cols[c].hide_empty && empty && t->n_rows > 0);
                if (show[c]) {
                        total += w[c] + (shown ? 2 : 0);
                        shown++;
                        last = c;
                }
        }
        /* Too wide: take a column at a time from the widest shrinkable one, down to its
         * header's width (and at least 4), until it fits or nothing can give. */
        while (width > 0 && total > (size_t)width) {
                size_t best = SIZE_MAX;

                for (size_t c = 0; c < t->n_cols; c++) {
                        size_t min = MAX(text_width(t->cols[c].header), (size_t)4);

                        if (show[c] && t->cols[c].shrink && w[c] > min && (best == SIZE_MAX || w[c] > w[best]))
                                best = c;
                }
                if (best == SIZE_MAX)
                        break;
                w[best]--;
                total--;
        }
        for (size_t r = 0; r <= t->n_rows; r++) {
                bool first = true;

                for (size_t c = 0; c < t->n_cols; c++) {
                        if (!show[c])
                                continue;
                        if (!first)
                                fputs("  ", f);
                        first = false;
                        print_cell(f, r == 0 ? t->cols[c].header : t->cells[(r - 1) * t->n_cols + c], w[c],
                                   t->cols[c].right, c == last);
                }
                fputc('\n', f);
        }
}

/* Print a view's table, or what it lists when there is nothing, and free it. */
static void table_finish(FILE *f, struct ctl_table *tab, const char *none, const struct ctl_view *view)
{
        if (tab->n_rows == 0)
                fprintf(f, "%s\n", none);
        else
                ctl_table_print(tab, f, view->width);
        ctl_table_done(tab);
}

/* ---- JSON helpers ---- */

static const char *str(const json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

/* A number, NAN when absent, null or "max". */
static double num(const json_t *v)
{
        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Lists come bare or wrapped ({"tasks": [...]}); accept both. */
static const json_t *list_of(const json_t *v, const char *key)
{
        return json_is_array(v) ? v : json_object_get(v, key);
}

/* One "Key:      value" line, cut to the width. */
_printf_(4, 5) static void line(FILE *f, const struct ctl_view *view, const char *key, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        size_t max;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        max = view->width > 12 ? (size_t)view->width - 11 : SIZE_MAX;
        if (text_width(buf) > max)
                fprintf(f, "%-10s %.*s~\n", key, (int)text_prefix(buf, max - 1), buf);
        else
                fprintf(f, "%-10s %s\n", key, buf);
}

/* Append to a fixed buffer, separated by sep when it is not empty. */
_printf_(4, 5) static void append(char *buf, size_t n, const char *sep, const char *fmt, ...)
{
        size_t l = strlen(buf);
        va_list ap;

        if (l && sep && l + strlen(sep) < n) {
                strcpy(buf + l, sep);
                l += strlen(sep);
        }
        if (l >= n)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + l, n - l, fmt, ap);
        va_end(ap);
}

/* A byte value that may be "max" (or absent). */
static void bytes_or_max(const json_t *v, char *buf, size_t n)
{
        if (json_is_string(v))
                snprintf(buf, n, "%s", json_string_value(v));
        else if (json_is_number(v))
                ctl_format_bytes(json_number_value(v), buf, n);
        else
                snprintf(buf, n, "-");
}

/* ---- generic tree (agent; anything without a report of its own) ---- */

static void print_scalar(FILE *f, const json_t *v)
{
        if (json_is_string(v))
                fputs(json_string_value(v), f);
        else if (json_is_integer(v))
                fprintf(f, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
                fprintf(f, "%.3g", json_real_value(v));
        else if (json_is_boolean(v))
                fputs(json_is_true(v) ? "yes" : "no", f);
        else
                fputs("-", f);
}

static void tree(FILE *f, const char *key, const json_t *v, int depth)
{
        const char *k;
        json_t *e;
        size_t i;

        if (json_is_object(v)) {
                if (key)
                        fprintf(f, "%*s%s:\n", depth * 2, "", key);
                json_object_foreach((json_t *)v, k, e) tree(f, k, e, key ? depth + 1 : depth);
        } else if (json_is_array(v)) {
                fprintf(f, "%*s%s:", depth * 2, "", strempty(key));
                json_array_foreach(v, i, e) if (json_is_object(e) || json_is_array(e)) break;
                if (i == json_array_size(v)) {
                        json_array_foreach(v, i, e)
                        {
                                fputc(' ', f);
                                print_scalar(f, e);
                        }
                        fputc('\n', f);
                        return;
                }
                fputc('\n', f);
                json_array_foreach(v, i, e)
                {
                        char idx[32];
                        snprintf(idx, sizeof(idx), "[%zu]", i);
                        tree(f, idx, e, depth + 1);
                }
        } else {
                fprintf(f, "%*s%s: ", depth * 2, "", strempty(key));
                print_scalar(f, v);
                fputc('\n', f);
        }
}

void ctl_render_tree(FILE *f, const json_t *v, const struct ctl_view *view)
{
        (void)view;
        tree(f, NULL, v, 0);
}

/* ---- tasks ---- */

/* Created time of a task: the master's created_ms, the agent's timestamps.created_ms. */
static int64_t task_created_ms(const json_t *t)
{
        const json_t *c = json_object_get(t, "created_ms");

        if (!json_is_integer(c))
                c = json_object_get(json_object_get(t, "timestamps"), "created_ms");
        return json_is_integer(c) ? json_integer_value(c) : 0;
}

bool ctl_state_ended(const char *state)
{
        int s = state ? silo_task_state_from_string(state) : -EINVAL;

        return s >= 0 && silo_task_state_is_terminal(s);
}

/* Why a task waits or how it ended, in a few words. */
static void task_info(const json_t *t, char *buf, size_t n)
{
        const char *pending = str(t, "pending_reason"), *reason = str(t, "reason");
        const json_t *ec = json_object_get(t, "exit_code"), *sig = json_object_get(t, "signal");

        buf[0] = '\0';
        if (pending) {
                snprintf(buf, n, "%s", pending);
                return;
        }
        if (!ctl_state_ended(str(t, "state")))
                return;
        if (json_is_integer(sig) && json_integer_value(sig) > 0)
                append(buf, n, ", ", "signal %lld", (long long)json_integer_value(sig));
        else if (json_is_integer(ec) && json_integer_value(ec) >= 0)
                append(buf, n, ", ", "exit %lld", (long long)json_integer_value(ec));
        if (reason && !streq(reason, "NONE"))
                append(buf, n, ", ", "%s", reason);
}

static void node_of(const json_t *t, char *buf, size_t n)
{
        if (str(t, "hostname"))
                snprintf(buf, n, "%s", str(t, "hostname"));
        else
                ctl_short_id(str(t, "agent_id"), buf, n);
}

void ctl_render_tasks(FILE *f, const json_t *v, const struct ctl_view *view)
{
        static const struct ctl_col cols[] = {
                {"ID"}, {"NAME", .shrink = true}, {"ROLE", .hide_empty = true}, {"STATE"},
                {"AGE", .right = true}, {"NODE", .shrink = true, .hide_empty = true},
                {"INFO", .shrink = true, .hide_empty = true},
        };
        const json_t *a = list_of(v, "tasks");
        struct ctl_table tab;
        json_t *t;
        size_t i;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        json_array_foreach(a, i, t)
        {
                char id[16], age[32] = "-", node[64], info[256];
                int64_t created = task_created_ms(t);

                ctl_short_id(str(t, "id"), id, sizeof(id));
                if (created)
                        ctl_format_age(view->now_ms - created, age, sizeof(age));
                node_of(t, node, sizeof(node));
                task_info(t, info, sizeof(info));
                if (ctl_table_add(&tab, (const char *[]){id, str(t, "name"), str(t, "role"), str(t, "state"),
                                                         age, node, info}) < 0)
                        break;
        }
        table_finish(f, &tab, "No tasks.", view);
}

/* A spec's exact figure as the user likely wrote it: "20M", "512Mi", else "19.1 MiB". */
static void spec_quantity(uint64_t v, char *buf, size_t n)
{
        static const char *const bin[] = {"Pi", "Ti", "Gi", "Mi", "Ki"}, *const dec[] = {"P", "T", "G", "M", "k"};

        for (size_t i = 0; v && i < ELEMENTSOF(bin); i++) {
                uint64_t b = 1ull << (10 * (5 - i)), d = 1;

                for (size_t j = i; j < ELEMENTSOF(dec); j++)
                        d *= 1000;
                if (v % b == 0) {
                        snprintf(buf, n, "%llu%s", (unsigned long long)(v / b), bin[i]);
                        return;
                }
                if (v % d == 0) {
                        snprintf(buf, n, "%llu%s", (unsigned long long)(v / d), dec[i]);
                        return;
                }
        }
        ctl_format_bytes((double)v, buf, n);
}

/* "cpus 1, mem 256 MiB, pids 64" and "nullb0 wbps 20M; ..." from a spec's resources. */
static void resources_line(const json_t *res, char *buf, size_t n, char *io_buf, size_t io_n)
{
        const json_t *io = json_object_get(res, "io"), *d;
        char b[32];
        size_t i;

        buf[0] = io_buf[0] = '\0';
        if (json_is_number(json_object_get(res, "cpus")))
                append(buf, n, ", ", "cpus %g", json_number_value(json_object_get(res, "cpus")));
        if (json_object_get(res, "mem")) {
                bytes_or_max(json_object_get(res, "mem"), b, sizeof(b));
                append(buf, n, ", ", "mem %s", b);
        }
        if (json_object_get(res, "pids")) {
                if (json_is_string(json_object_get(res, "pids")))
                        append(buf, n, ", ", "pids %s", str(res, "pids"));
                else
                        append(buf, n, ", ", "pids %lld", (long long)json_integer_value(json_object_get(res, "pids")));
        }
        json_array_foreach(io, i, d)
        {
                const char *k;
                json_t *val;

                append(io_buf, io_n, "; ", "%s", str(d, "disk") ? str(d, "disk") : strempty(str(d, "device")));
                json_object_foreach((json_t *)d, k, val)
                {
                        if (streq(k, "disk") || streq(k, "device"))
                                continue;
                        if (json_is_string(val))
                                append(io_buf, io_n, " ", "%s %s", k, json_string_value(val));
                        else if (json_is_integer(val) && strstr(k, "bps")) {
                                spec_quantity((uint64_t)json_integer_value(val), b, sizeof(b));
                                append(io_buf, io_n, " ", "%s %s/s", k, b);
                        } else if (json_is_number(val))
                                append(io_buf, io_n, " ", "%s %g", k, json_number_value(val));
                }
        }
}

void ctl_render_task(FILE *f, const json_t *v, const struct ctl_view *view)
{
        const json_t *spec = json_object_get(v, "spec"), *cmd = json_object_get(spec, "command"),
                     *hist = json_object_get(v, "history"), *ts = json_object_get(v, "timestamps"), *e;
        const char *state = str(v, "state");
        char buf[1024], io[512], info[256], node[64], when[96];
        int64_t created = task_created_ms(v);
        size_t i;

        line(f, view, "ID:", "%s", strempty(str(v, "id")));
        if (str(v, "name") || str(v, "role"))
                line(f, view, "Name:", "%s%s%s", str(v, "name") ? str(v, "name") : "-",
                     str(v, "role") ? "   role " : "", strempty(str(v, "role")));
        task_info(v, info, sizeof(info));
        line(f, view, "State:", "%s%s%s%s", strempty(state), info[0] ? " (" : "", info, info[0] ? ")" : "");
        if (str(v, "message"))
                line(f, view, "Message:", "%s", str(v, "message"));
        if (str(v, "agent_id") || str(v, "hostname")) {
                node_of(v, node, sizeof(node));
                line(f, view, "Node:", "%s%s%s%s", node, str(v, "hostname") ? " (agent " : "",
                     str(v, "hostname") ? strempty(str(v, "agent_id")) : "", str(v, "hostname") ? ")" : "");
        }
        if (created) {
                ctl_format_time(created, view->now_ms, when, sizeof(when));
                line(f, view, "Created:", "%s", when);
        }
        if (json_is_integer(json_object_get(ts, "started_ms"))) {
                ctl_format_time(json_integer_value(json_object_get(ts, "started_ms")), view->now_ms, when,
                                sizeof(when));
                line(f, view, "Started:", "%s", when);
        }
        if (json_is_integer(json_object_get(ts, "finished_ms"))) {
                ctl_format_time(json_integer_value(json_object_get(ts, "finished_ms")), view->now_ms, when,
                                sizeof(when));
                line(f, view, "Finished:", "%s", when);
        }
        if (json_is_integer(json_object_get(v, "pid")))
                line(f, view, "PID:", "%lld", (long long)json_integer_value(json_object_get(v, "pid")));
        if (json_is_array(cmd)) {
                buf[0] = '\0';
                json_array_foreach(cmd, i, e) append(buf, sizeof(buf), " ", "%s", strempty(json_string_value(e)));
                line(f, view, "Command:", "%s", buf);
        }
        resources_line(json_object_get(spec, "resources"), buf, sizeof(buf), io, sizeof(io));
        if (buf[0])
                line(f, view, "Resources:", "%s", buf);
        if (io[0])
                line(f, view, "I/O:", "%s", io);
        if (str(v, "cgroup"))
                line(f, view, "Cgroup:", "%s", str(v, "cgroup"));
        if (json_array_size(hist) > 0) {
                int64_t t0 = json_integer_value(json_object_get(json_array_get(hist, 0), "timestamp_ms"));

                buf[0] = '\0';
                json_array_foreach(hist, i, e)
                {
                        int64_t t = json_integer_value(json_object_get(e, "timestamp_ms"));

                        if (i == 0)
                                append(buf, sizeof(buf), NULL, "%s", strempty(str(e, "state")));
                        else
                                append(buf, sizeof(buf), " -> ", "%s +%.1fs", strempty(str(e, "state")),
                                       (double)(t - t0) / 1000.0);
                }
                line(f, view, "History:", "%s", buf);
        }
}

/* ---- agents and devices ---- */

void ctl_render_agents(FILE *f, const json_t *v, const struct ctl_view *view)
{
        static const struct ctl_col cols[] = {
                {"ID"}, {"HOSTNAME", .shrink = true}, {"ADDRESS", .shrink = true}, {"STATE"},
                {"CPUS", .right = true}, {"MEM", .right = true}, {"DISKS", .right = true},
                {"AGE", .right = true},
        };
        const json_t *a = list_of(v, "agents");
        struct ctl_table tab;
        json_t *ag;
        size_t i;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        json_array_foreach(a, i, ag)
        {
                const json_t *res = json_object_get(ag, "resources");
                const json_t *reg = json_object_get(ag, "registered_ms");
                char id[16], cpus[32], mem[32], disks[16], age[32] = "-";

                ctl_short_id(str(ag, "id"), id, sizeof(id));
                snprintf(cpus, sizeof(cpus), "%g", num(json_object_get(res, "cpus")));
                bytes_or_max(json_object_get(res, "mem"), mem, sizeof(mem));
                snprintf(disks, sizeof(disks), "%zu", json_array_size(json_object_get(res, "disks")));
                if (json_is_integer(reg) && json_integer_value(reg) > 0)
                        ctl_format_age(view->now_ms - json_integer_value(reg), age, sizeof(age));
                if (ctl_table_add(&tab, (const char *[]){id, str(ag, "hostname"), str(ag, "address"),
                                                         str(ag, "state"), cpus, mem, disks, age}) < 0)
                        break;
        }
        table_finish(f, &tab, "No agents.", view);
}

static void rate(const json_t *v, char *buf, size_t n)
{
        if (json_is_number(v) && json_number_value(v) > 0) {
                ctl_format_bytes(json_number_value(v), buf, n - 2);
                strcat(buf, "/s");
        } else
                snprintf(buf, n, "-");
}

static void count(const json_t *v, char *buf, size_t n)
{
        if (json_is_number(v))
                snprintf(buf, n, "%.0f", json_number_value(v));
        else
                snprintf(buf, n, "-");
}

static void devices_table(FILE *f, const json_t *a, const struct ctl_view *view)
{
        static const struct ctl_col cols[] = {
                {"NAME", .shrink = true}, {"DEVICE"}, {"PATH", .shrink = true, .hide_empty = true},
                {"CLASS", .hide_empty = true}, {"READ", .right = true}, {"WRITE", .right = true},
                {"R-IOPS", .right = true}, {"W-IOPS", .right = true}, {"SOURCE", .hide_empty = true},
                {"MOUNT", .shrink = true, .hide_empty = true},
        };
        struct ctl_table tab;
        json_t *d;
        size_t i;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        json_array_foreach(a, i, d)
        {
                char rb[32], wb[32], ri[32], wi[32];

                rate(json_object_get(d, "read_bps"), rb, sizeof(rb));
                rate(json_object_get(d, "write_bps"), wb, sizeof(wb));
                count(json_object_get(d, "read_iops"), ri, sizeof(ri));
                count(json_object_get(d, "write_iops"), wi, sizeof(wi));
                if (ctl_table_add(&tab, (const char *[]){str(d, "name"), str(d, "device"), str(d, "path"),
                                                         str(d, "class"), rb, wb, ri, wi, str(d, "source"),
                                                         str(d, "mount")}) < 0)
                        break;
        }
        table_finish(f, &tab, "No disks.", view);
}

void ctl_render_devices(FILE *f, const json_t *v, const struct ctl_view *view)
{
        const json_t *a = list_of(v, "disks");

        devices_table(f, a ? a : list_of(v, "devices"), view);
}

void ctl_render_agent(FILE *f, const json_t *v, const struct ctl_view *view)
{
        const json_t *res = json_object_get(v, "resources"), *free_ = json_object_get(v, "free"),
                     *attrs = json_object_get(v, "attributes"), *val;
        const json_t *reg = json_object_get(v, "registered_ms"), *upd = json_object_get(v, "updated_ms");
        char buf[512] = "", mem[32], when[96];
        const char *k;

        line(f, view, "ID:", "%s", strempty(str(v, "id")));
        line(f, view, "Hostname:", "%s   address %s   version %s", str(v, "hostname") ? str(v, "hostname") : "-",
             str(v, "address") ? str(v, "address") : "-", str(v, "version") ? str(v, "version") : "-");
        line(f, view, "State:", "%s", strempty(str(v, "state")));
        if (json_is_integer(reg)) {
                ctl_format_time(json_integer_value(reg), view->now_ms, when, sizeof(when));
                line(f, view, "Joined:", "%s", when);
        }
        if (json_is_integer(upd)) {
                ctl_format_time(json_integer_value(upd), view->now_ms, when, sizeof(when));
                line(f, view, "Last seen:", "%s", when);
        }
        json_object_foreach((json_t *)attrs, k, val) append(buf, sizeof(buf), ", ", "%s=%s", k,
                                                            strempty(json_string_value(val)));
        if (buf[0])
                line(f, view, "Attributes:", "%s", buf);
        bytes_or_max(json_object_get(res, "mem"), mem, sizeof(mem));
        line(f, view, "Capacity:", "cpus %g, mem %s%s", num(json_object_get(res, "cpus")), mem,
             json_is_integer(json_object_get(res, "pids")) ? ", pids limited" : "");
        if (free_) {
                bytes_or_max(json_object_get(free_, "mem"), mem, sizeof(mem));
                line(f, view, "Free:", "cpus %g, mem %s", num(json_object_get(free_, "cpus")), mem);
        }
        if (json_is_array(json_object_get(v, "tasks")))
                line(f, view, "Tasks:", "%zu", json_array_size(json_object_get(v, "tasks")));
        if (json_array_size(json_object_get(res, "disks")) > 0) {
                fputs("Disks:\n", f);
                devices_table(f, json_object_get(res, "disks"), view);
        }
}

/* ---- persistent volumes ---- */

/* "t1, t2" of a volume's "tasks" (full ids: a volume's users are few). */
static void volume_tasks(const json_t *v, char *buf, size_t n)
{
        json_t *t;
        size_t i;

        buf[0] = '\0';
        json_array_foreach(json_object_get(v, "tasks"), i, t) append(buf, n, ", ", "%s",
                                                                     strempty(json_string_value(t)));
        if (!buf[0])
                snprintf(buf, n, "-");
}

/* NAME AGENT DISK SIZE USED STATE TASKS, from a master ("agent_id") or an agent (none). */
void ctl_render_volumes(FILE *f, const json_t *v, const struct ctl_view *view)
{
        static const struct ctl_col cols[] = {
                {"NAME", .shrink = true}, {"AGENT", .hide_empty = true}, {"DISK"},
                {"SIZE", .right = true},  {"USED", .right = true},       {"STATE"},
                {"TASKS", .shrink = true},
        };
        struct ctl_table tab;
        json_t *vol;
        size_t i;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        json_array_foreach(list_of(v, "volumes"), i, vol)
        {
                char agent[16] = "", size[32], used[32], tasks[512];
                /* a master's: one its agent no longer reports is flagged (kept, not dropped) */
                const char *state = json_is_true(json_object_get(vol, "missing")) ? "missing"
                                                                                  : str(vol, "state");

                if (str(vol, "agent_id"))
                        ctl_short_id(str(vol, "agent_id"), agent, sizeof(agent));
                bytes_or_max(json_object_get(vol, "size"), size, sizeof(size));
                bytes_or_max(json_object_get(vol, "used_bytes"), used, sizeof(used));
                volume_tasks(vol, tasks, sizeof(tasks));
                if (ctl_table_add(&tab, (const char *[]){str(vol, "name"), agent, str(vol, "disk"), size,
                                                         used, state, tasks}) < 0)
                        break;
        }
        table_finish(f, &tab, "No volumes.", view);
}

void ctl_render_volume(FILE *f, const json_t *v, const struct ctl_view *view)
{
        const json_t *created = json_object_get(v, "created_ms");
        char size[32], used[32], tasks[512], when[96];

        bytes_or_max(json_object_get(v, "size"), size, sizeof(size));
        bytes_or_max(json_object_get(v, "used_bytes"), used, sizeof(used));
        volume_tasks(v, tasks, sizeof(tasks));
        line(f, view, "Name:", "%s", strempty(str(v, "name")));
        if (str(v, "agent_id"))
                line(f, view, "Agent:", "%s%s%s%s", str(v, "agent_id"), str(v, "hostname") ? " (" : "",
                     strempty(str(v, "hostname")), str(v, "hostname") ? ")" : "");
        line(f, view, "Disk:", "%s", str(v, "disk") ? str(v, "disk") : "-");
        line(f, view, "State:", "%s%s", str(v, "state") ? str(v, "state") : "-",
             json_is_true(json_object_get(v, "missing")) ? ", missing: its agent no longer reports it"
                                                           : "");
        if (str(v, "role"))
                line(f, view, "Role:", "%s", str(v, "role"));
        line(f, view, "Size:", "%s, %s used", size, used);
        if (str(v, "path"))
                line(f, view, "Path:", "%s (project %lld)", str(v, "path"),
                     (long long)json_integer_value(json_object_get(v, "project_id")));
        if (json_is_integer(created)) {
                ctl_format_time(json_integer_value(created), view->now_ms, when, sizeof(when));
                line(f, view, "Created:", "%s", when);
        }
        line(f, view, "Tasks:", "%s", tasks);
        if (str(v, "problem"))
                line(f, view, "Problem:", "%s", str(v, "problem"));
}

/* ---- isolation (inspect) ---- */

static const char *const io_row_label[_SILO_IO_LIMIT_MAX] = {
        [SILO_IO_RBPS] = "read bytes/s",
        [SILO_IO_WBPS] = "write bytes/s",
        [SILO_IO_RIOPS] = "read IOPS",
        [SILO_IO_WIOPS] = "write IOPS",
};

/* One LIMIT vs MEASURED row: a limit is an integer or "max"; a measurement a number. */
static void isolation_row(FILE *f, const char *label, const json_t *limit, const json_t *measured, bool bytes)
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
        fprintf(f, "  %-16s %14s %14s\n", label, l, m);
}

/* limits.io[] with the agent's eBPF figures (agent/measure.h): LIMIT vs MEASURED per device. */
static void isolation_io_tables(FILE *f, const json_t *v)
{
        const json_t *io = json_object_get(json_object_get(v, "limits"), "io");
        const char *error = str(json_object_get(v, "measured"), "error");
        json_t *d;
        size_t i;

        if (!json_is_array(io) || json_array_size(io) == 0)
                return;
        if (error)
                fprintf(f, "I/O measurements: unavailable (%s)\n", error);
        json_array_foreach(io, i, d)
        {
                const json_t *m = json_object_get(d, "measured");
                char lat[64] = "-", p50[16], p99[16];

                if (json_is_number(json_object_get(m, "p50_us")) && json_is_number(json_object_get(m, "p99_us"))) {
                        snprintf(p50, sizeof(p50), "%.0f", num(json_object_get(m, "p50_us")));
                        snprintf(p99, sizeof(p99), "%.0f", num(json_object_get(m, "p99_us")));
                        snprintf(lat, sizeof(lat), "%s / %s us", p50, p99);
                } else if (json_is_object(m))
                        snprintf(lat, sizeof(lat), "no I/O");
                fputc('\n', f);
                if (json_is_object(m))
                        fprintf(f, "I/O %s (%s), measured over %.1f s:\n", strempty(str(d, "name")),
                                strempty(str(d, "device")), num(json_object_get(m, "interval_s")));
                else
                        fprintf(f, "I/O %s (%s), not measured:\n", strempty(str(d, "name")), strempty(str(d, "device")));
                fprintf(f, "  %-16s %14s %14s\n", "", "LIMIT", "MEASURED");
                FOREACH_IO_LIMIT(l)
                isolation_row(f, io_row_label[l], json_object_get(d, silo_io_limit_to_string(l)),
                              json_object_get(m, silo_io_figure_to_string(l)), l == SILO_IO_RBPS || l == SILO_IO_WBPS);
                fprintf(f, "  %-16s %14s %14s\n", "latency p50/p99", "-", lat);
                if (str(m, "timing"))
                        fprintf(f, "  %-16s %14s %14s\n", "issue times", "-",
                                strcmp(str(m, "timing"), "kernel") == 0 ? "kernel (rq)"
                                : strcmp(str(m, "timing"), "hash") == 0 ? "hash (issue)"
                                                                         : str(m, "timing"));
        }
}

/* bits/s as tc writes them: "20Mbit/s". */
static void format_bits(double v, char *buf, size_t n)
{
        static const char *const unit[] = {"bit", "Kbit", "Mbit", "Gbit", "Tbit"};
        size_t u = 0;

        while (v >= 1000 && u + 1 < ELEMENTSOF(unit)) {
                v /= 1000;
                u++;
        }
        snprintf(buf, n, "%.*f%s/s", v < 10 && u ? 2 : v < 100 && u ? 1 : 0, v, unit[u]);
}

/* The isolation view's "network" (agent/task-network.h): mode, address, egress limit in force
 * and the veth's measured rates. */
static void isolation_network(FILE *f, const struct ctl_view *view, const json_t *n)
{
        const json_t *m = json_object_get(n, "measured"), *limit = json_object_get(n, "egress_bits_per_s");
        char buf[256] = "", a[32], b[32];

        if (!json_is_object(n))
                return;
        append(buf, sizeof(buf), NULL, "%s", strempty(str(n, "mode")));
        if (str(n, "address")) {
                append(buf, sizeof(buf), NULL, " %s (veth %s)", str(n, "address"), strempty(str(n, "interface")));
                if (json_is_number(limit))
                        format_bits(num(limit), a, sizeof(a));
                append(buf, sizeof(buf), "; ", "egress limit %s", json_is_number(limit) ? a : "none");
        }
        line(f, view, "Network:", "%s", buf);
        if (json_is_object(m)) {
                format_bits(num(json_object_get(m, "tx_bits_per_s")), a, sizeof(a));
                format_bits(num(json_object_get(m, "rx_bits_per_s")), b, sizeof(b));
                line(f, view, "Net use:", "tx %s, rx %s (measured over %.1f s)", a, b,
                     num(json_object_get(m, "interval_s")));
        }
}

static void pressure(const json_t *p, const char *name, char *buf, size_t n)
{
        const json_t *some = json_object_get(p, "some"), *full = json_object_get(p, "full");

        if (!json_is_object(p)) {
                append(buf, n, "  ", "%s -", name);
                return;
        }
        append(buf, n, "  ", "%s %.1f%%", name, num(json_object_get(some, "avg10")));
        if (json_is_object(full) && !streq(name, "cpu"))
                append(buf, n, NULL, " (full %.1f%%)", num(json_object_get(full, "avg10")));
}

void ctl_render_isolation(FILE *f, const json_t *v, const struct ctl_view *view)
{
        const json_t *lim = json_object_get(v, "limits"), *use = json_object_get(v, "usage"),
                     *cpu = json_object_get(use, "cpu"), *mem = json_object_get(use, "memory"),
                     *ev = json_object_get(mem, "events"), *pr = json_object_get(v, "pressure"),
                     *quota = json_object_get(lim, "cpu_quota_usec"), *d;
        char buf[512] = "", a[32], b[32], c[32];
        double period = num(json_object_get(lim, "cpu_period_usec"));
        size_t i;

        line(f, view, "Task:", "%s (%s%s)", strempty(str(v, "task_id")),
             json_is_true(json_object_get(v, "populated")) ? "running" : "no processes",
             json_is_true(json_object_get(v, "frozen")) ? ", frozen" : "");
        line(f, view, "Cgroup:", "%s", strempty(str(v, "cgroup")));
        /* Limits: what the kernel has, read back from the cgroup's files. */
        if (json_is_number(quota) && period > 0)
                append(buf, sizeof(buf), NULL, "limit %.2f CPUs (%.0f/%.0f us)", num(quota) / period, num(quota),
                       period);
        else
                append(buf, sizeof(buf), NULL, "no limit");
        append(buf, sizeof(buf), ", ", "weight %lld, cpuset %s (%s)",
               (long long)json_integer_value(json_object_get(lim, "cpu_weight")),
               str(lim, "cpuset_cpus") && str(lim, "cpuset_cpus")[0] ? str(lim, "cpuset_cpus") : "all",
               str(lim, "cpuset_cpus_effective") ? str(lim, "cpuset_cpus_effective") : "-");
        line(f, view, "CPU:", "%s", buf);
        line(f, view, "CPU use:", "%.2f s (user %.2f, system %.2f); throttled %lld/%lld periods, %.2f s",
             num(json_object_get(cpu, "usage_usec")) / 1e6, num(json_object_get(cpu, "user_usec")) / 1e6,
             num(json_object_get(cpu, "system_usec")) / 1e6,
             (long long)json_integer_value(json_object_get(cpu, "nr_throttled")),
             (long long)json_integer_value(json_object_get(cpu, "nr_periods")),
             num(json_object_get(cpu, "throttled_usec")) / 1e6);
        bytes_or_max(json_object_get(lim, "memory_max"), a, sizeof(a));
        bytes_or_max(json_object_get(lim, "memory_high"), b, sizeof(b));
        bytes_or_max(json_object_get(lim, "memory_swap_max"), c, sizeof(c));
        line(f, view, "Memory:", "limit %s, high %s, swap %s, oom.group %s", a, b, c,
             json_is_true(json_object_get(lim, "memory_oom_group")) ? "yes" : "no");
        ctl_format_bytes(num(json_object_get(mem, "current")), a, sizeof(a));
        bytes_or_max(json_object_get(mem, "peak"), b, sizeof(b));
        line(f, view, "Mem use:", "%s (peak %s); events: high %lld, max %lld, oom %lld, oom_kill %lld", a, b,
             (long long)json_integer_value(json_object_get(ev, "high")),
             (long long)json_integer_value(json_object_get(ev, "max")),
             (long long)json_integer_value(json_object_get(ev, "oom")),
             (long long)json_integer_value(json_object_get(ev, "oom_kill")));
        if (json_is_string(json_object_get(lim, "pids_max")))
                snprintf(a, sizeof(a), "%s", str(lim, "pids_max"));
        else
                snprintf(a, sizeof(a), "%lld", (long long)json_integer_value(json_object_get(lim, "pids_max")));
        line(f, view, "Pids:", "%lld of %s", (long long)json_integer_value(json_object_get(use, "pids_current")), a);
        buf[0] = '\0';
        json_array_foreach(json_object_get(use, "io"), i, d)
        {
                ctl_format_bytes(num(json_object_get(d, "rbytes")), a, sizeof(a));
                ctl_format_bytes(num(json_object_get(d, "wbytes")), b, sizeof(b));
                append(buf, sizeof(buf), "; ", "%s read %s (%lld ops), wrote %s (%lld ops)", strempty(str(d, "name")), a,
                       (long long)json_integer_value(json_object_get(d, "rios")), b,
                       (long long)json_integer_value(json_object_get(d, "wios")));
        }
        line(f, view, "I/O use:", "%s", buf[0] ? buf : "none");
        /* Share of the last 10 s that some (full: all) of the task's threads stalled. */
        snprintf(buf, sizeof(buf), "avg10");
        pressure(json_object_get(pr, "cpu"), "cpu", buf, sizeof(buf));
        pressure(json_object_get(pr, "memory"), "memory", buf, sizeof(buf));
        pressure(json_object_get(pr, "io"), "io", buf, sizeof(buf));
        line(f, view, "Pressure:", "%s", buf);
        isolation_network(f, view, json_object_get(v, "network"));
        isolation_io_tables(f, v);
}

/* ---- top ---- */

/* Sum of a per-device figure; NAN when no device has a number for it. */
static double io_sum(const json_t *io, const char *outer, const char *key)
{
        double s = NAN;
        json_t *d;
        size_t i;

        json_array_foreach(io, i, d)
        {
                const json_t *o = outer ? json_object_get(d, outer) : d;
                double x = num(json_object_get(o, key));

                if (!isnan(x))
                        s = isnan(s) ? x : s + x;
        }
        return s;
}

static double iostat_rate(const json_t *iso, const json_t *prev, const char *key, double dt)
{
        double now = io_sum(json_object_get(json_object_get(iso, "usage"), "io"), NULL, key);
        double before = io_sum(json_object_get(json_object_get(prev, "usage"), "io"), NULL, key);

        if (!prev || dt <= 0 || isnan(now))
                return NAN;
        return (now - (isnan(before) ? 0 : before)) / dt;
}

void ctl_top_row_fill(struct ctl_top_row *row, const json_t *iso, const json_t *prev, double dt_s)
{
        const json_t *lim = json_object_get(iso, "limits"), *io = json_object_get(lim, "io");
        double quota = num(json_object_get(lim, "cpu_quota_usec")), period = num(json_object_get(lim, "cpu_period_usec"));
        double usage = num(json_object_get(json_object_get(json_object_get(iso, "usage"), "cpu"), "usage_usec"));
        double before = num(json_object_get(json_object_get(json_object_get(prev, "usage"), "cpu"), "usage_usec"));
        bool measured = false;
        json_t *d;
        size_t i;

        row->cpu_limit = period > 0 ? quota / period : NAN;
        row->cpu_pct = prev && dt_s > 0 ? (usage - before) / (dt_s * 1e6) * 100.0 : NAN;
        row->mem = num(json_object_get(json_object_get(json_object_get(iso, "usage"), "memory"), "current"));
        row->mem_max = num(json_object_get(lim, "memory_max"));
        row->rbps_max = io_sum(io, NULL, "rbps");
        row->wbps_max = io_sum(io, NULL, "wbps");
        row->riops_max = io_sum(io, NULL, "riops");
        row->wiops_max = io_sum(io, NULL, "wiops");
        row->p99_us = NAN;
        json_array_foreach(io, i, d)
        {
                const json_t *m = json_object_get(d, "measured");
                double p = num(json_object_get(m, "p99_us"));

                measured = measured || json_is_object(m);
                if (!isnan(p) && (isnan(row->p99_us) || p > row->p99_us))
                        row->p99_us = p;
        }
        if (measured) {
                /* eBPF: completed I/O over the agent's last second, per limited device. */
                row->rbps = io_sum(io, "measured", "read_bps");
                row->wbps = io_sum(io, "measured", "write_bps");
                row->riops = io_sum(io, "measured", "read_iops");
                row->wiops = io_sum(io, "measured", "write_iops");
        } else {
                /* No eBPF figures: io.stat's counters over our own interval, every device. */
                row->rbps = iostat_rate(iso, prev, "rbytes", dt_s);
                row->wbps = iostat_rate(iso, prev, "wbytes", dt_s);
                row->riops = iostat_rate(iso, prev, "rios", dt_s);
                row->wiops = iostat_rate(iso, prev, "wios", dt_s);
        }
}

static const char *sort_key;

static double sort_value(const struct ctl_top_row *r)
{
        if (streq(sort_key, "cpu"))
                return r->cpu_pct;
        if (streq(sort_key, "mem"))
                return r->mem;
        if (streq(sort_key, "iops"))
                return (isnan(r->riops) ? 0 : r->riops) + (isnan(r->wiops) ? 0 : r->wiops);
        if (streq(sort_key, "p99"))
                return r->p99_us;
        return (isnan(r->rbps) ? 0 : r->rbps) + (isnan(r->wbps) ? 0 : r->wbps);
}

static int top_cmp(const void *a, const void *b)
{
        const struct ctl_top_row *x = a, *y = b;
        double vx, vy;

        if (!streq(sort_key, "name")) {
                vx = sort_value(x);
                vy = sort_value(y);
                if (isnan(vx) != isnan(vy))
                        return isnan(vx) ? 1 : -1;
                if (!isnan(vx) && vx != vy)
                        return vx > vy ? -1 : 1;
        }
        return strcmp(x->name, y->name) ?: strcmp(x->id, y->id);
}

void ctl_top_sort(struct ctl_top_row *rows, size_t n, const char *key)
{
        sort_key = key ? key : "io";
        qsort(rows, n, sizeof(*rows), top_cmp);
}

/* "used/limit" in compact units, or just "used" without a limit. */
static void used_of(double used, double max, char *buf, size_t n)
{
        char u[16], m[16];

        ctl_format_compact(used, u, sizeof(u));
        if (isnan(max)) {
                snprintf(buf, n, "%s", u);
                return;
        }
        ctl_format_compact(max, m, sizeof(m));
        snprintf(buf, n, "%s/%s", u, m);
}

static void iops_of(double used, double max, char *buf, size_t n)
{
        if (isnan(used))
                snprintf(buf, n, "-");
        else if (isnan(max))
                snprintf(buf, n, "%.0f", used);
        else
                snprintf(buf, n, "%.0f/%.0f", used, max);
}

void ctl_render_top(FILE *f, const struct ctl_top_row *rows, size_t n, const struct ctl_view *view)
{
        static const struct ctl_col cols[] = {
                {"ID"}, {"NAME", .shrink = true}, {"NODE", .shrink = true, .hide_empty = true},
                {"CPU%", .right = true}, {"MEM", .right = true}, {"READ/s", .right = true},
                {"WRITE/s", .right = true}, {"R-IOPS", .right = true}, {"W-IOPS", .right = true},
                {"P99", .right = true},
        };
        struct ctl_table tab;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        for (size_t i = 0; i < n; i++) {
                const struct ctl_top_row *r = &rows[i];
                char id[16], cpu[16] = "-", mem[32], rb[32], wb[32], ri[32], wi[32], p99[16];

                ctl_short_id(r->id, id, sizeof(id));
                if (!isnan(r->cpu_pct))
                        snprintf(cpu, sizeof(cpu), "%.1f", r->cpu_pct);
                used_of(r->mem, r->mem_max, mem, sizeof(mem));
                used_of(r->rbps, r->rbps_max, rb, sizeof(rb));
                used_of(r->wbps, r->wbps_max, wb, sizeof(wb));
                iops_of(r->riops, r->riops_max, ri, sizeof(ri));
                iops_of(r->wiops, r->wiops_max, wi, sizeof(wi));
                ctl_format_usec(r->p99_us, p99, sizeof(p99));
                if (ctl_table_add(&tab, (const char *[]){id, r->name, r->node, cpu, mem, rb, wb, ri, wi, p99}) < 0)
                        break;
        }
        table_finish(f, &tab, "No running tasks.", view);
}

static json_t *num_or_null(double v)
{
        return isnan(v) ? json_null() : json_real(v);
}

json_t *ctl_top_to_json(const struct ctl_top_row *rows, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++) {
                const struct ctl_top_row *r = &rows[i];

                json_array_append_new(
                        a, json_pack("{s:s, s:s?, s:s?, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                                     "id", r->id, "name", r->name[0] ? r->name : NULL, "node",
                                     r->node[0] ? r->node : NULL, "cpu_percent", num_or_null(r->cpu_pct),
                                     "cpu_limit", num_or_null(r->cpu_limit), "memory_bytes", num_or_null(r->mem),
                                     "memory_max", num_or_null(r->mem_max), "read_bps", num_or_null(r->rbps),
                                     "write_bps", num_or_null(r->wbps), "read_iops", num_or_null(r->riops),
                                     "write_iops", num_or_null(r->wiops), "rbps_max", num_or_null(r->rbps_max),
                                     "wbps_max", num_or_null(r->wbps_max), "riops_max", num_or_null(r->riops_max),
                                     "wiops_max", num_or_null(r->wiops_max), "p99_us", num_or_null(r->p99_us)));
        }
        return a;
}

/* ---- events ---- */

/* The stream is printed as it comes, so its columns are fixed rather than sized from the rows. */
#define EVENT_LINE_FMT "%8s  %-8s  %-14s  %-8s  %s"

void ctl_render_event_header(FILE *f, const struct ctl_view *view)
{
        char line[256];

        snprintf(line, sizeof(line), EVENT_LINE_FMT, "INDEX", "TIME", "TYPE", "ID", "DETAIL");
        fprintf(f, "%.*s\n", view->width > 0 ? view->width : (int)sizeof(line), line);
}

/* What an event says beyond its type and id, in words: "web FAILED EXIT_NONZERO exit 3". */
static void event_detail(FILE *m, const json_t *ev, const char *type)
{
        const char *name = json_string_value(json_object_get(ev, "task_name"));
        const char *agent = json_string_value(json_object_get(ev, "agent_id"));
        const char *msg = json_string_value(json_object_get(ev, "message"));
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        const json_t *v, *disks = json_object_get(ev, "disks"), *ports = json_object_get(ev, "ports");
        char agent_short[16];
        size_t i;

        ctl_short_id(agent, agent_short, sizeof(agent_short));
        if (!strncmp(type, "agent_", 6)) {
                fprintf(m, "%s %s", strempty(json_string_value(json_object_get(ev, "hostname"))),
                        strempty(json_string_value(json_object_get(ev, "address"))));
                return;
        }
        fputs(name ? name : "-", m);
        if (streq(type, "task_state")) {
                fprintf(m, " %s", strempty(json_string_value(json_object_get(ev, "state"))));
                /* NONE and exit code -1 are what the master says before there is anything. */
                if (reason && *reason && !streq(reason, "NONE"))
                        fprintf(m, " %s", reason);
                if (json_integer_value(json_object_get(ev, "exit_code")) > 0)
                        fprintf(m, " exit %lld", (long long)json_integer_value(json_object_get(ev, "exit_code")));
                if (json_integer_value(json_object_get(ev, "signal")) > 0)
                        fprintf(m, " signal %lld", (long long)json_integer_value(json_object_get(ev, "signal")));
                if (agent)
                        fprintf(m, " on %s", agent_short);
        } else if (streq(type, "task_placed")) {
                fprintf(m, " on %s", agent ? agent_short : "-");
                json_array_foreach(disks, i, v)
                        fprintf(m, "%s%s", i ? "," : " disks ", strempty(json_string_value(json_object_get(v, "disk"))));
                json_array_foreach(ports, i, v)
                        fprintf(m, "%s%lld->%lld/%s", i ? "," : " ports ",
                                (long long)json_integer_value(json_object_get(v, "container")),
                                (long long)json_integer_value(json_object_get(v, "host")),
                                json_string_value(json_object_get(v, "proto")) ?: "tcp");
        }
        if (msg && *msg)
                fprintf(m, ": %s", msg);
}

void ctl_render_event(FILE *f, const json_t *ev, const struct ctl_view *view)
{
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *id = json_string_value(json_object_get(ev, "task_id"));
        json_int_t ms = json_integer_value(json_object_get(ev, "time_ms"));
        char index[24], when[16] = "-", short_id[16], line[1024];
        _cleanup_free_ char *detail = NULL;
        size_t detail_size = 0;
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        FILE *m;

        if (!type)
                return;
        snprintf(index, sizeof(index), "%lld", (long long)json_integer_value(json_object_get(ev, "index")));
        if (ms > 0 && localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%H:%M:%S", &tm);
        ctl_short_id(id ? id : json_string_value(json_object_get(ev, "agent_id")), short_id, sizeof(short_id));
        m = open_memstream(&detail, &detail_size);
        if (!m)
                return;
        event_detail(m, ev, type);
        if (fclose(m) != 0)
                return;
        snprintf(line, sizeof(line), EVENT_LINE_FMT, index, when, type, short_id, strempty(detail));
        fprintf(f, "%.*s\n", view->width > 0 ? view->width : (int)sizeof(line), line);
}

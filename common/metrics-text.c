/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written once for both
 * daemons. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/metrics-text.h"
#include "common/table.h"

struct metrics_text {
        FILE *f;
        char *buf;
        size_t size;
        struct table *families; /* name (owned, freed at the end) -> (void *)1 */
        enum metrics_type type; /* of the current family */
        char *family;           /* the current family's name (a key of `families`) */
        int error;              /* the first misuse or allocation failure, sticky */
};

static const char *const type_names[] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_HISTOGRAM] = "histogram",
};

int metrics_text_new(struct metrics_text **ret)
{
        struct metrics_text *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        if (table_new(&w->families) < 0) {
                free(w);
                return -ENOMEM;
        }
        w->f = open_memstream(&w->buf, &w->size);
        if (!w->f) {
                table_free(w->families);
                free(w);
                return -ENOMEM;
        }
        *ret = w;
        return 0;
}

struct metrics_text *metrics_text_free(struct metrics_text *w)
{
        const char *key;
        size_t i = 0;

        if (!w)
                return NULL;
        if (w->f)
                fclose(w->f);
        free(w->buf);
        while (table_next(w->families, &i, &key, NULL))
                free((char *)key);
        table_free(w->families);
        free(w);
        return NULL;
}

static void fail(struct metrics_text *w, int error)
{
        if (w->error == 0)
                w->error = error;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; label names take no colon. */
static bool name_valid(const char *s, bool colon)
{
        if (!s || !*s || (*s >= '0' && *s <= '9'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
                        return false;
        return true;
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void write_escaped(FILE *f, const char *s, bool quote)
{
        for (; s && *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else if (quote && *s == '"')
                        fputs("\\\"", f);
                else
                        fputc(*s, f);
        }
}

/* A float as Go's strconv writes it: the shortest form that reads back the same. */
static const char *format_double(double v, char buf[static 32])
{
        if (isnan(v))
                return "NaN";
        if (isinf(v))
                return v > 0 ? "+Inf" : "-Inf";
        for (int precision = 15; precision <= 17; precision++) {
                snprintf(buf, 32, "%.*g", precision, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        return buf;
}

void metrics_text_family(struct metrics_text *w, const char *name, enum metrics_type type,
                         const char *help)
{
        char *key;

        w->family = NULL;
        if (!name_valid(name, true) || (unsigned)type >= ELEMENTSOF(type_names) ||
            table_get(w->families, name)) {
                fail(w, -EINVAL);
                return;
        }
        key = strdup(name);
        if (!key || table_put(w->families, key, (void *)1) < 0) {
                free(key);
                fail(w, -ENOMEM);
                return;
        }
        w->family = key;
        w->type = type;
        fprintf(w->f, "# HELP %s ", name);
        write_escaped(w->f, help, false);
        fprintf(w->f, "\n# TYPE %s %s\n", name, type_names[type]);
}

/* name{labels,extra="value"} -- the extra label is a histogram's le. */
static void write_series(struct metrics_text *w, const char *suffix,
                         const struct metrics_label *labels, const char *extra_name,
                         const char *extra_value)
{
        bool first = true;

        fprintf(w->f, "%s%s", w->family, suffix);
        for (const struct metrics_label *l = labels; l && l->name; l++) {
                if (!name_valid(l->name, false)) {
                        fail(w, -EINVAL);
                        continue;
                }
                fprintf(w->f, "%s%s=\"", first ? "{" : ",", l->name);
                write_escaped(w->f, l->value, true);
                fputc('"', w->f);
                first = false;
        }
        if (extra_name) {
                fprintf(w->f, "%s%s=\"%s\"", first ? "{" : ",", extra_name, extra_value);
                first = false;
        }
        fputs(first ? " " : "} ", w->f);
}

static bool sample_allowed(struct metrics_text *w, bool histogram)
{
        if (!w->family || (w->type == METRICS_HISTOGRAM) != histogram) {
                fail(w, -EINVAL);
                return false;
        }
        return true;
}

void metrics_text_sample(struct metrics_text *w, const struct metrics_label *labels, double value)
{
        char buf[32];

        if (!sample_allowed(w, false))
                return;
        write_series(w, "", labels, NULL, NULL);
        fprintf(w->f, "%s\n", format_double(value, buf));
}

void metrics_text_gauge(struct metrics_text *w, const char *name, const char *help, double value)
{
        metrics_text_family(w, name, METRICS_GAUGE, help);
        metrics_text_sample(w, NULL, value);
}

void metrics_text_sample_u64(struct metrics_text *w, const struct metrics_label *labels,
                             uint64_t value)
{
        if (!sample_allowed(w, false))
                return;
        write_series(w, "", labels, NULL, NULL);
        fprintf(w->f, "%" PRIu64 "\n", value);
}

void metrics_text_histogram(struct metrics_text *w, const struct metrics_label *labels,
                            const double *le, const uint64_t *counts, size_t n, uint64_t overflow,
                            double sum)
{
        uint64_t cumulative = 0;
        char bound[32];

        if (!sample_allowed(w, true))
                return;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && !(le[i] > le[i - 1])) {
                        fail(w, -EINVAL);
                        return;
                }
                cumulative += counts[i];
                write_series(w, "_bucket", labels, "le", format_double(le[i], bound));
                fprintf(w->f, "%" PRIu64 "\n", cumulative);
        }
        cumulative += overflow;
        write_series(w, "_bucket", labels, "le", "+Inf");
        fprintf(w->f, "%" PRIu64 "\n", cumulative);
        write_series(w, "_sum", labels, NULL, NULL);
        fprintf(w->f, "%s\n", format_double(sum, bound));
        write_series(w, "_count", labels, NULL, NULL);
        fprintf(w->f, "%" PRIu64 "\n", cumulative);
}

int metrics_text_finish(struct metrics_text *w, char **ret_text)
{
        int r = w->error;

        if (fclose(w->f) != 0 && r == 0)
                r = -ENOMEM;
        w->f = NULL;
        if (r == 0)
                *ret_text = TAKE_PTR(w->buf);
        metrics_text_free(w);
        return r;
}

void metrics_hist_observe(struct metrics_hist *h, double value)
{
        size_t i = 0;

        while (i < h->n && value > h->le[i])
                i++;
        if (i < h->n)
                h->counts[i]++;
        else
                h->overflow++;
        h->sum += value;
}

void metrics_text_hist(struct metrics_text *w, const struct metrics_label *labels,
                       const struct metrics_hist *h)
{
        metrics_text_histogram(w, labels, h->le, h->counts, h->n, h->overflow, h->sum);
}

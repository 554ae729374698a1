/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon options: one descriptor table shared by the command line and /etc/silo/<daemon>.conf. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "common/macro.h"
#include "common/error.h"

/* Where a value came from, for error messages and for list replacement. */
enum config_origin {
        ORIGIN_DEFAULT,
        ORIGIN_FILE,
        ORIGIN_CMDLINE,
};

struct config_state {
        const struct config_schema *schema;
        void *options;
        /* Per option: the origin of the value held now, so the first command-line --disk
         * drops the file's disks instead of appending to them. */
        enum config_origin *origin;
};


static const struct config_option *config_find(const struct config_schema *schema, const char *name,
                                               size_t len, size_t *ret_index)
{
        for (size_t i = 0; i < schema->n_options; i++) {
                const char *n = schema->options[i].name;
                if (strlen(n) == len && strncmp(n, name, len) == 0) {
                        *ret_index = i;
                        return &schema->options[i];
                }
        }
        return NULL;
}

static int config_parse_bool(const char *v, bool *ret)
{
        static const char *const yes[] = {"1", "true", "yes", "on"};
        static const char *const no[] = {"0", "false", "no", "off"};

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

static size_t strv_length(char **v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

/* Store one value; `where` prefixes errors ("--listen", "/etc/silo/master.conf:3"). */
static int config_assign(struct config_state *st, size_t index, const char *value,
                         enum config_origin origin, const char *where, char **ret_error)
{
        const struct config_option *o = &st->schema->options[index];
        char *field = (char *)st->options + o->offset;

        switch (o->type) {
        case CONFIG_STRING: {
                char **p = (char **)field;
                char *copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free(*p);
                *p = copy;
                break;
        }
        case CONFIG_UINT: {
                uint64_t max = o->max ? o->max : UINT64_MAX;
                unsigned long long v;
                char *end;

                errno = 0;
                if (!isdigit((unsigned char)value[0]))
                        return error_set(ret_error, -EINVAL,
                                            "%s: %s: '%s' is not a non-negative integer", where,
                                            o->name, value);
                v = strtoull(value, &end, 10);
                if (*end != '\0')
                        return error_set(ret_error, -EINVAL,
                                            "%s: %s: '%s' is not a non-negative integer", where,
                                            o->name, value);
                if (errno == ERANGE || v < o->min || v > max)
                        return error_set(ret_error, -ERANGE,
                                            "%s: %s: %s is out of range [%" PRIu64 ", %" PRIu64 "]",
                                            where, o->name, value, o->min, max);
                *(uint64_t *)field = v;
                break;
        }
        case CONFIG_DOUBLE: {
                char *end;
                double v;

                errno = 0;
                v = strtod(value, &end);
                if (end == value || *end != '\0' || errno == ERANGE || !isfinite(v))
                        return error_set(ret_error, -EINVAL, "%s: %s: '%s' is not a number",
                                            where, o->name, value);
                *(double *)field = v;
                break;
        }
        case CONFIG_BOOL:
                if (config_parse_bool(value, (bool *)field) < 0)
                        return error_set(
                            ret_error, -EINVAL,
                            "%s: %s: '%s' is not a boolean (true/false, yes/no, 1/0)", where,
                            o->name, value);
                break;
        case CONFIG_LIST: {
                char ***p = (char ***)field;
                char **nv;
                size_t n;

                if (st->origin[index] != origin) {
                        /* A new source replaces the lower-precedence list as a whole. */
                        *p = strv_free(*p);
                }
                n = strv_length(*p);
                nv = realloc(*p, (n + 2) * sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                *p = nv;
                nv[n] = strdup(value);
                nv[n + 1] = NULL;
                if (!nv[n])
                        return -ENOMEM;
                break;
        }
        }
        st->origin[index] = origin;
        return 0;
}

static char *strstrip(char *s)
{
        char *e;

        while (*s && isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

static int config_parse_file_state(struct config_state *st, const char *path, char **ret_error)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        ssize_t n;
        int r;

        f = fopen(path, "re");
        if (!f)
                return error_set(ret_error, negative_errno(), "config file %s: %s", path,
                                    strerror(errno));

        while ((n = getline(&line, &cap, f)) >= 0) {
                char where[4096], *s, *eq, *key, *value;
                size_t index, vlen;

                lineno++;
                snprintf(where, sizeof(where), "%s:%u", path, lineno);
                s = strstrip(line);
                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;
                eq = strchr(s, '=');
                if (!eq)
                        return error_set(ret_error, -EINVAL,
                                            "%s: expected 'key = value', got '%s'", where, s);
                *eq = '\0';
                key = strstrip(s);
                value = strstrip(eq + 1);
                if (!config_find(st->schema, key, strlen(key), &index))
                        return error_set(ret_error, -EINVAL, "%s: unknown option '%s'", where,
                                            key);
                vlen = strlen(value);
                if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
                        value[vlen - 1] = '\0';
                        value++;
                }
                r = config_assign(st, index, value, ORIGIN_FILE, where, ret_error);
                if (r < 0)
                        return r;
        }
        if (ferror(f))
                return error_set(ret_error, -EIO, "config file %s: read error", path);
        return 0;
}

static int config_state_init(struct config_state *st, const struct config_schema *schema,
                             void *options)
{
        st->schema = schema;
        st->options = options;
        st->origin = calloc(schema->n_options ? schema->n_options : 1, sizeof(*st->origin));
        return st->origin ? 0 : -ENOMEM;
}

static int config_apply_defaults(struct config_state *st, char **ret_error)
{
        for (size_t i = 0; i < st->schema->n_options; i++) {
                const struct config_option *o = &st->schema->options[i];
                int r;

                if (!o->default_value)
                        continue;
                r = config_assign(st, i, o->default_value, ORIGIN_DEFAULT, "default", ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_parse(const struct config_schema *schema, int argc, char *const *argv, void *options,
                 char **ret_error)
{
        _cleanup_free_ enum config_origin *origin = NULL;
        const char *config_path = NULL;
        struct config_state st;
        int r;

        r = config_state_init(&st, schema, options);
        if (r < 0)
                return r;
        origin = st.origin;

        /* First pass: --help, --version and --config, which decide what happens next. */
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (streq(a, "--"))
                        break;
                if (streq(a, "--help") || streq(a, "-h"))
                        return CONFIG_HELP;
                if (streq(a, "--version"))
                        return CONFIG_VERSION;
                if (streq(a, "--config")) {
                        if (i + 1 >= argc)
                                return error_set(ret_error, -EINVAL, "--config: missing value");
                        config_path = argv[++i];
                } else if (strncmp(a, "--config=", 9) == 0)
                        config_path = a + 9;
        }

        r = config_apply_defaults(&st, ret_error);
        if (r < 0)
                return r;

        if (config_path) {
                r = config_parse_file_state(&st, config_path, ret_error);
                if (r < 0)
                        return r;
        } else if (schema->default_config_path && access(schema->default_config_path, F_OK) == 0) {
                r = config_parse_file_state(&st, schema->default_config_path, ret_error);
                if (r < 0)
                        return r;
        }

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *name, *eq, *value;
                char where[256];
                size_t index;
                const struct config_option *o;

                if (streq(a, "--")) {
                        if (i + 1 < argc)
                                return error_set(ret_error, -EINVAL, "unexpected argument '%s'",
                                                    argv[i + 1]);
                        break;
                }
                if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
                        return error_set(ret_error, -EINVAL, "unexpected argument '%s'", a);
                name = a + 2;
                eq = strchr(name, '=');
                if (strncmp(name, "config", 6) == 0 && (name[6] == '\0' || name[6] == '=')) {
                        if (!eq)
                                i++;
                        continue;
                }
                o = config_find(schema, name, eq ? (size_t)(eq - name) : strlen(name), &index);
                if (!o)
                        return error_set(ret_error, -EINVAL,
                                            "unknown option '--%.*s' (see --help)",
                                            (int)(eq ? eq - name : (ptrdiff_t)strlen(name)), name);
                snprintf(where, sizeof(where), "--%s", o->name);
                if (eq)
                        value = eq + 1;
                else if (o->type == CONFIG_BOOL &&
                         (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
                        value = "true";
                else if (i + 1 >= argc)
                        return error_set(ret_error, -EINVAL, "--%s: missing value", o->name);
                else
                        value = argv[++i];
                /* "command line" replaces both defaults and file values for lists. */
                r = config_assign(&st, index, value, ORIGIN_CMDLINE, where, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *config_type_metavar(config_type t)
{
        switch (t) {
        case CONFIG_UINT:
                return "N";
        case CONFIG_DOUBLE:
                return "NUM";
        case CONFIG_BOOL:
                return "BOOL";
        default:
                return "VALUE";
        }
}

char *config_help_format(const struct config_schema *schema)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fprintf(f, "Usage: %s [OPTIONS]\n%s\n\nOptions (each also a 'key = value' line in %s):\n",
                schema->program, strempty(schema->summary),
                schema->default_config_path ? schema->default_config_path : "the --config file");
        for (size_t i = 0; i < schema->n_options; i++) {
                const struct config_option *o = &schema->options[i];
                char left[128];

                snprintf(left, sizeof(left), "--%s %s", o->name,
                         o->metavar ? o->metavar : config_type_metavar(o->type));
                fprintf(f, "  %-36s %s", left, strempty(o->help));
                if (o->type == CONFIG_LIST)
                        fputs(" (repeatable)", f);
                if (o->default_value)
                        fprintf(f, " [default: %s]", o->default_value);
                fputc('\n', f);
        }
        fprintf(f, "  %-36s %s\n", "--config FILE",
                "read options from FILE instead of the default file");
        fprintf(f, "  %-36s %s\n", "--help", "show this help and exit");
        fprintf(f, "  %-36s %s\n", "--version", "show the version and exit");
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

void config_free(const struct config_schema *schema, void *options)
{
        for (size_t i = 0; i < schema->n_options; i++) {
                const struct config_option *o = &schema->options[i];
                char *field = (char *)options + o->offset;

                if (o->type == CONFIG_STRING) {
                        free(*(char **)field);
                        *(char **)field = NULL;
                } else if (o->type == CONFIG_LIST)
                        *(char ***)field = strv_free(*(char ***)field);
        }
}

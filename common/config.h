/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon options: one descriptor table shared by the command line and /etc/silo/<daemon>.conf. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Each option has one name used both as "--name VALUE" / "--name=VALUE" on the command line
 * and as "name = VALUE" in the config file ('#' starts a comment line; blank lines ignored;
 * values may be double-quoted). Precedence: defaults < config file < command line. The file
 * is --config FILE when given (it must exist), else schema->default_config_path when that
 * exists. A CONFIG_LIST option (--disk) may be repeated; values given on the command line
 * replace the file's. CONFIG_BOOL accepts "--name" alone on the command line and
 * true/false/yes/no/1/0 as a value ("--name=false").
 *
 * The caller's options struct is filled through offsetof(): CONFIG_STRING -> char * (malloc'd,
 * NULL when unset without default), CONFIG_UINT -> uint64_t, CONFIG_DOUBLE -> double,
 * CONFIG_BOOL -> bool, CONFIG_LIST -> char ** (NULL-terminated, malloc'd; NULL when empty).
 * Errors name their origin: "/etc/silo/master.conf:7: heartbeat-interval-ms: 'abc' is not a
 * number" or "--listen: missing value".
 */

typedef enum config_type {
        CONFIG_STRING,
        CONFIG_UINT,
        CONFIG_DOUBLE,
        CONFIG_BOOL,
        CONFIG_LIST,
} config_type;

struct config_option {
        const char *name; /* "heartbeat-interval-ms" */
        config_type type;
        size_t offset;             /* offsetof(struct my_options, field) */
        const char *default_value; /* text, parsed like a given value; NULL = none */
        const char *metavar;       /* "MS" in --help */
        const char *help;          /* one line */
        uint64_t min, max;         /* CONFIG_UINT bounds; max 0 = UINT64_MAX */
};

struct config_schema {
        const char *program;             /* "silo-master" */
        const char *summary;             /* one line for --help */
        const char *default_config_path; /* "/etc/silo/master.conf"; NULL = none */
        const struct config_option *options;
        size_t n_options;
};

/* Returned (> 0) by config_parse() for --help and --version; the caller prints and exits 0. */
#define CONFIG_HELP 1
#define CONFIG_VERSION 2

/* Fill `options` (zeroed by the caller) from defaults, the config file and argv. Returns 0,
 * CONFIG_HELP, CONFIG_VERSION, or -EINVAL/-ENOENT/... with *ret_error set (malloc'd). On
 * failure the struct may be partly filled; release it with config_free() either way. */
int config_parse(const struct config_schema *schema, int argc, char *const *argv, void *options,
                 char **ret_error);

/* The --help text: usage, summary, every option with its metavar, help and default. */
char *config_help_format(const struct config_schema *schema);

/* Free the strings and lists config_parse() stored in `options`. */
void config_free(const struct config_schema *schema, void *options);

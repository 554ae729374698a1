/* SPDX-License-Identifier: Apache-2.0 */
/* siloctl's command line, the task spec its `run` flags describe and id-prefix lookup: pure
 * functions (no I/O), so tests/unit/test-ctl-args.c can cover every flag position. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Process exit codes, documented in `siloctl --help` and siloctl(1). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILURE = 1,   /* the daemon refused or failed, or could not be reached */
        CTL_EXIT_USAGE = 2,     /* bad command line, spec file or ambiguous id prefix */
        CTL_EXIT_AUTH = 3,      /* token file missing or unreadable, or the token was refused */
        CTL_EXIT_NOT_FOUND = 4, /* no such task or agent */
};

/* The exit code for a daemon's HTTP error status (401/403 auth, 404 not found, 400 usage). */
int ctl_exit_code_of_status(long status);

typedef enum {
        CTL_CMD_HEALTH,
        CTL_CMD_TASKS,
        CTL_CMD_GET,
        CTL_CMD_RUN,
        CTL_CMD_KILL,
        CTL_CMD_LOGS,
        CTL_CMD_INSPECT,
        CTL_CMD_TOP,
        CTL_CMD_AGENTS,
        CTL_CMD_AGENT,
        CTL_CMD_DEVICES,
        CTL_CMD_METRICS,
        CTL_CMD_EVENTS,
        CTL_CMD_VOLUMES,
        CTL_CMD_VOLUME,
        _CTL_CMD_MAX,
        CTL_CMD_NONE = -1,
} ctl_command;

#define CTL_RUN_MAX_REPEAT 16

struct ctl_args {
        /* global, accepted before or after the command */
        const char *master;
        const char *agent;
        const char *token_file;
        const char *ca, *cert, *key; /* mutual TLS: --ca, --cert, --key */
        bool json;
        bool help;
        bool version;

        ctl_command command;
        char **pos; /* positional arguments after the command (into argv) */
        int n_pos;

        /* tasks */
        const char *state;
        /* logs */
        bool err_stream;
        const char *offset;
        bool follow;
        /* top */
        bool once;
        const char *sort;
        double interval_s;
        /* events: --since (digits), --role (in `role`), --task, --type (a comma list of known
         * event types) */
        const char *since, *task, *types;
        /* run: a file (pos[0]) or the command after "--" (pos[]) */
        bool run_command;
        const char *name, *role, *cpus, *mem, *pids; /* role: also events --role */
        const char *io[CTL_RUN_MAX_REPEAT];
        size_t n_io;
        const char *env[CTL_RUN_MAX_REPEAT];
        size_t n_env;
};

/* Parse argv (argv[0] is the program). Global flags anywhere; each command's own flags after
 * it, in any order with its arguments, up to "--" (run: the task's command and its own flags
 * follow it). 0, or -EINVAL with *ret_error naming the
 * flag or value (exit CTL_EXIT_USAGE). --help / --version set a->help / a->version. */
int ctl_args_parse(int argc, char **argv, struct ctl_args *a, char **ret_error);

const char *ctl_command_name(ctl_command c);
/* The whole program's --help, and one command's. */
const char *ctl_usage(void);
const char *ctl_command_usage(ctl_command c);

/* The task spec that `run`'s flags describe, merged over `base` (a spec file's object, or
 * NULL): --name, --role, --cpus, --mem, --pids, --io DISK:KEY=VAL[,KEY=VAL], --env K=V, and
 * the command after "--". 0 with a new reference in *ret, or -EINVAL with *ret_error. */
int ctl_run_spec(const struct ctl_args *a, const json_t *base, json_t **ret, char **ret_error);

/* The item of `items` (an array of objects with "id" and maybe "name") that `arg` names: an
 * exact id wins, else the only id starting with it, else the only item named `arg` (its
 * "name", or an agent's "hostname"). kind
 * names what is looked up ("task"). 0 with *ret_id borrowed from items; -ENOENT (no match) or
 * -EINVAL (several: the message lists them, with names) with *ret_error. */
int ctl_resolve_id(const json_t *items, const char *kind, const char *arg, const char **ret_id,
                   char **ret_error);

/* Free what ctl_args_parse() allocated (after any return). */
void ctl_args_done(struct ctl_args *a);

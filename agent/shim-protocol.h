/* SPDX-License-Identifier: Apache-2.0 */
/* The files through which the agent and a task's shim talk: launch.json, shim.json, exit.json. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "isolator/container.h"

/* What the agent asks the shim to launch (<sandbox>/launch.json). */
struct shim_launch {
        char *task_id;
        char *cgroup;                   /* absolute cgroupfs path of the task's group */
        uint64_t log_max_bytes;
        unsigned log_files;
        struct container_config container;
};

/* Who runs the task (<sandbox>/shim.json), written by the shim once the task started: with
 * pid + start time a restarted agent can tell its shim and task from a reused pid. */
struct shim_state {
        pid_t shim_pid;
        uint64_t shim_start_time;       /* /proc/<pid>/stat field 22, clock ticks since boot */
        pid_t task_pid;
        uint64_t task_start_time;
        uint64_t started_ms;            /* CLOCK_REALTIME */
};

/* How the task ended (<sandbox>/exit.json), written atomically by the shim before it exits. */
struct shim_exit_record {
        int exit_code;                  /* -1 when killed by a signal or never started */
        int signal;                     /* 0 unless killed by a signal */
        bool core_dumped;
        char *launch_error;             /* set when the task could not be started */
        uint64_t finished_ms;
};

#define SHIM_LAUNCH_FILE "launch.json"
#define SHIM_STATE_FILE "shim.json"
#define SHIM_EXIT_FILE "exit.json"

int shim_launch_write(const char *sandbox, const struct shim_launch *l);
int shim_launch_read(const char *sandbox, struct shim_launch *ret, char **ret_error);
void shim_launch_clear(struct shim_launch *l);

int shim_state_write(const char *sandbox, const struct shim_state *s);
int shim_state_read(const char *sandbox, struct shim_state *ret);

int shim_exit_record_write(const char *sandbox, const struct shim_exit_record *e);
/* -ENOENT while the task has not ended (or the shim died before recording). */
int shim_exit_record_read(const char *sandbox, struct shim_exit_record *ret);
void shim_exit_record_clear(struct shim_exit_record *e);

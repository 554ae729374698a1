/* SPDX-License-Identifier: Apache-2.0 */
/* The files through which the agent and a task's shim talk: launch.json, shim.json, exit.json. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "isolator/container.h"
#include "silo/protocol.h"

/* What the agent resolved on its host for one launch: with the task's spec, all the shim
 * needs. */
struct shim_resolved {
        char *cgroup;                   /* absolute cgroupfs path of the task's group */
        char *sandbox;                  /* absolute */
        uint64_t log_max_bytes;
        unsigned log_files;
        bool set_user;                  /* the spec names a user: uid and gid below */
        uid_t uid;
        gid_t gid;
        char **env;                     /* "KEY=VALUE" as built: the spec's, the defaults, SILO_* */
        unsigned namespaces;            /* SILO_NS_*: the spec's and those every task gets */
        char *hostname;                 /* with SILO_NS_UTS */
        char *netns_path;               /* the network namespace to join (bridge mode), or NULL */
        char *netns_dir;                /* the agent's namespace files, detached in the task, or NULL */
        char **hidden;                  /* host paths a task without a rootfs must not see, or NULL */
        char **volume_sources;          /* container.volumes[i].source, symlinks resolved */
        struct silo_rlimit nofile;      /* the default RLIMIT_NOFILE for a spec that sets none
                                         * (resource -1: none) */
};

/* <sandbox>/launch.json: the task spec itself (the codec's encoding) and the resolved
 * fields, {"spec": {...}, "resolved": {...}}; read back with the same codec. */
struct shim_launch {
        struct silo_task_spec *spec;
        struct shim_resolved resolved;
        struct container_config container; /* built from both by shim_launch_read() */
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

int shim_launch_write(const char *sandbox, const struct silo_task_spec *spec,
                      const struct shim_resolved *resolved);
/* Read launch.json and build the launcher's config from it. -ENOENT, -EBADMSG, -EINVAL with
 * *ret_error naming the file and the field. */
int shim_launch_read(const char *sandbox, struct shim_launch *ret, char **ret_error);
/* The same from launch.json's text, without the file (what shim_launch_read() decodes; the
 * fuzz target's entry). Messages name the field, not the file. */
int shim_launch_parse(const char *text, size_t size, struct shim_launch *ret, char **ret_error);
void shim_launch_clear(struct shim_launch *l);
void shim_resolved_clear(struct shim_resolved *r);
/* The launcher's config of a task: its spec with what the agent resolved (argv, the root,
 * volumes, devices, capabilities and rlimits from the spec; user, environment, namespaces,
 * hostname, hidden paths and volume sources resolved). */
int shim_container_config(const struct silo_task_spec *spec, const struct shim_resolved *r,
                          struct container_config *ret);

int shim_state_write(const char *sandbox, const struct shim_state *s);
int shim_state_read(const char *sandbox, struct shim_state *ret);

int shim_exit_record_write(const char *sandbox, const struct shim_exit_record *e);
/* -ENOENT while the task has not ended (or the shim died before recording). */
int shim_exit_record_read(const char *sandbox, struct shim_exit_record *ret);
void shim_exit_record_clear(struct shim_exit_record *e);

/*
 * The shim server's socket: silo-agent starts one `silo-shim --server` with a SOCK_SEQPACKET
 * socket on fd SHIM_SERVER_FD, and each launch is one request on it. The server forks a shim
 * for it (no exec per task: agent/shim.c) and answers at once.
 *
 *   hello:   struct shim_answer, sent once by a server that started: error 0 when it can
 *            serve, else the errno of why not (then it exits);
 *   request: the sandbox's absolute path (its bytes, no NUL), with SCM_RIGHTS
 *            {report, log, go} (enum shim_request_fd), all kept by the sender;
 *   answer:  struct shim_answer, with SCM_RIGHTS {the shim's pidfd} when error is 0. The
 *            server reads the start time before it can reap the shim, so a shim that ended
 *            at once still has the right one.
 *
 * The shim waits for a byte on the go pipe before it touches its sandbox: the agent writes it
 * once it holds the answer. A shim whose answer never reached the agent (a server that died
 * or stalled, an agent that died) reads EOF instead and exits, so no task runs that the agent
 * does not know.
 */
#define SHIM_SERVER_FD 3
/* In a forked shim: the report pipe (its answer to the agent) and the go pipe's read end. */
#define SHIM_REPORT_FD 3
#define SHIM_GO_FD 4

enum shim_request_fd { SHIM_REQUEST_REPORT, SHIM_REQUEST_LOG, SHIM_REQUEST_GO, _SHIM_REQUEST_FDS };

struct shim_answer {
        int32_t error;                  /* errno of the server's failure, or 0 */
        int32_t pid;                    /* the shim's, when error is 0 (0 in a hello) */
        uint64_t start_time;            /* its process_start_time() */
};

int shim_request_send(int sock, const char *sandbox, const int fds[_SHIM_REQUEST_FDS]);
/* 1 with a request (*ret_sandbox allocated, the fds the caller's), 0 at EOF (the agent is
 * gone; a datagram of 0 bytes reads the same, and the agent never sends one), -EBADMSG for a
 * request that is not one (its fds closed), -ENOMEM, or -errno of recvmsg(). */
int shim_request_recv(int sock, char **ret_sandbox, int ret_fds[_SHIM_REQUEST_FDS]);
/* pidfd < 0: none (a hello, or an answer with an error). */
int shim_answer_send(int sock, const struct shim_answer *a, int pidfd);
/* 0 with the answer as sent and the pidfd it carried (-1 when none; the caller's), -EPIPE when
 * the server closed the socket, -EBADMSG for a message that is not an answer, or -errno of
 * recvmsg(). The answer's own error is the caller's to read. */
int shim_answer_recv(int sock, struct shim_answer *ret, int *ret_pidfd);

/* SPDX-License-Identifier: Apache-2.0 */
/* The state directory's lock (one agent per <state-dir>, flock on <state-dir>/lock) and its
 * permissions, and those of the token file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/auth.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/macro.h"

/*
 * The state directory lists task ids, sandbox and log names, holds each task's spec (its
 * environment) and may hold the cluster token: only root may look in. The agent creates it
 * 0700, but it may find one made by hand, by `mkdir -p`, or by a packaging step with 0755:
 * its mode is set to 0700 and the change logged, and so is a generated token's (0600).
 */
static int agent_state_dir_secure(const char *state_dir, char **ret_error)
{
        _cleanup_free_ char *token = NULL;
        mode_t old = 0;
        int r;

        r = path_mode_enforce(state_dir, 0700, &old);
        if (r < 0)
                return error_set(ret_error, r, "cannot make the state directory %s private (0700): %s",
                                 state_dir, strerror(-r));
        if (r > 0)
                log_notice("State directory %s had mode %04o, set to 0700: it lists task ids, sandboxes "
                           "and logs, and holds the tasks' specs", state_dir, (unsigned)old);
        if (asprintf(&token, "%s/%s", state_dir, AUTH_TOKEN_FILE_NAME) < 0)
                return -ENOMEM;
        r = path_mode_enforce(token, 0600, &old);
        if (r < 0 && r != -ENOENT)
                return error_set(ret_error, r, "cannot make the token file %s private (0600): %s", token,
                                 strerror(-r));
        if (r > 0)
                log_notice("Token file %s had mode %04o, set to 0600", token, (unsigned)old);
        return 0;
}

int agent_token_file_check(const struct agent *a)
{
        _cleanup_free_ char *warning = NULL, *err = NULL;
        int r;

        if (!a->opts.token_file)
                return 0;
        r = auth_token_file_check(a->opts.token_file, &warning, &err);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: %s", err ? err : strerror(-r));
        if (r > 0)
                log_warning("%s", warning ? warning : "the token file is readable by others");
        return 0;
}

/*
 * Two agents on one state directory would both re-adopt the same shims, write the same
 * checkpoints and consume the same status queue. flock (not a pid file) is what decides:
 * the kernel drops it when the holder dies, even by SIGKILL, so a crashed agent never
 * blocks its restart. The pid written into the file only names the holder in the message.
 * The fd stays open (no O_CLOEXEC games needed: shims close every fd above 3) until exit.
 */
int agent_state_lock(const char *state_dir, int *ret_fd, char **ret_error)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[32];
        int n;

        if (asprintf(&path, "%s/lock", state_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return error_set(ret_error, negative_errno(), "cannot open %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
                ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
                long holder = 0;

                if (r != -EBUSY)
                        return error_set(ret_error, r, "cannot lock %s: %s", path, strerror(-r));
                if (len > 0) {
                        buf[len] = '\0';
                        holder = strtol(buf, NULL, 10);
                }
                if (holder > 0)
                        return error_set(ret_error, r,
                                         "another silo-agent (pid %ld) is running on the state directory %s "
                                         "(it holds %s)",
                                         holder, state_dir, path);
                return error_set(ret_error, r,
                                 "another silo-agent is running on the state directory %s (it holds %s)",
                                 state_dir, path);
        }
        n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
                return negative_errno();
        n = agent_state_dir_secure(state_dir, ret_error);
        if (n < 0)
                return n;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

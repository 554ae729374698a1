/* SPDX-License-Identifier: Apache-2.0 */
/* The state-directory lock: one agent per <state-dir>, enforced with flock on <state-dir>/lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/macro.h"

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
        if (fd < 0) {
                int r = negative_errno();

                if (asprintf(ret_error, "cannot open %s: %s", path, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
                ssize_t len = pread(fd, buf, sizeof(buf) - 1, 0);
                long holder = 0;

                if (len > 0) {
                        buf[len] = '\0';
                        holder = strtol(buf, NULL, 10);
                }
                if (r != -EBUSY)
                        n = asprintf(ret_error, "cannot lock %s: %s", path, strerror(-r));
                else if (holder > 0)
                        n = asprintf(ret_error,
                                     "another silo-agent (pid %ld) is running on the state directory %s "
                                     "(it holds %s)", holder, state_dir, path);
                else
                        n = asprintf(ret_error, "another silo-agent is running on the state directory %s "
                                     "(it holds %s)", state_dir, path);
                if (n < 0)
                        *ret_error = NULL;
                return r;
        }
        n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

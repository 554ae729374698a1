/* SPDX-License-Identifier: Apache-2.0 */
/* Setup-flag probing (once per process) and ring creation with fallback. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "io/ring.h"

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static unsigned probed_flags;

static bool flags_accepted(unsigned flags)
{
        struct io_uring ring;
        struct io_uring_params p = { .flags = flags };

        if (io_uring_queue_init_params(4, &ring, &p) < 0)
                return false;
        io_uring_queue_exit(&ring);
        return true;
}

/* Try the richest combination first; DEFER_TASKRUN needs SINGLE_ISSUER (6.1+), SINGLE_ISSUER
 * is 6.0+, COOP_TASKRUN 5.19+. */
static void probe(void)
{
        static const unsigned candidates[] = {
                IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
                IORING_SETUP_COOP_TASKRUN,
        };

        for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
                if (flags_accepted(candidates[i])) {
                        probed_flags = candidates[i];
                        log_debug("io_uring task-run flags available: 0x%x", probed_flags);
                        return;
                }
        probed_flags = 0;
}

/* The task-run flags this kernel accepts, a subset of
 * IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN.
 * Probed with throwaway rings on first call, thread safe, cached for the process. */
static unsigned io_ring_taskrun_flags(void)
{
        pthread_once(&probe_once, probe);
        return probed_flags;
}

int io_ring_setup(struct io_uring *ring, const struct io_ring_opts *o)
{
        struct io_uring_params p;
        unsigned base = 0, taskrun = 0;
        int r;

        if (o->sqpoll)
                base |= IORING_SETUP_SQPOLL;
        else
                taskrun = io_ring_taskrun_flags();
        if (o->iopoll)
                base |= IORING_SETUP_IOPOLL;

        /* Each retry drops the newest flag: a kernel may accept a flag alone but not with
         * IOPOLL or SQPOLL. */
        for (;;) {
                memset(&p, 0, sizeof(p));
                p.flags = base | taskrun;
                if (o->sqpoll)
                        p.sq_thread_idle = o->sqpoll_idle_ms ? o->sqpoll_idle_ms : 1000;
                r = io_uring_queue_init_params(o->entries, ring, &p);
                if (r != -EINVAL || taskrun == 0)
                        break;
                if (taskrun & IORING_SETUP_DEFER_TASKRUN)
                        taskrun &= ~IORING_SETUP_DEFER_TASKRUN;
                else if (taskrun & IORING_SETUP_SINGLE_ISSUER)
                        taskrun &= ~IORING_SETUP_SINGLE_ISSUER;
                else
                        taskrun = 0;
        }
        if (r < 0)
                return r;
        /* A registered ring fd (5.18+) spares io_uring_enter() the fdget/fdput of the ring's
         * file on every call: at QD 1 that call is made once per I/O. The index lives in the
         * calling thread's io_uring context, which is why the ring's one user registers it;
         * without it (older kernel, or the per-thread table full) the plain fd works the same. */
        (void)io_uring_register_ring_fd(ring);
        return 0;
}

const char *io_ring_flags_to_string(unsigned flags, char *buf, size_t len)
{
        static const struct {
                unsigned flag;
                const char *name;
        } names[] = {
                { IORING_SETUP_IOPOLL, "IOPOLL" },
                { IORING_SETUP_SQPOLL, "SQPOLL" },
                { IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
                { IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
                { IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
        };
        size_t used = 0;

        if (len == 0)
                return buf;
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (!(flags & names[i].flag))
                        continue;
                int n = snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i].name);
                if (n < 0 || (size_t)n >= len - used) {
                        buf[used] = '\0'; /* whole names only */
                        break;
                }
                used += (size_t)n;
        }
        if (used == 0)
                snprintf(buf, len, "none");
        return buf;
}

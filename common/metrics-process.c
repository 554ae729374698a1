/* SPDX-License-Identifier: Apache-2.0 */
/* silo_build_info and the process_* metrics, as the Prometheus client libraries export them
 * (client_golang's process collector reads the same /proc files). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/metrics-text.h"

struct proc_self {
        double cpu_seconds, start_time_seconds;
        double resident_bytes, virtual_bytes;
        bool have_stat, have_start;
};

/* /proc/self/stat fields 14-15 (utime, stime), 22 (starttime, ticks since boot), 23 (vsize,
 * bytes), 24 (rss, pages); the command name before them may hold spaces, so parsing starts
 * after its closing parenthesis (proc(5)). */
static void proc_self_read(struct proc_self *ret)
{
        _cleanup_free_ char *stat = NULL, *sys = NULL;
        unsigned long long utime, stime, start, vsize, rss, btime;
        long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        const char *p, *b;

        if (file_read_full("/proc/self/stat", 4096, &stat, NULL) < 0 || ticks <= 0 || page <= 0)
                return;
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 1,
                         " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d"
                         " %*d %*d %llu %llu %llu",
                         &utime, &stime, &start, &vsize, &rss) != 5)
                return;
        ret->cpu_seconds = (double)(utime + stime) / (double)ticks;
        ret->virtual_bytes = (double)vsize;
        ret->resident_bytes = (double)rss * (double)page;
        ret->have_stat = true;
        /* The start time is boot time (btime of /proc/stat) plus starttime. */
        if (file_read_full("/proc/stat", 1 << 20, &sys, NULL) < 0)
                return;
        b = strstr(sys, "\nbtime ");
        if (!b || sscanf(b, "\nbtime %llu", &btime) != 1)
                return;
        ret->start_time_seconds = (double)btime + (double)start / (double)ticks;
        ret->have_start = true;
}

static int open_fds_count(uint64_t *ret)
{
        _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        uint64_t n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        *ret = n > 0 ? n - 1 : 0; /* not the directory's own fd */
        return 0;
}

void metrics_text_process(struct metrics_text *w)
{
        struct proc_self ps = {};
        struct rlimit rl;
        uint64_t fds = 0;

        metrics_text_family(w, "silo_build_info", METRICS_GAUGE,
                            "Always 1; the version of Silo this daemon runs as a label.");
        metrics_text_sample(w, METRICS_LABELS({"version", SILO_VERSION}), 1);

        proc_self_read(&ps);
        if (ps.have_stat) {
                metrics_text_family(w, "process_cpu_seconds_total", METRICS_COUNTER,
                                    "Total user and system CPU time spent in seconds.");
                metrics_text_sample(w, NULL, ps.cpu_seconds);
                metrics_text_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
                      ps.resident_bytes);
                metrics_text_gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                      ps.virtual_bytes);
        }
        if (ps.have_start)
                metrics_text_gauge(w, "process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.",
                      ps.start_time_seconds);
        if (open_fds_count(&fds) == 0)
                metrics_text_gauge(w, "process_open_fds", "Number of open file descriptors.", (double)fds);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                metrics_text_gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
                      (double)rl.rlim_cur);
}

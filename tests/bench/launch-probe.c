/* SPDX-License-Identifier: Apache-2.0 */
/* The launch benchmark's task: prints CLOCK_REALTIME in ns as its very first action, then exits. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Linked statically (tests/bench/meson.build) so that no dynamic loader runs between the
 * runtime's execve() and this timestamp: what is measured is the runtime's own launch path,
 * the same for silo-agent, crun and a bare fork+exec. The time is taken before anything else
 * and written with one write(2) so a partial line never reaches a log.
 *
 * With --describe (never in a timed run) it then prints what the benchmark compares between
 * runtimes to show their configurations are equal: its namespaces, pid, hostname and the
 * limits of its cgroup as it sees them (the cgroup namespace's root at /sys/fs/cgroup).
 */

static void describe_file(const char *key, const char *path)
{
        char buf[256] = "";
        FILE *f = fopen(path, "re");

        if (f) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                fclose(f);
        }
        buf[strcspn(buf, "\n")] = '\0';
        printf("%s %s\n", key, f ? buf : "-");
}

static void describe(void)
{
        static const char *const ns[] = {"pid", "mnt", "uts", "ipc", "net", "cgroup"};
        char path[64], link[128], host[128];

        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                ssize_t n;

                snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
                n = readlink(path, link, sizeof(link) - 1);
                link[n > 0 ? n : 0] = '\0';
                printf("ns_%s %s\n", ns[i], n > 0 ? link : "-");
        }
        printf("pid %d\n", (int)getpid());
        if (gethostname(host, sizeof(host)) < 0)
                host[0] = '\0';
        printf("hostname %s\n", host);
        describe_file("cpu.max", "/sys/fs/cgroup/cpu.max");
        describe_file("memory.max", "/sys/fs/cgroup/memory.max");
        describe_file("pids.max", "/sys/fs/cgroup/pids.max");
        describe_file("cgroup", "/proc/self/cgroup");
        fflush(stdout);
}

int main(int argc, char **argv)
{
        struct timespec ts;
        char line[64];
        int n;

        clock_gettime(CLOCK_REALTIME, &ts);
        n = snprintf(line, sizeof(line), "probe %lld\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        if (n <= 0 || write(STDOUT_FILENO, line, (size_t)n) != n)
                return 1;
        if (argc == 2 && strcmp(argv[1], "--describe") == 0)
                describe();
        return 0;
}

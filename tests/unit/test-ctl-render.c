/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for cli/ctl-render: every view fits 80 and 100 columns with real-sized data
 * (36-character ids, long names), short ids and AGE, short reports for get and inspect, and
 * siloctl top's rows computed from two isolation samples. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl-render.h"
#include "common/macro.h"

#define NOW_MS 1796457255000LL

typedef void (*render_fn)(FILE *f, const json_t *v, const struct ctl_view *view);

static char *render(render_fn fn, const json_t *v, int width)
{
        struct ctl_view view = {.width = width, .now_ms = NOW_MS};
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        fn(f, v, &view);
        fclose(f);
        return text;
}

static size_t columns(const char *s, size_t n)
{
        size_t w = 0;

        for (size_t i = 0; i < n; i++)
                w += ((unsigned char)s[i] & 0xc0) != 0x80;
        return w;
}

/* Every line at most `width` display columns; returns the number of lines. */
static size_t assert_fits(const char *text, int width)
{
        size_t lines = 0;

        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);

                if (columns(p, n) > (size_t)width)
                        fail_msg("line of %zu columns > %d: '%.*s'", columns(p, n), width, (int)n, p);
                lines++;
                p += n + (nl ? 1 : 0);
        }
        return lines;
}

static json_t *tasks_fixture(void)
{
        json_t *a = json_array();

        for (int i = 0; i < 12; i++) {
                char id[40], name[80];

                snprintf(id, sizeof(id), "%08x-1b4c-4d5e-8f90-a1b2c3d4e5f6", 0x3f2a0000u + (unsigned)i * 0x1111u);
                snprintf(name, sizeof(name), "nightly-database-compaction-for-tenant-%d-in-region-eu", i);
                json_array_append_new(
                        a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:i, s:i, s:I}", "id", id, "name", name,
                                     "role", i % 2 ? "storage" : "batch", "state", i < 4 ? "RUNNING" : i < 8 ? "PENDING" : "FINISHED",
                                     "reason", "NONE", "pending_reason",
                                     i >= 4 && i < 8 ? "no agent has 20 MB/s of write bandwidth left on a disk of class ssd" : NULL,
                                     "agent_id", "a1b2c3d4-0000-4000-8000-00000000000a", "hostname",
                                     "storage-node-17.rack-3.example.internal", "exit_code", i >= 8 ? 0 : -1, "signal", 0,
                                     "created_ms", (json_int_t)(NOW_MS - 1000LL * 60 * (i * 7 + 1))));
        }
        return json_pack("{s:o}", "tasks", a);
}

static void test_tasks_table_widths(void **state)
{
        json_t *v = tasks_fixture();
        int widths[] = {80, 100};
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(widths); i++) {
                char *t = render(ctl_render_tasks, v, widths[i]);

                assert_int_equal(assert_fits(t, widths[i]), 13);
                assert_true(strncmp(t, "ID        NAME", 14) == 0);
                assert_non_null(strstr(t, "AGE"));
                /* Short ids, human ages (1 min, 78 min), the state in full. */
                assert_non_null(strstr(t, "\n3f2a0000  "));
                assert_null(strstr(t, "3f2a0000-"));
                assert_non_null(strstr(t, " 60s "));
                assert_non_null(strstr(t, " 78m "));
                assert_non_null(strstr(t, " RUNNING "));
                assert_non_null(strstr(t, "exit 0"));
                free(t);
        }
        /* Not a terminal: nothing is cut. */
        {
                char *t = render(ctl_render_tasks, v, 0);

                assert_non_null(strstr(t, "nightly-database-compaction-for-tenant-11-in-region-eu"));
                assert_non_null(strstr(t, "no agent has 20 MB/s of write bandwidth left on a disk of class ssd"));
                free(t);
        }
        json_decref(v);
}

/* Columns the data does not have (an agent's tasks: no role, no node) are left out. */
static void test_tasks_agent_columns(void **state)
{
        json_t *v = json_pack("[{s:s, s:s, s:s, s:s, s:{s:I}}]", "id", "w", "name", "writer", "state", "RUNNING", "reason",
                              "NONE", "timestamps", "created_ms", (json_int_t)(NOW_MS - 5000));
        char *t = render(ctl_render_tasks, v, 80);
        (void)state;

        assert_string_equal(t, "ID  NAME    STATE    AGE\n"
                               "w   writer  RUNNING   5s\n");
        free(t);
        json_decref(v);
}


/* A master's volumes: the agent's short id, a volume its agent no longer reports shown missing;
 * the report names agent, role and the flag. */
static void test_master_volumes(void **state)
{
        json_t *v = json_pack(
            "{s:[{s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:[s]}, {s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:[]}]}",
            "volumes", "name", "pg-data", "agent_id", "a1b2c3d4-0000-4000-8000-00000000000a", "disk",
            "sda", "size", (json_int_t)(2LL << 30), "used_bytes", (json_int_t)(1LL << 20), "state",
            "ready", "missing", 0, "tasks", "t1", "name", "logs", "agent_id",
            "a1b2c3d4-0000-4000-8000-00000000000a", "disk", "sda", "size", (json_int_t)(1LL << 30),
            "used_bytes", (json_int_t)0, "state", "ready", "missing", 1, "tasks");
        json_t *one = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:b, s:[]}", "name", "logs",
                                "agent_id", "a1b2c3d4", "hostname", "node-1", "role", "storage",
                                "disk", "sda", "size", (json_int_t)(1LL << 30), "used_bytes",
                                (json_int_t)0, "state", "ready", "missing", 1, "tasks");
        char *t = render(ctl_render_volumes, v, 80);
        (void)state;

        assert_int_equal(assert_fits(t, 80), 3);
        assert_true(strncmp(t, "NAME     AGENT     DISK", 23) == 0);
        assert_non_null(strstr(t, "\npg-data  a1b2c3d4  sda"));
        assert_non_null(strstr(t, " ready    t1\n"));
        assert_non_null(strstr(t, " missing  -\n"));
        free(t);
        t = render(ctl_render_volume, one, 80);
        assert_non_null(strstr(t, "a1b2c3d4 (node-1)"));
        assert_non_null(strstr(t, "ready, missing: its agent no longer reports it"));
        assert_non_null(strstr(t, "storage"));
        free(t);
        json_decref(v);
        json_decref(one);
}

static void test_table_cut_marks(void **state)
{
        static const struct ctl_col cols[] = {{"A"}, {"LONG", .shrink = true}, {"N", .right = true}};
        struct ctl_table tab;
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        (void)state;

        ctl_table_init(&tab, cols, ELEMENTSOF(cols));
        assert_int_equal(ctl_table_add(&tab, (const char *[]){"x", "abcdefghijklmnopqrstuvwxyz", "12345"}), 0);
        assert_int_equal(ctl_table_add(&tab, (const char *[]){"yy", NULL, "1"}), 0);
        ctl_table_print(&tab, f, 20);
        fclose(f);
        assert_string_equal(text, "A   LONG           N\n"
                                  "x   abcdefgh~  12345\n"
                                  "yy  -              1\n");
        free(text);
        ctl_table_done(&tab);
}

static void test_agents_devices_widths(void **state)
{
        json_t *agents = json_pack(
                "{s:[{s:s, s:s, s:s, s:s, s:{s:f, s:I, s:[{s:s}, {s:s}]}, s:I}]}", "agents", "id",
                "a1b2c3d4-0000-4000-8000-00000000000a", "hostname", "storage-node-17.rack-3.example.internal", "address",
                "http://10.20.30.40:5051", "state", "ACTIVE", "resources", "cpus", 64.0, "mem",
                (json_int_t)274877906944LL, "disks", "name", "nvme0n1", "name", "nvme1n1", "registered_ms",
                (json_int_t)(NOW_MS - 3LL * 86400 * 1000));
        json_t *devices = json_pack("{s:[{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}]}", "disks", "name", "nvme0n1",
                                    "device", "259:0", "path", "/dev/disk/by-id/nvme-SAMSUNG_MZQL21T9HCJR-00A07_S64GNE0R123456",
                                    "class", "ssd", "read_bps", (json_int_t)6800000000LL, "write_bps",
                                    (json_int_t)4000000000LL, "read_iops", (json_int_t)1000000, "write_iops",
                                    (json_int_t)180000, "source", "calibrated");
        (void)state;

        for (int w = 80; w <= 100; w += 20) {
                char *t = render(ctl_render_agents, agents, w);

                assert_fits(t, w);
                assert_non_null(strstr(t, "a1b2c3d4  "));
                assert_non_null(strstr(t, "256 GiB"));
                assert_non_null(strstr(t, " 3d\n"));
                free(t);
                t = render(ctl_render_devices, devices, w);
                assert_fits(t, w);
                assert_non_null(strstr(t, "6.3 GiB/s"));
                assert_non_null(strstr(t, "calibrated"));
                free(t);
        }
        json_decref(agents);
        json_decref(devices);
}

/* The volume table from a master (AGENT column) and an agent (none), and one volume's report. */
static void test_volumes(void **state)
{
        json_t *master = json_pack("{s:[{s:s, s:s, s:s, s:I, s:I, s:s, s:[s]}]}", "volumes", "name", "pg-data",
                                   "agent_id", "a1b2c3d4-0000-4000-8000-00000000000a", "disk", "nullb1", "size",
                                   (json_int_t)2147483648LL, "used_bytes", (json_int_t)41943040, "state", "ready",
                                   "tasks", "pg-1");
        json_t *agent = json_pack("{s:[{s:s, s:s, s:I, s:I, s:s, s:[]}]}", "volumes", "name", "brick", "disk",
                                  "nullb0", "size", (json_int_t)8388608, "used_bytes", (json_int_t)8192, "state",
                                  "creating", "tasks");
        json_t *one = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:I, s:I, s:[s, s], s:s}", "name", "brick", "disk",
                                "nullb0", "size", (json_int_t)8388608, "used_bytes", (json_int_t)8192, "state", "ready",
                                "path", "/srv/nullb0/silo-volumes/brick", "project_id", (json_int_t)0x51100000,
                                "created_ms", (json_int_t)(NOW_MS - 60000), "tasks", "g1", "g2", "problem",
                                "its directory /srv/nullb0/silo-volumes/brick is missing");
        char *t;
        (void)state;

        t = render(ctl_render_volumes, master, 100);
        assert_fits(t, 100);
        assert_non_null(strstr(t, "NAME     AGENT     DISK       SIZE      USED  STATE  TASKS\n"));
        assert_non_null(strstr(t, "pg-data  a1b2c3d4  nullb1  2.0 GiB  40.0 MiB  ready  pg-1\n"));
        free(t);
        t = render(ctl_render_volumes, agent, 80);
        assert_null(strstr(t, "AGENT"));
        assert_non_null(strstr(t, "brick  nullb0  8.0 MiB  8.0 KiB  creating  -\n"));
        free(t);
        t = render(ctl_render_volume, one, 100);
        assert_non_null(strstr(t, "Size:      8.0 MiB, 8.0 KiB used\n"));
        assert_non_null(strstr(t, "Path:      /srv/nullb0/silo-volumes/brick (project 1360003072)\n"));
        assert_non_null(strstr(t, "Tasks:     g1, g2\n"));
        assert_non_null(strstr(t, "Problem:   its directory /srv/nullb0/silo-volumes/brick is missing\n"));
        free(t);
        json_decref(master);
        json_decref(agent);
        json_decref(one);
}

static void test_task_report(void **state)
{
        json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I,"
                              " s:{s:[s, s, s, s, s], s:{s:i, s:s, s:i, s:[{s:s, s:I}]}},"
                              " s:[{s:s, s:I}, {s:s, s:I}, {s:s, s:I}]}",
                              "id", "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "name", "burn-in-nullb0", "role", "storage",
                              "state", "FINISHED", "reason", "NONE", "agent_id", "a1b2c3d4-0000-4000-8000-00000000000a",
                              "hostname", "demo-node", "exit_code", 0, "signal", 0, "created_ms",
                              (json_int_t)(NOW_MS - 200000), "spec", "command", "/bin/dd", "if=/dev/zero",
                              "of=/dev/nullb0", "bs=1M", "count=240", "resources", "cpus", 1, "mem", "256Mi", "pids", 64,
                              "io", "disk", "nullb0", "wbps", (json_int_t)20000000, "history", "state", "PENDING",
                              "timestamp_ms", (json_int_t)(NOW_MS - 200000), "state", "RUNNING", "timestamp_ms",
                              (json_int_t)(NOW_MS - 199500), "state", "FINISHED", "timestamp_ms",
                              (json_int_t)(NOW_MS - 187000));
        char *t = render(ctl_render_task, v, 100);
        (void)state;

        assert_true(assert_fits(t, 100) <= 12);
        assert_non_null(strstr(t, "State:     FINISHED (exit 0)\n"));
        assert_non_null(strstr(t, "Node:      demo-node (agent a1b2c3d4-0000-4000-8000-00000000000a)\n"));
        assert_non_null(strstr(t, "(3m20s ago)\n"));
        assert_non_null(strstr(t, "Command:   /bin/dd if=/dev/zero of=/dev/nullb0 bs=1M count=240\n"));
        assert_non_null(strstr(t, "I/O:       nullb0 wbps 20M/s\n"));
        assert_non_null(strstr(t, "History:   PENDING -> RUNNING +0.5s -> FINISHED +13.0s\n"));
        /* No millisecond epochs. */
        assert_null(strstr(t, "1796457"));
        free(t);
        t = render(ctl_render_task, v, 80);
        assert_fits(t, 80);
        free(t);
        json_decref(v);
}

/* An isolation view as the agent serves it (agent/api.c isolation_to_json + measure.h):
 * pressure, populated and frozen at the top level, next to limits and usage. */
static json_t *isolation_fixture(long long usage_usec, long long wbytes, double wbps)
{
        json_t *v, *p = json_pack("{s:{s:f, s:f, s:f, s:I}, s:{s:f, s:f, s:f, s:I}}", "some", "avg10", 12.5, "avg60", 3.0,
                              "avg300", 1.0, "total_usec", (json_int_t)123456, "full", "avg10", 10.25, "avg60", 2.0,
                              "avg300", 0.5, "total_usec", (json_int_t)100000);
        /* "O" takes a reference of its own per use: p's first one is dropped below. */
        v = json_pack(
                "{s:s, s:s, s:{s:I, s:I, s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:b,"
                " s:[{s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f}}]},"
                " s:{s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}},"
                " s:[{s:s, s:s, s:I, s:I, s:I, s:I}], s:I}, s:{s:O, s:O, s:O}, s:b, s:b,"
                " s:{s:s, s:f}}",
                "task_id", "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "cgroup",
                "/sys/fs/cgroup/silo/tasks/3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "limits", "cpu_quota_usec",
                (json_int_t)100000, "cpu_period_usec", (json_int_t)100000, "cpu_weight", 100, "cpuset_cpus", "",
                "cpuset_mems", "", "cpuset_cpus_effective", "0-1", "cpuset_mems_effective", "0", "memory_max",
                (json_int_t)268435456, "memory_high", "max", "memory_swap_max", "max", "pids_max", (json_int_t)64,
                "memory_oom_group", 1, "io", "device", "251:0", "name", "nullb0", "rbps", "max", "wbps",
                (json_int_t)20000000, "riops", "max", "wiops", "max", "weight", 100, "measured", "interval_s", 1.0,
                "read_bps", 0.0, "write_bps", wbps, "read_iops", 0.0, "write_iops", 19.0, "p50_us", 850.0, "p99_us",
                1900.0, "usage", "cpu", "usage_usec", (json_int_t)usage_usec, "user_usec", (json_int_t)100000,
                "system_usec", (json_int_t)(usage_usec - 100000), "nr_periods", (json_int_t)120, "nr_throttled",
                (json_int_t)45, "throttled_usec", (json_int_t)2100000, "memory", "current", (json_int_t)12582912, "peak",
                (json_int_t)20971520, "swap_current", (json_int_t)0, "events", "high", (json_int_t)0, "max",
                (json_int_t)0, "oom", (json_int_t)0, "oom_kill", (json_int_t)0, "oom_group_kill", (json_int_t)0, "io",
                "device", "251:0", "name", "nullb0", "rbytes", (json_int_t)0, "wbytes", (json_int_t)wbytes, "rios",
                (json_int_t)0, "wios", (json_int_t)(wbytes / 1048576), "pids_current", (json_int_t)3, "pressure", "cpu",
                p, "memory", p, "io", p, "populated", 1, "frozen", 0, "measured", "source", "ebpf", "interval_s", 1.0);
        json_decref(p);
        return v;
}

static void test_isolation_report(void **state)
{
        json_t *v = isolation_fixture(12300000, 125829120, 19998720.0);
        (void)state;

        for (int w = 80; w <= 100; w += 20) {
                char *t = render(ctl_render_isolation, v, w);
                size_t lines = assert_fits(t, w);

                /* Short: ten summary lines, then the LIMIT vs MEASURED table. */
                assert_true(lines <= 20);
                assert_non_null(strstr(t, "\nCPU:       limit 1.00 CPUs (100000/100000 us), weight 100, cpuset all (0-1)\n"));
                assert_non_null(strstr(t, "\nCPU use:   12.30 s (user 0.10, system 12.20); throttled 45/120 periods, 2.10 s\n"));
                assert_non_null(strstr(t, "\nMemory:    limit 256 MiB, high max, swap max"));
                assert_non_null(strstr(t, "\nMem use:   12.0 MiB (peak 20.0 MiB)"));
                assert_non_null(strstr(t, "\nPids:      3 of 64\n"));
                assert_true(strncmp(t, "Task:      3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6 (running)\n", 58) == 0);
                assert_non_null(strstr(t, "\nPressure:  avg10  cpu 12.5%  memory 12.5% (full 10.2%)  io 12.5% (full 10.2%)\n"));
                assert_non_null(strstr(t, "\nI/O nullb0 (251:0), measured over 1.0 s:\n"));
                assert_non_null(strstr(t, "\n  write bytes/s        19.1 MiB/s     19.1 MiB/s\n"));
                assert_non_null(strstr(t, "\n  latency p50/p99               -  850 / 1900 us\n"));
                /* A task without a network view (an older agent) has no Network line. */
                assert_null(strstr(t, "Network:"));
                /* An agent without the timing field: no issue-time row. */
                assert_null(strstr(t, "issue times"));
                free(t);
        }
        /* Where the device's issue times come from (bpf/README.md): the kernel's stamp, the
         * issue program's hash, or anything else as the agent said it. */
        {
                json_t *m = json_object_get(json_array_get(json_object_get(json_object_get(v, "limits"),
                                                                           "io"),
                                                           0),
                                            "measured");
                static const char *const modes[][2] = {
                        {"kernel", "kernel (rq)"}, {"hash", "hash (issue)"}, {"mixed", "mixed"}};

                for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                        char want[128], *t;

                        json_object_set_new(m, "timing", json_string(modes[i][0]));
                        t = render(ctl_render_isolation, v, 80);
                        assert_fits(t, 80);
                        snprintf(want, sizeof(want), "\n  issue times                   - %14s\n", modes[i][1]);
                        assert_non_null(strstr(t, want));
                        free(t);
                }
                json_object_del(m, "timing");
        }
        /* A bridge task's network (agent/task-network.h): the limit in force and the veth's rates. */
        json_object_set_new(v, "network",
                            json_pack("{s:s, s:s, s:s, s:I, s:{s:f, s:f, s:f}}", "mode", "bridge", "address",
                                      "10.88.0.4", "interface", "silo-tc", "egress_bits_per_s",
                                      (json_int_t)20000000, "measured", "interval_s", 1.0, "tx_bits_per_s",
                                      19193225.2, "rx_bits_per_s", 174414.4));
        {
                char *t = render(ctl_render_isolation, v, 100);

                assert_non_null(strstr(t, "\nNetwork:   bridge 10.88.0.4 (veth silo-tc); egress limit 20.0Mbit/s\n"));
                assert_non_null(strstr(t, "\nNet use:   tx 19.2Mbit/s, rx 174Kbit/s (measured over 1.0 s)\n"));
                free(t);
        }
        json_object_set_new(v, "network", json_pack("{s:s}", "mode", "host"));
        {
                char *t = render(ctl_render_isolation, v, 100);

                assert_non_null(strstr(t, "\nNetwork:   host\n"));
                free(t);
        }
        json_decref(v);
}

static void test_top_rows(void **state)
{
        /* Two samples 2 s apart: 1.5 s of CPU (75 %), 40 MB written. */
        json_t *a = isolation_fixture(1000000, 0, 19000000.0), *b = isolation_fixture(2500000, 40000000, 19500000.0);
        struct ctl_top_row rows[3] = {};
        (void)state;

        ctl_top_row_fill(&rows[0], b, a, 2.0);
        snprintf(rows[0].id, sizeof(rows[0].id), "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6");
        snprintf(rows[0].name, sizeof(rows[0].name), "writer");
        assert_true(fabs(rows[0].cpu_pct - 75.0) < 1e-9);
        assert_true(rows[0].cpu_limit == 1.0);
        assert_true(rows[0].wbps == 19500000.0);
        assert_true(rows[0].wbps_max == 20000000.0);
        assert_true(isnan(rows[0].rbps_max));
        assert_true(rows[0].p99_us == 1900.0);
        assert_true(rows[0].mem_max == 268435456.0);

        /* First sample: no CPU % yet. */
        ctl_top_row_fill(&rows[1], a, NULL, 0);
        snprintf(rows[1].id, sizeof(rows[1].id), "77aa0000-0000-4000-8000-000000000003");
        snprintf(rows[1].name, sizeof(rows[1].name), "a-very-long-task-name-that-will-not-fit-in-a-narrow-terminal-x");
        rows[1].wbps = 1000;
        assert_true(isnan(rows[1].cpu_pct));

        /* Without eBPF figures: io.stat's difference over the interval. */
        json_object_set_new(json_array_get(json_object_get(json_object_get(b, "limits"), "io"), 0), "measured", json_null());
        ctl_top_row_fill(&rows[2], b, a, 2.0);
        assert_true(rows[2].wbps == 20000000.0);
        assert_true(isnan(rows[2].p99_us));
        snprintf(rows[2].id, sizeof(rows[2].id), "00000000-0000-4000-8000-000000000009");
        snprintf(rows[2].name, sizeof(rows[2].name), "zz");
        snprintf(rows[2].node, sizeof(rows[2].node), "storage-node-17.rack-3.example.internal");

        ctl_top_sort(rows, 3, "io");
        assert_string_equal(rows[0].name, "zz");
        assert_string_equal(rows[1].name, "writer");
        ctl_top_sort(rows, 3, "cpu");
        assert_true(isnan(rows[2].cpu_pct));
        ctl_top_sort(rows, 3, "name");
        assert_string_equal(rows[0].name, "a-very-long-task-name-that-will-not-fit-in-a-narrow-terminal-x");

        for (int w = 80; w <= 100; w += 20) {
                struct ctl_view view = {.width = w, .now_ms = NOW_MS};
                char *text = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&text, &size);

                ctl_render_top(f, rows, 3, &view);
                fclose(f);
                assert_int_equal(assert_fits(text, w), 4);
                assert_true(strncmp(text, "ID        NAME", 14) == 0);
                assert_non_null(strstr(text, "CPU%"));
                assert_non_null(strstr(text, "  75.0  "));
                /* Write rate against its limit, compact binary units: 18.6M of 19.1M. */
                assert_non_null(strstr(text, " 18.6M/19.1M "));
                assert_non_null(strstr(text, " 12M/256M "));
                assert_non_null(strstr(text, " 1.9ms"));
                free(text);
        }
        {
                json_t *j = ctl_top_to_json(rows, 3);
                json_t *w = json_array_get(j, 2);

                assert_int_equal(json_array_size(j), 3);
                assert_string_equal(json_string_value(json_object_get(w, "name")), "zz");
                assert_true(json_real_value(json_object_get(w, "write_bps")) == 20000000.0);
                assert_true(json_real_value(json_object_get(w, "wbps_max")) == 20000000.0);
                assert_true(json_is_null(json_object_get(w, "p99_us")));
                json_decref(j);
        }
        json_decref(a);
        json_decref(b);
}

static void test_formats(void **state)
{
        char b[64];
        (void)state;

        ctl_format_age(0, b, sizeof(b));
        assert_string_equal(b, "0s");
        ctl_format_age(119999, b, sizeof(b));
        assert_string_equal(b, "119s");
        ctl_format_age(200000, b, sizeof(b));
        assert_string_equal(b, "3m20s");
        ctl_format_age(3600000, b, sizeof(b));
        assert_string_equal(b, "60m");
        ctl_format_age(5LL * 3600000 + 180000, b, sizeof(b));
        assert_string_equal(b, "5h3m");
        ctl_format_age(26LL * 3600000, b, sizeof(b));
        assert_string_equal(b, "26h");
        ctl_format_age(3LL * 86400000, b, sizeof(b));
        assert_string_equal(b, "3d");
        ctl_format_compact(512, b, sizeof(b));
        assert_string_equal(b, "512");
        ctl_format_compact(20000000, b, sizeof(b));
        assert_string_equal(b, "19.1M");
        ctl_format_compact(268435456, b, sizeof(b));
        assert_string_equal(b, "256M");
        ctl_format_compact(NAN, b, sizeof(b));
        assert_string_equal(b, "-");
        ctl_format_usec(850, b, sizeof(b));
        assert_string_equal(b, "850us");
        ctl_format_usec(1234, b, sizeof(b));
        assert_string_equal(b, "1.2ms");
        ctl_format_usec(2500000, b, sizeof(b));
        assert_string_equal(b, "2.50s");
        ctl_short_id("3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", b, sizeof(b));
        assert_string_equal(b, "3f2a1b4c");
        ctl_short_id("w", b, sizeof(b));
        assert_string_equal(b, "w");
}

static void render_events(FILE *f, const json_t *v, const struct ctl_view *view)
{
        size_t i;
        const json_t *e;

        ctl_render_event_header(f, view);
        json_array_foreach(v, i, e)
                ctl_render_event(f, e, view);
}

/* siloctl events: one line per event, fixed columns, what happened in words, cut to the width. */
static void test_event_lines(void **state)
{
        json_t *events = json_pack(
            "[{s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s},"
            " {s:i, s:s, s:I, s:s, s:s, s:s, s:[{s:i, s:s}], s:[{s:i, s:i, s:s}]},"
            " {s:i, s:s, s:I, s:s, s:s, s:s},"
            " {s:i, s:s, s:I, s:s, s:s, s:s}]",
            "index", 41, "type", "task_state", "time_ms", (json_int_t)NOW_MS, "task_id",
            "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "task_name", "web", "state", "FAILED", "reason", "EXIT_NONZERO",
            "agent_id", "77aa0000-0000-4000-8000-000000000003", "exit_code", 3, "message", "exited with 3",
            "index", 42, "type", "task_placed", "time_ms", (json_int_t)NOW_MS, "task_id",
            "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "task_name", "web", "agent_id",
            "77aa0000-0000-4000-8000-000000000003", "disks", "io", 0, "disk", "nullb0", "ports", "container", 5432,
            "host", 20001, "proto", "tcp",
            "index", 43, "type", "task_pending", "time_ms", (json_int_t)NOW_MS, "task_id",
            "3f2a1b4c-1b4c-4d5e-8f90-a1b2c3d4e5f6", "task_name", "web", "message",
            "no agent has 64 cpus free (largest: node-3 with 4 free)",
            "index", 44, "type", "agent_lost", "time_ms", (json_int_t)NOW_MS, "agent_id",
            "77aa0000-0000-4000-8000-000000000003", "hostname", "node-3", "address", "10.0.0.3:5051");
        char *text, *line;
        (void)state;

        assert_non_null(events);
        setenv("TZ", "UTC", 1);
        tzset();
        text = render(render_events, events, 0);
        line = strtok(text, "\n");
        assert_string_equal(line, "   INDEX  TIME      TYPE            ID        DETAIL");
        assert_string_equal(strtok(NULL, "\n"),
                            "      41  07:54:15  task_state      3f2a1b4c  web FAILED EXIT_NONZERO exit 3 on 77aa0000: "
                            "exited with 3");
        assert_string_equal(strtok(NULL, "\n"),
                            "      42  07:54:15  task_placed     3f2a1b4c  web on 77aa0000 disks nullb0 ports 5432->20001/tcp");
        assert_string_equal(strtok(NULL, "\n"), "      43  07:54:15  task_pending    3f2a1b4c  web: no agent has 64 cpus "
                                                "free (largest: node-3 with 4 free)");
        assert_string_equal(strtok(NULL, "\n"), "      44  07:54:15  agent_lost      77aa0000  node-3 10.0.0.3:5051");
        assert_null(strtok(NULL, "\n"));
        free(text);

        text = render(render_events, events, 80);
        assert_int_equal(assert_fits(text, 80), 5);
        free(text);
        json_decref(events);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tasks_table_widths),
                cmocka_unit_test(test_tasks_agent_columns),
            cmocka_unit_test(test_master_volumes),
                cmocka_unit_test(test_table_cut_marks),
                cmocka_unit_test(test_agents_devices_widths),
                cmocka_unit_test(test_volumes),
                cmocka_unit_test(test_task_report),
                cmocka_unit_test(test_isolation_report),
                cmocka_unit_test(test_top_rows),
                cmocka_unit_test(test_formats),
                cmocka_unit_test(test_event_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

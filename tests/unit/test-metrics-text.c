/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/metrics-text: the Prometheus text writer both daemons' /metrics use
 * (exact output, escaping, histograms, misuse), and promtool's verdict on what it writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/metrics-text.h"

static void finish(struct metrics_text *w, char **ret_text)
{
        assert_int_equal(metrics_text_finish(w, ret_text), 0);
        assert_non_null(*ret_text);
}

static struct metrics_text *writer(void)
{
        struct metrics_text *w = NULL;

        assert_int_equal(metrics_text_new(&w), 0);
        return w;
}

static void test_counter_gauge(void **state)
{
        struct metrics_text *w = writer();
        _cleanup_free_ char *text = NULL;

        (void)state;
        metrics_text_family(w, "silo_x_total", METRICS_COUNTER, "Things done.");
        metrics_text_sample_u64(w, NULL, UINT64_C(18446744073709551615));
        metrics_text_family(w, "silo_y", METRICS_GAUGE, "A level.");
        metrics_text_sample(w, METRICS_LABELS({"a", "1"}, {"b", "two"}), 0.1);
        metrics_text_sample(w, METRICS_LABELS({"a", "2"}, {"b", NULL}), 1e21);
        metrics_text_sample(w, METRICS_LABELS({"a", "3"}), NAN);
        metrics_text_sample(w, METRICS_LABELS({"a", "4"}), -INFINITY);
        finish(w, &text);
        assert_string_equal(text, "# HELP silo_x_total Things done.\n"
                                  "# TYPE silo_x_total counter\n"
                                  "silo_x_total 18446744073709551615\n"
                                  "# HELP silo_y A level.\n"
                                  "# TYPE silo_y gauge\n"
                                  "silo_y{a=\"1\",b=\"two\"} 0.1\n"
                                  "silo_y{a=\"2\",b=\"\"} 1e+21\n"
                                  "silo_y{a=\"3\"} NaN\n"
                                  "silo_y{a=\"4\"} -Inf\n");
}

/* Label values escape backslash, double quote and newline; HELP escapes backslash and
 * newline only (the exposition format's rules). */
static void test_escaping(void **state)
{
        struct metrics_text *w = writer();
        _cleanup_free_ char *text = NULL;

        (void)state;
        metrics_text_family(w, "silo_e", METRICS_GAUGE, "Help with \\ and \"quotes\"\nand a line.");
        metrics_text_sample(w, METRICS_LABELS({"name", "a\"b\\c\nd"}), 1);
        finish(w, &text);
        assert_string_equal(text, "# HELP silo_e Help with \\\\ and \"quotes\"\\nand a line.\n"
                                  "# TYPE silo_e gauge\n"
                                  "silo_e{name=\"a\\\"b\\\\c\\nd\"} 1\n");
}

static void test_histogram(void **state)
{
        static const double le[] = {0.001, 0.01, 0.1};
        struct metrics_hist h = {.le = le, .n = ELEMENTSOF(le)};
        struct metrics_text *w = writer();
        _cleanup_free_ char *text = NULL;

        (void)state;
        metrics_hist_observe(&h, 0.0005);
        metrics_hist_observe(&h, 0.001); /* on the bound: le is inclusive */
        metrics_hist_observe(&h, 0.05);
        metrics_hist_observe(&h, 3);
        metrics_text_family(w, "silo_h_seconds", METRICS_HISTOGRAM, "Durations.");
        metrics_text_hist(w, METRICS_LABELS({"op", "read"}), &h);
        finish(w, &text);
        assert_string_equal(text, "# HELP silo_h_seconds Durations.\n"
                                  "# TYPE silo_h_seconds histogram\n"
                                  "silo_h_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"
                                  "silo_h_seconds_bucket{op=\"read\",le=\"0.01\"} 2\n"
                                  "silo_h_seconds_bucket{op=\"read\",le=\"0.1\"} 3\n"
                                  "silo_h_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
                                  "silo_h_seconds_sum{op=\"read\"} 3.0515\n"
                                  "silo_h_seconds_count{op=\"read\"} 4\n");
}

/* Misuse is a programmer error the writer reports at the end instead of writing text
 * Prometheus would reject. */
static void test_misuse(void **state)
{
        static const double bad_le[] = {1, 1};
        struct metrics_text *w;
        char *text = NULL;

        (void)state;
        w = writer(); /* a family twice: its samples would not be contiguous */
        metrics_text_family(w, "silo_a", METRICS_GAUGE, "A.");
        metrics_text_family(w, "silo_a", METRICS_GAUGE, "A.");
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);
        assert_null(text);

        w = writer(); /* a sample before any family */
        metrics_text_sample(w, NULL, 1);
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);

        w = writer(); /* a plain sample in a histogram family */
        metrics_text_family(w, "silo_h", METRICS_HISTOGRAM, "H.");
        metrics_text_sample(w, NULL, 1);
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);

        w = writer(); /* invalid names */
        metrics_text_family(w, "silo-dash", METRICS_GAUGE, "D.");
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);
        w = writer();
        metrics_text_family(w, "silo_g", METRICS_GAUGE, "G.");
        metrics_text_sample(w, METRICS_LABELS({"a:b", "x"}), 1);
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);

        w = writer(); /* bounds not ascending */
        metrics_text_family(w, "silo_h", METRICS_HISTOGRAM, "H.");
        metrics_text_histogram(w, NULL, bad_le, (const uint64_t[]){1, 1}, 2, 0, 1);
        assert_int_equal(metrics_text_finish(w, &text), -EINVAL);
        assert_null(text);
}

/* process_* and silo_build_info read /proc/self: the figures are this process's. */
static void test_process(void **state)
{
        struct metrics_text *w = writer();
        _cleanup_free_ char *text = NULL;
        const char *p;
        double rss = 0;

        (void)state;
        metrics_text_process(w);
        finish(w, &text);
        assert_non_null(strstr(text, "silo_build_info{version=\"" SILO_VERSION "\"} 1\n"));
        assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
        assert_non_null(strstr(text, "\nprocess_start_time_seconds 1"));
        assert_non_null(strstr(text, "\nprocess_open_fds "));
        assert_non_null(strstr(text, "\nprocess_max_fds "));
        p = strstr(text, "\nprocess_resident_memory_bytes ");
        assert_non_null(p);
        assert_int_equal(sscanf(p, "\nprocess_resident_memory_bytes %lf", &rss), 1);
        assert_true(rss > 100 * 1024 && rss < 1e9);
}

/* What a daemon writes (every kind of family, awkward labels) passes `promtool check metrics`,
 * the check the VM suite runs against the real daemons. Skipped without promtool. */
static void test_promtool(void **state)
{
        static const double le[] = {0.5, 1};
        struct metrics_hist h = {.le = le, .n = ELEMENTSOF(le)};
        struct metrics_text *w = writer();
        _cleanup_free_ char *text = NULL;
        char cmd[] = "promtool check metrics >/dev/null 2>&1";
        FILE *f;

        (void)state;
        if (system("command -v promtool >/dev/null 2>&1") != 0)
                skip();
        metrics_hist_observe(&h, 0.7);
        metrics_text_family(w, "silo_things_total", METRICS_COUNTER, "Things \"done\"\\.");
        metrics_text_sample_u64(w, METRICS_LABELS({"name", "a\"b\\c\nd"}), 3);
        metrics_text_family(w, "silo_level_bytes", METRICS_GAUGE, "A level.");
        metrics_text_sample(w, METRICS_LABELS({"device", "nullb0"}), 1.5);
        metrics_text_family(w, "silo_wait_seconds", METRICS_HISTOGRAM, "Waits.");
        metrics_text_hist(w, METRICS_LABELS({"device", "nullb0"}), &h);
        metrics_text_process(w);
        finish(w, &text);
        f = popen(cmd, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(pclose(f), 0);

        /* And the check can fail: a counter without _total is refused. */
        f = popen(cmd, "w");
        assert_non_null(f);
        fputs("# HELP silo_bad A counter without the suffix.\n# TYPE silo_bad counter\nsilo_bad 1\n",
              f);
        assert_int_not_equal(pclose(f), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_counter_gauge), cmocka_unit_test(test_escaping),
            cmocka_unit_test(test_histogram),     cmocka_unit_test(test_misuse),
            cmocka_unit_test(test_process),       cmocka_unit_test(test_promtool),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* silo-io: the io_uring workload and benchmark tool (fio-style options, human or JSON output).
 * Exit status: 0 ok, 1 setup or I/O error, 2 bad options, 3 verify found bad blocks,
 * 130 stopped by SIGINT/SIGTERM (the figures of what completed are still printed). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/macro.h"
#include "io/calibrate.h"
#include "io/engine.h"
#include "io/options.h"
#include "io/report.h"

static atomic_bool cancel;

static void on_signal(int sig)
{
        (void)sig;
        atomic_store(&cancel, true);
}

static json_t *json_decref_null(json_t *j)
{
        json_decref(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(json_t *, json_decref_null)

static void figure_print(const char *name, const struct io_calibration_figure *f, const char *unit,
                         double scale)
{
        if (!f->measured) {
                printf("  %-10s not measured (writes not allowed)\n", name);
                return;
        }
        printf("  %-10s %12.1f %-5s %s bs=%u qd=%u %.2fs p99=%.1fus on %s%s%s%s\n", name,
               f->value / scale, unit, f->method, f->bs, f->iodepth, f->seconds, f->p99_us,
               f->scratch_file ? "scratch file in " : "", f->target, f->direct ? "" : " (buffered)",
               f->unwritten_data ? " [may read never-written blocks]" : "");
}

static int calibrate(const struct io_cli *cli)
{
        _cleanup_free_ char *error = NULL;
        struct io_calibration c;
        struct io_calibrate_opts o = {
                .path = cli->job.filename,
                .seconds = (double)cli->job.runtime_ns / 1e9,
                .allow_write = cli->job.allow_write_device,
                .scratch_size = cli->job.size,
                .region_size = cli->job.size,
        };
        int r;

        r = io_calibrate_disk(&o, &c, &error);
        if (r < 0) {
                fprintf(stderr, "silo-io: %s\n", error ?: strerror(-r));
                return 1;
        }
        if (cli->json) {
                _cleanup_(json_decref_nullp) json_t *j = io_calibration_to_json(&c);
                _cleanup_free_ char *s = NULL;
                if (!j || !(s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10)))) {
                        fprintf(stderr, "silo-io: out of memory\n");
                        return 1;
                }
                puts(s);
                return 0;
        }
        printf("%s (device %s, %" PRIu64 " bytes)\n", c.path, c.device[0] ? c.device : "none",
               c.device_size);
        figure_print("read_bps", &c.read_bps, "MB/s", 1e6);
        figure_print("read_iops", &c.read_iops, "IOPS", 1);
        figure_print("write_bps", &c.write_bps, "MB/s", 1e6);
        figure_print("write_iops", &c.write_iops, "IOPS", 1);
        return 0;
}

int main(int argc, char **argv)
{
        _cleanup_free_ struct io_result *res = NULL;
        _cleanup_free_ char *error = NULL;
        struct io_cli cli;
        int r;

        log_set_ident("silo-io");
        r = io_cli_parse(argc, argv, &cli, &error);
        if (r < 0) {
                fprintf(stderr, "silo-io: %s\n", error ?: strerror(-r));
                return 2;
        }
        if (cli.help) {
                fputs(io_cli_usage(), stdout);
                return 0;
        }
        if (cli.version) {
                printf("silo-io %s\n", SILO_VERSION);
                return 0;
        }
        if (cli.calibrate)
                return calibrate(&cli);

        /* Ctrl-C or SIGTERM: drain, then report what completed (as fio does). */
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        cli.job.cancel = &cancel;

        r = io_job_run(&cli.job, &res, &error);
        if (r < 0) {
                fprintf(stderr, "silo-io: %s\n", error ?: strerror(-r));
                return 1;
        }

        if (cli.json) {
                _cleanup_(json_decref_nullp) json_t *j = io_result_to_json(&cli.job, res);
                _cleanup_free_ char *s = NULL;
                if (!j || !(s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10)))) {
                        fprintf(stderr, "silo-io: out of memory\n");
                        return 1;
                }
                puts(s);
        } else {
                _cleanup_free_ char *s = NULL;
                if (io_result_format(&cli.job, res, &s) < 0) {
                        fprintf(stderr, "silo-io: out of memory\n");
                        return 1;
                }
                fputs(s, stdout);
        }

        if (res->io_error) {
                fprintf(stderr, "silo-io: %s: I/O failed: %s%s\n", cli.job.filename,
                        res->io_error_short ? "short transfer" : strerror(-res->io_error),
                        cli.job.hipri && res->io_error == -EOPNOTSUPP ?
                                " (--hipri: the device has no poll queues, e.g. null_blk "
                                "needs poll_queues=N, NVMe nvme.poll_queues=N)" : "");
                return 1;
        }
        if (res->verified && res->verify.blocks_bad) {
                _cleanup_free_ char *d = NULL;
                if (io_verify_describe(&res->verify, &d) == 0)
                        fprintf(stderr, "silo-io: %s: verify failed at %s\n", cli.job.filename, d);
                return 3;
        }
        return res->cancelled ? 130 : 0;
}

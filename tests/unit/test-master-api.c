/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of silo-master's API: every validation path, run against the real master in process.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http-client.h"
#include "common/http-json.h"
#include "common/log.h"
#include "master/master.h"
#include "tests/unit/master-util.h"

static char tmpdir[] = "/tmp/test-master-api.XXXXXX";
static master *m;
static pthread_t loop_thread;
static char base[64];

static void *loop_main(void *arg)
{
        (void)master_run(arg);
        return NULL;
}

struct reply {
        long status;
        json_t *body;
};

/* One request; body is JSON text (NULL: none). token: the master's unless "none". */
static struct reply call(const char *method, const char *path, const char *body, bool auth)
{
        struct reply r = {0};
        json_t *b = NULL;
        char url[256], *err = NULL;
        int ret;

        if (body) {
                b = json_loads(body, JSON_DECODE_ANY, NULL);
                assert_non_null(b);
        }
        snprintf(url, sizeof(url), "%s%s", base, path);
        ret = http_client_request_sync(method, url, b, auth ? m->token : NULL, 5000, &r.status,
                                       &r.body, NULL, &err);
        if (ret < 0)
                fail_msg("%s %s: %s", method, path, err);
        json_decref(b);
        return r;
}

static void reply_free(struct reply *r)
{
        json_decref(r->body);
}

/* Expect an error reply with this status and code whose message contains `fragment`. */
static void expect_error(const char *method, const char *path, const char *body, long status,
                         const char *code, const char *fragment)
{
        struct reply r = call(method, path, body, true);
        char *c = NULL, *msg = NULL;

        if (r.status != status)
                fail_msg("%s %s %s: status %ld, expected %ld (%s)", method, path, body ? body : "",
                         r.status, status, json_dumps(r.body, 0));
        assert_int_equal(http_json_error_parse(r.body, &c, &msg), 0);
        if (!streq(c, code) || !strstr(msg, fragment))
                fail_msg("%s %s %s: got %s '%s', expected %s containing '%s'", method, path,
                         body ? body : "", c, msg, code, fragment);
        free(c);
        free(msg);
        reply_free(&r);
}

static void test_auth_required(void **state)
{
        static const char *const paths[][2] = {
            {"GET", "/metrics"},
            {"POST", "/api/v1/agents"},
            {"GET", "/api/v1/agents"},
            {"GET", "/api/v1/agents/x"},
            {"POST", "/api/v1/agents/x/heartbeat"},
            {"POST", "/api/v1/status"},
            {"POST", "/api/v1/tasks"},
            {"GET", "/api/v1/tasks"},
            {"GET", "/api/v1/tasks/x"},
            {"DELETE", "/api/v1/tasks/x"},
        };
        struct reply r;

        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                r = call(paths[i][0], paths[i][1], NULL, false);
                if (r.status != 401)
                        fail_msg("%s %s without token: %ld", paths[i][0], paths[i][1], r.status);
                reply_free(&r);
        }
        r = call("GET", "/health", NULL, false);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
        reply_free(&r);
        expect_error("GET", "/api/v2/tasks", NULL, 404, "not_found", "no such endpoint");
        expect_error("PUT", "/api/v1/tasks", NULL, 405, "method_not_allowed", "method not allowed");
}

static void test_task_submit_validation(void **state)
{
        (void)state;
        expect_error("POST", "/api/v1/tasks", NULL, 400, "bad_request",
                     "body: expected a JSON object");
        expect_error("POST", "/api/v1/tasks", "[1]", 400, "bad_request", "got an array");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"cpu\":2}", 400, "invalid_spec",
                     "unknown key 'cpu'");
        expect_error("POST", "/api/v1/tasks", "{\"name\":\"x\"}", 400, "invalid_spec", "command");
        expect_error("POST", "/api/v1/tasks", "{\"name\":\"n\",\"command\":[]}", 400,
                     "invalid_spec", "command");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"resources\":{\"mem\":\"12Q\"}}",
                     400, "invalid_spec", "resources.mem");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"resources\":{\"cpus\":-1}}",
                     400, "invalid_spec", "resources.cpus");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"id\":\"../etc\"}", 400,
                     "invalid_spec", "id");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/"
                     "true\"],\"resources\":{\"io\":[{\"device\":\"/dev/sda\",\"wbps\":1000}]}}",
                     400, "invalid_spec",
                     "resources.io[0].device: '/dev/sda': a device path only works");
        expect_error("POST", "/api/v1/tasks",
                     "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"resources\":{\"io\":["
                     "{\"disk\":\"d0\"},{\"disk\":\"d1\"},{\"disk\":\"d2\"},{\"disk\":\"d3\"},{"
                     "\"disk\":\"d4\"},"
                     "{\"disk\":\"d5\"},{\"disk\":\"d6\"},{\"disk\":\"d7\"},{\"disk\":\"d8\"}]}}",
                     400, "invalid_spec", "resources.io");
        /* Nothing was created by any of them. */
        {
                struct reply r = call("GET", "/api/v1/tasks", NULL, true);
                assert_int_equal(r.status, 200);
                assert_int_equal(json_array_size(json_object_get(r.body, "tasks")), 0);
                reply_free(&r);
        }
}

static void test_task_lifecycle_api(void **state)
{
        const char *spec = "{\"id\":\"t-1\",\"name\":\"one\",\"command\":[\"/bin/"
                           "true\"],\"resources\":{\"cpus\":1}}";
        struct reply r;
        char path[128];

        (void)state;
        r = call("POST", "/api/v1/tasks", spec, true);
        assert_int_equal(r.status, 201);
        assert_string_equal(json_string_value(json_object_get(r.body, "id")), "t-1");
        assert_string_equal(json_string_value(json_object_get(r.body, "state")), "PENDING");
        reply_free(&r);
        r = call("POST", "/api/v1/tasks", spec, true);
        assert_int_equal(r.status, 200);
        reply_free(&r);
        expect_error("POST", "/api/v1/tasks",
                     "{\"id\":\"t-1\",\"name\":\"n\",\"command\":[\"/bin/false\"]}", 409,
                     "conflict", "task t-1 exists with another spec");

        /* Without an id the master makes a UUID. */
        r = call("POST", "/api/v1/tasks", "{\"name\":\"n\",\"command\":[\"/bin/true\"]}", true);
        assert_int_equal(r.status, 201);
        assert_int_equal(strlen(json_string_value(json_object_get(r.body, "id"))), 36);
        snprintf(path, sizeof(path), "/api/v1/tasks/%s",
                 json_string_value(json_object_get(r.body, "id")));
        reply_free(&r);

        r = call("GET", "/api/v1/tasks?state=PENDING", NULL, true);
        assert_int_equal(json_array_size(json_object_get(r.body, "tasks")), 2);
        /* Submission order. */
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(r.body, "tasks"), 0), "id")),
                            "t-1");
        reply_free(&r);
        r = call("GET", "/api/v1/tasks?state=RUNNING", NULL, true);
        assert_int_equal(json_array_size(json_object_get(r.body, "tasks")), 0);
        reply_free(&r);
        expect_error("GET", "/api/v1/tasks?state=bogus", NULL, 400, "bad_request",
                     "state: 'bogus' is not a task state");

        r = call("GET", "/api/v1/tasks/t-1", NULL, true);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "pending_reason")),
                            "no agents registered");
        assert_int_equal(json_array_size(json_object_get(r.body, "history")), 1);
        reply_free(&r);
        expect_error("GET", "/api/v1/tasks/nope", NULL, 404, "not_found",
                     "task nope: no such task");

        r = call("DELETE", "/api/v1/tasks/t-1", NULL, true);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "state")), "KILLED");
        assert_string_equal(json_string_value(json_object_get(r.body, "reason")),
                            "KILLED_BY_REQUEST");
        reply_free(&r);
        expect_error("DELETE", "/api/v1/tasks/t-1", NULL, 409, "conflict",
                     "task t-1: already KILLED");
        expect_error("DELETE", "/api/v1/tasks/nope", NULL, 404, "not_found", "no such task");
        r = call("DELETE", path, NULL, true);
        assert_int_equal(r.status, 200);
        reply_free(&r);
}

static void test_agent_validation(void **state)
{
        const char *ok = "{\"hostname\":\"n1\",\"address\":\"127.0.0.1:9\",\"version\":\"t\","
                         "\"resources\":{\"cpus\":4,\"mem\":1073741824}}";
        struct reply r;
        char path[160], id[64];

        (void)state;
        expect_error("POST", "/api/v1/agents", NULL, 400, "bad_request",
                     "body: expected a JSON object");
        expect_error("POST", "/api/v1/agents",
                     "{\"address\":\"a:1\",\"version\":\"t\",\"resources\":{\"cpus\":1,\"mem\":1}}",
                     400, "invalid_registration", "hostname");
        expect_error("POST", "/api/v1/agents",
                     "{\"hostname\":\"n\",\"address\":\"a:1\",\"version\":\"t\",\"resources\":{"
                     "\"cpus\":1,\"mem\":1},"
                     "\"colour\":\"red\"}",
                     400, "invalid_registration", "unknown key 'colour'");
        expect_error("POST", "/api/v1/agents",
                     "{\"hostname\":\"n\",\"address\":\"a:1\",\"version\":\"t\",\"resources\":{"
                     "\"cpus\":1,\"mem\":\"lots\"}}",
                     400, "invalid_registration", "resources.mem");
        static const char *const bad_addresses[] = {"nohost",  "h:",    "h:0",   "h:65536",
                                                    "h:12x",   "h/x:1", "u@h:1", ":80",
                                                    "[::1]80", "h:1?a", "a:b:1"};
        for (size_t i = 0; i < ELEMENTSOF(bad_addresses); i++) {
                char body[256];
                snprintf(body, sizeof(body),
                         "{\"hostname\":\"n\",\"address\":\"%s\",\"version\":\"t\",\"resources\":{"
                         "\"cpus\":1,\"mem\":1}}",
                         bad_addresses[i]);
                expect_error("POST", "/api/v1/agents", body, 400, "invalid_registration",
                             "is not HOST:PORT");
        }
        r = call("GET", "/api/v1/agents", NULL, true);
        assert_int_equal(json_array_size(json_object_get(r.body, "agents")), 0);
        reply_free(&r);

        r = call("POST", "/api/v1/agents", ok, true);
        assert_int_equal(r.status, 201);
        snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.body, "agent_id")));
        assert_int_equal(json_integer_value(json_object_get(r.body, "heartbeat_interval_ms")),
                         1000);
        reply_free(&r);

        snprintf(path, sizeof(path), "/api/v1/agents/%s/heartbeat", id);
        r = call("POST", path, NULL, true);
        assert_int_equal(r.status, 200);
        reply_free(&r);
        r = call("POST", path, "{\"tasks\":[]}", true);
        assert_int_equal(r.status, 200);
        reply_free(&r);
        expect_error("POST", path, "[]", 400, "bad_request", "body: expected a JSON object");
        expect_error("POST", path, "{\"running\":[]}", 400, "bad_request", "unknown key 'running'");
        expect_error("POST", path, "{\"tasks\":{}}", 400, "bad_request",
                     "tasks: expected an array");
        expect_error("POST", path, "{\"tasks\":[7]}", 400, "bad_request",
                     "tasks[0]: expected a task id string");
        expect_error("POST", path, "{\"tasks\":[\"ok\",\"../x\"]}", 400, "bad_request",
                     "tasks[1]: expected a task id");
        expect_error("POST", "/api/v1/agents/unknown/heartbeat", "{}", 404, "unknown_agent",
                     "register first");

        snprintf(path, sizeof(path), "/api/v1/agents/%s", id);
        r = call("GET", path, NULL, true);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "state")), "ACTIVE");
        assert_string_equal(json_string_value(json_object_get(r.body, "hostname")), "n1");
        assert_true(json_real_value(json_object_get(json_object_get(r.body, "free"), "cpus")) ==
                    4.0);
        reply_free(&r);
        expect_error("GET", "/api/v1/agents/unknown", NULL, 404, "not_found",
                     "agent unknown: no such agent");

        /* Registering again with the id keeps the agent (200). */
        {
                char body[512];
                snprintf(body, sizeof(body),
                         "{\"agent_id\":\"%s\",\"hostname\":\"n1\",\"address\":\"127.0.0.1:9\","
                         "\"version\":\"t\","
                         "\"resources\":{\"cpus\":8,\"mem\":1073741824}}",
                         id);
                r = call("POST", "/api/v1/agents", body, true);
                assert_int_equal(r.status, 200);
                assert_string_equal(json_string_value(json_object_get(r.body, "agent_id")), id);
                reply_free(&r);
        }
        r = call("GET", "/api/v1/agents", NULL, true);
        assert_int_equal(json_array_size(json_object_get(r.body, "agents")), 1);
        reply_free(&r);
}

static void test_status_validation(void **state)
{
        const char *nobody = "{\"update_id\":\"u-0\",\"task_id\":\"ghost\",\"state\":\"RUNNING\","
                             "\"timestamp_ms\":1}";
        char u[256];
        struct reply r;

        (void)state;
        /* Status updates come from the agent registered in test_agent_validation. */
        r = call("GET", "/api/v1/agents", NULL, true);
        snprintf(u, sizeof(u),
                 "{\"update_id\":\"u-1\",\"task_id\":\"ghost\",\"agent_id\":\"%s\","
                 "\"state\":\"RUNNING\",\"timestamp_ms\":1}",
                 json_string_value(
                     json_object_get(json_array_get(json_object_get(r.body, "agents"), 0), "id")));
        reply_free(&r);
        expect_error("POST", "/api/v1/status", nobody, 400, "invalid_status",
                     "agent_id: missing: the master takes a status update of task ghost only from "
                     "the agent it is placed on");
        expect_error("POST", "/api/v1/status",
                     "{\"update_id\":\"u-2\",\"task_id\":\"ghost\",\"agent_id\":\"forged\","
                     "\"state\":\"RUNNING\",\"timestamp_ms\":1}",
                     409, "conflict", "agent_id: agent forged is not registered with this master");
        expect_error("POST", "/api/v1/status", NULL, 400, "bad_request",
                     "body: expected a JSON object");
        expect_error("POST", "/api/v1/status",
                     "{\"task_id\":\"x\",\"state\":\"RUNNING\",\"timestamp_ms\":1}", 400,
                     "invalid_status", "update_id");
        expect_error("POST", "/api/v1/status",
                     "{\"update_id\":\"a\",\"task_id\":\"x\",\"state\":\"RUNNNING\"}", 400,
                     "invalid_status", "state");
        expect_error("POST", "/api/v1/status",
                     "{\"update_id\":\"a\",\"task_id\":\"x\",\"state\":\"RUNNING\",\"x\":1}", 400,
                     "invalid_status", "unknown key 'x'");
        /* An update for a task the master does not know is acknowledged (and recorded) so the
         * agent stops resending it; repeats are duplicates. */
        r = call("POST", "/api/v1/status", u, true);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.body, "acknowledged")), "u-1");
        assert_false(json_is_true(json_object_get(r.body, "duplicate")));
        reply_free(&r);
        r = call("POST", "/api/v1/status", u, true);
        assert_int_equal(r.status, 200);
        assert_true(json_is_true(json_object_get(r.body, "duplicate")));
        reply_free(&r);
}

static void test_metrics(void **state)
{
        long status = 0;
        char url[128];

        (void)state;
        /* /metrics is text, so the sync client returns no JSON; check the status only here
         * (promtool checks the format in the host suite). */
        snprintf(url, sizeof(url), "%s/metrics", base);
        assert_int_equal(
            http_client_request_sync("GET", url, NULL, m->token, 2000, &status, NULL, NULL, NULL), 0);
        assert_int_equal(status, 200);
        {
                char *text = master_metrics_format(m);
                assert_non_null(strstr(text, "# TYPE silo_master_tasks gauge"));
                assert_non_null(strstr(text, "silo_master_tasks{state=\"KILLED\"} 2"));
                assert_non_null(strstr(text, "silo_master_status_duplicates_total 1"));
                free(text);
        }
}

static int setup(void **state)
{
        struct master_options o = {
            .listen = (char *)"127.0.0.1:0",
            .heartbeat_interval_ms = 1000,
            .agent_timeout_ms = 60000,
            .launch_attempts = 3,
            .launch_timeout_ms = 1000,
            .retry_base_ms = 100,
            .max_connections = 64,
            .event_consumers_max = 2,
            /* a closed stream is noticed at its next write, the heartbeat at the latest */
            .event_heartbeat_s = 1,
        };
        char *err = NULL;

        (void)state;
        log_set_max_level(LOG_WARNING);
        if (!mkdtemp(tmpdir))
                return -1;
        o.state_dir = tmpdir;
        unit_master_store(&o, tmpdir);
        if (master_new(&o, &m, &err) < 0) {
                fprintf(stderr, "master_new: %s\n", err);
                return -1;
        }
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", http_server_port(m->http));
        return pthread_create(&loop_thread, NULL, loop_main, m) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];

        (void)state;
        master_stop(m);
        pthread_join(loop_thread, NULL);
        master_free(m);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* An event stream on a socket of its own, returned once its first line (a heartbeat) is in:
 * the master counts it as a consumer from then on. -1 when it is refused instead. */
static int stream_open(void)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(http_server_port(m->http)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        char req[512], buf[4096];
        size_t n = 0;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(req, sizeof(req),
                 "GET /api/v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n",
                 m->token);
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        while (n < sizeof(buf) - 1) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t k;

                assert_int_equal(poll(&p, 1, 5000), 1);
                k = read(fd, buf + n, sizeof(buf) - 1 - n);
                assert_true(k > 0);
                n += (size_t)k;
                buf[n] = '\0';
                if (strstr(buf, "\"heartbeat\""))
                        return fd;
                if (strstr(buf, " 503 ")) {
                        close(fd);
                        return -1;
                }
        }
        fail_msg("no heartbeat from the event stream: %s", buf);
        return -1;
}

/* --event-consumers-max: one stream more is a 503 naming the limit; a closed one frees its
 * place. */
static void test_event_consumers_max(void **state)
{
        int a, b, c = -1;
        (void)state;

        a = stream_open();
        b = stream_open();
        expect_error("GET", "/api/v1/events", NULL, 503, "unavailable",
                     "2 event streams are open, the most this master serves "
                     "(--event-consumers-max 2)");
        close(b);
        /* the master notices the close at the stream's next heartbeat or the one after */
        for (int i = 0; i < 250 && c < 0; i++) {
                c = stream_open();
                if (c < 0)
                        usleep(20000);
        }
        assert_true(c >= 0);
        close(a);
        close(c);
}

/* The one errno -> status table: each errno's status, and its code (the endpoint's for 400/404). */
static void test_status_table(void **state)
{
        static const struct {
                int r;
                const char *endpoint_code;
                unsigned status;
                const char *code;
        } cases[] = {
            {-EINVAL, "invalid_spec", 400, "invalid_spec"},
            {-EINVAL, "invalid_registration", 400, "invalid_registration"},
            {-EINVAL, "bad_request", 400, "bad_request"},
            {-ENOENT, "not_found", 404, "not_found"},
            {-ENOENT, "unknown_agent", 404, "unknown_agent"},
            {-ESTALE, "unknown_agent", 404, "unknown_agent"},
            {-EAGAIN, "unknown_agent", 404, "unknown_agent"},
            {-EBUSY, "invalid_spec", 409, "conflict"},
            {-EPERM, "invalid_status", 409, "conflict"},
            {-EFBIG, NULL, 413, "payload_too_large"},
            {-E2BIG, "invalid_spec", 413, "payload_too_large"},
            {-EUSERS, "bad_request", 503, "unavailable"},
            {-ENOMEM, "invalid_spec", 500, NULL},
            {-EIO, "invalid_status", 500, NULL},
        };
        const char *code;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                code = "unset";
                assert_int_equal(master_api_status(cases[i].r, cases[i].endpoint_code, &code),
                                 cases[i].status);
                if (cases[i].code)
                        assert_string_equal(code, cases[i].code);
                else
                        assert_null(code);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_auth_required),
            cmocka_unit_test(test_task_submit_validation),
            cmocka_unit_test(test_task_lifecycle_api),
            cmocka_unit_test(test_agent_validation),
            cmocka_unit_test(test_status_validation),
            cmocka_unit_test(test_metrics),
            cmocka_unit_test(test_event_consumers_max),
            cmocka_unit_test(test_status_table),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

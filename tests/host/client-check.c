/* SPDX-License-Identifier: Apache-2.0 */
/* libsilo against a real silo-master and a sim-agent (started by client.sh): submit, get, list,
 * wait, kill, the event stream, the master's own error messages, failover and redirects. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "silo/client.h"

static const char *master_url, *token_file, *sim_url;

static silo_client *client_open(const char *urls)
{
        struct silo_client_options o = {.token_file = token_file, .timeout_ms = 10000};
        silo_client *c = NULL;
        char *err = NULL;
        int r = silo_client_new(urls, &o, &c, &err);

        if (r < 0)
                fail_msg("silo_client_new(%s): %d %s", urls, r, err);
        return c;
}

static const char *str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* Submit a spec and return the task's id (malloc'ed). */
static char *submit(silo_client *c, const char *spec)
{
        json_t *task = NULL;
        char *err = NULL, *id;
        int r = silo_client_task_submit_text(c, spec, &task, &err);

        if (r < 0)
                fail_msg("submit %s: %d %s", spec, r, err);
        assert_string_equal(str(task, "state"), "PENDING");
        id = strdup(str(task, "id"));
        json_decref(task);
        return id;
}

/* The sim-agent ends a task as an agent would report it (a whole URL: the request goes there). */
static void sim_finish(silo_client *c, const char *id, const char *state, int exit_code)
{
        json_t *body = json_pack("{s:s, s:i}", "state", state, "exit_code", exit_code);
        char path[256], *err = NULL;
        int r;

        snprintf(path, sizeof(path), "%s/sim/finish/%s", sim_url, id);
        r = silo_client_request(c, "POST", path, body, 0, NULL, &err);
        if (r < 0)
                fail_msg("%s: %d %s", path, r, err);
        json_decref(body);
}

static void test_submit_get_list_kill(void **state)
{
        silo_client *c = client_open(master_url);
        json_t *task = NULL, *list = NULL, *t;
        char *err = NULL, *id;
        bool found = false;
        size_t i;
        (void)state;

        id = submit(c, "{\"name\": \"lib-k\", \"command\": [\"/bin/sleep\", \"60\"], \"resources\": {\"cpus\": 0.5}}");
        assert_int_equal(silo_client_task_get(c, id, &task, &err), 0);
        assert_string_equal(str(task, "id"), id);
        assert_string_equal(str(task, "name"), "lib-k");
        json_decref(task);

        assert_int_equal(silo_client_task_wait(c, id, "RUNNING", 10000, &task, &err), 0);
        assert_string_equal(str(task, "state"), "RUNNING");
        assert_non_null(str(task, "agent_id"));
        json_decref(task);

        /* The state filter, and the list's event index (list, then stream from it). */
        assert_int_equal(silo_client_task_list(c, "RUNNING", &list, &err), 0);
        assert_true(json_integer_value(json_object_get(list, "event_index")) > 0);
        json_array_foreach(json_object_get(list, "tasks"), i, t)
        {
                assert_string_equal(str(t, "state"), "RUNNING");
                found = found || !strcmp(str(t, "id"), id);
        }
        assert_true(found);
        json_decref(list);
        assert_int_equal(silo_client_task_list(c, "SLEEPING", &list, &err), -EINVAL);
        assert_non_null(strstr(err, "SLEEPING"));
        free(err);
        err = NULL;

        assert_int_equal(silo_client_task_kill(c, id, &task, &err), 0);
        json_decref(task);
        assert_int_equal(silo_client_task_wait(c, id, NULL, 10000, &task, &err), 0);
        assert_string_equal(str(task, "state"), "KILLED");
        json_decref(task);
        /* An ended task cannot be killed again: 409 is -EEXIST, with the master's words. */
        assert_int_equal(silo_client_task_kill(c, id, NULL, &err), -EEXIST);
        assert_non_null(err);
        assert_null(strstr(err, "HTTP 409"));
        free(err);
        err = NULL;
        assert_int_equal(silo_client_task_get(c, "00000000-0000-4000-8000-00000000dead", &task, &err), -ENOENT);
        assert_non_null(err);
        free(err);
        free(id);
        silo_client_free(c);
}

static void test_wait_states(void **state)
{
        silo_client *c = client_open(master_url);
        json_t *task = NULL;
        char *err = NULL, *id, *big;
        (void)state;

        id = submit(c, "{\"name\": \"lib-f\", \"command\": [\"/bin/false\"], \"resources\": {\"cpus\": 0.5}}");
        assert_int_equal(silo_client_task_wait(c, id, "RUNNING", 10000, NULL, &err), 0);
        sim_finish(c, id, "FAILED", 3);
        assert_int_equal(silo_client_task_wait(c, id, NULL, 10000, &task, &err), 0);
        assert_string_equal(str(task, "state"), "FAILED");
        assert_int_equal(json_integer_value(json_object_get(task, "exit_code")), 3);
        json_decref(task);
        /* Ended otherwise: it can never be FINISHED. */
        assert_int_equal(silo_client_task_wait(c, id, "FINISHED", 10000, NULL, &err), -ECANCELED);
        assert_non_null(strstr(err, "ended FAILED"));
        free(err);
        err = NULL;

        /* A task that cannot be placed stays PENDING: the wait ends at its deadline, and says so. */
        big = submit(c, "{\"name\": \"lib-big\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 64}}");
        assert_int_equal(silo_client_task_wait(c, big, "RUNNING", 700, NULL, &err), -ETIMEDOUT);
        assert_non_null(strstr(err, "is PENDING after 700 ms, not RUNNING"));
        free(err);
        err = NULL;
        assert_int_equal(silo_client_task_wait(c, big, "SLEEPING", 700, NULL, &err), -EINVAL);
        free(err);
        assert_int_equal(silo_client_task_kill(c, big, NULL, NULL), 0);
        free(big);
        free(id);
        silo_client_free(c);
}

struct seen {
        char *task;
        int64_t indexes[64];
        char states[64][16];
        size_t n;
        const char *stop_at; /* the state whose event stops the stream */
};

static int collect(const json_t *e, void *userdata)
{
        struct seen *s = userdata;

        assert_string_not_equal(str(e, "type"), "heartbeat");
        if (s->task && strcmp(str(e, "task_id"), s->task))
                return 0;
        if (s->n < 64) {
                s->indexes[s->n] = json_integer_value(json_object_get(e, "index"));
                snprintf(s->states[s->n], sizeof(s->states[0]), "%s", str(e, "state") ? str(e, "state") : str(e, "type"));
                s->n++;
        }
        return str(e, "state") && !strcmp(str(e, "state"), s->stop_at) ? 42 : 0;
}

static void test_events(void **state)
{
        silo_client *c = client_open(master_url);
        json_t *list = NULL;
        char *err = NULL;
        struct seen s = {.stop_at = "FINISHED"};
        struct silo_client_events_filter f = {.types = "task_state"};
        (void)state;

        /* List, then stream from the list's index: nothing in between is missed. */
        assert_int_equal(silo_client_task_list(c, NULL, &list, &err), 0);
        f.since = json_integer_value(json_object_get(list, "event_index"));
        json_decref(list);
        s.task = submit(c, "{\"name\": \"lib-e\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 0.5}}");
        assert_int_equal(silo_client_task_wait(c, s.task, "RUNNING", 10000, NULL, &err), 0);
        sim_finish(c, s.task, "FINISHED", 0);
        assert_int_equal(silo_client_events(c, &f, collect, &s, &err), 42);
        assert_int_equal(s.n, 5);
        assert_string_equal(s.states[0], "PENDING");
        assert_string_equal(s.states[1], "STAGING");
        assert_string_equal(s.states[2], "STARTING");
        assert_string_equal(s.states[3], "RUNNING");
        assert_string_equal(s.states[4], "FINISHED");
        for (size_t i = 0; i < s.n; i++)
                assert_true(s.indexes[i] > f.since && (i == 0 || s.indexes[i] > s.indexes[i - 1]));

        /* The task filter alone: its events of every type, the same state changes among them. */
        {
                struct seen all = {.stop_at = "FINISHED"};
                struct silo_client_events_filter ft = {.since = f.since, .task = s.task};
                size_t states = 0, placed = 0;

                assert_int_equal(silo_client_events(c, &ft, collect, &all, &err), 42);
                /* (task_pending may come too, when placement waits for the allocator's pass) */
                for (size_t i = 0; i < all.n; i++) {
                        states += strncmp(all.states[i], "task_", 5) != 0;
                        placed += !strcmp(all.states[i], "task_placed");
                }
                assert_int_equal(placed, 1);
                assert_int_equal(states, 5);
        }

        /* An index older than the kept window (client.sh runs the master with --event-window 20). */
        f.since = 0;
        f.types = NULL;
        assert_int_equal(silo_client_events(c, &f, collect, &(struct seen){.stop_at = "-"}, &err), -ESTALE);
        assert_non_null(strstr(err, "re-list"));
        free(err);
        free(s.task);
        silo_client_free(c);
}

static void test_master_errors(void **state)
{
        struct silo_client_options bad = {.token = "0123456789abcdef0123456789abcdef"};
        silo_client *c = client_open(master_url), *b = NULL;
        json_t *task = NULL;
        char *err = NULL;
        (void)state;

        /* A spec the master refuses: its own message, not an HTTP status. */
        assert_int_equal(silo_client_task_submit_text(
                             c, "{\"name\": \"x\", \"command\": [\"/bin/true\"], \"resources\": {\"cpu\": 1}}", &task, &err),
                         -EINVAL);
        assert_string_equal(err, "resources: unknown key 'cpu'");
        assert_null(task);
        free(err);
        err = NULL;
        /* Text that is not JSON never leaves. */
        assert_int_equal(silo_client_task_submit_text(c, "{\"name\": ", NULL, &err), -EINVAL);
        assert_non_null(strstr(err, "task spec: line 1, column"));
        free(err);
        err = NULL;

        assert_int_equal(silo_client_new(master_url, &bad, &b, &err), 0);
        assert_int_equal(silo_client_task_list(b, NULL, NULL, &err), -EACCES);
        assert_non_null(strstr(err, "token"));
        assert_null(strstr(err, "HTTP 401"));
        free(err);
        err = NULL;
        silo_client_free(b);

        /* A token file that is not there names itself. */
        assert_int_equal(silo_client_new(master_url, &(struct silo_client_options){.token_file = "/nonexistent/tok"},
                                         &b, &err),
                         -ENOENT);
        assert_non_null(strstr(err, "/nonexistent/tok"));
        free(err);
        err = NULL;
        assert_int_equal(silo_client_new("ftp://m:1", NULL, &b, &err), -EINVAL);
        assert_non_null(strstr(err, "ftp://m:1"));
        free(err);
        silo_client_free(c);
}

/* A port nothing listens on: bound, then closed. */
static int dead_port(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static void test_failover(void **state)
{
        char urls[512], dead[64], *err = NULL;
        silo_client *c;
        json_t *list = NULL;
        (void)state;

        snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port());
        snprintf(urls, sizeof(urls), "%s,%s", dead, master_url);
        c = client_open(urls);
        assert_string_equal(silo_client_master_url(c), dead);
        assert_int_equal(silo_client_task_list(c, NULL, &list, &err), 0);
        json_decref(list);
        /* The master that answered is asked first from now on. */
        assert_string_equal(silo_client_master_url(c), master_url);
        silo_client_free(c);

        snprintf(urls, sizeof(urls), "%s,%s/", dead, dead);
        c = client_open(urls);
        assert_int_equal(silo_client_task_list(c, NULL, &list, &err), -ECONNREFUSED);
        snprintf(urls, sizeof(urls), "connecting to %s/api/v1/tasks: Connection refused; connecting to %s/api/v1/tasks: "
                                     "Connection refused", dead, dead);
        assert_string_equal(err, urls);
        free(err);
        silo_client_free(c);
}

/* ---- a tiny redirecting server: every request gets a 307 to `target` + its path ---- */

struct redirector {
        int fd, port;
        const char *target; /* NULL: to itself, forever */
        pthread_t thread;
        volatile int stop;
        int requests;
        char last_method[16];
};

static void *redirector_run(void *userdata)
{
        struct redirector *rd = userdata;

        while (!rd->stop) {
                struct pollfd p = {.fd = rd->fd, .events = POLLIN};
                char buf[8192], method[16] = "", path[1024] = "", answer[2048], self[64];
                size_t got = 0;
                long body = 0;
                char *end = NULL, *cl;
                int conn;

                if (poll(&p, 1, 100) <= 0)
                        continue;
                conn = accept(rd->fd, NULL, NULL);
                if (conn < 0)
                        continue;
                /* The headers, then as much body as Content-Length says (a 307 keeps it). */
                while (got < sizeof(buf) - 1) {
                        ssize_t n = read(conn, buf + got, sizeof(buf) - 1 - got);
                        if (n <= 0)
                                break;
                        got += (size_t)n;
                        buf[got] = '\0';
                        end = strstr(buf, "\r\n\r\n");
                        cl = strcasestr(buf, "Content-Length:");
                        body = cl ? strtol(cl + 15, NULL, 10) : 0;
                        if (end && got >= (size_t)(end + 4 - buf) + (size_t)body)
                                break;
                }
                sscanf(buf, "%15s %1023s", method, path);
                snprintf(rd->last_method, sizeof(rd->last_method), "%s", method);
                snprintf(self, sizeof(self), "http://127.0.0.1:%d", rd->port);
                snprintf(answer, sizeof(answer),
                         "HTTP/1.1 307 Temporary Redirect\r\nLocation: %s%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                         rd->target ? rd->target : self, path);
                /* Counted before the answer leaves: the client may check the count at once. */
                __atomic_add_fetch(&rd->requests, 1, __ATOMIC_SEQ_CST);
                (void)!write(conn, answer, strlen(answer));
                close(conn);
        }
        return NULL;
}

static void redirector_start(struct redirector *rd, const char *target)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);

        *rd = (struct redirector){.target = target};
        rd->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(rd->fd >= 0);
        assert_int_equal(bind(rd->fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(rd->fd, 16), 0);
        assert_int_equal(getsockname(rd->fd, (struct sockaddr *)&a, &len), 0);
        rd->port = ntohs(a.sin_port);
        assert_int_equal(pthread_create(&rd->thread, NULL, redirector_run, rd), 0);
}

static void redirector_stop(struct redirector *rd)
{
        rd->stop = 1;
        pthread_join(rd->thread, NULL);
        close(rd->fd);
}

static void test_redirect(void **state)
{
        struct redirector rd, other;
        char url[64], list[256], other_url[64], *err = NULL, *id;
        silo_client *c;
        json_t *task = NULL;
        (void)state;

        /* A follower that points at the leader, both in the list: the POST, its body and the
         * token go there. */
        redirector_start(&rd, master_url);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", rd.port);
        snprintf(list, sizeof(list), "%s,%s", url, master_url);
        c = client_open(list);
        id = submit(c, "{\"name\": \"lib-r\", \"command\": [\"/bin/true\"], \"resources\": {\"cpus\": 64}}");
        assert_int_equal(rd.requests, 1);
        assert_string_equal(rd.last_method, "POST");
        /* The leader is asked directly from then on. */
        assert_string_equal(silo_client_master_url(c), master_url);
        assert_int_equal(silo_client_task_get(c, id, &task, &err), 0);
        assert_int_equal(rd.requests, 1);
        assert_string_equal(str(task, "name"), "lib-r");
        json_decref(task);
        assert_int_equal(silo_client_task_kill(c, id, NULL, &err), 0);
        free(id);
        silo_client_free(c);
        redirector_stop(&rd);

        /* A redirect to anything not in the list is refused before anything is sent there (the
         * token with it): here another server, and the leader itself when not listed. */
        redirector_start(&other, NULL);
        snprintf(other_url, sizeof(other_url), "http://127.0.0.1:%d", other.port);
        redirector_start(&rd, other_url);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", rd.port);
        c = client_open(url);
        assert_int_equal(silo_client_agent_list(c, NULL, &err), -EPERM);
        assert_non_null(strstr(err, "redirected to "));
        assert_non_null(strstr(err, other_url));
        assert_non_null(strstr(err, "which is not one of the masters given"));
        assert_int_equal(rd.requests, 1);
        assert_int_equal(other.requests, 0);
        assert_string_equal(silo_client_master_url(c), url);
        free(err);
        err = NULL;
        silo_client_free(c);
        redirector_stop(&rd);
        redirector_stop(&other);
        redirector_start(&rd, master_url);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", rd.port);
        c = client_open(url);
        assert_int_equal(silo_client_task_submit_text(c, "{\"command\": [\"/bin/true\"]}", NULL, &err), -EPERM);
        assert_non_null(strstr(err, master_url));
        free(err);
        err = NULL;
        silo_client_free(c);
        redirector_stop(&rd);

        /* Redirects in a circle end at the bound. */
        redirector_start(&rd, NULL);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", rd.port);
        c = client_open(url);
        assert_int_equal(silo_client_agent_list(c, NULL, &err), -ELOOP);
        assert_non_null(strstr(err, "more than 5 redirects"));
        assert_int_equal(rd.requests, 6);
        free(err);
        silo_client_free(c);
        redirector_stop(&rd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_submit_get_list_kill), cmocka_unit_test(test_wait_states),
                cmocka_unit_test(test_events),               cmocka_unit_test(test_master_errors),
                cmocka_unit_test(test_failover),             cmocka_unit_test(test_redirect),
        };

        master_url = getenv("SILO_TEST_MASTER");
        token_file = getenv("SILO_TEST_TOKEN_FILE");
        sim_url = getenv("SILO_TEST_SIM");
        if (!master_url || !token_file || !sim_url) {
                fprintf(stderr, "client-check: run by client.sh (SILO_TEST_MASTER, SILO_TEST_TOKEN_FILE, SILO_TEST_SIM)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Silo framework in C on libsilo: run N copies of a command on the cluster until each has
 * finished, the C twin of examples/framework.py.
 *
 *     framework --master http://127.0.0.1:5050 --token-file /var/lib/silo/master/token \
 *         --name scrub --count 4 --cpus 0.5 --mem 64Mi --retries 2 -- /usr/bin/scrub --all
 *
 * Each copy (a "slot") is a task named NAME-SLOT, with the id NAME-SLOT-ATTEMPT and SILO_SLOT and
 * SILO_ATTEMPT in its environment. A copy that fails (or is lost or killed) is submitted again,
 * at most --retries times. The ids can be computed again, so a framework started again with the
 * same arguments after a crash takes over the run before instead of starting another: it lists
 * the tasks (finding each slot's attempts by id), then follows the event stream from that list's
 * event_index, so no change in between is missed; and a submission whose answer was lost is
 * answered with the existing task when sent again. A new run takes a new --name. Exit status:
 * 0 when every copy finished, 1 when one failed after its retries (or the master could not be
 * followed), 2 on bad usage. Build: cc framework.c $(pkg-config --cflags --libs libsilo).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silo/client.h>

#define MAX_SLOTS 1000

struct slot {
        char *task_id; /* the current attempt's task */
        int attempt;   /* 1 for the first submission */
        bool running;  /* the current attempt has not ended */
        bool ended;    /* finished, or failed with no retries left */
        bool finished;
};

struct framework {
        silo_client *client;
        const char *name, *role, *mem;
        double cpus;
        int count, retries;
        char **command;
        struct slot slots[MAX_SLOTS];
        int open; /* slots not ended */
        int status;
};

/* One attempt of a slot: the task spec, with the slot and attempt in its environment. */
static int slot_submit(struct framework *fw, int i, char **ret_error)
{
        struct slot *s = &fw->slots[i];
        json_t *spec, *cmd = json_array(), *task = NULL;
        char name[256], id[300], slot[16], attempt[16];
        int r;

        snprintf(name, sizeof(name), "%s-%d", fw->name, i);
        snprintf(slot, sizeof(slot), "%d", i);
        snprintf(attempt, sizeof(attempt), "%d", s->attempt + 1);
        snprintf(id, sizeof(id), "%s-%d-%d", fw->name, i, s->attempt + 1);
        for (char **a = fw->command; *a; a++)
                json_array_append_new(cmd, json_string(*a));
        spec = json_pack("{s:s, s:s, s:o, s:{s:f, s:s}, s:{s:s, s:s}}", "id", id, "name", name, "command", cmd,
                         "resources", "cpus", fw->cpus, "mem", fw->mem, "env", "SILO_SLOT", slot, "SILO_ATTEMPT",
                         attempt);
        if (!spec)
                return -ENOMEM;
        if (fw->role)
                json_object_set_new(spec, "role", json_string(fw->role));
        r = silo_client_task_submit(fw->client, spec, &task, ret_error);
        json_decref(spec);
        if (r < 0)
                return r;
        free(s->task_id);
        s->task_id = strdup(json_string_value(json_object_get(task, "id")));
        s->attempt++;
        s->running = true;
        printf("slot %d: submitted task %s (attempt %d)\n", i, s->task_id, s->attempt);
        fflush(stdout);
        json_decref(task);
        return s->task_id ? 0 : -ENOMEM;
}

static bool state_ended(const char *state)
{
        return !strcmp(state, "FINISHED") || !strcmp(state, "FAILED") || !strcmp(state, "KILLED") ||
               !strcmp(state, "LOST");
}

static void slot_end(struct framework *fw, int i, bool finished)
{
        fw->slots[i].running = false;
        fw->slots[i].ended = true;
        fw->slots[i].finished = finished;
        fw->open--;
        if (!finished)
                fw->status = 1;
}

/* A state change of one of our tasks: an end is counted, a failure submitted again. */
static int on_event(const json_t *e, void *userdata)
{
        struct framework *fw = userdata;
        const char *id = json_string_value(json_object_get(e, "task_id"));
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *reason = json_string_value(json_object_get(e, "reason"));
        char *err = NULL;
        int i;

        for (i = 0; i < fw->count; i++)
                if (!fw->slots[i].ended && fw->slots[i].task_id && id && !strcmp(fw->slots[i].task_id, id))
                        break;
        if (i == fw->count || !state)
                return 0; /* not ours, or an attempt already replaced */
        if (!strcmp(state, "FINISHED")) {
                printf("slot %d: task %s finished (attempt %d)\n", i, id, fw->slots[i].attempt);
                slot_end(fw, i, true);
        } else if (state_ended(state)) {
                bool retry = fw->slots[i].attempt <= fw->retries;

                printf("slot %d: task %s %s (%s, exit code %lld); %s\n", i, id, state, reason ? reason : "-",
                       (long long)json_integer_value(json_object_get(e, "exit_code")),
                       retry ? "submitting it again" : "no retries left");
                fw->slots[i].running = false;
                if (!retry)
                        slot_end(fw, i, false);
                else if (slot_submit(fw, i, &err) < 0) {
                        fprintf(stderr, "framework: slot %d: %s\n", i, err ? err : "submit failed");
                        free(err);
                        slot_end(fw, i, false);
                }
        }
        fflush(stdout);
        return fw->open == 0 ? 1 : 0; /* 1 stops the stream: every slot has ended */
}

/* At the start (after a restart too) and whenever the stream fell behind the master's event
 * window: each open slot's attempts are found by id in the task list; one that has not ended is
 * ours again, a finished one ends the slot, a failed one is submitted again by the caller. The
 * list's event_index is where the stream starts. */
static int take_over(struct framework *fw, json_int_t *ret_index, char **ret_error)
{
        json_t *list = NULL, *by_id = json_object(), *t;
        size_t n;
        int r;

        r = silo_client_task_list(fw->client, NULL, &list, ret_error);
        if (r < 0 || !by_id) {
                json_decref(by_id);
                return r < 0 ? r : -ENOMEM;
        }
        *ret_index = json_integer_value(json_object_get(list, "event_index"));
        json_array_foreach(json_object_get(list, "tasks"), n, t)
                if (json_string_value(json_object_get(t, "id")))
                        json_object_set(by_id, json_string_value(json_object_get(t, "id")), t);
        for (int i = 0; i < fw->count; i++) {
                struct slot *s = &fw->slots[i];

                if (s->ended)
                        continue;
                /* From the attempt already known: the master may have forgotten older ones. */
                for (int a = s->attempt > 0 ? s->attempt : 1; a <= fw->retries + 1; a++) {
                        char id[300];
                        const char *state;

                        snprintf(id, sizeof(id), "%s-%d-%d", fw->name, i, a);
                        state = json_string_value(json_object_get(json_object_get(by_id, id), "state"));
                        if (!state)
                                break;
                        free(s->task_id);
                        s->task_id = strdup(id);
                        s->attempt = a;
                        printf("slot %d: found task %s (%s)\n", i, id, state);
                        if (!strcmp(state, "FINISHED")) {
                                slot_end(fw, i, true);
                                break;
                        }
                        if (!state_ended(state)) {
                                s->running = true;
                                break;
                        }
                        s->running = false;
                        if (a == fw->retries + 1)
                                slot_end(fw, i, false);
                }
        }
        json_decref(by_id);
        json_decref(list);
        return 0;
}

static void usage(FILE *f)
{
        fputs("Usage: framework [--master URL[,URL...]] [--token-file F] [--name NAME] [--role ROLE]\n"
              "                 [--count N] [--cpus C] [--mem SIZE] [--retries K] -- COMMAND [ARGS...]\n"
              "Runs N copies of COMMAND on a Silo cluster until each has finished, submitting a\n"
              "failed copy again at most K times (default: 3 copies, 2 retries, 0.1 cpus, 32Mi).\n",
              f);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"master", required_argument, NULL, 'm'}, {"token-file", required_argument, NULL, 't'},
            {"name", required_argument, NULL, 'n'},   {"role", required_argument, NULL, 'r'},
            {"count", required_argument, NULL, 'c'},  {"cpus", required_argument, NULL, 'C'},
            {"mem", required_argument, NULL, 'M'},    {"retries", required_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},         {},
        };
        struct framework *fw = calloc(1, sizeof(*fw));
        struct silo_client_options o = {};
        struct silo_client_events_filter f = {.types = "task_state", .reconnect_ms = 60000};
        const char *master = getenv("SILO_MASTER") ? getenv("SILO_MASTER") : "http://127.0.0.1:5050";
        json_int_t since = 0;
        char *err = NULL, *end;
        int c, r;

        if (!fw)
                return 1;
        setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it happens, also into a file or a pipe */
        *fw = (struct framework){.name = "example", .mem = "32Mi", .cpus = 0.1, .count = 3, .retries = 2};
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 'm': master = optarg; break;
                case 't': o.token_file = optarg; break;
                case 'n': fw->name = optarg; break;
                case 'r': fw->role = optarg; break;
                case 'M': fw->mem = optarg; break;
                case 'C':
                        fw->cpus = strtod(optarg, &end);
                        if (*end || !(fw->cpus > 0)) {
                                fprintf(stderr, "framework: --cpus '%s' is not a positive number\n", optarg);
                                return 2;
                        }
                        break;
                case 'c':
                case 'R':
                        r = (int)strtol(optarg, &end, 10);
                        if (*end || !*optarg || r < 0 || (c == 'c' && (r < 1 || r > MAX_SLOTS))) {
                                fprintf(stderr, "framework: --%s '%s' is out of range\n", c == 'c' ? "count" : "retries",
                                        optarg);
                                return 2;
                        }
                        *(c == 'c' ? &fw->count : &fw->retries) = r;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        fw->command = argv + optind;
        fw->open = fw->count;

        r = silo_client_new(master, &o, &fw->client, &err);
        while (r >= 0) {
                r = take_over(fw, &since, &err);
                for (int i = 0; r >= 0 && i < fw->count; i++)
                        if (!fw->slots[i].ended && !fw->slots[i].running)
                                r = slot_submit(fw, i, &err);
                if (r < 0 || fw->open == 0)
                        break;
                /* Every change since the list is in the stream, also those of tasks submitted
                 * since, unless more of them happened before the stream began than the master
                 * keeps (-ESTALE, HTTP 410): then list again, as at a restart. */
                f.since = since;
                r = silo_client_events(fw->client, &f, on_event, fw, &err);
                if (r != -ESTALE)
                        break;
                printf("the event stream fell behind the master's window (%s); listing the tasks again\n",
                       err ? err : "410");
                free(err);
                err = NULL;
                r = 0;
        }
        if (r < 0) {
                fprintf(stderr, "framework: %s\n", err ? err : strerror(-r));
                fw->status = 1;
        } else {
                int done = 0;

                for (int i = 0; i < fw->count; i++)
                        done += fw->slots[i].finished;
                printf("%d of %d copies finished\n", done, fw->count);
        }
        free(err);
        for (int i = 0; i < fw->count; i++)
                free(fw->slots[i].task_id);
        silo_client_free(fw->client);
        r = fw->status;
        free(fw);
        return r;
}

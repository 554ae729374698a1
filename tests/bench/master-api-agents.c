/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's simulated agents: registration, heartbeats, task submissions, launches and status updates. */
#include "master-api.h"

char *registration_json(size_t i)
{
        json_t *disks = json_array(), *reg;
        unsigned n_disks = 1 + (unsigned)(i % 4);      /* mixed: 1 to 4 disks */
        char *s;

        for (unsigned d = 0; d < n_disks; d++) {
                char name[16];
                bool ssd = d % 2 == 0;

                snprintf(name, sizeof(name), ssd ? "nvme%un1" : "sd%c", ssd ? d : (unsigned)('a' + d));
                json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "device",
                                                       "259:0", "name", name, "path", "/dev/null", "read_bps",
                                                       (json_int_t)(ssd ? 3000000000 : 250000000), "write_bps",
                                                       (json_int_t)(ssd ? 2000000000 : 200000000), "read_iops",
                                                       (json_int_t)(ssd ? 600000 : 400), "write_iops",
                                                       (json_int_t)(ssd ? 400000 : 400), "class",
                                                       ssd ? "ssd" : "hdd", "source", "config"));
        }
        reg = json_pack("{s:s, s:s, s:s, s:{s:i, s:I, s:I, s:o}, s:{s:s}, s:[]}", "hostname", bench.agents[i].hostname,
                        "address", "", "version", "bench", "resources", "cpus", 8 << (i % 3), "mem",
                        (json_int_t)(32ll << 30), "pids", (json_int_t)32768, "disks", disks, "attributes", "rack",
                        i % 2 ? "r1" : "r2", "tasks");
        json_object_set_new(reg, "address", json_sprintf("127.0.0.1:%u", http_server_port(bench.http)));
        s = json_dumps(reg, JSON_COMPACT);
        json_decref(reg);
        return s;
}

void agent_send_heartbeat(size_t i)
{
        struct bench_agent *a = &bench.agents[i];
        _cleanup_free_ char *path = NULL;
        json_t *tasks = json_array(), *body;
        struct request *r;

        if (!a->id)
                return;
        if (a->c.busy || !a->c.connected) {
                /* The previous heartbeat is still unanswered a second later: an agent would skip
                 * this one; count it against the step. */
                if (bench.measuring) {
                        bench.st.overruns++;
                        note_error(REQ_HEARTBEAT, "heartbeat %s: previous one unanswered after a second",
                                   a->hostname);
                }
                return;
        }
        for (size_t k = 0; k < a->n_tasks; k++)
                json_array_append_new(tasks, json_string(a->tasks[k]));
        body = json_pack("{s:o}", "tasks", tasks);
        if (asprintf(&path, "/api/v1/agents/%s/heartbeat", a->id) < 0)
                path = NULL;
        r = path ? request_new(REQ_HEARTBEAT, "POST", path, json_dumps(body, JSON_COMPACT), i) : NULL;
        json_decref(body);
        if (r && conn_send(&a->c, r) < 0)
                request_free(r);
}

void submit_task(void)
{
        size_t agent = (size_t)((bench.task_seq * 7919u) % bench.n_agents);
        char id[64];
        json_t *spec;
        bool io = bench.task_seq % 4 == 0;

        if (bench.task_seq >= bench.submit_cap) {
                size_t cap = bench.submit_cap ? bench.submit_cap * 2 : 65536;
                uint64_t *v = realloc(bench.submit_ns, cap * sizeof(*v));
                if (v) {
                        bench.submit_ns = v;
                        bench.submit_cap = cap;
                }
        }
        if (bench.task_seq < bench.submit_cap)
                bench.submit_ns[bench.task_seq] = now_ns();
        snprintf(id, sizeof(id), "bench-%" PRIu64, bench.task_seq++);
        spec = json_pack("{s:s, s:s, s:s, s:[s,s], s:{s:f, s:s}, s:{s:s}, s:i}", "id", id, "name", id, "role",
                         (bench.task_seq % 4) == 0 ? "storage" : (bench.task_seq % 4) == 1 ? "batch" : "web", "command",
                         "/bin/sleep", "5", "resources", "cpus", 0.5, "mem", "256Mi", "constraints", "hostname",
                         bench.agents[agent].hostname, "priority", (int)(bench.task_seq % 10));
        if (io)
                json_object_set_new(json_object_get(spec, "resources"), "io",
                                    json_pack("[{s:s, s:s, s:s}]", "disk", "any", "class", "ssd", "wbps", "20M"));
        queue_push(request_new(REQ_SUBMIT, "POST", "/api/v1/tasks", json_dumps(spec, JSON_COMPACT), agent));
        json_decref(spec);
}

void send_status(size_t agent, const char *task_id, silo_task_state state)
{
        char uid[96];
        struct silo_status_update u = {
                .update_id = uid, .task_id = (char *)task_id, .agent_id = bench.agents[agent].id, .state = state,
                .exit_code = state == SILO_TASK_FINISHED ? 0 : -1, .timestamp_ms = realtime_ms(),
        };
        json_t *j;

        snprintf(uid, sizeof(uid), "bench-u-%" PRIu64, ++bench.update_seq);
        j = silo_status_update_to_json(&u);
        if (!j)
                return;
        queue_push(request_new(REQ_STATUS, "POST", "/api/v1/status", json_dumps(j, JSON_COMPACT), agent));
        json_decref(j);
}

void finish_due(uint64_t now)
{
        while (bench.fin_head != bench.fin_tail && bench.fin[bench.fin_head % bench.fin_cap].due_ns <= now) {
                struct finish_entry *f = &bench.fin[bench.fin_head++ % bench.fin_cap];
                struct bench_agent *a = &bench.agents[f->agent];

                for (size_t k = 0; k < a->n_tasks; k++)
                        if (streq(a->tasks[k], f->task_id)) {
                                free(a->tasks[k]);
                                a->tasks[k] = a->tasks[--a->n_tasks];
                                break;
                        }
                send_status(f->agent, f->task_id, SILO_TASK_FINISHED);
                free(f->task_id);
        }
}

/* ---------------------------------------------------------------- the agents' listener ---- */

static int on_launch(http_request *req, http_response *resp, void *userdata)
{
        const char *id = json_string_value(json_object_get(req->body, "id"));
        const char *host = json_string_value(json_object_get(json_object_get(req->body, "constraints"), "hostname"));
        struct bench_agent *a;
        size_t i;

        (void)userdata;
        if (!id || !host || sscanf(host, "bench-%zu", &i) != 1 || i >= bench.n_agents)
                return http_response_error(resp, 400, "invalid_spec", "launch without id or bench hostname");
        a = &bench.agents[i];
        bench.st.launches++;
        for (size_t k = 0; k < a->n_tasks; k++)
                if (streq(a->tasks[k], id))
                        return http_response_json(resp, 200, json_pack("{s:s, s:s}", "id", id, "state", "RUNNING"));
        if (a->n_tasks == a->cap_tasks) {
                size_t cap = a->cap_tasks ? a->cap_tasks * 2 : 8;
                char **v = realloc(a->tasks, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                a->tasks = v;
                a->cap_tasks = cap;
        }
        if (bench.fin_tail - bench.fin_head == bench.fin_cap)
                return http_response_error(resp, 503, "unavailable", "bench: too many running tasks");
        a->tasks[a->n_tasks++] = strdup(id);
        {
                uint64_t seq;
                if (bench.measuring && sscanf(id, "bench-%" SCNu64, &seq) == 1 && seq < bench.submit_cap)
                        lat_add(&bench.st.launch, now_ns() - bench.submit_ns[seq]);
        }
        bench.fin[bench.fin_tail++ % bench.fin_cap] = (struct finish_entry){ now_ns() + (uint64_t)bench.lifetime_ms * 1000000ull, i,
                                                                 strdup(id) };
        send_status(i, id, SILO_TASK_RUNNING);
        return http_response_json(resp, 201, json_pack("{s:s, s:s}", "id", id, "state", "STARTING"));
}

static int on_kill(http_request *req, http_response *resp, void *userdata)
{
        (void)userdata;
        return http_response_json(resp, 202, json_pack("{s:s, s:b}", "id", req->captures[0], "kill_requested", 1));
}

const struct http_route bench_routes[] = {
        { "POST", "/api/v1/tasks", on_launch, 0 },
        { "DELETE", "/api/v1/tasks/{id}", on_kill, 0 },
};
const size_t bench_n_routes = ELEMENTSOF(bench_routes);

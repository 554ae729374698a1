/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for status updates, task refs, the protocol enums' string tables and the task state
 * machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/capability.h>
#include <sys/resource.h>

#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

static void test_status_round_trip(void **state)
{
        static const char *const inputs[] = {
            "{'update_id': 'u-1', 'task_id': 't1', 'agent_id': 'a1', 'state': 'FAILED',"
            " 'reason': 'OOM_KILLED', 'exit_code': 137, 'signal': 9, 'message': 'memory.max hit',"
            " 'timestamp_ms': 1764130000123}",
            "{'update_id': 'u-2', 'task_id': 't1', 'state': 'RUNNING', 'timestamp_ms': 0}",
            "{'update_id': 'u-3', 'task_id': 't1', 'state': 'finished', 'exit_code': 0,"
            " 'reason': 'none', 'timestamp_ms': 5}",
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_free_ char *t = dq(inputs[i]), *error = NULL, *t1 = NULL, *t2 = NULL;
                _cleanup_(silo_status_update_freep) struct silo_status_update *u = NULL,
                                                                              *back = NULL,
                                                                              *copy = NULL;

                assert_int_equal(silo_status_update_from_string(t, &u, &error), 0);
                t1 = silo_status_update_to_string(u);
                assert_int_equal(silo_status_update_from_string(t1, &back, &error), 0);
                t2 = silo_status_update_to_string(back);
                assert_string_equal(t1, t2);
                copy = silo_status_update_dup(u);
                assert_true(silo_status_update_equal(u, copy));
        }
}

static void test_status_fields(void **state)
{
        _cleanup_free_ char *t = dq("{'update_id': 'u-1', 'task_id': 't1', 'state': 'LOST',"
                                    " 'reason': 'AGENT_LOST', 'timestamp_ms': 42}");
        _cleanup_(silo_status_update_freep) struct silo_status_update *u = NULL;
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_int_equal(silo_status_update_from_string(t, &u, NULL), 0);
        assert_string_equal(u->update_id, "u-1");
        assert_string_equal(u->task_id, "t1");
        assert_null(u->agent_id);
        assert_int_equal(u->state, SILO_TASK_LOST);
        assert_int_equal(u->reason, SILO_REASON_AGENT_LOST);
        assert_int_equal(u->exit_code, -1);
        assert_int_equal(u->signal, 0);
        assert_null(u->message);
        assert_int_equal(u->timestamp_ms, 42);
        text = silo_status_update_to_string(u);
        assert_string_equal(text, "{\"update_id\":\"u-1\",\"task_id\":\"t1\",\"state\":\"LOST\","
                                  "\"reason\":\"AGENT_LOST\",\"timestamp_ms\":42}");
}

struct error_case {
        const char *json;
        const char *error;
};

#define U "'update_id': 'u', 'task_id': 't', 'state': 'RUNNING', 'timestamp_ms': 1"
#define STATES "PENDING, STAGING, STARTING, RUNNING, FINISHED, FAILED, KILLED, LOST"

static const struct error_case status_errors[] = {
    {"[]", "a status update must be a JSON object"},
    {"{" U ", 'code': 1}", "unknown key 'code'"},
    {"{'task_id': 't', 'state': 'RUNNING', 'timestamp_ms': 1}", "update_id: missing"},
    {"{'update_id': 'u', 'state': 'RUNNING', 'timestamp_ms': 1}", "task_id: missing"},
    {"{'update_id': 'u', 'task_id': 't/1', 'state': 'RUNNING', 'timestamp_ms': 1}",
     "task_id: 't/1' is not a valid name (1-63 of A-Z a-z 0-9 . _ -, starting with a letter or "
     "digit)"},
    {"{" U ", 'agent_id': 5}", "agent_id: must be a string"},
    {"{'update_id': 'u', 'task_id': 't', 'timestamp_ms': 1}", "state: missing"},
    {"{'update_id': 'u', 'task_id': 't', 'state': 'DONE', 'timestamp_ms': 1}",
     "state: 'DONE' is not a task state (" STATES ")"},
    {"{'update_id': 'u', 'task_id': 't', 'state': 3, 'timestamp_ms': 1}",
     "state: must be a string"},
    {"{" U ", 'reason': 'OOM'}",
     "reason: 'OOM' is not a reason (NONE, EXIT_NONZERO, SIGNALED, OOM_KILLED, LAUNCH_FAILED, "
     "AGENT_LOST, KILLED_BY_REQUEST, SHIM_LOST, CGROUP_LOST)"},
    {"{" U ", 'exit_code': 256}", "exit_code: 256 is out of range (-1..255)"},
    {"{" U ", 'exit_code': -2}", "exit_code: -2 is out of range (-1..255)"},
    {"{" U ", 'exit_code': '0'}", "exit_code: must be an integer"},
    {"{" U ", 'signal': 65}", "signal: 65 is out of range (0..64)"},
    {"{" U ", 'signal': -1}", "signal: -1 is out of range (0..64)"},
    {"{" U ", 'message': ['x']}", "message: must be a string"},
    {"{'update_id': 'u', 'task_id': 't', 'state': 'RUNNING'}", "timestamp_ms: missing"},
    {"{'update_id': 'u', 'task_id': 't', 'state': 'RUNNING', 'timestamp_ms': -1}",
     "timestamp_ms: -1 is out of range (0..9223372036854775807)"},
    {"{'update_id': 'u', 'task_id': 't', 'state': 'RUNNING', 'timestamp_ms': 1.5}",
     "timestamp_ms: must be an integer"},
};

static const struct error_case task_ref_errors[] = {
    {"[]", "must be an object"},
    {"{'id': 't', 'state': 'RUNNING', 'x': 1}", "unknown key 'x'"},
    {"{'state': 'RUNNING'}", "id: missing"},
    {"{'id': 't'}", "state: missing"},
    {"{'id': 't', 'state': 'running!'}", "state: 'running!' is not a task state (" STATES ")"},
};

static void test_errors(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(status_errors); i++) {
                _cleanup_free_ char *t = dq(status_errors[i].json), *error = NULL;
                _cleanup_(silo_status_update_freep) struct silo_status_update *u = NULL;
                int r = silo_status_update_from_string(t, &u, &error);

                if (r >= 0 || !streq_ptr(error, status_errors[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", t, r,
                                 strempty(error), status_errors[i].error);
        }
        for (size_t i = 0; i < ELEMENTSOF(task_ref_errors); i++) {
                _cleanup_free_ char *t = dq(task_ref_errors[i].json), *error = NULL;
                _cleanup_(silo_task_ref_freep) struct silo_task_ref *ref = NULL;
                int r = silo_task_ref_from_string(t, &ref, &error);

                if (r >= 0 || !streq_ptr(error, task_ref_errors[i].error))
                        fail_msg("%s:\n  got      %d \"%s\"\n  expected \"%s\"", t, r,
                                 strempty(error), task_ref_errors[i].error);
        }
}

static void test_task_ref(void **state)
{
        _cleanup_(silo_task_ref_freep) struct silo_task_ref *ref = NULL, *copy = NULL;
        _cleanup_free_ char *text = NULL;
        (void)state;

        assert_int_equal(
            silo_task_ref_from_string("{\"id\": \"t-9\", \"state\": \"STAGING\"}", &ref, NULL), 0);
        assert_string_equal(ref->id, "t-9");
        assert_int_equal(ref->state, SILO_TASK_STAGING);
        text = silo_task_ref_to_string(ref);
        assert_string_equal(text, "{\"id\":\"t-9\",\"state\":\"STAGING\"}");
        copy = silo_task_ref_dup(ref);
        assert_true(silo_task_ref_equal(ref, copy));
        free(copy->id);
        copy->id = strdup("t-8");
        assert_false(silo_task_ref_equal(ref, copy));
}

/* Every value of every enum maps to a unique name and back. */
static void test_enum_round_trips(void **state)
{
        (void)state;

        for (int i = 0; i < _SILO_TASK_STATE_MAX; i++) {
                assert_non_null(silo_task_state_to_string(i));
                assert_int_equal(silo_task_state_from_string(silo_task_state_to_string(i)), i);
        }
        assert_null(silo_task_state_to_string(_SILO_TASK_STATE_MAX));
        assert_null(silo_task_state_to_string((silo_task_state)-1));
        assert_int_equal(silo_task_state_from_string("running"), SILO_TASK_RUNNING);
        assert_int_equal(silo_task_state_from_string("RUN"), -EINVAL);
        assert_int_equal(silo_task_state_from_string(""), -EINVAL);
        assert_int_equal(silo_task_state_from_string(NULL), -EINVAL);

        for (int i = 0; i < _SILO_TASK_REASON_MAX; i++)
                assert_int_equal(silo_task_reason_from_string(silo_task_reason_to_string(i)), i);
        assert_string_equal(silo_task_reason_to_string(SILO_REASON_OOM_KILLED), "OOM_KILLED");
        assert_null(silo_task_reason_to_string(_SILO_TASK_REASON_MAX));
        assert_int_equal(silo_task_reason_from_string("OOM"), -EINVAL);

        for (int i = 0; i < _SILO_SPREAD_MAX; i++)
                assert_int_equal(silo_spread_from_string(silo_spread_to_string(i)), i);
        assert_string_equal(silo_spread_to_string(SILO_SPREAD_HOSTNAME), "hostname");
        assert_int_equal(silo_spread_from_string("rack"), -EINVAL);

        for (int i = 0; i < _SILO_NETWORK_MODE_MAX; i++)
                assert_int_equal(silo_network_mode_from_string(silo_network_mode_to_string(i)), i);
        assert_string_equal(silo_network_mode_to_string(SILO_NETWORK_NONE), "none");
        assert_int_equal(silo_network_mode_from_string("bridge"), SILO_NETWORK_BRIDGE);
        assert_int_equal(silo_network_mode_from_string("overlay"), -EINVAL);

        for (int i = 0; i < _SILO_PORT_PROTO_MAX; i++)
                assert_int_equal(silo_port_proto_from_string(silo_port_proto_to_string(i)), i);
        assert_null(silo_port_proto_to_string(_SILO_PORT_PROTO_MAX));
        assert_int_equal(silo_port_proto_from_string("UDP"), -EINVAL);

        for (unsigned bit = SILO_NS_PID; bit <= SILO_NS_CGROUP; bit <<= 1)
                assert_int_equal(silo_namespace_from_string(silo_namespace_to_string(bit)),
                                 (int)bit);
        assert_int_equal(silo_namespace_from_string("net"), SILO_NS_NET);
        assert_int_equal(silo_namespace_from_string("user"), -EINVAL);
        assert_null(silo_namespace_to_string(0));
        assert_null(silo_namespace_to_string(SILO_NS_PID | SILO_NS_NET));
        assert_null(silo_namespace_to_string(SILO_NS_CGROUP << 1));
}

static void test_capabilities(void **state)
{
        (void)state;

        for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
                const char *name = silo_capability_to_string(cap);

                assert_non_null(name);
                assert_true(strncmp(name, "CAP_", 4) == 0);
                assert_int_equal(silo_capability_from_string(name), cap);
                assert_int_equal(silo_capability_from_string(name + 4), cap);
        }
        assert_null(silo_capability_to_string(CAP_LAST_CAP + 1));
        assert_null(silo_capability_to_string(-1));
        assert_int_equal(silo_capability_from_string("CAP_NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
        assert_int_equal(silo_capability_from_string("cap_net_bind_service"), CAP_NET_BIND_SERVICE);
        assert_int_equal(silo_capability_from_string("Net_Admin"), CAP_NET_ADMIN);
        assert_int_equal(silo_capability_from_string("CAP_CHECKPOINT_RESTORE"),
                         CAP_CHECKPOINT_RESTORE);
        assert_int_equal(silo_capability_from_string("CAP_"), -EINVAL);
        assert_int_equal(silo_capability_from_string(""), -EINVAL);
        assert_int_equal(silo_capability_from_string("CAP_CAP_CHOWN"), -EINVAL);
        assert_int_equal(silo_capability_from_string("CAP_FLY"), -EINVAL);
        assert_int_equal(silo_capability_from_string(NULL), -EINVAL);
}

static void test_rlimits(void **state)
{
        static const struct {
                const char *name;
                int resource;
        } table[] = {
            {"nofile", RLIMIT_NOFILE},
            {"nproc", RLIMIT_NPROC},
            {"core", RLIMIT_CORE},
            {"memlock", RLIMIT_MEMLOCK},
            {"stack", RLIMIT_STACK},
            {"fsize", RLIMIT_FSIZE},
            {"as", RLIMIT_AS},
            {"cpu", RLIMIT_CPU},
            {"data", RLIMIT_DATA},
            {"locks", RLIMIT_LOCKS},
            {"msgqueue", RLIMIT_MSGQUEUE},
            {"nice", RLIMIT_NICE},
            {"rtprio", RLIMIT_RTPRIO},
            {"sigpending", RLIMIT_SIGPENDING},
            {"rss", RLIMIT_RSS},
        };
        (void)state;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                assert_int_equal(silo_rlimit_from_string(table[i].name), table[i].resource);
                assert_string_equal(silo_rlimit_to_string(table[i].resource), table[i].name);
        }
        assert_int_equal(silo_rlimit_from_string("NOFILE"), -EINVAL);
        assert_int_equal(silo_rlimit_from_string("nofiles"), -EINVAL);
        assert_null(silo_rlimit_to_string(RLIMIT_RTTIME));
        assert_null(silo_rlimit_to_string(-1));
}

/* The whole transition table, spelled out: 'x' allowed, '.' refused. Rows: from, columns: to,
 * in enum order PENDING STAGING STARTING RUNNING FINISHED FAILED KILLED LOST. */
static const char *const transitions[_SILO_TASK_STATE_MAX] = {
    [SILO_TASK_PENDING] = "xx...xxx",  [SILO_TASK_STAGING] = "xxxxxxxx",
    [SILO_TASK_STARTING] = "..xxxxxx", [SILO_TASK_RUNNING] = "...xxxxx",
    [SILO_TASK_FINISHED] = "....x...", [SILO_TASK_FAILED] = ".....x..",
    [SILO_TASK_KILLED] = "......x.",   [SILO_TASK_LOST] = "...xxxxx",
};

static void test_transitions(void **state)
{
        (void)state;

        for (int from = 0; from < _SILO_TASK_STATE_MAX; from++)
                for (int to = 0; to < _SILO_TASK_STATE_MAX; to++) {
                        bool want = transitions[from][to] == 'x';

                        if (silo_task_state_transition_ok(from, to) != want)
                                fail_msg("%s -> %s: expected %s", silo_task_state_to_string(from),
                                         silo_task_state_to_string(to),
                                         want ? "allowed" : "refused");
                }
        assert_false(silo_task_state_transition_ok(_SILO_TASK_STATE_MAX, SILO_TASK_RUNNING));
        assert_false(silo_task_state_transition_ok(SILO_TASK_RUNNING, _SILO_TASK_STATE_MAX));

        assert_false(silo_task_state_is_terminal(SILO_TASK_PENDING));
        assert_false(silo_task_state_is_terminal(SILO_TASK_STAGING));
        assert_false(silo_task_state_is_terminal(SILO_TASK_STARTING));
        assert_false(silo_task_state_is_terminal(SILO_TASK_RUNNING));
        assert_true(silo_task_state_is_terminal(SILO_TASK_FINISHED));
        assert_true(silo_task_state_is_terminal(SILO_TASK_FAILED));
        assert_true(silo_task_state_is_terminal(SILO_TASK_KILLED));
        assert_true(silo_task_state_is_terminal(SILO_TASK_LOST));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_status_round_trip),
            cmocka_unit_test(test_status_fields),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_task_ref),
            cmocka_unit_test(test_enum_round_trips),
            cmocka_unit_test(test_capabilities),
            cmocka_unit_test(test_rlimits),
            cmocka_unit_test(test_transitions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

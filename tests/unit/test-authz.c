/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the authorization table (common/authz.c) with identities made in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/authz.h"
#include "common/macro.h"

static char *storage_roles[] = {"storage"};
static char *two_roles[] = {"storage", "backup"};

static const struct silo_identity operator = {SILO_IDENTITY_OPERATOR, "alice", NULL, 0};
static const struct silo_identity master_id = {SILO_IDENTITY_MASTER, "m1", NULL, 0};
static const struct silo_identity node1 = {SILO_IDENTITY_AGENT, "node-1", NULL, 0};
static const struct silo_identity storage = {SILO_IDENTITY_CLIENT, "sto", storage_roles, 1};
static const struct silo_identity multi = {SILO_IDENTITY_CLIENT, "ops", two_roles, 2};

struct authz_case {
        const struct silo_identity *id;
        struct authz_request q;
        const char *error; /* NULL: allowed */
};

static const struct authz_case cases[] = {
    /* agents: as themselves only, and nothing else */
    {&node1, {AUTHZ_AGENT_REGISTER, .agent = "node-1"}, NULL},
    {&node1, {AUTHZ_AGENT_REGISTER, .agent = "node-2"},
     "identity 'agent:node-1' may not register as agent 'node-2'"},
    {&node1, {AUTHZ_AGENT_HEARTBEAT, .agent = "node-1"}, NULL},
    {&node1, {AUTHZ_AGENT_HEARTBEAT, .agent = "node-2"},
     "identity 'agent:node-1' may not send a heartbeat for agent 'node-2'"},
    {&node1, {AUTHZ_STATUS, .agent = "node-1"}, NULL},
    {&node1, {AUTHZ_STATUS, .agent = "node-2"},
     "identity 'agent:node-1' may not report status as agent 'node-2'"},
    {&node1, {AUTHZ_STATUS}, "identity 'agent:node-1' may not report status as agent ''"},
    {&node1, {AUTHZ_TASK_SUBMIT, .role = "default"},
     "identity 'agent:node-1' may not submit a task of role 'default'"},
    {&node1, {AUTHZ_TASK_LIST}, "identity 'agent:node-1' may not list tasks"},
    {&node1, {AUTHZ_AGENTS_READ}, "identity 'agent:node-1' may not read the agents' inventory"},
    {&node1, {AUTHZ_METRICS}, "identity 'agent:node-1' may not read the metrics"},
    {&node1, {AUTHZ_TASK_LAUNCH, .task = "t", .role = "r", .managed = true},
     "identity 'agent:node-1' may not launch task 't' of role 'r'"},
    /* a client of role storage */
    {&storage, {AUTHZ_TASK_SUBMIT, .role = "storage"}, NULL},
    {&storage, {AUTHZ_TASK_SUBMIT, .role = "batch"},
     "identity 'client:sto (roles storage)' may not submit a task of role 'batch'"},
    {&storage, {AUTHZ_TASK_KILL, .task = "b1", .role = "batch"},
     "identity 'client:sto (roles storage)' may not kill task 'b1' of role 'batch'"},
    {&storage, {AUTHZ_TASK_KILL, .task = "s1", .role = "storage"}, NULL},
    {&storage, {AUTHZ_TASK_READ, .task = "b1", .role = "batch"},
     "identity 'client:sto (roles storage)' may not read task 'b1' of role 'batch'"},
    {&storage, {AUTHZ_TASK_READ, .task = "s1", .role = "storage"}, NULL},
    {&storage, {AUTHZ_TASK_LOGS, .task = "b1", .role = "batch"},
     "identity 'client:sto (roles storage)' may not read the logs of task 'b1' of role 'batch'"},
    {&storage, {AUTHZ_TASK_LOGS, .task = "s1", .role = "storage"}, NULL},
    {&storage, {AUTHZ_TASK_LIST}, NULL},
    {&storage, {AUTHZ_EVENTS, .role = "storage"}, NULL},
    {&storage, {AUTHZ_EVENTS, .role = "batch"},
     "identity 'client:sto (roles storage)' may not stream the events of role 'batch'"},
    {&multi, {AUTHZ_EVENTS},
     "identity 'client:ops (roles storage,backup)' may not stream the events of every role (add "
     "?role= one of its roles)"},
    {&multi, {AUTHZ_TASK_KILL, .task = "k", .role = "backup"}, NULL},
    {&storage, {AUTHZ_AGENT_HEARTBEAT, .agent = "sto"},
     "identity 'client:sto (roles storage)' may not send a heartbeat for agent 'sto'"},
    {&storage, {AUTHZ_AGENTS_READ, .agent = "node-1"},
     "identity 'client:sto (roles storage)' may not read agent 'node-1'"},
    {&storage, {AUTHZ_METRICS}, "identity 'client:sto (roles storage)' may not read the metrics"},
    {&storage, {AUTHZ_TASK_LAUNCH, .task = "s1", .role = "storage", .managed = false},
     "identity 'client:sto (roles storage)' may not launch task 's1' of role 'storage'"},
    /* persistent volumes: a client reads and deletes those its roles' tasks made */
    {&storage, {AUTHZ_VOLUMES_READ, .volume = "pg-data", .role = "storage"}, NULL},
    {&storage, {AUTHZ_VOLUMES_READ, .volume = "b-data", .role = "batch"},
     "identity 'client:sto (roles storage)' may not read volume 'b-data' of role 'batch'"},
    {&storage, {AUTHZ_VOLUMES_READ, .volume = "adopted"},
     "identity 'client:sto (roles storage)' may not read volume 'adopted'"},
    {&storage, {AUTHZ_VOLUME_DELETE, .volume = "pg-data", .role = "storage"}, NULL},
    {&storage, {AUTHZ_VOLUME_DELETE, .volume = "b-data", .role = "batch"},
     "identity 'client:sto (roles storage)' may not delete volume 'b-data' of role 'batch'"},
    {&node1, {AUTHZ_VOLUMES_READ}, "identity 'agent:node-1' may not list the volumes"},
    {&operator, {AUTHZ_VOLUME_DELETE, .volume = "v", .role = "r"}, NULL},
    {&operator, {AUTHZ_VOLUME_DELETE, .volume = "v", .role = "r", .managed = true},
     "identity 'operator:alice' may not delete volume 'v' of role 'r' at an agent that has a "
     "master (ask the master)"},
    {&master_id, {AUTHZ_VOLUME_DELETE, .volume = "v", .managed = true}, NULL},
    /* operators: everything, but starting and stopping tasks behind a master's back */
    {&operator, {AUTHZ_TASK_SUBMIT, .role = "batch"}, NULL},
    {&operator, {AUTHZ_AGENT_HEARTBEAT, .agent = "node-2"}, NULL},
    {&operator, {AUTHZ_EVENTS}, NULL},
    {&operator, {AUTHZ_CALIBRATE}, NULL},
    {&operator, {AUTHZ_TASK_LAUNCH, .task = "t", .role = "r"}, NULL},
    {&operator, {AUTHZ_TASK_KILL, .task = "t", .role = "r"}, NULL},
    {&operator, {AUTHZ_TASK_LAUNCH, .task = "t", .role = "r", .managed = true},
     "identity 'operator:alice' may not launch task 't' of role 'r' at an agent that has a "
     "master (ask the master)"},
    {&operator, {AUTHZ_TASK_KILL, .task = "t", .role = "r", .managed = true},
     "identity 'operator:alice' may not kill task 't' of role 'r' at an agent that has a master "
     "(ask the master)"},
    {&operator, {AUTHZ_TASK_LOGS, .task = "t", .role = "r", .managed = true}, NULL},
    /* the master: launches and kills at agents, reads */
    {&master_id, {AUTHZ_TASK_LAUNCH, .task = "t", .role = "r", .managed = true}, NULL},
    {&master_id, {AUTHZ_TASK_KILL, .task = "t", .role = "r", .managed = true}, NULL},
    {&master_id, {AUTHZ_TASK_READ, .task = "t", .role = "r"}, NULL},
    {&master_id, {AUTHZ_STATUS_QUEUE}, NULL},
    {&master_id, {AUTHZ_TASK_SUBMIT, .role = "r"},
     "identity 'master:m1' may not submit a task of role 'r'"},
    {&master_id, {AUTHZ_AGENT_REGISTER, .agent = "m1"},
     "identity 'master:m1' may not register as agent 'm1'"},
    {&master_id, {AUTHZ_CALIBRATE}, "identity 'master:m1' may not calibrate this agent's disks"},
    /* persistent volumes: operators and masters read them; deleting at a managed agent is
     * the master's */
    {&operator, {AUTHZ_VOLUMES_READ}, NULL},
    {&master_id, {AUTHZ_VOLUMES_READ, .volume = "pg"}, NULL},
    /* a client lists them (the list is filtered to its roles' volumes) */
    {&storage, {AUTHZ_VOLUMES_READ}, NULL},
    {&storage, {AUTHZ_VOLUMES_READ, .volume = "pg"},
     "identity 'client:sto (roles storage)' may not read volume 'pg'"},
    {&operator, {AUTHZ_VOLUME_DELETE, .volume = "pg"}, NULL},
    {&operator, {AUTHZ_VOLUME_DELETE, .volume = "pg", .managed = true},
     "identity 'operator:alice' may not delete volume 'pg' at an agent that has a master (ask the "
     "master)"},
    {&master_id, {AUTHZ_VOLUME_DELETE, .volume = "pg", .managed = true}, NULL},
    {&storage, {AUTHZ_VOLUME_DELETE, .volume = "pg"},
     "identity 'client:sto (roles storage)' may not delete volume 'pg'"},
    /* no TLS: the token's holder may do everything */
    {NULL, {AUTHZ_TASK_LAUNCH, .task = "t", .role = "r", .managed = true}, NULL},
    {NULL, {AUTHZ_AGENT_HEARTBEAT, .agent = "node-2"}, NULL},
};

static void test_cases(void **state)
{
        (void)state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL;
                int r = authz_check(cases[i].id, &cases[i].q, &err);

                if (!cases[i].error) {
                        if (r != 0)
                                fail_msg("case %zu: refused: %s", i, strempty(err));
                        assert_null(err);
                        continue;
                }
                if (r != -EACCES || !streq_ptr(err, cases[i].error))
                        fail_msg("case %zu:\n  got      %d \"%s\"\n  expected \"%s\"", i, r,
                                 strempty(err), cases[i].error);
        }
}

/* Every action is in the table: each is refused to someone and allowed to the operator. */
static void test_every_action(void **state)
{
        (void)state;
        for (int a = 0; a < _AUTHZ_ACTION_MAX; a++) {
                struct authz_request q = {.action = a, .agent = "x", .task = "t", .role = "r"};
                _cleanup_free_ char *err = NULL;

                assert_int_equal(authz_check(&operator, &q, NULL), 0);
                assert_int_equal(authz_check(&node1, &q, &err), -EACCES);
                assert_non_null(err);
                assert_true(strncmp(err, "identity 'agent:node-1' may not ", 32) == 0);
        }
}

static void test_visibility(void **state)
{
        (void)state;
        assert_true(authz_role_visible(NULL, "batch"));
        assert_true(authz_role_visible(&operator, "batch"));
        assert_true(authz_role_visible(&master_id, "batch"));
        assert_true(authz_role_visible(&storage, "storage"));
        assert_false(authz_role_visible(&storage, "batch"));
        assert_false(authz_role_visible(&storage, NULL));
        assert_false(authz_role_visible(&node1, "storage"));
        assert_true(authz_role_visible(&multi, "backup"));

        assert_string_equal(authz_default_role(&storage), "storage");
        assert_null(authz_default_role(&multi));
        assert_null(authz_default_role(&operator));
        assert_null(authz_default_role(NULL));
}

/* A spec naming an existing volume: the volume's role must be the task's; a role-less
 * (adopted) volume only for an operator or a master. */
static void test_volume_mount(void **state)
{
        char *err = NULL;

        (void)state;
        assert_int_equal(authz_volume_mount(&storage, "pg", "storage", "storage", &err), 0);
        assert_int_equal(authz_volume_mount(&multi, "pg", "storage", "backup", &err), -EACCES);
        assert_string_equal(err, "volume 'pg' belongs to role 'storage': a task of role 'backup' "
                                 "may not mount it");
        free(err), err = NULL;
        /* the rule is the volume's, not the submitter's: an operator is refused too */
        assert_int_equal(authz_volume_mount(&operator, "pg", "storage", NULL, &err), -EACCES);
        assert_string_equal(err, "volume 'pg' belongs to role 'storage': a task of no role may "
                                 "not mount it");
        free(err), err = NULL;
        assert_int_equal(authz_volume_mount(&storage, "old", NULL, "storage", &err), -EACCES);
        assert_string_equal(err, "volume 'old' has no role (adopted from an agent's report): only "
                                 "an operator may mount it");
        free(err), err = NULL;
        assert_int_equal(authz_volume_mount(&node1, "old", NULL, "storage", &err), -EACCES);
        free(err), err = NULL;
        assert_int_equal(authz_volume_mount(&operator, "old", NULL, "storage", &err), 0);
        assert_int_equal(authz_volume_mount(NULL, "old", NULL, NULL, &err), 0);
        assert_int_equal(authz_volume_mount(&master_id, "old", NULL, "batch", &err), 0);
        assert_null(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cases),
            cmocka_unit_test(test_every_action),
            cmocka_unit_test(test_visibility),
            cmocka_unit_test(test_volume_mount),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's one launch pipeline: idempotency by id, validation and resolution, task, start. */
#include <errno.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "agent/task-ports.h"
#include "agent/volumes.h"
#include "common/error.h"
#include "common/macro.h"
#include "common/protocol-json.h"

/*
 * A launch goes through one function per layer: the HTTP handler (launch-http.c) decodes
 * the body and maps the -errno of agent_task_launch() to a status; agent_task_launch() checks and
 * resolves the spec once (task-validate.c: the task_plan), then task_start() (task-run.c)
 * creates the cgroup from the plan, the sandbox and the shim, which runs the task.
 */

bool agent_launch_refused(int r)
{
        return r == -EINVAL || r == -ENOENT || r == -ENODEV || r == -EEXIST || r == -EBUSY ||
               r == -EINPROGRESS || r == -EACCES;
}

void task_plan_clear(struct task_plan *p)
{
        shim_resolved_clear(&p->resolved);
        free(p->io_targets);
        free(p->devices);
        *p = (struct task_plan){.resolved.nofile.resource = -1};
}

/* A launch that ends with `r` before its task was added: counted as refused (the client's
 * error) or failed (this node's), and the task dropped. Returns r. */
static int launch_abandon(struct agent *a, struct task *t, int r)
{
        if (agent_launch_refused(r))
                a->launch_rejected_total++;
        else
                a->launch_failed_total++;
        task_free(t);
        return r;
}

int agent_task_launch(struct agent *a, struct silo_task_spec *spec, struct task **ret,
                      char **ret_error)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *owned = spec;
        _cleanup_(task_plan_clear) struct task_plan plan = {};
        _cleanup_strv_free_ char **created = NULL;
        struct task *t;
        int r;

        if (!spec->id) {
                r = id_uuid_new(&spec->id);
                if (r < 0)
                        return r;
        }
        /* Volumes' and io entries' "any" made concrete first, so that a retry compares equal. */
        r = agent_volumes_resolve_spec(a, spec, ret_error);
        if (r < 0) {
                a->launch_rejected_total++;
                return r;
        }
        /* Idempotent by id: a master that re-sends a launch after a restart gets the task it
         * already started, never a second one. A launch the agent crashed in before its shim
         * started was never answered and is forgotten at recovery (recover.c): its retry is a
         * new launch below, which starts it. */
        t = agent_task_find(a, spec->id);
        if (t) {
                /* An ended task compacted by housekeeping keeps its spec in its checkpoint. */
                r = task_spec_load(t);
                if (r < 0)
                        return error_set(ret_error, r, "id: task '%s' exists, but its checkpoint's spec cannot be read",
                                         spec->id);
                task_ports_fill_chosen(t, spec);
                if (!silo_task_spec_equal(t->spec, spec)) {
                        a->launch_rejected_total++;
                        return error_set(ret_error, -EEXIST,
                                         "id: task '%s' already exists with a different spec",
                                         spec->id);
                }
                *ret = t;
                return 1;
        }

        r = task_new(a, TAKE_PTR(owned), &t);
        if (r < 0) {
                silo_task_spec_free(spec);
                return r;
        }
        /* Host ports are this node's to check, and a standalone agent's to choose, before
         * anything is created; the spec then holds the ports its checkpoint and JSON show. */
        r = task_ports_assign(a, t, ret_error);
        if (r < 0)
                return launch_abandon(a, t, r);
        r = task_spec_validate(a, t->spec, t->sandbox, &plan, ret_error);
        if (r < 0) {
                a->launch_rejected_total++;
                task_free(t);
                return r;
        }
        /* Its persistent volumes, durable before the answer (volumes.h); a failed start
         * removes those it created. */
        r = agent_volumes_create(a, t->spec, &plan, &created, ret_error);
        if (r < 0)
                return launch_abandon(a, t, r);
        r = task_start(t, &plan, ret_error);
        if (r < 0) {
                agent_volumes_undo(a, created);
                return launch_abandon(a, t, r);
        }
        r = agent_task_add(a, t);
        if (r < 0) {
                (void)task_kill(t);
                task_free(t);
                return r;
        }
        a->launches_total++;
        agent_notify_status(a);
        /* Started and checkpointed with its shim, not answered yet: a crash here leaves a task
         * that runs, and a retry gets it (200). */
        agent_crash_point("launch-before-answer");
        *ret = t;
        return 0;
}

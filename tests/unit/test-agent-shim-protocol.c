/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the agent <-> shim files (launch config, shim state, exit record) and launcher constants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/shim-protocol.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/protocol-json.h"
#include "tests/unit/unit-util.h"

static char dir[64];

static int setup(void **state)
{
        (void)state;
        snprintf(dir, sizeof(dir), "/tmp/test-agent-shim-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

static char **strv(const char *a, const char *b)
{
        char **v = calloc(3, sizeof(char *));
        v[0] = strdup(a);
        v[1] = b ? strdup(b) : NULL;
        return v;
}

/* launch.json is the spec (the codec's encoding) and the resolved fields: what is written
 * comes back equal, and the launcher's config is built from both. */
static void test_launch_round_trip(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec = spec_of(
            "{'id': 't-1', 'name': 'n', 'command': ['/bin/sh', '-c'], 'user': 'nobody', "
            "'init': true, 'capabilities': ['CAP_SYS_PTRACE'], 'rlimits': {'core': 0}, "
            "'container': {'rootfs': '/img', 'volumes': [{'source': '/srv/l', 'target': "
            "'/data', 'readonly': true}], 'devices': [{'path': '/dev/nullb0', 'access': 'r'}]}}");
        struct shim_resolved in = {
                .cgroup = strdup("/sys/fs/cgroup/silo/tasks/t-1"),
                .sandbox = strdup(dir),
                .log_max_bytes = 4096,
                .log_files = 3,
                .set_user = true,
                .uid = 65534,
                .gid = 65534,
                .env = strv("PATH=/bin", "A=b c"),
                .namespaces = SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_NET | SILO_NS_UTS,
                .hostname = strdup("box"),
                .volume_sources = strv("/srv/real", NULL),
                /* "unlimited" must survive JSON (signed 64-bit integers). */
                .nofile = {RLIMIT_NOFILE, 1024, UINT64_MAX},
        };
        struct shim_launch out = {};
        const struct container_config *c = &out.container;
        char *err = NULL;

        (void)state;
        assert_int_equal(shim_launch_write(dir, spec, &in), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), 0);
        assert_null(err);
        /* spec + resolved -> file -> spec + resolved, equal */
        assert_true(silo_task_spec_equal(out.spec, spec));
        assert_string_equal(out.resolved.cgroup, in.cgroup);
        assert_string_equal(out.resolved.sandbox, dir);
        assert_int_equal(out.resolved.log_max_bytes, 4096);
        assert_int_equal(out.resolved.log_files, 3);
        assert_true(out.resolved.set_user);
        assert_int_equal(out.resolved.uid, 65534);
        assert_int_equal(out.resolved.gid, 65534);
        assert_string_equal(out.resolved.env[1], "A=b c");
        assert_null(out.resolved.env[2]);
        assert_int_equal(out.resolved.namespaces, in.namespaces);
        assert_string_equal(out.resolved.hostname, "box");
        assert_null(out.resolved.hidden);
        assert_string_equal(out.resolved.volume_sources[0], "/srv/real");
        assert_int_equal(out.resolved.nofile.resource, RLIMIT_NOFILE);
        assert_true(out.resolved.nofile.hard == UINT64_MAX);
        /* The launcher's config, from both. */
        assert_string_equal(c->argv[0], "/bin/sh");
        assert_string_equal(c->argv[1], "-c");
        assert_null(c->argv[2]);
        assert_string_equal(c->env[0], "PATH=/bin");
        assert_string_equal(c->cwd, "/");
        assert_true(c->set_user);
        assert_int_equal(c->uid, 65534);
        assert_int_equal(c->namespaces, in.namespaces);
        assert_string_equal(c->hostname, "box");
        assert_string_equal(c->rootfs, "/img");
        assert_string_equal(c->sandbox, dir);
        assert_int_equal(c->n_volumes, 1);
        assert_string_equal(c->volumes[0].source, "/srv/real");
        assert_string_equal(c->volumes[0].target, "/data");
        assert_true(c->volumes[0].readonly);
        /* a bind mount only: no seccomp filter */
        assert_false(c->quota_filter);
        assert_int_equal(c->n_devices, 1);
        assert_string_equal(c->devices[0].path, "/dev/nullb0");
        assert_int_equal(c->devices[0].access, SILO_DEV_READ);
        assert_true(c->capabilities == (container_default_capabilities() | spec->capabilities));
        assert_true(c->capabilities & (UINT64_C(1) << CAP_SYS_PTRACE));
        assert_int_equal(c->n_rlimits, 2);
        assert_int_equal(c->rlimits[0].resource, RLIMIT_CORE);
        assert_int_equal(c->rlimits[1].resource, RLIMIT_NOFILE);
        assert_true(c->rlimits[1].hard == UINT64_MAX);
        assert_true(c->init);
        shim_resolved_clear(&in);
        shim_launch_clear(&out);
}

/* Without a rootfs the task runs in its sandbox; no user, no default nofile. */
static void test_launch_host_root(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec =
            spec_of("{'id': 't-2', 'name': 'n', 'command': ['true']}");
        struct shim_resolved in = {
                .cgroup = strdup("/c"),
                .sandbox = strdup(dir),
                .log_max_bytes = 10,
                .log_files = 1,
                .env = strv("SILO=1", NULL),
                .hidden = strv("/var/lib/silo/agent", NULL),
                .nofile.resource = -1,
        };
        struct shim_launch out = {};

        (void)state;
        assert_int_equal(shim_launch_write(dir, spec, &in), 0);
        assert_int_equal(shim_launch_read(dir, &out, NULL), 0);
        assert_false(out.resolved.set_user);
        assert_int_equal(out.resolved.nofile.resource, -1);
        assert_string_equal(out.resolved.hidden[0], "/var/lib/silo/agent");
        assert_string_equal(out.container.cwd, dir);
        assert_null(out.container.rootfs);
        assert_null(out.container.hostname);
        assert_int_equal(out.container.n_rlimits, 0);
        assert_int_equal(out.container.n_volumes, 0);
        assert_string_equal(out.container.hidden[0], "/var/lib/silo/agent");
        shim_resolved_clear(&in);
        shim_launch_clear(&out);
}

/* A persistent volume among the mounts: the launcher installs the quota's seccomp filter. */
static void test_launch_persistent_volume(void **state)
{
        _cleanup_(silo_task_spec_freep) struct silo_task_spec *spec =
            spec_of("{'id': 't-3', 'name': 'n', 'command': ['true'], 'container': {'volumes': ["
                    "{'source': '/srv/x', 'target': '/x'},"
                    "{'name': 'pg', 'size': '1Gi', 'target': '/data'}]}}");
        struct shim_resolved in = {
                .cgroup = strdup("/c"),
                .sandbox = strdup(dir),
                .log_max_bytes = 10,
                .log_files = 1,
                .env = strv("SILO=1", NULL),
                .volume_sources = strv("/srv/x", "/srv/sda/silo-volumes/pg"),
                .nofile.resource = -1,
        };
        struct shim_launch out = {};

        (void)state;
        assert_int_equal(shim_launch_write(dir, spec, &in), 0);
        assert_int_equal(shim_launch_read(dir, &out, NULL), 0);
        assert_int_equal(out.container.n_volumes, 2);
        assert_string_equal(out.container.volumes[1].source, "/srv/sda/silo-volumes/pg");
        assert_true(out.container.quota_filter);
        shim_resolved_clear(&in);
        shim_launch_clear(&out);
}

static void test_launch_malformed(void **state)
{
        struct shim_launch out = {};
        char path[128], *err = NULL;

        (void)state;
        snprintf(path, sizeof(path), "%s/launch.json", dir);
        (void)unlink(path);
        assert_int_equal(shim_launch_read(dir, &out, &err), -ENOENT);
        assert_non_null(strstr(err, "launch.json"));
        free(err);
        err = NULL;
        assert_int_equal(file_write_atomic(path, "{\"task_id\":1}", 13, 0600), 0);
        assert_true(shim_launch_read(dir, &out, &err) < 0);
        assert_non_null(strstr(err, "launch.json: spec"));
        free(err);
        err = NULL;
        /* The spec goes through the codec: an empty command is refused with its message. */
        static const char doc[] =
            "{\"spec\":{\"id\":\"x\",\"name\":\"n\",\"command\":[]},\"resolved\":{\"cgroup\":\"/c\","
            "\"sandbox\":\"/s\",\"log_max_bytes\":10,\"log_files\":1,\"env\":[],\"namespaces\":0,"
            "\"volume_sources\":[]}}";
        assert_int_equal(file_write_atomic(path, doc, strlen(doc), 0600), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), -EINVAL);
        assert_non_null(strstr(err, "command"));
        free(err);
        err = NULL;
        static const char doc2[] =
            "{\"spec\":{\"id\":\"x\",\"name\":\"n\",\"command\":[\"true\"]},\"resolved\":{\"cgroup\":\"/c\","
            "\"sandbox\":\"/s\",\"log_max_bytes\":10,\"log_files\":1,\"env\":[1],\"namespaces\":0,"
            "\"volume_sources\":[]}}";
        assert_int_equal(file_write_atomic(path, doc2, strlen(doc2), 0600), 0);
        assert_int_equal(shim_launch_read(dir, &out, &err), -EINVAL);
        assert_non_null(strstr(err, "resolved.env"));
        free(err);
}

static void test_state_and_exit_records(void **state)
{
        struct shim_state s = {.shim_pid = 10, .shim_start_time = 12345678901ULL, .task_pid = 11,
                               .task_start_time = 22, .started_ms = 1700000000000ULL}, s2 = {};
        struct shim_exit_record e = {.exit_code = -1, .signal = 9, .core_dumped = true, .finished_ms = 5},
                                e2 = {};

        (void)state;
        assert_int_equal(shim_exit_record_read(dir, &e2), -ENOENT);
        assert_int_equal(shim_state_write(dir, &s), 0);
        assert_int_equal(shim_state_read(dir, &s2), 0);
        assert_int_equal(s2.shim_pid, 10);
        assert_true(s2.shim_start_time == 12345678901ULL);
        assert_int_equal(s2.task_pid, 11);
        assert_int_equal(s2.task_start_time, 22);
        assert_true(s2.started_ms == 1700000000000ULL);
        assert_int_equal(shim_exit_record_write(dir, &e), 0);
        assert_int_equal(shim_exit_record_read(dir, &e2), 0);
        assert_int_equal(e2.exit_code, -1);
        assert_int_equal(e2.signal, 9);
        assert_true(e2.core_dumped);
        assert_null(e2.launch_error);
        e.launch_error = "command: cannot execute /nope: No such file or directory";
        assert_int_equal(shim_exit_record_write(dir, &e), 0);
        assert_int_equal(shim_exit_record_read(dir, &e2), 0);
        assert_string_equal(e2.launch_error, e.launch_error);
        shim_exit_record_clear(&e2);
}

static void test_default_capabilities(void **state)
{
        uint64_t m = container_default_capabilities();

        (void)state;
        /* Docker's 14, and none of the dangerous ones. */
        assert_int_equal(__builtin_popcountll(m), 14);
        assert_true(m & (UINT64_C(1) << CAP_NET_BIND_SERVICE));
        assert_true(m & (UINT64_C(1) << CAP_MKNOD));
        assert_false(m & (UINT64_C(1) << CAP_SYS_ADMIN));
        assert_false(m & (UINT64_C(1) << CAP_NET_ADMIN));
        assert_false(m & (UINT64_C(1) << CAP_SYS_PTRACE));
        assert_false(m & (UINT64_C(1) << CAP_SYS_MODULE));
}

static void test_clone_flags(void **state)
{
        (void)state;
        /* The cgroup namespace is always there: a task sees its own group as the root. */
        assert_true(container_clone_flags(0) == CLONE_NEWCGROUP);
        assert_true(container_clone_flags(SILO_NS_PID | SILO_NS_MOUNT | SILO_NS_UTS | SILO_NS_IPC | SILO_NS_NET) ==
                    (uint64_t)(CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                               CLONE_NEWNET));
}

/* The shim server's socket: a request carries the sandbox and three fds, an answer the pid
 * and a pidfd, or an errno; anything else is refused and leaves no fd open. */
static int fd_count(void)
{
        int n = 0;

        for (int fd = 0; fd < 1024; fd++)
                n += fcntl(fd, F_GETFD) >= 0;
        return n;
}

/* A raw datagram with `n` copies of `fd` attached, as a peer that does not follow the
 * protocol would send it. */
static void send_raw(int sock, const void *data, size_t len, int fd, size_t n)
{
        int fds[5];
        char buf[CMSG_SPACE(sizeof(fds))];
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

        assert_true(n <= ELEMENTSOF(fds));
        memset(buf, 0, sizeof(buf));
        if (n) {
                struct cmsghdr *c;

                for (size_t i = 0; i < n; i++)
                        fds[i] = fd;
                msg.msg_control = buf;
                msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        }
        assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)len);
}

static void test_server_socket(void **state)
{
        int sv[2], p[2], log_fd, fds[_SHIM_REQUEST_FDS], got[_SHIM_REQUEST_FDS], pidfd = -1, before, n;
        struct shim_answer answer;
        char *sandbox = NULL, *longpath;
        (void)state;

        before = fd_count();
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        assert_true(log_fd >= 0);
        fds[SHIM_REQUEST_REPORT] = p[1];
        fds[SHIM_REQUEST_LOG] = log_fd;
        fds[SHIM_REQUEST_GO] = log_fd;

        assert_int_equal(shim_request_send(sv[0], "/var/lib/silo/agent/sandboxes/t1", fds), 0);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), 1);
        assert_string_equal(sandbox, "/var/lib/silo/agent/sandboxes/t1");
        /* The report fd received is the pipe's write end: what is written arrives. */
        assert_int_equal(write(got[SHIM_REQUEST_REPORT], "x", 1), 1);
        {
                char c = 0;
                assert_int_equal(read(p[0], &c, 1), 1);
                assert_int_equal(c, 'x');
        }
        for (size_t i = 0; i < _SHIM_REQUEST_FDS; i++) {
                assert_true(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
                close(got[i]);
        }
        free(sandbox);
        sandbox = NULL;

        n = fd_count();
        /* A relative path is not sent; one that arrives is refused with its fds closed. */
        assert_int_equal(shim_request_send(sv[0], "relative", fds), -EINVAL);
        send_raw(sv[0], "rel", 3, log_fd, 3);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        assert_int_equal(fd_count(), n);
        /* Without its fds, with too few, with too many (more than the control buffer holds:
         * MSG_CTRUNC): refused, nothing left open. */
        send_raw(sv[0], "/a/b", 4, log_fd, 0);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        send_raw(sv[0], "/a/b", 4, log_fd, 2);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        send_raw(sv[0], "/a/b", 4, log_fd, 4);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        send_raw(sv[0], "/a/b", 4, log_fd, 5);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        assert_int_equal(fd_count(), n);
        /* A path longer than PATH_MAX - 1 is truncated on receipt (MSG_TRUNC): refused. */
        longpath = malloc(PATH_MAX + 10);
        assert_non_null(longpath);
        memset(longpath, 'a', PATH_MAX + 9);
        longpath[0] = '/';
        longpath[PATH_MAX + 9] = '\0';
        assert_int_equal(shim_request_send(sv[0], longpath, fds), -EINVAL);
        send_raw(sv[0], longpath, PATH_MAX + 9, log_fd, 3);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), -EBADMSG);
        free(longpath);
        assert_int_equal(fd_count(), n);

        /* Answers: an errno without a pidfd, then a pid with its pidfd; the caller reads the
         * answer's error. */
        assert_int_equal(shim_answer_send(sv[1], &(struct shim_answer){.error = EAGAIN}, -1), 0);
        assert_int_equal(shim_answer_recv(sv[0], &answer, &pidfd), 0);
        assert_int_equal(answer.error, EAGAIN);
        assert_int_equal(pidfd, -1);
        assert_int_equal(shim_answer_send(sv[1], &(struct shim_answer){.pid = getpid(), .start_time = 12345}, log_fd), 0);
        assert_int_equal(shim_answer_recv(sv[0], &answer, &pidfd), 0);
        assert_int_equal(answer.error, 0);
        assert_int_equal(answer.pid, getpid());
        assert_int_equal(answer.start_time, 12345);
        assert_true(pidfd >= 0 && pidfd != log_fd);
        close(pidfd);
        /* A short answer, or one with two fds: malformed, nothing left open. */
        send_raw(sv[1], "abc", 3, log_fd, 1);
        assert_int_equal(shim_answer_recv(sv[0], &answer, &pidfd), -EBADMSG);
        send_raw(sv[1], &(struct shim_answer){.pid = 1}, sizeof(struct shim_answer), log_fd, 2);
        assert_int_equal(shim_answer_recv(sv[0], &answer, &pidfd), -EBADMSG);
        assert_int_equal(fd_count(), n);

        /* The peer gone: EOF for the server, -EPIPE for the agent. */
        close(sv[1]);
        assert_int_equal(shim_answer_recv(sv[0], &answer, &pidfd), -EPIPE);
        assert_int_equal(shim_request_send(sv[0], "/a", fds), -EPIPE);
        close(sv[0]);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
        close(sv[0]);
        assert_int_equal(shim_request_recv(sv[1], &sandbox, got), 0);
        close(sv[1]);
        close(p[0]);
        close(p[1]);
        close(log_fd);
        assert_int_equal(fd_count(), before);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_launch_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_launch_host_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_launch_persistent_volume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_launch_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_state_and_exit_records, setup, teardown),
                cmocka_unit_test(test_default_capabilities),
                cmocka_unit_test(test_clone_flags),
                cmocka_unit_test(test_server_socket),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* String tables of the protocol enums, capability and rlimit names, and the task state machine. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "common/macro.h"
#include "silo/protocol.h"

/* Look s up in a table of names indexed by value; -EINVAL when absent. */
static int table_lookup(const char *const *table, size_t n, const char *s, bool ignore_case)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && (ignore_case ? strcasecmp(table[i], s) : strcmp(table[i], s)) == 0)
                        return (int)i;
        return -EINVAL;
}

#define TABLE_TO_STRING(table, v) ((size_t)(v) < ELEMENTSOF(table) ? (table)[(size_t)(v)] : NULL)

static const char *const task_state_table[_SILO_TASK_STATE_MAX] = {
    [SILO_TASK_PENDING] = "PENDING",   [SILO_TASK_STAGING] = "STAGING",
    [SILO_TASK_STARTING] = "STARTING", [SILO_TASK_RUNNING] = "RUNNING",
    [SILO_TASK_FINISHED] = "FINISHED", [SILO_TASK_FAILED] = "FAILED",
    [SILO_TASK_KILLED] = "KILLED",     [SILO_TASK_LOST] = "LOST",
};

const char *silo_task_state_to_string(silo_task_state s)
{
        return TABLE_TO_STRING(task_state_table, s);
}

/* Case-insensitive: the wire form is upper case, but "?state=running" on a command line is
 * what people type. */
int silo_task_state_from_string(const char *s)
{
        return table_lookup(task_state_table, ELEMENTSOF(task_state_table), s, true);
}

bool silo_task_state_is_terminal(silo_task_state s)
{
        return s == SILO_TASK_FINISHED || s == SILO_TASK_FAILED || s == SILO_TASK_KILLED ||
               s == SILO_TASK_LOST;
}

bool silo_task_state_transition_ok(silo_task_state from, silo_task_state to)
{
        if ((unsigned)from >= _SILO_TASK_STATE_MAX || (unsigned)to >= _SILO_TASK_STATE_MAX)
                return false;
        /* Status updates are delivered at least once: a repeated state is a harmless no-op. */
        if (from == to)
                return true;

        switch (from) {
        case SILO_TASK_PENDING:
                return to == SILO_TASK_STAGING || to == SILO_TASK_KILLED ||
                       to == SILO_TASK_FAILED || to == SILO_TASK_LOST;
        case SILO_TASK_STAGING:
                /* PENDING: the agent refused the launch and the master requeues the task.
                 * RUNNING: STARTING may be skipped when its update is coalesced. */
                return to == SILO_TASK_PENDING || to == SILO_TASK_STARTING ||
                       to == SILO_TASK_RUNNING || silo_task_state_is_terminal(to);
        case SILO_TASK_STARTING:
                return to == SILO_TASK_RUNNING || silo_task_state_is_terminal(to);
        case SILO_TASK_RUNNING:
                return silo_task_state_is_terminal(to);
        case SILO_TASK_LOST:
                /* The agent came back: the task either survived (the master resumes it) or
                 * ended meanwhile, and its true outcome replaces LOST. */
                return to == SILO_TASK_RUNNING || to == SILO_TASK_FINISHED ||
                       to == SILO_TASK_FAILED || to == SILO_TASK_KILLED;
        case SILO_TASK_FINISHED:
        case SILO_TASK_FAILED:
        case SILO_TASK_KILLED:
        default:
                return false;
        }
}

static const char *const task_reason_table[_SILO_TASK_REASON_MAX] = {
    [SILO_REASON_NONE] = "NONE",
    [SILO_REASON_EXIT_NONZERO] = "EXIT_NONZERO",
    [SILO_REASON_SIGNALED] = "SIGNALED",
    [SILO_REASON_OOM_KILLED] = "OOM_KILLED",
    [SILO_REASON_LAUNCH_FAILED] = "LAUNCH_FAILED",
    [SILO_REASON_AGENT_LOST] = "AGENT_LOST",
    [SILO_REASON_KILLED_BY_REQUEST] = "KILLED_BY_REQUEST",
    [SILO_REASON_SHIM_LOST] = "SHIM_LOST",
    [SILO_REASON_CGROUP_LOST] = "CGROUP_LOST",
};

const char *silo_task_reason_to_string(silo_task_reason r)
{
        return TABLE_TO_STRING(task_reason_table, r);
}

int silo_task_reason_from_string(const char *s)
{
        return table_lookup(task_reason_table, ELEMENTSOF(task_reason_table), s, true);
}

static const char *const spread_table[_SILO_SPREAD_MAX] = {
    [SILO_SPREAD_NONE] = "none",
    [SILO_SPREAD_HOSTNAME] = "hostname",
};

const char *silo_spread_to_string(silo_spread s)
{
        return TABLE_TO_STRING(spread_table, s);
}

int silo_spread_from_string(const char *s)
{
        return table_lookup(spread_table, ELEMENTSOF(spread_table), s, false);
}

static const char *const network_mode_table[_SILO_NETWORK_MODE_MAX] = {
    [SILO_NETWORK_HOST] = "host",
    [SILO_NETWORK_NONE] = "none",
    [SILO_NETWORK_BRIDGE] = "bridge",
};

const char *silo_network_mode_to_string(silo_network_mode m)
{
        return TABLE_TO_STRING(network_mode_table, m);
}

int silo_network_mode_from_string(const char *s)
{
        return table_lookup(network_mode_table, ELEMENTSOF(network_mode_table), s, false);
}

static const char *const port_proto_table[_SILO_PORT_PROTO_MAX] = {
    [SILO_PORT_TCP] = "tcp",
    [SILO_PORT_UDP] = "udp",
};

const char *silo_port_proto_to_string(silo_port_proto p)
{
        return TABLE_TO_STRING(port_proto_table, p);
}

int silo_port_proto_from_string(const char *s)
{
        return table_lookup(port_proto_table, ELEMENTSOF(port_proto_table), s, false);
}

static const char *const volume_report_state_table[_SILO_VOLUME_REPORT_STATE_MAX] = {
    [SILO_VOLUME_REPORT_READY] = "ready",
    [SILO_VOLUME_REPORT_CREATING] = "creating",
    [SILO_VOLUME_REPORT_DELETING] = "deleting",
};

const char *silo_volume_report_state_to_string(silo_volume_report_state s)
{
        return TABLE_TO_STRING(volume_report_state_table, s);
}

int silo_volume_report_state_from_string(const char *s)
{
        return table_lookup(volume_report_state_table, ELEMENTSOF(volume_report_state_table), s,
                            false);
}

/* One port of a range: decimal digits only (no sign, space or leading "+" that strtoul would
 * take), 1..65535. Advances *s past the digits. */
static int port_parse_prefix(const char **s, uint16_t *ret)
{
        unsigned long v = 0;
        size_t n = strspn(*s, "0123456789");

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (unsigned long)((*s)[i] - '0');
        if (v < 1 || v > 65535)
                return -EINVAL;
        *s += n;
        *ret = (uint16_t)v;
        return 0;
}

int silo_port_range_parse(const char *s, uint16_t *ret_min, uint16_t *ret_max)
{
        uint16_t lo, hi;

        if (!s || port_parse_prefix(&s, &lo) < 0)
                return -EINVAL;
        hi = lo;
        if (*s == '-') {
                s++;
                if (port_parse_prefix(&s, &hi) < 0)
                        return -EINVAL;
        }
        if (*s != '\0' || lo > hi)
                return -EINVAL;
        *ret_min = lo;
        *ret_max = hi;
        return 0;
}

/* Indexed by bit number of SILO_NS_*. */
static const char *const namespace_table[] = {
    "pid", "mount", "uts", "ipc", "net", "cgroup",
};

const char *silo_namespace_to_string(unsigned ns_bit)
{
        for (size_t i = 0; i < ELEMENTSOF(namespace_table); i++)
                if (ns_bit == 1u << i)
                        return namespace_table[i];
        return NULL;
}

int silo_namespace_from_string(const char *s)
{
        int i = table_lookup(namespace_table, ELEMENTSOF(namespace_table), s, false);

        return i < 0 ? i : (int)(1u << i);
}

static const char *const capability_table[] = {
    [CAP_CHOWN] = "CAP_CHOWN",
    [CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
    [CAP_FOWNER] = "CAP_FOWNER",
    [CAP_FSETID] = "CAP_FSETID",
    [CAP_KILL] = "CAP_KILL",
    [CAP_SETGID] = "CAP_SETGID",
    [CAP_SETUID] = "CAP_SETUID",
    [CAP_SETPCAP] = "CAP_SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
    [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
    [CAP_NET_RAW] = "CAP_NET_RAW",
    [CAP_IPC_LOCK] = "CAP_IPC_LOCK",
    [CAP_IPC_OWNER] = "CAP_IPC_OWNER",
    [CAP_SYS_MODULE] = "CAP_SYS_MODULE",
    [CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
    [CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
    [CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
    [CAP_SYS_PACCT] = "CAP_SYS_PACCT",
    [CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
    [CAP_SYS_BOOT] = "CAP_SYS_BOOT",
    [CAP_SYS_NICE] = "CAP_SYS_NICE",
    [CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
    [CAP_SYS_TIME] = "CAP_SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
    [CAP_MKNOD] = "CAP_MKNOD",
    [CAP_LEASE] = "CAP_LEASE",
    [CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
    [CAP_SETFCAP] = "CAP_SETFCAP",
    [CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
    [CAP_SYSLOG] = "CAP_SYSLOG",
    [CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "CAP_AUDIT_READ",
    [CAP_PERFMON] = "CAP_PERFMON",
    [CAP_BPF] = "CAP_BPF",
    [CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

/* "CAP_NET_ADMIN", "cap_net_admin" and "NET_ADMIN" all name the same capability, as in
 * docker --cap-add and systemd's CapabilityBoundingSet=. */
int silo_capability_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "CAP_", 4) == 0)
                s += 4;
        for (size_t i = 0; i < ELEMENTSOF(capability_table); i++)
                if (capability_table[i] && strcasecmp(capability_table[i] + 4, s) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *silo_capability_to_string(int cap)
{
        return cap < 0 ? NULL : TABLE_TO_STRING(capability_table, cap);
}

static const char *const rlimit_table[] = {
    [RLIMIT_CPU] = "cpu",           [RLIMIT_FSIZE] = "fsize",
    [RLIMIT_DATA] = "data",         [RLIMIT_STACK] = "stack",
    [RLIMIT_CORE] = "core",         [RLIMIT_RSS] = "rss",
    [RLIMIT_NPROC] = "nproc",       [RLIMIT_NOFILE] = "nofile",
    [RLIMIT_MEMLOCK] = "memlock",   [RLIMIT_AS] = "as",
    [RLIMIT_LOCKS] = "locks",       [RLIMIT_SIGPENDING] = "sigpending",
    [RLIMIT_MSGQUEUE] = "msgqueue", [RLIMIT_NICE] = "nice",
    [RLIMIT_RTPRIO] = "rtprio",
};

int silo_rlimit_from_string(const char *s)
{
        return table_lookup(rlimit_table, ELEMENTSOF(rlimit_table), s, false);
}

const char *silo_rlimit_to_string(int resource)
{
        return resource < 0 ? NULL : TABLE_TO_STRING(rlimit_table, resource);
}

static const char *const io_limit_table[_SILO_IO_LIMIT_MAX] = {
    [SILO_IO_RBPS] = "rbps",
    [SILO_IO_WBPS] = "wbps",
    [SILO_IO_RIOPS] = "riops",
    [SILO_IO_WIOPS] = "wiops",
};

static const char *const io_figure_table[_SILO_IO_LIMIT_MAX] = {
    [SILO_IO_RBPS] = "read_bps",
    [SILO_IO_WBPS] = "write_bps",
    [SILO_IO_RIOPS] = "read_iops",
    [SILO_IO_WIOPS] = "write_iops",
};

const char *silo_io_limit_to_string(silo_io_limit l)
{
        return TABLE_TO_STRING(io_limit_table, l);
}

const char *silo_io_figure_to_string(silo_io_limit l)
{
        return TABLE_TO_STRING(io_figure_table, l);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent network namespaces (bind-mounted nsfs files, as `ip netns` and CNI make them) and netlink sockets in them. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <netlink/errno.h>

#include "common/error.h"
#include "isolator/net-internal.h"
#include "isolator/net.h"

/* The calling thread's namespace, not the process's: setns() and unshare() act per thread. */
#define THREAD_NETNS "/proc/thread-self/ns/net"

int net_nl_errno(int nle)
{
        /* libnl folds the kernel's errno into NLE_* (nl_syserr2nlerr); this is the way back
         * for the codes that have one. */
        static const struct {
                int nle, err;
        } map[] = {
                {NLE_INTR, EINTR},           {NLE_BAD_SOCK, EBADF},       {NLE_AGAIN, EAGAIN},
                {NLE_NOMEM, ENOMEM},         {NLE_EXIST, EEXIST},         {NLE_INVAL, EINVAL},
                {NLE_RANGE, ERANGE},         {NLE_MSGSIZE, EMSGSIZE},     {NLE_OPNOTSUPP, EOPNOTSUPP},
                {NLE_AF_NOSUPPORT, EAFNOSUPPORT}, {NLE_OBJ_NOTFOUND, ENOENT}, {NLE_NOADDR, EADDRNOTAVAIL},
                {NLE_BUSY, EBUSY},           {NLE_PERM, EPERM},           {NLE_NODEV, ENODEV},
                {NLE_NOACCESS, EACCES},      {NLE_PROTO_MISMATCH, EPROTONOSUPPORT},
                {NLE_IMMUTABLE, EPERM},
        };
        if (nle < 0)
                nle = -nle;
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (map[i].nle == nle)
                        return -map[i].err;
        return -EIO;
}

int net_nl_error(char **ret_error, int nle, const char *format, ...)
{
        _cleanup_free_ char *what = NULL;
        int r = net_nl_errno(nle);
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&what, format, ap) < 0)
                what = NULL;
        va_end(ap);
        return error_set(ret_error, r, "%s: %s", what ? what : "netlink",
                         r == -EIO ? nl_geterror(nle) : strerror(-r));
}

/* Run the socket's creation inside the namespace at `path` and come straight back: a socket
 * stays in the namespace it was created in. Coming back cannot fail short of a kernel bug
 * (the thread's own namespace file is open); if it did, the thread would go on in the task's
 * namespace, so abort rather than serve from there. */
static int sock_open_in(const char *path, struct nl_sock *sk, char **ret_error)
{
        _cleanup_close_ int orig = -1, target = -1;
        int r;

        orig = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
        if (orig < 0)
                return error_set(ret_error, -errno, "opening %s: %m", THREAD_NETNS);
        target = open(path, O_RDONLY | O_CLOEXEC);
        if (target < 0)
                return error_set(ret_error, -errno, "opening network namespace %s: %m", path);
        if (setns(target, CLONE_NEWNET) < 0)
                return error_set(ret_error, -errno, "entering network namespace %s: %m", path);
        r = nl_connect(sk, NETLINK_ROUTE);
        if (setns(orig, CLONE_NEWNET) < 0)
                abort();
        if (r < 0)
                return net_nl_error(ret_error, r, "opening a netlink socket in %s", path);
        return 0;
}

int net_sock_open(const char *netns_path, struct nl_sock **ret, char **ret_error)
{
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        if (netns_path)
                r = sock_open_in(netns_path, sk, ret_error);
        else if ((r = nl_connect(sk, NETLINK_ROUTE)) < 0)
                r = net_nl_error(ret_error, r, "opening a netlink socket");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(sk);
        return 0;
}

int net_netns_create(const char *path, char **ret_error)
{
        _cleanup_close_ int orig = -1, fd = -1;
        int r = 0;

        fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return error_set(ret_error, -errno, "creating network namespace file %s: %m", path);
        orig = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
        if (orig < 0) {
                r = error_set(ret_error, -errno, "opening %s: %m", THREAD_NETNS);
                goto fail;
        }
        /* As iproute2's netns_add(): a new namespace for this thread, its nsfs file bound onto
         * `path` (which keeps it alive with no process in it), and back. */
        if (unshare(CLONE_NEWNET) < 0) {
                r = error_set(ret_error, -errno, "creating a network namespace for %s: %m", path);
                goto fail;
        }
        if (mount(THREAD_NETNS, path, "none", MS_BIND, NULL) < 0)
                r = error_set(ret_error, -errno, "bind-mounting the new network namespace on %s: %m", path);
        if (setns(orig, CLONE_NEWNET) < 0)
                abort();        /* see sock_open_in() */
        if (r >= 0)
                return 0;
fail:
        (void)unlink(path);
        return r;
}

int net_netns_remove(const char *path, char **ret_error)
{
        /* MNT_DETACH: the namespace lives on while a process is in it, but the file goes now. */
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return error_set(ret_error, -errno, "unmounting network namespace %s: %m", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return error_set(ret_error, -errno, "removing network namespace file %s: %m", path);
        return 0;
}

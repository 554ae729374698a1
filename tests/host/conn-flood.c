/* SPDX-License-Identifier: Apache-2.0 */
/* conn-flood: a bounded flood of idle or slowloris TCP connections from chosen source addresses. */

/*
 * The host suite master-flood.sh and the VM suite agent-flood.sh use it to play a hostile
 * client without a token: it opens --count connections to --connect, each bound to one of
 * --sources consecutive source addresses starting at --source (127.0.0.2, 127.0.1.1, ...), and
 *
 *   --mode idle   sends nothing;
 *   --mode slow   sends one byte of a never-ending request header every --interval-ms
 *                 (a slowloris: "GET /health HTTP/1.1\r\nX-Slow: a\r\n..." one byte at a time);
 *   --mode body   sends complete headers of --request (default "GET /health") announcing
 *                 "Content-Length: 100000" without a token, then one body byte every
 *                 --interval-ms (a slow body: R.U.D.Y.).
 *
 * It notices every connection the server closes (EOF, reset), optionally opens a new one in
 * its place (--reconnect), and exits by itself after --duration seconds, or earlier on SIGTERM
 * or SIGINT (a suite stops it once its probe is done instead of sleeping out a duration sized
 * for the slowest machine), closing everything. It prints one line of figures:
 *
 *   conn-flood LABEL: attempted=N connected=N connect_failed=N server_closed=N open_at_end=N
 *     peak_open=N oldest_open_ms=N closed_ms_min=N closed_ms_p50=N closed_ms_max=N ran_ms=N
 *
 * closed_ms_* are the lifetimes (connect to close by the server) of the connections the server
 * closed; oldest_open_ms is the age of the oldest connection still open at the end; ran_ms is
 * how long the flood lasted (a caller that stops it checks the flood outlived its deadlines).
 * --ready-file FILE is written once every first-wave connect has completed or failed.
 * Bounded: --count <= 20000, --duration <= 600 s. Exit status 0, 2 on bad usage, 1 on error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNT 20000
#define MAX_DURATION_S 600
#define RECONNECT_DELAY_MS 50

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { MODE_IDLE, MODE_SLOW, MODE_BODY };

struct slot {
        int fd;                 /* -1: free (waiting to reconnect until reopen_ms) */
        bool connected;
        uint64_t start_ms;      /* connect() */
        uint64_t next_send_ms;  /* slow mode */
        size_t sent;
        uint64_t reopen_ms;
        uint32_t source;        /* host order */
};

static const char slow_head[] = "GET /health HTTP/1.1\r\nHost: flood\r\n";
static const char slow_tail[] = "X-Slow: a\r\n";

static struct {
        struct sockaddr_in target;
        uint32_t source;
        unsigned sources;
        unsigned count;
        enum mode mode;
        unsigned interval_ms;
        unsigned duration_s;
        bool reconnect;
        const char *ready_file;
        const char *label;
        char body_head[512]; /* body mode: the headers, sent at once */
} opt = {
        .sources = 1,
        .count = 100,
        .interval_ms = 1000,
        .duration_s = 10,
        .label = "flood",
};

static struct {
        unsigned long attempted, connected, connect_failed, server_closed;
        unsigned long open, peak_open;
        uint64_t *lifetimes;
        size_t n_lifetimes, cap_lifetimes;
} st;

/* SIGTERM/SIGINT are blocked except inside ppoll(), where the handler sets this: no wakeup is
 * lost while the flood waits. But a ppoll() that finds sockets ready returns with the mask
 * restored and the signal still pending (under a reconnect storm it never blocks), so each pass
 * also looks at the pending set. */
static volatile sig_atomic_t stop_requested;

static bool stop_pending(void)
{
        sigset_t pending;

        if (stop_requested)
                return true;
        if (sigpending(&pending) < 0)
                return false;
        return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

static void on_stop(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: conn-flood --connect IP:PORT [--source IP] [--sources N] [--count N]\n"
                   "                  [--mode idle|slow|body] [--request 'METHOD PATH']\n"
                   "                  [--interval-ms MS] [--duration SEC]\n"
                   "                  [--reconnect] [--ready-file FILE] [--label NAME]\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static void lifetime_add(uint64_t ms)
{
        if (st.n_lifetimes == st.cap_lifetimes) {
                size_t cap = st.cap_lifetimes ? st.cap_lifetimes * 2 : 1024;
                uint64_t *v = realloc(st.lifetimes, cap * sizeof(*v));
                if (!v)
                        return;
                st.lifetimes = v;
                st.cap_lifetimes = cap;
        }
        st.lifetimes[st.n_lifetimes++] = ms;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static void slot_open(struct slot *s, uint64_t now)
{
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(s->source)};
        int one = 1, fd;

        st.attempted++;
        s->connected = false;
        s->sent = 0;
        s->start_ms = now;
        /* body mode: the headers at once */
        s->next_send_ms = opt.mode == MODE_BODY
                              ? now
                              : now + (opt.interval_ms ? (uint64_t)(rand() % opt.interval_ms) : 0);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                st.connect_failed++;
                s->fd = -1;
                s->reopen_ms = now + RECONNECT_DELAY_MS;
                return;
        }
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
            (connect(fd, (struct sockaddr *)&opt.target, sizeof(opt.target)) < 0 &&
             errno != EINPROGRESS)) {
                st.connect_failed++;
                close(fd);
                s->fd = -1;
                s->reopen_ms = now + RECONNECT_DELAY_MS;
                return;
        }
        s->fd = fd;
        st.open++;
        if (st.open > st.peak_open)
                st.peak_open = st.open;
}

/* The connection is gone: count it, and schedule a new one with --reconnect. */
static void slot_lost(struct slot *s, uint64_t now, bool by_server)
{
        if (by_server) {
                st.server_closed++;
                lifetime_add(now - s->start_ms);
        }
        close(s->fd);
        s->fd = -1;
        s->connected = false;
        st.open--;
        s->reopen_ms = opt.reconnect ? now + RECONNECT_DELAY_MS : UINT64_MAX;
}

static void slot_send(struct slot *s, uint64_t now)
{
        size_t head = sizeof(slow_head) - 1, tail = sizeof(slow_tail) - 1;
        const char *buf;
        size_t len = 1;
        char c;
        ssize_t n;

        if (opt.mode == MODE_BODY && s->sent == 0) {
                /* The headers in one go (short enough for any socket buffer), then the body. */
                buf = opt.body_head;
                len = strlen(opt.body_head);
        } else {
                c = opt.mode == MODE_BODY ? ' '
                    : s->sent < head      ? slow_head[s->sent]
                                          : slow_tail[(s->sent - head) % tail];
                buf = &c;
        }
        n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)len)
                s->sent += len;
        else if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                /* Reset or closed by the server (or a partial send of the headers). */
                slot_lost(s, now, true);
                return;
        }
        s->next_send_ms = now + opt.interval_ms;
}

static void write_ready_file(void)
{
        FILE *f;

        if (!opt.ready_file)
                return;
        f = fopen(opt.ready_file, "we");
        if (!f)
                return;
        fprintf(f, "connected=%lu connect_failed=%lu server_closed=%lu open=%lu\n", st.connected,
                st.connect_failed, st.server_closed, st.open);
        fclose(f);
}

static int raise_nofile(unsigned want)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur >= want)
                return 0;
        if (rl.rlim_max < want)
                rl.rlim_max = want; /* needs CAP_SYS_RESOURCE */
        rl.rlim_cur = want;
        return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"connect", required_argument, NULL, 'c'},
                {"source", required_argument, NULL, 's'},
                {"sources", required_argument, NULL, 'S'},
                {"count", required_argument, NULL, 'n'},
                {"mode", required_argument, NULL, 'm'},
                {"interval-ms", required_argument, NULL, 'i'},
                {"duration", required_argument, NULL, 'd'},
                {"reconnect", no_argument, NULL, 'r'},
                {"ready-file", required_argument, NULL, 'R'},
                {"label", required_argument, NULL, 'l'},
                {"request", required_argument, NULL, 'q'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        struct slot *slots;
        struct pollfd *pfd;
        unsigned *idx;
        uint64_t start, end, oldest = 0;
        bool have_target = false, ready = false;
        const char *request = "GET /health";
        struct sigaction sa = {.sa_handler = on_stop};
        sigset_t stop_set, run_mask;
        struct in_addr a;
        int c;

        inet_pton(AF_INET, "127.0.0.1", &a);
        opt.source = ntohl(a.s_addr);
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'c': {
                        char host[64];
                        const char *colon = strrchr(optarg, ':');
                        unsigned port;

                        if (!colon || (size_t)(colon - optarg) >= sizeof(host) ||
                            parse_uint(colon + 1, 1, 65535, &port) < 0)
                                goto bad;
                        memcpy(host, optarg, (size_t)(colon - optarg));
                        host[colon - optarg] = '\0';
                        if (inet_pton(AF_INET, host, &opt.target.sin_addr) != 1)
                                goto bad;
                        opt.target.sin_family = AF_INET;
                        opt.target.sin_port = htons((uint16_t)port);
                        have_target = true;
                        break;
                }
                case 's':
                        if (inet_pton(AF_INET, optarg, &a) != 1)
                                goto bad;
                        opt.source = ntohl(a.s_addr);
                        break;
                case 'S':
                        if (parse_uint(optarg, 1, 65536, &opt.sources) < 0)
                                goto bad;
                        break;
                case 'n':
                        if (parse_uint(optarg, 1, MAX_COUNT, &opt.count) < 0)
                                goto bad;
                        break;
                case 'm':
                        if (strcmp(optarg, "idle") == 0)
                                opt.mode = MODE_IDLE;
                        else if (strcmp(optarg, "slow") == 0)
                                opt.mode = MODE_SLOW;
                        else if (strcmp(optarg, "body") == 0)
                                opt.mode = MODE_BODY;
                        else
                                goto bad;
                        break;
                case 'i':
                        if (parse_uint(optarg, 10, 3600000, &opt.interval_ms) < 0)
                                goto bad;
                        break;
                case 'd':
                        if (parse_uint(optarg, 1, MAX_DURATION_S, &opt.duration_s) < 0)
                                goto bad;
                        break;
                case 'r':
                        opt.reconnect = true;
                        break;
                case 'R':
                        opt.ready_file = optarg;
                        break;
                case 'l':
                        opt.label = optarg;
                        break;
                case 'q':
                        if (strlen(optarg) > 256 || strpbrk(optarg, "\r\n") || !strchr(optarg, ' '))
                                goto bad;
                        request = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        goto bad;
                }
        }
        if (!have_target || optind != argc)
                goto bad;
        snprintf(opt.body_head, sizeof(opt.body_head),
                 "%s HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n\r\n{",
                 request);
        if (raise_nofile(opt.count + 64) < 0) {
                fprintf(stderr, "conn-flood: cannot raise RLIMIT_NOFILE to %u: %s\n",
                        opt.count + 64, strerror(errno));
                return 1;
        }
        slots = calloc(opt.count, sizeof(*slots));
        pfd = calloc(opt.count, sizeof(*pfd));
        idx = calloc(opt.count, sizeof(*idx));
        if (!slots || !pfd || !idx) {
                fprintf(stderr, "conn-flood: out of memory\n");
                return 1;
        }
        sigemptyset(&stop_set);
        sigaddset(&stop_set, SIGTERM);
        sigaddset(&stop_set, SIGINT);
        sigprocmask(SIG_BLOCK, &stop_set, &run_mask);
        sigdelset(&run_mask, SIGTERM);
        sigdelset(&run_mask, SIGINT);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        srand((unsigned)getpid());
        start = now_ms();
        end = start + (uint64_t)opt.duration_s * 1000;
        for (unsigned i = 0; i < opt.count; i++) {
                slots[i].source = opt.source + i % opt.sources;
                slot_open(&slots[i], start);
        }

        for (;;) {
                uint64_t now = now_ms(), wake = end;
                unsigned n = 0, pending = 0;
                int timeout, r;

                if (now >= end || stop_pending())
                        break;
                for (unsigned i = 0; i < opt.count; i++) {
                        struct slot *s = &slots[i];

                        if (s->fd < 0) {
                                if (s->reopen_ms <= now)
                                        slot_open(s, now);
                                else if (s->reopen_ms < wake)
                                        wake = s->reopen_ms;
                                if (s->fd < 0)
                                        continue;
                        }
                        if (!s->connected)
                                pending++;
                        if (s->connected && opt.mode != MODE_IDLE) {
                                if (s->next_send_ms <= now)
                                        slot_send(s, now);
                                if (s->fd < 0)
                                        continue;
                                if (s->next_send_ms < wake)
                                        wake = s->next_send_ms;
                        }
                        pfd[n] = (struct pollfd){
                                .fd = s->fd,
                                .events = (short)(s->connected ? POLLIN | POLLRDHUP : POLLOUT),
                        };
                        idx[n++] = i;
                }
                if (!ready && pending == 0) {
                        ready = true;
                        write_ready_file();
                }
                timeout = wake > now ? (int)(wake - now) : 0;
                r = ppoll(pfd, n,
                          &(struct timespec){.tv_sec = timeout / 1000,
                                             .tv_nsec = (long)(timeout % 1000) * 1000000},
                          &run_mask);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "conn-flood: poll: %s\n", strerror(errno));
                        return 1;
                }
                /* Batch: at most ~100 passes a second over every socket, so that the flood's own
                 * CPU use stays small next to the server's on a 2-CPU test VM. */
                if (r > 0)
                        (void)poll(NULL, 0, 10);
                now = now_ms();
                for (unsigned k = 0; k < n && r > 0; k++) {
                        struct slot *s = &slots[idx[k]];

                        if (!pfd[k].revents)
                                continue;
                        if (!s->connected) {
                                int err = 0;
                                socklen_t len = sizeof(err);

                                (void)getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                                if (err) {
                                        st.connect_failed++;
                                        slot_lost(s, now, false);
                                        continue;
                                }
                                s->connected = true;
                                st.connected++;
                                continue;
                        }
                        /* Drain what the server says (an error page) and notice EOF/reset. */
                        for (;;) {
                                char buf[4096];
                                ssize_t got = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);

                                if (got > 0)
                                        continue;
                                if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
                                                 errno != EINTR))
                                        slot_lost(s, now, true);
                                break;
                        }
                }
        }

        end = now_ms();
        for (unsigned i = 0; i < opt.count; i++)
                if (slots[i].fd >= 0) {
                        if (slots[i].connected && end - slots[i].start_ms > oldest)
                                oldest = end - slots[i].start_ms;
                        close(slots[i].fd);
                }
        if (!ready)
                write_ready_file();
        qsort(st.lifetimes, st.n_lifetimes, sizeof(uint64_t), cmp_u64);
        printf("conn-flood %s: attempted=%lu connected=%lu connect_failed=%lu server_closed=%lu "
               "open_at_end=%lu peak_open=%lu oldest_open_ms=%llu closed_ms_min=%llu "
               "closed_ms_p50=%llu closed_ms_max=%llu ran_ms=%llu\n",
               opt.label, st.attempted, st.connected, st.connect_failed, st.server_closed, st.open,
               st.peak_open, (unsigned long long)oldest,
               (unsigned long long)(st.n_lifetimes ? st.lifetimes[0] : 0),
               (unsigned long long)(st.n_lifetimes ? st.lifetimes[st.n_lifetimes / 2] : 0),
               (unsigned long long)(st.n_lifetimes ? st.lifetimes[st.n_lifetimes - 1] : 0),
               (unsigned long long)(end - start));
        fflush(stdout);
        free(st.lifetimes);
        free(slots);
        free(pfd);
        free(idx);
        return 0;
bad:
        usage(stderr);
        return 2;
}

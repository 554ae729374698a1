/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny HTTP/1.1 client for the VM suites, taking the subset of curl's command line they use.
 *
 * Why not curl: under qemu TCG the guest pays for every page it maps and every relocation it
 * does, and curl links libcurl with its TLS, SSH, LDAP, IDN and HTTP/2 libraries, so
 * `curl --version` alone takes 1.7 s there against ~0.1 s for /bin/true. The agent suites make
 * hundreds of API calls each; this client links only libc and starts like /bin/true.
 *
 * Accepted: -s -S -f (and grouped, -sS, -fsS), -X METHOD, -H 'Name: value' (repeatable),
 * --data-binary BODY|@FILE, -d/--data BODY|@FILE (CR and LF of a file dropped, as curl does),
 * -D FILE (the response headers as received, "-" for stdout), -o FILE, -w FORMAT with
 * %{http_code}, %{response_code}, %{time_total}, %% and \n \r \t \\ escapes,
 * -m/--max-time SEC (fractions allowed), one URL http://HOST[:PORT][/PATH] (HOST resolved with
 * getaddrinfo, [v6] allowed). Bodies: Content-Length, chunked, or up to the close.
 *
 * Built a second time as silo-vm-https (SILO_VM_HTTPS, linked with GnuTLS): https:// URLs too,
 * with curl's --cacert FILE, --cert FILE and --key FILE, the server's certificate checked
 * against the CA and the URL's host (name or IP); $SILO_VM_CACERT, $SILO_VM_CERT and
 * $SILO_VM_KEY give them when the options do not (tests/vm/cluster.sh exports them, so that
 * `api` and the suites' own calls need no change). The cluster suites run over mutual TLS; a
 * GnuTLS start costs a fraction of libcurl's, and the plain agent suites keep the libc-only
 * build. TLS failures exit as curl's: 35 handshake, 58 bad client certificate, 60 the server's
 * certificate not verified, 77 unreadable CA file.
 * Exit codes and messages are curl's: 2 bad option, 3 bad URL, 6 unresolved host, 7 connect
 * failure, 18 short body, 22 HTTP >= 400 with -f, 23 write error, 26 unreadable data file,
 * 28 time-out, 52 empty reply, 55 send failure, 56 receive failure or malformed reply. As curl
 * does, -w is written on every outcome, with 000 when no status line came. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef SILO_VM_HTTPS
#include <gnutls/gnutls.h>
#endif

#define MAX_HEADERS_BYTES (256 * 1024)

enum {
    E_OK = 0,
    E_USAGE = 2,
    E_URL = 3,
    E_RESOLVE = 6,
    E_CONNECT = 7,
    E_PARTIAL = 18,
    E_HTTP = 22,
    E_WRITE = 23,
    E_READ = 26,
    E_TIMEOUT = 28,
    E_EMPTY = 52,
    E_SEND = 55,
    E_RECV = 56,
    E_TLS_CONNECT = 35,
    E_TLS_CERT = 58,
    E_TLS_PEER = 60,
    E_TLS_CACERT = 77,
};

struct opts {
    bool silent, show_error, fail;
    const char *method, *url, *header_file, *out_file, *write_out;
    const char **headers;
    size_t n_headers;
    char *data;
    size_t data_len;
    bool has_data;
    double max_time;
    const char *cacert, *cert, *key;
};

struct conn {
    int fd;
    char buf[65536];
    size_t off, len;
};

static struct opts o;
static struct timespec t_start;
static int http_code;

#ifdef SILO_VM_HTTPS
static const char *prog = "silo-vm-https";
#else
static const char *prog = "silo-vm-http";
#endif

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
{
    va_list ap;
    if (o.silent && !o.show_error)
        return;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double elapsed_s(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t_start.tv_sec) + (double)(now.tv_nsec - t_start.tv_nsec) / 1e9;
}

/* Milliseconds left before --max-time, -1 for none (poll's "forever"), 0 when it has passed. */
static int remaining_ms(void)
{
    double left;
    if (o.max_time <= 0)
        return -1;
    left = o.max_time - elapsed_s();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static int timed_out(void)
{
    err("(28) Operation timed out after %.0f milliseconds", elapsed_s() * 1000);
    return E_TIMEOUT;
}

/* Waits for EVENTS on FD within --max-time: 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        int ms = remaining_ms();
        int r;
        if (ms == 0)
            return -ETIMEDOUT;
        r = poll(&p, 1, ms);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads FILE whole into *ret (NUL-terminated); with STRIP_NL drops CR and LF, as curl's -d @FILE. */
static int read_file(const char *path, bool strip_nl, char **ret, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int c;
    if (!f)
        return -errno;
    while ((c = getc(f)) != EOF) {
        if (strip_nl && (c == '\r' || c == '\n'))
            continue;
        if (len + 2 > cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        buf[len++] = (char)c;
    }
    if (f != stdin)
        fclose(f);
    if (!buf && !(buf = malloc(1)))
        return -ENOMEM;
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int set_data(const char *arg, bool binary)
{
    char *d = NULL;
    size_t n = 0;
    if (arg[0] == '@') {
        int r = read_file(arg + 1, !binary, &d, &n);
        if (r < 0) {
            err("(26) Failed to open/read local data from file/application: %s: %s", arg + 1,
                strerror(-r));
            return E_READ;
        }
    } else {
        n = strlen(arg);
        d = strdup(arg);
        if (!d)
            return E_READ;
    }
    /* Repeated data options are joined with '&', as curl does. */
    if (o.has_data) {
        char *j = malloc(o.data_len + 1 + n + 1);
        if (!j)
            return E_READ;
        memcpy(j, o.data, o.data_len);
        j[o.data_len] = '&';
        memcpy(j + o.data_len + 1, d, n + 1);
        free(o.data);
        free(d);
        o.data = j;
        o.data_len += 1 + n;
    } else {
        o.data = d;
        o.data_len = n;
        o.has_data = true;
    }
    return 0;
}

static int usage_error(const char *what, const char *arg)
{
    /* Always printed: a caller's typo must not hide behind -s. */
    fprintf(stderr, "%s: (2) %s%s%s\n", prog, what, arg ? ": " : "", arg ? arg : "");
    return E_USAGE;
}

/* Long options as their short letter; 'b' is --data-binary, which has none. */
static const struct {
    const char *name;
    char letter;
} long_opts[] = {
    { "--silent", 's' },      { "--show-error", 'S' }, { "--fail", 'f' },
    { "--request", 'X' },     { "--header", 'H' },     { "--data", 'd' },
    { "--data-binary", 'b' }, { "--dump-header", 'D' }, { "--output", 'o' },
    { "--write-out", 'w' },   { "--max-time", 'm' },
#ifdef SILO_VM_HTTPS
    { "--cacert", 'A' },      { "--cert", 'E' },       { "--key", 'K' },
#endif
};

/* Applies option LETTER; those taking a value take VAL. */
static int apply_opt(char letter, const char *val)
{
    char *end;
    switch (letter) {
    case 's': o.silent = true; return 0;
    case 'S': o.show_error = true; return 0;
    case 'f': o.fail = true; return 0;
    case 'X': o.method = val; return 0;
    case 'H': o.headers[o.n_headers++] = val; return 0;
    case 'd': return set_data(val, false);
    case 'b': return set_data(val, true);
    case 'D': o.header_file = val; return 0;
    case 'o': o.out_file = val; return 0;
    case 'w': o.write_out = val; return 0;
    case 'm':
        o.max_time = strtod(val, &end);
        if (*end || end == val || o.max_time < 0)
            return usage_error("--max-time wants seconds, got", val);
        return 0;
    case 'A': o.cacert = val; return 0;
    case 'E': o.cert = val; return 0;
    case 'K': o.key = val; return 0;
    }
    return usage_error("option not supported by this client", NULL);
}

static int parse_args(int argc, char **argv)
{
    o.headers = calloc((size_t)argc, sizeof(*o.headers));
    if (!o.headers)
        return E_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (a[0] != '-' || a[1] == '\0') {
            if (o.url)
                return usage_error("only one URL is supported, got another", a);
            o.url = a;
            continue;
        }
        if (a[1] == '-') {
            char letter = 0;
            for (size_t k = 0; k < sizeof(long_opts) / sizeof(long_opts[0]); k++)
                if (strcmp(a, long_opts[k].name) == 0)
                    letter = long_opts[k].letter;
            if (!letter)
                return usage_error("option not supported by this client", a);
            if (strchr("sSf", letter))
                r = apply_opt(letter, NULL);
            else if (i + 1 >= argc)
                return usage_error("option needs an argument", a);
            else
                r = apply_opt(letter, argv[++i]);
            if (r)
                return r;
            continue;
        }
        /* Grouped short options: -fsS, and a value option last in its group (-sSoFILE, -sSo FILE). */
        for (const char *p = a + 1; *p; p++) {
            if (strchr("sSf", *p)) {
                apply_opt(*p, NULL);
                continue;
            }
            if (!strchr("XHdDowm", *p)) {
                char opt[3] = { '-', *p, '\0' };
                return usage_error("option not supported by this client", opt);
            }
            if (!p[1] && i + 1 >= argc)
                return usage_error("option needs an argument", a);
            if ((r = apply_opt(*p, p[1] ? p + 1 : argv[++i])))
                return r;
            break;
        }
    }
    if (!o.url)
        return usage_error("no URL given", NULL);
    return 0;
}

struct url {
    char host[256];
    char port[8];
    const char *path;
    bool https;
};

static int parse_url(const char *s, struct url *u)
{
    const char *h, *hend, *p;
    size_t n;
    u->https = false;
#ifdef SILO_VM_HTTPS
    u->https = strncasecmp(s, "https://", 8) == 0;
#endif
    if (!u->https && strncasecmp(s, "http://", 7) != 0) {
        err("(3) URL not supported: %s", s);
        return E_URL;
    }
    h = s + (u->https ? 8 : 7);
    p = h + strcspn(h, "/?");
    u->path = *p == '/' ? p : (*p ? NULL : "/");
    if (!u->path) {
        err("(3) URL has a query but no path: %s", s);
        return E_URL;
    }
    snprintf(u->port, sizeof(u->port), u->https ? "443" : "80");
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(p - h));
        if (!hend) {
            err("(3) URL has an unclosed [: %s", s);
            return E_URL;
        }
        h++;
        n = (size_t)(hend - h);
        hend++;
    } else {
        hend = memchr(h, ':', (size_t)(p - h));
        if (!hend)
            hend = p;
        n = (size_t)(hend - h);
    }
    if (n == 0 || n >= sizeof(u->host)) {
        err("(3) URL has no usable host: %s", s);
        return E_URL;
    }
    memcpy(u->host, h, n);
    u->host[n] = '\0';
    if (hend < p) {
        size_t pn = (size_t)(p - hend - 1);
        if (*hend != ':' || pn == 0 || pn >= sizeof(u->port) ||
            strspn(hend + 1, "0123456789") < pn) {
            err("(3) URL has a bad port: %s", s);
            return E_URL;
        }
        memcpy(u->port, hend + 1, pn);
        u->port[pn] = '\0';
    }
    return 0;
}

/* Connects to the first address of HOST:PORT that answers, within --max-time. */
static int connect_to(const struct url *u, int *ret_fd)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai, *a;
    int r, last = ECONNREFUSED;
    r = getaddrinfo(u->host, u->port, &hints, &ai);
    if (r != 0) {
        err("(6) Could not resolve host: %s (%s)", u->host, gai_strerror(r));
        return E_RESOLVE;
    }
    for (a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last = errno;
                close(fd);
                continue;
            }
            r = wait_fd(fd, POLLOUT);
            if (r == -ETIMEDOUT) {
                close(fd);
                freeaddrinfo(ai);
                return timed_out();
            }
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
                last = r < 0 ? -r : soerr ? soerr : errno;
                close(fd);
                continue;
            }
        }
        freeaddrinfo(ai);
        *ret_fd = fd;
        return 0;
    }
    freeaddrinfo(ai);
    err("(7) Failed to connect to %s port %s after %.0f ms: %s", u->host, u->port,
        elapsed_s() * 1000, strerror(last));
    return E_CONNECT;
}

#ifdef SILO_VM_HTTPS
static gnutls_session_t tls;
static gnutls_certificate_credentials_t tls_cred;

/* Waits for what GnuTLS asked for (the socket is non-blocking): 0, or an exit code. */
static int tls_wait(int fd)
{
    int r = wait_fd(fd, gnutls_record_get_direction(tls) ? POLLOUT : POLLIN);
    if (r == -ETIMEDOUT)
        return timed_out();
    return r < 0 ? E_RECV : 0;
}

/* The handshake on FD, the server's certificate checked against --cacert and HOST. */
static int tls_start(int fd, const char *host)
{
    int r;
    if (gnutls_certificate_allocate_credentials(&tls_cred) < 0)
        return E_TLS_CONNECT;
    if (o.cacert && gnutls_certificate_set_x509_trust_file(tls_cred, o.cacert, GNUTLS_X509_FMT_PEM) <= 0) {
        err("(77) error setting certificate verify locations: CAfile: %s", o.cacert);
        return E_TLS_CACERT;
    }
    if (o.cert && (r = gnutls_certificate_set_x509_key_file(tls_cred, o.cert, o.key ? o.key : o.cert,
                                                            GNUTLS_X509_FMT_PEM)) < 0) {
        err("(58) could not load client certificate %s, key %s: %s", o.cert, o.key ? o.key : o.cert,
            gnutls_strerror(r));
        return E_TLS_CERT;
    }
    if (gnutls_init(&tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0 || gnutls_set_default_priority(tls) < 0 ||
        gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, tls_cred) < 0)
        return E_TLS_CONNECT;
    /* SNI takes names only; the certificate check takes names and IP addresses. */
    if (strspn(host, "0123456789.") != strlen(host) && !strchr(host, ':'))
        (void)gnutls_server_name_set(tls, GNUTLS_NAME_DNS, host, strlen(host));
    gnutls_session_set_verify_cert(tls, host, 0);
    gnutls_transport_set_int(tls, fd);
    while ((r = gnutls_handshake(tls)) < 0) {
        if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
            gnutls_datum_t out = { 0 };
            gnutls_certificate_type_t type = gnutls_certificate_type_get(tls);
            unsigned status = gnutls_session_get_verify_cert_status(tls);
            (void)gnutls_certificate_verification_status_print(status, type, &out, 0);
            err("(60) SSL peer certificate was not OK: %s", out.data ? (char *)out.data : "");
            gnutls_free(out.data);
            return E_TLS_PEER;
        }
        if (gnutls_error_is_fatal(r)) {
            err("(35) TLS connect error: %s", gnutls_strerror(r));
            return E_TLS_CONNECT;
        }
        if ((r = tls_wait(fd)))
            return r;
    }
    return 0;
}

/* gnutls_record_send/recv as send()/recv() do it: bytes, or -1 with errno (EAGAIN, EIO). An end
 * of the connection without TLS's close_notify is an end all the same (libmicrohttpd closes
 * after Connection: close without one). */
static ssize_t tls_io(bool out, void *p, size_t n)
{
    ssize_t r = out ? gnutls_record_send(tls, p, n) : gnutls_record_recv(tls, p, n);
    if (r >= 0)
        return r;
    if (!out && r == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    errno = r == GNUTLS_E_AGAIN ? EAGAIN : r == GNUTLS_E_INTERRUPTED ? EINTR : EIO;
    if (errno == EIO)
        err("TLS: %s", gnutls_strerror((int)r));
    return -1;
}
#define TLS_ON (tls != NULL)
#define TLS_WAIT_EVENTS(dflt) (gnutls_record_get_direction(tls) ? POLLOUT : POLLIN)
#else
#define TLS_ON false
#define TLS_WAIT_EVENTS(dflt) (dflt)
static ssize_t tls_io(bool out, void *p, size_t n)
{
    (void)out, (void)p, (void)n;
    errno = EIO;
    return -1;
}
#endif

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = TLS_ON ? tls_io(true, (void *)p, n) : send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int r = wait_fd(fd, TLS_ON ? TLS_WAIT_EVENTS(POLLOUT) : POLLOUT);
                if (r == -ETIMEDOUT)
                    return timed_out();
                if (r == 0)
                    continue;
                errno = -r;
            }
            err("(55) Failed sending data to the peer: %s", strerror(errno));
            return E_SEND;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool has_header(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < o.n_headers; i++)
        if (strncasecmp(o.headers[i], name, n) == 0 && o.headers[i][n] == ':')
            return true;
    return false;
}

static int send_request(int fd, const struct url *u)
{
    const char *method = o.method ? o.method : o.has_data ? "POST" : "GET";
    size_t cap = 1024 + strlen(u->path) + strlen(u->host);
    char *req;
    size_t len;
    int r;
    for (size_t i = 0; i < o.n_headers; i++)
        cap += strlen(o.headers[i]) + 2;
    req = malloc(cap);
    if (!req)
        return E_SEND;
    /* Connection: close so that a reply ends at the latest when the server closes. */
    len = (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\n", method, u->path);
    const char *dflt_port = u->https ? "443" : "80";
    if (!has_header("Host"))
        len += (size_t)snprintf(req + len, cap - len, strchr(u->host, ':') ? "Host: [%s]%s%s\r\n" :
                                "Host: %s%s%s\r\n", u->host, strcmp(u->port, dflt_port) ? ":" : "",
                                strcmp(u->port, dflt_port) ? u->port : "");
    if (!has_header("User-Agent"))
        len += (size_t)snprintf(req + len, cap - len, "User-Agent: silo-vm-http\r\n");
    if (!has_header("Accept"))
        len += (size_t)snprintf(req + len, cap - len, "Accept: */*\r\n");
    len += (size_t)snprintf(req + len, cap - len, "Connection: close\r\n");
    for (size_t i = 0; i < o.n_headers; i++)
        len += (size_t)snprintf(req + len, cap - len, "%s\r\n", o.headers[i]);
    if (o.has_data) {
        if (!has_header("Content-Type"))
            len += (size_t)snprintf(req + len, cap - len,
                                    "Content-Type: application/x-www-form-urlencoded\r\n");
        len += (size_t)snprintf(req + len, cap - len, "Content-Length: %zu\r\n", o.data_len);
    }
    len += (size_t)snprintf(req + len, cap - len, "\r\n");
    r = send_all(fd, req, len);
    free(req);
    if (r == 0 && o.has_data)
        r = send_all(fd, o.data, o.data_len);
    return r;
}

/* More bytes into C->buf (compacted first): >0 read, 0 end of stream, <0 an exit code. */
static int conn_fill(struct conn *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->buf))
        return -E_RECV;
    for (;;) {
        ssize_t n = TLS_ON ? tls_io(false, c->buf + c->len, sizeof(c->buf) - c->len)
                           : recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n >= 0) {
            c->len += (size_t)n;
            return n > 0 ? 1 : 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int r = wait_fd(c->fd, TLS_ON ? TLS_WAIT_EVENTS(POLLIN) : POLLIN);
            if (r == -ETIMEDOUT)
                return -timed_out();
            if (r == 0)
                continue;
            errno = -r;
        }
        err("(56) Failure when receiving data from the peer: %s", strerror(errno));
        return -E_RECV;
    }
}

/* One header block (status line to the blank line) in *ret, NUL-terminated, \r\n kept. */
static int read_head(struct conn *c, char **ret, size_t *ret_len, bool *ret_any)
{
    char *head = NULL;
    size_t len = 0;
    *ret_any = false;
    for (;;) {
        char *avail = c->buf + c->off;
        size_t n = c->len - c->off, take = 0;
        bool done = false;
        for (size_t i = 0; i < n; i++) {
            /* An empty line: "\n\n" or "\n\r\n", looking back into HEAD across buffer joins. */
            if (avail[i] != '\n')
                continue;
            char p1 = i >= 1 ? avail[i - 1] : len >= 1 ? head[len - 1] : 0;
            char p2 = i >= 2 ? avail[i - 2] : (len + i >= 2 ? head[len + i - 2] : 0);
            if (p1 == '\n' || (p1 == '\r' && p2 == '\n')) {
                take = i + 1;
                done = true;
                break;
            }
        }
        if (!done)
            take = n;
        if (take > 0) {
            char *nh = realloc(head, len + take + 1);
            if (!nh) {
                free(head);
                return E_RECV;
            }
            head = nh;
            memcpy(head + len, avail, take);
            len += take;
            head[len] = '\0';
            c->off += take;
            *ret_any = true;
        }
        if (done) {
            *ret = head;
            *ret_len = len;
            return 0;
        }
        if (len > MAX_HEADERS_BYTES) {
            free(head);
            err("(56) Response headers over %d bytes", MAX_HEADERS_BYTES);
            return E_RECV;
        }
        int r = conn_fill(c);
        if (r < 0) {
            free(head);
            return -r;
        }
        if (r == 0) {
            free(head);
            if (len == 0) {
                err("(52) Empty reply from server");
                return E_EMPTY;
            }
            err("(56) Connection closed in the middle of the response headers");
            return E_RECV;
        }
    }
}

/* The value of header NAME in HEAD (after the status line), trimmed, or NULL. */
static const char *head_value(const char *head, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (const char *l = strchr(head, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
        const char *s = l + 1, *e;
        if (strncasecmp(s, name, n) != 0 || s[n] != ':')
            continue;
        s += n + 1;
        s += strspn(s, " \t");
        e = s + strcspn(s, "\r\n");
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) >= size)
            return NULL;
        memcpy(buf, s, (size_t)(e - s));
        buf[e - s] = '\0';
        return buf;
    }
    return NULL;
}

struct sink {
    int fd;
    bool failed;
};

static int sink_write(struct sink *s, const char *p, size_t n)
{
    int r;
    if (s->failed || n == 0)
        return 0;
    r = write_all(s->fd, p, n);
    if (r < 0) {
        s->failed = true;
        err("(23) Failure writing output to destination: %s", strerror(-r));
        return E_WRITE;
    }
    return 0;
}

/* Copies WANT bytes of body, or with TO_EOF all up to the end of the stream, to OUT. */
static int copy_body(struct conn *c, struct sink *out, uint64_t want, bool to_eof)
{
    while (to_eof || want > 0) {
        size_t avail = c->len - c->off;
        if (avail == 0) {
            int r = conn_fill(c);
            if (r < 0)
                return -r;
            if (r == 0) {
                if (to_eof)
                    return 0;
                err("(18) transfer closed with %llu bytes remaining to read",
                    (unsigned long long)want);
                return E_PARTIAL;
            }
            continue;
        }
        size_t take = to_eof || avail < want ? avail : (size_t)want;
        int r = sink_write(out, c->buf + c->off, take);
        if (r)
            return r;
        c->off += take;
        if (!to_eof)
            want -= take;
    }
    return 0;
}

/* One CRLF-terminated line (the CRLF dropped) into LINE. */
static int read_line(struct conn *c, char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl) {
            size_t n = (size_t)(nl - (c->buf + c->off));
            if (n > 0 && nl[-1] == '\r')
                n--;
            if (n >= size) {
                err("(56) Malformed chunked encoding: line too long");
                return E_RECV;
            }
            memcpy(line, c->buf + c->off, n);
            line[n] = '\0';
            c->off = (size_t)(nl + 1 - c->buf);
            return 0;
        }
        int r = conn_fill(c);
        if (r < 0)
            return -r;
        if (r == 0) {
            err("(18) transfer closed with outstanding read data remaining");
            return E_PARTIAL;
        }
    }
}

static int copy_chunked(struct conn *c, struct sink *out)
{
    char line[1024];
    for (;;) {
        char *end;
        unsigned long long size;
        int r = read_line(c, line, sizeof(line));
        if (r)
            return r;
        errno = 0;
        size = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t')) {
            err("(56) Malformed chunked encoding: bad chunk size \"%s\"", line);
            return E_RECV;
        }
        if (size == 0)
            break;
        if ((r = copy_body(c, out, size, false)))
            return r;
        if ((r = read_line(c, line, sizeof(line))))
            return r;
        if (line[0]) {
            err("(56) Malformed chunked encoding: no CRLF after a chunk");
            return E_RECV;
        }
    }
    /* Trailers, up to the empty line. */
    for (;;) {
        int r = read_line(c, line, sizeof(line));
        if (r)
            return r;
        if (!line[0])
            return 0;
    }
}

static int open_out(const char *path, int *ret_fd)
{
    int fd;
    if (!path || strcmp(path, "-") == 0) {
        *ret_fd = STDOUT_FILENO;
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        err("(23) Failed to open %s: %s", path, strerror(errno));
        return E_WRITE;
    }
    *ret_fd = fd;
    return 0;
}

static int transfer(void)
{
    struct url u;
    struct conn *c;
    struct sink body = { .fd = -1 }, hdrs = { .fd = -1 };
    int r, fd = -1;

    if ((r = parse_url(o.url, &u)))
        return r;
#ifdef SILO_VM_HTTPS
    o.cacert = o.cacert ? o.cacert : getenv("SILO_VM_CACERT");
    o.cert = o.cert ? o.cert : getenv("SILO_VM_CERT");
    o.key = o.key ? o.key : getenv("SILO_VM_KEY");
#endif
    if ((r = connect_to(&u, &fd)))
        return r;
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return E_RECV;
    }
    c->fd = fd;
#ifdef SILO_VM_HTTPS
    if (u.https && (r = tls_start(fd, u.host)))
        goto out;
#endif
    if ((r = send_request(fd, &u)))
        goto out;
    if (o.header_file && (r = open_out(o.header_file, &hdrs.fd)))
        goto out;

    bool head_only = o.method && strcasecmp(o.method, "HEAD") == 0;
    for (;;) {
        char *head, val[64];
        size_t len;
        bool any;
        int code;
        if ((r = read_head(c, &head, &len, &any)))
            goto out;
        if (sscanf(head, "HTTP/%*d.%*d %3d", &code) != 1 || code < 100 || code > 999) {
            err("(56) Malformed status line: %.*s", (int)strcspn(head, "\r\n"), head);
            free(head);
            r = E_RECV;
            goto out;
        }
        http_code = code;
        if (hdrs.fd >= 0 && (r = sink_write(&hdrs, head, len))) {
            free(head);
            goto out;
        }
        /* Interim 1xx answers come before the real one. */
        if (code >= 100 && code < 200 && code != 101) {
            free(head);
            continue;
        }
        if (o.fail && code >= 400) {
            free(head);
            err("(22) The requested URL returned error: %d", code);
            r = E_HTTP;
            goto out;
        }
        if ((r = open_out(o.out_file, &body.fd))) {
            free(head);
            goto out;
        }
        if (head_only || code == 204 || code == 304) {
            r = 0;
        } else if (head_value(head, "Transfer-Encoding", val, sizeof(val)) && strcasestr(val, "chunked")) {
            r = copy_chunked(c, &body);
        } else if (head_value(head, "Content-Length", val, sizeof(val))) {
            char *end;
            unsigned long long cl;
            errno = 0;
            cl = strtoull(val, &end, 10);
            if (errno || end == val || *end) {
                err("(56) Bad Content-Length: %s", val);
                r = E_RECV;
            } else {
                r = copy_body(c, &body, cl, false);
            }
        } else {
            r = copy_body(c, &body, 0, true);
        }
        free(head);
        goto out;
    }
out:
    if (body.fd > STDOUT_FILENO && close(body.fd) < 0 && r == 0) {
        err("(23) Failure writing output to destination: %s", strerror(errno));
        r = E_WRITE;
    }
    if (hdrs.fd > STDOUT_FILENO)
        close(hdrs.fd);
    close(c->fd);
    free(c);
    return r;
}

static void write_out(void)
{
    char buf[64];
    FILE *f = stdout;
    if (!o.write_out)
        return;
    for (const char *p = o.write_out; *p; p++) {
        if (p[0] == '%' && p[1] == '%') {
            fputc('%', f);
            p++;
        } else if (p[0] == '%' && p[1] == '{') {
            const char *e = strchr(p, '}');
            size_t n = e ? (size_t)(e - p - 2) : 0;
            if (!e) {
                fputs(p, f);
                break;
            }
            if ((n == 9 && strncmp(p + 2, "http_code", 9) == 0) ||
                (n == 13 && strncmp(p + 2, "response_code", 13) == 0))
                fprintf(f, "%03d", http_code);
            else if (n == 10 && strncmp(p + 2, "time_total", 10) == 0)
                fprintf(f, "%.6f", elapsed_s());
            else {
                snprintf(buf, sizeof(buf), "%.*s", (int)n, p + 2);
                fprintf(stderr, "%s: unknown --write-out variable: '%s'\n", prog, buf);
            }
            p = e;
        } else if (p[0] == '\\' && p[1]) {
            p++;
            fputc(*p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p, f);
        } else {
            fputc(*p, f);
        }
    }
    fflush(f);
}

int main(int argc, char **argv)
{
    int r;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    signal(SIGPIPE, SIG_IGN);
    r = parse_args(argc, argv);
    if (r)
        return r;
    r = transfer();
    write_out();
    return r;
}

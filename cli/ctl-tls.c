/* SPDX-License-Identifier: Apache-2.0 */
/* `siloctl tls init|cert|revoke`: the cluster's CA, certificates and CRL (common/tls.h), in the
 * spirit of `nomad tls ca create` / `nomad tls cert create`. Local files only, no daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-args.h"
#include "cli/ctl-tls.h"
#include "common/macro.h"
#include "common/tls.h"

#define TLS_DEFAULT_DIR "/etc/silo/tls"
#define TLS_MAX_NAMES 32

static const char tls_usage[] =
    "Usage: siloctl tls init [--dir DIR] [--days N] [--force]\n"
    "       siloctl tls cert (--master NAME | --agent ID | --client NAME (--role ROLE... |\n"
    "                        --operator)) [--dns NAME]... [--ip ADDR]... [--days N]\n"
    "                        [--dir DIR] [--force]\n"
    "       siloctl tls revoke CERT.pem [--dir DIR] [--days N]\n"
    "\n"
    "init    a cluster CA: DIR/ca.pem and DIR/ca-key.pem (0600; keep it where certificates\n"
    "        are made only). An existing CA is kept unless --force.\n"
    "cert    a certificate signed by the CA in DIR: DIR/NAME.pem and DIR/NAME-key.pem (0600).\n"
    "        --master NAME   a master's (server and client; CN NAME, O silo:master)\n"
    "        --agent ID      an agent's (server and client; CN = its agent id, O silo:agent)\n"
    "        --client NAME   a client's, with --role ROLE (repeatable: O silo:role:ROLE, the\n"
    "                        task roles it may act on) or --operator (O silo:operator: all)\n"
    "        --dns NAME, --ip ADDR  subjectAltNames the server is reached at (repeatable;\n"
    "                        masters and agents always also get localhost and 127.0.0.1)\n"
    "revoke  add CERT.pem to DIR/crl.pem (made, or re-signed, by the CA); daemons given\n"
    "        --tls-crl read it again when it changes.\n"
    "\n"
    "  --dir DIR   where the CA and the files are (default " TLS_DEFAULT_DIR ")\n"
    "  --days N    validity (init: 3650, cert: 365, revoke: the CRL's next update, 30)\n"
    "Every certificate: ECDSA P-256, SHA-256.\n";

struct tls_args {
        const char *dir;
        long days;
        bool force;
        int kinds;
        struct tls_cert_request req;
        const char *roles[TLS_MAX_NAMES], *dns[TLS_MAX_NAMES], *ips[TLS_MAX_NAMES];
        bool operator;
};

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fputs("siloctl: tls: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see siloctl tls --help)\n", stderr);
        return CTL_EXIT_USAGE;
}

static int add_name(const char **v, size_t *n, const char *flag, const char *arg)
{
        if (*n >= TLS_MAX_NAMES)
                return usage_error("%s: too many given", flag);
        v[(*n)++] = arg;
        return 0;
}

static int tls_parse(int argc, char **argv, const char *sub, struct tls_args *a, char **ret_pos)
{
        static const struct option opts[] = {
            {"dir", required_argument, NULL, 'd'},    {"days", required_argument, NULL, 'D'},
            {"force", no_argument, NULL, 'f'},        {"master", required_argument, NULL, 'm'},
            {"agent", required_argument, NULL, 'a'},  {"client", required_argument, NULL, 'c'},
            {"role", required_argument, NULL, 'r'},   {"operator", no_argument, NULL, 'o'},
            {"dns", required_argument, NULL, 'n'},    {"ip", required_argument, NULL, 'i'},
            {"help", no_argument, NULL, 'h'},         {},
        };
        char *end;
        int c, r;

        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, "-:h", opts, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 1:
                        if (*ret_pos)
                                return usage_error("'%s': one argument only", optarg);
                        *ret_pos = optarg;
                        break;
                case 'h':
                        fputs(tls_usage, stdout);
                        return -1;
                case 'd':
                        a->dir = optarg;
                        break;
                case 'D':
                        errno = 0;
                        a->days = strtol(optarg, &end, 10);
                        if (errno || *end || a->days < 1 || a->days > 36500)
                                return usage_error("--days '%s' is not a number of days from 1 to "
                                                   "36500",
                                                   optarg);
                        break;
                case 'f':
                        a->force = true;
                        break;
                case 'm':
                case 'a':
                case 'c':
                        a->kinds++;
                        a->req.name = optarg;
                        a->req.kind = c == 'm'   ? SILO_IDENTITY_MASTER
                                      : c == 'a' ? SILO_IDENTITY_AGENT
                                                 : SILO_IDENTITY_CLIENT;
                        break;
                case 'r':
                        r = add_name(a->roles, &a->req.n_roles, "--role", optarg);
                        break;
                case 'o':
                        a->operator= true;
                        break;
                case 'n':
                        r = add_name(a->dns, &a->req.n_dns, "--dns", optarg);
                        break;
                case 'i':
                        r = add_name(a->ips, &a->req.n_ips, "--ip", optarg);
                        break;
                case ':':
                        return usage_error("%s: missing value", argv[optind - 1]);
                default:
                        return usage_error("'%s' is not a flag it knows",
                                           optind > 0 ? argv[optind - 1] : "?");
                }
                if (r)
                        return r;
        }
        (void)sub;
        return 0;
}

int ctl_tls_main(int argc, char **argv)
{
        struct tls_args a = {.dir = TLS_DEFAULT_DIR};
        _cleanup_free_ char *err = NULL, *cert = NULL, *key = NULL;
        const char *sub = argc > 1 ? argv[1] : NULL;
        char *pos = NULL;
        int r;

        if (!sub || streq(sub, "--help") || streq(sub, "-h")) {
                fputs(tls_usage, sub ? stdout : stderr);
                return sub ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
        if (!streq(sub, "init") && !streq(sub, "cert") && !streq(sub, "revoke"))
                return usage_error("'%s' is not init, cert or revoke", sub);
        r = tls_parse(argc - 1, argv + 1, sub, &a, &pos);
        if (r < 0)
                return CTL_EXIT_OK; /* --help */
        if (r)
                return r;
        if (streq(sub, "init")) {
                if (pos || a.kinds || a.req.n_roles || a.req.n_dns || a.req.n_ips || a.operator)
                        return usage_error("%s: init takes only --dir, --days and --force",
                                           pos ? pos : "a flag");
                r = tls_make_ca(a.dir, a.days ? (unsigned)a.days : 3650, a.force, &err);
                if (r >= 0)
                        printf("%s/ca.pem\n%s/ca-key.pem\n", a.dir, a.dir);
        } else if (streq(sub, "revoke")) {
                if (!pos)
                        return usage_error("%s: revoke needs the certificate file", "CERT.pem");
                r = tls_revoke(a.dir, pos, a.days ? (unsigned)a.days : 30, &err);
                if (r >= 0)
                        printf("%s/crl.pem\n", a.dir);
        } else {
                if (pos)
                        return usage_error("'%s': cert takes no argument", pos);
                if (a.kinds != 1)
                        return usage_error("%s", "cert needs exactly one of --master, --agent or "
                                                 "--client");
                if (a.req.kind == SILO_IDENTITY_CLIENT && a.operator == (a.req.n_roles > 0))
                        return usage_error("%s", "--client needs --role ROLE or --operator (not "
                                                 "both)");
                if (a.req.kind != SILO_IDENTITY_CLIENT && (a.operator || a.req.n_roles))
                        return usage_error("%s", "--role and --operator go with --client only");
                if (a.operator)
                        a.req.kind = SILO_IDENTITY_OPERATOR;
                a.req.roles = a.roles;
                a.req.dns = a.dns;
                a.req.ips = a.ips;
                a.req.days = a.days ? (unsigned)a.days : 365;
                a.req.force = a.force;
                r = tls_make_cert(a.dir, &a.req, &cert, &key, &err);
                if (r >= 0)
                        printf("%s\n%s\n", cert, key);
        }
        if (r < 0) {
                fprintf(stderr, "siloctl: tls %s: %s\n", sub, err ? err : strerror(-r));
                return r == -EINVAL || r == -EEXIST ? CTL_EXIT_USAGE : CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster's CA, certificates and CRL, made with GnuTLS's x509 API (siloctl tls). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/tls.h"
#include "common/tls-internal.h"

#define DAY_S 86400

static void crt_freep(gnutls_x509_crt_t *p)
{
        if (*p)
                gnutls_x509_crt_deinit(*p);
}
static void key_freep(gnutls_x509_privkey_t *p)
{
        if (*p)
                gnutls_x509_privkey_deinit(*p);
}
static void crl_freep(gnutls_x509_crl_t *p)
{
        if (*p)
                gnutls_x509_crl_deinit(*p);
}
#define _cleanup_crt_ _cleanup_(crt_freep)
#define _cleanup_key_ _cleanup_(key_freep)
#define _cleanup_crl_ _cleanup_(crl_freep)

/* GnuTLS failures become -EINVAL with GnuTLS's words; the caller names what it was doing. */
static int gt(int r, const char *what, char **ret_error)
{
        if (r >= 0)
                return 0;
        if (r == GNUTLS_E_MEMORY_ERROR)
                return -ENOMEM;
        return error_set(ret_error, -EINVAL, "%s: %s", what, gnutls_strerror(r));
}

static char *path_in(const char *dir, const char *name, const char *suffix)
{
        char *p;

        return asprintf(&p, "%s/%s%s", dir, name, suffix) < 0 ? NULL : p;
}

static int datum_write(const char *path, const gnutls_datum_t *d, mode_t mode, char **ret_error)
{
        int r = file_write_atomic(path, d->data, d->size, mode);

        if (r < 0)
                return error_set(ret_error, r, "writing %s: %s", path, strerror(-r));
        return 0;
}

static int crt_load(const char *path, const char *what, gnutls_x509_crt_t *ret, char **ret_error)
{
        gnutls_datum_t d = {0};
        int r = tls_pem_read(path, what, &d, ret_error);

        if (r < 0)
                return r;
        r = gnutls_x509_crt_init(ret);
        if (r >= 0)
                r = gnutls_x509_crt_import(*ret, &d, GNUTLS_X509_FMT_PEM);
        free(d.data);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s %s is no PEM certificate: %s", what, path,
                                 gnutls_strerror(r));
        return 0;
}

/* The CA's certificate and key from dir. */
static int ca_load(const char *dir, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key,
                   char **ret_error)
{
        _cleanup_free_ char *crt_path = path_in(dir, "ca", ".pem");
        _cleanup_free_ char *key_path = path_in(dir, "ca-key", ".pem");
        gnutls_datum_t d = {0};
        int r;

        if (!crt_path || !key_path)
                return -ENOMEM;
        r = crt_load(crt_path, "CA certificate", ret_crt, ret_error);
        if (r < 0)
                return r;
        r = tls_pem_read(key_path, "CA key", &d, ret_error);
        if (r < 0)
                return r;
        r = gnutls_x509_privkey_init(ret_key);
        if (r >= 0)
                r = gnutls_x509_privkey_import(*ret_key, &d, GNUTLS_X509_FMT_PEM);
        explicit_bzero(d.data, d.size);
        free(d.data);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "CA key %s is no PEM private key: %s",
                                 key_path, gnutls_strerror(r));
        return 0;
}

static int key_new(gnutls_x509_privkey_t *ret, char **ret_error)
{
        int r = gnutls_x509_privkey_init(ret);

        if (r >= 0)
                r = gnutls_x509_privkey_generate(*ret, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                                 0);
        return gt(r, "generating an ECDSA P-256 key", ret_error);
}

/* Version, a random positive 128-bit serial, validity, subject and public key. */
static int crt_base(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn,
                    int64_t not_before, unsigned days, char **ret_error)
{
        unsigned char serial[16];
        time_t start = not_before ? (time_t)not_before : time(NULL) - 60;
        int r;

        r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
        if (r < 0)
                return gt(r, "random serial", ret_error);
        serial[0] &= 0x7f; /* positive */
        serial[0] |= 0x01; /* and without a leading zero byte */
        if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
            (r = gnutls_x509_crt_set_activation_time(crt, start)) < 0 ||
            (r = gnutls_x509_crt_set_expiration_time(crt, start + (time_t)days * DAY_S)) < 0 ||
            (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                               (unsigned)strlen(cn))) < 0 ||
            (r = gnutls_x509_crt_set_key(crt, key)) < 0)
                return gt(r, "building the certificate", ret_error);
        return 0;
}

static int set_org(gnutls_x509_crt_t crt, const char *org, char **ret_error)
{
        return gt(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, org,
                                                (unsigned)strlen(org)),
                  "setting the subject's O", ret_error);
}

static int key_id_set(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, char **ret_error)
{
        unsigned char id[64];
        size_t len = sizeof(id);
        int r = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, id, &len);

        if (r >= 0)
                r = gnutls_x509_crt_set_subject_key_id(crt, id, len);
        return gt(r, "subject key id", ret_error);
}

/* Export both and write them: the key first and 0600, so a certificate never names a key
 * that is not there. */
static int pair_write(const char *crt_path, gnutls_x509_crt_t crt, const char *key_path,
                      gnutls_x509_privkey_t key, char **ret_error)
{
        gnutls_datum_t c = {0}, k = {0};
        int r;

        r = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &k);
        if (r >= 0)
                r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c);
        if (r < 0)
                r = gt(r, "exporting", ret_error);
        else if ((r = datum_write(key_path, &k, 0600, ret_error)) >= 0)
                r = datum_write(crt_path, &c, 0644, ret_error);
        if (k.data) {
                explicit_bzero(k.data, k.size);
                gnutls_free(k.data);
        }
        gnutls_free(c.data);
        return r;
}

static int dir_prepare(const char *dir, char **ret_error)
{
        int r = mkdir_parents(dir, 0755);

        if (r < 0)
                return error_set(ret_error, r, "creating %s: %s", dir, strerror(-r));
        return 0;
}

int tls_make_ca(const char *dir, unsigned days, bool force, char **ret_error)
{
        _cleanup_free_ char *crt_path = path_in(dir, "ca", ".pem");
        _cleanup_free_ char *key_path = path_in(dir, "ca-key", ".pem");
        _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_key_ gnutls_x509_privkey_t key = NULL;
        int r;

        if (!crt_path || !key_path)
                return -ENOMEM;
        if (days == 0)
                return error_set(ret_error, -EINVAL, "--days must be at least 1");
        if (!force && (access(crt_path, F_OK) == 0 || access(key_path, F_OK) == 0))
                return error_set(ret_error, -EEXIST,
                                 "%s already holds a CA (ca.pem, ca-key.pem): replacing it would "
                                 "orphan every certificate it signed (--force to do it anyway)",
                                 dir);
        if ((r = dir_prepare(dir, ret_error)) < 0 || (r = key_new(&key, ret_error)) < 0)
                return r;
        r = gnutls_x509_crt_init(&crt);
        if (r < 0)
                return -ENOMEM;
        if ((r = crt_base(crt, key, "silo cluster CA", 0, days, ret_error)) < 0 ||
            (r = set_org(crt, "silo", ret_error)) < 0 || (r = key_id_set(crt, key, ret_error)) < 0)
                return r;
        r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                                           GNUTLS_KEY_CRL_SIGN |
                                                           GNUTLS_KEY_DIGITAL_SIGNATURE);
        if (r >= 0)
                r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
        if ((r = gt(r, "signing the CA certificate", ret_error)) < 0)
                return r;
        return pair_write(crt_path, crt, key_path, key, ret_error);
}

/* Only the names asked for: an automatic localhost or 127.0.0.1 would let any daemon's
 * certificate pass the hostname check for a loopback URL, whatever daemon it should be. */
static int san_add(gnutls_x509_crt_t crt, const struct tls_cert_request *req, char **ret_error)
{
        const char *const *dns = req->dns;
        const char *const *ips = req->ips;
        size_t n_dns = req->n_dns, n_ips = req->n_ips;
        int r;

        for (size_t i = 0; i < n_dns; i++) {
                if (!*dns[i] || strpbrk(dns[i], " /,:@"))
                        return error_set(ret_error, -EINVAL,
                                         "--dns '%s' is not a DNS name", dns[i]);
                r = gnutls_x509_crt_set_subject_alt_name(
                    crt, GNUTLS_SAN_DNSNAME, dns[i], (unsigned)strlen(dns[i]),
                    GNUTLS_FSAN_APPEND);
                if ((r = gt(r, "subjectAltName DNS", ret_error)) < 0)
                        return r;
        }
        for (size_t i = 0; i < n_ips; i++) {
                unsigned char addr[16];
                unsigned len = 4;

                if (inet_pton(AF_INET, ips[i], addr) != 1) {
                        len = 16;
                        if (inet_pton(AF_INET6, ips[i], addr) != 1)
                                return error_set(ret_error, -EINVAL,
                                                 "--ip '%s' is not an IPv4 or IPv6 address",
                                                 ips[i]);
                }
                r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr,
                                                         len, GNUTLS_FSAN_APPEND);
                if ((r = gt(r, "subjectAltName IP", ret_error)) < 0)
                        return r;
        }
        return 0;
}

/* The subject's O values and the key purposes of the request's kind. */
static int cert_kind_set(gnutls_x509_crt_t crt, const struct tls_cert_request *req,
                         char **ret_error)
{
        bool server = req->kind == SILO_IDENTITY_MASTER || req->kind == SILO_IDENTITY_AGENT;
        int r = 0;

        switch (req->kind) {
        case SILO_IDENTITY_MASTER:
                r = set_org(crt, TLS_ORG_MASTER, ret_error);
                break;
        case SILO_IDENTITY_AGENT:
                r = set_org(crt, TLS_ORG_AGENT, ret_error);
                break;
        case SILO_IDENTITY_OPERATOR:
                r = set_org(crt, TLS_ORG_OPERATOR, ret_error);
                break;
        case SILO_IDENTITY_CLIENT:
                if (req->n_roles == 0)
                        return error_set(ret_error, -EINVAL,
                                         "a client certificate needs --role ROLE or --operator");
                for (size_t i = 0; i < req->n_roles && r >= 0; i++) {
                        _cleanup_free_ char *o = NULL;

                        if (asprintf(&o, TLS_ORG_ROLE_PREFIX "%s", req->roles[i]) < 0)
                                return -ENOMEM;
                        r = set_org(crt, o, ret_error);
                }
                break;
        }
        if (r < 0)
                return r;
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
        if (r >= 0 && server)
                r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
        return gt(r, "key usage", ret_error);
}

int tls_make_cert(const char *dir, const struct tls_cert_request *req, char **ret_cert,
                  char **ret_key, char **ret_error)
{
        _cleanup_free_ char *crt_path = NULL, *key_path = NULL;
        _cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
        _cleanup_key_ gnutls_x509_privkey_t ca_key = NULL, key = NULL;
        struct silo_identity *check = NULL;
        const char *orgs[1] = {NULL};
        unsigned char id[64];
        size_t len = sizeof(id);
        int r;

        if (!req->name || !*req->name)
                return error_set(ret_error, -EINVAL, "a certificate needs a name");
        /* The name must be one the servers accept back as an identity. */
        orgs[0] = TLS_ORG_OPERATOR;
        r = silo_identity_from_subject(req->name, orgs, 1, &check, ret_error);
        silo_identity_free(check);
        if (r < 0)
                return r;
        if (req->days == 0)
                return error_set(ret_error, -EINVAL, "--days must be at least 1");
        crt_path = path_in(dir, req->name, ".pem");
        key_path = path_in(dir, req->name, "-key.pem");
        if (!crt_path || !key_path)
                return -ENOMEM;
        if (streq(req->name, "ca") || streq(req->name, "ca-key") || streq(req->name, "crl"))
                return error_set(ret_error, -EINVAL, "'%s' is the name of the CA's own files",
                                 req->name);
        /* NAME-key.pem is where another NAME's key lives: "foo-key" would overwrite it. */
        if (strlen(req->name) >= 4 && streq(req->name + strlen(req->name) - 4, "-key"))
                return error_set(ret_error, -EINVAL,
                                 "'%s' ends in -key, which names private key files "
                                 "(%s.pem would be the key of '%.*s')",
                                 req->name, req->name, (int)strlen(req->name) - 4, req->name);
        if (!req->force && access(crt_path, F_OK) == 0)
                return error_set(ret_error, -EEXIST, "%s exists already (--force to replace it)",
                                 crt_path);
        if ((r = ca_load(dir, &ca, &ca_key, ret_error)) < 0 || (r = key_new(&key, ret_error)) < 0)
                return r;
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        if ((r = crt_base(crt, key, req->name, req->not_before, req->days, ret_error)) < 0 ||
            (r = cert_kind_set(crt, req, ret_error)) < 0 || (r = san_add(crt, req, ret_error)) < 0 ||
            (r = key_id_set(crt, key, ret_error)) < 0)
                return r;
        r = gnutls_x509_crt_get_subject_key_id(ca, id, &len, NULL);
        if (r >= 0)
                r = gnutls_x509_crt_set_authority_key_id(crt, id, len);
        if (r >= 0)
                r = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0);
        if ((r = gt(r, "signing the certificate with the CA", ret_error)) < 0)
                return r;
        r = pair_write(crt_path, crt, key_path, key, ret_error);
        if (r < 0)
                return r;
        if (ret_cert)
                *ret_cert = TAKE_PTR(crt_path);
        if (ret_key)
                *ret_key = TAKE_PTR(key_path);
        return 0;
}

/* The revoked serials of an existing CRL, copied into the new one. */
static int crl_copy_revoked(const char *path, gnutls_x509_crl_t crl, char **ret_error)
{
        _cleanup_crl_ gnutls_x509_crl_t old = NULL;
        gnutls_datum_t d = {0};
        int r, n;

        if (access(path, F_OK) < 0)
                return 0;
        if ((r = tls_pem_read(path, "CRL", &d, ret_error)) < 0)
                return r;
        r = gnutls_x509_crl_init(&old);
        if (r >= 0)
                r = gnutls_x509_crl_import(old, &d, GNUTLS_X509_FMT_PEM);
        free(d.data);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s is no PEM CRL: %s", path,
                                 gnutls_strerror(r));
        n = gnutls_x509_crl_get_crt_count(old);
        for (int i = 0; i < n; i++) {
                unsigned char serial[64];
                size_t len = sizeof(serial);
                time_t when;

                r = gnutls_x509_crl_get_crt_serial(old, i, serial, &len, &when);
                if (r >= 0)
                        r = gnutls_x509_crl_set_crt_serial(crl, serial, len, when);
                if ((r = gt(r, "copying the CRL", ret_error)) < 0)
                        return r;
        }
        return 0;
}

int tls_revoke(const char *dir, const char *cert_file, unsigned days, char **ret_error)
{
        _cleanup_free_ char *crl_path = path_in(dir, "crl", ".pem");
        _cleanup_crt_ gnutls_x509_crt_t ca = NULL, crt = NULL;
        _cleanup_key_ gnutls_x509_privkey_t ca_key = NULL;
        _cleanup_crl_ gnutls_x509_crl_t crl = NULL;
        gnutls_datum_t out = {0};
        unsigned verify = 0;
        time_t now = time(NULL);
        int r;

        if (!crl_path)
                return -ENOMEM;
        if (days == 0)
                return error_set(ret_error, -EINVAL, "--days must be at least 1");
        if ((r = ca_load(dir, &ca, &ca_key, ret_error)) < 0 ||
            (r = crt_load(cert_file, "certificate", &crt, ret_error)) < 0)
                return r;
        r = gnutls_x509_crt_verify(crt, &ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &verify);
        if (r < 0 || verify != 0)
                return error_set(ret_error, -EINVAL,
                                 "%s is not signed by the CA in %s: it cannot be revoked there",
                                 cert_file, dir);
        if (gnutls_x509_crl_init(&crl) < 0)
                return -ENOMEM;
        if ((r = crl_copy_revoked(crl_path, crl, ret_error)) < 0)
                return r;
        r = gnutls_x509_crl_set_crt(crl, crt, now);
        if (r >= 0)
                r = gnutls_x509_crl_set_version(crl, 2);
        if (r >= 0)
                r = gnutls_x509_crl_set_this_update(crl, now);
        if (r >= 0)
                r = gnutls_x509_crl_set_next_update(crl, now + (time_t)days * DAY_S);
        if (r >= 0) {
                unsigned char number[8];
                uint64_t t = (uint64_t)now;

                /* Increasing with time, as the CRL number must be. */
                for (int i = 7; i >= 0; i--, t >>= 8)
                        number[i] = (unsigned char)(t & 0xff);
                r = gnutls_x509_crl_set_number(crl, number, sizeof(number));
        }
        if (r >= 0)
                r = gnutls_x509_crl_sign2(crl, ca, ca_key, GNUTLS_DIG_SHA256, 0);
        if (r >= 0)
                r = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &out);
        if ((r = gt(r, "signing the CRL", ret_error)) < 0)
                return r;
        r = datum_write(crl_path, &out, 0644, ret_error);
        gnutls_free(out.data);
        return r;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Identities from certificates and peer verification against the cluster CA and CRL. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/tls.h"
#include "common/tls-internal.h"

const char *silo_identity_kind_name(enum silo_identity_kind kind)
{
        switch (kind) {
        case SILO_IDENTITY_MASTER:
                return "master";
        case SILO_IDENTITY_AGENT:
                return "agent";
        case SILO_IDENTITY_OPERATOR:
                return "operator";
        case SILO_IDENTITY_CLIENT:
                return "client";
        }
        return "?";
}

void silo_identity_free(struct silo_identity *id)
{
        if (!id)
                return;
        for (size_t i = 0; i < id->n_roles; i++)
                free(id->roles[i]);
        free(id->roles);
        free(id->name);
        free(id);
}

const char *silo_identity_describe(const struct silo_identity *id, char *buf, size_t size)
{
        size_t len;

        if (!id) {
                snprintf(buf, size, "anonymous");
                return buf;
        }
        snprintf(buf, size, "%s:%s", silo_identity_kind_name(id->kind), id->name);
        for (size_t i = 0; i < id->n_roles; i++) {
                len = strlen(buf);
                snprintf(buf + len, size - len, "%s%s", i ? "," : " (roles ", id->roles[i]);
        }
        len = strlen(buf);
        if (id->n_roles)
                snprintf(buf + len, size - len, ")");
        return buf;
}

/* Names and roles end up in messages, ids and URLs: printable ASCII without spaces. */
static bool identity_name_ok(const char *s)
{
        if (!*s || strlen(s) > 253)
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s >= 0x7f || *s == '/' || *s == '"' || *s == '\\')
                        return false;
        return true;
}

int silo_identity_from_subject(const char *cn, const char *const *orgs, size_t n_orgs,
                               struct silo_identity **ret, char **ret_error)
{
        struct silo_identity *id;
        int kind = -1;
        size_t n_roles = 0;

        if (!cn || !*cn)
                return error_set(ret_error, -EINVAL, "the certificate's subject has no CN");
        if (!identity_name_ok(cn))
                return error_set(ret_error, -EINVAL,
                                 "the certificate's CN '%s' is not a valid silo name", cn);
        for (size_t i = 0; i < n_orgs; i++) {
                int k = -1;

                if (streq(orgs[i], TLS_ORG_MASTER))
                        k = SILO_IDENTITY_MASTER;
                else if (streq(orgs[i], TLS_ORG_AGENT))
                        k = SILO_IDENTITY_AGENT;
                else if (streq(orgs[i], TLS_ORG_OPERATOR))
                        k = SILO_IDENTITY_OPERATOR;
                else if (strncmp(orgs[i], TLS_ORG_ROLE_PREFIX, strlen(TLS_ORG_ROLE_PREFIX)) == 0) {
                        if (!identity_name_ok(orgs[i] + strlen(TLS_ORG_ROLE_PREFIX)))
                                return error_set(ret_error, -EINVAL,
                                                 "certificate '%s': O '%s' names no valid role",
                                                 cn, orgs[i]);
                        n_roles++;
                        continue;
                } else
                        continue; /* an O of the operator's own is allowed and ignored */
                if (kind >= 0 && kind != k)
                        return error_set(ret_error, -EINVAL,
                                         "certificate '%s' names two kinds of silo identity", cn);
                kind = k;
        }
        if (n_roles && kind >= 0)
                return error_set(ret_error, -EINVAL,
                                 "certificate '%s' is a %s one and has task roles: a role belongs "
                                 "to clients only",
                                 cn, silo_identity_kind_name((enum silo_identity_kind)kind));
        if (n_roles)
                kind = SILO_IDENTITY_CLIENT;
        if (kind < 0)
                return error_set(ret_error, -EINVAL,
                                 "certificate '%s' names no silo identity (an O of %s, %s, %s or "
                                 "%s<role>)",
                                 cn, TLS_ORG_MASTER, TLS_ORG_AGENT, TLS_ORG_OPERATOR,
                                 TLS_ORG_ROLE_PREFIX);

        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        id->kind = (enum silo_identity_kind)kind;
        id->name = strdup(cn);
        id->roles = n_roles ? calloc(n_roles, sizeof(char *)) : NULL;
        if (!id->name || (n_roles && !id->roles)) {
                silo_identity_free(id);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_orgs; i++) {
                if (strncmp(orgs[i], TLS_ORG_ROLE_PREFIX, strlen(TLS_ORG_ROLE_PREFIX)) != 0)
                        continue;
                id->roles[id->n_roles] = strdup(orgs[i] + strlen(TLS_ORG_ROLE_PREFIX));
                if (!id->roles[id->n_roles++]) {
                        silo_identity_free(id);
                        return -ENOMEM;
                }
        }
        *ret = id;
        return 0;
}

int tls_files_check(const struct tls_files *f, const char *prefix, char **ret_error)
{
        const char *set = f->cert ? "cert" : f->key ? "key" : f->ca ? "ca" : f->crl ? "crl" : NULL;

        if (!set)
                return 0;
        if (!f->ca)
                return error_set(ret_error, -EINVAL, "%sca is required with %s%s", prefix, prefix,
                                 set);
        if (!f->cert)
                return error_set(ret_error, -EINVAL, "%scert is required with %s%s", prefix,
                                 prefix, set);
        if (!f->key)
                return error_set(ret_error, -EINVAL, "%skey is required with %s%s", prefix, prefix,
                                 set);
        return 0;
}

/* Read a certificate's identity from its subject. */
static int identity_from_crt(gnutls_x509_crt_t crt, struct silo_identity **ret, char **ret_error)
{
        char cn[256] = "", orgs[16][256];
        const char *org_ptrs[16];
        size_t n = 0, len = sizeof(cn);

        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) < 0)
                cn[0] = '\0';
        for (unsigned i = 0; n < ELEMENTSOF(orgs); i++) {
                len = sizeof(orgs[n]);
                if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
                                                  orgs[n], &len) < 0)
                        break;
                org_ptrs[n] = orgs[n];
                n++;
        }
        /* A 17th O would be dropped unseen: refuse the certificate rather than grant a part of
         * what it says. */
        char extra[256];
        len = sizeof(extra);
        if (n == ELEMENTSOF(orgs) &&
            gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, (unsigned)n, 0,
                                          extra, &len) >= 0)
                return error_set(ret_error, -E2BIG,
                                 "certificate '%s' has more than %zu O (organization) values",
                                 cn, ELEMENTSOF(orgs));
        return silo_identity_from_subject(cn, org_ptrs, n, ret, ret_error);
}

/* "a master (O=silo:master)", "agent 'node-1' (O=silo:agent, CN=node-1)", "a master or an agent". */
static void peer_want_describe(const struct tls_peer *want, char *buf, size_t size)
{
        if (want->name && want->kinds == TLS_PEER_AGENT)
                snprintf(buf, size, "agent '%s' (O=" TLS_ORG_AGENT ", CN=%s)", want->name,
                         want->name);
        else if (want->kinds == TLS_PEER_MASTER)
                snprintf(buf, size, "a master (O=" TLS_ORG_MASTER ")");
        else if (want->kinds == TLS_PEER_AGENT)
                snprintf(buf, size, "an agent (O=" TLS_ORG_AGENT ")");
        else
                snprintf(buf, size, "a master or an agent (O=" TLS_ORG_MASTER " or " TLS_ORG_AGENT
                                    ")");
}

int tls_peer_check(const char *pem, const struct tls_peer *want, char **ret_error)
{
        _cleanup_free_ char *err = NULL;
        struct silo_identity *id = NULL;
        gnutls_x509_crt_t crt = NULL;
        gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
        char wanted[160], got[160];
        int r;

        peer_want_describe(want, wanted, sizeof(wanted));
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
        if (r >= 0)
                r = identity_from_crt(crt, &id, &err);
        else
                err = strdup(gnutls_strerror(r));
        gnutls_x509_crt_deinit(crt);
        if (r < 0)
                return error_set(ret_error, -EINVAL,
                                 "the server's certificate names no silo identity (%s): expected %s",
                                 err ? err : "unreadable", wanted);
        if ((want->kinds && !(want->kinds & (1u << id->kind))) ||
            (want->name && !streq(want->name, id->name))) {
                r = error_set(ret_error, -EPERM,
                              "the server presented the certificate of %s, not %s: refused",
                              silo_identity_describe(id, got, sizeof(got)), wanted);
                silo_identity_free(id);
                return r;
        }
        silo_identity_free(id);
        return 0;
}

/* ---- verifier ---- */

struct tls_verifier {
        char *ca_file, *crl_file;
        gnutls_x509_trust_list_t list;
        /* Which CRL file `list` holds: `siloctl tls revoke` replaces it by rename (a new inode);
         * the mtime alone misses a second write within one tick of the filesystem's clock. */
        struct timespec crl_mtime;
        dev_t crl_dev;
        ino_t crl_ino;
        off_t crl_size;
        /* Goes up at each load of a new list: a connection verified under an older one is
         * verified again (tls_verifier_generation()). */
        uint64_t generation;
        uint64_t crl_checked_ms; /* CLOCK_MONOTONIC: the CRL file's last stat() */
};

tls_verifier *tls_verifier_free(tls_verifier *v)
{
        if (!v)
                return NULL;
        if (v->list)
                gnutls_x509_trust_list_deinit(v->list, 1);
        free(v->ca_file);
        free(v->crl_file);
        free(v);
        return NULL;
}

int tls_pem_read(const char *path, const char *what, gnutls_datum_t *ret, char **ret_error)
{
        char *data = NULL;
        size_t size = 0;
        int r = file_read_full(path, TLS_PEM_MAX, &data, &size);

        if (r < 0)
                return error_set(ret_error, r, "reading the %s %s: %s", what, path, strerror(-r));
        ret->data = (unsigned char *)data;
        ret->size = (unsigned)size;
        return 0;
}

/* A fresh trust list of the CA and, when there is one, the CRL. */
static int verifier_load(tls_verifier *v, char **ret_error)
{
        gnutls_x509_trust_list_t list = NULL;
        gnutls_datum_t ca = {0}, crl = {0};
        struct stat st = {0};
        int r;

        r = tls_pem_read(v->ca_file, "CA certificate", &ca, ret_error);
        if (r < 0)
                return r;
        /* A CRL file not made yet revokes nothing: it is read when `siloctl tls revoke`
         * writes it. */
        if (v->crl_file && stat(v->crl_file, &st) < 0 && errno != ENOENT) {
                r = error_set(ret_error, -errno, "reading the CRL %s: %m", v->crl_file);
                free(ca.data);
                return r;
        }
        if (v->crl_file && st.st_mtim.tv_sec &&
            (r = tls_pem_read(v->crl_file, "CRL", &crl, ret_error)) < 0) {
                free(ca.data);
                return r;
        }
        r = gnutls_x509_trust_list_init(&list, 0);
        if (r < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = gnutls_x509_trust_list_add_trust_mem(list, &ca, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        if (r <= 0) {
                r = error_set(ret_error, -EINVAL, "%s holds no CA certificate%s%s", v->ca_file,
                              r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
                goto out;
        }
        if (crl.data) {
                r = gnutls_x509_trust_list_add_trust_mem(list, NULL, &crl, GNUTLS_X509_FMT_PEM,
                                                         GNUTLS_TL_VERIFY_CRL, 0);
                if (r <= 0) {
                        r = error_set(ret_error, -EINVAL,
                                      "the CRL %s is not one this CA (%s) signed%s%s", v->crl_file,
                                      v->ca_file, r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
                        goto out;
                }
        }
        if (v->list)
                gnutls_x509_trust_list_deinit(v->list, 1);
        v->list = TAKE_PTR(list);
        v->crl_mtime = st.st_mtim;
        v->crl_dev = st.st_dev;
        v->crl_ino = st.st_ino;
        v->crl_size = st.st_size;
        v->generation++;
        r = 0;
out:
        if (list)
                gnutls_x509_trust_list_deinit(list, 1);
        free(ca.data);
        free(crl.data);
        return r;
}

int tls_verifier_new(const char *ca_file, const char *crl_file, tls_verifier **ret,
                     char **ret_error)
{
        tls_verifier *v = calloc(1, sizeof(*v));
        int r;

        if (!v)
                return -ENOMEM;
        v->ca_file = strdup(ca_file);
        v->crl_file = crl_file ? strdup(crl_file) : NULL;
        if (!v->ca_file || (crl_file && !v->crl_file)) {
                tls_verifier_free(v);
                return -ENOMEM;
        }
        r = verifier_load(v, ret_error);
        if (r < 0) {
                tls_verifier_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* Load the CRL again when its file changed; a CRL that became unreadable keeps the last one
 * (a revocation list is never dropped because of a bad write). */
static void verifier_refresh(tls_verifier *v)
{
        struct stat st;

        /* One stat() per verified connection: cheap next to the handshake. */
        if (!v->crl_file)
                return;
        v->crl_checked_ms = now_mono_ms();
        if (stat(v->crl_file, &st) < 0 ||
            (st.st_mtim.tv_sec == v->crl_mtime.tv_sec && st.st_mtim.tv_nsec == v->crl_mtime.tv_nsec &&
             st.st_dev == v->crl_dev && st.st_ino == v->crl_ino && st.st_size == v->crl_size))
                return; /* unchanged, or gone: the last list stays */
        (void)verifier_load(v, NULL);
}

uint64_t tls_verifier_generation(tls_verifier *v)
{
        /* Asked at every request: at most one stat() a second, so a revocation reaches open
         * connections within a second. */
        if (v->crl_file && now_mono_ms() - v->crl_checked_ms >= 1000)
                verifier_refresh(v);
        return v->generation;
}

static void format_time(time_t t, char *buf, size_t size)
{
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, size, "@%lld", (long long)t);
}

static int verify_refusal(gnutls_x509_crt_t crt, unsigned status, char **ret_error)
{
        char cn[256] = "?", when[64], issuer[512] = "?";
        size_t len = sizeof(cn);

        (void)gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len);
        if (status & GNUTLS_CERT_REVOKED)
                return error_set(ret_error, -EACCES,
                                 "client certificate '%s' is revoked (listed in the CRL)", cn);
        if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) {
                len = sizeof(issuer);
                (void)gnutls_x509_crt_get_issuer_dn(crt, issuer, &len);
                return error_set(ret_error, -EACCES,
                                 "client certificate '%s' is not signed by this cluster's CA "
                                 "(its issuer: %s)",
                                 cn, issuer);
        }
        if (status & GNUTLS_CERT_EXPIRED) {
                format_time(gnutls_x509_crt_get_expiration_time(crt), when, sizeof(when));
                return error_set(ret_error, -EACCES, "client certificate '%s' expired at %s", cn,
                                 when);
        }
        if (status & GNUTLS_CERT_NOT_ACTIVATED) {
                format_time(gnutls_x509_crt_get_activation_time(crt), when, sizeof(when));
                return error_set(ret_error, -EACCES,
                                 "client certificate '%s' is not valid before %s", cn, when);
        }
        if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
                return error_set(ret_error, -EACCES,
                                 "client certificate '%s' is not one for TLS clients (extended "
                                 "key usage)",
                                 cn);
        if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
                return error_set(ret_error, -EACCES,
                                 "client certificate '%s' is signed with an insecure algorithm",
                                 cn);
        return error_set(ret_error, -EACCES, "client certificate '%s' is invalid (status 0x%x)", cn,
                         status);
}

int tls_verifier_check(tls_verifier *v, const struct tls_der *chain, size_t n,
                       struct silo_identity **ret, time_t *ret_not_after, char **ret_error)
{
        gnutls_x509_crt_t crts[8] = {0};
        gnutls_typed_vdata_st purpose = {
            .type = GNUTLS_DT_KEY_PURPOSE_OID,
            .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
        };
        unsigned status = 0;
        int r;

        if (n == 0)
                return error_set(ret_error, -EACCES,
                                 "no client certificate: this server requires one signed by the "
                                 "cluster's CA (siloctl tls cert)");
        n = MIN(n, ELEMENTSOF(crts));
        verifier_refresh(v);
        for (size_t i = 0; i < n; i++) {
                gnutls_datum_t d = {.data = (unsigned char *)chain[i].data,
                                    .size = (unsigned)chain[i].size};

                if (gnutls_x509_crt_init(&crts[i]) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                if (gnutls_x509_crt_import(crts[i], &d, GNUTLS_X509_FMT_DER) < 0) {
                        r = error_set(ret_error, -EACCES, "client certificate %zu is malformed", i);
                        goto out;
                }
        }
        r = gnutls_x509_trust_list_verify_crt2(v->list, crts, (unsigned)n, &purpose, 1, 0, &status,
                                               NULL);
        if (r < 0) {
                r = error_set(ret_error, -EACCES, "verifying the client certificate: %s",
                              gnutls_strerror(r));
                goto out;
        }
        if (status != 0) {
                r = verify_refusal(crts[0], status, ret_error);
                goto out;
        }
        r = identity_from_crt(crts[0], ret, ret_error);
        if (r == -EINVAL || r == -E2BIG)
                r = -EACCES;
        if (r >= 0 && ret_not_after) {
                /* The chain is valid until the first of its certificates expires. */
                time_t t = gnutls_x509_crt_get_expiration_time(crts[0]);

                for (size_t i = 1; i < n; i++)
                        t = MIN(t, gnutls_x509_crt_get_expiration_time(crts[i]));
                *ret_not_after = t;
        }
out:
        for (size_t i = 0; i < n; i++)
                if (crts[i])
                        gnutls_x509_crt_deinit(crts[i]);
        return r;
}

/* ---- a daemon's own credentials ---- */

struct tls_creds {
        char *ca, *cert, *key; /* PEM, NUL-terminated */
        char *files[4];        /* ca, cert, key, crl: the paths, for the clients */
        struct tls_files f;
        tls_verifier *verifier;
};

tls_creds *tls_creds_free(tls_creds *c)
{
        if (!c)
                return NULL;
        if (c->key)
                explicit_bzero(c->key, strlen(c->key));
        free(c->ca);
        free(c->cert);
        free(c->key);
        for (size_t i = 0; i < ELEMENTSOF(c->files); i++)
                free(c->files[i]);
        tls_verifier_free(c->verifier);
        free(c);
        return NULL;
}

int tls_creds_new(const struct tls_files *f, tls_creds **ret, char **ret_error)
{
        gnutls_certificate_credentials_t gc = NULL;
        gnutls_datum_t cert, key;
        const char *paths[4] = {f->ca, f->cert, f->key, f->crl};
        tls_creds *c;
        gnutls_datum_t d;
        int r;

        r = tls_files_check(f, "--tls-", ret_error);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                if (paths[i] && !(c->files[i] = strdup(paths[i]))) {
                        tls_creds_free(c);
                        return -ENOMEM;
                }
        c->f = (struct tls_files){c->files[0], c->files[1], c->files[2], c->files[3]};
        if ((r = tls_pem_read(f->ca, "--tls-ca file", &d, ret_error)) < 0)
                goto fail;
        c->ca = (char *)d.data;
        if ((r = tls_pem_read(f->cert, "--tls-cert file", &cert, ret_error)) < 0)
                goto fail;
        c->cert = (char *)cert.data;
        if ((r = tls_pem_read(f->key, "--tls-key file", &key, ret_error)) < 0)
                goto fail;
        c->key = (char *)key.data;
        r = gnutls_certificate_allocate_credentials(&gc);
        if (r >= 0)
                r = gnutls_certificate_set_x509_key_mem(gc, &cert, &key, GNUTLS_X509_FMT_PEM);
        if (gc)
                gnutls_certificate_free_credentials(gc);
        if (r < 0) {
                r = error_set(ret_error, -EINVAL, "--tls-cert %s with --tls-key %s: %s", f->cert,
                              f->key, gnutls_strerror(r));
                goto fail;
        }
        r = tls_verifier_new(f->ca, f->crl, &c->verifier, ret_error);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        tls_creds_free(c);
        return r;
}

const char *tls_creds_ca_pem(const tls_creds *c)
{
        return c->ca;
}

const char *tls_creds_cert_pem(const tls_creds *c)
{
        return c->cert;
}

const char *tls_creds_key_pem(const tls_creds *c)
{
        return c->key;
}

tls_verifier *tls_creds_verifier(tls_creds *c)
{
        return c->verifier;
}

const struct tls_files *tls_creds_files(const tls_creds *c)
{
        return &c->f;
}

int tls_creds_identity(const tls_creds *c, struct silo_identity **ret, char **ret_error)
{
        gnutls_datum_t d = {(unsigned char *)c->cert, (unsigned)strlen(c->cert)};
        _cleanup_free_ char *err = NULL;
        gnutls_x509_crt_t crt;
        int r;

        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                r = error_set(&err, -EINVAL, "%s", gnutls_strerror(r));
        else
                r = identity_from_crt(crt, ret, &err);
        gnutls_x509_crt_deinit(crt);
        if (r == -EINVAL)
                return error_set(ret_error, r, "--tls-cert %s: %s", c->f.cert, strempty(err));
        return r;
}

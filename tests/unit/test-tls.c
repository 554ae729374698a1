/* SPDX-License-Identifier: Apache-2.0 */
/* common/tls.c: identities from subjects, and each verification refusal with its reason, on
 * real certificates made by common/tls-make.c in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/tls.h"

static char dir[] = "/tmp/silo-test-tls.XXXXXX";
static char other[sizeof(dir) + 8];

static int setup(void **state)
{
        (void)state;
        if (!mkdtemp(dir))
                return -1;
        snprintf(other, sizeof(other), "%s/other", dir);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        return rm_rf(dir);
}

static void subject_ok(const char *cn, const char *const *orgs, size_t n,
                       enum silo_identity_kind kind, size_t n_roles)
{
        struct silo_identity *id = NULL;
        char *err = NULL;

        assert_int_equal(silo_identity_from_subject(cn, orgs, n, &id, &err), 0);
        assert_null(err);
        assert_int_equal(id->kind, kind);
        assert_string_equal(id->name, cn);
        assert_int_equal(id->n_roles, n_roles);
        silo_identity_free(id);
}

static void subject_bad(const char *cn, const char *const *orgs, size_t n, const char *want)
{
        struct silo_identity *id = NULL;
        char *err = NULL;

        assert_int_equal(silo_identity_from_subject(cn, orgs, n, &id, &err), -EINVAL);
        assert_null(id);
        assert_non_null(err);
        if (!strstr(err, want))
                fail_msg("'%s' does not say '%s'", err, want);
        free(err);
}

static void test_identity_from_subject(void **state)
{
        const char *master[] = {"silo:master"}, *agent[] = {"acme", "silo:agent"};
        const char *op[] = {"silo:operator"}, *roles[] = {"silo:role:storage", "silo:role:batch"};
        const char *two[] = {"silo:agent", "silo:master"}, *mixed[] = {"silo:operator", "silo:role:x"};
        const char *empty_role[] = {"silo:role:"}, *none[] = {"acme"};
        struct silo_identity *id = NULL;
        char buf[128];

        (void)state;
        subject_ok("m1", master, 1, SILO_IDENTITY_MASTER, 0);
        subject_ok("node-1", agent, 2, SILO_IDENTITY_AGENT, 0); /* another O is ignored */
        subject_ok("alice", op, 1, SILO_IDENTITY_OPERATOR, 0);
        subject_ok("ci", roles, 2, SILO_IDENTITY_CLIENT, 2);
        subject_bad("", master, 1, "no CN");
        subject_bad("a b", master, 1, "not a valid silo name");
        subject_bad("x", two, 2, "two kinds");
        subject_bad("x", mixed, 2, "a role belongs to clients only");
        subject_bad("x", empty_role, 1, "names no valid role");
        subject_bad("x", none, 1, "names no silo identity");

        assert_int_equal(silo_identity_from_subject("ci", roles, 2, &id, NULL), 0);
        assert_string_equal(silo_identity_describe(id, buf, sizeof(buf)),
                            "client:ci (roles storage,batch)");
        silo_identity_free(id);
        assert_string_equal(silo_identity_describe(NULL, buf, sizeof(buf)), "anonymous");
}

static void test_files_check(void **state)
{
        char *err = NULL;

        (void)state;
        assert_int_equal(tls_files_check(&(struct tls_files){0}, "--tls-", NULL), 0);
        assert_int_equal(tls_files_check(&(struct tls_files){.cert = "c", .ca = "a"}, "--tls-", &err),
                         -EINVAL);
        assert_string_equal(err, "--tls-key is required with --tls-cert");
        free(err);
        err = NULL;
        assert_int_equal(tls_files_check(&(struct tls_files){.key = "k"}, "--", &err), -EINVAL);
        assert_string_equal(err, "--ca is required with --key");
        free(err);
}

/* The DER of a PEM certificate file, for tls_verifier_check(). */
static gnutls_datum_t der_of(const char *path)
{
        gnutls_x509_crt_t crt;
        gnutls_datum_t pem = {0}, der = {0};
        char *data = NULL;
        size_t size = 0;

        assert_int_equal(file_read_full(path, 0, &data, &size), 0);
        pem.data = (unsigned char *)data;
        pem.size = (unsigned)size;
        assert_int_equal(gnutls_x509_crt_init(&crt), 0);
        assert_int_equal(gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM), 0);
        assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
        gnutls_x509_crt_deinit(crt);
        free(data);
        return der;
}

static void make(const char *in, const char *name, enum silo_identity_kind kind, int64_t not_before,
                 unsigned days)
{
        const char *roles[] = {"storage"};
        struct tls_cert_request req = {
            .kind = kind,
            .name = name,
            .roles = roles,
            .n_roles = kind == SILO_IDENTITY_CLIENT ? 1 : 0,
            .days = days,
            .not_before = not_before,
        };
        char *err = NULL;

        if (tls_make_cert(in, &req, NULL, NULL, &err) < 0)
                fail_msg("tls_make_cert %s: %s", name, err);
}

/* Verify <d>/<name>.pem; 0 and its identity, or -EACCES and the reason in *ret_reason. */
static int verify(tls_verifier *v, const char *d, const char *name, struct silo_identity **ret_id,
                  char **ret_reason)
{
        char path[256];
        gnutls_datum_t der;
        struct tls_der chain;
        int r;

        snprintf(path, sizeof(path), "%s/%s.pem", d, name);
        der = der_of(path);
        chain = (struct tls_der){der.data, der.size};
        r = tls_verifier_check(v, &chain, 1, ret_id, NULL, ret_reason);
        gnutls_free(der.data);
        return r;
}

static void refused(tls_verifier *v, const char *d, const char *name, const char *want)
{
        struct silo_identity *id = NULL;
        char *err = NULL;

        assert_int_equal(verify(v, d, name, &id, &err), -EACCES);
        assert_null(id);
        if (!err || !strstr(err, want))
                fail_msg("%s: '%s' does not say '%s'", name, strempty(err), want);
        free(err);
}

static void test_verify_reasons(void **state)
{
        char crl[256], ca[256], *err = NULL;
        struct silo_identity *id = NULL;
        struct stat st;
        tls_verifier *v = NULL;
        time_t now = time(NULL);

        (void)state;
        assert_int_equal(tls_make_ca(dir, 30, false, NULL), 0);
        assert_int_equal(tls_make_ca(dir, 30, false, &err), -EEXIST); /* never replaced by default */
        assert_non_null(strstr(err, "--force"));
        free(err);
        err = NULL;
        snprintf(ca, sizeof(ca), "%s/ca-key.pem", dir);
        assert_int_equal(stat(ca, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(tls_make_ca(other, 30, false, NULL), 0);

        make(dir, "node-1", SILO_IDENTITY_AGENT, 0, 30);
        make(dir, "ci", SILO_IDENTITY_CLIENT, 0, 30);
        make(dir, "old", SILO_IDENTITY_OPERATOR, now - 10 * 86400, 1);
        make(dir, "early", SILO_IDENTITY_OPERATOR, now + 86400, 30);
        make(dir, "gone", SILO_IDENTITY_OPERATOR, 0, 30);
        make(other, "stranger", SILO_IDENTITY_OPERATOR, 0, 30);

        snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
        snprintf(crl, sizeof(crl), "%s/crl.pem", dir);
        /* No CRL file yet: nothing is revoked. */
        assert_int_equal(tls_verifier_new(ca, crl, &v, &err), 0);

        assert_int_equal(verify(v, dir, "node-1", &id, &err), 0);
        assert_int_equal(id->kind, SILO_IDENTITY_AGENT);
        assert_string_equal(id->name, "node-1");
        silo_identity_free(id);
        assert_int_equal(verify(v, dir, "ci", &id, &err), 0);
        assert_int_equal(id->kind, SILO_IDENTITY_CLIENT);
        assert_string_equal(id->roles[0], "storage");
        silo_identity_free(id);
        assert_int_equal(verify(v, dir, "gone", &id, &err), 0);
        silo_identity_free(id);

        refused(v, dir, "old", "expired at");
        refused(v, dir, "early", "is not valid before");
        refused(v, other, "stranger", "not signed by this cluster's CA");
        assert_int_equal(tls_verifier_check(v, NULL, 0, &id, NULL, &err), -EACCES);
        assert_non_null(strstr(err, "no client certificate"));
        free(err);
        err = NULL;

        /* Revoked: the verifier reads the CRL again when its file appears or changes. */
        snprintf(ca, sizeof(ca), "%s/gone.pem", dir);
        assert_int_equal(tls_revoke(dir, ca, 30, &err), 0);
        refused(v, dir, "gone", "is revoked");
        assert_int_equal(verify(v, dir, "node-1", &id, &err), 0); /* the others still pass */
        silo_identity_free(id);
        /* A second revocation keeps the first in the CRL. */
        snprintf(ca, sizeof(ca), "%s/ci.pem", dir);
        assert_int_equal(tls_revoke(dir, ca, 30, &err), 0);
        refused(v, dir, "ci", "is revoked");
        refused(v, dir, "gone", "is revoked");
        /* A certificate of another CA cannot be revoked here. */
        snprintf(ca, sizeof(ca), "%s/stranger.pem", other);
        assert_int_equal(tls_revoke(dir, ca, 30, &err), -EINVAL);
        assert_non_null(strstr(err, "is not signed by the CA in"));
        free(err);
        tls_verifier_free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_identity_from_subject),
            cmocka_unit_test(test_files_check),
            cmocka_unit_test(test_verify_reasons),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

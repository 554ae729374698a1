/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual TLS on GnuTLS: identities from certificates, peer verification against the cluster CA
 * and its CRL, and the making of the cluster's CA, certificates and CRL (siloctl tls). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * A cluster certificate names its holder in its subject: CN = the name (an agent's CN is its
 * agent id), and one O per kind or role, "silo:master", "silo:agent", "silo:operator" or
 * "silo:role:<role>" (a client limited to those task roles). Masters' and agents' certificates
 * are both server and client ones (each calls the other); clients' are client ones only.
 */

enum silo_identity_kind {
        SILO_IDENTITY_MASTER,
        SILO_IDENTITY_AGENT,
        SILO_IDENTITY_OPERATOR,
        SILO_IDENTITY_CLIENT, /* limited to its roles */
};

struct silo_identity {
        enum silo_identity_kind kind;
        char *name;
        char **roles; /* SILO_IDENTITY_CLIENT's task roles */
        size_t n_roles;
};

#define TLS_ORG_MASTER "silo:master"
#define TLS_ORG_AGENT "silo:agent"
#define TLS_ORG_OPERATOR "silo:operator"
#define TLS_ORG_ROLE_PREFIX "silo:role:"

/* The TLS files of a daemon or client; NULL fields are unset. TLS is on when cert is set. */
/* What a client expects of the server it calls: a bit (1u << kind) per kind it accepts (0:
 * any), and for an agent, the agent id its CN must be (NULL: any). */
struct tls_peer {
        unsigned kinds;
        const char *name;
};

#define TLS_PEER_MASTER (1u << SILO_IDENTITY_MASTER)
#define TLS_PEER_AGENT (1u << SILO_IDENTITY_AGENT)

struct tls_files {
        const char *ca;
        const char *cert;
        const char *key;
        const char *crl;      /* optional */
        struct tls_peer peer; /* clients: the server's certificate must name this */
};

/* "master", "agent", "operator", "client". */
const char *silo_identity_kind_name(enum silo_identity_kind kind);
void silo_identity_free(struct silo_identity *id);
/* "agent:node-1", "client:ci (roles storage,batch)" into buf, for messages. */
const char *silo_identity_describe(const struct silo_identity *id, char *buf, size_t size);

/* The identity a subject names: its CN and its O values. A subject with no CN, no silo O,
 * two kinds, or a role O next to a master, agent or operator O is refused (-EINVAL, saying
 * why). */
int silo_identity_from_subject(const char *cn, const char *const *orgs, size_t n_orgs,
                               struct silo_identity **ret, char **ret_error);

/* Check that all of ca, cert and key are set when any TLS file is (-EINVAL naming the missing
 * one as --tls-<what>, e.g. "--tls-key is required with --tls-cert"). `prefix`: the options'
 * prefix ("--tls-" for the daemons, "--" for siloctl). */
int tls_files_check(const struct tls_files *f, const char *prefix, char **ret_error);

/* Check the server certificate `pem` (the first of the chain the server sent, already
 * verified against the CA) against what the client expects. -EPERM naming what was expected
 * and what was presented; -EINVAL for a certificate that names no identity. */
int tls_peer_check(const char *pem, const struct tls_peer *want, char **ret_error);

/* ---- peer verification (servers) ---- */

typedef struct tls_verifier tls_verifier;

/* Trust the CA certificate(s) in ca_file, and refuse what the CRL in crl_file (may be NULL)
 * revokes. The CRL is read again when its file changes, so that `siloctl tls revoke` takes
 * effect without a restart (for open connections too: tls_verifier_generation()); a CRL file that does not exist
 * yet revokes nothing. */
int tls_verifier_new(const char *ca_file, const char *crl_file, tls_verifier **ret,
                     char **ret_error);
tls_verifier *tls_verifier_free(tls_verifier *v);

/* Verify a peer's certificate chain (DER, leaf first) as a TLS client certificate now, and
 * return its identity. Refusals are -EACCES with
 * the reason in *ret_error: no certificate, expired (with the date), not yet valid, not
 * signed by this cluster's CA (with the issuer), revoked, not for TLS clients, or not naming
 * a silo identity. */
struct tls_der {
        const unsigned char *data;
        size_t size;
};
int tls_verifier_check(tls_verifier *v, const struct tls_der *chain, size_t n,
                       struct silo_identity **ret, time_t *ret_not_after, char **ret_error);
/* Goes up each time the CRL is read again (its file changed; looked at most once a second): an
 * identity verified under an older generation, or past its chain's notAfter (*ret_not_after
 * of tls_verifier_check(), may be NULL), must be verified again before it is trusted. */
uint64_t tls_verifier_generation(tls_verifier *v);

/* ---- making certificates (siloctl tls) ---- */

/* Create ca.pem and ca-key.pem (0600) in dir (created 0755), valid `days` days. An existing
 * CA is kept (-EEXIST) unless force. */
int tls_make_ca(const char *dir, unsigned days, bool force, char **ret_error);

struct tls_cert_request {
        enum silo_identity_kind kind;
        const char *name;          /* CN: master name, agent id, client name */
        const char *const *roles;  /* SILO_IDENTITY_CLIENT */
        size_t n_roles;
        const char *const *dns;    /* subjectAltName DNS names */
        size_t n_dns;
        const char *const *ips;    /* subjectAltName IP addresses (v4 or v6) */
        size_t n_ips;
        unsigned days;
        int64_t not_before; /* 0 = now; tests make not-yet-valid and expired ones with it */
        bool force;         /* overwrite an existing <name>.pem */
};

/* Sign <dir>/<name>.pem and <dir>/<name>-key.pem (0600) with the CA in dir. Masters' and
 * agents' certificates also name localhost and 127.0.0.1, as a daemon is reached there too.
 * The paths written go to *ret_cert and *ret_key when non-NULL. */
int tls_make_cert(const char *dir, const struct tls_cert_request *req, char **ret_cert,
                  char **ret_key, char **ret_error);

/* Add the certificate in cert_file to <dir>/crl.pem (made or re-signed by the CA in dir,
 * valid `days` days). A certificate not signed by that CA is refused. */
int tls_revoke(const char *dir, const char *cert_file, unsigned days, char **ret_error);

/* ---- a daemon's own credentials ---- */

/* A daemon's TLS files read and checked once at start: the CA, its certificate and key (which
 * must match), and the verifier of its peers. Errors name the file and the option's value. */
typedef struct tls_creds tls_creds;
int tls_creds_new(const struct tls_files *f, tls_creds **ret, char **ret_error);
tls_creds *tls_creds_free(tls_creds *c);
const char *tls_creds_ca_pem(const tls_creds *c);
const char *tls_creds_cert_pem(const tls_creds *c);
const char *tls_creds_key_pem(const tls_creds *c);
tls_verifier *tls_creds_verifier(tls_creds *c);
const struct tls_files *tls_creds_files(const tls_creds *c);
/* The identity the daemon's own certificate names (an agent's id is its CN); -EINVAL with the
 * certificate's file and why when it names none. */
int tls_creds_identity(const tls_creds *c, struct silo_identity **ret, char **ret_error);

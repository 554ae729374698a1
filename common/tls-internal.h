/* SPDX-License-Identifier: Apache-2.0 */
/* What tls.c and tls-make.c share and nothing else sees. */
#pragma once

#include <gnutls/gnutls.h>

#define TLS_PEM_MAX (1024 * 1024)

/* Read a PEM file whole into *ret (malloc'ed, NUL-terminated); errors name `what` and path. */
int tls_pem_read(const char *path, const char *what, gnutls_datum_t *ret, char **ret_error);

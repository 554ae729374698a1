/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster token: load or generate it, and check "Authorization: Bearer" in constant time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A generated token is 32 random bytes as 64 lowercase hex characters. */
#define AUTH_TOKEN_BYTES 32
#define AUTH_TOKEN_GENERATED_LEN (AUTH_TOKEN_BYTES * 2)
/* A configured token must be at least this long and printable ASCII without spaces. */
#define AUTH_TOKEN_MIN_LEN 16
#define AUTH_TOKEN_MAX_LEN 1024

/* Where a daemon keeps its generated token: "<state_dir>/token". */
#define AUTH_TOKEN_FILE_NAME "token"

/*
 * Load the cluster token. With token_file: read it (surrounding whitespace trimmed); it must
 * exist and hold a valid token. Without: read <state_dir>/token, or when that does not exist
 * generate one from getrandom() and write it there atomically with mode 0600 (state_dir is
 * created 0700 when missing). *ret_generated (may be NULL) tells whether it was just made.
 * On failure *ret_error (may be NULL) names the file and what is wrong with it.
 */
int auth_token_load(const char *token_file, const char *state_dir, char **ret_token,
                    bool *ret_generated, char **ret_error);

/*
 * Check the permissions of a configured token file before a daemon trusts it (both daemons
 * call this for --token-file; clients do not). Anyone who reads the token can run any task on
 * every agent, anyone who writes it can make the cluster take their own token:
 *  - -EPERM with *ret_error when it is not a regular file, or group or others may write it
 *    (the daemon refuses to start);
 *  - 1 with *ret_warning (may be NULL) when group or others may read it (the daemon warns);
 *  - 0 when only its owner may read it; -errno when it cannot be checked.
 * The messages name the file, its mode and the fix (chmod 0600).
 */
int auth_token_file_check(const char *path, char **ret_warning, char **ret_error);

/* Validate a token string (length, charset). */
bool auth_token_is_valid(const char *token);

/* Constant-time comparison (time depends only on the expected token's length). */
bool auth_token_equal(const char *expected, const char *given);

/* Check an Authorization header value ("Bearer <token>", scheme case-insensitive). NULL
 * header -> false. */
bool auth_bearer_check(const char *expected, const char *authorization);

/* "Authorization: Bearer <token>" for an outgoing request (malloc'd, NULL on ENOMEM). */
char *auth_bearer_header(const char *token);

/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster token: load or generate it, and check "Authorization: Bearer" in constant time. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "common/auth.h"
#include "common/fileio.h"
#include "common/macro.h"
#include "common/error.h"


bool auth_token_is_valid(const char *token)
{
        size_t n;

        if (!token)
                return false;
        n = strlen(token);
        if (n < AUTH_TOKEN_MIN_LEN || n > AUTH_TOKEN_MAX_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isgraph((unsigned char)token[i]))
                        return false;
        return true;
}

/* Read a token file and strip surrounding whitespace (editors add a trailing newline). */
static int auth_token_read(const char *path, char **ret_token, char **ret_error)
{
        _cleanup_free_ char *data = NULL;
        char *start, *end;
        int r;

        r = file_read_full(path, AUTH_TOKEN_MAX_LEN + 64, &data, NULL);
        if (r == -EFBIG)
                return error_set(ret_error, -EINVAL, "token file %s: larger than %d bytes", path,
                                  AUTH_TOKEN_MAX_LEN);
        if (r < 0)
                return error_set(ret_error, r, "token file %s: %s", path, strerror(-r));
        start = data;
        while (*start && isspace((unsigned char)*start))
                start++;
        end = start + strlen(start);
        while (end > start && isspace((unsigned char)end[-1]))
                *--end = '\0';
        if (!auth_token_is_valid(start))
                return error_set(
                    ret_error, -EINVAL,
                    "token file %s: a token must be %d to %d printable characters without spaces",
                    path, AUTH_TOKEN_MIN_LEN, AUTH_TOKEN_MAX_LEN);
        *ret_token = strdup(start);
        return *ret_token ? 0 : -ENOMEM;
}

static int auth_token_generate(char **ret_token)
{
        uint8_t raw[AUTH_TOKEN_BYTES];
        char *hex;
        size_t got = 0;

        while (got < sizeof(raw)) {
                ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                got += (size_t)n;
        }
        hex = malloc(AUTH_TOKEN_GENERATED_LEN + 1);
        if (!hex)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        explicit_bzero(raw, sizeof(raw));
        *ret_token = hex;
        return 0;
}

int auth_token_load(const char *token_file, const char *state_dir, char **ret_token,
                    bool *ret_generated, char **ret_error)
{
        _cleanup_free_ char *path = NULL, *token = NULL;
        int r;

        if (token_file) {
                r = auth_token_read(token_file, &token, ret_error);
                if (r < 0)
                        return r;
                if (ret_generated)
                        *ret_generated = false;
                *ret_token = TAKE_PTR(token);
                return 0;
        }
        if (!state_dir)
                return error_set(ret_error, -EINVAL, "no token file and no state directory");
        if (asprintf(&path, "%s/%s", state_dir, AUTH_TOKEN_FILE_NAME) < 0)
                return -ENOMEM;
        if (access(path, F_OK) == 0) {
                r = auth_token_read(path, &token, ret_error);
                if (r < 0)
                        return r;
                if (ret_generated)
                        *ret_generated = false;
                *ret_token = TAKE_PTR(token);
                return 0;
        }
        if (errno != ENOENT)
                return error_set(ret_error, negative_errno(), "token file %s: %m", path);

        r = mkdir_parents(state_dir, 0700);
        if (r < 0)
                return error_set(ret_error, r, "state directory %s: %s", state_dir, strerror(-r));
        r = auth_token_generate(&token);
        if (r < 0)
                return error_set(ret_error, r, "generating a token: %s", strerror(-r));
        {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s\n", token) < 0)
                        return -ENOMEM;
                /* 0600: anyone who can read the token can run tasks on every agent. */
                r = file_write_atomic(path, line, strlen(line), 0600);
                explicit_bzero(line, strlen(line));
        }
        if (r < 0)
                return error_set(ret_error, r, "writing token file %s: %s", path, strerror(-r));
        if (ret_generated)
                *ret_generated = true;
        *ret_token = TAKE_PTR(token);
        return 0;
}

int auth_token_file_check(const char *path, char **ret_warning, char **ret_error)
{
        struct stat st;
        mode_t m;

        if (stat(path, &st) < 0)
                return error_set(ret_error, negative_errno(), "token file %s: %m", path);
        m = st.st_mode & 07777;
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -EPERM, "token file %s: not a regular file", path);
        if (m & (S_IWGRP | S_IWOTH))
                return error_set(ret_error, -EPERM,
                                 "token file %s: mode %04o lets %s write it, so anyone there can replace "
                                 "the cluster token (chmod 0600 %s)",
                                 path, (unsigned)m, (m & S_IWOTH) ? "every local user" : "its group", path);
        if (m & (S_IRGRP | S_IROTH)) {
                if (ret_warning &&
                    asprintf(ret_warning,
                             "token file %s: mode %04o lets %s read it, and whoever holds the token can run "
                             "any task on every agent (chmod 0600 %s)",
                             path, (unsigned)m, (m & S_IROTH) ? "every local user" : "its group", path) < 0)
                        *ret_warning = NULL;
                return 1;
        }
        return 0;
}

bool auth_token_equal(const char *expected, const char *given)
{
        size_t n, m;
        unsigned char diff;

        if (!expected || !given)
                return false;
        n = strlen(expected);
        m = strnlen(given, n + 1);
        /* Walk the expected token's full length whatever `given` holds, so the time taken
         * says nothing about how many leading characters matched. */
        diff = (unsigned char)(m != n);
        for (size_t i = 0; i < n; i++) {
                unsigned char g = i < m ? (unsigned char)given[i] : 0;
                diff |= (unsigned char)expected[i] ^ g;
        }
        return diff == 0;
}

bool auth_bearer_check(const char *expected, const char *authorization)
{
        if (!authorization)
                return false;
        if (strncasecmp(authorization, "Bearer", 6) != 0 || authorization[6] != ' ')
                return false;
        authorization += 7;
        while (*authorization == ' ')
                authorization++;
        return auth_token_equal(expected, authorization);
}

char *auth_bearer_header(const char *token)
{
        char *h;

        if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
                return NULL;
        return h;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The master's secrets stay private: the permissions of the cluster token file it is given. */
#include <errno.h>
#include <string.h>

#include "common/auth.h"
#include "common/error.h"
#include "common/log.h"
#include "common/macro.h"
#include "master/master.h"

/*
 * A --token-file that group or others may write is refused (whoever can replace it decides the
 * cluster's token); one they may only read is warned about and used, so that a running
 * cluster is not broken by an upgrade, but the log says what to fix (chmod 0600). The token the
 * master generates itself is 0600 in its 0700 state directory (store.c fixes the directory).
 */
int master_token_file_check(const char *token_file, char **ret_error)
{
        _cleanup_free_ char *warning = NULL, *err = NULL;
        int r;

        if (!token_file)
                return 0;
        r = auth_token_file_check(token_file, &warning, &err);
        if (r < 0)
                return error_set(ret_error, r, "%s", err ? err : strerror(-r));
        if (r > 0)
                log_warning("%s", strempty(warning));
        return 0;
}

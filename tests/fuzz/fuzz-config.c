/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the daemons' options (common/config.c) with silo-agent's real table:
 * the input up to its first NUL byte is the config file (/etc/silo/agent.conf), each later
 * NUL-separated piece one command-line argument after it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/options.h"
#include "common/config.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void remove_file(void)
{
        unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_options o = {};
        char *argv[MAX_ARGS + 4], *err = NULL, *copy;
        const char *end = memchr(data, '\0', size);
        size_t file_len = end ? (size_t)(end - (const char *)data) : size;
        int argc = 0, fd, r;

        if (!path[0]) {
                /* One file per fuzzing process, in tmpfs when there is one: rewritten per input. */
                snprintf(path, sizeof(path), "%s/silo-fuzz-config.%d",
                         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
                atexit(remove_file);
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, file_len) != (ssize_t)file_len)
                abort();
        close(fd);

        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = '\0';
        argv[argc++] = (char *)"silo-agent";
        argv[argc++] = (char *)"--config";
        argv[argc++] = path;
        for (size_t i = file_len + 1; i <= size && argc < MAX_ARGS + 3; i += strlen(copy + i) + 1)
                /* Another --config would read files of this machine (/dev/zero, a FIFO). */
                if (strncmp(copy + i, "--config", 8) != 0)
                        argv[argc++] = copy + i;
        argv[argc] = NULL;

        r = config_parse(&agent_options_schema, argc, argv, &o, &err);
        if (r < 0 && r != -ENOMEM && (!err || !*err)) {
                fprintf(stderr, "options refused (%d) without a message\n", r);
                abort();
        }
        config_free(&agent_options_schema, &o);
        free(err);
        free(copy);
        return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Cleanup attributes, ownership transfer and small helpers shared by all of Silo (systemd style). */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand a pointer (or fd) out of a cleanup scope: return its value and reset the variable. */
#define TAKE_PTR(p)                             \
        ({                                      \
                __typeof__(p) _tp_ = (p);       \
                (p) = NULL;                     \
                _tp_;                           \
        })
#define TAKE_FD(fd)                             \
        ({                                      \
                int _tf_ = (fd);                \
                (fd) = -EBADF;                  \
                _tf_;                           \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                (void)close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd)
{
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Define foo_freep() for a foo_free() that accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p)             \
        {                                               \
                if (*p)                                 \
                        *p = func(*p);                  \
        }

/* Negative errno from a libc call that sets errno and returns -1; never 0. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

static inline const char *strempty(const char *s)
{
        return s ? s : "";
}

static inline int streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

/* Free a NULL-terminated string vector; returns NULL. */
static inline char **strv_free(char **v)
{
        if (v) {
                for (char **i = v; *i; i++)
                        free(*i);
                free(v);
        }
        return NULL;
}
static inline void strv_freep(char ***v)
{
        *v = strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

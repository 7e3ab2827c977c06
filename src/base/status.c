#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"

#define ERRMSG_CAP 1024
static _Thread_local char g_errmsg[ERRMSG_CAP];

const char *smelt_status_str(enum smelt_status s) {
    switch (s) {
    case SMELT_OK: return "ok";
    case SMELT_ERR_INVALID_ARG: return "invalid argument";
    case SMELT_ERR_IO: return "I/O error";
    case SMELT_ERR_FORMAT: return "format error";
    case SMELT_ERR_UNSUPPORTED: return "unsupported";
    case SMELT_ERR_NOT_FOUND: return "not found";
    case SMELT_ERR_NOMEM: return "out of memory";
    case SMELT_ERR_RANGE: return "out of range";
    case SMELT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *smelt_last_error(void) { return g_errmsg; }
void smelt_clear_error(void) { g_errmsg[0] = 0; }

enum smelt_status smelt_err(enum smelt_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errmsg, ERRMSG_CAP, fmt, ap);
    va_end(ap);
    return s;
}

enum smelt_status smelt_err_prefix(enum smelt_status s, const char *fmt, ...) {
    char prefix[512], old[ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_errmsg, ERRMSG_CAP);
    size_t pl = strlen(prefix);
    if (pl > ERRMSG_CAP - 3) pl = ERRMSG_CAP - 3;
    memcpy(g_errmsg, prefix, pl);
    memcpy(g_errmsg + pl, ": ", 2);
    size_t rest = ERRMSG_CAP - pl - 3;
    size_t ol = strnlen(old, rest);
    memcpy(g_errmsg + pl + 2, old, ol);
    g_errmsg[pl + 2 + ol] = 0;
    return s;
}

void *smelt_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) smelt_err(SMELT_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}
void *smelt_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) smelt_err(SMELT_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
void *smelt_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) smelt_err(SMELT_ERR_NOMEM, "out of memory reallocating %zu bytes", n);
    return q;
}
void *smelt_aligned_alloc(size_t align, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : align) != 0) {
        smelt_err(SMELT_ERR_NOMEM, "out of memory allocating %zu bytes", n);
        return NULL;
    }
    return p;
}
char *smelt_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = smelt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double smelt_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void smelt_log(int level, const char *fmt, ...) {
    static int max_level = -1;
    if (max_level < 0) {
        const char *e = getenv("SMELT_LOG");
        max_level = e ? atoi(e) : 1;
    }
    if (level > max_level) return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "smelt: %s: ", names[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Internal base utilities: error reporting, checked arithmetic, allocation. */
#ifndef SMELT_BASE_H
#define SMELT_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/status.h"

#if defined(__GNUC__)
#define SMELT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SMELT_PRINTF(a, b)
#endif

/* Record a formatted message for this thread and return `s`. Use as
 *   return smelt_err(SMELT_ERR_FORMAT, "%s: tensor '%s' offset %llu past end", ...);
 */
enum smelt_status smelt_err(enum smelt_status s, const char *fmt, ...) SMELT_PRINTF(2, 3);

/* Prefix the current thread message with "<prefix>: " (e.g. a file name). Returns s. */
enum smelt_status smelt_err_prefix(enum smelt_status s, const char *fmt, ...) SMELT_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool smelt_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool smelt_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Allocation with error messages; return NULL and set SMELT_ERR_NOMEM message on failure. */
void *smelt_malloc(size_t n);
void *smelt_calloc(size_t n, size_t size);
void *smelt_realloc(void *p, size_t n);
void *smelt_aligned_alloc(size_t align, size_t n); /* free with free() */
char *smelt_strdup(const char *s);

/* Monotonic time in seconds. */
double smelt_time_s(void);

/* Logging to stderr; level: 0 error, 1 warn, 2 info, 3 debug. SMELT_LOG env sets the max. */
void smelt_log(int level, const char *fmt, ...) SMELT_PRINTF(2, 3);

#endif

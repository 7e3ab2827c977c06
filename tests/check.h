/* Minimal assertion helpers for C tests: each failed CHECK prints file:line and
 * the expression, counts the failure, and the test's main returns
 * CHECK_EXIT() (non-zero if anything failed). */
#ifndef SMELT_TEST_CHECK_H
#define SMELT_TEST_CHECK_H
#include <math.h>
#include <stdio.h>

static int check_failures = 0;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)
#define CHECKF(cond, ...)                                                        \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            check_failures++;                                                    \
        }                                                                        \
    } while (0)
#define CHECK_EXIT() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)
#endif

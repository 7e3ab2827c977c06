/* Small helpers shared by the tokenizer tests. */
#ifndef SMELT_TEST_TOK_UTIL_H
#define SMELT_TEST_TOK_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whole file, NUL-terminated; NULL on error. */
static inline char *tt_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Next line of *p (up to '\n', which is consumed); NULL at the end. The line is
 * NUL-terminated in place. */
static inline char *tt_next_line(char **p, char *end) {
    if (*p >= end) return NULL;
    char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else {
        *p = end;
    }
    return s;
}

/* Space-separated decimal ids. */
static inline size_t tt_parse_ids(const char *s, int32_t *out, size_t cap) {
    size_t n = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s) break;
        if (n < cap) out[n] = (int32_t)v;
        n++;
        s = e;
    }
    return n;
}
#endif

/* Stop-string matcher tests: a table of cases, each fed whole, split at every
 * byte position, byte by byte (checking after every byte that exactly the
 * bytes that cannot start a stop string have been released) and in random
 * pieces. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/sample.h"

#define MAXS 4
struct tcase {
    const char *stops[MAXS];
    const char *text;
    const char *want; /* output with everything flushed */
    bool stopped;
};

static const struct tcase cases[] = {
    {{"world"}, "hello world!", "hello ", true},
    {{"ab", "b"}, "xxab", "xx", true},
    {{"ab", "b"}, "xb", "x", true},
    {{"b", "ab"}, "xab", "x", true},
    {{"abcd", "bc"}, "zabcd", "za", true}, /* the one that ends first wins */
    {{"</s>"}, "a < b and </t", "a < b and </t", false},
    {{"\n\n"}, "line1\nline2\n\nrest", "line1\nline2", true},
    {{"aab"}, "aaaab", "aa", true},
    {{"STOP", "END", "<|im_end|>"}, "hi <|im_end|> more", "hi ", true},
    {{"STOP", "END", "<|im_end|>"}, "the ENd is not END", "the ENd is not ", true},
    {{"\xc3\xa9"}, "caf\xc3\xa9 au lait", "caf", true},
    {{"abc"}, "abcdef", "", true},
    {{"abc"}, "xxab", "xxab", false},
    {{"aa"}, "aaa", "", true},
    {{"ba", "ab"}, "xaba", "x", true},
    {{"abab"}, "abaabababx", "aba", true},
    {{"x"}, "", "", false},
    {{"long stop string"}, "long stop strin", "long stop strin", false},
    {{"ab", "abc"}, "zzabc", "zz", true},
    {{"abc", "b"}, "zzabc", "zza", true},
};

/* Reference for a prefix P of the text: the stop state and the number of
 * bytes that may have been released. */
static size_t ref_released(const char *const *stops, size_t ns, const char *p, size_t n, bool *stopped) {
    /* earliest end, then earliest start */
    size_t best_end = (size_t)-1, best_start = 0;
    for (size_t k = 0; k < ns; k++) {
        size_t L = strlen(stops[k]);
        for (size_t st = 0; st + L <= n; st++) {
            if (memcmp(p + st, stops[k], L) == 0) {
                if (st + L < best_end || (st + L == best_end && st < best_start)) {
                    best_end = st + L;
                    best_start = st;
                }
                break;
            }
        }
    }
    if (best_end != (size_t)-1) {
        *stopped = true;
        return best_start;
    }
    *stopped = false;
    for (size_t j = 0; j < n; j++) {
        for (size_t k = 0; k < ns; k++) {
            size_t L = strlen(stops[k]);
            if (L > n - j && memcmp(stops[k], p + j, n - j) == 0) return j;
        }
    }
    return n;
}

struct outbuf {
    char b[256];
    size_t n;
};
static void out_add(struct outbuf *o, const char *p, size_t n) {
    if (o->n + n > sizeof o->b) {
        CHECK(!"output overflow");
        return;
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static size_t count_stops(const struct tcase *c) {
    size_t n = 0;
    while (n < MAXS && c->stops[n]) n++;
    return n;
}

/* Feed the text in pieces cut at the given positions (sorted, strictly inside). */
static void run_split(const struct tcase *c, const size_t *cuts, size_t ncuts, const char *what) {
    size_t ns = count_stops(c);
    struct smelt_stop *m = NULL;
    CHECK(smelt_stop_new(c->stops, ns, &m) == SMELT_OK);
    if (!m) return;
    struct outbuf o = {.n = 0};
    size_t len = strlen(c->text), prev = 0;
    bool stopped = false;
    const char *e;
    size_t el;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        bool r = smelt_stop_push(m, c->text + prev, end - prev, &e, &el);
        if (stopped) CHECK(r && el == 0); /* finished stays finished */
        out_add(&o, e, el);
        stopped = stopped || r;
        prev = end;
    }
    smelt_stop_flush(m, &e, &el);
    out_add(&o, e, el);
    CHECKF(stopped == c->stopped, "%s: text '%s': stopped %d want %d", what, c->text, stopped, c->stopped);
    CHECKF(o.n == strlen(c->want) && memcmp(o.b, c->want, o.n) == 0, "%s: text '%s': got '%.*s' want '%s'", what,
           c->text, (int)o.n, o.b, c->want);
    smelt_stop_free(m);
}

static void run_bytewise(const struct tcase *c) {
    size_t ns = count_stops(c);
    struct smelt_stop *m = NULL;
    CHECK(smelt_stop_new(c->stops, ns, &m) == SMELT_OK);
    if (!m) return;
    struct outbuf o = {.n = 0};
    size_t len = strlen(c->text);
    bool stopped = false;
    const char *e;
    size_t el;
    for (size_t i = 0; i < len && !stopped; i++) {
        stopped = smelt_stop_push(m, c->text + i, 1, &e, &el);
        out_add(&o, e, el);
        bool rs;
        size_t want = ref_released(c->stops, ns, c->text, i + 1, &rs);
        CHECKF(rs == stopped && o.n == want, "bytewise '%s' after %zu bytes: released %zu (stopped %d), want %zu (%d)",
               c->text, i + 1, o.n, stopped, want, rs);
    }
    smelt_stop_free(m);
}

static uint64_t rs = 88172645463325252ull;
static uint64_t xr(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void test_table(void) {
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const struct tcase *c = &cases[ci];
        size_t len = strlen(c->text);
        char what[64];
        snprintf(what, sizeof what, "case %zu whole", ci);
        run_split(c, NULL, 0, what);
        for (size_t cut = 1; cut < len; cut++) {
            snprintf(what, sizeof what, "case %zu cut %zu", ci, cut);
            run_split(c, &cut, 1, what);
        }
        /* every pair of cut positions */
        for (size_t a = 1; a < len; a++)
            for (size_t b = a + 1; b < len; b++) {
                size_t cuts[2] = {a, b};
                snprintf(what, sizeof what, "case %zu cuts %zu,%zu", ci, a, b);
                run_split(c, cuts, 2, what);
            }
        run_bytewise(c);
        for (int r = 0; r < 20 && len > 1; r++) {
            size_t cuts[8], n = 0, pos = 0;
            while (n < 8) {
                pos += 1 + xr() % 4;
                if (pos >= len) break;
                cuts[n++] = pos;
            }
            snprintf(what, sizeof what, "case %zu random %d", ci, r);
            run_split(c, cuts, n, what);
        }
    }
}

static void test_misc(void) {
    struct smelt_stop *m = (struct smelt_stop *)&rs;
    const char *bad[] = {"ok", ""};
    CHECK(smelt_stop_new(bad, 2, &m) == SMELT_ERR_INVALID_ARG && m == NULL);
    const char *bad2[] = {NULL};
    CHECK(smelt_stop_new(bad2, 1, &m) == SMELT_ERR_INVALID_ARG);
    smelt_stop_free(NULL);

    /* no stop strings: pass-through */
    CHECK(smelt_stop_new(NULL, 0, &m) == SMELT_OK);
    const char *e;
    size_t el;
    CHECK(!smelt_stop_push(m, "abc", 3, &e, &el) && el == 3 && memcmp(e, "abc", 3) == 0);
    smelt_stop_flush(m, &e, &el);
    CHECK(el == 0);
    smelt_stop_free(m);

    /* the stop strings are copied; text with NUL bytes is handled by length */
    char st[] = "<end>";
    const char *one[] = {st};
    CHECK(smelt_stop_new(one, 1, &m) == SMELT_OK);
    st[0] = 'X';
    CHECK(!smelt_stop_push(m, "a\0b<en", 6, &e, &el));
    CHECK(el == 3 && memcmp(e, "a\0b", 3) == 0);
    CHECK(smelt_stop_push(m, "d>tail", 6, &e, &el) && el == 0);
    CHECK(smelt_stop_push(m, "more", 4, &e, &el) && el == 0);
    smelt_stop_flush(m, &e, &el);
    CHECK(el == 0);
    smelt_stop_free(m);

    /* a long push with a late stop, and a long held prefix across many pushes */
    const char *lit[] = {"<end>"};
    CHECK(smelt_stop_new(lit, 1, &m) == SMELT_OK);
    static char big[100000];
    memset(big, 'x', sizeof big);
    CHECK(!smelt_stop_push(m, big, sizeof big, &e, &el) && el == sizeof big);
    CHECK(smelt_stop_push(m, "XX<end>", 7, &e, &el) && el == 2);
    smelt_stop_free(m);
}

int main(void) {
    test_table();
    test_misc();
    return CHECK_EXIT();
}

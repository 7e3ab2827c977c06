/* Streaming stop-string matcher.
 *
 * State: the held-back bytes, i.e. the longest suffix of the text seen so far
 * that is a proper prefix of some stop string (anything earlier can never
 * become part of a match, so it has been emitted). A push appends the new text
 * to the held bytes and looks for the stop string that *ends* first (ties: the
 * longest one, i.e. the one starting first). Choosing the earliest end makes the
 * result independent of how the text is split into pushes: a generator feeding
 * one byte at a time would stop exactly there. Once a stop matched, the matcher
 * is finished: later pushes emit nothing and return true.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "smelt/sample.h"

struct smelt_stop {
    char **stops;
    size_t *lens;
    size_t n;
    size_t max_len;
    char *buf; /* held bytes followed by the current push */
    size_t len, cap;
    size_t emitted; /* leading bytes of buf handed out by the last call */
    bool stopped;
};

void smelt_stop_free(struct smelt_stop *s) {
    if (!s) return;
    if (s->stops)
        for (size_t i = 0; i < s->n; i++) free(s->stops[i]);
    free(s->stops);
    free(s->lens);
    free(s->buf);
    free(s);
}

enum smelt_status smelt_stop_new(const char *const *stops, size_t n_stops, struct smelt_stop **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "stop: out is NULL");
    *out = NULL;
    if (n_stops && !stops) return smelt_err(SMELT_ERR_INVALID_ARG, "stop: stops is NULL");
    for (size_t i = 0; i < n_stops; i++) {
        if (!stops[i]) return smelt_err(SMELT_ERR_INVALID_ARG, "stop: stop string %zu is NULL", i);
        if (!stops[i][0]) return smelt_err(SMELT_ERR_INVALID_ARG, "stop: stop string %zu is empty", i);
    }
    struct smelt_stop *s = smelt_calloc(1, sizeof *s);
    if (!s) return SMELT_ERR_NOMEM;
    s->stops = smelt_calloc(n_stops ? n_stops : 1, sizeof(char *));
    s->lens = smelt_calloc(n_stops ? n_stops : 1, sizeof(size_t));
    if (!s->stops || !s->lens) goto fail;
    for (size_t i = 0; i < n_stops; i++) {
        s->stops[i] = smelt_strdup(stops[i]);
        if (!s->stops[i]) goto fail;
        s->n = i + 1;
        s->lens[i] = strlen(stops[i]);
        if (s->lens[i] > s->max_len) s->max_len = s->lens[i];
    }
    s->n = n_stops;
    *out = s;
    return SMELT_OK;
fail:
    smelt_stop_free(s);
    return SMELT_ERR_NOMEM;
}

/* Ensure room for `extra` more bytes. */
static bool reserve(struct smelt_stop *s, size_t extra) {
    size_t need;
    if (!smelt_add_ok(s->len, extra, &need)) return false;
    if (need <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) {
        if (!smelt_mul_ok(cap, 2, &cap)) return false;
    }
    char *b = smelt_realloc(s->buf, cap);
    if (!b) return false;
    s->buf = b;
    s->cap = cap;
    return true;
}

/* Drop the bytes handed out by the previous call (they had to stay valid until now). */
static void compact(struct smelt_stop *s) {
    if (s->emitted == 0) return;
    memmove(s->buf, s->buf + s->emitted, s->len - s->emitted);
    s->len -= s->emitted;
    s->emitted = 0;
}

bool smelt_stop_push(struct smelt_stop *s, const char *text, size_t len, const char **emit, size_t *emit_len) {
    static const char empty[1] = {0};
    *emit = empty;
    *emit_len = 0;
    if (!s) return false;
    if (s->stopped) return true;
    compact(s);
    if (len == 0 || !text) return false;
    if (s->n == 0) {
        /* nothing to match: pass through untouched */
        *emit = text;
        *emit_len = len;
        return false;
    }
    size_t held = s->len;
    if (!reserve(s, len)) {
        /* out of memory: emit what we were given rather than losing it */
        *emit = text;
        *emit_len = len;
        return false;
    }
    memcpy(s->buf + s->len, text, len);
    s->len += len;

    /* Earliest-ending full match. It ends inside the new text, since the held
     * bytes are a proper prefix of a stop string and so contain no match. */
    size_t best_end = SIZE_MAX, best_start = 0;
    for (size_t k = 0; k < s->n; k++) {
        size_t L = s->lens[k];
        if (L > s->len) continue;
        size_t from = held >= L ? held - L + 1 : 0;
        const char *hit = memmem(s->buf + from, s->len - from, s->stops[k], L);
        if (!hit) continue;
        size_t st = (size_t)(hit - s->buf), end = st + L;
        if (end < best_end || (end == best_end && st < best_start)) {
            best_end = end;
            best_start = st;
        }
    }
    if (best_end != SIZE_MAX) {
        s->stopped = true;
        *emit = s->buf;
        *emit_len = best_start;
        s->emitted = s->len;
        return true;
    }

    /* Hold back the longest suffix that is a proper prefix of some stop string. */
    size_t hold_from = s->len;
    size_t lo = s->len >= s->max_len ? s->len - s->max_len + 1 : 0;
    for (size_t j = lo; j < s->len && hold_from == s->len; j++) {
        size_t tail = s->len - j;
        for (size_t k = 0; k < s->n; k++) {
            if (s->lens[k] > tail && memcmp(s->stops[k], s->buf + j, tail) == 0) {
                hold_from = j;
                break;
            }
        }
    }
    *emit = s->buf;
    *emit_len = hold_from;
    s->emitted = hold_from;
    return false;
}

void smelt_stop_flush(struct smelt_stop *s, const char **emit, size_t *emit_len) {
    static const char empty[1] = {0};
    *emit = empty;
    *emit_len = 0;
    if (!s) return;
    compact(s);
    if (s->stopped) {
        s->len = 0;
        return;
    }
    *emit = s->buf ? s->buf : empty;
    *emit_len = s->len;
    s->emitted = s->len;
}

/* Decoding: whole sequences (byte-exact join of pieces) and the incremental
 * detokenizer for streaming, which only ever emits complete UTF-8 characters.
 *
 * Leading-space rule (llama.cpp llama_detokenize with remove_special=false):
 * when the vocabulary prepends a space while encoding (add_space_prefix), one
 * leading space of the first token's piece is dropped. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

/* Piece of id appended to a growable buffer; strip_space drops one leading ' '. */
static enum smelt_status append_piece(const struct smelt_tok *t, int32_t id, bool special, bool strip_space,
                                      char **buf, size_t *len, size_t *cap) {
    size_t need;
    enum smelt_status st = smelt_tok_piece(t, id, special, NULL, 0, &need);
    if (st != SMELT_OK) return st;
    size_t total;
    if (!smelt_add_ok(*len, need + 1, &total)) return smelt_err(SMELT_ERR_NOMEM, "tokenizer: decoded text too large");
    if (total > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < total) nc *= 2;
        char *nb = smelt_realloc(*buf, nc);
        if (!nb) return SMELT_ERR_NOMEM;
        *buf = nb;
        *cap = nc;
    }
    size_t got;
    st = smelt_tok_piece(t, id, special, *buf + *len, need, &got);
    if (st != SMELT_OK) return st;
    if (strip_space && got > 0 && (*buf)[*len] == ' ') {
        memmove(*buf + *len, *buf + *len + 1, got - 1);
        got--;
    }
    *len += got;
    (*buf)[*len] = 0;
    return SMELT_OK;
}

enum smelt_status smelt_tok_decode(const struct smelt_tok *t, const int32_t *ids, size_t n, bool special, char **out,
                                   size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || !len || (!ids && n)) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tok_decode: NULL argument");
    char *buf = smelt_malloc(64);
    size_t l = 0, cap = 64;
    if (!buf) return SMELT_ERR_NOMEM;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        enum smelt_status st = append_piece(t, ids[i], special, i == 0 && t->add_space_prefix, &buf, &l, &cap);
        if (st != SMELT_OK) {
            free(buf);
            return st;
        }
    }
    *out = buf;
    *len = l;
    return SMELT_OK;
}

/* ---- incremental detokenizer ------------------------------------------------ */

struct smelt_detok {
    const struct smelt_tok *t;
    bool special;
    bool first;
    char *pend; /* bytes of an unfinished UTF-8 sequence (at most 3) + new piece */
    size_t pend_len, pend_cap;
    char *out; /* text returned to the caller */
    size_t out_cap;
};

enum smelt_status smelt_detok_new(const struct smelt_tok *t, bool special, struct smelt_detok **out) {
    if (out) *out = NULL;
    if (!t || !out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_detok_new: NULL argument");
    struct smelt_detok *d = smelt_calloc(1, sizeof *d);
    if (!d) return SMELT_ERR_NOMEM;
    d->t = t;
    d->special = special;
    d->first = true;
    *out = d;
    return SMELT_OK;
}

void smelt_detok_free(struct smelt_detok *d) {
    if (!d) return;
    free(d->pend);
    free(d->out);
    free(d);
}

static bool ensure(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    char *q = smelt_realloc(*p, nc);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* Expected length of a sequence from its lead byte, 0 if it cannot start one. */
static size_t lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Valid range of the second byte for a lead byte. */
static bool second_ok(unsigned char lead, unsigned char c) {
    unsigned lo = 0x80, hi = 0xBF;
    if (lead == 0xE0) lo = 0xA0;
    else if (lead == 0xED) hi = 0x9F;
    else if (lead == 0xF0) lo = 0x90;
    else if (lead == 0xF4) hi = 0x8F;
    return c >= lo && c <= hi;
}

/* Move complete characters of d->pend to d->out (invalid bytes -> U+FFFD, one
 * per maximal invalid subpart), keep an unfinished tail unless `final`. */
static enum smelt_status drain(struct smelt_detok *d, bool final, const char **text, size_t *len) {
    const unsigned char *p = (const unsigned char *)d->pend;
    size_t n = d->pend_len, i = 0, o = 0;
    if (!ensure(&d->out, &d->out_cap, 3 * n + 1)) return SMELT_ERR_NOMEM;
    while (i < n) {
        size_t need = lead_len(p[i]);
        if (need == 1) {
            d->out[o++] = (char)p[i++];
            continue;
        }
        if (need == 0) { /* stray continuation or impossible lead byte */
            memcpy(d->out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        /* how many bytes of the sequence are valid so far */
        size_t k = 1;
        while (k < need && i + k < n) {
            bool ok = k == 1 ? second_ok(p[i], p[i + k]) : (p[i + k] & 0xC0) == 0x80;
            if (!ok) break;
            k++;
        }
        if (k == need) {
            memcpy(d->out + o, p + i, need);
            o += need;
            i += need;
        } else if (i + k == n && !final) {
            break; /* unfinished: wait for more bytes */
        } else {
            memcpy(d->out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += k;
        }
    }
    memmove(d->pend, d->pend + i, n - i);
    d->pend_len = n - i;
    d->out[o] = 0;
    *text = d->out;
    *len = o;
    return SMELT_OK;
}

enum smelt_status smelt_detok_push(struct smelt_detok *d, int32_t id, const char **text, size_t *len) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!d || !text || !len) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_detok_push: NULL argument");
    size_t need;
    enum smelt_status st = smelt_tok_piece(d->t, id, d->special, NULL, 0, &need);
    if (st != SMELT_OK) return st;
    if (!ensure(&d->pend, &d->pend_cap, d->pend_len + need + 1)) return SMELT_ERR_NOMEM;
    size_t got;
    st = smelt_tok_piece(d->t, id, d->special, d->pend + d->pend_len, need, &got);
    if (st != SMELT_OK) return st;
    char *piece = d->pend + d->pend_len;
    if (d->first && d->t->add_space_prefix && got > 0 && piece[0] == ' ') {
        memmove(piece, piece + 1, got - 1);
        got--;
    }
    d->first = false;
    d->pend_len += got;
    return drain(d, false, text, len);
}

enum smelt_status smelt_detok_flush(struct smelt_detok *d, const char **text, size_t *len) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!d || !text || !len) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_detok_flush: NULL argument");
    enum smelt_status st = drain(d, true, text, len);
    d->first = true;
    return st;
}

/* SentencePiece-style tokenizer (llama.cpp llm_tokenizer_spm_session).
 *
 * Spaces are escaped to U+2581 ("▁"), optionally with one prepended. The text
 * is split into UTF-8 characters; every adjacent pair whose concatenation is a
 * vocabulary entry is queued with that entry's score, and the best pair
 * (highest score; ties: leftmost) is merged repeatedly. Symbols that are not
 * vocabulary entries at the end are emitted as byte tokens "<0xNN>" (or the
 * one-byte token when the vocabulary has no <0xNN> entry).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

struct ssym {
    int32_t prev, next;
    uint32_t off, n;
};

struct sbigram {
    float score;
    int32_t left, right;
    uint32_t size;
};

struct spm_session {
    const struct smelt_tok *t;
    const char *text;
    struct ssym *syms;
    struct sbigram *heap;
    size_t heap_n, heap_cap;
};

/* a ranks before b: higher score, then smaller left index */
static bool sb_before(const struct sbigram *a, const struct sbigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static bool sheap_push(struct spm_session *s, struct sbigram bg) {
    if (s->heap_n == s->heap_cap) {
        size_t nc = s->heap_cap ? s->heap_cap * 2 : 256;
        struct sbigram *h = smelt_realloc(s->heap, nc * sizeof *h);
        if (!h) return false;
        s->heap = h;
        s->heap_cap = nc;
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!sb_before(&bg, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = bg;
    return true;
}

static struct sbigram sheap_pop(struct spm_session *s) {
    struct sbigram top = s->heap[0];
    struct sbigram last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sbigram *best = &last;
        if (l < n && sb_before(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < n && sb_before(&s->heap[r], best)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = last;
    return top;
}

static enum smelt_status try_add(struct spm_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return SMELT_OK;
    const struct ssym *l = &s->syms[left], *r = &s->syms[right];
    uint32_t size = l->n + r->n;
    int32_t id = tok_strmap_get(&s->t->tok_map, s->text + l->off, size); /* adjacent, so contiguous */
    if (id < 0) return SMELT_OK;
    struct sbigram bg = {s->t->tokens[id].score, left, right, size};
    return sheap_push(s, bg) ? SMELT_OK : SMELT_ERR_NOMEM;
}

static enum smelt_status emit_bytes(const struct smelt_tok *t, const char *p, size_t n, struct tok_ids *out) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t j = 0; j < n; j++) {
        unsigned char c = (unsigned char)p[j];
        char buf[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
        int32_t id = tok_strmap_get(&t->tok_map, buf, 6);
        if (id < 0) id = tok_strmap_get(&t->tok_map, p + j, 1);
        if (id < 0) id = t->unk;
        if (id < 0) continue;
        enum smelt_status st = tok_ids_push(out, id);
        if (st != SMELT_OK) return st;
    }
    return SMELT_OK;
}

enum smelt_status tok_spm_encode(const struct smelt_tok *t, const char *text, size_t len, bool prefix_space,
                                 struct tok_ids *out) {
    enum smelt_status st = SMELT_OK;
    struct spm_session s = {.t = t};
    char *esc = NULL;
    size_t n = 0, cap;
    /* escape: every space becomes 3 bytes */
    if (len > (SIZE_MAX - 3) / 3 || len > UINT32_MAX / 4)
        return smelt_err(SMELT_ERR_RANGE, "tokenizer: text too long (%zu bytes)", len);
    cap = 3 * len + 3;
    esc = smelt_malloc(cap);
    if (!esc) return SMELT_ERR_NOMEM;
    if (prefix_space) {
        memcpy(esc, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }
    if (n == 0) goto done;
    s.text = esc;
    s.syms = smelt_malloc(n * sizeof *s.syms);
    if (!s.syms) {
        st = SMELT_ERR_NOMEM;
        goto done;
    }
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t l = 1;
        while (off + l < n && ((unsigned char)esc[off + l] & 0xC0) == 0x80) l++;
        s.syms[ns] = (struct ssym){ns - 1, off + l == n ? -1 : ns + 1, (uint32_t)off, (uint32_t)l};
        ns++;
        off += l;
    }
    for (int32_t i = 1; i < ns; i++) {
        st = try_add(&s, i - 1, i);
        if (st != SMELT_OK) goto done;
    }
    while (s.heap_n) {
        struct sbigram bg = sheap_pop(&s);
        struct ssym *l = &s.syms[bg.left], *r = &s.syms[bg.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != bg.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s.syms[r->next].prev = bg.left;
        st = try_add(&s, l->prev, bg.left);
        if (st != SMELT_OK) goto done;
        st = try_add(&s, bg.left, l->next);
        if (st != SMELT_OK) goto done;
    }
    for (int32_t i = 0; i != -1; i = s.syms[i].next) {
        const struct ssym *y = &s.syms[i];
        int32_t id = tok_strmap_get(&t->tok_map, esc + y->off, y->n);
        if (id >= 0) st = tok_ids_push(out, id);
        else st = emit_bytes(t, esc + y->off, y->n, out);
        if (st != SMELT_OK) goto done;
    }
done:
    free(s.syms);
    free(s.heap);
    free(esc);
    return st;
}

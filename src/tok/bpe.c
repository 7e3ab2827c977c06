/* Byte-level BPE (llama.cpp llm_tokenizer_bpe_session).
 *
 * Each pre-token word is byte-encoded (every UTF-8 byte -> GPT-2 printable code
 * point), split into code points, and adjacent symbols are merged in order of
 * merge rank (lowest first; ties: leftmost first) until no ranked pair is left.
 * With ignore_merges (Llama 3 family), a word that is a whole vocabulary entry
 * is emitted directly. A final symbol that is not in the vocabulary is emitted
 * byte by byte, each byte looked up as a one-byte string (missing ones are
 * dropped, exactly as llama.cpp does).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

struct sym {
    int32_t prev, next;
    uint32_t off; /* into the encoded word */
    uint32_t n;   /* bytes; 0 = merged away */
};

struct bigram {
    int32_t rank;
    int32_t left, right;
    uint32_t size;
};

struct bpe_session {
    const struct smelt_tok *t;
    struct tok_ids *out;
    char *word;       /* byte-encoded word */
    size_t word_cap;
    char *key;        /* scratch for merge lookups */
    size_t key_cap;
    struct sym *syms;
    size_t syms_cap;
    struct bigram *heap;
    size_t heap_n, heap_cap;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = smelt_realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static bool bg_less(const struct bigram *a, const struct bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(struct bpe_session *s, struct bigram bg) {
    if (!grow((void **)&s->heap, &s->heap_cap, s->heap_n + 1, sizeof *s->heap)) return false;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bg_less(&bg, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = bg;
    return true;
}

static struct bigram heap_pop(struct bpe_session *s) {
    struct bigram top = s->heap[0];
    struct bigram last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct bigram *best = &last;
        if (l < n && bg_less(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < n && bg_less(&s->heap[r], best)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = last;
    return top;
}

static enum smelt_status add_bigram(struct bpe_session *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return SMELT_OK;
    const struct sym *l = &s->syms[left], *r = &s->syms[right];
    size_t klen = (size_t)l->n + 1 + r->n;
    if (!grow((void **)&s->key, &s->key_cap, klen, 1)) return SMELT_ERR_NOMEM;
    memcpy(s->key, s->word + l->off, l->n);
    s->key[l->n] = (char)0xFF;
    memcpy(s->key + l->n + 1, s->word + r->off, r->n);
    int32_t rank = tok_strmap_get(&s->t->merge_map, s->key, klen);
    if (rank < 0) return SMELT_OK;
    struct bigram bg = {rank, left, right, l->n + r->n};
    return heap_push(s, bg) ? SMELT_OK : SMELT_ERR_NOMEM;
}

static enum smelt_status bpe_word(const char *w, size_t wn, void *ud) {
    struct bpe_session *s = ud;
    const struct smelt_tok *t = s->t;
    enum smelt_status st;

    /* byte-encode: at most 2 UTF-8 bytes per input byte */
    if (wn > UINT32_MAX / 4) return smelt_err(SMELT_ERR_RANGE, "tokenizer: pre-token word too long (%zu bytes)", wn);
    if (!grow((void **)&s->word, &s->word_cap, 2 * wn + 1, 1)) return SMELT_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < wn; i++) n += tok_utf8_put(tok_byte_to_cpt((uint8_t)w[i]), s->word + n);

    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->tok_map, s->word, n);
        if (id >= 0) return tok_ids_push(s->out, id);
    }

    /* one symbol per code point */
    if (!grow((void **)&s->syms, &s->syms_cap, n, sizeof *s->syms)) return SMELT_ERR_NOMEM;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t l = 1;
        while (off + l < n && ((unsigned char)s->word[off + l] & 0xC0) == 0x80) l++;
        s->syms[ns] = (struct sym){ns - 1, off + l == n ? -1 : ns + 1, (uint32_t)off, (uint32_t)l};
        ns++;
        off += l;
    }
    s->heap_n = 0;
    for (int32_t i = 1; i < ns; i++) {
        st = add_bigram(s, i - 1, i);
        if (st != SMELT_OK) return st;
    }
    while (s->heap_n) {
        struct bigram bg = heap_pop(s);
        struct sym *l = &s->syms[bg.left], *r = &s->syms[bg.right];
        /* symbols only grow or vanish, so unchanged sizes mean the pair is current */
        if (l->n == 0 || r->n == 0 || l->n + r->n != bg.size || l->next != bg.right) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = bg.left;
        st = add_bigram(s, l->prev, bg.left);
        if (st != SMELT_OK) return st;
        st = add_bigram(s, bg.left, l->next);
        if (st != SMELT_OK) return st;
    }
    for (int32_t i = 0; i != -1 && ns > 0; i = s->syms[i].next) {
        const struct sym *y = &s->syms[i];
        int32_t id = tok_strmap_get(&t->tok_map, s->word + y->off, y->n);
        if (id >= 0) {
            st = tok_ids_push(s->out, id);
            if (st != SMELT_OK) return st;
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t bid = tok_strmap_get(&t->tok_map, s->word + y->off + j, 1);
            if (bid >= 0) {
                st = tok_ids_push(s->out, bid);
                if (st != SMELT_OK) return st;
            }
        }
    }
    return SMELT_OK;
}

enum smelt_status tok_bpe_encode(const struct smelt_tok *t, const char *text, size_t len, struct tok_ids *out) {
    struct bpe_session s = {.t = t, .out = out};
    enum smelt_status st = tok_pretok_split(t->pre, text, len, bpe_word, &s);
    free(s.word);
    free(s.key);
    free(s.syms);
    free(s.heap);
    return st;
}

/* Encoding entry point: UTF-8 validation, special-token partition
 * (llama.cpp tokenizer_st_partition), BOS/EOS, dispatch to BPE or SPM. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

struct frag {
    size_t off, len; /* raw text when id < 0 */
    int32_t id;      /* special token id, or -1 */
};

struct frags {
    struct frag *v;
    size_t n, cap;
};

static bool frags_push(struct frags *f, size_t off, size_t len, int32_t id) {
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        struct frag *v = smelt_realloc(f->v, nc * sizeof *v);
        if (!v) return false;
        f->v = v;
        f->cap = nc;
    }
    f->v[f->n++] = (struct frag){off, len, id};
    return true;
}

static bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int cmp_by_len_then_id(const void *a, const void *b, void *ud) {
    const struct smelt_tok *t = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->tokens[x].len, ly = t->tokens[y].len;
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static bool special_allowed(const struct smelt_tok *t, int32_t id, bool parse_special) {
    uint32_t a = t->tokens[id].attr;
    if (!(a & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))) return false;
    /* without parse_special only user-defined tokens are split out (llama.cpp) */
    if (!parse_special && (a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) return false;
    return true;
}

/* Split text into raw fragments and special tokens. Tokens are processed
 * longest first; each one splits every raw fragment at all its occurrences. */
static enum smelt_status partition(const struct smelt_tok *t, const char *text, size_t len, bool parse_special,
                                   struct frags *out) {
    enum smelt_status st = SMELT_OK;
    struct frags cur = {0}, next = {0};
    int32_t *found = NULL;
    size_t n_found = 0, cap_found = 0;

    if (!frags_push(&cur, 0, len, -1)) goto nomem;

    /* which special texts occur anywhere in the text */
    if (t->n_special) {
        for (size_t pos = 0; pos < len; pos++) {
            unsigned char c = (unsigned char)text[pos];
            if (!(t->special_first[c >> 3] & (1u << (c & 7)))) continue;
            for (size_t k = 0; k < t->n_special_lens; k++) {
                size_t L = t->special_lens[k];
                if (L > len - pos) continue;
                int32_t id = tok_strmap_get(&t->tok_map, text + pos, L);
                if (id < 0 || !special_allowed(t, id, parse_special)) continue;
                bool dup = false;
                for (size_t j = 0; j < n_found; j++)
                    if (found[j] == id) {
                        dup = true;
                        break;
                    }
                if (dup) continue;
                if (n_found == cap_found) {
                    size_t nc = cap_found ? cap_found * 2 : 16;
                    int32_t *v = smelt_realloc(found, nc * sizeof *v);
                    if (!v) goto nomem;
                    found = v;
                    cap_found = nc;
                }
                found[n_found++] = id;
            }
        }
        if (n_found > 1) qsort_r(found, n_found, sizeof *found, cmp_by_len_then_id, (void *)t);
    }

    for (size_t k = 0; k < n_found; k++) {
        int32_t id = found[k];
        const struct tok_entry *e = &t->tokens[id];
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            struct frag f = cur.v[i];
            if (f.id >= 0) {
                if (!frags_push(&next, f.off, f.len, f.id)) goto nomem;
                continue;
            }
            size_t base = f.off, end = f.off + f.len;
            while (base < end) {
                const char *m = memmem(text + base, end - base, e->text, e->len);
                if (!m) break;
                size_t mpos = (size_t)(m - text);
                size_t llen = mpos - base;
                if (e->attr & TOK_ATTR_LSTRIP)
                    while (llen > 0 && is_c_space(text[base + llen - 1])) llen--;
                if (llen > 0 && !frags_push(&next, base, llen, -1)) goto nomem;
                if (!frags_push(&next, mpos, e->len, id)) goto nomem;
                base = mpos + e->len;
                if (e->attr & TOK_ATTR_RSTRIP)
                    while (base < end && is_c_space(text[base])) base++;
            }
            if (base < end && !frags_push(&next, base, end - base, -1)) goto nomem;
        }
        struct frags tmp = cur;
        cur = next;
        next = tmp;
    }
    *out = cur;
    cur.v = NULL;
    goto done;
nomem:
    st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: out of memory partitioning special tokens");
done:
    free(cur.v);
    free(next.v);
    free(found);
    return st;
}

enum smelt_status smelt_tok_encode(const struct smelt_tok *t, const char *text, size_t len, bool add_special,
                                   bool parse_special, int32_t **ids, size_t *n) {
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!t || !ids || !n || (!text && len)) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tok_encode: NULL argument");
    if (len > (size_t)INT32_MAX)
        return smelt_err(SMELT_ERR_RANGE, "tokenizer: text of %zu bytes exceeds the limit of %d", len, INT32_MAX);
    size_t bad = tok_utf8_valid_prefix(text, len);
    if (bad != len)
        return smelt_err(SMELT_ERR_FORMAT, "tokenizer: invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad,
                         (unsigned)(unsigned char)text[bad]);

    enum smelt_status st;
    struct tok_ids out = {0};
    struct frags fr = {0};
    if (len) {
        st = partition(t, text, len, parse_special, &fr);
        if (st != SMELT_OK) goto fail;
    }
    if (add_special && t->add_bos) {
        st = tok_ids_push(&out, t->bos);
        if (st != SMELT_OK) goto fail;
    }
    bool prev_special = true; /* SPM: prefix a space to text at the start or after a special token */
    for (size_t i = 0; i < fr.n; i++) {
        const struct frag *f = &fr.v[i];
        if (f->id >= 0) {
            st = tok_ids_push(&out, f->id);
            prev_special = true;
        } else if (t->kind == TOK_KIND_BPE) {
            st = tok_bpe_encode(t, text + f->off, f->len, &out);
        } else {
            st = tok_spm_encode(t, text + f->off, f->len, t->add_space_prefix && prev_special, &out);
            prev_special = false;
        }
        if (st != SMELT_OK) goto fail;
    }
    if (add_special && t->add_eos) {
        st = tok_ids_push(&out, t->eos);
        if (st != SMELT_OK) goto fail;
    }
    free(fr.v);
    if (!out.v) { /* empty result: still return a valid allocation */
        out.v = smelt_malloc(sizeof *out.v);
        if (!out.v) return SMELT_ERR_NOMEM;
    }
    *ids = out.v;
    *n = out.n;
    return SMELT_OK;
fail:
    free(fr.v);
    free(out.v);
    return st;
}

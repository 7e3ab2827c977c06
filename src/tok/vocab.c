/* Vocabulary: loading from GGUF, attributes, special ids, end-of-generation set,
 * token pieces. Mirrors llama.cpp's llama_vocab::impl::load so that ids, EOG set
 * and pieces agree with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

/* ---- hashing / string map ------------------------------------------------ */

uint64_t tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    while (n--) h = (h ^ *s++) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

bool tok_strmap_init(struct tok_strmap *m, size_t n_expected) {
    memset(m, 0, sizeof *m);
    uint32_t cap = 16;
    while ((size_t)cap < n_expected * 2 + 16) {
        if (cap > (1u << 30)) return false;
        cap <<= 1;
    }
    m->cap = cap;
    m->slots = smelt_calloc(cap, sizeof *m->slots);
    size_t ne = n_expected + 1;
    m->keys = smelt_calloc(ne, sizeof *m->keys);
    m->lens = smelt_calloc(ne, sizeof *m->lens);
    m->vals = smelt_calloc(ne, sizeof *m->vals);
    if (!m->slots || !m->keys || !m->lens || !m->vals) {
        tok_strmap_free(m);
        return false;
    }
    return true;
}

void tok_strmap_free(struct tok_strmap *m) {
    free(m->slots);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

bool tok_strmap_put(struct tok_strmap *m, const char *key, uint32_t len, int32_t val, bool overwrite) {
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)tok_hash(key, len) & mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0) break;
        if (m->lens[s - 1] == len && memcmp(m->keys[s - 1], key, len) == 0) {
            if (overwrite) m->vals[s - 1] = val;
            return true;
        }
        i = (i + 1) & mask;
    }
    /* capacity was sized at init for n_expected keys; the caller never exceeds it */
    if ((size_t)m->n * 2 + 2 > m->cap) return false;
    m->keys[m->n] = key;
    m->lens[m->n] = len;
    m->vals[m->n] = val;
    m->n++;
    m->slots[i] = m->n;
    return true;
}

int32_t tok_strmap_get(const struct tok_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    uint32_t mask = m->cap - 1;
    uint32_t i = (uint32_t)tok_hash(key, len) & mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0) return -1;
        if (m->lens[s - 1] == len && memcmp(m->keys[s - 1], key, len) == 0) return m->vals[s - 1];
        i = (i + 1) & mask;
    }
}

/* ---- GPT-2 byte mapping and UTF-8 helpers ----------------------------------- */

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 non-printable bytes (0x00-0x20, 0x7F-0xA0, 0xAD) map, in increasing
 * order, to U+0100.. U+0143. */
uint32_t tok_byte_to_cpt(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 33u + 34u; /* 0xAD */
}

int tok_cpt_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp <= 256 + 32) return (int)(cp - 256);
    if (cp <= 256 + 33 + 33) return (int)(0x7F + (cp - 256 - 33));
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

size_t tok_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 if invalid or
 * truncated. Strict: no overlongs, surrogates or code points above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return need;
}

size_t tok_utf8_valid_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq_len(s + i, n - i);
        if (!l) return i;
        i += l;
    }
    return n;
}

enum smelt_status tok_ids_push(struct tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 64;
        if (nc > ((size_t)1 << 31)) return smelt_err(SMELT_ERR_NOMEM, "tokenizer: too many tokens");
        int32_t *v = smelt_realloc(ids->v, nc * sizeof *v);
        if (!v) return SMELT_ERR_NOMEM;
        ids->v = v;
        ids->cap = nc;
    }
    ids->v[ids->n++] = id;
    return SMELT_OK;
}

/* ---- loading --------------------------------------------------------------- */

static const char *vtype_name(enum smelt_gguf_vtype t) {
    static const char *names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32", "INT32",  "FLOAT32",
                                  "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64", "FLOAT64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static bool str_in(const char *s, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0) return true;
    return false;
}

/* Texts llama.cpp uses to detect end-of-generation tokens (llama_vocab::impl::load). */
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", NULL};
static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
    "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const k_eom_texts[] = {"<|eom_id|>", NULL};
static const char *const k_fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const k_fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const k_fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const k_fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const k_fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                              "<reponame>", NULL};
static const char *const k_fim_sep_texts[] = {"<|file_sep|>", NULL}; /* llama.cpp detects only this one */

/* Optional token id key: absent -> keep *id; -1 -> none; otherwise must be < n. */
static enum smelt_status read_id(const struct smelt_gguf *g, const char *key, int32_t n, int32_t *id) {
    int64_t v;
    enum smelt_status st = smelt_gguf_get_i64(g, key, &v);
    if (st == SMELT_ERR_NOT_FOUND) return SMELT_OK;
    if (st != SMELT_OK) return st;
    if (v == -1) {
        *id = -1;
        return SMELT_OK;
    }
    if (v < 0 || v >= n)
        return smelt_err(SMELT_ERR_FORMAT, "tokenizer: %s = %lld is outside the vocabulary (0..%d)", key,
                         (long long)v, n - 1);
    *id = (int32_t)v;
    return SMELT_OK;
}

static enum smelt_status read_bool(const struct smelt_gguf *g, const char *key, bool *out) {
    bool v;
    enum smelt_status st = smelt_gguf_get_bool(g, key, &v);
    if (st == SMELT_ERR_NOT_FOUND) return SMELT_OK;
    if (st != SMELT_OK) return st;
    *out = v;
    return SMELT_OK;
}

static int cmp_special(const void *a, const void *b, void *ud) {
    const struct smelt_tok *t = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = t->tokens[x].len, ly = t->tokens[y].len;
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static enum smelt_status build_special_cache(struct smelt_tok *t) {
    size_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->tokens[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) n++;
    t->special = smelt_malloc((n ? n : 1) * sizeof *t->special);
    t->special_lens = smelt_malloc((n ? n : 1) * sizeof *t->special_lens);
    if (!t->special || !t->special_lens) return SMELT_ERR_NOMEM;
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->tokens[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) t->special[n++] = i;
    t->n_special = n;
    qsort_r(t->special, n, sizeof *t->special, cmp_special, t);
    memset(t->special_first, 0, sizeof t->special_first);
    t->n_special_lens = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tok_entry *e = &t->tokens[t->special[i]];
        unsigned char c = (unsigned char)e->text[0];
        t->special_first[c >> 3] |= (uint8_t)(1u << (c & 7));
        if (t->n_special_lens == 0 || t->special_lens[t->n_special_lens - 1] != e->len)
            t->special_lens[t->n_special_lens++] = e->len; /* sorted by length, descending */
    }
    return SMELT_OK;
}

static void lowercase_ascii(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

enum smelt_status smelt_tok_from_gguf(const struct smelt_gguf *g, struct smelt_tok **out) {
    enum smelt_status st;
    struct smelt_tok *t = NULL;
    if (out) *out = NULL;
    if (!g || !out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tok_from_gguf: NULL argument");

    const char *model;
    size_t model_len;
    st = smelt_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len);
    if (st == SMELT_ERR_NOT_FOUND) return smelt_err(SMELT_ERR_FORMAT, "tokenizer: key tokenizer.ggml.model is missing");
    if (st != SMELT_OK) return st;

    t = smelt_calloc(1, sizeof *t);
    if (!t) return SMELT_ERR_NOMEM;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;

    int add_bos_default = 0;
    bool bos_null = false;
    if (strcmp(model, "gpt2") == 0) {
        t->kind = TOK_KIND_BPE;
        const char *pre = "default";
        size_t pre_len;
        st = smelt_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len);
        if (st == SMELT_ERR_NOT_FOUND) {
            pre = "default";
            smelt_log(1, "tokenizer: tokenizer.ggml.pre is missing, using the 'default' pre-tokenizer");
        } else if (st != SMELT_OK)
            goto fail;
        t->clean_spaces = true;
        st = tok_pretok_new(pre, &t->pre, &t->ignore_merges, &t->clean_spaces, &add_bos_default, &bos_null);
        if (st != SMELT_OK) goto fail;
        t->add_space_prefix = false;
        t->bos = 11; /* llama.cpp defaults for BPE vocabularies */
        t->eos = 11;
        t->add_bos = add_bos_default != 0;
    } else if (strcmp(model, "llama") == 0) {
        t->kind = TOK_KIND_SPM;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_space_prefix = true;
        t->add_bos = true;
    } else if (strcmp(model, "bert") == 0) {
        st = smelt_err(SMELT_ERR_UNSUPPORTED,
                       "tokenizer: tokenizer.ggml.model 'bert' (WordPiece) is not supported; supported: 'gpt2' "
                       "(byte-level BPE), 'llama' (SentencePiece)");
        goto fail;
    } else {
        st = smelt_err(SMELT_ERR_UNSUPPORTED,
                       "tokenizer: unknown tokenizer.ggml.model '%s'; supported: 'gpt2' (byte-level BPE), 'llama' "
                       "(SentencePiece)",
                       model);
        goto fail;
    }
    st = read_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (st != SMELT_OK) goto fail;

    /* tokens */
    enum smelt_gguf_vtype et;
    uint64_t n_tok;
    const void *data;
    st = smelt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok, &data);
    if (st == SMELT_ERR_NOT_FOUND) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: key tokenizer.ggml.tokens is missing");
        goto fail;
    }
    if (st != SMELT_OK) goto fail;
    if (et != SMELT_GGUF_STRING) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens must be an array of STRING, found %s",
                       vtype_name(et));
        goto fail;
    }
    if (n_tok == 0 || n_tok > (1u << 30)) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens has %llu entries (expected 1..%u)",
                       (unsigned long long)n_tok, 1u << 30);
        goto fail;
    }
    const int32_t n = (int32_t)n_tok;
    t->n_vocab = n;
    t->tokens = smelt_calloc((size_t)n, sizeof *t->tokens);
    if (!t->tokens) {
        st = SMELT_ERR_NOMEM;
        goto fail;
    }

    /* token_type: optional INT32[n] */
    const void *types = NULL;
    st = smelt_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n_tok, &types);
    if (st == SMELT_OK) {
        if (et != SMELT_GGUF_INT32 || n_tok != (uint64_t)n) {
            st = smelt_err(SMELT_ERR_FORMAT,
                           "tokenizer: tokenizer.ggml.token_type must be an array of INT32 with %d entries (one per "
                           "token), found %s[%llu]",
                           n, vtype_name(et), (unsigned long long)n_tok);
            goto fail;
        }
    } else if (st != SMELT_ERR_NOT_FOUND)
        goto fail;
    /* scores: optional FLOAT32[n] (llama.cpp also accepts INT32) */
    const void *scores = NULL;
    enum smelt_gguf_vtype score_type = SMELT_GGUF_FLOAT32;
    st = smelt_gguf_get_arr(g, "tokenizer.ggml.scores", &score_type, &n_tok, &scores);
    if (st == SMELT_OK) {
        if ((score_type != SMELT_GGUF_FLOAT32 && score_type != SMELT_GGUF_INT32) || n_tok != (uint64_t)n) {
            st = smelt_err(SMELT_ERR_FORMAT,
                           "tokenizer: tokenizer.ggml.scores must be an array of FLOAT32 with %d entries (one per "
                           "token), found %s[%llu]",
                           n, vtype_name(score_type), (unsigned long long)n_tok);
            goto fail;
        }
    } else if (st != SMELT_ERR_NOT_FOUND)
        goto fail;
    if (t->kind == TOK_KIND_SPM && !scores) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: SentencePiece vocabulary without tokenizer.ggml.scores");
        goto fail;
    }

    /* copy texts */
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &len);
        if (!s) {
            st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens[%d] unreadable", i);
            goto fail;
        }
        if (len == 0) len = 32; /* "[EMPTY_<i>]" */
        if (!smelt_add_ok(total, len + 1, &total) || len > UINT32_MAX / 2) {
            st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: token texts too large");
            goto fail;
        }
    }
    t->text_arena = smelt_malloc(total ? total : 1);
    if (!t->text_arena || !tok_strmap_init(&t->tok_map, (size_t)n)) {
        st = SMELT_ERR_NOMEM;
        goto fail;
    }
    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &len);
        char *dst = t->text_arena + off;
        if (len == 0) {
            len = (size_t)snprintf(dst, 32, "[EMPTY_%d]", i); /* as llama.cpp */
        } else {
            memcpy(dst, s, len);
            dst[len] = 0;
        }
        off += len + 1;
        struct tok_entry *e = &t->tokens[i];
        e->text = dst;
        e->len = (uint32_t)len;
        if (scores) {
            if (score_type == SMELT_GGUF_FLOAT32) {
                memcpy(&e->score, (const char *)scores + 4 * (size_t)i, 4);
            } else {
                int32_t v;
                memcpy(&v, (const char *)scores + 4 * (size_t)i, 4);
                e->score = (float)v;
            }
        }
        e->attr = TOK_ATTR_NORMAL;
        if (types) {
            int32_t ty;
            memcpy(&ty, (const char *)types + 4 * (size_t)i, 4);
            e->type = ty;
            switch (ty) {
            case SMELT_TOKTYPE_UNKNOWN: e->attr = TOK_ATTR_UNKNOWN; break;
            case SMELT_TOKTYPE_UNUSED: e->attr = TOK_ATTR_UNUSED; break;
            case SMELT_TOKTYPE_NORMAL: e->attr = TOK_ATTR_NORMAL; break;
            case SMELT_TOKTYPE_CONTROL: e->attr = TOK_ATTR_CONTROL; break;
            case SMELT_TOKTYPE_USER_DEFINED: e->attr = TOK_ATTR_USER_DEFINED; break;
            case SMELT_TOKTYPE_BYTE: e->attr = TOK_ATTR_BYTE; break;
            default: e->attr = 0; break;
            }
        } else {
            e->type = SMELT_TOKTYPE_NORMAL;
        }
        if (!tok_strmap_put(&t->tok_map, e->text, e->len, i, true)) {
            st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: token map full");
            goto fail;
        }
    }

    /* merges (BPE): "left right", split at the first space after position 0 */
    if (t->kind == TOK_KIND_BPE) {
        uint64_t n_merges;
        st = smelt_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n_merges, &data);
        if (st == SMELT_ERR_NOT_FOUND) {
            st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: BPE vocabulary without tokenizer.ggml.merges");
            goto fail;
        }
        if (st != SMELT_OK) goto fail;
        if (et != SMELT_GGUF_STRING) {
            st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.merges must be an array of STRING, found %s",
                           vtype_name(et));
            goto fail;
        }
        if (n_merges > (1u << 30)) {
            st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.merges has too many entries (%llu)",
                           (unsigned long long)n_merges);
            goto fail;
        }
        size_t mtotal = 0;
        for (uint64_t i = 0; i < n_merges; i++) {
            size_t len;
            if (!smelt_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len) || !smelt_add_ok(mtotal, len + 1, &mtotal)) {
                st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: tokenizer.ggml.merges[%llu] unreadable",
                               (unsigned long long)i);
                goto fail;
            }
        }
        t->merge_arena = smelt_malloc(mtotal ? mtotal : 1);
        if (!t->merge_arena || !tok_strmap_init(&t->merge_map, (size_t)n_merges)) {
            st = SMELT_ERR_NOMEM;
            goto fail;
        }
        size_t moff = 0;
        for (uint64_t i = 0; i < n_merges; i++) {
            size_t len;
            const char *s = smelt_gguf_arr_str(g, "tokenizer.ggml.merges", i, &len);
            char *dst = t->merge_arena + moff;
            memcpy(dst, s, len);
            dst[len] = 0;
            moff += len + 1;
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            uint32_t klen;
            if (sp) {
                dst[sp - s] = (char)0xFF; /* separator that cannot occur in UTF-8 text */
                klen = (uint32_t)len;
            } else {
                /* llama.cpp stores ("", "") for a merge without a space: never matches */
                continue;
            }
            if (!tok_strmap_put(&t->merge_map, dst, klen, (int32_t)i, false)) {
                st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: merge map full");
                goto fail;
            }
        }
    }

    /* special ids: defaults out of range are disabled, keys must be in range */
    int32_t *const defaults[] = {&t->bos, &t->eos, &t->unk};
    for (size_t i = 0; i < 3; i++)
        if (*defaults[i] >= n) *defaults[i] = -1;
    if (bos_null) t->bos = -1;
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},         {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},         {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk},     {"tokenizer.ggml.padding_token_id", &t->pad},
        {"tokenizer.ggml.fim_pre_token_id", &fim_pre},    {"tokenizer.ggml.fim_suf_token_id", &fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &fim_mid},    {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep},    {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
        {"tokenizer.ggml.prefix_token_id", &fim_pre},     {"tokenizer.ggml.suffix_token_id", &fim_suf},
        {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        st = read_id(g, keys[i].key, n, keys[i].id);
        if (st != SMELT_OK) goto fail;
    }
    st = read_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    if (st != SMELT_OK) goto fail;
    st = read_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    if (st != SMELT_OK) goto fail;
    if (t->add_bos && t->bos < 0) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: add_bos_token is set but there is no BOS token");
        goto fail;
    }
    if (t->add_eos && t->eos < 0) {
        st = smelt_err(SMELT_ERR_FORMAT, "tokenizer: add_eos_token is set but there is no EOS token");
        goto fail;
    }

    /* auto-detect EOT/EOM/FIM tokens by text (llama.cpp); these are forced to CONTROL */
    struct {
        const char *const *texts;
        int32_t *id;
    } detect[] = {{k_eot_texts, &t->eot},     {k_eom_texts, &t->eom},     {k_fim_pre_texts, &fim_pre},
                  {k_fim_suf_texts, &fim_suf}, {k_fim_mid_texts, &fim_mid}, {k_fim_pad_texts, &fim_pad},
                  {k_fim_rep_texts, &fim_rep}, {k_fim_sep_texts, &fim_sep}};
    for (int32_t i = 0; i < n; i++) {
        struct tok_entry *e = &t->tokens[i];
        if (tok_strmap_get(&t->tok_map, e->text, e->len) != i) continue; /* shadowed duplicate text */
        for (size_t d = 0; d < sizeof detect / sizeof detect[0]; d++) {
            if (*detect[d].id == -1 && str_in(e->text, e->len, detect[d].texts)) {
                *detect[d].id = i;
                e->attr |= TOK_ATTR_CONTROL;
            }
        }
    }
    /* control tokens named "unused" are unused */
    for (int32_t i = 0; i < n; i++) {
        struct tok_entry *e = &t->tokens[i];
        if ((e->attr & TOK_ATTR_CONTROL) && strstr(e->text, "unused")) e->attr |= TOK_ATTR_UNUSED;
    }

    /* end-of-generation set */
    t->eog = smelt_calloc((size_t)n, 1);
    if (!t->eog) {
        st = SMELT_ERR_NOMEM;
        goto fail;
    }
    if (fim_pad >= 0) t->eog[fim_pad] = 1;
    if (fim_rep >= 0) t->eog[fim_rep] = 1;
    if (fim_sep >= 0) t->eog[fim_sep] = 1;
    for (int32_t i = 0; i < n; i++) {
        struct tok_entry *e = &t->tokens[i];
        if (tok_strmap_get(&t->tok_map, e->text, e->len) != i) continue;
        if (str_in(e->text, e->len, k_eog_texts)) {
            t->eog[i] = 1;
            e->attr |= TOK_ATTR_CONTROL;
        }
    }
    /* gpt-oss: these are always rendered */
    static const char *const k_user_texts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (int32_t i = 0; i < n; i++) {
        struct tok_entry *e = &t->tokens[i];
        if (tok_strmap_get(&t->tok_map, e->text, e->len) == i && str_in(e->text, e->len, k_user_texts))
            e->attr = TOK_ATTR_USER_DEFINED;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
    {
        /* o200k_harmony / solar-open: "<|end|>" is not EOG when "<|return|>"+"<|call|>" or
         * "<|calls|>"+"<|flush|>" are; gemma4/plamo: "</s>" is a normal token */
        bool has_return = false, has_call = false, has_flush = false, has_marker = false;
        int32_t end_id = -1, s_id = -1;
        for (int32_t i = 0; i < n; i++) {
            if (!t->eog[i]) continue;
            const char *x = t->tokens[i].text;
            if (!strcmp(x, "<|return|>")) has_return = true;
            else if (!strcmp(x, "<|call|>") || !strcmp(x, "<|calls|>")) has_call = true;
            else if (!strcmp(x, "<|flush|>")) has_flush = true;
            else if (!strcmp(x, "<|end|>")) end_id = i;
            if (!strcmp(x, "<|tool_response>") || !strcmp(x, "<|plamo:eos|>")) has_marker = true;
            else if (!strcmp(x, "</s>")) s_id = i;
        }
        if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
            t->eog[end_id] = 0;
            t->tokens[end_id].attr = TOK_ATTR_USER_DEFINED;
        }
        if (has_marker && s_id >= 0) {
            t->eog[s_id] = 0;
            t->tokens[s_id].attr = TOK_ATTR_NORMAL;
        }
    }

    st = build_special_cache(t);
    if (st != SMELT_OK) goto fail;

    /* per-model attributes llama.cpp sets by name: Phi-3 special tokens strip spaces on the right */
    {
        const char *name;
        size_t name_len;
        if (smelt_gguf_get_str(g, "general.name", &name, &name_len) == SMELT_OK) {
            char *lname = smelt_strdup(name);
            if (!lname) {
                st = SMELT_ERR_NOMEM;
                goto fail;
            }
            lowercase_ascii(lname);
            if (strstr(lname, "phi-3") || strstr(lname, "phi3")) {
                for (size_t i = 0; i < t->n_special; i++) t->tokens[t->special[i]].attr |= TOK_ATTR_RSTRIP;
                int32_t id = tok_strmap_get(&t->tok_map, "</s>", 4);
                if (id >= 0) t->tokens[id].attr |= TOK_ATTR_RSTRIP;
                static const char *const k_norstrip[] = {"<unk>", "<s>", "<|endoftext|>"};
                for (size_t i = 0; i < 3; i++) {
                    id = tok_strmap_get(&t->tok_map, k_norstrip[i], strlen(k_norstrip[i]));
                    if (id >= 0) t->tokens[id].attr &= ~(uint32_t)TOK_ATTR_RSTRIP;
                }
            }
            free(lname);
        }
    }

    *out = t;
    return SMELT_OK;
fail:
    smelt_tok_free(t);
    return st;
}

void smelt_tok_free(struct smelt_tok *t) {
    if (!t) return;
    free(t->tokens);
    free(t->text_arena);
    tok_strmap_free(&t->tok_map);
    tok_strmap_free(&t->merge_map);
    free(t->merge_arena);
    tok_pretok_free(t->pre);
    free(t->eog);
    free(t->special);
    free(t->special_lens);
    free(t);
}

/* ---- accessors ---------------------------------------------------------------- */

int32_t smelt_tok_n_vocab(const struct smelt_tok *t) { return t ? t->n_vocab : 0; }
int32_t smelt_tok_bos(const struct smelt_tok *t) { return t ? t->bos : -1; }
int32_t smelt_tok_eos(const struct smelt_tok *t) { return t ? t->eos : -1; }
bool smelt_tok_add_bos(const struct smelt_tok *t) { return t && t->add_bos; }
bool smelt_tok_add_eos(const struct smelt_tok *t) { return t && t->add_eos; }

bool smelt_tok_is_eog(const struct smelt_tok *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && t->eog[id];
}

enum smelt_tok_type smelt_tok_type(const struct smelt_tok *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return SMELT_TOKTYPE_UNDEFINED;
    uint32_t a = t->tokens[id].attr;
    if (a & TOK_ATTR_BYTE) return SMELT_TOKTYPE_BYTE;
    if (a & TOK_ATTR_USER_DEFINED) return SMELT_TOKTYPE_USER_DEFINED;
    if (a & TOK_ATTR_CONTROL) return SMELT_TOKTYPE_CONTROL;
    if (a & TOK_ATTR_UNKNOWN) return SMELT_TOKTYPE_UNKNOWN;
    if (a & TOK_ATTR_UNUSED) return SMELT_TOKTYPE_UNUSED;
    if (a & TOK_ATTR_NORMAL) return SMELT_TOKTYPE_NORMAL;
    return SMELT_TOKTYPE_UNDEFINED;
}

const char *smelt_tok_text(const struct smelt_tok *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    return t->tokens[id].text;
}

int32_t smelt_tok_find(const struct smelt_tok *t, const char *text, size_t len) {
    if (!t || (!text && len)) return -1;
    return tok_strmap_get(&t->tok_map, text ? text : "", len);
}

/* ---- pieces -------------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Byte of a "<0xNN>" token text, -1 if the text has another form. */
static int byte_token_value(const struct tok_entry *e) {
    if (e->len != 6 || memcmp(e->text, "<0x", 3) != 0 || e->text[5] != '>') return -1;
    int h = hexval(e->text[3]), l = hexval(e->text[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* Writes up to cap bytes of the piece into buf, returns its full length. */
static size_t put_bytes(char *buf, size_t cap, size_t pos, const void *src, size_t n) {
    if (pos < cap) memcpy(buf + pos, src, n < cap - pos ? n : cap - pos);
    return pos + n;
}

enum smelt_status smelt_tok_piece(const struct smelt_tok *t, int32_t id, bool special, char *buf, size_t cap,
                                  size_t *len) {
    if (len) *len = 0;
    if (!t || !len || (!buf && cap)) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tok_piece: NULL argument");
    if (id < 0 || id >= t->n_vocab)
        return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_tok_piece: token id %d outside the vocabulary (0..%d)", id,
                         t->n_vocab - 1);
    const struct tok_entry *e = &t->tokens[id];
    uint32_t a = e->attr;
    size_t n = 0;
    if (!special && (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) {
        *len = 0;
        return SMELT_OK;
    }
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        n = put_bytes(buf, cap, 0, e->text, e->len);
    } else if (a & TOK_ATTR_NORMAL) {
        const unsigned char *s = (const unsigned char *)e->text;
        size_t i = 0;
        if (t->kind == TOK_KIND_SPM) {
            while (i < e->len) {
                if (i + 3 <= e->len && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                    n = put_bytes(buf, cap, n, " ", 1);
                    i += 3;
                } else {
                    n = put_bytes(buf, cap, n, s + i, 1);
                    i++;
                }
            }
        } else {
            /* undo the GPT-2 byte -> code point mapping */
            while (i < e->len) {
                size_t l = utf8_seq_len(s + i, e->len - i);
                int b = -1;
                uint32_t cp = 0;
                if (l) {
                    cp = s[i] < 0x80 ? s[i] : (l == 2 ? ((s[i] & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu) : 0xFFFFFFFFu);
                    b = tok_cpt_to_byte(cp);
                }
                if (b >= 0) {
                    unsigned char c = (unsigned char)b;
                    n = put_bytes(buf, cap, n, &c, 1);
                    i += l;
                } else {
                    /* llama.cpp renders unmapped code points as "[UNK_BYTE_0x<utf8 hex><token text>]" */
                    char tmp[32];
                    size_t k = l ? l : 1;
                    n = put_bytes(buf, cap, n, "[UNK_BYTE_0x", 12);
                    for (size_t j = 0; j < k; j++) {
                        snprintf(tmp, sizeof tmp, "%02x", s[i + j]);
                        n = put_bytes(buf, cap, n, tmp, 2);
                    }
                    n = put_bytes(buf, cap, n, e->text, e->len);
                    n = put_bytes(buf, cap, n, "]", 1);
                    i += k;
                }
            }
        }
    } else if (a & TOK_ATTR_BYTE) {
        int b = byte_token_value(e);
        if (b >= 0) {
            unsigned char c = (unsigned char)b;
            n = put_bytes(buf, cap, 0, &c, 1);
        }
    }
    *len = n;
    return SMELT_OK;
}

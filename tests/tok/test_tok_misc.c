/* Tokenizer tests that need no oracle:
 *   invalid UTF-8 input, streaming detokenizer, large texts, GGUF metadata
 *   validation, special-token partition, pieces, EOG.
 *
 *   test_tok_misc VOCAB_DIR CORPUS
 * VOCAB_DIR holds llama.cpp's ggml-vocab-*.gguf (gpt-2 = byte-level BPE,
 * llama-spm = SentencePiece); CORPUS is tests/tok/corpus.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gguf/gguf_build.h"
#include "smelt/gguf.h"
#include "smelt/tok.h"
#include "tok/tok_internal.h"
#include "tok_util.h"

static const char *g_vocab_dir;

static struct smelt_tok *load(const char *name, struct smelt_gguf **gout) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", g_vocab_dir, name);
    struct smelt_gguf *g = NULL;
    struct smelt_tok *t = NULL;
    if (smelt_gguf_open(path, &g) != SMELT_OK || smelt_tok_from_gguf(g, &t) != SMELT_OK) {
        fprintf(stderr, "%s: %s\n", path, smelt_last_error());
        exit(1);
    }
    *gout = g;
    return t;
}

/* strict UTF-8 check (same rules as the tokenizer) */
static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) need = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return false;
        if (i + need > n || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return false;
        i += need;
    }
    return true;
}

static void test_invalid_utf8(const struct smelt_tok *t) {
    static const struct {
        const char *s;
        size_t n, off;
    } bad[] = {
        {"abc\x80", 4, 3},         /* stray continuation byte */
        {"\xc0\x80", 2, 0},        /* overlong NUL */
        {"ok \xed\xa0\x80", 6, 3}, /* UTF-16 surrogate */
        {"x\xe2\x82", 3, 1},       /* truncated at the end */
        {"\xf5\x80\x80\x80", 4, 0},/* above U+10FFFF */
        {"hi\xff!", 4, 2},
        {"\xf0\x9f\x98", 3, 0},    /* truncated emoji */
        {"a\xe2\x28\xa1", 4, 1},   /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = (int32_t *)1;
        size_t n = 99;
        enum smelt_status st = smelt_tok_encode(t, bad[i].s, bad[i].n, true, true, &ids, &n);
        CHECKF(st == SMELT_ERR_FORMAT, "case %zu: status %s", i, smelt_status_str(st));
        CHECK(ids == NULL && n == 0);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", bad[i].off);
        CHECKF(strstr(smelt_last_error(), want) != NULL, "case %zu: message '%s' lacks '%s'", i, smelt_last_error(),
               want);
    }
    /* valid edge code points are accepted */
    const char ok[] = "\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xee\x80\x80";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECKF(smelt_tok_encode(t, ok, sizeof ok - 1, false, false, &ids, &n) == SMELT_OK, "%s", smelt_last_error());
    CHECK(n > 0);
    free(ids);
    /* empty text */
    CHECK(smelt_tok_encode(t, "", 0, false, false, &ids, &n) == SMELT_OK && n == 0);
    free(ids);
}

/* Stream ids through the incremental detokenizer; checks every chunk is valid
 * UTF-8 and that the chunks join to the full decode. Returns the number of
 * pushes that produced no text although the token had bytes (held sequences). */
static int stream_check(const struct smelt_tok *t, const int32_t *ids, size_t n, const char *what) {
    struct smelt_detok *d = NULL;
    CHECK(smelt_detok_new(t, false, &d) == SMELT_OK);
    size_t cap = 1024, len = 0;
    char *acc = malloc(cap);
    int held = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *txt;
        size_t tl;
        enum smelt_status st = i < n ? smelt_detok_push(d, ids[i], &txt, &tl) : smelt_detok_flush(d, &txt, &tl);
        CHECKF(st == SMELT_OK, "%s: %s", what, smelt_last_error());
        if (st != SMELT_OK) break;
        CHECKF(valid_utf8(txt, tl), "%s: chunk %zu is not valid UTF-8", what, i);
        if (i < n && tl == 0) {
            char pb[64];
            size_t pl;
            if (smelt_tok_piece(t, ids[i], false, pb, sizeof pb, &pl) == SMELT_OK && pl > 0) held++;
        }
        while (len + tl + 1 > cap) acc = realloc(acc, cap *= 2);
        memcpy(acc + len, txt, tl);
        len += tl;
    }
    char *dec = NULL;
    size_t dl = 0;
    CHECK(smelt_tok_decode(t, ids, n, false, &dec, &dl) == SMELT_OK);
    CHECKF(dl == len && memcmp(dec, acc, len) == 0, "%s: streamed text differs from decode (%zu vs %zu bytes)", what,
           len, dl);
    free(dec);
    free(acc);
    smelt_detok_free(d);
    return held;
}

static void test_detok(const struct smelt_tok *t, const char *corpus, size_t corpus_len, const char *name) {
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(smelt_tok_encode(t, corpus, corpus_len, false, false, &ids, &n) == SMELT_OK);
    int held = stream_check(t, ids, n, name);
    /* the corpus has emoji that are split over byte tokens: some pushes must hold bytes */
    CHECKF(held > 0, "%s: no push held an incomplete UTF-8 sequence", name);
    free(ids);

    /* token-by-token through an emoji: 4 byte tokens */
    const char emoji[] = "\xf0\x9f\xa6\x9c"; /* U+1F99C parrot: not a single token */
    CHECK(smelt_tok_encode(t, emoji, 4, false, false, &ids, &n) == SMELT_OK);
    CHECK(n >= 2);
    stream_check(t, ids, n, "emoji");
    free(ids);
}

/* Impossible sequences through the detokenizer (byte-level BPE vocab: every byte has a token). */
static void test_detok_invalid(const struct smelt_tok *t) {
    /* GPT-2 byte tokens: bytes 0x21..0x7E map to themselves; 0xF0 -> "ð" (U+00F0), 0xFF -> "ÿ" */
    int32_t b_f0 = smelt_tok_find(t, "\xc3\xb0", 2), b_ff = smelt_tok_find(t, "\xc3\xbf", 2);
    int32_t b_a = smelt_tok_find(t, "a", 1), b_9f = smelt_tok_find(t, "\xc5\x81", 2); /* 0x9F -> U+0141 */
    CHECK(b_f0 >= 0 && b_ff >= 0 && b_a >= 0 && b_9f >= 0);
    struct smelt_detok *d = NULL;
    CHECK(smelt_detok_new(t, false, &d) == SMELT_OK);
    const char *txt;
    size_t tl;
    CHECK(smelt_detok_push(d, b_f0, &txt, &tl) == SMELT_OK && tl == 0); /* held */
    CHECK(smelt_detok_push(d, b_9f, &txt, &tl) == SMELT_OK && tl == 0); /* still plausible */
    CHECK(smelt_detok_push(d, b_a, &txt, &tl) == SMELT_OK);               /* broken: FFFD then a */
    CHECKF(tl == 4 && memcmp(txt, "\xef\xbf\xbd" "a", 4) == 0, "got %zu bytes", tl);
    CHECK(smelt_detok_push(d, b_ff, &txt, &tl) == SMELT_OK);              /* never valid */
    CHECK(tl == 3 && memcmp(txt, "\xef\xbf\xbd", 3) == 0);
    CHECK(smelt_detok_push(d, b_f0, &txt, &tl) == SMELT_OK && tl == 0);
    CHECK(smelt_detok_flush(d, &txt, &tl) == SMELT_OK);                   /* incomplete at the end */
    CHECK(tl == 3 && memcmp(txt, "\xef\xbf\xbd", 3) == 0);
    CHECK(smelt_detok_flush(d, &txt, &tl) == SMELT_OK && tl == 0);
    smelt_detok_free(d);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Three ~100 KB texts: mixed corpus, one huge word, digits and whitespace. */
static void test_large(const struct smelt_tok *t, const char *corpus, size_t corpus_len, const char *name) {
    const size_t target = 100 * 1024;
    char *texts[3];
    size_t lens[3];
    texts[0] = malloc(target + corpus_len + 1);
    lens[0] = 0;
    while (lens[0] < target) {
        memcpy(texts[0] + lens[0], corpus, corpus_len);
        lens[0] += corpus_len;
    }
    texts[1] = malloc(target);
    for (size_t i = 0; i < target; i++) texts[1][i] = "abcdefghijklmnopqrstuvwxyz"[(i * 7 + i / 26) % 26];
    lens[1] = target;
    texts[2] = malloc(target);
    for (size_t i = 0; i < target; i++) texts[2][i] = (i % 37 < 20) ? (char)('0' + i % 10) : (i % 5 ? ' ' : '\n');
    lens[2] = target;
    for (int k = 0; k < 3; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_s();
        enum smelt_status st = smelt_tok_encode(t, texts[k], lens[k], false, false, &ids, &n);
        double t1 = now_s();
        CHECKF(st == SMELT_OK, "%s large %d: %s", name, k, smelt_last_error());
        char *dec = NULL;
        size_t dl = 0;
        CHECK(smelt_tok_decode(t, ids, n, false, &dec, &dl) == SMELT_OK);
        CHECKF(dl == lens[k] && memcmp(dec, texts[k], dl) == 0, "%s large %d: round trip differs", name, k);
        printf("%s: %zu bytes -> %zu tokens in %.3f s\n", name, lens[k], n, t1 - t0);
        free(dec);
        free(ids);
        free(texts[k]);
    }
}

/* ---- metadata validation with hand-built GGUF images ---- */

enum { BAD_NONE, BAD_TYPES_ELEM, BAD_TYPES_LEN, BAD_SCORES_ELEM, BAD_TOKENS_ELEM, BAD_BOS_RANGE, BAD_MODEL,
       BAD_MERGES_ELEM };

static enum smelt_status build_and_load(int bad, struct smelt_tok **out) {
    struct gw w = {0};
    static const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "\xc4\xa0", "<|im_end|>"};
    const uint64_t nt = 8;
    bool bpe = bad == BAD_MERGES_ELEM;
    gw_header(&w, 3, 0, 6);
    gw_key(&w, "tokenizer.ggml.model", SMELT_GGUF_STRING);
    gw_str(&w, bad == BAD_MODEL ? "rwkv" : bpe ? "gpt2" : "llama");
    gw_key(&w, "tokenizer.ggml.tokens", SMELT_GGUF_ARRAY);
    if (bad == BAD_TOKENS_ELEM) {
        gw_u32(&w, SMELT_GGUF_INT32);
        gw_u64(&w, nt);
        for (uint64_t i = 0; i < nt; i++) gw_u32(&w, (uint32_t)i);
    } else {
        gw_u32(&w, SMELT_GGUF_STRING);
        gw_u64(&w, nt);
        for (uint64_t i = 0; i < nt; i++) gw_str(&w, toks[i]);
    }
    gw_key(&w, "tokenizer.ggml.token_type", SMELT_GGUF_ARRAY);
    uint64_t ntypes = bad == BAD_TYPES_LEN ? nt - 1 : nt;
    gw_u32(&w, bad == BAD_TYPES_ELEM ? SMELT_GGUF_UINT32 : SMELT_GGUF_INT32);
    gw_u64(&w, ntypes);
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 3};
    for (uint64_t i = 0; i < ntypes; i++) gw_u32(&w, (uint32_t)types[i]);
    gw_key(&w, "tokenizer.ggml.scores", SMELT_GGUF_ARRAY);
    if (bad == BAD_SCORES_ELEM) {
        gw_u32(&w, SMELT_GGUF_FLOAT64);
        gw_u64(&w, nt);
        for (uint64_t i = 0; i < nt; i++) gw_f64(&w, -(double)i);
    } else {
        gw_u32(&w, SMELT_GGUF_FLOAT32);
        gw_u64(&w, nt);
        for (uint64_t i = 0; i < nt; i++) gw_f32(&w, -(float)i);
    }
    gw_key(&w, "tokenizer.ggml.bos_token_id", SMELT_GGUF_UINT32);
    gw_u32(&w, bad == BAD_BOS_RANGE ? 8 : 1);
    if (bpe) {
        gw_key(&w, "tokenizer.ggml.merges", SMELT_GGUF_ARRAY);
        if (bad == BAD_MERGES_ELEM) {
            gw_u32(&w, SMELT_GGUF_INT32);
            gw_u64(&w, 1);
            gw_u32(&w, 0);
        } else {
            gw_u32(&w, SMELT_GGUF_STRING);
            gw_u64(&w, 1);
            gw_str(&w, "a b");
        }
    } else {
        gw_key(&w, "tokenizer.ggml.eos_token_id", SMELT_GGUF_UINT32);
        gw_u32(&w, 2);
    }
    struct smelt_gguf *g = NULL;
    enum smelt_status st = smelt_gguf_open_memory(w.p, w.n, "tok-test.gguf", &g);
    if (st != SMELT_OK) {
        fprintf(stderr, "test image rejected by the GGUF reader: %s\n", smelt_last_error());
        free(w.p);
        return SMELT_ERR_INTERNAL;
    }
    st = smelt_tok_from_gguf(g, out);
    smelt_gguf_free(g);
    free(w.p);
    return st;
}

static void test_validation(void) {
    struct smelt_tok *t = NULL;
    enum smelt_status st = build_and_load(BAD_NONE, &t);
    CHECKF(st == SMELT_OK, "valid image: %s", smelt_last_error());
    if (t) {
        CHECK(smelt_tok_n_vocab(t) == 8);
        CHECK(smelt_tok_bos(t) == 1 && smelt_tok_eos(t) == 2);
        CHECK(smelt_tok_add_bos(t) && !smelt_tok_add_eos(t));
        CHECK(smelt_tok_is_eog(t, 2) && smelt_tok_is_eog(t, 7) && !smelt_tok_is_eog(t, 3));
        CHECK(!smelt_tok_is_eog(t, -1) && !smelt_tok_is_eog(t, 8));
        CHECK(smelt_tok_type(t, 1) == SMELT_TOKTYPE_CONTROL && smelt_tok_type(t, 3) == SMELT_TOKTYPE_NORMAL);
        CHECK(smelt_tok_find(t, "ab", 2) == 5 && smelt_tok_find(t, "zz", 2) == -1);
        CHECK(smelt_tok_text(t, 5) && strcmp(smelt_tok_text(t, 5), "ab") == 0 && smelt_tok_text(t, 8) == NULL);
        /* SPM with control-token parsing */
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(smelt_tok_encode(t, "ab<|im_end|>ab", 14, true, true, &ids, &n) == SMELT_OK);
        /* BOS, "▁" (no byte tokens: unknown x3), "ab", <|im_end|>, and again a space prefix
         * after the special token (llama.cpp), "ab" */
        int32_t want[] = {1, 0, 0, 0, 5, 7, 0, 0, 0, 5};
        CHECKF(n == 10 && memcmp(ids, want, sizeof want) == 0, "n=%zu", n);
        bool has_im_end = false;
        for (size_t i = 0; i < n; i++) has_im_end |= ids[i] == 7;
        CHECK(has_im_end);
        free(ids);
        CHECK(smelt_tok_encode(t, "ab<|im_end|>ab", 14, false, false, &ids, &n) == SMELT_OK);
        for (size_t i = 0; i < n; i++) CHECK(ids[i] != 7 && ids[i] != 1);
        free(ids);
        char buf[16];
        size_t pl;
        CHECK(smelt_tok_piece(t, 7, false, buf, sizeof buf, &pl) == SMELT_OK && pl == 0);
        CHECK(smelt_tok_piece(t, 7, true, buf, sizeof buf, &pl) == SMELT_OK && pl == 10 && !memcmp(buf, "<|im_end|>", 10));
        CHECK(smelt_tok_piece(t, 7, true, buf, 3, &pl) == SMELT_OK && pl == 10); /* truncated, full length reported */
        CHECK(smelt_tok_piece(t, 99, true, buf, sizeof buf, &pl) == SMELT_ERR_INVALID_ARG);
        smelt_tok_free(t);
    }
    static const struct {
        int bad;
        enum smelt_status st;
        const char *msg;
    } cases[] = {
        {BAD_TYPES_ELEM, SMELT_ERR_FORMAT, "tokenizer.ggml.token_type must be an array of INT32 with 8 entries"},
        {BAD_TYPES_LEN, SMELT_ERR_FORMAT, "found INT32[7]"},
        {BAD_SCORES_ELEM, SMELT_ERR_FORMAT, "tokenizer.ggml.scores must be an array of FLOAT32 with 8 entries (one per token), found FLOAT64[8]"},
        {BAD_TOKENS_ELEM, SMELT_ERR_FORMAT, "tokenizer.ggml.tokens must be an array of STRING, found INT32"},
        {BAD_BOS_RANGE, SMELT_ERR_FORMAT, "tokenizer.ggml.bos_token_id = 8 is outside the vocabulary"},
        {BAD_MODEL, SMELT_ERR_UNSUPPORTED, "unknown tokenizer.ggml.model 'rwkv'"},
        {BAD_MERGES_ELEM, SMELT_ERR_FORMAT, "tokenizer.ggml.merges must be an array of STRING, found INT32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t = (struct smelt_tok *)1;
        st = build_and_load(cases[i].bad, &t);
        CHECKF(st == cases[i].st, "bad case %d: status %s (%s)", cases[i].bad, smelt_status_str(st), smelt_last_error());
        CHECK(t == NULL);
        CHECKF(strstr(smelt_last_error(), cases[i].msg) != NULL, "bad case %d: message '%s' lacks '%s'", cases[i].bad,
               smelt_last_error(), cases[i].msg);
    }
}

/* every pre-tokenizer regex set compiles; spot checks of the splits */
struct words {
    char buf[1024];
    size_t n;
};
static enum smelt_status collect(const char *w, size_t n, void *ud) {
    struct words *ws = ud;
    if (ws->n + n + 1 < sizeof ws->buf) {
        memcpy(ws->buf + ws->n, w, n);
        ws->n += n;
        ws->buf[ws->n++] = '|';
        ws->buf[ws->n] = 0;
    }
    return SMELT_OK;
}

static void test_pretok(void) {
    static const char *names[] = {"default", "llama3", "llama-bpe", "dbrx", "glm4", "deepseek-llm", "deepseek-coder",
                                  "deepseek-v3", "falcon", "mpt", "olmo", "gpt-2", "phi-2", "starcoder", "refact",
                                  "command-r", "smollm", "qwen2", "stablelm2", "gpt-4o", "llama4", "tekken",
                                  "poro-chat", "bloom", "viking", "exaone", "chatglm-bpe"};
    static const struct {
        const char *pre, *text, *want;
    } splits[] = {
        {"llama3", "Hello world 12345 don't\n\n  x", "Hello| world| |123|45| don|'t|\n\n| | x|"},
        {"qwen2", "ab 12 CD's", "ab| |1|2| CD|'s|"},
        {"gpt-2", "Hello world 12345 don't  x", "Hello| world| 12345| don|'t| | x|"},
        {"smollm", "abc 123 x", "abc| |1|2|3| x|"},
        {"gpt-4o", "HelloWorld ABCdef 1234", "Hello|World| ABCdef| |123|4|"},
        {"tekken", "HelloWorld 12", "Hello|World| |1|2|"},
        {"deepseek-llm", "ab  \n", "ab|  |\n|"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct tok_pretok *p = NULL;
        bool im, cs = true, bn;
        int ab;
        enum smelt_status st = tok_pretok_new(names[i], &p, &im, &cs, &ab, &bn);
        CHECKF(st == SMELT_OK, "pre-tokenizer %s: %s", names[i], smelt_last_error());
        tok_pretok_free(p);
    }
    struct tok_pretok *p = NULL;
    bool im, cs = true, bn;
    int ab;
    CHECK(tok_pretok_new("no-such-pre", &p, &im, &cs, &ab, &bn) == SMELT_ERR_UNSUPPORTED && p == NULL);
    CHECK(strstr(smelt_last_error(), "no-such-pre") != NULL);
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        CHECK(tok_pretok_new(splits[i].pre, &p, &im, &cs, &ab, &bn) == SMELT_OK);
        struct words ws = {{0}, 0};
        CHECK(tok_pretok_split(p, splits[i].text, strlen(splits[i].text), collect, &ws) == SMELT_OK);
        CHECKF(strcmp(ws.buf, splits[i].want) == 0, "%s: '%s' -> '%s', want '%s'", splits[i].pre, splits[i].text, ws.buf,
               splits[i].want);
        tok_pretok_free(p);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s VOCAB_DIR CORPUS\n", argv[0]);
        return 2;
    }
    g_vocab_dir = argv[1];
    size_t corpus_len;
    char *corpus = tt_read_file(argv[2], &corpus_len);
    if (!corpus) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    struct smelt_gguf *g1, *g2;
    struct smelt_tok *bpe = load("gpt-2", &g1), *spm = load("llama-spm", &g2);
    /* the tokenizer is independent of the GGUF object */
    smelt_gguf_free(g1);
    smelt_gguf_free(g2);

    test_invalid_utf8(bpe);
    test_invalid_utf8(spm);
    test_detok(bpe, corpus, corpus_len, "gpt-2");
    test_detok(spm, corpus, corpus_len, "llama-spm");
    test_detok_invalid(bpe);
    test_large(bpe, corpus, corpus_len, "gpt-2");
    test_large(spm, corpus, corpus_len, "llama-spm");
    test_validation();
    test_pretok();

    /* EOG and special ids of real vocabularies */
    CHECK(smelt_tok_is_eog(bpe, 50256) && smelt_tok_eos(bpe) == 50256);
    CHECK(smelt_tok_bos(spm) == 1 && smelt_tok_eos(spm) == 2 && smelt_tok_is_eog(spm, 2) && !smelt_tok_is_eog(spm, 1));
    CHECK(!smelt_tok_add_bos(bpe) && smelt_tok_add_bos(spm));

    smelt_tok_free(bpe);
    smelt_tok_free(spm);
    free(corpus);
    return CHECK_EXIT();
}

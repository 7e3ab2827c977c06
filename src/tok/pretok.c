/* Byte-level BPE pre-tokenizer: the regex lists llama.cpp uses per
 * tokenizer.ggml.pre (llm_tokenizer_bpe in llama-vocab.cpp), run with PCRE2 + JIT.
 *
 * Semantics (llama.cpp unicode_regex_split): the regexes are applied in order;
 * the first splits the whole text into chunks (each match is a chunk, and each
 * run of unmatched text between matches is a chunk of its own); every following
 * regex splits each chunk independently, seeing only that chunk (so lookaheads
 * such as \s+(?!\S) stop at the chunk end).
 *
 * llama.cpp's \s is the Unicode White_Space property (unicode_set_whitespace);
 * each \s / \S of the patterns below is rewritten to that explicit class so that
 * the result does not depend on PCRE2's own \s definition. \p{L}, \p{N}, \p{P},
 * \p{M}, \p{S} are Unicode general categories in both. Where llama.cpp has a
 * hand-written splitter for a pattern (GPT-2, Llama 3, Qwen2) it implements the
 * same regex, so running the regex gives the same words.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tok/tok_internal.h"

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3                                                                                              \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                               \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_UPPER "((?=[\\p{L}])([^a-z]))"
#define RX_LOWER "((?=[\\p{L}])([^A-Z]))"
#define RX_GPT4O                                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?" RX_UPPER "*" RX_LOWER "+" RX_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" RX_UPPER "+" RX_LOWER \
    "*" RX_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_TEKKEN                                                                                              \
    "[^\\r\\n\\p{L}\\p{N}]?" RX_UPPER "*" RX_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" RX_UPPER "+" RX_LOWER            \
    "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+" /* [一-龥ࠀ-一가-퟿]+ */
#define RX_PORO " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"

static const char *const k_rx_gpt2[] = {RX_GPT2, NULL};
static const char *const k_rx_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const k_rx_starcoder[] = {"\\p{N}", RX_GPT2, NULL};
static const char *const k_rx_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const k_rx_llama3[] = {RX_LLAMA3, NULL};
static const char *const k_rx_qwen2[] = {RX_QWEN2, NULL};
static const char *const k_rx_gpt4o[] = {RX_GPT4O, NULL};
static const char *const k_rx_tekken[] = {RX_TEKKEN, NULL};
static const char *const k_rx_deepseek_coder[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}", NULL};
static const char *const k_rx_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93\xca\x95-"
    "\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce"
    "\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-"
    "\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab"
    "\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-"
    "\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-"
    "\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-"
    "\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4"
    "\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d"
    "\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-"
    "\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-"
    "\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b"
    "\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-"
    "\xef\xac\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0\x90"
    "\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0"
    "\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
    "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
    "\\s+$",
    RX_CJK,
    "\\p{N}+",
    NULL};
static const char *const k_rx_deepseek3[] = {
    "\\p{N}{1,3}",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+", /* [一-龥぀-ゟ゠-ヿ]+ */
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
    "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const k_rx_poro[] = {RX_PORO, NULL};
static const char *const k_rx_viking[] = {RX_PORO, "\\p{N}", NULL};

enum { F_IGNORE_MERGES = 1, F_NO_CLEAN = 2, F_ADD_BOS = 4, F_BOS_NULL = 8 };

/* tokenizer.ggml.pre -> regexes and flags, as in llama_vocab::impl::load. */
static const struct {
    const char *name;
    const char *const *rx;
    int flags;
} k_pre[] = {
    {"default", k_rx_default, 0},
    {"llama3", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon-h1", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"pixtral", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"midm-2.0", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"lfm2", k_rx_llama3, F_IGNORE_MERGES | F_ADD_BOS},
    {"dbrx", k_rx_llama3, 0},
    {"smaug-bpe", k_rx_llama3, 0},
    {"chatglm-bpe", k_rx_llama3, F_BOS_NULL},
    {"glm4", k_rx_llama3, F_BOS_NULL | F_IGNORE_MERGES},
    {"deepseek-llm", k_rx_deepseek_llm, F_NO_CLEAN},
    {"deepseek-coder", k_rx_deepseek_coder, F_NO_CLEAN},
    {"deepseek-v3", k_rx_deepseek3, F_NO_CLEAN},
    {"falcon", k_rx_falcon, 0},
    {"mpt", k_rx_gpt2, 0},
    {"olmo", k_rx_gpt2, 0},
    {"jais", k_rx_gpt2, 0},
    {"trillion", k_rx_gpt2, F_NO_CLEAN},
    {"gpt-2", k_rx_gpt2, 0},
    {"phi-2", k_rx_gpt2, 0},
    {"jina-es", k_rx_gpt2, 0},
    {"jina-de", k_rx_gpt2, 0},
    {"gigachat", k_rx_gpt2, 0},
    {"jina-v2-es", k_rx_gpt2, 0},
    {"jina-v2-de", k_rx_gpt2, 0},
    {"a.x-4.0", k_rx_gpt2, 0},
    {"mellum", k_rx_gpt2, 0},
    {"modern-bert", k_rx_gpt2, 0},
    {"exaone4", k_rx_gpt2, 0},
    {"jina-v1-en", k_rx_gpt2, 0},
    {"jina-v2-code", k_rx_gpt2, 0},
    {"roberta-bpe", k_rx_gpt2, 0},
    {"starcoder", k_rx_starcoder, 0},
    {"refact", k_rx_starcoder, 0},
    {"command-r", k_rx_starcoder, F_NO_CLEAN},
    {"smollm", k_rx_starcoder, F_NO_CLEAN},
    {"codeshell", k_rx_starcoder, 0},
    {"exaone", k_rx_starcoder, 0},
    {"minerva-7b", k_rx_starcoder, 0},
    {"qwen2", k_rx_qwen2, F_NO_CLEAN},
    {"deepseek-r1-qwen", k_rx_qwen2, F_NO_CLEAN},
    {"kormo", k_rx_qwen2, F_NO_CLEAN},
    {"megrez", k_rx_qwen2, 0},
    {"stablelm2", k_rx_qwen2, 0},
    {"gpt-4o", k_rx_gpt4o, F_NO_CLEAN},
    {"llama4", k_rx_gpt4o, F_NO_CLEAN},
    {"tekken", k_rx_tekken, F_NO_CLEAN | F_IGNORE_MERGES | F_ADD_BOS},
    {"poro-chat", k_rx_poro, F_NO_CLEAN},
    {"bloom", k_rx_poro, 0},
    {"gpt3-finnish", k_rx_poro, 0},
    {"viking", k_rx_viking, F_NO_CLEAN},
};

/* Unicode White_Space (llama.cpp unicode_set_whitespace), as a class body. */
#define WS_BODY                                                                                                \
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

#define MAX_RX 8

struct tok_pretok {
    size_t n_rx;
    pcre2_code *rx[MAX_RX];
};

/* Rewrite \s and \S to the explicit White_Space class. Returns malloc'ed pattern. */
static char *rewrite_ws(const char *p) {
    size_t n = strlen(p), cap = n * 8 + 1 + 16 * sizeof WS_BODY;
    char *out = smelt_malloc(cap);
    if (!out) return NULL;
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            const char *rep = NULL;
            if (d == 's') rep = in_class ? WS_BODY : "[" WS_BODY "]";
            else if (d == 'S' && !in_class) rep = "[^" WS_BODY "]";
            if (rep) {
                size_t l = strlen(rep);
                if (o + l + 1 > cap) break;
                memcpy(out + o, rep, l);
                o += l;
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) in_class = true;
        else if (c == ']' && in_class) in_class = false;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

void tok_pretok_free(struct tok_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_rx; i++) pcre2_code_free(p->rx[i]);
    free(p);
}

enum smelt_status tok_pretok_new(const char *pre_name, struct tok_pretok **out, bool *ignore_merges,
                                 bool *clean_spaces, int *add_bos_default, bool *bos_null) {
    *out = NULL;
    size_t k;
    for (k = 0; k < sizeof k_pre / sizeof k_pre[0]; k++)
        if (strcmp(k_pre[k].name, pre_name) == 0) break;
    if (k == sizeof k_pre / sizeof k_pre[0])
        return smelt_err(SMELT_ERR_UNSUPPORTED, "tokenizer: unknown pre-tokenizer tokenizer.ggml.pre = '%s'", pre_name);
    struct tok_pretok *p = smelt_calloc(1, sizeof *p);
    if (!p) return SMELT_ERR_NOMEM;
    for (const char *const *rx = k_pre[k].rx; *rx; rx++) {
        if (p->n_rx == MAX_RX) {
            tok_pretok_free(p);
            return smelt_err(SMELT_ERR_INTERNAL, "tokenizer: too many regexes for '%s'", pre_name);
        }
        char *pat = rewrite_ws(*rx);
        if (!pat) {
            tok_pretok_free(p);
            return SMELT_ERR_NOMEM;
        }
        int err;
        PCRE2_SIZE erroff;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &erroff, NULL);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            enum smelt_status st = smelt_err(SMELT_ERR_INTERNAL,
                                             "tokenizer: pre-tokenizer '%s' regex %zu does not compile at %zu: %s",
                                             pre_name, p->n_rx, (size_t)erroff, (const char *)msg);
            free(pat);
            tok_pretok_free(p);
            return st;
        }
        free(pat);
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
        p->rx[p->n_rx++] = code;
    }
    int f = k_pre[k].flags;
    *ignore_merges = (f & F_IGNORE_MERGES) != 0;
    if (f & F_NO_CLEAN) *clean_spaces = false;
    *add_bos_default = (f & F_ADD_BOS) != 0;
    *bos_null = (f & F_BOS_NULL) != 0;
    *out = p;
    return SMELT_OK;
}

/* chunk list: [start, end) byte ranges */
struct chunks {
    size_t *v; /* pairs */
    size_t n, cap;
};

static bool chunks_push(struct chunks *c, size_t s, size_t e) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        size_t *v = smelt_realloc(c->v, nc * 2 * sizeof *v);
        if (!v) return false;
        c->v = v;
        c->cap = nc;
    }
    c->v[2 * c->n] = s;
    c->v[2 * c->n + 1] = e;
    c->n++;
    return true;
}

static size_t utf8_next(const char *s, size_t i, size_t end) {
    i++;
    while (i < end && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

enum smelt_status tok_pretok_split(const struct tok_pretok *p, const char *text, size_t len,
                                   enum smelt_status (*fn)(const char *w, size_t n, void *ud), void *ud) {
    enum smelt_status st = SMELT_OK;
    struct chunks a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    pcre2_match_context *mc = NULL;
    pcre2_jit_stack *js = NULL;
    if (len == 0) return SMELT_OK;
    if (!chunks_push(&a, 0, len)) return SMELT_ERR_NOMEM;
    mc = pcre2_match_context_create(NULL);
    js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!mc || !js) {
        st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: cannot allocate regex match state");
        goto done;
    }
    pcre2_jit_stack_assign(mc, NULL, js);
    for (size_t r = 0; r < p->n_rx; r++) {
        pcre2_match_data_free(md);
        md = pcre2_match_data_create_from_pattern(p->rx[r], NULL);
        if (!md) {
            st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: cannot allocate regex match data");
            goto done;
        }
        b.n = 0;
        for (size_t c = 0; c < a.n; c++) {
            size_t cs = a.v[2 * c], ce = a.v[2 * c + 1];
            const char *sub = text + cs;
            size_t sublen = ce - cs, pos = 0, prev = 0;
            while (pos < sublen) {
                int rc = pcre2_match(p->rx[r], (PCRE2_SPTR)sub, sublen, pos, PCRE2_NO_UTF_CHECK, md, mc);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    st = smelt_err(SMELT_ERR_RANGE, "tokenizer: pre-tokenizer regex failed at byte %zu: %s", cs + pos,
                                   (const char *)msg);
                    goto done;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) { /* empty match: skip one code point */
                    pos = utf8_next(sub, ms, sublen);
                    continue;
                }
                if (ms > prev && !chunks_push(&b, cs + prev, cs + ms)) goto nomem;
                if (!chunks_push(&b, cs + ms, cs + me)) goto nomem;
                prev = pos = me;
            }
            if (prev < sublen && !chunks_push(&b, cs + prev, ce)) goto nomem;
        }
        struct chunks tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t c = 0; c < a.n; c++) {
        st = fn(text + a.v[2 * c], a.v[2 * c + 1] - a.v[2 * c], ud);
        if (st != SMELT_OK) goto done;
    }
    goto done;
nomem:
    st = smelt_err(SMELT_ERR_NOMEM, "tokenizer: out of memory splitting text");
done:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_jit_stack_free(js);
    free(a.v);
    free(b.v);
    return st;
}

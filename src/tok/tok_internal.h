/* Internal tokenizer state shared by the files of src/tok/ (not the chat templates).
 *
 * Algorithms follow llama.cpp's llama-vocab.cpp / unicode.cpp so that token ids
 * are identical:
 *   vocab.c    GGUF loading and validation, token attributes, special ids, EOG set,
 *              string -> id hash map, BPE merge ranks, token pieces
 *   pretok.c   byte-level BPE pre-tokenizer regexes (PCRE2 + JIT) per tokenizer.ggml.pre
 *   bpe.c      byte-level BPE (merge by rank inside each pre-token word)
 *   spm.c      SentencePiece-style merging by score with <0xNN> byte fallback
 *   encode.c   UTF-8 validation, special-token partition, BOS/EOS, dispatch
 *   detok.c    decode and the incremental (streaming) detokenizer
 */
#ifndef SMELT_TOK_INTERNAL_H
#define SMELT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/tok.h"

/* llama.cpp token attribute bit flags (llama_token_attr). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

enum tok_kind { TOK_KIND_BPE = 1, TOK_KIND_SPM = 2 };

/* Open-addressing hash map from byte strings (not owned) to int32 values. */
struct tok_strmap {
    uint32_t cap;    /* power of two */
    uint32_t n;
    uint32_t *slots; /* index+1 into keys/vals, 0 = empty */
    const char **keys;
    uint32_t *lens;
    int32_t *vals;
};

struct tok_entry {
    const char *text; /* NUL-terminated, in t->text_arena */
    uint32_t len;
    uint32_t attr;    /* TOK_ATTR_* */
    float score;
    int32_t type;     /* tokenizer.ggml.token_type as stored (0 if absent) */
};

struct tok_pretok; /* pretok.c */

struct smelt_tok {
    enum tok_kind kind;
    int32_t n_vocab;
    struct tok_entry *tokens;
    char *text_arena;
    struct tok_strmap tok_map;   /* token text -> id (last id wins, as llama.cpp) */

    /* BPE */
    struct tok_strmap merge_map; /* "left\xffright" -> rank (first wins) */
    char *merge_arena;
    struct tok_pretok *pre;
    bool ignore_merges;
    bool clean_spaces;

    /* SPM */
    bool add_space_prefix;

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos;
    uint8_t *eog;                /* [n_vocab] 1 = end of generation */

    /* special-token partition: ids with CONTROL|USER_DEFINED|UNKNOWN, longest text first */
    int32_t *special;
    size_t n_special;
    uint8_t special_first[32];   /* bitmap of first bytes of special texts */
    uint32_t *special_lens;      /* distinct special text lengths */
    size_t n_special_lens;
};

/* hash map */
uint64_t tok_hash(const void *p, size_t n);
bool tok_strmap_init(struct tok_strmap *m, size_t n_expected);
void tok_strmap_free(struct tok_strmap *m);
/* Insert; if the key exists, overwrite when `overwrite`, else keep. false on OOM. */
bool tok_strmap_put(struct tok_strmap *m, const char *key, uint32_t len, int32_t val, bool overwrite);
/* Value or -1. */
int32_t tok_strmap_get(const struct tok_strmap *m, const char *key, size_t len);

/* GPT-2 byte <-> printable code point mapping. */
uint32_t tok_byte_to_cpt(uint8_t b);
/* Byte of a mapped code point, or -1 if cp is not in the mapping. */
int tok_cpt_to_byte(uint32_t cp);
/* UTF-8 encode cp into out (>= 4 bytes); returns length. */
size_t tok_utf8_put(uint32_t cp, char *out);
/* Length of a valid UTF-8 prefix: returns the offset of the first invalid byte, or n. */
size_t tok_utf8_valid_prefix(const char *s, size_t n);

/* Growable int32 vector with a cap. */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};
enum smelt_status tok_ids_push(struct tok_ids *ids, int32_t id);

/* Pre-tokenizer (pretok.c). */
enum smelt_status tok_pretok_new(const char *pre_name, struct tok_pretok **out, bool *ignore_merges,
                                 bool *clean_spaces, int *add_bos_default, bool *bos_null);
void tok_pretok_free(struct tok_pretok *p);
/* Split valid UTF-8 text into words; calls fn(word, len, ud) for each. */
enum smelt_status tok_pretok_split(const struct tok_pretok *p, const char *text, size_t len,
                                   enum smelt_status (*fn)(const char *w, size_t n, void *ud), void *ud);

/* Tokenizers for one raw-text fragment (already valid UTF-8). */
enum smelt_status tok_bpe_encode(const struct smelt_tok *t, const char *text, size_t len, struct tok_ids *out);
/* SPM: prefix_space prepends " "; spaces become U+2581 before merging. */
enum smelt_status tok_spm_encode(const struct smelt_tok *t, const char *text, size_t len, bool prefix_space,
                                struct tok_ids *out);

#endif

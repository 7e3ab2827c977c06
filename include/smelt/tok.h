/* smelt: tokenizers, incremental detokenizer and chat templates.
 *
 * A tokenizer is built from the `tokenizer.*` keys of a GGUF file:
 *   tokenizer.ggml.model   "gpt2" (byte-level BPE) or "llama" (SentencePiece-style)
 *   tokenizer.ggml.pre     pre-tokenizer family for BPE ("smollm", "gpt-2", ...)
 *   tokenizer.ggml.tokens / token_type / scores / merges
 *   tokenizer.ggml.bos_token_id, eos_token_id, eot_token_id, eom_token_id,
 *   unknown_token_id, padding_token_id, add_bos_token, add_eos_token,
 *   add_space_prefix
 * Token texts are stored as in the GGUF file (byte-level BPE maps bytes to
 * printable code points, as GPT-2 does); smelt_tok_piece returns the raw bytes.
 *
 * Ownership: a smelt_tok is independent of the smelt_gguf it was built from
 * (it copies what it needs), so the GGUF may be freed afterwards. Arrays
 * returned through out-parameters are malloc'ed and owned by the caller (free()).
 * A smelt_tok is immutable after creation and may be shared between threads.
 */
#ifndef SMELT_TOK_H
#define SMELT_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/gguf.h"
#include "smelt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct smelt_tok;

/* llama.cpp's token attribute values (tokenizer.ggml.token_type). */
enum smelt_tok_type {
    SMELT_TOKTYPE_UNDEFINED = 0,
    SMELT_TOKTYPE_NORMAL = 1,
    SMELT_TOKTYPE_UNKNOWN = 2,
    SMELT_TOKTYPE_CONTROL = 3,
    SMELT_TOKTYPE_USER_DEFINED = 4,
    SMELT_TOKTYPE_UNUSED = 5,
    SMELT_TOKTYPE_BYTE = 6,
};

/* Build from GGUF metadata. Errors: SMELT_ERR_UNSUPPORTED for an unknown
 * tokenizer model or pre-tokenizer (message names it; WordPiece "bert" is
 * refused this way), SMELT_ERR_FORMAT for arrays of the wrong element type or
 * with a length different from the vocabulary size, ids out of range, etc. */
enum smelt_status smelt_tok_from_gguf(const struct smelt_gguf *g, struct smelt_tok **out);
void smelt_tok_free(struct smelt_tok *t); /* accepts NULL */

int32_t smelt_tok_n_vocab(const struct smelt_tok *t);
int32_t smelt_tok_bos(const struct smelt_tok *t); /* -1 if none */
int32_t smelt_tok_eos(const struct smelt_tok *t); /* -1 if none */
bool smelt_tok_add_bos(const struct smelt_tok *t);
bool smelt_tok_add_eos(const struct smelt_tok *t);
/* End-of-generation: eos, eot, eom and the control tokens llama.cpp treats as
 * end of generation (e.g. "<|im_end|>", "<end_of_turn>", "<|eot_id|>"). */
bool smelt_tok_is_eog(const struct smelt_tok *t, int32_t id);
enum smelt_tok_type smelt_tok_type(const struct smelt_tok *t, int32_t id);
/* Token text as stored in the vocabulary (NUL-terminated), NULL if out of range. */
const char *smelt_tok_text(const struct smelt_tok *t, int32_t id);
/* Id of an exact vocabulary string, -1 if absent. */
int32_t smelt_tok_find(const struct smelt_tok *t, const char *text, size_t len);

/* Encode UTF-8 text. add_special: add BOS/EOS as the metadata says.
 * parse_special: text equal to a control/user-defined token is emitted as that
 * token (llama.cpp's parse_special). Invalid UTF-8 -> SMELT_ERR_FORMAT naming
 * the byte offset. *ids is malloc'ed (caller frees), *n its length. */
enum smelt_status smelt_tok_encode(const struct smelt_tok *t, const char *text, size_t len,
                                   bool add_special, bool parse_special, int32_t **ids, size_t *n);

/* Raw bytes of one token (byte-level decoding undone, "▁" -> " ", <0xNN> -> byte).
 * special: render control tokens' text (otherwise they give zero bytes).
 * Writes at most cap bytes, returns the full length in *len. */
enum smelt_status smelt_tok_piece(const struct smelt_tok *t, int32_t id, bool special, char *buf,
                                  size_t cap, size_t *len);

/* Decode a whole sequence to a malloc'ed NUL-terminated string: the join of
 * the pieces (smelt_tok_piece), except that, as in llama.cpp's detokenizer,
 * one leading space of the first piece is dropped when the vocabulary prepends
 * a space while encoding (SentencePiece with add_space_prefix), so that
 * decode(encode(x, add_special=false)) == x. Invalid UTF-8 produced by the
 * token bytes is kept as-is. llama.cpp's clean_up_tokenization_spaces
 * rewriting (" ." -> ".") is not applied. */
enum smelt_status smelt_tok_decode(const struct smelt_tok *t, const int32_t *ids, size_t n,
                                   bool special, char **out, size_t *len);

/* Incremental detokenizer for streaming: push tokens one at a time and get back
 * only complete UTF-8 characters; bytes of an unfinished sequence are held until
 * it completes. An impossible sequence is emitted as U+FFFD. Handles the
 * SentencePiece leading-space rule of the first token. */
struct smelt_detok;
enum smelt_status smelt_detok_new(const struct smelt_tok *t, bool special, struct smelt_detok **out);
void smelt_detok_free(struct smelt_detok *d);
/* *text points into an internal buffer valid until the next call on d. */
enum smelt_status smelt_detok_push(struct smelt_detok *d, int32_t id, const char **text, size_t *len);
/* Emit whatever is held (incomplete sequences as U+FFFD) and reset. */
enum smelt_status smelt_detok_flush(struct smelt_detok *d, const char **text, size_t *len);

/* ---- chat templates ----------------------------------------------------
 * A Jinja subset sufficient for the chat templates of supported models,
 * rendering byte-identical to Python jinja2 (with the settings used by
 * HF transformers: trim_blocks=True, lstrip_blocks=True). */
struct smelt_chat_msg {
    const char *role;
    const char *content;
};

struct smelt_tmpl;
/* Parse a template; syntax errors -> SMELT_ERR_FORMAT with line/column. */
enum smelt_status smelt_tmpl_parse(const char *src, size_t len, struct smelt_tmpl **out);
void smelt_tmpl_free(struct smelt_tmpl *t);
/* Render with variables: messages (a list of {role, content}; content NULL
 * renders as None), add_generation_prompt, bos_token, eos_token (NULL: left
 * undefined). Template runtime errors (raise_exception -- its message is kept
 * in smelt_last_error() --, type errors, undefined access) -> SMELT_ERR_FORMAT;
 * a resource cap (output 32 MiB, memory, evaluation steps, macro recursion)
 * -> SMELT_ERR_RANGE or SMELT_ERR_NOMEM. Invalid UTF-8 in any input string
 * -> SMELT_ERR_FORMAT. *out malloc'ed (caller frees), NUL-terminated; *len
 * (if len != NULL) its length (authoritative: a template can print a NUL with
 * '\0'). The template may be shared between threads.
 *
 * Semantics are those of Hugging Face transformers' apply_chat_template:
 * `tojson` is json.dumps(x, ensure_ascii=False) (keys unsorted, no HTML
 * escaping; options ensure_ascii, indent, separators, sort_keys); break and
 * continue are available; {% generation %} blocks render their body;
 * strftime_now is not provided. */
enum smelt_status smelt_tmpl_render(const struct smelt_tmpl *t, const struct smelt_chat_msg *msgs,
                                    size_t n_msgs, bool add_generation_prompt, const char *bos_token,
                                    const char *eos_token, char **out, size_t *len);

/* Render with an arbitrary context: `json` (json_len bytes) is a JSON object
 * whose keys become the template's variables (messages with tool_calls,
 * tools, add_generation_prompt, bos_token, ...). JSON numbers without a
 * fractional part become integers. Errors as smelt_tmpl_render, plus
 * SMELT_ERR_FORMAT for invalid JSON or a non-object root. */
enum smelt_status smelt_tmpl_render_json(const struct smelt_tmpl *t, const char *json,
                                         size_t json_len, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif

/* smelt: models, inference contexts, batches and the multi-sequence KV cache.
 *
 * Three lifetimes are kept apart:
 *   - struct smelt_model: hyperparameters, tokenizer, chat template and weights
 *     (read-only views into the mmap'ed GGUF). Immutable after load; one model
 *     can back several contexts.
 *   - struct smelt_ctx: working state for inference: the KV cache (several
 *     sequences), scratch buffers allocated once, a thread pool and the output
 *     logits. A context is used by one thread at a time.
 *   - struct smelt_batch: the caller's description of tokens to evaluate.
 *
 * Evaluation: smelt_decode() evaluates a batch of tokens that may belong to
 * several sequences at different positions. Entry i is (token[i], pos[i],
 * seq[i], logits[i]). Each token attends to the cached tokens of its sequence
 * with position <= its own (and within the sliding window where the
 * architecture has one), including tokens earlier in the same batch. After a
 * successful call, smelt_logits(ctx, i) returns the logits of entry i if its
 * logits flag was set. Evaluating (seq, pos) that is already cached replaces it.
 *
 * KV cache: cells hold one position each and may be shared by several
 * sequences (copying a prefix to another sequence shares the cells; nothing is
 * copied). The operations below are what continuous batching, prefix caching
 * and speculative decoding rollback are built on.
 */
#ifndef SMELT_MODEL_H
#define SMELT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/gguf.h"
#include "smelt/status.h"
#include "smelt/tok.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMELT_MAX_SEQ 64 /* sequence ids are 0..SMELT_MAX_SEQ-1 */

struct smelt_model;

/* Load a GGUF model (mmap). Errors name the file and the problem: unknown
 * architecture, missing tensor (by name), wrong shape, unsupported tensor type,
 * inconsistent hyperparameters, tokenizer problems. */
enum smelt_status smelt_model_load(const char *path, struct smelt_model **out);
void smelt_model_free(struct smelt_model *m); /* accepts NULL */

const char *smelt_model_arch(const struct smelt_model *m);
const char *smelt_model_name(const struct smelt_model *m); /* general.name or file name */
const struct smelt_tok *smelt_model_tok(const struct smelt_model *m);
const struct smelt_gguf *smelt_model_gguf(const struct smelt_model *m);
/* tokenizer.chat_template text, NULL if the model has none. */
const char *smelt_model_chat_template(const struct smelt_model *m);
int32_t smelt_model_n_vocab(const struct smelt_model *m);
int32_t smelt_model_n_ctx_train(const struct smelt_model *m);
int32_t smelt_model_n_embd(const struct smelt_model *m);
int32_t smelt_model_n_layer(const struct smelt_model *m);
uint64_t smelt_model_n_params(const struct smelt_model *m);
uint64_t smelt_model_size_bytes(const struct smelt_model *m); /* bytes of all tensors */

struct smelt_ctx_params {
    int32_t n_ctx;     /* KV cache cells (total over all sequences); 0 = min(4096, trained ctx) */
    int32_t n_batch;   /* max tokens per internal forward chunk; default 512 */
    int32_t n_threads; /* default: number of online CPUs */
};
void smelt_ctx_params_default(struct smelt_ctx_params *p);

struct smelt_ctx;
enum smelt_status smelt_ctx_new(const struct smelt_model *m, const struct smelt_ctx_params *p,
                                struct smelt_ctx **out);
void smelt_ctx_free(struct smelt_ctx *c); /* accepts NULL */
int32_t smelt_ctx_n_ctx(const struct smelt_ctx *c);
int32_t smelt_ctx_n_threads(const struct smelt_ctx *c);
const struct smelt_model *smelt_ctx_model(const struct smelt_ctx *c);

/* Observer of the inputs of every weight matmul, for importance statistics
 * (smelt_imatrix): fn(ud, weights, n_weights, x, n_tok, n_in) receives the GGUF
 * names of the n_weights (1..3) distinct weight tensors that multiply this
 * input (attn_q/attn_k/attn_v share one, as do ffn_gate/ffn_up; a fused tensor
 * such as attn_qkv is named once) and the n_tok rows of n_in floats (after
 * norms, before activation quantization) and pos[t], the position of row t in
 * its sequence. Called during smelt_decode, from one
 * worker thread at a time, once per input and forward chunk; x and the name
 * array are valid only during the call (the names themselves live as long as
 * the model). For the output matrix only the rows that request logits are
 * passed. NULL removes it. */
typedef void (*smelt_act_hook_fn)(void *ud, const char *const *weights, int n_weights, const float *x,
                                  const int32_t *pos, int64_t n_tok, int64_t n_in);
void smelt_ctx_set_act_hook(struct smelt_ctx *c, smelt_act_hook_fn fn, void *ud);

struct smelt_batch {
    int32_t n;
    const int32_t *token; /* [n] */
    const int32_t *pos;   /* [n] */
    const int32_t *seq;   /* [n] sequence id, 0..SMELT_MAX_SEQ-1 */
    const int8_t *logits; /* [n] non-zero: return logits for this entry; NULL: last entry only */
};

/* Evaluate a batch. Errors: invalid token id / position / sequence id
 * (SMELT_ERR_INVALID_ARG naming the entry), KV cache full (SMELT_ERR_RANGE:
 * "context full: n_ctx=..."). On error the KV cache holds no cells of this batch. */
enum smelt_status smelt_decode(struct smelt_ctx *c, const struct smelt_batch *b);
/* Logits [n_vocab] of batch entry i of the last smelt_decode; NULL if that entry
 * had no logits flag. Valid until the next smelt_decode. */
const float *smelt_logits(const struct smelt_ctx *c, int32_t i);

/* KV cache operations. p1 < 0 means "to the end". */
void smelt_kv_clear(struct smelt_ctx *c);
/* Remove positions [p0, p1) of sequence seq (seq < 0: of all sequences). */
void smelt_kv_seq_rm(struct smelt_ctx *c, int32_t seq, int32_t p0, int32_t p1);
/* Make positions [p0, p1) of src also belong to dst (shared cells, no copy). */
void smelt_kv_seq_cp(struct smelt_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1);
/* Drop every sequence but seq. */
void smelt_kv_seq_keep(struct smelt_ctx *c, int32_t seq);
/* Highest cached position of seq, -1 if none. */
int32_t smelt_kv_seq_pos_max(const struct smelt_ctx *c, int32_t seq);
/* Number of cells in use. */
int32_t smelt_kv_used(const struct smelt_ctx *c);

#ifdef __cplusplus
}
#endif
#endif

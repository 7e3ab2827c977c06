/* smelt: text generation on top of the model/context API.
 *
 * smelt_generate evaluates a prompt through the batched path (one smelt_decode
 * call, chunked internally), then samples token by token, streaming text
 * through a callback that only ever receives complete UTF-8 characters and
 * never the text of a stop string.
 */
#ifndef SMELT_ENGINE_H
#define SMELT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/model.h"
#include "smelt/sample.h"
#include "smelt/status.h"
#include "smelt/tok.h"

#ifdef __cplusplus
extern "C" {
#endif

struct smelt_gen_params {
    int32_t n_predict;                 /* max new tokens; < 0: until EOG or context full */
    struct smelt_sampler_params sampling;
    const char *const *stop;           /* stop strings (may be NULL) */
    size_t n_stop;
    bool ignore_eos;                   /* keep going past end-of-generation tokens */
};
void smelt_gen_params_default(struct smelt_gen_params *p);

enum smelt_stop_reason {
    SMELT_STOP_LENGTH = 0, /* n_predict reached */
    SMELT_STOP_EOG,        /* end-of-generation token */
    SMELT_STOP_STRING,     /* a stop string matched */
    SMELT_STOP_CONTEXT,    /* the context is full */
    SMELT_STOP_CALLER,     /* the callback asked to stop */
};

struct smelt_gen_stats {
    int32_t n_prompt;
    int32_t n_gen;
    double t_prompt_s;  /* prompt evaluation time */
    double t_gen_s;     /* time of the generation loop */
    enum smelt_stop_reason reason;
    uint64_t seed;      /* the seed actually used */
};

/* Called with each piece of text (complete UTF-8). lp is the chosen token's
 * log-probabilities when sampling.n_logprobs > 0 (else NULL); token is the id
 * (-1 for a final flush). Return false to stop. */
typedef bool (*smelt_gen_cb)(void *user, const char *text, size_t len, int32_t token,
                             const struct smelt_token_logprobs *lp);

/* Generate a continuation of `prompt` in sequence `seq`, starting at position
 * pos0 (tokens at positions >= pos0 of that sequence are dropped from the KV
 * cache first). Errors: an empty prompt, a prompt that does not fit in the
 * context (SMELT_ERR_RANGE naming both sizes), invalid parameters. */
enum smelt_status smelt_generate(struct smelt_ctx *c, int32_t seq, int32_t pos0, const int32_t *prompt,
                                 size_t n_prompt, const struct smelt_gen_params *p, smelt_gen_cb cb, void *user,
                                 struct smelt_gen_stats *stats);

/* Render the model's chat template for messages (add_generation_prompt=true when
 * add_assistant). A model whose GGUF has no template gets a built-in one chosen
 * by architecture (Gemma's for gemma*, ChatML otherwise, as llama.cpp falls
 * back to ChatML). Template errors -> SMELT_ERR_FORMAT. *out malloc'ed. */
enum smelt_status smelt_chat_format(const struct smelt_model *m, const struct smelt_chat_msg *msgs, size_t n,
                                    bool add_assistant, char **out);

/* Tokenize a prompt the way generation needs it: special-token text parsed; a
 * BOS added when the tokenizer wants one and the text does not already start
 * with it. Invalid UTF-8 -> SMELT_ERR_FORMAT. *ids malloc'ed. */
enum smelt_status smelt_tokenize_prompt(const struct smelt_model *m, const char *text, size_t len, int32_t **ids,
                                        size_t *n);

#ifdef __cplusplus
}
#endif
#endif

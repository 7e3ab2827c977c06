/* smelt: sampling.
 *
 * A sampler turns a logits vector into a token. Chain order (llama.cpp's
 * default): repetition/presence/frequency penalties -> top-k -> top-p ->
 * min-p -> temperature -> draw from the seeded RNG. temp <= 0 means greedy
 * (argmax of the penalized logits; ties go to the lowest id). The RNG is
 * per-sampler and seeded, so the same seed and inputs give the same tokens.
 *
 * Log-probabilities reported are those of the model's distribution: log
 * softmax of the raw logits (before penalties and temperature).
 *
 * Exact semantics (llama.cpp's): repetition penalty on every token in the last
 * repeat_last_n accepted tokens: logit <= 0 ? logit * pen : logit / pen;
 * then logit -= presence * (count > 0) + frequency * count (OpenAI). top-k
 * keeps the k largest (ties to the lower id); top-p keeps the shortest
 * prefix (by descending logit) of the softmax over the survivors whose
 * cumulative probability reaches top_p; min-p keeps logits >= max + log(min_p);
 * temperature divides the surviving logits before the draw.
 * Non-finite logits: NaN counts as -inf and is never chosen while anything else
 * is available; +inf as the largest float. If every logit is -inf/NaN the
 * lowest id that is not NaN is returned (0 if all are NaN); nothing crashes.
 * Cost: O(n_vocab) per call plus O(n_vocab log top_k) for selection; sampling
 * allocates nothing (buffers are sized in smelt_sampler_new).
 *
 * Ownership: the sampler owns its buffers; it does not keep the logits pointer.
 */
#ifndef SMELT_SAMPLE_H
#define SMELT_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SMELT_MAX_TOP_LOGPROBS 20

struct smelt_sampler_params {
    float temp;              /* default 0.8; <= 0 greedy */
    int32_t top_k;           /* default 40; <= 0 disabled */
    float top_p;             /* default 0.95; >= 1 disabled */
    float min_p;             /* default 0.05; <= 0 disabled */
    float repeat_penalty;    /* default 1.0 (disabled) */
    int32_t repeat_last_n;   /* default 64; tokens of history the penalties look at; -1 = all */
    float presence_penalty;  /* default 0 */
    float frequency_penalty; /* default 0 */
    uint64_t seed;           /* default 0xFFFFFFFF... means "random": then a seed is drawn from the clock */
    int32_t n_logprobs;      /* number of top alternatives to report, 0..SMELT_MAX_TOP_LOGPROBS */
};

#define SMELT_SEED_RANDOM UINT64_MAX

void smelt_sampler_params_default(struct smelt_sampler_params *p);

struct smelt_logprob {
    int32_t token;
    float logprob;
};

struct smelt_token_logprobs {
    int32_t token;   /* the chosen token */
    float logprob;   /* its log-probability */
    int32_t n_top;   /* number of valid entries in top, sorted by logprob descending */
    struct smelt_logprob top[SMELT_MAX_TOP_LOGPROBS];
};

struct smelt_sampler;
/* Invalid parameters (negative temp is fine = greedy; top_p outside (0,1], NaN temp,
 * repeat_penalty <= 0, repeat_last_n < -1, non-finite presence/frequency penalties,
 * min_p outside [0,1], n_logprobs out of range, n_vocab <= 0) -> SMELT_ERR_INVALID_ARG. */
enum smelt_status smelt_sampler_new(const struct smelt_sampler_params *p, int32_t n_vocab,
                                    struct smelt_sampler **out);
void smelt_sampler_free(struct smelt_sampler *s);
/* The seed actually used (resolved if SMELT_SEED_RANDOM was given). */
uint64_t smelt_sampler_seed(const struct smelt_sampler *s);
/* Sample a token from logits[n_vocab]. lp may be NULL. Does not modify logits.
 * Does not record the token in the history: call smelt_sampler_accept for that. */
int32_t smelt_sampler_sample(struct smelt_sampler *s, const float *logits, struct smelt_token_logprobs *lp);
/* Record a token (prompt or generated) in the penalty history. Ids outside
 * [0, n_vocab) are ignored. No-op when no penalty is enabled. */
void smelt_sampler_accept(struct smelt_sampler *s, int32_t token);
/* Forget the history and reseed with the original seed. */
void smelt_sampler_reset(struct smelt_sampler *s);

/* ---- stop strings --------------------------------------------------------
 * Streaming matcher: feed generated text; it returns how many bytes can be
 * emitted safely (text that cannot be the start of a stop string) and whether a
 * stop string was hit (then the emitted text excludes the stop string and
 * everything after it).
 * Only the longest suffix that is a proper prefix of some stop string is held
 * back. When several stop strings match, the one that ends first wins (ties:
 * the longer one), so the result does not depend on how the text is split into
 * pushes. After a match every push returns true and emits nothing. Empty or
 * NULL stop strings -> SMELT_ERR_INVALID_ARG; n_stops == 0 passes text through.
 * The stop strings are copied. */
struct smelt_stop;
enum smelt_status smelt_stop_new(const char *const *stops, size_t n_stops, struct smelt_stop **out);
void smelt_stop_free(struct smelt_stop *s);
/* Append text. emit / emit_len: bytes now safe to output (pointer valid until the
 * next call). Returns true when a stop string matched. */
bool smelt_stop_push(struct smelt_stop *s, const char *text, size_t len, const char **emit, size_t *emit_len);
/* At the end of generation: flush held-back bytes. */
void smelt_stop_flush(struct smelt_stop *s, const char **emit, size_t *emit_len);

#ifdef __cplusplus
}
#endif
#endif

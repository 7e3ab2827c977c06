/* smelt: model quantization and importance matrices.
 *
 * smelt_quantize_file() rewrites a GGUF model with its weights in another
 * tensor type, like llama.cpp's llama-quantize: every key/value is copied,
 * general.file_type and general.quantization_version are set, tensors are
 * written in llama.cpp's order (tensors outside the blocks first, then block by
 * block, by name), and the per-tensor type follows llama.cpp's mixes for the
 * named file type ("Q4_K_M" etc.): more bits for attention V and FFN down in the
 * _M variants, Q6_K (or Q8_0) for the output matrix and for tied embeddings,
 * and a fallback type when a row is not a multiple of the type's block
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, IQ4_XS ->
 * IQ4_NL). 1-D tensors and norms keep their type.
 *
 * Quantizers: by default smelt's own scale search (weighted by the importance
 * matrix when one is given); with `reference` set, llama.cpp's reference
 * quantizers (the files then match llama-quantize without an imatrix byte for
 * byte).
 *
 * Error feedback (params.stats): with H = the second-moment matrix of a
 * weight's input (sum of x x^T over calibration tokens, damped by 1% of its
 * mean diagonal), the columns are quantized one block (32 or 256 columns) at a
 * time, left to right, and each block's rounding error is compensated in the
 * columns not yet quantized by the update that minimises the expected output
 * error (x.(w - q))^2 under H (GPTQ / optimal brain quantization, applied at
 * block granularity so that every type's own scale search picks the block's
 * scales, weighted by the block's conditional importances). Uses OpenBLAS.
 *
 * Importance matrices use llama.cpp's GGUF format (general.type = "imatrix";
 * per weight W: tensors "W.in_sum2" [n_in, n_mat] = sum over tokens of x_j^2 and
 * "W.counts" [1, n_mat] = number of tokens), so files from llama-imatrix and
 * from smelt_imatrix work with either tool. */
#ifndef SMELT_QUANTIZE_H
#define SMELT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "smelt/model.h"
#include "smelt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* llama.cpp's file type ids (general.file_type) for the names smelt accepts:
 * F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1
 * Q3_K_L Q3_K_M Q3_K_S Q2_K IQ4_NL IQ4_XS (case-insensitive). */
bool smelt_ftype_from_name(const char *name, uint32_t *ftype);
const char *smelt_ftype_name(uint32_t ftype); /* NULL for ids smelt does not produce */
/* Space-separated list of the accepted names, for help texts. */
const char *smelt_ftype_names(void);

/* Per-tensor progress: called after tensor i (0-based) of n was written. */
typedef void (*smelt_quantize_progress_fn)(void *ud, int64_t i, int64_t n, const char *name, uint32_t from_type,
                                           uint32_t to_type, uint64_t bytes_from, uint64_t bytes_to);

struct smelt_imatrix;
struct smelt_quantize_params {
    uint32_t ftype;              /* from smelt_ftype_from_name */
    const char *imatrix;         /* path of an importance matrix GGUF, or NULL */
    int n_threads;               /* 0: all CPUs */
    bool allow_requantize;       /* allow quantized -> other quantized type (loses quality) */
    bool pure;                   /* every weight gets the default type (no mixes; fallbacks still apply) */
    bool reference;              /* llama.cpp's reference quantizers instead of smelt's search (no imatrix) */
    bool dry_run;                /* check the input and choose the types, write nothing */
    bool imatrix_self;           /* the imatrix came from self-calibration: the type mix stays the one
                                    without an imatrix (same bits/weight), recorded as quantize.self_calibration */
    bool imatrix_temp;           /* the imatrix file is a temporary of this run (smelt quantize --calib): its
                                    name is not recorded (the dataset and the counts are) */
    struct smelt_imatrix *stats; /* NULL, or statistics with full second moments (smelt_imatrix_collect_full)
                                    of the same model: weights whose input has them are quantized with
                                    error feedback (GPTQ-style, see below); `imatrix` still names the
                                    diagonal file for the rest and for the type mix */
    float stats_shrink;          /* 0..1 (default 0): the error feedback multiplies the off-diagonal of the
                                    second moments by (1 - stats_shrink), a shrinkage of the covariance
                                    toward its diagonal for statistics from few tokens; `smelt quantize`
                                    uses SMELT_SELFCAL_SHRINK with self-calibration */
    int32_t output_type;         /* -1, or a tensor type for output.weight (and tied embeddings) */
    int32_t token_embd_type;     /* -1, or a tensor type for token_embd.weight */
    smelt_quantize_progress_fn progress;
    void *progress_ud;
};
void smelt_quantize_params_default(struct smelt_quantize_params *p);

struct smelt_quantize_stats {
    int64_t n_tensors, n_converted, n_fallback;
    int64_t n_imatrix_used;       /* tensors quantized with importance data */
    int64_t n_error_feedback;     /* tensors quantized with error feedback (params.stats) */
    uint64_t n_elements;          /* all tensors */
    uint64_t bytes_in, bytes_out; /* tensor data */
    uint64_t elements_by_type[64]; /* output elements per tensor type id */
};

/* Errors (with a message naming the problem): IO for unreadable/unwritable
 * files, FORMAT for a corrupt input or imatrix, INVALID_ARG for a bad ftype /
 * requantization without allow_requantize / an imatrix whose entry does not
 * match a tensor's shape, UNSUPPORTED for input tensor types smelt cannot
 * dequantize. The output is written to "OUT.tmp" and renamed at the end, so
 * OUT never holds a partial file. */
enum smelt_status smelt_quantize_file(const char *in_path, const char *out_path,
                                      const struct smelt_quantize_params *p, struct smelt_quantize_stats *stats);

/* ------------------------------------------------------------ imatrix -- */

/* Collects sum of x_j^2 per input column j of every weight matmul in the blocks
 * (and of the output matrix if `with_output`), over all tokens decoded by the
 * context while attached. */
struct smelt_imatrix;
enum smelt_status smelt_imatrix_new(struct smelt_ctx *c, bool with_output, struct smelt_imatrix **out);
/* Detaches from the context. Accepts NULL. */
void smelt_imatrix_free(struct smelt_imatrix *im);
int64_t smelt_imatrix_n_entries(const struct smelt_imatrix *im);
/* Records the number of chunks evaluated (written as imatrix.chunk_count). */
void smelt_imatrix_set_chunks(struct smelt_imatrix *im, uint32_t n_chunks, uint32_t chunk_size);
/* Also collect the full second-moment matrix (sum over tokens of x x^T) of
 * every distinct matmul input, for smelt_quantize_file's error feedback
 * (params.stats); weights that multiply the same input share one matrix. Call
 * before the first decode. Memory: n_in^2 floats per input (SmolLM2-135M: 0.4
 * GB); past max_bytes (0: 4 GiB) collection stops with a warning and
 * smelt_imatrix_has_full() turns false; the diagonal statistics go on.
 * pos0_weight (>= 1): rows at position 0 count this many times. Every later
 * token attends to the first one (an attention sink), so its projections
 * matter more than one token's share: on SmolLM2, chunks of C tokens
 * calibrate best with a weight of about C/64 (the callers in smelt use
 * max(1, C/64); measured in docs/BENCHMARKS.md). */
enum smelt_status smelt_imatrix_collect_full(struct smelt_imatrix *im, uint64_t max_bytes, float pos0_weight);
bool smelt_imatrix_has_full(const struct smelt_imatrix *im);
/* Stop observing the context; the statistics stay usable (save, quantize)
 * after the context is freed. smelt_imatrix_free detaches too. */
void smelt_imatrix_detach(struct smelt_imatrix *im);
/* Write llama.cpp's GGUF imatrix format; `dataset` is stored in imatrix.datasets. */
enum smelt_status smelt_imatrix_save(const struct smelt_imatrix *im, const char *path, const char *dataset);

/* Self-calibration (src/engine/selfcal.c): when the user has no calibration
 * text, the model writes its own: n_seq sequences sampled from BOS at
 * temperature 1 (seed, seed+1, ...), n_tokens decoded in all, every matmul
 * input observed; the importance matrix is saved to imatrix_out (llama.cpp's
 * format, dataset "self-calibration"). `smelt quantize` does this by default
 * when no --imatrix is given (see README). */
struct smelt_selfcal_params {
    int32_t n_seq;    /* parallel sequences, default 8 */
    int64_t n_tokens; /* tokens decoded in all, default 4096 */
    uint64_t seed;    /* default 1234 */
    int n_threads;    /* 0: all CPUs */
};
void smelt_selfcal_params_default(struct smelt_selfcal_params *p);
/* smelt_quantize_params.stats_shrink for self-calibrated second moments (4096
 * tokens the model wrote): on SmolLM2-135M, Q8_0's mean KLD falls from 0.806x
 * to 0.79x llama-quantize's (dev/quant/NOTES.md). */
#define SMELT_SELFCAL_SHRINK 0.5f
/* full_out: NULL, or receives the (detached) collector with full second
 * moments for smelt_quantize_params.stats (NULL there if the model is too big
 * for them); the caller frees it with smelt_imatrix_free. */
enum smelt_status smelt_self_calibrate(const char *model_path, const struct smelt_selfcal_params *p,
                                       const char *imatrix_out, struct smelt_imatrix **full_out);

#ifdef __cplusplus
}
#endif
#endif

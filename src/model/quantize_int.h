/* Internal: error-feedback quantization for smelt_quantize_file
 * (src/model/quantize_gptq.c; the method is described in
 * include/smelt/quantize.h). */
#ifndef SMELT_QUANTIZE_INT_H
#define SMELT_QUANTIZE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/status.h"

struct smelt_imatrix;
/* One per output file: the factorisations of every input group, made on first use.
 * shrink in [0, 1]: the off-diagonal of the second moments is multiplied by
 * (1 - shrink) (smelt_quantize_params.stats_shrink). */
struct smelt_gptq;
enum smelt_status smelt_gptq_new(struct smelt_imatrix *stats, float shrink, struct smelt_gptq **out);
void smelt_gptq_free(struct smelt_gptq *q);
/* Whether weight `name` (rows of ne0) has second moments. */
bool smelt_gptq_has(struct smelt_gptq *q, const char *name, int64_t ne0);
/* Factorise the input of `name` for blocks of `block` columns (once per input
 * and block size). Not thread-safe; call before smelt_gptq_rows. */
enum smelt_status smelt_gptq_prepare(struct smelt_gptq *q, const char *name, int64_t block);
/* Floats of `work` smelt_gptq_rows needs for up to nrows_max rows. */
size_t smelt_gptq_work_floats(int64_t nrows_max);
/* Quantize nr rows w [nr][ne0] (overwritten by the error feedback) to `type`
 * into dst (nr packed rows). Thread-safe for disjoint rows after prepare.
 * False if the quantizer refused a block or nothing was prepared. */
bool smelt_gptq_rows(struct smelt_gptq *q, const char *name, uint32_t type, float *w, int64_t nr, int64_t ne0,
                     void *dst, float *work);

#endif

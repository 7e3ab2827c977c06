/* Internal: importance matrices read from llama.cpp's GGUF imatrix format
 * (tensors "<weight>.in_sum2" [n_in, n_mat] and "<weight>.counts" [1, n_mat],
 * general.type "imatrix"), as per-column mean squared activations. Every value
 * is validated (F32, matching pairs and shapes, finite and >= 0), so a corrupt
 * or foreign file is refused with a message naming it. */
#ifndef SMELT_IMATRIX_INT_H
#define SMELT_IMATRIX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "smelt/gguf.h"
#include "smelt/status.h"

struct smelt_imat_entry {
    const char *name; /* weight name (points into a private copy) */
    int64_t n;        /* values */
    float *v;         /* mean squared activation per column (per expert slice) */
    bool used;
};

struct smelt_imat {
    struct smelt_imat_entry *e;
    int64_t n;
    char *names;
    char *dataset;
    uint32_t chunks;
};

enum smelt_status smelt_imat_load(const char *path, struct smelt_imat *im);
/* The same from an opened GGUF (`path` names it in messages); g is not kept. */
enum smelt_status smelt_imat_from_gguf(const struct smelt_gguf *g, const char *path, struct smelt_imat *im);
void smelt_imat_free(struct smelt_imat *im); /* leaves *im zeroed */
/* Entry of a weight tensor, NULL if the file has none. */
struct smelt_imat_entry *smelt_imat_find(struct smelt_imat *im, const char *name);

/* Full second moments collected by a smelt_imatrix (smelt_imatrix_collect_full):
 * the [n_in][n_in] symmetric matrix sum over tokens of x x^T of the input that
 * weight `name` multiplies, its token count and the index of its input group
 * (weights sharing an input share the matrix and the index, < n_groups).
 * Detaches the collector and completes pending updates on first use. NULL if
 * none was collected for the weight (or collection was dropped). */
struct smelt_imatrix;
const float *smelt_imatrix_full_of(struct smelt_imatrix *im, const char *name, int64_t *n_in, uint64_t *count,
                                   int64_t *group);
int64_t smelt_imatrix_n_groups(const struct smelt_imatrix *im);
/* A collector fed by hand (tests): smelt_imatrix_observe takes the act hook's
 * arguments (include/smelt/model.h). */
enum smelt_status smelt_imatrix_new_standalone(bool with_output, struct smelt_imatrix **out);
void smelt_imatrix_observe(struct smelt_imatrix *im, const char *const *names, int n_names, const float *x,
                           const int32_t *pos, int64_t n_tok, int64_t n_in);

#endif

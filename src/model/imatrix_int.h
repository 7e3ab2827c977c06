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

#endif

/* libFuzzer target for the importance-matrix reader: parse arbitrary bytes as
 * a GGUF, then as an imatrix (smelt_imat_from_gguf), and check what an
 * accepted file promises: entries with names and values that are finite and
 * >= 0. Built as a fuzzer with -DSMELT_FUZZ=ON (clang), and always as the
 * `imatrix_fuzz_replay` ctest through replay_main.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/imatrix_int.h"
#include "smelt/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct smelt_gguf *g = NULL;
    if (smelt_gguf_open_memory(data, size, "fuzz.imatrix", &g) != SMELT_OK) return 0;
    struct smelt_imat im;
    if (smelt_imat_from_gguf(g, "fuzz.imatrix", &im) == SMELT_OK) {
        if (im.n < 1) abort();
        for (int64_t i = 0; i < im.n; i++) {
            const struct smelt_imat_entry *e = &im.e[i];
            if (!e->name || e->n < 1 || smelt_imat_find(&im, e->name) == NULL) abort();
            for (int64_t j = 0; j < e->n; j++)
                if (!isfinite(e->v[j]) || e->v[j] < 0) abort();
        }
        smelt_imat_free(&im);
        if (im.n != 0 || im.e != NULL) abort();
    }
    smelt_gguf_free(g);
    return 0;
}

/* dev: compare logits of the first token(s) with llama.cpp's full rows */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "smelt/model.h"
int main(int argc, char **argv) {
    struct smelt_model *m; smelt_model_load(argv[1], &m);
    FILE *f = fopen(argv[2], "rb"); int V = smelt_model_n_vocab(m);
    float *ref = malloc(4 * (size_t)V * 2); fread(ref, 4, (size_t)V * 2, f);
    struct smelt_ctx *c; struct smelt_ctx_params cp; smelt_ctx_params_default(&cp); cp.n_threads = argc > 5 ? atoi(argv[5]) : 2; smelt_ctx_new(m, &cp, &c);
    int32_t tok[2] = {atoi(argv[3]), atoi(argv[4])}, pos[2] = {0, 1}, seq[2] = {0, 0}; int8_t w[2] = {1, 1};
    struct smelt_batch b = {.n = 2, .token = tok, .pos = pos, .seq = seq, .logits = w};
    smelt_decode(c, &b);
    for (int r = 0; r < 2; r++) {
        const float *l = smelt_logits(c, r); double md = 0, sd = 0;
        for (int v = 0; v < V; v++) { double d = fabs(l[v] - ref[(size_t)r * V + v]); md = fmax(md, d); sd += d; }
        if (r == 0) { FILE *o = fopen("/tmp/smelt_row0.bin", "wb"); fwrite(l, 4, (size_t)V, o); fclose(o); }
        printf("row %d: max %.5f mean %.6f  l[0]=%f ref=%f\n", r, md, sd / V, l[0], ref[(size_t)r*V]);
    }
}

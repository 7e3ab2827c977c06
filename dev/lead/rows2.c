/* dev: evaluate two tokens in one batch and dump both logits rows (f32) */
#include <stdio.h>
#include <stdlib.h>
#include "smelt/model.h"
int main(int argc, char **argv) {
    struct smelt_model *m; if (smelt_model_load(argv[1], &m)) { puts(smelt_last_error()); return 1; }
    struct smelt_ctx *c; smelt_ctx_new(m, NULL, &c); int V = smelt_model_n_vocab(m);
    int32_t tok[2] = {atoi(argv[2]), atoi(argv[3])}, pos[2] = {0, 1}, seq[2] = {0, 0}; int8_t w[2] = {1, 1};
    struct smelt_batch b = {.n = 2, .token = tok, .pos = pos, .seq = seq, .logits = w};
    smelt_decode(c, &b);
    FILE *o = fopen(argv[4], "wb"); for (int r = 0; r < 2; r++) fwrite(smelt_logits(c, r), 4, (size_t)V, o); fclose(o);
    return 0;
}

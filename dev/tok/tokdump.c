/* dev tool: tokdump MODEL.gguf TEXT [special] -> ids and pieces */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "smelt/gguf.h"
#include "smelt/tok.h"
int main(int argc, char **argv) {
    struct smelt_gguf *g; struct smelt_tok *t;
    clock_t c0 = clock();
    if (smelt_gguf_open(argv[1], &g) || smelt_tok_from_gguf(g, &t)) { fprintf(stderr, "%s\n", smelt_last_error()); return 1; }
    fprintf(stderr, "load %.3f s, n_vocab %d bos %d eos %d add_bos %d\n", (double)(clock() - c0) / CLOCKS_PER_SEC,
            smelt_tok_n_vocab(t), smelt_tok_bos(t), smelt_tok_eos(t), smelt_tok_add_bos(t));
    int32_t *ids; size_t n;
    if (smelt_tok_encode(t, argv[2], strlen(argv[2]), true, argc > 3, &ids, &n)) { fprintf(stderr, "%s\n", smelt_last_error()); return 1; }
    for (size_t i = 0; i < n; i++) printf("%d ", ids[i]);
    printf("\n");
    for (size_t i = 0; i < n; i++) { char b[256]; size_t l; smelt_tok_piece(t, ids[i], true, b, sizeof b, &l); printf("[%.*s]", (int)l, b); }
    printf("\n");
    free(ids); smelt_tok_free(t); smelt_gguf_free(g);
    return 0;
}

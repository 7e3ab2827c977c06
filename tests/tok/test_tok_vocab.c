/* Tokenizer conformance against llama.cpp's vocabulary suites
 * (../shared/testdata/vocab, see its README.md).
 *
 *   test_tok_vocab VOCAB.gguf            encode every text of VOCAB.gguf.inp with
 *                                        add_special=false, parse_special=false and
 *                                        compare with the ids of VOCAB.gguf.out; also
 *                                        checks decode(encode(x)) == x for every text
 *   test_tok_vocab --refuse VOCAB.gguf   the vocabulary must be refused with
 *                                        SMELT_ERR_UNSUPPORTED and a message
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/gguf.h"
#include "smelt/tok.h"
#include "tok_util.h"

int main(int argc, char **argv) {
    bool refuse = argc == 3 && strcmp(argv[1], "--refuse") == 0;
    if (argc != 2 && !refuse) {
        fprintf(stderr, "usage: %s [--refuse] VOCAB.gguf\n", argv[0]);
        return 2;
    }
    const char *path = argv[argc - 1];
    struct smelt_gguf *g = NULL;
    enum smelt_status st = smelt_gguf_open(path, &g);
    if (st != SMELT_OK) {
        fprintf(stderr, "%s: %s\n", path, smelt_last_error());
        return 1;
    }
    struct smelt_tok *t = NULL;
    st = smelt_tok_from_gguf(g, &t);
    if (refuse) {
        CHECKF(st == SMELT_ERR_UNSUPPORTED, "status %s", smelt_status_str(st));
        CHECK(t == NULL);
        CHECKF(strstr(smelt_last_error(), "not supported") != NULL, "message: %s", smelt_last_error());
        printf("refused as expected: %s\n", smelt_last_error());
        smelt_tok_free(t);
        smelt_gguf_free(g);
        return CHECK_EXIT();
    }
    if (st != SMELT_OK) {
        fprintf(stderr, "%s: %s\n", path, smelt_last_error());
        return 1;
    }

    char inp_path[4096], out_path[4096];
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len, out_len;
    char *inp = tt_read_file(inp_path, &inp_len);
    char *outs = tt_read_file(out_path, &out_len);
    if (!inp || !outs) {
        fprintf(stderr, "cannot read %s / %s\n", inp_path, out_path);
        return 1;
    }

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const char *p = inp, *end = inp + inp_len;
    char *op = outs, *oend = outs + out_len;
    char *line = tt_next_line(&op, oend);
    int n_cases = 0, n_fail = 0, n_roundtrip = 0;
    while (p < end) {
        const char *q = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
        size_t tl = q ? (size_t)(q - p) : (size_t)(end - p);
        if (!q && tl == 0) break;
        /* the .inp file ends with a separator; a final chunk without one is ignored */
        if (!q) break;
        int32_t *ids = NULL;
        size_t n = 0;
        st = smelt_tok_encode(t, p, tl, false, false, &ids, &n);
        CHECKF(st == SMELT_OK, "case %d: %s", n_cases, smelt_last_error());
        CHECKF(line != NULL, "case %d: missing line in .out", n_cases);
        if (st == SMELT_OK && line) {
            int32_t exp[8192];
            size_t ne = tt_parse_ids(line, exp, 8192);
            bool same = ne == n && (n == 0 || memcmp(exp, ids, n * sizeof *ids) == 0);
            if (!same) {
                n_fail++;
                fprintf(stderr, "case %d mismatch for text '%.*s'\n  expected:", n_cases, (int)tl, p);
                for (size_t i = 0; i < ne; i++) fprintf(stderr, " %d", exp[i]);
                fprintf(stderr, "\n  got:     ");
                for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
                fprintf(stderr, "\n");
            }
            /* round trip */
            char *dec = NULL;
            size_t dl = 0;
            CHECK(smelt_tok_decode(t, ids, n, false, &dec, &dl) == SMELT_OK);
            if (dec && dl == tl && memcmp(dec, p, tl) == 0) n_roundtrip++;
            free(dec);
        }
        free(ids);
        n_cases++;
        line = tt_next_line(&op, oend);
        p = q + sizeof sep - 1;
    }
    CHECKF(n_fail == 0, "%d of %d cases differ", n_fail, n_cases);
    CHECK(n_cases > 10);
    CHECKF(n_roundtrip == n_cases, "decode(encode(x)) != x for %d of %d cases", n_cases - n_roundtrip, n_cases);
    printf("%s: %d cases, %d mismatches, %d round-trip exactly\n", path, n_cases, n_fail, n_roundtrip);
    free(inp);
    free(outs);
    smelt_tok_free(t);
    smelt_gguf_free(g);
    return CHECK_EXIT();
}

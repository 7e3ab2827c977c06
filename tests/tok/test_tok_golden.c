/* Tokenizer against llama.cpp goldens (tests/tok/golden/<name>.txt, written by
 * scripts/golden_tok.py with llama-cpp-python from tests/tok/corpus.txt).
 *
 *   test_tok_golden GOLDEN MODEL.gguf CORPUS
 *
 * Checks the special ids and add_bos/add_eos flags, the end-of-generation set
 * over the whole vocabulary, encode(text, add_special=true, parse_special=false
 * and true) for every corpus text, the pieces of the sampled ids (special false
 * and true), and, for byte-level BPE, decode(encode(x)) == x.
 * Exits 77 (skipped) when the model file is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "smelt/gguf.h"
#include "smelt/tok.h"
#include "tok_util.h"

#define SEP "\n__tok_case__\n"
#define MAX_IDS 16384

static size_t unhex(const char *h, char *out, size_t cap) {
    if (strcmp(h, "-") == 0) return 0;
    size_t n = 0;
    for (; h[0] && h[1] && n < cap; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (char)v;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s GOLDEN MODEL.gguf CORPUS\n", argv[0]);
        return 2;
    }
    if (access(argv[2], R_OK) != 0) {
        printf("skipped: model %s not present\n", argv[2]);
        return 77;
    }
    size_t glen, clen;
    char *golden = tt_read_file(argv[1], &glen), *corpus = tt_read_file(argv[3], &clen);
    if (!golden || !corpus) {
        fprintf(stderr, "cannot read %s or %s\n", argv[1], argv[3]);
        return 1;
    }
    /* split the corpus */
    const char *cases[512];
    size_t case_len[512], n_cases = 0;
    for (const char *p = corpus, *end = corpus + clen; p < end && n_cases < 512;) {
        const char *q = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
        if (!q) break;
        cases[n_cases] = p;
        case_len[n_cases++] = (size_t)(q - p);
        p = q + sizeof SEP - 1;
    }

    struct smelt_gguf *g = NULL;
    struct smelt_tok *t = NULL;
    if (smelt_gguf_open(argv[2], &g) != SMELT_OK || smelt_tok_from_gguf(g, &t) != SMELT_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], smelt_last_error());
        return 1;
    }
    smelt_gguf_free(g);
    bool bpe = smelt_tok_find(t, "\xc4\xa0", 2) >= 0; /* "Ġ": byte-level BPE vocabulary */

    static int32_t exp[MAX_IDS];
    int n_enc = 0, n_enc_bad = 0, n_piece = 0, n_piece_bad = 0;
    char *gp = golden, *gend = golden + glen, *line;
    while ((line = tt_next_line(&gp, gend))) {
        if (line[0] == '#' || !line[0]) continue;
        char key[32];
        int off = 0;
        if (sscanf(line, "%31s %n", key, &off) != 1) continue;
        const char *rest = line + off;
        if (!strcmp(key, "n_vocab")) {
            CHECKF(smelt_tok_n_vocab(t) == atoi(rest), "n_vocab %d vs %s", smelt_tok_n_vocab(t), rest);
        } else if (!strcmp(key, "bos")) {
            CHECKF(smelt_tok_bos(t) == atoi(rest), "bos %d vs %s", smelt_tok_bos(t), rest);
        } else if (!strcmp(key, "eos")) {
            CHECKF(smelt_tok_eos(t) == atoi(rest), "eos %d vs %s", smelt_tok_eos(t), rest);
        } else if (!strcmp(key, "add_bos")) {
            CHECK(smelt_tok_add_bos(t) == (atoi(rest) != 0));
        } else if (!strcmp(key, "add_eos")) {
            CHECK(smelt_tok_add_eos(t) == (atoi(rest) != 0));
        } else if (!strcmp(key, "eog")) {
            size_t ne = tt_parse_ids(rest, exp, MAX_IDS);
            size_t k = 0;
            for (int32_t id = 0; id < smelt_tok_n_vocab(t); id++) {
                bool want = k < ne && exp[k] == id;
                if (want) k++;
                CHECKF(smelt_tok_is_eog(t, id) == want, "eog(%d '%s') = %d, llama.cpp %d", id, smelt_tok_text(t, id),
                       smelt_tok_is_eog(t, id), want);
            }
        } else if (!strcmp(key, "case")) {
            unsigned idx;
            char mode[16];
            int o2 = 0;
            if (sscanf(rest, "%u %15s %n", &idx, mode, &o2) < 2 || idx >= n_cases) {
                CHECKF(0, "bad golden line: %s", line);
                continue;
            }
            bool special = !strcmp(mode, "special");
            size_t ne = tt_parse_ids(rest + o2, exp, MAX_IDS);
            int32_t *ids = NULL;
            size_t n = 0;
            enum smelt_status st = smelt_tok_encode(t, cases[idx], case_len[idx], true, special, &ids, &n);
            CHECKF(st == SMELT_OK, "case %u: %s", idx, smelt_last_error());
            n_enc++;
            if (st == SMELT_OK && (n != ne || memcmp(ids, exp, n * sizeof *ids) != 0)) {
                n_enc_bad++;
                fprintf(stderr, "case %u (%s) '%.*s'\n  llama.cpp:", idx, mode, (int)case_len[idx], cases[idx]);
                for (size_t i = 0; i < ne; i++) fprintf(stderr, " %d", exp[i]);
                fprintf(stderr, "\n  smelt:    ");
                for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
                fprintf(stderr, "\n");
            }
            free(ids);
            if (bpe && !special) { /* byte-level BPE round trip */
                CHECK(smelt_tok_encode(t, cases[idx], case_len[idx], false, false, &ids, &n) == SMELT_OK);
                char *dec = NULL;
                size_t dl = 0;
                CHECK(smelt_tok_decode(t, ids, n, false, &dec, &dl) == SMELT_OK);
                CHECKF(dl == case_len[idx] && memcmp(dec, cases[idx], dl) == 0, "case %u: decode(encode(x)) != x",
                       idx);
                free(dec);
                free(ids);
            }
        } else if (!strcmp(key, "piece")) {
            int id;
            char h0[2048], h1[2048];
            if (sscanf(rest, "%d %2047s %2047s", &id, h0, h1) != 3) {
                CHECKF(0, "bad golden line: %s", line);
                continue;
            }
            for (int sp = 0; sp < 2; sp++) {
                char want[1024], got[1024];
                size_t wl = unhex(sp ? h1 : h0, want, sizeof want), gl = 0;
                CHECK(smelt_tok_piece(t, id, sp != 0, got, sizeof got, &gl) == SMELT_OK);
                n_piece++;
                if (gl != wl || memcmp(got, want, wl) != 0) {
                    n_piece_bad++;
                    if (n_piece_bad < 20)
                        fprintf(stderr, "piece(%d '%s', special=%d): %zu bytes, llama.cpp %zu\n", id,
                                smelt_tok_text(t, id), sp, gl, wl);
                }
            }
        }
    }
    CHECKF(n_enc_bad == 0, "%d of %d encodings differ from llama.cpp", n_enc_bad, n_enc);
    CHECKF(n_piece_bad == 0, "%d of %d pieces differ from llama.cpp", n_piece_bad, n_piece);
    CHECK(n_enc >= 2 * (int)n_cases && n_cases > 10);
    printf("%s: %d encodings, %d pieces compared\n", argv[1], n_enc, n_piece);
    smelt_tok_free(t);
    free(golden);
    free(corpus);
    return CHECK_EXIT();
}

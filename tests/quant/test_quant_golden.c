/* Bit-identity against llama.cpp's reference quantizers, via golden files made
 * by tests/quant/make_golden.py with the `gguf` python package.
 *
 *   test_quant_golden quant DIR         quantize DIR/input_f32.bin with every tier's
 *                                       from_float (and _ref): bytes must equal the
 *                                       golden ones; dequantize must equal the golden floats
 *   test_quant_golden model DIR MODEL [LIST [PULL]]
 *                                       dequantize every tensor of MODEL (ref and the
 *                                       dispatched to_float): crc32 of the float32
 *                                       bytes must equal the golden one in DIR/LIST
 *                                       (default model_tensors.txt; exact), sum|x|
 *                                       within 1e-9 relative. A missing MODEL fails,
 *                                       telling to run `smelt pull PULL`.
 *
 *   test_quant_golden vecdot DIR        the dispatched vec_dot of each type in
 *                                       DIR/vecdot_ggml.bin (tests/quant/make_vecdot_golden.py)
 *                                       on its weights and activations must give the
 *                                       float bits of llama.cpp's AVX2 ggml_vec_dot_*
 *                                       (run with SMELT_ISA=avx2)
 *
 * 256-element types (K-quants, Q8_K, IQ4_XS) use DIR/input_k_f32.bin; their
 * goldens come from llama.cpp's quantize_row_*_ref (libggml) since gguf-py has
 * no quantizer for them, and their dequantized goldens from gguf-py.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"
#include "quant/quant.h"
#include "smelt/gguf.h"

static void *read_file(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static uint32_t crc32_bytes(const void *data, size_t n) {
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static int cmd_quant(const char *dir) {
    size_t nin32 = 0, nink = 0;
    float *x32 = read_file(dir, "input_f32.bin", &nin32);
    float *xk = read_file(dir, "input_k_f32.bin", &nink);
    CHECK(x32 != NULL && xk != NULL);
    if (!x32 || !xk) return CHECK_EXIT();
    static const struct {
        const char *name;
        uint32_t type;
    } cases[] = {{"q8_0", SMELT_TYPE_Q8_0}, {"q4_0", SMELT_TYPE_Q4_0}, {"q4_1", SMELT_TYPE_Q4_1},
                 {"bf16", SMELT_TYPE_BF16}, {"f16", SMELT_TYPE_F16},   {"q5_0", SMELT_TYPE_Q5_0},
                 {"q5_1", SMELT_TYPE_Q5_1}, {"q8_k", SMELT_TYPE_Q8_K},   {"q2_k", SMELT_TYPE_Q2_K},
                 {"q3_k", SMELT_TYPE_Q3_K}, {"q4_k", SMELT_TYPE_Q4_K},   {"q5_k", SMELT_TYPE_Q5_K},
                 {"q6_k", SMELT_TYPE_Q6_K}, {"iq4_nl", SMELT_TYPE_IQ4_NL}, {"iq4_xs", SMELT_TYPE_IQ4_XS}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const bool kq = smelt_quant_traits(cases[c].type)->blck == 256;
        const float *x = kq ? xk : x32;
        const size_t nin = kq ? nink : nin32;
        const int64_t n = (int64_t)(nin / 4);
        char fname[64];
        size_t nq = 0, nd = 0;
        snprintf(fname, sizeof fname, "%s.bin", cases[c].name);
        unsigned char *gq = read_file(dir, fname, &nq);
        snprintf(fname, sizeof fname, "%s_deq.bin", cases[c].name);
        float *gd = read_file(dir, fname, &nd);
        const struct smelt_type_traits *tr = smelt_quant_traits(cases[c].type);
        const size_t rs = smelt_quant_row_size(cases[c].type, n);
        CHECKF(gq && gd && nq == rs && nd == nin, "%s: golden files missing or wrong size", cases[c].name);
        if (!gq || !gd || nq != rs || nd != nin) continue;
        unsigned char *q = malloc(rs);
        float *d = malloc(nin);
        const int failures_before = check_failures;
        for (int isa = SMELT_ISA_REF; isa < SMELT_ISA_N; isa++) {
            if (!smelt_isa_supported((enum smelt_isa)isa)) continue;
            struct smelt_kernel_set ks;
            smelt_kernels_fill((enum smelt_isa)isa, &ks);
            memset(q, 0, rs);
            ks.from_float[cases[c].type](x, q, n);
            for (size_t i = 0; i < rs; i++) {
                if (q[i] != gq[i]) {
                    CHECKF(0, "%s %s: quantized byte %zu (block %zu) = %02x, llama.cpp ref %02x",
                           smelt_isa_name((enum smelt_isa)isa), tr->name, i, i / tr->bytes, q[i], gq[i]);
                    break;
                }
            }
            ks.to_float[cases[c].type](gq, d, n);
            for (int64_t i = 0; i < n; i++) {
                if (memcmp(&d[i], &gd[i], 4) != 0) {
                    CHECKF(0, "%s %s: dequantized[%lld] = %.9g, llama.cpp %.9g", smelt_isa_name((enum smelt_isa)isa),
                           tr->name, (long long)i, d[i], gd[i]);
                    break;
                }
            }
        }
        printf("%-5s %lld elements: quantize/dequantize %s llama.cpp reference (gguf-py / libggml) on every tier\n", tr->name, (long long)n,
               check_failures == failures_before ? "identical to" : "DIFFERENT from");
        free(q), free(d), free(gq), free(gd);
    }
    free(x32), free(xk);
    return CHECK_EXIT();
}

static int cmd_model(const char *dir, const char *model, const char *list_name, const char *pull) {
    size_t nlist = 0;
    char *list = read_file(dir, list_name, &nlist);
    CHECK(list != NULL);
    if (!list) return CHECK_EXIT();
    list = realloc(list, nlist + 1);
    list[nlist] = 0;
    FILE *probe = fopen(model, "rb");
    if (!probe) {
        fprintf(stderr, "model %s not present: run `smelt pull %s` first\n", model, pull);
        free(list);
        return 1;
    }
    fclose(probe);
    struct smelt_gguf *g = NULL;
    enum smelt_status st = smelt_gguf_open(model, &g);
    if (st != SMELT_OK) {
        fprintf(stderr, "cannot open %s (status %d)\n", model, (int)st);
        free(list);
        return 1;
    }
    int n_checked = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char name[256];
        unsigned type, crc;
        long long ne;
        double sabs;
        if (sscanf(line, "%255s %u %lld %x %lf", name, &type, &ne, &crc, &sabs) != 5) {
            CHECKF(0, "bad golden line: %s", line);
            continue;
        }
        const struct smelt_gguf_tensor *t = smelt_gguf_find_tensor(g, name);
        CHECKF(t != NULL, "tensor %s not found", name);
        if (!t) continue;
        CHECKF(t->type == type, "%s: type %u, golden %u", name, t->type, type);
        const struct smelt_type_traits *tr = smelt_quant_traits(t->type);
        CHECKF(tr != NULL, "%s: type %u not supported", name, t->type);
        if (!tr) continue;
        float *v = malloc((size_t)ne * 4);
        for (int pass = 0; pass < 2; pass++) {
            (pass ? tr->to_float : tr->to_float_ref)(t->data, v, ne);
            const uint32_t got = crc32_bytes(v, (size_t)ne * 4);
            double s = 0;
            for (long long i = 0; i < ne; i++) s += fabs((double)v[i]);
            CHECKF(got == crc, "%s (%s, %s): crc32 %08x, gguf-py %08x", name, tr->name, pass ? "dispatched" : "ref",
                   got, crc);
            CHECKF(fabs(s - sabs) <= 1e-9 * sabs, "%s: sum|x| %.17g, gguf-py %.17g", name, s, sabs);
        }
        free(v);
        n_checked++;
    }
    printf("%d tensors of %s dequantized identically to gguf-py\n", n_checked, model);
    CHECK(n_checked > 0);
    smelt_gguf_free(g);
    free(list);
    return CHECK_EXIT();
}

static int cmd_vecdot(const char *dir) {
    size_t len = 0;
    unsigned char *g = read_file(dir, "vecdot_ggml.bin", &len);
    CHECK(g != NULL);
    if (!g) return CHECK_EXIT();
    size_t off = 0;
    int types = 0;
    while (off + 20 <= len) {
        uint32_t h[5];
        memcpy(h, g + off, sizeof h);
        off += sizeof h;
        const uint32_t type = h[0], K = h[1], rows = h[2], wrs = h[3], xrs = h[4];
        const struct smelt_type_traits *tr = smelt_quant_traits(type);
        CHECKF(tr && tr->vec_dot && smelt_quant_row_size(type, K) == wrs &&
                   smelt_quant_row_size(tr->vec_dot_type, K) == xrs,
               "record of type %u: unknown type or row sizes", type);
        if (!tr || !tr->vec_dot || off + (size_t)rows * (wrs + xrs + 4) > len) break;
        const unsigned char *w = g + off, *x = w + (size_t)rows * wrs, *want = x + (size_t)rows * xrs;
        int bad = 0;
        for (uint32_t r = 0; r < rows; r++) {
            const float got = tr->vec_dot(K, w + (size_t)r * wrs, x + (size_t)r * xrs);
            float ref;
            memcpy(&ref, want + 4 * r, 4);
            if (memcmp(&got, &ref, 4)) bad++;
            if (memcmp(&got, &ref, 4) && bad <= 2)
                CHECKF(0, "%s row %u: vec_dot %.9g, ggml %.9g", tr->name, r, got, ref);
        }
        printf("%-6s vec_dot == ggml_vec_dot (%u rows, K=%u, tier %s)%s\n", tr->name, rows, K, smelt_kernels_isa(),
               bad ? " FAILED" : "");
        off += (size_t)rows * (wrs + xrs + 4);
        types++;
    }
    CHECKF(off == len && types >= 9, "vecdot_ggml.bin: %d records, %zu of %zu bytes read", types, off, len);
    free(g);
    return CHECK_EXIT();
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "quant")) return cmd_quant(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "vecdot")) return cmd_vecdot(argv[2]);
    if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "model"))
        return cmd_model(argv[2], argv[3], argc > 4 ? argv[4] : "model_tensors.txt",
                         argc > 5 ? argv[5] : "smollm2-135m");
    fprintf(stderr, "usage: test_quant_golden quant DIR | vecdot DIR | model DIR MODEL [LIST [PULL]]\n");
    return 2;
}

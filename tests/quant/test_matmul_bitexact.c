/* Tiled matmuls are bit-identical to the per-output function that defines
 * their order.
 *
 *   test_matmul_bitexact tiers     for every supported tier: each tile
 *                                  (kernel_set.matmul[t]) against its paired
 *                                  dot (matmul_dot[t]) called per (row, token),
 *                                  each repacked-weight tile (matmul_r8[t]) in
 *                                  each of its kernels (GEMV, GEMM, TILED)
 *                                  against its reference
 *   test_matmul_bitexact dispatch  smelt_matmul_rows against the dispatched
 *                                  vec_dot of every quantized type (plain
 *                                  path; Q4_K, Q5_K, Q6_K from 8 tokens:
 *                                  the tiled order), the ggml f16/f32 orders (F16, F32),
 *                                  the *_r8_ref with llama.cpp's GEMM/GEMV
 *                                  split of the tokens (repack path)
 *
 * Shapes: n_tok in {1,2,3,4,5,7,8,16,33,64}, row ranges with odd ends, several
 * K per block size (and one K too large for the tile's scale buffers, which
 * takes the per-dot fallback), activation rows with padding between them,
 * outputs with a row stride larger than the row range; outputs outside the
 * range must stay untouched. Comparison is memcmp of the float bits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

static uint32_t rng_state = 0x12345u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static float frand(float a) { return ((float)(rng() % 2000001u) / 1000000.0f - 1.0f) * a; }

static const int64_t ntoks[] = {1, 2, 3, 4, 5, 7, 8, 16, 33, 64};
#define N_NT (int)(sizeof ntoks / sizeof *ntoks)
#define M_ROWS 41
#define SENTINEL 12345.678f

struct data {
    int64_t K;
    size_t wrs, xs;
    char *w, *xq;
};

/* weights of M_ROWS rows (row scales over several decades, one all-zero row),
 * 64 activation rows with padding, quantized by the type's own converters */
static struct data make_data(const struct smelt_type_traits *tr, int64_t K) {
    const struct smelt_type_traits *vt = smelt_quant_traits(tr->vec_dot_type);
    struct data d = {K, smelt_quant_row_size(tr->type, K), smelt_quant_row_size(vt->type, K) + 40, NULL, NULL};
    float *f = malloc((size_t)K * sizeof(float));
    d.w = malloc((size_t)M_ROWS * d.wrs);
    d.xq = calloc(64, d.xs);
    for (int r = 0; r < M_ROWS; r++) {
        const float sc = r == 5 ? 0.0f : (float)(1 << (r % 7)) * 0.01f;
        for (int64_t i = 0; i < K; i++) f[i] = frand(sc) + (i % 13 == 0 ? frand(4 * sc) : 0.0f);
        tr->from_float(f, d.w + (size_t)r * d.wrs, K);
    }
    const smelt_from_float_fn q = smelt_kernels_quantize_act(vt->type);
    for (int t = 0; t < 64; t++) {
        const float sc = t == 9 ? 0.0f : (float)(1 + t % 5) * 0.7f;
        for (int64_t i = 0; i < K; i++) f[i] = frand(sc) + (i % 29 == 3 ? frand(10 * sc) : 0.0f);
        q(f, d.xq + (size_t)t * d.xs, K);
    }
    free(f);
    return d;
}

static void free_data(struct data *d) { free(d->w), free(d->xq); }

typedef void (*mm_under_test)(const struct data *d, void *ctx, int64_t r0, int64_t r1, int64_t nt, float *y,
                              int64_t ldy);

/* What one output must equal. */
enum want_kind {
    WANT_DOT,       /* dot(K, w, x) */
    WANT_F_ORDER,   /* F16/F32: tinyBLAS order for n_tok >= 2 and K % 8 == 0, else vec_dot order */
    WANT_R8_SPLIT,  /* repack order, GEMM for the first n_tok - n_tok % 4 tokens when n_tok > 3 */
    WANT_KERNEL,    /* the order of one llama.cpp kernel (e->kernel) for every token */
    WANT_TILED,     /* Q4_K/Q5_K/Q6_K: llama.cpp's tiled order for n_tok >= 8, else dot(K, w, x) */
};
struct want {
    enum want_kind kind;
    smelt_vec_dot_fn dot;
    enum smelt_r8_kernel kernel;
};

/* the reference of llama.cpp's `kernel` for one output of a weight of `type` */
static float kernel_ref(uint32_t type, enum smelt_r8_kernel kernel, int64_t K, const void *w, const void *x) {
    switch (type) {
    case SMELT_TYPE_Q4_0: return smelt_dot_q4_0_r8_ref(K, w, x);
    case SMELT_TYPE_Q4_K: return smelt_dot_q4_k_r8_ref(K, w, x, kernel);
    case SMELT_TYPE_Q5_K: return smelt_dot_q5_k_tiled_ref(K, w, x);
    default: return smelt_dot_q6_k_tiled_ref(K, w, x);
    }
}

static float want_value(const struct want *e, uint32_t type, int64_t K, const void *w, const void *x, int64_t t,
                        int64_t nt) {
    switch (e->kind) {
    case WANT_DOT: return e->dot(K, w, x);
    case WANT_F_ORDER: {
        const enum smelt_dot_order o = nt >= 2 && K % 8 == 0 ? SMELT_ORDER_SGEMM : SMELT_ORDER_VECDOT;
        return type == SMELT_TYPE_F16 ? smelt_dot_f16_order(K, w, x, o) : smelt_dot_f32_order(K, w, x, o);
    }
    case WANT_R8_SPLIT:
        return kernel_ref(type, nt > 3 && t < nt - nt % 4 ? SMELT_R8_GEMM : SMELT_R8_GEMV, K, w, x);
    case WANT_KERNEL: return kernel_ref(type, e->kernel, K, w, x);
    case WANT_TILED: return nt >= 8 ? kernel_ref(type, SMELT_R8_TILED, K, w, x) : e->dot(K, w, x);
    }
    return 0.0f;
}

/* run `mm` and the per-output reference over rows [r0, r1), compare bits and sentinels */
static void compare(const char *what, const struct smelt_type_traits *tr, const struct data *d, mm_under_test mm,
                    void *ctx, const struct want *e, int64_t r0, int64_t r1, int64_t nt) {
    const int64_t ldy = M_ROWS + 3;
    float *got = malloc((size_t)(nt * ldy) * sizeof(float)), *want = malloc((size_t)(nt * ldy) * sizeof(float));
    for (int64_t i = 0; i < nt * ldy; i++) got[i] = want[i] = SENTINEL;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t r = r0; r < r1; r++)
            want[t * ldy + r] =
                want_value(e, tr->type, d->K, d->w + (size_t)r * d->wrs, d->xq + (size_t)t * d->xs, t, nt);
    mm(d, ctx, r0, r1, nt, got, ldy);
    int bad = 0;
    for (int64_t t = 0; t < nt && bad < 3; t++)
        for (int64_t r = 0; r < ldy && bad < 3; r++) {
            const int64_t i = t * ldy + r;
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
                CHECKF(0, "%s %s K=%lld rows [%lld,%lld) n_tok=%lld: y[t=%lld][r=%lld] = %.9g, want %.9g", what,
                       tr->name, (long long)d->K, (long long)r0, (long long)r1, (long long)nt, (long long)t,
                       (long long)r, got[i], want[i]);
                bad++;
            }
        }
    free(got), free(want);
}

static void run_tile(const struct data *d, void *ctx, int64_t r0, int64_t r1, int64_t nt, float *y, int64_t ldy) {
    const smelt_matmul_fn f = *(const smelt_matmul_fn *)ctx;
    f(d->K, d->w + (size_t)r0 * d->wrs, d->wrs, r1 - r0, d->xq, d->xs, nt, y + r0, ldy);
}

struct r8_ctx {
    smelt_matmul_r8_fn f;
    enum smelt_r8_kernel kernel;
};
static void run_r8_tile(const struct data *d, void *ctx, int64_t r0, int64_t r1, int64_t nt, float *y,
                        int64_t ldy) {
    const struct r8_ctx *c = ctx;
    c->f(d->K, d->w + (size_t)r0 * d->wrs, d->wrs, r1 - r0, d->xq, d->xs, nt, y + r0, ldy, c->kernel);
}

struct rows_ctx {
    uint32_t type;
    enum smelt_mm_path path;
};
static void run_rows(const struct data *d, void *ctx, int64_t r0, int64_t r1, int64_t nt, float *y, int64_t ldy) {
    const struct rows_ctx *c = ctx;
    smelt_matmul_rows(d->w, c->type, d->K, r0, r1, d->xq, d->xs, nt, y, ldy, c->path);
}

static const int64_t ranges[][2] = {{0, M_ROWS}, {3, 37}, {1, 2}, {6, 11}};

static void sweep(const char *what, const struct smelt_type_traits *tr, mm_under_test mm, void *ctx,
                  const struct want *e) {
    const int64_t mult[] = {1, 3, 18, 20, 48};
    for (size_t k = 0; k < sizeof mult / sizeof *mult; k++) {
        const int64_t K = tr->blck * mult[k];
        struct data d = make_data(tr, K);
        for (size_t g = 0; g < sizeof ranges / sizeof *ranges; g++)
            for (int n = 0; n < N_NT; n++) compare(what, tr, &d, mm, ctx, e, ranges[g][0], ranges[g][1], ntoks[n]);
        free_data(&d);
    }
    /* more blocks than the tile's scale buffers hold: the fallback path */
    struct data d = make_data(tr, tr->blck * 1100);
    compare(what, tr, &d, mm, ctx, e, 3, 12, 5);
    compare(what, tr, &d, mm, ctx, e, 2, 9, 1);
    free_data(&d);
}

static int test_tiers(void) {
    int tested = 0;
    for (int isa = SMELT_ISA_REF; isa < SMELT_ISA_N; isa++) {
        if (!smelt_isa_supported((enum smelt_isa)isa)) continue;
        struct smelt_kernel_set ks;
        smelt_kernels_fill((enum smelt_isa)isa, &ks);
        for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
            if (ks.matmul_r8[t]) {
                /* repacked weights: GEMV and GEMM; weights llama.cpp does not repack: TILED */
                const struct smelt_type_traits *tr = smelt_quant_traits(t);
                const bool rep = t == SMELT_TYPE_Q4_0 || t == SMELT_TYPE_Q4_K, til = t != SMELT_TYPE_Q4_0;
                static const char *const names[] = {"gemv", "gemm", "tiled"};
                for (int k = rep ? 0 : 2; k <= (til ? 2 : 1); k++) {
                    struct r8_ctx c = {ks.matmul_r8[t], (enum smelt_r8_kernel)k};
                    const struct want e = {WANT_KERNEL, NULL, (enum smelt_r8_kernel)k};
                    char what[64];
                    snprintf(what, sizeof what, "tier %s r8 tile (%s)", smelt_isa_name((enum smelt_isa)isa), names[k]);
                    sweep(what, tr, run_r8_tile, &c, &e);
                    printf("%-8s %-6s %s tile == its reference\n", smelt_isa_name((enum smelt_isa)isa), tr->name,
                           names[k]);
                }
                tested++;
            }
            if (!ks.matmul[t]) continue;
            const struct smelt_type_traits *tr = smelt_quant_traits(t);
            CHECKF(ks.matmul_dot[t] != NULL, "%s: tile of %s without its dot", smelt_isa_name(isa), tr->name);
            if (!ks.matmul_dot[t]) continue;
            char what[64];
            snprintf(what, sizeof what, "tier %s tile", smelt_isa_name((enum smelt_isa)isa));
            const struct want e = {WANT_DOT, ks.matmul_dot[t], SMELT_R8_GEMV};
            sweep(what, tr, run_tile, &ks.matmul[t], &e);
            printf("%-8s %-6s tile == vec_dot\n", smelt_isa_name((enum smelt_isa)isa), tr->name);
            tested++;
        }
    }
#if defined(__x86_64__)
    CHECKF(!smelt_isa_supported(SMELT_ISA_AVX2) || tested >= 3, "AVX2 CPU but only %d tiles tested", tested);
#endif
    return tested;
}

static void test_dispatch(void) {
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(t);
        if (!tr || !tr->vec_dot) continue;
        if (t == SMELT_TYPE_BF16) continue; /* neither tiles nor a llama.cpp order */
        const bool fo = t == SMELT_TYPE_F32 || t == SMELT_TYPE_F16;
        struct rows_ctx c = {t, SMELT_MM_PLAIN};
        const bool q6 = t == SMELT_TYPE_Q4_K || t == SMELT_TYPE_Q5_K || t == SMELT_TYPE_Q6_K;
        const struct want e = {fo ? WANT_F_ORDER : q6 ? WANT_TILED : WANT_DOT, tr->vec_dot, SMELT_R8_GEMV};
        sweep("smelt_matmul_rows", tr, run_rows, &c, &e);
        printf("%-6s smelt_matmul_rows == %s (tier %s)\n", tr->name,
               fo ? "ggml f16/f32 orders" : q6 ? "vec_dot, tiled order from 8 tokens" : "vec_dot", smelt_kernels_isa());
        if (smelt_matmul_path(t, 8) == SMELT_MM_REPACK8) {
            struct rows_ctx c8 = {t, SMELT_MM_REPACK8};
            const struct want e8 = {WANT_R8_SPLIT, NULL, SMELT_R8_GEMV};
            sweep("smelt_matmul_rows repack8", tr, run_rows, &c8, &e8);
            printf("%-6s smelt_matmul_rows repack8 == r8_ref, gemm/gemv split (tier %s)\n", tr->name,
                   smelt_kernels_isa());
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_matmul_bitexact tiers|dispatch\n");
        return 2;
    }
    if (!strcmp(argv[1], "tiers")) test_tiers();
    else if (!strcmp(argv[1], "dispatch")) test_dispatch();
    else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    return CHECK_EXIT();
}

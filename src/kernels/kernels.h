/* Compute kernels: instruction-set tiers, the dispatch table, and the matmul
 * helper used by the model.
 *
 * Tiers: ref (the *_ref functions of src/quant/), generic C, AVX2 (+FMA+F16C),
 * AVX-512 (F/BW/VL + VNNI). smelt_kernels_init() (src/quant/quant.h) picks the
 * highest tier that the CPU reports, whose register state the OS enables
 * (XCR0), and whose kernels pass a start-up probe against the reference (run
 * under a SIGILL guard); otherwise it falls back one tier at a time.
 * Environment: SMELT_FORCE_REF=1 selects the reference functions;
 * SMELT_ISA=avx512|avx2|generic|ref caps the tier.
 *
 * A tier only provides the kernels where it helps; missing entries are taken
 * from the tier below (so every entry of a filled set is non-NULL except the
 * vec_dot of the activation-only types Q8_1 and Q8_K, which does not exist).
 */
#ifndef SMELT_KERNELS_H
#define SMELT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/ggml_numerics.h"
#include "quant/quant.h"

enum smelt_isa { SMELT_ISA_REF, SMELT_ISA_GENERIC, SMELT_ISA_AVX2, SMELT_ISA_AVX512, SMELT_ISA_N };

/* Tiled matmul of one weight type: y[t*ld_y + r] = vec_dot(K, W row r, x row t)
 * for r in [0, n_rows), t in [0, n_tok); w points at row 0 (row stride
 * w_stride bytes), y at column 0. Bit-identical to calling the vec_dot it is
 * paired with (struct smelt_kernel_set.matmul_dot) once per (row, token): every
 * dot keeps that kernel's per-block operations, its float accumulation order
 * and its final horizontal sum; the tile only interleaves independent dots so
 * that a weight block is unpacked once for several tokens and an activation
 * block is loaded once for several rows. Allocates nothing. */
typedef void (*smelt_matmul_fn)(int64_t K, const void *w, size_t w_stride, int64_t n_rows, const void *xq,
                                size_t xq_stride, int64_t n_tok, float *y, int64_t ld_y);

/* Tiled matmul in the order of one of llama.cpp's kernels (repacked GEMM or
 * GEMV, tiled K-quant matmul; see enum smelt_mm_path): y[t*ld_y + r] = the
 * `kernel` reference (smelt_dot_q4_0_r8_ref, smelt_dot_q4_k_r8_ref,
 * smelt_dot_q5_k_tiled_ref, smelt_dot_q6_k_tiled_ref) of W row r and x row t,
 * bit for bit; same arguments as smelt_matmul_fn. Allocates nothing. */
typedef void (*smelt_matmul_r8_fn)(int64_t K, const void *w, size_t w_stride, int64_t n_rows, const void *xq,
                                   size_t xq_stride, int64_t n_tok, float *y, int64_t ld_y,
                                   enum smelt_r8_kernel kernel);

struct smelt_kernel_set {
    smelt_to_float_fn to_float[SMELT_TYPE_COUNT];
    smelt_from_float_fn from_float[SMELT_TYPE_COUNT];
    smelt_vec_dot_fn vec_dot[SMELT_TYPE_COUNT];
    smelt_from_float_fn quantize_act[SMELT_TYPE_COUNT]; /* run-time activation quantizers */
    float (*dot_f32)(int64_t n, const float *x, const float *y);
    void (*mad_f32)(int64_t n, float *y, const float *x, float a);
    void (*scale_f32)(int64_t n, float *y, float a);
    float (*dot_f16)(int64_t n, const uint16_t *x, const uint16_t *y);
    void (*mad_f16)(int64_t n, float *y, const uint16_t *x, float a);
    void (*fp32_to_fp16_row)(const float *x, uint16_t *y, int64_t n);
    void (*fp16_to_fp32_row)(const uint16_t *x, float *y, int64_t n);
    /* Optional tiled matmuls. matmul[t] is used only while the dispatched
     * vec_dot[t] is matmul_dot[t] (a higher tier that replaces the dot without
     * providing its own tile falls back to one vec_dot per output). */
    smelt_matmul_fn matmul[SMELT_TYPE_COUNT];
    smelt_vec_dot_fn matmul_dot[SMELT_TYPE_COUNT];
    /* Optional tiles of llama.cpp's repacked/tiled orders (Q4_0, Q4_K, Q5_K,
     * Q6_K); NULL: the reference, one output at a time. */
    smelt_matmul_r8_fn matmul_r8[SMELT_TYPE_COUNT];
};

/* "ref", "generic", "avx2", "avx512". */
const char *smelt_isa_name(enum smelt_isa isa);
/* Whether this CPU and OS can run a tier (CPUID + XCR0; no probe). */
bool smelt_isa_supported(enum smelt_isa isa);
/* Fill `ks` with the kernels of tier `isa` (lower tiers fill the gaps). Does
 * not check support: call only with a supported tier. Used by tests to run
 * every available tier against the reference. */
void smelt_kernels_fill(enum smelt_isa isa, struct smelt_kernel_set *ks);
/* Run the start-up probe of a filled set against the reference: true if every
 * kernel agrees (exactly for conversions, to rounding level for dots). */
bool smelt_kernels_probe(const struct smelt_kernel_set *ks);
/* Dispatched run-time activation quantizer of a type (see quantize_act_ref). */
smelt_from_float_fn smelt_kernels_quantize_act(uint32_t type);
/* The tier selected by smelt_kernels_init(). */
enum smelt_isa smelt_kernels_active_isa(void);

/* Per-tier fillers (each overrides only what it implements). */
void smelt_kernels_fill_ref(struct smelt_kernel_set *ks);
void smelt_kernels_fill_generic(struct smelt_kernel_set *ks);
void smelt_kernels_fill_avx2(struct smelt_kernel_set *ks);
/* avx2_ext.c: AVX2 kernels of Q5_0/Q5_1, K-quants, Q8_K, IQ4_NL/IQ4_XS (called by fill_avx2). */
void smelt_kernels_fill_avx2_ext(struct smelt_kernel_set *ks);
/* avx2_r8.c: AVX2 tiles of the repacked-weight orders (called by fill_avx2). */
void smelt_kernels_fill_avx2_r8(struct smelt_kernel_set *ks);
void smelt_kernels_fill_avx512(struct smelt_kernel_set *ks);

/* Shared driver of the AVX2 tiled matmuls (avx2.c). A tile computes R rows x T
 * tokens (R <= SMELT_MM_RMAX, T <= SMELT_MM_TMAX) over nb blocks; w and x point
 * at its first weight row and first activation row, y at its first output;
 * row r of the tile is weight row w + r*ws and output y[t*ldy + r*ldr].
 * The driver fills yd/ys, per block i and token t of the tile at
 * [i*SMELT_MM_TMAX + t], with the activation block's fp16 d (and s, for Q8_1)
 * as floats (zero for t >= T) when prep is 1 (d) or 2 (d and s); prep 0 passes
 * NULL. ybsz: bytes of an activation block. Falls back to `dot` per output when K is too large
 * for the stack buffers. */
#define SMELT_MM_RMAX 4
#define SMELT_MM_TMAX 8
typedef void (*smelt_mm_tile_fn)(int R, int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs,
                                 const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr);
struct smelt_mm_plan {
    smelt_mm_tile_fn tile;
    smelt_vec_dot_fn dot;
    int64_t blck;
    size_t ybsz;
    int prep;
    int r_pre, t_pre; /* rows x tokens per tile for n_tok > 1 (weights in ~64 KiB row chunks) */
    int r_dec;        /* rows per tile for n_tok == 1, taken from r_dec far-apart parts of the
                         row range (r_dec sequential weight streams); 0: one dot per row */
};
/* A switch over the (R, T) shapes: each case compiled from `fn` (an always
 * inline function taking R and T first) with constant loop counts. */
#define SMELT_MM_CASE(fn, r, t)                         \
    case (r) * 16 + (t):                                \
        fn(r, t, nb, w, ws, x, xs, yd, ys, y, ldy, ldr); \
        return;
#define SMELT_MM_CASES_R(fn, r) \
    SMELT_MM_CASE(fn, r, 1) SMELT_MM_CASE(fn, r, 2) SMELT_MM_CASE(fn, r, 3) SMELT_MM_CASE(fn, r, 4)
#define SMELT_MM_CASES_R8(fn, r) \
    SMELT_MM_CASES_R(fn, r) SMELT_MM_CASE(fn, r, 5) SMELT_MM_CASE(fn, r, 6) SMELT_MM_CASE(fn, r, 7) SMELT_MM_CASE(fn, r, 8)
/* A tile function for R <= 2 rows with up to 8 tokens, or R <= 4 with up to 4
 * (SMELT_MM_SHAPE8_OK; any other shape traps). */
#define SMELT_MM_SHAPE8_OK(r, t) ((r) >= 1 && (t) >= 1 && (((r) <= 2 && (t) <= 8) || ((r) <= 4 && (t) <= 4)))
#define SMELT_MM_DISPATCH8(name, fn)                                                                         \
    static void name(int R, int T, int64_t nb, const uint8_t *w, size_t ws, const uint8_t *x, size_t xs,     \
                     const float *yd, const float *ys, float *y, int64_t ldy, int64_t ldr) {                 \
        switch (R * 16 + T) {                                                                                 \
            SMELT_MM_CASES_R8(fn, 1)                                                                         \
            SMELT_MM_CASES_R8(fn, 2) SMELT_MM_CASES_R(fn, 3) SMELT_MM_CASES_R(fn, 4) default : __builtin_trap(); \
        }                                                                                                    \
    }
void smelt_avx2_mm_drive(const struct smelt_mm_plan *p, int64_t K, const void *w, size_t ws, int64_t nr,
                         const void *xq, size_t xs, int64_t nt, float *y, int64_t ldy);

/* Which of llama.cpp's CPU matmul paths (AVX2 build) a weight takes; the
 * path decides the float summation order, and smelt follows it so that its
 * results are llama.cpp's bit for bit.
 *   SMELT_MM_PLAIN    the weight stays as in the file. Quantized types: one
 *                     vec_dot per output (llama.cpp's tinyBLAS kernels for
 *                     Q8_0/Q4_0/Q5_0 batches sum in the same order). F16 and
 *                     F32: ggml_vec_dot_f16/f32's order for one token,
 *                     tinyBLAS's (one 8-lane accumulator) for two or more when
 *                     K % 8 == 0. Q4_K, Q5_K, Q6_K with 8 tokens or more: the
 *                     order of llama.cpp's tiled K-quant matmul.
 *   SMELT_MM_REPACK8  llama.cpp interleaves the weight 8 rows at a time at
 *                     load (Q4_0 and Q4_K with a row count that is a multiple
 *                     of 8): its GEMM kernel serves the first n_tok - n_tok % 4
 *                     tokens of a batch of more than 3, its GEMV kernel the
 *                     others (smelt_dot_*_r8_ref give one output of each). */
enum smelt_mm_path { SMELT_MM_PLAIN = 0, SMELT_MM_REPACK8 = 1, SMELT_MM_X16 = 2 };
/* SMELT_MM_X16 is not one of llama.cpp's paths: on the AVX-512 tier, weights
 * whose type and shape the x16 layout supports (src/kernels/x16.h) are
 * repacked at load and multiplied by the VNNI kernels, in smelt's own order
 * (smelt_x16_dot_ref). The model chooses it (smelt_matmul_path never returns
 * it); SMELT_NO_X16=1 turns it off. */
/* The path llama.cpp's AVX2 build gives a matmul weight of this type with
 * n_rows output rows that it holds in a weight buffer (not the token
 * embeddings, which it keeps as they are for row lookups even when the output
 * layer reuses them). Environment: SMELT_NO_REPACK=1 gives SMELT_MM_PLAIN for
 * every weight, as llama.cpp does with repacking off (--no-repack). */
enum smelt_mm_path smelt_matmul_path(uint32_t wtype, int64_t n_rows);

/* y[t*ld_y + r] = W row r . x row t for r in [row0, row1), t in [0, n_tok),
 * in the order of `path` (see above). Uses the active tier's tiles where they
 * reproduce that order (the plain tiles are bit-identical to the dispatched
 * vec_dot, the repack tiles to the *_r8_ref functions), else one output at a
 * time. Environment: SMELT_MATMUL=dot forces the one-output-at-a-time loop
 * (for comparison). w: the whole weight matrix, rows of K elements of wtype,
 * row stride smelt_quant_row_size(wtype, K); xq: n_tok rows already converted
 * to wtype's vec_dot_type, row stride xq_stride bytes. K must be a multiple of
 * the block size. The caller splits rows across threads; the function
 * allocates nothing and touches only y[.][row0..row1). */
void smelt_matmul_rows(const void *w, enum smelt_type wtype, int64_t K, int64_t row0, int64_t row1,
                       const void *xq, size_t xq_stride, int64_t n_tok, float *y, int64_t ld_y,
                       enum smelt_mm_path path);

/* Convert n_tok rows of K floats (row stride K) into vec_dot_type; output row
 * stride is smelt_quant_row_size(vec_dot_type, K). */
void smelt_quantize_rows(const float *x, int64_t n_tok, int64_t K, enum smelt_type vec_dot_type,
                         void *out);

#endif

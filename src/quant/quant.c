/* The type table and the scalar fp16/bf16 conversions. */
#include <string.h>

#include "quant/quant.h"
#include "quant/quant_blocks.h"
#include "quant/quant_ref.h"

/* One row per type smelt can compute with. Adding a type = adding a row here
 * (plus its _ref functions and, optionally, SIMD kernels in src/kernels/).
 * The dispatched pointers start as the reference and are replaced by
 * smelt_kernels_init(). */
#define ROW_ACT(T, NAME, BLCK, BYTES, VDT, TOF, FROMF, DOT, ACT) \
    [T] = {T, NAME, BLCK, BYTES, VDT, TOF, FROMF, DOT, TOF, FROMF, DOT, ACT}
#define ROW(T, NAME, BLCK, BYTES, VDT, TOF, FROMF, DOT) ROW_ACT(T, NAME, BLCK, BYTES, VDT, TOF, FROMF, DOT, FROMF)

static struct smelt_type_traits traits_table[SMELT_TYPE_COUNT] = {
    ROW(SMELT_TYPE_F32, "F32", 1, 4, SMELT_TYPE_F32, smelt_f32_to_float_ref,
        smelt_f32_from_float_ref, smelt_vec_dot_f32_ref),
    ROW(SMELT_TYPE_F16, "F16", 1, 2, SMELT_TYPE_F16, smelt_f16_to_float_ref,
        smelt_f16_from_float_ref, smelt_vec_dot_f16_ref),
    ROW(SMELT_TYPE_BF16, "BF16", 1, 2, SMELT_TYPE_BF16, smelt_bf16_to_float_ref,
        smelt_bf16_from_float_ref, smelt_vec_dot_bf16_ref),
    ROW(SMELT_TYPE_Q4_0, "Q4_0", SMELT_QK4_0, sizeof(smelt_block_q4_0), SMELT_TYPE_Q8_0,
        smelt_q4_0_to_float_ref, smelt_q4_0_from_float_ref, smelt_vec_dot_q4_0_q8_0_ref),
    ROW(SMELT_TYPE_Q4_1, "Q4_1", SMELT_QK4_1, sizeof(smelt_block_q4_1), SMELT_TYPE_Q8_1,
        smelt_q4_1_to_float_ref, smelt_q4_1_from_float_ref, smelt_vec_dot_q4_1_q8_1_ref),
    ROW_ACT(SMELT_TYPE_Q8_0, "Q8_0", SMELT_QK8_0, sizeof(smelt_block_q8_0), SMELT_TYPE_Q8_0,
            smelt_q8_0_to_float_ref, smelt_q8_0_from_float_ref, smelt_vec_dot_q8_0_q8_0_ref,
            smelt_q8_0_quantize_act_ref),
    ROW(SMELT_TYPE_Q5_0, "Q5_0", SMELT_QK5_0, sizeof(smelt_block_q5_0), SMELT_TYPE_Q8_0,
        smelt_q5_0_to_float_ref, smelt_q5_0_from_float_ref, smelt_vec_dot_q5_0_q8_0_ref),
    ROW(SMELT_TYPE_Q5_1, "Q5_1", SMELT_QK5_1, sizeof(smelt_block_q5_1), SMELT_TYPE_Q8_1,
        smelt_q5_1_to_float_ref, smelt_q5_1_from_float_ref, smelt_vec_dot_q5_1_q8_1_ref),
    ROW(SMELT_TYPE_Q2_K, "Q2_K", SMELT_QK_K, sizeof(smelt_block_q2_k), SMELT_TYPE_Q8_K,
        smelt_q2_k_to_float_ref, smelt_q2_k_from_float_ref, smelt_vec_dot_q2_k_q8_k_ref),
    ROW(SMELT_TYPE_Q3_K, "Q3_K", SMELT_QK_K, sizeof(smelt_block_q3_k), SMELT_TYPE_Q8_K,
        smelt_q3_k_to_float_ref, smelt_q3_k_from_float_ref, smelt_vec_dot_q3_k_q8_k_ref),
    ROW(SMELT_TYPE_Q4_K, "Q4_K", SMELT_QK_K, sizeof(smelt_block_q4_k), SMELT_TYPE_Q8_K,
        smelt_q4_k_to_float_ref, smelt_q4_k_from_float_ref, smelt_vec_dot_q4_k_q8_k_ref),
    ROW(SMELT_TYPE_Q5_K, "Q5_K", SMELT_QK_K, sizeof(smelt_block_q5_k), SMELT_TYPE_Q8_K,
        smelt_q5_k_to_float_ref, smelt_q5_k_from_float_ref, smelt_vec_dot_q5_k_q8_k_ref),
    ROW(SMELT_TYPE_Q6_K, "Q6_K", SMELT_QK_K, sizeof(smelt_block_q6_k), SMELT_TYPE_Q8_K,
        smelt_q6_k_to_float_ref, smelt_q6_k_from_float_ref, smelt_vec_dot_q6_k_q8_k_ref),
    ROW(SMELT_TYPE_IQ4_NL, "IQ4_NL", SMELT_QK4_NL, sizeof(smelt_block_iq4_nl), SMELT_TYPE_Q8_0,
        smelt_iq4_nl_to_float_ref, smelt_iq4_nl_from_float_ref, smelt_vec_dot_iq4_nl_q8_0_ref),
    ROW(SMELT_TYPE_IQ4_XS, "IQ4_XS", SMELT_QK_K, sizeof(smelt_block_iq4_xs), SMELT_TYPE_Q8_K,
        smelt_iq4_xs_to_float_ref, smelt_iq4_xs_from_float_ref, smelt_vec_dot_iq4_xs_q8_k_ref),
    /* activation-only types: no dot with themselves */
    ROW(SMELT_TYPE_Q8_K, "Q8_K", SMELT_QK_K, sizeof(smelt_block_q8_k), SMELT_TYPE_Q8_K,
        smelt_q8_k_to_float_ref, smelt_q8_k_from_float_ref, NULL),
    ROW_ACT(SMELT_TYPE_Q8_1, "Q8_1", SMELT_QK8_1, sizeof(smelt_block_q8_1), SMELT_TYPE_Q8_1,
            smelt_q8_1_to_float_ref, smelt_q8_1_from_float_ref, NULL, smelt_q8_1_quantize_act_ref),
};
#undef ROW

struct smelt_type_traits *smelt_quant_traits_raw(uint32_t type) {
    if (type >= SMELT_TYPE_COUNT || traits_table[type].name == NULL) return NULL;
    return &traits_table[type];
}

const struct smelt_type_traits *smelt_quant_traits(uint32_t type) {
    smelt_kernels_init();
    return smelt_quant_traits_raw(type);
}

size_t smelt_quant_row_size(uint32_t type, int64_t n) {
    const struct smelt_type_traits *t = smelt_quant_traits_raw(type);
    if (!t || n < 0 || n % t->blck != 0) return 0;
    return (size_t)(n / t->blck) * t->bytes;
}

/* ---- scalar conversions ----
 * fp16: IEEE binary16, round to nearest even, overflow to infinity. NaNs keep
 * their sign and top payload bits and are made quiet, which is exactly what the
 * F16C instructions do, so the SIMD paths agree bit for bit on every input. */
float smelt_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0);
    } else if (exp == 0) {
        f = (float)mant * 0x1p-24f; /* exact: subnormal or zero */
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t smelt_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf or NaN */
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) {                      /* normal half (>= 2^-14) */
        uint32_t r = ax - 0x38000000u;            /* rebias exponent 127 -> 15 */
        r = r + 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    uint32_t e = ax >> 23;
    if (e < 102) return sign; /* below 2^-25: rounds to zero */
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

float smelt_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* As ggml_compute_fp32_to_bf16: NaN -> quiet NaN (top bits kept), otherwise
 * round to nearest even (overflow goes to infinity). */
uint16_t smelt_fp32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64u);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

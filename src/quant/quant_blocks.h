/* Block layouts of the quantized tensor types, bit-identical to llama.cpp's
 * (ggml-common.h), so tensors in GGUF files can be used in place.
 *
 * Scales are IEEE half floats stored as raw uint16_t (little-endian, like the
 * file). Within a 32-element block of a 4-bit type, byte j of qs holds element
 * j in its low nibble and element j+16 in its high nibble.
 *
 *   Q4_0: x[j] = d * (q[j] - 8)              q in 0..15
 *   Q4_1: x[j] = d * q[j] + m                q in 0..15
 *   Q8_0: x[j] = d * q[j]                    q in -128..127 (quantizer gives -127..127)
 *   Q8_1: x[j] = d * q[j], s = d * sum(q)    (activation type paired with Q4_1, Q5_1)
 *   Q5_0: x[j] = d * (q[j] - 16)             q in 0..31: low 4 bits in qs (as Q4_0),
 *                                            bit 4 of element j is bit j of qh (LE u32)
 *   Q5_1: x[j] = d * q[j] + m                q in 0..31, packed as Q5_0
 *   IQ4_NL: x[j] = d * kvalues_iq4nl[q[j]]   q in 0..15, packed as Q4_0
 *
 * K-quants: super-blocks of QK_K = 256 elements split into sub-blocks whose
 * scales (and mins) are themselves quantized against the fp16 super-block
 * scales d (and dmin):
 *   Q2_K: 16 x 16, x = d*(sc&15)*q - dmin*(sc>>4), q in 0..3. Element
 *         128*h + 32*s + l (h<2, s<4, l<32) is bits 2s..2s+1 of qs[32*h + l];
 *         its sub-block is (128*h + 32*s + l) / 16.
 *   Q3_K: 16 x 16, x = d*(sc-32)*(q-4), q in 0..7: two low bits laid out as
 *         Q2_K, bit 2 of element 128*h + 32*s + l is bit 4*h+s of hmask[l].
 *         6-bit scales: low 4 bits of scale j in scales[j%8] (low nibble for
 *         j<8, high for j>=8), high 2 bits in scales[8 + j%4] at bit 2*(j/4).
 *   Q4_K: 8 x 32, x = d*sc*q - dmin*m, q in 0..15. Element 64*c + l (l<32)
 *         is the low nibble of qs[32*c + l], element 64*c + 32 + l its high
 *         nibble. 6-bit sc/m packed in 12 bytes (see smelt_k4_scale_min).
 *   Q5_K: as Q4_K with q in 0..31; bit 4 of element 64*c + l is bit 2c of
 *         qh[l], of element 64*c + 32 + l bit 2c+1.
 *   Q6_K: 16 x 16, x = d*sc*(q-32), q in 0..63, sc int8. Element
 *         128*h + 32*s + l: low 4 bits = nibble (s>=2 ? high : low) of
 *         ql[64*h + 32*(s&1) + l], high 2 bits = bits 2s..2s+1 of qh[32*h + l].
 *   Q8_K: x = d*q (d a float), bsums[g] = sum of the 16 quants of group g
 *         (activation type of every K-quant and IQ4_XS).
 *   IQ4_XS: 8 x 32, x = d*(ls-32)*kvalues_iq4nl[q], ls 6-bit: low 4 bits in
 *         scales_l[ib/2] (nibble ib%2), high 2 bits at bit 2*ib of scales_h;
 *         nibbles of each 32-element sub-block packed as Q4_0.
 */
#ifndef SMELT_QUANT_BLOCKS_H
#define SMELT_QUANT_BLOCKS_H

#include <stdint.h>

#define SMELT_QK4_0 32
#define SMELT_QK4_1 32
#define SMELT_QK8_0 32
#define SMELT_QK8_1 32
#define SMELT_QK5_0 32
#define SMELT_QK5_1 32
#define SMELT_QK4_NL 32
#define SMELT_QK_K 256
#define SMELT_K_SCALE_SIZE 12

/* The 16 values of the non-linear 4-bit types (llama.cpp kvalues_iq4nl). */
extern const int8_t smelt_kvalues_iq4nl[16];

typedef struct {
    uint16_t d;                  /* fp16 scale */
    uint8_t qs[SMELT_QK4_0 / 2]; /* nibbles */
} smelt_block_q4_0;

typedef struct {
    uint16_t d;                  /* fp16 scale */
    uint16_t m;                  /* fp16 minimum */
    uint8_t qs[SMELT_QK4_1 / 2]; /* nibbles */
} smelt_block_q4_1;

typedef struct {
    uint16_t d;              /* fp16 scale */
    int8_t qs[SMELT_QK8_0];  /* quants */
} smelt_block_q8_0;

typedef struct {
    uint16_t d;              /* fp16 scale */
    uint16_t s;              /* fp16 of d * sum(qs) (d as float, before rounding to fp16) */
    int8_t qs[SMELT_QK8_1];  /* quants */
} smelt_block_q8_1;

typedef struct {
    uint16_t d;                  /* fp16 scale */
    uint8_t qh[4];               /* bit 4 of each quant */
    uint8_t qs[SMELT_QK5_0 / 2]; /* low nibbles */
} smelt_block_q5_0;

typedef struct {
    uint16_t d;                  /* fp16 scale */
    uint16_t m;                  /* fp16 minimum */
    uint8_t qh[4];               /* bit 4 of each quant */
    uint8_t qs[SMELT_QK5_1 / 2]; /* low nibbles */
} smelt_block_q5_1;

typedef struct {
    uint16_t d;                   /* fp16 scale */
    uint8_t qs[SMELT_QK4_NL / 2]; /* nibbles: indices into smelt_kvalues_iq4nl */
} smelt_block_iq4_nl;

typedef struct {
    uint8_t scales[SMELT_QK_K / 16]; /* low nibble: scale, high nibble: min */
    uint8_t qs[SMELT_QK_K / 4];      /* 2-bit quants */
    uint16_t d;                      /* fp16 super-block scale of the scales */
    uint16_t dmin;                   /* fp16 super-block scale of the mins */
} smelt_block_q2_k;

typedef struct {
    uint8_t hmask[SMELT_QK_K / 8]; /* bit 2 of the quants */
    uint8_t qs[SMELT_QK_K / 4];    /* low 2 bits of the quants */
    uint8_t scales[12];            /* 6-bit scales */
    uint16_t d;                    /* fp16 super-block scale */
} smelt_block_q3_k;

typedef struct {
    uint16_t d;                             /* fp16 super-block scale of the scales */
    uint16_t dmin;                          /* fp16 super-block scale of the mins */
    uint8_t scales[SMELT_K_SCALE_SIZE];     /* 6-bit scales and mins */
    uint8_t qs[SMELT_QK_K / 2];             /* 4-bit quants */
} smelt_block_q4_k;

typedef struct {
    uint16_t d;                         /* fp16 super-block scale of the scales */
    uint16_t dmin;                      /* fp16 super-block scale of the mins */
    uint8_t scales[SMELT_K_SCALE_SIZE]; /* 6-bit scales and mins */
    uint8_t qh[SMELT_QK_K / 8];         /* bit 4 of the quants */
    uint8_t qs[SMELT_QK_K / 2];         /* low 4 bits of the quants */
} smelt_block_q5_k;

typedef struct {
    uint8_t ql[SMELT_QK_K / 2];      /* low 4 bits of the quants */
    uint8_t qh[SMELT_QK_K / 4];      /* high 2 bits of the quants */
    int8_t scales[SMELT_QK_K / 16];  /* 8-bit scales */
    uint16_t d;                      /* fp16 super-block scale */
} smelt_block_q6_k;

typedef struct {
    float d;                         /* scale (float, not fp16) */
    int8_t qs[SMELT_QK_K];           /* quants */
    int16_t bsums[SMELT_QK_K / 16];  /* sums of the quants in groups of 16 */
} smelt_block_q8_k;

typedef struct {
    uint16_t d;                   /* fp16 super-block scale */
    uint16_t scales_h;            /* high 2 bits of the 8 sub-block scales */
    uint8_t scales_l[SMELT_QK_K / 64]; /* low 4 bits of the sub-block scales */
    uint8_t qs[SMELT_QK_K / 2];   /* nibbles: indices into smelt_kvalues_iq4nl */
} smelt_block_iq4_xs;

_Static_assert(sizeof(smelt_block_q5_0) == 2 + 4 + SMELT_QK5_0 / 2, "block_q5_0 size");
_Static_assert(sizeof(smelt_block_q5_1) == 4 + 4 + SMELT_QK5_1 / 2, "block_q5_1 size");
_Static_assert(sizeof(smelt_block_iq4_nl) == 2 + SMELT_QK4_NL / 2, "block_iq4_nl size");
_Static_assert(sizeof(smelt_block_q2_k) == 4 + SMELT_QK_K / 16 + SMELT_QK_K / 4, "block_q2_K size");
_Static_assert(sizeof(smelt_block_q3_k) == 2 + SMELT_QK_K / 4 + SMELT_QK_K / 8 + 12, "block_q3_K size");
_Static_assert(sizeof(smelt_block_q4_k) == 4 + SMELT_K_SCALE_SIZE + SMELT_QK_K / 2, "block_q4_K size");
_Static_assert(sizeof(smelt_block_q5_k) == 4 + SMELT_K_SCALE_SIZE + SMELT_QK_K / 2 + SMELT_QK_K / 8,
               "block_q5_K size");
_Static_assert(sizeof(smelt_block_q6_k) == 2 + SMELT_QK_K / 16 + 3 * SMELT_QK_K / 4, "block_q6_K size");
_Static_assert(sizeof(smelt_block_q8_k) == 4 + SMELT_QK_K + SMELT_QK_K / 16 * 2, "block_q8_K size");
_Static_assert(sizeof(smelt_block_iq4_xs) == 4 + SMELT_QK_K / 64 + SMELT_QK_K / 2, "block_iq4_xs size");
_Static_assert(sizeof(smelt_block_q4_0) == 2 + SMELT_QK4_0 / 2, "block_q4_0 size");
_Static_assert(sizeof(smelt_block_q4_1) == 4 + SMELT_QK4_1 / 2, "block_q4_1 size");
_Static_assert(sizeof(smelt_block_q8_0) == 2 + SMELT_QK8_0, "block_q8_0 size");
_Static_assert(sizeof(smelt_block_q8_1) == 4 + SMELT_QK8_1, "block_q8_1 size");


/* Q4_K/Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void smelt_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif

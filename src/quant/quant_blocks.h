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
 *   Q8_1: x[j] = d * q[j], s = d * sum(q)    (activation type paired with Q4_1)
 */
#ifndef SMELT_QUANT_BLOCKS_H
#define SMELT_QUANT_BLOCKS_H

#include <stdint.h>

#define SMELT_QK4_0 32
#define SMELT_QK4_1 32
#define SMELT_QK8_0 32
#define SMELT_QK8_1 32

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

_Static_assert(sizeof(smelt_block_q4_0) == 2 + SMELT_QK4_0 / 2, "block_q4_0 size");
_Static_assert(sizeof(smelt_block_q4_1) == 4 + SMELT_QK4_1 / 2, "block_q4_1 size");
_Static_assert(sizeof(smelt_block_q8_0) == 2 + SMELT_QK8_0, "block_q8_0 size");
_Static_assert(sizeof(smelt_block_q8_1) == 4 + SMELT_QK8_1, "block_q8_1 size");

#endif

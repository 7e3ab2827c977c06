/* x16 layout: packing and the reference dot (see x16.h). */
#include "kernels/x16.h"

#include <math.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/quant_blocks.h"

static int64_t blck(uint32_t type) { return smelt_quant_traits(type)->blck; }

/* bytes of one group-block */
static size_t gbytes(uint32_t type) {
    switch (type) {
    case SMELT_TYPE_Q4_0: return 288;
    case SMELT_TYPE_Q4_1: return 320;
    case SMELT_TYPE_Q5_0: return 352;
    case SMELT_TYPE_Q8_0: return 544;
    case SMELT_TYPE_Q4_K: return 2368;
    case SMELT_TYPE_Q6_K: return 3360;
    default: return 0;
    }
}

bool smelt_x16_supported(uint32_t type, int64_t K, int64_t M) {
    if (!gbytes(type) || K <= 0 || M <= 0 || M % 16 || K % blck(type)) return false;
    /* the kernels' per-token scratch: 32-column types 1 int per block, Q4_K 4 per super-block at half the tokens */
    return K / blck(type) <= (type == SMELT_TYPE_Q4_K ? SMELT_X16_MAX_BLOCKS / 2 : SMELT_X16_MAX_BLOCKS);
}

size_t smelt_x16_size(uint32_t type, int64_t K, int64_t M) {
    return (size_t)(M / 16) * (size_t)(K / blck(type)) * gbytes(type);
}

/* ---- codes of element j of one original block ---- */

static int code4(const uint8_t *qs, int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }

static int code5(const smelt_block_q5_0 *b, int j) {
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    return code4(b->qs, j) | (int)(((qh >> j) & 1) << 4);
}

static int code_q4k(const smelt_block_q4_k *b, int e) {
    const int c = e / 64, l = e % 64;
    return l < 32 ? b->qs[32 * c + l] & 15 : b->qs[32 * c + l - 32] >> 4;
}

static int code_q6k(const smelt_block_q6_k *b, int e) {
    const int h = e / 128, s = (e % 128) / 32, l = e % 32;
    const uint8_t q = b->ql[64 * h + 32 * (s & 1) + l];
    const int lo = s >= 2 ? q >> 4 : q & 15;
    return lo | (((b->qh[32 * h + l] >> (2 * s)) & 3) << 4);
}

/* The codes of the 16 rows of one (super-)block, decoded once. */
static void decode_codes(uint32_t type, const uint8_t *src, size_t rs, uint8_t cd[16][256]) {
    for (int r = 0; r < 16; r++) {
        const uint8_t *blk = src + (size_t)r * rs;
        switch (type) {
        case SMELT_TYPE_Q4_0:
            for (int j = 0; j < 32; j++) cd[r][j] = (uint8_t)code4(((const smelt_block_q4_0 *)blk)->qs, j);
            break;
        case SMELT_TYPE_Q4_1:
            for (int j = 0; j < 32; j++) cd[r][j] = (uint8_t)code4(((const smelt_block_q4_1 *)blk)->qs, j);
            break;
        case SMELT_TYPE_Q5_0:
            for (int j = 0; j < 32; j++) cd[r][j] = (uint8_t)code5((const smelt_block_q5_0 *)blk, j);
            break;
        case SMELT_TYPE_Q4_K:
            for (int e = 0; e < 256; e++) cd[r][e] = (uint8_t)code_q4k((const smelt_block_q4_k *)blk, e);
            break;
        case SMELT_TYPE_Q6_K:
            for (int e = 0; e < 256; e++) cd[r][e] = (uint8_t)code_q6k((const smelt_block_q6_k *)blk, e);
            break;
        default:
            break;
        }
    }
}

/* Interleaved nibbles (low 4 bits of the codes) of the 32 columns at off. */
static void put_nibbles(uint8_t *qs, const uint8_t cd[16][256], int off) {
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < 16; r++)
            for (int k = 0; k < 4; k++)
                qs[64 * i + 4 * r + k] =
                    (uint8_t)((cd[r][off + 8 * i + k] & 15) | ((cd[r][off + 8 * i + 4 + k] & 15) << 4));
}

static void pack_block(uint32_t type, const uint8_t *src, size_t rs, uint8_t *o) {
    uint16_t *h = (uint16_t *)o; /* fp16 fields first */
    uint8_t cd[16][256];
    decode_codes(type, src, rs, cd);
    switch (type) {
    case SMELT_TYPE_Q4_0:
        for (int r = 0; r < 16; r++) h[r] = ((const smelt_block_q4_0 *)(src + r * rs))->d;
        put_nibbles(o + 32, cd, 0);
        break;
    case SMELT_TYPE_Q4_1:
        for (int r = 0; r < 16; r++) {
            h[r] = ((const smelt_block_q4_1 *)(src + r * rs))->d;
            h[16 + r] = ((const smelt_block_q4_1 *)(src + r * rs))->m;
        }
        put_nibbles(o + 64, cd, 0);
        break;
    case SMELT_TYPE_Q5_0:
        for (int r = 0; r < 16; r++) h[r] = ((const smelt_block_q5_0 *)(src + r * rs))->d;
        for (int s = 0; s < 8; s++) { /* bit 4r + k of step s: bit 4s + k of row r's qh */
            uint64_t bits = 0;
            for (int r = 0; r < 16; r++) {
                uint32_t qh;
                memcpy(&qh, ((const smelt_block_q5_0 *)(src + r * rs))->qh, 4);
                bits |= (uint64_t)((qh >> (4 * s)) & 15) << (4 * r);
            }
            for (int i = 0; i < 8; i++) o[32 + 8 * s + i] = (uint8_t)(bits >> (8 * i));
        }
        put_nibbles(o + 96, cd, 0);
        break;
    case SMELT_TYPE_Q8_0:
        for (int r = 0; r < 16; r++) {
            const smelt_block_q8_0 *b = (const smelt_block_q8_0 *)(src + r * rs);
            h[r] = b->d;
            for (int s = 0; s < 8; s++) { /* 4 codes at a time: + 128 is a flip of each byte's top bit */
                uint32_t v;
                memcpy(&v, b->qs + 4 * s, 4);
                v ^= 0x80808080u;
                memcpy(o + 32 + 64 * s + 4 * r, &v, 4);
            }
        }
        break;
    case SMELT_TYPE_Q4_K:
        for (int r = 0; r < 16; r++) {
            const smelt_block_q4_k *b = (const smelt_block_q4_k *)(src + r * rs);
            h[r] = b->d;
            h[16 + r] = b->dmin;
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                smelt_k4_scale_min(j, b->scales, &sc, &m);
                o[64 + 16 * j + r] = sc;
                o[192 + 32 * (j / 2) + 2 * r + (j % 2)] = m;
            }
        }
        for (int j = 0; j < 8; j++) put_nibbles(o + 320 + 256 * j, cd, 32 * j);
        break;
    case SMELT_TYPE_Q6_K:
        for (int r = 0; r < 16; r++) {
            const smelt_block_q6_k *b = (const smelt_block_q6_k *)(src + r * rs);
            h[r] = b->d;
            for (int k = 0; k < 16; k++) o[32 + 16 * k + r] = (uint8_t)b->scales[k];
        }
        for (int j = 0; j < 8; j++) {
            put_nibbles(o + 288 + 256 * j, cd, 32 * j);
            uint8_t *qh = o + 288 + 2048 + 128 * j;
            memset(qh, 0, 128);
            for (int v = 0; v < 2; v++)
                for (int u = 0; u < 4; u++)
                    for (int r = 0; r < 16; r++)
                        for (int k = 0; k < 4; k++)
                            qh[64 * v + 4 * r + k] |= (uint8_t)((cd[r][32 * j + 4 * (4 * v + u) + k] >> 4) << (2 * u));
        }
        break;
    default:
        break;
    }
}

void smelt_x16_pack(uint32_t type, int64_t K, int64_t M, const void *src, void *dst) {
    const size_t rs = smelt_quant_row_size(type, K), bb = smelt_quant_traits(type)->bytes, gb = gbytes(type);
    const int64_t nb = K / blck(type);
    uint8_t *o = dst;
    for (int64_t g = 0; g < M / 16; g++)
        for (int64_t b = 0; b < nb; b++, o += gb)
            pack_block(type, (const uint8_t *)src + (size_t)(16 * g) * rs + (size_t)b * bb, rs, o);
}

/* ---- rows back out of the packed form (32-column types) ---- */

/* the 4-bit code of row r, column c of a packed 32-column block's nibbles */
static int nib(const uint8_t *qs, int r, int c) {
    const int i = c / 8, k = c % 4;
    const uint8_t v = qs[64 * i + 4 * r + k];
    return (c % 8) < 4 ? v & 15 : v >> 4;
}

bool smelt_x16_has_rows(uint32_t type) {
    return type == SMELT_TYPE_Q4_0 || type == SMELT_TYPE_Q4_1 || type == SMELT_TYPE_Q5_0 || type == SMELT_TYPE_Q8_0;
}

bool smelt_x16_row_to_float(uint32_t type, int64_t K, const void *packed, int64_t r, float *out) {
    if (!smelt_x16_has_rows(type)) return false;
    const int64_t nb = K / 32;
    const size_t gb = gbytes(type);
    const uint8_t *g = (const uint8_t *)packed + (size_t)(r / 16) * (size_t)nb * gb;
    const int l = (int)(r % 16);
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *o = g + b * gb;
        const uint16_t *h = (const uint16_t *)o;
        union {
            smelt_block_q4_0 q40;
            smelt_block_q4_1 q41;
            smelt_block_q5_0 q50;
            smelt_block_q8_0 q80;
        } blk;
        memset(&blk, 0, sizeof blk);
        if (type == SMELT_TYPE_Q8_0) {
            blk.q80.d = h[l];
            for (int j = 0; j < 32; j++) blk.q80.qs[j] = (int8_t)(o[32 + 64 * (j / 4) + 4 * l + j % 4] - 128);
        } else {
            const uint8_t *qs = o + (type == SMELT_TYPE_Q4_0 ? 32 : type == SMELT_TYPE_Q4_1 ? 64 : 96);
            uint8_t *dq = type == SMELT_TYPE_Q4_0 ? blk.q40.qs : type == SMELT_TYPE_Q4_1 ? blk.q41.qs : blk.q50.qs;
            for (int j = 0; j < 16; j++) dq[j] = (uint8_t)(nib(qs, l, j) | nib(qs, l, j + 16) << 4);
            if (type == SMELT_TYPE_Q4_0) blk.q40.d = h[l];
            if (type == SMELT_TYPE_Q4_1) blk.q41.d = h[l], blk.q41.m = h[16 + l];
            if (type == SMELT_TYPE_Q5_0) {
                uint32_t qh = 0;
                for (int j = 0; j < 32; j++)
                    if (o[32 + 8 * (j / 4) + (4 * l + j % 4) / 8] >> ((4 * l + j % 4) % 8) & 1) qh |= 1u << j;
                blk.q50.d = h[l];
                memcpy(blk.q50.qh, &qh, 4);
            }
        }
        tr->to_float_ref(&blk, out + 32 * b, 32);
    }
    return true;
}

/* ---- reference dot ---- */

static int32_t isum32(const int8_t *q, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += q[i];
    return s;
}

float smelt_x16_dot_ref(uint32_t type, int64_t K, const void *wrow, const void *xrow) {
    float acc = 0.0f;
    const int64_t nb = K / blck(type);
    for (int64_t b = 0; b < nb; b++) {
        switch (type) {
        case SMELT_TYPE_Q4_0:
        case SMELT_TYPE_Q5_0:
        case SMELT_TYPE_Q8_0: {
            const smelt_block_q8_0 *y = (const smelt_block_q8_0 *)xrow + b;
            int32_t I = 0;
            uint16_t d;
            if (type == SMELT_TYPE_Q4_0) {
                const smelt_block_q4_0 *w = (const smelt_block_q4_0 *)wrow + b;
                for (int j = 0; j < 32; j++) I += code4(w->qs, j) * y->qs[j];
                I -= 8 * isum32(y->qs, 32);
                d = w->d;
            } else if (type == SMELT_TYPE_Q5_0) {
                const smelt_block_q5_0 *w = (const smelt_block_q5_0 *)wrow + b;
                for (int j = 0; j < 32; j++) I += code5(w, j) * y->qs[j];
                I -= 16 * isum32(y->qs, 32);
                d = w->d;
            } else {
                const smelt_block_q8_0 *w = (const smelt_block_q8_0 *)wrow + b;
                for (int j = 0; j < 32; j++) I += w->qs[j] * y->qs[j];
                d = w->d;
            }
            acc = fmaf((float)I, smelt_fp16_to_fp32(d) * smelt_fp16_to_fp32(y->d), acc);
            break;
        }
        case SMELT_TYPE_Q4_1: {
            const smelt_block_q4_1 *w = (const smelt_block_q4_1 *)wrow + b;
            const smelt_block_q8_1 *y = (const smelt_block_q8_1 *)xrow + b;
            int32_t I = 0;
            for (int j = 0; j < 32; j++) I += code4(w->qs, j) * y->qs[j];
            acc = fmaf((float)I, smelt_fp16_to_fp32(w->d) * smelt_fp16_to_fp32(y->d), acc);
            acc = fmaf(smelt_fp16_to_fp32(w->m), smelt_fp16_to_fp32(y->s), acc);
            break;
        }
        case SMELT_TYPE_Q4_K: {
            const smelt_block_q4_k *w = (const smelt_block_q4_k *)wrow + b;
            const smelt_block_q8_k *y = (const smelt_block_q8_k *)xrow + b;
            int32_t I = 0, M = 0;
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                smelt_k4_scale_min(j, w->scales, &sc, &m);
                int32_t Ij = 0;
                for (int e = 32 * j; e < 32 * j + 32; e++) Ij += code_q4k(w, e) * y->qs[e];
                I += sc * Ij;
                M += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
            }
            acc = fmaf((float)I, smelt_fp16_to_fp32(w->d) * y->d, acc);
            acc = fmaf(-(float)M, smelt_fp16_to_fp32(w->dmin) * y->d, acc);
            break;
        }
        case SMELT_TYPE_Q6_K: {
            const smelt_block_q6_k *w = (const smelt_block_q6_k *)wrow + b;
            const smelt_block_q8_k *y = (const smelt_block_q8_k *)xrow + b;
            int32_t I = 0;
            for (int k = 0; k < 16; k++) {
                int32_t Ik = 0;
                for (int e = 16 * k; e < 16 * k + 16; e++) Ik += code_q6k(w, e) * y->qs[e];
                I += w->scales[k] * (Ik - 32 * y->bsums[k]);
            }
            acc = fmaf((float)I, smelt_fp16_to_fp32(w->d) * y->d, acc);
            break;
        }
        default:
            return NAN;
        }
    }
    return acc;
}

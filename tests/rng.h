/* A small seeded xorshift64 generator for tests: raw 32-bit draws
 * (test_u32) and uniform floats in [-1, 1) (test_frand). */
#ifndef SMELT_TEST_RNG_H
#define SMELT_TEST_RNG_H
#include <stdint.h>

static inline uint32_t test_u32(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

static inline float test_frand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
#endif

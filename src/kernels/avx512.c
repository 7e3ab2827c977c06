/* AVX-512 tier (placeholder until the kernels land: inherits AVX2). */
#include "kernels/kernels.h"

void smelt_kernels_fill_avx512(struct smelt_kernel_set *ks) { (void)ks; }

/* Throughput of the AVX-512 instructions the x16 and attention kernels are
 * made of, alone and in mixes, on one core (instructions per second; the
 * chains are independent, so latency does not limit). A mix's total above the
 * single-instruction rate means the instructions issue on different pipes.
 * The machine under these sessions changes (Zen 4 in session 5, Zen 5 in
 * session 6): run this first to see what the kernels can reach.
 *   cc -O2 dev/speed/port_probe.c -o /tmp/port_probe && /tmp/port_probe */
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define DP(i) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #i "\n"
#define FMA(i) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define MUL(i) "vmulps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define FADD(i) "vaddps %%zmm30, %%zmm" #i ", %%zmm" #i "\n"
#define CVT(i) "vcvtdq2ps %%zmm30, %%zmm" #i "\n"
#define CVTH(i) "vcvtph2ps %%ymm30, %%zmm" #i "\n"
#define ADD(i) "vpaddd %%zmm30, %%zmm" #i ", %%zmm" #i "\n"
#define AND(i) "vpandd %%zmm30, %%zmm" #i ", %%zmm" #i "\n"
#define MULLO(i) "vpmulld %%zmm30, %%zmm31, %%zmm" #i "\n"
#define DPBF(i) "vdpbf16ps %%zmm30, %%zmm31, %%zmm" #i "\n"
#define BCM(i) "vpbroadcastd (%1), %%zmm" #i "\n"
#define D8 DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7)
#define X4(op) op(8) op(9) op(10) op(11)
#define X12(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11)

static int buf[64];

#define RUN(name, body, cnt)                                                          \
    do {                                                                              \
        const double t0 = now();                                                      \
        for (long k = 0; k < n; k++) __asm__ volatile(body ::"r"(k), "r"(buf) : "memory"); \
        printf("%-16s %6.2f G instr/s\n", name, n * (double)(cnt) / (now() - t0) / 1e9); \
    } while (0)

int main(void) {
    const long n = 30000000;
    RUN("vpdpbusd", X12(DP), 12);
    RUN("vfmadd231ps", X12(FMA), 12);
    RUN("vmulps", X12(MUL), 12);
    RUN("vaddps", X12(FADD), 12);
    RUN("vcvtdq2ps", X12(CVT), 12);
    RUN("vcvtph2ps", X12(CVTH), 12);
    RUN("vpaddd", X12(ADD), 12);
    RUN("vpmulld", X12(MULLO), 12);
    RUN("vdpbf16ps", X12(DPBF), 12);
    RUN("8 dp + 4 fma", D8 X4(FMA), 12);
    RUN("8 dp + 4 cvt", D8 X4(CVT), 12);
    RUN("8 dp + 4 cvtph", D8 X4(CVTH), 12);
    RUN("8 dp + 4 and", D8 X4(AND), 12);
    RUN("8 dp + 4 bcast", D8 X4(BCM), 12);
    return 0;
}

/* Start-up selection of the kernel tier and the dispatched vector primitives. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "quant/quant_ref.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SMELT_X86 1
#endif

static const char *const isa_names[SMELT_ISA_N] = {"ref", "generic", "avx2", "avx512"};

const char *smelt_isa_name(enum smelt_isa isa) {
    return (unsigned)isa < SMELT_ISA_N ? isa_names[isa] : "unknown";
}

#ifdef SMELT_X86
/* XCR0: which register states the OS saves/restores. Bits 1,2 = SSE/AVX;
 * 5,6,7 = AVX-512 opmask, ZMM0-15 upper halves, ZMM16-31. */
static uint64_t read_xcr0(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27))) return 0; /* OSXSAVE: xgetbv not usable */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

bool smelt_isa_supported(enum smelt_isa isa) {
    switch (isa) {
    case SMELT_ISA_REF:
    case SMELT_ISA_GENERIC:
        return true;
#ifdef SMELT_X86
    case SMELT_ISA_AVX2: {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29))) return false; /* F16C */
        return (read_xcr0() & 0x6) == 0x6;
    }
    case SMELT_ISA_AVX512:
        if (!smelt_isa_supported(SMELT_ISA_AVX2)) return false;
        if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
            !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni"))
            return false;
        return (read_xcr0() & 0xe6) == 0xe6;
#endif
    default:
        return false;
    }
}

void smelt_kernels_fill(enum smelt_isa isa, struct smelt_kernel_set *ks) {
    memset(ks, 0, sizeof *ks);
    smelt_kernels_fill_ref(ks);
    if (isa >= SMELT_ISA_GENERIC) smelt_kernels_fill_generic(ks);
#ifdef SMELT_X86
    if (isa >= SMELT_ISA_AVX2) smelt_kernels_fill_avx2(ks);
    if (isa >= SMELT_ISA_AVX512) smelt_kernels_fill_avx512(ks);
#endif
}

static float ref_dot_f32(int64_t n, const float *x, const float *y) {
    return smelt_vec_dot_f32_ref(n, x, y);
}
static float ref_dot_f16(int64_t n, const uint16_t *x, const uint16_t *y) {
    return smelt_vec_dot_f16_ref(n, x, y);
}

void smelt_kernels_fill_ref(struct smelt_kernel_set *ks) {
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        const struct smelt_type_traits *tr = smelt_quant_traits_raw(t);
        if (!tr) continue;
        ks->to_float[t] = tr->to_float_ref;
        ks->from_float[t] = tr->from_float_ref;
        ks->vec_dot[t] = tr->vec_dot_ref;
        ks->quantize_act[t] = tr->quantize_act_ref;
    }
    ks->dot_f32 = ref_dot_f32;
    ks->mad_f32 = smelt_vec_mad_f32_ref;
    ks->scale_f32 = smelt_vec_scale_f32_ref;
    ks->dot_f16 = ref_dot_f16;
    ks->mad_f16 = smelt_vec_mad_f16_ref;
    ks->fp32_to_fp16_row = smelt_fp32_to_fp16_row_ref;
    ks->fp16_to_fp32_row = smelt_fp16_to_fp32_row_ref;
}

/* ---- probe ---- */

static uint32_t probe_rng(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

#define PROBE_N 512  /* 16 blocks of 32, 2 super-blocks of 256 */
#define PROBE_NF 37  /* odd length for the f32/f16 primitives */

static bool close_enough(float got, float want, float scale) {
    return fabsf(got - want) <= 1e-5f * scale + 1e-30f;
}

bool smelt_kernels_probe(const struct smelt_kernel_set *ks) {
    float xa[PROBE_N], xb[PROBE_N], fa[PROBE_N], fb[PROBE_N], ya[PROBE_N], yb[PROBE_N];
    _Alignas(64) unsigned char qa[PROBE_N * 4], qb[PROBE_N * 4], qr[PROBE_N * 4];
    uint32_t s = 12345;
    for (int i = 0; i < PROBE_N; i++) {
        xa[i] = ((float)(probe_rng(&s) % 20001) - 10000.0f) * 1e-4f;
        xb[i] = ((float)(probe_rng(&s) % 20001) - 10000.0f) * 3e-4f;
    }
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        const struct smelt_type_traits *tr = smelt_quant_traits_raw(t);
        if (!tr) continue;
        const size_t rs = smelt_quant_row_size(t, PROBE_N);
        /* from_float: exact */
        tr->from_float_ref(xa, qr, PROBE_N);
        memset(qa, 0xa5, sizeof qa);
        ks->from_float[t](xa, qa, PROBE_N);
        if (memcmp(qa, qr, rs) != 0) return false;
        tr->quantize_act_ref(xa, qr, PROBE_N);
        memset(qa, 0xa5, sizeof qa);
        ks->quantize_act[t](xa, qa, PROBE_N);
        if (memcmp(qa, qr, rs) != 0) return false;
        tr->from_float_ref(xa, qr, PROBE_N);
        /* to_float: exact */
        tr->to_float_ref(qr, fa, PROBE_N);
        ks->to_float[t](qr, fb, PROBE_N);
        if (memcmp(fa, fb, sizeof fa) != 0) return false;
        /* vec_dot: rounding level */
        if (!tr->vec_dot_ref) continue;
        const struct smelt_type_traits *vt = smelt_quant_traits_raw(tr->vec_dot_type);
        vt->from_float_ref(xb, qb, PROBE_N);
        vt->to_float_ref(qb, fb, PROBE_N);
        float scale = 0.0f;
        for (int i = 0; i < PROBE_N; i++) scale += fabsf(fa[i] * fb[i]);
        float want = tr->vec_dot_ref(PROBE_N, qr, qb);
        float got = ks->vec_dot[t](PROBE_N, qr, qb);
        if (!close_enough(got, want, scale)) return false;
    }
    /* f32 / f16 primitives */
    uint16_t ha[PROBE_NF], hb[PROBE_NF], hr[PROBE_NF];
    float scale = 0.0f;
    for (int i = 0; i < PROBE_NF; i++) scale += fabsf(xa[i] * xb[i]);
    if (!close_enough(ks->dot_f32(PROBE_NF, xa, xb), smelt_vec_dot_f32_ref(PROBE_NF, xa, xb), scale))
        return false;
    memcpy(ya, xb, sizeof ya);
    memcpy(yb, xb, sizeof yb);
    smelt_vec_mad_f32_ref(PROBE_NF, ya, xa, 0.75f);
    ks->mad_f32(PROBE_NF, yb, xa, 0.75f);
    for (int i = 0; i < PROBE_NF; i++)
        if (!close_enough(yb[i], ya[i], fabsf(xb[i]) + fabsf(xa[i]))) return false;
    smelt_vec_scale_f32_ref(PROBE_NF, ya, 1.25f);
    ks->scale_f32(PROBE_NF, yb, 1.25f);
    for (int i = 0; i < PROBE_NF; i++)
        if (!close_enough(yb[i], ya[i], 2.0f * (fabsf(xb[i]) + fabsf(xa[i])))) return false;
    smelt_fp32_to_fp16_row_ref(xa, hr, PROBE_NF);
    ks->fp32_to_fp16_row(xa, ha, PROBE_NF);
    if (memcmp(ha, hr, sizeof ha) != 0) return false;
    smelt_fp32_to_fp16_row_ref(xb, hb, PROBE_NF);
    smelt_fp16_to_fp32_row_ref(ha, fa, PROBE_NF);
    ks->fp16_to_fp32_row(ha, fb, PROBE_NF);
    if (memcmp(fa, fb, PROBE_NF * sizeof(float)) != 0) return false;
    if (!close_enough(ks->dot_f16(PROBE_NF, ha, hb), smelt_vec_dot_f16_ref(PROBE_NF, ha, hb),
                      scale * 1.01f))
        return false;
    memcpy(ya, xb, sizeof ya);
    memcpy(yb, xb, sizeof yb);
    smelt_vec_mad_f16_ref(PROBE_NF, ya, ha, -0.5f);
    ks->mad_f16(PROBE_NF, yb, ha, -0.5f);
    for (int i = 0; i < PROBE_NF; i++)
        if (!close_enough(yb[i], ya[i], fabsf(xb[i]) + fabsf(xa[i]))) return false;
    return true;
}

/* The probe runs under a SIGILL guard: a CPU that advertises an instruction
 * set the OS or hypervisor does not actually allow makes the tier fail the
 * probe instead of killing the process. */
static sigjmp_buf probe_jmp;
static void probe_on_sigill(int sig) {
    (void)sig;
    siglongjmp(probe_jmp, 1);
}

static bool guarded_probe(const struct smelt_kernel_set *ks) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = probe_on_sigill;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGILL, &sa, &old) != 0) return smelt_kernels_probe(ks);
    volatile bool ok = false;
    if (sigsetjmp(probe_jmp, 1) == 0) ok = smelt_kernels_probe(ks);
    sigaction(SIGILL, &old, NULL);
    return ok;
}

/* ---- init ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_int kernels_ready;
static struct smelt_kernel_set active;
static enum smelt_isa active_isa = SMELT_ISA_REF;

static void kernels_init_impl(void) {
    enum smelt_isa cap = SMELT_ISA_AVX512;
    const char *isa_env = getenv("SMELT_ISA");
    if (isa_env && *isa_env) {
        bool known = false;
        for (int i = 0; i < SMELT_ISA_N; i++) {
            if (strcmp(isa_env, isa_names[i]) == 0) {
                cap = (enum smelt_isa)i;
                known = true;
            }
        }
        if (!known) smelt_log(1, "SMELT_ISA=%s not recognised (ref|generic|avx2|avx512); ignored", isa_env);
    }
    const char *force = getenv("SMELT_FORCE_REF");
    if (force && *force && strcmp(force, "0") != 0) cap = SMELT_ISA_REF;

    enum smelt_isa isa = cap;
    for (; isa > SMELT_ISA_REF; isa--) {
        if (!smelt_isa_supported(isa)) continue;
        smelt_kernels_fill(isa, &active);
        if (guarded_probe(&active)) break;
        smelt_log(1, "kernels: %s tier failed its start-up probe; falling back", isa_names[isa]);
    }
    if (isa == SMELT_ISA_REF) smelt_kernels_fill(SMELT_ISA_REF, &active);
    active_isa = isa;
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        struct smelt_type_traits *tr = smelt_quant_traits_raw(t);
        if (!tr) continue;
        tr->to_float = active.to_float[t];
        tr->from_float = active.from_float[t];
        tr->vec_dot = active.vec_dot[t];
    }
    smelt_log(3, "kernels: using %s", isa_names[isa]);
    atomic_store_explicit(&kernels_ready, 1, memory_order_release);
}

smelt_from_float_fn smelt_kernels_quantize_act(uint32_t type) {
    smelt_kernels_init();
    return type < SMELT_TYPE_COUNT ? active.quantize_act[type] : NULL;
}

void smelt_kernels_init(void) {
    if (atomic_load_explicit(&kernels_ready, memory_order_acquire)) return;
    pthread_once(&init_once, kernels_init_impl);
}

const char *smelt_kernels_isa(void) {
    smelt_kernels_init();
    return isa_names[active_isa];
}

enum smelt_isa smelt_kernels_active_isa(void) {
    smelt_kernels_init();
    return active_isa;
}

/* ---- dispatched primitives ---- */

#define ENSURE() \
    if (!atomic_load_explicit(&kernels_ready, memory_order_acquire)) smelt_kernels_init()

float smelt_vec_dot_f32(int64_t n, const float *x, const float *y) {
    ENSURE();
    return active.dot_f32(n, x, y);
}
void smelt_vec_mad_f32(int64_t n, float *y, const float *x, float a) {
    ENSURE();
    active.mad_f32(n, y, x, a);
}
void smelt_vec_scale_f32(int64_t n, float *y, float a) {
    ENSURE();
    active.scale_f32(n, y, a);
}
float smelt_vec_dot_f16(int64_t n, const uint16_t *x, const uint16_t *y) {
    ENSURE();
    return active.dot_f16(n, x, y);
}
void smelt_vec_mad_f16(int64_t n, float *y, const uint16_t *x, float a) {
    ENSURE();
    active.mad_f16(n, y, x, a);
}
void smelt_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n) {
    ENSURE();
    active.fp32_to_fp16_row(x, y, n);
}
void smelt_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n) {
    ENSURE();
    active.fp16_to_fp32_row(x, y, n);
}

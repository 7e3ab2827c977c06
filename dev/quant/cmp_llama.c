/* Compare smelt_quantize_imat with llama.cpp's quantizers (libggml's
 * ggml_quantize_chunk, loaded with dlopen) on the same rows: Gaussian rows and
 * real weight rows (dequantized from the cached models), with synthetic
 * heavy-tailed importances (lognormal sigma 1.5, 2% of columns x50) and
 * without. Both outputs are dequantized with smelt's *_to_float_ref (equal to
 * llama.cpp's). Prints per type: weighted error ratio ours/llama with the
 * importances, plain error ratio ours/llama without, and our time.
 *
 * build: cc -O2 -Isrc -Iinclude dev/quant/cmp_llama.c build-quant/libsmelt.a -ldl -lm -lpthread -o /tmp/cmp_llama
 * run:   /tmp/cmp_llama /tmp/oracle-venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so \
 *            ~/.cache/smelt/models/SmolLM2-135M-Instruct.Q4_1.gguf ~/.cache/smelt/models/gemma-3-270m-q4_k_m.gguf
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant.h"
#include "quant/quant_imat.h"
#include "smelt/gguf.h"

typedef size_t (*chunk_fn)(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

#define NPR 512
struct set { const char *name; float *x; int64_t nrows; };

static double werr(uint32_t type, const float *x, const void *q, int64_t nrows, const float *imp) {
    const struct smelt_type_traits *tr = smelt_quant_traits(type);
    size_t rs = smelt_quant_row_size(type, NPR);
    float y[NPR];
    double e = 0;
    for (int64_t r = 0; r < nrows; r++) {
        tr->to_float_ref((const char *)q + r * rs, y, NPR);
        for (int j = 0; j < NPR; j++) {
            double d = (double)x[r * NPR + j] - y[j];
            e += (imp ? imp[j] : 1.0) * d * d;
        }
    }
    return e;
}

static void add_model(struct set *s, const char *path, const char *name) {
    struct smelt_gguf *g;
    if (smelt_gguf_open(path, &g)) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    const int rows_per = 48;
    s->name = name;
    s->x = NULL;
    s->nrows = 0;
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        if (t->n_dims != 2 || (!strstr(t->name, "blk.1.") && !strstr(t->name, "blk.9.") && !strstr(t->name, "blk.17."))) continue;
        int64_t n = t->ne[0] * t->ne[1];
        if (n % NPR) continue;
        const struct smelt_type_traits *tr = smelt_quant_traits(t->type);
        float *f = malloc(n * sizeof *f);
        tr->to_float_ref(t->data, f, n);
        int64_t nr = n / NPR, step = nr / rows_per;
        if (step < 1) step = 1;
        s->x = realloc(s->x, (s->nrows + rows_per) * NPR * sizeof *s->x);
        for (int64_t r = 0; r < rows_per && r * step < nr; r++)
            memcpy(s->x + (s->nrows++) * NPR, f + r * step * NPR, NPR * sizeof *f);
        free(f);
    }
    smelt_gguf_free(g);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s libggml-base.so [model.gguf...]\n", argv[0]); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    chunk_fn chunk = (chunk_fn)dlsym(lib, "ggml_quantize_chunk");
    smelt_kernels_init();
    struct set sets[3];
    int nsets = 0;
    sets[0].name = "gauss";
    sets[0].nrows = 256;
    sets[0].x = malloc(256 * NPR * sizeof(float));
    for (int i = 0; i < 256 * NPR; i++) sets[0].x[i] = (float)nrand();
    nsets = 1;
    for (int a = 2; a < argc && nsets < 3; a++) add_model(&sets[nsets++], argv[a], strstr(argv[a], "gemma") ? "gemma" : "smollm");
    float imp[NPR];
    for (int j = 0; j < NPR; j++) imp[j] = (float)(exp(1.5 * nrand()) * (urand() < 0.02 ? 50 : 1));
    const uint32_t types[] = {SMELT_TYPE_Q8_0, SMELT_TYPE_Q4_0, SMELT_TYPE_Q4_1, SMELT_TYPE_Q5_0, SMELT_TYPE_Q5_1,
                              SMELT_TYPE_IQ4_NL, SMELT_TYPE_Q2_K, SMELT_TYPE_Q3_K, SMELT_TYPE_Q4_K, SMELT_TYPE_Q5_K,
                              SMELT_TYPE_Q6_K, SMELT_TYPE_IQ4_XS};
    const char *only = getenv("ONLY");
    printf("%-7s %-7s %6s %10s %10s   %10s %10s  %s\n", "type", "set", "rows", "imat:ours", "/llama", "plain:ours", "/llama", "ours cpu s/Melem");
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        if (only && strcmp(only, smelt_type_name(types[t]))) continue;
        for (int s = 0; s < nsets; s++) {
            const int64_t nr = sets[s].nrows;
            size_t bytes = nr * smelt_quant_row_size(types[t], NPR);
            void *a = malloc(bytes), *b = malloc(bytes);
            double res[4];
            double secs = 0;
            for (int k = 0; k < 2; k++) {
                const float *im = k == 0 ? imp : NULL;
                chunk((int)types[t], sets[s].x, a, 0, nr, NPR, im);
                struct timespec t0, t1;
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
                size_t got = smelt_quantize_imat(types[t], sets[s].x, b, nr, NPR, im);
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
                secs += (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
                if (got != bytes) { fprintf(stderr, "smelt_quantize_imat returned %zu\n", got); return 1; }
                res[2 * k] = werr(types[t], sets[s].x, b, nr, im);
                res[2 * k + 1] = werr(types[t], sets[s].x, a, nr, im);
            }
            printf("%-7s %-7s %6lld %10.4g %10.4f   %10.4g %10.4f  %.2f\n", smelt_type_name(types[t]), sets[s].name,
                   (long long)nr, res[0], res[0] / res[1], res[2], res[2] / res[3], secs / 2 / (nr * NPR * 1e-6));
            fflush(stdout);
            free(a), free(b);
        }
    }
    return 0;
}

/* Speed and byte-identity check of smelt_quantize_imat against a pinned
 * older version of quant_imat.c (built with its symbols renamed orig_*).
 * Build and run: dev/quant/imat_speed.sh [COMMIT] (rows from dump_rows.py).
 *
 * usage: imat_speed ROWS.bin REPEATS TYPE...   (TYPE: ggml type number)
 * Prints, per type and with/without importances, the best time of each
 * version and whether the bytes agree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant.h"
#include "quant/quant_imat.h"

size_t orig_quantize_imat(uint32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                          const float *imatrix);

typedef struct {
    int64_t nrows, n;
    float *x, *im;
} seg;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s ROWS.bin REPEATS TYPE...\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    seg segs[64];
    int ns = 0;
    int64_t hdr[2];
    while (ns < 64 && fread(hdr, sizeof hdr, 1, f) == 1) {
        seg *s = &segs[ns++];
        s->nrows = hdr[0], s->n = hdr[1];
        s->x = malloc((size_t)(s->nrows * s->n) * sizeof(float));
        s->im = malloc((size_t)s->n * sizeof(float));
        if (fread(s->x, sizeof(float), (size_t)(s->nrows * s->n), f) != (size_t)(s->nrows * s->n) ||
            fread(s->im, sizeof(float), (size_t)s->n, f) != (size_t)s->n) {
            fprintf(stderr, "short file\n");
            return 1;
        }
    }
    fclose(f);
    const int reps = atoi(argv[2]);
    const int only_new = getenv("ONLY_NEW") != NULL; /* for profiling */
    int64_t total = 0;
    for (int i = 0; i < ns; i++) total += segs[i].nrows * segs[i].n;
    int bad = 0;
    for (int a = 3; a < argc; a++) {
        const uint32_t type = (uint32_t)atoi(argv[a]);
        for (int useim = 0; useim < 2; useim++) {
            double best[2] = {1e30, 1e30};
            int same = 1;
            for (int i = 0; i < ns; i++) {
                const size_t sz = smelt_quant_row_size(type, segs[i].n) * (size_t)segs[i].nrows;
                uint8_t *o = malloc(sz), *p = malloc(sz);
                double t0[2] = {1e30, 1e30};
                for (int r = 0; r < reps; r++) {
                    double s = now();
                    if (!only_new) orig_quantize_imat(type, segs[i].x, o, segs[i].nrows, segs[i].n, useim ? segs[i].im : NULL);
                    double m = now();
                    smelt_quantize_imat(type, segs[i].x, p, segs[i].nrows, segs[i].n, useim ? segs[i].im : NULL);
                    double e = now();
                    if (m - s < t0[0]) t0[0] = m - s;
                    if (e - m < t0[1]) t0[1] = e - m;
                }
                if (!only_new && memcmp(o, p, sz)) {
                    same = 0;
                    size_t k = 0;
                    while (o[k] == p[k]) k++;
                    fprintf(stderr, "type %u im %d seg %d: first difference at byte %zu of %zu\n", type, useim, i, k, sz);
                }
                best[0] = i ? best[0] + t0[0] : t0[0];
                best[1] = i ? best[1] + t0[1] : t0[1];
                free(o), free(p);
            }
            printf("type %2u im %d: orig %.3f s/Mw  new %.3f s/Mw  x%.2f  %s\n", type, useim,
                   best[0] / (double)total * 1e6, best[1] / (double)total * 1e6, best[0] / best[1],
                   same ? "identical" : "DIFFERENT");
            bad |= !same;
        }
    }
    return bad;
}

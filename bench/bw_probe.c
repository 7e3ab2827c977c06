/* bw_probe: memory read bandwidth with T threads at several working-set sizes.
 *
 *   cc -O2 -mavx2 -pthread bench/bw_probe.c -o bw_probe
 *   ./bw_probe [-t THREADS] [-s STREAMS] [--json] [--small-pages] [SIZE_MB ...]
 *     (default: -t 2 -s 1, sizes 16 32 64 128 256 512; -s: each thread reads its slice as that many
 *     interleaved sequential streams, 1..16)
 *
 * Each thread first-touches and then streams its own contiguous slice of one buffer of SIZE_MB
 * with 256-bit loads (four independent accumulators, so the loads are not serialised on a
 * dependency chain). A trial runs enough passes to last about 0.2 s; each size is measured in
 * 5 trials after one untimed pass, and the best and median trials are reported in GB/s
 * (1e9 bytes per second). Working sets well above the last-level cache give the DRAM read
 * bandwidth that bounds token generation: a decode step reads every weight byte once, so
 * tokens/s <= bandwidth / model bytes. The buffer asks for transparent huge pages (as smelt's
 * packed weights do); --small-pages leaves it on 4 KiB pages.
 *
 * A benchmark helper, not part of libsmelt; it exits 1 on bad arguments or allocation failure.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define N_TRIALS 5
#define MAX_THREADS 64
#define MAX_SIZES 32
#define MAX_STREAMS 16

struct slice {
    const __m256i *p;
    size_t n;     /* number of 32-byte vectors */
    int passes;
    int streams;
    pthread_barrier_t *start;
    double t0, t1; /* this thread's own start and end of the timed passes */
    uint64_t sink;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* n vectors from p in `streams` equal parts read side by side (one sequential
 * stream per part): the hardware prefetchers track each part separately, so a
 * thread keeps more misses in flight than with one stream */
static uint64_t read_slice(const __m256i *p, size_t n, int streams) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const size_t part = n / (size_t)streams / 4 * 4;
    const __m256i *q[MAX_STREAMS];
    for (int k = 0; k < streams; k++) q[k] = p + (size_t)k * part;
    for (size_t i = 0; i < part; i += 4)
        for (int k = 0; k < streams; k++) {
            a0 = _mm256_add_epi64(a0, _mm256_load_si256(q[k] + i));
            a1 = _mm256_add_epi64(a1, _mm256_load_si256(q[k] + i + 1));
            a2 = _mm256_add_epi64(a2, _mm256_load_si256(q[k] + i + 2));
            a3 = _mm256_add_epi64(a3, _mm256_load_si256(q[k] + i + 3));
        }
    for (size_t i = part * (size_t)streams; i < n; i++) a0 = _mm256_add_epi64(a0, _mm256_load_si256(p + i));
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}

static void *touch_main(void *arg) {
    struct slice *s = arg;
    memset((void *)s->p, 1, s->n * sizeof(__m256i));
    return NULL;
}

static void *read_main(void *arg) {
    struct slice *s = arg;
    pthread_barrier_wait(s->start);
    s->t0 = now_s();
    uint64_t acc = 0;
    for (int k = 0; k < s->passes; k++) acc += read_slice(s->p, s->n, s->streams);
    s->t1 = now_s();
    s->sink = acc;
    return NULL;
}

/* Run `passes` passes over the buffer with every thread; returns the seconds from the first
 * thread's start to the last thread's end (timed inside the threads, so a descheduled main
 * thread on a loaded machine does not shrink or stretch the interval). */
static double run(struct slice *sl, int nt, int passes) {
    pthread_t th[MAX_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int t = 0; t < nt; t++) {
        sl[t].passes = passes;
        sl[t].start = &start;
        if (pthread_create(&th[t], NULL, read_main, &sl[t])) {
            fprintf(stderr, "bw_probe: pthread_create failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start);
    double t0 = sl[0].t0, t1 = sl[0].t1;
    for (int t = 1; t < nt; t++) {
        if (sl[t].t0 < t0) t0 = sl[t].t0;
        if (sl[t].t1 > t1) t1 = sl[t].t1;
    }
    return t1 - t0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int nt = 2, json = 0, small_pages = 0, n_sizes = 0, streams = 1;
    long sizes[MAX_SIZES];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            nt = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            streams = atoi(argv[++i]);
            if (streams < 1 || streams > MAX_STREAMS) {
                fprintf(stderr, "bw_probe: streams must be 1..%d\n", MAX_STREAMS);
                return 1;
            }
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--small-pages")) {
            small_pages = 1;
        } else {
            char *end;
            long mb = strtol(argv[i], &end, 10);
            if (*end || mb < 1 || mb > 65536 || n_sizes == MAX_SIZES) {
                fprintf(stderr, "usage: bw_probe [-t THREADS] [-s STREAMS] [--json] [--small-pages] [SIZE_MB ...]\n");
                return 1;
            }
            sizes[n_sizes++] = mb;
        }
    }
    if (nt < 1 || nt > MAX_THREADS) {
        fprintf(stderr, "bw_probe: threads must be 1..%d\n", MAX_THREADS);
        return 1;
    }
    if (!n_sizes) {
        const long def[] = {16, 32, 64, 128, 256, 512};
        for (n_sizes = 0; n_sizes < 6; n_sizes++) sizes[n_sizes] = def[n_sizes];
    }
    if (json) printf("{\"threads\": %d, \"unit\": \"GB/s\", \"results\": [", nt);
    else printf("threads %d, read bandwidth in GB/s (1e9 B/s)\n%8s %10s %10s\n", nt, "size_MB", "best", "median");
    for (int si = 0; si < n_sizes; si++) {
        size_t bytes = (size_t)sizes[si] << 20;
        size_t nvec = bytes / sizeof(__m256i);
        /* on 2 MiB boundaries with transparent huge pages asked for, as smelt
         * keeps its packed weights: with 4 KiB pages a stream pays a TLB miss
         * every 4 KiB and reads ~10 % slower here */
        __m256i *buf = aligned_alloc(2u << 20, nvec * sizeof(__m256i));
        if (!buf) {
            fprintf(stderr, "bw_probe: cannot allocate %ld MB\n", sizes[si]);
            return 1;
        }
#ifdef MADV_HUGEPAGE
        if (!small_pages) madvise(buf, nvec * sizeof(__m256i), MADV_HUGEPAGE);
#endif
        struct slice sl[MAX_THREADS];
        memset(sl, 0, sizeof sl);
        pthread_t th[MAX_THREADS];
        for (int t = 0; t < nt; t++) {
            size_t lo = nvec * (size_t)t / (size_t)nt, hi = nvec * (size_t)(t + 1) / (size_t)nt;
            sl[t].p = buf + lo;
            sl[t].n = hi - lo;
            sl[t].streams = streams;
            pthread_create(&th[t], NULL, touch_main, &sl[t]);
        }
        for (int t = 0; t < nt; t++) pthread_join(th[t], NULL);
        /* warm-up and calibration: double the passes until a run lasts 50 ms */
        int passes = 1;
        double dt;
        while ((dt = run(sl, nt, passes)) < 0.05 && passes < (1 << 20)) passes *= 2;
        passes = (int)(passes * 0.2 / dt) + 1;
        double gbs[N_TRIALS];
        for (int k = 0; k < N_TRIALS; k++) gbs[k] = (double)bytes * passes / run(sl, nt, passes) / 1e9;
        qsort(gbs, N_TRIALS, sizeof gbs[0], cmp_d);
        uint64_t sink = 0;
        for (int t = 0; t < nt; t++) sink ^= sl[t].sink;
        if (json)
            printf("%s{\"size_mb\": %ld, \"best_gbs\": %.2f, \"median_gbs\": %.2f, \"sink\": %llu}", si ? ", " : "",
                   sizes[si], gbs[N_TRIALS - 1], gbs[N_TRIALS / 2], (unsigned long long)(sink & 1));
        else printf("%8ld %10.2f %10.2f\n", sizes[si], gbs[N_TRIALS - 1], gbs[N_TRIALS / 2]);
        fflush(stdout);
        free(buf);
    }
    if (json) printf("]}\n");
    return 0;
}

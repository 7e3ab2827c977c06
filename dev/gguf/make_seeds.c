/* Writes the seed corpus for fuzz_gguf into argv[1] (small valid images and a
 * few near-miss corruptions). cc -Iinclude -Isrc -Itests dev/gguf/make_seeds.c */
#include <stdio.h>
#include "gguf/gguf_build.h"

static void save(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(p, 1, n, f);
    fclose(f);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    struct test_image im;
    static const struct { const char *name; uint32_t v, a; } valid[] = {
        {"seed_v3.gguf", 3, 0}, {"seed_v2.gguf", 2, 0}, {"seed_v3_align64.gguf", 3, 64}, {"seed_v3_align1.gguf", 3, 1}};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        test_image_build(&im, valid[i].v, valid[i].a);
        save(dir, valid[i].name, im.w.p, im.w.n);
        test_image_free(&im);
    }
    struct gw w = {0};
    gw_header(&w, 3, 0, 0);
    save(dir, "seed_empty.gguf", w.p, w.n);
    free(w.p);
    memset(&w, 0, sizeof w);
    gw_header(&w, 3, 0, 2);
    gw_key(&w, "nest", SMELT_GGUF_ARRAY);
    for (int d = 0; d < 3; d++) { gw_u32(&w, SMELT_GGUF_ARRAY); gw_u64(&w, 1); }
    gw_u32(&w, SMELT_GGUF_STRING); gw_u64(&w, 2); gw_str(&w, "x"); gw_str(&w, "yy");
    gw_key(&w, "general.alignment", SMELT_GGUF_UINT32); gw_u32(&w, 16);
    save(dir, "seed_nested.gguf", w.p, w.n);
    free(w.p);
    /* near misses */
    test_image_build(&im, 3, 64);
    gw_put_u32(&im.w, im.mark[M_ALIGN_VAL], 48);
    save(dir, "bad_alignment48.gguf", im.w.p, im.w.n);
    test_image_free(&im);
    test_image_build(&im, 3, 0);
    gw_put_u64(&im.w, im.mark[M_T1_OFF], 64);
    save(dir, "bad_overlap.gguf", im.w.p, im.w.n);
    test_image_free(&im);
    test_image_build(&im, 3, 0);
    gw_put_u64(&im.w, im.mark[M_ARR_STR_N], UINT64_MAX);
    save(dir, "bad_strarr_count.gguf", im.w.p, im.w.n);
    test_image_free(&im);
    test_image_build(&im, 3, 0);
    save(dir, "bad_truncated.gguf", im.w.p, im.w.n - 1);
    test_image_free(&im);
    return 0;
}

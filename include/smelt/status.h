/* smelt: status codes and error messages.
 *
 * Every fallible public function returns enum smelt_status. On failure its
 * out-parameters are NULL/zero and a human-readable message naming the problem
 * (file, offset, field, value, limit) can be read with smelt_last_error(). The
 * message is thread-local and stays valid until the next failing smelt call on
 * the same thread.
 */
#ifndef SMELT_STATUS_H
#define SMELT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum smelt_status {
    SMELT_OK = 0,
    SMELT_ERR_INVALID_ARG,  /* caller passed something invalid (bad option, NULL, out of range) */
    SMELT_ERR_IO,           /* file could not be opened/read/written/mapped */
    SMELT_ERR_FORMAT,       /* malformed input bytes (corrupt GGUF, bad JSON, invalid UTF-8) */
    SMELT_ERR_UNSUPPORTED,  /* well-formed but not supported (unknown arch, tensor type) */
    SMELT_ERR_NOT_FOUND,    /* key, tensor, model or file not found */
    SMELT_ERR_NOMEM,        /* allocation failed or a size cap was hit */
    SMELT_ERR_RANGE,        /* a value exceeds a limit (prompt longer than context, ...) */
    SMELT_ERR_INTERNAL      /* a bug in smelt */
};

/* Static name of a status, e.g. "format error". Never NULL. */
const char *smelt_status_str(enum smelt_status s);

/* Message of the last failure on this thread ("" if none). */
const char *smelt_last_error(void);

/* Clear the thread's message. */
void smelt_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif

/* smelt: GGUF reader (versions 2 and 3).
 *
 * Format (little-endian):
 *   magic "GGUF" (4 bytes), u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x { gguf_string key; u32 value_type; value }
 *   n_tensors x { gguf_string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 *   padding to `general.alignment` (u32 KV, default 32, must be a power of two)
 *   tensor data; each tensor's offset is relative to the start of the data section
 *   and must be a multiple of the alignment.
 *   gguf_string = u64 length + bytes (not NUL-terminated in the file).
 *   array value = u32 element type + u64 count + elements.
 *
 * smelt_gguf_open validates everything before returning: sizes against the file
 * length, overflow of element counts and byte sizes, n_dims in 1..4, dimensions
 * >= 1, known tensor types, row sizes that are whole blocks, tensors inside the
 * data section and not overlapping, alignment a power of two stored as u32,
 * unique keys and tensor names (1..65536 bytes, no NUL bytes), bools 0 or 1,
 * arrays nested at most 8 deep. A failure returns SMELT_ERR_FORMAT (or IO /
 * UNSUPPORTED / NOMEM; NOT_FOUND if the path does not exist) with a message
 * naming the file, the byte offset and the field.
 *
 * Ownership: the smelt_gguf object owns the mapping. Every pointer returned by
 * the accessors (strings, array data, tensor data, tensor info) stays valid
 * until smelt_gguf_free(). Strings returned are NUL-terminated copies; their
 * byte length is also returned where it matters (GGUF strings may contain NUL).
 */
#ifndef SMELT_GGUF_H
#define SMELT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smelt/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum smelt_gguf_vtype {
    SMELT_GGUF_UINT8 = 0,
    SMELT_GGUF_INT8 = 1,
    SMELT_GGUF_UINT16 = 2,
    SMELT_GGUF_INT16 = 3,
    SMELT_GGUF_UINT32 = 4,
    SMELT_GGUF_INT32 = 5,
    SMELT_GGUF_FLOAT32 = 6,
    SMELT_GGUF_BOOL = 7,
    SMELT_GGUF_STRING = 8,
    SMELT_GGUF_ARRAY = 9,
    SMELT_GGUF_UINT64 = 10,
    SMELT_GGUF_INT64 = 11,
    SMELT_GGUF_FLOAT64 = 12,
};

/* ggml tensor type ids, as stored in GGUF files (numbering is llama.cpp's). */
enum smelt_type {
    SMELT_TYPE_F32 = 0,
    SMELT_TYPE_F16 = 1,
    SMELT_TYPE_Q4_0 = 2,
    SMELT_TYPE_Q4_1 = 3,
    SMELT_TYPE_Q5_0 = 6,
    SMELT_TYPE_Q5_1 = 7,
    SMELT_TYPE_Q8_0 = 8,
    SMELT_TYPE_Q8_1 = 9,
    SMELT_TYPE_Q2_K = 10,
    SMELT_TYPE_Q3_K = 11,
    SMELT_TYPE_Q4_K = 12,
    SMELT_TYPE_Q5_K = 13,
    SMELT_TYPE_Q6_K = 14,
    SMELT_TYPE_Q8_K = 15,
    SMELT_TYPE_IQ2_XXS = 16,
    SMELT_TYPE_IQ2_XS = 17,
    SMELT_TYPE_IQ3_XXS = 18,
    SMELT_TYPE_IQ1_S = 19,
    SMELT_TYPE_IQ4_NL = 20,
    SMELT_TYPE_IQ3_S = 21,
    SMELT_TYPE_IQ2_S = 22,
    SMELT_TYPE_IQ4_XS = 23,
    SMELT_TYPE_I8 = 24,
    SMELT_TYPE_I16 = 25,
    SMELT_TYPE_I32 = 26,
    SMELT_TYPE_I64 = 27,
    SMELT_TYPE_F64 = 28,
    SMELT_TYPE_IQ1_M = 29,
    SMELT_TYPE_BF16 = 30,
    SMELT_TYPE_TQ1_0 = 34,
    SMELT_TYPE_TQ2_0 = 35,
    SMELT_TYPE_COUNT = 39
};

/* Storage layout of a tensor type: elements per block and bytes per block.
 * Returns false for ids the format does not define. Known layouts include types
 * smelt cannot compute with (the model loader reports those as unsupported). */
bool smelt_type_layout(uint32_t type, uint32_t *block_elems, uint32_t *block_bytes);
/* "Q4_1", "F32", ...; "unknown" for undefined ids. */
const char *smelt_type_name(uint32_t type);

struct smelt_gguf;

struct smelt_gguf_tensor {
    const char *name;
    uint32_t type;          /* enum smelt_type */
    uint32_t n_dims;        /* 1..4 */
    int64_t ne[4];          /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    uint64_t offset;        /* relative to the data section */
    size_t nbytes;          /* total bytes of the tensor */
    const void *data;       /* pointer into the mapping */
};

/* Open and validate a file (read-only mmap). */
enum smelt_status smelt_gguf_open(const char *path, struct smelt_gguf **out);
/* Parse and validate an in-memory image (not copied; must outlive the object).
 * `name` is used in error messages. Used by tests and the fuzzer. */
enum smelt_status smelt_gguf_open_memory(const void *data, size_t size, const char *name,
                                         struct smelt_gguf **out);
/* Accepts NULL. */
void smelt_gguf_free(struct smelt_gguf *g);

uint32_t smelt_gguf_version(const struct smelt_gguf *g);
uint32_t smelt_gguf_alignment(const struct smelt_gguf *g);
size_t smelt_gguf_file_size(const struct smelt_gguf *g);
size_t smelt_gguf_data_offset(const struct smelt_gguf *g); /* start of the data section */

/* Key/value access. Index-based enumeration: */
int64_t smelt_gguf_n_kv(const struct smelt_gguf *g);
const char *smelt_gguf_kv_key(const struct smelt_gguf *g, int64_t i);
enum smelt_gguf_vtype smelt_gguf_kv_type(const struct smelt_gguf *g, int64_t i);
/* The value of key i exactly as encoded in the file (the bytes after its u32
 * value type; for arrays: element type, count, elements), for copying a
 * key/value verbatim (smelt_gguf_writer_set_raw). Valid until smelt_gguf_free. */
enum smelt_status smelt_gguf_kv_raw(const struct smelt_gguf *g, int64_t i, enum smelt_gguf_vtype *type,
                                    const void **data, size_t *len);
/* Index of a key or -1. */
int64_t smelt_gguf_find_key(const struct smelt_gguf *g, const char *key);

/* Typed getters. Return SMELT_ERR_NOT_FOUND if the key is absent (no message is
 * set, so optional keys are cheap), SMELT_ERR_FORMAT with a message if the key
 * has a type that cannot be converted. Integer getters accept any integer value
 * type whose value fits in the requested type (and reject others, e.g. a
 * negative value for an unsigned getter). get_f32 accepts FLOAT32/FLOAT64 and
 * integers (a finite f64 beyond the f32 range is refused). */
enum smelt_status smelt_gguf_get_u32(const struct smelt_gguf *g, const char *key, uint32_t *out);
enum smelt_status smelt_gguf_get_i64(const struct smelt_gguf *g, const char *key, int64_t *out);
enum smelt_status smelt_gguf_get_u64(const struct smelt_gguf *g, const char *key, uint64_t *out);
enum smelt_status smelt_gguf_get_f32(const struct smelt_gguf *g, const char *key, float *out);
enum smelt_status smelt_gguf_get_bool(const struct smelt_gguf *g, const char *key, bool *out);
enum smelt_status smelt_gguf_get_str(const struct smelt_gguf *g, const char *key, const char **out,
                                     size_t *len);

/* Arrays. get_arr returns element type and count; for non-string arrays `data`
 * points at the packed little-endian elements in the file (possibly unaligned:
 * read them with memcpy); for string arrays `data` is NULL and strings are read
 * with smelt_gguf_arr_str. Nested arrays are reported with elem type ARRAY and
 * their contents are not accessible (no model uses them). */
enum smelt_status smelt_gguf_get_arr(const struct smelt_gguf *g, const char *key,
                                     enum smelt_gguf_vtype *elem_type, uint64_t *n,
                                     const void **data);
/* i-th string of a string array (NUL-terminated, length in *len). NULL if out of range. */
const char *smelt_gguf_arr_str(const struct smelt_gguf *g, const char *key, uint64_t i, size_t *len);

/* Tensors. */
int64_t smelt_gguf_n_tensors(const struct smelt_gguf *g);
const struct smelt_gguf_tensor *smelt_gguf_tensor(const struct smelt_gguf *g, int64_t i);
/* NULL if absent. */
const struct smelt_gguf_tensor *smelt_gguf_find_tensor(const struct smelt_gguf *g, const char *name);

/* Human-readable dump (metadata, then tensor table) as printed by `smelt inspect`.
 * Long arrays are abbreviated (first few elements and the count). */
enum smelt_status smelt_gguf_print(const struct smelt_gguf *g, void *file /* FILE* */);

/* ------------------------------------------------------------- writer --
 *
 * Builds a GGUF v3 file: key/values in the order they were first set, tensor
 * infos in the order they were added, the data section aligned to
 * `general.alignment` (if set as u32, else 32), each tensor's data padded with
 * zeros to the alignment. A file copied key by key and tensor by tensor from a
 * reader comes out byte-identical to a file written by llama.cpp or gguf-py.
 *
 * Two ways to produce the file:
 *   - all tensor data known up front: add tensors with data != NULL, then
 *     smelt_gguf_writer_write_file(w, path);
 *   - streamed: add tensors with data == NULL (only their shapes), then
 *     smelt_gguf_writer_open(w, path), smelt_gguf_writer_write_tensor(w, i, ...)
 *     for every tensor in order, smelt_gguf_writer_close(w).
 * Either way the file is written to "<path>.tmp" and renamed onto `path` only
 * when complete, so a failed or interrupted write never leaves a truncated
 * GGUF under the final name.
 *
 * Ownership: keys, strings and array contents are copied; tensor data passed
 * to add_tensor is NOT copied and must stay valid until the file is written.
 * Errors: INVALID_ARG (bad key/name/shape/type, duplicate tensor name, tensors
 * written out of order or of the wrong size), IO (with the path and errno text),
 * NOMEM. After a failed open/write/close the writer can only be freed. */
struct smelt_gguf_writer;

enum smelt_status smelt_gguf_writer_new(struct smelt_gguf_writer **out);
/* Accepts NULL. Removes the temporary file of an unfinished streamed write. */
void smelt_gguf_writer_free(struct smelt_gguf_writer *w);

/* Setting a key that exists replaces its value in place (keeps its position). */
enum smelt_status smelt_gguf_writer_set_u32(struct smelt_gguf_writer *w, const char *key, uint32_t v);
enum smelt_status smelt_gguf_writer_set_i32(struct smelt_gguf_writer *w, const char *key, int32_t v);
enum smelt_status smelt_gguf_writer_set_u64(struct smelt_gguf_writer *w, const char *key, uint64_t v);
enum smelt_status smelt_gguf_writer_set_f32(struct smelt_gguf_writer *w, const char *key, float v);
enum smelt_status smelt_gguf_writer_set_bool(struct smelt_gguf_writer *w, const char *key, bool v);
enum smelt_status smelt_gguf_writer_set_str(struct smelt_gguf_writer *w, const char *key, const char *v);
/* Array of fixed-size elements (any type but STRING/ARRAY), packed little-endian. */
enum smelt_status smelt_gguf_writer_set_arr(struct smelt_gguf_writer *w, const char *key,
                                            enum smelt_gguf_vtype elem_type, const void *data, uint64_t n);
enum smelt_status smelt_gguf_writer_set_arr_str(struct smelt_gguf_writer *w, const char *key,
                                                const char *const *strs, uint64_t n);
/* A value already encoded (as returned by smelt_gguf_kv_raw). Not re-validated
 * beyond its type; use only with bytes from the reader. */
enum smelt_status smelt_gguf_writer_set_raw(struct smelt_gguf_writer *w, const char *key,
                                            enum smelt_gguf_vtype type, const void *data, size_t len);
/* Copy key/value i of a reader verbatim. */
enum smelt_status smelt_gguf_writer_copy_kv(struct smelt_gguf_writer *w, const struct smelt_gguf *g, int64_t i);
/* Remove a key; false if it was not set. */
bool smelt_gguf_writer_remove(struct smelt_gguf_writer *w, const char *key);

/* Add a tensor: ne[0] (the row) must be a multiple of the type's block size,
 * n_dims 1..4, every ne >= 1. Returns its index in *index (may be NULL). */
enum smelt_status smelt_gguf_writer_add_tensor(struct smelt_gguf_writer *w, const char *name, uint32_t type,
                                               uint32_t n_dims, const int64_t *ne, const void *data,
                                               int64_t *index);
int64_t smelt_gguf_writer_n_tensors(const struct smelt_gguf_writer *w);
/* Bytes the tensor data will take (without padding). */
size_t smelt_gguf_writer_tensor_nbytes(const struct smelt_gguf_writer *w, int64_t i);

enum smelt_status smelt_gguf_writer_write_file(struct smelt_gguf_writer *w, const char *path);
enum smelt_status smelt_gguf_writer_open(struct smelt_gguf_writer *w, const char *path);
/* Tensors must be written in index order, each with exactly its nbytes. */
enum smelt_status smelt_gguf_writer_write_tensor(struct smelt_gguf_writer *w, int64_t i, const void *data,
                                                 size_t nbytes);
enum smelt_status smelt_gguf_writer_close(struct smelt_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif

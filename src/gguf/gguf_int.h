/* Internal: helpers the GGUF reader and writer share. */
#ifndef SMELT_GGUF_INT_H
#define SMELT_GGUF_INT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a fixed-size value type (u8..f64, bool); 0 for string, array or an invalid id. */
size_t smelt_gguf_vtype_size(uint32_t t);

#endif

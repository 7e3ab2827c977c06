/* Internal model structures: hyperparameters (settings), weights (views into the
 * mapped GGUF) and the context's working state. */
#ifndef SMELT_MODEL_INTERNAL_H
#define SMELT_MODEL_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/pool.h"
#include "kernels/kernels.h"
#include "smelt/model.h"

enum smelt_arch { SMELT_ARCH_LLAMA = 0, SMELT_ARCH_QWEN2, SMELT_ARCH_PHI3, SMELT_ARCH_GEMMA3 };

enum smelt_ffn_act { SMELT_ACT_SILU = 0, SMELT_ACT_GELU_TANH };

enum smelt_rope_kind { SMELT_ROPE_NORM = 0, SMELT_ROPE_NEOX = 2 };

/* A weight: a view of one GGUF tensor. */
struct smelt_weight {
    const void *data;
    const char *name; /* GGUF tensor name (NULL when absent); views of a fused tensor share it */
    uint32_t type;   /* enum smelt_type */
    int64_t ne0;     /* row length (input dim) */
    int64_t ne1;     /* rows (output dim) */
    size_t row_bytes;
    enum smelt_mm_path path; /* 2-D weights: how llama.cpp multiplies by it (summation order) */
    void *packed;            /* SMELT_MM_X16: the x16 layout of data (owned by the model), else NULL */
};

struct smelt_hparams {
    enum smelt_arch arch;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;     /* key/value head size */
    int32_t n_ff;
    int32_t n_rot;        /* rotary dims (<= head_dim) */
    float rope_base;
    float rope_freq_scale;     /* 1/linear scaling factor (global layers) */
    float rope_freq_scale_swa; /* sliding-window layers (gemma3: never scaled) */
    enum smelt_rope_kind rope_kind;
    float norm_eps;
    /* family options (llama: all off) */
    float embd_scale;        /* multiply embeddings by this (gemma: sqrt(n_embd)); 0 = off */
    bool qk_norm;            /* per-head RMSNorm of Q and K before RoPE */
    bool post_norms;         /* RMSNorm after attention and after FFN, before the residual add */
    enum smelt_ffn_act act;  /* gated FFN activation */
    float q_scale;           /* Q multiplied by this before Q.K (gemma); 1 = off */
    float kq_scale;          /* scores multiplied by this after Q.K (llama: 1/sqrt(head_dim)) */
    int32_t n_swa;           /* sliding window (0 = none): a query at p sees keys with p - pos < n_swa */
    int32_t swa_pattern;     /* layer il uses the window when il % swa_pattern < swa_pattern - 1 */
    float rope_base_swa;     /* RoPE base of sliding-window layers */
    float logit_softcap;     /* final logits = cap * tanh(logits / cap); 0 = off */
};

static inline bool smelt_layer_is_swa(const struct smelt_hparams *hp, int il) {
    return hp->n_swa > 0 && hp->swa_pattern > 0 && il % hp->swa_pattern < hp->swa_pattern - 1;
}

struct smelt_layer {
    struct smelt_weight attn_norm; /* [n_embd] f32 */
    struct smelt_weight wq;        /* [n_embd] -> [n_head*head_dim] */
    struct smelt_weight wk;        /* [n_embd] -> [n_head_kv*head_dim] */
    struct smelt_weight wv;        /* [n_embd] -> [n_head_kv*head_dim] */
    struct smelt_weight wo;        /* [n_head*head_dim] -> [n_embd] */
    struct smelt_weight bq, bk, bv; /* optional biases (data NULL when absent) */
    struct smelt_weight ffn_norm;  /* [n_embd] f32 */
    struct smelt_weight w_gate;    /* [n_embd] -> [n_ff] */
    struct smelt_weight w_up;      /* [n_embd] -> [n_ff] */
    struct smelt_weight w_down;    /* [n_ff] -> [n_embd] */
    struct smelt_weight q_norm;    /* [head_dim] f32, qk_norm only */
    struct smelt_weight k_norm;    /* [head_dim] f32, qk_norm only */
    struct smelt_weight post_attn_norm; /* [n_embd] f32, post_norms only */
    struct smelt_weight post_ffn_norm;  /* [n_embd] f32, post_norms only */
};

struct smelt_model {
    char *path;
    char *name;
    char *arch_name;
    struct smelt_gguf *gguf;
    struct smelt_tok *tok;
    char *chat_template;
    struct smelt_hparams hp;
    struct smelt_weight tok_embd;    /* [n_vocab] rows of [n_embd] */
    struct smelt_weight output_norm; /* [n_embd] f32 */
    struct smelt_weight output;      /* [n_vocab] rows of [n_embd]; = tok_embd when tied */
    void *packed_arena;              /* the packed weights' memory (weights' packed point into it) */
    bool embd_packed;                /* tied and packed: token rows are read from output.packed */
    struct smelt_weight rope_freqs;  /* [n_rot/2] f32 frequency divisors (Llama 3.1 style), optional */
    struct smelt_layer *layers;      /* [n_layer] */
    uint8_t *used;                   /* [n_tensors] set while loading: tensors bound to a weight */
    uint64_t n_params;
    uint64_t size_bytes;
};

/* KV cache: n_ctx cells; cell c holds one position for the sequences in seqs. */
struct smelt_kv {
    int32_t n_ctx;
    int32_t n_used;
    int32_t head;          /* where the search for a free cell starts */
    int32_t *pos;          /* [n_ctx] position, -1 = free */
    uint64_t *seqs;        /* [n_ctx] bitmask of sequence ids */
    uint16_t *k;           /* [n_layer][n_ctx][n_head_kv*head_dim] f16, or when k_tiled
                              [n_layer][n_head_kv][n_blk][head_dim][64] (smelt_attn_k_index) */
    uint16_t *v;           /* [n_layer][cells][n_head_kv*head_dim] f16 */
    size_t layer_stride;   /* elements per layer = cells*n_head_kv*head_dim, cells = n_ctx
                              (n_blk*64 when k_tiled) */
    bool k_tiled;
    int32_t n_blk;         /* 64-cell blocks covering n_ctx */
};

#define SMELT_XQ_SLOTS 3
#define DCTR_STRIDE 8 /* counters 64 bytes apart */

struct smelt_ctx {
    const struct smelt_model *model;
    struct smelt_ctx_params params;
    struct smelt_pool *pool;
    struct smelt_kv kv;

    /* working state for one forward chunk of up to n_batch tokens */
    float *x;        /* [n_batch][n_embd] residual stream */
    float *xn;       /* [n_batch][n_embd] normed input */
    float *q;        /* [n_batch][n_head*head_dim] */
    float *k;        /* [n_batch][n_head_kv*head_dim] */
    float *v;        /* [n_batch][n_head_kv*head_dim] */
    float *att;      /* [n_batch][n_head*head_dim] attention output */
    float *gate;     /* [n_batch][n_ff] */
    float *up;       /* [n_batch][n_ff] */
    float *rope_cs;  /* [n_batch][2][n_rot] cos,sin pairs per token: [0] global base, [1] sliding-window base */
    void *xq[SMELT_XQ_SLOTS];     /* activations converted to up to 3 vec_dot_types: [n_batch][xq_row] */
    size_t xq_row;
    void *xa[SMELT_XQ_SLOTS];     /* the Q8_0/Q8_1 slots prepared for the x16 matmuls ([n_batch][K/32]
                                     SMELT_X16_XA_BYTES each, kernels/x16.h), NULL unless the AVX-512 tier runs */
    float *scores;   /* [n_threads][scores_stride] attention scores / probabilities over cells */
    int64_t scores_stride; /* n_ctx rounded up to 32 */
    float *attn_acc; /* [n_threads][32][head_dim] accumulators of the V sum */
    uint16_t *qh;    /* [n_threads][head_dim] query rounded to f16 */
    /* batched attention (kernels/attn.h), NULL unless the AVX-512 tier runs it */
    float *kt;       /* [n_head_kv][head_dim][attn_ld] keys of the chunk's listed cells, transposed */
    float *vf;       /* [n_head_kv][attn_ld][head_dim] their values */
    int32_t *cpos;   /* [attn_ld] their positions (INT32_MAX padding) */
    int64_t attn_ld; /* n_ctx rounded up to SMELT_ATTN_PAD (also scores_stride then; scores has
                        n_head/n_head_kv rows per thread) */
    /* per-thread state of the one-token pass (llama.c decode_worker), NULL when unused */
    float *dx, *dxn;    /* [n_threads][d_stride] residual stream and normed input */
    float *dcs;         /* [n_threads][2][n_rot] RoPE angles */
    void *dxq;          /* [n_threads][SMELT_XQ_SLOTS][xq_row] quantized activations */
    void *dxa;          /* [n_threads][SMELT_XQ_SLOTS][xa_row] the same prepared for x16 (or NULL) */
    size_t xa_row;
    int32_t *dcpos;     /* [n_threads][attn_ld] positions of gathered cells */
    int64_t d_stride;   /* max(n_embd, n_head*head_dim) rounded up to 16 */
    _Atomic int64_t *dctr; /* [n_layer*4 + 1][DCTR_STRIDE] row-chunk counters, zeroed before each pass */
    size_t dctr_bytes;
    int32_t *cell_of;   /* [n_batch] KV cell of each chunk entry */
    int32_t *vis;       /* [n_seq_in_chunk][n_ctx] cells visible to each sequence of the chunk */
    int32_t *vis_n;     /* [n_batch] length of the entry's sequence list */
    int32_t *vis_off;   /* [n_batch] offset of the entry's sequence list in vis */
    int32_t *out_row;   /* [n_batch] logits row of each chunk entry, -1 if none */
    int32_t *obs_pos;   /* [n_batch] positions of the packed logit rows, for the act hook */

    /* outputs */
    float *logits;      /* [out_cap][n_vocab] */
    int32_t out_cap;
    int32_t *out_index; /* [n_entries] row in logits of entry i, -1 if none */
    int32_t out_index_cap;
    int32_t n_entries;  /* entries of the last successful decode */

    /* optional observer of matmul inputs (smelt_ctx_set_act_hook) */
    smelt_act_hook_fn act_hook;
    void *act_hook_ud;
};

/* kv.c */
enum smelt_status smelt_kv_init(struct smelt_kv *kv, const struct smelt_hparams *hp, int32_t n_ctx, bool k_tiled);
void smelt_kv_free(struct smelt_kv *kv);
/* Find cells for a chunk of tokens and fill cell_of; on failure nothing changes. */
enum smelt_status smelt_kv_alloc(struct smelt_kv *kv, const int32_t *pos, const int32_t *seq, int32_t n,
                                 int32_t *cell_of);
/* Release the cells of a chunk (rollback on error). */
void smelt_kv_release(struct smelt_kv *kv, const int32_t *cell_of, int32_t n, const int32_t *seq);

/* forward for one chunk (tokens already validated, cells allocated). */
/* Forward pass for one chunk of n <= n_batch entries whose KV cells are in
 * c->cell_of and logits rows in c->out_row. Allocates nothing. */
enum smelt_status smelt_forward_chunk(struct smelt_ctx *c, const int32_t *token, const int32_t *pos,
                                      const int32_t *seq, int32_t n);

#endif

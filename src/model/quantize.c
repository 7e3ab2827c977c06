/* smelt_quantize_file: GGUF -> GGUF with llama.cpp-style per-tensor type mixes
 * (include/smelt/quantize.h). The type rules are a function of the tensor's
 * category (output, token embedding, attention V, FFN down, ...), its layer and
 * the file type; they are written here from llama.cpp's documented behaviour
 * so that smelt and llama-quantize choose the same type for every tensor. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "base/pool.h"
#include "quant/quant.h"
#include "quant/quant_imat.h"
#include "quant/quant_ref.h"
#include "imatrix_int.h"
#include "quantize_int.h"
#include "smelt/gguf.h"
#include "smelt/quantize.h"

/* ---------------------------------------------------------- file types -- */

enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32,
};

static const struct {
    const char *name;
    uint32_t ftype;
    uint32_t type; /* default tensor type */
} g_ftypes[] = {
    {"F32", FT_F32, SMELT_TYPE_F32},         {"F16", FT_F16, SMELT_TYPE_F16},
    {"BF16", FT_BF16, SMELT_TYPE_BF16},      {"Q8_0", FT_Q8_0, SMELT_TYPE_Q8_0},
    {"Q6_K", FT_Q6_K, SMELT_TYPE_Q6_K},      {"Q5_K_M", FT_Q5_K_M, SMELT_TYPE_Q5_K},
    {"Q5_K_S", FT_Q5_K_S, SMELT_TYPE_Q5_K},  {"Q5_0", FT_Q5_0, SMELT_TYPE_Q5_0},
    {"Q5_1", FT_Q5_1, SMELT_TYPE_Q5_1},      {"Q4_K_M", FT_Q4_K_M, SMELT_TYPE_Q4_K},
    {"Q4_K_S", FT_Q4_K_S, SMELT_TYPE_Q4_K},  {"Q4_0", FT_Q4_0, SMELT_TYPE_Q4_0},
    {"Q4_1", FT_Q4_1, SMELT_TYPE_Q4_1},      {"Q3_K_L", FT_Q3_K_L, SMELT_TYPE_Q3_K},
    {"Q3_K_M", FT_Q3_K_M, SMELT_TYPE_Q3_K},  {"Q3_K_S", FT_Q3_K_S, SMELT_TYPE_Q3_K},
    {"Q2_K", FT_Q2_K, SMELT_TYPE_Q2_K},      {"IQ4_NL", FT_IQ4_NL, SMELT_TYPE_IQ4_NL},
    {"IQ4_XS", FT_IQ4_XS, SMELT_TYPE_IQ4_XS},
};
#define N_FTYPES (sizeof g_ftypes / sizeof g_ftypes[0])

bool smelt_ftype_from_name(const char *name, uint32_t *ftype) {
    for (size_t i = 0; name && i < N_FTYPES; i++)
        if (strcasecmp(name, g_ftypes[i].name) == 0) {
            if (ftype) *ftype = g_ftypes[i].ftype;
            return true;
        }
    return false;
}

const char *smelt_ftype_name(uint32_t ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (g_ftypes[i].ftype == ftype) return g_ftypes[i].name;
    return NULL;
}

const char *smelt_ftype_names(void) {
    return "F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1 Q3_K_L Q3_K_M Q3_K_S Q2_K "
           "IQ4_NL IQ4_XS";
}

static uint32_t ftype_default_type(uint32_t ftype) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (g_ftypes[i].ftype == ftype) return g_ftypes[i].type;
    return SMELT_TYPE_COUNT;
}

static bool is_quantized(uint32_t t) {
    return t != SMELT_TYPE_F32 && t != SMELT_TYPE_F16 && t != SMELT_TYPE_BF16 && t != SMELT_TYPE_F64 &&
           t != SMELT_TYPE_I8 && t != SMELT_TYPE_I16 && t != SMELT_TYPE_I32 && t != SMELT_TYPE_I64;
}

static int64_t blck_of(uint32_t t) {
    uint32_t be = 0, bb = 0;
    return smelt_type_layout(t, &be, &bb) ? be : 1;
}

void smelt_quantize_params_default(struct smelt_quantize_params *p) {
    memset(p, 0, sizeof *p);
    p->ftype = FT_Q8_0;
    p->output_type = -1;
    p->token_embd_type = -1;
}

/* ----------------------------------------------------------- type mixes -- */

enum cat { C_OTHER, C_OUTPUT, C_TOKEN_EMBD, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_V, C_ATTN_K, C_ATTN_Q, C_ATTN_OUT,
           C_FFN_UP, C_FFN_GATE, C_FFN_DOWN };

static enum cat category(const char *n) {
    if (strcmp(n, "output.weight") == 0) return C_OUTPUT;
    if (strcmp(n, "token_embd.weight") == 0 || strcmp(n, "per_layer_token_embd.weight") == 0) return C_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return C_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return C_ATTN_V;
    if (strstr(n, "attn_k.weight")) return C_ATTN_K;
    if (strstr(n, "attn_q.weight")) return C_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return C_ATTN_OUT;
    if (strstr(n, "ffn_up")) return C_FFN_UP;
    if (strstr(n, "ffn_gate")) return C_FFN_GATE;
    if (strstr(n, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

static bool is_attn_v(enum cat c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* Which tensors are weights to quantize: 2-D or more, named *weight, not norms,
 * not MoE gates, not positional/token-type embeddings. */
static bool allows_quantization(const struct smelt_gguf_tensor *t) {
    if (t->n_dims < 2) return false;
    size_t n = strlen(t->name);
    if (n < 6 || strcmp(t->name + n - 6, "weight") != 0) return false;
    static const char *const skip[] = {"_norm.weight", "ffn_gate_inp.weight", "position_embd", "token_types",
                                       "ssm_conv1d", "attn_rel_b.weight", "altup", "laurel"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strstr(t->name, skip[i])) return false;
    return true;
}

struct mix_state {
    uint32_t ftype;
    int n_layer, n_gqa;
    int n_attn_v, i_attn_v, i_ffn_down;
    bool tied, has_imatrix;
    int32_t output_type, token_embd_type;
};

static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama.cpp's rules for the types smelt produces (llama_tensor_get_type). */
static uint32_t mix_type(struct mix_state *s, const struct smelt_gguf_tensor *t, uint32_t nt, enum cat c) {
    const uint32_t ft = s->ftype;
    if (c == C_OUTPUT || (s->tied && c == C_TOKEN_EMBD)) {
        if (s->output_type >= 0) return (uint32_t)s->output_type;
        if (t->ne[0] % blck_of(nt) != 0) return SMELT_TYPE_Q8_0;
        return nt != SMELT_TYPE_Q8_0 ? SMELT_TYPE_Q6_K : nt;
    }
    if (c == C_TOKEN_EMBD) return s->token_embd_type >= 0 ? (uint32_t)s->token_embd_type : nt;
    if (is_attn_v(c)) {
        if (ft == FT_Q2_K) nt = s->n_gqa >= 4 ? SMELT_TYPE_Q4_K : SMELT_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = s->i_attn_v < 2 ? SMELT_TYPE_Q5_K : SMELT_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = SMELT_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && s->n_gqa >= 4) nt = SMELT_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(s->i_attn_v, s->n_attn_v)) nt = SMELT_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && s->i_attn_v < 4) nt = SMELT_TYPE_Q5_K;
        s->i_attn_v++;
    } else if (c == C_FFN_DOWN) {
        const int i = s->i_ffn_down, n = s->n_layer;
        if (ft == FT_Q2_K) nt = SMELT_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = i < n / 16 ? SMELT_TYPE_Q5_K : SMELT_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = SMELT_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) {
            if (use_more_bits(i, n)) nt = SMELT_TYPE_Q6_K;
        } else if (i < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS) && !s->has_imatrix) nt = SMELT_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(i, n)) nt = SMELT_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && i < n / 8) nt = SMELT_TYPE_Q5_K;
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && s->has_imatrix && i < n / 8)
            nt = ft == FT_Q4_0 ? SMELT_TYPE_Q4_1 : SMELT_TYPE_Q5_1;
        s->i_ffn_down++;
    } else if (c == C_ATTN_OUT) {
        if (ft == FT_Q2_K) nt = SMELT_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) nt = SMELT_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) nt = SMELT_TYPE_Q5_K;
    }
    return nt;
}

/* A row that is not a whole number of blocks falls back to a type with smaller blocks. */
static uint32_t fallback(uint32_t nt, int64_t ncols, bool *fell) {
    *fell = false;
    if (ncols % blck_of(nt) == 0) return nt;
    *fell = true;
    uint32_t r;
    switch (nt) {
    case SMELT_TYPE_IQ4_XS: r = SMELT_TYPE_IQ4_NL; break;
    case SMELT_TYPE_Q2_K: case SMELT_TYPE_Q3_K: r = SMELT_TYPE_Q4_0; break;
    case SMELT_TYPE_Q4_K: r = SMELT_TYPE_Q5_0; break;
    case SMELT_TYPE_Q5_K: r = SMELT_TYPE_Q5_1; break;
    case SMELT_TYPE_Q6_K: r = SMELT_TYPE_Q8_0; break;
    default: r = nt; break;
    }
    return ncols % blck_of(r) == 0 ? r : SMELT_TYPE_F16;
}

/* ------------------------------------------------------------ quantize -- */

struct qjob {
    const struct smelt_gguf_tensor *t;
    uint32_t to;
    const float *imatrix; /* [ne0] or NULL */
    bool reference;
    void *out;
    size_t out_row;
    int64_t nrows;
    float **scratch; /* per thread [chunk][ne0] */
    struct smelt_gptq *gptq; /* error feedback for this tensor, or NULL */
    float **work;            /* per thread, smelt_gptq_work_floats(chunk) */
    int64_t chunk;
    bool failed;
};

static void quantize_worker(void *arg, int ith, int nth) {
    struct qjob *j = arg;
    const struct smelt_gguf_tensor *t = j->t;
    const int64_t ne0 = t->ne[0];
    const struct smelt_type_traits *from = smelt_quant_traits(t->type);
    const struct smelt_type_traits *to = smelt_quant_traits(j->to);
    const size_t in_row = smelt_quant_row_size(t->type, ne0);
    const int64_t nchunks = (j->nrows + j->chunk - 1) / j->chunk;
    for (int64_t k = ith; k < nchunks; k += nth) {
        const int64_t r0 = k * j->chunk, nr = j->nrows - r0 < j->chunk ? j->nrows - r0 : j->chunk;
        float *buf = j->scratch[ith];
        const float *src = buf;
        /* F32 rows are read in place, except for the error feedback, which rewrites its copy */
        if (t->type == SMELT_TYPE_F32 && !j->gptq)
            src = (const float *)t->data + r0 * ne0;
        else
            for (int64_t r = 0; r < nr; r++)
                from->to_float_ref((const char *)t->data + (size_t)(r0 + r) * in_row, buf + r * ne0, ne0);
        char *dst = (char *)j->out + (size_t)r0 * j->out_row;
        if (j->gptq) {
            if (!smelt_gptq_rows(j->gptq, t->name, j->to, buf, nr, ne0, dst, j->work[ith])) j->failed = true;
        } else if (j->reference) {
            /* llama-quantize's choice per type: the _ref quantizers, except IQ4_NL's wider scale search */
            const smelt_from_float_fn q = j->to == SMELT_TYPE_IQ4_NL ? smelt_iq4_nl_from_float_file : to->from_float_ref;
            for (int64_t r = 0; r < nr; r++) q(src + r * ne0, dst + (size_t)r * j->out_row, ne0);
        } else if (smelt_quantize_imat(j->to, src, dst, nr, ne0, j->imatrix) != (size_t)nr * j->out_row) {
            j->failed = true;
        }
    }
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Tensor order of llama.cpp's loader: by block number (tensors outside the blocks first), then by name. */
static int layer_of(const char *name) {
    int l = -1;
    if (strncmp(name, "blk.", 4) == 0) {
        char *end;
        long v = strtol(name + 4, &end, 10);
        if (end != name + 4 && *end == '.' && v >= 0 && v < 1000000) l = (int)v;
    }
    return l;
}

static int cmp_tensor(const void *a, const void *b) {
    const struct smelt_gguf_tensor *x = *(const struct smelt_gguf_tensor *const *)a;
    const struct smelt_gguf_tensor *y = *(const struct smelt_gguf_tensor *const *)b;
    int lx = layer_of(x->name), ly = layer_of(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static uint32_t get_arch_u32(const struct smelt_gguf *g, const char *arch, const char *key, uint32_t dflt) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint32_t v;
    if (smelt_gguf_get_u32(g, k, &v) == SMELT_OK) return v;
    /* per-layer arrays (some architectures): take the first element */
    enum smelt_gguf_vtype et;
    uint64_t n;
    const void *d;
    if (smelt_gguf_get_arr(g, k, &et, &n, &d) == SMELT_OK && n > 0 && (et == SMELT_GGUF_UINT32 || et == SMELT_GGUF_INT32)) {
        memcpy(&v, d, 4);
        return v;
    }
    return dflt;
}

enum smelt_status smelt_quantize_file(const char *in_path, const char *out_path,
                                      const struct smelt_quantize_params *p, struct smelt_quantize_stats *stats) {
    struct smelt_quantize_stats st;
    memset(&st, 0, sizeof st);
    if (stats) *stats = st;
    if (!in_path || !out_path || !p) return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: missing argument");
    const uint32_t dflt = ftype_default_type(p->ftype);
    if (dflt == SMELT_TYPE_COUNT)
        return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: unknown file type %" PRIu32 " (known: %s)", p->ftype,
                         smelt_ftype_names());
    if (p->reference && p->imatrix)
        return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: the reference quantizers take no importance matrix");
    for (int k = 0; k < 2; k++) {
        int32_t ot = k ? p->token_embd_type : p->output_type;
        if (ot >= 0 && (!smelt_quant_traits((uint32_t)ot) || ot == SMELT_TYPE_Q8_1 || ot == SMELT_TYPE_Q8_K))
            return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: %s type %" PRId32 " is not a type smelt can write",
                             k ? "token embedding" : "output", ot);
    }
    if (strcmp(in_path, out_path) == 0)
        return smelt_err(SMELT_ERR_INVALID_ARG, "quantize: input and output are the same file '%s'", in_path);

    struct smelt_gguf *g = NULL;
    struct smelt_gguf_writer *w = NULL;
    struct smelt_pool *pool = NULL;
    const struct smelt_gguf_tensor **order = NULL;
    uint32_t *to_type = NULL;
    void *out = NULL;
    float **scratch = NULL, **work = NULL;
    struct smelt_gptq *gptq = NULL;
    int nth = p->n_threads > 0 ? p->n_threads : smelt_n_cpus();
    struct smelt_imat im = {0};
    enum smelt_status s = smelt_gguf_open(in_path, &g);
    if (s) goto done;
    if (p->imatrix && (s = smelt_imat_load(p->imatrix, &im))) goto done;
    if (p->stats && !p->reference && !p->dry_run && smelt_imatrix_has_full(p->stats) &&
        (s = smelt_gptq_new(p->stats, p->stats_shrink, &gptq)))
        goto done;

    const char *arch = NULL;
    size_t al;
    if (smelt_gguf_get_str(g, "general.architecture", &arch, &al) != SMELT_OK) {
        s = smelt_err(SMELT_ERR_FORMAT, "%s: no general.architecture: not a model file", in_path);
        goto done;
    }
    const int64_t nt = smelt_gguf_n_tensors(g);
    order = smelt_malloc((size_t)(nt ? nt : 1) * sizeof *order);
    to_type = smelt_malloc((size_t)(nt ? nt : 1) * sizeof *to_type);
    if (!order || !to_type) {
        s = SMELT_ERR_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < nt; i++) order[i] = smelt_gguf_tensor(g, i);
    qsort(order, (size_t)nt, sizeof *order, cmp_tensor);

    struct mix_state ms = {.ftype = p->ftype, .tied = true, .has_imatrix = p->imatrix != NULL && !p->imatrix_self,
                           .output_type = p->output_type, .token_embd_type = p->token_embd_type};
    const uint32_t n_head = get_arch_u32(g, arch, "attention.head_count", 1);
    const uint32_t n_head_kv = get_arch_u32(g, arch, "attention.head_count_kv", n_head);
    ms.n_layer = (int)get_arch_u32(g, arch, "block_count", 0);
    ms.n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 1;
    for (int64_t i = 0; i < nt; i++) {
        enum cat c = category(order[i]->name);
        if (is_attn_v(c)) ms.n_attn_v++;
        if (c == C_OUTPUT) ms.tied = false;
    }

    /* choose every tensor's type first, so that errors come before any output */
    size_t max_out = 0, max_row_floats = 0;
    for (int64_t i = 0; i < nt; i++) {
        const struct smelt_gguf_tensor *t = order[i];
        uint32_t nt_ = t->type;
        if (allows_quantization(t)) {
            nt_ = dflt;
            if (is_quantized(dflt)) {
                if (!p->pure) nt_ = mix_type(&ms, t, nt_, category(t->name));
                else if (p->output_type >= 0 && category(t->name) == C_OUTPUT) nt_ = (uint32_t)p->output_type;
                else if (p->token_embd_type >= 0 && category(t->name) == C_TOKEN_EMBD) nt_ = (uint32_t)p->token_embd_type;
                bool fell;
                nt_ = fallback(nt_, t->ne[0], &fell);
                st.n_fallback += fell;
            }
        }
        to_type[i] = nt_;
        if (nt_ != t->type) {
            const struct smelt_type_traits *tf = smelt_quant_traits(t->type);
            if (!tf || !tf->to_float_ref) {
                s = smelt_err(SMELT_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which smelt cannot dequantize",
                              in_path, t->name, smelt_type_name(t->type));
                goto done;
            }
            if (is_quantized(t->type) && is_quantized(nt_) && !p->allow_requantize) {
                s = smelt_err(SMELT_ERR_INVALID_ARG, "%s: tensor '%s' is already quantized (%s); requantizing to %s "
                              "loses quality: quantize from an F32/F16/BF16 file, or pass --allow-requantize",
                              in_path, t->name, smelt_type_name(t->type), smelt_type_name(nt_));
                goto done;
            }
            if (p->imatrix && !p->reference) {
                struct smelt_imat_entry *e = smelt_imat_find(&im, t->name);
                const int64_t want = t->ne[0] * t->ne[2] * t->ne[3];
                if (e && e->n != want && category(t->name) != C_TOKEN_EMBD) {
                    s = smelt_err(SMELT_ERR_INVALID_ARG, "imatrix %s: entry '%s' has %" PRId64 " values, the tensor "
                                  "needs %" PRId64 ": the importance matrix was computed for another model",
                                  p->imatrix, t->name, e->n, want);
                    goto done;
                }
            }
            const size_t ob = smelt_quant_row_size(nt_, t->ne[0]) * (size_t)(t->nbytes / smelt_quant_row_size(t->type, t->ne[0]));
            if (ob > max_out) max_out = ob;
            if ((size_t)t->ne[0] > max_row_floats) max_row_floats = (size_t)t->ne[0];
        }
    }
    if (p->imatrix && !p->reference) {
        int64_t matched = 0;
        for (int64_t i = 0; i < im.n; i++) matched += smelt_gguf_find_tensor(g, im.e[i].name) != NULL;
        if (matched == 0) {
            s = smelt_err(SMELT_ERR_INVALID_ARG, "imatrix %s: none of its %" PRId64 " entries names a tensor of %s: the "
                          "importance matrix was computed for another model", p->imatrix, im.n, in_path);
            goto done;
        }
    }

    if (p->dry_run) goto done;

    /* metadata: everything copied, then file type and quantization version (set last, as llama.cpp does) */
    if ((s = smelt_gguf_writer_new(&w))) goto done;
    for (int64_t i = 0; !s && i < smelt_gguf_n_kv(g); i++) {
        const char *k = smelt_gguf_kv_key(g, i);
        if (strcmp(k, "general.quantization_version") == 0 || strcmp(k, "general.file_type") == 0 ||
            strncmp(k, "split.", 6) == 0 || strncmp(k, "quantize.imatrix.", 17) == 0 ||
            strcmp(k, "quantize.self_calibration") == 0 || strcmp(k, "quantize.error_feedback") == 0)
            continue;
        s = smelt_gguf_writer_copy_kv(w, g, i);
    }
    if (!s) s = smelt_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!s) s = smelt_gguf_writer_set_u32(w, "general.file_type", p->ftype);
    if (!s && gptq) s = smelt_gguf_writer_set_bool(w, "quantize.error_feedback", true);
    if (!s && p->imatrix && p->imatrix_self) {
        s = smelt_gguf_writer_set_bool(w, "quantize.self_calibration", true);
    } else if (!s && p->imatrix) {
        /* file names without their folders, so the same inputs give the same file anywhere */
        if (!p->imatrix_temp) s = smelt_gguf_writer_set_str(w, "quantize.imatrix.file", base_name(p->imatrix));
        if (!s && im.dataset) s = smelt_gguf_writer_set_str(w, "quantize.imatrix.dataset", base_name(im.dataset));
        if (!s) s = smelt_gguf_writer_set_i32(w, "quantize.imatrix.entries_count", (int32_t)im.n);
        if (!s) s = smelt_gguf_writer_set_i32(w, "quantize.imatrix.chunks_count", (int32_t)im.chunks);
    }
    for (int64_t i = 0; !s && i < nt; i++)
        s = smelt_gguf_writer_add_tensor(w, order[i]->name, to_type[i], order[i]->n_dims, order[i]->ne, NULL, NULL);
    if (s) goto done;

    const int64_t chunk = 32; /* rows per work item */
    if (max_out) {
        if ((s = smelt_pool_new(nth, &pool))) goto done;
        nth = smelt_pool_n_threads(pool);
        out = smelt_aligned_alloc(64, max_out);
        scratch = smelt_calloc((size_t)nth, sizeof *scratch);
        work = smelt_calloc((size_t)nth, sizeof *work);
        if (!out || !scratch || !work) {
            s = SMELT_ERR_NOMEM;
            goto done;
        }
        for (int k = 0; k < nth; k++)
            if (!(scratch[k] = smelt_malloc((size_t)chunk * max_row_floats * sizeof(float))) ||
                (gptq && !(work[k] = smelt_malloc(smelt_gptq_work_floats(chunk) * sizeof(float))))) {
                s = SMELT_ERR_NOMEM;
                goto done;
            }
    }
    if ((s = smelt_gguf_writer_open(w, out_path))) goto done;
    for (int64_t i = 0; i < nt; i++) {
        const struct smelt_gguf_tensor *t = order[i];
        uint64_t nel = 1;
        for (int d = 0; d < 4; d++) nel *= (uint64_t)t->ne[d];
        st.n_elements += nel;
        st.bytes_in += t->nbytes;
        const size_t nbytes = smelt_gguf_writer_tensor_nbytes(w, i);
        if (to_type[i] == t->type) {
            s = smelt_gguf_writer_write_tensor(w, i, t->data, t->nbytes);
        } else {
            struct qjob j = {.t = t, .to = to_type[i], .reference = p->reference, .out = out,
                             .out_row = smelt_quant_row_size(to_type[i], t->ne[0]),
                             .nrows = (int64_t)(nel / (uint64_t)t->ne[0]), .scratch = scratch, .chunk = chunk};
            if (p->imatrix && !p->reference) {
                struct smelt_imat_entry *e = smelt_imat_find(&im, t->name);
                if (e && e->n == t->ne[0] && t->ne[2] * t->ne[3] == 1) {
                    j.imatrix = e->v;
                    e->used = true;
                    st.n_imatrix_used++;
                }
            }
            if (gptq && t->ne[2] * t->ne[3] == 1 && is_quantized(to_type[i]) &&
                smelt_quantize_imat_supported(to_type[i]) && smelt_gptq_has(gptq, t->name, t->ne[0])) {
                if ((s = smelt_gptq_prepare(gptq, t->name, blck_of(to_type[i])))) goto done;
                j.gptq = gptq;
                j.work = work;
                st.n_error_feedback++;
            }
            smelt_pool_run(pool, quantize_worker, &j);
            if (j.failed) {
                s = smelt_err(SMELT_ERR_INTERNAL, "quantize: the %s quantizer refused tensor '%s'",
                              smelt_type_name(to_type[i]), t->name);
                goto done;
            }
            st.n_converted++;
            s = smelt_gguf_writer_write_tensor(w, i, out, nbytes);
        }
        if (s) goto done;
        st.bytes_out += nbytes;
        if (to_type[i] < 64) st.elements_by_type[to_type[i]] += nel;
        st.n_tensors++;
        if (p->progress) p->progress(p->progress_ud, i, nt, t->name, t->type, to_type[i], t->nbytes, nbytes);
    }
    s = smelt_gguf_writer_close(w);
    if (!s && stats) *stats = st;
done:
    if (scratch)
        for (int k = 0; k < nth; k++) free(scratch[k]);
    free(scratch);
    if (work)
        for (int k = 0; k < nth; k++) free(work[k]);
    free(work);
    smelt_gptq_free(gptq);
    free(out);
    smelt_pool_free(pool);
    smelt_gguf_writer_free(w);
    free(order);
    free(to_type);
    smelt_imat_free(&im);
    smelt_gguf_free(g);
    return s;
}

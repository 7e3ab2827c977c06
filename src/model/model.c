/* Model loading: hyperparameters and weight views from a GGUF file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/base.h"
#include "kernels/x16.h"
#include "model_internal.h"
#include "quant/quant.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Read "<arch>.<key>" as u32. */
static enum smelt_status get_arch_u32(const struct smelt_model *m, const char *key, bool required,
                                      uint32_t def, uint32_t *out) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    enum smelt_status st = smelt_gguf_get_u32(m->gguf, full, out);
    if (st == SMELT_ERR_NOT_FOUND) {
        if (required) return smelt_err(SMELT_ERR_FORMAT, "missing metadata key '%s'", full);
        *out = def;
        return SMELT_OK;
    }
    return st;
}

static enum smelt_status get_arch_f32(const struct smelt_model *m, const char *key, bool required, float def,
                                      float *out) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    enum smelt_status st = smelt_gguf_get_f32(m->gguf, full, out);
    if (st == SMELT_ERR_NOT_FOUND) {
        if (required) return smelt_err(SMELT_ERR_FORMAT, "missing metadata key '%s'", full);
        *out = def;
        return SMELT_OK;
    }
    return st;
}

/* The matmul path of a weight: the x16 layout where the AVX-512 tier runs
 * and the shape fits (unless SMELT_NO_X16=1), else llama.cpp's path. */
static enum smelt_mm_path weight_path(uint32_t type, int64_t K, int64_t M) {
    const char *off = getenv("SMELT_NO_X16");
    if (!(off && *off && strcmp(off, "0") != 0) && smelt_x16_available() && smelt_x16_supported(type, K, M))
        return SMELT_MM_X16;
    return smelt_matmul_path(type, M);
}

/* Bind a weight: check presence, type support and shape [ne0, ne1]. ne1 == 0 for 1-D. */
static enum smelt_status bind(struct smelt_model *m, struct smelt_weight *w, const char *name, int64_t ne0,
                              int64_t ne1, bool required) {
    memset(w, 0, sizeof *w);
    const struct smelt_gguf_tensor *t = smelt_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (!required) return SMELT_OK;
        return smelt_err(SMELT_ERR_FORMAT, "missing tensor '%s'", name);
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return smelt_err(SMELT_ERR_FORMAT,
                         "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                         (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                         (long long)ne0, (long long)want1);
    const struct smelt_type_traits *tr = smelt_quant_traits(t->type);
    if (!tr || !tr->vec_dot)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "tensor '%s' has type %s, which smelt cannot compute with yet",
                         name, smelt_type_name(t->type));
    if (ne1 == 0 && t->type != SMELT_TYPE_F32)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "tensor '%s': norm/bias weights must be F32, got %s", name,
                         smelt_type_name(t->type));
    if (m->used) m->used[t - smelt_gguf_tensor(m->gguf, 0)] = 1;
    w->data = t->data;
    w->name = t->name;
    w->type = t->type;
    w->ne0 = ne0;
    w->ne1 = want1;
    w->row_bytes = smelt_quant_row_size(t->type, ne0);
    w->path = ne1 ? weight_path(t->type, ne0, want1) : SMELT_MM_PLAIN;
    return SMELT_OK;
}

/* Hyperparameters shared by the llama family (llama, gemma3, ...). */
static enum smelt_status load_hparams(struct smelt_model *m) {
    struct smelt_hparams *hp = &m->hp;
    uint32_t u;
    enum smelt_status st;
#define U32(key, req, def, dst)                                          \
    do {                                                                 \
        if ((st = get_arch_u32(m, key, req, def, &u)) != SMELT_OK) return st; \
        if (u > (1u << 30))                                              \
            return smelt_err(SMELT_ERR_FORMAT, "%s.%s = %u is out of range", m->arch_name, key, u); \
        dst = (int32_t)u;                                                \
    } while (0)
    U32("embedding_length", true, 0, hp->n_embd);
    U32("block_count", true, 0, hp->n_layer);
    U32("feed_forward_length", true, 0, hp->n_ff);
    U32("attention.head_count", true, 0, hp->n_head);
    U32("attention.head_count_kv", false, (uint32_t)hp->n_head, hp->n_head_kv);
    U32("context_length", false, 2048, hp->n_ctx_train);
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ctx_train <= 0)
        return smelt_err(SMELT_ERR_FORMAT,
                         "invalid hyperparameters: n_embd=%d n_layer=%d n_ff=%d n_head=%d n_head_kv=%d n_ctx=%d",
                         hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_ctx_train);
    if (hp->n_head % hp->n_head_kv != 0)
        return smelt_err(SMELT_ERR_FORMAT, "KV head count %d does not divide head count %d", hp->n_head_kv,
                         hp->n_head);
    char full[256];
    snprintf(full, sizeof full, "%s.attention.key_length", m->arch_name);
    if (smelt_gguf_find_key(m->gguf, full) < 0 && hp->n_embd % hp->n_head != 0)
        return smelt_err(SMELT_ERR_FORMAT, "head count %d does not divide embedding length %d", hp->n_head,
                         hp->n_embd);
    U32("attention.key_length", false, (uint32_t)(hp->n_embd / hp->n_head), hp->head_dim);
    int32_t vdim;
    U32("attention.value_length", false, (uint32_t)hp->head_dim, vdim);
    if (hp->head_dim <= 0 || hp->head_dim > 4096)
        return smelt_err(SMELT_ERR_FORMAT, "head size %d out of range 1..4096", hp->head_dim);
    if (vdim != hp->head_dim)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "key length %d != value length %d", hp->head_dim, vdim);
    U32("rope.dimension_count", false, (uint32_t)hp->head_dim, hp->n_rot);
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return smelt_err(SMELT_ERR_FORMAT, "rope.dimension_count %d invalid for head size %d", hp->n_rot,
                         hp->head_dim);
    if ((st = get_arch_f32(m, "rope.freq_base", false, 10000.0f, &hp->rope_base))) return st;
    /* RoPE scaling: rope.scaling.type + rope.scaling.factor (or the older rope.scale_linear) */
    float fs = 1.0f;
    const char *stype = NULL;
    size_t slen;
    snprintf(full, sizeof full, "%s.rope.scaling.type", m->arch_name);
    if (smelt_gguf_get_str(m->gguf, full, &stype, &slen) == SMELT_OK && strcmp(stype, "none") != 0 &&
        strcmp(stype, "linear") != 0)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "RoPE scaling type '%s' is not supported yet (supported: none, linear)",
                         stype);
    if ((st = get_arch_f32(m, "rope.scale_linear", false, 1.0f, &fs))) return st;
    if (!stype || strcmp(stype, "none") != 0)
        if ((st = get_arch_f32(m, "rope.scaling.factor", false, fs, &fs))) return st;
    if (!(fs > 0) || !isfinite(fs)) return smelt_err(SMELT_ERR_FORMAT, "invalid RoPE scaling factor %g", fs);
    hp->rope_freq_scale = 1.0f / fs;
    hp->rope_freq_scale_swa = hp->rope_freq_scale;
    if ((st = get_arch_f32(m, "attention.layer_norm_rms_epsilon", false, 1e-5f, &hp->norm_eps))) return st;
    if (!(hp->rope_base > 0) || !(hp->norm_eps > 0) || !isfinite(hp->rope_base) || !isfinite(hp->norm_eps))
        return smelt_err(SMELT_ERR_FORMAT, "invalid rope.freq_base %g or rms epsilon %g", hp->rope_base,
                         hp->norm_eps);
    hp->n_vocab = smelt_tok_n_vocab(m->tok);
    /* llama defaults for the family options */
    hp->rope_kind = SMELT_ROPE_NORM;
    hp->act = SMELT_ACT_SILU;
    hp->q_scale = 1.0f;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->rope_base_swa = hp->rope_base;
    if (hp->arch == SMELT_ARCH_QWEN2) hp->rope_kind = SMELT_ROPE_NEOX;
    if (hp->arch == SMELT_ARCH_PHI3) {
        /* llama.cpp scales Q by 1/sqrt(head_dim) before attention for phi3 */
        hp->rope_kind = SMELT_ROPE_NEOX;
        hp->q_scale = 1.0f / sqrtf((float)hp->head_dim);
        hp->kq_scale = 1.0f;
    }
    if (hp->arch == SMELT_ARCH_GEMMA3) {
        hp->rope_kind = SMELT_ROPE_NEOX;
        hp->act = SMELT_ACT_GELU_TANH;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        hp->qk_norm = true;
        hp->post_norms = true;
        hp->q_scale = 1.0f / sqrtf((float)hp->head_dim);
        hp->kq_scale = 1.0f;
        hp->swa_pattern = 6;
        U32("attention.sliding_window", true, 0, hp->n_swa);
        if (hp->n_swa <= 0 || hp->n_swa > hp->n_ctx_train)
            return smelt_err(SMELT_ERR_FORMAT, "%s.attention.sliding_window = %d must be in 1..context_length (%d)",
                             m->arch_name, hp->n_swa, hp->n_ctx_train);
        if ((st = get_arch_f32(m, "rope.freq_base_swa", false, 10000.0f, &hp->rope_base_swa))) return st;
        hp->rope_freq_scale_swa = 1.0f; /* llama.cpp scales only the global layers of gemma3 */
        if ((st = get_arch_f32(m, "final_logit_softcapping", false, 0.0f, &hp->logit_softcap))) return st;
        if (!(hp->rope_base_swa > 0) || !(hp->logit_softcap >= 0))
            return smelt_err(SMELT_ERR_FORMAT, "invalid rope.freq_base_swa %g or final_logit_softcapping %g",
                             hp->rope_base_swa, hp->logit_softcap);
    }
#undef U32
    return SMELT_OK;
}

/* Rows [r0, r0+n) of a bound 2-D weight as a weight of its own. */
static struct smelt_weight row_view(const struct smelt_weight *w, int64_t r0, int64_t n) {
    struct smelt_weight v = *w;
    v.data = (const char *)w->data + (size_t)r0 * w->row_bytes;
    v.ne1 = n;
    return v;
}

static enum smelt_status load_weights(struct smelt_model *m) {
    struct smelt_hparams *hp = &m->hp;
    enum smelt_status st;
    const int64_t E = hp->n_embd, HD = hp->head_dim, V = hp->n_vocab;
    if ((st = bind(m, &m->tok_embd, "token_embd.weight", E, V, true))) return st;
    /* llama.cpp keeps the token embeddings as they are (row lookups), also
     * when the output layer reuses them */
    m->tok_embd.path = SMELT_MM_PLAIN;
    if ((st = bind(m, &m->output_norm, "output_norm.weight", E, 0, true))) return st;
    if ((st = bind(m, &m->output, "output.weight", E, V, false))) return st;
    if (!m->output.data) { /* tied embeddings */
        m->output = m->tok_embd;
        m->output.path = weight_path(m->output.type, E, V);
    }
    if ((st = bind(m, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 0, false))) return st;

    m->layers = smelt_calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return SMELT_ERR_NOMEM;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        struct smelt_layer *L = &m->layers[il];
        char n[96];
#define T(field, nm, a, b, req)                                   \
    do {                                                          \
        snprintf(n, sizeof n, "blk.%d.%s", il, nm);               \
        if ((st = bind(m, &L->field, n, a, b, req))) return st;   \
    } while (0)
        T(attn_norm, "attn_norm.weight", E, 0, true);
        if (hp->arch == SMELT_ARCH_PHI3) {
            /* fused [Q; K; V] rows: views into one matrix */
            struct smelt_weight qkv;
            snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", il);
            if ((st = bind(m, &qkv, n, E, (hp->n_head + 2 * hp->n_head_kv) * HD, true))) return st;
            L->wq = row_view(&qkv, 0, hp->n_head * HD);
            L->wk = row_view(&qkv, hp->n_head * HD, hp->n_head_kv * HD);
            L->wv = row_view(&qkv, (hp->n_head + hp->n_head_kv) * HD, hp->n_head_kv * HD);
        } else {
            T(wq, "attn_q.weight", E, hp->n_head * HD, true);
            T(wk, "attn_k.weight", E, hp->n_head_kv * HD, true);
            T(wv, "attn_v.weight", E, hp->n_head_kv * HD, true);
        }
        T(wo, "attn_output.weight", hp->n_head * HD, E, true);
        T(bq, "attn_q.bias", hp->n_head * HD, 0, false);
        T(bk, "attn_k.bias", hp->n_head_kv * HD, 0, false);
        T(bv, "attn_v.bias", hp->n_head_kv * HD, 0, false);
        T(ffn_norm, "ffn_norm.weight", E, 0, true);
        if (hp->arch == SMELT_ARCH_PHI3) {
            /* fused [gate; up] rows (llama.cpp's swiglu takes the first half as the gate) */
            struct smelt_weight gu;
            snprintf(n, sizeof n, "blk.%d.ffn_up.weight", il);
            if ((st = bind(m, &gu, n, E, 2 * hp->n_ff, true))) return st;
            L->w_gate = row_view(&gu, 0, hp->n_ff);
            L->w_up = row_view(&gu, hp->n_ff, hp->n_ff);
        } else {
            T(w_gate, "ffn_gate.weight", E, hp->n_ff, true);
            T(w_up, "ffn_up.weight", E, hp->n_ff, true);
        }
        T(w_down, "ffn_down.weight", hp->n_ff, E, true);
        if (hp->qk_norm) {
            T(q_norm, "attn_q_norm.weight", HD, 0, true);
            T(k_norm, "attn_k_norm.weight", HD, 0, true);
        }
        if (hp->post_norms) {
            T(post_attn_norm, "post_attention_norm.weight", E, 0, true);
            T(post_ffn_norm, "post_ffw_norm.weight", E, 0, true);
        }
#undef T
    }
    return SMELT_OK;
}

/* Every matmul weight of the model (views of fused tensors included). */
/* The i-th 2-D matmul weight: the output, then each layer's seven; NULL past
 * the last. */
static struct smelt_weight *matmul_weight(struct smelt_model *m, int64_t i) {
    if (i == 0) return &m->output;
    const int64_t il = (i - 1) / 7;
    if (!m->layers || il >= m->hp.n_layer) return NULL;
    struct smelt_layer *L = &m->layers[il];
    struct smelt_weight *lw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return lw[(i - 1) % 7];
}

static int matmul_weights(struct smelt_model *m, struct smelt_weight **ws, int cap) {
    int n = 0;
    for (struct smelt_weight *w; n < cap && (w = matmul_weight(m, n));) ws[n++] = w;
    return n;
}

/* Drop the whole pages of [from, to) from the process (MADV_DONTNEED on the
 * read-only file mapping: read again from the file if ever touched). */
static void drop_pages(const void *from, const void *to) {
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)from + pg - 1) & ~(pg - 1), b = (uintptr_t)to & ~(pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

#define HUGE_MIN ((size_t)2 << 20)

/* Packing tasks: 1024-row chunks of the x16 weights, taken in order by the
 * packing threads. */
struct pack_job {
    struct smelt_weight **ws;
    int n;
    _Atomic int64_t next; /* next task: weight index * 2^32 + chunk */
};

static void *pack_worker(void *arg) {
    struct pack_job *j = arg;
    for (;;) {
        int64_t task = atomic_fetch_add(&j->next, 1), wi = 0, k = task;
        /* map the flat task number to (weight, chunk) */
        for (; wi < j->n; wi++) {
            const int64_t nchunks = (j->ws[wi]->ne1 + 1023) / 1024;
            if (k < nchunks) break;
            k -= nchunks;
        }
        if (wi >= j->n) return NULL;
        const struct smelt_weight *w = j->ws[wi];
        const int64_t r0 = k * 1024, nr = w->ne1 - r0 < 1024 ? w->ne1 - r0 : 1024;
        const size_t gsz = smelt_x16_size(w->type, w->ne0, 16);
        const char *src = (const char *)w->data + (size_t)r0 * w->row_bytes;
        smelt_x16_pack(w->type, w->ne0, nr, src, (char *)w->packed + (size_t)(r0 / 16) * gsz);
        drop_pages(src, src + (size_t)nr * w->row_bytes);
    }
}

/* Pack the SMELT_MM_X16 weights (on up to 4 threads). Afterwards the forward
 * pass does not read their file bytes (tied token embeddings are looked up in
 * the packed output matrix where the type allows), so each chunk's pages are
 * dropped once packed: the peak resident size stays near the model size. */
static enum smelt_status pack_weights(struct smelt_model *m) {
    const int cap = 1 + 7 * m->hp.n_layer;
    struct pack_job job = {.ws = malloc((size_t)cap * sizeof *job.ws)};
    if (!job.ws) return SMELT_ERR_NOMEM;
    const int n = matmul_weights(m, job.ws, cap);
    /* One arena for all packed weights, on a 2 MiB boundary with transparent
     * huge pages asked for: decode streams every byte once per token, and with
     * 4 KiB pages each 4 KiB costs a TLB miss (huge pages: decode +5-15 %). */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const struct smelt_weight *w = job.ws[i];
        if (w->path == SMELT_MM_X16 && w->data) total += (smelt_x16_size(w->type, w->ne0, w->ne1) + 63) & ~(size_t)63;
    }
    if (total) {
        if (posix_memalign(&m->packed_arena, HUGE_MIN, total) != 0) {
            m->packed_arena = NULL;
            free(job.ws);
            return smelt_err(SMELT_ERR_NOMEM, "out of memory packing the weights (%zu bytes)", total);
        }
#ifdef MADV_HUGEPAGE
        if (!getenv("SMELT_NO_HUGEPAGES")) madvise(m->packed_arena, total, MADV_HUGEPAGE);
#endif
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        struct smelt_weight *w = job.ws[i];
        if (w->path != SMELT_MM_X16 || !w->data) continue;
        w->packed = (char *)m->packed_arena + at;
        at += (smelt_x16_size(w->type, w->ne0, w->ne1) + 63) & ~(size_t)63;
        job.ws[job.n++] = w;
    }
#ifdef MADV_NOHUGEPAGE
    /* The file pages of the packed weights are dropped below, but a small
     * tensor read later (a norm between two layers) would otherwise fault in
     * a whole 2 MiB file folio where the page cache has them (seen: 6 MB of
     * SmolLM2's file kept that way): small pages for the weights' span. */
    if (job.n) {
        const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (int i = 0; i < job.n; i++) {
            const uintptr_t a = (uintptr_t)job.ws[i]->data, b = a + (size_t)job.ws[i]->ne1 * job.ws[i]->row_bytes;
            lo = a < lo ? a : lo;
            hi = b > hi ? b : hi;
        }
        lo &= ~(pg - 1);
        madvise((void *)lo, hi - lo, MADV_NOHUGEPAGE);
    }
#endif
    pthread_t th[3];
    int nt = 0;
    const int want = smelt_n_cpus() < 4 ? smelt_n_cpus() : 4;
    while (nt < want - 1 && pthread_create(&th[nt], NULL, pack_worker, &job) == 0) nt++;
    pack_worker(&job);
    for (int i = 0; i < nt; i++) pthread_join(th[i], NULL);
    /* Once more over each packed weight's whole file range: a chunk's pages
     * can be mapped again after its drop by the fault-around of a neighbouring
     * chunk read on the other thread (SmolLM2: ~0.4 MB less peak RSS). */
    for (int i = 0; i < job.n; i++) {
        const struct smelt_weight *w = job.ws[i];
        drop_pages(w->data, (const char *)w->data + (size_t)w->ne1 * w->row_bytes);
    }
    free(job.ws);
    /* tied embeddings: row lookups from the packed output (the same numbers) */
    m->embd_packed = m->output.packed && m->output.data == m->tok_embd.data && smelt_x16_has_rows(m->output.type);
    return SMELT_OK;
}

enum smelt_status smelt_model_load(const char *path, struct smelt_model **out) {
    *out = NULL;
    enum smelt_status st;
    struct smelt_model *m = smelt_calloc(1, sizeof *m);
    if (!m) return SMELT_ERR_NOMEM;
    smelt_kernels_init();
    if ((st = smelt_gguf_open(path, &m->gguf))) goto fail_noprefix;
    m->path = smelt_strdup(path);
    if (!m->path) { st = SMELT_ERR_NOMEM; goto fail; }
    const char *s;
    size_t len;
    if ((st = smelt_gguf_get_str(m->gguf, "general.architecture", &s, &len))) {
        if (st == SMELT_ERR_NOT_FOUND) st = smelt_err(SMELT_ERR_FORMAT, "missing key general.architecture");
        goto fail;
    }
    m->arch_name = smelt_strdup(s);
    if (smelt_gguf_get_str(m->gguf, "general.name", &s, &len) == SMELT_OK) m->name = smelt_strdup(s);
    else m->name = smelt_strdup(base_name(path));
    if (!m->arch_name || !m->name) { st = SMELT_ERR_NOMEM; goto fail; }
    if (smelt_gguf_get_str(m->gguf, "tokenizer.chat_template", &s, &len) == SMELT_OK) {
        m->chat_template = smelt_strdup(s);
        if (!m->chat_template) { st = SMELT_ERR_NOMEM; goto fail; }
    }

    if ((st = smelt_tok_from_gguf(m->gguf, &m->tok))) goto fail;

    if (!strcmp(m->arch_name, "llama")) {
        m->hp.arch = SMELT_ARCH_LLAMA;
    } else if (!strcmp(m->arch_name, "qwen2")) {
        m->hp.arch = SMELT_ARCH_QWEN2;
    } else if (!strcmp(m->arch_name, "phi3")) {
        m->hp.arch = SMELT_ARCH_PHI3;
    } else if (!strcmp(m->arch_name, "gemma3")) {
        m->hp.arch = SMELT_ARCH_GEMMA3;
    } else {
        st = smelt_err(SMELT_ERR_UNSUPPORTED, "unknown or unsupported architecture '%s' (supported: llama, qwen2, phi3, gemma3)",
                       m->arch_name);
        goto fail;
    }
    m->used = smelt_calloc((size_t)smelt_gguf_n_tensors(m->gguf) + 1, 1);
    if (!m->used) { st = SMELT_ERR_NOMEM; goto fail; }
    if ((st = load_hparams(m)) || (st = load_weights(m)) || (st = pack_weights(m))) goto fail;
    /* like llama.cpp, refuse files with tensors this architecture does not use:
     * ignoring them (biases, RoPE factors, ...) would give silently wrong output */
    for (int64_t i = 0; i < smelt_gguf_n_tensors(m->gguf); i++)
        if (!m->used[i]) {
            st = smelt_err(SMELT_ERR_UNSUPPORTED, "tensor '%s' is not used by smelt's %s implementation",
                           smelt_gguf_tensor(m->gguf, i)->name, m->arch_name);
            goto fail;
        }
    free(m->used);
    m->used = NULL;
    for (int64_t i = 0; i < smelt_gguf_n_tensors(m->gguf); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(m->gguf, i);
        m->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        m->size_bytes += t->nbytes;
    }
    *out = m;
    return SMELT_OK;
fail:
    smelt_err_prefix(st, "%s", path);
fail_noprefix:
    smelt_model_free(m);
    return st;
}

void smelt_model_free(struct smelt_model *m) {
    if (!m) return;
    free(m->packed_arena);
    free(m->layers);
    free(m->used);
    smelt_tok_free(m->tok);
    smelt_gguf_free(m->gguf);
    free(m->chat_template);
    free(m->arch_name);
    free(m->name);
    free(m->path);
    free(m);
}

const char *smelt_model_arch(const struct smelt_model *m) { return m->arch_name; }
const char *smelt_model_name(const struct smelt_model *m) { return m->name; }
const struct smelt_tok *smelt_model_tok(const struct smelt_model *m) { return m->tok; }
const struct smelt_gguf *smelt_model_gguf(const struct smelt_model *m) { return m->gguf; }
const char *smelt_model_chat_template(const struct smelt_model *m) { return m->chat_template; }
int32_t smelt_model_n_vocab(const struct smelt_model *m) { return m->hp.n_vocab; }
int32_t smelt_model_n_ctx_train(const struct smelt_model *m) { return m->hp.n_ctx_train; }
int32_t smelt_model_n_embd(const struct smelt_model *m) { return m->hp.n_embd; }
int32_t smelt_model_n_layer(const struct smelt_model *m) { return m->hp.n_layer; }
uint64_t smelt_model_n_params(const struct smelt_model *m) { return m->n_params; }
uint64_t smelt_model_size_bytes(const struct smelt_model *m) { return m->size_bytes; }

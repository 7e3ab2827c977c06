#!/usr/bin/env python3
"""Small random-weight GGUF models of several architectures, with llama.cpp's
outputs on them as goldens (tests/arch). Run with the oracle venv (gguf, numpy,
llama-cpp-python built for AVX2):

    /tmp/oracle-venv/bin/python scripts/golden_arch.py [NAME ...]

Every model gets the byte-level BPE tokenizer of SmolLM2-135M-Instruct cut down
to its first N_VOCAB tokens (special tokens, the 256 byte tokens, then merge
results in merge order); only merges whose two parts and result survive the cut
are kept, so the small tokenizer is self-consistent. Weights are drawn from a
seeded numpy generator, so a rerun writes the same files.

Outputs, under tests/arch/golden/<name>/:

  model.gguf   the model (< 3 MB)
  tf.txt       teacher-forced text (first N_TF tokens of tests/data/gpl3.txt):
               line 1 = the token ids; then one line per position
               "pos top1 v1 v2 | id:logit ..." with the 16 highest logits
               (v1, v2 = best and second-best logit, for near-ties); the format
               of scripts/golden_model.py
  tf_full.bin  full float32 logit rows for positions FULL_ROWS (row-major)
  greedy.txt   per prompt: "P <prompt ids>" then "G <N_GREEDY greedy ids>"
  norepack/    (llama_q4_0 only) the same three files from llama.cpp with its
               CPU weight repacking turned off

and tests/arch/golden/bad/*.gguf: tiny gemma3 files with one inconsistent
hyperparameter each (plus ok.gguf, the same file without the defect), for the
load-error tests.
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "arch", "golden")
TEXT = os.path.join(ROOT, "tests", "data", "gpl3.txt")
SRC_TOK = os.path.expanduser("~/.cache/smelt/models/SmolLM2-135M-Instruct.Q4_1.gguf")
N_VOCAB = 2048
N_TF = 192
FULL_ROWS = [0, 1, 100, N_TF - 1]
N_GREEDY = 32
PROMPTS = [
    "The GNU General Public License is a free, copyleft license for",
    "Once upon a time, in a small village by the sea,",
]


# ---------------------------------------------------------------- tokenizer

def load_tokenizer(n_vocab):
    """tokenizer.ggml.* key/values of SmolLM2, vocabulary cut to n_vocab."""
    r = gguf.GGUFReader(SRC_TOK)
    kv = []
    for key, f in r.fields.items():
        if not key.startswith("tokenizer.") or key == "tokenizer.chat_template":
            continue
        val = f.contents()
        vtype = f.types[0]
        sub = f.types[-1] if vtype == VT.ARRAY else None
        if key == "tokenizer.ggml.tokens":
            tokens = val[:n_vocab]
            val = tokens
        elif key == "tokenizer.ggml.token_type":
            val = val[:n_vocab]
        kv.append([key, val, vtype, sub])
    keep = set(tokens)
    for item in kv:
        if item[0] == "tokenizer.ggml.merges":
            merges = []
            for m in item[1]:
                a, b = m.split(" ", 1)
                if a in keep and b in keep and a + b in keep:
                    merges.append(m)
            item[1] = merges
    for item in kv:
        if item[0].endswith("_token_id"):
            assert item[1] < n_vocab, item
    return kv


# ---------------------------------------------------------------- weights

class Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def mat(self, rows, cols, gain=1.0):
        """[rows][cols] weight (GGUF ne = [cols, rows]), std gain/sqrt(cols)."""
        return (self.rng.standard_normal((rows, cols)) * (gain / np.sqrt(cols))).astype(np.float32)

    def vec(self, n, mean=0.0, std=1.0):
        return (mean + std * self.rng.standard_normal(n)).astype(np.float32)


def add_weight(w, name, data, wtype):
    """2-D weights in wtype (F32/F16/Q8_0/Q4_0/...), 1-D tensors always F32."""
    if data.ndim == 1 or wtype == QT.F32:
        w.add_tensor(name, data.astype(np.float32))
    elif wtype == QT.F16:
        w.add_tensor(name, data.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(data, wtype), raw_dtype=wtype)


def write_model(path, cfg, tok_kv):
    """cfg: arch, seed, wtype, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff,
    n_vocab, tied, plus arch extras. Returns nothing; writes path."""
    arch = cfg["arch"]
    g = Gen(cfg["seed"])
    E, L, H, HKV, HD, F, V = (cfg[k] for k in ("n_embd", "n_layer", "n_head", "n_head_kv", "head_dim", "n_ff",
                                               "n_vocab"))
    wt = cfg["wtype"]
    w = gguf.GGUFWriter(path, arch)
    # not the model's name: llama.cpp gives names containing "phi3" special
    # tokenizer attributes that need tokens this vocabulary lacks
    w.add_name("smelt arch test %d" % cfg["seed"])
    w.add_context_length(cfg.get("n_ctx_train", 1024))
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(F)
    w.add_head_count(H)
    w.add_head_count_kv(HKV)
    w.add_rope_freq_base(cfg.get("rope_base", 10000.0))
    w.add_layer_norm_rms_eps(cfg.get("eps", 1e-5))
    w.add_rope_dimension_count(HD)
    if HD * H != E:
        w.add_key_length(HD)
        w.add_value_length(HD)
    if cfg.get("rope_scale_linear"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(cfg["rope_scale_linear"])
    if arch == "gemma3":
        if cfg.get("swa") is not None:
            w.add_sliding_window(cfg["swa"])
        if cfg.get("softcap"):
            w.add_final_logit_softcapping(cfg["softcap"])
    w.add_file_type(int({QT.F32: 0, QT.F16: 1, QT.Q4_0: 2, QT.Q8_0: 7}[wt]))
    for key, val, vtype, sub in tok_kv:
        w.add_key_value(key, val, vtype, sub_type=sub)

    gemma = arch == "gemma3"
    norm_std = 0.1
    # embeddings (std 0.5; gemma: 3/sqrt(n_embd), scaled up by sqrt(n_embd) in the graph)
    emb = g.mat(V, E, gain=cfg.get("emb_gain", float(np.sqrt(E)) * 0.5))
    add_weight(w, "token_embd.weight", emb, wt)
    if not cfg["tied"]:
        add_weight(w, "output.weight", g.mat(V, E, gain=cfg.get("out_gain", 3.0)), wt)
    add_weight(w, "output_norm.weight", g.vec(E, 1.0, norm_std), wt)
    if cfg.get("rope_freqs"):
        # Llama 3.1-style frequency factors: one divisor per rotary pair
        add_weight(w, "rope_freqs.weight", np.linspace(1.0, 8.0, HD // 2).astype(np.float32), wt)
    QD, KD = H * HD, HKV * HD
    for il in range(L):
        p = "blk.%d." % il
        add_weight(w, p + "attn_norm.weight", g.vec(E, 1.0, norm_std), wt)
        wq, wk, wv = g.mat(QD, E, 1.5), g.mat(KD, E, 1.5), g.mat(KD, E)
        if arch == "phi3":
            add_weight(w, p + "attn_qkv.weight", np.concatenate([wq, wk, wv], axis=0), wt)
        else:
            add_weight(w, p + "attn_q.weight", wq, wt)
            add_weight(w, p + "attn_k.weight", wk, wt)
            add_weight(w, p + "attn_v.weight", wv, wt)
        if arch == "qwen2":
            add_weight(w, p + "attn_q.bias", g.vec(QD, 0.0, 0.5), wt)
            add_weight(w, p + "attn_k.bias", g.vec(KD, 0.0, 0.5), wt)
            add_weight(w, p + "attn_v.bias", g.vec(KD, 0.0, 0.5), wt)
        add_weight(w, p + "attn_output.weight", g.mat(E, QD, cfg.get("res_gain", 1.0)), wt)
        if gemma:
            add_weight(w, p + "attn_q_norm.weight", g.vec(HD, 1.0, norm_std), wt)
            add_weight(w, p + "attn_k_norm.weight", g.vec(HD, 1.0, norm_std), wt)
            # post norms > 1 so the blocks, not the (tied) embedding, dominate
            # the residual stream; otherwise every position predicts its input
            pm = cfg.get("post_norm_mean", 1.0)
            add_weight(w, p + "post_attention_norm.weight", g.vec(E, pm, pm * norm_std), wt)
            add_weight(w, p + "post_ffw_norm.weight", g.vec(E, pm, pm * norm_std), wt)
        add_weight(w, p + "ffn_norm.weight", g.vec(E, 1.0, norm_std), wt)
        gate, up = g.mat(F, E, 1.5), g.mat(F, E)
        if arch == "phi3":
            # llama.cpp's phi3 graph: ggml_swiglu on the fused [2*n_ff] output,
            # silu(first half) * second half: gate rows first, then up rows
            add_weight(w, p + "ffn_up.weight", np.concatenate([gate, up], axis=0), wt)
        else:
            add_weight(w, p + "ffn_gate.weight", gate, wt)
            add_weight(w, p + "ffn_up.weight", up, wt)
        add_weight(w, p + "ffn_down.weight", g.mat(E, F, cfg.get("res_gain", 1.0)), wt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- models

# gemma3: embedding gain (before the sqrt(n_embd) scale) and post-norm weight mean
EG, PM = 3.0, 8.0
BASE = dict(n_embd=128, n_head=4, n_head_kv=2, head_dim=32, n_vocab=N_VOCAB)

MODELS = [
    # llama, untied output, F16 matrices
    dict(BASE, name="llama_untied", arch="llama", seed=101, wtype=QT.F16, n_layer=3, n_ff=384, tied=False),
    # the same shapes in Q4_0. llama.cpp repacks Q4_0 weights for AVX2 (q4_0_8x8
    # gemm/gemv, other summation order); norepack/ holds its goldens with the
    # repacking off (use_extra_bufts = false)
    dict(BASE, name="llama_q4_0", arch="llama", seed=102, wtype=QT.Q4_0, n_layer=3, n_ff=384, tied=False,
         norepack=True),
    # qwen2: Q/K/V biases, NeoX RoPE, base 1e6, tied output, F32 weights
    dict(BASE, name="qwen2", arch="qwen2", seed=103, wtype=QT.F32, n_layer=2, n_ff=256, tied=True,
         rope_base=1e6, eps=1e-6, res_gain=3.0),
    # phi3: fused QKV, fused gate/up, NeoX RoPE, untied output, F16
    dict(BASE, name="phi3", arch="phi3", seed=104, wtype=QT.F16, n_layer=3, n_ff=256, tied=False),
    # gemma3: 6 layers (5 sliding-window + 1 global), window 32 < text, head_dim 64
    # != n_embd/n_head (explicit key_length), logit soft-capping, F16
    dict(BASE, name="gemma3", arch="gemma3", seed=105, wtype=QT.F16, n_layer=6, n_ff=192, tied=True,
         head_dim=64, swa=32, softcap=30.0, rope_base=1e6, eps=1e-6, emb_gain=EG, post_norm_mean=PM),
    # gemma3 in Q8_0, with soft-capping
    dict(BASE, name="gemma3_q8_0", arch="gemma3", seed=106, wtype=QT.Q8_0, n_layer=6, n_ff=256, tied=True,
         head_dim=64, swa=32, softcap=30.0, rope_base=1e6, eps=1e-6, emb_gain=EG, post_norm_mean=PM),
]

# gemma3 files with one inconsistent hyperparameter each (vocab 300, 1 layer)
TINY = dict(arch="gemma3", seed=7, wtype=QT.F32, n_embd=64, n_layer=1, n_head=4, n_head_kv=2, head_dim=16,
            n_ff=64, n_vocab=300, tied=True, swa=32, n_ctx_train=1024)
BAD = [
    dict(TINY, name="ok"),
    dict(TINY, name="heads_not_divisible", n_head_kv=3),
    dict(TINY, name="swa_gt_ctx", swa=4096),
    dict(TINY, name="swa_missing", swa=None),
]


def goldens(cfg, d, model_path=None, repack=True):
    """Write tf.txt, tf_full.bin and greedy.txt for the model into d. repack=False:
    llama.cpp with its CPU weight repacking off (use_extra_bufts = false)."""
    import llama_cpp.llama_cpp as lc  # the module llama.py calls
    from llama_cpp import Llama
    os.makedirs(d, exist_ok=True)
    orig = lc.llama_model_default_params
    if not repack:
        def no_repack():
            p = orig()
            p.use_extra_bufts = False
            return p
        lc.llama_model_default_params = no_repack  # llama.py looks it up at call time
    try:
        llm = Llama(model_path=model_path or os.path.join(d, "model.gguf"), n_ctx=512, n_batch=512, n_threads=2,
                    logits_all=True, verbose=False, flash_attn=False)
    finally:
        lc.llama_model_default_params = orig
    text = open(TEXT, encoding="utf-8").read()
    toks = llm.tokenize(text.encode(), add_bos=False, special=False)[:N_TF]
    assert len(toks) == N_TF
    llm.reset()
    llm.eval(toks)
    scores = np.array(llm.scores[:N_TF], dtype=np.float32)
    gaps = []
    with open(os.path.join(d, "tf.txt"), "w") as f:
        f.write(" ".join(map(str, toks)) + "\n")
        for i in range(N_TF):
            row = scores[i]
            top = np.argsort(-row, kind="stable")[:16]
            gaps.append(row[top[0]] - row[top[1]])
            f.write("%d %d %.6f %.6f |" % (i, top[0], row[top[0]], row[top[1]]))
            f.write("".join(" %d:%.6f" % (t, row[t]) for t in top) + "\n")
    scores[FULL_ROWS].astype("<f4").tofile(os.path.join(d, "tf_full.bin"))
    gaps = np.array(gaps)
    n_top1 = len(set(int(np.argmax(r)) for r in scores))
    print("  %s: logit std %.2f, top-1 gap median %.3f, %d of %d gaps < 0.05, %d distinct top-1" %
          (cfg["name"], scores.std(), np.median(gaps), int((gaps < 0.05).sum()), N_TF, n_top1))
    with open(os.path.join(d, "greedy.txt"), "w") as f:
        for p in PROMPTS:
            ptoks = llm.tokenize(p.encode(), add_bos=False, special=False)
            llm.reset()
            llm.eval(ptoks)
            gen = []
            for _ in range(N_GREEDY):
                t = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)))
                gen.append(t)
                llm.eval([t])
            f.write("P " + " ".join(map(str, ptoks)) + "\n")
            f.write("G " + " ".join(map(str, gen)) + "\n")
            print("  greedy: %d distinct of %d" % (len(set(gen)), N_GREEDY))
    del llm


def main():
    only = set(sys.argv[1:])
    tok = load_tokenizer(N_VOCAB)
    for cfg in MODELS:
        if only and cfg["name"] not in only:
            continue
        d = os.path.join(OUT, cfg["name"])
        os.makedirs(d, exist_ok=True)
        write_model(os.path.join(d, "model.gguf"), cfg, tok)
        print(cfg["name"], os.path.getsize(os.path.join(d, "model.gguf")), "bytes")
        goldens(cfg, d)
        if cfg.get("norepack"):
            goldens(cfg, os.path.join(d, "norepack"), os.path.join(d, "model.gguf"), repack=False)
    if not only or "bad" in only:
        tiny_tok = load_tokenizer(TINY["n_vocab"])
        d = os.path.join(OUT, "bad")
        os.makedirs(d, exist_ok=True)
        for cfg in BAD:
            write_model(os.path.join(d, cfg["name"] + ".gguf"), cfg, tiny_tok)


if __name__ == "__main__":
    main()

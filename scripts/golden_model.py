#!/usr/bin/env python3
"""Write llama.cpp oracle goldens for a model (run with the oracle venv that has
llama-cpp-python; see scripts/setup-oracle.sh). Outputs, under tests/model/golden/<name>/:

  tf.txt      teacher-forced text: line 1 = the token ids; then one line per
              position: "pos top1 v1 v2 | id:logit id:logit ..." with the 16
              highest logits (v1, v2 = best and second-best logit, for near-ties)
  tf_full.bin full float32 logits rows for positions FULL_ROWS (row-major)
  greedy.txt  per prompt: "P <prompt ids>" then "G <128 greedy ids>"
  ppl.txt     "n_ctx n_chunks ppl" over the first chunks of the perplexity text,
              llama.cpp perplexity convention (second half of each chunk scored)

Usage: golden_model.py MODEL.gguf NAME
"""
import json
import math
import os
import sys

import numpy as np
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEXT = os.path.join(ROOT, "tests", "data", "gpl3.txt")
FULL_ROWS = [0, 1, 100, 511]
N_TF = 512
PPL_CTX = 512
PPL_CHUNKS = 8
N_GREEDY = 128

PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain what a hash table is in two sentences.",
    "List three uses of copper.",
    "Translate 'good morning' into Spanish and German.",
    "def fibonacci(n):",
]


def load_text_tokens(llm):
    """The evaluation text tokenized as llama.cpp does (BOS if the model adds one)."""
    text = open(TEXT, encoding="utf-8").read()
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    return llm.tokenize(text.encode(), add_bos=add_bos, special=False), add_bos


def write_tf(llm, toks, out):
    """Teacher-forced goldens (tf.txt, tf_full.bin) for the first N_TF tokens."""
    tf = toks[:N_TF]
    llm.reset()
    llm.eval(tf)
    scores = np.array(llm.scores[: len(tf)], dtype=np.float32)
    with open(os.path.join(out, "tf.txt"), "w") as f:
        f.write(" ".join(map(str, tf)) + "\n")
        for i in range(len(tf)):
            row = scores[i]
            top = np.argsort(-row, kind="stable")[:16]
            f.write("%d %d %.6f %.6f |" % (i, top[0], row[top[0]], row[top[1]]))
            f.write("".join(" %d:%.6f" % (t, row[t]) for t in top) + "\n")
    scores[FULL_ROWS].astype("<f4").tofile(os.path.join(out, "tf_full.bin"))


def main():
    model_path, name = sys.argv[1], sys.argv[2]
    out = os.path.join(ROOT, "tests", "model", "golden", name)
    os.makedirs(out, exist_ok=True)
    llm = Llama(model_path=model_path, n_ctx=2048, n_batch=512, n_threads=2, logits_all=True,
                verbose=False, flash_attn=False)
    toks, add_bos = load_text_tokens(llm)

    write_tf(llm, toks, out)

    # greedy generation on chat-formatted prompts
    import jinja2
    tmpl_src = llm.metadata.get("tokenizer.chat_template")
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(tmpl_src) if tmpl_src else None
    with open(os.path.join(out, "greedy.txt"), "w") as f:
        for p in PROMPTS:
            if tmpl is not None:
                s = tmpl.render(messages=[{"role": "user", "content": p}], add_generation_prompt=True,
                                bos_token=llm.detokenize([llm.token_bos()], special=True).decode(),
                                eos_token=llm.detokenize([llm.token_eos()], special=True).decode())
            else:
                s = p
            ptoks = llm.tokenize(s.encode(), add_bos=add_bos and not s.startswith("<bos>"), special=True)
            llm.reset()
            llm.eval(ptoks)
            gen = []
            for _ in range(N_GREEDY):
                row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
                t = int(np.argmax(row))
                gen.append(t)
                llm.eval([t])
            f.write("P " + " ".join(map(str, ptoks)) + "\n")
            f.write("G " + " ".join(map(str, gen)) + "\n")

    # perplexity, llama.cpp convention
    nll, cnt = 0.0, 0
    nlls = []
    bos = llm.token_bos()
    for c in range(PPL_CHUNKS):
        chunk = list(toks[c * PPL_CTX:(c + 1) * PPL_CTX])
        if len(chunk) < PPL_CTX:
            break
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        sc = np.array(llm.scores[:PPL_CTX], dtype=np.float64)
        for j in range(PPL_CTX // 2, PPL_CTX - 1):
            row = sc[j]
            mx = row.max()
            lse = mx + math.log(np.exp(row - mx).sum())
            v = lse - row[chunk[j + 1]]
            nlls.append(v)
    ppl = math.exp(sum(nlls) / len(nlls))
    with open(os.path.join(out, "ppl.txt"), "w") as f:
        f.write("%d %d %.6f\n" % (PPL_CTX, PPL_CHUNKS, ppl))
    print(name, "ppl", ppl, "tokens", len(toks))


if __name__ == "__main__":
    main()

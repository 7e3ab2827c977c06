#!/usr/bin/env python3
"""Chat templates of Llama 3, Qwen2 and Phi-3 exercised through model files:
each template is written into a test GGUF of its architecture (tests/arch's
random-weight models, copied by smelt's GGUF writer with
tokenizer.chat_template set), loaded by smelt, and smelt_chat_format's output
must equal jinja2's rendering of the same template (transformers' settings,
bos/eos tokens from the model's vocabulary), byte for byte.

usage: test_model_templates.py TMPL_MODEL ARCH_GOLDEN_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_oracle import CONVERSATIONS, ENV  # noqa: E402  (jinja2 set up like transformers)

CASES = [("llama_untied", "llama3.jinja"), ("llama_untied", "llama3.2.jinja"), ("qwen2", "qwen2.5.jinja"),
         ("phi3", "phi3-mini.jinja"), ("phi3", "phi3.5-mini.jinja")]
CONVS = ["system_user", "multi_turn", "no_system", "single_user", "unicode", "special_chars", "whitespace"]


def token_text(r, key):
    f = r.fields.get(key)
    if f is None:
        return ""
    tid = int(f.contents())
    return r.fields["tokenizer.ggml.tokens"].contents(tid)


def main():
    exe, arch_dir = sys.argv[1], sys.argv[2]
    fails, n = 0, 0
    with tempfile.TemporaryDirectory(prefix="smelt-model-tmpl-") as tmp:
        for arch, tname in CASES:
            model = os.path.join(arch_dir, arch, "model.gguf")
            r = gguf.GGUFReader(model)
            bos, eos = token_text(r, "tokenizer.ggml.bos_token_id"), token_text(r, "tokenizer.ggml.eos_token_id")
            src = open(os.path.join(HERE, "templates", tname), encoding="utf-8").read()
            for conv in CONVS:
                n += 1
                msgs = CONVERSATIONS[conv]
                want = ENV.from_string(src).render(messages=msgs, add_generation_prompt=True, bos_token=bos,
                                                   eos_token=eos)
                mp = os.path.join(tmp, "m.json")
                with open(mp, "w", encoding="utf-8") as f:
                    json.dump(msgs, f, ensure_ascii=False)
                p = subprocess.run([exe, model, os.path.join(HERE, "templates", tname), mp,
                                    os.path.join(tmp, "model.gguf")], capture_output=True, timeout=120)
                got = p.stdout.decode("utf-8", "replace")
                if p.returncode != 0 or got != want:
                    fails += 1
                    print(f"MISMATCH {arch} {tname} {conv}: rc={p.returncode} {p.stderr.decode()[:300]}")
                    print(f"  jinja2: {want!r}"[:1500])
                    print(f"  smelt:  {got!r}"[:1500])
    print(f"{n - fails}/{n} template renderings through model files identical to jinja2")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

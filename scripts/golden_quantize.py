#!/usr/bin/env python3
"""Write the llama.cpp oracle goldens of `smelt quantize` / `smelt imatrix`
(tests/quantize/golden/). Needs llama.cpp's tools (bench/build_peer.sh builds
llama-quantize and llama-imatrix into ~/.cache/smelt/peer/bin) and, for the
round-trip goldens, the oracle venv with llama-cpp-python (see README).

  ref_sha256.txt      "TYPE sha256" of llama-quantize's output for SmolLM2:
                      F32 (from the Q4_1 download, --allow-requantize) and every
                      type smelt writes (from that F32 file). `smelt quantize --ref`
                      must reproduce each file byte for byte.
  imatrix.txt         llama-imatrix (-fa off) on CALIB_CHUNKS chunks of
                      tests/data/calib.txt: per entry "name count sum v0..v7"
                      (sum of in_sum2, its first 8 values).
  rt_<name>/          round trips: a file written by smelt's own quantizers
                      (ROUNDTRIPS: type and whether smelt's imatrix is used);
                      sha256.txt pins the exact file, tf.txt / tf_full.bin are
                      llama.cpp's teacher-forced logits on it (format of
                      scripts/golden_model.py), so the test proves the file loads
                      in llama.cpp and that both give the same top-1 tokens.

usage: golden_quantize.py [ref] [imatrix] [roundtrip]   (default: all three)
env:   SMELT (default build/smelt), SMELT_PEER_BIN (default ~/.cache/smelt/peer/bin)
"""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

GOLDEN = os.path.join(ROOT, "tests", "quantize", "golden")
MODEL = os.path.join(os.path.expanduser(os.environ.get("SMELT_MODEL_DIR", "~/.cache/smelt/models")),
                     "SmolLM2-135M-Instruct.Q4_1.gguf")
CALIB = os.path.join(ROOT, "tests", "data", "calib.txt")
CALIB_CHUNKS = 2
TYPES = ["F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1",
         "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_NL", "IQ4_XS"]
# name -> (type, use smelt's imatrix)
# name -> (type, importance data), as tests/quantize/test_quantize.py
ROUNDTRIPS = {"q8_0_imatrix": ("Q8_0", "imatrix"), "q5_k_m_imatrix": ("Q5_K_M", "imatrix"), "q4_k_m": ("Q4_K_M", None),
              "q6_k_calib": ("Q6_K", "calib")}

SMELT = os.environ.get("SMELT", os.path.join(ROOT, "build", "smelt"))
PEER = os.path.expanduser(os.environ.get("SMELT_PEER_BIN", "~/.cache/smelt/peer/bin"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# as tests/quantize/tests.cmake runs the round trips: smelt's AVX2 kernels (self-calibration samples
# from the logits) and OpenBLAS's AVX2 kernels (the error feedback's second moments and updates)
ENV = dict(os.environ, SMELT_ISA="avx2", OPENBLAS_CORETYPE="Haswell")


def run(*args):
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=ENV)


def gen_ref(tmp):
    f32 = os.path.join(tmp, "f32.gguf")
    run(os.path.join(PEER, "llama-quantize"), "--allow-requantize", MODEL, f32, "F32", "2")
    lines = ["F32 " + sha256(f32)]
    for t in TYPES:
        out = os.path.join(tmp, t + ".gguf")
        run(os.path.join(PEER, "llama-quantize"), f32, out, t, "2")
        lines.append(t + " " + sha256(out))
        os.unlink(out)
    with open(os.path.join(GOLDEN, "ref_sha256.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def gen_imatrix(tmp):
    import gguf
    import numpy as np
    out = os.path.join(tmp, "llama-imatrix.gguf")
    run(os.path.join(PEER, "llama-imatrix"), "-m", MODEL, "-f", CALIB, "-o", out, "-c", "512", "--chunks",
        str(CALIB_CHUNKS), "-t", "2", "--no-ppl", "-fa", "off")
    r = gguf.GGUFReader(out)
    t = {x.name: np.array(x.data, dtype=np.float64).ravel() for x in r.tensors}
    with open(os.path.join(GOLDEN, "imatrix.txt"), "w") as f:
        f.write("# llama-imatrix -c 512 --chunks %d -fa off on tests/data/calib.txt, SmolLM2-135M Q4_1\n" % CALIB_CHUNKS)
        for name in sorted(k[: -len(".in_sum2")] for k in t if k.endswith(".in_sum2")):
            s = t[name + ".in_sum2"]
            c = t[name + ".counts"]
            f.write("%s %d %.9g %s\n" % (name, int(c[0]), s.sum(), " ".join("%.9g" % v for v in s[:8])))


def gen_roundtrip(tmp):
    from golden_model import load_text_tokens, write_tf
    from llama_cpp import Llama
    f32 = os.path.join(tmp, "smelt-f32.gguf")
    run(SMELT, "quantize", "-q", MODEL, f32, "F32")
    im = os.path.join(tmp, "smelt-imatrix.gguf")
    run(SMELT, "imatrix", "-m", MODEL, "-f", CALIB, "-o", im, "-c", "512", "--chunks", str(CALIB_CHUNKS))
    for name, (typ, mode) in ROUNDTRIPS.items():
        out = os.path.join(tmp, name + ".gguf")
        extra = {"imatrix": ["--imatrix", im], None: [],
                 "calib": ["--calib", CALIB, "-c", "512", "--calib-chunks", str(CALIB_CHUNKS)]}[mode]
        run(SMELT, "quantize", "-q", *extra, f32, out, typ)
        d = os.path.join(GOLDEN, "rt_" + name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "sha256.txt"), "w") as f:
            f.write(sha256(out) + "\n")
        llm = Llama(model_path=out, n_ctx=2048, n_batch=512, n_threads=2, logits_all=True, verbose=False,
                    flash_attn=False)
        toks, _ = load_text_tokens(llm)
        write_tf(llm, toks, d)
        del llm
        os.unlink(out)


def main():
    what = sys.argv[1:] or ["ref", "imatrix", "roundtrip"]
    os.makedirs(GOLDEN, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smelt_golden_quant_") as tmp:
        if "ref" in what:
            gen_ref(tmp)
        if "imatrix" in what:
            gen_imatrix(tmp)
        if "roundtrip" in what:
            gen_roundtrip(tmp)


if __name__ == "__main__":
    main()

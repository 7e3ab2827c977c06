#!/usr/bin/env python3
"""Regenerate the golden files of tests/quant/golden/ from the `gguf` python
package, whose quantizers replicate ggml's reference ones (ggml-quants.c
quantize_row_*_ref / dequantize_row_*), and, for the types gguf-py cannot
quantize (K-quants, Q8_K, IQ4_NL, IQ4_XS), from llama.cpp's own reference
quantizers called through ctypes in libggml-base.so (the llama-cpp-python
oracle build; --ggml-lib). Where both exist (Q5_0, Q5_1, Q8_0, Q4_0, Q4_1)
they are checked to agree.

  python tests/quant/make_golden.py [--model PATH] [--gemma PATH] [--ggml-lib PATH]

Writes:
  golden/input_f32.bin         33 blocks of 32 float32 (fixed seed + crafted blocks)
  golden/input_k_f32.bin       9 super-blocks of 256 float32 (fixed seed + crafted blocks)
  golden/<type>.bin            quantize(input, type) bytes (input_k for 256-element types)
  golden/<type>_deq.bin        gguf.quants.dequantize(those bytes) as float32
  golden/model_tensors.txt     for every tensor of the SmolLM2 model: name, type id, n_elements,
                               crc32 of the dequantized float32 bytes, sum of |values|
  golden/model_tensors_gemma.txt   the same for gemma-3-270m-q4_k_m (Q5_0, Q8_0, Q4_K, Q6_K, F32)
"""
import ctypes
import argparse
import os
import zlib

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden")


def make_input() -> np.ndarray:
    rng = np.random.default_rng(20240611)
    x = (rng.standard_normal(33 * 32) * 0.37).astype(np.float32)
    x[::97] *= 8
    x[32:64] = 0                                   # zero block
    x[64 + 6] = -20 * 0.37                         # largest magnitude negative
    x[128:160] = 0.75                              # constant block
    # a block with d = 1 exactly for Q8_0 (amax 127) and halves: roundf ties
    b = np.arange(-15.5, 16.5, 1.0, dtype=np.float32)
    b[0] = 127.0
    x[160:192] = b
    # Q4_0 block with max = -8 (d = 1): x + 8.5 lands on integers + .5
    c = np.linspace(-8, 7.5, 32, dtype=np.float32)
    c[5] = -8.0
    x[192:224] = c
    x[224:256] = rng.uniform(1e-6, 2e-6, 32).astype(np.float32)  # tiny scales (fp16 subnormal d)
    return x.astype(np.float32)


def make_input_k() -> np.ndarray:
    rng = np.random.default_rng(20240612)
    x = (rng.standard_normal(9 * 256) * 0.37).astype(np.float32)
    x[::101] *= 8                                  # outliers
    x[256:512] = 0                                 # zero super-block
    x[512 + 16:512 + 48] = 0                       # zero sub-blocks inside a block
    x[512 + 100] = -20 * 0.37                      # largest magnitude negative
    x[768:1024] = np.abs(x[768:1024]) + 0.1        # all positive (min > 0)
    x[1024:1280] = -np.abs(x[1024:1280]) - 0.05    # all negative
    x[1280:1536] = 0.75                            # constant
    x[1536:1792] = rng.uniform(1e-6, 2e-6, 256).astype(np.float32)  # tiny (subnormal fp16 scales)
    x[1792:2048] = np.round(rng.standard_normal(256) * 4)  # integers: many exact ties
    return x.astype(np.float32)


# types that need 256-element super-blocks, and which gguf-py can quantize
K_TYPES = {"q2_k": T.Q2_K, "q3_k": T.Q3_K, "q4_k": T.Q4_K, "q5_k": T.Q5_K, "q6_k": T.Q6_K,
           "iq4_xs": T.IQ4_XS, "q8_k": T.Q8_K}
SMALL_TYPES = {"q8_0": T.Q8_0, "q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1,
               "iq4_nl": T.IQ4_NL}
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18, "q4_1": 20, "q5_0": 22, "q5_1": 24, "iq4_nl": 18,
               "q2_k": 84, "q3_k": 110, "q4_k": 144, "q5_k": 176, "q6_k": 210, "iq4_xs": 136, "q8_k": 292}


def ggml_quantize(lib, name, x):
    f = getattr(lib, "quantize_row_%s_ref" % name.replace("_k", "_K"))
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    f.restype = None
    blck = 256 if name in K_TYPES else 32
    out = np.zeros(x.size // blck * BLOCK_BYTES[name], dtype=np.uint8)
    f(x.ctypes.data, out.ctypes.data, x.size)
    return out


def q8_k_dequantize(q):
    b = q.reshape(-1, 292)
    d = b[:, :4].copy().view(np.float32)
    qs = b[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * qs).reshape(-1)


def write_model(path, out_name):
    r = gguf.GGUFReader(path)
    lines = []
    for t in r.tensors:
        v = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        lines.append("%s %d %d %08x %.17g\n" % (t.name, int(t.tensor_type), v.size,
                                                zlib.crc32(v.tobytes()) & 0xffffffff,
                                                float(np.abs(v.astype(np.float64)).sum())))
    with open(os.path.join(OUT, out_name), "w") as f:
        f.write("# %s: name type n_elements crc32(dequantized f32 LE) sum|x|\n" % os.path.basename(path))
        f.writelines(lines)
    print("wrote", out_name, len(lines), "tensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "smelt/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--gemma", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "smelt/models/gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--ggml-lib",
                    default="/tmp/oracle-venv/lib/python3.11/site-packages/llama_cpp/lib/libggml-base.so")
    args = ap.parse_args()
    lib = ctypes.CDLL(args.ggml_lib)
    os.makedirs(OUT, exist_ok=True)

    x = make_input()
    x.tofile(os.path.join(OUT, "input_f32.bin"))
    xk = make_input_k()
    xk.tofile(os.path.join(OUT, "input_k_f32.bin"))
    for name, qt in list(SMALL_TYPES.items()) + list(K_TYPES.items()):
        inp = xk if name in K_TYPES else x
        q = ggml_quantize(lib, name, inp)
        try:
            qp = quantize(inp, qt).reshape(-1)
        except NotImplementedError:
            qp = None
        if qp is not None:
            assert np.array_equal(qp, q), name + ": gguf-py and libggml quantizers disagree"
        q.tofile(os.path.join(OUT, name + ".bin"))
        deq = q8_k_dequantize(q) if qt == T.Q8_K else dequantize(q, qt).reshape(-1)
        deq.astype(np.float32).tofile(os.path.join(OUT, name + "_deq.bin"))
        print("%-7s %s" % (name, "gguf-py == libggml" if qp is not None else "libggml reference"))
    q = quantize(x, T.BF16)
    q.tofile(os.path.join(OUT, "bf16.bin"))
    dequantize(q, T.BF16).astype(np.float32).tofile(os.path.join(OUT, "bf16_deq.bin"))
    h = x.astype(np.float16)
    h.tofile(os.path.join(OUT, "f16.bin"))
    h.astype(np.float32).tofile(os.path.join(OUT, "f16_deq.bin"))

    write_model(args.model, "model_tensors.txt")
    write_model(args.gemma, "model_tensors_gemma.txt")


if __name__ == "__main__":
    main()

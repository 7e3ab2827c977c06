#!/usr/bin/env python3
"""Regenerate the golden files of tests/quant/golden/ from the `gguf` python
package, whose quantizers replicate ggml's reference ones (ggml-quants.c
quantize_row_*_ref / dequantize_row_*).

  python tests/quant/make_golden.py [--model PATH]

Writes:
  golden/input_f32.bin         33 blocks of 32 float32 (fixed seed + crafted blocks)
  golden/<type>.bin            gguf.quants.quantize(input, type) bytes   (Q8_0 Q4_0 Q4_1 BF16 F16)
  golden/<type>_deq.bin        gguf.quants.dequantize(those bytes) as float32
  golden/model_tensors.txt     for every tensor of the model: name, type id, n_elements,
                               crc32 of the dequantized float32 bytes, sum of |values|
"""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "smelt/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)

    x = make_input()
    x.tofile(os.path.join(OUT, "input_f32.bin"))
    for name, qt in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("bf16", T.BF16)]:
        q = quantize(x, qt)
        q.tofile(os.path.join(OUT, name + ".bin"))
        dequantize(q, qt).astype(np.float32).tofile(os.path.join(OUT, name + "_deq.bin"))
    h = x.astype(np.float16)
    h.tofile(os.path.join(OUT, "f16.bin"))
    h.astype(np.float32).tofile(os.path.join(OUT, "f16_deq.bin"))

    r = gguf.GGUFReader(args.model)
    lines = []
    for t in r.tensors:
        v = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        lines.append("%s %d %d %08x %.17g\n" % (t.name, int(t.tensor_type), v.size,
                                                zlib.crc32(v.tobytes()) & 0xffffffff,
                                                float(np.abs(v.astype(np.float64)).sum())))
    with open(os.path.join(OUT, "model_tensors.txt"), "w") as f:
        f.write("# %s: name type n_elements crc32(dequantized f32 LE) sum|x|\n" % os.path.basename(args.model))
        f.writelines(lines)
    print("wrote", OUT, len(lines), "tensors")


if __name__ == "__main__":
    main()

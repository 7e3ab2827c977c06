#!/usr/bin/env python3
"""Write golden/vecdot_ggml.bin: weights quantized by llama.cpp's ggml_quantize_chunk,
activations by its run-time quantizers, and the results of its AVX2 vec_dot kernels
(libggml-cpu of the oracle llama-cpp-python build), for the types whose smelt AVX2
vec_dot reproduces ggml's bit for bit. Run with the oracle venv (/tmp/oracle-venv).

Record per type (little-endian): u32 type, u32 K, u32 rows, u32 weight row bytes,
u32 activation row bytes; rows weight rows, rows activation rows, rows float32 results
(result r = vec_dot(weight row r, activation row r)).
"""
import ctypes
import glob
import os
import struct

import numpy as np
import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
base = ctypes.CDLL(glob.glob(os.path.join(LIB, "libggml-base.so"))[0])
cpu = ctypes.CDLL(glob.glob(os.path.join(LIB, "libggml-cpu.so"))[0])
cpu.ggml_cpu_init()
base.ggml_row_size.restype = ctypes.c_size_t
base.ggml_quantize_chunk.restype = ctypes.c_size_t

# ggml type id: (vec_dot kernel, activation type, activation quantizer)
TYPES = {
    2: ("q4_0_q8_0", 8, "quantize_row_q8_0"),
    3: ("q4_1_q8_1", 9, "quantize_row_q8_1"),
    6: ("q5_0_q8_0", 8, "quantize_row_q8_0"),
    7: ("q5_1_q8_1", 9, "quantize_row_q8_1"),
    8: ("q8_0_q8_0", 8, "quantize_row_q8_0"),
    12: ("q4_K_q8_K", 15, "quantize_row_q8_K"),
    13: ("q5_K_q8_K", 15, "quantize_row_q8_K"),
    14: ("q6_K_q8_K", 15, "quantize_row_q8_K"),
    23: ("iq4_xs_q8_K", 15, "quantize_row_q8_K"),
}
K, ROWS = 512, 16


def main():
    rng = np.random.default_rng(1234)
    out = bytearray()
    for t, (kern, at, aq) in TYPES.items():
        wrs, xrs = base.ggml_row_size(t, K), base.ggml_row_size(at, K)
        scale = np.repeat(np.array([0.01 * 2 ** (r % 7) for r in range(ROWS)], np.float32), K).reshape(ROWS, K)
        wf = (rng.standard_normal((ROWS, K)).astype(np.float32) * scale)
        wf[:, ::13] *= 4.0
        xf = rng.standard_normal((ROWS, K)).astype(np.float32) * np.float32(0.7)
        xf[:, 3::29] *= 10.0
        w = np.zeros(ROWS * wrs, np.uint8)
        x = np.zeros(ROWS * xrs, np.uint8)
        base.ggml_quantize_init(t)
        n = base.ggml_quantize_chunk(t, wf.ctypes.data_as(ctypes.c_void_p), w.ctypes.data_as(ctypes.c_void_p), 0, ROWS, K, None)
        assert n == ROWS * wrs, (t, n)
        for r in range(ROWS):
            getattr(cpu, aq)(ctypes.c_void_p(xf.ctypes.data + r * K * 4), ctypes.c_void_p(x.ctypes.data + r * xrs), ctypes.c_int64(K))
        res = np.zeros(ROWS, np.float32)
        f = getattr(cpu, "ggml_vec_dot_" + kern)
        s = ctypes.c_float()
        for r in range(ROWS):
            f(ctypes.c_int(K), ctypes.byref(s), ctypes.c_size_t(0), ctypes.c_void_p(w.ctypes.data + r * wrs), ctypes.c_size_t(0),
              ctypes.c_void_p(x.ctypes.data + r * xrs), ctypes.c_size_t(0), ctypes.c_int(1))
            res[r] = s.value
        out += struct.pack("<5I", t, K, ROWS, wrs, xrs) + w.tobytes() + x.tobytes() + res.astype("<f4").tobytes()
    with open(os.path.join(HERE, "golden", "vecdot_ggml.bin"), "wb") as fo:
        fo.write(out)
    print("wrote", len(out), "bytes")


if __name__ == "__main__":
    main()

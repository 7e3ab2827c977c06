"""Dump rows of F32 tensors (and their imatrix columns) for imat_speed.c.

usage: dump_rows.py MODEL_F32.gguf IMATRIX.gguf OUT.bin NAME:MAXROWS ...
Format per segment: int64 nrows, int64 n_per_row, nrows*n floats,
n floats of importances (in_sum2 / counts).
"""
import sys
import gguf
import numpy as np

model = gguf.GGUFReader(sys.argv[1])
imat = gguf.GGUFReader(sys.argv[2])
tens = {t.name: t for t in model.tensors}
itens = {t.name: t for t in imat.tensors}
with open(sys.argv[3], "wb") as f:
    for spec in sys.argv[4:]:
        name, maxrows = spec.rsplit(":", 1)
        t = tens[name]
        a = np.asarray(t.data, dtype=np.float32).reshape(-1, int(t.shape[0]))[: int(maxrows)]
        s2 = np.asarray(itens[name + ".in_sum2"].data, dtype=np.float32).reshape(-1)
        cnt = float(np.asarray(itens[name + ".counts"].data).reshape(-1)[0])
        im = (s2 / cnt).astype(np.float32)
        assert im.size == a.shape[1]
        f.write(np.array([a.shape[0], a.shape[1]], dtype=np.int64).tobytes())
        f.write(np.ascontiguousarray(a).tobytes())
        f.write(im.tobytes())
        print(name, a.shape)

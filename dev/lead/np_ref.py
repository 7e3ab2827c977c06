# dev: float64 numpy forward of SmolLM2 for one token at pos 0 (attention = V), to see which
# implementation (smelt / llama.cpp) is closer to exact math.
import sys, numpy as np, gguf
from gguf.quants import dequantize
r = gguf.GGUFReader(sys.argv[1])
T = {t.name: t for t in r.tensors}
def W(n):
    t = T[n]; a = dequantize(t.data, t.tensor_type)
    return np.asarray(a, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)]) if a.ndim==1 else np.asarray(a, dtype=np.float64)
tok = int(sys.argv[2])
E = W("token_embd.weight"); x = E[tok].copy()
eps = 1e-5
def rms(v, w): return v / np.sqrt(np.mean(v*v) + eps) * w
for il in range(30):
    h = rms(x, W(f"blk.{il}.attn_norm.weight"))
    v = W(f"blk.{il}.attn_v.weight") @ h       # [192]
    att = np.concatenate([v[(hh//3)*64:(hh//3+1)*64] for hh in range(9)])
    x = x + W(f"blk.{il}.attn_output.weight") @ att
    h = rms(x, W(f"blk.{il}.ffn_norm.weight"))
    g = W(f"blk.{il}.ffn_gate.weight") @ h; u = W(f"blk.{il}.ffn_up.weight") @ h
    x = x + W(f"blk.{il}.ffn_down.weight") @ (g/(1+np.exp(-g))*u)
x = rms(x, W("output_norm.weight"))
logits = E @ x
ref = np.fromfile(sys.argv[3], dtype="<f4")[:len(logits)]
print("exact vs llama.cpp: max %.5f mean %.5f" % (np.abs(logits-ref).max(), np.abs(logits-ref).mean()))
np.save("/tmp/exact_row0.npy", logits)
print("l[0] exact", logits[0])

import pickle, numpy as np, os
L = pickle.load(open("/tmp/llama_tensors.pkl", "rb"))
for il in range(30):
    for nm in ["Qcur", "Kcur", "Vcur", "kqv_out", "attn_out", "ffn_inp", "ffn_norm", "ffn_gate", "ffn_up"]:
        f = f"/tmp/sd/{nm}-{il}.bin"
        key = f"{nm}-{il}"
        if key not in L or not os.path.exists(f): print(key, "missing"); continue
        a = L[key].reshape(2, -1) if L[key].size == np.fromfile(f, np.float32).size else None
        b = np.fromfile(f, np.float32).reshape(2, -1)
        if a is None: print(key, "shape", L[key].shape, b.shape); continue
        if np.abs(a[1]-b[1]).max() > 1e-5: print(key, "row0 max", np.abs(a[0] - b[0]).max(), "row1 max", np.abs(a[1] - b[1]).max(), "scale", np.abs(a).max())

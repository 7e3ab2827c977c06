import ctypes, numpy as np, sys, pickle
import llama_cpp
from llama_cpp import Llama
CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_bool, ctypes.c_void_p)
store = {}
def cb(t, ask, ud):
    name = ctypes.string_at(t + 256).decode(errors="replace")
    typ = ctypes.c_int.from_address(t).value
    if ask:
        return True
    if typ != 0: return True
    ne = [ctypes.c_int64.from_address(t + 16 + 8 * i).value for i in range(4)]
    nb = [ctypes.c_size_t.from_address(t + 48 + 8 * i).value for i in range(4)]
    data = ctypes.c_void_p.from_address(t + 248).value
    if not data: return True
    n = ne[0] * ne[1] * ne[2] * ne[3]
    if nb[0] == 4 and nb[1] == 4 * ne[0]:
        arr = np.ctypeslib.as_array((ctypes.c_float * n).from_address(data)).copy().reshape(ne[3], ne[2], ne[1], ne[0])
        store[name] = arr
    return True
cbf = CB(cb)
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_batch=512, n_threads=2, logits_all=True, verbose=False, flash_attn=False)
# rebuild context with the callback
p = llama_cpp.llama_context_default_params()
p.n_ctx = 512; p.n_batch = 512; p.n_threads = 2; p.n_threads_batch = 2
p.flash_attn_type = 0
p.cb_eval = ctypes.cast(cbf, ctypes.c_void_p).value if False else cbf
ctx = llama_cpp.llama_init_from_model(llm._model.model, p)
toks = [int(sys.argv[2]), int(sys.argv[3])]
batch = llama_cpp.llama_batch_init(2, 0, 1)
for i, t in enumerate(toks):
    batch.token[i] = t; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = 1
batch.n_tokens = 2
print("decode", llama_cpp.llama_decode(ctx, batch))
pickle.dump(store, open("/tmp/llama_tensors.pkl", "wb"))
print(sorted(k for k in store if k.endswith("-0")))
V = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(llm._model.model))
ref = np.fromfile("" + sys.argv[4] + "", "<f4").reshape(-1, V)
for i in range(2):
    lp = llama_cpp.llama_get_logits_ith(ctx, i)
    l = np.ctypeslib.as_array(lp, shape=(V,)).copy()
    print("llama 2-token row", i, "vs llama 512-batch row", i, "max", np.abs(l - ref[i]).max(), "mean", np.abs(l - ref[i]).mean())
    np.save(f"/tmp/llama2_row{i}.npy", l)

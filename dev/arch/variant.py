# Diagnostic: write one model of scripts/golden_arch.py with overridden config
# values, and its goldens, into OUTDIR.
# usage: variant.py NAME OUTDIR key=value ...   (values are Python literals)
import ast, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import golden_arch as ga
name, out = sys.argv[1], sys.argv[2]
cfg = dict([c for c in ga.MODELS if c["name"] == name][0])
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    cfg[k] = ast.literal_eval(v) if not v.startswith("QT.") else getattr(ga.QT, v[3:])
os.makedirs(out, exist_ok=True)
ga.write_model(os.path.join(out, "model.gguf"), cfg, ga.load_tokenizer(cfg["n_vocab"]))
ga.goldens(cfg, out)

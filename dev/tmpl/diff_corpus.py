# Differential check of a directory of templates (e.g. a libFuzzer corpus)
# against jinja2; prints mismatches. Usage: diff_corpus.py TMPL_RENDER DIR [N]
import os, random, sys, signal
src = open(os.path.join(os.path.dirname(__file__), "../../tests/tmpl/test_oracle.py")).read()
ns = {"__file__": os.path.join(os.path.dirname(__file__), "../../tests/tmpl/test_oracle.py")}
exec(compile(src.replace('if __name__ == "__main__":\n    sys.exit(main())', ''), "o", "exec"), ns)
exe, d = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
files = sorted(os.listdir(d)); random.seed(1); random.shuffle(files)
ctx = dict(ns["X"]); ctx["messages"] = ns["CONVERSATIONS"]["multi_turn"]; ctx["add_generation_prompt"] = True; ctx["bos_token"] = "<s>"
class TO(Exception): pass
def h(*a): raise TO()
signal.signal(signal.SIGALRM, h)
for f in files[:n]:
    try: s = open(os.path.join(d, f), "rb").read().decode("utf-8")
    except (UnicodeDecodeError, FileNotFoundError): continue
    if "\x00" in s: continue
    signal.alarm(5)
    try: ns["compare"](f, exe, s, ctx)
    except TO: pass
    finally: signal.alarm(0)
for x in ns["failures"]: print(x[:1500]); print()
print(len(ns["failures"]), "mismatches of", ns["n_cases"])

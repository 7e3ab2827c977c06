#!/usr/bin/env python3
"""Chart of the speed comparison: pp and tg tokens/s of smelt and llama.cpp per model (median bar,
whiskers from the slowest to the fastest round, the ratio of the medians above each pair) and the
peak RSS of each engine.

    bench/plot_speed.py --json RESULTS.json [-o docs/bench_speed.png]
    bench/plot_speed.py --from-doc docs/BENCHMARKS.md [-o docs/bench_speed.png]

RESULTS.json is what `bench/run_bench.py --json RESULTS.json` writes. --from-doc reads the same
numbers back from the section run_bench.py generated in docs/BENCHMARKS.md (per-round t/s from its
"per-round" lists, peak RSS from its "Peak RSS" line), so the chart can be redrawn for the
published numbers without rerunning the benchmark.

Needs matplotlib (.venv/bin/pip install -r bench/requirements.txt).
"""
import argparse
import json
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- BEGIN run_bench"
END = "<!-- END run_bench -->"
ENGINES = (("smelt", "smelt", "#1f77b4"), ("peer", "llama.cpp", "#d62728"))


def from_json(path):
    with open(path) as f:
        ctx = json.load(f)
    models = []
    for m in ctx["models"]:
        d = {"name": m["name"]}
        for eng, _, _ in ENGINES:
            e = m[eng]
            d[eng] = {t: (e[t]["values"] if e.get(t) else []) for t in ("pp", "tg")}
            d[eng]["rss_mib"] = max(e["rss"]) / 1024 if e.get("rss") else None
        models.append(d)
    return {"models": models, "p": ctx["p"], "n": ctx["n"], "threads": ctx["threads"], "rounds": ctx["rounds"],
            "commit": ctx.get("commit", "?"), "date": ctx.get("date", ""), "cpu": ctx.get("cpu_model", "")}


def from_doc(path):
    text = open(path).read()
    if BEGIN not in text or END not in text:
        sys.exit(f"plot_speed: no run_bench section in {path}")
    sec = text.split(BEGIN, 1)[1].split(END, 1)[0]
    meta = {
        "commit": (re.search(r"at commit `([^`]+)`", sec) or [None, "?"])[1],
        "date": (re.search(r"Generated (.+?) by", sec) or [None, ""])[1],
        "cpu": (re.search(r"^- CPU: (.+?) \(", sec, re.M) or [None, ""])[1],
    }
    m = re.search(r"Threads: (\d+); rounds: (\d+) .*? one pp(\d+) and one tg(\d+)", sec)
    if not m:
        sys.exit(f"plot_speed: cannot find the threads/rounds line in {path}")
    meta.update(threads=int(m[1]), rounds=int(m[2]), p=int(m[3]), n=int(m[4]))
    models = []
    for block in re.split(r"^### ", sec, flags=re.M)[1:]:
        name = block.split("\n", 1)[0].strip()
        if name.startswith("Memory read bandwidth") or name == "Commands":
            continue
        d = {"name": name, "smelt": {}, "peer": {}}
        for eng, label in (("smelt", "smelt"), ("peer", "llama.cpp")):
            for t in ("pp", "tg"):
                mm = re.search(rf"^- {re.escape(label)} {t}: ([0-9., ]+)$", block, re.M)
                d[eng][t] = [float(x) for x in mm[1].split(",")] if mm else []
        mm = re.search(r"Peak RSS \(max over rounds\): smelt ([0-9.]+) MiB, llama\.cpp ([0-9.]+) MiB", block)
        d["smelt"]["rss_mib"] = float(mm[1]) if mm else None
        d["peer"]["rss_mib"] = float(mm[2]) if mm else None
        models.append(d)
    if not models:
        sys.exit(f"plot_speed: no model results in the run_bench section of {path}")
    meta["models"] = models
    return meta


def plot(data, out):
    try:
        import matplotlib
    except ImportError:
        sys.exit("plot_speed: matplotlib is missing: .venv/bin/pip install -r bench/requirements.txt")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = data["models"]
    tests = (("pp", f"pp{data['p']}: prompt processing, tokens/s"), ("tg", f"tg{data['n']}: generation, tokens/s"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), dpi=110, gridspec_kw={"width_ratios": [1, 1, 0.8]})
    w = 0.38
    for ax, (t, title) in zip(axes, tests):
        top = 0.0
        for i, m in enumerate(models):
            meds = {}
            for j, (eng, label, colour) in enumerate(ENGINES):
                v = m[eng].get(t) or []
                if not v:
                    continue
                med = statistics.median(v)
                meds[eng] = med
                x = i + (j - 0.5) * w
                ax.bar(x, med, w, color=colour, alpha=0.85, label=label if i == 0 else None)
                ax.errorbar(x, med, yerr=[[med - min(v)], [max(v) - med]], color="black", capsize=3, lw=1)
                top = max(top, max(v))
            if len(meds) == 2:
                ax.text(i, max(max(m["smelt"][t]), max(m["peer"][t])) * 1.03,
                        f"{meds['smelt'] / meds['peer']:.2f}x", ha="center", va="bottom", fontsize=9,
                        fontweight="bold")
        ax.set_ylim(0, top * 1.3 if top else 1)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([m["name"] for m in models], fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax = axes[2]
    for i, m in enumerate(models):
        for j, (eng, label, colour) in enumerate(ENGINES):
            r = m[eng].get("rss_mib")
            if r is not None:
                ax.bar(i + (j - 0.5) * w, r, w, color=colour, alpha=0.85, label=label if i == 0 else None)
                ax.text(i + (j - 0.5) * w, r, f"{r:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels([m["name"] for m in models], fontsize=8, rotation=12)
    ax.set_title("peak RSS, MiB (max over rounds)", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"smelt vs llama.cpp (llama-bench), {data['threads']} threads, {data['rounds']} interleaved rounds: "
                 f"median bar, whiskers = slowest..fastest round, label = ratio of medians", fontsize=10)
    fig.text(0.99, 0.01, f"{data.get('cpu', '')}; bench/run_bench.py at {data.get('commit', '?')}, {data.get('date', '')}",
             ha="right", va="bottom", fontsize=7, color="#888888")
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    fig.savefig(out)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--json", help="results written by bench/run_bench.py --json")
    src.add_argument("--from-doc", help="read the numbers from run_bench.py's section of this markdown file")
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "docs", "bench_speed.png"))
    a = ap.parse_args()
    data = from_json(a.json) if a.json else from_doc(a.from_doc)
    plot(data, a.out)
    print(f"plot_speed: wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

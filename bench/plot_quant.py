#!/usr/bin/env python3
"""Chart of bench/quant_compare.py's results: mean KL divergence against the F32 model (log scale)
versus bits per weight, one line per tool and imatrix setting, each point labelled with its type.

    bench/plot_quant.py RESULTS.json OUT.png

Needs matplotlib (.venv/bin/pip install -r bench/requirements.txt). quant_compare.py --plot calls
plot() directly.
"""
import json
import sys

STYLE = {
    # (tool, imatrix setting): colour, marker, line style, label
    ("smelt", "none"): ("#1f77b4", "o", "-", "smelt quantize --no-self-calibration"),
    ("smelt", "self"): ("#2ca02c", "D", "-.", "smelt quantize (self-calibrated + error feedback, default)"),
    ("smelt", "own"): ("#1f77b4", "s", "--", "smelt quantize + smelt imatrix"),
    ("smelt", "calib"): ("#9467bd", "P", "--", "smelt quantize --calib (error feedback)"),
    ("llama.cpp", "none"): ("#d62728", "o", "-", "llama-quantize"),
    ("llama.cpp", "own"): ("#d62728", "s", "--", "llama-quantize + llama-imatrix"),
    ("smelt", "cross"): ("#1f77b4", "^", ":", "smelt quantize + llama-imatrix"),
    ("llama.cpp", "cross"): ("#d62728", "v", ":", "llama-quantize + smelt imatrix"),
}


def plot(res, out):
    try:
        import matplotlib
    except ImportError:
        sys.exit("plot_quant: matplotlib is missing: .venv/bin/pip install -r bench/requirements.txt")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    labelled = set()
    for (tool, setting), (colour, marker, ls, label) in STYLE.items():
        rows = sorted((r for r in res["rows"] if r["tool"] == tool and r["setting"] == setting),
                      key=lambda r: r["stats"]["bpw"])
        if not rows:
            continue
        x = [r["stats"]["bpw"] for r in rows]
        y = [r["kld"]["kld"] for r in rows]
        # smelt hollow, llama.cpp filled, so coinciding points stay visible
        ax.plot(x, y, linestyle=ls, color=colour, marker=marker, markersize=8 if tool == "smelt" else 5,
                markerfacecolor="none" if tool == "smelt" else colour, label=label, alpha=0.9)
        for r in rows:
            if r["type"] not in labelled:
                ax.annotate(r["type"], (r["stats"]["bpw"], r["kld"]["kld"]), textcoords="offset points",
                            xytext=(6, 4), fontsize=8, color="#444444")
                labelled.add(r["type"])
    ax.set_yscale("log")
    ax.set_xlabel("bits per weight (all tensors of the file)")
    ax.set_ylabel("mean KL divergence vs F32 (log scale)")
    src = res.get("source", "").rsplit("/", 1)[-1]
    ax.set_title(f"Quantizers: smelt vs llama.cpp, {src} via F32\n"
                 f"eval {res.get('eval_name', '')}, {res.get('eval_positions', '?')} positions; "
                 f"imatrix from {res.get('calib_name', '')}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.99, 0.01, f"bench/quant_compare.py at {res.get('commit', '?')}, {res.get('date', '')}",
             ha="right", va="bottom", fontsize=6, color="#888888")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench/plot_quant.py RESULTS.json OUT.png")
    with open(sys.argv[1]) as f:
        plot(json.load(f), sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())

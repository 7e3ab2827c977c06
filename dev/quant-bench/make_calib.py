#!/usr/bin/env python3
"""Regenerate tests/data/calib.txt: the calibration text for `smelt imatrix` / `llama-imatrix` in
bench/quant_compare.py.

Source: the reference-manual topics bundled with CPython 3.11.7 in Lib/pydoc_data/topics.py
(plain-text renderings of the Python documentation used by `help()`), English technical prose
with some code. It is deliberately unrelated to the evaluation text tests/data/gpl3.txt.
Licence: the Python documentation is under the PSF License Version 2 (its code examples are also
0BSD); the PSF licence allows redistribution of derivative works when its agreement and the PSF
copyright notice are retained, so both are copied from the interpreter's LICENSE.txt into the
file's header, with a summary of the changes (clause 3).

    dev/quant-bench/make_calib.py [--chars N] > tests/data/calib.txt

Topics are taken in sorted key order until N characters of body text (default 240000, about
58k SmolLM2 tokens). Needs exactly Python 3.11.7's pydoc_data so that the output is reproducible.
"""
import argparse
import os
import re
import sys
import sysconfig

import pydoc_data.topics as topics


def psf_license():
    path = os.path.join(sysconfig.get_paths()["stdlib"], "LICENSE.txt")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2\n-+\n.*?Agreement\.\n", text, re.S)
    if not m:
        sys.exit(f"make_calib: no PSF License Version 2 in {path}")
    return m.group(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=240000)
    a = ap.parse_args()
    ver = ".".join(map(str, sys.version_info[:3]))
    if ver != "3.11.7":
        print(f"make_calib: warning: Python {ver}, not 3.11.7; the text will differ from the shipped one",
              file=sys.stderr)
    body, n = [], 0
    for key in sorted(topics.topics):
        if n >= a.chars:
            break
        t = topics.topics[key].replace("\r\n", "\n").strip("\n") + "\n"
        body.append(t)
        n += len(t) + 1
    head = (
        f"Calibration text for importance matrices (smelt imatrix, llama-imatrix).\n"
        f"Excerpt of the Python {ver} reference documentation as bundled in CPython's\n"
        f"Lib/pydoc_data/topics.py: the first {len(body)} topics in sorted order, unmodified\n"
        f"except that the topics are joined with blank lines (made by\n"
        f"dev/quant-bench/make_calib.py in the smelt repository).\n"
        f"Copyright (c) 2001-2023 Python Software Foundation; All Rights Reserved.\n"
        f"Distributed under the PSF License Version 2, reproduced here:\n\n"
        + psf_license() + "\n" + "=" * 70 + "\n\n")
    sys.stdout.write(head + "\n".join(body))


if __name__ == "__main__":
    main()

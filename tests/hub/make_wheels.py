"""Build tiny fake wheels for the hub tests (no network).

usage: make_wheels.py OUTDIR

Each wheel carries a proper .dist-info so pip accepts it from --find-links.
Member contents are deterministic: byte i of a part with seed s is
(i * 31 + s) & 0xff; test_hub.c regenerates the same bytes to check them.
"""
import os
import sys
import zipfile

PARTS = [
    # package, version, member, seed, size
    ("smelt-test-one", "1.0.0", "smelt_test_one/data/model.gguf", 1, 300000),
    ("smelt-test-split-a", "1.0.0", "smelt_test_split_a/data/model.gguf.part00", 2, 70001),
    ("smelt-test-split-b", "1.0.0", "smelt_test_split_b/data/model.gguf.part01", 3, 5),
]


def content(seed, size):
    return bytes((i * 31 + seed) & 0xFF for i in range(size))


def make_wheel(outdir, package, version, member, data):
    dist = package.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    path = os.path.join(outdir, f"{dist}-{version}-py3-none-any.whl")
    files = {
        member: data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: smelt-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in files.items():
            z.writestr(name, blob)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for package, version, member, seed, size in PARTS:
        make_wheel(outdir, package, version, member, content(seed, size))


if __name__ == "__main__":
    main()

"""`smelt quantize` and `smelt imatrix` against llama.cpp (goldens from
scripts/golden_quantize.py), plus bad input. Run by ctest:

    python -m pytest tests/quantize/test_quantize.py --smelt build/smelt \
        --test-model build/tests/test_model --model-dir ~/.cache/smelt/models -k <group>

Groups: ref (byte identity with llama-quantize), imatrix (statistics equal to
llama-imatrix's), roundtrip (files written by smelt's own quantizers load in
llama.cpp with the same top-1 tokens), errors (clear messages, no crashes)."""
import hashlib
import os
import struct
import subprocess

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(HERE, "golden")
CALIB = os.path.join(ROOT, "tests", "data", "calib.txt")
SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"
CALIB_CHUNKS = 2  # as scripts/golden_quantize.py
# name -> (type, importance data: "imatrix" = smelt imatrix on calib.txt, "calib" = --calib calib.txt, None =
# the default self-calibration); self-calibration and --calib include error feedback
ROUNDTRIPS = {"q8_0_imatrix": ("Q8_0", "imatrix"), "q5_k_m_imatrix": ("Q5_K_M", "imatrix"), "q4_k_m": ("Q4_K_M", None),
              "q6_k_calib": ("Q6_K", "calib")}


def roundtrip_args(mode, imatrix):
    return {"imatrix": ["--imatrix", imatrix], None: [],
            "calib": ["--calib", CALIB, "-c", "512", "--calib-chunks", str(CALIB_CHUNKS)]}[mode]


def run(exe, *args, timeout=1800):
    p = subprocess.run([exe, *args], capture_output=True, timeout=timeout)
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}"
    return p


def ok(p):
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    return p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


@pytest.fixture(scope="session")
def model(model_dir):
    path = os.path.join(model_dir, SMOL)
    assert os.path.exists(path), f"{path} missing: run scripts/setup.sh (smelt pull smollm2-135m)"
    return path


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp("quant"))


@pytest.fixture(scope="session")
def f32(smelt, model, work):
    """SmolLM2 dequantized to F32 by smelt (the input of every comparison)."""
    out = os.path.join(work, "smol-f32.gguf")
    ok(run(smelt, "quantize", model, out, "F32"))
    return out


@pytest.fixture(scope="session")
def smelt_imatrix(smelt, model, work):
    out = os.path.join(work, "smelt-imatrix.gguf")
    ok(run(smelt, "imatrix", "-m", model, "-f", CALIB, "-o", out, "-c", "512", "--chunks", str(CALIB_CHUNKS)))
    return out


def read_golden_sha():
    with open(os.path.join(GOLDEN, "ref_sha256.txt")) as f:
        return dict(line.split() for line in f if line.strip())


# ------------------------------------------------------------------ ref --

def test_ref_f32_matches_llama_quantize(f32):
    assert sha256(f32) == read_golden_sha()["F32"], "smelt's F32 dequantization differs from llama-quantize's"


@pytest.mark.parametrize("typ", ["F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M",
                                 "Q4_K_S", "Q4_0", "Q4_1", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_NL", "IQ4_XS"])
def test_ref_matches_llama_quantize(smelt, f32, work, typ):
    """--ref: same type mix, tensor order, metadata and blocks as llama-quantize, byte for byte."""
    out = os.path.join(work, f"ref-{typ}.gguf")
    p = ok(run(smelt, "quantize", "--ref", f32, out, typ))
    assert b"bits/weight" in p.stdout
    try:
        assert sha256(out) == read_golden_sha()[typ], f"{typ}: differs from llama-quantize's file"
    finally:
        os.unlink(out)


# -------------------------------------------------------------- imatrix --

def test_imatrix_matches_llama_imatrix(smelt_imatrix):
    import gguf
    r = gguf.GGUFReader(smelt_imatrix)
    t = {x.name: np.array(x.data, dtype=np.float64).ravel() for x in r.tensors}
    fields = {f.name: f.contents() for f in r.fields.values()}
    assert fields["general.type"] == "imatrix"
    assert fields["imatrix.chunk_count"] == CALIB_CHUNKS and fields["imatrix.chunk_size"] == 512
    n = 0
    with open(os.path.join(GOLDEN, "imatrix.txt")) as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, count, total, *vals = line.split()
            s, c = t[name + ".in_sum2"], t[name + ".counts"]
            assert int(c[0]) == int(count), name
            # llama.cpp sums squares in float, smelt in double: agree to ~1e-5
            assert abs(s.sum() - float(total)) <= 1e-4 * abs(float(total)), name
            np.testing.assert_allclose(s[:8], np.array(vals, dtype=np.float64), rtol=1e-4, err_msg=name)
            n += 1
    assert n == 210 and len(t) == 2 * n  # 7 matmul weights x 30 blocks, no output by default


# ------------------------------------------------------------ roundtrip --

@pytest.mark.parametrize("name", sorted(ROUNDTRIPS))
def test_roundtrip_loads_in_llama_cpp(smelt, test_model, f32, smelt_imatrix, work, name):
    """smelt's own quantizers (not --ref): the exact file llama.cpp was run on
    (sha256) gives the same teacher-forced top-1 tokens in smelt."""
    typ, mode = ROUNDTRIPS[name]
    out = os.path.join(work, f"rt-{name}.gguf")
    ok(run(smelt, "quantize", *roundtrip_args(mode, smelt_imatrix), f32, out, typ))
    g = os.path.join(GOLDEN, "rt_" + name)
    with open(os.path.join(g, "sha256.txt")) as f:
        want = f.read().split()[0]
    assert sha256(out) == want, (f"{name}: smelt's quantizer output changed; regenerate the llama.cpp goldens with "
                                 f"scripts/golden_quantize.py roundtrip (oracle venv + llama.cpp tools)")
    p = run(test_model, "tf", out, g)
    print(p.stdout.decode())
    assert p.returncode == 0, p.stdout.decode()[-3000:] + p.stderr.decode()[-2000:]
    os.unlink(out)


# --------------------------------------------------------------- errors --

def write_imatrix(path, entries, general_type="imatrix"):
    """entries: {weight: (in_sum2 array [n_mat][n_in], counts array [n_mat]) or in_sum2 only}"""
    import gguf
    w = gguf.GGUFWriter(path, arch=None)
    if general_type is not None:
        w.add_string("general.type", general_type)
    for name, v in entries.items():
        sums, counts = v if isinstance(v, tuple) else (v, None)
        w.add_tensor(name + ".in_sum2", np.asarray(sums, dtype=np.float32))
        if counts is not None:
            w.add_tensor(name + ".counts", np.asarray(counts, dtype=np.float32).reshape(-1, 1))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def fails(p, *needles, code=1):
    err = p.stderr.decode(errors="replace")
    assert p.returncode == code, f"exit {p.returncode}: {err}"
    for n in needles:
        assert n in err, f"{n!r} not in: {err}"
    assert "error" in err


def test_errors_arguments(smelt, model, work):
    out = os.path.join(work, "e.gguf")
    fails(run(smelt, "quantize", model, out, "Q9_X"), "unknown type 'Q9_X'", code=2)
    fails(run(smelt, "quantize", model, out), "expected IN.gguf OUT.gguf TYPE", code=2)
    fails(run(smelt, "quantize", "--frob", model, out, "Q8_0"), "unknown option '--frob'", code=2)
    fails(run(smelt, "quantize", "--imatrix"), "needs a value", code=2)
    fails(run(smelt, "quantize", "--output-tensor-type", "Q7", model, out, "Q8_0"), "unknown tensor type 'Q7'", code=2)
    fails(run(smelt, "quantize", model, out, "Q8_0", "zero"), "not a thread count", code=2)
    fails(run(smelt, "quantize", model, model, "F32"), "same file")
    fails(run(smelt, "quantize", os.path.join(work, "nope.gguf"), out, "Q8_0"), "nope.gguf")
    # requantizing a quantized file needs the flag; dequantizing does not
    fails(run(smelt, "quantize", model, out, "Q4_0"), "already quantized (Q4_1)", "--allow-requantize")
    fails(run(smelt, "quantize", model, os.path.join(work, "no-such-dir", "x.gguf"), "F16"), "no-such-dir")
    assert not os.path.exists(out)
    fails(run(smelt, "imatrix", "-m", model, "-f", CALIB), "-o imatrix.gguf", code=2)
    fails(run(smelt, "imatrix", "-m", model, "-o", out), "-f FILE", code=2)
    short = os.path.join(work, "short.txt")
    with open(short, "w") as f:
        f.write("too short")
    fails(run(smelt, "imatrix", "-m", model, "-f", short, "-o", out), "fewer than one chunk")


def test_errors_corrupt_or_mismatched_imatrix(smelt, f32, smelt_imatrix, work):
    out = os.path.join(work, "e.gguf")
    q = lambda im: run(smelt, "quantize", "--imatrix", im, f32, out, "Q8_0")
    fails(q(os.path.join(work, "missing.imatrix")), "missing.imatrix")
    # truncated copy of a real imatrix
    data = open(smelt_imatrix, "rb").read()
    cut = os.path.join(work, "cut.imatrix")
    open(cut, "wb").write(data[: len(data) // 2])
    fails(q(cut), "cut.imatrix")
    # a model file is not an imatrix
    fails(q(f32), "not an importance matrix")
    # entry sized for another model
    bad = os.path.join(work, "wrong-size.imatrix")
    write_imatrix(bad, {"blk.0.attn_q.weight": (np.ones((1, 100)), [10])})
    fails(q(bad), "blk.0.attn_q.weight", "has 100 values", "576", "another model")
    # entries that name no tensor of this model
    bad = os.path.join(work, "other-model.imatrix")
    write_imatrix(bad, {"blk.0.attn_qkv.weight": (np.ones((1, 64)), [10])})
    fails(q(bad), "none of its 1 entries", "another model")
    # sums without counts, negative and non-finite values, wrong general.type
    bad = os.path.join(work, "no-counts.imatrix")
    write_imatrix(bad, {"blk.0.attn_q.weight": np.ones((1, 576))})
    fails(q(bad), "no matching", "blk.0.attn_q.weight.counts")
    bad = os.path.join(work, "negative.imatrix")
    v = np.ones((1, 576))
    v[0, 7] = -1
    write_imatrix(bad, {"blk.0.attn_q.weight": (v, [10])})
    fails(q(bad), "must be finite and >= 0")
    bad = os.path.join(work, "nan.imatrix")
    v[0, 7] = np.nan
    write_imatrix(bad, {"blk.0.attn_q.weight": (v, [10])})
    fails(q(bad), "must be finite and >= 0")
    bad = os.path.join(work, "type.imatrix")
    write_imatrix(bad, {"blk.0.attn_q.weight": (np.ones((1, 576)), [10])}, general_type="model")
    fails(q(bad), "general.type is 'model'")
    fails(run(smelt, "quantize", "--ref", "--imatrix", smelt_imatrix, f32, out, "Q8_0"), "no importance matrix")
    assert not os.path.exists(out) and not os.path.exists(out + ".tmp")


@pytest.fixture(scope="session")
def tiny():
    """A small random-weight llama model (F16, width 128, 3 blocks) from tests/arch: quick to
    quantize, for behaviour that does not need the real model."""
    return os.path.join(ROOT, "tests", "arch", "golden", "llama_untied", "model.gguf")


def test_imatrix_changes_the_file(smelt, tiny, work):
    """With an importance matrix the chosen blocks differ, and the summary says how many tensors used it."""
    im, a, b = (os.path.join(work, n) for n in ("tiny.imatrix", "a.gguf", "b.gguf"))
    ok(run(smelt, "imatrix", "-m", tiny, "-f", CALIB, "-o", im, "-c", "128", "--chunks", "4"))
    ok(run(smelt, "quantize", "-q", "--no-self-calibration", tiny, a, "Q4_0"))
    p = ok(run(smelt, "quantize", "-q", "--imatrix", im, tiny, b, "Q4_0"))
    assert b"21 with importance data" in p.stdout, p.stdout  # 7 weights x 3 blocks
    # same layout (the imatrix adds only quantize.imatrix.* keys), other blocks
    assert abs(os.path.getsize(a) - os.path.getsize(b)) < 4096 and sha256(a) != sha256(b)
    for f in (im, a, b):
        os.unlink(f)


def test_imatrix_calib_text(smelt, tiny, work):
    """--calib TEXT: importance data and second moments from a text; every block weight gets error
    feedback, the type mix is the one with an imatrix (the same as --imatrix from the same text),
    the file is the same every time and differs from the diagonal-only one."""
    im, a, b, c = (os.path.join(work, n) for n in ("cal.imatrix", "cal-a.gguf", "cal-b.gguf", "cal-c.gguf"))
    args = ["--calib", CALIB, "-c", "128", "--calib-chunks", "4"]
    p = ok(run(smelt, "quantize", "-q", *args, tiny, a, "Q4_K_M"))
    out = p.stdout.decode()
    assert "calibrated on" in out and "21 with importance data" in out and "21 with error feedback" in out, out
    ok(run(smelt, "quantize", "-q", *args, tiny, b, "Q4_K_M"))
    assert sha256(a) == sha256(b), "calibration is not deterministic"
    ok(run(smelt, "imatrix", "-m", tiny, "-f", CALIB, "-o", im, "-c", "128", "--chunks", "4"))
    ok(run(smelt, "quantize", "-q", "--imatrix", im, tiny, c, "Q4_K_M"))
    import gguf
    ra, rc = gguf.GGUFReader(a), gguf.GGUFReader(c)
    assert [(t.name, t.tensor_type) for t in ra.tensors] == [(t.name, t.tensor_type) for t in rc.tensors]
    assert sha256(a) != sha256(c)
    assert ra.fields["quantize.error_feedback"].contents() is True
    assert ra.fields["quantize.imatrix.dataset"].contents() == "calib.txt"
    assert "quantize.error_feedback" not in rc.fields
    # the file loads and runs
    ok(run(smelt, "run", "-m", a, "-n", "4", "--temp", "0", "--raw", "-p", "Hello"))
    assert not any(f.endswith(".calib.imatrix") for f in os.listdir(work)), "temporary imatrix left behind"
    for f in (im, a, b, c):
        os.unlink(f)


def test_imatrix_self_calibration(smelt, tiny, work):
    """Without --imatrix the model writes its own calibration text: importance data for every
    block weight, the type mix (and bits/weight) of a quantization without imatrix, and the same
    file every time."""
    plain, a, b = (os.path.join(work, n) for n in ("plain.gguf", "self-a.gguf", "self-b.gguf"))
    ok(run(smelt, "quantize", "-q", "--no-self-calibration", tiny, plain, "Q4_0"))
    p = ok(run(smelt, "quantize", "-q", "--self-calibration-tokens", "512", tiny, a, "Q4_0"))
    out = p.stdout.decode()
    assert "self-calibrated" in out and "21 with importance data" in out and "21 with error feedback" in out, out
    ok(run(smelt, "quantize", "-q", "--self-calibration-tokens", "512", tiny, b, "Q4_0"))
    assert sha256(a) == sha256(b), "self-calibration is not deterministic"
    assert sha256(a) != sha256(plain)
    import gguf
    ra, rp = gguf.GGUFReader(a), gguf.GGUFReader(plain)
    assert [(t.name, t.tensor_type) for t in ra.tensors] == [(t.name, t.tensor_type) for t in rp.tensors]
    assert ra.fields["quantize.self_calibration"].contents() is True
    assert ra.fields["quantize.error_feedback"].contents() is True
    assert "quantize.imatrix.file" not in ra.fields
    assert not any(f.endswith(".calib.imatrix") for f in os.listdir(work)), "temporary imatrix left behind"
    # without error feedback: importances only, another file
    p = ok(run(smelt, "quantize", "-q", "--self-calibration-tokens", "512", "--no-error-feedback", tiny, b, "Q4_0"))
    assert "21 with importance data" in p.stdout.decode() and "0 with error feedback" in p.stdout.decode()
    assert sha256(a) != sha256(b) and "quantize.error_feedback" not in gguf.GGUFReader(b).fields
    for f in (plain, a, b):
        os.unlink(f)
    # bad input is refused before the model writes anything
    fails(run(smelt, "quantize", "--calib", CALIB, "--imatrix", a, tiny, b, "Q4_0"), "choose one", code=2)
    fails(run(smelt, "quantize", "--calib", CALIB, tiny, b, "F16"), "needs a quantized TYPE", code=2)
    fails(run(smelt, "quantize", "--calib", CALIB, "--calib-chunks", "0", tiny, b, "Q4_0"), "1..100000", code=2)
    fails(run(smelt, "quantize", "--calib", CALIB, "-c", "8", tiny, b, "Q4_0"), "16..32768", code=2)
    fails(run(smelt, "quantize", "--calib", os.path.join(work, "missing.txt"), tiny, b, "Q4_0"), "missing.txt")
    short = os.path.join(work, "short-calib.txt")
    with open(short, "w") as f:
        f.write("Only a few words.")
    fails(run(smelt, "quantize", "--calib", short, tiny, b, "Q4_0"), "fewer than one chunk")
    assert not os.path.exists(b) and not any(f.endswith(".calib.imatrix") for f in os.listdir(work))
    fails(run(smelt, "quantize", "--self-calibration-tokens", "5", tiny, a, "Q4_0"), "64..1000000", code=2)
    fails(run(smelt, "quantize", tiny, a, "Q9"), "unknown type", code=2)

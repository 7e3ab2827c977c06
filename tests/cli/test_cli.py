"""End-to-end tests of the smelt CLI, run by ctest:
    python -m pytest tests/cli/test_cli.py --smelt build/smelt --model-dir ~/.cache/smelt/models
They exercise the real binary on the real SmolLM2 model, plus bad input that
must give a clear error and a non-zero exit code (never a crash)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def run(smelt, *args, input=None, env=None, timeout=300):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([smelt, *args], input=input, capture_output=True, timeout=timeout, env=e)
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {p.stderr.decode(errors='replace')}"
    return p


@pytest.fixture(scope="session")
def model(model_dir):
    path = os.path.join(model_dir, SMOL)
    assert os.path.exists(path), f"{path} missing: run scripts/setup.sh (smelt pull smollm2-135m)"
    return path


def test_usage_and_unknown_command(smelt):
    p = run(smelt)
    assert p.returncode == 2 and b"usage" in p.stderr
    p = run(smelt, "frobnicate")
    assert p.returncode == 2 and b"unknown command 'frobnicate'" in p.stderr
    p = run(smelt, "run", "--help")
    assert p.returncode == 0 and b"usage" in p.stdout


def test_unknown_option(smelt, model):
    p = run(smelt, "run", "-m", model, "-p", "hi", "--bogus")
    assert p.returncode == 2 and b"unknown option '--bogus'" in p.stderr
    p = run(smelt, "run", "-m", model, "-p", "hi", "--temp", "abc")
    assert p.returncode == 2 and b"--temp" in p.stderr
    p = run(smelt, "run", "-m", model, "-p")
    assert p.returncode == 2 and b"needs a value" in p.stderr


def test_model_names(smelt, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    p = run(smelt, "run", "-m", "smollm2-135m", "-p", "hi", env=env)
    assert p.returncode == 1
    assert b"not downloaded yet; run: smelt pull smollm2-135m" in p.stderr
    p = run(smelt, "run", "-m", "no-such-model", "-p", "hi", env=env)
    assert p.returncode == 1 and b"smollm2-135m" in p.stderr  # lists the known names
    p = run(smelt, "pull", "--list")
    assert p.returncode == 0 and b"smollm2-135m" in p.stdout and b"gemma3-270m" in p.stdout


def _byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _llama_greedy_text(model, n):
    """Text of llama.cpp's greedy answer to the first golden prompt (SmolLM2 chat template)."""
    import gguf
    golden = os.path.join(os.path.dirname(__file__), "..", "model", "golden", "smollm2-135m", "greedy.txt")
    lines = open(golden).read().split("\n")
    ids = [int(x) for x in lines[1].split()[1:]][:n]
    r = gguf.GGUFReader(model)
    f = r.fields["tokenizer.ggml.tokens"]
    toks = [bytes(f.parts[i]).decode() for i in f.data]
    dec = _byte_decoder()
    return b"".join(bytes(dec[ch] for ch in toks[i]) for i in ids)


def test_run_greedy_matches_llama_cpp_and_stdout_clean(smelt, model):
    # the first golden prompt of scripts/golden_model.py, through the chat template
    a = run(smelt, "run", "-m", model, "-p", "What is the capital of France?", "-n", "24", "--temp", "0")
    assert a.returncode == 0, a.stderr
    assert a.stdout == _llama_greedy_text(model, 24) + b"\n"
    assert b"smelt:" not in a.stdout
    b = run(smelt, "run", "-m", model, "-p", "What is the capital of France?", "-n", "24", "--temp", "0", "-t", "1")
    assert a.stdout == b.stdout  # thread count does not change greedy output


def test_same_seed_same_text(smelt, model):
    args = ["run", "-m", model, "-p", "Tell me a story about a cat.", "-n", "32", "--temp", "1.0"]
    a = run(smelt, *args, "--seed", "42")
    b = run(smelt, *args, "--seed", "42")
    c = run(smelt, *args, "--seed", "7")
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_raw_and_stop_string(smelt, model):
    p = run(smelt, "run", "-m", model, "--raw", "-p", "1, 2, 3, 4,", "-n", "16", "--temp", "0")
    assert p.returncode == 0 and b"5" in p.stdout
    q = run(smelt, "run", "-m", model, "--raw", "-p", "1, 2, 3, 4,", "-n", "16", "--temp", "0", "--stop", "7")
    assert q.returncode == 0
    assert b"7" not in q.stdout and p.stdout.startswith(q.stdout.rstrip(b"\n"))


def test_invalid_utf8_prompt(smelt, model, tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"hello \xff\xfe world")
    p = run(smelt, "run", "-m", model, "-f", str(f), "-n", "4")
    assert p.returncode == 1
    assert b"UTF-8" in p.stderr


def test_prompt_longer_than_context(smelt, model):
    p = run(smelt, "run", "-m", model, "--raw", "-p", "word " * 200, "-c", "64", "-n", "4")
    assert p.returncode == 1
    assert b"too long" in p.stderr and b"64" in p.stderr


def test_inspect(smelt, model):
    p = run(smelt, "inspect", model)
    assert p.returncode == 0
    out = p.stdout.decode()
    assert "general.architecture" in out and "llama" in out
    assert "blk.29.ffn_down.weight" in out and "Q4_1" in out


def test_corrupt_model_files(smelt, model, tmp_path):
    data = open(model, "rb").read(1 << 20)
    cases = {
        "truncated.gguf": data[:100_000],
        "empty.gguf": b"",
        "magic.gguf": b"GGUX" + data[4:4096],
        "header.gguf": data[:20],
    }
    for name, blob in cases.items():
        f = tmp_path / name
        f.write_bytes(blob)
        for cmd in (["inspect", str(f)], ["run", "-m", str(f), "-p", "hi", "-n", "1"]):
            p = run(smelt, *cmd)
            assert p.returncode == 1, (name, cmd, p.stderr)
            assert name.encode() in p.stderr, p.stderr  # the error names the file
    p = run(smelt, "run", "-m", str(tmp_path / "does-not-exist.gguf"), "-p", "hi")
    assert p.returncode == 1


def _write_tiny(path, arch="llama", skip=(), extra_kv=None, n_head=4, int_tensor=None, extra_tensor=None):
    import gguf
    w = gguf.GGUFWriter(str(path), arch)
    n_embd, n_ff, n_vocab = 32, 64, 300
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    toks = [bytes([b]).decode("latin-1") for b in range(256)] + ["tok%d" % i for i in range(n_vocab - 256)]
    # byte-level BPE vocab: the GPT-2 byte->unicode mapping for the first 256
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    m = dict(zip(bs, cs))
    toks[:256] = [chr(m[b]) for b in range(256)]
    toks[256] = "ab"
    w.add_token_list(toks)
    w.add_token_types([1] * n_vocab)
    w.add_token_merges(["a b"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    if extra_kv:
        extra_kv(w)
    rng = np.random.default_rng(0)
    tensors = {
        "token_embd.weight": (n_vocab, n_embd),
        "output_norm.weight": (n_embd,),
        "blk.0.attn_norm.weight": (n_embd,),
        "blk.0.attn_q.weight": (n_embd, n_embd),
        "blk.0.attn_k.weight": (n_embd // 2, n_embd),
        "blk.0.attn_v.weight": (n_embd // 2, n_embd),
        "blk.0.attn_output.weight": (n_embd, n_embd),
        "blk.0.ffn_norm.weight": (n_embd,),
        "blk.0.ffn_gate.weight": (n_ff, n_embd),
        "blk.0.ffn_up.weight": (n_ff, n_embd),
        "blk.0.ffn_down.weight": (n_embd, n_ff),
    }
    for name, shape in tensors.items():
        if name in skip:
            continue
        if name == int_tensor:  # a type smelt cannot compute with (I32)
            w.add_tensor(name, np.zeros(shape, np.int32))
            continue
        w.add_tensor(name, rng.standard_normal(shape).astype(np.float32) * 0.1)
    if extra_tensor:
        w.add_tensor(extra_tensor, np.zeros((n_embd,), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_tiny_model_runs_and_bad_models_fail(smelt, tmp_path):
    ok = tmp_path / "tiny.gguf"
    _write_tiny(ok)
    p = run(smelt, "run", "-m", str(ok), "--raw", "-p", "abc", "-n", "5", "--temp", "0")
    assert p.returncode == 0, p.stderr

    f = tmp_path / "arch.gguf"
    _write_tiny(f, arch="frobnet")
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"architecture 'frobnet'" in p.stderr

    f = tmp_path / "missing.gguf"
    _write_tiny(f, skip=("blk.0.ffn_up.weight",))
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"missing tensor 'blk.0.ffn_up.weight'" in p.stderr

    f = tmp_path / "type.gguf"
    _write_tiny(f, int_tensor="blk.0.ffn_up.weight")
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"'blk.0.ffn_up.weight' has type I32" in p.stderr, p.stderr

    f = tmp_path / "extra.gguf"
    _write_tiny(f, extra_tensor="blk.0.attn_output.bias")
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"tensor 'blk.0.attn_output.bias' is not used" in p.stderr, p.stderr

    import gguf
    f = tmp_path / "yarn.gguf"
    _write_tiny(f, extra_kv=lambda w: w.add_rope_scaling_type(gguf.RopeScalingType.YARN))
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"RoPE scaling type 'yarn' is not supported" in p.stderr, p.stderr

    f = tmp_path / "heads.gguf"
    _write_tiny(f, n_head=5)
    p = run(smelt, "run", "-m", str(f), "-p", "abc", "-n", "1")
    assert p.returncode == 1 and b"does not divide head count 5" in p.stderr, p.stderr


def test_tokenize_ids(smelt, model):
    p = run(smelt, "tokenize", "-m", model, "--ids", input="Hello world<|im_end|>".encode())
    assert p.returncode == 0
    ids = [int(x) for x in p.stdout.split()]
    assert len(ids) >= 3 and ids[-1] == 2  # <|im_end|> parsed as the special token (id 2)
    p = run(smelt, "tokenize", "-m", model, "--ids", "--no-parse-special", input=b"<|im_end|>")
    assert 2 not in [int(x) for x in p.stdout.split()]
    p = run(smelt, "tokenize", "-m", model, input=b"\xc3\x28")
    assert p.returncode == 1 and b"UTF-8" in p.stderr


@pytest.mark.parametrize("vocab", ["llama-spm", "gpt-2", "phi-3", "deepseek-llm"])
def test_tokenize_vocab_only_file(smelt, vocab_dir, vocab):
    """tokenize reads only the vocabulary: llama.cpp's vocab-only GGUFs (no tensors) work, and give
    the suite's expected ids (the .out file: llama.cpp's tokens, BOS not included)."""
    f = os.path.join(vocab_dir, f"ggml-vocab-{vocab}.gguf")
    texts = open(f + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    outs = open(f + ".out", encoding="utf-8").read().split("\n")
    checked = 0
    for text, want in zip(texts, outs):
        if not text or "\n" in text or len(text) > 200:
            continue  # one line per text through stdin: keep to the short single-line ones
        p = run(smelt, "tokenize", "-m", f, "--ids", "--no-bos", input=text.encode())
        assert p.returncode == 0, p.stderr
        ids = [int(x) for x in p.stdout.split()]
        assert ids == [int(x) for x in want.split()], (vocab, text, ids, want)
        checked += 1
    assert checked >= 5


def test_bench_json(smelt, model):
    p = run(smelt, "bench", "-m", model, "-p", "32", "-n", "4", "-r", "2", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["pp_tps"] > 0 and j["tg_tps"] > 0 and j["reps"] == 2


def test_perplexity(smelt, model, tmp_path):
    src = os.path.join(os.path.dirname(__file__), "..", "data", "gpl3.txt")
    p = run(smelt, "perplexity", "-m", model, "-f", src, "-c", "128", "--chunks", "2")
    assert p.returncode == 0, p.stderr
    assert b"Final estimate: PPL = " in p.stdout
    ppl = float(p.stdout.split(b"PPL = ")[1].split()[0])
    assert 1.0 < ppl < 100.0


def test_chat_piped(smelt, model):
    p = run(smelt, "chat", "-m", model, "--temp", "0", "-n", "16",
            input=b"What is the capital of France?\n/reset\nSay hello.\n/quit\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(_llama_greedy_text(model, 16) + b"\n")


GEMMA = "gemma-3-270m-q4_k_m.gguf"


def _spm_text(model, ids):
    import gguf
    r = gguf.GGUFReader(model)
    f = r.fields["tokenizer.ggml.tokens"]
    toks = [bytes(f.parts[i]).decode() for i in f.data]
    out = b""
    for i in ids:
        t = toks[i]
        if t.startswith("<0x") and t.endswith(">") and len(t) == 6:
            out += bytes([int(t[3:5], 16)])
        else:
            out += t.replace("\u2581", " ").encode()
    return out


def test_gemma3_run_chat_bench(smelt, model_dir):
    gemma = os.path.join(model_dir, GEMMA)
    assert os.path.exists(gemma), f"{gemma} missing: run scripts/setup.sh (smelt pull gemma3-270m)"
    # raw completion equals llama.cpp's greedy continuation (golden prompt 1)
    golden = os.path.join(os.path.dirname(__file__), "..", "model", "golden", "gemma3-270m", "greedy.txt")
    lines = open(golden).read().split("\n")
    ids = [int(x) for x in lines[1].split()[1:]][:20]
    p = run(smelt, "run", "-m", gemma, "--raw", "-p", "What is the capital of France?", "-n", "20", "--temp", "0",
            env={"SMELT_ISA": "avx2"})
    assert p.returncode == 0, p.stderr
    assert p.stdout == _spm_text(gemma, ids) + b"\n"
    # chat uses the built-in Gemma template (the GGUF has none)
    p = run(smelt, "chat", "-m", gemma, "-n", "8", "--temp", "0", input=b"Name a color.\n/quit\n")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip()) > 0
    p = run(smelt, "bench", "-m", gemma, "-p", "16", "-n", "4", "-r", "1", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["pp_tps"] > 0 and j["tg_tps"] > 0


def _kld_stat(out, name):
    for line in out.decode().splitlines():
        if line.startswith(name):
            return float(line.split(":")[1].split()[0])
    raise AssertionError(f"{name} not in output")


def test_perplexity_kl_divergence(smelt, model, model_dir, tmp_path):
    src = os.path.join(os.path.dirname(__file__), "..", "data", "gpl3.txt")
    base = str(tmp_path / "base.kld")
    p = run(smelt, "perplexity", "-m", model, "-f", src, "-c", "128", "--chunks", "2", "--kl-divergence-base", base,
            env={"SMELT_ISA": "avx2"})
    assert p.returncode == 0, p.stderr
    # the same model and kernels: KLD is only the 16-bit storage error, top-1 always equal
    p = run(smelt, "perplexity", "-m", model, "--kl-divergence-base", base, "--kl-divergence", env={"SMELT_ISA": "avx2"})
    assert p.returncode == 0, p.stderr
    assert _kld_stat(p.stdout, "Mean    KLD") < 1e-5
    assert _kld_stat(p.stdout, "Same top p") == 100.0
    # other kernels (generic C): a small, non-zero divergence
    p = run(smelt, "perplexity", "-m", model, "--kl-divergence-base", base, "--kl-divergence", env={"SMELT_ISA": "generic"})
    assert p.returncode == 0, p.stderr
    assert 1e-6 < _kld_stat(p.stdout, "Mean    KLD") < 0.1
    # a base file for another vocabulary, a truncated one, a bogus one: clear errors
    p = run(smelt, "perplexity", "-m", os.path.join(model_dir, GEMMA), "--kl-divergence-base", base, "--kl-divergence")
    assert p.returncode == 1 and b"vocabulary" in p.stderr
    data = open(base, "rb").read()
    cut = tmp_path / "cut.kld"
    cut.write_bytes(data[: len(data) // 2])
    p = run(smelt, "perplexity", "-m", model, "--kl-divergence-base", str(cut), "--kl-divergence")
    assert p.returncode == 1 and b"truncated" in p.stderr
    bad = tmp_path / "bad.kld"
    bad.write_bytes(b"not a kld file at all")
    p = run(smelt, "perplexity", "-m", model, "--kl-divergence-base", str(bad), "--kl-divergence")
    assert p.returncode == 1 and b"not a smelt KL-divergence base file" in p.stderr
    p = run(smelt, "perplexity", "-m", model, "--kl-divergence")
    assert p.returncode == 2

#!/usr/bin/env python3
"""gguf_pywriter: cross-check smelt's GGUF reader against gguf-py.

Writes GGUF files with gguf.GGUFWriter (every key type, arrays, a nested array,
tensors of several types, default and custom alignment) into a temp dir, runs
the C program `gguf_dump FILE` (smelt's reading, canonical format described in
gguf_dump.c) and compares it line by line with the same dump computed from
gguf.GGUFReader. Also checks that a truncated copy is refused.

With a second program (test_gguf_write), also copies every file gguf-py wrote
through smelt's GGUF writer (`test_gguf_write copyto IN OUT`) and requires the
copy to be byte-identical to gguf-py's file.

usage: gguf_py_writer.py PATH/TO/gguf_dump [PATH/TO/test_gguf_write]
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGUFValueType as VT, GGMLQuantizationType as QT

VT_NAME = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
           VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "str", VT.ARRAY: "arr",
           VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}
SIGNED = {VT.INT8, VT.INT16, VT.INT32, VT.INT64}


def write_model(path, alignment=None, version_tag=""):
    w = gguf.GGUFWriter(path, arch="smelttest")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_uint8("t.u8", 255)
    w.add_int8("t.i8", -128)
    w.add_uint16("t.u16", 65535)
    w.add_int16("t.i16", -32768)
    w.add_uint32("t.u32", 0xFFFFFFFF)
    w.add_int32("t.i32", -(2**31))
    w.add_float32("t.f32", 0.1)
    w.add_float32("t.f32_neg", -3.5e-7)
    w.add_uint64("t.u64", 2**64 - 1)
    w.add_int64("t.i64", -(2**63))
    w.add_float64("t.f64", 1.0 / 3.0)
    w.add_bool("t.true", True)
    w.add_bool("t.false", False)
    w.add_string("t.str", "héllo \"wörld\" ✓\n\ttab" + version_tag)
    w.add_string("t.long", "x" * 1000)
    w.add_array("t.arr_str", ["a", "Ġthe", "<|im_start|>", "日本語", "x y"])
    w.add_array("t.arr_i32", [0, -1, 2**31 - 1, -(2**31)])
    w.add_array("t.arr_f32", [0.5, -1.25, 1e-30, float("inf")])
    w.add_array("t.arr_bool", [True, False, True])
    w.add_key_value("t.arr_u8", [0, 1, 255], VT.ARRAY, sub_type=VT.UINT8)
    w.add_key_value("t.arr_i16", [-32768, 32767], VT.ARRAY, sub_type=VT.INT16)
    w.add_key_value("t.arr_u64", [2**64 - 1, 0], VT.ARRAY, sub_type=VT.UINT64)
    w.add_key_value("t.arr_i64", [-(2**63), 5], VT.ARRAY, sub_type=VT.INT64)
    w.add_key_value("t.arr_f64", [0.1, -2.0], VT.ARRAY, sub_type=VT.FLOAT64)
    w.add_key_value("t.arr_nested", [[1, 2], [3]], VT.ARRAY, sub_type=VT.ARRAY)
    rng = np.random.default_rng(1234)
    w.add_tensor("f32.weight", rng.standard_normal((3, 64)).astype(np.float32))
    w.add_tensor("f16.weight", rng.standard_normal((2, 2, 8)).astype(np.float16))
    w.add_tensor("i32.vec", np.arange(7, dtype=np.int32))
    w.add_tensor("i8.mat", rng.integers(-128, 127, size=(5, 3), dtype=np.int8))
    w.add_tensor("f64.vec", rng.standard_normal(3))
    # quantized types as raw bytes (shape given in bytes per row, numpy order)
    q8 = rng.integers(0, 255, size=(4, 2 * 34), dtype=np.uint8)
    w.add_tensor("q8_0.weight", q8, raw_dtype=QT.Q8_0)
    q4k = rng.integers(0, 255, size=(2, 144), dtype=np.uint8)
    w.add_tensor("q4_k.weight", q4k, raw_dtype=QT.Q4_K)
    q6k = rng.integers(0, 255, size=(1, 2, 210), dtype=np.uint8)
    w.add_tensor("blk.0.q6_k.weight", q6k, raw_dtype=QT.Q6_K)
    bf = rng.integers(0, 256, size=(2, 32), dtype=np.uint8)
    w.add_tensor("bf16.weight", bf, raw_dtype=QT.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hexs(b):
    return "s:" + bytes(b).hex()


def scalar_str(vt, raw):
    if vt == VT.FLOAT32:
        return "0x%08x" % struct.unpack("<I", raw)[0]
    if vt == VT.FLOAT64:
        return "0x%016x" % struct.unpack("<Q", raw)[0]
    v = int.from_bytes(raw, "little", signed=vt in SIGNED)
    return str(v)


def fnv1a64(b):
    h = 1469598103934665603
    for x in b:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def py_dump(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    n_tensors = int(f["GGUF.tensor_count"].parts[-1][0])
    n_kv = int(f["GGUF.kv_count"].parts[-1][0])
    align = f["general.alignment"].contents() if "general.alignment" in f else 32
    out = [f"version {f['GGUF.version'].contents()}", f"alignment {align}", f"data_offset {r.data_offset}",
           f"n_kv {n_kv}", f"n_tensors {n_tensors}"]
    for name, fld in f.items():
        if name.startswith("GGUF."):
            continue
        t = fld.types[0]
        line = f"kv {name} {VT_NAME[t]}"
        if t == VT.STRING:
            line += " " + hexs(fld.parts[fld.data[0]])
        elif t == VT.ARRAY:
            et = fld.types[1] if len(fld.types) > 1 else VT.ARRAY
            # parts: key length, key, value type, element type, count, elements...
            n = int(fld.parts[4][0])
            line += f" {VT_NAME[et]} {n}"
            if et != VT.ARRAY:
                for idx in fld.data:
                    part = fld.parts[idx]
                    line += " " + (hexs(part) if et == VT.STRING else scalar_str(et, part.tobytes()))
        elif t == VT.BOOL:
            line += " %d" % int(fld.parts[fld.data[0]][0])
        elif t in (VT.FLOAT32, VT.FLOAT64):
            v = np.float32(fld.parts[fld.data[0]][0])
            line += " 0x%08x" % struct.unpack("<I", v.tobytes())[0]
        else:
            line += " " + scalar_str(t, fld.parts[fld.data[0]].tobytes())
        out.append(line)
    for t in r.tensors:
        ne = ",".join(str(int(x)) for x in t.shape)
        raw = bytes(np.asarray(t.data).view(np.uint8).reshape(-1)[: t.n_bytes])
        off = t.data_offset - r.data_offset
        out.append(f"tensor {t.name} {int(t.tensor_type)} {ne} {off} {t.n_bytes} {fnv1a64(raw):016x}")
    return out


def c_dump(exe, path):
    p = subprocess.run([exe, path], capture_output=True, text=True)
    return p.returncode, p.stdout.splitlines(), p.stderr


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    exe = sys.argv[1]
    writer = sys.argv[2] if len(sys.argv) == 3 else None
    failures = 0
    with tempfile.TemporaryDirectory(prefix="smelt_gguf_py_") as tmp:
        for label, align in (("default", None), ("align64", 64), ("align8", 8)):
            path = os.path.join(tmp, f"model_{label}.gguf")
            write_model(path, align, label)
            want = py_dump(path)
            rc, got, err = c_dump(exe, path)
            if rc != 0:
                print(f"FAIL {label}: gguf_dump refused a file gguf-py wrote: {err}")
                failures += 1
                continue
            if got != want:
                failures += 1
                print(f"FAIL {label}: smelt and gguf-py disagree")
                for i in range(max(len(got), len(want))):
                    g = got[i] if i < len(got) else "<missing>"
                    w = want[i] if i < len(want) else "<missing>"
                    if g != w:
                        print(f"  line {i}:\n    smelt: {g}\n    gguf : {w}")
            else:
                n_t = sum(1 for l in want if l.startswith("tensor "))
                n_k = sum(1 for l in want if l.startswith("kv "))
                print(f"ok {label}: {n_k} keys, {n_t} tensors agree")
            with open(path, "rb") as f:
                data = f.read()
            if writer:
                copy = os.path.join(tmp, f"copy_{label}.gguf")
                p = subprocess.run([writer, "copyto", path, copy], capture_output=True, text=True)
                if p.returncode != 0:
                    print(f"FAIL {label}: smelt's writer could not copy the file: {p.stderr}")
                    failures += 1
                else:
                    with open(copy, "rb") as f:
                        cdata = f.read()
                    if cdata != data:
                        at = next((i for i in range(min(len(cdata), len(data))) if cdata[i] != data[i]),
                                  min(len(cdata), len(data)))
                        print(f"FAIL {label}: smelt's copy differs from gguf-py's file at byte {at} "
                              f"(sizes {len(cdata)} vs {len(data)})")
                        failures += 1
                    else:
                        print(f"ok {label}: smelt's writer reproduced gguf-py's {len(data)} bytes")
            # a truncated copy must be refused with a message
            cut = os.path.join(tmp, f"cut_{label}.gguf")
            with open(cut, "wb") as f:
                f.write(data[:-1])
            rc, _, err = c_dump(exe, cut)
            if rc != 1 or "cut_" not in err:
                print(f"FAIL {label}: truncated file not refused properly (rc={rc}, err={err!r})")
                failures += 1
    print("FAILED" if failures else "PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

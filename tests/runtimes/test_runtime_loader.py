"""Corrupt, truncated and hostile images are rejected by the C loader with an error
code, never a crash; the fuzz corpus replays cleanly under AddressSanitizer."""

from __future__ import annotations

import ctypes
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import model_bytes
from fixtures_tflite_ops import TflmOracle, build, seed_specs
from paths import FIRMWARE

from tinyops.runtimes.tinyops_c import compile_image
from tinyops.runtimes.tinyops_c.format import FORMAT_VERSION, HEADER, OP, TENSOR, crc32_image
from tinyops.runtimes.tinyops_c.native import NativeRuntime, _Aligned, _Model, library, load_status, validate_image

OK, NULL, TRUNCATED, MAGIC, VERSION, CRC, BOUNDS, OP_ERR, ARENA, SHAPE, INDEX, ALIGN = range(12)
FUZZ = FIRMWARE / "fuzz"


@pytest.fixture(scope="module")
def image() -> bytes:
    return compile_image(model_bytes("digits_cnn")).image


def _h(img: bytes) -> dict[str, int]:
    names = ("magic version image_size crc32 arena_bytes n_tensors tensors_off n_ops ops_off n_inputs "
             "n_outputs io_off data_off data_size flags reserved").split()
    return dict(zip(names, HEADER.unpack_from(img)))


def _patched(img: bytes, offset: int, fmt: str, value: int, *, reseal: bool = True) -> bytes:
    b = bytearray(img)
    struct.pack_into(fmt, b, offset, value)
    if reseal:
        struct.pack_into("<I", b, 12, crc32_image(b))
    return bytes(b)


def test_valid_image_and_messages(image: bytes) -> None:
    code, need = validate_image(image)
    assert code == OK and need == _h(image)["arena_bytes"]
    lib = library()
    assert lib.tor_status_message(CRC).decode().startswith("image CRC32")
    assert lib.tor_status_message(99).decode() == "unknown status"


def test_header_errors(image: bytes) -> None:
    assert validate_image(image[:40])[0] == TRUNCATED
    assert validate_image(b"XXXX" + image[4:])[0] == MAGIC
    assert validate_image(_patched(image, 4, "<I", FORMAT_VERSION + 1, reseal=False))[0] == VERSION
    assert validate_image(_patched(image, 8, "<I", len(image) + 4))[0] == TRUNCATED
    flipped = bytearray(image)
    flipped[len(image) // 2] ^= 0x40
    assert validate_image(bytes(flipped))[0] == CRC


@pytest.mark.parametrize("cut", [64, 100, 1000, -200, -1])
def test_truncated_images(image: bytes, cut: int) -> None:
    assert validate_image(image[:cut])[0] in (TRUNCATED, CRC)


def test_hostile_tables(image: bytes) -> None:
    h = _h(image)
    t0 = h["tensors_off"]
    # a tensor offset far outside the arena / image
    assert validate_image(_patched(image, t0 + 28, "<I", 0x7FFFFFF0))[0] in (BOUNDS, ALIGN)
    # huge dimensions (the byte count no longer matches; the product would overflow)
    huge = _patched(image, t0 + 12, "<i", 65535)
    assert validate_image(_patched(huge, t0 + 16, "<i", 65535))[0] == SHAPE
    assert validate_image(_patched(image, t0 + 12, "<i", -1))[0] == SHAPE
    # an unknown op code
    assert validate_image(_patched(image, h["ops_off"], "<I", 99))[0] == OP_ERR
    # op params pointing past the end
    assert validate_image(_patched(image, h["ops_off"] + 4, "<I", len(image) - 4))[0] == BOUNDS
    # table counts beyond the image
    assert validate_image(_patched(image, 20, "<I", 4000))[0] in (BOUNDS, SHAPE)
    assert validate_image(_patched(image, 28, "<I", 1 << 20))[0] == SHAPE
    # an io index beyond the tensor table
    assert validate_image(_patched(image, h["io_off"], "<I", 10_000))[0] == INDEX
    # an op reading a tensor that does not exist
    params = struct.unpack_from("<I", image, h["ops_off"] + 4)[0]
    assert validate_image(_patched(image, params, "<i", 5000))[0] == SHAPE
    assert TENSOR.size == 44 and OP.size == 12


def test_arena_checks(image: bytes) -> None:
    need = _h(image)["arena_bytes"]
    assert load_status(image, need) == OK
    assert load_status(image, need - 16) == ARENA
    lib = library()
    buf, arena, model = _Aligned(len(image), image), _Aligned(need + 16), _Model()
    assert lib.tor_load(ctypes.byref(model), buf.address, len(image), arena.address + 4, need) == ALIGN
    assert lib.tor_load(ctypes.byref(model), buf.address + 1, len(image), arena.address, need) == ALIGN
    assert lib.tor_load(None, buf.address, len(image), arena.address, need) == NULL
    assert lib.tor_load(ctypes.byref(model), buf.address, len(image), arena.address, need) == OK
    ptr, size = ctypes.c_void_p(), ctypes.c_uint32()
    assert lib.tor_input(ctypes.byref(model), 1, ctypes.byref(ptr), ctypes.byref(size)) == INDEX
    assert lib.tor_output(ctypes.byref(model), 0, ctypes.byref(ptr), ctypes.byref(size)) == OK and size.value == 10


def test_random_mutations_never_crash(image: bytes) -> None:
    # In a child process: a crash there fails this test instead of killing pytest.
    code = f"""
import json, sys, struct, numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from tinyops.runtimes.tinyops_c.format import crc32_image
from tinyops.runtimes.tinyops_c.native import validate_image, load_status
img = open(sys.argv[1], 'rb').read()
rng = np.random.default_rng(11)
codes = set()
for k in range(3000):
    b = bytearray(img)
    for pos in rng.integers(16, len(b), size=int(rng.integers(1, 6))):
        b[pos] = int(rng.integers(0, 256))
    struct.pack_into('<I', b, 12, crc32_image(b))
    c, need = validate_image(bytes(b))
    if c == 0 and need < (1 << 20):
        load_status(bytes(b), need)
    codes.add(c)
print(json.dumps(sorted(codes)))
"""
    path = FUZZ / "corpus_loader" / "seed-digits_cnn.img"
    proc = subprocess.run([sys.executable, "-c", code, str(path.resolve())], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes = json.loads(proc.stdout.strip())
    assert len(codes) >= 3 and set(codes) <= set(range(12))


def test_seed_images_run_like_tflm() -> None:
    oracle = TflmOracle()
    try:
        for name, spec in seed_specs().items():
            model = build(spec)
            rt = NativeRuntime(model)
            rng = np.random.default_rng(len(name))
            xs = [(rng.normal(0, 1, i.shape).astype(np.float32) if i.dtype == "float32"
                   else rng.integers(-128, 128, size=i.shape, dtype=np.int8)) for i in rt.inputs]
            want = oracle.run(model, xs, len(rt.outputs))
            for w, g in zip(want, rt.run_all(xs)):
                np.testing.assert_array_equal(g, w, err_msg=name)
    finally:
        oracle.close()


def test_fuzz_corpus_replays_under_asan(tmp_path: Path) -> None:
    if shutil.which("clang") is None:
        pytest.fail("clang is needed to replay the fuzz corpus (apt: clang)")
    corpus = FUZZ / "corpus_loader"
    assert len(list(corpus.iterdir())) >= 10
    proc = subprocess.run([str(FUZZ / "run_loader_fuzz.sh"), "replay"], capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TOR_FUZZ_BUILD": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERROR: AddressSanitizer" not in proc.stderr


def test_op_writing_over_its_input_is_rejected(image: bytes) -> None:
    # found by the fuzzer: an im2col scratch or output overlapping the op's input
    h = _h(image)
    params = struct.unpack_from("<I", image, h["ops_off"] + 4)[0]
    inp, _filt, _bias, out = struct.unpack_from("<4i", image, params)
    in_off = struct.unpack_from("<I", image, h["tensors_off"] + inp * TENSOR.size + 28)[0]
    bad = _patched(image, h["tensors_off"] + out * TENSOR.size + 28, "<I", in_off)
    assert validate_image(bad)[0] == BOUNDS
    assert validate_image(image)[0] == OK


def test_depthwise_zero_point_row_is_checked() -> None:
    # a padded depthwise conv names a constant row of the input zero point; a wrong byte
    # there would change results silently, so the loader refuses it
    img = compile_image(model_bytes("ds_cnn_kws")).image
    h = _h(img)
    code, params, _ = OP.unpack_from(img, h["ops_off"] + OP.size)  # op 1: a streamed segment
    assert code == 36  # its first member is the first depthwise conv
    code, params = struct.unpack_from("<I", img, params + 16)[0], struct.unpack_from("<I", img, params + 48)[0]
    assert code == 2
    fields = struct.unpack_from("<15i3IiI", img, params)
    zrow, input_offset = fields[-2], fields[11]
    assert zrow >= 0
    t = TENSOR.unpack_from(img, h["tensors_off"] + zrow * TENSOR.size)
    storage, offset, nbytes = t[2], t[7], t[8]
    assert storage == 1 and nbytes == 64 and img[offset:offset + nbytes] == bytes([-input_offset & 0xFF]) * 64
    bad = _patched(img, offset + 5, "<b", (-input_offset + 1 + 128) % 256 - 128)
    assert validate_image(bad)[0] == SHAPE
    assert validate_image(img)[0] == OK


def test_conv_pow2_table_is_checked_against_the_shifts() -> None:
    # 2^(33 - e) per channel drives the Cortex-M requantization shortcut; a value that is
    # not the power the shift table implies would change results silently: refused
    img = compile_image(model_bytes("ds_cnn_kws")).image
    h = _h(img)
    code, params, _ = OP.unpack_from(img, h["ops_off"])  # op 0: CONV_2D
    assert code == 1
    fields = struct.unpack_from("<15i3IiI", img, params)
    shifts_off, pow2_off, oc = fields[16], fields[-1], 64
    assert pow2_off
    shifts = struct.unpack_from(f"<{oc}i", img, shifts_off)
    assert struct.unpack_from(f"<{oc}i", img, pow2_off) == tuple(1 << (33 + s) for s in shifts)
    assert validate_image(_patched(img, pow2_off + 8, "<i", (1 << (33 + shifts[2])) + 1))[0] == SHAPE
    assert validate_image(_patched(img, pow2_off + 8, "<i", 1 << (34 + shifts[2]) if shifts[2] < -3 else 1))[0] == SHAPE
    assert validate_image(_patched(img, params + 19 * 4, "<I", h["data_off"] + h["data_size"] - 4))[0] == BOUNDS
    assert validate_image(img)[0] == OK

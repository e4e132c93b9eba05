"""The model-image compiler: format header, memory planner, requantization arithmetic,
clear errors for what the runtime cannot run, and `tinyops compile`."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import model_bytes, model_path
from fixtures_tflite_ops import OpSpec, T, build, options
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyops.runtimes.tinyops_c import compile_image
from tinyops.runtimes.tinyops_c.format import FORMAT_VERSION, HEADER, MAGIC, TENSOR
from tinyops.runtimes.tinyops_c.planner import plan
from tinyops.runtimes.tinyops_c.quant import quantize_multiplier, round_away
from tinyops.errors import ModelError
from tinyops.runtimes import tflite_file


def _header(image: bytes) -> dict[str, int]:
    names = ("magic version image_size crc32 arena_bytes n_tensors tensors_off n_ops ops_off n_inputs "
             "n_outputs io_off data_off data_size flags reserved").split()
    return dict(zip(names, HEADER.unpack_from(image)))


@pytest.mark.parametrize("name", ["ds_cnn_kws", "imu_cnn"])
def test_image_header_crc_and_sizes(name: str) -> None:
    data = model_bytes(name)
    c = compile_image(data)
    h = _header(c.image)
    assert h["magic"] == MAGIC and h["version"] == FORMAT_VERSION and h["image_size"] == len(c.image)
    zeroed = c.image[:12] + b"\0\0\0\0" + c.image[16:]
    assert h["crc32"] == zlib.crc32(zeroed)
    assert h["arena_bytes"] == c.arena_bytes and c.arena_bytes % 16 == 0
    assert all(h[k] % 16 == 0 for k in ("tensors_off", "ops_off", "io_off", "data_off"))
    assert c.image_bytes < len(data)  # no flatbuffer overhead, no names
    # the planner reuses memory: the arena is smaller than all activations together
    model = tflite_file.read(data)
    activations = sum(int(np.prod(t.shape)) for t in model.tensors if t.data is None)
    assert c.arena_bytes < activations
    assert c.to_dict()["ops"] == model.op_names


def test_constant_weights_are_aligned_and_copied_verbatim() -> None:
    """Conv filters are the .tflite's bytes; FULLY_CONNECTED weights in layout 1 are the same
    bytes, four rows word-interleaved."""
    data = model_bytes("digits_cnn")
    c = compile_image(data)
    h = _header(c.image)
    model = tflite_file.read(data)
    weights = {t.data for t in model.tensors if t.data is not None and t.dtype == "int8"}
    permuted = {bytes(sorted(w)) for w in weights}
    verbatim = reordered = 0
    for i in range(h["n_tensors"]):
        dtype, rank, storage, *dims, offset, nbytes, scale, zp = TENSOR.unpack_from(c.image, h["tensors_off"] + i * TENSOR.size)
        if storage == 1:
            assert offset % 16 == 0
            blob = c.image[offset:offset + nbytes]
            verbatim += blob in weights
            reordered += blob not in weights and bytes(sorted(blob)) in permuted
    assert verbatim >= 1 and reordered >= 1


def test_reshape_is_planned_in_place() -> None:
    # digits: CONV -> MAX_POOL -> RESHAPE -> FC; the reshape output shares its input's buffer
    c = compile_image(model_bytes("digits_cnn"))
    h = _header(c.image)
    recs = [TENSOR.unpack_from(c.image, h["tensors_off"] + i * TENSOR.size) for i in range(h["n_tensors"])]
    arena = [(r[7], r[8]) for r in recs if r[2] == 0]
    pool_out = [o for o, n in arena if n == 4 * 4 * 8]
    assert len(pool_out) == 2 and pool_out[0] == pool_out[1]


def test_planner_reuses_and_separates() -> None:
    sizes = {0: 100, 1: 100, 2: 100, 3: 40}
    first = {0: -1, 1: 0, 2: 1, 3: 2}
    last = {0: 0, 1: 1, 2: 2, 3: 3}
    offsets, arena = plan(sizes, first, last, [])
    assert offsets[0] == offsets[2] and offsets[0] != offsets[1]  # 0 dies before 2 is born
    assert arena == 224  # two 100-byte buffers (16-aligned) and the 40-byte one reuses a dead slot
    offsets, _ = plan(sizes, first, last, [(3, 2)])
    assert offsets[3] == offsets[2]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 500), st.integers(-1, 10), st.integers(0, 6)), min_size=1, max_size=20))
def test_planner_never_overlaps_live_buffers(specs) -> None:
    sizes = {i: s for i, (s, _, _) in enumerate(specs)}
    first = {i: f for i, (_, f, _) in enumerate(specs)}
    last = {i: f + d for i, (_, f, d) in enumerate(specs)}
    offsets, arena = plan(sizes, first, last, [])
    for a in sizes:
        assert offsets[a] % 16 == 0 and offsets[a] + sizes[a] <= arena
        for b in sizes:
            if a < b and first[a] <= last[b] and first[b] <= last[a]:
                assert offsets[a] + sizes[a] <= offsets[b] or offsets[b] + sizes[b] <= offsets[a]


def test_quantize_multiplier_matches_tflite_rules() -> None:
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(2.0 ** -40) == (0, 0)  # below 2^-31: flushed to zero
    m, s = quantize_multiplier(1 - 2.0 ** -33)  # rounds up to 2^31: halved, shift + 1
    assert (m, s) == (1 << 30, 1)
    assert round_away(2.5) == 3 and round_away(-2.5) == -3


def test_unsupported_op_names_the_op_and_tflm() -> None:
    q = dict(scale=[0.05], zero_point=[0])
    model = build(OpSpec("LOG_SOFTMAX", [T((1, 4), **q)], [T((1, 4), scale=[16 / 256], zero_point=[127])]))
    with pytest.raises(ModelError, match="does not support LOG_SOFTMAX") as e:
        compile_image(model)
    assert "TFLM runtime (--runtime tflm" in str(e.value)


def test_float_model_is_refused_with_a_hint() -> None:
    model = build(OpSpec("ADD", [T((1, 4), "float32"), T((1, 4), "float32")], [T((1, 4), "float32")],
                         options("AddOptions"), "AddOptions"))
    with pytest.raises(ModelError, match="int8"):
        compile_image(model)


def test_compile_cli_file_json(tiny, tmp_path: Path) -> None:
    out = tmp_path / "kws.img"
    r = tiny.json("compile", model_path("ds_cnn_kws"), "--out", out)
    assert {"arena_bytes", "image_bytes", "ops"} <= set(r)
    assert out.read_bytes() == compile_image(model_bytes("ds_cnn_kws")).image
    assert r["image_bytes"] == out.stat().st_size and r["ops"][0] == "CONV_2D"


def test_compile_cli_bad_file_writes_nothing(tiny, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    out = tmp_path / "bad.img"
    r = tiny("compile", bad, "--out", out, ok=False)
    assert r.exit_code == 1 and "TFL3" in r.output
    assert not out.exists() and not list(tmp_path.glob(".bad.img*"))


def test_compile_cli_reference(tiny, ws, tmp_path: Path) -> None:
    from tinyops.registry import models, variants

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # the registry only checks a .keras zip's shape
        z.writestr("config.json", json.dumps({"class_name": "Functional"}))
    models.register(ws, "imu", buf.getvalue())
    data = model_bytes("imu_cnn")
    variants.add(ws, "imu@1", "int8", data, ops=tflite_file.read(data).op_names, details={})
    out = tmp_path / "imu.img"
    r = tiny.json("compile", "imu@1:int8", "--out", out)
    assert r["arena_bytes"] == compile_image(data).arena_bytes
    assert struct.unpack_from("<I", out.read_bytes())[0] == MAGIC
    missing = tiny("compile", "imu@1:float16", ok=False)
    assert missing.exit_code != 0 and "imu@1" in missing.output


def test_plan_report_names_the_peak_tensors(tiny, tmp_path: Path) -> None:
    c = compile_image(model_bytes("resnet8_ic"))
    plan = c.plan
    assert plan["arena_bytes"] == c.arena_bytes and "row by row" in plan["tiling"]
    # both residual blocks at 32x32 run as one streamed segment each: no 32x32x16 tensor but
    # the segment's output exists whole, the others are row windows
    assert [s["members"] for s in plan["segments"]][0] == ["CONV_2D", "CONV_2D", "CONV_2D", "ADD"]
    whole = [t for t in plan["live"] if t["shape"] == [1, 32, 32, 16]]
    assert len(whole) == 1 and plan["arena_bytes"] <= 0.6 * 54_332
    assert any(t["tensor"].startswith("window of") and t["shape"][0] <= 4 for t in plan["live"])
    allowed = {frozenset((o["output"], o["input"])) for s in plan["segments"] for o in s["overlaps"]}
    for a in plan["live"]:  # live buffers overlap only where a segment's output streams over its input
        for b in plan["live"]:
            if a is not b and a["offset"] < b["offset"] + b["bytes"] and b["offset"] < a["offset"] + a["bytes"]:
                assert frozenset((a["tensor"], b["tensor"])) in allowed
    assert plan["live_bytes"] <= plan["arena_bytes"]
    assert [o["index"] for o in c.op_table] == list(range(len(c.op_table)))
    assert sum(o["macs"] for o in c.op_table) == 12_501_632
    r = tiny.json("compile", model_path("resnet8_ic"), "--out", tmp_path / "r.img")
    assert r["plan"] == plan
    text = tiny("compile", model_path("resnet8_ic"), "--out", tmp_path / "r.img").output
    assert f"peak at op {plan['peak_op']}" in text and "1x32x32x16" in text and "row by row" in text
    info = tiny.json("inspect", model_path("resnet8_ic"), "--no-arena")
    assert info["tinyops_c"]["plan"] == plan

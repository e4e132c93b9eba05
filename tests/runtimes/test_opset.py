"""Op subsets (TOR_OPSET): a runtime built with a model's op set runs that model exactly as the
full runtime does, links fewer bytes, and refuses an image that needs any other op."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import model_bytes

from tinyops.devices.qemu_bench import build_bench, run_image
from tinyops.devices.serial.protocol import IMAGE_INVALID, describe
from tinyops.devices.sim import build_firmware
from tinyops.errors import InputError
from tinyops.runtimes.tinyops_c import compile_image
from tinyops.runtimes.tinyops_c import format as fmt
from tinyops.runtimes.tinyops_c.opset import opset, opset_of_names

TOR_ERR_OP = 7


def _text(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[1].split()[0])


def test_opset_counts_segment_members() -> None:
    compiled = compile_image(model_bytes("ds_cnn_kws"))
    want = set()
    for row in compiled.op_table:
        want |= {row["op"], *(m["op"] for m in row.get("members", []))}
    # DS-CNN's depthwise convolutions run only inside SEGMENTs: they must be in the set too
    assert "DEPTHWISE_CONV_2D" not in {row["op"] for row in compiled.op_table}
    assert set(compiled.opset.names) == want
    assert "DEPTHWISE_CONV_2D" in compiled.opset and "SEGMENT" in compiled.opset
    assert compiled.opset.mask == sum(1 << fmt.OPCODES[n] for n in want)
    assert compiled.to_dict()["firmware_opset"]["make_var"] == f"TOR_OPSET={compiled.opset.mask:#x}"


def test_opset_of_several_images_and_names() -> None:
    ad = compile_image(model_bytes("autoencoder_ad")).image
    ic = compile_image(model_bytes("resnet8_ic")).image
    assert opset(ad).names == ["FULLY_CONNECTED"]
    both = opset(ad, ic)
    assert both.mask == opset(ic).mask | opset(ad).mask and "ADD" in both
    assert opset_of_names(["softmax", "FULLY_CONNECTED"]).names == ["FULLY_CONNECTED", "SOFTMAX"]  # by op code


@pytest.mark.parametrize("bad", [b"", b"TORI" * 3, bytes(64)])
def test_opset_refuses_what_is_not_an_image(bad: bytes) -> None:
    with pytest.raises(InputError, match="not a tinyops-c image"):
        opset(bad)


def test_opset_refuses_unknown_names_and_codes() -> None:
    with pytest.raises(InputError, match="unknown tinyops-c op CONV_3D"):
        opset_of_names(["CONV_3D"])
    image = bytearray(compile_image(model_bytes("autoencoder_ad")).image)
    h = dict(zip(fmt.HEADER_FIELDS, fmt.HEADER.unpack_from(image, 0)))
    fmt.OP.pack_into(image, h["ops_off"], 99, *fmt.OP.unpack_from(image, h["ops_off"])[1:])
    with pytest.raises(InputError, match="op code 99"):
        opset(bytes(image))


def test_bench_with_an_opset_runs_its_model_and_refuses_others() -> None:
    ad, kws = (compile_image(model_bytes(n)) for n in ("autoencoder_ad", "ds_cnn_kws"))
    small, full = build_bench(ad.opset.mask), build_bench()
    assert _text(small) < _text(full) - 20_000  # the conv, depthwise and streaming kernels are gone
    x = np.random.default_rng(3).integers(-128, 128, size=ad.inputs[0]["shape"], dtype=np.int8).tobytes()
    want, got = run_image(ad.image, x), run_image(ad.image, x, opset=ad.opset.mask)
    assert want.status == got.status == 0 and got.output == want.output and len(got.output) > 0
    kx = bytes(int(np.prod(kws.inputs[0]["shape"])))
    refused = run_image(kws.image, kx, opset=ad.opset.mask)
    assert refused.status == TOR_ERR_OP and refused.output == b""
    # an op set that has the model's top-level ops but not its SEGMENT members' is refused too
    top = opset_of_names([r["op"] for r in kws.op_table])
    assert "DEPTHWISE_CONV_2D" not in top
    assert run_image(kws.image, kx, opset=top.mask).status == TOR_ERR_OP
    assert run_image(kws.image, kx, opset=kws.opset.mask).status == 0


def test_firmware_with_an_opset_is_smaller_and_says_why_it_refuses() -> None:
    mask = opset_of_names(["FULLY_CONNECTED"]).mask
    assert _text(build_firmware("qemu-mps2-an386", opset=mask)) < _text(build_firmware("qemu-mps2-an386")) - 20_000
    assert "TOR_OPSET" in describe(IMAGE_INVALID, bytes([TOR_ERR_OP]))
    with pytest.raises(InputError, match="tinyops-c runtime only"):
        build_firmware("qemu-mps2-an386", runtime="tflm", opset=mask)

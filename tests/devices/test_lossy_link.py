"""A lossy line between host and board (a proxy flipping bits and dropping
bytes both ways): frames are retransmitted, the flash completes, and a wrong
image is never activated."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_boards import LinkProxy, boards, firmware_bins, model_images, proxies  # noqa: F401

from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link

LOSSY = {"reply_timeout_s": 0.3, "slow_timeout_s": 1.0, "max_retries": 60}


@pytest.mark.parametrize("board_name,model,flip,drop", [
    ("posix", "ds_cnn_kws", 4e-5, 4e-5),
    ("qemu-mps2-an386", "digits_cnn", 4e-4, 4e-4),
])
def test_flash_over_a_lossy_line(boards, model_images, proxies, board_name, model, flip, drop) -> None:
    old, new = model_images["imu_cnn"], model_images[model]
    b = boards.start(board_name)
    flash.flash_image(b.url, old.image)
    proxy = LinkProxy(b.port, flip=flip, drop=drop, seed=11)
    proxies.append(proxy)
    r = flash.flash_image(proxy.url, new.image, new.inputs, new.outputs, link_kwargs=LOSSY)
    assert proxy.flipped + proxy.dropped > 0
    assert r.activated and r.self_test == "pass"
    assert r.retransmits > 0 or proxy.connections > 1
    with Link(b.url) as link:  # check on a clean line
        link.drain()
        info = ops.info(link)
        assert info.active_sha256 == new.sha256
        out = ops.run(link, new.inputs[0].tobytes(), max_chunk=info.max_chunk).output
        assert np.array_equal(np.frombuffer(out, np.int8), new.outputs[0].reshape(-1))


def test_corruption_that_passes_framing_is_caught_by_sha256(boards, model_images) -> None:
    """Even bytes that arrive in valid frames are not activated unless the whole
    image's sha256 matches what BEGIN announced."""
    from tinyops.devices.serial import protocol, transfer

    good, other = model_images["digits_cnn"], model_images["imu_cnn"]
    b = boards.start("posix")
    flash.flash_image(b.url, other.image)
    with Link(b.url) as link:
        link.drain()
        forged = bytearray(good.image)
        forged[len(forged) // 2] ^= 0x01  # one bit, inside a frame with a correct CRC
        slot, _ = transfer.begin(link, good.image)
        for off in range(0, len(forged), 2048):
            link.request(protocol.DATA, protocol.data_body(off, bytes(forged[off:off + 2048])))
        assert link.request(protocol.END, check=False).status == protocol.SHA_MISMATCH
        assert link.request(protocol.ACTIVATE, bytes([slot]), check=False).status == 10
        info = ops.info(link)
        assert info.active_sha256 == other.sha256 and info.slots[slot].state == "empty"

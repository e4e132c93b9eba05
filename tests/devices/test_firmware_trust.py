"""The firmware's own anti-rollback and key pinning (Ed25519 in C), on the posix
board and the emulated Cortex-M4: once a signed ticket pinned a key, only images
with a ticket of that key (or of a key it rotated to through signed links) are
activated, never one below the model line's security floor unless the ticket
authorises a rollback; all of it survives a power cut."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_boards import boards, firmware_bins, model_images  # noqa: F401

from tinyops import signing
from tinyops.devices import tickets
from tinyops.devices.serial import flash, ops
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError


def _info(url: str):
    with Link(url) as link:
        link.drain()
        return ops.info(link)


@pytest.mark.parametrize("board_name", ["posix", "qemu-mps2-an386"])
def test_firmware_pins_the_key_refuses_downgrades_and_follows_rotations(boards, model_images, tmp_path: Path,
                                                                         board_name: str) -> None:
    a, b, c = (model_images[n] for n in ("digits_cnn", "imu_cnn", "ds_cnn_kws"))
    keys, foreign = tmp_path / "keys", tmp_path / "foreign"
    signing.init_keys(keys)
    signing.init_keys(foreign)
    disk = tmp_path / "board.flash"
    board = boards.start(board_name, flash=disk)

    def put(img, ticket=None, links=b""):
        return flash.flash_image(board.url, img.image, img.inputs, img.outputs, ticket=ticket, links=links)

    def refused(img, ticket, why: str, links=b"") -> None:
        before = _info(board.url).active_sha256
        with pytest.raises(DeviceError, match=why):
            put(img, ticket, links)
        assert _info(board.url).active_sha256 == before  # nothing else ever runs

    assert put(a).activated  # not provisioned yet: an image without a ticket, as before
    assert _info(board.url).trust["key_pinned"] is False
    assert put(b, tickets.make(keys, b.image, "digits", 5)).activated  # first ticket pins the key
    t = _info(board.url).trust
    assert t["key_pinned"] and t["key_generation"] == 0 and t["security_version"] == 5
    assert t["key_prefix"] == signing.public_key_hex(keys)[:16]

    refused(c, None, "needs its signed ticket")
    refused(c, tickets.make(foreign, c.image, "digits", 9), "does not trust")
    bad = bytearray(tickets.make(keys, c.image, "digits", 9))
    bad[80] ^= 0x40  # the security version, after signing
    refused(c, bytes(bad), "does not verify")
    refused(c, tickets.make(keys, a.image, "digits", 9), "needs its signed ticket")  # a ticket for another image
    refused(c, tickets.make(keys, c.image, "digits", 4), "below the device's floor")
    assert put(c, tickets.make(keys, c.image, "digits", 4, rollback=True)).activated  # signed rollback
    refused(a, tickets.make(keys, a.image, "digits", 4), "below the device's floor")  # the floor stayed at 5

    stolen = tmp_path / "stolen"
    shutil.copytree(keys, stolen)
    signing.rotate_keys(keys, "2026-12-02T10:00:00Z")
    chain = signing.read_chain(keys)
    new_ticket = tickets.make(keys, a.image, "digits", 6)
    refused(a, new_ticket, "does not trust")  # the new key without the link from the pinned one
    assert put(a, new_ticket, tickets.links(chain)).activated
    assert _info(board.url).trust["key_generation"] == 1
    refused(b, tickets.make(stolen, b.image, "digits", 7), "does not trust")  # the retired key

    boards.kill(board)  # power cut: the trust state lives in the commit record
    board = boards.start(board_name, flash=disk)
    t = _info(board.url).trust
    assert t["key_generation"] == 1 and t["security_version"] == 6 and t["key_prefix"] == chain[-1]["key"][:16]
    refused(b, tickets.make(stolen, b.image, "digits", 7), "does not trust")
    refused(b, tickets.make(keys, b.image, "digits", 5, rollback=False), "below the device's floor")
    assert put(b, tickets.make(keys, b.image, "digits", 7), tickets.links(chain)).activated  # old links are skipped
    assert put(c, tickets.make(keys, c.image, "kws", 1)).activated  # another model line has its own floor

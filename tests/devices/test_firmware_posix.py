"""The firmware as a native process: update protocol, A/B slots, MLPerf Tiny
replies (exact), STATS, RESET, and the fuzz corpus as regression tests."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fixtures_boards import boards, firmware_bins, model_images  # noqa: F401

from tinyops.devices.serial import flash, ops, protocol, transfer
from tinyops.devices.serial.link import Link
from tinyops.errors import DeviceError
from paths import FIRMWARE



def _link(board) -> Link:
    link = Link(board.url, reply_timeout_s=0.5, max_retries=2)
    link.drain()
    return link


def test_info_on_a_blank_board(boards) -> None:
    b = boards.start("posix")
    with _link(b) as link:
        info = ops.info(link)
    assert info.board == "posix" and info.protocol == 1 and info.counter_unit == "nanoseconds"
    assert info.active_slot is None and info.active_sha256 is None
    assert [s.state for s in info.slots] == ["empty", "empty"]
    assert info.max_chunk >= 1024 and info.arena_capacity > 0


def test_transfer_errors_are_explicit_and_change_nothing(boards, model_images) -> None:
    m = model_images["digits_cnn"]
    b = boards.start("posix")
    flash.flash_image(b.url, m.image, m.inputs, m.outputs)
    with _link(b) as link:
        before = ops.info(link)
        active = before.active_slot
        # BEGIN into the running slot is refused.
        r = link.request(protocol.BEGIN, protocol.begin_body(active, 10, bytes(32)), check=False)
        assert r.status == 4
        r = link.request(protocol.BEGIN, protocol.begin_body(0xFF, before.slot_capacity + 1, bytes(32)), check=False)
        assert r.status == 5
        r = link.request(protocol.BEGIN, protocol.begin_body(0xFF, 10, bytes(32), kind=2), check=False)
        assert r.status == 15
        # A gap is answered with the resume point; END before all bytes is refused.
        slot, received = transfer.begin(link, b"\x01" * 5000)
        assert slot == 1 - active and received == 0
        r = link.request(protocol.DATA, protocol.data_body(100, b"x"), check=False)
        assert r.status == protocol.OFFSET and struct.unpack("<I", r.body)[0] == 0
        assert link.request(protocol.END, check=False).status == 8
        # Bytes that do not match the announced sha256 are never activated.
        wrong = b"\x02" * 5000
        transfer.begin(link, b"\x01" * 5000)
        link.request(protocol.DATA, protocol.data_body(0, wrong[:4000]))
        link.request(protocol.DATA, protocol.data_body(4000, wrong[4000:]))
        assert link.request(protocol.END, check=False).status == protocol.SHA_MISMATCH
        assert link.request(protocol.ACTIVATE, bytes([1 - active]), check=False).status == 10
        # Well-formed bytes the runtime rejects (not a model image) are not activated either.
        junk = b"\x03" * 3000
        info = ops.info(link)
        transfer.send_image(link, junk, info)
        r = link.request(protocol.ACTIVATE, bytes([0xFF]), check=False, timeout_s=10)
        assert r.status == 11 and r.body[0] == 3  # TOR_ERR_MAGIC
        after = ops.info(link)
        assert after.active_slot == active and after.active_sha256 == m.sha256
        got = ops.run(link, m.inputs[0].tobytes(), max_chunk=after.max_chunk)
        assert np.array_equal(np.frombuffer(got.output, np.int8), m.outputs[0].reshape(-1))
        # Wrong input size for RUN; unknown command; malformed body.
        assert link.request(protocol.RUN, protocol.run_body(0, b"\0" * 1000, True), check=False).status == 16
        assert link.request(0x33, check=False).status == 1
        assert link.request(protocol.INFO, b"junk", check=False).status == 2


def test_ab_activate_rollback_and_reply_cache(boards, model_images) -> None:
    a, b_img = model_images["digits_cnn"], model_images["imu_cnn"]
    b = boards.start("posix")
    assert flash.flash_image(b.url, a.image, a.inputs, a.outputs).self_test == "pass"
    rep = flash.flash_image(b.url, b_img.image, b_img.inputs, b_img.outputs)
    assert rep.self_test == "pass" and rep.activated
    with _link(b) as link:
        info = ops.info(link)
        assert info.active_sha256 == b_img.sha256
        assert sorted(s.state for s in info.slots) == ["committed", "committed"]
        # A repeated sequence number is answered from the cache, not executed twice.
        seq = link.next_seq()
        for _ in range(2):
            link.send(protocol.ROLLBACK, seq)
            r = link.receive(5)
            assert r is not None and r.seq == seq and r.status == 0
        assert ops.info(link).active_sha256 == a.sha256
        ops.rollback(link)
        assert ops.info(link).active_sha256 == b_img.sha256
        ops.reset(link)
    with _link(b) as link:  # the newest commit survives a reset
        info = ops.info(link)
        assert info.active_sha256 == b_img.sha256 and info.boots == 2


def test_stats_counts_runs_and_input_histograms(boards, model_images) -> None:
    m = model_images["imu_cnn"]  # input (100, 6): 6 features on the last axis
    b = boards.start("posix")
    flash.flash_image(b.url, m.image)
    with _link(b) as link:
        ops.stats(link, reset_window=True, features=6)
        x = m.inputs[0]
        for _ in range(3):
            ops.run(link, x.tobytes(), max_chunk=4096)
        st = ops.stats(link, reset_window=True)
        assert st["counters"]["runs"] == 3 and st["counters"]["run_errors"] == 0
        assert st["features"] == 6 and st["bins"] == 16 and st["counters"]["last_count"] > 0
        flat = x.reshape(-1, 6)
        for f in range(6):
            want, _ = np.histogram(flat[:, f], bins=np.arange(-128, 129, 16))
            assert st["histograms"][f] == list(3 * want)
        assert sum(map(sum, ops.stats(link)["histograms"])) == 0  # the window was reset


def test_mlperf_replies_are_exact(boards, model_images) -> None:
    m = model_images["digits_cnn"]
    b = boards.start("posix")
    with _link(b) as link:
        assert link.ascii("name") == ["m-name-dut-[tinyops-fw-posix]"]
        assert link.ascii("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[none]"]
        assert link.ascii("infer 1 1") == ["e-[No model loaded: flash one with `tinyops flash`]"]
    flash.flash_image(b.url, m.image)
    with _link(b) as link:
        assert link.ascii("profile")[1] == "m-model-[tinyops-slot-0]"
        (lap,) = link.ascii("timestamp")
        assert lap.startswith("m-lap-us-") and lap[9:].isdigit()
        assert any("infer N W" in line for line in link.ascii("help"))
        assert link.ascii("db load") == ["e-[Command 'db load' requires the # of bytes]"]
        assert link.ascii("db load 0") == ["e-[Command 'db load' must be >0 bytes]"]
        assert link.ascii("db load 64") == ["m-[Expecting 64 bytes]"]
        assert link.ascii("db 0") == ["e-[Insufficent number of hex digits]"]
        assert link.ascii("db 0x") == ["e-[Invalid hex digit 'x']"]
        x = m.inputs[0].tobytes()
        assert link.ascii("db " + x[:31].hex()) == []
        assert link.ascii("db " + x[31:62].hex()) == []
        assert link.ascii("db " + x[62:].hex()) == ["m-load-done"]
        printed = link.ascii("db print")
        assert len(printed) == 8 and printed[0] == "m-buffer-" + "-".join(f"{v:02x}" for v in x[:8])
        assert link.ascii("db print 3 8") == ["m-buffer-" + "-".join(f"{v:02x}" for v in x[8:11])]
        assert link.ascii("infer 0 1") == ["e-[Inference iterations must be >0]"]
        assert link.ascii("infer 2 -1") == ["e-[Inference warmup must be >=0]"]
        lines = link.ascii("infer 3 2")
        assert lines[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-3"]
        assert lines[3].startswith("m-lap-us-") and lines[4].startswith("m-lap-us-")
        assert int(lines[4][9:]) >= int(lines[3][9:]) and lines[5] == "m-infer-done"
        scale, zp = 1 / 256, -128  # softmax output quantization
        want = ",".join(f"{(v - zp) * scale:.3f}" for v in m.outputs[0].astype(int))
        assert lines[6] == f"m-results-[{want}]"
        assert link.ascii("results") == [lines[6]]
        assert link.ascii("bogus") == ["e-[Unknown command: bogus]"]
        ops.reset(link)
        import time

        deadline = time.monotonic() + 3
        while b"m-init-done\r\nm-ready" not in link.decoder.text and time.monotonic() < deadline:
            link.decoder.feed(link.port.read(256))
        text = bytes(link.decoder.text)
        assert b"m-timestamp-mode-performance\r\nm-init-done\r\nm-ready\r\n" in text


def test_frames_and_ascii_share_the_port(boards) -> None:
    """Half a typed command, then a frame, then a command: both parsers resync."""
    b = boards.start("posix")
    with _link(b) as link:
        link.port.write(b"nam")
        assert ops.info(link).board == "posix"
        assert link.ascii("name") == ["m-name-dut-[tinyops-fw-posix]"]
        link.port.write(b"\xc0" + b"\x01" * 5000 + b"\xc0")  # oversize frame: dropped
        assert ops.stats(link)["counters"]["frames_dropped"] == 1


def test_fuzz_corpus_replays_clean() -> None:
    """The kept libFuzzer corpus runs through the sanitized parser without a finding."""
    corpus = FIRMWARE / "fuzz" / "corpus_frames"
    if not corpus.is_dir() or not any(corpus.iterdir()):
        pytest.fail("firmware/fuzz/corpus_frames is missing: run firmware/fuzz/run_frames_fuzz.sh")
    proc = subprocess.run(["bash", str(FIRMWARE / "fuzz" / "run_frames_fuzz.sh"), "--regress"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done" in proc.stderr or "INFO" in proc.stderr


def test_no_model_errors(boards) -> None:
    b = boards.start("posix")
    with _link(b) as link:
        assert link.request(protocol.RUN, protocol.run_body(0, b"", True), check=False).status == 12
        with pytest.raises(DeviceError, match="no committed earlier model"):
            ops.rollback(link)
        assert link.request(protocol.END, check=False).status == 6


def test_posix_board_on_a_pty(firmware_bins, tmp_path) -> None:
    """The same firmware on a pseudo-terminal, opened like a USB serial port."""
    import os
    import signal

    proc = subprocess.Popen([str(firmware_bins["posix"]), "--flash", str(tmp_path / "pty.flash"), "--pty"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline().split()
        assert first[0] == "PTY" and first[1].startswith("/dev/")
        with Link(first[1], reply_timeout_s=0.5) as link:
            link.drain()
            assert ops.info(link).board == "posix"
            assert link.ascii("name") == ["m-name-dut-[tinyops-fw-posix]"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)

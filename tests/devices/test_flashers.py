"""External flashers: the exact invocation each profile asks for, run as a
real subprocess (a recording stand-in for the tool on PATH), missing tools,
and esptool's own error against a socket with no chip behind it."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyops.cli.main import cli
from tinyops.devices import flashers, profiles
from tinyops.errors import DeviceError, InputError

EXPECTED = {
    "arduino-nano-33-ble-sense": ["bossac", "--port=/dev/ttyACM0", "-U", "-i", "-e", "-w", "{fw}", "-R"],
    "raspberry-pi-pico": ["picotool", "load", "-x", "{fw}"],
    "stm32-nucleo-l4r5zi": ["openocd", "-f", "interface/stlink.cfg", "-f", "target/stm32l4x.cfg", "-c",
                            "program {fw} verify reset exit 0x08000000"],
    "stm32-nucleo-u575zi-q": ["stm32flash", "-w", "{fw}", "-v", "-g", "0x08000000", "/dev/ttyACM0"],
    "esp32": ["esptool", "--chip", "esp32", "--port", "/dev/ttyACM0", "--baud", "460800", "write_flash",
              "0x10000", "{fw}"],
    "nrf52840-dk": ["openocd", "-f", "board/nordic_nrf52_dk.cfg", "-c", "program {fw} verify reset exit"],
    "esp32-s3": ["esptool", "--chip", "esp32s3", "--port", "/dev/ttyACM0", "--baud", "460800", "write_flash",
                 "0x10000", "{fw}"],
}


def _expected(profile_id: str, fw: Path) -> list[str]:
    return [a.replace("{fw}", str(fw)) for a in EXPECTED[profile_id]]


def test_every_profile_flasher_argv(tmp_path) -> None:
    fw = tmp_path / "fw.bin"
    for p in profiles.list_profiles():
        if p.flasher in (None, "tinyops-serial"):
            continue
        tool, argv = flashers.flasher_argv(p, firmware=fw, port="/dev/ttyACM0")
        assert argv == _expected(p.id, fw), p.id
        assert tool == argv[0]


def test_subprocess_flashers_run_with_exactly_that_argv(tmp_path, monkeypatch) -> None:
    """Each tool is replaced on PATH by a script that records its argv: the real
    subprocess path runs, only the hardware is missing."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv.log"
    for tool in flashers.SUBPROCESS_TOOLS:
        script = bindir / tool
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0" "$@" > {log}\necho flashed\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\x00" * 64)
    for pid in ("arduino-nano-33-ble-sense", "raspberry-pi-pico", "stm32-nucleo-l4r5zi", "stm32-nucleo-u575zi-q"):
        r = flashers.flash_firmware(fw, profiles.load(pid), port="/dev/ttyACM0")
        recorded = log.read_text().splitlines()
        assert [Path(recorded[0]).name, *recorded[1:]] == _expected(pid, fw)
        assert "flashed" in r.output
    # dfu-util: no shipped profile names it yet; a profile that does runs it the same way.
    import dataclasses

    dfu = dataclasses.replace(profiles.load("raspberry-pi-pico"), flasher="dfu-util",
                              flasher_args=("-a", "0", "-s", "0x08000000:leave", "-D", "{firmware}"))
    flashers.flash_firmware(fw, dfu, port=None)
    recorded = log.read_text().splitlines()
    assert [Path(recorded[0]).name, *recorded[1:]] == ["dfu-util", "-a", "0", "-s", "0x08000000:leave", "-D", str(fw)]
    # A failing tool is reported with its output.
    (bindir / "picotool").write_text("#!/bin/sh\necho 'No accessible RP2040 devices' >&2\nexit 3\n")
    with pytest.raises(DeviceError, match="picotool failed \\(exit 3\\): No accessible RP2040"):
        flashers.flash_firmware(fw, profiles.load("raspberry-pi-pico"), port=None)


def test_missing_tool_and_bad_requests_are_explained(tmp_path, monkeypatch) -> None:
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\x00")
    monkeypatch.setenv("PATH", str(tmp_path))  # no flashers at all
    with pytest.raises(DeviceError, match="openocd is not installed.*apt-get install openocd"):
        flashers.flash_firmware(fw, profiles.load("stm32-nucleo-l4r5zi"), port=None)
    with pytest.raises(InputError, match="does not exist"):
        flashers.flash_firmware(tmp_path / "nope.bin", profiles.load("esp32"), port="x")
    with pytest.raises(InputError, match="needs port"):
        flashers.flash_firmware(fw, profiles.load("esp32"), port=None)
    with pytest.raises(InputError, match="from its emulator"):
        flashers.flash_firmware(fw, profiles.load("qemu-mps2-an386"), port="socket://x:1")
    with pytest.raises(InputError, match="names no flasher"):
        flashers.flash_firmware(fw, profiles.load("raspberry-pi-4"), port=None)


def test_esptool_reports_no_chip_behind_a_socket(tmp_path) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(srv.accept()[0]), daemon=True).start()
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\x00" * 256)
    try:
        res = CliRunner().invoke(cli, ["flash", "--firmware", str(fw), "--device", "esp32", "--port",
                                       f"socket://127.0.0.1:{port}"], catch_exceptions=False)
    finally:
        for s in [*held, srv]:
            s.close()
    assert res.exit_code == 1
    assert "esptool: Failed to connect to ESP32: No serial data received" in res.output

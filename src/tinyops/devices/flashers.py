"""External flashers for whole firmware images, as each device profile names them.

esptool runs in-process through its Python API (it is a pip package); openocd,
picotool, dfu-util, bossac and stm32flash run as subprocesses with exactly the
argv the profile gives (``{port}``, ``{firmware}``, ``{build}`` filled in).
Model images do not go this way: `tinyops flash BUILD` sends them over the
update protocol.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyops.errors import DeviceError, InputError

SUBPROCESS_TOOLS = ("openocd", "picotool", "dfu-util", "bossac", "stm32flash")
FLASHER_TIMEOUT_S = 600.0
INSTALL_HINTS = {
    "openocd": "apt-get install openocd",
    "picotool": "apt-get install picotool (or build it from the Raspberry Pi pico-sdk tools)",
    "dfu-util": "apt-get install dfu-util",
    "bossac": "apt-get install bossa-cli",
    "stm32flash": "apt-get install stm32flash",
    "esptool": "pip install esptool (it is in tinyops[dev])",
}

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass
class FlasherResult:
    tool: str
    argv: list[str]
    seconds: float
    output: str

    def to_dict(self) -> dict:
        return asdict(self)


def fill_args(args: Sequence[str], *, port: str | None, firmware: str | None, build: str | None = None) -> list[str]:
    """Fill the profile's placeholders; a placeholder without a value is an error."""
    values = {"{port}": port, "{firmware}": firmware, "{build}": build}
    out = []
    for a in args:
        for key, val in values.items():
            if key in a:
                if val is None:
                    raise InputError(f"the flasher needs {key[1:-1]} (argument '{a}')",
                                     hint=f"pass --{key[1:-1]}")
                a = a.replace(key, val)
        out.append(a)
    return out


def flasher_argv(profile, *, firmware: str | Path, port: str | None) -> tuple[str, list[str]]:
    """(tool, argv) for a profile, exactly as it will run (argv[0] is the tool)."""
    tool = profile.flasher
    if tool is None:
        raise InputError(f"profile {profile.id} names no flasher",
                         hint="Pis update over MQTT: `tinyops rollout`; MCUs need a [flasher] section")
    if tool == "tinyops-serial":
        raise InputError(f"{profile.id} takes whole firmware images from its emulator, not a flasher",
                         hint="`tinyops sim start BOARD --firmware ELF` runs another firmware; models go with "
                              "`tinyops flash BUILD --port URL`")
    args = fill_args(profile.flasher_args, port=port, firmware=str(firmware))
    return tool, [tool, *args]


def _run_esptool(args: list[str]) -> str:
    try:
        import esptool
    except ImportError as e:
        raise DeviceError("esptool is not installed", hint=INSTALL_HINTS["esptool"]) from e
    import contextlib
    import io

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            esptool.main(args)
    except esptool.FatalError as e:
        raise DeviceError(f"esptool: {e}", hint="check the port, hold BOOT while resetting the board, "
                          "and try again") from e
    except SystemExit as e:  # argparse errors in esptool exit
        if e.code not in (0, None):
            raise DeviceError(f"esptool rejected its arguments {args}: {buf.getvalue()[-500:]}",
                              hint="fix the profile's [flasher] args") from e
    return buf.getvalue()


def _run_subprocess(argv: list[str], runner: Runner | None) -> str:
    if runner is None:
        if shutil.which(argv[0]) is None:
            raise DeviceError(f"{argv[0]} is not installed", hint=INSTALL_HINTS.get(argv[0], "install it"))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=FLASHER_TIMEOUT_S)
    else:
        proc = runner(argv)
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        raise DeviceError(f"{argv[0]} failed (exit {proc.returncode}): {output.strip()[-800:]}",
                          hint="check the cable, the port and that the board is in its bootloader")
    return output


def flash_firmware(firmware: str | Path, profile, *, port: str | None, runner: Runner | None = None) -> FlasherResult:
    """Write a whole firmware image with the profile's flasher."""
    firmware = Path(firmware)
    if not firmware.is_file():
        raise InputError(f"firmware image {firmware} does not exist", hint="give the path of a .bin/.elf/.uf2/.hex")
    tool, argv = flasher_argv(profile, firmware=firmware, port=port)
    t0 = time.monotonic()
    if tool == "esptool":
        output = _run_esptool(argv[1:])
    elif tool in SUBPROCESS_TOOLS:
        output = _run_subprocess(argv, runner)
    else:
        raise InputError(f"unknown flasher '{tool}' in profile {profile.id}",
                         hint=f"use one of: esptool, {', '.join(SUBPROCESS_TOOLS)}")
    return FlasherResult(tool, argv, time.monotonic() - t0, output)

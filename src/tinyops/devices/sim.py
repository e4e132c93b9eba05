"""Emulated boards in the background: QEMU (mps2-an386) and the posix firmware.

``start`` launches one and returns its serial URL; its state (pid, url, flash
file, log) is a JSON file under the workspace (``.tinyops/sims``) or, without
a workspace, under ``~/.cache/tinyops/sims``, so ``list`` and ``stop`` work
from another process. Boards are always stopped by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tinyops import package_data
from tinyops.errors import DeviceError, InputError, NotFoundError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

# Emulated board -> QEMU machine (`qemu-system-arm -M`); "posix" runs natively.
QEMU_MACHINES = {
    "qemu-microbit": "microbit",        # nRF51822, Cortex-M0
    "qemu-mps2-an385": "mps2-an385",    # Cortex-M3
    "qemu-mps2-an386": "mps2-an386",    # Cortex-M4F
    "qemu-mps2-an500": "mps2-an500",    # Cortex-M7
    "qemu-mps2-an505": "mps2-an505",    # Cortex-M33
    "qemu-mps3-an547": "mps3-an547",    # Cortex-M55
}
BOARDS = (*QEMU_MACHINES, "posix")
BOARD_ALIASES = {"qemu": "qemu-mps2-an386", "posix-sim": "posix"}
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
FIRMWARE_DIR_ENV = "TINYOPS_FIRMWARE_DIR"
QEMU = "qemu-system-arm"

# Popen handles of boards this process started, so stop() can reap them.
_children: dict[int, subprocess.Popen] = {}


@dataclass
class SimBoard:
    id: str
    board: str
    pid: int
    url: str
    port: int
    flash: str
    firmware: str
    log: str
    started: float

    def to_dict(self) -> dict:
        return asdict(self)


def state_dir(ws: Workspace | None = None) -> Path:
    if ws is not None:
        d = ws.path("sims")
    else:
        d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinyops" / "sims"
    d.mkdir(parents=True, exist_ok=True)
    return d


def firmware_dir() -> Path:
    env = os.environ.get(FIRMWARE_DIR_ENV)
    d = Path(env) if env else package_data.firmware_dir()
    if not (d / "Makefile").exists():
        raise DeviceError(f"firmware sources not found at {d}",
                          hint=f"reinstall tinyops, or point {FIRMWARE_DIR_ENV} at a firmware/ folder")
    return d


def canonical_board(board: str) -> str:
    board = BOARD_ALIASES.get(board, board)
    if board not in BOARDS:
        raise InputError(f"unknown emulated board '{board}'", hint=f"choose one of: {', '.join(BOARDS)}")
    return board


RUNTIMES = ("tinyops-c", "tflm", "tflm-cmsis-nn")
TFLM_VARIANT = {"tflm": "ref", "tflm-cmsis-nn": "cmsisnn"}


def build_firmware(board: str, runtime: str = "tinyops-c", opset: int | None = None) -> Path:
    """Build (once per source hash) the firmware for an emulated board; returns the binary.

    ``runtime``: tinyops-c, or TFLM with reference kernels (``tflm``) or CMSIS-NN
    (``tflm-cmsis-nn``, Cortex-M only), built from ``$TFLM_DIR``. ``opset``: a TOR_OPSET mask
    (tinyops.runtimes.tinyops_c.opset): a tinyops-c firmware with only those ops' kernels.
    The build runs in a temporary folder of the per-user cache and the binary is moved into
    place atomically, so concurrent builders never see half a file and the package's own
    folder is never written.
    """
    board = canonical_board(board)
    if runtime not in RUNTIMES:
        raise InputError(f"unknown firmware runtime '{runtime}'", hint=f"choose one of: {', '.join(RUNTIMES)}")
    d = firmware_dir()
    sources = [p for p in d.rglob("*") if p.is_file() and p.suffix in (".c", ".h", ".ld", ".mk", "", ".cc", ".def")
               and "build" not in p.relative_to(d).parts and "fuzz" not in p.relative_to(d).parts]
    if opset is not None and runtime != "tinyops-c":
        raise InputError("an op set applies to the tinyops-c runtime only",
                         hint="drop the op set, or use --runtime tinyops-c")
    make_vars, extra = [], []
    if opset is not None:  # tinyops-c with only these ops' kernels (firmware/runtime/tor_opset.h)
        from tinyops.runtimes.tinyops_c.opset import OpSet

        make_vars, extra = [OpSet(opset).make_var], [f"opset-{opset:x}"]
    if runtime != "tinyops-c":
        from tinyops.devices import tflm_build

        if board.startswith("qemu") and board != "qemu-mps2-an386":
            raise InputError(f"the TFLM firmware is built for the Cortex-M4F board only, not {board}",
                             hint="use qemu-mps2-an386, or --runtime tinyops-c")
        variant = TFLM_VARIANT[runtime] if board.startswith("qemu") else "host"
        if variant == "host" and runtime == "tflm-cmsis-nn":
            raise InputError("CMSIS-NN kernels run on Cortex-M only", hint="use --runtime tflm on the posix board")
        lib = tflm_build.build_library(variant)
        make_vars = [f"RUNTIME={runtime}", f"TFLM_LIB={lib.archive}", "TFLM_FLAGS=" + " ".join(lib.flags)]
        extra = [runtime, str(lib.archive)]
    key = package_data.tree_hash(sources, board, *extra, root=d)
    name = "tinyops-fw.elf" if board.startswith("qemu") else "tinyops-fw-posix"
    out = package_data.cache_dir("firmware", f"{board}-{runtime}-{key}" if extra else f"{board}-{key}")
    binary = out / name
    if binary.exists():
        return binary
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"build-{board}-", dir=out.parent))
    try:
        proc = subprocess.run(["make", "-s", "-C", str(d), f"BOARD={board}", f"OUT={tmp}", *make_vars],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise DeviceError(f"building the {board} firmware ({runtime}) failed:\n{proc.stderr[-2000:]}",
                              hint="`make install` puts gcc-arm-none-eabi, newlib and qemu-system-arm in place")
        out.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / name, binary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeviceError(f"the emulated board exited at start: {log.read_text()[-1500:]}",
                              hint="see the log above")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    _kill(proc.pid)
    raise DeviceError(f"the emulated board did not open port {port} within {START_TIMEOUT_S:.0f} s",
                      hint=f"see {log}")


def start(board: str, *, flash: str | Path | None = None, ws: Workspace | None = None, firmware: str | Path | None = None,
          port: int | None = None, runtime: str = "tinyops-c") -> SimBoard:
    """Start an emulated board in the background; returns its record (with ``url``)."""
    board = canonical_board(board)
    fw = Path(firmware) if firmware else build_firmware(board, runtime)
    if not fw.exists():
        raise InputError(f"firmware {fw} does not exist", hint="omit --firmware to build the default one")
    sim_id = f"{'qemu' if board.startswith('qemu') else 'posix'}-{secrets.token_hex(3)}"
    d = state_dir(ws)
    flash_path = Path(flash).resolve() if flash else d / f"{sim_id}.flash"
    log = d / f"{sim_id}.log"
    port = port or _free_port()
    if board in QEMU_MACHINES:
        if shutil.which(QEMU) is None:
            raise DeviceError(f"{QEMU} is not installed", hint="`make install` (apt: qemu-system-arm)")
        if "," in str(flash_path):
            raise InputError("the flash file path must not contain a comma (QEMU option syntax)")
        argv = [QEMU, "-M", QEMU_MACHINES[board], "-display", "none", "-monitor", "none", "-nodefaults", "-nic", "none",
                "-chardev", f"socket,id=uart0,host=127.0.0.1,port={port},server=on,wait=off,nodelay=on",
                "-serial", "chardev:uart0",
                "-semihosting-config", f"enable=on,target=native,arg=tinyops-fw,arg={flash_path}",
                "-icount", "shift=0", "-kernel", str(fw)]
    else:
        argv = [str(fw), "--flash", str(flash_path), "--port", str(port)]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _children[proc.pid] = proc
    _wait_port(port, proc, log)
    sim = SimBoard(sim_id, board, proc.pid, f"socket://127.0.0.1:{port}", port, str(flash_path), str(fw),
                   str(log), time.time())
    (d / f"{sim_id}.json").write_text(json.dumps(sim.to_dict(), indent=2))
    return sim


def list_sims(ws: Workspace | None = None) -> list[SimBoard]:
    """Running boards; records of boards that died are removed."""
    out = []
    for f in sorted(state_dir(ws).glob("*.json")):
        try:
            sim = SimBoard(**json.loads(f.read_text()))
        except (ValueError, TypeError):
            f.unlink(missing_ok=True)
            continue
        if _alive(sim.pid):
            out.append(sim)
        else:
            f.unlink(missing_ok=True)
    return out


def _kill(pid: int, *, hard: bool = False) -> None:
    try:
        os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
    except ProcessLookupError:
        pass
    child = _children.pop(pid, None)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if child is not None:
        child.wait(STOP_TIMEOUT_S)


def stop(sim_id: str, ws: Workspace | None = None, *, hard: bool = False) -> SimBoard:
    """Stop one board by id (SIGTERM, then SIGKILL); ``hard`` is a power cut."""
    f = state_dir(ws) / f"{sim_id}.json"
    if not f.exists():
        known = ", ".join(s.id for s in list_sims(ws)) or "none running"
        raise NotFoundError(f"no emulated board '{sim_id}'", hint=f"`tinyops sim list` shows them ({known})")
    sim = SimBoard(**json.loads(f.read_text()))
    _kill(sim.pid, hard=hard)
    f.unlink(missing_ok=True)
    return sim

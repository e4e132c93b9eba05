"""tinyops as a user installs it: the wheel, in a fresh virtualenv, outside the checkout.

`python -m build` makes the sdist and, from the sdist, the wheel; the wheel must hold
the device profiles and the firmware/runtime sources (not the fuzz corpora, not build
output) and the sdist must give the same wheel as the checkout. The wheel goes
(non-editable, with its `train` and `agent` extras) into a new venv, and from a folder
outside the checkout the venv's own `tinyops` runs the loop: init, data add, train,
convert --quant int8, evaluate --runtime tinyops-c, device-profile list/check, build
for qemu-mps2-an386 and raspberry-pi-4, sim start, flash, bench, and a rollout to one
`tinyops-agent` from the same venv through a real Mosquitto on free ports.

Builds go to the per-user cache, keyed by a hash of the installed package's own
sources (so a file missing from the wheel would mean a rebuild from the wheel's
files, which would fail); compiling TFLM from scratch per run would take minutes.
Every process started is stopped by PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from fixtures_fleet import free_port, mosquitto_dir
from paths import EXAMPLES, REPO

pytestmark = pytest.mark.slow

RECIPE = """
[model]
name = "digits"
description = "installed-wheel test MLP"

[data]
dataset = "digits@1"
inputs = ["p*"]
label = "label"

[split]
train = 0.8
validation = 0.1
test = 0.1

[architecture]
kind = "mlp"
hidden = [16]

[train]
epochs = 2
batch_size = 32
learning_rate = 0.003
seed = 7
"""

# What the wheel must hold (besides the Python modules) and must not hold.
MUST_SHIP = [
    "tinyops/py.typed",
    "tinyops/device_profiles/qemu-mps2-an386.toml",
    "tinyops/device_profiles/raspberry-pi-4.toml",
    "tinyops/firmware/Makefile",
    "tinyops/firmware/src/proto.c",
    "tinyops/firmware/src/proto.h",
    "tinyops/firmware/runtime/tinyops_rt.h",
    "tinyops/firmware/runtime/tor_format.h",
    "tinyops/firmware/boards/qemu-mps2-an386/link.ld",
    "tinyops/firmware/boards/posix/board.mk",
]


def _wheel_names(whl: Path) -> set[str]:
    with zipfile.ZipFile(whl) as z:
        return {n for n in z.namelist() if ".dist-info/" not in n}


def _run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist + wheel-from-sdist by `python -m build`; the same file list as a wheel built from the checkout."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], timeout=600)
    (whl,) = out.glob("tinyops-*.whl")
    (sdist,) = out.glob("tinyops-*.tar.gz")
    # the same wheel straight from the source tree (a copy: no stale build/ folder of the checkout counts)
    tree = tmp_path_factory.mktemp("tree")
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for rel in filter(None, listed.split("\0")):
        if (REPO / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tree / rel)
    direct = tmp_path_factory.mktemp("dist-direct")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(direct), str(tree)], timeout=600)
    (whl_direct,) = direct.glob("tinyops-*.whl")
    names = _wheel_names(whl)
    assert names == _wheel_names(whl_direct), "the sdist must build the same wheel as the checkout"
    with tarfile.open(sdist) as t:
        sdist_names = t.getnames()
    assert any(n.endswith("src/tinyops/device_profiles/raspberry-pi-4.toml") for n in sdist_names)
    assert any(n.endswith("src/tinyops/firmware/runtime/tor_format.h") for n in sdist_names)
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = _wheel_names(wheel)
    missing = [n for n in MUST_SHIP if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    shipped = {p.relative_to(REPO / "src").as_posix() for p in (REPO / "src" / "tinyops" / "device_profiles").glob("*.toml")}
    assert shipped <= names, f"profiles missing from the wheel: {sorted(shipped - names)}"
    fw = REPO / "src" / "tinyops" / "firmware"
    sources = {p.relative_to(REPO / "src").as_posix() for p in fw.rglob("*")
               if p.is_file() and not p.name.startswith(".") and p.suffix not in (".o", ".d", ".pyc")
               and not {"fuzz", "build", "__pycache__"} & set(p.relative_to(fw).parts)}
    assert sources <= names, f"firmware/runtime sources missing from the wheel: {sorted(sources - names)}"
    unwanted = [n for n in names if "/fuzz/" in n or "/build/" in n or "__pycache__" in n
                or n.endswith((".o", ".elf", ".so", ".a", ".bin"))]
    assert not unwanted, f"the wheel must not ship fuzz corpora or build output: {unwanted[:10]}"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with the wheel and its train+agent extras, not editable."""
    root = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(root)])
    _run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[train,agent]"], timeout=1200)
    return root


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TINYOPS_HOME", "TINYOPS_PROFILES", "TINYOPS_RUNTIME_SRC", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(venv), PYTHONNOUSERSITE="1")
    return env


@pytest.mark.timeout(1800)  # includes building the wheel and installing TensorFlow into the venv
def test_installed_loop(wheel: Path, venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    env = _env(venv)
    tinyops = str(venv / "bin" / "tinyops")

    def cli(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return _run([tinyops, *args], cwd=cwd or ws, env=env, check=check)

    def cli_json(*args: str) -> dict:
        return json.loads(cli(*args, "--json").stdout)

    # The venv's tinyops is the wheel's, not the checkout's.
    where = _run([str(venv / "bin" / "python"), "-c", "import tinyops, tinyops.package_data as p; "
                  "print(tinyops.__file__); print(p.firmware_dir())"], cwd=home, env=env).stdout.split()
    assert all(Path(w).is_relative_to(venv) for w in where), where
    assert not any(Path(w).is_relative_to(REPO) for w in where), where

    ws = home / "ws"
    cli("init", str(ws), cwd=home)
    assert (ws / ".tinyops").is_dir()

    sys.path.insert(0, str(EXAMPLES / "digits"))
    try:
        from prepare import prepare
    finally:
        sys.path.pop(0)
    data = prepare(home / "data")
    assert cli_json("data", "add", "digits", str(data))["ref"] == "digits@1"
    (home / "recipe.toml").write_text(RECIPE)
    assert cli_json("train", str(home / "recipe.toml"))["model"] == "digits@1"
    assert cli_json("convert", "digits@1", "--quant", "int8")["ops"] == ["FULLY_CONNECTED", "SOFTMAX"]
    ev = cli_json("evaluate", "digits@1:int8", "--runtime", "tinyops-c")
    assert ev["runtime"] == "tinyops-c" and 0.0 <= ev["accuracy"] <= 1.0

    ids = {p["id"] for p in cli_json("device-profile", "list")}
    shipped = {Path(n).stem for n in _wheel_names(wheel)
               if n.startswith("tinyops/device_profiles/") and n.endswith(".toml") and not Path(n).stem.startswith("_")}
    assert len(shipped) > 5 and shipped <= ids, f"device-profile list lacks {sorted(shipped - ids)}"
    fit = cli_json("device-profile", "check", "digits@1:int8", "--device", "qemu-mps2-an386")
    assert fit.get("fits") is True, fit

    mcu = cli_json("build", "digits@1:int8", "--device", "qemu-mps2-an386")
    pi = cli_json("build", "digits@1:int8", "--device", "raspberry-pi-4")
    mcu_id, pi_id = mcu["build"], pi["build"]
    assert (mcu["runtime"], pi["runtime"]) == ("tinyops-c", "litert") and mcu_id != pi_id
    assert not list((venv / "lib").rglob("firmware/build")), "nothing may be built inside the installed package"

    # sim start, flash, bench: the firmware built from the installed package's sources
    board = cli_json("sim", "start", "qemu-mps2-an386")
    try:
        fw = Path(board["firmware"])
        assert fw.is_file() and not fw.is_relative_to(venv) and not fw.is_relative_to(REPO), fw
        flashed = cli_json("flash", mcu_id, "--port", board["url"])
        assert flashed["self_test"] == "pass", flashed
        bench = cli_json("bench", "--port", board["url"], "--runs", "3", "--warmup", "1")
        assert bench["build"] == mcu_id and bench["agreement"] == 1.0, bench
    finally:
        cli("sim", "stop", board["id"], check=False)

    # a rollout to one tinyops-agent from the same venv, through Mosquitto on free ports
    bdir = mosquitto_dir("tinyops-wheel-broker-")
    port, host_port, local = free_port(), free_port(), free_port()
    cli_json("broker", "setup", "--dir", str(bdir), "--port", str(port), "--host-port", str(host_port),
             "--local-port", str(local), "--bind", "127.0.0.1", "--host", "127.0.0.1")
    agent: subprocess.Popen | None = None
    try:
        cli_json("broker", "start")
        reg = cli_json("device", "register", "pi-1", "--profile", "raspberry-pi-4", "--group", "lab",
                       "--http-port", "0")
        config = Path(reg["agent_config"])
        log = open(tmp_path / "agent.log", "wb")
        agent = subprocess.Popen([str(venv / "bin" / "tinyops-agent"), "--config", str(config)], cwd=home, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        log.close()
        port_file = config.parent / "state" / "http.port"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert agent.poll() is None, (tmp_path / "agent.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the agent never opened its HTTP port"
            time.sleep(0.1)
        r = cli("fleet", "rollout", pi_id, "--group", "lab", "--canary", "100%", "--batch", "100%",
                "--health-timeout", "90s", "--json", check=False)
        assert r.returncode == 0, f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}\n{(tmp_path / 'agent.log').read_text()[-3000:]}"
        rollout = json.loads(r.stdout)
        assert rollout["state"] == "completed", rollout
        st = cli_json("fleet", "status", "--group", "lab")
        assert [d["build"] for d in st["devices"]] == [pi_id], st
    finally:
        if agent is not None and agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(10)
        cli("broker", "stop", check=False)

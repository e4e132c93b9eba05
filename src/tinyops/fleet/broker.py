"""The Mosquitto broker tinyops configures and runs.

``setup`` writes, into one folder: a private CA and a server certificate for
the TLS listener, ``passwd`` (Mosquitto's PBKDF2-SHA512 hashes), ``acl``
generated from the registered devices, ``mosquitto.conf`` and ``data/``
(persistence, so retained builds and desired states survive a restart).
``start`` runs Mosquitto as a child with a pid file; registering a device
rewrites ``passwd``/``acl`` and sends SIGHUP so a running broker reloads them.

Without Mosquitto (or with ``embedded=True``) ``start`` runs tinyops' own
pure-Python broker (:mod:`.embedded_broker`) on the same folder, files and
ports instead; ``status`` says which one runs and what the embedded one does
not guarantee.

When started as root Mosquitto drops to user ``mosquitto``: the folder's
parents must be traversable by that user, ``data/`` must be writable by it,
and the files it reads after dropping (passwd, acl, server key) are made
group-readable by group ``mosquitto``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyops.errors import FleetError, InputError
from tinyops.registry import devices as devices_reg
from tinyops.fleet import certs, topics
from tinyops.fleet.mqtt import BrokerAddress

HOST_USER = "tinyops-host"
POINTER = "broker.json"  # in .tinyops/: which folder holds this workspace's broker
SETTINGS = "broker.json"  # in the broker folder
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes


def mosquitto_hash(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Hash in Mosquitto 2's password-file format: ``$7$iter$salt_b64$hash_b64``."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_hash(password: str, hashed: str) -> bool:
    _, kind, iters, salt, digest = hashed.split("$")
    if kind != "7":
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iters), 64)
    return secrets.compare_digest(base64.b64encode(got).decode(), digest)


@dataclass
class BrokerSettings:
    dir: str
    port: int = 8883  # TLS listener
    bind: str = "0.0.0.0"
    local_port: int | None = None  # optional plain listener on 127.0.0.1 (host tools only)
    hosts: list[str] = field(default_factory=list)  # names in the server certificate
    host_user: str = HOST_USER
    host_password: str = ""

    @property
    def path(self) -> Path:
        return Path(self.dir)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["host_password"] = "(in broker.json, mode 0600)"
        d.update(config=str(self.path / "mosquitto.conf"), ca_cert=str(self.path / "ca.crt"))
        return d


@dataclass
class BrokerStatus:
    running: bool
    pid: int | None
    dir: str
    port: int
    local_port: int | None
    devices: int
    log: str
    kind: str | None = None  # "mosquitto" or "embedded" while running
    limitations: list[str] = field(default_factory=list)  # what the running broker does not guarantee

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- where the broker lives ---------------------------------------------------
def _mosquitto_ids() -> tuple[int, int] | None:
    try:
        pw = pwd.getpwnam("mosquitto")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return None


def _reachable_by_mosquitto(path: Path) -> bool:
    ids = _mosquitto_ids()
    if os.geteuid() != 0 or ids is None:
        return True  # Mosquitto keeps our user: it can read what we can
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == ids[0] and st.st_mode & 0o100)
                or (st.st_gid == ids[1] and st.st_mode & 0o010)):
            return False
    return True


def default_dir(ws: Any) -> Path:
    own = ws.path("broker")
    if _reachable_by_mosquitto(own):
        return own
    # As root inside a private home, user mosquitto cannot reach .tinyops: use
    # a per-workspace folder under /var/lib instead of loosening $HOME.
    tag = hashlib.sha256(str(ws.root).encode()).hexdigest()[:10]
    return Path("/var/lib/tinyops/brokers") / tag


def load(ws: Any) -> BrokerSettings:
    pointer = ws.path(POINTER)
    if not pointer.exists():
        raise FleetError("no broker is set up for this workspace", hint="run `tinyops broker setup`")
    d = Path(json.loads(pointer.read_text())["dir"])
    try:
        return BrokerSettings(**json.loads((d / SETTINGS).read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise FleetError(f"the broker settings in {d} are unreadable: {e}", hint="run `tinyops broker setup` again") from e


def host_address(ws: Any) -> BrokerAddress:
    """How host-side commands (publish, rollout, status) reach the broker."""
    s = load(ws)
    return BrokerAddress(host="127.0.0.1" if "127.0.0.1" in s.hosts else s.hosts[0], port=s.port,
                         username=s.host_user, password=s.host_password, tls=True,
                         ca_pem=(s.path / "ca.crt").read_text())


def _write(path: Path, text: str, mode: int = 0o644, group_mosquitto: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    ids = _mosquitto_ids()
    if group_mosquitto and os.geteuid() == 0 and ids:
        os.chown(tmp, 0, ids[1])
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def setup(ws: Any, directory: Path | str | None = None, *, port: int = 8883, local_port: int | None = None,
          hosts: list[str] | None = None, bind: str = "0.0.0.0") -> BrokerSettings:
    """Create (or refresh) the broker folder; keeps an existing CA and host password."""
    d = Path(directory).resolve() if directory else default_dir(ws)
    if not _reachable_by_mosquitto(d):
        raise InputError(f"user 'mosquitto' cannot reach {d} (a parent folder is private)",
                         hint="pass --dir with a folder under e.g. /srv or /var/lib, or chmod o+x its parents")
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    old: BrokerSettings | None = None
    if (d / SETTINGS).exists():
        old = BrokerSettings(**json.loads((d / SETTINGS).read_text()))
    host_names = list(dict.fromkeys(hosts or ["localhost", "127.0.0.1", socket.gethostname()]))
    certs.make_ca(d)
    key, _ = certs.make_server_cert(d, host_names)
    ids = _mosquitto_ids()
    if os.geteuid() == 0 and ids:
        os.chown(key, 0, ids[1])
        os.chmod(key, 0o640)
    data = d / "data"
    data.mkdir(exist_ok=True)
    if os.geteuid() == 0 and ids:
        os.chown(data, *ids)
    os.chmod(data, 0o700)
    s = BrokerSettings(dir=str(d), port=port, bind=bind, local_port=local_port, hosts=host_names,
                       host_password=old.host_password if old else secrets.token_urlsafe(24))
    _write(d / SETTINGS, json.dumps(asdict(s), indent=2) + "\n", mode=0o600)
    _write(d / "mosquitto.conf", _config(s))
    _write(ws.path(POINTER), json.dumps({"dir": str(d)}) + "\n")
    write_auth(ws, s)
    return s


def _config(s: BrokerSettings) -> str:
    d = s.path
    lines = [
        "# written by `tinyops broker setup`; rerun it instead of editing",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {d / 'passwd'}",
        f"acl_file {d / 'acl'}",
        "persistence true",
        f"persistence_location {d / 'data'}/",
        "autosave_interval 1",  # retained builds/desired survive even an unclean stop
        "log_dest stdout",
        "log_type error", "log_type warning", "log_type notice",
        "set_tcp_nodelay true",
        "max_queued_messages 10000",
        "",
        f"listener {s.port} {s.bind}",
        f"cafile {d / 'ca.crt'}",
        f"certfile {d / 'server.crt'}",
        f"keyfile {d / 'server.key'}",
        "tls_version tlsv1.2",
        "require_certificate false",
    ]
    if s.local_port:
        lines += ["", f"listener {s.local_port} 127.0.0.1"]
    return "\n".join(lines) + "\n"


def _acl(ws: Any, s: BrokerSettings) -> str:
    out = ["# written by tinyops from the device registry; do not edit", "",
           f"user {s.host_user}", f"topic readwrite {topics.ROOT}/#", ""]
    for dev in devices_reg.list_devices(ws):
        out.append(f"user {dev.id}")
        out.append(f"topic read {topics.builds_filter()}")
        # A gateway also speaks for the microcontrollers attached to it.
        for did in [dev.id, *(m.id for m in devices_reg.gatewayed(ws, dev.id))]:
            out.append(f"topic read {topics.desired(did)}")
            out.extend(f"topic write {topics.device(did, k)}" for k in ("reported", "status", "events", "telemetry"))
        out.append("")
    return "\n".join(out)


def write_auth(ws: Any, s: BrokerSettings | None = None) -> None:
    """Regenerate passwd and acl from the registry."""
    s = s or load(ws)
    lines = [f"{s.host_user}:{mosquitto_hash(s.host_password)}"]
    lines += [f"{d.id}:{d.password_hash}" for d in devices_reg.list_devices(ws)
              if d.gateway is None or d.gateway == d.id]  # MCUs behind a gateway have no login of their own
    _write(s.path / "passwd", "\n".join(lines) + "\n", mode=0o640, group_mosquitto=True)
    _write(s.path / "acl", _acl(ws, s), mode=0o640, group_mosquitto=True)


def sync(ws: Any) -> bool:
    """After a registry change: rewrite auth files and make a running broker reload them."""
    try:
        s = load(ws)
    except FleetError:
        return False
    write_auth(ws, s)
    pid = _running_pid(s)
    if pid:
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.2)  # Mosquitto reloads on its next loop iteration
    return True


# ---- process ------------------------------------------------------------------
EMBEDDED_MODULE = "tinyops.fleet.embedded_broker"


def mosquitto_exe() -> str | None:
    exe = shutil.which("mosquitto")
    return exe or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def _pid_file(s: BrokerSettings, kind: str = "mosquitto") -> Path:
    return s.path / ("mosquitto.pid" if kind == "mosquitto" else "embedded-broker.pid")


def _log_file(s: BrokerSettings, kind: str) -> Path:
    return s.path / ("mosquitto.log" if kind == "mosquitto" else "embedded-broker.log")


def _running(s: BrokerSettings) -> tuple[str, int] | None:
    """Which of our brokers runs on this folder, and its pid."""
    for kind, marks in (("mosquitto", ["mosquitto", str(s.path / "mosquitto.conf")]),
                        ("embedded", [EMBEDDED_MODULE, str(s.path)])):
        try:
            pid = int(_pid_file(s, kind).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        # A recycled pid must not be taken for our broker.
        if all(m in cmdline for m in marks):
            try:
                if Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z":
                    continue
            except OSError:
                continue
            return kind, pid
    return None


def _running_pid(s: BrokerSettings) -> int | None:
    r = _running(s)
    return r[1] if r else None


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def status(ws: Any) -> BrokerStatus:
    from tinyops.fleet.embedded_broker import LIMITATIONS

    s = load(ws)
    run = _running(s)
    kind = run[0] if run else None
    return BrokerStatus(running=run is not None, pid=run[1] if run else None, dir=s.dir, port=s.port,
                        local_port=s.local_port, devices=len(devices_reg.list_devices(ws)),
                        log=str(_log_file(s, kind or ("mosquitto" if mosquitto_exe() else "embedded"))),
                        kind=kind, limitations=list(LIMITATIONS) if kind == "embedded" else [])


def start(ws: Any, timeout: float = 10.0, *, embedded: bool | None = None) -> BrokerStatus:
    """Start Mosquitto, or the embedded Python broker when ``embedded`` is true
    or (``None``) when Mosquitto is not installed or ``TINYOPS_BROKER=embedded``.
    A running broker is left as is."""
    s = load(ws)
    if _running_pid(s):
        return status(ws)
    if _port_open(s.port):
        raise FleetError(f"port {s.port} is already in use", hint="stop the other broker or rerun `tinyops broker setup --port N`")
    write_auth(ws, s)
    exe = mosquitto_exe()
    if embedded is None:
        embedded = exe is None or os.environ.get("TINYOPS_BROKER") == "embedded"
    kind = "embedded" if embedded else "mosquitto"
    if kind == "mosquitto" and exe is None:
        raise FleetError("Mosquitto is not installed",
                         hint="apt-get install mosquitto (or `make install`), or use `tinyops broker start --embedded`")
    argv = ([exe, "-c", str(s.path / "mosquitto.conf")] if kind == "mosquitto"
            else [sys.executable, "-m", EMBEDDED_MODULE, "--dir", str(s.path)])
    log_path = _log_file(s, kind)
    log = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
                            stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    log.close()
    _pid_file(s, kind).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _pid_file(s, kind).unlink(missing_ok=True)
            tail = log_path.read_text(errors="replace")[-800:]
            raise FleetError(f"{kind} broker exited at start (code {proc.returncode}): {tail.strip()}",
                             hint=f"see {log_path}")
        if _port_open(s.port) and (not s.local_port or _port_open(s.local_port)):
            return status(ws)
        time.sleep(0.05)
    proc.kill()
    raise FleetError(f"{kind} broker did not open port {s.port} within {timeout:.0f} s", hint=f"see {log_path}")


def stop(ws: Any, timeout: float = 10.0) -> BrokerStatus:
    s = load(ws)
    pid = _running_pid(s)
    if pid:
        os.kill(pid, signal.SIGTERM)  # both brokers save their retained messages on SIGTERM
        deadline = time.monotonic() + timeout
        while _running_pid(s) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap if it is our own child
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if _running_pid(s):
            os.kill(pid, signal.SIGKILL)
    _pid_file(s, "mosquitto").unlink(missing_ok=True)
    _pid_file(s, "embedded").unlink(missing_ok=True)
    return status(ws)

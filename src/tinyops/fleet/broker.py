"""The Mosquitto broker tinyops configures and runs.

``setup`` writes, into one folder (``.tinyops/broker`` unless ``--dir``): a private CA and a server
certificate, ``passwd`` (Mosquitto's PBKDF2-SHA512 hashes), ``acl`` generated from the registered
devices, ``mosquitto.conf`` and ``data/`` (persistence). Everything is owned by the user who runs
tinyops, and the config names that user in ``user`` so Mosquitto started as root stays root instead
of dropping to ``mosquitto`` (which could not read a private home).

Two TLS listeners: devices dial ``port``, where the client id is the username
(``use_username_as_clientid``: a device cannot take over another's session); host tools (publish,
rollout, collectors, several at once) dial ``host_port``, where only the host user may log in.
Packet size, in-flight and queued messages and connections are limited.

``start`` runs Mosquitto as a child with a pid file; registering a device rewrites ``passwd``/``acl``
and sends SIGHUP so a running broker reloads them. Past one machine: ``docs/brokers.md``.
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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import atomic
from tinyops.errors import FleetError, InputError
from tinyops.registry import devices as devices_reg
from tinyops.fleet import certs, topics
from tinyops.fleet.mqtt import BrokerAddress
from tinyops.fleet.transfer import DEFAULT_CHUNK

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

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


# Limits written into mosquitto.conf. A build chunk (transfer.DEFAULT_CHUNK,
# 64 KiB) plus its envelope and headers must fit a packet; nothing else a
# device or the host sends is larger than a chunk.
PACKET_SIZE_PER_CHUNK = 4
MAX_INFLIGHT = 20            # unacknowledged QoS 1 messages per client
MAX_QUEUED = 2000            # messages queued for one client (a whole build's chunks fit)
MAX_QUEUED_BYTES = 128 << 20
MAX_DEVICE_CONNECTIONS = 10000
MAX_HOST_CONNECTIONS = 64


def max_packet_size(chunk_size: int = DEFAULT_CHUNK) -> int:
    return PACKET_SIZE_PER_CHUNK * chunk_size


@dataclass
class BrokerSettings:
    dir: str
    port: int = 8883  # TLS listener for devices (client id = username)
    bind: str = "0.0.0.0"
    local_port: int | None = None  # optional plain listener on 127.0.0.1 (host tools only)
    hosts: list[str] = field(default_factory=list)  # names in the server certificate
    host_user: str = HOST_USER
    host_password: str = ""
    host_port: int | None = None  # TLS listener for host tools; default port + 1
    chunk_size: int = DEFAULT_CHUNK
    max_connections: int = MAX_DEVICE_CONNECTIONS

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def host_listener(self) -> int:
        return self.host_port or self.port + 1

    @property
    def max_packet_size(self) -> int:
        return max_packet_size(self.chunk_size)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["host_password"] = "(in broker.json, mode 0600)"
        d.update(host_port=self.host_listener, max_packet_size=self.max_packet_size,
                 config=str(self.path / "mosquitto.conf"), ca_cert=str(self.path / "ca.crt"))
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
    host_port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_dir(ws: Workspace) -> Path:
    return ws.path("broker")


def load(ws: Workspace) -> BrokerSettings:
    pointer = ws.path(POINTER)
    if not pointer.exists():
        raise FleetError("no broker is set up for this workspace", hint="run `tinyops broker setup`")
    d = Path(json.loads(pointer.read_text())["dir"])
    try:
        return BrokerSettings(**json.loads((d / SETTINGS).read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise FleetError(f"the broker settings in {d} are unreadable: {e}", hint="run `tinyops broker setup` again") from e


def host_address(ws: Workspace) -> BrokerAddress:
    """How host-side commands (publish, rollout, status, collectors) reach the broker."""
    s = load(ws)
    return BrokerAddress(host="127.0.0.1" if "127.0.0.1" in s.hosts else s.hosts[0], port=s.host_listener,
                         username=s.host_user, password=s.host_password, tls=True,
                         ca_pem=(s.path / "ca.crt").read_text())


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    atomic.write_text(path, text, mode=mode)


def setup(ws: Workspace, directory: Path | str | None = None, *, port: int = 8883, local_port: int | None = None,
          hosts: list[str] | None = None, bind: str = "0.0.0.0", host_port: int | None = None) -> BrokerSettings:
    """Create (or refresh) the broker folder; keeps an existing CA and host password."""
    d = Path(directory).resolve() if directory else default_dir(ws)
    if port == 0:  # any free ports: one for devices, one for host tools
        with socket.socket() as a, socket.socket() as b:
            for sock in (a, b):
                sock.bind(("127.0.0.1" if bind in ("", "0.0.0.0") else bind, 0))
            port, host_port = a.getsockname()[1], host_port or b.getsockname()[1]
    hp = host_port or port + 1
    if hp == port or hp == local_port:
        raise InputError(f"the host port {hp} must differ from the device port and the local port",
                         hint="pass --host-port N")
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    old: BrokerSettings | None = None
    if (d / SETTINGS).exists():
        old = BrokerSettings(**json.loads((d / SETTINGS).read_text()))
    host_names = list(dict.fromkeys(hosts or ["localhost", "127.0.0.1", socket.gethostname()]))
    certs.make_ca(d)
    certs.make_server_cert(d, host_names)
    data = d / "data"
    data.mkdir(exist_ok=True)
    os.chmod(data, 0o700)
    s = BrokerSettings(dir=str(d), port=port, bind=bind, local_port=local_port, hosts=host_names,
                       host_password=old.host_password if old else secrets.token_urlsafe(24), host_port=hp)
    _write(d / SETTINGS, json.dumps(asdict(s), indent=2) + "\n", mode=0o600)
    _write(d / "mosquitto.conf", _config(s))
    _write(ws.path(POINTER), json.dumps({"dir": str(d)}) + "\n")
    write_auth(ws, s)
    return s


def _tls(d: Path) -> list[str]:
    return [f"cafile {d / 'ca.crt'}", f"certfile {d / 'server.crt'}", f"keyfile {d / 'server.key'}",
            "tls_version tlsv1.2", "require_certificate false"]


def _config(s: BrokerSettings) -> str:
    d = s.path
    host_auth = ["allow_anonymous false", f"password_file {d / 'passwd.host'}", f"acl_file {d / 'acl'}"]
    lines = [
        "# written by `tinyops broker setup`; rerun it instead of editing",
        # Stay the user who owns these files, also when started as root.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        "per_listener_settings true",
        "persistence true",
        f"persistence_location {d / 'data'}/",
        # Save on change: autosave_interval counts changes (retained messages, subscriptions),
        # and 1 means the database is written after every one, so a SIGKILL loses at most the
        # change in flight (and the host re-checks what the broker holds anyway).
        "autosave_on_changes true",
        "autosave_interval 1",
        "log_dest stdout",
        "log_type error", "log_type warning", "log_type notice",
        "set_tcp_nodelay true",
        f"max_packet_size {s.max_packet_size}",
        f"max_inflight_messages {MAX_INFLIGHT}",
        f"max_queued_messages {MAX_QUEUED}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "",
        "# devices: the client id is the username, so no device can take over another's session",
        f"listener {s.port} {s.bind}",
        f"max_connections {s.max_connections}",
        "use_username_as_clientid true",
        "allow_anonymous false", f"password_file {d / 'passwd'}", f"acl_file {d / 'acl'}",
        *_tls(d),
        "",
        "# host tools (publish, rollout, collectors): only the host user logs in here",
        f"listener {s.host_listener} {s.bind}",
        f"max_connections {MAX_HOST_CONNECTIONS}",
        *host_auth, *_tls(d),
    ]
    if s.local_port:
        lines += ["", f"listener {s.local_port} 127.0.0.1", f"max_connections {MAX_HOST_CONNECTIONS}", *host_auth]
    return "\n".join(lines) + "\n"


def _acl(ws: Workspace, s: BrokerSettings) -> str:
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


def write_auth(ws: Workspace, s: BrokerSettings | None = None) -> None:
    """Regenerate passwd (devices), passwd.host and acl from the registry."""
    s = s or load(ws)
    lines = [f"{d.id}:{d.password_hash}" for d in devices_reg.list_devices(ws)
             if d.gateway is None or d.gateway == d.id]  # MCUs behind a gateway have no login of their own
    _write(s.path / "passwd", "\n".join(lines) + "\n", mode=0o600)
    _write(s.path / "passwd.host", f"{s.host_user}:{mosquitto_hash(s.host_password)}\n", mode=0o600)
    _write(s.path / "acl", _acl(ws, s), mode=0o600)


def sync(ws: Workspace) -> bool:
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
INSTALL_HINT = ("install it: `apt-get install mosquitto` (Debian/Ubuntu), `brew install mosquitto` (macOS), "
                "or run the official container image `eclipse-mosquitto` with this folder's mosquitto.conf")


def mosquitto_exe() -> str | None:
    """``$TINYOPS_MOSQUITTO`` if set, else ``mosquitto`` on PATH or in /usr/sbin."""
    named = os.environ.get("TINYOPS_MOSQUITTO")
    if named is not None:
        return named if os.access(named, os.X_OK) and Path(named).is_file() else None
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def _pid_file(s: BrokerSettings) -> Path:
    return s.path / "mosquitto.pid"


def _log_file(s: BrokerSettings) -> Path:
    return s.path / "mosquitto.log"


def _running_pid(s: BrokerSettings) -> int | None:
    """The pid of the Mosquitto running on this folder's config, if any."""
    try:
        pid = int(_pid_file(s).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    # A recycled pid must not be taken for our broker; a zombie is gone.
    if "mosquitto" in cmdline and str(s.path / "mosquitto.conf") in cmdline and state != "Z":
        return pid
    return None


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def status(ws: Workspace) -> BrokerStatus:
    s = load(ws)
    pid = _running_pid(s)
    return BrokerStatus(running=pid is not None, pid=pid, dir=s.dir, port=s.port, local_port=s.local_port,
                        devices=len(devices_reg.list_devices(ws)), log=str(_log_file(s)), host_port=s.host_listener)


def start(ws: Workspace, timeout: float = 10.0) -> BrokerStatus:
    """Start Mosquitto in the background; a running broker is left as is."""
    s = load(ws)
    if _running_pid(s):
        return status(ws)
    exe = mosquitto_exe()
    if exe is None:
        raise FleetError("Mosquitto is not installed", hint=INSTALL_HINT)
    ports = [p for p in (s.port, s.host_listener, s.local_port) if p]
    settle = time.monotonic() + 2.0  # a broker killed a moment ago may still be closing its sockets
    while any(_port_open(p) for p in ports) and time.monotonic() < settle:
        time.sleep(0.05)
    for p in ports:
        if _port_open(p):
            raise FleetError(f"port {p} is already in use",
                             hint="stop the other broker or rerun `tinyops broker setup --port N --host-port M`")
    write_auth(ws, s)
    log_path = _log_file(s)
    log = open(log_path, "ab")
    proc = subprocess.Popen([exe, "-c", str(s.path / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    log.close()
    _pid_file(s).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _pid_file(s).unlink(missing_ok=True)
            tail = log_path.read_text(errors="replace")[-800:]
            raise FleetError(f"mosquitto exited at start (code {proc.returncode}): {tail.strip()}",
                             hint=f"see {log_path}")
        if all(_port_open(p) for p in (s.port, s.host_listener, s.local_port) if p):
            return status(ws)
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    _pid_file(s).unlink(missing_ok=True)
    raise FleetError(f"mosquitto did not open port {s.port} within {timeout:.0f} s", hint=f"see {log_path}")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child (tests, one process) must not stay a zombie
    except ChildProcessError:
        pass


def stop(ws: Workspace, timeout: float = 10.0) -> BrokerStatus:
    """SIGTERM (Mosquitto saves its retained messages), SIGKILL if it lingers; no process is left."""
    s = load(ws)
    pid = _running_pid(s)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _running_pid(s) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if _running_pid(s):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        _reap(pid)
    _pid_file(s).unlink(missing_ok=True)
    return status(ws)


def kill(ws: Workspace) -> int | None:
    """SIGKILL the broker (chaos tests): no save, no goodbye. Returns the pid killed."""
    s = load(ws)
    pid = _running_pid(s)
    if pid:
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            _reap(pid)
            if not _running_pid(s):
                break
            time.sleep(0.02)
        _pid_file(s).unlink(missing_ok=True)
    return pid

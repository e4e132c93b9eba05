"""Registering a device: credentials, ACL entries, and the agent config to copy to it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyops import atomic, signing
from tinyops import agent_config
from tinyops.registry import devices as devices_reg
from tinyops.fleet import broker, topics

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


@dataclass
class Registration:
    device: devices_reg.Device
    agent_config: str | None  # path of the agent.toml (holds the only copy of the password)
    broker_reloaded: bool
    gateway_config: str | None = None  # for an MCU: the [gateway] table to add to its Pi's agent.toml

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device.to_dict(), "agent_config": self.agent_config,
                "broker_reloaded": self.broker_reloaded, "gateway_config": self.gateway_config}


def _check_profile(ws: Workspace, profile: str) -> str:
    from tinyops.devices import profiles

    return profiles.load(profile, ws.root).transport


def register_device(ws: Workspace, device_id: str, profile: str, groups: list[str], *, gateway: str | None = None,
                    rotate: bool = False, config_path: Path | str | None = None, mqtt_host: str | None = None,
                    http_port: int = 8765, telemetry_period_s: float = 60.0,
                    serial_port: str = "/dev/ttyACM0") -> Registration:
    """Create credentials for a device and write its agent config (mode 0600).

    The password exists in plaintext only in that file; the registry and the
    broker's password file keep a PBKDF2 hash.
    """
    topics.check_id(device_id)
    for g in groups:
        topics.check_id(g, "group name")
    _check_profile(ws, profile)
    settings = broker.load(ws)  # fails early, before anything is written
    if gateway:
        return _register_behind_gateway(ws, device_id, profile, groups, gateway, rotate, serial_port)
    public_key = signing.init_keys(ws.path("keys")).public_key
    password = secrets.token_urlsafe(24)
    path = Path(config_path) if config_path else ws.path("agents", device_id, "agent.toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = agent_config.dumps({
        "device": {"id": device_id, "profile": profile},
        "mqtt": {"host": mqtt_host or settings.hosts[0], "port": settings.port, "username": device_id,
                 "password": password, "tls": True, "ca_pem": (settings.path / "ca.crt").read_text()},
        "signing": {"public_key": public_key},
        "agent": {"state_dir": "state", "http_host": "127.0.0.1", "http_port": http_port,
                  "telemetry_period_s": telemetry_period_s, "heartbeat_s": 60},
    })
    with atomic.writing(path, text=True, mode=0o600) as f:  # only a registered device gets a config
        f.write(text)
        dev = devices_reg.register(ws, device_id, profile, groups, broker.mosquitto_hash(password),
                                   gateway=gateway, rotate=rotate)
    reloaded = broker.sync(ws)
    return Registration(device=dev, agent_config=str(path), broker_reloaded=reloaded)


def _register_behind_gateway(ws: Workspace, device_id: str, profile: str, groups: list[str], gateway: str, rotate: bool,
                             serial_port: str) -> Registration:
    """An MCU has no MQTT login: its Pi speaks for it (the ACL lets the Pi use its topics)."""
    unusable = broker.mosquitto_hash(secrets.token_urlsafe(24))  # never handed out
    dev = devices_reg.register(ws, device_id, profile, groups, unusable, gateway=gateway, rotate=rotate)
    snippet = agent_config.dumps({"gateway": {"device": device_id, "profile": profile, "port": serial_port}})
    snippet = "\n".join(snippet.splitlines()[1:]).strip() + "\n"
    return Registration(device=dev, agent_config=None, broker_reloaded=broker.sync(ws), gateway_config=snippet)

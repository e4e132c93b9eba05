'''The agent's configuration file (``agent.toml``), written once by
`tinyops device register` and copied to the Pi.

```toml
[device]
id = "pi-001"
profile = "raspberry-pi-4"

[mqtt]
host = "broker.local"
port = 8883
username = "pi-001"
password = "…"            # only here: the registry keeps a hash
tls = true
ca_pem = """-----BEGIN CERTIFICATE-----…"""

[signing]
public_key = "<64 hex>"   # pinned: only builds signed by this key install

[agent]
state_dir = "state"       # relative to this file; holds the A/B slots
http_host = "127.0.0.1"
http_port = 8765          # 0 = any free port (written to state_dir/http.port)
telemetry_period_s = 60
telemetry_reservoir = 0   # > 0: each window carries up to N raw inputs + outputs (for retraining)
heartbeat_s = 60

[gateway]                 # optional: a microcontroller on a serial port
device = "mcu-001"
port = "/dev/ttyACM0"
```
'''

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyops.errors import InputError
from tinyops.fleet.mqtt import BrokerAddress


@dataclass
class GatewayConfig:
    device: str
    port: str
    profile: str | None = None
    baud: int = 115200


@dataclass
class AgentConfig:
    device: str
    profile: str
    mqtt: BrokerAddress
    public_key: str
    state_dir: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    telemetry_period_s: float = 60.0
    telemetry_reservoir: int = 0
    heartbeat_s: float = 60.0
    gateway: GatewayConfig | None = None
    path: Path | None = None


def _need(table: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in table:
        raise InputError(f"agent config: [{where}] lacks '{key}'", hint="re-create it with `tinyops device register --rotate`")
    value = table[key]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise InputError(f"agent config: [{where}].{key} must be {kind.__name__}", hint="fix the file")
    return value


def _port(value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise InputError(f"agent config {path}: [agent] http_port must be a whole number 0-65535, not {value!r}",
                         hint="use 0 to pick any free port")
    return value


def load(path: Path | str) -> AgentConfig:
    path = Path(path).resolve()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read agent config {path}: {e.strerror}", hint="pass --config PATH to the agent.toml from `tinyops device register`") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"agent config {path} is not valid TOML: {e}", hint="fix the syntax") from e
    dev, mq, sig, ag = (raw.get(k, {}) for k in ("device", "mqtt", "signing", "agent"))
    state = Path(ag.get("state_dir", "state"))
    gw = raw.get("gateway")
    return AgentConfig(
        device=_need(dev, "id", "device", str), profile=_need(dev, "profile", "device", str),
        mqtt=BrokerAddress(host=_need(mq, "host", "mqtt", str), port=_need(mq, "port", "mqtt", int),
                           username=_need(mq, "username", "mqtt", str), password=_need(mq, "password", "mqtt", str),
                           tls=bool(mq.get("tls", True)), ca_pem=mq.get("ca_pem")),
        public_key=_need(sig, "public_key", "signing", str),
        state_dir=state if state.is_absolute() else path.parent / state,
        http_host=str(ag.get("http_host", "127.0.0.1")), http_port=_port(ag.get("http_port", 8765), path),
        telemetry_period_s=float(ag.get("telemetry_period_s", 60)),
        telemetry_reservoir=int(ag.get("telemetry_reservoir", 0)), heartbeat_s=float(ag.get("heartbeat_s", 60)),
        gateway=GatewayConfig(device=_need(gw, "device", "gateway", str), port=_need(gw, "port", "gateway", str),
                              profile=gw.get("profile"), baud=int(gw.get("baud", 115200))) if gw else None,
        path=path,
    )


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if "\n" in s:
        return '"""' + s.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dumps(tables: dict[str, dict[str, Any]]) -> str:
    """A tiny TOML writer for flat tables (tomllib only reads)."""
    out = ["# tinyops agent config: copy to the device; it holds this device's MQTT password"]
    for name, table in tables.items():
        out.append(f"\n[{name}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(out) + "\n"

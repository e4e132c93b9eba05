"""Device registration: hashed credentials, agent config, list/show, bad input changes nothing."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops import agent_config
from tinyops.cli.main import cli
from tinyops.errors import ConflictError, NotFoundError
from tinyops.fleet import broker, enroll
from tinyops.registry import devices


def _cli(fleet: Fleet, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, ["--workspace", str(fleet.ws.root), *args])
    return r.exit_code, r.output


def test_register_via_cli_writes_config_and_stores_only_a_hash(fleet: Fleet) -> None:
    code, out = _cli(fleet, "device", "register", "pi-7", "--profile", "raspberry-pi-4", "--group", "lab",
                     "--group", "north", "--json")
    assert code == 0, out
    res = json.loads(out)
    assert res["device"]["device"] == "pi-7" and res["device"]["groups"] == ["lab", "north"]
    path = res["agent_config"]
    assert stat.S_IMODE(__import__("os").stat(path).st_mode) == 0o600
    cfg = agent_config.load(path)
    assert cfg.device == "pi-7" and cfg.mqtt.port == fleet.port and "BEGIN CERTIFICATE" in cfg.mqtt.ca_pem
    dev = devices.get(fleet.ws, "pi-7")
    assert broker.check_mosquitto_hash(cfg.mqtt.password, dev.password_hash)
    db_bytes = (fleet.ws.dot / "registry.db").read_bytes() + (fleet.ws.dot / "registry.db-wal").read_bytes() \
        if (fleet.ws.dot / "registry.db-wal").exists() else (fleet.ws.dot / "registry.db").read_bytes()
    assert cfg.mqtt.password.encode() not in db_bytes
    code, out = _cli(fleet, "device", "list", "--json")
    assert [d["device"] for d in json.loads(out)] == ["pi-7"]
    code, out = _cli(fleet, "device", "show", "pi-7")
    assert code == 0 and "raspberry-pi-4" in out


def test_bad_registrations_change_nothing(fleet: Fleet) -> None:
    fleet.register("pi-1")
    before = (fleet.broker_dir / "acl").read_text()
    with pytest.raises(ConflictError):
        enroll.register_device(fleet.ws, "pi-1", "raspberry-pi-4", ["lab"])
    with pytest.raises(NotFoundError, match="raspberry-pi-4"):
        enroll.register_device(fleet.ws, "pi-2", "raspbery-pi-4", ["lab"])
    with pytest.raises(Exception, match="invalid device id"):
        enroll.register_device(fleet.ws, "pi/+", "raspberry-pi-4", ["lab"])
    assert [d.id for d in devices.list_devices(fleet.ws)] == ["pi-1"]
    assert not fleet.ws.path("agents", "pi-2").exists() or not any(fleet.ws.path("agents", "pi-2").iterdir())
    assert (fleet.broker_dir / "acl").read_text() == before
    code, out = _cli(fleet, "device", "show", "nope")
    assert code == 1 and "no device" in out


def test_rotate_issues_new_credentials(fleet: Fleet) -> None:
    a = fleet.register("pi-1")
    old = agent_config.load(a.config).mqtt.password
    enroll.register_device(fleet.ws, "pi-1", "raspberry-pi-4", ["lab"], rotate=True, http_port=0)
    new = agent_config.load(a.config).mqtt.password
    assert new != old and broker.check_mosquitto_hash(new, devices.get(fleet.ws, "pi-1").password_hash)

"""Gateway mode: a Pi agent updates a microcontroller (the posix firmware board)
over the serial update protocol and reports it as a device of its own."""

from __future__ import annotations

import hashlib

from fixtures_boards import boards, firmware_bins  # noqa: F401
from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from tinyops.devices import keys
from tinyops.devices.serial.device import device_info
from tinyops.fleet import api, enroll
from tinyops.fleet.rollout import Strategy
from tinyops.registry import devices


def test_gateway_flashes_the_mcu_and_reports_it(fleet: Fleet, boards) -> None:
    board = boards.start("posix")
    pi = fleet.register("pi-1", group="pis")
    reg = enroll.register_device(fleet.ws, "mcu-1", "posix-sim", ["mcus"], gateway="pi-1", serial_port=board.url)
    assert reg.agent_config is None and "[gateway]" in reg.gateway_config
    assert "topic read tinyops/devices/mcu-1/desired" in (fleet.broker_dir / "acl").read_text()
    assert "mcu-1:" not in (fleet.broker_dir / "passwd").read_text()  # no login of its own
    with open(pi.config, "a") as f:
        f.write("\n" + reg.gateway_config)
    fleet.start_agents([pi])

    mcu_build = fleet.builds["mcu"]
    r = api.rollout_build(fleet.ws, mcu_build, "mcus", Strategy(canary_pct=100, health_timeout_s=90))
    assert r.state == "completed", (r.message, [d.reason for d in r.devices], pi.log_text())
    img = fleet.bundle("mcu").files["model.img"]
    info = device_info(board.url)
    assert info.active_sha256 == hashlib.sha256(img).hexdigest()
    # the build's signed ticket went with it: the MCU now pins the workspace key itself
    assert info.trust["key_pinned"] and info.trust["key_prefix"] == keys.show(fleet.ws)["public_key"][:16]
    st = api.status(fleet.ws, "mcus")
    assert st["devices"][0]["device"] == "mcu-1" and st["devices"][0]["build"] == mcu_build
    assert devices.get(fleet.ws, "mcu-1").reported["gateway"] == "pi-1"

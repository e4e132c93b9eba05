"""`tinyops sim start|list|stop`: emulated boards in the background, by PID."""

from __future__ import annotations

import json
import os

from fixtures_boards import firmware_bins  # noqa: F401

from tinyops.devices import sim
from tinyops.devices.serial.device import device_info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sim_cli_start_list_stop(tiny, firmware_bins) -> None:
    started = []
    try:
        for board in ("posix", "qemu-mps2-an386"):
            out = tiny.json("sim", "start", board, "--firmware", str(firmware_bins[board]))
            started.append(out)
            assert out["url"].startswith("socket://127.0.0.1:") and out["board"] == board
            assert device_info(out["url"]).board == board
        listed = {s["id"]: s for s in tiny.json("sim", "list")}
        assert set(listed) == {s["id"] for s in started}
        # State lives in the workspace, so another process sees the same boards.
        assert all((tiny.root / ".tinyops" / "sims" / f"{s['id']}.json").exists() for s in started)
        text = tiny("sim", "stop", started[0]["id"]).stdout
        assert "Stopped" in text and not _alive(started[0]["pid"])
        assert [s["id"] for s in tiny.json("sim", "list")] == [started[1]["id"]]
    finally:
        for s in started:
            if _alive(s["pid"]):
                sim._kill(s["pid"], hard=True)
    res = tiny("sim", "stop", "qemu-nope", ok=False)
    assert res.exit_code == 1 and "sim list" in res.output


def test_sim_keeps_flash_file_and_rejects_unknown_board(tmp_path, firmware_bins) -> None:
    class Ws:
        def path(self, *p):
            return tmp_path.joinpath(*p)

    flash = tmp_path / "keep.flash"
    s = sim.start("posix", flash=flash, ws=Ws(), firmware=firmware_bins["posix"])
    try:
        assert flash.exists() and flash.stat().st_size > 1_000_000  # erased flash: slots + commit pages
    finally:
        sim.stop(s.id, Ws())
    assert not _alive(s.pid) and sim.list_sims(Ws()) == []
    try:
        sim.canonical_board("arduino")
    except Exception as e:  # noqa: BLE001
        assert "choose one of" in str(e)
    else:
        raise AssertionError("unknown board accepted")
    assert json.loads(json.dumps(s.to_dict()))["flash"] == str(flash)

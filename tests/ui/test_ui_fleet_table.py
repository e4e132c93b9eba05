"""The fleet table with more devices than one page holds, in headless Chromium: 100 rows
in the page, a pager, and filter and sort over every device (not only the shown ones)."""

from __future__ import annotations

from pathlib import Path

from fixtures_ui import chromium, ui_server
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tinyops.registry import devices as devices_reg
from tinyops.workspace import Workspace

N = 250


def _ids(d) -> list[str]:
    return d.execute_script("return [...document.querySelectorAll('#devices tbody tr')].map(r => r.dataset.id)")


def _until(d, cond, what: str) -> None:
    try:
        WebDriverWait(d, 30, poll_frequency=0.1).until(lambda d: cond(d))
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what}; the page shows:\n"
                             + d.execute_script("return document.body.innerText")[:2000]) from e


def test_fleet_table_pages_filters_and_sorts_all_devices(tmp_path: Path) -> None:
    ws, _ = Workspace.init(tmp_path / "ws")
    for i in range(N):
        dev = f"pi-{i:03d}"
        devices_reg.register(ws, dev, "raspberry-pi-4", [f"line-{i % 5}"], "$7$101$x$y")
        devices_reg.record_status(ws, dev, "online" if i % 3 else "offline")
    ws.close()
    with ui_server(tmp_path / "ws") as (url, _token, _log), chromium() as d:
        d.get(url + "/")
        _until(d, lambda d: len(_ids(d)) == 100, "the first page of devices")
        assert _ids(d) == [f"pi-{i:03d}" for i in range(100)]
        assert "rows 1–100 of 250" in d.find_element(By.ID, "devices-pager").text
        assert "Devices (250 of 250)" in d.find_element(By.ID, "root").text
        assert not d.find_element(By.ID, "devices-prev").is_enabled()
        d.find_element(By.ID, "devices-next").click()
        d.find_element(By.ID, "devices-next").click()
        _until(d, lambda d: _ids(d) == [f"pi-{i:03d}" for i in range(200, 250)], "the last page")
        assert not d.find_element(By.ID, "devices-next").is_enabled()
        # Sorting sees every device and starts again at the first page.
        d.find_element(By.CSS_SELECTOR, "#devices th[data-key=device]").click()
        d.find_element(By.CSS_SELECTOR, "#devices th[data-key=device]").click()
        _until(d, lambda d: _ids(d)[:2] == ["pi-249", "pi-248"] and len(_ids(d)) == 100, "sorted descending")
        # A filter matching devices beyond the first page finds them, and fits on one page.
        d.find_element(By.ID, "filter").send_keys("pi-24")
        _until(d, lambda d: _ids(d) == [f"pi-{i}" for i in range(249, 239, -1)], "filtered")
        assert not d.find_elements(By.ID, "devices-pager")
        assert "Devices (10 of 250)" in d.find_element(By.ID, "root").text

"""The dashboard in headless Chromium against a real fleet: registered devices, real
agents over Mosquitto, a rollout started, paused, resumed, watched live, rolled back
and aborted by clicks on the page, an alias promoted by a click, stored telemetry and
drift; hostile device text stays text."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from fixtures_fleet import Fleet, fleet, fleet_template  # noqa: F401
from fixtures_telemetry import baseline_manifest, register_manifest_build, window
from fixtures_ui import chromium, ui_server
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tinyops.fleet import api, broker, topics
from tinyops.fleet.mqtt import MqttConnection
from tinyops.fleet.rollout import Strategy
from tinyops.monitor.check import check
from tinyops.registry import fleet as fleet_reg
from tinyops.registry import models as models_reg
from tinyops.registry import telemetry as tel

HOSTILE = '<img src=x onerror="window.__pwned=1">'
TEL_BUILD = "feedc0de00000001"
_LOG: list[list[str]] = []


def _post(url: str, body: dict, token: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **({"X-Tinyops-Token": token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _telemetry(fleet: Fleet) -> float:
    """80 windows over two hours (pi-1's last 10 shifted on X[0]) and one hostile reject; one stored drift check."""
    m = baseline_manifest(TEL_BUILD)
    register_manifest_build(fleet.ws, m)
    rng = np.random.default_rng(1)
    t0 = time.time() - 2 * 3600
    wins = [window(m, dev, rng, n=60, start=t0 + i * 180, length=180, offset={0: 2.5} if dev == "pi-1" and i >= 30 else None)
            for dev in ("pi-0", "pi-1") for i in range(40)]
    tel.store_batch(fleet.ws, wins, [{"topic": "tinyops/devices/pi-x/telemetry", "device": "pi-x",
                                      "reason": f"bad window {HOSTILE}", "payload": HOSTILE.encode()}])
    end = t0 + 40 * 180
    check(fleet.ws, TEL_BUILD, window="30m", now=end + 1)
    return end


def _wait(driver, cond, what: str, timeout: float = 40.0):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: cond(d))
    except Exception as e:
        text = driver.execute_script("return document.body.innerText")
        log = "".join(_LOG[0][-40:]) if _LOG else ""
        log += "\nbrowser console:\n" + "\n".join(str(x) for x in driver.get_log("browser"))
        raise AssertionError(f"timed out waiting for {what}; the page shows:\n{text[:3000]}\nserver:\n{log}") from e


def _shot(driver, out: Path, name: str) -> None:
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(out / f"{name}.png"))


def _click(driver, by: str, sel: str) -> None:
    """A real click; retried when a live re-render replaced the element in between."""
    for _ in range(20):
        try:
            driver.find_element(by, sel).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{sel} kept going stale")


def _state(driver, element_id: str) -> str | None:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e && e.dataset.state", element_id)


def _text(driver, css: str) -> str:
    """Visible text of the first match ("" if none); read in one script call, so a re-render cannot make it stale."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? (e.innerText ?? e.textContent) : ''", css)


def test_dashboard_pages_actions_and_live_updates(fleet: Fleet, tmp_path: Path) -> None:
    out = tmp_path / "screenshots"
    out.mkdir()
    agents = [fleet.register(f"pi-{i}") for i in range(2)]
    fleet.register("pi-x", group="spare")  # never runs an agent: what it "reports" below is hostile text
    fleet.start_agents(agents)
    v1, v2 = fleet.builds["v1"], fleet.builds["v2"]
    assert api.rollout_build(fleet.ws, v1, "lab", Strategy(canary_pct=50, health_timeout_s=60)).state == "completed"
    _telemetry(fleet)
    with MqttConnection(broker.host_address(fleet.ws)).connect() as c:
        c.publish(topics.reported("pi-x"), json.dumps({"device": "pi-x", "build": HOSTILE, "state": "<script>window.__pwned=2</script>",
                                                        "slot": HOSTILE, "ts": "2026-01-01T00:00:00Z"}), retain=True)

    with ui_server(fleet.ws.root) as (url, token, server_log), chromium() as d:
        _LOG[:] = [server_log]
        # --- Fleet: every device, hostile text shown as text, filter and sort.
        d.get(url + "/?token=" + token)
        _wait(d, lambda d: "pi-x" in _text(d, "#devices") and HOSTILE in _text(d, "#devices"), "fleet table with pi-x")
        assert "token=" not in d.current_url  # dropped from the address bar, kept for the tab
        assert d.execute_script("return window.__pwned") is None
        assert not d.find_elements(By.CSS_SELECTOR, "#devices img, #root script")
        rows = {r.get_attribute("data-id"): r.text for r in d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")}
        assert set(rows) == {"pi-0", "pi-1", "pi-x"}
        assert "online" in rows["pi-0"] and v1 in rows["pi-0"] and "raspberry-pi-4" in rows["pi-0"]
        assert "drift" in rows["pi-1"] and "ok" in rows["pi-0"]  # the stored drift check's verdicts
        _shot(d, out, "fleet")
        d.find_element(By.ID, "filter").send_keys("pi-1")
        _wait(d, lambda d: [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")] == ["pi-1"], "filter")
        d.find_element(By.ID, "filter").clear()
        d.find_element(By.ID, "filter").send_keys(" ")  # clear() fires no input event
        d.find_element(By.ID, "filter").clear()
        d.get(url + "/fleet")
        _click(d, By.CSS_SELECTOR, "#devices th[data-key=device]")
        _click(d, By.CSS_SELECTOR, "#devices th[data-key=device]")
        assert [r.get_attribute("data-id") for r in d.find_elements(By.CSS_SELECTOR, "#devices tbody tr")] == ["pi-x", "pi-1", "pi-0"]

        # --- Rollouts: without the token nothing starts.
        d.get(url + "/rollouts")
        d.execute_script("document.getElementById('token').value = ''")
        _click(d, By.ID, "rollout-start")
        _wait(d, lambda d: "needs the token" in _text(d, "#flash"), "token refusal")
        assert len(fleet_reg.list_rollouts(fleet.ws)) == 1
        assert _post(url + "/api/rollouts/1/rollback", {}, None)[0] == 403

        # With it: v2 to lab while pi-1 is off, so the rollout stays running on batch 2.
        fleet.kill_agent(agents[1])
        d.find_element(By.ID, "token").send_keys(token)
        _click(d, By.CSS_SELECTOR, f"#rollout-build option[value='{v2}']")
        for name, value in (("canary", "50%"), ("batch", "50%"), ("health_timeout", "120")):
            box = d.find_element(By.CSS_SELECTOR, f"#rollout-form [name={name}]")
            box.clear()
            box.send_keys(value)
        _click(d, By.ID, "rollout-start")
        _wait(d, lambda d: d.find_elements(By.ID, "rollout-2") and "updated=1" in _text(d, "#counts-2")
              and "desired=1" in _text(d, "#counts-2"), "rollout 2 running: canary updated, pi-1 waiting")
        assert _state(d, "rollout-2") == "running"
        assert "passed" in _text(d, "#rollout-2")  # canary verdict
        _shot(d, out, "rollouts-running")
        # Pause from the page, then resume: the registry says so, the buttons follow.
        _click(d, By.ID, "pause-2")
        _wait(d, lambda d: _state(d, "rollout-2") == "paused" and d.find_elements(By.ID, "resume-2"), "paused shown")
        assert fleet_reg.get_rollout(fleet.ws, 2).state == "paused"
        assert "paused from the dashboard" in _text(d, "#rollout-2")
        _shot(d, out, "rollouts-paused")
        _click(d, By.ID, "resume-2")
        _wait(d, lambda d: _state(d, "rollout-2") == "running" and d.find_elements(By.ID, "pause-2"), "resumed shown")
        assert fleet_reg.get_rollout(fleet.ws, 2).state == "running"
        d.execute_script("window.__samePage = 42")
        updates = d.execute_script("return window.tinyopsLiveUpdates || 0")
        fleet.start_agents([agents[1]])  # pi-1 comes back, takes v2: the page updates by itself
        _wait(d, lambda d: _state(d, "rollout-2") == "completed"
              and "updated=2" in _text(d, "#counts-2"), "live update to completed", timeout=60)
        assert d.execute_script("return window.__samePage") == 42  # no reload happened
        assert d.execute_script("return window.tinyopsLiveUpdates") > updates

        # Roll back from the page: both devices go back to v1.
        _click(d, By.ID, "rollback-2")
        _wait(d, lambda d: "reverted=2" in _text(d, "#counts-2"), "rollback shown", timeout=60)
        fleet.wait_for(lambda: all(fleet.model_build(a) == v1 for a in agents), 30, "agents back on v1")
        _shot(d, out, "rollouts")

        # Abort a running rollout (pi-1 off again, so it waits), started by another client through the API.
        fleet.kill_agent(agents[1])
        code, body = _post(url + "/api/rollouts", {"build": v2, "group": "lab", "canary": "50%", "batch": "50%",
                                                    "health_timeout": 120}, token)
        assert code == 200, body
        rid = body["rollout"]
        _wait(d, lambda d: d.find_elements(By.ID, f"abort-{rid}") and d.find_element(By.ID, f"abort-{rid}").is_enabled(), "abort button")
        _click(d, By.ID, f"abort-{rid}")
        _wait(d, lambda d: _state(d, f"rollout-{rid}") == "aborted", "aborted")
        assert fleet_reg.get_rollout(fleet.ws, rid).state == "aborted"
        assert not d.find_element(By.ID, f"abort-{rid}").is_enabled() and not d.find_element(By.ID, f"pause-{rid}").is_enabled()

        # --- Device page: update history and the agent's events.
        d.get(url + "/devices/pi-0")
        _wait(d, lambda d: "Device pi-0" in _text(d, "#device-title") and len(d.find_elements(By.CSS_SELECTOR, "#updates tbody tr")) >= 3,
              "device page")
        assert d.find_elements(By.CSS_SELECTOR, "#events tbody tr"), "no events arrived from the agent"
        assert len(d.find_elements(By.CSS_SELECTOR, "canvas")) == 4
        _shot(d, out, "device")
        d.get(url + "/devices/pi-x")
        _wait(d, lambda d: HOSTILE in d.find_element(By.ID, "root").text, "hostile build shown as text")
        assert d.execute_script("return window.__pwned") is None

        # --- Models: versions, variants, lineage; alias promotion needs the token.
        d.get(url + "/models")
        _wait(d, lambda d: "digits@1:int8" in _text(d, "#models"), "models")
        assert "run " in _text(d, "#lineage") and "build:" in _text(d, "#lineage") and "dataset: digits@1" in _text(d, "#lineage")
        code, body = _post(url + "/api/models/digits/aliases", {"alias": "production", "version": 1}, "wrong")
        assert code == 403 and "needs the token" in body["error"]
        assert models_reg.resolve(fleet.ws, "digits@1").aliases == []
        # With the token, clicked on the page: the registry has it, the open page shows it without a reload.
        d.execute_script("window.__samePage = 43")
        _click(d, By.CSS_SELECTOR, "#alias-ref option[value='digits@1']")
        box = d.find_element(By.ID, "alias-name")
        box.clear()
        box.send_keys("production")
        _click(d, By.ID, "alias-set")
        _wait(d, lambda d: "production" in _text(d, "#models") and "done" in _text(d, "#flash"), "alias shown")
        assert models_reg.resolve(fleet.ws, "digits@production").version == 1
        assert d.execute_script("return window.__samePage") == 43
        _click(d, By.CSS_SELECTOR, "button.fit[data-variant='digits@1:int8']")
        _wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#fit-table tbody tr"), "fit per profile", timeout=90)
        assert "raspberry-pi-4" in _text(d, "#fit-table")
        _shot(d, out, "models")

        # --- Drift: per device verdicts, baseline vs current histograms, report link.
        d.get(url + "/drift")
        _wait(d, lambda d: "pi-1" in _text(d, "#drift-devices"), "drift page")
        drift_rows = {r.find_elements(By.TAG_NAME, "td")[0].text: r.text for r in d.find_elements(By.CSS_SELECTOR, "#drift-devices tbody tr")}
        assert "drift" in drift_rows["pi-1"] and "X[0]" in drift_rows["pi-1"] and "ok" in drift_rows["pi-0"]
        assert len(d.find_elements(By.CSS_SELECTOR, "canvas[id^=hist-]")) == 6
        href = d.find_element(By.ID, "report-link").get_attribute("href")
        with urllib.request.urlopen(href, timeout=60) as r:
            assert r.status == 200 and b"<svg" in r.read()
        _shot(d, out, "drift")

        # --- Telemetry: totals and charts; the hostile reject is text.
        d.get(url + "/telemetry")
        _wait(d, lambda d: _text(d, "[data-total=windows]") == "80", "telemetry totals")
        assert _text(d, "[data-total=inferences]") == str(80 * 60) and _text(d, "[data-total=rejected]") == "1"
        assert HOSTILE in _text(d, "#rejects") and d.execute_script("return window.__pwned") is None
        assert len(d.find_elements(By.CSS_SELECTOR, "canvas")) == 4
        _shot(d, out, "telemetry")

        # The JSON APIs behind the pages.
        for path in ("devices", "rollouts", "models", "drift", "telemetry"):
            with urllib.request.urlopen(f"{url}/api/{path}", timeout=30) as r:
                assert r.status == 200 and json.loads(r.read())
    for name in ("fleet", "rollouts-running", "rollouts-paused", "rollouts", "device", "models", "drift", "telemetry"):
        assert (out / f"{name}.png").stat().st_size > 10_000

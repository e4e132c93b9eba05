"""Dashboard test helpers: `tinyops ui` as a real process, and headless Debian Chromium
driven by Selenium through Debian's chromedriver. Both are killed by PID (their
process groups, and any descendant left over) on teardown, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000"]


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL a process we started, its process group and whatever it forked."""
    victims = _descendants(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for p in [pid, *victims]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


@contextlib.contextmanager
def ui_server(root: Path, timeout: float = 30.0) -> Iterator[tuple[str, str, list[str]]]:
    """`tinyops ui --port 0` over the workspace; yields (base url, token, its output lines)."""
    proc = subprocess.Popen([sys.executable, "-c", "from tinyops.cli.main import cli; cli()", "--workspace", str(root),
                             "ui", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)
    try:
        url = token = None
        seen: list[str] = []  # everything the server prints (kept for failure messages)
        threading.Thread(target=lambda: [seen.append(x) for x in proc.stdout], daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (url and token) and proc.poll() is None:
            time.sleep(0.1)
            for line in list(seen):
                if line.startswith("tinyops dashboard for"):
                    url = line.rsplit(": ", 1)[1].strip().rstrip("/")
                if line.startswith("token for changing actions:"):
                    token = line.split(":", 1)[1].strip()
        assert url and token, "tinyops ui did not start:\n" + "".join(seen)
        yield url, token, seen
    finally:
        kill_tree(proc.pid)
        proc.wait(10)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium session (fresh profile); killed with its driver afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), \
        "Debian's chromium and chromium-driver are missing (apt-get install chromium chromium-driver)"
    profile = tempfile.mkdtemp(prefix="tinyops-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    service = Service(executable_path=CHROMEDRIVER, popen_kw={"start_new_session": True})
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=opts)
        yield driver
    finally:
        pid = service.process.pid if getattr(service, "process", None) else None
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        if pid:
            kill_tree(pid)
        shutil.rmtree(profile, ignore_errors=True)

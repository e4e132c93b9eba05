"""What an agent (or a gateway, for its MCU) accepts as ``desired``.

A desired message must be a deployment signed by the pinned key, for this
device, not expired, and newer than the last one accepted (its sequence
number; the same number again is a republish and changes nothing). The last
accepted number is kept on disk, so a replay is refused after a restart too.

Anti-rollback: every installed build raises the *security floor* of its
model line to its manifest's ``security_version``; a build below the floor
installs only when the signed deployment says ``rollback``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from tinyops import atomic
from tinyops import signing, timestamps
from tinyops.agent.trust import KeyTrust, RetiredKey
from tinyops.errors import SignatureError


class DesiredRefused(Exception):
    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def _load(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(path: Path, data: dict[str, Any]) -> None:
    atomic.write_json(path, data)


class DesiredGate:
    def __init__(self, state_dir: Path, device: str, public_key: "str | KeyTrust") -> None:
        self.device = device
        self.trust = KeyTrust.of(public_key)
        self._seq_path = Path(state_dir) / "desired_seq.json"
        self._floor_path = Path(state_dir) / "security_floor.json"
        self.last = _load(self._seq_path)  # {"seq": n, "build": b}
        self.floors: dict[str, int] = {k: int(v) for k, v in _load(self._floor_path).items()}

    def check(self, payload: bytes, now: dt.datetime | None = None) -> dict[str, Any]:
        """The verified deployment body; raises DesiredRefused with the reason."""
        try:
            body, sig, chain = signing.parse_deployment(payload)
        except SignatureError as e:
            raise DesiredRefused(e.message, "unsigned") from e
        try:
            self.trust.verify(signing.DEPLOYMENT_DOMAIN + signing.canonical_json(body), sig, chain)
        except RetiredKey as e:
            raise DesiredRefused(e.message, "retired_key") from e
        except SignatureError as e:
            raise DesiredRefused(e.message if "chain" in e.message else
                                 "the desired message's signature does not verify against the trusted key",
                                 "bad_signature") from e
        if body.get("device") != self.device:
            raise DesiredRefused(f"deployment is for device {body.get('device')!r}, this is {self.device!r}",
                                 "other_device")
        try:
            seq = int(body["seq"])
            expires = timestamps.parse(str(body["expires"]))
        except (KeyError, ValueError, TypeError) as e:
            raise DesiredRefused(f"deployment lacks a valid seq/expires ({e})", "bad_desired") from e
        now = now or timestamps.now_dt()
        if expires <= now:
            raise DesiredRefused(f"deployment expired at {body['expires']}", "expired")
        last = int(self.last.get("seq", -1))
        if seq < last or (seq == last and body.get("build") != self.last.get("build")):
            raise DesiredRefused(f"deployment sequence {seq} is not newer than the last accepted {last} (replay)",
                                 "replayed")
        if seq != last:
            self.last = {"seq": seq, "build": body.get("build")}
            _save(self._seq_path, self.last)
        return body

    # ---- anti-rollback ---------------------------------------------------------------
    def check_security(self, manifest: dict[str, Any], rollback: bool) -> None:
        line, version = str(manifest.get("model_line") or manifest.get("model", "").split("@")[0]), \
            int(manifest.get("security_version") or 0)
        floor = self.floors.get(line, 0)
        if version < floor and not rollback:
            raise DesiredRefused(f"build {manifest.get('build')} has security version {version} for {line!r}, "
                                 f"below the installed {floor}; only a signed rollback may lower it",
                                 "rollback_refused")

    def installed(self, manifest: dict[str, Any]) -> None:
        line = str(manifest.get("model_line") or manifest.get("model", "").split("@")[0])
        version = int(manifest.get("security_version") or 0)
        if version > self.floors.get(line, 0):
            self.floors[line] = version
            _save(self._floor_path, self.floors)

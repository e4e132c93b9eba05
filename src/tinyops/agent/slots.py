"""A/B model slots on the device's disk, switched by replacing one pointer file.

```
state_dir/slots/a/   manifest.json manifest.sig model.tflite golden.npz …
state_dir/slots/b/
state_dir/active.json   {"slot": "a", "build": "…"}   (replaced with os.replace)
```

A new build is always written to the slot the pointer does *not* name,
first into ``slots/x.tmp`` and renamed into place, then self-tested, and only
then does ``active.json`` move. A crash at any moment therefore leaves the
pointer on a complete slot that already passed its self-test. On start-up the
active slot is verified again (hashes and signature); if it is unusable the
other slot is tried.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyops import atomic
from tinyops.agent.trust import KeyTrust
from tinyops.errors import SignatureError

SLOTS = ("a", "b")


@dataclass
class SlotContent:
    slot: str
    build: str
    manifest: dict[str, Any]
    files: dict[str, bytes]


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class SlotStore:
    def __init__(self, state_dir: Path, public_key: "str | KeyTrust") -> None:
        self.root = Path(state_dir)
        self.trust = KeyTrust.of(public_key)
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        self.pointer = self.root / "active.json"

    def slot_dir(self, slot: str) -> Path:
        return self.root / "slots" / slot

    def active_slot(self) -> str | None:
        try:
            slot = json.loads(self.pointer.read_text())["slot"]
            return slot if slot in SLOTS else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def inactive_slot(self) -> str:
        return "b" if self.active_slot() == "a" else "a"

    def other(self, slot: str) -> str:
        return "b" if slot == "a" else "a"

    def read(self, slot: str) -> SlotContent:
        """Load a slot and verify its signature and every file hash."""
        d = self.slot_dir(slot)
        try:
            manifest_bytes = (d / "manifest.json").read_bytes()
            sig = (d / "manifest.sig").read_bytes()
        except OSError as e:
            raise SignatureError(f"slot {slot} is empty or incomplete", hint="it will be refilled by the next update") from e
        self.trust.verify_any(manifest_bytes, sig)  # checked against the trusted key when installed
        manifest = json.loads(manifest_bytes)
        files = {}
        for name, meta in manifest.get("files", {}).items():
            if name in ("manifest.json", "manifest.sig"):
                continue
            try:
                data = (d / name).read_bytes()
            except OSError as e:
                raise SignatureError(f"slot {slot}: {name} is missing", hint="it will be refilled by the next update") from e
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise SignatureError(f"slot {slot}: {name} does not match its sha256", hint="storage corruption; the slot will be refilled")
            files[name] = data
        return SlotContent(slot=slot, build=str(manifest["build"]), manifest=manifest, files=files)

    def slot_build(self, slot: str) -> str | None:
        """Cheap look at which build a slot claims to hold (not verified)."""
        try:
            return str(json.loads((self.slot_dir(slot) / "manifest.json").read_bytes())["build"])
        except (OSError, ValueError, KeyError):
            return None

    def write(self, slot: str, manifest_bytes: bytes, signature: bytes, files: dict[str, bytes]) -> None:
        """Fill ``slot`` completely or not at all (never the active slot)."""
        assert slot != self.active_slot(), "never overwrite the active slot"
        final, tmp = self.slot_dir(slot), self.root / "slots" / f"{slot}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, data in files.items():
            _write_file(tmp / name, data)
        _write_file(tmp / "manifest.sig", signature)
        _write_file(tmp / "manifest.json", manifest_bytes)
        atomic.fsync_dir(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        atomic.fsync_dir(final.parent)

    def tidy(self) -> list[str]:
        """Remove what a crash mid-write left under ``slots/`` (``x.tmp`` folders, stray
        files): only the two slots stay. Never call it while a slot is being written."""
        removed = []
        for e in (self.root / "slots").iterdir():
            if e.name in SLOTS and e.is_dir() and not e.is_symlink():
                continue
            if e.is_dir() and not e.is_symlink():
                shutil.rmtree(e, ignore_errors=True)
            else:
                e.unlink(missing_ok=True)
            removed.append(e.name)
        return sorted(removed)

    def activate(self, slot: str, build: str) -> None:
        """The commit point: one atomic rename of the pointer file."""
        atomic.write_json(self.pointer, {"slot": slot, "build": build}, durable=True)

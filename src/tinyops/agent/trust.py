"""Which signing key an agent (and its gateway) trusts now, after key rotations.

It starts at the key pinned in the agent config. A signed message may carry the
workspace's key chain (``tinyops keys rotate``): links from the trusted key on,
each signed by the key before it, move the trust forward and are remembered in
``state_dir/trusted_key.json``, so a restart keeps it. From then on a signature
by a key left behind (*retired*) is refused, and said so.

Slots installed before a rotation still load: their signature was checked when
they were installed, and is re-checked at load only for integrity.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tinyops import atomic
from tinyops import signing
from tinyops.errors import SignatureError


class RetiredKey(SignatureError):
    """Signed by a key this device has rotated away from."""


class KeyTrust:
    def __init__(self, pinned: str, state_dir: Path | None = None) -> None:
        self.pinned = pinned.strip().lower()
        self._path = Path(state_dir) / "trusted_key.json" if state_dir else None
        self._lock = threading.Lock()
        self.current, self.retired = self.pinned, []  # type: str, list[str]
        saved = self._load()
        # The saved trust wins unless the config pins a key it never knew (re-enrolled).
        if saved and (self.pinned == saved["current"] or self.pinned in saved["retired"]):
            self.current, self.retired = saved["current"], saved["retired"]

    @classmethod
    def of(cls, key: "str | KeyTrust") -> "KeyTrust":
        return key if isinstance(key, KeyTrust) else cls(key)

    def _load(self) -> dict[str, Any] | None:
        if not self._path:
            return None
        try:
            d = json.loads(self._path.read_text())
            return {"current": str(d["current"]).lower(), "retired": [str(k).lower() for k in d["retired"]]}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def follow(self, chain: Any) -> str:
        """Move forward along ``chain`` (verified link by link) and return the key trusted now."""
        if not chain:
            return self.current
        keys = signing.follow_chain(self.current, chain)
        if len(keys) > 1:
            with self._lock:
                if keys[0] == self.current:
                    self.retired = [*self.retired, *keys[:-1]]
                    self.current = keys[-1]
                    if self._path:
                        atomic.write_json(self._path, {"current": self.current, "retired": self.retired})
        return self.current

    def check_retired(self, data: bytes, signature: bytes) -> None:
        """Raise RetiredKey if a retired key made ``signature`` (called after the current key refused it)."""
        for k in self.retired:
            try:
                signing.verify(data, signature, k)
            except SignatureError:
                continue
            raise RetiredKey(f"signed by a retired key ({k[:16]}…): this device rotated to {self.current[:16]}…",
                             hint="re-sign with the workspace's current key (`tinyops keys rotate` re-signs builds)")

    def verify(self, data: bytes, signature: bytes, chain: Any = None) -> None:
        """Verify with the key trusted after following ``chain``; RetiredKey for a retired signer."""
        key = self.follow(chain)
        try:
            signing.verify(data, signature, key)
        except SignatureError:
            self.check_retired(data, signature)
            raise

    def verify_any(self, data: bytes, signature: bytes) -> None:
        """Integrity check of something accepted earlier: the current or any retired key."""
        for k in [self.current, *reversed(self.retired)]:
            try:
                signing.verify(data, signature, k)
                return
            except SignatureError:
                continue
        signing.verify(data, signature, self.current)  # raises with the usual message

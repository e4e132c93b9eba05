"""Download of one build over MQTT into ``state_dir/downloads/{build}/``.

Chunks are written to disk as they arrive (each checked against the chunk
table), so a disconnect or a restart resumes: the retained chunks are
delivered again on re-subscribe and those already on disk are skipped.
The envelope's signature and target profile are checked as soon as it
arrives, before any chunk is kept: a build for another board or signed by
another key is refused without downloading it.

The downloads folder stays bounded: starting a download keeps at most
``MAX_PARTIAL_DOWNLOADS`` unfinished downloads of other builds (the newest, so
going back to the build just abandoned still resumes), and a successful install
removes every download (:func:`prune_downloads`).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyops import atomic
from tinyops.agent.trust import KeyTrust, RetiredKey
from tinyops.errors import InputError, SignatureError
from tinyops.fleet import transfer
from tinyops.fleet.transfer import Envelope

MAX_EARLY_CHUNKS = 64  # chunks that arrive before the envelope, kept in memory
MAX_PARTIAL_DOWNLOADS = 1  # unfinished downloads of other builds kept for resuming


def prune_downloads(root: Path, keep: set[str] | frozenset[str] = frozenset(), max_partial: int = 0) -> list[str]:
    """Remove superseded downloads under ``root/downloads``: everything but the builds in
    ``keep`` and the ``max_partial`` most recently touched other download folders.
    Returns the names removed."""
    folder = Path(root) / "downloads"
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    others = [e for e in entries if e.name not in keep]

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    kept = {e.name for e in sorted((e for e in others if e.is_dir() and not e.is_symlink()),
                                   key=mtime, reverse=True)[:max(0, max_partial)]}
    removed = []
    for e in others:
        if e.name in kept:
            continue
        if e.is_dir() and not e.is_symlink():
            shutil.rmtree(e, ignore_errors=True)
        else:
            e.unlink(missing_ok=True)
        removed.append(e.name)
    return sorted(removed)


class Rejected(Exception):
    """The build must not be installed; ``reason`` says why (reported to the host)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Download:
    def __init__(self, root: Path, build: str, profile: str, public_key: "str | KeyTrust",
                 check_manifest: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.build = build
        self.check_manifest = check_manifest  # e.g. anti-rollback; raises Rejected
        self.profile = profile
        self.trust = KeyTrust.of(public_key)
        self.dir = Path(root) / "downloads" / build
        prune_downloads(root, keep={build}, max_partial=MAX_PARTIAL_DOWNLOADS)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.envelope: Envelope | None = None
        self._early: dict[int, bytes] = {}
        self.have: set[int] = set()

    # ---- envelope ------------------------------------------------------------
    def on_envelope(self, payload: bytes) -> None:
        try:
            env = transfer.unpack(payload)
        except InputError as e:
            raise Rejected(str(e), "bad_envelope") from e
        try:
            self.trust.verify(env.manifest_bytes, env.signature, env.chain)
        except RetiredKey as e:
            raise Rejected(f"bad signature: {e.message}", "retired_key") from e
        except SignatureError as e:
            raise Rejected(f"bad signature: {e.message}", "bad_signature") from e
        try:
            manifest = env.manifest
        except ValueError as e:
            raise Rejected(f"signed manifest is not JSON: {e}", "bad_manifest") from e
        if manifest.get("build") != self.build or env.build != self.build:
            raise Rejected(f"envelope is for build {manifest.get('build')}, not {self.build}", "wrong_build")
        if manifest.get("profile") != self.profile:
            raise Rejected(f"build {self.build} is for profile {manifest.get('profile')!r}, this device is {self.profile!r}",
                           "wrong_profile")
        if self.check_manifest:
            self.check_manifest(manifest)
        self.envelope = env
        for i in range(len(env.chunks)):  # resume: keep what an earlier run stored
            p = self._chunk_path(i)
            if p.exists() and hashlib.sha256(p.read_bytes()).hexdigest() == env.chunks[i]:
                self.have.add(i)
        early, self._early = self._early, {}
        for i, data in early.items():
            self.on_chunk(i, data)

    # ---- chunks ----------------------------------------------------------------
    def _chunk_path(self, i: int) -> Path:
        return self.dir / f"chunk-{i:06d}"

    def on_chunk(self, index: int, data: bytes) -> None:
        env = self.envelope
        if env is None:
            if len(self._early) < MAX_EARLY_CHUNKS:
                self._early[index] = data
            return
        if index in self.have:
            return
        if index >= len(env.chunks):
            raise Rejected(f"chunk {index} is beyond the chunk table ({len(env.chunks)} chunks)", "bad_chunk")
        if hashlib.sha256(data).hexdigest() != env.chunks[index]:
            raise Rejected(f"chunk {index} does not match its sha256 (tampered or corrupt)", "bad_chunk")
        # No fsync: a chunk torn by a power cut fails its hash on resume and is fetched
        # again; only the slot files must be durable before the pointer moves.
        atomic.write_bytes(self._chunk_path(index), data)
        self.have.add(index)

    def on_message(self, kind: str, index: str | None, payload: bytes) -> bool:
        """Feed one retained build message (``manifest`` or ``chunk/i``); True once complete.

        Raises :class:`Rejected` when the build must not be installed.
        """
        if kind == "manifest":
            self.on_envelope(payload)
        else:
            self.on_chunk(int(index or 0), payload)
        return self.complete

    @property
    def complete(self) -> bool:
        return self.envelope is not None and len(self.have) == len(self.envelope.chunks)

    def progress(self) -> dict[str, Any]:
        total = len(self.envelope.chunks) if self.envelope else None
        return {"build": self.build, "chunks": len(self.have), "total": total}

    # ---- result ----------------------------------------------------------------
    def assemble(self) -> tuple[bytes, bytes, dict[str, bytes]]:
        """Reassemble and check every file against the *signed* manifest.
        Returns (manifest bytes, signature, files)."""
        env = self.envelope
        assert env is not None and self.complete
        stream = b"".join(self._chunk_path(i).read_bytes() for i in range(len(env.chunks)))
        if len(stream) != env.size or hashlib.sha256(stream).hexdigest() != env.sha256:
            raise Rejected("the reassembled bundle does not match its sha256", "bad_sha256")
        files = transfer.split(env, stream)
        signed = env.manifest.get("files", {})
        expected = set(transfer.file_order(env.manifest))
        if set(files) != expected:
            raise Rejected(f"bundle files {sorted(files)} differ from the signed manifest's {sorted(expected)}", "bad_files")
        for name, data in files.items():
            meta = signed[name]
            if len(data) != int(meta.get("size", len(data))) or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise Rejected(f"{name} does not match the sha256 in the signed manifest", "bad_sha256")
        return env.manifest_bytes, env.signature, files

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

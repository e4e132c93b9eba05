import hashlib
from pathlib import Path

import pytest

from tinyops.blobs import BlobStore
from tinyops.errors import BlobCorruptError, InputError


def test_put_and_get_round_trip(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = store.put_bytes(b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest()
    assert store.get_bytes(sha) == b"hello"
    assert store.put_bytes(b"hello") == sha  # idempotent


def test_put_file_hashes_while_copying(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(bytes(range(256)) * 10000)
    store = BlobStore(tmp_path / "b")
    sha, size = store.put_file(src)
    assert size == src.stat().st_size and sha == hashlib.sha256(src.read_bytes()).hexdigest()
    assert not list((tmp_path / "b" / "tmp").iterdir())


def test_corrupt_blob_is_reported_with_its_users(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, users=lambda sha: ["datasets#1"])
    sha = store.put_bytes(b"payload")
    store.path(sha).write_bytes(b"tampered")
    with pytest.raises(BlobCorruptError, match=r"datasets#1") as e:
        store.get_bytes(sha)
    assert sha in str(e.value)


def test_missing_source_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        BlobStore(tmp_path).put_file(tmp_path / "nope")


def test_export_is_verified(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "b")
    sha = store.put_bytes(b"abc")
    assert store.export(sha, tmp_path / "out" / "x") == 3
    store.path(sha).write_bytes(b"abd")
    with pytest.raises(BlobCorruptError):
        store.export(sha, tmp_path / "y")
    assert not (tmp_path / "y").exists()

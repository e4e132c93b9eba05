"""Compile a model named by a file path or a registry reference, optionally to a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyops import atomic
from tinyops.errors import InputError
from tinyops.runtimes.tinyops_c.compiler import CompiledImage, compile_image


def load_model(source: str, open_workspace: Callable[[], Any] | None) -> tuple[bytes, str]:
    """The .tflite bytes of FILE.tflite or NAME@VERSION:VARIANT, and a file stem for it."""
    path = Path(source)
    if path.is_file():
        return path.read_bytes(), path.stem
    if path.suffix == ".tflite" or open_workspace is None:
        raise InputError(f"no such file: {source}", hint="pass a .tflite file or a variant reference like digits@1:int8")
    from tinyops.registry import variants

    ws = open_workspace()
    v = variants.get(ws, source)
    return ws.blobs.get_bytes(v.blob_sha256), f"{v.name}-{v.version}-{v.quant}"


def compile_source(source: str, out: str | Path | None = None, *,
                   open_workspace: Callable[[], Any] | None = None) -> tuple[CompiledImage, Path]:
    """Compile FILE.tflite or NAME@VERSION:VARIANT; write the image to ``out``
    (default ``<stem>.img`` in the current folder) and return it with its path."""
    data, stem = load_model(source, open_workspace)
    compiled = compile_image(data)
    dest = Path(out) if out else Path.cwd() / f"{stem}.img"
    atomic.write_bytes(dest, compiled.image)
    return compiled, dest

"""Folders of WAV clips as datasets: ``LABEL/clip.wav``, one class per sub-folder.

The folder is stored file by file like any folder dataset (so ``data export``
gives the exact bytes back); its array form is ``X`` (N, T) int16 samples,
``y`` the label (the clip's first folder) and ``file`` the relative path, in
path order. Every clip must be mono 16-bit PCM at one sample rate, and as
long as the others; the rate is recorded in the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError
from tinyops.wav import read_wav

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def is_wav_folder(rel_paths: list[str]) -> bool:
    return bool(rel_paths) and all(p.lower().endswith(".wav") and "/" in p for p in rel_paths)


def decode(files: dict[str, bytes]) -> tuple[dict[str, np.ndarray], int]:
    """Arrays X, y, file of clips given as {relative path: bytes}, and their sample rate."""
    rows, rates, lengths = [], {}, {}
    for rel in sorted(files):
        x, rate = read_wav(files[rel], rel)
        rates.setdefault(rate, rel)
        lengths.setdefault(len(x), rel)
        rows.append(x)
    if len(rates) > 1:
        (r1, f1), (r2, f2) = list(rates.items())[:2]
        raise InputError(f"clips have different sample rates: {f1} is {r1} Hz, {f2} is {r2} Hz",
                         hint=f"resample them to one rate, e.g. `sox IN.wav -r {r1} OUT.wav`")
    if len(lengths) > 1:
        (n1, f1), (n2, f2) = list(lengths.items())[:2]
        raise InputError(f"clips differ in length: {f1} has {n1} samples, {f2} has {n2}",
                         hint="cut or pad every clip to the same duration (e.g. 1 s)")
    names = sorted(files)
    arrays = {"X": np.stack(rows), "y": np.array([n.split("/")[0] for n in names]), "file": np.array(names)}
    return arrays, next(iter(rates))


def describe(files: dict[str, bytes]) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    from tinyops.registry.dataset_stats import array_schema_and_stats

    arrays, rate = decode(files)
    schema, stats, rows = array_schema_and_stats(arrays)
    for col in schema:
        if col["name"] == "X":
            col["sample_rate"] = rate
            col["source"] = "wav"
    return schema, stats, int(rows or 0)


def is_wav_dataset(schema: list[dict[str, Any]]) -> bool:
    return any(c.get("source") == "wav" for c in schema)


def load_arrays(ws: Workspace, manifest: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    return decode({rel: ws.blobs.get_bytes(e["sha256"]) for rel, e in manifest.items()})[0]

"""Folders of WAV clips as datasets: ``LABEL/clip.wav``, one class per sub-folder.

The folder is stored file by file like any folder dataset (so ``data export``
gives the exact bytes back); its array form is ``X`` (N, T) int16 samples,
``y`` the label (the clip's first folder) and ``file`` the relative path, in
path order. Every clip must be mono 16-bit PCM at one sample rate, and as
long as the others; the rate is recorded in the schema.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError

if TYPE_CHECKING:
    from tinyops.workspace import Workspace


def is_wav_folder(rel_paths: list[str]) -> bool:
    return bool(rel_paths) and all(p.lower().endswith(".wav") and "/" in p for p in rel_paths)


def read_wav(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """(int16 mono samples, sample rate) of a WAV file's bytes; one clear error otherwise."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                raise InputError(f"{name}: {w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit "
                                 f"{w.getcomptype()}; only mono 16-bit PCM WAV is taken",
                                 hint="convert it, e.g. `sox IN.wav -c 1 -b 16 OUT.wav`")
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
    except (wave.Error, EOFError) as e:
        raise InputError(f"{name} is not a readable WAV file: {e}", hint="check or re-encode the file") from e
    return x, rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())


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

"""Mono 16-bit PCM WAV, the one audio format tinyops reads and writes (datasets, the Pi agent)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from tinyops.errors import InputError


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


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return buf.getvalue()


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    Path(path).write_bytes(wav_bytes(samples, rate))

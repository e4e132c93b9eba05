"""Audio the tests make: three noisy tones as int16 clips, and the MFCC definition they use."""

from __future__ import annotations

import numpy as np

MFCC = {"kind": "mfcc", "description": "MFCC of 0.25 s clips",
        "params": {"frame_length": 480, "hop": 320, "n_fft": 512, "n_mels": 20, "n_mfcc": 8,
                   "f_max": 4000.0, "arithmetic": "fixed"}}


def tones(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` 0.25 s, 16 kHz clips of a low, mid or high tone (labels ``y``), with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.arange(4000) / 16000
    f = np.array([300.0, 900.0, 2200.0])[y][:, None] * rng.uniform(0.9, 1.1, (n, 1))
    x = 8000 * np.sin(2 * np.pi * f * t) + rng.normal(0, 800, (n, 4000))
    return {"X": np.clip(np.round(x), -32768, 32767).astype(np.int16), "y": np.array(["low", "mid", "high"])[y]}

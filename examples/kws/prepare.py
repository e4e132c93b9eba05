"""Make a keyword-spotting dataset: espeak-ng speaks, sox resamples, numpy adds noise.

    python examples/kws/prepare.py data/kws --size small|full
    tinyops data add kws data/kws/train
    tinyops data add kws-test data/kws/test          # held-out voices

Writes OUT/train/LABEL/*.wav and OUT/test/LABEL/*.wav: 1 s, 16 kHz, mono 16-bit,
one folder per label (the ten keywords and "unknown"). Test clips use voice
variants that training never hears. ``--splits field --noise hum`` writes clips with
another background (a change of noise in the field, for drift).

Clips are made once: each split is kept in the per-user cache
(``$TINYOPS_CACHE`` or ``~/.cache/tinyops``, under ``kws-data/``) keyed by the
options, this file and the espeak-ng and sox versions, and copied from there
the next time (``--no-cache`` makes them again).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import itertools
import shutil
import subprocess
import sys
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
UNKNOWN = ["bed", "bird", "cat", "dog", "happy", "house", "tree", "wow", "zero", "one", "two", "three",
           "four", "five", "six", "seven", "eight", "nine", "sheila", "marvin", "forward", "learn", "follow"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"]
TRAIN_VARIANTS = ["m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f5", "klatt"]
TEST_VARIANTS = ["m6", "f4"]  # held out: no training clip uses them
SIZES = {  # accents, rates, pitches per (voice variant, word)
    "tiny": (ACCENTS[:2], [160], [50]),
    "small": (ACCENTS[:3], [150], [45]),
    "full": (ACCENTS, [130, 175], [35, 60]),
}
RATE = 16000


def speak(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """espeak-ng's speech as 16 kHz int16 (resampled by sox)."""
    es = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
                        capture_output=True, check=True)
    sx = subprocess.run(["sox", "-t", "wav", "-", "-r", str(RATE), "-b", "16", "-c", "1", "-t", "wav", "-"],
                        input=es.stdout, capture_output=True, check=True)
    with wave.open(io.BytesIO(sx.stdout)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "hum":  # mains hum with harmonics over a little brown noise
        t = np.arange(n) / RATE
        base = rng.uniform(48, 62)
        x = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3, 5))
        return x + 0.3 * noise("brown", n, rng)
    white = rng.normal(size=n)
    if kind == "white":
        return white
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    spectrum = np.fft.rfft(white) / (f if kind == "brown" else np.sqrt(f))
    return np.fft.irfft(spectrum, n)


def clip(speech: np.ndarray, kind: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """1 s: the trimmed word at a random offset, scaled, plus noise at ``snr_db``."""
    loud = np.nonzero(np.abs(speech) > 0.02 * np.abs(speech).max())[0]
    word = speech[loud[0]:loud[-1] + 1] if len(loud) else speech
    if len(word) > RATE:
        word = word[(len(word) - RATE) // 2:][:RATE]
    out = np.zeros(RATE)
    start = int(rng.integers(0, RATE - len(word) + 1))
    word = word / max(np.abs(word).max(), 1.0) * rng.uniform(6000, 24000)
    out[start:start + len(word)] = word
    n = noise(kind, RATE, rng)
    rms_word = np.sqrt(np.mean(word ** 2))
    n *= rms_word / (np.sqrt(np.mean(n ** 2)) + 1e-9) / 10 ** (snr_db / 20)
    return np.clip(np.round(out + n), -32768, 32767).astype(np.int16)


def write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(x.astype("<i2").tobytes())


def jobs(split: str, size: str, seed: int) -> list[tuple[str, str, str, int, int, int]]:
    accents, rates, pitches = SIZES[size]
    variants = TEST_VARIANTS if split != "train" else TRAIN_VARIANTS
    rng = np.random.default_rng(seed)
    out = []
    for label in KEYWORDS + ["unknown"]:
        for i, (acc, var, rate, pitch) in enumerate(itertools.product(accents, variants, rates, pitches)):
            word = label if label != "unknown" else UNKNOWN[int(rng.integers(len(UNKNOWN)))]
            out.append((label, word, f"{acc}+{var}", rate + int(rng.integers(-10, 11)),
                        pitch + int(rng.integers(-8, 9)), i))
    return out


def make(out: Path, split: str, size: str, noise_kind: str, snrs: list[float], seed: int) -> int:
    todo = jobs(split, size, seed)

    def one(job: tuple[str, str, str, int, int, int]) -> None:
        label, word, voice, rate, pitch, i = job
        rng = np.random.default_rng([seed, {"train": 1, "test": 2, "field": 3}.get(split, 4), i, len(label), ord(label[0])])
        x = clip(speak(word, voice, rate, pitch), noise_kind, float(rng.choice(snrs)), rng)
        write(out / split / label / f"{voice.replace('+', '_')}_{i:04d}.wav", x)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, todo))
    return len(todo)


def cache_key(split: str, size: str, noise_kind: str, snrs: list[float], seed: int) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for tool in ("espeak-ng", "sox"):
        h.update(subprocess.run([tool, "--version"], capture_output=True).stdout)
    h.update(repr((split, size, noise_kind, snrs, seed)).encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("TINYOPS_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                                   / "tinyops")
    return Path(base) / "kws-data"


def make_cached(out: Path, split: str, size: str, noise_kind: str, snrs: list[float], seed: int,
                use_cache: bool) -> tuple[int, bool]:
    """(clips, from the cache): the split's folder under ``out``, made once per key."""
    if not use_cache:
        return make(out, split, size, noise_kind, snrs, seed), False
    cached = cache_root() / cache_key(split, size, noise_kind, snrs, seed)
    hit = (cached / "done").exists()
    if not hit:
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        n = make(tmp, split, size, noise_kind, snrs, seed)
        (tmp / "done").write_text(str(n))
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(tmp, cached)
    shutil.copytree(cached / split, out / split)
    return int((cached / "done").read_text()), hit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--splits", default="train,test", help="comma list of train, test, field")
    ap.add_argument("--noise", default="pink", choices=["pink", "white", "brown", "hum"])
    ap.add_argument("--snr", default="10,20,30", help="comma list of SNRs in dB, one picked per clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true", help="make the clips again instead of copying cached ones")
    args = ap.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            print(f"error: {tool} is not installed (apt-get install espeak-ng sox)", file=sys.stderr)
            return 1
    snrs = [float(s) for s in args.snr.split(",")]
    for split in args.splits.split(","):
        if (args.out / split).exists():
            shutil.rmtree(args.out / split)
        n, hit = make_cached(args.out, split, args.size, args.noise, snrs, args.seed, not args.no_cache)
        print(f"{args.out / split}: {n} clips ({args.noise} noise, SNR {args.snr} dB){' from the cache' if hit else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

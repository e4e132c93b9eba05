"""Audio feature kinds ``log_mel`` and ``mfcc``: a float numpy version and an integer reference.

Both compute, per frame of ``frame_length`` samples every ``hop`` samples (input in
int16 units, i.e. WAV sample values): window, |FFT|^2 over ``n_fft`` points, a
triangular HTK-mel filterbank, ln(max(energy, log_floor)) and, for ``mfcc``, an
orthonormal DCT-II keeping ``n_mfcc`` coefficients. Energies are those of the
signal scaled to [-1, 1) (sample / 32768).

``arithmetic = "float"`` runs float64 numpy. ``arithmetic = "fixed"`` runs the
integer reference that the firmware's C code (``firmware/features/``) equals bit
for bit; its outputs are Q16 integers divided by 65536. The fixed-point steps:

1. Window and block scaling: each sample times a Q15 window (uint16, scale 2^15);
   the products are shifted left by the largest ``s`` (0..15) that keeps the frame's
   peak product <= 32767 * 2^15, then rounded back by 2^15 (so quiet frames keep
   their precision).
2. Complex radix-2 decimation-in-time FFT on int32 data with Q30 twiddles (int64
   products, round half up, no per-stage scaling: |X| <= n_fft * 2^15 < 2^28).
3. Power ``re^2 + im^2`` (int64), shifted right by ``power_shift`` (chosen from the
   parameters so the filterbank sum cannot overflow 2^63), times Q15 filter weights.
4. log2 by the position of the top bit plus a 33-entry Q16 table of log2(1 + i/32)
   with linear interpolation (error <= 2.2e-4 in log2 units); the known scale
   ``2 s + 45 - power_shift`` is subtracted, then times ln 2 (Q30) -> Q16 ln.
5. ``mfcc``: a Q15 int16 DCT matrix, int64 sums, rounded back to Q16.

Bound against the float version (held by tests/ml/test_signal_features.py): for mel
bands whose mean power (energy / sum of the filter's weights) is at least 1e-4 of the
frame's strongest FFT bin (-40 dB) and whose energy is above ``log_floor``,
|fixed - float| <= 0.02 (ln units); MFCCs of frames whose mel bands all meet that
condition agree within 0.02 * sqrt(n_mels). Below -40 dB, the Q15 window's and the
FFT's rounding set a floor relative to the frame's peak.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyops.errors import InputError

SIGNAL_KINDS = ("log_mel", "mfcc")
Q16 = 1 << 16
LN2_Q30 = round(math.log(2.0) * (1 << 30))
LOG2_TABLE = [round(math.log2(1.0 + i / 32.0) * Q16) for i in range(33)]
MAX_FFT = 1024


def validate_signal(kind: str, p: dict[str, Any]) -> None:
    """Cross-parameter checks (the single-value checks are done by features.validate)."""
    def bad(name: str, problem: str, fix: str) -> InputError:
        return InputError(f"{kind}: parameter '{name}' {problem}", hint=fix)

    n_fft = p["n_fft"]
    if n_fft & (n_fft - 1) or not 16 <= n_fft <= MAX_FFT:
        raise bad("n_fft", f"must be a power of two from 16 to {MAX_FFT}, not {n_fft}", "write n_fft = 512")
    if p["frame_length"] > n_fft:
        raise bad("frame_length", f"({p['frame_length']}) is longer than n_fft ({n_fft})",
                  f"use frame_length <= {n_fft} or a larger n_fft")
    f_max = p.get("f_max") or p["sample_rate"] / 2
    p["f_max"] = float(f_max)
    if not 0 <= p["f_min"] < p["f_max"] <= p["sample_rate"] / 2:
        raise bad("f_max", f"must satisfy 0 <= f_min < f_max <= sample_rate / 2 (got {p['f_min']}..{f_max})",
                  "write e.g. f_min = 20.0, f_max = 4000.0")
    if p["n_mels"] > n_fft // 2 + 1:
        raise bad("n_mels", f"({p['n_mels']}) exceeds the {n_fft // 2 + 1} FFT bins", "use fewer mel bands")
    if kind == "mfcc" and p["n_mfcc"] > p["n_mels"]:
        raise bad("n_mfcc", f"({p['n_mfcc']}) exceeds n_mels ({p['n_mels']})", "use n_mfcc <= n_mels")
    if not p["log_floor"] > 0:
        raise bad("log_floor", "must be positive", "write log_floor = 1e-6")


# ---- tables (float, and their fixed-point forms) --------------------------------
def window(p: dict[str, Any]) -> np.ndarray:
    n, L = np.arange(p["frame_length"]), p["frame_length"]
    if p["window"] == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * n / L)
    if p["window"] == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * n / L)
    return np.ones(L)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(p: dict[str, Any]) -> np.ndarray:
    """(n_mels, n_fft/2 + 1) triangular weights in [0, 1] (HTK mel scale, no normalisation)."""
    n_bins = p["n_fft"] // 2 + 1
    mels = np.linspace(_hz_to_mel(np.float64(p["f_min"])), _hz_to_mel(np.float64(p["f_max"])), p["n_mels"] + 2)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    freqs = np.arange(n_bins) * p["sample_rate"] / p["n_fft"]
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    return np.clip(np.minimum(up, down), 0.0, 1.0)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II rows 0..n_out-1."""
    k, m = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    d = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_in))
    d[0] /= np.sqrt(2.0)
    return d


def n_frames(p: dict[str, Any], n_samples: int) -> int:
    if n_samples < p["frame_length"]:
        raise InputError(f"signals of {n_samples} samples are shorter than frame_length {p['frame_length']}",
                         hint="use shorter frames or longer clips")
    return 1 + (n_samples - p["frame_length"]) // p["hop"]


def fixed_tables(p: dict[str, Any]) -> dict[str, Any]:
    """Every integer table and constant the fixed-point path uses (and the device blob carries)."""
    n_fft, L = p["n_fft"], p["frame_length"]
    k = np.arange(n_fft // 2)
    fb = np.round(mel_filterbank(p) * 32768).astype(np.int64)
    max_power = (L * 32768) ** 2
    need = math.ceil(math.log2(max_power * max(int(fb.sum(axis=1).max()), 1)))
    out = {
        "window": np.round(window(p) * 32768).astype(np.int64),
        "cos": np.round(np.cos(2 * np.pi * k / n_fft) * (1 << 30)).astype(np.int64),
        "sin": np.round(np.sin(2 * np.pi * k / n_fft) * (1 << 30)).astype(np.int64),
        "mel": fb,
        "power_shift": max(0, need - 62),
        "floor_q16": round(math.log(p["log_floor"]) * Q16),
        "log2_table": np.array(LOG2_TABLE, np.int64),
    }
    if "n_mfcc" in p:
        out["dct"] = np.clip(np.round(dct_matrix(p["n_mfcc"], p["n_mels"]) * 32768), -32768, 32767).astype(np.int64)
    return out


# ---- float version ---------------------------------------------------------------
def _frames(x: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    F = n_frames(p, x.shape[1])
    idx = np.arange(F)[:, None] * p["hop"] + np.arange(p["frame_length"])[None, :]
    return x[:, idx]  # (N, F, L)


def float_features(kind: str, p: dict[str, Any], x: np.ndarray) -> np.ndarray:
    fr = _frames(np.asarray(x, np.float64) / 32768.0, p) * window(p)
    power = np.abs(np.fft.rfft(fr, n=p["n_fft"], axis=-1)) ** 2
    lm = np.log(np.maximum(power @ mel_filterbank(p).T, p["log_floor"]))
    if kind == "mfcc":
        lm = lm @ dct_matrix(p["n_mfcc"], p["n_mels"]).T
    return lm


# ---- integer reference -------------------------------------------------------------
def _bit_reverse(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    return np.array([int(format(i, f"0{bits}b")[::-1], 2) for i in range(n)], np.int64)


def _rshift_round(v: np.ndarray, s: int) -> np.ndarray:
    return (v + (1 << (s - 1))) >> s if s > 0 else v


def fixed_fft(re: np.ndarray, im: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-order complex FFT of rows (..., n) of int64 values, as the C code does it."""
    n = re.shape[-1]
    rev = _bit_reverse(n)
    re, im = re[..., rev].copy(), im[..., rev].copy()
    size = 2
    while size <= n:
        half = size // 2
        tw = np.arange(half) * (n // size)
        c, s = cos[tw], sin[tw]
        r = re.reshape(*re.shape[:-1], n // size, size)
        i = im.reshape(*im.shape[:-1], n // size, size)
        br, bi = r[..., half:], i[..., half:]
        tr = _rshift_round(br * c + bi * s, 30)
        ti = _rshift_round(bi * c - br * s, 30)
        ar, ai = r[..., :half].copy(), i[..., :half].copy()
        r[..., :half], i[..., :half] = ar + tr, ai + ti
        r[..., half:], i[..., half:] = ar - tr, ai - ti
        re, im = r.reshape(re.shape), i.reshape(im.shape)
        size *= 2
    return re, im


def fixed_log_q16(v: np.ndarray, offset: np.ndarray, t: dict[str, Any]) -> np.ndarray:
    """Q16 ln(v / 2^offset) for int64 v >= 0 (v == 0 and small values clamp to the floor)."""
    v = np.asarray(v, np.int64)
    safe = np.maximum(v, 1)
    e = np.minimum(np.floor(np.log2(safe.astype(np.float64))).astype(np.int64), 62)
    # float log2 can be off by one next to powers of two: correct it exactly
    e = np.where((safe >> np.minimum(e, 62)) == 0, e - 1, e)
    e = np.where((e < 62) & ((safe >> np.minimum(e + 1, 62)) > 0), e + 1, e)
    m = safe << (62 - e)
    frac = (m >> 46) & 0xFFFF
    i, r = frac >> 11, frac & 2047
    tab = t["log2_table"]
    l2 = (e << 16) + tab[i] + (((tab[i + 1] - tab[i]) * r + 1024) >> 11)
    ln = ((l2 - (np.asarray(offset, np.int64) << 16)) * LN2_Q30 + (1 << 29)) >> 30
    return np.where(v > 0, np.maximum(ln, t["floor_q16"]), t["floor_q16"])


def fixed_features_q16(kind: str, p: dict[str, Any], x: np.ndarray, t: dict[str, Any] | None = None) -> np.ndarray:
    """The integer reference: int16 signals (N, T) -> Q16 int64 features (N, F, n_mels|n_mfcc)."""
    t = t or fixed_tables(p)
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = np.round(x)
    x = np.clip(x, -32768, 32767).astype(np.int64)
    n_fft, n_bins = p["n_fft"], p["n_fft"] // 2 + 1
    out = []
    for start in range(0, len(x), 32):  # bounded memory: 32 signals at a time
        prod = _frames(x[start:start + 32], p) * t["window"]  # Q15 products, |.| <= 2^30
        peak = np.abs(prod).max(axis=-1)
        shift = np.zeros_like(peak)
        for s in range(1, 16):
            shift = np.where((peak > 0) & ((peak << s) <= (32767 << 15)), s, shift)
        y = ((prod << shift[..., None]) + (1 << 14)) >> 15
        re = np.zeros(prod.shape[:-1] + (n_fft,), np.int64)
        re[..., :p["frame_length"]] = y
        re, im = fixed_fft(re, np.zeros_like(re), t["cos"], t["sin"])
        power = (re[..., :n_bins] ** 2 + im[..., :n_bins] ** 2) >> t["power_shift"]
        mel = power @ t["mel"].T  # int64 (the shift keeps every sum below 2^63)
        lm = fixed_log_q16(mel, (2 * shift + 45 - t["power_shift"])[..., None], t)
        if kind == "mfcc":
            lm = (lm @ t["dct"].T + (1 << 14)) >> 15
        out.append(lm)
    return np.concatenate(out) if out else np.zeros((0,), np.int64)


def quant_params(scale: float, zero_point: int) -> tuple[int, int, int]:
    """(multiplier, shift, zero point) so that q = ((v * M + 2^(shift-1)) >> shift) + zp ~ v / 65536 / scale."""
    k = 1.0 / (Q16 * float(scale))
    shift = 0
    while round(k * (1 << shift)) < (1 << 30) and shift < 62:
        shift += 1
    mult = round(k * (1 << shift))
    if not (1 <= shift <= 62 and mult < (1 << 31)):
        raise InputError(f"the model input scale {scale} cannot be reached from Q16 features",
                         hint="retrain: the input quantization range is unusual")
    return int(mult), int(shift), int(zero_point)


def quantize_q16(v: np.ndarray, mult: int, shift: int, zp: int, dtype: Any = np.int8) -> np.ndarray:
    """Q16 features -> the model's int8 input, with integers only (as the device does it)."""
    info = np.iinfo(dtype)
    q = ((np.asarray(v, np.int64) * mult + (1 << (shift - 1))) >> shift) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def apply_signal(kind: str, p: dict[str, Any], a: np.ndarray) -> np.ndarray:
    """Features of signals ``a`` (N, T) as float32."""
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise InputError(f"{kind}: signals must be (N, T) sample arrays, not {a.shape}",
                         hint="give one mono clip per row (a WAV folder dataset's X)")
    if p["arithmetic"] == "fixed":
        return (fixed_features_q16(kind, p, a) / Q16).astype(np.float32)
    return float_features(kind, p, a).astype(np.float32)

"""The Cortex-M4 requantization shortcut (rq4 in tor_conv_common.h) is the same function as
TFLM's MultiplyByQuantizedMultiplier + offset + clamp on the range where the runtime takes it
(multiplier >= 0, right shift >= 2, |acc| < 2^30), checked here in exact integer arithmetic;
the QEMU tests run the instructions themselves."""

from __future__ import annotations

import numpy as np

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def reference(acc: np.ndarray, m: np.ndarray, e: np.ndarray, off: int) -> np.ndarray:
    ab = acc * m  # int64: |acc| < 2^30, m < 2^31
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    x = (ab + nudge)
    x = np.where(x >= 0, x >> 31, -((-x) >> 31))  # C division truncates toward zero
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (x < 0)
    y = (x >> e) + (rem > threshold)
    return np.clip(y + off, -128, 127)


def shortcut(acc: np.ndarray, m: np.ndarray, e: np.ndarray, off: int) -> np.ndarray:
    a = (2 * acc * m + (1 << 31)) >> 32  # SMMULR(2 * acc, m)
    assert np.abs(a).max() <= 2**30  # so a + (a >> 31) cannot leave int32: ADD ..., ASR #31, no QADD
    a = a + (a >> 63)
    a = (a >> (e - 1)) + (2 * off + 1)
    assert a.max() <= I32_MAX and a.min() >= I32_MIN  # no int32 overflow in the add
    return np.clip(a >> 1, -128, 127)  # SSAT #8 of a >> 1


def test_shortcut_equals_reference() -> None:
    rng = np.random.default_rng(0)
    n = 400_000
    acc = rng.integers(-(2**30) + 1, 2**30, n, dtype=np.int64)
    acc[: n // 2] >>= rng.integers(0, 30, n // 2)  # small magnitudes too
    m = rng.integers(0, 2**31, n, dtype=np.int64)
    m[:1000] = [0, 1, 2**30, 2**31 - 1] * 250
    e = rng.integers(2, 32, n, dtype=np.int64)
    for off in (-128, -5, 0, 7, 127):
        np.testing.assert_array_equal(shortcut(acc, m, e, off), reference(acc, m, e, off))


def test_shortcut_on_exact_halves() -> None:
    # values exactly halfway between two results, both signs
    e = np.repeat(np.arange(2, 31, dtype=np.int64), 64)
    k = np.tile(np.arange(-32, 32, dtype=np.int64), 29)
    acc = (2 * k + 1) << e  # srdhm(acc, 2^30) = (2k + 1) * 2^(e - 1): a half after the shift
    acc = np.clip(acc, -(2**30) + 1, 2**30 - 1)
    m = np.full_like(acc, 2**30)
    for off in (-128, 0, 127):
        np.testing.assert_array_equal(shortcut(acc, m, e, off), reference(acc, m, e, off))


def test_add_rounding_shortcut() -> None:
    # ADD's RoundingDivideByPOT(v, e), e >= 1: ((QADD(v, v >> 31) >> (e - 1)) + 1) >> 1
    rng = np.random.default_rng(1)
    v = rng.integers(I32_MIN, I32_MAX + 1, 400_000, dtype=np.int64)
    v[:4] = [I32_MIN, I32_MAX, -1, 1]
    e = rng.integers(1, 32, v.size, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    want = (v >> e) + ((v & mask) > ((mask >> 1) + (v < 0)))
    y = np.clip(v + (v >> 63), I32_MIN, I32_MAX) >> (e - 1)
    np.testing.assert_array_equal((y + 1) >> 1, want)

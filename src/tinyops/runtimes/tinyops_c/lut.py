"""256-entry tables for element-wise int8 ops: TFLM's integer arithmetic (gemmlowp
rounding, its int16 HARD_SWISH path) evaluated on the host for every input byte, so the
runtime's LUT op is one load per element and bit-exact by construction."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import numpy as np

from tinyops.errors import ModelError
from tinyops.runtimes.tinyops_c.quant import f64, quantize_multiplier, round_away

f32 = np.float32
# The TFLM interpreter we match (tflite-micro Python package, 2026-10) computes every
# Prepare multiplier in double from float32 scales.

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
I16_MIN, I16_MAX = -(1 << 15), (1 << 15) - 1


def _wrap(x: int, bits: int) -> int:
    m = 1 << bits
    return (x + m // 2) % m - m // 2


def _tdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero); b > 0."""
    q = abs(a) // b
    return q if a >= 0 else -q


def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul, int32."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    return _tdiv(ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30)), 1 << 31)


def srdhm16(a: int, b: int) -> int:
    if a == b == I16_MIN:
        return I16_MAX
    ab = a * b
    return _wrap(_tdiv(ab + ((1 << 14) if ab >= 0 else 1 - (1 << 14)), 1 << 15), 16)


def rdbypot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp RoundingDivideByPOT (the mask wraps to the integer width, as in C++)."""
    mask = _wrap((1 << exponent) - 1, bits)
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLM MultiplyByQuantizedMultiplier (double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbypot(srdhm(_wrap(x << left, 32), multiplier), right)


def _table(fn) -> bytes:
    """int8[256] indexed by the input byte read as uint8."""
    values = [fn(b - 256 if b >= 128 else b) for b in range(256)]
    return np.clip(np.asarray(values, np.int64), -128, 127).astype(np.int8).tobytes()


def relu(in_q: tuple[float, int], out_q: tuple[float, int]) -> bytes:
    (xs, xz), (ys, yz) = in_q, out_q
    m, s = quantize_multiplier(f64(xs) / f64(ys))
    lo = max(-128, yz)
    return _table(lambda v: max(lo, yz + mbqm(v - xz, m, s)))


def relu6(in_q: tuple[float, int]) -> bytes:
    """TFLM clamps the raw input to [zero point, quantized 6] (output quantization unused)."""
    xs, xz = in_q
    six = min(127, max(-128, round_away(float(f32(6.0) / f32(xs))) + xz))
    return _table(lambda v: min(six, max(xz, v)))


def leaky_relu(in_q: tuple[float, int], out_q: tuple[float, int], alpha: float) -> bytes:
    (xs, xz), (ys, yz) = in_q, out_q
    ma, sa = quantize_multiplier(f64(xs) * f64(alpha) / f64(ys))
    mi, si = quantize_multiplier(f64(xs) / f64(ys))
    neg = ma < 0

    def fn(v: int) -> int:
        x = v - xz
        if x >= 0:
            return yz + mbqm(x, mi, si)
        r = mbqm(x, -ma if neg else ma, sa)
        return yz + (-r if neg else r)
    return _table(fn)


def _down_to_int16(m: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier."""
    if m >= I32_MAX - (1 << 15):
        return I16_MAX
    return (m + (1 << 15)) >> 16


def _sat_shl16(v: int, amount: int) -> int:
    return min(I16_MAX, max(I16_MIN, v * (1 << amount)))


def hard_swish(in_q: tuple[float, int], out_q: tuple[float, int], where: str) -> bytes:
    (xs, xz), (ys, yz) = in_q, out_q
    hires = f64(xs) / 128.0
    om, oe = quantize_multiplier(hires / f64(ys))
    rm, re = quantize_multiplier(hires / (3.0 / 32768.0))
    if oe > 0:
        raise ModelError(f"{where}: output scale below input scale / 128 (TFLM rejects it too)",
                         hint="re-export the model with the TFLite converter")
    om16, rm16 = _down_to_int16(om), _down_to_int16(rm)

    def fn(v: int) -> int:
        hi = _wrap((v - xz) * 128, 16)
        pre = srdhm16(hi, om16)
        r = hi
        if re > 0:
            r = _sat_shl16(r, re - 1)
        r = srdhm16(r, rm16)
        if re > 0:
            r = _sat_shl16(r, 1)
        if re < 0:
            r = _wrap(rdbypot(r, -re, 16), 16)
        r = (r + (1 << 15)) >> 1
        ab = r * pre
        out = _wrap(_tdiv(ab, 1 << 15), 16) if not (r == pre == I16_MIN) else I16_MAX
        out = _wrap(rdbypot(out, -oe, 16), 16)
        return _wrap(out + yz, 16)
    return _table(fn)


def _expf() -> Callable[[float], float]:
    """The C library's expf: what LiteRT's std::exp(float) calls (numpy's float32 exp
    may differ in the last bit)."""
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return libm.expf


def exp(in_q: tuple[float, int], out_q: tuple[float, int]) -> bytes:
    """int8 EXP as LiteRT's LUTPopulate computes it, in float32 (TFLM has float EXP only)."""
    (xs, xz), (ys, yz) = in_q, out_q
    expf, inv = _expf(), f32(1) / f32(ys)

    def fn(v: int) -> int:
        t = float(f32(expf(float(f32(xs) * f32(v - xz)))) * inv)
        if not t < 2**31:  # huge or inf (exp is positive): saturates, as in LiteRT
            return I32_MAX
        return int(f32(round_away(t)) + f32(yz))
    return _table(fn)

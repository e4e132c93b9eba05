"""Host-side quantization arithmetic, computed once at compile time exactly as TFLite
Micro computes it in each kernel's Prepare (so the runtime's results are bit-exact)."""

from __future__ import annotations

import math

import numpy as np

from tinyops.errors import ModelError

INT8_MIN, INT8_MAX = -128, 127


def round_away(x: float) -> int:
    """std::round: halves away from zero (numpy's round is half-to-even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def _quantize_f32(value: float, scale: float, zero_point: int) -> int:
    # TFLM computes x / scale in float32, then std::round.
    return zero_point + round_away(float(np.float32(value) / np.float32(scale)))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs."""
    lo, hi = INT8_MIN, INT8_MAX
    if activation == "NONE":
        return lo, hi
    if activation == "RELU":
        return max(lo, _quantize_f32(0.0, scale, zero_point)), hi
    if activation == "RELU6":
        return max(lo, _quantize_f32(0.0, scale, zero_point)), min(hi, _quantize_f32(6.0, scale, zero_point))
    if activation == "RELU_N1_TO_1":
        return max(lo, _quantize_f32(-1.0, scale, zero_point)), min(hi, _quantize_f32(1.0, scale, zero_point))
    raise ModelError(f"fused activation {activation} is not supported by tinyops-c",
                     hint="use NONE, RELU, RELU6 or RELU_N1_TO_1, or run the model with TFLM")


def f64(x: float) -> float:
    """A float32 quantization parameter widened to double, as TFLM's static_cast<double>."""
    return float(np.float32(x))


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of TFLM's int8 SoftmaxPrepare."""
    real = min(f64(beta) * f64(input_scale) * float(1 << 26), float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    if real <= 1.0 or shift < 0:  # TFLM's QuantizeMultiplierGreaterThanOne check
        raise ModelError(f"SOFTMAX input scale {input_scale:g} is too small (TFLM aborts on it too)",
                         hint="train the model (or use He-normal initialisation) so logits have a sane range")
    radius = math.floor(((1 << 5) - 1) * float(1 << 26) / float(1 << shift))
    return mult, shift, -radius


def sigmoid_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius) of TFLM's int8 LOGISTIC/TANH."""
    real = f64(input_scale) * float(1 << 27)
    q, shift = math.frexp(real)
    mult = round_away(q * (1 << 31))
    if mult >= 1 << 31:  # static_cast<int32_t> wraps in TFLM
        mult -= 1 << 32
    radius = math.floor(((1 << 4) - 1) * float(1 << 27) / (2.0 ** shift))
    if not -31 <= shift <= 30:
        raise ModelError(f"activation input scale {input_scale:g} is out of the supported range",
                         hint="re-quantize the model with a representative dataset")
    return int(mult), int(shift), int(min(radius, (1 << 31) - 1))

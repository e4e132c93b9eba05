"""Multiply-accumulates of a TFLite operator (one count for `inspect`, the fit report and
the tinyops-c op table)."""

from __future__ import annotations

import numpy as np

from tinyops.runtimes.tflite_file import Operator, TFLiteModel


def op_macs(m: TFLiteModel, op: Operator) -> int:
    def shape(i: int) -> tuple[int, ...]:
        return m.tensors[i].shape if i >= 0 else ()

    out = shape(op.outputs[0]) if op.outputs else ()
    n_out = int(np.prod(out, dtype=np.int64)) if out else 0
    if op.opcode == "CONV_2D" and len(op.inputs) > 1:
        co, kh, kw, ci = shape(op.inputs[1])
        return n_out * kh * kw * ci
    if op.opcode == "DEPTHWISE_CONV_2D" and len(op.inputs) > 1:
        _, kh, kw, _ = shape(op.inputs[1])
        return n_out * kh * kw
    if op.opcode == "FULLY_CONNECTED" and len(op.inputs) > 1:
        w = shape(op.inputs[1])
        return n_out * w[-1] if len(w) == 2 else 0
    if op.opcode == "TRANSPOSE_CONV" and len(op.inputs) > 2:
        co, kh, kw, ci = shape(op.inputs[1])
        return int(np.prod(shape(op.inputs[2]), dtype=np.int64)) * kh * kw * co
    if op.opcode == "BATCH_MATMUL" and op.inputs:
        a = shape(op.inputs[0])
        return n_out * (a[-1] if a else 0)
    return 0


def count_macs(m: TFLiteModel) -> int:
    """Multiply-accumulates of the whole model."""
    return int(sum(op_macs(m, op) for op in m.operators))

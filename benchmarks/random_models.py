"""How many random int8 Keras models tinyops-c runs, of those TFLite Micro runs.

Builds N random small Keras models (seeded) from a vocabulary of common layers
(convolutions, transposed convolutions, pooling, activations including LeakyReLU,
hard-swish and GELU, residual add/sub/multiply, concatenation, resizing, padding,
cropping, permutes, dense heads), converts each to int8 (TFLiteConverter with a
representative dataset), and runs it through TFLM and tinyops-c on random inputs.

Reports, among the models TFLM accepts: how many tinyops-c accepts today, how many
it would have accepted with only its original 19 ops, which ops the rest miss, and
whether every accepted model is bit-exact with TFLM.

    python benchmarks/random_models.py [N]        # writes benchmarks/results/random_models.json
"""

from __future__ import annotations

import collections
import sys
from typing import Any

import numpy as np
from _common import write_result

ORIGINAL_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "ADD",
                "MUL", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "SOFTMAX", "LOGISTIC", "TANH", "QUANTIZE", "DEQUANTIZE",
                "PAD", "PADV2", "CONCATENATION"}


def random_model(keras: Any, rng: np.random.Generator) -> Any:
    L = keras.layers
    size = int(rng.choice([8, 12, 16]))
    inp = keras.Input((size, size, int(rng.integers(1, 4))), batch_size=1)
    x = inp

    def act() -> Any:
        k = rng.integers(0, 8)
        return [L.ReLU(), L.ReLU(6.0), L.LeakyReLU(0.2), L.Activation("hard_swish"), L.Activation("sigmoid"),
                L.Activation("tanh"), L.Activation("gelu"), L.Activation("linear")][k]

    for _ in range(int(rng.integers(2, 6))):
        h, c = int(x.shape[1]), int(x.shape[3])
        k = int(rng.integers(0, 12))
        if k == 0:
            x = L.Conv2D(int(rng.integers(2, 9)), 3, padding="same", activation=rng.choice(["relu", None]))(x)
        elif k == 1:
            x = L.DepthwiseConv2D(3, padding="same")(x)
        elif k == 2 and h >= 4:
            x = L.MaxPooling2D(2)(x) if rng.random() < 0.5 else L.AveragePooling2D(2)(x)
        elif k == 3:
            x = act()(x)
        elif k == 4:
            y = L.Conv2D(c, 1)(x)
            x = [L.Add(), L.Subtract(), L.Multiply()][int(rng.integers(0, 3))]([x, act()(y)])
        elif k == 5:
            x = L.Concatenate()([x, L.Conv2D(int(rng.integers(1, 4)), 1)(x)])
        elif k == 6 and h <= 16:
            x = L.Conv2DTranspose(int(rng.integers(2, 6)), 3, strides=2, padding="same")(x)
        elif k == 7 and h <= 16:
            x = L.UpSampling2D(2, interpolation=str(rng.choice(["nearest", "bilinear"])))(x)
        elif k == 8:
            x = L.ZeroPadding2D(1)(x)
        elif k == 9 and h >= 4:
            x = L.Cropping2D(1)(x)
        elif k == 10:
            x = L.Permute((2, 1, 3))(x)
        else:
            x = L.BatchNormalization()(L.Conv2D(c, 3, strides=2, padding="same")(x))
    x = L.GlobalAveragePooling2D()(x) if rng.random() < 0.5 else L.Flatten()(x)
    return keras.Model(inp, L.Dense(int(rng.integers(2, 6)), activation=rng.choice(["softmax", None]))(x))


def convert(tf: Any, model: Any, rng: np.random.Generator) -> bytes:
    shape = tuple(model.inputs[0].shape)
    rep = [rng.normal(0, 1, size=shape).astype(np.float32) for _ in range(16)]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r] for r in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


def main(n: int) -> None:
    import tensorflow as tf

    from tinyops.errors import ModelError
    from tinyops.runtimes import open_runtime, tflite_file
    from tinyops.runtimes.tinyops_c.native import NativeRuntime

    counts: collections.Counter[str] = collections.Counter()
    missing: collections.Counter[str] = collections.Counter()
    mismatched: list[int] = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        tf.keras.utils.set_random_seed(seed)
        try:
            data = convert(tf, random_model(tf.keras, rng), rng)
        except Exception:  # noqa: BLE001 - a model the converter refuses is not counted
            counts["conversion_failed"] += 1
            continue
        ops = set(tflite_file.read(data).op_names)
        xs = rng.integers(-128, 128, size=(3, *tflite_file.read(data).input_tensors[0].shape[1:]), dtype=np.int8)
        try:
            with open_runtime("tflm", data) as ref:
                want = ref.run_many(xs)
        except Exception:  # noqa: BLE001 - TFLM refusing the model (missing kernel, arena...) is the point
            counts["tflm_rejects"] += 1
            continue
        counts["tflm_accepts"] += 1
        counts["original_ops_would_accept"] += ops <= ORIGINAL_OPS
        try:
            got = NativeRuntime(data).run_many(xs)
        except ModelError as e:
            counts["tinyops_c_rejects"] += 1
            from tinyops.runtimes.tinyops_c import SUPPORTED_OPS

            missing.update(sorted(ops - set(SUPPORTED_OPS)) or [f"other: {e.message[:80]}"])
            continue
        counts["tinyops_c_accepts"] += 1
        if np.array_equal(got, want):
            counts["bit_exact"] += 1
        else:
            mismatched.append(seed)
    write_result("random_models", {
        "models": n, **dict(counts), "missing_ops": dict(missing.most_common()), "mismatched_seeds": mismatched,
        "command": f"python benchmarks/random_models.py {n}",
    })


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)

"""Real Keras models that need the newer tinyops-c ops, converted to int8 by tinyops'
own converter (a child process, as `tinyops convert` runs it): a convolutional
autoencoder (Conv2DTranspose -> TRANSPOSE_CONV), a model of resizing, slicing, splitting,
permuting, stacking and mirror padding, and an unrolled LSTM (STRIDED_SLICE, SPLIT,
UNPACK...). Each gives 100% identical int8 outputs to TFLite Micro. A Keras LSTM left
rolled crashes TF 2.21's converter: that becomes a clear error, not a dead test run."""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyops.runtimes import open_runtime, tflite_file
from tinyops.runtimes.tinyops_c.native import NativeRuntime


def conv_autoencoder(keras: Any) -> Any:
    L = keras.layers
    inp = keras.Input((16, 16, 1), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)  # an unfused RELU follows
    x = L.Conv2DTranspose(4, 4, strides=2, padding="valid")(x)
    x = L.Cropping2D(((1, 1), (1, 1)))(x)
    return keras.Model(inp, L.Conv2D(1, 1)(x))


def data_movement(keras: Any) -> Any:
    import tensorflow as tf

    L = keras.layers
    inp = keras.Input((8, 8, 4), batch_size=1)
    # (UpSampling2D's nearest mode converts to TILE, which TFLM lacks)
    a = L.Lambda(lambda t: tf.image.resize(t, (16, 16), method="nearest"))(inp)
    b = L.UpSampling2D(2, interpolation="bilinear")(inp)
    x = L.Concatenate()([a, b])
    x = L.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = L.Lambda(lambda t: tf.pad(t, [[0, 0], [2, 1], [1, 2], [0, 0]], mode="REFLECT"))(x)
    x = L.Lambda(lambda t: t[:, 1:-1:2, ::2, :])(x)  # 19x19 -> 9x10
    p, q = L.Lambda(lambda t: tf.split(t, [2, 4], axis=3))(x)
    p = L.Permute((2, 1, 3))(p)
    x = L.Concatenate()([L.Reshape((9, 10, 2))(p), q])
    x = L.Lambda(lambda t: tf.image.resize(t, (5, 7), method="bilinear"))(x)
    x = L.Lambda(lambda t: tf.stack(tf.unstack(t, axis=1)[::-1], axis=2))(x)
    x = L.Lambda(lambda t: tf.gather(t, [3, 0, 5, 5, 1], axis=3))(x)
    return keras.Model(inp, L.Dense(3)(L.Flatten()(x)))


def lstm(keras: Any, unroll: bool = True) -> Any:
    L = keras.layers
    inp = keras.Input((6, 5), batch_size=1)
    x = L.LSTM(8, unroll=unroll)(inp)
    return keras.Model(inp, L.Dense(3)(x))


BUILDERS: dict[str, Callable[[Any], Any]] = {"conv_autoencoder": conv_autoencoder, "data_movement": data_movement,
                                             "lstm_unrolled": lstm}


def _convert(build: Callable[[Any], Any]) -> bytes:
    import tensorflow as tf

    from tinyops.ml.convert import convert_bytes

    tf.keras.utils.set_random_seed(1234)
    model = build(tf.keras)
    rep = np.random.default_rng(7).normal(0.0, 1.0, size=(24, *model.inputs[0].shape[1:])).astype(np.float32)
    if any(isinstance(layer, tf.keras.layers.Lambda) for layer in model.layers):
        # a saved Lambda layer does not load back (Keras safe mode): convert here, as the worker would
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([r[None]] for r in rep)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
        return conv.convert()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        return convert_bytes(Path(path).read_bytes(), "int8", rep)


def _cached(name: str, build: Callable[[Any], Any]) -> Path:
    """Where a conversion's result is kept: keyed by the builder's and the converter call's source."""
    root = Path(os.environ.get("TINYOPS_TEST_CACHE", Path.home() / ".cache" / "tinyops" / "test-models"))
    key = hashlib.sha256((inspect.getsource(build) + inspect.getsource(_convert)).encode()).hexdigest()[:12]
    return root / "keras-data" / f"{name}-{key}"


def model_bytes(name: str) -> bytes:
    """Converted once, then cached (override the root with TINYOPS_TEST_CACHE)."""
    path = _cached(name, BUILDERS[name]).with_suffix(".tflite")
    cache = path.parent
    if not path.exists():
        data = _convert(BUILDERS[name])
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path.read_bytes()


EXPECT = {"conv_autoencoder": {"TRANSPOSE_CONV", "STRIDED_SLICE", "RELU"},
          "data_movement": {"RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "MIRROR_PAD", "STRIDED_SLICE", "SPLIT_V",
                            "TRANSPOSE", "PACK", "UNPACK", "GATHER"},
          "lstm_unrolled": {"UNPACK", "SPLIT", "FULLY_CONNECTED", "LOGISTIC", "TANH"}}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_keras_model_identical_to_tflm(name: str) -> None:
    data = model_bytes(name)
    ops = set(tflite_file.read(data).op_names)
    assert EXPECT[name] <= ops, f"{name}: the converter emitted {sorted(ops)}"
    ours = NativeRuntime(data)
    rng = np.random.default_rng(5)
    xs = rng.integers(-128, 128, size=(5, *ours.inputs[0].shape[1:]), dtype=np.int8)
    xs[0], xs[1] = -128, 127
    with open_runtime("tflm", data) as ref:
        want = ref.run_many(xs)
    got = ours.run_many(xs)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want, err_msg=f"{name} differs from TFLM ({sorted(ops)})")


def test_rolled_keras_lstm_is_a_clear_error_not_a_crash() -> None:
    """TF 2.21's converter segfaults on a rolled Keras LSTM: tinyops reports it as a ModelError.
    Where a converter emits UNIDIRECTIONAL_SEQUENCE_LSTM instead, tinyops-c names the op and TFLM."""
    from tinyops.errors import ModelError
    from tinyops.runtimes.tinyops_c import compile_image

    marker = _cached("lstm_rolled", lstm).with_suffix(".error")
    if marker.exists():
        message = marker.read_text()
    else:
        try:
            data = _convert(lambda keras: lstm(keras, unroll=False))
            with pytest.raises(ModelError) as e:
                compile_image(data)
            assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in str(e.value) and "TFLM" in e.value.hint
        except ModelError as e:
            message = f"{e} | {e.hint}"
        else:
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(message)
    assert "converter crashed (signal" in message and "simplify" in message

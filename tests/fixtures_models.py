"""Int8 .tflite fixtures: the four MLPerf Tiny reference architectures plus two small
example-like models, built in Keras with He-normal random weights and converted with a
representative dataset.

Conversion of all six takes about a minute, so converted files are cached on disk in a
folder keyed by a hash of this file and the TensorFlow version (override the root with
TINYOPS_TEST_CACHE). TensorFlow is imported only when a file is missing.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL_NAMES = ("ds_cnn_kws", "mobilenet_vww", "resnet8_ic", "autoencoder_ad", "digits_cnn", "imu_cnn")
MLPERF_MODELS = MODEL_NAMES[:4]


def _cache_dir() -> Path:
    root = Path(os.environ.get("TINYOPS_TEST_CACHE", Path.home() / ".cache" / "tinyops" / "test-models"))
    src = Path(__file__).read_bytes()
    try:
        from importlib import metadata

        tf_version = metadata.version("tensorflow-cpu")
    except Exception:  # noqa: BLE001 - any TF build works; the version only keys the cache
        tf_version = "tf"
    key = hashlib.sha256(src + tf_version.encode()).hexdigest()[:12]
    d = root / key
    d.mkdir(parents=True, exist_ok=True)
    return d


def _init() -> dict[str, Any]:
    return {"kernel_initializer": "he_normal"}


def _dw_init(keras: Any) -> Any:
    # Keras counts a depthwise kernel's fan-in as 9*C, so its "he_normal" shrinks the
    # signal by sqrt(C) per block; deep nets then reach a softmax input scale TFLM
    # refuses. He scaling over the real fan-in (3x3=9) keeps activations in range.
    return keras.initializers.RandomNormal(stddev=(2.0 / 9.0) ** 0.5, seed=None)


def ds_cnn_kws(keras: Any) -> Any:
    """DS-CNN (MLPerf Tiny keyword spotting): 49x10x1 MFCC → 12 classes."""
    L = keras.layers
    inp = keras.Input((49, 10, 1), batch_size=1)
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False, **_init())(inp)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D((3, 3), padding="same", use_bias=False, depthwise_initializer=_dw_init(keras))(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(64, (1, 1), use_bias=False, **_init())(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(12, activation="softmax", **_init())(x))


def mobilenet_vww(keras: Any) -> Any:
    """MobileNetV1 alpha=0.25 (MLPerf Tiny visual wake words): 96x96x3 → 2 classes."""
    L = keras.layers
    inp = keras.Input((96, 96, 3), batch_size=1)
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, **_init())(inp)
    x = L.ReLU(6.0)(L.BatchNormalization()(x))
    for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
                            (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                              depthwise_initializer=_dw_init(keras))(x)
        x = L.ReLU(6.0)(L.BatchNormalization()(x))
        x = L.Conv2D(filters, 1, use_bias=False, **_init())(x)
        x = L.ReLU(6.0)(L.BatchNormalization()(x))
    x = L.AveragePooling2D(pool_size=(3, 3))(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(2, activation="softmax", **_init())(x))


def resnet8_ic(keras: Any) -> Any:
    """ResNet-8 (MLPerf Tiny image classification): 32x32x3 → 10 classes."""
    L = keras.layers
    inp = keras.Input((32, 32, 3), batch_size=1)
    x = L.Conv2D(16, 3, padding="same", **_init())(inp)
    x = L.ReLU()(L.BatchNormalization()(x))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.Conv2D(filters, 3, strides=stride, padding="same", **_init())(x)
        y = L.ReLU()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", **_init())(y))
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, **_init())(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", **_init())(x))


def autoencoder_ad(keras: Any) -> Any:
    """Fully-connected autoencoder (MLPerf Tiny anomaly detection): 640 → 640."""
    L = keras.layers
    inp = keras.Input((640,), batch_size=1)
    x = inp
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units, **_init())(x)))
    return keras.Model(inp, L.Dense(640, **_init())(x))


def digits_cnn(keras: Any) -> Any:
    """A small digits-like classifier: 8x8x1 → 10 classes."""
    L = keras.layers
    inp = keras.Input((8, 8, 1), batch_size=1)
    x = L.Conv2D(8, 3, padding="same", activation="relu", **_init())(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(32, activation="relu", **_init())(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", **_init())(x))


def imu_cnn(keras: Any) -> Any:
    """An IMU activity-like classifier: 100 samples x 6 channels → 6 classes (Conv1D)."""
    L = keras.layers
    inp = keras.Input((100, 6), batch_size=1)
    x = L.Conv1D(16, 5, strides=2, activation="relu", **_init())(inp)
    x = L.Conv1D(24, 3, padding="same", activation="relu", **_init())(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(16, activation="tanh", **_init())(x)
    return keras.Model(inp, L.Dense(6, activation="softmax", **_init())(x))


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "ds_cnn_kws": ds_cnn_kws, "mobilenet_vww": mobilenet_vww, "resnet8_ic": resnet8_ic,
    "autoencoder_ad": autoencoder_ad, "digits_cnn": digits_cnn, "imu_cnn": imu_cnn,
}


def _convert(name: str) -> bytes:
    import numpy as np
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1234)
    model = BUILDERS[name](tf.keras)
    shape = tuple(model.inputs[0].shape)
    rng = np.random.default_rng(7)

    def representative():
        for _ in range(24):
            yield [rng.normal(0.0, 1.0, size=shape).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def model_path(name: str) -> Path:
    """Path of the cached int8 .tflite for ``name``, converting it on first use."""
    if name not in BUILDERS:
        raise KeyError(f"unknown fixture model {name!r}; choose from {MODEL_NAMES}")
    path = _cache_dir() / f"{name}.tflite"
    if not path.exists():
        data = _convert(name)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # atomic: concurrent test processes never see half a file
    return path


def model_bytes(name: str) -> bytes:
    return model_path(name).read_bytes()


if __name__ == "__main__":  # warm the cache: python tests/fixtures_models.py
    for n in MODEL_NAMES:
        print(n, model_path(n), model_path(n).stat().st_size)


def keras_like(tag: str) -> bytes:
    """The registry only needs a .keras container (zip with config.json); tag makes bytes differ."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", '{"tag": "%s"}' % tag)
        z.writestr("metadata.json", "{}")
    return buf.getvalue()

"""Named model architectures ("blocks") for small devices, or ``module:function``.

Every builder has the signature ``build(input_shape, num_classes, batch_size=None,
**params) -> keras.Model``. Training builds with ``batch_size=None`` (any batch);
the exported model is built again with ``batch_size=1`` and given the trained
weights, because converters and TFLite Micro want a fixed batch of one.

The blocks keep to the operators every int8 runtime we target has (CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX/AVERAGE_POOL_2D, RESHAPE, SOFTMAX): the
1-D CNN is written as a 2-D convolution over a (time, 1, channels) image, and global
pooling as an average pool over the whole feature map, so no MEAN/EXPAND_DIMS ops
appear. Depthwise kernels use He-normal initialisation: Keras' default for them
makes tiny activations whose int8 softmax input scale TFLite Micro rejects.

A custom ``package.module:function`` must accept the same arguments.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from tinyops.errors import InputError

Builder = Callable[..., Any]


def _keras() -> Any:
    import keras  # lazy: only training imports TensorFlow/Keras

    return keras


def _input(keras: Any, input_shape: tuple[int, ...], batch_size: int | None, normalize: bool) -> tuple[Any, Any]:
    """The model input and, with ``normalize``, a Normalization layer fitted later on the training split."""
    inp = keras.Input(tuple(input_shape), batch_size=batch_size)
    if not normalize:
        return inp, inp
    return inp, keras.layers.Normalization(axis=-1, name=NORMALIZE_LAYER)(inp)


NORMALIZE_LAYER = "normalize"


def _head(keras: Any, x: Any, num_classes: int, dense: int, dropout: float) -> Any:
    L = keras.layers
    if len(x.shape) > 2:
        x = L.Flatten()(x)
    if dense:
        x = L.Dense(dense, activation="relu", kernel_initializer="he_normal")(x)
    if dropout:
        x = L.Dropout(dropout)(x)
    return L.Dense(num_classes, activation="softmax")(x)


def mlp(input_shape: tuple[int, ...], num_classes: int, batch_size: int | None = None, *,
        hidden: list[int] = [64, 32], dropout: float = 0.0, normalize: bool = False) -> Any:  # noqa: B006 - read only
    """Dense layers over the flattened input (``normalize``: standardise each input on the training split)."""
    keras = _keras()
    L = keras.layers
    inp, x = _input(keras, input_shape, batch_size, normalize)
    x = L.Flatten()(x) if len(input_shape) > 1 else x
    for units in hidden:
        x = L.Dense(int(units), activation="relu", kernel_initializer="he_normal")(x)
    return keras.Model(inp, _head(keras, x, num_classes, 0, dropout), name="mlp")


def cnn1d(input_shape: tuple[int, ...], num_classes: int, batch_size: int | None = None, *,
          filters: list[int] = [16, 32], kernel_size: int = 5, pool: int = 2, dense: int = 0,
          dropout: float = 0.0, global_pool: bool = True, normalize: bool = False) -> Any:  # noqa: B006
    """Convolutions along time for sensor windows shaped (steps, channels)."""
    keras = _keras()
    L = keras.layers
    if len(input_shape) != 2:
        raise InputError(f"cnn1d needs inputs shaped (steps, channels), got {tuple(input_shape)}",
                         hint="set [data] reshape = [STEPS, CHANNELS] or pick cnn2d/mlp")
    steps, channels = input_shape
    inp, x = _input(keras, input_shape, batch_size, normalize)
    x = L.Reshape((steps, 1, channels))(x)
    for f in filters:
        x = L.Conv2D(int(f), (kernel_size, 1), padding="same", activation="relu", kernel_initializer="he_normal")(x)
        if pool > 1 and x.shape[1] >= pool:
            x = L.MaxPooling2D((pool, 1))(x)
    if global_pool:
        x = L.AveragePooling2D((x.shape[1], 1))(x)
    return keras.Model(inp, _head(keras, x, num_classes, dense, dropout), name="cnn1d")


def cnn2d(input_shape: tuple[int, ...], num_classes: int, batch_size: int | None = None, *,
          filters: list[int] = [8, 16], kernel_size: int = 3, pool: int = 2, dense: int = 0,
          dropout: float = 0.0, normalize: bool = False) -> Any:  # noqa: B006
    """Conv → ReLU → max-pool stages for (height, width, channels) images."""
    keras = _keras()
    L = keras.layers
    if len(input_shape) != 3:
        raise InputError(f"cnn2d needs inputs shaped (height, width, channels), got {tuple(input_shape)}",
                         hint="set [data] reshape = [H, W, C]")
    inp, x = _input(keras, input_shape, batch_size, normalize)
    for f in filters:
        x = L.Conv2D(int(f), kernel_size, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        if pool > 1 and min(x.shape[1], x.shape[2]) >= pool:
            x = L.MaxPooling2D(pool)(x)
    return keras.Model(inp, _head(keras, x, num_classes, dense, dropout), name="cnn2d")


def dscnn(input_shape: tuple[int, ...], num_classes: int, batch_size: int | None = None, *,
          filters: list[int] = [16, 32], kernel_size: int = 3, first_stride: int = 1,
          dropout: float = 0.0, normalize: bool = False) -> Any:  # noqa: B006
    """Depthwise-separable CNN (as in MLPerf Tiny's DS-CNN): a conv, then depthwise + 1x1 pairs."""
    keras = _keras()
    L = keras.layers
    if len(input_shape) != 3:
        raise InputError(f"dscnn needs inputs shaped (height, width, channels), got {tuple(input_shape)}",
                         hint="set [data] reshape = [H, W, C]")
    inp, x = _input(keras, input_shape, batch_size, normalize)
    x = L.Conv2D(int(filters[0]), kernel_size, strides=first_stride, padding="same", activation="relu",
                 kernel_initializer="he_normal")(x)
    for f in filters[1:] or filters[:1]:
        x = L.DepthwiseConv2D(kernel_size, padding="same", activation="relu", depthwise_initializer="he_normal")(x)
        x = L.Conv2D(int(f), 1, activation="relu", kernel_initializer="he_normal")(x)
    x = L.AveragePooling2D((x.shape[1], x.shape[2]))(x)
    return keras.Model(inp, _head(keras, x, num_classes, 0, dropout), name="dscnn")


BLOCKS: dict[str, Builder] = {"mlp": mlp, "cnn1d": cnn1d, "cnn2d": cnn2d, "dscnn": dscnn}


def resolve(kind: str, base_dir: str | None = None) -> Builder:
    """A named block, or ``package.module:function`` imported on demand.

    The module is looked up in ``base_dir`` (the recipe's folder) first, then on sys.path.
    """
    if kind in BLOCKS:
        return BLOCKS[kind]
    if ":" not in kind:
        raise InputError(f"unknown architecture `{kind}`",
                         hint=f"use one of {', '.join(BLOCKS)} or 'package.module:function'")
    module_name, _, func_name = kind.partition(":")
    import sys

    added = base_dir is not None and base_dir not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        from tinyops.extras import from_import_error

        missing = from_import_error(e)
        if missing is not None:
            raise missing from e
        raise InputError(f"cannot import architecture module `{module_name}`: {e}",
                         hint="put it next to the recipe (module.py beside recipe.toml) or install it") from e
    finally:
        if added:
            sys.path.remove(str(base_dir))
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise InputError(f"`{module_name}` has no function `{func_name}`", hint="check the name after ':'")
    return fn


_POSITIVE = {"kernel_size", "pool", "first_stride", "filters", "hidden"}


def _check_value(kind: str, key: str, value: Any, default: Any) -> None:
    where = f"[architecture] `{key}` of `{kind}`"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, got {value!r}", hint=f"e.g. {key} = true")
        return
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be an integer, got {value!r}", hint=f"e.g. {key} = {default}")
        if value < (1 if key in _POSITIVE else 0) or value > 65536:
            raise InputError(f"{where} is out of range ({value})",
                             hint=f"use {'1' if key in _POSITIVE else '0'}..65536, e.g. {key} = {default}")
        return
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number, got {value!r}", hint=f"e.g. {key} = {default}")
        if key == "dropout" and not 0 <= value < 1:
            raise InputError(f"{where} must be in [0, 1), got {value}", hint="e.g. dropout = 0.2")
        return
    if isinstance(default, list):
        if not isinstance(value, list) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536 for v in value):
            raise InputError(f"{where} must be a non-empty list of integers 1..65536, got {value!r}",
                             hint=f"e.g. {key} = {default}")


def check_params(kind: str, params: dict[str, Any], base_dir: str | None = None) -> None:
    """Reject parameters the builder does not take, or of the wrong type or range, before any training."""
    fn = resolve(kind, base_dir)
    sig = inspect.signature(fn)
    if kind in BLOCKS:
        for key, value in params.items():
            p = sig.parameters.get(key)
            if p is not None and p.default is not inspect.Parameter.empty:
                _check_value(kind, key, value, p.default)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = [n for n in sig.parameters if n not in ("input_shape", "num_classes", "batch_size")]
    for key in params:
        if key not in accepted:
            raise InputError(f"[architecture] unknown key `{key}` for `{kind}`",
                             hint=f"valid keys are kind, {', '.join(accepted)}")


def build(kind: str, params: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
          batch_size: int | None = None, base_dir: str | None = None) -> Any:
    """Build the Keras model a recipe's [architecture] section describes."""
    check_params(kind, params, base_dir)
    model = resolve(kind, base_dir)(tuple(input_shape), int(num_classes), batch_size, **params)
    if not hasattr(model, "fit"):
        raise InputError(f"architecture `{kind}` did not return a Keras model", hint="return keras.Model(...)")
    return model

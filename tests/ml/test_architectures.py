"""Named blocks build for training (any batch) and export (batch 1) with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from tinyops.errors import InputError
from tinyops.ml import architectures

CASES = [("mlp", (64,), {}), ("cnn1d", (100, 6), {"filters": [4, 8]}), ("cnn2d", (8, 8, 1), {"filters": [4, 8], "dense": 8}),
         ("dscnn", (16, 16, 1), {"filters": [4, 8]})]


@pytest.mark.parametrize("kind, shape, params", CASES)
def test_block_builds_and_shares_weights_with_batch_one(kind: str, shape: tuple, params: dict) -> None:
    train_model = architectures.build(kind, params, shape, 5, batch_size=None)
    export = architectures.build(kind, params, shape, 5, batch_size=1)
    assert train_model.inputs[0].shape[0] is None
    assert tuple(export.inputs[0].shape) == (1, *shape)
    export.set_weights(train_model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype(np.float32)
    a = np.asarray(train_model(x))
    b = np.concatenate([np.asarray(export(x[i:i + 1])) for i in range(3)])
    assert a.shape == (3, 5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)  # softmax head


def test_depthwise_kernels_use_he_normal() -> None:
    model = architectures.build("dscnn", {"filters": [4, 8]}, (16, 16, 1), 3)
    dw = [layer for layer in model.layers if layer.__class__.__name__ == "DepthwiseConv2D"]
    assert dw and all(layer.depthwise_initializer.__class__.__name__ == "HeNormal" for layer in dw)


def test_wrong_input_rank_and_unknown_params() -> None:
    with pytest.raises(InputError, match="cnn2d needs inputs shaped"):
        architectures.build("cnn2d", {}, (64,), 10)
    with pytest.raises(InputError, match="unknown key `units`"):
        architectures.build("mlp", {"units": 3}, (64,), 10)
    with pytest.raises(InputError, match="unknown architecture"):
        architectures.resolve("resnet")


def test_module_function_architecture() -> None:
    fn = architectures.resolve("tinyops.ml.architectures:mlp")
    assert fn is architectures.mlp

"""Child process for the TFLite converter (``python -m tinyops.ml.convert_worker DIR``).

TensorFlow's converter can abort or segfault on unusual models; run here, a crash
is an exit status the parent turns into a clear error. DIR holds ``request.json``
(quant, format), ``model.bin`` (a .keras file or a zipped SavedModel) and, for int8,
``rep.npy`` (float calibration rows). The worker writes ``out.tflite`` or
``error.txt`` (one line). Models are rebatched to a batch of one: converters and
TFLite Micro want a fixed batch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


class _Refused(Exception):
    pass


def _keras_batch1(path: str) -> tuple[Any, list[int]]:
    import keras

    model = keras.models.load_model(path, compile=False)
    if len(model.inputs) != 1:
        raise _Refused(f"the model has {len(model.inputs)} inputs; tinyops converts models with one input")
    shape = [None if d is None else int(d) for d in model.inputs[0].shape]
    if any(d is None for d in shape[1:]):
        raise _Refused(f"the model's input shape {tuple(shape)} has unknown sizes besides the batch")
    # A model whose batch is not 1 is converted through a batch-1 concrete function of the model
    # itself (not a clone: cloning loses state such as a Normalization layer's adapted statistics).
    return model, [1, *shape[1:]]


def _converter(req: dict[str, Any], d: Path) -> tuple[Any, list[int]]:
    import tensorflow as tf

    if req["format"] == "savedmodel":
        folder = d / "savedmodel"
        with zipfile.ZipFile(d / "model.bin") as z:
            z.extractall(folder)
        loaded = tf.saved_model.load(str(folder))
        fn = loaded.signatures.get("serving_default")
        if fn is None:
            raise _Refused("the SavedModel has no serving_default signature")
        specs = fn.structured_input_signature[1]
        if len(specs) != 1:
            raise _Refused(f"the SavedModel takes {len(specs)} inputs; tinyops converts models with one input")
        (key, spec), = specs.items()
        shape = [1, *[int(x) if x is not None else -1 for x in spec.shape[1:]]]
        if -1 in shape:
            raise _Refused(f"the SavedModel's input shape {spec.shape} has unknown sizes besides the batch")

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
        def serve(x: Any) -> Any:
            out = fn(**{key: x})
            return next(iter(out.values())) if len(out) == 1 else out

        return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], loaded), shape
    path = str(d / "model.keras")
    os.replace(d / "model.bin", path)
    model, shape = _keras_batch1(path)
    if int(model.inputs[0].shape[0] or 0) == 1:
        return tf.lite.TFLiteConverter.from_keras_model(model), shape

    import keras

    # Keras' own export with a batch-1 signature; the SavedModel converter freezes its variables.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec(shape, tf.float32)])
    exported = str(d / "batch1")
    archive.write_out(exported, verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(exported, signature_keys=["serve"]), shape


def convert(d: Path, progress_fd: int | None = None) -> bytes:
    """The converted model; with ``progress_fd``, one ``calibrated I N`` line per calibration sample."""
    import tensorflow as tf

    req = json.loads((d / "request.json").read_text())
    conv, shape = _converter(req, d)
    quant = req["quant"]
    if quant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif quant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quant == "int8":
        rep = np.load(d / "rep.npy", allow_pickle=False)
        if int(np.prod(rep.shape[1:])) != int(np.prod(shape[1:])):
            raise _Refused(f"calibration samples have {int(np.prod(rep.shape[1:]))} values, the model input "
                           f"{tuple(shape)} wants {int(np.prod(shape[1:]))}")

        def representative() -> Any:
            for i, x in enumerate(rep, 1):
                yield [x.reshape(shape).astype(np.float32)]
                if progress_fd is not None:
                    os.write(progress_fd, f"calibrated {i} {len(rep)}\n".encode())

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    d = Path(sys.argv[1])
    real_stdout = os.dup(1)
    os.dup2(2, 1)  # TensorFlow prints from C++; keep it off our stdout
    try:
        (d / "out.tflite").write_bytes(convert(d, real_stdout))
    except _Refused as e:
        (d / "error.txt").write_text("REFUSED " + str(e))
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - the converter raises many types; report them one way
        text = str(e).strip()
        (d / "error.txt").write_text(text.splitlines()[-1] if text else type(e).__name__)
        sys.exit(2)
    finally:
        os.dup2(real_stdout, 1)


if __name__ == "__main__":
    main()

"""Train a model from a recipe, record the run, register the model version.

Same recipe + data + seed on the same machine gives identical metrics and weights:
the seed draws the split and seeds Python, numpy and TensorFlow
(``keras.utils.set_random_seed``), and TensorFlow's op determinism is switched on.

The registered artifact is the model rebuilt with a fixed batch of one (what
converters and TFLite Micro want) carrying the trained weights.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyops.errors import InputError, ModelError
from tinyops.ml import architectures, dataprep, recipes
from tinyops.ml.metrics import classification

if TYPE_CHECKING:
    from tinyops.workspace import Workspace

Progress = Callable[[int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    run: str
    model: str  # reference, e.g. digits@3
    metrics: dict[str, Any]
    epochs: int
    duration_s: float
    dataset: str
    labels: list[str]
    weights_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weights_sha256(model: Any) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def _optimizer(keras: Any, name: str, lr: float) -> Any:
    return {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
            "adamw": keras.optimizers.AdamW}[name](learning_rate=lr)


def _check_features(ws: Workspace, refs: list[str]) -> list[str]:
    from tinyops.registry import features as feature_store

    return [feature_store.resolve(ws, r).ref for r in refs]


def train(ws: Workspace, recipe: Path | str | dict[str, Any], *, seed: int | None = None, data: str | None = None,
          progress: Progress | None = None, parent: str | None = None) -> TrainResult:
    """Validate everything, then train, record the run and register the model."""
    from tinyops.extras import require

    require("tensorflow", "keras", purpose="training")
    base_dir = None if isinstance(recipe, dict) else str(Path(recipe).resolve().parent)
    cfg = recipes.validate(recipe) if isinstance(recipe, dict) else recipes.load(recipe)
    seed = int(cfg["train"]["seed"] if seed is None else seed)
    dataset_ref = data or cfg["data"]["dataset"]
    if not dataset_ref:
        raise InputError("no dataset given", hint="pass --data NAME@V or set [data] dataset in the recipe")
    # Check all inputs before a run row exists: bad input must leave nothing behind.
    from tinyops.registry import datasets

    dv = datasets.resolve(ws, dataset_ref)
    cfg["data"]["features"] = _check_features(ws, cfg["data"]["features"])
    cfg["data"]["dataset"] = dv.ref
    prep = dataprep.prepare(ws, dv.ref, cfg["data"])
    assert prep.y is not None
    if len(prep.labels) < 2:
        raise InputError(f"{dv.ref} has only {len(prep.labels)} class(es) in `{cfg['data']['label']}`",
                         hint="a classifier needs at least two classes")
    split = dataprep.split_indices(len(prep.X), cfg["split"], seed)
    arch = {k: v for k, v in cfg["architecture"].items() if k != "kind"}
    kind = cfg["architecture"]["kind"]
    architectures.resolve(kind, base_dir)
    es = cfg["train"]["early_stopping"]
    if es and not len(split["validation"]) and es.get("monitor", "").startswith("val_"):
        raise InputError("early stopping watches validation data but [split] validation is 0",
                         hint="give the split a validation fraction or drop early_stopping")

    from tinyops.registry import models, runs

    params = {
        "dataset": dv.ref, "labels": prep.labels, "input_shape": list(prep.sample_shape),
        "architecture": cfg["architecture"], "train": cfg["train"], "split": cfg["split"],
        "split_rows": {k: int(len(v)) for k, v in split.items()}, "split_sha256": dataprep.indices_sha256(split),
    }
    t0 = time.time()
    with runs.track(ws, "train", params=params, seed=seed, datasets=[dv.ref], features=prep.features,
                    recipe=cfg) as run:
        from tinyops.ml._quiet import stdout_to_stderr

        with stdout_to_stderr():  # Keras/TF print from Python and C++; stdout is for --json
            keras, model, history = _fit(cfg, kind, arch, prep, split, seed, ws, run.id, progress, base_dir)
        test_rows = split["test"] if len(split["test"]) else (split["validation"] if len(split["validation"]) else split["train"])
        probs = model.predict(prep.X[test_rows], verbose=0, batch_size=256)
        test = classification(prep.y[test_rows], probs.argmax(axis=-1), len(prep.labels))
        export = architectures.build(kind, arch, prep.sample_shape, len(prep.labels), batch_size=1, base_dir=base_dir)
        export.set_weights(model.get_weights())
        digest = weights_sha256(export)
        with stdout_to_stderr():
            artifact = _keras_bytes(export)
        epochs = len(history.history.get("loss", []))
        metrics = {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"], "test_rows": test["rows"],
                   "train_loss": float(history.history["loss"][-1]), "epochs": epochs,
                   "parameters": int(export.count_params()), "weights_sha256": digest}
        if "val_accuracy" in history.history:
            metrics["val_accuracy"] = float(history.history["val_accuracy"][-1])
        mv = models.register(ws, cfg["model"]["name"], artifact, run_id=run.id, parent=parent,
                             metrics={k: v for k, v in metrics.items() if k != "weights_sha256"},
                             description=cfg["model"]["description"])
        runs.log_params(ws, run.id, {"model": mv.ref})
        runs.finish(ws, run.id, {**metrics, "confusion_matrix": test["confusion_matrix"]})
    return TrainResult(run=run.id, model=mv.ref, metrics=metrics, epochs=epochs, duration_s=round(time.time() - t0, 2),
                       dataset=dv.ref, labels=prep.labels, weights_sha256=digest)


def _fit(cfg: dict[str, Any], kind: str, arch: dict[str, Any], prep: dataprep.Prepared,
         split: dict[str, np.ndarray], seed: int, ws: Workspace, run_id: str, progress: Progress | None,
         base_dir: str | None = None) -> tuple[Any, Any, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ chatter off the terminal
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    t = cfg["train"]
    model = architectures.build(kind, arch, prep.sample_shape, len(prep.labels), batch_size=None, base_dir=base_dir)
    try:
        norm = model.get_layer(architectures.NORMALIZE_LAYER)
    except ValueError:
        norm = None
    if norm is not None:  # statistics from the training split only
        norm.adapt(prep.X[split["train"]])
    model.compile(optimizer=_optimizer(keras, t["optimizer"], float(t["learning_rate"])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert prep.y is not None
    tr, va = split["train"], split["validation"]
    callbacks: list[Any] = [_Recorder(ws, run_id, t["epochs"], progress)]
    if t["early_stopping"]:
        es = t["early_stopping"]
        monitor = es["monitor"] if len(va) or not es["monitor"].startswith("val_") else es["monitor"][4:]
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=es["patience"],
                                                       restore_best_weights=es["restore_best_weights"]))
    try:
        history = model.fit(prep.X[tr], prep.y[tr], epochs=t["epochs"], batch_size=t["batch_size"],
                            validation_data=(prep.X[va], prep.y[va]) if len(va) else None,
                            shuffle=True, verbose=0, callbacks=callbacks)
    except (ValueError, tf.errors.OpError) as e:
        raise ModelError(f"training failed: {e}", hint="check the architecture against the input shape") from e
    if not np.isfinite(history.history["loss"][-1]):
        raise ModelError("training diverged (loss is not finite)", hint="lower [train] learning_rate")
    return keras, model, history


def _keras_bytes(model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        return Path(path).read_bytes()


class _Recorder:
    """Keras callback (duck-typed base resolved lazily) logging epoch metrics to the run."""

    def __new__(cls, ws: Workspace, run_id: str, epochs: int, progress: Progress | None) -> Any:
        import keras

        from tinyops.registry import runs

        class Recorder(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                logs = {k: float(v) for k, v in (logs or {}).items()}
                runs.log_metrics(ws, run_id, logs, step=epoch + 1)
                if progress is not None:
                    progress(epoch + 1, epochs, logs)

        return Recorder()

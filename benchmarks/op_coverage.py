"""Random Keras op mixes: of the int8 models TFLite Micro runs, how many tinyops-c runs,
and are they bit-exact?

Each model is a random chain of 2-5 blocks (convolutions, standalone activations such as
RELU6, LEAKY_RELU, PRELU, HARD_SWISH and GELU, two-branch SUB/MAXIMUM/MINIMUM/
SQUARED_DIFFERENCE/DIV/ADD/MUL/CONCATENATION, EXP, channel REDUCE_MAX/SUM, pooling,
padding, slicing, transposes, resizing, transposed convolutions) on a small image, then
a head (global average pooling + dense + softmax, flatten + dense, or an int32 ARG_MAX).
Random He-normal weights; full-int8 conversion with random calibration data, in a child
process (a converter crash loses one model, not the run). Per model: the op list, whether
TFLM's interpreter runs it, whether tinyops-c compiles it (or the ops it names as missing),
and the share of identical output values on 4 random inputs. For models TFLM cannot run
(int8 EXP) the share against LiteRT is recorded too; it is 1.0 only when every other op in
the model is one where LiteRT's kernel agrees with TFLM's (LiteRT's LEAKY_RELU, RELU6 with
requantization, RESIZE_BILINEAR, DIV ... do not), so it says little beyond EXP. `accepted_before` counts the
models whose ops were all in tinyops-c's first 19 ops (the earlier op set).

Run: python benchmarks/op_coverage.py [N]   (default 60; writes benchmarks/results/op_coverage.json)
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

FIRST_19 = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "ADD",
            "MUL", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "SOFTMAX", "LOGISTIC", "TANH", "QUANTIZE", "DEQUANTIZE",
            "PAD", "PADV2", "CONCATENATION"}
BLOCKS = ["conv", "dw", "relu", "relu6", "leaky_relu", "prelu", "hard_swish", "gelu", "sub", "maximum", "minimum",
          "squared_difference", "div", "exp", "reduce_max", "sum", "add", "mul", "concat", "pool", "pad", "slice",
          "transpose", "upsample", "bilinear", "conv_transpose", "tanh", "sigmoid"]


def build_model(seed: int):  # runs in the child (TensorFlow)
    import keras
    import tensorflow as tf
    from keras import layers

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    hw, c = int(rng.choice([8, 12, 16])), int(rng.choice([1, 3]))
    inp = keras.Input((hw, hw, c), batch_size=1)
    x = inp
    kinds = [str(k) for k in rng.choice(BLOCKS, size=int(rng.integers(2, 6)))]
    init = "he_normal"

    def branch(t):
        return layers.Conv2D(t.shape[-1], 1, kernel_initializer=init)(t)

    for k in kinds:
        h, ch = x.shape[1], x.shape[-1]
        if k == "conv":
            x = layers.Conv2D(int(rng.integers(2, 9)), 3, padding="same", kernel_initializer=init,
                              activation=str(rng.choice(["linear", "relu"])))(x)
        elif k == "dw":
            x = layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=init)(x)
        elif k == "relu":
            x = layers.ReLU()(x)
        elif k == "relu6":
            x = layers.ReLU(6.0)(x)
        elif k == "leaky_relu":
            x = layers.LeakyReLU(0.2)(x)
        elif k == "prelu":
            x = layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2])(x)
        elif k in ("hard_swish", "gelu", "tanh", "sigmoid"):
            x = layers.Activation(k)(x)
        elif k == "sub":
            x = layers.Subtract()([x, branch(x)])
        elif k == "maximum":
            x = layers.Maximum()([x, branch(x)])
        elif k == "minimum":
            x = layers.Minimum()([x, branch(x)])
        elif k == "squared_difference":
            x = layers.Lambda(lambda t: tf.math.squared_difference(t[0], t[1]))([x, branch(x)])
        elif k == "div":
            x = layers.Lambda(lambda t: t[0] / (tf.sigmoid(t[1]) + 0.5))([x, branch(x)])
        elif k == "exp":
            x = layers.Lambda(lambda t: tf.exp(t * 0.25))(x)
        elif k == "reduce_max":
            x = layers.Concatenate()([x, layers.Lambda(lambda t: tf.reduce_max(t, axis=-1, keepdims=True))(x)])
        elif k == "sum":
            x = layers.Concatenate()([x, layers.Lambda(lambda t: tf.reduce_sum(t, axis=-1, keepdims=True))(x)])
        elif k == "add":
            x = layers.Add()([x, branch(x)])
        elif k == "mul":
            x = layers.Multiply()([x, branch(x)])
        elif k == "concat":
            x = layers.Concatenate()([x, branch(x)])
        elif k == "pool" and h >= 4:
            x = (layers.MaxPooling2D if rng.random() < 0.5 else layers.AveragePooling2D)(2)(x)
        elif k == "pad":
            x = layers.ZeroPadding2D(1)(x)
        elif k == "slice" and h >= 4:
            x = layers.Lambda(lambda t: t[:, 1:, 1:, :])(x)
        elif k == "transpose":
            x = layers.Lambda(lambda t: tf.transpose(t, [0, 2, 1, 3]))(x)
        elif k == "upsample" and h <= 12:
            x = layers.UpSampling2D(2)(x)
        elif k == "bilinear" and h <= 12:
            x = layers.Resizing(h + 4, h + 4, interpolation="bilinear")(x)
        elif k == "conv_transpose" and h <= 12:
            x = layers.Conv2DTranspose(int(rng.integers(2, 6)), 3, strides=2, padding="same", kernel_initializer=init)(x)
        del ch
    head = str(rng.choice(["gap", "flatten", "argmax"]))
    if head == "gap":
        out = layers.Dense(10, activation="softmax", kernel_initializer=init)(layers.GlobalAveragePooling2D()(x))
    elif head == "flatten":
        out = layers.Dense(10, kernel_initializer=init)(layers.Flatten()(x))
    else:
        logits = layers.Dense(10, kernel_initializer=init)(layers.GlobalAveragePooling2D()(x))
        out = layers.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(logits)
    return keras.Model(inp, out), kinds + [head]


def _convert_child(seeds: list[int], out: Path) -> None:
    import tensorflow as tf

    for seed in seeds:
        model, kinds = build_model(seed)
        (out / f"{seed}.json").write_text(json.dumps(kinds))
        rng = np.random.default_rng(seed + 1)
        shape = [1, *model.inputs[0].shape[1:]]

        def rep():
            for _ in range(16):
                yield [rng.normal(0, 1, shape).astype(np.float32)]
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        try:
            (out / f"{seed}.tflite").write_bytes(conv.convert())
        except Exception as e:  # noqa: BLE001 - record any converter error for this model
            (out / f"{seed}.err").write_text(str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__)


def convert_all(seeds: list[int], out: Path) -> None:
    """Convert in child processes; a crash skips that model and a new child goes on."""
    todo = list(seeds)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    while todo:
        proc = subprocess.run([sys.executable, __file__, "--convert", str(out), *map(str, todo)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        left = [s for s in todo if not ((out / f"{s}.tflite").exists() or (out / f"{s}.err").exists())]
        if left and proc.returncode != 0:  # the child died on left[0]
            (out / f"{left[0]}.err").write_text(f"converter crashed (exit {proc.returncode})")
            left = left[1:]
        todo = left


def evaluate(seeds: list[int], out: Path) -> list[dict]:
    from fixtures_tflite_ops import TflmOracle

    from tinyops.errors import TinyOpsError
    from tinyops.runtimes import open_runtime, tflite_file
    from tinyops.runtimes.tinyops_c import compile_image
    from tinyops.runtimes.tinyops_c.native import NativeRuntime

    oracle = TflmOracle()
    rows = []
    try:
        for seed in seeds:
            row: dict = {"seed": seed, "blocks": json.loads((out / f"{seed}.json").read_text())
                         if (out / f"{seed}.json").exists() else []}
            if not (out / f"{seed}.tflite").exists():
                row["converted"] = False
                row["convert_error"] = (out / f"{seed}.err").read_text()
                rows.append(row)
                continue
            tfl = (out / f"{seed}.tflite").read_bytes()
            model = tflite_file.read(tfl)
            row.update(converted=True, ops=model.op_names)
            shape = model.tensors[model.inputs[0]].shape
            rng = np.random.default_rng(seed)
            xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(4)]
            try:
                want = [oracle.run(tfl, [x], 1)[0] for x in xs]
                row["tflm"] = True
            except RuntimeError as e:
                row.update(tflm=False, tflm_error=str(e)[:200])
            try:
                compile_image(tfl)
                rt = NativeRuntime(tfl)
                row["tinyops_c"] = True
                if row["tflm"]:
                    got = [rt.run_all([x])[0] for x in xs]
                    row["identical"] = float(np.mean([np.mean(g == w) for g, w in zip(got, want)]))
                else:  # TFLM has no int8 EXP: compare with LiteRT's interpreter instead
                    with open_runtime("litert", tfl) as ref:
                        want = [ref.run(x) for x in xs]
                    got = [rt.run_all([x])[0] for x in xs]
                    row["identical_litert"] = float(np.mean([np.mean(g == w) for g, w in zip(got, want)]))
            except TinyOpsError as e:
                row.update(tinyops_c=False, tinyops_c_error=str(e)[:300])
            row["accepted_before"] = set(model.op_names) <= FIRST_19
            rows.append(row)
    finally:
        oracle.close()
    return rows


def summarize(rows: list[dict]) -> dict:
    tflm = [r for r in rows if r.get("tflm")]
    ours = [r for r in tflm if r.get("tinyops_c")]
    missing: collections.Counter = collections.Counter()
    for r in tflm:
        if not r.get("tinyops_c"):
            msg = r.get("tinyops_c_error", "")
            listed = re.search(r"does not support ([A-Z0-9_, ]+)", msg)
            if listed:
                for op in listed.group(1).split(","):
                    missing[op.strip()] += 1
            else:
                missing["(other: " + msg[:80] + ")"] += 1
    return {
        "models": len(rows), "converted": sum(1 for r in rows if r.get("converted")),
        "tflm_accepts": len(tflm), "tinyops_c_accepts_of_those": len(ours),
        "share": round(len(ours) / len(tflm), 3) if tflm else None,
        "accepted_before_of_those": sum(1 for r in tflm if r.get("accepted_before")),
        "share_before": round(sum(1 for r in tflm if r.get("accepted_before")) / len(tflm), 3) if tflm else None,
        "bit_exact": sum(1 for r in ours if r.get("identical") == 1.0),
        "not_bit_exact": [r["seed"] for r in ours if r.get("identical") != 1.0],
        "tinyops_c_also_runs_beyond_tflm": sum(1 for r in rows if r.get("tinyops_c") and not r.get("tflm")),
        "of_those_identical_to_litert": sum(1 for r in rows if r.get("identical_litert") == 1.0),
        "missing_ops": dict(missing.most_common()),
        "tflm_rejects": dict(collections.Counter(r.get("tflm_error", "")[:120] for r in rows
                                                 if r.get("converted") and not r.get("tflm")).most_common()),
    }


def main() -> None:
    from _common import write_result

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    seeds = list(range(1000, 1000 + n))
    with tempfile.TemporaryDirectory(prefix="op-coverage-") as d:
        out = Path(d)
        convert_all(seeds, out)
        rows = evaluate(seeds, out)
    write_result("op_coverage", {"summary": summarize(rows), "blocks": BLOCKS, "models": rows,
                                 "command": "python benchmarks/op_coverage.py " + str(n)})


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--convert":
        _convert_child([int(s) for s in sys.argv[3:]], Path(sys.argv[2]))
    else:
        main()

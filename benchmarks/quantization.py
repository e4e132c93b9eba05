"""What quantization costs, per example: accuracy and size of float32/float16/dynamic/int8,
int8 agreement between LiteRT and TFLite Micro, and `tinyops inspect` wall time on a ~1 MB
model (first call with the arena search, then cached).

Everything runs in one temporary workspace, side by side in one run:

    python benchmarks/quantization.py                 # writes benchmarks/results/quantization.json
    python benchmarks/quantization.py --inspect-only  # re-measure only the inspect timings
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from tinyops.cli.common import resolve_model

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "quantization.json"
QUANTS = ("float32", "float16", "dynamic", "int8")
EXAMPLES = {"digits": ("digits.csv", "digits"), "activity": ("activity.npz", "activity")}


def _prepare(example: str, out: Path) -> Path:
    subprocess.run([sys.executable, str(REPO / "examples" / example / "prepare.py"), str(out)], check=True,
                   capture_output=True)
    return out / EXAMPLES[example][0]


def bench_example(ws, example: str, tmp: Path) -> dict:
    from tinyops.ml.convert import convert
    from tinyops.ml.evaluate import evaluate
    from tinyops.ml.train import train
    from tinyops.registry import datasets

    dv, _ = datasets.add_file(ws, example, _prepare(example, tmp / example))
    t0 = time.perf_counter()
    result = train(ws, REPO / "examples" / example / "recipe.toml", data=dv.ref)
    train_s = time.perf_counter() - t0
    rows = {}
    for quant in QUANTS:
        conv = convert(ws, result.model, quant)
        ev = evaluate(ws, resolve_model(ws, conv.ref), runtime="litert")
        full = evaluate(ws, resolve_model(ws, conv.ref), runtime="litert", data=dv.ref, store=False)
        row = {"size_bytes": conv.size_bytes, "accuracy": ev["accuracy"], "accuracy_delta_points": ev["accuracy_delta"],
               "test_rows": ev["rows"], "all_rows_accuracy": full["accuracy"],
               "all_rows_delta_points": full["accuracy_delta"], "all_rows": full["rows"]}
        if quant == "int8":
            micro = evaluate(ws, resolve_model(ws, conv.ref), runtime="tflm")
            full_micro = evaluate(ws, resolve_model(ws, conv.ref), runtime="tflm", data=dv.ref, store=False)
            row.update({
                "tflm_accuracy": micro["accuracy"], "arena_bytes": conv.arena_bytes,
                "litert_vs_tflm": {k: full_micro[k] for k in ("max_lsb_diff", "identical_share",
                                                              "identical_element_share", "prediction_agreement")},
                "litert_builtin_vs_tflm": full_micro["litert_builtin_vs_tflm"],
            })
        rows[quant] = row
    f32 = rows["float32"]["size_bytes"]
    for row in rows.values():
        row["size_vs_float32"] = round(row["size_bytes"] / f32, 4)
    return {"model": result.model, "parameters": result.metrics["parameters"], "float_accuracy": result.metrics["accuracy"],
            "train_wall_s": round(train_s, 1), "epochs": result.epochs, "variants": rows}


def _big_model(path: Path) -> int:
    """An int8 model of about 1 MB: a CNN whose dense layer holds most of ~1M weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    from tinyops.ml._quiet import stdout_to_stderr

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((32, 32, 3), batch_size=1)
    x = L.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer="he_normal")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", depthwise_initializer="he_normal")(x)
    x = L.Flatten()(x)
    x = L.Dense(240, activation="relu", kernel_initializer="he_normal")(x)
    out = L.Dense(10, activation="softmax")(x)
    model = keras.Model(inp, out)
    rep = np.random.default_rng(0).random((32, 1, 32, 32, 3), dtype=np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r] for r in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with stdout_to_stderr():
        data = conv.convert()
    path.write_bytes(data)
    return int(model.count_params())


def bench_inspect(tmp: Path, repeats: int = 3) -> dict:
    model = tmp / "big_int8.tflite"
    params = _big_model(model)
    env = {k: v for k, v in os.environ.items() if k != "TINYOPS_HOME"}
    firsts, cached = [], []
    for i in range(repeats):
        env["XDG_CACHE_HOME"] = str(tmp / f"cache{i}")  # empty cache: the first call searches the arena
        for bucket in (firsts, cached):
            t0 = time.perf_counter()
            out = subprocess.run(["tinyops", "inspect", str(model), "--json"], capture_output=True, text=True,
                                 env=env, cwd=tmp, check=True)
            bucket.append(time.perf_counter() - t0)
            info = json.loads(out.stdout)
    # The same library call without CLI start-up: first (arena searched) and cached.
    probe = ("import sys,time; from tinyops.ml.inspect import inspect; t=time.perf_counter(); "
             f"inspect(None, {str(model)!r}); a=time.perf_counter()-t; t=time.perf_counter(); "
             f"inspect(None, {str(model)!r}); b=time.perf_counter()-t; "
             "print(a, b, 'tensorflow' in sys.modules)")
    env["XDG_CACHE_HOME"] = str(tmp / "cache-lib")
    parse = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                           env=env).stdout.split()
    startup = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(["tinyops", "--help"], capture_output=True, check=True, env=env)
        startup.append(time.perf_counter() - t0)
    return {"model_bytes": model.stat().st_size, "parameters": params, "macs": info["macs"], "ops": info["ops"],
            "arena_bytes": info["arena_bytes"], "arena_probes": info["arena"]["probes"],
            "first_call_s": round(statistics.median(firsts), 3), "cached_call_s": round(statistics.median(cached), 3),
            "first_over_cached": round(statistics.median(firsts) / statistics.median(cached), 2),
            "library_first_s": round(float(parse[0]), 3), "library_cached_s": round(float(parse[1]), 3),
            "tensorflow_imported": parse[2] == "True", "cli_help_s": round(statistics.median(startup), 3),
            "load_average_1min": round(os.getloadavg()[0], 2), "repeats": repeats}


def main() -> None:
    from tinyops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="tinyops-bench-") as d:
        tmp = Path(d)
        ws, _ = Workspace.init(tmp / "ws")
        inspect_only = "--inspect-only" in sys.argv
        previous = json.loads(OUT.read_text())["examples"] if inspect_only and OUT.exists() else None
        results = {"examples": previous or {name: bench_example(ws, name, tmp) for name in EXAMPLES},
                   "inspect": bench_inspect(tmp),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    for name, ex in results["examples"].items():
        print(f"{name}: {ex['parameters']} parameters, trained in {ex['train_wall_s']} s")
        for quant, row in ex["variants"].items():
            print(f"  {quant:8} {row['size_bytes']:>8} B  x{row['size_vs_float32']:.2f}  acc {row['accuracy'] * 100:6.2f} %"
                  f"  delta {row['accuracy_delta_points']:+.2f} pt  (all rows {row['all_rows_delta_points']:+.2f} pt)")
        i8 = ex["variants"]["int8"]
        print(f"  int8 LiteRT vs TFLM: {i8['litert_vs_tflm']}; builtin kernels: {i8['litert_builtin_vs_tflm']}")
    ins = results["inspect"]
    print(f"inspect {ins['model_bytes']} B model: CLI first {ins['first_call_s']} s, cached {ins['cached_call_s']} s "
          f"(tinyops --help alone {ins['cli_help_s']} s); library first {ins['library_first_s']} s, "
          f"cached {ins['library_cached_s']} s; load average {ins['load_average_1min']}")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()

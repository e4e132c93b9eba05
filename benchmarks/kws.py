"""Keyword spotting figures: accuracy on held-out voices, MFCC and inference
instructions on the Cortex-M4 under QEMU, memory of features + model vs the model.

Makes the full espeak-ng dataset (examples/kws/prepare.py --size full), trains
examples/kws/recipe.toml in a temporary workspace, converts to int8, evaluates on
the held-out voices (kws-test), builds for qemu-mps2-an386, flashes the raw-audio
build and the bare model image on the real firmware under QEMU (-icount shift=0:
counts are instructions) and reads RUN's instruction counts: raw audio (MFCC +
inference) and MFCC input (inference only); MFCC = the difference.

    python benchmarks/kws.py  →  results/kws.json
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

import numpy as np  # noqa: E402

from tinyops.devices import build as device_build, feature_image, sim  # noqa: E402
from tinyops.devices.serial import flash, ops  # noqa: E402
from tinyops.devices.serial.link import Link  # noqa: E402
from tinyops.ml import convert, evaluate, feature_defs, train  # noqa: E402
from tinyops.package_data import firmware_dir  # noqa: E402
from tinyops.registry import builds, datasets  # noqa: E402
from tinyops.workspace import Workspace  # noqa: E402
from tinyops.cli.common import resolve_variant, resolve_model

EX = ROOT / "examples" / "kws"
BOARD_CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99",
                "-ffunction-sections", "-fdata-sections"]


def feature_code_size(tmp: Path, name: str) -> dict[str, int]:
    """text/data/bss of firmware/features/NAME.c compiled as the qemu board compiles it."""
    obj = tmp / f"{name}.o"
    src = firmware_dir() / "features" / f"{name}.c"
    subprocess.run(["arm-none-eabi-gcc", *BOARD_CFLAGS, "-c", str(src), "-o", str(obj)], check=True)
    out = subprocess.run(["arm-none-eabi-size", str(obj)], check=True, capture_output=True, text=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def counts(url: str, image: bytes, x: bytes) -> int:
    flash.flash_image(url, image)
    with Link(url) as link:
        link.drain()
        info = ops.info(link)
        runs = [ops.run(link, x, max_chunk=info.max_chunk).count for _ in range(3)]
    return int(np.median(runs))


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        subprocess.run([sys.executable, str(EX / "prepare.py"), str(tmp / "data"), "--size", "full"], check=True)
        ws, _ = Workspace.init(tmp / "ws")
        datasets.add_file(ws, "kws", tmp / "data" / "train")
        test, _ = datasets.add_file(ws, "kws-test", tmp / "data" / "test")
        feature_defs.add(ws, "kws-mfcc", feature_defs.load_spec(EX / "mfcc.toml"))
        t0 = time.monotonic()
        tr = train.train(ws, EX / "recipe.toml")
        tr_seconds = time.monotonic() - t0
        convert.convert(ws, "kws@1", "int8")
        ev_float = evaluate.evaluate(ws, resolve_model(ws, "kws@1"), runtime="keras", data="kws-test@1")
        ev_int8 = evaluate.evaluate(ws, resolve_model(ws, "kws@1:int8"), runtime="tinyops-c", data="kws-test@1")
        res = device_build.build(ws, resolve_variant(ws, "kws@1:int8"), "qemu-mps2-an386")
        b = res.build
        image = builds.file_bytes(ws, b, "model.img")
        blob, model_image = feature_image.split_image(image)
        inp = res.manifest["inputs"][0]
        clip = datasets.load_arrays(ws, test)["X"][:1].astype(np.int16)
        xq = feature_image.reference_int8(res.manifest["features"]["definition"], clip, inp["scale"], inp["zero_point"])
        fw = sim.build_firmware("qemu-mps2-an386")

        class Ws:
            def path(self, *p: str) -> Path:
                return tmp.joinpath(*p)

        board = sim.start("qemu-mps2-an386", flash=tmp / "kws.flash", ws=Ws(), firmware=fw)
        try:
            raw_count = counts(board.url, image, clip[0].tobytes())
            model_count = counts(board.url, model_image, xq[0].tobytes())
        finally:
            sim.stop(board.id, Ws(), hard=True)
        # the firmware links both: the MFCC/log-mel code and the step chain (standardize, ...)
        mfcc_code, steps_code = feature_code_size(tmp, "tfe_features"), feature_code_size(tmp, "tfs_steps")
        code = {k: mfcc_code[k] + steps_code[k] for k in mfcc_code}
        arena = res.manifest["image"]["arena_bytes"]
        ram_features = code["bss"] + code["data"]
        result = {
            "dataset": {"train_clips": datasets.resolve(ws, "kws@1").rows, "test_clips": test.rows,
                        "test_voices": "espeak-ng variants m6, f4 of 7 accents (never in training)"},
            "model": tr.model, "epochs": tr.epochs, "train_seconds": round(tr_seconds, 1),
            "accuracy_held_out_float": ev_float["accuracy"],
            "accuracy_held_out_int8": ev_int8["accuracy"],
            "int8_delta_points": ev_int8.get("accuracy_delta"),
            "instructions": {"mfcc_1s_window": raw_count - model_count, "inference": model_count,
                             "mfcc_plus_inference": raw_count},
            "flash_bytes": {"model_image": len(model_image), "feature_blob": len(blob),
                            "feature_code_text": code["text"], "mfcc_code_text": mfcc_code["text"],
                            "steps_code_text": steps_code["text"], "model_alone": len(model_image),
                            "features_plus_model": len(model_image) + len(blob) + code["text"]},
            "ram_bytes": {"arena": arena, "feature_scratch": ram_features,
                          "mfcc_scratch": mfcc_code["bss"] + mfcc_code["data"],
                          "steps_scratch": steps_code["bss"] + steps_code["data"], "input_features_int8": len(xq[0].tobytes()),
                          "input_raw_int16": len(clip[0].tobytes()),
                          "model_alone": arena + len(xq[0].tobytes()),
                          "features_plus_model": arena + ram_features + len(clip[0].tobytes())},
        }
        ws.close()
    write_result("kws", result)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()

"""`tinyops bench` on the four MLPerf Tiny reference architectures on a
Cortex-M4 under QEMU (mps2-an386, -icount shift=0: counts are instructions).

For each model: compile the int8 .tflite (tests/fixtures_models.py: He-normal
random weights) to a tinyops-c image, flash it over the serial protocol,
self-test against the tflite-micro interpreter's outputs, then bench with the
MLPerf Tiny commands. Reported: instructions per inference, arena, image size.

    python benchmarks/on_target.py  →  results/on_target.json
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from _common import write_result  # noqa: E402
from fixtures_boards import make_model_image  # noqa: E402
from fixtures_models import MLPERF_MODELS, model_bytes  # noqa: E402

from tinyops.devices import sim  # noqa: E402
from tinyops.devices.serial import bench, flash  # noqa: E402

# MLPerf Tiny v0.5 TFLM reference latencies on a 120 MHz Cortex-M4 (NUCLEO-L4R5ZI), ms.
TFLM_REFERENCE_MS = {"ds_cnn_kws": 181.9, "mobilenet_vww": 600.6, "resnet8_ic": 704.2, "autoencoder_ad": 10.05}
RUNS, WARMUP = 3, 1


def main() -> None:
    fw = sim.build_firmware("qemu-mps2-an386")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        class Ws:
            def path(self, *p: str) -> Path:
                return Path(d).joinpath(*p)

        for name in MLPERF_MODELS:
            m = make_model_image(name, count=2)
            board = sim.start("qemu-mps2-an386", flash=Path(d) / f"{name}.flash", ws=Ws(), firmware=fw)
            try:
                t0 = time.monotonic()
                rep = flash.flash_image(board.url, m.image, m.inputs, m.outputs)
                flash_s = time.monotonic() - t0
                b = bench.bench_device(board.url, runs=RUNS, warmup=WARMUP, golden_inputs=m.inputs,
                                       golden_outputs=m.outputs)
            finally:
                sim.stop(board.id, Ws())
            instr = b.instructions_per_inference
            row = {
                "model": name, "tflite_bytes": len(model_bytes(name)), "image_bytes": len(m.image),
                "arena_bytes": m.arena_bytes, "instructions_per_inference": instr,
                "mlperf_lap_us_per_inference": b.mlperf_latency_us,
                "self_test": rep.self_test, "agreement": b.agreement,
                "flash_seconds_qemu_uart": round(flash_s, 2),
                "ms_at_120mhz_if_1_ipc": round(instr / 120e3, 1),
                "tflm_reference_ms_120mhz": TFLM_REFERENCE_MS[name],
            }
            rows.append(row)
            print(f"{name:16} image {row['image_bytes']:>7} B  arena {row['arena_bytes']:>6} B  "
                  f"{instr:>12,.0f} instr/inference  agreement {b.agreement}  self-test {rep.self_test}")
    write_result("on_target", {"board": "qemu-mps2-an386", "counter": "instructions (-icount shift=0)",
                               "runs": RUNS, "warmup": WARMUP, "rows": rows})


if __name__ == "__main__":
    main()

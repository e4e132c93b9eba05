"""RAM for the tensor arena: measured vs guessed, per example model and MCU profile.

For each model: the TFLM arena measured by bisection in the tflite-micro
interpreter (``tinyops.runtimes.arena``), TFLM's own default sizing when none is given
(10x the model size, the Python interpreter's heuristic), the naive sum of every
non-constant tensor (no memory planning), and the tinyops-c model image's static
plan. For each MCU profile: whether the model's RAM need fits the board with the
measured arena and with the 10x guess. The RAM a user saves by not guessing is
guess - measured.

Run: python benchmarks/arena.py   (writes benchmarks/results/arena.json)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the shared int8 model fixtures (cached on disk)

from _common import write_result  # noqa: E402
from fixtures_models import MODEL_NAMES, model_bytes  # noqa: E402

from tinyops.devices import fit, profiles  # noqa: E402
from tinyops.errors import TinyOpsError  # noqa: E402
from tinyops.runtimes import tflite_file  # noqa: E402
from tinyops.runtimes.arena import measure_arena_details  # noqa: E402
from tinyops.runtimes.tinyops_c import compile_image  # noqa: E402

TFLM_DEFAULT_FACTOR = 10  # tflite_micro.runtime.Interpreter: arena_size = len(model) * 10 when not given


def image_arena(tflite: bytes) -> int | None:
    """The tinyops-c image's planned arena, or None when the model does not compile for it."""
    try:
        return int(compile_image(tflite).arena_bytes)
    except TinyOpsError:
        return None


def main() -> None:
    mcus = [p for p in profiles.list_profiles() if p.is_mcu]
    rows = []
    for name in MODEL_NAMES:
        tfl = model_bytes(name)
        model = tflite_file.read(tfl)
        measured = measure_arena_details(tfl)  # no cache: measured in this run
        arena = int(measured["arena_bytes"])
        guess = TFLM_DEFAULT_FACTOR * len(tfl)
        naive = fit.tensor_sum_bytes(model)
        row = {
            "model": name, "tflite_bytes": len(tfl), "ops": model.op_names,
            "measured_arena_bytes": arena, "tflm_printed_total": measured.get("printed_total"),
            "probes": measured.get("probes"),
            "tflm_default_guess_bytes": guess, "naive_tensor_sum_bytes": naive,
            "tinyops_c_image_arena_bytes": image_arena(tfl),
            "guess_over_measured": round(guess / arena, 2), "naive_over_measured": round(naive / arena, 2),
            "saved_vs_guess_bytes": guess - arena,
            "profiles": {},
        }
        for p in mcus:
            need = lambda a: a + p.runtime_ram_bytes  # noqa: E731
            row["profiles"][p.id] = {
                "ram_free_bytes": p.ram_free_bytes,
                "fits_with_measured": need(arena) <= p.ram_free_bytes,
                "fits_with_default_guess": need(guess) <= p.ram_free_bytes,
                "fits_with_naive_sum": need(naive) <= p.ram_free_bytes,
            }
        rows.append(row)
    false_rejections = sum(1 for r in rows for v in r["profiles"].values()
                           if v["fits_with_measured"] and not v["fits_with_default_guess"])
    pairs = sum(len(r["profiles"]) for r in rows)
    write_result("arena", {
        "note": "measured = smallest 16-byte-grid arena that loads and runs in the tflite-micro interpreter",
        "models": rows, "mcu_profiles": [p.id for p in mcus],
        "model_profile_pairs": pairs,
        "pairs_rejected_by_10x_guess_but_fitting_when_measured": false_rejections,
    })


if __name__ == "__main__":
    main()

"""Proving a build's TFLM export on the emulated Cortex-M4 (used by every test that makes an MCU build).

model_data.cc + op_resolver.h + arena.h are compiled against TFLM with a generated main and
run under QEMU mps2-an386 with exactly the arena arena.h declares: outputs identical to the
build's golden vectors, and one byte less does not allocate.
"""

from __future__ import annotations

import json

import numpy as np

from tinyops.devices import codegen, golden, tflm_probe
from tinyops.registry import builds

EXPORT = ("model_data.h", "model_data.cc", "op_resolver.h", "arena.h")


def prove_export(ws, b) -> tflm_probe.ProbeResult:
    """Run one build's export on the target; assert identical outputs and the exact arena."""
    files = {n: builds.file_bytes(ws, b, n) for n in EXPORT}
    g = golden.load_npz(builds.file_bytes(ws, b, "golden.npz"))
    size = codegen.parse_arena_h(files["arena.h"].decode())
    kernels = json.loads(builds.file_bytes(ws, b, "manifest.json"))["tflm_arena"]["kernels"]
    # a build that computes its features on the device keeps the model-level inputs beside the raw ones;
    # its outputs are those model runs' outputs, one clip's windows concatenated per row
    inputs = g.get("model_inputs", g["inputs"])
    out = g["outputs"].reshape(len(inputs), -1) if "model_inputs" in g else g["outputs"]
    res = tflm_probe.run_export(files, inputs, variant=kernels)
    assert res.alloc == {str(size - 1): False, str(size): True}, res.alloc
    assert res.min_arena == size
    got = res.output_arrays(str(out.dtype), out.shape[1:])
    assert np.array_equal(got, out), f"{int((got != out).sum())} of {out.size} output values differ"
    return res

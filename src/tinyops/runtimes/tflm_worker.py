"""Child process that runs TFLite Micro's Python interpreter for the parent.

TFLM can abort the whole process (a failed ``TF_LITE_ASSERT``, e.g. an int8 SOFTMAX
whose input scale is too small), so the parent never loads it in-process. Modes:

``serve``: read frames from stdin, write frames to the protocol pipe. The first
frame is the model, the second a JSON header ``{"arena": N}``; the reply is JSON
tensor details or ``{"error": ...}``. Each further frame is an .npy array of
stacked inputs and is answered with an .npy array of stacked outputs (or an
error frame).

``probe ARENA``: the model arrives as one frame on stdin; build an interpreter
with that arena, run one all-zero inference, print the allocator's report to
stderr and answer ``{"ok": true}`` — used by the arena search.

TFLM prints to the C-level stdout/stderr, so fd 1 is pointed at stderr and the
protocol uses a duplicate of the original stdout.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
from typing import Any, BinaryIO

import numpy as np

from tinyops.runtimes.frames import read_frame, write_frame


def _details(d: dict[str, Any], name: str) -> dict[str, Any]:
    q = d.get("quantization_parameters", {})
    scales = list(np.asarray(q.get("scales", [])).tolist())
    zps = list(np.asarray(q.get("zero_points", [])).tolist())
    return {"name": name, "shape": [int(s) for s in np.asarray(d["shape"]).tolist()],
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(scales[0]) if scales else None,
            "zero_point": int(zps[0]) if zps else None}


def _open(model: bytes, arena: int) -> Any:
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=int(arena))


def _count_io(model: bytes) -> tuple[int, int]:
    # The reader needs no TensorFlow; it also gives tensor names TFLM does not expose.
    from tinyops.runtimes.tflite_file import read

    m = read(model)
    return len(m.inputs), len(m.outputs)


def serve(proto: BinaryIO) -> None:
    stdin = sys.stdin.buffer
    model = read_frame(stdin)
    header = read_frame(stdin)
    if model is None or header is None:
        return
    arena = int(json.loads(header)["arena"])
    try:
        from tinyops.runtimes.tflite_file import read

        tfl = read(model)
        interp = _open(model, arena)
        ins = [_details(interp.get_input_details(i), tfl.tensors[t].name) for i, t in enumerate(tfl.inputs)]
        outs = [_details(interp.get_output_details(i), tfl.tensors[t].name) for i, t in enumerate(tfl.outputs)]
    except Exception as e:  # noqa: BLE001 - any failure goes back to the parent as text
        write_frame(proto, b"J", json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        return
    write_frame(proto, b"J", json.dumps({"inputs": ins, "outputs": outs}).encode())
    while (frame := read_frame(stdin)) is not None:
        try:
            xs = np.load(io.BytesIO(frame), allow_pickle=False)
            results = []
            for x in xs:
                interp.set_input(np.ascontiguousarray(x[None, ...]), 0)
                interp.invoke()
                results.append(np.array(interp.get_output(0))[0])
            buf = io.BytesIO()
            np.save(buf, np.stack(results) if results else np.zeros((0,)), allow_pickle=False)
            write_frame(proto, b"N", buf.getvalue())
        except Exception as e:  # noqa: BLE001
            write_frame(proto, b"J", json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())


def probe(proto: BinaryIO, arena: int) -> None:
    model = read_frame(sys.stdin.buffer)
    if model is None:
        return
    try:
        interp = _run_zeros(model, arena)
        sys.stderr.flush()
        interp.print_allocations()
    except Exception as e:  # noqa: BLE001
        write_frame(proto, b"J", json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}).encode())
        return
    write_frame(proto, b"J", json.dumps({"ok": True}).encode())


def _run_zeros(model: bytes, arena: int, n_inputs: int | None = None) -> Any:
    interp = _open(model, arena)
    for i in range(_count_io(model)[0] if n_inputs is None else n_inputs):
        d = interp.get_input_details(i)
        interp.set_input(np.zeros([int(s) for s in d["shape"]], dtype=d["dtype"]), i)
    interp.invoke()
    return interp


def _printed_total(interp: Any) -> int | None:
    """Capture what print_allocations writes to the C-level stderr."""
    import re
    import tempfile

    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        m = re.search(rb"Arena allocation total (\d+) bytes", tmp.read())
    return int(m.group(1)) if m else None


def search(proto: BinaryIO, roomy: int) -> None:
    """The whole arena search in this process; TFLM reports a short arena as an error."""
    from tinyops.runtimes.arena import grid_search

    model = read_frame(sys.stdin.buffer)
    if model is None:
        return
    try:
        printed = _printed_total(_run_zeros(model, roomy))
    except Exception as e:  # noqa: BLE001
        write_frame(proto, b"J", json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        return
    if printed is None:
        write_frame(proto, b"J", json.dumps({"error": "TFLM printed no arena total"}).encode())
        return

    n_inputs = _count_io(model)[0]

    def works(n: int) -> bool:
        try:
            _run_zeros(model, n, n_inputs)
            return True
        except Exception:  # noqa: BLE001 - "does not fit" is the answer we are looking for
            return False

    size, trials = grid_search(works, printed, roomy)
    write_frame(proto, b"J", json.dumps({"arena_bytes": size, "printed_total": printed, "probes": trials + 1}).encode())


def main() -> None:
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever TFLM prints goes to stderr, never into the protocol
    mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if mode == "probe":
        probe(proto, int(sys.argv[2]))
    elif mode == "search":
        search(proto, int(sys.argv[2]))
    else:
        serve(proto)


if __name__ == "__main__":
    main()

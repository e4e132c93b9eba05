"""The measured TFLM arena works and 16 bytes less fails — each checked in a child process."""

from __future__ import annotations

import pytest
from fixtures_trained import Trained, trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import ModelError
from tinyops.runtimes import arena


@pytest.fixture(scope="module")
def int8_bytes(trained_workspace: Trained) -> bytes:  # noqa: F811
    from tinyops.registry import variants

    ws = trained_workspace.open()
    return variants.blob_bytes(ws, variants.get(ws, trained_workspace.variant))


def test_found_arena_works_and_16_bytes_less_fails(int8_bytes: bytes, tmp_path) -> None:
    found = arena.measure_arena_details(int8_bytes, cache=tmp_path)
    size = found["arena_bytes"]
    assert size % arena.GRID == 0 and size >= found["printed_total"] - arena.GRID
    ok = arena.probe(int8_bytes, size)
    assert ok.ok, ok.message
    short = arena.probe(int8_bytes, size - 16)
    assert not short.ok
    again = arena.measure_arena_details(int8_bytes, cache=tmp_path)
    assert again["cached"] and again["arena_bytes"] == size
    assert arena.measure_arena(int8_bytes, cache=tmp_path) == size


def test_grid_search_starts_at_printed_total_and_searches_up_or_down() -> None:
    need = 1000
    works = lambda n: n >= need  # noqa: E731

    assert arena.grid_search(works, printed=900, roomy=10_000)[0] == 1008  # printed total understates
    size, trials = arena.grid_search(works, printed=1000, roomy=10_000)
    assert size == 1008 and trials == 2  # printed ok, one step lower fails
    assert arena.grid_search(works, printed=4000, roomy=10_000)[0] == 1008  # overstated: bisect down


def test_float16_model_that_tflm_cannot_run_is_a_clear_error(trained_workspace: Trained) -> None:  # noqa: F811
    from tinyops.registry import variants

    ws = trained_workspace.open()
    f16 = variants.blob_bytes(ws, variants.get(ws, trained_workspace.float16_variant))
    with pytest.raises(ModelError, match="TFLite Micro cannot run this model"):
        arena.measure_arena(f16)


def test_model_that_aborts_tflm_is_a_clear_error(int8_bytes: bytes) -> None:
    """The one-child search dies with the child; the per-probe fallback reports the crash."""
    import struct

    from tinyops.runtimes.tflite_file import read

    m = read(int8_bytes)
    softmax = next(op for op in m.operators if op.opcode == "SOFTMAX")
    pattern = struct.pack("<f", m.tensors[softmax.inputs[0]].quantization.scale[0])
    broken = int8_bytes.replace(pattern, struct.pack("<f", 1e-9))
    assert arena._search_in_one_child(broken) is None
    with pytest.raises(ModelError, match=r"crashed \(signal 6\)"):
        arena.measure_arena(broken)

"""The variants table: add once, reuse, resolve by reference, store evaluations."""

from __future__ import annotations

import pytest
from fixtures_trained import Trained, fresh_trained_workspace  # noqa: F401 - pytest fixture

from tinyops.errors import ConflictError, InputError, NotFoundError
from tinyops.registry import models, variants


def test_get_list_find(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    v = variants.get(ws, "digits@1:int8")
    assert v.ref == "digits@1:int8" and v.model_ref == "digits@1" and v.quant == "int8"
    assert v.calibration == "digits@1" and v.arena_bytes and v.size_bytes == len(variants.blob_bytes(ws, v))
    assert "FULLY_CONNECTED" in v.ops and v.details["inputs"][0]["dtype"] == "int8"
    assert variants.get(ws, "digits:int8").ref == "digits@1:int8"  # latest
    models.set_alias(ws, "digits", "production", 1)
    assert variants.get(ws, "digits@production:int8").ref == "digits@1:int8"
    assert [x.ref for x in variants.list_variants(ws, "digits")] == ["digits@1:float16", "digits@1:int8"]
    assert variants.find(ws, "digits@1", "float32") is None
    assert variants.by_blob(ws, v.blob_sha256).ref == v.ref


def test_add_is_idempotent_and_conflicts_are_refused(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    v = variants.get(ws, "digits@1:int8")
    same, created = variants.add(ws, "digits@1", "int8", b"ignored", ops=[], details={}, calibration="digits@1",
                                 params={"samples": v.params["samples"]})
    assert not created and same.blob_sha256 == v.blob_sha256
    with pytest.raises(ConflictError, match="calibrated on digits@1"):
        variants.add(ws, "digits@1", "int8", b"x", ops=[], details={}, calibration="other@1")
    new, created = variants.add(ws, "digits@1", "float32", b"TFL3-bytes", ops=["X"], details={"a": 1})
    assert created and new.size_bytes == 10 and variants.blob_bytes(ws, new) == b"TFL3-bytes"


def test_bad_references(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    with pytest.raises(InputError, match="names a model version, not a variant"):
        variants.get(ws, "digits@1")
    with pytest.raises(NotFoundError, match="tinyops convert digits@1 --quant dynamic"):
        variants.get(ws, "digits@1:dynamic")
    with pytest.raises(InputError, match="unknown quantization"):
        variants.get(ws, "digits@1:int4")
    with pytest.raises(NotFoundError):
        variants.get(ws, "digits@7:int8")


def test_evaluations_and_arena_are_stored(fresh_trained_workspace: Trained) -> None:  # noqa: F811
    ws = fresh_trained_workspace.open()
    v = variants.get(ws, "digits@1:int8")
    variants.set_evaluation(ws, v, "litert|digits@1:test", {"accuracy": 0.5})
    variants.set_evaluation(ws, v, "tflm|digits@1:test", {"accuracy": 0.6})
    variants.set_arena(ws, v, 1234)
    again = variants.get(ws, "digits@1:int8")
    assert again.evaluations == {"litert|digits@1:test": {"accuracy": 0.5}, "tflm|digits@1:test": {"accuracy": 0.6}}
    assert again.arena_bytes == 1234

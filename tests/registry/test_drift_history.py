"""Drift over time for one model: the dashboard's chart for a build shows that model's checks only."""

from __future__ import annotations

from tinyops.registry import telemetry as tel


def _check(ws, target: str, device: str) -> int:
    return tel.save_drift_check(ws, target=target, builds=["b"], params={}, drift=False, window_start=0.0,
                                window_end=1.0, summary={},
                                results=[{"scope": "device", "scope_id": device, "kind": "max", "feature": "*",
                                          "n": 100, "psi": 0.01, "verdict": "ok"}])


def test_history_of_one_model_leaves_out_other_models_and_like_lookalikes(ws) -> None:
    _check(ws, "digits@production:int8", "mcu-1")
    _check(ws, "digits@3", "pi-1")
    _check(ws, "digits", "pi-2")
    _check(ws, "kws@production:int8", "mcu-kws")
    _check(ws, "digitsXl@1", "other")  # `_` and `%` in a name must not act as LIKE wildcards
    _check(ws, "digits_l@1", "other2")
    assert {h["scope_id"] for h in tel.drift_history(ws, scope="device", kind="max", model="digits")} == \
        {"mcu-1", "pi-1", "pi-2"}
    assert {h["scope_id"] for h in tel.drift_history(ws, scope="device", kind="max", model="digits_l")} == {"other2"}
    assert len(tel.drift_history(ws, scope="device", kind="max")) == 6

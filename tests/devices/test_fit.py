"""Fit check arithmetic: flash, RAM, ops, quantization and the latency estimate."""

from __future__ import annotations

import dataclasses

import pytest
from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures
from fixtures_models import model_bytes

from tinyops.devices import fit, profiles
from tinyops.runtimes import tflite_file
from tinyops.cli.common import resolve_variant


def test_macs_by_hand_for_a_dense_model() -> None:
    m = tflite_file.read(model_bytes("autoencoder_ad"))
    by_hand = sum(int(m.tensors[op.inputs[1]].shape[0]) * int(m.tensors[op.inputs[1]].shape[1])
                  for op in m.operators if op.opcode == "FULLY_CONNECTED")
    assert fit.count_macs(m) == by_hand == 264192


def test_numbers_and_verdict() -> None:
    nano = profiles.load("arduino-nano-33-ble-sense")
    tfl = model_bytes("ds_cnn_kws")
    r = fit.check_model(nano, tfl, arena_bytes=250_000, arena_source="test", quantization="int8")
    assert not r.fits and r.ram_available_bytes == 192 * 1024
    assert r.ram_needed_bytes == 250_000 + nano.runtime_ram_bytes
    assert r.flash_needed_bytes == nano.runtime_flash_bytes + len(tfl) and r.flash_available_bytes == 768 * 1024
    assert any(p.startswith("needs 246 KB RAM") and p.endswith("the board has 192 KB free") for p in r.problems)
    assert r.latency_is_estimate and r.latency_estimate_ms == pytest.approx(r.macs * 3.0 / 64e6 * 1000, rel=1e-3)
    ok = fit.check_model(nano, tfl, arena_bytes=24_000, arena_source="test", quantization="int8")
    assert ok.fits and ok.problems == []


def test_slots_multiply_the_model_flash() -> None:
    pico = profiles.load("raspberry-pi-pico")
    r = fit.check_model(pico, model_bytes("digits_cnn"), arena_bytes=1000, arena_source="t", slot_bytes=10_000)
    assert pico.slots == 2 and r.flash_needed_bytes == pico.runtime_flash_bytes + 2 * 10_000


def test_unsupported_ops_and_quantization_are_listed() -> None:
    qemu = profiles.load("qemu-mps2-an386")
    narrow = dataclasses.replace(qemu, ops=("CONV_2D", "FULLY_CONNECTED"))
    r = fit.check_model(narrow, model_bytes("resnet8_ic"), arena_bytes=1, arena_source="t", quantization="float32")
    assert r.unsupported_ops == ["ADD", "AVERAGE_POOL_2D", "SOFTMAX"] and not r.quantization_supported
    assert not r.fits and any("float32" in p for p in r.problems)
    pi = profiles.load("raspberry-pi-4")
    assert fit.check_model(pi, model_bytes("resnet8_ic"), arena_bytes=1, arena_source="t", quantization="float16").fits


def test_check_against_registry_measures_the_arena(trained_ws) -> None:
    r = fit.check(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "esp32")
    assert r.fits and r.arena_source == "measured in the TFLM interpreter" and r.arena_bytes > 0
    assert r.ram_needed_bytes == r.arena_bytes + profiles.load("esp32").runtime_ram_bytes
    pi = fit.check(trained_ws, resolve_variant(trained_ws, "digits@1:float32"), "raspberry-pi-4")
    assert pi.fits and pi.quantization == "float32"
    mcu = fit.check(trained_ws, resolve_variant(trained_ws, "digits@1:float32"), "qemu-mps2-an386")
    assert not mcu.fits and not mcu.quantization_supported

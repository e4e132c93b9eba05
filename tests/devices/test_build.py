"""Device builds: complete, reproducible, signed; bad input registers nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_builds import trained_template, trained_ws  # noqa: F401 - pytest fixtures

from tinyops import signing
from tinyops.cli.main import cli
from tinyops.devices import build, codegen, golden, keys
from tinyops.errors import DoesNotFitError, InputError, NotFoundError
from tinyops.runtimes import open_runtime
from tinyops.registry import builds
from paths import PROFILES
from tinyops.cli.common import resolve_variant

TFLM_FILES = {"model_data.h", "model_data.cc", "op_resolver.h", "arena.h"}


def files_of(ws, b) -> dict[str, bytes]:
    return {n: builds.file_bytes(ws, b, n) for n in b.files}


def test_mcu_build_is_complete_signed_and_its_golden_outputs_are_tflms(trained_ws) -> None:
    r = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "qemu-mps2-an386")
    files = files_of(trained_ws, r.build)
    assert r.created and TFLM_FILES | {"model.tflite", "golden.npz", "manifest.json", "manifest.sig"} <= set(files)
    m = json.loads(files["manifest.json"])
    assert files["manifest.json"] == build.manifest_bytes(m)  # canonical: sorted keys, 2-space indent
    # the tinyops-c model image and its static plan
    assert "model.img" in files and m["image"] == {"file": "model.img", "arena_bytes": r.fit.arena_bytes}
    assert r.fit.arena_source.startswith("tinyops-c") and r.fit.model_bytes == len(files["model.img"])
    assert m["build"] == r.build.id and m["profile"] == "qemu-mps2-an386" and m["runtime"] == "tinyops-c"
    assert m["model"] == "digits@1" and m["variant"] == "int8" and m["format"] == "tinyops-build/1"
    for name, f in m["files"].items():
        assert len(files[name]) == f["size"]
    assert m["inputs"][0]["shape"] == [1, 64] and m["inputs"][0]["dtype"] == "int8"
    assert m["labels"] == [str(i) for i in range(10)]
    # 64 pixel columns on the input's last axis: the dataset's own bins, one per column.
    assert [f["name"] for f in m["baseline"]["features"]] == [f"p{i}" for i in range(64)]
    signing.verify_manifest(files["manifest.json"], files["manifest.sig"], keys.show(trained_ws)["public_key"])

    g = golden.load_npz(files["golden.npz"])
    assert g["inputs"].shape == (8, 64) and g["inputs"].dtype == np.int8 and g["outputs"].shape == (8, 10)
    with open_runtime("tflm", files["model.tflite"]) as rt:
        assert np.array_equal(rt.run_many(g["inputs"]), g["outputs"])
    # the golden rows are real digits, so the model mostly agrees with itself on a class
    assert len(set(np.argmax(g["outputs"], axis=1).tolist())) > 1


def test_arena_header_runs_the_model_in_tflm(trained_ws) -> None:
    r = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "esp32")
    files = files_of(trained_ws, r.build)
    arena = codegen.parse_arena_h(files["arena.h"].decode())
    assert arena > r.manifest["arena_bytes"]
    g = golden.load_npz(files["golden.npz"])
    with open_runtime("tflm", files["model.tflite"], arena_size=arena) as rt:
        assert np.array_equal(rt.run_many(g["inputs"]), g["outputs"])


def test_same_inputs_same_build_and_first_created_time(trained_ws) -> None:
    first = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "raspberry-pi-4")
    again = build.build(trained_ws, resolve_variant(trained_ws, "digits@1"), "raspberry-pi-4")  # no :VARIANT means int8
    assert (again.build.id, again.created) == (first.build.id, False)
    assert again.build.created == first.build.created and again.build.files == first.build.files
    other = build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "raspberry-pi-5")
    assert other.build.id != first.build.id
    assert TFLM_FILES.isdisjoint(first.build.files) and first.manifest["golden"]["runtime"] == "litert"
    assert len(builds.list_builds(trained_ws)) == 2


PROFILE = PROFILES / "qemu-mps2-an386.toml"


def user_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str) -> None:
    text = PROFILE.read_text().replace('id = "qemu-mps2-an386"', f'id = "{name}"')
    assert old in text
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text.replace(old, new))
    monkeypatch.setenv("TINYOPS_DEVICE_PROFILES", str(folder))


def test_bad_input_is_explained_and_registers_nothing(trained_ws, tmp_path, monkeypatch) -> None:
    with pytest.raises(NotFoundError, match="did you mean qemu-mps2-an386"):
        build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "qemu-mps2-an368")
    with pytest.raises(InputError, match=r"tinyops convert digits@1 --quant int8"):
        build.build(trained_ws, resolve_variant(trained_ws, "digits@1:float32"), "qemu-mps2-an386")
    user_profile(tmp_path, monkeypatch, "tiny-ram", 'ram_reserved = "64 KB"', 'ram_reserved = "4095 KB"')
    with pytest.raises(DoesNotFitError, match=r"needs \d+ KB RAM .* the board has 1 KB free"):
        build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "tiny-ram")
    user_profile(tmp_path, monkeypatch, "no-softmax", 'name = "tinyops-c"',
                 'name = "tinyops-c"\nops = ["FULLY_CONNECTED", "RESHAPE"]')
    with pytest.raises(DoesNotFitError, match="lacks ops used by digits@1:int8: SOFTMAX"):
        build.build(trained_ws, resolve_variant(trained_ws, "digits@1:int8"), "no-softmax", runtime="tinyops-c")  # auto would pick TFLM
    with pytest.raises(NotFoundError, match="tinyops convert digits@1 --quant float16"):
        build.build(trained_ws, resolve_variant(trained_ws, "digits@1:float16"), "raspberry-pi-4")
    assert builds.list_builds(trained_ws) == []


def test_cli_build_and_fit_json(trained_ws) -> None:
    from click.testing import CliRunner

    run = lambda *a: CliRunner().invoke(cli, ["--workspace", str(trained_ws.root), *a])  # noqa: E731
    out = run("build", "digits@1:int8", "--device", "posix-sim", "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert d["profile"] == "posix-sim" and len(d["build"]) == 16 and "model.tflite" in d["files"]
    fit_ok = run("device-profile", "check", "digits@1:int8", "--device", "raspberry-pi-pico", "--json")
    assert fit_ok.exit_code == 0 and json.loads(fit_ok.stdout)["fits"] is True
    bad = run("device-profile", "check", "digits@1:float32", "--device", "raspberry-pi-pico", "--json")
    report = json.loads(bad.stdout)
    assert bad.exit_code == 1 and report["fits"] is False and report["quantization_supported"] is False
    for k in ("flash_needed_bytes", "flash_available_bytes", "ram_needed_bytes", "ram_available_bytes", "unsupported_ops"):
        assert k in report
    failed = run("build", "digits@1:float32", "--device", "posix-sim")
    assert failed.exit_code == 1 and "tinyops convert digits@1 --quant int8" in failed.output

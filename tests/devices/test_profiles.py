"""Device profiles: every shipped profile validates; bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyops.devices import profiles
from tinyops.errors import InputError, NotFoundError

EXPECTED = {"arduino-nano-33-ble-sense", "esp32", "esp32-s3", "raspberry-pi-pico", "stm32-nucleo-l4r5zi",
            "stm32-nucleo-u575zi-q", "raspberry-pi-zero-2-w", "raspberry-pi-4", "raspberry-pi-5",
            "qemu-mps2-an386", "posix-sim"}

GOOD = """
id = "board"
name = "Test board"
vendor = "Acme"
kind = "mcu"
sources = ["datasheet"]
[cpu]
soc = "X1"
core = "cortex-m4f"
arch = "armv7e-m"
cores = 1
clock = "64 MHz"
fpu = true
dsp = true
cycles_per_mac = 3
[memory]
flash = "1 MB"
ram = "256 KB"
flash_reserved = "256 KB"
ram_reserved = "64 KB"
[runtime]
name = "tinyops-c"
flash = "16 KB"
ram = "1 KB"
[transport]
kind = "serial"
baud = 115200
[flasher]
tool = "bossac"
args = ["{firmware}"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "board.toml"
    p.write_text(text)
    return p


def test_every_shipped_profile_validates() -> None:
    loaded = {p.id: p for p in profiles.list_profiles()}
    assert EXPECTED <= set(loaded)
    for p in loaded.values():
        assert p.flash_free_bytes > 0 and p.ram_free_bytes > 0 and p.clock_hz > 0
        assert p.ops and p.quantizations
        assert (p.flasher is not None) == (p.transport != "mqtt")


def test_datasheet_facts_parsed_with_units() -> None:
    nano = profiles.load("arduino-nano-33-ble-sense")
    assert (nano.clock_hz, nano.flash_bytes, nano.ram_bytes) == (64_000_000, 1024 * 1024, 256 * 1024)
    assert nano.ram_free_bytes == 192 * 1024
    pi4 = profiles.load("raspberry-pi-4")
    assert pi4.runtime == "litert" and pi4.transport == "mqtt" and pi4.supports_op("ANYTHING")
    qemu = profiles.load("qemu-mps2-an386")
    assert qemu.runtime == "tinyops-c" and qemu.flasher == "tinyops-serial" and qemu.quantizations == ("int8",)
    assert profiles.load("esp32").runtime == "tflm"


def test_good_file_parses(tmp_path: Path) -> None:
    p = profiles.parse_file(write(tmp_path, GOOD))
    assert p.id == "board" and p.cycles_per_mac == 3.0 and p.slots == 1 and "CONV_2D" in p.ops


@pytest.mark.parametrize("old,new,message", [
    ('clock = "64 MHz"', 'clock = "64 KB"', "wrong unit 'KB'"),
    ('ram = "256 KB"', 'ram = "256 MHz"', "wrong unit 'MHz'"),
    ('ram = "256 KB"', "ram = 262144", "with its unit"),
    ('vendor = "Acme"', 'vendor = "Acme"\ncolour = "red"', "unknown key"),
    ("fpu = true", "fpu = true\nfpuu = 1", "did you mean 'fpu'"),
    ('soc = "X1"\n', "", "missing field [cpu] soc"),
    ('kind = "mcu"', 'kind = "fridge"', "one of mcu, linux"),
    ('name = "tinyops-c"', 'name = "tensorflow"', "one of tinyops-c"),
    ("[flasher]\ntool = \"bossac\"\nargs = [\"{firmware}\"]\n", "", "needs a [flasher]"),
    ("[memory]", "[memroy]", "did you mean [memory]"),
    ('clock = "64 MHz"', 'clock = "0 MHz"', "a clock above 0 Hz"),
    ('clock = "64 MHz"', 'clock = "64000 GHz"', "up to 10 GHz"),
    ('ram = "256 KB"', 'ram = "5000 GB"', "a size up to 1 TB"),
    ('flash = "1 MB"', 'flash = "0 KB"', "reserved flash/RAM is not smaller"),
    ("cores = 1", "cores = -2", "a whole number >= 0"),
])
def test_bad_files_name_the_problem(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(InputError) as e:
        profiles.parse_file(write(tmp_path, GOOD.replace(old, new)))
    assert message in str(e.value)


def test_unknown_profile_suggests_nearest_names() -> None:
    with pytest.raises(NotFoundError) as e:
        profiles.load("esp-32")
    assert "esp32" in str(e.value) and "device-profile list" in str(e.value)


def test_user_folder_overrides_and_adds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, GOOD)
    monkeypatch.setenv("TINYOPS_DEVICE_PROFILES", str(tmp_path))
    assert "board" in profiles.names() and profiles.load("board").vendor == "Acme"


def test_content_hash_ignores_location_but_not_facts(tmp_path: Path) -> None:
    a = profiles.parse_file(write(tmp_path, GOOD))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "board.toml").write_text(GOOD)
    b = profiles.parse_file(tmp_path / "x" / "board.toml")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "board.toml").write_text(GOOD.replace('ram = "256 KB"', 'ram = "128 KB"'))
    c = profiles.parse_file(tmp_path / "y" / "board.toml")
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_tinyops_c_op_list_matches_the_image_compiler() -> None:
    from tinyops.runtimes.tinyops_c import SUPPORTED_OPS

    assert set(profiles.load("qemu-mps2-an386").ops) == set(SUPPORTED_OPS)

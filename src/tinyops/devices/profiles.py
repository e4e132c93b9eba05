"""Device profiles: one TOML file per board in ``device_profiles/``, validated on load.

The schema lives in :data:`SCHEMA` and is documented in ``device_profiles/SCHEMA.md``.
Sizes and clocks are strings with a unit ("256 KB", "64 MHz") so a wrong unit — a
clock given in KB, a RAM size in MHz — is caught instead of silently misread.
Profiles are searched in ``$TINYOPS_DEVICE_PROFILES`` (os.pathsep-separated folders),
then ``WORKSPACE/device_profiles``, then the folder shipped with tinyops.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tinyops.errors import InputError, NotFoundError
from tinyops.package_data import profiles_dir

SHIPPED_DIR = profiles_dir()
RUNTIMES_FILE = "_runtimes.toml"
RUNTIMES = ("tinyops-c", "tflm", "litert")
TRANSPORTS = ("serial", "mqtt", "serial-gateway")
FLASHERS = ("tinyops-serial", "esptool", "openocd", "picotool", "dfu-util", "bossac", "stm32flash")
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")

# Binary prefixes for memory (what datasheets mean by "256 KB RAM"), decimal for clocks.
BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
HZ_UNITS = {"Hz": 1, "kHz": 1000, "MHz": 1000**2, "GHz": 1000**3}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
MAX_BYTES = 1024**4          # 1 TB: no board's flash or RAM is larger
MAX_HZ = 10 * 1000**3        # 10 GHz

# section -> field -> (kind, required). kind: str, int, float, bool, bytes, hz,
# list (of str), or a tuple of allowed strings.
SCHEMA: dict[str | None, dict[str, tuple[Any, bool]]] = {
    None: {"id": ("str", True), "name": ("str", True), "vendor": ("str", True),
           "kind": (("mcu", "linux"), True), "emulated": ("bool", False), "sources": ("list", True)},
    "cpu": {"soc": ("str", True), "core": ("str", True), "arch": ("str", True), "cores": ("int", True),
            "clock": ("hz", True), "fpu": ("bool", True), "dsp": ("bool", True),
            "cycles_per_mac": ("float", True)},
    "memory": {"flash": ("bytes", True), "ram": ("bytes", True), "flash_reserved": ("bytes", True),
               "ram_reserved": ("bytes", True), "slots": ("int", False)},
    "runtime": {"name": (RUNTIMES, True), "flash": ("bytes", True), "ram": ("bytes", True),
                "ops": ("list", False), "quantizations": ("list", False)},
    "transport": {"kind": (TRANSPORTS, True), "baud": ("int", False)},
    "flasher": {"tool": (FLASHERS, True), "args": ("list", True)},
}
REQUIRED_SECTIONS = ("cpu", "memory", "runtime", "transport")


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    vendor: str
    kind: str  # "mcu" | "linux"
    emulated: bool
    sources: tuple[str, ...]
    soc: str
    core: str
    arch: str
    cores: int
    clock_hz: int
    fpu: bool
    dsp: bool
    cycles_per_mac: float
    flash_bytes: int
    ram_bytes: int
    flash_reserved_bytes: int
    ram_reserved_bytes: int
    slots: int
    runtime: str
    runtime_flash_bytes: int
    runtime_ram_bytes: int
    ops: tuple[str, ...]  # ("*",) = every builtin operator
    quantizations: tuple[str, ...]
    transport: str
    baud: int | None
    flasher: str | None
    flasher_args: tuple[str, ...]
    path: str

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"

    @property
    def flash_free_bytes(self) -> int:
        """Flash left for the runtime and the model slots once the firmware is in."""
        return self.flash_bytes - self.flash_reserved_bytes

    @property
    def ram_free_bytes(self) -> int:
        return self.ram_bytes - self.ram_reserved_bytes

    def supports_op(self, op: str) -> bool:
        return "*" in self.ops or op in self.ops

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"], d["ops"] = list(self.sources), list(self.ops)
        d["quantizations"], d["flasher_args"] = list(self.quantizations), list(self.flasher_args)
        d["flash_free_bytes"], d["ram_free_bytes"] = self.flash_free_bytes, self.ram_free_bytes
        return d

    def content_hash(self) -> str:
        """sha256 of the profile's facts (not where the file lives): part of a build's identity."""
        d = self.to_dict()
        d.pop("path")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


# ---- locating -------------------------------------------------------------
def profile_dirs(workspace_root: Path | None = None) -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("TINYOPS_DEVICE_PROFILES", "").split(os.pathsep) if p]
    if workspace_root is not None:
        dirs.append(Path(workspace_root) / "device_profiles")
    dirs.append(SHIPPED_DIR)
    return [d for d in dirs if d.is_dir()]


def _profile_files(workspace_root: Path | None) -> dict[str, Path]:
    """Profile id -> file; earlier folders win, so a user can override a shipped board."""
    found: dict[str, Path] = {}
    for d in profile_dirs(workspace_root):
        for f in sorted(d.glob("*.toml")):
            if not f.name.startswith("_"):
                found.setdefault(f.stem, f)
    return found


def names(workspace_root: Path | None = None) -> list[str]:
    return sorted(_profile_files(workspace_root))


def list_profiles(workspace_root: Path | None = None) -> list[Profile]:
    return [parse_file(p) for _, p in sorted(_profile_files(workspace_root).items())]


def load(name: str, workspace_root: Path | None = None) -> Profile:
    files = _profile_files(workspace_root)
    if name not in files:
        near = difflib.get_close_matches(name, list(files), n=3, cutoff=0.4)
        hint = (f"did you mean {', '.join(near)}?" if near else "") + " — `tinyops device-profile list` shows them all"
        raise NotFoundError(f"no device profile named '{name}'", hint=hint.strip(" —"))
    return parse_file(files[name])


# ---- parsing and validation ----------------------------------------------
def parse_file(path: Path) -> Profile:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read device profile {path}: {e}", hint="check the file") from e
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})", hint="fix the syntax; see device_profiles/SCHEMA.md") from e
    runtimes = _runtime_defaults(path.parent)
    return from_dict(raw, source=str(path), runtimes=runtimes)


def _runtime_defaults(folder: Path) -> dict[str, dict[str, Any]]:
    for d in [folder, SHIPPED_DIR]:
        f = d / RUNTIMES_FILE
        if f.is_file():
            try:
                return tomllib.loads(f.read_text())
            except tomllib.TOMLDecodeError as e:
                raise InputError(f"{f}: not valid TOML ({e})", hint="fix the syntax") from e
    return {}


def parse_quantity(text: Any, units: dict[str, int], where: str) -> int:
    """'256 KB' -> 262144; a bare number or a unit of the wrong family is an error."""
    family = "a size such as '256 KB' (B, KB, MB, GB)" if units is BYTE_UNITS else "a clock such as '64 MHz' (Hz, kHz, MHz, GHz)"
    if not isinstance(text, str):
        raise InputError(f"{where} = {text!r}: give {family}, with its unit", hint="see device_profiles/SCHEMA.md")
    m = _QUANTITY.match(text)
    if not m:
        raise InputError(f"{where} = {text!r} is not {family}", hint="see device_profiles/SCHEMA.md")
    value, unit = float(m.group(1)), m.group(2)
    if unit not in units:
        other = HZ_UNITS if units is BYTE_UNITS else BYTE_UNITS
        wrong = " (that is a unit of " + ("frequency" if unit in other else "nothing tinyops knows") + ")"
        raise InputError(f"{where} = {text!r}: wrong unit '{unit}'{wrong}; expected {family}",
                         hint="see device_profiles/SCHEMA.md")
    return int(round(value * units[unit]))


def _check_field(where: str, value: Any, kind: Any) -> Any:
    def bad(expected: str) -> InputError:
        return InputError(f"{where} = {value!r}: expected {expected}", hint="see device_profiles/SCHEMA.md")

    if isinstance(kind, tuple):
        if value not in kind:
            raise bad("one of " + ", ".join(kind))
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("a whole number >= 0")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise bad("a number > 0")
        return float(value)
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if kind == "bytes":
        n = parse_quantity(value, BYTE_UNITS, where)
        if n > MAX_BYTES:
            raise bad("a size up to 1 TB")
        return n
    if kind == "hz":
        n = parse_quantity(value, HZ_UNITS, where)
        if not 0 < n <= MAX_HZ:
            raise bad("a clock above 0 Hz and up to 10 GHz")
        return n
    raise AssertionError(kind)


def _validated(raw: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Check every key against SCHEMA; return {section: {field: parsed value}}."""
    out: dict[str | None, dict[str, Any]] = {None: {}}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in SCHEMA:
                near = difflib.get_close_matches(key, [s for s in SCHEMA if s], n=1)
                raise InputError(f"{source}: unknown section [{key}]" + (f" (did you mean [{near[0]}]?)" if near else ""),
                                 hint="see device_profiles/SCHEMA.md")
            section, fields = key, value
        else:
            section, fields = None, {key: value}
        spec = SCHEMA[section]
        for name, v in fields.items():
            where = f"{source}: " + (f"[{section}] {name}" if section else name)
            if name not in spec:
                near = difflib.get_close_matches(name, list(spec), n=1)
                raise InputError(f"{where}: unknown key" + (f" (did you mean '{near[0]}'?)" if near else ""),
                                 hint="see device_profiles/SCHEMA.md for the fields of each section")
            out.setdefault(section, {})[name] = _check_field(where, v, spec[name][0])
    for section in (None, *REQUIRED_SECTIONS, *([k for k in out if k == "flasher"])):
        for name, (_kind, required) in SCHEMA[section].items():
            if required and name not in out.get(section, {}):
                label = f"[{section}] {name}" if section else name
                raise InputError(f"{source}: missing field {label}", hint="see device_profiles/SCHEMA.md")
    return out  # type: ignore[return-value]


def from_dict(raw: dict[str, Any], *, source: str = "<profile>",
              runtimes: dict[str, dict[str, Any]] | None = None) -> Profile:
    v = _validated(raw, source)
    top, cpu, mem, rt, tr = v[None], v["cpu"], v["memory"], v["runtime"], v["transport"]
    flasher = v.get("flasher")
    stem = Path(source).stem
    if source.endswith(".toml") and top["id"] != stem:
        raise InputError(f"{source}: id '{top['id']}' differs from the file name '{stem}'",
                         hint="name the file after the id")
    if tr["kind"] != "mqtt" and flasher is None:
        raise InputError(f"{source}: a {tr['kind']} board needs a [flasher] section",
                         hint="name the tool and its arguments; see device_profiles/SCHEMA.md")
    if tr["kind"] != "mqtt" and "baud" not in tr:
        raise InputError(f"{source}: missing field [transport] baud for a serial board", hint="e.g. baud = 115200")
    if mem["flash_reserved"] >= mem["flash"] or mem["ram_reserved"] >= mem["ram"]:
        raise InputError(f"{source}: reserved flash/RAM is not smaller than the board's total",
                         hint="check [memory] against the datasheet")
    defaults = (runtimes or {}).get(rt["name"], {})
    ops = rt.get("ops") or tuple(defaults.get("ops", ()))
    quants = rt.get("quantizations") or tuple(defaults.get("quantizations", ()))
    if not ops or not quants:
        raise InputError(f"{source}: no op list or quantizations for runtime '{rt['name']}'",
                         hint=f"add them under [runtime], or keep {RUNTIMES_FILE} beside the profiles")
    for q in quants:
        if q not in QUANTIZATIONS:
            raise InputError(f"{source}: [runtime] quantizations: unknown '{q}'",
                             hint="use " + ", ".join(QUANTIZATIONS))
    slots = mem.get("slots", 1)
    if slots < 1:
        raise InputError(f"{source}: [memory] slots must be at least 1", hint="1, or 2 for A/B updates")
    return Profile(
        id=top["id"], name=top["name"], vendor=top["vendor"], kind=top["kind"],
        emulated=top.get("emulated", False), sources=top["sources"],
        soc=cpu["soc"], core=cpu["core"], arch=cpu["arch"], cores=cpu["cores"], clock_hz=cpu["clock"],
        fpu=cpu["fpu"], dsp=cpu["dsp"], cycles_per_mac=cpu["cycles_per_mac"],
        flash_bytes=mem["flash"], ram_bytes=mem["ram"], flash_reserved_bytes=mem["flash_reserved"],
        ram_reserved_bytes=mem["ram_reserved"], slots=slots,
        runtime=rt["name"], runtime_flash_bytes=rt["flash"], runtime_ram_bytes=rt["ram"],
        ops=tuple(ops), quantizations=tuple(quants),
        transport=tr["kind"], baud=tr.get("baud"),
        flasher=flasher["tool"] if flasher else None,
        flasher_args=flasher["args"] if flasher else (),
        path=source,
    )

"""Write seed inputs for fuzz_frames: one valid frame per command, MLPerf
commands, and a small transfer. Usage: python3 make_seeds.py DIR"""
import hashlib
import struct
import sys
import zlib
from pathlib import Path


def frame(cmd: int, seq: int, body: bytes = b"") -> bytes:
    p = struct.pack("<BH", cmd, seq) + body
    p += struct.pack("<I", zlib.crc32(p) & 0xFFFFFFFF)
    p = p.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + p + b"\xc0"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    img = bytes(range(256)) * 20
    sha = hashlib.sha256(img).digest()
    seeds = {
        "info": frame(1, 1),
        "stats": frame(8, 2, struct.pack("<BH", 1, 4)),
        "rollback": frame(6, 3),
        "run": frame(7, 4, struct.pack("<IB", 0, 1) + b"\x00" * 8),
        "reset": frame(9, 5),
        "mlperf": b"name%profile%help%timestamp%db load 4%db 01020304%db print%infer 2 1%results%bogus%",
        "mlperf_errors": b"db load%db load 0%db 0%db zz%infer 0 1%infer 1 -1%",
        "transfer": frame(2, 10, struct.pack("<BI", 0xFF, len(img)) + sha + b"\x01")
        + frame(3, 11, struct.pack("<I", 0) + img[:4096]) + frame(3, 12, struct.pack("<I", 4096) + img[4096:])
        + frame(4, 13) + frame(5, 14, b"\xff") + frame(1, 15),
        "gap": frame(2, 20, struct.pack("<BI", 1, 5000) + sha + b"\x01") + frame(3, 21, struct.pack("<I", 100) + b"x"),
        "repeat_seq": frame(6, 30) + frame(6, 30) + frame(1, 30),
    }
    for name, data in seeds.items():
        (out / f"seed_{name}").write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""`tinyops data add NAME FOLDER/` with LABEL/*.wav: arrays X/y/file, sample rate checked."""

from pathlib import Path

import numpy as np
import pytest

from tinyops.errors import InputError
from tinyops.registry import datasets
from tinyops.wav import write_wav


def _clips(root: Path, rate: int = 16000, n: int = 1600) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    made = {}
    for label in ("no", "yes"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            x = rng.integers(-2000, 2000, n).astype(np.int16)
            write_wav(root / label / f"c{i}.wav", x, rate)
            made[f"{label}/c{i}.wav"] = x
    return made


def test_wav_folder_has_arrays_and_rate(ws, tmp_path: Path) -> None:
    made = _clips(tmp_path / "kws")
    dv, created = datasets.add_file(ws, "kws", tmp_path / "kws")
    assert created and dv.rows == 6
    x_col = next(c for c in dv.schema if c["name"] == "X")
    assert x_col["sample_rate"] == 16000 and x_col["shape"] == [1600]
    arrays = datasets.load_arrays(ws, dv)
    assert arrays["y"].tolist() == ["no"] * 3 + ["yes"] * 3
    for i, rel in enumerate(arrays["file"].tolist()):
        assert np.array_equal(arrays["X"][i], made[rel])
    out = tmp_path / "back"
    datasets.export(ws, dv.ref, out)  # the exact bytes come back
    assert (out / "yes" / "c1.wav").read_bytes() == (tmp_path / "kws" / "yes" / "c1.wav").read_bytes()


@pytest.mark.parametrize("problem, match", [("rate", "different sample rates"), ("length", "differ in length"),
                                            ("stereo", "mono 16-bit"), ("garbage", "not a readable WAV")])
def test_bad_wav_folder_writes_nothing(ws, tmp_path: Path, problem: str, match: str) -> None:
    root = tmp_path / "kws"
    _clips(root)
    bad = root / "yes" / "c9.wav"
    if problem == "rate":
        write_wav(bad, np.zeros(1600, np.int16), 8000)
    elif problem == "length":
        write_wav(bad, np.zeros(800, np.int16), 16000)
    elif problem == "stereo":
        import wave
        with wave.open(str(bad), "wb") as w:
            w.setnchannels(2), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0" * 6400)
    else:
        bad.write_bytes(b"RIFF nonsense")
    blobs_before = sorted(p.name for p in ws.blobs.root.rglob("*") if p.is_file()) \
        if hasattr(ws.blobs, "root") else None
    with pytest.raises(InputError, match=match):
        datasets.add_file(ws, "kws", root)
    assert datasets.list_versions(ws, "kws") == []
    if blobs_before is not None:
        assert sorted(p.name for p in ws.blobs.root.rglob("*") if p.is_file()) == blobs_before

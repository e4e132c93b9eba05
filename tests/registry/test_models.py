import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures_models import keras_like
from tinyops.errors import ConflictError, InputError, NotFoundError, ReferenceSyntaxError
from tinyops.registry import datasets, models, runs


def test_versions_and_aliases(ws) -> None:
    a = models.register(ws, "kws", keras_like("a"))
    b = models.register(ws, "kws", keras_like("b"))
    assert (a.version, b.version) == (1, 2)
    assert models.resolve(ws, "kws").version == 2
    assert models.resolve(ws, "kws@latest").version == 2
    models.set_alias(ws, "kws", "production", 1)
    assert models.resolve(ws, "kws@production").version == 1
    models.set_alias(ws, "kws", "production", 2)  # aliases move
    assert models.resolve(ws, "kws@production").version == 2
    assert models.resolve(ws, "kws@2").aliases == ["production"]
    models.remove_alias(ws, "kws", "production")
    with pytest.raises(NotFoundError, match="alias set"):
        models.resolve(ws, "kws@production")


def test_bad_references_and_aliases(ws) -> None:
    models.register(ws, "m", keras_like("x"))
    with pytest.raises(NotFoundError, match="versions 1..1"):
        models.resolve(ws, "m@5")
    with pytest.raises(NotFoundError, match="no model named"):
        models.resolve(ws, "zz@1")
    with pytest.raises(ReferenceSyntaxError):
        models.resolve(ws, "m@@1")
    with pytest.raises(NotFoundError):
        models.set_alias(ws, "m", "production", 9)
    with pytest.raises(ConflictError, match="reserved"):
        models.set_alias(ws, "m", "latest", 1)
    assert ws.db.execute("SELECT COUNT(*) FROM model_aliases").fetchone()[0] == 0


def test_rejects_non_keras_file_and_consumes_no_version(ws, tmp_path: Path) -> None:
    p = tmp_path / "model.keras"
    p.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a Keras model"):
        models.register(ws, "m", p)
    assert models.register(ws, "m", keras_like("ok")).version == 1
    assert len(list(ws.blobs.iter_hashes())) == 1


def test_lineage_walks_run_datasets_features(ws, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,1\n")
    base, _ = datasets.add_file(ws, "raw", tmp_path / "d.csv")
    import numpy as np

    derived, _ = datasets.add_arrays(ws, "feat", {"X": np.ones((2, 1))}, source="test", parents=[base.ref],
                                     feature="scale@1")
    run = runs.start(ws, "train", seed=3, datasets=[derived.ref])
    runs.finish(ws, run.id)
    mv = models.register(ws, "m", keras_like("l"), run_id=run.id)
    lin = models.lineage(ws, mv.ref)
    assert lin["run"]["id"] == run.id
    assert [d["ref"] for d in lin["datasets"]] == ["feat@1", "raw@1"]
    assert lin["features"] == ["scale@1"]


WORKER = """
import sys, io, zipfile
from tinyops.workspace import Workspace
from tinyops.registry import models
ws = Workspace(sys.argv[1])
for i in range(50):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", '{"w": "%s-%d"}' % (sys.argv[2], i))
    models.register(ws, "shared", buf.getvalue())
"""


def test_four_processes_register_two_hundred_versions(ws) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(ws.root), str(n)], stderr=subprocess.PIPE)
             for n in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    versions = [r[0] for r in ws.db.execute("SELECT version FROM model_versions WHERE name='shared' ORDER BY version")]
    assert versions == list(range(1, 201))

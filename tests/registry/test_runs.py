import pytest

from tinyops.errors import NotFoundError
from tinyops.registry import runs


def test_run_lifecycle_records_everything(ws) -> None:
    run = runs.start(ws, "train", params={"lr": 0.01}, seed=7, datasets=["d@1"], features=["f@2"])
    assert run.status == "running" and run.seed == 7
    runs.log_metric(ws, run.id, "loss", 1.5, step=0)
    runs.log_metrics(ws, run.id, {"loss": 0.9, "acc": 0.5}, step=1)
    runs.log_params(ws, run.id, {"epochs": 3})
    runs.log_artifact(ws, run.id, "model", "ab" * 32)
    done = runs.finish(ws, run.id, {"accuracy": 0.93})
    assert done.status == "finished" and done.metrics == {"accuracy": 0.93}
    assert done.params == {"lr": 0.01, "epochs": 3} and done.artifacts == {"model": "ab" * 32}
    assert [s["value"] for s in done.steps if s["key"] == "loss"] == [1.5, 0.9]
    assert done.environment["python"] and "numpy" in done.environment
    assert done.duration_s is not None and done.ended


def test_track_marks_failure(ws) -> None:
    with pytest.raises(ValueError):
        with runs.track(ws, "train", seed=1) as run:
            raise ValueError("diverged")
    failed = runs.get(ws, run.id)
    assert failed.status == "failed" and "diverged" in failed.error


def test_prefix_lookup_and_missing(ws) -> None:
    run = runs.start(ws, "train")
    assert runs.get(ws, run.id[:6]).id == run.id
    with pytest.raises(NotFoundError):
        runs.get(ws, "zzzz")
    assert [r.id for r in runs.list_runs(ws)] == [run.id]

"""--workspace DIR (before or after the subcommand), -w, TINYOPS_HOME and `init DIR` all mean DIR."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyops.cli.main import cli


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    import os

    return subprocess.run([sys.executable, "-m", "tinyops", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("form", ["before", "after", "short-after", "equals-after", "env", "positional"])
def test_init_goes_where_the_workspace_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    target = tmp_path / "proj"
    here = tmp_path / "elsewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    args, env = {
        "before": (["--workspace", str(target), "init"], {}),
        "after": (["init", "--workspace", str(target)], {}),
        "short-after": (["init", "-w", str(target)], {}),
        "equals-after": (["init", f"--workspace={target}"], {}),
        "env": (["init"], {"TINYOPS_HOME": str(target)}),
        "positional": (["init", str(target)], {}),
    }[form]
    res = CliRunner().invoke(cli, args, env=env)
    assert res.exit_code == 0, res.output
    assert (target / ".tinyops" / "registry.db").is_file()
    assert not (here / ".tinyops").exists(), "init ignored the named workspace and used the current folder"
    # Every later command uses it the same way, from any folder.
    (tmp_path / "d.csv").write_text("x,label\n1,0\n2,1\n")
    later = CliRunner().invoke(cli, [*(["data", "add", "d", str(tmp_path / "d.csv")]), "--workspace", str(target)])
    assert later.exit_code == 0, later.output
    listed = CliRunner().invoke(cli, ["data", "list"], env={"TINYOPS_HOME": str(target)})
    assert "d" in listed.output and listed.exit_code == 0


def test_init_positional_beats_env_but_conflicts_with_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "a")], env={"TINYOPS_HOME": str(tmp_path / "b")})
    assert res.exit_code == 0 and (tmp_path / "a/.tinyops").is_dir() and not (tmp_path / "b").exists()
    res = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "c"), "init", str(tmp_path / "d")])
    assert res.exit_code == 2 and "different folders" in res.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_subprocess_workspace_after_subcommand(tmp_path: Path) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    r = _run(["init", "--workspace", str(tmp_path / "w")], here)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w/.tinyops").is_dir() and not (here / ".tinyops").exists()
    r = _run(["model", "list", "-w", str(tmp_path / "w")], here)
    assert r.returncode == 0 and "(none)" in r.stdout

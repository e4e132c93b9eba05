"""The CLI as a user drives it: init, data, runs, model, errors and exit codes."""

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tinyops.cli.main import cli
from fixtures_models import keras_like


def test_version_lists_dependencies() -> None:
    out = CliRunner().invoke(cli, ["--version"]).output
    assert out.startswith("tinyops ") and "numpy" in out and "python" in out


def test_init_then_data_round_trip(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner()
    assert r.invoke(cli, ["init"]).exit_code == 0
    (tmp_path / "d.csv").write_text("x,label\n1,0\n2,1\n")
    res = r.invoke(cli, ["data", "add", "d", "d.csv", "--json"])
    assert res.exit_code == 0, res.output
    import json

    info = json.loads(res.output)
    assert info["name"] == "d" and info["version"] == 1 and len(info["sha256"]) == 64 and info["created"]
    again = r.invoke(cli, ["data", "add", "d", "d.csv"])
    assert "already d@1" in again.output
    assert "baseline statistics" in r.invoke(cli, ["data", "show", "d@1"]).output
    assert r.invoke(cli, ["data", "export", "d@1", "back.csv"]).exit_code == 0
    assert (tmp_path / "back.csv").read_bytes() == (tmp_path / "d.csv").read_bytes()


def test_errors_exit_1_with_hint_usage_errors_exit_2(tiny) -> None:
    res = tiny("model", "show", "nothing@1", code=1)
    assert "Error: no model named 'nothing'" in res.output and "tinyops model" in res.output
    res = tiny("data", "show", "bad@@ref", code=1)
    assert "NAME@VERSION" in res.output
    tiny("data", "add", code=2)


def test_model_commands(tiny, tmp_path: Path) -> None:
    f = tmp_path / "m.keras"
    f.write_bytes(keras_like("cli"))
    assert tiny.json("model", "register", "m", str(f))["version"] == 1
    tiny("model", "alias", "set", "m", "production", "1")
    assert tiny.json("model", "show", "m@production")["version"] == 1
    assert tiny.json("model", "list")[0]["aliases"] == {"production": 1}
    assert "no run recorded" in tiny("model", "lineage", "m@1").output
    tiny("model", "alias", "set", "m", "canary", "7", code=1)
    tiny("model", "alias", "rm", "m", "production")


def test_every_command_has_help_with_example() -> None:
    from tinyops.cli.main import cli as root
    import click

    def walk(cmd: click.Command, path: list[str]):
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), path + [name])
        else:
            yield path, cmd

    missing = []
    for path, cmd in walk(root, []):
        if "Example" not in (cmd.help or ""):
            missing.append(" ".join(path))
    assert not missing, f"commands without an example in --help: {missing}"


def test_help_runs_without_tensorflow() -> None:
    code = ("import sys; from click.testing import CliRunner; from tinyops.cli.main import cli;"
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0;"
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_workspace_option_after_subcommand(tmp_path: Path) -> None:
    r = CliRunner()
    assert r.invoke(cli, ["init", str(tmp_path / "w")]).exit_code == 0
    res = r.invoke(cli, ["data", "list", "--workspace", str(tmp_path / "w")])
    assert res.exit_code == 0 and "(none)" in res.output
    res = r.invoke(cli, ["model", "list", f"--workspace={tmp_path / 'w'}", "--json"])
    assert res.exit_code == 0 and res.output.strip() == "[]"


def test_every_command_module_is_in_the_lazy_table() -> None:
    """New commands must be listed in LAZY_COMMANDS, or `tinyops --help` imports them eagerly."""
    import importlib
    import pkgutil

    import tinyops.cli as cli_pkg
    from tinyops.cli.main import LAZY_COMMANDS

    listed = {(m, a) for m, a, _h, _x in LAZY_COMMANDS.values()}
    for info in pkgutil.iter_modules(cli_pkg.__path__):
        if info.name in ("main", "common"):
            continue
        mod = importlib.import_module(f"tinyops.cli.{info.name}")
        for cmd in getattr(mod, "COMMANDS", []):
            attr = next(k for k, v in vars(mod).items() if v is cmd)
            assert (info.name, attr) in listed, f"{info.name}.{attr} ({cmd.name}) missing from LAZY_COMMANDS"
            assert LAZY_COMMANDS[cmd.name][:2] == (info.name, attr)


def test_help_imports_no_command_module() -> None:
    code = ("import sys; from click.testing import CliRunner; from tinyops.cli.main import cli;"
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output;"
            "loaded = [m for m in sys.modules if m.startswith('tinyops.cli.') and m not in "
            "('tinyops.cli.main', 'tinyops.cli.common')]; assert not loaded, loaded;"
            "assert 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

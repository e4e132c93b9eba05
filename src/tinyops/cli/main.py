"""The `tinyops` command: a thin click layer over the library.

Command modules live beside this one; each exposes ``COMMANDS`` (click
commands or groups) and is listed in ``LAZY_COMMANDS``, so a module is imported
only when its command runs. Errors are caught once, here.
"""

from __future__ import annotations

import importlib
import sys

import click

from tinyops import __version__
from tinyops.errors import TinyOpsError


def _versions() -> str:
    from importlib import metadata

    lines = [f"tinyops {__version__}", f"python {sys.version.split()[0]}"]
    for pkg in ("numpy", "click", "sqlite-utils", "paho-mqtt", "pyserial", "cryptography",
                "tensorflow-cpu", "tensorflow", "ai-edge-litert", "tflite-micro", "tflite-runtime"):
        try:
            lines.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return "\n".join(lines)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_versions())
        ctx.exit()


# Commands load on demand so `tinyops --help` and quick commands never import
# numpy-heavy or TensorFlow-heavy modules. name -> (module, attribute, short help,
# extra modules that add subcommands to it).
LAZY_COMMANDS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "init": ("init", "init_cmd", "Create a workspace.", ()),
    "data": ("data", "data_group", "Version datasets by content: add, list, show, diff, export.", ()),
    "feature": ("feature", "feature_group", "Feature definitions: versioned, searchable, revertible.", ()),
    "runs": ("runs", "runs_group", "Recorded runs: seed, params, data, metrics, environment.", ()),
    "model": ("model", "model_group", "Model versions, aliases and lineage.", ()),
    "train": ("train", "train_cmd", "Train a recipe and register the model version.", ()),
    "convert": ("convert", "convert_cmd", "Convert/quantize to TFLite (float32, float16, dynamic, int8).", ()),
    "variants": ("convert", "variants_cmd", "List converted variants.", ()),
    "evaluate": ("evaluate", "evaluate_cmd", "Accuracy, F1, confusion, int8 cost, runtime agreement.", ()),
    "inspect": ("inspect", "inspect_cmd", "Ops, tensors, MACs, sizes and the TFLM arena of a model.", ()),
    "compile": ("compile", "compile_cmd", "Compile an int8 .tflite into a tinyops-c model image.", ()),
    "device-profile": ("device_profile", "device_profile_group", "Device profiles and the fit check.", ()),
    "keys": ("keys", "keys_group", "The workspace's Ed25519 build-signing keys.", ()),
    "build": ("build", "build_cmd", "Build a variant for a device profile (signed bundle).", ()),
    "builds": ("build", "builds_group", "Device builds: list, show, export, verify.", ()),
    "sim": ("sim", "sim_group", "Emulated boards (QEMU Cortex-M4, posix): start, list, stop.", ()),
    "flash": ("flash", "flash_cmd", "Flash a build over serial: transfer, verify, activate, self-test.", ()),
    "bench": ("bench", "bench_cmd", "MLPerf Tiny benchmark of the model on a device.", ()),
    "device": ("device", "device_group", "Register devices; serial device info and rollback.", ("device_serial",)),
    "broker": ("broker", "broker_group", "The MQTT broker: setup, start, stop, status.", ()),
    "fleet": ("fleet", "fleet_group", "Publish builds, staged rollouts (pause, resume, abort), status, rollback.", ()),
    "telemetry": ("telemetry", "telemetry_group", "Collect and show device telemetry windows.", ()),
    "drift": ("drift", "drift_group", "Drift checks and HTML reports against the training baseline.", ()),
    "field": ("retrain", "field_group", "Field samples sent by devices, for labelling.", ()),
    "retrain": ("retrain", "retrain_cmd", "Retrain a model's recipe with field data.", ()),
    "pipeline": ("pipeline", "pipeline_group", "Run gated CI/CD pipelines (train → … → promote).", ()),
    "monitor": ("monitor", "monitor_group", "Watch for drift and run a pipeline when it fires.", ()),
    "fsck": ("fsck", "fsck_cmd", "Check the workspace: blob hashes, missing blobs, signatures, references, temp files.", ()),
    "gc": ("fsck", "gc_cmd", "Remove unreferenced blobs and temp files (dry run unless --yes).", ()),
    "ui": ("ui", "ui_cmd", "The fleet dashboard in the browser (fleet, rollouts, models, drift, telemetry).", ()),
}


class TinyopsGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            module, attr, _help, extras = LAZY_COMMANDS[name]
            cmd = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
            for extra in extras:
                importlib.import_module(f"{__package__}.{extra}")
            self.add_command(cmd, name)
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit=70)))
            else:
                rows.append((name, LAZY_COMMANDS[name][2]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `--workspace DIR` / `-w DIR` is accepted after the subcommand too (tinyops data list --workspace D).
        args = list(args)
        for i, a in enumerate(args):
            if a == "--":
                break
            if (a.startswith("--workspace=") or (a.startswith("-w") and len(a) > 2 and not a.startswith("--"))) and i > 0:
                args.insert(0, args.pop(i))
                break
            if a in ("--workspace", "-w") and i > 0 and i + 1 < len(args):
                value = args.pop(i + 1)
                args.pop(i)
                args[:0] = ["--workspace", value]
                break
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TinyOpsError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except ImportError as e:  # an optional dependency imported without a require() guard
            from tinyops.extras import from_import_error

            missing = from_import_error(e)
            if missing is None:
                raise
            click.echo(f"Error: {missing}", err=True)
            sys.exit(missing.exit_code)


@click.group(cls=TinyopsGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show tinyops and its key dependencies' versions.")
@click.option("--workspace", "-w", type=click.Path(file_okay=False), envvar="TINYOPS_HOME",
              help="Workspace folder (default: $TINYOPS_HOME, else the nearest one above the current folder).")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None) -> None:
    """tinyops — machine learning on small devices, from data to fleet and back.

    \b
    Quickstart:
      tinyops init
      tinyops data add digits digits.csv
      tinyops train examples/digits/recipe.toml --data digits@1
    """
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace

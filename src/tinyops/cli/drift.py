"""`tinyops drift …`: is the field still like the training data?"""

from __future__ import annotations

import click

from tinyops.errors import DriftDetected, FleetError
from tinyops.monitor.check import check, publish_alerts
from tinyops.monitor.collector import broker_address
from tinyops.monitor.drift import METHODS, Thresholds, describe, describe_prediction
from tinyops.cli.common import echo_json, echo_table, json_option, open_workspace, safe


@click.group("drift")
def drift_group() -> None:
    """Detect drift of device inputs and predictions against the build's baseline."""


def _target_options(f):  # type: ignore[no-untyped-def]
    for opt in reversed([
        click.argument("target"),
        click.option("--group", help="Only devices of this group (the cohort)."),
        click.option("--device", help="Only this device."),
        click.option("--window", default="1h", show_default=True, help="Period of telemetry to check (90s, 15m, 1h, 2d)."),
        click.option("--method", type=click.Choice(METHODS), default="psi", show_default=True,
                     help="Effect statistic behind the verdict."),
        click.option("--warn", type=float, help="Warn threshold (default PSI 0.1; 0.05 for js/wasserstein/ks)."),
        click.option("--alert", type=float, help="Alert threshold (default PSI 0.2; 0.1 for js/wasserstein/ks)."),
        click.option("--min-count", type=int, default=100, show_default=True,
                     help="Fewer values per feature than this: 'insufficient', never drift."),
    ]):
        f = opt(f)
    return f


@drift_group.command("check")
@_target_options
@click.option("--broker", "broker_url", help="Publish alerts here (default: this workspace's broker, if set up).")
@click.option("--no-alerts", is_flag=True, help="Do not publish MQTT alerts.")
@json_option
@click.pass_context
def check_cmd(ctx: click.Context, target: str, group: str | None, device: str | None, window: str, method: str,
              warn: float | None, alert: float | None, min_count: int, broker_url: str | None, no_alerts: bool,
              as_json: bool) -> None:
    """Check TARGET (a build id or MODEL@VERSION[:VARIANT]) for drift; exit code 3 when found.

    Per feature and for the predicted-class mix, per device and for the cohort:
    PSI, Jensen-Shannon distance, normed Wasserstein and KS on the baseline bins.
    A feature drifts when its statistic passes the alert threshold and the shift
    is significant (chi-square, alpha 0.01 over all features). Results are
    stored; drifted devices get an alert on tinyops/devices/D/events and the
    fleet one on tinyops/alerts/drift.

    \b
    Example:
      tinyops drift check digits@production:int8 --group field --window 1h
      tinyops drift check 3f2a9c01 --device pi-2 --json || echo "drift!"
    """
    ws = open_workspace(ctx)
    th = Thresholds.for_method(method, warn, alert, min_count=min_count)
    report = check(ws, target, group=group, device=device, window=window, thresholds=th)
    data = report.to_dict()
    alerts_note = ""
    if report.drift and not no_alerts:
        try:
            data["alerts_published"] = publish_alerts(broker_address(ws, broker_url), report)
        except FleetError as e:  # the verdict stands without the broker; say so
            data["alerts_published"] = 0
            alerts_note = f"(alerts not published: {e})"
    if as_json:
        echo_json(data)
    else:
        _print(data)
        if alerts_note:
            click.echo(alerts_note, err=True)
    if report.drift:
        raise DriftDetected(f"drift in {', '.join(data['drifted_devices']) or data['cohort']} "
                            f"(check {data['check']})", hint="see `tinyops drift report` and consider `tinyops retrain`")


def _print(d: dict) -> None:
    click.echo(f"Check {d['check']}: {d['target']} builds {', '.join(b[:12] for b in d['builds'])}, cohort {d['cohort']}")
    th = d["thresholds"]
    rows = [f for f in d["features"] if f["verdict"] != "ok"] or d["features"][:10]
    rows = [{**f, "cohort": describe(f["cohort_verdict"], f[th["method"]], th)} for f in rows]
    echo_table(rows, ["name", "n", "psi", "js", "wasserstein", "ks", "cohort", "devices_drifted"])
    if d["prediction"]:
        click.echo(safe(f"prediction mix: {describe_prediction(d['prediction'], th)}"))
    echo_table(d["devices"], ["device", "windows", "inferences", "max_psi", "drift", "drifted_features"])
    click.echo("DRIFT" if d["drift"] else "no drift")


@drift_group.command("report")
@_target_options
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False), help="Write the page here.")
@click.option("--history", default="7d", show_default=True, help="How far back the drift-over-time plot goes.")
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, target: str, group: str | None, device: str | None, window: str, method: str,
               warn: float | None, alert: float | None, min_count: int, html_path: str, history: str,
               as_json: bool) -> None:
    """Write ONE self-contained HTML page: baseline vs current histograms, drift over time, prediction mix.

    \b
    Example:
      tinyops drift report digits@production:int8 --group field --html drift.html
    """
    from tinyops.monitor.report import write_report

    ws = open_workspace(ctx)
    th = Thresholds.for_method(method, warn, alert, min_count=min_count)
    info = write_report(ws, target, html_path, group=group, device=device, window=window, thresholds=th, history=history)
    if as_json:
        echo_json(info)
    else:
        click.echo(f"Wrote {info['path']} ({info['bytes']} bytes, {info['features']} features, drift: {info['drift']})")


@drift_group.command("bias")
@click.argument("build")
@click.option("--device", help="Only this device.")
@click.option("--window", help="Only samples from windows that ended in this period (e.g. 24h).")
@json_option
@click.pass_context
def bias_cmd(ctx: click.Context, build: str, device: str | None, window: str | None, as_json: bool) -> None:
    """Production bias: re-run devices' reservoir samples of BUILD on the host reference and compare outputs.

    For a build whose board computes its features from raw input, also compares the
    board's histograms of the features it computed with the host's, per window.

    \b
    Example:
      tinyops drift bias 3f2a9c01 --device mcu-1
    """
    import time

    from tinyops.monitor.bias import production_bias
    from tinyops.monitor.check import parse_duration

    res = production_bias(open_workspace(ctx), build, devices=[device] if device else None,
                          since=time.time() - parse_duration(window) if window else None)
    if as_json:
        echo_json(res)
        return
    click.echo(f"build {res['build']} against {res['reference_runtime']} on the host")
    cols = ["device", "samples", "identical_share", "max_lsb_diff", "class_agreement"]
    if any("feature_windows" in r for r in res["devices"]):  # the board computes its features from raw input
        cols += ["feature_windows", "feature_windows_identical"]
    echo_table(res["devices"], cols)
    for r in res["devices"]:
        if "feature_windows" in r:
            click.echo(f"{r['device']}: device-computed features equal the host's in "
                       f"{r['feature_windows_identical']} of {r['feature_windows']} windows ({r['feature_runs']} runs)")
    if res["biased_devices"]:
        click.echo(f"biased: {', '.join(res['biased_devices'])}")


COMMANDS = [drift_group]

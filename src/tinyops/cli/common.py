"""Helpers shared by CLI modules: opening the workspace, printing data or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from tinyops.safe_text import for_terminal

if TYPE_CHECKING:
    from tinyops.registry.models import ModelVersion
    from tinyops.registry.variants import Variant
    from tinyops.workspace import Workspace

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def open_workspace(ctx: click.Context) -> Workspace:
    from tinyops.workspace import Workspace

    root = ctx.find_root()
    return Workspace.open((root.obj or {}).get("workspace"))


def resolve_variant(ws: Workspace, text: str, default_quant: str = "int8") -> Variant:
    """``NAME@V:QUANT`` as the registry's variant; without ``:QUANT``, ``default_quant``
    (int8: the one every runtime takes). The one place a variant reference is parsed."""
    from tinyops.registry import variants
    from tinyops.registry.refs import Ref, parse_ref

    r = parse_ref(text)
    return variants.get(ws, r if r.variant else Ref(r.name, r.version, r.alias, default_quant))


def resolve_model(ws: Workspace, text: str) -> ModelVersion | Variant:
    """``NAME@V`` as its model version, ``NAME@V:QUANT`` as that variant."""
    from tinyops.registry import models, variants
    from tinyops.registry.refs import parse_ref

    r = parse_ref(text)
    return variants.get(ws, r) if r.variant else models.resolve(ws, r)


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default, sort_keys=False))


def echo_table(rows: Sequence[dict[str, Any]], columns: Iterable[str] | None = None,
               formats: dict[str, Callable[[Any], str]] | None = None) -> None:
    """Print rows as an aligned text table."""
    rows = list(rows)
    if not rows:
        click.echo("(none)")
        return
    cols = list(columns or rows[0].keys())
    formats = formats or {}
    # Every cell may hold device-supplied text (class names, error samples…).
    cells = [[for_terminal((formats.get(c, _cell))(r.get(c))) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def safe(v: Any) -> str:
    """Device-supplied text made harmless for a terminal (control characters escaped)."""
    return for_terminal(v)


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Progress:
    """A progress bar on stderr for work reported as ``(done, total)`` calls; silent when stderr is
    not a terminal or with ``--json`` (scripts get only the result). Use as a context manager."""

    def __init__(self, label: str, *, enabled: bool = True) -> None:
        import sys

        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def __call__(self, done: int, total: int, label: str | None = None) -> None:
        if not self.enabled or total <= 0:
            return
        if self.bar is None:
            import sys

            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        if label is not None:
            self.bar.label = label
        self.bar.update(max(0, min(done, total) - self.bar.pos))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

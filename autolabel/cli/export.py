"""``autolabel export`` and ``autolabel formats``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from autolabel.cli import echo
from autolabel.errors import ExportError


def _read_classes(values: tuple[str, ...]) -> list[str] | None:
    """``--classes`` values: one class per option; ``@file`` reads one class per line."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        if v.startswith("@"):
            path = Path(v[1:])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise ExportError(f"--classes {v}: cannot read {path} ({e.strerror or e})") from None
            out.extend(line.strip() for line in lines if line.strip())
        else:
            out.append(v)
    return out


def _parse_kv(values: tuple[str, ...]) -> dict[str, str]:
    opts: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {v!r}", param_hint="-O/--option")
        opts[key] = value
    return opts


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("-f", "--format", "formats", multiple=True, required=True, metavar="FORMAT",
              help="Format to write (repeat or comma-separate; 'all' = every installed format). See `autolabel formats`.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each format goes to OUT/<format>/.")
@click.option("--revision", default=None, metavar="NAME",
              help="Export this corrected revision (default: the latest one, else the original predictions).")
@click.option("--original", is_flag=True, help="Export the pipeline's original predictions, ignoring review corrections.")
@click.option("--min-score", type=click.FloatRange(0.0, 1.0), default=None, help="Leave out boxes scoring below this.")
@click.option("--classes", "classes", multiple=True, metavar="NAME",
              help="Export only this class (repeat for more; @FILE reads one per line). Declared order stays the run's.")
@click.option("--copy-images", is_flag=True, help="Copy the images into the export.")
@click.option("--link-images", is_flag=True, help="Hard-link the images into the export (symbolic links across file systems).")
@click.option("--split", default=None, metavar="NAME",
              help="Split/subset name (default: 'default'; YOLO: 'train').")
@click.option("--coco-results", is_flag=True, default=None, help="COCO: also write results-<split>.json for pycocotools loadRes.")
@click.option("--voc-origin", type=click.Choice(["one", "zero"]), default=None,
              help="VOC: 'one' = devkit 1-based pixels (default), 'zero' = what CVAT/fiftyone assume.")
@click.option("--yolo-scores", is_flag=True, default=None, help="YOLO: add the score as a 6th column (prediction form).")
@click.option("--image-url-prefix", default=None, metavar="URL",
              help="Label Studio: prefix of image URLs (default: /data/local-files/?d=<image folder name>/).")
@click.option("-O", "--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="A format option by name (for plugins), e.g. -O voc_origin=zero.")
def export(run: Path, formats: tuple[str, ...], out_dir: Path, revision: str | None, original: bool,
           min_score: float | None, classes: tuple[str, ...], copy_images: bool, link_images: bool,
           split: str | None, coco_results: bool | None, voc_origin: str | None, yolo_scores: bool | None,
           image_url_prefix: str | None, extra: tuple[str, ...]) -> None:
    """Write the boxes of RUN in one or more formats (COCO, VOC, YOLO, CVAT, Label Studio, plugins)."""
    from autolabel.export import run_export
    from autolabel.store import LATEST, ORIGINAL, open_run

    if original and revision:
        raise click.UsageError("use either --original or --revision, not both")
    if copy_images and link_images:
        raise click.UsageError("use either --copy-images or --link-images, not both")
    options: dict[str, Any] = {}
    for key, value in (("coco_results", coco_results), ("voc_origin", voc_origin),
                       ("yolo_scores", yolo_scores), ("image_url_prefix", image_url_prefix)):
        if value is not None:
            options[key] = value
    options.update(_parse_kv(extra))
    store = open_run(run)
    report = run_export(
        store, list(formats), out_dir,
        revision=ORIGINAL if original else (revision or LATEST),
        min_score=min_score, classes=_read_classes(classes), copy_images=copy_images,
        link_images=link_images, split=split, **options,
    )
    rev = report.revision
    echo(f"revision: {rev}" + (" (the pipeline's predictions)" if rev == ORIGINAL else " (corrected)"))
    dropped = f", {report.dropped} left out by filters" if report.dropped else ""
    echo(f"{report.images} images, {report.boxes} boxes{dropped}, {len(report.classes)} classes")
    for name, folder in report.dirs.items():
        echo(f"{name}: {folder}")
        for p in report.files[name]:
            echo(f"  {p.relative_to(folder)}{'/' if p.is_dir() else ''}")
    if "labelstudio" in report.dirs and image_url_prefix is None and "image_url_prefix" not in options:
        root = report.image_root
        echo("Label Studio: start it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true "
             f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root.parent} and add a Local Storage with path {root} "
             "(treat every file as a source: off; do not sync), then import tasks.json.")


@click.command("formats")
def formats() -> None:
    """List the export formats: built-in ones and installed plugins."""
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
        echo(f"{name:<{width}}  {cls.description or cls.__doc__ or ''}  [{origin}]")
        for opt_name, opt in cls.options.items():
            choices = f" ({'|'.join(map(str, opt.choices))})" if opt.choices else ""
            echo(f"{'':<{width}}    {opt_name}{choices}: {opt.help} [default: {opt.default}]")

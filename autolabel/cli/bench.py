"""``autolabel bench``: measure the real pipeline on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from autolabel.config import list_presets
from autolabel.errors import ConfigError


def _size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"option --size: expected WxH such as 640x480, got {value!r}") from None
    if w < 32 or h < 32:
        raise ConfigError(f"option --size: both sides must be at least 32 px, got {value!r}")
    return w, h


@click.command(context_settings={"show_default": True})
@click.option("--preset", type=click.Choice(list_presets()), default="fast", help="Settings to measure.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="A folder of your images (default: synthetic ones).")
@click.option("--synthetic", type=click.IntRange(min=2), default=20, help="How many synthetic images.")
@click.option("--size", default="640x480", help="Synthetic image size WxH.")
@click.option("--weights", type=click.Choice(["random", "preset"]), default="random", help="random: no download; preset: the preset's real weights.")
@click.option("--device", default="auto", help="auto, cpu, cuda ...")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--threads", type=click.IntRange(min=0), default=None)
@click.option("--baseline", type=click.Choice(["original", "fixed"]), default=None, help="Also time the original design's loop on the same images and models.")
@click.option("--baseline-images", type=click.IntRange(min=1), default=3, help="Images for the (slow) baseline.")
@click.option("--agreement", is_flag=True, help="Instead: compare bf16 with fp32 results on --images (real weights).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the report.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the JSON here.")
def bench(preset: str, images: Path | None, synthetic: int, size: str, weights: str, device: str, precision: str,
          batch_size: int | None, threads: int | None, baseline: str | None, baseline_images: int,
          agreement: bool, as_json: bool, output: Path | None) -> None:
    """Images/s, time per stage, GFLOP/s against this machine's matmul peak, peak memory."""
    from autolabel.bench import format_report, run_bench
    from autolabel.config import get_preset

    cfg = get_preset(preset).replace(device=device, precision=precision, batch_size=batch_size, threads=threads)
    if weights == "random":
        cfg = cfg.replace(extractor_weights="random", classifier_weights="random")
    if agreement:
        from autolabel.bench import precision_agreement

        if images is None:
            raise ConfigError("--agreement needs --images DIR (e.g. sample_data) and real weights (--weights preset)")
        res = precision_agreement(cfg, images)
        text = json.dumps(res, indent=2)
        if output:
            output.write_text(text + "\n")
        click.echo(text if as_json else (
            f"bf16 vs fp32 on {res['images']} images: {res['boxes_fp32']} fp32 boxes, {res['boxes_bf16']} bf16 boxes; "
            f"{res['box_agreement'] * 100:.1f}% of boxes agree (IoU >= {res['iou_threshold']}), "
            f"{res['label_agreement'] * 100:.1f}% with the same top-1 label; max score difference {res['max_score_diff']:.3f}"))
        return
    result = run_bench(cfg, images=images, synthetic=synthetic, size=_size(size), baseline=baseline,
                       baseline_images=baseline_images)
    text = json.dumps(result.to_dict(), indent=2)
    if output:
        output.write_text(text + "\n")
    click.echo(text if as_json else format_report(result))

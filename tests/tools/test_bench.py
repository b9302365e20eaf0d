"""autolabel bench: the report's structure and accounting (no timing targets in unit tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.cli.bench import format_agreement, format_report
from autolabel.tools.bench import (
    BenchReport,
    count_flops,
    precision_agreement,
    run_bench,
    speedup_ceiling,
    synthetic_images,
)


def test_synthetic_images_are_deterministic(tmp_path: Path) -> None:
    a = synthetic_images(tmp_path / "a", 3, (64, 48))
    b = synthetic_images(tmp_path / "b", 3, (64, 48))
    assert sorted(p.name for p in a.iterdir()) == ["synthetic_000000.jpg", "synthetic_000001.jpg", "synthetic_000002.jpg"]
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in ("synthetic_000000.jpg", "synthetic_000002.jpg"))


def test_count_flops_of_a_matmul() -> None:
    import torch

    x, y = torch.randn(64, 32), torch.randn(32, 16)
    assert count_flops(lambda: x @ y) == pytest.approx(2 * 64 * 32 * 16 / 1e9)


def test_run_bench_reports_every_stage(tmp_path: Path, tiny_config) -> None:
    report = run_bench(tiny_config, synthetic=4, size=(160, 128), work_dir=tmp_path, rss_checkpoint=2,
                       baseline="fixed", baseline_images=1, measure_peak=False)
    assert isinstance(report, BenchReport) and report.baseline is not None and report.baseline.speedup_ceiling is None
    r = report.to_dict()
    assert json.loads(json.dumps(r)) == r
    assert r["settings"]["image_count"] == 4 and r["settings"]["grid_hw"] == [6, 8]  # 160x128 -> 128x96 at max_side 128
    assert r["images_per_second"] > 0
    assert set(r["stages"]) >= {"decode", "extractor", "discovery", "crop", "classify", "write"}
    assert r["stages"]["extractor"]["count"] == 4
    crops = r["stages"]["classify"]["count"]
    assert r["crops_per_image"] == crops / 4
    assert r["gflops"]["extractor_per_image"] > 0 and r["gflops"]["classifier_per_crop"] > 0
    assert set(r["memory"]) == {"start_mb", "peak_after_2_mb", "peak_end_mb"}
    assert r["memory"]["peak_end_mb"] >= r["memory"]["peak_after_2_mb"] > 0
    assert r["baseline"]["kind"] == "fixed" and r["baseline"]["images"] == 1 and r["baseline"]["speedup"] > 0
    assert "speedup_ceiling" not in r["baseline"]  # no peak measured, no ceiling
    assert "model_stages_share_of_bf16_peak" not in r["gflops"]
    text = format_report(report)
    assert "images/s" in text and "baseline 'fixed'" in text and "ceiling" not in text
    assert f"{r['images_per_second']:.2f}" in text and "matmul peak" not in text
    # the masks' cost: their share of the time and the run's size per 1,000 images
    size = r["run_size"]
    run_file = tmp_path / "run" / "predictions.jsonl"
    assert size["images"] == 4 and size["bytes"] == run_file.stat().st_size
    assert size["mb_per_1000_images"] == pytest.approx(run_file.stat().st_size / 4 * 1000 / 1e6)
    assert 0.0 <= r["masks_share"] < 1.0 and r["masks_share"] == pytest.approx(
        r["stages"].get("masks", {"seconds": 0.0})["seconds"] / r["wall_seconds"])
    assert "masks share" in text and f"{size['mb_per_1000_images']:.2f} MB per 1,000 images" in text


def test_speedup_ceiling_is_the_baseline_time_over_the_work_at_peak() -> None:
    # 10 s/image baseline; 1,600 GFLOP/image at 400 GFLOP/s cannot take less than 4 s: 2.5x at most.
    assert speedup_ceiling(10.0, 1600.0, 400.0) == pytest.approx(2.5)
    assert speedup_ceiling(10.0, 0.0, 400.0) == float("inf")


@pytest.mark.slow
def test_bf16_agrees_with_fp32_on_real_weights(sample_data: Path, lite_config) -> None:
    report = precision_agreement(lite_config, sample_data)
    assert "% of boxes agree" in format_agreement(report)
    res = report.to_dict()
    assert res["images"] == 4 and res["boxes_fp32"] > 0 and res["boxes_bf16"] > 0
    # lite keeps many low-score part boxes (nested objects of similar size); a bf16 kernel's
    # rounding moves some of them past IoU 0.9, so agreement is measured, not near-total
    assert 0.4 <= res["label_agreement"] <= res["box_agreement"] <= 1.0
    # most agreeing boxes differ by rounding; lite's scale agreement multiplies objectness by
    # 0.6-1.5 after a second discovery that bf16 can change (a region found in one format and
    # not the other), which moves a few scores by up to about a third
    assert res["median_score_diff"] < 0.05
    assert res["max_score_diff"] < 0.5
    assert f"median {res['median_score_diff']:.3f}, max {res['max_score_diff']:.3f}" in format_agreement(report)


def test_bench_cli_json(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    r = CliRunner().invoke(main, ["bench", "--preset", "lite", "--synthetic", "2", "--size", "96x64", "--json",
                                  "--output", str(out), "--baseline", "fixed", "--baseline-images", "1"])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["settings"]["extractor"] == "tf_efficientnet_lite0"
    assert data["settings"]["weights"]["extractor"] == "random"
    assert data["gflops"]["matmul_peak"]["bf16"] > 0
    b = data["baseline"]
    work = data["gflops"]["extractor_per_image"] + data["gflops"]["classifier_per_crop"] * data["crops_per_image"]
    best = max(data["gflops"]["matmul_peak"].values())
    assert b["speedup_ceiling"] == pytest.approx(best / work / b["images_per_second"])
    assert data["gflops"]["model_stages_share_of_bf16_peak"] == pytest.approx(
        data["gflops"]["model_stages_gflop_per_second"] / data["gflops"]["matmul_peak"]["bf16"])
    bad = CliRunner().invoke(main, ["bench", "--size", "big"])
    assert bad.exit_code == 1 and "option --size: expected WxH" in bad.output


def test_bench_on_a_folder_whose_first_file_is_broken(tmp_path: Path, tiny_config) -> None:
    from autolabel.errors import InputError
    from tests.conftest import write_image

    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a_broken.jpg").write_bytes(b"nope")
    write_image(folder / "b.png", (160, 128))
    write_image(folder / "c.png", (320, 200))
    report = run_bench(tiny_config, images=folder, work_dir=tmp_path / "w", measure_peak=False)
    r = report.to_dict()
    assert r["settings"]["image_size"] == [160, 128] and r["stages"]["extractor"]["count"] == 2
    assert r["settings"]["failed_images"] == 1 and r["settings"]["size_range"] == [[160, 128], [320, 200]]
    # the report describes the images read, not all by the first one's size, and names the broken file's count
    assert "2 images of 160x128 to 320x200, 1 could not be read" in format_report(report)
    (folder / "b.png").write_bytes(b"")
    (folder / "c.png").write_text("text")
    with pytest.raises(InputError, match="none of the 3 image"):
        run_bench(tiny_config, images=folder, work_dir=tmp_path / "w2", measure_peak=False)


def test_bench_cli_decoder_device_runs_on_cpu(tmp_path: Path) -> None:
    """``--decoder device`` on a CPU: torchvision's CPU decoder, timed as stage batch_decode."""
    out = tmp_path / "b.json"
    r = CliRunner().invoke(main, ["bench", "--preset", "lite", "--synthetic", "3", "--size", "96x64", "--device", "cpu",
                                  "--decoder", "device", "--json", "--output", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["settings"]["decoder"] == "device" and data["settings"]["image_count"] == 3
    assert data["stages"]["batch_decode"]["count"] == 3
    plain = CliRunner().invoke(main, ["bench", "--preset", "lite", "--synthetic", "2", "--size", "96x64", "--device", "cpu"])
    assert plain.exit_code == 0 and "decoder pil," in plain.output and "batch_decode" not in plain.output
    assert "discovery votes, 0 refinement processes;" in plain.output  # CPU: refinement in the pipeline thread
    bad = CliRunner().invoke(main, ["bench", "--decoder", "gpu"])
    assert bad.exit_code == 2 and "Invalid value for '--decoder'" in bad.output


def test_bench_cli_discovery_timing_times_every_method(tmp_path: Path) -> None:
    from autolabel.discovery import list_discovery

    out = tmp_path / "d.json"
    r = CliRunner().invoke(main, ["bench", "--discovery-timing", "--synthetic", "2", "--size", "160x128", "--device", "cpu",
                                  "--precision", "fp32", "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert "8x10 patches" in r.output and all(f"  {m} " in r.output for m in list_discovery())
    data = json.loads(out.read_text())
    assert data["grid_hw"] == [8, 10] and data["batch"] == 2 and data["dtype"] == "float32"
    assert [m["method"] for m in data["methods"]] == list_discovery()
    assert all(m["same_images"] == 2 and m["batched_ms"] > 0 for m in data["methods"])

"""The streaming compute: tiny random models and real lite weights on sample_data, bad files,
filters, discovery methods, the in-flight pixel budget. (Writing runs: tests/engines/.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from autolabel.engines.local import annotate as local_annotate
from autolabel.geometry import iou
from autolabel.pipeline import Annotator
from autolabel.store import RunStore
from autolabel.types import ImageAnnotations, ImageFailure
from tests.conftest import write_image


def test_every_path_gives_one_result_in_input_order(mixed_folder: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_pixels=500_000)
    paths = _paths(mixed_folder)
    results = list(Annotator(cfg).process(mixed_folder, paths))
    assert [r.path for r in results] == paths
    failed = {r.path for r in results if isinstance(r, ImageFailure)}
    assert failed == {"empty.jpg", "not_an_image.png", "truncated.jpg", "tiny.png", "bomb.png"}
    for r in results:
        if isinstance(r, ImageAnnotations):
            assert 1 <= len(r.detections) <= cfg.max_boxes
            for d in r.detections:
                x1, y1, x2, y2 = d.box
                assert 0 <= x1 < x2 <= r.width and 0 <= y1 < y2 <= r.height
                assert d.topk[0].label == d.label and d.topk[0].score == d.class_score
                assert d.score == pytest.approx((d.objectness * d.class_score) ** 0.5)


def test_filters_limit_boxes(sample_data: Path, tiny_config) -> None:
    cfg = tiny_config.replace(max_boxes=1, min_box_size=40.0)
    images = list(Annotator(cfg).process(sample_data, _paths(sample_data)))
    assert len(images) == 4
    for img in images:
        assert len(img.detections) <= 1
        for d in img.detections:
            assert min(d.width, d.height) >= 40.0


def test_single_discovery_gives_one_box_per_image(sample_data: Path, tiny_config) -> None:
    images = Annotator(tiny_config.replace(discovery="single")).process(sample_data, _paths(sample_data))
    assert [len(i.detections) for i in images] == [1, 1, 1, 1]


def test_discover_regions_runs_the_configured_method(tiny_config) -> None:
    import torch

    from autolabel.discovery.lost import lost_single_region
    from autolabel.pipeline.discover import discover_regions

    keys = torch.randn(6 * 8, 16, generator=torch.Generator().manual_seed(0))
    single = discover_regions(keys, (6, 8), tiny_config.replace(discovery="single"))
    (ref,) = [lost_single_region(keys, (6, 8), tiny_config.k_patches)]
    assert len(single) == 1
    assert (single[0].box, single[0].objectness, single[0].seed) == (ref.box, ref.objectness, ref.seed)
    assert (single[0].mask == ref.mask).all()
    multi = discover_regions(keys, (6, 8), tiny_config.replace(discovery="multi", num_seeds=4))
    assert 1 <= len(multi) <= 4


@pytest.mark.slow
def test_lite_preset_finds_the_cat_and_the_cup(sample_data: Path, lite_config) -> None:
    imgs = {i.path: i for i in Annotator(lite_config).process(sample_data, _paths(sample_data))}
    cat_region = (40, 20, 451, 300)   # Chelsea fills the right three quarters of her photo
    cats = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
    hits = [d for d in imgs["chelsea.jpg"].detections
            if iou(d.box, cat_region) > 0.05 and cats & {a.label for a in d.topk}]
    assert hits, imgs["chelsea.jpg"].detections
    cup_region = (60, 10, 500, 400)   # the cup and saucer
    cups = {"cup", "coffee mug", "espresso"}
    hits = [d for d in imgs["coffee.jpg"].detections
            if iou(d.box, cup_region) > 0.5 and cups & {a.label for a in d.topk}]
    assert hits, imgs["coffee.jpg"].detections


def test_inflight_pixel_budget_bounds_decoded_images_and_changes_no_result(
        tmp_path: Path, mixed_folder: Path, tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    import autolabel.pipeline.scheduler as scheduler

    cfg = tiny_config.replace(max_pixels=500_000)
    free = Annotator(cfg)  # 100 MP: every image of this folder fits at once
    want = _summary(free.process(mixed_folder, _paths(mixed_folder)))

    held: list[int] = []
    take = scheduler.PixelBudget.take

    def spy(self, pixels: int, wait: bool = False) -> bool:
        ok = take(self, pixels, wait)
        held.append(self.held)
        return ok

    monkeypatch.setattr(scheduler.PixelBudget, "take", spy)
    # 0.3 MP: the 512x512 astronaut (0.26 MP) fits alone, never with the 600x400 chelsea (0.24 MP).
    tight = Annotator(cfg.replace(inflight_megapixels=0.3), models=free.models)
    got = _summary(tight.process(mixed_folder, _paths(mixed_folder)))
    assert got == want  # same boxes and labels, same order, failures included (smaller batches)
    assert max(held) <= 300_000 < 512 * 512 + 600 * 400
    # The bomb (900x900 > max_pixels) is refused unread, so it costs nothing.
    huge = Annotator(cfg.replace(inflight_megapixels=0.0001), models=free.models)
    assert [r.path for r in huge.process(mixed_folder, _paths(mixed_folder))] == _paths(mixed_folder)


def _summary(results) -> list[tuple]:
    """Per image: path and its (box, label, score to 4 decimals), or the failure's reason."""
    out = []
    for r in results:
        if hasattr(r, "detections"):
            out.append((r.path, [(d.box, d.label, round(d.score, 4)) for d in r.detections]))
        else:
            out.append((r.path, r.reason))
    return out


def _paths(folder: Path) -> list[str]:
    from autolabel.images import find_images

    return list(find_images(folder).paths)


# -- tight boxes, tiles, nested duplicates (issue 15) -----------------------------------------


class _ColourPatches:
    """A transparent test extractor: each 16-px patch's mean colour, centred over the image
    (a CNN map's centring). Red objects on a green background are its low-degree patches."""

    patch = 16
    mean = (0.5, 0.5, 0.5)
    std = (0.25, 0.25, 0.25)

    def __call__(self, batch):
        import torch

        f = torch.nn.functional.avg_pool2d(batch, self.patch)
        f = f - f.mean(dim=(2, 3), keepdim=True)
        return f.flatten(2).transpose(1, 2)


@pytest.fixture(scope="module")
def colour_models(tiny_config):
    """Random tiny classifier, colour features for discovery: boxes depend only on the scene."""
    import dataclasses

    from autolabel.pipeline import load_models

    return dataclasses.replace(load_models(tiny_config), features=_ColourPatches())


def _scene(path: Path, size: tuple[int, int], objects: list[tuple[str, tuple[float, float, float, float]]], seed: int = 1):
    """Red discs / rectangles (their true boxes given) on textured green; written to ``path``."""
    import numpy as np
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal([0.3, 0.55, 0.25], 0.03, (h, w, 3)), 0, 1)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    for kind, (x1, y1, x2, y2) in objects:
        if kind == "disc":
            cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2
            inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        else:
            inside = (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)
        img[inside] = [0.85, 0.2, 0.15]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img * 255).astype("uint8")).save(path)
    return [box for _, box in objects]


def _recall(detections, truths, at: float) -> int:
    return sum(max((iou(t, d.box) for d in detections), default=0.0) >= at for t in truths)


def _run(cfg, models, images: Path, run: Path):
    local_annotate(cfg, images, run, annotator=Annotator(cfg, models=models))
    return next(RunStore(run).iter_images()).detections


def _small_discs() -> list[tuple[str, tuple[float, float, float, float]]]:
    import numpy as np

    rng = np.random.default_rng(7)
    out = []
    for k in range(12):  # 24 px discs on a 1600x1200 photo: 0.6 patch across when seen whole
        cx, cy = 130 + (k % 4) * 370 + rng.uniform(-40, 40), 170 + (k // 4) * 420 + rng.uniform(-40, 40)
        out.append(("disc", (cx - 12, cy - 12, cx + 12, cy + 12)))
    return out


def test_tiles_find_small_objects_with_tight_boxes(tmp_path: Path, tiny_config, colour_models) -> None:
    truths = _scene(tmp_path / "imgs" / "scene.png", (1600, 1200), _small_discs())
    cfg = tiny_config.replace(max_side=640, num_seeds=40, max_boxes=40, workers=1)
    whole = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "whole")
    tiled = _run(cfg.replace(tiles="2x2", tile_overlap=0.2), colour_models, tmp_path / "imgs", tmp_path / "tiled")
    assert _recall(tiled, truths, 0.5) == 12
    assert _recall(tiled, truths, 0.75) >= 10 > _recall(whole, truths, 0.75)
    assert RunStore(tmp_path / "tiled").read_manifest()["config"]["tiles"] == "2x2"


def test_auto_tiles_follow_the_photo_size(tmp_path: Path, tiny_config, colour_models) -> None:
    """``tiles: auto`` tiles the 1600 x 1200 photo (over twice max_side: 3 x 3 tiles of at most
    640 px) exactly as ``tiles: 3x3`` does, and sees a 640 x 480 photo whole."""
    _scene(tmp_path / "imgs" / "scene.png", (1600, 1200), _small_discs())
    cfg = tiny_config.replace(max_side=640, num_seeds=40, max_boxes=100, workers=1, tiles="auto")
    assert cfg.tiles_for(1600, 1200) == (3, 3) and cfg.tiles_for(640, 480) == (1, 1)
    auto = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "auto")
    fixed = _run(cfg.replace(tiles="3x3"), colour_models, tmp_path / "imgs", tmp_path / "fixed")
    whole = _run(cfg.replace(tiles="1x1"), colour_models, tmp_path / "imgs", tmp_path / "whole")
    assert [d.box for d in auto] == [d.box for d in fixed] != [d.box for d in whole]
    assert RunStore(tmp_path / "auto").read_manifest()["config"]["tiles"] == "auto"


def test_an_object_across_tile_edges_is_one_tight_box(tmp_path: Path, tiny_config, colour_models) -> None:
    truth = _scene(tmp_path / "imgs" / "big.png", (1200, 900), [("rect", (431.0, 317.0, 803.0, 611.0))])[0]
    cfg = tiny_config.replace(max_side=640, tiles="2x2", workers=1)
    dets = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "run")
    on_it = [d for d in dets if iou(d.box, truth) > 0.1]
    assert len(on_it) == 1 and iou(on_it[0].box, truth) >= 0.9, dets


def test_refinement_tightens_boxes(tmp_path: Path, tiny_config, colour_models) -> None:
    objects = [("rect", (37.0, 53.0, 201.0, 170.0)), ("disc", (300.0, 205.0, 413.0, 318.0)), ("rect", (421.0, 322.0, 598.0, 399.0))]
    truths = {f"{i}.png": _scene(tmp_path / "imgs" / f"{i}.png", (640, 480), [o], seed=i)[0] for i, o in enumerate(objects)}
    cfg = tiny_config.replace(max_side=640, workers=1)
    runs = {}
    for name, c in (("grid", cfg.replace(refine=False)), ("tight", cfg)):
        local_annotate(c, tmp_path / "imgs", tmp_path / name, annotator=Annotator(c, models=colour_models))
        runs[name] = {i.path: i.detections for i in RunStore(tmp_path / name).iter_images()}
    for path, truth in truths.items():
        best = {name: max(iou(truth, d.box) for d in runs[name][path]) for name in runs}
        assert best["tight"] >= 0.9 and best["tight"] > best["grid"], (path, best)
    for dets in runs["grid"].values():  # the grid's boxes lie on the 16 px patch grid; refined ones need not
        for d in dets:
            assert all(v % 16 == 0 for v in d.box)


def test_nested_duplicates_are_suppressed_by_containment(tmp_path: Path, tiny_config, monkeypatch) -> None:
    """Discovery returning an object's box, a box inside it (IoU 0.44: NMS keeps both) and one
    two thirds inside it: the box inside is dropped; the other only at a containment of 0.6.
    The better-ranked of a nested pair (here by objectness) stays."""
    import numpy as np

    import autolabel.pipeline.discover as discover
    import autolabel.pipeline.label as label
    from autolabel.discovery.regions import region_from_mask

    def regions(self, keys, grid):
        h, w = grid
        out = []
        for (r1, r2, c1, c2), obj in (((1, 7, 1, 7), 0.9), ((2, 6, 2, 6), 0.8), ((2, 6, 5, 8), 0.7)):  # grid rows, cols
            m = np.zeros((h, w), dtype=bool)
            m[r1:r2, c1:c2] = True
            out.append(region_from_mask(m, r1 * w + c1, obj))
        return out

    monkeypatch.setattr(discover, "discover_batch", lambda keys, grid, cfg, per_image: [regions(None, k, grid) for k in keys])
    monkeypatch.setattr(label, "detection_score", lambda objectness, class_probability, weight=0.5: objectness)  # fixed order
    write_image(tmp_path / "imgs" / "a.png", (128, 128))
    cfg = tiny_config.replace(refine=False, workers=1)
    outer, inner = (16.0, 16.0, 112.0, 112.0), (32.0, 32.0, 96.0, 96.0)
    assert iou(outer, inner) < cfg.nms_iou
    dets = _run(cfg, None, tmp_path / "imgs", tmp_path / "default")
    assert [d.box for d in dets] == [outer, (80.0, 32.0, 128.0, 96.0)]
    dets = _run(cfg.replace(nested_containment=0.6), None, tmp_path / "imgs", tmp_path / "loose")
    assert [d.box for d in dets] == [outer]


def test_tiled_images_are_charged_their_views_and_extracted_a_bounded_batch_at_a_time(
        tmp_path: Path, tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiled photo holds its tiles' views as well as its pixels: the in-flight budget charges
    them, and no extractor call takes more than ``image_batch`` views, however many tiles."""
    import autolabel.pipeline.scheduler as scheduler
    from autolabel.pipeline.features import VIEW_WEIGHT, held_pixels

    for i in range(3):
        write_image(tmp_path / "imgs" / f"p{i}.png", (400, 300))
    cfg = tiny_config.replace(tiles="4x4", image_batch=2, workers=1, max_side=64, pad_batches="off")
    charges: list[int] = []
    held: list[int] = []
    take = scheduler.PixelBudget.take

    def spy(self, pixels: int, wait: bool = False) -> bool:
        ok = take(self, pixels, wait)
        charges.append(pixels)
        held.append(self.held)
        return ok

    monkeypatch.setattr(scheduler.PixelBudget, "take", spy)
    free = Annotator(cfg)
    want = _summary(free.process(tmp_path / "imgs", ["p0.png", "p1.png", "p2.png"]))
    assert set(charges) == {charges[0]} and charges[0] > 400 * 300 + VIEW_WEIGHT * 16 * 32 * 32  # 16 views of >= 32 x 32
    assert max(b for b, *_ in free.shapes.shapes("extractor")) <= 2  # 2 images x 16 views, 2 at a time
    # a budget of 1.5 images: the same results, never two photos held at once
    one = held_pixels(400, 300, cfg, free.models.features.patch)
    assert charges[0] == one
    held.clear()
    tight = Annotator(cfg.replace(inflight_megapixels=1.5 * one / 1e6), models=free.models)
    assert _summary(tight.process(tmp_path / "imgs", ["p0.png", "p1.png", "p2.png"])) == want
    assert max(held) == one


def test_scale_agreement_boosts_regions_found_again_and_penalises_the_rest(tmp_path: Path, tiny_config,
                                                                          colour_models) -> None:
    """With ``agreement_scale`` the extractor reads the photo again at half size. The big
    rectangle and the disc are found at both scales and boosted (capped at 1); the two bars 22 px
    apart, separate on the 16-px grid, join at half size and are penalised. Every box stays."""
    truth = _scene(tmp_path / "imgs" / "scene.png", (640, 480), [("rect", (160.0, 128.0, 448.0, 352.0)),
                                                                  ("disc", (40.0, 40.0, 104.0, 104.0)),
                                                                  ("rect", (480.0, 120.0, 520.0, 440.0)),
                                                                  ("rect", (542.0, 120.0, 582.0, 440.0))])[0]
    cfg = tiny_config.replace(max_side=640, workers=1, max_boxes=20, discovery="votes", min_score=0.0)
    off = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "off")
    on_cfg = cfg.replace(agreement_scale=0.5, agreement_iou_low=0.7, agreement_iou_high=0.7, agreement_boost=1.5,
                         agreement_penalty=0.6)  # a step: each box either boosted or penalised
    on = _run(on_cfg, colour_models, tmp_path / "imgs", tmp_path / "on")
    before = {d.box: d.objectness for d in off}
    after = {d.box: d.objectness for d in on}
    assert set(after) == set(before) and len(after) >= 2
    boosted = {b for b in after if after[b] == pytest.approx(min(1.0, 1.5 * before[b]), abs=1e-6)}
    penalised = {b for b in after if after[b] == pytest.approx(0.6 * before[b], abs=1e-6)}
    assert boosted | penalised == set(after) and boosted and penalised
    assert any(iou(b, truth) >= 0.9 for b in boosted)
    assert all(b[0] >= 470 for b in penalised)  # the bars
    assert RunStore(tmp_path / "on").read_manifest()["config"]["agreement_scale"] == 0.5


def test_tightening_reads_both_scales_and_the_pipeline_refines_what_it_returns(tmp_path: Path, tiny_config,
                                                                              colour_models, monkeypatch) -> None:
    """With ``tighten_margin`` each view's candidate regions go through
    :func:`~autolabel.discovery.tighten.tighten` with the view's reading (its grid) and the
    boxes of the second reading's proposals; the boxes exported are those of the regions it
    returns."""
    import numpy as np

    import autolabel.pipeline.discover as stage
    from autolabel.discovery.regions import Region

    truth = _scene(tmp_path / "imgs" / "scene.png", (640, 480), [("rect", (160.0, 128.0, 448.0, 352.0))])[0]
    cfg = tiny_config.replace(max_side=640, workers=1, discovery="votes", min_score=0.0, agreement_scale=0.5,
                              tighten_margin=0.1)
    real = stage.tighten
    calls = []

    def spy(regions, reading, other, margin):
        calls.append((len(regions), reading.grid, other.shape[1], margin))
        return real(regions, reading, other, margin)

    monkeypatch.setattr(stage, "tighten", spy)
    kept = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "kept")
    assert calls and calls[0][1:] == ((30, 40), 4, 0.1) and calls[0][0] >= 1
    assert any(iou(d.box, truth) >= 0.8 for d in kept)
    assert RunStore(tmp_path / "kept").read_manifest()["config"]["tighten_margin"] == 0.1

    def corner(regions, reading, other, margin):  # every region cut to its top-left 2 x 2 patches
        out = []
        for r in regions:
            x1, y1 = r.box[0], r.box[1]
            mask = np.zeros_like(r.mask)
            mask[y1:y1 + 2, x1:x1 + 2] = True
            out.append(Region((x1, y1, x1 + 2, y1 + 2), r.objectness, y1 * mask.shape[1] + x1, mask))
        return out

    monkeypatch.setattr(stage, "tighten", corner)
    cut = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "cut")
    assert cut and all(d.box[2] - d.box[0] <= 48 and d.box[3] - d.box[1] <= 48 for d in cut)


@pytest.mark.parametrize("readings, tiles", [(1, "1x1"), (3, "2x2")])
def test_mask_readings_redraw_each_mask_within_the_box_found_without_them(tmp_path: Path, tiny_config, colour_models,
                                                                         readings: int, tiles: str, monkeypatch) -> None:
    """With ``mask_readings`` the extractor reads each view again shifted by half a patch, once
    per reading (a stage of its own), and each mask is drawn again within the box refinement
    found without them: the same objects, each written box inside the one written without the
    readings and exactly its mask's bounds (read back by pycocotools). Without masks nothing is
    read again."""
    import numpy as np
    from pycocotools import mask as coco_mask

    from autolabel.discovery.shifted import READINGS

    _scene(tmp_path / "imgs" / "scene.png", (640, 480), [("rect", (37.0, 53.0, 201.0, 170.0)),
                                                         ("disc", (300.0, 205.0, 413.0, 318.0))])
    cfg = tiny_config.replace(max_side=640, workers=1, min_score=0.0, tiles=tiles)
    plain = _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "plain")
    import autolabel.pipeline.refine as stage

    real, given = stage.refine_region, []

    def spy(work, region, max_overlap=0.9, shifted=()):
        given.append(tuple((s.dy, s.dx) for s in shifted))
        return real(work, region, max_overlap, shifted=shifted)

    monkeypatch.setattr(stage, "refine_region", spy)
    on = cfg.replace(mask_readings=readings)
    ann = Annotator(on, models=colour_models)
    local_annotate(on, tmp_path / "imgs", tmp_path / "fine", annotator=ann)
    # every region gets its masks on each reading (none only where it has no surroundings)
    assert tuple(READINGS[readings]) in given and set(given) <= {tuple(READINGS[readings]), ()}
    fine = next(RunStore(tmp_path / "fine").iter_images()).detections
    counts = ann.clock.counts
    assert counts["mask_readings"] == counts["extractor"] >= (1 if tiles == "1x1" else 4)
    assert len(fine) == len(plain) >= 1
    assert RunStore(tmp_path / "fine").read_manifest()["config"]["mask_readings"] == readings
    for a, b in zip(sorted(plain, key=lambda d: d.objectness), sorted(fine, key=lambda d: d.objectness)):
        assert b.objectness == pytest.approx(a.objectness)
        assert a.box[0] <= b.box[0] < b.box[2] <= a.box[2] and a.box[1] <= b.box[1] < b.box[3] <= a.box[3]
        m = coco_mask.decode({"size": b.mask["size"], "counts": b.mask["counts"].encode()})
        rows, cols = np.nonzero(m)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == tuple(int(v) for v in b.box)
    boxes_only = Annotator(on.replace(masks=False), models=colour_models)
    list(boxes_only.process(tmp_path / "imgs", ["scene.png"]))
    assert "mask_readings" not in boxes_only.clock.counts


@pytest.mark.parametrize("scale, tiles", [(0.5, "1x1"), (1.5, "1x1"), (0.75, "2x2")])
def test_scale_agreement_handles_thin_tiny_and_tiled_photos(tmp_path: Path, tiny_config, scale: float, tiles: str) -> None:
    """A second reading of a view one patch high, of a 17-pixel-wide strip and of tiles, with
    feature saliency and tightening on too: every photo gives its record, boxes inside the
    photo, objectness in [0, 1]."""
    sizes = {"strip.png": (300, 17), "column.png": (20, 260), "square.png": (33, 33), "photo.png": (400, 300)}
    for name, size in sizes.items():
        write_image(tmp_path / name, size)
    cfg = tiny_config.replace(agreement_scale=scale, tiles=tiles, min_score=0.0, saliency_power=2.0, tighten_margin=0.0)
    ann = Annotator(cfg)
    results = list(ann.process(tmp_path, sorted(sizes)))
    counts = ann.clock.counts  # one call per view in each stage: the second reading is its own stage
    assert counts["extractor"] == counts["agreement"] == counts["discovery"] >= len(sizes)
    assert [r.path for r in results] == sorted(sizes)
    for r in results:
        assert isinstance(r, ImageAnnotations), r
        assert (r.width, r.height) == sizes[r.path]
        for d in r.detections:
            x1, y1, x2, y2 = d.box
            assert 0 <= x1 < x2 <= r.width and 0 <= y1 < y2 <= r.height
            assert 0.0 <= d.objectness <= 1.0


def test_feature_saliency_scales_objectness_by_how_much_a_region_stands_out(tmp_path: Path, tiny_config,
                                                                           colour_models) -> None:
    """With ``saliency_power`` a region's objectness is multiplied by ``min(1, ratio / knee) **
    power``, ``ratio`` the mean key norm in its grid box over the photo's (the keys here: each
    patch's centred mean colour, recomputed below). With knee 1.25 the red rectangle, which
    stands out of the green photo, keeps its objectness; with knee 8 it loses exactly the
    factor its patches give; no region ever gains."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "imgs" / "scene.png"
    truth = _scene(path, (640, 480), [("rect", (160.0, 128.0, 448.0, 352.0)), ("disc", (500.0, 40.0, 580.0, 120.0))])[0]
    x = (np.asarray(Image.open(path), dtype=np.float64) / 255.0 - 0.5) / 0.25
    keys = x.reshape(30, 16, 40, 16, 3).mean(axis=(1, 3))
    norms = np.linalg.norm(keys - keys.mean(axis=(0, 1)), axis=2)  # (30, 40)
    ratio = norms[8:22, 10:28].mean() / norms.mean()  # the rectangle's grid box (10, 8, 28, 22)
    assert 1.25 < ratio < 8.0
    cfg = tiny_config.replace(max_side=640, workers=1, max_boxes=20, discovery="votes", min_score=0.0)
    off = {d.box: d.objectness for d in _run(cfg, colour_models, tmp_path / "imgs", tmp_path / "off")}
    for knee, factor in ((1.25, 1.0), (8.0, (ratio / 8.0) ** 2)):
        run = tmp_path / f"knee{knee}"
        on = {d.box: d.objectness for d in _run(cfg.replace(saliency_power=2.0, saliency_knee=knee), colour_models,
                                                 tmp_path / "imgs", run)}
        assert set(on) == set(off) and len(on) >= 2
        assert all(on[b] <= off[b] + 1e-9 for b in on)
        rect = [b for b in on if iou(b, truth) >= 0.9]
        assert len(rect) == 1 and on[rect[0]] == pytest.approx(off[rect[0]] * factor, rel=1e-4)
        assert RunStore(run).read_manifest()["config"]["saliency_knee"] == knee

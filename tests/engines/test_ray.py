"""``--engine ray``: the same run as the local engine, on a local 2-CPU Ray cluster.

The models are tiny timm models with random weights saved to files once (so the driver, the
local engine and every Ray actor load the very same weights). Parts merging is tested in
tests/store/test_parts.py; the Ray tests start one local cluster for the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from autolabel.engines import EngineOptions, get_engine
from autolabel.engines.local import annotate as annotate_local
from autolabel.engines.ray import INSTALL_HINT, RayOptions, annotate_ray, require_ray
from autolabel.errors import ConfigError
from autolabel.store import PARTS, RunStore
from autolabel.store.parts import PartWriter
from autolabel.types import ImageFailure
from tests.conftest import SAMPLE_DATA, write_image

TOL = 1e-4


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Seeded random weights of the tiny models, as files every process can load."""
    import timm
    import torch

    d = tmp_path_factory.mktemp("weights")
    out = {}
    for i, name in enumerate(("test_vit", "test_convnext")):
        torch.manual_seed(100 + i)
        model = timm.create_model(name, pretrained=False)
        out[name] = d / f"{name}.pth"
        torch.save(model.state_dict(), out[name])
    return out


@pytest.fixture(scope="module")
def cfg(weights):
    from autolabel.config import PipelineConfig

    return PipelineConfig(
        extractor="test_vit", extractor_weights=str(weights["test_vit"]),
        classifier="test_convnext", classifier_weights=str(weights["test_convnext"]),
        max_side=96, num_seeds=4, batch_size=8, image_batch=4, workers=1, precision="fp32", device="cpu",
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """31 images: 4 photos, 24 synthetic ones of many sizes (some nested), 3 bad files."""
    import numpy as np
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("images")
    for p in sorted(SAMPLE_DATA.glob("*.jpg")):
        Image.open(p).convert("RGB").resize((160, 120)).save(root / p.name, quality=90)
    rng = np.random.default_rng(7)
    for i in range(24):
        w, h = int(rng.integers(48, 140)), int(rng.integers(48, 140))
        arr = (rng.random((h, w, 3)) * 60 + 40).astype("uint8")
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            x1, y1 = x0 + int(rng.integers(12, w // 2 + 12)), y0 + int(rng.integers(12, h // 2 + 12))
            draw.rectangle((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(120, 255, 3)))
        sub = root / ("nested" if i % 3 == 0 else "") / f"synth_{i:02d}.png"
        sub.parent.mkdir(exist_ok=True)
        img.save(sub)
    (root / "empty.jpg").write_bytes(b"")
    (root / "not_an_image.png").write_text("hello, I am text")
    data = (root / "rocket.jpg").read_bytes()
    (root / "nested" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return root


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, images: Path, cfg) -> Path:
    """The reference: the same images and settings through the local engine."""
    run = tmp_path_factory.mktemp("local") / "run"
    summary = annotate_local(cfg, images, run)
    assert (summary.total, summary.processed, summary.failed) == (31, 31, 3)
    return run


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray with 2 CPUs for the module; workers import this checkout (PYTHONPATH)."""
    import ray
    import ray.data  # noqa: F401  (a test extra: its absence is a failure, not a skip)

    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "PYTHONPATH")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    repo = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = os.pathsep.join([repo] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p])
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def assert_same_run(a: Path, b: Path) -> None:
    """Same images, sizes, ids, labels, boxes and scores (within TOL), same failures."""
    ia, ib = list(RunStore(a).iter_images()), list(RunStore(b).iter_images())
    assert [i.path for i in ia] == [i.path for i in ib]
    n_boxes = 0
    for x, y in zip(ia, ib):
        assert (x.width, x.height) == (y.width, y.height), x.path
        assert [d.id for d in x.detections] == [d.id for d in y.detections], x.path
        assert [d.label for d in x.detections] == [d.label for d in y.detections], x.path
        for dx, dy in zip(x.detections, y.detections):
            assert max(abs(p - q) for p, q in zip(dx.box, dy.box)) <= TOL, (x.path, dx.box, dy.box)
            assert abs(dx.score - dy.score) <= TOL and abs(dx.objectness - dy.objectness) <= TOL
            assert [t.label for t in dx.topk] == [t.label for t in dy.topk]
        n_boxes += len(x.detections)
    assert n_boxes > 0
    fa = {f.path: f.reason for f in RunStore(a).iter_failures()}
    assert fa == {f.path: f.reason for f in RunStore(b).iter_failures()}
    ma, mb = RunStore(a).read_manifest(), RunStore(b).read_manifest()
    for key in ("image_root", "config", "models", "classes", "label_space", "vocabulary"):
        assert ma[key] == mb[key], key


def test_without_ray_the_engine_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'autolabel-dino\[ray\]'"):
        require_ray()
    write_image(tmp_path / "imgs" / "a.png")
    r = CliRunner().invoke(main, ["annotate", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"), "--engine", "ray"])
    assert r.exit_code == 1 and r.output.strip() == f"error: {INSTALL_HINT}", r.output
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_ray_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="--gpus-per-worker"):
        RayOptions(gpus_per_worker=-1)
    with pytest.raises(ConfigError, match="--workers"):
        RayOptions(workers=0)


class _FakeRay:
    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return dict(self.resources)


@pytest.mark.parametrize("resources, opts, batches, expected", [
    ({"CPU": 8.0}, RayOptions(), 100, (8, 8)),                          # one actor per CPU
    ({"CPU": 8.0}, RayOptions(), 3, (3, 3)),                            # never more actors than batches
    ({"CPU": 8.0}, RayOptions(cpus_per_worker=2), 100, (4, 4)),
    ({"CPU": 4.0}, RayOptions(workers=16), 100, (4, 16)),               # start with what fits, grow
    ({"CPU": 64.0, "GPU": 4.0}, RayOptions(gpus_per_worker=1), 100, (4, 4)),
    ({"CPU": 64.0, "GPU": 4.0}, RayOptions(gpus_per_worker=0.5), 100, (8, 8)),
    ({"CPU": 64.0, "GPU": 4.0}, RayOptions(workers=2, gpus_per_worker=1), 100, (2, 2)),
])
def test_actor_pool_size(resources, opts, batches, expected) -> None:
    from autolabel.engines.ray import _pool_size

    assert _pool_size(_FakeRay(**resources), opts, batches) == expected


def test_gpus_asked_on_a_cluster_without_gpus() -> None:
    from autolabel.engines.ray import _pool_size

    for workers in (None, 2):
        with pytest.raises(ConfigError, match=r"--gpus-per-worker 1: the Ray cluster has 0 GPU"):
            _pool_size(_FakeRay(CPU=8.0), RayOptions(workers=workers, gpus_per_worker=1), 10)


def test_the_driver_starts_and_merges_a_run_without_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          cfg) -> None:
    """No Ray: fake actors write part files. The driver writes the manifest from the config
    (no model is built on it), then merges the parts into the run."""
    import contextlib

    import autolabel.engines.ray as ray_engine
    import autolabel.models
    from autolabel.types import ImageAnnotations

    def no_model(*a, **k):
        raise AssertionError("the driver built a model")

    def fake_actors(ray, config, root, store, todo, opts, progress):
        assert store.exists() and opts.workers == 3 and opts.gpus_per_worker == 0.5
        store.parts_dir.mkdir()
        with PartWriter(store.parts_dir) as part:
            for rel in todo:
                part.add(ImageAnnotations(rel, 64, 48, ()))
                progress(1, 0, 0)

    monkeypatch.setattr(autolabel.models, "build_model", no_model)
    monkeypatch.setattr(ray_engine, "require_ray", lambda: type("Ray", (), {"is_initialized": staticmethod(lambda: True)}))
    monkeypatch.setattr(ray_engine, "_connected", lambda ray, address: contextlib.nullcontext())
    monkeypatch.setattr(ray_engine, "_run_dataset", fake_actors)
    for name in ("b.png", "a.png"):
        write_image(tmp_path / "imgs" / name)
    seen = []
    summary = get_engine("ray")(cfg, tmp_path / "imgs", tmp_path / "run", EngineOptions(workers=3, gpus_per_worker=0.5),
                                progress=lambda *a: seen.append(a))
    assert (summary.total, summary.processed, summary.failed) == (2, 2, 0) and len(seen) == 2
    store = RunStore(tmp_path / "run")
    assert store.read_manifest()["models"]["classifier"] == {"name": "test_convnext", "weights": cfg.classifier_weights}
    assert [r["path"] for r in _lines(store.predictions_path)] == ["a.png", "b.png"]
    assert not store.parts_dir.exists()


# -- on a local Ray cluster ---------------------------------------------------------------------
@pytest.mark.slow
def test_ray_run_equals_local_run(ray_cluster, tmp_path: Path, images: Path, cfg, local_run: Path) -> None:
    seen: list[tuple[int, int, int]] = []
    starts: list[tuple[int, int]] = []
    summary = annotate_ray(cfg, images, tmp_path / "run", options=RayOptions(workers=2, batch_images=4),
                           progress=lambda *a: seen.append(a), on_start=lambda *a: starts.append(a))
    assert starts == [(31, 0)]
    assert (summary.total, summary.skipped, summary.processed, summary.failed) == (31, 0, 31, 3)
    assert {f.path for f in summary.failures} == {"empty.jpg", "not_an_image.png", "nested/truncated.jpg"}
    assert len(seen) == 31 and sum(s[2] for s in seen) == 3 and sum(s[1] for s in seen) == summary.boxes
    assert_same_run(local_run, tmp_path / "run")
    # The same file a local run writes: one line per image, sorted by path; parts are gone.
    store = RunStore(tmp_path / "run")
    assert [r["path"] for r in _lines(store.predictions_path)] == [r["path"] for r in _lines(RunStore(local_run).predictions_path)]
    assert summary.boxes == sum(len(r["detections"]) for r in _lines(store.predictions_path))
    assert not (store.run_dir / PARTS).exists()


@pytest.mark.slow
def test_cli_resumes_a_killed_ray_job_without_duplicates(ray_cluster, tmp_path: Path, images: Path, cfg,
                                                         local_run: Path) -> None:
    """A killed job left: the manifest, 5 images in predictions.jsonl (plus a torn line), one
    failure, and 2 finished part files (one overlapping the predictions, one torn)."""
    import yaml

    ref = RunStore(local_run)
    run = RunStore(tmp_path / "run")
    run.write_manifest(ref.read_manifest())
    done = list(ref.iter_images())
    with run.prediction_writer() as w:
        for img in done[:5]:
            w.append(img.to_dict())
    with open(run.predictions_path, "a") as f:
        f.write(json.dumps(done[5].to_dict())[:40])
    with run.failure_writer() as w:
        w.append(ImageFailure("empty.jpg", "empty file (0 bytes)").to_dict())
    (run.run_dir / PARTS).mkdir()
    with PartWriter(run.run_dir / PARTS) as p:
        for img in done[4:9]:
            p.add(img)
    with PartWriter(run.run_dir / PARTS) as p:
        p.add(done[12])
    with open(p.path, "a") as f:
        f.write(json.dumps({"kind": "prediction", "record": done[13].to_dict()})[:50])
    kept = 9 + 1 + 1  # done[0:9], empty.jpg, done[12]

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg.to_dict()))
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(run.run_dir), "--config", str(config),
                                  "--engine", "ray", "--workers", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert f"{kept} image(s) already done, {31 - kept} to go" in r.output
    assert f"{31 - kept - 2} image(s) annotated, 2 failed" in r.output

    paths = [x["path"] for x in _lines(run.predictions_path)] + [x["path"] for x in _lines(run.failures_path)]
    assert len(paths) == len(set(paths)) == 31  # every image exactly once
    assert not (run.run_dir / PARTS).exists()
    assert_same_run(local_run, run.run_dir)

    again = CliRunner().invoke(main, ["annotate", str(images), "-o", str(run.run_dir), "--config", str(config),
                                      "--engine", "ray"])
    assert again.exit_code == 0 and "31 image(s) already done, 0 to go" in again.output
    assert len(_lines(run.predictions_path)) == 28


@pytest.mark.slow
def test_an_error_on_a_worker_is_raised_by_the_driver(ray_cluster, tmp_path: Path, images: Path, cfg, weights,
                                                     local_run: Path) -> None:
    """Weights that the workers cannot load (say, a path not mounted on the nodes): the driver
    raises the worker's WeightsError, naming the node, and the run gains nothing."""
    from autolabel.errors import WeightsError

    gone = tmp_path / "classifier.pth"
    shutil.copy(weights["test_convnext"], gone)
    cfg2 = cfg.replace(classifier_weights=str(gone))
    run = RunStore(tmp_path / "run")
    run.write_manifest({**RunStore(local_run).read_manifest(), "config": cfg2.to_dict()})
    gone.unlink()
    with pytest.raises(WeightsError, match=rf"on Ray node .*: --classifier-weights {gone}: no such file"):
        # resuming: the driver does not look at weight files, only the workers load models
        annotate_ray(cfg2, images, run.run_dir, options=RayOptions(workers=1, batch_images=16), allow_config_change=True)
    assert run.done_paths() == set() and not (run.run_dir / PARTS).exists()


def test_previews_are_refused_with_ray(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "a.png")
    r = CliRunner().invoke(main, ["annotate", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"),
                                  "--engine", "ray", "--previews"])
    assert r.exit_code == 1 and "--previews is not available with --engine ray" in r.output


def test_an_unreachable_cluster_fails_fast(tmp_path: Path) -> None:
    import socket
    import time

    from autolabel.engines.ray import check_reachable
    from autolabel.errors import RunError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(RunError, match=rf"--ray-address {address}: nothing answers there"):
            check_reachable(address)
    assert time.monotonic() - t0 < 10
    with socket.socket() as s:  # a listening port passes
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_reachable(f"127.0.0.1:{s.getsockname()[1]}")
    check_reachable("auto")
    check_reachable(None)

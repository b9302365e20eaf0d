"""Refinement in worker processes: the same pixel masks as in the pipeline's own thread."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from autolabel.discovery.refine import refine_region, work_image
from autolabel.discovery.regions import Region, mask_box
from autolabel.geometry import clip_box
from autolabel.masks import from_frame
from autolabel.pipeline.refine import MAX_AUTO_PROCESSES, Refiner, refine_view, resolve_refine_processes


def _scene() -> tuple[np.ndarray, list[Region]]:
    """A 96x128 image (6x8 patches of 16 px): grey with two coloured blobs whose edges fall
    inside patches, and their patch masks as regions."""
    rng = np.random.default_rng(0)
    img = np.full((96, 128, 3), 120, np.uint8) + rng.integers(0, 12, (96, 128, 3), dtype=np.uint8)
    img[21:70, 13:58] = (200, 40, 40)
    img[40:90, 75:121] = (30, 60, 210)
    regions = []
    for (r0, r1, c0, c1) in ((1, 5, 0, 4), (2, 6, 4, 8)):
        m = np.zeros((6, 8), bool)
        m[r0:r1, c0:c1] = True
        regions.append(Region(mask_box(m), 0.5, int(r0 * 8 + c0), m))
    return img, regions


def test_refine_view_is_refine_region_on_the_view() -> None:
    img, regions = _scene()
    done = refine_view(img, 16, (10.0, 20.0), (2.0, 2.0), regions)
    work = work_image(img, 16, (10.0, 20.0), (2.0, 2.0))
    want = [refine_region(work, r) for r in regions]
    assert done.seconds > 0 and len(done.masks) == 2 and done.encoded is None
    for got, exp in zip(done.masks, want):
        assert np.array_equal(got.mask, exp.mask) and got.origin == exp.origin and got.refined == exp.refined
    assert any(m.refined for m in done.masks)  # the scene is one refinement moves edges in
    # with the displayed frame, each mask is also encoded as the run writes it: cut to its
    # bounds clipped to the image (here 250 x 200 px: the second object runs off its right edge)
    framed = refine_view(img, 16, (10.0, 20.0), (2.0, 2.0), regions, frame=(250, 200))
    assert framed.encoded is not None
    for m, enc in zip(framed.masks, framed.encoded):
        assert enc == from_frame(m.mask, m.origin, m.scale, 250, 200, box=clip_box(m.box, 250, 200))
        rle, bounds = enc
        assert rle["size"] == [200, 250] and bounds[2] <= 250
    assert framed.masks[1].box[2] > 250  # the clip mattered


def test_shifted_masks_reach_refinement_in_the_thread_and_in_workers() -> None:
    """Each region's shifted masks go with it to :func:`refine_region`, in the caller's thread
    and in worker processes alike (pickled there): the same masks, each within its extent."""
    from autolabel.discovery.shifted import ShiftedMask

    img, regions = _scene()
    shifted = [(ShiftedMask(1, 1, np.roll(r.mask, 1, axis=(0, 1))),) for r in regions]
    work = work_image(img, 16)
    want = [refine_region(work, r, shifted=s) for r, s in zip(regions, shifted)]
    assert any(w.extent is not None for w in want)
    local = refine_view(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96), shifted)
    with Refiner(1) as refiner:
        remote = refiner.submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96), shifted).result()
    for done in (local, remote):
        assert [m.box for m in done.masks] == [m.box for m in want]
        assert all(np.array_equal(a.mask, b.mask) and a.extent == b.extent for a, b in zip(done.masks, want))
    assert remote.encoded == local.encoded
    with pytest.raises(ValueError):
        refine_view(img, 16, (0.0, 0.0), (1.0, 1.0), regions, None, shifted[:1])  # one per region


def test_worker_processes_give_the_same_masks_and_errors_reach_the_caller() -> None:
    img, regions = _scene()
    local = Refiner(0).submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96)).result()
    with Refiner(2) as refiner:
        jobs = [refiner.submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96)) for _ in range(3)]
        remote = [j.result() for j in jobs]
        bad = refiner.submit(img[:90], 16, (0.0, 0.0), (1.0, 1.0), regions)  # not whole patches
        with pytest.raises(ValueError, match="whole number of 16-pixel patches"):
            bad.result()
    for done in remote:
        assert [m.box for m in done.masks] == [m.box for m in local.masks] and done.encoded == local.encoded
        assert all(np.array_equal(a.mask, b.mask) for a, b in zip(done.masks, local.masks))
    with pytest.raises(ValueError, match="whole number"):
        Refiner(0).submit(img[:90], 16, (0.0, 0.0), (1.0, 1.0), regions).result()


def _same(a, b) -> bool:
    return [m.box for m in a.masks] == [m.box for m in b.masks] and a.encoded == b.encoded and all(
        np.array_equal(x.mask, y.mask) for x, y in zip(a.masks, b.masks))


def test_a_killed_worker_is_replaced_and_its_job_redone(caplog) -> None:
    """``kill -9`` of a worker (as the out-of-memory killer would): the jobs it held are redone,
    a new pool takes the next ones, the results are the same, one warning says so."""
    import os
    import signal

    img, regions = _scene()
    want = Refiner(0).submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96)).result()
    with Refiner(1) as refiner:
        assert _same(refiner.submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96)).result(), want)
        pool = refiner.start()
        (pid,) = list(pool._processes)  # the one worker
        os.kill(pid, signal.SIGKILL)
        jobs = [refiner.submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96)) for _ in range(3)]
        assert all(_same(j.result(), want) for j in jobs)
        later = refiner.submit(img, 16, (0.0, 0.0), (1.0, 1.0), regions, (128, 96))
        assert _same(later.result(), want)
        assert refiner.start() is not pool and pid not in refiner.start()._processes
    assert sum("refinement worker process died" in r.getMessage() for r in caplog.records) >= 1


def test_workers_end_with_their_parent(tmp_path) -> None:
    """``kill -9`` of the process that started the workers: they exit soon after, on their own."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys, time\n"
        "from autolabel.pipeline.refine import Refiner\n"
        "r = Refiner(2); pool = r.start(); [f.result() for f in [pool.submit(int, 1) for _ in range(4)]]\n"
        "print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/status") as f:
                return "\tZ" not in next(line for line in f if line.startswith("State:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return False

    deadline = time.monotonic() + 60  # a bound, not a race: they exit within ~PARENT_POLL_S
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_a_process_whose_worker_died_mid_job_exits() -> None:
    """A worker killed while the parent is still writing a large job to it: the parent redoes
    the jobs, prints their result and exits 0 (Python before 3.11.4 hung at exit joining the
    pool's feeder thread, blocked on the dead worker's full pipe)."""
    import subprocess
    import sys

    code = (
        "import os, signal\n"
        "import numpy as np\n"
        "from tests.pipeline.test_refine import _scene\n"
        "from autolabel.discovery.regions import Region\n"
        "from autolabel.pipeline.refine import Refiner\n"
        "img, small = _scene()\n"
        "big = np.ascontiguousarray(np.tile(img, (20, 16, 1)))  # 12 MB: far more than a pipe holds\n"
        "regions = [Region(r.box, r.objectness, r.seed, np.pad(r.mask, ((0, 114), (0, 120)))) for r in small]\n"
        "r = Refiner(1)\n"
        "pool = r.start(); pool.submit(int, 1).result()\n"
        "(pid,) = list(pool._processes)\n"
        "os.kill(pid, signal.SIGKILL)\n"
        "jobs = [r.submit(big, 16, (0.0, 0.0), (1.0, 1.0), regions) for _ in range(4)]\n"
        "print(sum(len(j.result().masks) for j in jobs), flush=True)\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root,
                         env={**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["8"]
    assert "refinement worker process died" in out.stderr


@pytest.mark.parametrize("setting, device, cores, want", [
    (0, "cuda", 64, 0), (3, "cpu", 2, 3),  # explicit
    (-1, "cpu", 64, 0),  # auto on a CPU device: the models use the cores
    (-1, "cuda", 16, 14), (-1, "cuda", 3, 0), (-1, "cuda", 128, MAX_AUTO_PROCESSES),
])
def test_auto_processes(setting: int, device: str, cores: int, want: int) -> None:
    assert resolve_refine_processes(setting, device, cores) == want


def test_pipeline_records_and_masks_equal_with_refinement_processes(tmp_path, tiny_config) -> None:
    from autolabel.pipeline import Annotator, load_models
    from tests.conftest import write_image

    for i in range(5):
        write_image(tmp_path / f"img_{i}.png", size=[(96, 72), (128, 96)][i % 2])
    paths = sorted(p.name for p in tmp_path.iterdir())
    cfg = tiny_config.replace(discovery="multi", image_batch=2)
    models = load_models(cfg)

    def records(c):
        return [(r.path, [(d.box, d.label, d.score, d.mask) for d in r.detections])
                for r in Annotator(c, models).process(tmp_path, paths)]

    in_thread = records(cfg.replace(refine_processes=0))
    assert sum(len(d) for _, d in in_thread) > 0
    assert records(cfg.replace(refine_processes=2, overlap="on")) == in_thread

    # one annotator keeps its workers from one stream to the next, until closed
    with Annotator(cfg.replace(refine_processes=1), models) as ann:
        list(ann.process(tmp_path, paths[:2]))
        pool = ann.refining.refiner.start()
        list(ann.process(tmp_path, paths[2:]))
        assert pool is not None and ann.refining.refiner.start() is pool
    assert ann.refining.refiner._pool is None


def test_workers_import_no_torch() -> None:
    """A refinement worker imports autolabel.pipeline.refine only: numpy and scipy, not torch (which
    would add ~380 MiB of private memory to each of up to 16 workers)."""
    import subprocess
    import sys

    code = "import sys, autolabel.pipeline.refine; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_numpy_work_image_equals_the_torch_computation() -> None:
    """The workers' numpy path quantises exactly as the torch code it replaced."""
    import torch

    img, _ = _scene()
    img[0, :8] = [0, 31, 32]  # bin edges: 32/255*8 is just above 1
    img[1, :8] = 255
    work = work_image(img, 16)
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    q = (t * 8).to(torch.int64).clamp_(0, 7)
    assert np.array_equal(work.bins, ((q[0] * 8 + q[1]) * 8 + q[2]).numpy())
    assert np.array_equal(work.rgb, t.clamp(0, 1).permute(1, 2, 0).contiguous().numpy())


@pytest.mark.parametrize("refine", [True, False])
def test_localise_drops_a_frame_region_and_keeps_the_object(refine: bool) -> None:
    """A region that is a ring around the image (a photo's frame) is not exported; the object
    inside it is, with its own pixels."""
    from types import SimpleNamespace

    from autolabel.pipeline.refine import Refining

    img, regions = _scene()
    ring = np.ones((6, 8), bool)
    ring[1:-1, 1:-1] = False
    frame = Region((0, 0, 8, 6), 0.9, 0, ring)
    resized = SimpleNamespace(host_pixels=lambda: img, patch=16, scale_x=1.0, scale_y=1.0)
    item = SimpleNamespace(views=[SimpleNamespace(resized=resized, tile=SimpleNamespace(x0=0, y0=0))],
                           decoded=SimpleNamespace(width=128, height=96), pending=[])
    clock = SimpleNamespace(add=lambda *a: None)
    stage = Refining(SimpleNamespace(refine=refine, refine_processes=0, masks=True), clock)
    try:
        found = stage.localise(item, 0, [frame, *regions])()
    finally:
        stage.close()
    assert len(found) == 2
    for f, (r0, r1, c0, c1) in zip(found, ((21, 70, 13, 58), (40, 90, 75, 121))):
        full = f.mask.to_image(128, 96)
        blob = np.zeros((96, 128), bool)
        blob[r0:r1, c0:c1] = True
        assert (full & blob).sum() / (full | blob).sum() > (0.8 if refine else 0.5)

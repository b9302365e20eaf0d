#!/usr/bin/env python
"""Make every picture of the docs from the quickstart's run, so none can go stale unseen.

    python scripts/make_docs_images.py                 # runs/sample -> docs/images/
    python scripts/make_docs_images.py --run RUN --out DIR

The run is what the README's quickstart writes:

    autolabel annotate sample_data -o runs/sample --preset lite --export coco

If ``--run`` does not exist yet, the script runs that command first. It writes

* ``sample-previews.jpg``: the four sample photos side by side, each drawn as
  ``autolabel annotate ... --previews`` draws it (masks, boxes, labels and scores);
* with ``--labelstudio``, ``labelstudio-predictions.jpg``: Label Studio's labeling page showing
  the ML backend's predictions on the cat photo, taken by the integration test that checks them;
* ``images.json``: for each picture, the command that made the run, the size in pixels, the
  number format the models ran in (bf16 or fp32) and the number of boxes drawn per photo. ``tests/test_docs.py`` makes the pictures again from a fresh
  quickstart run and compares them with this file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = ["autolabel", "annotate", "sample_data", "-o", "runs/sample", "--preset", "lite", "--export", "coco"]
TILE_HEIGHT = 300   # each photo's height in the composite, px
GAP = 8             # white gap between photos, px


def ensure_run(run: Path) -> None:
    """Run the quickstart into ``run`` unless a finished run is there."""
    if (run / "predictions.jsonl").is_file():
        return
    command = [*QUICKSTART[:4], str(run), *QUICKSTART[5:]]
    subprocess.run(command, cwd=REPO, check=True)


def resolved_precision(manifest: dict) -> str:
    """The number format the run's models ran in (``auto`` resolved on this machine): boxes
    can differ between bf16 and fp32, so the test compares box counts only within one."""
    from autolabel.devices import resolve_device, resolve_precision

    config = manifest.get("config", {})
    return resolve_precision(config.get("precision", "auto"), resolve_device(config.get("device", "auto")))


def make_images(run: Path, out: Path) -> dict[str, dict]:
    """Draw the pictures of ``run`` into ``out``; return what ``images.json`` holds."""
    from PIL import Image

    from autolabel.images import decode_image
    from autolabel.store import open_run
    from autolabel.store.previews import draw_preview

    store = open_run(run)
    manifest = store.read_manifest()
    root = manifest["image_root"]
    records = sorted(store.iter_images(), key=lambda r: r.path)
    tiles, boxes = [], {}
    for record in records:
        decoded = decode_image(root, record.path)
        preview = draw_preview(decoded.image, record)
        scale = TILE_HEIGHT / preview.height
        tiles.append(preview.resize((round(preview.width * scale), TILE_HEIGHT), Image.Resampling.LANCZOS))
        boxes[record.path] = len(record.detections)
    width = sum(t.width for t in tiles) + GAP * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, TILE_HEIGHT), (255, 255, 255))
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + GAP
    out.mkdir(parents=True, exist_ok=True)
    sheet.save(out / "sample-previews.jpg", quality=85, optimize=True)
    info = {
        "sample-previews.jpg": {
            "made_by": "scripts/make_docs_images.py",
            "run": " ".join(QUICKSTART),
            "size": list(sheet.size),
            "precision": resolved_precision(manifest),
            "boxes": boxes,
        }
    }
    write_info(out, info)
    return info


LABELSTUDIO_SHOT = "labelstudio-predictions.jpg"
LABELSTUDIO_TEST = "tests/integration/test_labelstudio_backend.py::test_labeling_page_draws_the_best_cat_box"


def make_labelstudio_shot(out: Path) -> dict[str, dict]:
    """Label Studio's labeling page with the ML backend's predictions on the cat photo, as the
    integration test sees it (a real Label Studio 1.23, ``autolabel serve labelstudio --preset
    lite``, headless Chromium; the test checks the drawn box before the picture is kept)."""
    from PIL import Image

    target = out / LABELSTUDIO_SHOT
    env = {**os.environ, "AUTOLABEL_DOCS_SCREENSHOT": str(target), "CI": "1"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", LABELSTUDIO_TEST], cwd=REPO, env=env, check=True)
    with Image.open(target) as im:
        size = list(im.size)
    return {LABELSTUDIO_SHOT: {"made_by": "scripts/make_docs_images.py --labelstudio", "run": f"pytest {LABELSTUDIO_TEST}", "size": size}}


def write_info(out: Path, made: dict[str, dict]) -> None:
    """``images.json`` in ``out``: the entries just made over the ones already there."""
    path = out / "images.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    info.update(made)
    path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=REPO / "runs" / "sample", help="the quickstart's run")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the pictures go")
    parser.add_argument("--labelstudio", action="store_true",
                        help=f"also remake {LABELSTUDIO_SHOT} (needs Label Studio in .venv-ls and Chromium; a few minutes)")
    args = parser.parse_args(argv)
    ensure_run(args.run)
    info = make_images(args.run, args.out)
    if args.labelstudio:
        args.out.mkdir(parents=True, exist_ok=True)
        write_info(args.out, make_labelstudio_shot(args.out))
    for name, entry in info.items():
        print(f"{args.out / name}: {entry['size'][0]}x{entry['size'][1]}, boxes {entry['boxes']}")
    if args.labelstudio:
        print(f"{args.out / LABELSTUDIO_SHOT}: Label Studio's labeling page with the backend's predictions")
    return 0


if __name__ == "__main__":
    sys.exit(main())

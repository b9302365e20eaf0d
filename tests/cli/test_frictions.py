"""The command line as a user meets it: help texts that say what the product does (and nothing
of how it was made), everyday singular class names, warnings given once and explained, and no
third-party noise on every start. Each check runs ``autolabel`` in a subprocess, as a user would."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_docs import HISTORY

COMMANDS = ["annotate", "export", "formats", "review", "import", "import labelstudio", "evaluate", "classes",
            "classes search", "classes show", "models", "bench", "devset"]


def autolabel(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``autolabel ARGS`` in a fresh interpreter, from the checkout (stdout and stderr apart)."""
    return subprocess.run([sys.executable, "-c", "from autolabel.cli import main; main()", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**(env or os.environ), "PYTHONPATH": str(REPO)})


def test_main_help_describes_todays_pipeline_and_presets():
    r = autolabel("--help")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "DINO + LOST find the objects" not in text
    for word in ("votes", "tokencut", "maskcut", "LOST", "DINO", "EfficientNet-Lite0", "ImageNet", "COCO", "Label Studio"):
        assert word in text, word
    for preset in ("default", "fast", "seed", "lite"):
        assert re.search(rf"^\s+{preset}\s+\S", text, re.MULTILINE), preset
    assert "autolabel annotate sample_data -o runs/sample --preset lite --export coco" in text


def test_no_help_text_tells_how_the_product_was_made():
    found = []
    for command in ["", *COMMANDS]:
        r = autolabel(*command.split(), "--help")
        assert r.returncode == 0, (command, r.stderr)
        for pattern in [*HISTORY, r"\bREADME\b"]:
            found += [f"{command or 'autolabel'}: {m.group(0)}" for m in re.finditer(pattern, r.stdout, re.IGNORECASE)]
    assert found == []


def test_import_labelstudio_help_matches_what_it_does():
    text = " ".join(autolabel("import", "labelstudio", "--help").stdout.split())
    assert "data.path" in text and "else by its image URL" in text
    assert "polygons" in text and "'polygon'" in text and "'label'" in text


def test_annotate_help_names_the_lock_and_who_wins_a_nested_pair():
    text = autolabel("annotate", "--help").stdout
    assert ".lock" in text and "predictions.jsonl" in text and "failures.jsonl" in text
    flat = " ".join(text.split())
    assert "keep the one with the higher objectness" in flat and "better-scored" not in flat


def test_singular_nouns_resolve_like_their_plurals():
    r = autolabel("classes", "show", "cow", "--model", "lite", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"ox"' in r.stdout
    r = autolabel("classes", "show", "cow,sheep,goose", "--model", "lite")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^cow\s+covers\s+1\s+ox$", r.stdout, re.MULTILINE), r.stdout
    assert "'cow (cows)' -> sense 1 n02402425" in r.stdout


@pytest.mark.slow
def test_a_vocabulary_warning_is_given_once_and_says_why(tmp_path: Path):
    r = autolabel("annotate", "sample_data/coffee.jpg", "-o", str(tmp_path / "run"), "--preset", "lite",
                  "--classes", "cup", "--quiet")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "class 'cup'" in line]
    assert len(warnings) == 1, r.stderr
    assert "is read as sense 6 of 'cup', not its first sense, because its senses before 6 cover none of the model's classes" in warnings[0]
    assert "cup.n.01" in warnings[0]


def test_fiftyones_oldest_mongodb_warning_becomes_one_info_line(caplog, monkeypatch):
    from autolabel.cli.review import MONGODB_NOTE, quiet_oldest_mongodb_warning

    db_log = logging.getLogger("fiftyone.core.odm.database")
    monkeypatch.setattr(db_log, "filters", [])  # as in a new process (another test may have installed it)
    quiet_oldest_mongodb_warning()
    quiet_oldest_mongodb_warning()  # installed once
    assert len(db_log.filters) == 1
    # INFO from autolabel.review reaches caplog even if an earlier CLI call of this process set
    # the autolabel logger to WARNING
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="autolabel"):
        for _ in range(3):
            db_log.warning("You are running the oldest supported major version of MongoDB. Please refer to ...")
        db_log.warning("some other database warning")
    texts = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert not any("You are running the oldest" in t for _, _, t in texts)
    assert [t for t in texts if t[2] == MONGODB_NOTE] == [("autolabel.review", logging.INFO, MONGODB_NOTE)]
    assert ("fiftyone.core.odm.database", logging.WARNING, "some other database warning") in texts


@pytest.mark.slow
def test_review_does_not_print_the_oldest_mongodb_warning(tmp_path: Path):
    pytest.importorskip("fiftyone")
    from tests.review.support import fiftyone_env, make_run, private_mongod

    run = make_run(tmp_path / "run")
    with private_mongod(tmp_path / "db") as uri:
        env = fiftyone_env(uri, tmp_path / "fo-db")
        env.pop("FIFTYONE_DATABASE_VALIDATION")  # FiftyOne's version check on, as a user has it
        r = autolabel("-v", "review", str(run), "--no-launch", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "You are running the oldest supported major version of MongoDB" not in r.stdout + r.stderr
    assert (r.stdout + r.stderr).count("oldest major version of MongoDB") <= 1
    assert "dataset autolabel-run created" in r.stdout


@pytest.mark.slow
def test_bench_report_reads_as_words():
    r = autolabel("bench", "--preset", "lite", "--synthetic", "2")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "time per stage (seconds, share of the wall time, calls" in text
    assert re.search(r"memory \(resident set\): \d+ MiB at the start, .*\d+ MiB peak at the end", text), text
    assert "_mb" not in text and "random weights: real ones find more boxes" in text
    assert "this machine's matmul peak" in text or "matmul peak" not in text

"""Support for the review tests: a private MongoDB for FiftyOne, started and stopped by PID, and a small run.

FiftyOne's own database service attaches to *any* running FiftyOne database of the same user
(it looks processes up by their arguments, not by their database directory), so on a shared
machine a test could end up in someone else's database. These tests therefore start their
own ``mongod`` (FiftyOne's bundled binary) on a free 127.0.0.1 port with its own database
directory and point FiftyOne at it with ``FIFTYONE_DATABASE_URI``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mongod_binary() -> Path:
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fiftyone is not installed")
    exe = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    if not exe.is_file():
        pytest.skip(f"FiftyOne's mongod is not installed ({exe})")
    return exe


def fiftyone_env(uri: str, db_dir: Path) -> dict[str, str]:
    """Environment for a process (this one or a child) that should use the private database."""
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_PRIVATE_DATABASE_PORT"}
    env.update(
        FIFTYONE_DATABASE_URI=uri,
        FIFTYONE_DATABASE_DIR=str(db_dir),
        FIFTYONE_DATABASE_VALIDATION="false",
        FIFTYONE_DO_NOT_TRACK="true",
        FIFTYONE_SHOW_PROGRESS_BARS="false",
    )
    return env


@contextlib.contextmanager
def private_mongod(tmp: Path) -> Iterator[str]:
    """Start ``mongod`` with its database under ``tmp``; yield its URI; stop it by PID."""
    db = tmp / "mongo"
    db.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [str(mongod_binary()), "--dbpath", str(db), "--port", str(port), "--bind_ip", "127.0.0.1",
         "--nounixsocket", "--logpath", str(db / "mongod.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mongod exited with {proc.returncode}; see {db / 'mongod.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("mongod did not listen within 60 s")
            time.sleep(0.1)
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _drop_fiftyone_connection() -> None:
    """Close FiftyOne's client and forget the objects bound to it (so the next use reconnects)."""
    import fiftyone.core.odm.database as fodb

    fodb._disconnect()
    with contextlib.suppress(ImportError, AttributeError):
        import fiftyone.factory.repo_factory as rf

        rf._db = None
        rf.RepositoryFactory.repos.clear()


@contextlib.contextmanager
def use_private_fiftyone(tmp: Path) -> Iterator[str]:
    """Point this process's FiftyOne at a private mongod under ``tmp`` (yields the URI).

    Works whether or not :mod:`fiftyone` was already imported by an earlier test module:
    the config is switched and the old connection dropped, and both are restored afterwards,
    so later modules reconnect to their own database.
    """
    with private_mongod(tmp) as uri, pytest.MonkeyPatch.context() as mp:
        # read only if fiftyone is imported now; the URI is set on the config below, so that
        # restoring the config afterwards really points later modules elsewhere
        for k, v in fiftyone_env(uri, tmp / "fo-db").items():
            if k != "FIFTYONE_DATABASE_URI" and os.environ.get(k) != v:
                mp.setenv(k, v)
        mp.delenv("FIFTYONE_PRIVATE_DATABASE_PORT", raising=False)
        already = "fiftyone" in sys.modules
        import fiftyone as fo
        import fiftyone.core.odm.database as fodb

        saved = (fo.config.database_uri, fo.config.database_validation, fo.config.show_progress_bars)
        saved_kwargs = dict(fodb._connection_kwargs)  # FiftyOne keeps the URI here after connecting
        if already:
            _drop_fiftyone_connection()
        fo.config.database_uri = uri
        fo.config.database_validation = False
        fo.config.show_progress_bars = False
        try:
            yield uri
        finally:
            _drop_fiftyone_connection()
            fodb._connection_kwargs.clear()
            fodb._connection_kwargs.update(saved_kwargs)
            fo.config.database_uri, fo.config.database_validation, fo.config.show_progress_bars = saved


# -- a small run without models ---------------------------------------------------------------
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
CLASSES = ["tabby", "tiger cat", "coffee mug", "space shuttle", "dog"]
"""The run's chosen classes (a vocabulary); ``Egyptian cat`` below is outside them."""


def _alts(*pairs):
    return [{"label": n, "label_id": s, "score": p} for n, s, p in pairs]


def sample_records() -> list[dict]:
    """Predictions for the four sample images: 7 boxes, one image without any."""
    cat = _alts(("tabby", "n02123045", 0.55), ("tiger cat", "n02123159", 0.30), ("Egyptian cat", "n02124075", 0.10))
    return [
        {"path": "astronaut.jpg", "width": 512, "height": 512, "detections": []},
        {
            "path": "chelsea.jpg", "width": 451, "height": 300,
            "detections": [
                {"id": "chelsea-0", "box": [120.0, 20.0, 400.0, 290.0], "label": "tabby", "label_id": "n02123045",
                 "score": 0.55, "objectness": 0.9, "topk": cat},
                {"id": "chelsea-1", "box": [130.0, 30.0, 390.0, 280.0], "label": "tiger cat", "label_id": "n02123159",
                 "score": 0.30, "objectness": 0.5, "topk": cat},
                {"id": "chelsea-2", "box": [0.0, 0.0, 60.0, 50.0], "label": "Egyptian cat", "label_id": "n02124075",
                 "score": 0.12, "objectness": 0.2, "topk": cat},
            ],
        },
        {
            "path": "coffee.jpg", "width": 600, "height": 400,
            "detections": [
                {"id": "coffee-0", "box": [150.5, 40.25, 450.0, 330.0], "label": "coffee mug", "label_id": "n03063599",
                 "score": 0.8, "objectness": 0.7,
                 "topk": _alts(("coffee mug", "n03063599", 0.8), ("cup", "n07930864", 0.15))},
                {"id": "coffee-1", "box": [10.0, 300.0, 120.0, 400.0], "label": "coffee mug", "label_id": "n03063599",
                 "score": 0.4, "objectness": 0.3, "topk": _alts(("coffee mug", "n03063599", 0.4))},
            ],
        },
        {
            "path": "rocket.jpg", "width": 640, "height": 427,
            "detections": [
                {"id": "rocket-0", "box": [250.0, 10.0, 330.0, 400.0], "label": "space shuttle", "label_id": "n04266014",
                 "score": 0.65, "objectness": 0.8, "topk": _alts(("space shuttle", "n04266014", 0.65))},
                {"id": "rocket-1", "box": [0.0, 300.0, 640.0, 427.0], "label": "space shuttle", "label_id": "n04266014",
                 "score": 0.2, "objectness": 0.1, "topk": _alts(("space shuttle", "n04266014", 0.2))},
            ],
        },
    ]


def make_run(run_dir: Path, records: list[dict] | None = None, classes: list[str] | None = CLASSES) -> Path:
    """A run over ``sample_data/`` with ``records`` and one failed image (``broken.jpg``)."""
    from tests.runs import write_run

    write_run(run_dir, records if records is not None else sample_records(), image_root=SAMPLE_DATA,
              classes=classes, label_space="imagenet-22k",
              models={"extractor": {"name": "test", "weights": "random"}, "classifier": {"name": "test", "weights": "random"}},
              failures=[{"path": "broken.jpg", "reason": "cannot identify image file"}])
    return run_dir

"""Test-only: hold an ``autolabel annotate`` run mid-way, so a test can interrupt it at a point
the run must reach (never after a sleep that races the run).

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one; a
test puts this folder first on ``PYTHONPATH`` of the process it starts (and so of the Ray
workers it spawns) and sets ``AUTOLABEL_TEST_GATE`` to an empty folder. Then, in every such
process, discovery (:class:`autolabel.discovery.DiscoveryMethod`, batched or per image, the
one seam every engine goes through) counts the images it is given; the first process to reach
``AUTOLABEL_TEST_GATE_AFTER`` images (default 20) creates ``<gate>/reached`` and waits, before
discovering any more, until ``<gate>/release`` exists. That image cannot finish, so the run
cannot end; every other process and thread goes on. The test sends SIGINT once ``reached``
exists, then creates ``release``.

Without ``AUTOLABEL_TEST_GATE`` this does nothing.
"""

from __future__ import annotations

import os

_GATE = os.environ.get("AUTOLABEL_TEST_GATE")


def _install(gate: str, after: int) -> None:
    import threading
    import time

    from autolabel.discovery import DiscoveryMethod

    lock = threading.Lock()
    state = {"seen": 0, "held": False}

    def hold(n_images: int) -> None:
        with lock:
            state["seen"] += n_images
            if state["held"] or state["seen"] < after:
                return
            state["held"] = True
            try:  # only the first process anywhere holds
                fd = os.open(os.path.join(gate, "reached"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
        release = os.path.join(gate, "release")
        while not os.path.exists(release):  # waits for the test's file, not for a time
            time.sleep(0.01)

    per_image, batched = DiscoveryMethod.__call__, DiscoveryMethod.batch

    def call(self, keys, grid_hw, **params):
        hold(1)
        return per_image(self, keys, grid_hw, **params)

    def batch(self, keys, grid_hw, **params):
        hold(len(keys))
        return batched(self, keys, grid_hw, **params)

    DiscoveryMethod.__call__ = call
    DiscoveryMethod.batch = batch


if _GATE:
    _install(_GATE, int(os.environ.get("AUTOLABEL_TEST_GATE_AFTER", "20")))

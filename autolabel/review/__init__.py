"""Review a run and bring the corrections back as a revision, whatever tool the review happened in.

Modules: :mod:`~autolabel.review.corrections` (a reviewer's boxes against the base detections:
the rules, whatever the tool), :mod:`~autolabel.review.dataset` (the run's FiftyOne dataset:
samples, saved views, label schema, pull), :mod:`~autolabel.review.app` (the FiftyOne App on
127.0.0.1) and :mod:`~autolabel.review.labelstudio` (a Label Studio JSON export read back).

Nothing here prints; FiftyOne is imported only by the functions that need it.
"""

from autolabel.review.app import (
    DEFAULT_PORT,
    app_url,
    check_port_free,
    close_app,
    launch_app,
    ssh_hint,
)
from autolabel.review.corrections import (
    CorrectionSummary,
    ReviewedBox,
    correct_image,
    correct_images,
)
from autolabel.review.dataset import VIEWS, BuildResult, PullResult, build_dataset, pull
from autolabel.review.labelstudio import ImportResult, import_labelstudio

__all__ = [
    "DEFAULT_PORT",
    "VIEWS",
    "BuildResult",
    "CorrectionSummary",
    "ImportResult",
    "PullResult",
    "ReviewedBox",
    "app_url",
    "build_dataset",
    "check_port_free",
    "close_app",
    "correct_image",
    "correct_images",
    "import_labelstudio",
    "launch_app",
    "pull",
    "ssh_hint",
]

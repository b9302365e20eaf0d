"""Dev-set measurement: how well discovery and the whole pipeline find the objects people drew.

* :mod:`.packaged`: the repository's small dev set (photos shipped inside Python packages).
* :mod:`.discovery`: discovery methods alone on one feature pass per image (cheap comparisons).
* :mod:`.labelled`: any COCO-labelled folder, its fixed tune / report split, and the pipeline's
  records on it (what ``annotate`` exports).
* :mod:`.quality`: the metrics of those records, per top-level folder and COCO size bucket.
* :mod:`.sweep`: the same records re-scored under other thresholds (tuning without re-running).
"""

from autolabel.tools.devset.discovery import (
    DevsetReport,
    MethodResult,
    MethodSpec,
    evaluate_discovery,
    format_table,
    score_predictions,
)
from autolabel.tools.devset.packaged import (
    DevImage,
    DevSet,
    Source,
    default_devset,
    load_devset,
    materialise,
    missing_dicts,
)

__all__ = [
    "DevImage", "DevSet", "DevsetReport", "MethodResult", "MethodSpec", "Source", "default_devset",
    "evaluate_discovery", "format_table", "load_devset", "materialise", "missing_dicts", "score_predictions",
]

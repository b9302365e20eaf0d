"""autolabel: pre-annotations for unlabeled images, without training a model.

Importing this package does no work: models, FiftyOne and the exporters load only when used.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on how the package was installed
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("autolabel-dino")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

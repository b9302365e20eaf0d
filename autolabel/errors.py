"""Typed errors raised by the library.

The library never prints and never exits; it raises one of these. Only :mod:`autolabel.cli`
turns them into a one-line message and an exit code. Every message says what was expected,
what came, and (where there is one) what the user can do about it.
"""

from __future__ import annotations


class AutolabelError(Exception):
    """Base class of every error the library raises on purpose."""


class ConfigError(AutolabelError):
    """An option, preset or config file is invalid."""


class InputError(AutolabelError):
    """The input path is missing, empty or holds no images."""


class ImageError(AutolabelError):
    """One image cannot be used (unreadable, truncated, too large, too small).

    Raised by :mod:`autolabel.images` for a single file; the pipeline records it in
    ``failures.jsonl`` and goes on with the next image.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class WeightsError(AutolabelError):
    """Model weights cannot be found, fetched or loaded."""


class ModelError(AutolabelError):
    """A model name is unknown to timm or unsuitable for its role."""


class RunError(AutolabelError):
    """A run directory is missing, malformed or incompatible with the request."""


class RunLockedError(RunError):
    """Another process holds the run directory's lock."""


class ResumeMismatchError(RunError):
    """An existing run was made with a different configuration."""


class RecordError(AutolabelError, ValueError):
    """A record (detection, image annotations, manifest) does not validate."""


class ExportError(AutolabelError):
    """An export cannot be written (unknown format, bad option, bad plugin)."""


class FormatLimitError(ExportError):
    """One image holds something its format cannot carry (e.g. more objects than a VOC
    segmentation PNG has values for). The export driver gives up that format alone, reporting
    this one-line message, and still writes the other formats."""

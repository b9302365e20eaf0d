"""Engines: where ``autolabel annotate`` runs. Every engine writes the same run directory.

One entry signature (:class:`Engine`), one registry the CLI reads (:func:`list_engines`,
:func:`get_engine`). An engine starts the run with :func:`autolabel.run.start_run` under the
run's lock, computes with :class:`autolabel.pipeline.Annotator` and appends every image's
result to the run store:

* ``local`` (:mod:`autolabel.engines.local`): in this process;
* ``ray`` (:mod:`autolabel.engines.ray`): Ray Data actors on a Ray cluster (optional extra
  ``ray``; imported only when it runs).

Engine modules are imported only by :func:`get_engine`, so listing engines imports nothing.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from autolabel.errors import ConfigError

if TYPE_CHECKING:
    from autolabel.config import PipelineConfig
    from autolabel.run import ProgressFn, RunSummary, StartFn


@dataclass(frozen=True)
class EngineOptions:
    """How to run, beyond the pipeline settings. An engine refuses an option it cannot honour.

    Attributes:
        previews: also draw each image's boxes into ``RUN/previews/``.
        allow_config_change: resume a run even if result-affecting settings differ.
        workers: the engine's parallel units; None (or 0 for ``ray``) = the engine's default.
            ``local``: image decoding threads (the config's ``workers``); ``ray``: actors.
        address: ``ray``: the cluster to join (``auto``, ``ray://head:10001``, ``head:6379``).
        gpus_per_worker: ``ray``: GPUs reserved per actor (0: CPU).
    """

    previews: bool = False
    allow_config_change: bool = False
    workers: int | None = None
    address: str | None = None
    gpus_per_worker: float = 0.0


class Engine(Protocol):
    """The entry every engine has."""

    def __call__(
        self,
        config: PipelineConfig,
        input_path: str | os.PathLike[str],
        run_dir: str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        progress: ProgressFn | None = None,
        on_start: StartFn | None = None,
    ) -> RunSummary:
        """Annotate every image under ``input_path`` into ``run_dir`` (created, or resumed with
        done and failed images skipped); ``progress`` per image, ``on_start`` once."""
        ...


@dataclass(frozen=True)
class EngineSpec:
    """A registered engine: its name, ``module:function`` entry and a one-line description."""

    name: str
    entry: str
    help: str


_REGISTRY: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("local", "autolabel.engines.local:annotate", "in this process"),
        EngineSpec("ray", "autolabel.engines.ray:annotate",
                   "on a Ray cluster (pip install 'autolabel-dino[ray]')"),
    )
}

DEFAULT_ENGINE = "local"


def list_engines() -> list[str]:
    """Names of the registered engines, the default first."""
    return [DEFAULT_ENGINE] + sorted(n for n in _REGISTRY if n != DEFAULT_ENGINE)


def engine_spec(name: str) -> EngineSpec:
    """The registration of engine ``name``.

    Raises:
        ConfigError: no engine of that name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; engines: {', '.join(list_engines())}") from None


def get_engine(name: str) -> Engine:
    """The entry of engine ``name`` (its module imported now).

    Raises:
        ConfigError: unknown engine.
    """
    module, attr = engine_spec(name).entry.split(":")
    return getattr(importlib.import_module(module), attr)

"""Object discovery on patch features: one registry, one call signature for every method.

Every method is called as ``fn(keys, grid_hw, **params) -> list[Region]``:

* ``keys``: ``(N, C)`` tensor of patch features (DINO keys or a CNN map), ``N = h * w``,
  row-major;
* ``grid_hw``: ``(h, w)``, height first;
* ``params``: keyword arguments named exactly like :class:`autolabel.config.PipelineConfig`
  fields; :attr:`DiscoveryMethod.params` lists which ones a method reads, and
  :meth:`DiscoveryMethod.params_from` picks them from a config;
* returns :class:`~autolabel.discovery.regions.Region` objects (grid box, objectness in
  ``[0, 1]``, seed, patch mask) by descending objectness.

A method may also have a batched form (:attr:`DiscoveryMethod.batched`) taking ``(B, N, C)``
keys and returning each image's regions, equal to the per-image form's; the pipeline uses it
(:func:`autolabel.discovery.batched.discover_batch`).

Methods are looked up by name (the config's ``discovery`` value) with :func:`get_discovery`;
:func:`list_discovery` names them. Modules (numpy, scipy, torch) are imported only when a
method is called, so :mod:`autolabel.config` can validate names without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autolabel.errors import ConfigError

if TYPE_CHECKING:
    from autolabel.discovery.regions import GridBox, Region

__all__ = ["DiscoveryMethod", "GridBox", "Region", "get_discovery", "list_discovery"]


@dataclass(frozen=True)
class DiscoveryMethod:
    """A registered discovery method."""

    name: str
    """The config's ``discovery`` value."""
    target: str
    """``module:function`` implementing ``fn(keys, grid_hw, **params) -> list[Region]``."""
    params: tuple[str, ...]
    """PipelineConfig fields the function takes as keyword arguments (same names)."""
    summary: str
    """One line for help texts."""
    multi: bool = True
    """Whether it can return more than one region per image."""
    batched: str | None = None
    """``module:function`` of its batched form, ``fn(keys, grid_hw, **params) ->
    list[list[Region]]`` for ``keys`` ``(B, N, C)``: per image, the regions the per-image form
    gives (see :mod:`autolabel.discovery.batched`); None = none, the images run one by one."""

    @property
    def fn(self) -> Callable[..., list[Region]]:
        mod, attr = self.target.split(":")
        return getattr(importlib.import_module(mod), attr)

    def __call__(self, keys: Any, grid_hw: tuple[int, int], **params: Any) -> list[Region]:
        return self.fn(keys, grid_hw, **params)

    def batch(self, keys: Any, grid_hw: tuple[int, int], **params: Any) -> list[list[Region]]:
        """The batched form on ``keys`` ``(B, N, C)``; ConfigError if the method has none."""
        if self.batched is None:
            raise ConfigError(f"discovery method {self.name!r} has no batched form")
        mod, attr = self.batched.split(":")
        return getattr(importlib.import_module(mod), attr)(keys, grid_hw, **params)

    def params_from(self, config: Any) -> dict[str, Any]:
        """``{name: config.name}`` for each of :attr:`params` (a PipelineConfig or any object
        with those attributes; missing ones are left to the function's default)."""
        return {p: getattr(config, p) for p in self.params if hasattr(config, p)}


def __getattr__(name: str) -> Any:
    if name in ("GridBox", "Region"):
        from autolabel.discovery import regions

        return getattr(regions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_REGISTRY: dict[str, DiscoveryMethod] = {}


def register(method: DiscoveryMethod) -> DiscoveryMethod:
    """Add ``method`` to the registry (a name may be registered once)."""
    if method.name in _REGISTRY:
        raise ConfigError(f"discovery method {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def list_discovery() -> list[str]:
    """Names of the registered discovery methods, in registration order."""
    return list(_REGISTRY)


def get_discovery(name: str) -> DiscoveryMethod:
    """The method called ``name``; :class:`~autolabel.errors.ConfigError` listing them otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown discovery method {name!r}; available: {', '.join(_REGISTRY)}") from None


register(DiscoveryMethod(
    "multi", "autolabel.discovery.lost:lost_multi_regions",
    ("num_seeds", "k_patches", "affinity_threshold", "nms_iou"),
    "LOST from many low-degree seeds, adjacent seeds merged, NMS",
    batched="autolabel.discovery.lost:lost_multi_regions_batch",
))
register(DiscoveryMethod(
    "single", "autolabel.discovery.lost:lost_single_regions", ("k_patches",),
    "LOST exactly as published: one object", multi=False,
    batched="autolabel.discovery.lost:lost_single_regions_batch",
))
register(DiscoveryMethod(
    "tokencut", "autolabel.discovery.tokencut:tokencut_regions", (),
    "TokenCut (Normalized Cut on the keys) exactly as published: one object", multi=False,
    batched="autolabel.discovery.tokencut:tokencut_regions_batch",
))
register(DiscoveryMethod(
    "maskcut", "autolabel.discovery.maskcut:maskcut_regions", ("nms_iou",),
    "repeated Normalized Cuts, each on the patches the earlier cuts left (MaskCut)",
    batched="autolabel.discovery.maskcut:maskcut_regions_batch",
))
register(DiscoveryMethod(
    "votes", "autolabel.discovery.votes:vote_regions", ("affinity_threshold", "nms_iou", "split_core", "split_min_part",
                                                          "split_depth"),
    "seed proposals merged by overlap votes, no eigensolve (ProMerge-style)",
    batched="autolabel.discovery.votes:vote_regions_batch",
))

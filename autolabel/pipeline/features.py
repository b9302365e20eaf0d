"""Pipeline stage: patch features for discovery, ViT attention keys or a CNN's feature map(s).

Axes are always named height first: a feature grid is ``(h, w)`` patches, a batch of keys is
``(B, h*w, C)`` in row-major order (patch ``i`` is at row ``i // w``, column ``i % w``).

:func:`prepare_image` (a PIL image, on the CPU) and :func:`prepare_tensor` (a pixel tensor, on
its device) resize an image so its longer side is at most ``max_side`` and each side
is a multiple of the patch size; :class:`Resized` keeps both scale factors so boxes map back to
the original pixels exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from PIL import Image

from autolabel.discovery.tiles import Tile, tile_layout
from autolabel.errors import ConfigError, ModelError
from autolabel.models import BuiltModel, model_dtype
from autolabel.pipeline.batching import ShapeLog, pad_rows
from autolabel.pipeline.work import View

if TYPE_CHECKING:
    from autolabel.images import DecodedImage


@dataclass(frozen=True)
class Resized:
    """How an image was resized for the extractor.

    Attributes:
        tensor: normalised ``(3, H', W')`` float32 tensor: on the CPU from :func:`prepare_image`,
            on the pixels' device from :func:`prepare_tensor`.
        grid: ``(h, w)`` patches; ``H' = h * patch``, ``W' = w * patch``.
        patch: patch size (stride) in resized pixels.
        scale_x, scale_y: original pixels per resized pixel (``W / W'``, ``H / H'``).
        pixels: the resized image before normalisation, uint8 RGB (what pixel-level
            refinement reads, see :meth:`host_pixels`): ``(H', W', 3)`` numpy from
            :func:`prepare_image`, ``(3, H', W')`` on the device from :func:`prepare_tensor`.
    """

    tensor: torch.Tensor
    grid: tuple[int, int]
    patch: int
    scale_x: float
    scale_y: float
    pixels: np.ndarray | torch.Tensor | None = None

    def host_pixels(self) -> np.ndarray:
        """:attr:`pixels` as ``(H', W', 3)`` uint8 numpy (copied from the device if there)."""
        if self.pixels is None:
            raise ValueError("this Resized keeps no pixels (made without prepare_image / prepare_tensor)")
        if isinstance(self.pixels, torch.Tensor):
            return self.pixels.permute(1, 2, 0).cpu().numpy()
        return self.pixels

    def grid_box_to_pixels(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Grid box ``(x1, y1, x2, y2)`` in patches (exclusive) -> original-image pixels."""
        x1, y1, x2, y2 = box
        p = self.patch
        return (x1 * p * self.scale_x, y1 * p * self.scale_y, x2 * p * self.scale_x, y2 * p * self.scale_y)


def resized_size(width: int, height: int, max_side: int, patch: int, upscale: float = 1.0) -> tuple[int, int]:
    """``(W', H')``: longer side at most ``max_side``, both multiples of ``patch``; enlarged by at
    most ``upscale`` (1.0: never enlarged).

    Each side is at least one patch (the caller refuses images smaller than one patch).
    """
    s = min(float(upscale), max_side / max(width, height))
    w = max(patch, int(math.floor(width * s / patch)) * patch)
    h = max(patch, int(math.floor(height * s / patch)) * patch)
    return w, h


def prepare_image(img: Image.Image, max_side: int, patch: int, mean: tuple[float, ...], std: tuple[float, ...],
                  upscale: float = 1.0) -> Resized:
    """Resize and normalise a RGB image for the extractor (see :func:`resized_size`)."""
    width, height = img.size
    w, h = resized_size(width, height, max_side, patch, upscale)
    small = img if (w, h) == (width, height) else img.resize((w, h), Image.BICUBIC)
    pixels = np.array(small, dtype=np.uint8)  # writable: refinement makes tensors of it
    t = torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(2, 0, 1)
    t = (t - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    return Resized(t.contiguous(), (h // patch, w // patch), patch, width / w, height / h, pixels)


def prepare_tensor(pixels: torch.Tensor, max_side: int, patch: int, mean: tuple[float, ...],
                   std: tuple[float, ...], upscale: float = 1.0) -> Resized:
    """:func:`prepare_image` on a ``(3, H, W)`` uint8 RGB tensor, on the tensor's device.

    The same size (:func:`resized_size`) and resize as PIL's ``BICUBIC``: antialiased bicubic
    (``a = -0.5``, ``torch.nn.functional.interpolate(antialias=True)``), width first, then
    height, each pass rounded and clipped to 8 bits as PIL's passes are (on the sample photos
    99.8-99.99% of pixels equal PIL's, the others by 1-2 grey levels; one pass in float
    differed by 0.18 levels on average); then the same normalisation. ``Resized.tensor`` and
    ``Resized.pixels`` (the 8-bit resized image) are on ``pixels.device``.
    """
    _, height, width = pixels.shape
    w, h = resized_size(width, height, max_side, patch, upscale)
    x = pixels[None].float()
    for size, changed in (((height, w), w != width), ((h, w), h != height)):
        if changed:
            x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
            x = x.round_().clamp_(0.0, 255.0)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(3, 1, 1)
    t = (x[0] / 255.0 - m) / s
    return Resized(t.contiguous(), (h // patch, w // patch), patch, width / w, height / h, x[0].to(torch.uint8))


class FeatureExtractor(Protocol):
    """Maps a batch of same-size images to patch features."""

    patch: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, h*w, C)`` keys, ``h = H // patch``, ``w = W // patch``."""
        ...


class ViTKeys:
    """Keys of the last attention block of a timm VisionTransformer (prefix tokens dropped).

    Runs the blocks before the last one, then only the last block's ``norm1`` and ``qkv``:
    the last block's attention and MLP (which LOST does not use) are never computed.
    Keys of all heads are concatenated: ``C = embed_dim``.
    """

    def __init__(self, built: BuiltModel) -> None:
        m = built.module
        if not all(hasattr(m, a) for a in ("patch_embed", "blocks", "_pos_embed", "num_prefix_tokens")):
            raise ModelError(f"{built.name} is not a timm VisionTransformer")
        last = m.blocks[-1]
        if not hasattr(last, "attn") or not hasattr(last.attn, "qkv"):
            raise ModelError(f"{built.name}: its last block has no fused qkv projection")
        self.model = m
        ps = m.patch_embed.patch_size
        self.patch = int(ps[0] if isinstance(ps, (tuple, list)) else ps)
        cfg = built.pretrained_cfg
        self.mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.patch_embed(batch)  # (B, h, w, C) with dynamic_img_size, else (B, N, C)
        x = m._pos_embed(x)
        x = m.patch_drop(x) if hasattr(m, "patch_drop") else x
        x = m.norm_pre(x) if hasattr(m, "norm_pre") else x
        for blk in m.blocks[:-1]:
            x = blk(x)
        last = m.blocks[-1]
        qkv = last.attn.qkv(last.norm1(x))  # (B, T, 3C)
        c = qkv.shape[-1] // 3
        keys = qkv[..., c: 2 * c]
        return keys[:, m.num_prefix_tokens:, :]


class _Captured(Exception):
    """Raised by :class:`CNNMap`'s hooks once every chosen map is captured: the forward pass
    stops there instead of running the rest of the network."""


class CNNMap:
    """A CNN's feature map(s) as patch features.

    ``layers`` None: the last stage with reduction 16 (timm's ``feature_info``; for
    EfficientNet-Lite0 ``blocks.4``, 112 channels), centred per image (its mean over patches
    subtracted). A CNN's features share a large common component, so raw features of every
    patch pair correlate positively and LOST's sign test finds no structure; after centring,
    "positive" means "more alike than average", which is what LOST's test asks of a ViT's keys.

    ``layers``: names of the model's modules (``blocks.3``, ``blocks.6``, ``bn2`` ...), each
    giving a ``(B, C_i, H / s_i, W / s_i)`` map at stride ``s_i``. One name: that map, centred
    as above. Several: each is centred, L2-normalised per patch (each layer weighs the same in
    a cosine similarity), resized to the finest chosen grid (stride ``min s_i``: coarser maps
    enlarged bilinearly), and concatenated along channels: ``C = sum C_i``. The forward pass
    stops after the last chosen module.

    ``scales``: the extractor also sees (or only sees) the batch resized by these factors
    (``0.75``: a 640 x 480 view read at 480 x 360, its features brought back to the view's
    grid bilinearly); every ``(scale, layer)`` map counts as one map above. The grid, and so
    discovery and refinement, stays that of the view.
    """

    def __init__(self, built: BuiltModel, reduction: int = 16, layers: tuple[str, ...] | None = None,
                 scales: tuple[float, ...] = (1.0,)) -> None:
        m = built.module
        info = getattr(m, "feature_info", None)
        if info is None:
            raise ModelError(f"{built.name} exposes no intermediate feature maps; use a ViT or a timm CNN")
        entries = list(info) if not hasattr(info, "info") else list(info.info)
        if layers is None:
            idx = [i for i, e in enumerate(entries) if e.get("reduction") == reduction]
            if not idx:
                idx = [min(range(len(entries)), key=lambda i: abs(entries[i].get("reduction", 0) - reduction))]
            layers = (str(entries[idx[-1]]["module"]),)
        modules = dict(m.named_modules())
        missing = [n for n in layers if n not in modules or n == ""]
        if missing:
            raise ModelError(f"{built.name} has no module {', '.join(missing)} (option feature_layers); its feature "
                             f"stages: {', '.join(str(e['module']) for e in entries)}")
        if not scales or any(not 0.0 < x <= 4.0 for x in scales):
            raise ConfigError(f"option feature_scales: expected factors in (0, 4], got {scales!r}")
        self.model = m
        self.layers = tuple(layers)
        self.scales = tuple(float(x) for x in scales)
        self._modules = [modules[n] for n in self.layers]
        known = {str(e["module"]): int(e["reduction"]) for e in entries}
        self.strides = tuple(known.get(n, 0) for n in self.layers)
        if 0 in self.strides:
            self.strides = self._measure_strides()
        self.patch = min(self.strides)
        self.final_stride = int(entries[-1].get("reduction", 32))
        """Input pixels per cell of the network's final map (:meth:`finish`)."""
        cfg = built.pretrained_cfg
        self.mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))

    def _maps(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """The chosen modules' outputs on ``batch``, each ``(B, C_i, h_i, w_i)``, in ``layers`` order."""
        got: dict[int, torch.Tensor] = {}

        def hook(i: int) -> Any:
            def keep(_mod: torch.nn.Module, _inp: Any, out: torch.Tensor) -> None:
                got[i] = out
                if len(got) == len(self._modules):
                    raise _Captured

            return keep

        handles = [mod.register_forward_hook(hook(i)) for i, mod in enumerate(self._modules)]
        try:
            forward = getattr(self.model, "forward_features", self.model)
            forward(batch)
        except _Captured:
            pass
        finally:
            for h in handles:
                h.remove()
        if len(got) != len(self._modules):
            raise ModelError(f"modules {', '.join(self.layers)} did not all run in the forward pass")
        return [got[i] for i in range(len(self._modules))]

    def _measure_strides(self) -> tuple[int, ...]:
        """Strides of the chosen maps, from one pass over a blank 128 x 128 image."""
        p = next(self.model.parameters())
        side = 128
        with torch.inference_mode():
            maps = self._maps(torch.zeros(1, 3, side, side, dtype=p.dtype, device=p.device))
        return tuple(max(1, round(side / f.shape[-1])) for f in maps)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, h*w, C)``, ``h = H // patch``, ``w = W // patch``."""
        return self._keys(batch, self._all_maps(batch))

    def _all_maps(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Every ``(scale, layer)`` map of ``batch``, scales in order."""
        maps = []
        for s in self.scales:
            maps.extend(self._maps(rescale(batch, s, minimum=self.patch)))
        return maps

    def _keys(self, batch: torch.Tensor, maps: list[torch.Tensor]) -> torch.Tensor:
        """The keys of ``batch`` from its maps (see the class)."""
        h, w = batch.shape[-2] // self.patch, batch.shape[-1] // self.patch
        parts = []
        for f in maps:
            f = f - f.mean(dim=(2, 3), keepdim=True)
            if len(maps) > 1:  # several maps: each weighs the same in a cosine similarity
                f = torch.nn.functional.normalize(f, dim=1)
            if f.shape[-2:] != (h, w):
                f = torch.nn.functional.interpolate(f, size=(h, w), mode="bilinear", align_corners=False)
            parts.append(f)
        f = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return f.flatten(2).transpose(1, 2)

    @property
    def continues(self) -> bool:
        """Whether :meth:`finish` can carry the map on to the network's final features: one map
        (``blocks.N`` of a timm EfficientNet: ``blocks``, ``conv_head``, ``bn2``) at scale 1."""
        m = self.model
        if len(self.layers) != 1 or self.scales != (1.0,) or not all(hasattr(m, a) for a in ("blocks", "conv_head", "bn2")):
            return False
        index = self._block_index()
        return index is not None and index < len(m.blocks)

    def _block_index(self) -> int | None:
        """``N`` of the first chosen layer when it is ``blocks.N``, else None."""
        head, _, index = self.layers[0].partition(".")
        return int(index) if head == "blocks" and index.isdigit() else None

    def keys_and_map(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, h*w, C)`` keys as :meth:`__call__` gives them, and the raw (uncentred) map they
        came from, ``(B, C, h, w)``, for :meth:`finish`. Only where :attr:`continues`."""
        maps = self._all_maps(batch)
        return self._keys(batch, maps), maps[0]

    def finish(self, chosen: torch.Tensor) -> torch.Tensor:
        """The rest of ``forward_features`` from the chosen map of :meth:`keys_and_map`: the
        later blocks, ``conv_head`` and ``bn2`` (its norm and activation), giving the final
        ``(B, C', h', w')`` map (stride 32 for EfficientNet) without running the stem again.
        Only where :attr:`continues`."""
        m = self.model
        x, first = chosen, self._block_index()
        assert first is not None, "finish needs a CNNMap that continues"
        for blk in m.blocks[first + 1:]:
            x = blk(x)
        return m.bn2(m.conv_head(x))


def shares_classifier(cfg: Any, feats: FeatureExtractor, classifier: Any) -> bool:
    """Whether the feature stage gives the classifier evidence's class maps
    (:meth:`CNNMap.finish`): ``evidence_side`` on and equal to ``max_side`` (the view is the
    photo at the size the evidence asks for), the classifier the extractor's very module
    (:func:`~autolabel.pipeline.loading.load_models` builds one model when both name the same
    architecture and weights) with the same normalisation, and a :class:`CNNMap` that
    :attr:`~CNNMap.continues`. ``classifier``: the :class:`~autolabel.pipeline.classify.Classifier`."""
    if not cfg.evidence_side or cfg.evidence_side != cfg.max_side or not isinstance(feats, CNNMap) \
            or classifier.module is not feats.model:
        return False
    dc = classifier.data_config
    same = all(math.isclose(float(a), float(b), abs_tol=1e-6) for a, b in zip((*dc["mean"], *dc["std"]), (*feats.mean, *feats.std)))
    return same and feats.continues


VIT_MODULES = ("vision_transformer", "deit", "eva")
"""timm modules whose models are VisionTransformers that :class:`ViTKeys` reads."""


def extractor_kwargs(name: str) -> dict[str, bool]:
    """``timm.create_model`` arguments an extractor needs: ViTs take any image size
    (``dynamic_img_size``); other models take none. Decided by timm's registry, not by name."""
    from timm.models import get_arch_name, is_model_in_modules

    return {"dynamic_img_size": True} if is_model_in_modules(get_arch_name(name), VIT_MODULES) else {}


def make_extractor(built: BuiltModel, layers: str | None = None, scales: Any = None) -> FeatureExtractor:
    """:class:`ViTKeys` for a VisionTransformer, else :class:`CNNMap` of ``layers`` (the config's
    ``feature_layers``: comma-separated module names, None = the stride-16 map) at ``scales``
    (``feature_scales``: a factor or comma-separated factors, None = 1).

    Raises:
        ConfigError: ``layers`` given for a ViT (its keys come from the last block only).
        ModelError: a CNN without such a module.
    """
    if hasattr(built.module, "blocks") and hasattr(built.module, "patch_embed") and hasattr(built.module, "_pos_embed"):
        for name, value in (("feature_layers", layers), ("feature_scales", scales)):
            if value is not None:
                raise ConfigError(f"option {name}: {built.name} is a ViT, whose keys come from its last attention "
                                  f"block at the view's size; {name} applies to CNN extractors only (leave it unset)")
        return ViTKeys(built)
    return CNNMap(built, layers=None if layers is None else tuple(n.strip() for n in layers.split(",")),
                  scales=parse_scales(scales))


def parse_scales(value: Any) -> tuple[float, ...]:
    """``feature_scales`` as factors: None -> ``(1.0,)``; ``0.75`` -> ``(0.75,)``;
    ``"1,0.75"`` -> ``(1.0, 0.75)``. ValueError on anything else."""
    if value is None:
        return (1.0,)
    if isinstance(value, bool):
        raise ValueError(f"not a factor: {value!r}")
    if isinstance(value, (int, float)):
        return (float(value),)
    if isinstance(value, str):
        return tuple(float(p) for p in value.split(","))
    raise ValueError(f"not a factor: {value!r}")


def make_views(decoded: DecodedImage, cfg: Any, feats: FeatureExtractor) -> list[View]:
    """The extractor inputs of one image: the whole image, or each of ``cfg.tiles`` (``auto``:
    chosen from the image's size, :meth:`~autolabel.config.PipelineConfig.tiles_for`; every tile
    resized to ``max_side`` on its own, see :mod:`autolabel.discovery.tiles`). From the device
    pixels on their device when there are some (``decoder: device``), else from the PIL image
    on this thread."""
    width, height = decoded.width, decoded.height
    rows, cols = cfg.tiles_for(width, height)
    px = decoded.pixels

    def prepare(x0: int, y0: int, x1: int, y1: int) -> Resized:
        whole = (x0, y0, x1, y1) == (0, 0, width, height)
        if px is not None:
            return prepare_tensor(px if whole else px[:, y0:y1, x0:x1], cfg.max_side, feats.patch, feats.mean, feats.std,
                                  cfg.upscale)
        image = decoded.image if whole else decoded.image.crop((x0, y0, x1, y1))
        return prepare_image(image, cfg.max_side, feats.patch, feats.mean, feats.std, cfg.upscale)

    if (rows, cols) == (1, 1):
        return [View(prepare(0, 0, width, height), Tile(0, 0, width, height))]
    return [View(prepare(t.x0, t.y0, t.x1, t.y1), t) for t in tile_layout(width, height, rows, cols, cfg.tile_overlap)]


def extract(extractor: FeatureExtractor, batch: torch.Tensor, n: int) -> torch.Tensor:
    """Patch keys of the first ``n`` images of ``batch``.

    Args:
        extractor: the feature extractor.
        batch: ``(B, 3, H, W)`` normalised same-size images on the extractor's device, in its
            dtype, ``B >= n``: a :func:`device_batch` (rows past ``n`` are padding, dropped).
        n: the images to keep.

    Returns:
        ``(n, h*w, C)`` keys on the batch's device, in the extractor's dtype (discovery runs in it).
    """
    return _synced(extractor(batch)[:n])


def rescale(batch: torch.Tensor, scale: float, multiple: int = 1, minimum: int = 1) -> torch.Tensor:
    """``batch`` ``(B, 3, H, W)`` resized by ``scale`` (bilinear, antialiased when shrinking; itself
    at 1), each side rounded to a multiple of ``multiple`` pixels and at least ``minimum``."""
    if scale == 1.0:
        return batch
    size = tuple(max(minimum, round(n * scale / multiple) * multiple) for n in batch.shape[-2:])
    return torch.nn.functional.interpolate(batch.float(), size=size, mode="bilinear", antialias=scale < 1.0,
                                           align_corners=False).to(batch.dtype)  # no bf16 antialias kernel


def extract_rescaled(extractor: FeatureExtractor, batch: torch.Tensor, n: int, scale: float, grid: tuple[int, int], *,
                     shapes: ShapeLog | None = None) -> torch.Tensor:
    """Keys of the first ``n`` images of ``batch`` (a :func:`device_batch`) resized by ``scale``
    (each side a multiple of the patch), brought back bilinearly to the images' own ``grid``
    ``(h, w)``: ``(n, h*w, C)``, patch ``i`` covering the same part of the image as in
    :func:`extract`'s keys."""
    p = extractor.patch
    x = rescale(batch, scale, multiple=p, minimum=p)
    if shapes is not None:
        shapes.see("extractor", x.shape)
    keys = extractor(x)[:n]
    h2, w2 = x.shape[-2] // p, x.shape[-1] // p
    if (h2, w2) != tuple(grid):
        f = keys.transpose(1, 2).reshape(keys.shape[0], keys.shape[2], h2, w2)
        f = torch.nn.functional.interpolate(f.float(), size=tuple(grid), mode="bilinear", align_corners=False)
        keys = f.to(keys.dtype).flatten(2).transpose(1, 2)
    return _synced(keys)


def extract_keeping_map(extractor: CNNMap, batch: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`extract` of the first ``n`` images of ``batch`` (a :func:`device_batch`), and the
    raw chosen map of the whole (padded) batch for :meth:`CNNMap.finish`: ``(n, h*w, C)`` keys,
    ``(B, C, h, w)`` map, both on the batch's device."""
    keys, chosen = extractor.keys_and_map(batch)
    return _synced(keys[:n]), chosen


def device_batch(module: torch.nn.Module, device: torch.device, tensors: list[torch.Tensor], pad_to: int | None = None,
                 shapes: ShapeLog | None = None) -> torch.Tensor:
    """``tensors`` stacked, padded to ``pad_to`` rows, on ``device`` in the module's dtype: the
    extractor's input, built once per batch of views and read by every pass over it."""
    batch = torch.stack(tensors)
    if pad_to is not None:
        batch = pad_rows(batch, pad_to)
    if shapes is not None:
        shapes.see("extractor", batch.shape)
    return to_device(batch, device, model_dtype(module))


def _synced(keys: torch.Tensor) -> torch.Tensor:
    if keys.is_cuda:  # this stream only: the other stage's kernels run on
        torch.cuda.current_stream(keys.device).synchronize()
    return keys


def to_device(x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``x`` on ``device`` in ``dtype``: through pinned memory, asynchronously, from the CPU to
    CUDA; a tensor already on a device (``decoder: device``) is only cast."""
    if x.device.type != "cpu":
        return x.to(device, dtype)
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True).to(dtype)
    return x.to(device, dtype)


VIEW_WEIGHT = 5
"""A view's pixel, in units of a decoded RGB pixel (3 bytes): its float32 ``(3, H, W)`` tensor
holds 12 bytes per pixel, its 8-bit copy for refinement 3 more."""


def held_pixels(width: int, height: int, cfg: Any, patch: int) -> int:
    """What an image of ``width x height`` holds while in flight, in decoded RGB pixels: itself,
    plus, when tiling, each tile's view (resized to ``max_side`` on its own) :data:`VIEW_WEIGHT`
    times. A 12 MP photo in 8 x 8 tiles holds far more in its 64 views than in its pixels; an
    untiled image's one view is small beside it and is not counted."""
    rows, cols = cfg.tiles_for(width, height)
    if (rows, cols) == (1, 1):
        return width * height
    tiles = tile_layout(width, height, rows, cols, cfg.tile_overlap)
    views = sum(w * h for w, h in (resized_size(t.x1 - t.x0, t.y1 - t.y0, cfg.max_side, patch, cfg.upscale) for t in tiles))
    return width * height + VIEW_WEIGHT * views

"""Pixel-level refinement: from a region's patch mask to the object's pixels and a tight box.

Discovery finds objects on the patch grid, so its boxes sit on a grid of one patch (16 px of a
640 px image): an object edge anywhere inside a patch gives the same box. Refinement moves each
edge to the pixels, per region, inside a window around it:

1. **Where the edge may be.** The patch mask eroded by one patch (the *core*) is almost surely
   object (prior ``CORE_PRIOR``); the window outside the mask dilated by one patch is background;
   the *band* between them (the mask's boundary patches and their outside neighbours) is
   decided per pixel.
2. **Spatial prior.** The patch mask box-filtered over one patch: 1 inside, 0.5 on a patch
   edge of the mask, falling to 0 half a patch outside; clamped to ``[1 - p, p]`` with
   ``p = PRIOR_CLAMP`` so that colour can overrule it in the band.
3. **Colour evidence.** Histograms (``BINS`` levels per RGB channel) of the core's pixels and of
   the background ring's pixels; each band pixel gets the log-likelihood ratio of its colour
   (additively smoothed, clipped to ``±LLR_CLIP``). A local GrabCut-style colour model with no
   iterations: the object's own colours against its own surroundings.
4. **Decision.** prior logit + colour ratio (the ratio Gaussian-smoothed, ``sigma`` one eighth
   of a patch), above 0 is object; the connected components that touch the core are kept and their
   holes filled.

A small mask (at most ``THIN_MAX_PATCHES`` across) too thin to have a core (no patch with all 8
neighbours in the mask: an object of one or two patches across) has no pixels that are surely object: its whole patch mask gives the
object histogram (object and background mixed) and only its colours clearly over-represented
there against the ring make object modes; nothing is forced, and the components holding at
least half a patch of the patch mask are kept. It is refined only if such colours cover
``THIN_DISTINCT`` of it.

A colour far from every mode of both sides counts for neither (an outlier floor in the
ratio), so the object's own colours missing from its core do not cut it. A colour the core
shares with the ring (dark trousers on a shaded street, a black coat against a dark doorway)
is no object mode (it lies within ``COLOUR_SIGMA`` of a background mode), so its distance ratio
says "background" even where it fills half the core; for a mask with a core, a negative ratio
is therefore raised to the colour's histogram ratio (core against ring, near 0 for a shared
colour), and the spatial prior decides such pixels. Without that floor the core's own shared
colours cut it, the box retreats and the region falls back to its blocky patch mask: on
dev284's tune half that was 45% of the box-matched objects (see docs/discovery-quality.md,
"Masks: closer to the object's outline").

When colour cannot tell object from background (the two histograms overlap by more than
``max_overlap``, Bhattacharyya coefficient), when the window has no background ring (the object
fills the image), when a larger mask has no core, when the result loses the core, or when it
moves a side of a large region's box more than ``MAX_RETREAT`` patches inwards (colour then
disagrees with the features beyond the band; a small mask is all band), the region keeps its
patch mask: refinement adjusts edges, it does not overrule discovery about what is object. The
patch mask kept is made solid (:func:`autolabel.discovery.sides.solid`: one-patch gaps closed,
holes filled, within its box, so the box is the patch box): a lace of patches around
feature noise is the blob it outlines. A region touching ``ENCLOSED_BORDERS`` sides of the
image is not refined at all: it has no surroundings there, so the colour model's "background"
would be the objects in its holes and bays, and the refined mask would keep the wrong side (see
docs/discovery-quality.md, "Masks: on the object's side").

**Shifted readings** (``mask_readings``, :mod:`autolabel.discovery.shifted`): the patch mask
puts the prior's 0.5 line on a patch edge, wherever inside the patch the object's edge runs.
Given the region's masks on readings of the view shifted by half a patch, a refined region is
decided a second time with the mean of all their priors (0.5 lines on a half-patch grid), and
that mask, cut to the box of the first decision, is the one returned, with the first box as its
``extent``: selection and the classifier's crop use that box, and a written box, the bounds of
the written mask, can only shrink (by up to half a patch a side). The finer prior alone would
also move box sides outwards, and on dev284 such moves lost more matches at IoU 0.5 than they
gained (docs/discovery-quality.md, "Masks: shifted readings").

Each region is refined at a *working resolution*: the processed image (what the extractor saw)
for regions up to ``FINE_PATCHES`` patches across, and every ``f``-th processed pixel for larger
ones, so that one patch is about ``WORK_CELL`` working pixels (a 16 px patch: every second
pixel). A region costs about a millisecond or two (see README, "Tight boxes").

Frames: a :class:`WorkImage` knows where its pixel ``(0, 0)`` lies in the displayed image and
how many displayed pixels one working pixel spans, so masks of the whole image and of tiles
(:mod:`autolabel.discovery.tiles`) map to displayed pixels the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from autolabel.discovery.regions import EIGHT, Region
from autolabel.discovery.sides import image_borders, solid

if TYPE_CHECKING:
    import torch

    from autolabel.discovery.shifted import ShiftedMask

BINS = 8
"""Colour histogram levels per RGB channel (8**3 = 512 bins)."""
PRIOR_CLAMP = 0.85
CORE_PRIOR = 0.98
"""Prior of the core's pixels: only a colour that is clearly background's (ratio near
``-LLR_CLIP``) turns one of them into background (a bit of background inside a small mask's core)."""
"""The spatial prior is clamped to ``[1 - PRIOR_CLAMP, PRIOR_CLAMP]`` in the band."""
LLR_CLIP = 4.0
"""Colour log-likelihood ratios are clipped to ``±LLR_CLIP`` (one odd pixel cannot dominate)."""
MAX_OVERLAP = 0.9
"""Default ``max_overlap``: colour histograms more alike than this leave the patch mask as is."""
MODES = 6
"""Colour modes per side (object, background) in the distance model."""
COLOUR_SIGMA = 0.08
"""Colour noise (RGB in [0, 1]) of the distance model: a pixel this much closer to an object
mode than to every background mode gets a log-likelihood ratio of about 0.5 per unit..."""
MODE_MIN_SHARE = 0.02
"""Colour modes are bins holding at least this share of their side's pixels."""
MAX_RETREAT = 2.0
"""Refinement that moves a box side more than this many patches inside the patch box is undone
(one patch of band plus one: a patch mask's thin arm or fringe one patch wide may go)."""
OUTLIER_SIGMAS = 3.0
"""A colour this many ``COLOUR_SIGMA`` from the nearest mode of both sides has a ratio near 1."""
THIN_MAX_PATCHES = 4
"""Masks without a core are refined only up to this many patches across (small objects); a
larger mask without a core is a scatter of patches whose pixels colour cannot sort."""
THIN_DISTINCT = 0.1
"""A mask too thin to erode is refined only if at least this share of its pixels have colours
``e`` times likelier inside it than around it."""
WORK_CELL = 8
"""Target working pixels per patch side for regions larger than ``FINE_PATCHES``."""
FINE_PATCHES = 6
"""Regions at most this many patches across are refined at the processed resolution."""
ENCLOSED_BORDERS = 3
"""A region touching this many sides of the image is not refined: it has no surroundings on
those sides, so its colour model's background would be the things it encloses (the objects
in its holes and bays), and refinement would keep the wrong side."""

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class WorkImage:
    """An image at the working resolution, quantised for colour histograms.

    Attributes:
        bins: ``(H, W)`` int64 colour bin of each processed pixel, in ``[0, BINS**3)``;
            ``H = grid_h * cell``, ``W = grid_w * cell``.
        cell: processed pixels per patch side (the extractor's patch size).
        origin: ``(x, y)`` displayed-image pixels of pixel ``(0, 0)``'s top-left corner.
        scale: ``(sx, sy)`` displayed-image pixels per processed pixel.
    """

    bins: np.ndarray
    rgb: np.ndarray
    """``(H, W, 3)`` float32 RGB in ``[0, 1]``."""
    cell: int
    origin: tuple[float, float]
    scale: tuple[float, float]

    @property
    def grid(self) -> tuple[int, int]:
        """``(h, w)`` patches covered."""
        return self.bins.shape[0] // self.cell, self.bins.shape[1] // self.cell


@dataclass(frozen=True, eq=False)
class PixelMask:
    """One object's pixels: a bool window of a :class:`WorkImage`, placed in the displayed image.

    Attributes:
        mask: ``(mh, mw)`` bool, True on the object; a window of the working image.
        origin: ``(x, y)`` displayed-image pixels of ``mask[0, 0]``'s top-left corner.
        scale: ``(sx, sy)`` displayed-image pixels per mask pixel.
        refined: False when refinement fell back to the patch mask (see the module doc).
        extent: the object's box where it is not the mask's bounds: a mask drawn with shifted
            readings lies within the box refinement found without them (see the module doc).
    """

    mask: np.ndarray
    origin: tuple[float, float]
    scale: tuple[float, float]
    refined: bool = True
    extent: Box | None = None

    @property
    def box(self) -> Box:
        """The object's box in displayed-image pixels ``(x1, y1, x2, y2)``, exclusive (not
        clipped): ``extent`` where set, else the mask's bounds."""
        if self.extent is not None:
            return self.extent
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        (ox, oy), (sx, sy) = self.origin, self.scale
        return (ox + cols[0] * sx, oy + rows[0] * sy, ox + (cols[-1] + 1) * sx, oy + (rows[-1] + 1) * sy)

    def to_image(self, width: int, height: int) -> np.ndarray:
        """The mask in the displayed image: ``(height, width)`` bool, nearest sampling at pixel centres."""
        return self.sample((0.0, 0.0), (1.0, 1.0), (height, width))

    def sample(self, origin: tuple[float, float], scale: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
        """The mask on another pixel grid: ``shape = (rows, cols)`` pixels of ``scale`` displayed
        pixels each, starting at displayed ``origin``; nearest sampling at pixel centres."""
        (ox, oy), (sx, sy) = self.origin, self.scale
        mh, mw = self.mask.shape
        cols = np.floor((origin[0] + (np.arange(shape[1]) + 0.5) * scale[0] - ox) / sx).astype(np.int64)
        rows = np.floor((origin[1] + (np.arange(shape[0]) + 0.5) * scale[1] - oy) / sy).astype(np.int64)
        cin = (cols >= 0) & (cols < mw)
        rin = (rows >= 0) & (rows < mh)
        out = np.zeros(shape, dtype=bool)
        out[np.ix_(rin, cin)] = self.mask[np.ix_(rows[rin], cols[cin])]
        return out


def union_masks(masks: Sequence[PixelMask]) -> PixelMask:
    """One mask holding every pixel of ``masks`` (parts of one object from several tiles), on
    the finest of their grids; ``refined`` if any part was."""
    if len(masks) == 1:
        return masks[0]
    sx = min(m.scale[0] for m in masks)
    sy = min(m.scale[1] for m in masks)
    boxes = [m.box for m in masks]
    x1, y1 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x2, y2 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    shape = (max(1, int(np.ceil((y2 - y1) / sy - 1e-9))), max(1, int(np.ceil((x2 - x1) / sx - 1e-9))))
    out = np.zeros(shape, dtype=bool)
    for m in masks:
        out |= m.sample((x1, y1), (sx, sy), shape)
    extent = (x1, y1, x2, y2) if any(m.extent is not None for m in masks) else None
    return PixelMask(out, (x1, y1), (sx, sy), refined=any(m.refined for m in masks), extent=extent)


def working_factor(patch: int, target: int = WORK_CELL) -> int:
    """The largest divisor ``f`` of ``patch`` with ``patch / f >= target`` (1 for small patches)."""
    best = 1
    for f in range(1, patch // target + 1):
        if patch % f == 0:
            best = f
    return best


def work_image(rgb: np.ndarray | torch.Tensor, patch: int, origin: tuple[float, float] = (0.0, 0.0),
               scale: tuple[float, float] = (1.0, 1.0), *, mean: tuple[float, ...] | None = None,
               std: tuple[float, ...] | None = None) -> WorkImage:
    """Reduce and quantise a processed image for refinement.

    Args:
        rgb: the image at the extractor's resolution (``H``, ``W`` multiples of ``patch``):
            ``(H, W, 3)`` RGB numpy, uint8 or float in ``[0, 1]``; or the extractor's
            normalised ``(3, H, W)`` tensor, with ``mean`` and ``std`` to undo the normalisation.
        patch: extractor patch size (stride) in ``rgb`` pixels.
        origin: displayed-image pixels of ``rgb``'s top-left corner.
        scale: ``(sx, sy)`` displayed-image pixels per ``rgb`` pixel.
    """
    if not isinstance(rgb, np.ndarray):  # the extractor's normalised tensor
        return _work_image_from_tensor(rgb, patch, origin, scale, mean, std)
    t = np.ascontiguousarray(rgb).astype(np.float32)  # (H, W, 3); numpy only: refinement workers import no torch
    if rgb.dtype == np.uint8:
        t = t / np.float32(255.0)
    h, w = t.shape[0], t.shape[1]
    if h % patch or w % patch:
        raise ValueError(f"image {w}x{h} is not a whole number of {patch}-pixel patches")
    q = np.clip((t * np.float32(BINS)).astype(np.int64), 0, BINS - 1)
    bins = (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]
    rgb = np.clip(t, 0.0, 1.0)
    return WorkImage(bins, rgb, patch, (float(origin[0]), float(origin[1])), (float(scale[0]), float(scale[1])))


def _work_image_from_tensor(rgb: torch.Tensor, patch: int, origin: tuple[float, float], scale: tuple[float, float],
                            mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> WorkImage:
    """:func:`work_image` of the extractor's normalised ``(3, H, W)`` tensor."""
    import torch

    if mean is None or std is None:
        raise ValueError("a normalised tensor needs the mean and std it was normalised with")
    t = rgb.detach().float().cpu()
    h, w = t.shape[1], t.shape[2]
    if h % patch or w % patch:
        raise ValueError(f"image {w}x{h} is not a whole number of {patch}-pixel patches")
    t = t * torch.tensor(std, dtype=torch.float32).view(3, 1, 1) + torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    q = (t * BINS).to(torch.int64).clamp_(0, BINS - 1)
    bins = ((q[0] * BINS + q[1]) * BINS + q[2]).numpy()
    px = t.clamp_(0.0, 1.0).permute(1, 2, 0).contiguous().numpy()
    return WorkImage(bins, px, patch, (float(origin[0]), float(origin[1])), (float(scale[0]), float(scale[1])))


def _upsample(mask: np.ndarray, cell: int) -> np.ndarray:
    return np.repeat(np.repeat(mask, cell, axis=0), cell, axis=1)


def _modes(n: np.ndarray, sums: np.ndarray, counts: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``(M, 3)`` mean colours of the ``MODES`` most frequent eligible bins (their pixels in the
    window): ``n`` ``(nb,)`` the window's pixels per bin, ``sums`` ``(nb, 3)`` their RGB sums,
    ``counts`` ``(nb,)`` the counts that rank the bins."""
    idx = np.flatnonzero(eligible & (counts > 0))
    if idx.size == 0:
        return np.zeros((0, 3), dtype=np.float32)
    idx = idx[np.argsort(-counts[idx], kind="stable")[:MODES]]
    return (sums[idx] / n[idx, None]).astype(np.float32)


def _nearest(px: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """``(P,)`` squared distance from each of ``px`` ``(P, 3)`` to its nearest of ``modes``
    ``(M, 3)``, ``M >= 1`` (float32 in, float32 out; one pass per mode, no ``(P, M, 3)`` array)."""
    best = None
    for m in modes:
        d = (px[:, 0] - m[0]) ** 2
        d += (px[:, 1] - m[1]) ** 2
        d += (px[:, 2] - m[2]) ** 2
        best = d if best is None else np.minimum(best, d, out=best)
    return best


def _colour_llr(bins: np.ndarray, rgb: np.ndarray, band: np.ndarray, c_fg: np.ndarray, c_bg: np.ndarray,
                llr_bins: np.ndarray, distinct: float) -> np.ndarray | None:
    """Per pixel log-likelihood ratio object : background from the distance of its colour to the
    nearest object mode and the nearest background mode (isotropic Gaussians of std
    ``COLOUR_SIGMA``), clipped to ``±LLR_CLIP``. Background modes are the ring's frequent
    colours (bins with ``MODE_MIN_SHARE`` of it); object modes the object pixels' frequent
    colours that are over-represented there (bin ratio above ``distinct``) and not within
    ``COLOUR_SIGMA`` of a background mode. Distances, unlike bins, put a pixel that blends
    object and background (an edge pixel) on the side it is closer to. Computed on the ``band``
    pixels only (0 elsewhere). None without modes."""
    flat, nb = bins.ravel(), c_bg.size
    every = rgb.reshape(-1, 3)
    n = np.bincount(flat, minlength=nb).astype(np.float64)
    sums = np.stack([np.bincount(flat, weights=every[:, ch], minlength=nb) for ch in range(3)], axis=1)
    bg = _modes(n, sums, c_bg, c_bg >= MODE_MIN_SHARE * c_bg.sum())
    fg = _modes(n, sums, c_fg, (llr_bins > distinct) & (c_fg >= MODE_MIN_SHARE * c_fg.sum()))
    if len(fg) and len(bg):  # an object "mode" that is a background colour is histogram noise
        fg = fg[((fg[:, None, :] - bg[None]) ** 2).sum(-1).min(-1) > COLOUR_SIGMA ** 2]
    if len(fg) == 0 or len(bg) == 0:
        return None
    px = rgb[band]
    d_fg = _nearest(px, fg)
    d_bg = _nearest(px, bg)
    out = np.zeros(bins.shape, dtype=np.float32)
    two_var = 2.0 * COLOUR_SIGMA ** 2
    # A colour far from every mode of both sides is evidence for neither: the outlier floor makes
    # its ratio ~0 (the prior decides) instead of whichever side happens to be less far.
    floor = np.exp(-OUTLIER_SIGMAS ** 2 / 2.0)
    lr = (np.exp(-d_fg / two_var) + floor) / (np.exp(-d_bg / two_var) + floor)
    out[band] = np.clip(np.log(lr), -LLR_CLIP, LLR_CLIP)
    return out


def refine_region(work: WorkImage, region: Region, max_overlap: float = MAX_OVERLAP,
                  shifted: Sequence[ShiftedMask] = ()) -> PixelMask:
    """The pixel mask of ``region`` (see the module doc for the method and its fallbacks).

    Args:
        work: the image the region was found on (same grid).
        region: a discovery region; its ``mask`` is ``(h, w)`` bool on ``work.grid``.
        max_overlap: Bhattacharyya coefficient of the object and background colour histograms
            above which colour is not trusted and the patch mask is kept.
        shifted: the region's masks on shifted readings of the view
            (:func:`autolabel.discovery.shifted.shifted_masks`); with them a refined mask is
            drawn again with a prior on a half-patch grid, within the box found without them
            (the result's ``extent``).

    Returns:
        A :class:`PixelMask` over a window around the region, never empty.
    """
    gh, gw = work.grid
    pmask = np.asarray(region.mask, dtype=bool)
    if pmask.shape != (gh, gw):
        raise ValueError(f"region mask {pmask.shape} does not match the image grid {(gh, gw)}")
    # Small regions at the processed resolution; larger ones every f-th pixel (f: one patch
    # is about WORK_CELL working pixels), which bounds the cost per region.
    f = working_factor(work.cell) if max(region.box[2] - region.box[0], region.box[3] - region.box[1]) > FINE_PATCHES else 1
    c = work.cell // f
    scale = (work.scale[0] * f, work.scale[1] * f)
    # window: the region's box plus two patches (one for the band, one for the background ring)
    x1, y1, x2, y2 = region.box
    gx1, gy1, gx2, gy2 = max(0, x1 - 2), max(0, y1 - 2), min(gw, x2 + 2), min(gh, y2 + 2)
    pm = pmask[gy1:gy2, gx1:gx2]
    core_g = ndimage.binary_erosion(pm, EIGHT, border_value=0)
    grown_g = ndimage.binary_dilation(pm, EIGHT)
    solid_g = solid(pm)
    origin = (work.origin[0] + gx1 * work.cell * work.scale[0], work.origin[1] + gy1 * work.cell * work.scale[1])
    fallback = PixelMask(_upsample(solid_g, c), origin, scale, refined=False)
    if image_borders(pmask) >= ENCLOSED_BORDERS:
        return fallback  # no surroundings but what it encloses: colour would take them for background

    k = work.cell
    bins = work.bins[gy1 * k: gy2 * k: f, gx1 * k: gx2 * k: f]
    rgb = work.rgb[gy1 * k: gy2 * k: f, gx1 * k: gx2 * k: f]
    up = _upsample(pm, c)
    thick = bool(core_g.any())
    if not thick and max(x2 - x1, y2 - y1) > THIN_MAX_PATCHES:
        return fallback  # a large mask without a core (scattered patches): no pixels sure to be object
    core = _upsample(core_g, c) if thick else up
    back = ~_upsample(grown_g, c)
    n_core, n_back = int(core.sum()), int(back.sum())
    if n_back < c * c:  # no background ring: the object fills the window's surroundings
        return fallback
    nb = BINS ** 3
    alpha = 0.5
    c_fg = np.bincount(bins[core], minlength=nb)
    c_bg = np.bincount(bins[back], minlength=nb)
    llr_bins = np.clip(np.log(((c_fg + alpha) / (n_core + alpha * nb)) / ((c_bg + alpha) / (n_back + alpha * nb))), -LLR_CLIP, LLR_CLIP)
    if thick:
        if float(np.sqrt(c_fg / n_core * c_bg / n_back).sum()) > max_overlap:
            return fallback
    elif float(c_fg[llr_bins > 1.0].sum()) < THIN_DISTINCT * n_core:
        return fallback
    band = ~back
    llr = _colour_llr(bins, rgb, band, c_fg, c_bg, llr_bins, distinct=0.0 if thick else 1.0)
    if llr is None:
        return fallback
    if thick:  # a colour the core shares with the ring is no evidence of background (see the module doc)
        neg = llr < 0.0
        llr[neg] = np.maximum(llr[neg], llr_bins[bins[neg]])

    # Smooth the colour evidence only (pixel noise); the prior is smooth already, and smoothing
    # it with the colour would push every edge outwards wherever the prior leans to the object.
    colour = ndimage.gaussian_filter(llr, sigma=max(0.5, c / 8.0), mode="nearest")
    grid_prior = ndimage.uniform_filter(up.astype(np.float32), size=c, mode="nearest")
    out = _decide(colour, grid_prior, core, back, up, thick, c)
    if out is None:
        return fallback
    if not shifted:
        return PixelMask(out, origin, scale, refined=True)
    # The same decision with the prior on a half-patch grid, kept within the box just found:
    # the mask follows the finer prior, the box stays refinement's (see the module doc).
    fine_prior = grid_prior + sum(_shifted_prior(s, (gy1, gx1), out.shape, c) for s in shifted)
    fine = _decide(colour, fine_prior / (1 + len(shifted)), core, back, up, thick, c)
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    placed = PixelMask(out, origin, scale, refined=True)
    if fine is None:
        return placed
    inside = np.zeros_like(fine)
    inside[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1] = fine[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    if not inside.any():
        return placed
    return PixelMask(inside, origin, scale, refined=True, extent=placed.box)


def _decide(colour: np.ndarray, prior: np.ndarray, core: np.ndarray, back: np.ndarray, up: np.ndarray,
            thick: bool, c: int) -> np.ndarray | None:
    """Refinement's decision in a window: object where the smoothed colour ratio ``colour`` plus
    the logit of the spatial ``prior`` (clamped; ``CORE_PRIOR`` on the ``core``) is positive,
    outside ``back``; the components that touch the core (a mask too thin for a core: those
    holding half a patch of the upsampled patch mask ``up``), holes filled. All ``(mh, mw)``;
    ``c`` working pixels per patch. None when nothing is kept or the mask cuts into the object
    (:func:`_cuts_into_the_object`)."""
    prior = np.clip(prior, 1.0 - PRIOR_CLAMP, PRIOR_CLAMP)
    if thick:
        prior[core] = CORE_PRIOR
    fg = (colour + np.log(prior / (1.0 - prior)) > 0.0) & ~back
    labels, n = ndimage.label(fg, EIGHT)
    if n == 0:
        return None
    if thick:
        keep = np.unique(labels[core & fg])
        keep = keep[keep > 0]
    else:  # the components with at least half a patch of pixels in the patch mask
        inside = np.bincount(labels[up], minlength=n + 1)
        inside[0] = 0
        keep = np.flatnonzero(inside >= c * c / 2)
    if keep.size == 0:
        return None
    out = ndimage.binary_fill_holes(np.isin(labels, keep))
    if thick and _cuts_into_the_object(out, up, c):
        return None
    return out


def _shifted_prior(shifted: ShiftedMask, corner: tuple[int, int], shape: tuple[int, int], c: int) -> np.ndarray:
    """The spatial prior of one shifted reading's mask in a refinement window: ``(mh, mw)``
    float32, the mask on the window's pixels (``c`` per patch, the window's top-left patch at
    grid ``corner = (row, col)``) box-filtered over one patch."""
    gh, gw = shifted.mask.shape
    rows = np.minimum(corner[0] + (np.arange(shape[0]) + shifted.dy * (c // 2)) // c, gh - 1)
    cols = np.minimum(corner[1] + (np.arange(shape[1]) + shifted.dx * (c // 2)) // c, gw - 1)
    on = shifted.mask[np.ix_(rows, cols)]
    return ndimage.uniform_filter(on.astype(np.float32), size=c, mode="nearest")


def _cuts_into_the_object(out: np.ndarray, up: np.ndarray, cell: int) -> bool:
    """Whether the refined mask ``out`` left the band: a side of its box more than
    ``MAX_RETREAT`` patches inside the patch mask's. Refinement moves edges by up to about one
    patch; dropping whole patches beyond that means colour disagrees with the features, which
    know better what is object."""
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    prow, pcol = np.flatnonzero(up.any(axis=1)), np.flatnonzero(up.any(axis=0))
    retreat = max(cols[0] - pcol[0], rows[0] - prow[0], pcol[-1] - cols[-1], prow[-1] - rows[-1])
    return bool(retreat > MAX_RETREAT * cell)


def refine_regions(work: WorkImage, regions: list[Region], max_overlap: float = MAX_OVERLAP) -> list[PixelMask]:
    """:func:`refine_region` for each region, in order (without shifted readings)."""
    return [refine_region(work, r, max_overlap) for r in regions]


def grid_mask(region: Region, patch: int, origin: tuple[float, float] = (0.0, 0.0),
              scale: tuple[float, float] = (1.0, 1.0)) -> PixelMask:
    """The region's patch mask as a :class:`PixelMask` (what ``refine`` off gives): one mask
    pixel per processed pixel, ``patch`` per patch, placed like :func:`work_image` places it."""
    x1, y1, x2, y2 = region.box
    pm = np.asarray(region.mask, dtype=bool)[y1:y2, x1:x2]
    o = (origin[0] + x1 * patch * scale[0], origin[1] + y1 * patch * scale[1])
    return PixelMask(_upsample(pm, patch), o, (float(scale[0]), float(scale[1])), refined=False)

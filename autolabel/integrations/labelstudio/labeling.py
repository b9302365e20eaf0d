"""A Label Studio labeling config, read for what the backend predicts.

Only the first ``<Image>`` tag counts: its ``name`` (``to_name`` of every region) and its
``value``, ``$key`` naming the task ``data`` key that holds the image URL. The controls that
point at it (``toName``, a comma-separated list of object names) and that the backend can fill:

- ``RectangleLabels`` -> ``rectanglelabels`` regions (boxes in percent of the image);
- ``PolygonLabels`` -> ``polygonlabels`` regions (one per part of an object's mask);
- ``BrushLabels`` -> ``brushlabels`` regions (the mask in Label Studio's brush RLE).

Each ``<Label value="...">`` of those controls is a class. ``predicted_values="a,b"`` on a
label (the attribute Label Studio's own model backends use to map model classes onto a label)
gives the words or synsets that define it instead of the label's own value. Other tags are
ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from autolabel.errors import ConfigError
from autolabel.yamlio import excerpt

CONTROL_TYPES = {"RectangleLabels": "rectanglelabels", "PolygonLabels": "polygonlabels", "BrushLabels": "brushlabels"}
"""Supported control tag -> the region ``type`` (and ``value`` key) it takes."""

MAX_CONFIG_CHARS = 1_000_000
"""A labeling config longer than this is refused (Label Studio's own are a few kB)."""


class LabelConfigError(ConfigError):
    """A labeling config the backend cannot predict for (not XML, no image, no supported control)."""


@dataclass(frozen=True)
class Label:
    """One ``<Label>`` of a control.

    Attributes:
        value: the label as Label Studio stores it in a region (``value.<type>: [value]``).
        terms: words or synset ids that define the class (``predicted_values``, else ``value``).
    """

    value: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Control:
    """A labels control the backend fills.

    Attributes:
        name: ``from_name`` of its regions.
        type: ``rectanglelabels`` | ``polygonlabels`` | ``brushlabels``.
        labels: its labels in config order.
    """

    name: str
    type: str
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class LabelingConfig:
    """What a project's labeling config asks of the backend.

    Attributes:
        image_name: ``name`` of the first ``<Image>`` (``to_name`` of every region).
        data_key: the task ``data`` key of its URL (``value="$image"`` -> ``image``).
        controls: the supported controls pointing at that image, in config order.
        ignored: other control tags pointing at it (e.g. ``Choices``), by tag name.
    """

    image_name: str
    data_key: str
    controls: tuple[Control, ...]
    ignored: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[Label, ...]:
        """Every label of every control, first occurrence of each value kept, in config order.
        A value listed by two controls must have the same terms in both (else the first wins)."""
        seen: dict[str, Label] = {}
        for c in self.controls:
            for lab in c.labels:
                seen.setdefault(lab.value, lab)
        return tuple(seen.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "image": self.image_name,
            "data_key": self.data_key,
            "controls": [{"name": c.name, "type": c.type, "labels": [lab.value for lab in c.labels]} for c in self.controls],
        }


def _terms(el: ET.Element, value: str) -> tuple[str, ...]:
    raw = el.get("predicted_values")
    if raw is None:
        return (value,)
    terms = tuple(t.strip() for t in raw.split(",") if t.strip())
    return terms or (value,)


def parse_labeling_config(xml: str) -> LabelingConfig:
    """Read a labeling config (the XML Label Studio sends as ``label_config`` / ``schema``).

    Raises:
        LabelConfigError: not a string, too long, not XML, no ``<Image>`` with a ``$key`` value,
            or no supported control pointing at the first image.
    """
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError(f"the labeling config must be non-empty XML text, got {excerpt(xml)}")
    if len(xml) > MAX_CONFIG_CHARS:
        raise LabelConfigError(f"the labeling config is {len(xml)} characters, more than {MAX_CONFIG_CHARS}")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise LabelConfigError(f"the labeling config is not XML ({e})") from None
    image = next((el for el in root.iter("Image")), None)
    if image is None:
        raise LabelConfigError("the labeling config has no <Image> tag: this backend labels images")
    name, value = image.get("name"), image.get("value") or ""
    if not name or not value.startswith("$") or len(value) < 2:
        raise LabelConfigError(f"the first <Image> needs a name and value=\"$key\", got name={name!r} value={value!r}")
    controls: list[Control] = []
    ignored: list[str] = []
    for el in root.iter():
        targets = [t.strip() for t in (el.get("toName") or "").split(",")]
        if name not in targets:
            continue
        kind = CONTROL_TYPES.get(el.tag)
        if kind is None:
            ignored.append(el.tag)
            continue
        cname = el.get("name")
        if not cname:
            raise LabelConfigError(f"a <{el.tag}> pointing at {name!r} has no name")
        labels: list[Label] = []
        for lab in el.iter("Label"):
            v = lab.get("value")
            if v is not None and v.strip() and all(x.value != v for x in labels):
                labels.append(Label(v, _terms(lab, v)))
        controls.append(Control(cname, kind, tuple(labels)))
    if not controls:
        raise LabelConfigError(
            f"no RectangleLabels, PolygonLabels or BrushLabels points at <Image name={name!r}> "
            f"(found: {', '.join(ignored) or 'no control'})"
        )
    return LabelingConfig(name, value[1:], tuple(controls), tuple(ignored))

"""Reading a project's labeling config: the first image, its supported controls, their labels."""

from __future__ import annotations

import pytest

from autolabel.integrations.labelstudio.labeling import LabelConfigError, parse_labeling_config
from tests.integrations.labelstudio.support import BRUSH_CONFIG, POLY_CONFIG, RECT_CONFIG


@pytest.mark.parametrize(("xml", "kind", "name"), [
    (RECT_CONFIG, "rectanglelabels", "box"),
    (POLY_CONFIG, "polygonlabels", "poly"),
    (BRUSH_CONFIG, "brushlabels", "brush"),
])
def test_each_supported_control(xml, kind, name):
    cfg = parse_labeling_config(xml)
    assert (cfg.image_name, cfg.data_key) == ("img", "image")
    assert [(c.name, c.type) for c in cfg.controls] == [(name, kind)]
    assert [lab.value for lab in cfg.labels] == ["cat", "cup"]
    assert cfg.labels[0].terms == ("cat",)


def test_several_controls_nested_views_and_ignored_tags():
    xml = """<View><View><Header value="x"/>
      <Image name="photo" value="$url" zoom="true"/></View>
      <Image name="second" value="$other"/>
      <RectangleLabels name="r" toName="photo"><Label value="cat" background="red"/><Label value="cup"/></RectangleLabels>
      <PolygonLabels name="p" toName="second,photo"><Label value="cup"/><Label value="bottle"/></PolygonLabels>
      <BrushLabels name="elsewhere" toName="second"><Label value="dog"/></BrushLabels>
      <Choices name="c" toName="photo"><Choice value="ok"/></Choices>
    </View>"""
    cfg = parse_labeling_config(xml)
    assert (cfg.image_name, cfg.data_key) == ("photo", "url")
    assert [(c.name, c.type, [lab.value for lab in c.labels]) for c in cfg.controls] == [
        ("r", "rectanglelabels", ["cat", "cup"]), ("p", "polygonlabels", ["cup", "bottle"])]
    assert [lab.value for lab in cfg.labels] == ["cat", "cup", "bottle"]  # union, first occurrence kept
    assert cfg.ignored == ("Choices",)


def test_predicted_values_define_a_label():
    xml = RECT_CONFIG.replace('<Label value="cup"/>', '<Label value="Mug" predicted_values="coffee mug, n07930864"/>')
    labels = parse_labeling_config(xml).labels
    assert [(lab.value, lab.terms) for lab in labels] == [("cat", ("cat",)), ("Mug", ("coffee mug", "n07930864"))]


@pytest.mark.parametrize(("xml", "says"), [
    ("", "non-empty"),
    ("<View><Image", "not XML"),
    ('<View><Text name="t" value="$text"/></View>', "no <Image>"),
    ('<View><Image name="i" value="image"/></View>', "$key"),
    ('<View><Image name="i" value="$image"/><Choices name="c" toName="i"/></View>', "found: Choices"),
    ('<View><Image name="i" value="$image"/><RectangleLabels toName="i"/></View>', "has no name"),
    (None, "non-empty"),
])
def test_configs_that_cannot_be_predicted_for(xml, says):
    with pytest.raises(LabelConfigError, match=None) as e:
        parse_labeling_config(xml)
    assert says in str(e.value)


def test_a_huge_config_is_refused_before_parsing():
    with pytest.raises(LabelConfigError, match="characters"):
        parse_labeling_config("<View>" + " " * 2_000_000 + "</View>")

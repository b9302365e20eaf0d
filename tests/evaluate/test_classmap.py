"""Run labels -> ground-truth classes: by name, by a class map file, and the refusals."""

import pytest

from autolabel.errors import ConfigError
from autolabel.evaluate.classmap import build_class_mapping, load_class_map

# ---------------------------------------------------------------- classes


def test_class_mapping_by_name_and_by_map():
    m = build_class_mapping(["Dog", "traffic_light", "person", "car"], ["dog", "traffic light", "man", "woman", "zebra"],
                            {"person": ["man", "woman"]})
    assert m.to_gt == {"dog": "Dog", "traffic light": "traffic_light", "man": "person", "woman": "person"}
    assert m.gt_to_run == {"Dog": ("dog",), "traffic_light": ("traffic light",), "person": ("man", "woman")}
    assert m.unmatched_gt == ("car",)


def test_class_mapping_reports_unknown_names_and_refuses_double_claims():
    m = build_class_mapping(["dog"], ["beagle"], {"dgo": "beagle", "dog": ["beagle", "poodle"]})
    assert m.to_gt == {"beagle": "dog", "poodle": "dog"}
    assert any("'dgo'" in n for n in m.notes) and any("'poodle'" in n for n in m.notes)
    with pytest.raises(ConfigError, match="'beagle' would count as both 'dog' and 'hound'"):
        build_class_mapping(["dog", "hound"], ["beagle"], {"dog": "beagle", "hound": "beagle"})


def test_load_class_map(tmp_path):
    p = tmp_path / "map.yaml"
    p.write_text("person: [man, woman]\n'salt & pepper': shaker\n")
    assert load_class_map(p) == {"person": ["man", "woman"], "salt & pepper": ["shaker"]}
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"map\.yaml: expected a mapping"):
        load_class_map(p)
    p.write_text("person: {a: 1}\n")
    with pytest.raises(ConfigError, match="'person' must map to a run label or a list"):
        load_class_map(p)

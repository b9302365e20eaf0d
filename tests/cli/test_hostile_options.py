"""Options and small files that used to exhaust memory or crash (issue 14, items 11 and 12):
YAML alias bombs in every YAML the tool reads, and a ``--classes`` list too long to be a path.
Each through the real CLI: exit code 1, one short line naming the file or option.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from autolabel.cli import main
from tests.cli.test_annotate import TINY
from tests.conftest import write_image
from tests.evaluate.fixtures import RUN, make_run


def _bomb(last_key: str, tail: str = "") -> str:
    """A ~300-byte YAML document whose ``last_key`` expands to 9**8 (43 million) strings."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    prev = "a"
    for name in "bcdefgh":
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
        prev = name
    lines.append(f"{last_key}: [*h]")
    return "\n".join(lines) + "\n" + tail


def _one_short_line(output: str) -> str:
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, output[:2000]
    return lines[0]


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "run", RUN).run_dir


def test_class_map_alias_bomb_is_refused(tmp_path, run_dir) -> None:
    from tests.formats.writers import write_coco

    gt = write_coco(tmp_path / "gt.json", [("a.jpg", 100, 80, [((10, 10, 50, 50), "dog")])], ["dog"])
    bomb = tmp_path / "map.yaml"
    bomb.write_text(_bomb("dog"), encoding="utf-8")
    assert bomb.stat().st_size < 400
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(gt), "--class-map", str(bomb), "--no-plot"])
    assert r.exit_code == 1
    line = _one_short_line(r.output)
    assert f"class map {bomb}" in line and "alias" in line


def test_yolo_data_yaml_alias_bomb_is_refused(tmp_path, run_dir) -> None:
    gt = tmp_path / "yolo"
    (gt / "labels" / "train").mkdir(parents=True)
    (gt / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    (gt / "data.yaml").write_text(_bomb("names", "train: images/train\n"), encoding="utf-8")
    r = CliRunner().invoke(main, ["evaluate", str(run_dir), "--gt", str(gt), "--no-plot"])
    assert r.exit_code == 1
    line = _one_short_line(r.output)
    assert str(gt / "data.yaml") in line and "alias" in line


def test_vocabulary_alias_bomb_is_refused_and_duplicates_still_are(tmp_path) -> None:
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    vocab = tmp_path / "vocab.yaml"
    vocab.write_text(_bomb("classes"), encoding="utf-8")
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(tmp_path / "run"), *TINY, "--classes", str(vocab)])
    assert r.exit_code == 1
    line = _one_short_line(r.output)
    assert f"vocabulary {vocab}" in line and "alias" in line
    vocab.write_text("classes:\n  cat: [n02121808]\n  cat: [n02084071]\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(tmp_path / "run"), *TINY, "--classes", str(vocab)])
    assert r.exit_code == 1
    assert "'cat' is given twice" in _one_short_line(r.output)


def test_a_class_list_longer_than_a_file_name_is_a_class_list(tmp_path) -> None:
    """300+ bytes of class names: never looked up as a path (ENAMETOOLONG), read as classes."""
    from autolabel.vocabulary import parse_vocabulary

    names = [f"class{i:03d}" for i in range(40)]
    spec = ",".join(names)
    assert len(spec.encode()) > 255
    assert parse_vocabulary(spec).names == tuple(names)
    long_one = "x" * 300 + "," + "y" * 5000  # one name over 255 bytes, the whole over PATH_MAX
    assert parse_vocabulary(long_one).names == ("x" * 300, "y" * 5000)
    # Through the CLI: the error is about the classes (a duplicate), not the file system.
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(tmp_path / "run"), *TINY,
                                  "--classes", spec + ",class000"])
    assert r.exit_code == 1
    line = _one_short_line(r.output)
    assert "'class000' is listed twice" in line and "too long" not in line
    # A .yaml name too long to exist is a clear error, not a traceback.
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(tmp_path / "run"), *TINY,
                                  "--classes", "v" * 300 + ".yaml"])
    assert r.exit_code == 1 and "cannot exist" in _one_short_line(r.output)


@pytest.mark.parametrize("value,shown", [("inf", "inf"), ("nan", "nan"), ("1e400", "inf")])
def test_inflight_megapixels_must_be_finite_and_nothing_is_left_behind(tmp_path, value, shown) -> None:
    """``--inflight-megapixels inf`` was an OverflowError traceback after the run folder was made."""
    images = tmp_path / "imgs"
    write_image(images / "a.png")
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["annotate", str(images), "-o", str(run), *TINY, "--inflight-megapixels", value])
    assert r.exit_code == 1, r.output
    line = _one_short_line(r.output)
    assert f"option inflight_megapixels: expected a finite number of megapixels > 0, got {shown}" in line
    assert not run.exists()


def test_inflight_megapixels_inf_in_a_config_file_is_refused(tmp_path) -> None:
    from autolabel.config import load_config
    from autolabel.errors import ConfigError

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("inflight_megapixels: .inf\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="inflight_megapixels: expected a finite number of megapixels > 0, got inf"):
        load_config(str(cfg))

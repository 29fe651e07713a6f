"""The zoo's timm-style names."""

from __future__ import annotations

from dastat import models


def test_create_model_and_list_models():
    assert "resnet8" in models.list_models() and len(set(models.list_models())) == len(models.list_models())
    net = models.create_model("resnet8", num_classes=7, in_channels=1)
    assert net.fc.out_features == 7 and net.conv1.in_channels == 1

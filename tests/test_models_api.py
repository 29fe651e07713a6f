"""The zoo's timm-style names, and the old names kept for one release with a DeprecationWarning."""

from __future__ import annotations

import pytest

from dastat import models


def test_create_model_and_list_models_and_deprecated_aliases():
    assert "resnet8" in models.list_models() and len(set(models.list_models())) == len(models.list_models())
    net = models.create_model("resnet8", num_classes=7, in_channels=1)
    assert net.fc.out_features == 7 and net.conv1.in_channels == 1
    with pytest.warns(DeprecationWarning, match="list_models"):
        assert models.list() == models.list_models()
    with pytest.warns(DeprecationWarning, match="create_model"):
        old = models.create("resnet8", num_classes=7, in_channels=1)
    assert type(old) is type(net) and old.fc.out_features == 7

"""Shared fixtures: the test vectors in tests/data, the local Fashion-MNIST files, one thread per worker."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Tests run in parallel workers on a 2-core machine: one intra-op thread each.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``tests/data``: RepDistiller checkpoints with expected logits, and the paper's data (see its README)."""
    return REFERENCE


@pytest.fixture(scope="session")
def fmnist():
    """The Fashion-MNIST dataset from the Debian package (installed by `make test`)."""
    from dastat.data import load_data

    return load_data("fashion-mnist")


@pytest.fixture(scope="session")
def bundled_teacher():
    from dastat.teacher import load_teacher

    return load_teacher(None)


@pytest.fixture
def restore_registry():
    """Put the DA registry back as it was after a test that registers its own DAs."""
    from dastat.augment import registry

    registry.available()
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.fixture(scope="session")
def teacher_file(tmp_path_factory):
    """A small seeded Fashion-MNIST teacher, saved the RepDistiller way (its accuracy does not matter)."""
    from dastat import models

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "resnet8_fmnist.pth"
    net = models.create_model("resnet8", num_classes=10, in_channels=1)
    torch.save({"model": net.state_dict(), "arch": "resnet8", "mean": [0.286], "std": [0.353]}, path)
    return path


"""load_teacher and inspect_checkpoint on every format, with the reference checkpoints as ground truth.

Reference logits are compared with a tolerance of 1e-4 × max(1, max|expected|): the
reference networks carry random weights, and the deep ones reach logits of 3e10
(resnet110), where float32 round-off alone is far above an absolute 1e-4. Small models
for the other formats are saved by each test in ``tmp_path``; their expected logits
come from the network that was saved, run before saving.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources

import pytest
import torch
from torch import nn

from dastat import models
from dastat.data import DATASETS
from dastat.data.datasets import IMAGENET
from dastat.errors import UserError
from dastat.teacher import Teacher, inspect_checkpoint, load_teacher

# One checkpoint per architecture family ships in tests/data (see its README).
SHIPPED = ["resnet8", "resnet56", "wrn_16_1", "MobileNetV2", "ShuffleV1", "ShuffleV2"]
CIFAR10 = (DATASETS["cifar10"].mean, DATASETS["cifar10"].std)


def _close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    return (actual - expected).abs().max().item() <= 1e-4 * max(1.0, expected.abs().max().item())


@pytest.fixture(scope="module")
def x_ref(reference_dir):
    return torch.load(reference_dir / "repdistiller" / "input.pt", weights_only=True)


@pytest.fixture
def small():
    """A resnet8 for 10 classes with non-trivial BatchNorm statistics, and its logits on a fixed batch."""
    torch.manual_seed(0)
    net = models.create_model("resnet8", num_classes=10).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
    return net, x, expected


def _logits(teacher: Teacher, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return teacher.model.eval()(x)


# --- the reference checkpoints ---------------------------------------------------


@pytest.mark.parametrize("arch", SHIPPED)
def test_reference_checkpoint_without_arch(arch, reference_dir, x_ref, tmp_path):
    folder = reference_dir / "repdistiller" / f"{arch}_vanilla"
    # Copied out of its <arch>_vanilla folder, so the architecture must come from the weights.
    path = tmp_path / "ckpt_epoch_240.pth"
    shutil.copy(folder / "ckpt_epoch_240.pth", path)
    teacher = load_teacher(path, data="cifar100")
    assert (teacher.arch, teacher.num_classes, teacher.in_channels) == (arch, 100, 3)
    assert _close(_logits(teacher, x_ref), torch.load(folder / "expected_logits.pt", weights_only=True))


def test_old_resnet56_file(reference_dir, x_ref):
    folder = reference_dir / "repdistiller" / "resnet56_vanilla"
    teacher = load_teacher(folder / "ckpt_epoch_240.pth", data="cifar100")
    assert teacher.arch == "resnet56"
    assert teacher.meta["extras"]["epoch"] == 240
    assert teacher.meta["extras"]["accuracy"] == pytest.approx(72.34, abs=1e-3)
    assert teacher.meta["ignored"] == ["optimizer"]
    assert _close(_logits(teacher, x_ref), torch.load(folder / "expected_logits.pt", weights_only=True))


def test_inspect_reference(reference_dir):
    manifest = json.loads((reference_dir / "repdistiller" / "manifest.json").read_text())
    info = inspect_checkpoint(reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth")
    assert info["arch"] == "resnet56" and info["num_classes"] == 100 and info["in_channels"] == 3
    assert info["params"] == manifest["resnet56"]["params"]
    assert info["format"] == "RepDistiller/CRD checkpoint"
    assert info["extras"]["epoch"] == 240 and info["ignored"] == ["optimizer"]


# --- formats, on small models saved here ------------------------------------------


def test_plain_state_dict(small, tmp_path):
    net, x, expected = small
    torch.save(net.state_dict(), tmp_path / "w.pt")
    teacher = load_teacher(tmp_path / "w.pt", data="cifar10")
    assert teacher.arch == "resnet8" and teacher.meta["format"] == "state dict"
    assert _close(_logits(teacher, x), expected)


def test_wrapped_half_precision_state_dict_without_step_counters(small, tmp_path):
    net, x, expected = small
    state = {f"module.{k}": v.half() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"model": state, "epoch": 3, "best_acc": torch.tensor(91.5), "optimizer": {"state": {}}},
               tmp_path / "ckpt.pth")
    teacher = load_teacher(tmp_path / "ckpt.pth", data="cifar10")
    assert teacher.arch == "resnet8"
    assert teacher.meta["extras"] == {"epoch": 3, "best_acc": 91.5} and teacher.meta["ignored"] == ["optimizer"]
    half = models.create_model("resnet8", num_classes=10)
    half.load_state_dict({k[len("module."):]: v.float() for k, v in state.items()}, strict=False)
    with torch.no_grad():
        assert _close(_logits(teacher, x), half.eval()(x))


def test_legacy_serialisation(small, tmp_path):
    net, x, expected = small
    torch.save({"state_dict": net.state_dict()}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    assert _close(_logits(load_teacher(tmp_path / "old.pth", data="cifar10"), x), expected)


def test_safetensors_with_stored_normalisation(small, tmp_path):
    from safetensors.torch import save_file

    net, x, expected = small
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"),
              metadata={"mean": "[0.5, 0.5, 0.5]", "std": "[0.25, 0.25, 0.25]"})
    teacher = load_teacher(tmp_path / "w.safetensors", data="cifar10")
    assert teacher.meta["format"] == "safetensors" and teacher.meta["normalisation"] == "checkpoint"
    assert _close(_logits(teacher, x), expected)
    # The teacher normalises [0, 1] images with the stored constants.
    with torch.no_grad():
        assert _close(teacher(x), net((x - 0.5) / 0.25))


def test_torchscript(small, tmp_path):
    net, x, expected = small
    with pytest.warns(FutureWarning):  # torch.jit.script is deprecated, but users still hold such files
        torch.jit.save(torch.jit.script(net), str(tmp_path / "scripted.pt"))
    teacher = load_teacher(tmp_path / "scripted.pt", data="cifar10")
    assert teacher.meta["format"] == "torchscript"
    assert (teacher.arch, teacher.num_classes, teacher.in_channels) == ("resnet8", 10, 3)
    assert _close(_logits(teacher, x), expected)


def test_torchvision_local_weights(tmp_path):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
    torch.save(net.state_dict(), tmp_path / "resnet18.pth")
    teacher = load_teacher(f"torchvision:resnet18:{tmp_path / 'resnet18.pth'}", data="cifar10")
    assert (teacher.arch, teacher.num_classes, teacher.meta["format"]) == ("resnet18", 10, "torchvision")
    assert _close(_logits(teacher, x), expected)
    with pytest.raises(UserError, match="do not fit torchvision's resnet34"):
        load_teacher(f"torchvision:resnet34:{tmp_path / 'resnet18.pth'}", data="cifar10")
    with pytest.raises(UserError, match="torchvision has no model 'resnet19'"):
        load_teacher("torchvision:resnet19")


def test_timm_local_weights(tmp_path):
    timm = pytest.importorskip("timm", reason="timm is an optional extra (pip install 'dastat[timm]')")
    torch.manual_seed(0)
    net = timm.create_model("resnet18", pretrained=False, num_classes=10, in_chans=1).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        expected = net(x)
    torch.save(net.state_dict(), tmp_path / "timm18.pth")
    teacher = load_teacher(f"timm:resnet18:{tmp_path / 'timm18.pth'}", data="fashion-mnist")
    assert (teacher.num_classes, teacher.in_channels, teacher.meta["format"]) == (10, 1, "timm")
    assert _close(_logits(teacher, x), expected)


def test_pickled_module_needs_trust(small, tmp_path):
    net, x, expected = small
    torch.save(net, tmp_path / "whole.pt")
    with pytest.raises(UserError, match="--trust-checkpoint"):
        load_teacher(tmp_path / "whole.pt", data="cifar10")
    teacher = load_teacher(tmp_path / "whole.pt", data="cifar10", trust=True)
    assert teacher.arch == "resnet8" and teacher.meta["format"] == "pickled module"
    assert _close(_logits(teacher, x), expected)


# --- architecture hints and mismatches -----------------------------------------------


def test_explicit_arch_mismatch_summarises_keys(small, tmp_path):
    net, _, _ = small
    torch.save({"model": net.state_dict()}, tmp_path / "ckpt.pth")
    with pytest.raises(UserError, match=r"do not fit resnet14: \d+ keys missing from the file \(layer1\.1\."):
        load_teacher(tmp_path / "ckpt.pth", arch="resnet14", data="cifar10")
    assert load_teacher(tmp_path / "ckpt.pth", arch="resnet8", data="cifar10").arch == "resnet8"


def test_folder_convention_names_the_architecture(small, tmp_path):
    net, _, _ = small
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("layer3.")}
    (tmp_path / "resnet8_vanilla").mkdir()
    torch.save({"model": state}, tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth")
    with pytest.raises(UserError, match=r"do not fit resnet8 \(named by its folder.*keys missing.*layer3\.0"):
        load_teacher(tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth", data="cifar10")


def test_weights_that_fit_nothing(tmp_path):
    torch.save({"model": nn.Sequential(nn.Conv2d(3, 5, 3), nn.Flatten(), nn.Linear(5, 2)).state_dict()},
               tmp_path / "odd.pth")
    with pytest.raises(UserError, match="fit no architecture in the zoo"):
        load_teacher(tmp_path / "odd.pth", data="cifar10")


# --- normalisation and data checks ---------------------------------------------------


def test_normalisation_precedence(small, tmp_path):
    net, _, _ = small
    torch.save({"model": net.state_dict()}, tmp_path / "plain.pth")
    torch.save({"model": net.state_dict(), "mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}, tmp_path / "norm.pth")

    def norm(teacher):  # mean and std, one flat list
        return teacher.mean.flatten().tolist() + teacher.std.flatten().tolist()

    stored = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert norm(load_teacher(tmp_path / "plain.pth", data="cifar10")) == pytest.approx([*CIFAR10[0], *CIFAR10[1]])
    assert norm(load_teacher(tmp_path / "norm.pth", data="cifar10")) == pytest.approx(stored)
    assert norm(load_teacher(tmp_path / "norm.pth", data="cifar10", mean=[0.5] * 3, std=[0.2] * 3)) == \
        pytest.approx([0.5] * 3 + [0.2] * 3)
    assert norm(load_teacher(tmp_path / "norm.pth")) == pytest.approx(stored)
    # No data and nothing stored: 10 classes × 3 channels means CIFAR-10's constants.
    inferred = load_teacher(tmp_path / "plain.pth")
    assert norm(inferred) == pytest.approx([*CIFAR10[0], *CIFAR10[1]])
    assert inferred.meta["normalisation"] == "inferred (cifar10)"
    odd = models.create_model("resnet8", num_classes=7)
    torch.save({"model": odd.state_dict()}, tmp_path / "odd.pth")
    with pytest.raises(UserError, match="--mean and --std"):
        load_teacher(tmp_path / "odd.pth")
    with pytest.raises(UserError, match="--mean has 2 values but the teacher takes 3 channels"):
        load_teacher(tmp_path / "plain.pth", mean=[0.5, 0.5], std=[0.2, 0.2])


def test_teacher_takes_unit_range_and_uint8(small, tmp_path):
    net, _, _ = small
    torch.save(net.state_dict(), tmp_path / "w.pt")
    teacher = load_teacher(tmp_path / "w.pt", data="cifar10")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CIFAR10)
    with torch.no_grad():
        expected = net((images.float() / 255 - mean) / std)
        assert _close(teacher(images), expected)
        assert _close(teacher(images.float() / 255), expected)


def test_class_and_channel_mismatch_with_data(small, tmp_path):
    net, _, _ = small
    torch.save(net.state_dict(), tmp_path / "w.pt")
    with pytest.raises(UserError, match="has 10 classes but cifar100 has 100"):
        load_teacher(tmp_path / "w.pt", data="cifar100:/nowhere")
    with pytest.raises(UserError, match="takes 3-channel images but fashion-mnist has 1"):
        load_teacher(tmp_path / "w.pt", data="fashion-mnist")
    with pytest.raises(UserError, match="has 10 classes, not the 100 asked for"):
        load_teacher(tmp_path / "w.pt", data="cifar10", num_classes=100)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"just some text, not weights", "is not a checkpoint"),
    (b"PK\x03\x04" + b"\0" * 64, "truncated or corrupt"),
])
def test_non_checkpoint_files(tmp_path, content, message):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_teacher(tmp_path / "bad.pt", data="cifar10")


def test_truncated_checkpoint(small, tmp_path):
    net, _, _ = small
    torch.save({"model": net.state_dict()}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        load_teacher(tmp_path / "cut.pth", data="cifar10")
    torch.save({"model": net.state_dict()}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    data = (tmp_path / "old.pth").read_bytes()
    (tmp_path / "old_cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        load_teacher(tmp_path / "old_cut.pth", data="cifar10")


def test_missing_path_directory_and_unknown_arch(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_teacher(tmp_path / "nope.pth", data="cifar10")
    with pytest.raises(UserError, match="is a directory"):
        load_teacher(tmp_path, data="cifar10")
    with pytest.raises(UserError, match="unknown architecture 'resnet9'"):
        load_teacher(tmp_path / "nope.pth", arch="resnet9", data="cifar10")


def test_non_state_dict_contents(tmp_path):
    torch.save({"epoch": 3, "weights": [1, 2]}, tmp_path / "d.pth")
    with pytest.raises(UserError, match="no network to load"):
        load_teacher(tmp_path / "d.pth", data="cifar10")
    torch.save(torch.zeros(3), tmp_path / "t.pth")
    with pytest.raises(UserError, match="holds a Tensor"):
        load_teacher(tmp_path / "t.pth", data="cifar10")


# --- the bundled teacher -------------------------------------------------------------------


def test_bundled_teacher():
    if not (resources.files("dastat") / "zoo" / "manifest.json").is_file():
        pytest.skip("the bundled teacher's weights are not in dastat/zoo/ yet")
    teacher = load_teacher(None, data="fashion-mnist")
    assert (teacher.num_classes, teacher.in_channels, teacher.arch) == (10, 1, "resnet20")
    assert teacher.meta["normalisation"] == "checkpoint"
    assert teacher(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_data_as_image_data(small, tmp_path):
    from dastat.data import ImageData, Split

    net, _, _ = small
    torch.save(net.state_dict(), tmp_path / "w.pt")
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    split = Split(images, torch.zeros(4, dtype=torch.long))
    data = ImageData(name="imagefolder", train=split, test=None, num_classes=10, channels=3, image_size=32,
                     mean=IMAGENET[0], std=IMAGENET[1],
                     classes=[str(i) for i in range(10)])
    teacher = load_teacher(tmp_path / "w.pt", data=data)
    assert teacher.mean.flatten().tolist() == pytest.approx(list(IMAGENET[0]))
    data.num_classes = 200
    with pytest.raises(UserError, match="has 10 classes but imagefolder has 200"):
        load_teacher(tmp_path / "w.pt", data=data)


def test_a_mistake_carries_the_flag_it_blames(tmp_path):
    """The setting says which input is wrong: the error carries the flag, not a text-matched prefix."""
    from dastat.data import DataOptions
    from dastat.setting import load_student, resolve_teacher_and_data

    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(UserError) as teacher_error:
        resolve_teacher_and_data(tmp_path / "empty.pth", "fashion-mnist")
    assert teacher_error.value.flag == "--teacher" and str(teacher_error.value).startswith("--teacher: ")
    with pytest.raises(UserError) as data_error:
        resolve_teacher_and_data(None, f"imagefolder:{tmp_path / 'nope'}", options=DataOptions(workers=0))
    assert data_error.value.flag == "--data"
    with pytest.raises(UserError) as student_error:
        load_student("resnet9", None)
    assert student_error.value.flag == "--student" and "did you mean 'resnet8'" in str(student_error.value)

"""Streamed image folders and Tiny ImageNet: resolution from the teacher, reproducible random
crops whatever the number of workers, and one-sentence errors for bad files and options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import dastat
from dastat import models
from dastat.data import DataOptions, load_data
from dastat.errors import UserError
from dastat.setting import resolve_teacher_and_data
from dastat.teacher import load_teacher


def write_folder(root, classes=("cat", "dog", "emu"), per_class=24, shape=(40, 50, 3), suffix=".jpg", seed=0):
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", max(2, per_class // 4))):
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 256, size=shape, dtype=np.uint8)
                Image.fromarray(arr.squeeze()).save(root / split / cls / f"{i}{suffix}")
    return root


def save_zoo_teacher(path, num_classes=3, in_channels=3):
    torch.manual_seed(0)
    torch.save({"model": models.create_model("resnet8", num_classes=num_classes, in_channels=in_channels).state_dict(),
                "mean": [0.5] * in_channels, "std": [0.25] * in_channels}, path)
    return path


def _score(teacher, data, workers, seed=0):
    data.train.workers = workers
    return dastat.score("cutmix", teacher, data, max_images=96, batch_size=32, seed=seed, device="cpu")


def test_same_seed_same_scores_with_0_and_2_workers(tmp_path):
    root = write_folder(tmp_path / "imgs")
    teacher, data = resolve_teacher_and_data(save_zoo_teacher(tmp_path / "t.pth"), f"imagefolder:{root},size=32")
    assert data.train_view == "resized-crop-flip" and data.image_size == 32
    a, b = _score(teacher, data, 0), _score(teacher, data, 2)
    assert a.t_stddev == b.t_stddev and a.teacher_entropy == b.teacher_entropy
    assert a.n_images == 96 and a.extra["resolution"] == 32 and a.extra["base_view"] == "resized-crop-flip"
    assert _score(teacher, data, 0, seed=1).t_stddev != a.t_stddev


def test_random_crops_come_from_the_generator_not_the_workers(tmp_path):
    root = write_folder(tmp_path / "imgs", per_class=8)
    data = load_data(f"imagefolder:{root},size=24", DataOptions(workers=0))

    def one_pass(workers, seed):
        data.train.workers = workers
        g = torch.Generator().manual_seed(seed)
        return torch.cat([x for x, _ in data.train.batches(5, shuffle=True, generator=g)])

    first = one_pass(0, 7)
    assert first.shape == (24, 3, 24, 24)
    assert torch.equal(first, one_pass(2, 7))
    assert not torch.equal(first, one_pass(0, 8))
    # the base view of such data is made while decoding, so the batched one does nothing
    assert data.base_view(first, torch.Generator().manual_seed(0)) is first


def test_test_split_is_torchvisions_resize_and_centre_crop(tmp_path):
    from torchvision.transforms import v2

    root = write_folder(tmp_path / "imgs", per_class=4, shape=(37, 61, 3), suffix=".png")
    data = load_data(f"imagefolder:{root},size=24,resize=30", DataOptions(workers=0))
    x, y = next(iter(data.test.batches(3)))
    reference = v2.Compose([v2.Resize(30), v2.CenterCrop(24), v2.PILToTensor()])
    for i, (path, label) in enumerate(data.test.samples[:3]):
        assert torch.equal(x[i], reference(Image.open(path).convert("RGB"))) and y[i] == label


def test_torchvision_teacher_sets_the_folder_resolution(tmp_path):
    import torchvision

    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=3)
    torch.save(net.state_dict(), tmp_path / "mnv3.pth")
    root = write_folder(tmp_path / "imgs", per_class=2)
    teacher, data = resolve_teacher_and_data(f"torchvision:mobilenet_v3_small:{tmp_path / 'mnv3.pth'}",
                                             f"imagefolder:{root}", options=DataOptions(workers=0))
    t = torchvision.models.get_model_weights("mobilenet_v3_small").DEFAULT.transforms()
    assert (data.image_size, data.resize) == (t.crop_size[0], t.resize_size[0])
    assert data.interpolation == t.interpolation.value
    assert teacher.mean.flatten().tolist() == pytest.approx(list(t.mean))
    x, _ = next(iter(data.test.batches(2)))
    assert x.shape == (2, 3, t.crop_size[0], t.crop_size[0])
    record = data.describe_preprocessing()
    assert record["resolution"] == t.crop_size[0] and record["base_view"] == "resized-crop-flip"
    # --size keeps the weights' crop ratio unless --resize is given
    _, small = resolve_teacher_and_data(teacher, f"imagefolder:{root}", options=DataOptions(size=112, workers=0))
    assert small.image_size == 112 and small.resize == round(112 * t.resize_size[0] / t.crop_size[0])


def test_timm_file_takes_its_default_config(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet18", pretrained=False, num_classes=4)
    torch.save(net.state_dict(), tmp_path / "r18.pth")
    teacher = load_teacher(f"timm:resnet18:{tmp_path / 'r18.pth'}", data=None, mean=[0.5] * 3, std=[0.5] * 3)
    cfg = timm.data.resolve_model_data_config(net)
    size = cfg["input_size"][-1]
    assert teacher.meta["preprocessing"] == {"size": size, "resize": math.floor(size / cfg["crop_pct"]),
                                             "interpolation": cfg["interpolation"]}


def test_grayscale_folder_with_a_one_channel_teacher(tmp_path):
    root = write_folder(tmp_path / "gray", shape=(30, 30, 1), per_class=12)
    teacher, data = resolve_teacher_and_data(save_zoo_teacher(tmp_path / "g.pth", in_channels=1),
                                             f"imagefolder:{root},size=28", options=DataOptions(workers=0))
    assert data.channels == 1
    x, _ = next(iter(data.test.batches(4)))
    assert x.shape == (4, 1, 28, 28)
    assert dastat.score("identity", teacher, data, max_images=64, batch_size=32, device="cpu").n_images == 64


@pytest.mark.parametrize("how", ["truncated", "not an image"])
def test_undecodable_file_is_named(tmp_path, how):
    root = write_folder(tmp_path / "imgs", per_class=4)
    bad = root / "train" / "dog" / "2.jpg"
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2] if how == "truncated" else b"no pixels here")
    data = load_data(f"imagefolder:{root},size=24", DataOptions(workers=0))
    with pytest.raises(UserError, match=f"cannot decode the image file {bad}"):
        list(data.train.batches(4))


@pytest.mark.parametrize("option", ["size=0", "size=-5", "size=100000", "size=abc", "colour=red"])
def test_bad_folder_options_are_refused_up_front(tmp_path, option):
    root = write_folder(tmp_path / "imgs", per_class=1)
    with pytest.raises(UserError):
        load_data(f"imagefolder:{root},{option}")


def test_unknown_torchvision_name_suggests_and_says_where_to_look():
    with pytest.raises(UserError, match=r"list_models\(\).*'resnet18'"):
        resolve_teacher_and_data("torchvision:resnet81", "cifar10:/nowhere")
    with pytest.raises(UserError, match="teacher"):
        resolve_teacher_and_data("no/such/file.pth", "cifar10:/nowhere")


def test_tinyimagenet_layout(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n02", "n01", "n03"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(3)
    lines = []
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                root / "train" / w / "images" / f"{w}_{i}.JPEG")
        name = f"val_{w}.JPEG"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "val" / "images" / name)
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    data = load_data(f"tinyimagenet:{root}", DataOptions(workers=0))
    assert data.classes == ["n01", "n02", "n03"] and len(data.train) == 9 and len(data.test) == 3
    assert data.train_view == "pad-crop-flip" and data.image_size == 64
    assert data.test.labels.tolist() == [1, 0, 2]  # val_n02 → n02 is class 1 of the sorted wnids
    x, _ = next(iter(data.test.batches(3)))
    assert torch.equal(x[1], torch.from_numpy(np.array(Image.open(root / "val" / "images" / "val_n01.JPEG"))
                                              ).permute(2, 0, 1))
    with pytest.raises(UserError, match="wnids.txt"):
        load_data(f"tinyimagenet:{tmp_path}")

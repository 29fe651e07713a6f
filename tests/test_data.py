"""Dataset specs, on small files each test writes in the dataset's exact on-disk format."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from dastat.augment.functional import base_view, crop_with_offsets, default_padding
from dastat.data import load_data, parse_spec
from dastat.errors import UserError


def _write_cifar(root, name: str, n_train: int = 20, n_test: int = 10, seed: int = 0):
    """Pickled batches laid out as torchvision's CIFAR10/CIFAR100 read them."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        files = {f"data_batch_{i}": n_train // 5 for i in range(1, 6)} | {"test_batch": n_test}
        key, classes = "labels", 10
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        files = {"train": n_train, "test": n_test}
        key, classes = "fine_labels", 100
        with open(folder / "meta", "wb") as f:
            pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)
    written = {}
    for fname, n in files.items():
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, classes, size=n).tolist()
        with open(folder / fname, "wb") as f:
            pickle.dump({b"data": data, key.encode(): labels, b"filenames": [b"x.png"] * n}, f)
        written[fname] = (data, labels)
    return written


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_loader_reads_torchvision_format(tmp_path, name):
    written = _write_cifar(tmp_path, name)
    data = load_data(f"{name}:{tmp_path}")
    assert data.num_classes == (10 if name == "cifar10" else 100)
    assert data.channels == 3 and data.image_size == 32
    assert len(data.train) == 20 and len(data.test) == 10
    train_files = [k for k in written if "test" not in k]
    expected = np.concatenate([written[k][0] for k in train_files]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(data.train.images.numpy(), expected)
    np.testing.assert_array_equal(data.train.labels.numpy(), sum((written[k][1] for k in train_files), []))
    assert data.mean == ((0.4914, 0.4822, 0.4465) if name == "cifar10" else (0.5071, 0.4867, 0.4408))
    assert data.classes[1] in ("class1", "c1")


def test_cifar_loader_refuses_code_in_pickles(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(folder / "train", "wb") as f:
        pickle.dump({"data": Evil(), "fine_labels": []}, f)
    with pytest.raises(UserError, match="not a CIFAR batch"):
        load_data(f"cifar100:{tmp_path}")


def test_missing_cifar_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="--download"):
        load_data(f"cifar10:{tmp_path}")


def test_imagefolder_loader(tmp_path):
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for cls in ("cat", "dog", "emu"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                arr = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
                Image.fromarray(arr).save(tmp_path / split / cls / f"{i}.png")
    data = load_data(f"imagefolder:{tmp_path},size=32")
    assert data.classes == ["cat", "dog", "emu"] and data.num_classes == 3
    assert len(data.train) == 9 and len(data.test) == 9
    x, y = next(iter(data.train.batches(4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 0, 1]


def _write_idx(path, array: np.ndarray):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_a_root_of_idx_files(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(12, 28, 28))
    labels = rng.integers(0, 10, size=12)
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    data = load_data(f"fashion-mnist:{tmp_path}")
    assert data.train.images.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(data.train.images[:, 0].numpy(), images)
    np.testing.assert_array_equal(data.train.labels.numpy(), labels)


def test_truncated_idx_file_is_a_user_error(tmp_path):
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((4, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(4))
    raw = gzip.open(tmp_path / "train-images-idx3-ubyte.gz").read()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(UserError, match="truncated"):
        load_data(f"fashion-mnist:{tmp_path}")


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        load_data(f"fashion-mnist:{tmp_path}")


def test_unknown_dataset_lists_choices():
    with pytest.raises(UserError, match="cifar100"):
        parse_spec("imagenette")


def test_bundled_fashion_mnist(fmnist):
    assert (len(fmnist.train), len(fmnist.test)) == (60000, 10000)
    assert fmnist.train.images.shape[1:] == (1, 28, 28) and fmnist.num_classes == 10


def test_base_view_is_a_padded_crop_and_flip():
    """Each output image equals some zero-padded crop of its input, possibly mirrored."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (16, 1, 32, 32), dtype=torch.uint8)
    out = base_view(x, g)
    assert default_padding(32) == 4 and default_padding(28) == 4 and default_padding(64) == 8
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(16):
        candidates = []
        for dy in range(9):
            for dx in range(9):
                crop = crop_with_offsets(x[i : i + 1], 4, torch.tensor([[dy, dx]]))[0]
                candidates += [crop, crop.flip(-1)]
        assert any(torch.equal(out[i], c) for c in candidates)
    # the crop really moves: with 16 images, not every offset is the centre
    assert not torch.equal(out, x) and not torch.equal(out, x.flip(-1))


def test_crop_with_offsets_matches_slicing():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    out = crop_with_offsets(x, 2, torch.tensor([[0, 3], [4, 1]]))
    torch.testing.assert_close(out[0], padded[0, :, 0:6, 3:9])
    torch.testing.assert_close(out[1], padded[1, :, 4:10, 1:7])


def test_the_data_tells_its_augmentations_their_defaults():
    """DAs know no dataset names: the data layer hands them the fill, the Cutout side and the policy."""
    from dastat.data import DATASETS, ImageData, Split

    split = Split(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    for name, size, policy in (("cifar10", 16, "cifar10"), ("cifar100", None, "cifar10"), ("imagefolder", None, "imagenet")):
        info = DATASETS[name]
        context = ImageData(name, split, None, 10, 3, 32, info.mean, info.std, []).augment_context(teacher="t")
        assert (context.cutout_size, context.autoaugment_policy, context.teacher) == (size, policy, "t")
        assert context.mean == info.mean and context.image_size == 32

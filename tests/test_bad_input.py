"""Bad input, every entry point: exit 2 (or UserError), one sentence, nothing overwritten.

Each CLI case runs ``dastat.cli.main(argv)`` in a fresh folder that holds sentinel files
(``keep.bin``, ``existing.json``/``.csv``/``.png``, a plain file ``afile``); afterwards every
file that was there before must hold the same bytes. Cases use a tiny image folder and a
two-class resnet8 checkpoint written here, so a case that wrongly started working would
stop after a few images. A few cases run as real subprocesses to prove no traceback
reaches the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dastat.errors import UserError

TINY = ["--max-images", "128", "--no-progress"]


# --------------------------------------------------------------------------- the world the cases read

def _png(path: Path, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from dastat import models

    w = tmp_path_factory.mktemp("world")
    for cls in ("a", "b"):
        (w / "folder" / cls).mkdir(parents=True)
        (w / "corrupt_jpeg" / cls).mkdir(parents=True)
        (w / "notimages" / cls).mkdir(parents=True)
        for i in range(40):  # 80 images: more than one batch of 64
            _png(w / "folder" / cls / f"{i}.png", 2 * i + (cls == "b"))
        for i in range(3):
            _png(w / "corrupt_jpeg" / cls / f"{i}.png", 2 * i + (cls == "b"))
        (w / "notimages" / cls / "readme.txt").write_text("not an image\n")
    (w / "corrupt_jpeg" / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 20)
    torch.manual_seed(0)
    torch.save(models.create_model("resnet8", num_classes=2).state_dict(), w / "c2.pth")
    torch.save(models.create_model("resnet8", num_classes=10).state_dict(), w / "c10rgb.pth")
    bundled = next((Path(__file__).resolve().parents[1] / "dastat" / "zoo").glob("*.safetensors"))
    (w / "truncated.safetensors").write_bytes(bundled.read_bytes()[: bundled.stat().st_size // 2])
    good = w / "c2.pth"
    (w / "truncated.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (w / "empty.pth").write_bytes(b"")
    (w / "garbage.pth").write_bytes(b"this is not a checkpoint at all\n" * 4)
    (w / "tdir").mkdir()
    (w / "emptydir").mkdir()
    (w / "good.csv").write_text("da,t_stddev,test_loss\nidentity,0.016,1.2\nflip,0.015,1.1\ncutmix,0.014,1.0\n"
                                "mixup,0.0145,1.05\n")
    (w / "two.csv").write_text("da,t_stddev,test_loss\nidentity,0.016,1.2\nflip,0.015,1.1\n")
    (w / "const.csv").write_text("da,t_stddev,test_loss\na,0.01,1\nb,0.01,2\nc,0.01,3\n")
    (w / "words.csv").write_text("da,t_stddev,test_loss\na,x,1\nb,y,2\nc,z,3\n")
    (w / "missing.csv").write_text("da,foo\nidentity,1\nflip,2\ncutmix,3\n")
    (w / "header.csv").write_text("da,t_stddev,test_loss\n")
    (w / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (w / "corrupt.json").write_text('[{"da": "identity", "t_stddev": ')
    (w / "dict.json").write_text('{"a": 1}')
    (w / "text.txt").write_text("da,t_stddev\n")
    _hostile_world(w)
    for name, files in {"nonrun": {"notes.txt": "mine\n"},
                        "garbled_run": {"config.json": "{garbled", "checkpoint.pt": "garbled"},
                        "half_run": {"config.json": json.dumps({"config": {}})}}.items():
        (w / name).mkdir()
        for fname, text in files.items():
            (w / name / fname).write_text(text)
    return w


# --------------------------------------------------------------------------- data that lies (issue 24)

def png_declaring(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares ``width``×``height`` 8-bit grey pixels, with one tiny IDAT: a reader
    that checks the header first never allocates ``width``×``height``."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0"))
                     + chunk(b"IEND", b""))


def cifar_batches(root: Path, labels: list[int], protocol: int = 2) -> None:
    """CIFAR-10's five training batches under ``root/cifar-10-batches-py``, two images each, pickled by Python 3."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        batch = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), "labels": list(labels),
                 "batch_label": f"training batch {i} of 5"}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=protocol))
    (folder / "test_batch").write_bytes((folder / "data_batch_1").read_bytes())
    meta = {"label_names": [f"class{k}" for k in range(10)], "num_cases_per_batch": len(labels)}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))


def _tiny_imagenet(root: Path) -> None:
    """A two-class Tiny ImageNet: wnids.txt, train/<wnid>/images/, val/images/ and val/val_annotations.txt."""
    wnids = ["n01", "n02"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for k, wnid in enumerate(wnids):
        (root / "train" / wnid / "images").mkdir(parents=True)
        for i in range(4):
            _png(root / "train" / wnid / "images" / f"{wnid}_{i}.png", 10 * k + i)
            _png(root / "val" / "images" / f"val_{k}_{i}.png", 20 * k + i)
            lines.append(f"val_{k}_{i}.png\t{wnid}\t0\t0\t16\t16")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def _hostile_world(w: Path) -> None:
    """Files whose contents lie: CIFAR labels past the class count, images whose header declares too many
    pixels, Tiny ImageNet layouts with a listing that is a folder, not UTF-8, or naming a missing image,
    and checkpoints with a stored std of 0 or a transposed classifier."""
    from dastat import models

    cifar_batches(w / "cifar_badlabel", [1, 12])
    for name, declared in (("long_png", (1, 1_000_000)), ("bomb_png", (10_000, 10_000))):
        for cls in ("a", "b"):
            (w / name / cls).mkdir(parents=True)
            for i in range(3):
                _png(w / name / cls / f"{i}.png", i)
        png_declaring(w / name / "a" / "liar.png", *declared)
    for variant in ("tin_wnids_dir", "tin_annotations_dir", "tin_wnids_latin1", "tin_missing_val"):
        _tiny_imagenet(w / variant)
    (w / "tin_wnids_dir" / "wnids.txt").unlink()
    (w / "tin_wnids_dir" / "wnids.txt").mkdir()
    (w / "tin_annotations_dir" / "val" / "val_annotations.txt").unlink()
    (w / "tin_annotations_dir" / "val" / "val_annotations.txt").mkdir()
    (w / "tin_wnids_latin1" / "wnids.txt").write_bytes("n01\nn02 caf\u00e9\n".encode("latin-1"))
    (w / "tin_missing_val" / "val" / "images" / "val_1_3.png").unlink()
    torch.manual_seed(0)
    state = models.create_model("resnet8", num_classes=2).state_dict()
    torch.save({"model": state, "mean": [0.5, 0.5, 0.5], "std": [0]}, w / "std0.pth")
    state["fc.weight"] = state["fc.weight"].t().contiguous()
    torch.save(state, w / "transposed.pth")



def _snapshot(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def place(tmp_path, world, monkeypatch):
    """A fresh working folder with sentinel files; yields it and checks them afterwards."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.bin").write_bytes(os.urandom(64))
    for name in ("existing.json", "existing.csv", "existing.png", "afile"):
        (tmp_path / name).write_bytes(os.urandom(32))
    (tmp_path / "nonrun").mkdir()
    (tmp_path / "nonrun" / "notes.txt").write_text("mine\n")
    (tmp_path / "mine.csv.provenance.json").write_text('{"my": "own notes"}\n')  # not dastat's sidecar
    (tmp_path / "dir.csv.provenance.json").mkdir()
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path, world)
    yield tmp_path
    after = _snapshot(tmp_path, world)
    changed = [p for p, data in before.items() if after.get(p) != data]
    assert not changed, f"files changed or removed: {changed}"


def _one_sentence(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("dastat: error: "), err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- the CLI cases

# Each case: (id, argv with {t} = the case's folder and {w} = the world, a fragment the message must hold).
DATA = "imagefolder:{w}/folder,size=16"
ON_TINY = ["--data", DATA, "--teacher", "{w}/c2.pth"]


def _score_rank_cases(cmd: list[str]) -> list[tuple]:
    base = cmd + TINY
    tiny = base + ON_TINY
    name = cmd[0]
    cases = [
        ("da-unknown", base + ["--da", "nosuch"], "nosuch"),
        ("da-composed-unknown", base + ["--da", "identity+nosuch"], "nosuch"),
        ("da-bad-param-name", base + ["--da", "cutmix(alpah=1)"], "alpah"),
        ("da-huge-padding", tiny + ["--da", "crop_flip(padding=100000)"], "padding"),
        ("da-repeated-keyword", tiny + ["--da", "cutout(size=8,size=9)"], "size"),
        ("da-unclosed", base + ["--da", "cutmix("], "cutmix"),
        ("da-empty", base + ["--da", ""], None),
        ("da-negative-size", tiny + ["--da", "cutout(size=-1)"], "size"),
        ("da-not-a-number", tiny + ["--da", "mixup(alpha=abc)"], "alpha"),
        ("da-listed-twice", tiny + ["--da", "identity", "--da", "identity"], "twice"),
        ("student-unknown", base + ["--da", "identity", "--student", "resnet9"], "student"),
        ("teacher-missing", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/nope.pth"], "teacher"),
        ("teacher-empty", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/empty.pth"], "teacher"),
        ("teacher-garbage", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/garbage.pth"], "teacher"),
        ("teacher-truncated-safetensors", base + ["--da", "identity", "--data", DATA, "--teacher",
                                                  "{w}/truncated.safetensors"], "teacher"),
        ("teacher-truncated-pth", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/truncated.pth"],
         "teacher"),
        ("teacher-folder", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/tdir"], "teacher"),
        ("teacher-torchvision-nosuch", base + ["--da", "identity", "--data", DATA, "--teacher", "torchvision:nosuch"],
         "teacher"),
        ("teacher-arch-unknown", tiny + ["--da", "identity", "--arch", "nosuch"], "nosuch"),
        ("class-mismatch", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/c10rgb.pth"], "classes"),
        ("channel-mismatch", base + ["--da", "identity", "--teacher", "{w}/c10rgb.pth", "--data", "fashion-mnist"], "channel"),
        ("data-unknown", base + ["--da", "identity", "--data", "nosuchset"], "data"),
        ("data-not-images", base + ["--da", "identity", "--data", "imagefolder:{w}/notimages"], "data"),
        ("data-size-zero", base + ["--da", "identity", "--data", "imagefolder:{w}/folder,size=0",
                                   "--teacher", "{w}/c2.pth"], "size"),
        ("data-folder-missing", base + ["--da", "identity", "--data", "imagefolder:{w}/nope"], "data"),
        ("data-cifar-empty", base + ["--da", "identity", "--data", "cifar10:{w}/emptydir"], "cifar"),
        ("data-corrupt-jpeg", cmd + ["--no-progress", "--da", "identity", "--data",
                                     "imagefolder:{w}/corrupt_jpeg,size=16", "--teacher", "{w}/c2.pth",
                                     "--batch-size", "7", "--max-images", "7"], "broken.jpg"),
        ("device-tpu", tiny + ["--da", "identity", "--device", "tpu"], "--device"),
        ("device-cuda", tiny + ["--da", "identity", "--device", "cuda"], "--device"),
        ("device-cuda1", tiny + ["--da", "identity", "--device", "cuda:1"], "--device"),
        ("device-gpu", tiny + ["--da", "identity", "--device", "gpu"], "--device"),
        ("device-empty", tiny + ["--da", "identity", "--device", ""], "--device"),
        ("device-meta", tiny + ["--da", "identity", "--device", "meta"], "--device"),
        ("device-mps", tiny + ["--da", "identity", "--device", "mps"], "--device"),
        ("out-is-folder", tiny + ["--da", "identity", "--out", "{t}/out"], "--out"),
        ("out-parent-missing", tiny + ["--da", "identity", "--out", "{t}/nodir/r.json"], "--out"),
        ("out-parent-is-file", tiny + ["--da", "identity", "--out", "{t}/afile/r.json"], "--out"),
        ("out-bad-suffix", tiny + ["--da", "identity", "--out", "{t}/r.txt"], "--out"),
        ("out-empty", tiny + ["--da", "identity", "--out", ""], "--out"),
        ("report-is-folder", tiny + ["--da", "identity", "--report", "{t}/out"], "--report"),
        ("report-parent-missing", tiny + ["--da", "identity", "--report", "{t}/nodir/r.md"], "--report"),
        ("report-parent-is-file", tiny + ["--da", "identity", "--report", "{t}/afile/r.md"], "--report"),
        ("existing-json-kept", tiny + ["--da", "nosuch", "--out", "{t}/existing.json"], "nosuch"),
        ("existing-csv-kept", base + ["--da", "identity", "--data", DATA, "--teacher", "{w}/garbage.pth",
                                      "--out", "{t}/existing.csv"], "teacher"),
        ("max-images-zero", tiny + ["--da", "identity", "--max-images", "0"], "--max-images"),
        ("max-images-word", tiny + ["--da", "identity", "--max-images", "many"], "--max-images"),
        ("max-images-below-batch", tiny + ["--da", "identity", "--max-images", "32"], "--max-images"),
        ("precision-two", tiny + ["--da", "identity", "--precision", "2"], "--precision"),
        ("precision-zero", tiny + ["--da", "identity", "--precision", "0"], "--precision"),
        ("batch-size-one", tiny + ["--da", "identity", "--batch-size", "1"], "--batch-size"),
        ("batch-size-zero", tiny + ["--da", "identity", "--batch-size", "0"], "--batch-size"),
        ("epochs-negative", tiny + ["--da", "identity", "--epochs", "-1"], "--epochs"),
        ("seed-word", tiny + ["--da", "identity", "--seed", "x"], "--seed"),
        ("protocol-unknown", tiny + ["--da", "identity", "--protocol", "slow"], "--protocol"),
        ("std-zero", tiny + ["--da", "identity", "--mean", "0.5", "0.5", "0.5", "--std", "0", "1", "1"], "std"),
        ("mean-without-std", tiny + ["--da", "identity", "--mean", "0.5", "0.5", "0.5"], "--std"),
        ("mean-wrong-channels", tiny + ["--da", "identity", "--mean", "0.1", "0.2", "--std", "1", "1"], "channel"),
        ("unknown-flag", tiny + ["--da", "identity", "--bogus"], "--bogus"),
    ]
    if name == "rank":
        cases += [("by-unknown", tiny + ["--by", "nosuch"], "--by"),
                  ("by-ce-without-student", tiny + ["--da", "identity", "--da", "flip", "--by", "ce_var"], "student")]
    else:
        cases += [("da-missing", tiny, "--da")]
    return [(f"{name}:{cid}", argv, frag) for cid, argv, frag in cases]


TRAIN = ["train", "--recipe", "quick", "--max-steps", "1", "--subset", "128", "--test-subset", "64", "--no-progress"]
VALIDATE = ["validate", "--da", "identity", "--da", "flip", "--da", "cutmix", "--seeds", "1", "--max-steps", "1",
            "--subset", "128", "--test-subset", "64", "--max-images", "128", "--no-progress"]

CASES = _score_rank_cases(["score"]) + _score_rank_cases(["rank"]) + [
    # train
    ("train:out-is-file", TRAIN + ["--out", "{t}/afile"], "--out"),
    ("train:out-under-file", TRAIN + ["--out", "{t}/afile/run"], "--out"),
    ("train:out-not-a-run", TRAIN + ["--out", "{t}/nonrun"], "--out"),
    ("train:out-empty", TRAIN + ["--out", ""], "--out"),
    ("train:resume-missing", TRAIN + ["--resume", "{w}/nope"], "resume"),
    ("train:resume-garbled", TRAIN + ["--resume", "{w}/garbled_run"], "config.json"),
    ("train:resume-half", TRAIN + ["--resume", "{w}/half_run"], "resume"),
    ("train:resume-and-out", TRAIN + ["--resume", "{w}/garbled_run", "--out", "{t}/run"], "--out"),
    ("train:student-unknown", TRAIN + ["--out", "{t}/run", "--student", "resnet9"], "student"),
    ("train:teacher-garbage", TRAIN + ["--out", "{t}/run", "--teacher", "{w}/garbage.pth"], "teacher"),
    ("train:teacher-torchvision-nosuch", TRAIN + ["--out", "{t}/run", "--teacher", "torchvision:nosuch"],
     "teacher"),
    ("train:data-unknown", TRAIN + ["--out", "{t}/run", "--data", "nosuchset"], "data"),
    ("train:data-missing-folder", TRAIN + ["--out", "{t}/run", "--data", "imagefolder:{t}/nofolder"], "nofolder"),
    ("train:da-unknown", TRAIN + ["--out", "{t}/run", "--da", "nosuch"], "nosuch"),
    ("train:da-huge-padding", TRAIN + ["--out", "{t}/run", "--da", "crop_flip(padding=100000)"], "padding"),
    ("train:epochs-negative", TRAIN + ["--out", "{t}/run", "--epochs", "-1"], "--epochs"),
    ("train:epochs-zero", TRAIN + ["--out", "{t}/run", "--epochs", "0"], "--epochs"),
    ("train:batch-size-zero", TRAIN + ["--out", "{t}/run", "--batch-size", "0"], "--batch-size"),
    ("train:batch-size-one", TRAIN + ["--out", "{t}/run", "--batch-size", "1"], "batch"),
    ("train:lr-word", TRAIN + ["--out", "{t}/run", "--lr", "fast"], "--lr"),
    ("train:device-tpu", TRAIN + ["--out", "{t}/run", "--device", "tpu"], "--device"),
    ("train:device-cuda1", TRAIN + ["--out", "{t}/run", "--device", "cuda:1"], "--device"),
    ("train:recipe-unknown", TRAIN + ["--out", "{t}/run", "--recipe", "slow"], "--recipe"),
    ("train:amp-unknown", TRAIN + ["--out", "{t}/run", "--amp", "fp8"], "--amp"),
    ("train:subset-zero", TRAIN + ["--out", "{t}/run", "--subset", "0"], "--subset"),
    ("train:threads-zero", TRAIN + ["--out", "{t}/run", "--threads", "0"], "--threads"),
    # validate
    ("validate:out-missing", VALIDATE, "--out"),
    ("validate:out-is-file", VALIDATE + ["--out", "{t}/afile"], "--out"),
    ("validate:out-under-file", VALIDATE + ["--out", "{t}/afile/v"], "--out"),
    ("validate:out-not-a-sweep", VALIDATE + ["--out", "{t}/nonrun"], "--out"),
    ("validate:out-empty", VALIDATE + ["--out", ""], "--out"),
    ("validate:seeds-zero", VALIDATE + ["--out", "{t}/v", "--seeds", "0"], "--seeds"),
    ("validate:seeds-negative", VALIDATE + ["--out", "{t}/v", "--seeds", "-1"], "--seeds"),
    ("validate:device-tpu", VALIDATE + ["--out", "{t}/v", "--device", "tpu"], "--device"),
    ("validate:recipe-unknown", VALIDATE + ["--out", "{t}/v", "--recipe", "slow"], "--recipe"),
    ("validate:da-unknown", VALIDATE + ["--out", "{t}/v", "--da", "nosuch"], "nosuch"),
    ("validate:student-unknown", VALIDATE + ["--out", "{t}/v", "--student", "resnet9"], "student"),
    ("validate:max-images-zero", VALIDATE + ["--out", "{t}/v", "--max-images", "0"], "--max-images"),
    ("validate:corrupt-validate-json", VALIDATE + ["--out", "{t}/badsweep"], "validate.json"),
    ("validate:corrupt-scores-json", VALIDATE + ["--out", "{t}/badscores"], "scores.json"),
    # correlate
    ("correlate:missing-file", ["correlate", "{w}/nope.csv", "--x", "t_stddev", "--y", "test_loss"], "nope.csv"),
    ("correlate:binary-csv", ["correlate", "{w}/binary.csv", "--x", "t_stddev", "--y", "test_loss"], "binary.csv"),
    ("correlate:corrupt-json", ["correlate", "{w}/corrupt.json", "--x", "t_stddev", "--y", "test_loss"],
     "corrupt.json"),
    ("correlate:json-object", ["correlate", "{w}/dict.json", "--x", "t_stddev", "--y", "test_loss"], "dict.json"),
    ("correlate:missing-columns", ["correlate", "{w}/missing.csv", "--x", "t_stddev", "--y", "test_loss"],
     "t_stddev"),
    ("correlate:header-only", ["correlate", "{w}/header.csv", "--x", "t_stddev", "--y", "test_loss"], "rows"),
    ("correlate:not-a-table", ["correlate", "{w}/text.txt", "--x", "t_stddev", "--y", "test_loss"], "csv"),
    ("correlate:folder", ["correlate", "{w}/tdir", "--x", "t_stddev", "--y", "test_loss"], "tdir"),
    ("correlate:unknown-x", ["correlate", "{w}/good.csv", "--x", "nosuch", "--y", "test_loss"], "nosuch"),
    ("correlate:two-rows", ["correlate", "{w}/two.csv", "--x", "t_stddev", "--y", "test_loss"], "3 pairs"),
    ("correlate:constant", ["correlate", "{w}/const.csv", "--x", "t_stddev", "--y", "test_loss"], "constant"),
    ("correlate:words", ["correlate", "{w}/words.csv", "--x", "t_stddev", "--y", "test_loss"], "numbers"),
    ("correlate:level-two", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss", "--level", "2"],
     "level"),
    ("correlate:resamples-negative", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss",
                                      "--resamples", "-1"], "resamples"),
    ("correlate:ci-unknown", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss", "--ci", "abc"],
     "--ci"),
    ("correlate:where-malformed", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss",
                                   "--where", "da"], "column=value"),
    ("correlate:where-no-row", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss",
                                "--where", "da=zzz"], "zzz"),
    ("correlate:group-unknown", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss",
                                 "--group", "nosuch"], "nosuch"),
    ("correlate:y-missing", ["correlate", "{w}/good.csv", "--x", "t_stddev"], "--y"),
    # plot
    ("plot:missing-file", ["plot", "{w}/nope.csv", "--y", "test_loss", "--out", "{t}/p.png"], "nope.csv"),
    ("plot:binary-csv", ["plot", "{w}/binary.csv", "--y", "test_loss", "--out", "{t}/p.png"], "binary.csv"),
    ("plot:corrupt-json", ["plot", "{w}/corrupt.json", "--out", "{t}/p.png"], "corrupt.json"),
    ("plot:missing-columns", ["plot", "{w}/missing.csv", "--y", "test_loss", "--out", "{t}/p.png"], "t_stddev"),
    ("plot:header-only", ["plot", "{w}/header.csv", "--out", "{t}/p.png"], "rows"),
    ("plot:out-is-folder", ["plot", "{w}/good.csv", "--y", "test_loss", "--out", "{t}/out"], "--out"),
    ("plot:out-parent-missing", ["plot", "{w}/good.csv", "--y", "test_loss", "--out", "{t}/nodir/p.png"], "--out"),
    ("plot:out-parent-is-file", ["plot", "{w}/good.csv", "--y", "test_loss", "--out", "{t}/afile/p.png"],
     "--out"),
    ("plot:out-bad-suffix", ["plot", "{w}/good.csv", "--y", "test_loss", "--out", "{t}/p.txt"], "--out"),
    ("plot:existing-png-kept", ["plot", "{w}/missing.csv", "--y", "test_loss", "--out", "{t}/existing.png"],
     "t_stddev"),
    ("plot:by-and-y", ["plot", "{w}/good.csv", "--y", "test_loss", "--by", "t_stddev", "--out", "{t}/p.png"],
     "--by"),
    ("plot:x-without-y", ["plot", "{w}/good.csv", "--x", "t_stddev", "--out", "{t}/p.png"], "--y"),
    ("plot:label-unknown", ["plot", "{w}/good.csv", "--y", "test_loss", "--label", "nosuch", "--out",
                            "{t}/p.png"], "nosuch"),
    ("plot:where-malformed", ["plot", "{w}/good.csv", "--where", "da", "--out", "{t}/p.png"], "column=value"),
    # augment
    ("augment:no-action", ["augment"], "action"),
    ("augment:unknown-action", ["augment", "show"], "show"),
    ("augment:list-extra", ["augment", "list", "extra"], "extra"),
    ("augment:preview-unknown-da", ["augment", "preview", "nosuch", "--out", "{t}/p.png"], "nosuch"),
    ("augment:preview-huge-padding", ["augment", "preview", "crop_flip(padding=100000)", "--out", "{t}/p.png"]
     + ON_TINY, "padding"),
    ("augment:preview-no-out", ["augment", "preview", "cutmix"], "--out"),
    ("augment:preview-out-jpg", ["augment", "preview", "cutmix", "--out", "{t}/p.jpg"], "--out"),
    ("augment:preview-out-folder", ["augment", "preview", "cutmix", "--out", "{t}/out"], "--out"),
    ("augment:preview-out-parent-missing", ["augment", "preview", "cutmix", "--out", "{t}/nodir/p.png"], "--out"),
    ("augment:preview-out-parent-file", ["augment", "preview", "cutmix", "--out", "{t}/afile/p.png"], "--out"),
    ("augment:preview-images-zero", ["augment", "preview", "cutmix", "--out", "{t}/p.png", "--images", "0"],
     "--images"),
    ("augment:preview-teacher-garbage", ["augment", "preview", "cutmix", "--out", "{t}/p.png", "--data", DATA,
                                         "--teacher", "{w}/garbage.pth"], "teacher"),
    ("augment:preview-data-unknown", ["augment", "preview", "cutmix", "--out", "{t}/p.png", "--data", "nosuch"],
     "data"),
    ("augment:preview-class-mismatch", ["augment", "preview", "cutmix", "--out", "{t}/p.png", "--data", DATA],
     "classes"),
    ("augment:preview-existing-kept", ["augment", "preview", "nosuch", "--out", "{t}/existing.png"], "nosuch"),
    # zoo
    ("zoo:no-action", ["zoo"], "action"),
    ("zoo:list-extra-flag", ["zoo", "list", "--bogus"], "--bogus"),
    ("zoo:list-classes-word", ["zoo", "list", "--num-classes", "ten"], "--num-classes"),
    ("zoo:list-classes-zero", ["zoo", "list", "--num-classes", "0"], "--num-classes"),
    ("zoo:inspect-missing", ["zoo", "inspect", "{w}/nope.pth"], "nope.pth"),
    ("zoo:inspect-empty", ["zoo", "inspect", "{w}/empty.pth"], "empty.pth"),
    ("zoo:inspect-garbage", ["zoo", "inspect", "{w}/garbage.pth"], "garbage.pth"),
    ("zoo:inspect-truncated", ["zoo", "inspect", "{w}/truncated.safetensors"], "truncated.safetensors"),
    ("zoo:inspect-csv", ["zoo", "inspect", "{w}/good.csv"], "good.csv"),
    ("zoo:inspect-folder", ["zoo", "inspect", "{w}/tdir"], "tdir"),
    ("zoo:inspect-torchvision-nosuch", ["zoo", "inspect", "torchvision:nosuch"], "nosuch"),
    ("zoo:inspect-no-file", ["zoo", "inspect"], "file"),
    # top level
    ("top:no-command", [], "command"),
    ("top:unknown-command", ["nosuch"], "nosuch"),
    ("top:unknown-flag", ["--bogus"], "command"),
    ("top:unknown-flag-after-command", ["zoo", "list", "--json", "--bogus"], "--bogus"),
    # tune
    ("tune:grid-empty-alternative", ["tune", *TINY, "--da", "cutmix(alpha=0.2||1)"], "empty"),
    ("tune:grid-bar-between-das", ["tune", *TINY, "--da", "cutmix|mixup"], "one parameter"),
    ("tune:grid-duplicate", ["tune", *TINY, "--da", "cutmix(alpha=1|1.0)"], "twice"),
    ("tune:one-candidate", ["tune", *TINY, "--da", "cutmix"], "two candidates"),
    ("tune:alpha-one", ["tune", *TINY, "--da", "cutmix(alpha=0.2|1)", "--alpha", "1"], "--alpha"),
    ("tune:da-unknown", ["tune", *TINY, "--da", "nosuch(a=1|2)"], "nosuch"),
    # evaluate
    ("evaluate:teacher-garbage", ["evaluate", "--teacher", "{w}/garbage.pth"], "teacher"),
    ("evaluate:data-unknown", ["evaluate", "--data", "nosuchset"], "data"),
    ("evaluate:device-tpu", ["evaluate", "--device", "tpu"], "--device"),
    ("evaluate:bogus-flag", ["evaluate", "--bogus"], "--bogus"),
    ("evaluate:out-is-folder", ["evaluate", "--out", "{t}"], "--out"),
    ("evaluate:out-parent-missing", ["evaluate", "--out", "{t}/nofolder/e.json"], "--out"),
    ("evaluate:out-not-json", ["evaluate", "--out", "{t}/e.txt"], "--out"),
    ("evaluate:max-images-zero", ["evaluate", "--max-images", "0"], "--max-images"),
    ("evaluate:size-zero", ["evaluate", "--data", "imagefolder:{w}/folder,size=0"], "size"),
]

# Issue 24 and issue 23's hostile inputs, as the matrix's own cases.
SCORE_ID = ["score", *TINY, "--da", "identity"]
_GRID_200 = "cutmix(alpha=" + "|".join(f"{i / 100:g}" for i in range(1, 201)) + ")"
_GRID_1E8 = "+".join("cutmix(alpha=" + "|".join(str(v) for v in range(1, 11)) + ")" for _ in range(8))
HOSTILE = [
    # data whose contents lie
    ("data:cifar-label-past-classes", ["evaluate", "--teacher", "{w}/c10rgb.pth", "--data",
                                       "cifar10:{w}/cifar_badlabel"], "label 12"),
    ("data:cifar-label-past-classes-score", SCORE_ID + ["--teacher", "{w}/c10rgb.pth", "--data",
                                                         "cifar10:{w}/cifar_badlabel"], "label 12"),
    ("data:png-declares-1x1000000", ["score", "--no-progress", "--da", "identity", "--data",
                                     "imagefolder:{w}/long_png,size=16", "--teacher", "{w}/c2.pth",
                                     "--batch-size", "7", "--max-images", "7", "--workers", "0",
                                     "--base-view", "pad-crop-flip"], "liar.png"),
    ("data:png-over-bomb-limit", ["score", "--no-progress", "--da", "identity", "--data",
                                  "imagefolder:{w}/bomb_png,size=16", "--teacher", "{w}/c2.pth",
                                  "--batch-size", "7", "--max-images", "7"], "decompression-bomb"),
    ("data:tinyimagenet-val-image-missing", ["evaluate", "--data", "tinyimagenet:{w}/tin_missing_val,size=16",
                                             "--teacher", "{w}/c2.pth"], "is missing"),
    ("data:tinyimagenet-wnids-folder", SCORE_ID + ["--data", "tinyimagenet:{w}/tin_wnids_dir,size=16",
                                                   "--teacher", "{w}/c2.pth"], "wnids.txt is a folder"),
    ("data:tinyimagenet-annotations-folder", SCORE_ID + ["--data", "tinyimagenet:{w}/tin_annotations_dir,size=16",
                                                         "--teacher", "{w}/c2.pth"], "val_annotations.txt is a folder"),
    ("data:tinyimagenet-wnids-not-utf8", SCORE_ID + ["--data", "tinyimagenet:{w}/tin_wnids_latin1,size=16",
                                                     "--teacher", "{w}/c2.pth"], "not utf-8"),
    # numbers that are not numbers
    ("numbers:mean-nan", SCORE_ID + ON_TINY + ["--mean", "nan", "nan", "nan", "--std", "1", "1", "1"], "--mean"),
    ("numbers:std-nan", SCORE_ID + ON_TINY + ["--mean", "0", "0", "0", "--std", "nan", "1", "1"], "--std"),
    ("numbers:std-inf", SCORE_ID + ON_TINY + ["--mean", "0", "0", "0", "--std", "inf", "1", "1"], "--std"),
    ("numbers:checkpoint-std-zero", SCORE_ID + ["--data", DATA, "--teacher", "{w}/std0.pth"],
     "std stored in the checkpoint"),
    ("numbers:workers-negative", SCORE_ID + ["--workers", "-1"], "--workers"),
    ("numbers:train-workers-negative", TRAIN + ["--out", "{t}/run", "--workers", "-1"], "--workers"),
    ("numbers:train-milestones-negative", TRAIN + ["--out", "{t}/run", "--milestones", "-3"], "--milestones"),
    ("numbers:train-subset-past-split", TRAIN + ["--out", "{t}/run", "--subset", "10000000"], "--subset"),
    ("numbers:train-warmup-negative", TRAIN + ["--out", "{t}/run", "--warmup-epochs", "-5"], "0 or more"),
    ("numbers:train-momentum-negative", TRAIN + ["--out", "{t}/run", "--momentum", "-1"], "--momentum"),
    ("numbers:train-weight-decay-negative", TRAIN + ["--out", "{t}/run", "--weight-decay", "-1"], "--weight-decay"),
    ("numbers:train-lr-nan", TRAIN + ["--out", "{t}/run", "--lr", "nan"], "--lr"),
    # messages that pointed the wrong way
    ("messages:report-in-proc", SCORE_ID + ON_TINY + ["--report", "/proc/x.md"], "--report"),
    ("messages:correlate-report-under-file", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss",
                                              "--report", "{t}/afile/r.html"], "afile is a file"),
    ("messages:teacher-transposed-fc", SCORE_ID + ["--data", DATA, "--teacher", "{w}/transposed.pth"],
     "[2, 64] in the model"),
    # sidecars never replace what dastat did not write
    ("sidecar:not-dastats", SCORE_ID + ON_TINY + ["--out", "{t}/mine.csv"], "not written by dastat"),
    ("sidecar:is-a-folder", SCORE_ID + ON_TINY + ["--out", "{t}/dir.csv"], "is a folder"),
    ("sidecar:tune-not-dastats", ["tune", *TINY, "--da", "cutmix(alpha=0.2|1)", "--out", "{t}/mine.csv"],
     "not written by dastat"),
    # answers from no evidence: a race in which no candidate got a value has no best
    ("evidence:tune-one-batch", ["tune", "--max-images", "64", "--no-progress", "--da", "mixup(alpha=0.2|1)",
                                 "--out", "{t}/t.json"], "no candidate got a T. stddev"),
    # nothing unbounded
    ("limits:tune-200-alternatives", ["tune", *TINY, "--da", _GRID_200], "limit of 64"),
    ("limits:tune-product-grid", ["tune", *TINY, "--da", _GRID_1E8], "100,000,000 candidates"),
    ("limits:workers-1000", SCORE_ID + ["--workers", "1000"], "64"),
    ("limits:preview-100000-images", ["augment", "preview", "cutmix", "--out", "{t}/p.png", "--images", "100000"],
     "limit"),
    ("limits:da-20000-steps", ["score", *TINY, "--da", "+".join(["identity"] * 20000)], "limit"),
    ("limits:pick-30-deep", ["score", *TINY, "--da", "pick(base=" * 30 + "cutmix" + ")" * 30], "limit of 3"),
]
CASES += HOSTILE


def _fill(argv: list[str], t: Path, w: Path) -> list[str]:
    return [a.format(t=t, w=w) for a in argv]


def _sweep_folders(t: Path) -> None:
    """A sweep folder whose validate.json is corrupt, and one whose scores.json is."""
    (t / "badsweep").mkdir()
    (t / "badsweep" / "validate.json").write_text("{corrupt")
    (t / "badscores").mkdir()
    # The options the VALIDATE command line records, so the rerun reaches the damaged scores.json.
    options = dict(das=["identity", "flip", "cutmix"], teacher=None, data=None, student="resnet8", seeds=1,
                   recipe="quick", train_options={"subset": 128, "test_subset": 64, "max_steps": 1},
                   score_options={"max_images": 128})
    config = {"kind": "dastat validate", "options": options}
    (t / "badscores" / "validate.json").write_text(json.dumps(config, indent=2) + "\n")
    (t / "badscores" / "scores.json").write_text("[{truncated")


@pytest.mark.parametrize("argv,fragment", [pytest.param(a, f, id=i) for i, a, f in CASES])
def test_cli_bad_input(argv, fragment, place, world, capsys):
    from dastat.cli import main

    _sweep_folders(place)
    argv = _fill(argv, place, world)
    assert main(argv) == 2
    err = capsys.readouterr().err
    _one_sentence(err)
    if fragment is not None:
        assert fragment.lower() in err.lower(), err
    _no_process_left_behind()


def _children() -> list[int]:
    """This process's live child processes (Linux), e.g. decoding workers."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    if not tasks.is_dir():
        return []
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def _no_process_left_behind() -> None:
    import time

    deadline = time.time() + 10  # workers of a closed loader exit within moments
    while _children() and time.time() < deadline:
        time.sleep(0.1)
    assert not _children(), f"processes left behind: {_children()}"


# --------------------------------------------------------------------------- the Python API

def _api_cases():
    import dastat
    from dastat import augment, plot

    tiny = dict(data="imagefolder:{w}/folder,size=16", teacher="{w}/c2.pth", max_images=128)

    def call(fn, *args, **kwargs):
        def run(t: Path, w: Path):
            fill = lambda v: v.format(t=t, w=w) if isinstance(v, str) else v  # noqa: E731
            return fn(*[fill(a) for a in args], **{k: fill(v) for k, v in kwargs.items()})
        return run

    return [
        ("score:da-unknown", call(dastat.score, "nosuch", **tiny), "nosuch"),
        ("score:no-da", call(dastat.score, [], **tiny), "da"),
        ("score:teacher-garbage", call(dastat.score, "identity", **{**tiny, "teacher": "{w}/garbage.pth"}),
         "garbage.pth"),
        ("score:data-unknown", call(dastat.score, "identity", **{**tiny, "data": "nosuchset"}), "nosuchset"),
        ("score:device-tpu", call(dastat.score, "identity", device="tpu", **tiny), "device"),
        ("score:max-images-zero", call(dastat.score, "identity", **{**tiny, "max_images": 0}), "max-images"),
        ("score:precision-two", call(dastat.score, "identity", precision=2, **tiny), "precision"),
        ("score:batch-size-one", call(dastat.score, "identity", batch_size=1, **tiny), "batch"),
        ("score:protocol-unknown", call(dastat.score, "identity", protocol="slow", **tiny), "slow"),
        ("score:student-unknown", call(dastat.score, "identity", student="resnet9", **tiny), "resnet9"),
        ("score:class-mismatch", call(dastat.score, "identity", **{**tiny, "teacher": "{w}/c10rgb.pth"}),
         "classes"),
        ("rank:listed-twice", call(dastat.rank, ["identity", "identity"], **tiny), "twice"),
        ("rank:by-unknown", call(dastat.rank, ["identity", "flip"], by="nosuch", **tiny), "nosuch"),
        ("rank:by-ce-without-student", call(dastat.rank, ["identity", "flip"], by="ce_var", **tiny), "student"),
        ("load_teacher:garbage", call(dastat.load_teacher, "{w}/garbage.pth"), "garbage.pth"),
        ("load_teacher:empty", call(dastat.load_teacher, "{w}/empty.pth"), "empty.pth"),
        ("load_teacher:missing", call(dastat.load_teacher, "{w}/nope.pth"), "nope.pth"),
        ("load_teacher:truncated", call(dastat.load_teacher, "{w}/truncated.pth"), "truncated.pth"),
        ("load_teacher:folder", call(dastat.load_teacher, "{w}/tdir"), "tdir"),
        ("load_teacher:torchvision-nosuch", call(dastat.load_teacher, "torchvision:nosuch"), "nosuch"),
        ("load_data:unknown", call(dastat.load_data, "nosuchset"), "nosuchset"),
        ("load_data:not-images", call(dastat.load_data, "imagefolder:{w}/notimages"), "notimages"),
        ("load_data:size-zero", call(dastat.load_data, "imagefolder:{w}/folder,size=0"), "size"),
        ("load_data:cifar-empty", call(dastat.load_data, "cifar10:{w}/emptydir"), "emptydir"),
        ("correlate:two-pairs", call(dastat.correlate, [1, 2], [1, 2]), "3 pairs"),
        ("correlate:lengths", call(dastat.correlate, [1, 2, 3], [1, 2]), "length"),
        ("correlate:constant", call(dastat.correlate, [1, 1, 1], [1, 2, 3]), "constant"),
        ("correlate:level", call(dastat.correlate, [1, 2, 3], [1, 3, 2], confidence_level=2), "level"),
        ("correlate:method", call(dastat.correlate, [1, 2, 3], [1, 3, 2], method="abc"), "abc"),
        ("augment.create:unknown", call(augment.create, "nosuch"), "nosuch"),
        ("augment.create:huge-padding", call(augment.create, "crop_flip(padding=100000)",
                                             augment.AugmentContext(image_size=28, channels=1)), "padding"),
        ("augment.create:repeated-keyword", call(augment.create, "cutout(size=8,size=9)"), "size"),
        ("plot.scatter:missing-columns", call(plot.scatter, "{w}/missing.csv", y="test_loss"), "t_stddev"),
        ("plot.scatter:missing-file", call(plot.scatter, "{w}/nope.csv"), "nope.csv"),
        ("plot.ranking_bars:binary", call(plot.ranking_bars, "{w}/binary.csv"), "binary.csv"),
        ("plot.ranking_bars:corrupt-json", call(plot.ranking_bars, "{w}/corrupt.json"), "corrupt.json"),
    ]


API_CASES = _api_cases()


@pytest.mark.parametrize("call,fragment", [pytest.param(c, f, id=i) for i, c, f in API_CASES])
def test_api_bad_input(call, fragment, place, world):
    with pytest.raises(UserError) as info:
        call(place, world)
    message = str(info.value)
    assert message and "\n" not in message, message
    assert fragment.lower() in message.lower(), message


# --------------------------------------------------------------------------- real processes

@pytest.mark.parametrize("argv", [
    ["score", "--da", "identity", "--device", "tpu"],
    ["zoo", "inspect", "{w}/garbage.pth"],
    ["correlate", "{w}/binary.csv", "--x", "t_stddev", "--y", "test_loss"],
    ["train", "--out", "{t}/nonrun", "--max-steps", "1"],
    ["score", "--max-images", "0"],
], ids=["device", "zoo-inspect", "correlate", "train-out", "argparse"])
def test_no_traceback_reaches_the_terminal(argv, place, world):
    proc = subprocess.run([sys.executable, "-m", "dastat", *_fill(argv, place, world)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2, proc.stderr
    _one_sentence(proc.stderr)


def test_matrix_size():
    assert len(CASES) + len(API_CASES) >= 120


# --------------------------------------------------------------------------- a full disk

@pytest.fixture
def full_disk(monkeypatch):
    """Every temporary file dastat writes through is a link to /dev/full, so each write gets the kernel's own
    ENOSPC, as on a full disk; probes that only create and remove a file still work."""
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        os.close(fd)
        os.unlink(name)
        os.symlink("/dev/full", name)
        return os.open(name, os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


FULL_DISK = [
    ("score-report", SCORE_ID + ON_TINY + ["--report", "{t}/r.md"]),
    ("score-out-json-existing", SCORE_ID + ON_TINY + ["--out", "{t}/existing.json"]),
    ("score-out-csv", SCORE_ID + ON_TINY + ["--out", "{t}/r.csv"]),
    ("correlate-report", ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss", "--report",
                          "{t}/r.html"]),
    ("plot-out", ["plot", "{w}/good.csv", "--y", "test_loss", "--out", "{t}/existing.png"]),
    ("train-out", TRAIN + ["--out", "{t}/run"]),
    ("evaluate-out", ["evaluate", "--max-images", "64", "--out", "{t}/e.json"]),
    ("preview-out", ["augment", "preview", "cutmix", "--images", "2", "--out", "{t}/p.png"]),
]


@pytest.mark.parametrize("argv", [pytest.param(a, id=i) for i, a in FULL_DISK])
def test_full_disk_is_one_sentence_and_no_partial_file(argv, place, world, full_disk, capsys):
    from dastat.cli import main

    before = {p for p in place.rglob("*") if p.is_file()}
    assert main(_fill(argv, place, world)) == 2
    err = capsys.readouterr().err
    _one_sentence(err)
    assert "disk is full" in err, err
    left = {p for p in place.rglob("*") if p.is_file() or p.is_symlink()} - before
    # The run folder's lock and TensorBoard's own event file are not results; nothing else may be left.
    assert not [p for p in left if p.name != ".dastat.lock" and "tensorboard" not in p.parts], left


@pytest.mark.parametrize("argv", [["zoo", "list", "--json"],
                                  ["correlate", "{w}/good.csv", "--x", "t_stddev", "--y", "test_loss"]],
                         ids=["zoo-list-json", "correlate"])
def test_stdout_on_a_full_disk(argv, place, world):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "dastat", *_fill(argv, place, world)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    _one_sentence(proc.stderr)
    assert "No space left" in proc.stderr


# --------------------------------------------------------------------------- two runs at once

def test_second_run_into_a_running_folder_is_refused(place, world, capsys):
    import fcntl

    from dastat.cli import main

    run = place / "run"
    run.mkdir()
    with open(run / ".dastat.lock", "w") as held:  # what a running `dastat train` holds
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(TRAIN + ["--out", str(run)]) == 2
    err = capsys.readouterr().err
    _one_sentence(err)
    assert "another dastat run is writing to" in err
    assert [p.name for p in run.iterdir()] == [".dastat.lock"]


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    from dastat.kd.rundir import run_lock

    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from dastat.kd.rundir import run_lock\n"
        f"with run_lock(Path({str(folder)!r})):\n    print('held', flush=True); sys.stdin.read()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="another dastat run"):
            with run_lock(folder):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with run_lock(folder):  # the kernel dropped the dead run's lock
        (folder / "config.json").write_text("{}")
    assert (folder / "config.json").exists()


# --------------------------------------------------------------------------- processes left behind

_ORPHAN_SCRIPT = """
import os, signal, sys, threading, time
from pathlib import Path
from dastat.data import folders

def stuck(self, i):  # a worker busy decoding for a minute: it cannot notice its parent's death by itself
    time.sleep(60)

folders._Decoded.__getitem__ = stuck
split = folders.FolderSplit(Path(sys.argv[1]), size=16, workers=2)
threading.Thread(target=lambda: next(split.batches(4)), daemon=True).start()
deadline = time.time() + 60
children = []
while time.time() < deadline and len(children) < 2:
    time.sleep(0.2)
    children = [int(c) for t in Path(f"/proc/{os.getpid()}/task").iterdir()
                for c in (t / "children").read_text().split()]
print(" ".join(map(str, children)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the run dies, as when killed for memory
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_decoding_workers_die_with_their_run(world):
    import time

    # Popen and one line, not run(): workers left behind would hold the pipe open and run() would wait for them.
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, str(world / "folder")], stdout=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    proc.wait(timeout=60)
    workers = [int(p) for p in line.split()]
    assert len(workers) == 2, line
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "decoding workers outlived their run"


# --------------------------------------------------------------------------- readers that read what torchvision reads

@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_batches_resaved_by_python3_read_as_torchvision_reads_them(tmp_path, protocol, monkeypatch):
    from torchvision import datasets

    from dastat.data import load_data

    cifar_batches(tmp_path, [3, 7, 0], protocol=protocol)
    # torchvision checks its files' md5s, which ours do not have; it reads them as it reads the real ones
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    reference = datasets.CIFAR10(str(tmp_path), train=True, download=False)
    data = load_data(f"cifar10:{tmp_path}")
    assert data.classes == reference.classes
    assert torch.equal(data.train.images, torch.from_numpy(reference.data).permute(0, 3, 1, 2))
    assert data.train.labels.tolist() == list(reference.targets)


def test_sixteen_bit_png_is_read_by_its_high_byte_not_clipped(tmp_path):
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import to_dtype

    from dastat.data.folders import FolderSplit

    values = np.random.default_rng(0).integers(0, 65536, (16, 16), dtype=np.uint16)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.fromarray(values).save(tmp_path / cls / "deep.png")
    x, _ = next(FolderSplit(tmp_path, size=16, workers=0, channels=1).batches(2))
    reference = to_dtype(decode_image(str(tmp_path / "a" / "deep.png"), mode=ImageReadMode.GRAY), torch.uint8,
                         scale=True)
    assert reference.dtype == torch.uint8 and reference.shape == (1, 16, 16)
    assert torch.equal(x[0], reference)
    assert (x[0] == 255).float().mean() < 0.01  # a clipping reader puts ~99.6% of these pixels at 255


# --------------------------------------------------------------------------- where a path came from, and paths that are not UTF-8

def test_a_bad_dastat_data_is_named_as_coming_from_that_variable(place, world, monkeypatch, capsys):
    from dastat.cli import main

    monkeypatch.setenv("DASTAT_DATA", str(place / "nodata"))
    # A 10-class RGB teacher and no --data: CIFAR-10 under $DASTAT_DATA.
    assert main(SCORE_ID + ["--teacher", str(world / "c10rgb.pth")]) == 2
    note, error = capsys.readouterr().err.strip().splitlines()  # the data inferred, then why it cannot be read
    assert note.startswith("dastat: no --data given") and "DASTAT_DATA" in note
    _one_sentence(error)
    assert "DASTAT_DATA" in error and "nodata" in error, error


def test_a_data_folder_named_in_non_utf8_bytes_reaches_the_report(place, world, capsys):
    from dastat.cli import main

    folder = os.fsdecode(bytes(place) + b"/caf\xe9")  # Latin-1 é: not UTF-8, as a surrogate escape
    for cls in ("a", "b"):
        os.makedirs(os.path.join(folder, cls))
        for i in range(40):
            _png(Path(folder) / cls / f"{i}.png", i)
    argv = SCORE_ID + ["--data", f"imagefolder:{folder},size=16", "--teacher", str(world / "c2.pth"),
                       "--report", str(place / "r.md")]
    assert main(argv) == 0, capsys.readouterr().err
    report = (place / "r.md").read_text(encoding="utf-8")  # valid UTF-8, the odd byte spelt out
    assert "caf\\udce9" in report


def test_sixteen_bit_rgb_png_is_read_by_its_high_byte(tmp_path):
    import struct
    import zlib

    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2.functional import to_dtype

    from dastat.data.folders import FolderSplit

    values = np.random.default_rng(1).integers(0, 65536, (16, 16, 3)).astype(">u2")
    rows = b"".join(b"\0" + values[y].tobytes() for y in range(16))  # filter byte 0, then big-endian samples

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))  # Pillow cannot write 48-bit RGB
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "deep.png").write_bytes(png)
    x, _ = next(FolderSplit(tmp_path, size=16, workers=0).batches(2))
    reference = to_dtype(decode_image(str(tmp_path / "a" / "deep.png"), mode=ImageReadMode.RGB), torch.uint8,
                         scale=True)
    assert torch.equal(x[0], reference)
    assert torch.equal(x[0], torch.from_numpy((values.astype(np.int64) >> 8).astype(np.uint8)).permute(2, 0, 1))

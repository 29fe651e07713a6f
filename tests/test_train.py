"""dastat train in-process: run folder, checkpoints that load back, picks reusing teacher logits,
NaN handling, mixed precision on CPU, and one-sentence errors with exit code 2."""

from __future__ import annotations

import json

import pytest
import torch

from dastat import models
from dastat.augment import AugmentResult, Augmentation
from dastat.cli import main
from dastat.kd import TrainingDiverged, train
from dastat.teacher import load_teacher

FAST = dict(subset=256, test_subset=100, batch_size=64, recipe="quick", progress=False, device="cpu")


@pytest.fixture(scope="module")
def teacher(teacher_file, fmnist):
    return load_teacher(teacher_file, data=fmnist)


def test_run_folder_and_checkpoints_load_back(tmp_path, teacher_file, fmnist):
    result = train(tmp_path / "run", teacher=str(teacher_file), data=fmnist, student="resnet8", da="cutmix",
                   epochs=2, **FAST)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.csv", "metrics.jsonl", "checkpoint.pt",
                                               "student_best.pth", "student_final.pth"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and rows == result.history
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    for column in ("train_loss", "train_ce", "train_kl_orig", "train_kl_view", "test_loss", "test_top1",
                   "test_top5", "lr", "images_per_s"):
        assert column in header
    # 256 images, batches of 64: four steps covering each image once.
    assert rows[0]["steps"] == 4 and rows[0]["train_images"] == 256 and rows[0]["distinct_images"] == 256
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["da"] == "cutmix" and config["config"]["epochs"] == 2 and config["world_size"] == 1
    # The loss parts add up to the total with the recipe's weights.
    r = rows[-1]
    assert r["train_loss"] == pytest.approx(0.1 * r["train_ce"] + 0.9 * (r["train_kl_orig"] + r["train_kl_view"]))

    # The final student loads back as a teacher and reproduces the logged test metrics.
    student = load_teacher(run / "student_final.pth", data=fmnist)
    assert student.arch == "resnet8" and student.mean.flatten().tolist() == pytest.approx([0.286])
    x, y = fmnist.test.images[:100], fmnist.test.labels[:100]
    with torch.no_grad():
        logits = student(x)
    assert 100 * (logits.argmax(1) == y).float().mean().item() == pytest.approx(rows[-1]["test_top1"])
    assert torch.nn.functional.cross_entropy(logits, y).item() == pytest.approx(rows[-1]["test_loss"], rel=1e-5)
    best = torch.load(run / "student_best.pth", weights_only=True)
    assert best["accuracy"] == max(r["test_top1"] for r in rows)


def test_pick_reuses_the_teacher_logits_it_computed(tmp_path, teacher, fmnist):
    images = []
    hook = teacher.model.register_forward_hook(lambda m, inp, out: images.append(inp[0].shape[0]))
    try:
        train(tmp_path / "pick", teacher=teacher, data=fmnist, da="cutmix_pick_t", epochs=1, max_steps=2, **FAST)
    finally:
        hook.remove()
    # Per step: the pick ranks a pool of 2·64 views, then only the 64 originals are forwarded again
    # (evaluation runs the student alone; the 2-image forward of the compatibility check is left out).
    assert [n for n in images if n != 2] == [128, 64, 128, 64]


def test_identity_forwards_the_teacher_once_per_view(tmp_path, teacher, fmnist):
    images = []
    hook = teacher.model.register_forward_hook(lambda m, inp, out: images.append(inp[0].shape[0]))
    try:
        result = train(tmp_path / "id", teacher=teacher, data=fmnist, da="identity", epochs=1, max_steps=3, **FAST)
    finally:
        hook.remove()
    # On CPU one pass per view (on CUDA one pass over both); the compatibility check's 2 images left out.
    assert [n for n in images if n != 2] == [64, 64] * 3
    assert result.final["steps"] == 3
    # Identity: the view is the original, so both KL terms are the same number.
    assert result.final["train_kl_orig"] == pytest.approx(result.final["train_kl_view"], rel=1e-6)


def test_bf16_and_channels_last_on_cpu(tmp_path, teacher, fmnist):
    result = train(tmp_path / "amp", teacher=teacher, data=fmnist, da="mixup", epochs=1, max_steps=2,
                   amp="bf16", channels_last=True, **FAST)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in result.final.items() if isinstance(v, float))


class _NaNAfter(Augmentation):
    """Identity until its ``after``-th call, then views full of NaN."""

    name = "nan_after"

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def apply(self, x, y, params):
        self.calls += 1
        view = x.float() / 255
        return AugmentResult(view * float("nan") if self.calls > self.after else view, y)


def test_nan_stops_with_epoch_and_step_and_keeps_the_last_checkpoint(tmp_path, teacher, fmnist):
    run = tmp_path / "nan"
    # Four steps an epoch: the 7th call is epoch 2, step 3.
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3.*last good checkpoint \(epoch 1\)"):
        train(run, teacher=teacher, data=fmnist, da=_NaNAfter(6), epochs=3, **FAST)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert all(torch.isfinite(v).all() for v in ckpt["student"].values() if v.is_floating_point())


# --- bad input: one sentence, exit code 2 ---------------------------------------------------


def _cli(capsys, *args) -> tuple[int, str]:
    code = main(["train", "--no-progress", "--subset", "128", "--test-subset", "50", "--threads", "1", *args])
    return code, capsys.readouterr().err


def test_unknown_architecture(capsys, tmp_path, teacher_file):
    code, err = _cli(capsys, "--teacher", str(teacher_file), "--student", "resnet9", "--out", str(tmp_path / "r"))
    assert code == 2 and "'resnet9'" in err and "did you mean 'resnet8'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_student_teacher_class_mismatch(capsys, tmp_path, teacher_file):
    other = tmp_path / "student5.pth"
    torch.save({"model": models.create_model("resnet8", num_classes=5, in_channels=1).state_dict()}, other)
    code, err = _cli(capsys, "--teacher", str(teacher_file), "--student", str(other), "--mean", "0.3", "--std", "0.3",
                     "--out", str(tmp_path / "r"))
    assert code == 2 and "5 classes" in err and len(err.strip().splitlines()) == 1


def test_teacher_for_other_data(capsys, tmp_path):
    cifar = tmp_path / "cifar_teacher.pth"
    torch.save({"model": models.create_model("resnet8", num_classes=100, in_channels=3).state_dict()}, cifar)
    code, err = _cli(capsys, "--teacher", str(cifar), "--out", str(tmp_path / "r"))
    assert code == 2 and "100 classes" in err


def test_unwritable_output(capsys, tmp_path, teacher_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, err = _cli(capsys, "--teacher", str(teacher_file), "--out", str(blocker / "run"))
    assert code == 2 and "cannot write the run" in err


def test_resume_with_a_different_config(capsys, tmp_path, teacher_file):
    run = tmp_path / "r"
    code, _ = _cli(capsys, "--teacher", str(teacher_file), "--out", str(run), "--recipe", "quick", "--epochs", "1",
                   "--max-steps", "1", "--batch-size", "32")
    assert code == 0
    code, err = _cli(capsys, "--resume", str(run), "--epochs", "3")
    assert code == 2 and "different config" in err and "epochs" in err
    code, err = _cli(capsys, "--resume", str(tmp_path / "nowhere"))
    assert code == 2 and "no such run folder" in err
    code, err = _cli(capsys, "--teacher", str(teacher_file), "--out", str(run))
    assert code == 2 and "already holds a run" in err


def test_the_trainer_reads_a_student_spec_as_scoring_does(tmp_path):
    """One student resolver (dastat.setting.load_student): a torchvision: spec trains too, made trainable."""
    import torchvision

    from dastat.data import DATASETS, ImageData, Split
    from dastat.kd.recipes import resolve_config
    from dastat.kd.trainer import build_student
    from dastat.teacher import Teacher

    torch.save(torchvision.models.mobilenet_v3_small(weights=None, num_classes=10).state_dict(), tmp_path / "s.pth")
    info = DATASETS["cifar10"]
    split = Split(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    data = ImageData("cifar10", split, split, 10, 3, 32, info.mean, info.std, [str(i) for i in range(10)])
    teacher = Teacher(models.create_model("resnet8", num_classes=10), info.mean, info.std, num_classes=10,
                      in_channels=3, source="resnet8")
    cfg = resolve_config("quick", student=f"torchvision:mobilenet_v3_small:{tmp_path / 's.pth'}")
    student, arch = build_student(cfg, data, teacher, torch.device("cpu"), channels_last=False)
    assert arch == "mobilenet_v3_small" and student.training
    assert all(p.requires_grad for p in student.parameters())

"""Spec language, registry, user registration, CutMixPick as a drop-in, and the CLI."""

from __future__ import annotations

import json
import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from dastat.augment import AugmentContext, AugmentResult, Augmentation, CutMixPick, available, create, register
from dastat.augment.spec import parse
from dastat.cli import main
from dastat.errors import UserError

from test_augment_helpers import batch, context, tiny_net

#: Every DA dastat registers itself, in the order available() lists them.
_BUILTINS = ("identity", "flip", "crop_flip", "cutout", "autoaugment", "mixup", "cutmix", "cutmix_pick_s",
             "cutmix_pick_t", "randaugment", "trivialaugment", "augmix", "pick")


@pytest.fixture(autouse=True)
def _isolated_registry(restore_registry):
    """Registrations made by a test do not outlive it."""


def test_parse_literals_words_and_nested_specs():
    assert parse("cutout(size=8, holes=2)") == [("cutout", {"size": 8, "holes": 2})]
    assert parse("autoaugment(policy=imagenet)") == [("autoaugment", {"policy": "imagenet"})]
    assert parse("cutout(fill=(0.5, -1.0))") == [("cutout", {"fill": (0.5, -1.0)})]
    assert parse("pick(base=cutmix(alpha=0.5)+flip, pool=3)") == [("pick", {"base": "cutmix(alpha=0.5)+flip", "pool": 3})]
    assert parse(" crop_flip + cutmix ") == [("crop_flip", {}), ("cutmix", {})]


@pytest.mark.parametrize("bad", ["", "cutmix(", "cutmix(0.5)", "cutmix(**k)", "3", "cutmix - flip", "a.b"])
def test_malformed_specs_fail_clearly(bad):
    with pytest.raises(UserError, match="cannot read the augmentation spec"):
        create(bad)


def test_unknown_name_lists_choices_and_closest():
    with pytest.raises(UserError) as err:
        create("cutmx")
    assert "did you mean 'cutmix'" in str(err.value) and "identity" in str(err.value)


def test_unknown_parameter_lists_parameters_and_closest():
    with pytest.raises(UserError, match=r"no parameter 'alpah' \(did you mean 'alpha'\?\); its parameters: alpha, per_sample"):
        create("cutmix(alpah=0.5)")


@pytest.mark.parametrize("spec", ["cutmix(alpha=-1)", "cutout(size=-2)", "pick(pool=0)", "autoaugment(policy=svhm)",
                                  "randaugment(magnitude=40)", "pick(criterion=entropy)"])
def test_bad_values_are_user_errors(spec):
    with pytest.raises(UserError):
        create(spec, context())


def test_canonical_spec_drops_defaults():
    assert create("cutmix(alpha=1.0)").spec == "cutmix"
    assert create("randaugment(num_ops=3,magnitude=9)").spec == "randaugment(num_ops=3)"
    assert create("crop_flip + cutmix(per_sample=True)").spec == "crop_flip+cutmix(per_sample=True)"
    assert create("pick(base=mixup,pool=2)", context()).spec == "pick(base=mixup)"
    assert create(create("cutout(size=4)").spec).spec == "cutout(size=4)"


def test_issue_specs_build_and_run_on_fashion_mnist_shaped_batches():
    ctx = context()
    x, y = batch(64, size=28)
    for spec in ["randaugment(num_ops=2,magnitude=9)", "trivialaugment", "pick(base=mixup,pool=2)", "cutmix(per_sample=True)"]:
        out = create(spec, ctx)(x, y, generator=torch.Generator().manual_seed(0))
        assert out.x.shape == x.shape and out.x.dtype == torch.uint8


def test_compose_mixes_soft_labels_and_lifts_params():
    x, y = batch(6)
    out = create("mixup+cutmix", AugmentContext(num_classes=5))(x, y, generator=torch.Generator().manual_seed(0))
    assert out.y.shape == (6, 5) and torch.allclose(out.y.sum(1), torch.ones(6))
    assert out.params["box"] is out.params["steps"][1]["box"]


def test_register_function_with_generator_and_params():
    @register("add_noise", shared_randomness=False, replace=True)
    def add_noise(x, *, sigma: float = 0.1, generator=None):
        """Add Gaussian noise of standard deviation sigma."""
        noise = torch.randn(x.shape, generator=generator)
        return (x + sigma * noise).clamp(0, 1)

    assert "add_noise" in available()
    aug = create("add_noise(sigma=0.0)")
    x = torch.rand(2, 1, 4, 4)
    assert torch.equal(aug(x).x, x) and not aug.shared_randomness
    with pytest.raises(UserError, match="did you mean 'sigma'"):
        create("add_noise(sigm=1)")


def test_register_torchvision_transform_instance_and_class():
    register("erase_tv", v2.RandomErasing(p=1.0, value=0), replace=True)
    register("jitter_tv", v2.ColorJitter, replace=True)
    x, _ = batch(4, channels=3)
    a = create("erase_tv")(x, generator=torch.Generator().manual_seed(0)).x
    b = create("erase_tv")(x, generator=torch.Generator().manual_seed(0)).x
    assert torch.equal(a, b) and not torch.equal(a, x)
    per = create("erase_tv(per_sample=True)")(x, generator=torch.Generator().manual_seed(0)).x
    erased = [(per[i] == 0).flatten(1).all(0).nonzero().flatten().tolist() for i in range(4)]
    assert len({tuple(e) for e in erased}) > 1  # holes differ between images
    out = create("jitter_tv(brightness=0.5)")(x.float() / 255, generator=torch.Generator().manual_seed(0))
    assert out.x.shape == x.shape


def test_register_augmentation_subclass():
    @register(replace=True)
    class Darken(Augmentation):
        """Halve every pixel."""

        name = "darken"
        deterministic = True

        def __init__(self, factor: float = 0.5, *, context=None):
            super().__init__(context)
            self.factor = factor

        def apply(self, x, y, params):
            return AugmentResult(x * self.factor, y, params)

    assert create("darken(factor=0.25)")(torch.ones(1, 1, 1, 1)).x.item() == 0.25
    with pytest.raises(ValueError, match="already registered"):
        register(Darken)


def test_register_refuses_a_subclass_without_apply():
    class Old(Augmentation):
        name = "old_style"

        def forward(self, x, y, generator):
            return AugmentResult(x, y, {})

    with pytest.raises(TypeError, match="old_style must implement apply"):
        register(Old)


def test_cutmixpick_drop_in_with_any_module_and_autocast():
    teacher, student = tiny_net(1, 5, 0), tiny_net(1, 5, 1).train()
    x, y = batch(8, dtype=torch.float32)
    pick = CutMixPick(teacher, pool=2, criterion="s_entropy", student=student)
    bn_before = student[1].running_mean.clone()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pick(x, y, generator=torch.Generator().manual_seed(0))
    assert student.training and torch.equal(student[1].running_mean, bn_before)  # ranking leaves the student alone
    # 16 student forwards rank the pool; the teacher sees only the 8 views kept.
    assert out.x.shape == x.shape and out.y.shape == (8, 5) and out.forwards == 16 + 8
    # The returned teacher logits are the teacher's on the returned views ...
    with torch.no_grad():
        assert torch.allclose(out.teacher_logits.float(), teacher(out.x), atol=0.1)
    # ... and serve as a KD target in a training step.
    logits = student(out.x)
    loss = nn.functional.kl_div(logits.log_softmax(1), out.teacher_logits.float().softmax(1), reduction="batchmean")
    loss.backward()
    assert student[0].weight.grad is not None


def test_cutmixpick_default_generator_and_uint8():
    pick = CutMixPick(tiny_net(), pool=3)
    x, y = batch(5)
    out = pick(x, y)
    assert out.x.dtype == torch.uint8 and out.forwards == 15 and out.teacher_logits.shape == (5, 5)


def test_cli_list(capsys):
    assert main(["augment", "list"]) == 0
    text = capsys.readouterr().out
    for name in available():
        assert name in text
    assert "cutmix(alpha=1.0, per_sample=False)" in text and "randaugment(num_ops=2, magnitude=9" in text


def test_cli_preview_rejects_unknown_da(capsys, tmp_path):
    assert main(["augment", "preview", "cutmx", "--out", str(tmp_path / "g.png")]) == 2
    assert "did you mean 'cutmix'" in capsys.readouterr().err


def test_cli_preview_writes_a_png(tmp_path, fmnist):
    from dastat import models

    weights = tmp_path / "teacher.pth"
    torch.save(models.create_model("resnet20", num_classes=10, in_channels=1).state_dict(), weights)
    out = tmp_path / "grid.png"
    args = ["augment", "preview", "cutmix_pick_t", "--images", "3", "--teacher", str(weights), "--arch", "resnet20"]
    assert main(args + ["--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args + ["--out", str(tmp_path / "missing" / "grid.png")]) == 2


def test_registering_a_builtin_name_in_a_fresh_process_is_refused_at_register_time():
    """A user's @register("cutout") before any built-in was loaded must fail then, in one sentence,
    and leave every built-in usable (it used to be accepted and break the first create())."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent('''
        import json
        from dastat.augment import Augmentation, AugmentResult, available, create, register
        for kind in ("class", "function"):
            try:
                if kind == "class":
                    @register("cutout")
                    class MyCutout(Augmentation):
                        def apply(self, x, y, params):
                            return AugmentResult(x, y, params)
                else:
                    @register("mixup")
                    def my_mixup(x, y=None):
                        return x
            except ValueError as exc:
                print(json.dumps(["refused", str(exc)]))
            else:
                print(json.dumps(["accepted", kind]))
        create("mixup")
        print(json.dumps(available()))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    *refusals, listed = [json.loads(line) for line in out.stdout.strip().splitlines()]
    for (verdict, message), name in zip(refusals, ("cutout", "mixup")):
        assert verdict == "refused" and message.startswith(f"an augmentation named {name!r} is already registered")
        assert "\n" not in message and message.count(". ") == 0  # one sentence
    assert listed == list(_BUILTINS)


def test_importing_a_builtin_module_first_loads_the_registry_cleanly():
    """Scoring imports dastat.augment.mixing directly; its own @register must not load the other
    built-ins half-way through its import."""
    import subprocess
    import sys

    code = "import dastat.augment.mixing; import dastat.scoring; from dastat.augment import available; print(len(available()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from dastat.augment import PAPER_DAS
    assert int(out.stdout.strip()) >= len(PAPER_DAS)

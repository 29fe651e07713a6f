"""The contract every registered DA keeps, checked over the whole registry.

In the manner of torchvision's transform tests: the input is never modified in place,
shape/dtype/device are kept, the same generator state gives the same output, batches
of one and of odd sizes work, and an empty batch is rejected with a clear message.
"""

from __future__ import annotations

import pytest
import torch

from dastat.augment import create

from test_augment_helpers import batch, context, registered_specs

CUDA = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def _specs() -> list[str]:
    return registered_specs("crop_flip+cutmix", "pick(base=mixup,pool=2)", "pick(base=cutout,pool=3,criterion=kl)",
                            "pick(base=randaugment,criterion=s_entropy)")


SPECS = _specs()


def _run(spec, x, y, seed=0, channels=1):
    aug = create(spec, context(channels))
    return aug, aug(x, y, generator=torch.Generator(device=x.device).manual_seed(seed))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_contract(spec, dtype):
    x, y = batch(5, dtype=dtype)
    before, y_before = x.clone(), y.clone()
    aug, out = _run(spec, x, y)
    assert torch.equal(x, before) and torch.equal(y, y_before), "input modified in place"
    assert out.x.shape == x.shape and out.x.dtype == x.dtype and out.x.device == x.device
    if dtype.is_floating_point:
        assert out.x.min() >= 0 and out.x.max() <= 1
    if aug.mixes:
        assert out.y.shape == (5, 5) and torch.allclose(out.y.sum(1), torch.ones(5))
    elif "source" in out.params:  # pick keeps views of whichever images rank highest
        assert torch.equal(out.y, y[out.params["source"]])
    else:
        assert torch.equal(out.y, y)
    # Same generator state, same output; and the draws are recorded.
    _, again = _run(spec, x, y)
    assert torch.equal(out.x, again.x)
    assert isinstance(out.params, dict)


@pytest.mark.parametrize("spec", SPECS)
def test_three_channels_and_odd_sizes(spec):
    for n in (1, 3, 7):
        x, y = batch(n, channels=3, size=9, seed=n)
        _, out = _run(spec, x, y, channels=3)
        assert out.x.shape == x.shape and out.x.dtype == torch.uint8


@pytest.mark.parametrize("spec", SPECS)
def test_empty_batch_is_rejected(spec):
    aug = create(spec, context())
    with pytest.raises(ValueError, match="empty batch"):
        aug(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("spec", [s for s in SPECS if not create(s, context()).deterministic])
def test_generator_drives_the_draws(spec):
    x, y = batch(8, size=16)
    outs = [_run(spec, x, y, seed=s)[1].x for s in range(6)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "the output ignores the generator"


def test_global_rng_is_untouched():
    x, y = batch(4)
    state = torch.get_rng_state()
    for spec in SPECS:
        _run(spec, x, y)
    assert torch.equal(state, torch.get_rng_state())


def test_flags_are_declared():
    ctx = context()
    assert create("identity", ctx).deterministic and create("flip", ctx).deterministic
    for name in ("crop_flip", "cutout", "autoaugment", "mixup", "cutmix", "randaugment", "trivialaugment"):
        assert create(name, ctx).shared_randomness
        assert not create(f"{name}(per_sample=True)", ctx).shared_randomness
    assert create("cutmix_pick_t", ctx).mixes and not create("cutout", ctx).mixes


def test_identity_returns_the_input_object():
    x, y = batch(3)
    assert create("identity")(x, y).x is x


@pytest.mark.parametrize("device", CUDA)
@pytest.mark.parametrize("spec", SPECS)
def test_cuda(spec, device):
    x, y = batch(6)
    x, y = x.to(device), y.to(device)
    ctx = context()
    ctx.teacher.to(device)
    ctx.student.to(device)
    aug = create(spec, ctx)
    out = aug(x, y, generator=torch.Generator(device=device).manual_seed(0))
    again = aug(x, y, generator=torch.Generator(device=device).manual_seed(0))
    assert out.x.device == x.device and out.x.dtype == x.dtype and torch.equal(out.x, again.x)
    if out.teacher_logits is not None:
        assert out.teacher_logits.device == x.device
    # A CPU generator also drives a CUDA batch.
    aug(x, y, generator=torch.Generator().manual_seed(0))

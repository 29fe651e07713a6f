"""Property tests for the mixing DAs and pick (hypothesis, tiny tensors).

References are computed independently of the code under test: images are constant
per index so that every output pixel says which image it came from; Mixup is
recomputed in float64 from the recorded draws; pick's choice is checked against the
teacher's entropy recomputed on the whole pool.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dastat.augment import AugmentContext, create

from test_augment_helpers import tiny_net

SETTINGS = settings(max_examples=40, deadline=None)


def _tagged(n: int, h: int, w: int) -> torch.Tensor:
    """Image i is filled with the value i + 1, so a pixel names its source image."""
    return (torch.arange(1, n + 1, dtype=torch.uint8)).view(n, 1, 1, 1).expand(n, 2, h, w).clone()


@SETTINGS
@given(n=st.integers(2, 9), h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**31),
       per_sample=st.booleans(), alpha=st.sampled_from([0.2, 1.0, 3.0]))
def test_cutmix_lam_is_the_kept_area_and_pixels_come_from_the_pair(n, h, w, seed, per_sample, alpha):
    x = _tagged(n, h, w)
    y = torch.arange(n)
    out = create(f"cutmix(alpha={alpha},per_sample={per_sample})")(x, y, generator=torch.Generator().manual_seed(seed))
    perm = out.params["perm"]
    assert sorted(perm.tolist()) == list(range(n))
    assert bool((perm != torch.arange(n)).all()), "an image was paired with itself"
    own = out.x == x  # pixels still from the image itself
    partner = out.x == x[perm]
    assert bool((own | partner).all()), "a pixel came from neither the image nor its partner"
    kept = own[:, 0].sum(dim=(1, 2)).double() / (h * w)
    lam = torch.as_tensor(out.params["lam"], dtype=torch.float64).expand(n)
    assert torch.equal(kept, lam) or torch.allclose(kept, lam, rtol=0, atol=1e-12)
    # Soft labels: lam on the own class, 1 - lam on the partner's.
    expected = lam.view(-1, 1) * torch.eye(n)[y] + (1 - lam.view(-1, 1)) * torch.eye(n)[y[perm]]
    assert torch.allclose(out.y.double(), expected, atol=1e-6)
    # The box is one rectangle, side int(side * sqrt(1 - lam_drawn)) before clipping at the borders.
    box = out.params["box"]
    drawn = torch.as_tensor(out.params["lam_drawn"], dtype=torch.float64).expand(n)[: box.shape[0]]
    assert bool(((box[:, 2] - box[:, 0]) <= torch.floor(h * torch.sqrt(1 - drawn))).all())


def test_cutmix_single_image_keeps_itself():
    x = _tagged(1, 4, 4)
    out = create("cutmix")(x, torch.tensor([0]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.x, x) and out.params["perm"].tolist() == [0]


@SETTINGS
@given(n=st.integers(1, 8), seed=st.integers(0, 2**31), per_sample=st.booleans())
def test_mixup_is_the_convex_combination_of_the_pair(n, seed, per_sample):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 3, 3, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    out = create(f"mixup(per_sample={per_sample})", AugmentContext(num_classes=4))(x, y, generator=g)
    lam = torch.as_tensor(out.params["lam"], dtype=torch.float64).expand(n)
    assert bool(((lam >= 0) & (lam <= 1)).all())
    if not per_sample:
        assert isinstance(out.params["lam"], float)
    perm = out.params["perm"]
    x64 = x.double()
    expected = lam.view(-1, 1, 1, 1) * x64 + (1 - lam.view(-1, 1, 1, 1)) * x64[perm]
    assert torch.allclose(out.x.double(), expected, atol=1e-6)
    onehot = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(out.y.double(), lam.view(-1, 1) * onehot[y] + (1 - lam.view(-1, 1)) * onehot[y[perm]], atol=1e-6)


def test_mixup_uint8_rounds_to_the_nearest_level():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1)
    out = create("mixup")(x, generator=torch.Generator().manual_seed(3))
    lam, perm = out.params["lam"], out.params["perm"]
    expected = [round(lam * float(x[i]) + (1 - lam) * float(x[perm[i]])) for i in range(2)]
    assert out.x.flatten().tolist() == expected


def test_beta_draws_follow_the_law():
    from scipy import stats

    lam = [create("mixup(alpha=0.4)")(torch.zeros(2, 1, 1, 1), generator=torch.Generator().manual_seed(s)).params["lam"]
           for s in range(400)]
    assert stats.kstest(lam, stats.beta(0.4, 0.4).cdf).pvalue > 1e-3


def _entropy(logits):
    p = torch.softmax(logits.double(), 1)
    return -(p * torch.log(p)).sum(1)


@SETTINGS
@given(n=st.integers(1, 6), pool=st.integers(1, 3), seed=st.integers(0, 2**31),
       criterion=st.sampled_from(["t_entropy", "s_entropy", "kl"]))
def test_pick_keeps_exactly_the_top_k(n, pool, seed, criterion):
    teacher, student = tiny_net(1, 5, 0), tiny_net(1, 5, 1)
    x = torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed))
    y = torch.arange(n) % 5
    ctx = AugmentContext(num_classes=5, teacher=teacher, student=student)
    out = create(f"pick(base=mixup,pool={pool},criterion={criterion})", ctx)(x, y, generator=torch.Generator().manual_seed(seed))
    # The pool, rebuilt independently with the same generator stream.
    g = torch.Generator().manual_seed(seed)
    mix = create("mixup", ctx)
    views = torch.cat([mix(x, y, generator=g).x for _ in range(pool)])
    with torch.no_grad():
        t, s = teacher(views).double(), student(views).double()
    score = {"t_entropy": _entropy(t), "s_entropy": _entropy(s),
             "kl": (torch.softmax(t, 1) * (torch.log_softmax(t, 1) - torch.log_softmax(s, 1))).sum(1)}[criterion]
    chosen = out.params["picked"]
    assert len(set(chosen.tolist())) == n
    rest = torch.ones(len(views), dtype=torch.bool)
    rest[chosen] = False
    if rest.any():
        assert score[chosen].min() >= score[rest].max() - 1e-6
    assert torch.allclose(out.x, views[chosen])
    assert torch.allclose(out.teacher_logits.double(), t[chosen], atol=1e-5)
    if criterion == "t_entropy":
        assert out.student_logits is None
    else:  # the student's logits on the kept views come back for reuse
        assert torch.allclose(out.student_logits.double(), s[chosen], atol=1e-5)
    # The student ranks the pool for s_entropy, so the teacher only sees the n views kept.
    expected = {"t_entropy": pool * n, "s_entropy": pool * n + n, "kl": 2 * pool * n}[criterion]
    assert out.forwards == expected

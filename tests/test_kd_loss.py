"""The KD loss and the recipes against hand-written formulas and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dastat.errors import UserError
from dastat.kd import distillation_loss, kd_divergence, lr_factor, resolve_config


def _reference_kd(s: torch.Tensor, t: torch.Tensor, T: float) -> torch.Tensor:
    # RepDistiller's DistillKL, written as it is there: kl_div(sum) · T² / batch.
    p_s = F.log_softmax(s / T, dim=1)
    p_t = F.softmax(t / T, dim=1)
    return F.kl_div(p_s, p_t, reduction="sum") * T**2 / s.shape[0]


def test_kd_divergence_matches_kl_div_on_fixed_logits():
    s = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    t = torch.tensor([[1.5, 0.0, -0.5], [3.0, -2.0, 0.0]])
    for T in (1.0, 4.0):
        assert torch.allclose(kd_divergence(s, t, T), _reference_kd(s, t, T), atol=1e-6)


def test_kd_divergence_hand_computed():
    # Two classes, T = 2: softmax([2, 0]/2) = [e/(e+1), 1/(e+1)], softmax([0, 2]/2) its mirror.
    e = math.e
    p, q = e / (e + 1), 1 / (e + 1)
    kl = p * math.log(p / q) + q * math.log(q / p)  # KL(teacher ‖ student)
    got = kd_divergence(torch.tensor([[0.0, 2.0]]), torch.tensor([[2.0, 0.0]]), temperature=2.0)
    assert got.item() == pytest.approx(4 * kl, rel=1e-6)
    assert kd_divergence(torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0, 3.0]]), 4.0).item() == pytest.approx(0, abs=1e-7)


def test_distillation_loss_is_the_papers_weighted_sum():
    g = torch.Generator().manual_seed(0)
    s_o, s_v, t_o, t_v = (torch.randn(5, 10, generator=g) for _ in range(4))
    y = torch.tensor([0, 3, 9, 2, 2])
    parts = distillation_loss(s_o, s_v, t_o, t_v, y, temperature=4.0, alpha=0.9, gamma=0.1)
    ce = F.cross_entropy(s_o, y)
    expected = 0.1 * ce + 0.9 * (_reference_kd(s_o, t_o, 4.0) + _reference_kd(s_v, t_v, 4.0))
    assert parts.total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts.ce.item() == pytest.approx(ce.item(), rel=1e-6)
    assert parts.kl_view.item() == pytest.approx(_reference_kd(s_v, t_v, 4.0).item(), rel=1e-6)
    assert parts.detached().shape == (4,)


def test_distillation_loss_gradient_flows_only_through_the_student():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4)
    distillation_loss(s, s, t, t, torch.tensor([0, 1, 2])).total.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_paper_recipe_is_section_5():
    cfg = resolve_config("paper")
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay) == (240, 64, 0.05, 0.9, 5e-4)
    assert (cfg.temperature, cfg.alpha, cfg.gamma, cfg.milestones, cfg.lr_decay) == (4.0, 0.9, 0.1, [150, 180, 210], 0.1)
    for small in ("MobileNetV2", "ShuffleV1", "ShuffleV2"):
        assert resolve_config("paper", student=small).lr == 0.01
    assert resolve_config("paper", student="ShuffleV2", lr=0.02).lr == 0.02  # an explicit lr wins


def test_multistep_schedule_by_hand():
    cfg = resolve_config("paper")
    spe = 3  # steps per epoch
    lrs = {epoch: lr_factor(epoch * spe + 1, cfg, spe) for epoch in (0, 149, 150, 179, 180, 210, 239)}
    assert lrs == pytest.approx({0: 1, 149: 1, 150: 0.1, 179: 0.1, 180: 0.01, 210: 0.001, 239: 0.001})


def test_cosine_schedule_by_hand():
    cfg = resolve_config("quick", epochs=4, warmup_epochs=0)
    spe = 10
    assert lr_factor(0, cfg, spe) == pytest.approx(1.0)
    assert lr_factor(20, cfg, spe) == pytest.approx(0.5)  # half-way: cos(pi/2) = 0
    assert lr_factor(10, cfg, spe) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert lr_factor(40, cfg, spe) == pytest.approx(0.0, abs=1e-12)
    warm = resolve_config("quick", epochs=4, warmup_epochs=1)
    assert lr_factor(4, warm, spe) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 40)) * 5 / 10)


def test_overrides_and_bad_options():
    cfg = resolve_config("quick", epochs=7, lr=0.3, temperature=2, alpha=0.5, gamma=0.5, batch_size=32)
    assert (cfg.epochs, cfg.lr, cfg.temperature, cfg.alpha, cfg.gamma, cfg.batch_size) == (7, 0.3, 2, 0.5, 0.5, 32)
    with pytest.raises(UserError, match="unknown recipe"):
        resolve_config("fast")
    with pytest.raises(UserError, match="did you mean 'epochs'"):
        resolve_config("paper", epoch=3)
    with pytest.raises(UserError, match="--lr"):
        resolve_config("paper", lr=-1)

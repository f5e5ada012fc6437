"""DKD against the KD identity of seed 001 Eq. 10-11, and GHL's down-weighting of the majority."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faultedge.train.losses import DKDConfig, dkd_objective, ghl_loss, ghl_thresholds, ghl_weights, kd_loss, tckd_nckd


@pytest.mark.parametrize("temperature", [1.0, 2.5, 4.0])
def test_kd_equals_tckd_plus_weighted_nckd(temperature):
    torch.manual_seed(0)
    s, t = torch.randn(64, 10) * 3, torch.randn(64, 10) * 3
    y = torch.randint(0, 10, (64,))
    for i in range(64):  # the identity holds per sample
        si, ti, yi = s[i : i + 1], t[i : i + 1], y[i : i + 1]
        tckd, nckd = tckd_nckd(si, ti, yi, temperature)
        p_t = F.softmax(ti / temperature, 1)[0, yi].item()
        assert kd_loss(si, ti, temperature).item() == pytest.approx((tckd + (1 - p_t) * nckd).item(), rel=1e-4, abs=1e-6)


def test_dkd_is_zero_when_student_equals_teacher_and_warms_up():
    torch.manual_seed(1)
    logits, y = torch.randn(32, 10), torch.randint(0, 10, (32,))
    tckd, nckd = tckd_nckd(logits, logits, y, 4.0)
    assert abs(tckd.item()) < 1e-6 and abs(nckd.item()) < 1e-6
    cfg = DKDConfig(gamma=0.2, warmup_epochs=5)
    s = torch.randn(32, 10)
    ce = F.cross_entropy(s, y)
    assert dkd_objective(s, logits, y, 0, cfg).item() == pytest.approx(0.8 * ce.item(), rel=1e-6)
    t5, n5 = tckd_nckd(s, logits, y, cfg.temperature)
    full = 0.8 * ce + 0.2 * (cfg.alpha * t5 + cfg.beta * n5)
    assert dkd_objective(s, logits, y, 7, cfg).item() == pytest.approx(full.item(), rel=1e-6)
    assert dkd_objective(s, logits, y, 2, cfg).item() < full.item()


def test_ghl_thresholds_follow_the_class_distribution():
    counts = torch.tensor([3200] + [64] * 9)
    th = ghl_thresholds(counts, alpha=1.0, f1=1.0)
    assert th[0] > 0.45 and (th[1:] < 0).all()
    assert torch.allclose(ghl_thresholds(counts, 1.0, 0.5), th * 0.5)


def test_ghl_down_weights_the_similar_majority_and_keeps_the_minority():
    torch.manual_seed(0)
    majority = torch.tensor([4.0, 0.0, 0.0]) + 0.05 * torch.randn(40, 3)  # near-identical gradients
    minority = torch.randn(4, 3)
    logits = torch.cat([majority, minority])
    y = torch.tensor([0] * 40 + [1] * 2 + [2] * 2)
    th = ghl_thresholds(torch.tensor([3200, 64, 64]), alpha=1.0, f1=1.0)
    w = ghl_weights(logits, y, th)
    assert (w[:40] < 0.1).all()  # each majority sample shares its gradient direction with ~40 others
    assert torch.equal(w[40:], torch.ones(4))
    plain = F.cross_entropy(logits, y, reduction="none")
    assert ghl_loss(logits, y, th).item() == pytest.approx((w * plain).mean().item(), rel=1e-6)
    # the majority's share of the loss drops from most of it to a small part
    assert (w * plain)[:40].sum() / (w * plain).sum() < plain[:40].sum() / plain.sum()

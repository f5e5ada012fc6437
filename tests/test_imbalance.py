"""Seed 003's imbalance study: GHL against the paper's equations on hand-made logits, the class-loss
API, the protocol's counts and time split on the real CWRU files, and a short DCNN training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.imbalance import ImbalanceSpec, make_imbalanced
from faultedge.errors import DataError, FaultedgeError
from faultedge.train.losses import CLASS_LOSSES, GHLoss, class_costs, class_loss, focal_loss, ghl_thresholds, ghl_weights


def ce_gradient(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.softmax(logits, 1) - F.one_hot(target, logits.shape[1]).float()


def test_ghl_thresholds_are_eq12_times_the_annealing_factor():
    counts = torch.tensor([3200, 64, 64])
    share = 3200 / 3328
    expected = 1.5 * 0.4 * (1 / (1 + math.exp(-(share - 1 / 3) * 15)) - 0.5)
    th = ghl_thresholds(counts, alpha=1.5, f1=0.4)
    assert th[0].item() == pytest.approx(expected, rel=1e-12)
    assert (th[1:] < 0).all()  # rarer than 1/C: never compressed


def test_similar_gradients_are_compressed_and_the_minority_keeps_weight_one():
    # class 0: three samples with near-identical CE gradients and one pointing elsewhere; classes 1, 2: minority
    logits = torch.tensor([[0.0, 0.0, 5.0], [0.0, 0.1, 5.1], [0.1, 0.0, 4.9], [0.0, 5.0, 0.0],
                           [0.0, 3.0, 0.0], [0.0, 3.1, 0.0], [0.0, 0.0, 2.0]])
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    th = ghl_thresholds(torch.tensor([3200, 64, 64]), alpha=1.0, f1=1.0)  # class 0: ~0.5 rad
    w = ghl_weights(logits, y, th)
    assert torch.allclose(w[:3], torch.full((3,), 1 / 3))  # GD = 3: itself and the two similar ones
    assert w[3] == 1.0  # the dissimilar majority sample keeps its gradient
    assert torch.equal(w[4:], torch.ones(3))  # minority classes (negative threshold): weight 1
    # Eq. 6 by hand for the pair (0, 1): within the threshold, and (0, 3) outside it
    d = ce_gradient(logits, y)
    gs = lambda i, j: math.acos(float(d[i] @ d[j] / (d[i].norm() * d[j].norm())))  # noqa: E731
    assert gs(0, 1) < th[0] < gs(0, 3)


def test_the_paper_dimension_reduction_keeps_every_angle():
    """Eq. 15-17: CE gradients w.r.t. the logits sum to zero, and two of them expressed in a Gram-Schmidt
    basis of their own plane (an orthogonal map) keep their angle, so computing GS in the full space is exact."""
    torch.manual_seed(0)
    logits, y = torch.randn(2, 10, dtype=torch.float64) * 3, torch.tensor([0, 0])
    d = F.softmax(logits, 1) - F.one_hot(y, 10).double()
    assert torch.allclose(d.sum(1), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    e1 = d[0] / d[0].norm()
    v = d[1] - (d[1] @ e1) * e1
    A = torch.stack([e1, v / v.norm()], 1)  # 10 x 2, A^T A = I
    reduced = d @ A
    full = torch.arccos(d[0] @ d[1] / (d[0].norm() * d[1].norm()))
    two_d = torch.arccos(reduced[0] @ reduced[1] / (reduced[0].norm() * reduced[1].norm()))
    assert two_d.item() == pytest.approx(full.item(), abs=1e-9)


def test_ghl_anneals_with_the_training_f1():
    torch.manual_seed(0)
    counts = torch.tensor([40, 4, 4])
    loss = GHLoss(counts)
    logits = torch.tensor([[5.0, 0.0, 0.0]] * 40 + [[0.0, 5.0, 0.0]] * 4 + [[0.0, 0.0, 5.0]] * 4) + 0.01 * torch.randn(48, 3)
    y = torch.tensor([0] * 40 + [1] * 4 + [2] * 4)
    assert loss.gamma == 1.0
    first = loss(logits, y)
    loss.end_epoch()  # every prediction was right: F1 = 1, gamma = 0, no compression left
    assert loss.gamma == pytest.approx(0.0)
    assert loss(logits, y).item() > first.item()  # the majority's similar gradients count in full again


def test_class_loss_api():
    torch.manual_seed(0)
    counts = torch.tensor([300, 30, 3])
    logits, y = torch.randn(16, 3, requires_grad=True), torch.randint(0, 3, (16,))
    for name in CLASS_LOSSES:
        value = class_loss(name, counts)(logits, y)
        assert value.dim() == 0 and torch.isfinite(value)
        value.backward()
    costs = class_costs(counts)
    assert (costs * counts).sum().item() == pytest.approx(counts.sum().item(), rel=1e-6)  # count-weighted mean cost 1
    assert costs[2] / costs[0] == pytest.approx(100.0)
    assert focal_loss(logits, y, gamma=0.0).item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert class_loss("ce", counts)(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())
    with pytest.raises(FaultedgeError, match="ce, weighted, focal, ghl"):
        class_loss("balanced", counts)
    with pytest.raises(FaultedgeError, match="class counts"):
        class_loss("ghl", torch.tensor([5]))


@pytest.mark.parametrize("set_name, n_fault", [("set1", 64), ("set2", 16)])
def test_protocol_counts_and_time_split(cwru_0hp, set_name, n_fault):
    data = make_imbalanced(cwru_0hp, ImbalanceSpec(set_name=set_name))
    assert data.counts.tolist() == [3200] + [n_fault] * 9
    assert np.bincount(data.test.y).tolist() == [108] * 10
    assert data.train.x.shape[1:] == data.test.x.shape[1:] == (1024,)
    for i, rec in enumerate(cwru_0hp):
        train_end = data.train.start[data.train.record == i].max() + 1024
        test_start = data.test.start[data.test.record == i].min()
        assert train_end <= data.boundaries[i] <= test_start  # no test window shares a sample with training
        assert data.test.start[data.test.record == i].max() + 1024 <= rec.signal.size
    assert data.strides["97_Normal_0.mat"] < 1024  # the normal record needs overlapping training windows
    assert all(s == 1024 for name, s in data.strides.items() if name != "97_Normal_0.mat")


def test_protocol_is_seeded_and_noise_is_applied(cwru_0hp):
    a, b = (make_imbalanced(cwru_0hp, ImbalanceSpec(set_name="set2", seed=s)) for s in (3, 3))
    c = make_imbalanced(cwru_0hp, ImbalanceSpec(set_name="set2", seed=4))
    assert np.array_equal(a.train.start, b.train.start) and not np.array_equal(a.train.start, c.train.start)
    # one fixed test set for every seed (the input scale comes from each seed's training windows)
    assert np.array_equal(a.test.start, c.test.start) and np.allclose(a.test.x * a.scale, c.test.x * c.scale, atol=1e-5)
    noisy = make_imbalanced(cwru_0hp, ImbalanceSpec(set_name="set2", seed=3, snr_db=-6.0))
    clean_power = float(np.mean((a.test.x * a.scale) ** 2))
    noise_power = float(np.mean((noisy.test.x * noisy.scale - a.test.x * a.scale) ** 2))
    assert 10 * math.log10(clean_power / noise_power) == pytest.approx(-6.0, abs=0.3)
    with pytest.raises(DataError, match="set1, set2"):
        ImbalanceSpec(set_name="set3")


def test_dcnn_family_learns_on_a_small_imbalanced_set(cwru_dir, tmp_path):
    from faultedge.families import family
    from faultedge.families.dcnn import TrainSpec
    from faultedge.models.dcnn import ImbalanceFit
    from faultedge.runs import RunDir

    dcnn = family("dcnn")
    assert dcnn.steps == ("train",)
    spec = TrainSpec(data=str(cwru_dir), protocol=ImbalanceSpec(set_name="set2", n_normal=96, n_test=20),
                     loss="ghl", fit=ImbalanceFit(epochs=12, batch_size=32))
    run = RunDir(tmp_path / "dcnn")
    entry = dcnn.train(run, spec, progress=False)["dcnn"]
    assert entry["params"] == 96_902 and entry["train_counts"] == [96] + [16] * 9
    assert entry["test"]["accuracy"] > 50.0  # chance is 10 %
    model, weights = dcnn.float_model(run)
    assert weights == "dcnn.pt" and model.n_samples == 1024
    with pytest.raises(FaultedgeError, match="float-only"):
        dcnn.qat_config(8)
    assert len(CLASS_NAMES) == model.fc[-1].out_features

"""Training objectives: cross-entropy, decoupled knowledge distillation (DKD) and the class
losses for imbalanced data (cross-entropy, class-cost weighting, focal loss, the gradient-harmonised
loss GHL of seed 003), the last four behind one name -> loss API (`class_loss`).

DKD follows the mdistiller reference: TCKD is the KL divergence of the binary
[target, rest] probabilities, NCKD the KL divergence of the softmax over non-target classes
(target logit masked by subtracting 1000), both at temperature T and scaled by T².
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from faultedge.errors import FaultedgeError

_MASK = 1000.0


def tckd_nckd(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch-mean TCKD and NCKD (each already multiplied by T²)."""
    T = temperature
    gt = F.one_hot(target, student.shape[-1]).to(student.dtype)
    p_s = F.softmax(student / T, dim=1)
    p_t = F.softmax(teacher / T, dim=1)
    # binary probabilities [p_target, p_rest]
    b_s = torch.stack([(p_s * gt).sum(1), (p_s * (1 - gt)).sum(1)], dim=1).clamp_min(1e-12)
    b_t = torch.stack([(p_t * gt).sum(1), (p_t * (1 - gt)).sum(1)], dim=1).clamp_min(1e-12)
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1).mean() * T * T
    log_q_s = F.log_softmax(student / T - _MASK * gt, dim=1)
    q_t = F.softmax(teacher / T - _MASK * gt, dim=1)
    nckd = F.kl_div(log_q_s, q_t, reduction="batchmean") * T * T
    return tckd, nckd


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Classical KD = KL(p_T || p_S) at temperature T, × T² (batch mean)."""
    T = temperature
    return F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher / T, 1), reduction="batchmean") * T * T


@dataclass(frozen=True)
class DKDConfig:
    """loss = (1-γ)·CE + γ·min(epoch/warmup, 1)·(α·TCKD + β·NCKD)  (seed 001 Eq. 14).

    Defaults are BearingPGA-Net's weights, which measured best on the leak-free protocol
    (REFERENCE-NOTES); the DKD paper's defaults are α=1, β=8, T=4, warmup 20, γ=0.5 with CE weight 1.
    """

    alpha: float = 5.0
    beta: float = 1.0
    temperature: float = 2.5
    gamma: float = 0.2
    warmup_epochs: int = 5


def dkd_objective(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, epoch: int, cfg: DKDConfig,
                  ce: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy) -> torch.Tensor:
    """The combined DKD training loss of seed 001 Eq. 14 with a linear warm-up of the KD term; `ce` is its
    label term (cross-entropy, or a class-imbalance loss of `class_loss`)."""
    tckd, nckd = tckd_nckd(student, teacher, target, cfg.temperature)
    warm = min(epoch / cfg.warmup_epochs, 1.0) if cfg.warmup_epochs > 0 else 1.0
    return (1 - cfg.gamma) * ce(student, target) + cfg.gamma * warm * (cfg.alpha * tckd + cfg.beta * nckd)


def ghl_thresholds(class_counts: torch.Tensor, alpha: float, f1: float) -> torch.Tensor:
    """Per-class gradient-similarity thresholds GS_T^c of seed 003 Eq. 13 (radians).

    `f1` is Eq. 13's annealing factor γ. Classes rarer than 1/C get a negative threshold: none of
    their samples is compressed.
    """
    share = class_counts.to(torch.float64) / class_counts.sum()
    C = class_counts.numel()
    return alpha * f1 * (torch.sigmoid((share - 1.0 / C) * 5 * C) - 0.5)


def ghl_weights(logits: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """1/GD_i per sample (seed 003 Eq. 5-11), computed on the CE gradient w.r.t. the logits.

    δ_i = softmax(z_i) - onehot(y_i) sums to zero over the classes, the property the paper's
    dimensionality reduction (Eq. 15-17) rests on. That reduction is an orthogonal change of
    basis, so it leaves every angle GS_ij unchanged: we compute the angles directly in the
    C-dimensional space (C = 10, a B x B x C product per batch), which is Eq. 14 exactly.
    GD_i counts same-class samples j with 0 <= GS_ij <= GS_T^c (Eq. 8-9). The sample itself
    (GS_ii = 0) counts whenever its class threshold is >= 0; for a negative threshold (a
    minority class) nothing counts and the weight is 1, i.e. the sample is left alone.
    """
    with torch.no_grad():
        delta = F.softmax(logits.double(), 1) - F.one_hot(target, logits.shape[1]).double()
        unit = F.normalize(delta, dim=1)
        angle = torch.arccos((unit @ unit.T).clamp(-1.0, 1.0))
        angle.fill_diagonal_(0.0)  # arccos(1 - eps) is ~1e-8 rad, not 0: the sample always matches itself
        same = target[:, None] == target[None, :]
        within = angle <= thresholds[target][:, None].to(angle.dtype)
        density = (same & within).sum(1).clamp_min(1)
        return (1.0 / density).to(logits.dtype)


def ghl_loss(logits: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Gradient-harmonised cross-entropy (Eq. 11): each sample's CE divided by its gradient density, batch mean."""
    w = ghl_weights(logits, target, thresholds)
    return (w * F.cross_entropy(logits, target, reduction="none")).mean()


# ------------------------------------------------------------------------- class losses (imbalance)

CLASS_LOSSES = ("ce", "weighted", "focal", "ghl")
GHL_ALPHA = 1.0  # Eq. 13's α: the paper gives no value; 1 rad, fixed before any measurement, not tuned
FOCAL_GAMMA = 2.0


def class_costs(class_counts: torch.Tensor) -> torch.Tensor:
    """Class costs inversely proportional to the counts, normalised so the count-weighted mean cost is 1
    (w_c = N / (C · N_c), scikit-learn's "balanced"); an empty class gets cost 0 (it never occurs)."""
    counts = class_counts.to(torch.float64)
    cost = counts.sum() / (counts.numel() * counts.clamp_min(1))
    return torch.where(counts > 0, cost, torch.zeros_like(cost)).float()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Focal loss -(1 - p_t)^γ log p_t (Lin et al. 2017, no α balancing), batch mean."""
    logp = F.log_softmax(logits, 1).gather(1, target[:, None]).squeeze(1)
    return (-(1 - logp.exp()).pow(gamma) * logp).mean()


def macro_f1(confusion: torch.Tensor) -> float:
    """Macro F1 (0..1) over the classes present in a confusion matrix (rows: truth)."""
    cm = confusion.double()
    tp, actual, predicted = cm.diag(), cm.sum(1), cm.sum(0)
    f1 = 2 * tp / (actual + predicted).clamp_min(1)
    present = actual > 0
    return float(f1[present].mean()) if present.any() else 0.0


class ClassLoss:
    """(logits, target) -> scalar loss; `end_epoch()` is called by the training loop after each epoch
    (a no-op except for GHL, whose threshold anneals with the training F1)."""

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(logits, target)

    def end_epoch(self) -> None:
        """Nothing to update for a fixed loss."""


class GHLoss(ClassLoss):
    """GHL with Eq. 13's thresholds from the training counts and its F1 annealing factor γ.

    The paper says γ "represents the F1-score" and that the threshold should DEcrease as the samples
    converge (Sec. II-C); the F1-score rises as they converge, so the two statements contradict each
    other. We follow the stated purpose: γ = 1 - F1, with F1 the macro F1 of the previous epoch's
    training predictions (γ = 1 before the first epoch ends): strong compression while the majority
    dominates, none once every class is learnt.
    """

    def __init__(self, class_counts: torch.Tensor, alpha: float = GHL_ALPHA) -> None:
        super().__init__(self._loss)
        self.base = ghl_thresholds(class_counts, alpha, 1.0)
        self.gamma = 1.0
        self.confusion = torch.zeros(class_counts.numel(), class_counts.numel(), dtype=torch.int64)

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            C = self.confusion.shape[0]
            self.confusion += torch.bincount(target * C + logits.argmax(1), minlength=C * C).reshape(C, C)
        return ghl_loss(logits, target, self.base * self.gamma)

    def end_epoch(self) -> None:
        """Anneal: γ = 1 - macro F1 of the epoch's training predictions, then start a new count."""
        if self.confusion.sum() > 0:
            self.gamma = 1.0 - macro_f1(self.confusion)
        self.confusion.zero_()


def class_loss(name: str, class_counts: torch.Tensor) -> ClassLoss:
    """The class loss `name` (one of CLASS_LOSSES) for a training set with `class_counts` samples per class.

    "ce": cross-entropy; "weighted": cross-entropy with the costs of `class_costs` (PyTorch's weighted
    mean over the batch); "focal": focal loss, γ = 2; "ghl": the gradient-harmonised loss (GHLoss).
    """
    counts = torch.as_tensor(class_counts)
    if counts.ndim != 1 or counts.numel() < 2 or (counts < 0).any() or counts.sum() <= 0:
        raise FaultedgeError(f"class counts must be a 1-D tensor of >= 2 non-negative counts with a positive sum, got {counts.tolist()}")
    if name == "ce":
        return ClassLoss(F.cross_entropy)
    if name == "weighted":
        costs = class_costs(counts)
        return ClassLoss(lambda logits, target: F.cross_entropy(logits, target, weight=costs.to(logits.dtype)))
    if name == "focal":
        return ClassLoss(focal_loss)
    if name == "ghl":
        return GHLoss(counts)
    raise FaultedgeError(f"unknown class loss {name!r}; the class losses are {', '.join(CLASS_LOSSES)}")

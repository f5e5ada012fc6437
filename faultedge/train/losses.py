"""Training objectives: cross-entropy, decoupled knowledge distillation (DKD) and the
gradient-harmonised loss (GHL) for imbalanced data.

DKD follows the mdistiller reference: TCKD is the KL divergence of the binary
[target, rest] probabilities, NCKD the KL divergence of the softmax over non-target classes
(target logit masked by subtracting 1000), both at temperature T and scaled by T².
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


def dkd_objective(student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, epoch: int, cfg: DKDConfig) -> torch.Tensor:
    """The combined DKD training loss of seed 001 Eq. 14 with a linear warm-up of the KD term."""
    tckd, nckd = tckd_nckd(student, teacher, target, cfg.temperature)
    warm = min(epoch / cfg.warmup_epochs, 1.0) if cfg.warmup_epochs > 0 else 1.0
    ce = F.cross_entropy(student, target)
    return (1 - cfg.gamma) * ce + cfg.gamma * warm * (cfg.alpha * tckd + cfg.beta * nckd)


def ghl_thresholds(class_counts: torch.Tensor, alpha: float, f1: float) -> torch.Tensor:
    """Per-class gradient-similarity thresholds GS_T^c of seed 003 Eq. 13 (radians).

    Classes rarer than 1/C get a negative threshold: none of their samples is compressed.
    """
    share = class_counts.to(torch.float64) / class_counts.sum()
    C = class_counts.numel()
    return alpha * f1 * (torch.sigmoid((share - 1.0 / C) * 5 * C) - 0.5)


def ghl_weights(logits: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """1/GD_i per sample (seed 003 Eq. 5-11), computed on the CE gradient w.r.t. the logits.

    GD_i counts same-class samples whose output gradient lies within the class threshold angle
    of sample i's. The sample itself always counts, so GD_i >= 1 and weights lie in (0, 1].
    """
    with torch.no_grad():
        delta = F.softmax(logits, 1) - F.one_hot(target, logits.shape[1]).to(logits.dtype)
        unit = F.normalize(delta, dim=1)
        angle = torch.arccos((unit @ unit.T).clamp(-1.0, 1.0))
        same = target[:, None] == target[None, :]
        within = angle <= thresholds[target][:, None].to(angle.dtype)
        density = (same & within).sum(1).clamp_min(1)
        return 1.0 / density.to(logits.dtype)


def ghl_loss(logits: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Gradient-harmonised cross-entropy: each sample's CE divided by its gradient density."""
    w = ghl_weights(logits, target, thresholds)
    return (w * F.cross_entropy(logits, target, reduction="none")).mean()

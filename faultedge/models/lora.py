"""Low-rank adapters for Conv1d and Linear, and their exact merge back into plain layers.

ΔW = (B @ A) * alpha / rank with B initialised to zero, so fine-tuning starts from the
distilled student exactly; the base weights are frozen. `merge_lora` folds ΔW into the base
weights and returns an ordinary `Student`: only merged models go on to quantisation.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from faultedge.models.student import Student


class LoRALayer(nn.Module):
    """A frozen Conv1d or Linear plus a trainable rank-r update of its weight."""

    def __init__(self, base: nn.Conv1d | nn.Linear, rank: int = 12, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(base, (nn.Conv1d, nn.Linear)):
            raise TypeError(f"LoRA supports Conv1d and Linear, not {type(base).__name__}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        out_dim = base.weight.shape[0]
        in_dim = base.weight[0].numel()  # in_channels * kernel for a convolution
        self.rank = rank
        self.scale = (alpha if alpha is not None else rank) / rank
        self.lora_A = nn.Parameter(torch.empty(rank, in_dim))
        self.lora_B = nn.Parameter(torch.zeros(out_dim, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A).view_as(self.base.weight) * self.scale

    def merged_weight(self) -> torch.Tensor:
        return self.base.weight + self.delta_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.merged_weight()
        if isinstance(self.base, nn.Linear):
            return F.linear(x, w, self.base.bias)
        b = self.base
        return F.conv1d(x, w, b.bias, b.stride, b.padding, b.dilation, b.groups)


def add_lora(student: Student, rank: int = 12, alpha: float | None = None) -> Student:
    """A copy of `student` whose conv and fc carry LoRA adapters (base weights frozen)."""
    model = copy.deepcopy(student)
    model.conv = LoRALayer(model.conv, rank, alpha)
    model.fc = LoRALayer(model.fc, rank, alpha)
    return model


def merge_lora(model: Student) -> Student:
    """A plain Student whose weights are base + ΔW; its outputs equal the LoRA model's."""
    n_classes, flat = model.fc.base.weight.shape if isinstance(model.fc, LoRALayer) else model.fc.weight.shape
    conv = model.conv.base if isinstance(model.conv, LoRALayer) else model.conv
    merged = Student(model.n_features, n_classes, channels=conv.out_channels)
    with torch.no_grad():
        for name in ("conv", "fc"):
            layer = getattr(model, name)
            target = getattr(merged, name)
            weight = layer.merged_weight() if isinstance(layer, LoRALayer) else layer.weight
            bias = layer.base.bias if isinstance(layer, LoRALayer) else layer.bias
            target.weight.copy_(weight)
            target.bias.copy_(bias)
    return merged.eval()

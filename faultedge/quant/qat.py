"""Brevitas quantisation-aware training with fixed-point (power-of-two) scales.

A float network is first described as a plan of MAC steps (conv or linear, what follows it:
ReLU, a signed requantiser or nothing, and an optional max-pool); the plan is then rebuilt
with Brevitas layers. Every scale is a power of two (Brevitas' *FixedPoint quantisers), biases
are 32-bit at the accumulator scale, and the last layer returns raw accumulators as logits.
That is exactly what the integer IR can express, so export is a read-out, not a conversion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import brevitas.nn as qnn
import torch
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint
from torch import nn

from faultedge.models.student import Student
from faultedge.models.teacher import Teacher

Post = Literal["relu", "signed", "none"]


@dataclass(frozen=True)
class MacStep:
    """One conv/linear layer of a float network and what the quantised graph does after it."""

    layer: nn.Conv1d | nn.Linear
    post: Post  # relu: unsigned requant; signed: signed requant; none: raw accumulators (logits)
    pool: int = 0  # max-pool kernel (= stride) after the activation, 0 for none


@dataclass(frozen=True)
class QATConfig:
    bits: int = 8
    epochs: int = 12
    lr: float = 2e-4
    patience: int = 5
    batch_size: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def fold_bn(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> nn.Conv1d:
    """A convolution equal to conv followed by batch-norm in eval mode."""
    folded = nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
    with torch.no_grad():
        gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        folded.weight.copy_(conv.weight * gain[:, None, None])
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        folded.bias.copy_((bias - bn.running_mean) * gain + bn.bias)
    return folded


def student_plan(model: Student) -> list[MacStep]:
    return [MacStep(model.conv, "relu", model.pool.kernel_size), MacStep(model.fc, "none")]


def teacher_plan(model: Teacher) -> list[MacStep]:
    """The teacher with every BatchNorm folded into its convolution."""
    steps = [MacStep(fold_bn(block[0], block[1]), "relu", block[3].kernel_size) for block in model.features]
    fc1, fc2, fc3 = (m for m in model.classifier if isinstance(m, nn.Linear))
    return steps + [MacStep(fc1, "relu"), MacStep(fc2, "signed"), MacStep(fc3, "none")]


def _act(post: Post, bits: int) -> nn.Module | None:
    if post == "relu":
        return qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)
    if post == "signed":
        return qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)
    return None


def _quant_layer(layer: nn.Conv1d | nn.Linear, last: bool, bits: int) -> nn.Module:
    common = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits, bias_quant=Int32Bias, return_quant_tensor=not last)
    if isinstance(layer, nn.Conv1d):
        q = qnn.QuantConv1d(layer.in_channels, layer.out_channels, layer.kernel_size[0], stride=layer.stride[0], padding=layer.padding[0], **common)
    else:
        q = qnn.QuantLinear(layer.in_features, layer.out_features, **common)
    with torch.no_grad():
        q.weight.copy_(layer.weight)
        q.bias.copy_(layer.bias)
    return q


class QuantNet(nn.Module):
    """A Brevitas network built from a plan; forward returns float logits (accumulator values)."""

    def __init__(self, plan: list[MacStep], bits: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.bits = bits
        self.input_shape = input_shape  # (channels, length) or (features,)
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)
        self.macs = nn.ModuleList()
        self.acts = nn.ModuleList()
        self.posts = [s.post for s in plan]
        self.pools = [s.pool for s in plan]
        for i, step in enumerate(plan):
            self.macs.append(_quant_layer(step.layer, i == len(plan) - 1, bits))
            self.acts.append(_act(step.post, bits) or nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.input_shape) == 2 and x.dim() == 2:
            x = x.unsqueeze(1)
        h = self.inp(x)
        for mac, act, pool in zip(self.macs, self.acts, self.pools):
            if isinstance(mac, qnn.QuantLinear) and h.dim() > 2:
                h = torch.flatten(h, 1)
            h = act(mac(h))
            if pool:
                h = nn.functional.max_pool1d(h, pool)
        return h

    def enable_bias_cache(self) -> None:
        """Keep the integer biases of the next eval pass readable (export reads them)."""
        for mac in self.macs:
            mac.bias_quant.cache_inference_quant_bias = True


"""MKW-Net (seed 000 §4.2) and the plain CNNs it is compared with, for C x 32 x 32 wavelet images.

MKW-Net: three blocks of [3x3 KernelWarehouse conv -> BN -> ReLU -> 2x2 average pool], then a
linear classifier on the flattened 4 x 4 maps. The first conv has its own warehouse (its
input has 1 or 6 channels, so its cells cannot match the later ones); convs 2 and 3 form one
stage sharing a warehouse. Every operation is plain (matrix products, conv2d, per-channel
affine, ReLU, average pooling, one L1 normalisation) so the network can later be quantised
to a power-of-two fixed-point integer model.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from faultedge.models.kernel_warehouse import KWAttention, KWConv2d, Warehouse, plan_stage
from faultedge.models.summary import count_params


class MKWNet(nn.Module):
    """Three KW conv blocks and a linear head; `stages[i]` names the warehouse of conv i."""

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        channels: Sequence[int] = (16, 32, 32),
        stages: Sequence[int] = (0, 1, 1),
        cell_ratio: float = 2.0,
        cell_split: int = 2,
        image_size: int = 32,
    ) -> None:
        super().__init__()
        if len(channels) != len(stages):
            raise ValueError("one warehouse stage per conv layer")
        shapes = list(zip(channels, (in_channels, *channels[:-1])))  # (C_out, C_in) per conv
        stage_ids = sorted(set(stages))
        plans = {s: plan_stage([shapes[i] for i in range(len(shapes)) if stages[i] == s], cell_ratio, cell_split) for s in stage_ids}
        self.warehouses = nn.ModuleList(Warehouse(plans[s]) for s in stage_ids)
        self.stages = tuple(stage_ids.index(s) for s in stages)
        convs, norms = [], []
        for i, (c_out, c_in) in enumerate(shapes):
            layer_in_stage = [j for j in range(len(shapes)) if stages[j] == stages[i]].index(i)
            convs.append(KWConv2d(c_in, c_out, plans[stages[i]], layer_in_stage))
            norms.append(nn.BatchNorm2d(c_out))
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.pool = nn.AvgPool2d(2)
        self.classifier = nn.Linear(channels[-1] * (image_size // 2 ** len(channels)) ** 2, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened feature maps the classifier reads."""
        for conv, norm, stage in zip(self.convs, self.norms, self.stages):
            x = self.pool(torch.relu(norm(conv(x, self.warehouses[stage].cells))))
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))

    def set_temperature(self, tau: float) -> None:
        for m in self.modules():
            if isinstance(m, KWAttention):
                m.temperature.fill_(tau)


def temperature_at(epoch: int, anneal_epochs: int) -> float:
    """tau falls linearly from 1 (static convolution) at epoch 0 to 0 at `anneal_epochs`."""
    return max(0.0, 1.0 - epoch / anneal_epochs) if anneal_epochs > 0 else 0.0


class PlainCNN(nn.Module):
    """The same three blocks with static 3x3 convolutions.

    norm="batch": the equal-budget baseline for MKW-Net. norm="instance": the ConvNet that
    trajectory matching distils with (instance norm keeps no running statistics, so the
    network is a pure function of its parameters).
    """

    def __init__(self, in_channels: int, n_classes: int, channels: Sequence[int] = (16, 32, 32), norm: str = "batch", image_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c) if norm == "batch" else nn.GroupNorm(c, c), nn.ReLU(), nn.AvgPool2d(2)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in * (image_size // 2 ** len(channels)) ** 2, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened feature maps the classifier reads."""
        return torch.flatten(self.features(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def plain_cnn_for_budget(in_channels: int, n_classes: int, budget: int, image_size: int = 32) -> PlainCNN:
    """The plain CNN with widths (w, 2w, 2w) whose parameter count is closest to `budget`."""
    def build(w: int) -> PlainCNN:
        return PlainCNN(in_channels, n_classes, (w, 2 * w, 2 * w), "batch", image_size)

    best = min(range(2, 65), key=lambda w: abs(count_params(build(w)) - budget))
    return build(best)

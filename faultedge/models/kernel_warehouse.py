"""KernelWarehouse convolution (Li & Yao 2023) with seed 000's linear attention (MKW).

A layer's k x k kernel (C_out, C_in, k, k) is partitioned into m cells of shape (c_o, c_i, k, k)
(m = C_out/c_o * C_in/c_i); the convolutions of one stage share a warehouse E of n such
cells. Per sample, an attention module turns the layer's input into an m x n matrix A, and
the kernel is assembled as the product A @ E (cell i = sum_j A_ij e_j), then applied as a
grouped convolution over the batch (one group per sample).

Attention: global average pool -> FC -> BN -> ReLU -> FC giving n+1 logits per mixture (the
last one a "zero cell" that lets a mixture shrink), normalised linearly z / (sum |z| + eps)
(seed 000 Eq. 1: signed, no softmax), then blended (1 - tau) * z + tau * b with b one-hot
on the cell statically assigned to each mixture. With tau = 1 the layer is an ordinary
convolution whose kernel is made of its assigned cells; training anneals tau to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NORM_EPS = 1e-3  # the eps of z / (sum |z| + eps), as the KernelWarehouse reference


@dataclass(frozen=True)
class StagePlan:
    """How the convolutions of one stage split into cells of one shared warehouse."""

    cell_out: int
    cell_in: int
    n_cells: int
    mixtures: tuple[int, ...]  # m per layer
    static_cells: tuple[tuple[int, ...], ...]  # per layer, the cell each mixture starts from (tau = 1)


def plan_stage(shapes: Sequence[tuple[int, int]], cell_ratio: float, cell_split: int = 2) -> StagePlan:
    """Cells of (gcd of C_out, gcd of C_in), each side divided by `cell_split` where it divides;
    n = round(cell_ratio * total m). Smaller cells mean more mixtures m and a larger attention.

    `cell_ratio` is KernelWarehouse's budget b: 1 gives the parameters of the static kernels,
    below 1 several mixtures start from the same cell, above 1 the warehouse offers spare cells.
    Mixture g (counted over the stage) starts from cell floor(g * n / total m).
    """
    g_out, g_in = math.gcd(*(o for o, _ in shapes)), math.gcd(*(i for _, i in shapes))
    cell_out = g_out // cell_split if g_out % cell_split == 0 else g_out
    cell_in = g_in // cell_split if g_in % cell_split == 0 else g_in
    mixtures = tuple((o // cell_out) * (i // cell_in) for o, i in shapes)
    total = sum(mixtures)
    n_cells = max(1, round(cell_ratio * total))
    static, g = [], 0
    for m in mixtures:
        static.append(tuple((g + i) * n_cells // total for i in range(m)))
        g += m
    return StagePlan(cell_out, cell_in, n_cells, mixtures, tuple(static))


class KWAttention(nn.Module):
    """Input -> (B, m, n) mixing weights over the warehouse cells (zero cell dropped)."""

    def __init__(self, in_channels: int, n_mixtures: int, n_cells: int, static_cells: Sequence[int], reduction: float = 1 / 16, min_hidden: int = 16) -> None:
        super().__init__()
        hidden = max(int(in_channels * reduction), min_hidden)
        self.n_mixtures, self.n_cells = n_mixtures, n_cells
        self.fc1 = nn.Linear(in_channels, hidden, bias=False)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, n_mixtures * (n_cells + 1))
        static = torch.zeros(n_mixtures, n_cells + 1)
        static[torch.arange(n_mixtures), torch.as_tensor(static_cells)] = 1.0
        self.register_buffer("static_bias", static)
        self.register_buffer("temperature", torch.tensor(1.0))
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.normal_(self.fc2.weight, std=1e-2)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc2(F.relu(self.bn(self.fc1(x.mean(dim=(2, 3))))))
        z = z.view(-1, self.n_mixtures, self.n_cells + 1)
        z = z / (z.abs().sum(dim=-1, keepdim=True) + NORM_EPS)
        a = (1.0 - self.temperature) * z + self.temperature * self.static_bias
        return a[..., :-1]


class KWConv2d(nn.Module):
    """A bias-free k x k convolution whose kernel is assembled per sample from a stage's warehouse."""

    def __init__(self, in_channels: int, out_channels: int, plan: StagePlan, layer: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, padding
        self.cell_out, self.cell_in = plan.cell_out, plan.cell_in
        self.attention = KWAttention(in_channels, plan.mixtures[layer], plan.n_cells, plan.static_cells[layer])

    def assemble(self, attention: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Kernels (B, C_out, C_in, k, k) from mixing weights (B, m, n) and warehouse cells (n, c_o, c_i, k, k)."""
        b = attention.shape[0]
        k = self.kernel_size
        mixed = attention @ cells.reshape(cells.shape[0], -1)  # (B, m, c_o * c_i * k * k)
        blocks_out, blocks_in = self.out_channels // self.cell_out, self.in_channels // self.cell_in
        mixed = mixed.view(b, blocks_out, blocks_in, self.cell_out, self.cell_in, k, k)
        return mixed.permute(0, 1, 3, 2, 4, 5, 6).reshape(b, self.out_channels, self.in_channels, k, k)

    def forward(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        kernels = self.assemble(self.attention(x), cells)
        out = F.conv2d(x.reshape(1, b * self.in_channels, *x.shape[2:]), kernels.reshape(-1, self.in_channels, self.kernel_size, self.kernel_size), padding=self.padding, groups=b)
        return out.view(b, self.out_channels, *out.shape[2:])

    def macs_for_output(self, output: torch.Tensor) -> int:
        """Per-sample MACs of the convolution itself plus the kernel assembly A @ E (attention FCs are Linear layers)."""
        conv = output[0].numel() * self.in_channels * self.kernel_size**2
        assembly = self.attention.n_mixtures * self.attention.n_cells * self.cell_out * self.cell_in * self.kernel_size**2
        return conv + assembly


class Warehouse(nn.Module):
    """The n cells (n, c_o, c_i, k, k) shared by the KW convolutions of one stage."""

    def __init__(self, plan: StagePlan, kernel_size: int = 3) -> None:
        super().__init__()
        self.cells = nn.Parameter(torch.empty(plan.n_cells, plan.cell_out, plan.cell_in, kernel_size, kernel_size))
        for cell in self.cells.data:  # each cell initialised as a small conv kernel; BN follows every KW conv
            nn.init.kaiming_normal_(cell, mode="fan_out", nonlinearity="relu")

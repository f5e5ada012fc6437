"""The axial-shift MLP of seed 004 (FaultMLP, after AS-MLP) for the 1-D FFT features the CNN student takes.

A 1,024-bin spectrum is cut into patches along the frequency axis and each patch is embedded
linearly (tokens × channels). A block shifts groups of channels along the token axis (the 1-D
form of the axial shift: s groups move by -⌊s/2⌋·d … ⌊s/2⌋·d tokens, zero fill), normalises per
channel with BatchNorm, mixes channels with a two-layer MLP and adds the result to its input.
The head reduces the channels per token and classifies the flattened tokens.

The BatchNorm sits after the shift, so at inference it is a per-channel affine map directly in
front of a linear layer and folds into it exactly (into the integer weights and bias); before the
shift the zero fill would see the BatchNorm's offset at the edge tokens and the fold would leave
a per-position bias. The defaults fit the DKD student's budget (2,830 parameters, 35,328 MACs).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faultedge.errors import FaultedgeError


@dataclass(frozen=True)
class AxialMLPConfig:
    """The network's shape; saved beside its weights so the run directory rebuilds it."""

    n_features: int = 1024
    n_classes: int = 10
    patch: int = 16  # frequency bins per token
    dim: int = 8  # channels per token
    depth: int = 2  # axial-shift blocks
    hidden: int = 8  # hidden width of each block's channel MLP
    shift: int = 3  # s: channel groups, shifted by -⌊s/2⌋·d … ⌊s/2⌋·d tokens
    dilation: int = 1  # d
    head_dim: int = 3  # channels per token the head flattens

    def __post_init__(self) -> None:
        positive = ("n_features", "n_classes", "patch", "dim", "depth", "hidden", "shift", "dilation", "head_dim")
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad:
            raise FaultedgeError(f"axial-shift MLP: {', '.join(bad)} must be at least 1")
        if self.n_features % self.patch:
            raise FaultedgeError(f"axial-shift MLP: the patch ({self.patch} bins) must divide the {self.n_features} features")
        if self.shift > self.dim:
            raise FaultedgeError(f"axial-shift MLP: {self.shift} shift groups need at least as many channels (dim {self.dim})")
        if (self.shift // 2) * self.dilation >= self.tokens:
            raise FaultedgeError(f"axial-shift MLP: a shift of {(self.shift // 2) * self.dilation} tokens empties all {self.tokens} tokens")

    @property
    def tokens(self) -> int:
        return self.n_features // self.patch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AxialMLPConfig":
        try:
            return cls(**{k: int(v) for k, v in d.items()})
        except (TypeError, ValueError) as exc:
            raise FaultedgeError(f"axial-shift MLP config: malformed ({exc})") from None


def shift_offsets(dim: int, groups: int, dilation: int) -> list[int]:
    """Each channel's offset along the token axis: channel c is in group c // ⌈C/s⌉ (AS-MLP's split),
    group g moves by (g - ⌊s/2⌋)·d; output token t reads input token t - offset."""
    size = -(-dim // groups)
    return [(c // size - groups // 2) * dilation for c in range(dim)]


def axial_shift(x: torch.Tensor, offsets: list[int], token_dim: int = 1) -> torch.Tensor:
    """Shift each channel of x (batch, tokens, channels; or batch, channels, tokens with token_dim=2) along the
    tokens by its offset, zero fill. Each run of channels with one offset moves as one slice padded with zeros,
    which exports to ONNX as Slice, Pad and Concat (an indexed assignment exports as a ScatterND per channel and
    made ONNX Runtime about ten times slower on the whole network)."""
    channel_dim = 3 - token_dim
    parts, c = [], 0
    for k, run in itertools.groupby(offsets):
        size = len(list(run))
        index = [slice(None)] * 3
        index[channel_dim] = slice(c, c + size)
        index[token_dim] = slice(max(-k, 0), -k if k > 0 else None)  # constant bounds: no shape arithmetic in the graph
        pad = (max(k, 0), max(-k, 0)) if token_dim == 2 else (0, 0, max(k, 0), max(-k, 0))  # F.pad lists the last dim first
        parts.append(F.pad(x[tuple(index)], pad) if k else x[tuple(index)])
        c += size
    return torch.cat(parts, channel_dim)


class AxialShiftBlock(nn.Module):
    """x + MLP(BatchNorm(shift(x))) on (batch, tokens, channels)."""

    def __init__(self, dim: int, hidden: int, groups: int, dilation: int) -> None:
        super().__init__()
        self.offsets = shift_offsets(dim, groups, dilation)
        self.norm = nn.BatchNorm1d(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(axial_shift(x, self.offsets).transpose(1, 2)).transpose(1, 2)
        return x + self.fc2(self.act(self.fc1(y)))


class AxialMLP(nn.Module):
    """Patch embedding -> axial-shift blocks -> per-token channel reduction -> linear head.

    `features` (the token map the distillation reads) and `head` split the forward pass."""

    def __init__(self, cfg: AxialMLPConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or AxialMLPConfig()
        self.n_features = cfg.n_features
        self.embed = nn.Linear(cfg.patch, cfg.dim)
        self.blocks = nn.Sequential(*(AxialShiftBlock(cfg.dim, cfg.hidden, cfg.shift, cfg.dilation) for _ in range(cfg.depth)))
        self.reduce = nn.Linear(cfg.dim, cfg.head_dim)
        self.act = nn.ReLU()
        self.fc = nn.Linear(cfg.tokens * cfg.head_dim, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_features) spectra -> (batch, tokens, dim) after the blocks."""
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise FaultedgeError(f"axial-shift MLP: expected inputs of shape (N, {self.n_features}), got {tuple(x.shape)}")
        return self.blocks(self.embed(x.reshape(-1, self.cfg.tokens, self.cfg.patch)))  # -1: a traced batch stays free (ONNX)

    def head(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, dim) -> logits."""
        return self.fc(torch.flatten(self.act(self.reduce(tokens)), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

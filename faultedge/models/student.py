"""The 2,830-parameter student of seed 001 Table 2 (= BearingPGA-Net)."""

from __future__ import annotations

import torch
from torch import nn


class Student(nn.Module):
    """Conv1d(1->4, k64, s8, p28) + ReLU + MaxPool(2) -> 256 -> Linear(256 -> C)."""

    def __init__(self, n_features: int = 1024, n_classes: int = 10, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, channels, 64, stride=8, padding=28)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(channels * (n_features // 16), n_classes)
        self.n_features = n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1) if x.dim() == 2 else x
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))

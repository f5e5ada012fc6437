"""The 69,626-parameter teacher of seed 001 (Table 1)."""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
        nn.MaxPool1d(2),
    )


class Teacher(nn.Module):
    """Conv(1->16, k64, s8, p28) then k3 convs 16->32->64->64->64 (p1) and 64->128 (p0), FC 128->64->32->C."""

    def __init__(self, n_features: int = 1024, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(1, 16, 64, stride=8, padding=28),
            _block(16, 32, 3),
            _block(32, 64, 3),
            _block(64, 64, 3),
            _block(64, 64, 3),
            _block(64, 128, 3, padding=0),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, 32),
            nn.Linear(32, n_classes),
        )
        self.n_features = n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.unsqueeze(1) if x.dim() == 2 else x))

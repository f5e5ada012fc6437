"""Training and scoring the image classifiers (MKW-Net, plain CNNs) with the shared loop.

MKW-Net follows the KernelWarehouse temperature schedule: tau is set from the epoch before
every batch, and being a buffer it is saved with the weights of the epoch the loop keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faultedge.metrics import classification_report
from faultedge.models.mkw import MKWNet, temperature_at
from faultedge.train.loop import FitConfig, FitResult, as_tensors, fit, predict_logits

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ImageTrainConfig:
    """Seed 000 Table 2: lr 0.005, batch 128, 100 epochs; tau annealed over 20 epochs (KernelWarehouse)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.005
    anneal_epochs: int = 20
    patience: int = 100

    def fit_config(self) -> FitConfig:
        return FitConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience)


# augment(batch, generator) -> batch: a fresh random perturbation of every training batch
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def train_image_model(model: nn.Module, train: Arrays, val: Arrays | None, cfg: ImageTrainConfig, seed: int, desc: str = "train", progress: bool = True, augment: Augment | None = None) -> FitResult:
    """Adam on `train` (each batch through `augment` if given, seeded by `seed`); keeps the epoch
    best on `val`, or on `train` itself when no validation data may be used (a model trained
    on a distilled set sees nothing else)."""
    x, y = training_tensors(*train)
    val_t = as_tensors(*(val if val is not None else hard_labels(train)))
    gen = torch.Generator().manual_seed(seed + 0xA06)

    def loss(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, epoch: int) -> torch.Tensor:
        if isinstance(m, MKWNet):
            m.set_temperature(temperature_at(epoch, cfg.anneal_epochs))
        return F.cross_entropy(m(augment(xb, gen) if augment is not None else xb), yb)

    return fit(model, lambda epoch: (x, y), val_t, loss, cfg.fit_config(), seed, desc, progress)


def training_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and targets: classes (N,) or label distributions (N, K) (a distilled set's soft labels),
    which cross-entropy takes as they are."""
    if y.ndim == 2:
        return as_tensors(x, y.argmax(1))[0], torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    return as_tensors(x, y)


def hard_labels(data: Arrays) -> Arrays:
    x, y = data
    return (x, y.argmax(1)) if y.ndim == 2 else data


def evaluate(model: nn.Module, test: Arrays, n_classes: int) -> dict[str, Any]:
    x, y = as_tensors(*test)
    return classification_report(y.numpy(), predict_logits(model, x, batch_size=512).argmax(1).numpy(), n_classes)
